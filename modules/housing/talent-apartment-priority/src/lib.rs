//! 市级人才公寓配租 — the conditions and the priority score the talent-
//! apartment allocation modules share.
//!
//! Seed 003 (上海市房屋管理局), row 125, L1366–1371: a talent applying for a
//! city talent apartment must be law-abiding with no criminal record, work
//! full time in Shanghai under a contract (or letter of intent) with an
//! employer, and the family must own no home in the city; one family uses
//! one talent apartment. Row 127, L1410–1412: applications are drawn by lot
//! per project and unit type. Row 53, L668: priority follows "各区规则"
//! (each district's rules) — so the points are the tenant's settings
//! (`talent-apartment.points.*`) and a district's module may add its own
//! items. The seed gives no figures: every value is illustrative.
//!
//! [`decide`] is the rule as a function of the application and the
//! tenant's [`Points`]; [`points`] reads them from the settings (the one
//! host call). Tested natively: `cargo test --manifest-path
//! modules/Cargo.toml -p talent-apartment-priority`.

use civitas_module::{Context, ModuleError};
use serde::{Deserialize, Serialize};

/// An application (the service's `input.schema.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// The case (set by the platform; chooses the rollout bucket).
    pub case_id: Option<String>,
    /// The applicant's name (personal data; not used by the rule).
    pub applicant_name: String,
    /// The talent-apartment project applied for.
    pub project: String,
    /// `studio`, `one-bedroom` or `two-bedroom`.
    pub unit_type: String,
    /// `city-leading`, `city-key`, `district` or `young`.
    pub talent_tier: String,
    /// Works full time in Shanghai under a contract or letter of intent.
    pub full_time_contract: bool,
    /// The family (applicant, spouse, children living with them) owns a
    /// home in Shanghai.
    pub owns_home_in_city: bool,
    /// No record of crime.
    pub clean_record: bool,
    /// The family already lives in a talent apartment.
    pub already_housed: bool,
    /// Recommended by a city key employer (市重点单位, 定向配租).
    pub key_employer_recommended: bool,
    /// People in the household, 1–8.
    pub household_size: u32,
    /// Months of social insurance paid in the district.
    pub months_in_district: u32,
    /// Where the employer is, for a district that gives points for its key
    /// areas (`zhangjiang`, `lingang`, `jinqiao`, `other`).
    #[serde(default)]
    pub employer_area: Option<String>,
}

/// One item of the score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// What it is for (`code: 中文`).
    pub item: String,
    /// Its points.
    pub points: u32,
}

/// The decision (the service's `output.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the application may enter the waiting list.
    pub eligible: bool,
    /// Whose rule scored it (`city`, or the district's).
    pub rule: &'static str,
    /// The priority score: higher draws first.
    pub score: u32,
    /// The items the score is the sum of.
    pub items: Vec<Item>,
    /// Why (the conditions not met, or what was counted).
    pub reasons: Vec<String>,
}

/// A tenant's points (settings `talent-apartment.points.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Points {
    /// 市级领军人才.
    pub city_leading: u32,
    /// 市级重点人才.
    pub city_key: u32,
    /// 区级人才.
    pub district: u32,
    /// 青年人才.
    pub young: u32,
    /// Recommended by a city key employer.
    pub key_employer: u32,
    /// Per full year of social insurance in the district…
    pub per_year_in_district: u32,
    /// …counting at most this many years.
    pub years_cap: u32,
    /// The unit type suits the household's size.
    pub fitting_unit: u32,
}

/// The largest value a `talent-apartment.points.*` setting may have: a
/// mistyped setting is refused rather than drowning every other item
/// (`years-cap`, a count of years, is held to the same bound).
pub const MAX_POINTS: u32 = 100;

/// The tenant's points from its settings `talent-apartment.points.<item>`
/// (every one required, 0–100).
pub fn points(ctx: &Context) -> Result<Points, ModuleError> {
    let read = |item: &str| -> Result<u32, ModuleError> {
        let key = format!("talent-apartment.points.{item}");
        let value: u32 = ctx
            .setting(&key)?
            .ok_or_else(|| ModuleError::new("missing_setting", format!("no tenant sets {key}")))?;
        if value > MAX_POINTS {
            return Err(ModuleError::new(
                "invalid_setting",
                format!("{key} is {value}; it must be 0–{MAX_POINTS}"),
            ));
        }
        Ok(value)
    };
    Ok(Points {
        city_leading: read("city-leading")?,
        city_key: read("city-key")?,
        district: read("district")?,
        young: read("young")?,
        key_employer: read("key-employer")?,
        per_year_in_district: read("per-year-in-district")?,
        years_cap: read("years-cap")?,
        fitting_unit: read("fitting-unit")?,
    })
}

/// Whether `unit_type` suits a household of `size` (a studio one person, a
/// one-bedroom up to three, a two-bedroom two or more); an unknown type is
/// invalid input.
pub fn fits(unit_type: &str, size: u32) -> Result<bool, ModuleError> {
    match unit_type {
        "studio" => Ok(size == 1),
        "one-bedroom" => Ok(size <= 3),
        "two-bedroom" => Ok(size >= 2),
        other => Err(ModuleError::invalid_input(format!(
            "unit_type {other:?} is not studio, one-bedroom or two-bedroom"
        ))),
    }
}

