//! Case counts for the dashboards: how many cases a place filed, how they
//! finished, how many passed their statutory limit, and how many working
//! days the finished ones took.
//!
//! The counts live in `case_stats`, a row per place, line, service and
//! filing month (Beijing time), changed in the transaction of the change
//! it counts: filing ([`Counts::filed`]), finishing ([`Counts::finished`])
//! and passing the statutory limit ([`Counts::overdue`]). A dashboard sums
//! a subtree's rows ([`dashboard`]) — a few per place, service and month —
//! instead of scanning its cases, so it costs the same at a million cases.
//!
//! A case is counted in the month it was filed, at the place that held it
//! when the count changed: a case transferred to another district counts
//! as filed where it was filed and as finished where it finished.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate};
use civitas_storage::{Connection, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use serde::Serialize;
use sqlx::Row;

use crate::cases::{Case, CaseState};
use crate::{WorkflowError, corrupt};

/// What one change adds to the counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// Cases filed.
    pub filed: i64,
    /// Cases finished approved (准予).
    pub approved: i64,
    /// Cases finished refused (不予).
    pub rejected: i64,
    /// Cases withdrawn by their applicant.
    pub withdrawn: i64,
    /// Cases that passed their statutory limit.
    pub overdue: i64,
    /// Finished cases whose processing time was measured.
    pub timed: i64,
    /// The working days those took, summed.
    pub working_days: i64,
}

impl Counts {
    /// A case filed.
    pub fn filed() -> Counts {
        Counts {
            filed: 1,
            ..Counts::default()
        }
    }

    /// What a case moving from `before` to `after` adds: one finished case
    /// of its outcome, taking `working_days` (unmeasured when `None`), when
    /// `after` finishes it; nothing otherwise.
    pub fn finished(
        before: CaseState,
        after: CaseState,
        working_days: Option<i64>,
    ) -> Option<Counts> {
        if before.is_final() || !after.is_final() {
            return None;
        }
        let mut counts = Counts {
            timed: i64::from(working_days.is_some()),
            working_days: working_days.unwrap_or(0).max(0),
            ..Counts::default()
        };
        match after {
            CaseState::Closed => counts.approved = 1,
            CaseState::Rejected => counts.rejected = 1,
            CaseState::Withdrawn => counts.withdrawn = 1,
            CaseState::Open | CaseState::Returned | CaseState::Paused => return None,
        }
        Some(counts)
    }

    /// A case that passed its statutory limit.
    pub fn overdue() -> Counts {
        Counts {
            overdue: 1,
            ..Counts::default()
        }
    }

    /// Cases finished, whatever the outcome.
    pub fn finished_total(&self) -> i64 {
        self.approved + self.rejected + self.withdrawn
    }

    /// Approved among those decided (approved or refused), in per cent;
    /// none before any is decided.
    pub fn approval_rate(&self) -> Option<f64> {
        let decided = self.approved + self.rejected;
        (decided > 0).then(|| 100.0 * self.approved as f64 / decided as f64)
    }

    /// Filed cases that passed their statutory limit, in per cent.
    pub fn overdue_rate(&self) -> Option<f64> {
        (self.filed > 0).then(|| 100.0 * self.overdue as f64 / self.filed as f64)
    }

    /// The mean working days a finished case took.
    pub fn mean_working_days(&self) -> Option<f64> {
        (self.timed > 0).then(|| self.working_days as f64 / self.timed as f64)
    }

    fn add(&mut self, other: &Counts) {
        self.filed += other.filed;
        self.approved += other.approved;
        self.rejected += other.rejected;
        self.withdrawn += other.withdrawn;
        self.overdue += other.overdue;
        self.timed += other.timed;
        self.working_days += other.working_days;
    }
}

/// The filing month of a case filed at `created_at` (Unix microseconds),
/// Beijing time: `YYYY-MM`.
pub fn filing_month(created_at: i64) -> String {
    DateTime::from_timestamp_micros(created_at + 8 * 3_600_000_000)
        .map(|t| t.format("%Y-%m").to_string())
        .unwrap_or_else(|| "1970-01".to_owned())
}

