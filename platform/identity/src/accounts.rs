//! Accounts, sign-in with lockout, and password changes.

use chrono::{DateTime, Duration, Utc};
use civitas_audit::NewEvent;
use civitas_crypto::password;
use civitas_storage::{Database, PlatformTx, StorageError, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use serde::Serialize;
use sqlx::Row;

use crate::{PasswordPolicy, PolicyViolation};

/// What can go wrong outside sign-in itself.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Hashing failed.
    #[error(transparent)]
    Crypto(#[from] civitas_crypto::CryptoError),
    /// Recording the audit event failed.
    #[error(transparent)]
    Audit(#[from] civitas_audit::AuditError),
    /// The new password breaks the policy.
    #[error(transparent)]
    Policy(#[from] PolicyViolation),
    /// The username is taken.
    #[error("用户名已存在 (the username is taken): {0}")]
    UsernameTaken(String),
    /// No such account.
    #[error("账户不存在 (no such account): {0}")]
    UnknownAccount(String),
    /// The current password given for a change is wrong.
    #[error("当前密码错误 (the current password is wrong)")]
    WrongPassword,
    /// An API key request is invalid.
    #[error(transparent)]
    KeyRequest(#[from] crate::KeyRequestError),
    /// A registration is invalid.
    #[error(transparent)]
    Registration(#[from] crate::RegistrationError),
    /// Stored data is inconsistent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for IdentityError {
    fn from(e: sqlx::Error) -> IdentityError {
        IdentityError::Storage(StorageError::Database(e))
    }
}

/// Why a sign-in failed. Its message is the same for every cause, so that
/// the answer never says whether an account exists or is locked; the cause
/// is kept for the audit record and for tests.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong username or password, a disabled account, or a locked one.
    #[error(
        "用户名或密码错误，或账户已被临时锁定 (wrong username or password, or the account is temporarily locked)"
    )]
    Rejected(RejectCause),
    /// Something else failed; nothing was decided.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> AuthError {
        AuthError::Identity(e.into())
    }
}

impl From<StorageError> for AuthError {
    fn from(e: StorageError) -> AuthError {
        AuthError::Identity(e.into())
    }
}

impl From<civitas_audit::AuditError> for AuthError {
    fn from(e: civitas_audit::AuditError) -> AuthError {
        AuthError::Identity(e.into())
    }
}

/// The cause of a rejected sign-in (never shown to the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCause {
    /// No account has this username.
    UnknownUser,
    /// The password is wrong.
    WrongPassword,
    /// The account is locked after too many failures.
    Locked,
    /// The account is disabled.
    Disabled,
    /// The one-time password was right but has expired.
    Expired,
}

impl RejectCause {
    fn as_str(self) -> &'static str {
        match self {
            RejectCause::UnknownUser => "unknown_user",
            RejectCause::WrongPassword => "wrong_password",
            RejectCause::Locked => "locked",
            RejectCause::Disabled => "disabled",
            RejectCause::Expired => "expired_one_time_password",
        }
    }
}

/// The kind of principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// Staff of a bureau (a tenant and a line).
    Staff,
    /// A citizen (resident id number).
    Citizen,
    /// An enterprise (unified social credit code).
    Enterprise,
    /// A module developer.
    Developer,
    /// A machine client, signing in with API keys.
    Service,
}

impl AccountKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Staff => "staff",
            AccountKind::Citizen => "citizen",
            AccountKind::Enterprise => "enterprise",
            AccountKind::Developer => "developer",
            AccountKind::Service => "service",
        }
    }

    /// Parses a stored kind; anything else is corrupt data, not a default.
    pub(crate) fn parse(s: &str) -> Result<AccountKind, sqlx::Error> {
        match s {
            "staff" => Ok(AccountKind::Staff),
            "citizen" => Ok(AccountKind::Citizen),
            "enterprise" => Ok(AccountKind::Enterprise),
            "developer" => Ok(AccountKind::Developer),
            "service" => Ok(AccountKind::Service),
            other => Err(sqlx::Error::Decode(
                format!("stored account kind is not one of staff, citizen, enterprise, developer, service: {other}").into(),
            )),
        }
    }
}

