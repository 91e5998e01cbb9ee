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

/// The months `query` asks for (default [`DEFAULT_MONTHS`]); 400
/// `invalid_query` outside 1–60.
fn months_of(query: &DashboardQuery) -> Result<u32, ApiError> {
    let months = query.months.unwrap_or(DEFAULT_MONTHS);
    if !(1..=60).contains(&months) {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_query",
            "months 须为 1–60",
            "months must be from 1 to 60",
        ));
    }
    Ok(months)
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
    let months = months_of(&query)?;
    Ok(Json(dashboard_in(&state, &caller, &tenant, months).await?))
}

/// The dashboard's figures as an `.xlsx` workbook: a row per child place
/// (the statistics per district of a city, per street of a district), the
/// place's own cases, a row per month and the total (`case.read`, as the
/// dashboard; audited `dashboard.export`).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/dashboard/export", tag = "cases",
    security(("bearer" = [])),
    params(TenantParam, DashboardQuery),
    responses(
        (status = 200, description = "统计导出（xlsx，已审计）/ The figures as a workbook, audited", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers(
                ("x-export-rows" = u32, description = "行数 / Rows exported"),
                ("x-export-sm3" = String, description = "文件的 SM3（与审计记录一致）/ The file's SM3, as audited")
            )),
        (status = 400, description = "months 超出 1–60 / months outside 1–60", body = ErrorBody),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 405, description = "导出请使用 GET（HEAD 不导出）/ Exports are asked for with GET, not HEAD", body = ErrorBody),
        (status = 503, description = "其他导出正在生成（export_busy），或流程引擎不可用 / Other exports are being written (export_busy), or the workflow engine is unavailable", body = ErrorBody)
    ))]
pub(crate) async fn export_dashboard(
    State(state): State<AppState>,
    method: axum::http::Method,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<DashboardQuery>,
) -> Result<axum::response::Response, ApiError> {
    crate::export::not_head(&method)?;
    export_dashboard_in(&state, &caller, &tenant, query).await
}

/// What `export_dashboard` answers, for `caller` at `tenant`: the API's route and the
/// faces' download link come here.
pub(crate) async fn export_dashboard_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    query: DashboardQuery,
) -> Result<axum::response::Response, ApiError> {
    use civitas_export::{Cell, Column};
    use civitas_workflow::stats::Counts;
    let _turn = crate::export::turn()?;
    let months = months_of(&query)?;
    let board = dashboard_in(state, caller, tenant, months).await?;
    let line = caller.line_for(None).to_owned();
    let scope = caller.authorize(state, &tenant.path, &line, "case.read")?;
    let mut sheet = crate::export::sheet(
        state,
        DASHBOARD_EXPORT,
        vec![
            Column::new("统计口径", "Dimension", 10.0),
            Column::new("地区或月份", "Place or month", 18.0),
            Column::new("代码", "Code", 24.0),
            Column::new("受理", "Filed", 10.0),
            Column::new("准予", "Approved", 10.0),
            Column::new("不予", "Rejected", 10.0),
            Column::new("撤回", "Withdrawn", 10.0),
            Column::new("超法定时限", "Past the statutory limit", 12.0),
            Column::new("准予率（%）", "Approval rate (%)", 12.0),
            Column::new("平均办理（工作日）", "Average working days", 14.0),
            Column::new("评价数", "Ratings", 10.0),
            Column::new("平均评分", "Average score", 10.0),
        ],
    )?;
    let ratio = |part: i64, whole: i64| {
        if whole == 0 {
            Cell::Empty
        } else {
            Cell::Decimal(part as f64 / whole as f64)
        }
    };
    let row = |dimension: &str, name: String, code: String, c: &Counts| {
        let finished = c.approved + c.rejected;
        vec![
            Cell::text(dimension),
            Cell::Text(name),
            Cell::Text(code),
            Cell::Integer(c.filed),
            Cell::Integer(c.approved),
            Cell::Integer(c.rejected),
            Cell::Integer(c.withdrawn),
            Cell::Integer(c.overdue),
            if finished == 0 {
                Cell::Empty
            } else {
                Cell::Decimal(100.0 * c.approved as f64 / finished as f64)
            },
            ratio(c.working_days, c.timed),
            Cell::Integer(c.rated),
            ratio(c.score_sum, c.rated),
        ]
    };
    let write = |sheet: &mut civitas_export::SheetWriter, cells| {
        sheet.row(cells).map_err(crate::export::export_error)
    };
    for place in &board.places {
        let name = state
            .tenants()
            .get(&place.tenant)
            .map_or_else(|| place.tenant.clone(), |t| t.name.clone());
        let name = if place.tenant == tenant.path.as_str() {
            format!("{name}（本级）")
        } else {
            name
        };
        write(
            &mut sheet,
            row("地区", name, place.tenant.clone(), &place.counts),
        )?;
    }
    for month in &board.months {
        write(
            &mut sheet,
            row("月份", month.month.clone(), String::new(), &month.counts),
        )?;
    }
    write(
        &mut sheet,
        row(
            "合计",
            tenant.name.clone(),
            tenant.path.as_str().to_owned(),
            &board.total,
        ),
    )?;
    crate::export::respond(
        state,
        caller,
        &scope,
        &tenant.path,
        DASHBOARD_EXPORT,
        serde_json::json!({ "months": months, "line": line }),
        sheet,
    )
    .await
}

/// A dashboard export.
const DASHBOARD_EXPORT: crate::export::Kind = crate::export::Kind {
    action: "dashboard.export",
    zh: "统计",
    en: "Statistics",
};

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
