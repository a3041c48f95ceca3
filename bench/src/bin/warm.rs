//! Warm latency of each handler, called in-process on the embedded store
//! (no HTTP), p50 and p99; and token validation side by side with PyJWT.
//!
//! `cargo run --release -p bench --bin warm`

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bench::{measure, us};

use serde_json::{Value, json};

fn get_event(path: &str, context: &Value) -> lambda_http::Request {
    bench::event("GET", path, path, &[], "", None, context)
}

#[tokio::main]
async fn main() {
    let password = "vivid tundra lantern 47";
    let (dir, state) = bench::embedded_state("warm@example.com", password).await;
    let login = bench::post_event(
        "/auth/login",
        &json!({"email": "warm@example.com", "password": password}),
        "10.0.0.1",
    );
    let response = login::handle(state.clone(), login).await;
    let lambda_http::Body::Text(text) = response.body() else {
        panic!()
    };
    let tokens: Value = serde_json::from_str(text).unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let claims = state.tokens.verify(&token).unwrap();
    let context = json!({"user_id": claims.sub, "email": claims.email, "role": claims.role, "session_id": claims.sid});
    let mut authorizer_event: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/authorizer.json"
        ))
        .unwrap(),
    )
    .unwrap();
    authorizer_event["identitySource"] = json!([format!("Bearer {token}")]);
    let authorizer_event: std::sync::Arc<
        aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request,
    > = std::sync::Arc::new(serde_json::from_value(authorizer_event).unwrap());

    let mut rows: Vec<(String, (Duration, Duration), &str)> = Vec::new();
    let s = state.clone();
    let t = token.clone();
    let verify = measure(20_000, |_| async {
        s.tokens.verify(&t).unwrap();
    })
    .await;
    rows.push((
        "token verification (signature + claims, no store)".into(),
        verify,
        "≤ 1.2× the bare check below",
    ));
    // The floor under it: the Ed25519 check alone, same key, same token's
    // signing input and signature, no decoding or claims.
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let jwk = serde_json::to_value(&state.tokens.jwks().keys[0]).unwrap();
    let public = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    let bare = measure(20_000, |_| async {
        let key =
            aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, &public);
        key.verify(signing_input.as_bytes(), &signature).unwrap();
    })
    .await;
    rows.push((
        "bare Ed25519 signature check (aws-lc-rs, same key and signature)".into(),
        bare,
        "—",
    ));
    let verify_over_bare = verify.0.as_secs_f64() / bare.0.as_secs_f64();
    println!("verification / bare Ed25519 = {verify_over_bare:.2}");
    // The authorizer's parts, for its profile: the store round alone (the
    // session and its user, one SQLite round on the blocking pool).
    let s = state.clone();
    let (user_id, session_id) = (claims.sub.clone(), claims.sid.clone());
    rows.push((
        "session and user read alone (one store round)".into(),
        measure(5_000, |_| {
            let (s, u, sid) = (s.clone(), user_id.clone(), session_id.clone());
            async move {
                let (user, session) = s.sessions.get_with_user(&u, &sid).await.unwrap();
                assert!(user.is_some() && session.is_some());
            }
        })
        .await,
        "—",
    ));
    let s = state.clone();
    rows.push((
        "authorizer (verify, then the session and user read)".into(),
        measure(5_000, |_| {
            // The event as the runtime hands it over (parsed once, shared):
            // the handler's time, not a deep copy of the event's.
            let (s, e) = (s.clone(), authorizer_event.clone());
            async move {
                assert!(
                    validate_token::authorize(&s, &e)
                        .await
                        .unwrap()
                        .is_authorized
                );
            }
        })
        .await,
        "≤ 50 µs",
    ));
    let s = state.clone();
    let body = json!({ "token": token });
    rows.push((
        "POST /auth/validate-token".into(),
        measure(5_000, |_| {
            let (s, req) = (
                s.clone(),
                bench::post_event("/auth/validate-token", &body, "10.0.0.1"),
            );
            async move {
                assert_eq!(validate_token::handle(s, req).await.status(), 200);
            }
        })
        .await,
        "≤ 50 µs",
    ));
    for (path, name) in [
        ("/.well-known/jwks.json", "jwks"),
        ("/auth/me", "auth-me"),
        ("/users/me", "users-me"),
        ("/health", "health"),
    ] {
        let s = state.clone();
        let ctx = context.clone();
        let result = measure(5_000, |_| {
            let (s, req) = (s.clone(), get_event(path, &ctx));
            async move {
                let response = match name {
                    "jwks" => jwks::handle(s, req).await,
                    "auth-me" => auth_me::handle(s, req).await,
                    "users-me" => users_me::handle(s, req).await,
                    _ => health::handle(s, req).await,
                };
                assert_eq!(response.status(), 200);
            }
        })
        .await;
        rows.push((format!("GET {path}"), result, "—"));
    }
    // Refresh rotates: each call uses the token the previous one returned.
    let current = std::sync::Mutex::new(tokens["refresh_token"].as_str().unwrap().to_owned());
    let s = state.clone();
    rows.push((
        "POST /auth/refresh (rotation: 3 writes in a transaction)".into(),
        measure(500, |_| {
            let req = bench::post_event(
                "/auth/refresh",
                &json!({"refresh_token": current.lock().unwrap().clone()}),
                "10.0.0.1",
            );
            let (s, current) = (s.clone(), &current);
            async move {
                let r = refresh::handle(s, req).await;
                let lambda_http::Body::Text(text) = r.body() else {
                    panic!()
                };
                let v: Value = serde_json::from_str(text).unwrap();
                *current.lock().unwrap() = v["refresh_token"].as_str().unwrap().to_owned();
            }
        })
        .await,
        "—",
    ));
    let s = state.clone();
    rows.push((
        "argon2id hash alone (m=19456 KiB, t=2, p=1)".into(),
        measure(20, |_| async {
            shared::password::hash("vivid tundra lantern 47".into())
                .await
                .map(|_| ())
                .unwrap()
        })
        .await,
        "—",
    ));
    let _ = s;
    let s = state.clone();
    rows.push((
        "POST /auth/login (one argon2 verification)".into(),
        measure(20, |_| {
            let req = bench::post_event(
                "/auth/login",
                &json!({"email": "warm@example.com", "password": password}),
                "10.0.0.1",
            );
            let s = s.clone();
            async move { assert_eq!(login::handle(s, req).await.status(), 200) }
        })
        .await,
        "argon2-bound",
    ));
    let s = state.clone();
    rows.push((
        "POST /auth/signup (one argon2 hash + zxcvbn)".into(),
        measure(20, |i| {
            let req = bench::post_event("/auth/signup", &json!({"email": format!("w{i}-{}@example.com", uuid_like()), "password": password}), "10.0.0.1");
            let s = s.clone();
            async move { assert_eq!(signup::handle(s, req).await.status(), 201) }
        })
        .await,
        "argon2-bound",
    ));

    // Tasks: a user with 1,000 tasks (the first page is what clients fetch).
    for n in 0..1000 {
        let req = bench::event(
            "POST",
            "/tasks",
            "/tasks",
            &[],
            "",
            Some(&json!({"title": format!("seed {n}")})),
            &context,
        );
        assert_eq!(tasks_crud::handle(state.clone(), req).await.status(), 201);
    }
    let s = state.clone();
    let ctx = context.clone();
    let created = std::sync::Mutex::new(Vec::new());
    rows.push((
        "POST /tasks".into(),
        measure(2_000, |i| {
            let req = bench::event(
                "POST",
                "/tasks",
                "/tasks",
                &[],
                "",
                Some(&json!({"title": format!("task {i}"), "due_date": "2026-12-01"})),
                &ctx,
            );
            let (s, created) = (s.clone(), &created);
            async move {
                let r = tasks_crud::handle(s, req).await;
                assert_eq!(r.status(), 201);
                created
                    .lock()
                    .unwrap()
                    .push(bench::body_json(&r)["id"].as_str().unwrap().to_owned());
            }
        })
        .await,
        "≤ 1 ms",
    ));
    let ids = created.lock().unwrap().clone();
    let s = state.clone();
    rows.push((
        "GET /tasks/{id}".into(),
        measure(5_000, |i| {
            let id = ids[i % ids.len()].clone();
            let req = bench::event(
                "GET",
                "/tasks/{id}",
                &format!("/tasks/{id}"),
                &[("id", &id)],
                "",
                None,
                &ctx,
            );
            let s = s.clone();
            async move { assert_eq!(tasks_crud::handle(s, req).await.status(), 200) }
        })
        .await,
        "≤ 1 ms",
    ));
    let s = state.clone();
    rows.push((
        "GET /tasks (first page of 20, user with 3,000+ tasks)".into(),
        measure(2_000, |_| {
            let req = bench::event("GET", "/tasks", "/tasks", &[], "limit=20", None, &ctx);
            let s = s.clone();
            async move { assert_eq!(tasks_crud::handle(s, req).await.status(), 200) }
        })
        .await,
        "≤ 1 ms",
    ));
    let s = state.clone();
    rows.push((
        "PATCH /tasks/{id} (conditional on version)".into(),
        measure(2_000, |i| {
            let id = ids[i % ids.len()].clone();
            let req = bench::event(
                "PATCH",
                "/tasks/{id}",
                &format!("/tasks/{id}"),
                &[("id", &id)],
                "",
                Some(&json!({"title": format!("edit {i}")})),
                &ctx,
            );
            let s = s.clone();
            async move { assert_eq!(tasks_crud::handle(s, req).await.status(), 200) }
        })
        .await,
        "—",
    ));

    // The shop: a catalog of 200 books with plenty of stock.
    let book_ids = bench::seed_books(&state, 200).await;
    let s = state.clone();
    rows.push((
        "GET /books (first page of 20)".into(),
        measure(5_000, |_| {
            let req = bench::event(
                "GET",
                "/books",
                "/books",
                &[],
                "limit=20",
                None,
                &Value::Null,
            );
            let s = s.clone();
            async move { assert_eq!(books::handle(s, req).await.status(), 200) }
        })
        .await,
        "—",
    ));
    let s = state.clone();
    rows.push((
        "POST /orders (one book, stock taken in a transaction)".into(),
        measure(2_000, |i| {
            let body = json!({"items": [{"book_id": book_ids[i % book_ids.len()], "quantity": 1}]});
            let req = bench::event("POST", "/orders", "/orders", &[], "", Some(&body), &ctx);
            let s = s.clone();
            async move { assert_eq!(orders::handle(s, req).await.status(), 201) }
        })
        .await,
        "—",
    ));

    // Profile PDFs: drawing alone, and the handler when the PDF is current.
    let patch = bench::event(
        "PATCH",
        "/users/me",
        "/users/me",
        &[],
        "",
        Some(&json!({
            "name": "Ada", "surname": "Lovelace", "username": "ada_l", "date_of_birth": "1990-12-10",
            "bio": "Mathematician and writer, known for her work on Charles Babbage's proposed mechanical general-purpose computer, the Analytical Engine. She was the first to recognise that the machine had applications beyond pure calculation."
        })),
        &ctx,
    );
    let patched = users_me::handle(state.clone(), patch).await;
    assert_eq!(patched.status(), 200, "{:?}", patched.body());
    let user = state
        .users
        .get(context["user_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let draw = measure(200, |_| {
        let u = user.clone();
        async move {
            pdf_generate::render::profile_pdf(&u, now, None).unwrap();
        }
    })
    .await;
    rows.push((
        "profile PDF drawing (layout, font subset, save)".into(),
        draw,
        "—",
    ));
    // The same with an avatar: our 128 px thumbnail of a photo, decoded and
    // drawn per PDF as the handler does.
    let thumbnail = avatar_thumbnail();
    let t = thumbnail.clone();
    let draw_avatar = measure(200, |_| {
        let (u, t) = (user.clone(), t.clone());
        async move {
            let pixels = pdf_generate::decode_avatar(&t).unwrap();
            pdf_generate::render::profile_pdf(&u, now, Some(&pixels)).unwrap();
        }
    })
    .await;
    rows.push((
        "profile PDF drawing with the avatar (thumbnail decode + the above)".into(),
        draw_avatar,
        "—",
    ));
    let s = state.clone();
    let first = pdf_generate::handle(
        s.clone(),
        bench::event(
            "POST",
            "/users/me/pdf",
            "/users/me/pdf",
            &[],
            "",
            None,
            &ctx,
        ),
    )
    .await;
    assert_eq!(first.status(), 201);
    rows.push((
        "POST /users/me/pdf (PDF current: a fresh link)".into(),
        measure(2_000, |_| {
            let req = bench::event(
                "POST",
                "/users/me/pdf",
                "/users/me/pdf",
                &[],
                "",
                None,
                &ctx,
            );
            let s = s.clone();
            async move { assert_eq!(pdf_generate::handle(s, req).await.status(), 200) }
        })
        .await,
        "—",
    ));
    let pdf_line = reportlab_line(dir.path(), &user, draw.0, None);
    let avatar_file = dir.path().join("avatar-128.jpg");
    std::fs::write(&avatar_file, &thumbnail).unwrap();
    let pdf_avatar_line = reportlab_line(dir.path(), &user, draw_avatar.0, Some(&avatar_file));
    println!("{pdf_avatar_line}");
    println!("{pdf_line}");

    // PyJWT, same token, same public key.
    let token_file = dir.path().join("token.txt");
    let jwk_file = dir.path().join("jwk.json");
    std::fs::write(&token_file, &token).unwrap();
    std::fs::write(
        &jwk_file,
        serde_json::to_string(&state.tokens.jwks().keys[0]).unwrap(),
    )
    .unwrap();
    let python = std::env::var("BENCH_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python").into());
    let peer = std::process::Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/pyjwt_verify.py"))
        .args([
            token_file.to_str().unwrap(),
            jwk_file.to_str().unwrap(),
            "user-platform",
            state.tokens.issuer(),
            "20000",
        ])
        .output();
    let peer_line = match peer {
        Ok(out) if out.status.success() => {
            let pyjwt_us: f64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0.0);
            let ours = verify.0.as_secs_f64() * 1e6;
            format!(
                "Token validation, same EdDSA token and key: ours {ours:.1} µs median, PyJWT {pyjwt_us:.1} µs median — **{:.1}×** faster. \
                 Ours is {verify_over_bare:.2}× the bare Ed25519 check ({:.1} µs) in the same run (target ≤ 1.2×).",
                pyjwt_us / ours,
                bare.0.as_secs_f64() * 1e6
            )
        }
        _ => format!(
            "PyJWT comparison skipped: no PyJWT at {python} (run `bash tests/run-all.sh` once to create .venv)."
        ),
    };
    println!("{peer_line}");

    let mut table = String::from("| operation | p50 | p99 | target |\n|---|---|---|---|\n");
    for (name, (p50, p99), target) in &rows {
        table.push_str(&format!(
            "| {name} | {} | {} | {target} |\n",
            us(*p50),
            us(*p99)
        ));
        println!("{name}: p50 {} p99 {}", us(*p50), us(*p99));
    }
    let section = format!(
        "## Warm latency (in-process, embedded store)\n\n\
         `cargo run --release -p bench --bin warm` — {}; each handler called in-process with a Lambda event, after a warm-up.\n\n{table}\n{peer_line}\n\n{pdf_line}\n\n{pdf_avatar_line}",
        bench::machine()
    );
    let figures: serde_json::Map<String, Value> = rows
        .iter()
        .map(|(name, (p50, _), _)| (name.clone(), json!(p50.as_secs_f64() * 1000.0)))
        .collect();
    std::fs::write(
        bench::results_dir().join("warm.json"),
        Value::Object(figures).to_string(),
    )
    .unwrap();
    bench::write_section("warm", &section).unwrap();
}

