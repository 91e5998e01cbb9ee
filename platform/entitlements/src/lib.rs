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
    /// Whether the case was filed before this change (for this person,
    /// from any of their resident records).
    pub filed_before: bool,
    /// Why the rule could not be asked or the case filed (recording the
    /// data again, or the nightly run, tries again).
    pub error: Option<String>,
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
/// record `population.update`: it names the resident and holds the SM3 of
/// the record as kept — each change on the hash chain, no personal data in
/// the audit log.
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
    // The person behind the record: the same blind index for every
    // record of one person, so an entitlement is filed once per person.
    let person: Option<(String,)> = with_connection!(tx.connection(), c => {
        sqlx::query_as("SELECT id_number_index FROM residents WHERE id = $1 AND tenant_path = $2")
            .bind(resident_id.to_owned())
            .bind(tenant.as_str().to_owned())
            .fetch_optional(&mut *c)
            .await?
    });
    let (person,) = person.ok_or_else(|| EntitlementError::NotFound(resident_id.to_owned()))?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO population_records (resident_id, tenant_path, person, birth_date, household, disability_grade, deceased, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (resident_id) DO UPDATE SET \
             birth_date = excluded.birth_date, household = excluded.household, \
             disability_grade = excluded.disability_grade, deceased = excluded.deceased, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at \
             WHERE population_records.tenant_path = excluded.tenant_path",
        )
        .bind(resident_id.to_owned())
        .bind(tenant.as_str().to_owned())
        .bind(person.clone())
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
            detail: json!({
                "record_sm3": hex::encode(civitas_crypto::sm3::digest(
                    json!({
                        "resident_id": resident_id,
                        "birth_date": record.birth_date.to_string(),
                        "household": record.household.as_str(),
                        "disability_grade": record.disability_grade,
                        "deceased": record.deceased,
                    })
                    .to_string()
                    .as_bytes(),
                )),
            }),
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
    Ok(stored(tx, resident_id)
        .await?
        .map(|found| (found.tenant, found.record)))
}

/// A stored population record with where it is kept and whose it is.
struct Stored {
    resident_id: String,
    tenant: TenantPath,
    person: String,
    record: PopulationRecord,
}

async fn stored(tx: &mut TenantTx, resident_id: &str) -> Result<Option<Stored>, EntitlementError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper.to_owned());
    let row: Option<Row> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT resident_id, tenant_path, person, birth_date, household, disability_grade, deceased FROM population_records \
             WHERE resident_id = $1 AND tenant_path >= $2 AND tenant_path < $3",
        )
        .bind(resident_id.to_owned())
        .bind(lower.clone())
        .bind(upper.clone())
        .fetch_optional(&mut *c)
        .await?
    });
    row.map(parse_row).transpose()
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

/// The entitlement services whose flows are in `line` (every line: none).
fn entitlement_services(workflow: &Workflow, line: Option<&str>) -> Vec<String> {
    let mut services: Vec<String> = workflow
        .flows()
        .flows()
        .into_iter()
        .filter(|f| f.entitlement && line.is_none_or(|l| l == f.line))
        .map(|f| f.service.clone())
        .collect();
    services.sort();
    services.dedup();
    services
}

