//! `civitas`: serve the platform, inspect and validate tenants, migrate,
//! and national cryptography for operators.

mod accounts_cli;
mod admin_cli;
mod audit_cli;
mod backup_cli;
mod calendar_cli;
mod crypto_cli;
mod doc_cli;
mod entitlements_cli;
mod export_cli;
mod keys_cli;
mod lottery_cli;
mod module_cli;
mod progress;
mod search_cli;
mod tenant_cli;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use civitas::config::{PartialSettings, Settings};
use civitas::exit;
use civitas::serve::{self, StartError};
use civitas_storage::Database;
use civitas_tenancy::{Tenant, TenantTree};
use clap::{Args, Parser, Subcommand};

/// Civitas: 城市政务多租户平台 / the multi-tenant platform for a city's
/// government bureaus.
#[derive(Debug, Parser)]
#[command(name = "civitas", version, about, long_about = None)]
#[command(
    after_help = "退出码 (exit codes): 0 成功 ok · 1 发现问题或运行失败 problems found or failed · \
2 用法错误 usage · 3 配置无效 invalid configuration · 4 数据库不可用 database unavailable"
)]
struct Cli {
    /// Configuration file (default: ./civitas.toml if it exists).
    #[arg(long, global = true, env = "CIVITAS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the platform (migrates the database and loads the tenant tree first).
    #[command(after_help = "Examples:\n  \
        civitas serve --demo                        # embedded SQLite in ./data, demo city, 127.0.0.1:8080\n  \
        civitas serve --listen 0.0.0.0:8080 --database-url postgres://civitas@db/civitas\n  \
        DATABASE_URL=postgres://civitas@db/civitas civitas serve\n\n\
        Settings come from flags, then CIVITAS_* variables, then civitas.toml (same keys in snake_case), then defaults.")]
    Serve(Box<ServeArgs>),
    /// Inspect and validate the tenant tree (the tenants/ directory).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// The tamper-evident audit log: verify, anchor, export, prune.
    #[command(after_help = "Database options come before the subcommand:\n  \
        civitas audit --database-url postgres://civitas@db/civitas verify")]
    Audit(AuditArgs),
    /// Keys: the master key, the tenants' data keys and their rotation.
    #[command(
        after_help = "Database and key options come before the subcommand:\n  \
        civitas keys --master-key-file /etc/civitas/master.key rotate --tenant 310000/310115"
    )]
    Keys(KeysArgs),
    /// Administrators: create the three administrators of 三员分立.
    Admin(AdminArgs),
    /// Accounts (the system administrator, through the server's API): list, show, create,
    /// update, disable, enable, unlock, reset-password, import a staff roster.
    Accounts(accounts_cli::AccountsArgs),
    /// Exports (through the server's API): cases, accounts, audit records, the dashboard's
    /// figures or your inbox as an Excel workbook, checked against the digest the server recorded.
    Export(export_cli::ExportArgs),
    /// Official documents: verify a sealed PDF (its electronic seal), offline.
    #[command(subcommand)]
    Doc(doc_cli::DocCommand),
    /// Electronic seals (through the server's API, the security administrator's): list, make, revoke.
    Seal(doc_cli::SealArgs),
    /// National cryptography: SM3 digests, SM2 keys/signatures/encryption, SM4-GCM.
    #[command(subcommand)]
    Crypto(crypto_cli::CryptoCommand),
    /// Business-rule modules: keygen, new, build, run, check, publish.
    #[command(subcommand)]
    Module(module_cli::ModuleCommand),
    /// The working-day calendar: add-working-days, is-working-day, show.
    #[command(subcommand)]
    Calendar(calendar_cli::CalendarCommand),
    /// Public lotteries (摇号): verify a published draw.
    #[command(subcommand)]
    Lottery(lottery_cli::LotteryCommand),
    /// Search: rebuild the index from the database, show how far behind it is.
    #[command(
        after_help = "Database and search options come before the subcommand:\n  \
        civitas search --database-url postgres://civitas@db/civitas --meili-url http://meili:7700 status"
    )]
    Search(SearchCliArgs),
    /// Entitlements granted without application (免申即享): the nightly run over every resident.
    #[command(after_help = "Database options come before the subcommand:\n  \
        civitas entitlements --database-url postgres://civitas@db/civitas run --json")]
    Entitlements(EntitlementsCliArgs),
    /// Back up the embedded database (a consistent snapshot, taken while serving) and the
    /// supporting documents into a new directory with an SM3 manifest; keys are left out.
    #[command(after_help = "Examples:\n  \
        civitas backup --out /backup/civitas-2026-12-06\n  \
        civitas backup --data-dir /srv/civitas --out /mnt/offsite/civitas-$(date +%F) --json\n\n\
        The master key and the platform key are never copied: keep them apart. PostgreSQL: pg_dump\n\
        or a base backup + WAL (README, \"Backups\").\n\n\
        Exit codes: 0 done, 1 the target is not empty or a file failed, 2 not the embedded database.")]
    Backup(BackupArgs),
    /// Restore a backup into a data directory that holds no database yet, every file checked
    /// against the manifest first.
    #[command(after_help = "Examples:\n  \
        civitas restore --from /backup/civitas-2026-12-06 --data-dir /srv/civitas-restored\n  \
        civitas restore --from /mnt/offsite/civitas-2026-12-06 --data-dir /srv/civitas --json\n\n\
        Then put master.key and platform.pem back, run civitas audit verify and civitas search reindex.\n\n\
        Exit codes: 0 done, 1 the backup is damaged or the directory already holds data (nothing\n\
        written), 2 not the embedded database.")]
    Restore(RestoreArgs),
    /// Apply pending database migrations (serve also does this at start).
    #[command(
        after_help = "Examples:\n  civitas migrate\n  civitas migrate --database-url postgres://civitas@db/civitas --json"
    )]
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
struct BackupArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The backup's directory (new, or empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print the result as JSON (no progress bar).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RestoreArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The backup's directory.
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// Print the result as JSON (no progress bar).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct DatabaseArgs {
    /// Data directory for the embedded database.
    #[arg(long, env = "CIVITAS_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL: sqlite:FILE or postgres://… [default: sqlite:DATA_DIR/civitas.db; also read from DATABASE_URL]
    #[arg(long, env = "CIVITAS_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
}

