//! Connecting, migrating and checking readiness.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, SqliteConnection, SqlitePool};

use crate::error::StorageError;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database engine a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, the embedded default (one file in the data directory).
    Sqlite,
    /// PostgreSQL, for production and for more than one node.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The clause that makes a `SELECT` lock the rows it reads until the
    /// transaction ends, for a later update: `FOR UPDATE` on PostgreSQL,
    /// nothing on SQLite, whose write transactions already exclude each
    /// other.
    pub fn lock_for_update(self) -> &'static str {
        match self {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    /// The clause that makes a `SELECT` lock the rows it reads that no other
    /// transaction holds, and pass over the rest (a work queue's claim):
    /// `FOR UPDATE SKIP LOCKED` on PostgreSQL, nothing on SQLite (as above).
    pub fn lock_for_update_skip_locked(self) -> &'static str {
        match self {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// The clause that makes a `SELECT` share-lock the rows it reads until
    /// the transaction ends, so that nobody may change them meanwhile:
    /// `FOR SHARE` on PostgreSQL, nothing on SQLite (as above).
    pub fn lock_for_share(self) -> &'static str {
        match self {
            Backend::Postgres => " FOR SHARE",
            Backend::Sqlite => "",
        }
    }

    /// The backend a URL selects.
    pub fn of_url(url: &str) -> Result<Backend, StorageError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StorageError::UnsupportedUrl(redact(url)))
        }
    }
}

/// A borrowed connection of either backend; see [`crate::with_connection!`].
pub enum Connection<'c> {
    /// A SQLite connection.
    Sqlite(&'c mut SqliteConnection),
    /// A PostgreSQL connection.
    Postgres(&'c mut PgConnection),
}

/// Pool sizing and timeouts.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long to wait for a connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// What `/readyz` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// The backend in use.
    pub backend: Backend,
    /// Migrations known to this build but not applied to the database.
    pub pending_migrations: usize,
}

impl Readiness {
    /// Whether the database is reachable and fully migrated.
    pub fn is_ready(&self) -> bool {
        self.pending_migrations == 0
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A connection pool to the platform database, SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) pool: Pool,
    begins: Arc<Begins>,
}

/// How long beginning a transaction took: a connection from the pool, and
/// on SQLite the write lock. Counted by every clone of one [`Database`].
#[derive(Debug, Default)]
struct Begins {
    waiting: AtomicI64,
    done: AtomicU64,
    micros: AtomicU64,
    failed: AtomicU64,
}

/// The pool as `/metrics` shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolStats {
    /// Connections open (idle or in use).
    pub open: u32,
    /// Of them, idle.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
    /// Transactions waiting to begin now (for a connection, or on SQLite
    /// for the write lock).
    pub waiting: i64,
    /// Transactions begun since the start.
    pub begun: u64,
    /// Their time to begin, summed, in seconds.
    pub begin_seconds: f64,
    /// Attempts that failed (the pool's acquire timeout, the database down).
    pub failed: u64,
}

impl Database {
    /// Connects to `url` (`sqlite:PATH` or `postgres://…`) with default pool
    /// settings. A SQLite file is created if missing.
    pub async fn connect(url: &str) -> Result<Database, StorageError> {
        Database::connect_with(url, &PoolSettings::default()).await
    }

    /// Connects to `url` with the given pool settings.
    pub async fn connect_with(
        url: &str,
        settings: &PoolSettings,
    ) -> Result<Database, StorageError> {
        let pool = match Backend::of_url(url)? {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    // WAL lets readers proceed while one writer commits.
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_with(options)
                    .await?;
                Pool::Sqlite(pool)
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url)?.application_name("civitas");
                let pool = PgPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_with(options)
                    .await?;
                Pool::Postgres(pool)
            }
        };
        Ok(Database {
            pool,
            begins: Arc::default(),
        })
    }

    /// Runs `begin` (a pool's `begin`), counting the wait in [`PoolStats`].
    pub(crate) async fn timed_begin<T>(
        &self,
        begin: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        /// Takes the wait back when the begin ends, also when the request
        /// is dropped while it waits (a client gone, shutdown).
        struct Waiting<'a>(&'a AtomicI64);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let started = Instant::now();
        self.begins.waiting.fetch_add(1, Ordering::Relaxed);
        let waiting = Waiting(&self.begins.waiting);
        let result = begin.await;
        drop(waiting);
        match &result {
            Ok(_) => {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.begins.done.fetch_add(1, Ordering::Relaxed);
                self.begins.micros.fetch_add(micros, Ordering::Relaxed);
            }
            Err(_) => {
                self.begins.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    /// The pool's connections and the waits to begin transactions so far.
    pub fn pool_stats(&self) -> PoolStats {
        let (open, idle, max) = match &self.pool {
            Pool::Sqlite(pool) => (
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                pool.options().get_max_connections(),
            ),
            Pool::Postgres(pool) => (
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                pool.options().get_max_connections(),
            ),
        };
        PoolStats {
            open,
            idle,
            max,
            waiting: self.begins.waiting.load(Ordering::Relaxed).max(0),
            begun: self.begins.done.load(Ordering::Relaxed),
            begin_seconds: self.begins.micros.load(Ordering::Relaxed) as f64 / 1e6,
            failed: self.begins.failed.load(Ordering::Relaxed),
        }
    }

    /// The backend this database uses.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies every pending migration and returns how many were applied.
    /// Safe to run from several nodes at once: PostgreSQL migrations take an
    /// advisory lock.
    pub async fn migrate(&self) -> Result<usize, StorageError> {
        let before = self.readiness().await?.pending_migrations;
        match &self.pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(before)
    }

    /// Applies the pending migrations up to and including `version` only:
    /// an upgrade in steps, and the tests of what a later migration does
    /// to data already there. Returns how many were pending before.
    pub async fn migrate_to(&self, version: i64) -> Result<usize, StorageError> {
        let before = self.readiness().await?.pending_migrations;
        match &self.pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run_to(version, pool).await?,
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run_to(version, pool).await?,
        }
        Ok(before)
    }

    /// Checks that the database answers and counts unapplied migrations.
    pub async fn readiness(&self) -> Result<Readiness, StorageError> {
        let applied: Vec<i64> = match &self.pool {
            Pool::Sqlite(pool) => {
                let exists: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_one(pool)
                .await?;
                if exists == 0 {
                    Vec::new()
                } else {
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(pool)
                        .await?
                }
            }
            Pool::Postgres(pool) => {
                let exists: bool =
                    sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                        .fetch_one(pool)
                        .await?;
                if exists {
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(pool)
                        .await?
                } else {
                    Vec::new()
                }
            }
        };
        let pending_migrations = self
            .migrator()
            .iter()
            .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
            .count();
        Ok(Readiness {
            backend: self.backend(),
            pending_migrations,
        })
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// A URL with any password replaced, safe to print.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_backend() {
        assert_eq!(
            Backend::of_url("sqlite:data/civitas.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::of_url("postgres://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::of_url("postgresql://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(matches!(
            Backend::of_url("mysql://root:secret@h/db"),
            Err(StorageError::UnsupportedUrl(u)) if u == "mysql://root:***@h/db"
        ));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://civitas:s3cr3t@db:5432/x"),
            "postgres://civitas:***@db:5432/x"
        );
        assert_eq!(redact("postgres://civitas@db/x"), "postgres://civitas@db/x");
        assert_eq!(redact("sqlite:data/civitas.db"), "sqlite:data/civitas.db");
    }
}
