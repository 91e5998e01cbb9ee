//! Bindings: which module version serves a service at a tenant.

use chrono::{DateTime, Utc};
use civitas_audit::NewEvent;
use civitas_storage::{StorageError, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use serde::Serialize;
use sqlx::Row;

use crate::{Conn, RegistryError, from_micros, now_micros};

/// A module version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct ModuleRef {
    /// The module's name.
    pub module: String,
    /// Its version.
    pub version: String,
}

impl std::fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.module, self.version)
    }
}

/// The binding of a service at a tenant (or the service's default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binding {
    /// The tenant, `None` for the service's default.
    pub tenant: Option<String>,
    /// The service.
    pub service: String,
    /// The version serving every case not in the rollout (none: such cases
    /// resolve as if this binding did not exist).
    pub stable: Option<ModuleRef>,
    /// The version being rolled out.
    pub candidate: Option<ModuleRef>,
    /// The percentage of cases the candidate serves (0 without one).
    pub rollout_percent: u8,
    /// Bumped by every change.
    pub revision: i64,
    /// Who made the last change.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

/// One past state of a binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BindingChange {
    /// The revision this change produced.
    pub revision: i64,
    /// `bind`, `rollout`, `rollback` or `unbind`.
    pub change: String,
    /// The stable version after the change.
    pub stable: Option<ModuleRef>,
    /// The candidate after the change.
    pub candidate: Option<ModuleRef>,
    /// Its percentage.
    pub rollout_percent: u8,
    /// Who.
    pub changed_by: String,
    /// When.
    pub changed_at: DateTime<Utc>,
    /// The what-if report the change was decided on, if it names one.
    pub what_if_report: Option<String>,
}

/// Which version serves one evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolution {
    /// The version.
    pub module: ModuleRef,
    /// The tenant whose binding chose it, `None` for the service's default.
    pub binding_tenant: Option<String>,
    /// Whether the case fell in that binding's rollout.
    pub candidate: bool,
}

/// The rollout bucket (0–99) of a case for a service: the first four bytes
/// of SM3(`service` \n `case_id`), big-endian, modulo 100. A case always lands
/// in the same bucket, so it always sees the same version; a 30 % rollout
/// serves buckets 0–29.
pub fn rollout_bucket(service: &str, case_id: &str) -> u8 {
    let digest = civitas_crypto::sm3::digest(format!("{service}\n{case_id}").as_bytes());
    let word = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    u8::try_from(word % 100).unwrap_or(0)
}

fn key(tenant: Option<&TenantPath>) -> String {
    tenant.map(|t| t.as_str().to_owned()).unwrap_or_default()
}

fn module_ref(module: Option<String>, version: Option<String>) -> Option<ModuleRef> {
    Some(ModuleRef {
        module: module?,
        version: version?,
    })
}

const COLUMNS: &str = "tenant_path, service, module, version, candidate_module, candidate_version, \
     rollout_percent, revision, updated_by, updated_at";

macro_rules! binding_from_row {
    ($r:expr) => {{
        let r = $r;
        let tenant: String = r.try_get("tenant_path")?;
        let percent: i32 = r.try_get("rollout_percent")?;
        Ok::<Binding, sqlx::Error>(Binding {
            tenant: (!tenant.is_empty()).then_some(tenant),
            service: r.try_get("service")?,
            stable: module_ref(r.try_get("module")?, r.try_get("version")?),
            candidate: module_ref(
                r.try_get("candidate_module")?,
                r.try_get("candidate_version")?,
            ),
            rollout_percent: u8::try_from(percent).unwrap_or(0),
            revision: r.try_get("revision")?,
            updated_by: r.try_get("updated_by")?,
            updated_at: from_micros(r.try_get("updated_at")?),
        })
    }};
}

/// The bindings at `tenants` (`None` = the default) for `service`.
async fn rows(
    tx: &mut impl crate::Conn,
    service: &str,
    tenants: &[String],
) -> Result<Vec<Binding>, RegistryError> {
    let placeholders: Vec<String> = (0..tenants.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM bindings WHERE service = $1 AND tenant_path IN ({})",
        placeholders.join(", ")
    );
    let found = with_connection!(tx.conn(), c => {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(service.to_owned());
        for tenant in tenants {
            query = query.bind(tenant.clone());
        }
        query
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(|r| binding_from_row!(r))
            .collect::<Result<Vec<_>, _>>()?
    });
    Ok(found)
}

