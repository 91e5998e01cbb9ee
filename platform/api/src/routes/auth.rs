//! Sign-in, token refresh, sign-out, password change, the platform's
//! public key, and who-am-I.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use civitas_identity::{AuthError, Claims, IdentityError, TokenError, Tokens};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{Caller, Person};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::throttle::Source;
use crate::{AppState, AuthSettings};

pub(crate) fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "auth_unavailable",
        "未配置平台签名密钥，无法登录",
        "Sign-in is unavailable: no platform signing key is configured",
    )
}

/// 422 `invalid_credit_code`, naming what is wrong with it.
pub(crate) fn credit_code_error(error: &civitas_identity::CreditCodeError) -> ApiError {
    let text = error.to_string();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_credit_code",
        format!("统一社会信用代码无效：{text}"),
        format!("Invalid unified social credit code: {text}"),
    )
}

fn auth(state: &AppState) -> Result<&AuthSettings, ApiError> {
    state.auth().ok_or_else(unavailable)
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> ApiError {
        let (code, zh, en) = match &error {
            // A refresh token never issued gets the answer a forged access
            // token gets: it says nothing of whether the session exists.
            TokenError::Malformed | TokenError::BadSignature | TokenError::UnknownRefresh => {
                ("token_invalid", "令牌无效", "The token is invalid")
            }
            TokenError::Expired => (
                "token_expired",
                "令牌已过期，请刷新",
                "The token has expired; refresh it",
            ),
            TokenError::Revoked => (
                "session_ended",
                "会话已注销，请重新登录",
                "The session was signed out; sign in again",
            ),
            TokenError::SessionExpired => (
                "session_expired",
                "会话已超时，请重新登录",
                "The session timed out; sign in again",
            ),
            TokenError::Storage(e) if e.is_unavailable() => {
                return ApiError::database_unavailable();
            }
            TokenError::Storage(_) | TokenError::Internal(_) => {
                tracing::error!(%error, "token handling failed");
                return ApiError::internal();
            }
        };
        ApiError::new(StatusCode::UNAUTHORIZED, code, zh, en)
    }
}

impl From<IdentityError> for ApiError {
    fn from(error: IdentityError) -> ApiError {
        match error {
            IdentityError::Policy(violation) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "password_policy",
                violation.to_string(),
                violation.to_string(),
            ),
            IdentityError::WrongPassword => ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_password",
                "当前密码错误",
                "The current password is wrong",
            ),
            IdentityError::Storage(e) => e.into(),
            other => {
                tracing::error!(error = %other, "identity error");
                ApiError::internal()
            }
        }
    }
}

/// Access tokens whose SM2 signature was already checked, by the SM3 of
/// the token: a signature check costs about 160 µs, a lookup well under
/// one, and a token is presented many times in its few minutes. Expiry is
/// checked on every use; the session itself is checked on every request.
#[derive(Default)]
pub(crate) struct VerifiedTokens(std::sync::Mutex<std::collections::HashMap<[u8; 32], Claims>>);

/// At most this many tokens are remembered; then the memory starts afresh.
const VERIFIED_TOKENS_MAX: usize = 10_000;

impl VerifiedTokens {
    pub(crate) fn verify(
        &self,
        key: &civitas_crypto::sm2::PrivateKey,
        token: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<Claims, TokenError> {
        let digest = civitas_crypto::sm3::digest(token.as_bytes());
        let cached = self.0.lock().ok().and_then(|m| m.get(&digest).cloned());
        if let Some(claims) = cached {
            return if claims.exp > now.timestamp() {
                Ok(claims)
            } else {
                Err(TokenError::Expired)
            };
        }
        let claims = civitas_identity::decode_access(&key.public_key(), token, now)?;
        if let Ok(mut memory) = self.0.lock() {
            if memory.len() >= VERIFIED_TOKENS_MAX {
                memory.clear();
            }
            memory.insert(digest, claims.clone());
        }
        Ok(claims)
    }
}

/// Credentials: the password as it is (over TLS), or SM2-encrypted in the
/// browser with the platform's key (`password_sm2`), as the portal sends
/// it, so it is never in clear text beyond the page (密码传输加密).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum LoginRequest {
    /// The password as it is.
    Plain(PlainLogin),
    /// The password SM2-encrypted.
    Sealed(SealedLogin),
}

/// A username and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlainLogin {
    /// The username.
    #[schema(example = "pudong-reviewer")]
    username: String,
    /// The password.
    #[schema(example = "Civitas#2026")]
    password: String,
}

