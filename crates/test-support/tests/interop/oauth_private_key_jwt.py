"""authlib's private_key_jwt client authentication (RFC 7523) against Portcullis.

authlib (PyPI) signs the client assertion with the client's RSA key (RS256, kid header) and
performs client_credentials; the token works at the gateway. Driven by
crates/test-support/tests/oauth_private_key_jwt.rs (environment: AS_BASE, ISSUER, CLIENT_ID,
PRIVATE_KEY_PEM, KID, GATEWAY).
"""

import os
import sys
import time

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT

base = os.environ["AS_BASE"]
issuer = os.environ["ISSUER"]
client_id = os.environ["CLIENT_ID"]
private_key = os.environ["PRIVATE_KEY_PEM"]
kid = os.environ["KID"]
gateway = os.environ["GATEWAY"]
token_url = base + "/oauth2/token"


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


meta = requests.get(base + "/.well-known/oauth-authorization-server", timeout=10).json()
check("private_key_jwt" in meta["token_endpoint_auth_methods_supported"], "auth method listed")
check("RS256" in meta["token_endpoint_auth_signing_alg_values_supported"], "RS256 listed")


def fetch(audience):
    """client_credentials with a fresh assertion whose aud is `audience` (exp 2 minutes)."""
    auth = PrivateKeyJWT(
        audience,
        claims={"exp": int(time.time()) + 120},
        headers={"kid": kid},
        alg="RS256",
    )
    session = OAuth2Session(
        client_id,
        private_key,
        token_endpoint_auth_method="private_key_jwt",
        scope="orders.read",
    )
    session.register_client_auth_method(auth)
    return session.fetch_token(token_url, grant_type="client_credentials")


# aud = the issuer identifier (rfc7523bis), then the token endpoint URL (RFC 7523 / OIDC Core).
for audience in (issuer, meta["token_endpoint"]):
    tok = fetch(audience)
    check(tok["token_type"].lower() == "bearer", "token_type")
    check(tok["scope"] == "orders.read", "scope")
    r = requests.get(gateway, headers={"Authorization": "Bearer " + tok["access_token"]}, timeout=10)
    check(r.status_code == 200, "token accepted by the gateway: %s" % r.status_code)

# An assertion for another audience is refused with invalid_client.
try:
    fetch("https://other.example/token")
    check(False, "foreign audience refused")
except Exception as e:  # authlib raises OAuthError
    check("invalid_client" in str(e), "invalid_client: %s" % e)

print("INTEROP OK")