/// The bindings of the transaction's subtree (and every service default),
/// for one service or all.
pub async fn bindings(
    tx: &mut TenantTx,
    service: Option<&str>,
) -> Result<Vec<Binding>, RegistryError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper);
    let sql = format!(
        "SELECT {COLUMNS} FROM bindings WHERE ($1 = '' OR service = $1) \
         AND (tenant_path = '' OR (tenant_path >= $2 AND tenant_path < $3)) ORDER BY service, tenant_path"
    );
    let service = service.unwrap_or_default().to_owned();
    let found = with_connection!(tx.conn(), c => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(service)
            .bind(lower)
            .bind(upper)
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(|r| binding_from_row!(r))
            .collect::<Result<Vec<_>, _>>()?
    });
    Ok(found)
}

/// The history of one binding, newest first.
pub async fn binding_history(
    tx: &mut impl crate::Conn,
    tenant: Option<&TenantPath>,
    service: &str,
) -> Result<Vec<BindingChange>, RegistryError> {
    let history = with_connection!(tx.conn(), c => {
        sqlx::query(
            "SELECT revision, change, module, version, candidate_module, candidate_version, rollout_percent, \
             changed_by, changed_at, what_if_report FROM binding_history WHERE tenant_path = $1 AND service = $2 \
             ORDER BY revision DESC",
        )
        .bind(key(tenant))
        .bind(service.to_owned())
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| -> Result<BindingChange, sqlx::Error> {
            let percent: i32 = r.try_get("rollout_percent")?;
            Ok(BindingChange {
                revision: r.try_get("revision")?,
                change: r.try_get("change")?,
                stable: module_ref(r.try_get("module")?, r.try_get("version")?),
                candidate: module_ref(r.try_get("candidate_module")?, r.try_get("candidate_version")?),
                rollout_percent: u8::try_from(percent).unwrap_or(0),
                changed_by: r.try_get("changed_by")?,
                changed_at: from_micros(r.try_get("changed_at")?),
                what_if_report: r.try_get("what_if_report")?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?
    });
    Ok(history)
}

/// Which version serves `service` for a case at `tenant`: the most specific
/// binding on the path from `tenant` up to its root, else the service's
/// default. A binding's candidate serves the case when its rollout bucket
/// is below the percentage; a binding with only a candidate passes other
/// cases up the path.
pub async fn resolve(
    tx: &mut impl crate::Conn,
    tenant: &TenantPath,
    service: &str,
    case_id: Option<&str>,
) -> Result<Resolution, RegistryError> {
    let mut path: Vec<String> = tenant
        .lineage()
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    path.push(String::new());
    let mut found = rows(tx, service, &path).await?;
    // Most specific first: longer paths are deeper; the default ('') last.
    found.sort_by_key(|binding| std::cmp::Reverse(binding.tenant.as_ref().map_or(0, String::len)));
    let bucket = case_id.map(|case| rollout_bucket(service, case));
    for binding in found {
        if let (Some(candidate), Some(bucket)) = (&binding.candidate, bucket)
            && bucket < binding.rollout_percent
        {
            return Ok(Resolution {
                module: candidate.clone(),
                binding_tenant: binding.tenant,
                candidate: true,
            });
        }
        if let Some(stable) = binding.stable {
            return Ok(Resolution {
                module: stable,
                binding_tenant: binding.tenant,
                candidate: false,
            });
        }
    }
    Err(RegistryError::NotBound {
        service: service.to_owned(),
        tenant: tenant.as_str().to_owned(),
    })
}

/// The current binding of `service` at `tenant`.
async fn current(
    tx: &mut impl crate::Conn,
    tenant: Option<&TenantPath>,
    service: &str,
) -> Result<Option<Binding>, RegistryError> {
    Ok(rows(tx, service, &[key(tenant)]).await?.pop())
}

async fn last_revision(
    tx: &mut impl crate::Conn,
    tenant: Option<&TenantPath>,
    service: &str,
) -> Result<i64, RegistryError> {
    let revision: Option<i64> = with_connection!(tx.conn(), c => {
        sqlx::query_scalar("SELECT MAX(revision) FROM binding_history WHERE tenant_path = $1 AND service = $2")
            .bind(key(tenant))
            .bind(service.to_owned())
            .fetch_one(&mut *c)
            .await?
    });
    Ok(revision.unwrap_or(0))
}

fn check_scope(tx: &TenantTx, tenant: Option<&TenantPath>) -> Result<(), RegistryError> {
    match tenant {
        Some(tenant) if !tx.scope().covers(tenant) => {
            Err(RegistryError::Storage(StorageError::OutOfScope {
                scope: tx.scope().path().clone(),
                path: tenant.clone(),
            }))
        }
        _ => Ok(()),
    }
}

/// Writes a binding state (or removes the row when it names nothing), its
/// history entry and the audit record, in the transaction.
#[allow(clippy::too_many_arguments)]
async fn write(
    tx: &mut TenantTx,
    tenant: Option<&TenantPath>,
    service: &str,
    stable: Option<&ModuleRef>,
    candidate: Option<&ModuleRef>,
    percent: u8,
    change: &str,
    what_if: Option<&str>,
    actor: &str,
) -> Result<Option<Binding>, RegistryError> {
    let revision = last_revision(tx, tenant, service).await? + 1;
    let now = now_micros();
    let tenant_key = key(tenant);
    let (module, version) = (
        stable.map(|m| m.module.clone()),
        stable.map(|m| m.version.clone()),
    );
    let (candidate_module, candidate_version) = (
        candidate.map(|m| m.module.clone()),
        candidate.map(|m| m.version.clone()),
    );
    let percent_column = i32::from(percent);
    with_connection!(tx.conn(), c => {
        if stable.is_none() && candidate.is_none() {
            sqlx::query("DELETE FROM bindings WHERE tenant_path = $1 AND service = $2")
                .bind(tenant_key.clone())
                .bind(service.to_owned())
                .execute(&mut *c)
                .await?;
        } else {
            sqlx::query(
                "INSERT INTO bindings (tenant_path, service, module, version, candidate_module, candidate_version, \
                 rollout_percent, revision, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (tenant_path, service) DO UPDATE SET module = excluded.module, version = excluded.version, \
                 candidate_module = excluded.candidate_module, candidate_version = excluded.candidate_version, \
                 rollout_percent = excluded.rollout_percent, revision = excluded.revision, \
                 updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            )
            .bind(tenant_key.clone())
            .bind(service.to_owned())
            .bind(module.clone())
            .bind(version.clone())
            .bind(candidate_module.clone())
            .bind(candidate_version.clone())
            .bind(percent_column)
            .bind(revision)
            .bind(actor.to_owned())
            .bind(now)
            .execute(&mut *c)
            .await?;
        }
        // The primary key (tenant, service, revision) makes a concurrent
        // change of the same binding fail here instead of interleaving.
        let inserted = sqlx::query(
            "INSERT INTO binding_history (tenant_path, service, revision, module, version, candidate_module, \
             candidate_version, rollout_percent, change, changed_by, changed_at, what_if_report) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(tenant_key.clone())
        .bind(service.to_owned())
        .bind(revision)
        .bind(module)
        .bind(version)
        .bind(candidate_module)
        .bind(candidate_version)
        .bind(percent_column)
        .bind(change.to_owned())
        .bind(actor.to_owned())
        .bind(now)
        .bind(what_if.map(str::to_owned))
        .execute(&mut *c)
        .await;
        match inserted {
            Err(error) if error.as_database_error().is_some_and(|e| e.is_unique_violation()) => {
                return Err(RegistryError::Conflict);
            }
            other => other?,
        };
    });
    let audit_tenant = tenant.cloned().unwrap_or_else(|| tx.scope().path().clone());
    civitas_audit::record(
        tx,
        &audit_tenant,
        &NewEvent {
            actor: actor.to_owned(),
            action: "module.bind".to_owned(),
            target: format!(
                "binding:{}:{service}",
                if tenant_key.is_empty() {
                    "default"
                } else {
                    &tenant_key
                }
            ),
            detail: serde_json::json!({
                "change": change, "revision": revision,
                "stable": stable.map(ToString::to_string),
                "candidate": candidate.map(ToString::to_string),
                "rollout_percent": percent,
                "what_if_report": what_if,
            }),
        },
    )
    .await?;
    current(tx, tenant, service).await
}

/// Binds `module` to `service` at `tenant` (`None`: the service's default).
/// Without `rollout_percent` (or with 100) it becomes the stable version
/// and any rollout ends; with 1–99 it becomes the candidate for that share
/// of cases and the stable version stays. The caller has checked that the
/// module exists, implements the service, is not yanked and passes
/// conformance. `what_if` names the what-if report the change was decided
/// on (the caller has checked it is one run for this candidate and service
/// here): kept in the history and the audit record. Audited as
/// `module.bind`.
pub async fn bind(
    tx: &mut TenantTx,
    tenant: Option<&TenantPath>,
    service: &str,
    module: &ModuleRef,
    rollout_percent: Option<u8>,
    what_if: Option<&str>,
    actor: &str,
) -> Result<Binding, RegistryError> {
    check_scope(tx, tenant)?;
    let existing = current(tx, tenant, service).await?;
    let written = match rollout_percent {
        None | Some(100) => {
            write(
                tx,
                tenant,
                service,
                Some(module),
                None,
                0,
                "bind",
                what_if,
                actor,
            )
            .await?
        }
        Some(percent @ 1..=99) => {
            let stable = existing.as_ref().and_then(|b| b.stable.clone());
            if stable.as_ref() == Some(module) {
                return Err(RegistryError::Invalid(format!(
                    "{module} 已是稳定版本 / is already the stable version here"
                )));
            }
            write(
                tx,
                tenant,
                service,
                stable.as_ref(),
                Some(module),
                percent,
                "rollout",
                what_if,
                actor,
            )
            .await?
        }
        Some(other) => {
            return Err(RegistryError::Invalid(format!(
                "rollout_percent 须在 1 到 100 之间 / must be 1–100, not {other}; to withdraw a rollout, roll back"
            )));
        }
    };
    written.ok_or_else(|| RegistryError::Invalid("binding vanished".into()))
}

/// Restores the binding's state before its latest change (an undo; rolling
/// back twice re-applies the change). Audited as `module.bind` with change
/// `rollback`. Returns the binding afterwards (`None` when that state is
/// "not bound here").
pub async fn rollback(
    tx: &mut TenantTx,
    tenant: Option<&TenantPath>,
    service: &str,
    actor: &str,
) -> Result<Option<Binding>, RegistryError> {
    check_scope(tx, tenant)?;
    let (stable, candidate, percent) = rollback_target(tx, tenant, service).await?;
    // A version yanked since it was bound is not brought back.
    for version in stable.iter().chain(candidate.iter()) {
        let record = crate::module(tx, &version.module, &version.version)
            .await?
            .ok_or_else(|| RegistryError::UnknownModule(version.to_string()))?;
        if record.yanked_at.is_some() {
            return Err(RegistryError::Yanked(version.to_string()));
        }
    }
    write(
        tx,
        tenant,
        service,
        stable.as_ref(),
        candidate.as_ref(),
        percent,
        "rollback",
        None,
        actor,
    )
    .await
}

/// The state a rollback would restore — (stable, candidate, rollout
/// percentage) before the binding's latest change — so the caller can check
/// those versions (conformance with today's settings) first.
pub async fn rollback_target(
    tx: &mut impl Conn,
    tenant: Option<&TenantPath>,
    service: &str,
) -> Result<(Option<ModuleRef>, Option<ModuleRef>, u8), RegistryError> {
    let history = binding_history(tx, tenant, service).await?;
    let Some(latest) = history.first() else {
        return Err(RegistryError::NothingToRollBack);
    };
    let before = history
        .iter()
        .find(|change| change.revision == latest.revision - 1);
    match before {
        Some(state) => Ok((
            state.stable.clone(),
            state.candidate.clone(),
            state.rollout_percent,
        )),
        None if latest.revision == 1 => Ok((None, None, 0)),
        None => Err(RegistryError::NothingToRollBack),
    }
}

/// Removes the binding at `tenant` (cases there then resolve further up).
pub async fn unbind(
    tx: &mut TenantTx,
    tenant: Option<&TenantPath>,
    service: &str,
    actor: &str,
) -> Result<(), RegistryError> {
    check_scope(tx, tenant)?;
    if current(tx, tenant, service).await?.is_none() {
        return Err(RegistryError::NotBound {
            service: service.to_owned(),
            tenant: key(tenant),
        });
    }
    write(tx, tenant, service, None, None, 0, "unbind", None, actor).await?;
    Ok(())
}

/// Every version some binding names (stable or candidate), platform-wide.
pub(crate) async fn bound_versions(
    tx: &mut impl crate::Conn,
) -> Result<Vec<ModuleRef>, RegistryError> {
    let pairs: Vec<(Option<String>, Option<String>)> = with_connection!(tx.conn(), c => {
        sqlx::query_as(
            "SELECT module, version FROM bindings UNION SELECT candidate_module, candidate_version FROM bindings",
        )
        .fetch_all(&mut *c)
        .await?
    });
    let mut refs: Vec<ModuleRef> = pairs
        .into_iter()
        .filter_map(|(module, version)| module_ref(module, version))
        .collect();
    refs.sort_by(|a, b| (&a.module, &a.version).cmp(&(&b.module, &b.version)));
    refs.dedup();
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_always_lands_in_the_same_bucket_and_buckets_spread() {
        assert_eq!(rollout_bucket("s", "case-1"), rollout_bucket("s", "case-1"));
        let buckets: Vec<u8> = (0..1000)
            .map(|i| rollout_bucket("s", &format!("case-{i}")))
            .collect();
        assert!(buckets.iter().all(|b| *b < 100));
        let below_30 = buckets.iter().filter(|b| **b < 30).count();
        assert!(
            (220..=380).contains(&below_30),
            "{below_30} of 1000 in a 30 % rollout"
        );
    }
}
