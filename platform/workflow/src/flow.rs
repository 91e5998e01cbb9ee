//! Flow definitions: one file per service, variants per tenant.
//!
//! ```text
//! tenants/_services/<line>/<name>/flow.toml          the service's flow
//! tenants/_services/<line>/<name>/flows/*.toml       variants, each naming its tenant
//! ```
//!
//! A case follows the most specific flow on the path from its tenant up to
//! the root (exactly as module bindings resolve) and keeps the flow it
//! started with. [`FlowCatalog::load`] checks every file and reports every
//! problem with its file.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use civitas_calendar::DayUnit;
use civitas_tenancy::{Level, TenantPath, TenantTree};
use serde::{Deserialize, Serialize};

/// Why the flows cannot be loaded: every problem, each with its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("流程定义无效 (invalid flow definitions):\n{}", problems.join("\n"))]
pub struct FlowErrors {
    /// `file: problem`, one per line.
    pub problems: Vec<String>,
}

/// What a step's actor may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum StepAction {
    /// 通过: the step is done (for a countersign, this actor's part).
    Approve,
    /// 退回: back to an earlier step, or to the applicant, with a reason.
    Return,
    /// 驳回 / 不通过: the case ends refused, with a reason.
    Reject,
    /// 转办: to another tenant (e.g. out of jurisdiction), with a reason.
    Transfer,
    /// 暂停: stop the statutory clock, with a reason.
    Pause,
    /// 恢复: restart it.
    Resume,
    /// 延期: extend the statutory limit, with a reason.
    Extend,
}

impl StepAction {
    /// The name in files and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            StepAction::Approve => "approve",
            StepAction::Return => "return",
            StepAction::Reject => "reject",
            StepAction::Transfer => "transfer",
            StepAction::Pause => "pause",
            StepAction::Resume => "resume",
            StepAction::Extend => "extend",
        }
    }
}

/// Where an actor sits relative to the case's tenant. Levels are the
/// tree's own (`levels.toml`): `community` and `unit` as well as `street`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Place {
    /// The case's own tenant (`at = "case"`).
    Case,
    /// The case tenant's parent, whatever its level (`at = "parent"`).
    Parent,
    /// The case's tenant or its ancestor at this level (`at = "street"`).
    Level(Level),
    /// A strict ancestor of the case's tenant at this level
    /// (`at = "ancestor:district"`).
    Ancestor(Level),
}

impl Place {
    /// The place as a flow file writes it.
    pub fn as_written(&self) -> String {
        match self {
            Place::Case => "case".to_owned(),
            Place::Parent => "parent".to_owned(),
            Place::Level(level) => level.to_string(),
            Place::Ancestor(level) => format!("ancestor:{level}"),
        }
    }
}

/// Who acts: a role at a place, in a line (the flow's unless named).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Actor {
    /// The role, as named in `policies/base.csv`.
    pub role: String,
    /// Where.
    pub at: Place,
    /// The line, when not the flow's.
    pub line: Option<String>,
}

/// How a multi-actor step completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// Every actor approves (会签，全部同意).
    All,
    /// One approval is enough (或签).
    Any,
}

/// A deadline: N days of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Deadline {
    /// How many.
    pub days: u32,
    /// Working or natural days.
    #[schema(value_type = String, example = "working")]
    pub unit: DayUnit,
}

/// A step of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Step {
    /// Its id, e.g. `street-review`.
    pub id: String,
    /// Its Chinese name.
    pub name: String,
    /// Its English name.
    pub name_en: String,
    /// Who acts.
    pub actors: Vec<Actor>,
    /// All or any of them.
    pub rule: Rule,
    /// What they may do.
    pub actions: BTreeSet<StepAction>,
    /// The deadline of the step.
    pub deadline: Option<Deadline>,
    /// Remind the actors this many days (deadline unit) before it.
    pub remind_before: Option<u32>,
    /// Escalate (督办) to the level above this many days after it.
    pub escalate_after: Option<u32>,
    /// Where approval leads; `None` closes the case (办结).
    pub next: Option<String>,
    /// The step a transferred case lands on (default: this one).
    pub transfer_to: Option<String>,
}

/// When a hook runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HookPoint {
    /// At submission and resubmission.
    Submit,
    /// When the named step is approved.
    Approve(String),
}

