//! Account administration: what the system administrator of 三员分立 does
//! to the accounts of the subtree a grant covers — create staff, developer
//! and service accounts, list and show them, disable and enable, unlock,
//! reset passwords, change profiles, import a staff list.
//!
//! Every function takes the [`TenantScope`] of the decision that allowed
//! it and refuses an account outside it; reads run in that scope, writes
//! are platform work (accounts are written by the owning role) and each
//! change is audited in the account's tenant chain. Roles are not given
//! here: grants are the security administrator's (civitas-authz).
//!
//! People get a one-time password (changed at first sign-in, expiring
//! after [`ONE_TIME_VALIDITY_DAYS`] days); service accounts get none and
//! act through API keys. Phone and e-mail are sealed with the tenant's data
//! key, found by blind index, and shown masked.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use civitas_audit::NewEvent;
use civitas_crypto::password;
use civitas_storage::{Database, PlatformTx, TenantScope, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use civitas_vault::{BlindIndexer, Keyring, ProtectedTable, Sealer, VaultError, mask};
use serde::Serialize;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::{AccountKind, IdentityError, valid_username};

/// How long a one-time password works before a new reset is needed.
pub const ONE_TIME_VALIDITY_DAYS: i64 = 7;

/// The sealed columns of `accounts`, for key rotation.
pub const PROTECTED: ProtectedTable = ProtectedTable {
    table: "accounts",
    id_column: "id",
    columns: &["phone", "email"],
};

const PHONE_FIELD: &str = "accounts.phone";
const EMAIL_FIELD: &str = "accounts.email";

/// Why an administration request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The database, hashing or the audit log failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Sealing or opening contact data failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Fields of the request are invalid (every one of them named).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The account's tenant lies outside the subtree the caller was
    /// allowed to administer.
    #[error("租户不在授权范围内 (the tenant is outside the subtree allowed): {0}")]
    OutOfScope(String),
    /// No account of that name in the subtree.
    #[error("账户不存在 (no such account): {0}")]
    NotFound(String),
    /// The username is taken (anywhere on the platform).
    #[error("用户名已存在 (the username is taken): {0}")]
    UsernameTaken(String),
    /// The employee number is taken in the tenant.
    #[error(
        "工号 {employee_no} 在 {tenant} 已被使用 (employee number {employee_no} is taken in {tenant})"
    )]
    EmployeeNoTaken {
        /// The tenant.
        tenant: String,
        /// The employee number.
        employee_no: String,
    },
    /// Administrators do not disable, lock out or reset themselves.
    #[error("不能对自己的账户执行此操作 (an administrator cannot do this to their own account)")]
    OwnAccount,
    /// The account is of a kind this does not apply to.
    #[error("{zh} ({en})")]
    WrongKind {
        /// In Chinese.
        zh: &'static str,
        /// In English.
        en: &'static str,
    },
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> AdminError {
        AdminError::Identity(e.into())
    }
}

impl From<civitas_storage::StorageError> for AdminError {
    fn from(e: civitas_storage::StorageError) -> AdminError {
        AdminError::Identity(e.into())
    }
}

impl From<civitas_audit::AuditError> for AdminError {
    fn from(e: civitas_audit::AuditError) -> AdminError {
        AdminError::Identity(e.into())
    }
}

impl From<civitas_crypto::CryptoError> for AdminError {
    fn from(e: civitas_crypto::CryptoError) -> AdminError {
        AdminError::Identity(e.into())
    }
}

/// One invalid field, in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field, as the request names it.
    pub field: &'static str,
    /// What is wrong, in Chinese.
    pub message_zh: String,
    /// What is wrong, in English.
    pub message_en: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} ({})",
            self.field, self.message_zh, self.message_en
        )
    }
}

fn field_error(field: &'static str, zh: impl Into<String>, en: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message_zh: zh.into(),
        message_en: en.into(),
    }
}

/// What a bureau keeps about a member of staff besides the account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffProfile {
    /// The name shown (姓名).
    pub display_name: String,
    /// A phone number (手机), sealed at rest.
    pub phone: Option<String>,
    /// An e-mail address, sealed at rest.
    pub email: Option<String>,
    /// The employee number (工号), unique in the tenant.
    pub employee_no: Option<String>,
    /// The position (岗位), as the bureau names it; roles are granted
    /// separately by the security administrator.
    pub position: Option<String>,
}

/// An account for the system administrator to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStaffAccount {
    /// The sign-in name.
    pub username: String,
    /// Staff, developer or service (citizens and enterprises register
    /// themselves).
    pub kind: AccountKind,
    /// The tenant it belongs to.
    pub tenant: TenantPath,
    /// The line: required for staff, none for developers.
    pub line: Option<String>,
    /// Name and contact data.
    pub profile: StaffProfile,
}

/// A change of profile: `None` leaves a field as it is; `Some(None)`
/// clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChange {
    /// A new name shown.
    pub display_name: Option<String>,
    /// A new phone number, or none.
    pub phone: Option<Option<String>>,
    /// A new e-mail address, or none.
    pub email: Option<Option<String>>,
    /// A new employee number, or none.
    pub employee_no: Option<Option<String>>,
    /// A new position, or none.
    pub position: Option<Option<String>>,
}

/// Where an account stands, most restrictive first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// Disabled by an administrator: no sign-in, sessions and keys stopped.
    Disabled,
    /// Locked after repeated sign-in failures, until the lock expires or an
    /// administrator unlocks it.
    Locked,
    /// Holding a one-time password that must be changed at sign-in.
    Pending,
    /// Usable.
    Active,
}

impl AccountState {
    /// The name used in filters and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Disabled => "disabled",
            AccountState::Locked => "locked",
            AccountState::Pending => "pending",
            AccountState::Active => "active",
        }
    }
}

