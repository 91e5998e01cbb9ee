//! `civitas export`: a list as an Excel workbook from a terminal — the
//! API's `…/export` routes (the same authorization, masking and audit
//! record), downloaded with a progress bar, written to a new file, and
//! checked against the SM3 digest the server recorded.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::accounts_cli::Unreachable;
use crate::exit;

/// What to export.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum What {
    /// 办件 / The cases of the tenant's subtree (filters: line, service, state, overdue).
    Cases,
    /// 账户 / The accounts of the tenant's subtree (filters: kind, line, state, role, phone).
    Accounts,
    /// 审计记录 / The audit records of the tenant's subtree (filters: actor, action, from, to).
    Audit,
    /// 统计 / The dashboard's figures per place and month (filter: months).
    Dashboard,
    /// 待办 / Your own inbox, over every grant (filters: service, overdue; no tenant).
    Inbox,
}

/// `civitas export …`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    export CIVITAS_SERVER=http://127.0.0.1:8080 CIVITAS_TOKEN=…   # an access token (POST /api/v1/auth/login)\n  \
    civitas export cases --tenant shanghai/pudong --filter service=civil-affairs/meal-subsidy --filter state=open\n  \
    civitas export audit --tenant 310000 --filter 'action=grant.*' --out 授权记录.xlsx --json\n\n\
    The file is new (an existing one is never overwritten) and is checked against the SM3 digest\n\
    the server recorded in its audit log.\n\n\
    Exit codes: 0 done, 1 refused by the server (its code and message are printed), the file exists,\n\
    or the download does not match its digest, 2 usage, 5 the server cannot be reached.")]
pub struct ExportArgs {
    /// What to export.
    what: What,
    /// The server.
    #[arg(long, env = "CIVITAS_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An access token.
    #[arg(long, env = "CIVITAS_TOKEN", hide_env_values = true)]
    token: String,
    /// The tenant whose subtree to export: codes (310000/310115) or slugs
    /// (shanghai/pudong); not for the inbox.
    #[arg(long, env = "CIVITAS_TENANT", value_name = "PATH")]
    tenant: Option<String>,
    /// A filter of the list, as its query parameter (repeat for more).
    #[arg(long = "filter", value_name = "KEY=VALUE", value_parser = filter)]
    filters: Vec<(String, String)>,
    /// The file to write [default: the name the server gives, here].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print what was written as JSON (no progress bar).
    #[arg(long)]
    json: bool,
}

fn filter(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("须为 KEY=VALUE (expected KEY=VALUE): {text}")),
    }
}

/// Runs `civitas export`.
pub fn run(args: ExportArgs) -> anyhow::Result<u8> {
    let path = match (args.what, &args.tenant) {
        (What::Inbox, _) => "/api/v1/inbox/export".to_owned(),
        (_, None) => {
            eprintln!("错误 (error): --tenant (or CIVITAS_TENANT) names the subtree to export");
            return Ok(exit::USAGE);
        }
        (what, Some(tenant)) => {
            let list = match what {
                What::Cases => "cases",
                What::Accounts => "accounts",
                What::Audit => "audit",
                What::Dashboard => "dashboard",
                What::Inbox => "inbox",
            };
            format!("/api/v1/tenants/{}/{list}/export", tenant.trim_matches('/'))
        }
    };
    let query = args
        .filters
        .iter()
        .map(|(k, v)| {
            let encode = |s: &str| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            };
            format!("{}={}", encode(k), encode(v))
        })
        .collect::<Vec<_>>()
        .join("&");
    let url = format!(
        "{}{path}{}{query}",
        args.server.trim_end_matches('/'),
        if query.is_empty() { "" } else { "?" }
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(download(&url, &args))
}

