//! The HTML faces: routes that answer pages rendered by `civitas-web`.
//!
//! Handlers here are thin: they read the language and the tenant (the
//! same tenant-prefix layer as the API resolves `/t/{slug path}/`), fill a
//! view model from the domain crates, and render it. Every page answer
//! carries the security headers ([`security_headers`]), whatever route
//! made it.

mod apply;
pub(crate) mod case_view;
mod console;
mod messages;
mod portal;
mod register;
mod sealed;
mod session;
mod sign_in;
pub(crate) mod workbench;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use civitas_storage::TenantRecord;
use civitas_web::layout::{Frame, Visitor};
use civitas_web::{Lang, Msg};

use crate::AppState;
use crate::tenant::{PORTAL_PREFIX, Resolved};

/// `api` with the page routes added (HTML, not API operations: no OpenAPI
/// entries).
pub(crate) fn add_routes(api: Router<AppState>, state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/t/{tenant}", get(portal::to_home))
        .route("/t/{tenant}/", get(portal::home))
        .route("/t/{tenant}/services/{line}/{name}", get(portal::service))
        .route("/t/{tenant}/lotteries/{id}", get(portal::lottery))
        .route(
            "/t/{tenant}/services/{line}/{name}/apply",
            get(apply::show).post(apply::submit),
        )
        .route("/t/{tenant}/cases", get(apply::cases))
        .route("/t/{tenant}/messages", get(messages::centre))
        .route("/t/{tenant}/messages/export", get(messages::export))
        .route(
            "/t/{tenant}/messages/settings",
            post(messages::save_settings),
        )
        .route("/t/{tenant}/messages/{id}/read", post(messages::read))
        .route("/workbench/t/{tenant}/deliveries", get(messages::records))
        .route(
            "/workbench/t/{tenant}/deliveries/export",
            get(messages::export_records),
        )
        .route(
            "/workbench/t/{tenant}/deliveries/{id}/retry",
            post(messages::retry_record),
        )
        .route("/t/{tenant}/cases/{id}", get(apply::case).post(apply::act))
        .route(
            "/t/{tenant}/cases/{id}/documents",
            post(apply::upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::DOCUMENT_BODY_LIMIT,
            )),
        )
        .route(
            "/t/{tenant}/cases/{id}/documents/{attachment}",
            get(apply::document),
        )
        .route(
            "/t/{tenant}/cases/{id}/issued/{kind}",
            get(sealed::portal_download),
        )
        .route(
            "/workbench/t/{tenant}/cases/{id}/issue/{kind}",
            post(sealed::issue),
        )
        .route(
            "/workbench/t/{tenant}/cases/{id}/issued/{kind}",
            get(sealed::workbench_download),
        )
        .route(
            "/verify",
            get(sealed::verify_form).post(sealed::verify).layer(
                axum::extract::DefaultBodyLimit::max(sealed::VERIFY_BODY_LIMIT),
            ),
        )
        .route("/workbench/", get(workbench::tasks))
        .route("/workbench/search", get(workbench::search))
        .route("/workbench/inbox/export", get(workbench::export_inbox))
        .route(
            "/workbench/verify-identity",
            get(workbench::counter).post(workbench::counter_verify),
        )
        .route(
            "/workbench/t/{tenant}/cases/{id}",
            get(workbench::show).post(workbench::act),
        )
        .route(
            "/workbench/t/{tenant}/cases/{id}/reveal",
            post(workbench::reveal),
        )
        .route(
            "/workbench/t/{tenant}/cases/{id}/documents/{attachment}",
            get(workbench::document),
        )
        .route("/console/", get(console::home))
        .route("/console/t/{tenant}/", get(console::overview))
        .route(
            "/console/t/{tenant}/accounts",
            get(console::accounts).post(console::create_account),
        )
        .route(
            "/console/t/{tenant}/accounts/export",
            get(console::export_accounts),
        )
        .route(
            "/console/t/{tenant}/accounts/{username}",
            post(console::account_action),
        )
        .route(
            "/console/t/{tenant}/account-imports",
            post(console::import_roster),
        )
        .route(
            "/console/t/{tenant}/grants",
            get(console::grants).post(console::grant),
        )
        .route("/console/t/{tenant}/grants/revoke", post(console::revoke))
        .route("/console/t/{tenant}/bindings", get(console::bindings))
        .route(
            "/console/t/{tenant}/bindings/{line}/{name}",
            post(console::bind),
        )
        .route(
            "/console/t/{tenant}/bindings/{line}/{name}/rollback",
            post(console::rollback),
        )
        .route(
            "/console/t/{tenant}/bindings/{line}/{name}/what-if",
            post(console::what_if),
        )
        .route(
            "/console/t/{tenant}/seals",
            get(console::seals).post(console::make_seal),
        )
        .route(
            "/console/t/{tenant}/seals/revoke",
            post(console::revoke_seal),
        )
        .route("/console/t/{tenant}/audit", get(console::audit))
        .route(
            "/console/t/{tenant}/audit/export",
            get(console::export_audit),
        )
        .route("/console/t/{tenant}/dashboard", get(console::dashboard))
        .route(
            "/console/t/{tenant}/dashboard/export",
            get(console::export_dashboard),
        )
        .route(
            "/console/t/{tenant}/cases/export",
            get(console::export_cases),
        )
        .route(
            "/console/t/{tenant}/bindings/modules",
            get(console::modules),
        )
        .route("/sign-in", get(sign_in::show).post(sign_in::submit))
        .route("/register", get(register::show).post(register::submit))
        .route(
            "/verify-identity",
            get(register::verify_identity).post(register::begin),
        )
        .route("/sign-out", post(sign_in::sign_out))
        .layer(axum::middleware::from_fn_with_state(
            state,
            session::page_cookies,
        ))
        .route("/assets/{name}", get(asset))
        .layer(axum::middleware::map_response(security_headers));
    api.merge(pages)
}