/// Where search lives.
#[derive(Debug, Args, Clone)]
struct SearchArgs {
    /// The search index directory (tantivy) [default: <data-dir>/search].
    #[arg(long, env = "CIVITAS_SEARCH_DIR", value_name = "DIR")]
    search_dir: Option<PathBuf>,
    /// A Meilisearch server to search with instead of the embedded index, shared by every node;
    /// its key comes from CIVITAS_MEILI_KEY [default: none].
    #[arg(long, env = "CIVITAS_MEILI_URL", value_name = "URL")]
    meili_url: Option<String>,
    /// The Meilisearch index uid [default: civitas].
    #[arg(long, env = "CIVITAS_MEILI_INDEX", value_name = "UID")]
    meili_index: Option<String>,
    /// The URL browsers reach Meilisearch at, for portal search tokens [default: --meili-url].
    #[arg(long, env = "CIVITAS_MEILI_PUBLIC_URL", value_name = "URL")]
    meili_public_url: Option<String>,
}

impl SearchArgs {
    /// These flags as partial settings (the key from the environment only).
    fn partial(&self) -> PartialSettings {
        PartialSettings {
            search_dir: self.search_dir.clone(),
            meili_url: self.meili_url.clone(),
            meili_index: self.meili_index.clone(),
            meili_public_url: self.meili_public_url.clone(),
            meili_key: std::env::var("CIVITAS_MEILI_KEY")
                .ok()
                .filter(|k| !k.is_empty()),
            ..PartialSettings::default()
        }
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "CIVITAS_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Serve /metrics on this address of its own, and not on the public port, e.g.
    /// 0.0.0.0:9464 for Prometheus inside the cluster [default: none, on the public port].
    #[arg(long, env = "CIVITAS_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Tenants directory [default: ./tenants].
    #[arg(long, env = "CIVITAS_TENANTS_DIR", value_name = "DIR")]
    tenants_dir: Option<PathBuf>,
    /// Seed the demo city (idempotent; the server warns while demo data exists).
    #[arg(long, env = "CIVITAS_DEMO")]
    demo: bool,
    /// Apply the local tenants directory as a new tree revision when it is not the
    /// database's newest (refused while nodes it retires hold open cases or grants).
    /// Without it a node whose directory differs from the newest revision does not
    /// start (exit 3); `civitas tenant plan` shows what applying would change.
    #[arg(long, env = "CIVITAS_APPLY_TENANTS")]
    apply_tenants: bool,
    /// Largest request body in bytes [default: 1048576].
    #[arg(long, env = "CIVITAS_BODY_LIMIT", value_name = "BYTES")]
    body_limit: Option<usize>,
    /// The most database connections this node opens; on PostgreSQL, keep the nodes' sum
    /// under the server's max_connections [default: 16].
    #[arg(long, env = "CIVITAS_DB_MAX_CONNECTIONS", value_name = "N")]
    db_max_connections: Option<u32>,
    /// Seconds requests in flight may take to finish after SIGINT/SIGTERM [default: 30].
    #[arg(long, env = "CIVITAS_SHUTDOWN_GRACE_SECS", value_name = "SECS")]
    shutdown_grace_secs: Option<u64>,
    /// Log filter, e.g. info or civitas_api=debug [default: info,sqlx=warn].
    #[arg(long, env = "CIVITAS_LOG", value_name = "FILTER")]
    log: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "CIVITAS_LOG_FORMAT", value_name = "FORMAT")]
    log_format: Option<String>,
    /// Master key file [default: DATA_DIR/master.key; CIVITAS_MASTER_KEY may hold the key itself].
    #[arg(long, env = "CIVITAS_MASTER_KEY_FILE", value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// The platform's SM2 key (PKCS#8 PEM) that signs audit anchors [default: DATA_DIR/platform.pem].
    #[arg(long, env = "CIVITAS_PLATFORM_KEY_FILE", value_name = "FILE")]
    platform_key_file: Option<PathBuf>,
    /// The address the public reaches the platform at, printed on sealed documents as where to
    /// verify them (https://zwfw.example.gov.cn) [default: http://LISTEN].
    #[arg(long, env = "CIVITAS_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Serve the public port over TLS with this certificate chain (PEM, leaf first), with
    /// --tls-key; e.g. /etc/civitas/tls/fullchain.pem [default: none, plain HTTP with TLS
    /// terminated in front]. /metrics on --metrics-listen stays plain HTTP.
    #[arg(long, env = "CIVITAS_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "CIVITAS_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// The SMS gateway notices are sent through (its contract: Aliyun dysmsapi SendSms), http://
    /// inside the government network; with --sms-access-key-id, --sms-sign-name and
    /// CIVITAS_SMS_ACCESS_KEY_SECRET [default: none, no SMS].
    #[arg(long, env = "CIVITAS_SMS_URL", value_name = "URL")]
    sms_url: Option<String>,
    /// The SMS gateway's AccessKey id.
    #[arg(long, env = "CIVITAS_SMS_ACCESS_KEY_ID", value_name = "ID")]
    sms_access_key_id: Option<String>,
    /// The sign name (签名) registered with the SMS provider, e.g. 上海市民政局.
    #[arg(long, env = "CIVITAS_SMS_SIGN_NAME", value_name = "NAME")]
    sms_sign_name: Option<String>,
    /// The region SMS requests name [default: cn-hangzhou].
    #[arg(long, env = "CIVITAS_SMS_REGION", value_name = "REGION")]
    sms_region: Option<String>,
    /// The mail relay notices are sent through, smtp://host[:port]; with --mail-from
    /// [default: none, no e-mail].
    #[arg(long, env = "CIVITAS_SMTP_URL", value_name = "URL")]
    smtp_url: Option<String>,
    /// The sender of notice e-mail, e.g. "上海市一网通办 <noreply@example.gov.cn>".
    #[arg(long, env = "CIVITAS_MAIL_FROM", value_name = "MAILBOX")]
    mail_from: Option<String>,
    /// Seconds between notification rounds (fan-out and sending) [default: 1].
    #[arg(long, env = "CIVITAS_NOTIFY_INTERVAL_SECS", value_name = "SECS")]
    notify_interval_secs: Option<u64>,
    /// Seconds a node holds a notice while sending it before another node takes it over; the
    /// gateways' timeouts are half of it [default: 60, at least 10].
    #[arg(long, env = "CIVITAS_NOTIFY_LEASE_SECS", value_name = "SECS")]
    notify_lease_secs: Option<u64>,
    /// Seconds between this node's own looks at the grants, settings and tree versions. On
    /// PostgreSQL every node hears a change as it commits (LISTEN/NOTIFY); the look is the
    /// fallback while that connection is down. On SQLite it is the only way [default: 2].
    #[arg(long, env = "CIVITAS_CHANGE_POLL_SECS", value_name = "SECS")]
    change_poll_secs: Option<u64>,
    /// Listen for other nodes' change notices on PostgreSQL; false behind a proxy that does
    /// not carry LISTEN (PgBouncer in transaction mode), where the look every
    /// --change-poll-secs is all there is [default: true].
    #[arg(long, env = "CIVITAS_CHANGE_NOTICES", value_name = "BOOL")]
    change_notices: Option<bool>,
    /// On PostgreSQL one embedded search index applies the database's changes; another node's
    /// stands by and, once that one has gone unseen for the seconds it recorded, rebuilds itself
    /// and takes over. This node's setting is what it records while its index applies (it says
    /// it is there six times as often), the wait for a holder that recorded none, and the pause
    /// after a failed rebuild. Several nodes should share a Meilisearch server (--meili-url)
    /// instead [default: 30, at least 3].
    #[arg(long, env = "CIVITAS_SEARCH_TAKEOVER_SECS", value_name = "SECS")]
    search_takeover_secs: Option<u64>,
    /// Where the fonts of official documents are (Noto Serif CJK, Debian's fonts-noto-cjk)
    /// [default: /usr/share/fonts/opentype/noto].
    #[arg(long, env = "CIVITAS_FONTS_DIR", value_name = "DIR")]
    fonts_dir: Option<PathBuf>,
    /// Seconds between signed audit anchors [default: 3600].
    #[arg(long, env = "CIVITAS_ANCHOR_INTERVAL_SECS", value_name = "SECS")]
    anchor_interval_secs: Option<u64>,
    /// Seconds between runs of the workflow timer queue (reminders, overdue, 督办) [default: 5].
    #[arg(long, env = "CIVITAS_TIMER_INTERVAL_SECS", value_name = "SECS")]
    timer_interval_secs: Option<u64>,
    /// Failed sign-ins within --lockout-minutes that lock an account [default: 5].
    #[arg(long, env = "CIVITAS_LOCKOUT_THRESHOLD", value_name = "COUNT")]
    lockout_threshold: Option<u32>,
    /// Minutes a locked account stays locked, and the window failures count in [default: 15].
    #[arg(long, env = "CIVITAS_LOCKOUT_MINUTES", value_name = "MINUTES")]
    lockout_minutes: Option<u32>,
    /// Failed sign-ins one address may make (all accounts) within --lockout-minutes before 429; on one account, the threshold minus one [default: 20].
    #[arg(
        long,
        env = "CIVITAS_SIGN_IN_FAILURES_PER_ADDRESS",
        value_name = "COUNT"
    )]
    sign_in_failures_per_address: Option<u32>,
    /// Registration attempts one address may make per hour before 429 [default: 20].
    #[arg(long, env = "CIVITAS_REGISTRATIONS_PER_ADDRESS", value_name = "COUNT")]
    registrations_per_address: Option<u32>,
    /// Refused API keys one address may present per minute before 429 [default: 20].
    #[arg(long, env = "CIVITAS_KEY_FAILURES_PER_ADDRESS", value_name = "COUNT")]
    key_failures_per_address: Option<u32>,
    /// PBKDF2-HMAC-SM3 iterations for new password hashes (at least 1000) [default: 100000].
    #[arg(long, env = "CIVITAS_PASSWORD_ITERATIONS", value_name = "N")]
    password_iterations: Option<u32>,
    /// Minutes of inactivity that end a session [default: 30].
    #[arg(long, env = "CIVITAS_SESSION_IDLE_MINUTES", value_name = "MINUTES")]
    session_idle_minutes: Option<u32>,
    /// Minutes after sign-in a session ends whatever happens [default: 480].
    #[arg(long, env = "CIVITAS_SESSION_MAX_MINUTES", value_name = "MINUTES")]
    session_max_minutes: Option<u32>,
    /// Minutes one access token is valid [default: 5].
    #[arg(long, env = "CIVITAS_ACCESS_TOKEN_MINUTES", value_name = "MINUTES")]
    access_token_minutes: Option<u32>,
    /// Reverse proxies whose X-Forwarded-For is believed, comma-separated addresses or CIDR networks [default: none].
    #[arg(
        long,
        env = "CIVITAS_TRUSTED_PROXIES",
        value_name = "NETS",
        value_delimiter = ','
    )]
    trusted_proxies: Option<Vec<String>>,
    /// Where compiled module code is cached between restarts [default: <data-dir>/module-cache].
    #[arg(long, env = "CIVITAS_MODULE_CACHE_DIR", value_name = "DIR")]
    module_cache_dir: Option<PathBuf>,
    /// Where --demo finds the demo's module components [default: target/modules].
    #[arg(long, env = "CIVITAS_DEMO_MODULES_DIR", value_name = "DIR")]
    demo_modules_dir: Option<PathBuf>,
    #[command(flatten)]
    search: SearchArgs,
    /// The identity provider (统一身份认证) that verifies self-registered accounts, by issuer URL;
    /// with --oidc-client-id, --oidc-redirect-url and CIVITAS_OIDC_CLIENT_SECRET [default: none].
    #[arg(long, env = "CIVITAS_OIDC_ISSUER", value_name = "URL")]
    oidc_issuer: Option<String>,
    /// The client id the identity provider issued to the platform.
    #[arg(long, env = "CIVITAS_OIDC_CLIENT_ID", value_name = "ID")]
    oidc_client_id: Option<String>,
    /// The public URL of /api/v1/auth/verification/callback, registered with the provider.
    #[arg(long, env = "CIVITAS_OIDC_REDIRECT_URL", value_name = "URL")]
    oidc_redirect_url: Option<String>,
    /// Scopes besides openid that release the identity claims, comma-separated [default: none].
    #[arg(
        long,
        env = "CIVITAS_OIDC_SCOPES",
        value_name = "SCOPES",
        value_delimiter = ','
    )]
    oidc_scopes: Option<Vec<String>>,
    /// The ID token claim with a person's resident id number [default: id_number].
    #[arg(long, env = "CIVITAS_OIDC_ID_NUMBER_CLAIM", value_name = "CLAIM")]
    oidc_id_number_claim: Option<String>,
    /// The ID token claim with an enterprise's credit code [default: credit_code].
    #[arg(long, env = "CIVITAS_OIDC_CREDIT_CODE_CLAIM", value_name = "CLAIM")]
    oidc_credit_code_claim: Option<String>,
    /// Print the effective settings as JSON and exit without serving.
    #[arg(long)]
    print_config: bool,
}

