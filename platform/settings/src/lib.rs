//! Tenant settings that change without a restart.
//!
//! The configured settings (`[settings]` of a node's TOML file, part of the
//! tree revision) stay the seed and the reviewable default. A tenant
//! administrator may *override* a configured key at a node through the
//! API: [`set`] checks the key and value against the configuration
//! ([`check`]: the key must be configured at the node or above it, the value
//! of the same JSON type), stores the override, audits it (`setting.set`,
//! `setting.reset`) in the node's chain and moves a version number, all in
//! the caller's transaction. Every node looks at [`version`] every second
//! and lays [`overrides`] over its tree
//! (`civitas_tenancy::SharedTree::replace_overrides`), so a change is
//! effective everywhere within about a second.

use civitas_storage::{Database, StorageError, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::Row;

/// The longest setting key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;

/// The largest value, as compact JSON, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

/// Why a setting could not be changed or read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The key is not a setting key (`a-z`, `0-9`, `-`, dot-separated).
    #[error(
        "设置项名称无效：{0}（小写字母、数字、连字符，以点分隔，不超过 128 字节） / invalid setting key {0}: lowercase letters, digits and dashes in dot-separated parts, at most 128 bytes"
    )]
    InvalidKey(String),
    /// The key is configured neither at the node nor above it.
    #[error(
        "{tenant} 没有设置项 {key}：只能调整已在租户配置中定义的设置 / {tenant} has no setting {key}: only settings defined in the tenant configuration can be changed"
    )]
    Unknown {
        /// The node.
        tenant: TenantPath,
        /// The key.
        key: String,
    },
    /// The value's JSON type differs from the configured one.
    #[error(
        "设置项 {key} 的值应为{expected_zh}（与配置一致） / setting {key} takes {expected_en}, like its configured value"
    )]
    WrongType {
        /// The key.
        key: String,
        /// The type expected, in Chinese.
        expected_zh: &'static str,
        /// The type expected, in English.
        expected_en: &'static str,
    },
    /// The value is too large.
    #[error(
        "设置项的值不能超过 {MAX_VALUE_BYTES} 字节 / a setting's value is at most {MAX_VALUE_BYTES} bytes of JSON"
    )]
    TooLarge,
    /// The database failed.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// The change could not be audited (and so was not made).
    #[error("无法写入审计记录 / cannot write the audit record: {0}")]
    Audit(String),
}

impl From<sqlx::Error> for SettingsError {
    fn from(e: sqlx::Error) -> SettingsError {
        SettingsError::Storage(StorageError::Database(e))
    }
}

/// An override of a configured setting at one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingOverride {
    /// The node.
    pub tenant: TenantPath,
    /// The key.
    pub key: String,
    /// The value in force there (and below, unless overridden lower down).
    pub value: Value,
    /// Who set it.
    pub set_by: String,
    /// When, in Unix microseconds.
    pub set_at: i64,
}

