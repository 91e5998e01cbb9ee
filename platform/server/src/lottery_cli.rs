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
    /// Recompute a lottery from what was published: the published text must
    /// have its recorded SM3, and once drawn the seed must be SM3(text ‖
    /// public value) and the ranking the one they give.
    #[command(after_help = "Examples:\n  \
        civitas lottery verify lottery.json\n  \
        civitas lottery verify http://127.0.0.1:8080/api/v1/tenants/shanghai/pudong/lotteries/6f1c… --json\n  \
        curl -s $URL | civitas lottery verify -\n\n\
        The record is what GET /api/v1/tenants/{path}/lotteries/{id} answers (a file, a URL, or - for standard input).\n\
        By hand: seed = SM3(published text ‖ value, as UTF-8 bytes); ticket = SM3(seed bytes ‖ case id);\n\
        order = score descending, then ticket ascending; the first `units` are drawn.\n\n\
        Exit codes: 0 identical (or published and not drawn yet, its text intact) · 1 differs (what differs is printed) · 2 the record cannot be read")]
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
            let text_intact =
                hex::encode(civitas_crypto::sm3::digest(lottery.published.as_bytes()))
                    == lottery.published_sm3;
            // A record that says it is drawn must hold the draw: one that
            // does not cannot be checked, and fails.
            let whole = match lottery.state {
                civitas_lottery::LotteryState::Drawn => {
                    lottery.value.is_some() && lottery.seed.is_some() && !lottery.ranking.is_empty()
                }
                civitas_lottery::LotteryState::Published => {
                    lottery.value.is_none() && lottery.seed.is_none() && lottery.ranking.is_empty()
                }
            };
            if !whole {
                eprintln!(
                    "不一致 (DIFFERS): 记录的状态与其内容不符 / the record's state does not match what it holds"
                );
                return Ok(exit::FAILURE);
            }
            let found = match (&lottery.value, lottery.recorded()) {
                (Some(value), Some(recorded)) => {
                    match civitas_lottery::verify(&lottery.published, value, &recorded) {
                        Ok(found) => Some(found),
                        Err(error) => {
                            eprintln!("错误 (error): {error}");
                            return Ok(exit::USAGE);
                        }
                    }
                }
                _ => None,
            };
            report(&lottery, text_intact, found.as_ref(), json);
            let identical = text_intact && found.as_ref().is_none_or(Verification::identical);
            Ok(if identical { exit::OK } else { exit::FAILURE })
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

fn report(lottery: &Lottery, text_intact: bool, found: Option<&Verification>, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "lottery": lottery.id,
                "state": lottery.state,
                "identical": text_intact && found.is_none_or(Verification::identical),
                "published_matches": text_intact,
                "seed_matches": found.map(|f| f.seed_matches),
                "ranking_matches": found.map(|f| f.ranking_matches),
                "first_difference": found.and_then(|f| f.first_difference),
            })
        );
        return;
    }
    let same = |ok: bool| {
        if ok {
            "一致 (matches)"
        } else {
            "不一致 (DIFFERS)"
        }
    };
    println!("摇号 (lottery) {}", lottery.id);
    println!(
        "  公示数据 (published text) = SM3 {}: {}",
        lottery.published_sm3,
        same(text_intact)
    );
    let Some(found) = found else {
        println!("  已公示，待摇号 (published, not drawn yet)");
        return;
    };
    let drawn = lottery.ranking.iter().filter(|r| r.drawn).count();
    println!("  {} entries, {drawn} drawn", lottery.ranking.len());
    println!(
        "  种子 (seed) = SM3(公示数据 ‖ 取值 published text ‖ value): {}",
        same(found.seed_matches)
    );
    match found.first_difference {
        None => println!("  排序 (ranking): 一致 (identical)"),
        Some(position) => println!(
            "  排序 (ranking): 自第 {position} 位起不一致 (DIFFERS from position {position})"
        ),
    }
}
