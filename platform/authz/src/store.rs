//! Grants in the database: load, grant, revoke — each change audited in the
//! tenant's chain, and separation of duties (三员分立) enforced.

use chrono::{DateTime, Utc};
use civitas_audit::NewEvent;
use civitas_storage::{Database, StorageError, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use serde::Serialize;

use crate::{Grant, Permissions};

/// The three administrator roles no account may combine (三员分立).
pub const SEPARATED_ROLES: [&str; 3] = ["sys-admin", "sec-admin", "audit-admin"];

/// The duties of the three administrators, by the actions that make them:
/// an account's roles together may carry at most one of these duties,
/// whatever the roles are called.
const DUTIES: [(&str, &[&str]); 3] = [
    (
        "sys-admin",
        &[
            "tenant.configure",
            "module.bind",
            "module.publish",
            "system.operate",
            "account.administer",
        ],
    ),
    (
        "sec-admin",
        &["grant.read", "grant.manage", "key.manage", "seal.manage"],
    ),
    ("audit-admin", &["audit.read"]),
];

/// The administrator duty `action` belongs to (`sys-admin`, `sec-admin` or
/// `audit-admin`), if any.
pub fn duty_of(action: &str) -> Option<&'static str> {
    DUTIES
        .iter()
        .find(|(_, actions)| actions.contains(&action))
        .map(|(duty, _)| *duty)
}

/// Every action that makes an administrator duty: what no API key may
/// carry, so that no administrator can hand a machine (and through it
/// themselves) another administrator's duty.
pub fn administrator_actions() -> impl Iterator<Item = &'static str> {
    DUTIES
        .iter()
        .flat_map(|(_, actions)| actions.iter().copied())
}

/// The administrator duties `role` carries.
fn duties(permissions: &Permissions, role: &str) -> Vec<&'static str> {
    DUTIES
        .iter()
        .filter(|(_, actions)| actions.iter().any(|a| permissions.role_may(role, a)))
        .map(|(duty, _)| *duty)
        .collect()
}

/// Why a grant change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Recording the audit event failed.
    #[error(transparent)]
    Audit(#[from] civitas_audit::AuditError),
    /// The role is not in `policies/base.csv`.
    #[error("角色不存在 (no such role): {0}")]
    UnknownRole(String),
    /// The account does not exist.
    #[error("账户不存在 (no such account): {0}")]
    UnknownAccount(String),
    /// The account already holds another of the three administrator roles.
    #[error(
        "三员分立：该账户已是{held}，不能再授予{wanted} (separation of duties: the account is already {held} and cannot also be {wanted})"
    )]
    SeparationOfDuties {
        /// The administrator role it holds.
        held: String,
        /// The one asked for.
        wanted: String,
    },
    /// The tenant is not in the tree.
    #[error("租户不存在 (no such tenant): {0}")]
    UnknownTenant(String),
    /// Only staff and developer accounts hold roles.
    #[error(
        "只有工作人员和开发者账户可以被授予角色 (only staff and developer accounts hold roles), not {0}"
    )]
    NotStaff(String),
    /// The line is empty or malformed.
    #[error("业务条线无效 (invalid line): {0:?}")]
    InvalidLine(String),
    /// Nobody grants roles to themselves.
    #[error("不能为自己授权 (nobody grants roles to themselves)")]
    SelfGrant,
}

impl From<sqlx::Error> for GrantError {
    fn from(e: sqlx::Error) -> GrantError {
        GrantError::Storage(StorageError::Database(e))
    }
}

/// A stored grant with who made it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantRecord {
    /// The grant.
    #[serde(flatten)]
    pub grant: Grant,
    /// Who granted it (a username, or `system:…`).
    pub granted_by: String,
    /// When.
    pub granted_at: DateTime<Utc>,
}

