//! API keys of service accounts, managed by holders of `key.manage`
//! (the security administrator). A key is shown once, at issue; it is
//! stored only as its SM3 digest and can be revoked at any time.
//!
//! A key carries only actions and lines its issuer could grant, and a key
//! that reaches personal data (`resident.*`, `case.*`) works only after a
//! second person of the tenant approves it (`key.approve`: the tenant's
//! administrator; never the issuer) — the two-person rule, audited.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use civitas_authz::NO_LINE;
use civitas_identity::{
    ApprovalRefused, IdentityError, KeyError, KeyRequestError, NewServiceKey, ServiceKey,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::tenants::TenantParam;
use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::paging;
use crate::tenant::Tenant;

/// An API key as shown (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServiceKeyView {
    /// The key id (the public part of the key).
    id: String,
    /// The service account's username.
    account: String,
    /// What the key is for.
    name: String,
    /// The subtree it may act in.
    tenant: String,
    /// The actions it may do.
    actions: Vec<String>,
    /// The lines it may act in (`*` = every line).
    lines: Vec<String>,
    /// Source networks allowed (CIDR); empty = any.
    allowed_ips: Vec<String>,
    /// Who issued it.
    created_by: String,
    /// When (RFC 3339).
    created_at: String,
    /// When it stops working, if ever.
    expires_at: Option<String>,
    /// When it was revoked, if it was.
    revoked_at: Option<String>,
    /// Waiting for a second person's approval: it does not work yet.
    pending: bool,
    /// Who approved it (keys that reach personal data).
    approved_by: Option<String>,
}

impl From<ServiceKey> for ServiceKeyView {
    fn from(key: ServiceKey) -> ServiceKeyView {
        ServiceKeyView {
            id: key.id,
            account: key.account,
            name: key.name,
            tenant: key.tenant.to_string(),
            actions: key.actions,
            lines: key.lines,
            allowed_ips: key.allowed_ips,
            created_by: key.created_by,
            created_at: key.created_at.to_rfc3339(),
            expires_at: key.expires_at.map(|t| t.to_rfc3339()),
            revoked_at: key.revoked_at.map(|t| t.to_rfc3339()),
            pending: key.pending,
            approved_by: key.approved_by,
        }
    }
}

/// A page of the keys of a subtree.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServiceKeyList {
    /// Newest first, revoked ones included.
    keys: Vec<ServiceKeyView>,
    /// Pass as `after` for the next page; absent on the last page.
    next: Option<String>,
}

/// Which page of keys.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct KeysQuery {
    /// The previous page's `next`.
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A key in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct KeyParam {
    /// 密钥编号 / The key id.
    #[param(example = "3f2a9c1d5e6b7a80")]
    id: String,
}

/// A key to issue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueKey {
    /// The service account's username: a service account of this tenant,
    /// created by the system administrator.
    #[schema(example = "pudong-subsidy-system")]
    account: String,
    /// What the key is for.
    #[schema(example = "浦东助餐补贴系统 / Pudong meal-subsidy system")]
    name: String,
    /// The actions it may do (only what the issuer could grant);
    /// administrators' duties are refused.
    #[schema(example = json!(["resident.read"]))]
    actions: Vec<String>,
    /// The lines it may act in; default every line (`*`).
    #[schema(example = json!(["civil-affairs"]))]
    lines: Option<Vec<String>>,
    /// Source networks allowed (CIDR or single addresses); default any.
    #[schema(example = json!(["10.20.0.0/16"]))]
    allowed_ips: Option<Vec<String>>,
    /// When it stops working (RFC 3339); default never.
    expires_at: Option<DateTime<Utc>>,
}

/// An issued key with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IssuedKeyBody {
    /// The key.
    key: ServiceKeyView,
    /// Present it as `Authorization: Bearer <secret>`; it cannot be shown again.
    #[schema(example = "civ_3f2a9c1d5e6b7a80_…")]
    secret: String,
}

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> ApiError {
        match error {
            KeyError::Identity(IdentityError::KeyRequest(e)) => key_request_error(&e),
            KeyError::Identity(e) => e.into(),
            KeyError::Rejected(_) => ApiError::internal(),
        }
    }
}

