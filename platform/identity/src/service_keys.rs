//! API keys of service accounts: machine clients such as a district's own
//! system calling city APIs.
//!
//! A key is `civ_<id>_<secret>`: the id finds the row, the secret (256
//! random bits) is checked against its stored SM3 digest in constant time.
//! A key carries its own authority: a tenant subtree, a set of actions, the
//! lines it may act in and optionally the source addresses it may come
//! from. It is a [`Decider`]: a request scope is built from it exactly as
//! from the grant index for people.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use civitas_audit::NewEvent;
use civitas_crypto::{random_bytes, sm3};
use civitas_storage::{
    AccessRequest, Database, Decider, PlatformTx, StorageError, TenantTx, with_connection,
};
use civitas_tenancy::TenantPath;
use ipnet::IpNet;
use serde::Serialize;
use sqlx::Row as _;

use crate::IdentityError;

/// The prefix of every key, so that leaked keys are easy to scan for.
pub const KEY_PREFIX: &str = "civ_";

/// A key to issue.
#[derive(Debug, Clone)]
pub struct NewServiceKey {
    /// The service account's username; created (kind `service`) if absent.
    pub account: String,
    /// What the key is for, shown in lists.
    pub name: String,
    /// The subtree the key may act in.
    pub tenant: TenantPath,
    /// The actions it may do (`policies/base.csv` names).
    pub actions: Vec<String>,
    /// The lines it may act in (`*` = every line).
    pub lines: Vec<String>,
    /// Source networks allowed; empty = any.
    pub allowed_ips: Vec<IpNet>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether a second person must approve it before it works (two-person
    /// rule for keys that reach personal data).
    pub needs_approval: bool,
}

/// An issued key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceKey {
    /// The key id (the public part of the key).
    pub id: String,
    /// The service account's id.
    pub account_id: String,
    /// The service account's username.
    pub account: String,
    /// What the key is for.
    pub name: String,
    /// The subtree it may act in.
    pub tenant: TenantPath,
    /// The actions it may do.
    pub actions: Vec<String>,
    /// The lines it may act in.
    pub lines: Vec<String>,
    /// Source networks allowed; empty = any.
    pub allowed_ips: Vec<String>,
    /// Who issued it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whether it waits for a second person's approval (it works only
    /// after [`approve_service_key`]).
    pub pending: bool,
    /// Who approved it, when it needed approval and has it.
    pub approved_by: Option<String>,
}

impl Decider for ServiceKey {
    fn allows(&self, request: &AccessRequest<'_>) -> bool {
        request.principal == self.account_id
            && request.tenant.is_within(&self.tenant)
            && self.actions.iter().any(|a| a == request.action)
            && self
                .lines
                .iter()
                .any(|l| l == crate::ALL_LINES || l == request.line)
    }
}

/// A newly issued key and its secret, shown once.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The key.
    pub key: ServiceKey,
    /// The whole key string to present (`civ_<id>_<secret>`).
    pub secret: String,
}

/// Why a presented key was refused. Each is HTTP 401 with one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejected {
    /// Not in the `civ_<id>_<secret>` form.
    #[error("malformed key")]
    Malformed,
    /// No key with that id, or a wrong secret.
    #[error("unknown key")]
    Unknown,
    /// Revoked.
    #[error("revoked key")]
    Revoked,
    /// Past its expiry.
    #[error("expired key")]
    Expired,
    /// Presented from an address outside its allow-list.
    #[error("source address not allowed")]
    SourceNotAllowed,
    /// Issued, but not yet approved by a second person.
    #[error("key awaiting approval")]
    Pending,
}

