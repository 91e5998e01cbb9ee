//! Notices of case progress (消息中心) and their delivery records.
//!
//! ```text
//! GET  /api/v1/me/messages                                 the caller's message centre
//! POST /api/v1/me/messages/{id}/read                       mark one read
//! GET  /api/v1/me/messages/export                          the caller's messages as .xlsx
//! GET  /api/v1/me/notification-settings                    contact and channels
//! PUT  /api/v1/me/notification-settings                    change them
//! GET  /api/v1/tenants/{path}/notification-deliveries       delivery records of a subtree (staff)
//! GET  /api/v1/tenants/{path}/notification-deliveries/export  the same as .xlsx
//! POST /api/v1/tenants/{path}/notification-deliveries/{id}/retry  send a failed one again
//! ```
//!
//! A person's own messages are theirs by their session (no grant is
//! involved); delivery records are case data, read with `case.read` in the
//! line, as the case list is.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use civitas_notify::store::{
    self as notices, DeliveryFilter, DeliveryPage, MessageFilter, MessagePage,
};
use civitas_notify::{Channel, NotifyError, Status};
use civitas_tenancy::TenantPath;
use civitas_workflow::timers::NotificationCursor;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::accounts::present;
use super::cases::applicant_kind;
use super::tenants::TenantParam;
use crate::access::{Caller, Person};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::tenant::Tenant;
use crate::{AppState, paging};
use civitas_storage::TenantRecord;

impl From<NotifyError> for ApiError {
    fn from(error: NotifyError) -> ApiError {
        match error {
            NotifyError::Contact(e) => e.into(),
            NotifyError::Storage(e) => e.into(),
            other => {
                tracing::error!(error = %other, "notifications");
                ApiError::internal()
            }
        }
    }
}

/// Which of the caller's messages to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MessagesQuery {
    /// 只看未读 / Unread ones only.
    unread: Option<bool>,
    /// The previous page's `next`.
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A page of `claims`' messages, as the API and the portal read them.
pub(crate) async fn messages_in(
    state: &AppState,
    account_id: &str,
    unread: bool,
    after: Option<&str>,
    limit: Option<u32>,
) -> Result<MessagePage, ApiError> {
    let limit = paging::limit(limit)?;
    let after = paging::after(after, NotificationCursor::parse)?;
    Ok(notices::messages_of(
        state.db(),
        account_id,
        &MessageFilter {
            unread,
            after,
            limit,
        },
    )
    .await?)
}

/// The caller's message centre (站内消息): every notice about their cases,
/// newest first, each with how SMS and e-mail carried it (办理人, 办理时间,
/// 办理状态, 办理事项), and how many are unread.
#[utoipa::path(get, path = "/api/v1/me/messages", tag = "notifications",
    security(("bearer" = [])),
    params(MessagesQuery),
    responses(
        (status = 200, description = "消息 / The messages", body = MessagePage),
        (status = 400, description = "参数无效 / Invalid parameters", body = ErrorBody),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody)
    ))]
pub(crate) async fn my_messages(
    State(state): State<AppState>,
    Person(claims): Person,
    ApiQuery(query): ApiQuery<MessagesQuery>,
) -> Result<Json<MessagePage>, ApiError> {
    let page = messages_in(
        &state,
        &claims.sub,
        query.unread.unwrap_or(false),
        query.after.as_deref(),
        query.limit,
    )
    .await?;
    Ok(Json(page))
}

/// A message id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct MessageParam {
    /// The message's id.
    #[allow(dead_code)]
    id: String,
}

/// Marks one of the caller's messages read (the first reading's time is
/// kept).
#[utoipa::path(post, path = "/api/v1/me/messages/{id}/read", tag = "notifications",
    security(("bearer" = [])),
    params(MessageParam),
    responses(
        (status = 204, description = "已读 / Read"),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 404, description = "没有这条消息 / No such message of yours", body = ErrorBody)
    ))]
pub(crate) async fn read_message(
    State(state): State<AppState>,
    Person(claims): Person,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    mark_read_in(&state, &claims.sub, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Marks `id` read for `account_id`; 404 if it is not theirs.
pub(crate) async fn mark_read_in(
    state: &AppState,
    account_id: &str,
    id: &str,
) -> Result<(), ApiError> {
    if !notices::mark_read(state.db(), account_id, id, Utc::now().timestamp_micros()).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "message_not_found",
            "没有这条消息",
            "You have no such message",
        ));
    }
    Ok(())
}

