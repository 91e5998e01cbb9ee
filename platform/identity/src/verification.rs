//! Real-name verification of self-registered accounts.
//!
//! Registration proves nothing (a credit code is public; an id number only
//! has to pass its check digit), so a self-registered citizen or enterprise
//! account starts unverified and may act in nobody's name. It becomes
//! verified when someone who knows checks the identity it claims:
//!
//! - an OpenID provider of the province's 统一身份认证 returns the person's
//!   id number (or the enterprise's credit code) as a claim
//!   ([`verify_by_provider`], after the API's OpenID flow), or
//! - an officer sees the identity document at the counter and types its
//!   number ([`verify_in_person`]).
//!
//! The number must be the one the account registered with. A verified
//! account holds its identity for good: other, unverified accounts claiming
//! the same identity are disabled and lose the claim (`account.claim_release`,
//! audited). A verified account that holds an identity wrongly is released
//! by the system administrator ([`release_identity`], audited with a reason).

use chrono::{DateTime, Utc};
use civitas_people::IdNumber;
use civitas_storage::{Database, PlatformTx, TenantScope, with_connection};
use civitas_tenancy::TenantPath;
use civitas_vault::Keyring;

use crate::administration::{AdminError, audit, target};
use crate::{AccountKind, CreditCode, IdentityError};

/// What proves an identity: the id number of a person or the credit code of
/// an enterprise.
#[derive(Debug, Clone)]
pub enum Evidence {
    /// A resident id number (a citizen).
    IdNumber(IdNumber),
    /// A unified social credit code (an enterprise).
    CreditCode(CreditCode),
}

/// Who checked the identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// An OpenID provider, by its issuer.
    Provider(String),
    /// An officer at the counter, by username.
    InPerson(String),
}

impl Method {
    /// As stored and audited: `oidc:{issuer}` or `in-person:{officer}`.
    pub fn as_stored(&self) -> String {
        match self {
            Method::Provider(issuer) => format!("oidc:{issuer}"),
            Method::InPerson(officer) => format!("in-person:{officer}"),
        }
    }
}

/// Why a verification or release was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerificationError {
    /// The database, the keys or the audit log failed.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// The account is not a self-registered citizen or enterprise.
    #[error(
        "该账户无需实名核验（仅自行注册的个人和企业账户需要） (only self-registered citizens and enterprises are verified): {0}"
    )]
    NotSelfRegistered(String),
    /// The account is verified already.
    #[error("该账户已完成实名核验 (the account is verified already): {0}")]
    AlreadyVerified(String),
    /// The evidence is of the wrong kind for the account.
    #[error(
        "个人账户须核验身份证号码，企业账户须核验统一社会信用代码 (a citizen is verified by id number, an enterprise by credit code)"
    )]
    WrongEvidence,
    /// The evidence names someone other than the account registered as.
    #[error(
        "核验的证件与注册时填写的不一致 (the identity checked is not the one the account registered with)"
    )]
    Mismatch,
    /// Another, verified account holds this identity.
    #[error(
        "该证件已由另一个经核验的账户持有，请联系系统管理员 (a verified account holds this identity already; ask the system administrator)"
    )]
    HeldByAnother,
    /// The account holds no identity to release.
    #[error("该账户未持有证件身份 (the account holds no identity): {0}")]
    NothingToRelease(String),
}

impl From<IdentityError> for VerificationError {
    fn from(e: IdentityError) -> VerificationError {
        VerificationError::Admin(AdminError::Identity(e))
    }
}

impl From<sqlx::Error> for VerificationError {
    fn from(e: sqlx::Error) -> VerificationError {
        VerificationError::Admin(e.into())
    }
}

impl From<civitas_storage::StorageError> for VerificationError {
    fn from(e: civitas_storage::StorageError) -> VerificationError {
        VerificationError::Admin(e.into())
    }
}

impl From<civitas_audit::AuditError> for VerificationError {
    fn from(e: civitas_audit::AuditError) -> VerificationError {
        VerificationError::Admin(e.into())
    }
}

