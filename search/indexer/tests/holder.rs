//! One embedded index per database: the embedded index that holds the
//! outbox applies it; another node's stands by while the holder is seen,
//! and once it is not, rebuilds itself from the database and takes over,
//! so whichever index applies the changes holds every document.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use civitas_search::{Engine, Kind, Query, Reach, ReachEntry, TantivyIndex};
use civitas_search_indexer::holder::Holds;
use civitas_search_indexer::{Indexer, RebuildAt, Role};
use civitas_storage::Backend;
use civitas_tenancy::TenantPath;
use civitas_testkit::both_backends;
use common::*;

const WINDOW: Duration = Duration::from_secs(2);

fn node(db: &civitas_storage::Database, dir: &std::path::Path) -> Indexer {
    node_with_window(db, dir, WINDOW)
}

/// A node whose `--search-takeover-secs` is `window`.
fn node_with_window(
    db: &civitas_storage::Database,
    dir: &std::path::Path,
    window: Duration,
) -> Indexer {
    let index = TantivyIndex::open(dir).unwrap_or_else(|e| panic!("index: {e}"));
    let searchable = HashMap::from([(
        "civil-affairs/meal-subsidy".to_owned(),
        vec!["remarks".to_owned()],
    )]);
    Indexer::new(db.clone(), Engine::Tantivy(index), searchable).with_takeover_after(window)
}

/// What an operator does who copies a node's data directory to another.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{e}"));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{e}")) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap_or_else(|e| panic!("{e}"));
    }
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

/// Asserts that `indexer` takes the outbox as its index is: it applies,
/// and nothing was rebuilt.
async fn claims_as_it_is(indexer: &Indexer) {
    assert_eq!(
        indexer
            .claim(RebuildAt::Claim)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        (Role::Applying, None)
    );
}

/// A node whose index holds the outbox of a new database and has indexed
/// one case, `case-1`.
async fn holding_one_case(db: &civitas_storage::Database, dir: &std::path::Path) -> Indexer {
    let indexer = node(db, dir);
    claims_as_it_is(&indexer).await;
    insert_case(
        db,
        "case-1",
        "310000/310115",
        "助餐补贴申请（一）",
        None,
        "{}",
    )
    .await;
    indexer.drain().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cases_found(&indexer).await, ["case:case-1"]);
    indexer
}

async fn batch(indexer: &Indexer) -> usize {
    indexer.run_batch().await.unwrap_or_else(|e| panic!("{e}"))
}

