//! The one processing path of every avatar, whichever way it arrived:
//! sniff the format from the bytes, decode within limits, turn the pixels
//! upright by their EXIF orientation, centre-crop to a square and encode
//! the renditions afresh, so no metadata of the original (EXIF, GPS, ICC,
//! comments) survives. Animated images keep their first frame.

use std::io::Cursor;

use fast_image_resize::{self as fr, PixelType};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// The largest original accepted, in bytes (presigned uploads).
pub const MAX_UPLOAD_BYTES: u64 = 15 * 1024 * 1024;
/// The largest original accepted in a request body: API Gateway hands
/// binary bodies to Lambda base64-encoded, within its 6 MB invoke payload.
pub const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// Larger sides are refused before any pixel is decoded (a 100,000 ×
/// 100,000 "bomb" fails here, without allocating).
pub const MAX_SIDE: u32 = 12_000;
/// The most pixels an original may have: its canvas, and (GIF) its first
/// frame's rectangle, both read from the headers before anything is
/// decoded. A 512-pixel avatar needs far less; 40 MP admits any camera
/// photo of today's phones.
pub const MAX_PIXELS: u64 = 40_000_000;
/// What the decoded image may take at most (the decoder's own buffers are
/// bounded by the same figure through `image`'s limits): 40 MP of 8-bit
/// RGBA; a 16-bit image must be smaller.
pub const MAX_ALLOC: u64 = 160_000_000;
/// The square renditions written, largest first.
pub const SIZES: [u32; 2] = [512, 128];

/// The media types we accept, as declared by clients.
pub const ACCEPTED: [&str; 4] = ["image/png", "image/jpeg", "image/webp", "image/gif"];

/// Why an original was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRejected {
    /// Not one of the accepted formats (SVG, HTML, PDF, …), whatever it claimed.
    #[error("the file is not a PNG, JPEG, WebP or GIF image")]
    UnsupportedFormat,
    /// The bytes are a different accepted format than declared.
    #[error("the file is a {actual} image, not {declared}")]
    Mismatch {
        declared: &'static str,
        actual: &'static str,
    },
    /// A side over [`MAX_SIDE`].
    #[error("the image is larger than {MAX_SIDE} × {MAX_SIDE} pixels")]
    TooLarge,
    /// More pixels (canvas or frame) than [`MAX_PIXELS`].
    #[error(
        "the image has {megapixels} megapixels ({width} × {height}); at most 40 megapixels are accepted"
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        megapixels: u64,
    },
    /// Decoding would take more memory than [`MAX_ALLOC`].
    #[error("decoding the image would take more than 160 MB of memory (the limit)")]
    TooMuchMemory,
    /// Truncated or corrupt.
    #[error("the image could not be decoded (truncated or corrupt)")]
    Corrupt,
}

/// One encoded square rendition.
#[derive(Debug, Clone)]
pub struct Rendition {
    pub side: u32,
    pub bytes: Vec<u8>,
}

/// What processing made of an original.
#[derive(Debug, Clone)]
pub struct Processed {
    /// `image/jpeg`, or `image/png` when the original has transparency.
    pub content_type: &'static str,
    /// One per [`SIZES`], in that order.
    pub renditions: Vec<Rendition>,
}

impl Processed {
    pub fn extension(&self) -> &'static str {
        if self.content_type == "image/png" {
            "png"
        } else {
            "jpg"
        }
    }
}

fn media_type(format: ImageFormat) -> Option<&'static str> {
    Some(match format {
        ImageFormat::Png => "image/png",
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::WebP => "image/webp",
        ImageFormat::Gif => "image/gif",
        _ => return None,
    })
}

/// The accepted media type the bytes really are (never the header's word).
pub fn sniff(bytes: &[u8]) -> Result<&'static str, ImageRejected> {
    image::guess_format(bytes)
        .ok()
        .and_then(media_type)
        .ok_or(ImageRejected::UnsupportedFormat)
}

/// Checks the bytes against a declared media type (`None`: trust the bytes).
pub fn check_declared(bytes: &[u8], declared: Option<&str>) -> Result<&'static str, ImageRejected> {
    let actual = sniff(bytes)?;
    match declared {
        None => Ok(actual),
        Some(d) => {
            let declared = ACCEPTED
                .iter()
                .copied()
                .find(|a| a.eq_ignore_ascii_case(d))
                .ok_or(ImageRejected::UnsupportedFormat)?;
            if declared == actual {
                Ok(actual)
            } else {
                Err(ImageRejected::Mismatch { declared, actual })
            }
        }
    }
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    limits
}

