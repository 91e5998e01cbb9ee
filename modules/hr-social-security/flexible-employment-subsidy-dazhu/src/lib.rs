//! 就业困难人员灵活就业社会保险补贴 — the 大竹县 (Dazhu County) variant.
//!
//! Differs from the national rule that 达州市 applies
//! (modules/hr-social-security/flexible-employment-subsidy) in two points,
//! both illustrative (seed 001 gives no county rule):
//! - people lifted out of poverty or monitored against relapse (脱贫人口、
//!   防止返贫监测对象) count as having employment difficulty without a
//!   separate certification;
//! - the county pays it to its own residents: a household registered in
//!   any of Dazhu's townships, whichever township's window accepts the
//!   application (全县通办, seed 001 L1578, L1742).
//!
//! The share and cap are Dazhu's settings. See README.md.

use civitas_module::{Context, ModuleError};
use flexible_employment_rules::{Application, Decision, decide, refusal, terms};

/// Dazhu's county code: its townships' codes start with it.
const DAZHU: &str = "511724";

fn evaluate(ctx: &Context, application: Application) -> Result<Decision, ModuleError> {
    let terms = terms(ctx)?;
    if !application.household_township.starts_with(DAZHU) {
        return Ok(refusal(
            &terms,
            "dazhu",
            "outside_county: 户籍不在大竹县，请向户籍所在地申请",
        ));
    }
    let difficult = application.difficulty_certified || application.poverty_alleviated;
    let mut decision = decide(&application, ctx.today(), &terms, difficult, "dazhu")?;
    if decision.eligible && !application.difficulty_certified {
        decision.reasons.insert(
            0,
            "脱贫人口（防止返贫监测对象）按就业困难人员享受补贴（大竹县规则）".to_owned(),
        );
    }
    ctx.info(
        "flexible employment subsidy decided",
        &[
            ("rule", "dazhu"),
            ("eligible", if decision.eligible { "yes" } else { "no" }),
        ],
    );
    Ok(decision)
}

civitas_module::export_evaluator!(evaluate);
