//! What migrations do to data already there: a database at the version
//! before, with rows in it, then the rest of the migrations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use civitas_storage::Connection;
use civitas_testkit::TestDb;

/// The last migration before the dashboards' counts (0021 case_stats).
const BEFORE_CASE_STATS: i64 = 20;

/// Statements valid on both backends at version 20.
const CITY_WITH_CASES: &[&str] = &[
    "INSERT INTO tenants (path, code, parent_path, level, name, name_en, slug, slug_path, lines, depth, source, updated_at) VALUES
        ('310000', '310000', NULL, 'city', '上海市', 'Shanghai', 'shanghai', 'shanghai', '[\"civil-affairs\"]', 0, 'test', '2026-01-01T00:00:00Z'),
        ('310000/310115', '310115', '310000', 'district', '浦东新区', 'Pudong', 'pudong', 'shanghai/pudong', '[\"civil-affairs\"]', 1, 'test', '2026-01-01T00:00:00Z'),
        ('310000/310115/310115005', '310115005', '310000/310115', 'street', '陆家嘴街道', 'Lujiazui', 'lujiazui', 'shanghai/pudong/lujiazui', '[\"civil-affairs\"]', 2, 'test', '2026-01-01T00:00:00Z')",
    // Two at the street in March (Beijing time): one approved, one open and
    // past its limit; one refused at the district; and one filed at 04:00
    // on 1 April in Beijing, still 31 March in UTC.
    "INSERT INTO cases (id, tenant_path, line, service, flow_variant, title, origin, state, step, version, created_by, data, outcomes, signed, created_at, updated_at) VALUES
        ('a', '310000/310115/310115005', 'civil-affairs', 'civil-affairs/meal-subsidy', '', 'a', 'application', 'closed', NULL, 3, 'x', '{}', '{}', '[]', 1773115200000000, 1773115200000000),
        ('b', '310000/310115/310115005', 'civil-affairs', 'civil-affairs/meal-subsidy', '', 'b', 'application', 'open', 'street-review', 1, 'x', '{}', '{}', '[]', 1773115200000001, 1773115200000001),
        ('c', '310000/310115', 'civil-affairs', 'civil-affairs/meal-subsidy', '', 'c', 'application', 'rejected', NULL, 2, 'x', '{}', '{}', '[]', 1773115200000002, 1773115200000002),
        ('d', '310000/310115/310115005', 'civil-affairs', 'civil-affairs/meal-subsidy', '', 'd', 'application', 'open', 'street-review', 1, 'x', '{}', '{}', '[]', 1774987200000000, 1774987200000000)",
    "INSERT INTO case_events (case_id, seq, tenant_path, at, actor, action, detail) VALUES
        ('b', 1, '310000/310115/310115005', 1773115200000001, 'x', 'submit', '{}'),
        ('b', 2, '310000/310115/310115005', 1773115200000009, 'timer', 'limit.overdue', '{}')",
];

/// Counts per place and month: filed, approved, rejected, overdue.
type Counted = (String, String, i64, i64, i64, i64);

const COUNTS: &str = "SELECT node_path, month, CAST(sum(filed) AS BIGINT), CAST(sum(approved) AS BIGINT), \
     CAST(sum(rejected) AS BIGINT), CAST(sum(overdue) AS BIGINT) \
     FROM case_stats GROUP BY node_path, month ORDER BY node_path, month";

async fn cases_filed_before_the_dashboards_are_counted_at_their_place_and_every_ancestor(
    t: TestDb,
) {
    let mut tx = t.db.begin_platform().await.unwrap();
    for statement in CITY_WITH_CASES {
        match tx.connection() {
            Connection::Sqlite(c) => sqlx::raw_sql(sqlx::AssertSqlSafe(*statement))
                .execute(&mut *c)
                .await
                .map(|_| ()),
            Connection::Postgres(c) => sqlx::raw_sql(sqlx::AssertSqlSafe(*statement))
                .execute(&mut *c)
                .await
                .map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    tx.commit().await.unwrap();

    t.db.migrate().await.unwrap();

    let mut tx = t.db.begin_platform_read().await.unwrap();
    let counted: Vec<Counted> = match tx.connection() {
        Connection::Sqlite(c) => sqlx::query_as(COUNTS).fetch_all(&mut *c).await,
        Connection::Postgres(c) => sqlx::query_as(COUNTS).fetch_all(&mut *c).await,
    }
    .unwrap();
    let row = |place: &str, month: &str, filed, approved, rejected, overdue| {
        (
            place.to_owned(),
            month.to_owned(),
            filed,
            approved,
            rejected,
            overdue,
        )
    };
    assert_eq!(
        counted,
        vec![
            row("310000", "2026-03", 3, 1, 1, 1),
            row("310000", "2026-04", 1, 0, 0, 0),
            row("310000/310115", "2026-03", 3, 1, 1, 1),
            row("310000/310115", "2026-04", 1, 0, 0, 0),
            row("310000/310115/310115005", "2026-03", 2, 1, 0, 1),
            row("310000/310115/310115005", "2026-04", 1, 0, 0, 0),
        ]
    );
}

#[tokio::test]
async fn sqlite_cases_filed_before_the_dashboards_are_counted() {
    cases_filed_before_the_dashboards_are_counted_at_their_place_and_every_ancestor(
        TestDb::sqlite_at(BEFORE_CASE_STATS).await,
    )
    .await;
}

#[tokio::test]
async fn postgres_cases_filed_before_the_dashboards_are_counted() {
    let Some(t) = TestDb::postgres_at(BEFORE_CASE_STATS).await else {
        return;
    };
    cases_filed_before_the_dashboards_are_counted_at_their_place_and_every_ancestor(t).await;
}
