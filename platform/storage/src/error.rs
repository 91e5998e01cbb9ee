//! The storage error type.

/// What can go wrong in the repository layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database URL names neither SQLite nor PostgreSQL.
    #[error(
        "不支持的数据库地址 (unsupported database URL): {0} — 应以 sqlite: 或 postgres:// 开头 (expected sqlite: or postgres://)"
    )]
    UnsupportedUrl(String),
    /// The database refused or failed a statement, or could not be reached.
    #[error("数据库错误 (database error): {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("数据库迁移失败 (migration failed): {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A write names a tenant outside the transaction's scope.
    #[error("租户 {path} 不在当前范围 {scope} 内 (tenant {path} is outside the scope {scope})")]
    OutOfScope {
        /// The scope of the transaction.
        scope: civitas_tenancy::TenantPath,
        /// The tenant the write named.
        path: civitas_tenancy::TenantPath,
    },
    /// A stored value does not decode to what the schema promises.
    #[error("存储的数据无效 (stored data is invalid): {0}")]
    Corrupt(String),
}

impl StorageError {
    /// Whether the error means the database cannot be reached right now (as
    /// opposed to a statement failing): callers answer "try again later".
    ///
    /// Besides a pool that timed out and a connection that broke, the
    /// server's own word that it is going away or not there yet: SQLSTATE
    /// class 08 (connection exception) and 57P01–57P03 (shut down by an
    /// administrator, crashed, cannot connect now — starting up or
    /// shutting down), as a PostgreSQL restart answers; and a database that
    /// cannot write for want of space (PostgreSQL 53100 disk_full, SQLite
    /// 13 SQLITE_FULL): the transaction is rolled back whole, and the
    /// request may be made again once there is room.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StorageError::Database(
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_),
            ) => true,
            StorageError::Database(sqlx::Error::Database(e)) => {
                e.code().is_some_and(|code| is_unavailable_state(&code))
            }
            _ => false,
        }
    }
}

/// Whether a SQLSTATE means the server cannot serve right now.
fn is_unavailable_state(code: &str) -> bool {
    // 08P01 (protocol violation) is a fault of ours, not an outage.
    (code.starts_with("08") && code != "08P01")
        || matches!(code, "57P01" | "57P02" | "57P03" | "53100" | "13")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_restarting_or_going_away_is_unavailable_a_failed_statement_is_not() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "53100", "13"] {
            assert!(is_unavailable_state(code), "{code}");
        }
        // Unique violation, query canceled, serialization failure, RLS.
        for code in ["23505", "57014", "40001", "42501", "08P01"] {
            assert!(!is_unavailable_state(code), "{code}");
        }
        assert!(StorageError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!StorageError::Corrupt("x".into()).is_unavailable());
    }
}
