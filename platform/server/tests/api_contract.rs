//! The holes a review of the HTTP API found (issue 15), each specified over
//! HTTP on SQLite and PostgreSQL: what used to be allowed and must not be,
//! and what must still work beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use access::{Reply, World};
use axum::http::StatusCode;
use civitas_storage::{TenantScope, with_connection};
use civitas_tenancy::TenantPath;
use civitas_testkit::both_backends;
use serde_json::{Value, json};

const LUJIAZUI: &str = "310000/310115/310115005";
const PUDONG: &str = "310000/310115";
const HUANGPU: &str = "310000/310101";
const SHANGHAI: &str = "310000";

/// A 72-year-old local elder: eligible.
fn application() -> Value {
    json!({"birth_date": "1954-03-02", "household_registration": "local", "living_alone": false,
           "disability_grade": 0, "economic_status": "none"})
}

async fn as_(world: &World, who: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    world.call(method, path, Some(world.token(who)), body).await
}

/// A meal-subsidy case filed by the Lujiazui officer on an elder's behalf.
async fn staff_case(world: &World) -> String {
    let created = as_(
        world,
        "lujiazui-officer",
        "POST",
        &format!("/api/v1/tenants/{LUJIAZUI}/cases"),
        Some(json!({"service": "civil-affairs/meal-subsidy", "data": application()})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

both_backends! {
    // Finding 1: the security administrator alone cannot mint a key that
    // reads personal data. Such a key is issued pending, does not work, and
    // only a second person of the tenant (its administrator) approves it.
    async fn a_personal_data_key_needs_a_second_person(t) {
        let world = World::demo(&t).await;
        world.service_account(PUDONG, "pudong-data-pull").await;
        world.service_account(PUDONG, "pudong-directory").await;
        let issued = as_(&world, "sec-admin", "POST", &format!("/api/v1/tenants/{PUDONG}/api-keys"),
            Some(json!({"account": "pudong-data-pull", "name": "数据抽取 / data pull",
                        "actions": ["resident.read", "resident.reveal"], "lines": ["civil-affairs"]}))).await;
        assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
        assert_eq!(issued.body["key"]["pending"], true);
        let id = issued.body["key"]["id"].as_str().unwrap().to_owned();
        let secret = issued.body["secret"].as_str().unwrap().to_owned();
        let residents = format!("/api/v1/tenants/{PUDONG}/residents");
        let before = world.call("GET", &residents, Some(&secret), None).await;
        assert_eq!((before.status, before.code()), (StatusCode::UNAUTHORIZED, "api_key_invalid"), "{}", before.body);
        let approve = format!("/api/v1/tenants/{PUDONG}/api-keys/{id}/approve");
        let alone = as_(&world, "sec-admin", "POST", &approve, None).await;
        assert_eq!(alone.status, StatusCode::FORBIDDEN, "{}", alone.body);
        let reviewer = as_(&world, "pudong-reviewer", "POST", &approve, None).await;
        assert_eq!((reviewer.status, reviewer.code()), (StatusCode::FORBIDDEN, "forbidden"), "{}", reviewer.body);
        let approved = as_(&world, "city-admin", "POST", &approve, None).await;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
        assert_eq!((approved.body["pending"].clone(), approved.body["approved_by"].clone()), (json!(false), json!("city-admin")));
        let twice = as_(&world, "city-admin", "POST", &approve, None).await;
        assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "key_not_pending"));
        let after = world.call("GET", &residents, Some(&secret), None).await;
        assert_eq!(after.status, StatusCode::OK, "{}", after.body);
        let audit = as_(&world, "audit-admin", "GET", &format!("/api/v1/tenants/{PUDONG}/audit?action=service_key.approve"), None).await;
        assert_eq!(audit.body["records"].as_array().map(Vec::len), Some(1), "{}", audit.body);
        // A key that reaches no personal data works at once.
        let staff_key = as_(&world, "sec-admin", "POST", &format!("/api/v1/tenants/{PUDONG}/api-keys"),
            Some(json!({"account": "pudong-directory", "name": "通讯录 / directory", "actions": ["staff.read"]}))).await;
        assert_eq!(staff_key.body["key"]["pending"], false, "{}", staff_key.body);
        let secret = staff_key.body["secret"].as_str().unwrap();
        let staff = world.call("GET", &format!("/api/v1/tenants/{PUDONG}/staff?line=civil-affairs"), Some(secret), None).await;
        assert_eq!(staff.status, StatusCode::OK, "{}", staff.body);
    }

    // Finding 2: reading a case is not writing it. A key that may only
    // read cases can neither act on one nor attach to it; an officer of the
    // line who did not file a staff case cannot resubmit it.
    async fn reading_a_case_never_writes_it(t) {
        let world = World::demo(&t).await;
        let case = staff_case(&world).await;
        let reader = world
            .issue_key(json!({"account": "pudong-case-reader", "name": "只读办件 / read-only cases",
                              "tenant": PUDONG, "actions": ["case.read"], "lines": ["civil-affairs"]}))
            .await;
        let path = format!("/api/v1/tenants/{LUJIAZUI}/cases/{case}");
        let read = world.call("GET", &path, Some(&reader), None).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        let resubmit = world
            .call("POST", &format!("{path}/actions"), Some(&reader),
                  Some(json!({"action": "resubmit", "data": application()})))
            .await;
        assert_eq!((resubmit.status, resubmit.code()), (StatusCode::FORBIDDEN, "forbidden"), "{}", resubmit.body);
        let attach = world
            .call("POST", &format!("{path}/attachments"), Some(&reader),
                  Some(json!({"name": "a.pdf", "media_type": "application/pdf", "size": 1,
                              "sm3": "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"})))
            .await;
        assert_eq!((attach.status, attach.code()), (StatusCode::FORBIDDEN, "forbidden"), "{}", attach.body);

        // Returned to its creator for correction: only the creator resubmits.
        let returned = as_(&world, "lujiazui-officer", "POST", &format!("{path}/actions"),
            Some(json!({"action": "return", "reason": "材料不全，请补充", "version": 1}))).await;
        assert_eq!(returned.status, StatusCode::OK, "{}", returned.body);
        let other = as_(&world, "pudong-reviewer", "POST", &format!("{path}/actions"),
            Some(json!({"action": "resubmit", "data": application()}))).await;
        assert_eq!((other.status, other.code()), (StatusCode::FORBIDDEN, "not_your_step"), "{}", other.body);
        let creator = as_(&world, "lujiazui-officer", "POST", &format!("{path}/actions"),
            Some(json!({"action": "resubmit", "data": application()}))).await;
        assert_eq!(creator.status, StatusCode::OK, "{}", creator.body);
        let attached = as_(&world, "lujiazui-officer", "POST", &format!("{path}/attachments"),
            Some(json!({"name": "户口簿.pdf", "media_type": "application/pdf", "size": 2048,
                        "sm3": "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"}))).await;
        assert_eq!(attached.status, StatusCode::CREATED, "{}", attached.body);
    }

    // Finding 3: applicants act through the `applicant` role of the
    // policy, which lets them file and follow their own cases and nothing
    // a staff role may do.
    async fn applicants_do_only_what_the_applicant_role_allows(t) {
        let world = World::demo(&t).await;
        let filed = as_(&world, "citizen-demo", "POST", &format!("/api/v1/tenants/{LUJIAZUI}/cases"),
            Some(json!({"service": "civil-affairs/meal-subsidy", "data": application()}))).await;
        assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
        let id = filed.body["id"].as_str().unwrap().to_owned();
        let own = as_(&world, "citizen-demo", "GET", &format!("/api/v1/tenants/{SHANGHAI}/cases/{id}"), None).await;
        assert_eq!(own.status, StatusCode::OK, "{}", own.body);
        // A warning is staff's to raise, notifications are staff's to read,
        // and a step's action is its actors'.
        let warning = as_(&world, "citizen-demo", "POST", &format!("/api/v1/tenants/{LUJIAZUI}/cases"),
            Some(json!({"service": "civil-affairs/meal-subsidy", "origin": "warning", "data": application()}))).await;
        assert_eq!(warning.status, StatusCode::FORBIDDEN, "{}", warning.body);
        let notices = as_(&world, "citizen-demo", "GET", &format!("/api/v1/tenants/{LUJIAZUI}/notifications"), None).await;
        assert_eq!(notices.status, StatusCode::FORBIDDEN, "{}", notices.body);
        let approve = as_(&world, "citizen-demo", "POST", &format!("/api/v1/tenants/{LUJIAZUI}/cases/{id}/actions"),
            Some(json!({"action": "approve"}))).await;
        assert_eq!((approve.status, approve.code()), (StatusCode::FORBIDDEN, "not_your_step"), "{}", approve.body);
        // Another applicant does not see it at all.
        let other = as_(&world, "enterprise-demo", "GET", &format!("/api/v1/tenants/{SHANGHAI}/cases/{id}"), None).await;
        assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.body);
    }

    // Finding 7: a district sends a lead that is not theirs back up; it
    // cannot hand it sideways to another district or down past the flow.
    async fn a_transfer_goes_only_where_the_flow_allows(t) {
        let world = World::demo(&t).await;
        let created = as_(&world, "city-hr-dispatcher", "POST", &format!("/api/v1/tenants/{SHANGHAI}/cases"),
            Some(json!({"service": "hr-social-security/wage-arrears-lead", "origin": "warning",
                        "title": "某建筑项目欠薪线索", "data": {"rule": "wage-arrears-3-months", "project": "张江某工地"}}))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let case = created.body["id"].as_str().unwrap().to_owned();
        let dispatched = as_(&world, "city-hr-dispatcher", "POST", &format!("/api/v1/tenants/{SHANGHAI}/cases/{case}/actions"),
            Some(json!({"action": "transfer", "to_tenant": "shanghai/pudong", "reason": "按属地分派"}))).await;
        assert_eq!(dispatched.status, StatusCode::OK, "{}", dispatched.body);
        for target in [HUANGPU, "310000/310101/310101002"] {
            let sideways = as_(&world, "pudong-hr-inspector", "POST", &format!("/api/v1/tenants/{PUDONG}/cases/{case}/actions"),
                Some(json!({"action": "transfer", "to_tenant": target, "reason": "直接转黄浦"}))).await;
            assert_eq!((sideways.status, sideways.code()), (StatusCode::UNPROCESSABLE_ENTITY, "transfer_target_not_allowed"),
                "{target}: {}", sideways.body);
        }
        let still = as_(&world, "pudong-hr-inspector", "GET", &format!("/api/v1/tenants/{PUDONG}/cases/{case}"), None).await;
        assert_eq!(still.body["tenant_path"], PUDONG, "nothing moved");
        let back = as_(&world, "pudong-hr-inspector", "POST", &format!("/api/v1/tenants/{PUDONG}/cases/{case}/actions"),
            Some(json!({"action": "transfer", "to_tenant": SHANGHAI, "reason": "非本辖区"}))).await;
        assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    }

    // Finding 8 (stored strings): reasons and titles are bounded, and the
    // bound is a 422 that names it, with nothing written.
    async fn stored_strings_are_bounded(t) {
        let world = World::demo(&t).await;
        let long_title = as_(&world, "lujiazui-officer", "POST", &format!("/api/v1/tenants/{LUJIAZUI}/cases"),
            Some(json!({"service": "civil-affairs/meal-subsidy", "title": "长".repeat(201), "data": application()}))).await;
        assert_eq!((long_title.status, long_title.code()), (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded"), "{}", long_title.body);
        let case = staff_case(&world).await;
        let path = format!("/api/v1/tenants/{LUJIAZUI}/cases/{case}");
        let long_reason = as_(&world, "lujiazui-officer", "POST", &format!("{path}/actions"),
            Some(json!({"action": "return", "reason": "由".repeat(501), "version": 1}))).await;
        assert_eq!((long_reason.status, long_reason.code()), (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded"), "{}", long_reason.body);
        let unchanged = as_(&world, "lujiazui-officer", "GET", &path, None).await;
        assert_eq!((unchanged.body["version"].clone(), unchanged.body["state"].clone()), (json!(1), json!("open")));
        let history = as_(&world, "lujiazui-officer", "GET", &format!("{path}/history?limit=0"), None).await;
        assert_eq!((history.status, history.code()), (StatusCode::BAD_REQUEST, "invalid_limit"));
        let bad_cursor = as_(&world, "lujiazui-officer", "GET", &format!("/api/v1/tenants/{LUJIAZUI}/cases?after=nonsense"), None).await;
        assert_eq!((bad_cursor.status, bad_cursor.code()), (StatusCode::BAD_REQUEST, "invalid_cursor"));
    }

    // Finding 10: a stored case whose state does not parse is an error,
    // never an open case someone could act on.
    async fn a_corrupt_case_is_an_error_not_an_open_case(t) {
        let world = World::demo(&t).await;
        let case = staff_case(&world).await;
        let path = format!("/api/v1/tenants/{LUJIAZUI}/cases/{case}");
        let closed = as_(&world, "lujiazui-officer", "POST", &format!("{path}/actions"),
            Some(json!({"action": "reject", "reason": "不符合条件", "version": 1}))).await;
        assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
        let scope = TenantScope::for_platform_task(TenantPath::parse(SHANGHAI).unwrap());
        let mut tx = t.db.begin(&scope).await.unwrap();
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE cases SET state = 'reopened' WHERE id = $1")
                .bind(case.clone())
                .execute(&mut *c)
                .await
                .unwrap();
        });
        tx.commit().await.unwrap();
        for reply in [
            as_(&world, "lujiazui-officer", "GET", &path, None).await,
            as_(&world, "lujiazui-officer", "GET", &format!("/api/v1/tenants/{LUJIAZUI}/cases"), None).await,
            as_(&world, "lujiazui-officer", "POST", &format!("{path}/actions"), Some(json!({"action": "approve"}))).await,
        ] {
            assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", reply.body);
        }
    }
}
