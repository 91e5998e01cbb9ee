//! Cases, the inbox and flows.
//!
//! Tenant routes (the tenant is a path of codes or slugs, resolved before
//! routing by [`crate::tenant`]):
//!
//! ```text
//! POST /api/v1/tenants/{path}/cases                      create (apply, or a lead from a warning)
//! GET  /api/v1/tenants/{path}/cases                      list (staff: subtree and line; applicants: their own)
//! GET  /api/v1/tenants/{path}/cases/{id}                 read (with the open tasks' due date; staff: personal data masked)
//! POST /api/v1/tenants/{path}/cases/{id}/reveal          the application's personal data in full, audited with a reason
//! POST /api/v1/tenants/{path}/cases/{id}/actions         act: approve, return, reject, transfer, pause, resume, extend, withdraw, resubmit
//! GET  /api/v1/tenants/{path}/cases/{id}/history         who did what when, with reasons and module versions
//! GET|POST /api/v1/tenants/{path}/cases/{id}/attachments attachment metadata
//! POST /api/v1/tenants/{path}/cases/{id}/documents       upload a supporting document (multipart)
//! GET  /api/v1/tenants/{path}/cases/{id}/attachments/{attachment}/content   download it
//! GET|POST /api/v1/tenants/{path}/cases/{id}/rating      the applicant's rating of a finished case (好差评)
//! GET  /api/v1/tenants/{path}/notifications              reminders, overdue and supervision notices
//! GET  /api/v1/inbox                                     what waits for the caller
//! GET  /api/v1/flows                                     every flow and variant
//! ```

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use civitas_identity::AccountKind;
use civitas_storage::{AccessRequest, TenantRecord, TenantScope};
use civitas_tenancy::TenantPath;
use civitas_workflow::flow::Flow;
use civitas_workflow::inbox::{InboxFilter, InboxPage, Queue};
use civitas_workflow::ratings::Rating;
use civitas_workflow::timers::Notification;
use civitas_workflow::{
    ActRequest, Action, Attachment, Case, CaseEvent, CaseFilter, CaseState, NewAttachment, NewCase,
    Origin, Viewer, Who, Workflow, WorkflowError,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::tenants::TenantParam;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::paging;
use crate::tenant::Tenant;
use crate::{ApiJson, ApiQuery, AppState};

impl From<WorkflowError> for ApiError {
    fn from(error: WorkflowError) -> ApiError {
        match error {
            WorkflowError::Module(e) => e.into(),
            error => ApiError::from_library(error.status(), error.code(), &error),
        }
    }
}

pub(crate) fn applicant_kind(caller: &Caller) -> Option<AccountKind> {
    match caller {
        Caller::Person(claims)
            if matches!(claims.kind, AccountKind::Citizen | AccountKind::Enterprise) =>
        {
            Some(claims.kind)
        }
        _ => None,
    }
}

/// The workflow engine; 503 `workflow_unavailable` without one.
pub(crate) fn workflow(state: &AppState) -> Result<Arc<Workflow>, ApiError> {
    state.workflow().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "workflow_unavailable",
            "未配置流程引擎",
            "The workflow engine is not configured",
        )
    })
}

fn who(caller: &Caller) -> Who {
    Who {
        account: caller.account_id().to_owned(),
        username: caller.username().to_owned(),
    }
}

/// An applicant's scope: what `policies/base.csv` lets the `applicant` role
/// do (civitas-authz decides, as for everyone else).
fn applicant_scope(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    line: &str,
    action: &str,
) -> Result<TenantScope, ApiError> {
    // A self-registered account acts in nobody's name until a real-name
    // check passed (civitas_identity::verification).
    if let Caller::Person(claims) = caller
        && !claims.ver
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "verification_required",
            "账户尚未完成实名核验：请通过统一身份认证核验，或持证件到窗口核验",
            "The account is not verified yet: verify it with the identity provider, or show your identity document at a service counter",
        ));
    }
    let authorizer = state.authorizer()?;
    TenantScope::authorize(
        &authorizer.applicant(),
        &AccessRequest {
            principal: caller.account_id(),
            tenant,
            line,
            action,
        },
    )
    .map_err(|denied| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("申请人无权执行 {}", denied.action),
            format!("Applicants may not {}", denied.action),
        )
    })
}

/// The scope and view a request on cases goes through: an applicant's own
/// cases (`case.own`), or staff's cases of one line, or of every line for
/// staff of no line whose grant covers every line (`action`: `case.read`
/// to read, `case.act` to act or attach, `case.reveal` to reveal).
pub(crate) fn case_scope(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    asked: Option<&str>,
    action: &str,
) -> Result<(TenantScope, Viewer), ApiError> {
    let line = asked;
    if applicant_kind(caller).is_some() {
        let scope = applicant_scope(state, caller, tenant, civitas_authz::NO_LINE, "case.own")?;
        return Ok((
            scope,
            Viewer::Applicant {
                account: caller.account_id().to_owned(),
            },
        ));
    }
    let line = caller.line_for(line).to_owned();
    // Staff of no line are decided at no line, which only a grant in every
    // line allows (a tenant administrator's): they see every line's cases.
    let decided = caller.authorize(state, tenant, &line, action);
    if crate::access::every_line(&line) {
        return Ok((decided?, Viewer::EveryLine));
    }
    // Staff who did not name a line and hold grants in other lines too
    // (one window for several bureaus) see the cases of every line they
    // may `action` in at `tenant`, their own first.
    let others: Vec<(TenantScope, String)> = if asked.is_none() {
        other_lines(state, caller, &line)?
            .into_iter()
            .filter_map(|other| {
                let scope = caller.authorize(state, tenant, &other, action).ok()?;
                Some((scope, other))
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut lines = Vec::new();
    let scope = match decided {
        Ok(scope) => {
            lines.push(line);
            scope
        }
        // Refused in their own line: the other lines decide, else that refusal.
        Err(refused) => match others.first() {
            Some((scope, _)) => scope.clone(),
            None => return Err(refused),
        },
    };
    lines.extend(others.into_iter().map(|(_, other)| other));
    let viewer = match <[String; 1]>::try_from(lines) {
        Ok([line]) => Viewer::Staff { line },
        Err(lines) => Viewer::Lines { lines },
    };
    Ok((scope, viewer))
}

/// The lines other than `own` that a person's grants name (not a key's:
/// a key names its lines itself), in order, each once.
fn other_lines(state: &AppState, caller: &Caller, own: &str) -> Result<Vec<String>, ApiError> {
    if !matches!(caller, Caller::Person(_)) {
        return Ok(Vec::new());
    }
    let authorizer = state.authorizer()?;
    let mut lines: Vec<String> = authorizer
        .grants_of(caller.account_id())
        .into_iter()
        .map(|grant| grant.line)
        .filter(|line| line != own && !crate::access::every_line(line))
        .collect();
    lines.sort();
    lines.dedup();
    Ok(lines)
}

/// A case id in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct CaseParam {
    /// 办件编号 / The case id.
    #[param(example = "0193a5c2-6f1e-7c3a-9d7e-2b1f6c0e8a41")]
    pub(crate) id: String,
}

/// A new case: an application (by the applicant, or by staff on their
/// behalf) or a lead from a warning.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateCase {
    /// 服务（条线/名称）/ The service.
    #[schema(example = "civil-affairs/meal-subsidy")]
    service: String,
    /// 标题（默认为服务名称）/ A title for lists (default: the flow's name).
    #[schema(example = "张三 助餐补贴申请")]
    title: Option<String>,
    /// 申请材料（服务的输入模式）/ The document, valid against the service's input schema.
    data: Value,
    /// Staff only: `application` (on an applicant's behalf) or `warning`.
    origin: Option<Origin>,
}

impl CreateCase {
    /// An applicant's application for `service` (title: the flow's name).
    pub(crate) fn application(service: String, data: Value) -> CreateCase {
        CreateCase {
            service,
            title: None,
            data,
            origin: None,
        }
    }
}

/// An action on a case.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActBody {
    /// The action.
    action: Action,
    /// The version the caller saw; a stale one is 409 `case_conflict`.
    #[schema(example = 1)]
    version: Option<i64>,
    /// Why (required to return, reject, transfer, pause, extend, withdraw).
    #[schema(example = "户籍证明不清晰，请重新上传")]
    reason: Option<String>,
    /// Return: the earlier step; none sends it back to the applicant.
    to_step: Option<String>,
    /// Transfer: the tenant (path of codes or slug path).
    to_tenant: Option<String>,
    /// Extend: how many days (in the limit's unit).
    #[schema(minimum = 1)]
    days: Option<u32>,
    /// Resubmit: the corrected document.
    data: Option<Value>,
}

