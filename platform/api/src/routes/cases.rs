//! Cases, the inbox and flows.
//!
//! Tenant routes (under the tenant catch-all, so a tenant may be a code or
//! slug path with slashes):
//!
//! ```text
//! POST /api/v1/tenants/{path}/cases                      create (apply, or a lead from a warning)
//! GET  /api/v1/tenants/{path}/cases                      list (staff: subtree and line; applicants: their own)
//! GET  /api/v1/tenants/{path}/cases/{id}                 read (with the open tasks' due date)
//! POST /api/v1/tenants/{path}/cases/{id}/actions         act: approve, return, reject, transfer, pause, resume, extend, withdraw, resubmit
//! GET  /api/v1/tenants/{path}/cases/{id}/history         who did what when, with reasons and module versions
//! GET|POST /api/v1/tenants/{path}/cases/{id}/attachments attachment metadata
//! GET  /api/v1/tenants/{path}/notifications              reminders, overdue and supervision notices
//! GET  /api/v1/inbox                                     what waits for the caller
//! GET  /api/v1/flows                                     every flow and variant
//! ```

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use civitas_identity::AccountKind;
use civitas_storage::{AccessRequest, Decider, TenantScope};
use civitas_tenancy::TenantPath;
use civitas_workflow::inbox::{InboxFilter, InboxPage, Queue};
use civitas_workflow::{
    ActRequest, Action, Case, CaseFilter, CaseState, NewAttachment, NewCase, Origin, Viewer, Who,
    Workflow, WorkflowError,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::modules::caller_and_body;
use crate::access::{self, Caller};
use crate::error::ApiError;
use crate::{ApiQuery, AppState};

impl From<WorkflowError> for ApiError {
    fn from(error: WorkflowError) -> ApiError {
        match error {
            WorkflowError::Module(e) => e.into(),
            error => ApiError::from_library(error.status(), error.code(), &error),
        }
    }
}

/// Applicants act on their own cases without a grant: a citizen or an
/// enterprise may file (`case.apply`) and read and act on what it filed
/// (`case.own`) at any tenant. Queries then filter by the applicant.
struct ApplicantRight {
    kind: AccountKind,
}

impl Decider for ApplicantRight {
    fn allows(&self, request: &AccessRequest<'_>) -> bool {
        matches!(self.kind, AccountKind::Citizen | AccountKind::Enterprise)
            && matches!(request.action, "case.apply" | "case.own")
    }
}

fn applicant_kind(caller: &Caller) -> Option<AccountKind> {
    match caller {
        Caller::Person(claims)
            if matches!(claims.kind, AccountKind::Citizen | AccountKind::Enterprise) =>
        {
            Some(claims.kind)
        }
        _ => None,
    }
}

fn workflow(state: &AppState) -> Result<Arc<Workflow>, ApiError> {
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

/// The scope and view a read goes through: an applicant's own cases, or
/// staff's cases of one line (`case.read`).
fn read_scope(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    line: Option<&str>,
) -> Result<(TenantScope, Viewer), ApiError> {
    if let Some(kind) = applicant_kind(caller) {
        let scope = TenantScope::authorize(
            &ApplicantRight { kind },
            &AccessRequest {
                principal: caller.account_id(),
                tenant,
                line: civitas_authz::NO_LINE,
                action: "case.own",
            },
        )
        .map_err(|_| ApiError::internal())?;
        return Ok((
            scope,
            Viewer::Applicant {
                account: caller.account_id().to_owned(),
            },
        ));
    }
    let line = caller.line_for(line).to_owned();
    let scope = caller.authorize(state, tenant, &line, "case.read")?;
    Ok((scope, Viewer::Staff { line }))
}

/// What a tenant case path names.
#[derive(Debug, PartialEq, Eq)]
enum CaseRoute {
    Cases(String),
    Case(String, String),
    Actions(String, String),
    History(String, String),
    Attachments(String, String),
    Notifications(String),
}

fn parse(rest: &str) -> Option<CaseRoute> {
    if let Some(tenant) = rest.strip_suffix("/notifications") {
        return Some(CaseRoute::Notifications(tenant.to_owned()));
    }
    if let Some(tenant) = rest.strip_suffix("/cases") {
        return Some(CaseRoute::Cases(tenant.to_owned()));
    }
    let (tenant, tail) = rest.rsplit_once("/cases/")?;
    let mut parts = tail.split('/');
    let id = parts.next().filter(|id| !id.is_empty())?.to_owned();
    let tenant = tenant.to_owned();
    let route = match parts.next() {
        None => CaseRoute::Case(tenant, id),
        Some("actions") => CaseRoute::Actions(tenant, id),
        Some("history") => CaseRoute::History(tenant, id),
        Some("attachments") => CaseRoute::Attachments(tenant, id),
        Some(_) => return None,
    };
    parts.next().is_none().then_some(route)
}

/// Whether the catch-all path is a case route.
pub(crate) fn is_case_route(rest: &str) -> bool {
    parse(rest).is_some()
}

/// A new case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateCase {
    service: String,
    #[serde(default)]
    title: Option<String>,
    data: Value,
    /// Staff only: `application` (on an applicant's behalf) or `warning`.
    #[serde(default)]
    origin: Option<Origin>,
}

/// An action.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActBody {
    action: Action,
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    to_step: Option<String>,
    #[serde(default)]
    to_tenant: Option<String>,
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    data: Option<Value>,
}

