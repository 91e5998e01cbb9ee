//! Modules: the service catalog, signing keys, the registry, bindings per
//! tenant and evaluation.
//!
//! Who may do what: publishing and yanking need `module.publish` at a root
//! of the tree in the service's line (module developers, the system
//! administrator); binding needs `module.bind` at the tenant (its
//! administrator, the system administrator), the service default at a root;
//! evaluating needs `service.evaluate` at the tenant in the service's line
//! (officers and reviewers, API keys that carry it). Listing the catalog is
//! public; listing the registry needs any sign-in.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use civitas_registry::{Binding, ModuleRecord, ModuleRef, RegistryError};
use civitas_storage::{TenantRecord, TenantScope};
use civitas_tenancy::TenantPath;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::tenants::TenantParam;
use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::tenant::Tenant;

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> ApiError {
        let reply = ApiError::from_library(error.status(), error.code(), &error);
        match error {
            // A confined lane's slot comes free within a call's time limit.
            RegistryError::Confined { .. } => reply.with_retry_after(1),
            _ => reply,
        }
    }
}

fn invalid(zh: impl Into<String>, en: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", zh, en)
}

/// The effective settings of `tenant`: each key from the most specific node
/// on the path from the root down to the tenant.
fn effective_settings(
    tree: &civitas_tenancy::SharedTree,
    tenant: &TenantPath,
) -> Arc<Map<String, Value>> {
    Arc::new(tree.current().effective_settings(tenant))
}

/// Authorises `action` in `line` at the first root of the tree where the
/// caller holds it (the registry is platform-wide).
fn authorize_at_a_root(
    state: &AppState,
    caller: &Caller,
    line: &str,
    action: &str,
) -> Result<TenantScope, ApiError> {
    let tree = state.modules()?.tree.current();
    let mut refusal = None;
    for root in tree.roots() {
        match caller.authorize(state, &root.path, line, action) {
            Ok(scope) => return Ok(scope),
            Err(error) => refusal = Some(error),
        }
    }
    Err(refusal.unwrap_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("无权执行 {action}"),
            format!("Not allowed to {action}"),
        )
    }))
}

// ---------------------------------------------------------------- catalog

/// A service of the catalog.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServiceView {
    /// `line/name`.
    #[schema(example = "civil-affairs/meal-subsidy")]
    id: String,
    /// 中文名称.
    name: String,
    /// English name.
    name_en: String,
    /// The line of business.
    line: String,
    /// The world its modules implement.
    world: String,
    /// Fuel a call may use.
    fuel_budget: u64,
    /// What it decides.
    description: String,
    /// JSON Schema of the input.
    input_schema: Value,
    /// JSON Schema of the output.
    output_schema: Value,
    /// Example inputs.
    examples: Vec<Value>,
}

/// The catalog.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServiceList {
    /// By id.
    services: Vec<ServiceView>,
}

/// The service catalog: every service, its schemas and examples (public).
#[utoipa::path(get, path = "/api/v1/services", tag = "modules",
    responses(
        (status = 200, description = "服务目录 / The catalog", body = ServiceList),
        (status = 503, description = "未启用模块 / Modules not enabled", body = ErrorBody)
    ))]
pub(crate) async fn list_services(
    State(state): State<AppState>,
) -> Result<Json<ServiceList>, ApiError> {
    let runtime = &state.modules()?.runtime;
    Ok(Json(ServiceList {
        services: runtime
            .catalog()
            .services()
            .map(|service| ServiceView {
                id: service.id.clone(),
                name: service.name.clone(),
                name_en: service.name_en.clone(),
                line: service.line.clone(),
                world: service.world.clone(),
                fuel_budget: service.fuel_budget,
                description: service.description.clone(),
                input_schema: service.input_schema.clone(),
                output_schema: service.output_schema.clone(),
                examples: service.examples.iter().map(|e| e.input.clone()).collect(),
            })
            .collect(),
    }))
}

// ----------------------------------------------------------- signing keys

/// A publisher's SM2 public key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SigningKeyView {
    /// The key id.
    id: String,
    /// Uncompressed SEC1 hex (`04…`).
    public_key: String,
    /// When it was registered (RFC 3339).
    created_at: String,
}

impl From<civitas_registry::SigningKey> for SigningKeyView {
    fn from(key: civitas_registry::SigningKey) -> SigningKeyView {
        SigningKeyView {
            id: key.id,
            public_key: key.public_key,
            created_at: key.created_at.to_rfc3339(),
        }
    }
}

/// The caller's keys.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SigningKeyList {
    /// Oldest first.
    keys: Vec<SigningKeyView>,
}

/// A key to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSigningKey {
    /// SM2 public key, SEC1 hex.
    public_key: String,
    /// Proof of possession: the SM2 signature (hex) with this key over
    /// `civitas-signing-key-v1\nusername=<you>\npublic_key=<hex>\n`.
    /// `civitas module keygen --username <you>` prints both.
    proof: String,
}

/// Registers an SM2 public key for the caller; artifacts they publish must
/// be signed with one of their keys (`module.publish`).
#[utoipa::path(post, path = "/api/v1/signing-keys", tag = "modules",
    security(("bearer" = [])),
    request_body = NewSigningKey,
    responses(
        (status = 201, description = "已登记 / Registered", body = SigningKeyView),
        (status = 403, description = "无权发布模块 / Not a publisher", body = ErrorBody),
        (status = 422, description = "公钥无效 / Invalid key", body = ErrorBody)
    ))]
pub(crate) async fn register_signing_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewSigningKey>,
) -> Result<(StatusCode, Json<SigningKeyView>), ApiError> {
    let scope = authorize_at_a_root(&state, &caller, civitas_authz::NO_LINE, "module.publish")
        .or_else(|_| any_line_publisher(&state, &caller))?;
    let mut tx = state.db().begin(&scope).await?;
    let key = civitas_registry::register_signing_key(
        &mut tx,
        caller.account_id(),
        caller.username(),
        &request.public_key,
        &request.proof,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(key.into())))
}

/// A signing key in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct SigningKeyParam {
    /// 签名公钥编号 / The signing key's id.
    #[param(example = "sk_3f2a9c1d5e6b7a80")]
    id: String,
}

