"""A token we issue verifies with an independent JWT library (PyJWT) that
knows nothing but our published JWKS and OpenID configuration; and tokens
forged with that library's help are refused by the service itself (the
authorizer on a protected route, and POST /auth/validate-token).

Usage: python tests/e2e/independent_jwt.py BASE_URL
"""
import json
import sys
import urllib.request
import uuid

import jwt  # PyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt import PyJWKClient


def call(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
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
    altered = f"{head}.{forged_body}.{sig}"
    try:
        jwt.decode(altered, signing_key.key, algorithms=["EdDSA"], audience="user-platform")
        raise AssertionError("PyJWT accepted a forged token")
    except jwt.InvalidSignatureError:
        pass

    # The service refuses forged tokens. The genuine one first, so a refusal
    # below cannot be a broken route.
    assert call("GET", f"{base}/users/me", token=token)[0] == 200
    header = jwt.get_unverified_header(token)
    public_pem = signing_key.key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    stranger = ed25519.Ed25519PrivateKey.generate()
    none_header = jwt.utils.base64url_encode(
        json.dumps({"alg": "none", "typ": "at+jwt", "kid": header["kid"]}).encode()
    ).decode()
    forged = {
        "claims altered (role: admin), signature kept": altered,
        "alg none, no signature": f"{none_header}.{forged_body}.",
        "HS256 keyed with our public key (algorithm confusion)": hmac_token(
            {**claims, "role": "admin"}, header["kid"], public_pem
        ),
        "signed by another Ed25519 key under our kid": jwt.encode(
            {**claims, "role": "admin"}, stranger, algorithm="EdDSA",
            headers={"kid": header["kid"], "typ": "at+jwt"},
        ),
        "our signature on another token's header": f"{none_header}.{body}.{sig}",
    }
    refused = 0
    for name, bad in forged.items():
        status, _ = call("GET", f"{base}/users/me", token=bad)
        assert status == 403, f"{name}: the authorizer answered {status}"
        status, answer = call("POST", f"{base}/auth/validate-token", {"token": bad})
        assert status == 401, f"{name}: validate-token answered {status} {answer}"
        refused += 1
    print(f"pyjwt: {2 + refused} passed, 0 failed")


def hmac_token(claims, kid, key):
    """An HS256 token keyed with `key`, built by hand: PyJWT itself refuses
    to use a PEM public key as an HMAC secret."""
    import hashlib
    import hmac

    enc = lambda d: jwt.utils.base64url_encode(json.dumps(d).encode()).decode()
    signing_input = f"{enc({'alg': 'HS256', 'typ': 'at+jwt', 'kid': kid})}.{enc(claims)}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{jwt.utils.base64url_encode(mac).decode()}"


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
