//! The SQL of cases, tasks, events, timers and notifications (written once,
//! run on either backend).

use chrono::NaiveDate;
use civitas_storage::{Connection, with_connection};
use serde_json::Value;
use sqlx::Row;

use crate::WorkflowError;
use crate::cases::{Case, CaseEvent, CaseState};

pub(crate) const CASE_COLUMNS: &str = "id, tenant_path, line, service, flow_variant, title, origin, state, step, version, \
     applicant, created_by, data, outcomes, signed, step_due_on, step_unit, limit_due_on, limit_unit, \
     paused_on, overdue, supervised, created_at, updated_at";

fn date(text: Option<String>) -> Option<NaiveDate> {
    text.and_then(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

macro_rules! case_from_row {
    ($r:expr) => {{
        let r = $r;
        let tenant: String = r.try_get("tenant_path")?;
        Case {
            id: r.try_get("id")?,
            tenant_path: civitas_tenancy::TenantPath::parse(&tenant)
                .map_err(|e| WorkflowError::Invalid(e.to_string()))?,
            line: r.try_get("line")?,
            service: r.try_get("service")?,
            flow_variant: r.try_get("flow_variant")?,
            title: r.try_get("title")?,
            origin: r.try_get("origin")?,
            state: CaseState::parse(&r.try_get::<String, _>("state")?),
            step: r.try_get("step")?,
            version: r.try_get("version")?,
            applicant: r.try_get("applicant")?,
            created_by: r.try_get("created_by")?,
            data: json(&r.try_get::<String, _>("data")?),
            outcomes: json(&r.try_get::<String, _>("outcomes")?),
            signed: serde_json::from_str(&r.try_get::<String, _>("signed")?).unwrap_or_default(),
            step_due_on: date(r.try_get("step_due_on")?),
            step_unit: r.try_get("step_unit")?,
            limit_due_on: date(r.try_get("limit_due_on")?),
            limit_unit: r.try_get("limit_unit")?,
            paused_on: date(r.try_get("paused_on")?),
            overdue: r.try_get("overdue")?,
            supervised: r.try_get("supervised")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        }
    }};
}

/// Whether another transaction holding the case's row may be waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfLocked {
    /// Wait for it (a person's action or attachment).
    Wait,
    /// Do not wait: report the case as busy (a timer, which fires later).
    Skip,
}

/// Locks the case `id`'s row until the transaction ends, so that its
/// history is appended by one transaction at a time (`case_events.seq` is
/// the next number of that case). Returns whether the case exists and was
/// locked; with [`IfLocked::Skip`] a case another transaction holds reads
/// as not locked. On SQLite write transactions already exclude each other.
pub(crate) async fn lock_case(
    conn: Connection<'_>,
    backend: civitas_storage::Backend,
    id: &str,
    if_locked: IfLocked,
) -> Result<bool, WorkflowError> {
    let lock = match if_locked {
        IfLocked::Wait => backend.lock_for_update(),
        IfLocked::Skip => backend.lock_for_update_skip_locked(),
    };
    let sql = format!("SELECT id FROM cases WHERE id = $1{lock}");
    Ok(with_connection!(conn, c => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .fetch_optional(&mut *c)
            .await?
            .is_some()
    }))
}

/// Reads cases with `where_sql` (placeholders from `$1`) and `binds`.
pub(crate) async fn select_cases(
    conn: Connection<'_>,
    where_sql: &str,
    binds: &[Bind],
) -> Result<Vec<Case>, WorkflowError> {
    let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE {where_sql}");
    let cases = with_connection!(conn, c => {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for bind in binds {
            query = match bind {
                Bind::Text(t) => query.bind(t.clone()),
                Bind::Int(i) => query.bind(*i),
            };
        }
        let rows = query.fetch_all(&mut *c).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(case_from_row!(r));
        }
        out
    });
    Ok(cases)
}

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

pub(crate) fn text(s: impl Into<String>) -> Bind {
    Bind::Text(s.into())
}

/// Runs a statement with binds; the rows affected.
pub(crate) async fn execute(
    conn: Connection<'_>,
    sql: &str,
    binds: &[Option<Bind>],
) -> Result<u64, WorkflowError> {
    let affected = with_connection!(conn, c => {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
        for bind in binds {
            query = match bind {
                Some(Bind::Text(t)) => query.bind(t.clone()),
                Some(Bind::Int(i)) => query.bind(*i),
                None => query.bind(None::<String>),
            };
        }
        query.execute(&mut *c).await?.rows_affected()
    });
    Ok(affected)
}

pub(crate) async fn insert_case(conn: Connection<'_>, case: &Case) -> Result<(), WorkflowError> {
    let sql = format!(
        "INSERT INTO cases ({CASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
    );
    with_connection!(conn, c => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(case.id.clone())
            .bind(case.tenant_path.as_str().to_owned())
            .bind(case.line.clone())
            .bind(case.service.clone())
            .bind(case.flow_variant.clone())
            .bind(case.title.clone())
            .bind(case.origin.clone())
            .bind(case.state.as_str())
            .bind(case.step.clone())
            .bind(case.version)
            .bind(case.applicant.clone())
            .bind(case.created_by.clone())
            .bind(case.data.to_string())
            .bind(case.outcomes.to_string())
            .bind(serde_json::to_string(&case.signed).unwrap_or_else(|_| "[]".into()))
            .bind(case.step_due_on.map(|d| d.to_string()))
            .bind(case.step_unit.clone())
            .bind(case.limit_due_on.map(|d| d.to_string()))
            .bind(case.limit_unit.clone())
            .bind(case.paused_on.map(|d| d.to_string()))
            .bind(case.overdue)
            .bind(case.supervised)
            .bind(case.created_at)
            .bind(case.updated_at)
            .execute(&mut *c)
            .await?;
    });
    Ok(())
}

