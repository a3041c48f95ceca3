"""A token we issue verifies with an independent JWT library (PyJWT) that
knows nothing but our published JWKS and OpenID configuration.

Usage: python tests/e2e/independent_jwt.py BASE_URL
"""
import json
import sys
import urllib.request
import uuid

import jwt  # PyJWT
from jwt import PyJWKClient


def call(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def main(base):
    email = f"pyjwt-{uuid.uuid4().hex[:8]}@example.com"
    password = "vivid tundra lantern 47"
    status, _ = call("POST", f"{base}/auth/signup", {"email": email, "password": password})
    assert status == 201, status
    status, tokens = call("POST", f"{base}/auth/login", {"email": email, "password": password})
    assert status == 200, status
    token = tokens["access_token"]

    status, oidc = call("GET", f"{base}/.well-known/openid-configuration")
    assert status == 200
    signing_key = PyJWKClient(oidc["jwks_uri"]).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["EdDSA"],
        audience="user-platform",
        issuer=oidc["issuer"],
        options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub"]},
    )
    assert claims["email"] == email, claims
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"

    # And the same library refuses a token whose claims were altered.
    head, body, sig = token.split(".")
    forged_body = jwt.utils.base64url_encode(json.dumps({**claims, "role": "admin"}).encode()).decode()
    try:
        jwt.decode(f"{head}.{forged_body}.{sig}", signing_key.key, algorithms=["EdDSA"], audience="user-platform")
        raise AssertionError("PyJWT accepted a forged token")
    except jwt.InvalidSignatureError:
        pass
    print("pyjwt: 2 passed, 0 failed")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