const MESSAGES_EXPORT: crate::export::Kind = crate::export::Kind {
    action: "message.export",
    zh: "消息记录",
    en: "Messages",
};

const DELIVERIES_EXPORT: crate::export::Kind = crate::export::Kind {
    action: "notification.export",
    zh: "通知发送记录",
    en: "Notification deliveries",
};

fn delivery_columns() -> Vec<civitas_export::Column> {
    use civitas_export::Column;
    vec![
        Column::new("办理时间", "Time", 20.0),
        Column::new("办理事项", "Matter", 28.0),
        Column::new("案件编号", "Case", 38.0),
        Column::new("办理状态", "News", 14.0),
        Column::new("办理人", "Handler", 14.0),
        Column::new("渠道", "Channel", 10.0),
        Column::new("发送状态", "Delivery status", 10.0),
        Column::new("发送次数", "Attempts", 8.0),
        Column::new("发送目标（脱敏）", "Sent to (masked)", 20.0),
        Column::new("发送时间", "Sent at", 20.0),
        Column::new("已读时间", "Read at", 20.0),
        Column::new("最后错误", "Last error", 30.0),
        Column::new("通知内容", "Notice", 60.0),
    ]
}

fn delivery_row(d: &notices::Delivery) -> Vec<civitas_export::Cell> {
    use civitas_export::Cell;
    let time = |micros: Option<i64>| {
        micros
            .and_then(chrono::DateTime::from_timestamp_micros)
            .map_or(Cell::Empty, Cell::Time)
    };
    vec![
        time(Some(d.created_at)),
        Cell::Text(d.matter.clone()),
        Cell::Text(d.case_id.clone()),
        Cell::text(d.kind.label_zh()),
        Cell::Text(d.handler.clone()),
        Cell::text(d.channel.label_zh()),
        Cell::text(d.status.label_zh()),
        Cell::Integer(i64::from(d.attempts)),
        Cell::optional(d.destination.clone()),
        time(d.sent_at),
        time(d.read_at),
        Cell::optional(d.last_error.clone()),
        Cell::Text(d.message_zh.clone()),
    ]
}

/// The caller's messages, every page, as an `.xlsx` workbook: each notice
/// and each channel's delivery, a row each; audited `message.export` at the
/// caller's own tenant.
#[utoipa::path(get, path = "/api/v1/me/messages/export", tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "消息导出（xlsx，已审计）/ The messages as a workbook, audited", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers(
                ("x-export-rows" = u32, description = "行数 / Rows exported"),
                ("x-export-sm3" = String, description = "文件的 SM3（与审计记录一致）/ The file's SM3, as audited")
            )),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 405, description = "导出请使用 GET（HEAD 不导出）/ Exports are asked for with GET, not HEAD", body = ErrorBody),
        (status = 503, description = "其他导出正在生成，请稍后重试（export_busy）/ Other exports are being written; try again (export_busy)", body = ErrorBody)
    ))]
pub(crate) async fn export_my_messages(
    State(state): State<AppState>,
    method: axum::http::Method,
    caller: Caller,
    Person(claims): Person,
) -> Result<axum::response::Response, ApiError> {
    crate::export::not_head(&method)?;
    export_messages_in(&state, &caller, &claims.sub, &claims.ten).await
}

/// What `export_my_messages` answers (the API and the portal's link).
pub(crate) async fn export_messages_in(
    state: &AppState,
    caller: &Caller,
    account_id: &str,
    account_tenant: &str,
) -> Result<axum::response::Response, ApiError> {
    let _turn = crate::export::turn()?;
    let tenant = TenantPath::parse(account_tenant).map_err(|_| ApiError::internal())?;
    let mut sheet = crate::export::sheet(state, MESSAGES_EXPORT, delivery_columns())?;
    let mut after = None;
    loop {
        let page = notices::messages_of(
            state.db(),
            account_id,
            &MessageFilter {
                unread: false,
                after: after.take(),
                limit: notices::MAX_PAGE,
            },
        )
        .await?;
        for message in &page.messages {
            sheet
                .row(delivery_row(&message.delivery))
                .map_err(crate::export::export_error)?;
            for channel in &message.channels {
                sheet
                    .row(delivery_row(channel))
                    .map_err(crate::export::export_error)?;
            }
        }
        match page.next.as_deref().and_then(NotificationCursor::parse) {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    // A person's own records: the export is recorded in their tenant's
    // chain, as everything they do with their account is.
    crate::export::respond_own(state, caller, &tenant, MESSAGES_EXPORT, sheet).await
}

/// One channel as the person sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelSetting {
    /// `site`, `sms` or `email`.
    pub(crate) channel: Channel,
    /// 渠道名称.
    name_zh: &'static str,
    /// Its name.
    name_en: &'static str,
    /// Whether the platform sends on it.
    pub(crate) offered: bool,
    /// Whether the person wants it (the message centre always).
    pub(crate) enabled: bool,
    /// Where it goes, masked; none if the person gave no number or address.
    pub(crate) destination: Option<String>,
}

/// A person's contact data and channels.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotificationSettings {
    /// Every channel.
    channels: Vec<ChannelSetting>,
}

