//! The tamper-evident audit log.
//!
//! Every tenant has one chain: record `n` stores the SM3 hash of its own
//! fields and of record `n − 1`'s hash. [`record`] appends inside the
//! caller's [`TenantTx`], so an audit record commits or rolls back with the
//! change it describes. [`verify`] recomputes every chain and names each
//! record that was altered, deleted or reordered. [`anchor`] signs each
//! chain's head with the platform's SM2 key, so that even someone who can
//! rewrite the database cannot rewrite history before an anchor unnoticed.
//!
//! There is no update path and one delete path, [`prune`]: records at least
//! [`MIN_RETENTION_DAYS`] old are exported, then removed behind a signed
//! prune point that [`verify`] starts from. The table refuses any update by
//! trigger, and any delete of a record younger than 180 days or not covered
//! by a prune point; on PostgreSQL the application role may only SELECT and
//! INSERT.

use std::io::Write;

use chrono::{DateTime, Utc};
use civitas_crypto::sm2::{PrivateKey, PublicKey, Signature};
use civitas_crypto::sm3;
use civitas_storage::{Database, StorageError, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use serde::Serialize;
use sqlx::Row;

/// The `prev_hash` of a chain's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Signing or key handling failed.
    #[error(transparent)]
    Crypto(#[from] civitas_crypto::CryptoError),
    /// The record names a tenant outside the transaction's scope.
    #[error(
        "审计记录的租户 {0} 不在事务范围内 (audit record for {0} is outside the transaction's scope)"
    )]
    OutOfScope(TenantPath),
    /// An imported record is older than the chain's last record.
    #[error(
        "审计记录时间早于链上最后一条记录 (the record is older than the last record of {0}'s chain)"
    )]
    OutOfOrder(String),
    /// An imported record claims a time in the future.
    #[error("审计记录时间晚于当前时间 (the record for {0} is dated in the future)")]
    FutureTime(String),
    /// Pruning would remove records younger than the retention period.
    #[error(
        "审计记录至少保留 {min_days} 天，不能清理 {before} 之后的记录 (audit records are kept at least {min_days} days: cannot prune records after {before})"
    )]
    RetentionTooShort {
        /// The minimum retention in days.
        min_days: i64,
        /// The cut-off asked for.
        before: DateTime<Utc>,
    },
    /// A chain to be pruned does not verify: its records are evidence and
    /// stay until the problem is investigated.
    #[error(
        "审计链 {tenant} 校验失败，拒绝清理 (the chain of {tenant} does not verify; nothing pruned): {problem}"
    )]
    ChainBroken {
        /// The tenant.
        tenant: String,
        /// The first problem found.
        problem: String,
    },
    /// Writing an export failed.
    #[error("导出写入失败 (export write failed): {0}")]
    Io(#[from] std::io::Error),
}

impl From<sqlx::Error> for AuditError {
    fn from(e: sqlx::Error) -> AuditError {
        AuditError::Storage(StorageError::Database(e))
    }
}

/// A security-relevant event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Who acted: an account, a service account, or `system`.
    pub actor: String,
    /// What they did, e.g. `auth.login.failure`, `grant.create`.
    pub action: String,
    /// What it was done to, e.g. a case id or an account.
    pub target: String,
    /// Further facts, as JSON (never secrets).
    pub detail: serde_json::Value,
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The row id (insertion order).
    pub id: i64,
    /// The tenant whose chain holds it.
    pub tenant_path: String,
    /// Its place in the chain, from 1.
    pub seq: i64,
    /// When it was recorded.
    pub occurred_at: DateTime<Utc>,
    /// Who acted.
    pub actor: String,
    /// What they did.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// Further facts.
    pub detail: serde_json::Value,
    /// The previous record's hash.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

/// Where a new record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Its place in the chain.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
}

/// The hash of one record: SM3 over its fields, each length-prefixed so
/// that no two different records encode alike.
#[allow(clippy::too_many_arguments)]
fn record_hash(
    tenant: &str,
    seq: i64,
    occurred_micros: i64,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
    prev_hash: &str,
) -> String {
    let mut hasher = sm3::Hasher::new();
    let seq = seq.to_be_bytes();
    let at = occurred_micros.to_be_bytes();
    let fields: [&[u8]; 9] = [
        b"civitas-audit-v1",
        tenant.as_bytes(),
        &seq,
        &at,
        actor.as_bytes(),
        action.as_bytes(),
        target.as_bytes(),
        detail.as_bytes(),
        prev_hash.as_bytes(),
    ];
    for field in fields {
        hasher.update(&(field.len() as u32).to_be_bytes());
        hasher.update(field);
    }
    hex::encode(hasher.finalize())
}

