//! Durable timers: reminders before a deadline, overdue marking at it,
//! escalation (督办) to the level above after a grace period, and the
//! statutory limit's reminder and expiry.
//!
//! A timer is a row. [`fire_due`] claims due rows (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL; SQLite's writer lock serialises claims) and, in
//! the same transaction, marks each fired, applies it to its case, writes a
//! notification and an audit record. A crash before commit leaves the rows
//! due for the next run; a commit makes them fired for every process. So
//! each timer fires exactly once, however many servers share the database,
//! and a restart loses none.

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use civitas_calendar::{Calendar, DayUnit};
use civitas_storage::{Database, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use serde::Serialize;
use serde_json::json;

use crate::WorkflowError;
use crate::store::{self, Bind, text};

/// A timer to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimer {
    /// Its id.
    pub id: String,
    /// The case.
    pub case_id: String,
    /// `step.remind`, `step.overdue`, `step.escalate`, `limit.remind`, `limit.overdue`.
    pub kind: String,
    /// The step it belongs to (step timers).
    pub step: Option<String>,
    /// The deadline it is about.
    pub due_on: NaiveDate,
    /// When it fires, Unix microseconds.
    pub fire_at: i64,
}

/// `date` at `hour`:00 China time (UTC+8), as Unix microseconds.
pub fn china_time_micros(date: NaiveDate, hour: u32) -> i64 {
    let naive = date.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or(NaiveTime::MIN));
    Utc.from_utc_datetime(&naive).timestamp_micros() - 8 * 3_600 * 1_000_000
}

fn timer(case_id: &str, kind: &str, step: Option<&str>, due: NaiveDate, fire_at: i64) -> NewTimer {
    NewTimer {
        id: uuid::Uuid::new_v4().to_string(),
        case_id: case_id.to_owned(),
        kind: kind.to_owned(),
        step: step.map(str::to_owned),
        due_on: due,
        fire_at,
    }
}

/// The timers of a step due on `due`: a reminder `remind_before` days
/// ahead (09:00, skipped if already past), overdue at the end of the due
/// day, escalation `escalate_after` days later.
#[allow(clippy::too_many_arguments)]
pub fn step_timers(
    calendar: &Calendar,
    case_id: &str,
    step: &str,
    due: NaiveDate,
    unit: DayUnit,
    remind_before: Option<u32>,
    escalate_after: Option<u32>,
    today: NaiveDate,
) -> Result<Vec<NewTimer>, WorkflowError> {
    let mut out = Vec::new();
    if let Some(days) = remind_before {
        let on = calendar.sub_days(due, days, unit)?;
        if on >= today {
            out.push(timer(
                case_id,
                "step.remind",
                Some(step),
                due,
                china_time_micros(on, 9),
            ));
        }
    }
    let after = due.succ_opt().unwrap_or(due);
    out.push(timer(
        case_id,
        "step.overdue",
        Some(step),
        due,
        china_time_micros(after, 0),
    ));
    if let Some(days) = escalate_after {
        let on = calendar.add_days(due, days, unit)?;
        let after = on.succ_opt().unwrap_or(on);
        out.push(timer(
            case_id,
            "step.escalate",
            Some(step),
            due,
            china_time_micros(after, 0),
        ));
    }
    Ok(out)
}

/// The statutory limit's timers: reminder and expiry.
pub fn limit_timers(
    calendar: &Calendar,
    case_id: &str,
    due: NaiveDate,
    unit: DayUnit,
    remind_before: Option<u32>,
    today: NaiveDate,
) -> Result<Vec<NewTimer>, WorkflowError> {
    let mut out = Vec::new();
    if let Some(days) = remind_before {
        let on = calendar.sub_days(due, days, unit)?;
        if on >= today {
            out.push(timer(
                case_id,
                "limit.remind",
                None,
                due,
                china_time_micros(on, 9),
            ));
        }
    }
    let after = due.succ_opt().unwrap_or(due);
    out.push(timer(
        case_id,
        "limit.overdue",
        None,
        due,
        china_time_micros(after, 0),
    ));
    Ok(out)
}