fn key_request_error(error: &KeyRequestError) -> ApiError {
    let (code, zh, en) = match error {
        KeyRequestError::NoActions => (
            "invalid_key_request",
            "密钥至少须有一个操作权限".to_owned(),
            "A key needs at least one action".to_owned(),
        ),
        KeyRequestError::UnknownAction(a) => (
            "unknown_action",
            format!("未知操作：{a}"),
            format!("Unknown action: {a}"),
        ),
        KeyRequestError::AdministratorAction(a) => (
            "administrator_action",
            format!("{a} 属于管理员职责，不能授予机器密钥"),
            format!("{a} is an administrator's duty and cannot be given to a key"),
        ),
        KeyRequestError::InvalidLine(l) => (
            "invalid_line",
            format!("业务条线无效：{l}"),
            format!("Invalid line: {l}"),
        ),
        KeyRequestError::NotServiceAccount(a) => (
            "not_service_account",
            format!(
                "{a} 不是该租户的服务账户（服务账户由系统管理员创建：POST …/accounts，kind = service）"
            ),
            format!(
                "{a} is not a service account of this tenant (the system administrator creates service accounts: POST …/accounts with kind service)"
            ),
        ),
        KeyRequestError::ExpiryInThePast => (
            "invalid_expiry",
            "到期时间须在将来".to_owned(),
            "The expiry must be in the future".to_owned(),
        ),
        KeyRequestError::InvalidUsername(a) => (
            "invalid_username",
            format!("用户名须为 3–64 个小写字母、数字或 -_.：{a}"),
            format!("A username is 3–64 lowercase letters, digits or -_.: {a}"),
        ),
    };
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, zh, en)
}

/// The API keys issued in a subtree (`key.manage`), newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{path}/api-keys", tag = "api-keys",
    security(("bearer" = [])),
    params(TenantParam, KeysQuery),
    responses(
        (status = 200, description = "密钥列表 / The keys", body = ServiceKeyList),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<KeysQuery>,
) -> Result<Json<ServiceKeyList>, ApiError> {
    let limit = paging::limit(query.limit)?;
    let after = paging::after(query.after.as_deref(), civitas_identity::parse_key_cursor)?;
    let scope = caller.authorize(&state, &tenant.path, NO_LINE, "key.manage")?;
    let mut tx = state.db().begin_read(&scope).await?;
    let page = civitas_identity::list_service_keys(&mut tx, after.as_ref(), limit).await?;
    tx.rollback().await?;
    Ok(Json(ServiceKeyList {
        keys: page.keys.into_iter().map(Into::into).collect(),
        next: page.next,
    }))
}

/// Whether an action reaches personal data: residents' records, and cases
/// (applications carry applicants' data).
fn reaches_personal_data(action: &str) -> bool {
    action.starts_with("resident.") || action.starts_with("case.")
}

/// Issues an API key for a service account (`key.manage`), scoped to
/// the tenant's subtree, a set of actions and lines, and optionally source
/// networks. The issuer must be able to grant what the key carries: hold
/// each action, or `grant.manage`, in each of its lines. A key reaching
/// personal data is issued pending: it works once a second person approves
/// it (`POST …/api-keys/{id}/approve`).
#[utoipa::path(post, path = "/api/v1/tenants/{path}/api-keys", tag = "api-keys",
    security(("bearer" = [])),
    params(TenantParam),
    request_body = IssueKey,
    responses(
        (status = 201, description = "已签发（密钥仅显示一次；涉及个人信息的密钥须经第二人批准后生效） / Issued; the secret is shown once; a key reaching personal data works after a second person approves it", body = IssuedKeyBody),
        (status = 403, description = "无权签发或超出签发人可授予的范围 / Not allowed, or beyond what the issuer could grant", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 422, description = "操作、条线或地址无效 / Invalid action, line or network", body = ErrorBody)
    ))]
