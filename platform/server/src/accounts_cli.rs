//! `civitas accounts`: the system administrator's account work from a
//! terminal — list, show, create, update, disable, enable, unlock, reset a
//! password, import a staff roster. A client of the HTTP API (like `module
//! publish`): the server decides, enforces the separation of duties and
//! audits, exactly as for the console.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::exit;

/// Where the server is and who asks.
#[derive(Debug, Args)]
pub struct Connection {
    /// The server.
    #[arg(long, env = "CIVITAS_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An access token (POST /api/v1/auth/login): the system administrator's for accounts,
    /// the security administrator's for seals.
    #[arg(long, env = "CIVITAS_TOKEN", hide_env_values = true)]
    token: String,
    /// The tenant whose subtree to work in: codes (310000/310115) or slugs
    /// (shanghai/pudong).
    #[arg(long, env = "CIVITAS_TENANT", value_name = "PATH")]
    tenant: String,
    /// Print the server's JSON answer.
    #[arg(long, global = true)]
    json: bool,
}

impl Connection {
    /// Whether the answer is printed as JSON.
    pub(crate) fn json(&self) -> bool {
        self.json
    }
}

/// Account kinds an administrator creates.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// 工作人员 / Staff of a bureau.
    Staff,
    /// 模块开发者 / A module developer.
    Developer,
    /// 服务账户 / A machine client using API keys.
    Service,
}

/// Account states to filter by.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum State {
    /// 已停用.
    Disabled,
    /// 已锁定.
    Locked,
    /// 待改密.
    Pending,
    /// 正常.
    Active,
}

/// `civitas accounts …`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    export CIVITAS_SERVER=http://127.0.0.1:8080 CIVITAS_TENANT=shanghai/pudong\n  \
    export CIVITAS_TOKEN=$(curl -s $CIVITAS_SERVER/api/v1/auth/login -H 'content-type: application/json' \\\n      \
    -d '{\"username\":\"sys-admin\",\"password\":\"…\"}' | jq -r .access_token)\n  \
    civitas accounts list --state locked\n  \
    civitas accounts import 浦东新区员工.xlsx --dry-run\n\n\
    Exit codes: 0 done, 1 refused by the server (its code and message are printed) or problems found\n\
    by a dry run, 2 usage, 5 the server cannot be reached.")]
