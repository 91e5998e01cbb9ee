//! The tenant tree: public metadata, readable without signing in.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use civitas_storage::TenantRecord;
use civitas_tenancy::Level;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::tenant::Tenant;

/// The most references one resolve request may carry.
const MAX_REFERENCES: usize = 100;

/// One node of the tree, without its children.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TenantSummary {
    /// The node's division code.
    #[schema(example = "310115005")]
    code: String,
    /// Codes from the root down.
    #[schema(example = "310000/310115/310115005")]
    path: String,
    /// Slugs from the root down.
    #[schema(example = "shanghai/pudong/lujiazui")]
    slug_path: String,
    /// The level.
    level: Level,
    /// The Chinese name.
    #[schema(example = "陆家嘴街道")]
    name: String,
    /// The English name.
    #[schema(example = "Lujiazui Subdistrict")]
    name_en: String,
    /// Lines of business present at the node.
    #[schema(example = json!(["civil-affairs", "hr-social-security"]))]
    lines: Vec<String>,
    /// The parent's path; absent for a root.
    #[schema(example = "310000/310115")]
    parent: Option<String>,
}

/// A node with its whole subtree.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TenantNode {
    #[serde(flatten)]
    tenant: TenantSummary,
    /// The children, ordered by code, each with its own subtree.
    #[schema(no_recursion)]
    children: Vec<TenantNode>,
}

/// The whole tree.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantTreeBody {
    /// The roots (Shanghai, Sichuan…), each with its subtree.
    tenants: Vec<TenantNode>,
}

/// One node, where it sits, and what lies below it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantDetail {
    /// The node.
    tenant: TenantSummary,
    /// Its ancestors from the root down (a breadcrumb).
    ancestors: Vec<TenantSummary>,
    /// Its children, each with its subtree.
    children: Vec<TenantNode>,
}

/// Tenant references to resolve.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolveRequest {
    /// Paths of codes or slug paths, at most 100.
    #[schema(example = json!(["shanghai/pudong", "310000/310101", "shanghai/nowhere"]))]
    references: Vec<String>,
}

/// What each reference names, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ResolveResponse {
    /// One entry per reference.
    results: Vec<Resolution>,
}

/// One reference and the node it names, if any.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Resolution {
    /// The reference as sent.
    reference: String,
    /// The node, or `null` when the reference names no active tenant.
    tenant: Option<TenantSummary>,
}

impl From<&TenantRecord> for TenantSummary {
    fn from(record: &TenantRecord) -> TenantSummary {
        TenantSummary {
            code: record.code.clone(),
            path: record.path.to_string(),
            slug_path: record.slug_path.clone(),
            level: record.level.clone(),
            name: record.name.clone(),
            name_en: record.name_en.clone(),
            lines: record.lines.clone(),
            parent: record.parent.as_ref().map(ToString::to_string),
        }
    }
}

/// Nests records (parents before children, as storage returns them) under
/// the node at `root`, or under no node for the whole forest.
fn nest(records: &[TenantRecord], root: Option<&civitas_storage::TenantPath>) -> Vec<TenantNode> {
    records
        .iter()
        .filter(|r| r.parent.as_ref() == root)
        .map(|r| TenantNode {
            tenant: TenantSummary::from(r),
            children: nest(records, Some(&r.path)),
        })
        .collect()
}

/// The whole administrative tree.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants",
    responses((status = 200, description = "租户树 / The tenant tree", body = TenantTreeBody)))]
pub(crate) async fn list_tenants(
    State(state): State<AppState>,
) -> Result<Json<TenantTreeBody>, ApiError> {
    let records: Vec<TenantRecord> = state
        .tenants()
        .records()
        .iter()
        .map(|r| r.as_ref().clone())
        .collect();
    Ok(Json(TenantTreeBody {
        tenants: nest(&records, None),
    }))
}

/// The tenant a route acts on, as its OpenAPI path parameter.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct TenantParam {
    /// 代码路径或别名路径；斜杠可直接书写，也可编码为 %2F / A path of
    /// division codes or a slug path; slashes may be written as they are
    /// or encoded as %2F.
    #[param(example = "shanghai/pudong")]
    #[allow(dead_code)] // read by the tenant layer, documented here
    path: String,
}

