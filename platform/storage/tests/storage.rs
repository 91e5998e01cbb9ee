//! The repository layer, specified against both SQLite and PostgreSQL.

use civitas_storage::{Backend, Database, StorageError, TenantScope, with_connection};
use civitas_tenancy::{Source, TenantPath, TenantTree};
use civitas_testkit::{TestDb, both_backends, demo_tree};
use serde_json::json;
use sqlx::Row;

fn path(s: &str) -> TenantPath {
    TenantPath::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

/// A tree with settings in two districts and one street, for scoping tests.
fn tree_with_settings() -> TenantTree {
    let lines =
        "[[line]]\ncode = \"civil-affairs\"\nname = \"民政\"\nname_en = \"Civil affairs\"\n";
    let node = |code: &str, level: &str, parent: Option<&str>, slug: &str, amount: u32| {
        let parent = parent
            .map(|p| format!("parent = \"{p}\"\n"))
            .unwrap_or_default();
        format!(
            "code = \"{code}\"\nlevel = \"{level}\"\n{parent}name = \"{slug}\"\nname_en = \"{slug}\"\nslug = \"{slug}\"\n\n[settings]\n\"meal-subsidy.amount\" = {amount}\n"
        )
    };
    TenantTree::from_sources(vec![
        Source::new("lines.toml", lines),
        Source::new("a.toml", node("310000", "city", None, "shanghai", 100)),
        Source::new(
            "b.toml",
            node("310115", "district", Some("310000"), "pudong", 300),
        ),
        Source::new(
            "c.toml",
            node("310115005", "street", Some("310115"), "lujiazui", 320),
        ),
        Source::new(
            "d.toml",
            node("310101", "district", Some("310000"), "huangpu", 250),
        ),
        Source::new(
            "e.toml",
            node(
                "310101002",
                "street",
                Some("310101"),
                "nanjing-dong-lu",
                260,
            ),
        ),
    ])
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn synced(t: &TestDb, tree: &TenantTree) {
    t.db.sync_tenants(tree)
        .await
        .unwrap_or_else(|e| panic!("sync: {e}"));
}

both_backends! {
    async fn a_migrated_database_is_ready(t) {
        let readiness = t.db.readiness().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(readiness.is_ready(), "{readiness:?}");
        assert_eq!(t.db.migrate().await.unwrap_or_else(|e| panic!("{e}")), 0, "migrating again applies nothing");
    }

    async fn the_tree_loads_and_is_addressable_by_path_and_slug(t) {
        let tree = demo_tree();
        let report = t.db.sync_tenants(&tree).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.tenants, tree.len());
        let stored = t.db.tenants().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stored.len(), tree.len());
        assert_eq!(stored[0].path.as_str(), "310000", "parents come before children");
        let by_slug = t.db.tenant("shanghai/pudong/lujiazui").await.unwrap_or_else(|e| panic!("{e}"));
        let by_path = t.db.tenant("310000/310115/310115005").await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(by_slug, by_path);
        let lujiazui = by_slug.unwrap_or_else(|| panic!("lujiazui not found"));
        assert_eq!(lujiazui.name, "陆家嘴街道");
        assert_eq!(lujiazui.parent, Some(path("310000/310115")));
        assert!(t.db.tenant("shanghai/nowhere").await.unwrap_or_else(|e| panic!("{e}")).is_none());
    }

    async fn syncing_twice_changes_nothing_and_removed_nodes_are_retired(t) {
        let tree = tree_with_settings();
        let first = t.db.sync_tenants(&tree).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.settings_written, 5);
        let second = t.db.sync_tenants(&tree).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((second.settings_written, second.settings_removed, second.retired), (0, 0, 0));

        let smaller = TenantTree::from_sources(vec![
            Source::new("lines.toml", "[[line]]\ncode = \"x\"\nname = \"x\"\nname_en = \"x\"\n"),
            Source::new("a.toml", "code = \"310000\"\nlevel = \"city\"\nname = \"上海市\"\nname_en = \"Shanghai\"\nslug = \"shanghai\"\n"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let third = t.db.sync_tenants(&smaller).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(third.retired, 4);
        assert_eq!(third.settings_removed, 1, "the city's own setting is no longer configured");
        let active = t.db.tenants().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(active.len(), 1);
        assert!(t.db.tenant("shanghai/pudong").await.unwrap_or_else(|e| panic!("{e}")).is_none());
    }

    async fn a_scope_reads_exactly_its_subtree(t) {
        synced(&t, &tree_with_settings()).await;
        let mut tx = t.db.begin_read(&TenantScope::for_platform_task(path("310000/310115"))).await.unwrap_or_else(|e| panic!("{e}"));
        let settings = tx.settings().await.unwrap_or_else(|e| panic!("{e}"));
        let seen: Vec<(&str, &serde_json::Value)> = settings.iter().map(|s| (s.tenant_path.as_str(), &s.value)).collect();
        assert_eq!(seen, [("310000/310115", &json!(300)), ("310000/310115/310115005", &json!(320))]);

        let mut city = t.db.begin_read(&TenantScope::for_platform_task(path("310000"))).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(city.settings().await.unwrap_or_else(|e| panic!("{e}")).len(), 5);
    }

    async fn concurrent_read_then_write_transactions_all_commit(t) {
        // On SQLite a deferred transaction that read before another writer
        // committed would fail with a stale snapshot; writes take the lock first.
        synced(&t, &tree_with_settings()).await;
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let db = t.db.clone();
                tokio::spawn(async move {
                    let mut tx = db.begin(&TenantScope::for_platform_task(path("310000/310115"))).await.unwrap_or_else(|e| panic!("{e}"));
                    let n = tx.settings().await.unwrap_or_else(|e| panic!("{e}")).len();
                    tokio::task::yield_now().await;
                    tx.put_setting(&path("310000/310115"), &format!("k{i}"), &json!(n)).await.unwrap_or_else(|e| panic!("{e}"));
                    tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap_or_else(|e| panic!("{e}"));
        }
        let mut tx = t.db.begin_read(&TenantScope::for_platform_task(path("310000/310115"))).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tx.settings().await.unwrap_or_else(|e| panic!("{e}")).len(), 2 + 8);
    }

    async fn a_read_transaction_cannot_write_on_postgres(t) {
        synced(&t, &tree_with_settings()).await;
        let mut tx = t.db.begin_read(&TenantScope::for_platform_task(path("310000/310115"))).await.unwrap_or_else(|e| panic!("{e}"));
        let written = tx.put_setting(&path("310000/310115"), "hotline", &json!("12345")).await;
        if t.db.backend() == Backend::Postgres {
            assert!(written.is_err(), "READ ONLY refuses the write");
        }
    }

    async fn a_scope_refuses_to_write_outside_its_subtree(t) {
        synced(&t, &tree_with_settings()).await;
        let mut tx = t.db.begin(&TenantScope::for_platform_task(path("310000/310115"))).await.unwrap_or_else(|e| panic!("{e}"));
        tx.put_setting(&path("310000/310115/310115005"), "hotline", &json!("12345")).await.unwrap_or_else(|e| panic!("{e}"));
        let refused = tx.put_setting(&path("310000/310101"), "hotline", &json!("12345")).await;
        assert!(matches!(refused, Err(StorageError::OutOfScope { .. })), "{refused:?}");
        tx.commit().await.unwrap_or_else(|e| panic!("{e}"));

        let mut check = t.db.begin(&TenantScope::for_platform_task(path("310000"))).await.unwrap_or_else(|e| panic!("{e}"));
        let keys: Vec<String> = check.settings().await.unwrap_or_else(|e| panic!("{e}")).into_iter().map(|s| format!("{}:{}", s.tenant_path, s.key)).collect();
        assert!(keys.contains(&"310000/310115/310115005:hotline".to_owned()));
        assert!(!keys.contains(&"310000/310101:hotline".to_owned()));
    }

    async fn a_dropped_transaction_rolls_back(t) {
        synced(&t, &tree_with_settings()).await;
        let scope = TenantScope::for_platform_task(path("310000/310101"));
        {
            let mut tx = t.db.begin(&scope).await.unwrap_or_else(|e| panic!("{e}"));
            tx.put_setting(&path("310000/310101"), "draft", &json!(true)).await.unwrap_or_else(|e| panic!("{e}"));
        }
        let mut tx = t.db.begin(&scope).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(tx.settings().await.unwrap_or_else(|e| panic!("{e}")).iter().all(|s| s.key != "draft"));
    }

    async fn subtree_queries_use_the_tenant_path_index(t) {
        synced(&t, &tree_with_settings()).await;
        let mut tx = t.db.begin(&TenantScope::for_platform_task(path("310000/310115"))).await.unwrap_or_else(|e| panic!("{e}"));
        let plan: String = with_connection!(tx.connection(), c => {
            let explain = match t.db.backend() {
                Backend::Sqlite => "EXPLAIN QUERY PLAN SELECT key FROM tenant_settings WHERE tenant_path >= $1 AND tenant_path < $2",
                Backend::Postgres => {
                    // The table is tiny, so forbid the sequential scan the
                    // planner would rightly prefer, to show the index serves.
                    sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *c).await.unwrap_or_else(|e| panic!("{e}"));
                    "EXPLAIN SELECT key FROM tenant_settings WHERE tenant_path >= $1 AND tenant_path < $2"
                }
            };
            let rows = sqlx::query(explain).bind("310000/310115").bind("310000/3101150").fetch_all(&mut *c).await.unwrap_or_else(|e| panic!("{e}"));
            rows.iter().map(|r| {
                let column = if t.db.backend() == Backend::Sqlite { 3 } else { 0 };
                r.try_get::<String, _>(column).unwrap_or_default()
            }).collect::<Vec<_>>().join("\n")
        });
        assert!(plan.contains("INDEX") || plan.contains("Index"), "plan does not use an index:\n{plan}");
        assert!(!plan.contains("SCAN tenant_settings\n") && !plan.contains("Seq Scan"), "{plan}");
    }
}

/// On PostgreSQL, row-level security is the second wall: a query in a
/// tenant transaction that forgets its tenant filter still sees only its
/// subtree, and a connection in the application role without a tenant sees
/// nothing.
#[tokio::test]
async fn postgres_row_level_security_hides_other_tenants_from_unfiltered_queries() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    synced(&t, &tree_with_settings()).await;

    let mut tx =
        t.db.begin(&TenantScope::for_platform_task(path("310000/310115")))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let (rows, foreign_insert) = with_connection!(tx.connection(), c => {
        // No WHERE clause: a forgotten tenant filter.
        let rows: Vec<String> = sqlx::query_scalar("SELECT tenant_path FROM tenant_settings ORDER BY tenant_path")
            .fetch_all(&mut *c).await.unwrap_or_else(|e| panic!("{e}"));
        let foreign = sqlx::query("INSERT INTO tenant_settings (tenant_path, key, value, updated_at) VALUES ('310000/310101', 'k', '1', now())")
            .execute(&mut *c).await;
        (rows, foreign.map(|_| ()))
    });
    assert_eq!(rows, ["310000/310115", "310000/310115/310115005"]);
    let denied = foreign_insert.expect_err("RLS must refuse a row outside the scope");
    assert!(
        denied.to_string().contains("row-level security"),
        "{denied}"
    );
    drop(tx);

    // The application role with no tenant path set sees no tenant rows.
    let pool = sqlx::PgPool::connect(&t.url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut raw = pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("SET LOCAL ROLE civitas_app")
        .execute(&mut *raw)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_settings")
        .fetch_one(&mut *raw)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count, 0);
    let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(&mut *raw)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tenants, 5, "the tree itself is public metadata");
    raw.rollback().await.unwrap_or_else(|e| panic!("{e}"));
    pool.close().await;
}

