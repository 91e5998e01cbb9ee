//! Search: one query over cases, accounts, residents and services, filtered
//! inside the engine by what the caller may read (civitas-search-indexer's
//! reach, from the grants index that decides requests); and the public
//! search of a tenant's services for its portal.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{NaiveDate, TimeZone};
use civitas_identity::AccountKind;
use civitas_search::{Kind, Query, Reach, Results, SearchError};
use civitas_search_indexer::Role;
use civitas_tenancy::TenantPath;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::tenants::TenantParam;
use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::paging;
use crate::tenant::Tenant;

/// The page size when none is asked for.
const DEFAULT_LIMIT: u32 = 20;
/// The largest page.
const MAX_LIMIT: u32 = 100;

/// What to search for.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchParams {
    /// 检索词：词语均须出现，按相关度排序；引号内为短语，须原样出现；
    /// 只有短语（或没有检索词）时最新在前；可用拼音或首字母查找事项 /
    /// Words (all must match, best match first) and "quoted phrases"
    /// (matched exactly); with phrases only, or no words, newest first.
    /// Services also by pinyin or initials.
    #[param(example = "助餐补贴")]
    pub(crate) q: Option<String>,
    /// 类型，逗号分隔：case, account, resident, service / Kinds, comma
    /// separated.
    pub(crate) kind: Option<String>,
    /// 只查该租户及其下级（代码路径或别名路径）/ Only this tenant's subtree.
    pub(crate) tenant: Option<String>,
    /// 只查该条线 / Only this line.
    pub(crate) line: Option<String>,
    /// 只查该状态 / Only this status.
    pub(crate) status: Option<String>,
    /// 起始日期（含，YYYY-MM-DD，北京时间）/ From this date (inclusive).
    pub(crate) from: Option<String>,
    /// 截止日期（含，YYYY-MM-DD，北京时间）/ To this date (inclusive).
    pub(crate) to: Option<String>,
    /// 上一页返回的 next / The previous page's `next`.
    pub(crate) after: Option<String>,
    /// 每页条数 1–100，默认 20 / Page size, 1–100 (default 20).
    pub(crate) limit: Option<u32>,
    /// 是否统计全部匹配（total 与 facets），默认 true；false 时只取本页，
    /// 更快，仍有 next / Count every match (`total`, `facets`; default
    /// true). `false` finds the page only, sooner, and still gives `next`.
    pub(crate) count: Option<bool>,
}

/// What the public searches on a portal.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ServiceSearchParams {
    /// 检索词（中文、拼音或首字母）/ Words, pinyin or initials.
    #[param(example = "zcbt")]
    q: Option<String>,
    /// 上一页返回的 next / The previous page's `next`.
    after: Option<String>,
    /// 每页条数 1–100，默认 20 / Page size, 1–100 (default 20).
    limit: Option<u32>,
}

/// A matched fragment.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchHighlight {
    /// `title` or `body`.
    field: String,
    /// The fragment, plain text.
    text: String,
    /// Matched character ranges `[start, end)` in `text`.
    ranges: Vec<[usize; 2]>,
}

/// One hit.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchHit {
    /// `case:…`, `account:…`, `resident:…` or `service:…`.
    pub(crate) id: String,
    /// case, account, resident or service.
    pub(crate) kind: String,
    /// The owning tenant's path.
    pub(crate) tenant: String,
    /// The line (`-` for none).
    pub(crate) line: String,
    /// A case's title, an account's name, a resident's name (masked), a
    /// service's name.
    pub(crate) title: String,
    /// A case's state, an account's state (active/disabled).
    pub(crate) status: Option<String>,
    /// A case's or service's service id.
    pub(crate) service: Option<String>,
    /// When it was made (RFC 3339); none for a service.
    pub(crate) created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Where the query matched (none for residents: their names stay masked).
    pub(crate) highlights: Vec<SearchHighlight>,
}

/// Counts over every match.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchFacets {
    /// By status.
    status: BTreeMap<String, u64>,
    /// By tenant one level below the `tenant` asked for (or below the
    /// caller's one root).
    places: BTreeMap<String, u64>,
}

/// A page of hits.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchPage {
    /// How many documents match; absent when `count=false` asked not to
    /// count them.
    pub(crate) total: Option<u64>,
    /// The hits, best first (newest first when the query has no words
    /// outside quotes).
    pub(crate) hits: Vec<SearchHit>,
    /// Counts by status and place; absent when `count=false`.
    pub(crate) facets: Option<SearchFacets>,
    /// The cursor of the next page; absent on the last.
    pub(crate) next: Option<String>,
}

