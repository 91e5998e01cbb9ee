//! Indexing that loses nothing: every change to an indexed row reaches the
//! index through the outbox the triggers fill, exactly once, on SQLite and
//! PostgreSQL, into tantivy and Meilisearch.

mod common;

use std::collections::HashMap;

use civitas_search::{Engine, Kind, Query, Reach, ReachEntry};
use civitas_search_indexer::Indexer;
use civitas_tenancy::TenantPath;
use civitas_testkit::both_backends;
use common::*;

fn everything() -> Reach {
    let root = TenantPath::parse("310000").unwrap_or_else(|e| panic!("{e}"));
    Reach::new(Kind::ALL.into_iter().map(|kind| ReachEntry::Subtree {
        kind,
        root: root.clone(),
        line: "*".into(),
    }))
}

async fn ids(indexer: &Indexer, text: &str) -> Vec<String> {
    let query = Query {
        text: text.into(),
        limit: 100,
        ..Query::default()
    };
    let results = indexer
        .engine()
        .search(&everything(), &query)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut ids: Vec<String> = results.hits.into_iter().map(|h| h.id).collect();
    ids.sort();
    ids
}

/// The token of the last batch the Meilisearch row counted.
async fn row_batch(db: &civitas_storage::Database) -> Option<String> {
    let mut read = db
        .begin_platform_read()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let batch: Option<String> = civitas_storage::with_connection!(read.connection(), c => {
        sqlx::query_scalar("SELECT applied_batch FROM search_indexers WHERE backend = 'meilisearch'")
            .fetch_one(&mut *c)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    });
    read.commit().await.unwrap_or_else(|e| panic!("{e}"));
    batch
}

fn searchable() -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "civil-affairs/meal-subsidy".to_owned(),
        vec!["remarks".to_owned()],
    )])
}

both_backends! {
    async fn changes_reach_the_index_through_the_outbox(t) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for engine in common::engines(dir.path()).await {
            let backend = engine.backend();
            // A fresh database per engine would be cleaner; the outbox is
            // drained by each engine in turn, so write the rows again.
            exec(&t.db, "DELETE FROM search_outbox", &[]).await;
            let indexer = Indexer::new(t.db.clone(), engine, searchable());
            if backend == "tantivy" {
                insert_account(&t.db, "acc-1", "zhang.wei", "citizen", "310000", "张伟", Some("blind-index-of-an-id-number")).await;
                insert_account(&t.db, "acc-2", "shop", "enterprise", "310000", "上海某某超市有限公司", Some("91310115MA1H7GXK5P")).await;
                insert_case(&t.db, "case-1", "310000/310115/310115005", "社区长者食堂助餐补贴申请", Some("acc-1"),
                    r#"{"remarks": "独居老人，行动不便", "hidden": "不应被搜到的内容"}"#).await;
                insert_resident(&t.db, "res-1", "310000/310115/310115005", "欧阳娜娜").await;
            } else {
                exec(&t.db, "INSERT INTO search_outbox (kind, doc, queued_at) SELECT 'case', id, 0 FROM cases", &[]).await;
                exec(&t.db, "INSERT INTO search_outbox (kind, doc, queued_at) SELECT 'account', id, 0 FROM accounts", &[]).await;
                exec(&t.db, "INSERT INTO search_outbox (kind, doc, queued_at) SELECT 'resident', id, 0 FROM residents", &[]).await;
            }
            let status = indexer.status().await.unwrap_or_else(|e| panic!("{e}"));
            assert!(status.pending >= 4, "{backend}: {status:?}");
            indexer.drain().await.unwrap_or_else(|e| panic!("{backend}: {e}"));

            // By the applicant's name, a searchable field, the case number.
            assert_eq!(ids(&indexer, "张伟").await, ["account:acc-1", "case:case-1"], "{backend}");
            assert_eq!(ids(&indexer, "行动不便").await, ["case:case-1"], "{backend}");
            assert_eq!(ids(&indexer, "不应被搜到").await, Vec::<String>::new(), "{backend}: unmarked data is not searched");
            assert_eq!(ids(&indexer, "case-1").await, ["case:case-1"], "{backend}");
            // An enterprise by its credit code; a citizen's blind index is never indexed.
            assert_eq!(ids(&indexer, "91310115MA1H7GXK5P").await, ["account:acc-2"], "{backend}");
            assert_eq!(ids(&indexer, "blind-index-of-an-id-number").await, Vec::<String>::new(), "{backend}");
            assert_eq!(ids(&indexer, "欧阳娜娜").await, ["resident:res-1"], "{backend}");
            assert_eq!(ids(&indexer, "sealed-id-number").await, Vec::<String>::new(), "{backend}");

            // An update replaces the document.
            if backend == "tantivy" {
                exec(&t.db, "UPDATE cases SET title = '高龄老人助餐补贴申请', state = 'approved' WHERE id = 'case-1'", &[]).await;
            } else {
                exec(&t.db, "INSERT INTO search_outbox (kind, doc, queued_at) VALUES ('case', 'case-1', 0)", &[]).await;
            }
            indexer.drain().await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(ids(&indexer, "高龄").await, ["case:case-1"], "{backend}");
            assert_eq!(ids(&indexer, "社区长者食堂").await, Vec::<String>::new(), "{backend}");

            let status = indexer.status().await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(status.pending, 0, "{backend}");
            assert_eq!(status.documents.total, 4, "{backend}: {status:?}");
            assert!(status.applied >= 5, "{backend}: {status:?}");

            // Applying entries again (a crash before they were deleted)
            // leaves the same index: every change is there exactly once.
            exec(&t.db, "INSERT INTO search_outbox (kind, doc, queued_at) SELECT 'case', id, 0 FROM cases", &[]).await;
            exec(&t.db, "INSERT INTO search_outbox (kind, doc, queued_at) VALUES ('case', 'never-existed', 0)", &[]).await;
            indexer.drain().await.unwrap_or_else(|e| panic!("{e}"));
            let status = indexer.status().await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(status.documents.total, 4, "{backend}: {status:?}");
            assert_eq!(status.documents.by_kind.get("case"), Some(&1), "{backend}");

            // A lost index is rebuilt from the database.
            indexer.engine().clear(None).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(ids(&indexer, "高龄").await, Vec::<String>::new());
            let mut seen = Vec::new();
            let rebuilt = indexer.rebuild(None, |done, total| seen.push((done, total))).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(rebuilt.by_kind.values().sum::<u64>(), 4, "{backend}");
            assert_eq!(seen.last(), Some(&(4, 4)), "{backend}");
            assert_eq!(ids(&indexer, "高龄").await, ["case:case-1"], "{backend}");
            // A subtree's rebuild touches only the subtree.
            let street = TenantPath::parse("310000/310115").unwrap_or_else(|e| panic!("{e}"));
            let rebuilt = indexer.rebuild(Some(&street), |_, _| {}).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(rebuilt.by_kind.values().sum::<u64>(), 2, "{backend}");
            assert_eq!(indexer.status().await.unwrap_or_else(|e| panic!("{e}")).documents.total, 4, "{backend}");
        }
    }
}

