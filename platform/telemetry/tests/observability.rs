//! The alert rules and the dashboard in `infra/observability` name only
//! metrics `/metrics` serves: a renamed or removed series fails here, not
//! silently in an operator's Prometheus.

use std::collections::BTreeSet;
use std::time::Duration;

use civitas_telemetry::HttpMetrics;
use civitas_telemetry::ops::{Backlog, OutcomeCounts, PoolReading, Readings};

/// Every series name a full scrape can show.
fn served() -> BTreeSet<String> {
    let http = HttpMetrics::new();
    http.observe("GET", "/healthz", 200, Duration::from_millis(1));
    let sign_ins = OutcomeCounts::default();
    sign_ins.add("ok");
    let backlog = Some(Backlog {
        waiting: 1,
        oldest_seconds: 1.0,
    });
    let readings = Readings {
        version: "0",
        database: "postgres",
        pool: Some(PoolReading::default()),
        timers: backlog,
        notification_outbox: Some(0),
        notifications_unsent: Some(0),
        search: backlog,
        search_roles: vec![("applying", 1), ("rebuilding", 0)],
        change_listener: Some((true, 0)),
        audit_unanchored: backlog,
        tenant_keys: vec![("active".to_owned(), 1)],
        module_calls: vec![("ok", 1)],
        module_fuel: 1,
        module_confined_lanes: 0,
        sign_ins: sign_ins.snapshot(),
        unreadable: vec!["timers"],
    };
    let text = civitas_telemetry::ops::exposition(&[http.render(), readings.render()]);
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| line.split(['{', ' ']).next().unwrap_or_default().to_owned())
        .collect()
}

/// The `civitas_…` metric names a file mentions.
fn named_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("civitas_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn alert_rules_and_the_dashboard_name_only_served_metrics() {
    let served = served();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/observability");
    for file in ["alerts.yml", "grafana-dashboard.json"] {
        let text =
            std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let named = named_in(&text);
        assert!(named.len() >= 10, "{file} names {named:?}");
        let unknown: Vec<&String> = named.difference(&served).collect();
        assert!(
            unknown.is_empty(),
            "{file} names metrics /metrics does not serve: {unknown:?}\nserved: {served:?}"
        );
    }
}