/// An account, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// The account id.
    pub id: String,
    /// The sign-in name.
    pub username: String,
    /// The kind of principal.
    pub kind: AccountKind,
    /// The tenant it belongs to.
    pub tenant_path: String,
    /// The line (bureau) of a staff account.
    pub line: Option<String>,
    /// The name shown.
    pub display_name: String,
    /// Whether the password must be changed before anything else.
    pub must_change_password: bool,
    /// Whether who holds it is known: accounts made by an administrator
    /// are; a self-registered citizen or enterprise is once a real-name
    /// check passed ([`crate::verification`]). An unverified account may
    /// act in nobody's name.
    pub verified: bool,
}

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The sign-in name.
    pub username: String,
    /// The kind of principal.
    pub kind: AccountKind,
    /// The tenant it belongs to.
    pub tenant_path: TenantPath,
    /// The line of a staff account.
    pub line: Option<String>,
    /// The name shown.
    pub display_name: String,
    /// The initial password (checked against the policy).
    pub password: String,
    /// Whether it must be changed at first sign-in (one-time passwords).
    pub must_change_password: bool,
}

/// How sign-in behaves.
#[derive(Debug, Clone)]
pub struct SignInSettings {
    /// Failures within `lock_for` that lock the name tried (default 5).
    pub max_failures: i64,
    /// How long a name stays locked, and the window its failures are
    /// counted in (default 15 minutes).
    pub lock_for: Duration,
    /// PBKDF2 iterations for new hashes (default 100,000).
    pub iterations: u32,
    /// The password policy.
    pub policy: PasswordPolicy,
    /// The chain that records attempts on unknown usernames (which have no
    /// tenant of their own): the deployment's root tenant.
    pub realm: TenantPath,
}

impl SignInSettings {
    /// The defaults, recording unknown usernames in `realm`'s chain.
    pub fn new(realm: TenantPath) -> SignInSettings {
        SignInSettings {
            max_failures: 5,
            lock_for: Duration::minutes(15),
            iterations: password::DEFAULT_ITERATIONS,
            policy: PasswordPolicy::default(),
            realm,
        }
    }
}

pub(crate) fn account_from(r: &impl AccountRow) -> Result<Account, sqlx::Error> {
    r.account()
}

pub(crate) trait AccountRow {
    fn account(&self) -> Result<Account, sqlx::Error>;
}

macro_rules! impl_account_row {
    ($row:ty) => {
        impl AccountRow for $row {
            fn account(&self) -> Result<Account, sqlx::Error> {
                let kind: String = self.try_get("kind")?;
                Ok(Account {
                    id: self.try_get("id")?,
                    username: self.try_get("username")?,
                    kind: AccountKind::parse(&kind)?,
                    tenant_path: self.try_get("tenant_path")?,
                    line: self.try_get("line")?,
                    display_name: self.try_get("display_name")?,
                    must_change_password: self.try_get("must_change_password")?,
                    verified: self.try_get::<Option<i64>, _>("verified_at")?.is_some(),
                })
            }
        }
    };
}
impl_account_row!(sqlx::sqlite::SqliteRow);
impl_account_row!(sqlx::postgres::PgRow);

const ACCOUNT_COLUMNS: &str =
    "id, username, kind, tenant_path, line, display_name, must_change_password, verified_at";

/// A password checked against the policy and hashed, to create several
/// accounts with ([`create_account_with`]).
#[derive(Clone)]
pub struct HashedPassword(String);

impl HashedPassword {
    /// Checks `password` against `settings`' policy and hashes it with the
    /// configured work factor.
    pub fn new(settings: &SignInSettings, password: &str) -> Result<HashedPassword, IdentityError> {
        settings.policy.check(password)?;
        Ok(HashedPassword(password::hash(
            password,
            settings.iterations,
        )?))
    }
}

impl std::fmt::Debug for HashedPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashedPassword(…)")
    }
}

