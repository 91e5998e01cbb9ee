//! What a candidate module version would change before it is rolled out
//! (`civitas module what-if`, issue 20): the candidate runs over the
//! recorded decisions of a service's cases in a subtree — each stored input
//! with the settings and date it was decided with, so only the module
//! differs — and every answer that would differ is reported, field by
//! field, with counts per field and the cases listed.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use civitas_storage::{Database, TenantScope, with_connection};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decisions::{self, Stored};
use crate::{Workflow, WorkflowError};

/// Fields that explain an answer rather than state it: which rule spoke and
/// why. A candidate that words its reasons otherwise changes no outcome.
const EXPLANATIONS: &[&str] = &["reasons", "rule"];

/// The report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, Deserialize)]
pub struct WhatIf {
    /// The service.
    pub service: String,
    /// `name@version` of the candidate.
    pub candidate: String,
    /// Only decisions recorded on or after this day (China Standard Time).
    #[schema(value_type = Option<String>, format = Date)]
    pub since: Option<NaiveDate>,
    /// How many recorded decisions were run again.
    pub decisions: u64,
    /// Per field, how many decisions the candidate would change it in.
    pub fields: BTreeMap<String, u64>,
    /// Each decision that would change, in the order they were made.
    pub changed: Vec<Changed>,
    /// Inputs the candidate refused or failed on.
    pub failed: Vec<Failed>,
}

/// A recorded decision the candidate would answer otherwise.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, Deserialize)]
pub struct Changed {
    /// The case.
    pub case_id: String,
    /// Where it is.
    pub tenant_path: String,
    /// The hook that asked.
    pub hook: String,
    /// `module@version` that decided it.
    pub recorded: String,
    /// What would change.
    pub changes: Vec<FieldChange>,
}

/// One field of an answer, recorded and as the candidate answers.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema, Deserialize)]
pub struct FieldChange {
    /// The field.
    pub field: String,
    /// As recorded.
    #[schema(value_type = Object)]
    pub recorded: Value,
    /// As the candidate answers.
    #[schema(value_type = Object)]
    pub candidate: Value,
}

/// A recorded input the candidate could not answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, Deserialize)]
pub struct Failed {
    /// The case.
    pub case_id: String,
    /// The hook that asked.
    pub hook: String,
    /// The candidate's error.
    pub error: String,
}

impl Workflow {
    /// Runs `candidate` over the decisions recorded for `service`'s cases
    /// in `scope`'s subtree since the day `since` (China Standard Time),
    /// calling `progress(done, total)` as it
    /// goes. The candidate is loaded as for any call (verified against its
    /// digest and signature) and must implement `service`.
    pub async fn what_if(
        &self,
        db: &Database,
        scope: &TenantScope,
        service: &str,
        candidate: &civitas_registry::ModuleRef,
        since: Option<NaiveDate>,
        progress: impl Fn(u64, u64),
    ) -> Result<WhatIf, WorkflowError> {
        let runtime = self
            .modules
            .as_ref()
            .ok_or(WorkflowError::ModulesUnavailable)?
            .clone();
        // An unknown service is refused before anything is read.
        runtime.service(service)?;
        let mut tx = db.begin_read(scope).await?;
        let published = civitas_registry::module(&mut tx, &candidate.module, &candidate.version)
            .await?
            .ok_or_else(|| civitas_registry::RegistryError::UnknownModule(candidate.to_string()))?;
        if published.service != service {
            return Err(WorkflowError::Invalid(format!(
                "{candidate} 实现的是 {}，不是 {service} / {candidate} implements {}, not {service}",
                published.service, published.service
            )));
        }
        let loaded = runtime.load(&mut tx, candidate).await?;
        let rows = recorded(&mut tx, service, since.map(crate::china_midnight_micros)).await?;
        tx.rollback().await?;
        let prepared =
            decisions::prepared(&runtime, scope.path(), service, candidate.clone(), loaded)?;
        let total = rows.len() as u64;
        let mut report = WhatIf {
            service: service.to_owned(),
            candidate: candidate.to_string(),
            since,
            decisions: 0,
            fields: BTreeMap::new(),
            changed: Vec::new(),
            failed: Vec::new(),
        };
        for row in rows {
            let parsed = row.parse()?;
            let answer =
                decisions::rerun(&runtime, &prepared, &parsed, ("what-if", &row.case_id)).await;
            report.decisions += 1;
            match answer {
                Err(e) => report.failed.push(Failed {
                    case_id: row.case_id,
                    hook: row.hook,
                    error: e.to_string(),
                }),
                Ok(outcome) => {
                    let changes = changes(&parsed.output, &outcome.output);
                    if !changes.is_empty() {
                        for change in &changes {
                            *report.fields.entry(change.field.clone()).or_default() += 1;
                        }
                        report.changed.push(Changed {
                            case_id: row.case_id,
                            tenant_path: row.tenant_path,
                            hook: row.hook,
                            recorded: format!("{}@{}", row.module, row.version),
                            changes,
                        });
                    }
                }
            }
            progress(report.decisions, total);
        }
        Ok(report)
    }
}