pub struct AccountsArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: AccountsCommand,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// The accounts of the tenant's subtree, every page.
    #[command(
        after_help = "Examples:\n  civitas accounts list\n  civitas accounts list --kind staff --line civil-affairs --state pending\n  civitas accounts list --phone 13800138000 --json"
    )]
    List {
        /// Only this kind.
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        /// Only this line, e.g. civil-affairs.
        #[arg(long)]
        line: Option<String>,
        /// Only accounts in this state.
        #[arg(long, value_enum)]
        state: Option<State>,
        /// Only holders of this role, e.g. officer.
        #[arg(long)]
        role: Option<String>,
        /// Only the account with this phone number.
        #[arg(long)]
        phone: Option<String>,
    },
    /// One account.
    #[command(after_help = "Example:\n  civitas accounts show huamu-wangfang")]
    Show {
        /// The username.
        username: String,
    },
    /// Create a staff, developer or service account at the tenant; a
    /// person's one-time password is printed once.
    #[command(
        after_help = "Example:\n  civitas accounts --tenant shanghai/pudong/huamu create huamu-wangfang --kind staff \\\n      --line civil-affairs --name 王芳 --phone 13800138000 --employee-no HM-0042 --position 民政专员"
    )]
    Create {
        /// The username: 3–64 lowercase letters, digits or -_.
        username: String,
        /// The kind.
        #[arg(long, value_enum, default_value = "staff")]
        kind: Kind,
        /// The line (staff and service accounts).
        #[arg(long)]
        line: Option<String>,
        /// The name shown (姓名).
        #[arg(long)]
        name: String,
        /// Phone number (sealed, shown masked).
        #[arg(long)]
        phone: Option<String>,
        /// E-mail (sealed, shown masked).
        #[arg(long)]
        email: Option<String>,
        /// Employee number (工号), unique in the tenant.
        #[arg(long)]
        employee_no: Option<String>,
        /// Position (岗位); roles are granted by the security administrator.
        #[arg(long)]
        position: Option<String>,
    },
    /// Change an account's name, contact data, employee number or position.
    #[command(
        after_help = "Examples:\n  civitas accounts update huamu-wangfang --phone 13900139000\n  civitas accounts update huamu-wangfang --clear email --clear position"
    )]
    Update {
        /// The username.
        username: String,
        /// A new name shown.
        #[arg(long)]
        name: Option<String>,
        /// A new phone number.
        #[arg(long)]
        phone: Option<String>,
        /// A new e-mail.
        #[arg(long)]
        email: Option<String>,
        /// A new employee number.
        #[arg(long)]
        employee_no: Option<String>,
        /// A new position.
        #[arg(long)]
        position: Option<String>,
        /// Clear a field: phone, email, employee-no or position (repeatable).
        #[arg(long, value_name = "FIELD")]
        clear: Vec<String>,
    },
    /// Disable an account: sign-in refused, sessions and keys stopped at once.
    #[command(
        after_help = "Example:\n  civitas accounts disable huamu-wangfang --reason \"调离 / transferred\""
    )]
    Disable {
        /// The username.
        username: String,
        /// Why (for the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Enable a disabled account again.
    #[command(after_help = "Example:\n  civitas accounts enable huamu-wangfang")]
    Enable {
        /// The username.
        username: String,
    },
    /// Lift a sign-in lock.
    #[command(after_help = "Example:\n  civitas accounts unlock huamu-wangfang")]
    Unlock {
        /// The username.
        username: String,
    },
    /// A new one-time password (sessions end; it must be changed at sign-in).
    #[command(after_help = "Example:\n  civitas accounts reset-password huamu-wangfang")]
    ResetPassword {
        /// The username.
        username: String,
    },
    /// Import a staff roster (.xlsx or .csv: 姓名, 工号, 所属单位, 条线, and
    /// optionally 岗位/角色, 手机, 邮箱, 用户名): every account or none.
    #[command(after_help = "Examples:\n  \
        civitas accounts import 员工花名册.xlsx --dry-run      # every bad row by number, nothing created\n  \
        civitas accounts import 员工花名册.xlsx                # creates all; one-time passwords to a CSV\n  \
        civitas accounts import staff.csv --passwords-out /secure/otp.csv\n\n\
        The one-time passwords go to --passwords-out (default: next to the roster, named\n\
        <roster>-一次性密码.csv, readable by you only; never overwritten), not to the terminal;\n\
        with --json the whole report, passwords included, goes to standard output for a script.")]
    Import {
        /// The roster.
        file: PathBuf,
        /// Check every row and create nothing.
        #[arg(long)]
        dry_run: bool,
        /// Where to write the one-time passwords (CSV).
        #[arg(long, value_name = "FILE")]
        passwords_out: Option<PathBuf>,
    },
}

