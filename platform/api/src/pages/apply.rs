//! Applying at the portal (`/t/{path}/services/{line}/{name}/apply`) and an
//! applicant's case (`/t/{path}/cases/{id}`).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use civitas_storage::TenantRecord;
use civitas_web::Msg;
use civitas_web::apply::{
    ApplyForm, CaseRow, DocumentLink, Receipt, Upload, Withdrawal, file_size, form, my_cases,
    receipt,
};
use civitas_web::guide::{self, Field, Problem};
use civitas_web::layout::sign_in_href;
use civitas_workflow::Flow;
use civitas_workflow::{ActRequest, Action, CaseState};

use super::case_view::{
    answers_of, due, fields_of, history, local_time, service_name, state_label, step_name,
};
use super::session::{FormToken, PageVisitor};
use super::{PageLang, PortalTenant, portal_home, visitor};
use crate::AppState;
use crate::access::Caller;
use crate::routes::cases::{
    CreateCase, RateCase, act_on, attachments_for, case_for, cases_for, document_for,
    document_response, file_case, may_upload, rate_for, rating_for, upload_error, upload_for,
};

/// The flow `tenant` offers as `line/name`, and what its application asks.
pub(super) fn application(
    state: &AppState,
    tenant: &TenantRecord,
    line: &str,
    name: &str,
) -> Option<(Arc<Flow>, Vec<Field>)> {
    let id = format!("{line}/{name}");
    let flow = super::portal::offered(state.workflow()?, tenant)
        .into_iter()
        .find(|f| f.service == id)?;
    let fields = fields_of(state, &id);
    Some((flow, fields))
}

/// Who applies for which flow at `…/services/{line}/{name}/apply`: the
/// signed-in visitor, the flow with its fields, the guide's and the form's
/// paths; else sign in first, or the page does not exist.
type Applying = (
    civitas_identity::Claims,
    Arc<Flow>,
    Vec<Field>,
    String,
    String,
);

fn applying(
    state: &AppState,
    lang: PageLang,
    who: &PageVisitor,
    tenant: &TenantRecord,
    line: &str,
    name: &str,
) -> Result<Applying, Box<Response>> {
    let guide = format!("{}services/{line}/{name}", portal_home(tenant));
    let here = format!("{guide}/apply");
    let Some(claims) = who.0.clone() else {
        return Err(Box::new(Redirect::to(&sign_in_href(&here)).into_response()));
    };
    let Some((flow, fields)) = application(state, tenant, line, name) else {
        return Err(Box::new(not_found(lang, &here, tenant)));
    };
    Ok((claims, flow, fields, guide, here))
}

/// Why `claims` may not apply for `flow` at the portal, if they may not: the
/// portal is the applicants' face (staff file on someone's behalf through
/// the workbench and the API).
fn not_an_applicant(claims: &civitas_identity::Claims, flow: &Flow) -> Option<(String, String)> {
    use civitas_identity::AccountKind;
    use civitas_workflow::flow::Applicant;
    let may = flow.applicants.iter().any(|a| {
        matches!(
            (a, claims.kind),
            (Applicant::Citizen, AccountKind::Citizen)
                | (Applicant::Enterprise, AccountKind::Enterprise)
        )
    });
    if may {
        return None;
    }
    let who = |lang| {
        flow.applicants
            .iter()
            .map(|a| match a {
                Applicant::Citizen => Msg::ApplicantCitizen.text(lang),
                Applicant::Enterprise => Msg::ApplicantEnterprise.text(lang),
            })
            .collect::<Vec<_>>()
    };
    Some((
        format!(
            "{}{}",
            Msg::ApplicationsOnlyFor.text(civitas_web::Lang::Zh),
            who(civitas_web::Lang::Zh).join("、")
        ),
        format!(
            "{}{}",
            Msg::ApplicationsOnlyFor.text(civitas_web::Lang::En),
            who(civitas_web::Lang::En).join(", ")
        ),
    ))
}

fn not_found(lang: PageLang, here: &str, tenant: &TenantRecord) -> Response {
    lang.problem(
        StatusCode::NOT_FOUND,
        here,
        Some(tenant),
        Msg::NotFoundTitle,
        Msg::NotFoundText,
    )
}

