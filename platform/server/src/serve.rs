//! Starting the platform and serving it with graceful shutdown.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use std::sync::Arc;

use civitas_crypto::sm2::PrivateKey;
use civitas_identity::{AccountKind, IdentityError, NewAccount, SignInSettings};
use civitas_storage::Database;
use civitas_tenancy::{ConfigErrors, TenantTree};
use civitas_vault::Keyring;

use crate::config::Settings;

/// The platform-meta key recording that the demo data was seeded.
pub const DEMO_SEEDED_KEY: &str = "demo.seeded_at";

/// Why the platform did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The tenant tree is invalid; the server does not start half-configured.
    #[error("{0}")]
    Tenants(ConfigErrors),
    /// The database could not be reached, migrated or loaded.
    #[error("{0}")]
    Database(#[from] civitas_storage::StorageError),
    /// The start could not be audited (the server does not run unaudited).
    #[error("无法写入审计记录 (cannot write the audit record): {0}")]
    Audit(String),
    /// The master key is missing or unusable, or tenant keys cannot be
    /// provisioned with it.
    #[error("{0}")]
    Keys(#[from] civitas_vault::VaultError),
    /// The authorization policy or the grants cannot be loaded.
    #[error("授权策略无法加载 (the authorization policy cannot be loaded): {0}")]
    Policy(String),
    /// The tenant tree has no root.
    #[error("租户树为空 (the tenant tree is empty)")]
    EmptyTree,
    /// The document store cannot be opened.
    #[error("申请材料存储无法打开 (the document store cannot be opened): {0}")]
    Documents(#[from] civitas_documents::DocumentError),
    /// The demo data could not be seeded.
    #[error("演示数据写入失败 (seeding the demo failed): {0}")]
    Demo(String),
    /// The platform's SM2 key cannot be read.
    #[error("平台签名密钥无法加载 (the platform signing key cannot be loaded): {0}")]
    PlatformKey(String),
    /// The service catalog or the module host cannot be set up.
    #[error("业务模块运行环境无法启动 (the module runtime cannot start): {0}")]
    Modules(String),
    /// A flow definition or the holiday calendar is invalid.
    #[error("流程或工作日历无效 (invalid flows or working-day calendar): {0}")]
    Workflow(String),
    /// The tree revision to serve cannot be settled: the local tenants
    /// directory is older than the database's, was never applied, or a
    /// stored revision does not verify.
    #[error("{0}")]
    TreeRevision(crate::tree_revisions::RevisionError),
    /// The settings overrides cannot be read.
    #[error("租户设置无法加载 (the tenant settings overrides cannot be loaded): {0}")]
    Settings(String),
    /// The data directory could not be created.
    #[error("无法创建数据目录 (cannot create the data directory) {0}")]
    DataDir(String),
    /// The search index cannot be opened (or the Meilisearch server
    /// reached).
    #[error("检索服务无法启动 (search cannot start): {0}")]
    Search(String),
}

/// A started platform: the database, migrated and loaded with the tree.
pub struct Platform {
    /// The database.
    pub db: Database,
    /// The tenant tree that was loaded.
    pub tree: TenantTree,
    /// The tree revision it is.
    pub revision: i64,
    /// The tree as served while running: [`crate::tree_revisions::follow`]
    /// replaces it when a new revision lands.
    pub shared_tree: civitas_tenancy::SharedTree,
    /// The tenants' keys, under the master key.
    pub keyring: Arc<Keyring>,
    /// The platform's SM2 key, if configured: it signs audit anchors and
    /// access tokens.
    pub platform_key: Option<Arc<PrivateKey>>,
    /// Where sign-in attempts on unknown usernames are audited.
    pub realm: civitas_tenancy::TenantPath,
    /// The decision index over every stored grant.
    pub authorizer: Arc<std::sync::RwLock<civitas_authz::Authorizer>>,
    /// The grants version the index was built at.
    pub grants_version: i64,
    /// The module runtime: service catalog, host, loaded versions.
    pub modules: Arc<civitas_registry::Runtime>,
    /// The workflow engine: flows, calendar, module hooks.
    pub workflow: Arc<civitas_workflow::Workflow>,
    /// Search: the engine and the indexer that feeds it from the outbox
    /// (the caller runs [`civitas_search_indexer::Indexer::run`]); `None`
    /// when the Meilisearch server could not be reached at start.
    pub search: Option<civitas_search_indexer::Indexer>,
    /// Supporting documents of cases, by SM3 digest (`<data_dir>/documents`).
    pub documents: civitas_documents::DocumentStore,
    /// Official documents' templates, checked against the services.
    pub templates: Arc<civitas_seal::template::TemplateCatalog>,
}

/// Validates the tenants directory, connects, migrates, settles the tree
/// revision to serve (the local directory must be the database's newest
/// revision, or becomes it on an empty database or with `apply_tenants`;
/// see [`crate::tree_revisions`]) and, with `demo`, seeds the demo data.
/// Refuses to go on at the first failure.
pub async fn start(
    settings: &Settings,
    demo: bool,
    apply_tenants: bool,
) -> Result<Platform, StartError> {
    let local =
        crate::tree_revisions::LocalTree::read(&settings.tenants_dir).map_err(|e| match e {
            crate::tree_revisions::RevisionError::Invalid(errors) => StartError::Tenants(errors),
            other => StartError::TreeRevision(other),
        })?;
    let tree = local.tree.clone();
    let realm = realm(&tree).ok_or(StartError::EmptyTree)?;
    // Flows and the calendar are configuration too: checked before the
    // database is touched.
    let modules = Arc::new(start_modules(settings)?);
    let shared = civitas_tenancy::SharedTree::new(tree.clone());
    let workflow = Arc::new(start_workflow(&settings.tenants_dir, &shared, &modules)?);
    let templates = Arc::new(load_templates(&settings.tenants_dir, &workflow, &modules)?);
    if settings.uses_sqlite() {
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|e| StartError::DataDir(format!("{}: {e}", settings.data_dir.display())))?;
    }
    let (master, source) = crate::keys::load_master_keys(settings, demo)?;
    match &source {
        crate::keys::MasterKeySource::Generated(path) => tracing::warn!(
            path = %path.display(),
            "已为演示生成主密钥，生产环境请使用独立保管的密钥 (generated a master key for the demo; in production keep the master key apart from the data)"
        ),
        source => tracing::info!(
            ?source,
            key_id = civitas_vault::MasterKeyProvider::current_id(&master),
            "master key loaded"
        ),
    }
    let keyring = Arc::new(Keyring::new(Arc::new(master)));
    let platform_key = load_platform_key(settings, demo)?;
    let db = Database::connect_with(
        &settings.database_url,
        &civitas_storage::PoolSettings {
            max_connections: settings.db_max_connections,
            ..civitas_storage::PoolSettings::default()
        },
    )
    .await?;
    let applied = db.migrate().await?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    let settled = crate::tree_revisions::settle_at_start(
        &db,
        local,
        platform_key.as_deref(),
        apply_tenants,
        "system:serve",
    )
    .await
    .map_err(|e| match e {
        crate::tree_revisions::RevisionError::Storage(e) => StartError::Database(e),
        other => StartError::TreeRevision(other),
    })?;
    let report = settled.applied.clone().unwrap_or_default();
    tracing::info!(
        revision = settled.revision,
        tenants = settled.tree.len(),
        applied = settled.applied.is_some(),
        retired = report.retired,
        "tenant tree loaded"
    );
    let revision = settled.revision;
    crate::tree_revisions::load_overrides(&db, &shared)
        .await
        .map_err(|e| StartError::Settings(e.to_string()))?;
    let tenants: Vec<_> = tree.iter().map(|t| t.path.clone()).collect();
    // A node with another master key than the database's keys were wrapped
    // with refuses to start, before it provisions or seals anything.
    civitas_vault::check_master_keys(&db, &keyring).await?;
    let provisioned = civitas_vault::provision(&db, &keyring, &tenants).await?;
    if provisioned != civitas_vault::ProvisionReport::default() {
        tracing::info!(
            data_keys = provisioned.data_keys,
            index_keys = provisioned.index_keys,
            "tenant keys provisioned"
        );
    }
    record_start(&db, &tree, revision, &report).await?;
    if demo {
        seed_demo(&db, &tree, &settings.sign_in(realm.clone())).await?;
        crate::demo_modules::seed_demo_modules(&db, &tree, &modules, &settings.demo_modules_dir)
            .await?;
        if let Some(key) = &platform_key {
            seed_demo_seals(&db, &keyring, &tree, key).await?;
        }
    }
    preload_modules(&db, &modules).await?;
    if db.platform_meta(DEMO_SEEDED_KEY).await?.is_some() {
        tracing::warn!(
            "演示数据已加载，切勿用于生产 (demo data is loaded: never use this database in production)"
        );
    }
    let permissions = civitas_authz::Permissions::parse(civitas_authz::BASE_POLICY)
        .map_err(|e| StartError::Policy(e.to_string()))?;
    let grants_version = civitas_authz::grants_version(&db)
        .await
        .map_err(|e| StartError::Policy(e.to_string()))?;
    let grants = civitas_authz::load_grants(&db)
        .await
        .map_err(|e| StartError::Policy(e.to_string()))?;
    tracing::info!(grants = grants.len(), "authorization index built");
    let roots: Vec<_> = tree.roots().map(|t| t.path.clone()).collect();
    let search = match crate::search::start_indexer(
        &settings.search,
        &db,
        &modules,
        &workflow,
        &roots,
        std::time::Duration::from_secs(settings.search_takeover_secs),
        // The node serves at once: a rebuild its index needs is its
        // indexer's first turn, its searches answering 503
        // `search_rebuilding` meanwhile, and one that fails is tried again.
        civitas_search_indexer::RebuildAt::NextTurn,
    )
    .await
    {
        Ok(search) => {
            tracing::info!(backend = search.engine().backend(), "search ready");
            if matches!(settings.search, crate::search::SearchConfig::Tantivy { .. })
                && db.backend() == civitas_storage::Backend::Postgres
            {
                tracing::warn!(
                    "内置检索索引只属于本节点：一个数据库同一时间只有一个内置索引接收变更，其他节点的内置索引待命。多个节点请共用 Meilisearch (--meili-url) (the embedded search index belongs to this node: one embedded index at a time applies a database's changes and other nodes' embedded indexes stand by; several nodes should share a Meilisearch server, --meili-url)"
                );
            }
            Some(search)
        }
        // A search server that is down does not keep the platform down:
        // changes wait in the outbox, search answers 503 until a restart
        // finds the server again.
        Err(e)
            if matches!(
                settings.search,
                crate::search::SearchConfig::Meilisearch { .. }
            ) =>
        {
            tracing::error!(error = %e, "检索服务不可用，平台在无检索的情况下启动 (search is unavailable: serving without it; changes wait in the outbox)");
            None
        }
        Err(e) => return Err(StartError::Search(e.to_string())),
    };
    let authorizer = Arc::new(std::sync::RwLock::new(civitas_authz::Authorizer::new(
        permissions,
        grants,
    )));
    let documents = civitas_documents::DocumentStore::local(&settings.data_dir.join("documents"))?;
    Ok(Platform {
        db,
        tree,
        revision,
        shared_tree: shared,
        keyring,
        platform_key,
        realm,
        authorizer,
        grants_version,
        modules,
        workflow,
        search,
        documents,
        templates,
    })
}

/// The workflow engine: the holiday calendar
/// (`TENANTS_DIR/_reference/holidays.toml`, else the shipped one) and every
/// flow, checked against the tree, the roles of `policies/base.csv` and
/// the module services.
pub fn start_workflow(
    tenants_dir: &std::path::Path,
    shared: &civitas_tenancy::SharedTree,
    modules: &Arc<civitas_registry::Runtime>,
) -> Result<civitas_workflow::Workflow, StartError> {
    let tree = shared.current();
    let tree = tree.as_ref();
    let calendar = civitas_calendar::Calendar::for_tenants_dir(tenants_dir)
        .map_err(|e| StartError::Workflow(e.to_string()))?;
    for tenant in tree.iter() {
        civitas_workflow::local_days(tree, &tenant.path).map_err(StartError::Workflow)?;
    }
    let permissions = civitas_authz::Permissions::parse(civitas_authz::BASE_POLICY)
        .map_err(|e| StartError::Policy(e.to_string()))?;
    let roles = permissions.roles().map(str::to_owned).collect();
    let module_services = modules
        .catalog()
        .services()
        .map(|s| (s.id.clone(), s.output_fields()))
        .collect();
    let flows = civitas_workflow::FlowCatalog::load(
        tenants_dir,
        &civitas_workflow::flow::Context {
            tree,
            roles: &roles,
            module_services: &module_services,
        },
    )
    .map_err(|e| StartError::Workflow(e.to_string()))?;
    let (first, last) = calendar.coverage();
    tracing::info!(
        flows = flows.flows().len(),
        calendar = format!("{first}–{last}"),
        provisional = ?calendar.provisional_years(),
        "flows and working-day calendar loaded"
    );
    Ok(civitas_workflow::Workflow::new(
        flows,
        shared.clone(),
        calendar,
        Some(modules.clone()),
    ))
}

/// What an operator's command over recorded cases needs (`audit replay`,
/// `module what-if`, `search reindex`): the tree from the tenants
/// directory, the module runtime and the workflow over them.
pub struct Offline {
    /// The tenant tree.
    pub tree: TenantTree,
    /// The module runtime.
    pub modules: Arc<civitas_registry::Runtime>,
    /// The workflow engine.
    pub workflow: civitas_workflow::Workflow,
}

/// Starts what an operator's command needs (see [`Offline`]).
pub fn offline(settings: &Settings) -> Result<Offline, StartError> {
    let tree = TenantTree::load(&settings.tenants_dir)
        .map_err(|errors| StartError::Workflow(errors.to_string()))?;
    let modules = Arc::new(start_modules(settings)?);
    let shared = civitas_tenancy::SharedTree::new(tree.clone());
    let workflow = start_workflow(&settings.tenants_dir, &shared, &modules)?;
    Ok(Offline {
        tree,
        modules,
        workflow,
    })
}

/// The notifier of this node: the notice texts from the tenants
/// directory, SMS and e-mail where configured. A wrong text or gateway
/// setting refuses the start (exit 2), naming it.
pub fn start_notifier(
    settings: &Settings,
    platform: &Platform,
) -> Result<civitas_notify::Notifier, civitas_notify::NotifyError> {
    let templates = civitas_notify::Templates::load(&settings.tenants_dir)?;
    let lease = Duration::from_secs(settings.notify_lease_secs);
    // A gateway's answer always comes (or fails) within the lease.
    let timeout = lease / 2;
    let sms = settings
        .sms
        .as_ref()
        .map(|sms| {
            civitas_notify::sms::SmsGateway::new(civitas_notify::sms::SmsSettings {
                endpoint: sms.url.clone(),
                access_key_id: sms.access_key_id.clone(),
                access_key_secret: sms.access_key_secret.clone(),
                sign_name: sms.sign_name.clone(),
                region: sms.region.clone(),
                timeout,
            })
        })
        .transpose()?;
    let mail = settings
        .mail
        .as_ref()
        .map(|mail| {
            civitas_notify::mail::Mailer::new(&civitas_notify::mail::MailSettings {
                relay: mail.url.clone(),
                from: mail.from.clone(),
                timeout,
            })
        })
        .transpose()?;
    if let Some(sms) = &settings.sms {
        tracing::info!(url = %sms.url, sign_name = %sms.sign_name, "notices go out by SMS");
    }
    if let Some(mail) = &settings.mail {
        tracing::info!(relay = %mail.url, from = %mail.from, "notices go out by e-mail");
    }
    Ok(civitas_notify::Notifier::new(
        platform.db.clone(),
        platform.keyring.clone(),
        Arc::new(templates),
        Arc::new(platform.shared_tree.clone()),
        sms,
        mail,
    )
    .with_lease(lease))
}

/// Fires due workflow timers every `interval` (reminders, overdue marking,
/// escalation); several servers may run this on one database, each timer
/// fires once.
pub async fn fire_timers_periodically(db: Database, interval: Duration) {
    let worker = format!(
        "{}:{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "civitas".into()),
        std::process::id()
    );
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = chrono::Utc::now().timestamp_micros();
        match civitas_workflow::timers::fire_due(&db, now, 100, &worker).await {
            Ok(fired) if !fired.is_empty() => {
                tracing::info!(fired = fired.len(), "workflow timers fired")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "定时器处理失败 (firing workflow timers failed)"),
        }
    }
}

