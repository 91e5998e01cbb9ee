//! Real-name verification of self-registered accounts (civitas-identity's
//! `verification`): an officer's check at the counter, and the system
//! administrator's release of a squatted identity.
//!
//! ```text
//! POST /api/v1/tenants/{path}/accounts/{username}/verify            an officer saw the document
//! POST /api/v1/tenants/{path}/accounts/{username}/release-identity  the system administrator frees the identity
//! ```
//!
//! An unverified citizen or enterprise may act in nobody's name: every
//! applicant action answers 403 `verification_required` until it is
//! verified (counted from the next token refresh).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::{COOKIE, HeaderName, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Response};
use chrono::Utc;
use civitas_authz::NO_LINE;
use civitas_identity::verification::{self, Evidence, VerificationError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::AccountParam;
use super::tenants::TenantParam;
use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::tenant::Tenant;

/// What the officer saw: the number on the identity document (a citizen's
/// resident id card, an enterprise's business licence).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InPersonVerification {
    /// 居民身份证号码（个人） / The resident id number (a citizen).
    #[schema(example = "11010519491231002X")]
    pub(crate) id_number: Option<String>,
    /// 统一社会信用代码（企业） / The unified social credit code (an enterprise).
    #[schema(example = "91350100M000100Y43")]
    pub(crate) credit_code: Option<String>,
}

/// What a verification did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VerificationView {
    /// 已核验的账户 / The account verified.
    pub(crate) username: String,
    /// 核验方式 / How: `in-person:{officer}` or `oidc:{issuer}`.
    #[schema(example = "in-person:lujiazui-officer")]
    method: String,
    /// 同一证件的其他未核验账户（已停用） / Other, unverified accounts that claimed the identity: now disabled.
    pub(crate) released: Vec<String>,
}

/// Why an identity is released.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentityRelease {
    /// 原因，1–500 个字符，记入审计日志 / Why, 1–500 characters, for the audit log.
    #[schema(
        example = "冒用他人证件注册，经本人持证申诉核实 / registered with another's id; the holder's appeal confirmed"
    )]
    reason: String,
}

impl From<VerificationError> for ApiError {
    fn from(error: VerificationError) -> ApiError {
        let split = |e: &VerificationError| {
            let text = e.to_string();
            match text.split_once(" (") {
                Some((zh, en)) => (zh.to_owned(), en.trim_end_matches(')').to_owned()),
                None => (text.clone(), text),
            }
        };
        if let VerificationError::Admin(admin) = error {
            return admin.into();
        }
        let (status, code) = match &error {
            VerificationError::Admin(_) => return ApiError::internal(),
            VerificationError::NotSelfRegistered(_) => {
                (StatusCode::CONFLICT, "verification_not_applicable")
            }
            VerificationError::AlreadyVerified(_) => (StatusCode::CONFLICT, "already_verified"),
            VerificationError::WrongEvidence => {
                (StatusCode::UNPROCESSABLE_ENTITY, "wrong_evidence")
            }
            VerificationError::Mismatch => (StatusCode::UNPROCESSABLE_ENTITY, "identity_mismatch"),
            VerificationError::HeldByAnother => (StatusCode::CONFLICT, "identity_held"),
            VerificationError::NothingToRelease(_) => (StatusCode::CONFLICT, "nothing_to_release"),
        };
        let (zh, en) = split(&error);
        ApiError::new(status, code, zh, en)
    }
}

/// The evidence a request names: exactly one of id number and credit code.
fn evidence(request: InPersonVerification) -> Result<Evidence, ApiError> {
    match (request.id_number, request.credit_code) {
        (Some(number), None) => civitas_people::IdNumber::parse(&number)
            .map(Evidence::IdNumber)
            .map_err(|e| super::residents::id_number_error(&e)),
        (None, Some(code)) => civitas_identity::CreditCode::parse(&code)
            .map(Evidence::CreditCode)
            .map_err(|e| super::auth::credit_code_error(&e)),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "须填写 id_number（个人）或 credit_code（企业）之一",
            "Give exactly one of id_number (a citizen) or credit_code (an enterprise)",
        )),
    }
}

