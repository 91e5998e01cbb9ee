//! Account administration by the system administrator of 三员分立
//! (`account.administer`); reading accounts (`account.read`: the three
//! administrators). Every change is audited in the account's tenant chain
//! by civitas-identity.
//!
//! ```text
//! GET   /api/v1/tenants/{path}/accounts                              the subtree's accounts, filtered, paged
//! POST  /api/v1/tenants/{path}/accounts                              create a staff, developer or service account
//! GET   /api/v1/tenants/{path}/accounts/{username}                   one account
//! PATCH /api/v1/tenants/{path}/accounts/{username}                   change its profile
//! POST  /api/v1/tenants/{path}/accounts/{username}/disable           disable it (sessions and keys stop)
//! POST  /api/v1/tenants/{path}/accounts/{username}/enable            enable it again
//! POST  /api/v1/tenants/{path}/accounts/{username}/unlock            lift a sign-in lock
//! POST  /api/v1/tenants/{path}/accounts/{username}/password-reset    a new one-time password
//! ```
//!
//! An account outside the tenant's subtree is 404, as one that does not
//! exist: administrators learn nothing of other tenants' usernames.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use civitas_authz::NO_LINE;
use civitas_identity::{
    AccountCursor, AccountDetail, AccountFilter, AccountKind, AccountPage, AccountState,
    AdminError, CreatedAccount, NewStaffAccount, ProfileChange, StaffProfile,
};
use civitas_storage::TenantRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use zeroize::Zeroizing;

use super::tenants::TenantParam;
use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::paging;
use crate::tenant::Tenant;

/// The kind of an account, as requests and answers name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum KindName {
    /// 工作人员 / Staff of a bureau.
    Staff,
    /// 群众 / A citizen (self-registered).
    Citizen,
    /// 企业 / An enterprise (self-registered).
    Enterprise,
    /// 模块开发者 / A module developer.
    Developer,
    /// 服务账户（API 密钥）/ A machine client using API keys.
    Service,
}

impl From<KindName> for AccountKind {
    fn from(kind: KindName) -> AccountKind {
        match kind {
            KindName::Staff => AccountKind::Staff,
            KindName::Citizen => AccountKind::Citizen,
            KindName::Enterprise => AccountKind::Enterprise,
            KindName::Developer => AccountKind::Developer,
            KindName::Service => AccountKind::Service,
        }
    }
}

impl From<AccountKind> for KindName {
    fn from(kind: AccountKind) -> KindName {
        match kind {
            AccountKind::Staff => KindName::Staff,
            AccountKind::Citizen => KindName::Citizen,
            AccountKind::Enterprise => KindName::Enterprise,
            AccountKind::Developer => KindName::Developer,
            AccountKind::Service => KindName::Service,
        }
    }
}

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StateName {
    /// 已停用 / Disabled by an administrator.
    Disabled,
    /// 已锁定 / Locked after sign-in failures.
    Locked,
    /// 待改密 / Holding a one-time password to change at sign-in.
    Pending,
    /// 正常 / Usable.
    Active,
}

impl From<StateName> for AccountState {
    fn from(state: StateName) -> AccountState {
        match state {
            StateName::Disabled => AccountState::Disabled,
            StateName::Locked => AccountState::Locked,
            StateName::Pending => AccountState::Pending,
            StateName::Active => AccountState::Active,
        }
    }
}

impl From<AccountState> for StateName {
    fn from(state: AccountState) -> StateName {
        match state {
            AccountState::Disabled => StateName::Disabled,
            AccountState::Locked => StateName::Locked,
            AccountState::Pending => StateName::Pending,
            AccountState::Active => StateName::Active,
        }
    }
}

