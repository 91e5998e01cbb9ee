//! `civitas doc` and `civitas seal`: official documents from a terminal.
//!
//! - `civitas doc verify FILE`: checks a sealed PDF here, offline —
//!   the GB/T 38540 SM2 signature over every byte but its own, made by
//!   the platform's root — against the root certificate given (`--root`)
//!   or fetched from the server; with the server, also whether it issued
//!   that very file.
//! - `civitas seal list|make|revoke`: a tenant's seals, through the
//!   server's API (the security administrator's `seal.manage`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use crate::accounts_cli::{Body, Client, Connection, Unreachable, finish};
use crate::exit;

/// `civitas doc …`.
#[derive(Debug, Subcommand)]
pub enum DocCommand {
    /// Verify a sealed document (PDF): its electronic seal, offline.
    #[command(after_help = "Examples:\n  \
        civitas doc verify 行政处罚决定书.pdf                       # the root from CIVITAS_SERVER (default http://127.0.0.1:8080)\n  \
        civitas doc verify decision.pdf --root civitas-root.cer --json   # fully offline\n\n\
        The root certificate is GET /api/v1/documents/root-certificate of the platform (DER or PEM).\n\
        With a server, the answer also says whether the platform issued this very file.\n\n\
        Exit codes: 0 the seal verifies, 1 it does not (the reason is printed), 2 usage,\n\
        5 the server cannot be reached.")]
    Verify(VerifyArgs),
}

/// `civitas doc verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The sealed PDF.
    file: PathBuf,
    /// The platform's root certificate (DER or PEM); without it, fetched
    /// from the server.
    #[arg(long, value_name = "FILE")]
    root: Option<PathBuf>,
    /// The server (for the root certificate and its record of the file).
    #[arg(long, env = "CIVITAS_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
}

/// A certificate as DER, whether given as DER or PEM.
fn der_of(bytes: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(bytes);
    };
    if !text.contains("-----BEGIN") {
        return Ok(bytes);
    }
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .context("the PEM certificate is not base64")
}

fn root_key(root_der: &[u8]) -> anyhow::Result<civitas_crypto::sm2::PublicKey> {
    civitas_seal::root_public_key(root_der).context("the root certificate does not parse")
}

