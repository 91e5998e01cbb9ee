//! 安薪 wage-arrears warnings (seed 000 L206–411): a month of project
//! monitoring data imported from a sheet, and the warning rules run over a
//! month as one batch.
//!
//! ```text
//! POST /api/v1/tenants/{path}/wage-arrears/project-months?dry_run=true   check a file, store nothing (monitoring.import)
//! POST /api/v1/tenants/{path}/wage-arrears/project-months                store every row, or none (monitoring.import)
//! POST /api/v1/tenants/{path}/wage-arrears/runs                          run a month: warnings filed as cases (warning.run)
//! ```

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use civitas_sheet::Format;
use civitas_wage_warnings::import::{self, Places, ReadError};

use super::account_imports::problem;
use civitas_wage_warnings::{ImportReport, LINE, RunReport, SERVICE, WageWarningError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::tenants::TenantParam;
use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody, Problem};
use crate::extract::{ApiBody, ApiJson, ApiQuery};
use crate::tenant::Tenant;

/// The largest file the import takes: a month of a district's projects
/// (50,000 rows) as CSV is under 16 MiB.
pub(crate) const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

impl From<WageWarningError> for ApiError {
    fn from(error: WageWarningError) -> ApiError {
        match error {
            WageWarningError::Workflow(e) => e.into(),
            WageWarningError::Registry(e) => e.into(),
            error => ApiError::from_library(error.status(), error.code(), &error),
        }
    }
}

/// How to import.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ImportQuery {
    /// 只检查不保存（默认 false）/ Check the file and store nothing (default false).
    dry_run: Option<bool>,
}

/// What an import found and stored.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProjectMonthImport {
    /// 是否试运行 / Whether this was a dry run.
    dry_run: bool,
    /// 数据行数 / Data rows read.
    #[schema(example = 1200)]
    rows: usize,
    /// 已保存（试运行为 0）/ Project-months stored (0 on a dry run).
    #[schema(example = 1200)]
    stored: usize,
    /// 其中覆盖此前导入的 / Of those, how many replaced an earlier import.
    replaced: usize,
    /// 文件中的月份 / The months the file holds.
    months: Vec<String>,
    /// 文件的 SM3 / The file's SM3, hex (the audit record names it).
    file_sm3: String,
    /// 问题（逐行）/ Problems, row by row (a dry run lists them; an import with any is refused).
    problems: Vec<Problem>,
    /// 未识别而跳过的列 / Header names no column answers to, skipped.
    ignored_columns: Vec<String>,
}

fn read_error(error: ReadError) -> ApiError {
    let code = match &error {
        ReadError::Sheet(
            civitas_sheet::SheetError::TooManyRows | civitas_sheet::SheetError::TooLarge,
        ) => "file_too_large",
        ReadError::Sheet(_) | ReadError::Empty => "file_unreadable",
        ReadError::NoRows => "file_empty",
        ReadError::MissingColumns { .. } => "missing_columns",
        ReadError::DuplicateColumn(_) => "duplicate_column",
    };
    let text = error.to_string();
    let (zh, en) = text.split_once(" / ").unwrap_or((&text, &text));
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, zh, en)
}

/// Imports a month (or months) of project monitoring data for the
/// wage-arrears warnings (`monitoring.import` in `hr-social-security`):
/// the body is the file itself — `.xlsx` or `.csv` (UTF-8 or GB 18030) with
/// the columns 项目编号, 项目名称, 所属区划 (a district or street of this
/// subtree, by code or name), 项目类型 (工程建设/其他), 项目状态
/// (在建/停工/完工), 数据月份, 实际开工日期, 在职人数, 考勤人数, 工资专户
/// (是/否), 人工费拨入（元）, 代发工资（元） and optionally 最近代发工资日期,
/// 投诉件数, 应缴保证金（元）, 实缴保证金（元）, 免除保证金, 保证金截止日期.
/// Every bad cell is named by row and column; a file with any is refused
/// whole (`import_rejected`, nothing stored). A project's month imported
/// again replaces the earlier row. Audited as `monitoring.import`.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/wage-arrears/project-months", tag = "wage-arrears",
    security(("bearer" = [])),
    params(TenantParam, ImportQuery),
    request_body(description = "项目月度数据文件本身 / The monitoring data file itself",
        content(
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (Vec<u8> = "application/octet-stream")
        )),
    responses(
        (status = 200, description = "试运行结果（逐行列出问题）/ The dry run's findings, row by row", body = ProjectMonthImport),
        (status = 201, description = "已全部保存 / Every row stored", body = ProjectMonthImport),
        (status = 403, description = "无权导入 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 413, description = "文件过大 / The file is too large", body = ErrorBody),
        (status = 415, description = "不是 CSV 或 xlsx / Neither CSV nor xlsx", body = ErrorBody),
        (status = 422, description = "文件无法读取、缺少必需列，或有问题行（import_rejected，problems 逐行列出，未保存任何数据）/ Unreadable, missing columns, or bad rows (import_rejected, every row in problems; nothing stored)", body = ErrorBody)
    ))]