/// Decodes `bytes` upright: sniffed format, bounded size, EXIF orientation
/// applied. Only the first frame of an animation is read. A JPEG at least
/// four times `min_side` on its short side is decoded at 1/4 or 1/8 scale
/// (the scaled IDCT does it, as libjpeg-turbo's draft mode does), since
/// nothing larger than the largest rendition is kept; smaller ones go
/// through `image`'s own decoder (zune-jpeg), whose entropy decoding is
/// faster than jpeg-decoder's at 1/2 scale (measured: 14.5 vs 16.5 ms on a
/// 2 MP photo).
pub fn decode(bytes: &[u8], min_side: u32) -> Result<DynamicImage, ImageRejected> {
    let format = sniff(bytes)?;
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| ImageRejected::Corrupt)?;
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(classify)?;
    decoder.set_limits(limits()).map_err(classify)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(ImageRejected::TooLarge);
    }
    check_pixels(w, h)?;
    if format == "image/gif" {
        check_gif_first_frame(bytes)?;
    }
    // `from_decoder` allocates this much at once, outside `image`'s
    // allocation limit (only `ImageReader::decode` reserves it): checked
    // here, before the allocation.
    let bytes_needed = decoder.total_bytes();
    if bytes_needed > MAX_ALLOC {
        return Err(ImageRejected::TooMuchMemory);
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = if format == "image/jpeg" && w.min(h) / 4 >= min_side {
        drop(decoder);
        decode_jpeg_scaled(bytes, (w, h), min_side)?
    } else if format == "image/png" && w.min(h) / 2 >= min_side {
        drop(decoder);
        match decode_png_shrunk(bytes, min_side)? {
            Some(image) => image,
            None => decode_whole(bytes)?,
        }
    } else {
        DynamicImage::from_decoder(decoder).map_err(classify)?
    };
    image.apply_orientation(orientation);
    Ok(image)
}

fn check_pixels(width: u32, height: u32) -> Result<(), ImageRejected> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(ImageRejected::TooManyPixels {
            width,
            height,
            megapixels: pixels.div_ceil(1_000_000),
        });
    }
    Ok(())
}

/// A GIF frame may be larger than its screen; `image` then decodes the
/// whole frame into a buffer of its own before cropping it onto the
/// canvas. The first frame (the only one read) is held to the pixel limit
/// too, read from its descriptor without decoding it.
fn check_gif_first_frame(bytes: &[u8]) -> Result<(), ImageRejected> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options
        .read_info(Cursor::new(bytes))
        .map_err(|_| ImageRejected::Corrupt)?;
    match decoder.next_frame_info() {
        Ok(Some(frame)) => check_pixels(u32::from(frame.width), u32::from(frame.height)),
        Ok(None) | Err(_) => Err(ImageRejected::Corrupt),
    }
}

/// The plain path, for a file [`decode_png_shrunk`] declined.
fn decode_whole(bytes: &[u8]) -> Result<DynamicImage, ImageRejected> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| ImageRejected::Corrupt)?;
    reader.limits(limits());
    let decoder = reader.into_decoder().map_err(classify)?;
    DynamicImage::from_decoder(decoder).map_err(classify)
}

