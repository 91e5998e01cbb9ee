//! What operators page on beyond HTTP requests, in the Prometheus text
//! format: the readings one scrape of `/metrics` takes (the database pool,
//! timers, notices, search, the change listener, audit anchoring, key
//! rotation, module calls, sign-in attempts, the build), rendered fresh
//! each time. Nothing here reads a database: the API fills [`Readings`].

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Counts by outcome, kept as things happen (sign-in attempts).
#[derive(Debug, Default)]
pub struct OutcomeCounts(Mutex<BTreeMap<&'static str, u64>>);

impl OutcomeCounts {
    /// Counts one `outcome`.
    pub fn add(&self, outcome: &'static str) {
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(outcome)
            .or_default() += 1;
    }

    /// Every outcome counted so far, in outcome order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(outcome, n)| (*outcome, *n))
            .collect()
    }
}

/// The database pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolReading {
    /// Connections open.
    pub open: u32,
    /// Of them, idle.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
    /// Transactions waiting to begin now.
    pub waiting: i64,
    /// Transactions begun since the start.
    pub begun: u64,
    /// Their time to begin, summed, seconds.
    pub begin_seconds: f64,
    /// Attempts to begin that failed.
    pub failed: u64,
}

/// A queue of work due: how much, and how long the oldest has waited.
#[derive(Debug, Clone, Copy, Default)]
pub struct Backlog {
    /// Items waiting.
    pub waiting: i64,
    /// Seconds the oldest has waited (0 when none).
    pub oldest_seconds: f64,
}