pub(crate) async fn import_project_months(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<ImportQuery>,
    file: ApiBody,
) -> Result<(StatusCode, Json<ProjectMonthImport>), ApiError> {
    let scope = caller.authorize(&state, &tenant.path, LINE, "monitoring.import")?;
    let format = Format::from_content_type(&file.content_type, &file.bytes).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "项目数据须为 CSV（text/csv）或 Excel（.xlsx）文件",
            "Project data is a CSV (text/csv) or an Excel (.xlsx) file",
        )
    })?;
    let workflow = super::cases::workflow(&state)?;
    let tree = workflow.tree();
    // Districts and streets of the subtree that handle the line.
    let nodes: Vec<_> = tree
        .subtree(&tenant.path)
        .filter(|t| {
            t.lines.iter().any(|l| l == LINE)
                && matches!(
                    t.level.as_str(),
                    "district" | "street" | "county" | "township"
                )
        })
        .map(|t| (t.path.clone(), t.code.as_str().to_owned(), t.name.clone()))
        .collect();
    let places = Places::new(nodes.iter().map(|(p, c, n)| (p, c.as_str(), n.as_str())));
    let bytes = file.bytes.clone();
    // Unpacking a workbook is CPU work: off the async threads.
    let plan = tokio::task::spawn_blocking(move || import::read(&bytes, format, &places))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(read_error)?;
    let file_sm3 = hex::encode(civitas_crypto::sm3::digest(&file.bytes));
    let rows = plan.records.len() + import::bad_rows(&plan.problems).len();
    let dry_run = query.dry_run.unwrap_or(false);
    if dry_run || !plan.problems.is_empty() {
        let months = plan
            .records
            .iter()
            .map(|r| r.month.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !dry_run {
            let bad = import::bad_rows(&plan.problems).len();
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "import_rejected",
                format!("文件有 {bad} 行有问题，未保存任何数据，请改正后重新导入"),
                format!("{bad} rows of the file have problems; nothing was stored. Correct them and import again"),
            )
            .with_problems(plan.problems.into_iter().map(problem).collect()));
        }
        return Ok((
            StatusCode::OK,
            Json(ProjectMonthImport {
                dry_run,
                rows,
                stored: 0,
                replaced: 0,
                months,
                file_sm3,
                problems: plan.problems.into_iter().map(problem).collect(),
                ignored_columns: plan.ignored_columns,
            }),
        ));
    }
    let ImportReport {
        stored,
        replaced,
        months,
    } = civitas_wage_warnings::store_months(
        state.db(),
        &scope,
        &plan.records,
        &file_sm3,
        caller.username(),
        workflow.clock().now_micros(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ProjectMonthImport {
            dry_run,
            rows,
            stored,
            replaced,
            months,
            file_sm3,
            problems: Vec::new(),
            ignored_columns: plan.ignored_columns,
        }),
    ))
}

/// Which month to run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRequest {
    /// 数据月份 / The month, `YYYY-MM`.
    #[schema(example = "2026-11")]
    month: String,
}

/// Runs the warning rules over every project-month of a month imported in
/// the tenant's subtree (`warning.run` in `hr-social-security`): one batch
/// per place, each by the module its binding chooses
/// (`hr-social-security/wage-arrears-warning`) with its own thresholds
/// (settings `wage-arrears.*`). Every warned project-month not filed before
/// becomes a case (origin `warning`) at the project's district on the
/// warning flow — district assignment, street verification, closure or
/// city supervision, working-day deadlines, 督办 — whose history records the
/// module's decision. Running a month again files only what was not filed.
/// A project its module failed on is listed in `failures`, never dropped.
/// Audited as `warning.run`.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/wage-arrears/runs", tag = "wage-arrears",
    security(("bearer" = [])),
    params(TenantParam),
    request_body = RunRequest,
    responses(
        (status = 200, description = "运行结果 / What the run did", body = RunReport),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在，或该月没有已导入的数据（no_project_data）/ No such tenant, or nothing imported for the month (no_project_data)", body = ErrorBody),
        (status = 422, description = "月份无效（invalid_month），或在区以下运行（run_below_district）/ Not a month (invalid_month), or run below a district (run_below_district)", body = ErrorBody),
        (status = 503, description = "业务模块运行环境未启用 / The module runtime is not enabled", body = ErrorBody)
    ))]
pub(crate) async fn run_warnings(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiJson(request): ApiJson<RunRequest>,
) -> Result<Json<RunReport>, ApiError> {
    let scope = caller.authorize(&state, &tenant.path, LINE, "warning.run")?;
    let workflow = super::cases::workflow(&state)?;
    let runtime = state.modules()?.runtime.clone();
    let report = civitas_wage_warnings::run_month(
        state.db(),
        &scope,
        &workflow,
        &runtime,
        &civitas_workflow::Who {
            account: caller.account_id().to_owned(),
            username: caller.username().to_owned(),
        },
        request.month.trim(),
    )
    .await?;
    tracing::info!(service = SERVICE, month = %report.month, projects = report.projects, warned = report.warned, "wage-arrears warnings run");
    Ok(Json(report))
}
