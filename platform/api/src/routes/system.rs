//! Health, readiness, metrics, the OpenAPI document and the fallbacks.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};

/// The process is up.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// The platform can serve requests.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ready {
    /// Always `ready`.
    #[schema(example = "ready")]
    status: &'static str,
    /// `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    database: &'static str,
    /// The search index, when search is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    search: Option<SearchReadiness>,
    /// Notices waiting: outbox entries not fanned out, deliveries not sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    notifications: Option<civitas_notify::store::Backlog>,
    /// Whether this node hears other nodes' changes as they commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<ChangesReadiness>,
}

/// Whether the node hears other nodes' changes to grants, settings and the
/// tenant tree as they commit (PostgreSQL `LISTEN`). A node whose listening
/// connection has been lost for over 30 s is not ready (503
/// `change_notices_lost`); a shorter loss — every node's at once, when
/// PostgreSQL fails over — is reported (`lost`) without taking the node
/// out: its periodic look bounds what it may miss meanwhile.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChangesReadiness {
    /// `listening`, `connecting` (starting), `lost` (connecting again), or
    /// `not_used` (SQLite, or notices turned off: the periodic look is all
    /// there is).
    #[schema(example = "listening")]
    state: &'static str,
    /// Since when it listens, or since when it has lost the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    /// How many times the listening connection was made again after a loss.
    reconnects: u64,
}

/// How far behind the search index is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchReadiness {
    /// `tantivy` or `meilisearch`.
    backend: String,
    /// Changes not indexed yet.
    pending: i64,
    /// Age of the oldest of them, in seconds.
    lag_seconds: f64,
    /// Whether the oldest waits longer than a minute: searches miss recent
    /// changes (the node still serves everything else, so readiness stays 200).
    behind: bool,
    /// What this node's index does with the changes: `applying`;
    /// `standing_by` (an embedded index while another node's embedded index
    /// applies this database's changes: its searches answer 503
    /// `search_standby`; also a copy of the holder's index directory that
    /// the holder has moved past); `rebuilding` (before it applies: taking
    /// over from a holder gone, its directory was empty or of an older
    /// schema, a rebuild was cut short, it has no applied mark, or it holds
    /// changes the database does not (restored to an earlier point); the
    /// node serves meanwhile, 503
    /// `search_rebuilding` until done); `waiting` (another node's rebuild
    /// held the outbox as this node started; 503 `search_standby` until its
    /// next turn).
    /// Readiness stays 200.
    role: &'static str,
    /// The embedded index that applies the changes, when this one does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    holder: Option<String>,
    /// `search_lag_unavailable` when the lag could not be read (details in
    /// the log).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// An index whose oldest pending change waits longer than this is behind.
const SEARCH_BEHIND_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Liveness: the process answers. Never touches the database.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, description = "进程存活 / The process is up", body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the database answers, every migration is applied, and (on
/// PostgreSQL) the node hears other nodes' changes.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses(
        (status = 200, description = "可以提供服务 / Ready to serve", body = Ready),
        (status = 503, description = "数据库不可达、迁移未完成或收不到变更通知 / Database unreachable, not migrated, or change notices lost", body = ErrorBody)
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    let readiness = state.db().readiness().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::database_unavailable()
    })?;
    if !readiness.is_ready() {
        let n = readiness.pending_migrations;
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "migrations_pending",
            format!("有 {n} 个数据库迁移尚未执行，请运行 civitas migrate"),
            format!("{n} database migration(s) not applied; run `civitas migrate`"),
        ));
    }
    let search = match state.search() {
        None => None,
        Some(indexer) => {
            let current = indexer.role();
            let role = current.name();
            let holder = match current {
                civitas_search_indexer::Role::StandingBy { holder } => Some(holder),
                _ => None,
            };
            Some(match indexer.lag().await {
                Ok((pending, lag_seconds)) => SearchReadiness {
                    behind: lag_seconds > SEARCH_BEHIND_AFTER.as_secs_f64(),
                    backend: indexer.engine().backend().to_owned(),
                    pending,
                    lag_seconds,
                    role,
                    holder,
                    error: None,
                },
                Err(e) => {
                    tracing::warn!(error = %e, "search lag cannot be read");
                    SearchReadiness {
                        backend: indexer.engine().backend().to_owned(),
                        pending: 0,
                        lag_seconds: 0.0,
                        behind: true,
                        role,
                        holder,
                        error: Some("search_lag_unavailable".to_owned()),
                    }
                }
            })
        }
    };
    // Only a node that runs the notifier says how far behind it is.
    let notifications = match state.notify() {
        None => None,
        Some(_) => match civitas_notify::store::backlog(state.db()).await {
            Ok(backlog) => Some(backlog),
            Err(e) => {
                tracing::warn!(error = %e, "notification backlog cannot be read");
                None
            }
        },
    };
    let changes = match state.changes() {
        None => None,
        Some(feed) => Some(changes_readiness(feed)?),
    };
    Ok(Json(Ready {
        status: "ready",
        database: readiness.backend.as_str(),
        search,
        notifications,
        changes,
    }))
}

