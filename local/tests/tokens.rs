//! Access tokens: the protected path end to end, and every hostile token refused.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::TestServer;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// Decodes a token's header and claims without verifying (to build variants).
fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let h = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    let c = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&h).unwrap(),
        serde_json::from_slice(&c).unwrap(),
    )
}

/// Signs arbitrary header fields and claims with the server's own key.
fn sign_with_server_key(s: &TestServer, kid: &str, typ: Option<&str>, claims: &Value) -> String {
    let key = EncodingKey::from_ed_pem(s.private_key_pem().as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.into());
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_protected_path_needs_a_valid_token() {
    let s = TestServer::start().await;
    let token = s.user_token("me@example.com").await;
    let a = s.get("/auth/me", Some(&token)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["email"], "me@example.com");
    assert_eq!(a.body["role"], "user");
    assert!(a.body["user_id"].as_str().is_some_and(|id| !id.is_empty()));

    // API Gateway's own answers: no header → 401, denied by the authorizer → 403.
    let none = s.get("/auth/me", None).await;
    assert_eq!(
        (none.status.as_u16(), none.body.clone()),
        (401, json!({"message": "Unauthorized"}))
    );
    let bad = s.get("/auth/me", Some("not-a-token")).await;
    assert_eq!(
        (bad.status.as_u16(), bad.body.clone()),
        (403, json!({"message": "Forbidden"}))
    );
    let basic = s
        .send(
            s.client
                .get(s.url("/auth/me"))
                .header("authorization", format!("Basic {token}")),
        )
        .await;
    assert_eq!(basic.status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_token_reports_the_caller() {
    let s = TestServer::start().await;
    let token = s.user_token("v@example.com").await;
    let a = s
        .post("/auth/validate-token", json!({ "token": token }))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["valid"], true);
    assert_eq!(a.body["email"], "v@example.com");
    assert_eq!(a.body["role"], "user");
    let (_, claims) = parts(&token);
    assert_eq!(a.body["user_id"], claims["sub"]);
    let exp = time::OffsetDateTime::parse(
        a.body["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(exp.unix_timestamp() as u64, claims["exp"].as_u64().unwrap());
    assert_eq!(
        s.post("/auth/validate-token", json!({})).await.fields(),
        vec!["token"]
    );
    assert_eq!(
        s.post("/auth/validate-token", json!({"token": 5}))
            .await
            .fields(),
        vec!["token"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issued_tokens_carry_the_promised_header_and_claims() {
    let s = TestServer::start().await;
    let token = s.user_token("c@example.com").await;
    let (header, claims) = parts(&token);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    let jwks = s.get("/.well-known/jwks.json", None).await;
    assert_eq!(header["kid"], jwks.body["keys"][0]["kid"]);
    for claim in [
        "iss", "aud", "sub", "exp", "nbf", "iat", "jti", "email", "role",
    ] {
        assert!(!claims[claim].is_null(), "missing {claim}");
    }
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        900
    );
    assert_eq!(claims["iss"], s.running.url());
    assert_eq!(claims["aud"], "user-platform");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_tokens_are_all_refused() {
    let s = TestServer::start().await;
    let token = s.user_token("h@example.com").await;
    let (header, claims) = parts(&token);
    let kid = header["kid"].as_str().unwrap().to_owned();
    let jwks = s.get("/.well-known/jwks.json", None).await;
    let x = URL_SAFE_NO_PAD
        .decode(jwks.body["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let with = |changes: Value| {
        let mut c = claims.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };

    let mut hostile: Vec<(&str, String)> = Vec::new();
    // alg none, with and without a signature part.
    let none_header = json!({"alg": "none", "typ": "at+jwt", "kid": kid});
    hostile.push((
        "alg none",
        format!("{}.{}.", b64(&none_header), b64(&claims)),
    ));
    // HS256 with the public key as the HMAC secret (algorithm confusion).
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(kid.clone());
    hs.typ = Some("at+jwt".into());
    hostile.push((
        "HS256",
        jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(&x)).unwrap(),
    ));
    hostile.push((
        "expired",
        sign_with_server_key(
            &s,
            &kid,
            Some("at+jwt"),
            &with(json!({"exp": now() - 120, "nbf": now() - 1000})),
        ),
    ));
    hostile.push((
        "not yet valid",
        sign_with_server_key(&s, &kid, Some("at+jwt"), &with(json!({"nbf": now() + 600}))),
    ));
    hostile.push((
        "wrong iss",
        sign_with_server_key(
            &s,
            &kid,
            Some("at+jwt"),
            &with(json!({"iss": "https://evil.example"})),
        ),
    ));
    hostile.push((
        "wrong aud",
        sign_with_server_key(
            &s,
            &kid,
            Some("at+jwt"),
            &with(json!({"aud": "another-api"})),
        ),
    ));
    hostile.push((
        "wrong typ",
        sign_with_server_key(&s, &kid, Some("JWT"), &claims),
    ));
    hostile.push(("no typ", sign_with_server_key(&s, &kid, None, &claims)));
    hostile.push((
        "unknown kid",
        sign_with_server_key(&s, "someone-else", Some("at+jwt"), &claims),
    ));
    hostile.push((
        "string exp",
        sign_with_server_key(
            &s,
            &kid,
            Some("at+jwt"),
            &with(json!({"exp": (now() + 600).to_string()})),
        ),
    ));
    hostile.push((
        "no exp",
        sign_with_server_key(&s, &kid, Some("at+jwt"), &with(json!({"exp": null}))),
    ));
    hostile.push((
        "no nbf",
        sign_with_server_key(&s, &kid, Some("at+jwt"), &with(json!({"nbf": null}))),
    ));
    hostile.push((
        "no sub",
        sign_with_server_key(&s, &kid, Some("at+jwt"), &with(json!({"sub": null}))),
    ));
    // Tampered claims under the original signature.
    let mut pieces: Vec<&str> = token.split('.').collect();
    let admin_claims = b64(&with(json!({"role": "admin"})));
    pieces[1] = &admin_claims;
    hostile.push(("tampered claims", pieces.join(".")));
    // Flipped signature byte.
    let mut sig = URL_SAFE_NO_PAD
        .decode(token.rsplit('.').next().unwrap())
        .unwrap();
    sig[0] ^= 1;
    let head_body = token.rsplit_once('.').unwrap().0;
    hostile.push((
        "tampered signature",
        format!("{head_body}.{}", URL_SAFE_NO_PAD.encode(sig)),
    ));
    hostile.push(("garbage", "a.b.c".into()));
    hostile.push(("huge", "a".repeat(10_000)));

    let expected = s
        .post("/auth/validate-token", json!({"token": "a.b.c"}))
        .await;
    for (name, t) in &hostile {
        let a = s.post("/auth/validate-token", json!({ "token": t })).await;
        a.problem(401);
        assert_eq!(a.text, expected.text, "{name} must get the generic answer");
        let me = s.get("/auth/me", Some(t)).await;
        assert_eq!(me.status, 403, "{name} passed the authorizer");
    }
    // The untouched token still works, so the checks above failed for the right reason.
    assert_eq!(
        s.post("/auth/validate-token", json!({ "token": token }))
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn previous_keys_stay_valid_after_rotation() {
    let s = TestServer::start().await;
    let old_token = s.user_token("rot@example.com").await;
    let old_jwks = s.get("/.well-known/jwks.json", None).await.text;
    let pem = shared::tokens::generate_private_key_pem();
    let rotated = s
        .restart_with(move |mut c| {
            c.jwt_private_key_pem = Some(pem);
            c.jwt_previous_jwks = Some(old_jwks);
            c
        })
        .await;
    let jwks = rotated.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.body["keys"].as_array().unwrap().len(), 2);
    assert_eq!(
        rotated
            .post("/auth/validate-token", json!({ "token": old_token }))
            .await
            .status,
        200
    );
    // New tokens are signed with the new key (the first in the set).
    let new_token = rotated
        .login("rot@example.com", common::PASSWORD)
        .await
        .body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (header, _) = parts(&new_token);
    assert_eq!(header["kid"], jwks.body["keys"][0]["kid"]);
    assert_ne!(parts(&old_token).0["kid"], header["kid"]);
}
