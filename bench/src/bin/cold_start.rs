//! Cold starts, measured against the local server's Lambda Runtime API
//! emulator (`local::lambda::Runner`, the binary mode's), on loopback.
//!
//! For each function's release binary (and a hello-world `lambda_runtime`
//! binary built with the same profile), N times: spawn it with the
//! environment the binary mode gives it (`local::lambda::function_env`),
//! hand it its sample event from `events/`, and measure spawn → first `next`
//! poll (init) and spawn → first response (first invocation), and the
//! process's peak RSS.
//!
//! `BENCH_BEFORE=DIR` also runs the binaries in `DIR` (another build's
//! `target/release`, with the hello-world binaries) and, with
//! `BENCH_INTERLEAVE=1`, alternates the two builds run by run: a before and
//! after comparison in one run, printed and not written to BENCHMARKS.md.
//!
//! `cargo build --release -p bench --bins && cargo run --release -p bench --bin cold-start`
//! (`BENCH_RUNS=20` by default; `BENCH_ONLY=signup,login` measures those
//! and the baselines only, for a look at one function without the others
//! around it; `BENCH_SETTLE_MS=200` pauses before each spawn, to tell a
//! function's own start-up from after-effects of the process before it;
//! `BENCH_INTERLEAVE=1` makes one run of every binary per round instead of
//! each binary's runs back to back, so each process follows a different one;
//! `BENCH_THRASH_MIB=19` streams that many MiB through the caches before
//! each spawn, as a password function's ten warm hashes do, to test whether
//! those after-effects are cold caches. BENCHMARKS.md is rewritten only by
//! a whole run.)

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use local::lambda::Runner;

/// What the kernel accounted to a process's threads so far
/// (`/proc/PID/task/*/schedstat`, `/proc/PID/stat`).
#[derive(Clone, Copy, Default)]
struct TaskTimes {
    /// Time on a CPU.
    on_cpu: Duration,
    /// Time runnable but waiting for a CPU.
    runnable: Duration,
    /// Minor page faults.
    minflt: u64,
    /// What the process had touched, by mapping (profiling runs only).
    pages: Option<Pages>,
}

/// Pages a process has touched, from `/proc/PID/smaps`, in KiB.
#[derive(Clone, Copy, Default)]
struct Pages {
    /// The binary's writable segments written to (COW): what the loader's
    /// relocations and static initialisers dirtied.
    binary_written: u64,
    /// The binary's code mapped (resident in its executable mapping).
    binary_code: u64,
    /// The binary's read-only data mapped (`.rodata`, `.rela.dyn`, `.eh_frame`, …).
    binary_rodata: u64,
    /// The malloc heap written to.
    heap: u64,
    /// Other anonymous memory written to: thread stacks, large allocations.
    anon: u64,
    /// Shared libraries' pages mapped (glibc, libm, libgcc_s, the loader).
    libraries: u64,
}

fn pages(pid: u32, binary: &str) -> Option<Pages> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let mut pages = Pages::default();
    let (mut perms, mut path) = (String::new(), String::new());
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            perms = fields.next().unwrap_or("").to_owned();
            path = fields.nth(3).unwrap_or("").to_owned();
            continue;
        }
        let kib: u64 = match fields.next().and_then(|v| v.parse().ok()) {
            Some(v) => v,
            None => continue,
        };
        let ours = path.ends_with(&format!("/{binary}"));
        let slot = match (first, ours, perms.as_str(), path.as_str()) {
            // Clean pages are mapped from the file; dirty ones were written
            // (the relocated RELRO segment is read-only again by then).
            ("Shared_Clean:" | "Private_Clean:", true, p, _) if p.contains('x') => {
                &mut pages.binary_code
            }
            ("Shared_Clean:" | "Private_Clean:", true, _, _) => &mut pages.binary_rodata,
            ("Private_Dirty:", true, _, _) => &mut pages.binary_written,
            ("Private_Dirty:", false, _, "[heap]") => &mut pages.heap,
            ("Private_Dirty:", false, p, "") if p.contains('w') => &mut pages.anon,
            ("Private_Dirty:", false, p, "[stack]") if p.contains('w') => &mut pages.anon,
            ("Rss:", false, _, p) if p.starts_with('/') => &mut pages.libraries,
            _ => continue,
        };
        *slot += kib;
    }
    Some(pages)
}

