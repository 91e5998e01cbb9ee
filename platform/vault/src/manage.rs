//! The platform's key work: provisioning keys for new tenants, rotating a
//! tenant's data key, re-wrapping under a new master key, and listing keys.
//!
//! All of it runs in platform transactions, in short batches, while the
//! platform keeps serving: writers always seal with the active key, readers
//! open with whatever version a record names, and an old key is destroyed
//! only once no record uses it.

use std::collections::HashMap;

use chrono::Utc;
use civitas_crypto::random_bytes;
use civitas_storage::{Database, PlatformTx, with_connection};
use civitas_tenancy::TenantPath;
use sqlx::{AssertSqlSafe, Row};
use zeroize::Zeroizing;

use crate::keyring::{Purpose, wrap_context};
use crate::{Keyring, Sealer, VaultError};

/// A table that holds sealed personal data, for rotation to re-encrypt.
///
/// The table has `tenant_path`, an id column, `key_version`, and the sealed
/// columns; each column's field name (its sealing context) is
/// `table.column`.
#[derive(Debug, Clone, Copy)]
pub struct ProtectedTable {
    /// The table's name.
    pub table: &'static str,
    /// Its primary-key column (text).
    pub id_column: &'static str,
    /// The sealed columns (nullable).
    pub columns: &'static [&'static str],
}

/// What [`provision`] created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionReport {
    /// Data keys created (one per tenant that had none).
    pub data_keys: u64,
    /// Index keys created (one per root that had none).
    pub index_keys: u64,
}

/// Gives every tenant in `tenants` a data key and every root an index key,
/// where they have none. Idempotent; safe from several nodes at once.
pub async fn provision(
    db: &Database,
    keyring: &Keyring,
    tenants: &[TenantPath],
) -> Result<ProvisionReport, VaultError> {
    let mut report = ProvisionReport::default();
    let mut tx = db.begin_platform().await?;
    for tenant in tenants {
        if insert_first_key(&mut tx, keyring, tenant, Purpose::Data).await? {
            report.data_keys += 1;
        }
        if tenant.parent().is_none()
            && insert_first_key(&mut tx, keyring, tenant, Purpose::Index).await?
        {
            report.index_keys += 1;
        }
    }
    tx.commit().await?;
    Ok(report)
}

async fn insert_first_key(
    tx: &mut PlatformTx,
    keyring: &Keyring,
    tenant: &TenantPath,
    purpose: Purpose,
) -> Result<bool, VaultError> {
    let (master_key_id, wrapped) = new_wrapped_key(keyring, tenant.as_str(), purpose, 1)?;
    let inserted = with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO tenant_keys (tenant_path, purpose, version, state, master_key_id, wrapped_key, created_at) \
             SELECT $1, $2, 1, 'active', $3, $4, $5 \
             WHERE NOT EXISTS (SELECT 1 FROM tenant_keys WHERE tenant_path = $1 AND purpose = $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str().to_owned())
        .bind(purpose.as_str())
        .bind(master_key_id)
        .bind(wrapped)
        .bind(Utc::now().timestamp_micros())
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    Ok(inserted > 0)
}

fn new_wrapped_key(
    keyring: &Keyring,
    tenant: &str,
    purpose: Purpose,
    version: i64,
) -> Result<(String, String), VaultError> {
    let mut key = Zeroizing::new(vec![0u8; purpose.key_len()]);
    random_bytes(&mut key)?;
    let (id, wrapped) = keyring
        .provider()
        .wrap(&key, &wrap_context(tenant, purpose, version))?;
    Ok((id, hex::encode(wrapped)))
}

/// One stored tenant key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    /// The tenant it belongs to.
    pub tenant_path: String,
    /// `data` or `index`.
    pub purpose: String,
    /// Its version, from 1.
    pub version: i64,
    /// `active`, `retiring` or `retired`.
    pub state: String,
    /// The master key that wraps it.
    pub master_key_id: String,
    /// When it was created (microseconds since the Unix epoch).
    pub created_at: i64,
    /// When it was retired and destroyed, if it was.
    pub retired_at: Option<i64>,
}

/// How many tenant keys are in each state (`active`, `retiring` — a
/// rotation still re-encrypting under it —, `retired`), in state order.
pub async fn key_counts(db: &Database) -> Result<Vec<(String, i64)>, VaultError> {
    let mut tx = db.begin_platform_read().await?;
    let counts: Vec<(String, i64)> = with_connection!(tx.connection(), c => {
        sqlx::query_as("SELECT state, count(*) FROM tenant_keys GROUP BY state ORDER BY state")
            .fetch_all(&mut *c)
            .await?
    });
    tx.commit().await?;
    Ok(counts)
}

