//! The indexer: the outbox applied in batches, rebuilds, status.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use civitas_search::{
    Analyzer, AppliedMark, Change, Counts, Document, Engine, Kind, SearchError, pinyin_keys,
};
use civitas_storage::{Backend, Database, PlatformTx, StorageError, with_connection};
use civitas_tenancy::TenantPath;
use serde::Serialize;

use crate::holder::{self, Holds, Recorded, ThisIndex, Turn};
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
    /// Rows left out because they do not parse (each logged).
    pub rejected: u64,
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
    /// This index's id (embedded indexes; `None` for Meilisearch).
    pub index_id: Option<String>,
    /// How many of the `applied` entries the index holds, by its applied
    /// mark (an embedded index's own; Meilisearch's as its server keeps
    /// it); `None` before it has said.
    pub index_applied: Option<i64>,
    /// What the index holds of what the database counts applied, by its
    /// applied mark ([`Holds`]): `all`; `ahead`, changes the database no
    /// longer has (restored to an earlier point) and `unsaid`, no mark —
    /// rebuilt at the next indexing turn (a Meilisearch index `unsaid` that
    /// holds documents of rows is taken as it is); `behind`, a copy of the
    /// holder's directory, which stands by or is rebuilt. `None` when
    /// another embedded index holds the outbox (this one is judged when it
    /// takes over), or the backend has no row yet.
    pub holds: Option<Holds>,
    /// Whether the index is marked as not holding what it applied (created
    /// empty, or a rebuild that did not end): rebuilt before it applies.
    pub incomplete: bool,
    /// The id of the embedded index that holds the outbox, if any.
    pub holder: Option<String>,
    /// When the holder was last seen applying it (Unix microseconds).
    pub holder_seen_at: Option<i64>,
}

impl IndexStatus {
    /// Whether the oldest pending change waits longer than `limit`.
    pub fn is_behind(&self, limit: Duration) -> bool {
        self.lag_seconds > limit.as_secs_f64()
    }
}

/// What this node's index does with the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// It applies the outbox: a Meilisearch index every node shares, or
    /// the embedded index that holds the database's outbox.
    Applying,
    /// An embedded index standing by while another node's embedded index
    /// (or a copy of this one that applied what this one lacks) holds the
    /// outbox ([`crate::holder`]): it is not kept up to date, so it must
    /// not answer searches.
    StandingBy {
        /// The holder's index id.
        holder: String,
    },
    /// An embedded index rebuilding itself from the database before it
    /// holds the outbox; it answers no searches until it is done.
    Rebuilding {
        /// The former holder's index id, if one was recorded.
        previous: Option<String>,
    },
    /// An embedded index whose node could not look at the outbox's row as
    /// it started (another node's rebuild held it); its next turn decides.
    Waiting,
}

impl Role {
    /// Every role's name, as `/readyz` and `/metrics` show it.
    pub const NAMES: [&'static str; 4] = ["applying", "standing_by", "rebuilding", "waiting"];

    /// Its name, as `/readyz` and `/metrics` show it.
    pub fn name(&self) -> &'static str {
        match self {
            Role::Applying => "applying",
            Role::StandingBy { .. } => "standing_by",
            Role::Rebuilding { .. } => "rebuilding",
            Role::Waiting => "waiting",
        }
    }
}

/// When the rebuild an embedded index needs before it holds the outbox
/// ([`Role::Rebuilding`]) is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebuildAt {
    /// In [`Indexer::claim`] itself, which returns once it is done.
    Claim,
    /// On the indexer's next turn ([`Indexer::run_batch`], [`Indexer::run`]):
    /// a node serves at once, its searches answering "rebuilding" until the
    /// rebuild is done, and a rebuild that fails is tried again later
    /// rather than stopping the node.
    NextTurn,
}

/// How long an embedded index that holds the outbox may go unseen before
/// another takes over, by default.
pub const TAKEOVER_AFTER: Duration = Duration::from_secs(30);

/// How long a node starting looks for the outbox's row to be free before
/// it leaves the decision to its next turns.
const CLAIM_WAIT: Duration = Duration::from_secs(5);

/// Applies the outbox to an engine (cheap to clone).
#[derive(Debug, Clone)]
pub struct Indexer {
    db: Database,
    engine: Engine,
    searchable: Arc<Searchable>,
    batch: i64,
    /// How long this index may go unseen while it holds the outbox (it is
    /// recorded with it, and standbys wait it out); how long a holder that
    /// recorded none is presumed alive; the back-off after a failed rebuild.
    takeover_after: Duration,
    role: Arc<Mutex<Role>>,
    /// When this node last had a turn at the outbox (decided who applies).
    last_turn: Arc<Mutex<Instant>>,
    /// No rebuild is tried again before this, after one failed.
    retry_after: Arc<Mutex<Option<Instant>>>,
    /// The catalog's services as last written, to write again after a
    /// full rebuild clears them.
    services: Arc<Mutex<Option<Catalogued>>>,
}

/// The catalog's services and the roots they are listed under.
type Catalogued = (Vec<ServiceListing>, Vec<TenantPath>);

/// What a turn left to do.
enum Acted {
    /// Apply a batch in this transaction, which holds the backend's row.
    Apply(PlatformTx),
    /// Nothing more: stood by, or rebuilt (what was written).
    Done(Option<Rebuilt>),
}

/// Whether every entry of the last batch `mark` names still waits in the
/// outbox, read in `tx`; looked at only when that batch is in question
/// ([`holder::last_batch_in_question`]), `false` otherwise.
async fn last_batch_waiting(
    tx: &mut PlatformTx,
    recorded: &Recorded,
    mark: Option<&AppliedMark>,
) -> Result<bool, IndexerError> {
    match mark {
        Some(mark) if holder::last_batch_in_question(recorded, mark) => match &mark.entries {
            Some(word) => outbox::still_waiting(tx.connection(), word).await,
            None => Ok(false),
        },
        _ => Ok(false),
    }
}

