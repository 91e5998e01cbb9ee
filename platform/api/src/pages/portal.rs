//! The tenant portal's pages.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use civitas_search::{Kind, Query as SearchQuery};
use civitas_storage::TenantRecord;
use civitas_web::Msg;
use civitas_web::guide::Bilingual;
use civitas_web::portal::{self, Days, GuideStep, Home, ServiceCard, ServiceGuide};
use civitas_workflow::Flow;
use civitas_workflow::flow::Applicant;
use serde::Deserialize;

use super::session::{FormToken, PageVisitor};
use super::{PageLang, PortalTenant, portal_home, visitor};
use crate::AppState;

/// The most services a portal search lists.
const FOUND_AT_MOST: usize = 50;

/// `/t/{path}` without its slash: the portal's home.
pub(super) async fn to_home(tenant: PortalTenant) -> Redirect {
    Redirect::permanent(&portal_home(&tenant.0))
}

/// The home page's query.
#[derive(Debug, Deserialize)]
pub(super) struct HomeQuery {
    q: Option<String>,
}

/// `/t/{path}/`: the services the place offers, or those a search finds.
pub(super) async fn home(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Query(query): Query<HomeQuery>,
) -> Response {
    let tenant = tenant.0;
    let here = portal_home(&tenant);
    let Some(workflow) = state.workflow() else {
        return lang.problem(
            StatusCode::SERVICE_UNAVAILABLE,
            &here,
            Some(&tenant),
            Msg::UnavailableTitle,
            Msg::UnavailableText,
        );
    };
    let offered = offered(workflow, &tenant);
    let text = query
        .q
        .map(|q| {
            q.chars()
                .take(civitas_search::MAX_QUERY_CHARS)
                .collect::<String>()
        })
        .filter(|q| !q.trim().is_empty());
    let (services, search_available) = match &text {
        None => (offered, true),
        Some(text) => match found(&state, &tenant, text).await {
            Some(ids) => (
                ids.iter()
                    .filter_map(|id| offered.iter().find(|f| &f.service == id).cloned())
                    .collect(),
                true,
            ),
            None => (offered, false),
        },
    };
    let lines = state.line_definitions();
    let cards = services
        .iter()
        .map(|f| ServiceCard {
            name: Bilingual {
                zh: f.name.clone(),
                en: f.name_en.clone(),
            },
            summary: Bilingual {
                zh: f.summary.clone(),
                en: f.summary_en.clone(),
            },
            line: line_name(&lines, &f.line),
            href: format!("{here}services/{}", f.service),
        })
        .collect();
    let frame = lang.frame(
        &here,
        Msg::PortalTitle.text(lang.lang).to_owned(),
        Some(&tenant),
        visitor(&who, &token, &here, Some(&tenant)),
    );
    let view = Home {
        query: text,
        search_available,
        services: cards,
        action: here.clone(),
    };
    lang.answer(StatusCode::OK, portal::home(&frame, &view))
}

/// The services `tenant` offers: every flow that takes applicants in a
/// line present at the tenant, as the tenant's variant when it has one.
pub(super) fn offered(
    workflow: &civitas_workflow::Workflow,
    tenant: &TenantRecord,
) -> Vec<Arc<Flow>> {
    let flows = workflow.flows();
    let mut out: Vec<Arc<Flow>> = flows
        .flows()
        .into_iter()
        .filter(|f| {
            f.variant.is_none() && !f.applicants.is_empty() && tenant.lines.contains(&f.line)
        })
        .filter_map(|f| flows.resolve(&f.service, &tenant.path).cloned())
        .collect();
    out.sort_by(|a, b| a.service.cmp(&b.service));
    out
}