/// An account as its administrators see it (contact data masked).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountView {
    /// 账户编号 / The account id.
    id: String,
    /// 用户名 / The username.
    #[schema(example = "huamu-wangfang")]
    username: String,
    /// 账户类型 / The kind.
    kind: KindName,
    /// 所属租户 / The tenant it belongs to.
    #[schema(example = "310000/310115/310115009")]
    tenant: String,
    /// 业务条线 / The line.
    #[schema(example = "civil-affairs")]
    line: Option<String>,
    /// 姓名 / The name shown.
    #[schema(example = "王芳")]
    display_name: String,
    /// 工号 / The employee number.
    #[schema(example = "PD-0042")]
    employee_no: Option<String>,
    /// 岗位 / The position.
    #[schema(example = "民政专员")]
    position: Option<String>,
    /// 手机（脱敏）/ The phone number, masked.
    #[schema(example = "138****8000")]
    phone: Option<String>,
    /// 电子邮箱（脱敏）/ The e-mail address, masked.
    #[schema(example = "w*******@pudong.gov.cn")]
    email: Option<String>,
    /// 状态 / Where it stands.
    state: StateName,
    /// 停用时间 / Since when it is disabled (RFC 3339).
    disabled_at: Option<String>,
    /// 锁定至 / Until when it is locked (RFC 3339).
    locked_until: Option<String>,
    /// 须在下次登录时修改密码 / Whether the password must be changed at sign-in.
    must_change_password: bool,
    /// 一次性密码有效期至 / When the one-time password stops working (RFC 3339).
    one_time_until: Option<String>,
    /// 持有的角色（由安全管理员授予）/ Roles held, granted by the security administrator.
    #[schema(example = json!(["officer"]))]
    roles: Vec<String>,
    /// 创建时间 / When it was created (RFC 3339).
    created_at: String,
    /// 最近修改时间 / When its profile or state last changed (RFC 3339).
    updated_at: Option<String>,
}

fn rfc3339(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339())
}

impl From<AccountDetail> for AccountView {
    fn from(a: AccountDetail) -> AccountView {
        AccountView {
            id: a.id,
            username: a.username,
            kind: a.kind.into(),
            tenant: a.tenant_path,
            line: a.line,
            display_name: a.display_name,
            employee_no: a.employee_no,
            position: a.position,
            phone: a.phone,
            email: a.email,
            state: a.state.into(),
            disabled_at: rfc3339(a.disabled_at),
            locked_until: rfc3339(a.locked_until),
            must_change_password: a.must_change_password,
            one_time_until: rfc3339(a.one_time_until),
            roles: a.roles,
            created_at: a.created_at.to_rfc3339(),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

/// Which accounts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AccountsQuery {
    /// 只列此类型 / Only this kind.
    kind: Option<KindName>,
    /// 只列此条线 / Only this line.
    #[param(example = "civil-affairs")]
    line: Option<String>,
    /// 只列此状态 / Only accounts in this state.
    state: Option<StateName>,
    /// 只列持有此角色者 / Only holders of this role.
    #[param(example = "officer")]
    role: Option<String>,
    /// 按手机号精确查找 / Only the account with this phone number (exact).
    #[param(example = "13800138000")]
    phone: Option<String>,
    /// 上一页的 next / The previous page's `next`.
    after: Option<String>,
    /// 每页条数 1–200（默认 50）/ Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountList {
    /// 按租户、用户名排序 / By tenant and username.
    accounts: Vec<AccountView>,
    /// 下一页游标，末页无此字段 / Pass as `after` for the next page; absent on the last page.
    next: Option<String>,
}

/// An account to create, at the tenant the path names.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateAccount {
    /// 用户名：3–64 个小写字母、数字或 -_. / 3–64 lowercase letters, digits or -_.
    #[schema(example = "huamu-wangfang")]
    pub(crate) username: String,
    /// 工作人员、开发者或服务账户 / staff, developer or service.
    pub(crate) kind: KindName,
    /// 业务条线（工作人员必填，须为该租户已有条线）/ The line (required for staff; one the tenant has).
    #[schema(example = "civil-affairs")]
    pub(crate) line: Option<String>,
    /// 姓名或服务名称 / The name shown.
    #[schema(example = "王芳")]
    pub(crate) display_name: String,
    /// 手机（加密存储，脱敏显示）/ Phone number, sealed and shown masked.
    #[schema(example = "13800138000")]
    pub(crate) phone: Option<String>,
    /// 电子邮箱（加密存储，脱敏显示）/ E-mail, sealed and shown masked.
    #[schema(example = "wang.fang@pudong.gov.cn")]
    pub(crate) email: Option<String>,
    /// 工号（租户内唯一）/ Employee number, unique in the tenant.
    #[schema(example = "PD-0042")]
    pub(crate) employee_no: Option<String>,
    /// 岗位（角色由安全管理员另行授予）/ Position; roles are granted by the security administrator.
    #[schema(example = "民政专员")]
    pub(crate) position: Option<String>,
}

/// A created account, with the one-time password of a person.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedAccountBody {
    /// 账户 / The account.
    account: AccountView,
    /// 一次性密码，仅此一次显示，首次登录须修改（服务账户无）/ Shown this once; must be changed at first sign-in (none for service accounts).
    #[schema(example = "Kx7mQ-9prTa-b3Zk2-MwE4h")]
    one_time_password: Option<String>,
}

