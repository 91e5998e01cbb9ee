//! Project-months as stored, and the import's transaction.

use std::collections::{BTreeSet, HashSet};

use civitas_storage::{Database, TenantScope, TenantTx, with_connection};
use serde::Serialize;
use serde_json::json;

use crate::WageWarningError;
use crate::import::ProjectMonth;

/// Rows one INSERT carries (7 binds each, under both backends' limits).
const CHUNK: usize = 500;

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Project-months stored.
    pub stored: usize,
    /// Of those, how many replaced an earlier import of the same project
    /// and month.
    pub replaced: usize,
    /// The months the file holds.
    pub months: Vec<String>,
}

/// Stores `records` in `scope` (each inside it) in one transaction — a
/// project's month imported again replaces the earlier row, at whatever
/// place of the subtree it was (a corrected 所属区划 moves it) — with the
/// audit record `monitoring.import` naming the file by its SM3.
pub async fn store_months(
    db: &Database,
    scope: &TenantScope,
    records: &[ProjectMonth],
    file_sm3: &str,
    imported_by: &str,
    now_micros: i64,
) -> Result<ImportReport, WageWarningError> {
    if let Some(outside) = records.iter().find(|r| !scope.covers(&r.tenant)) {
        return Err(WageWarningError::Invalid(format!(
            "{} 不在本辖区内 / {} is outside this subtree",
            outside.tenant, outside.tenant
        )));
    }
    let months: BTreeSet<&str> = records.iter().map(|r| r.month.as_str()).collect();
    let mut tx = db.begin(scope).await?;
    let mut existing: HashSet<(String, String)> = HashSet::new();
    for month in &months {
        existing.extend(
            keys(&mut tx, month)
                .await?
                .into_iter()
                .map(|(_, code, month)| (code, month)),
        );
    }
    let replaced: Vec<&ProjectMonth> = records
        .iter()
        .filter(|r| existing.contains(&(r.project_code.clone(), r.month.clone())))
        .collect();
    // The rows they replace, wherever in the subtree they were.
    let (lower, upper) = scope.path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper.to_owned());
    for r in &replaced {
        with_connection!(tx.connection(), c => {
            sqlx::query(
                "DELETE FROM project_months WHERE project_code = $1 AND month = $2 \
                 AND tenant_path >= $3 AND tenant_path < $4",
            )
            .bind(r.project_code.clone())
            .bind(r.month.clone())
            .bind(lower.clone())
            .bind(upper.clone())
            .execute(&mut *c)
            .await?;
        });
    }
    let replaced = replaced.len();
    let import_id = file_sm3.get(..16).unwrap_or(file_sm3).to_owned();
    for chunk in records.chunks(CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 7;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO project_months (tenant_path, project_code, month, record, import_id, imported_by, imported_at) \
             VALUES {} ON CONFLICT (tenant_path, project_code, month) DO UPDATE SET \
             record = excluded.record, import_id = excluded.import_id, \
             imported_by = excluded.imported_by, imported_at = excluded.imported_at",
            values.join(", ")
        );
        // Placeholders only: every value is bound.
        with_connection!(tx.connection(), c => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for r in chunk {
                query = query
                    .bind(r.tenant.as_str().to_owned())
                    .bind(r.project_code.clone())
                    .bind(r.month.clone())
                    .bind(r.record.to_string())
                    .bind(import_id.clone())
                    .bind(imported_by.to_owned())
                    .bind(now_micros);
            }
            query.execute(&mut *c).await?;
        });
    }
    let months: Vec<String> = months.into_iter().map(str::to_owned).collect();
    civitas_audit::record(
        &mut tx,
        scope.path(),
        &civitas_audit::NewEvent {
            actor: imported_by.to_owned(),
            action: "monitoring.import".into(),
            target: import_id,
            detail: json!({
                "file_sm3": file_sm3,
                "stored": records.len(),
                "replaced": replaced,
                "months": months,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(ImportReport {
        stored: records.len(),
        replaced,
        months,
    })
}

/// The (tenant, project, month) keys stored for `month` in `tx`'s subtree.
async fn keys(
    tx: &mut TenantTx,
    month: &str,
) -> Result<Vec<(String, String, String)>, WageWarningError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper.to_owned());
    let rows: Vec<(String, String)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT tenant_path, project_code FROM project_months \
             WHERE month = $1 AND tenant_path >= $2 AND tenant_path < $3",
        )
        .bind(month.to_owned())
        .bind(lower.clone())
        .bind(upper.clone())
        .fetch_all(&mut *c)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|(tenant, code)| (tenant, code, month.to_owned()))
        .collect())
}