/// Revokes a signing key: its publisher's own (`module.publish`), or any
/// (`system.operate` at a root: the system administrator). Every version it
/// signed stops verifying at once on every node: not loaded again, and a
/// loaded one is dropped at its next call (502 `module_key_revoked`).
/// Audited as `signing_key.revoke`.
#[utoipa::path(delete, path = "/api/v1/signing-keys/{id}", tag = "modules",
    security(("bearer" = [])),
    params(SigningKeyParam),
    responses(
        (status = 204, description = "已吊销 / Revoked"),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "无此有效密钥 / No such live key of yours", body = ErrorBody),
        (status = 503, description = "模块运行环境不可用 / Modules unavailable", body = ErrorBody)
    ))]
pub(crate) async fn revoke_signing_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(SigningKeyParam { id }): Path<SigningKeyParam>,
) -> Result<StatusCode, ApiError> {
    state.modules()?;
    let (scope, owner) =
        match authorize_at_a_root(&state, &caller, civitas_authz::NO_LINE, "system.operate") {
            Ok(scope) => (scope, None),
            Err(_) => (
                authorize_at_a_root(&state, &caller, civitas_authz::NO_LINE, "module.publish")
                    .or_else(|_| any_line_publisher(&state, &caller))?,
                Some(caller.account_id()),
            ),
        };
    let mut tx = state.db().begin(&scope).await?;
    let revoked =
        civitas_registry::revoke_signing_key(&mut tx, &id, owner, caller.username()).await?;
    tx.commit().await?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "signing_key_not_found",
            "没有此有效签名公钥（或不属于您）",
            "No such live signing key (of yours)",
        ))
    }
}

/// A publisher may hold `module.publish` in one line only; registering a key
/// needs it in some line.
fn any_line_publisher(state: &AppState, caller: &Caller) -> Result<TenantScope, ApiError> {
    let mut refusal = None;
    let lines: std::collections::BTreeSet<String> = state
        .modules()?
        .runtime
        .catalog()
        .services()
        .map(|s| s.line.clone())
        .collect();
    for line in &lines {
        match authorize_at_a_root(state, caller, line, "module.publish") {
            Ok(scope) => return Ok(scope),
            Err(error) => refusal = Some(error),
        }
    }
    Err(refusal.unwrap_or_else(ApiError::internal))
}

/// The caller's registered signing keys.
#[utoipa::path(get, path = "/api/v1/signing-keys", tag = "modules",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "签名公钥 / The keys", body = SigningKeyList)
    ))]
pub(crate) async fn list_signing_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SigningKeyList>, ApiError> {
    state.modules()?;
    let mut tx = state.db().begin_platform_read().await?;
    let keys = civitas_registry::signing_keys(&mut tx, caller.account_id()).await?;
    Ok(Json(SigningKeyList {
        keys: keys.into_iter().map(Into::into).collect(),
    }))
}

// --------------------------------------------------------------- registry

/// A published module version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModuleView {
    /// The module's name.
    #[schema(example = "meal-subsidy-pudong")]
    name: String,
    /// Its version.
    #[schema(example = "1.0.0")]
    version: String,
    /// The service it implements.
    service: String,
    /// SM3 of the artifact (hex): its content address.
    digest: String,
    /// Size in bytes.
    size: i64,
    /// WIT package version.
    wit_version: String,
    /// The world it implements.
    world: String,
    /// Its exports.
    exports: Vec<String>,
    /// Who published it.
    publisher: String,
    /// The signing key's id.
    signing_key: String,
    /// The SM2 signature (DER hex).
    signature: String,
    /// When (RFC 3339).
    published_at: String,
    /// When it was yanked, if it was.
    yanked_at: Option<String>,
    /// Why.
    yank_reason: Option<String>,
}

impl From<ModuleRecord> for ModuleView {
    fn from(m: ModuleRecord) -> ModuleView {
        ModuleView {
            name: m.name,
            version: m.version,
            service: m.service,
            digest: m.digest,
            size: m.size,
            wit_version: m.wit_version,
            world: m.world,
            exports: m.exports,
            publisher: m.publisher,
            signing_key: m.signing_key,
            signature: m.signature,
            published_at: m.published_at.to_rfc3339(),
            yanked_at: m.yanked_at.map(|t| t.to_rfc3339()),
            yank_reason: m.yank_reason,
        }
    }
}

/// Module versions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModuleList {
    /// By name, newest first.
    modules: Vec<ModuleView>,
}

/// A module version to publish.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Publish {
    /// The module's name: lower-case letters, digits, dashes.
    #[schema(example = "meal-subsidy-pudong")]
    name: String,
    /// `MAJOR.MINOR.PATCH`.
    #[schema(example = "1.0.0")]
    version: String,
    /// The service it implements.
    #[schema(example = "civil-affairs/meal-subsidy")]
    service: String,
    /// The component, base64.
    artifact: String,
    /// SM2 signature (hex, DER or r‖s) over the signing message
    /// (`civitas module publish` makes it).
    signature: String,
}

/// Which versions to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ModulesQuery {
    /// Only this service's modules.
    #[param(example = "civil-affairs/meal-subsidy")]
    service: Option<String>,
}

/// Publishes a module version: verified against the publisher's SM2 keys,
/// checked to import nothing but the host interface, stored immutably by SM3
/// digest; audited as `module.publish`.
#[utoipa::path(post, path = "/api/v1/modules", tag = "modules",
    security(("bearer" = [])),
    request_body = Publish,
    responses(
        (status = 201, description = "已发布 / Published", body = ModuleView),
        (status = 403, description = "无权发布 / Not allowed", body = ErrorBody),
        (status = 404, description = "服务不存在 / No such service", body = ErrorBody),
        (status = 409, description = "版本已存在 / Version exists", body = ErrorBody),
        (status = 422, description = "未签名、签名无效、导入受限接口或制品无效 / Unsigned, bad signature, forbidden import or invalid artifact", body = ErrorBody)
    ))]
