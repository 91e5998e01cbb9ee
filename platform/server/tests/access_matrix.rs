//! Who may call which route where: every route × principal × tenant
//! relation, from a table a reader can review (`access/matrix.txt`).
//!
//! Relations are taken from each principal's own node: `own`, its parent
//! (`ancestor`), a child (`descendant`), another child of its parent
//! (`sibling`) and a node in another district (or, for a root, another
//! province). `allow` means the request passed authorization (any answer
//! but 401/403: 200, 201, 204, or 404 for a resource not in that subtree);
//! `deny` means 403 `forbidden`; `duty` means 409 `separation_of_duties`
//! (another administrator of 三员分立 asking for this one's duty); `401`
//! means 401 `unauthenticated`; `-`
//! means the relation does not exist for that principal.
//!
//! Adding a route without adding it to the table (or to
//! [`WITHOUT_TENANT`]) fails [`every_route_is_in_the_table`].
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use access::World;
use axum::http::StatusCode;
use civitas_testkit::both_backends;
use serde_json::{Value, json};

const TABLE: &str = include_str!("access/matrix.txt");

/// Routes that act on no tenant's data: public ones, and those on the
/// caller's own account. Each has its own tests (api.rs, binary.rs and
/// `routes_without_a_tenant_need_only_what_they_say` below).
const WITHOUT_TENANT: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
    ("get", "/api/docs"),
    ("get", "/api/docs/rapidoc-min.js"),
    ("get", "/api/v1/tenants"),
    ("get", "/api/v1/tenants/{path}"),
    ("post", "/api/v1/tenants/resolve"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/password"),
    ("post", "/api/v1/auth/register"),
    ("get", "/.well-known/civitas/platform-key"),
    ("get", "/api/v1/me"),
    // The caller's own real-name verification, and where the identity
    // provider sends the person back (access_api.rs, binary.rs).
    ("post", "/api/v1/me/verification"),
    ("get", "/api/v1/auth/verification/callback"),
    // The module registry is platform-wide: publishing needs module.publish
    // at a root (module_api.rs specifies who may), reading any sign-in.
    ("get", "/api/v1/services"),
    ("put", "/api/v1/services/{line}/{name}/default"),
    ("get", "/api/v1/signing-keys"),
    ("post", "/api/v1/signing-keys"),
    ("delete", "/api/v1/signing-keys/{id}"),
    ("get", "/api/v1/modules"),
    ("post", "/api/v1/modules"),
    ("get", "/api/v1/modules/{name}/{version}"),
    ("get", "/api/v1/modules/{name}/{version}/artifact"),
    ("post", "/api/v1/modules/{name}/{version}/yank"),
    // The caller's own tasks at the tenants of its grants (workflow_api.rs),
    // and the flows (public metadata, like the tree).
    ("get", "/api/v1/inbox"),
    ("get", "/api/v1/inbox/export"),
    ("get", "/api/v1/flows"),
    // Search filters by the caller's own reach inside the query, and a
    // tenant's services are public (search_api.rs, and the reach property
    // in search/indexer/tests/reach.rs).
    ("get", "/api/v1/search"),
    ("get", "/api/v1/tenants/{path}/services/search"),
    ("get", "/api/v1/tenants/{path}/services/search-token"),
    // A lottery is published so that anyone can check it (workflow_api.rs).
    ("get", "/api/v1/tenants/{path}/lotteries/{id}"),
    // Anyone verifies a sealed document against the platform's root
    // certificate, which anyone may fetch (documents_api.rs).
    ("post", "/api/v1/documents/verify"),
    ("get", "/api/v1/documents/root-certificate"),
    // The caller's own message centre and notification settings
    // (notifications_api.rs).
    ("get", "/api/v1/me/messages"),
    ("post", "/api/v1/me/messages/{id}/read"),
    ("get", "/api/v1/me/messages/export"),
    ("get", "/api/v1/me/notification-settings"),
    ("put", "/api/v1/me/notification-settings"),
];

struct Row<'a> {
    route: &'a str,
    principal: &'a str,
    cells: [&'a str; 5],
}

fn rows() -> Vec<Row<'static>> {
    TABLE
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let parts: Vec<&str> = line.split('|').map(str::trim).collect();
            assert_eq!(parts.len(), 7, "malformed row: {line}");
            Row {
                route: parts[0],
                principal: parts[1],
                cells: [parts[2], parts[3], parts[4], parts[5], parts[6]],
            }
        })
        .collect()
}

