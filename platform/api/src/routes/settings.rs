//! Tenant settings that change without a restart: read and overridden by
//! holders of `tenant.configure` (the tenant's administrator), every change
//! audited in the tenant's chain and in force on every node within about a
//! second (civitas-settings).
//!
//! ```text
//! GET    /api/v1/tenants/{path}/settings        the effective settings at the tenant
//! PUT    /api/v1/tenants/{path}/settings/{key}  override a configured setting here
//! DELETE /api/v1/tenants/{path}/settings/{key}  drop this tenant's override
//! ```
//!
//! Only keys configured at the tenant or above it (the `[settings]` of the
//! tenant files, which stay the seed and the reviewable default) can be
//! overridden, with a value of the configured JSON type.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use civitas_authz::NO_LINE;
use civitas_settings::{SettingOverride, SettingsError};
use civitas_tenancy::{SharedTree, TenantPath};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::tenants::TenantParam;
use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::tenant::Tenant;

/// One setting as it stands at a tenant.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SettingView {
    /// 设置项 / The key.
    #[schema(example = "meal-subsidy.local-top-up")]
    key: String,
    /// 当前生效的值 / The value in force here.
    #[schema(example = 300)]
    value: Value,
    /// 配置文件中的值（种子与默认） / The configured value (the seed and default).
    #[schema(example = 200)]
    configured: Value,
    /// 生效的调整所在租户，未调整时无此字段 / Where the override in force was set; absent when none is.
    #[schema(example = "310000/310115/310115005")]
    #[serde(skip_serializing_if = "Option::is_none")]
    overridden_at: Option<String>,
    /// 调整人 / Who set that override.
    #[serde(skip_serializing_if = "Option::is_none")]
    set_by: Option<String>,
    /// 调整时间（RFC 3339） / When (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    set_at: Option<String>,
}

/// The effective settings at a tenant.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SettingList {
    /// 按名称排序 / By key.
    settings: Vec<SettingView>,
}

/// A new value for a setting at the tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingRequest {
    /// 新值，类型须与配置一致 / The new value, of the configured JSON type.
    #[schema(example = 300)]
    value: Value,
}

/// The setting a path names, after its tenant.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct SettingParams {
    /// 设置项 / The key.
    #[param(example = "meal-subsidy.local-top-up")]
    key: String,
}

impl From<SettingsError> for ApiError {
    fn from(error: SettingsError) -> ApiError {
        let unprocessable = |code| {
            let text = error.to_string();
            let (zh, en) = text
                .split_once(" / ")
                .map_or((text.clone(), text.clone()), |(zh, en)| {
                    (zh.to_owned(), en.to_owned())
                });
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, zh, en)
        };
        match &error {
            SettingsError::InvalidKey(_) => unprocessable("invalid_setting_key"),
            SettingsError::Unknown { .. } => unprocessable("unknown_setting"),
            SettingsError::WrongType { .. } => unprocessable("setting_type"),
            SettingsError::TooLarge => unprocessable("setting_too_large"),
            SettingsError::Storage(e) if e.is_unavailable() => ApiError::database_unavailable(),
            SettingsError::Storage(_) | SettingsError::Audit(_) => {
                tracing::error!(%error, "setting change failed");
                ApiError::internal()
            }
        }
    }
}

/// The tree this node serves; 503 without one.
fn served_tree(state: &AppState) -> Result<&SharedTree, ApiError> {
    Ok(&state.modules()?.tree)
}

/// The settings at `tenant`: configured values with the overrides read
/// from the database laid over them (not this node's copy, which may be a
/// second behind).
async fn settings_at(state: &AppState, tenant: &TenantPath) -> Result<Vec<SettingView>, ApiError> {
    let configured = served_tree(state)?.configured();
    let overrides = civitas_settings::overrides_at(state.db(), tenant).await?;
    let configured_values = configured.effective_settings(tenant);
    let effective = configured
        .with_settings_overrides(
            overrides
                .iter()
                .map(|o| (&o.tenant, o.key.as_str(), &o.value)),
        )
        .effective_settings(tenant);
    Ok(effective
        .into_iter()
        .map(|(key, value)| {
            // The nearest override wins: the last one on the path down.
            let set: Option<&SettingOverride> = overrides.iter().rev().find(|o| o.key == key);
            SettingView {
                configured: configured_values.get(&key).cloned().unwrap_or(Value::Null),
                overridden_at: set.map(|o| o.tenant.to_string()),
                set_by: set.map(|o| o.set_by.clone()),
                set_at: set.and_then(|o| {
                    chrono::DateTime::from_timestamp_micros(o.set_at).map(|t| t.to_rfc3339())
                }),
                key,
                value,
            }
        })
        .collect())
}

/// After a change: this node serves it at once (the others within a second).
async fn refresh(state: &AppState) -> Result<(), ApiError> {
    let (version, overrides) = civitas_settings::overrides(state.db()).await?;
    served_tree(state)?.replace_overrides(
        version,
        overrides
            .into_iter()
            .map(|o| (o.tenant, o.key, o.value))
            .collect(),
    );
    Ok(())
}