/// Every key of the subtree `under`, in path, purpose and version order.
pub async fn list(db: &Database, under: &TenantPath) -> Result<Vec<KeyInfo>, VaultError> {
    let (lower, upper) = under.subtree_range();
    let mut tx = db.begin_platform_read().await?;
    let keys = with_connection!(tx.connection(), c => {
        let rows = sqlx::query(
            "SELECT tenant_path, purpose, version, state, master_key_id, created_at, retired_at FROM tenant_keys \
             WHERE tenant_path >= $1 AND tenant_path < $2 ORDER BY tenant_path, purpose, version",
        )
        .bind(lower.to_owned())
        .bind(upper.clone())
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyInfo {
                    tenant_path: r.try_get(0)?,
                    purpose: r.try_get(1)?,
                    version: r.try_get(2)?,
                    state: r.try_get(3)?,
                    master_key_id: r.try_get(4)?,
                    created_at: r.try_get(5)?,
                    retired_at: r.try_get(6)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
    });
    Ok(keys)
}

/// What a rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// The tenant.
    pub tenant: String,
    /// The data key version now active.
    pub active_version: i64,
    /// Whether this call continued a rotation an earlier call began.
    pub resumed: bool,
    /// Keys re-wrapped under the current master key.
    pub rewrapped: u64,
    /// Records re-encrypted by this call.
    pub reencrypted: u64,
    /// Data key versions retired (and destroyed) at the end.
    pub retired_versions: Vec<i64>,
}

/// How many records one batch re-encrypts: small enough that a batch holds
/// SQLite's write lock only briefly.
const BATCH: i64 = 200;

/// Rotates `tenant`'s data key without stopping the platform.
///
/// 1. Re-wraps the tenant's keys under the current master key.
/// 2. Makes a new data key version active (or, if a previous rotation was
///    interrupted, continues it); from then on every write seals with it.
/// 3. Re-encrypts, in short batches, every record of `tables` still sealed
///    with an older version. Records written meanwhile already use the new
///    key; records being updated meanwhile are skipped here, because the
///    writer re-seals them.
/// 4. Retires the old versions — destroying the wrapped bytes — once no
///    record uses one (step 2's switch-over already waited for every
///    writer holding the old key); if one does, back to 3. If another
///    rotation of the same tenant began meanwhile, this one stops with
///    [`VaultError::RotationSuperseded`] and leaves the rest to it.
///
/// Until step 4 commits, old versions still open records. `progress` gets
/// `(done, total)` as records are re-encrypted.
pub async fn rotate(
    db: &Database,
    keyring: &Keyring,
    tenant: &TenantPath,
    tables: &[ProtectedTable],
    mut progress: impl FnMut(u64, u64),
) -> Result<RotationReport, VaultError> {
    let mut report = RotationReport {
        tenant: tenant.to_string(),
        rewrapped: rewrap(db, keyring, tenant).await?,
        ..RotationReport::default()
    };
    let (active, resumed) = begin_rotation(db, keyring, tenant).await?;
    report.active_version = active;
    report.resumed = resumed;
    loop {
        let total = stale_records(db, tenant, tables, active).await?;
        progress(0, total);
        report.reencrypted += reencrypt(db, keyring, tenant, tables, active, |done| {
            progress(done, total)
        })
        .await?;
        if let Some(retired) = retire(db, tenant, tables, active).await? {
            report.retired_versions = retired;
            break;
        }
    }
    keyring.forget(tenant);
    Ok(report)
}

/// Checks that this node's master keys open the database's tenant keys:
/// one key wrapped under each master key the database names is unwrapped.
/// A node started with another master key than the one the database's keys
/// were wrapped with would fail on the first sealed field it read — and
/// seal nothing any other node could open — so `serve` calls this before it
/// starts and refuses with [`VaultError::UnknownMasterKey`] (or the
/// unwrapping error). A database without keys yet passes.
pub async fn check_master_keys(db: &Database, keyring: &Keyring) -> Result<(), VaultError> {
    let mut tx = db.begin_platform().await?;
    let rows: Vec<(String, String, i64, String, String)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT tenant_path, purpose, version, master_key_id, wrapped_key FROM tenant_keys \
             WHERE wrapped_key IS NOT NULL ORDER BY master_key_id, tenant_path, purpose, version",
        )
        .fetch_all(&mut *c)
        .await?
    });
    // Read only: nothing to keep.
    tx.commit().await?;
    let mut checked: Option<&str> = None;
    for (tenant, purpose, version, master_key_id, wrapped_hex) in &rows {
        // One key per master key: the rows come ordered by it.
        if checked == Some(master_key_id.as_str()) {
            continue;
        }
        let purpose = match purpose.as_str() {
            "index" => Purpose::Index,
            "data" => Purpose::Data,
            other => {
                return Err(VaultError::Malformed(format!(
                    "tenant key purpose {other} of {tenant}"
                )));
            }
        };
        let wrapped = hex::decode(wrapped_hex)
            .map_err(|e| VaultError::Malformed(format!("wrapped key of {tenant}: {e}")))?;
        keyring.provider().unwrap(
            master_key_id,
            &wrapped,
            &wrap_context(tenant, purpose, *version),
        )?;
        checked = Some(master_key_id.as_str());
    }
    Ok(())
}

