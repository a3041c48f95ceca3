//! Hostile images, for the tests and the benchmarks (feature `samples`):
//! the decompression bombs of the security review (issue 26) and their
//! relatives. Each is small on the wire and huge once decoded; the pipeline
//! must refuse each before it allocates, or decode it within its bounds.

use flate2::{Compress, Compression, Crc, FlushCompress};

/// Every sample: a name and its bytes, with the media type it claims.
pub fn all() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        (
            "gif-12000-screen",
            "image/gif",
            gif_screen(12_000, 12_000, 1),
        ),
        (
            "gif-animated-many-frames",
            "image/gif",
            gif_screen(6_000, 6_000, 200),
        ),
        (
            "gif-frame-larger-than-screen",
            "image/gif",
            gif_oversized_frame(),
        ),
        ("png-16bit-11000", "image/png", png_16bit(11_000)),
        ("png-lying-ihdr", "image/png", png_lying_ihdr()),
        (
            "jpeg-absurd-dimensions",
            "image/jpeg",
            jpeg_dimensions(65_000, 65_000),
        ),
        (
            "jpeg-11000-square",
            "image/jpeg",
            jpeg_dimensions(11_000, 11_000),
        ),
    ]
}

/// A GIF whose logical screen is `w` × `h` with `frames` frames covering
/// it, each a few bytes of LZW (a clear code and the end): the reviewer's
/// 35-byte GIF is `gif_screen(12000, 12000, 1)` (34 bytes here).
pub fn gif_screen(w: u16, h: u16, frames: usize) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend(w.to_le_bytes());
    gif.extend(h.to_le_bytes());
    // A global table of two colours, black and white.
    gif.extend([0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff]);
    for _ in 0..frames {
        gif.extend(frame(0, 0, w, h));
    }
    gif.push(0x3b);
    gif
}

/// A 64 × 64 screen whose first frame claims 16,000 × 16,000 pixels.
pub fn gif_oversized_frame() -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend(64u16.to_le_bytes());
    gif.extend(64u16.to_le_bytes());
    gif.extend([0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff]);
    gif.extend(frame(0, 0, 16_000, 16_000));
    gif.push(0x3b);
    gif
}

fn frame(left: u16, top: u16, w: u16, h: u16) -> Vec<u8> {
    let mut f = vec![0x2c];
    for v in [left, top, w, h] {
        f.extend(v.to_le_bytes());
    }
    // No local table; LZW minimum code size 2; one sub-block holding the
    // 3-bit codes "clear" (4) and "end" (5); the block terminator.
    f.extend([0, 2, 1, 4 | (5 << 3), 0]);
    f
}

/// A PNG chunk: length, type, data, CRC.
fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend((data.len() as u32).to_be_bytes());
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    png.extend(kind);
    png.extend(data);
    png.extend(crc.sum().to_be_bytes());
}

/// A zlib stream of `n` zero bytes, about n / 1000 bytes long, made
/// without ever holding the `n` bytes: one compressed megabyte of zeros,
/// repeated. (Deflate's sync flush ends each piece on a byte boundary, and
/// each piece starts with a literal zero followed by matches at distance 1,
/// valid after any run of zeros.)
fn zeros_zlib(n: u64) -> Vec<u8> {
    const PIECE: usize = 1 << 20;
    let piece = {
        let mut c = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(PIECE / 500);
        c.compress_vec(&vec![0u8; PIECE], &mut out, FlushCompress::Sync)
            .expect("compressing zeros");
        out
    };
    let mut z = vec![0x78, 0xda];
    for _ in 0..n / PIECE as u64 {
        z.extend(&piece);
    }
    let rest = (n % PIECE as u64) as usize;
    let mut c = Compress::new(Compression::best(), false);
    let mut tail = Vec::with_capacity(rest / 500 + 64);
    c.compress_vec(&vec![0u8; rest], &mut tail, FlushCompress::Finish)
        .expect("compressing zeros");
    z.extend(tail);
    // Adler-32 of n zeros: a stays 1, b adds 1 per byte.
    let adler = (((n % 65_521) as u32) << 16) | 1;
    z.extend(adler.to_be_bytes());
    z
}

fn png(w: u32, h: u32, bit_depth: u8, colour: u8, idat: &[u8]) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([bit_depth, colour, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", idat);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// The reviewer's 0.9 MB PNG: `side` × `side`, 16-bit RGBA, every row
/// present (all zeros): about a gigabyte once inflated.
pub fn png_16bit(side: u32) -> Vec<u8> {
    let row = 1 + u64::from(side) * 8;
    png(side, side, 16, 6, &zeros_zlib(row * u64::from(side)))
}

/// A PNG whose header claims a modest 4,000 × 4,000 RGB image while its
/// data inflates to a gigabyte: the decoder must stop at what the header
/// promised.
pub fn png_lying_ihdr() -> Vec<u8> {
    png(4_000, 4_000, 8, 2, &zeros_zlib(1 << 30))
}

/// A small real JPEG whose frame header is rewritten to claim `w` × `h`.
pub fn jpeg_dimensions(w: u16, h: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 80)
        .encode(&[128; 16 * 16 * 3], 16, 16, jpeg_encoder::ColorType::Rgb)
        .expect("encoding a 16 × 16 JPEG");
    let sof = jpeg
        .windows(2)
        .position(|m| m == [0xff, 0xc0])
        .expect("a baseline frame header");
    // Marker, length (2), precision (1), then height and width.
    jpeg[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    jpeg
}
