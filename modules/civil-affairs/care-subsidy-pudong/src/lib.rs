//! 养老服务补贴（免申即享）— the 浦东新区 (Pudong) variant: a resident who
//! reaches several tiers (an age tier and a severe disability) gets their
//! amounts added up, where the city's rule pays the highest. Pudong's own
//! amounts are its settings. See README.md.

use care_subsidy_rules::{Combine, Decision, Resident, decide};
use civitas_module::{Context, ModuleError};

fn evaluate(ctx: &Context, resident: Resident) -> Result<Decision, ModuleError> {
    let decision = decide(ctx, &resident, "pudong", Combine::Sum)?;
    ctx.info(
        "care subsidy decided",
        &[
            ("rule", "pudong"),
            ("eligible", if decision.eligible { "yes" } else { "no" }),
        ],
    );
    Ok(decision)
}

civitas_module::export_evaluator!(evaluate);
