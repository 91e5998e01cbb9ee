//! The seed scenarios as flows, walked over HTTP on SQLite and PostgreSQL,
//! each with a restart in the middle: the case continues and its timers
//! still fire. And 50 reviewers racing on one step make one transition.
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
const DAZHOU: &str = "510000/511700";
const DAZHU: &str = "510000/511700/511724";
/// 乌木镇, a township of 大竹县.
const WUMU: &str = "510000/511700/511724/511724101";
const XUHUI: &str = "310000/310104";
/// 南京东路街道, a street of Huangpu.
const NANJING_DONG_LU: &str = "310000/310101/310101002";

/// A talent's application for a one-bedroom flat of 张江国际社区人才公寓:
/// `tier`, `months` of social insurance in the district, household of
/// `size`, employer in `area`.
fn talent(name: &str, tier: &str, key_employer: bool, months: u32, size: u32, area: &str) -> Value {
    json!({"service": "housing/talent-apartment", "data": {
        "applicant_name": name, "project": "张江国际社区人才公寓", "unit_type": "one-bedroom",
        "talent_tier": tier, "full_time_contract": true, "owns_home_in_city": false,
        "clean_record": true, "already_housed": false, "key_employer_recommended": key_employer,
        "household_size": size, "months_in_district": months, "employer_area": area}})
}

/// A 72-year-old local elder: eligible.
fn application() -> Value {
    json!({"birth_date": "1954-03-02", "household_registration": "local", "living_alone": false,
           "disability_grade": 0, "economic_status": "none"})
}

/// The facts of a supermarket's first sale of expired food (goods worth
/// 216 yuan: the statutory range is 50,000–100,000 yuan), registered with
/// `authority`.
fn expired_food(authority: &str) -> Value {
    json!({"party": "上海某超市有限公司", "party_credit_code": "91310115MA1K4B8E73",
           "violation": "销售超过保质期的酸奶 24 盒", "violation_code": "food-expired",
           "registration_authority": authority, "goods_value_yuan": 216, "illegal_gains_yuan": 48,
           "harm": "minor", "first_offence": true, "corrected_promptly": true})
}

async fn create(world: &World, who: &str, tenant: &str, body: Value) -> Reply {
    world
        .call(
            "POST",
            &format!("/api/v1/tenants/{tenant}/cases"),
            Some(world.token(who)),
            Some(body),
        )
        .await
}

async fn act(world: &World, who: &str, tenant: &str, id: &str, body: Value) -> Reply {
    world
        .call(
            "POST",
            &format!("/api/v1/tenants/{tenant}/cases/{id}/actions"),
            Some(world.token(who)),
            Some(body),
        )
        .await
}

async fn get(world: &World, who: &str, path: &str) -> Reply {
    world.call("GET", path, Some(world.token(who)), None).await
}

fn id(reply: &Reply) -> String {
    reply.body["id"].as_str().unwrap().to_owned()
}

async fn inbox_ids(world: &World, who: &str) -> Vec<String> {
    let reply = get(world, who, "/api/v1/inbox").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["case_id"].as_str().unwrap().to_owned())
        .collect()
}

/// `days` days pass on the server's clock and the timer queue fires as
/// `serve` does: what fired for `case`.
async fn time_passes(world: &World, case: &str, days: i64) -> Vec<civitas_workflow::timers::Fired> {
    let fired = world.time_passes(days).await;
    fired.into_iter().filter(|f| f.case_id == case).collect()
}

