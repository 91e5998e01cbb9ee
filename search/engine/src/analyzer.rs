//! The analyzer contract: how text becomes terms, at index time and at
//! query time, on every backend.
//!
//! - Text is normalised first: full-width ASCII (`ＡＢＣ１２３`) becomes
//!   half-width and Latin letters lower case, so `Ｃ-2026` and `c-2026` are the
//!   same terms.
//! - A run of Han characters is segmented by jieba without HMM (the
//!   dictionary only, so a segmentation never depends on a statistical
//!   guess): every word of the plain cut is a term at its own position, and
//!   search mode's shorter dictionary words inside it (`助餐` and `补贴` inside
//!   `助餐补贴`) are terms at the same position. A query is cut the plain way,
//!   so a query word matches a document whose cut kept it whole or split it
//!   further into words the dictionary knows.
//! - A run of letters and digits (a case number, a credit code, a username,
//!   a year) is one term; anything else (spaces, punctuation, `-`, `.`)
//!   separates terms. `C-2026-000123` is three terms at consecutive
//!   positions, so the phrase `2026-000123` finds it.
//! - A name may also be given pinyin keys ([`pinyin_keys`]): the syllables
//!   run together and their initials (`zhucanbutie`, `zcbt`), each one term.
//!
//! The Meilisearch backend sends the same fields and keys; its own Chinese
//! segmentation (also jieba) splits long words differently, so recall is
//! specified by fixture queries both backends must answer
//! (`tests/recall.rs`), not by identical term lists.

use std::sync::{Arc, OnceLock};

use jieba_rs::Jieba;

/// One term of analysed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The normalised term.
    pub text: String,
    /// Its position: consecutive words have consecutive positions; shorter
    /// words inside a word share the word's position.
    pub position: usize,
    /// Byte offset in the original text where it starts.
    pub start: usize,
    /// Byte offset in the original text where it ends.
    pub end: usize,
}

/// Where one term of analysed text lies: its text is a range of the
/// normalised text ([`Analysed::text_of`]), so analysing allocates nothing
/// per term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The term's bytes in the normalised text.
    pub text: std::ops::Range<usize>,
    /// As [`Term::position`].
    pub position: usize,
    /// As [`Term::start`]: in the original text.
    pub start: usize,
    /// As [`Term::end`]: in the original text.
    pub end: usize,
}

/// Analysed text: the normalised text and where each term lies in it.
#[derive(Debug, Clone)]
pub struct Analysed<'a> {
    normalised: std::borrow::Cow<'a, str>,
    spans: Vec<Span>,
}

impl Analysed<'_> {
    /// The terms, in order.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// The text of `span`, normalised.
    pub fn text_of(&self, span: &Span) -> &str {
        self.normalised.get(span.text.clone()).unwrap_or_default()
    }

    /// The terms with their texts.
    pub fn into_terms(self) -> Vec<Term> {
        self.spans
            .iter()
            .map(|span| Term {
                text: self.text_of(span).to_owned(),
                position: span.position,
                start: span.start,
                end: span.end,
            })
            .collect()
    }
}

/// The analyzer (cheap to clone: the jieba dictionary is shared).
#[derive(Clone)]
pub struct Analyzer {
    jieba: Arc<Jieba>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Analyzer")
    }
}

