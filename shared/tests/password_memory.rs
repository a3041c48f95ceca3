//! A process that hashes passwords does not grow with every hash: argon2's
//! 19 MiB working sets are reused, at most two are kept idle, and the rest
//! go back to the OS (see `shared::password`). Its own test binary, so no
//! other test's memory is counted.

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_does_not_grow_the_process() {
    let hash = || shared::password::hash("vivid tundra lantern 47".into());
    hash().await.unwrap();
    let before = rss_kib();
    // Signups as a busy function sees them: some at once, many in a row.
    for _ in 0..8 {
        let (a, b, c) = tokio::join!(hash(), hash(), hash());
        a.unwrap();
        b.unwrap();
        c.unwrap();
    }
    // Three at once need three sets: the first hash's, and two more, of
    // which one is kept idle afterwards and one freed.
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 30,
        "the process grew by {grown_mib} MiB over 24 hashes (one working set is 19 MiB)"
    );
    assert_eq!(shared::password::working_sets(), (2, 2));
}
