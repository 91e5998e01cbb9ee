//! The notifier's hot statements are planned on the index that matches
//! each exactly on a large database (50,000 deliveries of 2,000 people,
//! nearly all sent) whatever its statistics: never analyzed, analyzed when
//! it was empty, analyzed: the sender's claim of what is due, a person's
//! message-centre page, their unread count and unread page, and the page
//! with each notice's other channels (found by the unique key). (On an empty
//! table PostgreSQL reads the table rather than the index, rightly: it is
//! a page or two.) Each statement's text must
//! appear verbatim in `src/store.rs`, so a change to it fails this test
//! until its plan is checked again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use civitas_storage::{Backend, Database, with_connection};
use civitas_testkit::both_backends;

const SOURCE: &str = include_str!("../src/store.rs");

struct Hot {
    what: &'static str,
    /// The statement as planned (`$n` bound below).
    sql: &'static str,
    /// Text that appears verbatim in the source sending it.
    source: &'static str,
    binds: &'static [&'static str],
    index: &'static str,
    /// Whether it also joins rows by the unique key (and must use it).
    joins_by_unique_key: bool,
}

const HOT: &[Hot] = &[
    Hot {
        what: "the sender's claim of due deliveries",
        sql: "SELECT id FROM notification_deliveries WHERE next_attempt_at <= $1 AND channel IN ('sms', 'email') ORDER BY next_attempt_at, id LIMIT 16",
        source: "FROM notification_deliveries WHERE next_attempt_at <= $1 \\\n         AND channel IN ({}) ORDER BY next_attempt_at, id LIMIT",
        binds: &["1800000000000000"],
        index: "notification_deliveries_due",
        joins_by_unique_key: false,
    },
    Hot {
        what: "a page of a person's message centre",
        sql: "SELECT id FROM notification_deliveries WHERE recipient = $1 AND channel = 'site' ORDER BY created_at DESC, id DESC LIMIT 21",
        source: "\"recipient = $1\".to_owned(), \"channel = 'site'\".to_owned()",
        binds: &["person-7"],
        index: "notification_deliveries_recipient",
        joins_by_unique_key: false,
    },
    Hot {
        what: "a person's unread messages, counted on every page",
        sql: "SELECT count(*) FROM notification_deliveries WHERE recipient = $1 AND channel = 'site' AND read_at IS NULL",
        source: "SELECT count(*) FROM notification_deliveries WHERE recipient = $1 AND channel = 'site' AND read_at IS NULL",
        binds: &["person-7"],
        index: "notification_deliveries_unread",
        joins_by_unique_key: false,
    },
    Hot {
        what: "a page of a person's unread messages",
        sql: "SELECT id FROM notification_deliveries WHERE recipient = $1 AND channel = 'site' AND read_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 21",
        source: "clauses.push(\"read_at IS NULL\".into());",
        binds: &["person-7"],
        index: "notification_deliveries_unread",
        joins_by_unique_key: false,
    },
    Hot {
        what: "a page of messages with each notice's other channels",
        sql: "WITH page AS (SELECT * FROM notification_deliveries WHERE recipient = $1 AND channel = 'site' \
              ORDER BY created_at DESC, id DESC LIMIT 21) \
              SELECT * FROM page UNION ALL SELECT o.* FROM page \
              CROSS JOIN notification_deliveries o WHERE o.case_id = page.case_id AND o.event_seq = page.event_seq \
              AND o.recipient = page.recipient AND o.channel <> 'site'",
        source: "CROSS JOIN notification_deliveries o WHERE o.case_id = page.case_id AND o.event_seq = page.event_seq \\\n         AND o.recipient = page.recipient AND o.channel <> 'site'",
        binds: &["person-7"],
        index: "notification_deliveries_recipient",
        joins_by_unique_key: true,
    },
];

/// The unique key's index, named per backend.
fn unique_index(backend: Backend) -> &'static str {
    match backend {
        // PostgreSQL's name for the UNIQUE constraint (63 characters at most).
        Backend::Postgres => "notification_deliveries_case_id_event_seq_channel_recipient",
        Backend::Sqlite => "sqlite_autoindex_notification_deliveries_2",
    }
}

