//! An official document rendered to PDF (krilla): A4, the margins, sizes
//! and line pitch of GB/T 9704-2012 (党政机关公文格式) — title centred in
//! 二号, document number in 三号, body in 三号 with 22 lines of 28
//! characters, the issuing authority and the date at the right of the last
//! page under the seal, page numbers "— n —" — with the Chinese fonts
//! embedded (subset). Pure: text in, bytes out.

use std::path::Path;
use std::sync::Arc;

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Transform};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};

use crate::text::{Block, DocumentText, SealPlacement};
use crate::{SealError, picture};

/// Points per millimetre.
const MM: f32 = 72.0 / 25.4;
const PAGE_WIDTH: f32 = 210.0 * MM;
const PAGE_HEIGHT: f32 = 297.0 * MM;
/// GB/T 9704: top margin 37 mm, left 28 mm, text block 156 × 225 mm.
const TOP: f32 = 37.0 * MM;
const LEFT: f32 = 28.0 * MM;
const TEXT_WIDTH: f32 = 156.0 * MM;
const TEXT_HEIGHT: f32 = 225.0 * MM;
/// 三号 (16 pt) shrunk so 28 characters fill the 156 mm line.
const BODY_SIZE: f32 = TEXT_WIDTH / 28.0;
/// 22 lines in the text block.
const LINE_PITCH: f32 = TEXT_HEIGHT / 22.0;
/// 二号.
const TITLE_SIZE: f32 = 22.0;
/// The face of Noto Serif CJK that is Simplified Chinese in the TTC.
const SC_FACE: u32 = 2;

/// The fonts a document is set in: Noto Serif CJK SC regular (body) and
/// bold (title, seal).
#[derive(Clone)]
pub struct Fonts {
    regular: Arc<Vec<u8>>,
    bold: Arc<Vec<u8>>,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts").finish_non_exhaustive()
    }
}

impl Fonts {
    /// Debian's and Ubuntu's `fonts-noto-cjk` directory.
    pub const DEFAULT_DIR: &'static str = "/usr/share/fonts/opentype/noto";

    /// Reads `NotoSerifCJK-Regular.ttc` and `NotoSerifCJK-Bold.ttc` from
    /// `dir` and checks that each has the Simplified Chinese face.
    pub fn load(dir: &Path) -> Result<Fonts, SealError> {
        let read = |file: &str| -> Result<Arc<Vec<u8>>, SealError> {
            let path = dir.join(file);
            let bytes = std::fs::read(&path).map_err(|e| {
                SealError::Fonts(format!(
                    "{}: {e}（请安装 fonts-noto-cjk / install fonts-noto-cjk）",
                    path.display()
                ))
            })?;
            skrifa::FontRef::from_index(&bytes, SC_FACE).map_err(|e| {
                SealError::Fonts(format!(
                    "{}: 没有简体中文字形 (no SC face): {e}",
                    path.display()
                ))
            })?;
            Ok(Arc::new(bytes))
        };
        Ok(Fonts {
            regular: read("NotoSerifCJK-Regular.ttc")?,
            bold: read("NotoSerifCJK-Bold.ttc")?,
        })
    }

    fn krilla(&self, bold: bool) -> Result<Font, SealError> {
        let data = if bold { &self.bold } else { &self.regular };
        Font::new(data.clone().into(), SC_FACE)
            .ok_or_else(|| SealError::Fonts("krilla cannot read the font".into()))
    }
}

struct Measure<'a> {
    charmap: skrifa::charmap::Charmap<'a>,
    metrics: skrifa::metrics::GlyphMetrics<'a>,
    size: f32,
}

impl<'a> Measure<'a> {
    fn new(bytes: &'a [u8], size: f32) -> Result<Measure<'a>, SealError> {
        let font = skrifa::FontRef::from_index(bytes, SC_FACE)
            .map_err(|e| SealError::Fonts(e.to_string()))?;
        Ok(Measure {
            charmap: font.charmap(),
            metrics: font.glyph_metrics(Size::new(size), LocationRef::default()),
            size,
        })
    }

    fn advance(&self, c: char) -> f32 {
        self.charmap
            .map(c)
            .and_then(|glyph| self.metrics.advance_width(glyph))
            .unwrap_or(self.size)
    }

    fn width(&self, text: &str) -> f32 {
        text.chars().map(|c| self.advance(c)).sum()
    }

    /// Breaks `text` into lines of at most `width` (the first `indent`
    /// narrower), between any two characters — Chinese has no spaces —
    /// except before closing punctuation, which hangs into the margin
    /// (避头点) rather than start a line.
    fn lines(&self, text: &str, width: f32, indent: f32) -> Vec<String> {
        const NO_LINE_START: &str = "，。、；：？！）》」』】”’…%,.;:?!)";
        let mut lines = Vec::new();
        for hard in text.split('\n') {
            let mut line = String::new();
            let mut used = if lines.is_empty() { indent } else { 0.0 };
            for c in hard.chars() {
                let advance = self.advance(c);
                if used + advance > width + 0.01 && !line.is_empty() && !NO_LINE_START.contains(c) {
                    lines.push(std::mem::take(&mut line));
                    used = 0.0;
                }
                line.push(c);
                used += advance;
            }
            lines.push(line);
        }
        lines
    }
}

fn red_fill() -> Fill {
    let (r, g, b) = picture::RED;
    Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }
}

