//! What a fresh process pays the first time it does the work of a signup or
//! a login, against the second time: step by step, and for the whole
//! handler. A first use happens once per process, so this binary runs
//! itself once per sample (`FIRST_USE_ONCE=steps|signup|login`: measure,
//! print one JSON object in µs) and writes the medians to BENCHMARKS.md:
//! `cargo run --release -p bench --bin first-use` (`BENCH_RUNS`, default 20).
//! With `MOTO_ENDPOINT` set (bench/run.sh starts moto) it also measures a
//! whole login on moto (also after one store read, or one argon2
//! verification, done beforehand) and, alone, the SDK's first request of
//! each kind a login makes.
use std::time::{Duration, Instant};

use serde_json::json;

/// The account the login processes sign in to (signed up by the parent).
const LOGIN_EMAIL: &str = "first-use@example.com";
const PASSWORD: &str = "vivid tundra lantern 47";

fn main() {
    if let Some(mode) = std::env::var_os("FIRST_USE_ONCE") {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        match mode.to_str() {
            Some("steps") => runtime.block_on(once()),
            Some("sdk") => runtime.block_on(sdk_once()),
            Some(handler) => runtime.block_on(handler_once(handler)),
            None => panic!("FIRST_USE_ONCE is not UTF-8"),
        }
        return;
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let me = std::env::current_exe().unwrap();
    let section = profile(&me, runs);
    println!("{section}");
    bench::write_section("first-use", &section).unwrap();
}

async fn once() {
    let mut out = serde_json::Map::new();
    let mut time = |name: &str, first: f64, second: f64| {
        out.insert(
            name.to_owned(),
            serde_json::json!({"first_us": first, "second_us": second}),
        );
    };
    let us = |t: Instant| t.elapsed().as_secs_f64() * 1e6;

    // Random bytes (session ids, refresh tokens, salts): AWS-LC's first draw
    // seeds its generator.
    let mut bytes = [0u8; 32];
    let t = Instant::now();
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    let first = us(t);
    let t = Instant::now();
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    time("random bytes (AWS-LC)", first, us(t));

    // The password-strength estimate: zxcvbn's dictionaries are built on first use.
    let t = Instant::now();
    shared::domain::NewPassword::parse("vivid tundra lantern 47", &["ada@example.com"]).unwrap();
    let first = us(t);
    let t = Instant::now();
    shared::domain::NewPassword::parse("amber quartz meadow 19", &["bob@example.com"]).unwrap();
    time("password strength (zxcvbn)", first, us(t));

    // argon2id: a 19 MiB working set. A login's first is a verification
    // (here against the dummy hash, as for an unknown email), a signup's a hash.
    let t = Instant::now();
    shared::password::verify("vivid tundra lantern 47".into(), None)
        .await
        .unwrap();
    let first = us(t);
    let t = Instant::now();
    shared::password::verify("vivid tundra lantern 47".into(), None)
        .await
        .unwrap();
    time("argon2id verify", first, us(t));
    let t = Instant::now();
    shared::password::hash("vivid tundra lantern 47".into())
        .await
        .unwrap();
    let first = us(t);
    let t = Instant::now();
    shared::password::hash("amber quartz meadow 19".into())
        .await
        .unwrap();
    time("argon2id hash", first, us(t));
    println!("{}", serde_json::Value::Object(out));
}

/// A whole signup or login, as its Lambda runs it (the state built the way
/// the function's `main` builds it, adapters opened on first use), on the
/// embedded store in `FIRST_USE_DIR`: the first call of the process and
/// the second. Both succeed (201, 200) or the run fails.
async fn handler_once(handler: &str) {
    let dir = std::env::var_os("FIRST_USE_DIR").expect("FIRST_USE_DIR");
    let on_moto = std::env::var_os("FIRST_USE_AWS").is_some();
    let config = if on_moto {
        moto_config()
    } else {
        bench::unlimited_config(dir.as_ref())
    };
    let state = edge::wiring::for_function(config).await.unwrap();
    let nonce = std::process::id();
    let call = |i: u32| {
        let state = state.clone();
        async move {
            let ip = format!("10.9.{}.{}", nonce % 250, i + 1);
            let t = Instant::now();
            let status = if handler == "signup" {
                let body =
                    json!({"email": format!("fu-{nonce}-{i}@example.com"), "password": PASSWORD});
                signup::handle(state, bench::post_event("/auth/signup", &body, &ip))
                    .await
                    .status()
            } else {
                let body = json!({"email": LOGIN_EMAIL, "password": PASSWORD});
                login::handle(state, bench::post_event("/auth/login", &body, &ip))
                    .await
                    .status()
            };
            assert!(status.is_success(), "{handler}: {status}");
            t.elapsed().as_secs_f64() * 1e6
        }
    };
    // Attribution: one part of the work done once before the first call.
    let warmed = match std::env::var("FIRST_USE_WARM").as_deref() {
        Ok("store") => {
            let nobody = shared::domain::Email::parse("nobody@example.com").unwrap();
            state.users.find_by_email(&nobody).await.unwrap();
            ", after one store read"
        }
        Ok("argon2") => {
            shared::password::verify(PASSWORD.into(), None)
                .await
                .unwrap();
            ", after one argon2 verification"
        }
        _ => "",
    };
    let first = call(0).await;
    let second = call(1).await;
    let store = if on_moto { "moto" } else { "embedded store" };
    let name = format!("whole {handler} handler ({store}{warmed})");
    println!(
        "{}",
        json!({name: {"first_us": first, "second_us": second}})
    );
}

/// The AWS configuration the parent provisioned on moto, from the
/// environment as a function reads it, with the limits lifted.
fn moto_config() -> shared::Config {
    let mut config = shared::Config::from_env().expect("the parent's configuration");
    bench::lift_limits(&mut config);
    config
}

/// The first DynamoDB requests of a process on moto, alone: the SDK
/// configuration and client built as the functions build them, then each
/// kind of request a login makes, twice (the connection, endpoint
/// resolution and signing are set up by the first request; each kind's
/// serialisers and code are first run by its own first request).
async fn sdk_once() {
    use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
    use shared::ports::item_store::{PK, SK};
    let config = moto_config();
    let sdk = adapters_aws::sdk_config(&config).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = config.table_name.clone();
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let mut out = serde_json::Map::new();
    let mut time = |name: &str, (first, second): (f64, f64)| {
        out.insert(
            format!("the SDK's first {name} (moto)"),
            json!({"first_us": first, "second_us": second}),
        );
    };
    time(
        "GetItem",
        twice(|| async {
            client
                .get_item()
                .table_name(&table)
                .key(PK, s("fu"))
                .key(SK, s("get"))
                .send()
                .await
                .map(drop)
        })
        .await,
    );
    time(
        "UpdateItem",
        twice(|| async {
            client
                .update_item()
                .table_name(&table)
                .key(PK, s("fu"))
                .key(SK, s("counter"))
                .update_expression("ADD n :one")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .send()
                .await
                .map(drop)
        })
        .await,
    );
    time(
        "PutItem",
        twice(|| async {
            client
                .put_item()
                .table_name(&table)
                .item(PK, s("fu"))
                .item(SK, s("put"))
                .send()
                .await
                .map(drop)
        })
        .await,
    );
    time(
        "Query",
        twice(|| async {
            client
                .query()
                .table_name(&table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s("fu"))
                .send()
                .await
                .map(drop)
        })
        .await,
    );
    time(
        "TransactWriteItems",
        twice(|| async {
            let put = Put::builder()
                .table_name(&table)
                .item(PK, s("fu"))
                .item(SK, s("tx"))
                .build()
                .expect("a put");
            client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put).build())
                .send()
                .await
                .map(drop)
        })
        .await,
    );
    // What login and refresh do once per cold start, before any request:
    // read the signing key from Secrets Manager (a client of its own, built
    // as shared builds it, and the process's first connection to it).
    if let Some(secret) = &config.jwt_private_key_secret {
        let read = twice(|| async {
            adapters_aws::read_secret_string(&sdk, secret)
                .await
                .map(drop)
        })
        .await;
        out.insert(
            "the signing key from Secrets Manager, GetSecretValue (moto; once per signer's cold start)"
                .into(),
            json!({"first_us": read.0, "second_us": read.1}),
        );
    }
    println!("{}", serde_json::Value::Object(out));
}