/// Appends `event` to `tenant`'s chain inside `tx`; it commits with `tx`.
///
/// Appends to one tenant are serialised by a lock on the chain's head row,
/// so concurrent transactions get consecutive numbers, never the same one.
pub async fn record(
    tx: &mut TenantTx,
    tenant: &TenantPath,
    event: &NewEvent,
) -> Result<Recorded, AuditError> {
    append(tx, tenant, event, None).await
}

/// Appends `event` with the time it originally happened, for importing the
/// audit trail of a predecessor system in order. The time may not be
/// earlier than the chain's last record: a chain is in time order, which
/// retention relies on.
pub async fn record_at(
    tx: &mut TenantTx,
    tenant: &TenantPath,
    event: &NewEvent,
    at: DateTime<Utc>,
) -> Result<Recorded, AuditError> {
    append(tx, tenant, event, Some(at)).await
}

/// Appends `event` to `tenant`'s chain inside a platform transaction, for
/// the platform's own security events that precede any tenant scope
/// (sign-in attempts, account administration); it commits with `tx`.
pub async fn record_platform(
    tx: &mut civitas_storage::PlatformTx,
    tenant: &TenantPath,
    event: &NewEvent,
) -> Result<Recorded, AuditError> {
    append_on(tx.connection(), tenant, event, None).await
}

/// Records `event` in `tenant`'s chain in a transaction of its own: what a
/// person does with their own account's data (reading or exporting their
/// messages), where no grant is involved, in the chain of the tenant their
/// account belongs to.
pub async fn record_own(
    db: &civitas_storage::Database,
    tenant: &TenantPath,
    event: &NewEvent,
) -> Result<Recorded, AuditError> {
    let mut tx = db.begin_platform().await?;
    let recorded = record_platform(&mut tx, tenant, event).await?;
    tx.commit().await?;
    Ok(recorded)
}

async fn append(
    tx: &mut TenantTx,
    tenant: &TenantPath,
    event: &NewEvent,
    at: Option<DateTime<Utc>>,
) -> Result<Recorded, AuditError> {
    if !tx.scope().covers(tenant) {
        return Err(AuditError::OutOfScope(tenant.clone()));
    }
    append_on(tx.connection(), tenant, event, at).await
}

