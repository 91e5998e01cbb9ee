//! The portal's message centre (`/t/{tenant}/messages`) and the
//! workbench's delivery records (`/workbench/t/{tenant}/deliveries`):
//! thin pages over the API's functions in `routes::notifications`.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use civitas_notify::store::Delivery;
use civitas_storage::TenantRecord;
use civitas_web::Msg;
use civitas_web::layout::sign_in_href;
use civitas_web::messages::{
    Both, Carried, ChannelChoice, DeliveryRecords, DeliveryRow, MessageCentre, MessageView,
    delivery_records, message_centre,
};
use serde::Deserialize;

use super::case_view::local_time;
use super::session::{FormToken, PageVisitor};
use super::workbench::staff;
use super::{PageLang, PortalTenant, form_field, portal_home, visitor};
use crate::AppState;
use crate::access::Caller;
use crate::routes::notifications::{
    DeliveriesQuery, NotificationSettingsChange, change_settings_in, deliveries_in,
    export_deliveries_in, export_messages_in, mark_read_in, messages_in, retry_in, settings_in,
};

fn status_of(d: &Delivery) -> Both {
    Both::new(d.status.label_zh(), d.status.label_en())
}

/// A page of the message centre.
#[derive(Debug, Deserialize)]
pub(super) struct CentreQuery {
    after: Option<String>,
    saved: Option<bool>,
}

fn centre_href(tenant: &TenantRecord) -> String {
    format!("{}messages", portal_home(tenant))
}

/// `GET /t/{tenant}/messages`.
pub(super) async fn centre(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Query(query): Query<CentreQuery>,
) -> Response {
    let outcome = query.saved.filter(|s| *s).map(|_| Ok(()));
    render(
        &state,
        lang,
        &who,
        &token,
        &tenant.0,
        query.after.as_deref(),
        outcome,
    )
    .await
}