/// A username and the password encrypted to the platform's SM2 key
/// (`GET /.well-known/civitas/platform-key`, `public_key_hex`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SealedLogin {
    /// The username.
    #[schema(example = "pudong-reviewer")]
    username: String,
    /// The UTF-8 password encrypted with SM2 in the order C1C3C2, hex, with
    /// or without C1's leading `04` — what the npm `sm-crypto` library's
    /// `sm2.doEncrypt(password, publicKeyHex, 1)` returns.
    #[schema(example = "a1b2…")]
    password_sm2: String,
}

impl LoginRequest {
    /// Credentials with the password sealed to the platform's key, as the
    /// faces' sign-in page posts them.
    pub(crate) fn sealed(username: String, password_sm2: String) -> LoginRequest {
        LoginRequest::Sealed(SealedLogin {
            username,
            password_sm2,
        })
    }

    fn username(&self) -> &str {
        match self {
            LoginRequest::Plain(p) => &p.username,
            LoginRequest::Sealed(s) => &s.username,
        }
    }

    /// The password, decrypted with `key` when it came sealed; 422
    /// `invalid_password_ciphertext` when it does not decrypt.
    fn password(
        &self,
        key: &civitas_crypto::sm2::PrivateKey,
    ) -> Result<zeroize::Zeroizing<String>, ApiError> {
        match self {
            LoginRequest::Plain(p) => Ok(zeroize::Zeroizing::new(p.password.clone())),
            LoginRequest::Sealed(s) => open_sealed(key, &s.password_sm2),
        }
    }
}

/// A password SM2-encrypted to the platform's key (C1C3C2 hex, as
/// sm-crypto's `doEncrypt(…, 1)` gives), decrypted; 422
/// `invalid_password_ciphertext` when it does not decrypt.
fn open_sealed(
    key: &civitas_crypto::sm2::PrivateKey,
    sealed: &str,
) -> Result<zeroize::Zeroizing<String>, ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_password_ciphertext",
            "密码密文无法用平台公钥解密（应为 SM2 C1C3C2 十六进制，如 sm-crypto 的 doEncrypt(…, 1)）",
            "The password ciphertext does not decrypt with the platform's key (expected SM2 C1C3C2 hex, as sm-crypto's doEncrypt(…, 1) gives)",
        )
    };
    let bytes = hex::decode(sealed.trim()).map_err(|_| bad())?;
    let plain = key
        .decrypt(&bytes, civitas_crypto::sm2::CiphertextOrder::C1C3C2)
        .map_err(|_| bad())?;
    String::from_utf8(plain.to_vec())
        .map(zeroize::Zeroizing::new)
        .map_err(|_| bad())
}

/// A registration's password: as it is, or sealed to the platform's key
/// (`password_sm2`, as the portal's page sends it) — exactly one of them.
fn registration_password(
    key: &civitas_crypto::sm2::PrivateKey,
    plain: Option<String>,
    sealed: Option<String>,
) -> Result<zeroize::Zeroizing<String>, ApiError> {
    match (plain, sealed) {
        (Some(plain), None) => Ok(zeroize::Zeroizing::new(plain)),
        (None, Some(sealed)) => open_sealed(key, &sealed),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "须且仅须给出 password 或 password_sm2 之一",
            "Give exactly one of password and password_sm2",
        )),
    }
}

/// A token pair.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenResponse {
    /// The access token (`Authorization: Bearer …`), signed with SM2.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// When the access token expires (RFC 3339).
    access_expires_at: String,
    /// The refresh token, for `POST /api/v1/auth/refresh`; shown once.
    refresh_token: String,
    /// The session id.
    session_id: String,
    /// Whether the password must be changed before anything else.
    must_change_password: bool,
}

impl TokenResponse {
    fn new(tokens: Tokens) -> TokenResponse {
        let must_change_password = tokens.must_change_password;
        TokenResponse {
            access_token: tokens.access_token,
            token_type: "Bearer",
            access_expires_at: tokens.access_expires_at.to_rfc3339(),
            refresh_token: tokens.refresh_token,
            session_id: tokens.session_id,
            must_change_password,
        }
    }
}

/// Signs in with a username and password. Every failure gives the same
/// answer; 5 failures within 15 minutes lock the name for 15 minutes. An
/// address that failed too often (4 times on one name, 20 on all, within
/// those 15 minutes, by default) is answered 429 before anything is
/// checked, so one address cannot lock an account out.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "已登录 / Signed in", body = TokenResponse),
        (status = 401, description = "用户名或密码错误，或账户已锁定 / Wrong credentials or locked", body = ErrorBody),
        (status = 422, description = "密码密文无法解密 / The password ciphertext does not decrypt", body = ErrorBody),
        (status = 429, description = "此地址失败次数过多，见 Retry-After / Too many failures from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "未配置签名密钥 / No signing key", body = ErrorBody)
    ))]
