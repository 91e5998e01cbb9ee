//! The message centre over HTTP: a citizen gives a number and an address,
//! applies, and is told of every step by message centre, SMS and e-mail;
//! reads and exports their messages; turns SMS off. Staff list and export
//! the delivery records of their subtree, and nobody else's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use access::World;
use axum::http::StatusCode;
use civitas_testkit::{SmsGateway, SmtpSink, both_backends};
use serde_json::{Value, json};

const LUJIAZUI: &str = "310000/310115/310115005";
const PUDONG: &str = "310000/310115";
const HUANGPU: &str = "310000/310101";

fn application() -> Value {
    json!({"service": "civil-affairs/meal-subsidy", "data": {
        "birth_date": "1954-03-02", "household_registration": "local", "living_alone": false,
        "disability_grade": 0, "economic_status": "none"}})
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

both_backends! {
    async fn a_citizen_is_told_of_each_step_by_every_channel_and_staff_see_the_records(t) {
        let world = World::demo(&t).await;
        let (gateway, sink) = (SmsGateway::start(), SmtpSink::start());
        let notifier = world.notifier(&gateway, &sink);
        let citizen = world.token("citizen-demo");

        // Contact data: a wrong number is refused and nothing is changed.
        let bad = world.call("PUT", "/api/v1/me/notification-settings", Some(citizen),
            Some(json!({"phone": "12345"}))).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        assert_eq!(bad.body["code"], "invalid_field");
        let saved = world.call("PUT", "/api/v1/me/notification-settings", Some(citizen),
            Some(json!({"phone": "13912345678", "email": "li.si@example.cn"}))).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        let channels = saved.body["channels"].as_array().unwrap();
        assert_eq!(channels.len(), 3);
        assert_eq!(channels[1]["channel"], "sms");
        assert_eq!(channels[1]["destination"], "139****5678");
        assert_eq!((channels[1]["offered"].as_bool(), channels[1]["enabled"].as_bool()), (Some(true), Some(true)));
        assert_eq!(channels[2]["destination"], "l****@example.cn");
        let unknown = world.call("PUT", "/api/v1/me/notification-settings", Some(citizen),
            Some(json!({"fax": "021-1234"}))).await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", unknown.body);
        assert_eq!(unknown.body["code"], "invalid_body");

        // Apply; the street officer returns it, the citizen resubmits.
        let created = world.call("POST", &format!("/api/v1/tenants/{LUJIAZUI}/cases"), Some(citizen), Some(application())).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let case = created.body["id"].as_str().unwrap().to_owned();
        let returned = world.call("POST", &format!("/api/v1/tenants/{LUJIAZUI}/cases/{case}/actions"),
            Some(world.token("lujiazui-officer")),
            Some(json!({"action": "return", "reason": "户籍证明不清晰，请重新上传"}))).await;
        assert_eq!(returned.status, StatusCode::OK, "{}", returned.body);
        let round = notifier.run_once(now()).await.unwrap();
        assert_eq!((round.fanned_out.entries, round.sent), (2, 4), "{round:?}");

        let sms = gateway.accepted();
        assert_eq!(sms.len(), 2);
        assert!(sms.iter().all(|s| s.phone == "13912345678"));
        assert_eq!(sms[1].params["reason"], "户籍证明不清晰，请重新上传");
        assert_eq!(sink.accepted().len(), 2);
        assert_eq!(sink.accepted()[0].to, ["li.si@example.cn"]);

        // The message centre, newest first: 退回补正 with its reason.
        let page = world.call("GET", "/api/v1/me/messages", Some(citizen), None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(page.body["unread"], 2);
        let first = &page.body["messages"][0];
        assert_eq!(first["kind"], "returned");
        assert_eq!(first["channel"], "site");
        assert_eq!(first["matter"], created.body["title"]);
        assert!(first["message_zh"].as_str().unwrap().contains("户籍证明不清晰"), "{first}");
        let carried: Vec<(&str, &str)> = first["channels"].as_array().unwrap().iter()
            .map(|c| (c["channel"].as_str().unwrap(), c["status"].as_str().unwrap())).collect();
        assert_eq!(carried, [("email", "sent"), ("sms", "sent")]);
        let id = first["id"].as_str().unwrap();
        let read = world.call("POST", &format!("/api/v1/me/messages/{id}/read"), Some(citizen), None).await;
        assert_eq!(read.status, StatusCode::NO_CONTENT, "{}", read.body);
        let others = world.call("POST", &format!("/api/v1/me/messages/{id}/read"), Some(world.token("enterprise-demo")), None).await;
        assert_eq!(others.status, StatusCode::NOT_FOUND, "{}", others.body);
        assert_eq!(others.body["code"], "message_not_found");
        let unread = world.call("GET", "/api/v1/me/messages?unread=true", Some(citizen), None).await;
        assert_eq!(unread.body["unread"], 1);
        assert_eq!(unread.body["messages"].as_array().unwrap().len(), 1);
        let bad_cursor = world.call("GET", "/api/v1/me/messages?after=nonsense", Some(citizen), None).await;
        assert_eq!(bad_cursor.status, StatusCode::BAD_REQUEST, "{}", bad_cursor.body);

        // SMS off: the resubmission reaches the message centre and e-mail only.
        let off = world.call("PUT", "/api/v1/me/notification-settings", Some(citizen), Some(json!({"sms_enabled": false}))).await;
        assert_eq!(off.body["channels"][1]["enabled"], false);
        let resubmitted = world.call("POST", &format!("/api/v1/tenants/{LUJIAZUI}/cases/{case}/actions"), Some(citizen),
            Some(json!({"action": "resubmit", "data": application()["data"]}))).await;
        assert_eq!(resubmitted.status, StatusCode::OK, "{}", resubmitted.body);
        notifier.run_once(now()).await.unwrap();
        assert_eq!(gateway.accepted().len(), 2);
        assert_eq!(sink.accepted().len(), 3);

        // The citizen's export: each notice and each channel a row, audited.
        let (status, headers, _) = world.download("/api/v1/me/messages/export", Some(citizen), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-export-rows"], "8");

        // Staff: Pudong's reviewers read the records of their subtree…
        let records = world.call("GET", &format!("/api/v1/tenants/{PUDONG}/notification-deliveries?case={case}"),
            Some(world.token("pudong-reviewer")), None).await;
        assert_eq!(records.status, StatusCode::OK, "{}", records.body);
        assert_eq!(records.body["deliveries"].as_array().unwrap().len(), 8);
        let failed = world.call("GET", &format!("/api/v1/tenants/{PUDONG}/notification-deliveries?status=failed"),
            Some(world.token("pudong-reviewer")), None).await;
        assert_eq!(failed.body["deliveries"].as_array().unwrap().len(), 0);
        let bad_channel = world.call("GET", &format!("/api/v1/tenants/{PUDONG}/notification-deliveries?channel=fax"),
            Some(world.token("pudong-reviewer")), None).await;
        assert_eq!(bad_channel.status, StatusCode::BAD_REQUEST, "{}", bad_channel.body);
        // …Huangpu's do not, nor does the applicant through the staff route.
        let elsewhere = world.call("GET", &format!("/api/v1/tenants/{HUANGPU}/notification-deliveries?case={case}"),
            Some(world.token("huangpu-reviewer")), None).await;
        assert_eq!(elsewhere.body["deliveries"].as_array().unwrap().len(), 0);
        let across = world.call("GET", &format!("/api/v1/tenants/{PUDONG}/notification-deliveries"),
            Some(world.token("huangpu-reviewer")), None).await;
        assert_eq!(across.status, StatusCode::FORBIDDEN, "{}", across.body);
        let applicant = world.call("GET", &format!("/api/v1/tenants/{LUJIAZUI}/notification-deliveries"), Some(citizen), None).await;
        assert_eq!(applicant.status, StatusCode::FORBIDDEN, "{}", applicant.body);
        let (status, headers, _) = world.download(&format!("/api/v1/tenants/{PUDONG}/notification-deliveries/export?case={case}"),
            Some(world.token("pudong-reviewer")), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-export-rows"], "8");

        // A delivery the provider refused for good is sent again from the
        // records, once the number is right (here: the gateway's refusal
        // was the fault).
        world.call("PUT", "/api/v1/me/notification-settings", Some(citizen), Some(json!({"sms_enabled": true}))).await;
        gateway.fail_next(1, "isv.MOBILE_NUMBER_ILLEGAL");
        let approved = world.call("POST", &format!("/api/v1/tenants/{LUJIAZUI}/cases/{case}/actions"),
            Some(world.token("lujiazui-officer")), Some(json!({"action": "approve"}))).await;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
        let round = notifier.run_once(now()).await.unwrap();
        assert_eq!(round.failed, 1, "{round:?}");
        let failed = world.call("GET", &format!("/api/v1/tenants/{PUDONG}/notification-deliveries?status=failed"),
            Some(world.token("pudong-reviewer")), None).await;
        let failed = failed.body["deliveries"].as_array().unwrap().clone();
        assert_eq!(failed.len(), 1);
        assert!(failed[0]["last_error"].as_str().unwrap().contains("isv.MOBILE_NUMBER_ILLEGAL"));
        let id = failed[0]["id"].as_str().unwrap();
        let retry = |who: &'static str, id: String| {
            let world = &world;
            async move {
                world.call("POST", &format!("/api/v1/tenants/{PUDONG}/notification-deliveries/{id}/retry"),
                    Some(world.token(who)), None).await
            }
        };
        let elsewhere = retry("huangpu-reviewer", id.to_owned()).await;
        assert_eq!(elsewhere.status, StatusCode::FORBIDDEN, "{}", elsewhere.body);
        let queued = retry("pudong-reviewer", id.to_owned()).await;
        assert_eq!(queued.status, StatusCode::OK, "{}", queued.body);
        // One more attempt: the count goes on (the provider is asked first
        // whether the refused one went after all).
        assert_eq!((queued.body["status"].as_str(), queued.body["attempts"].as_i64()), (Some("pending"), Some(1)));
        let sms_before = gateway.accepted().len();
        assert_eq!(notifier.run_once(now()).await.unwrap().sent, 1);
        assert_eq!(gateway.accepted().len(), sms_before + 1);
        let again = retry("pudong-reviewer", id.to_owned()).await;
        assert_eq!((again.status, again.body["code"].as_str()), (StatusCode::CONFLICT, Some("delivery_not_failed")));
        let nowhere = retry("pudong-reviewer", "no-such-delivery".to_owned()).await;
        assert_eq!((nowhere.status, nowhere.body["code"].as_str()), (StatusCode::NOT_FOUND, Some("delivery_not_found")));
        let recorded: i64 = {
            let mut tx = world.db.begin_platform_read().await.unwrap();
            civitas_storage::with_connection!(tx.connection(), c => {
                sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'notification.retry'")
                    .fetch_one(&mut *c).await.unwrap()
            })
        };
        assert_eq!(recorded, 1);
    }
}