/// Re-wraps every live key of `tenant` whose wrapping master key is not
/// the current one; returns how many it re-wrapped.
pub async fn rewrap(
    db: &Database,
    keyring: &Keyring,
    tenant: &TenantPath,
) -> Result<u64, VaultError> {
    let current = keyring.provider().current_id().to_owned();
    let mut tx = db.begin_platform().await?;
    let stale: Vec<(String, i64, String, String)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT purpose, version, master_key_id, wrapped_key FROM tenant_keys \
             WHERE tenant_path = $1 AND wrapped_key IS NOT NULL AND master_key_id <> $2",
        )
        .bind(tenant.as_str().to_owned())
        .bind(current.clone())
        .fetch_all(&mut *c)
        .await?
    });
    let mut count = 0;
    for (purpose, version, master_key_id, wrapped_hex) in stale {
        let purpose = match purpose.as_str() {
            "index" => Purpose::Index,
            _ => Purpose::Data,
        };
        let context = wrap_context(tenant.as_str(), purpose, version);
        let wrapped = hex::decode(&wrapped_hex)
            .map_err(|e| VaultError::Malformed(format!("wrapped key: {e}")))?;
        let key = keyring
            .provider()
            .unwrap(&master_key_id, &wrapped, &context)?;
        let (id, rewrapped) = keyring.provider().wrap(&key, &context)?;
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE tenant_keys SET master_key_id = $4, wrapped_key = $5 WHERE tenant_path = $1 AND purpose = $2 AND version = $3")
                .bind(tenant.as_str().to_owned())
                .bind(purpose.as_str())
                .bind(version)
                .bind(id)
                .bind(hex::encode(rewrapped))
                .execute(&mut *c)
                .await?;
        });
        count += 1;
    }
    tx.commit().await?;
    Ok(count)
}

/// Makes a new data key version active, unless a rotation is already under
/// way; returns the active version and whether it resumed.
async fn begin_rotation(
    db: &Database,
    keyring: &Keyring,
    tenant: &TenantPath,
) -> Result<(i64, bool), VaultError> {
    let mut tx = db.begin_platform().await?;
    let (active, retiring, max): (Option<i64>, i64, Option<i64>) = with_connection!(tx.connection(), c => {
        let row = sqlx::query(
            "SELECT \
               (SELECT version FROM tenant_keys WHERE tenant_path = $1 AND purpose = 'data' AND state = 'active'), \
               (SELECT count(*) FROM tenant_keys WHERE tenant_path = $1 AND purpose = 'data' AND state = 'retiring'), \
               (SELECT max(version) FROM tenant_keys WHERE tenant_path = $1 AND purpose = 'data')",
        )
        .bind(tenant.as_str().to_owned())
        .fetch_one(&mut *c)
        .await?;
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)
    });
    let Some(active) = active else {
        return Err(VaultError::MissingKey {
            tenant: tenant.to_string(),
            purpose: "data",
        });
    };
    if retiring > 0 {
        return Ok((active, true));
    }
    let next = max.unwrap_or(active) + 1;
    let (master_key_id, wrapped) = new_wrapped_key(keyring, tenant.as_str(), Purpose::Data, next)?;
    with_connection!(tx.connection(), c => {
        // Waits for writers holding the active key (PostgreSQL FOR SHARE).
        sqlx::query("UPDATE tenant_keys SET state = 'retiring' WHERE tenant_path = $1 AND purpose = 'data' AND state = 'active'")
            .bind(tenant.as_str().to_owned())
            .execute(&mut *c)
            .await?;
        sqlx::query(
            "INSERT INTO tenant_keys (tenant_path, purpose, version, state, master_key_id, wrapped_key, created_at) \
             VALUES ($1, 'data', $2, 'active', $3, $4, $5)",
        )
        .bind(tenant.as_str().to_owned())
        .bind(next)
        .bind(master_key_id)
        .bind(wrapped)
        .bind(Utc::now().timestamp_micros())
        .execute(&mut *c)
        .await?;
    });
    tx.commit().await?;
    tracing::info!(tenant = %tenant, version = next, "new data key version active");
    Ok((next, false))
}

