//! One month of a subtree run as a batch, and its warnings filed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use civitas_registry::{BatchRequest, Runtime};
use civitas_storage::{Database, TenantScope};
use civitas_tenancy::{TenantPath, TenantTree};
use civitas_workflow::{NewCase, Origin, Who, Workflow};
use serde::Serialize;
use serde_json::{Value, json};

use crate::store::{self, Stored};
use crate::{SERVICE, WageWarningError, check_month};

/// A warning filed by this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OpenedWarning {
    /// The case (办件编号) on the warning flow.
    pub case_id: String,
    /// The project.
    pub project_code: String,
    /// Where the project is registered.
    pub tenant: String,
    /// Where the case went: the project's district.
    pub case_tenant: String,
    /// The rules that fired, most serious first.
    pub rules: Vec<String>,
}

/// A project-month the run could not evaluate or file: its place's module
/// failed on it, or filing its case failed (the next run files it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Failure {
    /// The project.
    pub project_code: String,
    /// Where it is registered.
    pub tenant: String,
    /// The stable error code (as the API's).
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// Which module evaluated a place's projects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ModuleUse {
    /// The place.
    pub tenant: String,
    /// The module.
    pub module: String,
    /// Its version.
    pub version: String,
    /// The tenant whose binding chose it; none for the service default.
    pub binding_tenant: Option<String>,
    /// Project-months evaluated.
    pub projects: usize,
    /// Wall time of the place's batch, microseconds.
    pub elapsed_micros: u64,
}

/// A district's regional warning (区域欠薪风险预警, seed 000 L356): the
/// share of its projects with a deposit, payout or wage-account warning.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Region {
    /// The district.
    pub tenant: String,
    /// Its project-months evaluated.
    pub projects: usize,
    /// Of those, how many have a deposit, payout or wage-account warning.
    pub warned: usize,
    /// `warned` as a percentage of `projects`, one decimal.
    pub share_percent: f64,
    /// The regional level the share reaches (`red`, `orange`, `yellow`:
    /// the district's settings `wage-arrears.regional.*-percent`), none
    /// below them all.
    pub level: Option<String>,
}

/// The rules whose warnings count towards a region's share (L356: 保证金、
/// 工资发放、工资专户).
const REGIONAL_RULES: &[&str] = &[
    "deposit-short",
    "deposit-expired",
    "deposit-expiring",
    "wages-not-paid",
    "labour-cost-not-deposited",
    "wage-account-not-opened",
];

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunReport {
    /// The month.
    pub month: String,
    /// Project-months evaluated.
    pub projects: usize,
    /// Of those, how many fired at least one warning.
    pub warned: usize,
    /// Warnings filed by this run.
    pub opened: Vec<OpenedWarning>,
    /// Warned project-months an earlier run of the month filed already.
    pub already_filed: usize,
    /// Project-months not evaluated or not filed.
    pub failures: Vec<Failure>,
    /// The module of each place.
    pub modules: Vec<ModuleUse>,
    /// Each district's regional warning.
    pub regions: Vec<Region>,
    /// Wall time of evaluation (every place's batch), microseconds.
    pub evaluation_micros: u64,
}

/// A warned project-month waiting for its case.
struct Warned {
    tenant: String,
    path: TenantPath,
    project_code: String,
    record: Value,
    rules: Vec<String>,
}

fn corrupt(what: String) -> WageWarningError {
    WageWarningError::Storage(civitas_storage::StorageError::Corrupt(what))
}