impl NotificationSettings {
    /// Every channel's setting.
    pub(crate) fn channels(&self) -> &[ChannelSetting] {
        &self.channels
    }
}

/// A change of contact data or channels: fields absent stay as they are;
/// `null` clears a phone number or address.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotificationSettingsChange {
    /// 手机号码，null 清除 / Phone number; null clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "13812345678")]
    phone: Option<Option<String>>,
    /// 电子邮箱，null 清除 / E-mail address; null clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "zhang.san@example.cn")]
    email: Option<Option<String>>,
    /// 接收短信通知 / Receive notices by SMS.
    sms_enabled: Option<bool>,
    /// 接收邮件通知 / Receive notices by e-mail.
    email_enabled: Option<bool>,
}

impl NotificationSettingsChange {
    /// A change from the portal's form: a number or address typed, the
    /// channels' boxes where they are offered.
    pub(crate) fn from_form(
        phone: Option<Option<String>>,
        email: Option<Option<String>>,
        sms_enabled: Option<bool>,
        email_enabled: Option<bool>,
    ) -> NotificationSettingsChange {
        NotificationSettingsChange {
            phone,
            email,
            sms_enabled,
            email_enabled,
        }
    }
}

/// The settings of `account_id`.
pub(crate) async fn settings_in(
    state: &AppState,
    account_id: &str,
) -> Result<NotificationSettings, ApiError> {
    let keyring = state.keyring()?;
    let contact = civitas_identity::contact_of(state.db(), keyring, account_id)
        .await?
        .unwrap_or_default();
    let choices = notices::preferences(state.db(), account_id).await?;
    let offered = state.notify().unwrap_or_default();
    let channels = Channel::ALL
        .into_iter()
        .map(|channel| ChannelSetting {
            channel,
            name_zh: channel.label_zh(),
            name_en: channel.label_en(),
            offered: offered.offers(channel),
            enabled: choices.get(&channel).copied().unwrap_or(true),
            destination: match channel {
                Channel::Site => None,
                Channel::Sms => contact.phone.as_deref().map(civitas_vault::mask::phone),
                Channel::Email => contact.email.as_deref().map(civitas_vault::mask::email),
            },
        })
        .collect();
    Ok(NotificationSettings { channels })
}

/// Applies `change` to the account of `claims` (contact data audited as a
/// profile change by the person themself).
pub(crate) async fn change_settings_in(
    state: &AppState,
    claims: &civitas_identity::Claims,
    change: NotificationSettingsChange,
) -> Result<NotificationSettings, ApiError> {
    if change.phone.is_some() || change.email.is_some() {
        let keyring = state.keyring()?;
        civitas_identity::update_own_contact(
            state.db(),
            keyring,
            &claims.sub,
            change.phone.map(|p| p.filter(|p| !p.trim().is_empty())),
            change.email.map(|m| m.filter(|m| !m.trim().is_empty())),
            Utc::now(),
        )
        .await?;
    }
    let now = Utc::now().timestamp_micros();
    for (channel, enabled) in [
        (Channel::Sms, change.sms_enabled),
        (Channel::Email, change.email_enabled),
    ] {
        if let Some(enabled) = enabled {
            notices::set_preference(state.db(), &claims.sub, channel, enabled, now).await?;
        }
    }
    settings_in(state, &claims.sub).await
}

/// The caller's contact data (masked) and which channels they receive
/// notices on; the message centre is always on.
#[utoipa::path(get, path = "/api/v1/me/notification-settings", tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "通知设置 / The settings", body = NotificationSettings),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 503, description = "未配置主密钥 / No master key", body = ErrorBody)
    ))]
pub(crate) async fn my_notification_settings(
    State(state): State<AppState>,
    Person(claims): Person,
) -> Result<Json<NotificationSettings>, ApiError> {
    Ok(Json(settings_in(&state, &claims.sub).await?))
}

