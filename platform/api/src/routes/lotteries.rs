//! Waiting lists and public lotteries (摇号, seed 003 row 127).
//!
//! ```text
//! GET  /api/v1/tenants/{path}/services/{line}/{name}/waiting-list   admitted applications not yet drawn, ranked (staff: case.read)
//! POST /api/v1/tenants/{path}/lotteries                             draw one project × unit type (lottery.draw)
//! GET  /api/v1/tenants/{path}/lotteries/{id}                        a lottery as published (public)
//! ```

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use civitas_lottery::{DrawRequest, Lottery, LotteryError, Waiting};
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

/// Draws a lottery over the tenant's waiting list for one project and unit
/// type (`lottery.draw` in the service's line): publishes the entries with
/// their scores, takes the SM3 of that text as the seed, ranks by score and
/// then by each entry's ticket SM3(seed ‖ case id), and records it with
/// its audit record. Each application is drawn once.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/lotteries", tag = "lotteries",
    security(("bearer" = [])),
    params(TenantParam),
    request_body = DrawRequest,
    responses(
        (status = 201, description = "已摇号 / Drawn", body = Lottery),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或服务不存在 / No such tenant or service", body = ErrorBody),
        (status = 409, description = "部分申请已被其他摇号摇出 / Another lottery drew some entries first", body = ErrorBody),
        (status = 422, description = "请求有误，或没有待摇号的申请 / Invalid, or nothing to draw", body = ErrorBody)
    ))]
pub(crate) async fn draw(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiJson(request): ApiJson<DrawRequest>,
) -> Result<(StatusCode, Json<Lottery>), ApiError> {
    let workflow = super::cases::workflow(&state)?;
    let line = service_line(&workflow, &request.service, &tenant)?;
    let scope = caller.authorize(&state, &tenant.path, &line, "lottery.draw")?;
    let who = civitas_workflow::Who {
        account: caller.account_id().to_owned(),
        username: caller.username().to_owned(),
    };
    let clock = workflow.clock();
    let now = chrono::DateTime::from_timestamp_micros(clock.now_micros())
        .unwrap_or_else(chrono::Utc::now);
    let lottery = civitas_lottery::draw_lottery(
        &workflow,
        state.db(),
        &scope,
        &line,
        &who,
        clock.today_in_china(),
        now,
        &request,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(lottery)))
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
