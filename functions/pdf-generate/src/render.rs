//! Draws a profile as a one-page A4 PDF (more pages only if the text needs
//! them). Text is set in DejaVu Sans, embedded and subset, so names in Latin,
//! Greek, Cyrillic, Armenian, Georgian and Hebrew scripts print as written;
//! characters the font lacks (CJK, for one) show as the font's empty box.
//! Lines are wrapped by measuring glyph advances, never cut mid-word unless a
//! single word is wider than the line.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use printpdf::{
    Color, FontId, Line, LinePoint, Mm, Op, ParsedFont, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, RawImage, RawImageData, RawImageFormat, Rgb, TextItem,
    XObjectTransform,
};
use shared::domain::User;
use time::OffsetDateTime;

/// The two faces (`fonts/`), deflated by `build.rs`: 1.4 MiB of TrueType
/// shipped as 0.7 MiB in every bootstrap, inflated once per process by the
/// first PDF (see [`fonts`]).
const REGULAR_DEFLATED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/DejaVuSans.ttf.deflate"));
const BOLD_DEFLATED: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/DejaVuSans-Bold.ttf.deflate"));

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const MARGIN: f32 = 20.0;
const LABEL_X: f32 = MARGIN;
const VALUE_X: f32 = 68.0;
const BOTTOM: f32 = 22.0;
/// The avatar's side on the page, in mm (top right of the first page).
const AVATAR_MM: f32 = 30.0;
/// Where the avatar's lower edge sits, from the bottom, in mm.
const AVATAR_BOTTOM: f32 = PAGE_H - MARGIN - AVATAR_MM + 4.0;

/// An avatar to draw: its size and either the JPEG itself (embedded as is,
/// `DCTDecode`, never decoded) or 8-bit RGB pixels, row by row.
pub struct AvatarPixels {
    pub width: u32,
    pub height: u32,
    pub data: AvatarData,
}

pub enum AvatarData {
    /// A baseline RGB JPEG.
    Jpeg(Vec<u8>),
    Rgb(Vec<u8>),
}

/// The two faces, inflated and parsed once per process (a few
/// milliseconds; the first PDF of a cold start pays it). Each keeps its whole
/// TrueType program in `original_bytes`, which subsetting reads.
struct Fonts {
    regular: ParsedFont,
    bold: ParsedFont,
}

fn fonts() -> Result<&'static Fonts, RenderError> {
    static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut warnings = Vec::new();
            Some(Fonts {
                regular: ParsedFont::from_bytes(&inflate(REGULAR_DEFLATED)?, 0, &mut warnings)?,
                bold: ParsedFont::from_bytes(&inflate(BOLD_DEFLATED)?, 0, &mut warnings)?,
            })
        })
        .as_ref()
        .ok_or(RenderError("the embedded fonts did not parse"))
}