/// An account as its administrator sees it: contact data masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountDetail {
    /// The account id.
    pub id: String,
    /// The sign-in name.
    pub username: String,
    /// The kind of principal.
    pub kind: AccountKind,
    /// The tenant it belongs to.
    pub tenant_path: String,
    /// The line, if any.
    pub line: Option<String>,
    /// The name shown.
    pub display_name: String,
    /// The employee number.
    pub employee_no: Option<String>,
    /// The position.
    pub position: Option<String>,
    /// The phone number, masked (`138****5678`).
    pub phone: Option<String>,
    /// The e-mail address, masked.
    pub email: Option<String>,
    /// Where it stands.
    pub state: AccountState,
    /// Since when it is disabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Until when it is locked.
    pub locked_until: Option<DateTime<Utc>>,
    /// Whether the password must be changed at the next sign-in.
    pub must_change_password: bool,
    /// When the one-time password stops working.
    pub one_time_until: Option<DateTime<Utc>>,
    /// The roles it holds in grants visible in the scope, by name.
    pub roles: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its profile or state last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A new account and, for a person, its one-time password: shown once,
/// never stored in clear.
#[derive(Debug)]
pub struct CreatedAccount {
    /// The account.
    pub account: AccountDetail,
    /// The one-time password (none for service accounts).
    pub one_time_password: Option<Zeroizing<String>>,
}

/// Which accounts a list shows.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Only this kind.
    pub kind: Option<AccountKind>,
    /// Only this line.
    pub line: Option<String>,
    /// Only accounts in this state.
    pub state: Option<AccountState>,
    /// Only accounts holding this role in some grant.
    pub role: Option<String>,
    /// Only the account with this phone number (exact, by blind index).
    pub phone: Option<String>,
}

/// Where a page of accounts ends: the last (tenant, username) shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCursor {
    /// The tenant path of the last account shown.
    pub tenant_path: String,
    /// Its username.
    pub username: String,
}

impl AccountCursor {
    /// A cursor at (`tenant_path`, `username`); `None` unless both are
    /// well formed.
    pub fn new(tenant_path: String, username: String) -> Option<AccountCursor> {
        (TenantPath::parse(&tenant_path).is_ok() && valid_username(&username)).then_some(
            AccountCursor {
                tenant_path,
                username,
            },
        )
    }
}

/// A page of accounts.
#[derive(Debug, Clone)]
pub struct AccountPage {
    /// By tenant and username.
    pub accounts: Vec<AccountDetail>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<AccountCursor>,
}

fn check_phone(phone: &str) -> Result<String, FieldError> {
    let allowed = phone
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')'));
    let normal = civitas_people::normalise_phone(phone);
    let mobile = normal.len() == 11 && normal.starts_with('1');
    // Landlines with area code: 0 and 9–11 more digits (021-12345678).
    let landline = normal.starts_with('0') && (10..=12).contains(&normal.len());
    if allowed && (mobile || landline) {
        Ok(normal)
    } else {
        Err(field_error(
            "phone",
            format!("手机号码格式不正确：{phone}（应为 11 位手机号或带区号的固定电话）"),
            format!("Not a phone number: {phone} (11-digit mobile or a landline with area code)"),
        ))
    }
}

fn check_email(email: &str) -> Result<String, FieldError> {
    let normal = email.trim().to_lowercase();
    let ok = normal.len() <= 254
        && normal.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && domain.contains('.')
                && !domain.contains('@')
        })
        && !normal.chars().any(char::is_whitespace);
    if ok {
        Ok(normal)
    } else {
        Err(field_error(
            "email",
            format!("电子邮箱格式不正确：{email}"),
            format!("Not an e-mail address: {email}"),
        ))
    }
}

fn check_text(field: &'static str, label: &str, value: &str, max: usize) -> Option<FieldError> {
    let n = value.trim().chars().count();
    if n == 0 || n > max || value.chars().any(char::is_control) {
        Some(field_error(
            field,
            format!("{label}须为 1–{max} 个字符，不含控制字符"),
            format!("{field} must be 1–{max} characters without control characters"),
        ))
    } else {
        None
    }
}

fn check_employee_no(value: &str) -> Option<FieldError> {
    let ok = (1..=32).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    (!ok).then(|| {
        field_error(
            "employee_no",
            format!("工号须为 1–32 个字母、数字或 -_.：{value}"),
            format!("An employee number is 1–32 letters, digits or -_.: {value}"),
        )
    })
}

/// Checks a profile; every invalid field is named.
fn check_profile(profile: &StaffProfile, errors: &mut Vec<FieldError>) {
    errors.extend(check_text(
        "display_name",
        "姓名",
        &profile.display_name,
        64,
    ));
    if let Some(phone) = &profile.phone
        && let Err(e) = check_phone(phone)
    {
        errors.push(e);
    }
    if let Some(email) = &profile.email
        && let Err(e) = check_email(email)
    {
        errors.push(e);
    }
    if let Some(no) = &profile.employee_no {
        errors.extend(check_employee_no(no));
    }
    if let Some(position) = &profile.position {
        errors.extend(check_text("position", "岗位", position, 64));
    }
}

/// Checks a new account without touching the database: every invalid
/// field is named. `lines` are the lines present at the account's tenant.
pub fn check_new_account(account: &NewStaffAccount, lines: &[String]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !crate::valid_new_username(&account.username) {
        errors.push(field_error(
            "username",
            format!(
                "用户名须为 3–64 个小写字母、数字或 -_.，以字母或数字开头，且不能是 export：{}",
                account.username
            ),
            format!(
                "A username is 3–64 lowercase letters, digits or -_., starting with a letter or digit, and not `export`: {}",
                account.username
            ),
        ));
    }
    match account.kind {
        AccountKind::Staff | AccountKind::Developer | AccountKind::Service => {}
        AccountKind::Citizen | AccountKind::Enterprise => errors.push(field_error(
            "kind",
            "群众和企业账户由本人注册，管理员只能创建工作人员、开发者和服务账户",
            "Citizens and enterprises register themselves; administrators create staff, developer and service accounts",
        )),
    }
    match (&account.line, account.kind) {
        (None, AccountKind::Staff) => errors.push(field_error(
            "line",
            "工作人员账户须指定业务条线",
            "A staff account needs a line",
        )),
        (Some(_), AccountKind::Developer) => errors.push(field_error(
            "line",
            "开发者账户不属于业务条线",
            "A developer account has no line",
        )),
        (Some(line), _) if !lines.contains(line) => errors.push(field_error(
            "line",
            format!("该租户没有业务条线 {line}（现有：{}）", lines.join("、")),
            format!(
                "The tenant has no line {line} (it has: {})",
                lines.join(", ")
            ),
        )),
        _ => {}
    }
    check_profile(&account.profile, &mut errors);
    errors
}

