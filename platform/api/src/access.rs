//! Who is calling, and what they may do where.
//!
//! [`Caller`] authenticates a request: an SM2-signed access token of a
//! signed-in person (`Authorization: Bearer <token>`), or an API key of a
//! service account (`Authorization: Bearer civ_…`). [`Caller::authorize`]
//! is the one gate to tenant data: it asks the grant index (people) or the
//! key's own scope (services) through [`TenantScope::authorize`], and only
//! an allow decision yields the [`TenantScope`] that storage demands. This
//! crate cannot build a scope any other way: `clippy.toml` here forbids
//! `TenantScope::for_platform_task`.
//!
//! Refusals: no or a bad credential → 401; a tenant that does not exist →
//! 404 `tenant_not_found` (the tree is public, so this tells nothing); a
//! tenant the caller may not act in → 403 `forbidden`. A resource is always
//! looked up inside the authorized scope, so one that lies in another
//! tenant is 404, exactly like one that does not exist: a caller can never
//! tell the two apart.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use chrono::Utc;
use civitas_identity::{Claims, KeyError, KeyRejected, ServiceKey};
use civitas_storage::{AccessRequest, TenantRecord, TenantScope};
use civitas_tenancy::TenantPath;

use crate::AppState;
use crate::error::ApiError;

/// What a caller who must change a one-time password may still do.
const MUST_CHANGE_ALLOWED: &[&str] =
    &["/api/v1/auth/password", "/api/v1/auth/logout", "/api/v1/me"];

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// A person signed in with a session.
    Person(Claims),
    /// A machine client with an API key.
    Service(ServiceKey),
}

impl Caller {
    /// The account id.
    pub(crate) fn account_id(&self) -> &str {
        match self {
            Caller::Person(claims) => &claims.sub,
            Caller::Service(key) => &key.account_id,
        }
    }

    /// The username: what audit records name as the actor.
    pub(crate) fn username(&self) -> &str {
        match self {
            Caller::Person(claims) => &claims.usr,
            Caller::Service(key) => &key.account,
        }
    }

    /// The caller's own line (staff), if it has one.
    pub(crate) fn own_line(&self) -> Option<&str> {
        match self {
            Caller::Person(claims) => claims.line.as_deref(),
            // A key limited to one line acts in it unless told otherwise.
            Caller::Service(key) => match key.lines.as_slice() {
                [line] if line != civitas_identity::ALL_LINES => Some(line),
                _ => None,
            },
        }
    }

    /// The line a request acts in: the one asked for, else the caller's
    /// own, else no line (`-`, which only grants on every line satisfy).
    pub(crate) fn line_for<'a>(&'a self, asked: Option<&'a str>) -> &'a str {
        asked
            .or_else(|| self.own_line())
            .unwrap_or(civitas_authz::NO_LINE)
    }

    /// Decides whether the caller may do `action` on `tenant`'s subtree in
    /// `line`; the scope to work in if so, 403 `forbidden` if not.
    pub(crate) fn authorize(
        &self,
        state: &AppState,
        tenant: &TenantPath,
        line: &str,
        action: &str,
    ) -> Result<TenantScope, ApiError> {
        let request = AccessRequest {
            principal: self.account_id(),
            tenant,
            line,
            action,
        };
        let decision = match self {
            Caller::Person(_) => TenantScope::authorize(&*state.authorizer()?, &request),
            Caller::Service(key) => TenantScope::authorize(key, &request),
        };
        decision.map_err(|denied| {
            tracing::info!(
                account = self.account_id(),
                action,
                tenant = %tenant,
                line,
                "access denied"
            );
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "无权在 {} 执行 {}（业务条线 {}）",
                    denied.tenant, denied.action, denied.line
                ),
                format!(
                    "Not allowed to {} in {} (line {})",
                    denied.action, denied.tenant, denied.line
                ),
            )
        })
    }
}

