//! Grants of roles on tenant subtrees: read by holders of `grant.read`,
//! changed by holders of `grant.manage` (the security administrator), each
//! change audited in the tenant's chain.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use civitas_authz::{Grant, GrantError, NO_LINE};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{self, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};

/// Which grants to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantsQuery {
    /// The subtree: a path of codes or a slug path.
    #[param(example = "shanghai/pudong")]
    tenant: String,
}

/// A grant as shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GrantView {
    /// The account's username.
    #[schema(example = "pudong-reviewer")]
    account: String,
    /// The account's id.
    account_id: String,
    /// The subtree's root.
    #[schema(example = "310000/310115")]
    tenant: String,
    /// The line, or `*`.
    #[schema(example = "civil-affairs")]
    line: String,
    /// The role.
    #[schema(example = "reviewer")]
    role: String,
    /// Who granted it.
    granted_by: Option<String>,
    /// When (RFC 3339).
    granted_at: Option<String>,
}

/// The grants of a subtree.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GrantList {
    /// By tenant, line, role.
    grants: Vec<GrantView>,
}

/// A grant to make or revoke.
#[derive(Debug, Deserialize, ToSchema, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantRequest {
    /// The account's username.
    #[schema(example = "lujiazui-officer")]
    account: String,
    /// The subtree's root: a path of codes or a slug path.
    #[schema(example = "shanghai/pudong/lujiazui")]
    tenant: String,
    /// The line, or `*` for every line.
    #[schema(example = "civil-affairs")]
    line: String,
    /// The role, as in policies/base.csv.
    #[schema(example = "officer")]
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

/// The grants on a tenant's subtree (`grant.read`).
#[utoipa::path(get, path = "/api/v1/grants", tag = "grants",
    security(("bearer" = [])),
    params(GrantsQuery),
    responses(
        (status = 200, description = "授权列表 / The grants", body = GrantList),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<GrantsQuery>,
) -> Result<Json<GrantList>, ApiError> {
    let tenant = access::tenant(&state, &query.tenant).await?;
    let scope = caller.authorize(&state, &tenant.path, NO_LINE, "grant.read")?;
    let mut tx = state.db().begin_read(&scope).await?;
    let records = civitas_authz::grants_under(&mut tx).await?;
    tx.rollback().await?;
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
    Ok(Json(GrantList { grants }))
}

/// Resolves a request into a grant, after deciding that `caller` may
/// manage grants on its tenant.
async fn authorized_grant(
    state: &AppState,
    caller: &Caller,
    request: &GrantRequest,
) -> Result<Grant, ApiError> {
    let tenant = access::tenant(state, &request.tenant).await?;
    caller.authorize(state, &tenant.path, NO_LINE, "grant.manage")?;
    let account = civitas_identity::find_account(state.db(), &request.account)
        .await?
        .ok_or_else(|| GrantError::UnknownAccount(request.account.clone()))?;
    if !matches!(
        account.kind,
        civitas_identity::AccountKind::Staff | civitas_identity::AccountKind::Developer
    ) {
        return Err(GrantError::NotStaff(request.account.clone()).into());
    }
    Ok(Grant {
        account: account.id,
        tenant: tenant.path,
        line: request.line.clone(),
        role: request.role.clone(),
    })
}

/// Grants a role on a subtree (`grant.manage`); 201 when new, 200 when it
/// was already held. Refuses a second of the three administrator roles.
#[utoipa::path(post, path = "/api/v1/grants", tag = "grants",
    security(("bearer" = [])),
    request_body = GrantRequest,
    responses(
        (status = 201, description = "已授权 / Granted", body = GrantView),
        (status = 200, description = "已持有 / Already held", body = GrantView),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 403, description = "无权授权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 409, description = "违反三员分立 / Separation of duties", body = ErrorBody),
        (status = 422, description = "角色、账户或条线无效 / Unknown role, account or line", body = ErrorBody)
    ))]
pub(crate) async fn create_grant(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<GrantRequest>,
) -> Result<(StatusCode, Json<GrantView>), ApiError> {
    let grant = authorized_grant(&state, &caller, &request).await?;
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

/// Revokes a grant (`grant.manage`); 204, or 404 `grant_not_found`.
#[utoipa::path(delete, path = "/api/v1/grants", tag = "grants",
    security(("bearer" = [])),
    params(GrantRequest),
    responses(
        (status = 204, description = "已撤销 / Revoked"),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 403, description = "无权撤销 / Not allowed", body = ErrorBody),
        (status = 404, description = "无此授权或租户 / No such grant or tenant", body = ErrorBody)
    ))]
pub(crate) async fn delete_grant(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(request): ApiQuery<GrantRequest>,
) -> Result<StatusCode, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "grant_not_found",
            "该授权不存在",
            "No such grant",
        )
    };
    let grant = match authorized_grant(&state, &caller, &request).await {
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
    Ok(StatusCode::NO_CONTENT)
}
