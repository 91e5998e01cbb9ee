//! The tenant registry and tenant settings.

use chrono::{DateTime, Utc};
use civitas_tenancy::{Level, TenantPath, TenantTree};
use serde_json::Value;
use sqlx::Row;
use sqlx::types::Json;

use crate::database::{Database, Pool};
use crate::error::StorageError;
use crate::scope::PlatformTx;
use crate::scope::TenantTx;
use crate::with_connection;

/// A node of the tenant tree as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// The path of codes, e.g. `310000/310115`.
    pub path: TenantPath,
    /// The node's own division code.
    pub code: String,
    /// The parent's path, `None` for a root.
    pub parent: Option<TenantPath>,
    /// The level.
    pub level: Level,
    /// The Chinese name.
    pub name: String,
    /// The English name.
    pub name_en: String,
    /// The node's slug.
    pub slug: String,
    /// The slugs from the root down.
    pub slug_path: String,
    /// Lines of business present at the node.
    pub lines: Vec<String>,
}

/// One tenant setting.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSetting {
    /// The tenant the setting belongs to.
    pub tenant_path: TenantPath,
    /// The setting's key, e.g. `portal.hotline`.
    pub key: String,
    /// The value.
    pub value: Value,
}

/// What loading a tenant tree into the database changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Nodes present in the configuration (inserted or refreshed).
    pub tenants: usize,
    /// Nodes in the database but no longer configured, now marked inactive.
    pub retired: usize,
    /// Settings inserted or changed.
    pub settings_written: usize,
    /// Settings removed because the configuration no longer has them.
    pub settings_removed: usize,
}

const SELECT_ACTIVE_TENANTS: &str = "SELECT path, code, parent_path, level, name, name_en, slug, slug_path, lines \
     FROM tenants WHERE active ORDER BY path";
const SELECT_ACTIVE_TENANT: &str = "SELECT path, code, parent_path, level, name, name_en, slug, slug_path, lines \
     FROM tenants WHERE active AND (path = $1 OR slug_path = $1)";

fn decode_tenant<R>(row: &R) -> Result<TenantRecord, StorageError>
where
    R: Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database>,
    for<'r> Json<Vec<String>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let path: String = row.try_get("path")?;
    let parent: Option<String> = row.try_get("parent_path")?;
    let level: String = row.try_get("level")?;
    let corrupt = |what: &str| StorageError::Corrupt(format!("tenant {path}: {what}"));
    Ok(TenantRecord {
        path: TenantPath::parse(&path).map_err(|_| corrupt("bad path"))?,
        code: row.try_get("code")?,
        parent: parent
            .map(|p| TenantPath::parse(&p))
            .transpose()
            .map_err(|_| corrupt("bad parent path"))?,
        level: Level::parse(&level).ok_or_else(|| corrupt("bad level"))?,
        name: row.try_get("name")?,
        name_en: row.try_get("name_en")?,
        slug: row.try_get("slug")?,
        slug_path: row.try_get("slug_path")?,
        lines: row.try_get::<Json<Vec<String>>, _>("lines")?.0,
    })
}

impl Database {
    /// Loads a validated tree into the database in one transaction: nodes
    /// are inserted or refreshed, nodes no longer configured are retired
    /// (kept, marked inactive: their data stays), and each node's settings
    /// are made equal to its configuration.
    ///
    /// This is platform work across every tenant, so it runs as the owning
    /// role, outside any [`crate::TenantScope`]. It records no revision:
    /// tests and benches set up a tree with it, while an installation
    /// changes its tree only through [`crate::store_tree_revision`].
    pub async fn sync_tenants(&self, tree: &TenantTree) -> Result<SyncReport, StorageError> {
        let mut tx = self.begin_platform().await?;
        let report = sync_tenants_in(&mut tx, tree).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Every active node, parents before children. The tree is public
    /// metadata, readable without a tenant scope.
    pub async fn tenants(&self) -> Result<Vec<TenantRecord>, StorageError> {
        const SQL: &str = SELECT_ACTIVE_TENANTS;
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::query(SQL)
                .fetch_all(pool)
                .await?
                .iter()
                .map(decode_tenant)
                .collect(),
            Pool::Postgres(pool) => sqlx::query(SQL)
                .fetch_all(pool)
                .await?
                .iter()
                .map(decode_tenant)
                .collect(),
        }
    }

    /// The active node named by `reference`: a path of codes or a slug path.
    pub async fn tenant(&self, reference: &str) -> Result<Option<TenantRecord>, StorageError> {
        const SQL: &str = SELECT_ACTIVE_TENANT;
        let reference = reference.trim_matches('/').to_owned();
        let row = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query(SQL)
                .bind(reference)
                .fetch_optional(pool)
                .await?
                .map(|r| decode_tenant(&r)),
            Pool::Postgres(pool) => sqlx::query(SQL)
                .bind(reference)
                .fetch_optional(pool)
                .await?
                .map(|r| decode_tenant(&r)),
        };
        row.transpose()
    }
}

