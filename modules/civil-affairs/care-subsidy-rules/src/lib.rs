//! 养老服务补贴（免申即享）— seed 002 (Shanghai civil affairs) L370–383: the
//! elderly care service subsidy is granted without an application. When a
//! resident's population record changes (a birthday makes them 80, a
//! disability grade is recorded), the platform evaluates the rule; an
//! eligible resident gets a case that the street only confirms (L993),
//! after re-checking the person's status, the conditions and whether they
//! already receive it (L377).
//!
//! The conditions and amounts are **illustrative** (the seed names the
//! process, not the figures): a local resident, alive, not yet receiving
//! it, aged 80 or more (`care-subsidy.min-age`), or aged 60 or more with a
//! severe disability (grade 1 or 2). The monthly amount is the tenant's
//! setting for the highest tier reached (`care-subsidy.monthly.*`); a
//! district's variant may combine them otherwise. Tested natively
//! (`cargo test --manifest-path modules/Cargo.toml -p care-subsidy-rules`).

use civitas_module::{Context, Date, ModuleError};
use serde::{Deserialize, Serialize};

/// Where the household is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Household {
    /// 本市户籍.
    Local,
    /// 外省市户籍.
    NonLocal,
}

/// A resident's population record (the service's input schema).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resident {
    /// The resident's record id.
    pub resident_id: String,
    /// 出生日期.
    pub birth_date: String,
    /// 户籍.
    pub household: Household,
    /// 残疾等级: 0 none, 1 (most severe) to 4.
    pub disability_grade: u8,
    /// 已死亡.
    pub deceased: bool,
    /// 已享受该补贴.
    pub receiving: bool,
    /// The case (set by the platform; not read).
    #[serde(default)]
    pub case_id: Option<String>,
}

/// A tier a resident reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// 80–89.
    #[serde(rename = "age-80")]
    Age80,
    /// 90 and over.
    #[serde(rename = "age-90")]
    Age90,
    /// 60 and over with a disability of grade 1 or 2.
    SevereDisability,
}

impl Tier {
    fn setting(self) -> &'static str {
        match self {
            Tier::Age80 => "care-subsidy.monthly.age-80",
            Tier::Age90 => "care-subsidy.monthly.age-90",
            Tier::SevereDisability => "care-subsidy.monthly.severe-disability",
        }
    }
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the resident is granted it.
    pub eligible: bool,
    /// The tiers reached.
    pub tiers: Vec<Tier>,
    /// 每月补贴（元）.
    pub monthly_yuan: u64,
    /// Whose rule decided: `city`, or the district's.
    pub rule: &'static str,
    /// Why, in Chinese (`code: 说明`).
    pub reasons: Vec<String>,
}

/// The tenant's amount for `tier`, whole yuan a month.
pub fn amount(ctx: &Context, tier: Tier) -> Result<u64, ModuleError> {
    ctx.setting(tier.setting())?.ok_or_else(|| {
        ModuleError::new(
            "missing_setting",
            format!("no tenant sets {}", tier.setting()),
        )
    })
}

/// The tiers `resident` reaches on `today`, or why none: `Err(reason)`.
pub fn tiers(
    resident: &Resident,
    today: Date,
    min_age: u32,
) -> Result<Result<Vec<Tier>, String>, ModuleError> {
    let birth = Date::parse(&resident.birth_date)
        .filter(|b| *b <= today)
        .ok_or_else(|| {
            ModuleError::invalid_input(format!(
                "birth_date: {:?} is not a past date",
                resident.birth_date
            ))
        })?;
    if resident.disability_grade > 4 {
        return Err(ModuleError::invalid_input("disability_grade is 0–4"));
    }
    if resident.deceased {
        return Ok(Err("deceased: 人员状态为已死亡".into()));
    }
    if resident.household != Household::Local {
        return Ok(Err("non_local: 非本市户籍".into()));
    }
    if resident.receiving {
        return Ok(Err("receiving: 已在享受养老服务补贴".into()));
    }
    let age = today.years_since(birth);
    let mut tiers = Vec::new();
    if age >= 90 {
        tiers.push(Tier::Age90);
    } else if age >= min_age {
        tiers.push(Tier::Age80);
    }
    if age >= 60 && matches!(resident.disability_grade, 1 | 2) {
        tiers.push(Tier::SevereDisability);
    }
    if tiers.is_empty() {
        return Ok(Err(format!(
            "too_young: {age} 岁，未满 {min_age} 岁且无重度残疾"
        )));
    }
    Ok(Ok(tiers))
}