/// A new token for a batch ([`AppliedMark::batch`]).
fn new_batch_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The mark of an index rebuilt from the database, the row as `recorded`
/// says, under its own token `rebuild` (recorded in the row as the rebuild
/// ends): it holds every entry counted applied — and, read as the rows
/// were at its end, changes whose entries still wait, which a database
/// restored to a point after the row's last batch but before them would
/// not have; so the rebuild must not pass for that batch.
fn rebuilt_mark(recorded: &Recorded, rebuild: &str) -> AppliedMark {
    AppliedMark {
        applied: recorded.applied,
        batch: Some(rebuild.to_owned()),
        after: recorded.batch.clone(),
        entries: None,
    }
}

/// A mark that holds just what the row `recorded` counts, up to its last
/// batch.
fn mark_as_row(recorded: &Recorded) -> AppliedMark {
    AppliedMark {
        applied: recorded.applied,
        batch: recorded.batch.clone(),
        after: recorded.batch.clone(),
        entries: None,
    }
}

/// The value behind `mutex`, even when a thread panicked holding it (each
/// of the indexer's is a plain value, always whole).
fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Ends `tx` now, on `error` met while it held the backend's row: a
/// dropped transaction is rolled back later, by a task, and the row stays
/// locked (on SQLite, the database's write lock held) until then.
async fn abandon(tx: PlatformTx, error: IndexerError) -> IndexerError {
    if let Err(end) = tx.rollback().await {
        tracing::warn!(error = %end, "ending a failed search turn's transaction");
    }
    error
}

/// The value of `$result`, or, on an error, `$tx` rolled back at once
/// ([`abandon`]) and the error returned.
macro_rules! or_abandon {
    ($tx:ident, $result:expr) => {
        match $result {
            Ok(value) => value,
            Err(e) => return Err(abandon($tx, IndexerError::from(e)).await),
        }
    };
}

/// Seconds from `micros` (since the Unix epoch) to now, never negative.
pub fn seconds_since(micros: i64) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    ((now - micros).max(0) as f64) / 1e6
}

