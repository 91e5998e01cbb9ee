//! Tenant scopes and the transactions bound to them.

use civitas_tenancy::TenantPath;
use sqlx::{Postgres, Sqlite, Transaction};

use crate::database::{Connection, Database, Pool};
use crate::error::StorageError;

/// The tenant subtree a piece of work may read and change.
///
/// Code that reads or writes tenant data takes a `TenantScope`; there is no
/// other way into a [`TenantTx`]. Request handlers get their scope from an
/// authorization decision; the only other constructor,
/// [`TenantScope::for_platform_task`], is for the platform's own work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    path: TenantPath,
}

impl TenantScope {
    /// A scope for the platform's own tasks on one subtree, not for anything
    /// a request asked for: request scopes come from an authorization
    /// decision. Its users: the start record in each root's audit chain, a
    /// key rotation's audit record, the demo's module seeding,
    /// self-registration's read of the chosen tenant's index key, and a case
    /// transfer, written at the common root after the actor's own decision.
    pub fn for_platform_task(path: TenantPath) -> TenantScope {
        TenantScope { path }
    }

    /// A scope for one request: built only when `decider` allows
    /// `request`, so holding a scope is holding an allow decision. The
    /// scope is the requested tenant's subtree. The API builds every scope
    /// it uses this way (a lint forbids it [`TenantScope::for_platform_task`]).
    pub fn authorize(
        decider: &impl Decider,
        request: &AccessRequest<'_>,
    ) -> Result<TenantScope, Denied> {
        if decider.allows(request) {
            Ok(TenantScope {
                path: request.tenant.clone(),
            })
        } else {
            Err(Denied {
                action: request.action.to_owned(),
                tenant: request.tenant.clone(),
                line: request.line.to_owned(),
            })
        }
    }

    /// The root of the subtree this scope covers.
    pub fn path(&self) -> &TenantPath {
        &self.path
    }

    /// Whether `path` lies within this scope.
    pub fn covers(&self, path: &TenantPath) -> bool {
        path.is_within(&self.path)
    }
}

/// What a caller asks to do: `action` on the data of `tenant`'s subtree,
/// in `line` (`-` for actions of no line).
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    /// Who asks: an account id.
    pub principal: &'a str,
    /// The subtree's root.
    pub tenant: &'a TenantPath,
    /// The line of business, or `-`.
    pub line: &'a str,
    /// The action, as named in `policies/base.csv`.
    pub action: &'a str,
}

/// Whatever decides access requests (the grant index of `civitas-authz`,
/// an API key's own scope). Storage owns the seam so that a
/// [`TenantScope`] can demand a decision without depending on who makes it.
pub trait Decider {
    /// Whether `request` is allowed.
    fn allows(&self, request: &AccessRequest<'_>) -> bool;
}

/// A refused [`AccessRequest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not allowed to {action} in {tenant} (line {line})")]
pub struct Denied {
    /// The action refused.
    pub action: String,
    /// Where.
    pub tenant: TenantPath,
    /// In which line.
    pub line: String,
}

enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    fn backend(&self) -> crate::Backend {
        match self {
            Tx::Sqlite(_) => crate::Backend::Sqlite,
            Tx::Postgres(_) => crate::Backend::Postgres,
        }
    }

    fn connection(&mut self) -> Connection<'_> {
        match self {
            Tx::Sqlite(tx) => Connection::Sqlite(&mut *tx),
            Tx::Postgres(tx) => Connection::Postgres(&mut *tx),
        }
    }

    async fn commit(self) -> Result<(), StorageError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// A database transaction bound to a [`TenantScope`].
///
/// Queries in it must still filter by the scope (the repository methods
/// do); on PostgreSQL, row-level security enforces the same subtree a second
/// time. Dropped without [`TenantTx::commit`], it rolls back.
pub struct TenantTx {
    scope: TenantScope,
    tx: Tx,
}

impl Database {
    /// Begins a transaction scoped to `scope`, for work that may write.
    ///
    /// On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so a
    /// transaction that reads and then writes waits its turn instead of
    /// failing with a stale snapshot when another writer committed between.
    pub async fn begin(&self, scope: &TenantScope) -> Result<TenantTx, StorageError> {
        self.begin_scoped(scope, Access::ReadWrite).await
    }

    /// Begins a read-only transaction scoped to `scope`. Every statement in
    /// it sees one snapshot (SQLite's WAL snapshot; PostgreSQL's `REPEATABLE
    /// READ`), so a row and the key that opens it are read consistently.
    /// Readers do not queue behind writers; on PostgreSQL a write in it fails.
    pub async fn begin_read(&self, scope: &TenantScope) -> Result<TenantTx, StorageError> {
        self.begin_scoped(scope, Access::ReadOnly).await
    }