/// Asks every entitlement flow's module of `line` (every line: `None`), at
/// the resident's place, whether `resident_id`'s population record entitles
/// them, and files a case (by `who`, origin `entitlement`) for each that
/// does and has none yet — one per person, whichever of their resident
/// records it came from. A resident with an entitlement case is not asked
/// again. A service whose rule cannot be asked, or whose case cannot be
/// filed, says why in its answer and stops no other.
pub async fn evaluate_resident(
    db: &Database,
    scope: &TenantScope,
    workflow: &Workflow,
    runtime: &Runtime,
    who: &Who,
    resident_id: &str,
    line: Option<&str>,
) -> Result<Vec<Entitlement>, EntitlementError> {
    let mut tx = db.begin_read(scope).await?;
    let found = stored(&mut tx, resident_id)
        .await?
        .ok_or_else(|| EntitlementError::NotFound(resident_id.to_owned()))?;
    let tree = workflow.tree();
    let lines = tree
        .get(&found.tenant)
        .map(|t| t.lines.clone())
        .unwrap_or_default();
    let today = workflow.clock().today_in_china();
    let host_today = civitas_host::Date::parse(&today.to_string())
        .ok_or_else(|| EntitlementError::Invalid(format!("bad date {today}")))?;
    let document = input(resident_id, &found.record);
    let mut asked = Vec::new();
    let mut outcomes = Vec::new();
    for service in entitlement_services(workflow, line) {
        // The flow at this place must be an entitlement too (a variant may
        // not be), in a line the place has.
        if !workflow
            .flows()
            .resolve(&service, &found.tenant)
            .is_some_and(|f| f.entitlement && lines.contains(&f.line))
        {
            continue;
        }
        let mut answer = Entitlement {
            service: service.clone(),
            eligible: None,
            decision: None,
            module: None,
            case_id: None,
            filed_before: false,
            error: None,
        };
        if let Some(Some(case_id)) = claimed(&mut tx, &service, resident_id).await? {
            answer.case_id = Some(case_id);
            answer.filed_before = true;
            outcomes.push(answer);
            continue;
        }
        match runtime
            .prepare(&mut tx, &found.tenant, &service, None)
            .await
        {
            Ok(prepared) => asked.push((answer, prepared)),
            Err(error) => {
                answer.error = Some(error.to_string());
                outcomes.push(answer);
            }
        }
    }
    tx.rollback().await?;
    for (mut answer, prepared) in asked {
        let outcome = runtime
            .run(
                &prepared,
                EvaluationRequest {
                    input: &document,
                    settings: Arc::new(tree.effective_settings(&found.tenant)),
                    today: host_today,
                    log_tags: vec![("resident".into(), resident_id.to_owned())],
                },
            )
            .await;
        match outcome {
            Err(error) => answer.error = Some(error.to_string()),
            Ok(outcome) => {
                let eligible = outcome.output.get("eligible") == Some(&Value::Bool(true));
                answer.eligible = Some(eligible);
                answer.decision = Some(outcome.output.clone());
                answer.module = Some(format!("{}@{}", outcome.module, outcome.version));
                if eligible {
                    match file(db, scope, workflow, who, &found, &answer.service, &document).await {
                        Ok((case_id, before)) => {
                            answer.case_id = Some(case_id);
                            answer.filed_before = before;
                        }
                        Err(error) => answer.error = Some(error.to_string()),
                    }
                }
            }
        }
        outcomes.push(answer);
    }
    Ok(outcomes)
}

/// Claims the entitlement, files its case under the id derived from the
/// service and the person, and writes the case to the claim: the case id,
/// and whether it had been filed before (by a change at the same time, a
/// run that stopped half-way, or another resident record of the person).
async fn file(
    db: &Database,
    scope: &TenantScope,
    workflow: &Workflow,
    who: &Who,
    resident: &Stored,
    service: &str,
    document: &Value,
) -> Result<(String, bool), EntitlementError> {
    let now = workflow.clock().now_micros();
    let tenant = resident.tenant.as_str().to_owned();
    let mut tx = db.begin(scope).await?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO entitlements (service, resident_id, tenant_path, case_id, claimed_at) \
             VALUES ($1, $2, $3, NULL, $4) ON CONFLICT (service, resident_id) DO NOTHING",
        )
        .bind(service.to_owned())
        .bind(resident.resident_id.clone())
        .bind(tenant.clone())
        .bind(now)
        .execute(&mut *c)
        .await?;
    });
    tx.commit().await?;
    let case_id = civitas_workflow::derived_case_id(&[service, &resident.person]);
    let before = match workflow
        .create(
            db,
            scope,
            &resident.tenant,
            who,
            None,
            NewCase {
                id: Some(case_id.clone()),
                service: service.to_owned(),
                title: None,
                data: document.clone(),
                origin: Origin::Entitlement,
            },
        )
        .await
    {
        Ok(_) => false,
        Err(error) if error.is_duplicate() => true,
        Err(error) => return Err(error.into()),
    };
    let mut tx = db.begin(scope).await?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "UPDATE entitlements SET case_id = $1 \
             WHERE service = $2 AND resident_id = $3 AND tenant_path = $4 AND case_id IS NULL",
        )
        .bind(case_id.clone())
        .bind(service.to_owned())
        .bind(resident.resident_id.clone())
        .bind(tenant.clone())
        .execute(&mut *c)
        .await?;
    });
    tx.commit().await?;
    Ok((case_id, before))
}

/// Population records read per page of a nightly run.
pub const NIGHTLY_PAGE: usize = 10_000;

/// The most failures a nightly report lists (all are counted).
const LISTED_FAILURES: usize = 100;

