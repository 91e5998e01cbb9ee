//! A tree of any depth over HTTP on SQLite and PostgreSQL (issue 16): a
//! community and a unit node under Lujiazui hold their own cases and staff;
//! the Lujiazui officer's grant covers them, an officer of one community
//! sees nothing of its sibling, and the street step of a flow lands on
//! Lujiazui from below.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use access::{Reply, World};
use axum::http::StatusCode;
use civitas_testkit::both_backends;
use serde_json::{Value, json};

const COMMUNITY_1: &str = "310000/310115/310115005/310115005001";
const COMMUNITY_2: &str = "310000/310115/310115005/310115005002";
const CENTRE: &str = "310000/310115/310115005/U-LJZ01";

fn application() -> Value {
    json!({"service": "civil-affairs/meal-subsidy", "data": {
        "birth_date": "1954-03-02", "household_registration": "local", "living_alone": false,
        "disability_grade": 0, "economic_status": "none"}})
}

async fn as_(world: &World, who: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    world.call(method, path, Some(world.token(who)), body).await
}

/// An officer of `tenant`, brought on by the system administrator and
/// granted by the security administrator; signed in with a new password.
async fn officer(world: &mut World, tenant: &str, username: &str) {
    let created = as_(
        world,
        "sys-admin",
        "POST",
        &format!("/api/v1/tenants/{tenant}/accounts"),
        Some(json!({
            "username": username, "kind": "staff", "line": "civil-affairs", "display_name": username
        })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let granted = as_(
        world,
        "sec-admin",
        "POST",
        &format!("/api/v1/tenants/{tenant}/grants"),
        Some(json!({
            "account": username, "line": "civil-affairs", "role": "officer"
        })),
    )
    .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.body);
    let otp = created.body["one_time_password"].as_str().unwrap();
    world
        .sign_in_with_new_password(username, otp, "Civitas#2026-new")
        .await;
}

both_backends! {
    async fn communities_and_units_hold_their_own_cases_within_the_street(t) {
        let mut world = World::demo(&t).await;
        // The tree answers with the new levels.
        let centre = world.call("GET", "/api/v1/tenants/shanghai/pudong/lujiazui/service-centre", None, None).await;
        assert_eq!(centre.status, StatusCode::OK, "{}", centre.body);
        assert_eq!(centre.body["tenant"]["level"], "unit");
        assert_eq!(centre.body["tenant"]["path"], CENTRE);
        let community = world.call("GET", "/api/v1/tenants/shanghai/pudong/lujiazui/community-1", None, None).await;
        assert_eq!(community.body["tenant"]["level"], "community");

        officer(&mut world, COMMUNITY_1, "c1-officer").await;
        officer(&mut world, COMMUNITY_2, "c2-officer").await;
        officer(&mut world, CENTRE, "centre-officer").await;

        // A citizen applies at the community and at the service centre.
        let mut cases = Vec::new();
        for tenant in [COMMUNITY_1, CENTRE] {
            let created = as_(&world, "citizen-demo", "POST", &format!("/api/v1/tenants/{tenant}/cases"), Some(application())).await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
            assert_eq!(created.body["tenant_path"], tenant);
            // The flow's street step finds the street above the node.
            assert_eq!(created.body["step"], "street-review");
            cases.push(created.body["id"].as_str().unwrap().to_owned());
        }
        let case_at = |i: usize| format!("/api/v1/tenants/{}/cases/{}", [COMMUNITY_1, CENTRE][i], cases[i]);

        // The Lujiazui officer's grant covers both nodes: the task is theirs.
        for i in 0..2 {
            let read = as_(&world, "lujiazui-officer", "GET", &case_at(i), None).await;
            assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        }
        let inbox = as_(&world, "lujiazui-officer", "GET", "/api/v1/inbox", None).await;
        let waiting: Vec<&str> = inbox.body["items"].as_array().unwrap().iter().map(|i| i["case_id"].as_str().unwrap()).collect();
        assert!(cases.iter().all(|c| waiting.contains(&c.as_str())), "{}", inbox.body);

        // Each node's own officer reads its case; siblings are refused.
        assert_eq!(as_(&world, "c1-officer", "GET", &case_at(0), None).await.status, StatusCode::OK);
        assert_eq!(as_(&world, "centre-officer", "GET", &case_at(1), None).await.status, StatusCode::OK);
        for (who, i) in [("c2-officer", 0), ("c2-officer", 1), ("c1-officer", 1), ("centre-officer", 0)] {
            let refused = as_(&world, who, "GET", &case_at(i), None).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{who} on case {i}: {}", refused.body);
        }
        // Nor do they list the street's cases or each other's staff.
        let street = as_(&world, "c1-officer", "GET", "/api/v1/tenants/310000/310115/310115005/cases", None).await;
        assert_eq!(street.status, StatusCode::FORBIDDEN);
        let staff = as_(&world, "c1-officer", "GET", &format!("/api/v1/tenants/{COMMUNITY_2}/staff"), None).await;
        assert_eq!(staff.status, StatusCode::FORBIDDEN);

        // The street officer approves the community's case up to Pudong.
        let approved = as_(&world, "lujiazui-officer", "POST", &format!("{}/actions", case_at(0)), Some(json!({"action": "approve"}))).await;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
        assert_eq!(approved.body["step"], "district-approval");
    }
}

const DAZHU: &str = "510000/511700/511724";
const EMPLOYMENT_CENTRE: &str = "510000/511700/511724/U-DZJY01";
const INSURANCE_CENTRE: &str = "510000/511700/511724/U-DZSB01";

both_backends! {
    async fn a_subordinate_unit_is_a_subsystem_with_its_own_system_administrator(t) {
        let mut world = World::demo(&t).await;
        // Sichuan's system administrator brings on the unit's own; Sichuan's
        // security administrator gives them the system administrator's duty
        // on the unit alone. Shanghai's administrators reach nothing here.
        let created = as_(&world, "sc-sys-admin", "POST", &format!("/api/v1/tenants/{EMPLOYMENT_CENTRE}/accounts"), Some(json!({
            "username": "dzjy-admin", "kind": "staff", "line": "hr-social-security", "display_name": "就业服务中心系统管理员"
        }))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let shanghai = as_(&world, "sys-admin", "GET", &format!("/api/v1/tenants/{EMPLOYMENT_CENTRE}/accounts"), None).await;
        assert_eq!(shanghai.status, StatusCode::FORBIDDEN);
        let granted = as_(&world, "sc-sec-admin", "POST", &format!("/api/v1/tenants/{EMPLOYMENT_CENTRE}/grants"), Some(json!({
            "account": "dzjy-admin", "line": "*", "role": "sys-admin"
        }))).await;
        assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.body);
        let otp = created.body["one_time_password"].as_str().unwrap();
        world.sign_in_with_new_password("dzjy-admin", otp, "Dazhu#2026-jy").await;

        // Within the unit they administer; outside it they are refused.
        let staff = |tenant: &str, username: &str| (format!("/api/v1/tenants/{tenant}/accounts"), json!({
            "username": username, "kind": "staff", "line": "hr-social-security", "display_name": username
        }));
        let (uri, body) = staff(EMPLOYMENT_CENTRE, "dzjy-clerk");
        let own = as_(&world, "dzjy-admin", "POST", &uri, Some(body)).await;
        assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
        for tenant in [INSURANCE_CENTRE, DAZHU] {
            let (uri, body) = staff(tenant, "dzjy-intruder");
            let refused = as_(&world, "dzjy-admin", "POST", &uri, Some(body)).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{tenant}: {}", refused.body);
        }
        let listed = as_(&world, "dzjy-admin", "GET", &format!("/api/v1/tenants/{EMPLOYMENT_CENTRE}/accounts"), None).await;
        let names: Vec<&str> = listed.body["accounts"].as_array().unwrap().iter().map(|a| a["username"].as_str().unwrap()).collect();
        assert_eq!(names, ["dzjy-admin", "dzjy-clerk"]);
        let sibling = as_(&world, "dzjy-admin", "GET", &format!("/api/v1/tenants/{INSURANCE_CENTRE}/accounts"), None).await;
        assert_eq!(sibling.status, StatusCode::FORBIDDEN);
        // And the unit's administrator grants nothing (三员分立 holds in a subsystem too).
        let grant = as_(&world, "dzjy-admin", "POST", &format!("/api/v1/tenants/{EMPLOYMENT_CENTRE}/grants"), Some(json!({
            "account": "dzjy-clerk", "line": "hr-social-security", "role": "officer"
        }))).await;
        assert_eq!(grant.status, StatusCode::CONFLICT, "{}", grant.body);
    }
}