/// Runs one accounts command.
pub fn run(args: AccountsArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.connection)?;
    let json = args.connection.json;
    let base = format!("/api/v1/tenants/{}/accounts", client.tenant);
    match args.command {
        AccountsCommand::List {
            kind,
            line,
            state,
            role,
            phone,
        } => {
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(kind) = kind {
                query.push(("kind", kind_name(kind).to_owned()));
            }
            if let Some(state) = state {
                query.push(("state", state_name(state).to_owned()));
            }
            for (key, value) in [("line", line), ("role", role), ("phone", phone)] {
                if let Some(value) = value {
                    query.push((key, value));
                }
            }
            list(&client, &base, query, json)
        }
        AccountsCommand::Show { username } => {
            let reply = client.send(Method::GET, &format!("{base}/{username}"), None)?;
            finish(&reply, json, print_account)
        }
        AccountsCommand::Create {
            username,
            kind,
            line,
            name,
            phone,
            email,
            employee_no,
            position,
        } => {
            let body = json!({
                "username": username, "kind": kind_name(kind), "line": line, "display_name": name,
                "phone": phone, "email": email, "employee_no": employee_no, "position": position,
            });
            let reply = client.send(Method::POST, &base, Some(Body::Json(body)))?;
            finish(&reply, json, |b| {
                print_account(&b["account"]);
                if let Some(otp) = b["one_time_password"].as_str() {
                    println!("一次性密码 (one-time password, shown once): {otp}");
                }
            })
        }
        AccountsCommand::Update {
            username,
            name,
            phone,
            email,
            employee_no,
            position,
            clear,
        } => {
            let mut body = serde_json::Map::new();
            for (key, value) in [
                ("display_name", name),
                ("phone", phone),
                ("email", email),
                ("employee_no", employee_no),
                ("position", position),
            ] {
                if let Some(value) = value {
                    body.insert(key.to_owned(), Value::String(value));
                }
            }
            for field in clear {
                let key = match field.as_str() {
                    "phone" | "email" | "position" => field.clone(),
                    "employee-no" | "employee_no" => "employee_no".to_owned(),
                    other => {
                        eprintln!(
                            "--clear 只能是 phone、email、employee-no 或 position (--clear takes phone, email, employee-no or position): {other}"
                        );
                        return Ok(exit::USAGE);
                    }
                };
                body.insert(key, Value::Null);
            }
            let reply = client.send(
                Method::PATCH,
                &format!("{base}/{username}"),
                Some(Body::Json(Value::Object(body))),
            )?;
            finish(&reply, json, print_account)
        }
        AccountsCommand::Disable { username, reason } => {
            let reply = client.send(
                Method::POST,
                &format!("{base}/{username}/disable"),
                Some(Body::Json(json!({"reason": reason}))),
            )?;
            finish(&reply, json, print_state_change)
        }
        AccountsCommand::Enable { username } => {
            let reply = client.send(Method::POST, &format!("{base}/{username}/enable"), None)?;
            finish(&reply, json, print_state_change)
        }
        AccountsCommand::Unlock { username } => {
            let reply = client.send(Method::POST, &format!("{base}/{username}/unlock"), None)?;
            finish(&reply, json, print_state_change)
        }
        AccountsCommand::ResetPassword { username } => {
            let reply = client.send(
                Method::POST,
                &format!("{base}/{username}/password-reset"),
                None,
            )?;
            finish(&reply, json, |b| {
                println!(
                    "一次性密码 (one-time password, shown once): {}\n有效期至 (valid until): {}",
                    b["one_time_password"].as_str().unwrap_or_default(),
                    b["one_time_until"].as_str().unwrap_or_default()
                );
            })
        }
        AccountsCommand::Import {
            file,
            dry_run,
            passwords_out,
        } => import(&client, &file, dry_run, passwords_out, json),
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Staff => "staff",
        Kind::Developer => "developer",
        Kind::Service => "service",
    }
}

fn state_name(state: State) -> &'static str {
    match state {
        State::Disabled => "disabled",
        State::Locked => "locked",
        State::Pending => "pending",
        State::Active => "active",
    }
}

pub(crate) enum Body {
    Json(Value),
    File {
        content_type: &'static str,
        bytes: Vec<u8>,
    },
}

pub(crate) struct Reply {
    status: StatusCode,
    body: Value,
}

pub(crate) struct Client {
    server: String,
    token: String,
    tenant: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    /// A client of the server `connection` names.
    pub(crate) fn new(connection: &Connection) -> anyhow::Result<Client> {
        Ok(Client {
            server: connection.server.trim_end_matches('/').to_owned(),
            token: connection.token.clone(),
            tenant: connection.tenant.trim_matches('/').to_owned(),
            http: reqwest::Client::new(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }

    /// The tenant path as given, without surrounding slashes.
    pub(crate) fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Sends `body` to `path` and reads the JSON answer.
    pub(crate) fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> anyhow::Result<Reply> {
        let url = format!("{}{path}", self.server);
        self.runtime.block_on(async {
            let mut request = self.http.request(method, &url).bearer_auth(&self.token);
            request = match body {
                Some(Body::Json(value)) => request.json(&value),
                Some(Body::File {
                    content_type,
                    bytes,
                }) => request
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(bytes),
                None => request,
            };
            let response = request
                .send()
                .await
                .map_err(|e| Unreachable(format!("无法连接 (cannot reach) {url}: {e}")))?;
            let status = response.status();
            let bytes = response.bytes().await?;
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).with_context(|| {
                    format!("{url}: {status}: 应答不是 JSON (the answer is not JSON)")
                })?
            };
            Ok(Reply { status, body })
        })
    }
}

/// The server could not be reached: exit code 5.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// The exit code of an error from [`run`].
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<Unreachable>().is_some() {
        exit::UNREACHABLE
    } else {
        exit::FAILURE
    }
}