/// An officer's verification at the counter (`account.verify`, in the
/// officer's line): the number on the document must be the one the account
/// registered with. Other unverified accounts claiming the identity are
/// disabled; audited as `account.verify` (and `account.claim_release`).
#[utoipa::path(post, path = "/api/v1/tenants/{path}/accounts/{username}/verify", tag = "accounts",
    security(("bearer" = [])),
    params(TenantParam, AccountParam),
    request_body = InPersonVerification,
    responses(
        (status = 200, description = "已核验 / Verified", body = VerificationView),
        (status = 403, description = "无权核验 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或账户不存在 / No such tenant or account", body = ErrorBody),
        (status = 409, description = "已核验、无需核验，或证件已由另一账户持有 / Verified already, not applicable, or held by another account", body = ErrorBody),
        (status = 422, description = "证件号码无效或与注册时不一致 / An invalid number, or not the one registered", body = ErrorBody)
    ))]
pub(crate) async fn verify_in_person(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(AccountParam { username }): Path<AccountParam>,
    ApiJson(request): ApiJson<InPersonVerification>,
) -> Result<Json<VerificationView>, ApiError> {
    let view = verify_in(&state, &caller, &tenant.path, &username, request).await?;
    Ok(Json(view))
}

/// `caller`'s check at the counter of `username`'s document in `tenant`'s
/// subtree (`account.verify`), as the API and the workbench verify.
pub(crate) async fn verify_in(
    state: &AppState,
    caller: &Caller,
    tenant: &civitas_tenancy::TenantPath,
    username: &str,
    request: InPersonVerification,
) -> Result<VerificationView, ApiError> {
    let scope = caller.authorize(state, tenant, caller.line_for(None), "account.verify")?;
    let evidence = evidence(request)?;
    let verified = verification::verify_in_person(
        state.db(),
        state.keyring()?,
        &scope,
        username,
        &evidence,
        caller.username(),
        Utc::now(),
    )
    .await?;
    Ok(VerificationView {
        username: verified.username,
        method: verification::Method::InPerson(caller.username().to_owned()).as_stored(),
        released: verified.released,
    })
}

/// Whether `caller` may verify accounts at the counter at `tenant`.
pub(crate) fn may_verify(
    state: &AppState,
    caller: &Caller,
    tenant: &civitas_tenancy::TenantPath,
) -> bool {
    caller
        .authorize(state, tenant, caller.line_for(None), "account.verify")
        .is_ok()
}

/// The system administrator's release of the identity a self-registered
/// account holds or claims (`account.administer`): the account loses it and
/// its verification and is disabled, so the real holder can register and
/// verify. Audited as `account.identity_release` with the reason; 204.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/accounts/{username}/release-identity", tag = "accounts",
    security(("bearer" = [])),
    params(TenantParam, AccountParam),
    request_body = IdentityRelease,
    responses(
        (status = 204, description = "已释放 / Released"),
        (status = 403, description = "无权操作 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或账户不存在 / No such tenant or account", body = ErrorBody),
        (status = 409, description = "账户未持有证件身份、不适用，或三员分立 / Nothing to release, not applicable, or separation of duties", body = ErrorBody),
        (status = 422, description = "缺少原因 / No reason given", body = ErrorBody)
    ))]
pub(crate) async fn release_identity(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(AccountParam { username }): Path<AccountParam>,
    ApiJson(body): ApiJson<IdentityRelease>,
) -> Result<StatusCode, ApiError> {
    let scope = caller.authorize_duty(&state, &tenant.path, NO_LINE, "account.administer")?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "reason：释放原因须为 1–500 个字符",
            "reason: a reason of 1–500 characters is required",
        ));
    }
    verification::release_identity(
        state.db(),
        &scope,
        &username,
        reason,
        caller.username(),
        Utc::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How a signed-in, unverified citizen or enterprise starts a verification
/// with the identity provider.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BeginVerification {
    /// 提示身份认证服务的登录名（可选） / A login hint for the provider (optional).
    #[schema(example = "wangfang")]
    login_hint: Option<String>,
}

/// The cookie that binds a verification to the browser that began it.
const BINDING_COOKIE: &str = "civitas_verification";

/// Where to send the person.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VerificationStart {
    /// 跳转至统一身份认证的地址 / The provider's authorization URL.
    pub(crate) authorization_url: String,
    /// 有效期（秒） / How long the verification may take, in seconds.
    expires_in: i64,
}

/// What the provider sends back.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Callback {
    /// 授权码 / The authorization code.
    code: Option<String>,
    /// 发起时的 state / The state sent.
    state: Option<String>,
    /// 身份认证服务的拒绝原因 / The provider's refusal, if any.
    error: Option<String>,
}

