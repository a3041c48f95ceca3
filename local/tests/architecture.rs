//! The allowed directions between the workspace's crates, and between the
//! layers inside `shared` (ARCHITECTURE.md draws them). Read from `cargo
//! metadata` and the sources, so a new dependency that climbs fails here
//! rather than in a review.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .into()
}

/// A workspace crate's layer, from where its manifest lives: the core
/// (`shared/`) at the bottom, the crates beside it (`shared/*/`: the
/// adapters and the image pipeline) above it, the edge (`shared/edge/`,
/// which wires adapters to ports and speaks Lambda and HTTP) above those,
/// the functions above the edge, and the tools that run everything
/// (`local`, `bench`) on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Core,
    BesideCore,
    Edge,
    Function,
    Tool,
}

fn layer(manifest: &Path) -> Layer {
    let dir = manifest.parent().unwrap().strip_prefix(root()).unwrap();
    let parts: Vec<_> = dir.iter().map(|p| p.to_str().unwrap()).collect();
    match parts.as_slice() {
        ["shared"] => Layer::Core,
        ["shared", "edge"] => Layer::Edge,
        ["shared", _] => Layer::BesideCore,
        ["functions", _] => Layer::Function,
        ["local"] | ["bench"] => Layer::Tool,
        other => panic!(
            "a crate outside the known places: {other:?} (add it to ARCHITECTURE.md and here)"
        ),
    }
}

/// The crates beside the core that may use each other: (user, used).
const SIDEWAYS: &[(&str, &str)] = &[];

/// A dependency between two workspace crates: (from, to, kind).
type Edge = (String, String, String);

/// The workspace's packages as `cargo metadata` reads them.
fn metadata() -> Value {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every workspace crate's layer, and every dependency edge between them.
fn edges() -> (BTreeMap<String, Layer>, Vec<Edge>) {
    let meta = metadata();
    let packages = meta["packages"].as_array().unwrap();
    let layers: BTreeMap<String, Layer> = packages
        .iter()
        .map(|p| {
            let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap());
            (p["name"].as_str().unwrap().to_owned(), layer(&manifest))
        })
        .collect();
    let mut edges = Vec::new();
    for p in packages {
        for d in p["dependencies"].as_array().unwrap() {
            let to = d["name"].as_str().unwrap();
            if layers.contains_key(to) {
                let kind = d["kind"].as_str().unwrap_or("normal").to_owned();
                edges.push((p["name"].as_str().unwrap().to_owned(), to.to_owned(), kind));
            }
        }
    }
    (layers, edges)
}

/// Why `from → to` is not allowed, if it is not.
fn refusal(layers: &BTreeMap<String, Layer>, from: &str, to: &str, kind: &str) -> Option<String> {
    let (a, b) = (layers[from], layers[to]);
    if a == Layer::Tool {
        return None; // the local server and the benchmarks run everything
    }
    if b > a {
        return Some(format!(
            "{from} ({a:?}) depends on {to} ({b:?}), a layer above it ({kind})"
        ));
    }
    if a == b {
        let allowed = a == Layer::BesideCore && SIDEWAYS.contains(&(from, to));
        if !allowed {
            return Some(format!(
                "{from} depends on {to}, a crate of its own layer ({a:?}, {kind}): move what they share down"
            ));
        }
    }
    None
}

#[test]
fn crates_depend_only_downwards() {
    let (layers, edges) = edges();
    assert!(
        layers.len() > 20,
        "the workspace's crates were not all read: {layers:?}"
    );
    assert!(
        edges
            .iter()
            .any(|(f, t, _)| f == "media-process" && t == "image-pipeline"),
        "the edges were not read"
    );
    let refused: Vec<String> = edges
        .iter()
        .filter_map(|(from, to, kind)| refusal(&layers, from, to, kind))
        .collect();
    assert!(
        refused.is_empty(),
        "dependencies against the layers:\n{}",
        refused.join("\n")
    );
}

#[test]
fn the_rule_refuses_what_the_tree_once_had() {
    // The check above passes on today's tree; these are the edges it must
    // refuse (media-process → media-upload and refresh → login were real).
    let (layers, _) = edges();
    for (from, to) in [
        ("media-process", "media-upload"),
        ("refresh", "login"),
        ("shared", "image-pipeline"),
        ("image-pipeline", "login"),
        ("shared", "local"),
        ("shared", "edge"),
        ("shared", "adapters-aws"),
        ("adapters-aws", "edge"),
        ("adapters-embedded", "adapters-aws"),
        ("image-pipeline", "edge"),
    ] {
        assert!(
            refusal(&layers, from, to, "normal").is_some(),
            "{from} → {to} was allowed"
        );
    }
    for (from, to) in [
        ("media-process", "image-pipeline"),
        ("image-pipeline", "shared"),
        ("local", "login"),
        ("edge", "adapters-aws"),
        ("edge", "shared"),
        ("login", "edge"),
        ("login", "adapters-aws"),
    ] {
        assert_eq!(refusal(&layers, from, to, "normal"), None, "{from} → {to}");
    }
}