/// A face as `build.rs` deflated it, back to its TrueType bytes.
fn inflate(deflated: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut ttf = Vec::with_capacity(deflated.len() * 2);
    flate2::read::DeflateDecoder::new(deflated)
        .read_to_end(&mut ttf)
        .ok()?;
    Some(ttf)
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(&'static str);

/// A face subset once per process to a fixed repertoire (Latin, with the
/// usual punctuation), and that subset's font program deflated once. A
/// document whose text stays within it embeds this subset as is: no
/// subsetting and no font compression per PDF. Other text (Greek, Cyrillic,
/// Hebrew…) is subset per document as before. The price is size: a PDF
/// carries the whole repertoire (~40 KB more than a per-document subset).
struct Prepared {
    chars: BTreeSet<char>,
    font: ParsedFont,
    /// The font program printpdf embeds (the subset's bytes)…
    program: Vec<u8>,
    /// …and the same, deflated.
    deflated: Vec<u8>,
}

/// Basic Latin, Latin-1, Latin Extended-A, and general punctuation, the
/// euro sign and the em/en dashes: the names and text of most profiles.
fn repertoire() -> BTreeSet<char> {
    let ranges = [
        (0x20u32, 0x7e),
        (0xa0, 0x17f),
        (0x2010, 0x2027),
        (0x2030, 0x203a),
        (0x20ac, 0x20ac),
    ];
    ranges
        .iter()
        .flat_map(|&(a, b)| (a..=b).filter_map(char::from_u32))
        .collect()
}

fn prepared(face: Face) -> Option<&'static Prepared> {
    static PREPARED: OnceLock<Option<[Prepared; 2]>> = OnceLock::new();
    let faces = PREPARED
        .get_or_init(|| {
            let fonts = fonts().ok()?;
            let make = |full: &ParsedFont| -> Option<Prepared> {
                let chars: BTreeSet<char> = repertoire()
                    .into_iter()
                    .filter(|&c| full.lookup_glyph_index(c as u32).is_some_and(|g| g != 0))
                    .collect();
                let font = subset(&full.original_bytes, full, &chars).ok()?;
                let program = font.original_bytes.clone();
                let deflated = deflate(&program).ok()?;
                Some(Prepared {
                    chars,
                    font,
                    program,
                    deflated,
                })
            };
            Some([make(&fonts.regular)?, make(&fonts.bold)?])
        })
        .as_ref()?;
    Some(match face {
        Face::Regular => &faces[0],
        Face::Bold => &faces[1],
    })
}

/// The face to embed for `chars`: the prepared subset when it covers them,
/// else a subset made for this document.
fn face_for(
    face: Face,
    ttf: &[u8],
    full: &ParsedFont,
    chars: &BTreeSet<char>,
) -> Result<ParsedFont, RenderError> {
    match prepared(face) {
        Some(p) if chars.is_subset(&p.chars) => Ok(p.font.clone()),
        _ => subset(ttf, full, chars),
    }
}

/// Width of `text` at `size` points, in millimetres.
fn width_mm(font: &ParsedFont, text: &str, size: f32) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| {
            let gid = font.lookup_glyph_index(c as u32).unwrap_or(0);
            u32::from(font.get_glyph_width(gid).unwrap_or(font.units_per_em / 2))
        })
        .sum();
    let pt = units as f32 * size / f32::from(font.units_per_em.max(1));
    pt * 25.4 / 72.0
}

/// Splits `text` into lines no wider than `max_mm`; explicit line breaks are kept.
pub fn wrap(font: &ParsedFont, text: &str, size: f32, max_mm: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if width_mm(font, &candidate, size) <= max_mm {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // A word wider than the line is cut where it must be.
            let mut piece = String::new();
            for c in word.chars() {
                piece.push(c);
                if width_mm(font, &piece, size) > max_mm && piece.chars().count() > 1 {
                    piece.pop();
                    lines.push(std::mem::take(&mut piece));
                    piece.push(c);
                }
            }
            line = piece;
        }
        lines.push(line);
    }
    lines
}

/// A face of the embedded font.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Face {
    Regular,
    Bold,
}

/// One thing drawn: laid out first, turned into PDF operations once the
/// fonts are subset to the characters the document uses.
enum Mark {
    Text {
        face: Face,
        size: f32,
        x: f32,
        y: f32,
        text: String,
    },
    Rule {
        y: f32,
    },
}

/// The laid-out pages, starting a new page when the text runs low.
struct Layout {
    pages: Vec<Vec<Mark>>,
    /// The baseline of the next line, from the bottom, in mm.
    y: f32,
}

impl Layout {
    fn new() -> Self {
        Layout {
            pages: vec![Vec::new()],
            y: PAGE_H - MARGIN,
        }
    }

    fn room(&mut self, needed: f32) {
        if self.y - needed < BOTTOM {
            self.pages.push(Vec::new());
            self.y = PAGE_H - MARGIN;
        }
    }

    fn mark(&mut self, mark: Mark) {
        if let Some(page) = self.pages.last_mut() {
            page.push(mark);
        }
    }

    fn text(&mut self, face: Face, size: f32, x: f32, text: &str) {
        let y = self.y;
        self.mark(Mark::Text {
            face,
            size,
            x,
            y,
            text: text.to_owned(),
        });
    }

