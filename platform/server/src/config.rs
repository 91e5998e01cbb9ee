//! Effective settings: flags, then `CIVITAS_*` environment, then
//! `civitas.toml`, then defaults.
//!
//! clap reads flags and environment (a flag wins over its variable); the
//! file fills what neither gave.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The configuration file read when `--config` is not given, if present.
pub const DEFAULT_CONFIG_FILE: &str = "civitas.toml";

/// One layer of settings, every key optional: what the command line and
/// environment gave, or what `civitas.toml` says (unknown keys refused).
/// `None` means "not given here", so a lower layer or the default applies.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialSettings {
    /// `--data-dir` / `CIVITAS_DATA_DIR` / `data_dir`.
    pub data_dir: Option<PathBuf>,
    /// `--listen` / `CIVITAS_LISTEN` / `listen`.
    pub listen: Option<SocketAddr>,
    /// `--metrics-listen` / `CIVITAS_METRICS_LISTEN` / `metrics_listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// `--database-url` / `CIVITAS_DATABASE_URL` / `DATABASE_URL` / `database_url`.
    pub database_url: Option<String>,
    /// `--tenants-dir` / `CIVITAS_TENANTS_DIR` / `tenants_dir`.
    pub tenants_dir: Option<PathBuf>,
    /// `--body-limit` / `CIVITAS_BODY_LIMIT` / `body_limit`.
    pub body_limit: Option<usize>,
    /// `--db-max-connections` / `CIVITAS_DB_MAX_CONNECTIONS` / `db_max_connections`.
    pub db_max_connections: Option<u32>,
    /// `--shutdown-grace-secs` / `CIVITAS_SHUTDOWN_GRACE_SECS` / `shutdown_grace_secs`.
    pub shutdown_grace_secs: Option<u64>,
    /// `--log` / `CIVITAS_LOG` / `log`.
    pub log: Option<String>,
    /// `--log-format` / `CIVITAS_LOG_FORMAT` / `log_format`.
    pub log_format: Option<String>,
    /// `--master-key-file` / `CIVITAS_MASTER_KEY_FILE` / `master_key_file`.
    pub master_key_file: Option<PathBuf>,
    /// `--platform-key-file` / `CIVITAS_PLATFORM_KEY_FILE` / `platform_key_file`.
    pub platform_key_file: Option<PathBuf>,
    /// `--anchor-interval-secs` / `CIVITAS_ANCHOR_INTERVAL_SECS` / `anchor_interval_secs`.
    pub anchor_interval_secs: Option<u64>,
    /// `--timer-interval-secs` / `CIVITAS_TIMER_INTERVAL_SECS` / `timer_interval_secs`.
    pub timer_interval_secs: Option<u64>,
    /// `--lockout-threshold` / `CIVITAS_LOCKOUT_THRESHOLD` / `lockout_threshold`.
    pub lockout_threshold: Option<u32>,
    /// `--lockout-minutes` / `CIVITAS_LOCKOUT_MINUTES` / `lockout_minutes`.
    pub lockout_minutes: Option<u32>,
    /// `--password-iterations` / `CIVITAS_PASSWORD_ITERATIONS` / `password_iterations`.
    pub password_iterations: Option<u32>,
    /// `--session-idle-minutes` / `CIVITAS_SESSION_IDLE_MINUTES` / `session_idle_minutes`.
    pub session_idle_minutes: Option<u32>,
    /// `--session-max-minutes` / `CIVITAS_SESSION_MAX_MINUTES` / `session_max_minutes`.
    pub session_max_minutes: Option<u32>,
    /// `--access-token-minutes` / `CIVITAS_ACCESS_TOKEN_MINUTES` / `access_token_minutes`.
    pub access_token_minutes: Option<u32>,
    /// `--sign-in-failures-per-address` / `CIVITAS_SIGN_IN_FAILURES_PER_ADDRESS` / `sign_in_failures_per_address`.
    pub sign_in_failures_per_address: Option<u32>,
    /// `--registrations-per-address` / `CIVITAS_REGISTRATIONS_PER_ADDRESS` / `registrations_per_address`.
    pub registrations_per_address: Option<u32>,
    /// `--key-failures-per-address` / `CIVITAS_KEY_FAILURES_PER_ADDRESS` / `key_failures_per_address`.
    pub key_failures_per_address: Option<u32>,
    /// `--trusted-proxies` / `CIVITAS_TRUSTED_PROXIES` / `trusted_proxies`.
    pub trusted_proxies: Option<Vec<String>>,
    /// `--module-cache-dir` / `CIVITAS_MODULE_CACHE_DIR` / `module_cache_dir`.
    pub module_cache_dir: Option<PathBuf>,
    /// `--demo-modules-dir` / `CIVITAS_DEMO_MODULES_DIR` / `demo_modules_dir`.
    pub demo_modules_dir: Option<PathBuf>,
    /// `--oidc-issuer` / `CIVITAS_OIDC_ISSUER` / `oidc_issuer`.
    pub oidc_issuer: Option<String>,
    /// `--search-dir` / `CIVITAS_SEARCH_DIR` / `search_dir`.
    pub search_dir: Option<PathBuf>,
    /// `--meili-url` / `CIVITAS_MEILI_URL` / `meili_url`.
    pub meili_url: Option<String>,
    /// `--meili-index` / `CIVITAS_MEILI_INDEX` / `meili_index`.
    pub meili_index: Option<String>,
    /// `--meili-public-url` / `CIVITAS_MEILI_PUBLIC_URL` / `meili_public_url`.
    pub meili_public_url: Option<String>,
    /// `--public-url` / `CIVITAS_PUBLIC_URL` / `public_url`.
    pub public_url: Option<String>,
    /// `--tls-cert` / `CIVITAS_TLS_CERT` / `tls_cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key` / `CIVITAS_TLS_KEY` / `tls_key`.
    pub tls_key: Option<PathBuf>,
    /// `--fonts-dir` / `CIVITAS_FONTS_DIR` / `fonts_dir`.
    pub fonts_dir: Option<PathBuf>,
    /// `CIVITAS_MEILI_KEY` / `meili_key` (never a flag).
    pub meili_key: Option<String>,
    /// `--oidc-client-id` / `CIVITAS_OIDC_CLIENT_ID` / `oidc_client_id`.
    pub oidc_client_id: Option<String>,
    /// `CIVITAS_OIDC_CLIENT_SECRET` / `oidc_client_secret` (never a flag:
    /// command lines are visible to every user of the machine).
    pub oidc_client_secret: Option<String>,
    /// `--oidc-redirect-url` / `CIVITAS_OIDC_REDIRECT_URL` / `oidc_redirect_url`.
    pub oidc_redirect_url: Option<String>,
    /// `--oidc-scopes` / `CIVITAS_OIDC_SCOPES` / `oidc_scopes`.
    pub oidc_scopes: Option<Vec<String>>,
    /// `--oidc-id-number-claim` / `CIVITAS_OIDC_ID_NUMBER_CLAIM` / `oidc_id_number_claim`.
    pub oidc_id_number_claim: Option<String>,
    /// `--oidc-credit-code-claim` / `CIVITAS_OIDC_CREDIT_CODE_CLAIM` / `oidc_credit_code_claim`.
    pub oidc_credit_code_claim: Option<String>,
    /// `--sms-url` / `CIVITAS_SMS_URL` / `sms_url`.
    pub sms_url: Option<String>,
    /// `--sms-access-key-id` / `CIVITAS_SMS_ACCESS_KEY_ID` / `sms_access_key_id`.
    pub sms_access_key_id: Option<String>,
    /// `CIVITAS_SMS_ACCESS_KEY_SECRET` / `sms_access_key_secret` (never a flag).
    pub sms_access_key_secret: Option<String>,
    /// `--sms-sign-name` / `CIVITAS_SMS_SIGN_NAME` / `sms_sign_name`.
    pub sms_sign_name: Option<String>,
    /// `--sms-region` / `CIVITAS_SMS_REGION` / `sms_region`.
    pub sms_region: Option<String>,
    /// `--smtp-url` / `CIVITAS_SMTP_URL` / `smtp_url`.
    pub smtp_url: Option<String>,
    /// `--mail-from` / `CIVITAS_MAIL_FROM` / `mail_from`.
    pub mail_from: Option<String>,
    /// `--notify-interval-secs` / `CIVITAS_NOTIFY_INTERVAL_SECS` / `notify_interval_secs`.
    pub notify_interval_secs: Option<u64>,
    /// `--notify-lease-secs` / `CIVITAS_NOTIFY_LEASE_SECS` / `notify_lease_secs`.
    pub notify_lease_secs: Option<u64>,
    /// `--change-poll-secs` / `CIVITAS_CHANGE_POLL_SECS` / `change_poll_secs`.
    pub change_poll_secs: Option<u64>,
    /// `--change-notices` / `CIVITAS_CHANGE_NOTICES` / `change_notices`.
    pub change_notices: Option<bool>,
    /// `--search-takeover-secs` / `CIVITAS_SEARCH_TAKEOVER_SECS` / `search_takeover_secs`.
    pub search_takeover_secs: Option<u64>,
}