pub(crate) async fn insert(
    tx: &mut TenantTx,
    tenant: &str,
    timers: &[NewTimer],
) -> Result<(), WorkflowError> {
    if timers.is_empty() {
        return Ok(());
    }
    // One statement for all of a step's timers: a transition's round trips
    // are its cost on PostgreSQL.
    let mut rows = Vec::with_capacity(timers.len());
    let mut binds = Vec::with_capacity(timers.len() * 7);
    for t in timers {
        let n = binds.len();
        rows.push(format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5,
            n + 6,
            n + 7
        ));
        binds.extend([
            Some(text(&t.id)),
            Some(text(&t.case_id)),
            Some(text(tenant)),
            Some(text(&t.kind)),
            t.step.as_ref().map(text),
            Some(text(t.due_on.to_string())),
            Some(Bind::Int(t.fire_at)),
        ]);
    }
    store::execute(
        tx.connection(),
        &format!(
            "INSERT INTO case_timers (id, case_id, tenant_path, kind, step, due_on, fire_at) VALUES {}",
            rows.join(", ")
        ),
        &binds,
    )
    .await?;
    Ok(())
}

/// Drops a case's pending timers (those whose kind starts with `prefix`).
pub(crate) async fn clear(
    tx: &mut TenantTx,
    case_id: &str,
    prefix: Option<&str>,
) -> Result<(), WorkflowError> {
    match prefix {
        Some(prefix) => {
            store::execute(
                tx.connection(),
                "DELETE FROM case_timers WHERE case_id = $1 AND fired_at IS NULL AND kind LIKE $2",
                &[Some(text(case_id)), Some(text(format!("{prefix}%")))],
            )
            .await?
        }
        None => {
            store::execute(
                tx.connection(),
                "DELETE FROM case_timers WHERE case_id = $1 AND fired_at IS NULL",
                &[Some(text(case_id))],
            )
            .await?
        }
    };
    Ok(())
}

/// A fired timer.
#[derive(Debug, Clone, Serialize)]
pub struct Fired {
    /// The timer.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// The case.
    pub case_id: String,
    /// Who was notified: tenant and role.
    pub recipient_tenant: String,
    /// The role.
    pub recipient_role: String,
}

/// The kinds of timer the workflow writes.
const KINDS: [&str; 5] = [
    "step.remind",
    "step.overdue",
    "step.escalate",
    "limit.remind",
    "limit.overdue",
];

/// A due `case_timers` row as claimed.
#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: String,
    case_id: String,
    tenant_path: String,
    kind: String,
    step: Option<String>,
    due_on: String,
    fire_at: i64,
}

impl ClaimedRow {
    fn decode(self) -> Result<Claimed, WorkflowError> {
        let table = "case timer";
        if !KINDS.contains(&self.kind.as_str()) {
            return Err(crate::corrupt(format!(
                "{table} {}: kind “{}” is not a timer kind",
                self.id, self.kind
            )));
        }
        Ok(Claimed {
            tenant_path: store::stored_path(table, &self.id, "tenant_path", &self.tenant_path)?,
            due_on: store::stored_date(table, &self.id, "due_on", &self.due_on)?,
            id: self.id,
            case_id: self.case_id,
            kind: self.kind,
            step: self.step,
            fire_at: self.fire_at,
        })
    }
}

struct Claimed {
    id: String,
    case_id: String,
    tenant_path: TenantPath,
    kind: String,
    step: Option<String>,
    due_on: NaiveDate,
    fire_at: i64,
}

/// Timers due and not fired yet: what the firing rounds have still to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimerBacklog {
    /// Timers due at `now` and not fired.
    pub due: i64,
    /// When the oldest of them fell due, microseconds since the epoch.
    pub oldest_due_micros: Option<i64>,
}