/// How long a lost listening connection is reported without making the
/// node unready.
const CHANGES_LOST_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// What `/readyz` says of the change listener; an error when it has been
/// lost for longer than [`CHANGES_LOST_GRACE`].
fn changes_readiness(
    feed: &civitas_storage::changes::ChangeFeed,
) -> Result<ChangesReadiness, ApiError> {
    use civitas_storage::changes::Listening;
    let reconnects = feed.reconnects();
    let (state, since) = match feed.listening() {
        Listening::NotUsed => ("not_used", None),
        Listening::Connecting => ("connecting", None),
        Listening::Listening { since } => ("listening", Some(since)),
        Listening::Lost { since, error } if chrono::Utc::now() - since <= CHANGES_LOST_GRACE => {
            tracing::warn!(%error, %since, "readiness: change notices lost, connecting again");
            ("lost", Some(since))
        }
        Listening::Lost { since, error } => {
            tracing::warn!(%error, %since, "readiness: change notices lost");
            let since = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "change_notices_lost",
                format!(
                    "自 {since} 起收不到其他节点的变更通知（授权、设置、租户树），正在重新连接"
                ),
                format!(
                    "not hearing other nodes' changes (grants, settings, tenant tree) since {since}; reconnecting"
                ),
            ));
        }
    };
    Ok(ChangesReadiness {
        state,
        since: since.map(|s| s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        reconnects,
    })
}

/// Marks the listener that serves `/metrics` alone (`--metrics-listen`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MetricsListener;

/// What operators page on, in the Prometheus text format: request counts
/// and latency histograms by route and status, and the readings taken now —
/// the database pool, timers due, notices waiting, search lag, the change
/// listener, audit records not anchored, tenant keys by state, module calls
/// by outcome with their fuel, sign-in attempts by outcome, the build. A
/// reading that cannot be taken is named in `civitas_metrics_unreadable`,
/// never shown as zero. Not on this port when the node serves metrics on a
/// listener of its own (`--metrics-listen`): 404 here.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses(
        (status = 200, description = "Prometheus 文本格式指标 / Metrics in the Prometheus text format",
            body = String, content_type = "application/openmetrics-text"),
        (status = 404, description = "指标在单独的监听地址上 / Metrics are on a listener of their own", body = ErrorBody)
    ))]