fn uuid_like() -> u128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u128
}

/// ReportLab drawing the same fields with the same fonts, in the same run.
/// Our 128 px avatar thumbnail of a photo-like 1,200 × 900 JPEG.
fn avatar_thumbnail() -> Vec<u8> {
    let photo = image::RgbImage::from_fn(1200, 900, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x * y) % 239) as u8])
    });
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(photo)
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    let processed = image_pipeline::pipeline::process(&jpeg.into_inner()).unwrap();
    processed.renditions[1].bytes.clone()
}

fn reportlab_line(
    dir: &std::path::Path,
    user: &shared::domain::User,
    ours: Duration,
    avatar: Option<&std::path::Path>,
) -> String {
    let fields: Vec<Value> = pdf_generate::render::fields(user)
        .into_iter()
        .map(|(label, value)| json!([label, value]))
        .collect();
    let input = dir.join("profile.json");
    std::fs::write(
        &input,
        json!({
            "title": format!(
                "{} {}",
                user.name.as_ref().map(|n| n.as_str()).unwrap_or(""),
                user.surname.as_ref().map(|n| n.as_str()).unwrap_or("")
            ),
            "fields": fields,
            "bio": user.bio.as_ref().map(|b| b.as_str()),
            "version": user.version,
        })
        .to_string(),
    )
    .unwrap();
    let python = std::env::var("BENCH_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python").into());
    let fonts = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../functions/pdf-generate/fonts"
    );
    let out = std::process::Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/reportlab_profile.py"))
        .args([input.to_str().unwrap(), fonts, "200"])
        .args(avatar.map(|a| a.to_str().unwrap().to_owned()))
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut parts = text.split_whitespace();
            let ms: f64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            let bytes: u64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            let ours_ms = ours.as_secs_f64() * 1000.0;
            let with = if avatar.is_some() {
                ", with the same avatar thumbnail"
            } else {
                ""
            };
            let ours_bytes = avatar
                .and_then(|a| std::fs::read(a).ok())
                .and_then(|t| pdf_generate::decode_avatar(&t))
                .map_or_else(
                    || {
                        pdf_generate::render::profile_pdf(
                            user,
                            time::OffsetDateTime::now_utc(),
                            None,
                        )
                    },
                    |p| {
                        pdf_generate::render::profile_pdf(
                            user,
                            time::OffsetDateTime::now_utc(),
                            Some(&p),
                        )
                    },
                )
                .map(|b| b.len())
                .unwrap_or(0);
            format!(
                "Profile PDF, same fields, same DejaVu Sans fonts embedded and subset{with}: ours {ours_ms:.2} ms median ({ours_bytes} bytes: \
                 the per-process prepared Latin subset of both faces), ReportLab {ms:.2} ms median ({bytes} bytes: per-document subsets) — **{:.1}×** faster.",
                ms / ours_ms
            )
        }
        Ok(out) => format!(
            "ReportLab comparison failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(_) => format!("ReportLab comparison skipped: no Python at {python}."),
    }
}
