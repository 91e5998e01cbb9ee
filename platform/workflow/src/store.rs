//! Row SQL and decoding shared by cases, tasks, events, timers and
//! notifications (written once, run on either backend). Statements of one
//! use stay with it: a transition's and attachments' in `cases.rs`, the
//! inbox query in `inbox.rs`, timers' and notifications' in `timers.rs`.

use chrono::NaiveDate;
use civitas_calendar::DayUnit;
use civitas_storage::{Connection, with_connection};
use civitas_tenancy::TenantPath;
use serde_json::Value;
use sqlx::Row;

use crate::model::{Case, CaseEvent, CaseState, Signature};
use crate::transitions::Task;
use crate::{WorkflowError, corrupt};

pub(crate) const CASE_COLUMNS: &str = "id, tenant_path, line, service, flow_variant, title, origin, state, step, version, \
     applicant, created_by, data, outcomes, signed, step_due_on, step_unit, limit_due_on, limit_unit, \
     paused_on, overdue, supervised, created_at, updated_at, created_by_account";

/// A stored value of `table`'s row `key` that does not decode.
fn bad(table: &str, key: &str, column: &str, why: impl std::fmt::Display) -> WorkflowError {
    corrupt(format!("{table} {key}: {column} {why}"))
}

/// A stored `YYYY-MM-DD` date.
pub(crate) fn stored_date(
    table: &str,
    key: &str,
    column: &str,
    text: &str,
) -> Result<NaiveDate, WorkflowError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| {
        bad(
            table,
            key,
            column,
            format_args!("“{text}” is not a date: {e}"),
        )
    })
}

fn stored_opt_date(
    table: &str,
    key: &str,
    column: &str,
    text: Option<&str>,
) -> Result<Option<NaiveDate>, WorkflowError> {
    text.map(|t| stored_date(table, key, column, t)).transpose()
}

/// A stored JSON object (documents, hook outcomes, history details are
/// always written as objects).
pub(crate) fn stored_object(
    table: &str,
    key: &str,
    column: &str,
    text: &str,
) -> Result<Value, WorkflowError> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err(bad(table, key, column, "is not a JSON object")),
        Err(e) => Err(bad(table, key, column, format_args!("is not JSON: {e}"))),
    }
}

/// A stored tenant path.
pub(crate) fn stored_path(
    table: &str,
    key: &str,
    column: &str,
    text: &str,
) -> Result<TenantPath, WorkflowError> {
    TenantPath::parse(text).map_err(|e| bad(table, key, column, format_args!("“{text}”: {e}")))
}

/// A stored day unit (`working` / `natural`), kept as its text.
pub(crate) fn stored_unit(
    table: &str,
    key: &str,
    column: &str,
    text: Option<String>,
) -> Result<Option<String>, WorkflowError> {
    match text {
        Some(t) if DayUnit::parse(&t).is_none() => Err(bad(
            table,
            key,
            column,
            format_args!("“{t}” is not a day unit"),
        )),
        other => Ok(other),
    }
}

/// A `cases` row as stored.
#[derive(sqlx::FromRow)]
struct CaseRow {
    id: String,
    tenant_path: String,
    line: String,
    service: String,
    flow_variant: String,
    title: String,
    origin: String,
    state: String,
    step: Option<String>,
    version: i64,
    applicant: Option<String>,
    created_by: String,
    created_by_account: Option<String>,
    data: String,
    outcomes: String,
    signed: String,
    step_due_on: Option<String>,
    step_unit: Option<String>,
    limit_due_on: Option<String>,
    limit_unit: Option<String>,
    paused_on: Option<String>,
    overdue: bool,
    supervised: bool,
    created_at: i64,
    updated_at: i64,
}