impl Default for Analyzer {
    fn default() -> Analyzer {
        Analyzer::shared()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Han,
    Word,
    Separator,
}

fn class(c: char) -> Class {
    if is_han(c) {
        Class::Han
    } else if c.is_ascii() {
        if c.is_ascii_alphanumeric() {
            Class::Word
        } else {
            Class::Separator
        }
    } else if is_cjk_punctuation(c) {
        // The punctuation of Chinese text, answered without the Unicode
        // tables (`is_alphanumeric` looks in two).
        Class::Separator
    } else if c.is_alphanumeric() {
        Class::Word
    } else {
        Class::Separator
    }
}

/// Punctuation and symbols common in Chinese text, none of them letters or
/// digits (`〃` but not `々` or `〇`; full-width signs but not full-width
/// letters and digits; dashes, quotes and ellipses).
fn is_cjk_punctuation(c: char) -> bool {
    matches!(c,
        '\u{3000}'..='\u{3004}'
            | '\u{3008}'..='\u{3020}'
            | '\u{FF01}'..='\u{FF0F}'
            | '\u{FF1A}'..='\u{FF20}'
            | '\u{2010}'..='\u{2027}')
}

/// Whether normalising `c` can change a term or where jieba splits: a
/// letter or digit that changes (`Ａ`, `Z`, `１`), or a sign that becomes
/// one jieba keeps inside a word (`．` → `.`, `－` → `-`). Full-width
/// punctuation that stays a separator either way (`，` → `,`) does not, so
/// most Chinese text is analysed as it is, without a normalised copy.
fn normalising_matters(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_uppercase();
    }
    if is_han(c)
        || is_cjk_punctuation(c)
            && !matches!(
                c,
                '\u{FF03}' | '\u{FF05}' | '\u{FF06}' | '\u{FF0B}' | '\u{FF0D}' | '\u{FF0E}'
            )
    {
        return false;
    }
    let n = normalise(c);
    n != c
        && (n.is_alphanumeric()
            || c.is_alphanumeric()
            || matches!(n, '+' | '#' | '&' | '.' | '_' | '%' | '-'))
}

/// Whether any character of `text` needs normalising
/// ([`normalising_matters`]), answered byte by byte for ASCII and for the
/// Han characters U+5000–U+9FFF (UTF-8 lead bytes E5–E9, three bytes
/// each: nearly all of Chinese text), which never do.
fn needs_normalising(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b < 0x80 {
            if b.is_ascii_uppercase() {
                return true;
            }
            i += 1;
        } else if (0xE5..=0xE9).contains(&b) {
            i += 3;
        } else {
            let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
                return false;
            };
            if normalising_matters(c) {
                return true;
            }
            i += c.len_utf8();
        }
    }
    false
}

/// Whether every character of `word` is a Han character ([`is_han`]),
/// answered by the lead byte for U+5000–U+9FFF (E5–E9), all of them Han.
fn all_han(word: &str) -> bool {
    let bytes = word.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if (0xE5..=0xE9).contains(&b) {
            i += 3;
            continue;
        }
        match word.get(i..).and_then(|rest| rest.chars().next()) {
            Some(c) if is_han(c) => i += c.len_utf8(),
            _ => return false,
        }
    }
    true
}

/// Whether `c` is a Han character (CJK unified ideographs, extension A and
/// the compatibility block; the supplementary-plane extensions too).
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// Full-width ASCII to half-width, Latin to lower case; one character in,
/// one character out (so offsets map back one to one).
fn normalise(c: char) -> char {
    // Most characters are ASCII or Han: answered without the Unicode
    // case tables (a lookup per character is a third of the analysis).
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    if is_han(c) {
        return c;
    }
    let c = match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    };
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else if c.is_uppercase() {
        c.to_lowercase().next().unwrap_or(c)
    } else {
        c
    }
}

/// `text` normalised as the analyzer normalises it (full-width ASCII to
/// half-width, Latin to lower case): what the Meilisearch backend sends as
/// query text and keywords, since its own normalisation keeps full-width
/// letters apart.
pub fn normalise_text(text: &str) -> String {
    text.chars().map(normalise).collect()
}

impl Analyzer {
    /// The process-wide analyzer (the dictionary loads once, ~0.1 s).
    pub fn shared() -> Analyzer {
        static JIEBA: OnceLock<Arc<Jieba>> = OnceLock::new();
        Analyzer {
            jieba: JIEBA.get_or_init(|| Arc::new(Jieba::new())).clone(),
        }
    }