/// A profile change: fields absent stay as they are; `null` clears an
/// optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateAccount {
    /// 姓名 / The name shown.
    display_name: Option<String>,
    /// 手机，null 清除 / Phone number; null clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<String>>,
    /// 电子邮箱，null 清除 / E-mail; null clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    /// 工号，null 清除 / Employee number; null clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    employee_no: Option<Option<String>>,
    /// 岗位，null 清除 / Position; null clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    position: Option<Option<String>>,
}

/// A field that is present, as `Some(value or null)`.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Why an account is disabled.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DisableAccount {
    /// 停用原因，1–500 个字符，记入审计日志 / Why, 1–500 characters, for the audit log.
    #[schema(example = "调离 / transferred")]
    reason: String,
}

/// What a state change did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StateChange {
    /// 是否有变化（已是该状态时为 false）/ Whether anything changed.
    changed: bool,
    /// 账户 / The account now.
    account: AccountView,
}

/// A new one-time password.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PasswordReset {
    /// 一次性密码，仅此一次显示 / Shown this once; must be changed at sign-in.
    one_time_password: String,
    /// 有效期至 / When it stops working (RFC 3339).
    one_time_until: Option<String>,
}

/// An account in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct AccountParam {
    /// 用户名 / The username.
    #[param(example = "huamu-wangfang")]
    pub(crate) username: String,
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> ApiError {
        match error {
            AdminError::Invalid(errors) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                errors
                    .iter()
                    .map(|e| format!("{}：{}", e.field, e.message_zh))
                    .collect::<Vec<_>>()
                    .join("；"),
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message_en))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            AdminError::OutOfScope(tenant) => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("租户 {tenant} 不在授权范围内"),
                format!("Tenant {tenant} is outside the subtree allowed"),
            ),
            AdminError::NotFound(name) => ApiError::new(
                StatusCode::NOT_FOUND,
                "account_not_found",
                format!("该租户下没有账户 {name}"),
                format!("No account {name} in this tenant's subtree"),
            ),
            AdminError::UsernameTaken(name) => ApiError::new(
                StatusCode::CONFLICT,
                "username_taken",
                format!("用户名 {name} 已被使用"),
                format!("The username {name} is taken"),
            ),
            AdminError::EmployeeNoTaken {
                tenant,
                employee_no,
            } => ApiError::new(
                StatusCode::CONFLICT,
                "employee_no_taken",
                format!("工号 {employee_no} 在 {tenant} 已被使用"),
                format!("Employee number {employee_no} is taken in {tenant}"),
            ),
            AdminError::OwnAccount => ApiError::new(
                StatusCode::CONFLICT,
                "own_account",
                "不能停用自己的账户或重置自己的密码（请由另一位系统管理员操作）",
                "Administrators cannot disable their own account or reset their own password; another system administrator must",
            ),
            AdminError::WrongKind { zh, en } => {
                ApiError::new(StatusCode::CONFLICT, "wrong_account_kind", zh, en)
            }
            AdminError::Vault(civitas_vault::VaultError::Storage(e)) => e.into(),
            AdminError::Vault(e) => {
                tracing::error!(error = %e, "account contact data could not be sealed or opened");
                ApiError::internal()
            }
            AdminError::Identity(e) => e.into(),
        }
    }
}