/// Whether `key` is a setting key: dot-separated parts of lowercase
/// letters, digits and dashes, at most [`MAX_KEY_BYTES`].
pub fn valid_key(key: &str) -> bool {
    key.len() <= MAX_KEY_BYTES
        && key.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn kind(value: &Value) -> (&'static str, &'static str) {
    match value {
        Value::Null => ("空值", "null"),
        Value::Bool(_) => ("布尔值", "a boolean"),
        Value::Number(n) if n.is_i64() || n.is_u64() => ("整数", "an integer"),
        Value::Number(_) => ("数字", "a number"),
        Value::String(_) => ("字符串", "a string"),
        Value::Array(_) => ("数组", "an array"),
        Value::Object(_) => ("对象", "an object"),
    }
}

/// Checks an override of `key` to `value` against `configured`, the
/// configured (not overridden) effective settings at the node: the key must
/// be there, and the value of the same JSON type (an integer stays an
/// integer: amounts are in fen).
pub fn check(
    tenant: &TenantPath,
    configured: &Map<String, Value>,
    key: &str,
    value: &Value,
) -> Result<(), SettingsError> {
    if !valid_key(key) {
        return Err(SettingsError::InvalidKey(key.to_owned()));
    }
    let Some(configured) = configured.get(key) else {
        return Err(SettingsError::Unknown {
            tenant: tenant.clone(),
            key: key.to_owned(),
        });
    };
    if serde_json::to_vec(value).map_or(true, |v| v.len() > MAX_VALUE_BYTES) {
        return Err(SettingsError::TooLarge);
    }
    let (expected_zh, expected_en) = kind(configured);
    let same = match (configured, value) {
        (Value::Number(_), Value::Number(_)) => {
            kind(configured) == kind(value) || (expected_en == "a number")
        }
        _ => std::mem::discriminant(configured) == std::mem::discriminant(value),
    };
    if same {
        Ok(())
    } else {
        Err(SettingsError::WrongType {
            key: key.to_owned(),
            expected_zh,
            expected_en,
        })
    }
}

/// Sets the override of `key` at `tenant` (in `tx`'s scope) to `value`,
/// checked against `configured` ([`check`]), audited as `setting.set` by
/// `actor` with the value before and after. The previous override, if any.
pub async fn set(
    tx: &mut TenantTx,
    configured: &Map<String, Value>,
    tenant: &TenantPath,
    key: &str,
    value: &Value,
    actor: &str,
) -> Result<Option<Value>, SettingsError> {
    check(tenant, configured, key, value)?;
    let previous = stored(tx, tenant, key).await?;
    let text = value.to_string();
    let now = now_micros();
    let path = tenant.as_str().to_owned();
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO tenant_setting_overrides (tenant_path, key, value, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_path, key) DO UPDATE SET \
                 value = excluded.value, set_by = excluded.set_by, set_at = excluded.set_at",
        )
        .bind(path)
        .bind(key.to_owned())
        .bind(text)
        .bind(actor.to_owned())
        .bind(now)
        .execute(&mut *c)
        .await?;
    });
    bump_version(tx).await?;
    let event = civitas_audit::NewEvent {
        actor: actor.to_owned(),
        action: "setting.set".into(),
        target: format!("{tenant}#{key}"),
        detail: serde_json::json!({
            "key": key,
            "configured": configured.get(key),
            "from": previous,
            "to": value,
        }),
    };
    civitas_audit::record(tx, tenant, &event)
        .await
        .map_err(|e| SettingsError::Audit(e.to_string()))?;
    Ok(previous)
}

/// Removes the override of `key` at `tenant`, so the configured value is in
/// force again; audited as `setting.reset`. The removed value, `None` when
/// there was no override (nothing is written then) — as for a key that is
/// no setting key at all, which no override can have.
pub async fn reset(
    tx: &mut TenantTx,
    tenant: &TenantPath,
    key: &str,
    actor: &str,
) -> Result<Option<Value>, SettingsError> {
    if !valid_key(key) {
        return Ok(None);
    }
    let Some(previous) = stored(tx, tenant, key).await? else {
        return Ok(None);
    };
    let path = tenant.as_str().to_owned();
    with_connection!(tx.connection(), c => {
        sqlx::query("DELETE FROM tenant_setting_overrides WHERE tenant_path = $1 AND key = $2")
            .bind(path)
            .bind(key.to_owned())
            .execute(&mut *c)
            .await?;
    });
    bump_version(tx).await?;
    let event = civitas_audit::NewEvent {
        actor: actor.to_owned(),
        action: "setting.reset".into(),
        target: format!("{tenant}#{key}"),
        detail: serde_json::json!({"key": key, "from": previous}),
    };
    civitas_audit::record(tx, tenant, &event)
        .await
        .map_err(|e| SettingsError::Audit(e.to_string()))?;
    Ok(Some(previous))
}

/// The overrides on the path from the root down to `tenant`: what shapes
/// its effective settings, ancestors' included (their values reach the
/// node's modules anyway). A platform read, after the caller's decision on
/// `tenant`.
pub async fn overrides_at(
    db: &Database,
    tenant: &TenantPath,
) -> Result<Vec<SettingOverride>, SettingsError> {
    let mut tx = db.begin_platform_read().await?;
    let mut found = Vec::new();
    for node in tenant.lineage() {
        let path = node.as_str().to_owned();
        let rows = with_connection!(tx.connection(), c => {
            let rows = sqlx::query(
                "SELECT tenant_path, key, value, set_by, set_at FROM tenant_setting_overrides \
                 WHERE tenant_path = $1 ORDER BY key",
            )
            .bind(path)
            .fetch_all(&mut *c)
            .await?;
            rows.iter().map(decode).collect::<Result<Vec<_>, SettingsError>>()?
        });
        found.extend(rows);
    }
    tx.commit().await?;
    Ok(found)
}

