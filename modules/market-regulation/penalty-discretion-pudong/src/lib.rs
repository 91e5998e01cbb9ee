//! 行政处罚自由裁量 — the 浦东新区 (Pudong) variant for
//! `market-regulation/penalty-case`.
//!
//! Differs from the city's rule (modules/market-regulation/penalty-discretion)
//! in one rule of its own: a party registered with the free-trade zone's or
//! Lingang's market-regulation bureau (seed 004, L1509: reforms that apply
//! to "浦东新区市场监管局、自贸区市场监管局、临港新片区市场监管局登记的企业")
//! whose first violation did little or no harm and was corrected promptly is
//! not penalised — where the city's rule leaves that waiver to the
//! authority (第三十三条第一款: 可以不予). Everything else is the city's rule,
//! with Pudong's own benchmark splits from its tenant settings. See README.md.

use civitas_module::{Context, ModuleError};
use penalty_benchmark::{
    Assessment, Authority, Facts, Judgement, Level, assess, city_judgement, splits, statute,
};

fn evaluate(ctx: &Context, facts: Facts) -> Result<Assessment, ModuleError> {
    let splits = splits(ctx)?;
    let statute = statute(&facts);
    let mut judgement = city_judgement(&facts, &statute);
    let zone = match facts.registration_authority {
        Authority::Ftz => Some("自贸试验区"),
        Authority::Lingang => Some("临港新片区"),
        Authority::District => None,
    };
    if let (Some(zone), true) = (zone, judgement.may_waive) {
        judgement = Judgement {
            level: Level::NoPenalty,
            may_waive: false,
            reasons: vec![format!(
                "{zone}登记的经营主体首次违法、危害后果轻微并及时改正，不予行政处罚（浦东新区规则；《中华人民共和国行政处罚法》第三十三条第一款）"
            )],
        };
    }
    ctx.info(
        "penalty band proposed",
        &[("level", judgement.level.code()), ("rule", "pudong")],
    );
    Ok(assess(&facts, &statute, judgement, &splits, "pudong"))
}

civitas_module::export_evaluator!(evaluate);
