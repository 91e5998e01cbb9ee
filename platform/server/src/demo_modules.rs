//! The demo city's modules: published by the demo module developer and
//! bound as the seeds' scenarios describe: for the meal subsidy and for
//! penalty discretion, the city's rule as the service default and the
//! Pudong variant at 浦东新区; for the flexible-employment subsidy, the
//! national rule as the default and 大竹县's variant at the county; for
//! talent-apartment allocation, the city's priority rule as the default and
//! Pudong's at 浦东新区; for wage-arrears warnings, the city's rules as the
//! default and Pudong's at 浦东新区; for the care subsidy granted without
//! application (免申即享), the city's rule as the default and Pudong's at
//! 浦东新区.

use std::path::Path;
use std::sync::Arc;

use civitas_registry::{ModuleRef, Publication, Runtime};
use civitas_storage::{Database, TenantScope, TenantTx};
use civitas_tenancy::{TenantPath, TenantTree};

use crate::serve::StartError;

/// A demo module: name, version, service, and where it is bound (`None`:
/// the service default).
type DemoModule = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

/// The demo's modules, built by `infra/dev/build-modules` into
/// `<demo modules dir>/<name>-<version>.wasm`.
pub const DEMO_MODULES: &[DemoModule] = &[
    ("meal-subsidy", "1.0.0", "civil-affairs/meal-subsidy", None),
    (
        "meal-subsidy-pudong",
        "1.0.0",
        "civil-affairs/meal-subsidy",
        Some("310000/310115"),
    ),
    (
        "flexible-employment-subsidy",
        "1.0.0",
        "hr-social-security/flexible-employment-subsidy",
        None,
    ),
    (
        "flexible-employment-subsidy-dazhu",
        "1.0.0",
        "hr-social-security/flexible-employment-subsidy",
        Some("510000/511700/511724"),
    ),
    (
        "penalty-discretion",
        "1.0.0",
        "market-regulation/penalty-case",
        None,
    ),
    (
        "penalty-discretion-pudong",
        "1.0.0",
        "market-regulation/penalty-case",
        Some("310000/310115"),
    ),
    (
        "talent-apartment",
        "1.0.0",
        "housing/talent-apartment",
        None,
    ),
    (
        "talent-apartment-pudong",
        "1.0.0",
        "housing/talent-apartment",
        Some("310000/310115"),
    ),
    ("care-subsidy", "1.0.0", "civil-affairs/care-subsidy", None),
    (
        "care-subsidy-pudong",
        "1.0.0",
        "civil-affairs/care-subsidy",
        Some("310000/310115"),
    ),
    (
        "wage-arrears-warning",
        "1.0.0",
        "hr-social-security/wage-arrears-warning",
        None,
    ),
    (
        "wage-arrears-warning-pudong",
        "1.0.0",
        "hr-social-security/wage-arrears-warning",
        Some("310000/310115"),
    ),
];

/// The account that publishes them.
const PUBLISHER: &str = "module-dev";

fn demo_error(error: impl std::fmt::Display) -> StartError {
    StartError::Demo(error.to_string())
}

