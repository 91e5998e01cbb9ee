//! 行政处罚裁量基准 — what the penalty-discretion modules share.
//!
//! Seed 004 (Shanghai market regulation), L8239: discretion is "基于各区裁量
//! 基准库" — each district keeps its own discretion benchmark over the same
//! statutes. This library holds the parts that are the same everywhere:
//!
//! - the penalty case's facts as the form records them ([`Facts`]);
//! - each violation's statutory range ([`statute`]), from the national laws
//!   cited on each entry;
//! - the city's rule for the discretion level ([`city_judgement`]), from
//!   《中华人民共和国行政处罚法》 (2021) 第三十二条 and 第三十三条;
//! - the band a level takes of the range, by the tenant's percentages
//!   ([`Splits`], [`band`]).
//!
//! A district's module decides the level its own way (the Pudong variant
//! waives more for parties registered in the free-trade zone and Lingang)
//! and reads its splits from its tenant settings ([`splits`], the one host
//! call here). Everything else is a function of its arguments, tested
//! natively (`cargo test --manifest-path modules/Cargo.toml -p
//! penalty-benchmark`; `infra/dev/test` runs it).

use civitas_module::{Context, ModuleError};
use serde::{Deserialize, Serialize};

/// The facts of a penalty case (the case's form, `input.schema.json` of
/// `market-regulation/penalty-case`). Amounts are whole yuan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    /// The case (set by the platform; chooses the rollout bucket).
    pub case_id: Option<String>,
    /// 当事人.
    pub party: String,
    /// 统一社会信用代码, when the party is an enterprise.
    pub party_credit_code: Option<String>,
    /// The violation as found, in words.
    pub violation: String,
    /// Which entry of the benchmark it falls under.
    pub violation_code: ViolationCode,
    /// Where the party is registered.
    #[serde(default)]
    pub registration_authority: Authority,
    /// 货值金额.
    pub goods_value_yuan: u64,
    /// 违法所得.
    pub illegal_gains_yuan: u64,
    /// 广告费用 (false advertising); none or 0 when it cannot be computed.
    pub advertising_fee_yuan: Option<u64>,
    /// 危害后果.
    pub harm: Harm,
    /// 初次违法.
    pub first_offence: bool,
    /// 及时改正.
    pub corrected_promptly: bool,
    /// 违法行为轻微.
    #[serde(default)]
    pub minor: bool,
    /// 主动供述行政机关尚未掌握的违法行为，或配合查处有立功表现.
    #[serde(default)]
    pub cooperated: bool,
    /// 主动消除或者减轻违法行为危害后果.
    #[serde(default)]
    pub eliminated_harm: bool,
    /// 受他人胁迫或者诱骗实施违法行为.
    #[serde(default)]
    pub coerced: bool,
    /// 一年内因同一违法行为受过行政处罚.
    #[serde(default)]
    pub repeat_offence: bool,
    /// 拒不改正.
    #[serde(default)]
    pub refused_correction: bool,
    /// 阻碍执法或者隐匿、销毁证据.
    #[serde(default)]
    pub obstructed: bool,
    /// 侵害老年人、未成年人等群体的权益.
    #[serde(default)]
    pub vulnerable_victims: bool,
}

/// The benchmark's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViolationCode {
    /// 经营超过保质期的食品.
    FoodExpired,
    /// 不按规定明码标价.
    PriceTag,
    /// 无照经营.
    Unlicensed,
    /// 发布虚假广告.
    FalseAdvertising,
}

/// The registration authority of the party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Authority {
    /// The district's market-regulation bureau.
    #[default]
    District,
    /// 中国（上海）自由贸易试验区.
    Ftz,
    /// 临港新片区.
    Lingang,
}

/// 危害后果.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Harm {
    /// 没有造成危害后果.
    None,
    /// 危害后果轻微.
    Minor,
    /// 造成严重危害后果.
    Serious,
}

/// A violation's statutory fine range, in whole yuan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statute {
    /// The article that sets it.
    pub basis: &'static str,
    /// The least fine the article allows.
    pub min_yuan: u64,
    /// The most.
    pub max_yuan: u64,
}

