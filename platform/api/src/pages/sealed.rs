//! Official documents on the faces: the issued documents of a case (portal
//! and workbench), the workbench's form to issue one, their downloads, and
//! the public verification page `/verify`.

use std::collections::BTreeMap;

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use civitas_storage::TenantRecord;
use civitas_web::Msg;
use civitas_web::sealed::{IssueField, IssueForm, Issued, Verdict};
use serde_json::Value;

use civitas_web::layout::sign_in_href;

use super::session::{FormToken, PageVisitor};
use super::{PageLang, PortalTenant, portal_home, visitor};
use crate::AppState;
use crate::access::Caller;
use crate::routes::documents::{
    CaseDocuments, IssueBody, MAX_VERIFY_BYTES, documents_for, issue_in, issued_file_for,
    pdf_response, verify_in,
};

/// Instants as people in China read them.
fn local(at: chrono::DateTime<chrono::Utc>) -> String {
    super::case_view::local_time(at.timestamp_micros())
}

/// The issued documents of the case `id` for `caller`, each linked under
/// `base` (the case page's address), and the documents' listing itself.
pub(super) async fn issued(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    id: &str,
    base: &str,
) -> (Vec<Issued>, Option<CaseDocuments>) {
    match documents_for(state, caller, &tenant.path, id).await {
        Ok(documents) => (
            documents
                .kinds
                .iter()
                .filter_map(|k| k.issued.as_ref())
                .map(|d| Issued {
                    name: d.name.clone(),
                    number: d.number.clone(),
                    issued_at: local(d.issued_at),
                    sm3: d.sm3.clone(),
                    href: format!("{base}/issued/{}", d.kind),
                })
                .collect(),
            Some(documents),
        ),
        Err(e) => {
            tracing::warn!(
                code = e.code,
                "a case's issued documents could not be listed"
            );
            (Vec::new(), None)
        }
    }
}

/// The forms for the documents a closed case may still have, when
/// `caller` may issue in its line; integer bounds read from the case's
/// module answers.
#[allow(clippy::too_many_arguments)]
pub(super) fn issue_forms(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    case: &civitas_workflow::Case,
    documents: Option<&CaseDocuments>,
    here: &str,
    csrf: &str,
    draft: Option<&(String, BTreeMap<String, String>)>,
) -> Vec<IssueForm> {
    let Some(documents) = documents else {
        return Vec::new();
    };
    if !documents.closed
        || caller
            .authorize(state, &tenant.path, &case.line, "document.issue")
            .is_err()
    {
        return Vec::new();
    }
    let bound = |b: &Option<String>| -> Option<i64> {
        let b = b.as_ref()?;
        if let Ok(n) = b.parse() {
            return Some(n);
        }
        let (hook, field) = b.strip_prefix("outcome.")?.split_once('.')?;
        case.outcomes.get(hook)?.get("output")?.get(field)?.as_i64()
    };
    documents
        .kinds
        .iter()
        .filter(|k| k.issued.is_none())
        .map(|k| IssueForm {
            name: k.name.clone(),
            action: format!("{here}/issue/{}", k.kind),
            csrf: csrf.to_owned(),
            fields: k
                .fields
                .iter()
                .map(|f| IssueField {
                    name: f.name.clone(),
                    title: f.title.clone(),
                    title_en: f.title_en.clone(),
                    number: f.kind == civitas_seal::template::FieldKind::Integer,
                    bounds: (bound(&f.min), bound(&f.max)),
                    value: draft
                        .filter(|(kind, _)| *kind == k.kind)
                        .and_then(|(_, values)| values.get(&f.name).cloned())
                        .unwrap_or_default(),
                })
                .collect(),
        })
        .collect()
}