/// What a verification did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The account verified.
    pub username: String,
    /// Unverified accounts that claimed the same identity: now disabled,
    /// their claim released.
    pub released: Vec<String>,
}

/// The subject an account of `kind` at `tenant` would have registered with
/// `evidence`: the blind index of an id number, a credit code as it is.
async fn subject_of(
    db: &Database,
    keyring: &Keyring,
    tenant: &TenantPath,
    kind: AccountKind,
    evidence: &Evidence,
) -> Result<String, VerificationError> {
    match (kind, evidence) {
        (AccountKind::Citizen, Evidence::IdNumber(number)) => {
            let mut tx = db
                .begin_read(&TenantScope::for_platform_task(tenant.clone()))
                .await?;
            let indexer = keyring
                .indexer(&mut tx, tenant)
                .await
                .map_err(|e| IdentityError::Internal(e.to_string()))?;
            tx.rollback().await?;
            Ok(indexer.index(crate::registration::SUBJECT_FIELD, number.as_str()))
        }
        (AccountKind::Enterprise, Evidence::CreditCode(code)) => Ok(code.as_str().to_owned()),
        (AccountKind::Citizen | AccountKind::Enterprise, _) => {
            Err(VerificationError::WrongEvidence)
        }
        _ => Err(VerificationError::WrongEvidence),
    }
}

/// An officer's verification at the counter of the account `username` in
/// `scope`'s subtree: `evidence` is the number on the document seen.
pub async fn verify_in_person(
    db: &Database,
    keyring: &Keyring,
    scope: &TenantScope,
    username: &str,
    evidence: &Evidence,
    officer: &str,
    now: DateTime<Utc>,
) -> Result<Verified, VerificationError> {
    let mut tx = db.begin_platform().await?;
    let (id, tenant, kind, _) = target(&mut tx, scope, username).await?;
    // The index key is read outside this transaction (SQLite has one
    // writer); complete() reads the account again under its lock.
    tx.commit().await?;
    let subject = subject_of(db, keyring, &tenant, kind, evidence).await?;
    complete(
        db,
        &id,
        &subject,
        &Method::InPerson(officer.to_owned()),
        officer,
        now,
    )
    .await
}

/// What a provider vouched for: a person's id number, an enterprise's credit
/// code, or both (an enterprise's representative signing in).
#[derive(Debug, Clone, Default)]
pub struct Vouched {
    /// The resident id number, if any.
    pub id_number: Option<IdNumber>,
    /// The credit code, if any.
    pub credit_code: Option<CreditCode>,
}

/// A verification by the OpenID provider `issuer` of the account
/// `account_id` (the caller who began it and came back in the same
/// browser): a citizen by the id number, an enterprise by the credit code
/// the provider vouched for.
pub async fn verify_by_provider(
    db: &Database,
    keyring: &Keyring,
    account_id: &str,
    vouched: &Vouched,
    issuer: &str,
    now: DateTime<Utc>,
) -> Result<Verified, VerificationError> {
    let (tenant, kind, username) = {
        let mut tx = db.begin_platform_read().await?;
        let row: Option<(String, String, String)> = with_connection!(tx.connection(), c => {
            sqlx::query_as("SELECT tenant_path, kind, username FROM accounts WHERE id = $1")
                .bind(account_id.to_owned())
                .fetch_optional(&mut *c)
                .await?
        });
        tx.commit().await?;
        row.ok_or_else(|| AdminError::NotFound(account_id.to_owned()))?
    };
    let tenant = TenantPath::parse(&tenant)
        .map_err(|_| IdentityError::Internal(format!("account {username}: bad tenant path")))?;
    let kind = AccountKind::parse(&kind).map_err(AdminError::from)?;
    let evidence = match (kind, vouched) {
        (
            AccountKind::Citizen,
            Vouched {
                id_number: Some(n), ..
            },
        ) => Evidence::IdNumber(n.clone()),
        (
            AccountKind::Enterprise,
            Vouched {
                credit_code: Some(c),
                ..
            },
        ) => Evidence::CreditCode(c.clone()),
        _ => return Err(VerificationError::WrongEvidence),
    };
    let subject = subject_of(db, keyring, &tenant, kind, &evidence).await?;
    let actor = format!("account:{username}");
    complete(
        db,
        account_id,
        &subject,
        &Method::Provider(issuer.to_owned()),
        &actor,
        now,
    )
    .await
}

