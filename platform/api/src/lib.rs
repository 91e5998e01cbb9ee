//! The Civitas HTTP API.
//!
//! [`app`] builds the whole axum application: routes, the JSON error
//! envelope ([`ApiError`]), request ids, per-request tracing spans, metrics,
//! the body limit and the OpenAPI document served at `/api/openapi.json`.
//! Handlers are thin: they parse, call a capability crate, and shape JSON.
//!
//! Routes are registered through `utoipa-axum`, so a route cannot exist
//! without its OpenAPI entry. Tenant paths contain slashes; a layer in
//! front of the router ([`tenant`]) resolves them against the in-memory
//! tree, so tenant routes are ordinary routes too
//! (`/api/v1/tenants/{path}/cases/{id}`).

mod access;
mod error;
mod export;
mod extract;
mod middleware;
mod pages;
mod paging;
mod routes;
mod tenant;
mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use civitas_storage::Database;
use civitas_telemetry::HttpMetrics;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ErrorBody, Message, Problem};
pub use extract::{ApiJson, ApiQuery};
pub use tenant::{SharedDirectory, TenantDirectory};
pub use throttle::{Throttle, ThrottleSettings};

/// The default largest request body, in bytes (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Sign-in and sessions; without them (no platform key) the auth
    /// routes answer 503 `auth_unavailable`.
    pub auth: Option<AuthSettings>,
    /// The tenants' data keys; without them routes that read or write
    /// personal data answer 503 `vault_unavailable`.
    pub keyring: Option<Arc<civitas_vault::Keyring>>,
    /// Reverse proxies whose `X-Forwarded-For` is believed: a request from
    /// one of them is taken to come from the rightmost address in that
    /// header that is not itself a trusted proxy (API-key allow-lists and
    /// audit records use it). Empty: the peer address is the source.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The module runtime and the tenant tree its settings come from;
    /// without them the module routes answer 503 `modules_unavailable`.
    pub modules: Option<ModuleSettings>,
    /// The workflow engine; without it the case routes answer 503
    /// `workflow_unavailable`.
    pub workflow: Option<Arc<civitas_workflow::Workflow>>,
    /// The active tenants ([`TenantDirectory::load`]): tenant paths in
    /// requests are resolved against them in memory. Empty by default;
    /// whoever runs the app replaces it when a new tree revision lands.
    pub tenants: SharedDirectory,
    /// Per-address limits on sign-in failures, registrations and refused
    /// API keys, and the tally of refused keys; whoever runs the app calls
    /// [`Throttle::flush`] periodically.
    pub throttle: Arc<Throttle>,
    /// The identity provider that verifies self-registered accounts; without
    /// it `POST /api/v1/me/verification` answers 503 and only an officer's
    /// in-person verification remains.
    pub realname: Option<civitas_realname::OidcVerifier>,
    /// Search (its engine and the outbox indexer feeding it); without it
    /// the search routes answer 503 `search_unavailable`.
    pub search: Option<civitas_search_indexer::Indexer>,
    /// Where supporting documents are kept; without it uploading and
    /// downloading them answer 503 `documents_unavailable`.
    pub documents: Option<civitas_documents::DocumentStore>,
    /// Official documents: templates, fonts, the verification address;
    /// without it issuing answers 503 `documents_unavailable`.
    pub sealing: Option<SealingSettings>,
    /// Where exports are written before they are sent (a directory on
    /// disk: a temporary directory on tmpfs would hold them in memory);
    /// none: the system's temporary directory. `serve` uses
    /// `<data-dir>/exports`.
    pub export_dir: Option<std::path::PathBuf>,
    /// The channels notices go out on besides the message centre, when
    /// this node runs the notifier (none: it does not; the message centre
    /// and delivery records are served either way).
    pub notify: Option<civitas_notify::store::Offered>,
    /// Whether this node hears other nodes' changes as they commit, which
    /// `/readyz` reports (none: not reported).
    pub changes: Option<Arc<civitas_storage::changes::ChangeFeed>>,
    /// Whether `/metrics` is served on this application's port (default);
    /// false when it has a listener of its own ([`metrics_app`]).
    pub metrics_on_public_port: bool,
}

/// The largest body of a document upload: the document and its form.
pub(crate) const DOCUMENT_BODY_LIMIT: usize = civitas_documents::MAX_DOCUMENT_BYTES + 64 * 1024;