impl PartialSettings {
    /// Reads the configuration file `path`, or the default file if `path`
    /// is `None` and it exists.
    pub fn load_file(path: Option<&Path>) -> anyhow::Result<PartialSettings> {
        let (path, required) = match path {
            Some(path) => (path.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(PartialSettings::default());
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "无法读取配置文件 (cannot read config file) {}",
                        path.display()
                    )
                });
            }
        };
        toml::from_str(&text)
            .with_context(|| format!("配置文件格式错误 (invalid config file) {}", path.display()))
    }
}

/// The certificate chain and private key of native TLS, both PEM files.
#[derive(Debug, Clone, Serialize)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The effective settings of `civitas serve` and `civitas migrate`.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Where the embedded database lives (default `./data`).
    pub data_dir: PathBuf,
    /// The address to listen on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Where `/metrics` is served instead of the public port (default
    /// none: on the public port).
    pub metrics_listen: Option<SocketAddr>,
    /// The database URL (default `sqlite:<data_dir>/civitas.db`).
    pub database_url: String,
    /// The tenants directory (default `./tenants`).
    pub tenants_dir: PathBuf,
    /// The largest request body in bytes (default 1 MiB).
    pub body_limit: usize,
    /// The most database connections the node opens (default 16).
    pub db_max_connections: u32,
    /// How long in-flight requests may take to finish after SIGINT/SIGTERM.
    pub shutdown_grace_secs: u64,
    /// The log filter (default `info,sqlx=warn`).
    pub log: String,
    /// `text` or `json`.
    pub log_format: String,
    /// The master key file (default `<data_dir>/master.key`), used unless
    /// `CIVITAS_MASTER_KEY` holds the key itself.
    pub master_key_file: PathBuf,
    /// The platform's SM2 private key (default `<data_dir>/platform.pem`):
    /// it signs the audit anchors and access tokens.
    pub platform_key_file: PathBuf,
    /// How often `serve` signs the audit chains' heads (default 3600 s).
    pub anchor_interval_secs: u64,
    /// How often `serve` fires due workflow timers (default 5 s).
    pub timer_interval_secs: u64,
    /// Failed sign-ins within `lockout_minutes` that lock an account (default 5).
    pub lockout_threshold: u32,
    /// Minutes a locked account stays locked, and the window failures are
    /// counted in (default 15).
    pub lockout_minutes: u32,
    /// Failed sign-ins one address may make, on all accounts, within
    /// `lockout_minutes` before it is answered 429 (default 20); on one
    /// account it may fail `lockout_threshold` − 1 times.
    pub sign_in_failures_per_address: u32,
    /// Registration attempts one address may make per hour (default 20).
    pub registrations_per_address: u32,
    /// Refused API keys one address may present per minute (default 20).
    pub key_failures_per_address: u32,
    /// PBKDF2-HMAC-SM3 iterations for new password hashes (at least 1000) (default 100000).
    pub password_iterations: u32,
    /// Minutes of inactivity that end a session (default 30).
    pub session_idle_minutes: u32,
    /// Minutes after sign-in a session ends whatever happens (default 480).
    pub session_max_minutes: u32,
    /// Minutes one access token is valid (default 5).
    pub access_token_minutes: u32,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For`
    /// is believed (default none).
    pub trusted_proxies: Vec<String>,
    /// Where compiled module code is cached between restarts (default
    /// `<data_dir>/module-cache`).
    pub module_cache_dir: PathBuf,
    /// Where `serve --demo` finds the demo's module components (default
    /// `target/modules`, written by `infra/dev/build-modules`).
    pub demo_modules_dir: PathBuf,
    /// The identity provider that verifies self-registered accounts
    /// (default none: only an officer's in-person verification).
    pub oidc: Option<OidcConfig>,
    /// Where search lives (default tantivy in `<data_dir>/search`;
    /// Meilisearch with `meili_url`).
    pub search: crate::search::SearchConfig,
    /// The address the public reaches the platform at, printed on every
    /// sealed document as where to verify it (default `http://LISTEN`, or
    /// `https://LISTEN` with `tls`).
    pub public_url: String,
    /// The certificate chain and private key (PEM) the public port serves
    /// TLS with (default none: plain HTTP, TLS terminated in front).
    pub tls: Option<TlsFiles>,
    /// Where the fonts of official documents are: Noto Serif CJK
    /// (default `/usr/share/fonts/opentype/noto`, Debian's fonts-noto-cjk).
    pub fonts_dir: PathBuf,
    /// The SMS gateway notices go out through (default none: no SMS).
    pub sms: Option<SmsConfig>,
    /// The mail relay notices go out through (default none: no e-mail).
    pub mail: Option<MailConfig>,
    /// Seconds between notification rounds (default 1).
    pub notify_interval_secs: u64,
    /// Seconds a node holds a delivery while sending it before another
    /// node takes it over (default 60, at least 10); the gateways' timeouts
    /// are half of it.
    pub notify_lease_secs: u64,
    /// Seconds between a node's own looks at the grants, settings and tree
    /// versions (default 2): the fallback for a change notice lost with the
    /// listening connection on PostgreSQL, and the only way on SQLite.
    pub change_poll_secs: u64,
    /// Seconds the embedded search index that holds a PostgreSQL
    /// database's outbox may go unseen before another node's embedded
    /// index rebuilds itself and takes over (default 30, at least 3).
    pub search_takeover_secs: u64,
    /// Whether a node on PostgreSQL listens for other nodes' change notices
    /// (default true). Off behind a proxy that does not carry `LISTEN`
    /// (PgBouncer in transaction mode): the periodic look is all there is.
    pub change_notices: bool,
}