/// Creates an account (platform work: an administrator's action, audited
/// in the account's tenant by the caller's `actor`).
pub async fn create_account(
    db: &Database,
    settings: &SignInSettings,
    account: &NewAccount,
    actor: &str,
) -> Result<Account, IdentityError> {
    let hashed = HashedPassword::new(settings, &account.password)?;
    create_account_with(db, account, &hashed, actor).await
}

/// [`create_account`] with a password hashed beforehand (`account.password`
/// is not read): the demo city's accounts share one published password,
/// hashed once — the same salt for all, which tells nothing their
/// published password does not — instead of once per account at every
/// start.
pub async fn create_account_with(
    db: &Database,
    account: &NewAccount,
    hashed: &HashedPassword,
    actor: &str,
) -> Result<Account, IdentityError> {
    let hash = hashed.0.clone();
    let id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now().timestamp_micros();
    let mut tx = db.begin_platform().await?;
    let inserted = with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO accounts (id, username, kind, tenant_path, line, display_name, password_hash, must_change_password, created_at, password_changed_at, \
                                   verified_at, verification) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9, 'administrator') ON CONFLICT (username) DO NOTHING",
        )
        .bind(id.clone())
        .bind(account.username.clone())
        .bind(account.kind.as_str())
        .bind(account.tenant_path.as_str().to_owned())
        .bind(account.line.clone())
        .bind(account.display_name.clone())
        .bind(hash.clone())
        .bind(account.must_change_password)
        .bind(now)
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    if inserted == 0 {
        return Err(IdentityError::UsernameTaken(account.username.clone()));
    }
    remember_password(&mut tx, &id, &hash, now).await?;
    civitas_audit::record_platform(
        &mut tx,
        &account.tenant_path,
        &NewEvent {
            actor: actor.to_owned(),
            action: "account.create".to_owned(),
            target: format!("account:{}", account.username),
            detail: serde_json::json!({"kind": account.kind.as_str(), "line": account.line}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Account {
        id,
        username: account.username.clone(),
        kind: account.kind,
        tenant_path: account.tenant_path.to_string(),
        line: account.line.clone(),
        display_name: account.display_name.clone(),
        must_change_password: account.must_change_password,
        verified: true,
    })
}

pub(crate) async fn remember_password(
    tx: &mut PlatformTx,
    account_id: &str,
    hash: &str,
    at: i64,
) -> Result<(), IdentityError> {
    with_connection!(tx.connection(), c => {
        sqlx::query("INSERT INTO password_history (account_id, password_hash, changed_at) VALUES ($1, $2, $3)")
            .bind(account_id.to_owned())
            .bind(hash.to_owned())
            .bind(at)
            .execute(&mut *c)
            .await?;
    });
    Ok(())
}

/// The account named `username`, if any.
pub async fn find_account(db: &Database, username: &str) -> Result<Option<Account>, IdentityError> {
    let mut tx = db.begin_platform_read().await?;
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE username = $1");
    let account = with_connection!(tx.connection(), c => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username.to_owned())
            .fetch_optional(&mut *c)
            .await?
            .map(|r| account_from(&r))
            .transpose()?
    });
    Ok(account)
}

/// The usernames of the accounts `ids`, by id (the platform's directory of
/// names, not tenant data: lists of grants and keys show names).
pub async fn usernames(
    db: &Database,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>, IdentityError> {
    let mut names = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(names);
    }
    let mut tx = db.begin_platform_read().await?;
    for id in ids {
        if names.contains_key(id) {
            continue;
        }
        let name: Option<String> = with_connection!(tx.connection(), c => {
            sqlx::query_scalar("SELECT username FROM accounts WHERE id = $1")
                .bind(id.clone())
                .fetch_optional(&mut *c)
                .await?
        });
        if let Some(name) = name {
            names.insert(id.clone(), name);
        }
    }
    Ok(names)
}

/// The staff accounts of the transaction's subtree, by tenant and name.
pub async fn staff_of(tx: &mut TenantTx) -> Result<Vec<Account>, IdentityError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper);
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE kind = 'staff' AND tenant_path >= $1 AND tenant_path < $2 ORDER BY tenant_path, username"
    );
    let accounts = with_connection!(tx.connection(), c => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(lower)
            .bind(upper)
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(account_from)
            .collect::<Result<Vec<_>, _>>()?
    });
    Ok(accounts)
}

