//! Authorization over the tenant tree.
//!
//! The source of truth is Casbin's: `policies/model.conf` (RBAC where a
//! grant on a tenant covers its subtree, within a line) and
//! `policies/base.csv` (what each role may do). Casbin's own `enforce`
//! scans every grant and takes tens of milliseconds at 100,000 grants
//! (`../shared/mission/FACTS.md`, and BENCHMARKS.md), so requests are
//! decided by an [`Authorizer`]: per account, the grants by tenant path,
//! and a walk up the target's ancestors. The model's `inSubtree` function
//! is the platform's (Casbin needs it registered: the tests do); with it,
//! the tests check the index against `enforce` on random grants and
//! requests, role names and the `*` line included.

mod permissions;
mod store;

use std::collections::HashMap;

use civitas_tenancy::TenantPath;
use serde::Serialize;

pub use permissions::{Permissions, PermissionsError};
pub use store::{
    GrantError, GrantRecord, SEPARATED_ROLES, add_grant, administrator_actions, duty_of, grants_at,
    grants_under, grants_version, load_grants, remove_grant,
};

/// The Casbin model, as shipped.
pub const MODEL: &str = include_str!("../../../policies/model.conf");

/// The base policy (role permissions), as shipped.
pub const BASE_POLICY: &str = include_str!("../../../policies/base.csv");

/// The line of an action that belongs to no line (audit, grants, staff).
pub const NO_LINE: &str = "-";

pub use civitas_tenancy::ALL_LINES;

/// A role held by an account on a tenant subtree, within a line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Grant {
    /// The account (its id).
    pub account: String,
    /// The subtree's root.
    pub tenant: TenantPath,
    /// The line, or [`ALL_LINES`].
    pub line: String,
    /// The role, as named in `base.csv`.
    pub role: String,
}

/// Decides requests from an index of the grants.
#[derive(Debug, Clone)]
pub struct Authorizer {
    permissions: Permissions,
    /// account → tenant path → (line, role)
    grants: HashMap<String, HashMap<String, Vec<(String, String)>>>,
}

impl Authorizer {
    /// An authorizer over `permissions` and `grants`.
    pub fn new(permissions: Permissions, grants: impl IntoIterator<Item = Grant>) -> Authorizer {
        let mut authorizer = Authorizer {
            permissions,
            grants: HashMap::new(),
        };
        for grant in grants {
            authorizer.add(grant);
        }
        authorizer
    }

    /// Adds a grant (idempotent).
    pub fn add(&mut self, grant: Grant) {
        let held = self
            .grants
            .entry(grant.account)
            .or_default()
            .entry(grant.tenant.as_str().to_owned())
            .or_default();
        let entry = (grant.line, grant.role);
        if !held.contains(&entry) {
            held.push(entry);
        }
    }

    /// Removes a grant; returns whether it was there.
    pub fn remove(&mut self, grant: &Grant) -> bool {
        let Some(by_tenant) = self.grants.get_mut(&grant.account) else {
            return false;
        };
        let Some(held) = by_tenant.get_mut(grant.tenant.as_str()) else {
            return false;
        };
        let before = held.len();
        held.retain(|(line, role)| !(line == &grant.line && role == &grant.role));
        before != held.len()
    }

    /// Whether `account` may do `action` on data of `tenant` in `line`
    /// (use [`NO_LINE`] for actions of no line): some grant of the account
    /// on `tenant` or an ancestor, in `line` or all lines, of a role that
    /// may do `action`.
    pub fn allows(&self, account: &str, tenant: &TenantPath, line: &str, action: &str) -> bool {
        let Some(by_tenant) = self.grants.get(account) else {
            return false;
        };
        tenant.lineage().iter().any(|node| {
            by_tenant.get(node.as_str()).is_some_and(|held| {
                held.iter().any(|(grant_line, role)| {
                    (grant_line == ALL_LINES || grant_line == line)
                        && self.permissions.role_may(role, action)
                })
            })
        })
    }

    /// Where `account` may do `action`: the (subtree root, line) of every
    /// grant whose role may do it (line [`ALL_LINES`] for every line). A
    /// document of tenant `t` and line `l` is within it exactly when
    /// [`Authorizer::allows`] allows `action` on `(t, l)` — so search can
    /// filter by it inside the query (`civitas-search`'s `Reach`).
    pub fn reach(&self, account: &str, action: &str) -> Vec<(TenantPath, String)> {
        let mut out: Vec<(TenantPath, String)> = self
            .grants
            .get(account)
            .into_iter()
            .flat_map(|by_tenant| {
                by_tenant.iter().flat_map(move |(tenant, held)| {
                    held.iter().filter_map(move |(line, role)| {
                        if !self.permissions.role_may(role, action) {
                            return None;
                        }
                        Some((TenantPath::parse(tenant).ok()?, line.clone()))
                    })
                })
            })
            .collect();
        out.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
        out.dedup();
        out
    }

    /// Every grant `account` holds, by tenant path.
    pub fn grants_of(&self, account: &str) -> Vec<Grant> {
        let mut out: Vec<Grant> = self
            .grants
            .get(account)
            .into_iter()
            .flat_map(|by_tenant| {
                by_tenant.iter().flat_map(move |(tenant, held)| {
                    held.iter().filter_map(move |(line, role)| {
                        Some(Grant {
                            account: account.to_owned(),
                            tenant: TenantPath::parse(tenant).ok()?,
                            line: line.clone(),
                            role: role.clone(),
                        })
                    })
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (a.tenant.as_str(), &a.line, &a.role).cmp(&(b.tenant.as_str(), &b.line, &b.role))
        });
        out
    }

    /// The permissions it decides with.
    pub fn permissions(&self) -> &Permissions {
        &self.permissions
    }
}

/// The role every citizen and enterprise account holds on every root in
/// every line, without a grant: what `policies/base.csv` lets it do
/// (`case.apply`, `case.own`) is all an applicant may do. Queries then
/// limit it to the applicant's own cases.
pub const APPLICANT_ROLE: &str = "applicant";

/// Decides for an applicant (a citizen or enterprise account) from the same
/// permissions as everyone else: as if it held [`APPLICANT_ROLE`] on every
/// root in every line (`tests/agrees_with_casbin.rs` checks exactly that
/// against Casbin).
#[derive(Debug, Clone, Copy)]
pub struct ApplicantRight<'a> {
    permissions: &'a Permissions,
}

impl Authorizer {
    /// The decider for an applicant's requests.
    pub fn applicant(&self) -> ApplicantRight<'_> {
        ApplicantRight {
            permissions: &self.permissions,
        }
    }
}

impl civitas_storage::Decider for ApplicantRight<'_> {
    fn allows(&self, request: &civitas_storage::AccessRequest<'_>) -> bool {
        self.permissions.role_may(APPLICANT_ROLE, request.action)
    }
}

impl civitas_storage::Decider for Authorizer {
    fn allows(&self, request: &civitas_storage::AccessRequest<'_>) -> bool {
        Authorizer::allows(
            self,
            request.principal,
            request.tenant,
            request.line,
            request.action,
        )
    }
}
