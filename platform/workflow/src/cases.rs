//! The engine: creates cases and applies actions. It loads a case,
//! authorizes the caller through its decider, runs module hooks (plan →
//! hook → apply), calls the pure transition (`transitions.rs`) and writes
//! the result in one transaction guarded by the case's version.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::NaiveDate;
use civitas_calendar::{Calendar, DayUnit};
use civitas_storage::{Database, TenantScope, TenantTx};
use civitas_tenancy::{SharedTree, TenantPath, TenantTree};
#[cfg(feature = "modules")]
use serde_json::Value;
use serde_json::json;

use crate::flow::{Flow, FlowCatalog, HookPoint, Place, Step, StepAction};
use crate::model::{
    ActRequest, Action, Case, CaseEvent, CaseFilter, CaseState, HistoryPage, NewCase, Origin,
    Viewer, Who, at_most,
};
use crate::stats::{self, Counts};
use crate::store::{self, Bind, text};
use crate::timers;
use crate::transitions::{self, Calendars, Ctx, Effects, HookRun, Task, Transition};
use crate::{WorkflowError, local_days};

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
    pub(crate) modules: Option<Arc<crate::ModuleRuntime>>,
    clock: crate::Clock,
}

/// Each tenant's calendar, and the tree snapshot they were computed from.
type LocalCalendars = (Arc<TenantTree>, HashMap<TenantPath, Arc<Calendar>>);

impl std::fmt::Debug for Workflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workflow").finish_non_exhaustive()
    }
}

/// What an action read, and its plan.
struct Reading {
    /// The case as read.
    case: Case,
    /// How many of its current step's slots are open.
    open_tasks: usize,
    /// Statutory-limit days earlier extensions added.
    extended: i64,
    /// The flow it follows.
    flow: Arc<Flow>,
    /// What hooks run on (the case, or the corrected resubmission).
    planned: Case,
    /// The caller's task, for a step action.
    task: Option<Task>,
    /// Where hooks run, if any do.
    point: Option<HookPoint>,
}