/// `GET …/apply`: the form (signing in first).
pub(super) async fn show(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, line, name)): Path<(String, String, String)>,
) -> Response {
    let tenant = tenant.0;
    let (claims, flow, fields, guide, here) =
        match applying(&state, lang, &who, &tenant, &line, &name) {
            Ok(found) => found,
            Err(answer) => return *answer,
        };
    let refusal = not_an_applicant(&claims, &flow);
    let view = ApplyForm {
        verify_first: refusal.is_none() && !claims.ver,
        refusal,
        ..blank_form(&flow, fields, &here, &token, guide)
    };
    render(lang, &who, &token, &tenant, &here, &view, StatusCode::OK)
}

/// The application form of `flow` before anything is answered.
fn blank_form(
    flow: &Flow,
    fields: Vec<Field>,
    here: &str,
    token: &FormToken,
    back: String,
) -> ApplyForm {
    ApplyForm {
        service: service_name(Some(flow), &flow.service),
        fields,
        action: here.to_owned(),
        csrf: token.0.clone(),
        back,
        ..ApplyForm::default()
    }
}

fn render(
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    tenant: &TenantRecord,
    here: &str,
    view: &ApplyForm,
    status: StatusCode,
) -> Response {
    let title = format!(
        "{} - {}",
        Msg::ApplyTitle.text(lang.lang),
        lang.lang.pick(&view.service.zh, &view.service.en)
    );
    let frame = lang.frame(
        here,
        title,
        Some(tenant),
        visitor(who, token, here, Some(tenant)),
    );
    lang.answer(status, form(&frame, view))
}

/// `POST …/apply`: the answers read as the schema types them, every
/// problem named beside its field; a good application is filed and the
/// browser sent to its case.
pub(super) async fn submit(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, line, name)): Path<(String, String, String)>,
    Form(answers): Form<Vec<(String, String)>>,
) -> Response {
    let tenant = tenant.0;
    let (claims, flow, fields, guide, here) =
        match applying(&state, lang, &who, &tenant, &line, &name) {
            Ok(found) => found,
            Err(answer) => return *answer,
        };
    let submitted = super::form_field(&answers, "csrf");
    let mut view = ApplyForm {
        answers: answers.clone(),
        ..blank_form(&flow, fields.clone(), &here, &token, guide)
    };
    if !token.check(submitted) {
        view.refusal = Some(Msg::FormExpired.both());
        return render(
            lang,
            &who,
            &token,
            &tenant,
            &here,
            &view,
            StatusCode::FORBIDDEN,
        );
    }
    if let Some(refusal) = not_an_applicant(&claims, &flow) {
        view.refusal = Some(refusal);
        return render(
            lang,
            &who,
            &token,
            &tenant,
            &here,
            &view,
            StatusCode::FORBIDDEN,
        );
    }
    let document = match guide::document(&fields, &answers) {
        Ok(document) => document,
        Err(problems) => {
            view.problems = problems;
            return render(
                lang,
                &who,
                &token,
                &tenant,
                &here,
                &view,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let caller = Caller::Person(claims);
    let filed = file_case(
        &state,
        &caller,
        &tenant.path,
        CreateCase::application(flow.service.clone(), document),
    )
    .await;
    match filed {
        Ok((_, case)) => Redirect::to(&format!(
            "{}cases/{}?filed=1",
            portal_home(&tenant),
            case.id
        ))
        .into_response(),
        Err(e) => {
            // What the platform names per field goes beside the field;
            // the rest (a rule's refusal, verification) above the form.
            for p in e.problems() {
                if let Some(field) = p
                    .field
                    .as_ref()
                    .filter(|f| fields.iter().any(|x| &x.name == *f))
                {
                    view.problems.push((
                        field.clone(),
                        Problem::Said(p.message.zh.clone(), p.message.en.clone()),
                    ));
                }
            }
            if view.problems.is_empty() {
                view.refusal = Some((e.message.zh.clone(), e.message.en.clone()));
            }
            render(lang, &who, &token, &tenant, &here, &view, e.status)
        }
    }
}

/// `?filed=1` right after the application was filed.
#[derive(Debug, serde::Deserialize)]
pub(super) struct CaseQuery {
    filed: Option<u8>,
}

/// `GET /t/{path}/cases/{id}`: the applicant's case — number, state, step
/// and deadlines, its history; a returned case's application to correct,
/// an unreviewed one's withdrawal.
pub(super) async fn case(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, id)): Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<CaseQuery>,
) -> Response {
    let page = CasePage {
        state: &state,
        lang,
        who: &who,
        token: &token,
        tenant: &tenant.0,
        id: &id,
        rating_draft: None,
    };
    page.render(query.filed == Some(1), None, None, StatusCode::OK)
        .await
}

/// Everything a case's page is drawn from.
struct CasePage<'a> {
    state: &'a AppState,
    lang: PageLang,
    who: &'a PageVisitor,
    token: &'a FormToken,
    tenant: &'a TenantRecord,
    id: &'a str,
    /// A refused rating's score and comment, shown again.
    rating_draft: Option<(i64, String)>,
}