/// The service catalog (from the tenants directory) and the module host
/// (compiled code cached in the module cache directory).
pub fn start_modules(settings: &Settings) -> Result<civitas_registry::Runtime, StartError> {
    let catalog = civitas_services::Catalog::load(&settings.tenants_dir)
        .map_err(|e| StartError::Modules(e.to_string()))?;
    let host = civitas_host::ModuleHost::new(civitas_host::HostConfig {
        cache_dir: Some(settings.module_cache_dir.clone()),
        ..civitas_host::HostConfig::default()
    })
    .map_err(|e| StartError::Modules(e.to_string()))?;
    tracing::info!(
        services = catalog.services().count(),
        "service catalog loaded"
    );
    Ok(civitas_registry::Runtime::new(host, catalog))
}

/// Loads every bound module version before serving (from the compiled-code
/// cache when present), so the first requests do not wait for compilation.
pub async fn preload_modules(
    db: &Database,
    modules: &civitas_registry::Runtime,
) -> Result<(), StartError> {
    let mut tx = db.begin_platform_read().await?;
    let (count, took) = modules
        .preload(&mut tx)
        .await
        .map_err(|e| StartError::Modules(e.to_string()))?;
    tracing::info!(
        versions = count,
        millis = took.as_millis() as u64,
        "bound module versions loaded"
    );
    Ok(())
}