pub(crate) async fn publish_module(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<Publish>,
) -> Result<(StatusCode, Json<ModuleView>), ApiError> {
    let runtime = state.modules()?.runtime.clone();
    let service = runtime.service(&request.service)?.clone();
    let scope = authorize_at_a_root(&state, &caller, &service.line, "module.publish")?;
    let artifact = base64::engine::general_purpose::STANDARD
        .decode(request.artifact.trim())
        .map_err(|e| {
            invalid(
                format!("artifact 不是有效的 base64：{e}"),
                format!("artifact is not valid base64: {e}"),
            )
        })?;
    // Compiling takes time: on a blocking thread, before any transaction.
    let inspector = runtime.clone();
    let (artifact, info) = tokio::task::spawn_blocking(move || {
        let info = inspector.host().inspect(&artifact);
        (artifact, info)
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let info = info.map_err(RegistryError::from)?;
    let mut tx = state.db().begin(&scope).await?;
    let record = civitas_registry::publish(
        &mut tx,
        &civitas_registry::Publication {
            name: &request.name,
            version: &request.version,
            service: &service,
            artifact: &artifact,
            signature_hex: &request.signature,
            publisher_account: caller.account_id(),
            publisher: caller.username(),
            info: &info,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// Every published version (of `service` when given), by name, newest
/// first: public to anyone signed in, as the API and the console list them.
pub(crate) async fn published(
    state: &AppState,
    service: Option<&str>,
) -> Result<Vec<ModuleRecord>, ApiError> {
    state.modules()?;
    let mut tx = state.db().begin_platform_read().await?;
    Ok(civitas_registry::modules(&mut tx, service).await?)
}

/// Published module versions (any signed-in caller).
#[utoipa::path(get, path = "/api/v1/modules", tag = "modules",
    security(("bearer" = [])),
    params(ModulesQuery),
    responses(
        (status = 200, description = "模块版本 / Versions", body = ModuleList)
    ))]
pub(crate) async fn list_modules(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<ModulesQuery>,
) -> Result<Json<ModuleList>, ApiError> {
    let modules = published(&state, query.service.as_deref()).await?;
    Ok(Json(ModuleList {
        modules: modules.into_iter().map(Into::into).collect(),
    }))
}

async fn find_module(
    state: &AppState,
    name: &str,
    version: &str,
) -> Result<ModuleRecord, ApiError> {
    state.modules()?;
    let mut tx = state.db().begin_platform_read().await?;
    civitas_registry::module(&mut tx, name, version)
        .await?
        .ok_or_else(|| RegistryError::UnknownModule(format!("{name}@{version}")).into())
}

/// One module version (any signed-in caller).
#[utoipa::path(get, path = "/api/v1/modules/{name}/{version}", tag = "modules",
    security(("bearer" = [])),
    params(("name" = String, Path, example = "meal-subsidy"), ("version" = String, Path, example = "1.0.0")),
    responses(
        (status = 200, description = "模块版本 / The version", body = ModuleView),
        (status = 404, description = "不存在 / No such version", body = ErrorBody)
    ))]
pub(crate) async fn get_module(
    State(state): State<AppState>,
    _caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<ModuleView>, ApiError> {
    Ok(Json(find_module(&state, &name, &version).await?.into()))
}

/// Downloads a version's artifact (`application/wasm`), verified against
/// its digest and signature first.
#[utoipa::path(get, path = "/api/v1/modules/{name}/{version}/artifact", tag = "modules",
    security(("bearer" = [])),
    params(("name" = String, Path, example = "meal-subsidy"), ("version" = String, Path, example = "1.0.0")),
    responses(
        (status = 200, description = "组件 / The component", content_type = "application/wasm"),
        (status = 404, description = "不存在 / No such version", body = ErrorBody),
        (status = 502, description = "制品被篡改 / Tampered", body = ErrorBody)
    ))]
pub(crate) async fn download_module(
    State(state): State<AppState>,
    _caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state.modules()?;
    let mut tx = state.db().begin_platform_read().await?;
    let (record, bytes) = civitas_registry::artifact(&mut tx, &name, &version).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/wasm".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}-{}.wasm\"",
                    record.name, record.version
                ),
            ),
            (header::ETAG, format!("\"sm3:{}\"", record.digest)),
        ],
        bytes,
    )
        .into_response())
}

/// Why a version is yanked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Yank {
    /// The reason (1–500 characters).
    #[schema(example = "金额计算错误 / wrong amount for 90+")]
    reason: String,
}

/// Yanks a version: bindings using it keep working, new bindings are
/// refused (`module.publish`); audited as `module.yank`.
#[utoipa::path(post, path = "/api/v1/modules/{name}/{version}/yank", tag = "modules",
    security(("bearer" = [])),
    params(("name" = String, Path, example = "meal-subsidy"), ("version" = String, Path, example = "1.0.0")),
    request_body = Yank,
    responses(
        (status = 200, description = "已撤回 / Yanked", body = ModuleView),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "不存在 / No such version", body = ErrorBody)
    ))]
pub(crate) async fn yank_module(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
    ApiJson(request): ApiJson<Yank>,
) -> Result<Json<ModuleView>, ApiError> {
    let record = find_module(&state, &name, &version).await?;
    let line = record
        .service
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let scope = authorize_at_a_root(&state, &caller, &line, "module.publish")?;
    let mut tx = state.db().begin(&scope).await?;
    let record =
        civitas_registry::yank(&mut tx, &name, &version, &request.reason, caller.username())
            .await?;
    tx.commit().await?;
    Ok(Json(record.into()))
}

// --------------------------------------------------------------- bindings

/// A binding as shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BindingView {
    /// The tenant, null for the service default.
    tenant: Option<String>,
    /// The service.
    service: String,
    /// The version serving cases outside the rollout.
    stable: Option<VersionView>,
    /// The version being rolled out.
    candidate: Option<VersionView>,
    /// The share of cases the candidate serves.
    rollout_percent: u8,
    /// Bumped by every change.
    revision: i64,
    /// Who changed it last.
    updated_by: String,
    /// When (RFC 3339).
    updated_at: String,
}