/// One tenant, by path of codes (`310000/310115`) or slug path
/// (`shanghai/pudong`), with its ancestors and subtree.
#[utoipa::path(get, path = "/api/v1/tenants/{path}", tag = "tenants",
    params(TenantParam),
    responses(
        (status = 200, description = "租户 / The tenant", body = TenantDetail),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn get_tenant(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<TenantDetail>, ApiError> {
    let directory = state.tenants();
    let lineage = tenant.path.lineage();
    let ancestors = directory
        .records()
        .iter()
        .filter(|r| r.path != tenant.path && lineage.contains(&r.path))
        .map(|r| TenantSummary::from(r.as_ref()))
        .collect();
    let subtree: Vec<TenantRecord> = directory
        .records()
        .iter()
        .filter(|r| r.path.is_within(&tenant.path))
        .map(|r| r.as_ref().clone())
        .collect();
    Ok(Json(TenantDetail {
        tenant: TenantSummary::from(&*tenant),
        ancestors,
        children: nest(&subtree, Some(&tenant.path)),
    }))
}

/// Resolves up to 100 tenant references at once (paths or slug paths),
/// for clients that hold references from elsewhere.
#[utoipa::path(post, path = "/api/v1/tenants/resolve", tag = "tenants",
    request_body = ResolveRequest,
    responses(
        (status = 200, description = "逐条解析结果 / One result per reference", body = ResolveResponse),
        (status = 422, description = "字段不符或引用过多 / Unknown or missing fields, or too many references", body = ErrorBody)
    ))]
pub(crate) async fn resolve_tenants(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ResolveRequest>,
) -> Result<Json<ResolveResponse>, ApiError> {
    let count = request.references.len();
    if count > MAX_REFERENCES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_references",
            format!("一次最多解析 {MAX_REFERENCES} 个租户引用，本次 {count} 个"),
            format!("At most {MAX_REFERENCES} references per request; got {count}"),
        ));
    }
    let mut results = Vec::with_capacity(count);
    let directory = state.tenants();
    for reference in request.references {
        results.push(Resolution {
            tenant: directory
                .get(&reference)
                .map(|r| TenantSummary::from(r.as_ref())),
            reference,
        });
    }
    Ok(Json(ResolveResponse { results }))
}

/// Whose staff to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StaffQuery {
    /// The line whose staff to list; defaults to the caller's own. Without
    /// either, every line (which needs `staff.read` on every line).
    #[param(example = "civil-affairs")]
    line: Option<String>,
}

/// A staff member.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StaffMember {
    /// The account id.
    account_id: String,
    /// The username.
    #[schema(example = "lujiazui-officer")]
    username: String,
    /// The name shown.
    #[schema(example = "陆家嘴街道民政专员")]
    display_name: String,
    /// The tenant the member belongs to.
    #[schema(example = "310000/310115/310115005")]
    tenant: String,
    /// The line.
    #[schema(example = "civil-affairs")]
    line: Option<String>,
}

/// The staff of a subtree.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StaffList {
    /// By tenant and username.
    staff: Vec<StaffMember>,
}

/// The staff of a tenant's subtree, in one line or all (`staff.read`:
/// reviewers in their line, the security administrator in every line).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/staff", tag = "tenants",
    security(("bearer" = [])),
    params(TenantParam, StaffQuery),
    responses(
        (status = 200, description = "工作人员 / The staff", body = StaffList),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn list_staff(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<StaffQuery>,
) -> Result<Json<StaffList>, ApiError> {
    let line = caller.line_for(query.line.as_deref()).to_owned();
    let scope = caller.authorize(&state, &tenant.path, &line, "staff.read")?;
    let mut tx = state.db().begin_read(&scope).await?;
    let staff = civitas_identity::staff_of(&mut tx).await?;
    tx.rollback().await?;
    let every_line = line == civitas_authz::NO_LINE;
    Ok(Json(StaffList {
        staff: staff
            .into_iter()
            .filter(|a| every_line || a.line.as_deref() == Some(line.as_str()))
            .map(|a| StaffMember {
                account_id: a.id,
                username: a.username,
                display_name: a.display_name,
                tenant: a.tenant_path,
                line: a.line,
            })
            .collect(),
    }))
}