/// Checks `username` and `password` at time `now`.
///
/// Every attempt is audited in the account's tenant chain (unknown
/// usernames in the realm's). `max_failures` failures within `lock_for`
/// lock the name for `lock_for`; while locked even the right password is
/// rejected. A success clears the count and upgrades a hash made with
/// fewer iterations than configured.
///
/// A failure costs the same work whether or not an account has the name:
/// one read, one counting write (failures are counted by the name tried,
/// in `sign_in_failures`, so an unknown name is counted and locked exactly
/// as a real one), one password derivation and one audit record — neither
/// the answer, nor the time, nor the database's work tells whether an
/// account exists or is locked. An attempt is counted before the password
/// is checked (and the check runs off the async workers, outside any
/// transaction), so parallel guesses cannot exceed the limit and a slow
/// check never holds the database.
pub async fn authenticate(
    db: &Database,
    settings: &SignInSettings,
    username: &str,
    password_given: &str,
    now: DateTime<Utc>,
) -> Result<Account, AuthError> {
    // No account has a longer name; an attempt is counted and audited
    // under at most this much of what was given.
    let tried: String = username.chars().take(64).collect();
    let found = {
        let mut tx = db.begin_platform_read().await?;
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, password_hash, disabled, one_time_until FROM accounts WHERE username = $1"
        );
        type Found = (Account, Option<String>, bool, Option<i64>);
        let found: Option<Found> = with_connection!(tx.connection(), c => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(username.to_owned())
                .fetch_optional(&mut *c)
                .await?
                .map(|r| -> Result<Found, sqlx::Error> {
                    Ok((
                        account_from(&r)?,
                        r.try_get("password_hash")?,
                        r.try_get("disabled")?,
                        r.try_get("one_time_until")?,
                    ))
                })
                .transpose()?
        });
        found
    };
    // Count the attempt first, whatever the name; a locked name counts
    // nothing (and a count past the limit is a parallel guess: locked too).
    let attempt = count_attempt(db, settings, &tried, now)
        .await?
        .filter(|n| *n <= settings.max_failures);
    // Exactly one derivation, whatever the outcome.
    let dummy = dummy_hash(settings.iterations);
    let stored = found
        .as_ref()
        .filter(|_| attempt.is_some())
        .and_then(|(_, hash, _, _)| hash.as_deref());
    let matches =
        check_password(password_given, stored.unwrap_or(&dummy), &dummy).await && stored.is_some();
    // A one-time password works until its deadline only.
    let expired = found.as_ref().is_some_and(|(_, hash, _, until)| {
        hash.as_deref().is_some_and(password::is_one_time)
            && until.is_none_or(|t| t <= now.timestamp_micros())
    });
    let right = matches && !expired;
    let (tenant, cause) = match &found {
        None => (settings.realm.clone(), RejectCause::UnknownUser),
        Some((account, _, disabled, _)) => (
            TenantPath::parse(&account.tenant_path).map_err(|e| {
                IdentityError::Internal(format!("account {} tenant: {e}", account.username))
            })?,
            if *disabled {
                RejectCause::Disabled
            } else if attempt.is_none() {
                RejectCause::Locked
            } else if matches && expired {
                RejectCause::Expired
            } else {
                RejectCause::WrongPassword
            },
        ),
    };
    let mut tx = db.begin_platform().await?;
    if let Some((account, _, false, _)) = found.as_ref().filter(|_| right) {
        let rehash = stored
            .filter(|h| password::needs_rehash(h, settings.iterations))
            .map(|_| password::hash(password_given, settings.iterations))
            .transpose()
            .map_err(IdentityError::from)?;
        with_connection!(tx.connection(), c => {
            sqlx::query("DELETE FROM sign_in_failures WHERE username = $1")
                .bind(tried.clone())
                .execute(&mut *c)
                .await?;
            if rehash.is_some() {
                sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
                    .bind(account.id.clone())
                    .bind(rehash)
                    .execute(&mut *c)
                    .await?;
            }
        });
        audit_attempt(&mut tx, &tenant, &account.username, Ok(()), None).await?;
        tx.commit().await?;
        return Ok(account.clone());
    }
    let mut locked_now = None;
    if attempt.is_some_and(|n| n >= settings.max_failures) {
        let until = now + settings.lock_for;
        locked_now = Some(until);
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE sign_in_failures SET failures = 0, window_start = $2, locked_until = $3 WHERE username = $1")
                .bind(tried.clone())
                .bind(now.timestamp_micros())
                .bind(until.timestamp_micros())
                .execute(&mut *c)
                .await?;
        });
    }
    audit_attempt(&mut tx, &tenant, &tried, Err(cause), locked_now).await?;
    tx.commit().await?;
    Err(AuthError::Rejected(cause))
}