/// Runs the warning rules over every project-month of `month` imported in
/// `scope`'s subtree: one batch per place, by the module the place's
/// binding chooses and with the place's settings; files each warned
/// project-month not filed before as a case (origin `warning`) at the
/// project's district on the service's flow, by `who`; records the run in
/// the audit trail (`warning.run`).
pub async fn run_month(
    db: &Database,
    scope: &TenantScope,
    workflow: &Workflow,
    runtime: &Runtime,
    who: &Who,
    month: &str,
) -> Result<RunReport, WageWarningError> {
    check_month(month)?;
    // Warnings go to the project's district: a run below a district could
    // not file them inside its own subtree.
    if dispatch_place(workflow, scope.path()) != *scope.path() {
        return Err(WageWarningError::BelowDistrict(scope.path().to_string()));
    }
    let mut tx = db.begin_read(scope).await?;
    let records = store::month_records(&mut tx, month).await?;
    if records.is_empty() {
        tx.rollback().await?;
        return Err(WageWarningError::NoData(month.to_owned()));
    }
    let claimed: HashMap<(String, String), Option<String>> = store::claims(&mut tx, month)
        .await?
        .into_iter()
        .map(|c| ((c.tenant, c.project_code), c.case_id))
        .collect();
    let mut places: BTreeMap<String, Vec<Stored>> = BTreeMap::new();
    for record in records {
        places
            .entry(record.tenant.clone())
            .or_default()
            .push(record);
    }
    let mut failures = Vec::new();
    let mut prepared = Vec::new();
    for (tenant, projects) in places {
        let path = TenantPath::parse(&tenant)
            .map_err(|e| corrupt(format!("project_months tenant {tenant}: {e}")))?;
        match runtime.prepare(&mut tx, &path, SERVICE, None).await {
            Ok(module) => prepared.push((path, module, projects)),
            // A place without a module: its projects fail, the rest run.
            Err(error) => failures.extend(projects.into_iter().map(|p| Failure {
                project_code: p.project_code,
                tenant: tenant.clone(),
                code: error.code().to_owned(),
                message: error.to_string(),
            })),
        }
    }
    tx.rollback().await?;

    let today = workflow.clock().today_in_china();
    let host_today = civitas_host::Date::parse(&today.to_string())
        .ok_or_else(|| WageWarningError::Invalid(format!("bad date {today}")))?;
    let tree = workflow.tree();
    let mut report = RunReport {
        month: month.to_owned(),
        projects: 0,
        warned: 0,
        opened: Vec::new(),
        already_filed: 0,
        failures: Vec::new(),
        modules: Vec::new(),
        regions: Vec::new(),
        evaluation_micros: 0,
    };
    // Per district: project-months evaluated, and those a regional rule warned.
    let mut regions: BTreeMap<TenantPath, (usize, usize)> = BTreeMap::new();
    let mut to_file = Vec::new();
    for (path, module, projects) in prepared {
        let tenant = path.to_string();
        let inputs: Vec<Value> = projects.iter().map(|p| p.record.clone()).collect();
        let batch = runtime
            .run_batch(
                &module,
                BatchRequest {
                    inputs,
                    settings: Arc::new(tree.effective_settings(&path)),
                    today: host_today,
                    log_tags: vec![("month".into(), month.to_owned())],
                },
            )
            .await?;
        report.projects += projects.len();
        report.evaluation_micros += batch.elapsed_micros;
        report.modules.push(ModuleUse {
            tenant: tenant.clone(),
            module: batch.module,
            version: batch.version,
            binding_tenant: batch.binding_tenant,
            projects: projects.len(),
            elapsed_micros: batch.elapsed_micros,
        });
        let district = dispatch_place(workflow, &path);
        for (project, answer) in projects.into_iter().zip(batch.answers) {
            let region = regions.entry(district.clone()).or_default();
            let answer = match answer {
                Ok(answer) => {
                    region.0 += 1;
                    answer
                }
                Err(error) => {
                    failures.push(Failure {
                        project_code: project.project_code,
                        tenant: tenant.clone(),
                        code: error.code().to_owned(),
                        message: error.to_string(),
                    });
                    continue;
                }
            };
            let rules: Vec<String> = answer
                .output
                .get("warnings")
                .and_then(Value::as_array)
                .map(|warnings| {
                    warnings
                        .iter()
                        .filter_map(|w| w.get("rule").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if rules.is_empty() {
                continue;
            }
            if rules.iter().any(|r| REGIONAL_RULES.contains(&r.as_str())) {
                region.1 += 1;
            }
            report.warned += 1;
            match claimed.get(&(tenant.clone(), project.project_code.clone())) {
                Some(Some(_)) => report.already_filed += 1,
                _ => to_file.push(Warned {
                    tenant: tenant.clone(),
                    path: path.clone(),
                    project_code: project.project_code,
                    record: project.record,
                    rules,
                }),
            }
        }
    }

    report.regions = regions
        .into_iter()
        .map(|(district, (projects, warned))| region(&tree, &district, projects, warned))
        .collect();

    // Claimed first, in one transaction: a filing that fails is filed by
    // the next run, and no run files a project-month twice.
    let now = workflow.clock().now_micros();
    let mut tx = db.begin(scope).await?;
    for warned in &to_file {
        store::claim(
            &mut tx,
            &warned.tenant,
            &warned.project_code,
            month,
            &warned.rules,
            now,
        )
        .await?;
    }
    tx.commit().await?;

    for warned in to_file {
        let case_tenant = dispatch_place(workflow, &warned.path);
        let name = warned
            .record
            .get("project_name")
            .and_then(Value::as_str)
            .unwrap_or(&warned.project_code)
            .to_owned();
        // A title is at most 200 characters; a name may be 200 alone.
        let name: String = name.chars().take(120).collect();
        let title = format!("安薪预警 {month}：{name}（{} 项）", warned.rules.len());
        let case_id = civitas_workflow::derived_case_id(&[
            SERVICE,
            &warned.tenant,
            &warned.project_code,
            month,
        ]);
        let filed = workflow
            .create(
                db,
                scope,
                &case_tenant,
                who,
                None,
                NewCase {
                    id: Some(case_id.clone()),
                    service: SERVICE.to_owned(),
                    title: Some(title),
                    data: warned.record,
                    origin: Origin::Warning,
                },
            )
            .await;
        match filed {
            Ok(case) => {
                let mut tx = db.begin(scope).await?;
                store::filed(
                    &mut tx,
                    &warned.tenant,
                    &warned.project_code,
                    month,
                    &case.id,
                )
                .await?;
                tx.commit().await?;
                report.opened.push(OpenedWarning {
                    case_id: case.id,
                    project_code: warned.project_code,
                    tenant: warned.tenant,
                    case_tenant: case_tenant.to_string(),
                    rules: warned.rules,
                });
            }
            // Filed by a run at the same time, or by one that stopped
            // before writing its claim: the case is there under its id.
            Err(error) if error.is_duplicate() => {
                let mut tx = db.begin(scope).await?;
                store::filed(
                    &mut tx,
                    &warned.tenant,
                    &warned.project_code,
                    month,
                    &case_id,
                )
                .await?;
                tx.commit().await?;
                report.already_filed += 1;
            }
            Err(error) => {
                tracing::warn!(%error, project = %warned.project_code, month, "warning not filed; the next run files it");
                failures.push(Failure {
                    project_code: warned.project_code,
                    tenant: warned.tenant,
                    code: error.code().to_owned(),
                    message: error.to_string(),
                });
            }
        }
    }
    report.failures = failures;

    let mut tx = db.begin(scope).await?;
    civitas_audit::record(
        &mut tx,
        scope.path(),
        &civitas_audit::NewEvent {
            actor: who.username.clone(),
            action: "warning.run".into(),
            target: format!("{SERVICE}@{month}"),
            detail: json!({
                "month": month,
                "projects": report.projects,
                "warned": report.warned,
                "opened": report.opened.iter().map(|o| &o.case_id).collect::<Vec<_>>(),
                "already_filed": report.already_filed,
                "failures": report.failures.len(),
                "modules": report.modules.iter().map(|m| json!({
                    "tenant": m.tenant, "module": m.module, "version": m.version, "projects": m.projects,
                })).collect::<Vec<_>>(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// A district's regional warning: its share against its settings'
/// thresholds (`wage-arrears.regional.red-percent`, `…orange-percent`,
/// `…yellow-percent`), the highest reached.
fn region(tree: &TenantTree, district: &TenantPath, projects: usize, warned: usize) -> Region {
    let share = if projects == 0 {
        0.0
    } else {
        (warned as f64 * 1000.0 / projects as f64).round() / 10.0
    };
    let settings = tree.effective_settings(district);
    let level = ["red", "orange", "yellow"]
        .into_iter()
        .find(|level| {
            settings
                .get(&format!("wage-arrears.regional.{level}-percent"))
                .and_then(Value::as_f64)
                .is_some_and(|threshold| share >= threshold)
        })
        .map(str::to_owned);
    Region {
        tenant: district.to_string(),
        projects,
        warned,
        share_percent: share,
        level,
    }
}

/// Where a warning about a project at `place` is filed: where the warning
/// flow's first step (区级接收指派) sits for a case there — the project's
/// district under the shipped flow; the place itself when that step has no
/// seat above it (a run at the city).
fn dispatch_place(workflow: &Workflow, place: &TenantPath) -> TenantPath {
    workflow
        .flows()
        .resolve(SERVICE, place)
        .and_then(|flow| flow.first().actors.first())
        .and_then(|actor| workflow.place(&actor.at, place))
        .unwrap_or_else(|| place.clone())
}
