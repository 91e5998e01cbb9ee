//! Case counts for the dashboards: how many cases a place filed, how they
//! finished, how many passed their statutory limit, and how many working
//! days the finished ones took.
//!
//! The counts live in `case_stats`, changed in the transaction of the
//! change they count: filing ([`Counts::filed`]), finishing
//! ([`Counts::finished`]) and passing the statutory limit
//! ([`Counts::overdue`]). A case counts at its place and at every ancestor
//! (one statement), in a row per place, line, service and filing month
//! (Beijing time), so a dashboard ([`dashboard`]) reads its place's rows by
//! month and its children's by place — a few dozen rows per child, the same
//! at a million cases. Every row is split into [`SHARDS`] (by case id) so
//! concurrent filings do not queue on one row: a root's take every filing
//! of the tree, a district's every filing of its streets, and a street's
//! every filing there (a row locked at filing stays locked until the
//! commit). Readers sum the shards.
//!
//! A case is counted in the month it was filed, at the places that held it
//! when the count changed: a case transferred to another district counts
//! as filed where it was filed and as finished where it finished.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate};
use civitas_storage::{Connection, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use serde::Serialize;
use sqlx::Row;

use crate::model::{Case, CaseState};
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
    /// Finished cases their applicant rated (好差评).
    pub rated: i64,
    /// The ratings' scores (1–5), summed.
    pub score_sum: i64,
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

    /// A case rated `score` (1–5) by its applicant.
    pub fn rated(score: i64) -> Counts {
        Counts {
            rated: 1,
            score_sum: score,
            ..Counts::default()
        }
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

    /// The mean rating (1–5) of the rated cases.
    pub fn mean_score(&self) -> Option<f64> {
        (self.rated > 0).then(|| self.score_sum as f64 / self.rated as f64)
    }

    fn minus(&self, other: &Counts) -> Counts {
        Counts {
            filed: self.filed - other.filed,
            approved: self.approved - other.approved,
            rejected: self.rejected - other.rejected,
            withdrawn: self.withdrawn - other.withdrawn,
            overdue: self.overdue - other.overdue,
            timed: self.timed - other.timed,
            working_days: self.working_days - other.working_days,
            rated: self.rated - other.rated,
            score_sum: self.score_sum - other.score_sum,
        }
    }

    fn add(&mut self, other: &Counts) {
        self.filed += other.filed;
        self.approved += other.approved;
        self.rejected += other.rejected;
        self.withdrawn += other.withdrawn;
        self.overdue += other.overdue;
        self.timed += other.timed;
        self.working_days += other.working_days;
        self.rated += other.rated;
        self.score_sum += other.score_sum;
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

/// Rows per key at every place: concurrent filings spread over this many
/// rows (by case id). Rows written before every level was sharded are in
/// shard 0, and count the same.
pub const SHARDS: u8 = 8;

fn shard(case_id: &str) -> i64 {
    i64::from(
        case_id
            .bytes()
            .fold(0u8, |h, b| h.wrapping_mul(31).wrapping_add(b))
            % SHARDS,
    )
}

/// Adds `counts` for `case` at its place and every ancestor (in its filing
/// month), in the transaction that makes the change: one statement, its
/// rows in path order so concurrent changes lock them in the same order.
pub(crate) async fn add(
    conn: Connection<'_>,
    case: &Case,
    counts: &Counts,
) -> Result<(), WorkflowError> {
    let lineage = case.tenant_path.lineage();
    let rows: Vec<String> = (0..lineage.len())
        .map(|i| {
            let p = 13 + 3 * i;
            format!(
                "(${p}, ${}, $1, $2, $3, ${}, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                p + 1,
                p + 2
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO case_stats (node_path, parent_path, line, service, month, shard, filed, approved, \
         rejected, withdrawn, overdue, timed, working_days, rated, score_sum) VALUES {} \
         ON CONFLICT (node_path, line, service, month, shard) DO UPDATE SET \
         filed = case_stats.filed + excluded.filed, approved = case_stats.approved + excluded.approved, \
         rejected = case_stats.rejected + excluded.rejected, withdrawn = case_stats.withdrawn + excluded.withdrawn, \
         overdue = case_stats.overdue + excluded.overdue, timed = case_stats.timed + excluded.timed, \
         working_days = case_stats.working_days + excluded.working_days, \
         rated = case_stats.rated + excluded.rated, score_sum = case_stats.score_sum + excluded.score_sum",
        rows.join(", ")
    );
    with_connection!(conn, c => {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
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
            .bind(counts.rated)
            .bind(counts.score_sum);
        for node in &lineage {
            let parent = node.parent().map(|p| p.as_str().to_owned()).unwrap_or_default();
            query = query.bind(node.as_str().to_owned()).bind(parent).bind(shard(&case.id));
        }
        query.execute(&mut *c).await?;
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
/// `line` (all lines when `None`): by month (the place's own rows) and by
/// child place (the children's rows), the place's own cases as the rest.
pub async fn dashboard(
    tx: &mut TenantTx,
    line: Option<&str>,
    since: &str,
) -> Result<Dashboard, WorkflowError> {
    let root = tx.scope().path().as_str().to_owned();
    let sums = "CAST(sum(filed) AS BIGINT) AS filed, CAST(sum(approved) AS BIGINT) AS approved, \
                CAST(sum(rejected) AS BIGINT) AS rejected, CAST(sum(withdrawn) AS BIGINT) AS withdrawn, \
                CAST(sum(overdue) AS BIGINT) AS overdue, CAST(sum(timed) AS BIGINT) AS timed, \
                CAST(sum(working_days) AS BIGINT) AS working_days, CAST(sum(rated) AS BIGINT) AS rated, \
                CAST(sum(score_sum) AS BIGINT) AS score_sum";
    let mut found: [Vec<(String, Counts)>; 2] = [Vec::new(), Vec::new()];
    for (i, (key, which)) in [("month", "node_path"), ("node_path", "parent_path")]
        .into_iter()
        .enumerate()
    {
        let sql = format!(
            "SELECT {key} AS key, {sums} FROM case_stats WHERE {which} = $1 AND month >= $2 \
             AND ($3 = '' OR line = $3) GROUP BY {key}"
        );
        found[i] = with_connection!(tx.connection(), c => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(root.clone())
                .bind(since.to_owned())
                .bind(line.unwrap_or_default().to_owned())
                .fetch_all(&mut *c)
                .await?;
            rows.iter()
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
                            rated: r.try_get("rated")?,
                            score_sum: r.try_get("score_sum")?,
                        },
                    ))
                })
                .collect::<Result<Vec<_>, _>>()?
        });
    }
    let [by_month, by_child] = found;
    let mut months: BTreeMap<String, Counts> = BTreeMap::new();
    let mut total = Counts::default();
    for (month, counts) in by_month {
        months.entry(month).or_default().add(&counts);
        total.add(&counts);
    }
    let mut places = Vec::with_capacity(by_child.len() + 1);
    let mut below = Counts::default();
    for (path, counts) in by_child {
        TenantPath::parse(&path)
            .map_err(|e| corrupt(format!("case_stats: node_path “{path}”: {e}")))?;
        below.add(&counts);
        places.push(PlaceCounts {
            tenant: path,
            counts,
        });
    }
    let own = total.minus(&below);
    if own != Counts::default() {
        places.push(PlaceCounts {
            tenant: root,
            counts: own,
        });
    }
    places.sort_by(|a, b| a.tenant.cmp(&b.tenant));
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
            rated: 2,
            score_sum: 9,
        };
        assert_eq!(counts.finished_total(), 6);
        assert_eq!(counts.approval_rate(), Some(75.0));
        assert_eq!(counts.overdue_rate(), Some(20.0));
        assert_eq!(counts.mean_working_days(), Some(4.5));
        assert_eq!(counts.mean_score(), Some(4.5));
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
