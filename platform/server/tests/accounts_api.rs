//! Account administration over HTTP on SQLite and PostgreSQL (issue 16):
//! the system administrator brings staff on and off within the subtree of
//! the grant, the security administrator grants roles, neither does the
//! other's duty, and every change is in the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use access::{Reply, World};
use axum::http::StatusCode;
use civitas_testkit::both_backends;
use serde_json::{Value, json};

const HUAMU: &str = "310000/310115/310115016";
const SHANGHAI: &str = "310000";

async fn as_(world: &World, who: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    world.call(method, path, Some(world.token(who)), body).await
}

fn wang_fang() -> Value {
    json!({
        "username": "huamu-wangfang", "kind": "staff", "line": "civil-affairs",
        "display_name": "王芳", "phone": "+86 138-0013-8000", "email": "Wang.Fang@Pudong.gov.cn",
        "employee_no": "HM-0042", "position": "民政专员"
    })
}

async fn create(world: &World, who: &str, tenant: &str, body: Value) -> Reply {
    as_(
        world,
        who,
        "POST",
        &format!("/api/v1/tenants/{tenant}/accounts"),
        Some(body),
    )
    .await
}

/// The audit actions `actor` recorded in `tenant`'s chain on
/// `account:{username}`, oldest first.
async fn audited(world: &World, tenant: &str, actor: &str, username: &str) -> Vec<String> {
    let reply = as_(
        world,
        "audit-admin",
        "GET",
        &format!("/api/v1/tenants/{tenant}/audit?actor={actor}&limit=200"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let target = format!("account:{username}");
    let mut actions: Vec<String> = reply.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["target"] == target.as_str())
        .map(|r| r["action"].as_str().unwrap().to_owned())
        .collect();
    actions.reverse();
    actions
}

both_backends! {
    async fn an_officer_is_brought_on_granted_disabled_enabled_and_unlocked(t) {
        let world = World::demo(&t).await;
        // The system administrator creates the officer at Huamu.
        let created = create(&world, "sys-admin", HUAMU, wang_fang()).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let account = &created.body["account"];
        assert_eq!(account["tenant"], HUAMU);
        assert_eq!(account["state"], "pending");
        assert_eq!(account["phone"], "138****8000", "masked");
        assert_eq!(account["email"], "w********@pudong.gov.cn", "normalised and masked");
        assert_eq!(account["roles"], json!([]));
        assert!(account["one_time_until"].is_string());
        let otp = created.body["one_time_password"].as_str().unwrap().to_owned();

        // Neither administrator does the other's duty.
        let grant = json!({"account": "huamu-wangfang", "line": "civil-affairs", "role": "officer"});
        let by_sys = as_(&world, "sys-admin", "POST", &format!("/api/v1/tenants/{HUAMU}/grants"), Some(grant.clone())).await;
        assert_eq!((by_sys.status, by_sys.code()), (StatusCode::CONFLICT, "separation_of_duties"), "{}", by_sys.body);
        let mut other = wang_fang();
        other["username"] = json!("huamu-lisi");
        other["employee_no"] = json!("HM-0043");
        for who in ["sec-admin", "audit-admin"] {
            let by = create(&world, who, HUAMU, other.clone()).await;
            assert_eq!((by.status, by.code()), (StatusCode::CONFLICT, "separation_of_duties"), "{who}: {}", by.body);
        }
        let by_officer = create(&world, "lujiazui-officer", HUAMU, other).await;
        assert_eq!((by_officer.status, by_officer.code()), (StatusCode::FORBIDDEN, "forbidden"));
        let granted = as_(&world, "sec-admin", "POST", &format!("/api/v1/tenants/{HUAMU}/grants"), Some(grant)).await;
        assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.body);

        // The officer signs in with the one-time password and must change it first.
        let first = world.login("huamu-wangfang", &otp).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(first.body["must_change_password"], true);
        let token = first.body["access_token"].as_str().unwrap().to_owned();
        let cases = format!("/api/v1/tenants/{HUAMU}/cases");
        let application = json!({"service": "civil-affairs/meal-subsidy", "data": {
            "birth_date": "1950-01-01", "household_registration": "local", "living_alone": false,
            "disability_grade": 0, "economic_status": "none"}});
        let early = world.call("POST", &cases, Some(&token), Some(application.clone())).await;
        assert_eq!((early.status, early.code()), (StatusCode::FORBIDDEN, "password_change_required"));
        let changed = world
            .call("POST", "/api/v1/auth/password", Some(&token),
                  Some(json!({"current_password": otp, "new_password": "Huamu#2026wf"})))
            .await;
        assert!(changed.status.is_success(), "{}", changed.body);
        let again = world.login("huamu-wangfang", &otp).await;
        assert_eq!(again.status, StatusCode::UNAUTHORIZED, "the one-time password is spent");
        let signed_in = world.login("huamu-wangfang", "Huamu#2026wf").await;
        assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
        assert_eq!(signed_in.body["must_change_password"], false);
        let token = signed_in.body["access_token"].as_str().unwrap().to_owned();

        // The officer acts on a case.
        let case = world.call("POST", &cases, Some(&token), Some(application)).await;
        assert_eq!(case.status, StatusCode::CREATED, "{}", case.body);

        // Disabled: the very next request is 401, and so is signing in.
        let account_path = format!("/api/v1/tenants/{HUAMU}/accounts/huamu-wangfang");
        let no_reason = as_(&world, "sys-admin", "POST", &format!("{account_path}/disable"), Some(json!({"reason": " "}))).await;
        assert_eq!((no_reason.status, no_reason.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));
        let disabled = as_(&world, "sys-admin", "POST", &format!("{account_path}/disable"),
                           Some(json!({"reason": "调离 / transferred"}))).await;
        assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
        assert_eq!((disabled.body["changed"].clone(), disabled.body["account"]["state"].clone()), (json!(true), json!("disabled")));
        let after = world.call("GET", &format!("{cases}?limit=1"), Some(&token), None).await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{}", after.body);
        assert_eq!(world.login("huamu-wangfang", "Huamu#2026wf").await.status, StatusCode::UNAUTHORIZED);
        let twice = as_(&world, "sys-admin", "POST", &format!("{account_path}/disable"),
                        Some(json!({"reason": "再次 / again"}))).await;
        assert_eq!(twice.body["changed"], false, "{}", twice.body);

        // Enabled again: signing in works.
        let enabled = as_(&world, "sys-admin", "POST", &format!("{account_path}/enable"), None).await;
        assert_eq!(enabled.body["account"]["state"], "active", "{}", enabled.body);
        assert_eq!(world.login("huamu-wangfang", "Huamu#2026wf").await.status, StatusCode::OK);

        // Five failures (from five addresses, past the per-address limit)
        // lock the account; the administrator unlocks it.
        for i in 1..=5 {
            let from = format!("10.9.0.{i}:4000").parse().ok();
            let body = json!({"username": "huamu-wangfang", "password": "wrong-Password1"});
            let failed = world.call_from("POST", "/api/v1/auth/login", None, Some(body), from).await;
            assert_eq!(failed.status, StatusCode::UNAUTHORIZED, "{}", failed.body);
        }
        assert_eq!(world.login("huamu-wangfang", "Huamu#2026wf").await.status, StatusCode::UNAUTHORIZED, "locked");
        let locked = as_(&world, "sys-admin", "GET", &format!("/api/v1/tenants/{HUAMU}/accounts?state=locked"), None).await;
        let names: Vec<&str> = locked.body["accounts"].as_array().unwrap().iter().map(|a| a["username"].as_str().unwrap()).collect();
        assert_eq!(names, ["huamu-wangfang"], "{}", locked.body);
        let unlocked = as_(&world, "sys-admin", "POST", &format!("{account_path}/unlock"), None).await;
        assert_eq!((unlocked.body["changed"].clone(), unlocked.body["account"]["state"].clone()), (json!(true), json!("active")), "{}", unlocked.body);
        let back = world.login("huamu-wangfang", "Huamu#2026wf").await;
        assert_eq!(back.status, StatusCode::OK, "{}", back.body);

        // A forgotten password: a new one-time password, old sessions end.
        let old_token = back.body["access_token"].as_str().unwrap().to_owned();
        let reset = as_(&world, "sys-admin", "POST", &format!("{account_path}/password-reset"), None).await;
        assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
        let new_otp = reset.body["one_time_password"].as_str().unwrap();
        assert_ne!(new_otp, otp);
        assert_eq!(world.call("GET", "/api/v1/me", Some(&old_token), None).await.status, StatusCode::UNAUTHORIZED);
        let with_new = world.login("huamu-wangfang", new_otp).await;
        assert_eq!((with_new.status, with_new.body["must_change_password"].clone()), (StatusCode::OK, json!(true)));

        // Every change is in Huamu's chain, by whoever made it.
        let trail = audited(&world, HUAMU, "sys-admin", "huamu-wangfang").await;
        assert_eq!(trail, [
            "account.create", "account.disable", "account.enable", "account.unlock", "account.password.reset",
        ], "{trail:?}");
    }

    async fn bad_requests_name_every_bad_field_and_create_nothing(t) {
        let world = World::demo(&t).await;
        let bad = create(&world, "sys-admin", HUAMU, json!({
            "username": "Wang Fang", "kind": "staff", "line": "market-regulation",
            "display_name": "", "phone": "12345", "email": "nobody", "employee_no": "工号 1"
        })).await;
        assert_eq!((bad.status, bad.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "{}", bad.body);
        let message = bad.body["message"]["en"].as_str().unwrap();
        for field in ["username", "line", "display_name", "phone", "email", "employee_no"] {
            assert!(message.contains(&format!("{field}:")), "{field} in {message}");
        }
        assert!(bad.body["message"]["zh"].as_str().unwrap().contains("手机号码格式不正确"));
        let citizen = create(&world, "sys-admin", HUAMU, json!({
            "username": "huamu-citizen", "kind": "citizen", "display_name": "群众"})).await;
        assert_eq!(citizen.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", citizen.body);
        let no_line = create(&world, "sys-admin", HUAMU, json!({
            "username": "huamu-noline", "kind": "staff", "display_name": "无条线"})).await;
        assert_eq!(no_line.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", no_line.body);
        let unknown = create(&world, "sys-admin", HUAMU, json!({
            "username": "huamu-x", "kind": "staff", "line": "civil-affairs", "display_name": "x", "extra": 1})).await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", unknown.body);
        let listed = as_(&world, "sys-admin", "GET", &format!("/api/v1/tenants/{HUAMU}/accounts"), None).await;
        assert_eq!(listed.body["accounts"], json!([]), "nothing was created: {}", listed.body);

        assert_eq!(create(&world, "sys-admin", HUAMU, wang_fang()).await.status, StatusCode::CREATED);
        let taken = create(&world, "sys-admin", HUAMU, wang_fang()).await;
        assert_eq!((taken.status, taken.code()), (StatusCode::CONFLICT, "username_taken"));
        let mut same_no = wang_fang();
        same_no["username"] = json!("huamu-other");
        let clash = create(&world, "sys-admin", HUAMU, same_no.clone()).await;
        assert_eq!((clash.status, clash.code()), (StatusCode::CONFLICT, "employee_no_taken"), "{}", clash.body);
        // Another tenant may use the same employee number.
        let elsewhere = create(&world, "sys-admin", "310000/310115/310115005", same_no).await;
        assert_eq!(elsewhere.status, StatusCode::CREATED, "{}", elsewhere.body);
        // An administrator cannot disable or reset themselves.
        let own = as_(&world, "sys-admin", "POST", &format!("/api/v1/tenants/{SHANGHAI}/accounts/sys-admin/disable"),
                      Some(json!({"reason": "x"}))).await;
        assert_eq!((own.status, own.code()), (StatusCode::CONFLICT, "own_account"));
    }

    async fn an_administrator_sees_and_changes_only_the_subtree_of_the_grant(t) {
        let world = World::demo(&t).await;
        assert_eq!(create(&world, "sys-admin", HUAMU, wang_fang()).await.status, StatusCode::CREATED);
        // From Lujiazui (a sibling of Huamu) the account does not exist.
        let lujiazui = "310000/310115/310115005";
        for (method, tail, body) in [
            ("GET", "", None),
            ("PATCH", "", Some(json!({"display_name": "x"}))),
            ("POST", "/disable", Some(json!({"reason": "x"}))),
            ("POST", "/unlock", None),
            ("POST", "/password-reset", None),
        ] {
            let reply = as_(&world, "sys-admin", method, &format!("/api/v1/tenants/{lujiazui}/accounts/huamu-wangfang{tail}"), body).await;
            assert_eq!((reply.status, reply.code()), (StatusCode::NOT_FOUND, "account_not_found"), "{method} {tail}: {}", reply.body);
        }
        // From Pudong (an ancestor) it does.
        let pudong = as_(&world, "sys-admin", "GET", "/api/v1/tenants/310000/310115/accounts/huamu-wangfang", None).await;
        assert_eq!(pudong.status, StatusCode::OK, "{}", pudong.body);
        // The security and audit administrators read it too.
        for who in ["sec-admin", "audit-admin"] {
            let read = as_(&world, who, "GET", &format!("/api/v1/tenants/{HUAMU}/accounts/huamu-wangfang"), None).await;
            assert_eq!(read.status, StatusCode::OK, "{who}: {}", read.body);
        }
    }

    async fn profiles_change_and_contact_data_stays_sealed(t) {
        let world = World::demo(&t).await;
        assert_eq!(create(&world, "sys-admin", HUAMU, wang_fang()).await.status, StatusCode::CREATED);
        let path = format!("/api/v1/tenants/{HUAMU}/accounts/huamu-wangfang");
        let changed = as_(&world, "sys-admin", "PATCH", &path,
                          Some(json!({"display_name": "王芳芳", "email": null, "position": "副科长"}))).await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
        assert_eq!(changed.body["display_name"], "王芳芳");
        assert_eq!(changed.body["email"], Value::Null);
        assert_eq!(changed.body["phone"], "138****8000", "kept");
        assert_eq!(changed.body["position"], "副科长");
        let bad = as_(&world, "sys-admin", "PATCH", &path, Some(json!({"phone": "abc"}))).await;
        assert_eq!((bad.status, bad.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));
        // Found by phone, exactly; the number is nowhere in clear.
        let found = as_(&world, "sys-admin", "GET", &format!("/api/v1/tenants/{HUAMU}/accounts?phone=13800138000"), None).await;
        assert_eq!(found.body["accounts"].as_array().map(Vec::len), Some(1), "{}", found.body);
        let none = as_(&world, "sys-admin", "GET", &format!("/api/v1/tenants/{HUAMU}/accounts?phone=13900139000"), None).await;
        assert_eq!(none.body["accounts"], json!([]));
        let mut tx = world.db.begin_platform_read().await.unwrap();
        let stored: (Option<String>, Option<String>) = civitas_storage::with_connection!(tx.connection(), c => {
            sqlx::query_as("SELECT phone, phone_index FROM accounts WHERE username = 'huamu-wangfang'")
                .fetch_one(&mut *c).await.unwrap()
        });
        assert!(!stored.0.unwrap().contains("13800138000"));
        assert!(!stored.1.unwrap().contains("13800138000"));
        // The audit record names the fields, never the values.
        let trail = as_(&world, "audit-admin", "GET",
                        &format!("/api/v1/tenants/{HUAMU}/audit?action=account.update"), None).await;
        let detail = trail.body["records"][0]["detail"].to_string();
        assert!(detail.contains("display_name") && !detail.contains("王芳芳"), "{detail}");
    }

    async fn lists_filter_by_kind_line_state_and_role_and_page(t) {
        let world = World::demo(&t).await;
        for i in 0..5 {
            let body = json!({"username": format!("huamu-staff-{i}"), "kind": "staff", "line": "civil-affairs",
                              "display_name": format!("员工{i}")});
            assert_eq!(create(&world, "sys-admin", HUAMU, body).await.status, StatusCode::CREATED);
        }
        let service = json!({"username": "huamu-system", "kind": "service", "display_name": "花木系统"});
        let created = create(&world, "sys-admin", HUAMU, service).await;
        assert_eq!(created.body["one_time_password"], Value::Null, "a service account has no password");
        assert_eq!(created.body["account"]["state"], "active");
        let base = format!("/api/v1/tenants/{HUAMU}/accounts");
        let mut seen = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let uri = match &next { Some(c) => format!("{base}?limit=2&after={c}"), None => format!("{base}?limit=2") };
            let page = as_(&world, "sec-admin", "GET", &uri, None).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            seen.extend(page.body["accounts"].as_array().unwrap().iter().map(|a| a["username"].as_str().unwrap().to_owned()));
            match page.body["next"].as_str() { Some(c) => next = Some(c.to_owned()), None => break }
        }
        assert_eq!(seen, ["huamu-staff-0", "huamu-staff-1", "huamu-staff-2", "huamu-staff-3", "huamu-staff-4", "huamu-system"]);
        let services = as_(&world, "sec-admin", "GET", &format!("{base}?kind=service"), None).await;
        assert_eq!(services.body["accounts"].as_array().map(Vec::len), Some(1));
        let pending = as_(&world, "sec-admin", "GET", &format!("{base}?state=pending&line=civil-affairs"), None).await;
        assert_eq!(pending.body["accounts"].as_array().map(Vec::len), Some(5));
        let granted = as_(&world, "sec-admin", "POST", &format!("/api/v1/tenants/{HUAMU}/grants"),
                          Some(json!({"account": "huamu-staff-3", "line": "civil-affairs", "role": "reviewer"}))).await;
        assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.body);
        let reviewers = as_(&world, "sec-admin", "GET", &format!("{base}?role=reviewer"), None).await;
        let names: Vec<&str> = reviewers.body["accounts"].as_array().unwrap().iter().map(|a| a["username"].as_str().unwrap()).collect();
        assert_eq!(names, ["huamu-staff-3"]);
        for bad in ["?state=asleep", "?kind=robot", "?limit=0", "?after=xyz", "?phone=12"] {
            let reply = as_(&world, "sec-admin", "GET", &format!("{base}{bad}"), None).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}: {}", reply.body);
        }
    }

    async fn a_key_belongs_to_a_service_account_the_system_administrator_created(t) {
        let world = World::demo(&t).await;
        let pudong = "310000/310115";
        let request = json!({"account": "pudong-directory", "name": "通讯录 / directory", "actions": ["staff.read"]});
        let early = as_(&world, "sec-admin", "POST", &format!("/api/v1/tenants/{pudong}/api-keys"), Some(request.clone())).await;
        assert_eq!((early.status, early.code()), (StatusCode::UNPROCESSABLE_ENTITY, "not_service_account"), "{}", early.body);
        let created = create(&world, "sys-admin", pudong,
                             json!({"username": "pudong-directory", "kind": "service", "display_name": "浦东通讯录"})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let issued = as_(&world, "sec-admin", "POST", &format!("/api/v1/tenants/{pudong}/api-keys"), Some(request)).await;
        assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
        let secret = issued.body["secret"].as_str().unwrap().to_owned();
        let staff = format!("/api/v1/tenants/{pudong}/staff?line=civil-affairs");
        assert_eq!(world.call("GET", &staff, Some(&secret), None).await.status, StatusCode::OK);
        // Disabling the service account stops its keys at once.
        let disabled = as_(&world, "sys-admin", "POST", &format!("/api/v1/tenants/{pudong}/accounts/pudong-directory/disable"),
                           Some(json!({"reason": "系统下线 / retired"}))).await;
        assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
        assert_eq!(world.call("GET", &staff, Some(&secret), None).await.status, StatusCode::UNAUTHORIZED);
        let reset = as_(&world, "sys-admin", "POST", &format!("/api/v1/tenants/{pudong}/accounts/pudong-directory/password-reset"), None).await;
        assert_eq!((reset.status, reset.code()), (StatusCode::CONFLICT, "wrong_account_kind"));
    }
}