/// What issuing official documents needs besides the platform key, the
/// keyring and the document store.
#[derive(Debug)]
pub struct SealingSettings {
    /// The document templates (`tenants/_services/**/documents/*.toml`).
    pub templates: Arc<civitas_seal::template::TemplateCatalog>,
    /// Where the fonts are ([`civitas_seal::Fonts::DEFAULT_DIR`]); read on
    /// the first document issued.
    pub fonts_dir: std::path::PathBuf,
    /// The fonts once read.
    pub fonts: std::sync::OnceLock<civitas_seal::Fonts>,
    /// The public verification page's address printed on every document.
    pub verify_url: String,
}

impl Clone for SealingSettings {
    fn clone(&self) -> SealingSettings {
        SealingSettings {
            templates: self.templates.clone(),
            fonts_dir: self.fonts_dir.clone(),
            fonts: self
                .fonts
                .get()
                .cloned()
                .map_or_else(std::sync::OnceLock::new, |f| {
                    let cell = std::sync::OnceLock::new();
                    let _ = cell.set(f);
                    cell
                }),
            verify_url: self.verify_url.clone(),
        }
    }
}

/// What the module routes need.
#[derive(Debug, Clone)]
pub struct ModuleSettings {
    /// Registry, bindings and the host.
    pub runtime: Arc<civitas_registry::Runtime>,
    /// The tenant tree (tenant settings, roots), as the node serves it now.
    pub tree: civitas_tenancy::SharedTree,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            body_limit: DEFAULT_BODY_LIMIT,
            auth: None,
            keyring: None,
            trusted_proxies: Vec::new(),
            modules: None,
            workflow: None,
            tenants: SharedDirectory::default(),
            throttle: Arc::default(),
            realname: None,
            search: None,
            documents: None,
            sealing: None,
            export_dir: None,
            notify: None,
            changes: None,
            metrics_on_public_port: true,
        }
    }
}

/// What sign-in needs: the platform key that signs tokens, and the
/// sign-in and session policies.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The platform's SM2 key.
    pub platform_key: Arc<civitas_crypto::sm2::PrivateKey>,
    /// Lockout, work factor, password policy, realm.
    pub sign_in: civitas_identity::SignInSettings,
    /// Idle and absolute timeouts, token lifetime.
    pub sessions: civitas_identity::SessionSettings,
    /// The decision index over every grant.
    pub authorizer: Arc<std::sync::RwLock<civitas_authz::Authorizer>>,
}

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    metrics: HttpMetrics,
    openapi_json: String,
    auth: Option<AuthSettings>,
    keyring: Option<Arc<civitas_vault::Keyring>>,
    trusted_proxies: Vec<ipnet::IpNet>,
    verified_tokens: routes::auth::VerifiedTokens,
    modules: Option<ModuleSettings>,
    workflow: Option<Arc<civitas_workflow::Workflow>>,
    tenants: SharedDirectory,
    throttle: Arc<Throttle>,
    realname: Option<civitas_realname::OidcVerifier>,
    search: Option<civitas_search_indexer::Indexer>,
    documents: Option<civitas_documents::DocumentStore>,
    sealing: Option<SealingSettings>,
    export_dir: Option<std::path::PathBuf>,
    notify: Option<civitas_notify::store::Offered>,
    changes: Option<Arc<civitas_storage::changes::ChangeFeed>>,
    metrics_on_public_port: bool,
    sign_ins: civitas_telemetry::ops::OutcomeCounts,
}

impl AppState {
    /// Sign-in attempts by outcome, for `/metrics`.
    pub(crate) fn sign_ins(&self) -> &civitas_telemetry::ops::OutcomeCounts {
        &self.inner.sign_ins
    }

    /// Whether this node hears other nodes' changes, if reported.
    pub(crate) fn changes(&self) -> Option<&civitas_storage::changes::ChangeFeed> {
        self.inner.changes.as_deref()
    }

    /// The channels the notifier sends on, if this node runs it.
    pub(crate) fn notify(&self) -> Option<civitas_notify::store::Offered> {
        self.inner.notify
    }

    /// Official documents, if configured.
    pub(crate) fn sealing(&self) -> Option<&SealingSettings> {
        self.inner.sealing.as_ref()
    }