/// A token for searching a tenant's services from the browser, straight
/// against the Meilisearch server.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServiceSearchToken {
    /// The server (`POST {url}/indexes/{index}/search`, header
    /// `Authorization: Bearer {token}`).
    url: String,
    /// The index uid.
    index: String,
    /// A Meilisearch tenant token: its search rules limit every query to
    /// this tenant's public services.
    token: String,
    /// When it stops working (RFC 3339).
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// How long a portal's search token lasts.
const TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "search_unavailable",
        "检索服务未启用或暂不可用",
        "Search is not configured or not available",
    )
}

/// This node's index, when it is kept up to date: an embedded index
/// standing by for another node's, or rebuilding itself to take over,
/// would answer from stale documents.
pub(crate) fn current_index(
    state: &AppState,
) -> Result<&civitas_search_indexer::Indexer, ApiError> {
    let indexer = state.search().ok_or_else(unavailable)?;
    match indexer.role() {
        Role::Applying => Ok(indexer),
        Role::StandingBy { .. } | Role::Waiting => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "search_standby",
            "本节点的内置检索索引处于待命状态（另一节点的内置索引接收变更）；多个节点请共用 Meilisearch",
            "This node's embedded search index stands by (another node's embedded index applies the changes); several nodes should share a Meilisearch server",
        )),
        Role::Rebuilding { .. } => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "search_rebuilding",
            "检索索引正在从数据库重建，请稍后再试",
            "The search index is being rebuilt from the database; try again shortly",
        )),
    }
}

fn invalid(code: &'static str, zh: String, en: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, zh, en)
}

fn search_failed(e: SearchError) -> ApiError {
    match e {
        SearchError::Query(why) => invalid(
            "invalid_search",
            "检索条件无效".to_owned(),
            format!("Invalid search: {why}"),
        ),
        other => {
            tracing::warn!(error = %other, "search failed");
            unavailable()
        }
    }
}

fn limit(asked: Option<u32>) -> Result<usize, ApiError> {
    Ok(paging::limit_within(asked, DEFAULT_LIMIT, MAX_LIMIT)? as usize)
}

/// The query text, checked: 400 `query_too_long` past 200 characters.
fn text(q: Option<String>) -> Result<String, ApiError> {
    let q = q.unwrap_or_default();
    let n = q.chars().count();
    if n > civitas_search::MAX_QUERY_CHARS {
        let max = civitas_search::MAX_QUERY_CHARS;
        return Err(invalid(
            "query_too_long",
            format!("检索词最多 {max} 个字符，收到 {n} 个"),
            format!("The query is at most {max} characters; got {n}"),
        ));
    }
    Ok(q)
}

fn offset(after: Option<&str>) -> Result<usize, ApiError> {
    Ok(paging::after(after, |text| {
        let [offset] = paging::cursor_fields::<1>(text).ok()?;
        offset.parse::<usize>().ok()
    })?
    .unwrap_or(0))
}

/// Midnight in Beijing of `date` (YYYY-MM-DD), as Unix seconds.
fn day_start(name: &str, text: &str, days_after: i64) -> Result<i64, ApiError> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        invalid(
            "invalid_date",
            format!("{name} 应为 YYYY-MM-DD 格式的日期，收到 {text}"),
            format!("{name} must be a date YYYY-MM-DD; got {text}"),
        )
    })?;
    let china = chrono::FixedOffset::east_opt(8 * 3600).ok_or_else(unavailable)?;
    let midnight = date
        .and_hms_opt(0, 0, 0)
        .and_then(|t| china.from_local_datetime(&t).single())
        .ok_or_else(unavailable)?;
    Ok(midnight.timestamp() + days_after * 86_400)
}

/// A page of `results` for a query that asked for `limit` hits from
/// `offset`; `counted` when the engine counted every match, otherwise it
/// was asked for one hit more than the page, which says whether another
/// page follows.
fn page(mut results: Results, offset: usize, limit: usize, counted: bool) -> SearchPage {
    let more = if counted {
        results.hits.len() == limit && ((offset + limit) as u64) < results.total
    } else {
        let more = results.hits.len() > limit;
        results.hits.truncate(limit);
        more
    };
    let end = offset + results.hits.len();
    let next =
        (more && end <= civitas_search::MAX_OFFSET).then(|| paging::cursor(&[end.to_string()]));
    SearchPage {
        total: counted.then_some(results.total),
        hits: results
            .hits
            .into_iter()
            .map(|h| {
                let resident = h.kind == Kind::Resident;
                SearchHit {
                    id: h.id,
                    kind: h.kind.as_str().to_owned(),
                    tenant: h.tenant,
                    line: h.line,
                    // A resident's name is personal data: masked in every
                    // list, revealed only through the audited reveal.
                    title: if resident {
                        civitas_vault::mask::name(&h.title)
                    } else {
                        h.title
                    },
                    status: h.status,
                    service: h.service,
                    created_at: (h.date > 0)
                        .then(|| chrono::DateTime::from_timestamp(h.date, 0))
                        .flatten(),
                    highlights: if resident {
                        Vec::new()
                    } else {
                        h.highlights
                            .into_iter()
                            .map(|x| SearchHighlight {
                                field: x.field,
                                text: x.text,
                                ranges: x.ranges,
                            })
                            .collect()
                    },
                }
            })
            .collect(),
        facets: counted.then_some(SearchFacets {
            status: results.facets.status,
            places: results.facets.places,
        }),
        next,
    }
}

