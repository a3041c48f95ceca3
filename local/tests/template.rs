//! `template.yaml` and the local route table describe the same API, and the
//! template grants no wildcard permissions.

use std::collections::BTreeSet;

use serde_norway::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn functions(t: &Value) -> Vec<(&str, &Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, r)| (name.as_str().unwrap(), r))
        .collect()
}

#[test]
fn local_routes_match_the_template() {
    let t = template();
    let mut from_template = BTreeSet::new();
    for (_, f) in functions(&t) {
        let binary = f["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_owned();
        let Some(events) = f["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, e) in events {
            if e["Type"] != "HttpApi" {
                continue;
            }
            let p = &e["Properties"];
            let protected = p["Auth"]["Authorizer"].as_str() != Some("NONE");
            from_template.insert((
                p["Method"].as_str().unwrap().to_uppercase(),
                p["Path"].as_str().unwrap().to_owned(),
                binary.clone(),
                protected,
            ));
        }
    }
    let local: BTreeSet<_> = local::routes::ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function.to_owned(),
                r.protected,
            )
        })
        .collect();
    assert_eq!(local, from_template);
}

#[test]
fn every_function_is_a_cargo_lambda_arm64_binary() {
    let t = template();
    assert_eq!(t["Globals"]["Function"]["Runtime"], "provided.al2023");
    assert_eq!(t["Globals"]["Function"]["Architectures"][0], "arm64");
    for (name, f) in functions(&t) {
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
    }
}

fn walk_statements<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Mapping(m) => {
            if let Some(Value::Sequence(stmts)) = m.get("Statement") {
                out.extend(stmts.iter());
            }
            m.values().for_each(|x| walk_statements(x, out));
        }
        Value::Sequence(s) => s.iter().for_each(|x| walk_statements(x, out)),
        Value::Tagged(t) => walk_statements(&t.value, out),
        _ => {}
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

#[test]
fn no_policy_allows_wildcard_actions_or_resources() {
    let t = template();
    let mut statements = Vec::new();
    for (_, f) in functions(&t) {
        walk_statements(&f["Properties"]["Policies"], &mut statements);
    }
    assert!(!statements.is_empty());
    for s in statements {
        if s["Effect"] != "Allow" {
            continue;
        }
        for action in strings(&s["Action"]) {
            assert!(!action.contains('*'), "wildcard action {action}");
        }
        for resource in strings(&s["Resource"]) {
            assert_ne!(resource, "*", "wildcard resource in {s:?}");
        }
    }
}

/// The code reads and writes the key attributes, index and TTL attribute
/// the template's table has, and counts receives as its queue does. (The
/// resources every test on moto runs on are made from the template itself:
/// `adapters_aws::stacks`.)
#[test]
fn the_code_uses_the_templates_table_and_queue_settings() {
    use shared::ports::item_store::{EXPIRES_AT, GSI1PK, GSI1SK, PK, SK};
    let t = template();
    let table = &t["Resources"]["Table"]["Properties"];
    let keys = |v: &Value| -> Vec<(String, String)> {
        v.as_sequence()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap().to_owned(),
                    k["KeyType"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        keys(&table["KeySchema"]),
        owned(&[(PK, "HASH"), (SK, "RANGE")])
    );
    let gsi = &table["GlobalSecondaryIndexes"][0];
    assert_eq!(gsi["IndexName"], adapters_aws::GSI1);
    assert_eq!(
        keys(&gsi["KeySchema"]),
        owned(&[(GSI1PK, "HASH"), (GSI1SK, "RANGE")])
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"],
        EXPIRES_AT
    );
    let queue = &t["Resources"]["EventsQueue"]["Properties"];
    assert_eq!(
        queue["RedrivePolicy"]["maxReceiveCount"].as_u64(),
        Some(u64::from(shared::ports::MAX_RECEIVES))
    );
    assert!(
        queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap() >= 5,
        "maxReceiveCount of at least 5"
    );
}

#[test]
fn storage_is_private_and_encrypted() {
    let t = template();
    let bucket = &t["Resources"]["Bucket"]["Properties"];
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][flag], true,
            "{flag}"
        );
    }
    assert!(!bucket["BucketEncryption"].is_null());
    assert_eq!(
        t["Resources"]["Table"]["Properties"]["SSESpecification"]["SSEEnabled"],
        true
    );
    assert_eq!(
        t["Resources"]["EventsQueue"]["Properties"]["SqsManagedSseEnabled"],
        true
    );
    // The signing key stays in Secrets Manager: the template names the
    // secret, never its value (the test below).
    for function in ["LoginFunction", "RefreshFunction"] {
        let Value::Tagged(secret) = &t["Resources"][function]["Properties"]["Environment"]["Variables"]
            ["JWT_PRIVATE_KEY_SECRET"]
        else {
            panic!("{function}: JWT_PRIVATE_KEY_SECRET is not !Ref JwtPrivateKeySecret");
        };
        assert_eq!(
            (secret.tag.to_string(), secret.value.as_str()),
            ("!Ref".to_owned(), Some("JwtPrivateKeySecret")),
            "{function}"
        );
    }
    assert!(
        !std::fs::read_to_string(format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .contains("PRIVATE KEY-----")
    );
}

