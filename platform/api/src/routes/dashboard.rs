//! Dashboards: `GET /api/v1/tenants/{path}/dashboard`, a subtree's cases
//! counted by filing month and by child place — filed, finished by outcome,
//! approval rate, processing time in working days, statutory limits missed
//! (`case.read`, in the caller's line; every line with a grant on `*`).

use axum::Json;
use axum::extract::State;
use chrono::Datelike;
use civitas_storage::TenantRecord;
use civitas_workflow::stats::Dashboard;
use serde::Deserialize;
use utoipa::IntoParams;

use super::tenants::TenantParam;
use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::tenant::Tenant;

/// How many months a dashboard covers by default (this one included).
pub(crate) const DEFAULT_MONTHS: u32 = 12;

/// Which months to count.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DashboardQuery {
    /// 统计最近几个月（含本月），1–60，默认 12 / Months to count, this one included: 1–60, default 12.
    #[param(minimum = 1, maximum = 60, example = 12)]
    months: Option<u32>,
}

/// `YYYY-MM` of the month `months - 1` before this one (Beijing time).
pub(crate) fn since(months: u32) -> String {
    let today = civitas_workflow::today_in_china();
    let index = today.year() * 12 + today.month0() as i32 - (months.max(1) as i32 - 1);
    format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    )
}

/// The dashboard of `tenant`'s subtree over the last `months` months, for
/// `caller` (`case.read` in their line), as the API and the console read
/// it.
pub(crate) async fn dashboard_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    months: u32,
) -> Result<Dashboard, ApiError> {
    super::cases::workflow(state)?;
    let line = caller.line_for(None).to_owned();
    let scope = caller.authorize(state, &tenant.path, &line, "case.read")?;
    let every_line = crate::access::every_line(&line);
    let mut tx = state.db().begin_read(&scope).await?;
    let board = civitas_workflow::stats::dashboard(
        &mut tx,
        (!every_line).then_some(line.as_str()),
        &since(months),
    )
    .await?;
    tx.rollback().await?;
    Ok(board)
}

/// A subtree's cases counted by filing month and by child place over the
/// last months (`case.read`): read from counts kept with every change, so
/// it costs the same at a million cases.
#[utoipa::path(get, path = "/api/v1/tenants/{path}/dashboard", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, DashboardQuery),
    responses(
        (status = 200, description = "看板 / The dashboard", body = Dashboard),
        (status = 400, description = "months 超出 1–60 / months outside 1–60", body = ErrorBody),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn dashboard(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<DashboardQuery>,
) -> Result<Json<Dashboard>, ApiError> {
    let months = query.months.unwrap_or(DEFAULT_MONTHS);
    if !(1..=60).contains(&months) {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_query",
            "months 须为 1–60",
            "months must be from 1 to 60",
        ));
    }
    Ok(Json(dashboard_in(&state, &caller, &tenant, months).await?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn twelve_months_start_eleven_months_back() {
        let since = super::since(12);
        let today = civitas_workflow::today_in_china();
        let (year, month) = (since[..4].parse::<i32>(), since[5..].parse::<u32>());
        let back = (today.year() * 12 + today.month0() as i32)
            - (year.unwrap_or_default() * 12 + month.unwrap_or_default() as i32 - 1);
        use chrono::Datelike;
        assert_eq!(back, 11, "{since}");
        assert_eq!(super::since(1), today.format("%Y-%m").to_string());
    }
}