/// A page of the accounts of `tenant`'s subtree that `caller` may read
/// (`account.read`), as the API and the console list them.
pub(crate) async fn accounts_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    filter: &AccountFilter,
    after: Option<&AccountCursor>,
    limit: u32,
) -> Result<AccountPage, ApiError> {
    let scope = caller.authorize(state, &tenant.path, NO_LINE, "account.read")?;
    let keyring = state.keyring()?;
    let mut tx = state.db().begin_read(&scope).await?;
    let page = civitas_identity::list_accounts(&mut tx, keyring, filter, after, limit, Utc::now())
        .await
        .map_err(|e| {
            // A filter that does not parse is a bad query, as a bad cursor is.
            let mut error = ApiError::from(e);
            if error.code == "invalid_field" {
                error.status = StatusCode::BAD_REQUEST;
            }
            error
        })?;
    tx.rollback().await?;
    Ok(page)
}

/// Creates `request` at `tenant` for `caller` (`account.administer`, the
/// system administrator's duty), as the API and the console create
/// accounts.
pub(crate) async fn create_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    request: CreateAccount,
) -> Result<CreatedAccount, ApiError> {
    let scope = caller.authorize_duty(state, &tenant.path, NO_LINE, "account.administer")?;
    let account = NewStaffAccount {
        username: request.username,
        kind: request.kind.into(),
        tenant: tenant.path.clone(),
        line: request.line,
        profile: StaffProfile {
            display_name: request.display_name,
            phone: request.phone,
            email: request.email,
            employee_no: request.employee_no,
            position: request.position,
        },
    };
    Ok(civitas_identity::create_staff_account(
        state.db(),
        state.keyring()?,
        &scope,
        &account,
        &tenant.lines,
        caller.username(),
        Utc::now(),
    )
    .await?)
}

/// What the system administrator does to an existing account.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AccountChange<'a> {
    /// Disable it, for this reason (1–500 characters).
    Disable(&'a str),
    /// Enable it again.
    Enable,
    /// Lift a sign-in lock.
    Unlock,
    /// Give it a new one-time password.
    ResetPassword,
}

/// What an [`AccountChange`] did.
pub(crate) struct AccountChanged {
    /// Whether anything changed (disabling a disabled account does not).
    pub(crate) changed: bool,
    /// The new one-time password, after [`AccountChange::ResetPassword`].
    pub(crate) one_time_password: Option<Zeroizing<String>>,
    /// The account afterwards.
    pub(crate) account: AccountDetail,
}