/// The filing date of a case, Beijing time.
pub(crate) fn filing_date(created_at: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp_micros(created_at + 8 * 3_600_000_000).map(|t| t.date_naive())
}

/// Adds `counts` for `case` (at its place now, in its filing month), in
/// the transaction that makes the change.
pub(crate) async fn add(
    conn: Connection<'_>,
    case: &Case,
    counts: &Counts,
) -> Result<(), WorkflowError> {
    let sql = "INSERT INTO case_stats (tenant_path, line, service, month, filed, approved, rejected, \
               withdrawn, overdue, timed, working_days) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
               ON CONFLICT (tenant_path, line, service, month) DO UPDATE SET \
               filed = case_stats.filed + excluded.filed, approved = case_stats.approved + excluded.approved, \
               rejected = case_stats.rejected + excluded.rejected, withdrawn = case_stats.withdrawn + excluded.withdrawn, \
               overdue = case_stats.overdue + excluded.overdue, timed = case_stats.timed + excluded.timed, \
               working_days = case_stats.working_days + excluded.working_days";
    with_connection!(conn, c => {
        sqlx::query(sql)
            .bind(case.tenant_path.as_str().to_owned())
            .bind(case.line.clone())
            .bind(case.service.clone())
            .bind(filing_month(case.created_at))
            .bind(counts.filed)
            .bind(counts.approved)
            .bind(counts.rejected)
            .bind(counts.withdrawn)
            .bind(counts.overdue)
            .bind(counts.timed)
            .bind(counts.working_days)
            .execute(&mut *c)
            .await?;
    });
    Ok(())
}

/// One month's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MonthCounts {
    /// `YYYY-MM`.
    pub month: String,
    /// Its counts.
    pub counts: Counts,
}

/// One place's counts: a child of the dashboard's tenant with its subtree,
/// or the tenant's own cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PlaceCounts {
    /// The child's path (or the tenant's own, for its own cases).
    pub tenant: String,
    /// Its counts.
    pub counts: Counts,
}

/// A subtree's counts since a month.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    /// Every month from the first asked for to the last with cases, oldest
    /// first (months without cases are absent).
    pub months: Vec<MonthCounts>,
    /// By child of the tenant (with its subtree), and the tenant's own.
    pub places: Vec<PlaceCounts>,
    /// Everything together.
    pub total: Counts,
}