#[test]
fn the_consumer_and_the_relay_are_wired_as_on_aws() {
    let t = template();
    let consumer = &t["Resources"]["UserEventsFunction"]["Properties"];
    let timeout = consumer["Timeout"].as_i64().unwrap();
    let visibility = t["Resources"]["EventsQueue"]["Properties"]["VisibilityTimeout"]
        .as_i64()
        .unwrap();
    assert!(
        visibility >= 6 * timeout,
        "visibility {visibility} < 6 x consumer timeout {timeout}"
    );
    let sqs = &consumer["Events"]["Queue"];
    assert_eq!(sqs["Type"], "SQS");
    assert_eq!(
        sqs["Properties"]["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
    let relay = &t["Resources"]["OutboxRelayFunction"]["Properties"]["Events"]["EveryMinute"];
    assert_eq!(relay["Properties"]["Schedule"], "rate(1 minute)");
    assert_eq!(
        local::schedules::RELAY_EVERY.as_secs(),
        60,
        "the local schedule matches"
    );
}

/// The posts feed can reach only its cache's partitions of the table.
#[test]
fn the_posts_function_reaches_only_the_cache_partitions() {
    let t = template();
    let posts = &t["Resources"]["PostsFunction"];
    assert_eq!(posts["Metadata"]["BuildProperties"]["Binary"], "posts");
    let mut statements = Vec::new();
    walk_statements(&posts["Properties"]["Policies"], &mut statements);
    let dynamo: Vec<_> = statements
        .iter()
        .filter(|s| {
            strings(&s["Action"])
                .iter()
                .any(|a| a.starts_with("dynamodb:"))
        })
        .collect();
    assert!(!dynamo.is_empty());
    for s in dynamo {
        let keys = &s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
        assert_eq!(strings(keys), ["POSTS#*"], "{s:?}");
    }
    let env = &posts["Properties"]["Environment"]["Variables"];
    assert!(
        !env["POSTS_API_URL"].is_null(),
        "the upstream is configurable"
    );
}

/// Presigned uploads reach the processor through S3's notification, for
/// `uploads/` only; leftovers and old versions expire; browsers may PUT.
#[test]
fn avatar_uploads_are_wired_as_on_aws() {
    let t = template();
    let process = &t["Resources"]["MediaProcessFunction"];
    assert_eq!(
        process["Metadata"]["BuildProperties"]["Binary"],
        "media-process"
    );
    let event = &process["Properties"]["Events"]["Uploaded"];
    assert_eq!(event["Type"], "S3");
    assert_eq!(event["Properties"]["Events"], "s3:ObjectCreated:*");
    let rules = &event["Properties"]["Filter"]["S3Key"]["Rules"][0];
    assert_eq!(
        (&rules["Name"], &rules["Value"]),
        (&"prefix".into(), &shared::blob_keys::UPLOADS.into())
    );
    let bucket = &t["Resources"]["Bucket"]["Properties"];
    let lifecycle = bucket["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .unwrap();
    assert!(
        lifecycle
            .iter()
            .any(|r| r["Prefix"] == shared::blob_keys::UPLOADS && r["ExpirationInDays"] == 1)
    );
    assert!(
        lifecycle
            .iter()
            .any(|r| !r["NoncurrentVersionExpiration"]["NoncurrentDays"].is_null())
    );
    let cors = &bucket["CorsConfiguration"]["CorsRules"][0];
    assert_eq!(strings(&cors["AllowedMethods"]), ["PUT"]);
    // The S3 grants of the avatar functions stay inside their prefixes.
    for name in ["MediaUploadFunction", "MediaProcessFunction"] {
        let mut statements = Vec::new();
        walk_statements(
            &t["Resources"][name]["Properties"]["Policies"],
            &mut statements,
        );
        for s in statements {
            if !strings(&s["Action"]).iter().any(|a| a.starts_with("s3:")) {
                continue;
            }
            let text = format!("{:?}", s["Resource"]);
            assert!(
                text.contains("/avatars/*") || text.contains("/uploads/*"),
                "{name}: {text}"
            );
        }
    }
}

/// The optional custom domain serves the API at its root and under the base
/// path the local server's `--base-path` emulates (and the test harness
/// serves), each mapping only when its parameters are given.
#[test]
fn the_custom_domain_maps_the_root_and_the_base_path() {
    let t = template();
    assert_eq!(t["Parameters"]["ApiDomainName"]["Default"], "");
    assert_eq!(t["Parameters"]["ApiBasePath"]["Default"], "api/v1");
    let r = &t["Resources"];
    assert_eq!(r["ApiDomain"]["Condition"], "HasApiDomain");
    assert_eq!(r["ApiRootMapping"]["Condition"], "HasApiDomain");
    assert!(r["ApiRootMapping"]["Properties"]["ApiMappingKey"].is_null());
    let mapped = &r["ApiBasePathMapping"];
    assert_eq!(mapped["Condition"], "HasApiBasePath");
    let Value::Tagged(key) = &mapped["Properties"]["ApiMappingKey"] else {
        panic!("ApiMappingKey is not !Ref ApiBasePath");
    };
    assert_eq!(
        (key.tag.to_string(), key.value.as_str()),
        ("!Ref".to_owned(), Some("ApiBasePath"))
    );
    // The parameter accepts exactly what the local server's --base-path does.
    let pattern = t["Parameters"]["ApiBasePath"]["AllowedPattern"]
        .as_str()
        .unwrap();
    let re = regex_lite::Regex::new(pattern).unwrap();
    for ok in ["api/v1", "v2", "a$b/c(d)"] {
        assert!(
            re.is_match(ok) && local::BasePath::parse(ok).is_ok(),
            "{ok}"
        );
    }
    for bad in ["/api", "api//v1", "api v1", "api/"] {
        assert!(!re.is_match(bad), "{bad}");
    }
    for bad in ["api//v1", "api v1", "", "/"] {
        assert!(local::BasePath::parse(bad).is_err(), "{bad}");
    }
}

/// The variables the template declares are the ones `sam local` lets the
/// env-vars file (`cargo run -p local -- sam-env`) set, and that file reads
/// back as the configuration it was made from.
#[test]
fn the_sam_local_env_file_sets_what_the_template_declares() {
    let t = template();
    let mut declared = BTreeSet::new();
    let mut add = |vars: &Value| {
        if let Some(map) = vars.as_mapping() {
            for k in map.keys() {
                declared.insert(k.as_str().unwrap().to_owned());
            }
        }
    };
    add(&t["Globals"]["Function"]["Environment"]["Variables"]);
    for (_, f) in functions(&t) {
        add(&f["Properties"]["Environment"]["Variables"]);
    }
    let listed: BTreeSet<String> = local::TEMPLATE_VARIABLES
        .iter()
        .map(|v| (*v).to_owned())
        .collect();
    assert_eq!(declared, listed);

    let mut config = shared::Config::embedded("/tmp/unused");
    config.backend = shared::config::Backend::Aws;
    config.aws_endpoint_url = Some("http://host.docker.internal:5000".into());
    config.table_name = "t-1".into();
    config.bucket_name = "b-1".into();
    config.queue_url = Some("http://host.docker.internal:5000/123/q".into());
    config.jwt_private_key_secret = Some("user-platform/dev/jwt-private-key".into());
    config.admin_emails = vec!["boss@example.com".into()];
    let file = local::sam_env(&config);
    let vars = file["Parameters"].as_object().unwrap();
    assert!(vars.keys().all(|k| listed.contains(k)), "{vars:?}");
    let back =
        shared::Config::from_lookup(|k| vars.get(k).and_then(|v| v.as_str()).map(str::to_owned))
            .unwrap();
    assert_eq!(
        (
            back.aws_endpoint_url,
            back.table_name,
            back.bucket_name,
            back.queue_url,
            back.jwt_private_key_secret,
            back.admin_emails
        ),
        (
            config.aws_endpoint_url,
            config.table_name,
            config.bucket_name,
            config.queue_url,
            config.jwt_private_key_secret,
            config.admin_emails
        )
    );
    assert!(matches!(back.backend, shared::config::Backend::Aws));
}

/// Only the functions that sign tokens can reach the private key: they are
/// told the secret's name (never its value, which a deploy-time
/// `{{resolve:secretsmanager:…}}` would have written into their
/// configuration) and only their roles may read it. Every function gets
/// the public keys; the binary mode gives the key to the same ones.
#[test]
fn the_private_key_reaches_only_the_signing_functions() {
    let t = template();
    let globals = &t["Globals"]["Function"]["Environment"]["Variables"];
    for variable in ["JWT_PRIVATE_KEY", "JWT_PRIVATE_KEY_SECRET"] {
        assert!(globals[variable].is_null(), "{variable} not in Globals");
    }
    assert!(!globals["JWT_PUBLIC_JWKS"].is_null(), "public keys for all");
    let binary = |f: &Value| {
        f["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mut told: Vec<String> = Vec::new();
    let mut may_read: Vec<String> = Vec::new();
    for (name, f) in functions(&t) {
        let variables = &f["Properties"]["Environment"]["Variables"];
        assert!(
            variables["JWT_PRIVATE_KEY"].is_null(),
            "{name}: a key in its configuration"
        );
        if !variables["JWT_PRIVATE_KEY_SECRET"].is_null() {
            told.push(binary(f));
        }
        let mut statements = Vec::new();
        walk_statements(&f["Properties"]["Policies"], &mut statements);
        for s in statements {
            if !strings(&s["Action"])
                .iter()
                .any(|a| a.starts_with("secretsmanager:"))
            {
                continue;
            }
            assert_eq!(
                strings(&s["Action"]),
                ["secretsmanager:GetSecretValue"],
                "{name}"
            );
            let Value::Tagged(resource) = &s["Resource"] else {
                panic!("{name}: the secret's ARN is not a !Sub");
            };
            assert_eq!(
                resource.value.as_str(),
                Some(
                    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${JwtPrivateKeySecret}-??????"
                ),
                "{name}: that secret only"
            );
            may_read.push(binary(f));
        }
    }
    told.sort();
    may_read.sort();
    assert_eq!(told, ["login", "refresh"]);
    assert_eq!(may_read, ["login", "refresh"]);
    assert_eq!(local::lambda::SIGNERS, ["login", "refresh"]);
    let text = std::fs::read_to_string(format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    assert!(!text.contains("resolve:secretsmanager"));
    assert!(!text.contains("PRIVATE KEY-----"));
}

/// Rotation on AWS: the rotated-out public keys reach every function when a
/// parameter names them, and nothing is set when none does.
#[test]
fn rotated_out_keys_reach_every_function_only_while_rotating() {
    let t = template();
    let tagged = |v: &Value, tag: &str| -> Value {
        match v {
            Value::Tagged(t) if t.tag == tag => t.value.clone(),
            other => panic!("{other:?} is not {tag}"),
        }
    };
    let previous = &t["Globals"]["Function"]["Environment"]["Variables"]["JWT_PREVIOUS_JWKS"];
    let branches = tagged(previous, "!If");
    assert_eq!(branches[0], "IsRotatingKeys");
    assert_eq!(
        tagged(&branches[1], "!Sub"),
        "{{resolve:ssm:${JwtPreviousJwksParameter}}}"
    );
    assert_eq!(tagged(&branches[2], "!Ref"), "AWS::NoValue");
    assert_eq!(t["Parameters"]["JwtPreviousJwksParameter"]["Default"], "");
    let not = tagged(&t["Conditions"]["IsRotatingKeys"], "!Not");
    let equals = tagged(&not[0], "!Equals");
    assert_eq!(tagged(&equals[0], "!Ref"), "JwtPreviousJwksParameter");
    assert_eq!(equals[1], "");
}

/// Each function is built from its own crate (`CodeUri`), so `sam build`
/// resolves its features alone, and the AWS services it links (its `shared`
/// features, which the local server also enforces) are exactly those its
/// policies allow: no client without a permission, no permission unused.
#[test]
fn each_function_links_exactly_the_services_its_policies_allow() {
    let t = template();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (name, f) in functions(&t) {
        let binary = f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let code_uri = f["Properties"]["CodeUri"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no CodeUri"));
        assert!(code_uri.starts_with("functions/"), "{name}: {code_uri}");
        let manifest_path = root.join(code_uri).join("Cargo.toml");
        let manifest = std::fs::read_to_string(&manifest_path)
            .unwrap_or_else(|e| panic!("{name}: {}: {e}", manifest_path.display()));
        assert!(
            manifest.contains(&format!("[[bin]]\nname = \"{binary}\"")),
            "{name}: {code_uri} has no binary {binary}"
        );
        let ports = local::ports::read(&manifest_path).unwrap();
        let mut linked = BTreeSet::new();
        for (on, service) in [
            (ports.store, "dynamodb"),
            (ports.blobs, "s3"),
            (ports.queue, "sqs"),
            (ports.mailer, "ses"),
        ] {
            if on {
                linked.insert(service.to_owned());
            }
        }
        // The signing key's secret: a feature, not a port.
        let features: toml::Table = toml::from_str(&manifest).unwrap();
        let reads_secrets = features
            .get("dependencies")
            .and_then(|d| d.get("adapters-aws"))
            .and_then(|s| s.get("features"))
            .and_then(|f| f.as_array())
            .is_some_and(|f| f.iter().any(|x| x.as_str() == Some("secrets")));
        if reads_secrets {
            linked.insert("secretsmanager".to_owned());
        }
        let mut allowed = BTreeSet::new();
        collect_services(&f["Properties"]["Policies"], &mut allowed);
        assert_eq!(linked, allowed, "{name}: linked services vs policies");
    }
}

/// The service prefixes of every `Action` under `v` (`dynamodb:GetItem` → `dynamodb`).
fn collect_services(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, x) in m {
                if k.as_str() == Some("Action") {
                    let actions: Vec<&Value> = match x {
                        Value::Sequence(s) => s.iter().collect(),
                        one => vec![one],
                    };
                    for a in actions {
                        let a = a.as_str().unwrap();
                        out.insert(a.split(':').next().unwrap().to_owned());
                    }
                } else {
                    collect_services(x, out);
                }
            }
        }
        Value::Sequence(s) => s.iter().for_each(|x| collect_services(x, out)),
        Value::Tagged(t) => collect_services(&t.value, out),
        _ => {}
    }
}

/// The Lambda builds' compiler flags (`.cargo/config.toml`): a target's
/// `rustflags` replace the `build.rustflags` cargo-lambda passes, so its
/// Graviton CPU must be restated beside ours, and the unwind tables stay
/// off for both the Rust and the C code (issue 15's sizes).
#[test]
fn lambda_builds_target_graviton_without_unwind_tables() {
    let text = std::fs::read_to_string(format!(
        "{}/../.cargo/config.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let config: toml::Table = toml::from_str(&text).unwrap();
    let flags: Vec<&str> = config["target"]["aarch64-unknown-linux-gnu"]["rustflags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let joined = flags.join(" ");
    assert!(joined.contains("-C target-cpu=neoverse-n1"), "{joined}");
    assert!(joined.contains("-C force-unwind-tables=no"), "{joined}");
    let cflags = config["env"]["CFLAGS_aarch64_unknown_linux_gnu"]
        .as_str()
        .unwrap();
    assert!(
        cflags.contains("-fno-asynchronous-unwind-tables"),
        "{cflags}"
    );
    // Every function is built for arm64, where these flags apply.
    let t = template();
    assert_eq!(t["Globals"]["Function"]["Architectures"][0], "arm64");
}

/// Browsers: the HTTP API's and the bucket's CORS are the local gateway's
/// (local/src/cors.rs), both for the one `AppOrigin`, which has no default
/// and accepts exactly the origins `APP_ORIGIN` does (never `*`).
#[test]
fn cors_allows_one_origin_as_the_local_gateway_does() {
    let t = template();
    let list =
        |v: &Value| -> Vec<String> { strings(v).into_iter().map(|s| s.to_lowercase()).collect() };
    let own = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_lowercase()).collect() };
    let is_app_origin = |v: &Value| {
        matches!(&v[0], Value::Tagged(t) if t.tag == "!Ref" && t.value.as_str() == Some("AppOrigin"))
            && v.as_sequence().is_some_and(|s| s.len() == 1)
    };
    let api = &t["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"];
    assert!(
        is_app_origin(&api["AllowOrigins"]),
        "{:?}",
        api["AllowOrigins"]
    );
    assert_eq!(api["AllowCredentials"], true);
    assert_eq!(
        list(&api["AllowMethods"]),
        own(&local::cors::API_ALLOW_METHODS)
    );
    assert_eq!(
        list(&api["AllowHeaders"]),
        own(&local::cors::API_ALLOW_HEADERS)
    );
    assert_eq!(
        list(&api["ExposeHeaders"]),
        own(&local::cors::API_EXPOSE_HEADERS)
    );
    assert_eq!(
        api["MaxAge"].as_u64(),
        Some(u64::from(local::cors::API_MAX_AGE_SECS))
    );

    let rules = t["Resources"]["Bucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
        .as_sequence()
        .unwrap();
    assert_eq!(rules.len(), 1);
    let rule = &rules[0];
    assert!(is_app_origin(&rule["AllowedOrigins"]), "{rule:?}");
    assert_eq!(
        list(&rule["AllowedMethods"]),
        own(&local::cors::BUCKET_ALLOW_METHODS)
    );
    assert_eq!(
        list(&rule["AllowedHeaders"]),
        own(&local::cors::BUCKET_ALLOW_HEADERS)
    );
    assert_eq!(
        rule["MaxAge"].as_u64(),
        Some(u64::from(local::cors::BUCKET_MAX_AGE_SECS))
    );

    let parameter = &t["Parameters"]["AppOrigin"];
    assert!(
        parameter["Default"].is_null(),
        "AppOrigin must be chosen, not defaulted"
    );
    let re = regex_lite::Regex::new(parameter["AllowedPattern"].as_str().unwrap()).unwrap();
    for origin in [
        "http://localhost:5173",
        "https://app.example.com",
        "*",
        "https://*",
        "https://app.example.com/",
        "https://app.example.com/path",
        "app.example.com",
        "http://127.0.0.1:3000",
    ] {
        assert_eq!(
            re.is_match(origin),
            shared::config::parse_origin(origin).is_some(),
            "{origin}"
        );
    }
    assert!(!re.is_match("*"));
}

/// Every function reaches only the key layouts it uses: each statement
/// granting DynamoDB actions on the table (not its index) carries a
/// `dynamodb:LeadingKeys` condition naming layouts (`USER#*`) or fixed
/// partitions, never everything. (Which layouts: the recorded-calls check,
/// tests/deploy/iam_check.py, fails a run where a function reaches another.)
#[test]
fn table_access_is_narrowed_to_key_layouts() {
    let t = template();
    let mut narrowed = 0;
    for (name, f) in functions(&t) {
        let mut statements = Vec::new();
        walk_statements(&f["Properties"]["Policies"], &mut statements);
        for s in statements {
            if !strings(&s["Action"])
                .iter()
                .any(|a| a.starts_with("dynamodb:"))
            {
                continue;
            }
            let on_table = match &s["Resource"] {
                Value::Tagged(r) => r.tag == "!GetAtt" && r.value.as_str() == Some("Table.Arn"),
                other => panic!("{name}: one resource per DynamoDB statement, not {other:?}"),
            };
            if !on_table {
                // The index: queries only.
                assert_eq!(strings(&s["Action"]), ["dynamodb:Query"], "{name}");
                continue;
            }
            let layouts =
                strings(&s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]);
            assert!(
                !layouts.is_empty(),
                "{name}: table access without LeadingKeys"
            );
            for layout in &layouts {
                let fixed = layout.chars().all(|c| c.is_ascii_uppercase() || c == '_');
                let prefix = layout.strip_suffix("#*").is_some_and(|p| {
                    !p.is_empty() && p.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                });
                assert!(fixed || prefix, "{name}: {layout} is not a key layout");
            }
            narrowed += 1;
        }
    }
    assert!(narrowed >= 18, "{narrowed} narrowed statements");
}
