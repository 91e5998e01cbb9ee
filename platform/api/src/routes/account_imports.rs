//! Staff roster imports by the system administrator
//! (`account.administer`):
//!
//! ```text
//! POST /api/v1/tenants/{path}/account-imports?dry_run=true   check a roster, create nothing
//! POST /api/v1/tenants/{path}/account-imports                create every account, or none
//! ```
//!
//! The body is the file itself (`text/csv`, the `.xlsx` MIME type, or
//! `application/octet-stream` told by its bytes). A dry run answers 200
//! with every problem by row; an import with any problem answers 422
//! `import_rejected` naming them all and creates nothing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use civitas_authz::NO_LINE;
use civitas_identity::{ImportError, ImportUnit, RowProblem};
use civitas_roster::{Format, RosterError};
use civitas_sheet::SheetError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::tenants::TenantParam;
use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody, Message, Problem};
use crate::extract::{ApiBody, ApiQuery};
use crate::tenant::Tenant;
use civitas_storage::TenantRecord;

/// How to import.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ImportQuery {
    /// 只检查不创建（默认 false）/ Check the roster and create nothing (default false).
    dry_run: Option<bool>,
}

/// An account of the roster: planned (dry run) or created.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ImportedAccountView {
    /// 行号 / The row it comes from.
    #[schema(example = 2)]
    pub(crate) row: u32,
    /// 用户名 / The username.
    #[schema(example = "huamu.hm-0001")]
    pub(crate) username: String,
    /// 姓名 / The name.
    #[schema(example = "王芳")]
    pub(crate) display_name: String,
    /// 所属租户 / The tenant.
    #[schema(example = "310000/310115/310115009")]
    pub(crate) tenant: String,
    /// 条线 / The line.
    #[schema(example = "civil-affairs")]
    pub(crate) line: Option<String>,
    /// 一次性密码（仅导入时显示一次；试运行无）/ Shown once, on import; none on a dry run.
    pub(crate) one_time_password: Option<String>,
}

/// What a roster import found or did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ImportReport {
    /// 是否试运行 / Whether this was a dry run (nothing created).
    pub(crate) dry_run: bool,
    /// 数据行数 / Data rows read.
    #[schema(example = 1000)]
    pub(crate) rows: usize,
    /// 创建的账户数（试运行为 0）/ Accounts created (0 on a dry run).
    #[schema(example = 1000)]
    pub(crate) created: usize,
    /// 逐行列出的问题（有问题则导入不会创建任何账户）/ Every problem by row; any problem and an import creates nothing.
    pub(crate) problems: Vec<Problem>,
    /// 未识别而跳过的列 / Columns not read.
    #[schema(example = json!(["性别", "备注"]))]
    pub(crate) ignored_columns: Vec<String>,
    /// 将创建或已创建的账户 / The accounts planned or created.
    pub(crate) accounts: Vec<ImportedAccountView>,
}

/// A bad row of an imported sheet as the API names it.
pub(crate) fn problem(p: RowProblem) -> Problem {
    Problem {
        row: Some(p.row),
        field: p.column.map(str::to_owned),
        message: Message {
            zh: p.message_zh,
            en: p.message_en,
        },
    }
}

fn roster_error(error: RosterError) -> ApiError {
    let code = match &error {
        RosterError::Sheet(SheetError::TooLarge) => "roster_too_large",
        RosterError::Sheet(_) | RosterError::Empty => "roster_unreadable",
        RosterError::NoRows => "roster_empty",
        RosterError::MissingColumns { .. } => "roster_missing_columns",
        RosterError::DuplicateColumn(_) => "roster_duplicate_column",
        RosterError::TooManyRows => "roster_too_large",
    };
    let text = error.to_string();
    let (zh, en) = text.split_once(" / ").unwrap_or((&text, &text));
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, zh, en)
}

fn rejected(problems: Vec<RowProblem>) -> ApiError {
    let rows = civitas_identity::bad_rows(&problems).len();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "import_rejected",
        format!("名册有 {rows} 行有问题，未创建任何账户，请改正后重新导入"),
        format!("{rows} rows of the roster have problems; nothing was created. Correct them and import again"),
    )
    .with_problems(problems.into_iter().map(problem).collect())
}