/// Which cases to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CaseQuery {
    /// Staff: the line (default: the caller's own and every other line their grants name at the tenant).
    #[param(example = "civil-affairs")]
    line: Option<String>,
    /// Only this service.
    #[param(example = "civil-affairs/meal-subsidy")]
    service: Option<String>,
    /// Only this state.
    state: Option<CaseState>,
    /// Only overdue (true) or not overdue (false) cases.
    overdue: Option<bool>,
    /// The previous page's `next`.
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Staff's line for reading one case.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct LineQuery {
    /// Staff: the line (default: the caller's own and every other line their grants name at the tenant).
    #[param(example = "civil-affairs")]
    line: Option<String>,
}

/// A step's name.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StepName {
    /// 中文.
    zh: String,
    /// English.
    en: String,
}

/// The flow a case follows.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FlowRef {
    /// Its Chinese name.
    name: String,
    /// Its English name.
    name_en: String,
    /// The variant's tenant path; `""` for the service's own flow.
    variant: String,
}

/// A case, with its step's name, the actions allowed there and its flow.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CaseView {
    #[serde(flatten)]
    case: Case,
    /// The current step's name; null when the case is finished.
    step_name: Option<StepName>,
    /// What the step's actors may do; null when the case is finished.
    actions: Option<Vec<String>>,
    /// The flow.
    flow: Option<FlowRef>,
    /// 以脱敏形式显示的个人信息字段（完整查看：POST …/reveal，记入审计）/
    /// The application's personal data fields shown masked (staff; in full
    /// through `POST …/reveal`, which is audited).
    masked: Vec<String>,
}

/// How a case's personal data is shown: staff see it masked, its applicant
/// in full, and staff in full only after an audited reveal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shown {
    /// The fields the service's schema marks `x-personal` masked.
    Masked,
    /// As stored.
    InFull,
}

impl Shown {
    /// How `caller` sees a case they may read without a reveal.
    pub(crate) fn to(caller: &Caller) -> Shown {
        if applicant_kind(caller).is_some() {
            Shown::InFull
        } else {
            Shown::Masked
        }
    }
}

/// The application fields of `service` that hold personal data, with
/// their kind (the input schema's `x-personal`); a service the catalog
/// has no schema for declares none. `None` when the catalog cannot be
/// read: then nothing is known not to be personal.
fn personal_of<'a>(
    state: &'a AppState,
    service: &str,
) -> Option<&'a std::collections::BTreeMap<String, civitas_services::PersonalKind>> {
    static NONE: std::collections::BTreeMap<String, civitas_services::PersonalKind> =
        std::collections::BTreeMap::new();
    let modules = state.modules().ok()?;
    // Borrowed from the catalog: a list masks every case it shows.
    Some(
        modules
            .runtime
            .catalog()
            .service(service)
            .map_or(&NONE, |s| &s.personal),
    )
}

/// Masks the personal data fields of `case`'s application in place, as
/// its service's schema marks them; the names of the fields masked. It
/// fails closed: without the catalog every field is masked, and an
/// application that is not an object is masked whole (`*`).
pub(crate) fn mask_personal(state: &AppState, case: &mut Case) -> Vec<String> {
    use civitas_services::PersonalKind as K;
    use civitas_vault::mask;
    let personal = personal_of(state, &case.service);
    let Value::Object(data) = &mut case.data else {
        if personal.is_some_and(|p| p.is_empty()) || case.data.is_null() {
            return Vec::new();
        }
        case.data = Value::String("****".to_owned());
        return vec!["*".to_owned()];
    };
    let mut masked = Vec::new();
    for (name, value) in data.iter_mut() {
        let kind = match &personal {
            Some(personal) => match personal.get(name) {
                Some(kind) => Some(*kind),
                None => continue,
            },
            None => None,
        };
        let text = match &*value {
            Value::String(text) => text.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        let hidden = match kind {
            Some(K::Name) => mask::name(&text),
            Some(K::IdNumber) => mask::id_number(&text),
            Some(K::Phone) => mask::phone(&text),
            Some(K::BankAccount) => mask::bank_account(&text),
            Some(K::Address) => mask::address(&text),
            Some(K::Email) => mask::email(&text),
            Some(K::Date) => mask::date(&text),
            None => "*".repeat(text.chars().count().clamp(1, 8)),
        };
        *value = Value::String(hidden);
        masked.push(name.clone());
    }
    masked
}

/// A page of cases.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CaseList {
    /// Newest first.
    cases: Vec<CaseView>,
    /// Pass as `after` for the next page; absent on the last page.
    next: Option<String>,
}

/// A page of a case's history.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct History {
    /// The case.
    case_id: String,
    /// Oldest first.
    history: Vec<CaseEvent>,
    /// Pass as `after` for the next page; absent on the last page.
    next: Option<String>,
}

/// Which part of a case's history to read.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Staff: the line (default: the caller's own and every other line their grants name at the tenant).
    #[param(example = "civil-affairs")]
    line: Option<String>,
    /// The previous page's `next`.
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A case's attachments.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Attachments {
    /// The case.
    case_id: String,
    /// In the order they were added.
    attachments: Vec<Attachment>,
}

/// A page of notifications.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Notifications {
    /// Newest first.
    notifications: Vec<Notification>,
    /// Pass as `after` for the next page; absent on the last page.
    next: Option<String>,
}

/// Every flow and variant.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FlowList {
    /// By service, then variant.
    flows: Vec<Flow>,
}

fn case_view(state: &AppState, workflow: &Workflow, mut case: Case, shown: Shown) -> CaseView {
    let masked = match shown {
        Shown::Masked => mask_personal(state, &mut case),
        Shown::InFull => Vec::new(),
    };
    let flow = workflow.flow_of(&case).ok();
    let step = case
        .step
        .as_deref()
        .and_then(|s| flow.and_then(|f| f.step(s)));
    CaseView {
        step_name: step.map(|s| StepName {
            zh: s.name.clone(),
            en: s.name_en.clone(),
        }),
        actions: step.map(|s| s.actions.iter().map(|a| a.as_str().to_owned()).collect()),
        flow: flow.map(|f| FlowRef {
            name: f.name.clone(),
            name_en: f.name_en.clone(),
            variant: f.variant_key(),
        }),
        masked,
        case,
    }
}

/// Case `id` as the caller may read it (`case.read` in `line`, or the
/// applicant's own), in a read transaction left open for what else the
/// route reads.
pub(crate) async fn read_case(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    line: Option<&str>,
    id: &str,
) -> Result<(Arc<Workflow>, civitas_storage::TenantTx, Case), ApiError> {
    let workflow = workflow(state)?;
    let (scope, viewer) = case_scope(state, caller, tenant, line, "case.read")?;
    let mut tx = state.db().begin_read(&scope).await?;
    let case = workflow.get(&mut tx, &viewer, id).await?;
    Ok((workflow, tx, case))
}

