//! Sessions and tokens.
//!
//! An access token is `v1.PAYLOAD.SIGNATURE`: the claims as base64url JSON
//! and an SM2 signature (DER, base64url) by the platform key over
//! `civitas-token-v1.PAYLOAD`, so anyone holding the platform's public key
//! can check it. It lives minutes; the refresh token (an opaque random
//! string, stored only as its SM3 digest) gets a new pair and is replaced
//! each time. Every request also checks the session row, so a logout or an
//! idle session is refused at the next request on every node.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use civitas_audit::NewEvent;
use civitas_crypto::sm2::{PrivateKey, PublicKey, Signature};
use civitas_crypto::{random_bytes, sm3};
use civitas_storage::{Database, StorageError, with_connection};
use civitas_tenancy::TenantPath;
use serde::{Deserialize, Serialize};

use crate::{Account, AccountKind};

/// How long sessions and tokens last.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// A session unused this long ends (default 30 minutes).
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in whatever happens (default 8 hours).
    pub absolute_lifetime: Duration,
    /// How long one access token is valid (default 5 minutes).
    pub access_ttl: Duration,
}

impl SessionSettings {
    /// Whether a session last seen at `last_seen` and ending at `expires`
    /// (microseconds) is still open at `now`: neither past its lifetime nor
    /// idle too long.
    fn check_open(&self, last_seen: i64, expires: i64, now: i64) -> Result<(), TokenError> {
        let idle = self.idle_timeout.num_microseconds().unwrap_or(i64::MAX);
        if now >= expires || now - last_seen > idle {
            return Err(TokenError::SessionExpired);
        }
        Ok(())
    }
}

impl Default for SessionSettings {
    fn default() -> SessionSettings {
        SessionSettings {
            idle_timeout: Duration::minutes(30),
            absolute_lifetime: Duration::hours(8),
            access_ttl: Duration::minutes(5),
        }
    }
}

/// Why a token or session was refused. Each maps to HTTP 401.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a token of ours.
    #[error("令牌格式无效 (malformed token)")]
    Malformed,
    /// The signature does not verify with the platform key.
    #[error("令牌签名无效 (the token's signature does not verify)")]
    BadSignature,
    /// The access token has expired; refresh it.
    #[error("令牌已过期 (the token has expired)")]
    Expired,
    /// The session was signed out or revoked.
    #[error("会话已注销 (the session was signed out)")]
    Revoked,
    /// The session was idle too long or reached its lifetime.
    #[error("会话已超时，请重新登录 (the session timed out; sign in again)")]
    SessionExpired,
    /// A refresh token that was never issued (no such session, or a wrong
    /// secret); nothing changed.
    #[error("刷新令牌无效 (the refresh token is not valid)")]
    UnknownRefresh,
    /// The database failed; nothing was decided.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Signing or recording failed.
    #[error("{0}")]
    Internal(String),
}

impl From<sqlx::Error> for TokenError {
    fn from(e: sqlx::Error) -> TokenError {
        TokenError::Storage(StorageError::Database(e))
    }
}

/// What an access token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account id.
    pub sub: String,
    /// The username.
    pub usr: String,
    /// The kind of principal.
    pub kind: AccountKind,
    /// The account's tenant path.
    pub ten: String,
    /// The staff line, if any.
    pub line: Option<String>,
    /// The session id.
    pub sid: String,
    /// Issued at (seconds since the Unix epoch).
    pub iat: i64,
    /// Expires at (seconds since the Unix epoch).
    pub exp: i64,
    /// Whether the password must be changed first: the API then admits
    /// only the password change, sign-out and who-am-I.
    #[serde(default)]
    pub pwd: bool,
    /// Whether the account is verified (real name checked, or made by an
    /// administrator): an unverified citizen or enterprise may act in
    /// nobody's name. Refreshed with every token, so a verification counts
    /// from the next refresh.
    #[serde(default)]
    pub ver: bool,
}

/// A new token pair.
#[derive(Debug, Clone, Serialize)]
pub struct Tokens {
    /// The signed access token (`Authorization: Bearer …`).
    pub access_token: String,
    /// When the access token expires.
    pub access_expires_at: DateTime<Utc>,
    /// The refresh token, shown once.
    pub refresh_token: String,
    /// The session id.
    pub session_id: String,
    /// Whether the password must be changed before anything else.
    pub must_change_password: bool,
}