impl From<Binding> for BindingView {
    fn from(b: Binding) -> BindingView {
        BindingView {
            tenant: b.tenant,
            service: b.service,
            stable: b.stable.map(Into::into),
            candidate: b.candidate.map(Into::into),
            rollout_percent: b.rollout_percent,
            revision: b.revision,
            updated_by: b.updated_by,
            updated_at: b.updated_at.to_rfc3339(),
        }
    }
}

/// A module version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VersionView {
    /// The module.
    #[schema(example = "meal-subsidy")]
    module: String,
    /// Its version.
    #[schema(example = "1.0.0")]
    version: String,
}

impl From<ModuleRef> for VersionView {
    fn from(m: ModuleRef) -> VersionView {
        VersionView {
            module: m.module,
            version: m.version,
        }
    }
}

/// Bindings of a subtree.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BindingList {
    /// By service and tenant; service defaults have a null tenant.
    bindings: Vec<BindingView>,
}

/// The result of a binding change.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BindingChanged {
    /// The binding afterwards; null when it no longer binds anything here.
    binding: Option<BindingView>,
    /// The conformance report of the bound version, when one was checked.
    conformance: Option<Value>,
}

/// A version to bind.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutBinding {
    /// The module.
    #[schema(example = "meal-subsidy-pudong")]
    pub(crate) module: String,
    /// Its version.
    #[schema(example = "1.0.0")]
    pub(crate) version: String,
    /// 1–99: roll the version out to that share of cases (chosen from the
    /// case id); absent or 100: make it the stable version.
    #[schema(example = 30)]
    pub(crate) rollout_percent: Option<u8>,
    /// 假设评估报告 / The what-if report the change was decided on (the
    /// `id` `POST …/services/{line}/{name}/what-if` answered, run at this
    /// tenant for this version): required for a rollout of 1–99 %, optional
    /// otherwise; kept in the binding's history and audit record.
    pub(crate) what_if_report: Option<String>,
}

/// A service in a path: its line and name (`civil-affairs/meal-subsidy`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ServiceParams {
    /// 条线 / The service's line.
    #[param(example = "civil-affairs")]
    line: String,
    /// 服务名称 / The service's name within its line.
    #[param(example = "meal-subsidy")]
    name: String,
}

impl ServiceParams {
    /// `line/name`, the service id.
    pub(crate) fn id(&self) -> String {
        format!("{}/{}", self.line, self.name)
    }
}

/// The bindings of `tenant`'s subtree and the service defaults, in the
/// line `caller` binds in (`module.bind`; every line with a grant on `*`),
/// as the API and the console list them.
pub(crate) async fn bindings_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
) -> Result<Vec<Binding>, ApiError> {
    state.modules()?;
    let line = caller.line_for(None).to_owned();
    let scope = caller.authorize(state, &tenant.path, &line, "module.bind")?;
    let every_line = crate::access::every_line(&line);
    let mut tx = state.db().begin_read(&scope).await?;
    let bindings = civitas_registry::bindings(&mut tx, None).await?;
    tx.rollback().await?;
    let line_prefix = format!("{line}/");
    Ok(bindings
        .into_iter()
        .filter(|b| every_line || b.service.starts_with(&line_prefix))
        .collect())
}

/// Binds `request`'s version to `service` at `tenant`, or rolls it out to
/// a share of cases, for `caller` (`module.bind` in the service's line),
/// after the conformance checks; as the API and the console bind.
pub(crate) async fn bind_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    service: &str,
    request: PutBinding,
) -> Result<BindingChanged, ApiError> {
    let modules = state.modules()?.clone();
    let service = modules.runtime.service(service)?.clone();
    let scope = caller.authorize(state, &tenant.path, &service.line, "module.bind")?;
    bind_with_checks(
        state,
        &modules,
        scope,
        Some(&tenant.path),
        &service,
        caller,
        request,
    )
    .await
}

/// The what-if report a binding change names, checked: one kept at
/// `tenant` (the binding's own place) for `service` and exactly `module`.
/// A rollout of 1–99 % must name one (422 `what_if_required`); a report
/// that is not there is 422 `what_if_not_found`, one of another place,
/// service or version 422 `what_if_mismatch`.
async fn decided_on(
    tx: &mut civitas_storage::TenantTx,
    report: Option<&str>,
    rollout_percent: Option<u8>,
    tenant: &TenantPath,
    service: &str,
    module: &ModuleRef,
) -> Result<Option<String>, ApiError> {
    let Some(id) = report.map(str::trim).filter(|r| !r.is_empty()) else {
        if matches!(rollout_percent, Some(1..=99)) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "what_if_required",
                "灰度发布须注明所依据的假设评估报告（先运行 what-if）",
                "A partial rollout names the what-if report it was decided on (run what-if first)",
            ));
        }
        return Ok(None);
    };
    let found = civitas_workflow::what_if::find_report(tx, id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "what_if_not_found",
                format!("假设评估报告不存在：{id}"),
                format!("No such what-if report here: {id}"),
            )
        })?;
    let candidate = module.to_string();
    if found.tenant_path != tenant.as_str()
        || found.service != service
        || found.candidate != candidate
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "what_if_mismatch",
            format!(
                "报告 {id} 评估的是 {} 在 {} 的 {}，不是 {candidate} 在 {tenant} 的 {service}",
                found.candidate, found.tenant_path, found.service
            ),
            format!(
                "Report {id} ran {} over {} for {}, not {candidate} at {tenant} for {service}",
                found.candidate, found.tenant_path, found.service
            ),
        ));
    }
    Ok(Some(found.id))
}

/// Restores the binding of `service` at `tenant` to its state before its
/// latest change, for `caller` (`module.bind`): the binding afterwards
/// (none when nothing is bound there any more). As the API and the console
/// roll back.
pub(crate) async fn rollback_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    service: &str,
) -> Result<Option<Binding>, ApiError> {
    let modules = state.modules()?.clone();
    let service = modules.runtime.service(service)?.clone();
    let scope = caller.authorize(state, &tenant.path, &service.line, "module.bind")?;
    // The versions brought back must still pass conformance with today's
    // settings (checked before the write transaction).
    let mut read = state.db().begin_read(&scope).await?;
    let (stable, candidate, _) =
        civitas_registry::rollback_target(&mut read, Some(&tenant.path), &service.id).await?;
    for version in stable.iter().chain(candidate.iter()) {
        modules
            .runtime
            .check_conformance(
                &mut read,
                version,
                &service,
                effective_settings(&modules.tree, &tenant.path),
                civitas_registry::today_in_china(),
            )
            .await?;
    }
    read.rollback().await?;
    let mut tx = state.db().begin(&scope).await?;
    let binding =
        civitas_registry::rollback(&mut tx, Some(&tenant.path), &service.id, caller.username())
            .await?;
    tx.commit().await?;
    Ok(binding)
}