/// What the core may not link: the Lambda runtime and events, the AWS SDK,
/// SQLite and an HTTP client belong to the edge and the adapters beside it.
const NOT_IN_CORE: &[&str] = &[
    "lambda_http",
    "lambda_runtime",
    "aws_lambda_events",
    "aws-config",
    "aws-sdk-dynamodb",
    "aws-sdk-s3",
    "aws-sdk-sqs",
    "aws-sdk-sesv2",
    "aws-sdk-secretsmanager",
    "rusqlite",
    "tracing-subscriber",
    "hyper-util",
    "hyper-rustls",
    "rustls",
];

#[test]
fn the_core_links_no_lambda_sdk_or_sqlite() {
    let meta = metadata();
    let declared = |name: &str| -> Vec<String> {
        let package = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not in the workspace"));
        package["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let linked: Vec<String> = declared("shared")
        .into_iter()
        .filter(|d| NOT_IN_CORE.contains(&d.as_str()))
        .collect();
    assert!(linked.is_empty(), "the core links {linked:?}");
    // The reader sees them where they are.
    assert!(declared("edge").iter().any(|d| d == "lambda_http"));
    assert!(
        declared("adapters-embedded")
            .iter()
            .any(|d| d == "rusqlite")
    );
    assert!(
        declared("adapters-http")
            .iter()
            .any(|d| d == "hyper-rustls")
    );
}

/// Inside the core crate: the modules a lower module may not name. The
/// domain names nothing but itself; ports, key layouts and repositories
/// know no HTTP, no application state and no adapter.
const INSIDE_CORE: &[(&str, &[&str])] = &[
    (
        "domain",
        &[
            "error", "http", "state", "runtime", "adapters", "faults", "testing", "repo", "ports",
            "config", "keys",
        ],
    ),
    (
        "ports",
        &[
            "error", "http", "state", "runtime", "adapters", "faults", "testing", "repo",
        ],
    ),
    (
        "table_keys.rs",
        &[
            "error", "http", "state", "runtime", "adapters", "faults", "testing", "repo",
        ],
    ),
    (
        "blob_keys.rs",
        &[
            "error", "http", "state", "runtime", "adapters", "faults", "testing", "repo",
        ],
    ),
    (
        "repo",
        &[
            "error", "http", "state", "runtime", "adapters", "faults", "testing",
        ],
    ),
];

/// The core's services and their helpers take the repositories and ports
/// they use, never the whole application state (which only the edge hands
/// around): none of these names `state` or `AppState`.
const TAKE_WHAT_THEY_USE: &[&str] = &[
    "accounts.rs",
    "avatars.rs",
    "one_time.rs",
    "profile_pdf.rs",
    "outbox.rs",
    "posts",
    "rate_limit.rs",
    "events.rs",
    "tokens.rs",
    "password.rs",
    "repo",
];

#[test]
fn core_services_take_what_they_use() {
    let src = root().join("shared/src");
    let mut refused = Vec::new();
    for module in TAKE_WHAT_THEY_USE {
        let files = rust_files(&src.join(module));
        assert!(!files.is_empty(), "shared/src/{module} has no Rust files");
        for file in files {
            for (line, name) in crate_paths(&file) {
                if name == "state" || name == "AppState" {
                    refused.push(format!(
                        "{}:{line}: crate::{name}",
                        file.strip_prefix(root()).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        refused.is_empty(),
        "services that take the whole state:\n{}",
        refused.join("\n")
    );
}

/// `crate::x` names in the code (not the comments) of `path`.
fn crate_paths(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push((n + 1, name));
        }
    }
    found
}

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.into()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        files.extend(rust_files(&entry.unwrap().path()));
    }
    files.retain(|f| f.extension().is_some_and(|e| e == "rs"));
    files
}

#[test]
fn core_modules_import_only_downwards() {
    let src = root().join("shared/src");
    let mut refused = Vec::new();
    let mut seen = 0;
    for (module, forbidden) in INSIDE_CORE {
        let files = rust_files(&src.join(module));
        assert!(!files.is_empty(), "shared/src/{module} has no Rust files");
        for file in files {
            for (line, name) in crate_paths(&file) {
                seen += 1;
                if forbidden.contains(&name.as_str()) {
                    refused.push(format!(
                        "{}:{line}: crate::{name}",
                        file.strip_prefix(root()).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(seen > 20, "too few imports were read ({seen})");
    assert!(
        refused.is_empty(),
        "imports that climb:\n{}",
        refused.join("\n")
    );
}

#[test]
fn the_import_reader_sees_what_climbs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.rs");
    std::fs::write(
        &file,
        "use crate::http::ClientInfo; // crate::state\nfn f() { crate::domain::x(); }\n",
    )
    .unwrap();
    assert_eq!(
        crate_paths(&file),
        vec![(1, "http".into()), (2, "domain".into())]
    );
}