/// Runs `civitas doc`.
pub fn run(command: DocCommand) -> anyhow::Result<u8> {
    let DocCommand::Verify(args) = command;
    let bytes = match std::fs::read(&args.file) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("错误 (error): {}: {e}", args.file.display());
            return Ok(exit::USAGE);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let server = args.server.trim_end_matches('/').to_owned();
    let (root_der, from_server) = match &args.root {
        Some(path) => (
            der_of(std::fs::read(path).with_context(|| path.display().to_string())?)?,
            false,
        ),
        None => {
            let url = format!("{server}/api/v1/documents/root-certificate");
            let der = runtime.block_on(async {
                let response = reqwest::get(&url)
                    .await
                    .map_err(|e| Unreachable(format!("无法连接 (cannot reach) {url}: {e}")))?;
                if !response.status().is_success() {
                    anyhow::bail!("{url}: {}", response.status());
                }
                Ok(response.bytes().await?.to_vec())
            })?;
            (der, true)
        }
    };
    let root = root_key(&root_der)?;
    let file_sm3 = hex::encode(civitas_crypto::sm3::digest(&bytes));
    match civitas_seal::verify_pdf(&bytes, &root) {
        Ok(verified) => {
            // The platform's record of this very file, when asked of it.
            let record: Option<Value> = if from_server {
                runtime.block_on(async {
                    let url = format!("{server}/api/v1/documents/verify");
                    let answer = reqwest::Client::new()
                        .post(&url)
                        .header("content-type", "application/pdf")
                        .body(bytes.clone())
                        .send()
                        .await
                        .ok()?;
                    answer.json::<Value>().await.ok()
                })
            } else {
                None
            };
            let issued = record
                .as_ref()
                .map(|r| r["issued"].clone())
                .filter(|i| !i.is_null());
            if args.json {
                println!(
                    "{}",
                    json!({
                        "valid": true,
                        "seal_name": verified.signature.seal_name,
                        "seal_code": verified.signature.seal_code,
                        "tenant": verified.signature.tenant,
                        "line": verified.signature.line,
                        "signed_at": verified.signature.signed_at.to_rfc3339(),
                        "file_sm3": file_sm3,
                        "issued": issued,
                        "seal_revoked_at": record.as_ref().map(|r| r["seal_revoked_at"].clone()),
                    })
                );
            } else {
                println!(
                    "签章有效 (the seal verifies): {}",
                    verified.signature.seal_name
                );
                println!(
                    "  盖章时间 (sealed at): {}",
                    verified.signature.signed_at.to_rfc3339()
                );
                println!(
                    "  印章 (seal): {} · {} · {}",
                    verified.signature.seal_code,
                    verified.signature.tenant,
                    verified.signature.line
                );
                println!("  文件 SM3 (file SM3): {file_sm3}");
                match (&issued, from_server) {
                    (Some(i), _) => println!(
                        "  平台记录 (the platform's record): {} {} · {}",
                        i["name"].as_str().unwrap_or_default(),
                        i["number"].as_str().unwrap_or_default(),
                        i["issued_at"].as_str().unwrap_or_default()
                    ),
                    (None, true) => println!(
                        "  注意：平台没有出具此文件的记录 (note: the platform has no record of issuing this very file)"
                    ),
                    (None, false) => {}
                }
            }
            Ok(exit::OK)
        }
        Err(civitas_seal::SealError::Refused(reason)) => {
            if args.json {
                println!(
                    "{}",
                    json!({"valid": false, "reason": reason, "file_sm3": file_sm3})
                );
            } else {
                println!("核验未通过 (the document does not verify): {reason}");
            }
            Ok(exit::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

/// `civitas seal …`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    export CIVITAS_SERVER=http://127.0.0.1:8080 CIVITAS_TOKEN=…   # the security administrator's token\n  \
    civitas seal --tenant shanghai/pudong make --line market-regulation --name 上海市浦东新区市场监督管理局\n  \
    civitas seal --tenant shanghai list --json\n  \
    civitas seal --tenant shanghai/pudong revoke 310115-market-regulation-3f9a1c2e\n\n\
    The server, token and tenant come before the subcommand (or from CIVITAS_SERVER,\n\
    CIVITAS_TOKEN, CIVITAS_TENANT).\n\n\
    Exit codes: 0 done, 1 refused by the server (its code and message are printed), 2 usage,\n\
    5 the server cannot be reached.")]
pub struct SealArgs {
    #[command(subcommand)]
    command: SealCommand,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, Subcommand)]
enum SealCommand {
    /// The seals of the tenant's subtree.
    List,
    /// Make the tenant's seal for a line (a new SM2 key; the platform's root signs it).
    Make {
        /// The line it seals for, e.g. market-regulation.
        #[arg(long)]
        line: String,
        /// The name it shows: the bureau's full name.
        #[arg(long)]
        name: String,
        /// Years valid (1–10).
        #[arg(long, default_value_t = 5)]
        years: u32,
    },
    /// Revoke a seal: it signs nothing more; what it sealed still verifies.
    Revoke {
        /// The seal's id.
        id: String,
    },
}

fn show_seal(seal: &Value) {
    println!(
        "{}  {}  {}  {}  {} → {}{}",
        seal["id"].as_str().unwrap_or_default(),
        seal["tenant"].as_str().unwrap_or_default(),
        seal["line"].as_str().unwrap_or_default(),
        seal["name"].as_str().unwrap_or_default(),
        seal["valid_from"].as_str().unwrap_or_default(),
        seal["valid_until"].as_str().unwrap_or_default(),
        if seal["revoked_at"].is_null() {
            ""
        } else {
            "  已吊销 (revoked)"
        }
    );
}

/// Runs `civitas seal` through the server's API.
pub fn run_seal(args: SealArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.connection)?;
    let base = format!("/api/v1/tenants/{}/seals", client.tenant());
    let reply = match &args.command {
        SealCommand::List => client.send(Method::GET, &base, None)?,
        SealCommand::Make { line, name, years } => client.send(
            Method::POST,
            &base,
            Some(Body::Json(
                json!({"line": line, "name": name, "years": years}),
            )),
        )?,
        SealCommand::Revoke { id } => {
            client.send(Method::POST, &format!("{base}/{id}/revoke"), None)?
        }
    };
    let listing = matches!(args.command, SealCommand::List);
    finish(&reply, args.connection.json(), |body| {
        if listing {
            for seal in body["seals"].as_array().into_iter().flatten() {
                show_seal(seal);
            }
        } else {
            show_seal(body);
        }
    })
}