fn task_times(pid: u32) -> Option<TaskTimes> {
    let mut times = TaskTimes::default();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let schedstat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        let mut fields = schedstat.split_whitespace().map(|f| f.parse::<u64>().ok());
        times.on_cpu += Duration::from_nanos(fields.next()??);
        times.runnable += Duration::from_nanos(fields.next()??);
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command's closing parenthesis; minflt is the 10th of the line.
    let after = &stat[stat.rfind(')')? + 2..];
    times.minflt = after.split_whitespace().nth(7)?.parse().ok()?;
    Some(times)
}

/// What the runner's first-poll hook saw of the newest process: the
/// kernel's accounting at the end of its init, and (for profiling runs, the
/// binary's name set) what it had touched, which delays its first
/// invocation.
#[derive(Default)]
struct Probe {
    at_init: Mutex<Option<TaskTimes>>,
    profile: Mutex<Option<String>>,
}

/// A runner over the binaries in `dir`, each process probed at its first poll.
fn runner(dir: PathBuf, env: Vec<(String, String)>, probe: &Arc<Probe>) -> Runner {
    let probe = probe.clone();
    Runner::new(dir, env, true).on_first_poll(Arc::new(move |pid| {
        let mut times = task_times(pid);
        if let (Some(t), Some(binary)) = (&mut times, &*probe.profile.lock().unwrap()) {
            t.pages = pages(pid, binary);
        }
        *probe.at_init.lock().unwrap() = times;
    }))
}

struct Sample {
    init: Duration,
    first: Duration,
    /// The invocations after the first, each from hand-out to answer.
    warm: Vec<Duration>,
    rss_kib: u64,
    at_init: Option<TaskTimes>,
}

/// Writes and reads `mib` MiB a few times, evicting what the caches held.
fn thrash_caches(mib: usize) {
    let mut buffer = vec![0u64; mib * 1024 * 1024 / 8];
    for pass in 0..4u64 {
        for (i, word) in buffer.iter_mut().enumerate() {
            *word = word.wrapping_add(i as u64 ^ pass);
        }
    }
    std::hint::black_box(buffer.iter().fold(0u64, |a, w| a ^ w));
}

/// One process of `name`: spawned by its first event, given the rest warm,
/// then stopped (and waited for, so the next spawn does not overlap its exit).
async fn run_once(
    runner: &Runner,
    probe: &Probe,
    name: &str,
    events: Vec<String>,
) -> Result<Sample, String> {
    if let Some(ms) = std::env::var("BENCH_SETTLE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(mib) = std::env::var("BENCH_THRASH_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        thrash_caches(mib);
    }
    *probe.at_init.lock().unwrap() = None;
    runner.stop(name).await;
    let mut reports = Vec::new();
    for event in events {
        let answer = runner.invoke_reported(name, event).await;
        match answer {
            Ok((_, report)) => reports.push(report),
            Err(e) => {
                runner.stop(name).await;
                return Err(format!("{name}: {e}"));
            }
        }
    }
    runner.stop(name).await;
    let first = reports.first().ok_or("no invocation")?;
    let init = first
        .init
        .ok_or_else(|| format!("{name}: the first invocation found a warm process"))?;
    Ok(Sample {
        init,
        first: init + first.duration,
        warm: reports.iter().skip(1).map(|r| r.duration).collect(),
        rss_kib: reports.iter().map(|r| r.max_memory_kib).max().unwrap_or(0),
        at_init: *probe.at_init.lock().unwrap(),
    })
}

/// Invocations after the first that signup and login serve in the same
/// process: their p50 is the warm figure the first invocation is held to.
const WARM: usize = 10;