const SIGNING_PREFIX: &str = "civitas-token-v1.";

fn sign(key: &PrivateKey, claims: &Claims) -> Result<String, TokenError> {
    let payload = serde_json::to_vec(claims).map_err(|e| TokenError::Internal(e.to_string()))?;
    let payload = B64.encode(payload);
    let signature = key
        .sign(format!("{SIGNING_PREFIX}{payload}").as_bytes())
        .map_err(|e| TokenError::Internal(e.to_string()))?;
    Ok(format!("v1.{payload}.{}", B64.encode(signature.to_der())))
}

/// Checks an access token's form, signature and expiry (no database).
pub fn decode_access(
    public: &PublicKey,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some("v1"), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let der = B64.decode(signature).map_err(|_| TokenError::Malformed)?;
    let signature = Signature::from_der(&der).map_err(|_| TokenError::Malformed)?;
    public
        .verify(format!("{SIGNING_PREFIX}{payload}").as_bytes(), &signature)
        .map_err(|_| TokenError::BadSignature)?;
    let json = B64.decode(payload).map_err(|_| TokenError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
    if claims.exp <= now.timestamp() {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

fn new_refresh(session_id: &str) -> Result<(String, String), TokenError> {
    let mut secret = [0u8; 32];
    random_bytes(&mut secret).map_err(|e| TokenError::Internal(e.to_string()))?;
    let token = format!("{session_id}.{}", B64.encode(secret));
    let digest = hex::encode(sm3::digest(token.as_bytes()));
    Ok((token, digest))
}

fn claims_for(
    account: &Account,
    session_id: &str,
    now: DateTime<Utc>,
    settings: &SessionSettings,
) -> Claims {
    Claims {
        sub: account.id.clone(),
        usr: account.username.clone(),
        kind: account.kind,
        ten: account.tenant_path.clone(),
        line: account.line.clone(),
        sid: session_id.to_owned(),
        iat: now.timestamp(),
        exp: (now + settings.access_ttl).timestamp(),
        pwd: account.must_change_password,
        ver: account.verified,
    }
}

/// Opens a session for `account` (just authenticated) and issues its first
/// token pair.
pub async fn open_session(
    db: &Database,
    key: &PrivateKey,
    account: &Account,
    settings: &SessionSettings,
    now: DateTime<Utc>,
) -> Result<Tokens, TokenError> {
    let session_id = uuid::Uuid::new_v4().to_string();
    let (refresh_token, refresh_sm3) = new_refresh(&session_id)?;
    let mut tx = db.begin_platform().await?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO sessions (id, account_id, created_at, last_seen_at, expires_at, refresh_sm3) VALUES ($1, $2, $3, $3, $4, $5)",
        )
        .bind(session_id.clone())
        .bind(account.id.clone())
        .bind(now.timestamp_micros())
        .bind((now + settings.absolute_lifetime).timestamp_micros())
        .bind(refresh_sm3)
        .execute(&mut *c)
        .await?;
    });
    tx.commit().await?;
    let claims = claims_for(account, &session_id, now, settings);
    Ok(Tokens {
        access_token: sign(key, &claims)?,
        access_expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or(now),
        refresh_token,
        session_id,
        must_change_password: claims.pwd,
    })
}

/// Checks that the session behind `claims` is still open, and records the
/// activity (at most once a minute, to spare the database).
pub async fn check_session(
    db: &Database,
    claims: &Claims,
    settings: &SessionSettings,
    now: DateTime<Utc>,
) -> Result<(), TokenError> {
    // A read on every request; the write only when activity must be noted.
    let mut tx = db.begin_platform_read().await?;
    let row: Option<(i64, i64, Option<i64>, bool)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT s.last_seen_at, s.expires_at, s.revoked_at, a.disabled FROM sessions s \
             JOIN accounts a ON a.id = s.account_id WHERE s.id = $1 AND s.account_id = $2",
        )
        .bind(claims.sid.clone())
        .bind(claims.sub.clone())
        .fetch_optional(&mut *c)
        .await?
    });
    let (last_seen, expires, revoked, disabled) = row.ok_or(TokenError::Revoked)?;
    let now_micros = now.timestamp_micros();
    if revoked.is_some() || disabled {
        return Err(TokenError::Revoked);
    }
    settings.check_open(last_seen, expires, now_micros)?;
    if now_micros - last_seen > 60_000_000 {
        drop(tx);
        let mut tx = db.begin_platform().await?;
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
                .bind(claims.sid.clone())
                .bind(now_micros)
                .execute(&mut *c)
                .await?;
        });
        tx.commit().await?;
    }
    Ok(())
}

