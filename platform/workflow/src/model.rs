//! The case model: a case, its states and history entries, the actions on
//! it and who takes them. Plain data; the transitions are in
//! `transitions.rs`, the engine that loads and stores them in `cases.rs`.

use chrono::NaiveDate;
use civitas_tenancy::TenantPath;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::WorkflowError;
use crate::flow::StepAction;

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaseState {
    /// 办理中: waiting at a step.
    Open,
    /// 已退回: back with the applicant (or creator) for correction.
    Returned,
    /// 已暂停: the statutory clock is stopped.
    Paused,
    /// 已办结: approved to the end.
    Closed,
    /// 不予通过: refused.
    Rejected,
    /// 已撤回: withdrawn by the applicant.
    Withdrawn,
}

impl CaseState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Open => "open",
            CaseState::Returned => "returned",
            CaseState::Paused => "paused",
            CaseState::Closed => "closed",
            CaseState::Rejected => "rejected",
            CaseState::Withdrawn => "withdrawn",
        }
    }

    /// The state stored as `text`; none for anything else (a stored
    /// value that is not a state is corrupt, never a default).
    pub fn parse(text: &str) -> Option<CaseState> {
        Some(match text {
            "open" => CaseState::Open,
            "returned" => CaseState::Returned,
            "paused" => CaseState::Paused,
            "closed" => CaseState::Closed,
            "rejected" => CaseState::Rejected,
            "withdrawn" => CaseState::Withdrawn,
            _ => return None,
        })
    }

    /// Whether the case is finished.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CaseState::Closed | CaseState::Rejected | CaseState::Withdrawn
        )
    }
}

/// An actor's approval within a countersign step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Signature {
    /// The slot (the actor's index in the step).
    pub slot: i64,
    /// Who signed.
    pub account: String,
}

/// A case.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Case {
    /// Its id.
    pub id: String,
    /// The tenant it belongs to now (属地).
    pub tenant_path: TenantPath,
    /// Its line.
    pub line: String,
    /// Its service.
    pub service: String,
    /// The flow variant it follows (`""` = the service's flow).
    pub flow_variant: String,
    /// A title for lists.
    pub title: String,
    /// `application` or `warning`.
    pub origin: String,
    /// Its state.
    pub state: CaseState,
    /// The current step, while open, returned or paused.
    pub step: Option<String>,
    /// Bumped by every transition (optimistic concurrency).
    pub version: i64,
    /// The applicant's account, when an applicant filed it.
    pub applicant: Option<String>,
    /// Who created it (username).
    pub created_by: String,
    /// The account that created it: who may resubmit a case without an
    /// applicant. Unknown (none) for a case from before it was recorded
    /// whose creator no account matched. Internal: not part of the case's
    /// JSON.
    #[serde(skip)]
    pub created_by_account: Option<String>,
    /// The application or warning document.
    pub data: Value,
    /// Module hook outputs by hook name.
    pub outcomes: Value,
    /// Approvals gathered in the current countersign step.
    pub signed: Vec<Signature>,
    /// The current step's due date.
    pub step_due_on: Option<NaiveDate>,
    /// Its unit (`working` / `natural`).
    pub step_unit: Option<String>,
    /// The statutory limit's due date.
    pub limit_due_on: Option<NaiveDate>,
    /// Its unit.
    pub limit_unit: Option<String>,
    /// When the clock was paused.
    pub paused_on: Option<NaiveDate>,
    /// Past a deadline (marked by a timer).
    pub overdue: bool,
    /// Escalated to the level above (督办).
    pub supervised: bool,
    /// Created, RFC 3339 in JSON (Unix microseconds inside).
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// Last changed, RFC 3339 in JSON (Unix microseconds inside).
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
}

/// One entry of a case's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseEvent {
    /// The case.
    pub case_id: String,
    /// Its place in the history, from 1.
    pub seq: i64,
    /// When, RFC 3339 in JSON (Unix microseconds inside).
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub at: i64,
    /// Who (username, or `system` for timers and hooks).
    pub actor: String,
    /// What (`submit`, `approve`, `return`, …).
    pub action: String,
    /// The step it happened at.
    pub step: Option<String>,
    /// The step it led to.
    pub to_step: Option<String>,
    /// The reason given.
    pub reason: Option<String>,
    /// The module consulted, if any.
    pub module: Option<String>,
    /// Its version.
    pub module_version: Option<String>,
    /// Further facts.
    pub detail: Value,
}

