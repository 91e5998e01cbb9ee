//! Self-registration of citizens and enterprises on a tenant portal.
//!
//! A citizen registers with a resident id number (GB 11643, check digit
//! verified by [`IdNumber`]); an enterprise with its unified social credit
//! code (GB 32100, [`CreditCode`]). One account per person or enterprise:
//! the credit code is public register data and is stored as it is; the id
//! number is personal data, so the account keeps only its blind index
//! (HMAC-SM3 with the root's index key), enough to refuse a second account.

use chrono::Utc;
use civitas_audit::NewEvent;
use civitas_crypto::password;
use civitas_people::IdNumber;
use civitas_storage::{Database, TenantScope, with_connection};
use civitas_tenancy::TenantPath;
use civitas_vault::Keyring;

use crate::{Account, AccountKind, CreditCode, IdentityError, SignInSettings};

/// The blind-index field of citizens' id numbers on accounts.
pub(crate) const SUBJECT_FIELD: &str = "accounts.subject";

/// A citizen registering.
#[derive(Debug, Clone)]
pub struct NewCitizen {
    /// The sign-in name.
    pub username: String,
    /// The password (checked against the policy).
    pub password: String,
    /// The tenant the citizen registers with (where they live).
    pub tenant: TenantPath,
    /// The full name.
    pub name: String,
    /// The resident id number.
    pub id_number: IdNumber,
}

/// An enterprise registering.
#[derive(Debug, Clone)]
pub struct NewEnterprise {
    /// The sign-in name.
    pub username: String,
    /// The password (checked against the policy).
    pub password: String,
    /// The tenant the enterprise is registered with.
    pub tenant: TenantPath,
    /// The registered name.
    pub name: String,
    /// The unified social credit code.
    pub credit_code: CreditCode,
}

/// Why a registration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// The username is not acceptable.
    #[error("用户名须为 3–64 个小写字母、数字或 -_. (invalid username): {0}")]
    InvalidUsername(String),
    /// The tenant is not an active tenant.
    #[error("租户不存在 (no such tenant): {0}")]
    UnknownTenant(String),
    /// The person or enterprise already has a verified account.
    #[error("该证件已有经实名核验的账户 (this identity already has a verified account)")]
    AlreadyRegistered,
    /// The display name is empty or too long.
    #[error("名称须为 1–100 个字符 (the name must be 1 to 100 characters)")]
    InvalidName,
}

/// Registers a citizen; audited as `account.register` in the tenant's chain.
pub async fn register_citizen(
    db: &Database,
    keyring: &Keyring,
    settings: &SignInSettings,
    citizen: &NewCitizen,
) -> Result<Account, IdentityError> {
    // The index key is read as the platform's own work on the tenant the
    // citizen chose (anyone may register; nothing of the tenant is read).
    let mut tx = db
        .begin_read(&TenantScope::for_platform_task(citizen.tenant.clone()))
        .await?;
    let indexer = keyring
        .indexer(&mut tx, &citizen.tenant)
        .await
        .map_err(|e| IdentityError::Internal(e.to_string()))?;
    tx.rollback().await?;
    let subject = indexer.index(SUBJECT_FIELD, citizen.id_number.as_str());
    let registration = Registration {
        username: &citizen.username,
        password: &citizen.password,
        tenant: &citizen.tenant,
        name: &citizen.name,
        kind: AccountKind::Citizen,
        subject,
    };
    register(db, settings, &registration).await
}

/// Registers an enterprise; audited as `account.register` in the tenant's
/// chain.
pub async fn register_enterprise(
    db: &Database,
    settings: &SignInSettings,
    enterprise: &NewEnterprise,
) -> Result<Account, IdentityError> {
    let registration = Registration {
        username: &enterprise.username,
        password: &enterprise.password,
        tenant: &enterprise.tenant,
        name: &enterprise.name,
        kind: AccountKind::Enterprise,
        subject: enterprise.credit_code.as_str().to_owned(),
    };
    register(db, settings, &registration).await
}

struct Registration<'a> {
    username: &'a str,
    password: &'a str,
    tenant: &'a TenantPath,
    name: &'a str,
    kind: AccountKind,
    subject: String,
}

async fn register(
    db: &Database,
    settings: &SignInSettings,
    registration: &Registration<'_>,
) -> Result<Account, IdentityError> {
    if !crate::valid_new_username(registration.username) {
        return Err(RegistrationError::InvalidUsername(registration.username.to_owned()).into());
    }
    let name = registration.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(RegistrationError::InvalidName.into());
    }
    settings.policy.check(registration.password)?;
    let password = registration.password.to_owned();
    let iterations = settings.iterations;
    let hash = tokio::task::spawn_blocking(move || password::hash(&password, iterations))
        .await
        .map_err(|e| IdentityError::Internal(e.to_string()))??;
    let id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now().timestamp_micros();
    let mut tx = db.begin_platform().await?;
    let (tenant_known, subject_taken, username_taken) = with_connection!(tx.connection(), c => {
        let tenant: Option<String> = sqlx::query_scalar("SELECT path FROM tenants WHERE path = $1 AND active")
            .bind(registration.tenant.as_str().to_owned())
            .fetch_optional(&mut *c)
            .await?;
        // Only a verified account holds an identity: an unverified claim
        // (perhaps someone else's, with a public credit code) blocks no one.
        let subject: Option<String> = sqlx::query_scalar(
            "SELECT id FROM accounts WHERE kind = $1 AND subject = $2 AND verified_at IS NOT NULL",
        )
            .bind(registration.kind.as_str())
            .bind(registration.subject.clone())
            .fetch_optional(&mut *c)
            .await?;
        let username: Option<String> = sqlx::query_scalar("SELECT id FROM accounts WHERE username = $1")
            .bind(registration.username.to_owned())
            .fetch_optional(&mut *c)
            .await?;
        (tenant.is_some(), subject.is_some(), username.is_some())
    });
    if !tenant_known {
        return Err(RegistrationError::UnknownTenant(registration.tenant.to_string()).into());
    }
    if username_taken {
        return Err(IdentityError::UsernameTaken(
            registration.username.to_owned(),
        ));
    }
    if subject_taken {
        return Err(RegistrationError::AlreadyRegistered.into());
    }
    let inserted = with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO accounts (id, username, kind, tenant_path, line, display_name, password_hash, must_change_password, created_at, password_changed_at, subject) \
             VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $8, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(id.clone())
        .bind(registration.username.to_owned())
        .bind(registration.kind.as_str())
        .bind(registration.tenant.as_str().to_owned())
        .bind(name.to_owned())
        .bind(hash.clone())
        .bind(false)
        .bind(now)
        .bind(registration.subject.clone())
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    // A concurrent registration of the same name or identity won the race.
    if inserted == 0 {
        return Err(RegistrationError::AlreadyRegistered.into());
    }
    crate::accounts::remember_password(&mut tx, &id, &hash, now).await?;
    civitas_audit::record_platform(
        &mut tx,
        registration.tenant,
        &NewEvent {
            actor: format!("account:{}", registration.username),
            action: "account.register".to_owned(),
            target: format!("account:{}", registration.username),
            detail: serde_json::json!({"kind": registration.kind.as_str()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Account {
        id,
        username: registration.username.to_owned(),
        kind: registration.kind,
        tenant_path: registration.tenant.to_string(),
        line: None,
        display_name: name.to_owned(),
        must_change_password: false,
        verified: false,
    })
}