/// The services a search finds among the tenant's public ones, best
/// first; `None` when search is unavailable.
async fn found(state: &AppState, tenant: &TenantRecord, text: &str) -> Option<Vec<String>> {
    let indexer = crate::routes::search::current_index(state).ok()?;
    let root = tenant
        .path
        .lineage()
        .into_iter()
        .next()
        .unwrap_or_else(|| tenant.path.clone());
    let reach = civitas_search_indexer::public_services_reach(&root, &tenant.lines);
    let query = SearchQuery {
        text: text.to_owned(),
        kinds: vec![Kind::Service],
        limit: FOUND_AT_MOST,
        ..SearchQuery::default()
    };
    match indexer.engine().search(&reach, &query).await {
        Ok(results) => Some(results.hits.into_iter().filter_map(|h| h.service).collect()),
        Err(e) => {
            tracing::warn!(error = %e, "portal search failed");
            None
        }
    }
}

fn line_name(lines: &[civitas_tenancy::Line], code: &str) -> Bilingual {
    lines.iter().find(|l| l.code == code).map_or_else(
        || Bilingual {
            zh: code.to_owned(),
            en: code.to_owned(),
        },
        |l| Bilingual {
            zh: l.name.clone(),
            en: l.name_en.clone(),
        },
    )
}

/// `/t/{path}/services/{line}/{name}`: a service's guide.
pub(super) async fn service(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, line, name)): Path<(String, String, String)>,
) -> Response {
    let tenant = tenant.0;
    let here = format!("{}services/{line}/{name}", portal_home(&tenant));
    if state.workflow().is_none() {
        return lang.problem(
            StatusCode::SERVICE_UNAVAILABLE,
            &here,
            Some(&tenant),
            Msg::UnavailableTitle,
            Msg::UnavailableText,
        );
    }
    let Some((flow, fields)) = super::apply::application(&state, &tenant, &line, &name) else {
        return lang.problem(
            StatusCode::NOT_FOUND,
            &here,
            Some(&tenant),
            Msg::NotFoundTitle,
            Msg::NotFoundText,
        );
    };
    let days = |d: &civitas_workflow::flow::Deadline| match d.unit {
        civitas_calendar::DayUnit::Working => Days::Working(d.days),
        civitas_calendar::DayUnit::Natural => Days::Natural(d.days),
    };
    let view = ServiceGuide {
        name: Bilingual {
            zh: flow.name.clone(),
            en: flow.name_en.clone(),
        },
        summary: Bilingual {
            zh: flow.summary.clone(),
            en: flow.summary_en.clone(),
        },
        line: line_name(&state.line_definitions(), &flow.line),
        citizens: flow.applicants.contains(&Applicant::Citizen),
        enterprises: flow.applicants.contains(&Applicant::Enterprise),
        steps: flow
            .steps
            .iter()
            .map(|s| GuideStep {
                name: Bilingual {
                    zh: s.name.clone(),
                    en: s.name_en.clone(),
                },
                deadline: s.deadline.as_ref().map(days),
            })
            .collect(),
        limit: flow.limit.as_ref().map(|l| days(&l.deadline)),
        withdraw: flow.withdraw,
        fields,
        back: portal_home(&tenant),
        apply: format!("{here}/apply"),
        signed_in: who.0.is_some(),
    };
    let title = lang.lang.pick(&flow.name, &flow.name_en).to_owned();
    let frame = lang.frame(
        &here,
        title,
        Some(&tenant),
        visitor(&who, &token, &here, Some(&tenant)),
    );
    lang.answer(StatusCode::OK, portal::service(&frame, &view))
        .into_response()
}