/// Runs the conformance checks of `module` against its service with
/// `tenant`'s settings, for `caller` (`module.bind` in the service's line),
/// as binding runs them: the report, passed or not.
pub(crate) async fn conformance_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantRecord,
    module: &ModuleRef,
) -> Result<civitas_conformance::Report, ApiError> {
    let modules = state.modules()?.clone();
    let mut read = state.db().begin_platform_read().await?;
    let record = civitas_registry::module(&mut read, &module.module, &module.version)
        .await?
        .ok_or_else(|| RegistryError::UnknownModule(module.to_string()))?;
    drop(read);
    let service = modules.runtime.service(&record.service)?.clone();
    let scope = caller.authorize(state, &tenant.path, &service.line, "module.bind")?;
    let mut read = state.db().begin_read(&scope).await?;
    let report = modules
        .runtime
        .check_conformance(
            &mut read,
            module,
            &service,
            effective_settings(&modules.tree, &tenant.path),
            civitas_registry::today_in_china(),
        )
        .await;
    read.rollback().await?;
    match report {
        Ok(report) => Ok(report),
        Err(RegistryError::Conformance { report, .. }) => Ok(*report),
        Err(e) => Err(e.into()),
    }
}

/// Lists the bindings of a tenant's subtree (`module.bind`).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/bindings", tag = "modules",
    security(("bearer" = [])),
    params(TenantParam),
    responses(
        (status = 200, description = "绑定 / The bindings", body = BindingList),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn list_bindings(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
) -> Result<Json<BindingList>, ApiError> {
    let bindings = bindings_in(&state, &caller, &tenant).await?;
    Ok(Json(BindingList {
        bindings: bindings.into_iter().map(Into::into).collect(),
    }))
}

/// Binds a module version to a service at a tenant, or rolls it out to a
/// share of cases (`module.bind` in the service's line). The version must
/// implement the service, not be yanked, and pass the conformance checks
/// with the tenant's settings; audited as `module.bind`.
#[utoipa::path(put, path = "/api/v1/tenants/{path}/bindings/{line}/{name}", tag = "modules",
    security(("bearer" = [])),
    params(TenantParam, ServiceParams),
    request_body = PutBinding,
    responses(
        (status = 200, description = "已绑定 / Bound", body = BindingChanged),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户、服务或模块不存在 / No such tenant, service or module", body = ErrorBody),
        (status = 409, description = "模块属于其他服务 / The module implements another service", body = ErrorBody),
        (status = 422, description = "未通过一致性检查、已撤回或参数无效 / Fails conformance, yanked, or invalid", body = ErrorBody)
    ))]
pub(crate) async fn put_binding(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(service): Path<ServiceParams>,
    ApiJson(request): ApiJson<PutBinding>,
) -> Result<Json<BindingChanged>, ApiError> {
    Ok(Json(
        bind_in(&state, &caller, &tenant, &service.id(), request).await?,
    ))
}

async fn bind_with_checks(
    state: &AppState,
    modules: &crate::ModuleSettings,
    scope: TenantScope,
    tenant: Option<&TenantPath>,
    service: &Arc<civitas_services::Service>,
    caller: &Caller,
    request: PutBinding,
) -> Result<BindingChanged, ApiError> {
    let module = ModuleRef {
        module: request.module,
        version: request.version,
    };
    let settings_tenant = tenant.cloned().unwrap_or_else(|| scope.path().clone());
    let settings = effective_settings(&modules.tree, &settings_tenant);
    // The checks (compiling, running every example) take time: in a read
    // transaction, so no write lock is held meanwhile.
    let mut read = state.db().begin_read(&scope).await?;
    bindable(&mut read, &module, service).await?;
    let report = modules
        .runtime
        .check_conformance(
            &mut read,
            &module,
            service,
            settings,
            civitas_registry::today_in_china(),
        )
        .await?;
    let what_if = decided_on(
        &mut read,
        request.what_if_report.as_deref(),
        request.rollout_percent,
        &settings_tenant,
        &service.id,
        &module,
    )
    .await?;
    read.rollback().await?;
    let mut tx = state.db().begin(&scope).await?;
    bindable(&mut tx, &module, service).await?; // not yanked meanwhile
    let binding = civitas_registry::bind(
        &mut tx,
        tenant,
        &service.id,
        &module,
        request.rollout_percent,
        what_if.as_deref(),
        caller.username(),
    )
    .await?;
    tx.commit().await?;
    Ok(BindingChanged {
        binding: Some(binding.into()),
        conformance: serde_json::to_value(report).ok(),
    })
}

/// The version exists, implements `service` and is not yanked.
async fn bindable(
    tx: &mut civitas_storage::TenantTx,
    module: &ModuleRef,
    service: &civitas_services::Service,
) -> Result<(), ApiError> {
    let record = civitas_registry::module(tx, &module.module, &module.version)
        .await?
        .ok_or_else(|| RegistryError::UnknownModule(module.to_string()))?;
    if record.service != service.id {
        return Err(RegistryError::WrongService {
            name: record.name,
            service: record.service,
            requested: service.id.clone(),
        }
        .into());
    }
    if record.yanked_at.is_some() {
        return Err(RegistryError::Yanked(module.to_string()).into());
    }
    Ok(())
}

/// Restores the binding's state before its latest change (`module.bind`);
/// audited as `module.bind` with change `rollback`.
#[utoipa::path(post, path = "/api/v1/tenants/{path}/bindings/{line}/{name}/rollback", tag = "modules",
    security(("bearer" = [])),
    params(TenantParam, ServiceParams),
    responses(
        (status = 200, description = "已回滚 / Rolled back", body = BindingChanged),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或服务不存在 / No such tenant or service", body = ErrorBody),
        (status = 409, description = "没有可回滚的变更 / Nothing to roll back", body = ErrorBody)
    ))]