fn out_of_scope(scope: &TenantScope, tenant: &str) -> Result<TenantPath, AdminError> {
    let path = TenantPath::parse(tenant).map_err(|e| {
        AdminError::Identity(IdentityError::Internal(format!(
            "account tenant {tenant}: {e}"
        )))
    })?;
    if scope.covers(&path) {
        Ok(path)
    } else {
        Err(AdminError::OutOfScope(tenant.to_owned()))
    }
}

/// Sealed contact data, ready to store.
struct SealedContact {
    key_version: Option<i64>,
    phone: Option<String>,
    phone_index: Option<String>,
    email: Option<String>,
    email_index: Option<String>,
}

fn seal_contact(
    sealer: &Sealer,
    indexer: &BlindIndexer,
    phone: Option<&str>,
    email: Option<&str>,
) -> Result<SealedContact, AdminError> {
    let phone = phone
        .map(|p| check_phone(p).map_err(|e| AdminError::Invalid(vec![e])))
        .transpose()?;
    let email = email
        .map(|m| check_email(m).map_err(|e| AdminError::Invalid(vec![e])))
        .transpose()?;
    Ok(SealedContact {
        key_version: (phone.is_some() || email.is_some()).then(|| sealer.version()),
        phone_index: phone.as_deref().map(|p| indexer.index(PHONE_FIELD, p)),
        phone: phone
            .as_deref()
            .map(|p| sealer.seal(PHONE_FIELD, p))
            .transpose()?,
        email_index: email.as_deref().map(|m| indexer.index(EMAIL_FIELD, m)),
        email: email
            .as_deref()
            .map(|m| sealer.seal(EMAIL_FIELD, m))
            .transpose()?,
    })
}

/// A one-time password and its stored hash.
fn one_time() -> Result<(Zeroizing<String>, String), AdminError> {
    let otp = password::generate_one_time()?;
    let hash = password::hash_one_time(&otp)?;
    Ok((otp, hash))
}

pub(crate) async fn audit(
    tx: &mut PlatformTx,
    tenant: &TenantPath,
    actor: &str,
    action: &str,
    username: &str,
    detail: serde_json::Value,
) -> Result<(), AdminError> {
    civitas_audit::record_platform(
        tx,
        tenant,
        &NewEvent {
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: format!("account:{username}"),
            detail,
        },
    )
    .await?;
    Ok(())
}

/// Inserts one checked account inside `tx`; the one-time password of a
/// person. Fails on a taken username or employee number.
async fn insert_account(
    tx: &mut PlatformTx,
    keyring: &Keyring,
    account: &NewStaffAccount,
    actor: &str,
    now: DateTime<Utc>,
    seal: &mut HashMap<String, (Sealer, BlindIndexer)>,
) -> Result<(String, Option<Zeroizing<String>>), AdminError> {
    let tenant_key = account.tenant.as_str().to_owned();
    if !seal.contains_key(&tenant_key) {
        let sealer = keyring.platform_sealer(tx, &account.tenant).await?;
        let indexer = keyring.platform_indexer(tx, &account.tenant).await?;
        seal.insert(tenant_key.clone(), (sealer, indexer));
    }
    let Some((sealer, indexer)) = seal.get(&tenant_key) else {
        return Err(IdentityError::Internal("sealer cache".into()).into());
    };
    let contact = seal_contact(
        sealer,
        indexer,
        account.profile.phone.as_deref(),
        account.profile.email.as_deref(),
    )?;
    let (otp, hash, until) = match account.kind {
        AccountKind::Service => (None, None, None),
        _ => {
            let (otp, hash) = one_time()?;
            let until = now + Duration::days(ONE_TIME_VALIDITY_DAYS);
            (Some(otp), Some(hash), Some(until.timestamp_micros()))
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    let at = now.timestamp_micros();
    let inserted = with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO accounts (id, username, kind, tenant_path, line, display_name, password_hash, must_change_password, \
               created_at, password_changed_at, key_version, phone, phone_index, email, email_index, employee_no, position, \
               one_time_until, updated_at, verified_at, verification) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12, $13, $14, $15, $16, $17, $9, $9, 'administrator') \
             ON CONFLICT DO NOTHING",
        )
        .bind(id.clone())
        .bind(account.username.clone())
        .bind(account.kind.as_str())
        .bind(tenant_key.clone())
        .bind(account.line.clone())
        .bind(account.profile.display_name.trim().to_owned())
        .bind(hash.clone())
        .bind(hash.is_some())
        .bind(at)
        .bind(contact.key_version)
        .bind(contact.phone)
        .bind(contact.phone_index)
        .bind(contact.email)
        .bind(contact.email_index)
        .bind(account.profile.employee_no.clone())
        .bind(account.profile.position.as_deref().map(|p| p.trim().to_owned()))
        .bind(until)
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    if inserted == 0 {
        let taken: Option<String> = with_connection!(tx.connection(), c => {
            sqlx::query_scalar("SELECT id FROM accounts WHERE username = $1")
                .bind(account.username.clone())
                .fetch_optional(&mut *c)
                .await?
        });
        return Err(match (taken, &account.profile.employee_no) {
            (None, Some(no)) => AdminError::EmployeeNoTaken {
                tenant: tenant_key,
                employee_no: no.clone(),
            },
            _ => AdminError::UsernameTaken(account.username.clone()),
        });
    }
    if let Some(hash) = &hash {
        crate::accounts::remember_password(tx, &id, hash, at).await?;
    }
    audit(
        tx,
        &account.tenant,
        actor,
        "account.create",
        &account.username,
        serde_json::json!({
            "kind": account.kind.as_str(),
            "line": account.line,
            "employee_no": account.profile.employee_no,
            "one_time_password": otp.is_some(),
        }),
    )
    .await?;
    Ok((id, otp))
}

