//! Workflow: flows, cases, the inbox, working-day deadlines and durable
//! timers.
//!
//! Everything a bureau's procurement document asks for is one machine:
//! something is submitted at a street, reviewed up the levels, returned or
//! rejected with reasons, transferred out of jurisdiction, countersigned,
//! under deadlines counted in working days, with reminders and supervision
//! (督办) when late.
//!
//! - [`flow`]: flow files (one per service, variants per tenant), validated
//!   at load.
//! - [`Workflow`]: creates cases and applies actions. A transition is one
//!   transaction guarded by the case's version (optimistic concurrency:
//!   of two reviewers acting at once, one wins and the other gets
//!   [`WorkflowError::Conflict`]); module hooks run before it opens.
//! - [`inbox`]: what waits for a staff member.
//! - [`timers`]: reminders, overdue marking and escalation as durable rows,
//!   claimed with `FOR UPDATE SKIP LOCKED` and fired in the claiming
//!   transaction, so each fires once however many servers share a database.

pub mod flow;
pub mod inbox;
pub mod ratings;
#[cfg(feature = "modules")]
pub mod replay;
pub mod stats;
pub mod timers;
#[cfg(feature = "modules")]
pub mod what_if;

mod attachments;
mod cases;
#[cfg(feature = "modules")]
mod decisions;
mod model;
pub mod rfc3339;
mod store;
mod transitions;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use civitas_tenancy::{TenantPath, TenantTree};

pub use attachments::{Attachment, NewAttachment};
pub use cases::Workflow;
pub use flow::{Flow, FlowCatalog, FlowErrors};
pub use model::{
    ActRequest, Action, Case, CaseEvent, CaseFilter, CaseState, HistoryPage, NewCase, Origin,
    Viewer, Who,
};

/// How many cases that are not finished (open, returned or paused) are held
/// at exactly `tenant` (not its subtree): what a tree revision that retires
/// the node would leave without anyone to act. One range of the
/// `cases_tenant` index.
pub async fn open_cases_at(
    db: &civitas_storage::Database,
    tenant: &TenantPath,
) -> Result<u64, civitas_storage::StorageError> {
    let mut tx = db.begin_platform_read().await?;
    let count: i64 = civitas_storage::with_connection!(tx.connection(), c => {
        sqlx::query_scalar(
            "SELECT count(*) FROM cases WHERE tenant_path = $1 \
             AND state NOT IN ('closed', 'rejected', 'withdrawn')",
        )
        .bind(tenant.as_str().to_owned())
        .fetch_one(&mut *c)
        .await?
    });
    tx.commit().await?;
    Ok(u64::try_from(count).unwrap_or_default())
}

/// The module runtime flows' hooks run on: civitas-registry's, with the
/// `modules` feature (default). Without it (the fuzz targets, which only
/// parse flows) there is none, and a hook answers
/// [`WorkflowError::ModulesUnavailable`].
#[cfg(feature = "modules")]
pub type ModuleRuntime = civitas_registry::Runtime;

/// Without the `modules` feature no module runtime exists.
#[cfg(not(feature = "modules"))]
#[derive(Debug)]
pub enum ModuleRuntime {}

/// The longest reason an action records, in characters. A reason is kept in
/// the case's history and in the audit chain (retained at least 180 days)
/// and shown in every history list: 500 characters is a long paragraph,
/// enough for any 退回/驳回 explanation, and bounds what each action adds.
pub const MAX_REASON_CHARS: usize = 500;

/// The longest case title, in characters. Titles are copied into every open
/// task (the inbox lists them) and into notification messages.
pub const MAX_TITLE_CHARS: usize = 200;

/// The longest attachment name, in characters: the common file-name limit
/// (255), so any name a file system gives fits.
pub const MAX_ATTACHMENT_NAME_CHARS: usize = 255;

/// The longest media type, in characters: RFC 6838 allows 127 for each of
/// type and subtype, but no registered `type/subtype` comes near 127 in
/// all, so 127 for the whole is generous and keeps the row small.
pub const MAX_MEDIA_TYPE_CHARS: usize = 127;

/// The most attachments one case holds. An application carries its
/// supporting documents (identity, income, medical or housing proofs):
/// a handful, rarely twenty; 50 leaves room for corrections while bounding
/// what one case's history and attachment list return.
pub const MAX_ATTACHMENTS_PER_CASE: i64 = 50;

/// The most history entries one read returns; more are paged
/// ([`Workflow::history_page`]).
pub const MAX_HISTORY_PAGE: u32 = 500;

/// The tenant setting listing a tenant's own non-working days.
pub const LOCAL_DAYS_SETTING: &str = "calendar.non-working-days";