pub(crate) async fn login(
    State(state): State<AppState>,
    Source(source): Source,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let tokens = sign_in(&state, source, &request).await?;
    Ok(Json(TokenResponse::new(tokens)))
}

/// Signs `request`'s account in from `source` and opens a session: the
/// address throttled, the password decrypted when sealed, every attempt
/// audited. The API's `login` and the faces' sign-in page both come here.
pub(crate) async fn sign_in(
    state: &AppState,
    source: Option<std::net::IpAddr>,
    request: &LoginRequest,
) -> Result<civitas_identity::Tokens, ApiError> {
    let auth = auth(state)?;
    let ticket = state
        .throttle()
        .sign_in(source, request.username(), &auth.sign_in)
        .inspect_err(|_| state.sign_ins().add("throttled"))?;
    // A ciphertext that does not decrypt keeps its ticket: it counts as a
    // failure from this address.
    let password = request
        .password(&auth.platform_key)
        .inspect_err(|_| state.sign_ins().add("undecryptable_password"))?;
    let now = Utc::now();
    let account = match civitas_identity::authenticate(
        state.db(),
        &auth.sign_in,
        request.username(),
        &password,
        now,
    )
    .await
    {
        Ok(account) => {
            // Only failures stay counted against the address.
            state.throttle().give_back(ticket);
            state.sign_ins().add("ok");
            account
        }
        Err(AuthError::Rejected(_)) => {
            // One outcome for every refusal, as the answer is one: per
            // cause, the public count would tell which names exist (the
            // audit records keep the cause).
            state.sign_ins().add("rejected");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "用户名或密码错误，或账户已被临时锁定",
                "Wrong username or password, or the account is temporarily locked",
            ));
        }
        Err(AuthError::Identity(e)) => {
            state.throttle().give_back(ticket);
            return Err(e.into());
        }
    };
    Ok(civitas_identity::open_session(
        state.db(),
        &auth.platform_key,
        &account,
        &auth.sessions,
        now,
    )
    .await?)
}

/// A refresh token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshRequest {
    /// The refresh token from sign-in or the last refresh.
    refresh_token: String,
}

/// Exchanges a refresh token for a new pair; the old one stops working.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "新令牌 / New tokens", body = TokenResponse),
        (status = 401, description = "会话已结束 / The session ended", body = ErrorBody)
    ))]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let auth = auth(&state)?;
    let tokens = civitas_identity::refresh(
        state.db(),
        &auth.platform_key,
        &request.refresh_token,
        &auth.sessions,
        Utc::now(),
    )
    .await?;
    Ok(Json(TokenResponse::new(tokens)))
}

/// Signs out: the session ends on every node at the next request.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "已注销 / Signed out")
    ))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    Person(claims): Person,
) -> Result<StatusCode, ApiError> {
    civitas_identity::revoke(state.db(), &claims, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    /// The current password.
    current_password: String,
    /// The new one: at least 8 characters of 3 classes, not one of the last 5.
    new_password: String,
}

/// Changes the caller's password.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "已修改 / Changed"),
        (status = 403, description = "当前密码错误 / Wrong current password", body = ErrorBody),
        (status = 422, description = "不符合密码策略 / Breaks the password policy", body = ErrorBody)
    ))]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    Person(claims): Person,
    ApiJson(request): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let auth = auth(&state)?;
    civitas_identity::change_password(
        state.db(),
        &auth.sign_in,
        &claims.usr,
        &request.current_password,
        &request.new_password,
        Some(&claims.sid),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The platform's public signing key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PlatformKey {
    /// Always `SM2`.
    algorithm: &'static str,
    /// The SM2 user id signatures use.
    user_id: &'static str,
    /// SubjectPublicKeyInfo PEM.
    public_key_pem: String,
    /// The uncompressed point, hex.
    public_key_hex: String,
    /// How tokens are signed.
    token_format: &'static str,
}

/// The platform's SM2 public key: it verifies access tokens and audit
/// anchors.
#[utoipa::path(get, path = "/.well-known/civitas/platform-key", tag = "auth",
    responses(
        (status = 200, description = "平台公钥 / The platform's public key", body = PlatformKey),
        (status = 503, description = "未配置签名密钥 / No signing key", body = ErrorBody)
    ))]