/// Audits the start and the configuration it loaded, in each root's chain
/// (MLPS level 3 asks for system starts and configuration changes).
async fn record_start(
    db: &Database,
    tree: &TenantTree,
    revision: i64,
    report: &civitas_storage::SyncReport,
) -> Result<(), StartError> {
    for root in tree.roots() {
        let scope = civitas_storage::TenantScope::for_platform_task(root.path.clone());
        let mut tx = db.begin(&scope).await?;
        let event = civitas_audit::NewEvent {
            actor: "system".into(),
            action: "system.start".into(),
            target: root.path.to_string(),
            detail: serde_json::json!({
                "version": env!("CARGO_PKG_VERSION"),
                "tenants": tree.subtree(&root.path).count(),
                "tree_revision": revision,
                "retired": report.retired,
                "settings_written": report.settings_written,
                "settings_removed": report.settings_removed,
            }),
        };
        civitas_audit::record(&mut tx, &root.path, &event)
            .await
            .map_err(|e| StartError::Audit(e.to_string()))?;
        tx.commit().await?;
    }
    Ok(())
}

/// The password of every demo account (README lists them; never in
/// production: the server warns while demo data exists).
pub const DEMO_PASSWORD: &str = "Civitas#2026";

/// A demo account: username, kind, tenant, line, display name, and the
/// role it is granted on its tenant's subtree (in its line, or all lines).
type DemoAccount = (
    &'static str,
    AccountKind,
    &'static str,
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
);

