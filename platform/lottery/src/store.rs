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
use crate::draw::{self, Draw, Entry, FORMAT, Published, Ranked};

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
                return Err(corrupt_case(&case.id, "names no project and unit type"));
            };
            if project.is_some_and(|want| want != p) || unit_type.is_some_and(|want| want != u) {
                continue;
            }
            let guarded = workflow
                .flow_of(&case)?
                .guarded(&case, SCORE)
                .ok_or_else(|| LotteryError::NoScore(service.to_owned()))?;
            let whole = |v: &serde_json::Value| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| corrupt_case(&case.id, "has a score that is not a whole number"))
            };
            let filed_at = DateTime::from_timestamp_micros(case.created_at)
                .ok_or_else(|| corrupt_case(&case.id, "has no valid filing time"))?;
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

/// A stored case the waiting list cannot read: corrupt data, an error
/// (never a case silently left out).
fn corrupt_case(id: &str, what: &str) -> LotteryError {
    LotteryError::Storage(civitas_storage::StorageError::Corrupt(format!(
        "case {id} {what}"
    )))
}

/// The cases in `tx`'s subtree some lottery took.
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

/// What a lottery is published with: the entries are frozen now, the
/// draw waits for the public value.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
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
    /// 摇号日期 / The day of the draw (YYYY-MM-DD, China Standard Time),
    /// after the day of publishing, so that its value is not known when the
    /// entries are frozen: the draw is refused before it.
    #[schema(example = "2026-12-08")]
    pub draw_on: String,
    /// 公开随机值 / The public value the draw waits for, named now and
    /// known to nobody yet (1–200 characters).
    #[schema(example = "上证指数 2026-12-08 收盘价")]
    pub public_value: String,
    /// 取值的小数位数 / How the value will be written: a decimal number with
    /// exactly this many digits after the point (0–6; 2: `3412.56`).
    #[schema(example = 2)]
    pub value_decimals: u8,
}

/// The public value, given at the draw.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawRequest {
    /// 公开随机值的取值 / The value the published text named, as announced
    /// (1–200 characters).
    #[schema(example = "3412.56")]
    pub value: String,
}

/// Where a lottery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LotteryState {
    /// 公示中: the entries are frozen; the draw waits for the public value.
    Published,
    /// 已摇号: drawn.
    Drawn,
}

/// A lottery as recorded and published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lottery {
    /// Its id.
    pub id: String,
    /// The tenant that published it.
    pub tenant: String,
    /// Published, or drawn.
    pub state: LotteryState,
    /// The published text, byte for byte.
    pub published: String,
    /// SM3 of `published`, hex: what anyone may keep a copy of.
    pub published_sm3: String,
    /// When it was published, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub published_at: DateTime<Utc>,
    /// The public value given at the draw.
    pub value: Option<String>,
    /// SM3(published ‖ value), hex, once drawn.
    pub seed: Option<String>,
    /// Every entry in order, once drawn: the first `units` drawn (中签), the
    /// rest waiting in that order (轮候).
    pub ranking: Vec<Ranked>,
    /// When it was drawn, RFC 3339 (who published and drew it is in the
    /// audit trail).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub drawn_at: Option<DateTime<Utc>>,
}

impl Lottery {
    /// The recorded draw, once drawn.
    pub fn recorded(&self) -> Option<Draw> {
        Some(Draw {
            seed: self.seed.clone()?,
            ranking: self.ranking.clone(),
        })
    }
}

fn length(text: &str, max: usize, zh: &str, en: &str) -> Result<(), LotteryError> {
    let n = text.chars().count();
    if n == 0 || n > max {
        Err(LotteryError::Invalid(format!(
            "{zh}须为 1–{max} 个字符 / the {en} is 1–{max} characters"
        )))
    } else {
        Ok(())
    }
}

/// `request` with its texts trimmed, checked; and its day of the draw.
fn checked(
    request: &PublishRequest,
    today: NaiveDate,
) -> Result<(PublishRequest, NaiveDate), LotteryError> {
    let request = PublishRequest {
        title: request.title.trim().to_owned(),
        service: request.service.trim().to_owned(),
        project: request.project.trim().to_owned(),
        unit_type: request.unit_type.trim().to_owned(),
        units: request.units,
        draw_on: request.draw_on.trim().to_owned(),
        public_value: request.public_value.trim().to_owned(),
        value_decimals: request.value_decimals,
    };
    length(&request.title, 100, "摇号批次名称", "title")?;
    length(&request.service, 100, "业务事项", "service")?;
    length(&request.project, 100, "项目", "project")?;
    length(&request.unit_type, 50, "户型", "unit type")?;
    length(&request.public_value, 200, "公开随机值", "public value")?;
    if !(1..=10_000).contains(&request.units) {
        return Err(LotteryError::Invalid(
            "房源套数须为 1–10000 / units are 1–10,000".into(),
        ));
    }
    let draw_on = NaiveDate::parse_from_str(&request.draw_on, "%Y-%m-%d").map_err(|_| {
        LotteryError::Invalid(format!(
            "摇号日期不是有效日期：{} / draw_on is not a YYYY-MM-DD date",
            request.draw_on
        ))
    })?;
    if draw_on <= today {
        return Err(LotteryError::Invalid(format!(
            "摇号日期须晚于公示日期（{today}），公开随机值在公示时不可知 / draw_on must be after the day of publishing ({today}), so its value is unknown when the entries are frozen"
        )));
    }
    if request.value_decimals > draw::MAX_DECIMALS {
        return Err(LotteryError::Invalid(format!(
            "取值的小数位数至多为 {max} / value_decimals is at most {max}",
            max = draw::MAX_DECIMALS
        )));
    }
    Ok((request, draw_on))
}