pub(crate) async fn platform_key(
    State(state): State<AppState>,
) -> Result<Json<PlatformKey>, ApiError> {
    let auth = auth(&state)?;
    let public = auth.platform_key.public_key();
    Ok(Json(PlatformKey {
        algorithm: "SM2",
        user_id: civitas_crypto::sm2::DEFAULT_USER_ID,
        public_key_pem: public.to_spki_pem().map_err(|_| ApiError::internal())?,
        public_key_hex: public.to_hex(),
        token_format: "v1.BASE64URL(claims JSON).BASE64URL(DER SM2 signature over \"civitas-token-v1.\" + BASE64URL(claims))",
    }))
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Me {
    /// The account id.
    account_id: String,
    /// The username.
    username: String,
    /// `staff`, `citizen`, `enterprise`, `developer` or `service`.
    kind: String,
    /// The account's tenant path (a service: its key's subtree).
    tenant: String,
    /// The staff line, if any.
    line: Option<String>,
    /// The session id; absent for a service calling with an API key.
    session_id: Option<String>,
    /// The roles the account holds: each on a tenant subtree, in a line
    /// (`*` = every line). A service holds none: its key says what it may do.
    roles: Vec<RoleHeld>,
    /// The API key the call was made with, for a service.
    api_key: Option<crate::routes::service_keys::ServiceKeyView>,
}

/// A role held on a tenant subtree.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RoleHeld {
    /// The role, as in policies/base.csv.
    #[schema(example = "reviewer")]
    role: String,
    /// The subtree's root.
    #[schema(example = "310000/310115")]
    tenant: String,
    /// The line, or `*`.
    #[schema(example = "civil-affairs")]
    line: String,
    /// Every action the role allows there, its included roles' too.
    #[schema(example = json!(["case.read", "case.act", "resident.reveal"]))]
    actions: Vec<String>,
}

/// The signed-in principal, its tenant, line and the roles granted to it
/// with what each allows (roles include others, per policies/base.csv).
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "当前用户 / The caller", body = Me)
    ))]
pub(crate) async fn me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Me>, ApiError> {
    let claims = match caller {
        Caller::Person(claims) => claims,
        Caller::Service(key) => {
            return Ok(Json(Me {
                account_id: key.account_id.clone(),
                username: key.account.clone(),
                kind: "service".to_owned(),
                tenant: key.tenant.to_string(),
                line: None,
                session_id: None,
                roles: Vec::new(),
                api_key: Some(key.into()),
            }));
        }
    };
    let authorizer = state.authorizer()?;
    let permissions = authorizer.permissions();
    let roles = authorizer
        .grants_of(&claims.sub)
        .into_iter()
        .map(|g| RoleHeld {
            actions: permissions
                .actions()
                .into_iter()
                .filter(|a| permissions.role_may(&g.role, a))
                .map(str::to_owned)
                .collect(),
            role: g.role,
            tenant: g.tenant.to_string(),
            line: g.line,
        })
        .collect();
    Ok(Json(Me {
        roles,
        account_id: claims.sub,
        username: claims.usr,
        kind: claims.kind.as_str().to_owned(),
        tenant: claims.ten,
        line: claims.line,
        session_id: Some(claims.sid),
        api_key: None,
    }))
}

/// A citizen or an enterprise registering on a tenant portal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub(crate) enum Registration {
    /// A citizen, by resident id number.
    Citizen {
        /// The sign-in name.
        #[schema(example = "zhang-san")]
        username: String,
        /// The password: at least 8 characters of 3 classes (or `password_sm2`).
        password: Option<String>,
        /// The password SM2-encrypted to the platform's key, C1C3C2 hex, as
        /// sm-crypto's `doEncrypt(password, publicKeyHex, 1)` gives (or `password`).
        password_sm2: Option<String>,
        /// Where the citizen lives: a path of codes or a slug path.
        #[schema(example = "shanghai/pudong/lujiazui")]
        tenant: String,
        /// The full name.
        #[schema(example = "张三")]
        name: String,
        /// The resident id number (GB 11643, check digit verified).
        #[schema(example = "11010519491231002X")]
        id_number: String,
    },
    /// An enterprise, by unified social credit code.
    Enterprise {
        /// The sign-in name.
        username: String,
        /// The password: at least 8 characters of 3 classes (or `password_sm2`).
        password: Option<String>,
        /// The password SM2-encrypted to the platform's key (or `password`).
        password_sm2: Option<String>,
        /// Where the enterprise is registered: a path of codes or a slug path.
        tenant: String,
        /// The registered name.
        name: String,
        /// The unified social credit code (GB 32100, check character verified).
        #[schema(example = "91350100M000100Y43")]
        credit_code: String,
    },
}