/// What can go wrong checking a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key is refused.
    #[error(transparent)]
    Rejected(#[from] KeyRejected),
    /// Anything else.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

impl From<StorageError> for KeyError {
    fn from(e: StorageError) -> KeyError {
        KeyError::Identity(e.into())
    }
}

impl From<sqlx::Error> for KeyError {
    fn from(e: sqlx::Error) -> KeyError {
        KeyError::Identity(IdentityError::Storage(e.into()))
    }
}

impl From<civitas_audit::AuditError> for KeyError {
    fn from(e: civitas_audit::AuditError) -> KeyError {
        KeyError::Identity(e.into())
    }
}

/// Why a key cannot be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRequestError {
    /// A key needs at least one action.
    #[error("a key needs at least one action")]
    NoActions,
    /// An action the platform does not know.
    #[error("unknown action {0}")]
    UnknownAction(String),
    /// Administrators' duties are never given to a machine.
    #[error("action {0} is an administrator's duty and cannot be given to a key")]
    AdministratorAction(String),
    /// A line that is not a line name or `*`.
    #[error("invalid line {0}")]
    InvalidLine(String),
    /// No service account of the key's tenant has the username (the system
    /// administrator creates service accounts).
    #[error("{0} is not a service account of this tenant")]
    NotServiceAccount(String),
    /// The username is not a valid username.
    #[error("invalid username {0}")]
    InvalidUsername(String),
    /// The expiry is not in the future.
    #[error("the expiry is not in the future")]
    ExpiryInThePast,
}

/// Checks a key request against the platform's `known_actions`; none of
/// the `administrator_actions` (the three administrators' duties) may be
/// given to a key.
pub fn check_key_request(
    request: &NewServiceKey,
    known_actions: &[&str],
    administrator_actions: &[&str],
) -> Result<(), KeyRequestError> {
    if !crate::valid_username(&request.account) {
        return Err(KeyRequestError::InvalidUsername(request.account.clone()));
    }
    if request.actions.is_empty() {
        return Err(KeyRequestError::NoActions);
    }
    if request.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(KeyRequestError::ExpiryInThePast);
    }
    for action in &request.actions {
        if administrator_actions.contains(&action.as_str()) {
            return Err(KeyRequestError::AdministratorAction(action.clone()));
        }
        if !known_actions.contains(&action.as_str()) {
            return Err(KeyRequestError::UnknownAction(action.clone()));
        }
    }
    for line in &request.lines {
        if !civitas_tenancy::valid_grant_line(line) {
            return Err(KeyRequestError::InvalidLine(line.clone()));
        }
    }
    Ok(())
}

fn micros(at: Option<DateTime<Utc>>) -> Option<i64> {
    at.map(|t| t.timestamp_micros())
}

fn time(micros: Option<i64>) -> Option<DateTime<Utc>> {
    micros.and_then(DateTime::from_timestamp_micros)
}