impl CasePage<'_> {
    fn here(&self) -> String {
        format!("{}cases/{}", portal_home(self.tenant), self.id)
    }

    /// The page; `correction` is a resubmission that came back with
    /// problems (shown instead of the stored application), `error` why what
    /// was asked was not done.
    async fn render(
        &self,
        just_filed: bool,
        correction: Option<ApplyForm>,
        error: Option<(String, String)>,
        status: StatusCode,
    ) -> Response {
        let (lang, tenant) = (self.lang, self.tenant);
        let here = self.here();
        let Some(claims) = self.who.0.clone() else {
            return Redirect::to(&sign_in_href(&here)).into_response();
        };
        let caller = Caller::Person(claims);
        let (workflow, case, events) = match case_for(self.state, &caller, &tenant.path, self.id)
            .await
        {
            Ok(found) => found,
            Err(e) if e.status == StatusCode::NOT_FOUND || e.status == StatusCode::FORBIDDEN => {
                return not_found(lang, &here, tenant);
            }
            Err(e) => {
                tracing::warn!(code = e.code, "an applicant's case could not be read");
                return lang.problem(
                    e.status,
                    &here,
                    Some(tenant),
                    Msg::UnavailableTitle,
                    Msg::UnavailableText,
                );
            }
        };
        let flow = workflow.flow_of(&case).ok().map(|f| &**f);
        let history = history(&events, flow);
        let service = service_name(flow, &case.service);
        let mine = case.applicant.as_deref() == Some(caller.account_id());
        let rating = if case.state.is_final() {
            rating_for(self.state, &caller, &tenant.path, &case.id)
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        let resubmit = (mine && case.state == CaseState::Returned).then(|| {
            let form = correction.unwrap_or_else(|| ApplyForm {
                service: service.clone(),
                fields: fields_of(self.state, &case.service),
                answers: answers_of(&case.data),
                action: here.clone(),
                csrf: self.token.0.clone(),
                back: here.clone(),
                ..ApplyForm::default()
            });
            (form, case.version)
        });
        let first_step = flow.and_then(|f| f.steps.first()).map(|s| s.id.as_str());
        let withdraw = (mine
            && case.state == CaseState::Open
            && flow.is_some_and(|f| f.withdraw)
            && case.step.as_deref() == first_step
            && events
                .iter()
                .all(|e| e.action == "submit" || e.action == "resubmit"))
        .then(|| Withdrawal {
            action: here.clone(),
            csrf: self.token.0.clone(),
            version: case.version,
        });
        let view = Receipt {
            service,
            case_id: case.id.clone(),
            state: state_label(case.state),
            step: case.step.as_deref().and_then(|s| step_name(flow, s)),
            step_due: due(case.step_due_on, case.step_unit.as_deref(), lang.lang),
            limit_due: due(case.limit_due_on, case.limit_unit.as_deref(), lang.lang),
            just_filed,
            history,
            resubmit,
            withdraw,
            error,
            back: format!("{}cases", portal_home(tenant)),
            documents: document_links(self.state, &caller, tenant, &case.id, &here).await,
            issued: super::sealed::issued(self.state, &caller, tenant, &case.id, &here)
                .await
                .0,
            upload: (mine && !case.state.is_final()).then(|| Upload {
                action: format!("{here}/documents"),
                csrf: self.token.0.clone(),
            }),
            rate: (mine && case.state.is_final() && rating.is_none()).then(|| Upload {
                action: here.clone(),
                csrf: self.token.0.clone(),
            }),
            rate_draft: self.rating_draft.clone(),
            rating: rating.map(|r| (r.score, r.comment)),
        };
        let frame = lang.frame(
            &here,
            Msg::CaseNumber.text(lang.lang).to_owned(),
            Some(tenant),
            visitor(self.who, self.token, &here, Some(tenant)),
        );
        lang.answer(status, receipt(&frame, &view))
    }
}

