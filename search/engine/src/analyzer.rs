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
    } else if c.is_alphanumeric() {
        Class::Word
    } else {
        Class::Separator
    }
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
    let c = match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    };
    if c.is_uppercase() {
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
        self.analyse(text, true)
    }

    /// The terms of `text`, for a query: words only, one per position.
    pub fn query_terms(&self, text: &str) -> Vec<Term> {
        self.analyse(text, false)
    }

    fn analyse(&self, text: &str, with_parts: bool) -> Vec<Term> {
        let mut terms = Vec::new();
        let mut position = 0;
        // Runs of one class, over (original byte offset, normalised char).
        let chars: Vec<(usize, char)> = text
            .char_indices()
            .map(|(i, c)| (i, normalise(c)))
            .collect();
        let mut i = 0;
        while i < chars.len() {
            let kind = class(chars[i].1);
            let mut j = i + 1;
            while j < chars.len() && class(chars[j].1) == kind {
                j += 1;
            }
            let end_byte = chars.get(j).map_or(text.len(), |(b, _)| *b);
            match kind {
                Class::Separator => {}
                Class::Word => {
                    terms.push(Term {
                        text: chars[i..j].iter().map(|(_, c)| *c).collect(),
                        position,
                        start: chars[i].0,
                        end: end_byte,
                    });
                    position += 1;
                }
                Class::Han => {
                    let run: String = chars[i..j].iter().map(|(_, c)| *c).collect();
                    // Byte offsets of the run's characters in the original.
                    let offsets: Vec<usize> = chars[i..j].iter().map(|(b, _)| *b).collect();
                    let at =
                        |char_index: usize| offsets.get(char_index).copied().unwrap_or(end_byte);
                    if with_parts {
                        // One search-mode pass gives the words and the
                        // shorter dictionary words inside them: sorted by
                        // start (longest first), a term that starts at or
                        // after the current word's end is the next word;
                        // one that starts inside it is a part of it.
                        let mut found = self.jieba.cut_for_search(&run, false);
                        found.sort_by_key(|t| (t.start, std::cmp::Reverse(t.end)));
                        let mut word_end = 0;
                        let mut word_position = position;
                        for t in found {
                            if t.start >= word_end {
                                word_position = position;
                                position += 1;
                                word_end = t.end;
                            } else if t.end > word_end {
                                // Overlaps the word's end: not inside it.
                                continue;
                            }
                            terms.push(Term {
                                text: t.word.to_owned(),
                                position: word_position,
                                start: at(t.start),
                                end: at(t.end),
                            });
                        }
                    } else {
                        for word in self.jieba.cut(&run, false) {
                            terms.push(Term {
                                text: word.word.to_owned(),
                                position,
                                start: at(word.start),
                                end: at(word.end),
                            });
                            position += 1;
                        }
                    }
                }
            }
            i = j;
        }
        terms
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
        let alphabet: Vec<char> = "助餐补贴申请人张伟长者食堂 　ＡＢｃ１２-_.\"“”'\\/0123abcXYZé\u{0}\u{200b}\u{1F600}𠀀\r\n，。"
            .chars()
            .collect();
        let mut state = 0x1234_5678_u64;
        for _ in 0..3_000 {
            let len = (state % 40) as usize;
            let text: String = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            for terms in [a.index_terms(&text), a.query_terms(&text)] {
                let mut last = 0;
                for t in &terms {
                    assert!(text.is_char_boundary(t.start) && text.is_char_boundary(t.end), "{text:?}");
                    assert!(t.start < t.end && !t.text.is_empty(), "{text:?}: {t:?}");
                    assert!(t.position >= last, "{text:?}");
                    last = t.position;
                }
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
