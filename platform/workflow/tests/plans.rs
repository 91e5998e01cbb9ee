//! Every hot statement of filing a case, acting on it and firing its timers
//! is planned on the index that matches it exactly, whatever the
//! statistics say: on a fresh database, on a large one whose statistics were
//! taken when it was small (the state a growing database is in between two
//! autovacuum runs), with none at all (a table filled faster than
//! autovacuum's first analyze), and analyzed. On PostgreSQL each
//! statement is planned in a tenant transaction (row-level security adds
//! the scope's range to it) at the city, a district and a street.
//!
//! "On its index" means an index scan of one of the indexes named for the
//! statement, or a bitmap built from that index alone: each is bounded by
//! the statement's own conditions (a case's few rows, the due timers).
//!
//! The statements are written here as the engine sends them, and each one's
//! identifying text must appear verbatim in the source that sends it: a
//! change to a hot statement fails this test until its plan is checked
//! again.
//!
//! `CIVITAS_PLAN_CASES` sets the large database's size (default 100,000
//! cases, each with its task, history entry and two timers, one fired, and
//! an audit record); BENCHMARKS.md records the run at 1,000,000.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use civitas_storage::{Backend, Database, TenantScope, with_connection};
use civitas_tenancy::TenantPath;
use civitas_testkit::both_backends;
use serde_json::Value;

/// The source files that send the statements below.
const SOURCES: &[&str] = &[
    include_str!("../src/cases.rs"),
    include_str!("../src/store.rs"),
    include_str!("../src/timers.rs"),
    include_str!("../../audit/src/lib.rs"),
];

/// A case of the large database, at [`STREET`] (the loader puts case `i`
/// at district `i % 16`, street `i % 215` of it).
const CASE: &str = "c00000500";
const CITY: &str = "310000";
const DISTRICT: &str = "310000/310104";
const STREET: &str = "310000/310104/310104070";

/// The index a statement must be planned on.
#[derive(Clone, Copy, Debug)]
enum Index {
    /// The table's primary key.
    Primary,
    /// An index by name.
    Named(&'static str),
}

impl Index {
    fn name(self, backend: Backend, table: &str) -> String {
        match (self, backend) {
            (Index::Named(name), _) => name.to_owned(),
            (Index::Primary, Backend::Postgres) => format!("{table}_pkey"),
            // A TEXT primary key is an automatic index on SQLite.
            (Index::Primary, Backend::Sqlite) => format!("sqlite_autoindex_{table}_1"),
        }
    }
}

/// A statement on the hot path.
struct Hot {
    /// What it does, for failure messages.
    what: &'static str,
    /// The statement as sent, `$n` placeholders bound from `binds`.
    sql: &'static str,
    /// Text that appears verbatim in the source sending it.
    source: &'static str,
    binds: &'static [&'static str],
    table: &'static str,
    /// The indexes it may be planned on (each bounds the scan by the
    /// statement's own conditions).
    indexes: &'static [Index],
    /// Sent in a platform transaction (no tenant scope), not a tenant's.
    platform: bool,
}