    /// The terms of `text`, for indexing: words and the shorter dictionary
    /// words inside them.
    pub fn index_terms(&self, text: &str) -> Vec<Term> {
        self.analyse(text, true).into_terms()
    }

    /// [`Analyzer::index_terms`] as spans of the normalised text, for a
    /// tokenizer that copies each into a buffer it reuses.
    pub fn index_spans<'a>(&self, text: &'a str) -> Analysed<'a> {
        self.analyse(text, true)
    }

    /// The terms of `text`, for a query: words only, one per position.
    pub fn query_terms(&self, text: &str) -> Vec<Term> {
        self.analyse(text, false).into_terms()
    }

    fn analyse<'a>(&self, text: &'a str, with_parts: bool) -> Analysed<'a> {
        self.analyse_as(text, with_parts, needs_normalising(text))
    }

    /// Analyses `text`, normalised when `matters` says a character needs it.
    #[cfg(test)]
    fn analyse_normalising<'a>(
        &self,
        text: &'a str,
        with_parts: bool,
        matters: impl Fn(char) -> bool,
    ) -> Analysed<'a> {
        self.analyse_as(text, with_parts, text.chars().any(matters))
    }

    /// Analyses `text`, normalised first when `changed`.
    fn analyse_as<'a>(&self, text: &'a str, with_parts: bool, changed: bool) -> Analysed<'a> {
        // Normalised one character for one, so jieba's character offsets
        // are the original's too; most text needs no change, and then its
        // byte offsets are the original's as well.
        let normalised: std::borrow::Cow<'_, str> = if changed {
            std::borrow::Cow::Owned(text.chars().map(normalise).collect())
        } else {
            std::borrow::Cow::Borrowed(text)
        };
        let offsets: Vec<usize> = if changed {
            text.char_indices()
                .map(|(b, _)| b)
                .chain([text.len()])
                .collect()
        } else {
            Vec::new()
        };
        let byte_range = |t: &jieba_rs::Token<'_>| -> (usize, usize) {
            if changed {
                (offsets[t.start], offsets[t.end])
            } else {
                (t.byte_start, t.byte_end)
            }
        };
        // One jieba pass over the whole text (it splits at punctuation
        // itself; a pass per run costs its setup per run).
        let found = if with_parts {
            self.jieba.cut_for_search(&normalised, false)
        } else {
            self.jieba.cut(&normalised, false)
        };
        // Search mode emits a word's shorter dictionary words just before
        // the word itself: walking backwards, a token inside the last word
        // seen is one of its parts; any other token is a word.
        let mut part_of = vec![usize::MAX; found.len()];
        let mut word: Option<(usize, usize, usize)> = None;
        for (i, t) in found.iter().enumerate().rev() {
            match word {
                Some((start, end, w)) if start <= t.start && t.end <= end && with_parts => {
                    part_of[i] = w;
                }
                _ => word = Some((t.start, t.end, i)),
            }
        }
        let mut terms = Vec::with_capacity(found.len());
        let mut position = 0;
        for (i, t) in found.iter().enumerate() {
            if part_of[i] != usize::MAX {
                continue;
            }
            if all_han(t.word) {
                let (start, end) = byte_range(t);
                terms.push(Span {
                    text: t.byte_start..t.byte_end,
                    position,
                    start,
                    end,
                });
                // Its parts come just before it: same position, after it,
                // so positions never go back.
                let mut j = i;
                while j > 0 && part_of[j - 1] == i {
                    j -= 1;
                    let part = &found[j];
                    if all_han(part.word) {
                        let (start, end) = byte_range(part);
                        terms.push(Span {
                            text: part.byte_start..part.byte_end,
                            position,
                            start,
                            end,
                        });
                    }
                }
                position += 1;
                continue;
            }
            // Letters and digits (and any Han inside) by class: every run
            // of one class is a term; punctuation and spaces separate.
            let mut run_start: Option<(usize, usize, Class)> = None;
            let chars = t.word.char_indices().chain([(t.word.len(), ' ')]);
            for (k, (b, c)) in chars.enumerate() {
                let kind = if b == t.word.len() {
                    Class::Separator
                } else {
                    class(c)
                };
                if let Some((from_char, from_byte, run)) = run_start {
                    if run == kind {
                        continue;
                    }
                    if run != Class::Separator {
                        let (start, end) = if changed {
                            (offsets[t.start + from_char], offsets[t.start + k])
                        } else {
                            (t.byte_start + from_byte, t.byte_start + b)
                        };
                        terms.push(Span {
                            text: t.byte_start + from_byte..t.byte_start + b,
                            position,
                            start,
                            end,
                        });
                        position += 1;
                    }
                }
                run_start = Some((k, b, kind));
            }
        }
        drop(found);
        Analysed {
            normalised,
            spans: terms,
        }
    }
}