/// Makes `change` to `username` in `tenant`'s subtree for `caller`
/// (`account.administer`), as the API and the console do.
pub(crate) async fn administer(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    username: &str,
    change: AccountChange<'_>,
) -> Result<AccountChanged, ApiError> {
    if let AccountChange::Disable(reason) = change {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "reason：停用原因须为 1–500 个字符",
                "reason: a reason of 1–500 characters is required",
            ));
        }
    }
    let scope = caller.authorize_duty(state, &tenant.path, NO_LINE, "account.administer")?;
    let (db, actor, now) = (state.db(), caller.username(), Utc::now());
    let (changed, one_time_password) = match change {
        AccountChange::Disable(reason) => (
            civitas_identity::set_disabled(
                db,
                &scope,
                username,
                true,
                Some(reason.trim()),
                actor,
                now,
            )
            .await?,
            None,
        ),
        AccountChange::Enable => (
            civitas_identity::set_disabled(db, &scope, username, false, None, actor, now).await?,
            None,
        ),
        AccountChange::Unlock => (
            civitas_identity::unlock(db, &scope, username, actor, now).await?,
            None,
        ),
        AccountChange::ResetPassword => (
            true,
            Some(civitas_identity::reset_password(db, &scope, username, actor, now).await?),
        ),
    };
    let keyring = state.keyring()?;
    let mut tx = state.db().begin_read(&scope).await?;
    let found = civitas_identity::show_account(&mut tx, keyring, username, Utc::now()).await?;
    tx.rollback().await?;
    let account = found.ok_or_else(|| AdminError::NotFound(username.to_owned()))?;
    Ok(AccountChanged {
        changed,
        one_time_password,
        account,
    })
}

/// The accounts of a tenant's subtree (`account.read`: the system,
/// security and audit administrators), filtered and paged.
#[utoipa::path(get, path = "/api/v1/tenants/{path}/accounts", tag = "accounts",
    security(("bearer" = [])),
    params(TenantParam, AccountsQuery),
    responses(
        (status = 200, description = "账户列表 / The accounts", body = AccountList),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn list_accounts(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<AccountsQuery>,
) -> Result<Json<AccountList>, ApiError> {
    let limit = paging::limit(query.limit)?;
    let after = match query.after.as_deref() {
        Some(text) => {
            let [tenant_path, username] = paging::cursor_fields::<2>(text)?;
            Some(AccountCursor::new(tenant_path, username).ok_or_else(paging::invalid_cursor)?)
        }
        None => None,
    };
    let filter = AccountFilter {
        kind: query.kind.map(Into::into),
        line: query.line,
        state: query.state.map(Into::into),
        role: query.role,
        phone: query.phone,
    };
    let page = accounts_in(&state, &caller, &tenant, &filter, after.as_ref(), limit).await?;
    Ok(Json(AccountList {
        accounts: page.accounts.into_iter().map(Into::into).collect(),
        next: page
            .next
            .map(|c| paging::cursor(&[c.tenant_path, c.username])),
    }))
}

/// Which accounts to export: the list's filters, without paging.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AccountsExportQuery {
    /// 只导出此类型 / Only this kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<KindName>,
    /// 只导出此条线 / Only this line.
    #[param(example = "civil-affairs")]
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<String>,
    /// 只导出此状态 / Only accounts in this state.
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<StateName>,
    /// 只导出持有此角色者 / Only holders of this role.
    #[param(example = "officer")]
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    /// 按手机号精确查找（审计记录中不写号码）/ Only the account with this phone number (exact; the audit record says a phone was given, not which).
    #[param(example = "13800138000")]
    #[serde(skip_serializing)]
    phone: Option<String>,
}

/// The accounts of the list with the same filters, every page, as an
/// `.xlsx` workbook (`account.read`, as the list; phone and e-mail masked as
/// the list masks them; audited `account.export` with the filter, the rows
/// and the file's SM3).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/accounts/export", tag = "accounts",
    security(("bearer" = [])),
    params(TenantParam, AccountsExportQuery),
    responses(
        (status = 200, description = "账户导出（xlsx，已脱敏，已审计）/ The accounts as a workbook, masked, audited", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers(
                ("x-export-rows" = u32, description = "行数 / Rows exported"),
                ("x-export-sm3" = String, description = "文件的 SM3（与审计记录一致）/ The file's SM3, as audited")
            )),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 422, description = "超过一个工作表的行数上限 / More rows than a worksheet holds", body = ErrorBody),
        (status = 405, description = "导出请使用 GET（HEAD 不导出）/ Exports are asked for with GET, not HEAD", body = ErrorBody),
        (status = 503, description = "其他导出正在生成，请稍后重试（export_busy）/ Other exports are being written; try again (export_busy)", body = ErrorBody)
    ))]