/// A what-if report as kept (`what_if_reports`): what a rollout names.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Recorded {
    /// Its id: what a partial rollout names (`what_if_report`).
    pub id: String,
    /// The tenant whose subtree's decisions it ran over.
    pub tenant: String,
    /// SM3 of the report as kept (its JSON text), hex.
    pub report_sm3: String,
    /// The report.
    #[serde(flatten)]
    pub report: WhatIf,
}

/// Where a kept report ran and what it ran: what a binding checks before
/// naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRef {
    /// Its id.
    pub id: String,
    /// The tenant whose subtree it ran over.
    pub tenant_path: String,
    /// The service.
    pub service: String,
    /// `name@version` of the candidate.
    pub candidate: String,
}

/// Keeps `report`, run over `scope`'s subtree by `who` at `now_micros`,
/// with its audit record (`module.what_if`: service, candidate, counts and
/// the report's SM3) in one transaction.
pub async fn record(
    db: &Database,
    scope: &TenantScope,
    report: WhatIf,
    who: &str,
    now_micros: i64,
) -> Result<Recorded, WorkflowError> {
    let text = serde_json::to_string(&report)
        .map_err(|e| WorkflowError::Invalid(format!("report: {e}")))?;
    let report_sm3 = hex::encode(civitas_crypto::sm3::digest(text.as_bytes()));
    let id = uuid::Uuid::new_v4().to_string();
    let tenant = scope.path().to_string();
    let mut tx = db.begin(scope).await?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO what_if_reports (id, tenant_path, service, candidate, report, report_sm3, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.clone())
        .bind(tenant.clone())
        .bind(report.service.clone())
        .bind(report.candidate.clone())
        .bind(text.clone())
        .bind(report_sm3.clone())
        .bind(who.to_owned())
        .bind(now_micros)
        .execute(&mut *c)
        .await?;
    });
    civitas_audit::record(
        &mut tx,
        scope.path(),
        &civitas_audit::NewEvent {
            actor: who.to_owned(),
            action: "module.what_if".into(),
            target: format!("what-if:{id}"),
            detail: serde_json::json!({
                "service": report.service, "candidate": report.candidate, "since": report.since,
                "decisions": report.decisions, "changed": report.changed.len(),
                "failed": report.failed.len(), "report_sm3": report_sm3,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Recorded {
        id,
        tenant,
        report_sm3,
        report,
    })
}

/// The kept report `id` of `service` in `tx`'s subtree, read back whole:
/// its text must still have the SM3 kept with it (a report altered in the
/// database is an error, never shown as kept).
pub async fn kept_report(
    tx: &mut civitas_storage::TenantTx,
    service: &str,
    id: &str,
) -> Result<Option<Recorded>, WorkflowError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper.to_owned());
    let row: Option<(String, String, String, String)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT id, tenant_path, report, report_sm3 FROM what_if_reports \
             WHERE id = $1 AND tenant_path >= $2 AND tenant_path < $3 AND service = $4",
        )
        .bind(id.to_owned())
        .bind(lower.clone())
        .bind(upper.clone())
        .bind(service.to_owned())
        .fetch_optional(&mut *c)
        .await?
    });
    let Some((id, tenant, text, report_sm3)) = row else {
        return Ok(None);
    };
    let corrupt = |what: String| {
        WorkflowError::Storage(civitas_storage::StorageError::Corrupt(format!(
            "what-if report {id}: {what}"
        )))
    };
    if hex::encode(civitas_crypto::sm3::digest(text.as_bytes())) != report_sm3 {
        return Err(corrupt(
            "its text no longer has the SM3 kept with it".into(),
        ));
    }
    let report = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    Ok(Some(Recorded {
        id,
        tenant,
        report_sm3,
        report,
    }))
}