#[derive(Debug, Args)]
struct SearchCliArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    search: SearchArgs,
    #[command(subcommand)]
    command: search_cli::SearchCommand,
}

#[derive(Debug, Args)]
struct EntitlementsCliArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(subcommand)]
    command: entitlements_cli::EntitlementsCommand,
}

#[derive(Debug, Args)]
struct AdminArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create the system, security and audit administrators (三员分立), each
    /// with a one-time password printed once and changed at first sign-in.
    /// Exits 1 if any of them exists already (it is left unchanged).
    #[command(
        after_help = "Examples:\n  civitas admin init\n  civitas admin init --tenant 510000 --json"
    )]
    Init {
        /// The root tenant they belong to [default: the first root of the tree].
        #[arg(long, value_name = "PATH")]
        tenant: Option<String>,
        /// Tenants directory [default: ./tenants].
        #[arg(long, env = "CIVITAS_TENANTS_DIR", value_name = "DIR")]
        tenants_dir: Option<PathBuf>,
        /// Print JSON (the passwords are in it: keep it out of logs).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct KeysArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Master key file [default: DATA_DIR/master.key; CIVITAS_MASTER_KEY may hold the key itself].
    #[arg(long, env = "CIVITAS_MASTER_KEY_FILE", value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: keys_cli::KeysCommand,
}