pub(crate) async fn export_accounts(
    State(state): State<AppState>,
    method: axum::http::Method,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<AccountsExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    crate::export::not_head(&method)?;
    export_accounts_in(&state, &caller, &tenant, query).await
}

/// What `export_accounts` answers, for `caller` at `tenant`: the API's route and the
/// faces' download link come here.
pub(crate) async fn export_accounts_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    query: AccountsExportQuery,
) -> Result<axum::response::Response, ApiError> {
    use civitas_export::{Cell, Column};
    let _turn = crate::export::turn()?;
    let scope = caller.authorize(state, &tenant.path, NO_LINE, "account.read")?;
    let filter = AccountFilter {
        kind: query.kind.map(Into::into),
        line: query.line.clone(),
        state: query.state.map(Into::into),
        role: query.role.clone(),
        phone: query.phone.clone(),
    };
    let mut sheet = crate::export::sheet(
        state,
        ACCOUNTS_EXPORT,
        vec![
            Column::new("用户名", "Username", 22.0),
            Column::new("姓名", "Name", 12.0),
            Column::new("类型", "Kind", 10.0),
            Column::new("所属租户", "Tenant", 14.0),
            Column::new("租户代码", "Tenant code", 24.0),
            Column::new("条线", "Line", 18.0),
            Column::new("工号", "Employee number", 14.0),
            Column::new("岗位", "Position", 14.0),
            Column::new("手机（脱敏）", "Phone (masked)", 14.0),
            Column::new("电子邮箱（脱敏）", "E-mail (masked)", 22.0),
            Column::new("状态", "State", 10.0),
            Column::new("角色", "Roles", 24.0),
            Column::new("创建时间", "Created at", 20.0),
            Column::new("账户编号", "Account id", 38.0),
        ],
    )?;
    let mut after = None;
    loop {
        let page = accounts_in(
            state,
            caller,
            tenant,
            &filter,
            after.as_ref(),
            crate::export::PAGE,
        )
        .await?;
        for account in page.accounts {
            let place = state
                .tenants()
                .get(&account.tenant_path)
                .map_or_else(|| account.tenant_path.clone(), |t| t.name.clone());
            sheet
                .row(vec![
                    Cell::Text(account.username),
                    Cell::Text(account.display_name),
                    Cell::text(match account.kind {
                        AccountKind::Staff => "工作人员",
                        AccountKind::Citizen => "群众",
                        AccountKind::Enterprise => "企业",
                        AccountKind::Developer => "模块开发者",
                        AccountKind::Service => "服务账户",
                    }),
                    Cell::Text(place),
                    Cell::Text(account.tenant_path),
                    Cell::optional(account.line),
                    Cell::optional(account.employee_no),
                    Cell::optional(account.position),
                    Cell::optional(account.phone),
                    Cell::optional(account.email),
                    Cell::text(match account.state {
                        AccountState::Disabled => "已停用",
                        AccountState::Locked => "已锁定",
                        AccountState::Pending => "待改密",
                        AccountState::Active => "正常",
                    }),
                    Cell::Text(account.roles.join("、")),
                    Cell::Time(account.created_at),
                    Cell::Text(account.id),
                ])
                .map_err(crate::export::export_error)?;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut filter = serde_json::to_value(&query).unwrap_or(serde_json::Value::Null);
    if let (Some(_), Some(filter)) = (&query.phone, filter.as_object_mut()) {
        filter.insert("phone".to_owned(), serde_json::Value::from("(given)"));
    }
    crate::export::respond(
        state,
        caller,
        &scope,
        &tenant.path,
        ACCOUNTS_EXPORT,
        filter,
        sheet,
    )
    .await
}

/// An accounts export.
const ACCOUNTS_EXPORT: crate::export::Kind = crate::export::Kind {
    action: "account.export",
    zh: "账户",
    en: "Accounts",
};

/// Creates a staff, developer or service account at the tenant
/// (`account.administer`: the system administrator). A person gets a
/// one-time password, shown once and changed at first sign-in; a service
/// account gets none (the security administrator issues it API keys).
/// Roles are granted by the security administrator; another administrator
/// asking is 409 `separation_of_duties`.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/accounts", tag = "accounts",
    security(("bearer" = [])),
    params(TenantParam),
    request_body = CreateAccount,
    responses(
        (status = 201, description = "已创建（一次性密码仅显示一次）/ Created; the one-time password is shown once", body = CreatedAccountBody),
        (status = 403, description = "无权创建 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 409, description = "用户名或工号已被使用，或三员分立 / Username or employee number taken, or separation of duties", body = ErrorBody),
        (status = 422, description = "字段无效（逐项列出）/ Invalid fields, each named", body = ErrorBody)
    ))]
pub(crate) async fn create_account(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiJson(request): ApiJson<CreateAccount>,
) -> Result<(StatusCode, Json<CreatedAccountBody>), ApiError> {
    let created = create_in(&state, &caller, &tenant, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAccountBody {
            account: created.account.into(),
            one_time_password: created.one_time_password.map(|p| p.to_string()),
        }),
    ))
}