/// Which of a case's timer-set flags an update leaves as the row has them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeepFlags {
    /// Keep `overdue`.
    pub(crate) overdue: bool,
    /// Keep `supervised`.
    pub(crate) supervised: bool,
}

/// Writes `case` over the row whose version is `expected` and returns the
/// row's `overdue` and `supervised` as written; none if the row moved on
/// (someone else acted first).
pub(crate) async fn update_case(
    conn: Connection<'_>,
    case: &Case,
    expected: i64,
    keep: KeepFlags,
) -> Result<Option<(bool, bool)>, WorkflowError> {
    let sql = "UPDATE cases SET tenant_path = $1, state = $2, step = $3, version = $4, data = $5, \
               outcomes = $6, signed = $7, step_due_on = $8, step_unit = $9, limit_due_on = $10, \
               limit_unit = $11, paused_on = $12, \
               overdue = CASE WHEN $18 THEN overdue ELSE $13 END, \
               supervised = CASE WHEN $19 THEN supervised ELSE $14 END, updated_at = $15 \
               WHERE id = $16 AND version = $17 RETURNING overdue, supervised";
    let n = with_connection!(conn, c => {
        sqlx::query(sql)
            .bind(case.tenant_path.as_str().to_owned())
            .bind(case.state.as_str())
            .bind(case.step.clone())
            .bind(case.version)
            .bind(case.data.to_string())
            .bind(case.outcomes.to_string())
            .bind(serde_json::to_string(&case.signed).unwrap_or_else(|_| "[]".into()))
            .bind(case.step_due_on.map(|d| d.to_string()))
            .bind(case.step_unit.clone())
            .bind(case.limit_due_on.map(|d| d.to_string()))
            .bind(case.limit_unit.clone())
            .bind(case.paused_on.map(|d| d.to_string()))
            .bind(case.overdue)
            .bind(case.supervised)
            .bind(case.updated_at)
            .bind(case.id.clone())
            .bind(expected)
            .bind(keep.overdue)
            .bind(keep.supervised)
            .fetch_optional(&mut *c)
            .await?
            .map(|r| -> Result<(bool, bool), sqlx::Error> {
                Ok((r.try_get("overdue")?, r.try_get("supervised")?))
            })
            .transpose()?
    });
    Ok(n)
}

pub(crate) async fn insert_event(
    conn: Connection<'_>,
    event: &CaseEvent,
    tenant: &str,
) -> Result<(), WorkflowError> {
    let sql = "INSERT INTO case_events (case_id, seq, tenant_path, at, actor, action, step, to_step, \
               reason, module, module_version, detail) \
               VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM case_events WHERE case_id = $1), \
               $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    with_connection!(conn, c => {
        sqlx::query(sql)
            .bind(event.case_id.clone())
            .bind(tenant.to_owned())
            .bind(event.at)
            .bind(event.actor.clone())
            .bind(event.action.clone())
            .bind(event.step.clone())
            .bind(event.to_step.clone())
            .bind(event.reason.clone())
            .bind(event.module.clone())
            .bind(event.module_version.clone())
            .bind(event.detail.to_string())
            .execute(&mut *c)
            .await?;
    });
    Ok(())
}

pub(crate) async fn events(
    conn: Connection<'_>,
    case_id: &str,
) -> Result<Vec<CaseEvent>, WorkflowError> {
    let sql = "SELECT case_id, seq, at, actor, action, step, to_step, reason, module, module_version, detail \
               FROM case_events WHERE case_id = $1 ORDER BY seq";
    let events = with_connection!(conn, c => {
        let rows = sqlx::query(sql).bind(case_id.to_owned()).fetch_all(&mut *c).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(CaseEvent {
                case_id: r.try_get("case_id")?,
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                step: r.try_get("step")?,
                to_step: r.try_get("to_step")?,
                reason: r.try_get("reason")?,
                module: r.try_get("module")?,
                module_version: r.try_get("module_version")?,
                detail: json(&r.try_get::<String, _>("detail")?),
            });
        }
        out
    });
    Ok(events)
}

/// An open actor slot of a case's current step.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub slot: i64,
    pub actor_tenant: String,
    pub actor_role: String,
    pub line: String,
}

pub(crate) async fn tasks(conn: Connection<'_>, case_id: &str) -> Result<Vec<Task>, WorkflowError> {
    let sql = "SELECT slot, actor_tenant, actor_role, line FROM case_tasks WHERE case_id = $1 ORDER BY slot";
    let tasks = with_connection!(conn, c => {
        let rows = sqlx::query(sql).bind(case_id.to_owned()).fetch_all(&mut *c).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(Task {
                slot: r.try_get::<i64, _>("slot")?,
                actor_tenant: r.try_get("actor_tenant")?,
                actor_role: r.try_get("actor_role")?,
                line: r.try_get("line")?,
            });
        }
        out
    });
    Ok(tasks)
}