both_backends! {
    async fn a_second_embedded_index_stands_by_and_takes_over_rebuilt_when_the_holder_is_gone(t) {
        let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // The first index on a database takes the outbox as it is.
        let a = holding_one_case(&t.db, &dirs.path().join("a")).await;
        let b = node(&t.db, &dirs.path().join("b"));
        assert_ne!(id_of(&a), id_of(&b), "each index has an id of its own");

        match t.db.backend() {
            Backend::Postgres => {
                // Another node's index stands by while the holder is seen,
                // even when nothing changes for longer than the window.
                let (role, rebuilt) = b.claim(RebuildAt::Claim).await.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(role, Role::StandingBy { holder: id_of(&a) });
                assert_eq!(rebuilt, None);
                let until = std::time::Instant::now() + WINDOW + WINDOW / 2;
                while std::time::Instant::now() < until {
                    assert_eq!(batch(&a).await, 0);
                    assert_eq!(batch(&b).await, 0);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                assert_eq!(b.role(), Role::StandingBy { holder: id_of(&a) });
                insert_case(&t.db, "case-2", "310000/310115", "助餐补贴申请（二）", None, "{}").await;
                assert_eq!(batch(&b).await, 0, "a standby index applies nothing");
                assert_eq!(b.drain().await.unwrap_or_else(|e| panic!("{e}")), 0, "nor waits for what it may not apply");
                assert_eq!(batch(&a).await, 1);
                assert!(cases_found(&b).await.is_empty());
                let status = b.status().await.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(status.holder.as_deref(), Some(id_of(&a).as_str()));
                assert_eq!(status.index_id.as_deref(), Some(id_of(&b).as_str()));
                assert_eq!(status.holds, None, "a standby is judged when it takes over");

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
                let (role, rebuilt) = b.claim(RebuildAt::Claim).await.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(role, Role::Applying);
                assert!(rebuilt.is_some());
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
        claims_as_it_is(&first).await;
        drop(first);
        // A restart (or kill -9) of the same node: nothing to rebuild, the
        // entries it has not applied wait for it.
        insert_case(&t.db, "case-1", "310000/310115", "助餐补贴申请", None, "{}").await;
        let again = node(&t.db, dirs.path());
        assert_eq!(id_of(&again), id);
        claims_as_it_is(&again).await;
        again.drain().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cases_found(&again).await, ["case:case-1"]);
        // An index recreated (another schema) is still this node's, to be
        // rebuilt; a directory made anew is another index.
        drop(again);
        let recreated = TantivyIndex::recreate(dirs.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(recreated.identity(), id);
        drop(recreated);
        let elsewhere = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let fresh = TantivyIndex::open(elsewhere.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(fresh.identity(), id);
    }

    async fn an_emptied_index_is_rebuilt_before_it_applies_however_it_holds_the_outbox(t) {
        let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let first = holding_one_case(&t.db, dirs.path()).await;
        drop(first);
        // Its node starts again on the index recreated empty (an older
        // schema): the same holder, but rebuilt before it applies.
        drop(TantivyIndex::recreate(dirs.path()).unwrap_or_else(|e| panic!("{e}")));
        let again = node(&t.db, dirs.path());
        let (role, rebuilt) = again.claim(RebuildAt::Claim).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(role, Role::Applying);
        assert_eq!(rebuilt.map(|r| r.by_kind.get("case").copied()), Some(Some(1)));
        assert_eq!(cases_found(&again).await, ["case:case-1"]);
    }

    async fn a_copy_of_the_holders_index_directory_stands_by_once_the_holder_applies_what_it_lacks(t) {
        let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let a = holding_one_case(&t.db, &dirs.path().join("a")).await;
        copy_dir(&dirs.path().join("a"), &dirs.path().join("b"));
        let b = node(&t.db, &dirs.path().join("b"));
        let id = id_of(&a);
        assert_eq!(id_of(&b), id, "to the database a copy is the same index");
        // Nothing applied since the copy: it holds what the holder holds.
        claims_as_it_is(&b).await;
        // The holder applies a change the copy does not hold: from then on
        // the copy, behind, applies nothing on top of what it lacks.
        insert_case(&t.db, "case-2", "310000/310115", "助餐补贴申请（二）", None, "{}").await;
        assert_eq!(batch(&a).await, 1);
        insert_case(&t.db, "case-3", "310000/310115", "助餐补贴申请（三）", None, "{}").await;
        assert_eq!(batch(&b).await, 0);
        assert_eq!(b.role(), Role::StandingBy { holder: id.clone() });
        assert_eq!(batch(&a).await, 1);
        assert_eq!(cases_found(&a).await, ["case:case-1", "case:case-2", "case:case-3"]);
        assert_eq!(cases_found(&b).await, ["case:case-1"]);
        let status = b.status().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((status.index_applied, status.applied), (Some(1), 3));

        if t.db.backend() == Backend::Postgres {
            // The holder gone for the window, the copy is rebuilt and takes
            // over; the holder, back, is behind in its turn and stands by.
            tokio::time::sleep(WINDOW + Duration::from_millis(200)).await;
            assert_eq!(batch(&b).await, 0);
            assert_eq!(b.role(), Role::Applying);
            assert_eq!(cases_found(&b).await, ["case:case-1", "case:case-2", "case:case-3"]);
            insert_case(&t.db, "case-4", "310000/310115", "助餐补贴申请（四）", None, "{}").await;
            b.drain().await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(batch(&a).await, 0);
            assert_eq!(a.role(), Role::StandingBy { holder: id });
            assert!(!cases_found(&a).await.contains(&"case:case-4".to_owned()));
        }
    }

    async fn a_node_whose_index_must_be_rebuilt_starts_at_once_and_rebuilds_on_its_first_turn(t) {
        let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let first = holding_one_case(&t.db, dirs.path()).await;
        let id = id_of(&first);
        drop(first);
        drop(TantivyIndex::recreate(dirs.path()).unwrap_or_else(|e| panic!("{e}")));
        // `serve` claims without waiting for the rebuild: the node is up,
        // and its searches answer "rebuilding" (the role says so) meanwhile.
        let again = node(&t.db, dirs.path());
        let (role, rebuilt) = again.claim(RebuildAt::NextTurn).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(role, Role::Rebuilding { previous: Some(id) });
        assert_eq!(rebuilt, None);
        assert!(cases_found(&again).await.is_empty());
        insert_case(&t.db, "case-2", "310000/310115", "助餐补贴申请（二）", None, "{}").await;
        // Its indexer's first turn rebuilds it, and the changes made
        // meanwhile are applied after.
        again.drain().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.role(), Role::Applying);
        assert!(!again.engine().is_incomplete());
        assert_eq!(cases_found(&again).await, ["case:case-1", "case:case-2"]);
    }

    async fn a_rebuild_that_fails_lets_go_of_the_outbox_at_once_and_is_tried_again_after_the_window(t) {
        let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        drop(holding_one_case(&t.db, dirs.path()).await);
        drop(TantivyIndex::recreate(dirs.path()).unwrap_or_else(|e| panic!("{e}")));
        let again = node(&t.db, dirs.path());
        let (role, _) = again.claim(RebuildAt::NextTurn).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(role, Role::Rebuilding { .. }), "{role:?}");
        // What the rebuild reads is missing (a fault of the database's).
        exec(&t.db, "ALTER TABLE residents RENAME TO residents_away", &[]).await;
        assert!(again.run_batch().await.is_err(), "the rebuild fails");
        assert!(matches!(again.role(), Role::Rebuilding { .. }));
        if t.db.backend() == Backend::Postgres {
            // The outbox's row was let go as the rebuild failed, not when
            // a task got round to rolling its transaction back.
            exec(&t.db, "SELECT backend FROM search_indexers FOR UPDATE NOWAIT", &[]).await;
        }
        exec(&t.db, "ALTER TABLE residents_away RENAME TO residents", &[]).await;
        // Not tried again at once ...
        assert_eq!(batch(&again).await, 0);
        assert!(matches!(again.role(), Role::Rebuilding { .. }));
        assert!(cases_found(&again).await.is_empty());
        // ... but once the window has passed.
        tokio::time::sleep(WINDOW + Duration::from_millis(200)).await;
        again.drain().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.role(), Role::Applying);
        assert_eq!(cases_found(&again).await, ["case:case-1"]);
    }

    async fn a_rebuild_cut_short_is_done_again_when_the_node_starts_again(t) {
        let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let first = holding_one_case(&t.db, dirs.path()).await;
        // What a rebuild does first — mark the index, clear it — and then
        // the node is killed.
        first.mark_incomplete().await.unwrap_or_else(|e| panic!("{e}"));
        first.engine().clear(None).await.unwrap_or_else(|e| panic!("{e}"));
        drop(first);
        // Started again on the same directory: the same holder, but the
        // mark says its documents are not all there.
        let again = node(&t.db, dirs.path());
        let (role, rebuilt) = again.claim(RebuildAt::Claim).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(role, Role::Applying);
        assert!(rebuilt.is_some(), "the cut-short rebuild is done again");
        assert_eq!(cases_found(&again).await, ["case:case-1"]);
        assert!(!again.engine().is_incomplete());
    }

    async fn a_holder_over_a_database_restored_to_an_earlier_point_is_rebuilt_and_holds_only_what_the_database_holds(t) {
        let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let a = holding_one_case(&t.db, dirs.path()).await;
        // A backup taken now (pg_dump, a base backup, SQLite's snapshot):
        // what it holds of the outbox's row.
        back_up_indexer_row(&t.db, "backed_up", None).await;
        // After it, a case is filed and the index applies it.
        insert_case(&t.db, "case-2", "310000/310115", "助餐补贴申请（二）", None, "{}").await;
        exec(&t.db, "CREATE TABLE lost AS SELECT seq FROM search_outbox", &[]).await;
        a.drain().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cases_found(&a).await, ["case:case-1", "case:case-2"]);
        // The database is restored from the backup, the index kept: the
        // case is gone, and so is every trace of it in the outbox — but the
        // restored database numbers a new change (to case-1) as it had
        // numbered case-2's.
        exec(&t.db, "DELETE FROM cases WHERE id = 'case-2'", &[]).await;
        exec(&t.db, "DELETE FROM search_outbox", &[]).await;
        insert_numbered_entries(&t.db, "SELECT seq, 'case', 'case-1', 0 FROM lost").await;
        restore_indexer_row(&t.db, "backed_up").await;
        // The operator's view: the index holds what the database lost.
        let status = a.status().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status.holds, Some(Holds::Ahead), "{status:?}");
        // The index holds a batch the database does not know. Whether its
        // node runs on (PostgreSQL: its next turn) or starts again, it is
        // rebuilt before it applies or answers anything, and then holds
        // what the database holds.
        if t.db.backend() == Backend::Postgres {
            assert_eq!(batch(&a).await, 0);
            assert_eq!(a.role(), Role::Applying);
            assert_eq!(cases_found(&a).await, ["case:case-1"]);
            assert_eq!(batch(&a).await, 1, "the new change is applied after");
            // Restored again, the node down meanwhile.
            insert_case(&t.db, "case-3", "310000/310115", "助餐补贴申请（三）", None, "{}").await;
            a.drain().await.unwrap_or_else(|e| panic!("{e}"));
            exec(&t.db, "DELETE FROM cases WHERE id = 'case-3'", &[]).await;
            exec(&t.db, "DELETE FROM search_outbox", &[]).await;
            restore_indexer_row(&t.db, "backed_up").await;
        }
        drop(a);
        let again = node(&t.db, dirs.path());
        let (role, rebuilt) = again.claim(RebuildAt::Claim).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(role, Role::Applying);
        assert_eq!(rebuilt.map(|r| r.by_kind.get("case").copied()), Some(Some(1)));
        assert_eq!(cases_found(&again).await, ["case:case-1"]);
        // From then on it applies as before, and a restart rebuilds nothing.
        insert_case(&t.db, "case-4", "310000/310115", "助餐补贴申请（四）", None, "{}").await;
        again.drain().await.unwrap_or_else(|e| panic!("{e}"));
        drop(again);
        let after = node(&t.db, dirs.path());
        claims_as_it_is(&after).await;
        assert_eq!(cases_found(&after).await, ["case:case-1", "case:case-4"]);
        let status = after.status().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((status.holds, status.incomplete), (Some(Holds::All), false));
    }

    async fn an_index_rebuilt_after_a_backup_is_rebuilt_again_when_the_backup_is_restored(t) {
        let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        drop(holding_one_case(&t.db, dirs.path()).await);
        // A case is filed while the node is down, and a backup is taken.
        insert_case(&t.db, "case-2", "310000/310115", "助餐补贴申请（二）", None, "{}").await;
        back_up_indexer_row(&t.db, "backed_up", None).await;
        exec(&t.db, "CREATE TABLE waiting AS SELECT * FROM search_outbox", &[]).await;
        // Another case is filed, and the node starts on an index that must
        // be rebuilt: the rebuild reads both cases as they are at its end,
        // before their entries are applied.
        insert_case(&t.db, "case-3", "310000/310115", "助餐补贴申请（三）", None, "{}").await;
        drop(TantivyIndex::recreate(dirs.path()).unwrap_or_else(|e| panic!("{e}")));
        let rebuilt = node(&t.db, dirs.path());
        let (role, done) = rebuilt.claim(RebuildAt::Claim).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((role, done.is_some()), (Role::Applying, true));
        assert_eq!(cases_found(&rebuilt).await, ["case:case-1", "case:case-2", "case:case-3"]);
        drop(rebuilt);
        // The database is restored from the backup: case-3 is lost, case-2
        // waits in the outbox as it did then. The rebuild passes for no
        // batch the restored database knows: the index is rebuilt again.
        exec(&t.db, "DELETE FROM cases WHERE id = 'case-3'", &[]).await;
        exec(&t.db, "DELETE FROM search_outbox", &[]).await;
        insert_numbered_entries(&t.db, "SELECT seq, kind, doc, queued_at FROM waiting").await;
        restore_indexer_row(&t.db, "backed_up").await;
        let again = node(&t.db, dirs.path());
        let (role, done) = again.claim(RebuildAt::Claim).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((role, done.is_some()), (Role::Applying, true));
        again.drain().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cases_found(&again).await, ["case:case-1", "case:case-2"]);
    }

    async fn a_batch_whose_database_commit_failed_is_applied_again_without_a_rebuild(t) {
        let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let a = holding_one_case(&t.db, dirs.path()).await;
        back_up_indexer_row(&t.db, "counted", None).await;
        exec(&t.db, "CREATE TABLE waiting AS SELECT * FROM search_outbox", &[]).await;
        insert_case(&t.db, "case-2", "310000/310115", "助餐补贴申请（二）", None, "{}").await;
        exec(&t.db, "INSERT INTO waiting SELECT * FROM search_outbox", &[]).await;
        a.drain().await.unwrap_or_else(|e| panic!("{e}"));
        // As if the database's commit of that batch had failed after the
        // index committed and marked it: the row counts it not, and its
        // entries wait in the outbox.
        restore_indexer_row(&t.db, "counted").await;
        // Put back as they were, numbers and all.
        insert_numbered_entries(&t.db, "SELECT seq, kind, doc, queued_at FROM waiting").await;
        drop(a);
        let again = node(&t.db, dirs.path());
        claims_as_it_is(&again).await;
        assert_eq!(again.drain().await.unwrap_or_else(|e| panic!("{e}")), 1);
        assert_eq!(cases_found(&again).await, ["case:case-1", "case:case-2"]);
        let status = again.status().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((status.index_applied, status.applied, status.pending), (Some(2), 2, 0));
    }

    async fn entries_applied_before_holders_were_recorded_mean_a_rebuild(t) {
        let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let old = node(&t.db, &dirs.path().join("old"));
        insert_case(&t.db, "case-1", "310000/310115", "助餐补贴申请", None, "{}").await;
        old.drain().await.unwrap_or_else(|e| panic!("{e}"));
        // The database as an earlier version left it (migration 0033 adds
        // the columns empty): entries applied, by no index anyone recorded.
        exec(&t.db, "UPDATE search_indexers SET index_id = NULL, seen_at = NULL", &[]).await;
        let new = node(&t.db, &dirs.path().join("new"));
        let (role, rebuilt) = new.claim(RebuildAt::Claim).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(role, Role::Applying);
        assert!(rebuilt.is_some(), "whatever the earlier index applied, this one rebuilds");
        assert_eq!(cases_found(&new).await, ["case:case-1"]);
    }
}