/// Case list and read options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseQuery {
    #[serde(default)]
    line: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    state: Option<CaseState>,
    #[serde(default)]
    overdue: Option<bool>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

fn case_json(workflow: &Workflow, case: &Case) -> Value {
    let flow = workflow.flow_of(case).ok();
    let step = case
        .step
        .as_deref()
        .and_then(|s| flow.and_then(|f| f.step(s)));
    let mut value = serde_json::to_value(case).unwrap_or(Value::Null);
    value["step_name"] = json!(step.map(|s| json!({"zh": s.name, "en": s.name_en})));
    value["actions"] =
        json!(step.map(|s| s.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>()));
    value["flow"] = json!(
        flow.map(|f| json!({"name": f.name, "name_en": f.name_en, "variant": f.variant_key()}))
    );
    value
}

async fn caller_and_query(
    state: &AppState,
    parts: &axum::http::request::Parts,
) -> Result<(Caller, CaseQuery), ApiError> {
    let caller = Caller::from_request_parts(&mut parts.clone(), state).await?;
    let ApiQuery(query) =
        ApiQuery::<CaseQuery>::from_request_parts(&mut parts.clone(), state).await?;
    Ok((caller, query))
}

/// `GET` on a tenant case path.
pub(crate) async fn tenant_get(
    state: AppState,
    rest: String,
    parts: axum::http::request::Parts,
) -> Response {
    get_inner(state, rest, parts)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn get_inner(
    state: AppState,
    rest: String,
    parts: axum::http::request::Parts,
) -> Result<Response, ApiError> {
    let path = parts.uri.path().to_owned();
    let route = parse(&rest).ok_or_else(|| ApiError::route_not_found(&path))?;
    let workflow = workflow(&state)?;
    let (caller, query) = caller_and_query(&state, &parts).await?;
    let kind = match &route {
        CaseRoute::History(..) => 1,
        CaseRoute::Attachments(..) => 2,
        _ => 0,
    };
    match route {
        CaseRoute::Cases(tenant) => {
            let tenant = access::tenant(&state, &tenant).await?;
            let (scope, viewer) = read_scope(&state, &caller, &tenant.path, query.line.as_deref())?;
            let before = match &query.before {
                None => None,
                Some(cursor) => Some(
                    cursor
                        .split_once('|')
                        .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                        .ok_or_else(|| {
                            invalid(
                                "before 游标无效",
                                "before is not a cursor from a previous page",
                            )
                        })?,
                ),
            };
            let limit = query.limit.unwrap_or(50).clamp(1, 200);
            let mut tx = state.db().begin_read(&scope).await?;
            let cases = workflow
                .list(
                    &mut tx,
                    &viewer,
                    &CaseFilter {
                        service: query.service.clone(),
                        state: query.state,
                        overdue: query.overdue,
                        before,
                        limit,
                    },
                )
                .await?;
            tx.rollback().await?;
            let next = (cases.len() == limit as usize)
                .then(|| cases.last().map(|c| format!("{}|{}", c.created_at, c.id)))
                .flatten();
            Ok(Json(json!({
                "cases": cases.iter().map(|c| case_json(&workflow, c)).collect::<Vec<_>>(),
                "next": next,
            }))
            .into_response())
        }
        CaseRoute::Case(tenant, id)
        | CaseRoute::History(tenant, id)
        | CaseRoute::Attachments(tenant, id) => {
            let tenant = access::tenant(&state, &tenant).await?;
            let (scope, viewer) = read_scope(&state, &caller, &tenant.path, query.line.as_deref())?;
            let mut tx = state.db().begin_read(&scope).await?;
            let case = workflow.get(&mut tx, &viewer, &id).await?;
            let body = match kind {
                1 => {
                    json!({"case_id": case.id, "history": workflow.history(&mut tx, &case).await?})
                }
                2 => {
                    json!({"case_id": case.id, "attachments": workflow.attachments(&mut tx, &case).await?})
                }
                _ => case_json(&workflow, &case),
            };
            tx.rollback().await?;
            Ok(Json(body).into_response())
        }
        CaseRoute::Notifications(tenant) => {
            if applicant_kind(&caller).is_some() {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "申请人无权查看工作通知",
                    "Applicants do not read staff notifications",
                ));
            }
            let tenant = access::tenant(&state, &tenant).await?;
            let line = caller.line_for(query.line.as_deref()).to_owned();
            let scope = caller.authorize(&state, &tenant.path, &line, "case.read")?;
            let mut tx = state.db().begin_read(&scope).await?;
            let found =
                civitas_workflow::timers::notifications(&mut tx, None, query.limit.unwrap_or(100))
                    .await?;
            tx.rollback().await?;
            let found: Vec<_> = found
                .into_iter()
                .filter(|n| {
                    line == civitas_tenancy::ALL_LINES
                        || line == civitas_authz::NO_LINE
                        || n.line == line
                })
                .collect();
            Ok(Json(json!({"notifications": found})).into_response())
        }
        CaseRoute::Actions(..) => Err(ApiError::method_not_allowed("GET", &path)),
    }
}

