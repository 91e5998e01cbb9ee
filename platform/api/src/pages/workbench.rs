//! The staff workbench: `/workbench/` (the inbox) and
//! `/workbench/t/{path}/cases/{id}` (a case and the step's actions).

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use civitas_storage::TenantRecord;
use civitas_tenancy::TenantPath;
use civitas_web::Msg;
use civitas_web::guide::{Answer, Bilingual};
use civitas_web::workbench::{
    ActDraft, CounterCheck, Decision, Found, Inbox, Notice, Reveal, SearchResults, StaffCase,
    StepAct, Task, case, counter_check, figures, inbox, shown,
};
use civitas_workflow::flow::{Rule, StepAction};
use civitas_workflow::inbox::InboxFilter;
use civitas_workflow::{ActRequest, Action, CaseState};
use serde::Deserialize;

use super::case_view::{due, fields_of, history, service_name, state_label, step_name};
use super::session::{FormToken, PageVisitor};
use super::{PageLang, PortalTenant, signed_in_staff, visitor};
use crate::AppState;
use crate::access::Caller;
use crate::routes::cases::{act_on, case_for, inbox_for, mask_personal, may_reveal, reveal_in};

const INBOX: &str = "/workbench/";
/// Tasks per page of the inbox.
const TASKS_PER_PAGE: u32 = 50;

/// The signed-in staff member, or the answer for anyone else.
pub(super) fn staff(
    lang: PageLang,
    who: &PageVisitor,
    here: &str,
) -> Result<Caller, Box<Response>> {
    signed_in_staff(lang, who, here, Msg::Workbench, Msg::StaffOnly)
}

pub(super) fn place_name(state: &AppState, path: &str) -> Bilingual {
    state.tenants().get(path).map_or_else(
        || Bilingual {
            zh: path.to_owned(),
            en: path.to_owned(),
        },
        |t| Bilingual {
            zh: t.name.clone(),
            en: t.name_en.clone(),
        },
    )
}

/// The inbox's query.
#[derive(Debug, Deserialize)]
pub(super) struct InboxQuery {
    overdue: Option<bool>,
    after: Option<String>,
}

/// `GET /workbench/`: the officer's tasks, earliest due first.
pub(super) async fn tasks(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    Query(query): Query<InboxQuery>,
) -> Response {
    let caller = match staff(lang, &who, INBOX) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let overdue_only = query.overdue == Some(true);
    let after = query
        .after
        .as_deref()
        .and_then(civitas_workflow::inbox::parse_cursor);
    let page = match inbox_for(
        &state,
        &caller,
        InboxFilter {
            service: None,
            overdue: overdue_only.then_some(true),
            after,
            limit: TASKS_PER_PAGE,
        },
    )
    .await
    {
        Ok(page) => page,
        Err(e) => {
            tracing::warn!(code = e.code, "the inbox could not be read");
            return lang.problem(
                e.status,
                INBOX,
                None,
                Msg::UnavailableTitle,
                Msg::UnavailableText,
            );
        }
    };
    let Some(workflow) = state.workflow() else {
        return lang.problem(
            StatusCode::SERVICE_UNAVAILABLE,
            INBOX,
            None,
            Msg::UnavailableTitle,
            Msg::UnavailableText,
        );
    };
    let tasks = page
        .items
        .iter()
        .map(|item| {
            let flow = TenantPath::parse(&item.tenant)
                .ok()
                .and_then(|t| workflow.flows().resolve(&item.service, &t).cloned());
            let flow = flow.as_deref();
            Task {
                service: service_name(flow, &item.service),
                title: item.title.clone(),
                href: format!("/workbench/t/{}/cases/{}", item.tenant, item.case_id),
                step: step_name(flow, &item.step).unwrap_or_else(|| Bilingual {
                    zh: item.step.clone(),
                    en: item.step.clone(),
                }),
                place: place_name(&state, &item.actor_tenant),
                due_on: item.due_on.map(|d| d.to_string()),
                days_left: item.days_left.map(|n| {
                    let unit = if item.unit == "working" {
                        Msg::WorkingDays
                    } else {
                        Msg::NaturalDays
                    };
                    (n, unit)
                }),
                overdue: item.overdue,
            }
        })
        .collect();
    let next = page.next.map(|cursor| {
        let mut href = format!("{INBOX}?after={cursor}");
        if overdue_only {
            href.push_str("&overdue=true");
        }
        href
    });
    let notices = notices(&state, &caller).await;
    let counter = own_place(&caller)
        .is_some_and(|place| crate::routes::verification::may_verify(&state, &caller, &place));
    let export = if overdue_only {
        "/workbench/inbox/export?overdue=true".to_owned()
    } else {
        "/workbench/inbox/export".to_owned()
    };
    let deliveries = own_place(&caller).and_then(|place| {
        state
            .tenants()
            .get(place.as_str())
            .map(|t| format!("/workbench/t/{}/deliveries", t.slug_path))
    });
    let view = Inbox {
        tasks,
        export,
        overdue_only,
        next,
        notices,
        counter,
        deliveries,
    };
    let frame = lang.frame(
        INBOX,
        Msg::Inbox.text(lang.lang).to_owned(),
        None,
        visitor(&who, &token, INBOX, None),
    );
    lang.answer(StatusCode::OK, inbox(&frame, &view))
}