/// The cases of a tenant's subtree: staff see one line's (`case.read`),
/// applicants their own.
#[utoipa::path(get, path = "/api/v1/tenants/{path}/cases", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, CaseQuery),
    responses(
        (status = 200, description = "办件列表 / A page of cases", body = CaseList),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn list_cases(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<CaseQuery>,
) -> Result<Json<CaseList>, ApiError> {
    let workflow = workflow(&state)?;
    let limit = paging::limit(query.limit)?;
    let after = paging::after(query.after.as_deref(), civitas_workflow::parse_case_cursor)?;
    let (scope, viewer) = case_scope(
        &state,
        &caller,
        &tenant.path,
        query.line.as_deref(),
        "case.read",
    )?;
    let mut tx = state.db().begin_read(&scope).await?;
    let cases = workflow
        .list(
            &mut tx,
            &viewer,
            &CaseFilter {
                service: query.service.clone(),
                state: query.state,
                overdue: query.overdue,
                before: after,
                limit,
            },
        )
        .await?;
    tx.rollback().await?;
    let next = (cases.len() == limit as usize)
        .then(|| cases.last().map(civitas_workflow::case_cursor))
        .flatten();
    Ok(Json(CaseList {
        cases: cases
            .into_iter()
            .map(|c| case_view(&state, &workflow, c, Shown::to(&caller)))
            .collect(),
        next,
    }))
}

/// Which cases to export: the list's filters, without paging.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CaseExportQuery {
    /// Staff: the line (default: the caller's own and every other line their grants name at the tenant).
    #[param(example = "civil-affairs")]
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<String>,
    /// Only this service; its application's fields then get a column each.
    #[param(example = "civil-affairs/meal-subsidy")]
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    /// Only this state.
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<CaseState>,
    /// Only overdue (true) or not overdue (false) cases.
    #[serde(skip_serializing_if = "Option::is_none")]
    overdue: Option<bool>,
}

/// The cases of the list with the same filters, every page, as an `.xlsx`
/// workbook (`case.read`, as the list; personal fields masked as the list
/// masks them; audited `case.export` with the filter, the rows and the
/// file's SM3). With `service`, each field of its application is a column;
/// without, the application is one column of JSON.
#[utoipa::path(get, path = "/api/v1/tenants/{path}/cases/export", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, CaseExportQuery),
    responses(
        (status = 200, description = "办件导出（xlsx，已脱敏，已审计）/ The cases as a workbook, masked, audited", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers(
                ("x-export-rows" = u32, description = "行数 / Rows exported"),
                ("x-export-sm3" = String, description = "文件的 SM3（与审计记录一致）/ The file's SM3, as audited")
            )),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 422, description = "超过一个工作表的行数上限 / More rows than a worksheet holds", body = ErrorBody),
        (status = 405, description = "导出请使用 GET（HEAD 不导出）/ Exports are asked for with GET, not HEAD", body = ErrorBody),
        (status = 503, description = "其他导出正在生成（export_busy），或流程引擎不可用 / Other exports are being written (export_busy), or the workflow engine is unavailable", body = ErrorBody)
    ))]
pub(crate) async fn export_cases(
    State(state): State<AppState>,
    method: axum::http::Method,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<CaseExportQuery>,
) -> Result<Response, ApiError> {
    crate::export::not_head(&method)?;
    export_cases_in(&state, &caller, &tenant, query).await
}

