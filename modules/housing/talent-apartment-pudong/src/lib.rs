//! 市级人才公寓配租 — the 浦东新区 (Pudong) variant.
//!
//! The city's conditions and score (modules/housing/talent-apartment), and
//! one item of Pudong's own (seed 003 L668: priority "按各区规则", by each
//! district's rules): a talent whose employer is in one of Pudong's key
//! areas — 张江科学城, 临港新片区, 金桥 — gains
//! `talent-apartment.points.key-area` (a Pudong setting). Illustrative: the
//! seed names the district rules, not their content. See README.md.

use civitas_module::{Context, ModuleError};
use talent_apartment_priority::{Application, Decision, MAX_POINTS, decide, points};

fn evaluate(ctx: &Context, application: Application) -> Result<Decision, ModuleError> {
    let mut decision = decide(&application, &points(ctx)?, "pudong")?;
    let key_area: u32 = ctx
        .setting("talent-apartment.points.key-area")?
        .ok_or_else(|| {
            ModuleError::new(
                "missing_setting",
                "no tenant sets talent-apartment.points.key-area",
            )
        })?;
    if key_area > MAX_POINTS {
        return Err(ModuleError::new(
            "invalid_setting",
            format!("talent-apartment.points.key-area is {key_area}; it must be 0–{MAX_POINTS}"),
        ));
    }
    let area = match application.employer_area.as_deref() {
        Some("zhangjiang") => Some("张江科学城"),
        Some("lingang") => Some("临港新片区"),
        Some("jinqiao") => Some("金桥"),
        Some("other") | None => None,
        Some(other) => {
            return Err(ModuleError::invalid_input(format!(
                "employer_area {other:?} is not zhangjiang, lingang, jinqiao or other"
            )));
        }
    };
    if decision.eligible
        && let Some(area) = area
    {
        decision.add(
            &format!("key_area: 用人单位位于浦东重点区域（{area}，浦东新区规则）"),
            key_area,
        );
    }
    let score = decision.score.to_string();
    ctx.info(
        "talent apartment application scored",
        &[("rule", "pudong"), ("score", &score)],
    );
    Ok(decision)
}

civitas_module::export_evaluator!(evaluate);