/// Every override and the version they are at, read in one snapshot: what
/// a node lays over its tree. Platform work (every tenant).
pub async fn overrides(db: &Database) -> Result<(i64, Vec<SettingOverride>), SettingsError> {
    let mut tx = db.begin_platform_read().await?;
    let (version, rows) = with_connection!(tx.connection(), c => {
        let version: i64 = sqlx::query_scalar("SELECT version FROM settings_version WHERE id = 1")
            .fetch_one(&mut *c)
            .await?;
        let rows = sqlx::query(
            "SELECT tenant_path, key, value, set_by, set_at FROM tenant_setting_overrides \
             ORDER BY tenant_path, key",
        )
        .fetch_all(&mut *c)
        .await?;
        (version, rows.iter().map(decode).collect::<Result<Vec<_>, SettingsError>>()?)
    });
    tx.commit().await?;
    Ok((version, rows))
}

/// A number that moves with every override change: a node compares it with
/// the one its tree was built at.
pub async fn version(db: &Database) -> Result<i64, SettingsError> {
    let mut tx = db.begin_platform_read().await?;
    let version: i64 = with_connection!(tx.connection(), c => {
        sqlx::query_scalar("SELECT version FROM settings_version WHERE id = 1")
            .fetch_one(&mut *c)
            .await?
    });
    tx.commit().await?;
    Ok(version)
}

async fn stored(
    tx: &mut TenantTx,
    tenant: &TenantPath,
    key: &str,
) -> Result<Option<Value>, SettingsError> {
    let path = tenant.as_str().to_owned();
    let text: Option<String> = with_connection!(tx.connection(), c => {
        sqlx::query_scalar(
            "SELECT value FROM tenant_setting_overrides WHERE tenant_path = $1 AND key = $2",
        )
        .bind(path)
        .bind(key.to_owned())
        .fetch_optional(&mut *c)
        .await?
    });
    text.map(|t| {
        serde_json::from_str(&t).map_err(|_| {
            StorageError::Corrupt(format!("setting override {tenant} {key}: not JSON")).into()
        })
    })
    .transpose()
}

async fn bump_version(tx: &mut TenantTx) -> Result<(), SettingsError> {
    with_connection!(tx.connection(), c => {
        sqlx::query("UPDATE settings_version SET version = version + 1 WHERE id = 1")
            .execute(&mut *c)
            .await?;
    });
    Ok(())
}

fn decode<R>(row: &R) -> Result<SettingOverride, SettingsError>
where
    R: Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let path: String = row.try_get("tenant_path")?;
    let key: String = row.try_get("key")?;
    let value: String = row.try_get("value")?;
    let corrupt = |what: &str| {
        SettingsError::Storage(StorageError::Corrupt(format!(
            "setting override {path} {key}: {what}"
        )))
    };
    Ok(SettingOverride {
        tenant: TenantPath::parse(&path).map_err(|_| corrupt("bad path"))?,
        value: serde_json::from_str(&value).map_err(|_| corrupt("not JSON"))?,
        key,
        set_by: row.try_get("set_by")?,
        set_at: row.try_get("set_at")?,
    })
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn configured() -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("meal-subsidy.local-top-up".into(), json!(200));
        map.insert("meal-subsidy.rate".into(), json!(0.5));
        map.insert("portal.hotline".into(), json!("12345"));
        map
    }

    fn lujiazui() -> TenantPath {
        TenantPath::parse("310000/310115/310115005").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_override_must_name_a_configured_key_with_a_value_of_its_type() {
        let ok = |key: &str, value: Value| check(&lujiazui(), &configured(), key, &value);
        assert!(ok("meal-subsidy.local-top-up", json!(350)).is_ok());
        assert!(
            ok("meal-subsidy.rate", json!(1)).is_ok(),
            "an integer is a number"
        );
        assert!(ok("portal.hotline", json!("962000")).is_ok());
        assert!(matches!(
            ok("meal-subsidy.local-top-up", json!(3.5)),
            Err(SettingsError::WrongType {
                expected_en: "an integer",
                ..
            })
        ));
        assert!(matches!(
            ok("portal.hotline", json!(12345)),
            Err(SettingsError::WrongType { .. })
        ));
        assert!(matches!(
            ok("portal.fax", json!("1")),
            Err(SettingsError::Unknown { .. })
        ));
        assert!(matches!(
            ok("portal.hotline", json!("x".repeat(MAX_VALUE_BYTES))),
            Err(SettingsError::TooLarge)
        ));
    }

    #[test]
    fn keys_are_dot_separated_lowercase_words() {
        for key in ["portal.hotline", "meal-subsidy.per-meal.general", "a"] {
            assert!(valid_key(key), "{key}");
        }
        for key in [
            "",
            "Portal",
            "a..b",
            ".a",
            "a.",
            "a_b",
            "a b",
            &"a".repeat(129),
        ] {
            assert!(!valid_key(key), "{key}");
        }
    }
}
