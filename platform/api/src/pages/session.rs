//! Sessions and form tokens of the faces, in cookies.
//!
//! A signed-in visitor's browser holds the session's access token in an
//! `HttpOnly; Secure; SameSite=Strict` cookie — the same token, session,
//! idle and absolute timeouts as the API's. When the token expires
//! (minutes), [`page_cookies`] asks for a new one for the same session
//! (`civitas_identity::reissue`) instead of spending a refresh token, so
//! two tabs renewing at once cannot look like a stolen token; a session
//! that ended clears the cookie. An applicant's token that says "not
//! verified" is renewed the same way as soon as the account is verified
//! (one indexed read per page until then), so the page after a
//! verification lets them apply.
//!
//! Every form carries a token that must equal the `civitas_csrf` cookie
//! (double submit; the cookie is `SameSite=Strict` too), checked by
//! [`FormToken::check`] before a form is acted on.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use civitas_identity::{Claims, TokenError};

use crate::AppState;

/// The cookie that holds the session's access token.
pub(crate) const SESSION_COOKIE: &str = "civitas_session";
/// The cookie that holds the form token.
const CSRF_COOKIE: &str = "civitas_csrf";

/// The value of cookie `name` in `headers`.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly; Secure; SameSite=Strict` on the whole
/// site; `None` clears it.
pub(crate) fn set_cookie(name: &str, value: Option<&str>) -> HeaderValue {
    let text = match value {
        Some(value) => format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Strict"),
        None => format!("{name}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"),
    };
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The page's form token (from the cookie, or new with this answer).
#[derive(Debug, Clone)]
pub(crate) struct FormToken(pub(crate) String);

impl FormToken {
    /// Whether `submitted` is this token (compared in constant time).
    pub(crate) fn check(&self, submitted: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), submitted.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for FormToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<FormToken, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<FormToken>()
            .cloned()
            .unwrap_or_else(|| FormToken(String::new())))
    }
}

fn new_form_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    civitas_crypto::random_bytes(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn is_form_token(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What became of a session cookie.
enum Renewal {
    /// Its token is current.
    Current,
    /// Its token had expired, or says "not verified" of an account
    /// verified since; here is the session's new one.
    Renewed(String),
    /// Its session ended, or it is no token of ours.
    Ended,
}

async fn renew(state: &AppState, token: &str, now: DateTime<Utc>) -> Renewal {
    let Some(auth) = state.auth() else {
        return Renewal::Ended;
    };
    // The same remembered verification the visitor's extractor uses next:
    // one SM2 check per token, not one per page.
    match state
        .verified_tokens()
        .verify(&auth.platform_key, token, now)
    {
        // An applicant not verified yet may have been verified since (the
        // identity provider's callback, a counter): a new token for the
        // same session carries it, so the next page lets them apply. A
        // read of the account decides first: signing a token on every page
        // of an unverified account would be work anyone can cause.
        Ok(claims)
            if !claims.ver
                && matches!(
                    claims.kind,
                    civitas_identity::AccountKind::Citizen
                        | civitas_identity::AccountKind::Enterprise
                ) =>
        {
            let verified_since = civitas_identity::find_account(state.db(), &claims.usr)
                .await
                .ok()
                .flatten()
                .is_some_and(|a| a.id == claims.sub && a.verified);
            if !verified_since {
                return Renewal::Current;
            }
            match reissue(state, auth, &claims, now).await {
                Ok(fresh) => Renewal::Renewed(fresh),
                Err(TokenError::Revoked | TokenError::SessionExpired) => Renewal::Ended,
                Err(e) => {
                    tracing::debug!(error = %e, "a verified applicant's token was not renewed");
                    Renewal::Current
                }
            }
        }
        Ok(_) => Renewal::Current,
        Err(TokenError::Expired) => {
            let public = auth.platform_key.public_key();
            // Well signed but expired: read it at the epoch (the clock is a
            // parameter) to learn its session, which must still be open.
            let Ok(claims) = civitas_identity::decode_access(&public, token, DateTime::UNIX_EPOCH)
            else {
                return Renewal::Ended;
            };
            match reissue(state, auth, &claims, now).await {
                Ok(token) => Renewal::Renewed(token),
                Err(e) => {
                    tracing::debug!(error = %e, "a page session ended");
                    Renewal::Ended
                }
            }
        }
        Err(_) => Renewal::Ended,
    }
}

/// A redirect to `to` that holds the new session `access_token` in the
/// session cookie: where a sign-in or a registration ends.
pub(crate) fn signed_in(to: &str, access_token: &str) -> Response {
    use axum::response::IntoResponse;
    let mut response = axum::response::Redirect::to(to).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, Some(access_token)),
    );
    response
}

/// A new token for the session `claims` name, as of `now`.
async fn reissue(
    state: &AppState,
    auth: &crate::AuthSettings,
    claims: &Claims,
    now: DateTime<Utc>,
) -> Result<String, TokenError> {
    civitas_identity::reissue(
        state.db(),
        &auth.platform_key,
        &claims.sid,
        &claims.sub,
        &auth.sessions,
        now,
    )
    .await
    .map(|(token, _)| token)
}

/// Middleware of every page: gives the page a form token (setting the
/// cookie when there is none) and renews or clears the session cookie.
pub(crate) async fn page_cookies(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let mut set: Vec<(&str, HeaderValue)> = Vec::new();
    let token = match cookie(request.headers(), CSRF_COOKIE).filter(|t| is_form_token(t)) {
        Some(t) => t.to_owned(),
        None => {
            let t = new_form_token().unwrap_or_default();
            set.push((CSRF_COOKIE, set_cookie(CSRF_COOKIE, Some(&t))));
            t
        }
    };
    request.extensions_mut().insert(FormToken(token));
    if let Some(session) = cookie(request.headers(), SESSION_COOKIE).map(str::to_owned) {
        let replaced = match renew(&state, &session, Utc::now()).await {
            Renewal::Current => None,
            Renewal::Renewed(fresh) => {
                set.push((SESSION_COOKIE, set_cookie(SESSION_COOKIE, Some(&fresh))));
                Some(Some(fresh))
            }
            Renewal::Ended => {
                set.push((SESSION_COOKIE, set_cookie(SESSION_COOKIE, None)));
                Some(None)
            }
        };
        // The handler sees the session as it is now.
        if let Some(fresh) = replaced {
            let others: Vec<String> = request
                .headers()
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .map(str::trim)
                .filter(|c| !c.starts_with(&format!("{SESSION_COOKIE}=")))
                .map(str::to_owned)
                .collect();
            let mut all = others;
            if let Some(fresh) = fresh {
                all.push(format!("{SESSION_COOKIE}={fresh}"));
            }
            request.headers_mut().remove(header::COOKIE);
            if let Ok(value) = HeaderValue::from_str(&all.join("; ")) {
                request.headers_mut().insert(header::COOKIE, value);
            }
        }
    }
    let mut response = next.run(request).await;
    for (name, value) in set {
        // What the handler set itself (signing in or out) stands.
        let handled = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|v| v.as_bytes().starts_with(format!("{name}=").as_bytes()));
        if !handled {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Who is looking at a page: the person whose session cookie is good.
#[derive(Debug, Clone)]
pub(crate) struct PageVisitor(pub(crate) Option<Claims>);

impl FromRequestParts<AppState> for PageVisitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<PageVisitor, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(PageVisitor(None));
        };
        Ok(PageVisitor(
            crate::access::person(state, token, Utc::now()).await.ok(),
        ))
    }
}