/// The kept report `id`, if `tx`'s subtree holds it.
pub async fn find_report(
    tx: &mut civitas_storage::TenantTx,
    id: &str,
) -> Result<Option<ReportRef>, WorkflowError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper.to_owned());
    let row: Option<(String, String, String, String)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT id, tenant_path, service, candidate FROM what_if_reports \
             WHERE id = $1 AND tenant_path >= $2 AND tenant_path < $3",
        )
        .bind(id.to_owned())
        .bind(lower.clone())
        .bind(upper.clone())
        .fetch_optional(&mut *c)
        .await?
    });
    Ok(row.map(|(id, tenant_path, service, candidate)| ReportRef {
        id,
        tenant_path,
        service,
        candidate,
    }))
}

/// The decisions recorded for `service`'s cases in `tx`'s subtree (since
/// `since_micros`), oldest first.
async fn recorded(
    tx: &mut civitas_storage::TenantTx,
    service: &str,
    since_micros: Option<i64>,
) -> Result<Vec<Stored>, WorkflowError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper);
    let sql = format!(
        "SELECT {} FROM case_evaluations e JOIN cases c ON c.id = e.case_id \
         WHERE c.service = $1 AND e.tenant_path >= $2 AND e.tenant_path < $3 \
           AND e.recorded_at >= $4 \
         ORDER BY e.recorded_at, e.id",
        decisions::COLUMNS
    );
    let rows = with_connection!(tx.connection(), c => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(service.to_owned())
            .bind(lower.clone())
            .bind(upper.clone())
            .bind(since_micros.unwrap_or(i64::MIN))
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(Stored::from_row)
            .collect::<Result<Vec<_>, _>>()?
    });
    Ok(rows)
}

/// The fields of `candidate`'s answer that differ from `recorded`'s, in
/// order, leaving out the explanations.
fn changes(recorded: &Value, candidate: &Value) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        recorded.as_object().unwrap_or(&empty),
        candidate.as_object().unwrap_or(&empty),
    );
    let mut fields: Vec<&String> = a.keys().chain(b.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| !EXPLANATIONS.contains(&f.as_str()) && a.get(*f) != b.get(*f))
        .map(|f| FieldChange {
            field: f.clone(),
            recorded: a.get(f).cloned().unwrap_or(Value::Null),
            candidate: b.get(f).cloned().unwrap_or(Value::Null),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcomes_that_differ_are_changes_and_explanations_are_not() {
        let recorded = json!({"eligible": false, "per_meal_fen": 0, "reasons": ["under_age"], "rule": "pudong"});
        let candidate =
            json!({"eligible": true, "per_meal_fen": 400, "reasons": ["general"], "rule": "city"});
        let found = changes(&recorded, &candidate);
        assert_eq!(
            found,
            [
                FieldChange {
                    field: "eligible".into(),
                    recorded: json!(false),
                    candidate: json!(true)
                },
                FieldChange {
                    field: "per_meal_fen".into(),
                    recorded: json!(0),
                    candidate: json!(400)
                },
            ]
        );
        assert!(
            changes(
                &recorded,
                &json!({"eligible": false, "per_meal_fen": 0, "reasons": []})
            )
            .is_empty()
        );
    }
}