fn invalid(zh: &str, en: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", zh, en)
}

/// `POST` on a tenant case path.
pub(crate) async fn tenant_post(
    state: AppState,
    rest: String,
    request: Request,
) -> Result<Response, ApiError> {
    let path = request.uri().path().to_owned();
    let route = parse(&rest).ok_or_else(|| ApiError::route_not_found(&path))?;
    let workflow = workflow(&state)?;
    match route {
        CaseRoute::Cases(tenant) => {
            let (caller, body) = caller_and_body::<CreateCase>(&state, request).await?;
            let tenant = access::tenant(&state, &tenant).await?;
            let flow = workflow
                .flows()
                .resolve(&body.service, &tenant.path)
                .ok_or_else(|| WorkflowError::UnknownService(body.service.clone()))?
                .clone();
            let (scope, applicant, origin) = match applicant_kind(&caller) {
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
                    if !may || body.origin == Some(Origin::Warning) {
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
                    let scope = TenantScope::authorize(
                        &ApplicantRight { kind },
                        &AccessRequest {
                            principal: caller.account_id(),
                            tenant: &tenant.path,
                            line: &flow.line,
                            action: "case.apply",
                        },
                    )
                    .map_err(|_| ApiError::internal())?;
                    (
                        scope,
                        Some(caller.account_id().to_owned()),
                        Origin::Application,
                    )
                }
                None => (
                    caller.authorize(&state, &tenant.path, &flow.line, "case.create")?,
                    None,
                    body.origin.unwrap_or(Origin::Application),
                ),
            };
            let case = workflow
                .create(
                    state.db(),
                    &scope,
                    &tenant.path,
                    &who(&caller),
                    applicant.as_deref(),
                    NewCase {
                        service: body.service,
                        title: body.title,
                        data: body.data,
                        origin,
                    },
                )
                .await?;
            Ok((StatusCode::CREATED, Json(case_json(&workflow, &case))).into_response())
        }
        CaseRoute::Actions(tenant, id) => {
            let (caller, body) = caller_and_body::<ActBody>(&state, request).await?;
            let tenant = access::tenant(&state, &tenant).await?;
            let (scope, viewer) = read_scope(&state, &caller, &tenant.path, None)?;
            let case = workflow
                .act(
                    state.db(),
                    &scope,
                    &viewer,
                    &who(&caller),
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
                    |actor_tenant: &TenantPath, line: &str, role: &str| {
                        if applicant_kind(&caller).is_some() {
                            return Err(());
                        }
                        caller
                            .authorize(&state, actor_tenant, line, role)
                            .map_err(|_| ())
                    },
                )
                .await?;
            Ok(Json(case_json(&workflow, &case)).into_response())
        }
        CaseRoute::Attachments(tenant, id) => {
            let (caller, body) = caller_and_body::<NewAttachment>(&state, request).await?;
            let tenant = access::tenant(&state, &tenant).await?;
            let (scope, viewer) = read_scope(&state, &caller, &tenant.path, None)?;
            let attachment = workflow
                .attach(state.db(), &scope, &viewer, &who(&caller), &id, body)
                .await?;
            Ok((StatusCode::CREATED, Json(attachment)).into_response())
        }
        _ => Err(ApiError::route_not_found(&path)),
    }
}

