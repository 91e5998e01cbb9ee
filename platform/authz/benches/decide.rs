//! The authorization decision at the scale of the issue — 16 districts ×
//! 215 streets, 10,000 users, 100,000 grants — with the index, beside
//! Casbin's own `enforce` on the same model and policies in the same run.
//!
//!     cargo bench -p civitas-authz --bench decide
//!
//! Prints p50/p99 per decision for the index (100,000 random requests,
//! timed one by one) and for `enforce` (a small sample: each takes
//! milliseconds), and their ratio.

// A benchmark panics on impossible setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use casbin::prelude::*;
use civitas_authz::{ALL_LINES, Authorizer, BASE_POLICY, Grant, NO_LINE, Permissions};
use civitas_tenancy::TenantPath;

#[path = "../tests/oracle/mod.rs"]
mod oracle;

use oracle::{Lcg, casbin};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Shanghai: 16 districts × 215 streets (street codes 001–215).
    let mut tenants = vec![TenantPath::parse("310000").unwrap()];
    for d in 1..=16 {
        let district = format!("310000/3101{d:02}");
        tenants.push(TenantPath::parse(&district).unwrap());
        for s in 1..=215 {
            tenants.push(TenantPath::parse(&format!("{district}/3101{d:02}{s:03}")).unwrap());
        }
    }
    let permissions = Permissions::parse(BASE_POLICY).unwrap();
    let roles: Vec<String> = permissions.roles().map(str::to_owned).collect();
    let actions: Vec<String> = permissions
        .actions()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let lines = [
        "civil-affairs",
        "hr-social-security",
        "housing",
        "market-regulation",
        ALL_LINES,
    ];
    let mut rng = Lcg(42);
    // 100,000 grants over 10,000 users; most on streets, some on districts.
    let grants: Vec<Grant> = (0..100_000)
        .map(|_| {
            let tenant = if rng.next(10) == 0 {
                tenants[1 + 216 * rng.next(16)].clone() // a district
            } else {
                tenants[1 + rng.next(tenants.len() - 1)].clone()
            };
            Grant {
                account: format!("user-{}", rng.next(10_000)),
                tenant,
                line: lines[rng.next(lines.len())].to_owned(),
                role: roles[rng.next(roles.len())].clone(),
            }
        })
        .collect();
    // Half the requests come from staff acting where they hold a grant
    // (its tenant or a street below it), half are arbitrary (mostly denied).
    let request_lines = ["civil-affairs", "housing", NO_LINE];
    let requests: Vec<(String, TenantPath, &str, String)> = (0..100_000)
        .map(|i| {
            let action = actions[rng.next(actions.len())].clone();
            let line = request_lines[rng.next(request_lines.len())];
            if i % 2 == 0 {
                let grant = &grants[rng.next(grants.len())];
                let below: Vec<&TenantPath> = tenants
                    .iter()
                    .filter(|t| t.is_within(&grant.tenant))
                    .collect();
                (
                    grant.account.clone(),
                    below[rng.next(below.len())].clone(),
                    line,
                    action,
                )
            } else {
                (
                    format!("user-{}", rng.next(10_000)),
                    tenants[rng.next(tenants.len())].clone(),
                    line,
                    action,
                )
            }
        })
        .collect();

    let started = Instant::now();
    let authorizer = Authorizer::new(permissions, grants.clone());
    let built = started.elapsed();
    let mut times = Vec::with_capacity(requests.len());
    let mut allowed = 0usize;
    for (account, tenant, line, action) in &requests {
        let t = Instant::now();
        let ok = std::hint::black_box(authorizer.allows(account, tenant, line, action));
        times.push(t.elapsed());
        allowed += usize::from(ok);
    }
    times.sort();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));

    let started = Instant::now();
    let enforcer = casbin(&grants).await;
    let casbin_load = started.elapsed();
    let mut casbin_times = Vec::new();
    for (account, tenant, line, action) in requests.iter().take(20) {
        let t = Instant::now();
        let expected = enforcer
            .enforce((account.as_str(), tenant.as_str(), *line, action.as_str()))
            .unwrap();
        casbin_times.push(t.elapsed());
        assert_eq!(
            expected,
            authorizer.allows(account, tenant, line, action),
            "the index and enforce disagree"
        );
    }
    casbin_times.sort();
    let (c50, c99) = (
        percentile(&casbin_times, 0.5),
        percentile(&casbin_times, 0.99),
    );

    println!(
        "authorization decision, 3,457 tenants, 10,000 users, 100,000 grants ({allowed} of 100,000 requests allowed)"
    );
    println!("| decider | p50 | p99 | load |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| civitas-authz index | {:.2} µs | {:.2} µs | {:.0} ms |",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        built.as_secs_f64() * 1e3
    );
    println!(
        "| Casbin enforce (20 requests) | {:.1} ms | {:.1} ms | {:.0} ms |",
        c50.as_secs_f64() * 1e3,
        c99.as_secs_f64() * 1e3,
        casbin_load.as_secs_f64() * 1e3
    );
    println!(
        "ratio (enforce / index) at p50: {:.0}×",
        c50.as_secs_f64() / p50.as_secs_f64().max(1e-9)
    );
}