/// The issue form's fields as the template types them: integers as
/// numbers (text that is not one stays text, and the check names it).
async fn entries(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    id: &str,
    kind: &str,
    form: &BTreeMap<String, String>,
) -> BTreeMap<String, Value> {
    let kinds = documents_for(state, caller, &tenant.path, id)
        .await
        .map(|d| d.kinds)
        .unwrap_or_default();
    let fields = kinds
        .into_iter()
        .find(|k| k.kind == kind)
        .map(|k| k.fields)
        .unwrap_or_default();
    form.iter()
        .filter(|(name, _)| name.as_str() != "csrf")
        .map(|(name, value)| {
            let value = value.trim();
            let integer = fields
                .iter()
                .any(|f| &f.name == name && f.kind == civitas_seal::template::FieldKind::Integer);
            let typed = match value.parse::<i64>() {
                Ok(n) if integer => Value::from(n),
                _ => Value::from(value.to_owned()),
            };
            (name.clone(), typed)
        })
        .collect()
}

/// `POST /workbench/t/{path}/cases/{id}/issue/{kind}`: issues the document
/// `kind` with what the officer entered; back to the case's documents, or
/// the case page saying why not.
pub(super) async fn issue(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, id, kind)): Path<(String, String, String)>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let tenant = tenant.0;
    let here = format!("/workbench/t/{}/cases/{id}", tenant.path);
    let caller = match super::workbench::staff(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    if !token.check(form.get("csrf").map_or("", String::as_str)) {
        return super::workbench::render_refused(
            &state,
            lang,
            &who,
            &token,
            &tenant,
            &id,
            StatusCode::FORBIDDEN,
            Msg::FormExpired.both(),
            None,
        )
        .await;
    }
    let fields = entries(&state, &caller, &tenant, &id, &kind, &form).await;
    match issue_in(
        &state,
        &caller,
        &tenant.path,
        &id,
        &kind,
        &IssueBody { fields },
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("{here}#sealed")).into_response(),
        Err(e) => {
            let mut draft = form;
            draft.remove("csrf");
            let message = match e.problems().first() {
                Some(p) => (
                    format!("{}（{}）", e.message.zh, p.message.zh),
                    format!("{} ({})", e.message.en, p.message.en),
                ),
                None => (e.message.zh.clone(), e.message.en.clone()),
            };
            super::workbench::render_refused(
                &state,
                lang,
                &who,
                &token,
                &tenant,
                &id,
                e.status,
                message,
                Some((kind, draft)),
            )
            .await
        }
    }
}

async fn download(
    state: &AppState,
    lang: PageLang,
    caller: &Caller,
    tenant: &TenantRecord,
    here: &str,
    id: &str,
    kind: &str,
) -> Response {
    match issued_file_for(state, caller, &tenant.path, id, kind).await {
        Ok((document, bytes)) => pdf_response(&document, bytes),
        Err(e) => lang.refused_read(&e, here, Some(tenant)),
    }
}