/// One account of the tenant's subtree (`account.read`).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/accounts/{username}", tag = "accounts",
    security(("bearer" = [])),
    params(TenantParam, AccountParam),
    responses(
        (status = 200, description = "账户 / The account", body = AccountView),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或账户不存在 / No such tenant or account", body = ErrorBody)
    ))]
pub(crate) async fn get_account(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(AccountParam { username }): Path<AccountParam>,
) -> Result<Json<AccountView>, ApiError> {
    let scope = caller.authorize(&state, &tenant.path, NO_LINE, "account.read")?;
    let keyring = state.keyring()?;
    let mut tx = state.db().begin_read(&scope).await?;
    let found = civitas_identity::show_account(&mut tx, keyring, &username, Utc::now()).await?;
    tx.rollback().await?;
    found
        .map(|a| Json(a.into()))
        .ok_or_else(|| AdminError::NotFound(username).into())
}

/// Changes an account's profile (`account.administer`); the audit record
/// names the fields changed, not their values.
#[utoipa::path(patch, path = "/api/v1/tenants/{path}/accounts/{username}", tag = "accounts",
    security(("bearer" = [])),
    params(TenantParam, AccountParam),
    request_body = UpdateAccount,
    responses(
        (status = 200, description = "已修改 / Changed", body = AccountView),
        (status = 403, description = "无权修改 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或账户不存在 / No such tenant or account", body = ErrorBody),
        (status = 409, description = "工号已被使用，或三员分立 / Employee number taken, or separation of duties", body = ErrorBody),
        (status = 422, description = "字段无效 / Invalid fields", body = ErrorBody)
    ))]
pub(crate) async fn update_account(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(AccountParam { username }): Path<AccountParam>,
    ApiJson(request): ApiJson<UpdateAccount>,
) -> Result<Json<AccountView>, ApiError> {
    let scope = caller.authorize_duty(&state, &tenant.path, NO_LINE, "account.administer")?;
    let change = ProfileChange {
        display_name: request.display_name,
        phone: request.phone,
        email: request.email,
        employee_no: request.employee_no,
        position: request.position,
    };
    let account = civitas_identity::update_profile(
        state.db(),
        state.keyring()?,
        &scope,
        &username,
        &change,
        caller.username(),
        Utc::now(),
    )
    .await?;
    Ok(Json(account.into()))
}

