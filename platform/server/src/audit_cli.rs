//! `civitas audit …`: verify the chains, anchor them, export records,
//! replay a case's module decisions.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use civitas::config::Settings;
use civitas::exit;
use civitas_crypto::sm2::{PrivateKey, PublicKey};
use civitas_storage::{Database, TenantScope};
use civitas_tenancy::TenantPath;
use civitas_workflow::replay::Finding;
use clap::Subcommand;

/// Audit log commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every hash chain and check the signed anchors; exits 0 when
    /// intact, 1 naming each altered, deleted or reordered record.
    #[command(after_help = "Examples:\n  civitas audit verify\n  \
        civitas audit verify --tenant 310000/310115 --pub platform.pub.pem --json")]
    Verify {
        /// Only the chains of this subtree (a path of codes).
        #[arg(long, value_name = "PATH")]
        tenant: Option<String>,
        /// The platform's public key (PEM): anchors signed by any other key fail.
        #[arg(long = "pub", value_name = "PUB.pem")]
        public: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign the head of every chain that grew since its last anchor (run it
    /// periodically, e.g. hourly from cron).
    #[command(after_help = "Examples:\n  civitas audit anchor --key /etc/civitas/platform.pem")]
    Anchor {
        /// The platform's SM2 private key (PKCS#8 PEM).
        #[arg(long, value_name = "KEY.pem")]
        key: PathBuf,
        /// Print the anchors as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write records as JSON lines, in chain order. Dates are days in China
    /// Standard Time (UTC+8); --to is exclusive.
    #[command(
        after_help = "Examples:\n  civitas audit export --from 2026-01-01 --to 2026-07-01 --out audit-2026h1.jsonl\n  \
        civitas audit export --from 2026-11-01 --to 2026-11-02 --tenant 310000/310115"
    )]
    Export {
        /// First day included (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        from: NaiveDate,
        /// First day not included (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        to: NaiveDate,
        /// Only this subtree (a path of codes).
        #[arg(long, value_name = "PATH")]
        tenant: Option<String>,
        /// Output file (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Re-run every module decision recorded in a case's history: the stored
    /// input, settings and date of each, checked against the SM3 digests in
    /// the case's audit records, given again to the same module version.
    /// Exits 0 when every decision replays identically, 1 naming each
    /// difference (an altered input, settings or answer; a module that now
    /// answers otherwise or cannot be loaded), 2 when no such case exists.
    #[command(
        after_help = "Examples:\n  civitas audit replay 0193a5c2-6f1e-7c3a-9d7e-2b1f6c0e8a41\n  \
        civitas audit replay 0193a5c2-6f1e-7c3a-9d7e-2b1f6c0e8a41 --json"
    )]
    Replay {
        /// The case id.
        case: String,
        /// The tenants directory (default: the configured one).
        #[arg(long, value_name = "DIR")]
        tenants_dir: Option<PathBuf>,
        /// Print the replay as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export every record older than --before to a new archive file, then
    /// remove them behind a signed prune point that `verify` starts from.
    /// Records are kept at least 180 days; if a chain to be pruned does not
    /// verify, nothing is pruned.
    #[command(
        after_help = "Examples:\n  civitas audit prune --before 2026-05-01 --key /etc/civitas/platform.pem \\\n      --archive /archive/audit-before-2026-05-01.jsonl\n\n\
        Keep the archive: together with `civitas crypto sm3 ARCHIVE` it proves what was removed\n\
        (the digest per chain is signed in the prune point; --json prints them)."
    )]
    Prune {
        /// Remove records before this day (YYYY-MM-DD, China Standard Time); at least 180 days ago.
        #[arg(long, value_name = "DATE")]
        before: NaiveDate,
        /// The platform's SM2 private key (PKCS#8 PEM), to sign the prune points.
        #[arg(long, value_name = "KEY.pem")]
        key: PathBuf,
        /// The archive to write (JSON lines); must not exist yet.
        #[arg(long, value_name = "FILE")]
        archive: PathBuf,
        /// Print what was pruned as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A file whose `flush` also reaches the disk, so that an archive is
/// durable before the records it holds are removed.
struct DurableFile(std::io::BufWriter<std::fs::File>);

impl Write for DurableFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        self.0.get_ref().sync_all()
    }
}

fn tenant(path: Option<&str>) -> anyhow::Result<Option<TenantPath>> {
    path.map(|p| TenantPath::parse(p.trim_matches('/')).context("--tenant 应为代码路径，如 310000/310115 (--tenant takes a path of codes, e.g. 310000/310115)"))
        .transpose()
}

/// The start of `day` in China Standard Time (UTC+8), as UTC.
fn start_of_day_cst(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc() - chrono::Duration::hours(8)
}