/// `GET /workbench/t/{path}/cases/{id}/issued/{kind}`: the sealed PDF, for
/// staff who may read the case.
pub(super) async fn workbench_download(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    tenant: PortalTenant,
    Path((_, id, kind)): Path<(String, String, String)>,
) -> Response {
    let tenant = tenant.0;
    let here = format!("/workbench/t/{}/cases/{id}", tenant.path);
    let caller = match super::workbench::staff(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    download(&state, lang, &caller, &tenant, &here, &id, &kind).await
}

/// `GET /t/{path}/cases/{id}/issued/{kind}`: the sealed PDF, for the
/// applicant of the case.
pub(super) async fn portal_download(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    tenant: PortalTenant,
    Path((_, id, kind)): Path<(String, String, String)>,
) -> Response {
    let tenant = tenant.0;
    let here = format!("{}cases/{id}", portal_home(&tenant));
    let Some(claims) = who.0.clone() else {
        return Redirect::to(&sign_in_href(&here)).into_response();
    };
    download(
        &state,
        lang,
        &Caller::Person(claims),
        &tenant,
        &here,
        &id,
        &kind,
    )
    .await
}

fn verify_page(
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    status: StatusCode,
    verdict: Option<&Verdict>,
    error: Option<&(String, String)>,
) -> Response {
    let frame = lang.frame(
        "/verify",
        Msg::DocumentVerifyTitle.text(lang.lang).to_owned(),
        None,
        visitor(who, token, "/verify", None),
    );
    lang.answer(
        status,
        civitas_web::sealed::verify(&frame, &token.0, verdict, error),
    )
}

/// `GET /verify`: the public verification page.
pub(super) async fn verify_form(lang: PageLang, who: PageVisitor, token: FormToken) -> Response {
    verify_page(lang, &who, &token, StatusCode::OK, None, None)
}

/// `POST /verify`: verifies the chosen file (multipart: the form token,
/// then the file) and shows the verdict; the file is not kept.
pub(super) async fn verify(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    crate::throttle::Source(source): crate::throttle::Source,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    // Public work, counted per address as the API counts it.
    let _counted = match state.throttle().verification(source) {
        Ok(ticket) => ticket,
        Err(e) => {
            let said = (e.message.zh.clone(), e.message.en.clone());
            return verify_page(lang, &who, &token, e.status, None, Some(&said));
        }
    };
    let choose = || {
        (
            "请选择要核验的 PDF 文件".to_owned(),
            "Choose the PDF file to verify".to_owned(),
        )
    };
    let Ok(mut multipart) = multipart else {
        return verify_page(
            lang,
            &who,
            &token,
            StatusCode::BAD_REQUEST,
            None,
            Some(&choose()),
        );
    };
    let mut genuine = false;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                let e = crate::routes::cases::upload_error(&e);
                let said = (e.message.zh, e.message.en);
                return verify_page(lang, &who, &token, e.status, None, Some(&said));
            }
        };
        match field.name() {
            Some("csrf") => genuine = token.check(&field.text().await.unwrap_or_default()),
            Some("file") if genuine => {
                let bytes = match field.bytes().await {
                    Ok(bytes) if !bytes.is_empty() => bytes,
                    Ok(_) => {
                        return verify_page(
                            lang,
                            &who,
                            &token,
                            StatusCode::BAD_REQUEST,
                            None,
                            Some(&choose()),
                        );
                    }
                    Err(e) => {
                        let e = crate::routes::cases::upload_error(&e);
                        let said = (e.message.zh, e.message.en);
                        return verify_page(lang, &who, &token, e.status, None, Some(&said));
                    }
                };
                return match verify_in(&state, bytes).await {
                    Ok(v) => {
                        let verdict = if v.valid {
                            let place = v
                                .seal_tenant
                                .as_deref()
                                .map(|t| super::workbench::place_name(&state, t));
                            Verdict::Valid {
                                seal_name: v.seal_name.unwrap_or_default(),
                                holder: format!(
                                    "{} · {}",
                                    place.map_or_else(String::new, |p| lang
                                        .lang
                                        .pick(&p.zh, &p.en)
                                        .to_owned()),
                                    v.seal_line.unwrap_or_default()
                                ),
                                signed_at: v.signed_at.map(local).unwrap_or_default(),
                                file_sm3: v.file_sm3,
                                issued: v.issued.map(|i| (i.name, i.number, local(i.issued_at))),
                                revoked_at: v.seal_revoked_at.map(local),
                            }
                        } else {
                            Verdict::Refused {
                                reason: v
                                    .reason
                                    .map(|m| (m.zh, m.en))
                                    .unwrap_or_else(|| (String::new(), String::new())),
                                file_sm3: v.file_sm3,
                            }
                        };
                        verify_page(lang, &who, &token, StatusCode::OK, Some(&verdict), None)
                    }
                    Err(e) => {
                        let said = (e.message.zh.clone(), e.message.en.clone());
                        verify_page(lang, &who, &token, e.status, None, Some(&said))
                    }
                };
            }
            _ => {}
        }
    }
    if genuine {
        verify_page(
            lang,
            &who,
            &token,
            StatusCode::BAD_REQUEST,
            None,
            Some(&choose()),
        )
    } else {
        verify_page(
            lang,
            &who,
            &token,
            StatusCode::FORBIDDEN,
            None,
            Some(&Msg::FormExpired.both()),
        )
    }
}

/// The verification page's body limit.
pub(super) const VERIFY_BODY_LIMIT: usize = MAX_VERIFY_BYTES + 64 * 1024;