/// How many notifications the inbox shows.
const NOTICES_SHOWN: u32 = 10;

/// The newest notifications to the officer's own place (its subtree, their
/// line); none when they cannot be read.
async fn notices(state: &AppState, caller: &Caller) -> Vec<Notice> {
    let Caller::Person(claims) = caller else {
        return Vec::new();
    };
    let Ok(home) = TenantPath::parse(&claims.ten) else {
        return Vec::new();
    };
    match crate::routes::cases::notifications_in(state, caller, &home, None, None, NOTICES_SHOWN)
        .await
    {
        Ok(page) => page
            .notifications
            .into_iter()
            .map(|n| Notice {
                at: super::case_view::local_time(n.created_at),
                urgent: matches!(
                    n.kind.as_str(),
                    "step.escalate" | "step.overdue" | "limit.overdue"
                ) || n.kind.ends_with("escalate"),
                // Reached at the place it was sent to: the case lies in its
                // subtree, where the tenant prefix finds it.
                href: format!("/workbench/t/{}/cases/{}", n.recipient_tenant, n.case_id),
                message: Bilingual {
                    zh: n.message_zh,
                    en: n.message_en,
                },
            })
            .collect(),
        Err(e) => {
            tracing::debug!(code = e.code, "no notifications for the inbox");
            Vec::new()
        }
    }
}

/// The search's query.
#[derive(Debug, Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
}

