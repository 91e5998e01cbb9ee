//! Modules over HTTP, on SQLite and PostgreSQL: publishing signed artifacts,
//! binding along the tenant tree with rollout and rollback, evaluating, and
//! containing hostile modules while well-behaved tenants keep working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use access::{Reply, World};
use axum::http::StatusCode;
use base64::Engine as _;
use civitas_crypto::sm2::PrivateKey;
use civitas_storage::{TenantScope, with_connection};
use civitas_tenancy::TenantPath;
use civitas_testkit::{both_backends, module_component};
use serde_json::{Value, json};

const SERVICE: &str = "civil-affairs/meal-subsidy";
const LUJIAZUI: &str = "310000/310115/310115005";
const HUAMU: &str = "310000/310115/310115016";
const NANJING_DONG_LU: &str = "310000/310101/310101002";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A 72-year-old local elder, not alone, not disabled, no hardship.
fn application() -> Value {
    json!({"birth_date": "1954-03-02", "household_registration": "local", "living_alone": false,
           "disability_grade": 0, "economic_status": "none"})
}

async fn evaluate(world: &World, who: &str, tenant: &str, case_id: Option<&str>) -> Reply {
    let mut body = json!({"input": application(), "as_of": "2026-11-23"});
    if let Some(case_id) = case_id {
        body["case_id"] = json!(case_id);
    }
    world
        .call(
            "POST",
            &format!("/api/v1/tenants/{tenant}/services/{SERVICE}/evaluate"),
            Some(world.token(who)),
            Some(body),
        )
        .await
}