/// Creates an account in the scope's subtree (the system administrator's
/// `account.administer`), audited as `account.create` by `actor`. `lines`
/// are the lines present at the account's tenant.
pub async fn create_staff_account(
    db: &Database,
    keyring: &Keyring,
    scope: &TenantScope,
    account: &NewStaffAccount,
    lines: &[String],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<CreatedAccount, AdminError> {
    let errors = check_new_account(account, lines);
    if !errors.is_empty() {
        return Err(AdminError::Invalid(errors));
    }
    if !scope.covers(&account.tenant) {
        return Err(AdminError::OutOfScope(account.tenant.to_string()));
    }
    let mut tx = db.begin_platform().await?;
    let (_, otp) =
        insert_account(&mut tx, keyring, account, actor, now, &mut HashMap::new()).await?;
    tx.commit().await?;
    let account = show_account_in(db, keyring, scope, &account.username, now)
        .await?
        .ok_or_else(|| AdminError::NotFound(account.username.clone()))?;
    Ok(CreatedAccount {
        account,
        one_time_password: otp,
    })
}

/// Creates every account of `accounts` in one transaction, or none: the
/// first that cannot be created ends it with its error and its index.
/// `summary` is one more audit event, recorded in the same transaction
/// (`account.import` with what was imported).
pub(crate) async fn insert_all(
    db: &Database,
    keyring: &Keyring,
    scope: &TenantScope,
    accounts: &[NewStaffAccount],
    actor: &str,
    now: DateTime<Utc>,
    summary: (&TenantPath, NewEvent),
) -> Result<Vec<Option<Zeroizing<String>>>, (usize, AdminError)> {
    if let Some(i) = accounts.iter().position(|a| !scope.covers(&a.tenant)) {
        return Err((i, AdminError::OutOfScope(accounts[i].tenant.to_string())));
    }
    let mut tx = db.begin_platform().await.map_err(|e| (0, e.into()))?;
    let mut seal = HashMap::new();
    let mut passwords = Vec::with_capacity(accounts.len());
    for (i, account) in accounts.iter().enumerate() {
        let (_, otp) = insert_account(&mut tx, keyring, account, actor, now, &mut seal)
            .await
            .map_err(|e| (i, e))?;
        passwords.push(otp);
    }
    let (tenant, event) = summary;
    civitas_audit::record_platform(&mut tx, tenant, &event)
        .await
        .map_err(|e| (accounts.len(), e.into()))?;
    tx.commit().await.map_err(|e| (accounts.len(), e.into()))?;
    Ok(passwords)
}

/// Which of `usernames` and of `(tenant, employee number)` pairs are taken
/// already: for a dry run to name every clash at once.
pub(crate) async fn taken(
    db: &Database,
    usernames: &[String],
    employee_nos: &[(String, String)],
) -> Result<(Vec<String>, Vec<(String, String)>), AdminError> {
    let mut tx = db.begin_platform_read().await?;
    let mut names = Vec::new();
    let mut numbers = Vec::new();
    for username in usernames {
        let found: Option<String> = with_connection!(tx.connection(), c => {
            sqlx::query_scalar("SELECT id FROM accounts WHERE username = $1")
                .bind(username.clone())
                .fetch_optional(&mut *c)
                .await?
        });
        if found.is_some() {
            names.push(username.clone());
        }
    }
    for (tenant, no) in employee_nos {
        let found: Option<String> = with_connection!(tx.connection(), c => {
            sqlx::query_scalar("SELECT id FROM accounts WHERE tenant_path = $1 AND employee_no = $2")
                .bind(tenant.clone())
                .bind(no.clone())
                .fetch_optional(&mut *c)
                .await?
        });
        if found.is_some() {
            numbers.push((tenant.clone(), no.clone()));
        }
    }
    Ok((names, numbers))
}

const DETAIL_COLUMNS: &str = "a.id, a.username, a.kind, a.tenant_path, a.line, a.display_name, a.must_change_password, \
     a.disabled, a.disabled_at, a.key_version, a.phone, a.email, a.employee_no, a.position, a.one_time_until, \
     a.created_at, a.updated_at, f.locked_until";

/// An account row, contact data still sealed.
struct StoredAccount {
    id: String,
    username: String,
    kind: AccountKind,
    tenant_path: String,
    line: Option<String>,
    display_name: String,
    must_change_password: bool,
    disabled: bool,
    disabled_at: Option<i64>,
    key_version: Option<i64>,
    phone: Option<String>,
    email: Option<String>,
    employee_no: Option<String>,
    position: Option<String>,
    one_time_until: Option<i64>,
    created_at: i64,
    updated_at: Option<i64>,
    locked_until: Option<i64>,
}

macro_rules! stored_account {
    ($r:expr) => {{
        let r = $r;
        let kind: String = r.try_get("kind")?;
        StoredAccount {
            id: r.try_get("id")?,
            username: r.try_get("username")?,
            kind: AccountKind::parse(&kind)?,
            tenant_path: r.try_get("tenant_path")?,
            line: r.try_get("line")?,
            display_name: r.try_get("display_name")?,
            must_change_password: r.try_get("must_change_password")?,
            disabled: r.try_get("disabled")?,
            disabled_at: r.try_get("disabled_at")?,
            key_version: r.try_get("key_version")?,
            phone: r.try_get("phone")?,
            email: r.try_get("email")?,
            employee_no: r.try_get("employee_no")?,
            position: r.try_get("position")?,
            one_time_until: r.try_get("one_time_until")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            locked_until: r.try_get("locked_until")?,
        }
    }};
}

fn time(micros: i64) -> Result<DateTime<Utc>, AdminError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| IdentityError::Internal(format!("timestamp out of range: {micros}")).into())
}

