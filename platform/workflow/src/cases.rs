//! Cases and their transitions.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::NaiveDate;
use civitas_calendar::{Calendar, DayUnit};
use civitas_storage::{Database, TenantScope, TenantTx};
use civitas_tenancy::{SharedTree, TenantPath, TenantTree};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::flow::{Flow, FlowCatalog, HookPoint, Place, Rule, Step, StepAction};
use crate::stats::{self, Counts};
use crate::store::{self, Bind, text};
use crate::timers::{self, NewTimer};
use crate::{WorkflowError, local_days};

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
}

/// A new case.
#[derive(Debug, Clone)]
pub struct NewCase {
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
    fn step_action(self) -> Option<StepAction> {
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

/// Attachment metadata (the file itself lives in document storage).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attachment {
    /// Its id.
    pub id: String,
    /// The case.
    pub case_id: String,
    /// The file name.
    pub name: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// Its SM3 digest (hex), to verify the stored file.
    pub sm3: String,
    /// Whether the file itself was uploaded and is kept by the platform
    /// (downloadable); otherwise the client keeps it and this is metadata.
    pub stored: bool,
    /// Who added it.
    pub added_by: String,
    /// When, RFC 3339 in JSON (Unix microseconds inside).
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub added_at: i64,
}

/// A new attachment's metadata.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewAttachment {
    /// The file name.
    pub name: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// Its SM3 digest (64 hex digits).
    pub sm3: String,
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

/// A `case_attachments` row as stored.
#[derive(sqlx::FromRow)]
struct AttachmentRow {
    id: String,
    case_id: String,
    name: String,
    media_type: String,
    size: i64,
    sm3: String,
    stored: bool,
    added_by: String,
    added_at: i64,
}

impl AttachmentRow {
    fn decode(self) -> Result<Attachment, WorkflowError> {
        // Both were checked when written: anything else is not what the
        // workflow stored.
        if self.size < 0 {
            return Err(crate::corrupt(format!(
                "case attachment {}: size {} is negative",
                self.id, self.size
            )));
        }
        if !is_sm3_hex(&self.sm3) {
            return Err(crate::corrupt(format!(
                "case attachment {}: sm3 is not 64 hex digits",
                self.id
            )));
        }
        Ok(Attachment {
            id: self.id,
            case_id: self.case_id,
            name: self.name,
            media_type: self.media_type,
            size: self.size,
            sm3: self.sm3,
            stored: self.stored,
            added_by: self.added_by,
            added_at: self.added_at,
        })
    }
}

fn is_sm3_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
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

/// The workflow engine of one server: flows, the tenant tree, the
/// calendar (with each tenant's local days), and the module runtime for
/// hooks.
pub struct Workflow {
    flows: FlowCatalog,
    tree: SharedTree,
    calendar: Calendar,
    // Each tenant's calendar, for the tree snapshot it was computed from
    // (local days are settings, which a new revision or override changes).
    local: RwLock<LocalCalendars>,
    modules: Option<Arc<crate::ModuleRuntime>>,
    clock: crate::Clock,
}

/// Each tenant's calendar, and the tree snapshot they were computed from.
type LocalCalendars = (Arc<TenantTree>, HashMap<TenantPath, Arc<Calendar>>);

impl std::fmt::Debug for Workflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workflow").finish_non_exhaustive()
    }
}

/// The case takes another attachment: open, and under the cap.
async fn open_for_attachments(tx: &mut TenantTx, case: &Case) -> Result<(), WorkflowError> {
    if case.state.is_final() {
        return Err(WorkflowError::NotAllowed(format!(
            "案件已结束（{}），不能再添加附件 / the case is {} and takes no attachments",
            case.state.as_str(),
            case.state.as_str()
        )));
    }
    let held: i64 = civitas_storage::with_connection!(tx.connection(), c => {
        sqlx::query_scalar("SELECT COUNT(*) FROM case_attachments WHERE case_id = $1")
            .bind(case.id.clone())
            .fetch_one(&mut *c)
            .await?
    });
    if held >= crate::MAX_ATTACHMENTS_PER_CASE {
        return Err(WorkflowError::LimitExceeded(format!(
            "每个案件最多 {max} 个附件 / a case holds at most {max} attachments",
            max = crate::MAX_ATTACHMENTS_PER_CASE
        )));
    }
    Ok(())
}

/// `text` is at most `max` characters, else [`WorkflowError::LimitExceeded`]
/// naming `what` in both languages.
fn at_most(text: &str, max: usize, zh: &str, en: &str) -> Result<(), WorkflowError> {
    if text.chars().count() > max {
        return Err(WorkflowError::LimitExceeded(format!(
            "{zh}不能超过 {max} 个字符 / the {en} is at most {max} characters"
        )));
    }
    Ok(())
}

/// Any reason given with an action (required or not) fits
/// [`crate::MAX_REASON_CHARS`].
fn check_reason(request: &ActRequest) -> Result<(), WorkflowError> {
    match request.reason.as_deref() {
        Some(reason) => at_most(reason.trim(), crate::MAX_REASON_CHARS, "理由", "reason"),
        None => Ok(()),
    }
}

fn required_reason(request: &ActRequest) -> Result<String, WorkflowError> {
    check_reason(request)?;
    match request.reason.as_deref().map(str::trim) {
        Some(reason) if !reason.is_empty() => Ok(reason.to_owned()),
        _ => Err(WorkflowError::Invalid(format!(
            "{} 需要填写理由 reason / {} needs a reason",
            request.action.as_str(),
            request.action.as_str()
        ))),
    }
}

/// A case's step and flags as an action read them.
struct Flags {
    step: Option<String>,
    overdue: bool,
    supervised: bool,
}

/// What a transition writes besides the case row.
struct Effects {
    event: CaseEvent,
    /// Replace the open tasks with these (None: leave them).
    tasks: Option<Vec<TaskRow>>,
    /// Delete this slot's task only.
    done_slot: Option<i64>,
    /// Drop pending step timers / all pending timers.
    clear_step_timers: bool,
    clear_all_timers: bool,
    new_timers: Vec<NewTimer>,
    /// The case changed tenant: move its history, attachments, timers and
    /// notifications with it.
    moved: bool,
}

/// A task row to insert.
pub(crate) struct TaskRow {
    slot: i64,
    actor_tenant: TenantPath,
    actor_role: String,
    line: String,
    step: String,
    due_on: String,
    unit: String,
}

impl Workflow {
    /// An engine over `flows`, `tree` and `calendar`; `modules` runs the
    /// flows' hooks. The engine reads the tree `tree` serves now at every
    /// use, so a new revision or setting reaches it without a restart.
    pub fn new(
        flows: FlowCatalog,
        tree: SharedTree,
        calendar: Calendar,
        modules: Option<Arc<crate::ModuleRuntime>>,
    ) -> Workflow {
        let local = RwLock::new((tree.current(), HashMap::new()));
        Workflow {
            flows,
            tree,
            calendar,
            local,
            modules,
            clock: crate::Clock::System,
        }
    }