#[tokio::test]
async fn a_rebuild_that_takes_over_moves_the_holder_at_once_and_loses_nothing() {
    let Some(t) = civitas_testkit::TestDb::postgres().await else {
        return;
    };
    let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let a = holding_one_case(&t.db, &dirs.path().join("a")).await;
    // A long window: without taking over, b would wait out the minute.
    let b = node_with_window(&t.db, &dirs.path().join("b"), Duration::from_secs(60));
    let (role, _) = b
        .claim(RebuildAt::Claim)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(role, Role::StandingBy { holder: id_of(&a) });
    insert_case(
        &t.db,
        "case-2",
        "310000/310115",
        "助餐补贴申请（二）",
        None,
        "{}",
    )
    .await;
    assert_eq!(batch(&a).await, 1);
    // A plain rebuild leaves the holder seen where it is ...
    b.rebuild(None, |_, _| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.role(), Role::StandingBy { holder: id_of(&a) });
    // ... taking over moves it now, the holder still seen.
    b.rebuild_and_take_over(|_, _| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.role(), Role::Applying);
    assert_eq!(cases_found(&b).await, ["case:case-1", "case:case-2"]);
    insert_case(
        &t.db,
        "case-3",
        "310000/310115",
        "助餐补贴申请（三）",
        None,
        "{}",
    )
    .await;
    assert_eq!(batch(&a).await, 0, "the former holder applies nothing");
    assert_eq!(a.role(), Role::StandingBy { holder: id_of(&b) });
    assert_eq!(batch(&b).await, 1);
    assert_eq!(
        cases_found(&b).await,
        ["case:case-1", "case:case-2", "case:case-3"]
    );
    let status = b.status().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((status.holds, status.pending), (Some(Holds::All), 0));
}