fn black_fill() -> Fill {
    Fill {
        paint: rgb::Color::black().into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }
}

/// A circle of radius `r` around the origin from four cubic arcs.
fn circle(r: f32) -> Option<krilla::geom::Path> {
    const K: f32 = 0.552_284_8;
    let k = K * r;
    let mut path = PathBuilder::new();
    path.move_to(0.0, -r);
    path.cubic_to(k, -r, r, -k, r, 0.0);
    path.cubic_to(r, k, k, r, 0.0, r);
    path.cubic_to(-k, r, -r, k, -r, 0.0);
    path.cubic_to(-r, -k, -k, -r, 0.0, -r);
    path.close();
    path.finish()
}

/// Draws the seal centred at (`cx`, `cy`) in page space (y down).
fn draw_seal(
    surface: &mut Surface<'_>,
    fonts: &Fonts,
    name: &str,
    cx: f32,
    cy: f32,
) -> Result<(), SealError> {
    let bold = fonts.krilla(true)?;
    let measure = Measure::new(&fonts.bold, picture::TEXT_SIZE_MM * MM)?;
    surface.push_transform(&Transform::from_translate(cx, cy));
    surface.push_transform(&Transform::from_scale(MM, MM));
    // The seal is ink over the text it covers: multiply, so the signature
    // and date under it stay legible, as on paper.
    surface.push_blend_mode(krilla::blend::BlendMode::Multiply);
    let (r, g, b) = picture::RED;
    surface.set_fill(None);
    surface.set_stroke(Some(Stroke {
        paint: rgb::Color::new(r, g, b).into(),
        width: picture::RING_WIDTH_MM,
        ..Stroke::default()
    }));
    if let Some(ring) = circle(picture::RING_RADIUS_MM) {
        surface.draw_path(&ring);
    }
    surface.set_stroke(None);
    surface.set_fill(Some(red_fill()));
    let mut star = PathBuilder::new();
    for (i, (x, y)) in picture::star_points().into_iter().enumerate() {
        if i == 0 {
            star.move_to(x, y);
        } else {
            star.line_to(x, y);
        }
    }
    star.close();
    if let Some(star) = star.finish() {
        surface.draw_path(&star);
    }
    for (c, angle) in picture::name_angles(name) {
        let glyph = c.to_string();
        // Advances are measured in points; the surface is in millimetres.
        let half = measure.width(&glyph) / MM / 2.0;
        surface.push_transform(&Transform::from_rotate(angle));
        surface.push_transform(&Transform::from_translate(
            0.0,
            -picture::BASELINE_RADIUS_MM,
        ));
        surface.push_transform(&Transform::from_scale(picture::TEXT_WIDTH_SCALE, 1.0));
        surface.draw_text(
            Point::from_xy(-half, 0.0),
            bold.clone(),
            picture::TEXT_SIZE_MM,
            &glyph,
            false,
            TextDirection::Auto,
        );
        surface.pop();
        surface.pop();
        surface.pop();
    }
    surface.pop();
    surface.pop();
    surface.pop();
    Ok(())
}

enum Item {
    Text {
        x: f32,
        text: String,
        size: f32,
        bold: bool,
    },
    Gap,
}