/// The counts of `tx`'s subtree, filed from `since` (`YYYY-MM`) on, in
/// `line` (all lines when `None`): by month and by child place.
pub async fn dashboard(
    tx: &mut TenantTx,
    line: Option<&str>,
    since: &str,
) -> Result<Dashboard, WorkflowError> {
    let root = tx.scope().path().clone();
    let (lower, upper) = root.subtree_range();
    let (lower, upper) = (lower.to_owned(), upper);
    // Two sums over the same rows: by month, and by place (rolled up to the
    // children here). One grouping by both would send a row per place and
    // month: twelve times as many.
    let sums = "CAST(sum(filed) AS BIGINT) AS filed, CAST(sum(approved) AS BIGINT) AS approved, \
                CAST(sum(rejected) AS BIGINT) AS rejected, CAST(sum(withdrawn) AS BIGINT) AS withdrawn, \
                CAST(sum(overdue) AS BIGINT) AS overdue, CAST(sum(timed) AS BIGINT) AS timed, \
                CAST(sum(working_days) AS BIGINT) AS working_days";
    let filter = "FROM case_stats WHERE tenant_path >= $1 AND tenant_path < $2 AND month >= $3 \
                  AND ($4 = '' OR line = $4)";
    let mut rows: Vec<(String, String, Counts)> = Vec::new();
    for (key, group) in [("month", "month"), ("tenant_path", "tenant_path")] {
        let sql = format!("SELECT {group} AS key, {sums} {filter} GROUP BY {group}");
        let found: Vec<(String, Counts)> = with_connection!(tx.connection(), c => {
            let found = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(lower.clone())
                .bind(upper.clone())
                .bind(since.to_owned())
                .bind(line.unwrap_or_default().to_owned())
                .fetch_all(&mut *c)
                .await?;
            found
                .iter()
                .map(|r| -> Result<_, sqlx::Error> {
                    Ok((
                        r.try_get::<String, _>("key")?,
                        Counts {
                            filed: r.try_get("filed")?,
                            approved: r.try_get("approved")?,
                            rejected: r.try_get("rejected")?,
                            withdrawn: r.try_get("withdrawn")?,
                            overdue: r.try_get("overdue")?,
                            timed: r.try_get("timed")?,
                            working_days: r.try_get("working_days")?,
                        },
                    ))
                })
                .collect::<Result<Vec<_>, _>>()?
        });
        for (value, counts) in found {
            let (tenant, month) = if key == "month" {
                (String::new(), value)
            } else {
                (value, String::new())
            };
            rows.push((tenant, month, counts));
        }
    }
    let depth = root.as_str().split('/').count();
    let mut months: BTreeMap<String, Counts> = BTreeMap::new();
    let mut places: BTreeMap<String, Counts> = BTreeMap::new();
    let mut total = Counts::default();
    for (tenant, month, counts) in rows {
        if tenant.is_empty() {
            months.entry(month).or_default().add(&counts);
            total.add(&counts);
        } else {
            // The child of the root on the way to `tenant` (or the root).
            let place: Vec<&str> = tenant.split('/').take(depth + 1).collect();
            places.entry(place.join("/")).or_default().add(&counts);
        }
    }
    let places = places
        .into_iter()
        .map(|(path, counts)| {
            TenantPath::parse(&path)
                .map(|_| PlaceCounts {
                    tenant: path.clone(),
                    counts,
                })
                .map_err(|e| corrupt(format!("case_stats: tenant_path “{path}”: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Dashboard {
        months: months
            .into_iter()
            .map(|(month, counts)| MonthCounts { month, counts })
            .collect(),
        places,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finishing_counts_its_outcome_and_its_days_once() {
        let approved = Counts::finished(CaseState::Open, CaseState::Closed, Some(7));
        assert_eq!(
            approved,
            Some(Counts {
                approved: 1,
                timed: 1,
                working_days: 7,
                ..Counts::default()
            })
        );
        assert_eq!(
            Counts::finished(CaseState::Returned, CaseState::Withdrawn, None)
                .map(|c| (c.withdrawn, c.timed)),
            Some((1, 0))
        );
        // Moving between open states, or a finished case again, counts
        // nothing.
        assert_eq!(
            Counts::finished(CaseState::Open, CaseState::Returned, Some(3)),
            None
        );
        assert_eq!(
            Counts::finished(CaseState::Closed, CaseState::Closed, Some(3)),
            None
        );
    }

    #[test]
    fn rates_are_shares_of_what_they_are_rates_of() {
        let counts = Counts {
            filed: 10,
            approved: 3,
            rejected: 1,
            withdrawn: 2,
            overdue: 2,
            timed: 4,
            working_days: 18,
        };
        assert_eq!(counts.finished_total(), 6);
        assert_eq!(counts.approval_rate(), Some(75.0));
        assert_eq!(counts.overdue_rate(), Some(20.0));
        assert_eq!(counts.mean_working_days(), Some(4.5));
        assert_eq!(Counts::default().approval_rate(), None);
    }

    #[test]
    fn the_filing_month_is_beijings() {
        // 2026-11-30 17:00 UTC is 2026-12-01 01:00 in Beijing.
        let micros = DateTime::parse_from_rfc3339("2026-11-30T17:00:00Z")
            .map(|t| t.timestamp_micros())
            .unwrap_or_default();
        assert_eq!(filing_month(micros), "2026-12");
    }
}