/// The statutory range of the case's violation.
pub fn statute(facts: &Facts) -> Statute {
    match facts.violation_code {
        // 货值金额不足一万元的，并处五万元以上十万元以下罚款；货值金额一万元
        // 以上的，并处货值金额十倍以上二十倍以下罚款.
        ViolationCode::FoodExpired => {
            let (min_yuan, max_yuan) = if facts.goods_value_yuan < 10_000 {
                (50_000, 100_000)
            } else {
                (
                    facts.goods_value_yuan.saturating_mul(10),
                    facts.goods_value_yuan.saturating_mul(20),
                )
            };
            Statute {
                basis: "《中华人民共和国食品安全法》第一百二十四条第一款第（五）项",
                min_yuan,
                max_yuan,
            }
        }
        // 可以并处五千元以下的罚款.
        ViolationCode::PriceTag => Statute {
            basis: "《中华人民共和国价格法》第四十二条",
            min_yuan: 0,
            max_yuan: 5_000,
        },
        // 并处一万元以下的罚款.
        ViolationCode::Unlicensed => Statute {
            basis: "《无证无照经营查处办法》第十三条",
            min_yuan: 0,
            max_yuan: 10_000,
        },
        // 处广告费用三倍以上五倍以下的罚款，广告费用无法计算或者明显偏低的，
        // 处二十万元以上一百万元以下的罚款.
        ViolationCode::FalseAdvertising => {
            let (min_yuan, max_yuan) = match facts.advertising_fee_yuan {
                Some(fee) if fee > 0 => (fee.saturating_mul(3), fee.saturating_mul(5)),
                _ => (200_000, 1_000_000),
            };
            Statute {
                basis: "《中华人民共和国广告法》第五十五条第一款",
                min_yuan,
                max_yuan,
            }
        }
    }
}

/// The discretion level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// 不予处罚.
    NoPenalty,
    /// 减轻处罚: below the statutory minimum.
    Reduced,
    /// 从轻处罚: the lower part of the range.
    Lighter,
    /// 一般处罚: the middle.
    General,
    /// 从重处罚: the upper part.
    Heavier,
}

impl Level {
    /// Its code in the module's answer.
    pub fn code(self) -> &'static str {
        match self {
            Level::NoPenalty => "none",
            Level::Reduced => "reduced",
            Level::Lighter => "lighter",
            Level::General => "general",
            Level::Heavier => "heavier",
        }
    }

    /// Its name in Chinese.
    pub fn label(self) -> &'static str {
        match self {
            Level::NoPenalty => "不予处罚",
            Level::Reduced => "减轻处罚",
            Level::Lighter => "从轻处罚",
            Level::General => "一般处罚",
            Level::Heavier => "从重处罚",
        }
    }
}

/// The mitigating circumstances found (第三十二条 and first offence and
/// prompt correction), as their Chinese names.
pub fn mitigating(facts: &Facts) -> Vec<&'static str> {
    [
        (facts.first_offence, "初次违法"),
        (facts.corrected_promptly, "及时改正"),
        (facts.cooperated, "主动供述或者配合查处"),
        (facts.eliminated_harm, "主动消除或者减轻危害后果"),
        (facts.coerced, "受他人胁迫或者诱骗"),
    ]
    .into_iter()
    .filter_map(|(found, name)| found.then_some(name))
    .collect()
}

/// The aggravating circumstances found.
pub fn aggravating(facts: &Facts) -> Vec<&'static str> {
    [
        (facts.repeat_offence, "一年内再次违法"),
        (facts.refused_correction, "拒不改正"),
        (facts.obstructed, "阻碍执法或者隐匿、销毁证据"),
        (facts.vulnerable_victims, "侵害老年人、未成年人等群体权益"),
        (facts.harm == Harm::Serious, "造成严重危害后果"),
    ]
    .into_iter()
    .filter_map(|(found, name)| found.then_some(name))
    .collect()
}

/// A level and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// The level.
    pub level: Level,
    /// Whether the law lets the authority waive the penalty although the
    /// rule proposes one (第三十三条第一款, second sentence: 可以不予).
    pub may_waive: bool,
    /// Why, one line each.
    pub reasons: Vec<String>,
}

/// Mitigating circumstances (with one of 第三十二条's own among them) that
/// reduce a penalty below the statutory minimum when nothing aggravates.
const REDUCE_AT: usize = 3;

