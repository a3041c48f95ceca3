//! argon2's working set asks for transparent huge pages (see
//! `shared::password`): after a hash, the mapping that holds the set is
//! eligible for them and, where the kernel has them to give, uses them. Its
//! own test binary, so the only large mapping is the set.

/// The kernel's THP mode, e.g. `madvise` (the bracketed word in sysfs).
fn thp_mode() -> Option<String> {
    let modes = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok()?;
    let start = modes.find('[')? + 1;
    let end = modes[start..].find(']')? + start;
    Some(modes[start..end].to_string())
}

/// Each mapping of /proc/self/smaps of `min_kib` to `min_kib` + 2 MiB (a
/// set is its own mapping; glibc's 64 MiB arena reservations are larger),
/// as (size in KiB, THPeligible, AnonHugePages in KiB).
fn mappings_of_size(min_kib: u64) -> Vec<(u64, bool, u64)> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut out = Vec::new();
    let mut current: Option<(u64, bool, u64)> = None;
    let kib = |line: &str| -> u64 { line.split_whitespace().nth(1).unwrap().parse().unwrap() };
    for line in smaps.lines() {
        if line.starts_with("Size:") {
            if let Some(m) = current.take() {
                out.push(m);
            }
            current = Some((kib(line), false, 0));
        } else if let Some(m) = current.as_mut() {
            if line.starts_with("THPeligible:") {
                m.1 = line.ends_with('1');
            } else if line.starts_with("AnonHugePages:") {
                m.2 = kib(line);
            }
        }
    }
    out.extend(current);
    out.retain(|m| (min_kib..=min_kib + 2048).contains(&m.0));
    out
}

#[tokio::test]
async fn the_working_set_is_backed_by_huge_pages() {
    let Some(mode) = thp_mode().filter(|m| m != "never") else {
        eprintln!("transparent huge pages are off on this kernel: nothing to check");
        return;
    };
    shared::password::hash("vivid tundra lantern 47".into())
        .await
        .unwrap();
    let set_kib = u64::from(shared::password::MEMORY_KIB);
    let sets = mappings_of_size(set_kib);
    assert_eq!(sets.len(), 1, "one mapping of the set's size: {sets:?}");
    let (_, eligible, huge_kib) = sets[0];
    assert!(
        eligible,
        "THP mode {mode}: the set's mapping is not eligible"
    );
    // All but the partial 2 MiB stretches at either end.
    assert!(
        huge_kib >= set_kib - 4 * 1024,
        "THP mode {mode}: only {huge_kib} KiB of the {set_kib} KiB set in huge pages"
    );
}
