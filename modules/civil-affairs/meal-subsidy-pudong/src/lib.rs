//! 社区长者食堂助餐补贴 — the 浦东新区 (Pudong) variant.
//!
//! Differs from the city's rule (modules/civil-affairs/meal-subsidy) in who
//! is eligible and in its tiers:
//! - general eligibility from 65, not 60; from 60 for elders who live alone,
//!   are disabled, have a care level of 2 or more (照护等级二级及以上), or are in
//!   economic hardship (低收入/低保/特困);
//! - non-local residents (外省市户籍) are eligible after 5 years' continuous
//!   residence in the district;
//! - a 90+ tier (`nonagenarian`) above the 80+ tier.
//!
//! Amounts are the tenant settings `meal-subsidy.per-meal.<tier>` plus
//! `meal-subsidy.local-top-up` (Pudong sets its own; Lujiazui overrides the
//! top-up), as in seed 002, L52. See README.md for the sources.

use civitas_module::{Context, Date, ModuleError};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Application {
    #[allow(dead_code)]
    case_id: Option<String>,
    birth_date: String,
    household_registration: String,
    residence_years: Option<u32>,
    living_alone: bool,
    disability_grade: u8,
    economic_status: String,
    care_level: Option<u8>,
}

#[derive(Serialize)]
struct Decision {
    eligible: bool,
    category: Option<&'static str>,
    category_label: Option<String>,
    age: u32,
    per_meal_fen: u64,
    monthly_cap_fen: u64,
    reasons: Vec<String>,
}

const GENERAL_AGE: u32 = 65;
const PRIORITY_AGE: u32 = 60;
const ADVANCED_AGE: u32 = 80;
const NONAGENARIAN_AGE: u32 = 90;
const NON_LOCAL_RESIDENCE_YEARS: u32 = 5;
const CARE_LEVEL_PRIORITY: u8 = 2;

fn evaluate(ctx: &Context, input: Application) -> Result<Decision, ModuleError> {
    let birth = Date::parse(&input.birth_date)
        .ok_or_else(|| ModuleError::invalid_input("birth_date is not a YYYY-MM-DD date"))?;
    let today = ctx.today();
    if birth > today {
        return Err(ModuleError::invalid_input("birth_date is after the evaluation date"));
    }
    if input.disability_grade > 4 || input.care_level.is_some_and(|level| level > 6) {
        return Err(ModuleError::invalid_input("disability_grade is 0–4 and care_level 0–6"));
    }
    let age = today.years_since(birth);
    let refuse = |reason: &str| Decision {
        eligible: false,
        category: None,
        category_label: None,
        age,
        per_meal_fen: 0,
        monthly_cap_fen: 0,
        reasons: vec![reason.to_owned()],
    };
    match input.household_registration.as_str() {
        "local" => {}
        "non-local" if input.residence_years.unwrap_or(0) >= NON_LOCAL_RESIDENCE_YEARS => {}
        "non-local" => return Ok(refuse("short_residence: 外省市户籍须在本区连续居住满五年")),
        _ => return Err(ModuleError::invalid_input("household_registration is local or non-local")),
    }
    let hardship = match input.economic_status.as_str() {
        "none" => None,
        "low-income" => Some("low-income"),
        "minimum-living" => Some("minimum-living"),
        "extreme-poverty" => Some("extreme-poverty"),
        _ => return Err(ModuleError::invalid_input("economic_status is none, low-income, minimum-living or extreme-poverty")),
    };
    let priority = input.living_alone
        || input.disability_grade > 0
        || input.care_level.is_some_and(|level| level >= CARE_LEVEL_PRIORITY)
        || hardship.is_some();
    let threshold = if priority { PRIORITY_AGE } else { GENERAL_AGE };
    if age < threshold {
        return Ok(refuse(if priority { "under_age: 未满六十周岁" } else { "under_age: 未满六十五周岁" }));
    }
    let category = match hardship {
        Some(category) => category,
        None if age >= NONAGENARIAN_AGE => "nonagenarian",
        None if age >= ADVANCED_AGE => "advanced-age",
        None if priority => "alone-or-disabled",
        None => "general",
    };
    let tier: u64 = ctx
        .setting(&format!("meal-subsidy.per-meal.{category}"))?
        .ok_or_else(|| ModuleError::new("missing_setting", format!("no tenant sets meal-subsidy.per-meal.{category}")))?;
    let top_up: u64 = ctx.setting("meal-subsidy.local-top-up")?.unwrap_or(0);
    let cap: u64 = ctx.setting("meal-subsidy.monthly-cap")?.unwrap_or(0);
    let mut reasons = vec![format!("tier {category}: {tier} fen per meal (Pudong rule)")];
    if top_up > 0 {
        reasons.push(format!("local top-up: {top_up} fen per meal"));
    }
    ctx.info("meal subsidy decided", &[("category", category), ("rule", "pudong")]);
    Ok(Decision {
        eligible: true,
        category: Some(category),
        category_label: ctx.lookup("meal-subsidy-category", category),
        age,
        per_meal_fen: tier + top_up,
        monthly_cap_fen: cap,
        reasons,
    })
}

civitas_module::export_evaluator!(evaluate);