/// What one scrape read. A reading that could not be taken is `None` and
/// named in `unreadable` (details in the log), never shown as zero.
#[derive(Debug, Clone, Default)]
pub struct Readings {
    /// The build's version.
    pub version: &'static str,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    /// The database pool.
    pub pool: Option<PoolReading>,
    /// Workflow timers due and not fired.
    pub timers: Option<Backlog>,
    /// Notices: case events not fanned out yet.
    pub notification_outbox: Option<i64>,
    /// Notices: deliveries not sent yet (due or retrying).
    pub notifications_unsent: Option<i64>,
    /// Search: changes not indexed yet, and the oldest one's age.
    pub search: Option<Backlog>,
    /// Search: what this node's index does with the changes, each role
    /// with 1 for the current one and 0 for the others (none when the node
    /// has no search).
    pub search_roles: Vec<(&'static str, i64)>,
    /// Whether the node hears other nodes' changes (`None`: it does not
    /// listen, SQLite or turned off), and how often it connected again.
    pub change_listener: Option<(bool, u64)>,
    /// Audit records no signed anchor covers yet, and the oldest's age.
    pub audit_unanchored: Option<Backlog>,
    /// Tenant keys by state (`active`, `retiring`: a rotation in progress,
    /// `retired`).
    pub tenant_keys: Vec<(String, i64)>,
    /// Module calls by outcome (`ok` or the failure's code).
    pub module_calls: Vec<(&'static str, u64)>,
    /// Fuel used by the module calls that answered.
    pub module_fuel: u64,
    /// Lanes (a tenant and a module version) whose calls run one at a time
    /// after one ran out of fuel or time.
    pub module_confined_lanes: u64,
    /// Sign-in attempts by outcome (`ok`, `rejected`, `throttled`,
    /// `undecryptable_password`): never the cause of a refusal, which
    /// would tell which names exist.
    pub sign_ins: Vec<(&'static str, u64)>,
    /// Readings that could not be taken this time.
    pub unreadable: Vec<&'static str>,
}

/// One exposition of several rendered registries: each one's closing
/// `# EOF` taken off, one at the end (OpenMetrics allows only one).
pub fn exposition(parts: &[String]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(part.strip_suffix("# EOF\n").unwrap_or(part));
    }
    out.push_str("# EOF\n");
    out
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Role {
    role: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reading {
    reading: String,
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g = Gauge::<i64>::default();
    g.set(value);
    registry.register(name, help, g);
}

fn seconds(registry: &mut Registry, name: &str, help: &str, value: f64) {
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(value);
    registry.register(name, help, g);
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn by_label<L, I>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    values: I,
    label: fn(String) -> L,
) where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
    I: IntoIterator<Item = (String, u64)>,
{
    let family = Family::<L, Counter>::default();
    for (key, n) in values {
        family.get_or_create(&label(key)).inc_by(n);
    }
    registry.register(name, help, family);
}

fn backlog(registry: &mut Registry, name: &str, what: &str, backlog: Option<Backlog>) {
    if let Some(b) = backlog {
        gauge(registry, name, &format!("{what}: waiting"), b.waiting);
        seconds(
            registry,
            &format!("{name}_oldest_seconds"),
            &format!("{what}: how long the oldest has waited"),
            b.oldest_seconds,
        );
    }
}

impl Readings {
    /// The readings in the Prometheus text exposition format, under the
    /// `civitas_` prefix.
    pub fn render(&self) -> String {
        let mut registry = Registry::with_prefix("civitas");
        registry.register(
            "build",
            "The running build",
            Info::new(vec![
                ("version".to_owned(), self.version.to_owned()),
                ("database".to_owned(), self.database.to_owned()),
            ]),
        );
        if let Some(p) = self.pool {
            gauge(
                &mut registry,
                "db_pool_open_connections",
                "Database connections open",
                i64::from(p.open),
            );
            gauge(
                &mut registry,
                "db_pool_idle_connections",
                "Database connections open and idle",
                i64::from(p.idle),
            );
            gauge(
                &mut registry,
                "db_pool_max_connections",
                "The most connections the pool opens",
                i64::from(p.max),
            );
            gauge(
                &mut registry,
                "db_begin_waiting",
                "Transactions waiting to begin (for a connection, or SQLite's write lock)",
                p.waiting,
            );
            counter(&mut registry, "db_begun", "Transactions begun", p.begun);
            let waited = Counter::<f64, AtomicU64>::default();
            waited.inc_by(p.begin_seconds);
            registry.register(
                "db_begin_seconds",
                "Time spent beginning transactions, summed (divide by civitas_db_begun_total)",
                waited,
            );
            counter(
                &mut registry,
                "db_begin_failures",
                "Transactions that could not begin (pool timeout, database down)",
                p.failed,
            );
        }
        backlog(
            &mut registry,
            "timers_due",
            "Workflow timers due and not fired",
            self.timers,
        );
        if let Some(n) = self.notification_outbox {
            gauge(
                &mut registry,
                "notification_outbox",
                "Case events applicants should hear of, not fanned out yet",
                n,
            );
        }
        if let Some(n) = self.notifications_unsent {
            gauge(
                &mut registry,
                "notifications_unsent",
                "Notice deliveries not sent yet (due or waiting to retry)",
                n,
            );
        }
        backlog(
            &mut registry,
            "search_pending",
            "Changes not in the search index yet",
            self.search,
        );
        if !self.search_roles.is_empty() {
            let family = Family::<Role, Gauge>::default();
            for (role, n) in &self.search_roles {
                family
                    .get_or_create(&Role {
                        role: (*role).to_owned(),
                    })
                    .set(*n);
            }
            registry.register(
                "search_index_role",
                "1 for what this node's search index does with the changes: applying, standing_by (another node's embedded index applies them), rebuilding, waiting",
                family,
            );
        }
        if let Some((listening, reconnects)) = self.change_listener {
            gauge(
                &mut registry,
                "change_listener_up",
                "1 while the node hears other nodes' changes as they commit (LISTEN)",
                i64::from(listening),
            );
            counter(
                &mut registry,
                "change_listener_reconnects",
                "Times the listening connection was made again after a loss",
                reconnects,
            );
        }
        backlog(
            &mut registry,
            "audit_unanchored_records",
            "Audit records no signed anchor covers yet",
            self.audit_unanchored,
        );
        if !self.tenant_keys.is_empty() {
            let family = Family::<State, Gauge>::default();
            for (state, n) in &self.tenant_keys {
                family
                    .get_or_create(&State {
                        state: state.clone(),
                    })
                    .set(*n);
            }
            registry.register(
                "tenant_keys",
                "Tenant data and index keys by state (retiring: a rotation in progress)",
                family,
            );
        }
        by_label(
            &mut registry,
            "module_calls",
            "Module calls by outcome (ok, or the failure's stable code)",
            self.module_calls
                .iter()
                .map(|(outcome, n)| ((*outcome).to_owned(), *n)),
            |outcome| Outcome { outcome },
        );
        counter(
            &mut registry,
            "module_fuel_used",
            "Fuel used by module calls that answered",
            self.module_fuel,
        );
        gauge(
            &mut registry,
            "module_confined_lanes",
            "Tenant and module-version lanes running one call at a time after a call ran out of fuel or time",
            i64::try_from(self.module_confined_lanes).unwrap_or(i64::MAX),
        );
        by_label(
            &mut registry,
            "sign_in_attempts",
            "Sign-in attempts by outcome (ok, rejected, throttled, undecryptable_password)",
            self.sign_ins
                .iter()
                .map(|(outcome, n)| ((*outcome).to_owned(), *n)),
            |outcome| Outcome { outcome },
        );
        if !self.unreadable.is_empty() {
            let family = Family::<Reading, Gauge>::default();
            for reading in &self.unreadable {
                family
                    .get_or_create(&Reading {
                        reading: (*reading).to_owned(),
                    })
                    .set(1);
            }
            registry.register(
                "metrics_unreadable",
                "Readings this scrape could not take (see the log)",
                family,
            );
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reading_is_one_named_series_and_a_missing_one_is_named_not_zero() {
        let sign_ins = OutcomeCounts::default();
        sign_ins.add("ok");
        sign_ins.add("rejected");
        sign_ins.add("ok");
        let readings = Readings {
            version: "1.2.3",
            database: "postgres",
            pool: Some(PoolReading {
                open: 7,
                idle: 5,
                max: 20,
                waiting: 1,
                begun: 900,
                begin_seconds: 0.25,
                failed: 0,
            }),
            timers: Some(Backlog {
                waiting: 3,
                oldest_seconds: 12.5,
            }),
            change_listener: Some((true, 2)),
            search_roles: vec![("applying", 0), ("standing_by", 1)],
            tenant_keys: vec![("active".to_owned(), 40), ("retiring".to_owned(), 2)],
            module_calls: vec![("ok", 10), ("fuel_exhausted", 1)],
            module_fuel: 12345,
            module_confined_lanes: 1,
            sign_ins: sign_ins.snapshot(),
            unreadable: vec!["audit_unanchored"],
            ..Readings::default()
        };
        let text = readings.render();
        for line in [
            r#"civitas_build_info{version="1.2.3",database="postgres"} 1"#,
            "civitas_db_pool_open_connections 7",
            "civitas_db_begin_waiting 1",
            "civitas_db_begun_total 900",
            "civitas_timers_due 3",
            "civitas_timers_due_oldest_seconds 12.5",
            r#"civitas_search_index_role{role="standing_by"} 1"#,
            r#"civitas_search_index_role{role="applying"} 0"#,
            "civitas_change_listener_up 1",
            "civitas_change_listener_reconnects_total 2",
            r#"civitas_tenant_keys{state="retiring"} 2"#,
            r#"civitas_module_calls_total{outcome="fuel_exhausted"} 1"#,
            "civitas_module_fuel_used_total 12345",
            "civitas_module_confined_lanes 1",
            r#"civitas_sign_in_attempts_total{outcome="ok"} 2"#,
            r#"civitas_sign_in_attempts_total{outcome="rejected"} 1"#,
            r#"civitas_metrics_unreadable{reading="audit_unanchored"} 1"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
        // Not read is not zero: no series at all.
        assert!(
            !text.contains("civitas_audit_unanchored_records "),
            "{text}"
        );
        assert!(!text.contains("civitas_search_pending"), "{text}");
    }
}
