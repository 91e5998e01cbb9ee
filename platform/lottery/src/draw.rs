//! The draw itself: a pure function of what was published.
//!
//! A lottery is published before it is drawn: its entries are frozen in
//! one JSON text ([`Published`], serialised once and kept byte for byte)
//! that names the day of the draw and a **public value** nobody knows yet
//! (a stock index's close that day, say). On that day the value is given,
//! and the **seed is SM3(published text ‖ public value)**: whoever froze
//! the entries could not know it, and whoever gives the value can be
//! checked against the world. Each entry's **ticket is SM3(seed ‖ case
//! id)** (the 32 seed bytes, then the case id's UTF-8 bytes). The ranking
//! orders the entries by priority score, highest first, and equal scores
//! by ticket, lowest first (then by case id, should two tickets ever be
//! equal); the first `units` entries are drawn (中签), the rest wait in that
//! order (轮候). Anyone holding the text and the value can recompute every
//! ticket with any SM3 tool; [`verify`] does exactly that.

use serde::{Deserialize, Serialize};

use crate::LotteryError;

/// The format this module draws; a published text names it.
pub const FORMAT: &str = "civitas-lottery/1";

/// What is published before the draw: everything the order depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// [`FORMAT`].
    pub format: String,
    /// The draw's title (摇号批次名称).
    pub title: String,
    /// The tenant whose waiting list is drawn (path of codes).
    pub tenant: String,
    /// The service (`housing/talent-apartment`).
    pub service: String,
    /// The project (人才公寓项目).
    pub project: String,
    /// The unit type (户型).
    pub unit_type: String,
    /// Units offered: how many entries are drawn.
    pub units: u32,
    /// The day the entries were frozen, `YYYY-MM-DD`.
    pub published_on: String,
    /// The day of the draw, `YYYY-MM-DD`: not before the public value is
    /// known.
    pub draw_on: String,
    /// The public value the draw waits for, named before anyone can know
    /// it (e.g. "上证指数 2026-12-08 收盘价").
    pub public_value: String,
    /// How the value is written at the draw: a decimal number with exactly
    /// this many digits after the point (2: `3412.56`), so it has one
    /// spelling and the drawer has no choice among seeds.
    pub value_decimals: u8,
    /// The entries, ordered by case id (each once).
    pub entries: Vec<Entry>,
}

/// One application on the waiting list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The case (办件编号): how an applicant finds their place.
    pub case_id: String,
    /// The priority score the draw uses (the latest the district's rule
    /// gave).
    pub score: u32,
    /// The score the rule gave at submission; differs from `score` when
    /// the fairness guard warned (公平卫士).
    pub score_at_submission: u32,
}

/// One place in the ranking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ranked {
    /// 1, 2, …
    pub position: u32,
    /// The case.
    pub case_id: String,
    /// Its score.
    pub score: u32,
    /// SM3(seed ‖ case id), hex.
    pub ticket: String,
    /// Drawn (中签): among the first `units`; otherwise waiting (轮候).
    pub drawn: bool,
}

/// The outcome: the seed and the ranking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Draw {
    /// SM3(published text ‖ public value), hex.
    pub seed: String,
    /// Every entry, in order.
    pub ranking: Vec<Ranked>,
}

/// Checks `published` and serialises it: the exact text that is published
/// and that the seed is the digest of.
pub fn publish(published: &Published) -> Result<String, LotteryError> {
    check(published)?;
    serde_json::to_string(published).map_err(|e| LotteryError::Invalid(e.to_string()))
}

fn check(p: &Published) -> Result<(), LotteryError> {
    let invalid = |zh: &str, en: &str| Err(LotteryError::Invalid(format!("{zh} / {en}")));
    if p.format != FORMAT {
        return invalid(
            &format!("格式应为 {FORMAT}，而非 {:?}", p.format),
            &format!("the format is {:?}, not {FORMAT}", p.format),
        );
    }
    if p.units == 0 {
        return invalid("房源套数至少为 1", "units must be at least 1");
    }
    if p.entries.is_empty() {
        return invalid("轮候名单为空", "the waiting list is empty");
    }
    if p.entries.windows(2).any(|w| w[0].case_id >= w[1].case_id) {
        return invalid(
            "申请须按办件编号排序且不重复",
            "entries must be ordered by case id, each once",
        );
    }
    if p.value_decimals > MAX_DECIMALS {
        return invalid(
            &format!("取值的小数位数至多为 {MAX_DECIMALS}"),
            &format!("the value has at most {MAX_DECIMALS} decimals"),
        );
    }
    if p.public_value.trim().is_empty() {
        return invalid(
            "须写明摇号所依据的公开随机值",
            "the public value the draw waits for must be named",
        );
    }
    Ok(())
}

