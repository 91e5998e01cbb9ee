//! 社区长者食堂助餐补贴 — the city's default rule (上海市).
//!
//! Eligibility: an elder with a local household registration (本市户籍) aged
//! 60 or more on the evaluation date. The tier is the most favourable that
//! applies — 特困, 低保, 低收入, 80+ (高龄), living alone or disabled (独居/残疾),
//! else general — and the amount per meal is that tier's tenant setting
//! (`meal-subsidy.per-meal.<tier>`) plus `meal-subsidy.local-top-up`, so a
//! district or street changes amounts without a new module (seed 002, L52).
//! See README.md for the sources.

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

const MIN_AGE: u32 = 60;
const ADVANCED_AGE: u32 = 80;

fn evaluate(ctx: &Context, input: Application) -> Result<Decision, ModuleError> {
    let birth = Date::parse(&input.birth_date)
        .ok_or_else(|| ModuleError::invalid_input("birth_date is not a YYYY-MM-DD date"))?;
    let today = ctx.today();
    if birth > today {
        return Err(ModuleError::invalid_input("birth_date is after the evaluation date"));
    }
    if input.disability_grade > 4 {
        return Err(ModuleError::invalid_input("disability_grade is 0 (none) or 1–4"));
    }
    let _ = (input.residence_years, input.care_level);
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
        "non-local" => return Ok(refuse("non_local_registration: 仅限本市户籍老年人")),
        _ => return Err(ModuleError::invalid_input("household_registration is local or non-local")),
    }
    if age < MIN_AGE {
        return Ok(refuse("under_age: 未满六十周岁"));
    }
    let category = match input.economic_status.as_str() {
        "extreme-poverty" => "extreme-poverty",
        "minimum-living" => "minimum-living",
        "low-income" => "low-income",
        "none" if age >= ADVANCED_AGE => "advanced-age",
        "none" if input.living_alone || input.disability_grade > 0 => "alone-or-disabled",
        "none" => "general",
        _ => return Err(ModuleError::invalid_input("economic_status is none, low-income, minimum-living or extreme-poverty")),
    };
    let tier: u64 = ctx
        .setting(&format!("meal-subsidy.per-meal.{category}"))?
        .ok_or_else(|| ModuleError::new("missing_setting", format!("no tenant sets meal-subsidy.per-meal.{category}")))?;
    let top_up: u64 = ctx.setting("meal-subsidy.local-top-up")?.unwrap_or(0);
    let cap: u64 = ctx.setting("meal-subsidy.monthly-cap")?.unwrap_or(0);
    let mut reasons = vec![format!("tier {category}: {tier} fen per meal")];
    if top_up > 0 {
        reasons.push(format!("local top-up: {top_up} fen per meal"));
    }
    ctx.info("meal subsidy decided", &[("category", category)]);
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