    /// The same engine reading the time from `clock` (tests set and move
    /// it; the server keeps the system clock).
    pub fn with_clock(mut self, clock: crate::Clock) -> Workflow {
        self.clock = clock;
        self
    }

    /// The clock the engine reads.
    pub fn clock(&self) -> &crate::Clock {
        &self.clock
    }

    /// The flows.
    pub fn flows(&self) -> &FlowCatalog {
        &self.flows
    }

    /// The tenant tree now.
    pub fn tree(&self) -> Arc<TenantTree> {
        self.tree.current()
    }

    /// The calendar of `tenant`: the official one with its local days.
    pub fn calendar_for(&self, tenant: &TenantPath) -> Result<Arc<Calendar>, WorkflowError> {
        let tree = self.tree.current();
        if let Some(found) = self.local.read().ok().and_then(|cache| {
            Arc::ptr_eq(&cache.0, &tree)
                .then(|| cache.1.get(tenant).cloned())
                .flatten()
        }) {
            return Ok(found);
        }
        let days = local_days(&tree, tenant).map_err(WorkflowError::Invalid)?;
        let calendar = Arc::new(self.calendar.with_local_days(days));
        if let Ok(mut cache) = self.local.write() {
            if !Arc::ptr_eq(&cache.0, &tree) {
                *cache = (tree, HashMap::new());
            }
            cache.1.insert(tenant.clone(), calendar.clone());
        }
        Ok(calendar)
    }

    /// The flow `case` follows.
    pub fn flow_of(&self, case: &Case) -> Result<&Arc<Flow>, WorkflowError> {
        self.flows
            .variant(&case.service, &case.flow_variant)
            .ok_or_else(|| {
                WorkflowError::Invalid(format!(
                    "案件的流程（{} {}）已不存在 / the case's flow ({} variant “{}”) is no longer defined",
                    case.service, case.flow_variant, case.service, case.flow_variant
                ))
            })
    }

    /// Where `actor` of a case at `tenant` sits.
    pub fn place(&self, place: &Place, tenant: &TenantPath) -> Option<TenantPath> {
        let tree = self.tree.current();
        let at_level = |level: &civitas_tenancy::Level, node: &TenantPath| {
            tree.get(node).is_some_and(|t| &t.level == level)
        };
        match place {
            Place::Case => Some(tenant.clone()),
            Place::Parent => tenant.parent(),
            // The nearest: units may nest in units.
            Place::Level(level) => tenant
                .lineage()
                .into_iter()
                .rev()
                .find(|node| at_level(level, node)),
            Place::Ancestor(level) => tenant
                .lineage()
                .into_iter()
                .rev()
                .skip(1)
                .find(|node| at_level(level, node)),
        }
    }