/// Marks the account verified when `subject` is what it registered with
/// and no verified account holds it; releases the other claims.
async fn complete(
    db: &Database,
    account_id: &str,
    subject: &str,
    method: &Method,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Verified, VerificationError> {
    let at = now.timestamp_micros();
    let mut tx = db.begin_platform().await?;
    type Row = (String, String, String, Option<String>, Option<i64>);
    let row: Option<Row> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT username, tenant_path, kind, subject, verified_at FROM accounts WHERE id = $1",
        )
        .bind(account_id.to_owned())
        .fetch_optional(&mut *c)
        .await?
    });
    let Some((username, tenant, kind, registered, _)) = row else {
        return Err(AdminError::NotFound(account_id.to_owned()).into());
    };
    let kind = AccountKind::parse(&kind).map_err(AdminError::from)?;
    if !matches!(kind, AccountKind::Citizen | AccountKind::Enterprise) {
        return Err(VerificationError::NotSelfRegistered(username));
    }
    if registered.as_deref() != Some(subject) {
        return Err(VerificationError::Mismatch);
    }
    let tenant = TenantPath::parse(&tenant)
        .map_err(|_| IdentityError::Internal(format!("account {username}: bad tenant path")))?;
    // Every account claiming the identity is locked, in one order, before
    // any is changed: two verifications of one identity at once wait for
    // each other instead of deadlocking (SQLite's writer lock does the same).
    let sql = format!(
        "SELECT id, username, tenant_path, verified_at FROM accounts \
         WHERE kind = $1 AND subject = $2 ORDER BY id{}",
        tx.backend().lock_for_update()
    );
    let claimants: Vec<(String, String, String, Option<i64>)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(kind.as_str())
            .bind(subject.to_owned())
            .fetch_all(&mut *c)
            .await?
    });
    let mut claims = Vec::new();
    let mut held = false;
    let mut still_claimed = false;
    for (id, name, at, verified_at) in claimants {
        if id == account_id {
            if verified_at.is_some() {
                return Err(VerificationError::AlreadyVerified(username));
            }
            still_claimed = true;
        } else if verified_at.is_some() {
            held = true;
        } else {
            claims.push((id, name, at));
        }
    }
    if !still_claimed {
        // Released meanwhile by a verification of the real holder.
        return Err(VerificationError::Mismatch);
    }
    if held {
        return Err(VerificationError::HeldByAnother);
    }
    let stored = method.as_stored();
    with_connection!(tx.connection(), c => {
        sqlx::query("UPDATE accounts SET verified_at = $2, verification = $3, updated_at = $2 WHERE id = $1")
            .bind(account_id.to_owned())
            .bind(at)
            .bind(stored.clone())
            .execute(&mut *c)
            .await?;
    });
    let mut released = Vec::new();
    for (other, other_name, other_tenant) in claims {
        drop_claim(&mut tx, &other, at).await?;
        let other_tenant = TenantPath::parse(&other_tenant).map_err(|_| {
            IdentityError::Internal(format!("account {other_name}: bad tenant path"))
        })?;
        audit(
            &mut tx,
            &other_tenant,
            actor,
            "account.claim_release",
            &other_name,
            serde_json::json!({"verified_account": username, "method": stored}),
        )
        .await?;
        released.push(other_name);
    }
    audit(
        &mut tx,
        &tenant,
        actor,
        "account.verify",
        &username,
        serde_json::json!({"method": stored, "released": released}),
    )
    .await?;
    tx.commit().await?;
    Ok(Verified { username, released })
}

