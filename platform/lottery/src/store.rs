//! Lotteries as stored: the waiting list they draw from, the draw recorded
//! with its entries and audit record, and the public read.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use civitas_storage::{Database, TenantScope, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use civitas_workflow::{CaseFilter, CaseState, Viewer, Who, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::LotteryError;
use crate::draw::{self, Entry, FORMAT, Published, Ranked};

/// The output field a service's flow must guard for its cases to be drawn:
/// the priority score.
const SCORE: &str = "score";

/// Most entries one page of the case list holds while the waiting list is
/// read.
const PAGE: u32 = 200;

/// An admitted application waiting to be drawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Waiting {
    /// The case (办件编号).
    pub case_id: String,
    /// Where it was filed.
    pub tenant: String,
    /// The project applied for.
    pub project: String,
    /// The unit type applied for.
    pub unit_type: String,
    /// The priority score (the latest the district's rule gave).
    pub score: u32,
    /// The score at submission.
    pub score_at_submission: u32,
    /// The fairness guard warned: the score changed after submission.
    pub fairness_warning: bool,
    /// Filed, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub filed_at: DateTime<Utc>,
}

/// What a lottery draws from.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawRequest {
    /// 摇号批次名称 / The draw's title, 1–100 characters.
    #[schema(example = "2026年第四季度张江人才公寓一室一厅摇号")]
    pub title: String,
    /// 业务事项 / The service (`housing/talent-apartment`).
    #[schema(example = "housing/talent-apartment")]
    pub service: String,
    /// 人才公寓项目 / The project, as applications name it.
    #[schema(example = "张江国际社区人才公寓")]
    pub project: String,
    /// 户型 / The unit type, as applications name it.
    #[schema(example = "one-bedroom")]
    pub unit_type: String,
    /// 房源套数 / Units offered, 1–10,000: how many are drawn.
    #[schema(example = 20)]
    pub units: u32,
    /// 公开随机值 / A value announced beforehand and known only after the
    /// waiting list closed (at most 200 characters), mixed into the seed.
    pub public_entropy: Option<String>,
}

/// A lottery as recorded and published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lottery {
    /// Its id.
    pub id: String,
    /// The tenant that drew it.
    pub tenant: String,
    /// The published text, byte for byte: the seed is its SM3 digest.
    pub published: String,
    /// SM3 of `published`, hex.
    pub seed: String,
    /// Every entry in order: the first `units` drawn (中签), the rest
    /// waiting in that order (轮候).
    pub ranking: Vec<Ranked>,
    /// When, RFC 3339 (who drew it is in the audit trail).
    #[schema(value_type = String, format = DateTime)]
    pub drawn_at: DateTime<Utc>,
}

/// The admitted applications of `service` (line `line`) in `tx`'s subtree
/// that no lottery has drawn yet, for `project` and `unit_type` when given:
/// finished cases with the priority score the fairness guard holds,
/// highest score first, then the earliest filed.
pub async fn waiting_list(
    workflow: &Workflow,
    tx: &mut TenantTx,
    line: &str,
    service: &str,
    project: Option<&str>,
    unit_type: Option<&str>,
) -> Result<Vec<Waiting>, LotteryError> {
    let viewer = Viewer::Staff {
        line: line.to_owned(),
    };
    let drawn = drawn_cases(tx).await?;
    let mut waiting = Vec::new();
    let mut before = None;
    loop {
        let filter = CaseFilter {
            service: Some(service.to_owned()),
            state: Some(CaseState::Closed),
            overdue: None,
            before: before.clone(),
            limit: PAGE,
        };
        let page = workflow.list(tx, &viewer, &filter).await?;
        let full = page.len() == PAGE as usize;
        before = page.last().map(|c| (c.created_at, c.id.clone()));
        for case in page {
            if drawn.contains(&case.id) {
                continue;
            }
            let text = |field: &str| {
                case.data
                    .get(field)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            let (Some(p), Some(u)) = (text("project"), text("unit_type")) else {
                return Err(LotteryError::Invalid(format!(
                    "案件 {} 没有 project、unit_type / case {} names no project and unit type",
                    case.id, case.id
                )));
            };
            if project.is_some_and(|want| want != p) || unit_type.is_some_and(|want| want != u) {
                continue;
            }
            let guarded = workflow
                .flow_of(&case)?
                .guarded(&case, SCORE)
                .ok_or_else(|| LotteryError::NoScore(service.to_owned()))?;
            let whole = |v: &serde_json::Value| {
                v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                    LotteryError::Invalid(format!(
                        "案件 {} 的得分不是非负整数 / the score of case {} is not a whole number: {v}",
                        case.id, case.id
                    ))
                })
            };
            let filed_at = DateTime::from_timestamp_micros(case.created_at).ok_or_else(|| {
                LotteryError::Invalid(format!("case {} has no valid filing time", case.id))
            })?;
            waiting.push(Waiting {
                score: whole(&guarded.value)?,
                score_at_submission: whole(&guarded.submitted)?,
                fairness_warning: guarded.warned(),
                case_id: case.id,
                tenant: case.tenant_path.to_string(),
                project: p,
                unit_type: u,
                filed_at,
            });
        }
        if !full {
            break;
        }
    }
    waiting.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(a.filed_at.cmp(&b.filed_at))
            .then(a.case_id.cmp(&b.case_id))
    });
    Ok(waiting)
}