/// A tenant's local non-working days: the union of
/// [`LOCAL_DAYS_SETTING`] over the path from the root down (a district's
/// closure applies to its streets).
pub fn local_days(tree: &TenantTree, tenant: &TenantPath) -> Result<BTreeSet<NaiveDate>, String> {
    let mut days = BTreeSet::new();
    for node in tenant.lineage() {
        let Some(node) = tree.get(&node) else {
            continue;
        };
        let Some(value) = node.settings.get(LOCAL_DAYS_SETTING) else {
            continue;
        };
        let list = value.as_array().ok_or_else(|| {
            format!(
                "{}: {LOCAL_DAYS_SETTING} 应为日期列表 (must be a list of YYYY-MM-DD dates)",
                node.source.display()
            )
        })?;
        for item in list {
            let day = item
                .as_str()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .ok_or_else(|| {
                    format!(
                        "{}: {LOCAL_DAYS_SETTING} 含无效日期 (holds an invalid date) {item}",
                        node.source.display()
                    )
                })?;
            days.insert(day);
        }
    }
    Ok(days)
}

/// A case id derived from what the case is about (`parts`, e.g. the
/// service, the resident): a version 8 UUID over the SM3 of the parts
/// (each ended by NUL). The same parts always give the same id, so a case
/// the platform files on its own (a warning, an entitlement) exists once:
/// a second filing is refused by the case table's key, and the filer finds
/// the first by its id.
#[cfg(feature = "modules")]
pub fn derived_case_id(parts: &[&str]) -> String {
    let mut text = Vec::new();
    for part in parts {
        text.extend_from_slice(part.as_bytes());
        text.push(0);
    }
    let digest = civitas_crypto::sm3::digest(&text);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Today's date in China (UTC+8), which deadlines count from.
pub fn today_in_china() -> NaiveDate {
    Clock::System.today_in_china()
}

/// Where the engine reads the time: the system clock in service, or an
/// instant a test sets and moves. Filing and acting take "now" (history
/// times) and "today" (deadlines counted in China's calendar) from it;
/// [`timers::fire_due`] is given its `now` by the caller, so a test fires
/// timers at `clock.now_micros()` after moving the clock, with no SQL.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A set instant (Unix microseconds), shared by every clone.
    Fixed(std::sync::Arc<std::sync::atomic::AtomicI64>),
}

/// The first microsecond of `date` in China Standard Time (UTC+8), as Unix
/// microseconds: where a day given by a person starts.
pub fn china_midnight_micros(date: NaiveDate) -> i64 {
    let midnight =
        date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() - chrono::Duration::hours(8);
    midnight.timestamp_micros()
}

