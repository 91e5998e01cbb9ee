//! What a seal looks like: a red ring, a five-pointed star, and the
//! organization's name along the upper arc (the form of GA 241 round
//! official seals, 42 mm across). One geometry, two renderings: the SVG kept
//! in the seal (its picture, SES_ESPictrueInfo) and the vector drawing on the
//! page.

use std::fmt::Write as _;

/// Seal red (朱红).
pub(crate) const RED: (u8, u8, u8) = (0xe6, 0x00, 0x12);
/// Diameter in millimetres.
pub(crate) const DIAMETER_MM: f32 = 42.0;
/// The ring's centre line radius and width.
pub(crate) const RING_RADIUS_MM: f32 = 20.3;
pub(crate) const RING_WIDTH_MM: f32 = 1.2;
/// The star's outer and inner radius.
pub(crate) const STAR_OUTER_MM: f32 = 6.8;
pub(crate) const STAR_INNER_MM: f32 = 2.6;
/// The name's glyph size and the radius of its baseline.
pub(crate) const TEXT_SIZE_MM: f32 = 5.6;
/// Seal lettering is condensed (长宋): each glyph three quarters wide, so a
/// bureau's full name fits the arc without touching.
pub(crate) const TEXT_WIDTH_SCALE: f32 = 0.75;
pub(crate) const BASELINE_RADIUS_MM: f32 = 13.6;
/// The most of the circle the name may cover, and the widest spacing.
const MAX_SPAN_DEGREES: f32 = 250.0;
const MAX_STEP_DEGREES: f32 = 30.0;

/// Each character of the name with its angle in degrees, clockwise from
/// the top (negative: left of the top).
pub(crate) fn name_angles(name: &str) -> Vec<(char, f32)> {
    let chars: Vec<char> = name.chars().filter(|c| !c.is_whitespace()).collect();
    let n = chars.len();
    if n <= 1 {
        return chars.into_iter().map(|c| (c, 0.0)).collect();
    }
    let step = (MAX_SPAN_DEGREES / (n - 1) as f32).min(MAX_STEP_DEGREES);
    let start = -step * (n - 1) as f32 / 2.0;
    chars
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c, start + step * i as f32))
        .collect()
}

/// The star's ten points around the centre, starting at the top.
pub(crate) fn star_points() -> Vec<(f32, f32)> {
    (0..10)
        .map(|i| {
            let radius = if i % 2 == 0 {
                STAR_OUTER_MM
            } else {
                STAR_INNER_MM
            };
            let angle = (i as f32 * 36.0).to_radians();
            (radius * angle.sin(), -radius * angle.cos())
        })
        .collect()
}

fn escape(c: char) -> String {
    match c {
        '<' => "&lt;".into(),
        '>' => "&gt;".into(),
        '&' => "&amp;".into(),
        '"' => "&quot;".into(),
        '\'' => "&apos;".into(),
        c => c.to_string(),
    }
}

/// The seal as an SVG document, millimetres as user units.
pub(crate) fn svg(name: &str) -> String {
    let (r, g, b) = RED;
    let colour = format!("#{r:02x}{g:02x}{b:02x}");
    let half = DIAMETER_MM / 2.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{DIAMETER_MM}mm\" height=\"{DIAMETER_MM}mm\" \
         viewBox=\"{} {} {DIAMETER_MM} {DIAMETER_MM}\">",
        -half, -half
    );
    let _ = write!(
        out,
        "<circle r=\"{RING_RADIUS_MM}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{RING_WIDTH_MM}\"/>"
    );
    let points: Vec<String> = star_points()
        .iter()
        .map(|(x, y)| format!("{x:.3},{y:.3}"))
        .collect();
    let _ = write!(
        out,
        "<polygon points=\"{}\" fill=\"{colour}\"/>",
        points.join(" ")
    );
    let _ = write!(
        out,
        "<g font-family=\"Noto Serif CJK SC,serif\" font-weight=\"bold\" font-size=\"{TEXT_SIZE_MM}\" \
         fill=\"{colour}\" text-anchor=\"middle\">"
    );
    for (c, angle) in name_angles(name) {
        let _ = write!(
            out,
            "<text transform=\"rotate({angle:.3}) translate(0 {:.3}) scale({TEXT_WIDTH_SCALE} 1)\">{}</text>",
            -BASELINE_RADIUS_MM,
            escape(c)
        );
    }
    out.push_str("</g></svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_spreads_over_at_most_the_span_and_is_symmetric() {
        let angles = name_angles("上海市浦东新区市场监督管理局");
        assert_eq!(angles.len(), 14);
        let first = angles[0].1;
        let last = angles[13].1;
        assert!((first + last).abs() < 1e-3);
        assert!((last - first - MAX_SPAN_DEGREES).abs() < 1e-3);
    }

    #[test]
    fn a_short_name_is_spaced_at_most_the_widest_step() {
        let angles = name_angles("民政局");
        assert_eq!(angles[1].1, 0.0);
        assert_eq!(angles[2].1, MAX_STEP_DEGREES);
    }

    #[test]
    fn the_svg_escapes_markup_in_a_name() {
        assert!(svg("A<B").contains("&lt;"));
        assert!(!svg("A<B").contains("<B"));
    }
}