pub(crate) async fn rollback_binding(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(service): Path<ServiceParams>,
) -> Result<Json<BindingChanged>, ApiError> {
    let binding = rollback_in(&state, &caller, &tenant, &service.id()).await?;
    Ok(Json(BindingChanged {
        binding: binding.map(Into::into),
        conformance: None,
    }))
}

/// Removes the binding at a tenant; its cases resolve further up
/// (`module.bind`); audited.
#[utoipa::path(delete, path = "/api/v1/tenants/{path}/bindings/{line}/{name}", tag = "modules",
    security(("bearer" = [])),
    params(TenantParam, ServiceParams),
    responses(
        (status = 204, description = "已解除 / Removed"),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "不存在 / Not bound here", body = ErrorBody)
    ))]
pub(crate) async fn delete_binding(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(service): Path<ServiceParams>,
) -> Result<StatusCode, ApiError> {
    let modules = state.modules()?.clone();
    let service = modules.runtime.service(&service.id())?.clone();
    let scope = caller.authorize(&state, &tenant.path, &service.line, "module.bind")?;
    let mut tx = state.db().begin(&scope).await?;
    civitas_registry::unbind(&mut tx, Some(&tenant.path), &service.id, caller.username()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the service's default module, used wherever no tenant on the path
/// binds one — under every root, so it needs `module.bind` in the service's
/// line at every root; audited in every root's chain.
#[utoipa::path(put, path = "/api/v1/services/{line}/{name}/default", tag = "modules",
    security(("bearer" = [])),
    params(("line" = String, Path, example = "civil-affairs"), ("name" = String, Path, example = "meal-subsidy")),
    request_body = PutBinding,
    responses(
        (status = 200, description = "已设置 / Set", body = BindingChanged),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "服务或模块不存在 / No such service or module", body = ErrorBody),
        (status = 422, description = "未通过一致性检查 / Fails conformance", body = ErrorBody)
    ))]
pub(crate) async fn set_default(
    State(state): State<AppState>,
    caller: Caller,
    Path((line, name)): Path<(String, String)>,
    ApiJson(request): ApiJson<PutBinding>,
) -> Result<Json<BindingChanged>, ApiError> {
    let modules = state.modules()?.clone();
    let service = modules.runtime.service(&format!("{line}/{name}"))?.clone();
    let mut scopes = Vec::new();
    for root in modules.tree.current().roots() {
        scopes.push(caller.authorize(&state, &root.path, &service.line, "module.bind")?);
    }
    let Some((first, others)) = scopes.split_first() else {
        return Err(ApiError::internal());
    };
    let (module, version) = (request.module.clone(), request.version.clone());
    let changed = bind_with_checks(
        &state,
        &modules,
        first.clone(),
        None,
        &service,
        &caller,
        request,
    )
    .await?;
    // The first root's chain holds the change; every other root's chain
    // records that its tenants' default changed too.
    for scope in others {
        let mut tx = state.db().begin(scope).await?;
        civitas_audit::record(
            &mut tx,
            scope.path(),
            &civitas_audit::NewEvent {
                actor: caller.username().to_owned(),
                action: "module.bind".to_owned(),
                target: format!("binding:default:{}", service.id),
                detail: serde_json::json!({"change": "bind", "stable": format!("{module}@{version}"), "recorded_in": first.path().to_string()}),
            },
        )
        .await
        .map_err(RegistryError::from)?;
        tx.commit().await?;
    }
    Ok(Json(changed))
}

// ------------------------------------------------------------- evaluation

/// What to evaluate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Evaluate {
    /// The input document (the service's input schema).
    input: Value,
    /// The case id: chooses the rollout bucket, so a case always sees the
    /// same version. Defaults to the input's `case_id`.
    #[schema(example = "CA-2026-000123")]
    case_id: Option<String>,
    /// The evaluation date (YYYY-MM-DD); default today in China Standard Time.
    #[schema(example = "2026-11-23")]
    as_of: Option<String>,
}

/// The module's answer and who gave it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Evaluation {
    /// The module's answer (valid against the service's output schema).
    output: Value,
    /// The module.
    module: String,
    /// Its version.
    version: String,
    /// The tenant whose binding was used; null for the service default.
    binding_tenant: Option<String>,
    /// Whether the case fell in a rollout.
    rollout: bool,
    /// Fuel used.
    fuel_used: u64,
    /// Instantiate + call, microseconds.
    elapsed_micros: u64,
}

/// The date an evaluation is made for: `as_of` (YYYY-MM-DD), or today in
/// China Standard Time.
fn evaluation_date(as_of: Option<&str>) -> Result<civitas_host::Date, ApiError> {
    match as_of {
        None => Ok(civitas_registry::today_in_china()),
        Some(text) => civitas_host::Date::parse(text).ok_or_else(|| {
            invalid(
                format!("as_of 不是有效日期：{text}"),
                format!("as_of is not a YYYY-MM-DD date: {text}"),
            )
        }),
    }
}

/// The tags of a module's log lines for a call made through the API.
fn call_tags(
    prepared: &civitas_registry::Prepared,
    tenant: &TenantPath,
    caller: &Caller,
) -> Vec<(String, String)> {
    vec![
        ("module".into(), prepared.resolution.module.to_string()),
        ("tenant".into(), tenant.to_string()),
        ("caller".into(), caller.username().to_owned()),
    ]
}

/// Runs the module bound for the tenant (most specific binding on the path
/// up to the root, else the service default) on the input
/// (`service.evaluate` in the service's line).
#[utoipa::path(post, path = "/api/v1/tenants/{path}/services/{line}/{name}/evaluate", tag = "modules",
    security(("bearer" = [])),
    params(TenantParam, ServiceParams),
    request_body = Evaluate,
    responses(
        (status = 200, description = "评估结果 / The answer", body = Evaluation),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或服务不存在，或未绑定模块 / No such tenant or service, or nothing bound", body = ErrorBody),
        (status = 422, description = "输入不符合模式或被模块拒绝 / Input breaks the schema or the module refused it", body = ErrorBody),
        (status = 502, description = "模块执行失败（超时、内存、陷阱、输出无效…） / The module failed (fuel, time, memory, trap, invalid output…)", body = ErrorBody),
        (status = 503, description = "运行环境繁忙（module_host_busy），或本单位调用该版本刚超出配额、现逐个执行而未轮到（module_calls_confined，见 Retry-After） / Host busy (module_host_busy), or this tenant's calls of the version recently ran out of fuel or time and run one at a time, and none came free (module_calls_confined; see Retry-After)", body = ErrorBody)
    ))]
