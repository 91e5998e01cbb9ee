//! Tree revisions: every change of the tenant tree is one stored revision —
//! the configuration files, their SM3 digest, the platform key's signature
//! and the plan that was applied — written in the same transaction as the
//! tenants it makes active, so every node loads the same tree.
//!
//! This module stores and reads revisions and computes the plan (pure:
//! [`plan_tree_changes`]); digests, signatures and audit records belong to
//! whoever applies them.

use std::collections::{BTreeMap, BTreeSet};

use civitas_tenancy::{Source, TenantPath, TenantTree};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::Row;

use crate::database::Database;
use crate::error::StorageError;
use crate::scope::PlatformTx;
use crate::tenants::{SyncReport, TenantRecord, sync_tenants_in};
use crate::with_connection;

/// The newest revision: what every node serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionHead {
    /// The revision number, from 1.
    pub revision: i64,
    /// SM3 of its sources, hex.
    pub digest: String,
    /// Whether it carries the platform key's signature.
    pub signed: bool,
}

/// One stored revision of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeRevision {
    /// The revision number, from 1.
    pub revision: i64,
    /// SM3 of the sources, hex.
    pub digest: String,
    /// The configuration files, by name.
    pub sources: Vec<Source>,
    /// The platform key's signature over the revision and digest, hex;
    /// `None` when it was applied without a platform key.
    pub signature: Option<String>,
    /// The plan that was applied, as JSON.
    pub changes: Value,
    /// Who applied it.
    pub applied_by: String,
    /// When, in Unix microseconds.
    pub applied_at: i64,
}

/// A revision to store, numbered one after the head it was planned on.
#[derive(Debug, Clone)]
pub struct NewTreeRevision<'a> {
    /// The revision number: the planned-on head's plus one (1 for the first).
    pub revision: i64,
    /// SM3 of `sources`, hex.
    pub digest: &'a str,
    /// The configuration files the tree was read from.
    pub sources: &'a [Source],
    /// The platform key's signature, hex, if there is a platform key.
    pub signature: Option<&'a str>,
    /// The plan, as JSON.
    pub changes: &'a Value,
    /// Who applies it.
    pub applied_by: &'a str,
}

/// What storing a revision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Stored, and the tenants table now holds its tree.
    Stored(SyncReport),
    /// Another revision took the number first: nothing was written; plan
    /// again on the new head.
    Stale,
}

#[derive(Serialize, Deserialize)]
struct StoredSource {
    name: String,
    text: String,
}

fn encode_sources(sources: &[Source]) -> Result<String, StorageError> {
    let stored: Vec<StoredSource> = sources
        .iter()
        .map(|s| StoredSource {
            name: s.name.display().to_string(),
            text: s.text.clone(),
        })
        .collect();
    serde_json::to_string(&stored).map_err(|e| StorageError::Corrupt(e.to_string()))
}

fn decode_sources(revision: i64, text: &str) -> Result<Vec<Source>, StorageError> {
    let stored: Vec<StoredSource> = serde_json::from_str(text)
        .map_err(|e| StorageError::Corrupt(format!("tree revision {revision}: sources: {e}")))?;
    Ok(stored
        .into_iter()
        .map(|s| Source::new(s.name, s.text))
        .collect())
}

impl Database {
    /// The newest revision, `None` before the first.
    pub async fn tree_revision_head(&self) -> Result<Option<RevisionHead>, StorageError> {
        let mut tx = self.begin_platform_read().await?;
        let row: Option<(i64, String, Option<String>)> = with_connection!(tx.connection(), c => {
            sqlx::query_as(
                "SELECT revision, digest, signature FROM tenant_revisions ORDER BY revision DESC LIMIT 1",
            )
            .fetch_optional(&mut *c)
            .await?
        });
        tx.commit().await?;
        Ok(row.map(|(revision, digest, signature)| RevisionHead {
            revision,
            digest,
            signed: signature.is_some(),
        }))
    }

    /// The newest revision whose sources have `digest`, if any.
    pub async fn tree_revision_with_digest(
        &self,
        digest: &str,
    ) -> Result<Option<i64>, StorageError> {
        let mut tx = self.begin_platform_read().await?;
        let revision: Option<i64> = with_connection!(tx.connection(), c => {
            sqlx::query_scalar(
                "SELECT revision FROM tenant_revisions WHERE digest = $1 \
                 ORDER BY revision DESC LIMIT 1",
            )
            .bind(digest.to_owned())
            .fetch_optional(&mut *c)
            .await?
        });
        tx.commit().await?;
        Ok(revision)
    }

