//! Invariants of the migrated schema (ARCHITECTURE.md, "Invariants"), read
//! from each backend's catalog rather than from a list kept by hand, so a new
//! table is held to them the day its migration lands:
//!
//! - every table with a `tenant_path` column has an index led by it;
//! - on PostgreSQL, path columns sort byte-wise (`COLLATE "C"`, the index
//!   too), and a tenant table is behind row-level security with a policy
//!   using `civitas_in_scope`, readable by `civitas_app`.

use civitas_storage::{Connection, Database};
use civitas_testkit::both_backends;
use sqlx::Row;

/// Tables with a `tenant_path` that row-level security does not restrict,
/// and why.
const WITHOUT_ROW_LEVEL_SECURITY: &[(&str, &str)] = &[
    (
        "bindings",
        "platform data: resolving a case's module reads the bindings of all its \
         ancestors and the service default (tenant_path ''), outside the case's subtree",
    ),
    (
        "binding_history",
        "platform data like bindings: a rollback reads the history of the binding it restores",
    ),
];

/// A table with a `tenant_path` column, and the first column of each of its
/// indexes.
#[derive(Debug)]
struct Table {
    name: String,
    /// (index name, its first column).
    indexes: Vec<(String, String)>,
}

/// Every base table with a `tenant_path` column, with the first column of
/// each of its indexes (primary keys and unique constraints included).
/// SQLite: `pragma_table_info`, `pragma_index_list`, `pragma_index_info`;
/// PostgreSQL: `pg_attribute` and `pg_index.indkey[0]`, in the test's schema.
async fn tenant_tables(db: &Database) -> Vec<Table> {
    let mut tx = db
        .begin_platform_read()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tables = match tx.connection() {
        Connection::Sqlite(c) => {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT m.name FROM sqlite_master m
                 WHERE m.type = 'table'
                   AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) c WHERE c.name = 'tenant_path')
                 ORDER BY m.name",
            )
            .fetch_all(&mut *c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            let mut tables = Vec::new();
            for name in names {
                let rows = sqlx::query(
                    "SELECT il.name AS index_name, ii.name AS column_name
                     FROM pragma_index_list($1) il, pragma_index_info(il.name) ii
                     WHERE ii.seqno = 0
                     ORDER BY il.name",
                )
                .bind(&name)
                .fetch_all(&mut *c)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
                let indexes = rows
                    .iter()
                    .map(|r| (r.get("index_name"), r.get("column_name")))
                    .collect();
                tables.push(Table { name, indexes });
            }
            tables
        }
        Connection::Postgres(c) => {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT t.relname::TEXT
                 FROM pg_class t
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = 'tenant_path' AND NOT a.attisdropped
                 WHERE t.relkind IN ('r', 'p') AND t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
                 ORDER BY t.relname",
            )
            .fetch_all(&mut *c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            let mut tables = Vec::new();
            for name in names {
                let rows = sqlx::query(
                    "SELECT i.relname::TEXT AS index_name, a.attname::TEXT AS column_name
                     FROM pg_index x
                     JOIN pg_class t ON t.oid = x.indrelid
                     JOIN pg_class i ON i.oid = x.indexrelid
                     LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
                     WHERE t.relname = $1 AND t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
                     ORDER BY i.relname",
                )
                .bind(&name)
                .fetch_all(&mut *c)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
                let indexes = rows
                    .iter()
                    .map(|r| {
                        let column: Option<String> = r.get("column_name");
                        (
                            r.get("index_name"),
                            column.unwrap_or_else(|| "(expression)".into()),
                        )
                    })
                    .collect();
                tables.push(Table { name, indexes });
            }
            tables
        }
    };
    drop(tx); // read only: rolled back
    tables
}