/// Where a new case comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// An application (by the applicant, or by staff on their behalf).
    Application,
    /// A warning rule fired (a lead to dispose of).
    Warning,
    /// 免申即享: the platform found a resident eligible from their
    /// population record; no one applied.
    Entitlement,
}

/// A new case.
#[derive(Debug, Clone)]
pub struct NewCase {
    /// Its id when the platform derives it from what the case is about
    /// ([`crate::derived_case_id`]: a warning, an entitlement), so that
    /// filing the same thing twice — two runs at once, a retry after a
    /// crash — is refused by the case table's key; a new UUID otherwise.
    pub id: Option<String>,
    /// The service.
    pub service: String,
    /// A title (default: the flow's name).
    pub title: Option<String>,
    /// The document.
    pub data: Value,
    /// Where it comes from.
    pub origin: Origin,
}

/// Who acts.
#[derive(Debug, Clone)]
pub struct Who {
    /// The account id.
    pub account: String,
    /// The username (audit and history name it).
    pub username: String,
}

/// Whose view a read is in.
#[derive(Debug, Clone)]
pub enum Viewer {
    /// Staff: cases of one line in the scope's subtree.
    Staff {
        /// The line.
        line: String,
    },
    /// Staff who hold grants in several lines at the scope's tenant (one
    /// window serving several bureaus, seed 001 L1574): cases of any of
    /// them in the scope's subtree. Each line was authorized.
    Lines {
        /// The lines.
        lines: Vec<String>,
    },
    /// Staff whose grant covers every line (a tenant administrator's):
    /// every case in the scope's subtree.
    EveryLine,
    /// An applicant: their own cases only.
    Applicant {
        /// Their account id.
        account: String,
    },
}

/// An action on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A step action.
    Approve,
    /// A step action.
    Return,
    /// A step action.
    Reject,
    /// A step action.
    Transfer,
    /// A step action.
    Pause,
    /// A step action.
    Resume,
    /// A step action.
    Extend,
    /// The applicant withdraws before review.
    Withdraw,
    /// The applicant (or creator) resubmits a returned case.
    Resubmit,
}

impl Action {
    pub(crate) fn step_action(self) -> Option<StepAction> {
        Some(match self {
            Action::Approve => StepAction::Approve,
            Action::Return => StepAction::Return,
            Action::Reject => StepAction::Reject,
            Action::Transfer => StepAction::Transfer,
            Action::Pause => StepAction::Pause,
            Action::Resume => StepAction::Resume,
            Action::Extend => StepAction::Extend,
            Action::Withdraw | Action::Resubmit => return None,
        })
    }

    /// The name in the API and history.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Withdraw => "withdraw",
            Action::Resubmit => "resubmit",
            other => other.step_action().map(StepAction::as_str).unwrap_or(""),
        }
    }
}

/// An action request.
#[derive(Debug, Clone)]
pub struct ActRequest {
    /// What.
    pub action: Action,
    /// The version the caller saw (recommended: a stale one is a conflict).
    pub version: Option<i64>,
    /// Why (required to return, reject, transfer, pause, extend, withdraw).
    pub reason: Option<String>,
    /// Return: the earlier step, or none for the applicant.
    pub to_step: Option<String>,
    /// Transfer: the tenant.
    pub to_tenant: Option<String>,
    /// Extend: how many days (the limit's unit).
    pub days: Option<u32>,
    /// Resubmit: the corrected document.
    pub data: Option<Value>,
}

/// A page of a case's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryPage {
    /// The entries, in order.
    pub events: Vec<CaseEvent>,
    /// Pass as `after` for the next page (the last entry's `seq`); none on
    /// the last page.
    pub next: Option<i64>,
}

/// Filters for case lists.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Only this service.
    pub service: Option<String>,
    /// Only this state.
    pub state: Option<CaseState>,
    /// Only overdue cases.
    pub overdue: Option<bool>,
    /// After this case id (paging by creation, newest first).
    pub before: Option<(i64, String)>,
    /// Page size.
    pub limit: u32,
}

/// `text` is at most `max` characters, else [`WorkflowError::LimitExceeded`]
/// naming `what` in both languages.
pub(crate) fn at_most(text: &str, max: usize, zh: &str, en: &str) -> Result<(), WorkflowError> {
    if text.chars().count() > max {
        return Err(WorkflowError::LimitExceeded(format!(
            "{zh}不能超过 {max} 个字符 / the {en} is at most {max} characters"
        )));
    }
    Ok(())
}