/// Opens and masks the contact data of `rows`, with one opener per key
/// version, and adds each account's roles.
async fn details(
    tx: &mut TenantTx,
    keyring: &Keyring,
    rows: Vec<StoredAccount>,
    now: DateTime<Utc>,
) -> Result<Vec<AccountDetail>, AdminError> {
    let mut openers: HashMap<(String, i64), Sealer> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let tenant = TenantPath::parse(&row.tenant_path).map_err(|e| {
            IdentityError::Internal(format!("account tenant {}: {e}", row.tenant_path))
        })?;
        let sealed = row.phone.is_some() || row.email.is_some();
        let (phone, email) = match (sealed, row.key_version) {
            (false, _) => (None, None),
            (true, None) => {
                return Err(IdentityError::Internal(format!(
                    "account {} has sealed contact data but no key version",
                    row.username
                ))
                .into());
            }
            (true, Some(version)) => {
                let key = (row.tenant_path.clone(), version);
                if !openers.contains_key(&key) {
                    let opener = keyring.opener(tx, &tenant, version).await?;
                    openers.insert(key.clone(), opener);
                }
                let opener = openers
                    .get(&key)
                    .ok_or_else(|| IdentityError::Internal("opener cache".into()))?;
                let phone = row
                    .phone
                    .as_deref()
                    .map(|p| opener.open(PHONE_FIELD, p).map(|v| mask::phone(&v)))
                    .transpose()?;
                let email = row
                    .email
                    .as_deref()
                    .map(|m| opener.open(EMAIL_FIELD, m).map(|v| mask::email(&v)))
                    .transpose()?;
                (phone, email)
            }
        };
        let roles: Vec<String> = with_connection!(tx.connection(), c => {
            sqlx::query_scalar("SELECT DISTINCT role FROM grants WHERE account_id = $1 ORDER BY role")
                .bind(row.id.clone())
                .fetch_all(&mut *c)
                .await?
        });
        let locked_until = row
            .locked_until
            .filter(|t| *t > now.timestamp_micros())
            .map(time)
            .transpose()?;
        let state = if row.disabled {
            AccountState::Disabled
        } else if locked_until.is_some() {
            AccountState::Locked
        } else if row.must_change_password {
            AccountState::Pending
        } else {
            AccountState::Active
        };
        out.push(AccountDetail {
            id: row.id,
            username: row.username,
            kind: row.kind,
            tenant_path: row.tenant_path,
            line: row.line,
            display_name: row.display_name,
            employee_no: row.employee_no,
            position: row.position,
            phone,
            email,
            state,
            disabled_at: row.disabled_at.map(time).transpose()?,
            locked_until,
            must_change_password: row.must_change_password,
            one_time_until: row.one_time_until.map(time).transpose()?,
            roles,
            created_at: time(row.created_at)?,
            updated_at: row.updated_at.map(time).transpose()?,
        });
    }
    Ok(out)
}

/// The most accounts one page may hold.
const MAX_PAGE: u32 = 200;

/// A page of the accounts of the transaction's subtree that `filter`
/// selects, by tenant and username, after `after`.
pub async fn list_accounts(
    tx: &mut TenantTx,
    keyring: &Keyring,
    filter: &AccountFilter,
    after: Option<&AccountCursor>,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<AccountPage, AdminError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let scope_path = tx.scope().path().clone();
    let (lower, upper) = scope_path.subtree_range();
    let phone_index = match filter.phone.as_deref() {
        Some(phone) => {
            let normal = check_phone(phone).map_err(|e| AdminError::Invalid(vec![e]))?;
            let indexer = keyring.indexer(tx, &scope_path).await?;
            Some(indexer.index(PHONE_FIELD, &normal))
        }
        None => None,
    };
    // Every filter is a bound parameter, "no filter" a NULL that passes.
    let sql = format!(
        "SELECT {DETAIL_COLUMNS} FROM accounts a LEFT JOIN sign_in_failures f ON f.username = a.username \
         WHERE a.tenant_path >= $1 AND a.tenant_path < $2 \
           AND (a.tenant_path > $3 OR (a.tenant_path = $3 AND a.username > $4)) \
           AND ($5 IS NULL OR a.kind = $5) \
           AND ($6 IS NULL OR a.line = $6) \
           AND ($7 IS NULL OR EXISTS (SELECT 1 FROM grants g WHERE g.account_id = a.id AND g.role = $7)) \
           AND ($8 IS NULL OR a.phone_index = $8) \
           AND ($9 IS NULL \
                OR ($9 = 'disabled' AND a.disabled) \
                OR ($9 = 'locked' AND NOT a.disabled AND f.locked_until > $10) \
                OR ($9 = 'pending' AND NOT a.disabled AND (f.locked_until IS NULL OR f.locked_until <= $10) AND a.must_change_password) \
                OR ($9 = 'active' AND NOT a.disabled AND (f.locked_until IS NULL OR f.locked_until <= $10) AND NOT a.must_change_password)) \
         ORDER BY a.tenant_path, a.username LIMIT {}",
        limit + 1
    );
    let (after_tenant, after_name) = match after {
        Some(c) => (c.tenant_path.clone(), c.username.clone()),
        None => (String::new(), String::new()),
    };
    let mut rows = with_connection!(tx.connection(), c => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(lower.to_owned())
            .bind(upper.clone())
            .bind(after_tenant)
            .bind(after_name)
            .bind(filter.kind.map(AccountKind::as_str))
            .bind(filter.line.clone())
            .bind(filter.role.clone())
            .bind(phone_index)
            .bind(filter.state.map(AccountState::as_str))
            .bind(now.timestamp_micros())
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(|r| -> Result<StoredAccount, sqlx::Error> { Ok(stored_account!(r)) })
            .collect::<Result<Vec<_>, _>>()?
    });
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = more.then(|| rows.last()).flatten().map(|r| AccountCursor {
        tenant_path: r.tenant_path.clone(),
        username: r.username.clone(),
    });
    Ok(AccountPage {
        accounts: details(tx, keyring, rows, now).await?,
        next,
    })
}

