//! Signing in and out of the faces (`/sign-in`, `/sign-out`).

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use civitas_web::Msg;
use civitas_web::layout::{Visitor, sign_in_href};
use civitas_web::sign_in::{SignIn, page_for};
use serde::Deserialize;

use super::session::{FormToken, PageVisitor, SESSION_COOKIE, set_cookie, signed_in};
use super::{PageLang, portal_home};
use crate::AppState;
use crate::routes::auth::{LoginRequest, sign_in};
use crate::throttle::Source;

/// Where to go once signed in: a path of this server, never another site
/// (`//host`, `/\\host` and absolute URLs are refused).
pub(super) fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    local.then(|| next.to_owned())
}

/// The portal of the place an account belongs to: where a sign-in without
/// `next` goes.
fn home_of(state: &AppState, tenant: &str) -> String {
    state
        .tenants()
        .get(tenant)
        .map_or_else(|| "/sign-in".to_owned(), |t| portal_home(t))
}

fn render(lang: PageLang, view: SignIn, status: StatusCode) -> Response {
    let path = if view.next.is_empty() {
        "/sign-in".to_owned()
    } else {
        sign_in_href(&view.next)
    };
    let mut frame = lang.frame(
        &path,
        Msg::SignInTitle.text(lang.lang).to_owned(),
        None,
        Visitor::SigningIn,
    );
    frame.scripts = &["sm-crypto-sm2.js", "sign-in.js"];
    lang.answer(status, page_for(&frame, &view))
}

/// `?next=`.
#[derive(Debug, Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

/// `GET /sign-in`: the form (someone signed in goes straight on).
pub(super) async fn show(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    if let Some(claims) = &who.0 {
        let to = next.unwrap_or_else(|| home_of(&state, &claims.ten));
        return Redirect::to(&to).into_response();
    }
    render(
        lang,
        SignIn {
            next: next.unwrap_or_default(),
            csrf: token.0,
            ..SignIn::default()
        },
        StatusCode::OK,
    )
}

/// What the sign-in form posts.
#[derive(Debug, Deserialize)]
pub(super) struct SignInForm {
    csrf: String,
    #[serde(default)]
    next: String,
    username: String,
    /// Empty when the page's script did not run.
    #[serde(default)]
    password_sm2: String,
}

/// `POST /sign-in`: the password arrives SM2-encrypted; the session's
/// token goes into the session cookie and the browser on to `next`.
pub(super) async fn submit(
    State(state): State<AppState>,
    Source(source): Source,
    lang: PageLang,
    token: FormToken,
    Form(form): Form<SignInForm>,
) -> Response {
    let again = |error: (String, String), status: StatusCode| {
        render(
            lang,
            SignIn {
                username: form.username.clone(),
                error: Some(error),
                next: safe_next(Some(&form.next)).unwrap_or_default(),
                csrf: token.0.clone(),
            },
            status,
        )
    };
    if !token.check(&form.csrf) {
        return again(Msg::FormExpired.both(), StatusCode::FORBIDDEN);
    }
    if form.password_sm2.is_empty() {
        return again(Msg::NeedsJavaScript.both(), StatusCode::BAD_REQUEST);
    }
    let request = LoginRequest::sealed(form.username.clone(), form.password_sm2.clone());
    match sign_in(&state, source, &request).await {
        Ok(tokens) => {
            let tenant = state
                .auth()
                .and_then(|auth| {
                    civitas_identity::decode_access(
                        &auth.platform_key.public_key(),
                        &tokens.access_token,
                        Utc::now(),
                    )
                    .ok()
                })
                .map(|claims| claims.ten)
                .unwrap_or_default();
            let to = safe_next(Some(&form.next)).unwrap_or_else(|| home_of(&state, &tenant));
            signed_in(&to, &tokens.access_token)
        }
        Err(e) => {
            let mut response = again((e.message.zh.clone(), e.message.en.clone()), e.status);
            if let Some(retry) = e.retry_after()
                && let Ok(value) = retry.to_string().parse()
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

/// What the sign-out form posts.
#[derive(Debug, Deserialize)]
pub(super) struct SignOutForm {
    csrf: String,
}

/// `POST /sign-out`: the session ends (for the API too) and the cookie
/// goes.
pub(super) async fn sign_out(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    Form(form): Form<SignOutForm>,
) -> Response {
    if !token.check(&form.csrf) {
        return lang.problem(
            StatusCode::FORBIDDEN,
            "/sign-out",
            None,
            Msg::FormExpired,
            Msg::FormExpired,
        );
    }
    if let Some(claims) = &who.0
        && let Err(e) = civitas_identity::revoke(state.db(), claims, Utc::now()).await
    {
        tracing::warn!(error = %e, "sign-out could not end the session");
    }
    let mut response = Redirect::to("/sign-in").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, None));
    response
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_of_this_server_are_places_to_go_next() {
        assert_eq!(safe_next(Some("/t/shanghai/")), Some("/t/shanghai/".into()));
        for elsewhere in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "evil",
            "",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(elsewhere)), None, "{elsewhere}");
        }
        assert_eq!(safe_next(None), None);
    }
}