/// What `export_cases` answers, for `caller` at `tenant`: the API's route and the
/// faces' download link come here.
pub(crate) async fn export_cases_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    query: CaseExportQuery,
) -> Result<Response, ApiError> {
    let _turn = crate::export::turn()?;
    let workflow = workflow(state)?;
    let (scope, viewer) = case_scope(
        state,
        caller,
        &tenant.path,
        query.line.as_deref(),
        "case.read",
    )?;
    let fields = query
        .service
        .as_deref()
        .map(|service| {
            crate::pages::case_view::fields_of(state, service)
                .into_iter()
                .map(|f| (f.name, f.label.zh, f.label.en))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut sheet = crate::export::sheet(state, CASES_EXPORT, case_columns(&fields))?;
    let shown = Shown::to(caller);
    // One query in one read transaction: the rows in the list's order,
    // sorted once and written as they arrive.
    let mut tx = state.db().begin_read(&scope).await?;
    let mut failed = None;
    workflow
        .each_case(
            &mut tx,
            &viewer,
            &CaseFilter {
                service: query.service.clone(),
                state: query.state,
                overdue: query.overdue,
                before: None,
                limit: 0,
            },
            &mut |case| {
                let view = case_view(state, &workflow, case, shown);
                match sheet.row(case_row(state, &workflow, &view, &fields)) {
                    Ok(()) => true,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                }
            },
        )
        .await?;
    if let Some(e) = failed {
        return Err(crate::export::export_error(e));
    }
    tx.rollback().await?;
    let filter = serde_json::to_value(&query).unwrap_or(Value::Null);
    crate::export::respond(
        state,
        caller,
        &scope,
        &tenant.path,
        CASES_EXPORT,
        filter,
        sheet,
    )
    .await
}

/// A cases export.
const CASES_EXPORT: crate::export::Kind = crate::export::Kind {
    action: "case.export",
    zh: "办件",
    en: "Cases",
};

/// The columns of a cases export: the case, the module hooks' answers,
/// then each of `fields` (the application's, for one service) or the
/// application as JSON.
fn case_columns(fields: &[(String, String, String)]) -> Vec<civitas_export::Column> {
    use civitas_export::Column;
    let mut columns = vec![
        Column::new("办件编号", "Case number", 38.0),
        Column::new("事项", "Service", 24.0),
        Column::new("标题", "Title", 30.0),
        Column::new("状态", "State", 12.0),
        Column::new("当前环节", "Step", 16.0),
        Column::new("属地", "Place", 14.0),
        Column::new("属地代码", "Place code", 24.0),
        Column::new("条线", "Line", 18.0),
        Column::new("来源", "Origin", 10.0),
        Column::new("创建人", "Created by", 16.0),
        Column::new("受理时间", "Filed at", 20.0),
        Column::new("最后办理", "Last changed", 20.0),
        Column::new("环节到期", "Step due", 12.0),
        Column::new("法定时限到期", "Statutory limit due", 14.0),
        Column::new("逾期", "Overdue", 8.0),
        Column::new("督办", "Supervised", 8.0),
    ];
    columns.push(Column::new("规则判定", "Rule decisions", 50.0));
    columns.push(Column::new(
        "规则判定（JSON）",
        "Rule decisions (JSON)",
        30.0,
    ));
    if fields.is_empty() {
        columns.push(Column::new("申请材料", "Application (JSON)", 60.0));
    } else {
        columns.extend(
            fields
                .iter()
                .map(|(_, zh, en)| Column::new(zh.as_str(), en.as_str(), 18.0)),
        );
    }
    columns
}

/// The module hooks' answers of `case` as people read them: per hook, the
/// module and version, eligible or not, the reasons, and the answer's
/// titled parts (the workbench's figures), in Chinese.
fn decisions(state: &AppState, workflow: &Workflow, case: &Case) -> String {
    let Some(outcomes) = case.outcomes.as_object() else {
        return String::new();
    };
    let flow = workflow.flow_of(case).ok().map(|f| &**f);
    outcomes
        .iter()
        .map(|(hook, outcome)| {
            let mut parts = Vec::new();
            match outcome["output"]["eligible"].as_bool() {
                Some(true) => parts.push("符合条件".to_owned()),
                Some(false) => parts.push("不符合条件".to_owned()),
                None => {}
            }
            if let Some(reasons) = outcome["output"]["reasons"].as_array() {
                let reasons: Vec<&str> = reasons.iter().filter_map(Value::as_str).collect();
                if !reasons.is_empty() {
                    parts.push(reasons.join("；"));
                }
            }
            if let Some(schema) =
                crate::pages::workbench::output_schema_of(state, flow, &case.service, hook)
            {
                parts.extend(
                    civitas_web::workbench::figures(
                        schema,
                        &outcome["output"],
                        civitas_web::Lang::Zh,
                    )
                    .into_iter()
                    .map(|(label, value)| format!("{}：{value}", label.zh)),
                );
            }
            format!(
                "{hook}（{}@{}）：{}",
                outcome["module"].as_str().unwrap_or("?"),
                outcome["version"].as_str().unwrap_or("?"),
                parts.join("；")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A case as a row of [`case_columns`].
fn case_row(
    state: &AppState,
    workflow: &Workflow,
    view: &CaseView,
    fields: &[(String, String, String)],
) -> Vec<civitas_export::Cell> {
    use civitas_export::Cell;
    let case = &view.case;
    let time = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros).map_or(Cell::Empty, Cell::Time)
    };
    let place = state
        .tenants()
        .get(case.tenant_path.as_str())
        .map_or_else(|| case.tenant_path.as_str().to_owned(), |t| t.name.clone());
    let mut row = vec![
        Cell::text(case.id.as_str()),
        Cell::text(
            view.flow
                .as_ref()
                .map_or(case.service.as_str(), |f| f.name.as_str()),
        ),
        Cell::text(case.title.as_str()),
        Cell::text(crate::pages::case_view::state_label(case.state).text(civitas_web::Lang::Zh)),
        Cell::optional(view.step_name.as_ref().map(|s| s.zh.as_str())),
        Cell::text(place),
        Cell::text(case.tenant_path.as_str()),
        Cell::text(case.line.as_str()),
        Cell::text(match case.origin.as_str() {
            "application" => "申请",
            "warning" => "预警",
            "entitlement" => "免申即享",
            other => other,
        }),
        Cell::text(case.created_by.as_str()),
        time(case.created_at),
        time(case.updated_at),
        Cell::optional_date(case.step_due_on),
        Cell::optional_date(case.limit_due_on),
        Cell::Flag(case.overdue),
        Cell::Flag(case.supervised),
    ];
    let text = |value: &Value| match value {
        Value::Null => Cell::Empty,
        Value::String(s) => Cell::text(s.as_str()),
        other => Cell::Text(other.to_string()),
    };
    // What the module hooks answered (a warning's rules and levels): as
    // the workbench shows it, then as the list gives it.
    row.push(match decisions(state, workflow, case) {
        read if read.is_empty() => Cell::Empty,
        read => Cell::Text(read),
    });
    row.push(match &case.outcomes {
        Value::Object(o) if o.is_empty() => Cell::Empty,
        other => text(other),
    });
    if fields.is_empty() {
        row.push(text(&case.data));
    } else {
        row.extend(
            fields
                .iter()
                .map(|(name, _, _)| case.data.get(name).map_or(Cell::Empty, text)),
        );
    }
    row
}

/// Files a case: an applicant applies (`case.apply`, services that take
/// applications from their kind of account), staff create one on an
/// applicant's behalf or from a warning (`case.create` in the service's
/// line). Module hooks at submission run first (eligibility).
#[utoipa::path(post, path = "/api/v1/tenants/{path}/cases", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam),
    request_body = CreateCase,
    responses(
        (status = 201, description = "已受理 / Filed", body = CaseView),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或服务不存在 / No such tenant or service", body = ErrorBody),
        (status = 422, description = "材料不符合模式或被规则拒绝 / Invalid document, or refused by the rule", body = ErrorBody),
        (status = 502, description = "业务模块执行失败 / The module failed", body = ErrorBody),
        (status = 503, description = "流程引擎或模块运行环境不可用 / Workflow or module host unavailable", body = ErrorBody)
    ))]
pub(crate) async fn create_case(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiJson(body): ApiJson<CreateCase>,
) -> Result<(StatusCode, Json<CaseView>), ApiError> {
    let (workflow, case) = file_case(&state, &caller, &tenant.path, body).await?;
    let view = case_view(&state, &workflow, case, Shown::to(&caller));
    Ok((StatusCode::CREATED, Json(view)))
}

/// Files `body` at `tenant` for `caller`: an applicant applies (`case.apply`,
/// services that take applications from their kind of account, once
/// verified), staff create (`case.create` in the service's line). The
/// API's `create_case` and the portal's application form both come here.
pub(crate) async fn file_case(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    body: CreateCase,
) -> Result<(Arc<Workflow>, Case), ApiError> {
    let workflow = workflow(state)?;
    let flow = workflow
        .flows()
        .resolve(&body.service, tenant)
        .ok_or_else(|| WorkflowError::UnknownService(body.service.clone()))?
        .clone();
    let (scope, applicant, origin) = match applicant_kind(caller) {
        Some(kind) => {
            let may = flow.applicants.iter().any(|a| {
                matches!(
                    (a, kind),
                    (
                        civitas_workflow::flow::Applicant::Citizen,
                        AccountKind::Citizen
                    ) | (
                        civitas_workflow::flow::Applicant::Enterprise,
                        AccountKind::Enterprise
                    )
                )
            });
            if !may || matches!(body.origin, Some(Origin::Warning | Origin::Entitlement)) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!("本事项不接受此类申请人在线申请：{}", flow.name),
                    format!(
                        "{} does not take applications from this kind of account",
                        flow.name_en
                    ),
                ));
            }
            (
                applicant_scope(state, caller, tenant, &flow.line, "case.apply")?,
                Some(caller.account_id().to_owned()),
                Origin::Application,
            )
        }
        None => (
            caller.authorize(state, tenant, &flow.line, "case.create")?,
            None,
            body.origin.unwrap_or(Origin::Application),
        ),
    };
    // 免申即享 cases come from population records, never from a request.
    if flow.entitlement || origin == Origin::Entitlement {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "entitlement_not_filed_here",
            format!("{}无需申请，由系统根据人口信息自动比对生成", flow.name),
            format!(
                "{} needs no application: the platform files it from population records",
                flow.name_en
            ),
        ));
    }
    let case = workflow
        .create(
            state.db(),
            &scope,
            tenant,
            &who(caller),
            applicant.as_deref(),
            NewCase {
                id: None,
                service: body.service,
                title: body.title,
                data: body.data,
                origin,
            },
        )
        .await?;
    Ok((workflow, case))
}

/// A case as `caller` may read it (`case.read`; an applicant: their own),
/// for the faces.
pub(crate) async fn case_for(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
) -> Result<(Arc<Workflow>, Case, Vec<CaseEvent>), ApiError> {
    let (workflow, mut tx, case) = read_case(state, caller, tenant, None, id).await?;
    let history = workflow
        .history_page(&mut tx, &case, None, civitas_workflow::MAX_HISTORY_PAGE)
        .await?;
    tx.rollback().await?;
    Ok((workflow, case, history.events))
}

/// The newest `limit` cases `caller` may read at `tenant` (an applicant:
/// their own), for the faces.
pub(crate) async fn cases_for(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    limit: u32,
) -> Result<(Arc<Workflow>, Vec<Case>), ApiError> {
    let workflow = workflow(state)?;
    let (scope, viewer) = case_scope(state, caller, tenant, None, "case.read")?;
    let mut tx = state.db().begin_read(&scope).await?;
    let cases = workflow
        .list(
            &mut tx,
            &viewer,
            &CaseFilter {
                service: None,
                state: None,
                overdue: None,
                before: None,
                limit,
            },
        )
        .await?;
    tx.rollback().await?;
    Ok((workflow, cases))
}

/// One case, with its step's due date and allowed actions (`case.read` in
/// its line; applicants: their own).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/cases/{id}", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, CaseParam, LineQuery),
    responses(
        (status = 200, description = "办件 / The case", body = CaseView),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或办件不存在 / No such tenant or case", body = ErrorBody)
    ))]
pub(crate) async fn get_case(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(CaseParam { id }): Path<CaseParam>,
    ApiQuery(query): ApiQuery<LineQuery>,
) -> Result<Json<CaseView>, ApiError> {
    let (workflow, tx, case) =
        read_case(&state, &caller, &tenant.path, query.line.as_deref(), &id).await?;
    tx.rollback().await?;
    Ok(Json(case_view(&state, &workflow, case, Shown::to(&caller))))
}

/// Why a staff member reads an application's personal data in full.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevealCase {
    /// 理由（记入审计，不超过 500 字）/ Why (recorded in the audit trail; at most 500 characters).
    #[schema(
        example = "核对出生日期与户籍证明是否一致",
        min_length = 1,
        max_length = 500
    )]
    reason: String,
    /// Staff: the line (default: the caller's own and every other line their grants name at the tenant).
    #[schema(example = "civil-affairs")]
    line: Option<String>,
}

