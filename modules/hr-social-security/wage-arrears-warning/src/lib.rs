//! 安薪 wage-arrears warnings — the city's rules (seed 000 L281–336), bound
//! as the service default: every district without a variant of its own
//! warns with them, each with its own thresholds (settings
//! `wage-arrears.*`). See `wage-arrears-rules` and README.md.

use civitas_module::{Context, ModuleError};
use wage_arrears_rules::{Assessment, ProjectMonth, UnpaidWatch, assess, thresholds};

fn evaluate(ctx: &Context, project: ProjectMonth) -> Result<Assessment, ModuleError> {
    let thresholds = thresholds(ctx)?;
    let assessment = assess(&project, &thresholds, UnpaidWatch::InProgress, "city")?;
    if !assessment.warnings.is_empty() {
        ctx.info(
            "project-month warned",
            &[("project", &project.project_code), ("rule_set", "city")],
        );
    }
    Ok(assessment)
}

civitas_module::export_evaluator!(evaluate);