/// `/t/{path}/lotteries/{id}`: a lottery as published, for anyone — the
/// same record `GET /api/v1/tenants/{path}/lotteries/{id}` answers, with
/// how to recompute it.
pub(super) async fn lottery(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    let tenant = tenant.0;
    let here = format!("{}lotteries/{id}", portal_home(&tenant));
    let problem = |status, title, text| lang.problem(status, &here, Some(&tenant), title, text);
    let lottery = match civitas_lottery::published(state.db(), &tenant.path, &id).await {
        Ok(lottery) => lottery,
        Err(civitas_lottery::LotteryError::NotFound(_)) => {
            return problem(StatusCode::NOT_FOUND, Msg::NotFoundTitle, Msg::NotFoundText);
        }
        Err(error) => {
            tracing::warn!(%error, "lottery page");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::UnavailableTitle,
                Msg::UnavailableText,
            );
        }
    };
    // The record was written by the draw from this text: one that does
    // not read is corrupt, and said so rather than shown half.
    let Ok(published) = serde_json::from_str::<civitas_lottery::Published>(&lottery.published)
    else {
        tracing::error!(lottery = %lottery.id, "a stored lottery's published text does not parse");
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            Msg::UnavailableTitle,
            Msg::UnavailableText,
        );
    };
    let unit_type = unit_type_label(&state, &tenant, &published, lang.lang);
    let submitted: std::collections::HashMap<&str, u32> = published
        .entries
        .iter()
        .map(|e| (e.case_id.as_str(), e.score_at_submission))
        .collect();
    let standing = match (&lottery.value, &lottery.seed) {
        (Some(value), Some(seed)) => {
            let ranking: Option<Vec<civitas_web::lottery::Place>> = lottery
                .ranking
                .iter()
                .map(|r| {
                    Some(civitas_web::lottery::Place {
                        position: r.position,
                        case_id: r.case_id.clone(),
                        score: r.score,
                        score_at_submission: *submitted.get(r.case_id.as_str())?,
                        ticket: r.ticket.clone(),
                        drawn: r.drawn,
                    })
                })
                .collect();
            // A ranked case the published text does not hold: corrupt.
            let Some(ranking) = ranking else {
                tracing::error!(lottery = %lottery.id, "a ranked case is not in the published text");
                return problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Msg::UnavailableTitle,
                    Msg::UnavailableText,
                );
            };
            civitas_web::lottery::Standing::Drawn {
                value: value.clone(),
                seed: seed.clone(),
                ranking,
            }
        }
        _ => civitas_web::lottery::Standing::Waiting(
            published
                .entries
                .iter()
                .map(|e| civitas_web::lottery::Entry {
                    case_id: e.case_id.clone(),
                    score: e.score,
                    score_at_submission: e.score_at_submission,
                })
                .collect(),
        ),
    };
    let view = civitas_web::lottery::LotteryView {
        title: published.title.clone(),
        project: published.project.clone(),
        unit_type,
        units: published.units,
        published_on: published.published_on.clone(),
        draw_on: published.draw_on.clone(),
        public_value: published.public_value.clone(),
        published_sm3: lottery.published_sm3.clone(),
        published: lottery.published.clone(),
        standing,
        record_href: format!("/api/v1/tenants/{}/lotteries/{}", tenant.path, lottery.id),
    };
    let frame = lang.frame(
        &here,
        published.title.clone(),
        Some(&tenant),
        visitor(&who, &token, &here, Some(&tenant)),
    );
    lang.answer(StatusCode::OK, civitas_web::lottery::lottery(&frame, &view))
}

/// The unit type's label in the service's form (`oneOf` titles), else the
/// code as published.
fn unit_type_label(
    state: &AppState,
    tenant: &TenantRecord,
    published: &civitas_lottery::Published,
    lang: civitas_web::Lang,
) -> String {
    let Some((line, name)) = published.service.split_once('/') else {
        return published.unit_type.clone();
    };
    super::apply::application(state, tenant, line, name)
        .and_then(|(_, fields)| {
            fields
                .into_iter()
                .find_map(|f| match (f.name == "unit_type", f.answer) {
                    (true, civitas_web::guide::Answer::Choice(choices)) => choices
                        .into_iter()
                        .find(|(code, _)| *code == published.unit_type)
                        .map(|(_, label)| lang.pick(&label.zh, &label.en).to_owned()),
                    _ => None,
                })
        })
        .unwrap_or_else(|| published.unit_type.clone())
}
