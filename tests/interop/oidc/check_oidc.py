"""OIDC interop (issue 10): libraries we did not write drive the served
sandbox portal's login and check its ID tokens.

- Authlib's OAuth 2.0 client (PyPI `authlib`) builds the authorization
  request with PKCE S256 (RFC 7636), sends the code and the verifier to the
  token endpoint and parses the answers; the card's part (signing the
  portal's challenge with the authentication key) is played by the
  `portal_card_proof` example over the virtual card.
- PyJWT (PyPI `pyjwt[crypto]`) fetches the portal's JWK Set and verifies
  the ID token (ES256, iss, aud, exp, iat) independently of our code.

Usage: check_oidc.py BASE_URL CARD_PROOF_BINARY
Prints `N passed, N failed` and exits non-zero on any failure.
"""

import json
import os
import subprocess
import sys
import urllib.parse

import jwt
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

# The portal is on loopback over plain HTTP (RFC 8252 §8.3 allows it for
# native apps); Authlib refuses plain HTTP unless told.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

BASE, PROOF_BIN = sys.argv[1], sys.argv[2]
RP_CLIENT = "sample-rp"
RP_REDIRECT = "http://127.0.0.1:8765/callback"
APP_CLIENT = "mynaportal-app"
APP_REDIRECT = "jp.mynakit.portal:/oauth2redirect"

passed = 0
failed = 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


config = requests.get(f"{BASE}/.well-known/openid-configuration", timeout=10).json()
check("discovery: issuer is the base URL", config["issuer"] == BASE, config["issuer"])
check("discovery: S256 only", config["code_challenge_methods_supported"] == ["S256"])
check("discovery: code flow only", config["response_types_supported"] == ["code"])
check("discovery: pairwise subjects", config["subject_types_supported"] == ["pairwise"])
check("discovery: ES256", config["id_token_signing_alg_values_supported"] == ["ES256"])

jwks = requests.get(config["jwks_uri"], timeout=10).json()
keys = jwks.get("keys", [])
check(
    "JWK Set: EC P-256 signing keys with kid",
    len(keys) >= 1 and all(k.get("kty") == "EC" and k.get("crv") == "P-256" and k.get("kid") for k in keys),
    json.dumps(jwks)[:200],
)
check("JWK Set: no private parts", all("d" not in k for k in keys))


def session(client_id, redirect_uri):
    return OAuth2Session(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope="openid",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )


def authorize(client, verifier, nonce):
    """Authlib builds the request; the portal answers with the challenge;
    the card signs it; the portal answers with the redirect."""
    uri, state = client.create_authorization_url(
        config["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(uri).query))
    assert query.get("code_challenge_method") == "S256", uri
    challenge = requests.get(uri, timeout=10)
    challenge.raise_for_status()
    body = challenge.json()
    proof = subprocess.run(
        [PROOF_BIN, body["request_id"], body["challenge"]],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    answer = requests.post(
        f"{BASE}/v1/portal/authorize/proof",
        data=proof,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()["redirect_to"], state


def login(client_id, redirect_uri):
    client = session(client_id, redirect_uri)
    verifier = generate_token(48)
    nonce = generate_token(20)
    redirect_to, state = authorize(client, verifier, nonce)
    check(f"{client_id}: redirect goes to the registered URI", redirect_to.startswith(redirect_uri + "?"))
    token = client.fetch_token(
        config["token_endpoint"],
        authorization_response=redirect_to,
        state=state,
        code_verifier=verifier,
    )
    id_token = token["id_token"]
    signing_key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(id_token)
    claims = jwt.decode(
        id_token,
        signing_key.key,
        algorithms=["ES256"],
        audience=client_id,
        issuer=config["issuer"],
        options={"require": ["exp", "iat", "sub", "aud", "iss"]},
    )
    check(f"{client_id}: ID token verified by PyJWT with the JWK Set", True)
    check(f"{client_id}: nonce bound", claims.get("nonce") == nonce, str(claims))
    check(f"{client_id}: amr hwk+pin", sorted(claims.get("amr", [])) == ["hwk", "pin"], str(claims))
    check(f"{client_id}: bearer token type", token["token_type"].lower() == "bearer")
    check(f"{client_id}: refresh token given", bool(token.get("refresh_token")))
    return claims, token


rp_claims, rp_token = login(RP_CLIENT, RP_REDIRECT)
app_claims, _ = login(APP_CLIENT, APP_REDIRECT)
check("pairwise: the two clients see different subjects", rp_claims["sub"] != app_claims["sub"])
again, _ = login(RP_CLIENT, RP_REDIRECT)
check("pairwise: the same client sees the same subject again", again["sub"] == rp_claims["sub"])
serial_hex = None
try:
    proof = json.loads(subprocess.run([PROOF_BIN, "x", "00"], check=True, capture_output=True, text=True).stdout)
    from cryptography import x509

    certificate = x509.load_der_x509_certificate(bytes.fromhex(proof["certificate"]))
    serial_hex = format(certificate.serial_number, "x")
except Exception as e:  # noqa: BLE001 - reported as a failed check
    check("the card's certificate parses", False, repr(e))
check(
    "the subject is not the certificate's serial",
    serial_hex is not None and serial_hex not in rp_claims["sub"].lower() and str(int(serial_hex, 16)) not in rp_claims["sub"],
)

# RFC 7636 §4.6: a verifier that does not hash to the challenge is refused.
client = session(RP_CLIENT, RP_REDIRECT)
verifier = generate_token(48)
redirect_to, state = authorize(client, verifier, generate_token(20))
try:
    client.fetch_token(
        config["token_endpoint"],
        authorization_response=redirect_to,
        state=state,
        code_verifier=generate_token(48),
    )
    check("a wrong PKCE verifier is refused", False, "tokens were issued")
except OAuthError as e:
    check("a wrong PKCE verifier is refused (invalid_grant)", e.error == "invalid_grant", e.error)

# RFC 6749 §4.1.2: a code is used once.
client = session(RP_CLIENT, RP_REDIRECT)
verifier = generate_token(48)
redirect_to, state = authorize(client, verifier, generate_token(20))
first = client.fetch_token(
    config["token_endpoint"], authorization_response=redirect_to, state=state, code_verifier=verifier
)
try:
    client.fetch_token(
        config["token_endpoint"], authorization_response=redirect_to, state=state, code_verifier=verifier
    )
    check("a code used twice is refused", False, "tokens were issued twice")
except OAuthError as e:
    check("a code used twice is refused (invalid_grant)", e.error == "invalid_grant", e.error)

# Refresh with Authlib: the refresh token rotates; the spent one is refused.
client = session(RP_CLIENT, RP_REDIRECT)
client.token = rp_token
renewed = client.refresh_token(config["token_endpoint"], refresh_token=rp_token["refresh_token"])
check("refresh: a new refresh token", renewed["refresh_token"] != rp_token["refresh_token"])
try:
    session(RP_CLIENT, RP_REDIRECT).refresh_token(
        config["token_endpoint"], refresh_token=rp_token["refresh_token"]
    )
    check("refresh: a spent refresh token is refused", False, "accepted twice")
except OAuthError as e:
    check("refresh: a spent refresh token is refused (invalid_grant)", e.error == "invalid_grant", e.error)

# Authorization requests the Digital Authentication App's rules refuse.
def refused(name, params, expected):
    base = {
        "response_type": "code",
        "client_id": RP_CLIENT,
        "redirect_uri": RP_REDIRECT,
        "scope": "openid",
        "state": "s",
        "nonce": "n",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    base.update(params)
    query = {k: v for k, v in base.items() if v is not None}
    r = requests.get(config["authorization_endpoint"], params=query, timeout=10)
    error = r.json().get("error") if r.headers.get("Content-Type", "").startswith("application/json") else None
    check(f"authorize refuses {name} ({expected})", r.status_code >= 400 and error == expected, f"{r.status_code} {error}")


refused("plain PKCE", {"code_challenge_method": "plain"}, "invalid_request")
refused("no PKCE", {"code_challenge": None, "code_challenge_method": None}, "invalid_request")
refused("no nonce", {"nonce": None}, "invalid_request")
refused("no state", {"state": None}, "invalid_request")
refused("the implicit flow", {"response_type": "token"}, "unsupported_response_type")
refused("an unregistered redirect", {"redirect_uri": "https://evil.example/cb"}, "invalid_client")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