const HOT: &[Hot] = &[
    Hot {
        what: "lock a case (a hook's write, a timer, an attachment, a rating)",
        sql: "SELECT id FROM cases WHERE id = $1",
        source: "SELECT id FROM cases WHERE id = $1{lock}",
        binds: &[CASE],
        table: "cases",
        indexes: &[Index::Primary],
        platform: false,
    },
    Hot {
        what: "read a case as a staff member of its line (and hold it, when acting)",
        sql: "SELECT * FROM cases WHERE id = $1 AND tenant_path >= $2 AND tenant_path < $3 AND line = $4",
        source: "id = $1 AND tenant_path >= $2 AND tenant_path < $3 AND {who}",
        binds: &[CASE, STREET, "310000/310104/3101040700", "civil-affairs"],
        table: "cases",
        indexes: &[Index::Primary],
        platform: false,
    },
    Hot {
        what: "write a transition, guarded by the version read",
        sql: "UPDATE cases SET updated_at = 0 WHERE id = $16 AND version = $17",
        source: "WHERE id = $16 AND version = $17",
        binds: &[
            "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", CASE, "1",
        ],
        table: "cases",
        indexes: &[Index::Primary],
        platform: false,
    },
    Hot {
        what: "read a case's open tasks",
        sql: "SELECT case_id, slot, actor_tenant, actor_role, line FROM case_tasks WHERE case_id = $1 ORDER BY slot",
        source: "SELECT case_id, slot, actor_tenant, actor_role, line FROM case_tasks WHERE case_id = $1 ORDER BY slot",
        binds: &[CASE],
        table: "case_tasks",
        indexes: &[Index::Named("case_tasks_case"), Index::Primary],
        platform: false,
    },
    Hot {
        what: "close the task acted on",
        sql: "DELETE FROM case_tasks WHERE case_id = $1 AND slot = $2",
        source: "DELETE FROM case_tasks WHERE case_id = $1 AND slot = $2",
        binds: &[CASE, "0"],
        table: "case_tasks",
        indexes: &[Index::Named("case_tasks_case"), Index::Primary],
        platform: false,
    },
    Hot {
        what: "replace a case's tasks on entering a step",
        sql: "DELETE FROM case_tasks WHERE case_id = $1",
        source: "\"DELETE FROM case_tasks WHERE case_id = $1\"",
        binds: &[CASE],
        table: "case_tasks",
        indexes: &[Index::Named("case_tasks_case"), Index::Primary],
        platform: false,
    },
    Hot {
        what: "number a history entry",
        sql: "SELECT COALESCE(MAX(seq), 0) + 1 FROM case_events WHERE case_id = $1",
        source: "(SELECT COALESCE(MAX(seq), 0) + 1 FROM case_events WHERE case_id = $1)",
        binds: &[CASE],
        table: "case_events",
        indexes: &[Index::Named("case_events_case"), Index::Primary],
        platform: false,
    },
    Hot {
        what: "clear a case's pending step timers",
        sql: "DELETE FROM case_timers WHERE case_id = $1 AND fired_at IS NULL AND kind LIKE $2",
        source: "DELETE FROM case_timers WHERE case_id = $1 AND fired_at IS NULL AND kind LIKE $2",
        binds: &[CASE, "step.%"],
        table: "case_timers",
        indexes: &[
            Index::Named("case_timers_open"),
            Index::Named("case_timers_case"),
        ],
        platform: false,
    },
    Hot {
        what: "clear all of a case's pending timers",
        sql: "DELETE FROM case_timers WHERE case_id = $1 AND fired_at IS NULL",
        source: "\"DELETE FROM case_timers WHERE case_id = $1 AND fired_at IS NULL\"",
        binds: &[CASE],
        table: "case_timers",
        indexes: &[
            Index::Named("case_timers_open"),
            Index::Named("case_timers_case"),
        ],
        platform: false,
    },
    Hot {
        what: "claim due timers",
        sql: "SELECT id, case_id, tenant_path, kind, step, due_on, fire_at FROM case_timers \
              WHERE fired_at IS NULL AND fire_at <= $1 ORDER BY fire_at, id LIMIT 100",
        source: "WHERE fired_at IS NULL AND fire_at <= $1 ORDER BY fire_at, id LIMIT {batch}",
        binds: &["50000"],
        table: "case_timers",
        indexes: &[Index::Named("case_timers_due")],
        platform: true,
    },
    Hot {
        what: "mark a timer fired",
        sql: "UPDATE case_timers SET fired_at = $1, fired_by = $2 WHERE id = $3",
        source: "\"UPDATE case_timers SET fired_at = $1, fired_by = $2 WHERE id = $3\"",
        binds: &["1", "worker", "c000005001"],
        table: "case_timers",
        indexes: &[Index::Primary],
        platform: true,
    },
    Hot {
        what: "advance the tenant's audit chain head",
        sql: "UPDATE audit_heads SET hash = $2 WHERE tenant_path = $1",
        source: "UPDATE audit_heads SET hash = $2 WHERE tenant_path = $1",
        binds: &[STREET, "0"],
        table: "audit_heads",
        indexes: &[Index::Primary],
        platform: false,
    },
];

/// PostgreSQL writes a transition in one statement (`store::write_transition`):
/// the statement as sent, read out of the source, so what is planned here is
/// what runs.
fn transition_statement() -> &'static str {
    let source = include_str!("../src/store.rs");
    let start = source
        .find("\"WITH changed AS (")
        .expect("the one-statement transition in store.rs")
        + 1;
    let end = start + source[start..].find("\";").expect("its end");
    // A Rust string continued over lines: `\` + newline + indentation is
    // nothing.
    let mut sql = String::new();
    let mut rest = &source[start..end];
    while let Some(at) = rest.find("\\\n") {
        sql.push_str(&rest[..at]);
        rest = rest[at + 2..].trim_start();
    }
    sql.push_str(rest);
    Box::leak(sql.into_boxed_str())
}

