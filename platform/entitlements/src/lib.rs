//! 免申即享 — entitlements granted without an application (seed 002
//! L370–383: 养老服务补贴; L740–747: the severely disabled's care subsidy;
//! L993: the street receives and confirms).
//!
//! A resident's **population record** ([`PopulationRecord`]: the date of
//! birth the identity number encodes, the household registration, the
//! disability grade, alive or not) is what entitlement rules read. When it
//! is recorded or changes ([`record_population`]), [`evaluate_resident`]
//! asks the module bound at the resident's place for every flow marked
//! `entitlement = true`; an eligible resident gets a case (origin
//! `entitlement`) on that flow, whose submit hook decides again and keeps
//! the decision in the case's history, and which waits only for the
//! street's confirmation. An entitlement is claimed in `entitlements`
//! before its case is filed, so no change files it twice.

use std::sync::Arc;

use chrono::NaiveDate;
use civitas_registry::{EvaluationRequest, Runtime};
use civitas_storage::{Database, TenantScope, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use civitas_workflow::{NewCase, Origin, Who, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Where a resident's household is registered (户籍).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Household {
    /// 本市户籍.
    Local,
    /// 外省市户籍.
    NonLocal,
}

impl Household {
    fn as_str(self) -> &'static str {
        match self {
            Household::Local => "local",
            Household::NonLocal => "non-local",
        }
    }

    fn parse(text: &str) -> Option<Household> {
        match text {
            "local" => Some(Household::Local),
            "non-local" => Some(Household::NonLocal),
            _ => None,
        }
    }
}

/// A resident's population record (人口信息).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PopulationRecord {
    /// 出生日期, from the identity number.
    #[schema(value_type = String, format = Date)]
    pub birth_date: NaiveDate,
    /// 户籍.
    pub household: Household,
    /// 残疾等级: 0 none, 1 (most severe) to 4.
    pub disability_grade: u8,
    /// 已死亡.
    pub deceased: bool,
}

/// What one entitlement flow's rule said for a resident.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Entitlement {
    /// The service.
    pub service: String,
    /// Whether the resident is entitled (none when a case was filed before
    /// and the rule was not asked again).
    pub eligible: Option<bool>,
    /// The module's answer (none when not asked).
    #[schema(value_type = Option<Object>)]
    pub decision: Option<Value>,
    /// `module@version` that answered.
    pub module: Option<String>,
    /// The entitlement's case: filed now, or before.
    pub case_id: Option<String>,
    /// Whether the case was filed before this change.
    pub filed_before: bool,
}

/// Why a population record could not be kept or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EntitlementError {
    /// No such resident in the scope.
    #[error("居民档案不存在 / no such resident: {0}")]
    NotFound(String),
    /// A value out of range.
    #[error("{0}")]
    Invalid(String),
    /// The module runtime failed.
    #[error(transparent)]
    Registry(#[from] civitas_registry::RegistryError),
    /// The workflow failed.
    #[error(transparent)]
    Workflow(#[from] civitas_workflow::WorkflowError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] civitas_storage::StorageError),
    /// Audit failed.
    #[error(transparent)]
    Audit(#[from] civitas_audit::AuditError),
}

impl From<sqlx::Error> for EntitlementError {
    fn from(e: sqlx::Error) -> EntitlementError {
        EntitlementError::Storage(civitas_storage::StorageError::Database(e))
    }
}

impl EntitlementError {
    /// The HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        match self {
            EntitlementError::NotFound(_) => 404,
            EntitlementError::Invalid(_) => 422,
            EntitlementError::Registry(e) => e.status(),
            EntitlementError::Workflow(e) => e.status(),
            EntitlementError::Storage(e) if e.is_unavailable() => 503,
            EntitlementError::Storage(_) | EntitlementError::Audit(_) => 500,
        }
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            EntitlementError::NotFound(_) => "resident_not_found",
            EntitlementError::Invalid(_) => "invalid_population_record",
            EntitlementError::Registry(e) => e.code(),
            EntitlementError::Workflow(e) => e.code(),
            EntitlementError::Storage(e) if e.is_unavailable() => "database_unavailable",
            EntitlementError::Storage(_) | EntitlementError::Audit(_) => "internal",
        }
    }
}