/// Imports a staff roster (`.xlsx` or `.csv` with the columns 姓名, 工号,
/// 所属单位, 条线 and optionally 岗位/角色, 手机, 邮箱, 用户名) into the
/// tenant's subtree (`account.administer`: the system administrator).
/// `dry_run=true` checks every row and creates nothing; otherwise every
/// account is created in one transaction, or none. Usernames are the
/// unit's slug and the employee number (`huamu.hm-0001`) unless the sheet
/// has a 用户名 column; 岗位/角色 is stored as the position — roles are
/// granted by the security administrator.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/account-imports", tag = "accounts",
    security(("bearer" = [])),
    params(TenantParam, ImportQuery),
    request_body(description = "名册文件本身 / The roster file itself",
        content(
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (Vec<u8> = "application/octet-stream")
        )),
    responses(
        (status = 200, description = "试运行结果（逐行列出问题）/ The dry run's findings, row by row", body = ImportReport),
        (status = 201, description = "已全部创建（一次性密码仅显示一次）/ All created; one-time passwords are shown once", body = ImportReport),
        (status = 403, description = "无权创建账户 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 409, description = "三员分立 / Separation of duties", body = ErrorBody),
        (status = 413, description = "文件过大 / The file is too large", body = ErrorBody),
        (status = 415, description = "不是 CSV 或 xlsx / Neither CSV nor xlsx", body = ErrorBody),
        (status = 422, description = "文件无法读取、没有数据行、缺少必需列，或有问题行（import_rejected，problems 逐行列出，未创建任何账户）/ Unreadable, missing columns, or bad rows (import_rejected, every row in problems; nothing created)", body = ErrorBody)
    ))]
pub(crate) async fn import_accounts(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<ImportQuery>,
    file: ApiBody,
) -> Result<(StatusCode, Json<ImportReport>), ApiError> {
    let (status, report) = import_in(
        &state,
        &caller,
        &tenant,
        &file.content_type,
        &file.bytes,
        query.dry_run.unwrap_or(false),
    )
    .await?;
    Ok((status, Json(report)))
}

/// Imports the roster in `bytes` (CSV or xlsx, told by `content_type` and
/// the bytes) into `tenant`'s subtree for `caller` (`account.administer`),
/// or only checks it (`dry_run`), as the API and the console import.
pub(crate) async fn import_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    content_type: &str,
    bytes: &bytes::Bytes,
    dry_run: bool,
) -> Result<(StatusCode, ImportReport), ApiError> {
    let scope = caller.authorize_duty(state, &tenant.path, NO_LINE, "account.administer")?;
    let format = Format::from_content_type(content_type, bytes).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "名册须为 CSV（text/csv）或 Excel（.xlsx）文件",
            "A roster is a CSV (text/csv) or an Excel (.xlsx) file",
        )
    })?;
    let sheet = bytes.clone();
    // Unpacking a workbook is CPU work: off the async threads.
    let roster = tokio::task::spawn_blocking(move || civitas_roster::read(&sheet, format))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(roster_error)?;
    let units: Vec<ImportUnit> = state
        .tenants()
        .records()
        .iter()
        .filter(|r| r.path.is_within(&tenant.path))
        .map(|r| ImportUnit::from(&**r))
        .collect();
    let mut plan = civitas_identity::plan_import(&roster, &units, &state.line_definitions());
    civitas_identity::check_taken(state.db(), &mut plan).await?;
    let planned = |otp: Option<&str>, p: &civitas_identity::PlannedAccount| ImportedAccountView {
        row: p.row,
        username: p.account.username.clone(),
        display_name: p.account.profile.display_name.trim().to_owned(),
        tenant: p.account.tenant.to_string(),
        line: p.account.line.clone(),
        one_time_password: otp.map(str::to_owned),
    };
    if dry_run {
        return Ok((
            StatusCode::OK,
            ImportReport {
                dry_run,
                rows: roster.rows.len(),
                created: 0,
                accounts: plan.accounts.iter().map(|p| planned(None, p)).collect(),
                problems: plan.problems.into_iter().map(problem).collect(),
                ignored_columns: roster.ignored_columns,
            },
        ));
    }
    let digest = hex::encode(civitas_crypto::sm3::digest(bytes));
    let created = civitas_identity::import_staff(
        state.db(),
        state.keyring()?,
        &scope,
        &tenant.path,
        &plan,
        &digest,
        caller.username(),
        Utc::now(),
    )
    .await
    .map_err(|e| match e {
        ImportError::Refused(problems) => rejected(problems),
        ImportError::Admin(e) => e.into(),
    })?;
    let accounts: Vec<ImportedAccountView> = plan
        .accounts
        .iter()
        .zip(&created)
        .map(|(p, c)| planned(Some(c.one_time_password.as_str()), p))
        .collect();
    Ok((
        StatusCode::CREATED,
        ImportReport {
            dry_run,
            rows: roster.rows.len(),
            created: accounts.len(),
            problems: Vec::new(),
            ignored_columns: roster.ignored_columns,
            accounts,
        },
    ))
}