#[derive(Debug, Args)]
struct AuditArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(subcommand)]
    command: audit_cli::AuditCommand,
}

#[derive(Debug, Args)]
struct MigrateArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Print the tree.
    #[command(
        after_help = "Examples:\n  civitas tenant list\n  civitas tenant list --json | jq '.[].path'"
    )]
    List {
        /// Tenants directory [default: ./tenants].
        #[arg(long, env = "CIVITAS_TENANTS_DIR", value_name = "DIR")]
        tenants_dir: Option<PathBuf>,
        /// Print JSON instead of the indented tree.
        #[arg(long)]
        json: bool,
    },
    /// Show one tenant, by path of codes or slug path.
    #[command(
        after_help = "Examples:\n  civitas tenant show shanghai/pudong\n  civitas tenant show 310000/310115/310115005 --json"
    )]
    Show {
        /// The tenant: 310000/310115 or shanghai/pudong.
        path: String,
        /// Tenants directory [default: ./tenants].
        #[arg(long, env = "CIVITAS_TENANTS_DIR", value_name = "DIR")]
        tenants_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what applying a tenants directory would change in the database's tree:
    /// nodes added, moved, renamed, deactivated or reconfigured, and the open cases and
    /// grants held at every node it would retire.
    #[command(
        after_help = "Exits 0 when the directory can be applied (or is the current revision), \
        1 when nodes it retires still hold open cases or grants, 3 when it is invalid, 4 when \
        the database cannot be reached.\n\n\
        Examples:\n  civitas tenant plan ./tenants\n  \
        civitas tenant plan ./tenants --database-url postgres://civitas@db/civitas --json"
    )]
    Plan {
        /// The directory [default: ./tenants].
        dir: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseArgs,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Store a tenants directory as the tree's newest revision, signed with the platform
    /// key and audited; every running node serves it within 2 s, without a restart.
    #[command(
        after_help = "Refused (exit 1) while nodes it would deactivate or move still hold \
        open cases or grants: transfer the cases and revoke or re-grant the grants first. \
        Exits 0 when applied or already current, 3 when the directory is invalid or there is \
        no platform key, 4 when the database cannot be reached.\n\n\
        Examples:\n  civitas tenant plan ./tenants && civitas tenant apply ./tenants\n  \
        civitas tenant apply ./tenants --database-url postgres://civitas@db/civitas \
        --platform-key-file /etc/civitas/platform.pem --json"
    )]
    Apply {
        /// The directory [default: ./tenants].
        dir: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseArgs,
        /// The platform's SM2 key (PKCS#8 PEM) that signs the revision [default: DATA_DIR/platform.pem].
        #[arg(long, env = "CIVITAS_PLATFORM_KEY_FILE", value_name = "FILE")]
        platform_key_file: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a tenants directory and report every problem with file and line.
    #[command(after_help = "Exits 0 when valid, 1 when problems were found.\n\n\
        Examples:\n  civitas tenant validate\n  civitas tenant validate ./tenants --json")]
    Validate {
        /// The directory [default: ./tenants].
        dir: Option<PathBuf>,
        /// Print JSON: {\"valid\": bool, \"tenants\": n, \"problems\": [...]}.
        #[arg(long)]
        json: bool,
    },
}