/// Issues a key (checked with [`check_key_request`] first) to an existing
/// service account of the key's tenant; audited as `service_key.issue` by `actor` in
/// the key's tenant chain. The secret is returned once and never stored.
pub async fn issue_service_key(
    db: &Database,
    request: &NewServiceKey,
    actor: &str,
) -> Result<IssuedKey, KeyError> {
    let mut id_bytes = [0u8; 8];
    let mut secret_bytes = [0u8; 32];
    random_bytes(&mut id_bytes).map_err(IdentityError::from)?;
    random_bytes(&mut secret_bytes).map_err(IdentityError::from)?;
    let id = hex::encode(id_bytes);
    let secret = B64.encode(secret_bytes);
    let now = Utc::now();
    let lines = if request.lines.is_empty() {
        vec![crate::ALL_LINES.to_owned()]
    } else {
        request.lines.clone()
    };
    let allowed_ips: Vec<String> = request
        .allowed_ips
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut tx = db.begin_platform().await?;
    let account_id = service_account(&mut tx, request).await?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO service_keys (id, account_id, name, tenant_path, actions, lines, allowed_ips, secret_sm3, created_by, created_at, expires_at, needs_approval) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id.clone())
        .bind(account_id.clone())
        .bind(request.name.clone())
        .bind(request.tenant.as_str().to_owned())
        .bind(serde_json::to_string(&request.actions).unwrap_or_default())
        .bind(serde_json::to_string(&lines).unwrap_or_default())
        .bind(serde_json::to_string(&allowed_ips).unwrap_or_default())
        .bind(hex::encode(sm3::digest(secret.as_bytes())))
        .bind(actor.to_owned())
        .bind(now.timestamp_micros())
        .bind(micros(request.expires_at))
        .bind(request.needs_approval)
        .execute(&mut *c)
        .await?;
    });
    civitas_audit::record_platform(
        &mut tx,
        &request.tenant,
        &NewEvent {
            actor: actor.to_owned(),
            action: "service_key.issue".to_owned(),
            target: format!("service_key:{id}"),
            detail: serde_json::json!({
                "account": request.account,
                "name": request.name,
                "actions": request.actions,
                "lines": lines,
                "allowed_ips": allowed_ips,
                "expires_at": request.expires_at.map(|t| t.to_rfc3339()),
                "needs_approval": request.needs_approval,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(IssuedKey {
        secret: format!("{KEY_PREFIX}{id}_{secret}"),
        key: ServiceKey {
            id,
            account_id,
            account: request.account.clone(),
            name: request.name.clone(),
            tenant: request.tenant.clone(),
            actions: request.actions.clone(),
            lines,
            allowed_ips,
            created_by: actor.to_owned(),
            created_at: DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now),
            expires_at: request.expires_at,
            revoked_at: None,
            pending: request.needs_approval,
            approved_by: None,
        },
    })
}

/// The id of the service account `request.account` of the key's tenant.
/// The account must exist: service accounts are created by the system
/// administrator (account administration), keys issued by the security
/// administrator — neither does the other's duty (三员分立).
async fn service_account(tx: &mut PlatformTx, request: &NewServiceKey) -> Result<String, KeyError> {
    let lock = tx.backend().lock_for_share();
    let sql = format!("SELECT id, kind, tenant_path FROM accounts WHERE username = $1{lock}");
    let found: Option<(String, String, String)> = with_connection!(tx.connection(), c => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(request.account.clone())
            .fetch_optional(&mut *c)
            .await?
            .map(|r| -> Result<_, sqlx::Error> {
                Ok((r.try_get("id")?, r.try_get("kind")?, r.try_get("tenant_path")?))
            })
            .transpose()?
    });
    match found {
        Some((id, kind, tenant)) if kind == "service" && tenant == request.tenant.as_str() => {
            Ok(id)
        }
        _ => Err(KeyError::Identity(IdentityError::KeyRequest(
            KeyRequestError::NotServiceAccount(request.account.clone()),
        ))),
    }
}

const KEY_COLUMNS: &str = "k.id, k.account_id, a.username, k.name, k.tenant_path, k.actions, k.lines, \
     k.allowed_ips, k.created_by, k.created_at, k.expires_at, k.revoked_at, k.needs_approval, k.approved_by, k.approved_at";

macro_rules! key_from_row {
    ($r:expr) => {{
        let r = $r;
        let json = |column: &str| -> Result<Vec<String>, sqlx::Error> {
            let text: String = r.try_get(column)?;
            serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
        };
        let tenant: String = r.try_get("tenant_path")?;
        let created_at: i64 = r.try_get("created_at")?;
        Ok::<ServiceKey, sqlx::Error>(ServiceKey {
            id: r.try_get("id")?,
            account_id: r.try_get("account_id")?,
            account: r.try_get("username")?,
            name: r.try_get("name")?,
            tenant: TenantPath::parse(&tenant).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            actions: json("actions")?,
            lines: json("lines")?,
            allowed_ips: json("allowed_ips")?,
            created_by: r.try_get("created_by")?,
            created_at: DateTime::from_timestamp_micros(created_at).ok_or_else(|| {
                sqlx::Error::Decode(format!("created_at out of range: {created_at}").into())
            })?,
            expires_at: time(r.try_get("expires_at")?),
            revoked_at: time(r.try_get("revoked_at")?),
            pending: r.try_get::<bool, _>("needs_approval")?
                && r.try_get::<Option<i64>, _>("approved_at")?.is_none(),
            approved_by: r.try_get("approved_by")?,
        })
    }};
}

/// A page of keys, newest first.
#[derive(Debug, Clone)]
pub struct KeyPage {
    /// The keys.
    pub keys: Vec<ServiceKey>,
    /// Where the next page starts ([`parse_key_cursor`]); none on the last.
    pub next: Option<String>,
}

/// Reads a [`KeyPage::next`] cursor (`<created_at µs>|<key id>`); `None`
/// for anything else.
pub fn parse_key_cursor(text: &str) -> Option<(i64, String)> {
    let (at, id) = text.split_once('|')?;
    let at = at.parse::<i64>().ok()?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| (at, id.to_owned()))
}

