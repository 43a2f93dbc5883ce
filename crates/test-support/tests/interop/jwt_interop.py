#!/usr/bin/env python3
"""Interop partner for crates/test-support/tests/verify_jwt.rs, using independent JOSE libraries
from PyPI (jwcrypto, PyJWT).

  mint ISSUER AUDIENCE    jwcrypto makes one key per algorithm (RS256, ES256, PS256, EdDSA) and a
                          token signed with each; prints {"jwks": ..., "tokens": {alg: token}}.
  verify                  reads {"jwks", "issuer", "audience", "tokens": {alg: token}} on stdin and
                          verifies every token with PyJWT *and* jwcrypto against that JWKS; prints
                          {alg: {"pyjwt": claims-or-error, "jwcrypto": claims-or-error}} and exits
                          1 if any verification failed.
"""

import json
import sys
import time
import uuid

import jwt as pyjwt
from jwcrypto import jwk, jws
from jwcrypto import jwt as jwc_jwt

KEY_SPECS = {
    "RS256": {"kty": "RSA", "size": 2048},
    "PS256": {"kty": "RSA", "size": 2048},
    "ES256": {"kty": "EC", "crv": "P-256"},
    "EdDSA": {"kty": "OKP", "crv": "Ed25519"},
}


def mint(issuer, audience):
    now = int(time.time())
    keys = jwk.JWKSet()
    tokens = {}
    for alg, spec in KEY_SPECS.items():
        key = jwk.JWK.generate(kid=f"py-{alg.lower()}-{uuid.uuid4().hex[:8]}", alg=alg, use="sig", **spec)
        keys.add(key)
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": f"python-{alg}",
            "client_id": "python-client",
            "scope": "orders:read",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        token = jwc_jwt.JWT(header={"alg": alg, "kid": key.key_id, "typ": "at+jwt"}, claims=claims)
        token.make_signed_token(key)
        tokens[alg] = token.serialize()
    print(json.dumps({"jwks": json.loads(keys.export(private_keys=False)), "tokens": tokens}))


def verify():
    doc = json.load(sys.stdin)
    jwks_json = json.dumps(doc["jwks"])
    key_set = jwk.JWKSet.from_json(jwks_json)
    results = {}
    failed = False
    for alg, token in doc["tokens"].items():
        result = {}
        try:
            kid = pyjwt.get_unverified_header(token)["kid"]
            jwk_dict = next(k for k in doc["jwks"]["keys"] if k.get("kid") == kid)
            key = pyjwt.PyJWK(jwk_dict)
            claims = pyjwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=doc["audience"],
                issuer=doc["issuer"],
                options={"require": ["exp", "iss", "aud"]},
            )
            result["pyjwt"] = claims
        except Exception as e:  # noqa: BLE001 - report any failure as data
            result["pyjwt"] = f"error: {type(e).__name__}: {e}"
            failed = True
        try:
            checked = jwc_jwt.JWT(
                jwt=token,
                key=key_set,
                algs=[alg],
                check_claims={"iss": doc["issuer"], "aud": doc["audience"], "exp": None},
            )
            result["jwcrypto"] = json.loads(checked.claims)
        except (jws.InvalidJWSSignature, jwc_jwt.JWTExpired, Exception) as e:  # noqa: BLE001
            result["jwcrypto"] = f"error: {type(e).__name__}: {e}"
            failed = True
        results[alg] = result
    print(json.dumps(results))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "mint":
        mint(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2 and sys.argv[1] == "verify":
        verify()
    else:
        sys.exit(__doc__)