/// mimalloc instead of glibc's allocator: a batch evaluation is thousands
/// of short-lived JSON values, stores and instances, and glibc's malloc and
/// free took a fifth of the server's time there (`perf`); with mimalloc the
/// batch runs 12 % faster (BENCHMARKS.md, "Batch evaluation").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("错误 (error): {e:#}");
            ExitCode::from(accounts_cli::exit_code(&e))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Serve(args) => serve_command(cli.config.as_deref(), *args),
        Command::Migrate(args) => migrate_command(cli.config.as_deref(), args),
        Command::Backup(args) => {
            let settings = database_settings(cli.config.as_deref(), &args.database)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(backup_cli::backup(
                &settings.database_url,
                &settings.data_dir,
                &args.out,
                args.json,
            ))
        }
        Command::Restore(args) => {
            let settings = database_settings(cli.config.as_deref(), &args.database)?;
            if !settings.uses_sqlite() {
                eprintln!(
                    "错误 (error): civitas restore 用于内嵌数据库 (SQLite)；PostgreSQL 请用 pg_restore（见 README「备份」）\n\
                     (civitas restore is for the embedded database; restore PostgreSQL with its own tools, README \"Backups\")"
                );
                return Ok(exit::USAGE);
            }
            // The database's file, as `serve` would open it.
            let file = settings
                .database_url
                .trim_start_matches("sqlite:")
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned();
            backup_cli::restore(&args.from, Path::new(&file), &settings.data_dir, args.json)
        }
        Command::Tenant(command) => tenant_command(cli.config.as_deref(), command),
        Command::Crypto(command) => crypto_cli::run(command),
        Command::Module(module_cli::ModuleCommand::WhatIf {
            service,
            tenant,
            candidate,
            since,
            data_dir,
            database_url,
            tenants_dir,
            json,
        }) => {
            let database = DatabaseArgs {
                data_dir,
                database_url,
            };
            let mut settings = database_settings(cli.config.as_deref(), &database)?;
            if let Some(dir) = tenants_dir {
                settings.tenants_dir = dir;
            }
            let request = module_cli::WhatIfRequest {
                service,
                tenant,
                candidate,
                since,
                json,
            };
            with_database(&settings, async |db, _| {
                module_cli::what_if(db, &settings, request).await
            })
        }
        Command::Module(command) => module_cli::run(command),
        Command::Accounts(args) => accounts_cli::run(args),
        Command::Export(args) => export_cli::run(args),
        Command::Doc(command) => doc_cli::run(command),
        Command::Seal(args) => doc_cli::run_seal(args),
        Command::Calendar(command) => calendar_cli::run(command),
        Command::Lottery(command) => lottery_cli::run(command),
        Command::Audit(args) => audit_command(cli.config.as_deref(), args),
        Command::Keys(args) => keys_command(cli.config.as_deref(), args),
        Command::Admin(args) => admin_command(cli.config.as_deref(), args),
        Command::Search(args) => search_command(cli.config.as_deref(), args),
        Command::Entitlements(args) => {
            let settings = database_settings(cli.config.as_deref(), &args.database)?;
            with_database(&settings, async |db, _| {
                entitlements_cli::run(db, &settings, args.command).await
            })
        }
    }
}

/// `--database-url`, else `CIVITAS_DATABASE_URL` (both via clap), else the
/// conventional `DATABASE_URL`.
fn database_url(args: &DatabaseArgs) -> Option<String> {
    args.database_url
        .clone()
        .or_else(|| std::env::var("DATABASE_URL").ok().filter(|v| !v.is_empty()))
}

fn serve_command(config: Option<&Path>, args: ServeArgs) -> anyhow::Result<u8> {
    let file = match PartialSettings::load_file(config) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("错误 (error): {e:#}");
            return Ok(exit::CONFIG);
        }
    };
    let given = PartialSettings {
        data_dir: args.database.data_dir.clone(),
        listen: args.listen,
        metrics_listen: args.metrics_listen,
        database_url: database_url(&args.database),
        tenants_dir: args.tenants_dir,
        body_limit: args.body_limit,
        db_max_connections: args.db_max_connections,
        shutdown_grace_secs: args.shutdown_grace_secs,
        log: args.log,
        log_format: args.log_format,
        master_key_file: args.master_key_file,
        platform_key_file: args.platform_key_file,
        anchor_interval_secs: args.anchor_interval_secs,
        timer_interval_secs: args.timer_interval_secs,
        lockout_threshold: args.lockout_threshold,
        lockout_minutes: args.lockout_minutes,
        sign_in_failures_per_address: args.sign_in_failures_per_address,
        registrations_per_address: args.registrations_per_address,
        key_failures_per_address: args.key_failures_per_address,
        password_iterations: args.password_iterations,
        session_idle_minutes: args.session_idle_minutes,
        session_max_minutes: args.session_max_minutes,
        access_token_minutes: args.access_token_minutes,
        trusted_proxies: args.trusted_proxies,
        module_cache_dir: args.module_cache_dir,
        demo_modules_dir: args.demo_modules_dir,
        search_dir: args.search.search_dir.clone(),
        meili_url: args.search.meili_url.clone(),
        meili_index: args.search.meili_index.clone(),
        meili_public_url: args.search.meili_public_url.clone(),
        meili_key: args.search.partial().meili_key,
        public_url: args.public_url,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        fonts_dir: args.fonts_dir,
        oidc_issuer: args.oidc_issuer,
        oidc_client_id: args.oidc_client_id,
        // A secret is never a flag (command lines are visible to others).
        oidc_client_secret: std::env::var("CIVITAS_OIDC_CLIENT_SECRET")
            .ok()
            .filter(|s| !s.is_empty()),
        oidc_redirect_url: args.oidc_redirect_url,
        oidc_scopes: args.oidc_scopes,
        oidc_id_number_claim: args.oidc_id_number_claim,
        oidc_credit_code_claim: args.oidc_credit_code_claim,
        sms_url: args.sms_url,
        sms_access_key_id: args.sms_access_key_id,
        // A secret is never a flag.
        sms_access_key_secret: std::env::var("CIVITAS_SMS_ACCESS_KEY_SECRET")
            .ok()
            .filter(|s| !s.is_empty()),
        sms_sign_name: args.sms_sign_name,
        sms_region: args.sms_region,
        smtp_url: args.smtp_url,
        mail_from: args.mail_from,
        notify_interval_secs: args.notify_interval_secs,
        notify_lease_secs: args.notify_lease_secs,
        change_poll_secs: args.change_poll_secs,
        change_notices: args.change_notices,
        search_takeover_secs: args.search_takeover_secs,
    };
    let settings = match Settings::resolve(given, file) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("错误 (error): {e:#}");
            return Ok(exit::CONFIG);
        }
    };
    if args.print_config {
        println!("{}", serde_json::to_string_pretty(&settings)?);
        return Ok(exit::OK);
    }
    let format = if settings.log_format == "json" {
        civitas_telemetry::LogFormat::Json
    } else {
        civitas_telemetry::LogFormat::Text
    };
    // Telemetry starts before the runtime and stops after it, so that the
    // OTLP exporter's own threads and client never run inside the runtime
    // and the last spans are flushed on the way out.
    let telemetry = civitas_telemetry::init(&settings.log, format)?;
    if telemetry.exporting() {
        tracing::info!("exporting traces over OTLP");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let code = runtime.block_on(serve_async(settings, args.demo, args.apply_tenants));
    drop(runtime);
    drop(telemetry);
    code
}

