//! Change notices on a real PostgreSQL: a listener hears a version moved
//! by any connection, and a quiet one proves it still hears by pinging
//! itself, without being taken for lost.

use std::sync::Arc;
use std::time::Duration;

use civitas_storage::changes::{Change, ChangeFeed, Listening};
use civitas_testkit::TestDb;
use sqlx::Connection;

async fn until_listening(feed: &ChangeFeed) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while !matches!(feed.listening(), Listening::Listening { .. }) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not listening: {:?}", feed.listening()));
}

#[tokio::test]
async fn a_quiet_listener_pings_itself_stays_listening_and_hears_the_next_change() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let feed = Arc::new(ChangeFeed::new());
    let listening = {
        let (feed, db) = (feed.clone(), t.db.clone());
        // A ping after 100 ms of quiet, heard back within 200 ms, where
        // serve waits 30 s and 10 s.
        tokio::spawn(async move {
            feed.listen_with(&db, Duration::from_millis(100), Duration::from_millis(200))
                .await
        })
    };
    until_listening(&feed).await;
    // Listening began with a catch-up: every keeper looks once.
    for change in Change::ALL {
        tokio::time::timeout(Duration::from_secs(5), feed.changed(change))
            .await
            .unwrap_or_else(|_| panic!("no catch-up for {change:?}"));
    }

    // A second of quiet is ten pings, each heard back: still listening,
    // never connected again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        matches!(feed.listening(), Listening::Listening { .. }),
        "{:?}",
        feed.listening()
    );
    assert_eq!(feed.reconnects(), 0);

    // A grant changed by another connection wakes the grants' keeper.
    let mut other = sqlx::PgConnection::connect(&t.url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("UPDATE grants_version SET version = version + 1 WHERE id = 1")
        .execute(&mut other)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::timeout(Duration::from_secs(10), feed.changed(Change::Grants))
        .await
        .unwrap_or_else(|_| panic!("the grants' keeper was not woken"));
    listening.abort();
}

#[tokio::test]
async fn on_sqlite_nothing_listens_and_the_look_is_all_there_is() {
    let t = TestDb::sqlite().await;
    let feed = ChangeFeed::new();
    feed.listen(&t.db).await;
    assert_eq!(feed.listening(), Listening::NotUsed);
}