/// A registered account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Registered {
    /// The account id.
    account_id: String,
    /// The username.
    username: String,
    /// `citizen` or `enterprise`.
    kind: String,
    /// The tenant.
    tenant: String,
}

fn registration_error(error: IdentityError) -> ApiError {
    use civitas_identity::RegistrationError as R;
    let unprocessable = |code, zh: String, en: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, zh, en)
    };
    match error {
        IdentityError::Registration(R::InvalidUsername(u)) => unprocessable(
            "invalid_username",
            format!("用户名须为 3–64 个小写字母、数字或 -_.，且不能是 export：{u}"),
            format!("A username is 3–64 lowercase letters, digits or -_., and not `export`: {u}"),
        ),
        IdentityError::Registration(R::InvalidName) => unprocessable(
            "invalid_field",
            "名称须为 1 到 100 个字符".to_owned(),
            "name must be 1 to 100 characters".to_owned(),
        ),
        IdentityError::Registration(R::UnknownTenant(t)) => ApiError::tenant_not_found(&t),
        IdentityError::Registration(R::AlreadyRegistered) | IdentityError::UsernameTaken(_) => {
            // One answer for both, so that registering does not tell whether
            // an identity already has an account under another name.
            ApiError::new(
                StatusCode::CONFLICT,
                "already_registered",
                "用户名已被使用，或该证件已注册账户",
                "The username is taken, or this identity already has an account",
            )
        }
        other => other.into(),
    }
}

/// Registers a citizen (resident id number) or an enterprise (unified
/// social credit code); both are checked digit by digit. One account per
/// person or enterprise. Audited as `account.register`. One address may
/// try 20 times an hour (by default); past that the answer is 429 before
/// anything is checked.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = Registration,
    responses(
        (status = 201, description = "已注册 / Registered", body = Registered),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 409, description = "已注册 / Already registered", body = ErrorBody),
        (status = 422, description = "证件号码、用户名或密码无效 / Invalid number, username or password", body = ErrorBody),
        (status = 429, description = "此地址注册尝试过多，见 Retry-After / Too many registrations from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "未配置密钥 / No keys configured", body = ErrorBody)
    ))]
pub(crate) async fn register(
    State(state): State<AppState>,
    Source(source): Source,
    ApiJson(request): ApiJson<Registration>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let registered = register_in(&state, source, request).await?;
    Ok((StatusCode::CREATED, Json(registered)))
}

/// Registers `request`'s account from `source`, as the API and the
/// portal's registration page register.
pub(crate) async fn register_in(
    state: &AppState,
    source: Option<std::net::IpAddr>,
    request: Registration,
) -> Result<Registered, ApiError> {
    let auth = auth(state)?;
    // Every attempt counts, whatever its outcome: each may derive a
    // password and write.
    let _counted = state.throttle().registration(source)?;
    let account = match request {
        Registration::Citizen {
            username,
            password,
            password_sm2,
            tenant,
            name,
            id_number,
        } => {
            let tenant = crate::access::tenant(state, &tenant).await?;
            let id_number = civitas_people::IdNumber::parse(&id_number)
                .map_err(|e| crate::routes::residents::id_number_error(&e))?;
            let password = registration_password(&auth.platform_key, password, password_sm2)?;
            civitas_identity::register_citizen(
                state.db(),
                state.keyring()?,
                &auth.sign_in,
                &civitas_identity::NewCitizen {
                    username,
                    password: password.to_string(),
                    tenant: tenant.path,
                    name,
                    id_number,
                },
            )
            .await
        }
        Registration::Enterprise {
            username,
            password,
            password_sm2,
            tenant,
            name,
            credit_code,
        } => {
            let tenant = crate::access::tenant(state, &tenant).await?;
            let credit_code = civitas_identity::CreditCode::parse(&credit_code)
                .map_err(|e| credit_code_error(&e))?;
            let password = registration_password(&auth.platform_key, password, password_sm2)?;
            civitas_identity::register_enterprise(
                state.db(),
                &auth.sign_in,
                &civitas_identity::NewEnterprise {
                    username,
                    password: password.to_string(),
                    tenant: tenant.path,
                    name,
                    credit_code,
                },
            )
            .await
        }
    }
    .map_err(registration_error)?;
    Ok(Registered {
        account_id: account.id,
        username: account.username,
        kind: account.kind.as_str().to_owned(),
        tenant: account.tenant_path,
    })
}
