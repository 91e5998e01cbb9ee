//! 养老服务补贴（免申即享）— the city's rule, bound as the service default:
//! a resident reaching several tiers (80 or 90 years of age, a severe
//! disability) gets the highest tier's amount. See `care-subsidy-rules`
//! and README.md.

use care_subsidy_rules::{Combine, Decision, Resident, decide};
use civitas_module::{Context, ModuleError};

fn evaluate(ctx: &Context, resident: Resident) -> Result<Decision, ModuleError> {
    let decision = decide(ctx, &resident, "city", Combine::Highest)?;
    ctx.info(
        "care subsidy decided",
        &[
            ("rule", "city"),
            ("eligible", if decision.eligible { "yes" } else { "no" }),
        ],
    );
    Ok(decision)
}

civitas_module::export_evaluator!(evaluate);
