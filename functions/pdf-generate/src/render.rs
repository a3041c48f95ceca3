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

const REGULAR_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const BOLD_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

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

/// An avatar's pixels, 8-bit RGB, row by row.
pub struct AvatarPixels {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// The two faces, parsed once per process (a few milliseconds; the first
/// PDF of a cold start pays it).
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
                regular: ParsedFont::from_bytes(REGULAR_TTF, 0, &mut warnings)?,
                bold: ParsedFont::from_bytes(BOLD_TTF, 0, &mut warnings)?,
            })
        })
        .as_ref()
        .ok_or(RenderError("the embedded fonts did not parse"))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(&'static str);

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
    let regular = doc.add_font(&subset(
        REGULAR_TTF,
        &fonts.regular,
        &page.chars(Face::Regular),
    )?);
    let bold = doc.add_font(&subset(BOLD_TTF, &fonts.bold, &page.chars(Face::Bold))?);
    let mut pages = page.into_pages(&regular, &bold);
    if let (Some(avatar), Some(first)) = (avatar, pages.first_mut()) {
        let image = doc.add_image(&RawImage {
            pixels: RawImageData::U8(avatar.rgb.clone()),
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
    let mut warnings = Vec::new();
    Ok(doc
        .with_pages(pages)
        .save(&PdfSaveOptions::default(), &mut warnings))
}

/// The regular face, for tests of the wrapping.
#[doc(hidden)]
pub fn wrap_test_font() -> &'static ParsedFont {
    &fonts().expect("embedded fonts parse").regular
}