/// The most digits after the point a public value may have.
pub const MAX_DECIMALS: u8 = 6;

/// Whether `value` is written as `published` says: an optional minus, digits
/// (no leading zero but a lone one), and exactly `value_decimals` digits
/// after a point (none and no point for 0).
pub fn well_written(published: &Published, value: &str) -> bool {
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let whole_ok = digits(whole) && (whole == "0" || !whole.starts_with('0'));
    let fraction_ok = match (fraction, published.value_decimals) {
        (None, 0) => true,
        (Some(f), n) if n > 0 => digits(f) && f.len() == usize::from(n),
        _ => false,
    };
    whole_ok && fraction_ok
}

/// The seed of a published text and the public value given for it:
/// SM3(text ‖ value).
pub fn seed(published_text: &str, public_value: &str) -> [u8; 32] {
    let mut hasher = civitas_crypto::sm3::Hasher::new();
    hasher.update(published_text.as_bytes());
    hasher.update(public_value.as_bytes());
    hasher.finalize()
}

/// An entry's ticket: SM3(seed ‖ case id).
pub fn ticket(seed: &[u8; 32], case_id: &str) -> [u8; 32] {
    let mut hasher = civitas_crypto::sm3::Hasher::new();
    hasher.update(seed);
    hasher.update(case_id.as_bytes());
    hasher.finalize()
}

/// Reads and checks a published text.
pub fn parse(published_text: &str) -> Result<Published, LotteryError> {
    let published: Published = serde_json::from_str(published_text).map_err(|e| {
        LotteryError::Invalid(format!(
            "公示数据无法解析 / the published text does not parse: {e}"
        ))
    })?;
    check(&published)?;
    Ok(published)
}

/// Draws from a published text with the public value given for it:
/// derives the seed and ranks the entries.
pub fn draw(published_text: &str, public_value: &str) -> Result<(Published, Draw), LotteryError> {
    let published = parse(published_text)?;
    if !well_written(&published, public_value) {
        return Err(LotteryError::Invalid(format!(
            "取值须为含 {n} 位小数的十进制数（如公示所定），而非 {public_value:?} / the value is a decimal number with {n} decimals, as published, not {public_value:?}",
            n = published.value_decimals
        )));
    }
    let seed = seed(published_text, public_value);
    let mut ranked: Vec<(u32, [u8; 32], &str)> = published
        .entries
        .iter()
        .map(|e| (e.score, ticket(&seed, &e.case_id), e.case_id.as_str()))
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2)));
    let ranking = ranked
        .into_iter()
        .zip(1u32..)
        .map(|((score, ticket, case_id), position)| Ranked {
            position,
            case_id: case_id.to_owned(),
            score,
            ticket: hex::encode(ticket),
            drawn: position <= published.units,
        })
        .collect();
    let draw = Draw {
        seed: hex::encode(seed),
        ranking,
    };
    Ok((published, draw))
}

/// What recomputing a recorded draw found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// The recorded seed is the SM3 of the published text.
    pub seed_matches: bool,
    /// The recorded ranking is the one the published text gives.
    pub ranking_matches: bool,
    /// The first position that differs, if any.
    pub first_difference: Option<u32>,
}

impl Verification {
    /// Both match.
    pub fn identical(&self) -> bool {
        self.seed_matches && self.ranking_matches
    }
}