/// A call to the module bound for a service.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Hook {
    /// Where its output is kept in the case (`outcomes.<name>`).
    pub name: String,
    /// When.
    pub on: HookPoint,
    /// The service whose bound module is called.
    pub service: String,
    /// A boolean field of the output that must be true, else the case is
    /// rejected with the module's reasons.
    pub reject_unless: Option<String>,
    /// A field of the output the fairness guard (公平卫士) watches: the
    /// value the first guarded answer gave at submission is kept, and a
    /// later answer that differs is a warning on the case's history, its
    /// audit record and the case (`outcomes.<hook>.guard`).
    pub guard: Option<String>,
}

/// A statutory limit over the whole case (e.g. 90 natural days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Limit {
    /// The limit.
    pub deadline: Deadline,
    /// Remind this many days before it.
    pub remind_before: Option<u32>,
    /// The most days extensions may add in total.
    pub max_extension: u32,
}

/// Who may apply without a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Applicant {
    /// A signed-in citizen.
    Citizen,
    /// A signed-in enterprise.
    Enterprise,
}

/// A validated flow.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Flow {
    /// The service, e.g. `civil-affairs/meal-subsidy`.
    pub service: String,
    /// Its Chinese name.
    pub name: String,
    /// Its English name.
    pub name_en: String,
    /// The line.
    pub line: String,
    /// What the public reads about it on a tenant's portal (办事指南), in
    /// Chinese; required when the flow takes applicants.
    pub summary: String,
    /// The same in English.
    pub summary_en: String,
    /// The tenant whose variant this is; `None` for the service's flow.
    pub variant: Option<TenantPath>,
    /// Who may apply without a grant.
    pub applicants: Vec<Applicant>,
    /// Whether the applicant may withdraw before review.
    pub withdraw: bool,
    /// 免申即享: no one applies; the platform files a case when a
    /// resident's population record makes the flow's module find them
    /// eligible (origin `entitlement`).
    pub entitlement: bool,
    /// The statutory limit, if any.
    pub limit: Option<Limit>,
    /// Module hooks.
    pub hooks: Vec<Hook>,
    /// The steps; the first is where a case starts.
    pub steps: Vec<Step>,
    /// The file.
    #[serde(skip)]
    #[schema(ignore)]
    pub source: PathBuf,
}

/// What the fairness guard holds for one field of a case's answers.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Guarded {
    /// The value the case's first guarded answer gave (at submission).
    pub submitted: serde_json::Value,
    /// The value the latest guarded answer gave.
    pub value: serde_json::Value,
}

impl Guarded {
    /// The answer changed after submission: the guard's warning stands.
    pub fn warned(&self) -> bool {
        self.submitted != self.value
    }
}

impl Flow {
    /// What the fairness guard holds for `field` of `case`'s answers: the
    /// latest guarded answer (by its `seq`) of a hook of this flow that
    /// guards `field` — `None` when none has answered yet.
    pub fn guarded(&self, case: &crate::Case, field: &str) -> Option<Guarded> {
        self.hooks
            .iter()
            .filter(|h| h.guard.as_deref() == Some(field))
            .filter_map(|h| case.outcomes.get(&h.name)?.get("guard"))
            .max_by_key(|g| {
                g.get("seq")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0)
            })
            .and_then(|guard| {
                Some(Guarded {
                    submitted: guard.get("submitted")?.clone(),
                    value: guard.get("value")?.clone(),
                })
            })
    }

    /// The step `id`.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The first step.
    pub fn first(&self) -> &Step {
        // Validation refuses a flow without steps.
        &self.steps[0]
    }

    /// The variant key stored with a case (`""` for the service's flow).
    pub fn variant_key(&self) -> String {
        self.variant
            .as_ref()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default()
    }

    /// The index of step `id` in the flow.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }
}

