//! The indexer: the outbox applied in batches, rebuilds, status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use civitas_search::{Analyzer, Change, Counts, Document, Engine, Kind, SearchError, pinyin_keys};
use civitas_storage::{Backend, Database, PlatformTx, StorageError, with_connection};
use civitas_tenancy::TenantPath;
use serde::Serialize;

use crate::outbox;
use crate::project::{self, Searchable};

/// Why indexing failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// The database failed.
    #[error("数据库错误 (database error): {0}")]
    Storage(#[from] StorageError),
    /// The search backend failed.
    #[error("搜索引擎错误 (search backend error): {0}")]
    Search(#[from] SearchError),
    /// A stored row does not parse.
    #[error("存储的数据无法解析 (stored data does not parse): {0}")]
    Stored(String),
}

impl From<sqlx::Error> for IndexerError {
    fn from(e: sqlx::Error) -> IndexerError {
        IndexerError::Storage(StorageError::Database(e))
    }
}

/// A service of the catalog as the public finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceListing {
    /// Its id (`civil-affairs/meal-subsidy`).
    pub id: String,
    /// Its Chinese name.
    pub name: String,
    /// Its English name.
    pub name_en: String,
    /// What it is, in a sentence or two (Chinese).
    pub description: String,
    /// The same in English.
    pub description_en: String,
    /// Its line.
    pub line: String,
}

/// What a rebuild did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rebuilt {
    /// Documents written, by kind.
    pub by_kind: BTreeMap<String, u64>,
}

/// How far behind the index is, and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexStatus {
    /// `tantivy` or `meilisearch`.
    pub backend: String,
    /// Outbox entries not applied yet.
    pub pending: i64,
    /// Age of the oldest of them (seconds).
    pub lag_seconds: f64,
    /// Entries this backend has applied, ever.
    pub applied: i64,
    /// When it last applied a batch (Unix microseconds).
    pub applied_at: Option<i64>,
    /// Entries left out because their row does not parse (logged).
    pub rejected: i64,
    /// Documents in the index.
    pub documents: Counts,
}

impl IndexStatus {
    /// Whether the oldest pending change waits longer than `limit`.
    pub fn is_behind(&self, limit: Duration) -> bool {
        self.lag_seconds > limit.as_secs_f64()
    }
}

/// Applies the outbox to an engine (cheap to clone).
#[derive(Debug, Clone)]
pub struct Indexer {
    db: Database,
    engine: Engine,
    searchable: Arc<Searchable>,
    batch: i64,
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

impl Indexer {
    /// An indexer of `db` into `engine`; `searchable` names the case data
    /// fields searched, by service ([`crate::searchable_fields`]).
    pub fn new(db: Database, engine: Engine, searchable: Searchable) -> Indexer {
        Indexer {
            db,
            engine,
            searchable: Arc::new(searchable),
            batch: 1000,
        }
    }

    /// The same with batches of at most `batch` outbox entries.
    pub fn with_batch(mut self, batch: usize) -> Indexer {
        self.batch = batch.max(1) as i64;
        self
    }

    /// The engine it feeds.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    async fn ensure_registered(&self) -> Result<(), IndexerError> {
        let mut tx = self.db.begin_platform().await?;
        let backend = self.engine.backend();
        with_connection!(tx.connection(), c => {
            sqlx::query("INSERT INTO search_indexers (backend, applied) VALUES ($1, 0) ON CONFLICT (backend) DO NOTHING")
                .bind(backend)
                .execute(&mut *c)
                .await?;
        });
        tx.commit().await?;
        Ok(())
    }

    /// Applies one batch of the outbox; returns how many entries it applied
    /// (0 when none wait, or when another node holds this backend's turn).
    pub async fn run_batch(&self) -> Result<usize, IndexerError> {
        match self.db.backend() {
            Backend::Postgres => self.run_batch_postgres().await,
            Backend::Sqlite => self.run_batch_sqlite().await,
        }
    }

