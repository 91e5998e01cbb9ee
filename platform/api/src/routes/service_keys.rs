//! API keys of service accounts, managed by holders of `account.manage`
//! (the security administrator). A key is shown once, at issue; it is
//! stored only as its SM3 digest and can be revoked at any time.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use civitas_authz::NO_LINE;
use civitas_identity::{IdentityError, KeyError, KeyRequestError, NewServiceKey, ServiceKey};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{self, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};

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
        }
    }
}

/// The keys of a subtree.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServiceKeyList {
    /// Newest first, revoked ones included.
    keys: Vec<ServiceKeyView>,
}

/// Where to list or revoke.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysQuery {
    /// The subtree: a path of codes or a slug path.
    #[param(example = "shanghai/pudong")]
    tenant: String,
}

/// A key to issue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueKey {
    /// The service account's username; created if it does not exist.
    #[schema(example = "pudong-subsidy-system")]
    account: String,
    /// What the key is for.
    #[schema(example = "浦东助餐补贴系统 / Pudong meal-subsidy system")]
    name: String,
    /// The subtree it may act in: a path of codes or a slug path.
    #[schema(example = "shanghai/pudong")]
    tenant: String,
    /// The actions it may do; administrators' duties are refused.
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
            format!("{a} 不是该租户的服务账户"),
            format!("{a} is not a service account of this tenant"),
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

/// The API keys issued in a subtree (`account.manage`).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys",
    security(("bearer" = [])),
    params(KeysQuery),
    responses(
        (status = 200, description = "密钥列表 / The keys", body = ServiceKeyList),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<KeysQuery>,
) -> Result<Json<ServiceKeyList>, ApiError> {
    let tenant = access::tenant(&state, &query.tenant).await?;
    let scope = caller.authorize(&state, &tenant.path, NO_LINE, "account.manage")?;
    let mut tx = state.db().begin_read(&scope).await?;
    let keys = civitas_identity::list_service_keys(&mut tx).await?;
    tx.rollback().await?;
    Ok(Json(ServiceKeyList {
        keys: keys.into_iter().map(Into::into).collect(),
    }))
}

/// Issues an API key for a service account (`account.manage`), scoped to a
/// subtree, a set of actions and lines, and optionally source networks.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys",
    security(("bearer" = [])),
    request_body = IssueKey,
    responses(
        (status = 201, description = "已签发（密钥仅显示一次） / Issued; the secret is shown once", body = IssuedKeyBody),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 403, description = "无权签发 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 422, description = "操作、条线或地址无效 / Invalid action, line or network", body = ErrorBody)
    ))]
pub(crate) async fn issue_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<IssueKey>,
) -> Result<(StatusCode, Json<IssuedKeyBody>), ApiError> {
    let tenant = access::tenant(&state, &request.tenant).await?;
    caller.authorize(&state, &tenant.path, NO_LINE, "account.manage")?;
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
    let new = NewServiceKey {
        account: request.account,
        name: request.name.trim().to_owned(),
        tenant: tenant.path,
        actions: request.actions,
        lines: request.lines.unwrap_or_default(),
        allowed_ips,
        expires_at: request.expires_at,
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
    let issued = civitas_identity::issue_service_key(state.db(), &new, caller.username()).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedKeyBody {
            key: issued.key.into(),
            secret: issued.secret,
        }),
    ))
}

/// Revokes an API key (`account.manage` on the subtree it lies in); the
/// next call with it is refused on every node. 204, or 404 `key_not_found`.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "密钥编号 / The key id"), KeysQuery),
    responses(
        (status = 204, description = "已吊销 / Revoked"),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 403, description = "无权吊销 / Not allowed", body = ErrorBody),
        (status = 404, description = "该范围内无此有效密钥 / No such live key in this subtree", body = ErrorBody)
    ))]
pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<KeysQuery>,
) -> Result<StatusCode, ApiError> {
    let tenant = access::tenant(&state, &query.tenant).await?;
    let scope = caller.authorize(&state, &tenant.path, NO_LINE, "account.manage")?;
    if civitas_identity::revoke_service_key(state.db(), &scope, &id, caller.username()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "key_not_found",
            "该租户范围内没有此有效密钥",
            "No such live key in this tenant's subtree",
        ))
    }
}