/// The one-statement transition, planned for each table it touches. Its
/// binds: the case row ($1–$19), the history entry ($20–$28), the slot
/// closed and whether tasks are replaced ($29, $30), the new tasks ($31–
/// $39), the timers cleared ($40) and armed ($41–$45).
fn postgres_only() -> Vec<Hot> {
    let sql = transition_statement();
    const BINDS: &[&str] = &[
        STREET,
        "open",
        "review",
        "2",
        "{}",
        "{}",
        "[]",
        "2026-12-01",
        "working",
        "2027-03-01",
        "natural",
        "",
        "false",
        "false",
        "0",
        CASE,
        "1",
        "true",
        "true",
        "0",
        "officer",
        "approve",
        "intake",
        "review",
        "",
        "",
        "",
        "{}",
        "0",
        "true",
        "{0}",
        "title",
        "civil-affairs/meal-subsidy",
        "{310000/310104}",
        "{reviewer}",
        "{civil-affairs}",
        "{review}",
        "{2026-12-01}",
        "{working}",
        "step.%",
        "{t1}",
        "{step.overdue}",
        "{review}",
        "{2026-12-01}",
        "{0}",
    ];
    [
        ("the one-statement transition: the case row", "cases", &[Index::Primary][..]),
        (
            "the one-statement transition: numbering its history entry",
            "case_events",
            &[Index::Named("case_events_case"), Index::Primary][..],
        ),
        (
            "the one-statement transition: closing its tasks",
            "case_tasks",
            &[Index::Named("case_tasks_case"), Index::Primary][..],
        ),
        (
            "the one-statement transition: clearing its timers",
            "case_timers",
            &[Index::Named("case_timers_open"), Index::Named("case_timers_case")][..],
        ),
    ]
    .into_iter()
    .map(|(what, table, indexes)| Hot {
        what,
        sql,
        source: "closed AS (DELETE FROM case_tasks WHERE case_id = $16 AND (slot = $29::bigint OR $30)",
        binds: BINDS,
        table,
        indexes,
        platform: false,
    })
    .collect()
}

/// `sql` with its placeholders replaced by `binds` as literals (the values
/// are this file's constants): planned for those values, as PostgreSQL
/// plans the engine's statements (custom plans).
fn literal(sql: &str, binds: &[&str]) -> String {
    let mut out = sql.to_owned();
    // From the highest number down, so `$1` does not eat `$16`.
    for (n, value) in binds.iter().enumerate().rev() {
        let literal = if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) {
            (*value).to_owned()
        } else {
            format!("'{value}'")
        };
        out = out.replace(&format!("${}", n + 1), &literal);
    }
    out
}

fn scopes() -> [TenantScope; 3] {
    [CITY, DISTRICT, STREET].map(|p| TenantScope::for_platform_task(TenantPath::parse(p).unwrap()))
}

/// The scans of `table` in a PostgreSQL JSON plan, as (node type, index).
/// A bitmap heap scan counts as a scan of the index its bitmap comes from
/// when that is one index alone (`BitmapAnd`/`BitmapOr` name none).
fn pg_scans(plan: &Value, table: &str, out: &mut Vec<(String, Option<String>)>) {
    let node = plan.get("Node Type").and_then(Value::as_str).unwrap_or("");
    let name = |plan: &Value| {
        plan.get("Index Name")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    if node.contains("Scan") && plan.get("Relation Name").and_then(Value::as_str) == Some(table) {
        let index = if node == "Bitmap Heap Scan" {
            plan.get("Plans")
                .and_then(Value::as_array)
                .and_then(|children| match children.as_slice() {
                    [only]
                        if only.get("Node Type").and_then(Value::as_str)
                            == Some("Bitmap Index Scan") =>
                    {
                        name(only)
                    }
                    _ => None,
                })
        } else {
            name(plan)
        };
        out.push((node.to_owned(), index));
    }
    if let Some(children) = plan.get("Plans").and_then(Value::as_array) {
        for child in children {
            pg_scans(child, table, out);
        }
    }
}

/// The scans of `hot.table` in the plan of `sql`, as (kind, index).
async fn scans(
    conn: civitas_storage::Connection<'_>,
    backend: Backend,
    hot: &Hot,
    sql: &str,
) -> Vec<(String, Option<String>)> {
    match backend {
        Backend::Postgres => {
            let plan: Value = with_connection!(conn, c => {
                let plan: sqlx::types::Json<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN (FORMAT JSON) {sql}")))
                    .fetch_one(&mut *c)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", hot.what));
                plan.0
            });
            let mut scans = Vec::new();
            pg_scans(&plan[0]["Plan"], hot.table, &mut scans);
            scans
        }
        Backend::Sqlite => {
            let rows: Vec<(i64, i64, i64, String)> = with_connection!(conn, c => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .fetch_all(&mut *c)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", hot.what))
            });
            // "SEARCH case_timers USING INDEX case_timers_open (case_id=?)"
            rows.into_iter()
                .map(|(_, _, _, detail)| detail)
                .filter(|d| d.split_whitespace().nth(1) == Some(hot.table))
                .map(|d| {
                    let index = d
                        .split("INDEX ")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .map(str::to_owned);
                    let kind = d.split_whitespace().next().unwrap_or("").to_owned();
                    (kind, index)
                })
                .collect()
        }
    }
}