#[tokio::test]
async fn a_fresh_database_is_not_ready_until_migrated() {
    let dir = tempfile_dir();
    let url = format!("sqlite:{}", dir.join("fresh.db").display());
    let db = Database::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let before = db.readiness().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!before.is_ready());
    assert!(before.pending_migrations >= 1);
    assert_eq!(
        db.migrate().await.unwrap_or_else(|e| panic!("{e}")),
        before.pending_migrations
    );
    assert!(
        db.readiness()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_ready()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn an_unsupported_url_is_a_clear_error() {
    let error = Database::connect("mysql://root@127.0.0.1/test")
        .await
        .expect_err("mysql is refused");
    assert!(
        error.to_string().contains("unsupported database URL"),
        "{error}"
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("civitas-storage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

/// A small tree for revision plans: Shanghai, Pudong with Lujiazui and a
/// unit under it, Huangpu with Nanjing East Road; `changes` replaces or
/// drops files by name.
fn revision_tree(changes: &[(&str, Option<&str>)]) -> (Vec<Source>, TenantTree) {
    let levels = std::fs::read_to_string(civitas_testkit::tenants_dir().join("levels.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut files: Vec<(String, String)> = vec![
        ("levels.toml".into(), levels),
        ("lines.toml".into(), "[[line]]\ncode = \"civil-affairs\"\nname = \"民政\"\nname_en = \"Civil affairs\"\n[[line]]\ncode = \"market-regulation\"\nname = \"市场监管\"\nname_en = \"Market regulation\"\n".into()),
        ("a.toml".into(), "code = \"310000\"\nlevel = \"city\"\nname = \"上海市\"\nname_en = \"Shanghai\"\nslug = \"shanghai\"\n".into()),
        ("b.toml".into(), "code = \"310115\"\nlevel = \"district\"\nparent = \"310000\"\nname = \"浦东新区\"\nname_en = \"Pudong\"\nslug = \"pudong\"\nlines = [\"civil-affairs\"]\n".into()),
        ("c.toml".into(), "code = \"310115005\"\nlevel = \"street\"\nparent = \"310115\"\nname = \"陆家嘴街道\"\nname_en = \"Lujiazui\"\nslug = \"lujiazui\"\nlines = [\"civil-affairs\"]\n[settings]\n\"meal-subsidy.local-top-up\" = 200\n".into()),
        ("d.toml".into(), "code = \"U-LJZ01\"\nlevel = \"unit\"\nparent = \"310115005\"\nname = \"受理服务中心\"\nname_en = \"Service centre\"\nslug = \"service-centre\"\n".into()),
        ("e.toml".into(), "code = \"310101\"\nlevel = \"district\"\nparent = \"310000\"\nname = \"黄浦区\"\nname_en = \"Huangpu\"\nslug = \"huangpu\"\n".into()),
        ("f.toml".into(), "code = \"310101002\"\nlevel = \"street\"\nparent = \"310101\"\nname = \"南京东路街道\"\nname_en = \"Nanjing East Road\"\nslug = \"nanjing-dong-lu\"\n".into()),
    ];
    for (name, text) in changes {
        files.retain(|(n, _)| n != name);
        if let Some(text) = text {
            files.push(((*name).to_owned(), (*text).to_owned()));
        }
    }
    let sources: Vec<Source> = files.into_iter().map(|(n, t)| Source::new(n, t)).collect();
    let tree = TenantTree::from_sources(sources.clone()).unwrap_or_else(|e| panic!("{e}"));
    (sources, tree)
}

both_backends! {
    async fn a_revision_plan_names_additions_moves_renames_deactivations_and_reconfigurations(t) {
        use civitas_storage::TreeChange;
        let (_, before) = revision_tree(&[]);
        synced(&t, &before).await;
        let (_, after) = revision_tree(&[
            // The unit moves from Lujiazui to Nanjing East Road.
            ("d.toml", Some("code = \"U-LJZ01\"\nlevel = \"unit\"\nparent = \"310101002\"\nname = \"受理服务中心\"\nname_en = \"Service centre\"\nslug = \"service-centre\"\n")),
            // Lujiazui: a new name, a line more, a new top-up.
            ("c.toml", Some("code = \"310115005\"\nlevel = \"street\"\nparent = \"310115\"\nname = \"陆家嘴街道办事处\"\nname_en = \"Lujiazui\"\nslug = \"lujiazui\"\nlines = [\"civil-affairs\", \"market-regulation\"]\n[settings]\n\"meal-subsidy.local-top-up\" = 300\n")),
            // Huamu is new; Nanjing East Road's sibling list otherwise unchanged.
            ("g.toml", Some("code = \"310115016\"\nlevel = \"street\"\nparent = \"310115\"\nname = \"花木街道\"\nname_en = \"Huamu\"\nslug = \"huamu\"\n")),
        ]);
        let records = t.db.tenants().await.unwrap_or_else(|e| panic!("{e}"));
        let settings = t.db.configured_settings().await.unwrap_or_else(|e| panic!("{e}"));
        let changes = civitas_storage::plan_tree_changes(&records, &settings, &after);
        let kinds: Vec<&str> = changes.iter().map(TreeChange::kind).collect();
        let serialised: Vec<String> = changes
            .iter()
            .map(|c| serde_json::to_value(c).unwrap_or_default()["kind"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(kinds, serialised, "kind() names what JSON says");
        assert_eq!(kinds, ["moved", "renamed", "reconfigured", "added"], "{changes:#?}");
        assert!(matches!(&changes[2], TreeChange::Reconfigured { lines_added, settings, .. }
            if lines_added == &["market-regulation"] && settings.len() == 1
                && settings[0].from == Some(json!(200)) && settings[0].to == Some(json!(300))));
        assert!(matches!(&changes[0], TreeChange::Moved { from, to, .. }
            if from.as_str() == "310000/310115/310115005/U-LJZ01"
                && to.as_str() == "310000/310101/310101002/U-LJZ01"));
        assert_eq!(changes[0].retires(), Some(&path("310000/310115/310115005/U-LJZ01")));

        // Dropping Nanjing East Road (and so the unit under it) deactivates both.
        let (_, smaller) = revision_tree(&[("f.toml", None), ("d.toml", None)]);
        let changes = civitas_storage::plan_tree_changes(&records, &settings, &smaller);
        let retired: Vec<&str> = changes.iter().filter_map(|c| c.retires()).map(TenantPath::as_str).collect();
        assert_eq!(retired, ["310000/310101/310101002", "310000/310115/310115005/U-LJZ01"]);
    }

    async fn revisions_are_numbered_without_gaps_and_a_stale_one_writes_nothing(t) {
        use civitas_storage::{Applied, NewTreeRevision};
        let (sources, tree) = revision_tree(&[]);
        let changes = json!([]);
        let revision = |n: i64, digest: &'static str| NewTreeRevision {
            revision: n,
            digest,
            sources: &sources,
            signature: None,
            changes: &changes,
            applied_by: "test",
        };
        assert_eq!(t.db.tree_revision_head().await.unwrap_or_else(|e| panic!("{e}")), None);
        let first = t.db.apply_tree_revision(&tree, &revision(1, "d1")).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(first, Applied::Stored(ref report) if report.tenants == tree.len()), "{first:?}");
        assert_eq!(t.db.apply_tree_revision(&tree, &revision(1, "other")).await.unwrap_or_else(|e| panic!("{e}")), Applied::Stale);
        assert_eq!(t.db.apply_tree_revision(&tree, &revision(3, "gap")).await.unwrap_or_else(|e| panic!("{e}")), Applied::Stale);

        // A move keeps the code under a new path (codes are unique among
        // active nodes only): the old row is retired, the new one active.
        let (moved_sources, moved) = revision_tree(&[
            ("d.toml", Some("code = \"U-LJZ01\"\nlevel = \"unit\"\nparent = \"310101002\"\nname = \"受理服务中心\"\nname_en = \"Service centre\"\nslug = \"service-centre\"\n")),
        ]);
        let second = NewTreeRevision { revision: 2, digest: "d2", sources: &moved_sources, ..revision(2, "d2") };
        let stored = t.db.apply_tree_revision(&moved, &second).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(stored, Applied::Stored(ref report) if report.retired == 1), "{stored:?}");
        assert!(t.db.tenant("310000/310101/310101002/U-LJZ01").await.unwrap_or_else(|e| panic!("{e}")).is_some());
        assert!(t.db.tenant("310000/310115/310115005/U-LJZ01").await.unwrap_or_else(|e| panic!("{e}")).is_none());

        let head = t.db.tree_revision_head().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(head.map(|h| (h.revision, h.digest)), Some((2, "d2".to_owned())));
        assert_eq!(t.db.tree_revision_with_digest("d1").await.unwrap_or_else(|e| panic!("{e}")), Some(1));
        let stored = t.db.tree_revision(2).await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("revision 2"));
        assert_eq!(stored.sources, moved_sources, "the files come back as they were stored");
    }
}