/// The city's rule (《上海市市场监管行政处罚裁量基准》 as this platform models
/// it; the seed gives no text of it):
/// 1. 违法行为轻微并及时改正，没有造成危害后果的，不予行政处罚 (第三十三条
///    第一款): no penalty.
/// 2. 初次违法且危害后果轻微并及时改正的，可以不予行政处罚 (same paragraph):
///    the authority may waive; the rule still proposes a level.
/// 3. Nothing aggravating, three or more mitigating circumstances including
///    one of 第三十二条's (cooperation, harm eliminated, coercion), and a
///    statutory minimum above zero: reduced (减轻).
/// 4. Otherwise more mitigating than aggravating circumstances: lighter;
///    more aggravating: heavier; as many: general.
pub fn city_judgement(facts: &Facts, statute: &Statute) -> Judgement {
    let mitigating = mitigating(facts);
    let aggravating = aggravating(facts);
    if facts.minor && facts.corrected_promptly && facts.harm == Harm::None {
        return Judgement {
            level: Level::NoPenalty,
            may_waive: false,
            reasons: vec![
                "违法行为轻微并及时改正，没有造成危害后果，不予行政处罚（《中华人民共和国行政处罚法》第三十三条第一款）".into(),
            ],
        };
    }
    let mut reasons = Vec::new();
    let may_waive = facts.first_offence
        && facts.corrected_promptly
        && facts.harm != Harm::Serious
        && aggravating.is_empty();
    if may_waive {
        reasons.push(
            "初次违法且危害后果轻微并及时改正，可以不予行政处罚（《中华人民共和国行政处罚法》第三十三条第一款），由执法机关决定".into(),
        );
    }
    let article_32 = facts.cooperated || facts.eliminated_harm || facts.coerced;
    let level = if aggravating.is_empty()
        && article_32
        && mitigating.len() >= REDUCE_AT
        && statute.min_yuan > 0
    {
        reasons.push(format!(
            "无从重情节，从轻、减轻情节 {} 项（{}），减轻处罚（第三十二条）",
            mitigating.len(),
            mitigating.join("、")
        ));
        Level::Reduced
    } else if mitigating.len() > aggravating.len() {
        reasons.push(format!(
            "从轻情节多于从重情节（{} / {}），从轻处罚",
            mitigating.len(),
            aggravating.len()
        ));
        Level::Lighter
    } else if aggravating.len() > mitigating.len() {
        reasons.push(format!(
            "从重情节多于从轻情节（{}），从重处罚",
            aggravating.join("、")
        ));
        Level::Heavier
    } else {
        reasons.push("从轻、从重情节相当，一般处罚".into());
        Level::General
    };
    Judgement {
        level,
        may_waive,
        reasons,
    }
}

/// How a district divides a statutory range (its tenant settings
/// `penalty.lighter-upper-percent`, `penalty.heavier-lower-percent`,
/// `penalty.reduced-floor-percent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splits {
    lighter_upper: u64,
    heavier_lower: u64,
    reduced_floor: u64,
}

impl Splits {
    /// Lighter fines lie in the first `lighter_upper` percent of the range,
    /// heavier ones from `heavier_lower` percent on, and a reduced fine is
    /// at least `reduced_floor` percent of the statutory minimum. An error
    /// names a setting out of order.
    pub fn new(
        lighter_upper: u64,
        heavier_lower: u64,
        reduced_floor: u64,
    ) -> Result<Splits, String> {
        if lighter_upper > heavier_lower || heavier_lower > 100 {
            return Err(format!(
                "penalty.lighter-upper-percent ({lighter_upper}) ≤ penalty.heavier-lower-percent ({heavier_lower}) ≤ 100 is required"
            ));
        }
        if reduced_floor >= 100 {
            return Err(format!(
                "penalty.reduced-floor-percent ({reduced_floor}) must be below 100"
            ));
        }
        Ok(Splits {
            lighter_upper,
            heavier_lower,
            reduced_floor,
        })
    }
}

/// The tenant's splits from its settings; each must be set (the city and
/// the province set them in `tenants/`).
pub fn splits(ctx: &Context) -> Result<Splits, ModuleError> {
    let percent = |key: &str| -> Result<u64, ModuleError> {
        ctx.setting(key)?
            .ok_or_else(|| ModuleError::new("missing_setting", format!("no tenant sets {key}")))
    };
    Splits::new(
        percent("penalty.lighter-upper-percent")?,
        percent("penalty.heavier-lower-percent")?,
        percent("penalty.reduced-floor-percent")?,
    )
    .map_err(|message| ModuleError::new("invalid_setting", message))
}