    /// Where exports are written, if not the system's temporary directory.
    pub(crate) fn export_dir(&self) -> Option<&std::path::Path> {
        self.inner.export_dir.as_deref()
    }

    /// Search, if configured.
    pub fn search(&self) -> Option<&civitas_search_indexer::Indexer> {
        self.inner.search.as_ref()
    }

    /// The document store; 503 `documents_unavailable` without one.
    pub(crate) fn documents(&self) -> Result<&civitas_documents::DocumentStore, ApiError> {
        self.inner.documents.as_ref().ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "documents_unavailable",
                "未配置申请材料存储",
                "No document store is configured",
            )
        })
    }

    /// The active tenants now (a new tree revision replaces them while
    /// the node runs).
    pub fn tenants(&self) -> Arc<TenantDirectory> {
        self.inner.tenants.current()
    }

    /// The workflow engine, if configured.
    pub fn workflow(&self) -> Option<&Arc<civitas_workflow::Workflow>> {
        self.inner.workflow.as_ref()
    }

    /// The platform database.
    pub fn db(&self) -> &Database {
        &self.inner.db
    }

    /// The HTTP metrics.
    pub fn metrics(&self) -> &HttpMetrics {
        &self.inner.metrics
    }

    /// Sign-in settings, if sign-in is configured.
    pub fn auth(&self) -> Option<&AuthSettings> {
        self.inner.auth.as_ref()
    }

    /// The tenants' data keys; 503 `vault_unavailable` without them.
    pub(crate) fn keyring(&self) -> Result<&civitas_vault::Keyring, ApiError> {
        self.inner.keyring.as_deref().ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "vault_unavailable",
                "未配置主密钥，无法读写个人信息",
                "Personal data is unavailable: no master key is configured",
            )
        })
    }

    /// The decision index, for reading; 503 without sign-in.
    pub(crate) fn authorizer(
        &self,
    ) -> Result<std::sync::RwLockReadGuard<'_, civitas_authz::Authorizer>, ApiError> {
        let auth = self.auth().ok_or_else(routes::auth::unavailable)?;
        auth.authorizer.read().map_err(|_| ApiError::internal())
    }

    /// The decision index, for this node's immediate update after a grant
    /// change (every node also reloads it when the grants version moves).
    pub(crate) fn authorizer_mut(
        &self,
    ) -> Result<std::sync::RwLockWriteGuard<'_, civitas_authz::Authorizer>, ApiError> {
        let auth = self.auth().ok_or_else(routes::auth::unavailable)?;
        auth.authorizer.write().map_err(|_| ApiError::internal())
    }

    /// The platform's lines of business, with their names and aliases, as
    /// the tenant tree defines them now; empty without one (then only line
    /// codes are understood where a name could be).
    pub(crate) fn line_definitions(&self) -> Vec<civitas_tenancy::Line> {
        self.inner
            .modules
            .as_ref()
            .map_or_else(Vec::new, |m| m.tree.current().lines().to_vec())
    }

    /// The module runtime; 503 `modules_unavailable` without it.
    pub(crate) fn modules(&self) -> Result<&ModuleSettings, ApiError> {
        self.inner.modules.as_ref().ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "modules_unavailable",
                "本节点未启用业务模块运行环境",
                "The module runtime is not enabled on this node",
            )
        })
    }

    pub(crate) fn trusted_proxies(&self) -> &[ipnet::IpNet] {
        &self.inner.trusted_proxies
    }

    pub(crate) fn verified_tokens(&self) -> &routes::auth::VerifiedTokens {
        &self.inner.verified_tokens
    }

    pub(crate) fn realname(&self) -> Option<&civitas_realname::OidcVerifier> {
        self.inner.realname.as_ref()
    }

    pub(crate) fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Civitas API",
        description = "城市政务多租户平台接口 / The multi-tenant platform API for a city's government bureaus.\n\n\
            Every error is JSON: `{\"code\", \"message\": {\"zh\", \"en\"}, \"request_id\"}`.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "system", description = "健康、就绪与指标 / Health, readiness and metrics"),
        (name = "tenants", description = "行政区划租户树 / The administrative tree of tenants"),
        (name = "auth", description = "登录、会话与身份 / Sign-in, sessions and identity"),
        (name = "accounts", description = "账户管理（系统管理员）：创建、停用、解锁、重置密码 / Account administration by the system administrator"),
        (name = "grants", description = "角色授权 / Grants of roles on tenant subtrees"),
        (name = "api-keys", description = "服务账户 API 密钥 / API keys of service accounts"),
        (name = "audit", description = "审计日志 / The audit trail"),
        (name = "residents", description = "居民信息（加密存储、脱敏展示） / Residents: sealed at rest, masked in answers"),
        (name = "modules", description = "业务模块：服务目录、模块仓库、绑定与评估 / Modules: the service catalog, the registry, bindings and evaluation"),
        (name = "lotteries", description = "轮候与摇号：按各区优先规则排序的轮候名单，公开可复核的摇号 / Waiting lists ranked by each district's priority rules, and public lotteries anyone can recompute"),
        (name = "cases", description = "办件：申请、审批、待办、历史、附件与通知 / Cases: applications, actions, the inbox, history, attachments and notifications"),
        (name = "search", description = "检索：按权限过滤的全文检索，中文、拼音与编号 / Search: full text in Chinese, pinyin and numbers, filtered by what the caller may read"),
        (name = "notifications", description = "消息中心：办件进度通知（站内消息、短信、电子邮件）、发送记录与接收设置 / The message centre: notices of case progress by message centre, SMS and e-mail, delivery records and preferences")
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Declares the `bearer` security scheme the authenticated routes use.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Builds the application: every route with its middleware, ready to serve.
pub fn app(db: Database, settings: &ApiSettings) -> Router {
    apps(db, settings).0
}

