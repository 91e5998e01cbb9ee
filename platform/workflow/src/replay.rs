//! Replaying the module decisions recorded in a case's history
//! (`civitas audit replay CASE`, issue 20).
//!
//! Every hook's decision is stored whole in `case_evaluations` (input,
//! settings, date, answer) and named in the audit record of the action that
//! made it by id, module version and the SM3 digests of input, settings and
//! answer. The audit chain is what replay trusts: it checks the stored
//! decision against those digests (a changed input, settings or answer is
//! named), then runs the same module version again, on a fresh instance,
//! with the stored input, settings and date, and compares its answer with
//! the recorded digest. Modules are deterministic (conformance checks it),
//! so an honest record replays identically.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use civitas_storage::{Database, TenantScope, with_connection};
use serde::Serialize;
use serde_json::Value;

use crate::decisions::{self, Stored};
use crate::model::Viewer;
use crate::{Workflow, WorkflowError};

/// The decisions of one case, replayed, in the order they were made.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    /// The case.
    pub case_id: String,
    /// Each decision.
    pub decisions: Vec<Replayed>,
}

impl Replay {
    /// Whether every decision replayed identically from an intact record.
    pub fn identical(&self) -> bool {
        self.decisions.iter().all(|d| d.findings.is_empty())
    }
}

/// One recorded decision, replayed.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    /// The stored decision's id.
    pub id: String,
    /// The hook that asked.
    pub hook: String,
    /// The module.
    pub module: String,
    /// Its version.
    pub version: String,
    /// The audit record that names it: its action …
    pub audit_action: String,
    /// … and when it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// What differs; empty when identical.
    pub findings: Vec<Finding>,
}

/// What differs between a recorded decision and its replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// The stored decision is gone.
    Missing,
    /// The stored decision names another module or version than the audit
    /// record.
    ModuleAltered {
        /// `module@version` as stored.
        stored: String,
    },
    /// The stored input is not the one the audit record's digest names.
    InputAltered {
        /// The recorded digest.
        recorded_sm3: String,
        /// The stored input's.
        stored_sm3: String,
    },
    /// The stored settings are not those the module was given.
    SettingsAltered {
        /// The recorded digest.
        recorded_sm3: String,
        /// The stored settings'.
        stored_sm3: String,
    },
    /// The stored answer is not the one recorded.
    OutputAltered {
        /// The recorded digest.
        recorded_sm3: String,
        /// The stored answer's.
        stored_sm3: String,
    },
    /// The module version could not be loaded (yanked, key revoked, gone).
    ModuleUnavailable {
        /// Why.
        error: String,
    },
    /// The module refused or failed on the stored input.
    Failed {
        /// Its error.
        error: String,
    },
    /// The module answers differently now.
    AnswerDiffers {
        /// The top-level fields whose value differs from the stored answer.
        fields: Vec<String>,
    },
}

/// A decision as the audit record names it.
struct Audited {
    id: String,
    hook: String,
    module: String,
    version: String,
    input_sm3: String,
    settings_sm3: String,
    output_sm3: String,
    action: String,
    recorded_at: DateTime<Utc>,
}

/// The most audit records of one case replay reads (a case's actions are
/// tens, not thousands).
const MAX_RECORDS: usize = civitas_audit::MAX_PAGE;

impl Workflow {
    /// Replays every module decision recorded in the audit records of case
    /// `id`, read in `scope` (which must cover the case and the tenants
    /// whose chains hold its records: a root, for an operator's replay).
    pub async fn replay(
        &self,
        db: &Database,
        scope: &TenantScope,
        id: &str,
    ) -> Result<Replay, WorkflowError> {
        let runtime = self
            .modules
            .as_ref()
            .ok_or(WorkflowError::ModulesUnavailable)?
            .clone();
        let mut tx = db.begin_read(scope).await?;
        // An operator's replay reads the case whatever its line.
        let case = self.get(&mut tx, &Viewer::EveryLine, id).await?;
        let flow = self.flow_of(&case)?.clone();
        let mut records = civitas_audit::search(
            &mut tx,
            &civitas_audit::Query {
                target: Some(case.id.clone()),
                action: Some("case.*".into()),
                limit: MAX_RECORDS,
                ..civitas_audit::Query::default()
            },
        )
        .await
        .map_err(|e| {
            WorkflowError::Invalid(format!("审计记录不可读 / audit records unreadable: {e}"))
        })?;
        records.reverse();
        let audited = records
            .iter()
            .flat_map(audited)
            .collect::<Result<Vec<_>, _>>()?;
        let mut decisions = Vec::with_capacity(audited.len());
        for a in audited {
            let stored = stored(&mut tx, &case.id, &a.id).await?;
            let findings = match stored {
                None => vec![Finding::Missing],
                Some(stored) => {
                    let service = flow
                        .hooks
                        .iter()
                        .find(|h| h.name == a.hook)
                        .map_or(case.service.as_str(), |h| h.service.as_str());
                    self.check(&runtime, &mut tx, &case.tenant_path, &a, &stored, service)
                        .await?
                }
            };
            decisions.push(Replayed {
                id: a.id,
                hook: a.hook,
                module: a.module,
                version: a.version,
                audit_action: a.action,
                recorded_at: a.recorded_at,
                findings,
            });
        }
        tx.rollback().await?;
        Ok(Replay {
            case_id: case.id,
            decisions,
        })
    }