/// `POST /t/{path}/cases/{id}`: the applicant resubmits a returned case
/// (`do=resubmit`, the corrected answers) or withdraws one not yet reviewed
/// (`do=withdraw`, a reason), at the version they saw.
pub(super) async fn act(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, id)): Path<(String, String)>,
    Form(answers): Form<Vec<(String, String)>>,
) -> Response {
    let tenant = tenant.0;
    let page = CasePage {
        state: &state,
        lang,
        who: &who,
        token: &token,
        tenant: &tenant,
        id: &id,
        rating_draft: None,
    };
    let here = page.here();
    let Some(claims) = who.0.clone() else {
        return Redirect::to(&sign_in_href(&here)).into_response();
    };
    let value = |name: &str| super::form_field(&answers, name);
    let caller = Caller::Person(claims);
    // The service decides the fields; read the case once to know it.
    let service = match case_for(&state, &caller, &tenant.path, &id).await {
        Ok((_, case, _)) => case.service,
        Err(_) => return not_found(lang, &here, &tenant),
    };
    let mut correction = ApplyForm {
        fields: fields_of(&state, &service),
        answers: answers.clone(),
        action: here.clone(),
        csrf: token.0.clone(),
        back: here.clone(),
        ..ApplyForm::default()
    };
    if !token.check(value("csrf")) {
        return page
            .render(
                false,
                None,
                Some(Msg::FormExpired.both()),
                StatusCode::FORBIDDEN,
            )
            .await;
    }
    let version = value("version").parse::<i64>().ok();
    if value("do") == "rate" {
        let rating = RateCase {
            score: value("score").parse().unwrap_or(0),
            comment: value("comment").to_owned(),
        };
        return match rate_for(&state, &caller, &tenant.path, &id, &rating).await {
            Ok(_) => Redirect::to(&format!("{here}#rated")).into_response(),
            Err(e) => {
                // What was chosen and written is shown again, not a fresh form.
                let page = CasePage {
                    rating_draft: Some((rating.score, rating.comment.clone())),
                    ..page
                };
                let error = Some((e.message.zh.clone(), e.message.en.clone()));
                page.render(false, None, error, e.status).await
            }
        };
    }
    let request = match value("do") {
        "resubmit" => match guide::document(&correction.fields, &answers) {
            Ok(document) => ActRequest {
                action: Action::Resubmit,
                version,
                reason: None,
                to_step: None,
                to_tenant: None,
                days: None,
                data: Some(document),
            },
            Err(problems) => {
                correction.problems = problems;
                return page
                    .render(
                        false,
                        Some(correction),
                        None,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await;
            }
        },
        "withdraw" => ActRequest {
            action: Action::Withdraw,
            version,
            reason: Some(value("reason").trim().to_owned()).filter(|r| !r.is_empty()),
            to_step: None,
            to_tenant: None,
            days: None,
            data: None,
        },
        _ => return not_found(lang, &here, &tenant),
    };
    match act_on(&state, &caller, &tenant.path, &id, request).await {
        Ok(_) => Redirect::to(&here).into_response(),
        Err(e) => {
            for p in e.problems() {
                if let Some(field) = p.field.as_ref() {
                    correction.problems.push((
                        field.clone(),
                        Problem::Said(p.message.zh.clone(), p.message.en.clone()),
                    ));
                }
            }
            let error = Some((e.message.zh.clone(), e.message.en.clone()));
            page.render(false, Some(correction), error, e.status).await
        }
    }
}

/// The most applications the list shows (newest first).
const MY_CASES_SHOWN: u32 = 100;

/// `GET /t/{path}/cases`: the signed-in applicant's applications here.
pub(super) async fn cases(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
) -> Response {
    let tenant = tenant.0;
    let here = format!("{}cases", portal_home(&tenant));
    let Some(claims) = who.0.clone() else {
        return Redirect::to(&sign_in_href(&here)).into_response();
    };
    let caller = Caller::Person(claims);
    let (workflow, cases) = match cases_for(&state, &caller, &tenant.path, MY_CASES_SHOWN).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(code = e.code, "an applicant's cases could not be listed");
            let (title, text) = if e.status == StatusCode::FORBIDDEN {
                (Msg::NotFoundTitle, Msg::NotFoundText)
            } else {
                (Msg::UnavailableTitle, Msg::UnavailableText)
            };
            return lang.problem(e.status, &here, Some(&tenant), title, text);
        }
    };
    let rows: Vec<CaseRow> = cases
        .iter()
        .map(|c| {
            let flow = workflow.flow_of(c).ok().map(|f| &**f);
            CaseRow {
                service: service_name(flow, &c.service),
                case_id: c.id.clone(),
                state: state_label(c.state),
                step: c.step.as_deref().and_then(|s| step_name(flow, s)),
                filed_on: local_time(c.created_at).chars().take(10).collect(),
                href: format!("{}cases/{}", portal_home(&tenant), c.id),
            }
        })
        .collect();
    let frame = lang.frame(
        &here,
        Msg::MyCases.text(lang.lang).to_owned(),
        Some(&tenant),
        visitor(&who, &token, &here, Some(&tenant)),
    );
    lang.answer(
        StatusCode::OK,
        my_cases(&frame, &rows, &portal_home(&tenant)),
    )
}