/// Whether `path` is one of the faces' (a person's browser asked for it).
pub(crate) fn is_page_path(path: &str) -> bool {
    path.starts_with(PORTAL_PREFIX)
        || path.starts_with("/workbench/")
        || path == "/workbench"
        || path.starts_with("/console/")
        || path == "/console"
        || path.starts_with("/sign-in")
        || path.starts_with("/sign-out")
        || path.starts_with("/register")
        || path.starts_with("/verify-identity")
}

pub(crate) use register::verification_done;

/// The 404 page for a face's path no route matches.
pub(crate) async fn page_not_found(lang: PageLang, path: &str) -> Response {
    let page = lang.problem(
        StatusCode::NOT_FOUND,
        path,
        None,
        Msg::NotFoundTitle,
        Msg::NotFoundText,
    );
    security_headers(page).await
}

/// What every page answer carries: the Content-Security-Policy (only this
/// server, no inline script), no sniffing, no framing, no referrer sent
/// elsewhere, and no caching of pages.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    // A download sets its own, stricter policy (a sandbox).
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(civitas_web::CONTENT_SECURITY_POLICY),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pages show personal data and a session's view: no copy is kept by
    // the browser or anything between (assets say otherwise themselves).
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// An embedded asset, cached by the browser until its digest changes.
async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = civitas_web::assets::get(&name) else {
        return (StatusCode::NOT_FOUND, "not found / 未找到").into_response();
    };
    let etag = format!("\"{}\"", asset.version);
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, asset.content_type.to_owned()),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, "public, max-age=86400".to_owned()),
        ],
        asset.body,
    )
        .into_response()
}

/// The language of a page: `?lang=` when given (and remembered in a
/// cookie), else the cookie, else Chinese.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageLang {
    lang: Lang,
    /// Whether the request chose it with `?lang=` (the answer sets the
    /// cookie).
    chosen: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<PageLang, Self::Rejection> {
        let from_query = parts.uri.query().and_then(|q| {
            q.split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| *k == "lang")
                .and_then(|(_, v)| Lang::from_tag(v))
        });
        if let Some(lang) = from_query {
            return Ok(PageLang { lang, chosen: true });
        }
        let from_cookie = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| Lang::from_tag(v));
        Ok(PageLang {
            lang: from_cookie.unwrap_or_default(),
            chosen: false,
        })
    }
}

/// The signed-in staff member as a caller, or the answer for anyone else:
/// sign in first, or a page (`title`, `text`) saying this face is for
/// staff.
fn signed_in_staff(
    lang: PageLang,
    who: &session::PageVisitor,
    here: &str,
    title: Msg,
    text: Msg,
) -> Result<crate::access::Caller, Box<Response>> {
    use axum::response::Redirect;
    use civitas_identity::AccountKind;
    match &who.0 {
        None => Err(Box::new(
            Redirect::to(&civitas_web::layout::sign_in_href(here)).into_response(),
        )),
        Some(claims) if claims.kind == AccountKind::Staff => {
            Ok(crate::access::Caller::Person(claims.clone()))
        }
        Some(_) => Err(Box::new(lang.problem(
            StatusCode::FORBIDDEN,
            here,
            None,
            title,
            text,
        ))),
    }
}

