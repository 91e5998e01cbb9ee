//! 就业困难人员灵活就业社会保险补贴 — the national rule the subsidy modules
//! share.
//!
//! 《就业补助资金管理办法》(财社〔2017〕164号): people certified as having
//! difficulty finding work (就业困难人员) who take up flexible employment and
//! pay their social insurance receive a subsidy of, in principle, no more
//! than two thirds of what they actually pay; for at most three years,
//! except that those within five years of the statutory retirement age may
//! receive it until they retire. Seed 001 (大竹县) lists the subsidy at L283.
//!
//! [`decide`] is that rule as a function of the application, the evaluation
//! date, the tenant's [`Terms`] and whether the applicant counts as having
//! employment difficulty — the one point a county's module decides its own
//! way (大竹县 counts people lifted out of poverty). [`terms`] reads the
//! terms from the tenant's settings (the one host call here). Tested
//! natively: `cargo test --manifest-path modules/Cargo.toml -p
//! flexible-employment-rules` (`infra/dev/test` runs it).

use civitas_module::{Context, Date, ModuleError};
use serde::{Deserialize, Serialize};

/// An application (the service's `input.schema.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// The case (set by the platform; chooses the rollout bucket).
    pub case_id: Option<String>,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// The nine-digit code of the township (乡镇/街道) of the household.
    pub household_township: String,
    /// 已认定为就业困难人员.
    pub difficulty_certified: bool,
    /// 脱贫人口或防止返贫监测对象.
    #[serde(default)]
    pub poverty_alleviated: bool,
    /// 已办理灵活就业登记.
    pub flexible_employment_registered: bool,
    /// What the applicant pays per month, whole yuan.
    pub monthly_contribution_yuan: u64,
    /// Months of this subsidy already received.
    pub months_subsidised: u32,
    /// Within five years of the statutory retirement age, as the office
    /// checked it (the age moves with the 2025 reform, so it is not computed
    /// here).
    pub near_retirement: bool,
}

/// The decision (the service's `output.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the subsidy is granted.
    pub eligible: bool,
    /// Whose rule decided (`national`, or the county's).
    pub rule: &'static str,
    /// The share of the contributions paid, percent.
    pub share_percent: u64,
    /// Per month, whole yuan (rounded down).
    pub monthly_subsidy_yuan: u64,
    /// Months granted; none when granted until retirement.
    pub months_granted: Option<u32>,
    /// Granted until retirement.
    pub until_retirement: bool,
    /// Why.
    pub reasons: Vec<String>,
}

/// The most months the subsidy runs for, unless until retirement.
pub const MAX_MONTHS: u32 = 36;
/// Two thirds, rounded down: the most a share may be.
pub const MAX_SHARE_PERCENT: u64 = 66;
/// The youngest working age.
const WORKING_AGE: u32 = 16;

/// A tenant's terms: the share of contributions paid and any monthly cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// Percent of the contributions, 1–66.
    pub share_percent: u64,
    /// The most per month, whole yuan; none when the tenant sets no cap.
    pub monthly_cap_yuan: Option<u64>,
}

/// The tenant's terms from its settings: `flexible-employment.share-percent`
/// (required, 1–66) and `flexible-employment.monthly-cap-yuan` (optional).
pub fn terms(ctx: &Context) -> Result<Terms, ModuleError> {
    let share_percent: u64 = ctx
        .setting("flexible-employment.share-percent")?
        .ok_or_else(|| {
            ModuleError::new(
                "missing_setting",
                "no tenant sets flexible-employment.share-percent",
            )
        })?;
    if !(1..=MAX_SHARE_PERCENT).contains(&share_percent) {
        return Err(ModuleError::new(
            "invalid_setting",
            format!(
                "flexible-employment.share-percent is {share_percent}; it must be 1–66 (at most two thirds)"
            ),
        ));
    }
    let monthly_cap_yuan = ctx.setting("flexible-employment.monthly-cap-yuan")?;
    Ok(Terms {
        share_percent,
        monthly_cap_yuan,
    })
}

/// A refusal under `rule`, for `reason` (`code: 中文`).
pub fn refusal(terms: &Terms, rule: &'static str, reason: &str) -> Decision {
    Decision {
        eligible: false,
        rule,
        share_percent: terms.share_percent,
        monthly_subsidy_yuan: 0,
        months_granted: None,
        until_retirement: false,
        reasons: vec![reason.to_owned()],
    }
}