    /// Every character drawn in `face`.
    fn chars(&self, face: Face) -> BTreeSet<char> {
        self.pages
            .iter()
            .flatten()
            .filter_map(|m| match m {
                Mark::Text { face: f, text, .. } if *f == face => Some(text.chars()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn into_pages(self, regular: &FontId, bold: &FontId) -> Vec<PdfPage> {
        self.pages
            .into_iter()
            .map(|marks| {
                let ops = marks
                    .into_iter()
                    .flat_map(|m| ops(m, regular, bold))
                    .collect();
                PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops)
            })
            .collect()
    }
}

fn ops(mark: Mark, regular: &FontId, bold: &FontId) -> Vec<Op> {
    match mark {
        Mark::Text {
            face,
            size,
            x,
            y,
            text,
        } => vec![
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::External(match face {
                    Face::Regular => regular.clone(),
                    Face::Bold => bold.clone(),
                }),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point::new(Mm(x), Mm(y)),
            },
            Op::ShowText {
                items: vec![TextItem::Text(text)],
            },
            Op::EndTextSection,
        ],
        Mark::Rule { y } => vec![
            Op::SetOutlineColor {
                col: Color::Rgb(Rgb::new(0.75, 0.75, 0.75, None)),
            },
            Op::SetOutlineThickness { pt: Pt(0.7) },
            Op::DrawLine {
                line: Line {
                    points: vec![
                        LinePoint {
                            p: Point::new(Mm(MARGIN), Mm(y)),
                            bezier: false,
                        },
                        LinePoint {
                            p: Point::new(Mm(PAGE_W - MARGIN), Mm(y)),
                            bezier: false,
                        },
                    ],
                    is_closed: false,
                },
            },
        ],
    }
}

/// The face cut down to `chars` (and `.notdef`), so a PDF carries a few
/// kilobytes of font instead of 700 KB. printpdf subsets only with its
/// heavy `text_layout` feature, so this uses allsorts (which it builds
/// anyway) the same way.
fn subset(
    ttf: &[u8],
    full: &ParsedFont,
    chars: &BTreeSet<char>,
) -> Result<ParsedFont, RenderError> {
    use allsorts::binary::read::ReadScope;
    use allsorts::font_data::FontData;
    use allsorts::subset::{CmapTarget, SubsetProfile};
    let glyphs: BTreeSet<u16> = chars
        .iter()
        .filter_map(|&c| full.lookup_glyph_index(c as u32))
        .filter(|&g| g != 0)
        .collect();
    let ids: Vec<u16> = std::iter::once(0).chain(glyphs).collect();
    let font = ReadScope::new(ttf)
        .read::<FontData<'_>>()
        .map_err(|_| RenderError("the embedded font did not read"))?;
    let provider = font
        .table_provider(0)
        .map_err(|_| RenderError("the embedded font has no face"))?;
    let bytes = allsorts::subset::subset(&provider, &ids, &SubsetProfile::Pdf, CmapTarget::Unicode)
        .map_err(|_| RenderError("the font could not be subset"))?;
    let mut warnings = Vec::new();
    ParsedFont::from_bytes(&bytes, 0, &mut warnings)
        .ok_or(RenderError("the font subset did not parse"))
}

/// The name a profile is headed with.
fn display_name(user: &User) -> String {
    let parts: Vec<&str> = [user.name.as_ref(), user.surname.as_ref()]
        .into_iter()
        .flatten()
        .map(|n| n.as_str())
        .collect();
    if !parts.is_empty() {
        parts.join(" ")
    } else if let Some(u) = &user.username {
        u.as_str().to_owned()
    } else {
        user.email.as_str().to_owned()
    }
}

fn date(d: time::Date) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    d.format(&format).unwrap_or_default()
}

/// The fields printed, in order: label and value (absent ones show "—").
pub fn fields(user: &User) -> Vec<(&'static str, String)> {
    let or_dash = |v: Option<&str>| v.map_or_else(|| "—".to_owned(), str::to_owned);
    vec![
        ("Name", or_dash(user.name.as_ref().map(|n| n.as_str()))),
        (
            "Surname",
            or_dash(user.surname.as_ref().map(|n| n.as_str())),
        ),
        (
            "Username",
            or_dash(user.username.as_ref().map(|n| n.as_str())),
        ),
        ("Email", user.email.as_str().to_owned()),
        (
            "Date of birth",
            user.date_of_birth
                .map_or_else(|| "—".to_owned(), |d| date(d.date())),
        ),
        ("Role", user.role.as_str().to_owned()),
        ("Member since", date(user.created_at.date())),
    ]
}

/// The profile as PDF bytes.
pub fn profile_pdf(
    user: &User,
    now: OffsetDateTime,
    avatar: Option<&AvatarPixels>,
) -> Result<Vec<u8>, RenderError> {
    let fonts = fonts()?;
    let mut page = Layout::new();
    let width = PAGE_W - 2.0 * MARGIN;
    // The name leaves room for the avatar beside it.
    let name_width = if avatar.is_some() {
        width - AVATAR_MM - 5.0
    } else {
        width
    };
    for line in wrap(&fonts.bold, &display_name(user), 20.0, name_width) {
        page.room(9.0);
        page.y -= 9.0;
        page.text(Face::Bold, 20.0, MARGIN, &line);
    }
    page.y -= 6.0;
    page.text(Face::Regular, 10.0, MARGIN, "User profile");
    page.y -= 5.0;
    if avatar.is_some() {
        // The rule runs below the avatar.
        page.y = page.y.min(AVATAR_BOTTOM - 3.0);
    }
    let y = page.y;
    page.mark(Mark::Rule { y });
    page.y -= 4.0;

    for (label, value) in fields(user) {
        let lines = wrap(&fonts.regular, &value, 11.0, PAGE_W - MARGIN - VALUE_X);
        page.room(7.0 + 5.5 * lines.len() as f32);
        page.y -= 7.0;
        page.text(Face::Bold, 10.0, LABEL_X, label);
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                page.y -= 5.5;
            }
            page.text(Face::Regular, 11.0, VALUE_X, line);
        }
    }

    if let Some(bio) = user.bio.as_ref().filter(|b| !b.as_str().is_empty()) {
        page.room(18.0);
        page.y -= 12.0;
        page.text(Face::Bold, 10.0, LABEL_X, "About");
        for line in wrap(&fonts.regular, bio.as_str(), 11.0, width) {
            page.room(5.5);
            page.y -= 5.5;
            page.text(Face::Regular, 11.0, MARGIN, &line);
        }
    }

    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    let footer = format!(
        "Generated {} from profile version {}",
        now.format(&format).unwrap_or_default(),
        user.version
    );
    page.y = 12.0;
    page.text(Face::Regular, 8.0, MARGIN, &footer);

    let title = format!("Profile of {}", display_name(user));
    let mut doc = PdfDocument::new(&title);
    doc.metadata.info.creator = "user-platform pdf-generate".into();
    doc.metadata.info.producer = "printpdf".into();
    let regular = doc.add_font(&face_for(
        Face::Regular,
        &fonts.regular.original_bytes,
        &fonts.regular,
        &page.chars(Face::Regular),
    )?);
    let bold = doc.add_font(&face_for(
        Face::Bold,
        &fonts.bold.original_bytes,
        &fonts.bold,
        &page.chars(Face::Bold),
    )?);
    let mut pages = page.into_pages(&regular, &bold);
    if let (Some(avatar), Some(first)) = (avatar, pages.first_mut()) {
        // For a JPEG, printpdf gets blank pixels of the right size (cheap
        // to deflate); `save` puts the JPEG in their place.
        let pixels = match &avatar.data {
            AvatarData::Jpeg(_) => vec![0; (avatar.width * avatar.height * 3) as usize],
            AvatarData::Rgb(rgb) => rgb.clone(),
        };
        let image = doc.add_image(&RawImage {
            pixels: RawImageData::U8(pixels),
            width: avatar.width as usize,
            height: avatar.height as usize,
            data_format: RawImageFormat::RGB8,
            tag: Vec::new(),
        });
        first.ops.push(Op::UseXobject {
            id: image,
            transform: XObjectTransform {
                translate_x: Some(Mm(PAGE_W - MARGIN - AVATAR_MM).into()),
                translate_y: Some(Mm(AVATAR_BOTTOM).into()),
                // The image's pixels span AVATAR_MM at this resolution.
                dpi: Some(avatar.width as f32 * 25.4 / AVATAR_MM),
                ..Default::default()
            },
        });
    }
    let doc = doc.with_pages(pages);
    save(doc, avatar)
}

