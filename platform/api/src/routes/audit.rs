//! The audit trail, for the audit administrator (`audit.read`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use civitas_authz::NO_LINE;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{self, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;

/// Which records to read.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// The subtree: a path of codes or a slug path.
    #[param(example = "shanghai/pudong")]
    tenant: String,
    /// Only this actor (a username, `anonymous`, `system:…`).
    actor: Option<String>,
    /// Only this action, or every action starting so with a trailing `*`.
    #[param(example = "grant.*")]
    action: Option<String>,
    /// Recorded at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Recorded before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Only records older than this id: `next_before` of the previous page.
    before: Option<i64>,
    /// At most this many (1–500, default 100).
    limit: Option<usize>,
}

/// One audit record.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditRecord {
    /// The record id.
    id: i64,
    /// The chain (tenant) it belongs to.
    tenant: String,
    /// Its place in the chain.
    seq: i64,
    /// When (RFC 3339).
    occurred_at: String,
    /// Who.
    actor: String,
    /// What.
    #[schema(example = "personal_data.reveal")]
    action: String,
    /// On what.
    target: String,
    /// Details.
    detail: serde_json::Value,
    /// The SM3 chain hash.
    hash: String,
}

/// A page of records, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPage {
    /// The records.
    records: Vec<AuditRecord>,
    /// Pass as `before` for the next page; absent on the last.
    next_before: Option<i64>,
}

/// Reads the audit trail of a tenant subtree, newest first, filtered by
/// actor, action and time (`audit.read`: the audit administrator). The
/// reader changes nothing, and the read itself is not an event.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "审计记录 / Audit records", body = AuditPage),
        (status = 400, description = "参数无效 / Invalid parameters", body = ErrorBody),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn read_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let tenant = access::tenant(&state, &query.tenant).await?;
    let scope = caller.authorize(&state, &tenant.path, NO_LINE, "audit.read")?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=civitas_audit::MAX_PAGE).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit 须在 1 到 {} 之间", civitas_audit::MAX_PAGE),
            format!("limit must be from 1 to {}", civitas_audit::MAX_PAGE),
        ));
    }
    let mut tx = state.db().begin_read(&scope).await?;
    let events = civitas_audit::search(
        &mut tx,
        &civitas_audit::Query {
            actor: query.actor,
            action: query.action,
            from: query.from,
            to: query.to,
            before_id: query.before,
            limit,
        },
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "audit search failed");
        ApiError::internal()
    })?;
    tx.rollback().await?;
    let next_before = (events.len() == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
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
        next_before,
    }))
}