async fn append_on(
    connection: civitas_storage::Connection<'_>,
    tenant: &TenantPath,
    event: &NewEvent,
    at: Option<DateTime<Utc>>,
) -> Result<Recorded, AuditError> {
    let tenant = tenant.as_str().to_owned();
    // serde_json maps are sorted by key: a canonical form to hash and store.
    let detail = event.detail.to_string();
    let postgres = matches!(connection, civitas_storage::Connection::Postgres(_));
    let recorded = with_connection!(connection, c => {
        // One statement starts the chain (seq 1 after the genesis hash) or
        // advances it; its update takes the row lock (PostgreSQL) or the
        // write lock (SQLite) before we read the head.
        let head = sqlx::query(
            "INSERT INTO audit_heads (tenant_path, seq, hash) VALUES ($1, 1, $2) \
             ON CONFLICT (tenant_path) DO UPDATE SET seq = audit_heads.seq + 1 RETURNING seq, hash",
        )
        .bind(tenant.clone())
        .bind(GENESIS)
        .fetch_one(&mut *c)
        .await?;
        let seq: i64 = head.try_get("seq")?;
        let prev_hash: String = head.try_get("hash")?;
        // The time is read under the head lock, so a chain's records are in
        // time order as well as in sequence (retention relies on it).
        let occurred_micros = at.unwrap_or_else(Utc::now).timestamp_micros();
        if at.is_some() {
            if occurred_micros > Utc::now().timestamp_micros() {
                return Err(AuditError::FutureTime(tenant.clone()));
            }
            let last: Option<i64> = sqlx::query_scalar("SELECT occurred_at FROM audit_events WHERE tenant_path = $1 AND seq = $2")
                .bind(tenant.clone())
                .bind(seq - 1)
                .fetch_optional(&mut *c)
                .await?;
            if last.is_some_and(|last| last > occurred_micros) {
                return Err(AuditError::OutOfOrder(tenant.clone()));
            }
        }
        let hash = record_hash(&tenant, seq, occurred_micros, &event.actor, &event.action, &event.target, &detail, &prev_hash);
        // Every tenant's writers queue on its head row from the upsert
        // above to the commit, so what happens in between is kept short:
        // on PostgreSQL the record and the head's new hash are one
        // statement (one round trip fewer under the lock); SQLite has no
        // data-modifying WITH and one writer at a time anyway.
        let append = if postgres {
            "WITH appended AS (INSERT INTO audit_events (tenant_path, seq, occurred_at, actor, action, target, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)) \
             UPDATE audit_heads SET hash = $9 WHERE tenant_path = $1"
        } else {
            "INSERT INTO audit_events (tenant_path, seq, occurred_at, actor, action, target, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        };
        sqlx::query(append)
        .bind(tenant.clone())
        .bind(seq)
        .bind(occurred_micros)
        .bind(event.actor.clone())
        .bind(event.action.clone())
        .bind(event.target.clone())
        .bind(detail.clone())
        .bind(prev_hash)
        .bind(hash.clone())
        .execute(&mut *c)
        .await?;
        if !postgres {
            sqlx::query("UPDATE audit_heads SET hash = $2 WHERE tenant_path = $1")
                .bind(tenant.clone())
                .bind(hash.clone())
                .execute(&mut *c)
                .await?;
        }
        Recorded { seq, hash }
    });
    Ok(recorded)
}

/// What is wrong with a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The record's fields no longer hash to its stored hash: edited.
    Altered {
        /// The tenant.
        tenant: String,
        /// The record's sequence number.
        seq: i64,
        /// The record's row id.
        id: i64,
    },
    /// Records are missing from the chain: deleted.
    Missing {
        /// The tenant.
        tenant: String,
        /// The first missing sequence number.
        from_seq: i64,
        /// The last missing sequence number.
        to_seq: i64,
    },
    /// The record does not link to the one before it, or sits out of
    /// insertion order: moved or swapped.
    Reordered {
        /// The tenant.
        tenant: String,
        /// The record's sequence number.
        seq: i64,
        /// The record's row id.
        id: i64,
    },
    /// The chain ends before its recorded head: its last records were deleted.
    Truncated {
        /// The tenant.
        tenant: String,
        /// The head's sequence number.
        head_seq: i64,
        /// The last record present.
        last_seq: i64,
    },
    /// The signed prune point a chain starts from fails its signature or
    /// is signed by another key: the removal of old records is not proven.
    PrunePointInvalid {
        /// The tenant.
        tenant: String,
        /// The last pruned record's sequence number.
        seq: i64,
        /// Why.
        reason: String,
    },
    /// A signed anchor does not match the chain, or its signature fails.
    AnchorMismatch {
        /// The tenant.
        tenant: String,
        /// The anchored sequence number.
        seq: i64,
        /// Why.
        reason: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::PrunePointInvalid {
                tenant,
                seq,
                reason,
            } => write!(
                f,
                "{tenant} #{seq}: 清理点无效 (prune point invalid): {reason}"
            ),
            Problem::Altered { tenant, seq, id } => {
                write!(
                    f,
                    "{tenant} #{seq} (id {id}): 记录被修改 (record was altered)"
                )
            }
            Problem::Missing {
                tenant,
                from_seq,
                to_seq,
            } => {
                write!(
                    f,
                    "{tenant} #{from_seq}–#{to_seq}: 记录缺失 (records were deleted)"
                )
            }
            Problem::Reordered { tenant, seq, id } => {
                write!(
                    f,
                    "{tenant} #{seq} (id {id}): 记录顺序被改动 (record was moved or swapped)"
                )
            }
            Problem::Truncated {
                tenant,
                head_seq,
                last_seq,
            } => write!(
                f,
                "{tenant}: 链尾被删除 (chain truncated) — 应到 #{head_seq}，实际止于 #{last_seq} (head is #{head_seq}, last record #{last_seq})"
            ),
            Problem::AnchorMismatch {
                tenant,
                seq,
                reason,
            } => {
                write!(
                    f,
                    "{tenant} #{seq}: 签名锚点不符 (anchor mismatch): {reason}"
                )
            }
        }
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Chains checked.
    pub tenants: usize,
    /// Records checked.
    pub records: u64,
    /// Anchors checked.
    pub anchors: u64,
    /// Everything found wrong, chain by chain.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether every chain is intact.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// How many records lie in the subtree `under` (all when `None`), to size a
/// progress bar before [`verify`].
pub async fn count(db: &Database, under: Option<&TenantPath>) -> Result<u64, AuditError> {
    let (lower, upper) = bounds(under);
    let mut tx = db.begin_platform_read().await?;
    let n: i64 = with_connection!(tx.connection(), c => {
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE tenant_path >= $1 AND tenant_path < $2")
            .bind(lower.clone())
            .bind(upper.clone())
            .fetch_one(&mut *c)
            .await?
    });
    Ok(u64::try_from(n).unwrap_or(0))
}

fn bounds(under: Option<&TenantPath>) -> (String, String) {
    match under {
        Some(path) => {
            let (lower, upper) = path.subtree_range();
            (lower.to_owned(), upper)
        }
        // Every path starts with a digit from 1 to 9.
        None => ("0".to_owned(), ":".to_owned()),
    }
}

/// A record as stored, read the same way by verify, export and prune.
#[derive(sqlx::FromRow)]
struct StoredRecord {
    id: i64,
    tenant_path: String,
    seq: i64,
    occurred_at: i64,
    actor: String,
    action: String,
    target: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

/// The columns of [`StoredRecord`].
const RECORD_COLUMNS: &str =
    "id, tenant_path, seq, occurred_at, actor, action, target, detail, prev_hash, hash";

impl StoredRecord {
    /// The hash its fields give now (equal to `hash` unless altered).
    fn recomputed_hash(&self) -> String {
        record_hash(
            &self.tenant_path,
            self.seq,
            self.occurred_at,
            &self.actor,
            &self.action,
            &self.target,
            &self.detail,
            &self.prev_hash,
        )
    }

    /// The record as exported.
    fn to_event(&self) -> Event {
        Event {
            id: self.id,
            tenant_path: self.tenant_path.clone(),
            seq: self.seq,
            occurred_at: DateTime::from_timestamp_micros(self.occurred_at).unwrap_or_default(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            detail: serde_json::from_str(&self.detail)
                .unwrap_or_else(|_| serde_json::Value::String(self.detail.clone())),
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        }
    }
}

/// Recomputes every chain in the subtree `under` (all when `None`) and
/// checks the signed anchors against it; `trusted` pins the anchors to the
/// platform's public key. `progress` is called with the number of records
/// checked so far.
pub async fn verify(
    db: &Database,
    under: Option<&TenantPath>,
    trusted: Option<&PublicKey>,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, AuditError> {
    let (lower, upper) = bounds(under);
    let mut report = VerifyReport::default();
    let mut tx = db.begin_platform_read().await?;
    let heads: Vec<(String, i64, String)> = with_connection!(tx.connection(), c => {
        let rows = sqlx::query("SELECT tenant_path, seq, hash FROM audit_heads WHERE tenant_path >= $1 AND tenant_path < $2 ORDER BY tenant_path")
            .bind(lower.clone())
            .bind(upper.clone())
            .fetch_all(&mut *c)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("tenant_path")?, r.try_get("seq")?, r.try_get("hash")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?
    });
    for (tenant, head_seq, head_hash) in heads {
        report.tenants += 1;
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM audit_events WHERE tenant_path = $1 ORDER BY seq, id"
        );
        let rows: Vec<StoredRecord> = with_connection!(tx.connection(), c => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(tenant.clone())
                .fetch_all(&mut *c)
                .await?
        });
        let prune = latest_prune_point(&mut tx, &tenant).await?;
        let (mut expected_seq, mut prev_hash) = match &prune {
            Some(point) => (point.seq + 1, point.hash.clone()),
            None => (1, GENESIS.to_owned()),
        };
        if let Some(point) = &prune
            && let Err(reason) = point.check(&tenant, trusted)
        {
            report.problems.push(Problem::PrunePointInvalid {
                tenant: tenant.clone(),
                seq: point.seq,
                reason,
            });
        }
        let pruned_through = prune.as_ref().map_or(0, |p| p.seq);
        let mut prev_id = i64::MIN;
        let mut hashes = std::collections::HashMap::new();
        for row in &rows {
            let recomputed = row.recomputed_hash();
            let altered = recomputed != row.hash;
            if altered {
                report.problems.push(Problem::Altered {
                    tenant: tenant.clone(),
                    seq: row.seq,
                    id: row.id,
                });
            }
            if row.seq > expected_seq {
                report.problems.push(Problem::Missing {
                    tenant: tenant.clone(),
                    from_seq: expected_seq,
                    to_seq: row.seq - 1,
                });
            } else if !altered
                && (row.prev_hash != prev_hash || row.seq < expected_seq || row.id < prev_id)
            {
                report.problems.push(Problem::Reordered {
                    tenant: tenant.clone(),
                    seq: row.seq,
                    id: row.id,
                });
            }
            hashes.insert(row.seq, row.hash.clone());
            expected_seq = row.seq + 1;
            prev_hash = row.hash.clone();
            prev_id = row.id;
            report.records += 1;
            if report.records.is_multiple_of(1000) {
                progress(report.records);
            }
        }
        let last_seq = expected_seq - 1;
        if head_seq > last_seq {
            report.problems.push(Problem::Truncated {
                tenant: tenant.clone(),
                head_seq,
                last_seq,
            });
        } else if head_seq == last_seq && head_hash != prev_hash && last_seq > 0 {
            report.problems.push(Problem::Reordered {
                tenant: tenant.clone(),
                seq: last_seq,
                id: rows.last().map_or(0, |r| r.id),
            });
        }

        let anchors: Vec<(i64, String, String, String)> = with_connection!(tx.connection(), c => {
            let rows = sqlx::query("SELECT seq, hash, public_key, signature FROM audit_anchors WHERE tenant_path = $1 ORDER BY seq")
                .bind(tenant.clone())
                .fetch_all(&mut *c)
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("seq")?, r.try_get("hash")?, r.try_get("public_key")?, r.try_get("signature")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        for (seq, hash, public_hex, signature_hex) in anchors {
            if seq <= pruned_through {
                continue; // its record was exported and pruned
            }
            report.anchors += 1;
            let mismatch = |reason: &str| Problem::AnchorMismatch {
                tenant: tenant.clone(),
                seq,
                reason: reason.to_owned(),
            };
            let signed = PublicKey::from_hex(&public_hex).ok().zip(
                hex::decode(&signature_hex)
                    .ok()
                    .and_then(|der| Signature::from_der(&der).ok()),
            );
            let Some((public, signature)) = signed else {
                report
                    .problems
                    .push(mismatch("签名或公钥无法解析 (unreadable signature or key)"));
                continue;
            };
            if trusted.is_some_and(|t| *t != public) {
                report.problems.push(mismatch(
                    "签名公钥不是平台公钥 (signed by a key other than the platform's)",
                ));
            } else if public
                .verify(anchor_message(&tenant, seq, &hash).as_bytes(), &signature)
                .is_err()
            {
                report
                    .problems
                    .push(mismatch("签名无效 (signature does not verify)"));
            } else if hashes.get(&seq) != Some(&hash) {
                report.problems.push(mismatch(
                    "链上该记录的哈希与锚点不同 (the chain's hash at this record differs)",
                ));
            }
        }
    }
    progress(report.records);
    Ok(report)
}

fn anchor_message(tenant: &str, seq: i64, hash: &str) -> String {
    format!("civitas-audit-anchor-v1\n{tenant}\n{seq}\n{hash}")
}

/// A signed checkpoint of one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// The tenant.
    pub tenant: String,
    /// The anchored record.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
}

/// Audit records no signed anchor covers yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Unanchored {
    /// How many, over every chain.
    pub records: i64,
    /// When the oldest of them was recorded, microseconds since the epoch.
    pub oldest_micros: Option<i64>,
}

/// The records no anchor covers yet, and the oldest one's time: anchoring
/// signs every grown chain each interval, so a record older than a few
/// intervals means it has stopped (what an operator pages on). One look at
/// each chain's head, its newest anchor and the first record kept after it.
pub async fn unanchored(db: &Database) -> Result<Unanchored, AuditError> {
    let mut tx = db.begin_platform_read().await?;
    let (records, oldest_micros): (i64, Option<i64>) = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "WITH chains AS ( \
                 SELECT h.tenant_path, h.seq, COALESCE((SELECT max(a.seq) FROM audit_anchors a \
                     WHERE a.tenant_path = h.tenant_path), 0) AS anchored \
                 FROM audit_heads h), \
             behind AS ( \
                 SELECT seq - anchored AS n, (SELECT e.occurred_at FROM audit_events e \
                     WHERE e.tenant_path = chains.tenant_path AND e.seq > chains.anchored \
                     ORDER BY e.seq LIMIT 1) AS since \
                 FROM chains WHERE seq > anchored) \
             SELECT CAST(COALESCE(sum(n), 0) AS BIGINT), min(since) FROM behind",
        )
        .fetch_one(&mut *c)
        .await?
    });
    tx.commit().await?;
    Ok(Unanchored {
        records,
        oldest_micros,
    })
}

