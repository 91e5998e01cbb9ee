//! Registering on a portal (`/register`) and real-name verification
//! (`/verify-identity`, and the page the identity provider's answer ends
//! on). Registration and verification are the API's
//! (`routes::auth::register_in`, `routes::verification::begin_for`); the
//! password comes SM2-sealed as on the sign-in page.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use civitas_identity::AccountKind;
use civitas_storage::TenantRecord;
use civitas_web::Msg;
use civitas_web::guide::Bilingual;
use civitas_web::layout::{Visitor, query_value};
use civitas_web::register::{Register, Registrant, Verification, VerificationDone};
use serde::Deserialize;

use super::session::{FormToken, PageVisitor, signed_in};
use super::sign_in::safe_next;
use super::{PageLang, portal_home, visitor};
use crate::AppState;
use crate::access::Caller;
use crate::routes::auth::{LoginRequest, Registration, register_in, sign_in};
use crate::tenant::PORTAL_PREFIX;
use crate::throttle::Source;

const VERIFY: &str = "/verify-identity";

/// `?at=` (a place by codes or slugs), `?next=` (a portal page, whose
/// place it is), `?kind=citizen|enterprise`.
#[derive(Debug, Deserialize)]
pub(super) struct RegisterQuery {
    at: Option<String>,
    next: Option<String>,
    kind: Option<String>,
}

/// The place named by `at`, or else the one whose portal `next` is in.
fn place_of(state: &AppState, at: Option<&str>, next: Option<&str>) -> Option<Arc<TenantRecord>> {
    let tenants = state.tenants();
    if let Some(at) = at.filter(|a| !a.trim().is_empty()) {
        return tenants.get(at).cloned();
    }
    // The longest slug path `next` starts with: its place.
    let rest = next?.strip_prefix(PORTAL_PREFIX)?;
    let segments: Vec<&str> = rest.split('/').take_while(|s| !s.is_empty()).collect();
    (1..=segments.len())
        .rev()
        .find_map(|n| tenants.get(&segments[..n].join("/")).cloned())
}

/// The page for a registration that names no place.
fn no_place(lang: PageLang) -> Response {
    lang.problem(
        StatusCode::NOT_FOUND,
        "/register",
        None,
        Msg::RegisterTitle,
        Msg::RegisterNeedsPlace,
    )
}

fn registrant(kind: Option<&str>) -> Registrant {
    match kind {
        Some("enterprise") => Registrant::Enterprise,
        _ => Registrant::Citizen,
    }
}

fn render(
    lang: PageLang,
    place: &TenantRecord,
    mut view: Register,
    status: StatusCode,
) -> Response {
    let other = match view.kind {
        Registrant::Citizen => Registrant::Enterprise,
        Registrant::Enterprise => Registrant::Citizen,
    };
    view.place = (
        place.path.to_string(),
        Bilingual {
            zh: place.name.clone(),
            en: place.name_en.clone(),
        },
    );
    view.other_kind_href = format!(
        "/register?at={}&kind={}",
        query_value(place.path.as_str()),
        other.as_str()
    );
    let here = format!(
        "/register?at={}&kind={}",
        query_value(place.path.as_str()),
        view.kind.as_str()
    );
    let mut frame = lang.frame(
        &here,
        Msg::RegisterTitle.text(lang.lang).to_owned(),
        Some(place),
        Visitor::SigningIn,
    );
    frame.scripts = &["sm-crypto-sm2.js", "sign-in.js"];
    lang.answer(status, civitas_web::register::register(&frame, &view))
}

/// `GET /register`: the form, at the place the visitor came from (someone
/// signed in goes to their verification instead).
pub(super) async fn show(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    Query(query): Query<RegisterQuery>,
) -> Response {
    if who.0.is_some() {
        return Redirect::to(VERIFY).into_response();
    }
    let Some(place) = place_of(&state, query.at.as_deref(), query.next.as_deref()) else {
        return no_place(lang);
    };
    let view = Register {
        kind: registrant(query.kind.as_deref()),
        next: safe_next(query.next.as_deref()).unwrap_or_default(),
        csrf: token.0,
        ..Register::default()
    };
    render(lang, &place, view, StatusCode::OK)
}

/// What the registration form posts.
#[derive(Debug, Deserialize)]
pub(super) struct RegisterForm {
    csrf: String,
    kind: String,
    at: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    next: String,
    /// Empty when the page's script did not run.
    #[serde(default)]
    password_sm2: String,
}