/// `civitas audit replay CASE`: finds the case under each root of the tree
/// and replays its module decisions there.
async fn replay(db: &Database, settings: &Settings, case: &str, json: bool) -> anyhow::Result<u8> {
    let civitas::serve::Offline { tree, workflow, .. } = match civitas::serve::offline(settings) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("错误 (error): {e}");
            return Ok(exit::CONFIG);
        }
    };
    let roots: Vec<TenantPath> = tree.roots().map(|t| t.path.clone()).collect();
    let mut found = None;
    for root in roots {
        // An operator's command: the platform's own scope at each root.
        let scope = TenantScope::for_platform_task(root);
        match workflow.replay(db, &scope, case).await {
            Ok(replay) => {
                found = Some(replay);
                break;
            }
            Err(civitas_workflow::WorkflowError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let Some(replay) = found else {
        eprintln!("错误 (error): 没有这个办件 (no such case): {case}");
        return Ok(exit::USAGE);
    };
    if json {
        println!("{}", serde_json::to_string(&replay)?);
    } else {
        for d in &replay.decisions {
            let at = d.recorded_at.format("%Y-%m-%d %H:%M:%S");
            if d.findings.is_empty() {
                println!(
                    "✓ {} {}@{} ({} {at})  一致 (identical)",
                    d.hook, d.module, d.version, d.audit_action
                );
            } else {
                println!(
                    "✗ {} {}@{} ({} {at})",
                    d.hook, d.module, d.version, d.audit_action
                );
                for f in &d.findings {
                    println!("    {}", finding_text(f));
                }
            }
        }
        if replay.decisions.is_empty() {
            println!("该办件没有模块判定记录 (no module decisions recorded for this case)");
        }
    }
    Ok(if replay.identical() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// A finding, for people.
fn finding_text(f: &Finding) -> String {
    match f {
        Finding::Missing => "存储的判定已不存在 (the stored decision is gone)".into(),
        Finding::ModuleAltered { stored } => {
            format!("存储的模块版本被改动 (the stored module version was changed): {stored}")
        }
        Finding::InputAltered {
            recorded_sm3,
            stored_sm3,
        } => format!(
            "输入被改动 (the stored input was changed): 审计记录 (audited) SM3 {recorded_sm3}, 现存 (stored) {stored_sm3}"
        ),
        Finding::SettingsAltered {
            recorded_sm3,
            stored_sm3,
        } => format!(
            "配置被改动 (the stored settings were changed): 审计记录 (audited) SM3 {recorded_sm3}, 现存 (stored) {stored_sm3}"
        ),
        Finding::OutputAltered {
            recorded_sm3,
            stored_sm3,
        } => format!(
            "结果被改动 (the stored answer was changed): 审计记录 (audited) SM3 {recorded_sm3}, 现存 (stored) {stored_sm3}"
        ),
        Finding::ModuleUnavailable { error } => {
            format!("模块无法加载 (the module cannot be loaded): {error}")
        }
        Finding::Failed { error } => format!("重新运行失败 (the re-run failed): {error}"),
        Finding::AnswerDiffers { fields } => format!(
            "重新运行结果不同 (the module answers otherwise now): {}",
            fields.join(", ")
        ),
    }
}

/// Runs an audit command against `db`.
pub async fn run(db: &Database, settings: &Settings, command: AuditCommand) -> anyhow::Result<u8> {
    match command {
        AuditCommand::Replay {
            case,
            tenants_dir,
            json,
        } => {
            let mut settings = settings.clone();
            if let Some(dir) = tenants_dir {
                settings.tenants_dir = dir;
            }
            replay(db, &settings, &case, json).await
        }
        AuditCommand::Verify {
            tenant: under,
            public,
            json,
        } => {
            let under = tenant(under.as_deref())?;
            let trusted = match public {
                Some(path) => {
                    let pem = std::fs::read_to_string(&path).with_context(|| {
                        format!("无法读取公钥 (cannot read public key) {}", path.display())
                    })?;
                    Some(PublicKey::from_spki_pem(&pem)?)
                }
                None => None,
            };
            let total = civitas_audit::count(db, under.as_ref()).await?;
            let bar = crate::progress::bar(total, json);
            bar.set_message("校验审计链 (verifying audit chains)");
            let report = civitas_audit::verify(db, under.as_ref(), trusted.as_ref(), |n| {
                bar.set_position(n)
            })
            .await?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if report.is_intact() {
                println!(
                    "✓ 审计链完整 (audit chains intact): {} 条链 (chains), {} 条记录 (records), {} 个锚点 (anchors)",
                    report.tenants, report.records, report.anchors
                );
            } else {
                println!(
                    "✗ 发现 {} 处问题 (found {} problem(s)) in {} 条记录 (records):",
                    report.problems.len(),
                    report.problems.len(),
                    report.records
                );
                for problem in &report.problems {
                    println!("  {problem}");
                }
            }
            Ok(if report.is_intact() {
                exit::OK
            } else {
                exit::FAILURE
            })
        }
        AuditCommand::Anchor { key, json } => {
            let pem = std::fs::read_to_string(&key).with_context(|| {
                format!("无法读取私钥 (cannot read private key) {}", key.display())
            })?;
            let key = PrivateKey::from_pkcs8_pem(&pem)?;
            let anchors = civitas_audit::anchor(db, &key).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&anchors)?);
            } else {
                println!(
                    "已签名 {} 个锚点 (signed {} anchor(s))",
                    anchors.len(),
                    anchors.len()
                );
                for anchor in &anchors {
                    println!("  {} #{} {}", anchor.tenant, anchor.seq, anchor.hash);
                }
            }
            Ok(exit::OK)
        }
        AuditCommand::Export {
            from,
            to,
            tenant: under,
            out,
        } => {
            let under = tenant(under.as_deref())?;
            if to <= from {
                anyhow::bail!("--to 必须晚于 --from (--to must be after --from)");
            }
            let (from, to) = (start_of_day_cst(from), start_of_day_cst(to));
            let written = match out {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("无法写入 (cannot write) {}", path.display()))?;
                    let mut writer = std::io::BufWriter::new(file);
                    let n =
                        civitas_audit::export(db, under.as_ref(), from, to, &mut writer).await?;
                    writer.flush()?;
                    n
                }
                None => {
                    let mut writer = std::io::BufWriter::new(std::io::stdout().lock());
                    let n =
                        civitas_audit::export(db, under.as_ref(), from, to, &mut writer).await?;
                    writer.flush()?;
                    n
                }
            };
            eprintln!("已导出 {written} 条记录 (exported {written} record(s))");
            Ok(exit::OK)
        }
        AuditCommand::Prune {
            before,
            key,
            archive,
            json,
        } => {
            let pem = std::fs::read_to_string(&key).with_context(|| {
                format!("无法读取私钥 (cannot read private key) {}", key.display())
            })?;
            let key = PrivateKey::from_pkcs8_pem(&pem)?;
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&archive)
                .with_context(|| {
                    format!(
                        "无法新建归档文件（不会覆盖已有文件）(cannot create the archive; an existing file is never overwritten) {}",
                        archive.display()
                    )
                })?;
            let mut writer = DurableFile(std::io::BufWriter::new(file));
            let bar = crate::progress::spinner(json);
            bar.set_message("导出并清理 (exporting and pruning)");
            let result =
                civitas_audit::prune(db, &key, start_of_day_cst(before), &mut writer, |n| {
                    bar.set_message(format!("导出并清理 (exporting and pruning): {n}"));
                    bar.tick();
                })
                .await;
            bar.finish_and_clear();
            let pruned = match result {
                Ok(pruned) => pruned,
                Err(e) => {
                    // Never delete an archive: if the failure came after the
                    // records were removed (a lost commit reply), it is the
                    // only copy. Mark it instead.
                    drop(writer);
                    let kept = archive.with_extension("incomplete.jsonl");
                    let note = match std::fs::metadata(&archive) {
                        Ok(meta) if meta.len() == 0 => {
                            let _ = std::fs::remove_file(&archive);
                            String::new()
                        }
                        Ok(_) if std::fs::rename(&archive, &kept).is_ok() => format!(
                            "；部分归档已保留 (the partial archive is kept) {}",
                            kept.display()
                        ),
                        _ => String::new(),
                    };
                    eprintln!("错误 (error): {e}{note}");
                    return Ok(exit::FAILURE);
                }
            };
            let total: u64 = pruned.iter().map(|p| p.records).sum();
            if json {
                println!("{}", serde_json::to_string_pretty(&pruned)?);
            } else {
                println!(
                    "已归档并清理 {total} 条记录 (archived and pruned {total} record(s)) → {}",
                    archive.display()
                );
                for chain in &pruned {
                    println!(
                        "  {} 至 (through) #{}: {} 条 (records), SM3 {}",
                        chain.tenant, chain.through_seq, chain.records, chain.archive_sm3
                    );
                }
            }
            Ok(exit::OK)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_days_are_china_standard_time() {
        let day = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap_or_default();
        assert_eq!(
            start_of_day_cst(day).to_rfc3339(),
            "2026-09-30T16:00:00+00:00"
        );
    }
}
