//! `civitas lottery verify`: recompute a published lottery (摇号) from its
//! published text, as anyone may.

use std::path::PathBuf;

use anyhow::Context as _;
use civitas::exit;
use civitas_lottery::{Lottery, Verification};
use clap::Subcommand;

/// Lottery commands.
#[derive(Debug, Subcommand)]
pub enum LotteryCommand {
    /// Recompute a lottery from what was published: the seed must be the SM3
    /// of the published text and the ranking the one the text gives.
    #[command(after_help = "Examples:\n  \
        civitas lottery verify lottery.json\n  \
        civitas lottery verify http://127.0.0.1:8080/api/v1/tenants/shanghai/pudong/lotteries/6f1c… --json\n  \
        curl -s $URL | civitas lottery verify -\n\n\
        The record is what GET /api/v1/tenants/{path}/lotteries/{id} answers (a file, a URL, or - for standard input).\n\
        By hand: seed = SM3(published text, as UTF-8 bytes); ticket = SM3(seed bytes ‖ case id);\n\
        order = score descending, then ticket ascending; the first `units` are drawn.\n\n\
        Exit codes: 0 identical · 1 differs (what differs is printed) · 2 the record cannot be read")]
    Verify {
        /// The lottery record: a file, an http(s) URL, or - for standard input.
        record: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a lottery command; the exit code.
pub fn run(command: LotteryCommand) -> anyhow::Result<u8> {
    match command {
        LotteryCommand::Verify { record, json } => {
            let lottery = match read(&record) {
                Ok(lottery) => lottery,
                Err(error) => {
                    eprintln!("错误 (error): {error:#}");
                    return Ok(exit::USAGE);
                }
            };
            let recorded = civitas_lottery::Draw {
                seed: lottery.seed.clone(),
                ranking: lottery.ranking.clone(),
            };
            let found = match civitas_lottery::verify(&lottery.published, &recorded) {
                Ok(found) => found,
                Err(error) => {
                    eprintln!("错误 (error): {error}");
                    return Ok(exit::USAGE);
                }
            };
            report(&lottery, &found, json);
            Ok(if found.identical() {
                exit::OK
            } else {
                exit::FAILURE
            })
        }
    }
}

fn read(record: &str) -> anyhow::Result<Lottery> {
    let text = if record == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else if record.starts_with("http://") || record.starts_with("https://") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let response = reqwest::get(record)
                .await
                .with_context(|| format!("无法连接 (cannot reach) {record}"))?;
            let status = response.status();
            let body = response.text().await?;
            anyhow::ensure!(status.is_success(), "{record} answered {status}: {body}");
            anyhow::Ok(body)
        })?
    } else {
        let path = PathBuf::from(record);
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?
    };
    serde_json::from_str(&text).context("not a lottery record (GET …/lotteries/{id})")
}

fn report(lottery: &Lottery, found: &Verification, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "lottery": lottery.id,
                "identical": found.identical(),
                "seed_matches": found.seed_matches,
                "ranking_matches": found.ranking_matches,
                "first_difference": found.first_difference,
            })
        );
        return;
    }
    let drawn = lottery.ranking.iter().filter(|r| r.drawn).count();
    println!(
        "摇号 (lottery) {}: {} entries, {drawn} drawn",
        lottery.id,
        lottery.ranking.len()
    );
    println!(
        "  种子 (seed) = SM3(公示数据 published text): {}",
        if found.seed_matches {
            "一致 (matches)"
        } else {
            "不一致 (DIFFERS)"
        }
    );
    match found.first_difference {
        None => println!("  排序 (ranking): 一致 (identical)"),
        Some(position) => println!(
            "  排序 (ranking): 自第 {position} 位起不一致 (DIFFERS from position {position})"
        ),
    }
}