/// A PNG whose header was already checked, shrunk while it is read: each
/// row, as it comes out of the inflater, is added into a row of sums `k`
/// times narrower, and every `k` rows make one output row (a box filter,
/// what libvips's `shrink` does before its Lanczos `reduce`; the Lanczos
/// pass then runs on the small image). Only one input row and the small
/// image are ever held, so a 12 MP PNG takes a few megabytes instead of
/// the 36–48 MB of its decoded pixels, and the large Lanczos pass is gone.
/// `k` keeps the short side at least `min_side`. `None` for an interlaced
/// file (its rows come in seven passes): the caller decodes it whole.
fn decode_png_shrunk(bytes: &[u8], min_side: u32) -> Result<Option<DynamicImage>, ImageRejected> {
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: MAX_ALLOC as usize,
        },
    );
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|_| ImageRejected::Corrupt)?;
    let info = reader.info();
    if info.interlaced {
        return Ok(None);
    }
    let (w, h) = (info.width, info.height);
    let channels = match reader.output_color_type() {
        (png::ColorType::Grayscale, png::BitDepth::Eight) => 1,
        (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight) => 2,
        (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
        (png::ColorType::Rgba, png::BitDepth::Eight) => 4,
        _ => return Ok(None),
    };
    let k = (w.min(h) / min_side).max(1) as usize;
    let (ow, oh) = (w as usize / k, h as usize / k);
    let mut sums = vec![0u32; ow * channels];
    let mut out = Vec::with_capacity(ow * oh * channels);
    let area = (k * k) as u32;
    for y in 0..oh * k {
        let row = match reader.next_row() {
            Ok(Some(row)) => row,
            Ok(None) | Err(_) => return Err(ImageRejected::Corrupt),
        };
        let data = row.data();
        for (x, sum) in sums.chunks_exact_mut(channels).enumerate() {
            let start = x * k * channels;
            for pixel in data[start..start + k * channels].chunks_exact(channels) {
                for (s, &v) in sum.iter_mut().zip(pixel) {
                    *s += u32::from(v);
                }
            }
        }
        if y % k == k - 1 {
            out.extend(sums.iter().map(|&s| ((s + area / 2) / area) as u8));
            sums.fill(0);
        }
    }
    let (ow, oh) = (ow as u32, oh as u32);
    let image = match channels {
        1 => image::GrayImage::from_raw(ow, oh, out).map(DynamicImage::ImageLuma8),
        2 => image::GrayAlphaImage::from_raw(ow, oh, out).map(DynamicImage::ImageLumaA8),
        3 => RgbImage::from_raw(ow, oh, out).map(DynamicImage::ImageRgb8),
        _ => image::RgbaImage::from_raw(ow, oh, out).map(DynamicImage::ImageRgba8),
    };
    // (The caller applies the EXIF orientation it read from the headers.)
    image.map(Some).ok_or(ImageRejected::Corrupt)
}

/// A JPEG whose header was already checked, decoded at a reduced scale.
fn decode_jpeg_scaled(
    bytes: &[u8],
    (w, h): (u32, u32),
    min_side: u32,
) -> Result<DynamicImage, ImageRejected> {
    use jpeg_decoder::PixelFormat;
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(MAX_ALLOC as usize);
    decoder.read_info().map_err(|_| ImageRejected::Corrupt)?;
    let short = w.min(h).max(1);
    // The requested size keeps the short side at least `min_side`.
    let want = |side: u32| (u64::from(side) * u64::from(min_side)).div_ceil(u64::from(short));
    let (sw, sh) = decoder
        .scale(
            want(w).min(u64::from(u16::MAX)) as u16,
            want(h).min(u64::from(u16::MAX)) as u16,
        )
        .map_err(|_| ImageRejected::Corrupt)?;
    let pixels = decoder.decode().map_err(|_| ImageRejected::Corrupt)?;
    let format = decoder.info().map(|i| i.pixel_format);
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    let image = match format {
        Some(PixelFormat::RGB24) => RgbImage::from_raw(sw, sh, pixels).map(DynamicImage::ImageRgb8),
        Some(PixelFormat::L8) => {
            image::GrayImage::from_raw(sw, sh, pixels).map(DynamicImage::ImageLuma8)
        }
        Some(PixelFormat::CMYK32) => {
            // Adobe's inverted CMYK, as JPEGs store it.
            let rgb = pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = u32::from(p[3]);
                    [0, 1, 2].map(|i| (u32::from(p[i]) * k / 255) as u8)
                })
                .collect();
            RgbImage::from_raw(sw, sh, rgb).map(DynamicImage::ImageRgb8)
        }
        Some(PixelFormat::L16) => {
            let gray = pixels.chunks_exact(2).map(|p| p[0]).collect();
            image::GrayImage::from_raw(sw, sh, gray).map(DynamicImage::ImageLuma8)
        }
        None => None,
    };
    image.ok_or(ImageRejected::Corrupt)
}

fn classify(e: image::ImageError) -> ImageRejected {
    match e {
        image::ImageError::Limits(l)
            if matches!(l.kind(), image::error::LimitErrorKind::DimensionError) =>
        {
            ImageRejected::TooLarge
        }
        image::ImageError::Limits(_) => ImageRejected::TooMuchMemory,
        image::ImageError::Unsupported(_) => ImageRejected::UnsupportedFormat,
        _ => ImageRejected::Corrupt,
    }
}