/// Rolls `tx` back and gives `error` back: a transaction that may hold the
/// case row lets go of it now. A rollback that fails too leaves the
/// connection to the pool, which discards it; the action's own error is
/// what the caller needs.
async fn abandon(tx: TenantTx, error: WorkflowError) -> WorkflowError {
    // The first error is the one to report.
    let _ = tx.rollback().await;
    error
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
        transitions::place(&self.tree.current(), place, tenant)
    }

    /// The context of a transition by `who`, now on the engine's clock.
    fn ctx<'a>(&'a self, who: &'a Who, tree: &'a TenantTree) -> Ctx<'a> {
        Ctx {
            today: self.clock.today_in_china(),
            now: self.clock.now_micros(),
            who,
            tree,
            calendars: self,
        }
    }

    /// Runs the hooks at `point` (their outputs go to `case.outcomes`): a
    /// rejection reason if a hook's `reject_unless` field is false, and
    /// each hook's decision as made (input, settings, date, answer).
    #[cfg_attr(not(feature = "modules"), allow(unused_variables))]
    async fn run_hooks(
        &self,
        db: &Database,
        scope: &TenantScope,
        flow: &Flow,
        case: &mut Case,
        point: &HookPoint,
        today: NaiveDate,
    ) -> Result<HookRun, WorkflowError> {
        let hooks: Vec<_> = flow.hooks.iter().filter(|h| &h.on == point).collect();
        if hooks.is_empty() {
            return Ok(HookRun::default());
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
            let mut evaluations = Vec::new();
            let mut fairness = Vec::new();
            // Every hook here is given the same data: digested once.
            let input_sm3 = civitas_registry::input_digest(&case.data);
            for hook in hooks {
                let mut tx = db.begin_read(scope).await?;
                let prepared = runtime
                    .prepare(&mut tx, &case.tenant_path, &hook.service, Some(&case.id))
                    .await?;
                tx.rollback().await?;
                let host_today = civitas_host::Date::parse(&today.to_string())
                    .ok_or_else(|| WorkflowError::Invalid(format!("bad date {today}")))?;
                let settings = Arc::new(self.tree.current().effective_settings(&case.tenant_path));
                let outcome = runtime
                    .run(
                        &prepared,
                        civitas_registry::EvaluationRequest {
                            input: &case.data,
                            settings: settings.clone(),
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
                evaluations.push(transitions::Evaluation {
                    id: uuid::Uuid::new_v4().to_string(),
                    hook: hook.name.clone(),
                    module: outcome.module.clone(),
                    version: outcome.version.clone(),
                    binding_tenant: outcome.binding_tenant.clone(),
                    evaluated_on: today,
                    input_sm3: input_sm3.clone(),
                    settings_sm3: civitas_registry::input_digest(&*settings),
                    output_sm3: civitas_registry::input_digest(&outcome.output),
                    input: case.data.clone(),
                    settings,
                    output: outcome.output.clone(),
                });
                let mut kept = json!({
                    "output": outcome.output,
                    "module": outcome.module,
                    "version": outcome.version,
                    "binding_tenant": outcome.binding_tenant,
                    "evaluated_on": today,
                });
                if let Some(field) = &hook.guard {
                    let (guard, warning) = transitions::guard(
                        &case.outcomes,
                        &hook.name,
                        field,
                        &outcome.output,
                        &input_sm3,
                        *point == HookPoint::Submit,
                    );
                    kept["guard"] = guard;
                    if let Some(warning) = warning {
                        fairness.push(warning);
                    }
                }
                if let Value::Object(map) = &mut case.outcomes {
                    map.insert(hook.name.clone(), kept);
                }
            }
            Ok(HookRun {
                rejection,
                evaluations,
                fairness,
            })
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
        let ctx = self.ctx(who, &tree);
        let (today, now) = (ctx.today, ctx.now);
        let mut case = Case {
            id: new
                .id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
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
                Origin::Entitlement => "entitlement".into(),
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
        let hooks = self
            .run_hooks(db, scope, &flow, &mut case, &HookPoint::Submit, today)
            .await?;
        let mut effects = Effects::of(CaseEvent {
            action: "submit".into(),
            detail: json!({"flow_variant": case.flow_variant, "origin": case.origin}),
            ..transitions::event(&case, &ctx, "submit")
        });
        hooks.record(&mut effects.event);
        effects.filing = true;
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
        match hooks.rejection {
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
                transitions::enter_step(&flow, &mut case, &first, &ctx, &mut effects)?;
                effects.event.to_step = Some(first.id.clone());
            }
        }
        let mut tx = db.begin(scope).await?;
        store::insert_case(tx.connection(), &case).await?;
        store::insert_evaluations(tx.connection(), &case, &hooks.evaluations, now).await?;
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

    /// Records `action` on `case` in the audit chain, in `tx`.
    pub(crate) async fn audit(
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
                detail: {
                    let mut detail = json!({
                        "service": case.service,
                        "step": event.step,
                        "to_step": event.to_step,
                        "state": case.state.as_str(),
                        "version": case.version,
                        "reason": event.reason,
                        "module": event.module,
                        "module_version": event.module_version,
                        "evaluations": transitions::audited_evaluations(&event.detail),
                    });
                    // The fairness guard's warnings, when there are any.
                    if let Some(fairness) = event.detail.get("fairness") {
                        detail["fairness"] = fairness.clone();
                    }
                    detail
                },
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
        if effects.moved_within.is_some() {
            for table in [
                "case_events",
                "case_attachments",
                "case_timers",
                "notifications",
                "case_evaluations",
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
            // A case being filed has none to replace: a round trip saved
            // on every submission.
            if !effects.filing {
                store::execute(
                    tx.connection(),
                    "DELETE FROM case_tasks WHERE case_id = $1",
                    &[Some(text(&case.id))],
                )
                .await?;
            }
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
        if effects.filing {
            // Nothing armed yet.
        } else if effects.clear_all_timers {
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
            // Never empty (the API builds it from lines it authorized);
            // an empty list would be `line IN ()`, so it reads nothing.
            Viewer::Lines { lines } if lines.is_empty() => "FALSE".to_owned(),
            Viewer::Lines { lines } => {
                let mut placeholders = Vec::with_capacity(lines.len());
                for line in lines {
                    binds.push(text(line));
                    placeholders.push(format!("${}", binds.len()));
                }
                format!("line IN ({})", placeholders.join(", "))
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
        Self::find(tx, viewer, id, "").await
    }

    /// [`Workflow::get`] that also holds the case row until the transaction
    /// ends (PostgreSQL; SQLite's write transaction already excludes every
    /// other writer): what acting reads, so that it starts after every
    /// other writer of the case and reads what they wrote.
    async fn get_held(tx: &mut TenantTx, viewer: &Viewer, id: &str) -> Result<Case, WorkflowError> {
        let lock = tx.backend().lock_for_update();
        Self::find(tx, viewer, id, lock).await
    }

    async fn find(
        tx: &mut TenantTx,
        viewer: &Viewer,
        id: &str,
        lock: &str,
    ) -> Result<Case, WorkflowError> {
        let (lower, upper) = tx.scope().path().subtree_range();
        let mut binds = vec![text(id), text(lower), text(upper)];
        let who = Self::viewer_clause(viewer, &mut binds);
        let found = store::select_cases(
            tx.connection(),
            &format!("id = $1 AND tenant_path >= $2 AND tenant_path < $3 AND {who}{lock}"),
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
        let (clauses, binds) = Self::list_where(tx, viewer, filter);
        let sql = format!(
            "{clauses} ORDER BY created_at DESC, id DESC LIMIT {}",
            filter.limit.clamp(1, 200)
        );
        store::select_cases(tx.connection(), &sql, &binds).await
    }

    /// Every case [`Workflow::list`] would give `viewer` page after page
    /// for `filter` (its `limit` ignored), in the same order, handed to
    /// `each` one at a time as the database sends them — one query whose
    /// rows are sorted once, where reading a large subtree a page at a
    /// time sorts it again for every page. `each` answers whether to go
    /// on. The number of cases handed over.
    pub async fn each_case(
        &self,
        tx: &mut TenantTx,
        viewer: &Viewer,
        filter: &CaseFilter,
        each: &mut (dyn FnMut(Case) -> bool + Send),
    ) -> Result<u64, WorkflowError> {
        let (clauses, binds) = Self::list_where(tx, viewer, filter);
        let sql = format!("{clauses} ORDER BY created_at DESC, id DESC");
        store::each_case(tx.connection(), &sql, &binds, each).await
    }

    /// The conditions of a list: the scope's subtree, what `viewer` sees,
    /// `filter`'s service, state, overdue and `before`.
    fn list_where(tx: &TenantTx, viewer: &Viewer, filter: &CaseFilter) -> (String, Vec<Bind>) {
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
        (clauses.join(" AND "), binds)
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

    /// Applies `request` to the case `id`, read in `read_scope` as `viewer`.
    ///
    /// A step action needs an open actor slot of the current step that
    /// `authorize(actor tenant, line, role)` grants the caller; the
    /// applicant's own actions (withdraw, resubmit) need the applicant (or
    /// the creator). The transition is written in `read_scope`, which
    /// covers the case (it was read there and stays where it is), except a
    /// transfer, which moves it and is written at the common root. It is
    /// written only if the case is still at the version read: otherwise
    /// [`WorkflowError::Conflict`], and nothing is written.
    ///
    /// An action that runs no module hook reads, decides and writes in one
    /// transaction. One that does (completing a step with approve hooks,
    /// resubmitting with submit hooks) reads, runs the hooks outside any
    /// transaction, and writes in a second, guarded by the version read.
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
        transitions::check_reason(&request)?;
        let transfer = request.action == Action::Transfer;
        let tree = self.tree.current();
        let ctx = self.ctx(who, &tree);
        let mut tx = if transfer {
            db.begin_read(read_scope).await?
        } else {
            db.begin(read_scope).await?
        };
        // Every way out of a transaction that may hold the case row rolls it
        // back there and then: a dropped one lets go only when its pooled
        // connection is next used, and the next action on the case waits.
        let reading = match self
            .read_to_act(&mut tx, viewer, &ctx, id, &request, &authorize, !transfer)
            .await
        {
            Ok(reading) => reading,
            Err(error) => return Err(abandon(tx, error).await),
        };
        let Reading {
            case,
            open_tasks,
            extended,
            flow,
            mut planned,
            task,
            point,
        } = reading;
        let mut open = Some(tx);
        let hooks = match point {
            Some(point) => {
                // Hook: module calls run outside any transaction.
                if let Some(tx) = open.take() {
                    tx.rollback().await?;
                }
                self.run_hooks(db, read_scope, &flow, &mut planned, &point, ctx.today)
                    .await?
            }
            None => HookRun::default(),
        };
        // Apply.
        let transition = match Self::decide(
            &planned,
            &flow,
            task.as_ref(),
            open_tasks,
            viewer,
            &ctx,
            &request,
            &hooks,
            extended,
        ) {
            Ok(transition) => transition,
            Err(error) => {
                return Err(match open {
                    Some(tx) => abandon(tx, error).await,
                    None => error,
                });
            }
        };
        let mut tx = match (&transition.effects.moved_within, open) {
            (None, Some(tx)) => tx,
            (None, None) => {
                let mut tx = db.begin(read_scope).await?;
                if let Err(error) = Self::hold(&mut tx, id).await {
                    return Err(abandon(tx, error).await);
                }
                tx
            }
            (Some(root), open) => {
                if let Some(tx) = open {
                    tx.rollback().await?;
                }
                db.begin(&TenantScope::for_platform_task(root.clone()))
                    .await?
            }
        };
        if let Err(error) =
            store::insert_evaluations(tx.connection(), &case, &hooks.evaluations, ctx.now).await
        {
            return Err(abandon(tx, error).await);
        }
        match self
            .write_action(&mut tx, &case, transition, &ctx, &request)
            .await
        {
            Ok(changed) => {
                tx.commit().await?;
                Ok(changed)
            }
            Err(error) => Err(abandon(tx, error).await),
        }
    }

    /// The read of an action, in `tx`: the case row held first when
    /// `hold` (a transaction that will write), the case as `viewer` sees it
    /// at the version the caller saw, its open tasks, the extension days
    /// used, and the plan: what hooks (if any) run on, the caller's task as
    /// the decider chose it, and where hooks run.
    #[allow(clippy::too_many_arguments)]
    async fn read_to_act<E>(
        &self,
        tx: &mut TenantTx,
        viewer: &Viewer,
        ctx: &Ctx<'_>,
        id: &str,
        request: &ActRequest,
        authorize: &impl Fn(&TenantPath, &str, &str) -> Result<TenantScope, E>,
        hold: bool,
    ) -> Result<Reading, WorkflowError> {
        // Held: the row is locked by the read itself (one round trip).
        let case = if hold {
            Self::get_held(tx, viewer, id).await?
        } else {
            self.get(tx, viewer, id).await?
        };
        if let Some(expected) = request.version
            && expected != case.version
        {
            return Err(WorkflowError::Conflict {
                current: case.version,
            });
        }
        let tasks = store::tasks(tx.connection(), &case.id).await?;
        let extended = if request.action == Action::Extend {
            transitions::extension_days_used(
                &store::events_of(tx.connection(), &case.id, "extend").await?,
            )
        } else {
            0
        };
        let flow = self.flow_of(&case)?.clone();
        // Plan: what the hooks, if any, run on.
        let planned = match request.action {
            Action::Resubmit => transitions::resubmission(&case, ctx, request.data.as_ref())?,
            _ => case.clone(),
        };
        // The decider first: nobody runs a module on a case they may not act on.
        let task = match request.action {
            Action::Withdraw | Action::Resubmit => None,
            action => {
                let step = transitions::acting_step(&case, &flow, action)?;
                Some(Self::choose_task(&case, step, &tasks, ctx.who, authorize)?)
            }
        };
        let point = Self::hook_point(&case, &flow, &tasks, request)?;
        Ok(Reading {
            case,
            open_tasks: tasks.len(),
            extended,
            flow,
            planned,
            task,
            point,
        })
    }

    /// The write of an action, in `tx`: the case row guarded by the
    /// version `read` had, the rest of the transition, the dashboard counts
    /// of a case that finished, and the audit record. A version that moved
    /// on is [`WorkflowError::Conflict`] (the caller rolls back).
    async fn write_action(
        &self,
        tx: &mut TenantTx,
        read: &Case,
        transition: Transition,
        ctx: &Ctx<'_>,
        request: &ActRequest,
    ) -> Result<Case, WorkflowError> {
        let Transition {
            case: mut changed,
            effects,
        } = transitions::settle(transition, read.version, ctx, request);
        // A timer may have flagged the case since it was read (timers do
        // not change the version): a flag this action did not change, on
        // the same step, keeps what is in the row now.
        let keep = store::KeepFlags {
            overdue: changed.step == read.step && changed.overdue == read.overdue,
            supervised: changed.step == read.step && changed.supervised == read.supervised,
        };
        // PostgreSQL writes it all in one statement; SQLite (and a
        // transfer, which moves the case's rows) one at a time.
        let one_statement =
            tx.backend() == civitas_storage::Backend::Postgres && effects.moved_within.is_none();
        let written = if one_statement {
            store::write_transition(tx.connection(), &changed, read.version, keep, &effects).await?
        } else {
            let written = store::update_case(tx.connection(), &changed, read.version, keep).await?;
            if written.is_some() {
                self.write_effects(tx, &changed, &effects).await?;
            }
            written
        };
        let Some((overdue, supervised)) = written else {
            let current = store::select_cases(tx.connection(), "id = $1", &[text(&read.id)])
                .await?
                .first()
                .map(|c| c.version)
                .unwrap_or(read.version);
            return Err(WorkflowError::Conflict { current });
        };
        changed.overdue = overdue;
        changed.supervised = supervised;
        if changed.state.is_final() && !read.state.is_final() {
            // A processing time the calendar cannot measure (a year it does
            // not cover) leaves the case untimed; it never stops the change.
            let days = stats::filing_date(changed.created_at).and_then(|filed| {
                self.calendar_for(&changed.tenant_path)
                    .ok()?
                    .days_between(filed, ctx.today, DayUnit::Working)
                    .ok()
            });
            if let Some(done) = Counts::finished(read.state, changed.state, days) {
                stats::add(tx.connection(), &changed, &done).await?;
            }
        }
        let audit_action = format!("case.{}", effects.event.action);
        self.audit(tx, &changed, &audit_action, &effects.event)
            .await?;
        Ok(changed)
    }

    /// Holds the case row until `tx` ends, before anything of the case is
    /// read or written in it: the write transaction that follows a module
    /// hook (an action without hooks holds the row with its first read,
    /// [`Workflow::get_held`]). A case's history is appended by one
    /// transaction at a time, each numbering its entry after the last; on
    /// PostgreSQL the one-statement write reads that number in the
    /// snapshot it starts with, so the row must be held before it starts
    /// (an attachment committed while it waited would otherwise take the
    /// same number). A case `tx` cannot see is left to the read to refuse.
    async fn hold(tx: &mut TenantTx, id: &str) -> Result<(), WorkflowError> {
        let backend = tx.backend();
        store::lock_case(tx.connection(), backend, id, store::IfLocked::Wait).await?;
        Ok(())
    }

    /// Where `request` runs module hooks, if it does: resubmitting (the
    /// flow's submit hooks) and approving the last open slot of a step
    /// (its approve hooks). Checks that a step action may be taken at all,
    /// so an action refused is refused before any hook runs.
    fn hook_point(
        case: &Case,
        flow: &Flow,
        tasks: &[Task],
        request: &ActRequest,
    ) -> Result<Option<HookPoint>, WorkflowError> {
        let point = match request.action {
            Action::Resubmit => HookPoint::Submit,
            Action::Withdraw => return Ok(None),
            action => {
                let step = transitions::acting_step(case, flow, action)?;
                if action != Action::Approve || transitions::countersigns(step, tasks.len()) {
                    return Ok(None);
                }
                HookPoint::Approve(step.id.clone())
            }
        };
        Ok(flow.hooks.iter().any(|h| h.on == point).then_some(point))
    }

    /// The transition `request` makes of `case`, by the actor of `task`
    /// (for a step action; `open_tasks` of the step are open) with the
    /// hooks' verdict, after any ran.
    #[allow(clippy::too_many_arguments)]
    fn decide(
        case: &Case,
        flow: &Flow,
        task: Option<&Task>,
        open_tasks: usize,
        viewer: &Viewer,
        ctx: &Ctx<'_>,
        request: &ActRequest,
        hooks: &HookRun,
        extended: i64,
    ) -> Result<Transition, WorkflowError> {
        let who = ctx.who;
        Ok(match (request.action, task) {
            (Action::Withdraw, _) => {
                // The actor, not only the view: the applicant's own account.
                let by_applicant = matches!(viewer, Viewer::Applicant { .. })
                    && case.applicant.as_deref() == Some(who.account.as_str());
                transitions::withdraw(case, flow, ctx, by_applicant, request)?
            }
            (Action::Resubmit, _) => transitions::resubmit(case, flow, ctx, hooks)?,
            (action, Some(task)) => {
                let step = transitions::acting_step(case, flow, action)?;
                match action {
                    Action::Approve if transitions::countersigns(step, open_tasks) => {
                        transitions::countersign(case, task, ctx)
                    }
                    Action::Approve => transitions::approve(case, flow, step, task, ctx, hooks)?,
                    Action::Return => transitions::return_to(case, flow, step, task, ctx, request)?,
                    Action::Reject => transitions::reject(case, task, ctx, request)?,
                    Action::Transfer => {
                        transitions::transfer(case, flow, step, task, ctx, request)?
                    }
                    Action::Pause => transitions::pause(case, task, ctx, request)?,
                    Action::Resume => transitions::resume(case, flow, step, task, ctx)?,
                    Action::Extend => {
                        transitions::extend(case, flow, step, task, ctx, request, extended)?
                    }
                    Action::Withdraw | Action::Resubmit => {
                        return Err(WorkflowError::Invalid("unknown action".into()));
                    }
                }
            }
            (_, None) => {
                return Err(WorkflowError::Invalid(
                    "步骤操作需要办理人 / a step action needs its actor's task".into(),
                ));
            }
        })
    }

    /// The decider's part of a step action: the first open slot of `step`
    /// that `authorize(actor tenant, line, role)` grants `who`; none for an
    /// actor who already signed this step (one person fills one slot of a
    /// countersign).
    fn choose_task<E>(
        case: &Case,
        step: &Step,
        tasks: &[Task],
        who: &Who,
        authorize: &impl Fn(&TenantPath, &str, &str) -> Result<TenantScope, E>,
    ) -> Result<Task, WorkflowError> {
        let signed = case.signed.iter().any(|s| s.account == who.account);
        let chosen = (!signed)
            .then(|| {
                tasks.iter().find(|task| {
                    authorize(&task.actor_tenant, &task.line, &task.actor_role).is_ok()
                })
            })
            .flatten()
            .cloned();
        chosen.ok_or_else(|| {
            let wanted = step
                .actors
                .iter()
                .map(|a| a.role.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            WorkflowError::NotYourStep(format!("{}（{}）: {wanted}", step.name, step.id))
        })
    }

    /// Where `case` may be transferred from its current step by the actors
    /// of its open tasks: every tenant of its root with its line that the
    /// transfer rule allows (`transitions::check_transfer_target`), in tree order; empty
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
                    transitions::check_transfer_target(
                        &tree,
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
}

impl Calendars for Workflow {
    fn calendar_for(&self, tenant: &TenantPath) -> Result<Arc<Calendar>, WorkflowError> {
        Workflow::calendar_for(self, tenant)
    }
}
