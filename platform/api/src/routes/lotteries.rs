//! Waiting lists and public lotteries (摇号, seed 003 row 127).
//!
//! ```text
//! GET  /api/v1/tenants/{path}/services/{line}/{name}/waiting-list   admitted applications no lottery took, ranked (staff: case.read)
//! POST /api/v1/tenants/{path}/lotteries                             publish one project × unit type: entries frozen (lottery.draw)
//! POST /api/v1/tenants/{path}/lotteries/{id}/draw                   draw it with the public value, on its day (lottery.draw)
//! GET  /api/v1/tenants/{path}/lotteries/{id}                        a lottery as published or drawn (public)
//! ```

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use civitas_lottery::{DrawRequest, Lottery, LotteryError, PublishRequest, Waiting};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::modules::ServiceParams;
use super::tenants::TenantParam;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::tenant::Tenant;
use crate::{ApiJson, ApiQuery, AppState};

impl From<LotteryError> for ApiError {
    fn from(error: LotteryError) -> ApiError {
        match error {
            LotteryError::Workflow(e) => e.into(),
            error => ApiError::from_library(error.status(), error.code(), &error),
        }
    }
}

/// Which applications of the waiting list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct WaitingParams {
    /// 人才公寓项目 / Only this project.
    project: Option<String>,
    /// 户型 / Only this unit type.
    unit_type: Option<String>,
}

/// A district's waiting list: admitted applications no lottery has drawn
/// yet, highest priority score first, then the earliest filed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WaitingList {
    /// 轮候名单 / The applications, in order.
    waiting: Vec<Waiting>,
}

/// The waiting list of a service in the tenant's subtree: its admitted
/// (finished) applications that no lottery has drawn, each with the
/// priority score the district's rule gave, the score at submission and
/// the fairness guard's warning when they differ (`case.read` in the
/// service's line).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/services/{line}/{name}/waiting-list", tag = "lotteries",
    security(("bearer" = [])),
    params(TenantParam, ServiceParams, WaitingParams),
    responses(
        (status = 200, description = "轮候名单 / The waiting list", body = WaitingList),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或服务不存在 / No such tenant or service", body = ErrorBody),
        (status = 422, description = "该服务的流程不记录优先得分 / The service's flow keeps no priority score", body = ErrorBody)
    ))]
pub(crate) async fn waiting_list(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(service): Path<ServiceParams>,
    ApiQuery(params): ApiQuery<WaitingParams>,
) -> Result<Json<WaitingList>, ApiError> {
    let workflow = super::cases::workflow(&state)?;
    let service = service.id();
    let line = service_line(&workflow, &service, &tenant)?;
    let scope = caller.authorize(&state, &tenant.path, &line, "case.read")?;
    let mut tx = state.db().begin_read(&scope).await?;
    let waiting = civitas_lottery::waiting_list(
        &workflow,
        &mut tx,
        &line,
        &service,
        params.project.as_deref(),
        params.unit_type.as_deref(),
    )
    .await?;
    tx.rollback().await?;
    Ok(Json(WaitingList { waiting }))
}

/// The line of `service`'s flow at `tenant`; 404 `flow_not_found` when the
/// service has no flow there.
fn service_line(
    workflow: &civitas_workflow::Workflow,
    service: &str,
    tenant: &Tenant,
) -> Result<String, ApiError> {
    workflow
        .flows()
        .resolve(service, &tenant.path)
        .map(|flow| flow.line.clone())
        .ok_or_else(|| civitas_workflow::WorkflowError::UnknownService(service.to_owned()).into())
}

/// Publishes a lottery over the tenant's waiting list for one project and
/// unit type (`lottery.draw` in the service's line): the entries, with
/// their scores, are frozen into one text that names the day of the draw
/// and the public value it waits for — nobody can know the seed yet. Each
/// application is in one lottery only. Audited as `lottery.publish`.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/lotteries", tag = "lotteries",
    security(("bearer" = [])),
    params(TenantParam),
    request_body = PublishRequest,
    responses(
        (status = 201, description = "已公示，待摇号 / Published, waiting for its draw", body = Lottery),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或服务不存在 / No such tenant or service", body = ErrorBody),
        (status = 409, description = "部分申请已被其他摇号纳入 / Another lottery took some entries first", body = ErrorBody),
        (status = 422, description = "请求有误，或没有待摇号的申请 / Invalid, or nothing to draw", body = ErrorBody)
    ))]