impl CaseRow {
    fn decode(self) -> Result<Case, WorkflowError> {
        let id = self.id;
        let fail = |column: &str, why: &str| bad("case", &id, column, why);
        let state = CaseState::parse(&self.state)
            .ok_or_else(|| fail("state", &format!("“{}” is not a case state", self.state)))?;
        if !matches!(
            self.origin.as_str(),
            "application" | "warning" | "entitlement"
        ) {
            return Err(fail(
                "origin",
                &format!("“{}” is not an origin", self.origin),
            ));
        }
        // A case waiting anywhere waits at a step; a paused one since a day.
        if !state.is_final() && self.step.is_none() {
            return Err(fail(
                "step",
                &format!("is missing in state {}", state.as_str()),
            ));
        }
        if state == CaseState::Paused && self.paused_on.is_none() {
            return Err(fail("paused_on", "is missing in state paused"));
        }
        let signed: Vec<Signature> = serde_json::from_str(&self.signed)
            .map_err(|e| fail("signed", &format!("is not a list of signatures: {e}")))?;
        Ok(Case {
            tenant_path: stored_path("case", &id, "tenant_path", &self.tenant_path)?,
            line: self.line,
            service: self.service,
            flow_variant: self.flow_variant,
            title: self.title,
            origin: self.origin,
            state,
            step: self.step,
            version: self.version,
            applicant: self.applicant,
            created_by: self.created_by,
            created_by_account: self.created_by_account,
            data: stored_object("case", &id, "data", &self.data)?,
            outcomes: stored_object("case", &id, "outcomes", &self.outcomes)?,
            signed,
            step_due_on: stored_opt_date("case", &id, "step_due_on", self.step_due_on.as_deref())?,
            step_unit: stored_unit("case", &id, "step_unit", self.step_unit)?,
            limit_due_on: stored_opt_date(
                "case",
                &id,
                "limit_due_on",
                self.limit_due_on.as_deref(),
            )?,
            limit_unit: stored_unit("case", &id, "limit_unit", self.limit_unit)?,
            paused_on: stored_opt_date("case", &id, "paused_on", self.paused_on.as_deref())?,
            overdue: self.overdue,
            supervised: self.supervised,
            created_at: self.created_at,
            updated_at: self.updated_at,
            id,
        })
    }
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
    let rows: Vec<CaseRow> = with_connection!(conn, c => {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for bind in binds {
            query = match bind {
                Bind::Text(t) => query.bind(t.clone()),
                Bind::Int(i) => query.bind(*i),
            };
        }
        query.fetch_all(&mut *c).await?
    });
    rows.into_iter().map(CaseRow::decode).collect()
}

/// Reads cases with `where_sql` and `binds` as a stream, handing each to
/// `each` as it is decoded until `each` answers false; the number handed
/// over. A stored case that does not decode ends it with an error.
pub(crate) async fn each_case(
    conn: Connection<'_>,
    where_sql: &str,
    binds: &[Bind],
    each: &mut (dyn FnMut(Case) -> bool + Send),
) -> Result<u64, WorkflowError> {
    use futures_util::TryStreamExt;
    let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE {where_sql}");
    let mut handed = 0u64;
    with_connection!(conn, c => {
        let mut query = sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(sql));
        for bind in binds {
            query = match bind {
                Bind::Text(t) => query.bind(t.clone()),
                Bind::Int(i) => query.bind(*i),
            };
        }
        let mut rows = query.fetch(&mut *c);
        while let Some(row) = rows.try_next().await? {
            handed += 1;
            if !each(row.decode()?) {
                break;
            }
        }
    });
    Ok(handed)
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
         $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)"
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
            .bind(case.created_by_account.clone())
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