/// Changes the caller's phone number or e-mail address (sealed at rest,
/// audited as a profile change) and which channels they receive notices on.
#[utoipa::path(put, path = "/api/v1/me/notification-settings", tag = "notifications",
    security(("bearer" = [])),
    request_body = NotificationSettingsChange,
    responses(
        (status = 200, description = "已保存 / Saved", body = NotificationSettings),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 422, description = "号码或地址格式不正确 / Not a phone number or e-mail address", body = ErrorBody),
        (status = 503, description = "未配置主密钥 / No master key", body = ErrorBody)
    ))]
pub(crate) async fn change_my_notification_settings(
    State(state): State<AppState>,
    Person(claims): Person,
    ApiJson(change): ApiJson<NotificationSettingsChange>,
) -> Result<Json<NotificationSettings>, ApiError> {
    Ok(Json(change_settings_in(&state, &claims, change).await?))
}

/// Which delivery records to list.
#[derive(Debug, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveriesQuery {
    /// The line (default: the caller's own).
    #[param(example = "civil-affairs")]
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<String>,
    /// 只看此案件 / One case's only.
    #[serde(skip_serializing_if = "Option::is_none")]
    case: Option<String>,
    /// 只看此渠道 / One channel's only.
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<ChannelName>,
    /// 只看此状态 / In this status only.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusName>,
    /// The previous page's `next`.
    #[serde(skip_serializing)]
    after: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    #[serde(skip_serializing)]
    limit: Option<u32>,
}

/// A channel's name in a query.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ChannelName {
    /// 站内消息.
    Site,
    /// 短信.
    Sms,
    /// 电子邮件.
    Email,
}

/// A delivery status in a query.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StatusName {
    /// 待发送.
    Pending,
    /// 发送中.
    Sending,
    /// 已发送.
    Sent,
    /// 发送失败.
    Failed,
}

impl DeliveriesQuery {
    fn filter(&self) -> (Option<Channel>, Option<Status>) {
        (
            self.channel.map(|c| match c {
                ChannelName::Site => Channel::Site,
                ChannelName::Sms => Channel::Sms,
                ChannelName::Email => Channel::Email,
            }),
            self.status.map(|s| match s {
                StatusName::Pending => Status::Pending,
                StatusName::Sending => Status::Sending,
                StatusName::Sent => Status::Sent,
                StatusName::Failed => Status::Failed,
            }),
        )
    }
}

fn staff_only(caller: &Caller) -> Result<(), ApiError> {
    if applicant_kind(caller).is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "申请人请在消息中心查看自己的消息",
            "Applicants read their own notices in the message centre (/api/v1/me/messages)",
        ));
    }
    Ok(())
}

/// A page of delivery records at `tenant` for `caller` (`case.read` in the
/// line, or every line for staff of none), as the API and the workbench
/// read them.
pub(crate) async fn deliveries_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    query: &DeliveriesQuery,
    after: Option<NotificationCursor>,
    limit: u32,
) -> Result<DeliveryPage, ApiError> {
    staff_only(caller)?;
    let line = caller.line_for(query.line.as_deref()).to_owned();
    let scope = caller.authorize(state, tenant, &line, "case.read")?;
    let every_line = crate::access::every_line(&line);
    let (channel, status) = query.filter();
    let mut tx = state.db().begin_read(&scope).await?;
    let page = notices::deliveries(
        &mut tx,
        &DeliveryFilter {
            lines: (!every_line).then(|| vec![line]),
            case_id: query.case.clone(),
            channel,
            status,
            after,
            limit,
        },
    )
    .await?;
    tx.rollback().await?;
    Ok(page)
}

/// The delivery records of notices about cases in a subtree: every
/// message and channel with 办理人, 办理时间, 办理状态, 办理事项, status,
/// attempts, the masked destination and the last error (`case.read`; staff
/// only).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/notification-deliveries", tag = "notifications",
    security(("bearer" = [])),
    params(TenantParam, DeliveriesQuery),
    responses(
        (status = 200, description = "发送记录 / The delivery records", body = DeliveryPage),
        (status = 400, description = "参数无效 / Invalid parameters", body = ErrorBody),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let limit = paging::limit(query.limit)?;
    let after = paging::after(query.after.as_deref(), NotificationCursor::parse)?;
    let page = deliveries_in(&state, &caller, &tenant.path, &query, after, limit).await?;
    Ok(Json(page))
}