/// Signs the head of every chain that has grown since its last anchor.
pub async fn anchor(db: &Database, key: &PrivateKey) -> Result<Vec<Anchor>, AuditError> {
    let public_hex = key.public_key().to_hex();
    let mut tx = db.begin_platform().await?;
    let heads: Vec<(String, i64, String)> = with_connection!(tx.connection(), c => {
        let rows = sqlx::query(
            "SELECT h.tenant_path, h.seq, h.hash FROM audit_heads h \
             WHERE h.seq > 0 AND NOT EXISTS (SELECT 1 FROM audit_anchors a WHERE a.tenant_path = h.tenant_path AND a.seq = h.seq) \
             ORDER BY h.tenant_path",
        )
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("tenant_path")?, r.try_get("seq")?, r.try_get("hash")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?
    });
    let now = Utc::now().timestamp_micros();
    let mut anchored = Vec::new();
    for (tenant, seq, hash) in heads {
        let signature = key.sign(anchor_message(&tenant, seq, &hash).as_bytes())?;
        with_connection!(tx.connection(), c => {
            sqlx::query(
                "INSERT INTO audit_anchors (tenant_path, seq, hash, signed_at, public_key, signature) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(tenant.clone())
            .bind(seq)
            .bind(hash.clone())
            .bind(now)
            .bind(public_hex.clone())
            .bind(hex::encode(signature.to_der()))
            .execute(&mut *c)
            .await?;
        });
        anchored.push(Anchor { tenant, seq, hash });
    }
    tx.commit().await?;
    Ok(anchored)
}

/// Which records [`search`] returns. Every filter is optional; records
/// come newest first.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action, or with a trailing `*` every action starting so
    /// (`grant.*`).
    pub action: Option<String>,
    /// Only records about this target (a case id, an account).
    pub target: Option<String>,
    /// Recorded at or after.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before.
    pub to: Option<DateTime<Utc>>,
    /// Only records older than the one with this id (the next page).
    pub before_id: Option<i64>,
    /// At most this many (capped at [`MAX_PAGE`]).
    pub limit: usize,
}