    /// The findings of one decision: the stored record against the audited
    /// digests, then the module run again.
    async fn check(
        &self,
        runtime: &Arc<civitas_registry::Runtime>,
        tx: &mut civitas_storage::TenantTx,
        tenant: &civitas_tenancy::TenantPath,
        audited: &Audited,
        stored: &Stored,
        service: &str,
    ) -> Result<Vec<Finding>, WorkflowError> {
        let mut findings = Vec::new();
        if (stored.module.as_str(), stored.version.as_str())
            != (audited.module.as_str(), audited.version.as_str())
        {
            findings.push(Finding::ModuleAltered {
                stored: format!("{}@{}", stored.module, stored.version),
            });
        }
        let parsed = stored.parse()?;
        let input_sm3 = civitas_registry::input_digest(&parsed.input);
        let settings_sm3 = civitas_registry::input_digest(&parsed.settings);
        let output_sm3 = civitas_registry::input_digest(&parsed.output);
        if audited.input_sm3 != input_sm3 {
            findings.push(Finding::InputAltered {
                recorded_sm3: audited.input_sm3.clone(),
                stored_sm3: input_sm3,
            });
        }
        if audited.settings_sm3 != settings_sm3 {
            findings.push(Finding::SettingsAltered {
                recorded_sm3: audited.settings_sm3.clone(),
                stored_sm3: settings_sm3,
            });
        }
        if audited.output_sm3 != output_sm3 {
            findings.push(Finding::OutputAltered {
                recorded_sm3: audited.output_sm3.clone(),
                stored_sm3: output_sm3,
            });
        }
        let module = civitas_registry::ModuleRef {
            module: audited.module.clone(),
            version: audited.version.clone(),
        };
        // The version the audit record names, loaded as for any call:
        // artifact verified against its SM3 digest and signature.
        let loaded = match runtime.load(tx, &module).await {
            Ok(loaded) => loaded,
            Err(e) => {
                findings.push(Finding::ModuleUnavailable {
                    error: e.to_string(),
                });
                return Ok(findings);
            }
        };
        let prepared = decisions::prepared(runtime, tenant, service, module, loaded)?;
        let answer = decisions::rerun(runtime, &prepared, &parsed, ("replay", &audited.id)).await;
        match answer {
            Err(e) => findings.push(Finding::Failed {
                error: e.to_string(),
            }),
            Ok(outcome) => {
                if civitas_registry::input_digest(&outcome.output) != audited.output_sm3 {
                    findings.push(Finding::AnswerDiffers {
                        fields: differing_fields(&parsed.output, &outcome.output),
                    });
                }
            }
        }
        Ok(findings)
    }
}

/// The decisions an audit record names (`detail.evaluations`).
fn audited(record: &civitas_audit::Event) -> Vec<Result<Audited, WorkflowError>> {
    let Some(entries) = record.detail.get("evaluations").and_then(Value::as_array) else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|e| {
            let field = |name: &str| -> Result<String, WorkflowError> {
                e.get(name)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        crate::corrupt(format!(
                            "audit record {} names a decision without {name}",
                            record.id
                        ))
                    })
            };
            Ok(Audited {
                id: field("id")?,
                hook: field("hook")?,
                module: field("module")?,
                version: field("version")?,
                input_sm3: field("input_sm3")?,
                settings_sm3: field("settings_sm3")?,
                output_sm3: field("output_sm3")?,
                action: record.action.clone(),
                recorded_at: record.occurred_at,
            })
        })
        .collect()
}

/// The stored decision `id` of case `case_id`.
async fn stored(
    tx: &mut civitas_storage::TenantTx,
    case_id: &str,
    id: &str,
) -> Result<Option<Stored>, WorkflowError> {
    let sql = format!(
        "SELECT {} FROM case_evaluations e WHERE e.case_id = $1 AND e.id = $2",
        decisions::COLUMNS
    );
    let row = with_connection!(tx.connection(), c => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(case_id.to_owned())
            .bind(id.to_owned())
            .fetch_optional(&mut *c)
            .await?
            .map(|row| Stored::from_row(&row))
            .transpose()?
    });
    Ok(row)
}

/// The top-level fields of two answers whose values differ (a field in
/// one only counts), in order.
fn differing_fields(stored: &Value, now: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        stored.as_object().unwrap_or(&empty),
        now.as_object().unwrap_or(&empty),
    );
    let mut fields: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    fields.sort();
    fields.dedup();
    fields
}

#[cfg(test)]
mod tests {
    use super::differing_fields;
    use serde_json::json;

    #[test]
    fn differing_fields_are_named_once_and_in_order() {
        let stored = json!({"eligible": true, "per_meal_fen": 600, "reasons": ["a"]});
        let now = json!({"eligible": true, "per_meal_fen": 500, "reasons": ["b"], "extra": 1});
        assert_eq!(
            differing_fields(&stored, &now),
            ["extra", "per_meal_fen", "reasons"]
        );
        assert!(differing_fields(&stored, &stored).is_empty());
    }
}
