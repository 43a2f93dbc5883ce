"""Independent client checks against Portcullis' authorization server.

authlib (PyPI) performs client_credentials with client_secret_basic and client_secret_post;
PyJWT and jwcrypto verify a JWT access token with the server's JWKS; the tokens work at the
gateway. Driven by crates/test-support/tests/oauth_client_credentials.rs (environment:
AS_BASE, ISSUER, CLIENT_ID, CLIENT_SECRET, GATEWAY).
"""

import json
import os
import sys

import jwt as pyjwt
import requests
from authlib.integrations.requests_client import OAuth2Session
from jwcrypto import jwk, jwt as jcjwt

base = os.environ["AS_BASE"]
issuer = os.environ["ISSUER"]
client_id = os.environ["CLIENT_ID"]
client_secret = os.environ["CLIENT_SECRET"]
gateway = os.environ["GATEWAY"]
token_url = base + "/oauth2/token"


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


# Discovery document (RFC 8414) names our issuer and endpoints.
meta = requests.get(base + "/.well-known/oauth-authorization-server", timeout=10).json()
check(meta["issuer"] == issuer, "metadata issuer")
check("client_secret_basic" in meta["token_endpoint_auth_methods_supported"], "auth methods")

# authlib, client_secret_basic, opaque token.
basic = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_basic", scope="orders.read")
tok = basic.fetch_token(token_url, grant_type="client_credentials")
check(tok["token_type"].lower() == "bearer", "token_type")
check(tok["scope"] == "orders.read", "scope")
check(tok["access_token"].startswith("pco_"), "opaque token")
r = requests.get(gateway, headers={"Authorization": "Bearer " + tok["access_token"]}, timeout=10)
check(r.status_code == 200, "opaque token accepted by the gateway: %s" % r.status_code)

# authlib, client_secret_post, JWT token (the reports product sets token_format: jwt).
post = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_post", scope="reports.read")
tok = post.fetch_token(token_url, grant_type="client_credentials")
access = tok["access_token"]
check(access.count(".") == 2, "JWT token")

# An unknown scope is an OAuth error authlib surfaces.
try:
    OAuth2Session(client_id, client_secret, scope="nope").fetch_token(token_url, grant_type="client_credentials")
    check(False, "invalid_scope raised")
except Exception as e:  # authlib raises OAuthError
    check("invalid_scope" in str(e), "invalid_scope: %s" % e)

jwks = requests.get(base + "/oauth2/jwks", timeout=10).json()

# PyJWT with the JWKS (kid lookup, pinned algorithm).
kid = pyjwt.get_unverified_header(access)["kid"]
key = next(k for k in jwks["keys"] if k["kid"] == kid)
alg = key.get("alg", "ES256")
claims = pyjwt.decode(
    access,
    key=pyjwt.PyJWK(key).key,
    algorithms=[alg],
    issuer=issuer,
    options={"verify_aud": False, "require": ["exp", "iat", "iss", "sub", "jti"]},
)
check(claims["scope"] == "reports.read", "PyJWT scope")
check(claims["client_id"].startswith("key_"), "client_id is the credential id")
check(pyjwt.get_unverified_header(access)["typ"] == "at+jwt", "typ at+jwt")

# jwcrypto with the whole key set.
keyset = jwk.JWKSet.from_json(json.dumps(jwks))
verified = jcjwt.JWT(jwt=access, key=keyset, algs=[alg], check_claims={"iss": issuer, "exp": None})
check(json.loads(verified.claims)["jti"] == claims["jti"], "jwcrypto claims")

# A tampered token fails with both libraries.
tampered = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
try:
    pyjwt.decode(tampered, key=pyjwt.PyJWK(key).key, algorithms=[alg], options={"verify_aud": False})
    check(False, "PyJWT rejected a tampered token")
except pyjwt.InvalidTokenError:
    pass

r = requests.get(gateway, headers={"Authorization": "Bearer " + access}, timeout=10)
check(r.status_code == 200, "JWT accepted by the gateway: %s" % r.status_code)

print("INTEROP OK")
