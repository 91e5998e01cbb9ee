//! `/metrics` as an operator's Prometheus reads it: besides the requests,
//! what operators page on — the database pool, timers due, notices waiting,
//! audit records not anchored, tenant keys by state, module calls by
//! outcome with their fuel, sign-in attempts by outcome, the build.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use access::World;
use axum::http::StatusCode;
use civitas_testkit::both_backends;
use serde_json::json;

/// The value of the series `name` (the whole text before the value).
fn value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

both_backends! {
    async fn metrics_show_what_operators_page_on_and_count_what_happened(t) {
        let world = World::demo(&t).await;
        let scrape = || async {
            let reply = world.call("GET", "/metrics", None, None).await;
            assert_eq!(reply.status, StatusCode::OK);
            reply.body.as_str().unwrap_or_default().to_owned()
        };
        let before = scrape().await;

        // A sign-in that works, two that do not.
        let login = |password: &'static str| {
            world.call("POST", "/api/v1/auth/login", None,
                Some(json!({"username": "lujiazui-officer", "password": password})))
        };
        let login_as = |username: &'static str| {
            world.call("POST", "/api/v1/auth/login", None,
                Some(json!({"username": username, "password": "wrong-Passw0rd"})))
        };
        assert_eq!(login(access::PASSWORD).await.status, StatusCode::OK);
        assert_eq!(login("wrong-Passw0rd").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(login("wrong-Passw0rd").await.status, StatusCode::UNAUTHORIZED);
        // A module call that answers, one refused for its input.
        let officer = world.token("lujiazui-officer");
        let evaluate = "/api/v1/tenants/310000/310115/310115005/services/civil-affairs/meal-subsidy/evaluate";
        let answered = world.call("POST", evaluate, Some(officer), Some(json!({"as_of": "2026-11-23",
            "input": {"birth_date": "1954-03-02", "household_registration": "local",
                      "living_alone": false, "disability_grade": 0, "economic_status": "none"}}))).await;
        assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
        let refused = world.call("POST", evaluate, Some(officer),
            Some(json!({"as_of": "2026-11-23", "input": {"birth_date": "soon"}}))).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);

        let text = scrape().await;
        assert!(text.ends_with("# EOF\n") && text.matches("# EOF").count() == 1, "{text}");
        let grew = |name: &str| value(&text, name).unwrap_or(0.0) - value(&before, name).unwrap_or(0.0);
        assert_eq!(grew(r#"civitas_sign_in_attempts_total{outcome="ok"}"#), 1.0, "{text}");
        assert_eq!(grew(r#"civitas_sign_in_attempts_total{outcome="rejected"}"#), 2.0, "{text}");
        // One word for every refusal: an unknown name counts as a wrong password does.
        assert_eq!(login_as("no-such-user").await.status, StatusCode::UNAUTHORIZED);
        let after = scrape().await;
        assert_eq!(value(&after, r#"civitas_sign_in_attempts_total{outcome="rejected"}"#),
            value(&text, r#"civitas_sign_in_attempts_total{outcome="rejected"}"#).map(|n| n + 1.0), "{after}");
        assert!(!after.contains("unknown_user") && !after.contains("wrong_password"), "{after}");
        assert_eq!(grew(r#"civitas_module_calls_total{outcome="ok"}"#), 1.0, "{text}");
        assert_eq!(grew(r#"civitas_module_calls_total{outcome="input_schema_violation"}"#), 1.0, "{text}");
        assert!(grew("civitas_module_fuel_used_total") > 0.0, "{text}");
        let database = t.db.backend().as_str();
        assert!(text.contains(&format!(r#"civitas_build_info{{version="{}",database="{database}"}} 1"#,
            env!("CARGO_PKG_VERSION"))), "{text}");
        // Readings of the database, each one series.
        assert!(value(&text, "civitas_db_pool_open_connections").unwrap_or(0.0) >= 1.0, "{text}");
        assert!(value(&text, "civitas_db_begun_total").unwrap_or(0.0) > value(&before, "civitas_db_begun_total").unwrap_or(0.0));
        assert_eq!(value(&text, "civitas_timers_due"), Some(0.0), "{text}");
        assert_eq!(value(&text, "civitas_notification_outbox"), Some(0.0), "{text}");
        // The one node's embedded index applies the changes.
        assert_eq!(value(&text, r#"civitas_search_index_role{role="applying"}"#), Some(1.0), "{text}");
        assert_eq!(value(&text, r#"civitas_search_index_role{role="standing_by"}"#), Some(0.0), "{text}");
        assert!(value(&text, r#"civitas_tenant_keys{state="active"}"#).unwrap_or(0.0) > 0.0, "{text}");
        // The demo's sign-ins are audited and nothing has anchored them yet.
        assert!(value(&text, "civitas_audit_unanchored_records").unwrap_or(0.0) > 0.0, "{text}");
        assert!(value(&text, "civitas_audit_unanchored_records_oldest_seconds").is_some(), "{text}");
        assert!(!text.contains("civitas_metrics_unreadable"), "{text}");
    }
}