async fn render(
    state: &AppState,
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    tenant: &TenantRecord,
    after: Option<&str>,
    outcome: Option<Result<(), Both>>,
) -> Response {
    let here = centre_href(tenant);
    let Some(claims) = who.0.clone() else {
        return Redirect::to(&sign_in_href(&here)).into_response();
    };
    let page = match messages_in(state, &claims.sub, false, after, Some(20)).await {
        Ok(page) => page,
        Err(e) => return lang.refused_read(&e, &here, Some(tenant)),
    };
    let settings = match settings_in(state, &claims.sub).await {
        Ok(settings) => settings,
        Err(e) => return lang.refused_read(&e, &here, Some(tenant)),
    };
    let messages = page
        .messages
        .iter()
        .map(|m| {
            let d = &m.delivery;
            MessageView {
                id: d.id.clone(),
                status: Both::new(d.kind.label_zh(), d.kind.label_en()),
                matter: d.matter.clone(),
                handler: d.handler.clone(),
                at: local_time(d.created_at),
                text: Both::new(d.message_zh.clone(), d.message_en.clone()),
                read: d.read_at.is_some(),
                read_action: format!("{here}/{}/read", d.id),
                case_href: state
                    .tenants()
                    .get(&d.tenant_path)
                    .map(|t| format!("{}cases/{}", portal_home(t), d.case_id)),
                carried: m
                    .channels
                    .iter()
                    .map(|c| Carried {
                        channel: Both::new(c.channel.label_zh(), c.channel.label_en()),
                        status: status_of(c),
                        failed: c.status == civitas_notify::Status::Failed,
                        destination: c.destination.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let channels = settings
        .channels()
        .iter()
        .map(|c| ChannelChoice {
            channel: c.channel.as_str(),
            name: Both::new(c.channel.label_zh(), c.channel.label_en()),
            offered: c.offered,
            enabled: c.enabled,
            destination: c.destination.clone(),
        })
        .collect();
    let view = MessageCentre {
        messages,
        unread: page.unread,
        next: page
            .next
            .map(|n| format!("{here}?after={}", civitas_web::layout::query_value(&n))),
        export: format!("{here}/export"),
        channels,
        settings_action: format!("{here}/settings"),
        csrf: token.0.clone(),
        outcome,
    };
    let status = match &view.outcome {
        Some(Err(_)) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    let frame = lang.frame(
        &here,
        Msg::MessageCentre.text(lang.lang).to_owned(),
        Some(tenant),
        visitor(who, token, &here, Some(tenant)),
    );
    lang.answer(status, message_centre(&frame, &view))
}

/// `POST /t/{tenant}/messages/{id}/read`.
pub(super) async fn read(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let tenant = tenant.0;
    let here = centre_href(&tenant);
    let claims = match poster(&state, lang, &who, &token, &tenant, &form).await {
        Ok(claims) => claims,
        Err(answer) => return *answer,
    };
    match mark_read_in(&state, &claims.sub, &id).await {
        Ok(()) => Redirect::to(&format!("{here}#message-{id}")).into_response(),
        Err(e) => lang.refused_read(&e, &here, Some(&tenant)),
    }
}

/// Who posted a message-centre form: the signed-in person whose form token
/// it carries; otherwise the answer (sign in first, or the page again saying
/// it expired).
async fn poster(
    state: &AppState,
    lang: PageLang,
    who: &PageVisitor,
    token: &FormToken,
    tenant: &TenantRecord,
    form: &[(String, String)],
) -> Result<civitas_identity::Claims, Box<Response>> {
    let Some(claims) = who.0.clone() else {
        let here = centre_href(tenant);
        return Err(Box::new(Redirect::to(&sign_in_href(&here)).into_response()));
    };
    if !token.check(form_field(form, "csrf")) {
        let page = render(state, lang, who, token, tenant, None, Some(Err(expired()))).await;
        return Err(Box::new(page));
    }
    Ok(claims)
}

fn expired() -> Both {
    Both::new(
        "页面已过期，请刷新后重试",
        "The page expired; reload it and try again",
    )
}

/// `POST /t/{tenant}/messages/settings`: a number or address typed is
/// saved (an empty box keeps what is there), the boxes say which channels.
pub(super) async fn save_settings(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let tenant = tenant.0;
    let here = centre_href(&tenant);
    let claims = match poster(&state, lang, &who, &token, &tenant, &form).await {
        Ok(claims) => claims,
        Err(answer) => return *answer,
    };
    let typed = |name: &str| {
        let value = form_field(&form, name).trim();
        (!value.is_empty()).then(|| Some(value.to_owned()))
    };
    // A box the platform does not offer is disabled and sends nothing: its
    // choice stays as it is.
    let offered = state.notify().unwrap_or_default();
    let change = NotificationSettingsChange::from_form(
        typed("phone"),
        typed("email"),
        offered
            .offers(civitas_notify::Channel::Sms)
            .then(|| form_field(&form, "sms_enabled") == "true"),
        offered
            .offers(civitas_notify::Channel::Email)
            .then(|| form_field(&form, "email_enabled") == "true"),
    );
    match change_settings_in(&state, &claims, change).await {
        Ok(_) => Redirect::to(&format!("{here}?saved=true#settings")).into_response(),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let why = Both::new(e.message.zh.clone(), e.message.en.clone());
            render(&state, lang, &who, &token, &tenant, None, Some(Err(why))).await
        }
        Err(e) => lang.refused_read(&e, &here, Some(&tenant)),
    }
}

/// `GET /t/{tenant}/messages/export`.
pub(super) async fn export(
    State(state): State<AppState>,
    method: axum::http::Method,
    lang: PageLang,
    who: PageVisitor,
    tenant: PortalTenant,
) -> Response {
    let here = centre_href(&tenant.0);
    let Some(claims) = who.0.clone() else {
        return Redirect::to(&sign_in_href(&here)).into_response();
    };
    let caller = Caller::Person(claims.clone());
    let exported = match crate::export::not_head(&method) {
        Ok(()) => export_messages_in(&state, &caller, &claims.sub, &claims.ten).await,
        Err(e) => Err(e),
    };
    exported.unwrap_or_else(|e| lang.refused_read(&e, &here, Some(&tenant.0)))
}

/// A page of the delivery records.
#[derive(Debug, Deserialize)]
pub(super) struct RecordsQuery {
    after: Option<String>,
    /// A delivery was queued again.
    done: Option<bool>,
}

fn records_href(tenant: &TenantRecord) -> String {
    format!("/workbench/t/{}/deliveries", tenant.slug_path)
}

/// `GET /workbench/t/{tenant}/deliveries`: the records of the officer's
/// line at a place.
pub(super) async fn records(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Query(query): Query<RecordsQuery>,
) -> Response {
    let tenant = tenant.0;
    let here = records_href(&tenant);
    let caller = match staff(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let after = match crate::paging::after(
        query.after.as_deref(),
        civitas_workflow::timers::NotificationCursor::parse,
    ) {
        Ok(after) => after,
        Err(e) => return lang.refused_read(&e, &here, None),
    };
    let page = match deliveries_in(
        &state,
        &caller,
        &tenant.path,
        &DeliveriesQuery::default(),
        after,
        50,
    )
    .await
    {
        Ok(page) => page,
        Err(e) => return lang.refused_read(&e, &here, None),
    };
    let rows = page
        .deliveries
        .iter()
        .map(|d| DeliveryRow {
            at: local_time(d.created_at),
            matter: d.matter.clone(),
            case_href: state.tenants().get(&d.tenant_path).map_or_else(
                || format!("/workbench/t/{}/cases/{}", d.tenant_path, d.case_id),
                |t| format!("/workbench/t/{}/cases/{}", t.slug_path, d.case_id),
            ),
            status: Both::new(d.kind.label_zh(), d.kind.label_en()),
            handler: d.handler.clone(),
            channel: Both::new(d.channel.label_zh(), d.channel.label_en()),
            delivery: status_of(d),
            failed: d.status == civitas_notify::Status::Failed,
            attempts: d.attempts,
            destination: d.destination.clone(),
            error: d.last_error.clone(),
            retry: (d.status == civitas_notify::Status::Failed)
                .then(|| format!("{here}/{}/retry", d.id)),
        })
        .collect();
    let view = DeliveryRecords {
        rows,
        next: page
            .next
            .map(|n| format!("{here}?after={}", civitas_web::layout::query_value(&n))),
        export: format!("{here}/export"),
        csrf: token.0.clone(),
        done: query.done.filter(|d| *d),
    };
    let frame = lang.frame(
        &here,
        Msg::DeliveryRecords.text(lang.lang).to_owned(),
        None,
        visitor(&who, &token, &here, None),
    );
    lang.answer(StatusCode::OK, delivery_records(&frame, &view))
}

/// `GET /workbench/t/{tenant}/deliveries/export`.
pub(super) async fn export_records(
    State(state): State<AppState>,
    method: axum::http::Method,
    lang: PageLang,
    who: PageVisitor,
    tenant: PortalTenant,
) -> Response {
    let here = records_href(&tenant.0);
    let caller = match staff(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    let exported = match crate::export::not_head(&method) {
        Ok(()) => {
            export_deliveries_in(&state, &caller, &tenant.0, DeliveriesQuery::default()).await
        }
        Err(e) => Err(e),
    };
    exported.unwrap_or_else(|e| lang.refused_read(&e, &here, None))
}

/// `POST /workbench/t/{tenant}/deliveries/{id}/retry`: a failed delivery
/// sent again, back to the records.
pub(super) async fn retry_record(
    State(state): State<AppState>,
    lang: PageLang,
    who: PageVisitor,
    token: FormToken,
    tenant: PortalTenant,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let here = records_href(&tenant.0);
    let caller = match staff(lang, &who, &here) {
        Ok(caller) => caller,
        Err(answer) => return *answer,
    };
    if !token.check(form_field(&form, "csrf")) {
        return Redirect::to(&here).into_response();
    }
    match retry_in(&state, &caller, &tenant.0.path, &id).await {
        Ok(_) => Redirect::to(&format!("{here}?done=true")).into_response(),
        Err(e) => lang.refused_read(&e, &here, None),
    }
}