/// Publishes and binds the demo modules that are not yet published or
/// bound; a missing component file is a warning (build them first), not a
/// failure. Idempotent.
///
/// Like the API, it compiles and runs conformance outside any write
/// transaction: a module is compiled before its publishing transaction
/// opens, and checked in a read transaction before the one that binds it.
/// Each write transaction looks again, so a concurrent start that got there
/// first is not repeated.
pub async fn seed_demo_modules(
    db: &Database,
    tree: &TenantTree,
    runtime: &Arc<Runtime>,
    dir: &Path,
) -> Result<(), StartError> {
    let Some(root) = tree.resolve("310000").map(|t| t.path.clone()) else {
        return Ok(()); // a trimmed tenants directory without Shanghai
    };
    let Some(publisher) = civitas_identity::find_account(db, PUBLISHER)
        .await
        .map_err(demo_error)?
    else {
        return Ok(());
    };
    let scope = TenantScope::for_platform_task(root.clone());
    let mut signing_key = None;
    for (name, version, service_id, bind_at) in DEMO_MODULES {
        let Ok(service) = runtime.service(service_id) else {
            tracing::warn!(
                service = service_id,
                "demo module's service is not in the catalog"
            );
            continue;
        };
        let module = ModuleRef {
            module: (*name).to_owned(),
            version: (*version).to_owned(),
        };
        if !published(db, &scope, &module).await? {
            let file = dir.join(format!("{name}-{version}.wasm"));
            let Ok(artifact) = std::fs::read(&file) else {
                tracing::warn!(
                    file = %file.display(),
                    "演示模块未构建，请先运行 infra/dev/build-modules (demo module not built: run infra/dev/build-modules)"
                );
                continue;
            };
            // Compiling takes time: on a blocking thread, before any transaction.
            let inspector = runtime.clone();
            let (artifact, info) = tokio::task::spawn_blocking(move || {
                let info = inspector.host().inspect(&artifact);
                (artifact, info)
            })
            .await
            .map_err(demo_error)?;
            let info = info.map_err(demo_error)?;
            let mut tx = db.begin(&scope).await?;
            if civitas_registry::module(&mut tx, name, version)
                .await
                .map_err(demo_error)?
                .is_none()
            {
                let key = match signing_key.take() {
                    Some(key) => key,
                    None => register_signing_key(&mut tx, &publisher.id).await?,
                };
                let digest = hex::encode(civitas_crypto::sm3::digest(&artifact));
                let message =
                    civitas_devkit::signing_message(name, version, service_id, &digest, PUBLISHER);
                let signature_hex = hex::encode(key.sign(&message).map_err(demo_error)?.to_der());
                signing_key = Some(key);
                civitas_registry::publish(
                    &mut tx,
                    &Publication {
                        name,
                        version,
                        service,
                        artifact: &artifact,
                        signature_hex: &signature_hex,
                        publisher_account: &publisher.id,
                        publisher: PUBLISHER,
                        info: &info,
                    },
                )
                .await
                .map_err(demo_error)?;
                tracing::info!(module = name, version, "demo module published");
            }
            tx.commit().await?;
        }
        let tenant = bind_at
            .map(TenantPath::parse)
            .transpose()
            .map_err(demo_error)?;
        if tenant.as_ref().is_some_and(|t| tree.get(t).is_none()) {
            continue; // a trimmed tenants directory
        }
        // A binding is written in the scope of its tenant's root (Sichuan's
        // for 大竹县), the service default at Shanghai's.
        let scope = match tenant.as_ref().and_then(|t| t.lineage().into_iter().next()) {
            Some(root) => TenantScope::for_platform_task(root),
            None => scope.clone(),
        };
        let mut read = db.begin_read(&scope).await?;
        if bound(&mut read, service_id, tenant.as_ref()).await? {
            read.rollback().await?;
            continue;
        }
        let settings_at = tenant.clone().unwrap_or_else(|| root.clone());
        let settings = Arc::new(tree.effective_settings(&settings_at));
        runtime
            .check_conformance(
                &mut read,
                &module,
                service,
                settings,
                civitas_registry::today_in_china(),
            )
            .await
            .map_err(demo_error)?;
        read.rollback().await?;
        let mut tx = db.begin(&scope).await?;
        if !bound(&mut tx, service_id, tenant.as_ref()).await? {
            civitas_registry::bind(
                &mut tx,
                tenant.as_ref(),
                service_id,
                &module,
                None,
                None,
                "system:demo",
            )
            .await
            .map_err(demo_error)?;
            tracing::info!(module = name, version, tenant = ?bind_at, "demo module bound");
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Whether `module` is published (a read transaction of its own).
async fn published(
    db: &Database,
    scope: &TenantScope,
    module: &ModuleRef,
) -> Result<bool, StartError> {
    let mut read = db.begin_read(scope).await?;
    let found = civitas_registry::module(&mut read, &module.module, &module.version)
        .await
        .map_err(demo_error)?
        .is_some();
    read.rollback().await?;
    Ok(found)
}

/// Whether `service` has a binding of its own at `tenant` (`None`: the
/// service default).
async fn bound(
    tx: &mut TenantTx,
    service: &str,
    tenant: Option<&TenantPath>,
) -> Result<bool, StartError> {
    Ok(civitas_registry::bindings(tx, Some(service))
        .await
        .map_err(demo_error)?
        .into_iter()
        .any(|b| b.tenant.as_deref() == tenant.map(TenantPath::as_str)))
}

/// Generates the demo publisher's signing key and registers it with proof
/// of possession, in the publishing transaction.
async fn register_signing_key(
    tx: &mut TenantTx,
    publisher_account: &str,
) -> Result<civitas_crypto::sm2::PrivateKey, StartError> {
    let key = civitas_crypto::sm2::PrivateKey::generate().map_err(demo_error)?;
    let public_key = key.public_key().to_hex();
    let proof = key
        .sign(&civitas_devkit::key_registration_message(
            PUBLISHER,
            &public_key,
        ))
        .map_err(demo_error)?;
    civitas_registry::register_signing_key(
        tx,
        publisher_account,
        PUBLISHER,
        &public_key,
        &hex::encode(proof.to_der()),
    )
    .await
    .map_err(demo_error)?;
    Ok(key)
}