/// [`Database::sync_tenants`] inside `tx`: the tree revision that applies a
/// tree writes it in the same transaction as the revision row.
pub(crate) async fn sync_tenants_in(
    tx: &mut PlatformTx,
    tree: &TenantTree,
) -> Result<SyncReport, StorageError> {
    let now = Utc::now();
    let mut report = SyncReport::default();
    with_connection!(tx.connection(), c => {
        let active: Vec<String> = sqlx::query_scalar("SELECT path FROM tenants WHERE active")
            .fetch_all(&mut *c)
            .await?;
        for path in active {
            let configured = TenantPath::parse(&path).is_ok_and(|p| tree.get(&p).is_some());
            if !configured {
                sqlx::query("UPDATE tenants SET active = FALSE, updated_at = $2 WHERE path = $1")
                    .bind(path)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                report.retired += 1;
            }
        }
        for tenant in tree.iter() {
            sqlx::query(
                "INSERT INTO tenants (path, code, parent_path, level, name, name_en, slug, \
                                      slug_path, lines, depth, active, source, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, TRUE, $11, $12) \
                 ON CONFLICT (path) DO UPDATE SET \
                     code = excluded.code, parent_path = excluded.parent_path, \
                     level = excluded.level, name = excluded.name, name_en = excluded.name_en, \
                     slug = excluded.slug, slug_path = excluded.slug_path, lines = excluded.lines, \
                     depth = excluded.depth, active = TRUE, source = excluded.source, \
                     updated_at = excluded.updated_at",
            )
            .bind(tenant.path.as_str().to_owned())
            .bind(tenant.code.as_str().to_owned())
            .bind(tenant.parent.as_ref().map(|p| p.as_str().to_owned()))
            .bind(tenant.level.as_str())
            .bind(tenant.name.clone())
            .bind(tenant.name_en.clone())
            .bind(tenant.slug.clone())
            .bind(tenant.slug_path.clone())
            .bind(Json(tenant.lines.clone()))
            .bind(tenant.path.depth() as i32)
            .bind(tenant.source.display().to_string())
            .bind(now)
            .execute(&mut *c)
            .await?;

            let stored = sqlx::query("SELECT key, value FROM tenant_settings WHERE tenant_path = $1")
                .bind(tenant.path.as_str().to_owned())
                .fetch_all(&mut *c)
                .await?;
            let mut stored_values = std::collections::BTreeMap::new();
            for row in &stored {
                let key: String = row.try_get("key")?;
                let value: Json<Value> = row.try_get("value")?;
                stored_values.insert(key, value.0);
            }
            for key in stored_values.keys() {
                if !tenant.settings.contains_key(key) {
                    sqlx::query("DELETE FROM tenant_settings WHERE tenant_path = $1 AND key = $2")
                        .bind(tenant.path.as_str().to_owned())
                        .bind(key.clone())
                        .execute(&mut *c)
                        .await?;
                    report.settings_removed += 1;
                }
            }
            for (key, value) in &tenant.settings {
                if stored_values.get(key) == Some(value) {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO tenant_settings (tenant_path, key, value, updated_at) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (tenant_path, key) DO UPDATE SET \
                         value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(tenant.path.as_str().to_owned())
                .bind(key.clone())
                .bind(Json(value.clone()))
                .bind(now)
                .execute(&mut *c)
                .await?;
                report.settings_written += 1;
            }
            report.tenants += 1;
        }
    });
    Ok(report)
}

impl TenantTx {
    /// The settings of every tenant in this transaction's scope, ordered by
    /// tenant path and key. One index range on `tenant_settings`.
    pub async fn settings(&mut self) -> Result<Vec<TenantSetting>, StorageError> {
        let (lower, upper) = self.scope().path().subtree_range();
        let (lower, upper) = (lower.to_owned(), upper);
        with_connection!(self.connection(), c => {
            let rows = sqlx::query(
                "SELECT tenant_path, key, value FROM tenant_settings \
                 WHERE tenant_path >= $1 AND tenant_path < $2 ORDER BY tenant_path, key",
            )
            .bind(lower)
            .bind(upper)
            .fetch_all(&mut *c)
            .await?;
            rows.iter()
                .map(|row| {
                    let path: String = row.try_get("tenant_path")?;
                    Ok(TenantSetting {
                        tenant_path: TenantPath::parse(&path)
                            .map_err(|_| StorageError::Corrupt(format!("setting with bad tenant path {path}")))?,
                        key: row.try_get("key")?,
                        value: row.try_get::<Json<Value>, _>("value")?.0,
                    })
                })
                .collect()
        })
    }

    /// Sets one setting of a tenant within this transaction's scope.
    pub async fn put_setting(
        &mut self,
        tenant: &TenantPath,
        key: &str,
        value: &Value,
    ) -> Result<(), StorageError> {
        if !self.scope().covers(tenant) {
            return Err(StorageError::OutOfScope {
                scope: self.scope().path().clone(),
                path: tenant.clone(),
            });
        }
        let now: DateTime<Utc> = Utc::now();
        let (tenant, key, value) = (
            tenant.as_str().to_owned(),
            key.to_owned(),
            Json(value.clone()),
        );
        with_connection!(self.connection(), c => {
            sqlx::query(
                "INSERT INTO tenant_settings (tenant_path, key, value, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_path, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(tenant)
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }
}

impl Database {
    /// A fact about this installation, by key.
    pub async fn platform_meta(&self, key: &str) -> Result<Option<String>, StorageError> {
        const SQL: &str = "SELECT value FROM platform_meta WHERE key = $1";
        let key = key.to_owned();
        Ok(match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_scalar(SQL)
                    .bind(key)
                    .fetch_optional(pool)
                    .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_scalar(SQL)
                    .bind(key)
                    .fetch_optional(pool)
                    .await?
            }
        })
    }

    /// Records a fact about this installation unless one is already
    /// recorded under `key`; returns whether it was recorded now.
    pub async fn record_platform_meta_once(
        &self,
        key: &str,
        value: &str,
    ) -> Result<bool, StorageError> {
        const SQL: &str = "INSERT INTO platform_meta (key, value, updated_at) VALUES ($1, $2, $3) \
                           ON CONFLICT (key) DO NOTHING";
        let (key, value, now) = (key.to_owned(), value.to_owned(), Utc::now());
        let result = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query(SQL)
                .bind(key)
                .bind(value)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected(),
            Pool::Postgres(pool) => sqlx::query(SQL)
                .bind(key)
                .bind(value)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(result == 1)
    }
}
