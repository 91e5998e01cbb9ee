//! The decision index says exactly what Casbin's own `enforce` says on
//! policies/model.conf and policies/base.csv, for a large random sample of
//! grants and requests (and for the cases that matter, by name).

// Tests panic on impossible setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod oracle;

use casbin::prelude::*;
use civitas_authz::{ALL_LINES, Authorizer, BASE_POLICY, Grant, NO_LINE, Permissions};
use civitas_tenancy::TenantPath;
use oracle::{Lcg, casbin};

/// Shanghai with 16 districts of 10 streets each, and Sichuan.
fn tenants() -> Vec<TenantPath> {
    let mut out = vec![
        TenantPath::parse("310000").unwrap(),
        TenantPath::parse("510000").unwrap(),
    ];
    for d in 1..=16 {
        let district = format!("310000/3101{d:02}");
        out.push(TenantPath::parse(&district).unwrap());
        for s in 1..=10 {
            out.push(TenantPath::parse(&format!("{district}/3101{d:02}{s:03}")).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn the_index_agrees_with_enforce_on_random_grants_and_requests() {
    let permissions = Permissions::parse(BASE_POLICY).unwrap();
    let roles: Vec<String> = permissions.roles().map(str::to_owned).collect();
    let mut actions: Vec<String> = permissions
        .actions()
        .into_iter()
        .map(str::to_owned)
        .collect();
    actions.push("no.such.action".to_owned());
    // Role names asked for as actions: Casbin's g() answers whether the role reaches them.
    actions.extend(roles.iter().cloned());
    let tenants = tenants();
    let lines = ["civil-affairs", "housing", ALL_LINES];
    let request_lines = ["civil-affairs", "housing", NO_LINE, ALL_LINES];
    let mut rng = Lcg(2026);
    let grants: Vec<Grant> = (0..600)
        .map(|_| Grant {
            account: format!("user-{}", rng.next(20)),
            tenant: tenants[rng.next(tenants.len())].clone(),
            line: lines[rng.next(lines.len())].to_owned(),
            role: roles[rng.next(roles.len())].clone(),
        })
        .collect();
    let enforcer = casbin(&grants).await;
    let authorizer = Authorizer::new(permissions, grants.clone());
    let (mut allowed, mut total) = (0, 0);
    for _ in 0..6000 {
        let account = format!("user-{}", rng.next(22)); // two never granted anything
        let tenant = &tenants[rng.next(tenants.len())];
        let line = request_lines[rng.next(request_lines.len())];
        let action = actions[rng.next(actions.len())].as_str();
        let expected = enforcer
            .enforce((account.as_str(), tenant.as_str(), line, action))
            .unwrap();
        let ours = authorizer.allows(&account, tenant, line, action);
        assert_eq!(ours, expected, "{account} {tenant} {line} {action}");
        allowed += usize::from(ours);
        total += 1;
    }
    // The sample exercises both answers, many times each.
    assert!(
        allowed >= 200 && total - allowed >= 200,
        "{allowed} of {total} allowed"
    );
}

#[tokio::test]
async fn the_scenarios_of_the_issue_decide_alike() {
    let grant = |account: &str, tenant: &str, line: &str, role: &str| Grant {
        account: account.into(),
        tenant: TenantPath::parse(tenant).unwrap(),
        line: line.into(),
        role: role.into(),
    };
    let grants = vec![
        grant(
            "pudong-reviewer",
            "310000/310115",
            "civil-affairs",
            "reviewer",
        ),
        grant(
            "lujiazui-officer",
            "310000/310115/310115005",
            "civil-affairs",
            "officer",
        ),
        grant("city-admin", "310000", ALL_LINES, "tenant-admin"),
        grant("audit-admin", "310000", ALL_LINES, "audit-admin"),
    ];
    let enforcer = casbin(&grants).await;
    let authorizer = Authorizer::new(Permissions::parse(BASE_POLICY).unwrap(), grants);
    let cases = [
        // A Pudong civil-affairs reviewer reviews in every Pudong street…
        (
            "pudong-reviewer",
            "310000/310115/310115005",
            "civil-affairs",
            "step.reviewer",
            true,
        ),
        (
            "pudong-reviewer",
            "310000/310115",
            "civil-affairs",
            "step.reviewer",
            true,
        ),
        // …not housing cases, never in Huangpu, not the city.
        (
            "pudong-reviewer",
            "310000/310115/310115005",
            "housing",
            "step.reviewer",
            false,
        ),
        (
            "pudong-reviewer",
            "310000/310101/310101002",
            "civil-affairs",
            "step.reviewer",
            false,
        ),
        (
            "pudong-reviewer",
            "310000",
            "civil-affairs",
            "case.read",
            false,
        ),
        // A street officer creates but does not review, only in the street.
        (
            "lujiazui-officer",
            "310000/310115/310115005",
            "civil-affairs",
            "case.create",
            true,
        ),
        (
            "lujiazui-officer",
            "310000/310115/310115005",
            "civil-affairs",
            "step.reviewer",
            false,
        ),
        (
            "lujiazui-officer",
            "310000/310115/310115004",
            "civil-affairs",
            "case.create",
            false,
        ),
        // The city administrator acts in every district and line.
        (
            "city-admin",
            "310000/310101/310101002",
            "housing",
            "step.reviewer",
            true,
        ),
        // The audit administrator reads audit and changes nothing.
        ("audit-admin", "310000/310115", NO_LINE, "audit.read", true),
        (
            "audit-admin",
            "310000/310115",
            NO_LINE,
            "grant.manage",
            false,
        ),
        (
            "audit-admin",
            "310000/310115",
            "civil-affairs",
            "step.reviewer",
            false,
        ),
    ];
    for (account, tenant, line, action, expected) in cases {
        let tenant = TenantPath::parse(tenant).unwrap();
        assert_eq!(
            enforcer
                .enforce((account, tenant.as_str(), line, action))
                .unwrap(),
            expected,
            "casbin: {account} {tenant} {line} {action}"
        );
        assert_eq!(
            authorizer.allows(account, &tenant, line, action),
            expected,
            "index: {account} {tenant} {line} {action}"
        );
    }
}

/// Applicants (citizens, enterprises) hold no grant: they act as if they
/// held the `applicant` role on every root in every line, and that is what
/// Casbin says too when given exactly those rules.
#[tokio::test]
async fn applicants_decide_as_the_applicant_role_on_every_root() {
    use civitas_storage::{AccessRequest, Decider};
    let permissions = Permissions::parse(BASE_POLICY).unwrap();
    let mut actions: Vec<String> = permissions
        .actions()
        .into_iter()
        .map(str::to_owned)
        .collect();
    actions.push("no.such.action".to_owned());
    let tenants = tenants();
    let roots: Vec<&TenantPath> = tenants.iter().filter(|t| t.parent().is_none()).collect();
    let grants: Vec<Grant> = (0..5)
        .flat_map(|i| {
            roots.iter().map(move |root| Grant {
                account: format!("citizen-{i}"),
                tenant: (*root).clone(),
                line: ALL_LINES.to_owned(),
                role: civitas_authz::APPLICANT_ROLE.to_owned(),
            })
        })
        .collect();
    let enforcer = casbin(&grants).await;
    // The applicant decider needs no grants at all.
    let authorizer = Authorizer::new(permissions, Vec::new());
    let mut rng = Lcg(80);
    let (mut allowed, mut total) = (0, 0);
    for _ in 0..2000 {
        let account = format!("citizen-{}", rng.next(5));
        let tenant = &tenants[rng.next(tenants.len())];
        let line = ["civil-affairs", "housing", NO_LINE][rng.next(3)];
        let action = actions[rng.next(actions.len())].as_str();
        let expected = enforcer
            .enforce((account.as_str(), tenant.as_str(), line, action))
            .unwrap();
        let ours = authorizer.applicant().allows(&AccessRequest {
            principal: &account,
            tenant,
            line,
            action,
        });
        assert_eq!(ours, expected, "{account} {tenant} {line} {action}");
        allowed += usize::from(ours);
        total += 1;
    }
    assert!(allowed > 50 && total - allowed > 50, "{allowed} of {total}");
    for never in ["case.read", "case.act", "resident.read", "grant.manage"] {
        assert!(
            !civitas_authz::Authorizer::new(Permissions::parse(BASE_POLICY).unwrap(), Vec::new())
                .applicant()
                .allows(&AccessRequest {
                    principal: "citizen-0",
                    tenant: &tenants[0],
                    line: "civil-affairs",
                    action: never,
                }),
            "an applicant may not {never}"
        );
    }
}