/// The grants on tenants of the transaction's subtree, by tenant, line,
/// role and account, a page at a time: at most `limit`, after the grant
/// `after` in that order (keyset paging).
pub async fn grants_under(
    tx: &mut TenantTx,
    after: Option<&Grant>,
    limit: i64,
) -> Result<Vec<GrantRecord>, GrantError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let lower = lower.to_owned();
    let after = after.map(|g| {
        (
            g.tenant.to_string(),
            g.line.clone(),
            g.role.clone(),
            g.account.clone(),
        )
    });
    let (after_tenant, after_line, after_role, after_account) = match after {
        Some((tenant, line, role, account)) => {
            (Some(tenant), Some(line), Some(role), Some(account))
        }
        None => (None, None, None, None),
    };
    let rows: Vec<(String, String, String, String, String, i64)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT account_id, tenant_path, line, role, granted_by, granted_at FROM grants \
             WHERE tenant_path >= $1 AND tenant_path < $2 \
               AND ($3 IS NULL OR (tenant_path, line, role, account_id) > ($3, $4, $5, $6)) \
             ORDER BY tenant_path, line, role, account_id LIMIT $7",
        )
        .bind(lower)
        .bind(upper)
        .bind(after_tenant)
        .bind(after_line)
        .bind(after_role)
        .bind(after_account)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?
    });
    Ok(rows
        .into_iter()
        .filter_map(|(account, tenant, line, role, granted_by, granted_at)| {
            Some(GrantRecord {
                grant: Grant {
                    account,
                    tenant: TenantPath::parse(&tenant).ok()?,
                    line,
                    role,
                },
                granted_by,
                granted_at: DateTime::from_timestamp_micros(granted_at)?,
            })
        })
        .collect())
}

/// Every grant, for building the [`crate::Authorizer`].
pub async fn load_grants(db: &Database) -> Result<Vec<Grant>, GrantError> {
    let mut tx = db.begin_platform_read().await?;
    let rows: Vec<(String, String, String, String)> = with_connection!(tx.connection(), c => {
        sqlx::query_as("SELECT account_id, tenant_path, line, role FROM grants ORDER BY account_id, tenant_path")
            .fetch_all(&mut *c)
            .await?
    });
    Ok(rows
        .into_iter()
        .filter_map(|(account, tenant, line, role)| match TenantPath::parse(&tenant) {
            Ok(tenant) => Some(Grant {
                account,
                tenant,
                line,
                role,
            }),
            Err(_) => {
                tracing::warn!(%account, %tenant, "a grant names an invalid tenant path; ignored");
                None
            }
        })
        .collect())
}

async fn bump_version(tx: &mut civitas_storage::PlatformTx) -> Result<(), GrantError> {
    with_connection!(tx.connection(), c => {
        sqlx::query("UPDATE grants_version SET version = version + 1 WHERE id = 1")
            .execute(&mut *c)
            .await?;
    });
    Ok(())
}

/// A number that changes whenever a grant does: a node compares it with
/// the one its [`crate::Authorizer`] was built at to know when to reload.
pub async fn grants_version(db: &Database) -> Result<i64, GrantError> {
    let mut tx = db.begin_platform_read().await?;
    let version: Option<i64> = with_connection!(tx.connection(), c => {
        sqlx::query_scalar("SELECT version FROM grants_version WHERE id = 1")
            .fetch_optional(&mut *c)
            .await?
    });
    Ok(version.unwrap_or_default())
}

/// How many grants name exactly `tenant` (not its subtree): what a tree
/// revision that retires the node would leave pointing at nothing.
pub async fn grants_at(db: &Database, tenant: &TenantPath) -> Result<u64, GrantError> {
    let mut tx = db.begin_platform_read().await?;
    let count: i64 = with_connection!(tx.connection(), c => {
        sqlx::query_scalar("SELECT count(*) FROM grants WHERE tenant_path = $1")
            .bind(tenant.as_str().to_owned())
            .fetch_one(&mut *c)
            .await?
    });
    tx.commit().await?;
    Ok(u64::try_from(count).unwrap_or_default())
}