/// A stored project-month: where, which project, and its document.
pub(crate) struct Stored {
    pub tenant: String,
    pub project_code: String,
    pub record: serde_json::Value,
}

/// The project-months of `month` in `tx`'s subtree, by place and project.
/// A stored document that does not parse is an error, never skipped.
pub(crate) async fn month_records(
    tx: &mut TenantTx,
    month: &str,
) -> Result<Vec<Stored>, WageWarningError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper.to_owned());
    let rows: Vec<(String, String, String)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT tenant_path, project_code, record FROM project_months \
             WHERE month = $1 AND tenant_path >= $2 AND tenant_path < $3 \
             ORDER BY tenant_path, project_code",
        )
        .bind(month.to_owned())
        .bind(lower.clone())
        .bind(upper.clone())
        .fetch_all(&mut *c)
        .await?
    });
    rows.into_iter()
        .map(|(tenant, project_code, record)| {
            let record = serde_json::from_str(&record).map_err(|e| {
                civitas_storage::StorageError::Corrupt(format!(
                    "project_months {tenant} {project_code} {month}: {e}"
                ))
            })?;
            Ok(Stored {
                tenant,
                project_code,
                record,
            })
        })
        .collect()
}

/// A warned project-month as claimed: its case once filed.
pub(crate) struct Claim {
    pub tenant: String,
    pub project_code: String,
    pub case_id: Option<String>,
}

/// The claims of `month` in `tx`'s subtree.
pub(crate) async fn claims(tx: &mut TenantTx, month: &str) -> Result<Vec<Claim>, WageWarningError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper.to_owned());
    let rows: Vec<(String, String, Option<String>)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT tenant_path, project_code, case_id FROM wage_warnings \
             WHERE month = $1 AND tenant_path >= $2 AND tenant_path < $3",
        )
        .bind(month.to_owned())
        .bind(lower.clone())
        .bind(upper.clone())
        .fetch_all(&mut *c)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|(tenant, project_code, case_id)| Claim {
            tenant,
            project_code,
            case_id,
        })
        .collect())
}

/// Claims a warned project-month (no case yet); a claim already there is
/// left as it is.
pub(crate) async fn claim(
    tx: &mut TenantTx,
    tenant: &str,
    project_code: &str,
    month: &str,
    rules: &[String],
    now_micros: i64,
) -> Result<(), WageWarningError> {
    let rules =
        serde_json::to_string(rules).map_err(|e| WageWarningError::Invalid(e.to_string()))?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO wage_warnings (tenant_path, project_code, month, rules, case_id, generated_at) \
             VALUES ($1, $2, $3, $4, NULL, $5) ON CONFLICT (tenant_path, project_code, month) DO NOTHING",
        )
        .bind(tenant.to_owned())
        .bind(project_code.to_owned())
        .bind(month.to_owned())
        .bind(rules.clone())
        .bind(now_micros)
        .execute(&mut *c)
        .await?;
    });
    Ok(())
}

/// Writes the case filed for a claim.
pub(crate) async fn filed(
    tx: &mut TenantTx,
    tenant: &str,
    project_code: &str,
    month: &str,
    case_id: &str,
) -> Result<(), WageWarningError> {
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "UPDATE wage_warnings SET case_id = $1 \
             WHERE tenant_path = $2 AND project_code = $3 AND month = $4 AND case_id IS NULL",
        )
        .bind(case_id.to_owned())
        .bind(tenant.to_owned())
        .bind(project_code.to_owned())
        .bind(month.to_owned())
        .execute(&mut *c)
        .await?;
    });
    Ok(())
}