pub(crate) async fn metrics(
    State(state): State<AppState>,
    listener: Option<axum::Extension<MetricsListener>>,
    uri: Uri,
) -> axum::response::Response {
    if listener.is_none() && !state.inner.metrics_on_public_port {
        return ApiError::route_not_found(uri.path()).into_response();
    }
    let readings = readings(&state).await;
    let text = civitas_telemetry::ops::exposition(&[state.metrics().render(), readings.render()]);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Seconds from `micros` (since the epoch) to `now`, never negative.
fn age(now: chrono::DateTime<chrono::Utc>, micros: i64) -> f64 {
    ((now.timestamp_micros() - micros) as f64 / 1e6).max(0.0)
}

/// How long one reading may take: a scrape must answer within
/// Prometheus's own timeout (10 s by default) even when the database does
/// not, so that what can be read — the pool, the listener — still is.
const READING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `work`'s reading, or its name when it failed or took too long (logged).
async fn within<T, E: std::fmt::Display>(
    reading: &'static str,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, &'static str> {
    match tokio::time::timeout(READING_TIMEOUT, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::warn!(reading, %error, "a metrics reading cannot be taken");
            Err(reading)
        }
        Err(_) => {
            tracing::warn!(reading, timeout = ?READING_TIMEOUT, "a metrics reading took too long");
            Err(reading)
        }
    }
}

/// The readings one scrape takes, at once. One that fails or takes too
/// long is named, the others are still shown.
async fn readings(state: &AppState) -> civitas_telemetry::ops::Readings {
    use civitas_telemetry::ops::{Backlog, PoolReading, Readings};
    let db = state.db();
    let now = chrono::Utc::now();
    let (timers, notifications, search, audit_unanchored, tenant_keys) = tokio::join!(
        within(
            "timers",
            civitas_workflow::timers::backlog(db, now.timestamp_micros())
        ),
        within("notifications", civitas_notify::store::backlog(db)),
        async {
            match state.search() {
                None => Ok(None),
                Some(indexer) => within("search", indexer.lag()).await.map(Some),
            }
        },
        within("audit_unanchored", civitas_audit::unanchored(db)),
        within("tenant_keys", civitas_vault::key_counts(db)),
    );
    let unreadable: Vec<&'static str> = [
        timers.as_ref().err(),
        notifications.as_ref().err(),
        search.as_ref().err(),
        audit_unanchored.as_ref().err(),
        tenant_keys.as_ref().err(),
    ]
    .into_iter()
    .flatten()
    .copied()
    .collect();
    let notifications = notifications.ok();
    let change_listener = state.changes().and_then(|feed| {
        use civitas_storage::changes::Listening;
        match feed.listening() {
            Listening::NotUsed => None,
            Listening::Listening { .. } => Some((true, feed.reconnects())),
            Listening::Connecting | Listening::Lost { .. } => Some((false, feed.reconnects())),
        }
    });
    let (module_calls, module_fuel, module_confined_lanes) = match state.inner.modules.as_ref() {
        Some(modules) => (
            modules.runtime.calls().outcomes(),
            modules.runtime.calls().fuel_used(),
            modules.runtime.confined_lanes() as u64,
        ),
        None => (Vec::new(), 0, 0),
    };
    let pool = db.pool_stats();
    Readings {
        version: env!("CARGO_PKG_VERSION"),
        database: db.backend().as_str(),
        pool: Some(PoolReading {
            open: pool.open,
            idle: pool.idle,
            max: pool.max,
            waiting: pool.waiting,
            begun: pool.begun,
            begin_seconds: pool.begin_seconds,
            failed: pool.failed,
        }),
        timers: timers.ok().map(|b| Backlog {
            waiting: b.due,
            oldest_seconds: b.oldest_due_micros.map_or(0.0, |t| age(now, t)),
        }),
        notification_outbox: notifications.map(|n| n.outbox),
        notifications_unsent: notifications.map(|n| n.unsent),
        search: search.ok().flatten().map(|(pending, lag_seconds)| Backlog {
            waiting: pending,
            oldest_seconds: lag_seconds,
        }),
        search_roles: state.search().map_or_else(Vec::new, |indexer| {
            let current = indexer.role().name();
            civitas_search_indexer::Role::NAMES
                .iter()
                .map(|&name| (name, i64::from(name == current)))
                .collect()
        }),
        change_listener,
        audit_unanchored: audit_unanchored.ok().map(|u| Backlog {
            waiting: u.records,
            oldest_seconds: u.oldest_micros.map_or(0.0, |t| age(now, t)),
        }),
        tenant_keys: tenant_keys.unwrap_or_default(),
        module_calls,
        module_fuel,
        module_confined_lanes,
        sign_ins: state.sign_ins().snapshot(),
        unreadable,
    }
}

/// This document: OpenAPI 3.1, generated from the code.
#[utoipa::path(get, path = "/api/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI 文档 / The OpenAPI document", body = Object)))]
pub(crate) async fn openapi_json(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.inner.openapi_json.clone(),
    )
}

/// The RapiDoc build served at `/api/docs/rapidoc-min.js` (see
/// `platform/api/assets/README.md`).
static RAPIDOC_GZ: &[u8] = include_bytes!("../../assets/rapidoc-min.js.gz");

/// The API reference page: this document, readable and tryable in a
/// browser. Everything it loads is served by this binary (no CDN).
#[utoipa::path(get, path = "/api/docs", tag = "system",
    responses((status = 200, description = "接口参考页 / The API reference page",
        body = String, content_type = "text/html")))]
pub(crate) async fn api_docs() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:",
            ),
        ],
        API_DOCS_HTML,
    )
}

/// The page: RapiDoc pointed at `/api/openapi.json`, in Chinese-friendly
/// system fonts (RapiDoc's default font would be fetched from the web).
const API_DOCS_HTML: &str = r#"<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Civitas 接口参考 / API reference</title>
<script type="module" src="/api/docs/rapidoc-min.js"></script>
</head>
<body>
<rapi-doc spec-url="/api/openapi.json" render-style="read" show-header="false"
  allow-server-selection="false" schema-style="table" default-schema-tab="schema"
  regular-font="system-ui, -apple-system, 'PingFang SC', 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"
  mono-font="ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace"
  heading-text="Civitas 接口参考 / API reference">
</rapi-doc>
</body>
</html>
"#;

/// The script of the API reference page (RapiDoc 9.3.8, MIT).
#[utoipa::path(get, path = "/api/docs/rapidoc-min.js", tag = "system",
    responses((status = 200, description = "接口参考页脚本 / The reference page's script",
        body = String, content_type = "text/javascript")))]
pub(crate) async fn api_docs_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CONTENT_ENCODING, "gzip"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        RAPIDOC_GZ,
    )
}

/// Any path no route matches: a JSON error, or a page saying so under the
/// faces' paths (a person typed or followed it).
pub(crate) async fn route_not_found(
    lang: crate::pages::PageLang,
    original: axum::extract::OriginalUri,
    uri: Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if crate::pages::is_page_path(original.path()) {
        return crate::pages::page_not_found(lang, original.path()).await;
    }
    ApiError::route_not_found(uri.path()).into_response()
}

/// A known path with a method it does not take.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}