async fn serve_async(settings: Settings, demo: bool, apply_tenants: bool) -> anyhow::Result<u8> {
    // A certificate or key that cannot be used is a configuration error,
    // found before the database is opened.
    let tls = match &settings.tls {
        None => None,
        Some(files) => match civitas::tls::server_config(&files.cert, &files.key) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("错误 (error): {e}");
                return Ok(exit::CONFIG);
            }
        },
    };
    let platform = match serve::start(&settings, demo, apply_tenants).await {
        Ok(platform) => platform,
        Err(StartError::Tenants(errors)) => {
            eprint!("{errors}");
            eprintln!(
                "租户配置无效，服务未启动 (invalid tenant configuration: the server did not start)"
            );
            return Ok(exit::CONFIG);
        }
        Err(
            e @ (StartError::Database(_) | StartError::Keys(civitas_vault::VaultError::Storage(_))),
        ) => {
            eprintln!("错误 (error): {e}");
            return Ok(exit::DATABASE);
        }
        Err(e) => {
            eprintln!("错误 (error): {e}");
            return Ok(exit::CONFIG);
        }
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("无法监听 (cannot listen on) {}", settings.listen))?;
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        %address,
        database = platform.db.backend().as_str(),
        tenants = platform.tree.len(),
        "Civitas is serving on {scheme}://{address}"
    );
    let throttle = std::sync::Arc::new(civitas_api::Throttle::new(settings.throttle()));
    let auth = platform
        .platform_key
        .clone()
        .map(|platform_key| civitas_api::AuthSettings {
            platform_key,
            sign_in: settings.sign_in(platform.realm.clone()),
            sessions: settings.sessions(),
            authorizer: platform.authorizer.clone(),
        });
    let directory =
        civitas_api::SharedDirectory::new(civitas_api::TenantDirectory::load(&platform.db).await?);
    let realname = match &settings.oidc {
        None => None,
        Some(oidc) => match civitas_realname::OidcVerifier::new(oidc.client_settings()) {
            Ok(verifier) => {
                tracing::info!(issuer = %oidc.issuer, "identity provider configured for real-name verification");
                Some(verifier)
            }
            Err(e) => {
                eprintln!("错误 (error): {e}");
                return Ok(exit::CONFIG);
            }
        },
    };
    // Exports are written here before they are sent: on the data
    // directory's disk, not in a temporary directory that may be memory.
    let export_dir = settings.data_dir.join("exports");
    std::fs::create_dir_all(&export_dir)
        .with_context(|| format!("creating {}", export_dir.display()))?;
    let notifier = match serve::start_notifier(&settings, &platform) {
        Ok(notifier) => notifier,
        Err(e) => {
            eprintln!("错误 (error): {e}");
            return Ok(exit::CONFIG);
        }
    };
    // What other nodes change of what this one keeps in memory.
    let changes = std::sync::Arc::new(civitas_storage::changes::ChangeFeed::new());
    let metrics_listener = match settings.metrics_listen {
        None => None,
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("无法监听 (cannot listen on) {address}"))?,
        ),
    };
    let (app, metrics_app) = civitas_api::apps(
        platform.db.clone(),
        &civitas_api::ApiSettings {
            body_limit: settings.body_limit,
            auth,
            keyring: Some(platform.keyring.clone()),
            trusted_proxies: settings.trusted_proxy_networks(),
            modules: Some(civitas_api::ModuleSettings {
                runtime: platform.modules.clone(),
                tree: platform.shared_tree.clone(),
            }),
            workflow: Some(platform.workflow.clone()),
            tenants: directory.clone(),
            throttle: throttle.clone(),
            realname,
            search: platform.search.clone(),
            documents: Some(platform.documents.clone()),
            sealing: Some(civitas_api::SealingSettings {
                templates: platform.templates.clone(),
                fonts_dir: settings.fonts_dir.clone(),
                fonts: std::sync::OnceLock::new(),
                verify_url: format!("{}/verify", settings.public_url),
            }),
            export_dir: Some(export_dir),
            notify: Some(notifier.offered()),
            changes: Some(changes.clone()),
            metrics_on_public_port: metrics_listener.is_none(),
        },
    );
    let metrics_serving = match metrics_listener {
        None => None,
        Some(listener) => {
            let address = listener.local_addr()?;
            tracing::info!(%address, "metrics on http://{address}/metrics");
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, metrics_app).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            }))
        }
    };
    let indexing = platform
        .search
        .clone()
        .map(|search| tokio::spawn(search.run(Duration::from_millis(200))));
    let change_poll = Duration::from_secs(settings.change_poll_secs);
    let listening = {
        let (changes, db) = (changes.clone(), platform.db.clone());
        let notices = settings.change_notices;
        tokio::spawn(async move {
            if notices {
                changes.listen(&db).await;
            } else {
                changes.look_only();
            }
        })
    };
    let following = tokio::spawn(civitas::tree_revisions::follow(
        platform.db.clone(),
        civitas::tree_revisions::Served {
            tree: platform.shared_tree.clone(),
            directory,
            keyring: platform.keyring.clone(),
            key: platform.platform_key.as_ref().map(|k| k.public_key()),
        },
        changes.clone(),
        platform.revision,
        change_poll,
    ));
    let timers = tokio::spawn(serve::fire_timers_periodically(
        platform.db.clone(),
        Duration::from_secs(settings.timer_interval_secs),
    ));
    let notifying = tokio::spawn(notifier.run(Duration::from_secs(settings.notify_interval_secs)));
    let anchoring = platform.platform_key.clone().map(|key| {
        tokio::spawn(serve::anchor_periodically(
            platform.db.clone(),
            key,
            Duration::from_secs(settings.anchor_interval_secs),
        ))
    });
    let sign_in = settings.sign_in(platform.realm.clone());
    let guarding = tokio::spawn(serve::guard_sign_in_periodically(
        platform.db.clone(),
        throttle.clone(),
        sign_in.clone(),
        serve::GUARD_INTERVAL,
    ));
    let refreshing = tokio::spawn(serve::refresh_authorizer_periodically(
        platform.db.clone(),
        platform.authorizer.clone(),
        changes.clone(),
        platform.grants_version,
        change_poll,
    ));
    let grace = Duration::from_secs(settings.shutdown_grace_secs);
    match tls {
        None => serve::run_server(listener, app, serve::shutdown_signal(), grace).await?,
        Some(config) => {
            use axum::serve::ListenerExt as _;
            // tap_io: so handlers still see the peer's address.
            let listener = civitas::tls::TlsListener::new(listener, config)?.tap_io(|_| ());
            serve::run_server(listener, app, serve::shutdown_signal(), grace).await?;
        }
    }
    if let Some(anchoring) = anchoring {
        anchoring.abort();
    }
    refreshing.abort();
    following.abort();
    listening.abort();
    if let Some(metrics_serving) = metrics_serving {
        metrics_serving.abort();
    }
    if let Some(indexing) = indexing {
        indexing.abort();
    }
    timers.abort();
    notifying.abort();
    guarding.abort();
    // What was counted since the last round is written before stopping.
    serve::guard_sign_in_once(&platform.db, &throttle, &sign_in).await;
    platform.db.close().await;
    tracing::info!("stopped");
    Ok(exit::OK)
}