    async fn begin_scoped(
        &self,
        scope: &TenantScope,
        access: Access,
    ) -> Result<TenantTx, StorageError> {
        let tx = match &self.pool {
            Pool::Sqlite(pool) => Tx::Sqlite(match access {
                Access::ReadWrite => self.timed_begin(pool.begin_with("BEGIN IMMEDIATE")).await?,
                Access::ReadOnly => self.timed_begin(pool.begin()).await?,
            }),
            Pool::Postgres(pool) => {
                let mut tx = match access {
                    Access::ReadWrite => self.timed_begin(pool.begin()).await?,
                    Access::ReadOnly => {
                        self.timed_begin(
                            pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
                        )
                        .await?
                    }
                };
                // Both settings are transaction-local: the connection goes
                // back to the pool clean. (Sent with BEGIN they would save a
                // round trip, but a failure there would return the
                // connection to the pool inside an aborted transaction.)
                sqlx::query(
                    "SELECT set_config('role', 'civitas_app', true), \
                            set_config('civitas.tenant_path', $1, true)",
                )
                .bind(scope.path.as_str().to_owned())
                .execute(&mut *tx)
                .await?;
                Tx::Postgres(tx)
            }
        };
        Ok(TenantTx {
            scope: scope.clone(),
            tx,
        })
    }
}

#[derive(Clone, Copy)]
enum Access {
    ReadWrite,
    ReadOnly,
}

impl TenantTx {
    /// The backend this transaction runs on, for the rare statement that
    /// must differ (row locks).
    pub fn backend(&self) -> crate::Backend {
        self.tx.backend()
    }

    /// The scope this transaction is bound to.
    pub fn scope(&self) -> &TenantScope {
        &self.scope
    }

    /// The underlying connection, for capability crates that own their SQL.
    /// Use it with [`crate::with_connection!`], and filter by
    /// [`TenantTx::scope`].
    pub fn connection(&mut self) -> Connection<'_> {
        self.tx.connection()
    }

    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), StorageError> {
        self.tx.commit().await
    }

    /// Rolls the transaction back.
    pub async fn rollback(self) -> Result<(), StorageError> {
        match self.tx {
            Tx::Sqlite(tx) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// A transaction for the platform's own work across tenants, outside any
/// [`TenantScope`]: the audit log (anchor, prune; count, verify, export),
/// tenant keys, sign-in and sessions, accounts and self-registration, API
/// keys, grants and the decision index, timers, and registry reads that name
/// no tenant.
///
/// It runs as the owning role, so PostgreSQL's row-level security does not
/// narrow it: a request reaches one only through those functions, after its
/// own allow decision where one applies (grants, API keys), never to read
/// tenant data it asked for. The API may not open a write one (clippy
/// `disallowed-methods` in `platform/api/clippy.toml`).
pub struct PlatformTx {
    tx: Tx,
}

impl Database {
    /// Begins a platform transaction that may write (see [`PlatformTx`]);
    /// immediate on SQLite for the same reason as [`Database::begin`].
    pub async fn begin_platform(&self) -> Result<PlatformTx, StorageError> {
        let tx = match &self.pool {
            Pool::Sqlite(pool) => {
                Tx::Sqlite(self.timed_begin(pool.begin_with("BEGIN IMMEDIATE")).await?)
            }
            Pool::Postgres(pool) => Tx::Postgres(self.timed_begin(pool.begin()).await?),
        };
        Ok(PlatformTx { tx })
    }

    /// Begins a read-only platform transaction, for long reads (verify,
    /// export) that must not hold writers up; one snapshot throughout.
    pub async fn begin_platform_read(&self) -> Result<PlatformTx, StorageError> {
        let tx = match &self.pool {
            Pool::Sqlite(pool) => Tx::Sqlite(self.timed_begin(pool.begin()).await?),
            // One snapshot, so a long read sees no half of a concurrent prune.
            Pool::Postgres(pool) => Tx::Postgres(
                self.timed_begin(
                    pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
                )
                .await?,
            ),
        };
        Ok(PlatformTx { tx })
    }
}

impl PlatformTx {
    /// The backend this transaction runs on.
    pub fn backend(&self) -> crate::Backend {
        self.tx.backend()
    }

    /// The underlying connection; see [`crate::with_connection!`].
    pub fn connection(&mut self) -> Connection<'_> {
        self.tx.connection()
    }

    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), StorageError> {
        self.tx.commit().await
    }

    /// Rolls the transaction back now. (A dropped one is rolled back too,
    /// but later, by a task, holding its locks until then.)
    pub async fn rollback(self) -> Result<(), StorageError> {
        match self.tx {
            Tx::Sqlite(tx) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}