/// Renders `text`, sealed with the picture of the seal `seal_name` over the
/// authority and date. Returns the PDF and where the seal is.
pub fn render(
    text: &DocumentText,
    fonts: &Fonts,
    seal_name: &str,
) -> Result<(Vec<u8>, SealPlacement), SealError> {
    let body = Measure::new(&fonts.regular, BODY_SIZE)?;
    let title = Measure::new(&fonts.bold, TITLE_SIZE)?;
    // Lay the flow out as (line, height) items, then cut it into pages.
    let mut items: Vec<(Item, f32)> = Vec::new();
    for line in title.lines(&text.title, TEXT_WIDTH, 0.0) {
        let x = LEFT + (TEXT_WIDTH - title.width(&line)) / 2.0;
        items.push((
            Item::Text {
                x,
                text: line,
                size: TITLE_SIZE,
                bold: true,
            },
            LINE_PITCH * 1.3,
        ));
    }
    if !text.number.is_empty() {
        let x = LEFT + (TEXT_WIDTH - body.width(&text.number)) / 2.0;
        items.push((
            Item::Text {
                x,
                text: text.number.clone(),
                size: BODY_SIZE,
                bold: false,
            },
            LINE_PITCH,
        ));
    }
    items.push((Item::Gap, LINE_PITCH * 0.5));
    for block in &text.body {
        let (content, indent) = match block {
            Block::Paragraph(p) => (p.as_str(), BODY_SIZE * 2.0),
            Block::Line(l) => (l.as_str(), 0.0),
        };
        for (i, line) in body
            .lines(content, TEXT_WIDTH, indent)
            .into_iter()
            .enumerate()
        {
            let x = if i == 0 { LEFT + indent } else { LEFT };
            items.push((
                Item::Text {
                    x,
                    text: line,
                    size: BODY_SIZE,
                    bold: false,
                },
                LINE_PITCH,
            ));
        }
    }
    // The signature block: two blank lines, then the authority and the
    // date, right-aligned with four characters of right margin (GB/T 9704
    // 7.3.5.2), kept together on one page with room for the seal.
    let right = LEFT + TEXT_WIDTH - BODY_SIZE * 4.0;
    let authority_x = right - body.width(&text.authority);
    let date_x = right - body.width(&text.date);
    let signature_block = LINE_PITCH * 4.0;

    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(text.title.clone())
            .creator("Civitas".into())
            .language("zh-CN".into()),
    );
    let regular = fonts.krilla(false)?;
    let bold = fonts.krilla(true)?;
    let small = BODY_SIZE * 0.62;
    let mut pages: Vec<Vec<(Item, f32)>> = vec![Vec::new()];
    let mut used = 0.0;
    for (item, height) in items {
        if used + height > TEXT_HEIGHT {
            pages.push(Vec::new());
            used = 0.0;
        }
        used += height;
        if let Some(page) = pages.last_mut() {
            page.push((item, height));
        }
    }
    if used + signature_block > TEXT_HEIGHT {
        pages.push(Vec::new());
    }
    let count = pages.len();
    let placement = SealPlacement { page: count - 1 };
    for (number, page_items) in pages.into_iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
            .ok_or_else(|| SealError::Render("page size".into()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        surface.set_fill(Some(black_fill()));
        let mut y = TOP;
        for (item, height) in page_items {
            if let Item::Text {
                x,
                text,
                size,
                bold: is_bold,
            } = item
            {
                let font = if is_bold {
                    bold.clone()
                } else {
                    regular.clone()
                };
                surface.draw_text(
                    Point::from_xy(x, y + size * 0.88),
                    font,
                    size,
                    &text,
                    false,
                    TextDirection::Auto,
                );
            }
            y += height;
        }
        if number + 1 == count {
            let authority_y = y + LINE_PITCH * 2.0;
            let date_y = authority_y + LINE_PITCH;
            surface.draw_text(
                Point::from_xy(authority_x, authority_y + BODY_SIZE * 0.88),
                regular.clone(),
                BODY_SIZE,
                &text.authority,
                false,
                TextDirection::Auto,
            );
            surface.draw_text(
                Point::from_xy(date_x, date_y + BODY_SIZE * 0.88),
                regular.clone(),
                BODY_SIZE,
                &text.date,
                false,
                TextDirection::Auto,
            );
            if !text.note.is_empty() {
                for (i, line) in Measure::new(&fonts.regular, small)?
                    .lines(&text.note, TEXT_WIDTH, 0.0)
                    .into_iter()
                    .enumerate()
                {
                    surface.draw_text(
                        Point::from_xy(
                            LEFT,
                            TOP + TEXT_HEIGHT - small * 2.2 + i as f32 * small * 1.4,
                        ),
                        regular.clone(),
                        small,
                        &line,
                        false,
                        TextDirection::Auto,
                    );
                }
            }
            // 上不压正文、下要骑年盖月: centred over the date, its lower
            // part over the date line.
            let cx = (date_x + right) / 2.0;
            let cy = date_y - LINE_PITCH * 0.3;
            draw_seal(&mut surface, fonts, seal_name, cx, cy)?;
            surface.set_fill(Some(black_fill()));
        }
        let folio = format!("— {} —", number + 1);
        let folio_x = (PAGE_WIDTH - body.width(&folio) * 0.875) / 2.0;
        surface.draw_text(
            Point::from_xy(folio_x, TOP + TEXT_HEIGHT + 12.0 * MM),
            regular.clone(),
            BODY_SIZE * 0.875,
            &folio,
            false,
            TextDirection::Auto,
        );
        surface.finish();
        page.finish();
    }
    let pdf = document
        .finish()
        .map_err(|e| SealError::Render(format!("{e:?}")))?;
    Ok((pdf, placement))
}