/// The timers due at `now_micros` and not fired yet, and when the oldest
/// fell due (how far behind the firing rounds are). Reads the partial
/// index of unfired timers (`case_timers_due`) only.
pub async fn backlog(db: &Database, now_micros: i64) -> Result<TimerBacklog, WorkflowError> {
    let mut tx = db.begin_platform_read().await?;
    let (due, oldest_due_micros): (i64, Option<i64>) = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT count(*), min(fire_at) FROM case_timers \
             WHERE fired_at IS NULL AND fire_at <= $1",
        )
        .bind(now_micros)
        .fetch_one(&mut *c)
        .await?
    });
    tx.commit().await?;
    Ok(TimerBacklog {
        due,
        oldest_due_micros,
    })
}

/// Fires every timer due at `now_micros` (at most `batch` per
/// transaction, until none is left); `worker` names this process in
/// `fired_by`. Returns what fired.
pub async fn fire_due(
    db: &Database,
    now_micros: i64,
    batch: u32,
    worker: &str,
) -> Result<Vec<Fired>, WorkflowError> {
    let mut all = Vec::new();
    loop {
        let fired = fire_batch(db, now_micros, batch.max(1), worker).await?;
        let done = fired.len() < batch.max(1) as usize;
        all.extend(fired);
        if done {
            return Ok(all);
        }
    }
}

async fn fire_batch(
    db: &Database,
    now_micros: i64,
    batch: u32,
    worker: &str,
) -> Result<Vec<Fired>, WorkflowError> {
    let mut tx = db.begin_platform().await?;
    let skip_locked = tx.backend().lock_for_update_skip_locked();
    let sql = format!(
        "SELECT id, case_id, tenant_path, kind, step, due_on, fire_at FROM case_timers \
         WHERE fired_at IS NULL AND fire_at <= $1 ORDER BY fire_at, id LIMIT {batch}{skip_locked}"
    );
    let rows: Vec<ClaimedRow> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now_micros).fetch_all(&mut *c).await?
    });
    // A timer row that does not decode stops the round with an error naming
    // it (the claim rolls back): firing it as something else, or skipping
    // it for ever, would be a silent default.
    let mut claimed = rows
        .into_iter()
        .map(ClaimedRow::decode)
        .collect::<Result<Vec<_>, _>>()?;
    // Audit chains are locked per tenant: take them in one order so two
    // processes never wait on each other in a cycle.
    // Within a tenant, in firing order (a case's reminder before its
    // overdue before its escalation).
    claimed.sort_by(|a, b| {
        (&a.tenant_path, a.fire_at, &a.id).cmp(&(&b.tenant_path, b.fire_at, &b.id))
    });
    let mut fired = Vec::with_capacity(claimed.len());
    for timer in claimed {
        if let Some(f) = fire_one(&mut tx, &timer, now_micros, worker).await? {
            fired.push(f);
        }
    }
    tx.commit().await?;
    Ok(fired)
}