/// The application and, for a listener of its own, `/metrics` alone over
/// the same state (set [`ApiSettings::metrics_on_public_port`] false, so
/// the public port does not show it).
pub fn apps(db: Database, settings: &ApiSettings) -> (Router, Router) {
    let (router, openapi) = documented_routes();
    let openapi_json = openapi.to_pretty_json().unwrap_or_else(|_| "{}".to_owned());

    let state = AppState {
        inner: Arc::new(Inner {
            db,
            metrics: HttpMetrics::new(),
            openapi_json,
            auth: settings.auth.clone(),
            keyring: settings.keyring.clone(),
            trusted_proxies: settings.trusted_proxies.clone(),
            verified_tokens: routes::auth::VerifiedTokens::default(),
            modules: settings.modules.clone(),
            workflow: settings.workflow.clone(),
            tenants: settings.tenants.clone(),
            throttle: settings.throttle.clone(),
            realname: settings.realname.clone(),
            search: settings.search.clone(),
            documents: settings.documents.clone(),
            sealing: settings.sealing.clone(),
            export_dir: settings.export_dir.clone(),
            notify: settings.notify,
            changes: settings.changes.clone(),
            metrics_on_public_port: settings.metrics_on_public_port,
            sign_ins: civitas_telemetry::ops::OutcomeCounts::default(),
        }),
    };
    let (metrics_only, _) = OpenApiRouter::new()
        .routes(routes!(routes::system::metrics))
        .split_for_parts();
    let metrics_only = metrics_only
        .layer(axum::Extension(routes::system::MetricsListener))
        .with_state(state.clone());
    let routed = pages::add_routes(router, state.clone())
        .fallback(routes::system::route_not_found)
        .method_not_allowed_fallback(routes::system::method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            middleware::panic_response,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::request_context,
        ))
        .with_state(state.clone());
    // Tenant prefixes are resolved before routing, so this layer wraps the
    // routed application rather than being one of its layers.
    let resolving = tower::Layer::layer(
        &axum::middleware::from_fn_with_state(state, tenant::resolve_tenant_prefix),
        routed,
    );
    (Router::new().fallback_service(resolving), metrics_only)
}

/// The OpenAPI 3.1 document of the whole API, as served at
/// `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented_routes().1
}