/// The cases in `tx`'s subtree some lottery drew.
async fn drawn_cases(tx: &mut TenantTx) -> Result<HashSet<String>, LotteryError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper.to_owned());
    let rows: Vec<(String,)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT case_id FROM lottery_entries WHERE tenant_path >= $1 AND tenant_path < $2",
        )
        .bind(lower.clone())
        .bind(upper.clone())
        .fetch_all(&mut *c)
        .await?
    });
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

fn check(request: &DrawRequest) -> Result<(), LotteryError> {
    let length = |text: &str, max: usize, zh: &str, en: &str| {
        let n = text.trim().chars().count();
        if n == 0 || n > max {
            Err(LotteryError::Invalid(format!(
                "{zh}须为 1–{max} 个字符 / the {en} is 1–{max} characters"
            )))
        } else {
            Ok(())
        }
    };
    length(&request.title, 100, "摇号批次名称", "title")?;
    length(&request.service, 100, "业务事项", "service")?;
    length(&request.project, 100, "项目", "project")?;
    length(&request.unit_type, 50, "户型", "unit type")?;
    if let Some(entropy) = &request.public_entropy {
        length(entropy, 200, "公开随机值", "public entropy")?;
    }
    if !(1..=10_000).contains(&request.units) {
        return Err(LotteryError::Invalid(
            "房源套数须为 1–10000 / units are 1–10,000".into(),
        ));
    }
    Ok(())
}