pub(crate) async fn issue_key(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiJson(request): ApiJson<IssueKey>,
) -> Result<(StatusCode, Json<IssuedKeyBody>), ApiError> {
    caller.authorize(&state, &tenant.path, NO_LINE, "key.manage")?;
    let mut allowed_ips = Vec::new();
    for network in request.allowed_ips.unwrap_or_default() {
        let parsed = network
            .parse::<ipnet::IpNet>()
            .or_else(|_| network.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_network",
                    format!("不是有效的地址或网段：{network}"),
                    format!("Not an address or CIDR network: {network}"),
                )
            })?;
        allowed_ips.push(parsed);
    }
    if request.name.trim().is_empty() || request.name.chars().count() > 100 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "name 须为 1 到 100 个字符",
            "name must be 1 to 100 characters",
        ));
    }
    let needs_approval = request.actions.iter().any(|a| reaches_personal_data(a));
    let new = NewServiceKey {
        account: request.account,
        name: request.name.trim().to_owned(),
        tenant: tenant.path.clone(),
        actions: request.actions,
        lines: request.lines.unwrap_or_default(),
        allowed_ips,
        expires_at: request.expires_at,
        needs_approval,
    };
    let known: Vec<String> = state
        .authorizer()?
        .permissions()
        .actions()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let administrator: Vec<&str> = civitas_authz::administrator_actions().collect();
    civitas_identity::check_key_request(&new, &known, &administrator)
        .map_err(|e| key_request_error(&e))?;
    // Nothing beyond what the issuer could grant: each action in each line
    // (every line for a key without lines) held, or grantable.
    let lines = if new.lines.is_empty() {
        vec![civitas_identity::ALL_LINES.to_owned()]
    } else {
        new.lines.clone()
    };
    for line in &lines {
        if caller
            .authorize(&state, &tenant.path, line, "grant.manage")
            .is_ok()
        {
            continue;
        }
        for action in &new.actions {
            caller
                .authorize(&state, &tenant.path, line, action)
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::FORBIDDEN,
                        "beyond_issuer",
                        format!("签发人无权授予 {action}（条线 {line}），不能放入密钥"),
                        format!("The issuer could not grant {action} in line {line}, so a key may not carry it"),
                    )
                })?;
        }
    }
    let issued = civitas_identity::issue_service_key(state.db(), &new, caller.username()).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedKeyBody {
            key: issued.key.into(),
            secret: issued.secret,
        }),
    ))
}

/// Approves a key that reaches personal data (`key.approve` in each of its
/// lines: the tenant's administrator), by someone other than its issuer;
/// audited as `service_key.approve`. The key works from the next request.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/api-keys/{id}/approve", tag = "api-keys",
    security(("bearer" = [])),
    params(TenantParam, KeyParam),
    responses(
        (status = 200, description = "已批准 / Approved", body = ServiceKeyView),
        (status = 403, description = "无权批准，或批准人即签发人 / Not allowed, or the approver issued it", body = ErrorBody),
        (status = 404, description = "该范围内无此有效密钥 / No such live key in this subtree", body = ErrorBody),
        (status = 409, description = "无需批准或已批准 / Needs no approval, or already approved", body = ErrorBody)
    ))]
pub(crate) async fn approve_key(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(KeyParam { id }): Path<KeyParam>,
) -> Result<Json<ServiceKeyView>, ApiError> {
    // Authorised in the approver's own line (every line without one) to
    // find the key, then in every line the key reaches.
    let scope = caller.authorize(&state, &tenant.path, caller.line_for(None), "key.approve")?;
    let mut read = state.db().begin_read(&scope).await?;
    let key = civitas_identity::find_service_key(&mut read, &id).await?;
    read.rollback().await?;
    let key = key.ok_or_else(key_not_found)?;
    for line in &key.lines {
        caller.authorize(&state, &key.tenant, line, "key.approve")?;
    }
    match civitas_identity::approve_service_key(state.db(), &scope, &id, caller.username()).await? {
        Ok(key) => Ok(Json(key.into())),
        Err(ApprovalRefused::NotFound) => Err(key_not_found()),
        Err(ApprovalRefused::NotPending) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "key_not_pending",
            "该密钥无需批准或已批准",
            "This key needs no approval, or already has it",
        )),
        Err(ApprovalRefused::SamePerson) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "two_person_rule",
            "签发人不能批准自己签发的密钥，须由第二人批准",
            "The issuer may not approve their own key: a second person must",
        )),
    }
}

fn key_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "key_not_found",
        "该租户范围内没有此有效密钥",
        "No such live key in this tenant's subtree",
    )
}

/// Revokes an API key (`key.manage` on the subtree it lies in); the
/// next call with it is refused on every node. 204, or 404 `key_not_found`.
#[utoipa::path(delete, path = "/api/v1/tenants/{path}/api-keys/{id}", tag = "api-keys",
    security(("bearer" = [])),
    params(TenantParam, KeyParam),
    responses(
        (status = 204, description = "已吊销 / Revoked"),
        (status = 403, description = "无权吊销 / Not allowed", body = ErrorBody),
        (status = 404, description = "该范围内无此有效密钥 / No such live key in this subtree", body = ErrorBody)
    ))]
pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(KeyParam { id }): Path<KeyParam>,
) -> Result<StatusCode, ApiError> {
    let scope = caller.authorize(&state, &tenant.path, NO_LINE, "key.manage")?;
    if civitas_identity::revoke_service_key(state.db(), &scope, &id, caller.username()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(key_not_found())
    }
}
