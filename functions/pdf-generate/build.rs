//! Deflates the two embedded faces (`fonts/*.ttf`) into `OUT_DIR`, where
//! `render.rs` includes them: half the bytes in every bootstrap (issue 15's
//! size target), for ~3 ms of inflating in the first PDF of a process. The
//! TrueType files stay in the repository as published, so updating a face
//! is replacing a file.

use std::io::Write;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for name in ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"] {
        let source = PathBuf::from("fonts").join(name);
        println!("cargo::rerun-if-changed={}", source.display());
        let ttf =
            std::fs::read(&source).unwrap_or_else(|e| panic!("reading {}: {e}", source.display()));
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&ttf).expect("deflating into memory");
        let deflated = encoder.finish().expect("deflating into memory");
        std::fs::write(out.join(format!("{name}.deflate")), deflated)
            .unwrap_or_else(|e| panic!("writing {name}.deflate: {e}"));
    }
}
