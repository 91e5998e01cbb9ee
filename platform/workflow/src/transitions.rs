//! Pure transitions: every action on a case as a function of the case, its
//! flow, the step it stands at and a [`Ctx`] (today, now, who acts, the
//! tenant tree and each tenant's calendar), returning the changed case and
//! what else to write ([`Effects`]). No database, no clock and no
//! authorization here: the engine (`cases.rs`) loads the case, chooses the
//! caller's task through its decider, runs module hooks (plan → hook →
//! apply: the hook's verdict comes in as a [`HookRun`]), calls one of these
//! and persists the result. Tested below without a database.

use std::sync::Arc;

use chrono::NaiveDate;
use civitas_calendar::{Calendar, DayUnit};
use civitas_tenancy::{TenantPath, TenantTree};
use serde_json::{Value, json};

use crate::WorkflowError;
use crate::flow::{Flow, Limit, Place, Rule, Step};
use crate::model::{ActRequest, Action, Case, CaseEvent, CaseState, Signature, Who};
use crate::timers::{self, NewTimer};

/// Each tenant's calendar (the official one with the tenant's local days).
/// `Sync`: an action holds its context across the await of its hooks.
pub(crate) trait Calendars: Sync {
    /// The calendar deadlines at `tenant` are counted on.
    fn calendar_for(&self, tenant: &TenantPath) -> Result<Arc<Calendar>, WorkflowError>;
}

/// What a transition knows besides the case and its flow.
pub(crate) struct Ctx<'a> {
    /// Today in China (deadlines are dates there).
    pub(crate) today: NaiveDate,
    /// Now, Unix microseconds (the history's time).
    pub(crate) now: i64,
    /// Who acts.
    pub(crate) who: &'a Who,
    /// The tenant tree the action reads (one snapshot for the whole action).
    pub(crate) tree: &'a TenantTree,
    /// Each tenant's calendar.
    pub(crate) calendars: &'a dyn Calendars,
}

/// What a transition writes besides the case row.
#[derive(Debug)]
pub(crate) struct Effects {
    /// The history entry.
    pub(crate) event: CaseEvent,
    /// Replace the open tasks with these (None: leave them).
    pub(crate) tasks: Option<Vec<TaskRow>>,
    /// Delete this slot's task only.
    pub(crate) done_slot: Option<i64>,
    /// Drop pending step timers.
    pub(crate) clear_step_timers: bool,
    /// Drop every pending timer.
    pub(crate) clear_all_timers: bool,
    /// Timers to insert.
    pub(crate) new_timers: Vec<NewTimer>,
    /// The case changed tenant within this root: its history, attachments,
    /// timers and notifications move with it, written at the root.
    pub(crate) moved_within: Option<TenantPath>,
    /// The case is being filed: it has no tasks or timers to clear yet.
    pub(crate) filing: bool,
}

impl Effects {
    /// Nothing but the history entry `event`.
    pub(crate) fn of(event: CaseEvent) -> Effects {
        Effects {
            event,
            tasks: None,
            done_slot: None,
            clear_step_timers: false,
            clear_all_timers: false,
            new_timers: Vec::new(),
            moved_within: None,
            filing: false,
        }
    }
}

/// `case` leaves its flow in `state` (withdrawn, rejected, closed): at no
/// step, with no task and no timer left.
fn end(case: &mut Case, effects: &mut Effects, state: CaseState) {
    case.state = state;
    case.step = None;
    effects.tasks = Some(Vec::new());
    effects.clear_all_timers = true;
}

/// An open task: one actor slot of the current step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskRow {
    /// The actor's index in the step.
    pub(crate) slot: i64,
    /// Where the actor sits.
    pub(crate) actor_tenant: TenantPath,
    /// The actor's role.
    pub(crate) actor_role: String,
    /// The actor's line.
    pub(crate) line: String,
    /// The step.
    pub(crate) step: String,
    /// The step's due date (or the inbox's "no due date").
    pub(crate) due_on: String,
    /// Its unit.
    pub(crate) unit: String,
}

/// An open actor slot of a case's current step, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Task {
    /// The actor's index in the step.
    pub(crate) slot: i64,
    /// Where the actor sits.
    pub(crate) actor_tenant: TenantPath,
    /// The actor's role.
    pub(crate) actor_role: String,
    /// The actor's line.
    pub(crate) line: String,
}

/// A transition's result: the case as it is after the action (version
/// and time not yet settled, see [`settle`]) and what else to write.
#[derive(Debug)]
pub(crate) struct Transition {
    /// The case after the action.
    pub(crate) case: Case,
    /// What else to write.
    pub(crate) effects: Effects,
}

/// What the module hooks at a point said: a rejection (with the module's
/// reasons) or none, and what each hook answered.
#[derive(Debug, Default)]
pub(crate) struct HookRun {
    /// Why the application is not eligible, when a hook said so.
    pub(crate) rejection: Option<String>,
    /// Each hook's decision, in the order they ran (the last names the
    /// history entry's module).
    pub(crate) evaluations: Vec<Evaluation>,
    /// The fairness guard's warnings: guarded answers that differ from the
    /// one given at submission ([`guard`]).
    pub(crate) fairness: Vec<Value>,
}