/// Counts a failed attempt on the name `tried` before its password is
/// checked (a success takes it back): the count within the current window
/// (`lock_for` long), or `None` while the name is locked.
async fn count_attempt(
    db: &Database,
    settings: &SignInSettings,
    tried: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, AuthError> {
    let now_micros = now.timestamp_micros();
    let window_over = (now - settings.lock_for).timestamp_micros();
    let mut tx = db.begin_platform().await?;
    // A window that is over (or a lock that expired) starts afresh.
    let counted: Option<i64> = with_connection!(tx.connection(), c => {
        sqlx::query_scalar(
            "INSERT INTO sign_in_failures (username, failures, window_start, locked_until) VALUES ($1, 1, $2, NULL) \
             ON CONFLICT (username) DO UPDATE SET \
               failures = CASE WHEN sign_in_failures.window_start <= $3 OR sign_in_failures.locked_until IS NOT NULL \
                          THEN 1 ELSE sign_in_failures.failures + 1 END, \
               window_start = CASE WHEN sign_in_failures.window_start <= $3 OR sign_in_failures.locked_until IS NOT NULL \
                              THEN $2 ELSE sign_in_failures.window_start END, \
               locked_until = NULL \
             WHERE sign_in_failures.locked_until IS NULL OR sign_in_failures.locked_until <= $2 \
             RETURNING failures",
        )
        .bind(tried.to_owned())
        .bind(now_micros)
        .bind(window_over)
        .fetch_optional(&mut *c)
        .await?
    });
    tx.commit().await?;
    Ok(counted)
}

/// Forgets counted failures that can no longer lock anything at `now`:
/// their window is over and no lock is in force. Returns how many names
/// were forgotten; `serve` runs it periodically, so names tried once and
/// never again do not accumulate.
pub async fn forget_old_failures(
    db: &Database,
    settings: &SignInSettings,
    now: DateTime<Utc>,
) -> Result<u64, IdentityError> {
    let mut tx = db.begin_platform().await?;
    let forgotten = with_connection!(tx.connection(), c => {
        sqlx::query(
            "DELETE FROM sign_in_failures WHERE window_start <= $1 AND (locked_until IS NULL OR locked_until <= $2)",
        )
        .bind((now - settings.lock_for).timestamp_micros())
        .bind(now.timestamp_micros())
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    tx.commit().await?;
    Ok(forgotten)
}

/// Checks a password against a stored hash on the blocking pool: a
/// derivation takes tens of milliseconds and must not stall async work.
/// A one-time password (a fast check) costs a derivation of `dummy` too,
/// so the time of a sign-in does not tell which kind an account holds.
async fn check_password(given: &str, stored: &str, dummy: &str) -> bool {
    let (given, stored, dummy) = (given.to_owned(), stored.to_owned(), dummy.to_owned());
    tokio::task::spawn_blocking(move || {
        if password::is_one_time(&stored) {
            let _ = password::verify(&given, &dummy);
        }
        password::verify(&given, &stored).unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A well-formed hash of nothing anyone knows, at the configured cost, to
/// check when there is no real hash to check.
fn dummy_hash(iterations: u32) -> String {
    format!(
        "$pbkdf2-sm3$i={iterations}$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    )
}

async fn audit_attempt(
    tx: &mut PlatformTx,
    tenant: &TenantPath,
    username: &str,
    outcome: Result<(), RejectCause>,
    locked_until: Option<DateTime<Utc>>,
) -> Result<(), civitas_audit::AuditError> {
    let (action, detail) = match outcome {
        Ok(()) => ("auth.login.success", serde_json::json!({})),
        Err(cause) => (
            "auth.login.failure",
            serde_json::json!({"cause": cause.as_str(), "locked_until": locked_until.map(|t| t.to_rfc3339())}),
        ),
    };
    civitas_audit::record_platform(
        tx,
        tenant,
        &NewEvent {
            actor: username.to_owned(),
            action: action.to_owned(),
            target: format!("account:{username}"),
            detail,
        },
    )
    .await?;
    Ok(())
}

/// Changes `username`'s password after checking the current one, the
/// policy and the last `policy.history` passwords; clears the must-change
/// flag and ends the account's other sessions (all of them when
/// `keep_session` is `None`). Audited. The current password is checked as a
/// sign-in is — counted against the lockout and audited — so a stolen token
/// cannot be used to guess it.
pub async fn change_password(
    db: &Database,
    settings: &SignInSettings,
    username: &str,
    current: &str,
    new: &str,
    keep_session: Option<&str>,
) -> Result<(), IdentityError> {
    settings.policy.check(new)?;
    match authenticate(db, settings, username, current, Utc::now()).await {
        Ok(_) => {}
        Err(AuthError::Rejected(RejectCause::UnknownUser)) => {
            return Err(IdentityError::UnknownAccount(username.to_owned()));
        }
        Err(AuthError::Rejected(_)) => return Err(IdentityError::WrongPassword),
        Err(AuthError::Identity(e)) => return Err(e),
    }
    let row: Option<(String, String)> = {
        let mut tx = db.begin_platform_read().await?;
        with_connection!(tx.connection(), c => {
            sqlx::query_as("SELECT id, tenant_path FROM accounts WHERE username = $1")
                .bind(username.to_owned())
                .fetch_optional(&mut *c)
                .await?
        })
    };
    let (id, tenant) = row.ok_or_else(|| IdentityError::UnknownAccount(username.to_owned()))?;
    let history: Vec<String> = {
        let mut tx = db.begin_platform_read().await?;
        with_connection!(tx.connection(), c => {
            sqlx::query_scalar("SELECT password_hash FROM password_history WHERE account_id = $1 ORDER BY changed_at DESC LIMIT $2")
                .bind(id.clone())
                .bind(settings.policy.history as i64)
                .fetch_all(&mut *c)
                .await?
        })
    };
    for old in history {
        if !password::is_one_time(&old) && check_password(new, &old, &old).await {
            return Err(PolicyViolation::Reused(settings.policy.history).into());
        }
    }
    let hash = password::hash(new, settings.iterations)?;
    let now = Utc::now().timestamp_micros();
    let mut tx = db.begin_platform().await?;
    with_connection!(tx.connection(), c => {
        sqlx::query("UPDATE accounts SET password_hash = $2, must_change_password = $3, password_changed_at = $4, one_time_until = NULL WHERE id = $1")
            .bind(id.clone())
            .bind(hash.clone())
            .bind(false)
            .bind(now)
            .execute(&mut *c)
            .await?;
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL AND id <> $3")
            .bind(id.clone())
            .bind(now)
            .bind(keep_session.unwrap_or_default().to_owned())
            .execute(&mut *c)
            .await?;
    });
    remember_password(&mut tx, &id, &hash, now).await?;
    let tenant = TenantPath::parse(&tenant)
        .map_err(|e| IdentityError::Internal(format!("account {username} tenant: {e}")))?;
    civitas_audit::record_platform(
        &mut tx,
        &tenant,
        &NewEvent {
            actor: username.to_owned(),
            action: "auth.password.change".to_owned(),
            target: format!("account:{username}"),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