fn one(settings: Vec<SettingView>, key: &str) -> Result<SettingView, ApiError> {
    settings
        .into_iter()
        .find(|s| s.key == key)
        .ok_or_else(ApiError::internal)
}

/// The effective settings at the tenant, each with its configured value and
/// where the override in force was set (`tenant.configure`).
#[utoipa::path(get, path = "/api/v1/tenants/{path}/settings", tag = "tenants",
    security(("bearer" = [])),
    params(TenantParam),
    responses(
        (status = 200, description = "生效的设置 / The settings in force", body = SettingList),
        (status = 403, description = "无权查看 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody)
    ))]
pub(crate) async fn list_settings(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
) -> Result<Json<SettingList>, ApiError> {
    caller.authorize(&state, &tenant.path, NO_LINE, "tenant.configure")?;
    Ok(Json(SettingList {
        settings: settings_at(&state, &tenant.path).await?,
    }))
}

/// Overrides a configured setting at the tenant (`tenant.configure`),
/// audited as `setting.set`; in force here at once, on every node within
/// about a second, and inherited by the subtree unless overridden lower.
#[utoipa::path(put, path = "/api/v1/tenants/{path}/settings/{key}", tag = "tenants",
    security(("bearer" = [])),
    params(TenantParam, SettingParams),
    request_body = SettingRequest,
    responses(
        (status = 200, description = "已调整 / Set", body = SettingView),
        (status = 403, description = "无权调整 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在 / No such tenant", body = ErrorBody),
        (status = 422, description = "设置项未配置、名称无效或值的类型不符 / Not a configured setting, an invalid key, or a value of another type", body = ErrorBody)
    ))]
pub(crate) async fn put_setting(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(named): Path<SettingParams>,
    ApiJson(request): ApiJson<SettingRequest>,
) -> Result<Json<SettingView>, ApiError> {
    let scope = caller.authorize(&state, &tenant.path, NO_LINE, "tenant.configure")?;
    let configured_tree = served_tree(&state)?.configured();
    let configured = configured_tree.effective_settings(&tenant.path);
    civitas_settings::check(&tenant.path, &configured, &named.key, &request.value)?;
    // The value must also read where it is used below the tenant: the
    // working-day calendar reads its local non-working days at every node.
    let overrides = civitas_settings::overrides_at(state.db(), &tenant.path).await?;
    let trial = configured_tree.with_settings_overrides(
        overrides
            .iter()
            .map(|o| (&o.tenant, o.key.as_str(), &o.value))
            .chain(std::iter::once((
                &tenant.path,
                named.key.as_str(),
                &request.value,
            ))),
    );
    for node in trial.subtree(&tenant.path) {
        civitas_workflow::local_days(&trial, &node.path).map_err(|reason| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_setting_value",
                format!("设置项 {} 的值无效：{reason}", named.key),
                format!("Setting {} has an invalid value: {reason}", named.key),
            )
        })?;
    }
    let mut tx = state.db().begin(&scope).await?;
    civitas_settings::set(
        &mut tx,
        &configured,
        &tenant.path,
        &named.key,
        &request.value,
        caller.username(),
    )
    .await?;
    tx.commit().await?;
    refresh(&state).await?;
    one(settings_at(&state, &tenant.path).await?, &named.key).map(Json)
}

/// Drops the tenant's own override of a setting (`tenant.configure`),
/// audited as `setting.reset`: the configured value (or an ancestor's
/// override) is in force again; 204, or 404 `setting_not_overridden` when
/// the tenant has none.
#[utoipa::path(delete, path = "/api/v1/tenants/{path}/settings/{key}", tag = "tenants",
    security(("bearer" = [])),
    params(TenantParam, SettingParams),
    responses(
        (status = 204, description = "已恢复配置值 / The override is gone"),
        (status = 403, description = "无权调整 / Not allowed", body = ErrorBody),
        (status = 404, description = "租户不存在，或本租户未调整该设置 / No such tenant, or no override here", body = ErrorBody)
    ))]
pub(crate) async fn delete_setting(
    State(state): State<AppState>,
    caller: Caller,
    tenant: Tenant,
    Path(named): Path<SettingParams>,
) -> Result<StatusCode, ApiError> {
    let scope = caller.authorize(&state, &tenant.path, NO_LINE, "tenant.configure")?;
    let mut tx = state.db().begin(&scope).await?;
    let removed =
        civitas_settings::reset(&mut tx, &tenant.path, &named.key, caller.username()).await?;
    if removed.is_none() {
        tx.rollback().await?;
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "setting_not_overridden",
            format!("本租户未调整设置项 {}", named.key),
            format!("This tenant has no override of {}", named.key),
        ));
    }
    tx.commit().await?;
    refresh(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}