/// The city's rule under `rule`'s name: the conditions of L1366–1371, then
/// the score. A district's module adds its own items to an eligible
/// decision with [`Decision::add`].
pub fn decide(
    application: &Application,
    points: &Points,
    rule: &'static str,
) -> Result<Decision, ModuleError> {
    if !(1..=8).contains(&application.household_size) {
        return Err(ModuleError::invalid_input("household_size must be 1–8"));
    }
    let tier = match application.talent_tier.as_str() {
        "city-leading" => ("tier: 市级领军人才", points.city_leading),
        "city-key" => ("tier: 市级重点人才", points.city_key),
        "district" => ("tier: 区级人才", points.district),
        "young" => ("tier: 青年人才", points.young),
        other => {
            return Err(ModuleError::invalid_input(format!(
                "talent_tier {other:?} is not city-leading, city-key, district or young"
            )));
        }
    };
    let fitting = fits(&application.unit_type, application.household_size)?;
    let mut unmet = Vec::new();
    if !application.clean_record {
        unmet.push("criminal_record: 有违法犯罪记录（L1367）");
    }
    if !application.full_time_contract {
        unmet.push("no_contract: 未全职来沪工作或未与用人单位签订工作合同、意向性协议（L1368）");
    }
    if application.owns_home_in_city {
        unmet.push("owns_home: 人才家庭在本市有自有住房（L1369）");
    }
    if application.already_housed {
        unmet.push("already_housed: 一个人才家庭只能申请使用一套人才公寓（L1369）");
    }
    if !unmet.is_empty() {
        return Ok(Decision {
            eligible: false,
            rule,
            score: 0,
            items: Vec::new(),
            reasons: unmet.into_iter().map(str::to_owned).collect(),
        });
    }
    let mut decision = Decision {
        eligible: true,
        rule,
        score: 0,
        items: Vec::new(),
        reasons: Vec::new(),
    };
    decision.add(tier.0, tier.1);
    if application.key_employer_recommended {
        decision.add("key_employer: 市重点单位推荐", points.key_employer);
    }
    let years = (application.months_in_district / 12).min(points.years_cap);
    if years > 0 {
        decision.add(
            &format!("years_in_district: 在本区缴纳社会保险 {years} 年"),
            years * points.per_year_in_district,
        );
    }
    if fitting {
        decision.add("fitting_unit: 户型与家庭人口相适配", points.fitting_unit);
    } else {
        decision
            .reasons
            .push("unit_not_fitting: 户型与家庭人口不相适配，不加分".to_owned());
    }
    Ok(decision)
}

impl Decision {
    /// Counts `points` for `item`.
    pub fn add(&mut self, item: &str, points: u32) {
        self.score += points;
        self.items.push(Item {
            item: item.to_owned(),
            points,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points() -> Points {
        Points {
            city_leading: 40,
            city_key: 30,
            district: 20,
            young: 10,
            key_employer: 15,
            per_year_in_district: 2,
            years_cap: 5,
            fitting_unit: 5,
        }
    }

    fn application() -> Application {
        serde_json::from_value(serde_json::json!({
            "applicant_name": "张三",
            "project": "张江人才公寓",
            "unit_type": "one-bedroom",
            "talent_tier": "city-key",
            "full_time_contract": true,
            "owns_home_in_city": false,
            "clean_record": true,
            "already_housed": false,
            "key_employer_recommended": true,
            "household_size": 2,
            "months_in_district": 50
        }))
        .unwrap()
    }

    #[test]
    fn the_score_is_the_sum_of_tier_employer_years_and_fit() {
        let decision = decide(&application(), &points(), "city").unwrap();
        assert!(decision.eligible);
        // 30 (city-key) + 15 (key employer) + 4 years × 2 + 5 (fits).
        assert_eq!(decision.score, 58);
        assert_eq!(decision.items.len(), 4);
    }

    #[test]
    fn years_in_the_district_count_up_to_the_cap() {
        let mut a = application();
        a.months_in_district = 240;
        assert_eq!(
            decide(&a, &points(), "city").unwrap().score,
            30 + 15 + 10 + 5
        );
    }

    #[test]
    fn a_family_owning_a_home_is_not_eligible_and_scores_nothing() {
        let mut a = application();
        a.owns_home_in_city = true;
        a.clean_record = false;
        let decision = decide(&a, &points(), "city").unwrap();
        assert!(!decision.eligible);
        assert_eq!(decision.score, 0);
        assert_eq!(decision.reasons.len(), 2);
    }

    #[test]
    fn a_unit_too_small_for_the_household_scores_no_fit_points() {
        let mut a = application();
        a.unit_type = "studio".into();
        let decision = decide(&a, &points(), "city").unwrap();
        assert!(decision.eligible);
        assert_eq!(decision.score, 30 + 15 + 8);
    }

    #[test]
    fn unknown_tiers_and_unit_types_are_invalid_input() {
        let mut a = application();
        a.talent_tier = "famous".into();
        assert!(decide(&a, &points(), "city").is_err());
        let mut a = application();
        a.unit_type = "villa".into();
        assert!(decide(&a, &points(), "city").is_err());
    }
}