/// A resident a nightly run could not evaluate or file for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NightlyFailure {
    /// The resident.
    pub resident_id: String,
    /// The service.
    pub service: String,
    /// The stable error code.
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// What a nightly run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NightlyReport {
    /// The day it evaluated as (China Standard Time).
    #[schema(value_type = String, format = Date)]
    pub today: NaiveDate,
    /// Population records read.
    pub residents: u64,
    /// Evaluations run (a resident per entitlement service without a case).
    pub evaluated: u64,
    /// Of those, how many found the resident entitled.
    pub eligible: u64,
    /// Cases filed by this run.
    pub filed: u64,
    /// Residents whose entitlement case an earlier change or run filed.
    pub filed_before: u64,
    /// Evaluations or filings that failed (the next run tries again).
    pub failed: u64,
    /// The first of them.
    pub failures: Vec<NightlyFailure>,
    /// Wall time of the module batches, microseconds.
    pub evaluation_micros: u64,
}

type Row = (String, String, String, String, String, i64, bool);

fn parse_row(row: Row) -> Result<Stored, EntitlementError> {
    let (resident_id, tenant, person, birth_date, household, grade, deceased) = row;
    let corrupt = |what: &str| {
        EntitlementError::Storage(civitas_storage::StorageError::Corrupt(format!(
            "population record {resident_id}: {what}"
        )))
    };
    let record = PopulationRecord {
        birth_date: NaiveDate::parse_from_str(&birth_date, "%Y-%m-%d")
            .map_err(|_| corrupt("birth_date"))?,
        household: Household::parse(&household).ok_or_else(|| corrupt("household"))?,
        disability_grade: u8::try_from(grade)
            .ok()
            .filter(|g| *g <= 4)
            .ok_or_else(|| corrupt("disability_grade"))?,
        deceased,
    };
    let tenant = TenantPath::parse(&tenant).map_err(|_| corrupt("tenant"))?;
    Ok(Stored {
        resident_id,
        tenant,
        person,
        record,
    })
}