async fn fire_one(
    tx: &mut civitas_storage::PlatformTx,
    timer: &Claimed,
    now: i64,
    worker: &str,
) -> Result<Option<Fired>, WorkflowError> {
    // A case being acted on (or held by another process's timer) is left
    // for the next round rather than waited for: waiting here, while this
    // transaction holds claimed timers the action may clear, could deadlock.
    let backend = tx.backend();
    if !store::lock_case(
        tx.connection(),
        backend,
        &timer.case_id,
        store::IfLocked::Skip,
    )
    .await?
    {
        return Ok(None);
    }
    // The claim holds the row (FOR UPDATE on PostgreSQL, the write lock on
    // SQLite) and read it unfired, so no `fired_at IS NULL` guard here: with
    // one, a young table's statistics plan the update as a walk of every
    // unfired timer (case_timers_due) instead of the primary key. An action
    // that cleared the timer meanwhile deleted it: 0 rows.
    let marked = with_connection!(tx.connection(), c => {
        sqlx::query("UPDATE case_timers SET fired_at = $1, fired_by = $2 WHERE id = $3")
            .bind(now)
            .bind(worker.to_owned())
            .bind(timer.id.clone())
            .execute(&mut *c)
            .await?
            .rows_affected()
    });
    if marked != 1 {
        return Ok(None);
    }
    let cases = store::select_cases(tx.connection(), "id = $1", &[text(&timer.case_id)]).await?;
    let Some(case) = cases.into_iter().next() else {
        return Ok(None);
    };
    // The actors of the step the timer belongs to (its first slot names the
    // place and role notified; escalation goes one level up).
    let task = store::tasks(tx.connection(), &case.id)
        .await?
        .into_iter()
        .next();
    let stale = timer.step.is_some() && timer.step != case.step;
    if stale || case.state.is_final() {
        return Ok(None);
    }
    // A returned case waits with its applicant and has no task, while its
    // statutory limit still runs: those notices go to the case's tenant.
    let (actor_path, role, line) = match task {
        Some(task) => (task.actor_tenant, task.actor_role, task.line),
        None => (
            case.tenant_path.clone(),
            "reviewer".into(),
            case.line.clone(),
        ),
    };
    let actor_tenant = actor_path.as_str().to_owned();
    let step = case.step.clone().unwrap_or_default();
    let (recipient, message_zh, message_en, set) = match timer.kind.as_str() {
        "step.remind" => (
            actor_tenant.clone(),
            format!(
                "催办提醒：案件“{}”步骤 {step} 将于 {} 到期",
                case.title, timer.due_on
            ),
            format!(
                "Reminder: case “{}” step {step} is due on {}",
                case.title, timer.due_on
            ),
            None,
        ),
        "step.overdue" => (
            actor_tenant.clone(),
            format!(
                "超期：案件“{}”步骤 {step} 已于 {} 到期",
                case.title, timer.due_on
            ),
            format!(
                "Overdue: case “{}” step {step} was due on {}",
                case.title, timer.due_on
            ),
            Some("overdue"),
        ),
        "step.escalate" => {
            // A root has no level above: its own unit is told.
            let up = actor_path
                .parent()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| actor_tenant.clone());
            (
                up,
                format!(
                    "督办：{actor_tenant} 办理的案件“{}”步骤 {step} 超期未办（到期 {}）",
                    case.title, timer.due_on
                ),
                format!(
                    "Supervision: case “{}” step {step} at {actor_tenant} is overdue (due {})",
                    case.title, timer.due_on
                ),
                Some("supervised"),
            )
        }
        "limit.remind" => (
            actor_tenant.clone(),
            format!(
                "法定时限提醒：案件“{}”办理时限 {} 将至",
                case.title, timer.due_on
            ),
            format!(
                "Statutory limit: case “{}” must be decided by {}",
                case.title, timer.due_on
            ),
            None,
        ),
        "limit.overdue" => (
            case.tenant_path
                .parent()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| actor_tenant.clone()),
            format!(
                "超过法定时限：案件“{}”应于 {} 前办结",
                case.title, timer.due_on
            ),
            format!(
                "Statutory limit passed: case “{}” was due by {}",
                case.title, timer.due_on
            ),
            Some("overdue"),
        ),
        other => {
            return Err(crate::corrupt(format!(
                "case timer {}: kind “{other}” is not a timer kind",
                timer.id
            )));
        }
    };
    match set {
        Some("overdue") => {
            store::execute(
                tx.connection(),
                "UPDATE cases SET overdue = TRUE WHERE id = $1",
                &[Some(text(&case.id))],
            )
            .await?;
            // A case counts once as past its limit, however often the limit
            // timer is re-armed (resume, extension) and fires again.
            if timer.kind == "limit.overdue"
                && store::events_of(tx.connection(), &case.id, "limit.overdue")
                    .await?
                    .is_empty()
            {
                crate::stats::add(tx.connection(), &case, &crate::stats::Counts::overdue()).await?;
            }
        }
        Some("supervised") => {
            store::execute(
                tx.connection(),
                "UPDATE cases SET supervised = TRUE WHERE id = $1",
                &[Some(text(&case.id))],
            )
            .await?;
        }
        _ => {}
    }
    store::execute(
        tx.connection(),
        "INSERT INTO notifications (id, tenant_path, case_id, timer_id, kind, recipient_tenant, recipient_role, line, \
         message_zh, message_en, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            Some(text(uuid::Uuid::new_v4().to_string())),
            Some(text(case.tenant_path.as_str())),
            Some(text(&case.id)),
            Some(text(&timer.id)),
            Some(text(&timer.kind)),
            Some(text(&recipient)),
            Some(text(&role)),
            Some(text(&line)),
            Some(text(&message_zh)),
            Some(text(&message_en)),
            Some(Bind::Int(now)),
        ],
    )
    .await?;
    store::insert_event(
        tx.connection(),
        &crate::CaseEvent {
            case_id: case.id.clone(),
            seq: 0,
            at: now,
            actor: "system".into(),
            action: timer.kind.clone(),
            step: case.step.clone(),
            to_step: None,
            reason: None,
            module: None,
            module_version: None,
            detail: json!({"timer": timer.id, "due_on": timer.due_on, "recipient_tenant": recipient, "recipient_role": role}),
        },
        case.tenant_path.as_str(),
    )
    .await?;
    civitas_audit::record_platform(
        tx,
        &case.tenant_path,
        &civitas_audit::NewEvent {
            actor: "system".into(),
            action: format!("case.timer.{}", timer.kind),
            target: case.id.clone(),
            detail: json!({"timer": timer.id, "due_on": timer.due_on, "recipient_tenant": recipient, "worker": worker}),
        },
    )
    .await?;
    Ok(Some(Fired {
        id: timer.id.clone(),
        kind: timer.kind.clone(),
        case_id: case.id.clone(),
        recipient_tenant: recipient,
        recipient_role: role,
    }))
}