/// How hard streams are deflated: level 6, not the level 9 that lopdf's
/// `compress` uses. On this document (fonts are most of it) 9 costs about
/// four times the time of 6 for a file a few percent smaller.
const DEFLATE_LEVEL: u32 = 6;

fn deflate(bytes: &[u8]) -> Result<Vec<u8>, RenderError> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(bytes.len() / 2),
        flate2::Compression::new(DEFLATE_LEVEL),
    );
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|_| RenderError("a stream did not compress"))
}

/// Puts the JPEG in place of the raw RGB stream printpdf wrote for the
/// image of that size: the same pixels, a few KB instead of ~50 KB to deflate.
fn embed_jpeg(doc: &mut lopdf::Document, width: u32, height: u32, jpeg: &[u8]) {
    let (w, h) = (i64::from(width), i64::from(height));
    for object in doc.objects.values_mut() {
        if let lopdf::Object::Stream(stream) = object {
            let dict = &stream.dict;
            let is_our_image = dict.get(b"Subtype").and_then(|v| v.as_name()).ok()
                == Some(b"Image".as_slice())
                && dict.get(b"Width").and_then(|v| v.as_i64()).ok() == Some(w)
                && dict.get(b"Height").and_then(|v| v.as_i64()).ok() == Some(h);
            if is_our_image {
                stream.dict.set("Filter", "DCTDecode");
                stream.dict.remove(b"DecodeParms");
                stream.set_content(jpeg.to_vec());
                stream.allows_compression = false;
                return;
            }
        }
    }
}