/// The five relations' tenants for a principal, by its own node.
fn relations(principal: &str) -> [Option<&'static str>; 5] {
    const CITY: [Option<&str>; 5] = [
        Some("310000"),
        None,
        Some("310000/310115"),
        Some("510000"),
        Some("510000/511700"),
    ];
    const PUDONG: [Option<&str>; 5] = [
        Some("310000/310115"),
        Some("310000"),
        Some("310000/310115/310115005"),
        Some("310000/310101"),
        Some("310000/310101/310101002"),
    ];
    // Lujiazui's descendant is a community (a level below the street).
    const LUJIAZUI: [Option<&str>; 5] = [
        Some("310000/310115/310115005"),
        Some("310000/310115"),
        Some("310000/310115/310115005/310115005001"),
        Some("310000/310115/310115016"),
        Some("310000/310101/310101002"),
    ];
    // A community's sibling is a unit node (the street's service centre):
    // isolation holds between nodes of any level.
    const COMMUNITY: [Option<&str>; 5] = [
        Some("310000/310115/310115005/310115005001"),
        Some("310000/310115/310115005"),
        None,
        Some("310000/310115/310115005/U-LJZ01"),
        Some("310000/310101/310101002"),
    ];
    const HUANGPU: [Option<&str>; 5] = [
        Some("310000/310101"),
        Some("310000"),
        Some("310000/310101/310101002"),
        Some("310000/310115"),
        Some("310000/310115/310115005"),
    ];
    match principal {
        "city-admin" | "sys-admin" | "sec-admin" | "audit-admin" | "module-dev" => CITY,
        "pudong-reviewer" | "enterprise-demo" | "service-key" | "anonymous" => PUDONG,
        "lujiazui-officer" | "citizen-demo" => LUJIAZUI,
        "community-officer" => COMMUNITY,
        "huangpu-reviewer" => HUANGPU,
        other => panic!("unknown principal in the table: {other}"),
    }
}

