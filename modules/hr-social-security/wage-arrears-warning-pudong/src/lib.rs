//! 安薪 wage-arrears warnings — the 浦东新区 (Pudong) variant.
//!
//! Differs from the city's rules (modules/hr-social-security/
//! wage-arrears-warning) in one rule of its own: the unpaid-wages rule
//! (seed 000 L336, 在建 projects) watches stopped (停工) projects too — a
//! stopped site still owes the workers it sent home. Pudong's lower
//! threshold for construction projects is a setting
//! (`wage-arrears.unpaid-days.construction` at 310115), not code. See
//! README.md.

use civitas_module::{Context, ModuleError};
use wage_arrears_rules::{Assessment, ProjectMonth, UnpaidWatch, assess, thresholds};

fn evaluate(ctx: &Context, project: ProjectMonth) -> Result<Assessment, ModuleError> {
    let thresholds = thresholds(ctx)?;
    let assessment = assess(
        &project,
        &thresholds,
        UnpaidWatch::InProgressAndStopped,
        "pudong",
    )?;
    if !assessment.warnings.is_empty() {
        ctx.info(
            "project-month warned",
            &[("project", &project.project_code), ("rule_set", "pudong")],
        );
    }
    Ok(assessment)
}

civitas_module::export_evaluator!(evaluate);