/// A notification record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Notification {
    /// Its id.
    pub id: String,
    /// The case.
    pub case_id: String,
    /// The timer that made it.
    pub timer_id: Option<String>,
    /// Its kind (the timer's).
    pub kind: String,
    /// Who should read it: tenant.
    pub recipient_tenant: String,
    /// And role.
    pub recipient_role: String,
    /// The line.
    pub line: String,
    /// The message, Chinese.
    pub message_zh: String,
    /// The message, English.
    pub message_en: String,
    /// When, RFC 3339 in JSON (Unix microseconds inside).
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

/// The most notifications one page holds.
pub const MAX_NOTIFICATION_PAGE: u32 = 500;

/// Where a page of notifications continues: after the notification made at
/// `created_at` with `id` (newest first).
///
/// Its text ([`std::fmt::Display`]) is opaque to clients; [`NotificationCursor::parse`]
/// accepts exactly the texts `Display` produces and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationCursor {
    created_at: i64,
    id: String,
}

/// The longest cursor text [`NotificationCursor::parse`] looks at: a
/// timestamp and a hex-encoded id of up to 100 bytes (ids are UUIDs, 36).
const MAX_CURSOR_LEN: usize = 21 + 1 + 200;

impl NotificationCursor {
    /// The cursor after `notification`.
    pub fn after(notification: &Notification) -> NotificationCursor {
        NotificationCursor {
            created_at: notification.created_at,
            id: notification.id.clone(),
        }
    }

    /// The cursor after the row made at `created_at` with id `id` (any
    /// list ordered newest first by these two columns pages with it).
    pub fn at(created_at: i64, id: String) -> NotificationCursor {
        NotificationCursor { created_at, id }
    }

    /// The row's time, Unix microseconds.
    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    /// The row's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The cursor `text` stands for, if it is one this code produced:
    /// `<created_at>.<id as lower-case hex>`, with nothing non-canonical
    /// (no sign but `-`, no leading zero, no upper-case hex, no empty id).
    /// Never panics, whatever the input.
    pub fn parse(text: &str) -> Option<NotificationCursor> {
        if text.len() > MAX_CURSOR_LEN {
            return None;
        }
        let (at, hex) = text.split_once('.')?;
        let created_at: i64 = at.parse().ok()?;
        if hex.is_empty() || !hex.len().is_multiple_of(2) {
            return None;
        }
        let mut bytes = Vec::with_capacity(hex.len() / 2);
        for pair in hex.as_bytes().chunks_exact(2) {
            let digit = |b: u8| match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b - b'a' + 10),
                _ => None,
            };
            bytes.push((digit(pair[0])? << 4) | digit(pair[1])?);
        }
        let cursor = NotificationCursor {
            created_at,
            id: String::from_utf8(bytes).ok()?,
        };
        // Only the canonical text of a cursor: `+5`, `05` or `-0` decode
        // to a number too, but this code never wrote them.
        (cursor.to_string() == text).then_some(cursor)
    }
}