/// Settings for commands that only need the database.
fn database_settings(config: Option<&Path>, args: &DatabaseArgs) -> anyhow::Result<Settings> {
    let file = PartialSettings::load_file(config)?;
    let given = PartialSettings {
        data_dir: args.data_dir.clone(),
        database_url: database_url(args),
        // Commands that settle the tree revision (admin init) sign with it.
        platform_key_file: std::env::var_os("CIVITAS_PLATFORM_KEY_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        ..PartialSettings::default()
    };
    database_settings_from(Settings::resolve(given, file)?)
}

/// Creates the data directory of an embedded database.
fn database_settings_from(settings: Settings) -> anyhow::Result<Settings> {
    if settings.uses_sqlite() {
        std::fs::create_dir_all(&settings.data_dir).with_context(|| {
            format!(
                "无法创建数据目录 (cannot create data directory) {}",
                settings.data_dir.display()
            )
        })?;
    }
    Ok(settings)
}

/// Connects and applies pending migrations, returning how many were
/// applied; on failure says why and gives the exit code.
async fn open_database(url: &str) -> Result<(Database, usize), u8> {
    let failed = |e: civitas_storage::StorageError| {
        eprintln!("错误 (error): {e}");
        exit::DATABASE
    };
    let db = Database::connect(url).await.map_err(failed)?;
    let applied = db.migrate().await.map_err(failed)?;
    Ok((db, applied))
}

/// Opens and migrates the database of `settings`, runs `work` on it, then
/// closes it; a database that cannot be opened gives exit code 4.
fn with_database(
    settings: &Settings,
    work: impl AsyncFnOnce(&Database, usize) -> anyhow::Result<u8>,
) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (db, applied) = match open_database(&settings.database_url).await {
            Ok(opened) => opened,
            Err(code) => return Ok(code),
        };
        let code = work(&db, applied).await;
        db.close().await;
        code
    })
}

fn audit_command(config: Option<&Path>, args: AuditArgs) -> anyhow::Result<u8> {
    let settings = database_settings(config, &args.database)?;
    with_database(&settings, async |db, _| {
        audit_cli::run(db, &settings, args.command).await
    })
}

fn search_command(config: Option<&Path>, args: SearchCliArgs) -> anyhow::Result<u8> {
    let file = PartialSettings::load_file(config)?;
    let given = PartialSettings {
        data_dir: args.database.data_dir.clone(),
        database_url: database_url(&args.database),
        ..args.search.partial()
    };
    let settings = database_settings_from(Settings::resolve(given, file)?)?;
    with_database(&settings, async |db, _| {
        search_cli::run(db, &settings, args.command).await
    })
}

fn admin_command(config: Option<&Path>, args: AdminArgs) -> anyhow::Result<u8> {
    let settings = database_settings(config, &args.database)?;
    let AdminCommand::Init {
        tenant,
        tenants_dir,
        json,
    } = args.command;
    with_database(&settings, async |db, _| {
        admin_cli::init(db, &settings, tenants_dir, tenant, json).await
    })
}