async fn download(url: &str, args: &ExportArgs) -> anyhow::Result<u8> {
    let preparing = crate::progress::spinner(args.json);
    preparing.set_message("正在生成导出文件 (the server is writing the export)…");
    preparing.enable_steady_tick(std::time::Duration::from_millis(120));
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(&args.token)
        .send()
        .await
        .map_err(|e| Unreachable(format!("无法连接 (cannot reach) {url}: {e}")));
    preparing.finish_and_clear();
    let mut response = response?;
    let status = response.status();
    if !status.is_success() {
        let body: Value = response.json().await.unwrap_or(Value::Null);
        eprintln!(
            "{} {}: {} / {}",
            status.as_u16(),
            body["code"].as_str().unwrap_or("error"),
            body["message"]["zh"].as_str().unwrap_or_default(),
            body["message"]["en"].as_str().unwrap_or_default()
        );
        return Ok(exit::FAILURE);
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let rows: u64 = header("x-export-rows")
        .and_then(|r| r.parse().ok())
        .context("the answer has no x-export-rows header: not an export")?;
    let recorded = header("x-export-sm3").context("the answer has no x-export-sm3 header")?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => PathBuf::from(
            header("content-disposition")
                .as_deref()
                .and_then(file_name)
                .context("the answer names no file: pass --out")?,
        ),
    };
    // Owner-only, as the platform's other files of personal data.
    let mut file = match civitas::keys::create_private_file(&out, false) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "错误 (error): {} 已存在，未覆盖 (exists; not overwritten): pass another --out",
                out.display()
            );
            return Ok(exit::FAILURE);
        }
        Err(e) => return Err(e).with_context(|| out.display().to_string()),
    };
    let bar = crate::progress::bar(response.content_length().unwrap_or(0), args.json);
    bar.set_message("下载 (downloading)");
    let mut hasher = civitas_crypto::sm3::Hasher::new();
    let mut bytes = 0u64;
    let written: anyhow::Result<()> = async {
        while let Some(chunk) = response.chunk().await.context("the download broke off")? {
            file.write_all(&chunk)
                .with_context(|| out.display().to_string())?;
            hasher.update(&chunk);
            bytes += chunk.len() as u64;
            bar.set_position(bytes);
        }
        file.sync_all().with_context(|| out.display().to_string())
    }
    .await;
    bar.finish_and_clear();
    let sm3 = hex::encode(hasher.finalize());
    if let Err(e) = written {
        discard(&out);
        return Err(e);
    }
    if sm3 != recorded {
        discard(&out);
        eprintln!(
            "错误 (error): 下载的文件与服务器记录的 SM3 不符，已删除 (the download does not match the SM3 the server recorded; removed): {sm3} ≠ {recorded}"
        );
        return Ok(exit::FAILURE);
    }
    if args.json {
        println!(
            "{}",
            json!({"file": out.display().to_string(), "rows": rows, "bytes": bytes, "sm3": sm3})
        );
    } else {
        println!(
            "已导出 {rows} 行 (exported {rows} rows) → {} ({bytes} bytes, SM3 {sm3})",
            out.display()
        );
    }
    Ok(exit::OK)
}

/// The file name a `content-disposition` header gives: its UTF-8
/// `filename*`, else its plain `filename`; a bare name only (no
/// directories).
fn file_name(header: &str) -> Option<String> {
    let name = header
        .split(';')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("filename*=UTF-8''"))
        .and_then(|encoded| {
            percent_encoding::percent_decode_str(encoded)
                .decode_utf8()
                .ok()
                .map(|n| n.into_owned())
        })
        .or_else(|| {
            header
                .split(';')
                .map(str::trim)
                .find_map(|part| part.strip_prefix("filename="))
                .map(|n| n.trim_matches('"').to_owned())
        })?;
    let bare = Path::new(&name).file_name()?.to_str()?.to_owned();
    (!bare.is_empty() && bare != "." && bare != "..").then_some(bare)
}

fn discard(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        eprintln!("{}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn the_file_is_named_as_the_server_names_it_and_never_outside_here() {
        assert_eq!(
            file_name("attachment; filename=\"cases-310000.xlsx\"; filename*=UTF-8''%E5%8A%9E%E4%BB%B6-310000.xlsx")
                .as_deref(),
            Some("办件-310000.xlsx")
        );
        assert_eq!(
            file_name("attachment; filename=\"a.xlsx\"").as_deref(),
            Some("a.xlsx")
        );
        assert_eq!(
            file_name("attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd").as_deref(),
            Some("passwd")
        );
        assert_eq!(file_name("attachment").as_deref(), None);
    }
}
