//! Avatar processing (decode, orient, crop, resize to 512 and 128, encode),
//! ours, libvips's and Pillow's on the same 2 MP and 12 MP JPEGs and PNGs
//! and a camera JPEG with EXIF orientation, in the same run; then the
//! decompression bombs of `image_pipeline::hostile`, each refused (or
//! bounded) in a fresh process.
//!
//! `cargo run --release -p bench --bin avatar` (pyvips and Pillow in
//! `.venv`: `bench/run.sh` installs them). `avatar --one FILE` processes one
//! file and prints `ms peak_rss_bytes outcome`; `avatar --decode FILE` only
//! decodes it (set beside libvips's decode alone, which `bench/vips_avatar.py`
//! times too).

use std::time::Instant;

use image::{ImageFormat, Rgb, RgbImage};

/// A photo-like JPEG (smooth gradients with fine noise, so it compresses
/// like a photograph rather than like a flat test card), at quality 90,
/// with full-resolution chroma (4:4:4, what `image`'s encoder writes: the
/// most entropy data to decode) or halved chroma (4:2:0, what phone cameras
/// write).
fn photo(width: u32, height: u32, sampling: jpeg_encoder::SamplingFactor) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let image = RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 24) as u32;
        let r = (x * 255 / width + noise) % 256;
        let g = (y * 255 / height + noise) % 256;
        let b = ((x + y) * 127 / (width + height) + noise * 2) % 256;
        Rgb([r as u8, g as u8, b as u8])
    });
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 90);
    encoder.set_sampling_factor(sampling);
    encoder
        .encode(
            image.as_raw(),
            width as u16,
            height as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    assert_eq!(image::guess_format(&bytes).unwrap(), ImageFormat::Jpeg);
    bytes
}

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// `photo` with an EXIF block saying "rotate 90° clockwise to view"
/// (orientation 6), as a phone held upright writes it.
fn with_orientation_6(jpeg: &[u8]) -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend(1u16.to_le_bytes());
    tiff.extend(0x0112u16.to_le_bytes()); // Orientation
    tiff.extend(3u16.to_le_bytes()); // SHORT
    tiff.extend(1u32.to_le_bytes());
    tiff.extend([6, 0, 0, 0]);
    tiff.extend(0u32.to_le_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xff, 0xe1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

/// The same photo-like pixels as a PNG (RGB, the encoder's default
/// compression).
fn png(width: u32, height: u32) -> Vec<u8> {
    let jpeg = photo(width, height, jpeg_encoder::SamplingFactor::R_4_2_0);
    let image = image::load_from_memory(&jpeg).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

/// `--one FILE`: processes the file once in this fresh process and prints
/// "ms peak_rss_bytes outcome" (the outcome: `ok` or the refusal's words).
fn one(path: &str, decode_only: bool) {
    let bytes = std::fs::read(path).unwrap();
    let start = Instant::now();
    let done = if decode_only {
        image_pipeline::pipeline::decode(&bytes, image_pipeline::pipeline::SIZES[0]).map(drop)
    } else {
        image_pipeline::pipeline::process(&bytes).map(drop)
    };
    let outcome = match done {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    println!(
        "{:.3} {} {outcome}",
        start.elapsed().as_secs_f64() * 1e3,
        peak_rss_bytes()
    );
}

/// One fresh process running `avatar MODE FILE`: its time, peak RSS and
/// outcome.
fn fresh_once(me: &std::path::Path, mode: &str, path: &std::path::Path) -> (f64, u64, String) {
    let out = std::process::Command::new(me)
        .arg(mode)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let mut parts = line.splitn(3, ' ');
    (
        parts.next().and_then(|v| v.parse().ok()).unwrap_or(0.0),
        parts.next().and_then(|v| v.parse().ok()).unwrap_or(0),
        parts.next().unwrap_or_default().to_owned(),
    )
}

/// Runs each of `modes` on `path` in `n` fresh processes, interleaved (so
/// that every mode sees the machine in the same state): per mode, the
/// median time, the largest peak RSS and the outcome.
fn fresh(
    me: &std::path::Path,
    modes: &[&str],
    path: &std::path::Path,
    n: usize,
) -> Vec<(f64, u64, String)> {
    let mut runs = vec![(Vec::new(), 0, String::new()); modes.len()];
    for _ in 0..n {
        for (mode, (times, rss, outcome)) in modes.iter().zip(&mut runs) {
            let (ms, peak, said) = fresh_once(me, mode, path);
            times.push(ms);
            *rss = peak.max(*rss);
            *outcome = said;
        }
    }
    runs.into_iter()
        .map(|(mut times, rss, outcome)| {
            times.sort_by(f64::total_cmp);
            (times[times.len() / 2], rss, outcome)
        })
        .collect()
}

/// A peer script's "ms rss [step_ms]" for `runs` warm runs on `path` (the
/// third when the script also times a step alone).
fn peer(python: &str, script: &str, path: &std::path::Path, runs: usize) -> (f64, u64, f64) {
    let out = std::process::Command::new(python)
        .arg(format!("{}/{script}", env!("CARGO_MANIFEST_DIR")))
        .arg(path)
        .arg(runs.to_string())
        .output()
        .expect("python with Pillow and pyvips (bench/run.sh installs them)");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let mut parts = line.split_whitespace();
    (
        parts.next().and_then(|v| v.parse().ok()).unwrap_or(0.0),
        parts.next().and_then(|v| v.parse().ok()).unwrap_or(0),
        parts.next().and_then(|v| v.parse().ok()).unwrap_or(0.0),
    )
}

const RUNS: usize = 9;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && (args[1] == "--one" || args[1] == "--decode") {
        one(&args[2], args[1] == "--decode");
        return;
    }
    // `--write-inputs DIR`: the inputs as files, to profile one by hand
    // (`perf record target/release/avatar --one DIR/input-1.jpg`).
    let keep = (args.len() == 3 && args[1] == "--write-inputs").then(|| args[2].clone());
    let dir = tempfile::tempdir().unwrap();
    let python = std::env::var("BENCH_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python").into());
    let me = std::env::current_exe().unwrap();
    let mut rows = String::new();
    use jpeg_encoder::SamplingFactor::R_4_2_0;
    let inputs: Vec<(&str, &str, Vec<u8>)> = vec![
        ("2 MP JPEG (1632 × 1224)", "jpg", photo(1632, 1224, R_4_2_0)),
        (
            "12 MP JPEG (4000 × 3000)",
            "jpg",
            photo(4000, 3000, R_4_2_0),
        ),
        (
            "12 MP camera JPEG, EXIF orientation 6",
            "jpg",
            with_orientation_6(&photo(4000, 3000, R_4_2_0)),
        ),
        ("2 MP PNG (1632 × 1224)", "png", png(1632, 1224)),
        ("12 MP PNG (4000 × 3000)", "png", png(4000, 3000)),
    ];
    for (i, (label, ext, bytes)) in inputs.iter().enumerate() {
        let path = dir.path().join(format!("input-{i}.{ext}"));
        std::fs::write(&path, bytes).unwrap();
        if let Some(keep) = &keep {
            std::fs::create_dir_all(keep).unwrap();
            std::fs::write(format!("{keep}/input-{i}.{ext}"), bytes).unwrap();
            continue;
        }
        let ours = fresh(&me, &["--one", "--decode"], &path, RUNS);
        let (ours_ms, ours_rss, outcome) = ours[0].clone();
        assert_eq!(outcome, "ok", "{label}");
        let ours_decode_ms = ours[1].0;
        let (vips_ms, vips_rss, vips_decode_ms) = peer(&python, "vips_avatar.py", &path, RUNS);
        let (pillow_ms, pillow_rss, _) = peer(&python, "pillow_avatar.py", &path, RUNS);
        println!(
            "{label}: ours {ours_ms:.1} ms (decode {ours_decode_ms:.1}) / {}, libvips {vips_ms:.1} ms (decode {vips_decode_ms:.1}) / {}, Pillow {pillow_ms:.1} ms / {}",
            mb(ours_rss),
            mb(vips_rss),
            mb(pillow_rss)
        );
        rows.push_str(&format!(
            "| {label}, {} KB | {ours_ms:.1} ms | {vips_ms:.1} ms | {pillow_ms:.1} ms | **{:.2}×** | {ours_decode_ms:.1} ms | {vips_decode_ms:.1} ms | {:.2}× | {} ({:.1} of it the file) | {} | {} |\n",
            bytes.len() / 1024,
            vips_ms / ours_ms,
            vips_ms / vips_decode_ms,
            mb(ours_rss),
            bytes.len() as f64 / 1e6,
            mb(vips_rss),
            mb(pillow_rss)
        ));
    }
    if keep.is_some() {
        return;
    }
    let mut bombs = String::new();
    for (name, _, bytes) in image_pipeline::hostile::all() {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let (ms, rss, outcome) = fresh(&me, &["--one"], &path, 3).remove(0);
        println!("bomb {name}: {ms:.2} ms / {}: {outcome}", mb(rss));
        bombs.push_str(&format!(
            "| `{name}`, {} bytes | {ms:.2} ms | {} | {outcome} |\n",
            bytes.len(),
            mb(rss)
        ));
    }
    let section = format!(
        "## Avatar processing next to libvips and Pillow\n\n\
         `cargo run --release -p bench --bin avatar` — {}. The same file through the same steps on every side: decode \
         (libvips with shrink-on-load), EXIF orientation, centre crop, resize to 512 (Lanczos 3) and 128 from the 512, \
         JPEG quality 85 without metadata. Ours: the median of {RUNS} fresh processes each handling the file once \
         (`image_pipeline::pipeline::process`, a cold process as a Lambda invocation may be), and the largest peak RSS \
         of them. libvips (`bench/vips_avatar.py`, pyvips {} with libvips {}, its operation cache off) and Pillow \
         (`bench/pillow_avatar.py`, {}): the warm median of {RUNS} runs in one process after a first untimed one, and \
         that process's peak RSS (the interpreter included). The decode columns time the first step alone (ours: \
         `--decode` in fresh processes interleaved with the whole; libvips: its shrink-on-load into memory, timed \
         interleaved with the whole in `bench/vips_avatar.py`); libvips's \
         whole time over its decode time is the most any pipeline could lead libvips by while decoding no faster \
         than libjpeg-turbo (libpng for PNGs) does.\n\n\
         | original | ours | libvips | Pillow | ours faster than libvips by | ours decode | libvips decode | most a libvips-speed decoder allows | ours peak RSS | libvips peak RSS | Pillow peak RSS |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n{rows}\n\
         Decompression bombs (`image_pipeline::hostile`), each in a fresh process (median of 3; largest peak RSS):\n\n\
         | sample | time | peak RSS | outcome |\n|---|---|---|---|\n{bombs}",
        bench::machine(),
        python_out(&python, "import pyvips; print(pyvips.__version__)"),
        python_out(
            &python,
            "import pyvips; print('%d.%d.%d' % tuple(pyvips.version(i) for i in range(3)))"
        ),
        python_out(&python, "import PIL; print('Pillow', PIL.__version__)"),
    );
    bench::write_section("avatar", &section).unwrap();
}

fn python_out(python: &str, code: &str) -> String {
    std::process::Command::new(python)
        .args(["-c", code])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
