//! One embedded index per database: the embedded index that holds the
//! outbox applies it; another node's stands by while the holder is seen,
//! and once it is not, rebuilds itself from the database and takes over,
//! so whichever index applies the changes holds every document.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use civitas_search::{Engine, Kind, Query, Reach, ReachEntry, TantivyIndex};
use civitas_search_indexer::{Indexer, Role};
use civitas_storage::Backend;
use civitas_tenancy::TenantPath;
use civitas_testkit::both_backends;
use common::*;

const WINDOW: Duration = Duration::from_secs(2);

fn node(db: &civitas_storage::Database, dir: &std::path::Path) -> Indexer {
    let index = TantivyIndex::open(dir).unwrap_or_else(|e| panic!("index: {e}"));
    let searchable = HashMap::from([(
        "civil-affairs/meal-subsidy".to_owned(),
        vec!["remarks".to_owned()],
    )]);
    Indexer::new(db.clone(), Engine::Tantivy(index), searchable).with_takeover_after(WINDOW)
}

fn id_of(indexer: &Indexer) -> String {
    indexer
        .engine()
        .identity()
        .unwrap_or_else(|| panic!("an embedded index has an id"))
        .to_owned()
}

async fn cases_found(indexer: &Indexer) -> Vec<String> {
    let root = TenantPath::parse("310000").unwrap_or_else(|e| panic!("{e}"));
    let reach = Reach::new([ReachEntry::Subtree {
        kind: Kind::Case,
        root,
        line: "*".into(),
    }]);
    let query = Query {
        text: "助餐".into(),
        limit: 100,
        ..Query::default()
    };
    let results = indexer
        .engine()
        .search(&reach, &query)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut ids: Vec<String> = results.hits.into_iter().map(|h| h.id).collect();
    ids.sort();
    ids
}

async fn batch(indexer: &Indexer) -> usize {
    indexer.run_batch().await.unwrap_or_else(|e| panic!("{e}"))
}

both_backends! {
    async fn a_second_embedded_index_stands_by_and_takes_over_rebuilt_when_the_holder_is_gone(t) {
        let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let a = node(&t.db, &dirs.path().join("a"));
        let b = node(&t.db, &dirs.path().join("b"));
        assert_ne!(id_of(&a), id_of(&b), "each index has an id of its own");

        // The first index on a database takes the outbox as it is.
        assert_eq!(a.claim().await.unwrap_or_else(|e| panic!("{e}")), (Role::Applying, false));
        insert_case(&t.db, "case-1", "310000/310115", "助餐补贴申请（一）", None, "{}").await;
        a.drain().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cases_found(&a).await, ["case:case-1"]);

        match t.db.backend() {
            Backend::Postgres => {
                // Another node's index stands by while the holder is seen,
                // even when nothing changes for longer than the window.
                let (role, rebuilt) = b.claim().await.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(role, Role::StandingBy { holder: id_of(&a) });
                assert!(!rebuilt);
                let until = std::time::Instant::now() + WINDOW + WINDOW / 2;
                while std::time::Instant::now() < until {
                    assert_eq!(batch(&a).await, 0);
                    assert_eq!(batch(&b).await, 0);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                assert_eq!(b.role(), Role::StandingBy { holder: id_of(&a) });
                insert_case(&t.db, "case-2", "310000/310115", "助餐补贴申请（二）", None, "{}").await;
                assert_eq!(batch(&b).await, 0, "a standby index applies nothing");
                assert_eq!(batch(&a).await, 1);
                assert!(cases_found(&b).await.is_empty());
                let status = b.status().await.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(status.holder.as_deref(), Some(id_of(&a).as_str()));
                assert_eq!(status.index_id.as_deref(), Some(id_of(&b).as_str()));

                // The holder is gone: unseen for the window, the standby
                // index rebuilds itself from the database and takes over.
                tokio::time::sleep(WINDOW + Duration::from_millis(200)).await;
                assert_eq!(batch(&b).await, 0);
                assert_eq!(b.role(), Role::Applying);
                assert_eq!(cases_found(&b).await, ["case:case-1", "case:case-2"]);
            }
            Backend::Sqlite => {
                // The data directory is one node's: a new index takes over
                // as its node starts, rebuilt from the database.
                let (role, rebuilt) = b.claim().await.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!((role, rebuilt), (Role::Applying, true));
                assert_eq!(cases_found(&b).await, ["case:case-1"]);
            }
        }

        // From then on the new holder applies every change, and the former
        // one, should it come back, stands by without applying any.
        insert_case(&t.db, "case-3", "310000/310115", "助餐补贴申请（三）", None, "{}").await;
        assert_eq!(batch(&a).await, 0);
        assert_eq!(a.role(), Role::StandingBy { holder: id_of(&b) });
        b.drain().await.unwrap_or_else(|e| panic!("{e}"));
        let found = cases_found(&b).await;
        assert!(found.contains(&"case:case-3".to_owned()), "{found:?}");
        assert!(!cases_found(&a).await.contains(&"case:case-3".to_owned()));
        let status = b.status().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status.holder.as_deref(), Some(id_of(&b).as_str()));
        assert_eq!(status.pending, 0);
    }

    async fn an_index_opened_again_from_its_directory_is_the_same_holder(t) {
        let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let first = node(&t.db, dirs.path());
        let id = id_of(&first);
        assert_eq!(first.claim().await.unwrap_or_else(|e| panic!("{e}")), (Role::Applying, false));
        drop(first);
        // A restart (or kill -9) of the same node: nothing to rebuild, the
        // entries it has not applied wait for it.
        insert_case(&t.db, "case-1", "310000/310115", "助餐补贴申请", None, "{}").await;
        let again = node(&t.db, dirs.path());
        assert_eq!(id_of(&again), id);
        assert_eq!(again.claim().await.unwrap_or_else(|e| panic!("{e}")), (Role::Applying, false));
        again.drain().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cases_found(&again).await, ["case:case-1"]);
        // An index created again (deleted, or another schema) is another
        // index: a different id, so it is rebuilt rather than trusted.
        drop(again);
        let recreated = TantivyIndex::recreate(dirs.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(recreated.identity(), id);
    }
}