/// Binds a guarded case-row update's `$1`–`$19` (the row as changed,
/// the version read, the flags kept), for either backend's query: the same
/// order in [`update_case`] and [`write_transition`].
macro_rules! bind_case_row {
    ($query:expr, $case:expr, $expected:expr, $keep:expr) => {
        $query
            .bind($case.tenant_path.as_str().to_owned())
            .bind($case.state.as_str())
            .bind($case.step.clone())
            .bind($case.version)
            .bind($case.data.to_string())
            .bind($case.outcomes.to_string())
            .bind(serde_json::to_string(&$case.signed).unwrap_or_else(|_| "[]".into()))
            .bind($case.step_due_on.map(|d| d.to_string()))
            .bind($case.step_unit.clone())
            .bind($case.limit_due_on.map(|d| d.to_string()))
            .bind($case.limit_unit.clone())
            .bind($case.paused_on.map(|d| d.to_string()))
            .bind($case.overdue)
            .bind($case.supervised)
            .bind($case.updated_at)
            .bind($case.id.clone())
            .bind($expected)
            .bind($keep.overdue)
            .bind($keep.supervised)
    };
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
        bind_case_row!(sqlx::query(sql), case, expected, keep)
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

/// Stores the module decisions `evaluations` made on `case` (its rows in
/// `case_evaluations`, at the case's tenant), in the transaction that
/// records them in the history.
pub(crate) async fn insert_evaluations(
    conn: Connection<'_>,
    case: &Case,
    evaluations: &[crate::transitions::Evaluation],
    now: i64,
) -> Result<(), WorkflowError> {
    if evaluations.is_empty() {
        return Ok(());
    }
    let sql = "INSERT INTO case_evaluations (id, case_id, tenant_path, hook, module, version, \
               evaluated_on, input, settings, output, recorded_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    // Serialising a JSON map cannot fail (its keys are strings).
    let settings: Vec<String> = evaluations
        .iter()
        .map(|e| serde_json::to_string(&*e.settings).unwrap_or_default())
        .collect();
    with_connection!(conn, c => {
        for (e, settings) in evaluations.iter().zip(&settings) {
            sqlx::query(sql)
                .bind(e.id.clone())
                .bind(case.id.clone())
                .bind(case.tenant_path.as_str().to_owned())
                .bind(e.hook.clone())
                .bind(e.module.clone())
                .bind(e.version.clone())
                .bind(e.evaluated_on.to_string())
                .bind(e.input.to_string())
                .bind(settings.clone())
                .bind(e.output.to_string())
                .bind(now)
                .execute(&mut *c)
                .await?;
        }
    });
    Ok(())
}

/// The columns of [`EventRow`].
const EVENT_COLUMNS: &str =
    "case_id, seq, at, actor, action, step, to_step, reason, module, module_version, detail";

/// A `case_events` row as stored.
#[derive(sqlx::FromRow)]
struct EventRow {
    case_id: String,
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    step: Option<String>,
    to_step: Option<String>,
    reason: Option<String>,
    module: Option<String>,
    module_version: Option<String>,
    detail: String,
}

impl EventRow {
    fn decode(self) -> Result<CaseEvent, WorkflowError> {
        let key = format!("{} #{}", self.case_id, self.seq);
        Ok(CaseEvent {
            detail: stored_object("case event", &key, "detail", &self.detail)?,
            case_id: self.case_id,
            seq: self.seq,
            at: self.at,
            actor: self.actor,
            action: self.action,
            step: self.step,
            to_step: self.to_step,
            reason: self.reason,
            module: self.module,
            module_version: self.module_version,
        })
    }
}

/// Up to `limit` history entries of the case `case_id` after `after`
/// (its `seq`), in order.
pub(crate) async fn events(
    conn: Connection<'_>,
    case_id: &str,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<CaseEvent>, WorkflowError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM case_events WHERE case_id = $1 AND seq > $2 ORDER BY seq LIMIT {limit}"
    );
    let rows: Vec<EventRow> = with_connection!(conn, c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(case_id.to_owned())
            .bind(after.unwrap_or(0))
            .fetch_all(&mut *c)
            .await?
    });
    rows.into_iter().map(EventRow::decode).collect()
}