/// Pinyin keys of a Chinese name: the plain syllables run together, and
/// their initials (`社区长者食堂助餐补贴` → `shequzhangzheshitangzhucanbutie`,
/// `sqzzstzcbt`); for a name of several words also each word's keys
/// (`助餐补贴` → `zhucanbutie`, `zcbt`), so the short name a resident
/// types finds the long official one. Characters without a reading are left
/// out; a name with no Han characters has no keys.
pub fn pinyin_keys(name: &str, analyzer: &Analyzer) -> Vec<String> {
    fn keys_of(text: &str, out: &mut Vec<String>) {
        use pinyin::ToPinyin;
        let mut full = String::new();
        let mut initials = String::new();
        for syllable in text.to_pinyin().flatten() {
            full.push_str(syllable.plain());
            initials.push_str(syllable.first_letter());
        }
        for key in [full, initials] {
            if key.chars().count() >= 2 && !out.contains(&key) {
                out.push(key);
            }
        }
    }
    let mut keys = Vec::new();
    keys_of(name, &mut keys);
    let words: Vec<Term> = analyzer.query_terms(name);
    // Every run of two or more consecutive words, so `助餐补贴` (two words
    // inside a longer name) gets keys of its own.
    for from in 0..words.len() {
        for to in from + 2..=words.len() {
            if from == 0 && to == words.len() {
                continue;
            }
            let text: String = words[from..to].iter().map(|t| t.text.as_str()).collect();
            keys_of(&text, &mut keys);
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(terms: &[Term]) -> Vec<&str> {
        terms.iter().map(|t| t.text.as_str()).collect()
    }

    /// `count` texts of up to `longest` characters drawn from `alphabet`
    /// (xorshift from `seed`, so a failure repeats).
    fn random_texts(alphabet: &str, seed: u64, count: usize, longest: u64) -> Vec<String> {
        let alphabet: Vec<char> = alphabet.chars().collect();
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let texts: Vec<String> = (0..count)
            .map(|_| {
                let len = (next() % longest) as usize;
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            })
            .collect();
        // Most texts say something (an empty one tests nothing).
        let empty = texts.iter().filter(|t| t.is_empty()).count();
        assert!(empty * 10 < count, "{empty} of {count} texts empty");
        texts
    }

    #[test]
    fn codes_split_at_connectors_and_full_width_is_half_width() {
        let a = Analyzer::shared();
        let terms = a.query_terms("Ｃ-2026-000123 zhang.wei");
        assert_eq!(texts(&terms), ["c", "2026", "000123", "zhang", "wei"]);
        assert_eq!(terms[1].position, 1);
        // Offsets point into the original text (full-width is 3 bytes).
        assert_eq!(
            &"Ｃ-2026-000123 zhang.wei"[terms[0].start..terms[0].end],
            "Ｃ"
        );
    }

    #[test]
    fn words_inside_a_word_share_its_position() {
        let a = Analyzer::shared();
        let query = a.query_terms("助餐补贴申请");
        let index = a.index_terms("助餐补贴申请");
        for q in &query {
            assert!(
                index
                    .iter()
                    .any(|t| t.text == q.text && t.position == q.position)
            );
        }
        // Every term's offsets cover its text.
        for t in &index {
            assert_eq!(&"助餐补贴申请"[t.start..t.end], t.text);
        }
    }

    #[test]
    fn digits_and_han_are_separate_terms() {
        let a = Analyzer::shared();
        let terms = a.query_terms("2026年申请");
        assert_eq!(terms[0].text, "2026");
        assert!(terms[1..].iter().all(|t| t.text.chars().all(is_han)));
    }

    /// Any text at all (what a search box receives): no panic, offsets on
    /// character boundaries covering the term's own characters, positions
    /// that never go back.
    #[test]
    fn any_text_analyses_into_terms_that_point_into_it() {
        let a = Analyzer::shared();
        let alphabet = "助餐补贴申请人张伟长者食堂 　ＡＢｃ１２-_.\"“”'\\/0123abcXYZé\u{0}\u{200b}\u{1F600}𠀀\r\n，。";
        for text in random_texts(alphabet, 0x1234_5678, 3_000, 40) {
            for terms in [a.index_terms(&text), a.query_terms(&text)] {
                let mut last = 0;
                for t in &terms {
                    assert!(
                        text.is_char_boundary(t.start) && text.is_char_boundary(t.end),
                        "{text:?}"
                    );
                    assert!(t.start < t.end && !t.text.is_empty(), "{text:?}: {t:?}");
                    assert!(t.position >= last, "{text:?}");
                    last = t.position;
                }
            }
        }
    }

    /// Text whose only characters to normalise are separators either way
    /// is analysed without a normalised copy: the terms, positions and
    /// offsets are exactly those of normalising every character.
    #[test]
    fn skipping_normalisation_that_cannot_matter_changes_no_term() {
        let a = Analyzer::shared();
        let alphabet = "助餐补贴申请人张伟长者食堂，。、（）：；！？“”《》【】…—　　 ,.-+#&_%ＡＢｃ１２．－＋＃＆＿％／［＼］＾｀｛｜｝～＠＜＝＞abcXYZ0123éÉΣ\r\n々〇";
        let everything = |c: char| normalise(c) != c;
        for text in random_texts(alphabet, 0x2545_f491_4f6c_dd1d, 5_000, 48) {
            for with_parts in [true, false] {
                assert_eq!(
                    a.analyse(&text, with_parts).into_terms(),
                    a.analyse_normalising(&text, with_parts, everything)
                        .into_terms(),
                    "{text:?}"
                );
            }
        }
    }

    /// The byte-by-byte shortcuts answer as the character tests do, for
    /// every character alone and between Han characters and ASCII.
    #[test]
    fn byte_shortcuts_answer_as_the_character_tests() {
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            for text in [
                c.to_string(),
                format!("助{c}a"),
                format!("A{c}餐"),
                format!("{c}補贴"),
            ] {
                assert_eq!(
                    needs_normalising(&text),
                    text.chars().any(normalising_matters),
                    "{text:?}"
                );
                assert_eq!(all_han(&text), text.chars().all(is_han), "{text:?}");
            }
        }
    }

    /// The shortcut for Chinese punctuation answers as the Unicode tables
    /// do, for every character.
    #[test]
    fn chinese_punctuation_is_never_a_letter_or_digit() {
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            if is_cjk_punctuation(c) {
                assert!(!c.is_alphanumeric() && !is_han(c), "{c:?}");
            }
        }
    }

    #[test]
    fn pinyin_keys_cover_the_name_and_its_inner_words() {
        let a = Analyzer::shared();
        let keys = pinyin_keys("社区长者食堂助餐补贴", &a);
        assert!(keys.contains(&"zcbt".to_owned()), "{keys:?}");
        assert!(keys.contains(&"zhucanbutie".to_owned()), "{keys:?}");
        assert!(pinyin_keys("ABC", &a).is_empty());
    }
}