/// The case with its application's personal data in full (`case.reveal` in
/// its line: reviewers), recorded in the audit trail
/// (`personal_data.reveal`, with the fields and the reason) in the same
/// transaction. Applicants read their own cases in full without this.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/cases/{id}/reveal", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, CaseParam),
    request_body = RevealCase,
    responses(
        (status = 200, description = "办件（个人信息完整，已审计）/ The case, personal data in full (audited)", body = CaseView),
        (status = 403, description = "无权查看完整个人信息 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或办件不存在 / No such tenant or case", body = ErrorBody),
        (status = 422, description = "须说明理由 / A reason is required", body = ErrorBody)
    ))]
pub(crate) async fn reveal(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(CaseParam { id }): Path<CaseParam>,
    ApiJson(body): ApiJson<RevealCase>,
) -> Result<Json<CaseView>, ApiError> {
    let (workflow, case) = reveal_in(
        &state,
        &caller,
        &tenant.path,
        &id,
        body.line.as_deref(),
        &body.reason,
    )
    .await?;
    Ok(Json(case_view(&state, &workflow, case, Shown::InFull)))
}

/// Whether `caller` may read `case`'s personal data in full at `tenant`
/// (`case.reveal` in the case's line), as the workbench offers it.
pub(crate) fn may_reveal(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    case: &Case,
) -> bool {
    applicant_kind(caller).is_none()
        && caller
            .authorize(state, tenant, &case.line, "case.reveal")
            .is_ok()
}

/// Case `id` with its personal data to be shown in full, the reveal
/// recorded with `reason` (`case.reveal`), as the API and the workbench
/// reveal.
pub(crate) async fn reveal_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
    line: Option<&str>,
    reason: &str,
) -> Result<(Arc<Workflow>, Case), ApiError> {
    if applicant_kind(caller).is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "申请人查看本人办件不脱敏，无需此操作",
            "Applicants read their own cases in full; there is nothing to reveal",
        ));
    }
    let workflow = workflow(state)?;
    let (scope, viewer) = case_scope(state, caller, tenant, line, "case.reveal")?;
    // The audit record names the personal fields the case holds: what
    // was shown.
    let personal = |case: &Case| -> Vec<String> {
        let declared = personal_of(state, &case.service);
        case.data
            .as_object()
            .map(|data| {
                data.iter()
                    .filter(|(name, value)| {
                        !value.is_null() && declared.as_ref().is_none_or(|d| d.contains_key(*name))
                    })
                    .map(|(name, _)| name.clone())
                    .collect()
            })
            .unwrap_or_default()
    };
    let case = workflow
        .reveal(
            state.db(),
            &scope,
            &viewer,
            &who(caller),
            id,
            personal,
            reason,
        )
        .await?;
    Ok((workflow, case))
}

/// Acts on a case: `approve`, `return`, `reject`, `transfer`, `pause`,
/// `resume`, `extend` by the step's actors (`case.act`, and the step's role
/// at its place: `step.ROLE`); `withdraw` and `resubmit` by the applicant,
/// or for a staff-created case its creator.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/cases/{id}/actions", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, CaseParam),
    request_body = ActBody,
    responses(
        (status = 200, description = "办件（变更后）/ The case afterwards", body = CaseView),
        (status = 403, description = "无权或不是您的环节 / Not allowed, or not your step", body = ErrorBody),
        (status = 404, description = "租户或办件不存在 / No such tenant or case", body = ErrorBody),
        (status = 409, description = "版本冲突或当前不允许此操作 / Someone acted first, or not allowed now", body = ErrorBody),
        (status = 422, description = "参数无效 / Invalid request", body = ErrorBody),
        (status = 502, description = "业务模块执行失败 / The module failed", body = ErrorBody),
        (status = 503, description = "流程引擎不可用 / Workflow unavailable", body = ErrorBody)
    ))]
pub(crate) async fn act(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(CaseParam { id }): Path<CaseParam>,
    ApiJson(body): ApiJson<ActBody>,
) -> Result<Json<CaseView>, ApiError> {
    let (workflow, case) = act_on(
        &state,
        &caller,
        &tenant.path,
        &id,
        ActRequest {
            action: body.action,
            version: body.version,
            reason: body.reason,
            to_step: body.to_step,
            to_tenant: body.to_tenant,
            days: body.days,
            data: body.data,
        },
    )
    .await?;
    Ok(Json(case_view(&state, &workflow, case, Shown::to(&caller))))
}

/// `caller` acts on case `id` at `tenant` (`case.act`; a step's action also
/// needs the step's role at its place; applicants only withdraw and
/// resubmit their own). The API's `act` and the faces come here.
pub(crate) async fn act_on(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
    request: ActRequest,
) -> Result<(Arc<Workflow>, Case), ApiError> {
    let workflow = workflow(state)?;
    let (scope, viewer) = case_scope(state, caller, tenant, None, "case.act")?;
    let case = workflow
        .act(
            state.db(),
            &scope,
            &viewer,
            &who(caller),
            id,
            request,
            |actor_tenant: &TenantPath, line: &str, role: &str| {
                if applicant_kind(caller).is_some() {
                    return Err(());
                }
                caller
                    .authorize(state, actor_tenant, line, &format!("step.{role}"))
                    .map_err(|_| ())
            },
        )
        .await?;
    Ok((workflow, case))
}

/// Who did what when, with reasons and module versions (`case.read`;
/// applicants: their own cases).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/cases/{id}/history", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, CaseParam, HistoryQuery),
    responses(
        (status = 200, description = "办理历史 / The history", body = History),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或办件不存在 / No such tenant or case", body = ErrorBody)
    ))]
pub(crate) async fn history(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(CaseParam { id }): Path<CaseParam>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    let limit = paging::limit(query.limit)?;
    let after = paging::after(query.after.as_deref(), |text| {
        text.parse::<i64>().ok().filter(|seq| *seq >= 1)
    })?;
    let (workflow, mut tx, case) =
        read_case(&state, &caller, &tenant.path, query.line.as_deref(), &id).await?;
    let page = workflow.history_page(&mut tx, &case, after, limit).await?;
    tx.rollback().await?;
    Ok(Json(History {
        case_id: case.id,
        history: page.events,
        next: page.next.map(|seq| seq.to_string()),
    }))
}

/// The attachments' metadata (`case.read`; applicants: their own cases).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/cases/{id}/attachments", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, CaseParam, LineQuery),
    responses(
        (status = 200, description = "附件 / The attachments", body = Attachments),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或办件不存在 / No such tenant or case", body = ErrorBody)
    ))]
pub(crate) async fn list_attachments(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(CaseParam { id }): Path<CaseParam>,
    ApiQuery(query): ApiQuery<LineQuery>,
) -> Result<Json<Attachments>, ApiError> {
    let (workflow, mut tx, case) =
        read_case(&state, &caller, &tenant.path, query.line.as_deref(), &id).await?;
    let attachments = workflow.attachments(&mut tx, &case).await?;
    tx.rollback().await?;
    Ok(Json(Attachments {
        case_id: case.id,
        attachments,
    }))
}

/// Records an attachment's metadata (`case.act` in the case's line;
/// applicants: their own open cases).
#[utoipa::path(post, path = "/api/v1/tenants/{path}/cases/{id}/attachments", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, CaseParam),
    request_body = NewAttachment,
    responses(
        (status = 201, description = "已添加 / Added", body = Attachment),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或办件不存在 / No such tenant or case", body = ErrorBody),
        (status = 409, description = "办件已办结 / The case is finished", body = ErrorBody),
        (status = 422, description = "参数无效 / Invalid request", body = ErrorBody)
    ))]