/// Every route registered together with its OpenAPI entry.
fn documented_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::system::healthz))
        .routes(routes!(routes::system::readyz))
        .routes(routes!(routes::system::metrics))
        .routes(routes!(routes::system::openapi_json))
        .routes(routes!(routes::system::api_docs))
        .routes(routes!(routes::system::api_docs_script))
        .routes(routes!(routes::tenants::list_tenants))
        .routes(routes!(routes::tenants::resolve_tenants))
        .routes(routes!(routes::tenants::get_tenant))
        .routes(routes!(routes::tenants::list_staff))
        .routes(routes!(routes::settings::list_settings))
        .routes(routes!(
            routes::settings::put_setting,
            routes::settings::delete_setting
        ))
        .routes(routes!(
            routes::accounts::list_accounts,
            routes::accounts::create_account
        ))
        .routes(routes!(
            routes::accounts::get_account,
            routes::accounts::update_account
        ))
        .routes(routes!(routes::accounts::export_accounts))
        .routes(routes!(routes::accounts::disable_account))
        .routes(routes!(routes::accounts::enable_account))
        .routes(routes!(routes::accounts::unlock_account))
        .routes(routes!(routes::accounts::reset_password))
        .routes(routes!(routes::verification::verify_in_person))
        .routes(routes!(routes::verification::release_identity))
        .routes(routes!(routes::account_imports::import_accounts))
        .routes(routes!(routes::auth::login))
        .routes(routes!(routes::auth::refresh))
        .routes(routes!(routes::auth::logout))
        .routes(routes!(routes::auth::change_password))
        .routes(routes!(routes::auth::platform_key))
        .routes(routes!(routes::auth::me))
        .routes(routes!(routes::verification::begin_verification))
        .routes(routes!(routes::verification::verification_callback))
        .routes(routes!(routes::auth::register))
        .routes(routes!(
            routes::grants::list_grants,
            routes::grants::create_grant
        ))
        .routes(routes!(routes::grants::delete_grant))
        .routes(routes!(routes::audit::read_audit))
        .routes(routes!(routes::audit::export_audit))
        .routes(routes!(
            routes::residents::list_residents,
            routes::residents::register_resident
        ))
        .routes(routes!(routes::residents::search_residents))
        .routes(routes!(routes::residents::get_resident))
        .routes(routes!(routes::residents::reveal_resident))
        .routes(routes!(routes::residents::record_population))
        .routes(routes!(
            routes::service_keys::list_keys,
            routes::service_keys::issue_key
        ))
        .routes(routes!(routes::service_keys::revoke_key))
        .routes(routes!(routes::service_keys::approve_key))
        .routes(routes!(routes::modules::list_services))
        .routes(routes!(routes::modules::set_default))
        .routes(routes!(
            routes::modules::list_signing_keys,
            routes::modules::register_signing_key
        ))
        .routes(routes!(routes::modules::revoke_signing_key))
        .routes(routes!(
            routes::modules::list_modules,
            routes::modules::publish_module
        ))
        .routes(routes!(routes::modules::get_module))
        .routes(routes!(routes::modules::download_module))
        .routes(routes!(routes::modules::yank_module))
        .routes(routes!(routes::modules::list_bindings))
        .routes(routes!(
            routes::modules::put_binding,
            routes::modules::delete_binding
        ))
        .routes(routes!(routes::modules::rollback_binding))
        .routes(routes!(routes::modules::evaluate))
        .routes(routes!(routes::modules::evaluate_batch))
        .routes(routes!(routes::modules::what_if))
        .routes(routes!(routes::modules::what_if_report))
        .routes(routes!(routes::lotteries::waiting_list))
        .routes(routes!(routes::lotteries::publish))
        .routes(routes!(routes::lotteries::draw))
        .routes(routes!(routes::lotteries::lottery))
        .routes({
            // A month of a district's projects is larger than other bodies.
            let (schemas, paths, router) = routes!(routes::wage_arrears::import_project_months);
            (
                schemas,
                paths,
                router.layer(DefaultBodyLimit::max(routes::wage_arrears::MAX_FILE_BYTES)),
            )
        })
        .routes(routes!(routes::wage_arrears::run_warnings))
        .routes(routes!(
            routes::cases::list_cases,
            routes::cases::create_case
        ))
        .routes(routes!(routes::cases::export_cases))
        .routes(routes!(routes::cases::get_case))
        .routes(routes!(routes::cases::reveal))
        .routes(routes!(routes::cases::act))
        .routes(routes!(routes::cases::history))
        .routes(routes!(
            routes::cases::list_attachments,
            routes::cases::attach
        ))
        .routes(routes!(routes::cases::notifications))
        .routes(routes!(routes::cases::inbox))
        .routes(routes!(routes::cases::export_inbox))
        .routes(routes!(routes::cases::flows))
        .routes(routes!(routes::dashboard::dashboard))
        .routes(routes!(routes::dashboard::export_dashboard))
        .routes({
            // A document is larger than any other body the API takes.
            let (schemas, paths, router) = routes!(routes::cases::upload_document);
            (
                schemas,
                paths,
                router.layer(DefaultBodyLimit::max(DOCUMENT_BODY_LIMIT)),
            )
        })
        .routes(routes!(routes::cases::download_document))
        .routes(routes!(routes::cases::rate_case, routes::cases::get_rating))
        .routes(routes!(routes::documents::case_documents))
        .routes(routes!(routes::documents::issue_document))
        .routes(routes!(routes::documents::download_issued))
        .routes(routes!(
            routes::documents::list_seals,
            routes::documents::make_seal
        ))
        .routes(routes!(routes::documents::revoke_seal))
        .routes({
            // A document to verify may be larger than other bodies.
            let (schemas, paths, router) = routes!(routes::documents::verify_document);
            (
                schemas,
                paths,
                router.layer(DefaultBodyLimit::max(routes::documents::MAX_VERIFY_BYTES)),
            )
        })
        .routes(routes!(routes::documents::root_certificate))
        .routes(routes!(routes::notifications::my_messages))
        .routes(routes!(routes::notifications::read_message))
        .routes(routes!(routes::notifications::export_my_messages))
        .routes(routes!(
            routes::notifications::my_notification_settings,
            routes::notifications::change_my_notification_settings
        ))
        .routes(routes!(routes::notifications::deliveries))
        .routes(routes!(routes::notifications::export_deliveries))
        .routes(routes!(routes::notifications::retry_delivery))
        .routes(routes!(routes::search::search))
        .routes(routes!(routes::search::search_services))
        .routes(routes!(routes::search::service_search_token))
        .split_for_parts();
    openapi.info.version = env!("CARGO_PKG_VERSION").to_owned();
    utoipa::Modify::modify(&StandardResponses, &mut openapi);
    (router, openapi)
}