/// The delivery records of the list with the same filters, every page, as
/// an `.xlsx` workbook (`case.read`, as the list; destinations masked;
/// audited `notification.export`).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/notification-deliveries/export", tag = "notifications",
    security(("bearer" = [])),
    params(TenantParam, DeliveriesQuery),
    responses(
        (status = 200, description = "发送记录导出（xlsx，已审计）/ The records as a workbook, audited", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers(
                ("x-export-rows" = u32, description = "行数 / Rows exported"),
                ("x-export-sm3" = String, description = "文件的 SM3（与审计记录一致）/ The file's SM3, as audited")
            )),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 405, description = "导出请使用 GET（HEAD 不导出）/ Exports are asked for with GET, not HEAD", body = ErrorBody),
        (status = 422, description = "超过一个工作表的行数上限 / More rows than a worksheet holds", body = ErrorBody),
        (status = 503, description = "其他导出正在生成，请稍后重试（export_busy）/ Other exports are being written; try again (export_busy)", body = ErrorBody)
    ))]
pub(crate) async fn export_deliveries(
    State(state): State<AppState>,
    method: axum::http::Method,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<axum::response::Response, ApiError> {
    crate::export::not_head(&method)?;
    export_deliveries_in(&state, &caller, &tenant, query).await
}

/// What `export_deliveries` answers (the API and the workbench's link).
pub(crate) async fn export_deliveries_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    query: DeliveriesQuery,
) -> Result<axum::response::Response, ApiError> {
    staff_only(caller)?;
    let _turn = crate::export::turn()?;
    let line = caller.line_for(query.line.as_deref()).to_owned();
    let scope = caller.authorize(state, &tenant.path, &line, "case.read")?;
    let mut sheet = crate::export::sheet(state, DELIVERIES_EXPORT, delivery_columns())?;
    let mut after = None;
    loop {
        let page = deliveries_in(
            state,
            caller,
            &tenant.path,
            &query,
            after.take(),
            notices::MAX_PAGE,
        )
        .await?;
        for delivery in &page.deliveries {
            sheet
                .row(delivery_row(delivery))
                .map_err(crate::export::export_error)?;
        }
        match page.next.as_deref().and_then(NotificationCursor::parse) {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let filter = serde_json::to_value(&query).unwrap_or_default();
    crate::export::respond(
        state,
        caller,
        &scope,
        &tenant.path,
        DELIVERIES_EXPORT,
        filter,
        sheet,
    )
    .await
}

/// A delivery id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct DeliveryParam {
    /// The tenant.
    #[allow(dead_code)]
    path: String,
    /// The delivery's id.
    #[allow(dead_code)]
    id: String,
}

/// Sends `id` again for `caller` at `tenant` (`case.act` in its line): the
/// API's route and the workbench's button.
pub(crate) async fn retry_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    id: &str,
) -> Result<civitas_notify::store::Delivery, ApiError> {
    staff_only(caller)?;
    let line = caller.line_for(None).to_owned();
    let scope = caller.authorize(state, tenant, &line, "case.act")?;
    let lines = (!crate::access::every_line(&line)).then(|| vec![line]);
    let mut tx = state.db().begin(&scope).await?;
    let retried = notices::retry_failed(
        &mut tx,
        id,
        lines.as_deref(),
        caller.username(),
        Utc::now().timestamp_micros(),
    )
    .await?;
    match retried {
        notices::Retried::Queued(delivery) => {
            tx.commit().await?;
            Ok(*delivery)
        }
        notices::Retried::NotFailed(status) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "delivery_not_failed",
            format!(
                "该条通知当前为“{}”，只有发送失败的通知可以重新发送",
                status.label_zh()
            ),
            format!(
                "The delivery is {}: only a failed one is sent again",
                status.as_str()
            ),
        )),
        notices::Retried::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "delivery_not_found",
            "本辖区没有这条通知发送记录",
            "No such delivery record in this subtree and line",
        )),
    }
}

/// Sends a delivery that was given up (`failed`) again: queued at once for
/// one more attempt (its attempts keep counting), audited `notification.retry` (`case.act` in
/// the line; staff only) — after a gateway outage, or a number corrected.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/notification-deliveries/{id}/retry", tag = "notifications",
    security(("bearer" = [])),
    params(DeliveryParam),
    responses(
        (status = 200, description = "已重新排队发送 / Queued again", body = civitas_notify::store::Delivery),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "没有这条记录 / No such delivery here", body = ErrorBody),
        (status = 409, description = "并非发送失败的通知（delivery_not_failed）/ Not a failed delivery", body = ErrorBody)
    ))]
pub(crate) async fn retry_delivery(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<civitas_notify::store::Delivery>, ApiError> {
    Ok(Json(retry_in(&state, &caller, &tenant.path, &id).await?))
}