/// The fairness guard (公平卫士) over a hook's new answer `output`, given
/// on the case data whose SM3 is `input_sm3`, watching its `field`, given
/// the case's `outcomes` so far: the guard object to keep with the answer
/// (`{field, submitted, value, seq, input_sm3}`) and, when `value` differs
/// from `submitted`, the warning (`{hook, field, submitted, value}`).
///
/// `submitted` is the value the latest submission's answer gave, and
/// `input_sm3` the data it was given. An answer at submission
/// (`at_submission`) sets both anew — the first submission, or a
/// resubmission of *corrected* facts — but a resubmission of the same data
/// does not: it is held to the old value like any later answer, so a
/// changed score cannot be laundered by returning and resubmitting a case
/// unchanged. `seq` orders a case's guarded answers (1, 2, …), so the
/// latest is known whatever hooks gave them.
// Hooks run only with the `modules` feature (the fuzz targets build without).
#[cfg_attr(not(feature = "modules"), allow(dead_code))]
pub(crate) fn guard(
    outcomes: &Value,
    hook: &str,
    field: &str,
    output: &Value,
    input_sm3: &str,
    at_submission: bool,
) -> (Value, Option<Value>) {
    let value = output.get(field).cloned().unwrap_or(Value::Null);
    let latest = outcomes
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .filter_map(|outcome| outcome.get("guard"))
        .filter(|g| g.get("field").and_then(Value::as_str) == Some(field))
        .max_by_key(|g| g.get("seq").and_then(Value::as_u64).unwrap_or(0));
    let seq = latest
        .and_then(|g| g.get("seq"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
        + 1;
    let baseline = latest.and_then(|g| Some((g.get("submitted")?, g.get("input_sm3")?.as_str()?)));
    let (submitted, submitted_on) = match baseline {
        Some((submitted, on)) if !at_submission || on == input_sm3 => {
            (submitted.clone(), on.to_owned())
        }
        _ => (value.clone(), input_sm3.to_owned()),
    };
    let warning = (submitted != value)
        .then(|| json!({"hook": hook, "field": field, "submitted": submitted, "value": value}));
    (
        json!({"field": field, "submitted": submitted, "value": value, "seq": seq, "input_sm3": submitted_on}),
        warning,
    )
}

/// One decision a module made on a case, as it was made: what it was
/// given and what it answered, with their SM3 digests (of the JSON with
/// keys in order: `civitas_registry::input_digest`). Stored whole in
/// `case_evaluations`; the history entry names it with the digests and the
/// answer, the audit record with the digests only.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Evaluation {
    /// Its id (the `case_evaluations` row).
    pub(crate) id: String,
    /// The flow's hook that asked.
    pub(crate) hook: String,
    /// The module and version that answered.
    pub(crate) module: String,
    /// Its version.
    pub(crate) version: String,
    /// The tenant whose binding chose it; none for the service default.
    pub(crate) binding_tenant: Option<String>,
    /// The evaluation date the module was given.
    pub(crate) evaluated_on: NaiveDate,
    /// The input (the case's data).
    pub(crate) input: Value,
    /// The tenant's effective settings it was given.
    pub(crate) settings: Arc<serde_json::Map<String, Value>>,
    /// Its answer.
    pub(crate) output: Value,
    /// SM3 of `input`.
    pub(crate) input_sm3: String,
    /// SM3 of `settings`.
    pub(crate) settings_sm3: String,
    /// SM3 of `output`.
    pub(crate) output_sm3: String,
}

impl Evaluation {
    /// As the history entry shows it: by id, with the digests and the
    /// answer.
    fn in_history(&self) -> Value {
        json!({
            "id": self.id,
            "hook": self.hook,
            "module": self.module,
            "version": self.version,
            "binding_tenant": self.binding_tenant,
            "evaluated_on": self.evaluated_on,
            "input_sm3": self.input_sm3,
            "settings_sm3": self.settings_sm3,
            "output_sm3": self.output_sm3,
            "output": self.output,
        })
    }
}

/// The audit record's view of a history entry's evaluations: each by id,
/// module, version and digests — what `civitas audit replay` trusts, since
/// the audit chain would show a change to it.
pub(crate) fn audited_evaluations(detail: &Value) -> Option<Value> {
    let entries = detail.get("evaluations")?.as_array()?;
    Some(Value::Array(
        entries
            .iter()
            .map(|e| {
                json!({
                    "id": e["id"], "hook": e["hook"], "module": e["module"], "version": e["version"],
                    "input_sm3": e["input_sm3"], "settings_sm3": e["settings_sm3"],
                    "output_sm3": e["output_sm3"],
                })
            })
            .collect(),
    ))
}

impl HookRun {
    /// Puts the hooks' module and answers on the history entry `event`:
    /// its `module` and `module_version`, and `detail.evaluations` — so
    /// the history keeps every decision a module made on the case, not
    /// only the latest (which `outcomes` holds).
    pub(crate) fn record(&self, event: &mut CaseEvent) {
        let last = self.evaluations.last();
        event.module = last.map(|e| e.module.clone());
        event.module_version = last.map(|e| e.version.clone());
        if self.evaluations.is_empty() {
            return;
        }
        if let Value::Object(detail) = &mut event.detail {
            detail.insert(
                "evaluations".into(),
                self.evaluations
                    .iter()
                    .map(Evaluation::in_history)
                    .collect(),
            );
            if !self.fairness.is_empty() {
                detail.insert("fairness".into(), Value::Array(self.fairness.clone()));
            }
        }
    }
}

/// Where `place`, for a case at `tenant`, is.
pub(crate) fn place(tree: &TenantTree, place: &Place, tenant: &TenantPath) -> Option<TenantPath> {
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

/// The tasks of `step` for a case at `tenant`: one per actor slot.
pub(crate) fn step_tasks(
    tree: &TenantTree,
    flow: &Flow,
    step: &Step,
    tenant: &TenantPath,
    due: Option<NaiveDate>,
) -> Result<Vec<TaskRow>, WorkflowError> {
    let mut rows = Vec::new();
    for (slot, actor) in step.actors.iter().enumerate() {
        let actor_tenant = place(tree, &actor.at, tenant).ok_or_else(|| {
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

/// Enters `step`: the case's due date (counted from today on its tenant's
/// calendar), its tasks and its step timers; signatures and flags start
/// afresh.
pub(crate) fn enter_step(
    flow: &Flow,
    case: &mut Case,
    step: &Step,
    ctx: &Ctx<'_>,
    effects: &mut Effects,
) -> Result<(), WorkflowError> {
    let calendar = ctx.calendars.calendar_for(&case.tenant_path)?;
    let due = match step.deadline {
        Some(d) => Some(calendar.add_days(ctx.today, d.days, d.unit)?),
        None => None,
    };
    case.step = Some(step.id.clone());
    case.state = CaseState::Open;
    case.signed.clear();
    case.step_due_on = due;
    case.step_unit = step.deadline.map(|d| d.unit.as_str().to_owned());
    case.overdue = false;
    case.supervised = false;
    effects.tasks = Some(step_tasks(ctx.tree, flow, step, &case.tenant_path, due)?);
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
            ctx.today,
        )?);
    }
    Ok(())
}

/// Re-creates every pending timer of an open case (after resume or an
/// extension moved its dates), and its open tasks' due dates.
fn rearm(
    flow: &Flow,
    step: &Step,
    case: &Case,
    ctx: &Ctx<'_>,
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
            ctx.today,
        )?);
    }
    if let (Some(due), Some(limit)) = (case.limit_due_on, flow.limit) {
        effects.new_timers.extend(timers::limit_timers(
            calendar,
            &case.id,
            due,
            limit.deadline.unit,
            limit.remind_before,
            ctx.today,
        )?);
    }
    // The open slots keep their signatures; only their due date moves.
    let signed: Vec<i64> = case.signed.iter().map(|s| s.slot).collect();
    let tasks = step_tasks(ctx.tree, flow, step, &case.tenant_path, case.step_due_on)?
        .into_iter()
        .filter(|t| !signed.contains(&t.slot))
        .collect();
    effects.tasks = Some(tasks);
    Ok(())
}

/// The history entry of `action` on `case` by `ctx.who`, now.
pub(crate) fn event(case: &Case, ctx: &Ctx<'_>, action: &str) -> CaseEvent {
    CaseEvent {
        case_id: case.id.clone(),
        seq: 0,
        at: ctx.now,
        actor: ctx.who.username.clone(),
        action: action.to_owned(),
        step: case.step.clone(),
        to_step: None,
        reason: None,
        module: None,
        module_version: None,
        detail: json!({}),
    }
}

/// A step action's history entry: which slot the actor filled.
fn step_event(case: &Case, task: &Task, ctx: &Ctx<'_>, action: &str) -> CaseEvent {
    CaseEvent {
        detail: json!({
            "slot": task.slot,
            "actor_tenant": task.actor_tenant,
            "actor_role": task.actor_role,
        }),
        ..event(case, ctx, action)
    }
}

/// A finished case takes no action.
pub(crate) fn not_finished(case: &Case) -> Result<(), WorkflowError> {
    if case.state.is_final() {
        return Err(WorkflowError::NotAllowed(format!(
            "案件已结束（{}）/ the case is {}",
            case.state.as_str(),
            case.state.as_str()
        )));
    }
    Ok(())
}