pub(crate) async fn attach(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(CaseParam { id }): Path<CaseParam>,
    ApiJson(body): ApiJson<NewAttachment>,
) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    let workflow = workflow(&state)?;
    let (scope, viewer) = case_scope(&state, &caller, &tenant.path, None, "case.act")?;
    let attachment = workflow
        .attach(state.db(), &scope, &viewer, &who(&caller), &id, body)
        .await?;
    Ok((StatusCode::CREATED, Json(attachment)))
}

/// A document to upload: one file, and no other field.
#[derive(Debug, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the multipart body for OpenAPI
pub(crate) struct DocumentUpload {
    /// 申请材料：PDF、OFD、JPEG 或 PNG，不超过 10 MB（按内容判断类型）/ A PDF, OFD, JPEG or PNG file of at most 10 MB (the type is read from its content).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// How a document that cannot be taken or read is answered.
pub(crate) fn document_error(error: civitas_documents::DocumentError) -> ApiError {
    use civitas_documents::DocumentError;
    let text = error.to_string();
    let (zh, en) = text
        .split_once(" / ")
        .map_or((text.clone(), text.clone()), |(zh, en)| {
            (zh.to_owned(), en.to_owned())
        });
    match error {
        DocumentError::TooLarge(_) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "document_too_large", zh, en)
        }
        DocumentError::Empty | DocumentError::Unsupported => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_document", zh, en)
        }
        DocumentError::NotFound(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "document_not_found", zh, en)
        }
        DocumentError::Altered(_) => {
            tracing::error!(%error, "a stored document no longer has its digest");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "data_corrupt", zh, en)
        }
        DocumentError::Store(_) => {
            tracing::error!(%error, "the document store failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "documents_unavailable",
                "申请材料存储暂不可用",
                "The document store is unavailable",
            )
        }
    }
}

/// Keeps `bytes` (a file named `name`) as a document of the case `id` for
/// `caller` (`case.act` in its line; applicants: their own open cases), as
/// the API and the portal upload: the case is found first, so nothing is
/// stored for a case the caller cannot reach.
pub(crate) async fn upload_for(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
    name: &str,
    bytes: bytes::Bytes,
) -> Result<Attachment, ApiError> {
    let kind = civitas_documents::inspect(name, &bytes).map_err(document_error)?;
    let workflow = workflow(state)?;
    let store = state.documents()?;
    let (scope, viewer) = case_scope(state, caller, tenant, None, "case.act")?;
    // Open and under the cap before anything is stored: a full or finished
    // case leaves nothing behind in the store.
    let mut tx = state.db().begin_read(&scope).await?;
    workflow.takes_attachments(&mut tx, &viewer, id).await?;
    tx.rollback().await?;
    let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    let sm3 = store.put(bytes).await.map_err(document_error)?;
    let attachment = workflow
        .attach_document(
            state.db(),
            &scope,
            &viewer,
            &who(caller),
            id,
            NewAttachment {
                name: name.to_owned(),
                media_type: kind.media_type().to_owned(),
                size,
                sm3,
            },
        )
        .await?;
    Ok(attachment)
}

/// Where `caller` may transfer the case `id` from its current step, for
/// the workbench.
pub(crate) async fn transfer_targets_for(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
) -> Result<Vec<TenantPath>, ApiError> {
    let (workflow, mut tx, case) = read_case(state, caller, tenant, None, id).await?;
    let targets = workflow.transfer_targets(&mut tx, &case).await?;
    tx.rollback().await?;
    Ok(targets)
}

/// Whether `caller` may upload documents to cases at `tenant` (decided
/// before an upload's body is read).
pub(crate) fn may_upload(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
) -> Result<(), ApiError> {
    case_scope(state, caller, tenant, None, "case.act").map(|_| ())
}

/// The attachments of the case `id` that `caller` may read, for the faces.
pub(crate) async fn attachments_for(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
) -> Result<Vec<Attachment>, ApiError> {
    let (workflow, mut tx, case) = read_case(state, caller, tenant, None, id).await?;
    let attachments = workflow.attachments(&mut tx, &case).await?;
    tx.rollback().await?;
    Ok(attachments)
}

/// The attachment `attachment` of the case `id` and its bytes, checked
/// against its SM3 digest, for `caller` (`case.read`; applicants: their own
/// cases), as the API and the faces download.
pub(crate) async fn document_for(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
    attachment: &str,
) -> Result<(Attachment, bytes::Bytes), ApiError> {
    // Only what was uploaded here is served: metadata naming a digest
    // opens nothing.
    let found = attachments_for(state, caller, tenant, id)
        .await?
        .into_iter()
        .find(|a| a.id == attachment && a.stored)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "attachment_not_found",
                "该办件没有此附件",
                "The case has no such attachment",
            )
        })?;
    let bytes = state
        .documents()?
        .get(&found.sm3)
        .await
        .map_err(document_error)?;
    Ok((found, bytes))
}

/// A document as a download: its stored type when it is one of the kinds
/// taken (else bytes), never shown inline, never cached, never sniffed.
pub(crate) fn document_response(attachment: &Attachment, bytes: bytes::Bytes) -> Response {
    use axum::http::header;
    let media_type = match attachment.media_type.as_str() {
        t @ ("application/pdf" | "application/ofd" | "image/jpeg" | "image/png") => t,
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, media_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                crate::export::attachment("document", &attachment.name),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_owned(),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// Uploads a supporting document to a case (multipart, one `file` field):
/// its type is read from its bytes (PDF, OFD, JPEG, PNG), at most 10 MB; it
/// is stored once by its SM3 digest and recorded as an attachment
/// (`case.act` in the case's line; applicants: their own open cases).
#[utoipa::path(post, path = "/api/v1/tenants/{path}/cases/{id}/documents", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, CaseParam),
    request_body(content = DocumentUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "已上传 / Uploaded", body = Attachment),
        (status = 400, description = "不是含 file 字段的 multipart 表单 / Not a multipart form with a file field", body = ErrorBody),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或办件不存在 / No such tenant or case", body = ErrorBody),
        (status = 409, description = "办件已办结或附件已满 / The case is finished or has all the attachments it may", body = ErrorBody),
        (status = 413, description = "超过 10 MB / Larger than 10 MB", body = ErrorBody),
        (status = 422, description = "不是 PDF、OFD、JPEG 或 PNG / Not a PDF, OFD, JPEG or PNG", body = ErrorBody)
    ))]
pub(crate) async fn upload_document(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(CaseParam { id }): Path<CaseParam>,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    let not_multipart = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_upload",
            "须为 multipart/form-data，含一个 file 字段",
            "Send multipart/form-data with one file field",
        )
    };
    // Decided before the body is read: who may not upload learns nothing
    // from how the upload is formed.
    may_upload(&state, &caller, &tenant.path)?;
    let mut multipart = multipart.map_err(|_| not_multipart())?;
    // The whole form is read before anything is stored: a form with another
    // field, or a second file, is refused rather than partly taken.
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| upload_error(&e))? {
        if field.name() != Some("file") || file.is_some() {
            return Err(not_multipart());
        }
        let name = field.file_name().unwrap_or("document").to_owned();
        let bytes = field.bytes().await.map_err(|e| upload_error(&e))?;
        file = Some((name, bytes));
    }
    let (name, bytes) = file.ok_or_else(not_multipart)?;
    let attachment = upload_for(&state, &caller, &tenant.path, &id, &name, bytes).await?;
    Ok((StatusCode::CREATED, Json(attachment)))
}

/// A multipart body that broke off or ran over the limit.
pub(crate) fn upload_error(error: &axum::extract::multipart::MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        document_error(civitas_documents::DocumentError::TooLarge(
            civitas_documents::MAX_DOCUMENT_BYTES + 1,
        ))
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_upload",
            format!("上传的表单无法读取：{error}"),
            format!("The uploaded form cannot be read: {error}"),
        )
    }
}

/// An attachment in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct AttachmentParam {
    /// 办件编号 / The case id.
    id: String,
    /// 附件编号 / The attachment id.
    attachment: String,
}

