//! 行政处罚自由裁量 — the city's default rule for
//! `market-regulation/penalty-case`.
//!
//! From the case's facts: the violation's statutory range, the discretion
//! level by the city's rule (《中华人民共和国行政处罚法》第三十二条、第三十三条,
//! see `penalty-benchmark`), and the band of the range that level takes by
//! the tenant's benchmark splits (`penalty.*` settings: a district divides
//! the range its own way without a new module). See README.md for sources.

use civitas_module::{Context, ModuleError};
use penalty_benchmark::{Assessment, Facts, assess, city_judgement, splits, statute};

fn evaluate(ctx: &Context, facts: Facts) -> Result<Assessment, ModuleError> {
    let splits = splits(ctx)?;
    let statute = statute(&facts);
    let judgement = city_judgement(&facts, &statute);
    ctx.info(
        "penalty band proposed",
        &[("level", judgement.level.code()), ("rule", "city")],
    );
    Ok(assess(&facts, &statute, judgement, &splits, "city"))
}

civitas_module::export_evaluator!(evaluate);
