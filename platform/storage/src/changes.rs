//! Change notices between nodes: what one node changed that every node
//! keeps a copy of in memory — the grants (the decision index), the
//! settings overrides and the tenant tree.
//!
//! On PostgreSQL a trigger sends `NOTIFY civitas_changes` from the
//! transaction that moves a version (migration 0031), so a node listening
//! learns of the change when it commits. A notice is not stored: one sent
//! while a node's listening connection is down is lost. So a node that
//! (re)connects wakes every keeper once to look for itself, and the
//! keepers' periodic look at the versions stays as the fallback. SQLite
//! has no listener (one node); the periodic look is all there is.
//!
//! The notice names the schema it was sent from, so platforms sharing one
//! database in different schemas (as the tests do) do not wake each other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::Notify;

use crate::database::Pool;
use crate::{Database, StorageError};

/// The PostgreSQL channel every change notice is sent on.
pub const CHANNEL: &str = "civitas_changes";

/// The longest wait between two attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// After this long without a notice the listener sends itself one (a
/// ping) to prove it still hears: a connection that died without a word
/// (no TCP reset), or a proxy that accepts `LISTEN` but never delivers
/// (PgBouncer in transaction mode), would otherwise look like quiet.
const QUIET: Duration = Duration::from_secs(30);

/// How long a ping may take to come back before the listener counts as
/// lost.
const PING_WAIT: Duration = Duration::from_secs(10);

/// The word of a ping, which wakes no one.
const PING: &str = "ping";

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A grant was made or revoked (`grants_version` moved).
    Grants,
    /// A tenant setting was overridden or reset (`settings_version` moved).
    Settings,
    /// A tenant tree revision was stored.
    Tree,
}

impl Change {
    /// Every change, in the order a catch-up wakes their keepers.
    pub const ALL: [Change; 3] = [Change::Grants, Change::Settings, Change::Tree];

    /// The word a notice's payload names this change by (the trigger's
    /// argument in migration 0031).
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Grants => "grants",
            Change::Settings => "settings",
            Change::Tree => "tree",
        }
    }

    /// The change a payload `"<schema> <word>"` names, if it was sent from
    /// `schema`; `None` for another schema's notice or a word not known
    /// here (a newer node's), which wakes no one.
    pub fn of_payload(schema: &str, payload: &str) -> Option<Change> {
        let (from, word) = payload.rsplit_once(' ')?;
        if from != schema {
            return None;
        }
        Change::ALL.into_iter().find(|c| c.as_str() == word)
    }
}

/// Whether this node hears other nodes' changes as they commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Listening {
    /// SQLite, or notices turned off: keepers look every poll interval.
    NotUsed,
    /// Not listening yet (starting).
    Connecting,
    /// Listening since then.
    Listening {
        /// When the listening connection was made.
        since: DateTime<Utc>,
    },
    /// The listening connection is down since then; keepers fall back to
    /// their periodic look until it is back.
    Lost {
        /// When it was lost (or first failed to connect).
        since: DateTime<Utc>,
        /// Why, as the database driver said it.
        error: String,
    },
}

/// Wakes the keepers of in-memory copies when what they copied changes,
/// and says whether this node is listening.
#[derive(Debug)]
pub struct ChangeFeed {
    grants: Notify,
    settings: Notify,
    tree: Notify,
    state: Mutex<Listening>,
    reconnects: AtomicU64,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        ChangeFeed {
            grants: Notify::new(),
            settings: Notify::new(),
            tree: Notify::new(),
            state: Mutex::new(Listening::Connecting),
            reconnects: AtomicU64::new(0),
        }
    }
}

impl ChangeFeed {
    /// A feed that has not listened yet.
    pub fn new() -> ChangeFeed {
        ChangeFeed::default()
    }

    fn notify(&self, change: Change) -> &Notify {
        match change {
            Change::Grants => &self.grants,
            Change::Settings => &self.settings,
            Change::Tree => &self.tree,
        }
    }

    /// Waits until `change` is announced (or a catch-up wakes every
    /// keeper). One keeper per change: an announcement made while it is
    /// busy is kept and ends its next wait at once, so none is missed.
    pub async fn changed(&self, change: Change) {
        self.notify(change).notified().await;
    }

    /// Announces `change` to its keeper.
    pub fn announce(&self, change: Change) {
        self.notify(change).notify_one();
    }

    /// Wakes every keeper to look for itself (after notices may have been
    /// missed).
    pub fn catch_up(&self) {
        for change in Change::ALL {
            self.announce(change);
        }
    }

    /// Whether this node is listening.
    pub fn listening(&self) -> Listening {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many times the listening connection was made again after it
    /// was lost.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// Records that this node does not listen (notices turned off): its
    /// keepers look every poll interval.
    pub fn look_only(&self) {
        self.set(Listening::NotUsed);
    }

    fn set(&self, state: Listening) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    fn lost(&self, error: String) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // The first loss is the one an operator wants the time of.
        let since = match &*state {
            Listening::Lost { since, .. } => *since,
            _ => Utc::now(),
        };
        *state = Listening::Lost { since, error };
    }