/// The demo accounts.
const DEMO_ACCOUNTS: &[DemoAccount] = &[
    (
        "city-admin",
        AccountKind::Staff,
        "310000",
        None,
        "上海市平台管理员",
        Some("tenant-admin"),
    ),
    (
        "pudong-reviewer",
        AccountKind::Staff,
        "310000/310115",
        Some("civil-affairs"),
        "浦东新区民政审核员",
        Some("reviewer"),
    ),
    (
        "lujiazui-officer",
        AccountKind::Staff,
        "310000/310115/310115005",
        Some("civil-affairs"),
        "陆家嘴街道民政专员",
        Some("officer"),
    ),
    (
        "community-officer",
        AccountKind::Staff,
        "310000/310115/310115005/310115005001",
        Some("civil-affairs"),
        "陆家嘴演示社区一民政专员",
        Some("officer"),
    ),
    (
        "huangpu-reviewer",
        AccountKind::Staff,
        "310000/310101",
        Some("civil-affairs"),
        "黄浦区民政审核员",
        Some("reviewer"),
    ),
    (
        "city-hr-dispatcher",
        AccountKind::Staff,
        "310000",
        Some("hr-social-security"),
        "上海市人社局线索分派员",
        Some("reviewer"),
    ),
    (
        "pudong-hr-inspector",
        AccountKind::Staff,
        "310000/310115",
        Some("hr-social-security"),
        "浦东新区劳动监察员",
        Some("reviewer"),
    ),
    (
        "huangpu-hr-inspector",
        AccountKind::Staff,
        "310000/310101",
        Some("hr-social-security"),
        "黄浦区劳动监察员",
        Some("reviewer"),
    ),
    // 安薪预警 (seed 000 L376–381): Pudong's inspector assigns a warning to
    // a street, whose officer verifies it on site.
    (
        "lujiazui-hr-officer",
        AccountKind::Staff,
        "310000/310115/310115005",
        Some("hr-social-security"),
        "陆家嘴街道劳动保障监察协管员",
        Some("officer"),
    ),
    (
        "pudong-hr-officer",
        AccountKind::Staff,
        "310000/310115",
        Some("hr-social-security"),
        "浦东新区人社受理员",
        Some("officer"),
    ),
    (
        "pudong-hr-head",
        AccountKind::Staff,
        "310000/310115",
        Some("hr-social-security"),
        "浦东新区人社局负责人",
        Some("tenant-admin"),
    ),
    (
        "pudong-market-officer",
        AccountKind::Staff,
        "310000/310115",
        Some("market-regulation"),
        "浦东新区市场监管执法员",
        Some("officer"),
    ),
    (
        "pudong-market-reviewer",
        AccountKind::Staff,
        "310000/310115",
        Some("market-regulation"),
        "浦东新区市场监管法制审核员",
        Some("reviewer"),
    ),
    (
        "huangpu-market-officer",
        AccountKind::Staff,
        "310000/310101",
        Some("market-regulation"),
        "黄浦区市场监管执法员",
        Some("officer"),
    ),
    (
        "huangpu-market-reviewer",
        AccountKind::Staff,
        "310000/310101",
        Some("market-regulation"),
        "黄浦区市场监管法制审核员",
        Some("reviewer"),
    ),
    // 市级人才公寓配租 (seed 003): each district's housing office checks and
    // admits applications, and its reviewer draws the lottery; Pudong's
    // waiting list is scored by Pudong's rule, Xuhui's by the city's.
    (
        "pudong-housing-officer",
        AccountKind::Staff,
        "310000/310115",
        Some("housing"),
        "浦东新区住房保障经办人",
        Some("officer"),
    ),
    (
        "pudong-housing-reviewer",
        AccountKind::Staff,
        "310000/310115",
        Some("housing"),
        "浦东新区住房保障审核员",
        Some("reviewer"),
    ),
    (
        "xuhui-housing-officer",
        AccountKind::Staff,
        "310000/310104",
        Some("housing"),
        "徐汇区住房保障经办人",
        Some("officer"),
    ),
    (
        "xuhui-housing-reviewer",
        AccountKind::Staff,
        "310000/310104",
        Some("housing"),
        "徐汇区住房保障审核员",
        Some("reviewer"),
    ),
    // 大竹县 (seed 001): a township window serving two lines, the county's
    // reviewers, Dazhou's, and a resident of 观音镇.
    (
        "wumu-window",
        AccountKind::Staff,
        "510000/511700/511724/511724101",
        Some("hr-social-security"),
        "乌木镇便民服务中心综合窗口",
        Some("officer"),
    ),
    (
        "dazhu-hr-reviewer",
        AccountKind::Staff,
        "510000/511700/511724",
        Some("hr-social-security"),
        "大竹县人社局审核员",
        Some("reviewer"),
    ),
    (
        "dazhu-civil-reviewer",
        AccountKind::Staff,
        "510000/511700/511724",
        Some("civil-affairs"),
        "大竹县民政局审核员",
        Some("reviewer"),
    ),
    (
        "dazhou-hr-reviewer",
        AccountKind::Staff,
        "510000/511700",
        Some("hr-social-security"),
        "达州市人社局审核员",
        Some("reviewer"),
    ),
    (
        "dazhu-citizen",
        AccountKind::Citizen,
        "510000/511700/511724/511724109",
        None,
        "大竹县演示居民",
        None,
    ),
    (
        "citizen-demo",
        AccountKind::Citizen,
        "310000/310115/310115005",
        None,
        "演示居民",
        None,
    ),
    (
        "enterprise-demo",
        AccountKind::Enterprise,
        "310000/310115",
        None,
        "演示企业",
        None,
    ),
    (
        "module-dev",
        AccountKind::Developer,
        "310000",
        None,
        "演示模块开发者",
        Some("module-developer"),
    ),
    (
        "sys-admin",
        AccountKind::Staff,
        "310000",
        None,
        "系统管理员",
        Some("sys-admin"),
    ),
    (
        "sec-admin",
        AccountKind::Staff,
        "310000",
        None,
        "安全管理员",
        Some("sec-admin"),
    ),
    (
        "audit-admin",
        AccountKind::Staff,
        "310000",
        None,
        "审计管理员",
        Some("audit-admin"),
    ),
    // Sichuan's own three administrators: a province deployed on the same
    // platform administers its subtree apart from Shanghai's.
    (
        "sc-sys-admin",
        AccountKind::Staff,
        "510000",
        None,
        "四川省系统管理员",
        Some("sys-admin"),
    ),
    (
        "sc-sec-admin",
        AccountKind::Staff,
        "510000",
        None,
        "四川省安全管理员",
        Some("sec-admin"),
    ),
];