/// Disables an account (`account.administer`): its sessions end and its
/// API keys stop at once; the next request it makes is 401. The reason
/// goes to the audit log.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/accounts/{username}/disable", tag = "accounts",
    security(("bearer" = [])),
    params(TenantParam, AccountParam),
    request_body = DisableAccount,
    responses(
        (status = 200, description = "已停用 / Disabled", body = StateChange),
        (status = 403, description = "无权操作 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或账户不存在 / No such tenant or account", body = ErrorBody),
        (status = 409, description = "不能停用自己，或三员分立 / Not one's own account, or separation of duties", body = ErrorBody),
        (status = 422, description = "缺少停用原因 / No reason given", body = ErrorBody)
    ))]
pub(crate) async fn disable_account(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(AccountParam { username }): Path<AccountParam>,
    ApiJson(body): ApiJson<DisableAccount>,
) -> Result<Json<StateChange>, ApiError> {
    let done = administer(
        &state,
        &caller,
        &tenant,
        &username,
        AccountChange::Disable(&body.reason),
    )
    .await?;
    Ok(Json(StateChange {
        changed: done.changed,
        account: done.account.into(),
    }))
}

/// Enables a disabled account again (`account.administer`).
#[utoipa::path(post, path = "/api/v1/tenants/{path}/accounts/{username}/enable", tag = "accounts",
    security(("bearer" = [])),
    params(TenantParam, AccountParam),
    responses(
        (status = 200, description = "已启用 / Enabled", body = StateChange),
        (status = 403, description = "无权操作 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或账户不存在 / No such tenant or account", body = ErrorBody),
        (status = 409, description = "三员分立 / Separation of duties", body = ErrorBody)
    ))]
pub(crate) async fn enable_account(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(AccountParam { username }): Path<AccountParam>,
) -> Result<Json<StateChange>, ApiError> {
    let done = administer(&state, &caller, &tenant, &username, AccountChange::Enable).await?;
    Ok(Json(StateChange {
        changed: done.changed,
        account: done.account.into(),
    }))
}

/// Lifts a sign-in lock (`account.administer`); `changed` says whether the
/// account was locked.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/accounts/{username}/unlock", tag = "accounts",
    security(("bearer" = [])),
    params(TenantParam, AccountParam),
    responses(
        (status = 200, description = "已解锁 / Unlocked", body = StateChange),
        (status = 403, description = "无权操作 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或账户不存在 / No such tenant or account", body = ErrorBody),
        (status = 409, description = "三员分立 / Separation of duties", body = ErrorBody)
    ))]
pub(crate) async fn unlock_account(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(AccountParam { username }): Path<AccountParam>,
) -> Result<Json<StateChange>, ApiError> {
    let done = administer(&state, &caller, &tenant, &username, AccountChange::Unlock).await?;
    Ok(Json(StateChange {
        changed: done.changed,
        account: done.account.into(),
    }))
}

/// Gives a person's account a new one-time password (`account.administer`),
/// to be changed at sign-in; its sessions end and any lock is lifted.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/accounts/{username}/password-reset", tag = "accounts",
    security(("bearer" = [])),
    params(TenantParam, AccountParam),
    responses(
        (status = 200, description = "新的一次性密码（仅显示一次）/ The new one-time password, shown once", body = PasswordReset),
        (status = 403, description = "无权操作 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或账户不存在 / No such tenant or account", body = ErrorBody),
        (status = 409, description = "服务账户无密码、不能重置自己的密码，或三员分立 / A service account, one's own account, or separation of duties", body = ErrorBody)
    ))]
pub(crate) async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(AccountParam { username }): Path<AccountParam>,
) -> Result<Json<PasswordReset>, ApiError> {
    let done = administer(
        &state,
        &caller,
        &tenant,
        &username,
        AccountChange::ResetPassword,
    )
    .await?;
    let otp = done.one_time_password.ok_or_else(ApiError::internal)?;
    let account = AccountView::from(done.account);
    Ok(Json(PasswordReset {
        one_time_password: otp.to_string(),
        one_time_until: account.one_time_until,
    }))
}
