//! A meal-subsidy rule (社区长者食堂助餐补贴), started from the service's
//! template: edit `evaluate` to your district's policy.
//!
//! Input and output follow the service's schemas
//! (tenants/_services/civil-affairs/meal-subsidy/*.schema.json). Amounts
//! come from tenant settings (`meal-subsidy.per-meal.<tier>`, in fen), so a
//! district or street changes them without a new module.

use civitas_module::{Context, Date, ModuleError};
use serde::{Deserialize, Serialize};

/// An application, as the platform passes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Application {
    case_id: Option<String>,
    birth_date: String,
    household_registration: String,
    residence_years: Option<u32>,
    living_alone: bool,
    disability_grade: u8,
    economic_status: String,
    care_level: Option<u8>,
}

/// The decision, as the platform expects it.
#[derive(Serialize)]
struct Decision {
    eligible: bool,
    category: Option<&'static str>,
    age: u32,
    per_meal_fen: u64,
    monthly_cap_fen: u64,
    reasons: Vec<String>,
}

/// The age from which elders are eligible.
const MIN_AGE: u32 = 60;

fn evaluate(ctx: &Context, input: Application) -> Result<Decision, ModuleError> {
    let birth = Date::parse(&input.birth_date)
        .ok_or_else(|| ModuleError::invalid_input("birth_date is not a YYYY-MM-DD date"))?;
    let age = ctx.today().years_since(birth);
    if input.household_registration != "local" || age < MIN_AGE {
        return Ok(Decision {
            eligible: false,
            category: None,
            age,
            per_meal_fen: 0,
            monthly_cap_fen: 0,
            reasons: vec!["not eligible: local elders aged 60 or more".into()],
        });
    }
    let category = if input.economic_status != "none" { "low-income" } else { "general" };
    let per_meal: u64 = ctx
        .setting(&format!("meal-subsidy.per-meal.{category}"))?
        .unwrap_or(0);
    let top_up: u64 = ctx.setting("meal-subsidy.local-top-up")?.unwrap_or(0);
    let cap: u64 = ctx.setting("meal-subsidy.monthly-cap")?.unwrap_or(0);
    Ok(Decision {
        eligible: true,
        category: Some(category),
        age,
        per_meal_fen: per_meal + top_up,
        monthly_cap_fen: cap,
        reasons: vec![format!("tier {category}")],
    })
}

civitas_module::export_evaluator!(evaluate);
