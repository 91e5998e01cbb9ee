//! `civitas tenant plan` and `civitas tenant apply`: tree revisions from the
//! command line (see `civitas::tree_revisions`).

use std::path::Path;

use civitas::config::Settings;
use civitas::exit;
use civitas::tree_revisions::{self, LocalTree, RevisionError};
use civitas_storage::Database;

/// Reads `dir` and checks its flows against its tree: a revision whose
/// tree the directory's own flows do not fit is not applied.
fn read(dir: &Path) -> Result<LocalTree, u8> {
    let local = match LocalTree::read(dir) {
        Ok(local) => local,
        Err(RevisionError::Invalid(errors)) => {
            eprint!("{errors}");
            return Err(exit::CONFIG);
        }
        Err(e) => {
            eprintln!("错误 (error): {e}");
            return Err(exit::CONFIG);
        }
    };
    if let Err(e) = tree_revisions::check_flows(&local) {
        eprintln!("错误 (error): {e}");
        return Err(exit::CONFIG);
    }
    Ok(local)
}

/// The exit code of a failed plan or apply: 4 when the database failed,
/// else 1 (refused: blocked, stale, or not auditable).
fn database_failure(e: &RevisionError) -> u8 {
    match e {
        RevisionError::Storage(_) => exit::DATABASE,
        _ => exit::FAILURE,
    }
}

/// Prints what applying `dir` would change. Exits 0 when it can be applied
/// (or is the current revision), 1 when nodes it retires hold work.
pub async fn plan(db: &Database, dir: &Path, json: bool) -> anyhow::Result<u8> {
    let local = match read(dir) {
        Ok(local) => local,
        Err(code) => return Ok(code),
    };
    let plan = match tree_revisions::plan(db, &local).await {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("错误 (error): {e}");
            return Ok(database_failure(&e));
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", plan.render());
    }
    Ok(if plan.blocked.is_empty() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// Applies `dir` as the newest revision, signed with the platform key.
/// Exits 0 when applied or already current, 1 when refused.
pub async fn apply(
    db: &Database,
    settings: &Settings,
    dir: &Path,
    json: bool,
) -> anyhow::Result<u8> {
    let local = match read(dir) {
        Ok(local) => local,
        Err(code) => return Ok(code),
    };
    let key = match civitas::serve::load_platform_key(settings, false) {
        Ok(Some(key)) => key,
        Ok(None) => {
            eprintln!(
                "错误 (error): 没有平台签名密钥 {}，租户树版本必须签名 (no platform key at {}: a tree revision must be signed)",
                settings.platform_key_file.display(),
                settings.platform_key_file.display()
            );
            return Ok(exit::CONFIG);
        }
        Err(e) => {
            eprintln!("错误 (error): {e}");
            return Ok(exit::CONFIG);
        }
    };
    let plan = match tree_revisions::plan(db, &local).await {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("错误 (error): {e}");
            return Ok(database_failure(&e));
        }
    };
    if plan.current {
        if json {
            let out = serde_json::json!({"applied": false, "revision": plan.base, "plan": plan});
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            print!("{}", plan.render());
        }
        return Ok(exit::OK);
    }
    let actor = format!(
        "operator:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    match tree_revisions::apply(db, &local, &plan, Some(&key), &actor).await {
        Ok(_) => {
            if json {
                let out =
                    serde_json::json!({"applied": true, "revision": plan.revision, "plan": plan});
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", plan.render());
                println!(
                    "✓ 已应用第 {} 版，运行中的节点将在 2 秒内加载 (revision {} applied: running nodes load it within 2 s)",
                    plan.revision, plan.revision
                );
            }
            Ok(exit::OK)
        }
        Err(e) => {
            if !json {
                print!("{}", plan.render());
            }
            eprintln!("错误 (error): {e}");
            Ok(database_failure(&e))
        }
    }
}
