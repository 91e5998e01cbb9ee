//! The audit trail, for the audit administrator (`audit.read`):
//! `GET /api/v1/tenants/{path}/audit`, the records of the tenant's subtree,
//! newest first, filtered and paged.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use civitas_authz::NO_LINE;
use civitas_storage::TenantRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::tenants::TenantParam;
use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::paging;
use crate::tenant::Tenant;

/// Which records to read.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// 仅此操作者（用户名、`anonymous`、`system:…`）/ Only this actor (a username, `anonymous`, `system:…`).
    actor: Option<String>,
    /// 仅此操作；以 `*` 结尾则匹配前缀 / Only this action, or every action starting so with a trailing `*`.
    #[param(example = "grant.*")]
    action: Option<String>,
    /// 记录时间不早于（RFC 3339）/ Recorded at or after (RFC 3339).
    #[param(example = "2026-11-01T00:00:00Z")]
    from: Option<DateTime<Utc>>,
    /// 记录时间早于（RFC 3339）/ Recorded before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// 上一页的 next / The previous page's `next`.
    after: Option<String>,
    /// 每页条数 1–200（默认 50）/ Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// One audit record.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditRecord {
    /// 记录编号 / The record id.
    id: i64,
    /// 所属链（租户）/ The chain (tenant) it belongs to.
    #[schema(example = "310000/310115")]
    tenant: String,
    /// 链内序号 / Its place in the chain.
    seq: i64,
    /// 记录时间（RFC 3339）/ When (RFC 3339).
    #[schema(example = "2026-11-23T09:30:00.123456+00:00")]
    occurred_at: String,
    /// 操作者 / Who.
    actor: String,
    /// 操作 / What.
    #[schema(example = "personal_data.reveal")]
    action: String,
    /// 对象 / On what.
    target: String,
    /// 详情 / Details.
    detail: serde_json::Value,
    /// SM3 链式哈希 / The SM3 chain hash.
    hash: String,
}

/// A page of records, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPage {
    /// 审计记录（最新在前）/ The records, newest first.
    records: Vec<AuditRecord>,
    /// 下一页游标，末页无此字段 / Pass as `after` for the next page; absent on the last page.
    next: Option<String>,
}

/// The audit records of `tenant`'s subtree that `query` asks for, newest
/// first, for `caller` (`audit.read`), as the API and the console read
/// them. Reading is not an event.
pub(crate) async fn audit_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    query: &civitas_audit::Query,
) -> Result<Vec<civitas_audit::Event>, ApiError> {
    let scope = caller.authorize(state, &tenant.path, NO_LINE, "audit.read")?;
    let mut tx = state.db().begin_read(&scope).await?;
    let events = civitas_audit::search(&mut tx, query).await.map_err(|e| {
        tracing::error!(error = %e, "audit search failed");
        ApiError::internal()
    })?;
    tx.rollback().await?;
    Ok(events)
}

/// Recomputes every chain of `tenant`'s subtree and checks its signed
/// anchors against the platform's key, for `caller` (`audit.read`). Reads
/// every record of the subtree: the console runs it when asked, not on
/// every page.
pub(crate) async fn verify_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
) -> Result<civitas_audit::VerifyReport, ApiError> {
    caller.authorize(state, &tenant.path, NO_LINE, "audit.read")?;
    let trusted = state.auth().map(|auth| auth.platform_key.public_key());
    civitas_audit::verify(state.db(), Some(&tenant.path), trusted.as_ref(), |_| {})
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "audit verification failed to run");
            ApiError::internal()
        })
}

/// Reads the audit trail of the tenant's subtree, newest first, filtered by
/// actor, action and time, a page at a time (`audit.read`: the audit
/// administrator). The reader changes nothing, and the read itself is not
/// an event.
#[utoipa::path(get, path = "/api/v1/tenants/{path}/audit", tag = "audit",
    security(("bearer" = [])),
    params(TenantParam, AuditQuery),
    responses(
        (status = 200, description = "审计记录 / A page of audit records", body = AuditPage),
        (status = 400, description = "查询参数、limit 或 after 无效 / Invalid query, limit or cursor", body = ErrorBody),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn read_audit(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = paging::limit(query.limit)?;
    let before_id = match &query.after {
        None => None,
        Some(cursor) => {
            let [id] = paging::cursor_fields(cursor)?;
            Some(id.parse::<i64>().map_err(|_| paging::invalid_cursor())?)
        }
    };
    let events = audit_in(
        &state,
        &caller,
        &tenant,
        &civitas_audit::Query {
            actor: query.actor,
            action: query.action,
            target: None,
            from: query.from,
            to: query.to,
            before_id,
            limit: limit as usize + 1,
        },
    )
    .await?;
    let (events, next) = paging::page(events, limit, |e| paging::cursor(&[e.id.to_string()]));
    Ok(Json(AuditPage {
        records: events
            .into_iter()
            .map(|e| AuditRecord {
                id: e.id,
                tenant: e.tenant_path,
                seq: e.seq,
                occurred_at: e.occurred_at.to_rfc3339(),
                actor: e.actor,
                action: e.action,
                target: e.target,
                detail: e.detail,
                hash: e.hash,
            })
            .collect(),
        next,
    }))
}

/// Which records to export: the read's filters, without paging.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditExportQuery {
    /// 仅此操作者 / Only this actor.
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<String>,
    /// 仅此操作；以 `*` 结尾则匹配前缀 / Only this action, or every action starting so with a trailing `*`.
    #[param(example = "grant.*")]
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<String>,
    /// 记录时间不早于（RFC 3339）/ Recorded at or after (RFC 3339).
    #[param(example = "2026-11-01T00:00:00Z")]
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<DateTime<Utc>>,
    /// 记录时间早于（RFC 3339）/ Recorded before (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<DateTime<Utc>>,
}

