//! Avatar processing (decode, orient, crop, resize to 512 and 128, encode),
//! ours and Pillow's on the same 2 MP and 12 MP JPEGs in the same run: the
//! median time per image and the peak RSS of a process that handles one.
//!
//! `cargo run --release -p bench --bin avatar` (Pillow in `.venv`:
//! `bench/run.sh` installs it). `avatar --one FILE` processes one file and
//! prints `ms peak_rss_bytes` (the RSS measurement's child process).

use std::time::{Duration, Instant};

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

fn ours_median(bytes: &[u8], runs: usize) -> Duration {
    media_upload::pipeline::process(bytes).unwrap();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let out = media_upload::pipeline::process(bytes).unwrap();
            assert_eq!(out.renditions.len(), 2);
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--one" {
        let bytes = std::fs::read(&args[2]).unwrap();
        let start = Instant::now();
        media_upload::pipeline::process(&bytes).unwrap();
        println!(
            "{:.3} {}",
            start.elapsed().as_secs_f64() * 1e3,
            peak_rss_bytes()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let python = std::env::var("BENCH_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python").into());
    let me = std::env::current_exe().unwrap();
    let mut rows = String::new();
    let mut summary = Vec::new();
    use jpeg_encoder::SamplingFactor::{R_4_2_0, R_4_4_4};
    for (label, w, h, sampling, runs) in [
        ("2 MP (1632 × 1224), 4:4:4", 1632, 1224, R_4_4_4, 41),
        ("2 MP (1632 × 1224), 4:2:0", 1632, 1224, R_4_2_0, 41),
        ("12 MP (4000 × 3000), 4:4:4", 4000, 3000, R_4_4_4, 11),
        ("12 MP (4000 × 3000), 4:2:0", 4000, 3000, R_4_2_0, 11),
    ] {
        let bytes = photo(w, h, sampling);
        let path = dir.path().join(format!("{w}x{h}-{}.jpg", sampling as u8));
        std::fs::write(&path, &bytes).unwrap();
        let ours = ours_median(&bytes, runs);
        let one = std::process::Command::new(&me)
            .arg("--one")
            .arg(&path)
            .output()
            .unwrap();
        let one = String::from_utf8_lossy(&one.stdout);
        let ours_rss: u64 = one
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let peer = std::process::Command::new(&python)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/pillow_avatar.py"))
            .arg(&path)
            .arg(runs.to_string())
            .output()
            .expect("python with Pillow (bench/run.sh installs it)");
        assert!(
            peer.status.success(),
            "{}",
            String::from_utf8_lossy(&peer.stderr)
        );
        let peer = String::from_utf8_lossy(&peer.stdout);
        let mut parts = peer.split_whitespace();
        let pillow_ms: f64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let pillow_rss: u64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let ours_ms = ours.as_secs_f64() * 1e3;
        let ratio = pillow_ms / ours_ms;
        println!(
            "{label}: ours {ours_ms:.1} ms / {} peak, Pillow {pillow_ms:.1} ms / {} peak: {ratio:.1}x",
            mb(ours_rss),
            mb(pillow_rss)
        );
        rows.push_str(&format!(
            "| {label}, {} KB | {ours_ms:.1} ms | {pillow_ms:.1} ms | **{ratio:.1}×** | {} | {} |\n",
            bytes.len() / 1024,
            mb(ours_rss),
            mb(pillow_rss)
        ));
        summary.push((label, ratio, ours_rss));
    }
    let section = format!(
        "## Avatar processing next to Pillow\n\n\
         `cargo run --release -p bench --bin avatar` — {}. The same JPEG through the same steps on both sides: decode, \
         EXIF orientation, centre crop, resize to 512 and 128 (Lanczos), JPEG quality 85 without metadata. Time is the \
         median per image in one warm process (`media_upload::pipeline::process`; `bench/pillow_avatar.py` with \
         Pillow {}); peak RSS is that of a process that handled the image (ours: a fresh process handling one; Pillow: \
         its timing process).\n\n\
         | original | ours | Pillow | ours faster by | ours peak RSS | Pillow peak RSS |\n|---|---|---|---|---|---|\n{rows}",
        bench::machine(),
        pillow_version(&python),
    );
    bench::write_section("avatar", &section).unwrap();
}

fn pillow_version(python: &str) -> String {
    std::process::Command::new(python)
        .args(["-c", "import PIL; print(PIL.__version__)"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