fn provider(state: &AppState) -> Result<&civitas_realname::OidcVerifier, ApiError> {
    state.realname().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "verification_unavailable",
            "未配置统一身份认证，请持证件到窗口核验",
            "No identity provider is configured: show your identity document at a service counter",
        )
    })
}

impl From<civitas_realname::RealNameError> for ApiError {
    fn from(error: civitas_realname::RealNameError) -> ApiError {
        use civitas_realname::RealNameError;
        let text = error.to_string();
        let (zh, en) = match text.split_once(" (") {
            Some((zh, en)) => (zh.to_owned(), en.replacen(')', "", 1)),
            None => (text.clone(), text.clone()),
        };
        match error {
            RealNameError::Settings(_) | RealNameError::Unavailable(_) => {
                // What went wrong is for the operator's log, not the page.
                tracing::warn!(%error, "identity provider");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "verification_provider_error",
                    "统一身份认证暂时不可用，请稍后再试，或持证件到窗口核验",
                    "The identity provider is unavailable; try again later, or show your identity document at a service counter",
                )
            }
            RealNameError::Refused(_) | RealNameError::NoIdentity => {
                tracing::info!(%error, "identity provider refused");
                ApiError::new(StatusCode::BAD_REQUEST, "verification_refused", zh, en)
            }
        }
    }
}

/// Starts the caller's real-name verification with the identity provider
/// (a signed-in, unverified citizen or enterprise): the URL to send them
/// to. The provider sends them back to `/api/v1/auth/verification/callback`.
#[utoipa::path(post, path = "/api/v1/me/verification", tag = "auth",
    security(("bearer" = [])),
    request_body = BeginVerification,
    responses(
        (status = 200, description = "前往统一身份认证 / Go to the provider", body = VerificationStart),
        (status = 409, description = "已核验或无需核验 / Verified already, or not applicable", body = ErrorBody),
        (status = 502, description = "统一身份认证不可用 / The provider is unavailable", body = ErrorBody),
        (status = 503, description = "未配置统一身份认证 / No provider is configured", body = ErrorBody)
    ))]
pub(crate) async fn begin_verification(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<BeginVerification>,
) -> Result<
    (
        AppendHeaders<[(HeaderName, String); 1]>,
        Json<VerificationStart>,
    ),
    ApiError,
> {
    let (cookie, start) = begin_for(&state, &caller, request.login_hint.as_deref()).await?;
    Ok((AppendHeaders([(SET_COOKIE, cookie)]), Json(start)))
}

/// Begins `caller`'s verification with the identity provider: the
/// `Set-Cookie` value binding it to this browser, and where to send the
/// browser. The API's begin and the portal's verification page come here.
pub(crate) async fn begin_for(
    state: &AppState,
    caller: &Caller,
    login_hint: Option<&str>,
) -> Result<(String, VerificationStart), ApiError> {
    let Caller::Person(claims) = caller else {
        return Err(VerificationError::NotSelfRegistered(caller.username().to_owned()).into());
    };
    if !matches!(
        claims.kind,
        civitas_identity::AccountKind::Citizen | civitas_identity::AccountKind::Enterprise
    ) {
        return Err(VerificationError::NotSelfRegistered(claims.usr.clone()).into());
    }
    if claims.ver {
        return Err(VerificationError::AlreadyVerified(claims.usr.clone()).into());
    }
    let provider = provider(state)?;
    let begun = provider.begin(login_hint).await?;
    // The browser that begins finishes: a secret in its cookie must come
    // back with the provider's answer, so a link to someone else's
    // verification verifies nobody.
    let mut binding = [0u8; 32];
    civitas_crypto::random_bytes(&mut binding).map_err(|_| ApiError::internal())?;
    let binding = hex::encode(binding);
    verification::remember_request(
        state.db(),
        &begun.state,
        &verification::PendingRequest {
            account_id: claims.sub.clone(),
            nonce: begun.nonce,
            pkce_verifier: begun.pkce_verifier,
            binding_sm3: hex::encode(civitas_crypto::sm3::digest(binding.as_bytes())),
        },
        Utc::now(),
    )
    .await?;
    let secure = if provider.redirect_url().starts_with("https:") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{BINDING_COOKIE}={binding}; Path=/api/v1/auth/verification; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        verification::REQUEST_TTL_MICROS / 1_000_000
    );
    Ok((
        cookie,
        VerificationStart {
            authorization_url: begun.url,
            expires_in: verification::REQUEST_TTL_MICROS / 1_000_000,
        },
    ))
}