/// Account `username` if it lies in the transaction's subtree.
pub async fn show_account(
    tx: &mut TenantTx,
    keyring: &Keyring,
    username: &str,
    now: DateTime<Utc>,
) -> Result<Option<AccountDetail>, AdminError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper);
    let sql = format!(
        "SELECT {DETAIL_COLUMNS} FROM accounts a LEFT JOIN sign_in_failures f ON f.username = a.username \
         WHERE a.username = $1 AND a.tenant_path >= $2 AND a.tenant_path < $3"
    );
    let row = with_connection!(tx.connection(), c => {
        match sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username.to_owned())
            .bind(lower)
            .bind(upper)
            .fetch_optional(&mut *c)
            .await?
        {
            Some(r) => Some(stored_account!(&r)),
            None => None,
        }
    });
    match row {
        Some(row) => Ok(details(tx, keyring, vec![row], now).await?.pop()),
        None => Ok(None),
    }
}

async fn show_account_in(
    db: &Database,
    keyring: &Keyring,
    scope: &TenantScope,
    username: &str,
    now: DateTime<Utc>,
) -> Result<Option<AccountDetail>, AdminError> {
    let mut tx = db.begin_read(scope).await?;
    let found = show_account(&mut tx, keyring, username, now).await?;
    tx.rollback().await?;
    Ok(found)
}

/// The target of a change: its id, tenant and kind, locked for the change.
pub(crate) async fn target(
    tx: &mut PlatformTx,
    scope: &TenantScope,
    username: &str,
) -> Result<(String, TenantPath, AccountKind, bool), AdminError> {
    let sql = format!(
        "SELECT id, tenant_path, kind, disabled FROM accounts WHERE username = $1{}",
        tx.backend().lock_for_update()
    );
    let row: Option<(String, String, String, bool)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(username.to_owned())
            .fetch_optional(&mut *c)
            .await?
    });
    let Some((id, tenant, kind, disabled)) = row else {
        return Err(AdminError::NotFound(username.to_owned()));
    };
    // An account outside the subtree is "not found": an administrator
    // learns nothing of other tenants' usernames.
    let tenant = match out_of_scope(scope, &tenant) {
        Ok(tenant) => tenant,
        Err(AdminError::OutOfScope(_)) => return Err(AdminError::NotFound(username.to_owned())),
        Err(e) => return Err(e),
    };
    let kind = AccountKind::parse(&kind).map_err(AdminError::from)?;
    Ok((id, tenant, kind, disabled))
}