/// The SMS gateway (Aliyun dysmsapi contract).
#[derive(Debug, Clone, Serialize)]
pub struct SmsConfig {
    /// `http://host[:port]/`.
    pub url: String,
    /// The AccessKey id.
    pub access_key_id: String,
    /// The AccessKey secret (never printed).
    #[serde(skip)]
    pub access_key_secret: String,
    /// The registered sign name.
    pub sign_name: String,
    /// The region requests name (default cn-hangzhou).
    pub region: String,
}

/// The mail relay.
#[derive(Debug, Clone, Serialize)]
pub struct MailConfig {
    /// `smtp://host[:port]`.
    pub url: String,
    /// The sender (`上海市一网通办 <noreply@example.gov.cn>`).
    pub from: String,
}

/// The identity provider (统一身份认证) settings: issuer, client, where it
/// sends people back, scopes and the claims that carry the identity.
#[derive(Clone, serde::Serialize)]
pub struct OidcConfig {
    /// The issuer URL.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// The client secret (never printed).
    #[serde(skip_serializing)]
    pub client_secret: String,
    /// The public URL of `/api/v1/auth/verification/callback`.
    pub redirect_url: String,
    /// Scopes besides `openid` (default none).
    pub scopes: Vec<String>,
    /// The claim with a person's id number (default `id_number`).
    pub id_number_claim: String,
    /// The claim with an enterprise's credit code (default `credit_code`).
    pub credit_code_claim: String,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .finish_non_exhaustive()
    }
}