/// Where the identity provider sends the person back: the code is
/// exchanged, the ID token verified, and the identity it vouches for must
/// be the one the account registered with; then the account is verified
/// (audited as `account.verify`, method `oidc:{issuer}`). The next token
/// refresh carries it.
#[utoipa::path(get, path = "/api/v1/auth/verification/callback", tag = "auth",
    params(Callback),
    responses(
        (status = 200, description = "已核验（浏览器以 Accept: text/html 得到页面，出错时亦同）/ Verified (a browser asking for text/html gets a page, also for the errors below)",
            content((VerificationView = "application/json"), (String = "text/html"))),
        (status = 400, description = "未知或过期的 state、非发起核验的浏览器，或身份认证未通过 / Unknown or expired state, another browser than the one that began, or the provider refused", body = ErrorBody),
        (status = 409, description = "已核验，或证件已由另一账户持有 / Verified already, or held by another account", body = ErrorBody),
        (status = 422, description = "证件与注册时不一致 / Not the identity registered", body = ErrorBody),
        (status = 502, description = "统一身份认证不可用 / The provider is unavailable", body = ErrorBody),
        (status = 503, description = "未配置统一身份认证 / No provider is configured", body = ErrorBody)
    ))]
pub(crate) async fn verification_callback(
    State(state): State<AppState>,
    lang: crate::pages::PageLang,
    headers: HeaderMap,
    crate::extract::ApiQuery(callback): crate::extract::ApiQuery<Callback>,
) -> Response {
    let finished = finish(&state, &headers, callback).await;
    // The provider sends a browser here: a person reads a page, a program
    // the JSON.
    if prefers_html(&headers) {
        return crate::pages::verification_done(lang, finished.map(|_| ())).await;
    }
    match finished {
        Ok(view) => Json(view).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Whether the request asks for HTML before JSON (a browser's navigation).
fn prefers_html(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            let html = accept.find("text/html");
            let json = accept.find("application/json");
            html.is_some() && (json.is_none() || html < json)
        })
}

/// Finishes the verification the provider's answer `callback` belongs to,
/// in the browser that began it (`headers`' binding cookie).
async fn finish(
    state: &AppState,
    headers: &HeaderMap,
    callback: Callback,
) -> Result<VerificationView, ApiError> {
    let unknown = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "verification_state_unknown",
            "核验请求不存在或已过期，请重新发起",
            "No such verification, or it expired: start again",
        )
    };
    // The state first: without a provider no verification was begun, so an
    // unknown state is the answer, not the missing provider.
    let pending = match &callback.state {
        Some(s) => verification::take_request(state.db(), s, Utc::now()).await?,
        None => None,
    }
    .ok_or_else(unknown)?;
    let binding = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == BINDING_COOKIE)
        .map(|(_, value)| hex::encode(civitas_crypto::sm3::digest(value.as_bytes())));
    if !binding.is_some_and(|b| {
        civitas_crypto::constant_time_eq(b.as_bytes(), pending.binding_sm3.as_bytes())
    }) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "verification_not_yours",
            "请在发起核验的同一浏览器中完成核验",
            "Finish the verification in the browser that began it",
        ));
    }
    let provider = provider(state)?;
    if let Some(error) = callback.error {
        return Err(civitas_realname::RealNameError::Refused(error).into());
    }
    let code = callback.code.ok_or_else(unknown)?;
    let vouched = provider
        .finish(&code, &pending.nonce, &pending.pkce_verifier)
        .await?;
    // Unparseable numbers count as none: the provider vouched for nothing usable.
    let vouched_identity = verification::Vouched {
        id_number: vouched
            .id_number
            .as_deref()
            .and_then(|n| civitas_people::IdNumber::parse(n).ok()),
        credit_code: vouched
            .credit_code
            .as_deref()
            .and_then(|c| civitas_identity::CreditCode::parse(c).ok()),
    };
    let verified = verification::verify_by_provider(
        state.db(),
        state.keyring()?,
        &pending.account_id,
        &vouched_identity,
        &vouched.issuer,
        Utc::now(),
    )
    .await?;
    Ok(VerificationView {
        username: verified.username,
        method: verification::Method::Provider(vouched.issuer).as_stored(),
        released: verified.released,
    })
}