/// Keeps `record` as the population record of `resident_id` (registered
/// at `tenant`, inside `scope`), replacing the one before, with the audit
/// record `population.update` (which names the resident, not the data).
pub async fn record_population(
    tx: &mut TenantTx,
    tenant: &TenantPath,
    resident_id: &str,
    record: &PopulationRecord,
    who: &str,
    now_micros: i64,
) -> Result<(), EntitlementError> {
    if record.disability_grade > 4 {
        return Err(EntitlementError::Invalid(
            "残疾等级为 0–4 / disability_grade is 0–4".into(),
        ));
    }
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO population_records (resident_id, tenant_path, birth_date, household, disability_grade, deceased, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (resident_id) DO UPDATE SET \
             birth_date = excluded.birth_date, household = excluded.household, \
             disability_grade = excluded.disability_grade, deceased = excluded.deceased, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(resident_id.to_owned())
        .bind(tenant.as_str().to_owned())
        .bind(record.birth_date.to_string())
        .bind(record.household.as_str())
        .bind(i64::from(record.disability_grade))
        .bind(record.deceased)
        .bind(who.to_owned())
        .bind(now_micros)
        .execute(&mut *c)
        .await?;
    });
    civitas_audit::record(
        tx,
        tenant,
        &civitas_audit::NewEvent {
            actor: who.to_owned(),
            action: "population.update".into(),
            target: format!("resident:{resident_id}"),
            detail: json!({}),
        },
    )
    .await?;
    Ok(())
}

/// The population record of `resident_id` in `tx`'s subtree, with the
/// tenant it is kept at. Stored data that does not parse is an error.
pub async fn population(
    tx: &mut TenantTx,
    resident_id: &str,
) -> Result<Option<(TenantPath, PopulationRecord)>, EntitlementError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper.to_owned());
    let row: Option<(String, String, String, i64, bool)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT tenant_path, birth_date, household, disability_grade, deceased FROM population_records \
             WHERE resident_id = $1 AND tenant_path >= $2 AND tenant_path < $3",
        )
        .bind(resident_id.to_owned())
        .bind(lower.clone())
        .bind(upper.clone())
        .fetch_optional(&mut *c)
        .await?
    });
    let Some((tenant, birth_date, household, grade, deceased)) = row else {
        return Ok(None);
    };
    let corrupt = |what: &str| {
        EntitlementError::Storage(civitas_storage::StorageError::Corrupt(format!(
            "population record {resident_id}: {what}"
        )))
    };
    Ok(Some((
        TenantPath::parse(&tenant).map_err(|_| corrupt("tenant"))?,
        PopulationRecord {
            birth_date: NaiveDate::parse_from_str(&birth_date, "%Y-%m-%d")
                .map_err(|_| corrupt("birth_date"))?,
            household: Household::parse(&household).ok_or_else(|| corrupt("household"))?,
            disability_grade: u8::try_from(grade)
                .ok()
                .filter(|g| *g <= 4)
                .ok_or_else(|| corrupt("disability_grade"))?,
            deceased,
        },
    )))
}

/// The case already filed (or claimed) for `service` and `resident_id`:
/// `Some(None)` claimed without a case yet.
async fn claimed(
    tx: &mut TenantTx,
    service: &str,
    resident_id: &str,
) -> Result<Option<Option<String>>, EntitlementError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper.to_owned());
    let row: Option<(Option<String>,)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT case_id FROM entitlements \
             WHERE service = $1 AND resident_id = $2 AND tenant_path >= $3 AND tenant_path < $4",
        )
        .bind(service.to_owned())
        .bind(resident_id.to_owned())
        .bind(lower.clone())
        .bind(upper.clone())
        .fetch_optional(&mut *c)
        .await?
    });
    Ok(row.map(|(case,)| case))
}

/// The module's input for a population record (the entitlement services'
/// input schema).
fn input(resident_id: &str, record: &PopulationRecord) -> Value {
    json!({
        "resident_id": resident_id,
        "birth_date": record.birth_date.to_string(),
        "household": record.household.as_str(),
        "disability_grade": record.disability_grade,
        "deceased": record.deceased,
        "receiving": false,
    })
}

