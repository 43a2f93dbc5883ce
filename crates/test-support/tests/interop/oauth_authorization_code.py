"""authlib runs the authorization code flow with PKCE (S256) against Portcullis.

The login and consent pages are filled in with requests (as a browser would post them); authlib
builds the authorization URL, checks `state`, exchanges the code with the verifier, validates
the ID token (signature with our JWKS, iss, aud, nonce) and refreshes the token. Driven by
crates/test-support/tests/oauth_authorization_code.rs.
"""

import os
import re
import secrets
import sys
from html import unescape

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

base = os.environ["AS_BASE"]
issuer = os.environ["ISSUER"]
client_id = os.environ["CLIENT_ID"]
client_secret = os.environ["CLIENT_SECRET"]
redirect_uri = os.environ["REDIRECT_URI"]
gateway = os.environ["GATEWAY"]


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


def ticket(html):
    m = re.search(r'name="ticket" value="([^"]+)"', html)
    check(m is not None, "ticket in page")
    return unescape(m.group(1))


session = OAuth2Session(
    client_id,
    client_secret,
    redirect_uri=redirect_uri,
    scope="openid email orders.read",
    code_challenge_method="S256",
)
verifier = secrets.token_urlsafe(48)
nonce = secrets.token_urlsafe(16)
url, state = session.create_authorization_url(base + "/oauth2/authorize", code_verifier=verifier, nonce=nonce)

browser = requests.Session()
page = browser.get(url, timeout=10)
check(page.status_code == 200, "login page: %s %s" % (page.status_code, page.text[:200]))
consent = browser.post(
    base + "/oauth2/authorize",
    data={"step": "login", "ticket": ticket(page.text), "username": "ann", "password": "correct horse battery"},
    timeout=10,
)
check(consent.status_code == 200 and "orders.read" in consent.text, "consent page lists scopes")
done = browser.post(
    base + "/oauth2/authorize",
    data={"step": "consent", "ticket": ticket(consent.text), "decision": "approve"},
    allow_redirects=False,
    timeout=10,
)
location = done.headers.get("location", "")
check(location.startswith(redirect_uri + "?"), "redirected to the client: %r" % location)
check("iss=" in location, "iss in the authorization response")

token = session.fetch_token(
    base + "/oauth2/token",
    authorization_response=location,
    code_verifier=verifier,
)
check(token["token_type"].lower() == "bearer", "token_type")
check("refresh_token" in token and "id_token" in token, "refresh and id tokens")

jwks = JsonWebKey.import_key_set(requests.get(base + "/oauth2/jwks", timeout=10).json())
claims = jwt.decode(
    token["id_token"],
    jwks,
    claims_options={"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": client_id}, "nonce": {"essential": True, "value": nonce}},
)
claims.validate()
check(claims["email"] == "ann@example.com", "email claim")

r = requests.get(gateway, headers={"Authorization": "Bearer " + token["access_token"]}, timeout=10)
check(r.status_code == 200, "access token accepted by the gateway: %s" % r.status_code)

info = requests.get(base + "/oauth2/userinfo", headers={"Authorization": "Bearer " + token["access_token"]}, timeout=10).json()
check(info["sub"] == claims["sub"], "userinfo sub equals id_token sub")

old_refresh = token["refresh_token"]
new = session.refresh_token(base + "/oauth2/token", refresh_token=old_refresh)
check(new["refresh_token"] != old_refresh, "refresh token rotated")
try:
    session.refresh_token(base + "/oauth2/token", refresh_token=old_refresh)
    check(False, "a replayed refresh token is refused")
except Exception as e:
    check("invalid_grant" in str(e), "invalid_grant on replay: %s" % e)

print("INTEROP OK")