pub(crate) async fn evaluate(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(service): Path<ServiceParams>,
    ApiJson(request): ApiJson<Evaluate>,
) -> Result<Json<Evaluation>, ApiError> {
    let modules = state.modules()?.clone();
    let service = modules.runtime.service(&service.id())?.clone();
    let scope = caller.authorize(&state, &tenant.path, &service.line, "service.evaluate")?;
    let today = evaluation_date(request.as_of.as_deref())?;
    let case_id = request.case_id.clone().or_else(|| {
        request
            .input
            .get("case_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let mut tx = state.db().begin_read(&scope).await?;
    let prepared = modules
        .runtime
        .prepare(&mut tx, &tenant.path, &service.id, case_id.as_deref())
        .await?;
    tx.rollback().await?;
    let outcome = modules
        .runtime
        .run(
            &prepared,
            civitas_registry::EvaluationRequest {
                input: &request.input,
                settings: effective_settings(&modules.tree, &tenant.path),
                today,
                log_tags: call_tags(&prepared, &tenant.path, &caller),
            },
        )
        .await?;
    Ok(Json(Evaluation {
        output: outcome.output,
        module: outcome.module,
        version: outcome.version,
        binding_tenant: outcome.binding_tenant,
        rollout: outcome.rollout,
        fuel_used: outcome.fuel_used,
        elapsed_micros: outcome.elapsed_micros,
    }))
}

/// A candidate version to run over the decisions recorded at a tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WhatIfRequest {
    /// The candidate, `name@version`: a published version of this service.
    #[schema(example = "meal-subsidy-pudong@1.1.0")]
    pub(crate) candidate: String,
    /// Only decisions recorded on or after this day (YYYY-MM-DD, China
    /// Standard Time); default every one.
    #[schema(example = "2026-11-01")]
    pub(crate) since: Option<String>,
}

/// Before a rollout: runs a candidate version over every decision recorded
/// for the service's cases in the tenant's subtree — each stored input with
/// the settings and date it was decided with — and reports who would
/// change, field by field, with counts (`module.bind` in the service's
/// line: those who decide rollouts). The same report as `civitas module
/// what-if`, kept with its id and SM3 and audited (`module.what_if`): a
/// rollout of 1–99 % names the report it was decided on
/// (`what_if_report`).
#[utoipa::path(post, path = "/api/v1/tenants/{path}/services/{line}/{name}/what-if", tag = "modules",
    security(("bearer" = [])),
    params(TenantParam, ServiceParams),
    request_body = WhatIfRequest,
    responses(
        (status = 201, description = "假设评估报告（已留存） / The report, kept", body = civitas_workflow::what_if::Recorded),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户、服务或版本不存在 / No such tenant, service or version", body = ErrorBody),
        (status = 422, description = "候选版本格式有误或属于其他服务 / The candidate is malformed or implements another service", body = ErrorBody)
    ))]
pub(crate) async fn what_if(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(service): Path<ServiceParams>,
    ApiJson(request): ApiJson<WhatIfRequest>,
) -> Result<(StatusCode, Json<civitas_workflow::what_if::Recorded>), ApiError> {
    let recorded = what_if_in(&state, &caller, &tenant.path, &service.id(), request).await?;
    Ok((StatusCode::CREATED, Json(recorded)))
}

/// A service's what-if report in a path.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ReportParams {
    /// 条线 / The service's line.
    #[param(example = "civil-affairs")]
    line: String,
    /// 服务名称 / The service's name within its line.
    #[param(example = "meal-subsidy")]
    name: String,
    /// 假设评估报告编号 / The report's id.
    id: String,
}

/// A kept what-if report, as it was run (`module.bind` in the service's
/// line): what a binding's history names (`what_if_report`) read back
/// whole, its SM3 checked against the one kept with it.
#[utoipa::path(get, path = "/api/v1/tenants/{path}/services/{line}/{name}/what-if/{id}", tag = "modules",
    security(("bearer" = [])),
    params(TenantParam, ReportParams),
    responses(
        (status = 200, description = "假设评估报告 / The report", body = civitas_workflow::what_if::Recorded),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户、服务或报告不存在（what_if_not_found）/ No such tenant, service or report (what_if_not_found)", body = ErrorBody)
    ))]
pub(crate) async fn what_if_report(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(report): Path<ReportParams>,
) -> Result<Json<civitas_workflow::what_if::Recorded>, ApiError> {
    let id = format!("{}/{}", report.line, report.name);
    let service = state.modules()?.runtime.service(&id)?.clone();
    let scope = caller.authorize(&state, &tenant.path, &service.line, "module.bind")?;
    let mut tx = state.db().begin_read(&scope).await?;
    let kept = civitas_workflow::what_if::kept_report(&mut tx, &service.id, &report.id).await?;
    tx.rollback().await?;
    kept.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "what_if_not_found",
            format!("假设评估报告不存在：{}", report.id),
            format!("No such what-if report: {}", report.id),
        )
    })
}

