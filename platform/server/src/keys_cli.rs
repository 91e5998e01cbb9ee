//! `civitas keys …`: the master key and the tenants' data keys.

use std::path::PathBuf;

use anyhow::Context;
use civitas::config::Settings;
use civitas::exit;
use civitas::keys::{PROTECTED_TABLES, load_master_keys, write_new_key_file};
use civitas_storage::Database;
use civitas_tenancy::TenantPath;
use civitas_vault::{Keyring, MasterKeyProvider};
use clap::Subcommand;

/// Key management commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a master key file (mode 600); refuses to overwrite one.
    #[command(
        after_help = "Examples:\n  civitas keys init                              # ./data/master.key\n  \
        civitas keys init --out /etc/civitas/master.key\n\n\
        Keep the file apart from database backups. CIVITAS_MASTER_KEY may hold the key instead."
    )]
    Init {
        /// Where to write it [default: the master_key_file setting, ./data/master.key].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create the data and index keys tenants lack (serve does this at start).
    #[command(after_help = "Examples:\n  civitas keys provision --tenants-dir ./tenants")]
    Provision {
        /// Tenants directory [default: ./tenants].
        #[arg(long, env = "CIVITAS_TENANTS_DIR", value_name = "DIR")]
        tenants_dir: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the tenants' keys (never the keys themselves).
    #[command(
        after_help = "Examples:\n  civitas keys list\n  civitas keys list --tenant 310000/310115 --json"
    )]
    List {
        /// Only this subtree (a path of codes) [default: every tenant].
        #[arg(long, value_name = "PATH")]
        tenant: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rotate the data keys of a tenant and every tenant below it, while the
    /// platform keeps serving: keys are re-wrapped under the current master
    /// key, a new data key version becomes active, every record is
    /// re-encrypted in short batches, and the old versions — which open
    /// records until then — are destroyed. An interrupted rotation resumes
    /// when run again.
    #[command(
        after_help = "Examples:\n  civitas keys rotate --tenant 310000/310115/310115005\n  \
        civitas keys rotate --tenant 310000 --json       # the whole city\n\n\
        To replace the master key: put the new key on the first line of the key file, keep the\n\
        old one below it, rotate every root (e.g. --tenant 310000 and --tenant 510000) until this\n\
        command says older master keys may be removed, then remove the old line."
    )]
    Rotate {
        /// The tenant (a path of codes); its whole subtree is rotated.
        #[arg(long, value_name = "PATH")]
        tenant: String,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn tenant_path(text: &str) -> anyhow::Result<TenantPath> {
    TenantPath::parse(text.trim_matches('/')).context(
        "--tenant 应为代码路径，如 310000/310115 (--tenant takes a path of codes, e.g. 310000/310115)",
    )
}

/// Runs `keys init`, which needs no database.
pub fn init(settings: &Settings, out: Option<PathBuf>, json: bool) -> anyhow::Result<u8> {
    let path = out.unwrap_or_else(|| settings.master_key_file.clone());
    if let Err(e) = write_new_key_file(&path) {
        eprintln!("错误 (error): {e}");
        return Ok(exit::FAILURE);
    }
    let keys = civitas_vault::LocalMasterKeys::from_file(&path)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"path": path, "key_id": keys.current_id()})
        );
    } else {
        println!(
            "已生成主密钥 (master key written): {} (id {})",
            path.display(),
            keys.current_id()
        );
    }
    Ok(exit::OK)
}