/// Plans every hot statement and names each one not planned on its index.
async fn misplanned(db: &Database, state: &str) -> Vec<String> {
    let backend = db.backend();
    let mut wrong = Vec::new();
    let extra = match backend {
        Backend::Postgres => postgres_only(),
        Backend::Sqlite => Vec::new(),
    };
    for hot in HOT.iter().chain(&extra) {
        let sql = literal(hot.sql, hot.binds);
        let expected: Vec<String> = hot
            .indexes
            .iter()
            .map(|index| index.name(backend, hot.table))
            .collect();
        let mut planned = Vec::new();
        if hot.platform {
            let mut tx = db.begin_platform().await.unwrap();
            planned.push((
                "platform".to_owned(),
                scans(tx.connection(), backend, hot, &sql).await,
            ));
            // Dropped: rolled back.
            drop(tx);
        } else {
            for scope in scopes() {
                let mut tx = db.begin(&scope).await.unwrap();
                planned.push((
                    scope.path().to_string(),
                    scans(tx.connection(), backend, hot, &sql).await,
                ));
                tx.rollback().await.unwrap();
            }
        }
        for (scope, scans) in planned {
            let good = !scans.is_empty()
                && scans.iter().all(|(kind, index)| {
                    let kind_ok = match backend {
                        Backend::Postgres => ["Index Scan", "Index Only Scan", "Bitmap Heap Scan"]
                            .contains(&kind.as_str()),
                        Backend::Sqlite => kind == "SEARCH",
                    };
                    kind_ok && index.as_ref().is_some_and(|index| expected.contains(index))
                });
            if !good {
                wrong.push(format!(
                    "{state}, scope {scope}: {} ({}) wants one of {expected:?}, planned {scans:?}",
                    hot.what, hot.sql
                ));
            }
        }
    }
    wrong
}

/// Runs `sql` as the owner, outside row-level security.
async fn owner(db: &Database, sql: &str) {
    let mut tx = db.begin_platform().await.unwrap();
    with_connection!(tx.connection(), c => {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut *c)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    });
    tx.commit().await.unwrap();
}

/// Adds cases `from..from + n` as the engine leaves them after filing: the
/// case at its street, its open task, its history entry, two timers (every
/// third of them fired) and an audit record per case in its street's chain.
async fn load(db: &Database, from: u64, n: u64) {
    let (series, pad8, pad2, pad3) = match db.backend() {
        Backend::Postgres => (
            format!(
                "SELECT i FROM generate_series({from}, {}) AS s(i)",
                from + n - 1
            ),
            "lpad(i::text, 8, '0')",
            "lpad((i % 16 + 1)::text, 2, '0')",
            "lpad((i % 215 + 1)::text, 3, '0')",
        ),
        Backend::Sqlite => (
            format!(
                "WITH RECURSIVE s(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM s WHERE i < {}) SELECT i FROM s",
                from + n - 1
            ),
            "printf('%08d', i)",
            "printf('%02d', i % 16 + 1)",
            "printf('%03d', i % 215 + 1)",
        ),
    };
    let street = format!("'310000/3101' || {pad2} || '/3101' || {pad2} || {pad3}");
    owner(
        db,
        &format!(
            "INSERT INTO cases (id, tenant_path, line, service, flow_variant, title, origin, state, step, \
             version, created_by, data, outcomes, signed, created_at, updated_at) \
             SELECT 'c' || {pad8}, {street}, 'civil-affairs', 'civil-affairs/meal-subsidy', '', '申请', \
             'application', 'open', 'review', 1, 'u', '{{}}', '{{}}', '[]', i, i FROM ({series}) AS n"
        ),
    )
    .await;
    let range = format!("id >= 'c{from:08}' AND id <= 'c{:08}'", from + n - 1);
    owner(
        db,
        &format!(
            "INSERT INTO case_tasks (case_id, slot, tenant_path, actor_tenant, actor_role, line, step, due_on, unit, title, service) \
             SELECT id, 0, tenant_path, tenant_path, 'officer', line, 'review', '2026-12-01', 'working', title, service \
             FROM cases WHERE {range}"
        ),
    )
    .await;
    owner(
        db,
        &format!(
            "INSERT INTO case_events (case_id, seq, tenant_path, at, actor, action, detail) \
             SELECT id, 1, tenant_path, created_at, 'u', 'submit', '{{}}' FROM cases WHERE {range}"
        ),
    )
    .await;
    for (k, kind) in [(1, "step.overdue"), (2, "limit.overdue")] {
        owner(
            db,
            &format!(
                "INSERT INTO case_timers (id, case_id, tenant_path, kind, due_on, fire_at, fired_at) \
                 SELECT id || '{k}', id, tenant_path, '{kind}', '2026-12-01', created_at, \
                 CASE WHEN created_at % 3 = 0 THEN 1 END FROM cases WHERE {range}"
            ),
        )
        .await;
    }
    // The audit chains: per street, records numbered after those already
    // there (the hash values are not checked by any plan).
    owner(
        db,
        &format!(
            "INSERT INTO audit_events (tenant_path, seq, occurred_at, actor, action, target, detail, prev_hash, hash) \
             SELECT tenant_path, created_at, created_at, 'u', 'case.create', id, '{{}}', '', '' \
             FROM cases WHERE {range}"
        ),
    )
    .await;
    owner(
        db,
        "INSERT INTO audit_heads (tenant_path, seq, hash) \
         SELECT tenant_path, MAX(seq), '' FROM audit_events GROUP BY tenant_path \
         ON CONFLICT (tenant_path) DO UPDATE SET seq = excluded.seq",
    )
    .await;
}

