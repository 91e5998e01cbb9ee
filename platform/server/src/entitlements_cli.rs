//! `civitas entitlements`: the nightly 免申即享 run.

use civitas::config::Settings;
use civitas::exit;
use civitas_storage::{Database, TenantScope};
use clap::Subcommand;

use crate::progress;

/// `civitas entitlements …`
#[derive(Debug, Subcommand)]
pub enum EntitlementsCommand {
    /// Evaluate every resident's population record as of today with each entitlement flow's
    /// module (免申即享) and file a case for everyone newly entitled — who turned 80 today, whom a
    /// changed rule now covers; residents with a case are not asked again. Run it nightly (cron,
    /// a systemd timer); the server can keep serving. Audited as entitlement.run.
    #[command(after_help = "Examples:\n  \
        civitas entitlements run\n  \
        civitas entitlements run --tenant shanghai/pudong --json\n\n\
        Exit codes: 0 done, 1 some residents could not be evaluated or filed (listed; the next run \
        tries again), 3 invalid tenant or configuration, 4 database.")]
    Run {
        /// Only this tenant's subtree (a path of codes or slugs) [default: every root].
        #[arg(long, value_name = "PATH")]
        tenant: Option<String>,
        /// The tenants directory (catalog and flows) [default: tenants].
        #[arg(long, value_name = "DIR")]
        tenants_dir: Option<std::path::PathBuf>,
        /// Print the report as JSON (no progress bar).
        #[arg(long)]
        json: bool,
    },
}

/// Runs `command` on `db`.
pub async fn run(
    db: &Database,
    settings: &Settings,
    command: EntitlementsCommand,
) -> anyhow::Result<u8> {
    let EntitlementsCommand::Run {
        tenant,
        tenants_dir,
        json,
    } = command;
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
    let subtrees: Vec<_> = match &tenant {
        None => tree.roots().map(|t| t.path.clone()).collect(),
        Some(reference) => match tree.resolve(reference) {
            Some(t) => vec![t.path.clone()],
            None => {
                eprintln!("错误 (error): 没有这个租户 (no such tenant): {reference}");
                return Ok(exit::CONFIG);
            }
        },
    };
    // The platform files these cases; no account acts.
    let who = civitas_workflow::Who {
        account: "system".into(),
        username: "system".into(),
    };
    let mut reports = Vec::new();
    let mut failed = 0;
    for subtree in subtrees {
        let bar = progress::bar(0, json);
        bar.set_message(format!("免申即享比对 (entitlements) {subtree}"));
        // An operator's command: the platform's own scope at the subtree.
        let scope = TenantScope::for_platform_task(subtree.clone());
        let report = civitas_entitlements::run_nightly(
            db,
            &scope,
            &workflow,
            &modules,
            &who,
            |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            },
        )
        .await;
        bar.finish_and_clear();
        let report = report?;
        failed += report.failed;
        if !json {
            println!(
                "{subtree} {}: 居民 (residents) {} · 比对 (evaluated) {} · 符合 (eligible) {} · 新办件 (filed) {} · 已有办件 (filed before) {} · 失败 (failed) {} · 判定用时 (evaluation) {:.2} s",
                report.today,
                report.residents,
                report.evaluated,
                report.eligible,
                report.filed,
                report.filed_before,
                report.failed,
                report.evaluation_micros as f64 / 1e6
            );
            for failure in &report.failures {
                println!(
                    "  {} {} {}: {}",
                    failure.resident_id, failure.service, failure.code, failure.message
                );
            }
        }
        reports.push(serde_json::json!({"tenant": subtree.to_string(), "report": report}));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(if failed > 0 { exit::FAILURE } else { exit::OK })
}