/// The chain that records sign-in attempts on unknown usernames: the first
/// root of the tree (a loaded tree always has one).
pub fn realm(tree: &TenantTree) -> Option<civitas_tenancy::TenantPath> {
    tree.roots().next().map(|root| root.path.clone())
}

/// Grants beyond each demo account's own: a township window that one person
/// staffs for several of the bureaus' lines (seed 001, L1574: "1人同时对应
/// 人社局多个业务主管部门"). Username, line, role.
const DEMO_EXTRA_GRANTS: &[(&str, &str, &str)] = &[("wumu-window", "civil-affairs", "officer")];

/// Seeds the demo city, once: running it again changes nothing.
///
/// The demo city's tree is the tenants directory itself (Shanghai with
/// Pudong, Huangpu and Xuhui and their streets; Sichuan down to Dazhu
/// county); this records that the installation is a demo, so that every
/// later start warns about it, and creates the demo accounts (all with
/// [`DEMO_PASSWORD`]) that do not exist yet. Roles for them arrive with the
/// authorization work.
pub async fn seed_demo(
    db: &Database,
    tree: &TenantTree,
    settings: &SignInSettings,
) -> Result<(), StartError> {
    let now = chrono::Utc::now().to_rfc3339();
    if db.record_platform_meta_once(DEMO_SEEDED_KEY, &now).await? {
        tracing::info!("demo city seeded");
    }
    let permissions = civitas_authz::Permissions::parse(civitas_authz::BASE_POLICY)
        .map_err(|e| StartError::Demo(e.to_string()))?;
    // Every demo account has the published demo password: hashed once, not
    // once per account at every start (~40 × 35 ms).
    let password = civitas_identity::HashedPassword::new(settings, DEMO_PASSWORD)
        .map_err(|e| StartError::Demo(e.to_string()))?;
    for (username, kind, tenant, line, name, role) in DEMO_ACCOUNTS {
        let Ok(tenant) = civitas_tenancy::TenantPath::parse(tenant) else {
            continue;
        };
        if tree.get(&tenant).is_none() {
            continue; // a trimmed tenants directory
        }
        let account = NewAccount {
            username: (*username).to_owned(),
            kind: *kind,
            tenant_path: tenant,
            line: line.map(str::to_owned),
            display_name: (*name).to_owned(),
            password: DEMO_PASSWORD.to_owned(),
            must_change_password: false,
        };
        // An account from an earlier demo start gets its role too (grants
        // are idempotent), so older demo databases are repaired.
        let created =
            match civitas_identity::create_account_with(db, &account, &password, "system:demo")
                .await
            {
                Ok(created) => {
                    tracing::info!(username, "demo account created");
                    created
                }
                Err(IdentityError::UsernameTaken(_)) => {
                    match civitas_identity::find_account(db, username).await {
                        Ok(Some(existing)) => existing,
                        Ok(None) => continue,
                        Err(e) => return Err(StartError::Demo(e.to_string())),
                    }
                }
                Err(e) => return Err(StartError::Demo(e.to_string())),
            };
        if let Some(role) = role {
            let grant = civitas_authz::Grant {
                account: created.id,
                tenant: account.tenant_path.clone(),
                line: line.unwrap_or(civitas_authz::ALL_LINES).to_owned(),
                role: (*role).to_owned(),
            };
            civitas_authz::add_grant(db, &permissions, &grant, "system:demo")
                .await
                .map_err(|e| StartError::Demo(e.to_string()))?;
            for (_, line, role) in DEMO_EXTRA_GRANTS.iter().filter(|g| g.0 == *username) {
                let grant = civitas_authz::Grant {
                    line: (*line).to_owned(),
                    role: (*role).to_owned(),
                    ..grant.clone()
                };
                civitas_authz::add_grant(db, &permissions, &grant, "system:demo")
                    .await
                    .map_err(|e| StartError::Demo(e.to_string()))?;
            }
        }
    }
    Ok(())
}