/// The documents of the case `id` as downloads under `base` (the case's
/// page on this face); none when they cannot be read.
pub(super) async fn document_links(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    id: &str,
    base: &str,
) -> Vec<DocumentLink> {
    match attachments_for(state, caller, &tenant.path, id).await {
        Ok(found) => found
            .into_iter()
            .filter(|a| a.stored)
            .map(|a| DocumentLink {
                href: format!("{base}/documents/{}", a.id),
                size: file_size(a.size),
                name: a.name,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(code = e.code, "a case's documents could not be listed");
            Vec::new()
        }
    }
}

/// `POST /t/{path}/cases/{id}/documents`: the applicant uploads a
/// supporting document (multipart: the form token first, then the file).
/// Nothing is stored unless the token is the page's.
pub(super) async fn upload(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, id)): Path<(String, String)>,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let tenant = tenant.0;
    let page = CasePage {
        state: &state,
        lang,
        who: &who,
        token: &token,
        tenant: &tenant,
        id: &id,
        rating_draft: None,
    };
    let here = page.here();
    let Some(claims) = who.0.clone() else {
        return Redirect::to(&sign_in_href(&here)).into_response();
    };
    let caller = Caller::Person(claims);
    let refused = |e: crate::error::ApiError| (e.status, Some((e.message.zh, e.message.en)));
    let mut genuine = false;
    let outcome: Result<(), (StatusCode, Option<(String, String)>)> = async {
        let mut multipart = multipart.map_err(|_| {
            refused(crate::error::ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_upload",
                "请选择要上传的文件",
                "Choose a file to upload",
            ))
        })?;
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| refused(upload_error(&e)))?
        {
            match field.name() {
                Some("csrf") => {
                    let sent = field.text().await.unwrap_or_default();
                    genuine = token.check(&sent);
                }
                Some("file") if genuine => {
                    // Decided before the file is read.
                    may_upload(&state, &caller, &tenant.path).map_err(refused)?;
                    let name = field.file_name().unwrap_or("document").to_owned();
                    let bytes = field.bytes().await.map_err(|e| refused(upload_error(&e)))?;
                    upload_for(&state, &caller, &tenant.path, &id, &name, bytes)
                        .await
                        .map_err(refused)?;
                    return Ok(());
                }
                _ => {}
            }
        }
        Err(if genuine {
            refused(crate::error::ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_upload",
                "请选择要上传的文件",
                "Choose a file to upload",
            ))
        } else {
            (StatusCode::FORBIDDEN, Some(Msg::FormExpired.both()))
        })
    }
    .await;
    match outcome {
        Ok(()) => Redirect::to(&format!("{here}#documents")).into_response(),
        Err((status, error)) => page.render(false, None, error, status).await,
    }
}

/// `GET /t/{path}/cases/{id}/documents/{attachment}`: an applicant's
/// document, downloaded.
pub(super) async fn document(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    tenant: PortalTenant,
    Path((_, id, attachment)): Path<(String, String, String)>,
) -> Response {
    let tenant = tenant.0;
    let here = format!("{}cases/{id}", portal_home(&tenant));
    let Some(claims) = who.0.clone() else {
        return Redirect::to(&sign_in_href(&here)).into_response();
    };
    match document_for(
        &state,
        &Caller::Person(claims),
        &tenant.path,
        &id,
        &attachment,
    )
    .await
    {
        Ok((found, bytes)) => document_response(&found, bytes),
        Err(e) if e.status == StatusCode::NOT_FOUND || e.status == StatusCode::FORBIDDEN => {
            not_found(lang, &here, &tenant)
        }
        Err(e) => lang.problem(
            e.status,
            &here,
            Some(&tenant),
            Msg::UnavailableTitle,
            Msg::UnavailableText,
        ),
    }
}