/// The keys issued in the transaction's subtree, newest first, `limit` at
/// a time after the cursor `after`.
pub async fn list_service_keys(
    tx: &mut TenantTx,
    after: Option<&(i64, String)>,
    limit: u32,
) -> Result<KeyPage, KeyError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let lower = lower.to_owned();
    let limit = limit.clamp(1, 500);
    let page_clause = if after.is_some() {
        " AND (k.created_at < $3 OR (k.created_at = $3 AND k.id > $4))"
    } else {
        ""
    };
    // One more than the page tells whether another page follows.
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM service_keys k JOIN accounts a ON a.id = k.account_id \
         WHERE k.tenant_path >= $1 AND k.tenant_path < $2{page_clause} \
         ORDER BY k.created_at DESC, k.id LIMIT {}",
        limit + 1
    );
    let mut keys = with_connection!(tx.connection(), c => {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(lower).bind(upper);
        if let Some((at, id)) = after {
            query = query.bind(*at).bind(id.clone());
        }
        let rows = query.fetch_all(&mut *c).await?;
        let mut keys = Vec::with_capacity(rows.len());
        for r in &rows {
            keys.push(key_from_row!(r)?);
        }
        keys
    });
    let next = if keys.len() > limit as usize {
        keys.truncate(limit as usize);
        keys.last()
            .map(|k| format!("{}|{}", k.created_at.timestamp_micros(), k.id))
    } else {
        None
    };
    Ok(KeyPage { keys, next })
}

/// Key `id` if it lies in the subtree of `scope`, through any connection
/// (a tenant's read, or the platform's write that approves it).
async fn key_in_subtree(
    connection: civitas_storage::Connection<'_>,
    scope: &TenantPath,
    id: &str,
) -> Result<Option<ServiceKey>, KeyError> {
    let (lower, upper) = scope.subtree_range();
    let lower = lower.to_owned();
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM service_keys k JOIN accounts a ON a.id = k.account_id \
         WHERE k.id = $1 AND k.tenant_path >= $2 AND k.tenant_path < $3"
    );
    let found = with_connection!(connection, c => {
        match sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .bind(lower)
            .bind(upper)
            .fetch_optional(&mut *c)
            .await?
        {
            Some(r) => Some(key_from_row!(&r)?),
            None => None,
        }
    });
    Ok(found)
}

/// Key `id` if it lies in the transaction's subtree.
pub async fn find_service_key(tx: &mut TenantTx, id: &str) -> Result<Option<ServiceKey>, KeyError> {
    let scope = tx.scope().path().clone();
    key_in_subtree(tx.connection(), &scope, id).await
}

/// Why a key could not be approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalRefused {
    /// No live key `id` in the scope.
    NotFound,
    /// The key needs no approval, or already has it.
    NotPending,
    /// The approver issued it: the two-person rule needs someone else.
    SamePerson,
}