/// Runs a key command that needs the database.
pub async fn run(db: &Database, settings: &Settings, command: KeysCommand) -> anyhow::Result<u8> {
    // Listing needs no key; provisioning and rotation do.
    let keyring = || match load_master_keys(settings, false) {
        Ok((master, _)) => Ok(Keyring::new(std::sync::Arc::new(master))),
        Err(e) => {
            eprintln!("错误 (error): {e}");
            Err(exit::CONFIG)
        }
    };
    match command {
        KeysCommand::Init { .. } => Ok(exit::USAGE),
        KeysCommand::Provision { tenants_dir, json } => {
            let dir = tenants_dir.unwrap_or_else(|| settings.tenants_dir.clone());
            let tree = match civitas::tree_revisions::settle_for_command(
                db,
                settings,
                &dir,
                "system:keys-provision",
            )
            .await
            {
                Ok(tree) => tree,
                Err(code) => return Ok(code),
            };
            let keyring = match keyring() {
                Ok(keyring) => keyring,
                Err(code) => return Ok(code),
            };
            let tenants: Vec<_> = tree.iter().map(|t| t.path.clone()).collect();
            let report = civitas_vault::provision(db, &keyring, &tenants).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"data_keys": report.data_keys, "index_keys": report.index_keys})
                );
            } else {
                println!(
                    "已创建 {} 个数据密钥、{} 个索引密钥 (created {} data key(s), {} index key(s))",
                    report.data_keys, report.index_keys, report.data_keys, report.index_keys
                );
            }
            Ok(exit::OK)
        }
        KeysCommand::List { tenant, json } => {
            let under = match tenant {
                Some(t) => Some(tenant_path(&t)?),
                None => None,
            };
            let mut keys = Vec::new();
            for root in roots(db, under).await? {
                keys.extend(civitas_vault::list(db, &root).await?);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                println!(
                    "{:<28} {:<6} {:>7}  {:<9} master key",
                    "tenant", "kind", "version", "state"
                );
                for k in keys {
                    println!(
                        "{:<28} {:<6} {:>7}  {:<9} {}",
                        k.tenant_path, k.purpose, k.version, k.state, k.master_key_id
                    );
                }
            }
            Ok(exit::OK)
        }
        KeysCommand::Rotate { tenant, json } => {
            let under = tenant_path(&tenant)?;
            let keyring = match keyring() {
                Ok(keyring) => keyring,
                Err(code) => return Ok(code),
            };
            // Tenants of the tree and any removed from it that still hold
            // keys: their records must follow a master-key change too.
            let mut tenants: Vec<TenantPath> = db
                .tenants()
                .await?
                .into_iter()
                .map(|t| t.path)
                .filter(|p| p.is_within(&under))
                .collect();
            for holder in civitas_vault::key_holders(db, &under).await? {
                if !tenants.contains(&holder) {
                    tenants.push(holder);
                }
            }
            tenants.sort();
            if tenants.is_empty() {
                eprintln!("错误 (error): 未知租户 (unknown tenant) {under}");
                return Ok(exit::FAILURE);
            }
            let bar = crate::progress::bar(0, json);
            let mut reports = Vec::new();
            for (i, path) in tenants.iter().enumerate() {
                bar.set_message(format!(
                    "轮换密钥 (rotating) {path} [{}/{}]",
                    i + 1,
                    tenants.len()
                ));
                let report =
                    civitas_vault::rotate(db, &keyring, path, PROTECTED_TABLES, |done, total| {
                        bar.set_length(total);
                        bar.set_position(done);
                    })
                    .await?;
                record_rotation(db, path, &report).await?;
                if !json {
                    // Printed around the bar, which is hidden off a terminal.
                    bar.suspend(|| println!(
                        "✓ {path}: 数据密钥版本 (data key version) {}, 重新加密 (re-encrypted) {}, 重新封装 (re-wrapped) {}, 销毁旧版本 (destroyed) {:?}{}",
                        report.active_version,
                        report.reencrypted,
                        report.rewrapped,
                        report.retired_versions,
                        if report.resumed { " (续做 resumed)" } else { "" }
                    ));
                }
                reports.push(serde_json::json!({
                    "tenant": report.tenant,
                    "active_version": report.active_version,
                    "resumed": report.resumed,
                    "rewrapped": report.rewrapped,
                    "reencrypted": report.reencrypted,
                    "retired_versions": report.retired_versions,
                }));
            }
            bar.finish_and_clear();
            let old = civitas_vault::keys_under_old_master(db, &keyring).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else if old == 0 {
                println!(
                    "所有密钥均由当前主密钥封装，旧主密钥可以移除 (every key is wrapped by the current master key; older master keys may be removed)"
                );
            } else {
                println!(
                    "仍有 {old} 个密钥由旧主密钥封装，请轮换其余根租户后再移除旧主密钥 ({old} key(s) are still wrapped by an older master key: rotate the other roots before removing it)"
                );
            }
            Ok(exit::OK)
        }
    }
}

/// The roots of the subtrees to list: `under`, or every root tenant.
async fn roots(db: &Database, under: Option<TenantPath>) -> anyhow::Result<Vec<TenantPath>> {
    Ok(match under {
        Some(path) => vec![path],
        None => db
            .tenants()
            .await?
            .into_iter()
            .map(|t| t.path)
            .filter(|p| p.parent().is_none())
            .collect(),
    })
}

/// Records a rotation in the tenant's audit chain (key changes are
/// security-relevant configuration changes).
async fn record_rotation(
    db: &Database,
    tenant: &TenantPath,
    report: &civitas_vault::RotationReport,
) -> anyhow::Result<()> {
    let scope = civitas_storage::TenantScope::for_platform_task(tenant.clone());
    let mut tx = db.begin(&scope).await?;
    civitas_audit::record(
        &mut tx,
        tenant,
        &civitas_audit::NewEvent {
            actor: "system:keys-cli".to_owned(),
            action: "keys.rotate".to_owned(),
            target: tenant.to_string(),
            detail: serde_json::json!({
                "active_version": report.active_version,
                "retired_versions": report.retired_versions,
                "reencrypted": report.reencrypted,
                "rewrapped": report.rewrapped,
                "resumed": report.resumed,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