/// The events process `run` of `name` is given: its sample alone, or for
/// signup and login the sample then [`WARM`] more. Each signup is a new
/// account from its own address (the per-address signup limit stays out of
/// the way). The logins of a process all come from one address, as one
/// client's would, into an account of that run's own (`cold-login-{run}`,
/// signed up beforehand): after its first success the client is known to
/// the account, so the per-account limit on strangers never answers 429.
fn process_events(name: &str, sample: &serde_json::Value, run: usize) -> Vec<String> {
    if name != "signup" && name != "login" {
        return vec![sample.to_string()];
    }
    (0..=WARM)
        .map(|i| {
            let mut event = sample.clone();
            let ip = match name {
                "signup" => format!("10.{}.{}.{}", run / 250, run % 250, i + 1),
                _ => format!("10.{}.{}.200", run / 250, run % 250),
            };
            event["requestContext"]["http"]["sourceIp"] = ip.clone().into();
            event["headers"]["x-forwarded-for"] = ip.into();
            let body = if name == "signup" {
                serde_json::json!({"email": format!("cold-{run}-{i}@example.com"), "password": "vivid tundra lantern 47",
                    "name": "Cold", "surname": "Start", "username": format!("cold{run}x{i}")})
            } else {
                serde_json::json!({"email": format!("cold-login-{run}@example.com"), "password": "vivid tundra lantern 47"})
            };
            event["body"] = body.to_string().into();
            event.to_string()
        })
        .collect()
}

fn median_p90(mut v: Vec<Duration>) -> (Duration, Duration) {
    bench::stats(&mut v)
}

#[tokio::main]
async fn main() {
    let only: Option<Vec<String>> = std::env::var("BENCH_ONLY")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let release = std::env::var_os("BENCH_BINARIES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release"));
    let before = std::env::var_os("BENCH_BEFORE").map(PathBuf::from);
    let probe = Arc::new(Probe::default());

    // (binary, sample event)
    let functions = [
        ("hello_lambda", "outbox-relay.json"),
        ("signup", "signup.json"),
        ("login", "login.json"),
        ("validate-token", "validate-token.json"),
        ("authorizer", "authorizer.json"),
        ("jwks", "jwks.json"),
        ("health", "health.json"),
        ("auth-me", "auth-me.json"),
        ("refresh", "refresh.json"),
        ("sessions", "sessions.json"),
        ("users-me", "users-me.json"),
        ("admin", "admin.json"),
        ("tasks-crud", "tasks-crud.json"),
        ("pdf-generate", "pdf-generate.json"),
        ("books", "books.json"),
        ("orders", "orders.json"),
        ("user-events", "user-events.json"),
        ("outbox-relay", "outbox-relay.json"),
    ];
    let mut sections = Vec::new();
    let mut all_figures = serde_json::Map::new();
    let data = tempfile::tempdir().unwrap();
    let mut backends = vec![("embedded store", shared::Config::embedded(data.path()))];
    match edge::testing::moto_endpoint() {
        Some(_) => backends.push((
            "DynamoDB, S3, SQS on moto",
            edge::testing::config(edge::testing::TestBackend::Aws, data.path()).await,
        )),
        None => eprintln!("MOTO_ENDPOINT not set: cold starts on moto skipped"),
    }
    for (label, mut config) in backends.clone() {
        if config.jwt_private_key_pem.is_none() {
            config.jwt_private_key_pem = Some(shared::tokens::generate_private_key_pem());
        }
        // On the AWS adapters, a second baseline: hello-world plus the SDK
        // configuration built as ours is, and one DynamoDB client.
        let mut list: Vec<_> = functions
            .iter()
            .copied()
            .filter(|(name, _)| {
                only.as_ref()
                    .is_none_or(|o| *name == "hello_lambda" || o.contains(&name.to_string()))
            })
            .collect();
        if matches!(config.backend, shared::config::Backend::Aws) {
            list.insert(1, ("hello_dynamodb", "outbox-relay.json"));
        }
        let dirs = Dirs {
            root: &root,
            release: &release,
            before: before.as_deref(),
        };
        let (rows, figures, breakdown) = backend_runs(&probe, &dirs, &list, &config, runs).await;
        if label == "embedded store" {
            all_figures = figures;
        }
        sections.push(format!(
            "### {label}\n\n\
             | binary | init p50 | init p90 | first p50 | first p90 | warm p50 | init / hello | init / hello+DynamoDB | peak RSS | size (x86_64) | targets |\n\
             |---|---|---|---|---|---|---|---|---|---|---|\n{rows}"
        ));
        sections.extend(breakdown);
    }
    if only.is_some() || before.is_some() {
        println!("{}", sections.join("\n"));
        return;
    }
    let aws_config = backends
        .iter()
        .find(|(_, c)| matches!(c.backend, shared::config::Backend::Aws))
        .map(|(_, c)| c.clone());
    let profile = init_profile(data.path(), aws_config).await;
    sections.push(profile);
    std::fs::write(
        bench::results_dir().join("cold.json"),
        serde_json::Value::Object(all_figures).to_string(),
    )
    .unwrap();
    let section = format!(
        "## Cold start\n\n\
         `cargo build --release --workspace --bins && cargo run --release -p bench --bin cold-start` — {}; {runs} runs per binary \
         (after one warm-up run) against a Lambda Runtime API emulator on loopback, each process spawned fresh and given its sample event from `events/` \
         (protected samples carry the authorizer context of a user signed up beforehand, the orders sample's book is in the catalog, and the PDF record is removed before each pdf-generate run so every run draws). \
         The moto runs need `MOTO_ENDPOINT` (bench/run.sh starts moto).\n\n\
         Init = spawn → first `next` poll; first = spawn → first response; warm = hand-out → answer of the {WARM} invocations signup and login serve after the first in the same process (each a new account or a successful login, from its own address). \
         Targets: init ≤ 1.5× hello-world on the embedded store, ≤ 1.5× hello-world + aws-config + one DynamoDB client (`hello_dynamodb`) on moto; first ≤ warm p50 + 10 ms; peak RSS ≤ 32 MB (≤ 96 MB for pdf-generate).\n\n{}",
        bench::machine(),
        sections.join("\n")
    );
    bench::write_section("cold-start", &section).unwrap();
}