    /// Listens for other nodes' changes on `db` until the task is dropped:
    /// each notice of this schema announces its change; after 30 s without
    /// one the listener pings itself and counts as lost if the ping does
    /// not come back within 10 s; a lost connection is made again (waiting
    /// up to 5 s between attempts), and every keeper is woken when
    /// listening (re)starts. Returns at once on SQLite.
    pub async fn listen(&self, db: &Database) {
        self.listen_with(db, QUIET, PING_WAIT).await;
    }

    /// [`ChangeFeed::listen`] with the quiet time before a ping and the
    /// time a ping may take given (tests).
    pub async fn listen_with(&self, db: &Database, quiet: Duration, ping_wait: Duration) {
        let Pool::Postgres(pool) = &db.pool else {
            self.set(Listening::NotUsed);
            return;
        };
        // Its own connection, outside the pool requests use, named so an
        // operator sees it in pg_stat_activity.
        let options = (*pool.connect_options())
            .clone()
            .application_name(&format!("civitas-changes {}", std::process::id()));
        let mut backoff = Duration::from_millis(100);
        let mut ever = false;
        loop {
            match connect(&options).await {
                Ok((mut listener, schema)) => {
                    self.set(Listening::Listening { since: Utc::now() });
                    if ever {
                        self.reconnects.fetch_add(1, Ordering::Relaxed);
                        tracing::info!("listening for changes again");
                    }
                    ever = true;
                    backoff = Duration::from_millis(100);
                    // Whatever changed while no one listened is looked for.
                    self.catch_up();
                    let error = self.hear(&mut listener, &schema, quiet, ping_wait).await;
                    tracing::warn!(
                        %error,
                        "不再收到变更通知，改为定期查看 (change notices lost; looking periodically until listening again)"
                    );
                    self.lost(error);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for changes");
                    self.lost(e.to_string());
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

impl ChangeFeed {
    /// Announces what `listener` hears until it is lost; why it was.
    async fn hear(
        &self,
        listener: &mut PgListener,
        schema: &str,
        quiet: Duration,
        ping_wait: Duration,
    ) -> String {
        let ping = format!("{schema} {PING}");
        // When a ping was sent and not heard yet, the time it is due by.
        let mut awaiting: Option<tokio::time::Instant> = None;
        loop {
            let wait = match awaiting {
                Some(due) => due.saturating_duration_since(tokio::time::Instant::now()),
                None => quiet,
            };
            match tokio::time::timeout(wait, listener.try_recv()).await {
                Ok(Ok(Some(notice))) => {
                    // Anything heard proves the connection hears.
                    awaiting = None;
                    if let Some(change) = Change::of_payload(schema, notice.payload()) {
                        self.announce(change);
                    }
                }
                Ok(Ok(None)) => return "the connection was closed".to_owned(),
                Ok(Err(e)) => return e.to_string(),
                Err(_) if awaiting.is_some() => {
                    return format!("a ping was not heard back within {ping_wait:?}");
                }
                Err(_) => {
                    if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(CHANNEL)
                        .bind(&ping)
                        .execute(&mut *listener)
                        .await
                    {
                        return e.to_string();
                    }
                    awaiting = Some(tokio::time::Instant::now() + ping_wait);
                }
            }
        }
    }
}

/// A listening connection on [`CHANNEL`] and the schema it serves.
async fn connect(options: &PgConnectOptions) -> Result<(PgListener, String), StorageError> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    // A lost connection is ours to notice (and to catch up after), not
    // made again behind our back.
    listener.eager_reconnect(false);
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut listener)
        .await?;
    listener.listen(CHANNEL).await?;
    Ok((listener, schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_wakes_only_its_own_schema_and_known_words() {
        assert_eq!(
            Change::of_payload("public", "public grants"),
            Some(Change::Grants)
        );
        assert_eq!(
            Change::of_payload("t_1", "t_1 settings"),
            Some(Change::Settings)
        );
        assert_eq!(Change::of_payload("t_1", "t_1 tree"), Some(Change::Tree));
        assert_eq!(Change::of_payload("t_1", "t_2 grants"), None);
        assert_eq!(Change::of_payload("t_1", "t_1 bindings"), None);
        assert_eq!(Change::of_payload("t_1", "t_1"), None);
        assert_eq!(Change::of_payload("t_1", "t_1 ping"), None);
        assert_eq!(
            Change::of_payload("odd schema", "odd schema grants"),
            Some(Change::Grants)
        );
    }

    #[tokio::test]
    async fn an_announcement_made_while_the_keeper_is_busy_ends_its_next_wait() {
        let feed = ChangeFeed::new();
        feed.announce(Change::Grants);
        // Kept: the wait ends at once.
        tokio::time::timeout(Duration::from_secs(5), feed.changed(Change::Grants))
            .await
            .unwrap_or_else(|_| panic!("the announcement was lost"));
        // Another change's announcement does not end it.
        feed.announce(Change::Tree);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), feed.changed(Change::Grants))
                .await
                .is_err()
        );
    }
}