/// The whole path: decode, crop to the centred square and resize it (one
/// SIMD pass per rendition), encode.
pub fn process(bytes: &[u8]) -> Result<Processed, ImageRejected> {
    let image = decode(bytes, SIZES[0])?;
    let transparent = image.color().has_alpha() && has_transparency(&image);
    let (pixels, pixel_type, w, h) = if transparent {
        let rgba = image.into_rgba8();
        let (w, h) = rgba.dimensions();
        (rgba.into_raw(), PixelType::U8x4, w, h)
    } else {
        let rgb = image.into_rgb8();
        let (w, h) = rgb.dimensions();
        (rgb.into_raw(), PixelType::U8x3, w, h)
    };
    let source = fr::images::Image::from_vec_u8(w, h, pixels, pixel_type)
        .map_err(|_| ImageRejected::Corrupt)?;
    let side = w.min(h);
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3))
        .crop(
            f64::from((w - side) / 2),
            f64::from((h - side) / 2),
            f64::from(side),
            f64::from(side),
        );
    let mut resizer = fr::Resizer::new();
    let content_type = if transparent {
        "image/png"
    } else {
        "image/jpeg"
    };
    let mut renditions = Vec::with_capacity(SIZES.len());
    // The largest rendition comes from the cropped original; each smaller one
    // from the rendition before it (a square already, and far fewer pixels).
    let mut previous: Option<fr::images::Image> = None;
    let whole =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
    for target in SIZES {
        // Exactly `target` pixels a side: smaller originals are scaled up.
        let mut square = fr::images::Image::new(target, target, pixel_type);
        match &previous {
            None => resizer.resize(&source, &mut square, &options),
            Some(larger) => resizer.resize(larger, &mut square, &whole),
        }
        .map_err(|_| ImageRejected::Corrupt)?;
        let bytes = encode(square.buffer(), target, transparent)?;
        renditions.push(Rendition {
            side: target,
            bytes,
        });
        previous = Some(square);
    }
    Ok(Processed {
        content_type,
        renditions,
    })
}

fn has_transparency(image: &DynamicImage) -> bool {
    match image {
        DynamicImage::ImageRgba8(i) => i.pixels().any(|p| p.0[3] < 255),
        DynamicImage::ImageLumaA8(i) => i.pixels().any(|p| p.0[1] < 255),
        other => other.to_rgba8().pixels().any(|p| p.0[3] < 255),
    }
}