async fn analyze(db: &Database) {
    match db.backend() {
        // Only this test's tables: a bare ANALYZE would walk every schema.
        Backend::Postgres => {
            owner(
                db,
                "ANALYZE cases, case_tasks, case_events, case_timers, audit_events, audit_heads",
            )
            .await
        }
        Backend::Sqlite => owner(db, "ANALYZE").await,
    }
}

fn large() -> u64 {
    std::env::var("CIVITAS_PLAN_CASES")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(100_000)
}

#[test]
fn every_hot_statement_is_sent_as_written_here() {
    for hot in HOT.iter().chain(&postgres_only()) {
        assert!(
            SOURCES.iter().any(|source| source.contains(hot.source)),
            "{}: `{}` is not in the workflow or audit source: the statement changed, check its plan here",
            hot.what,
            hot.source
        );
    }
}

both_backends! {
    async fn every_hot_statement_is_planned_on_its_index_fresh_stale_and_analyzed(t) {
        let db = &t.db;
        if db.backend() == Backend::Postgres {
            // The test decides when statistics are taken.
            owner(
                db,
                "ALTER TABLE cases SET (autovacuum_enabled = false); \
                 ALTER TABLE case_tasks SET (autovacuum_enabled = false); \
                 ALTER TABLE case_events SET (autovacuum_enabled = false); \
                 ALTER TABLE case_timers SET (autovacuum_enabled = false); \
                 ALTER TABLE audit_events SET (autovacuum_enabled = false); \
                 ALTER TABLE audit_heads SET (autovacuum_enabled = false)",
            )
            .await;
        }
        let mut wrong = misplanned(db, "fresh").await;
        load(db, 1, 1_000).await;
        wrong.extend(misplanned(db, "1,000 cases, never analyzed").await);
        analyze(db).await;
        wrong.extend(misplanned(db, "1,000 cases, analyzed").await);
        let n = large();
        load(db, 1_001, n - 1_000).await;
        wrong.extend(misplanned(db, &format!("{n} cases, statistics of 1,000")).await);
        if db.backend() == Backend::Postgres {
            // As if never analyzed: the planner's defaults (a column of 200
            // values, a range of 0.5 %) are where a tenant-led index looked
            // best for a case's rows.
            owner(
                db,
                "DELETE FROM pg_statistic WHERE starelid IN ('cases'::regclass, 'case_tasks'::regclass, \
                 'case_events'::regclass, 'case_timers'::regclass, 'audit_events'::regclass, 'audit_heads'::regclass)",
            )
            .await;
            wrong.extend(misplanned(db, &format!("{n} cases, no statistics")).await);
        }
        analyze(db).await;
        wrong.extend(misplanned(db, &format!("{n} cases, analyzed")).await);
        assert!(wrong.is_empty(), "statements off their index:\n{}", wrong.join("\n"));
    }
}