async fn count_stale(
    tx: &mut PlatformTx,
    tenant: &TenantPath,
    tables: &[ProtectedTable],
    active: i64,
) -> Result<u64, VaultError> {
    let mut total = 0u64;
    for table in tables {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE tenant_path = $1 AND key_version < $2",
            table.table
        );
        let n: i64 = with_connection!(tx.connection(), c => {
            sqlx::query_scalar(AssertSqlSafe(sql.clone()))
                .bind(tenant.as_str().to_owned())
                .bind(active)
                .fetch_one(&mut *c)
                .await?
        });
        total += u64::try_from(n).unwrap_or_default();
    }
    Ok(total)
}

async fn stale_records(
    db: &Database,
    tenant: &TenantPath,
    tables: &[ProtectedTable],
    active: i64,
) -> Result<u64, VaultError> {
    let mut tx = db.begin_platform_read().await?;
    count_stale(&mut tx, tenant, tables, active).await
}

async fn reencrypt(
    db: &Database,
    keyring: &Keyring,
    tenant: &TenantPath,
    tables: &[ProtectedTable],
    active: i64,
    mut progress: impl FnMut(u64),
) -> Result<u64, VaultError> {
    let mut done = 0u64;
    let keys = live_keys(db, keyring, tenant).await?;
    let new_key = keys.get(&active).ok_or_else(|| VaultError::MissingKey {
        tenant: tenant.to_string(),
        purpose: "data",
    })?;
    for table in tables {
        let select = format!(
            "SELECT {id}, key_version, {cols} FROM {table} WHERE tenant_path = $1 AND key_version < $2 ORDER BY {id} LIMIT {BATCH}",
            id = table.id_column,
            cols = table.columns.join(", "),
            table = table.table,
        );
        let sets: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, col)| format!("{col} = ${}", i + 4))
            .collect();
        // Only if the record still has the version we read: a writer that
        // re-sealed it meanwhile wins.
        let update = format!(
            "UPDATE {table} SET key_version = $3, {sets} WHERE {id} = $1 AND key_version = $2",
            table = table.table,
            sets = sets.join(", "),
            id = table.id_column,
        );
        let mut skipped: Vec<String> = Vec::new();
        loop {
            let mut tx = db.begin_platform().await?;
            let rows: Vec<(String, i64, Vec<Option<String>>)> = with_connection!(tx.connection(), c => {
                let rows = sqlx::query(AssertSqlSafe(select.clone()))
                    .bind(tenant.as_str().to_owned())
                    .bind(active)
                    .fetch_all(&mut *c)
                    .await?;
                rows.iter()
                    .map(|r| {
                        let values = (0..table.columns.len())
                            .map(|i| r.try_get::<Option<String>, _>(i + 2))
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok((r.try_get(0)?, r.try_get(1)?, values))
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            });
            let fresh: Vec<_> = rows
                .into_iter()
                .filter(|(id, _, _)| !skipped.contains(id))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for (id, version, values) in fresh {
                let old_key = keys.get(&version).ok_or_else(|| VaultError::RetiredKey {
                    tenant: tenant.to_string(),
                    version,
                })?;
                let mut resealed = Vec::with_capacity(values.len());
                for (col, value) in table.columns.iter().zip(&values) {
                    let field = format!("{}.{col}", table.table);
                    resealed.push(match value {
                        Some(sealed) => Some(new_key.seal(&field, &old_key.open(&field, sealed)?)?),
                        None => None,
                    });
                }
                let changed = with_connection!(tx.connection(), c => {
                    let mut q = sqlx::query(AssertSqlSafe(update.clone()))
                        .bind(id.clone())
                        .bind(version)
                        .bind(active);
                    for value in &resealed {
                        q = q.bind(value.clone());
                    }
                    q.execute(&mut *c).await?.rows_affected()
                });
                if changed == 0 {
                    // Updated meanwhile; its writer sealed it with the new key.
                    skipped.push(id);
                } else {
                    done += 1;
                }
            }
            tx.commit().await?;
            progress(done);
        }
    }
    Ok(done)
}