impl Caller {
    /// As [`Caller::authorize`] for an administrator's duty (三员分立):
    /// when the caller is refused but holds another administrator's duty
    /// at the tenant, the answer is 409 `separation_of_duties` — the
    /// refusal is the rule, not a grant missing.
    pub(crate) fn authorize_duty(
        &self,
        state: &AppState,
        tenant: &TenantPath,
        line: &str,
        action: &str,
    ) -> Result<TenantScope, ApiError> {
        let refused = match self.authorize(state, tenant, line, action) {
            Ok(scope) => return Ok(scope),
            Err(refused) => refused,
        };
        let (Caller::Person(_), Some(wanted)) = (self, civitas_authz::duty_of(action)) else {
            return Err(refused);
        };
        // Holding another of the three administrator roles over the tenant
        // is what makes it the rule rather than a missing grant.
        let held = state
            .authorizer()?
            .grants_of(self.account_id())
            .into_iter()
            .filter(|g| tenant.is_within(&g.tenant))
            .map(|g| g.role)
            .find(|role| civitas_authz::SEPARATED_ROLES.contains(&role.as_str()) && role != wanted);
        match held {
            Some(held) => Err(ApiError::new(
                StatusCode::CONFLICT,
                "separation_of_duties",
                format!(
                    "三员分立：{}不能执行{}的职责（{action}）",
                    duty_name_zh(&held),
                    duty_name_zh(wanted)
                ),
                format!(
                    "Separation of duties: the {} cannot do the {}'s duty ({action})",
                    duty_name_en(&held),
                    duty_name_en(wanted)
                ),
            )),
            None => Err(refused),
        }
    }
}

fn duty_name_zh(duty: &str) -> &'static str {
    match duty {
        "sys-admin" => "系统管理员",
        "sec-admin" => "安全管理员",
        _ => "审计管理员",
    }
}

fn duty_name_en(duty: &str) -> &'static str {
    match duty {
        "sys-admin" => "system administrator",
        "sec-admin" => "security administrator",
        _ => "audit administrator",
    }
}

/// The active tenant `reference` (a path of codes or a slug path) names;
/// 404 `tenant_not_found` if none.
pub(crate) async fn tenant(state: &AppState, reference: &str) -> Result<TenantRecord, ApiError> {
    let tenant = state
        .tenants()
        .get(reference)
        .map(|t| t.as_ref().clone())
        .ok_or_else(|| ApiError::tenant_not_found(reference))?;
    tracing::Span::current().record("tenant", tenant.path.as_str());
    Ok(tenant)
}

/// The client's address: the peer, or — when the peer is a trusted proxy —
/// the rightmost `X-Forwarded-For` entry that is not a trusted proxy
/// (entries further left are whatever the client claimed).
pub(crate) fn client_address(
    peer: Option<IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    let peer = peer.map(|ip| ip.to_canonical())?;
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|entry| entry.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()))
        .collect::<Result<_, _>>()
        .ok()?;
    // A trusted proxy that forwarded nothing (a health check) is the source.
    if forwarded.is_empty() {
        return Some(peer);
    }
    // Every hop trusted: the leftmost is as close to the client as we know.
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(forwarded.first())
        .copied()
}

fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "请先登录（Authorization: Bearer 访问令牌或 API 密钥）",
        "Sign in first (Authorization: Bearer <access token or API key>)",
    )
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let auth = state.auth().ok_or_else(crate::routes::auth::unavailable)?;
        let credential = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(unauthenticated)?;
        let now = Utc::now();
        if credential.starts_with(civitas_identity::KEY_PREFIX) {
            let source = crate::throttle::Source::of(parts, state).0;
            // An address that presented too many refused keys is answered
            // before the key is looked up.
            let ticket = state.throttle().api_key(source)?;
            let what = format!("{} {}", parts.method, parts.uri.path());
            let checked = civitas_identity::authenticate_key(
                state.db(),
                &auth.sign_in.realm,
                state.throttle().refused_keys(),
                credential,
                source,
                &what,
                now,
            )
            .await;
            // Only refusals stay counted against the address.
            if !matches!(checked, Err(KeyError::Rejected(_))) {
                state.throttle().give_back(ticket);
            }
            let key = checked.map_err(|error| match error {
                KeyError::Rejected(cause) => {
                    tracing::info!(%cause, "API key refused");
                    let _: KeyRejected = cause;
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "api_key_invalid",
                        "API 密钥无效、已吊销、已过期或来源地址不在允许范围内",
                        "The API key is invalid, revoked or expired, or the source address is not allowed",
                    )
                }
                KeyError::Identity(e) => e.into(),
            })?;
            tracing::Span::current().record("tenant", key.tenant.as_str());
            return Ok(Caller::Service(key));
        }
        let claims = person(state, credential, now).await?;
        // A one-time password admits only its own change (then a refresh),
        // sign-out and who-am-I.
        if claims.pwd && !MUST_CHANGE_ALLOWED.contains(&parts.uri.path()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "请先修改初始密码（POST /api/v1/auth/password），再刷新令牌",
                "Change the one-time password first (POST /api/v1/auth/password), then refresh the token",
            ));
        }
        Ok(Caller::Person(claims))
    }
}

/// The person an access token names — from the `Authorization` header or
/// the faces' session cookie: signature and expiry checked, the session
/// still open.
pub(crate) async fn person(
    state: &AppState,
    token: &str,
    now: chrono::DateTime<Utc>,
) -> Result<Claims, ApiError> {
    let auth = state.auth().ok_or_else(crate::routes::auth::unavailable)?;
    let claims = state
        .verified_tokens()
        .verify(&auth.platform_key, token, now)?;
    civitas_identity::check_session(state.db(), &claims, &auth.sessions, now).await?;
    tracing::Span::current().record("tenant", claims.ten.as_str());
    Ok(claims)
}

/// A signed-in person (not a service): for sign-out and password changes.
#[derive(Debug, Clone)]
pub(crate) struct Person(pub(crate) Claims);

impl FromRequestParts<AppState> for Person {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Person, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Person(claims) => Ok(Person(claims)),
            Caller::Service(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not_for_services",
                "服务账户使用 API 密钥，没有会话或密码",
                "Service accounts use API keys; they have no session or password",
            )),
        }
    }
}

/// Whether a request's `line` (from [`Caller::line_for`]) means every
/// line: no line (decided at no line, which only a grant in every line
/// allows) or `*`.
pub(crate) fn every_line(line: &str) -> bool {
    line == civitas_authz::NO_LINE || line == civitas_tenancy::ALL_LINES
}

#[cfg(test)]
mod tests {
    use super::client_address;
    use axum::http::HeaderMap;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().unwrap());
        headers
    }

    #[test]
    fn the_source_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let trusted = vec!["10.0.0.0/24".parse().unwrap()];
        let peer = |s: &str| Some(s.parse().unwrap());
        // A client talking directly cannot claim another address.
        assert_eq!(
            client_address(peer("203.0.113.9"), &headers("10.20.1.1"), &trusted),
            peer("203.0.113.9")
        );
        // Through the proxy: the rightmost hop that is not a proxy.
        assert_eq!(
            client_address(
                peer("10.0.0.5"),
                &headers("1.2.3.4, 10.20.1.1, 10.0.0.7"),
                &trusted
            ),
            peer("10.20.1.1")
        );
        assert_eq!(
            client_address(peer("::ffff:10.0.0.5"), &headers("10.20.1.1"), &trusted),
            peer("10.20.1.1")
        );
        assert_eq!(
            client_address(peer("10.0.0.5"), &HeaderMap::new(), &trusted),
            peer("10.0.0.5")
        );
        // A garbled header gives no source at all (allow-lists then refuse).
        assert_eq!(
            client_address(peer("10.0.0.5"), &headers("1.2.3.4, junk"), &trusted),
            None
        );
        assert_eq!(client_address(None, &HeaderMap::new(), &trusted), None);
    }
}