/// Exchanges a refresh token for a new pair (the old refresh token stops
/// working). The session must still be open.
///
/// A refresh token that was already exchanged coming back means it was
/// copied: the session ends for both holders ([`TokenError::Revoked`]). A
/// token that was never issued — a wrong secret, even with a real session
/// id, which every access token shows — is only refused
/// ([`TokenError::UnknownRefresh`]): it changes nothing and opens no write
/// transaction, so knowing a session id is not enough to end the session.
pub async fn refresh(
    db: &Database,
    key: &PrivateKey,
    refresh_token: &str,
    settings: &SessionSettings,
    now: DateTime<Utc>,
) -> Result<Tokens, TokenError> {
    let Some((session_id, _)) = refresh_token.split_once('.') else {
        return Err(TokenError::UnknownRefresh);
    };
    let session_id = session_id.to_owned();
    let digest = hex::encode(sm3::digest(refresh_token.as_bytes()));
    // Issued by us at all (the current token or a spent one)? A read only.
    {
        let mut tx = db.begin_platform_read().await?;
        let issued: Option<i32> = with_connection!(tx.connection(), c => {
            sqlx::query_scalar(
                "SELECT 1 FROM sessions WHERE id = $1 AND refresh_sm3 = $2 \
                 UNION ALL SELECT 1 FROM spent_refresh_tokens WHERE session_id = $1 AND refresh_sm3 = $2",
            )
            .bind(session_id.clone())
            .bind(digest.clone())
            .fetch_optional(&mut *c)
            .await?
        });
        if issued.is_none() {
            return Err(TokenError::UnknownRefresh);
        }
    }
    let (next, next_digest) = new_refresh(&session_id)?;
    let mut tx = db.begin_platform().await?;
    // Locked (PostgreSQL) or under the write lock (SQLite): two refreshes
    // with one token cannot both succeed.
    let lock = tx.backend().lock_for_update();
    let sql = format!(
        "SELECT a.id, a.username, a.kind, a.tenant_path, a.line, a.display_name, a.must_change_password, a.verified_at, a.disabled, \
         s.last_seen_at, s.expires_at, s.revoked_at, s.refresh_sm3 \
         FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id = $1{lock}"
    );
    type Row = (Account, bool, i64, i64, Option<i64>, String);
    let row: Option<Row> = with_connection!(tx.connection(), c => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(session_id.clone())
            .fetch_optional(&mut *c)
            .await?
            .map(|r| -> Result<Row, sqlx::Error> {
                use sqlx::Row;
                Ok((
                    crate::accounts::account_from(&r)?,
                    r.try_get("disabled")?,
                    r.try_get("last_seen_at")?,
                    r.try_get("expires_at")?,
                    r.try_get("revoked_at")?,
                    r.try_get("refresh_sm3")?,
                ))
            })
            .transpose()?
    });
    let (account, disabled, last_seen, expires, revoked, stored_digest) =
        row.ok_or(TokenError::UnknownRefresh)?;
    let now_micros = now.timestamp_micros();
    if stored_digest != digest {
        // Not the current token: spent (it passed the read above, or a
        // concurrent refresh spent it since), so someone copied it. End the
        // session for both holders.
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
                .bind(session_id.clone())
                .bind(now_micros)
                .execute(&mut *c)
                .await?;
        });
        tx.commit().await?;
        tracing::warn!(session = %session_id, "a spent refresh token was reused; the session is revoked");
        return Err(TokenError::Revoked);
    }
    if revoked.is_some() || disabled {
        return Err(TokenError::Revoked);
    }
    settings.check_open(last_seen, expires, now_micros)?;
    with_connection!(tx.connection(), c => {
        sqlx::query("UPDATE sessions SET refresh_sm3 = $2, last_seen_at = $3 WHERE id = $1")
            .bind(session_id.clone())
            .bind(next_digest)
            .bind(now_micros)
            .execute(&mut *c)
            .await?;
        sqlx::query("INSERT INTO spent_refresh_tokens (refresh_sm3, session_id, spent_at) VALUES ($1, $2, $3)")
            .bind(digest)
            .bind(session_id.clone())
            .bind(now_micros)
            .execute(&mut *c)
            .await?;
    });
    tx.commit().await?;
    let claims = claims_for(&account, &session_id, now, settings);
    Ok(Tokens {
        access_token: sign(key, &claims)?,
        access_expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or(now),
        refresh_token: next,
        session_id,
        must_change_password: claims.pwd,
    })
}