// ------------------------------------------------------------ file format

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    service: String,
    name: String,
    name_en: String,
    line: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    summary_en: String,
    tenant: Option<String>,
    #[serde(default)]
    applicants: Vec<Applicant>,
    #[serde(default)]
    withdraw: bool,
    #[serde(default)]
    entitlement: bool,
    limit: Option<RawLimit>,
    #[serde(default, rename = "hook")]
    hooks: Vec<RawHook>,
    #[serde(default, rename = "step")]
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadline {
    days: Option<u32>,
    unit: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimit {
    days: Option<u32>,
    unit: Option<String>,
    remind_before: Option<u32>,
    #[serde(default)]
    max_extension: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHook {
    name: String,
    on: String,
    step: Option<String>,
    service: String,
    reject_unless: Option<String>,
    guard: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActor {
    role: Option<String>,
    at: Option<String>,
    line: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: String,
    name: String,
    name_en: String,
    #[serde(default)]
    actors: Vec<RawActor>,
    rule: Option<Rule>,
    #[serde(default)]
    actions: Vec<String>,
    deadline: Option<RawDeadline>,
    remind_before: Option<u32>,
    escalate_after: Option<u32>,
    next: Option<String>,
    transfer_to: Option<String>,
}

/// What a flow is checked against.
pub struct Context<'a> {
    /// The tenant tree (variant tenants, lines).
    pub tree: &'a TenantTree,
    /// Known roles.
    pub roles: &'a BTreeSet<String>,
    /// Services that have a module extension point (hook targets), each
    /// with the top-level fields of its output (what a hook's
    /// `reject_unless` and `guard` may name).
    pub module_services: &'a BTreeMap<String, BTreeSet<String>>,
}

fn deadline(
    days: Option<u32>,
    unit: Option<&str>,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<Deadline> {
    let Some(days) = days else {
        problems.push(format!(
            "{at}: 期限缺少天数 days (the deadline has no days)"
        ));
        return None;
    };
    let Some(unit) = unit else {
        problems.push(format!(
            "{at}: 期限缺少单位 unit = \"working\" | \"natural\" (the deadline has no unit)"
        ));
        return None;
    };
    let Some(unit) = DayUnit::parse(unit) else {
        problems.push(format!(
            "{at}: 期限单位 “{unit}” 无效，应为 working 或 natural (unit must be working or natural)"
        ));
        return None;
    };
    if days == 0 || days > civitas_calendar::MAX_DAYS {
        problems.push(format!(
            "{at}: 期限天数 {days} 须在 1 到 {} 之间 (days must be 1..={})",
            civitas_calendar::MAX_DAYS,
            civitas_calendar::MAX_DAYS
        ));
        return None;
    }
    Some(Deadline { days, unit })
}

fn parse_flow(text: &str, file: &Path, context: &Context<'_>) -> Result<Flow, Vec<String>> {
    let name = file.display().to_string();
    let raw: RawFlow = toml::from_str(text).map_err(|e| vec![format!("{name}: {e}")])?;
    let mut problems = Vec::new();
    let at = |what: &str| format!("{name}: {what}");
    if context.tree.lines().iter().all(|l| l.code != raw.line) {
        problems.push(at(&format!("未知条线 (unknown line) “{}”", raw.line)));
    }
    if !raw.service.starts_with(&format!("{}/", raw.line)) {
        problems.push(at(&format!(
            "服务 {} 不属于条线 {} (the service is not in the flow's line)",
            raw.service, raw.line
        )));
    }
    if !raw.applicants.is_empty()
        && (raw.summary.trim().is_empty() || raw.summary_en.trim().is_empty())
    {
        problems.push(at(
            "受理申请的流程需要 summary 与 summary_en，供门户的办事指南 (a flow that takes applicants needs summary and summary_en for the portal)",
        ));
    }
    let variant = match &raw.tenant {
        None => None,
        Some(reference) => match context.tree.resolve(reference) {
            None => {
                problems.push(at(&format!("未知租户 (unknown tenant) “{reference}”")));
                None
            }
            Some(tenant) => {
                if !tenant.lines.contains(&raw.line) {
                    problems.push(at(&format!(
                        "租户 {reference} 没有条线 {} (the tenant has no such line)",
                        raw.line
                    )));
                }
                Some(tenant.path.clone())
            }
        },
    };
    let limit = raw.limit.as_ref().and_then(|l| {
        let d = deadline(l.days, l.unit.as_deref(), &at("[limit]"), &mut problems)?;
        Some(Limit {
            deadline: d,
            remind_before: l.remind_before,
            max_extension: l.max_extension,
        })
    });
    if raw.steps.is_empty() {
        problems.push(at("流程没有步骤 (the flow has no steps)"));
    }
    let ids: Vec<&str> = raw.steps.iter().map(|s| s.id.as_str()).collect();
    let mut seen = BTreeSet::new();
    let mut steps = Vec::new();
    for raw_step in &raw.steps {
        let here = at(&format!("步骤 (step) {}", raw_step.id));
        if raw_step.id.is_empty()
            || !raw_step
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            problems.push(format!(
                "{here}: id 只能用小写字母、数字和 - (ids use a-z, 0-9 and -)"
            ));
        }
        if !seen.insert(raw_step.id.as_str()) {
            problems.push(format!("{here}: id 重复 (duplicate step id)"));
        }
        if raw_step.actors.is_empty() {
            problems.push(format!("{here}: 步骤没有办理人 (the step has no actor)"));
        }
        let mut actors = Vec::new();
        for actor in &raw_step.actors {
            let Some(role) = &actor.role else {
                problems.push(format!(
                    "{here}: 办理人缺少角色 role (an actor has no role)"
                ));
                continue;
            };
            if !context.roles.contains(role) {
                problems.push(format!(
                    "{here}: 未知角色 (unknown role) “{role}”（见 policies/base.csv）"
                ));
            }
            let levels: Vec<&str> = context
                .tree
                .levels()
                .iter()
                .map(|l| l.name.as_str())
                .collect();
            let level_of =
                |name: &str| Level::parse(name).filter(|level| context.tree.level(level).is_some());
            let place = match actor.at.as_deref() {
                None => {
                    problems.push(format!(
                        "{here}: 办理人缺少层级 at = \"case\" | \"parent\" | \"ancestor:<层级>\" | 层级（{}）(an actor has no place)",
                        levels.join(" | ")
                    ));
                    continue;
                }
                Some("case") => Place::Case,
                Some("parent") => Place::Parent,
                Some(written) => {
                    let (strict, name) = match written.strip_prefix("ancestor:") {
                        Some(name) => (true, name),
                        None => (false, written),
                    };
                    match level_of(name) {
                        Some(level) if strict => Place::Ancestor(level),
                        Some(level) => Place::Level(level),
                        None => {
                            problems.push(format!(
                                "{here}: 未知层级 (unknown level) “{name}”（树的层级 / the tree's levels: {}）",
                                levels.join(", ")
                            ));
                            continue;
                        }
                    }
                }
            };
            if let Some(line) = &actor.line
                && context.tree.lines().iter().all(|l| &l.code != line)
            {
                problems.push(format!("{here}: 未知条线 (unknown line) “{line}”"));
            }
            actors.push(Actor {
                role: role.clone(),
                at: place,
                line: actor.line.clone(),
            });
        }
        let rule = raw_step.rule.unwrap_or(Rule::Any);
        if rule == Rule::All && raw_step.actors.len() < 2 {
            problems.push(format!(
                "{here}: 会签 rule = \"all\" 需要至少两个办理人 (a countersign needs two actors or more)"
            ));
        }
        let mut actions = BTreeSet::new();
        for action in &raw_step.actions {
            let parsed: Result<StepAction, _> =
                serde_json::from_value(serde_json::Value::String(action.clone()));
            match parsed {
                Ok(a) => {
                    if matches!(a, StepAction::Pause | StepAction::Resume | StepAction::Extend)
                        && raw.limit.is_none()
                    {
                        problems.push(format!(
                            "{here}: 动作 {action} 需要流程有法定时限 [limit] (needs a [limit])"
                        ));
                    }
                    actions.insert(a);
                }
                Err(_) => problems.push(format!(
                    "{here}: 未知动作 (unknown action) “{action}”；可用 approve, return, reject, transfer, pause, resume, extend"
                )),
            }
        }
        if actions.is_empty() {
            problems.push(format!("{here}: 步骤没有动作 (the step allows no action)"));
        }
        let step_deadline = raw_step
            .deadline
            .as_ref()
            .and_then(|d| deadline(d.days, d.unit.as_deref(), &here, &mut problems));
        if step_deadline.is_none()
            && (raw_step.remind_before.is_some() || raw_step.escalate_after.is_some())
        {
            problems.push(format!(
                "{here}: 提醒或督办需要期限 deadline (reminders and escalation need a deadline)"
            ));
        }
        if let (Some(d), Some(r)) = (step_deadline, raw_step.remind_before)
            && r >= d.days
        {
            problems.push(format!(
                "{here}: remind_before {r} 须小于期限 {} 天 (must be shorter than the deadline)",
                d.days
            ));
        }
        for (key, target) in [
            ("next", &raw_step.next),
            ("transfer_to", &raw_step.transfer_to),
        ] {
            if let Some(target) = target
                && !ids.contains(&target.as_str())
            {
                problems.push(format!(
                    "{here}: {key} 指向不存在的步骤 (names no step) “{target}”"
                ));
            }
        }
        if raw_step.transfer_to.is_some() && !actions.contains(&StepAction::Transfer) {
            problems.push(format!(
                "{here}: transfer_to 需要动作 transfer (transfer_to without the transfer action)"
            ));
        }
        if raw_step.next.as_deref() == Some(raw_step.id.as_str()) {
            problems.push(format!(
                "{here}: next 指向自身 (next names the step itself)"
            ));
        }
        steps.push(Step {
            id: raw_step.id.clone(),
            name: raw_step.name.clone(),
            name_en: raw_step.name_en.clone(),
            actors,
            rule,
            actions,
            deadline: step_deadline,
            remind_before: raw_step.remind_before,
            escalate_after: raw_step.escalate_after,
            next: raw_step.next.clone(),
            transfer_to: raw_step.transfer_to.clone(),
        });
    }
    // Reachability from the first step through next and transfer_to (a
    // return only goes back to a step already passed).
    if let Some(first) = raw.steps.first() {
        let mut reached = BTreeSet::from([first.id.as_str()]);
        let mut frontier = vec![first.id.as_str()];
        while let Some(id) = frontier.pop() {
            if let Some(step) = raw.steps.iter().find(|s| s.id == id) {
                for target in [&step.next, &step.transfer_to].into_iter().flatten() {
                    if reached.insert(target.as_str()) {
                        frontier.push(target.as_str());
                    }
                }
            }
        }
        for id in &ids {
            if !reached.contains(id) {
                problems.push(at(&format!(
                    "步骤 {id} 不可达 (step {id} cannot be reached from the first step)"
                )));
            }
        }
        if !raw.steps.iter().any(|s| s.next.is_none()) {
            problems.push(at(
                "没有结束步骤：每个步骤都有 next (no step closes the case)",
            ));
        }
    }
    let mut hooks = Vec::new();
    let mut hook_names = BTreeSet::new();
    for hook in &raw.hooks {
        let here = at(&format!("钩子 (hook) {}", hook.name));
        if !hook_names.insert(hook.name.as_str()) {
            problems.push(format!("{here}: 名称重复 (duplicate hook name)"));
        }
        match context.module_services.get(&hook.service) {
            None => problems.push(format!(
                "{here}: 服务 {} 没有模块扩展点 (no module service of that id)",
                hook.service
            )),
            Some(fields) => {
                for (key, field) in [
                    ("reject_unless", &hook.reject_unless),
                    ("guard", &hook.guard),
                ] {
                    if let Some(field) = field
                        && !fields.contains(field)
                    {
                        problems.push(format!(
                            "{here}: {key} 字段 “{field}” 不在服务 {} 的输出中 (not a field of the service's output)",
                            hook.service
                        ));
                    }
                }
            }
        }
        let on = match (hook.on.as_str(), &hook.step) {
            ("submit", None) => HookPoint::Submit,
            ("approve", Some(step)) if ids.contains(&step.as_str()) => {
                HookPoint::Approve(step.clone())
            }
            ("approve", Some(step)) => {
                problems.push(format!(
                    "{here}: step 指向不存在的步骤 (names no step) “{step}”"
                ));
                continue;
            }
            _ => {
                problems.push(format!(
                    "{here}: on 应为 \"submit\"，或 \"approve\" 加 step (on must be submit, or approve with a step)"
                ));
                continue;
            }
        };
        hooks.push(Hook {
            name: hook.name.clone(),
            on,
            service: hook.service.clone(),
            reject_unless: hook.reject_unless.clone(),
            guard: hook.guard.clone(),
        });
    }
    // An entitlement is filed by the platform on the module's word: the
    // flow's own service decides at submission, and no one applies.
    if raw.entitlement
        && (!raw.applicants.is_empty()
            || !hooks.iter().any(|h| {
                h.on == HookPoint::Submit && h.service == raw.service && h.reject_unless.is_some()
            }))
    {
        problems.push(at(
            "entitlement = true 需要本服务的提交钩子（reject_unless）且不设 applicants (an entitlement needs a submit hook of its own service with reject_unless, and no applicants)",
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Flow {
        service: raw.service,
        name: raw.name,
        name_en: raw.name_en,
        line: raw.line,
        summary: raw.summary,
        summary_en: raw.summary_en,
        variant,
        applicants: raw.applicants,
        withdraw: raw.withdraw,
        entitlement: raw.entitlement,
        limit,
        hooks,
        steps,
        source: file.to_owned(),
    })
}

/// Every flow: per service, the service's flow and its tenant variants.
#[derive(Debug, Clone, Default)]
pub struct FlowCatalog {
    /// service → variant key (`""` = the service's flow) → flow.
    flows: BTreeMap<String, HashMap<String, Arc<Flow>>>,
}

impl FlowCatalog {
    /// Loads `<tenants>/_services/**/flow.toml` and the `flows/*.toml`
    /// variants beside them, checking each against `context`.
    pub fn load(tenants_dir: &Path, context: &Context<'_>) -> Result<FlowCatalog, FlowErrors> {
        let mut files = Vec::new();
        let root = tenants_dir.join("_services");
        if root.is_dir() {
            collect(&root, &mut files).map_err(|e| FlowErrors { problems: vec![e] })?;
        }
        let mut texts = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| FlowErrors {
                problems: vec![format!("{}: {e}", file.display())],
            })?;
            texts.push((file, text));
        }
        FlowCatalog::from_texts(texts, context)
    }

    /// Builds a catalog from `(file, text)` pairs (a variant is a file
    /// under a `flows/` directory and must name its tenant).
    pub fn from_texts(
        texts: Vec<(PathBuf, String)>,
        context: &Context<'_>,
    ) -> Result<FlowCatalog, FlowErrors> {
        let mut problems = Vec::new();
        let mut catalog = FlowCatalog::default();
        for (file, text) in texts {
            let is_variant = file
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == "flows");
            match parse_flow(&text, &file, context) {
                Err(mut p) => problems.append(&mut p),
                Ok(flow) => {
                    if is_variant != flow.variant.is_some() {
                        problems.push(format!(
                            "{}: flows/ 下的变体必须写 tenant，flow.toml 不得写 (a variant under flows/ names its tenant; flow.toml does not)",
                            file.display()
                        ));
                        continue;
                    }
                    let expected_dir = if is_variant {
                        file.parent().and_then(Path::parent)
                    } else {
                        file.parent()
                    };
                    let dir_matches = expected_dir.is_some_and(|dir| dir.ends_with(&flow.service));
                    if !dir_matches {
                        problems.push(format!(
                            "{}: 服务 {} 与目录不符 (the service does not match its directory)",
                            file.display(),
                            flow.service
                        ));
                        continue;
                    }
                    let key = flow.variant_key();
                    let by_variant = catalog.flows.entry(flow.service.clone()).or_default();
                    if by_variant.contains_key(&key) {
                        problems.push(format!(
                            "{}: 租户 {key} 已有服务 {} 的流程变体 (a second variant for the same tenant)",
                            file.display(),
                            flow.service
                        ));
                        continue;
                    }
                    by_variant.insert(key, Arc::new(flow));
                }
            }
        }
        for (service, variants) in &catalog.flows {
            if !variants.contains_key("") {
                problems.push(format!(
                    "{service}: 有变体但没有 flow.toml (variants without the service's flow.toml)"
                ));
            }
        }
        if problems.is_empty() {
            Ok(catalog)
        } else {
            Err(FlowErrors { problems })
        }
    }

    /// The flow a new case of `service` at `tenant` follows: the variant
    /// of the nearest tenant on the path up, else the service's.
    pub fn resolve(&self, service: &str, tenant: &TenantPath) -> Option<&Arc<Flow>> {
        let variants = self.flows.get(service)?;
        let mut lineage = tenant.lineage();
        lineage.reverse();
        lineage
            .iter()
            .find_map(|node| variants.get(node.as_str()))
            .or_else(|| variants.get(""))
    }

    /// The flow a case recorded (`variant` = its variant key).
    pub fn variant(&self, service: &str, variant: &str) -> Option<&Arc<Flow>> {
        self.flows.get(service)?.get(variant)
    }

    /// Every flow, services in order, the service's flow first.
    pub fn flows(&self) -> Vec<&Arc<Flow>> {
        let mut out = Vec::new();
        for variants in self.flows.values() {
            let mut v: Vec<&Arc<Flow>> = variants.values().collect();
            v.sort_by_key(|f| f.variant_key());
            out.extend(v);
        }
        out
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "flows") {
                let mut variants: Vec<PathBuf> = std::fs::read_dir(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                    .collect();
                variants.sort();
                out.extend(variants);
            } else {
                collect(&path, out)?;
            }
        } else if path.file_name().is_some_and(|n| n == "flow.toml") {
            out.push(path);
        }
    }
    Ok(())
}