both_backends! {
    async fn a_deleted_row_leaves_the_index_and_a_renamed_applicant_is_found_by_the_new_name(t) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let engine = common::engines(dir.path()).await.remove(0);
        let indexer = Indexer::new(t.db.clone(), engine, searchable());
        insert_account(&t.db, "acc-9", "li.na", "citizen", "310000", "李娜", None).await;
        insert_case(&t.db, "case-9", "310000/310115", "高龄津贴申请", Some("acc-9"), "{}").await;
        insert_resident(&t.db, "res-9", "310000/310115", "赵敏").await;
        indexer.drain().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ids(&indexer, "赵敏").await, ["resident:res-9"]);
        assert_eq!(ids(&indexer, "李娜").await, ["account:acc-9", "case:case-9"]);

        // A resident's row deleted (an erasure): its document goes too.
        exec(&t.db, "DELETE FROM residents WHERE id = 'res-9'", &[]).await;
        // The applicant's new name reaches the case it applied for.
        exec(&t.db, "UPDATE accounts SET display_name = '李娜娜' WHERE id = 'acc-9'", &[]).await;
        indexer.drain().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ids(&indexer, "赵敏").await, Vec::<String>::new());
        assert_eq!(ids(&indexer, "李娜娜").await, ["account:acc-9", "case:case-9"]);
    }

    async fn a_row_that_does_not_parse_is_counted_and_does_not_hold_up_the_rest(t) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let engine = common::engines(dir.path()).await.remove(0);
        let indexer = Indexer::new(t.db.clone(), engine, searchable());
        insert_case(&t.db, "case-bad", "310000/310115", "数据损坏的办件", None, "not json").await;
        insert_case(&t.db, "case-good", "310000/310115", "正常办件", None, "{}").await;
        indexer.drain().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ids(&indexer, "正常").await, ["case:case-good"]);
        let status = indexer.status().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((status.pending, status.rejected), (0, 1), "{status:?}");
        // Nor does it hold up a rebuild, which says how many it left out.
        let rebuilt = indexer.rebuild(None, |_, _| {}).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((rebuilt.by_kind.get("case").copied(), rebuilt.rejected), (Some(1), 1), "{rebuilt:?}");
        assert_eq!(ids(&indexer, "正常").await, ["case:case-good"]);
    }

    async fn a_meilisearch_index_over_a_database_restored_to_an_earlier_point_is_rebuilt(t) {
        let Some(server) = civitas_testkit::meili() else {
            // Not in CI, where the server must start.
            return;
        };
        let uid = server.unique_index();
        let open = || async {
            let index = meili_index(server, &uid).await;
            Indexer::new(t.db.clone(), Engine::Meili(Box::new(index)), searchable())
        };
        let node = open().await;
        insert_case(&t.db, "case-1", "310000/310115", "助餐补贴申请（一）", None, "{}").await;
        node.drain().await.unwrap_or_else(|e| panic!("{e}"));
        // A backup taken now: what it holds of the outbox's row.
        back_up_indexer_row(&t.db, "backed_up", Some("meilisearch")).await;
        // The next batch is applied by another node: the restore below
        // takes the row back to just what the first node last saw.
        let second = open().await;
        insert_case(&t.db, "case-2", "310000/310115", "助餐补贴申请（二）", None, "{}").await;
        second.drain().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ids(&node, "助餐").await, ["case:case-1", "case:case-2"]);

        // The database restored from the backup; the server keeps its index.
        let restore = || async {
            exec(&t.db, "DELETE FROM search_outbox", &[]).await;
            restore_indexer_row(&t.db, "backed_up").await;
        };
        exec(&t.db, "DELETE FROM cases WHERE id = 'case-2'", &[]).await;
        restore().await;
        // The next turn, with nothing to apply, finds the index ahead of
        // the database and rebuilds it: the lost case is gone from it.
        assert_eq!(node.run_batch().await.unwrap_or_else(|e| panic!("{e}")), 0);
        assert_eq!(node.role(), civitas_search_indexer::Role::Applying);
        assert_eq!(ids(&node, "助餐").await, ["case:case-1"]);

        // A batch the database did not count (its commit failed) but whose
        // entries all wait: another node applies them again, no rebuild.
        exec(&t.db, "DROP TABLE backed_up", &[]).await;
        back_up_indexer_row(&t.db, "backed_up", Some("meilisearch")).await;
        insert_case(&t.db, "case-3", "310000/310115", "助餐补贴申请（三）", None, "{}").await;
        exec(&t.db, "CREATE TABLE waiting AS SELECT * FROM search_outbox", &[]).await;
        node.drain().await.unwrap_or_else(|e| panic!("{e}"));
        restore().await;
        insert_numbered_entries(&t.db, "SELECT seq, kind, doc, queued_at FROM waiting").await;
        let other = open().await;
        assert_eq!(other.run_batch().await.unwrap_or_else(|e| panic!("{e}")), 1, "applied, not rebuilt");
        assert_eq!(ids(&other, "助餐").await, ["case:case-1", "case:case-3"]);
        let status = other.status().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((status.pending, status.documents.total), (0, 2), "{status:?}");
        assert_eq!(status.index_applied, Some(status.applied));

        // A rebuild cut short (on any node) is done again by the next turn.
        other.mark_incomplete().await.unwrap_or_else(|e| panic!("{e}"));
        let before = row_batch(&t.db).await;
        assert_eq!(node.run_batch().await.unwrap_or_else(|e| panic!("{e}")), 0);
        assert!(!node.engine().is_incomplete());
        assert_ne!(row_batch(&t.db).await, before, "rebuilt under a token of its own");
        assert_eq!(ids(&node, "助餐").await, ["case:case-1", "case:case-3"]);

        // An index from before marks were kept, holding documents of rows:
        // it takes the row's count, without a rebuild ...
        exec(&t.db, "UPDATE search_indexers SET applied_batch = NULL WHERE backend = 'meilisearch'", &[]).await;
        // (The index that keeps the mark, opened as an index of its own to
        // empty it.)
        let marks = meili_index(server, &format!("{uid}_applied")).await;
        marks.clear(None).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(node.run_batch().await.unwrap_or_else(|e| panic!("{e}")), 0);
        assert_eq!(row_batch(&t.db).await, None, "adopted, not rebuilt");
        let status = node.status().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status.index_applied, Some(status.applied));
        // ... and a new server (no mark, no documents) is rebuilt.
        marks.clear(None).await.unwrap_or_else(|e| panic!("{e}"));
        node.engine().clear(None).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(node.run_batch().await.unwrap_or_else(|e| panic!("{e}")), 0);
        assert!(row_batch(&t.db).await.is_some(), "rebuilt");
        assert_eq!(ids(&node, "助餐").await, ["case:case-1", "case:case-3"]);
        // The marks index alone lost (its server's data in part): the
        // index holds nothing it can vouch for, documents or not — rebuilt.
        marks.delete().await.unwrap_or_else(|e| panic!("{e}"));
        let before = row_batch(&t.db).await;
        assert_eq!(node.run_batch().await.unwrap_or_else(|e| panic!("{e}")), 0);
        assert_ne!(row_batch(&t.db).await, before, "rebuilt, not adopted");
        assert_eq!(ids(&node, "助餐").await, ["case:case-1", "case:case-3"]);

        // The server loses its data under the running nodes (both indexes
        // gone): the next turn makes them again, with the index's settings
        // (the search below filters by reach), and rebuilds.
        let Engine::Meili(wiped) = open().await.engine().clone() else {
            panic!("a Meilisearch engine")
        };
        wiped.delete().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(node.run_batch().await.unwrap_or_else(|e| panic!("{e}")), 0);
        assert_eq!(ids(&node, "助餐").await, ["case:case-1", "case:case-3"]);
        insert_case(&t.db, "case-4", "310000/310115", "助餐补贴申请（四）", None, "{}").await;
        assert_eq!(node.run_batch().await.unwrap_or_else(|e| panic!("{e}")), 1);
        assert_eq!(ids(&node, "助餐").await, ["case:case-1", "case:case-3", "case:case-4"]);
        if let civitas_search::Engine::Meili(index) = node.engine().clone() {
            index.delete().await.unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
