//! The inbox: the open tasks waiting for a staff member.
//!
//! A task waits for an account when the account holds, on the task's actor
//! tenant itself, a grant in the task's line (or all lines) of a role that
//! includes the task's role. Grants higher up the tree authorise acting
//! (a city reviewer may step in), but the work queue of a unit is its own.
//! One query per grant, each on the partial index
//! `case_tasks (actor_tenant, line, due_on, case_id)`, merged in due order.

use chrono::NaiveDate;
use civitas_calendar::DayUnit;
use civitas_storage::{Database, TenantScope, with_connection};
use serde::Serialize;

use crate::{Workflow, WorkflowError, store};

/// One grant's share of the inbox: the scope (its tenant, from an allow
/// decision), its line (`*` for all), and the roles it covers.
#[derive(Debug, Clone)]
pub struct Queue {
    /// The grant's tenant as an authorised scope.
    pub scope: TenantScope,
    /// The grant's line, or `*`.
    pub line: String,
    /// Every role the grant's role includes (itself too).
    pub roles: Vec<String>,
}

/// Inbox filters and paging.
#[derive(Debug, Clone, Default)]
pub struct InboxFilter {
    /// Only this service.
    pub service: Option<String>,
    /// Only overdue (true) or not yet due (false).
    pub overdue: Option<bool>,
    /// After this (due date, case id, slot) — the previous page's cursor.
    pub after: Option<(String, String, i64)>,
    /// Page size (1–200).
    pub limit: u32,
}

/// A task in the inbox.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxItem {
    /// The case.
    pub case_id: String,
    /// The slot (the actor's index in the step).
    pub slot: i64,
    /// The case's tenant.
    pub tenant: String,
    /// Where the task waits.
    pub actor_tenant: String,
    /// For which role.
    pub role: String,
    /// The line.
    pub line: String,
    /// The service.
    pub service: String,
    /// The case's title.
    pub title: String,
    /// The step.
    pub step: String,
    /// The due date (none when the step has no deadline).
    pub due_on: Option<NaiveDate>,
    /// `working` or `natural`.
    pub unit: String,
    /// Days left to the due date, in its unit (negative when overdue).
    pub days_left: Option<i64>,
    /// Past its due date.
    pub overdue: bool,
}

/// A page of the inbox.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxPage {
    /// The tasks, earliest due first.
    pub items: Vec<InboxItem>,
    /// Pass as `after` for the next page; none on the last page.
    pub next: Option<String>,
}

/// Encodes a cursor.
pub fn cursor(item: &InboxItem) -> String {
    format!(
        "{}|{}|{}",
        item.due_on
            .map(|d| d.to_string())
            .unwrap_or_else(|| NO_DUE_DATE.into()),
        item.case_id,
        item.slot
    )
}

/// Decodes a cursor.
pub fn parse_cursor(text: &str) -> Option<(String, String, i64)> {
    let mut parts = text.splitn(3, '|');
    let due = parts.next()?;
    NaiveDate::parse_from_str(due, "%Y-%m-%d").ok()?;
    let case = parts.next()?;
    let slot = parts.next()?.parse().ok()?;
    Some((due.to_owned(), case.to_owned(), slot))
}