/// Where the binaries are: this build's, another build's to compare with
/// (`BENCH_BEFORE`), and the workspace (for `events/`).
struct Dirs<'a> {
    root: &'a std::path::Path,
    release: &'a std::path::Path,
    before: Option<&'a std::path::Path>,
}

/// One binary of one build, as the runs and the tables name it.
struct Prepared<'a> {
    /// The row's name: the binary's, with " (before)" for the other build.
    label: String,
    name: &'a str,
    /// Index into the runners: this build's, or the other build's.
    runner: usize,
    binary: PathBuf,
    event: serde_json::Value,
}

/// Every binary's cold starts on one backend: the table rows and the figures.
async fn backend_runs(
    probe: &Arc<Probe>,
    dirs: &Dirs<'_>,
    functions: &[(&str, &str)],
    config: &shared::Config,
    runs: usize,
) -> (
    String,
    serde_json::Map<String, serde_json::Value>,
    Option<String>,
) {
    // A user for the protected samples (the sample ids are nobody's).
    let state = edge::wiring::build(config.clone()).await.unwrap();
    // What a deployed function gets (the binary mode's), quiet.
    let mut env = local::lambda::function_env(config, &state).unwrap();
    env.push(("RUST_LOG".into(), "warn".into()));
    let mut runners = vec![runner(dirs.release.to_owned(), env.clone(), probe)];
    if let Some(before) = dirs.before {
        runners.push(runner(before.to_owned(), env.clone(), probe));
    }
    let signup = bench::post_event(
        "/auth/signup",
        &serde_json::json!({"email": "cold@example.com", "password": "vivid tundra lantern 47", "name": "Cold", "surname": "Start"}),
        "10.0.0.1",
    );
    let user = bench::body_json(&signup::handle(state.clone(), signup).await);
    let user_id = user["id"].as_str().expect("a user").to_owned();
    // An account per login process (see `process_events`).
    for run in 0..=runs {
        let signup = bench::post_event(
            "/auth/signup",
            &serde_json::json!({"email": format!("cold-login-{run}@example.com"), "password": "vivid tundra lantern 47"}),
            &format!("10.250.{}.{}", run / 250, run % 250),
        );
        let answer = signup::handle(state.clone(), signup).await;
        assert_eq!(answer.status(), 201, "signing up the login accounts");
    }
    // The book the orders sample buys, with stock for every run.
    let mut book = shared::domain::Book::new(
        shared::domain::BookTitle::parse("Sample").unwrap(),
        shared::domain::Author::parse("Someone").unwrap(),
        None,
        1200,
        1_000,
    );
    book.id = "01936f3e-7a10-7c3b-9a51-0c0ffeeb0001".into();
    state.shop.create_book(&book).await.unwrap();

    let mut rows = String::new();
    let mut figures = serde_json::Map::new();
    let mut hello_init = Duration::ZERO;
    let mut sdk_init: Option<Duration> = None;
    // Each binary with its sample event (and the other build's, after it).
    let mut prepared: Vec<Prepared> = Vec::new();
    for &(name, event_file) in functions {
        let mut event: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dirs.root.join("events").join(event_file)).unwrap(),
        )
        .unwrap();
        if event["requestContext"]["authorizer"]["lambda"].is_object() {
            event["requestContext"]["authorizer"]["lambda"]["user_id"] = user_id.clone().into();
        }
        let builds = std::iter::once((name.to_owned(), dirs.release))
            .chain(dirs.before.map(|d| (format!("{name} (before)"), d)));
        for (runner, (label, dir)) in builds.enumerate() {
            let binary = dir.join(name);
            if !binary.exists() {
                eprintln!(
                    "skipping {label}: build it with `cargo build --release --workspace --bins`"
                );
                continue;
            }
            prepared.push(Prepared {
                label,
                name,
                runner,
                binary,
                event: event.clone(),
            });
        }
    }
    // Run `i` of binary `b`, in the order the runs are made: each binary's
    // runs one after another, or with `BENCH_INTERLEAVE=1` one run of every
    // binary per round, so that each process follows a different one.
    let interleave = std::env::var("BENCH_INTERLEAVE").is_ok_and(|v| v == "1");
    let order: Vec<(usize, usize)> = if interleave {
        (0..=runs)
            .flat_map(|i| (0..prepared.len()).map(move |b| (b, i)))
            .collect()
    } else {
        (0..prepared.len())
            .flat_map(|b| (0..=runs).map(move |i| (b, i)))
            .collect()
    };
    let mut all_samples: Vec<Vec<Sample>> = prepared.iter().map(|_| Vec::new()).collect();
    for (b, i) in order {
        let p = &prepared[b];
        let events = process_events(p.name, &p.event, i);
        if p.name == "pdf-generate" {
            state.pdfs.delete_for_user(&user_id).await.unwrap();
        }
        match run_once(&runners[p.runner], probe, p.name, events).await {
            Ok(s) if i > 0 => all_samples[b].push(s),
            Ok(_) => {} // the first run warms the page cache
            Err(e) => panic!("{e}"),
        }
    }
    for (p, samples) in prepared.iter().zip(&all_samples) {
        let (name, binary) = (p.label.as_str(), &p.binary);
        let (init50, init90) = median_p90(samples.iter().map(|s| s.init).collect());
        let (first50, first90) = median_p90(samples.iter().map(|s| s.first).collect());
        let warm = samples
            .iter()
            .flat_map(|s| s.warm.iter().copied())
            .collect::<Vec<_>>();
        let warm50 = (!warm.is_empty()).then(|| median_p90(warm).0);
        let rss = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0) as f64 / 1024.0;
        match name {
            "hello_lambda" => hello_init = init50,
            "hello_dynamodb" => sdk_init = Some(init50),
            _ => {}
        }
        let ratio = init50.as_secs_f64() / hello_init.as_secs_f64().max(1e-9);
        // On the AWS adapters the target is against the DynamoDB baseline.
        let baseline_ratio = sdk_init.map(|b| init50.as_secs_f64() / b.as_secs_f64().max(1e-9));
        let target_ratio = baseline_ratio.unwrap_or(ratio);
        // The first invocation (spawn to answer, init included) against the
        // warm ones in the same process.
        let first_ok = warm50.is_none_or(|w| first50 <= w + Duration::from_millis(10));
        let size = std::fs::metadata(binary)
            .map(|m| m.len() as f64 / 1_048_576.0)
            .unwrap_or(0.0);
        let target_rss = if name == "pdf-generate" { 96.0 } else { 32.0 };
        figures.insert(
            name.to_owned(),
            serde_json::json!({"init_ms": init50.as_secs_f64() * 1000.0, "first_ms": first50.as_secs_f64() * 1000.0,
                "warm_ms": warm50.map(|w| w.as_secs_f64() * 1000.0), "rss_mb": rss}),
        );
        let mut missed = Vec::new();
        if target_ratio > 1.5 {
            missed.push("init");
        }
        if !first_ok {
            missed.push("first");
        }
        if rss > target_rss {
            missed.push("RSS");
        }
        let verdict = if missed.is_empty() {
            "met".to_owned()
        } else {
            format!("MISSED ({})", missed.join(", "))
        };
        let baseline = baseline_ratio.map_or("—".to_owned(), |r| format!("{r:.2}×"));
        let warm = warm50.map_or("—".to_owned(), bench::ms);
        rows.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {warm} | {ratio:.2}× | {baseline} | {rss:.1} MB | {size:.1} MB | {verdict} |\n",
            bench::ms(init50), bench::ms(init90), bench::ms(first50), bench::ms(first90)
        ));
        println!("{name}: init {init50:?} (x{ratio:.2}), first {first50:?}, rss {rss:.1} MB");
    }
    let breakdown =
        if matches!(config.backend, shared::config::Backend::Embedded) && dirs.before.is_none() {
            Some(init_breakdown(&runners[0], probe, &prepared, &all_samples, runs).await)
        } else {
            None
        };
    (rows, figures, breakdown)
}