async fn plan(db: &Database, hot: &Hot) -> String {
    let backend = db.backend();
    let explain = match backend {
        Backend::Postgres => format!("EXPLAIN {}", hot.sql),
        Backend::Sqlite => format!("EXPLAIN QUERY PLAN {}", hot.sql),
    };
    let mut tx = db.begin_platform_read().await.unwrap();
    let lines: Vec<String> = with_connection!(tx.connection(), c => {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(explain));
        for bind in hot.binds {
            query = match bind.parse::<i64>() {
                Ok(n) => query.bind(n),
                Err(_) => query.bind(bind.to_string()),
            };
        }
        let rows = query.fetch_all(&mut *c).await.unwrap();
        rows.iter()
            .map(|r| {
                use sqlx::Row;
                match backend {
                    Backend::Postgres => r.try_get::<String, _>(0).unwrap_or_default(),
                    Backend::Sqlite => r.try_get::<String, _>("detail").unwrap_or_default(),
                }
            })
            .collect()
    });
    lines.join("\n")
}

async fn check(db: &Database, when: &str) {
    for hot in HOT {
        let index = hot.index;
        let plan = plan(db, hot).await;
        let unique = unique_index(db.backend());
        let joined = !hot.joins_by_unique_key || plan.contains(unique);
        assert!(
            plan.contains(index) && joined && !plan.contains("Seq Scan"),
            "{} ({when}) is not planned on {index} (and {unique} where it joins):\n{plan}",
            hot.what
        );
    }
}

/// 50,000 deliveries: 2,000 people, 25 notices each on three channels at
/// most, all sent but the last few hundred, all read in the message centre
/// but the last thousand.
async fn fill(db: &Database) {
    let mut tx = db.begin_platform().await.unwrap();
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) \
             INSERT INTO notification_deliveries (id, tenant_path, line, case_id, event_seq, kind, channel, recipient, \
             handler, matter, message_zh, message_en, params, status, attempts, next_attempt_at, created_at, sent_at, read_at) \
             SELECT 'd-' || i, '310000/310115', 'civil-affairs', 'case-' || (i % 2000), i / 6000 + 1, 'submitted', \
             CASE i % 3 WHEN 0 THEN 'site' WHEN 1 THEN 'sms' ELSE 'email' END, 'person-' || (i % 2000), \
             '张三', '申请', '通知', 'notice', '{}', \
             CASE WHEN i > 49700 AND i % 3 <> 0 THEN 'pending' ELSE 'sent' END, 0, \
             CASE WHEN i > 49700 AND i % 3 <> 0 THEN 1790000000000000 + i ELSE NULL END, \
             1780000000000000 + CAST(i AS BIGINT) * 1000000, 1780000000000000 + CAST(i AS BIGINT) * 1000000, \
             CASE WHEN i % 3 = 0 AND i <= 49000 THEN 1790000000000000 + i ELSE NULL END FROM n",
        )
        .execute(&mut *c)
        .await
        .unwrap();
    });
    tx.commit().await.unwrap();
}

async fn analyze(db: &Database) {
    let mut tx = db.begin_platform().await.unwrap();
    with_connection!(tx.connection(), c => {
        sqlx::query("ANALYZE notification_deliveries").execute(&mut *c).await.unwrap();
    });
    tx.commit().await.unwrap();
}

#[test]
fn every_statement_is_the_one_the_source_sends() {
    for hot in HOT {
        assert!(
            SOURCE.contains(hot.source),
            "{}: `{}` is not in src/store.rs",
            hot.what,
            hot.source
        );
    }
}

both_backends! {
    async fn the_notifiers_hot_statements_are_planned_on_their_indexes_before_any_statistics(t) {
        fill(&t.db).await;
        check(&t.db, "large, never analyzed").await;
        analyze(&t.db).await;
        check(&t.db, "large, analyzed").await;
    }

    async fn the_notifiers_hot_statements_are_planned_on_their_indexes_with_stale_statistics(t) {
        analyze(&t.db).await;
        fill(&t.db).await;
        check(&t.db, "large, statistics of an empty table").await;
    }
}