impl Workflow {
    /// The inbox over `queues`, as of `today`.
    pub async fn inbox(
        &self,
        db: &Database,
        queues: &[Queue],
        filter: &InboxFilter,
        today: NaiveDate,
    ) -> Result<InboxPage, WorkflowError> {
        let limit = filter.limit.clamp(1, 200);
        let today_text = today.to_string();
        let mut merged: Vec<InboxItem> = Vec::new();
        for queue in queues {
            if queue.roles.is_empty() {
                continue;
            }
            let mut binds: Vec<String> = vec![queue.scope.path().as_str().to_owned()];
            let mut clauses = vec!["actor_tenant = $1".to_owned()];
            if queue.line != civitas_tenancy::ALL_LINES {
                binds.push(queue.line.clone());
                clauses.push(format!("line = ${}", binds.len()));
            }
            let start = binds.len() + 1;
            let placeholders: Vec<String> = (0..queue.roles.len())
                .map(|i| format!("${}", start + i))
                .collect();
            binds.extend(queue.roles.iter().cloned());
            clauses.push(format!("actor_role IN ({})", placeholders.join(", ")));
            if let Some(service) = &filter.service {
                binds.push(service.clone());
                clauses.push(format!("service = ${}", binds.len()));
            }
            match filter.overdue {
                Some(true) => {
                    binds.push(today_text.clone());
                    clauses.push(format!("due_on < ${}", binds.len()));
                }
                Some(false) => {
                    binds.push(today_text.clone());
                    clauses.push(format!("due_on >= ${}", binds.len()));
                }
                None => {}
            }
            let mut slot_bind = None;
            if let Some((due, case, slot)) = &filter.after {
                binds.push(due.clone());
                let d = binds.len();
                binds.push(case.clone());
                let c = binds.len();
                slot_bind = Some(*slot);
                clauses.push(format!(
                    "(due_on > ${d} OR (due_on = ${d} AND (case_id > ${c} OR (case_id = ${c} AND slot > ${})))) ",
                    binds.len() + 1
                ));
            }
            let sql = format!(
                "SELECT case_id, slot, tenant_path, actor_tenant, actor_role, line, service, title, step, due_on, unit \
                 FROM case_tasks WHERE {} ORDER BY due_on, case_id, slot LIMIT {}",
                clauses.join(" AND "),
                limit + 1
            );
            let mut tx = db.begin_read(&queue.scope).await?;
            if tx.backend() == civitas_storage::Backend::Postgres {
                // Row-level security adds a range test on a run-time setting
                // that the planner cannot estimate: it then expects a few
                // dozen rows and prefers a bitmap scan and a sort of the
                // whole queue (every heap page of a district's tasks) over
                // walking the index in due order and stopping at the page's
                // end. Transaction-local, like the scope itself.
                with_connection!(tx.connection(), c => {
                    sqlx::query("SELECT set_config('enable_bitmapscan', 'off', true)")
                        .execute(&mut *c)
                        .await?;
                });
            }
            let rows: Vec<InboxRow> = with_connection!(tx.connection(), c => {
                // Planned for these values each time (not prepared once):
                // a city's queue holds many thousand tasks where a street's
                // holds a few, and a generic plan is tuned to the average.
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).persistent(false);
                for b in &binds {
                    q = q.bind(b.clone());
                }
                if let Some(slot) = slot_bind {
                    q = q.bind(slot);
                }
                q.fetch_all(&mut *c).await?
            });
            tx.rollback().await?;
            for row in rows {
                merged.push(self.inbox_item(row, today)?);
            }
        }
        merged.sort_by(|a, b| {
            (cursor_key(a), &a.case_id, a.slot).cmp(&(cursor_key(b), &b.case_id, b.slot))
        });
        merged.dedup_by(|a, b| a.case_id == b.case_id && a.slot == b.slot);
        let next = if merged.len() > limit as usize {
            merged.truncate(limit as usize);
            merged.last().map(cursor)
        } else {
            None
        };
        Ok(InboxPage {
            items: merged,
            next,
        })
    }
}

/// A `case_tasks` row as the inbox reads it.
#[derive(sqlx::FromRow)]
struct InboxRow {
    case_id: String,
    slot: i64,
    tenant_path: String,
    actor_tenant: String,
    actor_role: String,
    line: String,
    service: String,
    title: String,
    step: String,
    due_on: String,
    unit: String,
}

/// The due date of a step without a deadline (sorts after every real one).
pub(crate) const NO_DUE_DATE: &str = "9999-12-31";

impl Workflow {
    fn inbox_item(&self, row: InboxRow, today: NaiveDate) -> Result<InboxItem, WorkflowError> {
        let key = format!("{} slot {}", row.case_id, row.slot);
        let table = "case task";
        let tenant = store::stored_path(table, &key, "tenant_path", &row.tenant_path)?;
        let due = store::stored_date(table, &key, "due_on", &row.due_on)?;
        let due_on = (row.due_on != NO_DUE_DATE).then_some(due);
        let unit = DayUnit::parse(&row.unit).ok_or_else(|| {
            crate::corrupt(format!(
                "{table} {key}: unit “{}” is not a day unit",
                row.unit
            ))
        })?;
        // Days left are a convenience: a date the calendar does not cover
        // (years ahead) shows none rather than failing the whole inbox.
        let days_left = match due_on {
            Some(d) => self
                .calendar_for(&tenant)?
                .days_between(today, d, unit)
                .ok(),
            None => None,
        };
        Ok(InboxItem {
            overdue: due_on.is_some_and(|d| d < today),
            case_id: row.case_id,
            slot: row.slot,
            tenant: row.tenant_path,
            actor_tenant: row.actor_tenant,
            role: row.actor_role,
            line: row.line,
            service: row.service,
            title: row.title,
            step: row.step,
            due_on,
            unit: row.unit,
            days_left,
        })
    }
}

fn cursor_key(item: &InboxItem) -> String {
    item.due_on
        .map(|d| d.to_string())
        .unwrap_or_else(|| NO_DUE_DATE.into())
}
