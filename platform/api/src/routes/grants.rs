//! Grants of roles on tenant subtrees: read by holders of `grant.read`,
//! changed by holders of `grant.manage` (the security administrator), each
//! change audited in the tenant's chain.
//!
//! ```text
//! GET    /api/v1/tenants/{path}/grants                          the grants on the subtree, paged
//! POST   /api/v1/tenants/{path}/grants                          grant a role at the tenant
//! DELETE /api/v1/tenants/{path}/grants/{account}/{line}/{role}  revoke that grant
//! ```
//!
//! A grant is named by what makes it: the tenant, the account's username,
//! the line (`*` for every line) and the role. A grant listed under a
//! subtree is revoked at its own tenant (its `tenant` field).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use civitas_authz::{Grant, GrantError, NO_LINE};
use civitas_storage::TenantRecord;
use civitas_tenancy::TenantPath;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::tenants::TenantParam;
use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::paging;
use crate::tenant::Tenant;

/// A page of grants.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct GrantsQuery {
    /// 上一页的 next / The previous page's `next`.
    after: Option<String>,
    /// 每页条数 1–200（默认 50）/ Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A grant as shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GrantView {
    /// 账户用户名 / The account's username.
    #[schema(example = "pudong-reviewer")]
    pub(crate) account: String,
    /// 账户编号 / The account's id.
    pub(crate) account_id: String,
    /// 授权的子树根 / The subtree's root.
    #[schema(example = "310000/310115")]
    pub(crate) tenant: String,
    /// 业务条线，`*` 为全部条线 / The line, or `*`.
    #[schema(example = "civil-affairs")]
    pub(crate) line: String,
    /// 角色 / The role.
    #[schema(example = "reviewer")]
    pub(crate) role: String,
    /// 授权人 / Who granted it.
    pub(crate) granted_by: Option<String>,
    /// 授权时间（RFC 3339）/ When (RFC 3339).
    #[schema(example = "2026-11-23T09:30:00+00:00")]
    pub(crate) granted_at: Option<String>,
}

/// A page of the grants of a subtree.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GrantList {
    /// 按租户、条线、角色、账户排序 / By tenant, line, role and account.
    grants: Vec<GrantView>,
    /// 下一页游标，末页无此字段 / Pass as `after` for the next page; absent on the last page.
    next: Option<String>,
}

/// A grant to make at the tenant the path names.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantRequest {
    /// 账户用户名（工作人员或开发者）/ The account's username (staff or developer).
    #[schema(example = "lujiazui-officer")]
    account: String,
    /// 业务条线，`*` 为全部条线 / The line, or `*` for every line.
    #[schema(example = "civil-affairs")]
    line: String,
    /// 角色（见 policies/base.csv）/ The role, as in policies/base.csv.
    #[schema(example = "officer")]
    role: String,
}

/// The grant a path names, after its tenant.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct GrantParams {
    /// 账户用户名 / The account's username.
    #[param(example = "lujiazui-officer")]
    account: String,
    /// 业务条线，`*` 为全部条线 / The line, or `*` for every line.
    #[param(example = "civil-affairs")]
    line: String,
    /// 角色 / The role.
    #[param(example = "officer")]
    role: String,
}