/// The history entries of the case `case_id` whose action is `action`
/// (few: e.g. its extensions, which a limit bounds).
pub(crate) async fn events_of(
    conn: Connection<'_>,
    case_id: &str,
    action: &str,
) -> Result<Vec<CaseEvent>, WorkflowError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM case_events WHERE case_id = $1 AND action = $2 ORDER BY seq"
    );
    let rows: Vec<EventRow> = with_connection!(conn, c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(case_id.to_owned())
            .bind(action.to_owned())
            .fetch_all(&mut *c)
            .await?
    });
    rows.into_iter().map(EventRow::decode).collect()
}

/// A `case_tasks` row as `tasks` reads it.
#[derive(sqlx::FromRow)]
struct TaskRow {
    case_id: String,
    slot: i64,
    actor_tenant: String,
    actor_role: String,
    line: String,
}

impl TaskRow {
    fn decode(self) -> Result<Task, WorkflowError> {
        let key = format!("{} slot {}", self.case_id, self.slot);
        Ok(Task {
            slot: self.slot,
            actor_tenant: stored_path("case task", &key, "actor_tenant", &self.actor_tenant)?,
            actor_role: self.actor_role,
            line: self.line,
        })
    }
}

/// The open actor slots of the case `case_id`, in slot order.
pub(crate) async fn tasks(conn: Connection<'_>, case_id: &str) -> Result<Vec<Task>, WorkflowError> {
    let sql = "SELECT case_id, slot, actor_tenant, actor_role, line FROM case_tasks WHERE case_id = $1 ORDER BY slot";
    let rows: Vec<TaskRow> = with_connection!(conn, c => {
        sqlx::query_as(sql).bind(case_id.to_owned()).fetch_all(&mut *c).await?
    });
    rows.into_iter().map(TaskRow::decode).collect()
}