fn keys_command(config: Option<&Path>, args: KeysArgs) -> anyhow::Result<u8> {
    let file = PartialSettings::load_file(config)?;
    let given = PartialSettings {
        data_dir: args.database.data_dir.clone(),
        database_url: database_url(&args.database),
        master_key_file: args.master_key_file.clone(),
        platform_key_file: std::env::var_os("CIVITAS_PLATFORM_KEY_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        ..PartialSettings::default()
    };
    let settings = Settings::resolve(given, file)?;
    // `init` makes the key file and needs no database.
    if let keys_cli::KeysCommand::Init { out, json } = &args.command {
        return keys_cli::init(&settings, out.clone(), *json);
    }
    let settings = database_settings_from(settings)?;
    with_database(&settings, async |db, _| {
        keys_cli::run(db, &settings, args.command).await
    })
}

fn migrate_command(config: Option<&Path>, args: MigrateArgs) -> anyhow::Result<u8> {
    let settings = database_settings(config, &args.database)?;
    with_database(&settings, async |db, applied| {
        if args.json {
            let out = serde_json::json!({"applied": applied, "database": db.backend().as_str()});
            println!("{out}");
        } else if applied == 0 {
            println!("数据库已是最新 (database is up to date)");
        } else {
            println!("已执行 {applied} 个迁移 (applied {applied} migration(s))");
        }
        Ok(exit::OK)
    })
}

fn tenants_dir(config: Option<&Path>, given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let file = PartialSettings::load_file(config)?;
    Ok(given
        .or(file.tenants_dir)
        .unwrap_or_else(|| PathBuf::from("tenants")))
}

fn tenant_command(config: Option<&Path>, command: TenantCommand) -> anyhow::Result<u8> {
    match command {
        TenantCommand::Plan {
            dir,
            database,
            json,
        } => {
            let dir = tenants_dir(config, dir)?;
            let settings = database_settings(config, &database)?;
            with_database(&settings, async |db, _| {
                tenant_cli::plan(db, &dir, json).await
            })
        }
        TenantCommand::Apply {
            dir,
            database,
            platform_key_file,
            json,
        } => {
            let dir = tenants_dir(config, dir)?;
            let file = PartialSettings::load_file(config)?;
            let given = PartialSettings {
                data_dir: database.data_dir.clone(),
                database_url: database_url(&database),
                platform_key_file,
                ..PartialSettings::default()
            };
            let settings = database_settings_from(Settings::resolve(given, file)?)?;
            with_database(&settings, async |db, _| {
                tenant_cli::apply(db, &settings, &dir, json).await
            })
        }
        TenantCommand::Validate { dir, json } => {
            let dir = tenants_dir(config, dir)?;
            let result = TenantTree::load(&dir);
            if json {
                let out = match &result {
                    Ok(tree) => {
                        serde_json::json!({"valid": true, "tenants": tree.len(), "problems": []})
                    }
                    Err(errors) => serde_json::json!({
                        "valid": false,
                        "problems": errors.iter().map(|e| serde_json::json!({
                            "file": e.file.display().to_string(),
                            "line": e.line,
                            "message": e.kind.to_string(),
                        })).collect::<Vec<_>>(),
                    }),
                };
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                match &result {
                    Ok(tree) => println!(
                        "✓ {} 有效，共 {} 个租户 ({} is valid: {} tenants)",
                        dir.display(),
                        tree.len(),
                        dir.display(),
                        tree.len()
                    ),
                    Err(errors) => print!("{errors}"),
                }
            }
            Ok(if result.is_ok() {
                exit::OK
            } else {
                exit::FAILURE
            })
        }
        TenantCommand::List {
            tenants_dir: dir,
            json,
        } => {
            let Some(tree) = load_tree(&tenants_dir(config, dir)?) else {
                return Ok(exit::CONFIG);
            };
            if json {
                let tenants: Vec<&Tenant> = tree.iter().collect();
                println!("{}", serde_json::to_string_pretty(&tenants)?);
            } else {
                for tenant in tree.iter() {
                    let indent = "  ".repeat(tenant.path.depth() - 1);
                    println!(
                        "{indent}{} {}  [{}]  {}  {}",
                        tenant.name, tenant.name_en, tenant.level, tenant.path, tenant.slug_path
                    );
                }
            }
            Ok(exit::OK)
        }
        TenantCommand::Show {
            path,
            tenants_dir: dir,
            json,
        } => {
            let Some(tree) = load_tree(&tenants_dir(config, dir)?) else {
                return Ok(exit::CONFIG);
            };
            let Some(tenant) = tree.resolve(&path) else {
                eprintln!("租户不存在 (tenant not found): {path}");
                return Ok(exit::FAILURE);
            };
            let children: Vec<&Tenant> = tree.children(&tenant.path).collect();
            if json {
                let out = serde_json::json!({
                    "tenant": tenant,
                    "children": children.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("{} {}", tenant.name, tenant.name_en);
                println!(
                    "  层级 level:     {} ({})",
                    tenant.level,
                    tree.level(&tenant.level)
                        .map_or("", |level| level.name_zh.as_str())
                );
                println!("  路径 path:      {}", tenant.path);
                println!("  别名 slug path: {}", tenant.slug_path);
                println!("  条线 lines:     {}", tenant.lines.join(", "));
                println!("  来源 source:    {}", tenant.source.display());
                for (key, value) in &tenant.settings {
                    println!("  设置 setting:   {key} = {value}");
                }
                for child in children {
                    println!(
                        "  下级 child:     {} {} ({})",
                        child.path, child.name, child.slug_path
                    );
                }
            }
            Ok(exit::OK)
        }
    }
}

fn load_tree(dir: &Path) -> Option<TenantTree> {
    match TenantTree::load(dir) {
        Ok(tree) => Some(tree),
        Err(errors) => {
            eprint!("{errors}");
            None
        }
    }
}