/// The most records one [`search`] returns.
pub const MAX_PAGE: usize = 500;

/// The records of the transaction's subtree that match `query`, newest
/// first. On PostgreSQL row-level security confines the read as well.
pub async fn search(tx: &mut TenantTx, query: &Query) -> Result<Vec<Event>, AuditError> {
    let (lower, upper) = bounds(Some(tx.scope().path()));
    let (action_exact, action_prefix) = match query.action.as_deref() {
        Some(a) => match a.strip_suffix('*') {
            Some(prefix) => (None, Some(prefix.to_owned())),
            None => (Some(a.to_owned()), None),
        },
        None => (None, None),
    };
    let prefix_len = action_prefix
        .as_ref()
        .map_or(0, |p| i32::try_from(p.chars().count()).unwrap_or(i32::MAX));
    let limit = query.limit.clamp(1, MAX_PAGE) as i64;
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM audit_events \
         WHERE tenant_path >= $1 AND tenant_path < $2 \
           AND ($3 IS NULL OR actor = $3) \
           AND ($4 IS NULL OR action = $4) \
           AND ($5 IS NULL OR substr(action, 1, $6) = $5) \
           AND ($7 IS NULL OR occurred_at >= $7) \
           AND ($8 IS NULL OR occurred_at < $8) \
           AND ($9 IS NULL OR id < $9) \
           AND ($11 IS NULL OR target = $11) \
         ORDER BY id DESC LIMIT $10"
    );
    let records: Vec<StoredRecord> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(lower.clone())
            .bind(upper.clone())
            .bind(query.actor.clone())
            .bind(action_exact.clone())
            .bind(action_prefix.clone())
            .bind(prefix_len)
            .bind(query.from.map(|t| t.timestamp_micros()))
            .bind(query.to.map(|t| t.timestamp_micros()))
            .bind(query.before_id)
            .bind(limit)
            .bind(query.target.clone())
            .fetch_all(&mut *c)
            .await?
    });
    Ok(records.iter().map(StoredRecord::to_event).collect())
}