/// The reason `request` gives, required: trimmed, non-empty and within
/// [`crate::MAX_REASON_CHARS`].
pub(crate) fn required_reason(request: &ActRequest) -> Result<String, WorkflowError> {
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

/// Any reason given with an action (required or not) fits
/// [`crate::MAX_REASON_CHARS`].
pub(crate) fn check_reason(request: &ActRequest) -> Result<(), WorkflowError> {
    match request.reason.as_deref() {
        Some(reason) => {
            crate::model::at_most(reason.trim(), crate::MAX_REASON_CHARS, "理由", "reason")
        }
        None => Ok(()),
    }
}

/// 撤回: the applicant takes back a case before review has begun (still at
/// the first step with nobody's signature and no supervision, or returned
/// to them), when the flow allows it. `by_applicant` says the actor is
/// the case's own applicant.
pub(crate) fn withdraw(
    case: &Case,
    flow: &Flow,
    ctx: &Ctx<'_>,
    by_applicant: bool,
    request: &ActRequest,
) -> Result<Transition, WorkflowError> {
    not_finished(case)?;
    if !by_applicant {
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
    let mut effects = Effects::of(event(case, ctx, "withdraw"));
    effects.event.reason = Some(required_reason(request)?);
    let mut case = case.clone();
    end(&mut case, &mut effects, CaseState::Withdrawn);
    Ok(Transition { case, effects })
}

/// The plan of 重新提交: a returned case, corrected by its owner (the
/// applicant, or for a case staff filed, the account that filed it), with
/// the corrected document if one is given. The submit hooks then run on
/// what this returns, and [`resubmit`] applies their verdict.
pub(crate) fn resubmission(
    case: &Case,
    ctx: &Ctx<'_>,
    data: Option<&Value>,
) -> Result<Case, WorkflowError> {
    not_finished(case)?;
    if case.state != CaseState::Returned {
        return Err(WorkflowError::NotAllowed(
            "只有退回的案件可以重新提交 / only a returned case can be resubmitted".into(),
        ));
    }
    // Who corrects a returned case is the applicant, or, for a case staff
    // filed (no applicant), the account that filed it: not whoever else
    // can see it.
    let owner = case.applicant.as_ref().or(case.created_by_account.as_ref());
    if owner != Some(&ctx.who.account) {
        return Err(WorkflowError::NotYourCase(
            "只有申请人（工作人员代办的案件为其创建人）可以重新提交 / only the applicant (for a case filed by staff, the account that filed it) may resubmit"
                .into(),
        ));
    }
    let mut corrected = case.clone();
    if let Some(data) = data {
        if !data.is_object() {
            return Err(WorkflowError::Invalid(
                "data 必须是 JSON 对象 / data must be a JSON object".into(),
            ));
        }
        corrected.data = data.clone();
    }
    Ok(corrected)
}

/// 重新提交, applied: refused when the submit hooks found the corrected
/// application ineligible, else back at the step it was returned from.
pub(crate) fn resubmit(
    case: &Case,
    flow: &Flow,
    ctx: &Ctx<'_>,
    hooks: &HookRun,
) -> Result<Transition, WorkflowError> {
    let mut effects = Effects::of(event(case, ctx, "resubmit"));
    hooks.record(&mut effects.event);
    let mut case = case.clone();
    match &hooks.rejection {
        Some(reason) => {
            effects.event.reason = Some(reason.clone());
            end(&mut case, &mut effects, CaseState::Rejected);
        }
        None => {
            let target = case
                .step
                .as_deref()
                .and_then(|s| flow.step(s))
                .unwrap_or_else(|| flow.first())
                .clone();
            enter_step(flow, &mut case, &target, ctx, &mut effects)?;
            effects.event.to_step = Some(target.id.clone());
        }
    }
    Ok(Transition { case, effects })
}

/// The step a step action acts at: the case's current step, which must
/// still be in the flow and allow `action`, with the case open (paused,
/// for resume).
pub(crate) fn acting_step<'f>(
    case: &Case,
    flow: &'f Flow,
    action: Action,
) -> Result<&'f Step, WorkflowError> {
    not_finished(case)?;
    let step_action = action
        .step_action()
        .ok_or_else(|| WorkflowError::Invalid("unknown action".into()))?;
    let step_id = case.step.as_deref().ok_or_else(|| {
        WorkflowError::NotAllowed("案件不在任何步骤 / the case is at no step".into())
    })?;
    let step = flow.step(step_id).ok_or_else(|| {
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
    if case.state != needed {
        return Err(WorkflowError::NotAllowed(format!(
            "案件状态为 {}，不能 {} / the case is {} and cannot {}",
            case.state.as_str(),
            action.as_str(),
            case.state.as_str(),
            action.as_str()
        )));
    }
    Ok(step)
}

/// Whether approving now only adds a signature: a step every actor must
/// sign (`rule = "all"`) with other slots still open. Otherwise approving
/// completes the step, and its approve hooks run first.
pub(crate) fn countersigns(step: &Step, open_tasks: usize) -> bool {
    step.rule == Rule::All && open_tasks > 1
}

/// 会签: the actor signs their slot of a countersign step; the case stays.
pub(crate) fn countersign(case: &Case, task: &Task, ctx: &Ctx<'_>) -> Transition {
    let mut effects = Effects::of(step_event(case, task, ctx, "countersign"));
    effects.done_slot = Some(task.slot);
    let mut case = case.clone();
    case.signed.push(Signature {
        slot: task.slot,
        account: ctx.who.account.clone(),
    });
    Transition { case, effects }
}

/// 通过: completes the step. Refused (驳回, on the module's record) when an
/// approve hook found the case ineligible; else on to the next step, or
/// 办结 after the last.
pub(crate) fn approve(
    case: &Case,
    flow: &Flow,
    step: &Step,
    task: &Task,
    ctx: &Ctx<'_>,
    hooks: &HookRun,
) -> Result<Transition, WorkflowError> {
    let mut effects = Effects::of(step_event(case, task, ctx, "approve"));
    hooks.record(&mut effects.event);
    let mut case = case.clone();
    if let Some(reason) = &hooks.rejection {
        effects.event.action = "reject".into();
        effects.event.reason = Some(reason.clone());
        end(&mut case, &mut effects, CaseState::Rejected);
        return Ok(Transition { case, effects });
    }
    match step.next.as_deref().and_then(|n| flow.step(n)) {
        Some(next) => {
            enter_step(flow, &mut case, next, ctx, &mut effects)?;
            effects.event.to_step = Some(next.id.clone());
        }
        None => {
            case.step_due_on = None;
            end(&mut case, &mut effects, CaseState::Closed);
        }
    }
    Ok(Transition { case, effects })
}

/// 退回: with a reason, to the applicant for correction (`to_step` none or
/// `applicant`; the case waits at the first step, its step timers
/// dropped, its statutory limit running), or to an earlier step, entered
/// afresh.
pub(crate) fn return_to(
    case: &Case,
    flow: &Flow,
    step: &Step,
    task: &Task,
    ctx: &Ctx<'_>,
    request: &ActRequest,
) -> Result<Transition, WorkflowError> {
    let mut effects = Effects::of(step_event(case, task, ctx, "return"));
    effects.event.reason = Some(required_reason(request)?);
    let mut case = case.clone();
    match request.to_step.as_deref() {
        None | Some("applicant") => {
            case.state = CaseState::Returned;
            case.step = Some(flow.first().id.clone());
            case.signed.clear();
            case.step_due_on = None;
            effects.tasks = Some(Vec::new());
            effects.clear_step_timers = true;
            effects.event.to_step = Some("applicant".into());
        }
        Some(target) => {
            let here = flow.position(&step.id).unwrap_or(0);
            let earlier = flow.position(target).filter(|p| *p < here);
            let Some(position) = earlier else {
                return Err(WorkflowError::Invalid(format!(
                    "只能退回到之前的步骤，{target} 不是 / a case returns only to an earlier step, and {target} is not one"
                )));
            };
            let target = &flow.steps[position];
            enter_step(flow, &mut case, target, ctx, &mut effects)?;
            effects.event.to_step = Some(target.id.clone());
        }
    }
    Ok(Transition { case, effects })
}

/// 不予通过: refused with a reason.
pub(crate) fn reject(
    case: &Case,
    task: &Task,
    ctx: &Ctx<'_>,
    request: &ActRequest,
) -> Result<Transition, WorkflowError> {
    let mut effects = Effects::of(step_event(case, task, ctx, "reject"));
    effects.event.reason = Some(required_reason(request)?);
    let mut case = case.clone();
    end(&mut case, &mut effects, CaseState::Rejected);
    Ok(Transition { case, effects })
}

/// 转办: with a reason, to `request.to_tenant` in the same root that has
/// the case's line and that the transfer rule allows from the actor's
/// seat (see [`check_transfer_target`]); the case lands on the step's
/// `transfer_to` (or the same step) there, entered afresh.
pub(crate) fn transfer(
    case: &Case,
    flow: &Flow,
    step: &Step,
    task: &Task,
    ctx: &Ctx<'_>,
    request: &ActRequest,
) -> Result<Transition, WorkflowError> {
    let mut effects = Effects::of(step_event(case, task, ctx, "transfer"));
    effects.event.reason = Some(required_reason(request)?);
    let reference = request.to_tenant.as_deref().ok_or_else(|| {
        WorkflowError::Invalid("转办需要 to_tenant / a transfer needs to_tenant".into())
    })?;
    let target = ctx
        .tree
        .resolve(reference)
        .ok_or_else(|| WorkflowError::Invalid(format!("未知租户 / unknown tenant {reference}")))?;
    if target.path == case.tenant_path {
        return Err(WorkflowError::Invalid(
            "不能转办给本单位 / a case cannot be transferred to its own tenant".into(),
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
        .unwrap_or(step);
    check_transfer_target(
        ctx.tree,
        &case.tenant_path,
        &task.actor_tenant,
        landing,
        &target.path,
    )?;
    effects.event.detail["from_tenant"] = json!(case.tenant_path.as_str());
    effects.event.detail["to_tenant"] = json!(target.path.as_str());
    // The hand-over moves the case out of the actor's subtree (up to the
    // city, or across to another district): it is written at the common
    // root, after the actor's authorization.
    effects.moved_within = Some(root);
    let mut case = case.clone();
    case.tenant_path = target.path.clone();
    enter_step(flow, &mut case, landing, ctx, &mut effects)?;
    effects.event.to_step = Some(landing.id.clone());
    Ok(Transition { case, effects })
}

/// Whether a case at `from`, handed on by the actor sitting at
/// `actor_tenant`, may be transferred to `target` to land on `landing`
/// (the rule is in tenants/README.md, "Flows"):
///
/// - back up: `target` is an ancestor of `from` and some actor of
///   `landing` has a seat for a case there (a step of street officers
///   cannot land at the city: nobody could act on it); or
/// - down or across within the actor's own jurisdiction: `target` lies in
///   `actor_tenant`'s subtree and is itself where an actor of `landing`
///   sits for a case there (its level is the actor's level, or the actor
///   sits at the case).
///
/// So a district inspector sends a lead up to the city, never sideways
/// into another district; the city dispatches it to any district.
pub(crate) fn check_transfer_target(
    tree: &TenantTree,
    from: &TenantPath,
    actor_tenant: &TenantPath,
    landing: &Step,
    target: &TenantPath,
) -> Result<(), WorkflowError> {
    let seated = landing
        .actors
        .iter()
        .any(|actor| place(tree, &actor.at, target).is_some());
    let up = from.is_within(target) && from != target && seated;
    let lands_at_target = landing
        .actors
        .iter()
        .any(|actor| place(tree, &actor.at, target).as_ref() == Some(target));
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

/// 暂停: with a reason, the statutory clock stops today; every pending
/// timer is dropped (resume re-creates them on the moved dates).
pub(crate) fn pause(
    case: &Case,
    task: &Task,
    ctx: &Ctx<'_>,
    request: &ActRequest,
) -> Result<Transition, WorkflowError> {
    let mut effects = Effects::of(step_event(case, task, ctx, "pause"));
    effects.event.reason = Some(required_reason(request)?);
    effects.clear_all_timers = true;
    let mut case = case.clone();
    case.state = CaseState::Paused;
    case.paused_on = Some(ctx.today);
    Ok(Transition { case, effects })
}

/// 恢复: the step's and the limit's deadlines move on by the days paused
/// (each in its own unit, see [`resumed_due`]); timers and open tasks are
/// re-created on the new dates.
pub(crate) fn resume(
    case: &Case,
    flow: &Flow,
    step: &Step,
    task: &Task,
    ctx: &Ctx<'_>,
) -> Result<Transition, WorkflowError> {
    let mut effects = Effects::of(step_event(case, task, ctx, "resume"));
    let mut case = case.clone();
    let paused_on = case.paused_on.unwrap_or(ctx.today);
    let calendar = ctx.calendars.calendar_for(&case.tenant_path)?;
    case.step_due_on = resumed_due(
        case.step_due_on,
        case.step_unit.as_deref(),
        paused_on,
        ctx.today,
        &calendar,
    )?;
    case.limit_due_on = resumed_due(
        case.limit_due_on,
        case.limit_unit.as_deref(),
        paused_on,
        ctx.today,
        &calendar,
    )?;
    effects.event.detail["paused_days"] = json!((ctx.today - paused_on).num_days());
    case.state = CaseState::Open;
    case.paused_on = None;
    rearm(flow, step, &case, ctx, &calendar, &mut effects)?;
    Ok(Transition { case, effects })
}

/// 延期: with a reason, the statutory limit moves by `request.days` in its
/// unit, within the flow's total (`extended`: the days earlier extensions
/// added, see [`extended_limit`]). An open case's timers move with it; a
/// paused one's wait for resume.
pub(crate) fn extend(
    case: &Case,
    flow: &Flow,
    step: &Step,
    task: &Task,
    ctx: &Ctx<'_>,
    request: &ActRequest,
    extended: i64,
) -> Result<Transition, WorkflowError> {
    let mut effects = Effects::of(step_event(case, task, ctx, "extend"));
    effects.event.reason = Some(required_reason(request)?);
    let limit = flow.limit.ok_or_else(|| {
        WorkflowError::NotAllowed("流程没有法定时限 / the flow has no limit".into())
    })?;
    let calendar = ctx.calendars.calendar_for(&case.tenant_path)?;
    let (days, due) = extended_limit(
        &limit,
        case.limit_due_on.unwrap_or(ctx.today),
        extended,
        request.days,
        &calendar,
    )?;
    let mut case = case.clone();
    case.limit_due_on = Some(due);
    effects.event.detail["days"] = json!(days);
    effects.event.detail["limit_due_on"] = json!(case.limit_due_on);
    if case.state == CaseState::Open {
        rearm(flow, step, &case, ctx, &calendar, &mut effects)?;
    }
    Ok(Transition { case, effects })
}

/// Every transition ends here: the version after `read_version`, the
/// time, a reason the caller gave where the action did not require one,
/// and a finished case's deadlines and flag cleared.
pub(crate) fn settle(
    transition: Transition,
    read_version: i64,
    ctx: &Ctx<'_>,
    request: &ActRequest,
) -> Transition {
    let Transition {
        mut case,
        mut effects,
    } = transition;
    if effects.event.reason.is_none() {
        effects.event.reason = request
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
    }
    case.version = read_version + 1;
    case.updated_at = ctx.now;
    if case.state.is_final() {
        case.step_due_on = None;
        case.limit_due_on = None;
        case.overdue = false;
    }
    Transition { case, effects }
}

/// Which statutory-limit days earlier extensions used, from the case's
/// `extend` history entries.
pub(crate) fn extension_days_used(extends: &[CaseEvent]) -> i64 {
    extends
        .iter()
        .filter_map(|e| e.detail.get("days").and_then(Value::as_i64))
        .sum()
}

/// A paused case's deadline on resuming `today`: moved on by the days the
/// case was paused (`paused_on` to `today`), counted in the deadline's own
/// unit, so a pause over a holiday costs a working-day deadline only the
/// working days it spanned. A case without the deadline, or a deadline of no
/// known unit, keeps what it has.
pub(crate) fn resumed_due(
    due: Option<NaiveDate>,
    unit: Option<&str>,
    paused_on: NaiveDate,
    today: NaiveDate,
    calendar: &Calendar,
) -> Result<Option<NaiveDate>, WorkflowError> {
    let (Some(due), Some(unit)) = (due, unit.and_then(DayUnit::parse)) else {
        return Ok(due);
    };
    let paused = calendar.days_between(paused_on, today, unit)?.max(0);
    Ok(Some(calendar.add_days(
        due,
        u32::try_from(paused).unwrap_or(0),
        unit,
    )?))
}

/// The statutory limit after an extension of `days` (the days and the new
/// limit): refused without a positive number of days, or when it would take
/// the extensions past the flow's total (`extended` days used already).
/// `due` is the limit now.
pub(crate) fn extended_limit(
    limit: &Limit,
    due: NaiveDate,
    extended: i64,
    days: Option<u32>,
    calendar: &Calendar,
) -> Result<(u32, NaiveDate), WorkflowError> {
    let days = days.filter(|d| *d > 0).ok_or_else(|| {
        WorkflowError::Invalid("延期需要正整数 days / an extension needs days > 0".into())
    })?;
    if extended + i64::from(days) > i64::from(limit.max_extension) {
        return Err(WorkflowError::NotAllowed(format!(
            "延期总计不得超过 {} 天（已延 {extended} 天）/ extensions total at most {} days ({extended} used)",
            limit.max_extension, limit.max_extension
        )));
    }
    Ok((days, calendar.add_days(due, days, limit.deadline.unit)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::flow::Deadline;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn calendar() -> Calendar {
        Calendar::official().unwrap()
    }

    fn limit(days: u32, unit: DayUnit, max_extension: u32) -> Limit {
        Limit {
            deadline: Deadline { days, unit },
            remind_before: None,
            max_extension,
        }
    }

    #[test]
    fn resuming_moves_a_natural_day_deadline_by_every_day_paused() {
        let due = resumed_due(
            Some(date("2026-11-01")),
            Some("natural"),
            date("2026-09-30"),
            date("2026-10-09"),
            &calendar(),
        );
        assert_eq!(due.unwrap(), Some(date("2026-11-10")));
    }

    #[test]
    fn resuming_after_national_day_moves_a_working_day_deadline_by_the_working_days_only() {
        // Paused on 30 September, resumed on Friday 9 October: 1–7 October
        // are the holiday, so the pause spanned two working days (8, 9).
        let due = resumed_due(
            Some(date("2026-10-20")),
            Some("working"),
            date("2026-09-30"),
            date("2026-10-09"),
            &calendar(),
        );
        assert_eq!(due.unwrap(), Some(date("2026-10-22")));
    }

    #[test]
    fn resuming_the_day_it_paused_or_without_a_deadline_changes_nothing() {
        let calendar = calendar();
        let day = date("2026-11-02");
        let same = resumed_due(
            Some(date("2026-11-20")),
            Some("working"),
            day,
            day,
            &calendar,
        );
        assert_eq!(same.unwrap(), Some(date("2026-11-20")));
        let none = resumed_due(None, Some("working"), day, date("2026-11-09"), &calendar);
        assert_eq!(none.unwrap(), None);
        let no_unit = resumed_due(
            Some(date("2026-11-20")),
            None,
            day,
            date("2026-11-09"),
            &calendar,
        );
        assert_eq!(no_unit.unwrap(), Some(date("2026-11-20")));
    }

    #[test]
    fn an_extension_adds_its_days_in_the_limits_unit() {
        let ninety_natural = limit(90, DayUnit::Natural, 30);
        let (days, due) = extended_limit(
            &ninety_natural,
            date("2026-12-30"),
            0,
            Some(10),
            &calendar(),
        )
        .unwrap();
        assert_eq!((days, due), (10, date("2027-01-09")));
    }

    #[test]
    fn extensions_stop_at_the_flows_total_and_name_what_is_used() {
        let ninety_natural = limit(90, DayUnit::Natural, 30);
        let calendar = calendar();
        // 20 used + 10 = 30: allowed; 20 used + 11: refused.
        assert!(
            extended_limit(&ninety_natural, date("2026-12-01"), 20, Some(10), &calendar).is_ok()
        );
        let refused = extended_limit(&ninety_natural, date("2026-12-01"), 20, Some(11), &calendar)
            .unwrap_err();
        assert!(matches!(refused, WorkflowError::NotAllowed(_)), "{refused}");
        assert!(refused.to_string().contains("20 used"), "{refused}");
    }

    #[test]
    fn an_extension_needs_a_positive_number_of_days() {
        let limit = limit(90, DayUnit::Natural, 30);
        for days in [None, Some(0)] {
            let refused =
                extended_limit(&limit, date("2026-12-01"), 0, days, &calendar()).unwrap_err();
            assert!(matches!(refused, WorkflowError::Invalid(_)), "{refused}");
        }
    }

    // ------------------------------------------------------------------
    // Every action as a function of the case, its flow and the context:
    // a small flow over the demo tree, a case filed at Lujiazui street
    // (Pudong), no database.

    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use crate::FlowCatalog;

    /// 街道受理 (street) → 区级会签 (two district actors, all sign) → 区级决定;
    /// a 90-natural-day limit with 30 days of extension; the street hands a
    /// case up to the district's countersign.
    const SPEC_FLOW: &str = r#"
service = "civil-affairs/spec-case"
name = "规格案件"
name_en = "Specification case"
line = "civil-affairs"
withdraw = true

[limit]
days = 90
unit = "natural"
remind_before = 10
max_extension = 30

[[step]]
id = "accept"
name = "街道受理"
name_en = "Street acceptance"
actors = [{ role = "officer", at = "street" }]
actions = ["approve", "return", "transfer", "pause", "resume", "extend"]
deadline = { days = 5, unit = "working" }
remind_before = 1
transfer_to = "countersign"
next = "countersign"

[[step]]
id = "countersign"
name = "区级会签"
name_en = "District countersign"
actors = [{ role = "officer", at = "district" }, { role = "reviewer", at = "district" }]
rule = "all"
actions = ["approve", "return"]
deadline = { days = 10, unit = "working" }
next = "decide"

[[step]]
id = "decide"
name = "区级决定"
name_en = "District decision"
actors = [{ role = "reviewer", at = "district" }]
actions = ["approve", "return", "reject", "pause", "resume", "extend"]
deadline = { days = 5, unit = "working" }
"#;

    const LUJIAZUI: &str = "310000/310115/310115005";
    const PUDONG: &str = "310000/310115";

    struct Official(Arc<Calendar>);

    impl Calendars for Official {
        fn calendar_for(&self, _: &TenantPath) -> Result<Arc<Calendar>, WorkflowError> {
            Ok(self.0.clone())
        }
    }

    /// The flow, the tree and a calendar: what every test reads.
    struct World {
        flow: Arc<Flow>,
        tree: TenantTree,
        calendars: Official,
        officer: Who,
        reviewer: Who,
        applicant: Who,
    }

    fn world() -> World {
        let tree = civitas_testkit::demo_tree();
        let roles: BTreeSet<String> = ["officer", "reviewer"].map(String::from).into();
        let catalog = FlowCatalog::from_texts(
            vec![(
                PathBuf::from("_services/civil-affairs/spec-case/flow.toml"),
                SPEC_FLOW.to_owned(),
            )],
            &crate::flow::Context {
                tree: &tree,
                roles: &roles,
                module_services: &std::collections::BTreeMap::new(),
            },
        )
        .unwrap();
        let who = |name: &str| Who {
            account: format!("acct-{name}"),
            username: name.to_owned(),
        };
        World {
            flow: catalog
                .variant("civil-affairs/spec-case", "")
                .unwrap()
                .clone(),
            tree,
            calendars: Official(Arc::new(calendar())),
            officer: who("officer"),
            reviewer: who("reviewer"),
            applicant: who("applicant"),
        }
    }

    impl World {
        fn ctx<'a>(&'a self, who: &'a Who, today: &str) -> Ctx<'a> {
            Ctx {
                today: date(today),
                now: 1_000_000,
                who,
                tree: &self.tree,
                calendars: &self.calendars,
            }
        }

        fn step(&self, id: &str) -> &Step {
            self.flow.step(id).unwrap()
        }

        /// A case the applicant filed at Lujiazui on `today`, at the first
        /// step, with its limit running; and its open tasks.
        fn filed(&self, today: &str) -> (Case, Vec<Task>) {
            let ctx = self.ctx(&self.applicant, today);
            let mut case = Case {
                id: "case-1".into(),
                tenant_path: TenantPath::parse(LUJIAZUI).unwrap(),
                line: "civil-affairs".into(),
                service: "civil-affairs/spec-case".into(),
                flow_variant: String::new(),
                title: "规格案件".into(),
                origin: "application".into(),
                state: CaseState::Open,
                step: None,
                version: 1,
                applicant: Some(self.applicant.account.clone()),
                created_by: self.applicant.username.clone(),
                created_by_account: Some(self.applicant.account.clone()),
                data: json!({"name": "王芳"}),
                outcomes: json!({}),
                signed: Vec::new(),
                step_due_on: None,
                step_unit: None,
                limit_due_on: Some(
                    calendar()
                        .add_days(ctx.today, 90, DayUnit::Natural)
                        .unwrap(),
                ),
                limit_unit: Some("natural".into()),
                paused_on: None,
                overdue: false,
                supervised: false,
                created_at: 0,
                updated_at: 0,
            };
            let mut effects = Effects::of(event(&case, &ctx, "submit"));
            enter_step(&self.flow, &mut case, self.flow.first(), &ctx, &mut effects).unwrap();
            (case, open_tasks(&effects))
        }

        /// `case` moved to `step` on `today` (as an approval would), with
        /// its open tasks.
        fn at_step(&self, case: &Case, step: &str, today: &str) -> (Case, Vec<Task>) {
            let ctx = self.ctx(&self.officer, today);
            let mut case = case.clone();
            let mut effects = Effects::of(event(&case, &ctx, "approve"));
            enter_step(&self.flow, &mut case, self.step(step), &ctx, &mut effects).unwrap();
            (case, open_tasks(&effects))
        }
    }

    /// The tasks an effect leaves open, as the engine reads them back.
    fn open_tasks(effects: &Effects) -> Vec<Task> {
        effects
            .tasks
            .iter()
            .flatten()
            .map(|t| Task {
                slot: t.slot,
                actor_tenant: t.actor_tenant.clone(),
                actor_role: t.actor_role.clone(),
                line: t.line.clone(),
            })
            .collect()
    }

    fn request(action: Action) -> ActRequest {
        ActRequest {
            action,
            version: None,
            reason: None,
            to_step: None,
            to_tenant: None,
            days: None,
            data: None,
        }
    }

    fn with_reason(action: Action, reason: &str) -> ActRequest {
        ActRequest {
            reason: Some(reason.into()),
            ..request(action)
        }
    }

    fn kinds(effects: &Effects) -> Vec<&str> {
        let mut kinds: Vec<&str> = effects.new_timers.iter().map(|t| t.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds
    }

    #[test]
    fn filing_enters_the_first_step_with_its_actor_due_date_and_timers() {
        let w = world();
        let ctx = w.ctx(&w.applicant, "2026-11-02");
        let (mut case, _) = w.filed("2026-11-02");
        case.step = None;
        let mut effects = Effects::of(event(&case, &ctx, "submit"));
        enter_step(&w.flow, &mut case, w.flow.first(), &ctx, &mut effects).unwrap();
        assert_eq!(case.step.as_deref(), Some("accept"));
        // Five working days from Monday 2 November.
        assert_eq!(case.step_due_on, Some(date("2026-11-09")));
        assert_eq!(case.step_unit.as_deref(), Some("working"));
        let tasks = effects.tasks.as_ref().unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].actor_tenant.as_str(), LUJIAZUI);
        assert_eq!(tasks[0].actor_role, "officer");
        assert_eq!(tasks[0].due_on, "2026-11-09");
        assert!(effects.clear_step_timers);
        assert!(
            kinds(&effects).contains(&"step.remind"),
            "{:?}",
            kinds(&effects)
        );
        assert!(
            kinds(&effects).contains(&"step.overdue"),
            "{:?}",
            kinds(&effects)
        );
    }

    #[test]
    fn approving_moves_the_case_to_the_next_step_and_its_actors() {
        let w = world();
        let (case, tasks) = w.filed("2026-11-02");
        let ctx = w.ctx(&w.officer, "2026-11-03");
        let step = acting_step(&case, &w.flow, Action::Approve).unwrap();
        assert!(!countersigns(step, tasks.len()));
        let t = approve(&case, &w.flow, step, &tasks[0], &ctx, &HookRun::default()).unwrap();
        assert_eq!(t.case.step.as_deref(), Some("countersign"));
        assert_eq!(t.case.state, CaseState::Open);
        assert_eq!(t.case.step_due_on, Some(date("2026-11-17")));
        assert_eq!(t.effects.event.action, "approve");
        assert_eq!(t.effects.event.step.as_deref(), Some("accept"));
        assert_eq!(t.effects.event.to_step.as_deref(), Some("countersign"));
        assert_eq!(t.effects.event.detail["actor_tenant"], LUJIAZUI);
        let next: Vec<(&str, &str)> = t
            .effects
            .tasks
            .iter()
            .flatten()
            .map(|t| (t.actor_tenant.as_str(), t.actor_role.as_str()))
            .collect();
        assert_eq!(next, [(PUDONG, "officer"), (PUDONG, "reviewer")]);
        // The input is untouched: a transition returns the new case.
        assert_eq!(case.step.as_deref(), Some("accept"));
    }

    #[test]
    fn a_countersign_step_waits_for_every_slot_then_moves_on() {
        let w = world();
        let (case, _) = w.filed("2026-11-02");
        let (case, tasks) = w.at_step(&case, "countersign", "2026-11-03");
        let step = w.step("countersign");
        assert!(countersigns(step, tasks.len()));
        let first = countersign(&case, &tasks[1], &w.ctx(&w.reviewer, "2026-11-04"));
        assert_eq!(first.effects.event.action, "countersign");
        assert_eq!(first.effects.done_slot, Some(1));
        assert_eq!(first.effects.tasks, None, "the other slot stays open");
        assert_eq!(first.case.step.as_deref(), Some("countersign"));
        assert_eq!(
            first.case.signed,
            [Signature {
                slot: 1,
                account: w.reviewer.account.clone()
            }]
        );
        // The last open slot completes the step.
        assert!(!countersigns(step, 1));
        let ctx = w.ctx(&w.officer, "2026-11-05");
        let last = approve(
            &first.case,
            &w.flow,
            step,
            &tasks[0],
            &ctx,
            &HookRun::default(),
        )
        .unwrap();
        assert_eq!(last.case.step.as_deref(), Some("decide"));
        assert!(last.case.signed.is_empty(), "a new step starts unsigned");
    }

    #[test]
    fn approving_the_last_step_closes_the_case_and_settling_clears_its_deadlines() {
        let w = world();
        let (case, _) = w.filed("2026-11-02");
        let (case, tasks) = w.at_step(&case, "decide", "2026-11-10");
        let ctx = w.ctx(&w.reviewer, "2026-11-11");
        let done = approve(
            &case,
            &w.flow,
            w.step("decide"),
            &tasks[0],
            &ctx,
            &HookRun::default(),
        )
        .unwrap();
        assert_eq!(done.case.state, CaseState::Closed);
        assert_eq!(done.case.step, None);
        assert_eq!(done.effects.tasks, Some(Vec::new()));
        assert!(done.effects.clear_all_timers);
        let settled = settle(done, 7, &ctx, &with_reason(Action::Approve, "  材料齐全 "));
        assert_eq!(settled.case.version, 8);
        assert_eq!(settled.case.updated_at, ctx.now);
        assert_eq!(settled.case.limit_due_on, None);
        assert_eq!(settled.effects.event.reason.as_deref(), Some("材料齐全"));
    }

    #[test]
    fn an_ineligible_verdict_refuses_the_case_on_the_modules_record() {
        let w = world();
        let (case, tasks) = w.filed("2026-11-02");
        let answer = Evaluation {
            id: "e1".into(),
            hook: "amount".into(),
            module: "meal-subsidy-pudong".into(),
            version: "1.2.0".into(),
            binding_tenant: Some("310000/310115".into()),
            evaluated_on: date("2026-11-03"),
            input: json!({"birth_date": "1950-01-01"}),
            settings: Arc::default(),
            output: json!({"eligible": false}),
            input_sm3: "aa".into(),
            settings_sm3: "bb".into(),
            output_sm3: "cc".into(),
        };
        let hooks = HookRun {
            rejection: Some("年龄未满 80 周岁".into()),
            evaluations: vec![answer],
            fairness: Vec::new(),
        };
        let ctx = w.ctx(&w.officer, "2026-11-03");
        let t = approve(&case, &w.flow, w.step("accept"), &tasks[0], &ctx, &hooks).unwrap();
        assert_eq!(t.case.state, CaseState::Rejected);
        assert_eq!(t.effects.event.action, "reject");
        assert_eq!(t.effects.event.reason.as_deref(), Some("年龄未满 80 周岁"));
        assert_eq!(
            t.effects.event.module.as_deref(),
            Some("meal-subsidy-pudong")
        );
        assert_eq!(t.effects.event.module_version.as_deref(), Some("1.2.0"));
        // The history entry keeps what the module answered, beside the
        // step's own facts.
        let recorded = json!([{"id": "e1", "hook": "amount", "module": "meal-subsidy-pudong",
            "version": "1.2.0", "binding_tenant": "310000/310115", "evaluated_on": "2026-11-03",
            "input_sm3": "aa", "settings_sm3": "bb", "output_sm3": "cc", "output": {"eligible": false}}]);
        assert_eq!(t.effects.event.detail["evaluations"], recorded);
        // The audit record keeps the digests, never the input or the answer.
        assert_eq!(
            audited_evaluations(&t.effects.event.detail),
            Some(
                json!([{"id": "e1", "hook": "amount", "module": "meal-subsidy-pudong", "version": "1.2.0",
                         "input_sm3": "aa", "settings_sm3": "bb", "output_sm3": "cc"}])
            )
        );
        assert_eq!(t.effects.event.detail["slot"], 0);
        assert!(t.effects.clear_all_timers);
    }

    #[test]
    fn returning_to_the_applicant_needs_a_reason_and_keeps_the_statutory_limit_running() {
        let w = world();
        let (case, _) = w.filed("2026-11-02");
        let (case, tasks) = w.at_step(&case, "decide", "2026-11-10");
        let ctx = w.ctx(&w.reviewer, "2026-11-11");
        let step = w.step("decide");
        let refused = return_to(
            &case,
            &w.flow,
            step,
            &tasks[0],
            &ctx,
            &request(Action::Return),
        )
        .unwrap_err();
        assert!(matches!(refused, WorkflowError::Invalid(_)), "{refused}");
        let blank = with_reason(Action::Return, "   ");
        assert!(return_to(&case, &w.flow, step, &tasks[0], &ctx, &blank).is_err());

        let t = return_to(
            &case,
            &w.flow,
            step,
            &tasks[0],
            &ctx,
            &with_reason(Action::Return, "缺少户籍证明"),
        )
        .unwrap();
        assert_eq!(t.case.state, CaseState::Returned);
        assert_eq!(
            t.case.step.as_deref(),
            Some("accept"),
            "it waits at the first step"
        );
        assert_eq!(t.case.step_due_on, None);
        assert_eq!(t.case.limit_due_on, case.limit_due_on);
        assert_eq!(t.effects.event.to_step.as_deref(), Some("applicant"));
        assert_eq!(t.effects.tasks, Some(Vec::new()));
        assert!(t.effects.clear_step_timers && !t.effects.clear_all_timers);
    }

    #[test]
    fn returning_to_an_earlier_step_enters_it_afresh_and_never_goes_forward() {
        let w = world();
        let (case, _) = w.filed("2026-11-02");
        let (case, tasks) = w.at_step(&case, "countersign", "2026-11-03");
        let signed = countersign(&case, &tasks[0], &w.ctx(&w.officer, "2026-11-04")).case;
        let ctx = w.ctx(&w.reviewer, "2026-11-05");
        let step = w.step("countersign");
        let back = ActRequest {
            to_step: Some("accept".into()),
            ..with_reason(Action::Return, "受理意见不完整")
        };
        let t = return_to(&signed, &w.flow, step, &tasks[1], &ctx, &back).unwrap();
        assert_eq!(t.case.state, CaseState::Open);
        assert_eq!(t.case.step.as_deref(), Some("accept"));
        assert!(
            t.case.signed.is_empty(),
            "the countersign starts over next time"
        );
        // Five working days from Thursday 5 November.
        assert_eq!(t.case.step_due_on, Some(date("2026-11-12")));
        assert_eq!(t.effects.event.to_step.as_deref(), Some("accept"));
        for target in ["countersign", "decide", "no-such-step"] {
            let forward = ActRequest {
                to_step: Some(target.into()),
                ..with_reason(Action::Return, "x")
            };
            let refused = return_to(&signed, &w.flow, step, &tasks[1], &ctx, &forward).unwrap_err();
            assert!(
                matches!(refused, WorkflowError::Invalid(_)),
                "{target}: {refused}"
            );
        }
    }

    #[test]
    fn only_the_owner_resubmits_a_returned_case_and_it_goes_back_where_it_was() {
        let w = world();
        let (case, tasks) = w.filed("2026-11-02");
        let ctx = w.ctx(&w.officer, "2026-11-03");
        let returned = return_to(
            &case,
            &w.flow,
            w.step("accept"),
            &tasks[0],
            &ctx,
            &with_reason(Action::Return, "补充材料"),
        )
        .unwrap()
        .case;
        let corrected = json!({"name": "王芳", "hukou": "浦东"});
        let officer = resubmission(&returned, &ctx, Some(&corrected)).unwrap_err();
        assert!(
            matches!(officer, WorkflowError::NotYourCase(_)),
            "{officer}"
        );
        let own = w.ctx(&w.applicant, "2026-11-04");
        let not_object = resubmission(&returned, &own, Some(&json!([1]))).unwrap_err();
        assert!(
            matches!(not_object, WorkflowError::Invalid(_)),
            "{not_object}"
        );
        let open = resubmission(&case, &own, None).unwrap_err();
        assert!(matches!(open, WorkflowError::NotAllowed(_)), "{open}");

        let planned = resubmission(&returned, &own, Some(&corrected)).unwrap();
        assert_eq!(planned.data, corrected);
        let t = resubmit(&planned, &w.flow, &own, &HookRun::default()).unwrap();
        assert_eq!(t.case.state, CaseState::Open);
        assert_eq!(t.case.step.as_deref(), Some("accept"));
        assert_eq!(t.case.step_due_on, Some(date("2026-11-11")));
        let refused = HookRun {
            rejection: Some("不符合条件".into()),
            ..HookRun::default()
        };
        let t = resubmit(&planned, &w.flow, &own, &refused).unwrap();
        assert_eq!(t.case.state, CaseState::Rejected);
    }

    #[test]
    fn the_applicant_withdraws_only_before_review_begins() {
        let w = world();
        let (case, _) = w.filed("2026-11-02");
        let ctx = w.ctx(&w.applicant, "2026-11-03");
        let reason = with_reason(Action::Withdraw, "不再需要");
        let t = withdraw(&case, &w.flow, &ctx, true, &reason).unwrap();
        assert_eq!(t.case.state, CaseState::Withdrawn);
        assert!(t.effects.clear_all_timers);
        let someone_else = withdraw(&case, &w.flow, &ctx, false, &reason).unwrap_err();
        assert!(matches!(someone_else, WorkflowError::NotYourCase(_)));
        let (reviewing, _) = w.at_step(&case, "countersign", "2026-11-03");
        let late = withdraw(&reviewing, &w.flow, &ctx, true, &reason).unwrap_err();
        assert!(matches!(late, WorkflowError::NotAllowed(_)), "{late}");
        let mut supervised = case.clone();
        supervised.supervised = true;
        assert!(withdraw(&supervised, &w.flow, &ctx, true, &reason).is_err());
    }

    #[test]
    fn a_street_transfers_a_case_up_to_its_district_but_never_sideways_or_out_of_its_city() {
        let w = world();
        let (case, tasks) = w.filed("2026-11-02");
        let ctx = w.ctx(&w.officer, "2026-11-03");
        let step = w.step("accept");
        let to = |tenant: &str| ActRequest {
            to_tenant: Some(tenant.into()),
            ..with_reason(Action::Transfer, "不属本街道管辖")
        };
        let t = transfer(&case, &w.flow, step, &tasks[0], &ctx, &to(PUDONG)).unwrap();
        assert_eq!(t.case.tenant_path.as_str(), PUDONG);
        assert_eq!(
            t.case.step.as_deref(),
            Some("countersign"),
            "lands on transfer_to"
        );
        assert_eq!(
            t.effects.moved_within.as_ref().map(|r| r.as_str()),
            Some("310000")
        );
        assert_eq!(t.effects.event.detail["from_tenant"], LUJIAZUI);
        assert_eq!(t.effects.event.detail["to_tenant"], PUDONG);

        let sideways = transfer(
            &case,
            &w.flow,
            step,
            &tasks[0],
            &ctx,
            &to("310000/310115/310115016"),
        )
        .unwrap_err();
        assert!(
            matches!(sideways, WorkflowError::TransferTargetNotAllowed(_)),
            "{sideways}"
        );
        // Up to the city, the landing step's district reviewers would have
        // no seat: nobody could act on it.
        let nobody = transfer(&case, &w.flow, step, &tasks[0], &ctx, &to("310000")).unwrap_err();
        assert!(
            matches!(nobody, WorkflowError::TransferTargetNotAllowed(_)),
            "{nobody}"
        );
        for refused in [LUJIAZUI, "510000", "no-such-tenant"] {
            let error = transfer(&case, &w.flow, step, &tasks[0], &ctx, &to(refused)).unwrap_err();
            assert!(
                matches!(error, WorkflowError::Invalid(_)),
                "{refused}: {error}"
            );
        }
        let no_target = with_reason(Action::Transfer, "x");
        assert!(transfer(&case, &w.flow, step, &tasks[0], &ctx, &no_target).is_err());
    }

    #[test]
    fn pausing_stops_every_timer_and_resuming_moves_the_deadlines_by_the_days_paused() {
        let w = world();
        let (case, tasks) = w.filed("2026-11-02");
        let step = w.step("accept");
        let paused = pause(
            &case,
            &tasks[0],
            &w.ctx(&w.officer, "2026-11-03"),
            &with_reason(Action::Pause, "等待鉴定结论"),
        )
        .unwrap();
        assert_eq!(paused.case.state, CaseState::Paused);
        assert_eq!(paused.case.paused_on, Some(date("2026-11-03")));
        assert!(paused.effects.clear_all_timers && paused.effects.new_timers.is_empty());
        // Paused, the case takes only resume (and extend).
        assert!(acting_step(&paused.case, &w.flow, Action::Approve).is_err());
        assert!(acting_step(&case, &w.flow, Action::Resume).is_err());

        // Resumed a week later (Tuesday to Tuesday): five working days and
        // seven natural days were spent paused.
        let ctx = w.ctx(&w.officer, "2026-11-10");
        let step_now = acting_step(&paused.case, &w.flow, Action::Resume).unwrap();
        assert_eq!(step_now.id, step.id);
        let t = resume(&paused.case, &w.flow, step, &tasks[0], &ctx).unwrap();
        assert_eq!(t.case.state, CaseState::Open);
        assert_eq!(t.case.paused_on, None);
        assert_eq!(t.case.step_due_on, Some(date("2026-11-16")));
        assert_eq!(
            t.case.limit_due_on,
            Some(case.limit_due_on.unwrap() + chrono::Days::new(7))
        );
        assert_eq!(t.effects.event.detail["paused_days"], 7);
        assert_eq!(t.effects.tasks.as_ref().unwrap()[0].due_on, "2026-11-16");
        assert!(
            kinds(&t.effects).contains(&"limit.overdue"),
            "{:?}",
            kinds(&t.effects)
        );
        assert!(
            kinds(&t.effects).contains(&"step.overdue"),
            "{:?}",
            kinds(&t.effects)
        );
    }

    #[test]
    fn an_extension_moves_the_limit_within_the_flows_total_and_rearms_an_open_case() {
        let w = world();
        let (case, tasks) = w.filed("2026-11-02");
        let step = w.step("accept");
        let ctx = w.ctx(&w.officer, "2026-11-03");
        let ten = ActRequest {
            days: Some(10),
            ..with_reason(Action::Extend, "案情复杂")
        };
        let t = extend(&case, &w.flow, step, &tasks[0], &ctx, &ten, 0).unwrap();
        assert_eq!(
            t.case.limit_due_on,
            Some(case.limit_due_on.unwrap() + chrono::Days::new(10))
        );
        assert_eq!(t.effects.event.detail["days"], 10);
        assert!(kinds(&t.effects).contains(&"limit.overdue"));
        let over = extend(&case, &w.flow, step, &tasks[0], &ctx, &ten, 25).unwrap_err();
        assert!(matches!(over, WorkflowError::NotAllowed(_)), "{over}");

        // A paused case's timers wait for resume.
        let paused = pause(&case, &tasks[0], &ctx, &with_reason(Action::Pause, "x")).unwrap();
        let t = extend(&paused.case, &w.flow, step, &tasks[0], &ctx, &ten, 0).unwrap();
        assert!(t.effects.new_timers.is_empty() && t.effects.tasks.is_none());
    }

    #[test]
    fn a_step_takes_only_its_own_actions_and_a_finished_case_none() {
        let w = world();
        let (case, _) = w.filed("2026-11-02");
        let reject = acting_step(&case, &w.flow, Action::Reject).unwrap_err();
        assert!(matches!(reject, WorkflowError::NotAllowed(_)), "{reject}");
        assert!(acting_step(&case, &w.flow, Action::Withdraw).is_err());
        let mut closed = case.clone();
        closed.state = CaseState::Closed;
        for action in [Action::Approve, Action::Return, Action::Pause] {
            assert!(acting_step(&closed, &w.flow, action).is_err());
        }
        let ctx = w.ctx(&w.applicant, "2026-11-03");
        assert!(
            withdraw(
                &closed,
                &w.flow,
                &ctx,
                true,
                &with_reason(Action::Withdraw, "x")
            )
            .is_err()
        );
        let mut gone = case.clone();
        gone.step = Some("retired-step".into());
        let error = acting_step(&gone, &w.flow, Action::Approve).unwrap_err();
        assert!(matches!(error, WorkflowError::Invalid(_)), "{error}");
    }

    #[test]
    fn the_fairness_guard_keeps_the_submitted_value_and_warns_when_a_later_answer_differs() {
        // The first guarded answer: what was submitted, no warning.
        let (first, warning) = guard(
            &json!({}),
            "priority",
            "score",
            &json!({"score": 58}),
            "in-1",
            true,
        );
        assert_eq!(
            first,
            json!({"field": "score", "submitted": 58, "value": 58, "seq": 1, "input_sm3": "in-1"})
        );
        assert_eq!(warning, None);
        let outcomes = json!({"priority": {"output": {"score": 58}, "guard": first}});
        // The same score at admission: no warning.
        let (same, warning) = guard(
            &outcomes,
            "admission",
            "score",
            &json!({"score": 58}),
            "in-1",
            false,
        );
        assert_eq!(
            (same["submitted"].clone(), same["seq"].clone()),
            (json!(58), json!(2))
        );
        assert_eq!(warning, None);
        // A different one (the district changed its points): the warning
        // names the hook, both values, and the submitted value stays.
        let (changed, warning) = guard(
            &outcomes,
            "admission",
            "score",
            &json!({"score": 70}),
            "in-1",
            false,
        );
        assert_eq!(
            (changed["submitted"].clone(), changed["value"].clone()),
            (json!(58), json!(70))
        );
        assert_eq!(
            warning,
            Some(json!({"hook": "admission", "field": "score", "submitted": 58, "value": 70}))
        );
        // Another field is guarded on its own.
        let (other, warning) = guard(
            &outcomes,
            "admission",
            "rank",
            &json!({"rank": 3}),
            "in-1",
            false,
        );
        assert_eq!(other["submitted"], 3);
        assert_eq!(warning, None);
    }

    #[test]
    fn a_resubmission_of_corrected_facts_is_the_new_submission_the_guard_holds_later_answers_to() {
        let outcomes = json!({
            "priority": {"guard": {"field": "score", "submitted": 58, "value": 58, "seq": 1, "input_sm3": "in-1"}},
            "admission": {"guard": {"field": "score", "submitted": 58, "value": 70, "seq": 2, "input_sm3": "in-1"}},
        });
        // Returned and resubmitted with other facts: a new baseline, no warning.
        let (again, warning) = guard(
            &outcomes,
            "priority",
            "score",
            &json!({"score": 40}),
            "in-2",
            true,
        );
        assert_eq!(
            again,
            json!({"field": "score", "submitted": 40, "value": 40, "seq": 3, "input_sm3": "in-2"})
        );
        assert_eq!(warning, None);
        // A later answer is held to the resubmitted value, not the first.
        let outcomes = json!({
            "priority": {"guard": again},
            "admission": {"guard": {"field": "score", "submitted": 58, "value": 70, "seq": 2, "input_sm3": "in-1"}},
        });
        let (held, warning) = guard(
            &outcomes,
            "admission",
            "score",
            &json!({"score": 40}),
            "in-2",
            false,
        );
        assert_eq!(
            (held["submitted"].clone(), held["seq"].clone()),
            (json!(40), json!(4))
        );
        assert_eq!(warning, None);
    }

    #[test]
    fn a_resubmission_of_the_same_facts_does_not_clear_a_warning() {
        let outcomes = json!({
            "priority": {"guard": {"field": "score", "submitted": 58, "value": 58, "seq": 1, "input_sm3": "in-1"}},
            "admission": {"guard": {"field": "score", "submitted": 58, "value": 70, "seq": 2, "input_sm3": "in-1"}},
        });
        // Returned and resubmitted unchanged after the points changed: still 58 submitted.
        let (again, warning) = guard(
            &outcomes,
            "priority",
            "score",
            &json!({"score": 70}),
            "in-1",
            true,
        );
        assert_eq!(
            (again["submitted"].clone(), again["value"].clone()),
            (json!(58), json!(70))
        );
        assert!(warning.is_some());
    }
}
