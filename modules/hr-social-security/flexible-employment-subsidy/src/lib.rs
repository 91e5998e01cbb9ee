//! 就业困难人员灵活就业社会保险补贴 — the national rule, bound as the
//! service default: 达州市 and every tenant without a variant of its own
//! decide with it, each with its own share and cap (settings
//! `flexible-employment.*`). See `flexible-employment-rules` and README.md.

use civitas_module::{Context, ModuleError};
use flexible_employment_rules::{Application, Decision, decide, terms};

fn evaluate(ctx: &Context, application: Application) -> Result<Decision, ModuleError> {
    let terms = terms(ctx)?;
    let decision = decide(
        &application,
        ctx.today(),
        &terms,
        application.difficulty_certified,
        "national",
    )?;
    ctx.info(
        "flexible employment subsidy decided",
        &[
            ("rule", "national"),
            ("eligible", if decision.eligible { "yes" } else { "no" }),
        ],
    );
    Ok(decision)
}

civitas_module::export_evaluator!(evaluate);