/// Rows of a PostgreSQL catalog query over the current schema, as text.
async fn postgres_rows(db: &Database, sql: &'static str) -> Vec<String> {
    let mut tx = db
        .begin_platform_read()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let Connection::Postgres(c) = tx.connection() else {
        panic!("a PostgreSQL query on SQLite")
    };
    let rows: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(&mut *c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(tx); // read only: rolled back
    rows
}

both_backends! {
    async fn every_table_with_a_tenant_path_has_an_index_led_by_it(t) {
        let tables = tenant_tables(&t.db).await;
        // The catalog query finds the tables it should: a few known ones.
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        for known in ["tenant_settings", "audit_events", "residents", "cases", "notifications"] {
            assert!(names.contains(&known), "{known} has a tenant_path: {names:?}");
        }
        let unindexed: Vec<&Table> = tables
            .iter()
            .filter(|t| !t.indexes.iter().any(|(_, first)| first == "tenant_path"))
            .collect();
        assert!(
            unindexed.is_empty(),
            "every tenant-owned table needs an index whose first column is tenant_path \
             (subtree reads are a range on it); these have none: {unindexed:#?}"
        );
    }

    async fn on_postgres_path_columns_sort_bytewise(t) {
        if t.db.backend() != civitas_storage::Backend::Postgres {
            return;
        }
        // Columns holding a tenant path: `path`, `*_path` and `*_tenant`;
        // not `tenants.slug_path`, an alias only ever compared whole.
        let not_c = postgres_rows(
            &t.db,
            "SELECT t.relname || '.' || a.attname
             FROM pg_attribute a
             JOIN pg_class t ON t.oid = a.attrelid
             WHERE t.relkind IN ('r', 'p') AND t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
               AND a.attnum > 0 AND NOT a.attisdropped
               AND (a.attname = 'path' OR a.attname LIKE '%\\_path' OR a.attname LIKE '%\\_tenant')
               AND a.attname <> 'slug_path'
               AND a.attcollation IS DISTINCT FROM (SELECT oid FROM pg_collation WHERE collname = 'C' AND collnamespace = 'pg_catalog'::regnamespace)
             ORDER BY 1",
        )
        .await;
        assert!(not_c.is_empty(), "path columns need COLLATE \"C\" so a subtree is one byte-wise range: {not_c:?}");
        let indexes_not_c = postgres_rows(
            &t.db,
            "SELECT i.relname::TEXT
             FROM pg_index x
             JOIN pg_class t ON t.oid = x.indrelid
             JOIN pg_class i ON i.oid = x.indexrelid
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
             WHERE t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND a.attname = 'tenant_path'
               AND x.indcollation[0] IS DISTINCT FROM (SELECT oid FROM pg_collation WHERE collname = 'C' AND collnamespace = 'pg_catalog'::regnamespace)
             ORDER BY 1",
        )
        .await;
        assert!(indexes_not_c.is_empty(), "indexes led by tenant_path must sort byte-wise: {indexes_not_c:?}");
    }

    async fn on_postgres_every_tenant_table_is_behind_row_level_security(t) {
        if t.db.backend() != civitas_storage::Backend::Postgres {
            return;
        }
        let tables = tenant_tables(&t.db).await;
        let exempt: Vec<&str> = WITHOUT_ROW_LEVEL_SECURITY.iter().map(|(name, _)| *name).collect();
        for name in &exempt {
            assert!(
                tables.iter().any(|t| t.name == *name),
                "{name} is exempted from row-level security but has no tenant_path (or is gone): drop it from the list"
            );
        }
        let unguarded = postgres_rows(
            &t.db,
            "SELECT t.relname::TEXT || ': ' ||
                    CASE WHEN NOT t.relrowsecurity THEN 'row-level security not enabled'
                         WHEN NOT EXISTS (SELECT 1 FROM pg_policies p
                                          WHERE p.schemaname = current_schema() AND p.tablename = t.relname
                                            AND p.qual LIKE '%civitas_in_scope(tenant_path)%')
                              THEN 'no policy using civitas_in_scope(tenant_path)'
                         ELSE 'civitas_app may not SELECT' END
             FROM pg_class t
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = 'tenant_path' AND NOT a.attisdropped
             WHERE t.relkind IN ('r', 'p') AND t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
               AND (NOT t.relrowsecurity
                    OR NOT EXISTS (SELECT 1 FROM pg_policies p
                                   WHERE p.schemaname = current_schema() AND p.tablename = t.relname
                                     AND p.qual LIKE '%civitas_in_scope(tenant_path)%')
                    OR NOT has_table_privilege('civitas_app', t.oid, 'SELECT'))
             ORDER BY 1",
        )
        .await;
        let unguarded: Vec<&String> = unguarded
            .iter()
            .filter(|row| !exempt.iter().any(|name| row.starts_with(&format!("{name}: "))))
            .collect();
        assert!(
            unguarded.is_empty(),
            "a tenant-owned table needs grants to civitas_app, ENABLE ROW LEVEL SECURITY and a \
             policy using civitas_in_scope (or a place in WITHOUT_ROW_LEVEL_SECURITY with the reason): {unguarded:#?}"
        );
    }
}