/// Writes the records of the subtree `under` recorded in `[from, to)` as
/// JSON lines, in chain order; returns how many were written.
pub async fn export(
    db: &Database,
    under: Option<&TenantPath>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    out: &mut impl Write,
) -> Result<u64, AuditError> {
    let (lower, upper) = bounds(under);
    let mut tx = db.begin_platform_read().await?;
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM audit_events \
         WHERE tenant_path >= $1 AND tenant_path < $2 AND occurred_at >= $3 AND occurred_at < $4 \
         ORDER BY tenant_path, seq"
    );
    let records: Vec<StoredRecord> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(lower.clone())
            .bind(upper.clone())
            .bind(from.timestamp_micros())
            .bind(to.timestamp_micros())
            .fetch_all(&mut *c)
            .await?
    });
    for record in &records {
        serde_json::to_writer(&mut *out, &record.to_event()).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
    }
    Ok(records.len() as u64)
}

/// The minimum retention of audit records, in days (MLPS level 3 asks
/// for at least six months); the database refuses younger deletions too.
pub const MIN_RETENTION_DAYS: i64 = 180;

/// A signed statement that a chain's records through `seq` were exported
/// and removed.
struct PrunePoint {
    seq: i64,
    hash: String,
    records: i64,
    archive_sm3: String,
    public_key: String,
    signature: String,
}