#[tokio::test]
async fn a_holder_kept_from_its_turns_for_a_window_answers_no_searches_until_its_next_turn() {
    let Some(t) = civitas_testkit::TestDb::postgres().await else {
        return;
    };
    let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let a = node(&t.db, dirs.path());
    claims_as_it_is(&a).await;
    // Another node's takeover holds the row (its rebuild) for longer than
    // the window: this holder cannot tell whether it still holds the outbox.
    let mut takeover =
        t.db.begin_platform()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    civitas_storage::with_connection!(takeover.connection(), c => {
        sqlx::query("SELECT backend FROM search_indexers WHERE backend = 'tantivy' FOR UPDATE")
            .execute(&mut *c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
    let until = std::time::Instant::now() + WINDOW + Duration::from_millis(300);
    while std::time::Instant::now() < until {
        assert_eq!(batch(&a).await, 0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(a.role(), Role::Waiting);
    // The row let go with the holder unchanged: its next turn applies.
    takeover.commit().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(batch(&a).await, 0);
    assert_eq!(a.role(), Role::Applying);
}

#[tokio::test]
async fn a_rebuild_elsewhere_leaves_a_holder_seen_as_it_began_the_holder() {
    let Some(t) = civitas_testkit::TestDb::postgres().await else {
        return;
    };
    let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let a = node(&t.db, &dirs.path().join("a"));
    let b = node(&t.db, &dirs.path().join("b"));
    claims_as_it_is(&a).await;
    let seen_before = a
        .status()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .holder_seen_at;
    // `civitas search reindex` on a standby node's directory: its index is
    // rebuilt but stands by, and the holder, which could not say it was
    // there while the rebuild held the row, is vouched for.
    tokio::time::sleep(Duration::from_millis(50)).await;
    b.rebuild(None, |_, _| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.role(), Role::StandingBy { holder: id_of(&a) });
    let status = b.status().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status.holder.as_deref(), Some(id_of(&a).as_str()));
    assert!(
        status.holder_seen_at > seen_before,
        "{status:?} after {seen_before:?}"
    );
    insert_case(&t.db, "case-1", "310000/310115", "助餐补贴申请", None, "{}").await;
    assert_eq!(batch(&a).await, 1);
    assert_eq!(a.role(), Role::Applying);
}

#[tokio::test]
async fn a_standby_waits_out_the_window_the_holder_recorded_not_its_own() {
    let Some(t) = civitas_testkit::TestDb::postgres().await else {
        return;
    };
    let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let holder_window = Duration::from_secs(3);
    let a = node_with_window(&t.db, &dirs.path().join("a"), holder_window);
    claims_as_it_is(&a).await;
    // A node set to take over after 1 s, started beside a holder that said
    // 3 s: unseen for longer than 1 s, the holder is still presumed alive.
    let b = node_with_window(&t.db, &dirs.path().join("b"), Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(batch(&b).await, 0);
    assert_eq!(b.role(), Role::StandingBy { holder: id_of(&a) });
    // Past the holder's own window, it takes over.
    tokio::time::sleep(holder_window).await;
    assert_eq!(batch(&b).await, 0);
    assert_eq!(b.role(), Role::Applying);
}
