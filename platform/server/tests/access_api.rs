//! Sign-in, API keys, registration, grants, audit and personal data over
//! HTTP, on SQLite and PostgreSQL: what each principal may do, and what is
//! recorded when it does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use access::{PASSWORD, World};
use axum::http::StatusCode;
use civitas_testkit::both_backends;
use serde_json::{Value, json};

/// Every item of a list, walked page by page with `limit` and `after`
/// (`uri` has a query already or not); each page holds at most `limit`
/// and only the last has no `next`.
async fn walk(
    world: &World,
    bearer: &str,
    uri: &str,
    field: &str,
    limit: u32,
) -> (Vec<Value>, usize) {
    let join = if uri.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    for pages in 1..=1000 {
        let page_uri = match &after {
            None => format!("{uri}{join}limit={limit}"),
            Some(cursor) => format!("{uri}{join}limit={limit}&after={cursor}"),
        };
        let reply = world.call("GET", &page_uri, Some(bearer), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{page_uri}: {}", reply.body);
        let page = reply.body[field].as_array().unwrap();
        assert!(
            page.len() <= limit as usize,
            "{page_uri}: {} items",
            page.len()
        );
        items.extend(page.iter().cloned());
        match reply.body["next"].as_str() {
            Some(next) => {
                assert_eq!(
                    page.len(),
                    limit as usize,
                    "{page_uri}: a page before the last is full"
                );
                after = Some(next.to_owned());
            }
            None => {
                assert!(reply.body.get("next").is_none_or(Value::is_null));
                return (items, pages);
            }
        }
    }
    panic!("{uri}: more than 1000 pages");
}

fn addr(s: &str) -> Option<std::net::SocketAddr> {
    Some(s.parse().unwrap())
}

both_backends! {
    async fn an_api_key_acts_only_within_its_subtree_actions_and_networks(t) {
        let world = World::demo(&t).await;
        let key = world
            .issue_key(json!({
                "account": "pudong-subsidy-system", "name": "浦东助餐补贴系统",
                "tenant": "shanghai/pudong", "actions": ["resident.read"],
                "lines": ["civil-affairs"], "allowed_ips": ["10.20.0.0/16", "192.168.1.7"]
            }))
            .await;
        assert!(key.starts_with("civ_"));
        let inside = addr("10.20.3.4:5000");
        // In scope: its subtree, its action, its line, its network.
        let ok = world
            .call_from("GET", "/api/v1/tenants/310000/310115/310115005/residents?line=civil-affairs", Some(&key), None, inside)
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        // Its one line is the default; an IPv4 client on an IPv6 listener matches.
        let single = world
            .call_from("GET", "/api/v1/tenants/310000/310115/residents", Some(&key), None, addr("[::ffff:192.168.1.7]:1"))
            .await;
        assert_eq!(single.status, StatusCode::OK, "{}", single.body);
        // Another district, another action, another line: 403.
        for uri in [
            "/api/v1/tenants/310000/310101/residents?line=civil-affairs",
            "/api/v1/tenants/310000/310115/staff?line=civil-affairs",
            "/api/v1/tenants/310000/310115/residents?line=housing",
        ] {
            let denied = world.call_from("GET", uri, Some(&key), None, inside).await;
            assert_eq!((denied.status, denied.code()), (StatusCode::FORBIDDEN, "forbidden"), "{uri}");
        }
        // From outside its networks, or with no known address: 401.
        for source in [addr("10.21.0.1:1"), None] {
            let refused = world
                .call_from("GET", "/api/v1/tenants/310000/310115/residents?line=civil-affairs", Some(&key), None, source)
                .await;
            assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "api_key_invalid"));
        }
        // A wrong secret for a real id, and garbage: the same 401.
        let (id, secret) = key.trim_start_matches("civ_").split_once('_').unwrap();
        for bad in [format!("civ_{id}_wrongsecret"), "civ_nothing".to_owned()] {
            let refused = world.call_from("GET", "/api/v1/me", Some(&bad), None, inside).await;
            assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "api_key_invalid"));
        }
        // Who am I, as a service.
        let me = world.call_from("GET", "/api/v1/me", Some(&key), None, inside).await;
        assert_eq!(me.body["kind"], "service");
        assert_eq!(me.body["api_key"]["actions"], json!(["resident.read"]));
        assert!(me.body["session_id"].is_null());
        // A service has no session or password.
        let logout = world.call_from("POST", "/api/v1/auth/logout", Some(&key), None, inside).await;
        assert_eq!(logout.code(), "not_for_services");

        // Every call is audited in the key's tenant chain; refusals in the realm's.
        let audit = world
            .call("GET", "/api/v1/tenants/310000/audit?action=service*&limit=200", Some(world.token("audit-admin")), None)
            .await;
        let records = audit.body["records"].as_array().unwrap();
        let calls = records.iter().filter(|r| r["action"] == "service.call").count();
        let rejects = records.iter().filter(|r| r["action"] == "service_key.reject").count();
        assert_eq!(calls, 7, "two allowed, three denied by scope, /me, logout");
        assert_eq!(rejects, 2, "the real key from outside its networks; keys naming no key are only counted");
        assert_eq!(world.flush_refused_keys().await, 2, "the wrong secret and the garbage");
        let summary = world
            .call("GET", "/api/v1/tenants/310000/audit?action=service_key.reject.summary", Some(world.token("audit-admin")), None)
            .await;
        let summary = &summary.body["records"][0];
        assert_eq!(summary["detail"]["keys"], json!({id: 1}), "the id part only");
        assert!(records.iter().chain([summary]).all(|r| !r.to_string().contains("wrongsecret")), "secrets are never recorded");

        // Revoked: the next call is refused.
        let listed = world
            .call("GET", "/api/v1/tenants/shanghai/pudong/api-keys", Some(world.token("sec-admin")), None)
            .await;
        assert_eq!(listed.body["keys"][0]["id"], id);
        assert!(!listed.body.to_string().contains(secret), "lists never show secrets");
        let revoked = world
            .call("DELETE", &format!("/api/v1/tenants/310000/310115/api-keys/{id}"), Some(world.token("sec-admin")), None)
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT);
        let again = world
            .call("DELETE", &format!("/api/v1/tenants/310000/310115/api-keys/{id}"), Some(world.token("sec-admin")), None)
            .await;
        assert_eq!(again.code(), "key_not_found");
        let refused = world
            .call_from("GET", "/api/v1/tenants/310000/310115/residents?line=civil-affairs", Some(&key), None, inside)
            .await;
        assert_eq!(refused.code(), "api_key_invalid");
    }

    async fn a_password_sealed_with_the_platform_key_signs_in_as_sm_crypto_sends_it(t) {
        use civitas_crypto::sm2::{CiphertextOrder, PrivateKey, PublicKey};
        let world = World::demo(&t).await;
        let key = world.call("GET", "/.well-known/civitas/platform-key", None, None).await;
        let platform = PublicKey::from_hex(key.body["public_key_hex"].as_str().unwrap()).unwrap();
        // sm-crypto's doEncrypt(password, key, 1): C1C3C2, hex, C1 without its 04.
        let seal = |to: &PublicKey, password: &str| {
            hex::encode(&to.encrypt(password.as_bytes(), CiphertextOrder::C1C3C2).unwrap()[1..])
        };
        let login = |body: Value| world.call("POST", "/api/v1/auth/login", None, Some(body));

        let signed_in = login(json!({"username": "pudong-reviewer", "password_sm2": seal(&platform, PASSWORD)})).await;
        assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
        let me = world.call("GET", "/api/v1/me", Some(signed_in.body["access_token"].as_str().unwrap()), None).await;
        assert_eq!(me.body["username"], "pudong-reviewer");
        // With C1's 04, as other libraries send it, too.
        let with_04 = hex::encode(platform.encrypt(PASSWORD.as_bytes(), CiphertextOrder::C1C3C2).unwrap());
        let signed_in = login(json!({"username": "pudong-reviewer", "password_sm2": with_04})).await;
        assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);

        // A wrong password, sealed, is a wrong password.
        let wrong = login(json!({"username": "pudong-reviewer", "password_sm2": seal(&platform, "Wrong#2026")})).await;
        assert_eq!((wrong.status, wrong.code()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
        // What does not decrypt with the platform's key — another key's
        // ciphertext, a flipped bit, not hex — is said to be so.
        let other = PrivateKey::generate().unwrap().public_key();
        let mut flipped = hex::decode(seal(&platform, PASSWORD)).unwrap();
        flipped[70] ^= 1;
        // (Each from an address of its own: a ciphertext that does not
        // decrypt counts as a failed attempt from its address.)
        for (i, bad) in [seal(&other, PASSWORD), hex::encode(flipped), "not hex".to_owned(), String::new()].into_iter().enumerate() {
            let source = addr(&format!("198.51.100.{}:1", 20 + i));
            let body = json!({"username": "pudong-reviewer", "password_sm2": bad});
            let refused = world.call_from("POST", "/api/v1/auth/login", None, Some(body), source).await;
            assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_password_ciphertext"), "{}", refused.body);
            assert!(!refused.body["message"]["zh"].as_str().unwrap().is_empty());
        }
        // One form or the other, not both.
        let both = login(json!({"username": "pudong-reviewer", "password": PASSWORD, "password_sm2": seal(&platform, PASSWORD)})).await;
        assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", both.body);
    }

    async fn a_page_session_outlives_its_token_while_the_session_is_open(t) {
        let world = World::demo(&t).await;
        const PORTAL: &str = "/t/shanghai/pudong/lujiazui/";
        // A session opened `ago` ago: its 5-minute access token long
        // expired, the cookie a browser would still send.
        let opened = |ago: chrono::Duration| {
            let world = &world;
            async move {
                let then = chrono::Utc::now() - ago;
                let account = civitas_identity::authenticate(&world.db, &world.sign_in, "citizen-demo", PASSWORD, then)
                    .await
                    .unwrap();
                civitas_identity::open_session(&world.db, &world.platform_key, &account, &world.sessions, then)
                    .await
                    .unwrap()
            }
        };
        let session_cookie = |reply: &access::Reply| -> Option<String> {
            reply.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
                v.strip_prefix("civitas_session=").map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
            })
        };
        let signed_in = |reply: &access::Reply| reply.body.as_str().unwrap_or_default().contains("已登录：citizen-demo");

        // Ten minutes in (idle 30): the page shows her signed in and the
        // answer carries a new token for the same session.
        let tokens = opened(chrono::Duration::minutes(10)).await;
        let page = world.page(PORTAL, Some(&format!("civitas_session={}", tokens.access_token))).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(signed_in(&page), "{}", page.body);
        let renewed = session_cookie(&page).expect("a renewed session cookie");
        assert_ne!(renewed, tokens.access_token);
        let key = world.platform_key.public_key();
        let claims = civitas_identity::decode_access(&key, &renewed, chrono::Utc::now()).unwrap();
        assert_eq!(claims.sid, tokens.session_id, "the same session");
        // The renewed token is current: used as it is, nothing is set.
        let page = world.page(PORTAL, Some(&format!("civitas_session={renewed}"))).await;
        assert!(signed_in(&page));
        assert_eq!(session_cookie(&page), None);
        // The API sees the same session: signing out there ends the page's.
        let out = world.call("POST", "/api/v1/auth/logout", Some(&renewed), None).await;
        assert!(out.status.is_success(), "{}", out.body);
        let page = world.page(PORTAL, Some(&format!("civitas_session={renewed}"))).await;
        assert!(!signed_in(&page), "{}", page.body);

        // Idle past 30 minutes, or no token of ours: signed out, cookie cleared.
        let idle = opened(chrono::Duration::minutes(40)).await;
        for cookie in [idle.access_token, "v1.forged.token".to_owned()] {
            let page = world.page(PORTAL, Some(&format!("civitas_session={cookie}"))).await;
            assert_eq!(page.status, StatusCode::OK);
            assert!(!signed_in(&page) && page.body.as_str().unwrap_or_default().contains("登录"));
            assert_eq!(session_cookie(&page).as_deref(), Some(""), "the cookie is cleared");
        }
    }

    async fn one_address_cannot_lock_an_account_out(t) {
        let world = World::demo(&t).await;
        let attacker = addr("203.0.113.66:4000");
        let login_from = |source, username: &str, password: &str| {
            world.call_from("POST", "/api/v1/auth/login", None, Some(json!({"username": username, "password": password})), source)
        };
        // Four wrong passwords on a real account: refused as always.
        for _ in 0..4 {
            let refused = login_from(attacker, "pudong-reviewer", "Wrong#2026").await;
            assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
        }
        // One more would lock it (5 within 15 minutes): the address is
        // answered before anything is checked or written, even with the
        // right password, and told when to come back.
        let written = world.audit_records().await;
        for password in ["Wrong#2026", PASSWORD] {
            let throttled = login_from(attacker, "pudong-reviewer", password).await;
            assert_eq!((throttled.status, throttled.code()), (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"));
            let retry: u64 = throttled.headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=15 * 60).contains(&retry), "{retry}");
            assert!(throttled.body["message"]["en"].as_str().unwrap().contains(&format!("{retry} seconds")));
            assert!(!throttled.body["message"]["zh"].as_str().unwrap().is_empty());
        }
        assert_eq!(world.audit_records().await, written, "a throttled attempt writes nothing");
        // The account is not locked: its owner signs in from another address.
        let owner = login_from(addr("198.51.100.7:5000"), "pudong-reviewer", PASSWORD).await;
        assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
        // Spraying other names from the attacker's address: 20 failures in all.
        for i in 0..16 {
            let refused = login_from(attacker, &format!("nobody-{i}"), "Wrong#2026").await;
            assert_eq!(refused.code(), "invalid_credentials", "{i}");
        }
        let sprayed = login_from(attacker, "nobody-99", "Wrong#2026").await;
        assert_eq!(sprayed.code(), "too_many_requests");
        // Successes do not count: one address signs in as often as it likes.
        let office = addr("198.51.100.8:1");
        for _ in 0..25 {
            assert_eq!(login_from(office, "lujiazui-officer", PASSWORD).await.status, StatusCode::OK);
        }
    }

    async fn refused_api_keys_write_nothing_each_and_are_audited_together(t) {
        let world = World::demo(&t).await;
        let before = world.audit_records().await;
        // 100 keys naming no key — malformed, or an id no key has — from 100
        // addresses: each refused, none written.
        for i in 0..100u32 {
            let bad = if i % 2 == 0 { format!("civ_garbage{i}") } else { format!("civ_{i:016x}_{}", "x".repeat(43)) };
            let source = addr(&format!("10.9.{}.{}:1", i / 200, i % 200 + 1));
            let refused = world.call_from("GET", "/api/v1/me", Some(&bad), None, source).await;
            assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "api_key_invalid"), "{bad}");
        }
        assert_eq!(world.audit_records().await, before, "no audit record per refused key");
        // One address presenting more than 20 a minute is answered before
        // its keys are looked at.
        let flood = addr("192.0.2.50:1");
        for _ in 0..20 {
            assert_eq!(world.call_from("GET", "/api/v1/me", Some("civ_nothing"), None, flood).await.code(), "api_key_invalid");
        }
        let throttled = world.call_from("GET", "/api/v1/me", Some("civ_nothing"), None, flood).await;
        assert_eq!((throttled.status, throttled.code()), (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"));
        let retry: u64 = throttled.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_eq!(world.audit_records().await, before);
        // The flush (serve: every minute) writes them as one record.
        assert_eq!(world.flush_refused_keys().await, 121);
        assert_eq!(world.flush_refused_keys().await, 0, "nothing twice");
        assert_eq!(world.audit_records().await, before + 1);
        let audit = world
            .call("GET", "/api/v1/tenants/310000/audit?action=service_key.reject.summary", Some(world.token("audit-admin")), None)
            .await;
        let records = audit.body["records"].as_array().unwrap();
        assert_eq!(records.len(), 1);
        let detail = &records[0]["detail"];
        assert_eq!(detail["count"], 121);
        assert_eq!(detail["causes"], json!({"malformed": 70, "unknown": 50, "throttled": 1}));
        assert_eq!(detail["sources"]["192.0.2.50"], 21);
        assert_eq!(detail["sources"].as_object().unwrap().len(), 101);
        assert_eq!(detail["keys"].as_object().unwrap().len(), 50);
        assert_eq!(detail["keys"][format!("{:016x}", 1)], 1);
    }

    async fn a_registration_flood_from_one_address_is_answered_429(t) {
        let world = World::demo(&t).await;
        let flood = addr("203.0.113.77:1");
        let enterprise = |username: &str, password: &str| json!({
            "kind": "enterprise", "username": username, "password": password,
            "tenant": "310000/310115", "name": "上海某某科技有限公司", "credit_code": "91350100M000100Y43"
        });
        for n in 0..20 {
            let refused = world.call_from("POST", "/api/v1/auth/register", None, Some(enterprise(&format!("flood-{n}"), "short")), flood).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{n}: {}", refused.body);
        }
        // The 21st attempt within the hour, even a good one, is answered
        // before anything is checked or written.
        let written = world.audit_records().await;
        let throttled = world.call_from("POST", "/api/v1/auth/register", None, Some(enterprise("flood-ok", "Qiye#2026ok")), flood).await;
        assert_eq!((throttled.status, throttled.code()), (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"));
        let retry: u64 = throttled.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
        assert!(civitas_identity::find_account(&world.db, "flood-ok").await.unwrap().is_none());
        assert_eq!(world.audit_records().await, written);
        // Another address registers.
        let other = world.call_from("POST", "/api/v1/auth/register", None, Some(enterprise("flood-ok", "Qiye#2026ok")), addr("198.51.100.9:1")).await;
        assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    }

    async fn a_refresh_with_a_wrong_secret_ends_nothing_and_a_spent_one_ends_the_session(t) {
        let world = World::demo(&t).await;
        let login = world.login("pudong-reviewer", PASSWORD).await;
        let access = login.body["access_token"].as_str().unwrap().to_owned();
        let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
        let session = login.body["session_id"].as_str().unwrap().to_owned();
        let refresh_with = |token: String| world.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": token})));
        // The session id is in every access token; with a wrong secret the
        // refresh is refused and the session goes on.
        for forged in [format!("{session}.{}", "A".repeat(43)), format!("{session}.x"), "nonsense".to_owned()] {
            let refused = refresh_with(forged.clone()).await;
            assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "token_invalid"), "{forged}");
        }
        assert_eq!(world.call("GET", "/api/v1/me", Some(&access), None).await.status, StatusCode::OK);
        let rotated = refresh_with(refresh.clone()).await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
        let new_access = rotated.body["access_token"].as_str().unwrap().to_owned();
        let next = rotated.body["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(world.call("GET", "/api/v1/me", Some(&new_access), None).await.status, StatusCode::OK);
        // The spent token coming back was copied: the session ends for both holders.
        let reused = refresh_with(refresh).await;
        assert_eq!((reused.status, reused.code()), (StatusCode::UNAUTHORIZED, "session_ended"));
        let me = world.call("GET", "/api/v1/me", Some(&new_access), None).await;
        assert_eq!((me.status, me.code()), (StatusCode::UNAUTHORIZED, "session_ended"));
        assert_eq!(refresh_with(next).await.code(), "session_ended");
    }

    async fn api_keys_refuse_administrator_duties_unknown_actions_and_bad_networks(t) {
        let world = World::demo(&t).await;
        let sec = Some(world.token("sec-admin"));
        for (body, code) in [
            (json!({"account": "svc-a", "name": "x", "tenant": "310000", "actions": ["grant.manage"]}), "administrator_action"),
            (json!({"account": "svc-a", "name": "x", "tenant": "310000", "actions": ["audit.read"]}), "administrator_action"),
            (json!({"account": "svc-a", "name": "x", "tenant": "310000", "actions": ["resident.read", "tenant.configure"]}), "administrator_action"),
            (json!({"account": "svc-a", "name": "x", "tenant": "310000", "actions": ["module.publish"]}), "administrator_action"),
            (json!({"account": "svc-a", "name": "x", "tenant": "310000", "actions": ["resident.read"], "expires_at": "2020-01-01T00:00:00Z"}), "invalid_expiry"),
            (json!({"account": "svc-a", "name": "x", "tenant": "310000", "actions": ["fly"]}), "unknown_action"),
            (json!({"account": "svc-a", "name": "x", "tenant": "310000", "actions": []}), "invalid_key_request"),
            (json!({"account": "svc-a", "name": "x", "tenant": "310000", "actions": ["resident.read"], "allowed_ips": ["10.0.0.0/99"]}), "invalid_network"),
            (json!({"account": "svc-a", "name": "x", "tenant": "310000", "actions": ["resident.read"], "lines": ["Bad Line"]}), "invalid_line"),
            (json!({"account": "pudong-reviewer", "name": "x", "tenant": "310000/310115", "actions": ["resident.read"]}), "not_service_account"),
        ] {
            let mut body = body.clone();
            let tenant = body.as_object_mut().unwrap().remove("tenant").unwrap();
            let uri = format!("/api/v1/tenants/{}/api-keys", tenant.as_str().unwrap());
            let reply = world.call("POST", &uri, sec, Some(body.clone())).await;
            assert_eq!((reply.status, reply.code()), (StatusCode::UNPROCESSABLE_ENTITY, code), "{body}");
        }
        // A key whose expiry has passed is refused; so is one whose service
        // account was disabled.
        let key = world
            .issue_key(json!({"account": "svc-old", "name": "old", "tenant": "310000",
                "actions": ["resident.read"], "expires_at": (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339()}))
            .await;
        assert_eq!(world.call("GET", "/api/v1/me", Some(&key), None).await.status, StatusCode::OK);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let reply = world.call("GET", "/api/v1/me", Some(&key), None).await;
        assert_eq!(reply.code(), "api_key_invalid");
        let key = world
            .issue_key(json!({"account": "svc-disabled", "name": "x", "tenant": "310000", "actions": ["resident.read"]}))
            .await;
        assert_eq!(world.call("GET", "/api/v1/me", Some(&key), None).await.status, StatusCode::OK);
        world.disable("svc-disabled").await;
        assert_eq!(world.call("GET", "/api/v1/me", Some(&key), None).await.code(), "api_key_invalid");
    }

    async fn citizens_and_enterprises_register_with_checked_numbers_once(t) {
        let world = World::demo(&t).await;
        let register = |body: serde_json::Value| world.call("POST", "/api/v1/auth/register", None, Some(body));
        let citizen = |username: &str, id: &str| json!({
            "kind": "citizen", "username": username, "password": "Zhang#2026san",
            "tenant": "shanghai/pudong/lujiazui", "name": "张三", "id_number": id
        });
        let good = access::id_number(7);
        let reply = register(citizen("zhang-san", &good)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.body["kind"], "citizen");
        // Bad check digit, bad length, a second account for the same person.
        let mut bad_check = good.clone();
        let last = bad_check.pop().unwrap();
        bad_check.push(if last == '0' { '1' } else { '0' });
        for (id, code) in [(bad_check.as_str(), "invalid_id_number"), ("31011519800101", "invalid_id_number")] {
            let reply = register(citizen("zhang-si", id)).await;
            assert_eq!((reply.status, reply.code()), (StatusCode::UNPROCESSABLE_ENTITY, code), "{id}");
        }
        // A registration proves nothing, so an unverified claim blocks no one:
        // a second account may claim the same person until one is verified.
        let again = register(citizen("zhang-san-2", &good.to_lowercase())).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
        // The citizen signs in, and can reach no tenant's data.
        let login = world.login("zhang-san", "Zhang#2026san").await;
        let token = login.body["access_token"].as_str().unwrap().to_owned();
        let me = world.call("GET", "/api/v1/me", Some(&token), None).await;
        assert_eq!(me.body["kind"], "citizen");
        let denied = world.call("GET", "/api/v1/tenants/310000/310115/310115005/residents", Some(&token), None).await;
        assert_eq!(denied.code(), "forbidden");

        let enterprise = |username: &str, code: &str| json!({
            "kind": "enterprise", "username": username, "password": "Qiye#2026ok",
            "tenant": "310000/310115", "name": "上海某某科技有限公司", "credit_code": code
        });
        let reply = register(enterprise("some-tech", "91350100M000100Y43")).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        for code in ["91350100M000100Y44", "91350100M000100Y4"] {
            let reply = register(enterprise("other-tech", code)).await;
            assert_eq!((reply.status, reply.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_credit_code"), "{code}");
        }
        let twice = register(enterprise("some-tech-2", "91350100M000100Y43")).await;
        assert_eq!(twice.status, StatusCode::CREATED, "an unverified claim blocks no one: {}", twice.body);
        // Weak passwords, bad usernames and unknown tenants are refused.
        let weak = register(json!({"kind": "enterprise", "username": "weak-co", "password": "short",
            "tenant": "310000", "name": "弱", "credit_code": "91110000100000000A"})).await;
        assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
        let bad_name = register(citizen("Zhang San", &access::id_number(8))).await;
        assert_eq!(bad_name.code(), "invalid_username");
        let nowhere = register(json!({"kind": "citizen", "username": "li-si", "password": "Zhang#2026san",
            "tenant": "shanghai/nowhere", "name": "李四", "id_number": access::id_number(9)})).await;
        assert_eq!(nowhere.code(), "tenant_not_found");
    }

    async fn a_self_registered_citizen_files_nothing_until_an_officer_verifies_the_identity(t) {
        let world = World::demo(&t).await;
        let register = |body: serde_json::Value| world.call("POST", "/api/v1/auth/register", None, Some(body));
        let citizen = |username: &str, id: &str| json!({
            "kind": "citizen", "username": username, "password": "Wang#2026fang",
            "tenant": "shanghai/pudong/lujiazui", "name": "王芳", "id_number": id
        });
        let real = access::id_number(21);
        // Someone registers first with Wang Fang's number; then she does.
        assert_eq!(register(citizen("squatter", &real)).await.status, StatusCode::CREATED);
        assert_eq!(register(citizen("wang-fang", &real)).await.status, StatusCode::CREATED);
        let login = world.login("wang-fang", "Wang#2026fang").await;
        let token = login.body["access_token"].as_str().unwrap().to_owned();
        let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
        let cases = "/api/v1/tenants/310000/310115/310115005/cases";
        let application = json!({"service": "civil-affairs/meal-subsidy", "data": {
            "birth_date": "1954-03-02", "household_registration": "local", "living_alone": false,
            "disability_grade": 0, "economic_status": "none"}});
        let refused = world.call("POST", cases, Some(&token), Some(application.clone())).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::FORBIDDEN, "verification_required"), "{}", refused.body);
        assert!(refused.body["message"]["zh"].as_str().unwrap().contains("实名核验"));

        // At the counter: the number on the card must be the registered one.
        async fn verify(world: &World, who: &str, username: &str, body: serde_json::Value) -> access::Reply {
            let uri = format!("/api/v1/tenants/310000/310115/310115005/accounts/{username}/verify");
            world.call("POST", &uri, Some(world.token(who)), Some(body)).await
        }
        let wrong = verify(&world, "lujiazui-officer", "wang-fang", json!({"id_number": access::id_number(22)})).await;
        assert_eq!((wrong.status, wrong.code()), (StatusCode::UNPROCESSABLE_ENTITY, "identity_mismatch"), "{}", wrong.body);
        let nobody = verify(&world, "huangpu-reviewer", "wang-fang", json!({"id_number": real})).await;
        assert_eq!(nobody.status, StatusCode::FORBIDDEN, "another district's officer: {}", nobody.body);
        let verified = verify(&world, "lujiazui-officer", "wang-fang", json!({"id_number": real})).await;
        assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
        assert_eq!(verified.body["method"], "in-person:lujiazui-officer");
        assert_eq!(verified.body["released"], json!(["squatter"]), "the other claim loses the identity");
        let again = verify(&world, "lujiazui-officer", "wang-fang", json!({"id_number": real})).await;
        assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "already_verified"));

        // The verification counts from the next refresh; the claimant that
        // lost is disabled, and a new claim of a verified identity is refused.
        let refreshed = world
            .call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": refresh})))
            .await;
        assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
        let token = refreshed.body["access_token"].as_str().unwrap().to_owned();
        let filed = world.call("POST", cases, Some(&token), Some(application)).await;
        assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
        assert_eq!(world.login("squatter", "Wang#2026fang").await.status, StatusCode::UNAUTHORIZED);
        let late = register(citizen("wang-fang-2", &real)).await;
        assert_eq!((late.status, late.code()), (StatusCode::CONFLICT, "already_registered"));

        // An identity held wrongly is released by the system administrator,
        // with a reason, in the audit log.
        let sys = world.token("sys-admin").to_owned();
        let release = "/api/v1/tenants/310000/310115/310115005/accounts/wang-fang/release-identity";
        let no_reason = world.call("POST", release, Some(&sys), Some(json!({"reason": " "}))).await;
        assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
        let sec = world.call("POST", release, Some(world.token("sec-admin")), Some(json!({"reason": "x"}))).await;
        assert_eq!((sec.status, sec.code()), (StatusCode::CONFLICT, "separation_of_duties"));
        let released = world.call("POST", release, Some(&sys), Some(json!({"reason": "冒用证件，经本人申诉核实"}))).await;
        assert_eq!(released.status, StatusCode::NO_CONTENT, "{}", released.body);
        let audit = world
            .call("GET", "/api/v1/tenants/310000/310115/310115005/audit?action=account.identity_release",
                  Some(world.token("audit-admin")), None)
            .await;
        let records = audit.body["records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{}", audit.body);
        assert_eq!(records[0]["actor"], "sys-admin");
        assert_eq!(records[0]["detail"]["reason"], "冒用证件，经本人申诉核实");
        assert_eq!(records[0]["detail"]["was_verified_by"], "in-person:lujiazui-officer");
        assert_eq!(register(citizen("wang-fang-3", &real)).await.status, StatusCode::CREATED, "the identity is free again");
    }

    async fn grants_are_managed_over_http_with_separation_of_duties(t) {
        let world = World::demo(&t).await;
        let sec = Some(world.token("sec-admin"));
        // The reviewer cannot see Huamu staff in housing, until granted.
        let grant = json!({"account": "matrix-target", "line": "civil-affairs", "role": "reviewer"});
        let huamu = "/api/v1/tenants/shanghai/pudong/huamu/grants";
        let created = world.call("POST", huamu, sec, Some(grant.clone())).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let held = world.call("POST", huamu, sec, Some(grant.clone())).await;
        assert_eq!(held.status, StatusCode::OK);
        let target = world.login("matrix-target", PASSWORD).await;
        let token = target.body["access_token"].as_str().unwrap().to_owned();
        let staff = world.call("GET", "/api/v1/tenants/310000/310115/310115016/staff", Some(&token), None).await;
        assert_eq!(staff.status, StatusCode::OK, "the new grant applies at once: {}", staff.body);
        let listed = world.call("GET", "/api/v1/tenants/310000/310115/grants", sec, None).await;
        assert!(listed.body["grants"].as_array().unwrap().iter().any(|g| g["account"] == "matrix-target" && g["role"] == "reviewer"));
        // 三员分立: the system administrator may not also become audit or
        // security administrator.
        for role in ["audit-admin", "sec-admin"] {
            let refused = world
                .call("POST", "/api/v1/tenants/310000/grants", sec, Some(json!({"account": "sys-admin", "line": "*", "role": role})))
                .await;
            assert_eq!((refused.status, refused.code()), (StatusCode::CONFLICT, "separation_of_duties"), "{role}");
        }
        let unknown = world
            .call("POST", "/api/v1/tenants/310000/grants", sec, Some(json!({"account": "matrix-target", "line": "*", "role": "emperor"})))
            .await;
        assert_eq!(unknown.code(), "unknown_role");
        let citizen = world
            .call("POST", "/api/v1/tenants/310000/grants", sec, Some(json!({"account": "citizen-demo", "line": "*", "role": "officer"})))
            .await;
        assert_eq!(citizen.code(), "unknown_account", "the same answer as for no account");
        let nobody = world
            .call("POST", "/api/v1/tenants/310000/grants", sec, Some(json!({"account": "no-such-user", "line": "*", "role": "officer"})))
            .await;
        assert_eq!((nobody.status, nobody.body["message"]["en"].as_str().map(|m| m.replace("no-such-user", "citizen-demo"))), (citizen.status, citizen.body["message"]["en"].as_str().map(str::to_owned)));
        // Nobody grants themselves a role, not even one free of administrator duties.
        let own = world
            .call("POST", "/api/v1/tenants/310000/310115/grants", sec, Some(json!({"account": "sec-admin", "line": "civil-affairs", "role": "reviewer"})))
            .await;
        assert_eq!((own.status, own.code()), (StatusCode::CONFLICT, "self_grant"));
        // The audit administrator reads the changes and can change nothing.
        let audit = Some(world.token("audit-admin"));
        let trail = world.call("GET", "/api/v1/tenants/310000/310115/audit?action=grant.*", audit, None).await;
        assert_eq!(trail.status, StatusCode::OK);
        assert!(trail.body["records"].as_array().unwrap().iter().any(|r| r["action"] == "grant.create" && r["actor"] == "sec-admin"));
        let named = "/api/v1/tenants/310000/310115/310115016/grants/matrix-target/civil-affairs/reviewer";
        for (method, uri) in [("POST", huamu), ("DELETE", named)] {
            let body = (method == "POST").then(|| grant.clone());
            let refused = world.call(method, uri, audit, body).await;
            assert_eq!(refused.code(), "separation_of_duties", "{method} {uri}");
        }
        // Revoked: the next request is refused.
        let revoked = world
            .call("DELETE", named, sec, None)
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT);
        let again = world.call("DELETE", named, sec, None).await;
        assert_eq!((again.status, again.code()), (StatusCode::NOT_FOUND, "grant_not_found"));
        let staff = world.call("GET", "/api/v1/tenants/310000/310115/310115016/staff", Some(&token), None).await;
        assert_eq!(staff.code(), "forbidden");
    }

    async fn the_audit_trail_filters_by_subtree_actor_action_and_time_and_pages(t) {
        let world = World::demo(&t).await;
        // A Pudong reviewer signs in: audited in Pudong's chain.
        let signed_in = world.login("pudong-reviewer", PASSWORD).await;
        assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
        let audit = Some(world.token("audit-admin"));
        let all = world.call("GET", "/api/v1/tenants/310000/audit", audit, None).await;
        let records = all.body["records"].as_array().unwrap();
        assert!(!records.is_empty());
        let ids: Vec<i64> = records.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
        let pudong = world.call("GET", "/api/v1/tenants/shanghai/pudong/audit?action=auth.*", audit, None).await;
        let pudong = pudong.body["records"].as_array().unwrap().clone();
        assert!(!pudong.is_empty());
        assert!(pudong.iter().all(|r| r["tenant"].as_str().unwrap().starts_with("310000/310115")));
        assert!(pudong.iter().all(|r| r["action"].as_str().unwrap().starts_with("auth.")));
        let actor = world.call("GET", "/api/v1/tenants/310000/audit?actor=system:demo", audit, None).await;
        assert!(actor.body["records"].as_array().unwrap().iter().all(|r| r["actor"] == "system:demo"));
        let future = world.call("GET", "/api/v1/tenants/310000/audit?from=2999-01-01T00:00:00Z", audit, None).await;
        assert_eq!(future.body["records"], json!([]));
        let page = world.call("GET", "/api/v1/tenants/310000/audit?limit=2", audit, None).await;
        assert_eq!(page.body["records"].as_array().unwrap().len(), 2);
        let after = page.body["next"].as_str().unwrap();
        let last = page.body["records"][1]["id"].as_i64().unwrap();
        let next = world.call("GET", &format!("/api/v1/tenants/310000/audit?limit=2&after={after}"), audit, None).await;
        assert!(next.body["records"][0]["id"].as_i64().unwrap() < last);
        for bad in ["from=yesterday", "colour=red", "before=5", "limit=-1"] {
            let reply = world.call("GET", &format!("/api/v1/tenants/310000/audit?{bad}"), audit, None).await;
            assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "invalid_query"), "{bad}");
        }
    }

    async fn residents_grants_and_audit_page_with_limit_and_after(t) {
        let world = World::demo(&t).await;
        let officer = world.token("lujiazui-officer");
        let mut registered = Vec::new();
        for n in 0..6 {
            let reply = world
                .call("POST", "/api/v1/tenants/shanghai/pudong/lujiazui/residents", Some(officer),
                    Some(json!({"name": format!("分页{n}"), "id_number": access::id_number(500 + n)})))
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            registered.push(reply.body["id"].as_str().unwrap().to_owned());
        }
        let id_of = |v: &Value| v["id"].to_string();

        // Residents: every one exactly once, oldest first, whatever the page
        // size; a full last page has no `next`.
        let reviewer = world.token("pudong-reviewer");
        let residents = "/api/v1/tenants/shanghai%2Fpudong/residents";
        let (all, _) = walk(&world, reviewer, residents, "residents", 200).await;
        let mut ids: Vec<String> = all.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
        ids.sort();
        let mut expected = registered.clone();
        expected.sort();
        assert_eq!(ids, expected);
        let times: Vec<chrono::DateTime<chrono::Utc>> = all
            .iter()
            .map(|r| r["registered_at"].as_str().unwrap().parse().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
        for (limit, pages) in [(3, 2), (4, 2), (1, 6), (6, 1)] {
            let (items, walked) = walk(&world, reviewer, residents, "residents", limit).await;
            assert_eq!(items, all, "limit {limit}");
            assert_eq!(walked, pages, "limit {limit}");
        }

        // Grants: small pages walk the same grants as one page, none twice.
        let sec = world.token("sec-admin");
        let grants = "/api/v1/tenants/310000/grants";
        let (all, pages) = walk(&world, sec, grants, "grants", 200).await;
        assert_eq!(pages, 1);
        assert!(all.len() > 5, "the demo city has grants: {}", all.len());
        for limit in [1, 2, 5] {
            let (items, _) = walk(&world, sec, grants, "grants", limit).await;
            assert_eq!(items, all, "limit {limit}");
        }
        let keys: std::collections::BTreeSet<String> = all
            .iter()
            .map(|g| format!("{} {} {} {}", g["tenant"], g["line"], g["role"], g["account_id"]))
            .collect();
        assert_eq!(keys.len(), all.len(), "no grant twice");

        // Audit: newest first, filters kept across pages.
        let audit = world.token("audit-admin");
        let registrations = "/api/v1/tenants/310000/audit?action=resident.register";
        for limit in [4, 6, 200] {
            let (items, _) = walk(&world, audit, registrations, "records", limit).await;
            let targets: Vec<String> = items.iter().map(|r| r["target"].as_str().unwrap().to_owned()).collect();
            let expected: Vec<String> = registered.iter().rev().map(|id| format!("resident:{id}")).collect();
            assert_eq!(targets, expected, "limit {limit}: newest first");
        }
        let (everything, _) = walk(&world, audit, "/api/v1/tenants/310000/audit", "records", 200).await;
        let (small, _) = walk(&world, audit, "/api/v1/tenants/310000/audit", "records", 7).await;
        assert_eq!(small.iter().map(id_of).collect::<Vec<_>>(), everything.iter().map(id_of).collect::<Vec<_>>());
        let ids: Vec<i64> = everything.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first, none twice");

        // One answer for an out-of-range limit and for a cursor this list did
        // not hand out (garbage, or another list's), on every list.
        let residents_next = world.call("GET", &format!("{residents}?limit=1"), Some(reviewer), None).await;
        let foreign = residents_next.body["next"].as_str().unwrap().to_owned();
        for (uri, bearer) in [(residents, reviewer), (grants, sec), ("/api/v1/tenants/310000/audit", audit)] {
            for (query, code) in [
                ("limit=0", "invalid_limit"),
                ("limit=201", "invalid_limit"),
                ("after=garbage", "invalid_cursor"),
                ("after=%21%21", "invalid_cursor"),
            ] {
                let reply = world.call("GET", &format!("{uri}?{query}"), Some(bearer), None).await;
                assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, code), "{uri}?{query}: {}", reply.body);
            }
            if uri != residents {
                let reply = world.call("GET", &format!("{uri}?after={foreign}"), Some(bearer), None).await;
                assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "invalid_cursor"), "{uri}");
            }
        }
    }

    async fn personal_data_is_masked_unless_revealed_and_every_reveal_is_audited(t) {
        let world = World::demo(&t).await;
        let officer = Some(world.token("lujiazui-officer"));
        let id_number = access::id_number(42);
        let created = world
            .call("POST", "/api/v1/tenants/shanghai/pudong/lujiazui/residents", officer, Some(json!({
                "name": "王小明", "id_number": id_number,
                "phone": "13812345678", "bank_account": "6222021234567890123", "address": "上海市浦东新区陆家嘴环路1000号"
            })))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["masked"], true);
        assert_eq!(created.body["phone"], "138****5678");
        let id = created.body["id"].as_str().unwrap().to_owned();
        let shown = world.call("GET", &format!("/api/v1/tenants/310000/310115/residents/{id}"), Some(world.token("pudong-reviewer")), None).await;
        assert_eq!(shown.body["id_number"], format!("310***********{}", &id_number[14..]));
        assert_eq!(shown.body["name"], "王**");
        // Found by exact number without decrypting the register.
        let found = world
            .call("POST", "/api/v1/tenants/310000/310115/310115005/residents/search", officer, Some(json!({"id_number": id_number})))
            .await;
        assert_eq!(found.body["residents"][0]["id"], id);
        // The officer may not reveal; the reviewer may, with a reason, audited.
        let reason = json!({"reason": "核对补贴发放账户"});
        let reveal = format!("/api/v1/tenants/310000/310115/residents/{id}/reveal");
        let refused = world.call("POST", &reveal, officer, Some(reason.clone())).await;
        assert_eq!(refused.code(), "forbidden");
        let revealed = world
            .call("POST", &reveal, Some(world.token("pudong-reviewer")), Some(reason))
            .await;
        assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.body);
        assert_eq!(revealed.body["id_number"], id_number);
        assert_eq!(revealed.body["bank_account"], "6222021234567890123");
        assert_eq!(revealed.body["masked"], false);
        let trail = world
            .call("GET", "/api/v1/tenants/310000/310115/310115005/audit?action=personal_data.reveal", Some(world.token("audit-admin")), None)
            .await;
        let record = &trail.body["records"][0];
        assert_eq!(record["actor"], "pudong-reviewer");
        assert_eq!(record["target"], format!("resident:{id}"));
        assert_eq!(record["detail"]["reason"], "核对补贴发放账户");
        // The Huangpu reviewer names Pudong: 403; names Huangpu: the resident is not there, 404.
        let huangpu = Some(world.token("huangpu-reviewer"));
        let other = world.call("GET", &format!("/api/v1/tenants/310000/310115/residents/{id}"), huangpu, None).await;
        assert_eq!(other.code(), "forbidden");
        let own = world.call("GET", &format!("/api/v1/tenants/310000/310101/residents/{id}"), huangpu, None).await;
        assert_eq!((own.status, own.code()), (StatusCode::NOT_FOUND, "resident_not_found"));
        // Bad input is refused with reasons and nothing is stored.
        let no_reason = world
            .call("POST", &reveal, Some(world.token("pudong-reviewer")), Some(json!({"reason": " "})))
            .await;
        assert_eq!(no_reason.code(), "invalid_field");
        let duplicate = world
            .call("POST", "/api/v1/tenants/310000/310115/310115005/residents", officer, Some(json!({"name": "王小明", "id_number": id_number})))
            .await;
        assert_eq!(duplicate.code(), "resident_exists");
    }

    async fn staff_lists_follow_the_line_and_the_subtree(t) {
        let world = World::demo(&t).await;
        let reviewer = world.call("GET", "/api/v1/tenants/shanghai/pudong/staff", Some(world.token("pudong-reviewer")), None).await;
        let names: Vec<&str> = reviewer.body["staff"].as_array().unwrap().iter().map(|s| s["username"].as_str().unwrap()).collect();
        assert!(names.contains(&"lujiazui-officer") && names.contains(&"pudong-reviewer"), "{names:?}");
        assert!(!names.contains(&"huangpu-reviewer"));
        let housing = world.call("GET", "/api/v1/tenants/shanghai/pudong/staff?line=housing", Some(world.token("pudong-reviewer")), None).await;
        assert_eq!(housing.code(), "forbidden");
        let sec = world.call("GET", "/api/v1/tenants/310000/staff", Some(world.token("sec-admin")), None).await;
        let all: Vec<&str> = sec.body["staff"].as_array().unwrap().iter().map(|s| s["username"].as_str().unwrap()).collect();
        assert!(all.contains(&"huangpu-reviewer") && all.contains(&"sys-admin"), "{all:?}");
        let unknown = world.call("GET", "/api/v1/tenants/shanghai/nowhere/staff", Some(world.token("sec-admin")), None).await;
        assert_eq!(unknown.code(), "tenant_not_found");
    }

    async fn a_one_time_password_admits_only_its_own_change(t) {
        let world = World::demo(&t).await;
        civitas_identity::create_account(
            &world.db,
            &world.sign_in,
            &civitas_identity::NewAccount {
                username: "new-admin".into(),
                kind: civitas_identity::AccountKind::Staff,
                tenant_path: civitas_tenancy::TenantPath::parse("310000").unwrap(),
                line: None,
                display_name: "新管理员".into(),
                password: "OneTime#2026".into(),
                must_change_password: true,
            },
            "test",
        )
        .await
        .unwrap();
        let login = world.login("new-admin", "OneTime#2026").await;
        assert_eq!(login.body["must_change_password"], true);
        let token = login.body["access_token"].as_str().unwrap().to_owned();
        let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
        let blocked = world.call("GET", "/api/v1/tenants/310000/staff", Some(&token), None).await;
        assert_eq!((blocked.status, blocked.code()), (StatusCode::FORBIDDEN, "password_change_required"));
        let me = world.call("GET", "/api/v1/me", Some(&token), None).await;
        assert_eq!(me.status, StatusCode::OK);
        let changed = world
            .call("POST", "/api/v1/auth/password", Some(&token), Some(json!({"current_password": "OneTime#2026", "new_password": "Changed#2026"})))
            .await;
        assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
        let refreshed = world.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": refresh}))).await;
        assert_eq!(refreshed.body["must_change_password"], false, "{}", refreshed.body);
        let token = refreshed.body["access_token"].as_str().unwrap();
        let now = world.call("GET", "/api/v1/tenants/310000/staff", Some(token), None).await;
        assert_eq!(now.code(), "forbidden", "past the password gate, into authorization (no grants)");
    }
}
