//! The Civitas repository layer: one API over SQLite (the embedded default)
//! and PostgreSQL (production).
//!
//! - [`Database`] owns the connection pool, applies migrations, reports
//!   readiness and loads the tenant tree.
//! - [`TenantScope`] names the subtree a piece of work may touch;
//!   [`Database::begin`] opens a [`TenantTx`] bound to it. On PostgreSQL that
//!   transaction also switches to the `civitas_app` role and sets
//!   `civitas.tenant_path`, so row-level security hides every row outside the
//!   subtree even from a query that forgets its filter.
//! - Every tenant-owned table has a `tenant_path` column that leads an index;
//!   a subtree is the byte-wise range `[path, path || '0')` (see
//!   [`TenantPath::subtree_range`]), one index range on both backends.
//! - [`changes`] tells every node of a change to what nodes keep in memory
//!   (grants, settings, the tree) as it commits: PostgreSQL `LISTEN/NOTIFY`.
//!
//! SQL is written once with `$1` placeholders (SQLite accepts them) and run
//! on either backend through [`with_connection!`].

pub mod changes;
mod database;
mod error;
mod revisions;
mod scope;
mod tenants;

pub use civitas_tenancy::TenantPath;
pub use database::{Backend, Connection, Database, PoolSettings, PoolStats, Readiness};
pub use error::StorageError;
pub use revisions::{
    Applied, NewTreeRevision, RevisionHead, SettingChange, TreeChange, TreeRevision,
    plan_tree_changes, store_tree_revision,
};
pub use scope::{AccessRequest, Decider, Denied, PlatformTx, TenantScope, TenantTx};
pub use tenants::{SyncReport, TenantRecord, TenantSetting};

/// Runs the same code against whichever backend a [`Connection`] holds.
///
/// The body is compiled once per backend, so it may use backend-specific
/// row types as long as both arms produce the same type.
///
/// ```ignore
/// let n: i64 = with_connection!(tx.connection(), c => {
///     sqlx::query_scalar("SELECT count(*) FROM tenant_settings").fetch_one(c).await?
/// });
/// ```
#[macro_export]
macro_rules! with_connection {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::Connection::Sqlite($c) => $body,
            $crate::Connection::Postgres($c) => $body,
        }
    };
}