/// The fine band of `level` within `statute`'s range, whole yuan, both ends
/// included.
pub fn band(statute: &Statute, level: Level, splits: &Splits) -> (u64, u64) {
    let (min, max) = (statute.min_yuan, statute.max_yuan);
    // In u128: a multiple of a large goods value times 100 overflows u64.
    let at = |percent: u64| -> u64 {
        let span = u128::from(max.saturating_sub(min));
        let part = span * u128::from(percent) / 100;
        min.saturating_add(u64::try_from(part).unwrap_or(u64::MAX))
    };
    match level {
        Level::NoPenalty => (0, 0),
        Level::Reduced => {
            let floor = u128::from(min) * u128::from(splits.reduced_floor) / 100;
            (
                u64::try_from(floor).unwrap_or(u64::MAX),
                min.saturating_sub(1),
            )
        }
        Level::Lighter => (min, at(splits.lighter_upper)),
        Level::General => (at(splits.lighter_upper), at(splits.heavier_lower)),
        Level::Heavier => (at(splits.heavier_lower), max),
    }
}

/// A module's answer (`output.schema.json` of the service).
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    /// `none`, `reduced`, `lighter`, `general` or `heavier`.
    pub level: &'static str,
    /// Its Chinese name.
    pub level_label: &'static str,
    /// Which rule decided (`city`, or the district's).
    pub rule: &'static str,
    /// The article.
    pub basis: &'static str,
    /// The statutory range.
    pub statutory_min_yuan: u64,
    /// The statutory range.
    pub statutory_max_yuan: u64,
    /// The band proposed.
    pub band_min_yuan: u64,
    /// The band proposed.
    pub band_max_yuan: u64,
    /// 没收违法所得.
    pub confiscate_yuan: u64,
    /// Whether the authority may still waive the penalty.
    pub may_waive: bool,
    /// The mitigating circumstances considered.
    pub mitigating: Vec<&'static str>,
    /// The aggravating circumstances considered.
    pub aggravating: Vec<&'static str>,
    /// Why.
    pub reasons: Vec<String>,
}

