//! 市级人才公寓配租 — the city's default rule: the conditions of seed 003
//! (L1366–1371) and the priority score from the tenant's points. See
//! README.md.

use civitas_module::{Context, ModuleError};
use talent_apartment_priority::{Application, Decision, decide, points};

fn evaluate(ctx: &Context, application: Application) -> Result<Decision, ModuleError> {
    let decision = decide(&application, &points(ctx)?, "city")?;
    let score = decision.score.to_string();
    ctx.info(
        "talent apartment application scored",
        &[("rule", "city"), ("score", &score)],
    );
    Ok(decision)
}

civitas_module::export_evaluator!(evaluate);