impl OidcConfig {
    /// The client settings civitas-realname takes.
    pub fn client_settings(&self) -> civitas_realname::OidcSettings {
        civitas_realname::OidcSettings {
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            redirect_url: self.redirect_url.clone(),
            scopes: self.scopes.clone(),
            id_number_claim: self.id_number_claim.clone(),
            credit_code_claim: self.credit_code_claim.clone(),
        }
    }
}

impl Settings {
    /// Merges what was given with the file and the defaults.
    pub fn resolve(given: PartialSettings, file: PartialSettings) -> anyhow::Result<Settings> {
        let data_dir = given
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = given
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite:{}", data_dir.join("civitas.db").display()));
        let log_format = given
            .log_format
            .or(file.log_format)
            .unwrap_or_else(|| "text".to_owned());
        if !matches!(log_format.as_str(), "text" | "json") {
            bail!("日志格式应为 text 或 json (log format must be text or json): {log_format:?}");
        }
        let body_limit = given
            .body_limit
            .or(file.body_limit)
            .unwrap_or(civitas_api::DEFAULT_BODY_LIMIT);
        if body_limit == 0 {
            bail!("请求体上限必须大于 0 (body limit must be greater than 0)");
        }
        let db_max_connections = given
            .db_max_connections
            .or(file.db_max_connections)
            .unwrap_or(civitas_storage::PoolSettings::default().max_connections);
        if db_max_connections == 0 {
            bail!("db_max_connections 必须大于 0 (db_max_connections must be greater than 0)");
        }
        let master_key_file = given
            .master_key_file
            .or(file.master_key_file)
            .unwrap_or_else(|| data_dir.join("master.key"));
        let platform_key_file = given
            .platform_key_file
            .or(file.platform_key_file)
            .unwrap_or_else(|| data_dir.join("platform.pem"));
        let anchor_interval_secs = given
            .anchor_interval_secs
            .or(file.anchor_interval_secs)
            .unwrap_or(3600);
        if anchor_interval_secs == 0 {
            bail!("锚定间隔必须大于 0 (the anchor interval must be greater than 0)");
        }
        let timer_interval_secs = given
            .timer_interval_secs
            .or(file.timer_interval_secs)
            .unwrap_or(5);
        if timer_interval_secs == 0 {
            bail!("定时器间隔必须大于 0 (the timer interval must be greater than 0)");
        }
        let lockout_threshold = given
            .lockout_threshold
            .or(file.lockout_threshold)
            .unwrap_or(5);
        let lockout_minutes = given.lockout_minutes.or(file.lockout_minutes).unwrap_or(15);
        let password_iterations = given
            .password_iterations
            .or(file.password_iterations)
            .unwrap_or(civitas_crypto::password::DEFAULT_ITERATIONS);
        let session_idle_minutes = given
            .session_idle_minutes
            .or(file.session_idle_minutes)
            .unwrap_or(30);
        let session_max_minutes = given
            .session_max_minutes
            .or(file.session_max_minutes)
            .unwrap_or(480);
        let access_token_minutes = given
            .access_token_minutes
            .or(file.access_token_minutes)
            .unwrap_or(5);
        if lockout_threshold == 0
            || lockout_minutes == 0
            || session_idle_minutes == 0
            || session_max_minutes == 0
            || access_token_minutes == 0
        {
            bail!(
                "锁定阈值和各项时长必须大于 0 (the lockout threshold and every duration must be greater than 0)"
            );
        }
        if password_iterations < civitas_crypto::password::MIN_ITERATIONS {
            bail!(
                "口令迭代次数不能少于 {} (password_iterations must be at least {})",
                civitas_crypto::password::MIN_ITERATIONS,
                civitas_crypto::password::MIN_ITERATIONS
            );
        }
        let throttle_defaults = civitas_api::ThrottleSettings::default();
        let sign_in_failures_per_address = given
            .sign_in_failures_per_address
            .or(file.sign_in_failures_per_address)
            .unwrap_or(throttle_defaults.sign_in_failures);
        let registrations_per_address = given
            .registrations_per_address
            .or(file.registrations_per_address)
            .unwrap_or(throttle_defaults.registrations);
        let key_failures_per_address = given
            .key_failures_per_address
            .or(file.key_failures_per_address)
            .unwrap_or(throttle_defaults.key_failures);
        if sign_in_failures_per_address == 0
            || registrations_per_address == 0
            || key_failures_per_address == 0
        {
            bail!("每个地址的尝试上限必须大于 0 (the per-address limits must be greater than 0)");
        }
        let trusted_proxies = given
            .trusted_proxies
            .or(file.trusted_proxies)
            .unwrap_or_default();
        for proxy in &trusted_proxies {
            if parse_network(proxy).is_none() {
                bail!(
                    "可信代理须为地址或网段 (a trusted proxy is an address or CIDR network): {proxy:?}"
                );
            }
        }
        let module_cache_dir = given
            .module_cache_dir
            .or(file.module_cache_dir)
            .unwrap_or_else(|| data_dir.join("module-cache"));
        let demo_modules_dir = given
            .demo_modules_dir
            .or(file.demo_modules_dir)
            .unwrap_or_else(|| PathBuf::from("target/modules"));
        let oidc = match (
            given.oidc_issuer.or(file.oidc_issuer),
            given.oidc_client_id.or(file.oidc_client_id),
            given.oidc_client_secret.or(file.oidc_client_secret),
            given.oidc_redirect_url.or(file.oidc_redirect_url),
        ) {
            (None, None, None, None) => None,
            (Some(issuer), Some(client_id), Some(client_secret), Some(redirect_url)) => {
                Some(OidcConfig {
                    issuer,
                    client_id,
                    client_secret,
                    redirect_url,
                    scopes: given.oidc_scopes.or(file.oidc_scopes).unwrap_or_default(),
                    id_number_claim: given
                        .oidc_id_number_claim
                        .or(file.oidc_id_number_claim)
                        .unwrap_or_else(|| "id_number".into()),
                    credit_code_claim: given
                        .oidc_credit_code_claim
                        .or(file.oidc_credit_code_claim)
                        .unwrap_or_else(|| "credit_code".into()),
                })
            }
            _ => bail!(
                "统一身份认证须同时配置 oidc_issuer、oidc_client_id、oidc_client_secret 和 oidc_redirect_url (the identity provider needs all of oidc_issuer, oidc_client_id, oidc_client_secret and oidc_redirect_url)"
            ),
        };
        let search = match given.meili_url.or(file.meili_url) {
            Some(url) => crate::search::SearchConfig::Meilisearch {
                url,
                public_url: given.meili_public_url.or(file.meili_public_url),
                index: given
                    .meili_index
                    .or(file.meili_index)
                    .unwrap_or_else(|| "civitas".to_owned()),
                key: given.meili_key.or(file.meili_key),
            },
            None => crate::search::SearchConfig::Tantivy {
                dir: given
                    .search_dir
                    .or(file.search_dir)
                    .unwrap_or_else(|| data_dir.join("search")),
            },
        };
        let sms = match (
            given.sms_url.or(file.sms_url),
            given.sms_access_key_id.or(file.sms_access_key_id),
            given.sms_access_key_secret.or(file.sms_access_key_secret),
            given.sms_sign_name.or(file.sms_sign_name),
        ) {
            (None, None, None, None) => None,
            (Some(url), Some(access_key_id), Some(access_key_secret), Some(sign_name)) => {
                Some(SmsConfig {
                    url,
                    access_key_id,
                    access_key_secret,
                    sign_name,
                    region: given
                        .sms_region
                        .or(file.sms_region)
                        .unwrap_or_else(|| "cn-hangzhou".into()),
                })
            }
            _ => bail!(
                "短信网关须同时配置 sms_url、sms_access_key_id、sms_access_key_secret 和 sms_sign_name (the SMS gateway needs all of sms_url, sms_access_key_id, sms_access_key_secret and sms_sign_name)"
            ),
        };
        let mail = match (
            given.smtp_url.or(file.smtp_url),
            given.mail_from.or(file.mail_from),
        ) {
            (None, None) => None,
            (Some(url), Some(from)) => Some(MailConfig { url, from }),
            _ => bail!(
                "邮件服务须同时配置 smtp_url 和 mail_from (e-mail needs both smtp_url and mail_from)"
            ),
        };
        let notify_interval_secs = given
            .notify_interval_secs
            .or(file.notify_interval_secs)
            .unwrap_or(1);
        if notify_interval_secs == 0 {
            bail!("notify_interval_secs 必须大于 0 (notify_interval_secs must be greater than 0)");
        }
        let notify_lease_secs = given
            .notify_lease_secs
            .or(file.notify_lease_secs)
            .unwrap_or(60);
        if notify_lease_secs < 10 {
            bail!("notify_lease_secs 不能少于 10 秒 (notify_lease_secs must be at least 10)");
        }
        let change_poll_secs = given
            .change_poll_secs
            .or(file.change_poll_secs)
            .unwrap_or(2);
        if change_poll_secs == 0 {
            bail!("change_poll_secs 必须大于 0 (change_poll_secs must be greater than 0)");
        }
        let change_notices = given.change_notices.or(file.change_notices).unwrap_or(true);
        let search_takeover_secs = given
            .search_takeover_secs
            .or(file.search_takeover_secs)
            .unwrap_or(30);
        if search_takeover_secs < 3 {
            bail!("search_takeover_secs 不能少于 3 秒 (search_takeover_secs must be at least 3)");
        }
        let listen = given
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let tls = match (
            given.tls_cert.or(file.tls_cert),
            given.tls_key.or(file.tls_key),
        ) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            _ => bail!(
                "tls_cert 与 tls_key 须同时给出 (tls_cert and tls_key must be given together)"
            ),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = given
            .public_url
            .or(file.public_url)
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("{scheme}://{listen}"));
        if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
            anyhow::bail!(
                "public_url 须以 http:// 或 https:// 开头 (public_url must start with http:// or https://): {public_url}"
            );
        }
        let fonts_dir = given
            .fonts_dir
            .or(file.fonts_dir)
            .unwrap_or_else(|| PathBuf::from(civitas_seal::Fonts::DEFAULT_DIR));
        Ok(Settings {
            public_url,
            tls,
            fonts_dir,
            sms,
            mail,
            notify_interval_secs,
            notify_lease_secs,
            change_poll_secs,
            search_takeover_secs,
            change_notices,
            search,
            oidc,
            module_cache_dir,
            demo_modules_dir,
            trusted_proxies,
            sign_in_failures_per_address,
            registrations_per_address,
            key_failures_per_address,
            lockout_threshold,
            lockout_minutes,
            password_iterations,
            session_idle_minutes,
            session_max_minutes,
            access_token_minutes,
            master_key_file,
            platform_key_file,
            anchor_interval_secs,
            timer_interval_secs,
            data_dir,
            listen,
            metrics_listen: given.metrics_listen.or(file.metrics_listen),
            database_url,
            tenants_dir: given
                .tenants_dir
                .or(file.tenants_dir)
                .unwrap_or_else(|| PathBuf::from("tenants")),
            body_limit,
            db_max_connections,
            shutdown_grace_secs: given
                .shutdown_grace_secs
                .or(file.shutdown_grace_secs)
                .unwrap_or(30),
            log: given
                .log
                .or(file.log)
                .unwrap_or_else(|| "info,sqlx=warn".to_owned()),
            log_format,
        })
    }

    /// Sign-in settings: lockout and work factor; failed attempts on
    /// unknown usernames are audited in `realm`.
    pub fn sign_in(&self, realm: civitas_tenancy::TenantPath) -> civitas_identity::SignInSettings {
        let mut sign_in = civitas_identity::SignInSettings::new(realm);
        sign_in.max_failures = i64::from(self.lockout_threshold);
        sign_in.lock_for = chrono::Duration::minutes(i64::from(self.lockout_minutes));
        sign_in.iterations = self.password_iterations;
        sign_in
    }

    /// Session timeouts.
    pub fn sessions(&self) -> civitas_identity::SessionSettings {
        civitas_identity::SessionSettings {
            idle_timeout: chrono::Duration::minutes(i64::from(self.session_idle_minutes)),
            absolute_lifetime: chrono::Duration::minutes(i64::from(self.session_max_minutes)),
            access_ttl: chrono::Duration::minutes(i64::from(self.access_token_minutes)),
        }
    }

    /// Per-address limits on unauthenticated work.
    pub fn throttle(&self) -> civitas_api::ThrottleSettings {
        civitas_api::ThrottleSettings {
            sign_in_failures: self.sign_in_failures_per_address,
            registrations: self.registrations_per_address,
            key_failures: self.key_failures_per_address,
            ..civitas_api::ThrottleSettings::default()
        }
    }

    /// The trusted proxies, parsed (checked when the settings were resolved).
    pub fn trusted_proxy_networks(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| parse_network(p))
            .collect()
    }

    /// Whether the database is the embedded SQLite file.
    pub fn uses_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