/// Asks every entitlement flow's module, at the resident's place, whether
/// `resident_id`'s population record entitles them, and files a case (by
/// `who`, origin `entitlement`) for each that does and has none yet. A
/// resident with an entitlement case is not asked again for that service.
pub async fn evaluate_resident(
    db: &Database,
    scope: &TenantScope,
    workflow: &Workflow,
    runtime: &Runtime,
    who: &Who,
    resident_id: &str,
) -> Result<Vec<Entitlement>, EntitlementError> {
    let mut tx = db.begin_read(scope).await?;
    let (tenant, record) = population(&mut tx, resident_id)
        .await?
        .ok_or_else(|| EntitlementError::NotFound(resident_id.to_owned()))?;
    let tree = workflow.tree();
    let lines = tree
        .get(&tenant)
        .map(|t| t.lines.clone())
        .unwrap_or_default();
    let mut services: Vec<String> = workflow
        .flows()
        .flows()
        .into_iter()
        .filter(|f| f.entitlement && lines.contains(&f.line))
        .map(|f| f.service.clone())
        .collect();
    services.sort();
    services.dedup();
    let today = workflow.clock().today_in_china();
    let host_today = civitas_host::Date::parse(&today.to_string())
        .ok_or_else(|| EntitlementError::Invalid(format!("bad date {today}")))?;
    let document = input(resident_id, &record);
    let mut asked = Vec::new();
    let mut outcomes = Vec::new();
    for service in services {
        // The flow at this place must be an entitlement too (a variant may not be).
        if !workflow
            .flows()
            .resolve(&service, &tenant)
            .is_some_and(|f| f.entitlement)
        {
            continue;
        }
        if let Some(case_id) = claimed(&mut tx, &service, resident_id).await? {
            if case_id.is_some() {
                outcomes.push(Entitlement {
                    service,
                    eligible: None,
                    decision: None,
                    module: None,
                    case_id,
                    filed_before: true,
                });
                continue;
            }
        }
        let prepared = runtime.prepare(&mut tx, &tenant, &service, None).await?;
        asked.push((service, prepared));
    }
    tx.rollback().await?;
    for (service, prepared) in asked {
        let outcome = runtime
            .run(
                &prepared,
                EvaluationRequest {
                    input: &document,
                    settings: Arc::new(tree.effective_settings(&tenant)),
                    today: host_today,
                    log_tags: vec![("resident".into(), resident_id.to_owned())],
                },
            )
            .await?;
        let eligible = outcome.output.get("eligible") == Some(&Value::Bool(true));
        let mut entitlement = Entitlement {
            service: service.clone(),
            eligible: Some(eligible),
            decision: Some(outcome.output.clone()),
            module: Some(format!("{}@{}", outcome.module, outcome.version)),
            case_id: None,
            filed_before: false,
        };
        if eligible {
            entitlement.case_id = Some(
                file(
                    db,
                    scope,
                    workflow,
                    who,
                    &tenant,
                    &service,
                    resident_id,
                    &document,
                )
                .await?,
            );
        }
        outcomes.push(entitlement);
    }
    Ok(outcomes)
}

/// Claims the entitlement, files its case and writes the case to the
/// claim.
#[allow(clippy::too_many_arguments)]
async fn file(
    db: &Database,
    scope: &TenantScope,
    workflow: &Workflow,
    who: &Who,
    tenant: &TenantPath,
    service: &str,
    resident_id: &str,
    document: &Value,
) -> Result<String, EntitlementError> {
    let now = workflow.clock().now_micros();
    let mut tx = db.begin(scope).await?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO entitlements (service, resident_id, tenant_path, case_id, claimed_at) \
             VALUES ($1, $2, $3, NULL, $4) ON CONFLICT (service, resident_id) DO NOTHING",
        )
        .bind(service.to_owned())
        .bind(resident_id.to_owned())
        .bind(tenant.as_str().to_owned())
        .bind(now)
        .execute(&mut *c)
        .await?;
    });
    tx.commit().await?;
    let case = workflow
        .create(
            db,
            scope,
            tenant,
            who,
            None,
            NewCase {
                service: service.to_owned(),
                title: None,
                data: document.clone(),
                origin: Origin::Entitlement,
            },
        )
        .await?;
    let mut tx = db.begin(scope).await?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "UPDATE entitlements SET case_id = $1 WHERE service = $2 AND resident_id = $3 AND case_id IS NULL",
        )
        .bind(case.id.clone())
        .bind(service.to_owned())
        .bind(resident_id.to_owned())
        .execute(&mut *c)
        .await?;
    });
    tx.commit().await?;
    Ok(case.id)
}