both_backends! {
    async fn meal_subsidy_from_lujiazui_to_pudong_with_return_and_resubmission(t) {
        let world = World::demo(&t).await;
        // A citizen applies at Lujiazui; the bound module finds them eligible.
        let created = create(&world, "citizen-demo", LUJIAZUI,
            json!({"service": "civil-affairs/meal-subsidy", "data": application()})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let case = id(&created);
        assert_eq!(created.body["state"], "open");
        assert_eq!(created.body["step"], "street-review");
        assert_eq!(created.body["outcomes"]["eligibility"]["output"]["eligible"], true);
        assert_eq!(created.body["outcomes"]["eligibility"]["module"], "meal-subsidy-pudong");
        // Due in 5 working days on the official calendar.
        let calendar = civitas_calendar::Calendar::official().unwrap();
        let due = calendar.add_working_days(civitas_workflow::today_in_china(), 5).unwrap();
        assert_eq!(created.body["step_due_on"], json!(due.to_string()));

        // It waits in the street officer's inbox, not the district's yet.
        assert!(inbox_ids(&world, "lujiazui-officer").await.contains(&case));
        assert!(!inbox_ids(&world, "pudong-reviewer").await.contains(&case));

        // Returned for correction, with a reason; the applicant resubmits.
        let no_reason = act(&world, "lujiazui-officer", LUJIAZUI, &case, json!({"action": "return"})).await;
        assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", no_reason.body);
        let returned = act(&world, "lujiazui-officer", LUJIAZUI, &case,
            json!({"action": "return", "reason": "户籍证明不清晰，请重新上传", "version": 1})).await;
        assert_eq!(returned.status, StatusCode::OK, "{}", returned.body);
        assert_eq!(returned.body["state"], "returned");
        assert!(!inbox_ids(&world, "lujiazui-officer").await.contains(&case));
        let resubmitted = act(&world, "citizen-demo", LUJIAZUI, &case,
            json!({"action": "resubmit", "data": application()})).await;
        assert_eq!(resubmitted.status, StatusCode::OK, "{}", resubmitted.body);
        assert_eq!(resubmitted.body["step"], "street-review");

        // Street approves; the case moves up to Pudong.
        let approved = act(&world, "lujiazui-officer", LUJIAZUI, &case, json!({"action": "approve"})).await;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
        assert_eq!(approved.body["step"], "district-approval");

        // The server restarts here.
        let clock = world.clock.clone();
        drop(world);
        let world = World::restarted(&t, &clock).await;
        assert!(inbox_ids(&world, "pudong-reviewer").await.contains(&case));
        // The district step's timers survived: overdue marking and 督办 fire.
        let fired = time_passes(&world, &case, 21).await;
        let kinds: Vec<&str> = fired.iter().map(|f| f.kind.as_str()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "step.overdue").count(), 1, "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == "step.escalate").count(), 1, "{kinds:?}");
        let escalation = fired.iter().find(|f| f.kind == "step.escalate").unwrap();
        assert_eq!(escalation.recipient_tenant, SHANGHAI, "督办 goes one level above Pudong");
        assert!(time_passes(&world, &case, 1).await.is_empty(), "a timer fires once");
        let read = get(&world, "pudong-reviewer", &format!("/api/v1/tenants/{PUDONG}/cases/{case}")).await;
        assert_eq!((read.body["overdue"].clone(), read.body["supervised"].clone()), (json!(true), json!(true)));
        let notes = get(&world, "pudong-reviewer", &format!("/api/v1/tenants/{PUDONG}/notifications")).await;
        assert!(notes.body["notifications"].as_array().unwrap().iter().any(|n| n["case_id"] == case.as_str()), "{}", notes.body);

        // Pudong approves: the module is asked for the amount again.
        let done = act(&world, "pudong-reviewer", PUDONG, &case, json!({"action": "approve"})).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert_eq!(done.body["state"], "closed");
        assert!(done.body["outcomes"]["amount"]["output"]["per_meal_fen"].as_i64().unwrap() > 0);

        // The history names who did what, with reasons and module versions.
        let history = get(&world, "citizen-demo", &format!("/api/v1/tenants/{LUJIAZUI}/cases/{case}/history")).await;
        assert_eq!(history.status, StatusCode::OK, "{}", history.body);
        let actions: Vec<&str> = history.body["history"].as_array().unwrap().iter()
            .map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["submit", "return", "resubmit", "approve", "step.remind", "step.overdue", "step.escalate", "approve"]);
        let entries = history.body["history"].as_array().unwrap();
        assert_eq!(entries[1]["reason"], "户籍证明不清晰，请重新上传");
        assert_eq!(entries[0]["module"], "meal-subsidy-pudong");
        assert_eq!(entries[7]["module_version"], "1.0.0");
        // A finished case takes no more actions.
        let again = act(&world, "pudong-reviewer", PUDONG, &case, json!({"action": "approve"})).await;
        assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "action_not_allowed"));
    }

    async fn an_ineligible_application_is_refused_on_record_and_others_cannot_see_it(t) {
        let world = World::demo(&t).await;
        let mut young = application();
        young["birth_date"] = json!("1990-01-01");
        let created = create(&world, "citizen-demo", LUJIAZUI,
            json!({"service": "civil-affairs/meal-subsidy", "data": young})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["state"], "rejected");
        let case = id(&created);
        // Staff of another district and other citizens' views do not find it.
        let huangpu = get(&world, "huangpu-reviewer", &format!("/api/v1/tenants/{HUANGPU}/cases/{case}")).await;
        assert_eq!(huangpu.status, StatusCode::NOT_FOUND);
        let elsewhere = get(&world, "huangpu-reviewer", &format!("/api/v1/tenants/{LUJIAZUI}/cases/{case}")).await;
        assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
        // Staff see their subtree and line; the applicant sees their own.
        let mine = get(&world, "citizen-demo", &format!("/api/v1/tenants/{SHANGHAI}/cases")).await;
        assert_eq!(mine.body["cases"].as_array().unwrap().len(), 1, "{}", mine.body);
        let history = get(&world, "pudong-reviewer", &format!("/api/v1/tenants/{PUDONG}/cases/{case}/history")).await;
        let last = history.body["history"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["action"], "reject");
        assert!(last["reason"].as_str().unwrap().contains("meal-subsidy-pudong@1.0.0"), "{last}");
        // Withdraw is only for open applications before review.
        let withdraw = act(&world, "citizen-demo", LUJIAZUI, &case, json!({"action": "withdraw", "reason": "不需要了"})).await;
        assert_eq!(withdraw.status, StatusCode::CONFLICT);
    }

    async fn a_lead_out_of_jurisdiction_goes_back_to_the_city_and_is_dispatched_again(t) {
        let world = World::demo(&t).await;
        let created = create(&world, "city-hr-dispatcher", SHANGHAI, json!({
            "service": "hr-social-security/wage-arrears-lead", "origin": "warning",
            "title": "某建筑项目欠薪线索", "data": {"rule": "wage-arrears-3-months", "project": "张江某工地"}})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let case = id(&created);
        assert_eq!((created.body["step"].clone(), created.body["origin"].clone()), (json!("dispatch"), json!("warning")));
        // The city dispatches to Pudong.
        let dispatched = act(&world, "city-hr-dispatcher", SHANGHAI, &case,
            json!({"action": "transfer", "to_tenant": "shanghai/pudong", "reason": "按用工所在地属地分派"})).await;
        assert_eq!(dispatched.status, StatusCode::OK, "{}", dispatched.body);
        assert_eq!((dispatched.body["tenant_path"].clone(), dispatched.body["step"].clone()), (json!(PUDONG), json!("dispose")));
        assert!(inbox_ids(&world, "pudong-hr-inspector").await.contains(&case));

        let clock = world.clock.clone();
        drop(world);
        let world = World::restarted(&t, &clock).await;

        // Pudong finds it is not theirs and sends it back up with a reason.
        let back = act(&world, "pudong-hr-inspector", PUDONG, &case,
            json!({"action": "transfer", "to_tenant": SHANGHAI, "reason": "项目实际位于黄浦区，非本辖区"})).await;
        assert_eq!(back.status, StatusCode::OK, "{}", back.body);
        assert_eq!((back.body["tenant_path"].clone(), back.body["step"].clone()), (json!(SHANGHAI), json!("dispatch")));
        assert!(!inbox_ids(&world, "pudong-hr-inspector").await.contains(&case));
        // Pudong no longer sees it; the city dispatches it to Huangpu.
        let gone = get(&world, "pudong-hr-inspector", &format!("/api/v1/tenants/{PUDONG}/cases/{case}")).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND);
        let again = act(&world, "city-hr-dispatcher", SHANGHAI, &case,
            json!({"action": "transfer", "to_tenant": HUANGPU, "reason": "二次分派至黄浦区"})).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.body);
        assert!(inbox_ids(&world, "huangpu-hr-inspector").await.contains(&case));
        // Huangpu sees the whole history, reasons included, and its timers fire.
        let history = get(&world, "huangpu-hr-inspector", &format!("/api/v1/tenants/{HUANGPU}/cases/{case}/history")).await;
        let reasons: Vec<&str> = history.body["history"].as_array().unwrap().iter()
            .filter_map(|e| e["reason"].as_str()).collect();
        assert_eq!(reasons, ["按用工所在地属地分派", "项目实际位于黄浦区，非本辖区", "二次分派至黄浦区"]);
        let fired = time_passes(&world, &case, 30).await;
        assert!(fired.iter().any(|f| f.kind == "step.overdue" && f.recipient_tenant == HUANGPU), "{fired:?}");
        let done = act(&world, "huangpu-hr-inspector", HUANGPU, &case, json!({"action": "approve", "reason": "已督促企业支付"})).await;
        assert_eq!((done.status, done.body["state"].clone()), (StatusCode::OK, json!("closed")), "{}", done.body);
    }

    async fn pudong_adds_a_countersign_that_needs_both_signatures(t) {
        let world = World::demo(&t).await;
        let apply = |tenant: &'static str| create(&world, "citizen-demo", tenant,
            json!({"service": "hr-social-security/title-review", "data": {"series": "engineering", "level": "senior"}}));
        // Huangpu follows the city's flow; Pudong its variant.
        let huangpu = apply(HUANGPU).await;
        assert_eq!(huangpu.body["flow"]["variant"], "", "{}", huangpu.body);
        let created = apply(PUDONG).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["flow"]["variant"], PUDONG);
        let case = id(&created);
        let intake = act(&world, "pudong-hr-officer", PUDONG, &case, json!({"action": "approve"})).await;
        assert_eq!(intake.body["step"], "countersign", "{}", intake.body);

        let clock = world.clock.clone();
        drop(world);
        let world = World::restarted(&t, &clock).await;

        // The officer cannot sign; the reviewer signs, the case waits for the head.
        let officer = act(&world, "pudong-hr-officer", PUDONG, &case, json!({"action": "approve"})).await;
        assert_eq!((officer.status, officer.code()), (StatusCode::FORBIDDEN, "not_your_step"), "{}", officer.body);
        let first = act(&world, "pudong-hr-inspector", PUDONG, &case, json!({"action": "approve"})).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(first.body["step"], "countersign");
        assert_eq!(first.body["signed"].as_array().unwrap().len(), 1);
        let twice = act(&world, "pudong-hr-inspector", PUDONG, &case, json!({"action": "approve"})).await;
        assert_eq!(twice.status, StatusCode::FORBIDDEN, "one person signs one slot: {}", twice.body);
        assert!(inbox_ids(&world, "pudong-hr-head").await.contains(&case));
        let second = act(&world, "pudong-hr-head", PUDONG, &case, json!({"action": "approve"})).await;
        assert_eq!(second.status, StatusCode::OK, "{}", second.body);
        assert_eq!(second.body["step"], "review");
        let fired = time_passes(&world, &case, 30).await;
        assert_eq!(fired.iter().filter(|f| f.kind == "step.overdue").count(), 1, "{fired:?}");
    }

    async fn a_penalty_case_keeps_its_90_day_limit_through_pause_and_extension(t) {
        let world = World::demo(&t).await;
        let created = create(&world, "pudong-market-officer", PUDONG, json!({
            "service": "market-regulation/penalty-case", "title": "某超市销售过期食品案",
            "data": {"party": "某超市", "violation": "销售超过保质期的食品"}})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let case = id(&created);
        let today = world.clock.today_in_china();
        let limit = today + chrono::Days::new(90);
        assert_eq!(created.body["limit_due_on"], json!(limit.to_string()));
        // Paused for an expert appraisal; the clock stops, timers are dropped.
        let paused = act(&world, "pudong-market-officer", PUDONG, &case,
            json!({"action": "pause", "reason": "委托检验鉴定，期间不计入办案期限"})).await;
        assert_eq!((paused.status, paused.body["state"].clone()), (StatusCode::OK, json!("paused")), "{}", paused.body);
        assert!(time_passes(&world, &case, 7).await.is_empty(), "a paused case's clock does not run");

        let clock = world.clock.clone();
        drop(world);
        let world = World::restarted(&t, &clock).await;

        let resumed = act(&world, "pudong-market-officer", PUDONG, &case, json!({"action": "resume"})).await;
        assert_eq!((resumed.status, resumed.body["state"].clone()), (StatusCode::OK, json!("open")), "{}", resumed.body);
        // Paused for a week: the 90 natural days move on by the seven.
        let limit = limit + chrono::Days::new(7);
        assert_eq!(resumed.body["limit_due_on"], json!(limit.to_string()));
        let extended = act(&world, "pudong-market-officer", PUDONG, &case,
            json!({"action": "extend", "days": 30, "reason": "案情复杂，经负责人批准延期"})).await;
        assert_eq!(extended.status, StatusCode::OK, "{}", extended.body);
        assert_eq!(extended.body["limit_due_on"], json!((limit + chrono::Days::new(30)).to_string()));
        let more = act(&world, "pudong-market-officer", PUDONG, &case,
            json!({"action": "extend", "days": 1, "reason": "再次延期"})).await;
        assert_eq!((more.status, more.code()), (StatusCode::CONFLICT, "action_not_allowed"), "{}", more.body);
        // The limit's timers were re-armed and fire once, when its 127
        // days (90 + 7 paused + 30 extended) have run out.
        let fired = time_passes(&world, &case, 130).await;
        assert!(fired.iter().any(|f| f.kind == "limit.overdue"), "{fired:?}");
        assert!(fired.iter().any(|f| f.kind == "limit.remind"), "{fired:?}");
        assert!(time_passes(&world, &case, 1).await.is_empty());
    }

    async fn penalty_discretion_follows_each_districts_benchmark_and_is_kept_in_the_history(t) {
        let world = World::demo(&t).await;
        let penalty = |title: &str, data: Value| json!({
            "service": "market-regulation/penalty-case", "title": title, "data": data});

        // Pudong, a party registered with the district: Pudong's variant
        // proposes the lighter band of Pudong's benchmark (its first 40 %).
        let created = create(&world, "pudong-market-officer", PUDONG,
            penalty("某超市销售过期酸奶案", expired_food("district"))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let case = id(&created);
        let investigated = act(&world, "pudong-market-officer", PUDONG, &case, json!({"action": "approve"})).await;
        assert_eq!(investigated.status, StatusCode::OK, "{}", investigated.body);
        assert_eq!(investigated.body["step"], "legal-review");
        let proposal = &investigated.body["outcomes"]["proposal"];
        assert_eq!(proposal["module"], "penalty-discretion-pudong", "{proposal}");
        assert_eq!(proposal["binding_tenant"], PUDONG);
        assert_eq!(proposal["output"]["level"], "lighter");
        assert_eq!(proposal["output"]["may_waive"], true, "the authority may still waive it");
        assert_eq!((proposal["output"]["band_min_yuan"].clone(), proposal["output"]["band_max_yuan"].clone()),
            (json!(50_000), json!(70_000)));
        assert_eq!(proposal["output"]["basis"], "《中华人民共和国食品安全法》第一百二十四条第一款第（五）项");
        assert_eq!(proposal["output"]["confiscate_yuan"], 48);
        let reviewed = act(&world, "pudong-market-reviewer", PUDONG, &case, json!({"action": "approve"})).await;
        assert_eq!((reviewed.status, reviewed.body["step"].clone()), (StatusCode::OK, json!("decision")), "{}", reviewed.body);
        let decided = act(&world, "pudong-market-reviewer", PUDONG, &case,
            json!({"action": "approve", "reason": "从轻处罚，罚款五万元，没收违法所得"})).await;
        assert_eq!((decided.status, decided.body["state"].clone()), (StatusCode::OK, json!("closed")), "{}", decided.body);
        assert_eq!(decided.body["outcomes"]["discretion"]["output"]["band_max_yuan"], 70_000);

        // The history keeps both proposals: inputs (by digest), band and
        // module version, at the steps they were made.
        let reply = get(&world, "pudong-market-reviewer", &format!("/api/v1/tenants/{PUDONG}/cases/{case}/history")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let entries = reply.body["history"].as_array().unwrap();
        let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["submit", "approve", "approve", "approve"]);
        let evaluated: Vec<(&str, &Value)> = entries.iter()
            .filter_map(|e| Some((e["step"].as_str()?, e["detail"].get("evaluations")?)))
            .collect();
        assert_eq!(evaluated.len(), 2, "{entries:?}");
        for ((step, evaluations), hook) in evaluated.iter().zip(["proposal", "discretion"]) {
            let e = &evaluations[0];
            assert_eq!((e["hook"].as_str(), e["module"].as_str(), e["version"].as_str()),
                (Some(hook), Some("penalty-discretion-pudong"), Some("1.0.0")), "at {step}");
            assert_eq!((e["output"]["band_min_yuan"].clone(), e["output"]["band_max_yuan"].clone()), (json!(50_000), json!(70_000)));
            assert_eq!(e["input_sm3"].as_str(), Some(civitas_registry::input_digest(&expired_food("district")).as_str()),
                "the facts the band was proposed on");
        }
        assert_eq!(entries[1]["module_version"], "1.0.0");
        assert_eq!((entries[1]["step"].as_str(), entries[3]["step"].as_str()), (Some("investigate"), Some("decision")));
        assert!(entries[2]["detail"].get("evaluations").is_none(), "the legal review runs no module");

        // Pudong, the same facts for a party registered in the free-trade
        // zone: Pudong's own rule waives the penalty.
        let created = create(&world, "pudong-market-officer", PUDONG,
            penalty("某自贸区企业销售过期酸奶案", expired_food("ftz"))).await;
        let zone = id(&created);
        let investigated = act(&world, "pudong-market-officer", PUDONG, &zone, json!({"action": "approve"})).await;
        let output = &investigated.body["outcomes"]["proposal"]["output"];
        assert_eq!((output["level"].as_str(), output["level_label"].as_str()), (Some("none"), Some("不予处罚")), "{output}");
        assert_eq!((output["band_min_yuan"].clone(), output["band_max_yuan"].clone(), output["rule"].clone()),
            (json!(0), json!(0), json!("pudong")));
        assert!(output["reasons"][0].as_str().unwrap().contains("自贸试验区"), "{output}");

        // Huangpu has no variant: the city's default rule and benchmark
        // (lighter is the first 30 %), and the free-trade-zone rule is
        // Pudong's alone.
        for (authority, band_max) in [("district", 65_000), ("ftz", 65_000)] {
            let created = create(&world, "huangpu-market-officer", HUANGPU,
                penalty("某超市销售过期酸奶案", expired_food(authority))).await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
            let investigated = act(&world, "huangpu-market-officer", HUANGPU, &id(&created), json!({"action": "approve"})).await;
            assert_eq!(investigated.status, StatusCode::OK, "{}", investigated.body);
            let proposal = &investigated.body["outcomes"]["proposal"];
            assert_eq!((proposal["module"].as_str(), proposal["binding_tenant"].clone()),
                (Some("penalty-discretion"), Value::Null), "the service default");
            assert_eq!((proposal["output"]["level"].as_str(), proposal["output"]["band_max_yuan"].clone(), proposal["output"]["rule"].as_str()),
                (Some("lighter"), json!(band_max), Some("city")), "{authority}");
        }

        // Facts the form does not hold are refused when the investigation
        // ends, naming the field, and nothing moves; the case goes back to
        // the officer who filed it, who completes the facts.
        let created = create(&world, "pudong-market-officer", PUDONG,
            penalty("某商户无照经营案", json!({"party": "某商户", "violation": "无照经营"}))).await;
        assert_eq!(created.status, StatusCode::CREATED, "a case is filed before every fact is known: {}", created.body);
        let partial = id(&created);
        let refused = act(&world, "pudong-market-officer", PUDONG, &partial, json!({"action": "approve"})).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "input_schema_violation"), "{}", refused.body);
        assert!(refused.body["message"].to_string().contains("violation_code"), "{}", refused.body);
        let read = get(&world, "pudong-market-officer", &format!("/api/v1/tenants/{PUDONG}/cases/{partial}")).await;
        assert_eq!((read.body["step"].as_str(), read.body["version"].clone()), (Some("investigate"), json!(1)));
        let returned = act(&world, "pudong-market-officer", PUDONG, &partial,
            json!({"action": "return", "reason": "补全违法行为类别、货值金额和情节"})).await;
        assert_eq!((returned.status, returned.body["state"].clone()), (StatusCode::OK, json!("returned")), "{}", returned.body);
        let facts = json!({"party": "某商户", "violation": "无照经营", "violation_code": "unlicensed",
            "goods_value_yuan": 5_000, "illegal_gains_yuan": 1_200, "harm": "minor",
            "first_offence": true, "corrected_promptly": true, "cooperated": true});
        let resubmitted = act(&world, "pudong-market-officer", PUDONG, &partial, json!({"action": "resubmit", "data": facts})).await;
        assert_eq!((resubmitted.status, resubmitted.body["step"].clone()), (StatusCode::OK, json!("investigate")), "{}", resubmitted.body);
        let investigated = act(&world, "pudong-market-officer", PUDONG, &partial, json!({"action": "approve"})).await;
        assert_eq!(investigated.status, StatusCode::OK, "{}", investigated.body);
        let output = &investigated.body["outcomes"]["proposal"]["output"];
        // 无照经营: 0–10,000 yuan; nothing below a minimum of zero, so three
        // mitigating circumstances make it lighter, not reduced.
        assert_eq!((output["level"].as_str(), output["statutory_max_yuan"].clone(), output["band_max_yuan"].clone()),
            (Some("lighter"), json!(10_000), json!(4_000)), "{output}");
        assert_eq!(output["mitigating"], json!(["初次违法", "及时改正", "主动供述或者配合查处"]));
    }

    async fn any_township_of_dazhu_accepts_a_county_residents_application_under_the_countys_own_rule(t) {
        let world = World::demo(&t).await;
        // A resident of 观音镇, lifted out of poverty but not certified as
        // having difficulty finding work, applies at 乌木镇's window.
        let application = json!({"birth_date": "1982-03-14", "household_township": "511724109",
            "difficulty_certified": false, "poverty_alleviated": true, "flexible_employment_registered": true,
            "monthly_contribution_yuan": 720, "months_subsidised": 0, "near_retirement": false});
        let service = "hr-social-security/flexible-employment-subsidy";
        let created = create(&world, "dazhu-citizen", WUMU, json!({"service": service, "data": application})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!((created.body["state"].as_str(), created.body["step"].as_str()), (Some("open"), Some("township-accept")), "{}", created.body);
        let eligibility = &created.body["outcomes"]["eligibility"];
        assert_eq!((eligibility["module"].as_str(), eligibility["binding_tenant"].as_str()),
            (Some("flexible-employment-subsidy-dazhu"), Some(DAZHU)), "{eligibility}");
        assert_eq!(eligibility["output"]["eligible"], true);
        let case = id(&created);

        // Dazhou's default, the national rule, asks for the certification
        // (and caps the amount at Dazhou's 400 yuan).
        let evaluate = format!("/api/v1/tenants/{DAZHOU}/services/{service}/evaluate");
        let national = world.call("POST", &evaluate, Some(world.token("dazhou-hr-reviewer")), Some(json!({"input": application}))).await;
        assert_eq!(national.status, StatusCode::OK, "{}", national.body);
        assert_eq!((national.body["module"].as_str(), national.body["output"]["eligible"].clone()),
            (Some("flexible-employment-subsidy"), json!(false)), "{}", national.body);
        assert!(national.body["output"]["reasons"][0].as_str().unwrap().starts_with("not_certified"));
        let mut certified = application.clone();
        certified["difficulty_certified"] = json!(true);
        let national = world.call("POST", &evaluate, Some(world.token("dazhou-hr-reviewer")), Some(json!({"input": certified}))).await;
        assert_eq!(national.body["output"]["monthly_subsidy_yuan"], 400, "{}", national.body);

        // Someone whose household is outside the county is refused on
        // record, with the county rule's reason.
        let mut outsider = application.clone();
        outsider["household_township"] = json!("310115005");
        let refused = create(&world, "citizen-demo", WUMU, json!({"service": service, "data": outsider})).await;
        assert_eq!((refused.status, refused.body["state"].as_str()), (StatusCode::CREATED, Some("rejected")), "{}", refused.body);
        assert!(refused.body["outcomes"]["eligibility"]["output"]["reasons"][0].as_str().unwrap().starts_with("outside_county"));

        // The same resident's meal-subsidy application, civil affairs, at the
        // same window (Dazhou's amounts under the city default rule).
        let meal = create(&world, "dazhu-citizen", WUMU, json!({"service": "civil-affairs/meal-subsidy", "data": {
            "birth_date": "1950-08-08", "household_registration": "local", "living_alone": true,
            "disability_grade": 0, "economic_status": "none"}})).await;
        assert_eq!(meal.status, StatusCode::CREATED, "{}", meal.body);
        assert_eq!(meal.body["outcomes"]["eligibility"]["output"]["per_meal_fen"], 300, "{}", meal.body);
        let meal = id(&meal);

        // One person staffs the window for both lines (seed 001, L1574): both
        // cases wait in one inbox, without naming a line, and she accepts both.
        let waiting = inbox_ids(&world, "wumu-window").await;
        assert!(waiting.contains(&case) && waiting.contains(&meal), "{waiting:?}");
        for (id, step) in [(&case, "county-review"), (&meal, "district-approval")] {
            let accepted = act(&world, "wumu-window", WUMU, id, json!({"action": "approve"})).await;
            assert_eq!((accepted.status, accepted.body["step"].as_str()), (StatusCode::OK, Some(step)), "{}", accepted.body);
        }
        // Each line's county reviewer sees only its own.
        assert!(inbox_ids(&world, "dazhu-hr-reviewer").await.contains(&case));
        assert!(!inbox_ids(&world, "dazhu-hr-reviewer").await.contains(&meal));
        let meal_done = act(&world, "dazhu-civil-reviewer", DAZHU, &meal, json!({"action": "approve"})).await;
        assert_eq!((meal_done.status, meal_done.body["state"].as_str()), (StatusCode::OK, Some("closed")), "{}", meal_done.body);

        // The county approves: the amount by Dazhu's rule and cap (600 yuan,
        // above two thirds of 720), the county's module in the history.
        let done = act(&world, "dazhu-hr-reviewer", DAZHU, &case, json!({"action": "approve"})).await;
        assert_eq!((done.status, done.body["state"].as_str()), (StatusCode::OK, Some("closed")), "{}", done.body);
        let amount = &done.body["outcomes"]["amount"]["output"];
        assert_eq!((amount["monthly_subsidy_yuan"].clone(), amount["months_granted"].clone(), amount["rule"].as_str()),
            (json!(475), json!(36), Some("dazhu")), "{amount}");
        let history = get(&world, "dazhu-citizen", &format!("/api/v1/tenants/{WUMU}/cases/{case}/history")).await;
        let entries = history.body["history"].as_array().unwrap();
        let modules: Vec<(&str, Option<&str>, Option<&str>)> = entries.iter()
            .map(|e| (e["action"].as_str().unwrap(), e["module"].as_str(), e["module_version"].as_str()))
            .collect();
        assert_eq!(modules, [
            ("submit", Some("flexible-employment-subsidy-dazhu"), Some("1.0.0")),
            ("approve", None, None),
            ("approve", Some("flexible-employment-subsidy-dazhu"), Some("1.0.0")),
        ]);
        assert_eq!(entries[1]["detail"]["actor_tenant"], WUMU, "accepted at the window she chose");
    }

    async fn module_decisions_replay_identically_until_a_stored_input_is_changed(t) {
        let world = World::demo(&t).await;
        // An application decided at submission and again at approval.
        let created = create(&world, "citizen-demo", LUJIAZUI,
            json!({"service": "civil-affairs/meal-subsidy", "data": application()})).await;
        let case = id(&created);
        act(&world, "lujiazui-officer", LUJIAZUI, &case, json!({"action": "approve"})).await;
        let done = act(&world, "pudong-reviewer", PUDONG, &case, json!({"action": "approve"})).await;
        assert_eq!(done.body["state"], "closed", "{}", done.body);

        let tree = civitas_tenancy::SharedTree::new(civitas_testkit::demo_tree());
        let workflow = civitas::serve::start_workflow(&civitas_testkit::tenants_dir(), &tree, &world.modules).unwrap();
        let scope = TenantScope::for_platform_task(TenantPath::parse(SHANGHAI).unwrap());
        let replay = workflow.replay(&t.db, &scope, &case).await.unwrap();
        let decided: Vec<(&str, &str, &str, &str)> = replay.decisions.iter()
            .map(|d| (d.hook.as_str(), d.module.as_str(), d.version.as_str(), d.audit_action.as_str()))
            .collect();
        assert_eq!(decided, [("eligibility", "meal-subsidy-pudong", "1.0.0", "case.create"),
                             ("amount", "meal-subsidy-pudong", "1.0.0", "case.approve")]);
        assert!(replay.identical(), "{replay:?}");

        // Someone with database access changes the stored input of the
        // first decision (an older birth date: a higher tier): replay names
        // it, and the module's answer to the changed input differs too.
        let mut tx = t.db.begin_platform().await.unwrap();
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE case_evaluations SET input = replace(input, '1954-03-02', '1934-03-02') WHERE case_id = $1 AND hook = 'eligibility'")
                .bind(case.clone()).execute(&mut *c).await.unwrap();
        });
        tx.commit().await.unwrap();
        let replay = workflow.replay(&t.db, &scope, &case).await.unwrap();
        assert!(!replay.identical());
        let findings = &replay.decisions[0].findings;
        assert!(matches!(findings[0], civitas_workflow::replay::Finding::InputAltered { .. }), "{findings:?}");
        assert!(findings.iter().any(|f| matches!(f, civitas_workflow::replay::Finding::AnswerDiffers { fields }
            if fields.iter().any(|f| f == "age"))), "{findings:?}");
        assert!(replay.decisions[1].findings.is_empty(), "the second decision is intact: {:?}", replay.decisions[1]);

        // A case nobody decided on replays as nothing; an unknown case is not found.
        let penalty = create(&world, "pudong-market-officer", PUDONG, json!({
            "service": "market-regulation/penalty-case", "data": expired_food("district")})).await;
        let replay = workflow.replay(&t.db, &scope, &id(&penalty)).await.unwrap();
        assert!(replay.decisions.is_empty() && replay.identical());
        assert!(matches!(workflow.replay(&t.db, &scope, "no-such-case").await,
            Err(civitas_workflow::WorkflowError::NotFound(_))));
    }

    async fn a_candidate_version_is_run_over_recorded_decisions_before_a_rollout(t) {
        use chrono::Datelike;
        let world = World::demo(&t).await;
        let born = |years: i32| {
            let today = civitas_workflow::today_in_china();
            today.with_year(today.year() - years).unwrap().to_string()
        };
        let apply = |birth: String| json!({"service": "civil-affairs/meal-subsidy", "data": {
            "birth_date": birth, "household_registration": "local", "living_alone": false,
            "disability_grade": 0, "economic_status": "none"}});
        // Pudong's rule refuses a 62-year-old (its general age is 65) and
        // grants a 72-year-old.
        let younger = create(&world, "citizen-demo", LUJIAZUI, apply(born(62))).await;
        assert_eq!(younger.body["state"], "rejected", "{}", younger.body);
        let older = create(&world, "citizen-demo", LUJIAZUI, apply(born(72))).await;
        assert_eq!(older.body["state"], "open", "{}", older.body);

        let tree = civitas_tenancy::SharedTree::new(civitas_testkit::demo_tree());
        let workflow = civitas::serve::start_workflow(&civitas_testkit::tenants_dir(), &tree, &world.modules).unwrap();
        let scope = TenantScope::for_platform_task(TenantPath::parse(PUDONG).unwrap());
        let city = civitas_registry::ModuleRef { module: "meal-subsidy".into(), version: "1.0.0".into() };
        let calls = std::cell::Cell::new(0);
        let report = workflow
            .what_if(&t.db, &scope, "civil-affairs/meal-subsidy", &city, None, |_, _| calls.set(calls.get() + 1))
            .await
            .unwrap();
        // The city's rule would grant the 62-year-old; the other decision
        // stays as it was.
        assert_eq!((report.decisions, calls.get()), (2, 2));
        assert_eq!(report.changed.len(), 1, "{report:?}");
        let changed = &report.changed[0];
        assert_eq!((changed.case_id.as_str(), changed.hook.as_str(), changed.recorded.as_str()),
            (id(&younger).as_str(), "eligibility", "meal-subsidy-pudong@1.0.0"));
        let eligible = changed.changes.iter().find(|c| c.field == "eligible").unwrap();
        assert_eq!((eligible.recorded.clone(), eligible.candidate.clone()), (json!(false), json!(true)));
        assert_eq!(report.fields.get("eligible"), Some(&1));
        assert!(report.failed.is_empty());

        // Only decisions recorded since a day; only cases in the subtree.
        let tomorrow = civitas_workflow::today_in_china() + chrono::Days::new(1);
        let later = workflow.what_if(&t.db, &scope, "civil-affairs/meal-subsidy", &city,
            Some(tomorrow), |_, _| {}).await.unwrap();
        assert_eq!(later.decisions, 0);
        let huangpu = TenantScope::for_platform_task(TenantPath::parse(HUANGPU).unwrap());
        let elsewhere = workflow.what_if(&t.db, &huangpu, "civil-affairs/meal-subsidy", &city, None, |_, _| {}).await.unwrap();
        assert_eq!(elsewhere.decisions, 0);
        // A version of another service, or none at all, is refused.
        let penalty = civitas_registry::ModuleRef { module: "penalty-discretion".into(), version: "1.0.0".into() };
        assert!(matches!(workflow.what_if(&t.db, &scope, "civil-affairs/meal-subsidy", &penalty, None, |_, _| {}).await,
            Err(civitas_workflow::WorkflowError::Invalid(_))));
        let missing = civitas_registry::ModuleRef { module: "meal-subsidy".into(), version: "9.9.9".into() };
        assert!(matches!(workflow.what_if(&t.db, &scope, "civil-affairs/meal-subsidy", &missing, None, |_, _| {}).await,
            Err(civitas_workflow::WorkflowError::Module(civitas_registry::RegistryError::UnknownModule(_)))));

        // The same report over the API, for those who decide rollouts.
        let path = format!("/api/v1/tenants/{PUDONG}/services/civil-affairs/meal-subsidy/what-if");
        let what_if = |who: &'static str, body: Value| {
            let path = path.clone();
            let world = &world;
            async move { world.call("POST", &path, Some(world.token(who)), Some(body)).await }
        };
        // Kept, with an id a rollout names and the SM3 of the report.
        let answered = what_if("city-admin", json!({"candidate": "meal-subsidy@1.0.0"})).await;
        assert_eq!(answered.status, StatusCode::CREATED, "{}", answered.body);
        assert_eq!((answered.body["tenant"].as_str(), answered.body["candidate"].as_str()),
            (Some(PUDONG), Some("meal-subsidy@1.0.0")), "{}", answered.body);
        assert!(answered.body["id"].is_string() && answered.body["report_sm3"].is_string(), "{}", answered.body);
        assert_eq!((answered.body["decisions"].clone(), answered.body["fields"]["eligible"].clone()), (json!(2), json!(1)));
        assert_eq!(answered.body["changed"][0]["case_id"], json!(id(&younger)));
        let since = what_if("city-admin", json!({"candidate": "meal-subsidy@1.0.0", "since": tomorrow.to_string()})).await;
        assert_eq!(since.body["decisions"], 0, "{}", since.body);
        for (body, status, code) in [
            (json!({"candidate": "meal-subsidy"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            (json!({"candidate": "meal-subsidy@1.0.0", "since": "2026-13-01"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            (json!({"candidate": "meal-subsidy@9.9.9"}), StatusCode::NOT_FOUND, "module_not_found"),
        ] {
            let refused = what_if("city-admin", body.clone()).await;
            assert_eq!((refused.status, refused.code()), (status, code), "{body}: {}", refused.body);
        }
        let officer = what_if("lujiazui-officer", json!({"candidate": "meal-subsidy@1.0.0"})).await;
        assert_eq!(officer.status, StatusCode::FORBIDDEN, "an officer does not decide rollouts");
    }

    async fn a_tenant_administrator_of_every_line_reads_lists_and_acts_without_naming_a_line(t) {
        let world = World::demo(&t).await;
        // city-admin's grant covers every line: the case it files in market
        // regulation is found again without a `?line=`.
        let created = create(&world, "city-admin", PUDONG, json!({
            "service": "market-regulation/penalty-case", "origin": "warning",
            "data": {"party": "某超市", "violation": "销售超过保质期的食品"}})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let case = id(&created);
        let read = get(&world, "city-admin", &format!("/api/v1/tenants/{PUDONG}/cases/{case}")).await;
        assert_eq!((read.status, read.body["line"].clone()), (StatusCode::OK, json!("market-regulation")), "{}", read.body);
        let listed = get(&world, "city-admin", &format!("/api/v1/tenants/{SHANGHAI}/cases")).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert!(listed.body["cases"].as_array().unwrap().iter().any(|c| c["id"] == json!(case)), "{}", listed.body);
        let paused = act(&world, "city-admin", PUDONG, &case,
            json!({"action": "pause", "reason": "委托检验鉴定"})).await;
        assert_eq!((paused.status, paused.body["state"].clone()), (StatusCode::OK, json!("paused")), "{}", paused.body);
        // Naming a line narrows the view to it.
        let elsewhere = get(&world, "city-admin", &format!("/api/v1/tenants/{PUDONG}/cases/{case}?line=civil-affairs")).await;
        assert_eq!((elsewhere.status, elsewhere.code()), (StatusCode::NOT_FOUND, "case_not_found"), "{}", elsewhere.body);
        // Staff of one line still see only theirs.
        let reviewer = get(&world, "pudong-reviewer", &format!("/api/v1/tenants/{PUDONG}/cases/{case}")).await;
        assert_eq!((reviewer.status, reviewer.code()), (StatusCode::NOT_FOUND, "case_not_found"), "{}", reviewer.body);
    }

    async fn fifty_reviewers_racing_on_one_step_make_exactly_one_transition(t) {
        let world = std::sync::Arc::new(World::demo(&t).await);
        let created = create(&world, "citizen-demo", LUJIAZUI,
            json!({"service": "civil-affairs/meal-subsidy", "data": application()})).await;
        let case = id(&created);
        let mut racers = Vec::new();
        for n in 0..50 {
            let world = world.clone();
            let case = case.clone();
            // Half as the street officer, half as Pudong's reviewer (who may act
            // at the street too); all saw version 1.
            let who = if n % 2 == 0 { "lujiazui-officer" } else { "pudong-reviewer" };
            racers.push(tokio::spawn(async move {
                act(&world, who, LUJIAZUI, &case, json!({"action": "approve", "version": 1})).await
            }));
        }
        let mut ok = 0;
        let mut conflicts = 0;
        for racer in racers {
            let reply = racer.await.unwrap();
            match reply.status {
                StatusCode::OK => ok += 1,
                StatusCode::CONFLICT => {
                    assert_eq!(reply.code(), "case_conflict", "{}", reply.body);
                    conflicts += 1;
                }
                other => panic!("{other}: {}", reply.body),
            }
        }
        assert_eq!((ok, conflicts), (1, 49));
        let history = get(&world, "pudong-reviewer", &format!("/api/v1/tenants/{PUDONG}/cases/{case}/history")).await;
        let approvals = history.body["history"].as_array().unwrap().iter().filter(|e| e["action"] == "approve").count();
        assert_eq!(approvals, 1);
        let read = get(&world, "pudong-reviewer", &format!("/api/v1/tenants/{PUDONG}/cases/{case}")).await;
        assert_eq!((read.body["version"].clone(), read.body["step"].clone()), (json!(2), json!("district-approval")));
    }

    async fn actions_attachments_and_timers_on_the_same_cases_at_once_all_land(t) {
        let world = std::sync::Arc::new(World::demo(&t).await);
        let mut cases = Vec::new();
        for _ in 0..8 {
            let created = create(&world, "citizen-demo", LUJIAZUI,
                json!({"service": "civil-affairs/meal-subsidy", "data": application()})).await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
            cases.push(id(&created));
        }
        // Three weeks pass: every timer is due; two workers fire them while
        // the street approves each case and the applicant adds an
        // attachment to it.
        world.clock.advance_days(21);
        // Everybody starts at once: two timer workers, and per case an
        // attachment and an approval, each its own task.
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(2 + 2 * cases.len()));
        let mut workers = Vec::new();
        for worker in ["a", "b"] {
            let (db, start, clock) = (t.db.clone(), start.clone(), world.clock.clone());
            workers.push(tokio::spawn(async move {
                start.wait().await;
                let mut fired = Vec::new();
                for _ in 0..20 {
                    let now = clock.now_micros();
                    fired.extend(civitas_workflow::timers::fire_due(&db, now, 3, worker).await.unwrap());
                    tokio::task::yield_now().await;
                }
                fired
            }));
        }
        let mut attachments = Vec::new();
        let mut approvals = Vec::new();
        for case in &cases {
            let (w, id, go) = (world.clone(), case.clone(), start.clone());
            attachments.push(tokio::spawn(async move {
                go.wait().await;
                w.call("POST",
                    &format!("/api/v1/tenants/{LUJIAZUI}/cases/{id}/attachments"),
                    Some(w.token("citizen-demo")),
                    Some(json!({"name": "户口本.pdf", "media_type": "application/pdf", "size": 1024,
                                "sm3": "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"}))).await
            }));
            let (w, id, go) = (world.clone(), case.clone(), start.clone());
            approvals.push(tokio::spawn(async move {
                go.wait().await;
                act(&w, "lujiazui-officer", LUJIAZUI, &id, json!({"action": "approve"})).await
            }));
        }
        for attached in attachments {
            let attached = attached.await.unwrap();
            assert_eq!(attached.status, StatusCode::CREATED, "{}", attached.body);
        }
        for approved in approvals {
            let approved = approved.await.unwrap();
            assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
        }
        let mut fired = Vec::new();
        for worker in workers {
            fired.extend(worker.await.unwrap());
        }
        let mut ids: Vec<&str> = fired.iter().map(|f| f.id.as_str()).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "no timer fired twice");
        // A timer skipped while its case was in use fires on a later round;
        // none that is due is left behind.
        let now = world.clock.now_micros();
        civitas_workflow::timers::fire_due(&t.db, now, 100, "a").await.unwrap();
        let scope = TenantScope::for_platform_task(TenantPath::parse(SHANGHAI).unwrap());
        let mut tx = t.db.begin(&scope).await.unwrap();
        let left: i64 = with_connection!(tx.connection(), c => {
            sqlx::query_scalar("SELECT COUNT(*) FROM case_timers WHERE fired_at IS NULL AND fire_at <= $1")
                .bind(now).fetch_one(&mut *c).await.unwrap()
        });
        tx.rollback().await.unwrap();
        assert_eq!(left, 0, "every due timer fired");
        // Each history is numbered 1, 2, 3… without a gap or a repeat.
        for case in &cases {
            let history = get(&world, "pudong-reviewer", &format!("/api/v1/tenants/{PUDONG}/cases/{case}/history")).await;
            let seqs: Vec<i64> = history.body["history"].as_array().unwrap().iter()
                .map(|e| e["seq"].as_i64().unwrap()).collect();
            assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "{}", history.body);
            assert!(history.body["history"].as_array().unwrap().iter().any(|e| e["action"] == "attach"));
        }
    }

    async fn talent_apartments_are_scored_by_each_districts_rule_guarded_and_drawn_by_a_lottery_anyone_can_recompute(t) {
        let world = World::demo(&t).await;
        let admitted = |case: String, district: &'static str, officer: &'static str, reviewer: &'static str| {
            let world = &world;
            async move {
                let checked = act(world, officer, district, &case, json!({"action": "approve"})).await;
                assert_eq!((checked.status, checked.body["step"].clone()), (StatusCode::OK, json!("district-review")), "{}", checked.body);
                let done = act(world, reviewer, district, &case, json!({"action": "approve"})).await;
                assert_eq!((done.status, done.body["state"].clone()), (StatusCode::OK, json!("closed")), "{}", done.body);
                done
            }
        };

        // Pudong's rule (its binding): the city's items — city key talent
        // 30, key employer 15, four years × Pudong's 3, a fitting unit 5 —
        // and Pudong's own: an employer in Zhangjiang, 10.
        let a = create(&world, "citizen-demo", PUDONG, talent("张三", "city-key", true, 50, 2, "zhangjiang")).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let priority = &a.body["outcomes"]["priority"];
        assert_eq!((priority["module"].as_str(), priority["binding_tenant"].as_str()),
            (Some("talent-apartment-pudong"), Some(PUDONG)), "{priority}");
        assert_eq!(priority["output"]["score"], 72, "{priority}");
        assert_eq!((priority["guard"]["submitted"].clone(), priority["guard"]["value"].clone(), priority["guard"]["seq"].clone()),
            (json!(72), json!(72), json!(1)), "{priority}");
        // Xuhui: the city's rule (the service default), no key-area item
        // and two points a year: 30 + 15 + 8 + 5.
        let x = create(&world, "citizen-demo", XUHUI, talent("张三", "city-key", true, 50, 2, "zhangjiang")).await;
        assert_eq!((x.body["outcomes"]["priority"]["module"].as_str(), x.body["outcomes"]["priority"]["output"]["score"].as_i64()),
            (Some("talent-apartment"), Some(58)), "{}", x.body);
        // A family owning a home in the city is refused on record with why.
        let mut owner = talent("赵六", "city-leading", true, 120, 3, "lingang");
        owner["data"]["owns_home_in_city"] = json!(true);
        let refused = create(&world, "citizen-demo", PUDONG, owner).await;
        assert_eq!(refused.body["state"], "rejected", "{}", refused.body);
        assert!(refused.body["outcomes"]["priority"]["output"]["reasons"][0].as_str().unwrap().starts_with("owns_home"));

        // Three young talents (10 + two years × 3 + 5 = 21 each).
        let b = create(&world, "citizen-demo", PUDONG, talent("李四", "young", false, 30, 1, "other")).await;
        let c = create(&world, "citizen-demo", PUDONG, talent("王五", "young", false, 30, 1, "other")).await;
        let e = create(&world, "citizen-demo", PUDONG, talent("孙七", "young", false, 30, 1, "other")).await;
        for reply in [&b, &c, &e] {
            assert_eq!(reply.body["outcomes"]["priority"]["output"]["score"], 21, "{}", reply.body);
        }
        let (a, b, c, e) = (id(&a), id(&b), id(&c), id(&e));
        for case in [&a, &b, &e] {
            admitted(case.clone(), PUDONG, "pudong-housing-officer", "pudong-housing-reviewer").await;
        }
        admitted(id(&x), XUHUI, "xuhui-housing-officer", "xuhui-housing-reviewer").await;
        // Pudong raises the young tier's points before C is admitted: C's
        // score at admission (23) is not the one submitted (21) — the
        // fairness guard warns, on the case, its history and its audit.
        let raised = world.call("PUT", "/api/v1/tenants/310000/310115/settings/talent-apartment.points.young",
            Some(world.token("city-admin")), Some(json!({"value": 12}))).await;
        assert_eq!(raised.status, StatusCode::OK, "{}", raised.body);
        let done = admitted(c.clone(), PUDONG, "pudong-housing-officer", "pudong-housing-reviewer").await;
        let guard = &done.body["outcomes"]["admission"]["guard"];
        assert_eq!((guard["submitted"].clone(), guard["value"].clone(), guard["seq"].clone()), (json!(21), json!(23), json!(2)), "{guard}");
        let history = get(&world, "pudong-housing-reviewer", &format!("/api/v1/tenants/{PUDONG}/cases/{c}/history")).await;
        let warned: Vec<&Value> = history.body["history"].as_array().unwrap().iter()
            .filter_map(|entry| entry["detail"].get("fairness")).collect();
        assert_eq!(warned, [&json!([{"hook": "admission", "field": "score", "submitted": 21, "value": 23}])]);
        let audit = world.call("GET", "/api/v1/tenants/310000/audit?action=case.approve&limit=200",
            Some(world.token("audit-admin")), None).await;
        let audited: Vec<&Value> = audit.body["records"].as_array().unwrap().iter()
            .filter(|r| r["target"] == c.as_str() && !r["detail"]["fairness"].is_null()).collect();
        assert_eq!(audited.len(), 1, "{}", audit.body);

        // The waiting list: highest score first, then the earliest filed
        // (the test's clock stands still: then by case number); C shows its
        // warning and both scores.
        let list = get(&world, "pudong-housing-officer",
            &format!("/api/v1/tenants/{PUDONG}/services/housing/talent-apartment/waiting-list?project=张江国际社区人才公寓&unit_type=one-bedroom")).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        let waiting: Vec<(&str, i64, i64, bool)> = list.body["waiting"].as_array().unwrap().iter()
            .map(|w| (w["case_id"].as_str().unwrap(), w["score"].as_i64().unwrap(),
                      w["score_at_submission"].as_i64().unwrap(), w["fairness_warning"].as_bool().unwrap()))
            .collect();
        let (first, second) = if b < e { (&b, &e) } else { (&e, &b) };
        assert_eq!(waiting, [(a.as_str(), 72, 72, false), (c.as_str(), 23, 21, true),
                             (first.as_str(), 21, 21, false), (second.as_str(), 21, 21, false)]);

        // Publishing is the reviewer's (lottery.draw), not the officer's: the
        // entries are frozen with the day of the draw and the public value
        // it waits for, which nobody knows yet.
        let today = world.clock.today_in_china();
        let draw_on = (today + chrono::Days::new(2)).to_string();
        let lotteries = format!("/api/v1/tenants/{PUDONG}/lotteries");
        let request = json!({"title": "2026年第四季度张江国际社区人才公寓一室一厅摇号", "service": "housing/talent-apartment",
            "project": "张江国际社区人才公寓", "unit_type": "one-bedroom", "units": 2, "draw_on": draw_on,
            "public_value": format!("上证指数 {draw_on} 收盘价"), "value_decimals": 2});
        let officer = world.call("POST", &lotteries, Some(world.token("pudong-housing-officer")), Some(request.clone())).await;
        assert_eq!((officer.status, officer.code()), (StatusCode::FORBIDDEN, "forbidden"));
        let published = world.call("POST", &lotteries, Some(world.token("pudong-housing-reviewer")), Some(request.clone())).await;
        assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
        assert_eq!((published.body["state"].as_str(), published.body["seed"].clone()), (Some("published"), Value::Null));
        let lottery_id = published.body["id"].as_str().unwrap().to_owned();
        let text: Value = serde_json::from_str(published.body["published"].as_str().unwrap()).unwrap();
        assert_eq!((text["units"].as_i64(), text["entries"].as_array().unwrap().len()), (Some(2), 4));
        assert_eq!((text["draw_on"].as_str(), text["published_on"].as_str()), (Some(draw_on.as_str()), Some(today.to_string().as_str())));
        assert!(text["entries"].as_array().unwrap().iter()
            .any(|entry| entry["case_id"] == c.as_str() && entry["score"] == 23 && entry["score_at_submission"] == 21));
        // Frozen: the waiting list no longer holds them, and a second
        // lottery over them finds nothing.
        let list = get(&world, "pudong-housing-officer",
            &format!("/api/v1/tenants/{PUDONG}/services/housing/talent-apartment/waiting-list")).await;
        assert_eq!(list.body["waiting"], json!([]));
        let again = world.call("POST", &lotteries, Some(world.token("pudong-housing-reviewer")), Some(request)).await;
        assert_eq!((again.status, again.code()), (StatusCode::UNPROCESSABLE_ENTITY, "nothing_to_draw"), "{}", again.body);

        // Not before its day; then with the value as announced, once.
        let draw = format!("{lotteries}/{lottery_id}/draw");
        let early = world.call("POST", &draw, Some(world.token("pudong-housing-reviewer")), Some(json!({"value": "3412.56"}))).await;
        assert_eq!((early.status, early.code()), (StatusCode::CONFLICT, "lottery_not_due"), "{}", early.body);
        world.clock.advance_days(2);
        // Drawing is in the lottery's line: a civil-affairs reviewer may not.
        let other_line = world.call("POST", &draw, Some(world.token("pudong-reviewer")), Some(json!({"value": "3412.56"}))).await;
        assert_eq!((other_line.status, other_line.code()), (StatusCode::FORBIDDEN, "forbidden"), "{}", other_line.body);
        // The value has the one spelling the text fixed (two decimals).
        for spelling in ["3412.5", "3412.560", "3,412.56"] {
            let misspelt = world.call("POST", &draw, Some(world.token("pudong-housing-reviewer")), Some(json!({"value": spelling}))).await;
            assert_eq!((misspelt.status, misspelt.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_lottery"), "{spelling}: {}", misspelt.body);
        }
        let drawn = world.call("POST", &draw, Some(world.token("pudong-housing-reviewer")), Some(json!({"value": "3412.56"}))).await;
        assert_eq!(drawn.status, StatusCode::OK, "{}", drawn.body);
        let lottery: civitas_lottery::Lottery = serde_json::from_value(drawn.body.clone()).unwrap();
        assert_eq!(lottery.state, civitas_lottery::LotteryState::Drawn);
        let twice = world.call("POST", &draw, Some(world.token("pudong-housing-reviewer")), Some(json!({"value": "3500.00"}))).await;
        assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "already_drawn"), "{}", twice.body);
        // The seed is SM3(published text ‖ value), each ticket SM3(seed ‖
        // case id): recomputed here with nothing but SM3.
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let seed = civitas_crypto::sm3::digest(format!("{}3412.56", lottery.published).as_bytes());
        assert_eq!(lottery.seed.as_deref(), Some(hex(&seed).as_str()));
        assert_eq!(lottery.published_sm3, hex(&civitas_crypto::sm3::digest(lottery.published.as_bytes())));
        for ranked in &lottery.ranking {
            let mut joined = seed.to_vec();
            joined.extend_from_slice(ranked.case_id.as_bytes());
            assert_eq!(ranked.ticket, hex(&civitas_crypto::sm3::digest(&joined)));
        }
        // Scores first; the tied two by their tickets.
        let order: Vec<(&str, bool)> = lottery.ranking.iter().map(|r| (r.case_id.as_str(), r.drawn)).collect();
        assert_eq!(&order[..2], [(a.as_str(), true), (c.as_str(), true)]);
        assert!(lottery.ranking[2].ticket < lottery.ranking[3].ticket, "equal scores go by ticket, lowest first");
        assert!(!order[2].1 && !order[3].1);
        let mut tied = [order[2].0, order[3].0];
        tied.sort();
        let mut expected = [b.as_str(), e.as_str()];
        expected.sort();
        assert_eq!(tied, expected);

        // The database keeps a drawn lottery as drawn, whatever asks.
        let scope = TenantScope::for_platform_task(TenantPath::parse(PUDONG).unwrap());
        let mut tx = t.db.begin(&scope).await.unwrap();
        let rewritten = with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE lotteries SET seed = 'forged' WHERE id = $1")
                .bind(lottery_id.clone()).execute(&mut *c).await.map(|_| ())
        });
        assert!(rewritten.is_err(), "a drawn lottery does not change");
        drop(tx);

        // Anyone reads it, and it verifies; a changed ranking does not.
        let public = world.call("GET", &format!("/api/v1/tenants/shanghai/pudong/lotteries/{lottery_id}"), None, None).await;
        assert_eq!(public.status, StatusCode::OK, "{}", public.body);
        assert_eq!(public.body, drawn.body);
        let recorded = lottery.recorded().unwrap();
        assert!(civitas_lottery::verify(&lottery.published, "3412.56", &recorded).unwrap().identical());
        let mut altered = recorded.clone();
        altered.ranking.swap(0, 1);
        assert_eq!(civitas_lottery::verify(&lottery.published, "3412.56", &altered).unwrap().first_difference, Some(1));
        let missing = world.call("GET", &format!("{lotteries}/no-such-lottery"), None, None).await;
        assert_eq!((missing.status, missing.code()), (StatusCode::NOT_FOUND, "lottery_not_found"));
        let elsewhere = world.call("GET", &format!("/api/v1/tenants/{XUHUI}/lotteries/{lottery_id}"), None, None).await;
        assert_eq!(elsewhere.status, StatusCode::NOT_FOUND, "a lottery is read at the tenant that published it");
        // Another district's reviewer draws nothing of Pudong's.
        let xuhui_draw = world.call("POST", &format!("/api/v1/tenants/{XUHUI}/lotteries/{lottery_id}/draw"),
            Some(world.token("xuhui-housing-reviewer")), Some(json!({"value": "3412.56"}))).await;
        assert_eq!(xuhui_draw.status, StatusCode::NOT_FOUND, "{}", xuhui_draw.body);

        // Xuhui's own list is untouched; both steps are audited.
        let xuhui = get(&world, "xuhui-housing-officer",
            &format!("/api/v1/tenants/{XUHUI}/services/housing/talent-apartment/waiting-list")).await;
        assert_eq!(xuhui.body["waiting"].as_array().unwrap().len(), 1, "{}", xuhui.body);
        let audit = world.call("GET", "/api/v1/tenants/310000/audit?action=lottery.*",
            Some(world.token("audit-admin")), None).await;
        let records: Vec<(&str, &str)> = audit.body["records"].as_array().unwrap().iter()
            .map(|r| (r["action"].as_str().unwrap(), r["actor"].as_str().unwrap())).collect();
        assert_eq!(records, [("lottery.draw", "pudong-housing-reviewer"), ("lottery.publish", "pudong-housing-reviewer")]);
        let bad = world.call("POST", &lotteries, Some(world.token("pudong-housing-reviewer")),
            Some(json!({"title": "", "service": "housing/talent-apartment", "project": "x", "unit_type": "studio",
                        "units": 0, "draw_on": draw_on, "public_value": "x", "value_decimals": 2}))).await;
        assert_eq!((bad.status, bad.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_lottery"), "{}", bad.body);
        assert!(bad.body["message"]["zh"].as_str().is_some_and(|m| m.contains("摇号批次名称")), "{}", bad.body);
        // The day of the draw comes after the day of publishing: a value
        // known today could be chosen for.
        for day in ["2020-01-01".to_owned(), world.clock.today_in_china().to_string()] {
            let early = world.call("POST", &lotteries, Some(world.token("pudong-housing-reviewer")),
                Some(json!({"title": "补摇", "service": "housing/talent-apartment", "project": "x", "unit_type": "studio",
                            "units": 1, "draw_on": day, "public_value": "x", "value_decimals": 2}))).await;
            assert_eq!((early.status, early.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_lottery"), "{day}: {}", early.body);
        }
    }

    async fn two_lotteries_published_at_once_over_the_same_applications_take_each_once(t) {
        let world = World::demo(&t).await;
        for name in ["周一", "吴二"] {
            let filed = create(&world, "citizen-demo", PUDONG, talent(name, "young", false, 30, 1, "other")).await;
            let case = id(&filed);
            for who in ["pudong-housing-officer", "pudong-housing-reviewer"] {
                let acted = act(&world, who, PUDONG, &case, json!({"action": "approve"})).await;
                assert_eq!(acted.status, StatusCode::OK, "{}", acted.body);
            }
        }
        let today = (world.clock.today_in_china() + chrono::Days::new(1)).to_string();
        let publish = |title: &'static str| {
            let world = &world;
            let today = today.clone();
            async move {
                world.call("POST", &format!("/api/v1/tenants/{PUDONG}/lotteries"), Some(world.token("pudong-housing-reviewer")),
                    Some(json!({"title": title, "service": "housing/talent-apartment", "project": "张江国际社区人才公寓",
                                "unit_type": "one-bedroom", "units": 1, "draw_on": today, "public_value": "上证指数收盘价",
                                "value_decimals": 2}))).await
            }
        };
        let (first, second) = tokio::join!(publish("第一批"), publish("第二批"));
        let mut statuses = [first.status.as_u16(), second.status.as_u16()];
        statuses.sort();
        assert_eq!(statuses[0], 201, "{} / {}", first.body, second.body);
        let loser = if first.status == StatusCode::CREATED { &second } else { &first };
        assert!(matches!((loser.status.as_u16(), loser.code()), (409, "already_drawn") | (422, "nothing_to_draw")),
            "the other one fails cleanly: {}", loser.body);
        let winner = if first.status == StatusCode::CREATED { &first } else { &second };
        let text: Value = serde_json::from_str(winner.body["published"].as_str().unwrap()).unwrap();
        assert_eq!(text["entries"].as_array().unwrap().len(), 2);
    }
}

/// The header of a project-month file as a bureau's sheet has it.
const PROJECT_MONTH_HEADER: &str = "项目编号,项目名称,所属区划,项目类型,项目状态,数据月份,实际开工日期,在职人数,考勤人数,工资专户,人工费拨入（元）,代发工资（元）,最近代发工资日期,备注";

fn project_months(rows: &[&str]) -> Vec<u8> {
    let mut text = String::from(PROJECT_MONTH_HEADER);
    for row in rows {
        text.push('\n');
        text.push_str(row);
    }
    text.push('\n');
    text.into_bytes()
}

both_backends! {
    async fn wage_arrears_warnings_are_imported_run_by_each_districts_rules_and_handled_up_to_the_city(t) {
        let world = World::demo(&t).await;
        let import = |who: &'static str, tenant: &'static str, query: &'static str, file: Vec<u8>| {
            let world = &world;
            async move {
                world.upload(&format!("/api/v1/tenants/{tenant}/wage-arrears/project-months{query}"),
                    world.token(who), "text/csv", file).await
            }
        };
        // A file with bad rows stores nothing and names every bad cell.
        let bad = project_months(&[
            "PD-0311,陆家嘴某办公楼新建工程,陆家嘴街道,工程建设,在建,2026-11,2026-05-06,240,200,是,800000,0,2026-10-16,",
            "XX-0001,某工程,成都市,工程建设,在建,2026-11,2026-02-30,10,5,是,0,0,,",
            "XX-0002,某工程,310115,工程建设,施工中,2026-11,2026-05-06,10,5,是,0,0,,",
        ]);
        let refused = import("city-hr-dispatcher", SHANGHAI, "", bad.clone()).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "import_rejected"), "{}", refused.body);
        let named: Vec<(u64, &str)> = refused.body["problems"].as_array().unwrap().iter()
            .map(|p| (p["row"].as_u64().unwrap(), p["field"].as_str().unwrap())).collect();
        assert_eq!(named, [(3, "所属区划"), (3, "实际开工日期"), (4, "项目状态")]);
        let dry = import("city-hr-dispatcher", SHANGHAI, "?dry_run=true", bad).await;
        assert_eq!((dry.status, dry.body["rows"].clone(), dry.body["stored"].clone(), dry.body["ignored_columns"].clone()),
            (StatusCode::OK, json!(3), json!(0), json!(["备注"])), "{}", dry.body);
        let nothing = world.call("POST", &format!("/api/v1/tenants/{SHANGHAI}/wage-arrears/runs"),
            Some(world.token("city-hr-dispatcher")), Some(json!({"month": "2026-11"}))).await;
        assert_eq!((nothing.status, nothing.code()), (StatusCode::NOT_FOUND, "no_project_data"), "{}", nothing.body);

        // November in Pudong and Huangpu: the same facts, each district's rules.
        let good = project_months(&[
            // 45 days without a payout: past Pudong's 30, within the city's 60.
            "PD-0311,陆家嘴某办公楼新建工程,陆家嘴街道,工程建设,在建,2026-11,2026-05-06,240,200,是,800000,0,2026-10-16,",
            "HP-0107,外滩某商办楼新建工程,黄浦区,工程建设,在建,2026-11,2026-05-06,240,200,是,800000,0,2026-10-16,",
            // A stopped site, 81 days unpaid: Pudong's rule watches it, the city's does not.
            "PD-0420,张江某研发楼工程,310115,工程建设,停工,2026-11,2026-03-02,60,8,是,0,0,2026-09-10,",
            "HP-0420,南京东路某商场改造工程,310101,工程建设,停工,2026-11,2026-03-02,60,8,是,0,0,2026-09-10,",
            // Attendance 5 %: below the city's 10 % everywhere.
            "HP-0555,豫园某配套工程,310101,工程建设,在建,2026-11,2026-06-01,100,5,是,300000,280000,2026-11-14,",
            "PD-0900,已完工项目,310115,其他,完工,2026-11,2025-01-01,0,0,否,0,0,,",
        ]);
        let denied = import("pudong-hr-inspector", HUANGPU, "", good.clone()).await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.body);
        let stored = import("city-hr-dispatcher", SHANGHAI, "", good.clone()).await;
        assert_eq!((stored.status, stored.body["stored"].clone(), stored.body["replaced"].clone(), stored.body["months"].clone()),
            (StatusCode::CREATED, json!(6), json!(0), json!(["2026-11"])), "{}", stored.body);
        let again = import("city-hr-dispatcher", SHANGHAI, "", good).await;
        assert_eq!(again.body["replaced"], 6, "{}", again.body);
        // A corrected 所属区划 moves the project's month: it is not kept twice.
        let moved = import("city-hr-dispatcher", SHANGHAI, "", project_months(&[
            "PD-0900,已完工项目,陆家嘴街道,其他,完工,2026-11,2025-01-01,0,0,否,0,0,,",
        ])).await;
        assert_eq!((moved.status, moved.body["replaced"].clone()), (StatusCode::CREATED, json!(1)), "{}", moved.body);

        let runs = format!("/api/v1/tenants/{SHANGHAI}/wage-arrears/runs");
        let run = || world.call("POST", &runs,
            Some(world.token("city-hr-dispatcher")), Some(json!({"month": "2026-11"})));
        let first = run().await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!((first.body["projects"].clone(), first.body["warned"].clone(), first.body["failures"].clone()),
            (json!(6), json!(3), json!([])), "{}", first.body);
        let mut opened: Vec<(String, String, Value)> = first.body["opened"].as_array().unwrap().iter()
            .map(|o| (o["project_code"].as_str().unwrap().to_owned(), o["case_tenant"].as_str().unwrap().to_owned(), o["rules"].clone()))
            .collect();
        opened.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(opened, [
            ("HP-0555".to_owned(), HUANGPU.to_owned(), json!(["attendance-coverage-low"])),
            ("PD-0311".to_owned(), PUDONG.to_owned(), json!(["wages-not-paid"])),
            ("PD-0420".to_owned(), PUDONG.to_owned(), json!(["wages-not-paid"])),
        ]);
        let modules: Vec<(&str, &str)> = first.body["modules"].as_array().unwrap().iter()
            .map(|m| (m["tenant"].as_str().unwrap(), m["module"].as_str().unwrap())).collect();
        assert_eq!(modules, [(HUANGPU, "wage-arrears-warning"), (PUDONG, "wage-arrears-warning-pudong"),
            (LUJIAZUI, "wage-arrears-warning-pudong")]);
        // The regional warning (L356): two of Pudong's three projects have a
        // payout warning; Huangpu's one warning is attendance, which does not count.
        let regions: Vec<(&str, u64, u64, Value)> = first.body["regions"].as_array().unwrap().iter()
            .map(|r| (r["tenant"].as_str().unwrap(), r["projects"].as_u64().unwrap(), r["warned"].as_u64().unwrap(), r["level"].clone()))
            .collect();
        assert_eq!(regions, [(HUANGPU, 3, 0, Value::Null), (PUDONG, 3, 2, json!("red"))]);
        assert_eq!(first.body["regions"][1]["share_percent"], 66.7);
        // Running the month again files nothing twice.
        // Below a district a run could not file its warnings: refused.
        let street = world.call("POST", &format!("/api/v1/tenants/{LUJIAZUI}/wage-arrears/runs"),
            Some(world.token("city-hr-dispatcher")), Some(json!({"month": "2026-11"}))).await;
        assert_eq!((street.status, street.code()), (StatusCode::UNPROCESSABLE_ENTITY, "run_below_district"), "{}", street.body);
        let second = run().await;
        assert_eq!((second.body["opened"].clone(), second.body["already_filed"].clone()), (json!([]), json!(3)), "{}", second.body);

        // The warning at Lujiazui's project went to Pudong's inspectorate;
        // its history holds Pudong's module's decision.
        let case = first.body["opened"].as_array().unwrap().iter()
            .find(|o| o["project_code"] == "PD-0311").unwrap()["case_id"].as_str().unwrap().to_owned();
        let filed = get(&world, "pudong-hr-inspector", &format!("/api/v1/tenants/{PUDONG}/cases/{case}")).await;
        assert_eq!((filed.body["origin"].clone(), filed.body["step"].clone(), filed.body["step_unit"].clone()),
            (json!("warning"), json!("dispatch"), json!("working")), "{}", filed.body);
        let decided = &filed.body["outcomes"]["warnings"];
        assert_eq!((decided["module"].as_str(), decided["version"].as_str(), decided["output"]["warnings"][0]["rule"].as_str()),
            (Some("wage-arrears-warning-pudong"), Some("1.0.0"), Some("wages-not-paid")), "{decided}");
        let history = get(&world, "pudong-hr-inspector", &format!("/api/v1/tenants/{PUDONG}/cases/{case}/history")).await;
        assert_eq!(history.body["history"][0]["detail"]["evaluations"][0]["module"], "wage-arrears-warning-pudong", "{}", history.body);

        // The district's warnings as a workbook (导出): a row per warned
        // project-month, the rules that fired beside the project's data.
        let listed = get(&world, "pudong-hr-inspector",
            &format!("/api/v1/tenants/{PUDONG}/cases?service=hr-social-security/wage-arrears-warning")).await;
        let (status, _, bytes) = world.download(
            &format!("/api/v1/tenants/{PUDONG}/cases/export?service=hr-social-security/wage-arrears-warning"),
            Some(world.token("pudong-hr-inspector")), None).await;
        assert_eq!(status, StatusCode::OK);
        let rows = civitas_sheet::read(&bytes, civitas_sheet::Format::Xlsx, 100).unwrap();
        assert_eq!(rows.len() - 1, listed.body["cases"].as_array().unwrap().len());
        let header: Vec<&str> = rows[0].cells.iter().map(|c| c.text().split('\n').next().unwrap()).collect();
        let (id, read, decisions) = (header.iter().position(|h| *h == "办件编号").unwrap(),
            header.iter().position(|h| *h == "规则判定").unwrap(),
            header.iter().position(|h| *h == "规则判定（JSON）").unwrap());
        let row = rows.iter().find(|r| r.cells[id].text() == case).unwrap();
        assert!(row.cells[decisions].text().contains("wages-not-paid"), "{:?}", row.cells[decisions]);
        assert!(row.cells[read].text().contains("wage-arrears-warning-pudong@1.0.0"), "{:?}", row.cells[read]);

        // Assigned to the street (L376), verified there (L381), escalated
        // to the city by the district, closed by the city.
        let assigned = act(&world, "pudong-hr-inspector", PUDONG, &case,
            json!({"action": "transfer", "to_tenant": LUJIAZUI, "reason": "请陆家嘴街道5个工作日内现场核查工资支付情况"})).await;
        assert_eq!((assigned.status, assigned.body["step"].clone(), assigned.body["tenant_path"].clone()),
            (StatusCode::OK, json!("verify"), json!(LUJIAZUI)), "{}", assigned.body);
        assert!(inbox_ids(&world, "lujiazui-hr-officer").await.contains(&case));
        let verified = act(&world, "lujiazui-hr-officer", LUJIAZUI, &case,
            json!({"action": "approve", "reason": "现场核查：总包单位拖欠 10 月工资，已责令限期支付"})).await;
        assert_eq!((verified.status, verified.body["step"].clone()), (StatusCode::OK, json!("conclude")), "{}", verified.body);
        let escalated = act(&world, "pudong-hr-inspector", LUJIAZUI, &case,
            json!({"action": "transfer", "to_tenant": SHANGHAI, "reason": "涉及市重大工程，上报市级督办"})).await;
        assert_eq!((escalated.status, escalated.body["step"].clone()), (StatusCode::OK, json!("city-supervision")), "{}", escalated.body);
        let closed = act(&world, "city-hr-dispatcher", SHANGHAI, &case, json!({"action": "approve"})).await;
        assert_eq!((closed.status, closed.body["state"].clone()), (StatusCode::OK, json!("closed")), "{}", closed.body);

        // A warning left at the district's dispatch step goes overdue and
        // is escalated one level up (督办, L411).
        let waiting = first.body["opened"].as_array().unwrap().iter()
            .find(|o| o["project_code"] == "HP-0555").unwrap()["case_id"].as_str().unwrap().to_owned();
        world.time_passes(7).await;
        let late = get(&world, "huangpu-hr-inspector", &format!("/api/v1/tenants/{HUANGPU}/cases/{waiting}")).await;
        assert_eq!((late.body["overdue"].clone(), late.body["supervised"].clone()), (json!(true), json!(true)), "{}", late.body);
    }
}