fn p50(v: impl Iterator<Item = Duration>) -> Duration {
    median_p90(v.collect()).0
}

/// Where each process's init goes, from the kernel's side, and how much of
/// it depends on the process that ran just before.
///
/// The first table takes the kernel's accounting at the first poll of the
/// runs above (time on a CPU, time runnable but waiting, minor faults) and,
/// from three more runs per binary, what the process had touched by then
/// (`/proc/PID/smaps`; reading it delays the first invocation, so those runs
/// are not in the tables above). The second measures hello-world and health
/// right after a signup process and right after one of their own kind.
async fn init_breakdown(
    runner: &Runner,
    probe: &Probe,
    prepared: &[Prepared<'_>],
    samples: &[Vec<Sample>],
    runs: usize,
) -> String {
    let kib = |v: u64| format!("{}", v / 4);
    let mut rows = String::new();
    for (p, samples) in prepared.iter().zip(samples) {
        let (name, event) = (&p.name, &p.event);
        let times: Vec<(Duration, TaskTimes)> = samples
            .iter()
            .filter_map(|s| s.at_init.map(|t| (s.init, t)))
            .collect();
        if times.is_empty() {
            continue;
        }
        let mut faults: Vec<u64> = times.iter().map(|(_, t)| t.minflt).collect();
        faults.sort_unstable();
        *probe.profile.lock().unwrap() = Some((*name).to_owned());
        let mut touched = Vec::new();
        for k in 1..=3 {
            // Fresh signup addresses; logins reuse the first runs' accounts.
            let run = if *name == "signup" { 2000 + k } else { k };
            match run_once(runner, probe, name, process_events(name, event, run)).await {
                Ok(s) => touched.extend(s.at_init.and_then(|t| t.pages)),
                Err(e) => panic!("{e}"),
            }
        }
        *probe.profile.lock().unwrap() = None;
        // The run with the median number of pages written.
        touched.sort_by_key(|p| p.binary_written + p.heap + p.anon);
        let Some(pages) = touched.get(touched.len() / 2) else {
            continue;
        };
        rows.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            bench::ms(p50(times.iter().map(|(i, _)| *i))),
            bench::ms(p50(times.iter().map(|(_, t)| t.on_cpu))),
            bench::ms(p50(times.iter().map(|(_, t)| t.runnable))),
            faults[faults.len() / 2],
            kib(pages.binary_written),
            kib(pages.heap),
            kib(pages.anon),
            kib(pages.binary_code),
            kib(pages.binary_rodata),
            kib(pages.libraries),
        ));
    }

    // The same binary after a heavy process and after one of its kind.
    let find = |n: &str| prepared.iter().find(|p| p.name == n);
    let mut after = String::new();
    if let Some(signup) = find("signup") {
        for name in ["hello_lambda", "health"] {
            let Some(p) = find(name) else {
                continue;
            };
            let (mut after_signup, mut after_own) = (Vec::new(), Vec::new());
            for r in 1..=runs {
                let heavy = process_events("signup", &signup.event, 3000 + r);
                run_once(runner, probe, "signup", heavy).await.unwrap();
                for into in [&mut after_signup, &mut after_own] {
                    let s = run_once(runner, probe, name, vec![p.event.to_string()])
                        .await
                        .unwrap();
                    into.push(s.init);
                }
            }
            let (a, o) = (p50(after_signup.into_iter()), p50(after_own.into_iter()));
            after.push_str(&format!(
                "| {name} | {} | {} | {:.2}× |\n",
                bench::ms(o),
                bench::ms(a),
                a.as_secs_f64() / o.as_secs_f64().max(1e-9)
            ));
        }
    }
    format!(
        "### Where each process's init goes (embedded store)\n\n\
         The kernel's accounting of each process at its first poll, from the runs above (p50): time on a CPU (all its threads), \
         time runnable but waiting for one, and minor page faults; then what it had touched by then, from `/proc/PID/smaps` in three \
         more runs per binary (the middle one), in 4 KiB pages: written (each page written is one fault) and mapped from files \
         (the kernel maps up to 16 neighbouring file pages per fault).\n\n\
         | binary | init | on CPU | runnable | minor faults | written: binary's relocated data | written: heap | written: other anonymous | mapped: binary's code | mapped: binary's read-only data | mapped: shared libraries |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n{rows}\n\
         The same binaries' init right after a signup process (eleven argon2 hashes, 37 MB peak, then killed) and right after one of their own kind, \
         alternating, {runs} rounds (p50):\n\n\
         | binary | after its own kind | right after a signup process | ratio |\n|---|---|---|---|\n{after}"
    )
}