/// The city's rule: the highest amount among the tiers reached.
pub fn decide(
    ctx: &Context,
    resident: &Resident,
    rule: &'static str,
    combine: Combine,
) -> Result<Decision, ModuleError> {
    let min_age: u32 = ctx.setting("care-subsidy.min-age")?.unwrap_or(80);
    match tiers(resident, ctx.today(), min_age)? {
        Err(reason) => Ok(Decision {
            eligible: false,
            tiers: Vec::new(),
            monthly_yuan: 0,
            rule,
            reasons: vec![reason],
        }),
        Ok(tiers) => {
            let amounts = tiers
                .iter()
                .map(|t| amount(ctx, *t))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Decision {
                eligible: true,
                monthly_yuan: combine.apply(&amounts),
                reasons: vec![format!(
                    "eligible: 符合{}",
                    tiers
                        .iter()
                        .map(|t| match t {
                            Tier::Age80 => "高龄（80 周岁以上）",
                            Tier::Age90 => "高龄（90 周岁以上）",
                            Tier::SevereDisability => "重度残疾（一、二级）",
                        })
                        .collect::<Vec<_>>()
                        .join("、")
                )],
                tiers,
                rule,
            })
        }
    }
}

/// How the amounts of several tiers combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// The highest (the city's rule).
    Highest,
    /// Their sum (a district that adds them up).
    Sum,
}

impl Combine {
    /// The amount for `amounts`.
    pub fn apply(self, amounts: &[u64]) -> u64 {
        match self {
            Combine::Highest => amounts.iter().copied().max().unwrap_or(0),
            Combine::Sum => amounts.iter().sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = Date {
        year: 2026,
        month: 12,
        day: 6,
    };

    fn resident(birth: &str, grade: u8) -> Resident {
        serde_json::from_value(serde_json::json!({
            "resident_id": "r1", "birth_date": birth, "household": "local",
            "disability_grade": grade, "deceased": false, "receiving": false
        }))
        .unwrap()
    }

    #[test]
    fn tiers_are_named_as_the_output_schema_names_them() {
        let names =
            serde_json::to_value([Tier::Age80, Tier::Age90, Tier::SevereDisability]).unwrap();
        assert_eq!(
            names,
            serde_json::json!(["age-80", "age-90", "severe-disability"])
        );
    }

    #[test]
    fn turning_80_today_reaches_the_age_tier_and_the_day_before_does_not() {
        assert_eq!(
            tiers(&resident("1946-12-06", 0), TODAY, 80).unwrap(),
            Ok(vec![Tier::Age80])
        );
        assert!(
            tiers(&resident("1946-12-07", 0), TODAY, 80)
                .unwrap()
                .is_err()
        );
        assert_eq!(
            tiers(&resident("1936-01-01", 0), TODAY, 80).unwrap(),
            Ok(vec![Tier::Age90])
        );
    }

    #[test]
    fn a_severe_disability_from_60_qualifies_and_stacks_with_age() {
        assert_eq!(
            tiers(&resident("1960-01-01", 2), TODAY, 80).unwrap(),
            Ok(vec![Tier::SevereDisability])
        );
        assert!(
            tiers(&resident("1960-01-01", 3), TODAY, 80)
                .unwrap()
                .is_err()
        );
        assert!(
            tiers(&resident("1970-01-01", 1), TODAY, 80)
                .unwrap()
                .is_err()
        );
        assert_eq!(
            tiers(&resident("1940-01-01", 1), TODAY, 80).unwrap(),
            Ok(vec![Tier::Age80, Tier::SevereDisability])
        );
        assert_eq!(Combine::Highest.apply(&[150, 300]), 300);
        assert_eq!(Combine::Sum.apply(&[150, 300]), 450);
    }

    #[test]
    fn the_dead_the_non_local_and_those_already_receiving_are_not_granted() {
        for change in [
            serde_json::json!({"deceased": true}),
            serde_json::json!({"household": "non-local"}),
            serde_json::json!({"receiving": true}),
        ] {
            let mut value = serde_json::json!({
                "resident_id": "r1", "birth_date": "1930-01-01", "household": "local",
                "disability_grade": 0, "deceased": false, "receiving": false
            });
            value
                .as_object_mut()
                .unwrap()
                .extend(change.as_object().unwrap().clone());
            let r: Resident = serde_json::from_value(value).unwrap();
            assert!(tiers(&r, TODAY, 80).unwrap().is_err());
        }
        assert!(
            tiers(&resident("2027-01-01", 0), TODAY, 80).is_err(),
            "born in the future"
        );
    }
}
