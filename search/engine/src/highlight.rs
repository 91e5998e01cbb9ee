//! Fragments around matches, the same on both backends.

use std::collections::BTreeSet;
use std::ops::Range;

use crate::Highlight;
use crate::analyzer::Analyzer;

/// The longest fragment shown (characters).
pub(crate) const FRAGMENT_CHARS: usize = 80;

/// A fragment of `text` around the first of `matches` (byte ranges into
/// `text`), at most [`FRAGMENT_CHARS`] characters, with the matches inside
/// it as character ranges. `None` when nothing matched.
pub(crate) fn fragment(field: &str, text: &str, matches: &[Range<usize>]) -> Option<Highlight> {
    let mut matches: Vec<Range<usize>> = matches
        .iter()
        .filter(|r| r.start < r.end && r.end <= text.len())
        .filter(|r| text.is_char_boundary(r.start) && text.is_char_boundary(r.end))
        .cloned()
        .collect();
    matches.sort_by_key(|r| r.start);
    let first = matches.first()?;
    // Char index of every byte offset we need.
    let char_at = |byte: usize| text[..byte].chars().count();
    let total = text.chars().count();
    let first_char = char_at(first.start);
    // Start a little before the first match, so it reads in context.
    let start_char = first_char
        .saturating_sub(10)
        .min(total.saturating_sub(FRAGMENT_CHARS));
    let end_char = (start_char + FRAGMENT_CHARS).min(total);
    let fragment: String = text
        .chars()
        .skip(start_char)
        .take(end_char - start_char)
        .collect();
    let mut ranges: Vec<[usize; 2]> = Vec::new();
    for m in &matches {
        let (s, e) = (char_at(m.start), char_at(m.end));
        if s >= start_char && e <= end_char {
            let range = [s - start_char, e - start_char];
            // Overlapping matches (a word and a word inside it) merge.
            match ranges.last_mut() {
                Some(last) if range[0] <= last[1] => last[1] = last[1].max(range[1]),
                _ => ranges.push(range),
            }
        }
    }
    Some(Highlight {
        field: field.to_owned(),
        text: fragment,
        ranges,
    })
}

/// Highlights of the title and of the first body text that matched.
pub(crate) fn highlights(
    analyzer: &Analyzer,
    terms: &BTreeSet<String>,
    title: &str,
    bodies: &[String],
) -> Vec<crate::Highlight> {
    if terms.is_empty() {
        return Vec::new();
    }
    let matches = |text: &str| -> Vec<std::ops::Range<usize>> {
        analyzer
            .index_terms(text)
            .into_iter()
            .filter(|t| terms.contains(&t.text))
            .map(|t| t.start..t.end)
            .collect()
    };
    let mut out = Vec::new();
    if let Some(h) = fragment("title", title, &matches(title)) {
        out.push(h);
    }
    for body in bodies {
        if let Some(h) = fragment("body", body, &matches(body)) {
            out.push(h);
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fragment_keeps_its_matches_in_character_offsets() {
        let text = "申请人张伟申请助餐补贴";
        let start = text.find("助餐").unwrap_or_default();
        let matched = [std::ops::Range {
            start,
            end: start + "助餐补贴".len(),
        }];
        let h = fragment("body", text, &matched).unwrap_or_else(|| panic!("a fragment"));
        assert_eq!(h.text, text);
        assert_eq!(h.ranges, vec![[7, 11]]);
        assert!(fragment("body", text, &[]).is_none());
    }
}