/// Who the frame shows as looking at the page at `path` of `place`: an
/// applicant there is offered their applications.
fn visitor(
    visitor: &session::PageVisitor,
    token: &session::FormToken,
    path: &str,
    place: Option<&TenantRecord>,
) -> Visitor {
    use civitas_identity::AccountKind;
    match &visitor.0 {
        Some(claims) => Visitor::SignedIn {
            name: claims.usr.clone(),
            csrf: token.0.clone(),
            cases: place
                .filter(|_| matches!(claims.kind, AccountKind::Citizen | AccountKind::Enterprise))
                .map(|t| format!("{}cases", portal_home(t))),
            messages: place
                .filter(|_| matches!(claims.kind, AccountKind::Citizen | AccountKind::Enterprise))
                .map(|t| format!("{}messages", portal_home(t))),
        },
        None => Visitor::Anonymous {
            return_to: path.to_owned(),
        },
    }
}

impl PageLang {
    /// The frame of a page at `path` titled `title`.
    fn frame(
        self,
        path: &str,
        title: String,
        place: Option<&TenantRecord>,
        visitor: Visitor,
    ) -> Frame {
        Frame {
            lang: self.lang,
            title,
            place: place.map(|t| {
                (
                    self.lang.pick(&t.name, &t.name_en).to_owned(),
                    portal_home(t),
                )
            }),
            switch_href: format!(
                "{path}{}lang={}",
                if path.contains('?') { '&' } else { '?' },
                self.lang.other().tag()
            ),
            visitor,
            scripts: &[],
        }
    }

    /// `markup` as an HTML answer with `status`, remembering a language
    /// the visitor chose.
    fn answer(self, status: StatusCode, markup: civitas_web::Markup) -> Response {
        let mut response = (status, axum::response::Html(markup.into_string())).into_response();
        if self.chosen {
            let cookie = format!(
                "lang={}; Path=/; Max-Age=31536000; SameSite=Strict; HttpOnly; Secure",
                self.lang.tag()
            );
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
        }
        response
    }

    /// The page for a read the API refused: "not found" when the thing is
    /// not there or not the visitor's to see (a 403 tells no more than a
    /// 404), "unavailable" otherwise.
    fn refused_read(
        self,
        error: &crate::error::ApiError,
        path: &str,
        place: Option<&TenantRecord>,
    ) -> Response {
        let (title, text) =
            if error.status == StatusCode::NOT_FOUND || error.status == StatusCode::FORBIDDEN {
                (Msg::NotFoundTitle, Msg::NotFoundText)
            } else {
                (Msg::UnavailableTitle, Msg::UnavailableText)
            };
        self.problem(error.status, path, place, title, text)
    }

    /// A page saying what went wrong.
    fn problem(
        self,
        status: StatusCode,
        path: &str,
        place: Option<&TenantRecord>,
        title: Msg,
        text: Msg,
    ) -> Response {
        let frame = self.frame(
            path,
            title.text(self.lang).to_owned(),
            place,
            Visitor::Anonymous {
                return_to: path.to_owned(),
            },
        );
        let back = place.map(portal_home);
        self.answer(
            status,
            civitas_web::layout::problem(&frame, title, text, back.as_deref()),
        )
    }
}

/// The value a submitted form gives `name` (its first), or empty.
fn form_field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// A tenant's portal home, by its slug path.
fn portal_home(tenant: &TenantRecord) -> String {
    format!("{PORTAL_PREFIX}{}/", tenant.slug_path)
}

/// The tenant a portal page names; an unknown one is a 404 page.
pub(crate) struct PortalTenant(Arc<TenantRecord>);

impl FromRequestParts<AppState> for PortalTenant {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<PortalTenant, Response> {
        match parts.extensions.get::<Resolved>() {
            Some(Resolved::Found(tenant)) => Ok(PortalTenant(tenant.clone())),
            _ => {
                let lang = match PageLang::from_request_parts(parts, state).await {
                    Ok(lang) => lang,
                    Err(never) => match never {},
                };
                // The path as the visitor wrote it, not as the layer
                // rewrote it.
                let path = parts
                    .extensions
                    .get::<axum::extract::OriginalUri>()
                    .map_or_else(|| parts.uri.path().to_owned(), |u| u.path().to_owned());
                Err(lang.problem(
                    StatusCode::NOT_FOUND,
                    &path,
                    None,
                    Msg::NotFoundTitle,
                    Msg::NotFoundText,
                ))
            }
        }
    }
}