/// Runs `request` twice: the time of the first and of the second, in µs.
async fn twice<F, Fut, E>(request: F) -> (f64, f64)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Debug,
{
    let t = Instant::now();
    request().await.expect("a request to moto");
    let first = t.elapsed().as_secs_f64() * 1e6;
    let t = Instant::now();
    request().await.expect("a request to moto");
    (first, t.elapsed().as_secs_f64() * 1e6)
}

/// `runs` fresh processes per mode; the median of each step's first and
/// second time.
fn profile(me: &std::path::Path, runs: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let state = edge::wiring::build(bench::unlimited_config(dir.path()))
            .await
            .unwrap();
        let body = json!({"email": LOGIN_EMAIL, "password": PASSWORD});
        let signup = signup::handle(state, bench::post_event("/auth/signup", &body, "10.8.0.1"));
        assert_eq!(signup.await.status(), 201);
    });
    // On moto: the login account in a provisioned table, and its
    // configuration passed to the children as a function's environment.
    let moto: Option<Vec<(String, String)>> = edge::testing::moto_endpoint().map(|_| {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let config = edge::testing::config(edge::testing::TestBackend::Aws, dir.path()).await;
            let state = edge::wiring::build(config.clone()).await.unwrap();
            let body = json!({"email": LOGIN_EMAIL, "password": PASSWORD});
            let signup =
                signup::handle(state, bench::post_event("/auth/signup", &body, "10.8.0.1"));
            assert_eq!(signup.await.status(), 201);
            config.to_env()
        })
    });
    // (mode, on moto, what is warmed before the first call)
    let mut modes = vec![
        ("steps", false, ""),
        ("signup", false, ""),
        ("login", false, ""),
    ];
    if moto.is_some() {
        modes.extend([
            ("login", true, ""),
            ("login", true, "store"),
            ("login", true, "argon2"),
            ("sdk", true, ""),
        ]);
    }
    let mut figures: std::collections::BTreeMap<String, (Vec<f64>, Vec<f64>)> = Default::default();
    for _ in 0..runs {
        for &(mode, on_moto, warm) in &modes {
            let mut command = std::process::Command::new(me);
            command
                .env("FIRST_USE_ONCE", mode)
                .env("FIRST_USE_DIR", dir.path())
                .env("FIRST_USE_WARM", warm);
            if let (true, Some(env)) = (on_moto, &moto) {
                command.envs(env.iter().cloned()).env("FIRST_USE_AWS", "1");
            }
            let out = command.output().expect("run first-use");
            assert!(
                out.status.success(),
                "first-use {mode}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("first-use JSON");
            for (step, t) in v.as_object().unwrap() {
                let e = figures.entry(step.clone()).or_default();
                e.0.push(t["first_us"].as_f64().unwrap());
                e.1.push(t["second_us"].as_f64().unwrap());
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut rows = String::new();
    for (step, (mut first, mut second)) in figures {
        let (f, s) = (median(&mut first), median(&mut second));
        rows.push_str(&format!(
            "| {step} | {} | {} | {} |\n",
            bench::us(Duration::from_secs_f64(f / 1e6)),
            bench::us(Duration::from_secs_f64(s / 1e6)),
            bench::us(Duration::from_secs_f64((f - s).max(0.0) / 1e6)),
        ));
    }
    format!(
        "### Where the first signup and login go\n\n\
         What a fresh process pays the first time it does each step of a signup or login, against the second time \
         (`cargo run {}-p bench --bin first-use` — {}; once per process, median of {runs} processes each; the steps in this order in one process, each whole handler in its own; on moto, a whole login and, alone, each kind of DynamoDB request a login makes, twice, on a client built as the functions build theirs).\n\n\
         | step | first | second | first-use cost |\n|---|---|---|---|\n{rows}",
        if cfg!(debug_assertions) {
            ""
        } else {
            "--release "
        },
        bench::machine()
    )
}