/// Runs `query` within `reach` and pages the results.
async fn run(
    indexer: &civitas_search_indexer::Indexer,
    reach: &Reach,
    query: Query,
) -> Result<Json<SearchPage>, ApiError> {
    let (offset, limit, counted) = (query.offset, query.limit, query.exhaustive);
    // Uncounted, one hit past the page tells whether another follows.
    let query = Query {
        limit: if counted { limit } else { limit + 1 },
        ..query
    };
    let results = indexer
        .engine()
        .search(reach, &query)
        .await
        .map_err(search_failed)?;
    Ok(Json(page(results, offset, limit, counted)))
}

/// Searches what `caller` may find with `params`, as the API and the
/// workbench search.
pub(crate) async fn search_with(
    state: &AppState,
    caller: &Caller,
    params: SearchParams,
) -> Result<SearchPage, ApiError> {
    let indexer = current_index(state)?;
    let limit = limit(params.limit)?;
    let offset = offset(params.after.as_deref())?;
    let kinds = match &params.kind {
        None => Vec::new(),
        Some(text) => text
            .split(',')
            .map(|k| {
                Kind::parse(k.trim()).ok_or_else(|| {
                    invalid(
                        "invalid_kind",
                        format!("kind 只能是 case、account、resident、service，收到 {k}"),
                        format!("kind must be case, account, resident or service; got {k}"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let within = match &params.tenant {
        None => None,
        Some(reference) => Some(
            state
                .tenants()
                .get(reference)
                .map(|r| r.path.clone())
                .ok_or_else(|| ApiError::tenant_not_found(reference))?,
        ),
    };
    let roots = roots(state);
    let reach = reach_of(state, caller, &roots)?;
    // Places are counted below the tenant asked for, or below the one
    // root everything the caller reaches lies under.
    let facet_parent = within.clone().or_else(|| {
        let mut under: Vec<&TenantPath> = roots.iter().collect();
        under.retain(|root| {
            reach.entries().iter().any(|e| match e {
                civitas_search::ReachEntry::Subtree { root: r, .. }
                | civitas_search::ReachEntry::Public { root: r, .. } => r.is_within(root),
                civitas_search::ReachEntry::Own { .. } => false,
            })
        });
        (under.len() == 1).then(|| under[0].clone())
    });
    let query = Query {
        text: text(params.q)?,
        kinds,
        within,
        line: params.line,
        status: params.status,
        service: None,
        from: params
            .from
            .as_deref()
            .map(|d| day_start("from", d, 0))
            .transpose()?,
        to: params
            .to
            .as_deref()
            .map(|d| day_start("to", d, 1))
            .transpose()?,
        facet_parent,
        offset,
        limit,
        exhaustive: params.count.unwrap_or(true),
        highlight: true,
    };
    run(indexer, &reach, query).await.map(|Json(page)| page)
}

fn roots(state: &AppState) -> Vec<TenantPath> {
    state
        .tenants()
        .records()
        .iter()
        .filter(|r| r.parent.is_none())
        .map(|r| r.path.clone())
        .collect()
}

/// What a tenant's portal finds: the public services of the tenant's
/// lines, published at its root.
fn portal_reach(tenant: &Tenant) -> Reach {
    let record = &tenant.0;
    let root = record
        .path
        .lineage()
        .into_iter()
        .next()
        .unwrap_or_else(|| record.path.clone());
    civitas_search_indexer::public_services_reach(&root, &record.lines)
}

/// What `caller` may find.
fn reach_of(state: &AppState, caller: &Caller, roots: &[TenantPath]) -> Result<Reach, ApiError> {
    Ok(match caller {
        // An applicant finds its own cases once its real-name check passed,
        // as the case routes allow (verification_required before that);
        // until then only the public services.
        Caller::Person(claims)
            if matches!(claims.kind, AccountKind::Citizen | AccountKind::Enterprise) =>
        {
            if claims.ver {
                civitas_search_indexer::applicant_reach(&claims.sub, roots)
            } else {
                civitas_search_indexer::public_reach(roots)
            }
        }
        Caller::Person(claims) => {
            let authorizer = state.authorizer()?;
            civitas_search_indexer::staff_reach(&authorizer, &claims.sub, roots)
        }
        // A key reads what its own scope allows: its subtree, its lines,
        // the read actions it was issued.
        Caller::Service(key) => {
            let mut entries = Vec::new();
            for kind in [Kind::Case, Kind::Account, Kind::Resident] {
                let Some(action) = civitas_search_indexer::reach::read_action(kind) else {
                    continue;
                };
                if !key.actions.iter().any(|a| a == action) {
                    continue;
                }
                for line in &key.lines {
                    entries.push(civitas_search::ReachEntry::Subtree {
                        kind,
                        root: key.tenant.clone(),
                        line: if kind == Kind::Resident {
                            civitas_authz::ALL_LINES.to_owned()
                        } else {
                            line.clone()
                        },
                    });
                }
            }
            Reach::new(entries)
        }
    })
}

/// Searches what the caller may read — cases (`case.read` in their line;
/// an applicant: its own), accounts (`account.read`), residents
/// (`resident.read`; names masked) and public services — with highlights
/// and counts by status and by place.
#[utoipa::path(get, path = "/api/v1/search", tag = "search",
    params(SearchParams),
    responses(
        (status = 200, description = "检索结果 / A page of hits", body = SearchPage),
        (status = 400, description = "检索条件、日期、limit 或 after 无效 / Invalid query, date, limit or cursor", body = ErrorBody),
        (status = 401, description = "未登录 / Not signed in", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 503, description = "检索不可用，或本节点的内置索引待命或正在重建 / Search unavailable, or this node's embedded index stands by or is being rebuilt", body = ErrorBody)
    ),
    security(("bearer" = [])))]
pub(crate) async fn search(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchPage>, ApiError> {
    Ok(Json(search_with(&state, &caller, params).await?))
}

/// The services a tenant offers, found by Chinese, pinyin or initials
/// (`zcbt` finds 助餐补贴) — public, for the tenant's portal.
#[utoipa::path(get, path = "/api/v1/tenants/{path}/services/search", tag = "search",
    params(TenantParam, ServiceSearchParams),
    responses(
        (status = 200, description = "检索结果 / A page of services", body = SearchPage),
        (status = 400, description = "检索条件、limit 或 after 无效 / Invalid query, limit or cursor", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 503, description = "检索不可用，或本节点的内置索引待命或正在重建 / Search unavailable, or this node's embedded index stands by or is being rebuilt", body = ErrorBody)
    ))]
pub(crate) async fn search_services(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(params): ApiQuery<ServiceSearchParams>,
) -> Result<Json<SearchPage>, ApiError> {
    let indexer = current_index(&state)?;
    let limit = limit(params.limit)?;
    let offset = offset(params.after.as_deref())?;
    let reach = portal_reach(&tenant);
    let query = Query {
        text: text(params.q)?,
        kinds: vec![Kind::Service],
        offset,
        limit,
        ..Query::default()
    };
    run(indexer, &reach, query).await
}

/// A token a tenant's portal uses to search its public services directly
/// on the Meilisearch server (as fast as the server answers, without a hop
/// through the platform); the token's search rules hold the filter, so it
/// finds nothing else. 404 `search_token_unavailable` on the embedded
/// index, which no browser can reach: use `…/services/search` instead.
#[utoipa::path(get, path = "/api/v1/tenants/{path}/services/search-token", tag = "search",
    params(TenantParam),
    responses(
        (status = 200, description = "检索令牌 / A search token", body = ServiceSearchToken),
        (status = 404, description = "租户不存在，或内置索引无令牌 / No such tenant, or the embedded index has no tokens", body = ErrorBody),
        (status = 503, description = "检索不可用，或本节点的内置索引待命或正在重建 / Search unavailable, or this node's embedded index stands by or is being rebuilt", body = ErrorBody)
    ))]
pub(crate) async fn service_search_token(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<ServiceSearchToken>, ApiError> {
    let indexer = current_index(&state)?;
    let reach = portal_reach(&tenant);
    let no_token = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "search_token_unavailable",
            "内置检索索引不支持浏览器直接检索（或该租户没有业务条线），请使用 services/search",
            "The embedded index cannot be searched from a browser (or the tenant has no lines); use services/search",
        )
    };
    if reach.is_empty() {
        return Err(no_token());
    }
    let token = indexer
        .engine()
        .tenant_token(&reach, TOKEN_TTL)
        .await
        .map_err(search_failed)?
        .ok_or_else(no_token)?;
    Ok(Json(ServiceSearchToken {
        url: token.url,
        index: token.index,
        token: token.token,
        expires_at: chrono::DateTime::from_timestamp(token.expires_at, 0)
            .ok_or_else(unavailable)?,
    }))
}