impl std::fmt::Display for NotificationCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.", self.created_at)?;
        for byte in self.id.as_bytes() {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Which notifications a page holds, besides being in the scope's subtree.
#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    /// Only this case's.
    pub case_id: Option<String>,
    /// Only this line's; none: every line.
    pub line: Option<String>,
    /// After this cursor (the previous page's `next`).
    pub after: Option<NotificationCursor>,
    /// Page size (1–[`MAX_NOTIFICATION_PAGE`]).
    pub limit: u32,
}

/// A page of notifications, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationPage {
    /// The notifications.
    pub notifications: Vec<Notification>,
    /// The cursor of the next page ([`NotificationCursor`] text); none on
    /// the last page.
    pub next: Option<String>,
}

/// The statement and binds of a page: filtered in SQL, line included, so
/// a page is never cut short by rows of other lines (the index
/// `notifications_scope (tenant_path, line, created_at, id)` holds every
/// column it tests). Reads `limit` + 1 rows: the extra one says whether
/// another page follows.
fn notifications_query(
    lower: &str,
    upper: &str,
    filter: &NotificationFilter,
) -> (String, Vec<Bind>) {
    let mut binds = vec![text(lower), text(upper)];
    let mut clauses = vec!["tenant_path >= $1 AND tenant_path < $2".to_owned()];
    if let Some(line) = &filter.line {
        binds.push(text(line));
        clauses.push(format!("line = ${}", binds.len()));
    }
    if let Some(case_id) = &filter.case_id {
        binds.push(text(case_id));
        clauses.push(format!("case_id = ${}", binds.len()));
    }
    if let Some(after) = &filter.after {
        binds.push(Bind::Int(after.created_at));
        binds.push(text(&after.id));
        // A row comparison: both backends order it as the ORDER BY does,
        // and PostgreSQL tests it in the index, before reading a row.
        clauses.push(format!(
            "(created_at, id) < (${}, ${})",
            binds.len() - 1,
            binds.len()
        ));
    }
    let limit = filter.limit.clamp(1, MAX_NOTIFICATION_PAGE);
    let sql = format!(
        "SELECT id, case_id, timer_id, kind, recipient_tenant, recipient_role, line, message_zh, message_en, \
         created_at FROM notifications WHERE {} ORDER BY created_at DESC, id DESC LIMIT {}",
        clauses.join(" AND "),
        limit + 1
    );
    (sql, binds)
}

