//! Each function's ports, as its Cargo.toml declares them.
//!
//! A function enables on `adapters-aws` the AWS services it reaches (`dynamodb`,
//! `s3`, `sqs`, `ses`); its Lambda build links only those SDK clients, and
//! any other port answers 503. The local server serves every function from
//! one process with everything linked, so it gives each function a view of
//! the state with only its declared ports ([`edge::wiring::PortSet`]): a
//! function whose features fall short of what it uses fails the black-box
//! suites here, on both backends, instead of in production.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use edge::wiring::PortSet;
use shared::AppState;

/// The ports `function` declares (read from `functions/{function}/Cargo.toml`
/// once per process). A function that cannot be read gets no ports, so the
/// mistake shows as failures rather than as silently granted access.
pub fn declared(function: &str) -> PortSet {
    static DECLARED: OnceLock<HashMap<String, PortSet>> = OnceLock::new();
    let all = DECLARED.get_or_init(|| {
        let mut all = HashMap::new();
        for (name, manifest) in manifests() {
            match read(&manifest) {
                Ok(ports) => {
                    all.insert(name, ports);
                }
                Err(e) => tracing::error!(function = name, error = %e, "ports not declared"),
            }
        }
        all
    });
    all.get(function).copied().unwrap_or_default()
}

/// Every function crate's name and manifest (`functions/*/Cargo.toml`).
fn manifests() -> Vec<(String, std::path::PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path().join("Cargo.toml"))
        .filter(|m| m.is_file())
        .filter_map(|m| {
            let name = m.parent()?.file_name()?.to_str()?.to_owned();
            Some((name, m))
        })
        .collect()
}

/// The state `function` runs on: `state` with only its declared ports.
/// Built once per served state and function, not per request: a view is a
/// copy of the state (and, without the store, its repositories built anew).
pub fn view(state: &Arc<AppState>, function: &str) -> Arc<AppState> {
    type Views = HashMap<(usize, String), (Weak<AppState>, Arc<AppState>)>;
    static VIEWS: OnceLock<Mutex<Views>> = OnceLock::new();
    let key = (Arc::as_ptr(state) as usize, function.to_owned());
    let mut views = VIEWS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((of, view)) = views.get(&key)
        && of.upgrade().is_some_and(|s| Arc::ptr_eq(&s, state))
    {
        return view.clone();
    }
    // Views of states no longer served go (their address may be reused).
    views.retain(|_, (of, _)| of.strong_count() > 0);
    let view = edge::wiring::only(state, declared(function));
    views.insert(key, (Arc::downgrade(state), view.clone()));
    view
}

/// Runs `fut` as `function`: the AWS calls it makes are recorded as that
/// function's (`AWS_CALL_LOG`, the IAM test), as its own process's are in
/// binary mode.
pub async fn run_as<F: std::future::Future>(function: &'static str, fut: F) -> F::Output {
    adapters_aws::call_log::scope(function, fut).await
}

/// The ports named by a manifest's `adapters-aws` dependency features.
pub fn read(manifest: &Path) -> Result<PortSet, String> {
    let text =
        std::fs::read_to_string(manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", manifest.display()))
}

fn parse(manifest: &str) -> Result<PortSet, String> {
    let doc: toml::Table = toml::from_str(manifest).map_err(|e| e.to_string())?;
    // The edge's features (the embedded adapters, test code) are the local
    // server's and the benchmarks', never a function's.
    if let Some(features) = doc
        .get("dependencies")
        .and_then(|d| d.get("edge"))
        .and_then(|e| e.get("features"))
    {
        return Err(format!(
            "a function enables `edge` features {features:?}: they would put SQLite or test code into its Lambda"
        ));
    }
    let features = doc
        .get("dependencies")
        .and_then(|d| d.get("adapters-aws"))
        .and_then(|s| s.get("features"));
    let Some(features) = features else {
        return Ok(PortSet::default());
    };
    let names = features
        .as_array()
        .ok_or("`features` is not a list")?
        .iter()
        .map(|v| v.as_str().ok_or("a feature is not a string"))
        .collect::<Result<Vec<_>, _>>()?;
    PortSet::from_features(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_name_ports() {
        let set = parse(
            "[dependencies]\nadapters-aws = { workspace = true, features = [\"dynamodb\", \"sqs\"] }\n",
        )
        .unwrap();
        assert_eq!(
            set,
            PortSet {
                store: true,
                queue: true,
                ..PortSet::default()
            }
        );
        assert_eq!(
            parse("[dependencies]\nshared.workspace = true\n").unwrap(),
            PortSet::default()
        );
        assert_eq!(
            parse("[dependencies]\nlambda_http = \"1\"\n").unwrap(),
            PortSet::default()
        );
        assert!(
            parse("[dependencies]\nadapters-aws = { workspace = true, features = [\"dev\"] }\n")
                .is_err()
        );
        assert!(
            parse("[dependencies]\nedge = { workspace = true, features = [\"embedded\"] }\n")
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_view_is_built_once_per_state_and_function() {
        let dir = tempfile::tempdir().unwrap();
        let state = edge::wiring::build(shared::Config::embedded(dir.path()))
            .await
            .unwrap();
        let first = view(&state, "refresh");
        assert!(Arc::ptr_eq(&first, &view(&state, "refresh")));
        assert!(!Arc::ptr_eq(&first, &view(&state, "jwks")));
        assert!(!Arc::ptr_eq(&first, &state), "refresh has no queue");
        let other = edge::wiring::build(shared::Config::embedded(dir.path()))
            .await
            .unwrap();
        assert!(!Arc::ptr_eq(&first, &view(&other, "refresh")));
    }

    #[test]
    fn every_function_declares_its_ports() {
        // Spot checks of the declarations the suites rely on; the suites
        // themselves prove the rest.
        assert_eq!(declared("jwks"), PortSet::default());
        assert_eq!(
            declared("user-events"),
            PortSet {
                store: true,
                blobs: true,
                mailer: true,
                ..PortSet::default()
            }
        );
        assert!(declared("refresh").store && !declared("refresh").queue);
        assert!(declared("login").queue, "it mails sign-in links");
        let all = manifests();
        assert!(all.len() >= 21, "functions/ has {} crates", all.len());
        for (name, manifest) in all {
            read(&manifest).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