fn prune_message(tenant: &str, seq: i64, hash: &str, records: i64, archive_sm3: &str) -> String {
    format!("civitas-audit-prune-v1\n{tenant}\n{seq}\n{hash}\n{records}\n{archive_sm3}")
}

impl PrunePoint {
    /// Checks the signature, and the key against `trusted` if given.
    fn check(&self, tenant: &str, trusted: Option<&PublicKey>) -> Result<(), String> {
        let signed = PublicKey::from_hex(&self.public_key).ok().zip(
            hex::decode(&self.signature)
                .ok()
                .and_then(|der| Signature::from_der(&der).ok()),
        );
        let Some((public, signature)) = signed else {
            return Err("签名或公钥无法解析 (unreadable signature or key)".to_owned());
        };
        if trusted.is_some_and(|t| *t != public) {
            return Err(
                "签名公钥不是平台公钥 (signed by a key other than the platform's)".to_owned(),
            );
        }
        let message = prune_message(
            tenant,
            self.seq,
            &self.hash,
            self.records,
            &self.archive_sm3,
        );
        public
            .verify(message.as_bytes(), &signature)
            .map_err(|_| "签名无效 (signature does not verify)".to_owned())
    }
}

async fn latest_prune_point(
    tx: &mut civitas_storage::PlatformTx,
    tenant: &str,
) -> Result<Option<PrunePoint>, AuditError> {
    let point = with_connection!(tx.connection(), c => {
        sqlx::query(
            "SELECT seq, hash, records, archive_sm3, public_key, signature FROM audit_prune_points \
             WHERE tenant_path = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(tenant.to_owned())
        .fetch_optional(&mut *c)
        .await?
        .map(|r| -> Result<PrunePoint, sqlx::Error> {
            Ok(PrunePoint {
                seq: r.try_get("seq")?,
                hash: r.try_get("hash")?,
                records: r.try_get("records")?,
                archive_sm3: r.try_get("archive_sm3")?,
                public_key: r.try_get("public_key")?,
                signature: r.try_get("signature")?,
            })
        })
        .transpose()?
    });
    Ok(point)
}

/// What [`prune`] removed from one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrunedChain {
    /// The tenant.
    pub tenant: String,
    /// The last record removed.
    pub through_seq: i64,
    /// How many records were exported and removed.
    pub records: u64,
    /// SM3 of this chain's exported JSON lines (hex), also signed.
    pub archive_sm3: String,
}