    fn step_tasks(
        &self,
        flow: &Flow,
        step: &Step,
        tenant: &TenantPath,
        due: Option<NaiveDate>,
    ) -> Result<Vec<TaskRow>, WorkflowError> {
        let mut rows = Vec::new();
        for (slot, actor) in step.actors.iter().enumerate() {
            let actor_tenant = self.place(&actor.at, tenant).ok_or_else(|| {
                WorkflowError::NotAllowed(format!(
                    "步骤 {} 的办理人（{:?}）在 {} 之上不存在 / step {} has no actor at {:?} above {}",
                    step.id, actor.at, tenant, step.id, actor.at, tenant
                ))
            })?;
            rows.push(TaskRow {
                slot: slot as i64,
                actor_tenant,
                actor_role: actor.role.clone(),
                line: actor.line.clone().unwrap_or_else(|| flow.line.clone()),
                step: step.id.clone(),
                due_on: due
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| crate::inbox::NO_DUE_DATE.into()),
                unit: step
                    .deadline
                    .map(|d| d.unit.as_str().to_owned())
                    .unwrap_or_else(|| "natural".into()),
            });
        }
        Ok(rows)
    }

    /// Enters `step`: the case's due date, tasks and step timers.
    fn enter_step(
        &self,
        flow: &Flow,
        case: &mut Case,
        step: &Step,
        today: NaiveDate,
        effects: &mut Effects,
    ) -> Result<(), WorkflowError> {
        let calendar = self.calendar_for(&case.tenant_path)?;
        let due = match step.deadline {
            Some(d) => Some(calendar.add_days(today, d.days, d.unit)?),
            None => None,
        };
        case.step = Some(step.id.clone());
        case.state = CaseState::Open;
        case.signed.clear();
        case.step_due_on = due;
        case.step_unit = step.deadline.map(|d| d.unit.as_str().to_owned());
        case.overdue = false;
        case.supervised = false;
        effects.tasks = Some(self.step_tasks(flow, step, &case.tenant_path, due)?);
        effects.clear_step_timers = true;
        if let (Some(due), Some(deadline)) = (due, step.deadline) {
            effects.new_timers.extend(timers::step_timers(
                &calendar,
                &case.id,
                &step.id,
                due,
                deadline.unit,
                step.remind_before,
                step.escalate_after,
                today,
            )?);
        }
        Ok(())
    }

    /// Runs the hooks at `point`; returns a rejection reason if a hook's
    /// `reject_unless` field is false, and the module of the last hook run.
    #[cfg_attr(not(feature = "modules"), allow(unused_variables))]
    async fn run_hooks(
        &self,
        db: &Database,
        scope: &TenantScope,
        flow: &Flow,
        case: &mut Case,
        point: &HookPoint,
        today: NaiveDate,
    ) -> Result<(Option<String>, Option<(String, String)>), WorkflowError> {
        let hooks: Vec<_> = flow.hooks.iter().filter(|h| &h.on == point).collect();
        if hooks.is_empty() {
            return Ok((None, None));
        }
        let runtime = self
            .modules
            .as_ref()
            .ok_or(WorkflowError::ModulesUnavailable)?;
        // Without the `modules` feature no runtime exists to hold.
        #[cfg(not(feature = "modules"))]
        match **runtime {}
        #[cfg(feature = "modules")]
        {
            let mut rejection = None;
            let mut used = None;
            for hook in hooks {
                let mut tx = db.begin_read(scope).await?;
                let prepared = runtime
                    .prepare(&mut tx, &case.tenant_path, &hook.service, Some(&case.id))
                    .await?;
                tx.rollback().await?;
                let host_today = civitas_host::Date::parse(&today.to_string())
                    .ok_or_else(|| WorkflowError::Invalid(format!("bad date {today}")))?;
                let outcome = runtime
                    .run(
                        &prepared,
                        civitas_registry::EvaluationRequest {
                            input: &case.data,
                            settings: Arc::new(
                                self.tree.current().effective_settings(&case.tenant_path),
                            ),
                            today: host_today,
                            log_tags: vec![
                                ("case".into(), case.id.clone()),
                                ("hook".into(), hook.name.clone()),
                            ],
                        },
                    )
                    .await?;
                if let Some(field) = &hook.reject_unless
                    && outcome.output.get(field) != Some(&Value::Bool(true))
                {
                    let reasons = outcome
                        .output
                        .get("reasons")
                        .and_then(Value::as_array)
                        .map(|r| {
                            r.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join("；")
                        })
                        .unwrap_or_default();
                    rejection = Some(format!(
                        "模块 {}@{} 判定不符合条件（{field} = false）：{reasons}",
                        outcome.module, outcome.version
                    ));
                }
                if let Value::Object(map) = &mut case.outcomes {
                    map.insert(
                        hook.name.clone(),
                        json!({
                            "output": outcome.output,
                            "module": outcome.module,
                            "version": outcome.version,
                            "binding_tenant": outcome.binding_tenant,
                            "evaluated_on": today,
                        }),
                    );
                }
                used = Some((outcome.module.clone(), outcome.version.clone()));
            }
            Ok((rejection, used))
        }
    }

    /// Creates a case at `tenant` (inside `scope`) following the flow that
    /// resolves for it; runs the submit hooks first (a module that finds the
    /// application ineligible rejects it with its reasons, on record).
    pub async fn create(
        &self,
        db: &Database,
        scope: &TenantScope,
        tenant: &TenantPath,
        who: &Who,
        applicant: Option<&str>,
        new: NewCase,
    ) -> Result<Case, WorkflowError> {
        let flow = self
            .flows
            .resolve(&new.service, tenant)
            .ok_or_else(|| WorkflowError::UnknownService(new.service.clone()))?
            .clone();
        let tree = self.tree.current();
        let node = tree
            .get(tenant)
            .ok_or_else(|| WorkflowError::Invalid(format!("未知租户 / unknown tenant {tenant}")))?;
        if !node.lines.contains(&flow.line) {
            return Err(WorkflowError::Invalid(format!(
                "{} 没有 {} 条线，不受理该事项 / {} has no {} line and does not take this service",
                node.name, flow.line, node.name_en, flow.line
            )));
        }
        if !scope.covers(tenant) {
            return Err(WorkflowError::NotFound(tenant.to_string()));
        }
        if !new.data.is_object() {
            return Err(WorkflowError::Invalid(
                "data 必须是 JSON 对象 / data must be a JSON object".into(),
            ));
        }
        let title = new
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if let Some(title) = title {
            at_most(title, crate::MAX_TITLE_CHARS, "标题", "title")?;
            // A title is one line in lists and in notification messages.
            if title.chars().any(char::is_control) {
                return Err(WorkflowError::Invalid(
                    "标题不能含控制字符 / the title cannot contain control characters".into(),
                ));
            }
        }
        let today = self.clock.today_in_china();
        let now = self.clock.now_micros();
        let mut case = Case {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_path: tenant.clone(),
            line: flow.line.clone(),
            service: flow.service.clone(),
            flow_variant: flow.variant_key(),
            title: title
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{} {}", flow.name, today)),
            origin: match new.origin {
                Origin::Application => "application".into(),
                Origin::Warning => "warning".into(),
            },
            state: CaseState::Open,
            step: None,
            version: 1,
            applicant: applicant.map(str::to_owned),
            created_by: who.username.clone(),
            created_by_account: Some(who.account.clone()),
            data: new.data,
            outcomes: json!({}),
            signed: Vec::new(),
            step_due_on: None,
            step_unit: None,
            limit_due_on: None,
            limit_unit: None,
            paused_on: None,
            overdue: false,
            supervised: false,
            created_at: now,
            updated_at: now,
        };
        let (rejection, module) = self
            .run_hooks(db, scope, &flow, &mut case, &HookPoint::Submit, today)
            .await?;
        let mut effects = Effects {
            event: CaseEvent {
                case_id: case.id.clone(),
                seq: 0,
                at: now,
                actor: who.username.clone(),
                action: "submit".into(),
                step: None,
                to_step: None,
                reason: None,
                module: module.as_ref().map(|m| m.0.clone()),
                module_version: module.as_ref().map(|m| m.1.clone()),
                detail: json!({"flow_variant": case.flow_variant, "origin": case.origin}),
            },
            tasks: None,
            done_slot: None,
            clear_step_timers: false,
            clear_all_timers: false,
            new_timers: Vec::new(),
            moved: false,
        };
        if let Some(limit) = flow.limit {
            let calendar = self.calendar_for(tenant)?;
            let due = calendar.add_days(today, limit.deadline.days, limit.deadline.unit)?;
            case.limit_due_on = Some(due);
            case.limit_unit = Some(limit.deadline.unit.as_str().to_owned());
            effects.new_timers.extend(timers::limit_timers(
                &calendar,
                &case.id,
                due,
                limit.deadline.unit,
                limit.remind_before,
                today,
            )?);
        }
        let mut extra_event = None;
        match rejection {
            Some(reason) => {
                case.state = CaseState::Rejected;
                effects.new_timers.clear();
                case.limit_due_on = None;
                extra_event = Some(CaseEvent {
                    action: "reject".into(),
                    actor: "system".into(),
                    reason: Some(reason),
                    ..effects.event.clone()
                });
            }
            None => {
                let first = flow.first().clone();
                self.enter_step(&flow, &mut case, &first, today, &mut effects)?;
                effects.event.to_step = Some(first.id.clone());
            }
        }
        let mut tx = db.begin(scope).await?;
        store::insert_case(tx.connection(), &case).await?;
        self.write_effects(&mut tx, &case, &effects).await?;
        if let Some(event) = extra_event {
            store::insert_event(tx.connection(), &event, case.tenant_path.as_str()).await?;
        }
        stats::add(tx.connection(), &case, &Counts::filed()).await?;
        // Refused at submission by the module: finished the day it came.
        if let Some(done) = Counts::finished(CaseState::Open, case.state, Some(0)) {
            stats::add(tx.connection(), &case, &done).await?;
        }
        self.audit(&mut tx, &case, "case.create", &effects.event)
            .await?;
        tx.commit().await?;
        Ok(case)
    }

    async fn audit(
        &self,
        tx: &mut TenantTx,
        case: &Case,
        action: &str,
        event: &CaseEvent,
    ) -> Result<(), WorkflowError> {
        civitas_audit::record(
            tx,
            &case.tenant_path,
            &civitas_audit::NewEvent {
                actor: event.actor.clone(),
                action: action.to_owned(),
                target: case.id.clone(),
                detail: json!({
                    "service": case.service,
                    "step": event.step,
                    "to_step": event.to_step,
                    "state": case.state.as_str(),
                    "version": case.version,
                    "reason": event.reason,
                    "module": event.module,
                    "module_version": event.module_version,
                }),
            },
        )
        .await?;
        Ok(())
    }

    async fn write_effects(
        &self,
        tx: &mut TenantTx,
        case: &Case,
        effects: &Effects,
    ) -> Result<(), WorkflowError> {
        let tenant = case.tenant_path.as_str();
        if effects.moved {
            for table in [
                "case_events",
                "case_attachments",
                "case_timers",
                "notifications",
            ] {
                store::execute(
                    tx.connection(),
                    &format!("UPDATE {table} SET tenant_path = $1 WHERE case_id = $2"),
                    &[Some(text(tenant)), Some(text(&case.id))],
                )
                .await?;
            }
        }
        store::insert_event(tx.connection(), &effects.event, tenant).await?;
        if let Some(slot) = effects.done_slot {
            store::execute(
                tx.connection(),
                "DELETE FROM case_tasks WHERE case_id = $1 AND slot = $2",
                &[Some(text(&case.id)), Some(Bind::Int(slot))],
            )
            .await?;
        }
        if let Some(tasks) = &effects.tasks {
            store::execute(
                tx.connection(),
                "DELETE FROM case_tasks WHERE case_id = $1",
                &[Some(text(&case.id))],
            )
            .await?;
            for task in tasks {
                store::execute(
                    tx.connection(),
                    "INSERT INTO case_tasks (case_id, slot, tenant_path, actor_tenant, actor_role, line, step, \
                     due_on, unit, title, service) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    &[
                        Some(text(&case.id)),
                        Some(Bind::Int(task.slot)),
                        Some(text(tenant)),
                        Some(text(task.actor_tenant.as_str())),
                        Some(text(&task.actor_role)),
                        Some(text(&task.line)),
                        Some(text(&task.step)),
                        Some(text(&task.due_on)),
                        Some(text(&task.unit)),
                        Some(text(&case.title)),
                        Some(text(&case.service)),
                    ],
                )
                .await?;
            }
        }
        if effects.clear_all_timers {
            timers::clear(tx, &case.id, None).await?;
        } else if effects.clear_step_timers {
            timers::clear(tx, &case.id, Some("step.")).await?;
        }
        timers::insert(tx, tenant, &effects.new_timers).await?;
        Ok(())
    }

    fn viewer_clause(viewer: &Viewer, binds: &mut Vec<Bind>) -> String {
        match viewer {
            Viewer::Staff { line } => {
                binds.push(text(line));
                format!("line = ${}", binds.len())
            }
            Viewer::Applicant { account } => {
                binds.push(text(account));
                format!("applicant = ${}", binds.len())
            }
            Viewer::EveryLine => "TRUE".to_owned(),
        }
    }

    /// The case `id` if `viewer` may see it in `tx`'s scope.
    pub async fn get(
        &self,
        tx: &mut TenantTx,
        viewer: &Viewer,
        id: &str,
    ) -> Result<Case, WorkflowError> {
        let (lower, upper) = tx.scope().path().subtree_range();
        let mut binds = vec![text(id), text(lower), text(upper)];
        let who = Self::viewer_clause(viewer, &mut binds);
        let found = store::select_cases(
            tx.connection(),
            &format!("id = $1 AND tenant_path >= $2 AND tenant_path < $3 AND {who}"),
            &binds,
        )
        .await?;
        found
            .into_iter()
            .next()
            .ok_or_else(|| WorkflowError::NotFound(id.to_owned()))
    }

    /// The case `id` (visible to `viewer` in `scope`) for reading its
    /// personal data in full, recorded in the audit trail
    /// (`personal_data.reveal`, with the fields `personal` names in the
    /// case and `reason`) in the same transaction: no reveal goes
    /// unrecorded.
    #[allow(clippy::too_many_arguments)]
    pub async fn reveal(
        &self,
        db: &Database,
        scope: &TenantScope,
        viewer: &Viewer,
        who: &Who,
        id: &str,
        personal: impl FnOnce(&Case) -> Vec<String>,
        reason: &str,
    ) -> Result<Case, WorkflowError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(WorkflowError::Invalid(
                "查看完整个人信息须说明理由（不超过 500 字）/ A reveal needs a reason of at most 500 characters".into(),
            ));
        }
        let mut tx = db.begin(scope).await?;
        let case = self.get(&mut tx, viewer, id).await?;
        let fields = personal(&case);
        civitas_audit::record(
            &mut tx,
            &case.tenant_path,
            &civitas_audit::NewEvent {
                actor: who.username.clone(),
                action: "personal_data.reveal".to_owned(),
                target: format!("case:{}", case.id),
                detail: json!({"service": case.service, "fields": fields, "reason": reason}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(case)
    }

    /// The cases `viewer` sees in `tx`'s scope, newest first.
    pub async fn list(
        &self,
        tx: &mut TenantTx,
        viewer: &Viewer,
        filter: &CaseFilter,
    ) -> Result<Vec<Case>, WorkflowError> {
        let (lower, upper) = tx.scope().path().subtree_range();
        let mut binds = vec![text(lower), text(upper)];
        let mut clauses = vec![
            "tenant_path >= $1 AND tenant_path < $2".to_owned(),
            Self::viewer_clause(viewer, &mut binds),
        ];
        if let Some(service) = &filter.service {
            binds.push(text(service));
            clauses.push(format!("service = ${}", binds.len()));
        }
        if let Some(state) = filter.state {
            binds.push(text(state.as_str()));
            clauses.push(format!("state = ${}", binds.len()));
        }
        match filter.overdue {
            Some(true) => clauses.push("overdue = TRUE".into()),
            Some(false) => clauses.push("overdue = FALSE".into()),
            None => {}
        }
        if let Some((at, id)) = &filter.before {
            binds.push(Bind::Int(*at));
            binds.push(text(id));
            clauses.push(format!(
                "(created_at < ${a} OR (created_at = ${a} AND id < ${b}))",
                a = binds.len() - 1,
                b = binds.len()
            ));
        }
        let sql = format!(
            "{} ORDER BY created_at DESC, id DESC LIMIT {}",
            clauses.join(" AND "),
            filter.limit.clamp(1, 200)
        );
        store::select_cases(tx.connection(), &sql, &binds).await
    }

    /// The first [`crate::MAX_HISTORY_PAGE`] entries of the history of a
    /// case already read by [`Workflow::get`]; [`Workflow::history_page`]
    /// reads the rest.
    pub async fn history(
        &self,
        tx: &mut TenantTx,
        case: &Case,
    ) -> Result<Vec<CaseEvent>, WorkflowError> {
        Ok(self
            .history_page(tx, case, None, crate::MAX_HISTORY_PAGE)
            .await?
            .events)
    }

    /// Up to `limit` (1–[`crate::MAX_HISTORY_PAGE`]) history entries of a
    /// case already read by [`Workflow::get`], in order, after the entry
    /// `after` (a `seq`; none: from the start).
    pub async fn history_page(
        &self,
        tx: &mut TenantTx,
        case: &Case,
        after: Option<i64>,
        limit: u32,
    ) -> Result<HistoryPage, WorkflowError> {
        let limit = limit.clamp(1, crate::MAX_HISTORY_PAGE);
        // One more than the page tells whether another page follows.
        let mut events = store::events(tx.connection(), &case.id, after, limit + 1).await?;
        let next = if events.len() > limit as usize {
            events.truncate(limit as usize);
            events.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(HistoryPage { events, next })
    }

    /// The attachments of a case already read (at most
    /// [`crate::MAX_ATTACHMENTS_PER_CASE`]).
    pub async fn attachments(
        &self,
        tx: &mut TenantTx,
        case: &Case,
    ) -> Result<Vec<Attachment>, WorkflowError> {
        // The cap on attaching bounds this list; the LIMIT keeps a read
        // bounded even if rows were added some other way.
        let sql = format!(
            "SELECT id, case_id, name, media_type, size, sm3, stored, added_by, added_at FROM case_attachments \
             WHERE case_id = $1 ORDER BY added_at, id LIMIT {}",
            crate::MAX_ATTACHMENTS_PER_CASE
        );
        let rows: Vec<AttachmentRow> = civitas_storage::with_connection!(tx.connection(), c => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(case.id.clone()).fetch_all(&mut *c).await?
        });
        rows.into_iter().map(AttachmentRow::decode).collect()
    }

    /// Records attachment metadata on the case `id` (visible to `viewer`
    /// in `scope`); finished cases take no more. The file stays with the
    /// client: the platform never serves it.
    pub async fn attach(
        &self,
        db: &Database,
        scope: &TenantScope,
        viewer: &Viewer,
        who: &Who,
        id: &str,
        new: NewAttachment,
    ) -> Result<Attachment, WorkflowError> {
        self.record_attachment(db, scope, viewer, who, id, new, false)
            .await
    }

    /// Records a document the platform keeps (uploaded, stored by its
    /// SM3 digest) on the case `id`: the one kind of attachment served.
    pub async fn attach_document(
        &self,
        db: &Database,
        scope: &TenantScope,
        viewer: &Viewer,
        who: &Who,
        id: &str,
        new: NewAttachment,
    ) -> Result<Attachment, WorkflowError> {
        self.record_attachment(db, scope, viewer, who, id, new, true)
            .await
    }

    /// Whether the case `id` (visible to `viewer` in `tx`'s scope) takes
    /// another attachment: open, and under the cap.
    pub async fn takes_attachments(
        &self,
        tx: &mut TenantTx,
        viewer: &Viewer,
        id: &str,
    ) -> Result<(), WorkflowError> {
        let case = self.get(tx, viewer, id).await?;
        open_for_attachments(tx, &case).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_attachment(
        &self,
        db: &Database,
        scope: &TenantScope,
        viewer: &Viewer,
        who: &Who,
        id: &str,
        new: NewAttachment,
        stored: bool,
    ) -> Result<Attachment, WorkflowError> {
        let name = new.name.trim();
        at_most(
            name,
            crate::MAX_ATTACHMENT_NAME_CHARS,
            "附件名",
            "attachment name",
        )?;
        if name.is_empty() || name.contains(['/', '\\']) || name.chars().any(char::is_control) {
            return Err(WorkflowError::Invalid(
                "附件名必填，且不含路径或控制字符 / the name is required, without a path or control characters"
                    .into(),
            ));
        }
        if !is_sm3_hex(&new.sm3) {
            return Err(WorkflowError::Invalid(
                "sm3 须为 64 位十六进制 / sm3 is 64 hex digits".into(),
            ));
        }
        let media_type = new.media_type.trim();
        at_most(
            media_type,
            crate::MAX_MEDIA_TYPE_CHARS,
            "media_type",
            "media type",
        )?;
        // A media type is ASCII `type/subtype` (RFC 6838), parameters allowed.
        let well_formed = media_type
            .split_once('/')
            .is_some_and(|(t, s)| !t.is_empty() && !s.is_empty())
            && media_type
                .bytes()
                .all(|b| b.is_ascii_graphic() || b == b' ');
        if new.size < 0 || !well_formed {
            return Err(WorkflowError::Invalid(
                "size 不能为负，media_type 须为 type/subtype / size is not negative and media_type is type/subtype"
                    .into(),
            ));
        }
        let mut tx = db.begin(scope).await?;
        // Locked before it is read: a concurrent action or timer appends to
        // the same history, and a case closed meanwhile takes nothing.
        let backend = tx.backend();
        store::lock_case(tx.connection(), backend, id, store::IfLocked::Wait).await?;
        let case = self.get(&mut tx, viewer, id).await?;
        // Counted under the case's lock: two uploads at once cannot both
        // take the last place.
        open_for_attachments(&mut tx, &case).await?;
        let attachment = Attachment {
            id: uuid::Uuid::new_v4().to_string(),
            case_id: case.id.clone(),
            name: name.to_owned(),
            media_type: media_type.to_owned(),
            size: new.size,
            sm3: new.sm3.to_ascii_lowercase(),
            stored,
            added_by: who.username.clone(),
            added_at: self.clock.now_micros(),
        };
        store::execute(
            tx.connection(),
            &format!(
                "INSERT INTO case_attachments (id, case_id, tenant_path, name, media_type, size, sm3, added_by, added_at, stored) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, {})",
                if stored { "TRUE" } else { "FALSE" }
            ),
            &[
                Some(text(&attachment.id)),
                Some(text(&case.id)),
                Some(text(case.tenant_path.as_str())),
                Some(text(&attachment.name)),
                Some(text(&attachment.media_type)),
                Some(Bind::Int(attachment.size)),
                Some(text(&attachment.sm3)),
                Some(text(&attachment.added_by)),
                Some(Bind::Int(attachment.added_at)),
            ],
        )
        .await?;
        let event = CaseEvent {
            case_id: case.id.clone(),
            seq: 0,
            at: attachment.added_at,
            actor: who.username.clone(),
            action: "attach".into(),
            step: case.step.clone(),
            to_step: None,
            reason: None,
            module: None,
            module_version: None,
            detail: json!({"attachment": attachment.id, "name": attachment.name, "sm3": attachment.sm3}),
        };
        store::insert_event(tx.connection(), &event, case.tenant_path.as_str()).await?;
        self.audit(&mut tx, &case, "case.attach", &event).await?;
        tx.commit().await?;
        Ok(attachment)
    }

    /// Applies `request` to the case `id`, read in `read_scope` as `viewer`.
    ///
    /// A step action needs an open actor slot of the current step that
    /// `authorize(actor tenant, line, role)` grants the caller (the
    /// returned scope is the transaction's); the applicant's own actions
    /// (withdraw, resubmit) run in `read_scope`. The transition is written
    /// only if the case is still at the version read: otherwise
    /// [`WorkflowError::Conflict`], and nothing is written.
    #[allow(clippy::too_many_arguments)]
    pub async fn act<E>(
        &self,
        db: &Database,
        read_scope: &TenantScope,
        viewer: &Viewer,
        who: &Who,
        id: &str,
        request: ActRequest,
        authorize: impl Fn(&TenantPath, &str, &str) -> Result<TenantScope, E>,
    ) -> Result<Case, WorkflowError> {
        // Whatever the action, the reason it records is bounded.
        check_reason(&request)?;
        let (mut case, tasks, extended) = {
            let mut tx = db.begin_read(read_scope).await?;
            let case = self.get(&mut tx, viewer, id).await?;
            let tasks = store::tasks(tx.connection(), &case.id).await?;
            let extended: i64 = if request.action == Action::Extend {
                store::events_of(tx.connection(), &case.id, "extend")
                    .await?
                    .iter()
                    .filter_map(|e| e.detail.get("days").and_then(Value::as_i64))
                    .sum()
            } else {
                0
            };
            tx.rollback().await?;
            (case, tasks, extended)
        };
        if let Some(expected) = request.version
            && expected != case.version
        {
            return Err(WorkflowError::Conflict {
                current: case.version,
            });
        }
        let read_version = case.version;
        let state_before = case.state;
        let read = Flags {
            step: case.step.clone(),
            overdue: case.overdue,
            supervised: case.supervised,
        };
        let flow = self.flow_of(&case)?.clone();
        let today = self.clock.today_in_china();
        let now = self.clock.now_micros();
        let from_step = case.step.clone();
        let mut event = CaseEvent {
            case_id: case.id.clone(),
            seq: 0,
            at: now,
            actor: who.username.clone(),
            action: request.action.as_str().to_owned(),
            step: from_step.clone(),
            to_step: None,
            reason: None,
            module: None,
            module_version: None,
            detail: json!({}),
        };
        let mut effects = Effects {
            event: event.clone(),
            tasks: None,
            done_slot: None,
            clear_step_timers: false,
            clear_all_timers: false,
            new_timers: Vec::new(),
            moved: false,
        };
        let mut write_scope = read_scope.clone();
        if case.state.is_final() {
            return Err(WorkflowError::NotAllowed(format!(
                "案件已结束（{}）/ the case is {}",
                case.state.as_str(),
                case.state.as_str()
            )));
        }
        match request.action {
            Action::Withdraw => {
                // The actor, not only the view: the applicant's own account.
                let applicant_owns = matches!(viewer, Viewer::Applicant { .. })
                    && case.applicant.as_deref() == Some(who.account.as_str());
                if !applicant_owns {
                    return Err(WorkflowError::NotYourCase(
                        "只有申请人本人可以撤回 / only the applicant may withdraw".into(),
                    ));
                }
                let before_review = case.state == CaseState::Returned
                    || (case.state == CaseState::Open
                        && case.step.as_deref() == Some(flow.first().id.as_str())
                        && case.signed.is_empty()
                        && !case.supervised);
                if !flow.withdraw || !before_review {
                    return Err(WorkflowError::NotAllowed(
                        "审核开始后不能撤回（或本事项不允许撤回）/ the case can no longer be withdrawn (review has begun, or the service does not allow it)".into(),
                    ));
                }
                event.reason = Some(required_reason(&request)?);
                case.state = CaseState::Withdrawn;
                case.step = None;
                effects.tasks = Some(Vec::new());
                effects.clear_all_timers = true;
            }
            Action::Resubmit => {
                if case.state != CaseState::Returned {
                    return Err(WorkflowError::NotAllowed(
                        "只有退回的案件可以重新提交 / only a returned case can be resubmitted"
                            .into(),
                    ));
                }
                // Who corrects a returned case is the applicant, or, for a
                // case staff filed (no applicant), the account that filed
                // it: not whoever else can see it.
                let owner = match &case.applicant {
                    Some(applicant) => Some(applicant),
                    None => case.created_by_account.as_ref(),
                };
                if owner != Some(&who.account) {
                    return Err(WorkflowError::NotYourCase(
                        "只有申请人（工作人员代办的案件为其创建人）可以重新提交 / only the applicant (for a case filed by staff, the account that filed it) may resubmit"
                            .into(),
                    ));
                }
                if let Some(data) = request.data.clone() {
                    if !data.is_object() {
                        return Err(WorkflowError::Invalid(
                            "data 必须是 JSON 对象 / data must be a JSON object".into(),
                        ));
                    }
                    case.data = data;
                }
                let (rejection, module) = self
                    .run_hooks(db, read_scope, &flow, &mut case, &HookPoint::Submit, today)
                    .await?;
                event.module = module.as_ref().map(|m| m.0.clone());
                event.module_version = module.map(|m| m.1);
                let target = case
                    .step
                    .clone()
                    .and_then(|s| flow.step(&s).cloned())
                    .unwrap_or_else(|| flow.first().clone());
                match rejection {
                    Some(reason) => {
                        case.state = CaseState::Rejected;
                        case.step = None;
                        event.reason = Some(reason);
                        effects.tasks = Some(Vec::new());
                        effects.clear_all_timers = true;
                    }
                    None => {
                        self.enter_step(&flow, &mut case, &target, today, &mut effects)?;
                        event.to_step = Some(target.id.clone());
                    }
                }
            }
            action => {
                let step_action = action
                    .step_action()
                    .ok_or_else(|| WorkflowError::Invalid("unknown action".into()))?;
                let step_id = case.step.clone().ok_or_else(|| {
                    WorkflowError::NotAllowed("案件不在任何步骤 / the case is at no step".into())
                })?;
                let step = flow.step(&step_id).cloned().ok_or_else(|| {
                    WorkflowError::Invalid(format!(
                        "步骤 {step_id} 已不在流程中 / step {step_id} is no longer in the flow"
                    ))
                })?;
                if !step.actions.contains(&step_action) {
                    return Err(WorkflowError::NotAllowed(format!(
                        "步骤 {}（{}）不允许 {} / step {} does not allow {}",
                        step.name,
                        step.id,
                        action.as_str(),
                        step.id,
                        action.as_str()
                    )));
                }
                // Resume needs a paused case; every other step action an open one.
                let needed = if action == Action::Resume {
                    CaseState::Paused
                } else {
                    CaseState::Open
                };
                match case.state {
                    state if state == needed => {}
                    _ => {
                        return Err(WorkflowError::NotAllowed(format!(
                            "案件状态为 {}，不能 {} / the case is {} and cannot {}",
                            case.state.as_str(),
                            action.as_str(),
                            case.state.as_str(),
                            action.as_str()
                        )));
                    }
                }
                // The caller must fill an open actor slot not already signed
                // by them.
                let mut chosen = None;
                for task in &tasks {
                    if case.signed.iter().any(|s| s.account == who.account) {
                        break;
                    }
                    if let Ok(scope) = authorize(&task.actor_tenant, &task.line, &task.actor_role) {
                        chosen = Some((task.clone(), scope));
                        break;
                    }
                }
                let Some((task, scope)) = chosen else {
                    let wanted = step
                        .actors
                        .iter()
                        .map(|a| a.role.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(WorkflowError::NotYourStep(format!(
                        "{}（{}）: {wanted}",
                        step.name, step.id
                    )));
                };
                write_scope = scope;
                event.detail = json!({"slot": task.slot, "actor_tenant": task.actor_tenant, "actor_role": task.actor_role});
                match action {
                    Action::Approve => {
                        let remaining = tasks.len();
                        if step.rule == Rule::All && remaining > 1 {
                            case.signed.push(Signature {
                                slot: task.slot,
                                account: who.account.clone(),
                            });
                            effects.done_slot = Some(task.slot);
                            event.action = "countersign".into();
                        } else {
                            let (rejection, module) = self
                                .run_hooks(
                                    db,
                                    read_scope,
                                    &flow,
                                    &mut case,
                                    &HookPoint::Approve(step.id.clone()),
                                    today,
                                )
                                .await?;
                            event.module = module.as_ref().map(|m| m.0.clone());
                            event.module_version = module.map(|m| m.1);
                            if let Some(reason) = rejection {
                                case.state = CaseState::Rejected;
                                case.step = None;
                                event.action = "reject".into();
                                event.reason = Some(reason);
                                effects.tasks = Some(Vec::new());
                                effects.clear_all_timers = true;
                            } else {
                                match step.next.as_deref().and_then(|n| flow.step(n)).cloned() {
                                    Some(next) => {
                                        self.enter_step(
                                            &flow,
                                            &mut case,
                                            &next,
                                            today,
                                            &mut effects,
                                        )?;
                                        event.to_step = Some(next.id.clone());
                                    }
                                    None => {
                                        case.state = CaseState::Closed;
                                        case.step = None;
                                        case.step_due_on = None;
                                        effects.tasks = Some(Vec::new());
                                        effects.clear_all_timers = true;
                                    }
                                }
                            }
                        }
                    }
                    Action::Return => {
                        event.reason = Some(required_reason(&request)?);
                        match request.to_step.as_deref() {
                            None | Some("applicant") => {
                                case.state = CaseState::Returned;
                                case.step = Some(flow.first().id.clone());
                                case.signed.clear();
                                case.step_due_on = None;
                                effects.tasks = Some(Vec::new());
                                effects.clear_step_timers = true;
                                event.to_step = Some("applicant".into());
                            }
                            Some(target) => {
                                let here = flow.position(&step.id).unwrap_or(0);
                                let earlier = flow.position(target).filter(|p| *p < here);
                                let Some(position) = earlier else {
                                    return Err(WorkflowError::Invalid(format!(
                                        "只能退回到之前的步骤，{target} 不是 / a case returns only to an earlier step, and {target} is not one"
                                    )));
                                };
                                let target = flow.steps[position].clone();
                                self.enter_step(&flow, &mut case, &target, today, &mut effects)?;
                                event.to_step = Some(target.id.clone());
                            }
                        }
                    }
                    Action::Reject => {
                        event.reason = Some(required_reason(&request)?);
                        case.state = CaseState::Rejected;
                        case.step = None;
                        effects.tasks = Some(Vec::new());
                        effects.clear_all_timers = true;
                    }
                    Action::Transfer => {
                        event.reason = Some(required_reason(&request)?);
                        let reference = request.to_tenant.as_deref().ok_or_else(|| {
                            WorkflowError::Invalid(
                                "转办需要 to_tenant / a transfer needs to_tenant".into(),
                            )
                        })?;
                        let tree = self.tree.current();
                        let target = tree.resolve(reference).ok_or_else(|| {
                            WorkflowError::Invalid(format!("未知租户 / unknown tenant {reference}"))
                        })?;
                        if target.path == case.tenant_path {
                            return Err(WorkflowError::Invalid(
                                "不能转办给本单位 / a case cannot be transferred to its own tenant"
                                    .into(),
                            ));
                        }
                        if !target.lines.contains(&case.line) {
                            return Err(WorkflowError::Invalid(format!(
                                "{} 没有 {} 条线 / {} has no {} line",
                                target.name, case.line, target.name_en, case.line
                            )));
                        }
                        let root = case.tenant_path.lineage().into_iter().next();
                        let target_root = target.path.lineage().into_iter().next();
                        let Some(root) = root.filter(|r| Some(r) == target_root.as_ref()) else {
                            return Err(WorkflowError::Invalid(
                                "不能跨省市转办 / a case stays within its root tenant".into(),
                            ));
                        };
                        let landing = step
                            .transfer_to
                            .as_deref()
                            .and_then(|s| flow.step(s))
                            .cloned()
                            .unwrap_or_else(|| step.clone());
                        self.check_transfer_target(
                            &case.tenant_path,
                            &task.actor_tenant,
                            &landing,
                            &target.path,
                        )?;
                        effects.moved = true;
                        event.detail["from_tenant"] = json!(case.tenant_path.as_str());
                        event.detail["to_tenant"] = json!(target.path.as_str());
                        case.tenant_path = target.path.clone();
                        self.enter_step(&flow, &mut case, &landing, today, &mut effects)?;
                        event.to_step = Some(landing.id.clone());
                        // The hand-over moves the case out of the actor's
                        // subtree (up to the city, or across to another
                        // district): the platform writes it at the common
                        // root, after the actor's authorization above.
                        write_scope = TenantScope::for_platform_task(root);
                    }
                    Action::Pause => {
                        event.reason = Some(required_reason(&request)?);
                        case.state = CaseState::Paused;
                        case.paused_on = Some(today);
                        effects.clear_all_timers = true;
                    }
                    Action::Resume => {
                        let paused_on = case.paused_on.unwrap_or(today);
                        let calendar = self.calendar_for(&case.tenant_path)?;
                        case.step_due_on = crate::transitions::resumed_due(
                            case.step_due_on,
                            case.step_unit.as_deref(),
                            paused_on,
                            today,
                            &calendar,
                        )?;
                        case.limit_due_on = crate::transitions::resumed_due(
                            case.limit_due_on,
                            case.limit_unit.as_deref(),
                            paused_on,
                            today,
                            &calendar,
                        )?;
                        event.detail["paused_days"] = json!((today - paused_on).num_days());
                        case.state = CaseState::Open;
                        case.paused_on = None;
                        self.rearm(&flow, &step, &case, today, &calendar, &mut effects)?;
                    }
                    Action::Extend => {
                        event.reason = Some(required_reason(&request)?);
                        let limit = flow.limit.ok_or_else(|| {
                            WorkflowError::NotAllowed(
                                "流程没有法定时限 / the flow has no limit".into(),
                            )
                        })?;
                        let calendar = self.calendar_for(&case.tenant_path)?;
                        let (days, due) = crate::transitions::extended_limit(
                            &limit,
                            case.limit_due_on.unwrap_or(today),
                            extended,
                            request.days,
                            &calendar,
                        )?;
                        case.limit_due_on = Some(due);
                        event.detail["days"] = json!(days);
                        event.detail["limit_due_on"] = json!(case.limit_due_on);
                        if case.state == CaseState::Open {
                            self.rearm(&flow, &step, &case, today, &calendar, &mut effects)?;
                        }
                    }
                    Action::Withdraw | Action::Resubmit => {}
                }
            }
        }
        event.reason = event
            .reason
            .or_else(|| request.reason.clone().filter(|r| !r.trim().is_empty()));
        case.version = read_version + 1;
        case.updated_at = now;
        if case.state.is_final() {
            case.step_due_on = None;
            case.limit_due_on = None;
            case.overdue = false;
        }
        effects.event = event;
        let mut tx = db.begin(&write_scope).await?;
        // A timer may have flagged the case since it was read (timers do
        // not change the version): a flag this action did not change, on
        // the same step, keeps what is in the row now.
        let keep = store::KeepFlags {
            overdue: case.step == read.step && case.overdue == read.overdue,
            supervised: case.step == read.step && case.supervised == read.supervised,
        };
        match store::update_case(tx.connection(), &case, read_version, keep).await? {
            Some((overdue, supervised)) => {
                case.overdue = overdue;
                case.supervised = supervised;
            }
            None => {
                let current = store::select_cases(tx.connection(), "id = $1", &[text(&case.id)])
                    .await?
                    .first()
                    .map(|c| c.version)
                    .unwrap_or(read_version);
                tx.rollback().await?;
                return Err(WorkflowError::Conflict { current });
            }
        }
        self.write_effects(&mut tx, &case, &effects).await?;
        if case.state.is_final() && !state_before.is_final() {
            // A processing time the calendar cannot measure (a year it does
            // not cover) leaves the case untimed; it never stops the change.
            let days = stats::filing_date(case.created_at).and_then(|filed| {
                self.calendar_for(&case.tenant_path)
                    .ok()?
                    .days_between(filed, today, DayUnit::Working)
                    .ok()
            });
            if let Some(done) = Counts::finished(state_before, case.state, days) {
                stats::add(tx.connection(), &case, &done).await?;
            }
        }
        let audit_action = format!("case.{}", effects.event.action);
        self.audit(&mut tx, &case, &audit_action, &effects.event)
            .await?;
        tx.commit().await?;
        Ok(case)
    }

    /// Where `case` may be transferred from its current step by the actors
    /// of its open tasks: every tenant of its root with its line that the
    /// transfer rule allows (see [`Workflow::act`]), in tree order; empty
    /// when the step does not transfer.
    pub async fn transfer_targets(
        &self,
        tx: &mut TenantTx,
        case: &Case,
    ) -> Result<Vec<TenantPath>, WorkflowError> {
        let flow = self.flow_of(case)?.clone();
        let Some(step) = case.step.as_deref().and_then(|s| flow.step(s)) else {
            return Ok(Vec::new());
        };
        if case.state != CaseState::Open || !step.actions.contains(&StepAction::Transfer) {
            return Ok(Vec::new());
        }
        let landing = step
            .transfer_to
            .as_deref()
            .and_then(|s| flow.step(s))
            .unwrap_or(step);
        let tasks = store::tasks(tx.connection(), &case.id).await?;
        let tree = self.tree.current();
        let root = case.tenant_path.lineage().into_iter().next();
        let mut targets = Vec::new();
        if let Some(root) = root {
            for node in tree.subtree(&root) {
                if node.path == case.tenant_path || !node.lines.contains(&case.line) {
                    continue;
                }
                let allowed = tasks.iter().any(|task| {
                    self.check_transfer_target(
                        &case.tenant_path,
                        &task.actor_tenant,
                        landing,
                        &node.path,
                    )
                    .is_ok()
                });
                if allowed {
                    targets.push(node.path.clone());
                }
            }
        }
        Ok(targets)
    }

    /// Whether a case at `from`, handed on by the actor sitting at
    /// `actor_tenant`, may be transferred to `target` to land on `landing`
    /// (the rule is in tenants/README.md, "Flows"):
    ///
    /// - back up: `target` is an ancestor of `from`; or
    /// - down or across within the actor's own jurisdiction: `target` lies
    ///   in `actor_tenant`'s subtree and is itself where an actor of
    ///   `landing` sits for a case there (its level is the actor's level,
    ///   or the actor sits at the case).
    ///
    /// So a district inspector sends a lead up to the city, never sideways
    /// into another district; the city dispatches it to any district.
    fn check_transfer_target(
        &self,
        from: &TenantPath,
        actor_tenant: &TenantPath,
        landing: &Step,
        target: &TenantPath,
    ) -> Result<(), WorkflowError> {
        let up = from.is_within(target) && from != target;
        let lands_at_target = landing
            .actors
            .iter()
            .any(|actor| self.place(&actor.at, target).as_ref() == Some(target));
        let down = target.is_within(actor_tenant) && lands_at_target;
        if up || down {
            return Ok(());
        }
        let places = landing
            .actors
            .iter()
            .map(|a| a.at.as_written())
            .collect::<Vec<_>>()
            .join(", ");
        Err(WorkflowError::TransferTargetNotAllowed(format!(
            "不能转办至 {target}：只能退回上级（{from} 的上级），或转给 {actor_tenant} 辖区内“{}”步骤办理人所在的单位（{places}） / \
             cannot transfer to {target}: a case goes back up (to an ancestor of {from}), or to a unit within {actor_tenant} \
             where the actors of step {} sit ({places})",
            landing.name, landing.id
        )))
    }

    /// Re-creates every pending timer of an open case (after resume or
    /// an extension moved its dates), and its tasks' due dates.
    fn rearm(
        &self,
        flow: &Flow,
        step: &Step,
        case: &Case,
        today: NaiveDate,
        calendar: &Calendar,
        effects: &mut Effects,
    ) -> Result<(), WorkflowError> {
        effects.clear_all_timers = true;
        if let (Some(due), Some(deadline)) = (case.step_due_on, step.deadline) {
            effects.new_timers.extend(timers::step_timers(
                calendar,
                &case.id,
                &step.id,
                due,
                deadline.unit,
                step.remind_before,
                step.escalate_after,
                today,
            )?);
        }
        if let (Some(due), Some(limit)) = (case.limit_due_on, flow.limit) {
            effects.new_timers.extend(timers::limit_timers(
                calendar,
                &case.id,
                due,
                limit.deadline.unit,
                limit.remind_before,
                today,
            )?);
        }
        // The open slots keep their signatures; only their due date moves.
        let signed: Vec<i64> = case.signed.iter().map(|s| s.slot).collect();
        let tasks = self
            .step_tasks(flow, step, &case.tenant_path, case.step_due_on)?
            .into_iter()
            .filter(|t| !signed.contains(&t.slot))
            .collect();
        effects.tasks = Some(tasks);
        Ok(())
    }
}