/// Serialises through printpdf's lopdf document, compressing the streams
/// ourselves (printpdf's `optimize` always deflates at level 9).
fn save(doc: &PdfDocument, avatar: Option<&AvatarPixels>) -> Result<Vec<u8>, RenderError> {
    let mut warnings = Vec::new();
    let options = PdfSaveOptions {
        optimize: false,
        ..PdfSaveOptions::default()
    };
    let mut lopdf = printpdf::to_lopdf_doc(doc, &options, &mut warnings);
    if let Some(AvatarPixels {
        data: AvatarData::Jpeg(jpeg),
        width,
        height,
    }) = avatar
    {
        embed_jpeg(&mut lopdf, *width, *height, jpeg);
    }
    let prepared = [prepared(Face::Regular), prepared(Face::Bold)];
    for object in lopdf.objects.values_mut() {
        if let lopdf::Object::Stream(stream) = object
            && stream.allows_compression
            && stream.dict.get(b"Filter").is_err()
        {
            // A prepared font program was deflated once, at preparation.
            let compressed =
                match prepared.iter().flatten().find(|p| {
                    p.program.len() == stream.content.len() && p.program == stream.content
                }) {
                    Some(p) => p.deflated.clone(),
                    None => deflate(&stream.content)?,
                };
            if compressed.len() < stream.content.len() {
                stream.dict.set("Filter", "FlateDecode");
                stream.set_content(compressed);
            }
        }
    }
    let mut out = Vec::new();
    lopdf
        .save_to(&mut out)
        .map_err(|_| RenderError("the PDF did not serialise"))?;
    Ok(out)
}

/// The regular face, for tests of the wrapping.
#[doc(hidden)]
pub fn wrap_test_font() -> &'static ParsedFont {
    &fonts().expect("embedded fonts parse").regular
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the binary carries inflates to the published fonts, byte for byte.
    #[test]
    fn embedded_faces_inflate_to_the_published_files() {
        for (deflated, file) in [
            (REGULAR_DEFLATED, "fonts/DejaVuSans.ttf"),
            (BOLD_DEFLATED, "fonts/DejaVuSans-Bold.ttf"),
        ] {
            let published = std::fs::read(file).unwrap();
            assert!(
                deflated.len() < published.len() * 6 / 10,
                "{file} is not compressed"
            );
            assert!(inflate(deflated).unwrap() == published, "{file} differs");
        }
        assert!(inflate(b"not deflate data").is_none());
    }
}