/// A page of the notifications about cases in `tx`'s scope, newest first.
pub async fn notifications(
    tx: &mut TenantTx,
    filter: &NotificationFilter,
) -> Result<NotificationPage, WorkflowError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (sql, binds) = notifications_query(lower, &upper, filter);
    let mut found: Vec<Notification> = with_connection!(tx.connection(), c => {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for bind in &binds {
            query = match bind {
                Bind::Text(t) => query.bind(t.clone()),
                Bind::Int(i) => query.bind(*i),
            };
        }
        query.fetch_all(&mut *c).await?
    });
    let limit = filter.limit.clamp(1, MAX_NOTIFICATION_PAGE) as usize;
    let next = if found.len() > limit {
        found.truncate(limit);
        found
            .last()
            .map(|n| NotificationCursor::after(n).to_string())
    } else {
        None
    };
    Ok(NotificationPage {
        notifications: found,
        next,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn cursor(created_at: i64, id: &str) -> NotificationCursor {
        NotificationCursor {
            created_at,
            id: id.to_owned(),
        }
    }

    #[test]
    fn a_cursor_reads_back_what_it_wrote() {
        for c in [
            cursor(
                1_767_225_600_000_000,
                "0b8f6c3e-2d5a-4c1e-9f7a-3e6d1c2b4a59",
            ),
            cursor(0, "x"),
            cursor(-5, "案件"),
            cursor(i64::MAX, "a.b"),
            cursor(i64::MIN, "a"),
        ] {
            let text = c.to_string();
            assert_eq!(NotificationCursor::parse(&text), Some(c), "{text}");
        }
    }

    #[test]
    fn a_cursor_parse_refuses_what_it_did_not_write() {
        for text in [
            "",
            ".",
            "1",
            "1.",
            ".61",
            "1.6",
            "1.6G",
            "1.6A",
            "1.ff",
            "01.61",
            "+1.61",
            "-0.61",
            " 1.61",
            "1.61 ",
            "1.61.61",
            "1|61",
            "１.61",
            "9223372036854775808.61",
            "1.c3",
        ] {
            assert_eq!(NotificationCursor::parse(text), None, "{text:?}");
        }
        let long = format!("1.{}", "61".repeat(200));
        assert_eq!(NotificationCursor::parse(&long), None);
    }

    /// A cheap stand-in for the fuzzer: many strings near the format; none
    /// panics, and whatever parses is exactly a cursor's text.
    #[test]
    fn a_cursor_parse_never_panics_and_accepts_only_canonical_text() {
        let alphabet: Vec<char> = "0123456789abcdefABCDEF.-+ |é\u{0}".chars().collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut accepted = 0;
        for _ in 0..200_000 {
            let len = (next() % 24) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if let Some(c) = NotificationCursor::parse(&text) {
                assert_eq!(c.to_string(), text);
                accepted += 1;
            }
        }
        assert!(accepted > 0, "the generator reaches valid cursors too");
    }

    /// The page's statement walks `notifications_scope` on both backends.
    async fn plan(t: &civitas_testkit::TestDb, filter: &NotificationFilter) -> String {
        let tenant = TenantPath::parse("310000/310115").unwrap();
        let scope = civitas_storage::TenantScope::for_platform_task(tenant.clone());
        let mut tx = t.db.begin_read(&scope).await.unwrap();
        let (lower, upper) = tenant.subtree_range();
        let (sql, binds) = notifications_query(lower, &upper, filter);
        let postgres = tx.backend() == civitas_storage::Backend::Postgres;
        let lines: Vec<String> = with_connection!(tx.connection(), c => {
            if postgres {
                // A test table is small enough to scan whole: ask whether
                // the index serves the query, not whether it is worth it.
                sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *c).await.unwrap();
            }
            let explain = if postgres { "EXPLAIN" } else { "EXPLAIN QUERY PLAN" };
            let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("{explain} {sql}")));
            for bind in &binds {
                query = match bind {
                    Bind::Text(t) => query.bind(t.clone()),
                    Bind::Int(i) => query.bind(*i),
                };
            }
            let rows = query.fetch_all(&mut *c).await.unwrap();
            rows.iter()
                .map(|r| {
                    use sqlx::Row;
                    let column = if postgres { 0 } else { 3 };
                    r.try_get::<String, _>(column).unwrap()
                })
                .collect()
        });
        tx.rollback().await.unwrap();
        lines.join("\n")
    }

    civitas_testkit::both_backends! {
        async fn the_notifications_page_uses_its_index(t) {
            let after = Some(cursor(1_000, "0b8f6c3e-2d5a-4c1e-9f7a-3e6d1c2b4a59"));
            for filter in [
                NotificationFilter { line: Some("hr-social-security".into()), after: after.clone(), limit: 10, ..Default::default() },
                NotificationFilter { line: Some("hr-social-security".into()), limit: 10, ..Default::default() },
                NotificationFilter { line: None, after, limit: 10, ..Default::default() },
            ] {
                let plan = plan(&t, &filter).await;
                assert!(plan.contains("notifications_scope"), "{filter:?}:\n{plan}");
            }
        }
    }
}