/// Approves key `id` (in `scope`'s subtree) that waits for a second
/// person; audited as `service_key.approve` by `approver`, who must not be
/// the account that issued it. The key works from the next request on.
pub async fn approve_service_key(
    db: &Database,
    scope: &civitas_storage::TenantScope,
    id: &str,
    approver: &str,
) -> Result<Result<ServiceKey, ApprovalRefused>, KeyError> {
    let mut tx = db.begin_platform().await?;
    // A revoked key is not pending any more.
    let found = key_in_subtree(tx.connection(), scope.path(), id).await?;
    let Some(mut key) = found.filter(|k| k.revoked_at.is_none()) else {
        return Ok(Err(ApprovalRefused::NotFound));
    };
    if !key.pending {
        return Ok(Err(ApprovalRefused::NotPending));
    }
    if key.created_by == approver {
        return Ok(Err(ApprovalRefused::SamePerson));
    }
    let updated = with_connection!(tx.connection(), c => {
        sqlx::query(
            "UPDATE service_keys SET approved_by = $1, approved_at = $2 \
             WHERE id = $3 AND needs_approval AND approved_at IS NULL AND revoked_at IS NULL",
        )
        .bind(approver.to_owned())
        .bind(Utc::now().timestamp_micros())
        .bind(id.to_owned())
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    if updated == 0 {
        return Ok(Err(ApprovalRefused::NotPending));
    }
    civitas_audit::record_platform(
        &mut tx,
        &key.tenant,
        &NewEvent {
            actor: approver.to_owned(),
            action: "service_key.approve".to_owned(),
            target: format!("service_key:{id}"),
            detail: serde_json::json!({
                "issued_by": key.created_by,
                "actions": key.actions,
                "lines": key.lines,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    key.pending = false;
    key.approved_by = Some(approver.to_owned());
    Ok(Ok(key))
}

/// Revokes key `id` if it lies in `scope`'s subtree; audited as
/// `service_key.revoke` by `actor`. Returns whether a key was revoked now
/// (`false` when there is no such key in the scope or it already was).
/// The next request with it is refused on every node.
pub async fn revoke_service_key(
    db: &Database,
    scope: &civitas_storage::TenantScope,
    id: &str,
    actor: &str,
) -> Result<bool, KeyError> {
    let mut tx = db.begin_platform().await?;
    let (lower, upper) = scope.path().subtree_range();
    let lower = lower.to_owned();
    let tenant: Option<String> = with_connection!(tx.connection(), c => {
        sqlx::query_scalar(
            "UPDATE service_keys SET revoked_at = $1, revoked_by = $2 \
             WHERE id = $3 AND revoked_at IS NULL AND tenant_path >= $4 AND tenant_path < $5 RETURNING tenant_path",
        )
        .bind(Utc::now().timestamp_micros())
        .bind(actor.to_owned())
        .bind(id.to_owned())
        .bind(lower)
        .bind(upper)
        .fetch_optional(&mut *c)
        .await?
    });
    let Some(tenant) = tenant else {
        return Ok(false);
    };
    let tenant = TenantPath::parse(&tenant).map_err(|e| IdentityError::Internal(e.to_string()))?;
    civitas_audit::record_platform(
        &mut tx,
        &tenant,
        &NewEvent {
            actor: actor.to_owned(),
            action: "service_key.revoke".to_owned(),
            target: format!("service_key:{id}"),
            detail: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Checks a presented key from `source` at `now` and records the call
/// (`service.call`, with `what` — e.g. the method and path — in the key's
/// tenant chain). A refused key that is a real key (its secret matched:
/// revoked, expired, or from a network outside its allow-list) is recorded
/// as `service_key.reject` in the `realm`'s chain. A key that names no key
/// — malformed, an unknown id or a wrong secret — is only counted in
/// `refused`, which writes one summary record per interval: anyone can
/// present such a value, so it opens no write transaction. Every answer
/// to a refused key is the same to the caller.
pub async fn authenticate_key(
    db: &Database,
    realm: &TenantPath,
    refused: &RefusedKeys,
    presented: &str,
    source: Option<IpAddr>,
    what: &str,
    now: DateTime<Utc>,
) -> Result<ServiceKey, KeyError> {
    let checked = check_key(db, presented, source, now).await;
    let (tenant, event) = match &checked {
        Ok(key) => (
            key.tenant.clone(),
            NewEvent {
                actor: key.account.clone(),
                action: "service.call".to_owned(),
                target: what.chars().take(200).collect(),
                detail: serde_json::json!({
                    "key": key.id,
                    "source": source.map(|s| s.to_canonical().to_string()),
                }),
            },
        ),
        Err(KeyError::Rejected(cause @ (KeyRejected::Malformed | KeyRejected::Unknown))) => {
            let cause = if *cause == KeyRejected::Malformed {
                RefusalCause::Malformed
            } else {
                RefusalCause::Unknown
            };
            refused.note(cause, key_id(presented).map(|(id, _)| id), source, now);
            return checked;
        }
        Err(KeyError::Rejected(cause)) => (
            realm.clone(),
            NewEvent {
                actor: "anonymous".to_owned(),
                action: "service_key.reject".to_owned(),
                target: what.chars().take(200).collect(),
                detail: serde_json::json!({
                    // The id part only: never the secret.
                    "key": key_id(presented).map(|(id, _)| id),
                    "cause": cause.to_string(),
                    "source": source.map(|s| s.to_string()),
                }),
            },
        ),
        Err(KeyError::Identity(_)) => return checked,
    };
    let mut tx = db.begin_platform().await?;
    if let Ok(key) = &checked {
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE service_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now.timestamp_micros())
                .bind(key.id.clone())
                .execute(&mut *c)
                .await?;
        });
    }
    civitas_audit::record_platform(&mut tx, &tenant, &event).await?;
    tx.commit().await?;
    checked
}

/// Why a presented key was counted in [`RefusedKeys`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCause {
    /// Not in the `civ_<id>_<secret>` form.
    Malformed,
    /// No key with that id, or a wrong secret.
    Unknown,
    /// Not checked at all: its source had presented too many refused keys.
    Throttled,
}

impl RefusalCause {
    fn as_str(self) -> &'static str {
        match self {
            RefusalCause::Malformed => "malformed",
            RefusalCause::Unknown => "unknown",
            RefusalCause::Throttled => "throttled",
        }
    }
}

/// At most this many distinct sources, and as many key ids, are named in
/// one summary; the rest are counted together, so a flood from many
/// addresses cannot grow the tally (or the record) without bound.
const SUMMARY_NAMES_MAX: usize = 1000;

/// Refused API keys that name no key, counted in memory between summaries.
///
/// [`authenticate_key`] counts malformed keys, unknown ids and wrong
/// secrets here instead of writing an audit record for each (the API adds
/// keys it did not check because their source was throttled);
/// [`RefusedKeys::flush`] writes what was counted as one
/// `service_key.reject.summary` record: how many, of which cause, from
/// which sources, naming which key ids, between which times.
#[derive(Debug, Default)]
pub struct RefusedKeys(std::sync::Mutex<Tally>);

#[derive(Debug, Default)]
struct Tally {
    count: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    causes: std::collections::BTreeMap<&'static str, u64>,
    sources: std::collections::BTreeMap<String, u64>,
    other_sources: u64,
    keys: std::collections::BTreeMap<String, u64>,
    other_keys: u64,
}

fn count_in(
    names: &mut std::collections::BTreeMap<String, u64>,
    other: &mut u64,
    name: String,
    n: u64,
) {
    if let Some(count) = names.get_mut(&name) {
        *count += n;
    } else if names.len() < SUMMARY_NAMES_MAX {
        names.insert(name, n);
    } else {
        *other += n;
    }
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.count += other.count;
        self.first = self.first.into_iter().chain(other.first).min();
        self.last = self.last.into_iter().chain(other.last).max();
        for (cause, n) in other.causes {
            *self.causes.entry(cause).or_default() += n;
        }
        for (source, n) in other.sources {
            count_in(&mut self.sources, &mut self.other_sources, source, n);
        }
        self.other_sources += other.other_sources;
        for (key, n) in other.keys {
            count_in(&mut self.keys, &mut self.other_keys, key, n);
        }
        self.other_keys += other.other_keys;
    }
}

impl RefusedKeys {
    /// Counts one refused key from `source` at `now`, naming `key_id` (the
    /// id part, never the secret) if it had one.
    pub fn note(
        &self,
        cause: RefusalCause,
        key_id: Option<&str>,
        source: Option<IpAddr>,
        now: DateTime<Utc>,
    ) {
        let mut one = Tally {
            count: 1,
            first: Some(now),
            last: Some(now),
            ..Tally::default()
        };
        one.causes.insert(cause.as_str(), 1);
        let source = source.map_or_else(|| "unknown".to_owned(), |s| s.to_canonical().to_string());
        one.sources.insert(source, 1);
        if let Some(id) = key_id {
            one.keys.insert(id.to_owned(), 1);
        }
        self.merge(one);
    }

    /// How many refusals are counted and not yet written.
    pub fn pending(&self) -> u64 {
        match self.0.lock() {
            Ok(tally) => tally.count,
            Err(poisoned) => poisoned.into_inner().count,
        }
    }

    fn merge(&self, other: Tally) {
        match self.0.lock() {
            Ok(mut tally) => tally.merge(other),
            // A panic mid-merge leaves counts at worst a little off.
            Err(poisoned) => poisoned.into_inner().merge(other),
        }
    }

    fn take(&self) -> Tally {
        match self.0.lock() {
            Ok(mut tally) => std::mem::take(&mut *tally),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// Writes what was counted since the last flush as one
    /// `service_key.reject.summary` record in `realm`'s chain, and returns
    /// how many refusals it covers (0: nothing counted, nothing written).
    /// If the write fails the counts are kept for the next flush.
    pub async fn flush(&self, db: &Database, realm: &TenantPath) -> Result<u64, KeyError> {
        let tally = self.take();
        if tally.count == 0 {
            return Ok(0);
        }
        let event = NewEvent {
            actor: "anonymous".to_owned(),
            action: "service_key.reject.summary".to_owned(),
            target: "service_keys".to_owned(),
            detail: serde_json::json!({
                "count": tally.count,
                "first": tally.first.map(|t| t.to_rfc3339()),
                "last": tally.last.map(|t| t.to_rfc3339()),
                "causes": tally.causes,
                "sources": tally.sources,
                "other_sources": tally.other_sources,
                "keys": tally.keys,
                "other_keys": tally.other_keys,
            }),
        };
        let written = async {
            let mut tx = db.begin_platform().await?;
            civitas_audit::record_platform(&mut tx, realm, &event).await?;
            tx.commit().await?;
            Ok::<(), KeyError>(())
        }
        .await;
        let count = tally.count;
        if let Err(e) = written {
            self.merge(tally);
            return Err(e);
        }
        Ok(count)
    }
}

fn key_id(presented: &str) -> Option<(&str, &str)> {
    let (id, secret) = presented.strip_prefix(KEY_PREFIX)?.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some((id, secret))
}

async fn check_key(
    db: &Database,
    presented: &str,
    source: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<ServiceKey, KeyError> {
    let (id, secret) = key_id(presented).ok_or(KeyRejected::Malformed)?;
    let mut tx = db.begin_platform_read().await?;
    let sql = format!(
        "SELECT {KEY_COLUMNS}, k.secret_sm3, a.disabled FROM service_keys k JOIN accounts a ON a.id = k.account_id WHERE k.id = $1"
    );
    let found: Option<(ServiceKey, String, bool)> = with_connection!(tx.connection(), c => {
        match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.to_owned()).fetch_optional(&mut *c).await? {
            Some(r) => Some((key_from_row!(&r)?, r.try_get::<String, _>("secret_sm3")?, r.try_get::<bool, _>("disabled")?)),
            None => None,
        }
    });
    let Some((key, stored, disabled)) = found else {
        return Err(KeyRejected::Unknown.into());
    };
    let given = hex::encode(sm3::digest(secret.as_bytes()));
    if !civitas_crypto::constant_time_eq(given.as_bytes(), stored.as_bytes()) {
        return Err(KeyRejected::Unknown.into());
    }
    // A disabled service account's keys stop with it.
    if key.revoked_at.is_some() || disabled {
        return Err(KeyRejected::Revoked.into());
    }
    if key.expires_at.is_some_and(|t| t <= now) {
        return Err(KeyRejected::Expired.into());
    }
    if key.pending {
        return Err(KeyRejected::Pending.into());
    }
    if !key.allowed_ips.is_empty() {
        // An IPv4 client on an IPv6 listener arrives as ::ffff:a.b.c.d.
        let allowed = source.map(|ip| ip.to_canonical()).is_some_and(|ip| {
            key.allowed_ips
                .iter()
                .filter_map(|n| n.parse::<IpNet>().ok())
                .any(|net| net.contains(&ip))
        });
        if !allowed {
            return Err(KeyRejected::SourceNotAllowed.into());
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_names_so_many_sources_and_counts_the_rest_together() {
        let refused = RefusedKeys::default();
        let now = Utc::now();
        let extra = 5u32;
        for i in 0..(SUMMARY_NAMES_MAX as u32 + extra) {
            let source = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            refused.note(
                RefusalCause::Unknown,
                Some("00000000000000aa"),
                Some(source),
                now,
            );
        }
        refused.note(RefusalCause::Malformed, None, None, now);
        assert_eq!(
            refused.pending(),
            u64::from(SUMMARY_NAMES_MAX as u32 + extra + 1)
        );
        let tally = refused.take();
        assert_eq!(tally.sources.len(), SUMMARY_NAMES_MAX);
        assert_eq!(tally.other_sources, u64::from(extra + 1));
        assert_eq!(
            tally.keys["00000000000000aa"],
            u64::from(SUMMARY_NAMES_MAX as u32 + extra)
        );
        assert_eq!(tally.causes["malformed"], 1);
        assert_eq!(refused.pending(), 0);
    }
}