    /// Revision `revision`, whole.
    pub async fn tree_revision(&self, revision: i64) -> Result<Option<TreeRevision>, StorageError> {
        let mut tx = self.begin_platform_read().await?;
        let found = with_connection!(tx.connection(), c => {
            let row = sqlx::query(
                "SELECT revision, digest, sources, signature, changes, applied_by, applied_at \
                 FROM tenant_revisions WHERE revision = $1",
            )
            .bind(revision)
            .fetch_optional(&mut *c)
            .await?;
            match row {
                None => None,
                Some(row) => {
                    let sources: String = row.try_get("sources")?;
                    let changes: String = row.try_get("changes")?;
                    Some(TreeRevision {
                        revision: row.try_get("revision")?,
                        digest: row.try_get("digest")?,
                        sources: decode_sources(revision, &sources)?,
                        signature: row.try_get("signature")?,
                        changes: serde_json::from_str(&changes).map_err(|e| {
                            StorageError::Corrupt(format!("tree revision {revision}: changes: {e}"))
                        })?,
                        applied_by: row.try_get("applied_by")?,
                        applied_at: row.try_get("applied_at")?,
                    })
                }
            }
        });
        tx.commit().await?;
        Ok(found)
    }

    /// [`store_tree_revision`] in a transaction of its own.
    pub async fn apply_tree_revision(
        &self,
        tree: &TenantTree,
        revision: &NewTreeRevision<'_>,
    ) -> Result<Applied, StorageError> {
        let mut tx = self.begin_platform().await?;
        let applied = store_tree_revision(&mut tx, tree, revision).await?;
        if matches!(applied, Applied::Stored(_)) {
            tx.commit().await?;
        }
        Ok(applied)
    }

    /// The configured settings of every active node, by tenant.
    pub async fn configured_settings(
        &self,
    ) -> Result<BTreeMap<TenantPath, Map<String, Value>>, StorageError> {
        let mut tx = self.begin_platform_read().await?;
        let rows: Vec<(String, String, String)> = with_connection!(tx.connection(), c => {
            let rows = sqlx::query(
                "SELECT s.tenant_path, s.key, CAST(s.value AS TEXT) AS value FROM tenant_settings s \
                 JOIN tenants t ON t.path = s.tenant_path WHERE t.active",
            )
            .fetch_all(&mut *c)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("tenant_path")?, r.try_get("key")?, r.try_get("value")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        tx.commit().await?;
        let mut settings: BTreeMap<TenantPath, Map<String, Value>> = BTreeMap::new();
        for (path, key, value) in rows {
            let corrupt =
                |what: &str| StorageError::Corrupt(format!("setting {path} {key}: {what}"));
            let tenant = TenantPath::parse(&path).map_err(|_| corrupt("bad path"))?;
            let value = serde_json::from_str(&value).map_err(|_| corrupt("bad value"))?;
            settings.entry(tenant).or_default().insert(key, value);
        }
        Ok(settings)
    }
}

/// Stores `revision` and makes `tree` (read from its sources) the active
/// tree, inside `tx` (the caller audits in the same transaction and
/// commits): nodes added or refreshed, nodes the tree no longer has
/// retired, settings made equal to it. When another revision took the
/// number first nothing is written ([`Applied::Stale`]; drop `tx`).
pub async fn store_tree_revision(
    tx: &mut PlatformTx,
    tree: &TenantTree,
    revision: &NewTreeRevision<'_>,
) -> Result<Applied, StorageError> {
    let sources = encode_sources(revision.sources)?;
    let changes = serde_json::to_string(revision.changes)
        .map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let inserted = with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO tenant_revisions \
                 (revision, digest, sources, signature, changes, applied_by, applied_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (revision) DO NOTHING",
        )
        .bind(revision.revision)
        .bind(revision.digest.to_owned())
        .bind(sources)
        .bind(revision.signature.map(str::to_owned))
        .bind(changes)
        .bind(revision.applied_by.to_owned())
        .bind(chrono::Utc::now().timestamp_micros())
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    // The numbers run without gaps: revision n is stored only on top of
    // n - 1, so two plans on one head cannot both land.
    let previous: i64 = with_connection!(tx.connection(), c => {
        sqlx::query_scalar("SELECT count(*) FROM tenant_revisions WHERE revision < $1")
            .bind(revision.revision)
            .fetch_one(&mut *c)
            .await?
    });
    if inserted == 0 || previous != revision.revision - 1 {
        return Ok(Applied::Stale);
    }
    Ok(Applied::Stored(sync_tenants_in(tx, tree).await?))
}

/// One change a revision makes to the tree, as a plan shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TreeChange {
    /// A node the database does not have.
    Added {
        /// Its path.
        path: TenantPath,
        /// Its Chinese name.
        name: String,
        /// Its level.
        level: String,
    },
    /// A node whose code now hangs elsewhere: a new path, the old one retired.
    Moved {
        /// The old path (retired).
        from: TenantPath,
        /// The new path.
        to: TenantPath,
        /// Its Chinese name.
        name: String,
    },
    /// A node with a new name or slug path (its path of codes, and so its
    /// data, grants and cases, unchanged).
    Renamed {
        /// Its path.
        path: TenantPath,
        /// The Chinese name before.
        from_name: String,
        /// The Chinese name after.
        to_name: String,
        /// The slug path before.
        from_slug_path: String,
        /// The slug path after.
        to_slug_path: String,
    },
    /// A node the tree no longer has: retired (kept, inactive).
    Deactivated {
        /// Its path.
        path: TenantPath,
        /// Its Chinese name.
        name: String,
    },
    /// A node whose level, lines or settings change.
    Reconfigured {
        /// Its path.
        path: TenantPath,
        /// Its Chinese name.
        name: String,
        /// The level before and after, when it changes.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        level: Option<[String; 2]>,
        /// Lines it gains.
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        lines_added: Vec<String>,
        /// Lines it loses.
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        lines_removed: Vec<String>,
        /// Settings that change: key, value before (none: new), after (none:
        /// removed).
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        settings: Vec<SettingChange>,
    },
}

impl TreeChange {
    /// The change's kind as it is serialised: `added`, `moved`, `renamed`,
    /// `deactivated` or `reconfigured`.
    pub fn kind(&self) -> &'static str {
        match self {
            TreeChange::Added { .. } => "added",
            TreeChange::Moved { .. } => "moved",
            TreeChange::Renamed { .. } => "renamed",
            TreeChange::Deactivated { .. } => "deactivated",
            TreeChange::Reconfigured { .. } => "reconfigured",
        }
    }