/// Disables (`disabled`) or enables an account in the scope's subtree.
/// Disabling ends its sessions at once (its API keys stop with it, as
/// every key check reads the account); `reason` goes to the audit record.
/// Returns whether anything changed.
pub async fn set_disabled(
    db: &Database,
    scope: &TenantScope,
    username: &str,
    disabled: bool,
    reason: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<bool, AdminError> {
    if username == actor {
        return Err(AdminError::OwnAccount);
    }
    let mut tx = db.begin_platform().await?;
    let (id, tenant, _, was) = target(&mut tx, scope, username).await?;
    if was == disabled {
        return Ok(false);
    }
    let at = now.timestamp_micros();
    with_connection!(tx.connection(), c => {
        sqlx::query("UPDATE accounts SET disabled = $2, disabled_at = $3, updated_at = $4 WHERE id = $1")
            .bind(id.clone())
            .bind(disabled)
            .bind(disabled.then_some(at))
            .bind(at)
            .execute(&mut *c)
            .await?;
        if disabled {
            sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL")
                .bind(id.clone())
                .bind(at)
                .execute(&mut *c)
                .await?;
        }
    });
    let action = if disabled {
        "account.disable"
    } else {
        "account.enable"
    };
    audit(
        &mut tx,
        &tenant,
        actor,
        action,
        username,
        serde_json::json!({"reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Lifts a sign-in lock on an account in the scope's subtree (and forgets
/// its counted failures). Returns whether it was locked.
pub async fn unlock(
    db: &Database,
    scope: &TenantScope,
    username: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<bool, AdminError> {
    let mut tx = db.begin_platform().await?;
    let (_, tenant, _, _) = target(&mut tx, scope, username).await?;
    let was_locked: bool = with_connection!(tx.connection(), c => {
        let locked: Option<Option<i64>> = sqlx::query_scalar("SELECT locked_until FROM sign_in_failures WHERE username = $1")
            .bind(username.to_owned())
            .fetch_optional(&mut *c)
            .await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE username = $1")
            .bind(username.to_owned())
            .execute(&mut *c)
            .await?;
        locked.flatten().is_some_and(|t| t > now.timestamp_micros())
    });
    audit(
        &mut tx,
        &tenant,
        actor,
        "account.unlock",
        username,
        serde_json::json!({"was_locked": was_locked}),
    )
    .await?;
    tx.commit().await?;
    Ok(was_locked)
}

/// Gives a person's account in the scope's subtree a new one-time password
/// (to be changed at sign-in), ends its sessions and lifts any lock.
pub async fn reset_password(
    db: &Database,
    scope: &TenantScope,
    username: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Zeroizing<String>, AdminError> {
    if username == actor {
        return Err(AdminError::OwnAccount);
    }
    let mut tx = db.begin_platform().await?;
    let (id, tenant, kind, _) = target(&mut tx, scope, username).await?;
    if kind == AccountKind::Service {
        return Err(AdminError::WrongKind {
            zh: "服务账户没有密码，请使用 API 密钥",
            en: "a service account has no password; it uses API keys",
        });
    }
    let (otp, hash) = one_time()?;
    let at = now.timestamp_micros();
    let until = (now + Duration::days(ONE_TIME_VALIDITY_DAYS)).timestamp_micros();
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "UPDATE accounts SET password_hash = $2, must_change_password = $3, password_changed_at = $4, \
             one_time_until = $5, updated_at = $4 WHERE id = $1",
        )
        .bind(id.clone())
        .bind(hash.clone())
        .bind(true)
        .bind(at)
        .bind(until)
        .execute(&mut *c)
        .await?;
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL")
            .bind(id.clone())
            .bind(at)
            .execute(&mut *c)
            .await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE username = $1")
            .bind(username.to_owned())
            .execute(&mut *c)
            .await?;
    });
    audit(
        &mut tx,
        &tenant,
        actor,
        "account.password.reset",
        username,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(otp)
}

/// Changes the profile of an account in the scope's subtree; contact data
/// is re-sealed with the tenant's active key. The audit record names the
/// fields changed, never their values.
pub async fn update_profile(
    db: &Database,
    keyring: &Keyring,
    scope: &TenantScope,
    username: &str,
    change: &ProfileChange,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<AccountDetail, AdminError> {
    let mut errors = Vec::new();
    if let Some(name) = &change.display_name {
        errors.extend(check_text("display_name", "姓名", name, 64));
    }
    if let Some(Some(phone)) = &change.phone
        && let Err(e) = check_phone(phone)
    {
        errors.push(e);
    }
    if let Some(Some(email)) = &change.email
        && let Err(e) = check_email(email)
    {
        errors.push(e);
    }
    if let Some(Some(no)) = &change.employee_no {
        errors.extend(check_employee_no(no));
    }
    if let Some(Some(position)) = &change.position {
        errors.extend(check_text("position", "岗位", position, 64));
    }
    if !errors.is_empty() {
        return Err(AdminError::Invalid(errors));
    }
    let mut tx = db.begin_platform().await?;
    let (id, tenant, _, _) = target(&mut tx, scope, username).await?;
    // The contact data as stored, to keep what is not changed.
    let (version, phone, email): (Option<i64>, Option<String>, Option<String>) = with_connection!(tx.connection(), c => {
        sqlx::query_as("SELECT key_version, phone, email FROM accounts WHERE id = $1")
            .bind(id.clone())
            .fetch_one(&mut *c)
            .await?
    });
    let mut changed = Vec::new();
    if change.phone.is_some() || change.email.is_some() {
        let sealer = keyring.platform_sealer(&mut tx, &tenant).await?;
        let indexer = keyring.platform_indexer(&mut tx, &tenant).await?;
        // Values not changed are opened with the version they name and
        // sealed again with the active key, so the row has one version.
        let opener = match version {
            Some(v) if phone.is_some() || email.is_some() => {
                Some(keyring.platform_opener(&mut tx, &tenant, v).await?)
            }
            _ => None,
        };
        let keep = |field: &str, sealed: &Option<String>| -> Result<Option<String>, AdminError> {
            match (sealed, &opener) {
                (Some(s), Some(o)) => Ok(Some(o.open(field, s)?.to_string())),
                (Some(_), None) => Err(IdentityError::Internal(
                    "sealed contact data without a key version".into(),
                )
                .into()),
                (None, _) => Ok(None),
            }
        };
        let new_phone = match &change.phone {
            Some(p) => {
                changed.push("phone");
                p.clone()
            }
            None => keep(PHONE_FIELD, &phone)?,
        };
        let new_email = match &change.email {
            Some(m) => {
                changed.push("email");
                m.clone()
            }
            None => keep(EMAIL_FIELD, &email)?,
        };
        let contact = seal_contact(
            &sealer,
            &indexer,
            new_phone.as_deref(),
            new_email.as_deref(),
        )?;
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE accounts SET key_version = $2, phone = $3, phone_index = $4, email = $5, email_index = $6 WHERE id = $1")
                .bind(id.clone())
                .bind(contact.key_version)
                .bind(contact.phone)
                .bind(contact.phone_index)
                .bind(contact.email)
                .bind(contact.email_index)
                .execute(&mut *c)
                .await?;
        });
    }
    if let Some(name) = &change.display_name {
        changed.push("display_name");
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE accounts SET display_name = $2 WHERE id = $1")
                .bind(id.clone())
                .bind(name.trim().to_owned())
                .execute(&mut *c)
                .await?;
        });
    }
    if let Some(position) = &change.position {
        changed.push("position");
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE accounts SET position = $2 WHERE id = $1")
                .bind(id.clone())
                .bind(position.as_deref().map(|p| p.trim().to_owned()))
                .execute(&mut *c)
                .await?;
        });
    }
    if let Some(no) = &change.employee_no {
        changed.push("employee_no");
        let clash: Option<String> = with_connection!(tx.connection(), c => {
            sqlx::query_scalar("SELECT id FROM accounts WHERE tenant_path = $1 AND employee_no = $2 AND id <> $3")
                .bind(tenant.as_str().to_owned())
                .bind(no.clone())
                .bind(id.clone())
                .fetch_optional(&mut *c)
                .await?
        });
        if let (Some(_), Some(no)) = (clash, no) {
            return Err(AdminError::EmployeeNoTaken {
                tenant: tenant.to_string(),
                employee_no: no.clone(),
            });
        }
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE accounts SET employee_no = $2 WHERE id = $1")
                .bind(id.clone())
                .bind(no.clone())
                .execute(&mut *c)
                .await?;
        });
    }
    with_connection!(tx.connection(), c => {
        sqlx::query("UPDATE accounts SET updated_at = $2 WHERE id = $1")
            .bind(id.clone())
            .bind(now.timestamp_micros())
            .execute(&mut *c)
            .await?;
    });
    audit(
        &mut tx,
        &tenant,
        actor,
        "account.update",
        username,
        serde_json::json!({"fields": changed}),
    )
    .await?;
    tx.commit().await?;
    show_account_in(db, keyring, scope, username, now)
        .await?
        .ok_or_else(|| AdminError::NotFound(username.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn officer() -> NewStaffAccount {
        NewStaffAccount {
            username: "huamu-officer".into(),
            kind: AccountKind::Staff,
            tenant: TenantPath::parse("310000/310115/310115009").unwrap(),
            line: Some("civil-affairs".into()),
            profile: StaffProfile {
                display_name: "王芳".into(),
                phone: Some("+86 138-0013-8000".into()),
                email: Some("Wang.Fang@Pudong.gov.cn".into()),
                employee_no: Some("PD-0042".into()),
                position: Some("民政专员".into()),
            },
        }
    }

    #[test]
    fn a_complete_officer_is_valid() {
        assert_eq!(
            check_new_account(&officer(), &["civil-affairs".into()]),
            vec![]
        );
    }

    #[test]
    fn every_invalid_field_is_named() {
        let mut account = officer();
        account.username = "Bad Name".into();
        account.line = Some("tax".into());
        account.profile = StaffProfile {
            display_name: " ".into(),
            phone: Some("12345".into()),
            email: Some("nobody".into()),
            employee_no: Some("工号 1".into()),
            position: Some(String::new()),
        };
        let fields: Vec<_> = check_new_account(&account, &["civil-affairs".into()])
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "username",
                "line",
                "display_name",
                "phone",
                "email",
                "employee_no",
                "position"
            ]
        );
    }

    #[test]
    fn staff_need_a_line_developers_have_none_and_citizens_register_themselves() {
        let mut staff = officer();
        staff.line = None;
        assert_eq!(check_new_account(&staff, &[])[0].field, "line");
        let mut developer = officer();
        developer.kind = AccountKind::Developer;
        assert_eq!(
            check_new_account(&developer, &["civil-affairs".into()])[0].field,
            "line"
        );
        let mut citizen = officer();
        citizen.kind = AccountKind::Citizen;
        assert_eq!(
            check_new_account(&citizen, &["civil-affairs".into()])[0].field,
            "kind"
        );
    }

    #[test]
    fn phones_are_normalised_mobiles_or_landlines_with_area_code() {
        assert_eq!(check_phone("+86 138-0013-8000").unwrap(), "13800138000");
        assert_eq!(check_phone("021-58881234").unwrap(), "02158881234");
        for bad in ["58881234", "2380013800", "138001380001", "138-abc-8000"] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_email(" Wang@Pudong.gov.cn ").unwrap(),
            "wang@pudong.gov.cn"
        );
        for bad in ["a@b", "@b.cn", "a@.cn", "a b@c.cn"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursors_hold_a_tenant_path_and_a_username_only() {
        assert!(AccountCursor::new("310000/310115".into(), "huamu-officer".into()).is_some());
        for (t, u) in [("", "a-b"), ("x", "huamu-officer"), ("310000", "Bad Name")] {
            assert_eq!(AccountCursor::new(t.into(), u.into()), None, "{t} {u}");
        }
    }
}