/// A resident identity number (GB 11643) of someone born on `born`, serial
/// `n`, registered in Pudong.
fn born_on(born: chrono::NaiveDate, n: u32) -> String {
    let body = format!("310115{}{:03}", born.format("%Y%m%d"), n % 1000);
    format!("{body}{}", access::check_character(&body))
}

both_backends! {
    async fn care_subsidies_are_granted_without_application_when_a_population_record_changes(t) {
        let world = World::demo(&t).await;
        let today = civitas_workflow::today_in_china();
        let years_ago = |years: i32| chrono::NaiveDate::from_ymd_opt(
            chrono::Datelike::year(&today) - years, chrono::Datelike::month(&today),
            chrono::Datelike::day(&today).min(28)).unwrap();
        let register = |who: &'static str, tenant: &'static str, name: &'static str, id_number: String| {
            let world = &world;
            async move {
                let reply = world.call("POST", &format!("/api/v1/tenants/{tenant}/residents"), Some(world.token(who)),
                    Some(json!({"name": name, "id_number": id_number}))).await;
                assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
                reply.body["id"].as_str().unwrap().to_owned()
            }
        };
        let record = |who: &'static str, tenant: &'static str, resident: String, grade: u8| {
            let world = &world;
            async move {
                world.call("PUT", &format!("/api/v1/tenants/{tenant}/residents/{resident}/population"),
                    Some(world.token(who)),
                    Some(json!({"household": "local", "disability_grade": grade, "deceased": false}))).await
            }
        };

        // An 82-year-old in Lujiazui with a grade-1 disability: recording
        // the population data files the case — Pudong's rule adds Pudong's
        // age amount (180) to the severe-disability amount (300).
        let elder = register("lujiazui-officer", LUJIAZUI, "张老伯", born_on(years_ago(82), 1)).await;
        let recorded = record("lujiazui-officer", LUJIAZUI, elder.clone(), 1).await;
        assert_eq!(recorded.status, StatusCode::OK, "{}", recorded.body);
        let granted = &recorded.body["entitlements"][0];
        assert_eq!((granted["service"].as_str(), granted["eligible"].as_bool(), granted["module"].as_str(), granted["decision"]["monthly_yuan"].as_u64()),
            (Some("civil-affairs/care-subsidy"), Some(true), Some("care-subsidy-pudong@1.0.0"), Some(480)), "{}", recorded.body);
        let case = granted["case_id"].as_str().unwrap().to_owned();
        let filed = get(&world, "lujiazui-officer", &format!("/api/v1/tenants/{LUJIAZUI}/cases/{case}")).await;
        assert_eq!((filed.body["origin"].clone(), filed.body["step"].clone(), filed.body["applicant"].clone()),
            (json!("entitlement"), json!("street-confirm"), Value::Null), "{}", filed.body);
        assert_eq!(filed.body["outcomes"]["eligibility"]["module"], "care-subsidy-pudong", "{}", filed.body);
        assert!(inbox_ids(&world, "lujiazui-officer").await.contains(&case));
        // The street confirms; recording again files nothing twice.
        let confirmed = act(&world, "lujiazui-officer", LUJIAZUI, &case, json!({"action": "approve"})).await;
        assert_eq!((confirmed.status, confirmed.body["state"].clone()), (StatusCode::OK, json!("closed")), "{}", confirmed.body);
        let again = record("lujiazui-officer", LUJIAZUI, elder, 1).await;
        assert_eq!((again.body["entitlements"][0]["filed_before"].clone(), again.body["entitlements"][0]["case_id"].clone()),
            (json!(true), json!(case)), "{}", again.body);

        // The same person in Huangpu: the city's rule pays the highest tier.
        let huangpu = register("huangpu-reviewer", NANJING_DONG_LU, "李阿婆", born_on(years_ago(82), 2)).await;
        let city = record("huangpu-reviewer", NANJING_DONG_LU, huangpu, 1).await;
        assert_eq!((city.body["entitlements"][0]["module"].as_str(), city.body["entitlements"][0]["decision"]["monthly_yuan"].as_u64()),
            (Some("care-subsidy@1.0.0"), Some(300)), "{}", city.body);
        // One person is entitled once: 张老伯 registered again in Huangpu
        // finds the case his Lujiazui record was given.
        let twice = register("huangpu-reviewer", NANJING_DONG_LU, "张老伯", born_on(years_ago(82), 1)).await;
        let again_elsewhere = record("huangpu-reviewer", NANJING_DONG_LU, twice, 1).await;
        assert_eq!((again_elsewhere.body["entitlements"][0]["filed_before"].clone(), again_elsewhere.body["entitlements"][0]["case_id"].clone()),
            (json!(true), json!(case)), "{}", again_elsewhere.body);

        // A 75-year-old is not entitled: no case. Turning 80 today is.
        let younger = register("lujiazui-officer", LUJIAZUI, "王先生", born_on(years_ago(75), 3)).await;
        let not_yet = record("lujiazui-officer", LUJIAZUI, younger, 0).await;
        assert_eq!((not_yet.body["entitlements"][0]["eligible"].clone(), not_yet.body["entitlements"][0]["case_id"].clone()),
            (json!(false), Value::Null), "{}", not_yet.body);
        let birthday = register("lujiazui-officer", LUJIAZUI, "赵女士", born_on(years_ago(80), 4)).await;
        let eighty = record("lujiazui-officer", LUJIAZUI, birthday, 0).await;
        assert_eq!((eighty.body["entitlements"][0]["decision"]["tiers"].clone(), eighty.body["entitlements"][0]["decision"]["monthly_yuan"].clone()),
            (json!(["age-80"]), json!(180)), "{}", eighty.body);

        // The nightly run: a 79-year-old recorded now turns 80 on 2027-12-15
        // (within the holiday calendar the confirmation deadline needs);
        // the run of the day before files nothing for him, that day's does,
        // and the next day's nothing twice. Residents with a case are not
        // asked again.
        let later = register("lujiazui-officer", LUJIAZUI, "孙先生",
            born_on(chrono::NaiveDate::from_ymd_opt(1947, 12, 15).unwrap(), 5)).await;
        let now = record("lujiazui-officer", LUJIAZUI, later, 0).await;
        assert_eq!(now.body["entitlements"][0]["eligible"], false, "{}", now.body);
        let nightly = |day: u32| {
            let world = &world;
            async move {
                let noon = chrono::NaiveDate::from_ymd_opt(2027, 12, day).unwrap().and_hms_opt(4, 0, 0).unwrap().and_utc();
                let tree = civitas_tenancy::SharedTree::new(civitas_testkit::demo_tree());
                let workflow = civitas::serve::start_workflow(&civitas_testkit::tenants_dir(), &tree, &world.modules)
                    .unwrap()
                    .with_clock(civitas_workflow::Clock::fixed(noon.timestamp_micros()));
                let scope = TenantScope::for_platform_task(TenantPath::parse(SHANGHAI).unwrap());
                let who = civitas_workflow::Who { account: "system".into(), username: "system".into() };
                civitas_entitlements::run_nightly(&world.db, &scope, &workflow, &world.modules, &who, |_, _| {})
                    .await
                    .unwrap()
            }
        };
        let eve = nightly(14).await;
        assert_eq!((eve.residents, eve.filed_before, eve.evaluated, eve.eligible, eve.filed, eve.failed), (6, 4, 2, 0, 0, 0), "{eve:?}");
        let birthday = nightly(15).await;
        assert_eq!((birthday.evaluated, birthday.eligible, birthday.filed), (2, 1, 1), "{birthday:?}");
        let after = nightly(16).await;
        assert_eq!((after.filed_before, after.filed), (5, 0), "{after:?}");

        // No one applies for it, not even staff on someone's behalf.
        let applied = create(&world, "lujiazui-officer", LUJIAZUI, json!({"service": "civil-affairs/care-subsidy",
            "data": {"resident_id": "x", "birth_date": "1940-01-01", "household": "local", "disability_grade": 0,
                     "deceased": false, "receiving": false}})).await;
        assert_eq!((applied.status, applied.code()), (StatusCode::UNPROCESSABLE_ENTITY, "entitlement_not_filed_here"), "{}", applied.body);
        // Another district's officer cannot record Lujiazui's residents.
        let outsider = record("huangpu-reviewer", LUJIAZUI, "x".into(), 0).await;
        assert_eq!(outsider.status, StatusCode::FORBIDDEN, "{}", outsider.body);
    }
}