/// Where init time goes: each step of building the state, timed in-process
/// (median of 50, on the data folder the runs above used, so files exist as
/// they do in a warm container's /tmp).
async fn init_profile(data: &std::path::Path, aws_config: Option<shared::Config>) -> String {
    use adapters_embedded::{self as embedded, SqliteQueue, SqliteStore};
    let mut config = shared::Config::embedded(data);
    config.jwt_private_key_pem = Some(shared::tokens::generate_private_key_pem());
    let mut steps: Vec<(&str, Vec<Duration>)> = vec![
        ("parse the Ed25519 key, derive the JWKS", Vec::new()),
        (
            "open the SQLite item store (WAL pragmas, schema check)",
            Vec::new(),
        ),
        ("open the SQLite queue", Vec::new()),
        ("read the blob-URL secret", Vec::new()),
        ("the whole edge::wiring::build (embedded)", Vec::new()),
        (
            "edge::wiring::for_function (embedded: keys now, adapters on first use)",
            Vec::new(),
        ),
    ];
    for _ in 0..50 {
        let t = Instant::now();
        shared::tokens::TokenKeys::from_config(&config).unwrap();
        steps[0].1.push(t.elapsed());
        let t = Instant::now();
        drop(SqliteStore::open(&data.join("store.sqlite3")).unwrap());
        steps[1].1.push(t.elapsed());
        let t = Instant::now();
        drop(SqliteQueue::open(&data.join("queue.sqlite3"), 5).unwrap());
        steps[2].1.push(t.elapsed());
        let t = Instant::now();
        embedded::load_or_create_secret(&data.join("keys").join("blob-url.key"), 32).unwrap();
        steps[3].1.push(t.elapsed());
        let t = Instant::now();
        drop(edge::wiring::build(config.clone()).await.unwrap());
        steps[4].1.push(t.elapsed());
        let t = Instant::now();
        drop(edge::wiring::for_function(config.clone()).await.unwrap());
        steps[5].1.push(t.elapsed());
    }
    if let Some(mut aws_config) = aws_config {
        aws_config.jwt_private_key_pem = config.jwt_private_key_pem.clone();
        let (mut sdk, mut build, mut lazy) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..50 {
            let t = Instant::now();
            drop(
                edge::wiring::for_function(aws_config.clone())
                    .await
                    .unwrap(),
            );
            lazy.push(t.elapsed());
            let t = Instant::now();
            drop(adapters_aws::sdk_config(&aws_config).await);
            sdk.push(t.elapsed());
            let t = Instant::now();
            drop(edge::wiring::build(aws_config.clone()).await.unwrap());
            build.push(t.elapsed());
        }
        steps.push((
            "AWS: build the SDK config (credentials and region from the environment)",
            sdk,
        ));
        steps.push((
            "AWS: the whole edge::wiring::build (SDK config + four clients)",
            build,
        ));
        steps.push((
            "AWS: edge::wiring::for_function (keys now, SDK config and clients on first use)",
            lazy,
        ));
    }
    let mut rows = String::new();
    for (name, samples) in steps {
        let (p50, _) = median_p90(samples);
        rows.push_str(&format!("| {name} | {} |\n", bench::us(p50)));
    }
    format!(
        "### Where init goes\n\n\
         Each step of building the state, in-process, median of 50. The hello-world binary does none of these, \
         so they are the gap between its init and ours (the rest is the larger binary's page-ins and the runtime's own start).\n\n\
         | step | p50 |\n|---|---|\n{rows}"
    )
}