/// Grants `grant` (idempotent), audited as `grant.create` by `actor` in
/// the grant's tenant chain. Refuses unknown roles and accounts, and a
/// second administrator role of the three for one account.
pub async fn add_grant(
    db: &Database,
    permissions: &Permissions,
    grant: &Grant,
    actor: &str,
) -> Result<bool, GrantError> {
    if !permissions.roles().any(|r| r == grant.role) {
        return Err(GrantError::UnknownRole(grant.role.clone()));
    }
    if !civitas_tenancy::valid_grant_line(&grant.line) {
        return Err(GrantError::InvalidLine(grant.line.clone()));
    }
    let mut tx = db.begin_platform().await?;
    // Lock the account so that two grants to it are decided one at a time
    // (PostgreSQL; SQLite's write transaction already is).
    let lock = tx.backend().lock_for_update();
    let sql = format!("SELECT kind FROM accounts WHERE id = $1{lock}");
    let (kind, held, tenant_known): (Option<String>, Vec<String>, bool) = with_connection!(tx.connection(), c => {
        let kind: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(grant.account.clone())
            .fetch_optional(&mut *c)
            .await?;
        let held: Vec<String> = sqlx::query_scalar("SELECT DISTINCT role FROM grants WHERE account_id = $1")
            .bind(grant.account.clone())
            .fetch_all(&mut *c)
            .await?;
        let tenant: Option<String> = sqlx::query_scalar("SELECT path FROM tenants WHERE path = $1 AND active")
            .bind(grant.tenant.as_str().to_owned())
            .fetch_optional(&mut *c)
            .await?;
        (kind, held, tenant.is_some())
    });
    if !tenant_known {
        return Err(GrantError::UnknownTenant(grant.tenant.to_string()));
    }
    let Some(kind) = kind else {
        return Err(GrantError::UnknownAccount(grant.account.clone()));
    };
    if kind != "staff" && kind != "developer" {
        return Err(GrantError::NotStaff(kind));
    }
    let wanted = duties(permissions, &grant.role);
    for other in &held {
        for duty in duties(permissions, other) {
            if let Some(new_duty) = wanted.iter().find(|d| **d != duty) {
                return Err(GrantError::SeparationOfDuties {
                    held: duty.to_owned(),
                    wanted: (*new_duty).to_owned(),
                });
            }
        }
    }
    if wanted.len() > 1 {
        return Err(GrantError::SeparationOfDuties {
            held: wanted[0].to_owned(),
            wanted: wanted[1].to_owned(),
        });
    }
    let inserted = with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO grants (account_id, tenant_path, line, role, granted_by, granted_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT DO NOTHING",
        )
        .bind(grant.account.clone())
        .bind(grant.tenant.as_str().to_owned())
        .bind(grant.line.clone())
        .bind(grant.role.clone())
        .bind(actor.to_owned())
        .bind(Utc::now().timestamp_micros())
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    if inserted > 0 {
        civitas_audit::record_platform(
            &mut tx,
            &grant.tenant,
            &event("grant.create", grant, actor),
        )
        .await?;
        bump_version(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(inserted > 0)
}

/// Revokes `grant`; audited as `grant.delete`. Returns whether it existed.
pub async fn remove_grant(db: &Database, grant: &Grant, actor: &str) -> Result<bool, GrantError> {
    let mut tx = db.begin_platform().await?;
    let deleted = with_connection!(tx.connection(), c => {
        sqlx::query("DELETE FROM grants WHERE account_id = $1 AND tenant_path = $2 AND line = $3 AND role = $4")
            .bind(grant.account.clone())
            .bind(grant.tenant.as_str().to_owned())
            .bind(grant.line.clone())
            .bind(grant.role.clone())
            .execute(&mut *c)
            .await?
            .rows_affected()
    });
    if deleted > 0 {
        civitas_audit::record_platform(
            &mut tx,
            &grant.tenant,
            &event("grant.delete", grant, actor),
        )
        .await?;
        bump_version(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(deleted > 0)
}

fn event(action: &str, grant: &Grant, actor: &str) -> NewEvent {
    NewEvent {
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: format!("account:{}", grant.account),
        detail: serde_json::json!({"tenant": grant.tenant.as_str(), "line": grant.line, "role": grant.role}),
    }
}