/// The national rule. `difficult`: whether the applicant counts as having
/// employment difficulty (nationally: certified); `rule` names whose rule
/// this is in the answer.
pub fn decide(
    application: &Application,
    today: Date,
    terms: &Terms,
    difficult: bool,
    rule: &'static str,
) -> Result<Decision, ModuleError> {
    let birth = Date::parse(&application.birth_date)
        .ok_or_else(|| ModuleError::invalid_input("birth_date is not a YYYY-MM-DD date"))?;
    if birth > today {
        return Err(ModuleError::invalid_input(
            "birth_date is after the evaluation date",
        ));
    }
    let refuse = |reason: &str| refusal(terms, rule, reason);
    if today.years_since(birth) < WORKING_AGE {
        return Ok(refuse("under_working_age: 未满十六周岁"));
    }
    if !difficult {
        return Ok(refuse("not_certified: 未认定为就业困难人员"));
    }
    if !application.flexible_employment_registered {
        return Ok(refuse("not_flexibly_employed: 未办理灵活就业登记"));
    }
    if application.monthly_contribution_yuan == 0 {
        return Ok(refuse("no_contribution: 未缴纳社会保险费"));
    }
    let (months_granted, until_retirement) = if application.near_retirement {
        (None, true)
    } else {
        match MAX_MONTHS.saturating_sub(application.months_subsidised) {
            0 => return Ok(refuse("period_used: 已享受满三年补贴")),
            left => (Some(left), false),
        }
    };
    let share = application
        .monthly_contribution_yuan
        .saturating_mul(terms.share_percent)
        / 100;
    let monthly_subsidy_yuan = terms.monthly_cap_yuan.map_or(share, |cap| share.min(cap));
    let mut reasons = vec![format!(
        "按实际缴费 {} 元的 {}% 补贴 {} 元/月",
        application.monthly_contribution_yuan, terms.share_percent, share
    )];
    if monthly_subsidy_yuan < share {
        reasons.push(format!("每月补贴上限 {monthly_subsidy_yuan} 元"));
    }
    reasons.push(match months_granted {
        Some(months) => format!(
            "补贴 {months} 个月（最长三年，已享受 {} 个月）",
            application.months_subsidised
        ),
        None => "距法定退休年龄不足五年，补贴至退休".to_owned(),
    });
    Ok(Decision {
        eligible: true,
        rule,
        share_percent: terms.share_percent,
        monthly_subsidy_yuan,
        months_granted,
        until_retirement,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = Date {
        year: 2026,
        month: 12,
        day: 4,
    };

    fn application(extra: serde_json::Value) -> Application {
        let mut base = serde_json::json!({
            "birth_date": "1980-06-15", "household_township": "511724101", "difficulty_certified": true,
            "flexible_employment_registered": true, "monthly_contribution_yuan": 720,
            "months_subsidised": 0, "near_retirement": false
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).expect("application")
    }

    const TERMS: Terms = Terms {
        share_percent: 66,
        monthly_cap_yuan: None,
    };

    #[test]
    fn two_thirds_of_the_contribution_for_three_years() {
        let d = decide(
            &application(serde_json::json!({})),
            TODAY,
            &TERMS,
            true,
            "national",
        )
        .unwrap();
        assert!(d.eligible);
        assert_eq!(
            (d.monthly_subsidy_yuan, d.months_granted, d.until_retirement),
            (475, Some(36), false)
        );
    }

    #[test]
    fn months_already_received_count_against_the_three_years() {
        let d = decide(
            &application(serde_json::json!({"months_subsidised": 30})),
            TODAY,
            &TERMS,
            true,
            "national",
        )
        .unwrap();
        assert_eq!(d.months_granted, Some(6));
        let d = decide(
            &application(serde_json::json!({"months_subsidised": 36})),
            TODAY,
            &TERMS,
            true,
            "national",
        )
        .unwrap();
        assert!(!d.eligible);
        assert!(d.reasons[0].starts_with("period_used"));
    }

    #[test]
    fn within_five_years_of_retirement_it_runs_until_retirement() {
        let d = decide(
            &application(serde_json::json!({"months_subsidised": 36, "near_retirement": true})),
            TODAY,
            &TERMS,
            true,
            "national",
        )
        .unwrap();
        assert!(d.eligible);
        assert_eq!((d.months_granted, d.until_retirement), (None, true));
    }

    #[test]
    fn a_cap_bounds_the_monthly_amount() {
        let terms = Terms {
            share_percent: 66,
            monthly_cap_yuan: Some(400),
        };
        let d = decide(
            &application(serde_json::json!({})),
            TODAY,
            &terms,
            true,
            "national",
        )
        .unwrap();
        assert_eq!(d.monthly_subsidy_yuan, 400);
        assert_eq!(d.reasons[1], "每月补贴上限 400 元");
    }

    #[test]
    fn the_uncertified_the_unregistered_and_those_who_pay_nothing_are_refused() {
        let refused = |extra: serde_json::Value, difficult: bool| {
            let d = decide(&application(extra), TODAY, &TERMS, difficult, "national").unwrap();
            assert!(!d.eligible);
            assert_eq!(d.monthly_subsidy_yuan, 0);
            d.reasons[0].split(':').next().unwrap().to_owned()
        };
        assert_eq!(refused(serde_json::json!({}), false), "not_certified");
        assert_eq!(
            refused(
                serde_json::json!({"flexible_employment_registered": false}),
                true
            ),
            "not_flexibly_employed"
        );
        assert_eq!(
            refused(serde_json::json!({"monthly_contribution_yuan": 0}), true),
            "no_contribution"
        );
        assert_eq!(
            refused(serde_json::json!({"birth_date": "2012-01-01"}), true),
            "under_working_age"
        );
    }

    #[test]
    fn a_date_that_is_no_date_or_lies_ahead_is_invalid_input() {
        for bad in ["1980-13-01", "yesterday", "2027-01-01"] {
            let e = decide(
                &application(serde_json::json!({"birth_date": bad})),
                TODAY,
                &TERMS,
                true,
                "national",
            )
            .unwrap_err();
            assert_eq!(e.code, "invalid_input", "{bad}");
        }
    }
}