/// `who` draws a lottery at `scope`'s tenant over the waiting list of
/// `request.service` (line `line`) for its project and unit type, on
/// `today`: publishes the entries, draws, and records the lottery, its
/// entries (each case drawn once: a case another lottery drew meanwhile
/// fails it with [`LotteryError::AlreadyDrawn`]) and the audit record
/// `lottery.draw` in one transaction.
#[allow(clippy::too_many_arguments)]
pub async fn draw_lottery(
    workflow: &Workflow,
    db: &Database,
    scope: &TenantScope,
    line: &str,
    who: &Who,
    today: NaiveDate,
    now: DateTime<Utc>,
    request: &DrawRequest,
) -> Result<Lottery, LotteryError> {
    check(request)?;
    let mut read = db.begin_read(scope).await?;
    let waiting = waiting_list(
        workflow,
        &mut read,
        line,
        &request.service,
        Some(&request.project),
        Some(&request.unit_type),
    )
    .await?;
    read.rollback().await?;
    if waiting.is_empty() {
        return Err(LotteryError::NothingToDraw);
    }
    let mut entries: Vec<Entry> = waiting
        .iter()
        .map(|w| Entry {
            case_id: w.case_id.clone(),
            score: w.score,
            score_at_submission: w.score_at_submission,
        })
        .collect();
    entries.sort_by(|a, b| a.case_id.cmp(&b.case_id));
    let tenant_of: std::collections::HashMap<&str, &str> = waiting
        .iter()
        .map(|w| (w.case_id.as_str(), w.tenant.as_str()))
        .collect();
    let published = Published {
        format: FORMAT.to_owned(),
        title: request.title.trim().to_owned(),
        tenant: scope.path().to_string(),
        service: request.service.clone(),
        project: request.project.clone(),
        unit_type: request.unit_type.clone(),
        units: request.units,
        drawn_on: today.to_string(),
        public_entropy: request.public_entropy.as_ref().map(|e| e.trim().to_owned()),
        entries,
    };
    let text = draw::publish(&published)?;
    let (_, outcome) = draw::draw(&text)?;
    let lottery = Lottery {
        id: uuid::Uuid::new_v4().to_string(),
        tenant: scope.path().to_string(),
        published: text,
        seed: outcome.seed,
        ranking: outcome.ranking,
        drawn_at: now,
    };
    let ranking = serde_json::to_string(&lottery.ranking)
        .map_err(|e| LotteryError::Invalid(e.to_string()))?;
    let mut tx = db.begin(scope).await?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO lotteries (id, tenant_path, service, project, unit_type, published, seed, ranking, drawn_by, drawn_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(lottery.id.clone())
        .bind(lottery.tenant.clone())
        .bind(request.service.clone())
        .bind(request.project.clone())
        .bind(request.unit_type.clone())
        .bind(lottery.published.clone())
        .bind(lottery.seed.clone())
        .bind(ranking.clone())
        .bind(who.username.clone())
        .bind(now.timestamp_micros())
        .execute(&mut *c)
        .await?;
    });
    for ranked in &lottery.ranking {
        let tenant = tenant_of
            .get(ranked.case_id.as_str())
            .copied()
            .unwrap_or_default();
        with_connection!(tx.connection(), c => {
            sqlx::query(
                "INSERT INTO lottery_entries (case_id, tenant_path, lottery_id, position, drawn) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(ranked.case_id.clone())
            .bind(tenant.to_owned())
            .bind(lottery.id.clone())
            .bind(i64::from(ranked.position))
            .bind(ranked.drawn)
            .execute(&mut *c)
            .await?;
        });
    }
    let drawn: Vec<&str> = lottery
        .ranking
        .iter()
        .filter(|r| r.drawn)
        .map(|r| r.case_id.as_str())
        .collect();
    civitas_audit::record(
        &mut tx,
        scope.path(),
        &civitas_audit::NewEvent {
            actor: who.username.clone(),
            action: "lottery.draw".into(),
            target: format!("lottery:{}", lottery.id),
            detail: json!({
                "service": request.service,
                "project": request.project,
                "unit_type": request.unit_type,
                "units": request.units,
                "entries": lottery.ranking.len(),
                "seed": lottery.seed,
                "ranking_sm3": draw::hex(&civitas_crypto::sm3::digest(ranking.as_bytes())),
                "drawn": drawn,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(lottery)
}

/// The lottery `id` drawn at `tenant`, for anyone: a draw is published so
/// that it can be checked (公示). Reads only that lottery's row.
pub async fn published(
    db: &Database,
    tenant: &TenantPath,
    id: &str,
) -> Result<Lottery, LotteryError> {
    // Public by nature: the scope is the platform's, narrowed to the tenant.
    let scope = TenantScope::for_platform_task(tenant.clone());
    let mut tx = db.begin_read(&scope).await?;
    let row: Option<(String, String, String, String, i64)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT id, published, seed, ranking, drawn_at FROM lotteries \
             WHERE id = $1 AND tenant_path = $2",
        )
        .bind(id.to_owned())
        .bind(tenant.to_string())
        .fetch_optional(&mut *c)
        .await?
    });
    tx.rollback().await?;
    let (id, published, seed, ranking, drawn_at) =
        row.ok_or_else(|| LotteryError::NotFound(id.to_owned()))?;
    let corrupt = |what: String| {
        LotteryError::Storage(civitas_storage::StorageError::Corrupt(format!(
            "lottery {id}: {what}"
        )))
    };
    let ranking: Vec<Ranked> =
        serde_json::from_str(&ranking).map_err(|e| corrupt(format!("ranking: {e}")))?;
    let drawn_at = DateTime::from_timestamp_micros(drawn_at)
        .ok_or_else(|| corrupt(format!("drawn_at {drawn_at}")))?;
    Ok(Lottery {
        tenant: tenant.to_string(),
        id,
        published,
        seed,
        ranking,
        drawn_at,
    })
}