/// On PostgreSQL, every write of a transition that stays at its tenant but
/// the audit record, in one statement (one round trip instead of six or
/// more): the case row guarded by the version read (`expected`), its
/// history entry numbered after the last, its tasks (the slot acted on
/// closed, or all replaced), its pending timers cleared and the new ones
/// armed. Every part but the case row waits on `changed`, so a version
/// conflict (none returned) writes nothing. The new tasks read the count
/// of the old ones deleted, which orders the delete before the insert of
/// the same slots. The caller holds the case row before this statement
/// starts: the history entry's number is read in the statement's snapshot,
/// which must come after every other writer of the case has committed.
/// SQLite sends the same writes one statement at a time.
pub(crate) async fn write_transition(
    conn: Connection<'_>,
    case: &Case,
    expected: i64,
    keep: KeepFlags,
    effects: &crate::transitions::Effects,
) -> Result<Option<(bool, bool)>, WorkflowError> {
    let sql = "WITH changed AS (\
        UPDATE cases SET tenant_path = $1, state = $2, step = $3, version = $4, data = $5, \
        outcomes = $6, signed = $7, step_due_on = $8, step_unit = $9, limit_due_on = $10, \
        limit_unit = $11, paused_on = $12, \
        overdue = CASE WHEN $18 THEN overdue ELSE $13 END, \
        supervised = CASE WHEN $19 THEN supervised ELSE $14 END, updated_at = $15 \
        WHERE id = $16 AND version = $17 RETURNING overdue, supervised), \
      event AS (INSERT INTO case_events (case_id, seq, tenant_path, at, actor, action, step, to_step, \
        reason, module, module_version, detail) \
        SELECT $16, (SELECT COALESCE(MAX(seq), 0) + 1 FROM case_events WHERE case_id = $16), \
        $1, $20, $21, $22, $23, $24, $25, $26, $27, $28 FROM changed), \
      closed AS (DELETE FROM case_tasks WHERE case_id = $16 AND (slot = $29::bigint OR $30) \
        AND EXISTS (SELECT 1 FROM changed) RETURNING slot), \
      opened AS (INSERT INTO case_tasks (case_id, slot, tenant_path, actor_tenant, actor_role, line, \
        step, due_on, unit, title, service) \
        SELECT $16, t.slot, $1, t.actor_tenant, t.actor_role, t.line, t.step, t.due_on, t.unit, $32, $33 \
        FROM (SELECT count(*) FROM closed) AS done, changed, \
        unnest($31::bigint[], $34::text[], $35::text[], $36::text[], $37::text[], $38::text[], $39::text[]) \
        AS t(slot, actor_tenant, actor_role, line, step, due_on, unit)), \
      cleared AS (DELETE FROM case_timers WHERE case_id = $16 AND fired_at IS NULL AND kind LIKE $40 \
        AND EXISTS (SELECT 1 FROM changed)), \
      armed AS (INSERT INTO case_timers (id, case_id, tenant_path, kind, step, due_on, fire_at) \
        SELECT t.id, $16, $1, t.kind, t.step, t.due_on, t.fire_at \
        FROM changed, unnest($41::text[], $42::text[], $43::text[], $44::text[], $45::bigint[]) \
        AS t(id, kind, step, due_on, fire_at)) \
      SELECT overdue, supervised FROM changed";
    let event = &effects.event;
    let tasks = effects.tasks.as_deref().unwrap_or_default();
    let pattern = if effects.clear_all_timers {
        Some("%")
    } else if effects.clear_step_timers {
        Some("step.%")
    } else {
        None
    };
    let timers = &effects.new_timers;
    let conn = match conn {
        Connection::Postgres(c) => c,
        Connection::Sqlite(_) => {
            return Err(WorkflowError::Invalid(
                "one-statement transitions are PostgreSQL's".into(),
            ));
        }
    };
    let row = bind_case_row!(sqlx::query(sql), case, expected, keep)
        .bind(event.at)
        .bind(event.actor.clone())
        .bind(event.action.clone())
        .bind(event.step.clone())
        .bind(event.to_step.clone())
        .bind(event.reason.clone())
        .bind(event.module.clone())
        .bind(event.module_version.clone())
        .bind(event.detail.to_string())
        .bind(effects.done_slot)
        .bind(effects.tasks.is_some())
        .bind(tasks.iter().map(|t| t.slot).collect::<Vec<i64>>())
        .bind(case.title.clone())
        .bind(case.service.clone())
        .bind(
            tasks
                .iter()
                .map(|t| t.actor_tenant.as_str().to_owned())
                .collect::<Vec<String>>(),
        )
        .bind(
            tasks
                .iter()
                .map(|t| t.actor_role.clone())
                .collect::<Vec<String>>(),
        )
        .bind(
            tasks
                .iter()
                .map(|t| t.line.clone())
                .collect::<Vec<String>>(),
        )
        .bind(
            tasks
                .iter()
                .map(|t| t.step.clone())
                .collect::<Vec<String>>(),
        )
        .bind(
            tasks
                .iter()
                .map(|t| t.due_on.clone())
                .collect::<Vec<String>>(),
        )
        .bind(
            tasks
                .iter()
                .map(|t| t.unit.clone())
                .collect::<Vec<String>>(),
        )
        .bind(pattern)
        .bind(timers.iter().map(|t| t.id.clone()).collect::<Vec<String>>())
        .bind(
            timers
                .iter()
                .map(|t| t.kind.clone())
                .collect::<Vec<String>>(),
        )
        .bind(
            timers
                .iter()
                .map(|t| t.step.clone())
                .collect::<Vec<Option<String>>>(),
        )
        .bind(
            timers
                .iter()
                .map(|t| t.due_on.to_string())
                .collect::<Vec<String>>(),
        )
        .bind(timers.iter().map(|t| t.fire_at).collect::<Vec<i64>>())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| -> Result<(bool, bool), sqlx::Error> {
        Ok((r.try_get("overdue")?, r.try_get("supervised")?))
    })
    .transpose()
    .map_err(WorkflowError::from)
}