/// The audit records of the read with the same filters, newest first, as an
/// `.xlsx` workbook with each record's hash (`audit.read`: the audit
/// administrator). Unlike reading, exporting is an event: audited
/// `audit.export` with the filter, the rows and the file's SM3.
#[utoipa::path(get, path = "/api/v1/tenants/{path}/audit/export", tag = "audit",
    security(("bearer" = [])),
    params(TenantParam, AuditExportQuery),
    responses(
        (status = 200, description = "审计记录导出（xlsx，已审计）/ The audit records as a workbook, audited", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers(
                ("x-export-rows" = u32, description = "行数 / Rows exported"),
                ("x-export-sm3" = String, description = "文件的 SM3（与审计记录一致）/ The file's SM3, as audited")
            )),
        (status = 400, description = "查询参数无效 / Invalid query", body = ErrorBody),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 422, description = "超过一个工作表的行数上限 / More rows than a worksheet holds", body = ErrorBody),
        (status = 405, description = "导出请使用 GET（HEAD 不导出）/ Exports are asked for with GET, not HEAD", body = ErrorBody),
        (status = 503, description = "其他导出正在生成，请稍后重试（export_busy）/ Other exports are being written; try again (export_busy)", body = ErrorBody)
    ))]
pub(crate) async fn export_audit(
    State(state): State<AppState>,
    method: axum::http::Method,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<AuditExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    crate::export::not_head(&method)?;
    export_audit_in(&state, &caller, &tenant, query).await
}

/// What `export_audit` answers, for `caller` at `tenant`: the API's route and the
/// faces' download link come here.
pub(crate) async fn export_audit_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    query: AuditExportQuery,
) -> Result<axum::response::Response, ApiError> {
    use civitas_export::{Cell, Column};
    let _turn = crate::export::turn()?;
    let scope = caller.authorize(state, &tenant.path, NO_LINE, "audit.read")?;
    let mut sheet = crate::export::sheet(
        state,
        AUDIT_EXPORT,
        vec![
            Column::new("记录编号", "Record id", 10.0),
            Column::new("所属链（租户）", "Chain (tenant)", 24.0),
            Column::new("链内序号", "Sequence", 10.0),
            Column::new("记录时间", "Recorded at", 20.0),
            Column::new("操作者", "Actor", 20.0),
            Column::new("操作", "Action", 20.0),
            Column::new("对象", "Target", 30.0),
            Column::new("详情", "Detail (JSON)", 50.0),
            Column::new("记录哈希（SM3）", "Record hash (SM3)", 66.0),
        ],
    )?;
    let mut before_id = None;
    loop {
        let events = audit_in(
            state,
            caller,
            tenant,
            &civitas_audit::Query {
                actor: query.actor.clone(),
                action: query.action.clone(),
                target: None,
                from: query.from,
                to: query.to,
                before_id,
                limit: crate::export::PAGE as usize,
            },
        )
        .await?;
        let full = events.len() == crate::export::PAGE as usize;
        before_id = events.last().map(|e| e.id);
        for event in events {
            sheet
                .row(vec![
                    Cell::Integer(event.id),
                    Cell::Text(event.tenant_path),
                    Cell::Integer(event.seq),
                    Cell::Time(event.occurred_at),
                    Cell::Text(event.actor),
                    Cell::Text(event.action),
                    Cell::Text(event.target),
                    Cell::Text(event.detail.to_string()),
                    Cell::Text(event.hash),
                ])
                .map_err(crate::export::export_error)?;
        }
        if !full {
            break;
        }
    }
    let filter = serde_json::to_value(&query).unwrap_or(serde_json::Value::Null);
    crate::export::respond(
        state,
        caller,
        &scope,
        &tenant.path,
        AUDIT_EXPORT,
        filter,
        sheet,
    )
    .await
}

/// An audit export.
const AUDIT_EXPORT: crate::export::Kind = crate::export::Kind {
    action: "audit.export",
    zh: "审计记录",
    en: "Audit records",
};