/// The system administrator's release of the identity the account
/// `username` (in `scope`'s subtree) holds or claims: the account loses its
/// claim and its verification and is disabled (its sessions end), so the
/// real holder can register or verify. Audited as `account.identity_release`
/// with `reason`.
pub async fn release_identity(
    db: &Database,
    scope: &TenantScope,
    username: &str,
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), VerificationError> {
    let at = now.timestamp_micros();
    let mut tx = db.begin_platform().await?;
    let (id, tenant, kind, _) = target(&mut tx, scope, username).await?;
    if !matches!(kind, AccountKind::Citizen | AccountKind::Enterprise) {
        return Err(VerificationError::NotSelfRegistered(username.to_owned()));
    }
    let had: (Option<String>, Option<String>) = with_connection!(tx.connection(), c => {
        sqlx::query_as("SELECT subject, verification FROM accounts WHERE id = $1")
            .bind(id.clone())
            .fetch_one(&mut *c)
            .await?
    });
    if had.0.is_none() {
        return Err(VerificationError::NothingToRelease(username.to_owned()));
    }
    drop_claim(&mut tx, &id, at).await?;
    audit(
        &mut tx,
        &tenant,
        actor,
        "account.identity_release",
        username,
        serde_json::json!({"reason": reason, "was_verified_by": had.1}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Takes the identity, the verification and the sessions from an account
/// and disables it.
async fn drop_claim(
    tx: &mut PlatformTx,
    account_id: &str,
    at: i64,
) -> Result<(), VerificationError> {
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "UPDATE accounts SET subject = NULL, verified_at = NULL, verification = NULL, \
             disabled = TRUE, disabled_at = $2, updated_at = $2 WHERE id = $1",
        )
        .bind(account_id.to_owned())
        .bind(at)
        .execute(&mut *c)
        .await?;
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL")
            .bind(account_id.to_owned())
            .bind(at)
            .execute(&mut *c)
            .await?;
    });
    Ok(())
}

/// How long a verification begun with a provider may take to come back.
pub const REQUEST_TTL_MICROS: i64 = 10 * 60 * 1_000_000;

/// A verification begun with a provider, kept until its callback (which
/// may reach any node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    /// The account that began it.
    pub account_id: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
    /// SM3 (hex) of the secret the browser that began it holds in a cookie.
    pub binding_sm3: String,
}

/// Keeps a verification begun by `account_id` under `state`; requests older
/// than [`REQUEST_TTL_MICROS`] are forgotten on the way.
pub async fn remember_request(
    db: &Database,
    state: &str,
    request: &PendingRequest,
    now: DateTime<Utc>,
) -> Result<(), VerificationError> {
    let at = now.timestamp_micros();
    let mut tx = db.begin_platform().await?;
    with_connection!(tx.connection(), c => {
        sqlx::query("DELETE FROM verification_requests WHERE created_at < $1")
            .bind(at - REQUEST_TTL_MICROS)
            .execute(&mut *c)
            .await?;
        sqlx::query(
            "INSERT INTO verification_requests (state, account_id, nonce, binding_sm3, pkce_verifier, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(state.to_owned())
        .bind(request.account_id.clone())
        .bind(request.nonce.clone())
        .bind(request.binding_sm3.clone())
        .bind(request.pkce_verifier.clone())
        .bind(at)
        .execute(&mut *c)
        .await?;
    });
    tx.commit().await?;
    Ok(())
}

/// Takes the verification kept under `state` (once: a state cannot be
/// replayed), if it is there and not older than [`REQUEST_TTL_MICROS`].
pub async fn take_request(
    db: &Database,
    state: &str,
    now: DateTime<Utc>,
) -> Result<Option<PendingRequest>, VerificationError> {
    let mut tx = db.begin_platform().await?;
    // One statement, so two callbacks with one state cannot both take it.
    type Row = (String, String, String, String, i64);
    let row: Option<Row> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "DELETE FROM verification_requests WHERE state = $1 \
             RETURNING account_id, nonce, pkce_verifier, binding_sm3, created_at",
        )
        .bind(state.to_owned())
        .fetch_optional(&mut *c)
        .await?
    });
    tx.commit().await?;
    Ok(row
        .filter(|(_, _, _, _, at)| *at >= now.timestamp_micros() - REQUEST_TTL_MICROS)
        .map(
            |(account_id, nonce, pkce_verifier, binding_sm3, _)| PendingRequest {
                account_id,
                nonce,
                pkce_verifier,
                binding_sm3,
            },
        ))
}