/// The demo's seals: each district (a root's child) gets one per line, named
/// as the bureau signs — root, district, line, 局 (上海市浦东新区市场监督管理局).
/// Made once: a line that has an active seal keeps it.
pub async fn seed_demo_seals(
    db: &Database,
    keyring: &civitas_vault::Keyring,
    tree: &TenantTree,
    platform_key: &civitas_crypto::sm2::PrivateKey,
) -> Result<(), StartError> {
    let now = chrono::Utc::now();
    for root in tree.roots() {
        for district in tree.children(&root.path) {
            for line in tree
                .lines()
                .iter()
                .filter(|l| district.lines.contains(&l.code))
            {
                let scope = civitas_storage::TenantScope::for_platform_task(district.path.clone());
                let request = civitas_seal::store::NewSealRequest {
                    line: line.code.clone(),
                    name: format!("{}{}{}局", root.name, district.name, line.name),
                    years: 5,
                };
                match civitas_seal::store::make(
                    db,
                    keyring,
                    &scope,
                    platform_key,
                    "system:demo",
                    &request,
                    now,
                )
                .await
                {
                    Ok(seal) => tracing::info!(seal = seal.id, "demo seal made"),
                    Err(civitas_seal::store::StoreError::SealExists(..)) => {}
                    Err(e) => return Err(StartError::Demo(e.to_string())),
                }
            }
        }
    }
    Ok(())
}