    /// The path whose grants and cases stop being served, if any: the old
    /// path of a move, the path of a deactivation.
    pub fn retires(&self) -> Option<&TenantPath> {
        match self {
            TreeChange::Moved { from, .. } => Some(from),
            TreeChange::Deactivated { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// One setting a revision changes at one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingChange {
    /// The key, e.g. `meal-subsidy.local-top-up`.
    pub key: String,
    /// The value before; `None` when the key is new.
    pub from: Option<Value>,
    /// The value after; `None` when the key is removed.
    pub to: Option<Value>,
}

/// What making `next` the tree changes, against the active nodes `current`
/// and their configured `settings`, in path order: additions, moves (a code
/// under a new path), renames (name or slug path), deactivations and
/// reconfigurations (level, lines, settings).
pub fn plan_tree_changes(
    current: &[TenantRecord],
    settings: &BTreeMap<TenantPath, Map<String, Value>>,
    next: &TenantTree,
) -> Vec<TreeChange> {
    let by_path: BTreeMap<&TenantPath, &TenantRecord> =
        current.iter().map(|r| (&r.path, r)).collect();
    let by_code: BTreeMap<&str, &TenantRecord> =
        current.iter().map(|r| (r.code.as_str(), r)).collect();
    let mut changes = Vec::new();
    let mut moved_from = BTreeSet::new();
    let empty = Map::new();
    for node in next.iter() {
        let Some(before) = by_path.get(&node.path) else {
            match by_code.get(node.code.as_str()) {
                Some(old) => {
                    moved_from.insert(&old.path);
                    changes.push(TreeChange::Moved {
                        from: old.path.clone(),
                        to: node.path.clone(),
                        name: node.name.clone(),
                    });
                }
                None => changes.push(TreeChange::Added {
                    path: node.path.clone(),
                    name: node.name.clone(),
                    level: node.level.to_string(),
                }),
            }
            continue;
        };
        if before.name != node.name || before.slug_path != node.slug_path {
            changes.push(TreeChange::Renamed {
                path: node.path.clone(),
                from_name: before.name.clone(),
                to_name: node.name.clone(),
                from_slug_path: before.slug_path.clone(),
                to_slug_path: node.slug_path.clone(),
            });
        }
        let level = (before.level != node.level)
            .then(|| [before.level.to_string(), node.level.to_string()]);
        let lines_added: Vec<String> = node
            .lines
            .iter()
            .filter(|l| !before.lines.contains(l))
            .cloned()
            .collect();
        let lines_removed: Vec<String> = before
            .lines
            .iter()
            .filter(|l| !node.lines.contains(l))
            .cloned()
            .collect();
        let old_settings = settings.get(&node.path).unwrap_or(&empty);
        let keys: BTreeSet<&String> = old_settings.keys().chain(node.settings.keys()).collect();
        let setting_changes: Vec<SettingChange> = keys
            .into_iter()
            .filter(|k| old_settings.get(*k) != node.settings.get(*k))
            .map(|k| SettingChange {
                key: k.clone(),
                from: old_settings.get(k).cloned(),
                to: node.settings.get(k).cloned(),
            })
            .collect();
        if level.is_some()
            || !lines_added.is_empty()
            || !lines_removed.is_empty()
            || !setting_changes.is_empty()
        {
            changes.push(TreeChange::Reconfigured {
                path: node.path.clone(),
                name: node.name.clone(),
                level,
                lines_added,
                lines_removed,
                settings: setting_changes,
            });
        }
    }
    for record in current {
        if next.get(&record.path).is_none() && !moved_from.contains(&record.path) {
            changes.push(TreeChange::Deactivated {
                path: record.path.clone(),
                name: record.name.clone(),
            });
        }
    }
    changes
}