/// Downloads an uploaded document, checked against its SM3 digest
/// (`case.read`; applicants: their own cases).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/cases/{id}/attachments/{attachment}/content", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, AttachmentParam),
    responses(
        (status = 200, description = "文件 / The file", content_type = "application/octet-stream"),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "办件、附件或文件不存在 / No such case, attachment or stored file", body = ErrorBody)
    ))]
pub(crate) async fn download_document(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(AttachmentParam { id, attachment }): Path<AttachmentParam>,
) -> Result<Response, ApiError> {
    let (found, bytes) = document_for(&state, &caller, &tenant.path, &id, &attachment).await?;
    Ok(document_response(&found, bytes))
}

/// A rating to give.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateCase {
    /// 评分 1（非常不满意）–5（非常满意）/ 1 (very dissatisfied) to 5 (very satisfied).
    #[schema(minimum = 1, maximum = 5, example = 5)]
    pub(crate) score: i64,
    /// 评价内容（差评 1–2 必填，最多 500 字）/ A comment (required for 1 or 2; at most 500 characters).
    #[serde(default)]
    #[schema(example = "办理很快，工作人员耐心")]
    pub(crate) comment: String,
}

/// `caller`, the applicant of the finished case `id`, rates it (好差评),
/// as the API and the portal rate.
pub(crate) async fn rate_for(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
    rating: &RateCase,
) -> Result<Rating, ApiError> {
    let workflow = workflow(state)?;
    if applicant_kind(caller).is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "只有申请人可以评价办件",
            "Only the applicant rates a case",
        ));
    }
    let (scope, viewer) = case_scope(state, caller, tenant, None, "case.own")?;
    Ok(workflow
        .rate(
            state.db(),
            &scope,
            &viewer,
            &who(caller),
            id,
            rating.score,
            &rating.comment,
        )
        .await?)
}

/// The rating of the case `id`, if it has one, for whoever may read the
/// case.
pub(crate) async fn rating_for(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
) -> Result<Option<Rating>, ApiError> {
    let (workflow, mut tx, case) = read_case(state, caller, tenant, None, id).await?;
    let rating = workflow.rating(&mut tx, &case).await?;
    tx.rollback().await?;
    Ok(rating)
}

/// Rates a finished case (好差评): its applicant only, once, 1–5 with a
/// comment (required for 1 or 2); recorded in the case's history, the audit
/// log and the dashboards.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/cases/{id}/rating", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, CaseParam),
    request_body = RateCase,
    responses(
        (status = 201, description = "已评价 / Rated", body = Rating),
        (status = 403, description = "不是申请人 / Not the applicant", body = ErrorBody),
        (status = 404, description = "租户或办件不存在 / No such tenant or case", body = ErrorBody),
        (status = 409, description = "未办结或已评价 / Not finished, or rated already", body = ErrorBody),
        (status = 422, description = "评分或评价内容无效 / Invalid score or comment", body = ErrorBody)
    ))]
pub(crate) async fn rate_case(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(CaseParam { id }): Path<CaseParam>,
    ApiJson(body): ApiJson<RateCase>,
) -> Result<(StatusCode, Json<Rating>), ApiError> {
    let rating = rate_for(&state, &caller, &tenant.path, &id, &body).await?;
    Ok((StatusCode::CREATED, Json(rating)))
}

/// A case's rating (`case.read`; applicants: their own cases); 404
/// `rating_not_found` before it is rated.
#[utoipa::path(get, path = "/api/v1/tenants/{path}/cases/{id}/rating", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, CaseParam),
    responses(
        (status = 200, description = "评价 / The rating", body = Rating),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "办件不存在或未评价 / No such case, or not rated", body = ErrorBody)
    ))]
pub(crate) async fn get_rating(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(CaseParam { id }): Path<CaseParam>,
) -> Result<Json<Rating>, ApiError> {
    rating_for(&state, &caller, &tenant.path, &id)
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "rating_not_found",
                "该办件尚未评价",
                "The case is not rated",
            )
        })
}

/// Which notifications to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct NotificationQuery {
    /// The line (default: the caller's own).
    #[param(example = "civil-affairs")]
    line: Option<String>,
    /// The previous page's `next`.
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// The notifications addressed to `tenant`'s subtree in `caller`'s line
/// (or `line`), newest first (`case.read`), as the API and the workbench
/// read them.
pub(crate) async fn notifications_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    line: Option<&str>,
    after: Option<civitas_workflow::timers::NotificationCursor>,
    limit: u32,
) -> Result<civitas_workflow::timers::NotificationPage, ApiError> {
    let line = caller.line_for(line).to_owned();
    let scope = caller.authorize(state, tenant, &line, "case.read")?;
    let every_line = crate::access::every_line(&line);
    let mut tx = state.db().begin_read(&scope).await?;
    let page = civitas_workflow::timers::notifications(
        &mut tx,
        &civitas_workflow::timers::NotificationFilter {
            case_id: None,
            line: (!every_line).then_some(line),
            after,
            limit,
        },
    )
    .await?;
    tx.rollback().await?;
    Ok(page)
}

/// Reminders, overdue notices and supervision (督办) notices addressed to a
/// subtree (`case.read` in the line; staff only).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/notifications", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, NotificationQuery),
    responses(
        (status = 200, description = "通知 / The notifications", body = Notifications),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn notifications(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<NotificationQuery>,
) -> Result<Json<Notifications>, ApiError> {
    if applicant_kind(&caller).is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "申请人无权查看工作通知",
            "Applicants do not read staff notifications",
        ));
    }
    let limit = paging::limit(query.limit)?;
    let after = paging::after(
        query.after.as_deref(),
        civitas_workflow::timers::NotificationCursor::parse,
    )?;
    let page = notifications_in(
        &state,
        &caller,
        &tenant.path,
        query.line.as_deref(),
        after,
        limit,
    )
    .await?;
    Ok(Json(Notifications {
        notifications: page.notifications,
        next: page.next,
    }))
}

/// Inbox options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct InboxQuery {
    /// Only this service.
    #[param(example = "civil-affairs/meal-subsidy")]
    service: Option<String>,
    /// Only overdue (true) or not yet due (false) tasks.
    overdue: Option<bool>,
    /// The previous page's `next`.
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// The open tasks waiting for the caller (at the tenants of their grants,
/// in their lines, for roles their grants include), earliest due first,
/// with days left and an overdue flag.
#[utoipa::path(get, path = "/api/v1/inbox", tag = "cases",
    security(("bearer" = [])),
    params(InboxQuery),
    responses(
        (status = 200, description = "待办 / The inbox", body = InboxPage),
        (status = 503, description = "流程引擎不可用 / Workflow unavailable", body = ErrorBody)
    ))]
pub(crate) async fn inbox(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<InboxQuery>,
) -> Result<Json<InboxPage>, ApiError> {
    let limit = paging::limit(query.limit)?;
    let after = paging::after(
        query.after.as_deref(),
        civitas_workflow::inbox::parse_cursor,
    )?;
    let page = inbox_for(
        &state,
        &caller,
        InboxFilter {
            service: query.service,
            overdue: query.overdue,
            after,
            limit,
        },
    )
    .await?;
    Ok(Json(page))
}

/// `caller`'s tasks: every queue a grant they still hold opens, earliest
/// due first. The API's `inbox` and the workbench come here.
pub(crate) async fn inbox_for(
    state: &AppState,
    caller: &Caller,
    filter: InboxFilter,
) -> Result<InboxPage, ApiError> {
    let workflow = workflow(state)?;
    let queues = queues_of(state, caller)?;
    Ok(workflow
        .inbox(
            state.db(),
            &queues,
            &filter,
            civitas_workflow::today_in_china(),
        )
        .await?)
}

