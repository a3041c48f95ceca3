//! The one processing path of every avatar, whichever way it arrived:
//! sniff the format from the bytes, decode within limits, turn the pixels
//! upright by their EXIF orientation, centre-crop to a square and encode
//! the renditions afresh, so no metadata of the original (EXIF, GPS, ICC,
//! comments) survives. Animated images keep their first frame.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// The largest original accepted, in bytes (presigned uploads).
pub const MAX_UPLOAD_BYTES: u64 = 15 * 1024 * 1024;
/// The largest original accepted in a request body: API Gateway hands
/// binary bodies to Lambda base64-encoded, within its 6 MB invoke payload.
pub const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// Larger sides are refused before any pixel is decoded (a 100,000 ×
/// 100,000 "bomb" fails here, without allocating).
pub const MAX_SIDE: u32 = 12_000;
/// What decoding may allocate at most (a 12,000 × 12,000 RGBA image is 550 MB:
/// the side limit and this one together bound the work).
pub const MAX_ALLOC: u64 = 256 * 1024 * 1024;
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
    /// Over the pixel or memory limits.
    #[error("the image is larger than {MAX_SIDE} × {MAX_SIDE} pixels")]
    TooLarge,
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
/// applied. Only the first frame of an animation is read.
pub fn decode(bytes: &[u8]) -> Result<DynamicImage, ImageRejected> {
    sniff(bytes)?;
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
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(classify)?;
    image.apply_orientation(orientation);
    Ok(image)
}

fn classify(e: image::ImageError) -> ImageRejected {
    match e {
        image::ImageError::Limits(_) => ImageRejected::TooLarge,
        image::ImageError::Unsupported(_) => ImageRejected::UnsupportedFormat,
        _ => ImageRejected::Corrupt,
    }
}

/// The whole path: decode, crop to the centred square, resize, encode.
pub fn process(bytes: &[u8]) -> Result<Processed, ImageRejected> {
    let image = decode(bytes)?;
    let side = image.width().min(image.height());
    let square = image.crop_imm(
        (image.width() - side) / 2,
        (image.height() - side) / 2,
        side,
        side,
    );
    let transparent = square.color().has_alpha() && has_transparency(&square);
    let content_type = if transparent {
        "image/png"
    } else {
        "image/jpeg"
    };
    let mut renditions = Vec::with_capacity(SIZES.len());
    let mut source = square;
    for target in SIZES {
        // Each smaller size from the previous one: fewer pixels to filter.
        // Exactly `target` pixels a side: smaller originals are scaled up.
        let resized = if source.width() == target {
            source.clone()
        } else {
            source.resize_exact(target, target, image::imageops::FilterType::Lanczos3)
        };
        let bytes = encode(&resized, transparent).map_err(|_| ImageRejected::Corrupt)?;
        renditions.push(Rendition {
            side: resized.width(),
            bytes,
        });
        source = resized;
    }
    Ok(Processed {
        content_type,
        renditions,
    })
}

fn has_transparency(image: &DynamicImage) -> bool {
    image.to_rgba8().pixels().any(|p| p.0[3] < 255)
}

/// A fresh encoding: the encoders write pixels only, no metadata.
fn encode(image: &DynamicImage, transparent: bool) -> image::ImageResult<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    if transparent {
        image.to_rgba8().write_to(&mut out, ImageFormat::Png)?;
    } else {
        let rgb = image.to_rgb8();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(&rgb)?;
    }
    Ok(out.into_inner())
}