/// The answer for `facts`, judged by `judgement` under `rule`, with the
/// tenant's `splits`.
pub fn assess(
    facts: &Facts,
    statute: &Statute,
    judgement: Judgement,
    splits: &Splits,
    rule: &'static str,
) -> Assessment {
    let (band_min_yuan, band_max_yuan) = band(statute, judgement.level, splits);
    Assessment {
        level: judgement.level.code(),
        level_label: judgement.level.label(),
        rule,
        basis: statute.basis,
        statutory_min_yuan: statute.min_yuan,
        statutory_max_yuan: statute.max_yuan,
        band_min_yuan,
        band_max_yuan,
        confiscate_yuan: facts.illegal_gains_yuan,
        may_waive: judgement.may_waive,
        mitigating: mitigating(facts),
        aggravating: aggravating(facts),
        reasons: judgement.reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(extra: serde_json::Value) -> Facts {
        let mut base = serde_json::json!({
            "party": "某超市", "violation": "销售超过保质期的食品", "violation_code": "food-expired",
            "goods_value_yuan": 3_000, "illegal_gains_yuan": 600, "harm": "minor",
            "first_offence": false, "corrected_promptly": false
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).expect("facts")
    }

    fn splits() -> Splits {
        Splits::new(30, 70, 50).expect("splits")
    }

    #[test]
    fn food_below_ten_thousand_yuan_of_goods_is_fined_fifty_to_a_hundred_thousand() {
        let s = statute(&facts(serde_json::json!({})));
        assert_eq!((s.min_yuan, s.max_yuan), (50_000, 100_000));
        let s = statute(&facts(serde_json::json!({"goods_value_yuan": 12_000})));
        assert_eq!(
            (s.min_yuan, s.max_yuan),
            (120_000, 240_000),
            "10 to 20 times the goods"
        );
    }

    #[test]
    fn false_advertising_without_a_fee_takes_the_fixed_range() {
        let ad = |fee: serde_json::Value| {
            statute(&facts(
                serde_json::json!({"violation_code": "false-advertising", "advertising_fee_yuan": fee}),
            ))
        };
        let s = ad(serde_json::json!(40_000));
        assert_eq!((s.min_yuan, s.max_yuan), (120_000, 200_000));
        for none in [serde_json::json!(0), serde_json::Value::Null] {
            let s = ad(none);
            assert_eq!((s.min_yuan, s.max_yuan), (200_000, 1_000_000));
        }
    }

    #[test]
    fn a_minor_violation_corrected_without_harm_is_not_penalised() {
        let f =
            facts(serde_json::json!({"minor": true, "corrected_promptly": true, "harm": "none"}));
        let j = city_judgement(&f, &statute(&f));
        assert_eq!((j.level, j.may_waive), (Level::NoPenalty, false));
        assert_eq!(band(&statute(&f), j.level, &splits()), (0, 0));
    }

    #[test]
    fn a_first_offence_corrected_may_be_waived_but_the_city_still_proposes_a_band() {
        let f = facts(serde_json::json!({"first_offence": true, "corrected_promptly": true}));
        let j = city_judgement(&f, &statute(&f));
        assert_eq!((j.level, j.may_waive), (Level::Lighter, true));
        assert_eq!(band(&statute(&f), j.level, &splits()), (50_000, 65_000));
    }

    #[test]
    fn cooperation_with_two_more_mitigating_circumstances_reduces_below_the_minimum() {
        let f = facts(
            serde_json::json!({"first_offence": true, "corrected_promptly": true, "cooperated": true}),
        );
        let j = city_judgement(&f, &statute(&f));
        assert_eq!(j.level, Level::Reduced);
        assert_eq!(band(&statute(&f), j.level, &splits()), (25_000, 49_999));
        // One aggravating circumstance keeps it within the range.
        let f = facts(
            serde_json::json!({"first_offence": true, "corrected_promptly": true, "cooperated": true, "obstructed": true}),
        );
        assert_eq!(city_judgement(&f, &statute(&f)).level, Level::Lighter);
        // A range from zero has nothing below it.
        let f = facts(
            serde_json::json!({"violation_code": "price-tag", "first_offence": true, "corrected_promptly": true, "cooperated": true}),
        );
        assert_eq!(city_judgement(&f, &statute(&f)).level, Level::Lighter);
    }

    #[test]
    fn aggravating_circumstances_outweighing_take_the_upper_band() {
        let f = facts(
            serde_json::json!({"repeat_offence": true, "vulnerable_victims": true, "first_offence": false}),
        );
        let j = city_judgement(&f, &statute(&f));
        assert_eq!(j.level, Level::Heavier);
        assert_eq!(band(&statute(&f), j.level, &splits()), (85_000, 100_000));
        let f = facts(serde_json::json!({"repeat_offence": true, "corrected_promptly": true}));
        let j = city_judgement(&f, &statute(&f));
        assert_eq!(j.level, Level::General);
        assert_eq!(band(&statute(&f), j.level, &splits()), (65_000, 85_000));
    }

    #[test]
    fn huge_goods_values_do_not_overflow() {
        let f =
            facts(serde_json::json!({"goods_value_yuan": u64::MAX / 4, "repeat_offence": true}));
        let s = statute(&f);
        assert_eq!(s.max_yuan, u64::MAX);
        let (low, high) = band(&s, Level::Heavier, &splits());
        assert!(low <= high);
    }

    #[test]
    fn splits_out_of_order_are_refused() {
        assert!(Splits::new(70, 30, 50).is_err());
        assert!(Splits::new(30, 101, 50).is_err());
        assert!(Splits::new(30, 70, 100).is_err());
    }

    #[test]
    fn unknown_fields_and_codes_are_refused() {
        let mut v = serde_json::json!({"party": "某超市", "violation": "x", "violation_code": "food-expired",
            "goods_value_yuan": 1, "illegal_gains_yuan": 0, "harm": "none", "first_offence": true, "corrected_promptly": true});
        assert!(serde_json::from_value::<Facts>(v.clone()).is_ok());
        v["surprise"] = serde_json::json!(1);
        assert!(serde_json::from_value::<Facts>(v.clone()).is_err());
        v.as_object_mut().expect("object").remove("surprise");
        v["violation_code"] = serde_json::json!("jaywalking");
        assert!(serde_json::from_value::<Facts>(v).is_err());
    }
}