/// The queues of every grant `caller` still holds, each as an authorised
/// scope with the roles its grant's role includes.
fn queues_of(state: &AppState, caller: &Caller) -> Result<Vec<Queue>, ApiError> {
    // The grants and the roles each includes, read under one guard that is
    // released before authorizing (which takes the index again).
    let grants: Vec<(civitas_authz::Grant, Vec<String>)> = {
        let authorizer = state.authorizer()?;
        let permissions = authorizer.permissions();
        authorizer
            .grants_of(caller.account_id())
            .into_iter()
            .map(|grant| {
                let roles = permissions
                    .roles()
                    .filter(|r| permissions.role_may(&grant.role, r))
                    .map(str::to_owned)
                    .collect();
                (grant, roles)
            })
            .collect()
    };
    let mut queues = Vec::new();
    for (grant, roles) in grants {
        // Only grants whose scope the caller still holds (an allow decision
        // per grant's tenant and line).
        let Ok(scope) = caller.authorize(state, &grant.tenant, &grant.line, &grant.role) else {
            continue;
        };
        queues.push(Queue {
            scope,
            line: grant.line,
            roles,
        });
    }
    Ok(queues)
}

/// Which tasks to export: the inbox's filters, without paging.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct InboxExportQuery {
    /// Only this service.
    #[param(example = "civil-affairs/meal-subsidy")]
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    /// Only overdue (true) or not yet due (false) tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    overdue: Option<bool>,
}

/// Every task of the caller's inbox with the same filters, earliest due
/// first, as an `.xlsx` workbook; audited `inbox.export` at the tenant of
/// each grant whose queue it read, with that place's rows.
#[utoipa::path(get, path = "/api/v1/inbox/export", tag = "cases",
    security(("bearer" = [])),
    params(InboxExportQuery),
    responses(
        (status = 200, description = "待办导出（xlsx，已审计）/ The inbox as a workbook, audited", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers(
                ("x-export-rows" = u32, description = "行数 / Rows exported"),
                ("x-export-sm3" = String, description = "文件的 SM3（与审计记录一致）/ The file's SM3, as audited")
            )),
        (status = 422, description = "超过一个工作表的行数上限 / More rows than a worksheet holds", body = ErrorBody),
        (status = 405, description = "导出请使用 GET（HEAD 不导出）/ Exports are asked for with GET, not HEAD", body = ErrorBody),
        (status = 503, description = "其他导出正在生成（export_busy），或流程引擎不可用 / Other exports are being written (export_busy), or the workflow engine is unavailable", body = ErrorBody)
    ))]
pub(crate) async fn export_inbox(
    State(state): State<AppState>,
    method: axum::http::Method,
    caller: Caller,
    ApiQuery(query): ApiQuery<InboxExportQuery>,
) -> Result<Response, ApiError> {
    crate::export::not_head(&method)?;
    export_inbox_in(&state, &caller, query).await
}

/// What `export_inbox` answers, for `caller`: the API's route and the
/// workbench's download link come here.
pub(crate) async fn export_inbox_in(
    state: &AppState,
    caller: &Caller,
    query: InboxExportQuery,
) -> Result<Response, ApiError> {
    use civitas_export::{Cell, Column};
    let _turn = crate::export::turn()?;
    let workflow = workflow(state)?;
    // Queues with no role to wait for are not read (as the inbox skips
    // them).
    let queues: Vec<Queue> = queues_of(state, caller)?
        .into_iter()
        .filter(|q| !q.roles.is_empty())
        .collect();
    // The file is named after the first grant's place (the tree's first
    // place for a caller with none, whose inbox is empty: nothing read,
    // nothing recorded).
    let named = queues.first().map_or_else(
        || state.tenants().records().first().map(|t| t.path.clone()),
        |q| Some(q.scope.path().clone()),
    );
    let mut sheet = crate::export::sheet(
        state,
        INBOX_EXPORT,
        vec![
            Column::new("办件编号", "Case number", 38.0),
            Column::new("事项", "Service", 24.0),
            Column::new("标题", "Title", 30.0),
            Column::new("环节", "Step", 16.0),
            Column::new("属地", "Place", 14.0),
            Column::new("属地代码", "Place code", 24.0),
            Column::new("待办岗位", "Role", 16.0),
            Column::new("条线", "Line", 18.0),
            Column::new("到期日", "Due on", 12.0),
            Column::new("剩余天数", "Days left", 10.0),
            Column::new("计时方式", "Counted in", 10.0),
            Column::new("逾期", "Overdue", 8.0),
        ],
    )?;
    let today = civitas_workflow::today_in_china();
    let mut counted = vec![0u32; queues.len()];
    let mut after = None;
    loop {
        let page = workflow
            .inbox(
                state.db(),
                &queues,
                &InboxFilter {
                    service: query.service.clone(),
                    overdue: query.overdue,
                    after,
                    limit: crate::export::PAGE,
                },
                today,
            )
            .await?;
        for item in page.items {
            // The row is the place's whose queue it came from: the task
            // waits there, in the queue's line, for one of its roles.
            if let Some(count) = queues
                .iter()
                .position(|q| {
                    q.scope.path().as_str() == item.actor_tenant
                        && (q.line == item.line || crate::access::every_line(&q.line))
                        && q.roles.contains(&item.role)
                })
                .and_then(|i| counted.get_mut(i))
            {
                *count += 1;
            }
            let flow = TenantPath::parse(&item.tenant)
                .ok()
                .and_then(|place| workflow.flows().resolve(&item.service, &place));
            let step = flow
                .and_then(|f| f.step(&item.step))
                .map_or_else(|| item.step.clone(), |s| s.name.clone());
            let place = state
                .tenants()
                .get(&item.tenant)
                .map_or_else(|| item.tenant.clone(), |t| t.name.clone());
            sheet
                .row(vec![
                    Cell::Text(item.case_id),
                    Cell::Text(flow.map_or_else(|| item.service.clone(), |f| f.name.clone())),
                    Cell::Text(item.title),
                    Cell::Text(step),
                    Cell::Text(place),
                    Cell::Text(item.tenant),
                    Cell::Text(item.role),
                    Cell::Text(item.line),
                    Cell::optional_date(item.due_on),
                    item.days_left.map_or(Cell::Empty, Cell::Integer),
                    Cell::text(if item.unit == "working" {
                        "工作日"
                    } else {
                        "自然日"
                    }),
                    Cell::Flag(item.overdue),
                ])
                .map_err(crate::export::export_error)?;
        }
        match page.next.as_deref() {
            None => break,
            Some(next) => match civitas_workflow::inbox::parse_cursor(next) {
                Some(next) => after = Some(next),
                // The engine's own cursor: not reading it would end the
                // file early without saying so.
                None => {
                    tracing::error!(cursor = next, "the inbox's cursor does not parse");
                    return Err(ApiError::internal());
                }
            },
        }
    }
    // One record per place read, its queues' rows summed.
    let mut places: Vec<(&TenantScope, u32)> = Vec::new();
    for (queue, rows) in queues.iter().zip(counted) {
        match places
            .iter_mut()
            .find(|(s, _)| s.path() == queue.scope.path())
        {
            Some((_, sum)) => *sum += rows,
            None => places.push((&queue.scope, rows)),
        }
    }
    let filter = serde_json::to_value(&query).unwrap_or(Value::Null);
    let Some(named) = named else {
        return Err(ApiError::internal());
    };
    crate::export::respond_across(state, caller, &places, &named, INBOX_EXPORT, filter, sheet).await
}

/// An inbox export.
const INBOX_EXPORT: crate::export::Kind = crate::export::Kind {
    action: "inbox.export",
    zh: "待办",
    en: "Inbox",
};

/// Every flow and tenant variant: steps, who acts where, deadlines,
/// hooks (public metadata, like the tenant tree).
#[utoipa::path(get, path = "/api/v1/flows", tag = "cases",
    responses(
        (status = 200, description = "流程 / The flows", body = FlowList),
        (status = 503, description = "流程引擎不可用 / Workflow unavailable", body = ErrorBody)
    ))]
pub(crate) async fn flows(State(state): State<AppState>) -> Result<Json<FlowList>, ApiError> {
    let workflow = workflow(&state)?;
    let flows = workflow
        .flows()
        .flows()
        .into_iter()
        .map(|f| f.as_ref().clone())
        .collect();
    Ok(Json(FlowList { flows }))
}