    /// The changes `entries` name, and how many of them were rejected: a
    /// row that does not parse is logged and left out (one bad row must not
    /// stop indexing); a database failure fails the batch.
    async fn changes(
        &self,
        tx: &mut PlatformTx,
        entries: &[outbox::Entry],
    ) -> Result<(Vec<Change>, usize), IndexerError> {
        let mut by_kind: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
        for e in entries {
            let ids = by_kind.entry(e.kind).or_default();
            if !ids.contains(&e.doc) {
                ids.push(e.doc.clone());
            }
        }
        let mut changes = Vec::new();
        let mut rejected = 0;
        for (kind, ids) in by_kind {
            for chunk in ids.chunks(500) {
                match project::load(tx.connection(), kind, chunk, &self.searchable).await {
                    Ok(loaded) => changes.extend(loaded),
                    Err(IndexerError::Stored(_)) => {
                        // Find the bad rows one by one.
                        for id in chunk {
                            let one = std::slice::from_ref(id);
                            match project::load(tx.connection(), kind, one, &self.searchable).await
                            {
                                Ok(loaded) => changes.extend(loaded),
                                Err(IndexerError::Stored(why)) => {
                                    tracing::error!(kind = kind.as_str(), id = %id, reason = %why, "a stored row does not parse: not indexed");
                                    rejected += 1;
                                }
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((changes, rejected))
    }

    async fn record(
        &self,
        tx: &mut PlatformTx,
        applied: usize,
        rejected: usize,
    ) -> Result<(), IndexerError> {
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE search_indexers SET applied = applied + $1, applied_at = $2, rejected = rejected + $3 WHERE backend = $4")
                .bind(applied as i64)
                .bind(now_micros())
                .bind(rejected as i64)
                .bind(self.engine.backend())
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    /// PostgreSQL: the batch is read, applied and deleted while this
    /// backend's `search_indexers` row is locked, so one node at a time
    /// feeds an index and the others skip (SKIP LOCKED) rather than wait.
    async fn run_batch_postgres(&self) -> Result<usize, IndexerError> {
        let mut tx = self.db.begin_platform().await?;
        let turn: Option<String> = with_connection!(tx.connection(), c => {
            sqlx::query_scalar("SELECT backend FROM search_indexers WHERE backend = $1 FOR UPDATE SKIP LOCKED")
                .bind(self.engine.backend())
                .fetch_optional(&mut *c)
                .await?
        });
        if turn.is_none() {
            drop(tx);
            // Not registered yet (first run) or another node's turn.
            self.ensure_registered().await?;
            return Ok(0);
        }
        let entries = outbox::oldest(tx.connection(), self.batch).await?;
        if entries.is_empty() {
            return Ok(0);
        }
        let (changes, rejected) = self.changes(&mut tx, &entries).await?;
        self.engine.apply(changes).await?;
        let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
        outbox::remove(&mut tx, &seqs).await?;
        self.record(&mut tx, seqs.len(), rejected).await?;
        tx.commit().await?;
        Ok(seqs.len())
    }

    /// SQLite (one node): read, apply, then delete in a short write, so
    /// writers never wait on the index's commit.
    async fn run_batch_sqlite(&self) -> Result<usize, IndexerError> {
        let mut read = self.db.begin_platform_read().await?;
        let entries = outbox::oldest(read.connection(), self.batch).await?;
        if entries.is_empty() {
            return Ok(0);
        }
        let (changes, rejected) = self.changes(&mut read, &entries).await?;
        read.commit().await?;
        self.engine.apply(changes).await?;
        let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
        let mut tx = self.db.begin_platform().await?;
        outbox::remove(&mut tx, &seqs).await?;
        with_connection!(tx.connection(), c => {
            sqlx::query("INSERT INTO search_indexers (backend, applied) VALUES ($1, 0) ON CONFLICT (backend) DO NOTHING")
                .bind(self.engine.backend())
                .execute(&mut *c)
                .await?;
        });
        self.record(&mut tx, seqs.len(), rejected).await?;
        tx.commit().await?;
        Ok(seqs.len())
    }

    /// Applies the outbox until none waits (tests, `reindex`).
    pub async fn drain(&self) -> Result<usize, IndexerError> {
        let mut total = 0;
        loop {
            let n = self.run_batch().await?;
            total += n;
            if n == 0 {
                // Another node's turn, or empty: look once more after the
                // other node's batch.
                let mut read = self.db.begin_platform_read().await?;
                let (pending, _) = outbox::pending(read.connection()).await?;
                read.commit().await?;
                if pending == 0 {
                    return Ok(total);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Applies the outbox every `interval` while it is empty, without pause
    /// while full batches come; logs failures and keeps going. Runs until
    /// dropped.
    pub async fn run(self, interval: Duration) {
        loop {
            match self.run_batch().await {
                Ok(n) if n as i64 >= self.batch => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "search indexing failed; retrying"),
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Writes a document for every service under every root, public in
    /// its line (pinyin keys and initials from the name).
    pub async fn index_services(
        &self,
        services: &[ServiceListing],
        roots: &[TenantPath],
    ) -> Result<usize, IndexerError> {
        let analyzer = Analyzer::shared();
        let mut changes = Vec::new();
        for root in roots {
            for s in services {
                let mut keywords = pinyin_keys(&s.name, &analyzer);
                keywords.push(s.id.clone());
                changes.push(Change::Upsert(Box::new(Document {
                    id: format!("service:{}:{}", root.as_str(), s.id),
                    kind: Kind::Service,
                    tenant: root.clone(),
                    line: s.line.clone(),
                    title: s.name.clone(),
                    body: vec![
                        s.name_en.clone(),
                        s.description.clone(),
                        s.description_en.clone(),
                    ],
                    keywords,
                    status: None,
                    service: Some(s.id.clone()),
                    owner: None,
                    public: true,
                    date: 0,
                })));
            }
        }
        let n = changes.len();
        self.engine.apply(changes).await?;
        Ok(n)
    }

    /// Rebuilds the documents of `tenant`'s subtree (all when `None`) from
    /// the database: clears them, then writes every row, calling
    /// `progress(done, total)` as it goes, and commits and waits for the
    /// index's merges ([`Engine::settle`]) after the last call. Services are not rows: write
    /// them again after a full rebuild ([`Indexer::index_services`]).
    pub async fn rebuild(
        &self,
        tenant: Option<&TenantPath>,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Rebuilt, IndexerError> {
        let total = self.count_rows(tenant).await?;
        // On PostgreSQL the rebuild holds this backend's turn throughout:
        // other nodes skip their batches meanwhile, so no change is applied
        // before an older copy the rebuild read; the changes made meanwhile
        // wait in the outbox and are applied after it, reading the rows as
        // they are then. (On SQLite, one node: stop the server first.)
        let turn = match self.db.backend() {
            Backend::Postgres => {
                self.ensure_registered().await?;
                let mut tx = self.db.begin_platform().await?;
                with_connection!(tx.connection(), c => {
                    sqlx::query("SELECT backend FROM search_indexers WHERE backend = $1 FOR UPDATE")
                        .bind(self.engine.backend())
                        .execute(&mut *c)
                        .await?;
                });
                Some(tx)
            }
            Backend::Sqlite => None,
        };
        self.engine.clear(tenant).await?;
        let mut rebuilt = Rebuilt::default();
        let mut done = 0u64;
        progress(0, total);
        // Documents are read from the database a page at a time and staged
        // in large batches; one commit at the end (in `settle`) writes them,
        // so the index is not committed and merged again after each batch.
        // Searches see the cleared subtree until then.
        const BATCH: usize = 50_000;
        let mut pending: Vec<Change> = Vec::new();
        for kind in [Kind::Case, Kind::Account, Kind::Resident] {
            let mut after = String::new();
            loop {
                let mut read = self.db.begin_platform_read().await?;
                let (documents, last) = project::page(
                    read.connection(),
                    kind,
                    tenant,
                    &after,
                    2000,
                    &self.searchable,
                )
                .await?;
                read.commit().await?;
                let n = documents.len() as u64;
                pending.extend(documents.into_iter().map(|d| Change::Add(Box::new(d))));
                if pending.len() >= BATCH {
                    self.engine.stage(std::mem::take(&mut pending)).await?;
                }
                *rebuilt.by_kind.entry(kind.as_str().to_owned()).or_default() += n;
                done += n;
                progress(done, total);
                match last {
                    Some(l) => after = l,
                    None => break,
                }
            }
        }
        self.engine.stage(pending).await?;
        self.engine.settle().await?;
        if let Some(turn) = turn {
            turn.commit().await?;
        }
        Ok(rebuilt)
    }

    async fn count_rows(&self, tenant: Option<&TenantPath>) -> Result<u64, IndexerError> {
        let mut read = self.db.begin_platform_read().await?;
        let mut total = 0i64;
        for table in ["cases", "accounts", "residents"] {
            let (sql, binds) = match tenant {
                Some(t) => {
                    let (low, high) = t.subtree_range();
                    (
                        format!(
                            "SELECT count(*) FROM {table} WHERE tenant_path >= $1 AND tenant_path < $2"
                        ),
                        vec![low.to_owned(), high],
                    )
                }
                None => (format!("SELECT count(*) FROM {table}"), Vec::new()),
            };
            let n: i64 = with_connection!(read.connection(), c => {
                let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
                for b in binds {
                    q = q.bind(b);
                }
                q.fetch_one(&mut *c).await?
            });
            total += n;
        }
        read.commit().await?;
        Ok(total as u64)
    }

    /// The outbox's lag and the index's counts.
    pub async fn status(&self) -> Result<IndexStatus, IndexerError> {
        let mut read = self.db.begin_platform_read().await?;
        let (pending, oldest) = outbox::pending(read.connection()).await?;
        let (applied, applied_at, rejected): (i64, Option<i64>, i64) = with_connection!(read.connection(), c => {
            sqlx::query_as("SELECT applied, applied_at, rejected FROM search_indexers WHERE backend = $1")
                .bind(self.engine.backend())
                .fetch_optional(&mut *c)
                .await?
                .unwrap_or((0, None, 0))
        });
        read.commit().await?;
        let lag_seconds = oldest.map_or(0.0, |t| ((now_micros() - t).max(0) as f64) / 1e6);
        Ok(IndexStatus {
            backend: self.engine.backend().to_owned(),
            pending,
            lag_seconds,
            applied,
            applied_at,
            rejected,
            documents: self.engine.counts().await?,
        })
    }

    /// How many outbox entries wait and the age of the oldest (seconds):
    /// the database only, cheap enough for every readiness probe.
    pub async fn lag(&self) -> Result<(i64, f64), IndexerError> {
        let mut read = self.db.begin_platform_read().await?;
        let (pending, oldest) = outbox::pending(read.connection()).await?;
        read.commit().await?;
        Ok((
            pending,
            oldest.map_or(0.0, |t| ((now_micros() - t).max(0) as f64) / 1e6),
        ))
    }
}