/// Loads the document templates beside the flows and checks each
/// placeholder against its service: `input.F` a field of the service's
/// input schema, `outcome.H.F` a field the module service of hook H of
/// the service's flow (or a variant's) answers with.
pub fn load_templates(
    tenants_dir: &std::path::Path,
    workflow: &civitas_workflow::Workflow,
    modules: &civitas_registry::Runtime,
) -> Result<civitas_seal::template::TemplateCatalog, StartError> {
    let flows = workflow.flows().flows();
    let services: Vec<String> = flows.iter().map(|f| f.service.clone()).collect();
    let catalog = civitas_seal::template::TemplateCatalog::load(tenants_dir, &services)
        .map_err(|problems| StartError::Workflow(problems.join("\n")))?;
    let problems = catalog.check(|template, name| {
        if let Some(field) = name.strip_prefix("input.") {
            return modules
                .catalog()
                .service(&template.service)
                .and_then(|s| s.input_schema.pointer(&format!("/properties/{field}")))
                .is_some();
        }
        let Some((hook, field)) = name
            .strip_prefix("outcome.")
            .and_then(|rest| rest.split_once('.'))
        else {
            return false;
        };
        flows
            .iter()
            .filter(|f| f.service == template.service)
            .flat_map(|f| f.hooks.iter())
            .filter(|h| h.name == hook)
            .any(|h| {
                modules
                    .catalog()
                    .service(&h.service)
                    .is_some_and(|s| s.output_fields().contains(field))
            })
    });
    if problems.is_empty() {
        Ok(catalog)
    } else {
        Err(StartError::Workflow(problems.join("\n")))
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops
/// accepting connections and lets requests in flight finish, for at most
/// `grace`. The listener is a `TcpListener`, or a
/// [`crate::tls::TlsListener`] wrapped by `ListenerExt::tap_io` (which
/// gives handlers the peer's address through `ConnectInfo`).
pub async fn run_server<L>(
    listener: L,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
    for<'a> std::net::SocketAddr:
        axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        tracing::info!(
            grace_secs = grace.as_secs(),
            "shutting down: finishing requests in flight"
        );
        let _ = signalled_tx.send(());
    };
    // The peer address reaches handlers: API keys may be limited to
    // source networks.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown);
    let server = std::pin::pin!(server.into_future());
    let deadline = async move {
        if signalled_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!("shutdown grace period over: dropping requests still in flight");
            Ok(())
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

/// Loads the platform's SM2 key from its file; the demo generates one
/// (with its public key beside it) when missing. Without one the platform
/// runs, but no audit anchors are signed and sign-in answers 503 — it
/// says so.
/// The platform's SM2 key from its file; `None` (with a warning) when the
/// file does not exist, except for the demo, which generates one.
pub fn load_platform_key(
    settings: &Settings,
    demo: bool,
) -> Result<Option<Arc<PrivateKey>>, StartError> {
    let path = &settings.platform_key_file;
    let failed =
        |e: &dyn std::fmt::Display| StartError::PlatformKey(format!("{}: {e}", path.display()));
    if !path.exists() {
        if !demo {
            tracing::warn!(
                path = %path.display(),
                "没有平台签名密钥，审计链不会定期签名锚定，登录不可用；请用 civitas crypto sm2 keygen 生成 (no platform signing key: audit chains are not anchored and sign-in is unavailable; create one with `civitas crypto sm2 keygen --out FILE`)"
            );
            return Ok(None);
        }
        let key = PrivateKey::generate().map_err(|e| failed(&e))?;
        write_private(path, key.to_pkcs8_pem().map_err(|e| failed(&e))?.as_bytes())
            .map_err(|e| failed(&e))?;
        let public = key.public_key().to_spki_pem().map_err(|e| failed(&e))?;
        std::fs::write(path.with_extension("pub.pem"), public).map_err(|e| failed(&e))?;
        tracing::warn!(path = %path.display(), "generated a platform signing key for the demo");
        return Ok(Some(Arc::new(key)));
    }
    let pem = std::fs::read_to_string(path).map_err(|e| failed(&e))?;
    let key = PrivateKey::from_pkcs8_pem(&pem).map_err(|e| failed(&e))?;
    Ok(Some(Arc::new(key)))
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    // On PostgreSQL nothing else creates the data directory.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    crate::keys::create_private_file(path, false)?.write_all(bytes)
}

/// Signs the head of every chain that grew, every `interval`, until the
/// task is dropped. A failure is logged and retried at the next tick.
pub async fn anchor_periodically(db: Database, key: Arc<PrivateKey>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match civitas_audit::anchor(&db, &key).await {
            Ok(anchors) if !anchors.is_empty() => {
                tracing::info!(anchors = anchors.len(), "audit chains anchored")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "审计锚定失败 (audit anchoring failed)"),
        }
    }
}

/// How often `serve` writes the tally of refused API keys and forgets
/// sign-in failures and spent refresh tokens that no longer matter.
pub const GUARD_INTERVAL: Duration = Duration::from_secs(60);

/// Every `interval`, [`guard_sign_in_once`], until the task is dropped.
pub async fn guard_sign_in_periodically(
    db: Database,
    throttle: Arc<civitas_api::Throttle>,
    sign_in: SignInSettings,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: nothing is counted yet.
    ticker.tick().await;
    loop {
        ticker.tick().await;
        guard_sign_in_once(&db, &throttle, &sign_in).await;
    }
}

/// Writes the refused API keys counted in memory as one audit record in
/// the realm's chain, and forgets counted sign-in failures whose window
/// and lock are over and spent refresh tokens of ended sessions. A failure
/// is logged; what was counted is kept for the next round.
pub async fn guard_sign_in_once(
    db: &Database,
    throttle: &civitas_api::Throttle,
    sign_in: &SignInSettings,
) {
    match throttle.flush(db, &sign_in.realm).await {
        Ok(0) => {}
        Ok(refused) => tracing::info!(refused, "refused API keys audited"),
        Err(e) => {
            tracing::warn!(error = %e, "无法记录被拒绝的 API 密钥 (cannot audit refused API keys)")
        }
    }
    let now = chrono::Utc::now();
    if let Err(e) = civitas_identity::forget_old_failures(db, sign_in, now).await {
        tracing::warn!(error = %e, "cannot forget old sign-in failures");
    }
    if let Err(e) = civitas_identity::forget_spent_refresh_tokens(db, now).await {
        tracing::warn!(error = %e, "cannot forget spent refresh tokens");
    }
}

/// Reloads the authorization index whenever the grants change (on this
/// node or another): at once when `changes` announces it, and in any case
/// after a look every `interval` (the fallback for a notice lost with the
/// listening connection, and all there is on SQLite); a revoked grant
/// stops working everywhere as the change commits.
pub async fn refresh_authorizer_periodically(
    db: Database,
    authorizer: Arc<std::sync::RwLock<civitas_authz::Authorizer>>,
    changes: Arc<civitas_storage::changes::ChangeFeed>,
    mut version: i64,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = changes.changed(civitas_storage::changes::Change::Grants) => {}
        }
        let current = match civitas_authz::grants_version(&db).await {
            Ok(current) => current,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the grants version");
                continue;
            }
        };
        if current == version {
            continue;
        }
        match civitas_authz::load_grants(&db).await {
            Ok(grants) => {
                let count = grants.len();
                if let Ok(mut index) = authorizer.write() {
                    let permissions = index.permissions().clone();
                    *index = civitas_authz::Authorizer::new(permissions, grants);
                    version = current;
                    tracing::info!(grants = count, version, "authorization index reloaded");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot reload the grants"),
        }
    }
}