/// An address or CIDR network.
fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    text.trim().parse::<ipnet::IpNet>().ok().or_else(|| {
        text.trim()
            .parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> PartialSettings {
        toml::from_str(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let settings = Settings::resolve(PartialSettings::default(), PartialSettings::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.database_url, "sqlite:data/civitas.db");
        assert_eq!(settings.tenants_dir, PathBuf::from("tenants"));
        assert_eq!(settings.body_limit, 1024 * 1024);
    }

    #[test]
    fn given_values_win_over_the_file_which_wins_over_defaults() {
        let given = PartialSettings {
            listen: Some(SocketAddr::from(([0, 0, 0, 0], 9000))),
            ..PartialSettings::default()
        };
        let file =
            file("listen = \"127.0.0.1:7000\"\ndata_dir = \"/srv/civitas\"\nbody_limit = 2048\n");
        let settings = Settings::resolve(given, file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(settings.data_dir, PathBuf::from("/srv/civitas"));
        assert_eq!(
            settings.database_url, "sqlite:/srv/civitas/civitas.db",
            "follows the data dir"
        );
        assert_eq!(settings.body_limit, 2048);
    }

    #[test]
    fn tls_takes_a_certificate_and_its_key_together_and_makes_the_public_url_https() {
        let given = PartialSettings {
            tls_cert: Some(PathBuf::from("/etc/civitas/tls/fullchain.pem")),
            ..PartialSettings::default()
        };
        let file = file("tls_key = \"/etc/civitas/tls/privkey.pem\"\n");
        let settings = Settings::resolve(given.clone(), file).unwrap_or_else(|e| panic!("{e}"));
        assert!(settings.tls.is_some());
        assert_eq!(settings.public_url, "https://127.0.0.1:8080");
        let alone = Settings::resolve(given, PartialSettings::default());
        assert!(alone.is_err_and(|e| e.to_string().contains("tls_key")));
    }

    #[test]
    fn unknown_file_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<PartialSettings>("listne = \"x\"").is_err());
        let bad = PartialSettings {
            log_format: Some("xml".into()),
            ..PartialSettings::default()
        };
        assert!(Settings::resolve(bad, PartialSettings::default()).is_err());
    }

    #[test]
    fn sign_in_and_session_limits_come_from_the_settings_and_zero_is_refused() {
        let file = file(
            "lockout_threshold = 3\nlockout_minutes = 60\npassword_iterations = 200000\n\
             session_idle_minutes = 10\nsession_max_minutes = 120\naccess_token_minutes = 2\n",
        );
        let settings = Settings::resolve(PartialSettings::default(), file).unwrap();
        let realm = civitas_tenancy::TenantPath::parse("310000").unwrap();
        let sign_in = settings.sign_in(realm);
        assert_eq!(sign_in.max_failures, 3);
        assert_eq!(sign_in.lock_for, chrono::Duration::minutes(60));
        assert_eq!(sign_in.iterations, 200_000);
        let sessions = settings.sessions();
        assert_eq!(sessions.idle_timeout, chrono::Duration::minutes(10));
        assert_eq!(sessions.absolute_lifetime, chrono::Duration::minutes(120));
        assert_eq!(sessions.access_ttl, chrono::Duration::minutes(2));

        let defaults =
            Settings::resolve(PartialSettings::default(), PartialSettings::default()).unwrap();
        assert_eq!(
            defaults.throttle(),
            civitas_api::ThrottleSettings::default()
        );
        let limits = Settings::resolve(
            PartialSettings::default(),
            toml::from_str(
                "sign_in_failures_per_address = 8\nregistrations_per_address = 3\nkey_failures_per_address = 50\n",
            )
            .unwrap(),
        )
        .unwrap()
        .throttle();
        assert_eq!(
            (
                limits.sign_in_failures,
                limits.registrations,
                limits.key_failures
            ),
            (8, 3, 50)
        );
        assert_eq!(defaults.lockout_threshold, 5);
        assert_eq!(defaults.lockout_minutes, 15);
        assert_eq!(defaults.session_idle_minutes, 30);

        for bad in [
            PartialSettings {
                lockout_threshold: Some(0),
                ..PartialSettings::default()
            },
            PartialSettings {
                session_idle_minutes: Some(0),
                ..PartialSettings::default()
            },
            PartialSettings {
                password_iterations: Some(10),
                ..PartialSettings::default()
            },
            PartialSettings {
                registrations_per_address: Some(0),
                ..PartialSettings::default()
            },
        ] {
            assert!(Settings::resolve(bad, PartialSettings::default()).is_err());
        }
    }

    /// The settings a configuration file of `text` alone gives.
    fn resolve(text: &str) -> anyhow::Result<Settings> {
        let file: PartialSettings = toml::from_str(text).unwrap();
        Settings::resolve(PartialSettings::default(), file)
    }

    #[test]
    fn notification_channels_need_every_setting_and_say_which() {
        let none = resolve("").unwrap();
        assert!(none.sms.is_none() && none.mail.is_none());
        assert_eq!((none.notify_interval_secs, none.notify_lease_secs), (1, 60));
        let sms = resolve(
            "sms_url = \"http://sms.example\"\nsms_access_key_id = \"id\"\nsms_access_key_secret = \"s\"\nsms_sign_name = \"上海市民政局\"\n",
        )
        .unwrap();
        assert_eq!(sms.sms.map(|s| s.region).as_deref(), Some("cn-hangzhou"));
        let partial = resolve("sms_url = \"http://sms.example\"\n")
            .err()
            .map(|e| e.to_string());
        assert!(partial.unwrap_or_default().contains("sms_sign_name"));
        let mail = resolve("smtp_url = \"smtp://relay:25\"\n")
            .err()
            .map(|e| e.to_string());
        assert!(mail.unwrap_or_default().contains("mail_from"));
        assert!(resolve("notify_lease_secs = 5\n").is_err());
    }

    #[test]
    fn a_node_opens_sixteen_database_connections_unless_told_and_never_none() {
        assert_eq!(resolve("").unwrap().db_max_connections, 16);
        assert_eq!(
            resolve("db_max_connections = 64\n")
                .unwrap()
                .db_max_connections,
            64
        );
        assert!(resolve("db_max_connections = 0\n").is_err());
    }

    #[test]
    fn a_node_looks_for_changes_every_two_seconds_by_default_and_zero_is_refused() {
        assert_eq!(resolve("").unwrap().change_poll_secs, 2);
        assert!(resolve("").unwrap().change_notices);
        assert!(!resolve("change_notices = false\n").unwrap().change_notices);
        assert_eq!(
            resolve("change_poll_secs = 30\n").unwrap().change_poll_secs,
            30
        );
        let never = resolve("change_poll_secs = 0\n")
            .err()
            .map(|e| e.to_string());
        assert!(never.unwrap_or_default().contains("change_poll_secs"));
    }

    #[test]
    fn an_embedded_index_takes_over_after_thirty_seconds_unseen_by_default_and_never_under_three() {
        assert_eq!(resolve("").unwrap().search_takeover_secs, 30);
        assert_eq!(
            resolve("search_takeover_secs = 5\n")
                .unwrap()
                .search_takeover_secs,
            5
        );
        let hasty = resolve("search_takeover_secs = 2\n")
            .err()
            .map(|e| e.to_string());
        assert!(hasty.unwrap_or_default().contains("search_takeover_secs"));
    }
}