/// A new access token for the open session `session_id` of `account_id`,
/// its refresh token unchanged: how the faces' cookie sessions renew an
/// expired access token, since two tabs renewing at once with one refresh
/// token would look like a copied token and end the session. The session
/// must still be open (not signed out, idle or past its lifetime, the
/// account not disabled); the claims are read afresh from the account
/// (a verification counts from here), and the activity is recorded.
pub async fn reissue(
    db: &Database,
    key: &PrivateKey,
    session_id: &str,
    account_id: &str,
    settings: &SessionSettings,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), TokenError> {
    let mut tx = db.begin_platform().await?;
    type Row = (Account, bool, i64, i64, Option<i64>);
    let row: Option<Row> = with_connection!(tx.connection(), c => {
        sqlx::query(
            "SELECT a.id, a.username, a.kind, a.tenant_path, a.line, a.display_name, a.must_change_password, a.verified_at, a.disabled, \
             s.last_seen_at, s.expires_at, s.revoked_at \
             FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id = $1 AND s.account_id = $2",
        )
        .bind(session_id.to_owned())
        .bind(account_id.to_owned())
        .fetch_optional(&mut *c)
        .await?
        .map(|r| -> Result<Row, sqlx::Error> {
            use sqlx::Row;
            Ok((
                crate::accounts::account_from(&r)?,
                r.try_get("disabled")?,
                r.try_get("last_seen_at")?,
                r.try_get("expires_at")?,
                r.try_get("revoked_at")?,
            ))
        })
        .transpose()?
    });
    let (account, disabled, last_seen, expires, revoked) = row.ok_or(TokenError::Revoked)?;
    if revoked.is_some() || disabled {
        return Err(TokenError::Revoked);
    }
    let now_micros = now.timestamp_micros();
    settings.check_open(last_seen, expires, now_micros)?;
    with_connection!(tx.connection(), c => {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
            .bind(session_id.to_owned())
            .bind(now_micros)
            .execute(&mut *c)
            .await?;
    });
    tx.commit().await?;
    let claims = claims_for(&account, session_id, now, settings);
    Ok((
        sign(key, &claims)?,
        DateTime::from_timestamp(claims.exp, 0).unwrap_or(now),
    ))
}

/// Forgets the spent refresh tokens of sessions that have ended (revoked or
/// past their lifetime, at `now`): none of them can be exchanged any more,
/// so a copy coming back has nothing left to end. Returns how many were
/// forgotten; `serve` runs it periodically.
pub async fn forget_spent_refresh_tokens(
    db: &Database,
    now: DateTime<Utc>,
) -> Result<u64, TokenError> {
    let mut tx = db.begin_platform().await?;
    let forgotten = with_connection!(tx.connection(), c => {
        sqlx::query(
            "DELETE FROM spent_refresh_tokens WHERE session_id IN \
             (SELECT id FROM sessions WHERE revoked_at IS NOT NULL OR expires_at <= $1)",
        )
        .bind(now.timestamp_micros())
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    tx.commit().await?;
    Ok(forgotten)
}

/// Ends the session of `claims` (sign-out); audited in the account's
/// tenant chain.
pub async fn revoke(db: &Database, claims: &Claims, now: DateTime<Utc>) -> Result<(), TokenError> {
    let mut tx = db.begin_platform().await?;
    with_connection!(tx.connection(), c => {
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(claims.sid.clone())
            .bind(now.timestamp_micros())
            .execute(&mut *c)
            .await?;
    });
    let tenant = TenantPath::parse(&claims.ten).map_err(|e| TokenError::Internal(e.to_string()))?;
    civitas_audit::record_platform(
        &mut tx,
        &tenant,
        &NewEvent {
            actor: claims.usr.clone(),
            action: "auth.logout".to_owned(),
            target: format!("session:{}", claims.sid),
            detail: serde_json::json!({}),
        },
    )
    .await
    .map_err(|e| TokenError::Internal(e.to_string()))?;
    tx.commit().await?;
    Ok(())
}