/// A fresh encoding: the encoders write pixels only, no metadata (the
/// JPEG gets a bare JFIF header).
fn encode(pixels: &[u8], side: u32, transparent: bool) -> Result<Vec<u8>, ImageRejected> {
    let side16 = u16::try_from(side).map_err(|_| ImageRejected::TooLarge)?;
    let mut out = Vec::new();
    if transparent {
        image::write_buffer_with_format(
            &mut Cursor::new(&mut out),
            pixels,
            side,
            side,
            image::ExtendedColorType::Rgba8,
            ImageFormat::Png,
        )
        .map_err(|_| ImageRejected::Corrupt)?;
    } else {
        jpeg_encoder::Encoder::new(&mut out, 85)
            .encode(pixels, side16, side16, jpeg_encoder::ColorType::Rgb)
            .map_err(|_| ImageRejected::Corrupt)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(image: DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    /// A large JPEG is decoded at a reduced scale that still covers the
    /// largest rendition, and comes out exact in size and colour.
    #[test]
    fn a_large_jpeg_is_decoded_scaled_but_not_below_the_rendition() {
        let original = DynamicImage::ImageRgb8(RgbImage::from_fn(2400, 1800, |x, _| {
            if x < 1200 {
                image::Rgb([250, 10, 10])
            } else {
                image::Rgb([10, 10, 250])
            }
        }));
        let bytes = jpeg(original);
        let decoded = decode(&bytes, 512).unwrap();
        // 1/4 scale would leave a short side of 450 < 512: decoded whole.
        assert_eq!((decoded.width(), decoded.height()), (2400, 1800));
        let larger = jpeg(DynamicImage::ImageRgb8(RgbImage::new(4400, 2100)));
        // 1/4 scale keeps a short side of 525 >= 512.
        let decoded = decode(&larger, 512).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (1100, 525));
        let out = process(&bytes).unwrap();
        assert_eq!(out.content_type, "image/jpeg");
        for (r, side) in out.renditions.iter().zip(SIZES) {
            let img = image::load_from_memory(&r.bytes).unwrap().to_rgb8();
            assert_eq!(img.dimensions(), (side, side));
            let left = img.get_pixel(side / 8, side / 2);
            let right = img.get_pixel(side - side / 8, side / 2);
            assert!(left.0[0] > 200 && right.0[2] > 200, "{left:?} {right:?}");
        }
    }

    #[test]
    fn grayscale_jpegs_and_tiny_images_work() {
        let gray =
            DynamicImage::ImageLuma8(image::GrayImage::from_pixel(900, 700, image::Luma([128])));
        let out = process(&jpeg(gray)).unwrap();
        assert_eq!(out.renditions.len(), 2);
        let tiny = DynamicImage::ImageRgb8(RgbImage::from_pixel(3, 5, image::Rgb([1, 2, 3])));
        let out = process(&jpeg(tiny)).unwrap();
        let big = image::load_from_memory(&out.renditions[0].bytes).unwrap();
        assert_eq!((big.width(), big.height()), (512, 512), "scaled up");
    }

    /// An animated GIF becomes its first frame.
    #[test]
    fn animations_keep_their_first_frame() {
        use image::codecs::gif::GifEncoder;
        use image::{Delay, Frame, RgbaImage};
        let frame = |c: [u8; 4]| {
            Frame::from_parts(
                RgbaImage::from_pixel(64, 64, image::Rgba(c)),
                0,
                0,
                Delay::from_numer_denom_ms(100, 1),
            )
        };
        let mut gif = Vec::new();
        {
            let mut encoder = GifEncoder::new(&mut gif);
            encoder
                .encode_frames([frame([250, 0, 0, 255]), frame([0, 0, 250, 255])])
                .unwrap();
        }
        let out = process(&gif).unwrap();
        let img = image::load_from_memory(&out.renditions[1].bytes)
            .unwrap()
            .to_rgb8();
        let p = img.get_pixel(64, 64);
        assert!(p.0[0] > 200 && p.0[2] < 60, "the first (red) frame: {p:?}");
    }

    fn png(image: DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    /// A PNG at least twice the largest rendition is shrunk while it is
    /// read (box filter by a whole factor that keeps the short side at
    /// least 512), in every pixel layout, and comes out right in size,
    /// colour and transparency.
    #[test]
    fn a_large_png_is_shrunk_while_it_is_read() {
        let halves = |x: u32| {
            if x < 1050 {
                [250u8, 10, 10]
            } else {
                [10, 10, 250]
            }
        };
        let rgb =
            DynamicImage::ImageRgb8(RgbImage::from_fn(2100, 1100, |x, _| image::Rgb(halves(x))));
        let decoded = decode(&png(rgb.clone()), 512).unwrap();
        // 1100 / 512: a factor of 2 (a factor of 3 would leave 366 < 512).
        assert_eq!((decoded.width(), decoded.height()), (1050, 550));
        assert_eq!(
            decoded.as_rgb8().unwrap().get_pixel(10, 10).0,
            [250, 10, 10]
        );
        let out = process(&png(rgb)).unwrap();
        assert_eq!(out.content_type, "image/jpeg");
        let big = image::load_from_memory(&out.renditions[0].bytes)
            .unwrap()
            .to_rgb8();
        assert_eq!(big.dimensions(), (512, 512));
        let (left, right) = (big.get_pixel(64, 256), big.get_pixel(448, 256));
        assert!(left.0[0] > 200 && right.0[2] > 200, "{left:?} {right:?}");

        // Transparency survives (half transparent: a PNG rendition).
        let rgba = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(2100, 1100, |x, _| {
            let [r, g, b] = halves(x);
            image::Rgba([r, g, b, if x < 1050 { 0 } else { 255 }])
        }));
        let out = process(&png(rgba)).unwrap();
        assert_eq!(out.content_type, "image/png");
        let big = image::load_from_memory(&out.renditions[0].bytes)
            .unwrap()
            .to_rgba8();
        assert_eq!(
            (big.get_pixel(64, 256).0[3], big.get_pixel(448, 256).0[3]),
            (0, 255)
        );

        // 16-bit grey (stripped to 8 bits while read).
        let grey = DynamicImage::ImageLuma16(image::ImageBuffer::from_pixel(
            1200,
            1100,
            image::Luma([40_000u16]),
        ));
        let decoded = decode(&png(grey), 512).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (600, 550));
        let v = decoded.to_luma8().get_pixel(300, 300).0[0];
        assert!((154..=157).contains(&v), "{v}");
    }
}