/// Inbox options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InboxQuery {
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    overdue: Option<bool>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /api/v1/inbox`: the open tasks waiting for the caller (at the
/// tenants of their grants, in their lines, for roles their grants
/// include), earliest due first, with days left and an overdue flag.
pub(crate) async fn inbox(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<InboxQuery>,
) -> Result<Json<InboxPage>, ApiError> {
    let workflow = workflow(&state)?;
    let after = match &query.after {
        None => None,
        Some(text) => Some(civitas_workflow::inbox::parse_cursor(text).ok_or_else(|| {
            invalid(
                "after 游标无效",
                "after is not a cursor from a previous page",
            )
        })?),
    };
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
        let Ok(scope) = caller.authorize(&state, &grant.tenant, &grant.line, &grant.role) else {
            continue;
        };
        queues.push(Queue {
            scope,
            line: grant.line,
            roles,
        });
    }
    let page = workflow
        .inbox(
            state.db(),
            &queues,
            &InboxFilter {
                service: query.service,
                overdue: query.overdue,
                after,
                limit: query.limit.unwrap_or(50),
            },
            civitas_workflow::today_in_china(),
        )
        .await?;
    Ok(Json(page))
}

/// `GET /api/v1/flows`: every flow and tenant variant (public metadata,
/// like the tenant tree).
pub(crate) async fn flows(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let workflow = workflow(&state)?;
    let flows: Vec<Value> = workflow
        .flows()
        .flows()
        .into_iter()
        .map(|f| serde_json::to_value(f.as_ref()).unwrap_or(Value::Null))
        .collect();
    Ok(Json(json!({ "flows": flows })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_paths_split_from_their_tenant() {
        assert_eq!(
            parse("shanghai/pudong/cases"),
            Some(CaseRoute::Cases("shanghai/pudong".into()))
        );
        assert_eq!(
            parse("310000/310115/cases/abc/actions"),
            Some(CaseRoute::Actions("310000/310115".into(), "abc".into()))
        );
        assert_eq!(
            parse("310000/cases/abc"),
            Some(CaseRoute::Case("310000".into(), "abc".into()))
        );
        assert_eq!(
            parse("310000/cases/abc/history"),
            Some(CaseRoute::History("310000".into(), "abc".into()))
        );
        assert_eq!(parse("310000/cases/abc/other"), None);
        assert_eq!(parse("310000/cases/abc/actions/x"), None);
        assert_eq!(parse("310000/cases/"), None);
        assert_eq!(
            parse("310000/notifications"),
            Some(CaseRoute::Notifications("310000".into()))
        );
    }
}