/// `who` publishes a lottery at `scope`'s tenant over the waiting list of
/// `request.service` (line `line`) for its project and unit type, on
/// `today`: the entries are frozen into the published text with the day
/// of the draw and the public value it waits for, and recorded with the
/// entries (each case in one lottery only: a case another lottery took
/// meanwhile fails it with [`LotteryError::AlreadyDrawn`]) and the audit
/// record `lottery.publish`, in one transaction.
#[allow(clippy::too_many_arguments)]
pub async fn publish_lottery(
    workflow: &Workflow,
    db: &Database,
    scope: &TenantScope,
    line: &str,
    who: &Who,
    today: NaiveDate,
    now: DateTime<Utc>,
    request: &PublishRequest,
) -> Result<Lottery, LotteryError> {
    let (request, draw_on) = checked(request, today)?;
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
    let mut entries: Vec<(Entry, String)> = waiting
        .into_iter()
        .map(|w| {
            let entry = Entry {
                case_id: w.case_id,
                score: w.score,
                score_at_submission: w.score_at_submission,
            };
            (entry, w.tenant)
        })
        .collect();
    // Ordered by case id: the published order, and the order every
    // publisher inserts in, so two at once never wait on each other in a
    // cycle (the second finds the first's entries and fails).
    entries.sort_by(|a, b| a.0.case_id.cmp(&b.0.case_id));
    let published = Published {
        format: FORMAT.to_owned(),
        title: request.title.clone(),
        tenant: scope.path().to_string(),
        service: request.service.clone(),
        project: request.project.clone(),
        unit_type: request.unit_type.clone(),
        units: request.units,
        published_on: today.to_string(),
        draw_on: draw_on.to_string(),
        public_value: request.public_value.clone(),
        value_decimals: request.value_decimals,
        entries: entries.iter().map(|(e, _)| e.clone()).collect(),
    };
    let text = draw::publish(&published)?;
    let published_sm3 = hex::encode(civitas_crypto::sm3::digest(text.as_bytes()));
    let lottery = Lottery {
        id: uuid::Uuid::new_v4().to_string(),
        tenant: scope.path().to_string(),
        state: LotteryState::Published,
        published: text,
        published_sm3,
        published_at: now,
        value: None,
        seed: None,
        ranking: Vec::new(),
        drawn_at: None,
    };
    let mut tx = db.begin(scope).await?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO lotteries (id, tenant_path, service, project, unit_type, published, published_sm3, \
             published_by, published_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(lottery.id.clone())
        .bind(lottery.tenant.clone())
        .bind(request.service.clone())
        .bind(request.project.clone())
        .bind(request.unit_type.clone())
        .bind(lottery.published.clone())
        .bind(lottery.published_sm3.clone())
        .bind(who.username.clone())
        .bind(now.timestamp_micros())
        .execute(&mut *c)
        .await?;
    });
    for (entry, tenant) in &entries {
        with_connection!(tx.connection(), c => {
            sqlx::query(
                "INSERT INTO lottery_entries (case_id, tenant_path, lottery_id) VALUES ($1, $2, $3)",
            )
            .bind(entry.case_id.clone())
            .bind(tenant.clone())
            .bind(lottery.id.clone())
            .execute(&mut *c)
            .await?;
        });
    }
    civitas_audit::record(
        &mut tx,
        scope.path(),
        &civitas_audit::NewEvent {
            actor: who.username.clone(),
            action: "lottery.publish".into(),
            target: format!("lottery:{}", lottery.id),
            detail: json!({
                "service": request.service,
                "project": request.project,
                "unit_type": request.unit_type,
                "units": request.units,
                "entries": entries.len(),
                "draw_on": published.draw_on,
                "public_value": published.public_value,
                "published_sm3": lottery.published_sm3,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(lottery)
}

/// `who` draws the published lottery `id` at `scope`'s tenant (service
/// line `line`, or any line when `line` is `None`) with the public `value`
/// its text named, on `today` (not before its day of the draw): the seed
/// SM3(published ‖ value), the ranking, and the audit record `lottery.draw`,
/// in one transaction that holds the lottery's row; a lottery is drawn once
/// ([`LotteryError::AlreadyDrawn`]).
#[allow(clippy::too_many_arguments)]
pub async fn draw_lottery(
    db: &Database,
    scope: &TenantScope,
    line: Option<&str>,
    who: &Who,
    today: NaiveDate,
    now: DateTime<Utc>,
    id: &str,
    value: &str,
) -> Result<Lottery, LotteryError> {
    let value = value.trim();
    length(value, 200, "公开随机值的取值", "value")?;
    let mut tx = db.begin(scope).await?;
    let lock = tx.backend().lock_for_update();
    let stored = read(&mut tx, &scope.path().to_string(), id, lock).await?;
    let Some((mut lottery, service)) = stored else {
        return Err(LotteryError::NotFound(id.to_owned()));
    };
    if line.is_some_and(|line| !service.starts_with(&format!("{line}/"))) {
        return Err(LotteryError::NotFound(id.to_owned()));
    }
    if lottery.state == LotteryState::Drawn {
        return Err(LotteryError::AlreadyDrawn);
    }
    // The stored text was checked when published: one that no longer
    // reads is corrupt, not the caller's mistake.
    let published = draw::parse(&lottery.published).map_err(|e| corrupt(id, e.to_string()))?;
    let (_, outcome) = draw::draw(&lottery.published, value)?;
    let draw_on = NaiveDate::parse_from_str(&published.draw_on, "%Y-%m-%d")
        .map_err(|e| corrupt(id, format!("draw_on: {e}")))?;
    if today < draw_on {
        return Err(LotteryError::NotDue(draw_on));
    }
    let ranking = serde_json::to_string(&outcome.ranking)
        .map_err(|e| LotteryError::Invalid(e.to_string()))?;
    let updated = with_connection!(tx.connection(), c => {
        sqlx::query(
            "UPDATE lotteries SET value = $1, seed = $2, ranking = $3, drawn_by = $4, drawn_at = $5 \
             WHERE id = $6 AND drawn_at IS NULL",
        )
        .bind(value.to_owned())
        .bind(outcome.seed.clone())
        .bind(ranking.clone())
        .bind(who.username.clone())
        .bind(now.timestamp_micros())
        .bind(id.to_owned())
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    if updated != 1 {
        return Err(LotteryError::AlreadyDrawn);
    }
    let drawn: Vec<&str> = outcome
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
            target: format!("lottery:{id}"),
            detail: json!({
                "service": published.service,
                "value": value,
                "seed": outcome.seed,
                "ranking_sm3": hex::encode(civitas_crypto::sm3::digest(ranking.as_bytes())),
                "drawn": drawn,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    lottery.state = LotteryState::Drawn;
    lottery.value = Some(value.to_owned());
    lottery.seed = Some(outcome.seed);
    lottery.ranking = outcome.ranking;
    lottery.drawn_at = Some(now);
    Ok(lottery)
}

fn corrupt(id: &str, what: String) -> LotteryError {
    LotteryError::Storage(civitas_storage::StorageError::Corrupt(format!(
        "lottery {id}: {what}"
    )))
}

type LotteryRow = (
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// The lottery `id` of `tenant` as stored, with its service; `lock` holds
/// its row (PostgreSQL) until `tx` ends.
async fn read(
    tx: &mut TenantTx,
    tenant: &str,
    id: &str,
    lock: &str,
) -> Result<Option<(Lottery, String)>, LotteryError> {
    let sql = format!(
        "SELECT id, service, published, published_sm3, published_at, value, seed, ranking, drawn_at \
         FROM lotteries WHERE id = $1 AND tenant_path = $2{lock}"
    );
    let row: Option<LotteryRow> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .bind(tenant.to_owned())
            .fetch_optional(&mut *c)
            .await?
    });
    let Some((id, service, published, published_sm3, published_at, value, seed, ranking, drawn_at)) =
        row
    else {
        return Ok(None);
    };
    let at = |micros: i64| {
        DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| corrupt(&id, format!("time {micros}")))
    };
    let (state, ranking) = match (&value, &seed, ranking, drawn_at) {
        (None, None, None, None) => (LotteryState::Published, Vec::new()),
        (Some(_), Some(_), Some(ranking), Some(_)) => (
            LotteryState::Drawn,
            serde_json::from_str(&ranking).map_err(|e| corrupt(&id, format!("ranking: {e}")))?,
        ),
        _ => return Err(corrupt(&id, "a draw recorded in part".into())),
    };
    let lottery = Lottery {
        tenant: tenant.to_owned(),
        state,
        published_at: at(published_at)?,
        drawn_at: drawn_at.map(at).transpose()?,
        published,
        published_sm3,
        value,
        seed,
        ranking,
        id,
    };
    Ok(Some((lottery, service)))
}

/// The lottery `id` published at `tenant`, for anyone: a lottery is
/// published so that it can be checked (公示). Reads only that lottery's
/// row.
pub async fn published(
    db: &Database,
    tenant: &TenantPath,
    id: &str,
) -> Result<Lottery, LotteryError> {
    // Public by nature: the scope is the platform's, narrowed to the tenant.
    let scope = TenantScope::for_platform_task(tenant.clone());
    let mut tx = db.begin_read(&scope).await?;
    let found = read(&mut tx, &tenant.to_string(), id, "").await?;
    tx.rollback().await?;
    found
        .map(|(lottery, _)| lottery)
        .ok_or_else(|| LotteryError::NotFound(id.to_owned()))
}