/// The database's clock in Unix microseconds, as SQL: holders are seen by
/// one clock, whatever the nodes' own say.
fn database_now(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "(extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT",
        Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)",
    }
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
            takeover_after: TAKEOVER_AFTER,
            role: Arc::new(Mutex::new(Role::Applying)),
            last_turn: Arc::new(Mutex::new(Instant::now())),
            retry_after: Arc::new(Mutex::new(None)),
            services: Arc::new(Mutex::new(None)),
        }
    }

    /// The same with a takeover window of `after` (default
    /// [`TAKEOVER_AFTER`]): recorded when this index holds the outbox, so
    /// another node's waits that long after it was last seen before it
    /// takes over (it says it is there six times as often); and how long it
    /// waits for a holder that recorded none, and backs off after a failed
    /// rebuild.
    pub fn with_takeover_after(mut self, after: Duration) -> Indexer {
        self.takeover_after = after;
        self
    }

    /// Marks the index as not holding what it applied (its directory was
    /// empty, or of an older schema, over a database that may hold rows):
    /// it is rebuilt from the database before it applies the outbox. The
    /// mark is kept with the index until a full rebuild ends.
    pub async fn mark_incomplete(&self) -> Result<(), IndexerError> {
        Ok(self.engine.set_incomplete(true).await?)
    }

    fn heartbeat_every(&self) -> Duration {
        self.takeover_after / 6
    }

    /// How long a holder unseen is presumed alive: none on SQLite, whose
    /// data directory is one node's.
    fn window(&self) -> Duration {
        match self.db.backend() {
            Backend::Postgres => self.takeover_after,
            Backend::Sqlite => Duration::ZERO,
        }
    }

    /// This index as its turn sees it, in `tx`, beside the row as
    /// `recorded` says it is: the outbox is looked at only when the mark's
    /// last batch is in question ([`holder::last_batch_in_question`]).
    async fn this_index<'a>(
        &self,
        tx: &mut PlatformTx,
        id: &'a str,
        recorded: &Recorded,
    ) -> Result<ThisIndex<'a>, IndexerError> {
        self.with_mark(tx, id, recorded, self.engine.applied_mark())
            .await
    }

    /// This index (`id`; empty for Meilisearch) with the applied `mark`
    /// as read, beside the row `recorded`, in `tx`: what [`holder::holds`]
    /// judges.
    async fn with_mark<'a>(
        &self,
        tx: &mut PlatformTx,
        id: &'a str,
        recorded: &Recorded,
        mark: Option<AppliedMark>,
    ) -> Result<ThisIndex<'a>, IndexerError> {
        let last_batch_waiting = last_batch_waiting(tx, recorded, mark.as_ref()).await?;
        Ok(ThisIndex {
            id,
            complete: !self.engine.is_incomplete(),
            mark,
            last_batch_waiting,
        })
    }

    /// Whether the Meilisearch index every node applies to holds what the
    /// database counts applied, as the row `recorded` says (read in `tx`):
    /// its applied mark, kept on the server, is judged as an embedded
    /// index's is ([`holder::holds`]). `false` when it holds changes the
    /// database lost (restored to an earlier point) or lacks some (the
    /// server's data restored, or a new server), a rebuild of it began and
    /// did not end, or its mark does not parse: it is rebuilt before it
    /// applies. An index from before marks were kept takes the row's count
    /// as its mark when it holds documents of rows, and is rebuilt when it
    /// holds none.
    async fn shared_index_holds(
        &self,
        tx: &mut PlatformTx,
        recorded: &Recorded,
    ) -> Result<bool, IndexerError> {
        // Read from the server every turn: another node may have applied
        // since this one last looked, and the row may have gone back to
        // just what this node last saw (a failover or a restore).
        let mark = match self.engine.read_applied_mark().await {
            Ok(mark) => mark,
            Err(SearchError::Stored { id, reason }) => {
                tracing::warn!(%id, %reason, "检索索引的进度标记无法解析，索引将重建 (the search index's applied mark does not parse: the index will be rebuilt)");
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        if self.engine.is_incomplete() {
            // A rebuild began and did not end (on any node).
            return Ok(false);
        }
        let this = self.with_mark(tx, "", recorded, mark).await?;
        Ok(match holder::holds(recorded, &this) {
            Holds::All => true,
            Holds::Behind | Holds::Ahead => false,
            Holds::Unsaid => {
                let counts = self.engine.counts().await?;
                let services = counts
                    .by_kind
                    .get(Kind::Service.as_str())
                    .copied()
                    .unwrap_or(0);
                if counts.total > services {
                    tracing::info!(
                        applied = recorded.applied,
                        "the Meilisearch index has no applied mark yet: it takes the database's count"
                    );
                    self.engine.set_applied_mark(&mark_as_row(recorded)).await?;
                    true
                } else {
                    false
                }
            }
        })
    }

    /// Rebuilds the Meilisearch index every node applies to from the
    /// database and marks it as the row `recorded` says. On PostgreSQL
    /// `turn` holds the backend's row throughout, so no node applies
    /// meanwhile; on SQLite (one node) there is none.
    async fn rebuild_shared(
        &self,
        turn: Option<PlatformTx>,
        recorded: &Recorded,
    ) -> Result<(), IndexerError> {
        if self.backing_off() {
            if let Some(turn) = turn {
                turn.commit().await?;
            }
            return Ok(());
        }
        tracing::warn!(
            applied = recorded.applied,
            "the search index does not hold what the database counts applied (a restore?): rebuilding it from the database"
        );
        self.set_role(Role::Rebuilding { previous: None });
        let rebuilt = match self.rebuild_documents(None, |_, _| {}).await {
            Ok(rebuilt) => rebuilt,
            Err(e) => {
                self.back_off();
                return Err(match turn {
                    Some(turn) => abandon(turn, e).await,
                    None => e,
                });
            }
        };
        let token = new_batch_token();
        let mut tx = match turn {
            Some(tx) => tx,
            None => self.db.begin_platform().await?,
        };
        let marked = match self
            .engine
            .set_applied_mark(&rebuilt_mark(recorded, &token))
            .await
        {
            Ok(()) => self.record_rebuild(&mut tx, &token).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = marked {
            self.back_off();
            return Err(abandon(tx, e).await);
        }
        tx.commit().await?;
        self.set_role(Role::Applying);
        tracing::info!(
            documents = rebuilt.by_kind.values().sum::<u64>(),
            "search index rebuilt from the database"
        );
        Ok(())
    }

    /// What this node's index does with the outbox, as of its last turn.
    pub fn role(&self) -> Role {
        locked(&self.role).clone()
    }

    fn set_role(&self, role: Role) {
        let mut current = locked(&self.role);
        if *current == role {
            return;
        }
        let index = self.engine.identity().unwrap_or("");
        match &role {
            Role::Applying if index.is_empty() => tracing::info!(
                "检索索引从数据库重建完毕，接收变更 (the search index is rebuilt and applies the changes)"
            ),
            Role::Rebuilding { .. } if index.is_empty() => tracing::warn!(
                "检索索引从数据库重建 (the search index is rebuilt from the database)"
            ),
            Role::Applying => tracing::info!(
                index,
                "本节点的内置检索索引接收变更 (this node's embedded search index applies the changes)"
            ),
            Role::StandingBy { holder } if holder == index => tracing::error!(
                index,
                "本节点的内置检索索引待命：另一节点在用本索引目录的副本接收变更；每个节点须有自己的空索引目录 (this node's embedded search index stands by: another node applies the changes with a copy of this index's directory; give every node an index directory of its own, empty at first)"
            ),
            Role::StandingBy { holder } => tracing::warn!(
                index,
                %holder,
                "本节点的内置检索索引待命：另一节点的内置索引接收此数据库的变更；多个节点请共用 Meilisearch (--meili-url) (this node's embedded search index stands by: another node's embedded index applies this database's changes; several nodes should share a Meilisearch server)"
            ),
            Role::Rebuilding { previous } => tracing::warn!(
                index,
                previous = previous.as_deref().unwrap_or(""),
                "本节点的内置检索索引从数据库重建后接收变更 (this node's embedded search index is rebuilt from the database, then applies the changes)"
            ),
            Role::Waiting => tracing::warn!(
                index,
                "检索变更队列正被另一节点的重建占用，下一轮再定 (the search outbox is held by another node's rebuild; the next turn decides)"
            ),
        }
        *current = role;
    }

    fn backing_off(&self) -> bool {
        locked(&self.retry_after).is_some_and(|at| Instant::now() < at)
    }

    fn back_off(&self) {
        *locked(&self.retry_after) =
            Some(Instant::now() + self.takeover_after.max(Duration::from_secs(1)));
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
        or_abandon!(tx, self.register(&mut tx).await);
        tx.commit().await?;
        Ok(())
    }

    /// The backend's `search_indexers` row, written in `tx` if missing.
    async fn register(&self, tx: &mut PlatformTx) -> Result<(), IndexerError> {
        with_connection!(tx.connection(), c => {
            sqlx::query("INSERT INTO search_indexers (backend, applied) VALUES ($1, 0) ON CONFLICT (backend) DO NOTHING")
                .bind(self.engine.backend())
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    /// Which index holds the outbox, as this node starts ([`crate::holder`]):
    /// an embedded index claims it on a new database, applies it when it
    /// holds it, rebuilds itself from the database first when its holder
    /// has not been seen within the holder's window (at once on SQLite,
    /// whose data directory is one node's), when entries were applied with
    /// no holder recorded, when the index is not complete
    /// ([`Indexer::mark_incomplete`]) or has not said what it holds (no
    /// applied mark), or holds another database's documents or changes its
    /// database lost (restored to an earlier point); and otherwise
    /// stands by (also a copy of the holder's directory that fell behind). When
    /// another node's rebuild holds the row for more than a few seconds,
    /// it waits ([`Role::Waiting`]) and its next turn decides. A rebuild is
    /// done when `rebuild` says. Returns the role and what a rebuild wrote,
    /// if the index was rebuilt. A Meilisearch index always applies.
    pub async fn claim(&self, rebuild: RebuildAt) -> Result<(Role, Option<Rebuilt>), IndexerError> {
        let Some(mine) = self.engine.identity() else {
            return Ok((Role::Applying, None));
        };
        self.ensure_registered().await?;
        let deadline = Instant::now() + CLAIM_WAIT;
        loop {
            let mut tx = self.db.begin_platform().await?;
            let Some((recorded, now)) =
                or_abandon!(tx, self.recorded(&mut tx, "FOR UPDATE SKIP LOCKED").await)
            else {
                tx.commit().await?;
                if Instant::now() >= deadline {
                    self.set_role(Role::Waiting);
                    return Ok((Role::Waiting, None));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let this = or_abandon!(tx, self.this_index(&mut tx, mine, &recorded).await);
            let turn = holder::turn(&recorded, &this, now, self.window());
            if turn == Turn::Claim {
                tracing::info!(
                    index = mine,
                    "the embedded search index claims the outbox of a new database"
                );
            }
            if let (Turn::Rebuild { previous }, RebuildAt::NextTurn) = (&turn, rebuild) {
                tx.commit().await?;
                self.set_role(Role::Rebuilding {
                    previous: previous.clone(),
                });
                return Ok((self.role(), None));
            }
            let rebuilt = match self.act_on(tx, turn, mine, &recorded, now).await? {
                Acted::Apply(tx) => {
                    tx.commit().await?;
                    None
                }
                Acted::Done(rebuilt) => rebuilt,
            };
            return Ok((self.role(), rebuilt));
        }
    }

    /// Does what `turn` says while `tx` holds the backend's row.
    async fn act_on(
        &self,
        mut tx: PlatformTx,
        turn: Turn,
        mine: &str,
        recorded: &Recorded,
        now: i64,
    ) -> Result<Acted, IndexerError> {
        *locked(&self.last_turn) = Instant::now();
        match turn {
            Turn::Apply | Turn::Claim => {
                if recorded.index_id.as_deref() != Some(mine)
                    || recorded.live != Some(self.window())
                    || holder::heartbeat_due(recorded.seen_at, now, self.heartbeat_every())
                {
                    or_abandon!(tx, self.mark_seen(&mut tx, Some(mine)).await);
                }
                self.set_role(Role::Applying);
                Ok(Acted::Apply(tx))
            }
            Turn::StandBy { holder } => {
                // Ended now, not dropped: a dropped transaction is rolled
                // back by a task after its connection returns to the pool,
                // and the row's lock lasts until then.
                tx.commit().await?;
                self.set_role(Role::StandingBy { holder });
                Ok(Acted::Done(None))
            }
            Turn::Rebuild { previous } => {
                if self.backing_off() {
                    tx.commit().await?;
                    return Ok(Acted::Done(None));
                }
                match self.rebuild_and_hold(tx, mine, previous, recorded).await {
                    Ok(rebuilt) => Ok(Acted::Done(Some(rebuilt))),
                    Err(e) => {
                        // Not again at once: another standby index may do
                        // better meanwhile.
                        self.back_off();
                        Err(e)
                    }
                }
            }
        }
    }

    /// Rebuilds this index from the database and names it the holder. On
    /// PostgreSQL `turn` holds the backend's row throughout, so no other
    /// index applies or takes over meanwhile. On SQLite (one writer) the
    /// holder is written first and the row let go, so any other process on
    /// the database stops applying at once, and the rebuild reads on other
    /// connections.
    /// `recorded` is the row as the turn began (no other index applies
    /// meanwhile); the rebuild is marked under a token of its own
    /// ([`rebuilt_mark`]).
    async fn rebuild_and_hold(
        &self,
        mut turn: PlatformTx,
        mine: &str,
        previous: Option<String>,
        recorded: &Recorded,
    ) -> Result<Rebuilt, IndexerError> {
        self.set_role(Role::Rebuilding { previous });
        let turn = match self.db.backend() {
            Backend::Postgres => Some(turn),
            Backend::Sqlite => {
                or_abandon!(turn, self.mark_seen(&mut turn, Some(mine)).await);
                turn.commit().await?;
                None
            }
        };
        let rebuilt = match self.rebuild_documents(None, |_, _| {}).await {
            Ok(rebuilt) => rebuilt,
            Err(e) => {
                return Err(match turn {
                    // Let go of the row now.
                    Some(turn) => abandon(turn, e).await,
                    None => e,
                });
            }
        };
        let mut tx = match turn {
            Some(tx) => tx,
            None => self.db.begin_platform().await?,
        };
        let token = new_batch_token();
        or_abandon!(
            tx,
            self.engine
                .set_applied_mark(&rebuilt_mark(recorded, &token))
                .await
        );
        or_abandon!(tx, self.mark_seen(&mut tx, Some(mine)).await);
        or_abandon!(tx, self.record_rebuild(&mut tx, &token).await);
        tx.commit().await?;
        self.set_role(Role::Applying);
        tracing::info!(
            index = mine,
            documents = rebuilt.by_kind.values().sum::<u64>(),
            rejected = rebuilt.rejected,
            "search index rebuilt; it holds the outbox"
        );
        Ok(rebuilt)
    }

    /// The backend's row and the database's clock, the row locked with
    /// `lock` (`FOR UPDATE`, or with `SKIP LOCKED`: `None` when another
    /// node holds it); `None` as well when it is not registered.
    async fn recorded(
        &self,
        tx: &mut PlatformTx,
        lock: &'static str,
    ) -> Result<Option<(Recorded, i64)>, IndexerError> {
        let backend = self.db.backend();
        let lock = match backend {
            Backend::Postgres => lock,
            // One writer at a time already.
            Backend::Sqlite => "",
        };
        let now = database_now(backend);
        type Row = (
            Option<String>,
            Option<i64>,
            i64,
            Option<i64>,
            Option<String>,
            i64,
        );
        let row: Option<Row> = with_connection!(tx.connection(), c => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT index_id, seen_at, applied, takeover_after_ms, applied_batch, {now} FROM search_indexers WHERE backend = $1 {lock}"
            )))
            .bind(self.engine.backend())
            .fetch_optional(&mut *c)
            .await?
        });
        let Some((index_id, seen_at, applied, live_ms, batch, now)) = row else {
            return Ok(None);
        };
        let live = live_ms
            .map(|ms| {
                u64::try_from(ms).map(Duration::from_millis).map_err(|_| {
                    IndexerError::Stored(format!(
                        "search_indexers.takeover_after_ms is negative: {ms}"
                    ))
                })
            })
            .transpose()?;
        Ok(Some((
            Recorded {
                index_id,
                seen_at,
                applied,
                live,
                batch,
            },
            now,
        )))
    }

    /// Records the holder as seen now, by the database's clock: `Some(id)`
    /// names that index the holder, with how long it may go unseen (this
    /// node's window); `None` keeps the one recorded (a node that held the
    /// row during a rebuild says so for a holder that could not).
    async fn mark_seen(
        &self,
        tx: &mut PlatformTx,
        holder: Option<&str>,
    ) -> Result<(), IndexerError> {
        let now = database_now(self.db.backend());
        let window_ms = i64::try_from(self.window().as_millis()).unwrap_or(i64::MAX);
        with_connection!(tx.connection(), c => {
            match holder {
                Some(holder) => sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE search_indexers SET index_id = $1, seen_at = {now}, takeover_after_ms = $2 WHERE backend = $3"
                )))
                .bind(holder)
                .bind(window_ms)
                .bind(self.engine.backend())
                .execute(&mut *c)
                .await?,
                None => sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE search_indexers SET seen_at = {now} WHERE backend = $1"
                )))
                .bind(self.engine.backend())
                .execute(&mut *c)
                .await?,
            };
        });
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

    /// Counts a batch of `applied` entries (`rejected` of them left out)
    /// in `tx`, under its token `batch`.
    async fn record(
        &self,
        tx: &mut PlatformTx,
        applied: usize,
        rejected: usize,
        batch: &str,
    ) -> Result<(), IndexerError> {
        let now = database_now(self.db.backend());
        with_connection!(tx.connection(), c => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE search_indexers SET applied = applied + $1, applied_at = {now}, seen_at = {now}, rejected = rejected + $2, applied_batch = $4 WHERE backend = $3"
            )))
            .bind(applied as i64)
            .bind(rejected as i64)
            .bind(self.engine.backend())
            .bind(batch)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Records in `tx` that the index was rebuilt under the token `rebuild`
    /// ([`rebuilt_mark`]): from then on the row's last batch is the
    /// rebuild.
    async fn record_rebuild(&self, tx: &mut PlatformTx, rebuild: &str) -> Result<(), IndexerError> {
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE search_indexers SET applied_batch = $1 WHERE backend = $2")
                .bind(rebuild)
                .bind(self.engine.backend())
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

    /// PostgreSQL: the batch is read, applied and deleted while this
    /// backend's `search_indexers` row is locked, so one node at a time
    /// feeds an index and the others skip (SKIP LOCKED) rather than wait.
    /// An embedded index applies only while it holds the outbox
    /// ([`crate::holder`]).
    async fn run_batch_postgres(&self) -> Result<usize, IndexerError> {
        let mut tx = self.db.begin_platform().await?;
        let Some((recorded, now)) =
            or_abandon!(tx, self.recorded(&mut tx, "FOR UPDATE SKIP LOCKED").await)
        else {
            tx.commit().await?;
            // Not registered yet (first run) or another node's turn. An
            // embedded index kept from its turns for a whole window (a
            // takeover's rebuild elsewhere holds the row) may no longer
            // hold the outbox: it answers no searches until its next turn.
            let waited = locked(&self.last_turn).elapsed();
            if self.engine.identity().is_some() && waited > self.takeover_after {
                self.set_role(Role::Waiting);
            }
            self.ensure_registered().await?;
            return Ok(0);
        };
        let mut tx = match self.engine.identity() {
            None => match self.shared_index_holds(&mut tx, &recorded).await {
                Ok(true) => {
                    // Rebuilt by another node (or by hand) since this one
                    // began a rebuild that failed.
                    self.set_role(Role::Applying);
                    tx
                }
                Ok(false) => {
                    self.rebuild_shared(Some(tx), &recorded).await?;
                    return Ok(0);
                }
                Err(e) => return Err(abandon(tx, e).await),
            },
            Some(mine) => {
                let this = or_abandon!(tx, self.this_index(&mut tx, mine, &recorded).await);
                let turn = holder::turn(&recorded, &this, now, self.window());
                match self.act_on(tx, turn, mine, &recorded, now).await? {
                    Acted::Apply(tx) => tx,
                    Acted::Done(_) => return Ok(0),
                }
            }
        };
        let applied = or_abandon!(tx, self.apply_batch(&mut tx, &recorded).await);
        tx.commit().await?;
        Ok(applied)
    }

    /// PostgreSQL: the next batch read, applied and removed in `tx`, which
    /// holds the backend's row as `before` says it is.
    async fn apply_batch(
        &self,
        tx: &mut PlatformTx,
        before: &Recorded,
    ) -> Result<usize, IndexerError> {
        let entries = outbox::oldest(tx.connection(), self.batch).await?;
        if entries.is_empty() {
            return Ok(0);
        }
        let (changes, rejected) = self.changes(tx, &entries).await?;
        // Marked before the index applies anything of the batch: an index
        // killed in between holds part of a batch its mark names, which
        // is then judged by whether the batch's entries all still wait
        // ([`holder::last_batch_in_question`]) — and never holds a batch
        // its mark does not name.
        let batch = new_batch_token();
        self.engine
            .set_applied_mark(&AppliedMark {
                applied: before.applied + entries.len() as i64,
                batch: Some(batch.clone()),
                after: before.batch.clone(),
                entries: Some(outbox::batch_word(&entries)),
            })
            .await?;
        self.engine.apply(changes).await?;
        let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
        outbox::remove(tx, &seqs).await?;
        self.record(tx, seqs.len(), rejected, &batch).await?;
        Ok(seqs.len())
    }

    /// SQLite (one node): read, apply and mark the index, then delete in a
    /// short write, so writers never wait on the index's commit.
    async fn run_batch_sqlite(&self) -> Result<usize, IndexerError> {
        // A rebuild left to this turn ([`RebuildAt::NextTurn`]): on
        // PostgreSQL each turn decides anew, here the claim does.
        if matches!(self.role(), Role::Rebuilding { .. }) {
            // After a failed rebuild, not even a look until the back-off ends.
            if self.backing_off() {
                return Ok(0);
            }
            let (role, _) = self.claim(RebuildAt::Claim).await?;
            if role != Role::Applying {
                return Ok(0);
            }
        }
        if self.engine.identity().is_none() {
            // The Meilisearch index: looked at every turn, so a restored
            // database is noticed with nothing to apply.
            let mut read = self.db.begin_platform_read().await?;
            let recorded = or_abandon!(read, self.recorded(&mut read, "").await);
            let holds = match &recorded {
                None => true,
                Some((recorded, _)) => {
                    or_abandon!(read, self.shared_index_holds(&mut read, recorded).await)
                }
            };
            read.commit().await?;
            if let (false, Some((recorded, _))) = (holds, &recorded) {
                self.rebuild_shared(None, recorded).await?;
                return Ok(0);
            }
            self.set_role(Role::Applying);
        }
        // Ended explicitly on every path, as the write below is: a read
        // keeps its snapshot (and the log's checkpoint) until it ends.
        let mut read = self.db.begin_platform_read().await?;
        let entries = or_abandon!(read, outbox::oldest(read.connection(), self.batch).await);
        let before = if entries.is_empty() {
            None
        } else {
            or_abandon!(read, self.applied_if_holding(&mut read).await)
        };
        let Some(before) = before else {
            read.commit().await?;
            return Ok(0);
        };
        let (changes, rejected) = or_abandon!(read, self.changes(&mut read, &entries).await);
        read.commit().await?;
        let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
        // Marked before the index applies (as on PostgreSQL) and outside
        // the write, so writers do not wait on its flush.
        let batch = new_batch_token();
        let marked = AppliedMark {
            applied: before.applied + seqs.len() as i64,
            batch: Some(batch.clone()),
            after: before.batch,
            entries: Some(outbox::batch_word(&entries)),
        };
        self.engine.set_applied_mark(&marked).await?;
        self.engine.apply(changes).await?;
        let mut tx = self.db.begin_platform().await?;
        let removed = or_abandon!(
            tx,
            self.remove_applied(&mut tx, &seqs, rejected, &batch, marked)
                .await
        );
        tx.commit().await?;
        Ok(removed)
    }

    /// SQLite: the applied entries `seqs` removed and counted in `tx`, which
    /// holds the write lock; none when another index took the outbox since
    /// they were read (its node starting, rebuilt): they stay for it. The
    /// index, which applied them as batch `batch`, was marked `marked`; it
    /// is marked again should the row have moved since (only when the row
    /// was not registered as the batch was read).
    async fn remove_applied(
        &self,
        tx: &mut PlatformTx,
        seqs: &[i64],
        rejected: usize,
        batch: &str,
        marked: AppliedMark,
    ) -> Result<usize, IndexerError> {
        self.register(tx).await?;
        // The batch's entries wait: this index read them, and only the
        // holder removes entries.
        let Some(before) = self.applied_if_holding_as(tx, true).await? else {
            return Ok(0);
        };
        let mark = AppliedMark {
            applied: before.applied + seqs.len() as i64,
            batch: Some(batch.to_owned()),
            after: before.batch,
            entries: marked.entries.clone(),
        };
        if mark != marked {
            self.engine.set_applied_mark(&mark).await?;
        }
        outbox::remove(tx, seqs).await?;
        if let Some(mine) = self.engine.identity() {
            self.mark_seen(tx, Some(mine)).await?;
        }
        self.record(tx, seqs.len(), rejected, batch).await?;
        Ok(seqs.len())
    }

    /// SQLite: the backend's row, or `None` when this index applies
    /// nothing: another embedded index holds the outbox (taken as its node
    /// started: the data directory's node now), or a copy of this one
    /// applied what this one does not hold (it stands by), or this one
    /// holds changes the database does not (its next turn rebuilds it).
    async fn applied_if_holding(
        &self,
        tx: &mut PlatformTx,
    ) -> Result<Option<Recorded>, IndexerError> {
        self.applied_if_holding_as(tx, false).await
    }

    /// [`Indexer::applied_if_holding`], told whether the batch the index's
    /// mark names is known to wait in the outbox (`waiting`: the caller
    /// read it and holds the write lock) rather than looked at.
    async fn applied_if_holding_as(
        &self,
        tx: &mut PlatformTx,
        waiting: bool,
    ) -> Result<Option<Recorded>, IndexerError> {
        let Some(recorded) = self.recorded(tx, "").await?.map(|(recorded, _)| recorded) else {
            // Not registered yet: nothing applied.
            return Ok(Some(Recorded::default()));
        };
        let Some(mine) = self.engine.identity() else {
            return Ok(Some(recorded));
        };
        let this = if waiting {
            ThisIndex {
                id: mine,
                complete: !self.engine.is_incomplete(),
                mark: self.engine.applied_mark(),
                last_batch_waiting: true,
            }
        } else {
            self.this_index(tx, mine, &recorded).await?
        };
        let holds = holder::holds(&recorded, &this);
        let role = match recorded.index_id.clone() {
            None => None,
            Some(holder) if holder != mine => Some(Role::StandingBy { holder }),
            Some(holder) => match holds {
                // Its next turn rebuilds it.
                Holds::Unsaid | Holds::Ahead => Some(Role::Rebuilding {
                    previous: Some(holder),
                }),
                // On SQLite until its node starts again.
                Holds::Behind => Some(Role::StandingBy { holder }),
                Holds::All => None,
            },
        };
        match role {
            Some(role) => {
                self.set_role(role);
                Ok(None)
            }
            None => Ok(Some(recorded)),
        }
    }

    /// Applies the outbox until none waits, or until this index applies
    /// none of it (another embedded index holds it) (tests, tools).
    pub async fn drain(&self) -> Result<usize, IndexerError> {
        let mut total = 0;
        loop {
            let n = self.run_batch().await?;
            total += n;
            if n == 0 && matches!(self.role(), Role::StandingBy { .. }) {
                return Ok(total);
            }
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
    /// its line (pinyin keys and initials from the name); a full rebuild
    /// by this indexer writes them again.
    pub async fn index_services(
        &self,
        services: &[ServiceListing],
        roots: &[TenantPath],
    ) -> Result<usize, IndexerError> {
        *locked(&self.services) = Some((services.to_vec(), roots.to_vec()));
        self.write_services(services, roots).await
    }

    async fn write_services(
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
    /// index's merges ([`Engine::settle`]) after the last call. Services are not rows: the
    /// rebuild writes again those this indexer wrote
    /// ([`Indexer::index_services`]); write them after it otherwise. A full
    /// rebuild of an embedded index makes it the outbox's holder, unless
    /// another node's index holds it and is seen.
    pub async fn rebuild(
        &self,
        tenant: Option<&TenantPath>,
        progress: impl FnMut(u64, u64),
    ) -> Result<Rebuilt, IndexerError> {
        self.rebuild_holding(tenant, progress, false).await
    }

    /// Rebuilds an embedded index whole, as [`Indexer::rebuild`] does, and
    /// makes it the outbox's holder even while another node's index is
    /// seen holding it (an operator moving the holder without waiting out
    /// its window): that index stands by at its next turn. Safe because the
    /// rebuild holds the backend's row throughout on PostgreSQL: every
    /// entry the former holder applied is in the rows read, every later
    /// one waits for this index. For Meilisearch, which has no holder, the
    /// same as a whole rebuild.
    pub async fn rebuild_and_take_over(
        &self,
        progress: impl FnMut(u64, u64),
    ) -> Result<Rebuilt, IndexerError> {
        self.rebuild_holding(None, progress, true).await
    }

    /// [`Indexer::rebuild`], taking the outbox over when `take_over`.
    async fn rebuild_holding(
        &self,
        tenant: Option<&TenantPath>,
        progress: impl FnMut(u64, u64),
        take_over: bool,
    ) -> Result<Rebuilt, IndexerError> {
        // On PostgreSQL the rebuild holds this backend's turn throughout:
        // other nodes skip their batches meanwhile, so no change is applied
        // before an older copy the rebuild read; the changes made meanwhile
        // wait in the outbox and are applied after it, reading the rows as
        // they are then. Who holds the outbox is decided as the row is
        // taken: a holder seen then is presumed alive throughout (it could
        // not say so while the row was held). (On SQLite, one node: stop
        // the server first.)
        self.ensure_registered().await?;
        let mut turn = match self.db.backend() {
            Backend::Postgres => {
                let mut tx = self.db.begin_platform().await?;
                or_abandon!(tx, self.recorded(&mut tx, "FOR UPDATE").await);
                // Read again once the lock is held: a statement that waited
                // for it reads the clock from before the wait.
                let at_lock = or_abandon!(tx, self.recorded(&mut tx, "").await);
                Some((tx, at_lock))
            }
            Backend::Sqlite => None,
        };
        let rebuilt = match self.rebuild_documents(tenant, progress).await {
            Ok(rebuilt) => rebuilt,
            Err(e) => {
                return Err(match turn.take() {
                    // Let go of the row now.
                    Some((tx, _)) => abandon(tx, e).await,
                    None => e,
                });
            }
        };
        let (mut tx, at_lock) = match turn {
            Some(turn) => turn,
            None => {
                let mut tx = self.db.begin_platform().await?;
                let now = or_abandon!(tx, self.recorded(&mut tx, "").await);
                (tx, now)
            }
        };
        let Some((recorded, now)) = at_lock else {
            let missing = IndexerError::Stored(format!(
                "search_indexers has no row for {}",
                self.engine.backend()
            ));
            return Err(abandon(tx, missing).await);
        };
        let role = or_abandon!(
            tx,
            self.hold_after_rebuild(&mut tx, tenant, &recorded, now, take_over)
                .await
        );
        tx.commit().await?;
        if let Some(role) = role {
            self.set_role(role);
        }
        Ok(rebuilt)
    }

    /// After a rebuild of `tenant`'s subtree (all when `None`), in `tx`
    /// holding the backend's row as `recorded` says it was when taken at
    /// `now`: a full rebuild of an embedded index makes it the holder
    /// unless another holder was seen then (and not `take_over`); a holder
    /// seen then is vouched for. Returns this index's new role, if it
    /// changes.
    async fn hold_after_rebuild(
        &self,
        tx: &mut PlatformTx,
        tenant: Option<&TenantPath>,
        recorded: &Recorded,
        now: i64,
        take_over: bool,
    ) -> Result<Option<Role>, IndexerError> {
        // A rebuild reads rows as they are at its end, changes whose
        // entries still wait among them: an index that holds the outbox is
        // marked under a token of its own ([`rebuilt_mark`]).
        let token = new_batch_token();
        let Some(mine) = self.engine.identity() else {
            // The Meilisearch index every node applies to: a subtree's
            // rebuild vouches for the rest only if it held what the row
            // counts (otherwise the next turn rebuilds it whole).
            if tenant.is_none() || self.shared_index_holds(tx, recorded).await? {
                self.engine
                    .set_applied_mark(&rebuilt_mark(recorded, &token))
                    .await?;
                self.record_rebuild(tx, &token).await?;
                return Ok(Some(Role::Applying));
            }
            return Ok(None);
        };
        if tenant.is_none() {
            // It holds every row as of the row's lock, so every entry
            // counted applied by then: whether it holds the outbox is
            // decided as for an index that holds what the row counts.
            let this = ThisIndex {
                id: mine,
                complete: true,
                mark: Some(mark_as_row(recorded)),
                last_batch_waiting: false,
            };
            self.engine
                .set_applied_mark(&rebuilt_mark(recorded, &token))
                .await?;
            return Ok(Some(
                match holder::turn(recorded, &this, now, self.window()) {
                    Turn::StandBy { holder } if !take_over => {
                        self.mark_seen(tx, None).await?;
                        Role::StandingBy { holder }
                    }
                    turn => {
                        if let Turn::StandBy { holder } = turn {
                            tracing::warn!(
                                index = mine,
                                %holder,
                                "本节点的内置检索索引接管变更队列，原持有者转为待命 (this node's embedded search index takes the outbox over; the former holder stands by)"
                            );
                        }
                        self.mark_seen(tx, Some(mine)).await?;
                        self.record_rebuild(tx, &token).await?;
                        Role::Applying
                    }
                },
            ));
        }
        let this = self.this_index(tx, mine, recorded).await?;
        if recorded.index_id.as_deref() == Some(mine)
            && holder::holds(recorded, &this) == Holds::All
        {
            self.engine
                .set_applied_mark(&rebuilt_mark(recorded, &token))
                .await?;
            self.record_rebuild(tx, &token).await?;
        }
        if holder::holder_seen(recorded, now, self.window()) {
            self.mark_seen(tx, None).await?;
        }
        Ok(None)
    }

    /// The rebuild itself, the turn held (or not needed) by the caller.
    async fn rebuild_documents(
        &self,
        tenant: Option<&TenantPath>,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Rebuilt, IndexerError> {
        let total = self.count_rows(tenant).await?;
        // Marked until the rebuild is done, so a node killed meanwhile
        // rebuilds again rather than trust what it cleared.
        let was_complete = !self.engine.is_incomplete();
        self.engine.set_incomplete(true).await?;
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
                let (documents, last, rejected) = project::page(
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
                rebuilt.rejected += rejected as u64;
                // Rows read, for the progress against the rows counted.
                done += n + rejected as u64;
                progress(done, total);
                match last {
                    Some(l) => after = l,
                    None => break,
                }
            }
        }
        self.engine.stage(pending).await?;
        let kept = locked(&self.services).clone();
        if let Some((services, roots)) = kept {
            self.write_services(&services, &roots).await?;
        }
        self.engine.settle().await?;
        if tenant.is_none() || was_complete {
            self.engine.set_incomplete(false).await?;
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
        // The mark is read between two reads of the row, so that both are
        // of one moment: a batch committed in between (the server applies
        // while this reads) moves the row, and the three are read again.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut read = self.db.begin_platform_read().await?;
            let first = or_abandon!(read, self.recorded(&mut read, "").await);
            read.commit().await?;
            let mark = self.engine.read_applied_mark().await?;
            let mut read = self.db.begin_platform_read().await?;
            let recorded = or_abandon!(read, self.recorded(&mut read, "").await).map(|(r, _)| r);
            let moved = |r: &Recorded| (r.applied, r.batch.clone());
            if first.as_ref().map(|(r, _)| moved(r)) != recorded.as_ref().map(moved) && attempts < 5
            {
                read.commit().await?;
                continue;
            }
            let (pending, oldest) = or_abandon!(read, outbox::pending(read.connection()).await);
            type Row = (i64, Option<i64>, i64, Option<String>, Option<i64>);
            let row: Result<Row, sqlx::Error> = with_connection!(read.connection(), c => {
                sqlx::query_as("SELECT applied, applied_at, rejected, index_id, seen_at FROM search_indexers WHERE backend = $1")
                    .bind(self.engine.backend())
                    .fetch_optional(&mut *c)
                    .await
                    .map(|row| row.unwrap_or((0, None, 0, None, None)))
            });
            let (applied, applied_at, rejected, holder, holder_seen_at) =
                or_abandon!(read, row.map_err(IndexerError::from));
            let holds = match (&recorded, self.engine.identity()) {
                // Another embedded index holds the outbox: this one is
                // judged when it takes over.
                (Some(recorded), Some(mine))
                    if recorded
                        .index_id
                        .as_deref()
                        .is_some_and(|holder| holder != mine) =>
                {
                    None
                }
                (Some(recorded), mine) => {
                    let this = or_abandon!(
                        read,
                        self.with_mark(&mut read, mine.unwrap_or(""), recorded, mark.clone())
                            .await
                    );
                    Some(holder::holds(recorded, &this))
                }
                (None, _) => None,
            };
            read.commit().await?;
            let lag_seconds = oldest.map_or(0.0, seconds_since);
            return Ok(IndexStatus {
                backend: self.engine.backend().to_owned(),
                pending,
                lag_seconds,
                applied,
                applied_at,
                rejected,
                documents: self.engine.counts().await?,
                index_id: self.engine.identity().map(str::to_owned),
                index_applied: mark.map(|mark| mark.applied),
                holds,
                incomplete: self.engine.is_incomplete(),
                holder,
                holder_seen_at,
            });
        }
    }

    /// How many outbox entries wait and the age of the oldest (seconds):
    /// the database only, cheap enough for every readiness probe.
    pub async fn lag(&self) -> Result<(i64, f64), IndexerError> {
        let mut read = self.db.begin_platform_read().await?;
        let (pending, oldest) = outbox::pending(read.connection()).await?;
        read.commit().await?;
        Ok((pending, oldest.map_or(0.0, seconds_since)))
    }
}
