//! Small std-only helpers both adapter families and the key loader use:
//! private files written atomically, secrets kept on disk, the clock in
//! epoch seconds (what TTL attributes hold). Kept out of the embedded
//! adapters so a Lambda build (no `embedded` feature) still has them.

/// Reads or creates a secret of `len` random bytes kept at `path` (mode 0600),
/// so locally generated secrets survive restarts.
pub fn load_or_create_secret(path: &std::path::Path, len: usize) -> std::io::Result<Vec<u8>> {
    if let Ok(bytes) = std::fs::read(path)
        && bytes.len() == len
    {
        return Ok(bytes);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut secret = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut secret).map_err(|_| std::io::Error::other("no randomness"))?;
    write_private_file(path, &secret)?;
    // Another process may have raced us: whatever is on disk now wins.
    std::fs::read(path)
}

/// Writes a file readable only by its owner, atomically (temp file + rename).
pub fn write_private_file(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Now, in seconds since the epoch.
pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