impl Clock {
    /// A clock standing at `micros` (Unix microseconds) until moved.
    pub fn fixed(micros: i64) -> Clock {
        Clock::Fixed(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(
            micros,
        )))
    }

    /// A clock standing at midnight starting `date`, China time.
    pub fn at_china_date(date: NaiveDate) -> Clock {
        Clock::fixed(china_midnight_micros(date))
    }

    /// Moves a fixed clock `days` days on; the system clock cannot be moved
    /// and ignores it.
    pub fn advance_days(&self, days: i64) {
        if let Clock::Fixed(at) = self {
            at.fetch_add(days * 86_400_000_000, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Now, in Unix microseconds.
    pub fn now_micros(&self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp_micros(),
            Clock::Fixed(at) => at.load(std::sync::atomic::Ordering::SeqCst),
        }
    }

    /// Today's date in China (UTC+8).
    pub fn today_in_china(&self) -> NaiveDate {
        let now = chrono::DateTime::from_timestamp_micros(self.now_micros()).unwrap_or_default();
        (now + chrono::Duration::hours(8)).date_naive()
    }
}

/// Why a workflow operation failed. Messages are `中文 / English`.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The request is malformed or names something that does not exist.
    #[error("{0}")]
    Invalid(String),
    /// No flow for the service.
    #[error("服务 {0} 没有流程 / no flow for the service {0}")]
    UnknownService(String),
    /// No such case in the caller's view.
    #[error("案件不存在 / no such case: {0}")]
    NotFound(String),
    /// The case changed since the caller read it (or someone acted first).
    #[error(
        "案件已被他人处理（当前版本 {current}），请刷新后重试 / the case changed (now version {current}); reload and retry"
    )]
    Conflict {
        /// The case's version now.
        current: i64,
    },
    /// The action is not allowed in the case's state or step.
    #[error("{0}")]
    NotAllowed(String),
    /// The caller holds no actor slot of the current step.
    #[error("当前步骤不由您办理 / the current step is not yours to act on: {0}")]
    NotYourStep(String),
    /// An action only the case's own party may take (withdraw, resubmit)
    /// was taken by someone else; the message says who may.
    #[error("{0}")]
    NotYourCase(String),
    /// A transfer names a tenant the flow does not send the case to.
    #[error("{0}")]
    TransferTargetNotAllowed(String),
    /// A value is longer, or a case holds more, than the workflow stores.
    #[error("{0}")]
    LimitExceeded(String),
    /// A module hook failed.
    #[cfg(feature = "modules")]
    #[error(transparent)]
    Module(#[from] civitas_registry::RegistryError),
    /// Modules are not configured but the flow has hooks.
    #[error("模块运行时不可用 / the module runtime is not available")]
    ModulesUnavailable,
    /// A deadline cannot be computed.
    #[error(transparent)]
    Calendar(#[from] civitas_calendar::CalendarError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] civitas_storage::StorageError),
    /// Audit failed.
    #[error(transparent)]
    Audit(#[from] civitas_audit::AuditError),
}

impl WorkflowError {
    /// Whether the database refused a row whose key exists already: a case
    /// filed under a derived id ([`derived_case_id`]) that was filed before.
    pub fn is_duplicate(&self) -> bool {
        matches!(
            self,
            WorkflowError::Storage(civitas_storage::StorageError::Database(sqlx::Error::Database(db)))
                if db.is_unique_violation()
        )
    }
}

impl From<sqlx::Error> for WorkflowError {
    fn from(e: sqlx::Error) -> WorkflowError {
        match e {
            // A column whose stored value does not decode to the type the
            // schema promises (SQLite keeps whatever was written) is
            // corrupt data, not a failing database.
            sqlx::Error::ColumnDecode { index, source } => {
                corrupt(format!("column {index}: {source}"))
            }
            e => WorkflowError::Storage(civitas_storage::StorageError::Database(e)),
        }
    }
}

/// Stored workflow data that does not decode: an error, never a default
/// (a corrupt state must not reopen a closed case).
pub(crate) fn corrupt(what: impl Into<String>) -> WorkflowError {
    WorkflowError::Storage(civitas_storage::StorageError::Corrupt(what.into()))
}

impl WorkflowError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            WorkflowError::Invalid(_) => "invalid_request",
            WorkflowError::UnknownService(_) => "flow_not_found",
            WorkflowError::NotFound(_) => "case_not_found",
            WorkflowError::Conflict { .. } => "case_conflict",
            WorkflowError::NotAllowed(_) => "action_not_allowed",
            WorkflowError::NotYourStep(_) | WorkflowError::NotYourCase(_) => "not_your_step",
            WorkflowError::TransferTargetNotAllowed(_) => "transfer_target_not_allowed",
            WorkflowError::LimitExceeded(_) => "limit_exceeded",
            #[cfg(feature = "modules")]
            WorkflowError::Module(e) => e.code(),
            WorkflowError::ModulesUnavailable => "modules_unavailable",
            WorkflowError::Calendar(civitas_calendar::CalendarError::NotCovered { .. }) => {
                "calendar_not_covered"
            }
            WorkflowError::Calendar(_) => "invalid_request",
            WorkflowError::Storage(e) if e.is_unavailable() => "database_unavailable",
            WorkflowError::Storage(civitas_storage::StorageError::Corrupt(_)) => "data_corrupt",
            WorkflowError::Storage(_) | WorkflowError::Audit(_) => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            WorkflowError::Invalid(_)
            | WorkflowError::TransferTargetNotAllowed(_)
            | WorkflowError::LimitExceeded(_) => 422,
            WorkflowError::UnknownService(_) | WorkflowError::NotFound(_) => 404,
            WorkflowError::Conflict { .. } | WorkflowError::NotAllowed(_) => 409,
            WorkflowError::NotYourStep(_) | WorkflowError::NotYourCase(_) => 403,
            #[cfg(feature = "modules")]
            WorkflowError::Module(e) => e.status(),
            WorkflowError::ModulesUnavailable => 503,
            WorkflowError::Calendar(_) => 422,
            WorkflowError::Storage(e) if e.is_unavailable() => 503,
            WorkflowError::Storage(_) | WorkflowError::Audit(_) => 500,
        }
    }
}

/// The `next` cursor of a case list page: the last case's creation time and
/// id (the list is newest first).
pub fn case_cursor(case: &Case) -> String {
    format!("{}|{}", case.created_at, case.id)
}

/// Reads a [`case_cursor`]; `None` for anything else.
pub fn parse_case_cursor(text: &str) -> Option<(i64, String)> {
    let (at_text, id) = text.split_once('|')?;
    let at = at_text.parse::<i64>().ok()?;
    // Exactly what case_cursor writes: a plain number and a case id.
    let canonical = at.to_string() == at_text;
    let id_like =
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (canonical && id_like).then(|| (at, id.to_owned()))
}