impl From<GrantError> for ApiError {
    fn from(error: GrantError) -> ApiError {
        let unprocessable = |code, e: &GrantError| {
            let text = e.to_string();
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, text.clone(), text)
        };
        match &error {
            GrantError::UnknownRole(_) => unprocessable("unknown_role", &error),
            // One answer for a missing account and one that cannot hold
            // roles, so administrators cannot map other tenants' users.
            GrantError::UnknownAccount(name) | GrantError::NotStaff(name) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_account",
                format!("没有可授权的工作人员或开发者账户：{name}"),
                format!("No staff or developer account to grant to: {name}"),
            ),
            GrantError::SelfGrant => ApiError::new(
                StatusCode::CONFLICT,
                "self_grant",
                "不能为自己授权，请由另一位安全管理员操作",
                "Nobody grants roles to themselves; ask another security administrator",
            ),
            GrantError::UnknownTenant(_) => unprocessable("unknown_tenant", &error),
            GrantError::InvalidLine(_) => unprocessable("invalid_line", &error),
            GrantError::SeparationOfDuties { held, wanted } => ApiError::new(
                StatusCode::CONFLICT,
                "separation_of_duties",
                format!("三员分立：该账户已承担{held}职责，不能再承担{wanted}职责"),
                format!(
                    "Separation of duties: the account already carries the {held} duty and cannot also carry {wanted}"
                ),
            ),
            GrantError::Storage(e) if e.is_unavailable() => ApiError::database_unavailable(),
            GrantError::Storage(_) | GrantError::Audit(_) => {
                tracing::error!(%error, "grant change failed");
                ApiError::internal()
            }
        }
    }
}

/// A page of the grants on `tenant`'s subtree (`grant.read`) and the
/// cursor of the next, as the API and the console list them.
pub(crate) async fn grants_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    after: Option<&Grant>,
    limit: u32,
) -> Result<(Vec<GrantView>, Option<String>), ApiError> {
    let scope = caller.authorize(state, &tenant.path, NO_LINE, "grant.read")?;
    let mut tx = state.db().begin_read(&scope).await?;
    let records = civitas_authz::grants_under(&mut tx, after, i64::from(limit) + 1).await?;
    tx.rollback().await?;
    let (records, next) = paging::page(records, limit, |r| {
        let g = &r.grant;
        paging::cursor(&[g.tenant.as_str(), &g.line, &g.role, &g.account])
    });
    let ids: Vec<String> = records.iter().map(|r| r.grant.account.clone()).collect();
    let names = civitas_identity::usernames(state.db(), &ids).await?;
    let grants = records
        .into_iter()
        .map(|r| GrantView {
            account: names
                .get(&r.grant.account)
                .cloned()
                .unwrap_or_else(|| r.grant.account.clone()),
            account_id: r.grant.account,
            tenant: r.grant.tenant.to_string(),
            line: r.grant.line,
            role: r.grant.role,
            granted_by: Some(r.granted_by),
            granted_at: Some(r.granted_at.to_rfc3339()),
        })
        .collect();
    Ok((grants, next))
}

/// The grants on the tenant's subtree, by tenant, line, role and account,
/// a page at a time (`grant.read`).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/grants", tag = "grants",
    security(("bearer" = [])),
    params(TenantParam, GrantsQuery),
    responses(
        (status = 200, description = "授权列表 / A page of grants", body = GrantList),
        (status = 400, description = "查询参数、limit 或 after 无效 / Invalid query, limit or cursor", body = ErrorBody),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<GrantsQuery>,
) -> Result<Json<GrantList>, ApiError> {
    let limit = paging::limit(query.limit)?;
    let after = match &query.after {
        None => None,
        Some(cursor) => {
            let [tenant, line, role, account] = paging::cursor_fields(cursor)?;
            Some(Grant {
                account,
                tenant: TenantPath::parse(&tenant).map_err(|_| paging::invalid_cursor())?,
                line,
                role,
            })
        }
    };
    let (grants, next) = grants_in(&state, &caller, &tenant, after.as_ref(), limit).await?;
    Ok(Json(GrantList { grants, next }))
}

/// Resolves `account`, `line` and `role` at `tenant` into a grant, after
/// deciding that `caller` may manage grants there.
async fn authorized_grant(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    account: &str,
    line: &str,
    role: &str,
) -> Result<Grant, ApiError> {
    caller.authorize_duty(state, &tenant.path, NO_LINE, "grant.manage")?;
    let found = civitas_identity::find_account(state.db(), account)
        .await?
        .ok_or_else(|| GrantError::UnknownAccount(account.to_owned()))?;
    if !matches!(
        found.kind,
        civitas_identity::AccountKind::Staff | civitas_identity::AccountKind::Developer
    ) {
        return Err(GrantError::NotStaff(account.to_owned()).into());
    }
    Ok(Grant {
        account: found.id,
        tenant: tenant.path.clone(),
        line: line.to_owned(),
        role: role.to_owned(),
    })
}