/// Sealers for every data key version of `tenant` not yet destroyed,
/// loaded outside any tenant scope (rotation is platform work).
async fn live_keys(
    db: &Database,
    keyring: &Keyring,
    tenant: &TenantPath,
) -> Result<HashMap<i64, Sealer>, VaultError> {
    let mut tx = db.begin_platform_read().await?;
    let rows: Vec<(i64, String, String)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT version, wrapped_key, master_key_id FROM tenant_keys \
             WHERE tenant_path = $1 AND purpose = 'data' AND wrapped_key IS NOT NULL",
        )
        .bind(tenant.as_str().to_owned())
        .fetch_all(&mut *c)
        .await?
    });
    let mut keys = HashMap::new();
    for (version, wrapped, master_key_id) in rows {
        let key = keyring.unwrap_and_cache(
            (tenant.as_str().to_owned(), Purpose::Data, version),
            &master_key_id,
            &wrapped,
        )?;
        keys.insert(version, Sealer::new(tenant.as_str(), version, key));
    }
    Ok(keys)
}

/// Retires every `retiring` version if no record uses one; returns the
/// versions retired, or `None` if records still need re-encrypting.
async fn retire(
    db: &Database,
    tenant: &TenantPath,
    tables: &[ProtectedTable],
    active: i64,
) -> Result<Option<Vec<i64>>, VaultError> {
    let mut tx = db.begin_platform().await?;
    // Another rotation may have begun since this one did: then it owns the
    // old versions, and this one must not destroy its active key. The row
    // lock also keeps a new rotation from starting until this commits.
    let lock = tx.backend().lock_for_update();
    let sql = format!(
        "SELECT version FROM tenant_keys WHERE tenant_path = $1 AND purpose = 'data' AND state = 'active'{lock}"
    );
    let current: Option<i64> = with_connection!(tx.connection(), c => {
        sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(tenant.as_str().to_owned())
            .fetch_optional(&mut *c)
            .await?
    });
    if current != Some(active) {
        return Err(VaultError::RotationSuperseded(tenant.to_string()));
    }
    let retired: Vec<i64> = with_connection!(tx.connection(), c => {
        // No writer holds a retiring key: begin_rotation's switch-over
        // waited for every writer that had locked it while it was active.
        sqlx::query_scalar(
            "UPDATE tenant_keys SET state = 'retired', wrapped_key = NULL, retired_at = $2 \
             WHERE tenant_path = $1 AND purpose = 'data' AND state = 'retiring' AND version < $3 RETURNING version",
        )
        .bind(tenant.as_str().to_owned())
        .bind(Utc::now().timestamp_micros())
        .bind(active)
        .fetch_all(&mut *c)
        .await?
    });
    if count_stale(&mut tx, tenant, tables, active).await? > 0 {
        return Ok(None); // dropping tx rolls back
    }
    tx.commit().await?;
    if !retired.is_empty() {
        tracing::info!(tenant = %tenant, versions = ?retired, "old data key versions retired and destroyed");
    }
    Ok(Some(retired))
}

/// Every tenant of the subtree `under` that holds keys — including tenants
/// since removed from the tree, whose records still need their keys
/// re-wrapped when the master key changes.
pub async fn key_holders(db: &Database, under: &TenantPath) -> Result<Vec<TenantPath>, VaultError> {
    let (lower, upper) = under.subtree_range();
    let mut tx = db.begin_platform_read().await?;
    let paths: Vec<String> = with_connection!(tx.connection(), c => {
        sqlx::query_scalar(
            "SELECT DISTINCT tenant_path FROM tenant_keys WHERE tenant_path >= $1 AND tenant_path < $2 ORDER BY tenant_path",
        )
        .bind(lower.to_owned())
        .bind(upper.clone())
        .fetch_all(&mut *c)
        .await?
    });
    Ok(paths
        .iter()
        .filter_map(|p| TenantPath::parse(p).ok())
        .collect())
}

/// How many live keys (of any tenant) are still wrapped by a master key
/// other than the current one: the old master key may be removed only when
/// this is zero.
pub async fn keys_under_old_master(db: &Database, keyring: &Keyring) -> Result<u64, VaultError> {
    let mut tx = db.begin_platform_read().await?;
    let n: i64 = with_connection!(tx.connection(), c => {
        sqlx::query_scalar("SELECT count(*) FROM tenant_keys WHERE wrapped_key IS NOT NULL AND master_key_id <> $1")
            .bind(keyring.provider().current_id().to_owned())
            .fetch_one(&mut *c)
            .await?
    });
    Ok(u64::try_from(n).unwrap_or_default())
}