/// Runs `request`'s candidate over the recorded decisions of `service` in
/// `tenant`'s subtree for `caller` (`module.bind`) and keeps the report:
/// what the API's route and the console's what-if button both call.
pub(crate) async fn what_if_in(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    service: &str,
    request: WhatIfRequest,
) -> Result<civitas_workflow::what_if::Recorded, ApiError> {
    let modules = state.modules()?.clone();
    let service = modules.runtime.service(service)?.clone();
    let scope = caller.authorize(state, tenant, &service.line, "module.bind")?;
    let Some((name, version)) = request
        .candidate
        .split_once('@')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
    else {
        return Err(invalid(
            format!("candidate 应为 名称@版本：{}", request.candidate),
            format!("candidate takes NAME@VERSION: {}", request.candidate),
        ));
    };
    let since = request
        .since
        .as_deref()
        .map(|text| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                invalid(
                    format!("since 不是有效日期：{text}"),
                    format!("since is not a YYYY-MM-DD date: {text}"),
                )
            })
        })
        .transpose()?;
    let workflow = super::cases::workflow(state)?;
    let candidate = ModuleRef {
        module: name.to_owned(),
        version: version.to_owned(),
    };
    let report = workflow
        .what_if(
            state.db(),
            &scope,
            &service.id,
            &candidate,
            since,
            |_, _| {},
        )
        .await?;
    Ok(civitas_workflow::what_if::record(
        state.db(),
        &scope,
        report,
        caller.username(),
        workflow.clock().now_micros(),
    )
    .await?)
}

/// Most inputs one batch request may carry (the request body limit, 1 MiB
/// by default, also applies): larger runs go in several requests, or through
/// `Runtime::run_batch` in the server.
pub(crate) const MAX_BATCH_INPUTS: usize = 5_000;

/// Many inputs to evaluate with one module version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EvaluateBatch {
    /// The input documents (the service's input schema), 1 to 5,000; the
    /// answers come back in the same order.
    inputs: Vec<Value>,
    /// The evaluation date (YYYY-MM-DD); default today in China Standard Time.
    #[schema(example = "2026-11-23")]
    as_of: Option<String>,
}

/// Why one input of a batch has no answer: the code and message a single
/// evaluation of it would have answered with.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchItemError {
    /// A stable machine-readable code, e.g. `input_schema_violation`.
    code: &'static str,
    /// What went wrong, for people.
    message: crate::error::Message,
}

/// One input's answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchItem {
    /// The module's answer (valid against the service's output schema);
    /// absent when the input failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<Value>,
    /// Fuel used; absent when the input failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    fuel_used: Option<u64>,
    /// Why the input has no answer; absent when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<BatchItemError>,
}

/// A batch's answers and who gave them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchEvaluation {
    /// One per input, in input order.
    answers: Vec<BatchItem>,
    /// Inputs answered.
    answered: usize,
    /// Inputs that failed (each with its `error`).
    failed: usize,
    /// The module.
    module: String,
    /// Its version (the binding's stable version: rollouts choose per case).
    version: String,
    /// The tenant whose binding was used; null for the service default.
    binding_tenant: Option<String>,
    /// The whole batch, microseconds.
    elapsed_micros: u64,
}

fn batch_item_error(error: &RegistryError) -> BatchItemError {
    if error.status() == 500 {
        tracing::error!(%error, code = error.code(), "batch input failed");
        return BatchItemError {
            code: "internal_error",
            message: crate::error::Message {
                zh: "服务器内部错误".into(),
                en: "Internal server error".into(),
            },
        };
    }
    BatchItemError {
        code: error.code(),
        message: crate::error::Message::of(error),
    }
}

/// Runs the module bound for the tenant over many inputs at once (免申即享
/// runs, monthly warning rules): each input in a fresh instance, spread
/// over the server's cores; an input that fails has its error in its place
/// and stops nothing else (`service.evaluate` in the service's line).
#[utoipa::path(post, path = "/api/v1/tenants/{path}/services/{line}/{name}/evaluate-batch", tag = "modules",
    security(("bearer" = [])),
    params(TenantParam, ServiceParams),
    request_body = EvaluateBatch,
    responses(
        (status = 200, description = "每项输入的结果 / An answer or an error per input", body = BatchEvaluation),
        (status = 403, description = "无权 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户或服务不存在，或未绑定模块 / No such tenant or service, or nothing bound", body = ErrorBody),
        (status = 422, description = "没有输入、输入过多或日期无效 / No inputs, too many, or an invalid date", body = ErrorBody)
    ))]
pub(crate) async fn evaluate_batch(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(service): Path<ServiceParams>,
    ApiJson(request): ApiJson<EvaluateBatch>,
) -> Result<Json<BatchEvaluation>, ApiError> {
    let modules = state.modules()?.clone();
    let service = modules.runtime.service(&service.id())?.clone();
    let scope = caller.authorize(&state, &tenant.path, &service.line, "service.evaluate")?;
    if request.inputs.is_empty() || request.inputs.len() > MAX_BATCH_INPUTS {
        return Err(invalid(
            format!(
                "inputs 须有 1 至 {MAX_BATCH_INPUTS} 项，收到 {} 项",
                request.inputs.len()
            ),
            format!(
                "inputs must hold 1 to {MAX_BATCH_INPUTS} documents; got {}",
                request.inputs.len()
            ),
        ));
    }
    let today = evaluation_date(request.as_of.as_deref())?;
    let mut tx = state.db().begin_read(&scope).await?;
    let prepared = modules
        .runtime
        .prepare(&mut tx, &tenant.path, &service.id, None)
        .await?;
    tx.rollback().await?;
    let outcome = modules
        .runtime
        .run_batch(
            &prepared,
            civitas_registry::BatchRequest {
                inputs: request.inputs,
                settings: effective_settings(&modules.tree, &tenant.path),
                today,
                log_tags: call_tags(&prepared, &tenant.path, &caller),
            },
        )
        .await?;
    // The answers move into the reply: a batch's outputs are not copied.
    let answers: Vec<BatchItem> = outcome
        .answers
        .into_iter()
        .map(|answer| match answer {
            Ok(answer) => BatchItem {
                output: Some(answer.output),
                fuel_used: Some(answer.fuel_used),
                error: None,
            },
            Err(error) => BatchItem {
                output: None,
                fuel_used: None,
                error: Some(batch_item_error(&error)),
            },
        })
        .collect();
    let failed = answers.iter().filter(|a| a.error.is_some()).count();
    Ok(Json(BatchEvaluation {
        answered: answers.len() - failed,
        failed,
        answers,
        module: outcome.module,
        version: outcome.version,
        binding_tenant: outcome.binding_tenant,
        elapsed_micros: outcome.elapsed_micros,
    }))
}