fn refused(reply: &Reply) {
    eprintln!(
        "{} {}: {} / {}",
        reply.status.as_u16(),
        reply.body["code"].as_str().unwrap_or("error"),
        reply.body["message"]["zh"].as_str().unwrap_or_default(),
        reply.body["message"]["en"].as_str().unwrap_or_default()
    );
    print_problems(&reply.body["problems"]);
}

/// Prints the answer (JSON with `json`, else `show` on success, the
/// refusal otherwise); the exit code.
pub(crate) fn finish(reply: &Reply, json: bool, show: impl FnOnce(&Value)) -> anyhow::Result<u8> {
    if json {
        println!("{}", reply.body);
    } else if reply.status.is_success() {
        show(&reply.body);
    } else {
        refused(reply);
    }
    Ok(if reply.status.is_success() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}

fn print_account(a: &Value) {
    println!("用户名 (username)      {}", text(&a["username"]));
    println!("姓名 (name)            {}", text(&a["display_name"]));
    println!("类型 (kind)            {}", text(&a["kind"]));
    println!("租户 (tenant)          {}", text(&a["tenant"]));
    println!("条线 (line)            {}", text(&a["line"]));
    println!("工号 (employee no.)    {}", text(&a["employee_no"]));
    println!("岗位 (position)        {}", text(&a["position"]));
    println!("手机 (phone)           {}", text(&a["phone"]));
    println!("邮箱 (e-mail)          {}", text(&a["email"]));
    println!("状态 (state)           {}", text(&a["state"]));
    let roles: Vec<&str> = a["roles"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    println!("角色 (roles)           {}", roles.join(", "));
}

fn print_state_change(b: &Value) {
    let account = &b["account"];
    let changed = if b["changed"] == true {
        "已更改 (changed)"
    } else {
        "无变化 (already so)"
    };
    println!(
        "{}: {} — {changed}",
        text(&account["username"]),
        text(&account["state"])
    );
}

fn list(client: &Client, base: &str, query: Vec<(&str, String)>, json: bool) -> anyhow::Result<u8> {
    let mut accounts = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut params = query.clone();
        params.push(("limit", "200".to_owned()));
        if let Some(after) = &after {
            params.push(("after", after.clone()));
        }
        let encoded = params
            .iter()
            .map(|(k, v)| {
                let v =
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC);
                format!("{k}={v}")
            })
            .collect::<Vec<_>>()
            .join("&");
        let reply = client.send(Method::GET, &format!("{base}?{encoded}"), None)?;
        if !reply.status.is_success() {
            if json {
                println!("{}", reply.body);
            } else {
                refused(&reply);
            }
            return Ok(exit::FAILURE);
        }
        accounts.extend(
            reply.body["accounts"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        match reply.body["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    if json {
        println!("{}", json!({ "accounts": accounts }));
        return Ok(exit::OK);
    }
    println!(
        "{:<28} {:<10} {:<9} {:<20} {:<9} {:<26} 角色 (roles)",
        "用户名 (username)", "姓名", "类型", "条线 (line)", "状态", "租户 (tenant)"
    );
    for a in &accounts {
        let roles: Vec<&str> = a["roles"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        println!(
            "{:<28} {:<10} {:<9} {:<20} {:<9} {:<26} {}",
            text(&a["username"]),
            text(&a["display_name"]),
            text(&a["kind"]),
            text(&a["line"]),
            text(&a["state"]),
            text(&a["tenant"]),
            roles.join(",")
        );
    }
    println!("共 {} 个账户 ({} accounts)", accounts.len(), accounts.len());
    Ok(exit::OK)
}

fn print_problems(problems: &Value) {
    for p in problems.as_array().into_iter().flatten() {
        eprintln!(
            "  第 {} 行 (row) {}: {} / {}",
            p["row"].as_u64().unwrap_or(0),
            p["field"].as_str().unwrap_or("-"),
            p["message"]["zh"].as_str().unwrap_or_default(),
            p["message"]["en"].as_str().unwrap_or_default()
        );
    }
}

/// The default file for one-time passwords: beside the roster.
fn passwords_file(roster: &Path) -> PathBuf {
    let stem = roster
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("roster");
    roster.with_file_name(format!("{stem}-一次性密码.csv"))
}

/// Creates `path` readable by its owner only, refusing to overwrite.
fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).with_context(|| {
        format!(
            "{}: 无法创建（文件已存在？）/ cannot create it (does it exist already?)",
            path.display()
        )
    })
}

/// A CSV field as Excel reads it safely: a leading `=`, `+`, `-`, `@` or
/// control character (a formula, when opened) is quoted away with `'`, and
/// separators, quotes and line ends are enclosed.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn import(
    client: &Client,
    file: &Path,
    dry_run: bool,
    passwords_out: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<u8> {
    let bytes = std::fs::read(file).with_context(|| file.display().to_string())?;
    let Some(format) = civitas_roster::Format::from_file_name(&file.to_string_lossy())
        .or_else(|| civitas_roster::Format::sniff(&bytes))
    else {
        eprintln!(
            "{}: 名册须为 .xlsx 或 .csv 文件（旧版 .xls 请另存为 .xlsx）/ a roster is an .xlsx or .csv file (save an old .xls as .xlsx)",
            file.display()
        );
        return Ok(exit::FAILURE);
    };
    // Where the passwords go is settled before anything is created, so a
    // file in the way cannot lose them.
    let mut out = if dry_run || json {
        None
    } else {
        let path = passwords_out.unwrap_or_else(|| passwords_file(file));
        Some((create_private(&path)?, path))
    };
    let spinner = crate::progress::spinner(json);
    spinner.set_message(if dry_run {
        "检查名册 (checking the roster)…"
    } else {
        "导入名册 (importing the roster)…"
    });
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let query = if dry_run { "?dry_run=true" } else { "" };
    let reply = client.send(
        Method::POST,
        &format!("/api/v1/tenants/{}/account-imports{query}", client.tenant),
        Some(Body::File {
            content_type: format.mime(),
            bytes,
        }),
    );
    spinner.finish_and_clear();
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => {
            // Unreached, nothing was created; an answer that could not be
            // read may have created accounts whose passwords are lost: say so.
            if let Some((_, path)) = &out {
                let _ = std::fs::remove_file(path);
                if e.downcast_ref::<Unreachable>().is_none() {
                    eprintln!(
                        "服务器的应答无法读取，导入结果未知：请用 `civitas accounts list --state pending` 查看，必要时重置这些账户的密码 \
                         (the server's answer could not be read; whether the import happened is unknown: check with \
                         `civitas accounts list --state pending` and reset those accounts' passwords if needed)"
                    );
                }
            }
            return Err(e);
        }
    };
    let problems = reply.body["problems"].as_array().map_or(0, Vec::len);
    if !reply.status.is_success() {
        if let Some((_, path)) = &out {
            let _ = std::fs::remove_file(path);
        }
        if json {
            println!("{}", reply.body);
        } else {
            refused(&reply);
        }
        return Ok(exit::FAILURE);
    }
    if json {
        println!("{}", reply.body);
    } else if dry_run {
        let rows = reply.body["rows"].as_u64().unwrap_or(0);
        let ignored: Vec<&str> = reply.body["ignored_columns"]
            .as_array()
            .map(|c| c.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !ignored.is_empty() {
            println!("未读取的列 (columns not read): {}", ignored.join(", "));
        }
        if problems == 0 {
            println!(
                "{rows} 行均可导入，未创建任何账户 ({rows} rows can be imported; nothing was created)"
            );
        } else {
            println!(
                "{rows} 行中有问题，未创建任何账户 (problems among {rows} rows; nothing was created):"
            );
            print_problems(&reply.body["problems"]);
        }
    } else if let Some((mut file, path)) = out.take() {
        // A byte-order mark, so that Excel on a Chinese Windows reads UTF-8.
        let mut text = String::from("\u{feff}用户名,姓名,所属租户,一次性密码\n");
        for a in reply.body["accounts"].as_array().into_iter().flatten() {
            text.push_str(&format!(
                "{},{},{},{}\n",
                csv_field(text_of(&a["username"])),
                csv_field(text_of(&a["display_name"])),
                csv_field(text_of(&a["tenant"])),
                csv_field(text_of(&a["one_time_password"]))
            ));
        }
        file.write_all(text.as_bytes())
            .with_context(|| path.display().to_string())?;
        println!(
            "已创建 {} 个账户 (created {} accounts); 一次性密码见 (one-time passwords in) {}",
            reply.body["created"],
            reply.body["created"],
            path.display()
        );
    }
    Ok(if dry_run && problems > 0 {
        exit::FAILURE
    } else {
        exit::OK
    })
}

fn text_of(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}