/// `GET /workbench/search?q=`: the cases the officer may see that match.
pub(super) async fn search(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    Query(query): Query<SearchQuery>,
) -> Response {
    let here = "/workbench/search";
    let caller = match staff(lang, &who, here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let q = query.q.trim().to_owned();
    let mut view = SearchResults {
        q: q.clone(),
        total: 0,
        hits: Vec::new(),
        next: None,
        error: None,
    };
    if !q.is_empty() {
        let params = crate::routes::search::SearchParams {
            q: Some(q.clone()),
            kind: Some("case".to_owned()),
            after: query.after.clone(),
            limit: Some(20),
            // The page says how many cases were found.
            count: Some(true),
            ..Default::default()
        };
        match crate::routes::search::search_with(&state, &caller, params).await {
            Ok(page) => {
                view.total = page.total.unwrap_or(page.hits.len() as u64);
                view.next = page.next.map(|n| {
                    format!(
                        "{here}?q={}&after={n}",
                        percent_encoding::utf8_percent_encode(
                            &q,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    )
                });
                view.hits = page
                    .hits
                    .into_iter()
                    .map(|h| Found {
                        href: format!(
                            "/workbench/t/{}/cases/{}",
                            h.tenant,
                            h.id.strip_prefix("case:").unwrap_or(&h.id)
                        ),
                        state: h
                            .status
                            .as_deref()
                            .and_then(civitas_workflow::CaseState::parse)
                            .map(state_label),
                        place: place_name(&state, &h.tenant),
                        filed: h
                            .created_at
                            .map(|t| super::case_view::local_time(t.timestamp_micros()))
                            .unwrap_or_default(),
                        title: h.title,
                    })
                    .collect();
            }
            Err(e) => view.error = Some((e.message.zh.clone(), e.message.en.clone())),
        }
    }
    let frame = lang.frame(
        here,
        Msg::CaseSearch.text(lang.lang).to_owned(),
        None,
        visitor(&who, &token, here, None),
    );
    lang.answer(
        StatusCode::OK,
        civitas_web::workbench::search(&frame, &view),
    )
}

/// `GET /workbench/t/{path}/cases/{id}`: the case, and what the officer
/// may do at its step.
pub(super) async fn show(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    render(
        &state,
        lang,
        &who,
        &token,
        &tenant.0,
        &id,
        Answered::default(),
    )
    .await
}

/// What the case page says about the request that led to it.
struct Answered {
    /// Why what was asked was not done (Chinese, English).
    error: Option<(String, String)>,
    /// The refused action's form, shown again.
    draft: Option<ActDraft>,
    /// A reveal asked for, with its reason: recorded, then the personal
    /// data shown in full.
    reveal: Option<String>,
    /// The page's status.
    status: StatusCode,
    /// A refused issue's kind and what was entered, shown again.
    issue_draft: Option<(String, BTreeMap<String, String>)>,
}

impl Default for Answered {
    fn default() -> Answered {
        Answered {
            error: None,
            draft: None,
            reveal: None,
            status: StatusCode::OK,
            issue_draft: None,
        }
    }
}

impl Answered {
    /// A request refused with `error`'s status and message.
    fn refused(error: &crate::error::ApiError, draft: Option<ActDraft>) -> Answered {
        Answered {
            error: Some((error.message.zh.clone(), error.message.en.clone())),
            draft,
            reveal: None,
            status: error.status,
            issue_draft: None,
        }
    }
}

async fn render(
    state: &AppState,
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    tenant: &TenantRecord,
    id: &str,
    answered: Answered,
) -> Response {
    let Answered {
        mut error,
        draft,
        reveal,
        mut status,
        issue_draft,
    } = answered;
    let here = format!("/workbench/t/{}/cases/{id}", tenant.path);
    let caller = match staff(lang, who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let (workflow, mut c, events) = match case_for(state, &caller, &tenant.path, id).await {
        Ok(found) => found,
        Err(e) => return lang.refused_read(&e, &here, None),
    };
    // A reveal is decided in the case's line and recorded before the page
    // shows anything in full: the audit trail holds every reveal shown.
    let mut revealed = None;
    let mut reveal_draft = String::new();
    if let Some(reason) = reveal {
        match reveal_in(state, &caller, &tenant.path, id, Some(&c.line), &reason).await {
            Ok((_, full)) => {
                c = full;
                revealed = Some(reason.trim().to_owned());
            }
            Err(e) => {
                error = Some((e.message.zh.clone(), e.message.en.clone()));
                status = e.status;
                reveal_draft = reason;
            }
        }
    }
    let masked = match revealed {
        Some(_) => Vec::new(),
        None => mask_personal(state, &mut c),
    };
    let reveal = match revealed {
        Some(reason) => Reveal::Shown(reason),
        None if masked.is_empty() => Reveal::Nothing,
        None if may_reveal(state, &caller, &tenant.path, &c) => Reveal::Offered {
            action: format!("{here}/reveal"),
            draft: reveal_draft,
        },
        None => Reveal::Masked,
    };
    let flow = workflow.flow_of(&c).ok().map(|f| &**f);
    let step = c.step.as_deref().and_then(|s| flow.and_then(|f| f.step(s)));
    let fields = fields_of(state, &c.service);
    let mut data: Vec<(Bilingual, String, bool)> = Vec::new();
    for f in &fields {
        if let Some(value) = c.data.get(&f.name) {
            let hidden = masked.contains(&f.name);
            let text = match (&f.answer, value) {
                // A masked answer is shown as masked, never looked up.
                _ if hidden => shown(value, lang.lang),
                (Answer::Choice(choices), serde_json::Value::String(v)) => {
                    choices.iter().find(|(k, _)| k == v).map_or_else(
                        || v.clone(),
                        |(_, l)| lang.lang.pick(&l.zh, &l.en).to_owned(),
                    )
                }
                _ => shown(value, lang.lang),
            };
            data.push((f.label.clone(), text, hidden));
        }
    }
    if let Some(object) = c.data.as_object() {
        for (k, v) in object {
            if !fields.iter().any(|f| &f.name == k) {
                data.push((
                    Bilingual {
                        zh: k.clone(),
                        en: k.clone(),
                    },
                    shown(v, lang.lang),
                    masked.contains(k),
                ));
            }
        }
    }
    let decisions = c
        .outcomes
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(hook, outcome)| Decision {
                    hook: hook.clone(),
                    module: format!(
                        "{}@{}",
                        outcome["module"].as_str().unwrap_or("?"),
                        outcome["version"].as_str().unwrap_or("?")
                    ),
                    eligible: outcome["output"]["eligible"].as_bool(),
                    reasons: outcome["output"]["reasons"]
                        .as_array()
                        .map(|r| {
                            r.iter()
                                .filter_map(|x| x.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    figures: output_schema_of(state, flow, &c.service, hook)
                        .map(|schema| figures(schema, &outcome["output"], lang.lang))
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    // What the step allows in the case's state: everything but resuming
    // while open, only resuming while paused.
    let actions: Vec<StepAct> = match (c.state, step) {
        (CaseState::Open | CaseState::Paused, Some(step)) => [
            (StepAction::Approve, StepAct::Approve),
            (StepAction::Return, StepAct::Return),
            (StepAction::Reject, StepAct::Reject),
            (StepAction::Transfer, StepAct::Transfer),
            (StepAction::Pause, StepAct::Pause),
            (StepAction::Resume, StepAct::Resume),
            (StepAction::Extend, StepAct::Extend),
        ]
        .into_iter()
        .filter(|(a, _)| step.actions.contains(a))
        .filter(|(a, _)| (*a == StepAction::Resume) == (c.state == CaseState::Paused))
        .map(|(_, act)| act)
        .collect(),
        _ => Vec::new(),
    };
    let transfer_targets = if actions.contains(&StepAct::Transfer) {
        match crate::routes::cases::transfer_targets_for(state, &caller, &tenant.path, &c.id).await
        {
            Ok(paths) => paths
                .iter()
                .map(|p| (p.to_string(), place_name(state, p.as_str())))
                .collect(),
            Err(e) => {
                tracing::warn!(code = e.code, "a case's transfer targets could not be read");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    // A transfer with nowhere to go is not offered.
    let actions: Vec<StepAct> = actions
        .into_iter()
        .filter(|a| *a != StepAct::Transfer || !transfer_targets.is_empty())
        .collect();
    let extension = flow.and_then(|f| f.limit).map(|limit| {
        let used: i64 = events
            .iter()
            .filter(|e| e.action == "extend")
            .filter_map(|e| e.detail.get("days").and_then(serde_json::Value::as_i64))
            .sum();
        let unit = if limit.deadline.unit.as_str() == "working" {
            Msg::WorkingDays
        } else {
            Msg::NaturalDays
        };
        (used, i64::from(limit.max_extension), unit)
    });
    let (issued, documents) = super::sealed::issued(state, &caller, tenant, &c.id, &here).await;
    let issue_forms = super::sealed::issue_forms(
        state,
        &caller,
        tenant,
        &c,
        documents.as_ref(),
        &here,
        &token.0,
        issue_draft.as_ref(),
    );
    let view = StaffCase {
        service: service_name(flow, &c.service),
        title: c.title.clone(),
        case_id: c.id.clone(),
        state: state_label(c.state),
        step: c.step.as_deref().and_then(|s| step_name(flow, s)),
        step_due: due(c.step_due_on, c.step_unit.as_deref(), lang.lang),
        limit_due: due(c.limit_due_on, c.limit_unit.as_deref(), lang.lang),
        overdue: c.overdue,
        supervised: c.supervised,
        data,
        reveal,
        decisions,
        history: history(&events, flow),
        actions,
        action: here.clone(),
        csrf: token.0.clone(),
        version: c.version,
        error,
        draft,
        countersign: match step {
            Some(step) if step.rule == Rule::All && step.actors.len() > 1 => step
                .actors
                .iter()
                .enumerate()
                .map(|(slot, actor)| {
                    let place = workflow
                        .place(&actor.at, &c.tenant_path)
                        .map_or_else(Bilingual::default, |p| place_name(state, p.as_str()));
                    let signed = c.signed.iter().any(|s| s.slot == slot as i64);
                    (actor.role.clone(), place, signed)
                })
                .collect(),
            _ => Vec::new(),
        },
        transfer_targets,
        extension,
        documents: super::apply::document_links(state, &caller, tenant, &c.id, &here).await,
        issued,
        issue_forms,
        rating: if c.state.is_final() {
            crate::routes::cases::rating_for(state, &caller, &tenant.path, &c.id)
                .await
                .ok()
                .flatten()
                .map(|r| (r.score, r.comment))
        } else {
            None
        },
    };
    let frame = lang.frame(
        &here,
        c.title.clone(),
        None,
        visitor(who, token, &here, None),
    );
    lang.answer(status, case(&frame, &view))
}

/// What an action form posts.
#[derive(Debug, Deserialize)]
pub(super) struct ActForm {
    csrf: String,
    #[serde(rename = "do")]
    act: String,
    version: Option<i64>,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    to_tenant: String,
    #[serde(default)]
    days: String,
}

/// `POST /workbench/t/{path}/cases/{id}`: approve, return or refuse at the
/// version the officer saw; back to the inbox when done.
pub(super) async fn act(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<ActForm>,
) -> Response {
    let tenant = tenant.0;
    let here = format!("/workbench/t/{}/cases/{id}", tenant.path);
    let caller = match staff(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let action = match form.act.as_str() {
        "approve" => Some(Action::Approve),
        "return" => Some(Action::Return),
        "reject" => Some(Action::Reject),
        "transfer" => Some(Action::Transfer),
        "pause" => Some(Action::Pause),
        "resume" => Some(Action::Resume),
        "extend" => Some(Action::Extend),
        _ => None,
    };
    let action = match (token.check(&form.csrf), action) {
        (true, Some(action)) => action,
        // A forged form, or one no page of ours makes: nothing is done.
        (genuine, _) => {
            let status = if genuine {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::FORBIDDEN
            };
            let answered = Answered {
                error: Some(Msg::FormExpired.both()),
                status,
                ..Answered::default()
            };
            return render(&state, lang, &who, &token, &tenant, &id, answered).await;
        }
    };
    let request = ActRequest {
        action,
        version: form.version,
        reason: Some(form.reason.trim().to_owned()).filter(|r| !r.is_empty()),
        to_step: None,
        to_tenant: Some(form.to_tenant.trim().to_owned()).filter(|t| !t.is_empty()),
        days: form.days.trim().parse().ok(),
        data: None,
    };
    match act_on(&state, &caller, &tenant.path, &id, request).await {
        Ok(_) => Redirect::to(INBOX).into_response(),
        Err(e) => {
            let draft = ActDraft {
                act: form.act.clone(),
                reason: form.reason.clone(),
                to_tenant: form.to_tenant.clone(),
                days: form.days.clone(),
            };
            let answered = Answered::refused(&e, Some(draft));
            render(&state, lang, &who, &token, &tenant, &id, answered).await
        }
    }
}

/// What the reveal form posts.
#[derive(Debug, Deserialize)]
pub(super) struct RevealForm {
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /workbench/t/{path}/cases/{id}/reveal`: the case page with the
/// application's personal data in full (`case.reveal`), the reveal and its
/// reason recorded in the audit trail first. The page is the answer
/// itself: nothing in full outlives it.
pub(super) async fn reveal(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<RevealForm>,
) -> Response {
    let answered = if token.check(&form.csrf) {
        Answered {
            reveal: Some(form.reason),
            ..Answered::default()
        }
    } else {
        Answered {
            error: Some(Msg::FormExpired.both()),
            status: StatusCode::FORBIDDEN,
            ..Answered::default()
        }
    };
    render(&state, lang, &who, &token, &tenant.0, &id, answered).await
}

/// `GET /workbench/t/{path}/cases/{id}/documents/{attachment}`: a case's
/// document, downloaded by staff who may read the case.
pub(super) async fn document(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    tenant: PortalTenant,
    Path((_, id, attachment)): Path<(String, String, String)>,
) -> Response {
    let tenant = tenant.0;
    let here = format!("/workbench/t/{}/cases/{id}", tenant.path);
    let caller = match staff(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    match crate::routes::cases::document_for(&state, &caller, &tenant.path, &id, &attachment).await
    {
        Ok((found, bytes)) => crate::routes::cases::document_response(&found, bytes),
        Err(e) => lang.refused_read(&e, &here, None),
    }
}

/// The staff member's own place: where the counter they sit at is.
/// The output schema of the service `hook` of `flow` calls (the case's own
/// service when the flow is unknown or names no such hook).
pub(crate) fn output_schema_of<'a>(
    state: &'a AppState,
    flow: Option<&civitas_workflow::flow::Flow>,
    service: &str,
    hook: &str,
) -> Option<&'a serde_json::Value> {
    let service = flow
        .and_then(|f| f.hooks.iter().find(|h| h.name == hook))
        .map_or(service, |h| h.service.as_str());
    // Borrowed from the catalog: a list of cases reads it once per row.
    let modules = state.modules().ok()?;
    Some(&modules.runtime.catalog().service(service)?.output_schema)
}

fn own_place(caller: &Caller) -> Option<TenantPath> {
    match caller {
        Caller::Person(claims) => TenantPath::parse(&claims.ten).ok(),
        _ => None,
    }
}

const COUNTER: &str = "/workbench/verify-identity";

fn counter_page(
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    mut view: CounterCheck,
    status: StatusCode,
) -> Response {
    view.csrf = token.0.clone();
    let frame = lang.frame(
        COUNTER,
        Msg::CounterCheckTitle.text(lang.lang).to_owned(),
        None,
        visitor(who, token, COUNTER, None),
    );
    lang.answer(status, counter_check(&frame, &view))
}

/// `GET /workbench/verify-identity`: the counter's check of an online
/// registrant's identity document (`account.verify` at the officer's
/// place).
pub(super) async fn counter(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
) -> Response {
    let caller = match staff(lang, &who, COUNTER) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    if !own_place(&caller)
        .is_some_and(|p| crate::routes::verification::may_verify(&state, &caller, &p))
    {
        return lang.problem(
            StatusCode::FORBIDDEN,
            COUNTER,
            None,
            Msg::NotAllowedTitle,
            Msg::NotAllowedText,
        );
    }
    counter_page(lang, &who, &token, CounterCheck::default(), StatusCode::OK)
}

/// What the counter's form posts.
#[derive(Debug, Deserialize)]
pub(super) struct CounterForm {
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    document: String,
    #[serde(default)]
    number: String,
}

/// `POST /workbench/verify-identity`: the number on the document must be
/// the one the account registered with; verified as the API's
/// `…/accounts/{username}/verify` verifies (audited). A refusal keeps what
/// was typed.
pub(super) async fn counter_verify(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    Form(form): Form<CounterForm>,
) -> Response {
    let caller = match staff(lang, &who, COUNTER) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let enterprise = form.document == "business-licence";
    let mut view = CounterCheck {
        username: form.username.trim().to_owned(),
        number: form.number.trim().to_owned(),
        enterprise,
        ..CounterCheck::default()
    };
    if !token.check(&form.csrf) {
        view.error = Some(Msg::FormExpired.both());
        return counter_page(lang, &who, &token, view, StatusCode::FORBIDDEN);
    }
    if !enterprise && form.document != "id-card" {
        view.error = Some(Msg::ChooseDocumentKind.both());
        return counter_page(lang, &who, &token, view, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let Some(place) = own_place(&caller) else {
        return lang.problem(
            StatusCode::FORBIDDEN,
            COUNTER,
            None,
            Msg::NotAllowedTitle,
            Msg::NotAllowedText,
        );
    };
    let number = Some(view.number.clone());
    let request = crate::routes::verification::InPersonVerification {
        id_number: if enterprise { None } else { number.clone() },
        credit_code: if enterprise { number } else { None },
    };
    match crate::routes::verification::verify_in(&state, &caller, &place, &view.username, request)
        .await
    {
        Ok(verified) => {
            // Done: the form is cleared for the next person in line.
            let done = CounterCheck {
                done: Some((verified.username, verified.released)),
                ..CounterCheck::default()
            };
            counter_page(lang, &who, &token, done, StatusCode::OK)
        }
        Err(e) => {
            view.error = Some((e.message.zh.clone(), e.message.en.clone()));
            counter_page(lang, &who, &token, view, e.status)
        }
    }
}

/// `GET /workbench/inbox/export`: every task of the inbox (overdue only
/// with `overdue=true`) as a workbook, through the API's export (the same
/// queues and audit records); a refusal is a page.
pub(super) async fn export_inbox(
    State(state): State<AppState>,
    method: axum::http::Method,
    lang: PageLang,
    who: PageVisitor,
    Query(query): Query<crate::routes::cases::InboxExportQuery>,
) -> Response {
    let caller = match staff(lang, &who, INBOX) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let exported = match crate::export::not_head(&method) {
        Ok(()) => crate::routes::cases::export_inbox_in(&state, &caller, query).await,
        Err(e) => Err(e),
    };
    match exported {
        Ok(file) => file,
        Err(e) => {
            let (title, text) = if e.status == StatusCode::FORBIDDEN {
                (Msg::NotAllowedTitle, Msg::NotAllowedText)
            } else {
                (Msg::UnavailableTitle, Msg::UnavailableText)
            };
            lang.problem(e.status, INBOX, None, title, text)
        }
    }
}

/// The case page saying why an issue was refused (`message`, with
/// `status`), the form filled as it was sent.
#[allow(clippy::too_many_arguments)]
pub(super) async fn render_refused(
    state: &AppState,
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    tenant: &TenantRecord,
    id: &str,
    status: StatusCode,
    message: (String, String),
    issue_draft: Option<(String, BTreeMap<String, String>)>,
) -> Response {
    let answered = Answered {
        error: Some(message),
        status,
        issue_draft,
        ..Answered::default()
    };
    render(state, lang, who, token, tenant, id, answered).await
}