/// Registers a fresh SM2 key for `who`, with the proof that they hold it.
async fn register_key(world: &World, who: &str) -> PrivateKey {
    let key = PrivateKey::generate().unwrap();
    let public_key = key.public_key().to_hex();
    let proof = key
        .sign(&civitas_devkit::key_registration_message(who, &public_key))
        .unwrap();
    let reply = world
        .call(
            "POST",
            "/api/v1/signing-keys",
            Some(world.token(who)),
            Some(json!({"public_key": public_key, "proof": hex(&proof.to_der())})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    key
}

/// Registers a fresh SM2 key for the module developer.
async fn publisher_key(world: &World) -> PrivateKey {
    register_key(world, "module-dev").await
}

fn signature_by(
    key: &PrivateKey,
    publisher: &str,
    name: &str,
    version: &str,
    artifact: &[u8],
) -> String {
    let digest = hex(&civitas_crypto::sm3::digest(artifact));
    let message = civitas_devkit::signing_message(name, version, SERVICE, &digest, publisher);
    hex(&key.sign(&message).unwrap().to_der())
}

fn signature(key: &PrivateKey, name: &str, version: &str, artifact: &[u8]) -> String {
    signature_by(key, "module-dev", name, version, artifact)
}

async fn publish_signed(
    world: &World,
    name: &str,
    version: &str,
    artifact: &[u8],
    signature: &str,
) -> Reply {
    world
        .call(
            "POST",
            "/api/v1/modules",
            Some(world.token("module-dev")),
            Some(json!({
                "name": name, "version": version, "service": SERVICE,
                "artifact": base64::engine::general_purpose::STANDARD.encode(artifact),
                "signature": signature,
            })),
        )
        .await
}

async fn publish(
    world: &World,
    key: &PrivateKey,
    name: &str,
    version: &str,
    artifact: &[u8],
) -> Reply {
    publish_signed(
        world,
        name,
        version,
        artifact,
        &signature(key, name, version, artifact),
    )
    .await
}

async fn bind(
    world: &World,
    who: &str,
    tenant: &str,
    module: &str,
    version: &str,
    rollout: Option<u8>,
) -> Reply {
    let mut body = json!({"module": module, "version": version});
    if let Some(percent) = rollout {
        body["rollout_percent"] = json!(percent);
    }
    world
        .call(
            "PUT",
            &format!("/api/v1/tenants/{tenant}/bindings/{SERVICE}"),
            Some(world.token(who)),
            Some(body),
        )
        .await
}

both_backends! {
    async fn a_tenant_administrator_changes_a_setting_without_a_restart_and_it_is_audited(t) {
        let world = World::demo(&t).await;
        let top_up = "/api/v1/tenants/shanghai/pudong/lujiazui/settings/meal-subsidy.local-top-up";
        let before = evaluate(&world, "lujiazui-officer", LUJIAZUI, None).await;
        assert_eq!(before.body["output"]["per_meal_fen"], 400 + 200, "{}", before.body);

        // The city's tenant administrator raises Lujiazui's own top-up.
        let set = world.call("PUT", top_up, Some(world.token("city-admin")), Some(json!({"value": 350}))).await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        assert_eq!(set.body["value"], 350);
        assert_eq!(set.body["configured"], 200, "the TOML value stays the seed");
        assert_eq!(set.body["overridden_at"], LUJIAZUI);
        assert_eq!(set.body["set_by"], "city-admin");
        let after = evaluate(&world, "lujiazui-officer", LUJIAZUI, None).await;
        assert_eq!(after.body["output"]["per_meal_fen"], 400 + 350, "in force at once: {}", after.body);

        // An override at Pudong reaches its streets that set none of their own.
        let pudong = world
            .call("PUT", "/api/v1/tenants/310000/310115/settings/meal-subsidy.local-top-up",
                  Some(world.token("city-admin")), Some(json!({"value": 120})))
            .await;
        assert_eq!(pudong.status, StatusCode::OK, "{}", pudong.body);
        assert_eq!(evaluate(&world, "pudong-reviewer", HUAMU, None).await.body["output"]["per_meal_fen"], 400 + 120);
        assert_eq!(evaluate(&world, "lujiazui-officer", LUJIAZUI, None).await.body["output"]["per_meal_fen"], 400 + 350);

        let listed = world.call("GET", "/api/v1/tenants/shanghai/pudong/lujiazui/settings", Some(world.token("city-admin")), None).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        let shown: Vec<(String, Value)> = listed.body["settings"].as_array().unwrap().iter()
            .map(|s| (s["key"].as_str().unwrap().to_owned(), s["value"].clone())).collect();
        assert!(shown.contains(&("meal-subsidy.local-top-up".to_owned(), json!(350))), "{shown:?}");
        assert!(shown.contains(&("meal-subsidy.per-meal.general".to_owned(), json!(400))), "{shown:?}");

        // Only configured keys, with the configured type; no officer.
        for (body, key, code) in [
            (json!({"value": "350"}), "meal-subsidy.local-top-up", "setting_type"),
            (json!({"value": 3.5}), "meal-subsidy.local-top-up", "setting_type"),
            (json!({"value": 1}), "meal-subsidy.no-such-thing", "unknown_setting"),
            (json!({"value": 1}), "Meal_Subsidy", "invalid_setting_key"),
        ] {
            let refused = world
                .call("PUT", &format!("/api/v1/tenants/shanghai/pudong/lujiazui/settings/{key}"),
                      Some(world.token("city-admin")), Some(body))
                .await;
            assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, code), "{}", refused.body);
            assert!(refused.body["message"]["zh"].as_str().is_some_and(|m| !m.is_empty()), "{}", refused.body);
        }
        let officer = world.call("PUT", top_up, Some(world.token("lujiazui-officer")), Some(json!({"value": 999}))).await;
        assert_eq!((officer.status, officer.code()), (StatusCode::FORBIDDEN, "forbidden"));

        // Dropping the override brings back Lujiazui's configured value,
        // which is more specific than Pudong's override.
        let reset = world.call("DELETE", top_up, Some(world.token("city-admin")), None).await;
        assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
        assert_eq!(evaluate(&world, "lujiazui-officer", LUJIAZUI, None).await.body["output"]["per_meal_fen"], 400 + 200);
        let again = world.call("DELETE", top_up, Some(world.token("city-admin")), None).await;
        assert_eq!((again.status, again.code()), (StatusCode::NOT_FOUND, "setting_not_overridden"));

        let audit = world
            .call("GET", &format!("/api/v1/tenants/{LUJIAZUI}/audit?action=setting.set"), Some(world.token("audit-admin")), None)
            .await;
        let records = audit.body["records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{}", audit.body);
        assert_eq!(records[0]["detail"]["from"], Value::Null);
        assert_eq!(records[0]["detail"]["to"], 350);
        let resets = world
            .call("GET", &format!("/api/v1/tenants/{LUJIAZUI}/audit?action=setting.reset"), Some(world.token("audit-admin")), None)
            .await;
        assert_eq!(resets.body["records"].as_array().map(Vec::len), Some(1), "{}", resets.body);
    }

    async fn a_revoked_signing_key_stops_its_loaded_modules_at_the_next_call(t) {
        let world = World::demo(&t).await;
        let key = publisher_key(&world).await;
        let artifact = module_component("modules/civil-affairs/meal-subsidy-pudong");
        let published = publish(&world, &key, "meal-subsidy-pudong", "1.2.0", &artifact).await;
        assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
        let bound = bind(&world, "city-admin", "310000/310115", "meal-subsidy-pudong", "1.2.0", None).await;
        assert_eq!(bound.status, StatusCode::OK, "{}", bound.body);
        // Loaded and serving.
        let before = evaluate(&world, "lujiazui-officer", LUJIAZUI, None).await;
        assert_eq!((before.status, before.body["version"].clone()), (StatusCode::OK, json!("1.2.0")), "{}", before.body);

        let keys = world.call("GET", "/api/v1/signing-keys", Some(world.token("module-dev")), None).await;
        let id = keys.body["keys"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
        // Nobody revokes another publisher's key but the system administrator.
        let stranger = world.call("DELETE", &format!("/api/v1/signing-keys/{id}"), Some(world.token("lujiazui-officer")), None).await;
        assert_eq!((stranger.status, stranger.code()), (StatusCode::FORBIDDEN, "forbidden"), "{}", stranger.body);
        let revoked = world.call("DELETE", &format!("/api/v1/signing-keys/{id}"), Some(world.token("module-dev")), None).await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
        let again = world.call("DELETE", &format!("/api/v1/signing-keys/{id}"), Some(world.token("sys-admin")), None).await;
        assert_eq!((again.status, again.code()), (StatusCode::NOT_FOUND, "signing_key_not_found"));

        // The version loaded before the revocation is not run again.
        let after = evaluate(&world, "lujiazui-officer", LUJIAZUI, None).await;
        assert_eq!((after.status, after.code()), (StatusCode::BAD_GATEWAY, "module_key_revoked"), "{}", after.body);
        // Other districts' modules, signed by other keys, still serve.
        let huangpu = evaluate(&world, "huangpu-reviewer", NANJING_DONG_LU, None).await;
        assert_eq!(huangpu.status, StatusCode::OK, "{}", huangpu.body);
        let audit = world
            .call("GET", "/api/v1/tenants/310000/audit?action=signing_key.revoke", Some(world.token("audit-admin")), None)
            .await;
        assert_eq!(audit.body["records"].as_array().map(Vec::len), Some(1), "{}", audit.body);
    }

    async fn a_binding_list_shows_only_the_line_it_was_authorised_in(t) {
        let world = World::demo(&t).await;
        // The Pudong HR bureau head administers Pudong in one line.
        let hr = world
            .call("GET", "/api/v1/tenants/310000/310115/bindings", Some(world.token("pudong-hr-head")), None)
            .await;
        assert_eq!(hr.status, StatusCode::OK, "{}", hr.body);
        let services: Vec<&str> = hr.body["bindings"].as_array().unwrap().iter()
            .map(|b| b["service"].as_str().unwrap()).collect();
        assert!(services.iter().all(|s| s.starts_with("hr-social-security/")), "{services:?}");
        // The city administrator, on every line, sees civil affairs' too.
        let city = world
            .call("GET", "/api/v1/tenants/310000/310115/bindings", Some(world.token("city-admin")), None)
            .await;
        assert!(city.body["bindings"].as_array().unwrap().iter().any(|b| b["service"] == SERVICE), "{}", city.body);
    }

    async fn a_case_gets_the_most_specific_binding_on_its_path(t) {
        let world = World::demo(&t).await;
        // The demo binds the city's rule as the default and Pudong's variant at Pudong.
        let lujiazui = evaluate(&world, "lujiazui-officer", LUJIAZUI, None).await;
        assert_eq!(lujiazui.status, StatusCode::OK, "{}", lujiazui.body);
        assert_eq!(lujiazui.body["module"], "meal-subsidy-pudong");
        assert_eq!(lujiazui.body["version"], "1.0.0");
        assert_eq!(lujiazui.body["binding_tenant"], "310000/310115");
        assert_eq!(lujiazui.body["output"]["per_meal_fen"], 400 + 200, "Pudong's amount, Lujiazui's own top-up");

        let huamu = evaluate(&world, "pudong-reviewer", HUAMU, None).await;
        assert_eq!(huamu.body["module"], "meal-subsidy-pudong");
        assert_eq!(huamu.body["output"]["per_meal_fen"], 400 + 100, "Pudong's amount and top-up");

        let huangpu = evaluate(&world, "huangpu-reviewer", NANJING_DONG_LU, None).await;
        assert_eq!(huangpu.status, StatusCode::OK, "{}", huangpu.body);
        assert_eq!(huangpu.body["module"], "meal-subsidy");
        assert_eq!(huangpu.body["binding_tenant"], Value::Null, "the service default");
        assert_eq!(huangpu.body["output"]["per_meal_fen"], 300, "the city's amount");

        // Input that breaks the service's schema never reaches a module.
        let bad = world
            .call("POST", &format!("/api/v1/tenants/{LUJIAZUI}/services/{SERVICE}/evaluate"),
                  Some(world.token("lujiazui-officer")), Some(json!({"input": {"birth_date": 5}})))
            .await;
        assert_eq!((bad.status, bad.code()), (StatusCode::UNPROCESSABLE_ENTITY, "input_schema_violation"), "{}", bad.body);
        let unknown = world
            .call("POST", &format!("/api/v1/tenants/{LUJIAZUI}/services/civil-affairs/nothing/evaluate"),
                  Some(world.token("lujiazui-officer")), Some(json!({"input": {}})))
            .await;
        assert_eq!((unknown.status, unknown.code()), (StatusCode::NOT_FOUND, "service_not_found"));
    }

    async fn a_batch_answers_each_input_in_order_as_single_calls_do_and_a_bad_input_stops_nothing(t) {
        let world = World::demo(&t).await;
        let officer = world.token("lujiazui-officer");
        let batch_url = format!("/api/v1/tenants/{LUJIAZUI}/services/{SERVICE}/evaluate-batch");
        let mut alone = application();
        alone["living_alone"] = json!(true);
        let young = json!({"birth_date": "1990-01-01", "household_registration": "local", "living_alone": false,
                           "disability_grade": 0, "economic_status": "none"});
        let inputs = vec![application(), json!({"birth_date": 5}), alone.clone(), young.clone()];
        let batch = world
            .call("POST", &batch_url, Some(officer), Some(json!({"inputs": inputs, "as_of": "2026-11-23"})))
            .await;
        assert_eq!(batch.status, StatusCode::OK, "{}", batch.body);
        assert_eq!((batch.body["answered"].as_u64(), batch.body["failed"].as_u64()), (Some(3), Some(1)));
        assert_eq!(batch.body["module"], "meal-subsidy-pudong", "the binding a single call at Lujiazui gets");
        assert_eq!(batch.body["binding_tenant"], "310000/310115");
        let answers = batch.body["answers"].as_array().unwrap();
        assert_eq!(answers.len(), 4);
        assert_eq!(answers[1]["error"]["code"], "input_schema_violation", "{}", answers[1]);
        assert!(answers[1].get("output").is_none());
        // Every answer is what a single evaluation of that input answers.
        for (i, input) in [(0, application()), (2, alone), (3, young)] {
            let single = world
                .call("POST", &format!("/api/v1/tenants/{LUJIAZUI}/services/{SERVICE}/evaluate"),
                      Some(officer), Some(json!({"input": input, "as_of": "2026-11-23"})))
                .await;
            assert_eq!(single.status, StatusCode::OK, "{}", single.body);
            assert_eq!(answers[i]["output"], single.body["output"], "input {i}");
            assert_eq!(answers[i]["fuel_used"], single.body["fuel_used"], "input {i}");
        }
        assert_ne!(answers[0]["output"], answers[3]["output"], "the inputs differ, so do the answers");

        // 600 inputs spread over the server's threads still come back in order.
        let many: Vec<Value> = (0..600)
            .map(|i| {
                let mut input = application();
                input["living_alone"] = json!(i % 3 == 0);
                input
            })
            .collect();
        let big = world
            .call("POST", &batch_url, Some(officer), Some(json!({"inputs": many, "as_of": "2026-11-23"})))
            .await;
        assert_eq!(big.status, StatusCode::OK, "{}", big.body);
        let answers = big.body["answers"].as_array().unwrap();
        assert_eq!(answers.len(), 600);
        let first_alone = &answers[0]["output"];
        let first_not = &answers[1]["output"];
        assert_ne!(first_alone, first_not);
        for (i, answer) in answers.iter().enumerate() {
            let expected = if i % 3 == 0 { first_alone } else { first_not };
            assert_eq!(&answer["output"], expected, "answer {i} out of order");
        }

        // No inputs, too many, or a bad date: refused whole, with a clear error.
        for body in [
            json!({"inputs": []}),
            json!({"inputs": vec![json!({}); 5_001]}),
            json!({"inputs": [application()], "as_of": "2026-02-30"}),
        ] {
            let refused = world.call("POST", &batch_url, Some(officer), Some(body)).await;
            assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"), "{}", refused.body);
        }
        // The permission is the single call's: a citizen may not.
        let citizen = world
            .call("POST", &batch_url, Some(world.token("citizen-demo")), Some(json!({"inputs": [application()]})))
            .await;
        assert_eq!(citizen.status, StatusCode::FORBIDDEN, "{}", citizen.body);
    }

    async fn a_rollout_splits_cases_deterministically_and_rollback_restores_the_old_version(t) {
        let world = World::demo(&t).await;
        let key = publisher_key(&world).await;
        let artifact = module_component("modules/civil-affairs/meal-subsidy-pudong");
        let published = publish(&world, &key, "meal-subsidy-pudong", "1.1.0", &artifact).await;
        assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
        assert_eq!(published.body["digest"], hex(&civitas_crypto::sm3::digest(&artifact)));
        assert_eq!(published.body["publisher"], "module-dev");
        let again = publish(&world, &key, "meal-subsidy-pudong", "1.1.0", &artifact).await;
        assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "module_version_exists"));
        let listed = world
            .call("GET", &format!("/api/v1/modules?service={SERVICE}"), Some(world.token("city-admin")), None)
            .await;
        assert_eq!(listed.body["modules"].as_array().unwrap().len(), 3, "{}", listed.body);

        // A partial rollout is decided on a what-if report of this version
        // here: without one it is refused; with one of another version too.
        let unreported = bind(&world, "city-admin", "310000/310115", "meal-subsidy-pudong", "1.1.0", Some(30)).await;
        assert_eq!((unreported.status, unreported.code()), (StatusCode::UNPROCESSABLE_ENTITY, "what_if_required"), "{}", unreported.body);
        let what_if = |candidate: &'static str| {
            let world = &world;
            async move {
                let reply = world.call("POST", &format!("/api/v1/tenants/310000/310115/services/{SERVICE}/what-if"),
                    Some(world.token("city-admin")), Some(json!({"candidate": candidate}))).await;
                assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
                assert_eq!(reply.body["report_sm3"].as_str().map(str::len), Some(64), "{}", reply.body);
                reply.body["id"].as_str().unwrap().to_owned()
            }
        };
        let other = what_if("meal-subsidy@1.0.0").await;
        let binding = format!("/api/v1/tenants/310000/310115/bindings/{SERVICE}");
        let rollout_on = |report: String| world.call("PUT", &binding,
            Some(world.token("city-admin")),
            Some(json!({"module": "meal-subsidy-pudong", "version": "1.1.0", "rollout_percent": 30, "what_if_report": report})));
        let mismatched = rollout_on(other).await;
        assert_eq!((mismatched.status, mismatched.code()), (StatusCode::UNPROCESSABLE_ENTITY, "what_if_mismatch"), "{}", mismatched.body);
        let unknown = rollout_on("no-such-report".into()).await;
        assert_eq!((unknown.status, unknown.code()), (StatusCode::UNPROCESSABLE_ENTITY, "what_if_not_found"), "{}", unknown.body);
        let report = what_if("meal-subsidy-pudong@1.1.0").await;
        let rollout = rollout_on(report.clone()).await;
        assert_eq!(rollout.status, StatusCode::OK, "{}", rollout.body);
        let bound = world
            .call("GET", "/api/v1/tenants/310000/audit?action=module.bind&limit=100", Some(world.token("audit-admin")), None)
            .await;
        let decided: Vec<&Value> = bound.body["records"].as_array().unwrap().iter()
            .filter(|r| r["detail"]["change"] == "rollout").map(|r| &r["detail"]["what_if_report"]).collect();
        assert_eq!(decided, [&json!(report)], "the rollout's audit record names its report");
        // The report it names reads back whole, as it was run, here and for
        // the city; not for Huangpu, and not under another service.
        let read = |tenant: &'static str, service: &'static str| {
            let (world, uri) = (&world, format!("/api/v1/tenants/{tenant}/services/{service}/what-if/{report}"));
            async move { world.call("GET", &uri, Some(world.token("city-admin")), None).await }
        };
        let kept = read("310000/310115", SERVICE).await;
        assert_eq!((kept.status, kept.body["id"].as_str(), kept.body["candidate"].as_str()),
            (StatusCode::OK, Some(report.as_str()), Some("meal-subsidy-pudong@1.1.0")), "{}", kept.body);
        assert_eq!(read("310000", SERVICE).await.body["report_sm3"], kept.body["report_sm3"]);
        for (tenant, service) in [("310000/310101", SERVICE), ("310000/310115", "market-regulation/penalty-case")] {
            let missing = read(tenant, service).await;
            assert_eq!((missing.status, missing.code()), (StatusCode::NOT_FOUND, "what_if_not_found"), "{}", missing.body);
        }
        // A kept report altered in the database is an error, never shown.
        let mut tx = t.db.begin_platform().await.unwrap();
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE what_if_reports SET report = replace(report, '\"decisions\":', '\"decisions\": ') WHERE id = $1")
                .bind(report.clone()).execute(&mut *c).await.unwrap();
        });
        tx.commit().await.unwrap();
        assert_eq!(read("310000/310115", SERVICE).await.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(rollout.body["binding"]["stable"]["version"], "1.0.0");
        assert_eq!(rollout.body["binding"]["candidate"]["version"], "1.1.0");
        assert_eq!(rollout.body["binding"]["rollout_percent"], 30);

        let mut on_candidate = 0;
        for i in 0..100 {
            let case = format!("CA-2026-{i:06}");
            let reply = evaluate(&world, "lujiazui-officer", LUJIAZUI, Some(&case)).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            let expected = if civitas_registry::rollout_bucket(SERVICE, &case) < 30 { "1.1.0" } else { "1.0.0" };
            assert_eq!(reply.body["version"], expected, "{case}");
            if expected == "1.1.0" {
                on_candidate += 1;
                assert_eq!(reply.body["rollout"], true);
                // The same case sees the same version every time.
                let again = evaluate(&world, "lujiazui-officer", LUJIAZUI, Some(&case)).await;
                assert_eq!(again.body["version"], "1.1.0");
            }
        }
        assert!((15..=45).contains(&on_candidate), "{on_candidate} of 100 cases in a 30 % rollout");
        let huangpu = evaluate(&world, "huangpu-reviewer", NANJING_DONG_LU, Some("CA-2026-000001")).await;
        assert_eq!(huangpu.body["module"], "meal-subsidy", "another district is untouched");

        let rolled_back = world
            .call("POST", &format!("/api/v1/tenants/310000/310115/bindings/{SERVICE}/rollback"),
                  Some(world.token("city-admin")), None)
            .await;
        assert_eq!(rolled_back.status, StatusCode::OK, "{}", rolled_back.body);
        assert_eq!(rolled_back.body["binding"]["candidate"], Value::Null);
        for i in 0..100 {
            let reply = evaluate(&world, "lujiazui-officer", LUJIAZUI, Some(&format!("CA-2026-{i:06}"))).await;
            assert_eq!(reply.body["version"], "1.0.0");
        }

        // A full bind, then a rollback, restores the previous stable version.
        assert_eq!(bind(&world, "city-admin", "310000/310115", "meal-subsidy-pudong", "1.1.0", None).await.status, StatusCode::OK);
        assert_eq!(evaluate(&world, "lujiazui-officer", LUJIAZUI, Some("x")).await.body["version"], "1.1.0");
        world.call("POST", &format!("/api/v1/tenants/310000/310115/bindings/{SERVICE}/rollback"), Some(world.token("city-admin")), None).await;
        assert_eq!(evaluate(&world, "lujiazui-officer", LUJIAZUI, Some("x")).await.body["version"], "1.0.0");

        // A yanked version keeps serving where bound but cannot be bound anew.
        let yanked = world
            .call("POST", "/api/v1/modules/meal-subsidy-pudong/1.1.0/yank", Some(world.token("module-dev")),
                  Some(json!({"reason": "测试撤回 / test yank"})))
            .await;
        assert_eq!(yanked.status, StatusCode::OK, "{}", yanked.body);
        let refused = bind(&world, "city-admin", "310000/310115", "meal-subsidy-pudong", "1.1.0", None).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "module_yanked"));
        let back = world
            .call("POST", &format!("/api/v1/tenants/310000/310115/bindings/{SERVICE}/rollback"), Some(world.token("city-admin")), None)
            .await;
        assert_eq!((back.status, back.code()), (StatusCode::UNPROCESSABLE_ENTITY, "module_yanked"), "a rollback does not bring a yanked version back");

        // Only the publisher publishes further versions of a module or yanks it.
        let sys_key = register_key(&world, "sys-admin").await;
        let hijack = world
            .call("POST", "/api/v1/modules", Some(world.token("sys-admin")),
                  Some(json!({"name": "meal-subsidy", "version": "9.0.0", "service": SERVICE,
                              "artifact": base64::engine::general_purpose::STANDARD.encode(&artifact),
                              "signature": signature_by(&sys_key, "sys-admin", "meal-subsidy", "9.0.0", &artifact)})))
            .await;
        assert_eq!((hijack.status, hijack.code()), (StatusCode::FORBIDDEN, "module_not_owner"), "{}", hijack.body);
        let foreign_yank = world
            .call("POST", "/api/v1/modules/meal-subsidy-pudong/1.0.0/yank", Some(world.token("sys-admin")),
                  Some(json!({"reason": "不是我的 / not mine"})))
            .await;
        assert_eq!((foreign_yank.status, foreign_yank.code()), (StatusCode::FORBIDDEN, "module_not_owner"));

        // The service default applies under every root: a Shanghai administrator may not set it.
        let default = world
            .call("PUT", &format!("/api/v1/services/{SERVICE}/default"), Some(world.token("sys-admin")),
                  Some(json!({"module": "meal-subsidy-pudong", "version": "1.0.0"})))
            .await;
        assert_eq!(default.status, StatusCode::FORBIDDEN, "{}", default.body);

        // A district administrator binds only in their own subtree.
        let outside = bind(&world, "sys-admin", "510000", "meal-subsidy", "1.0.0", None).await;
        assert_eq!(outside.status, StatusCode::FORBIDDEN);

        // Every publish and binding change is in the audit trail.
        let audit = world
            .call("GET", "/api/v1/tenants/310000/audit?action=module.*&limit=100", Some(world.token("audit-admin")), None)
            .await;
        assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
        let actions: Vec<(String, String)> = audit.body["records"].as_array().unwrap().iter()
            .map(|e| (e["action"].as_str().unwrap().to_owned(), e["target"].as_str().unwrap().to_owned()))
            .collect();
        for expected in [
            ("module.publish", "module:meal-subsidy-pudong@1.1.0"),
            ("module.bind", "binding:310000/310115:civil-affairs/meal-subsidy"),
            ("module.yank", "module:meal-subsidy-pudong@1.1.0"),
        ] {
            assert!(actions.iter().any(|(a, t)| a == expected.0 && t == expected.1), "{expected:?} not in {actions:?}");
        }
        let binds = actions.iter().filter(|(a, t)| a == "module.bind" && t.starts_with("binding:310000/310115:")).count();
        assert!(binds >= 5, "the Pudong binding's demo bind, rollout, rollback, bind and rollback: {binds}");
    }

    async fn artifacts_must_be_signed_import_only_the_host_and_stay_untampered(t) {
        let world = World::demo(&t).await;
        let key = publisher_key(&world).await;
        let trap = module_component("conformance/hostile/trap");

        let forbidden = module_component("conformance/hostile/forbidden-import");
        let reply = publish(&world, &key, "greedy", "1.0.0", &forbidden).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::UNPROCESSABLE_ENTITY, "module_forbidden_import"), "{}", reply.body);
        assert!(reply.body["message"]["en"].as_str().unwrap().contains("wasi:random/random"));

        let unproven = world
            .call("POST", "/api/v1/signing-keys", Some(world.token("module-dev")),
                  Some(json!({"public_key": PrivateKey::generate().unwrap().public_key().to_hex(), "proof": "3045"})))
            .await;
        assert_eq!((unproven.status, unproven.code()), (StatusCode::UNPROCESSABLE_ENTITY, "signing_key_unproven"));
        let unsigned = publish_signed(&world, "unsigned", "1.0.0", &trap, "").await;
        assert_eq!((unsigned.status, unsigned.code()), (StatusCode::UNPROCESSABLE_ENTITY, "module_unsigned"));
        let stranger = PrivateKey::generate().unwrap();
        let foreign = publish_signed(&world, "foreign", "1.0.0", &trap, &signature(&stranger, "foreign", "1.0.0", &trap)).await;
        assert_eq!((foreign.status, foreign.code()), (StatusCode::UNPROCESSABLE_ENTITY, "module_bad_signature"));
        let replayed = publish_signed(&world, "replayed", "2.0.0", &trap, &signature(&key, "replayed", "1.0.0", &trap)).await;
        assert_eq!(replayed.code(), "module_bad_signature", "a signature binds the version");
        let not_wasm = publish(&world, &key, "garbage", "1.0.0", b"not a component").await;
        assert_eq!((not_wasm.status, not_wasm.code()), (StatusCode::UNPROCESSABLE_ENTITY, "module_invalid"));
        let city = world
            .call("POST", "/api/v1/modules", Some(world.token("city-admin")),
                  Some(json!({"name": "x", "version": "1.0.0", "service": SERVICE, "artifact": "", "signature": ""})))
            .await;
        assert_eq!(city.status, StatusCode::FORBIDDEN, "a tenant administrator does not publish");

        // Altered in storage after publication: never served, never loaded.
        assert_eq!(publish(&world, &key, "tamper-me", "1.0.0", &trap).await.status, StatusCode::CREATED);
        let mut altered = trap.clone();
        let middle = altered.len() / 2;
        altered[middle] ^= 0xff;
        let mut tx = world.db.begin_platform().await.unwrap();
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE modules SET artifact = $1 WHERE name = 'tamper-me'")
                .bind(altered).execute(&mut *c).await.unwrap();
        });
        tx.commit().await.unwrap();
        let download = world
            .call("GET", "/api/v1/modules/tamper-me/1.0.0/artifact", Some(world.token("city-admin")), None)
            .await;
        assert_eq!((download.status, download.code()), (StatusCode::BAD_GATEWAY, "module_tampered"));
        let bound = bind(&world, "city-admin", "310000/310104", "tamper-me", "1.0.0", None).await;
        assert_eq!((bound.status, bound.code()), (StatusCode::BAD_GATEWAY, "module_tampered"));
    }

    async fn binding_refuses_a_module_that_fails_conformance_and_names_the_check(t) {
        let world = World::demo(&t).await;
        let key = publisher_key(&world).await;
        for (name, check) in [
            ("fragile-input", "malformed_input"),
            ("schema-violation", "output_schema"),
            ("endless-loop", "output_schema"),
        ] {
            let artifact = module_component(&format!("conformance/hostile/{name}"));
            assert_eq!(publish(&world, &key, name, "1.0.0", &artifact).await.status, StatusCode::CREATED);
            let reply = bind(&world, "city-admin", "310000/310101", name, "1.0.0", None).await;
            assert_eq!((reply.status, reply.code()), (StatusCode::UNPROCESSABLE_ENTITY, "conformance_failed"), "{name}: {}", reply.body);
            assert!(reply.body["message"]["en"].as_str().unwrap().contains(check), "{name}: {}", reply.body);
        }
        let huangpu = evaluate(&world, "huangpu-reviewer", NANJING_DONG_LU, None).await;
        assert_eq!(huangpu.body["module"], "meal-subsidy", "nothing was bound");
    }

    async fn hostile_modules_fail_their_own_calls_while_other_tenants_are_served(t) {
        let world = World::demo(&t).await;
        let key = publisher_key(&world).await;
        // Bound without conformance, as a module that passed it but misbehaves
        // on some real input would be.
        let hostile = [
            ("endless-loop", "310000/310101/310101002", "module_fuel_exhausted"),
            ("memory-bomb", "310000/310101/310101013", "module_memory_limit"),
            ("deep-recursion", "310000/310101/310101018", "module_stack_overflow"),
            ("trap", "310000/310104/310104003", "module_trap"),
            ("invalid-output", "310000/310104/310104014", "module_invalid_output"),
            ("huge-output", "310000/310104/310104103", "module_output_too_large"),
            ("schema-violation", "310000/310104", "module_output_schema"),
        ];
        for (name, tenant, _) in hostile {
            let artifact = module_component(&format!("conformance/hostile/{name}"));
            assert_eq!(publish(&world, &key, name, "1.0.0", &artifact).await.status, StatusCode::CREATED);
            let path = TenantPath::parse(tenant).unwrap();
            let mut tx = world.db.begin(&TenantScope::for_platform_task(path.clone())).await.unwrap();
            let module = civitas_registry::ModuleRef { module: name.into(), version: "1.0.0".into() };
            civitas_registry::bind(&mut tx, Some(&path), SERVICE, &module, None, None, "test").await.unwrap();
            tx.commit().await.unwrap();
        }
        let hostile_calls = async {
            let mut seen = Vec::new();
            for round in 0..3 {
                for (name, tenant, code) in hostile {
                    let reply = evaluate(&world, "city-admin", tenant, Some(&format!("h-{round}"))).await;
                    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_GATEWAY, code), "{name}: {}", reply.body);
                    seen.push(name);
                }
            }
            seen.len()
        };
        let good_calls = async {
            let mut served = 0;
            for i in 0..60 {
                let reply = evaluate(&world, "lujiazui-officer", LUJIAZUI, Some(&format!("g-{i}"))).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                assert_eq!(reply.body["output"]["per_meal_fen"], 600);
                served += 1;
            }
            served
        };
        let (hostile_seen, served) = tokio::join!(hostile_calls, good_calls);
        assert_eq!((hostile_seen, served), (hostile.len() * 3, 60));
    }

    async fn a_module_that_hangs_on_one_tenant_costs_the_other_tenants_no_more_than_the_same_calls_answered(t) {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::{Duration, Instant};
        const CLIENTS: usize = 4;
        const CALLS: usize = 40;
        const STREET_CLIENTS: usize = 24;
        let demo = World::demo(&t).await;
        let world = &demo;
        let key = publisher_key(world).await;
        let metrics = || async { world.call("GET", "/metrics", None, None).await.body.as_str().unwrap_or_default().to_owned() };
        let confined = |metrics: &str| metrics.lines().any(|line| line == "civitas_module_confined_lanes 1");
        // CLIENTS officers of Lujiazui, each making CALLS evaluations one
        // after another, every one answered: how long they take.
        let lujiazui = || async {
            let started = Instant::now();
            futures::future::join_all((0..CLIENTS).map(|_| async {
                for _ in 0..CALLS {
                    let reply = evaluate(world, "lujiazui-officer", LUJIAZUI, None).await;
                    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                    assert_eq!(reply.body["output"]["per_meal_fen"], 600);
                }
            }))
            .await;
            started.elapsed()
        };
        // Lujiazui's calls while STREET_CLIENTS callers at Nanjing Dong Lu
        // keep calling; the street's answers.
        let beside_the_street = |hanging: bool| async move {
            let stop = AtomicBool::new(false);
            let street = futures::future::join_all((0..STREET_CLIENTS).map(|_| async {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let reply = evaluate(world, "city-admin", NANJING_DONG_LU, None).await;
                    let retry_after = reply.headers.get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    answers.push((reply.status, reply.code().to_owned(), retry_after));
                }
                answers
            }));
            let timed = async {
                if hanging {
                    // From the first hang on, the street's lane is confined.
                    let mut seen = String::new();
                    for _ in 0..200 {
                        seen = metrics().await;
                        if confined(&seen) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    assert!(confined(&seen), "the lane was never confined:\n{seen}");
                } else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let took = lujiazui().await;
                stop.store(true, Ordering::Relaxed);
                took
            };
            let (answers, took) = tokio::join!(street, timed);
            (took, answers.into_iter().flatten().collect::<Vec<_>>())
        };
        let alone = lujiazui().await;
        // The street's callers answered by the city's rule…
        let (answered, street) = beside_the_street(false).await;
        assert!(street.iter().all(|(status, _, _)| *status == StatusCode::OK), "{street:?}");
        let street_answered = street.len();

        // …then by a variant of its own that loops on every input (bound
        // without conformance, as a version that passed it but hangs on the
        // street's real data would be).
        let artifact = module_component("conformance/hostile/endless-loop");
        assert_eq!(publish(world, &key, "endless-loop", "1.0.0", &artifact).await.status, StatusCode::CREATED);
        let path = TenantPath::parse(NANJING_DONG_LU).unwrap();
        let mut tx = world.db.begin(&TenantScope::for_platform_task(path.clone())).await.unwrap();
        let module = civitas_registry::ModuleRef { module: "endless-loop".into(), version: "1.0.0".into() };
        civitas_registry::bind(&mut tx, Some(&path), SERVICE, &module, None, None, "test").await.unwrap();
        tx.commit().await.unwrap();
        let (hanging, street) = beside_the_street(true).await;
        let after = metrics().await;

        let count = |code: &str| street.iter().filter(|(_, c, _)| c == code).count();
        let (hung, refused) = (count("module_fuel_exhausted"), count("module_calls_confined"));
        let rate = |took: Duration| (CLIENTS * CALLS) as f64 / took.as_secs_f64();
        eprintln!(
            "Lujiazui's evaluations: alone {:.0}/s; beside {STREET_CLIENTS} callers at Nanjing Dong Lu answered by the city's rule {:.0}/s \
             ({street_answered} answered there); beside the same callers of a variant that hangs {:.0}/s ({:.2}× the answered case; \
             at the street {hung} ran out of fuel one at a time, {refused} refused 503 waiting for their turn)",
            rate(alone),
            rate(answered),
            rate(hanging),
            answered.as_secs_f64() / hanging.as_secs_f64(),
        );
        // The street's callers get the module's fault or the confinement,
        // nothing else; a refusal says when to retry.
        for (status, code, retry_after) in &street {
            match code.as_str() {
                "module_fuel_exhausted" => assert_eq!(*status, StatusCode::BAD_GATEWAY),
                "module_calls_confined" => {
                    assert_eq!((*status, retry_after.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("1")));
                }
                other => panic!("unexpected answer at the street: {status} {other}"),
            }
        }
        assert!(hung > 0, "{street:?}");
        assert!(confined(&after), "{after}");
    }

    async fn swapping_a_version_under_load_drops_no_request(t) {
        let world = World::demo(&t).await;
        let key = publisher_key(&world).await;
        let artifact = module_component("modules/civil-affairs/meal-subsidy-pudong");
        assert_eq!(publish(&world, &key, "meal-subsidy-pudong", "1.1.0", &artifact).await.status, StatusCode::CREATED);
        let calls = async {
            let mut versions = std::collections::BTreeSet::new();
            for i in 0..120 {
                let reply = evaluate(&world, "lujiazui-officer", LUJIAZUI, Some(&format!("load-{i}"))).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                versions.insert(reply.body["version"].as_str().unwrap().to_owned());
            }
            versions
        };
        let swaps = async {
            for round in 0..6 {
                let version = if round % 2 == 0 { "1.1.0" } else { "1.0.0" };
                let reply = bind(&world, "city-admin", "310000/310115", "meal-subsidy-pudong", version, None).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            }
        };
        let (versions, ()) = tokio::join!(calls, swaps);
        assert!(versions.iter().all(|v| v == "1.0.0" || v == "1.1.0"), "{versions:?}");
    }
}
