//! The pure parts of the load generator: what a run reports, and how the
//! filler copies a case's rows. The binary (`main.rs`) does the I/O.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// What one run of requests measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Concurrent connections, each sending one request after another.
    pub connections: usize,
    /// Length of the measured window, in seconds.
    pub seconds: f64,
    /// Requests answered with the expected status.
    pub ok: usize,
    /// Answers with any other status (or none), counted by status
    /// (`"error"` when no answer came).
    pub failed: BTreeMap<String, usize>,
    /// Successful requests per second.
    pub per_second: f64,
    /// Latency percentiles of the successful requests, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile, milliseconds.
    pub p90_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// The slowest, milliseconds.
    pub max_ms: f64,
}

/// The `p` quantile (0..=1) of `sorted`, nearest rank; zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Report {
    /// The report of `latencies` (successful requests) and `failed` over a
    /// window of `window` with `connections` clients.
    pub fn new(
        connections: usize,
        window: Duration,
        mut latencies: Vec<Duration>,
        failed: BTreeMap<String, usize>,
    ) -> Report {
        latencies.sort_unstable();
        let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
        let seconds = window.as_secs_f64();
        Report {
            connections,
            seconds: (seconds * 100.0).round() / 100.0,
            ok: latencies.len(),
            failed,
            per_second: if seconds > 0.0 {
                (latencies.len() as f64 / seconds).round()
            } else {
                0.0
            },
            p50_ms: ms(percentile(&latencies, 0.50)),
            p90_ms: ms(percentile(&latencies, 0.90)),
            p95_ms: ms(percentile(&latencies, 0.95)),
            p99_ms: ms(percentile(&latencies, 0.99)),
            max_ms: ms(latencies.last().copied().unwrap_or_default()),
        }
    }

    /// One line for a person reading a terminal.
    pub fn line(&self) -> String {
        let failed: usize = self.failed.values().sum();
        let mut line = format!(
            "{} connections, {:.1} s: {} ok ({}/s), p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.connections,
            self.seconds,
            self.ok,
            self.per_second,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms
        );
        if failed > 0 {
            let by_status: Vec<String> = self
                .failed
                .iter()
                .map(|(status, n)| format!("{status}: {n}"))
                .collect();
            line.push_str(&format!("; {failed} failed ({})", by_status.join(", ")));
        }
        line
    }
}

/// The tables a case's rows live in that the filler copies, with the
/// columns that hold a case id (prefixed in the copy) — every other column
/// is copied as it is.
pub const CASE_TABLES: &[(&str, &[&str])] = &[
    ("cases", &["id"]),
    ("case_tasks", &["case_id"]),
    ("case_events", &["case_id"]),
    ("case_timers", &["id", "case_id"]),
];

/// The prefix of every copied case id: copies are never copied again, and
/// can be told from real cases.
pub const FILL_PREFIX: &str = "fill-";

/// The statement that copies the rows of `table` belonging to the template
/// cases (those whose ids do not start with [`FILL_PREFIX`]) once, their
/// case ids prefixed with `fill-{round}-`. `columns` are the table's
/// columns in order; `id_columns` the ones holding a case id (or a row id
/// made unique the same way).
pub fn copy_statement(table: &str, columns: &[String], id_columns: &[&str], round: u64) -> String {
    let prefix = format!("{FILL_PREFIX}{round}-");
    let select: Vec<String> = columns
        .iter()
        .map(|column| {
            if id_columns.contains(&column.as_str()) {
                format!("'{prefix}' || {column}")
            } else {
                column.clone()
            }
        })
        .collect();
    let key = if table == "cases" { "id" } else { "case_id" };
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM {table} WHERE {key} NOT LIKE '{FILL_PREFIX}%'",
        columns.join(", "),
        select.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&sorted, 0.50), ms(50));
        assert_eq!(percentile(&sorted, 0.99), ms(99));
        assert_eq!(percentile(&sorted, 1.0), ms(100));
        assert_eq!(percentile(&[ms(7)], 0.99), ms(7));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn a_report_counts_what_succeeded_per_second_and_names_failures_by_status() {
        let failed = BTreeMap::from([("409".to_owned(), 2), ("error".to_owned(), 1)]);
        let report = Report::new(
            4,
            Duration::from_secs(2),
            vec![ms(30), ms(10), ms(20)],
            failed,
        );
        assert_eq!(report.ok, 3);
        assert_eq!(report.per_second, 2.0);
        assert_eq!(report.p50_ms, 20.0);
        assert_eq!(report.max_ms, 30.0);
        assert!(
            report.line().contains("3 failed (409: 2, error: 1)"),
            "{}",
            report.line()
        );
    }

    #[test]
    fn a_copy_prefixes_the_case_ids_and_copies_only_real_cases() {
        let columns = ["id", "case_id", "tenant_path", "kind"].map(str::to_owned);
        let sql = copy_statement("case_timers", &columns, &["id", "case_id"], 7);
        assert_eq!(
            sql,
            "INSERT INTO case_timers (id, case_id, tenant_path, kind) \
             SELECT 'fill-7-' || id, 'fill-7-' || case_id, tenant_path, kind \
             FROM case_timers WHERE case_id NOT LIKE 'fill-%'"
        );
        let sql = copy_statement("cases", &["id".to_owned(), "state".to_owned()], &["id"], 1);
        assert!(
            sql.ends_with("FROM cases WHERE id NOT LIKE 'fill-%'"),
            "{sql}"
        );
    }
}