/// Recomputes a recorded draw from its published text and public value,
/// and compares.
pub fn verify(
    published_text: &str,
    public_value: &str,
    recorded: &Draw,
) -> Result<Verification, LotteryError> {
    let (_, computed) = draw(published_text, public_value)?;
    let first_difference = computed
        .ranking
        .iter()
        .zip(&recorded.ranking)
        .find(|(c, r)| c != r)
        .map(|(c, _)| c.position)
        .or_else(|| {
            (computed.ranking.len() != recorded.ranking.len())
                .then(|| computed.ranking.len().min(recorded.ranking.len()) as u32 + 1)
        });
    Ok(Verification {
        seed_matches: computed.seed == recorded.seed,
        ranking_matches: first_difference.is_none(),
        first_difference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = "3412.56";

    fn published(entries: &[(&str, u32)]) -> Published {
        Published {
            format: FORMAT.into(),
            title: "2026年第一批".into(),
            tenant: "310000/310115".into(),
            service: "housing/talent-apartment".into(),
            project: "张江国际社区人才公寓".into(),
            unit_type: "one-bedroom".into(),
            units: 2,
            published_on: "2026-12-06".into(),
            draw_on: "2026-12-08".into(),
            public_value: "上证指数 2026-12-08 收盘价".into(),
            value_decimals: 2,
            entries: entries
                .iter()
                .map(|(id, score)| Entry {
                    case_id: (*id).into(),
                    score: *score,
                    score_at_submission: *score,
                })
                .collect(),
        }
    }

    #[test]
    fn higher_scores_rank_first_and_equal_scores_go_by_ticket() {
        let text = publish(&published(&[("a", 10), ("b", 30), ("c", 10), ("d", 10)])).unwrap();
        let (_, draw) = draw(&text, VALUE).unwrap();
        assert_eq!(draw.ranking[0].case_id, "b");
        assert!(draw.ranking[0].drawn && draw.ranking[1].drawn && !draw.ranking[2].drawn);
        let tied = &draw.ranking[1..];
        assert!(tied.windows(2).all(|w| w[0].ticket < w[1].ticket));
        assert_eq!(
            draw.ranking.iter().map(|r| r.position).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
    }

    #[test]
    fn the_seed_is_the_sm3_of_text_and_value_and_the_ticket_of_seed_and_case() {
        let text = publish(&published(&[("a", 1)])).unwrap();
        let (_, draw) = draw(&text, VALUE).unwrap();
        let seed = civitas_crypto::sm3::digest(format!("{text}{VALUE}").as_bytes());
        assert_eq!(draw.seed, hex::encode(seed));
        let mut joined = seed.to_vec();
        joined.extend_from_slice(b"a");
        assert_eq!(
            draw.ranking[0].ticket,
            hex::encode(civitas_crypto::sm3::digest(&joined))
        );
    }

    #[test]
    fn the_same_text_and_value_draw_the_same_and_any_change_changes_the_seed() {
        let p = published(&[("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1)]);
        let text = publish(&p).unwrap();
        assert_eq!(draw(&text, VALUE).unwrap(), draw(&text, VALUE).unwrap());
        let (_, a) = draw(&text, VALUE).unwrap();
        let (_, other_value) = draw(&text, "3412.57").unwrap();
        assert!(draw(&text, "3412.560").is_err(), "one spelling of a value");
        assert_ne!(a.seed, other_value.seed);
        let mut other = p.clone();
        other.title.push('2');
        let (_, other_text) = draw(&publish(&other).unwrap(), VALUE).unwrap();
        assert_ne!(a.seed, other_text.seed);
    }

    #[test]
    fn verify_names_the_first_position_that_was_altered() {
        let text = publish(&published(&[("a", 1), ("b", 1), ("c", 1)])).unwrap();
        let (_, mut recorded) = draw(&text, VALUE).unwrap();
        assert!(verify(&text, VALUE, &recorded).unwrap().identical());
        recorded.ranking.swap(1, 2);
        let found = verify(&text, VALUE, &recorded).unwrap();
        assert!(found.seed_matches && !found.ranking_matches);
        assert_eq!(found.first_difference, Some(2));
        let tampered = text.replace("2026年第一批", "2026年第二批");
        assert!(!verify(&tampered, VALUE, &recorded).unwrap().seed_matches);
        assert!(!verify(&text, "3412.57", &recorded).unwrap().seed_matches);
    }

    #[test]
    fn unordered_duplicate_or_empty_entries_zero_units_and_no_public_value_are_refused() {
        assert!(publish(&published(&[("b", 1), ("a", 1)])).is_err());
        assert!(publish(&published(&[("a", 1), ("a", 1)])).is_err());
        assert!(publish(&published(&[])).is_err());
        let mut p = published(&[("a", 1)]);
        p.units = 0;
        assert!(publish(&p).is_err());
        let mut p = published(&[("a", 1)]);
        p.public_value = " ".into();
        assert!(publish(&p).is_err());
        let text = publish(&published(&[("a", 1)])).unwrap();
        assert!(draw(&text, "").is_err());
    }

    #[test]
    fn a_value_has_one_spelling_the_published_decimals() {
        let p = published(&[("a", 1)]);
        for good in ["3412.56", "0.50", "-1.25"] {
            assert!(well_written(&p, good), "{good}");
        }
        for bad in [
            "3412.5", "3412.560", "3,412.56", " 3412.56", "03412.56", "3412", "+3412.56", "3412.",
            ".56", "3412.5a",
        ] {
            assert!(!well_written(&p, bad), "{bad}");
        }
        let whole = Published {
            value_decimals: 0,
            ..p
        };
        assert!(well_written(&whole, "3412") && !well_written(&whole, "3412.0"));
    }
}