pub(crate) async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiJson(request): ApiJson<PublishRequest>,
) -> Result<(StatusCode, Json<Lottery>), ApiError> {
    let workflow = super::cases::workflow(&state)?;
    let line = service_line(&workflow, request.service.trim(), &tenant)?;
    let scope = caller.authorize(&state, &tenant.path, &line, "lottery.draw")?;
    let clock = workflow.clock();
    let lottery = civitas_lottery::publish_lottery(
        &workflow,
        state.db(),
        &scope,
        &line,
        &who(&caller),
        clock.today_in_china(),
        now(&workflow),
        &request,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(lottery)))
}

fn who(caller: &Caller) -> civitas_workflow::Who {
    civitas_workflow::Who {
        account: caller.account_id().to_owned(),
        username: caller.username().to_owned(),
    }
}

fn now(workflow: &civitas_workflow::Workflow) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(workflow.clock().now_micros())
        .unwrap_or_else(chrono::Utc::now)
}

/// Draws a published lottery with the public value its text named, written
/// as it said, on its day of the draw or later (`lottery.draw` in the line
/// of the lottery's service; a lottery is public, so finding it first
/// tells nobody anything): the seed is SM3(published text ‖ value), each
/// entry's ticket SM3(seed ‖ case id), the ranking score descending then
/// ticket ascending. Once; audited as `lottery.draw`.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/lotteries/{id}/draw", tag = "lotteries",
    security(("bearer" = [])),
    params(TenantParam, LotteryParams),
    request_body = DrawRequest,
    responses(
        (status = 200, description = "已摇号 / Drawn", body = Lottery),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或摇号不存在 / No such tenant or lottery", body = ErrorBody),
        (status = 409, description = "已摇号，或摇号日期未到 / Drawn already, or not yet its day", body = ErrorBody),
        (status = 422, description = "取值无效或不合公示的写法 / The value is invalid or not written as published", body = ErrorBody)
    ))]
pub(crate) async fn draw(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(params): Path<LotteryParams>,
    ApiJson(request): ApiJson<DrawRequest>,
) -> Result<Json<Lottery>, ApiError> {
    let workflow = super::cases::workflow(&state)?;
    let found = civitas_lottery::published(state.db(), &tenant.path, &params.id).await?;
    // Checked when it was published: a text that no longer reads is
    // corrupt (logged, 500), not the caller's mistake.
    let service = civitas_lottery::draw::parse(&found.published)
        .map_err(|e| {
            ApiError::from(LotteryError::Storage(
                civitas_storage::StorageError::Corrupt(format!("lottery {}: {e}", found.id)),
            ))
        })?
        .service;
    let line = service_line(&workflow, &service, &tenant)?;
    let scope = caller.authorize(&state, &tenant.path, &line, "lottery.draw")?;
    let lottery = civitas_lottery::draw_lottery(
        state.db(),
        &scope,
        Some(line.as_str()),
        &who(&caller),
        workflow.clock().today_in_china(),
        now(&workflow),
        &params.id,
        &request.value,
    )
    .await?;
    Ok(Json(lottery))
}

/// A lottery.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct LotteryParams {
    /// 摇号编号 / The lottery's id.
    id: String,
}

/// A lottery as published — the published text, its SM3 (the seed) and the
/// ranking — for anyone: `civitas lottery verify` recomputes it.
#[utoipa::path(get, path = "/api/v1/tenants/{path}/lotteries/{id}", tag = "lotteries",
    params(TenantParam, LotteryParams),
    responses(
        (status = 200, description = "摇号结果 / The lottery", body = Lottery),
        (status = 404, description = "租户或摇号不存在 / No such tenant or lottery", body = ErrorBody)
    ))]
pub(crate) async fn lottery(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(params): Path<LotteryParams>,
) -> Result<Json<Lottery>, ApiError> {
    Ok(Json(
        civitas_lottery::published(state.db(), &tenant.path, &params.id).await?,
    ))
}
