//! `civitas search`: rebuild the index from the database, and show how far
//! behind it is.

use civitas::config::Settings;
use civitas::exit;
use civitas_search_indexer::Role;
use civitas_storage::Database;
use civitas_tenancy::TenantPath;
use clap::Subcommand;

use crate::progress;

/// `civitas search …`
#[derive(Debug, Subcommand)]
pub enum SearchCommand {
    /// Rebuild the index (of one subtree, or all) from the database, with the catalog's services.
    /// Stop the server first when the index is the embedded one (it holds the index's lock).
    /// On the embedded index the rebuilt documents are committed together at the end: until
    /// then searches find none of the subtree's documents.
    #[command(after_help = "Examples:\n  \
        civitas search reindex\n  \
        civitas search reindex --tenant shanghai/pudong --json\n  \
        civitas search reindex --take-over\n  \
        civitas search --meili-url http://127.0.0.1:7700 reindex\n\n\
        Exit codes: 0 rebuilt, 1 the index failed, 3 invalid tenant or configuration, 4 database.")]
    Reindex {
        /// Only this tenant's subtree (a path of codes or slugs) [default: everything].
        #[arg(long, value_name = "PATH")]
        tenant: Option<String>,
        /// The tenants directory (catalog and flows) [default: tenants].
        #[arg(long, value_name = "DIR")]
        tenants_dir: Option<std::path::PathBuf>,
        /// Print the result as JSON (no progress bar).
        #[arg(long)]
        json: bool,
        /// After rebuilding, this node's embedded index holds the database's outbox even while
        /// another node's is seen holding it (that one stands by at its next turn): moves the
        /// holder without waiting --search-takeover-secs. Rebuilds the whole index; stop this
        /// node's server first.
        #[arg(long, conflicts_with = "tenant")]
        take_over: bool,
    },
    /// Show the backend, the changes not indexed yet and their age, the documents by kind, and
    /// whether the index holds what the database counts (after a restore it may not).
    #[command(
        after_help = "Examples:\n  civitas search status\n  civitas search status --json\n\n\
        Exit codes: 0 up to date, 1 behind (the oldest change waits over a minute), to be rebuilt \
        (it does not hold what the database counts) or the index failed, 4 database."
    )]
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `command` on `db`.
pub async fn run(db: &Database, settings: &Settings, command: SearchCommand) -> anyhow::Result<u8> {
    match command {
        SearchCommand::Reindex {
            tenant,
            tenants_dir,
            json,
            take_over,
        } => {
            if take_over
                && matches!(
                    settings.search,
                    civitas::search::SearchConfig::Meilisearch { .. }
                )
            {
                eprintln!(
                    "错误 (error): --take-over 只用于内置索引；Meilisearch 索引由所有节点共用，没有持有者 (--take-over is for the embedded index; a Meilisearch index is every node's and has no holder)"
                );
                return Ok(exit::CONFIG);
            }
            let mut settings = settings.clone();
            if let Some(dir) = tenants_dir {
                settings.tenants_dir = dir;
            }
            let civitas::serve::Offline {
                tree,
                modules,
                workflow,
            } = match civitas::serve::offline(&settings) {
                Ok(started) => started,
                Err(e) => {
                    eprintln!("错误 (error): {e}");
                    return Ok(exit::CONFIG);
                }
            };
            let subtree = match &tenant {
                None => None,
                Some(reference) => match tree.resolve(reference) {
                    Some(t) => Some(t.path.clone()),
                    None => {
                        eprintln!("错误 (error): 没有这个租户 (no such tenant): {reference}");
                        return Ok(exit::CONFIG);
                    }
                },
            };
            let roots: Vec<TenantPath> = tree.roots().map(|t| t.path.clone()).collect();
            let indexer = match civitas::search::start_indexer(
                &settings.search,
                db,
                &modules,
                &workflow,
                &roots,
                std::time::Duration::from_secs(settings.search_takeover_secs),
                // Rebuilt below, with a progress bar.
                civitas_search_indexer::RebuildAt::NextTurn,
            )
            .await
            {
                Ok(started) => started,
                Err(e) => {
                    eprintln!("错误 (error): {e}");
                    return Ok(exit::FAILURE);
                }
            };
            let subtree = match subtree {
                // The index must be rebuilt whole before it applies (not
                // complete, behind, or taking over): a subtree alone would
                // leave it so.
                Some(asked)
                    if indexer.engine().is_incomplete()
                        || matches!(indexer.role(), Role::Rebuilding { .. }) =>
                {
                    eprintln!(
                        "注意 (note): 索引须整体重建，重建全部而非 {asked} (the index must be rebuilt whole: rebuilding all of it, not only {asked})"
                    );
                    None
                }
                subtree => subtree,
            };
            let bar = progress::bar(0, json);
            bar.set_message("重建索引 (reindexing)");
            let progress = |done, total| {
                bar.set_length(total);
                bar.set_position(done);
                if done == total {
                    // Every row is staged; the rebuild ends by committing
                    // them and waiting for the index's merges.
                    bar.set_message("提交并合并索引段 (committing and merging segments)");
                }
            };
            let rebuilt = if take_over {
                indexer.rebuild_and_take_over(progress).await
            } else {
                indexer.rebuild(subtree.as_ref(), progress).await
            };
            bar.finish_and_clear();
            if let Role::StandingBy { holder } = indexer.role() {
                eprintln!(
                    "注意 (note): 本索引已重建但待命，另一节点的内置索引 {holder} 接收此数据库的变更；--take-over 可接管 (this index is rebuilt but stands by: another node's embedded index applies this database's changes; --take-over takes them over)"
                );
            }
            // Services come from the catalog, not from rows: the rebuild
            // writes again those start_indexer wrote.
            match rebuilt {
                Ok(rebuilt) => {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&rebuilt)?);
                    } else {
                        let total: u64 = rebuilt.by_kind.values().sum();
                        println!("已重建索引 (reindexed): {total} 条 (documents)");
                        for (kind, n) in &rebuilt.by_kind {
                            println!("  {kind}: {n}");
                        }
                        if rebuilt.rejected > 0 {
                            println!(
                                "无法解析而未索引的行 (rows left out, they do not parse; see the log): {}",
                                rebuilt.rejected
                            );
                        }
                    }
                    Ok(exit::OK)
                }
                Err(e) => {
                    eprintln!("错误 (error): {e}");
                    Ok(exit::FAILURE)
                }
            }
        }
        SearchCommand::Status { json } => {
            let engine = match civitas::search::open_engine_to_read(&settings.search).await {
                Ok(engine) => engine,
                Err(e) => {
                    eprintln!("错误 (error): {e}");
                    return Ok(exit::FAILURE);
                }
            };
            let indexer =
                civitas_search_indexer::Indexer::new(db.clone(), engine, Default::default());
            let status = match indexer.status().await {
                Ok(status) => status,
                Err(e) => {
                    eprintln!("错误 (error): {e}");
                    return Ok(exit::FAILURE);
                }
            };
            let behind = status.is_behind(std::time::Duration::from_secs(60));
            // Judged only where this index holds the outbox (a standby is
            // judged when it takes over).
            let to_rebuild = status.holds.is_some_and(|holds| {
                status.incomplete || holds != civitas_search_indexer::holder::Holds::All
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                println!("后端 (backend): {}", status.backend);
                println!(
                    "待索引变更 (pending changes): {}，最早的已等待 (oldest waiting) {:.1} s",
                    status.pending, status.lag_seconds
                );
                println!("已索引变更 (changes applied): {}", status.applied);
                println!("文档 (documents): {}", status.documents.total);
                for (kind, n) in &status.documents.by_kind {
                    println!("  {kind}: {n}");
                }
                if let Some(held) = status.index_applied {
                    println!(
                        "本索引含已接收变更 (changes applied that this index holds): {held} / {}",
                        status.applied
                    );
                }
                if let Some(index_id) = &status.index_id {
                    println!("本索引 (this index): {index_id}");
                    match &status.holder {
                        Some(holder) if holder == index_id => {
                            println!(
                                "本索引接收此数据库的变更 (this index applies the database's changes)"
                            );
                        }
                        Some(holder) => {
                            let seen = status.holder_seen_at.map_or(String::new(), |at| {
                                let ago = civitas_search_indexer::seconds_since(at);
                                format!("，{ago:.0} s 前 ({ago:.0} s ago)")
                            });
                            println!(
                                "本索引待命：接收变更的是另一个内置索引 (this index stands by; another embedded index applies the changes): {holder}{seen}"
                            );
                        }
                        None => println!("尚无索引接收变更 (no index applies the changes yet)"),
                    }
                }
                use civitas_search_indexer::holder::Holds;
                match status.holds {
                    Some(Holds::All) | None => {}
                    Some(Holds::Ahead) => println!(
                        "索引含数据库已没有的变更（数据库恢复到了更早的时间点），下一轮索引时重建 (the index holds changes the database no longer has — restored to an earlier point: it is rebuilt at the next indexing turn; civitas search reindex rebuilds it now)"
                    ),
                    Some(Holds::Behind) => println!(
                        "索引缺少数据库已计入的变更（另一处的索引目录副本接收了它们），将重建或待命 (the index lacks changes the database counts applied — a copy of its directory applied them: it stands by or is rebuilt)"
                    ),
                    Some(Holds::Unsaid) => println!(
                        "索引未记录其进度，下一轮索引时重建（已有文档的 Meilisearch 索引则按数据库计数接受）(the index has not recorded how far it holds: it is rebuilt at the next indexing turn; a Meilisearch index holding documents takes the database's count)"
                    ),
                }
                if status.incomplete && status.holds.is_some() {
                    println!(
                        "索引不完整（新建或重建未完成），下一轮索引时重建 (the index is incomplete — new, or a rebuild did not end: it is rebuilt at the next indexing turn)"
                    );
                }
                if behind {
                    println!("索引落后超过一分钟 (the index is more than a minute behind)");
                }
            }
            Ok(if behind || to_rebuild {
                exit::FAILURE
            } else {
                exit::OK
            })
        }
    }
}