/// An account's contact data, opened: where notices to it are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// The phone number, if any.
    pub phone: Option<String>,
    /// The e-mail address, if any.
    pub email: Option<String>,
}

/// Opens the contact data of the account `account_id` (platform work: the
/// notifier sending a notice to it). None if there is no such account.
pub async fn contact_of(
    db: &Database,
    keyring: &Keyring,
    account_id: &str,
) -> Result<Option<Contact>, AdminError> {
    let mut tx = db.begin_platform_read().await?;
    type Row = (String, Option<i64>, Option<String>, Option<String>);
    let row: Option<Row> = with_connection!(tx.connection(), c => {
        sqlx::query_as("SELECT tenant_path, key_version, phone, email FROM accounts WHERE id = $1")
            .bind(account_id.to_owned())
            .fetch_optional(&mut *c)
            .await?
    });
    let Some((tenant, version, phone, email)) = row else {
        return Ok(None);
    };
    if phone.is_none() && email.is_none() {
        return Ok(Some(Contact::default()));
    }
    let tenant = TenantPath::parse(&tenant)
        .map_err(|e| IdentityError::Internal(format!("stored tenant path {tenant}: {e}")))?;
    let version = version.ok_or_else(|| {
        IdentityError::Internal("sealed contact data without a key version".into())
    })?;
    let opener = keyring.platform_opener(&mut tx, &tenant, version).await?;
    let open = |field: &str, sealed: Option<String>| -> Result<Option<String>, AdminError> {
        sealed
            .map(|s| Ok(opener.open(field, &s)?.to_string()))
            .transpose()
    };
    Ok(Some(Contact {
        phone: open(PHONE_FIELD, phone)?,
        email: open(EMAIL_FIELD, email)?,
    }))
}

/// Changes the phone number or e-mail address of the account `account_id`
/// itself (a person keeping their own contact data, where no grant is
/// involved): checked and sealed as [`update_profile`] does, audited in the
/// chain of the account's tenant with the person as actor.
pub async fn update_own_contact(
    db: &Database,
    keyring: &Keyring,
    account_id: &str,
    phone: Option<Option<String>>,
    email: Option<Option<String>>,
    now: DateTime<Utc>,
) -> Result<AccountDetail, AdminError> {
    let row: Option<(String, String)> = {
        let mut tx = db.begin_platform_read().await?;
        with_connection!(tx.connection(), c => {
            sqlx::query_as("SELECT username, tenant_path FROM accounts WHERE id = $1")
                .bind(account_id.to_owned())
                .fetch_optional(&mut *c)
                .await?
        })
    };
    let (username, tenant) = row.ok_or_else(|| AdminError::NotFound(account_id.to_owned()))?;
    let tenant = TenantPath::parse(&tenant)
        .map_err(|e| IdentityError::Internal(format!("stored tenant path {tenant}: {e}")))?;
    update_profile(
        db,
        keyring,
        &TenantScope::for_platform_task(tenant),
        &username,
        &ProfileChange {
            phone,
            email,
            ..ProfileChange::default()
        },
        &username,
        now,
    )
    .await
}