/// `POST /register`: the account is registered as the API registers it,
/// signed in with the same sealed password, and sent on to verify who
/// they are. A refusal shows the form again with what was typed (never
/// the password).
pub(super) async fn submit(
    State(state): State<AppState>,
    Source(source): Source,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    Form(form): Form<RegisterForm>,
) -> Response {
    // Someone signed in registers nobody else from this browser.
    if who.0.is_some() {
        return Redirect::to(VERIFY).into_response();
    }
    let Some(place) = place_of(&state, Some(&form.at), None) else {
        return no_place(lang);
    };
    let kind = registrant(Some(&form.kind));
    let next = safe_next(Some(&form.next));
    let verify = next.as_deref().map_or_else(
        || VERIFY.to_owned(),
        |next| format!("{VERIFY}?next={}", query_value(next)),
    );
    let again = |error: (String, String), status: StatusCode| {
        let view = Register {
            kind,
            username: form.username.clone(),
            name: form.name.clone(),
            number: form.number.clone(),
            error: Some(error),
            next: next.clone().unwrap_or_default(),
            csrf: token.0.clone(),
            ..Register::default()
        };
        render(lang, &place, view, status)
    };
    if !token.check(&form.csrf) {
        return again(Msg::FormExpired.both(), StatusCode::FORBIDDEN);
    }
    if form.password_sm2.is_empty() {
        return again(Msg::RegisterNeedsJavaScript.both(), StatusCode::BAD_REQUEST);
    }
    let username = form.username.trim().to_owned();
    let registration = match kind {
        Registrant::Citizen => Registration::Citizen {
            username: username.clone(),
            password: None,
            password_sm2: Some(form.password_sm2.clone()),
            tenant: place.path.to_string(),
            name: form.name.trim().to_owned(),
            id_number: form.number.trim().to_owned(),
        },
        Registrant::Enterprise => Registration::Enterprise {
            username: username.clone(),
            password: None,
            password_sm2: Some(form.password_sm2.clone()),
            tenant: place.path.to_string(),
            name: form.name.trim().to_owned(),
            credit_code: form.number.trim().to_owned(),
        },
    };
    if let Err(e) = register_in(&state, source, registration).await {
        return again((e.message.zh.clone(), e.message.en.clone()), e.status);
    }
    // Registered: signed in at once with the same sealed password.
    match sign_in(
        &state,
        source,
        &LoginRequest::sealed(username, form.password_sm2),
    )
    .await
    {
        Ok(tokens) => signed_in(&verify, &tokens.access_token),
        // The account exists; signing in is left to the visitor.
        Err(e) => {
            tracing::warn!(code = e.code, "a new account could not be signed in");
            Redirect::to(&civitas_web::layout::sign_in_href(&verify)).into_response()
        }
    }
}

fn verification_page(
    state: &AppState,
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    next: Option<String>,
    error: Option<(String, String)>,
    status: StatusCode,
) -> Response {
    let Some(claims) = &who.0 else {
        return Redirect::to(&civitas_web::layout::sign_in_href(VERIFY)).into_response();
    };
    let place = state.tenants().get(&claims.ten).cloned();
    let applicant = matches!(claims.kind, AccountKind::Citizen | AccountKind::Enterprise);
    let view = Verification {
        username: claims.usr.clone(),
        verified: claims.ver,
        // Staff and service accounts are made by administrators: nothing
        // to verify.
        staff: !applicant,
        provider: state.realname().is_some(),
        home: next.unwrap_or_else(|| place.as_deref().map_or_else(|| "/".to_owned(), portal_home)),
        error,
        csrf: token.0.clone(),
    };
    let frame = lang.frame(
        VERIFY,
        Msg::VerifyTitle.text(lang.lang).to_owned(),
        place.as_deref(),
        visitor(who, token, VERIFY, place.as_deref()),
    );
    lang.answer(status, civitas_web::register::verification(&frame, &view))
}

/// `GET /verify-identity`: whether the signed-in account is verified, and
/// how to verify it.
pub(super) async fn verify_identity(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    Query(query): Query<NextOnly>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    verification_page(&state, lang, &who, &token, next, None, StatusCode::OK)
}

/// `?next=`: where the visitor was going.
#[derive(Debug, Deserialize)]
pub(super) struct NextOnly {
    next: Option<String>,
}

/// What the verification form posts.
#[derive(Debug, Deserialize)]
pub(super) struct VerifyForm {
    csrf: String,
}

/// `POST /verify-identity`: off to the identity provider, in this browser
/// (the binding cookie), to come back to the callback.
pub(super) async fn begin(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    Form(form): Form<VerifyForm>,
) -> Response {
    if !token.check(&form.csrf) {
        let error = Some(Msg::FormExpired.both());
        return verification_page(
            &state,
            lang,
            &who,
            &token,
            None,
            error,
            StatusCode::FORBIDDEN,
        );
    }
    let Some(claims) = &who.0 else {
        return Redirect::to(&civitas_web::layout::sign_in_href(VERIFY)).into_response();
    };
    let caller = Caller::Person(claims.clone());
    match crate::routes::verification::begin_for(&state, &caller, None).await {
        Ok((cookie, start)) => {
            let mut response = Redirect::to(&start.authorization_url).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => {
            let error = Some((e.message.zh.clone(), e.message.en.clone()));
            verification_page(&state, lang, &who, &token, None, error, e.status)
        }
    }
}

/// The page a browser reads when the identity provider sends it back:
/// verified, or why not (with the API's status). The next page it opens
/// carries the verification (`session::page_cookies` renews an
/// unverified applicant's token).
pub(crate) async fn verification_done(
    lang: PageLang,
    finished: Result<(), crate::error::ApiError>,
) -> Response {
    let (status, view) = match finished {
        Ok(()) => (
            StatusCode::OK,
            VerificationDone {
                verified: true,
                error: None,
            },
        ),
        Err(e) => (
            e.status,
            VerificationDone {
                verified: false,
                error: Some((e.message.zh.clone(), e.message.en.clone())),
            },
        ),
    };
    // Its language switch goes to the verification page: the provider's
    // answer is used once.
    let frame = lang.frame(
        VERIFY,
        Msg::VerifyTitle.text(lang.lang).to_owned(),
        None,
        Visitor::SigningIn,
    );
    let page = lang.answer(
        status,
        civitas_web::register::verification_done(&frame, &view),
    );
    super::security_headers(page).await
}