/// The nightly run (免申即享): every population record of `scope`'s
/// subtree evaluated as of today by each entitlement flow's module at the
/// resident's place — one batch per place and page of [`NIGHTLY_PAGE`]
/// records — and a case filed (by `who`) for every resident newly entitled:
/// the resident who turned 80 today, the one a policy change now covers.
/// Residents with a case already are not asked again. `progress(done,
/// total)` after each page. Audited as `entitlement.run`.
pub async fn run_nightly(
    db: &Database,
    scope: &TenantScope,
    workflow: &Workflow,
    runtime: &Runtime,
    who: &Who,
    progress: impl Fn(u64, u64),
) -> Result<NightlyReport, EntitlementError> {
    let today = workflow.clock().today_in_china();
    let host_today = civitas_host::Date::parse(&today.to_string())
        .ok_or_else(|| EntitlementError::Invalid(format!("bad date {today}")))?;
    let tree = workflow.tree();
    let services = entitlement_services(workflow, None);
    let (lower, upper) = scope.path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper.to_owned());
    let mut tx = db.begin_read(scope).await?;
    let (total,): (i64,) = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT count(*) FROM population_records WHERE tenant_path >= $1 AND tenant_path < $2",
        )
        .bind(lower.clone())
        .bind(upper.clone())
        .fetch_one(&mut *c)
        .await?
    });
    let filed: std::collections::HashSet<(String, String)> = {
        let rows: Vec<(String, String)> = with_connection!(tx.connection(), c => {
            sqlx::query_as(
                "SELECT service, resident_id FROM entitlements \
                 WHERE tenant_path >= $1 AND tenant_path < $2 AND case_id IS NOT NULL",
            )
            .bind(lower.clone())
            .bind(upper.clone())
            .fetch_all(&mut *c)
            .await?
        });
        rows.into_iter().collect()
    };
    tx.rollback().await?;
    let total = u64::try_from(total).unwrap_or(0);
    let mut report = NightlyReport {
        today,
        residents: 0,
        evaluated: 0,
        eligible: 0,
        filed: 0,
        filed_before: 0,
        failed: 0,
        failures: Vec::new(),
        evaluation_micros: 0,
    };
    let fail = |report: &mut NightlyReport,
                resident_id: &str,
                service: &str,
                code: &str,
                message: String| {
        report.failed += 1;
        if report.failures.len() < LISTED_FAILURES {
            report.failures.push(NightlyFailure {
                resident_id: resident_id.to_owned(),
                service: service.to_owned(),
                code: code.to_owned(),
                message,
            });
        }
    };
    let mut prepared: std::collections::HashMap<(TenantPath, String), civitas_registry::Prepared> =
        std::collections::HashMap::new();
    let mut after = (String::new(), String::new());
    loop {
        let mut tx = db.begin_read(scope).await?;
        let rows: Vec<Row> = with_connection!(tx.connection(), c => {
            sqlx::query_as(
                "SELECT resident_id, tenant_path, person, birth_date, household, disability_grade, deceased \
                 FROM population_records WHERE tenant_path >= $1 AND tenant_path < $2 \
                 AND (tenant_path, resident_id) > ($3, $4) ORDER BY tenant_path, resident_id LIMIT $5",
            )
            .bind(lower.clone())
            .bind(upper.clone())
            .bind(after.0.clone())
            .bind(after.1.clone())
            .bind(NIGHTLY_PAGE as i64)
            .fetch_all(&mut *c)
            .await?
        });
        if rows.is_empty() {
            tx.rollback().await?;
            break;
        }
        let full = rows.len() == NIGHTLY_PAGE;
        if let Some(last) = rows.last() {
            after = (last.1.clone(), last.0.clone());
        }
        let records = rows
            .into_iter()
            .map(parse_row)
            .collect::<Result<Vec<_>, _>>()?;
        report.residents += records.len() as u64;
        let by_id: std::collections::HashMap<&str, &Stored> = records
            .iter()
            .map(|r| (r.resident_id.as_str(), r))
            .collect();
        // Per place and service: the residents to ask.
        let mut batches: std::collections::BTreeMap<(TenantPath, String), Vec<(String, Value)>> =
            std::collections::BTreeMap::new();
        for Stored {
            resident_id,
            tenant,
            record,
            ..
        } in &records
        {
            let lines = tree
                .get(tenant)
                .map(|t| t.lines.as_slice())
                .unwrap_or_default();
            for service in &services {
                let Some(flow) = workflow.flows().resolve(service, tenant) else {
                    continue;
                };
                if !flow.entitlement || !lines.contains(&flow.line) {
                    continue;
                }
                if filed.contains(&(service.clone(), resident_id.clone())) {
                    report.filed_before += 1;
                    continue;
                }
                batches
                    .entry((tenant.clone(), service.clone()))
                    .or_default()
                    .push((resident_id.clone(), input(resident_id, record)));
            }
        }
        for key in batches.keys() {
            if !prepared.contains_key(key) {
                match runtime.prepare(&mut tx, &key.0, &key.1, None).await {
                    Ok(module) => {
                        prepared.insert(key.clone(), module);
                    }
                    Err(error) => {
                        for (resident_id, _) in &batches[key] {
                            fail(
                                &mut report,
                                resident_id,
                                &key.1,
                                error.code(),
                                error.to_string(),
                            );
                        }
                    }
                }
            }
        }
        tx.rollback().await?;
        for ((tenant, service), residents) in batches {
            let Some(module) = prepared.get(&(tenant.clone(), service.clone())) else {
                continue;
            };
            let (ids, inputs): (Vec<String>, Vec<Value>) = residents.into_iter().unzip();
            let batch = runtime
                .run_batch(
                    module,
                    civitas_registry::BatchRequest {
                        inputs,
                        settings: Arc::new(tree.effective_settings(&tenant)),
                        today: host_today,
                        log_tags: vec![("run".into(), "nightly".into())],
                    },
                )
                .await?;
            report.evaluation_micros += batch.elapsed_micros;
            for (resident_id, answer) in ids.iter().zip(batch.answers) {
                report.evaluated += 1;
                match answer {
                    Err(error) => fail(
                        &mut report,
                        resident_id,
                        &service,
                        error.code(),
                        error.to_string(),
                    ),
                    Ok(answer) if answer.output.get("eligible") == Some(&Value::Bool(true)) => {
                        report.eligible += 1;
                        // The few entitled: their document built again.
                        let Some(resident) = by_id.get(resident_id.as_str()) else {
                            continue;
                        };
                        let document = input(resident_id, &resident.record);
                        match file(db, scope, workflow, who, resident, &service, &document).await {
                            Ok((_, true)) => report.filed_before += 1,
                            Ok((_, false)) => report.filed += 1,
                            Err(error) => fail(
                                &mut report,
                                resident_id,
                                &service,
                                error.code(),
                                error.to_string(),
                            ),
                        }
                    }
                    Ok(_) => {}
                }
            }
        }
        progress(report.residents, total.max(report.residents));
        if !full {
            break;
        }
    }
    let mut tx = db.begin(scope).await?;
    civitas_audit::record(
        &mut tx,
        scope.path(),
        &civitas_audit::NewEvent {
            actor: who.username.clone(),
            action: "entitlement.run".into(),
            target: format!("entitlements@{today}"),
            detail: json!({
                "residents": report.residents, "evaluated": report.evaluated,
                "eligible": report.eligible, "filed": report.filed,
                "filed_before": report.filed_before, "failed": report.failed,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}