/// The request a cell sends: method, URI and body, for `tenant`.
fn request(
    route: &str,
    tenant: &str,
    serial: u32,
    resident: &str,
) -> (String, String, Option<Value>) {
    let (method, path) = route.split_once(' ').unwrap();
    let uri = match route {
        "GET /api/v1/tenants/{t}/staff" => format!("/api/v1/tenants/{tenant}/staff"),
        "GET /api/v1/tenants/{t}/bindings" => format!("/api/v1/tenants/{tenant}/bindings"),
        "PUT /api/v1/tenants/{t}/bindings/{line}/{name}"
        | "DELETE /api/v1/tenants/{t}/bindings/{line}/{name}" => {
            format!("/api/v1/tenants/{tenant}/bindings/civil-affairs/meal-subsidy")
        }
        "POST /api/v1/tenants/{t}/bindings/{line}/{name}/rollback" => {
            format!("/api/v1/tenants/{tenant}/bindings/civil-affairs/meal-subsidy/rollback")
        }
        "POST /api/v1/tenants/{t}/services/{line}/{name}/evaluate" => {
            format!("/api/v1/tenants/{tenant}/services/civil-affairs/meal-subsidy/evaluate")
        }
        "POST /api/v1/tenants/{t}/services/{line}/{name}/evaluate-batch" => {
            format!("/api/v1/tenants/{tenant}/services/civil-affairs/meal-subsidy/evaluate-batch")
        }
        "POST /api/v1/tenants/{t}/services/{line}/{name}/what-if" => {
            format!("/api/v1/tenants/{tenant}/services/civil-affairs/meal-subsidy/what-if")
        }
        // A report that exists nowhere: past authorization a 404.
        "GET /api/v1/tenants/{t}/services/{line}/{name}/what-if/{id}" => format!(
            "/api/v1/tenants/{tenant}/services/civil-affairs/meal-subsidy/what-if/00000000-0000-0000-0000-000000000000"
        ),
        "POST /api/v1/tenants/{t}/lotteries/{id}/draw" => {
            format!("/api/v1/tenants/{tenant}/lotteries/no-such-lottery/draw")
        }
        "GET /api/v1/tenants/{t}/services/{line}/{name}/waiting-list" => {
            format!("/api/v1/tenants/{tenant}/services/housing/talent-apartment/waiting-list")
        }
        // A case id that exists nowhere: past authorization it is a 404.
        r if r.contains("/cases/{id}") => {
            let (_, tail) = path.split_once("{id}").unwrap();
            let tail = tail
                .replace("{attachment}", "00000000-0000-0000-0000-0000000000aa")
                .replace("{kind}", "penalty-decision");
            format!("/api/v1/tenants/{tenant}/cases/00000000-0000-0000-0000-000000000000{tail}")
        }
        // A delivery that exists nowhere: past authorization a 404.
        r if r.contains("/notification-deliveries/{id}") => path
            .replace("{t}", tenant)
            .replace("{id}", "no-such-delivery"),
        // A seal that exists nowhere: past authorization a 404.
        r if r.contains("/seals/{id}") => {
            path.replace("{t}", tenant).replace("{id}", "no-such-seal")
        }
        // The resident registered in Lujiazui: elsewhere past authorization a 404.
        r if r.contains("/residents/{id}") => path.replace("{t}", tenant).replace("{id}", resident),
        "DELETE /api/v1/tenants/{t}/grants/{account}/{line}/{role}" => {
            format!("/api/v1/tenants/{tenant}/grants/matrix-target/civil-affairs/officer")
        }
        // A key id that exists nowhere: past authorization it is a 404.
        r if r.contains("/api-keys/{id}") => path
            .replace("{t}", tenant)
            .replace("{id}", "00000000000000ff"),
        // An account that exists nowhere: past authorization it is a 404.
        r if r.contains("/settings/{key}") => path
            .replace("{t}", tenant)
            .replace("{key}", "meal-subsidy.local-top-up"),
        r if r.contains("{username}") => path
            .replace("{t}", tenant)
            .replace("{username}", "matrix-nobody"),
        r if r.contains("{t}") => path.replace("{t}", tenant),
        _ => path.to_owned(),
    };
    let body = match route {
        "POST /api/v1/tenants/{t}/grants" => Some(json!({
            "account": "matrix-target", "line": "civil-affairs", "role": "officer"
        })),
        "POST /api/v1/tenants/{t}/residents" => Some(json!({
            "name": "矩阵居民", "id_number": access::id_number(serial), "phone": "13800138000"
        })),
        "POST /api/v1/tenants/{t}/residents/search" => Some(json!({"phone": "13800138000"})),
        // Lujiazui's resident (born 1980: entitled to nothing); elsewhere
        // past authorization a 404.
        "PUT /api/v1/tenants/{t}/residents/{id}/population" => Some(json!({
            "household": "local", "disability_grade": 0, "deceased": false
        })),
        "PUT /api/v1/tenants/{t}/settings/{key}" => Some(json!({"value": 250})),
        "POST /api/v1/tenants/{t}/accounts/{username}/verify" => {
            Some(json!({"id_number": access::id_number(99)}))
        }
        "POST /api/v1/tenants/{t}/accounts/{username}/release-identity" => {
            Some(json!({"reason": "matrix"}))
        }
        "PUT /api/v1/tenants/{t}/bindings/{line}/{name}" => {
            Some(json!({"module": "meal-subsidy", "version": "1.0.0"}))
        }
        "POST /api/v1/tenants/{t}/cases" => Some(json!({
            "service": "civil-affairs/meal-subsidy",
            "data": {"birth_date": "1950-01-01", "household_registration": "local",
                     "living_alone": false, "disability_grade": 0, "economic_status": "none"}
        })),
        "POST /api/v1/tenants/{t}/cases/{id}/rating" => Some(json!({"score": 5})),
        "POST /api/v1/tenants/{t}/cases/{id}/issued-documents/{kind}" => {
            Some(json!({"fields": {"fine_yuan": 1}}))
        }
        // A line no seal is made for in the demo: the first allowed call
        // makes one, the next are 409 seal_exists (allowed too).
        "POST /api/v1/tenants/{t}/seals" => {
            Some(json!({"line": "civil-affairs", "name": "权限矩阵测试印章"}))
        }
        "POST /api/v1/tenants/{t}/cases/{id}/actions" => {
            Some(json!({"action": "approve", "version": 1}))
        }
        "POST /api/v1/tenants/{t}/cases/{id}/attachments" => Some(json!({
            "name": "户口簿.pdf", "media_type": "application/pdf", "size": 1024,
            "sm3": "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        })),
        "POST /api/v1/tenants/{t}/services/{line}/{name}/evaluate" => Some(json!({
            "input": {"birth_date": "1950-01-01", "household_registration": "local",
                      "living_alone": false, "disability_grade": 0, "economic_status": "none"},
            "as_of": "2026-11-23"
        })),
        "POST /api/v1/tenants/{t}/services/{line}/{name}/what-if" => {
            Some(json!({"candidate": "meal-subsidy@1.0.0"}))
        }
        // Nothing waits for this project: past authorization a 422.
        "POST /api/v1/tenants/{t}/lotteries" => Some(json!({
            "title": "权限矩阵测试 / access matrix test", "service": "housing/talent-apartment",
            "project": "矩阵项目", "unit_type": "studio", "units": 1, "draw_on": "2099-01-01",
            "public_value": "矩阵 / matrix", "value_decimals": 2
        })),
        // A lottery that exists nowhere: a 404 to anyone signed in (a
        // lottery is public; its line decides who draws it, tested in
        // workflow_api.rs).
        "POST /api/v1/tenants/{t}/lotteries/{id}/draw" => Some(json!({"value": "1"})),
        // Nothing imported for the month: past authorization a 404. (The
        // import is sent JSON, not a sheet: past authorization a 415.)
        "POST /api/v1/tenants/{t}/wage-arrears/runs" => Some(json!({"month": "2026-11"})),
        "POST /api/v1/tenants/{t}/services/{line}/{name}/evaluate-batch" => Some(json!({
            "inputs": [{"birth_date": "1950-01-01", "household_registration": "local",
                        "living_alone": false, "disability_grade": 0, "economic_status": "none"}],
            "as_of": "2026-11-23"
        })),
        "POST /api/v1/tenants/{t}/cases/{id}/reveal" => {
            Some(json!({"reason": "权限矩阵测试 / access matrix test"}))
        }
        "POST /api/v1/tenants/{t}/residents/{id}/reveal" => {
            Some(json!({"reason": "权限矩阵测试 / access matrix test"}))
        }
        "POST /api/v1/tenants/{t}/accounts" => Some(json!({
            "username": format!("matrix-account-{serial}"), "kind": "service",
            "display_name": "矩阵 / matrix"
        })),
        "PATCH /api/v1/tenants/{t}/accounts/{username}" => {
            Some(json!({"display_name": "矩阵 / matrix"}))
        }
        "POST /api/v1/tenants/{t}/accounts/{username}/disable" => {
            Some(json!({"reason": "权限矩阵测试 / access matrix test"}))
        }
        "POST /api/v1/tenants/{t}/api-keys" => Some(json!({
            "account": format!("matrix-svc-{serial}"), "name": "矩阵 / matrix",
            "actions": ["resident.read"]
        })),
        _ => None,
    };
    (method.to_owned(), uri, body)
}

#[test]
fn every_route_is_in_the_table() {
    let table: std::collections::BTreeSet<(String, String)> = rows()
        .iter()
        .map(|r| {
            let (method, path) = r.route.split_once(' ').unwrap();
            (method.to_lowercase(), path.replace("{t}", "{path}"))
        })
        .collect();
    let doc = serde_json::to_value(civitas_api::openapi()).unwrap();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let key = (method.clone(), path.clone());
            if !table.contains(&key) && !WITHOUT_TENANT.contains(&(method.as_str(), path.as_str()))
            {
                missing.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from access/matrix.txt: {missing:?}"
    );
    // And every principal is in the table for every route.
    for route in table {
        let principals = rows()
            .iter()
            .filter(|r| {
                let (m, p) = r.route.split_once(' ').unwrap();
                (m.to_lowercase(), p.replace("{t}", "{path}")) == route
            })
            .count();
        assert_eq!(
            principals, 13,
            "{route:?} needs a row for each of the 13 principals"
        );
    }
}

both_backends! {
    async fn the_access_matrix_holds(t) {
        let world = World::demo(&t).await;
        // A resident in Lujiazui for the per-resident routes, and a service
        // key on Pudong that may read residents and staff in every line.
        let registered = world
            .call(
                "POST",
                "/api/v1/tenants/310000/310115/310115005/residents",
                Some(world.token("lujiazui-officer")),
                Some(json!({"name": "张三", "id_number": access::id_number(999)})),
            )
            .await;
        assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.body);
        let resident = registered.body["id"].as_str().unwrap().to_owned();
        let service = world
            .issue_key(json!({
                "account": "pudong-matrix-svc", "name": "矩阵服务 / matrix service",
                "tenant": "310000/310115", "actions": ["resident.read", "staff.read", "service.evaluate", "case.read"]
            }))
            .await;

        let mut serial = 0;
        let mut failures = Vec::new();
        for row in rows() {
            let tenants = relations(row.principal);
            for (cell, tenant) in row.cells.iter().zip(tenants) {
                let Some(tenant) = tenant else {
                    assert_eq!(*cell, "-", "{} {}: a relation with no tenant", row.route, row.principal);
                    continue;
                };
                assert_ne!(*cell, "-", "{} {}: cell for {tenant} is empty", row.route, row.principal);
                serial += 1;
                let (method, uri, body) = request(row.route, tenant, serial, &resident);
                let bearer = match row.principal {
                    "anonymous" => None,
                    "service-key" => Some(service.as_str()),
                    name => Some(world.token(name)),
                };
                let reply = world.call(&method, &uri, bearer, body).await;
                let status = reply.status.as_u16();
                let ok = match *cell {
                    "allow" => !matches!(status, 401 | 403) && status < 500 && reply.code() != "tenant_not_found"
                        && reply.code() != "separation_of_duties",
                    "deny" => status == 403 && reply.code() == "forbidden",
                    "duty" => status == 409 && reply.code() == "separation_of_duties",
                    "401" => status == 401 && reply.code() == "unauthenticated",
                    other => panic!("unknown cell {other:?}"),
                };
                if !ok {
                    failures.push(format!(
                        "{} as {} on {tenant}: expected {cell}, got {status} {}",
                        row.route, row.principal, reply.body
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{} cells failed:\n{}", failures.len(), failures.join("\n"));
    }
}