/// Exports each chain's records recorded before `before` — the prefix of
/// the chain up to its first record at or after `before` — to `archive`
/// (JSON lines, as [`export`] writes them) and then removes them, leaving in each chain
/// a prune point signed with `key` that [`verify`] starts from.
///
/// Refuses a cut-off less than [`MIN_RETENTION_DAYS`] ago, and refuses to
/// prune a chain whose records to be removed do not verify. The archive is
/// flushed before anything is removed; if writing it fails, nothing is.
pub async fn prune(
    db: &Database,
    key: &PrivateKey,
    before: DateTime<Utc>,
    archive: &mut impl Write,
    mut progress: impl FnMut(u64),
) -> Result<Vec<PrunedChain>, AuditError> {
    let cutoff = Utc::now() - chrono::Duration::days(MIN_RETENTION_DAYS);
    if before > cutoff {
        return Err(AuditError::RetentionTooShort {
            min_days: MIN_RETENTION_DAYS,
            before,
        });
    }
    let public_hex = key.public_key().to_hex();
    let before_micros = before.timestamp_micros();
    let mut tx = db.begin_platform().await?;
    let tenants: Vec<String> = with_connection!(tx.connection(), c => {
        sqlx::query_scalar("SELECT DISTINCT tenant_path FROM audit_events WHERE occurred_at < $1 ORDER BY tenant_path")
            .bind(before_micros)
            .fetch_all(&mut *c)
            .await?
    });
    let mut pruned = Vec::new();
    let mut done = 0u64;
    for tenant in tenants {
        let start = latest_prune_point(&mut tx, &tenant).await?;
        let (mut expected_seq, mut prev_hash) = match &start {
            Some(point) => (point.seq + 1, point.hash.clone()),
            None => (1, GENESIS.to_owned()),
        };
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM audit_events WHERE tenant_path = $1 AND seq > $2 \
             AND seq < COALESCE((SELECT min(seq) FROM audit_events WHERE tenant_path = $1 AND occurred_at >= $3), $4) \
             ORDER BY seq, id"
        );
        let rows: Vec<StoredRecord> = with_connection!(tx.connection(), c => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(tenant.clone())
                .bind(expected_seq - 1)
                .bind(before_micros)
                .bind(i64::MAX)
                .fetch_all(&mut *c)
                .await?
        });
        let broken = |problem: String| AuditError::ChainBroken {
            tenant: tenant.clone(),
            problem,
        };
        let mut lines = Vec::new();
        for row in &rows {
            let recomputed = row.recomputed_hash();
            if recomputed != row.hash {
                return Err(broken(format!("#{} altered", row.seq)));
            }
            if row.seq != expected_seq || row.prev_hash != prev_hash {
                return Err(broken(format!("#{} out of sequence", row.seq)));
            }
            serde_json::to_writer(&mut lines, &row.to_event()).map_err(std::io::Error::other)?;
            lines.push(b'\n');
            expected_seq = row.seq + 1;
            prev_hash = row.hash.clone();
        }
        let Some(last) = rows.last() else { continue };
        let records = rows.len() as i64;
        let archive_sm3 = hex::encode(sm3::digest(&lines));
        archive.write_all(&lines)?;
        let message = prune_message(&tenant, last.seq, &last.hash, records, &archive_sm3);
        let signature = hex::encode(key.sign(message.as_bytes())?.to_der());
        with_connection!(tx.connection(), c => {
            sqlx::query(
                "INSERT INTO audit_prune_points (tenant_path, seq, hash, records, archive_sm3, pruned_at, public_key, signature) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(tenant.clone())
            .bind(last.seq)
            .bind(last.hash.clone())
            .bind(records)
            .bind(archive_sm3.clone())
            .bind(Utc::now().timestamp_micros())
            .bind(public_hex.clone())
            .bind(signature)
            .execute(&mut *c)
            .await?;
            sqlx::query("DELETE FROM audit_events WHERE tenant_path = $1 AND seq <= $2")
                .bind(tenant.clone())
                .bind(last.seq)
                .execute(&mut *c)
                .await?;
        });
        done += records as u64;
        progress(done);
        pruned.push(PrunedChain {
            tenant,
            through_seq: last.seq,
            records: records as u64,
            archive_sm3,
        });
    }
    // The archive is on its way to disk before the records go.
    archive.flush()?;
    tx.commit().await?;
    Ok(pruned)
}
