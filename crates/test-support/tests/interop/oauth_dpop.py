"""DPoP proofs made by an independent implementation (jwcrypto) against Portcullis.

jwcrypto generates the keys (EC P-256 and RSA-2048), builds the proofs (typ dpop+jwt, public
jwk header, jti/htm/htu/iat, ath at the gateway) and computes the RFC 7638 thumbprint; our
token endpoint must bind the token to exactly that thumbprint and our gateway must accept the
proofs. Driven by crates/test-support/tests/oauth_dpop.rs (environment: AS_BASE, TOKEN_HTU,
CLIENT_ID, CLIENT_SECRET, GATEWAY).
"""

import base64
import hashlib
import json
import os
import sys
import time
import uuid

import requests
from jwcrypto import jwk, jws
from jwcrypto.common import json_encode

base = os.environ["AS_BASE"]
token_htu = os.environ["TOKEN_HTU"]
client_id = os.environ["CLIENT_ID"]
client_secret = os.environ["CLIENT_SECRET"]
gateway = os.environ["GATEWAY"]


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def proof(key, alg, method, url, access_token=None):
    claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if access_token is not None:
        claims["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
    token = jws.JWS(json_encode(claims).encode())
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.export_public(as_dict=True)}
    token.add_signature(key, alg=alg, protected=json_encode(header))
    return token.serialize(compact=True)


for alg, key in [
    ("ES256", jwk.JWK.generate(kty="EC", crv="P-256")),
    ("RS256", jwk.JWK.generate(kty="RSA", size=2048)),
]:
    r = requests.post(
        base + "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "orders.read"},
        auth=(client_id, client_secret),
        headers={"DPoP": proof(key, alg, "POST", token_htu)},
        timeout=10,
    )
    check(r.status_code == 200, "%s token request: %s %s" % (alg, r.status_code, r.text))
    tok = r.json()
    check(tok["token_type"] == "DPoP", "%s token_type" % alg)
    access = tok["access_token"]

    intro = requests.post(
        base + "/oauth2/introspect",
        data={"token": access},
        auth=(client_id, client_secret),
        timeout=10,
    ).json()
    check(intro["cnf"]["jkt"] == key.thumbprint(), "%s cnf.jkt is jwcrypto's RFC 7638 thumbprint" % alg)

    for _ in range(2):
        r = requests.get(
            gateway,
            headers={"Authorization": "DPoP " + access, "DPoP": proof(key, alg, "GET", gateway, access)},
            timeout=10,
        )
        check(r.status_code == 200, "%s gateway accepts jwcrypto proof: %s %s" % (alg, r.status_code, r.text))

    # jwcrypto's proof for another method is refused.
    r = requests.get(
        gateway,
        headers={"Authorization": "DPoP " + access, "DPoP": proof(key, alg, "POST", gateway, access)},
        timeout=10,
    )
    check(r.status_code == 401 and r.json()["code"] == "dpop.invalid_proof", "%s wrong htm refused" % alg)
    check(r.headers["WWW-Authenticate"].startswith("DPoP "), "DPoP challenge")

print("INTEROP OK")