/// Grants `role` in `line` to `account` on `tenant`'s subtree for
/// `caller` (`grant.manage`, the security administrator's duty): the grant,
/// and whether it is new. As the API and the console grant.
pub(crate) async fn grant_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    account: &str,
    line: &str,
    role: &str,
) -> Result<(Grant, bool), ApiError> {
    let grant = authorized_grant(state, caller, tenant, account, line, role).await?;
    if grant.account == caller.account_id() {
        return Err(GrantError::SelfGrant.into());
    }
    let permissions = state.authorizer()?.permissions().clone();
    let created =
        civitas_authz::add_grant(state.db(), &permissions, &grant, caller.username()).await?;
    // This node decides with it at once; the others within their refresh.
    // The change is committed: a poisoned index only delays it to the reload.
    if let Ok(mut authorizer) = state.authorizer_mut() {
        authorizer.add(grant.clone());
    }
    Ok((grant, created))
}

/// Revokes the grant of `role` in `line` to `account` at `tenant` for
/// `caller` (`grant.manage`); 404 `grant_not_found` when there is none.
pub(crate) async fn revoke_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    account: &str,
    line: &str,
    role: &str,
) -> Result<(), ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "grant_not_found",
            "该授权不存在",
            "No such grant",
        )
    };
    let grant = match authorized_grant(state, caller, tenant, account, line, role).await {
        Ok(grant) => grant,
        Err(e) if e.code == "unknown_account" => return Err(not_found()),
        Err(e) => return Err(e),
    };
    if !civitas_authz::remove_grant(state.db(), &grant, caller.username()).await? {
        return Err(not_found());
    }
    if let Ok(mut authorizer) = state.authorizer_mut() {
        authorizer.remove(&grant);
    }
    Ok(())
}

/// Grants a role on the tenant's subtree (`grant.manage`); 201 when new,
/// 200 when it was already held. Refuses a second of the three
/// administrator roles.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/grants", tag = "grants",
    security(("bearer" = [])),
    params(TenantParam),
    request_body = GrantRequest,
    responses(
        (status = 201, description = "已授权 / Granted", body = GrantView),
        (status = 200, description = "已持有 / Already held", body = GrantView),
        (status = 403, description = "无权授权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 409, description = "违反三员分立或为自己授权 / Separation of duties, or a grant to oneself", body = ErrorBody),
        (status = 422, description = "角色、账户或条线无效 / Unknown role, account or line", body = ErrorBody)
    ))]
pub(crate) async fn create_grant(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiJson(request): ApiJson<GrantRequest>,
) -> Result<(StatusCode, Json<GrantView>), ApiError> {
    let (grant, created) = grant_in(
        &state,
        &caller,
        &tenant,
        &request.account,
        &request.line,
        &request.role,
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(GrantView {
            account: request.account,
            account_id: grant.account,
            tenant: grant.tenant.to_string(),
            line: grant.line,
            role: grant.role,
            granted_by: created.then(|| caller.username().to_owned()),
            granted_at: None,
        }),
    ))
}

/// Revokes the grant of `role` in `line` to `account` at the tenant
/// (`grant.manage`); 204, or 404 `grant_not_found`.
#[utoipa::path(delete, path = "/api/v1/tenants/{path}/grants/{account}/{line}/{role}", tag = "grants",
    security(("bearer" = [])),
    params(TenantParam, GrantParams),
    responses(
        (status = 204, description = "已撤销 / Revoked"),
        (status = 403, description = "无权撤销 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或授权不存在 / No such tenant or grant", body = ErrorBody)
    ))]
pub(crate) async fn delete_grant(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(named): Path<GrantParams>,
) -> Result<StatusCode, ApiError> {
    revoke_in(
        &state,
        &caller,
        &tenant,
        &named.account,
        &named.line,
        &named.role,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