/// Adds to every operation the answers the shared layers and extractors
/// give, so that the document lists every status a route can return
/// without each handler repeating them: a JSON body → 400, 413, 415, 422;
/// query parameters → 400; path parameters → 404; signing in (bearer) →
/// 401 and 429 (refused credentials are throttled per address); anything
/// that reads the database → 503 `database_unavailable`.
struct StandardResponses;

impl utoipa::Modify for StandardResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |description: &str| -> RefOr<utoipa::openapi::Response> {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        // Routes that never answer 503 database_unavailable: they do not
        // touch the database, or (/metrics) name a reading they could not
        // take instead.
        const NO_DATABASE: &[&str] = &[
            "/healthz",
            "/metrics",
            "/api/openapi.json",
            "/api/docs",
            "/api/docs/rapidoc-min.js",
            "/.well-known/civitas/platform-key",
            "/api/v1/tenants",
            "/api/v1/tenants/{path}",
            "/api/v1/tenants/resolve",
            "/api/v1/services",
            "/api/v1/flows",
        ];
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                let parameters: Vec<ParameterIn> = operation
                    .parameters
                    .iter()
                    .flatten()
                    .filter_map(|p| match p {
                        RefOr::T(p) => Some(p.parameter_in.clone()),
                        RefOr::Ref(_) => None,
                    })
                    .collect();
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description));
                };
                if operation.request_body.is_some() {
                    add("400", "JSON 格式错误 / Malformed JSON");
                    add("413", "请求体过大 / Body too large");
                    add("415", "不是 JSON / Not JSON");
                    add(
                        "422",
                        "字段缺失、多余或无效 / Missing, unknown or invalid fields",
                    );
                }
                if parameters.iter().any(|p| matches!(p, ParameterIn::Query)) {
                    add("400", "查询参数无效 / Invalid query parameters");
                }
                if parameters.iter().any(|p| matches!(p, ParameterIn::Path)) {
                    add("404", "不存在 / Not found");
                }
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add(
                        "401",
                        "未登录或凭据无效 / Not signed in, or invalid credentials",
                    );
                    add(
                        "429",
                        "来源地址失败次数过多，请稍后再试 / Too many failures from this address; retry later",
                    );
                }
                if !NO_DATABASE.contains(&path.as_str()) {
                    add("503", "数据库暂不可用 / The database is unavailable");
                }
            }
        }
    }
}
