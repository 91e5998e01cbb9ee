//! Notifications as their recipients and the bureaus see them: one
//! delivery per status change and channel, sent once, retried with
//! backoff, taken over after a sender died, listed and read — on SQLite
//! and PostgreSQL, against the local SMS gateway and SMTP server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use civitas_identity::{AccountKind, NewStaffAccount, StaffProfile, create_staff_account};
use civitas_notify::mail::{MailSettings, Mailer};
use civitas_notify::sms::{SmsGateway, SmsSettings};
use civitas_notify::store::{self, DeliveryFilter, MessageFilter};
use civitas_notify::{Channel, Kind, Notifier, Status, Templates, retry};
use civitas_storage::{Database, TenantScope, with_connection};
use civitas_tenancy::{SharedTree, TenantPath};
use civitas_testkit::{SmsGateway as TestGateway, SmtpSink, both_backends, demo_tree};
use civitas_vault::{Keyring, LocalMasterKeys, provision};

const MASTER: &str = "0123456789abcdeffedcba9876543210";
const PUDONG: &str = "310000/310115";
const LUJIAZUI: &str = "310000/310115/310115005";
const HUANGPU: &str = "310000/310101";
const PHONE: &str = "13812345678";
const EMAIL: &str = "zhang.san@example.cn";

fn path(s: &str) -> TenantPath {
    TenantPath::parse(s).unwrap()
}

struct World {
    db: Database,
    notifier: Notifier,
    gateway: TestGateway,
    sink: SmtpSink,
    applicant: String,
}

/// The demo tree with its keys, an applicant with a phone and an e-mail
/// address, and a notifier on a local SMS gateway and SMTP server.
async fn world(db: Database) -> World {
    db.sync_tenants(&demo_tree()).await.unwrap();
    let keyring = Arc::new(Keyring::new(Arc::new(
        LocalMasterKeys::parse(MASTER).unwrap(),
    )));
    let tenants: Vec<TenantPath> = db
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.path)
        .collect();
    provision(&db, &keyring, &tenants).await.unwrap();
    let created = create_staff_account(
        &db,
        &keyring,
        &TenantScope::for_platform_task(path(PUDONG)),
        &NewStaffAccount {
            username: "zhangsan".into(),
            kind: AccountKind::Staff,
            tenant: path(LUJIAZUI),
            line: Some("civil-affairs".into()),
            profile: StaffProfile {
                display_name: "张三".into(),
                phone: Some(PHONE.into()),
                email: Some(EMAIL.into()),
                employee_no: None,
                position: None,
            },
        },
        &["civil-affairs".to_owned()],
        "sys-admin",
        Utc::now(),
    )
    .await
    .unwrap();
    let gateway = TestGateway::start();
    let sink = SmtpSink::start();
    let sms = SmsGateway::new(SmsSettings {
        endpoint: gateway.url.clone(),
        access_key_id: civitas_testkit::sms_gateway::ACCESS_KEY_ID.into(),
        access_key_secret: civitas_testkit::sms_gateway::ACCESS_KEY_SECRET.into(),
        sign_name: "上海市民政局".into(),
        region: "cn-hangzhou".into(),
        timeout: std::time::Duration::from_secs(15),
    })
    .unwrap();
    let mail = Mailer::new(&MailSettings {
        relay: sink.url.clone(),
        from: "上海市一网通办 <noreply@example.gov.cn>".into(),
        timeout: std::time::Duration::from_secs(15),
    })
    .unwrap();
    let templates = Arc::new(Templates::load(&civitas_testkit::tenants_dir()).unwrap());
    let notifier = Notifier::new(
        db.clone(),
        keyring,
        templates,
        Arc::new(SharedTree::new(demo_tree())),
        Some(sms),
        Some(mail),
    );
    World {
        db,
        notifier,
        gateway,
        sink,
        applicant: created.account.id.clone(),
    }
}

/// A case of `applicant` at Lujiazui, and its history so far.
async fn case(db: &Database, id: &str, applicant: &str) {
    let mut tx = db.begin_platform().await.unwrap();
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO cases (id, tenant_path, line, service, flow_variant, title, origin, state, step, version, \
             applicant, created_by, data, outcomes, signed, created_at, updated_at) \
             VALUES ($1, $2, 'civil-affairs', 'meal-subsidy', 'default', '老年人助餐补贴申请', 'portal', 'in_review', \
             'street-review', 1, $3, 'zhangsan', '{}', '{}', '[]', 1780000000000000, 1780000000000000)",
        )
        .bind(id.to_owned())
        .bind(LUJIAZUI)
        .bind(applicant.to_owned())
        .execute(&mut *c)
        .await
        .unwrap();
    });
    tx.commit().await.unwrap();
}

/// Records `action` in `case`'s history as the workflow does (the trigger
/// writes the outbox in the same transaction).
async fn event(
    db: &Database,
    case: &str,
    action: &str,
    to_step: Option<&str>,
    reason: Option<&str>,
) {
    let mut tx = db.begin_platform().await.unwrap();
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO case_events (case_id, seq, tenant_path, at, actor, action, step, to_step, reason, detail) \
             VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM case_events WHERE case_id = $1), $2, \
             $3 + (SELECT count(*) FROM case_events WHERE case_id = $1) * 60000000, $4, $5, 'street-review', $6, $7, '{}')",
        )
        .bind(case.to_owned())
        .bind(LUJIAZUI)
        .bind(1_780_000_000_000_000i64)
        .bind(if action == "submit" { "zhangsan" } else { "pd-reviewer" })
        .bind(action.to_owned())
        .bind(to_step.map(str::to_owned))
        .bind(reason.map(str::to_owned))
        .execute(&mut *c)
        .await
        .unwrap();
    });
    tx.commit().await.unwrap();
}

fn now() -> i64 {
    Utc::now().timestamp_micros()
}

async fn all_deliveries(db: &Database) -> Vec<store::Delivery> {
    let mut tx = db
        .begin(&TenantScope::for_platform_task(path("310000")))
        .await
        .unwrap();
    let page = store::deliveries(
        &mut tx,
        &DeliveryFilter {
            limit: 200,
            ..DeliveryFilter::default()
        },
    )
    .await
    .unwrap();
    page.deliveries
}

both_backends! {
    async fn every_status_change_is_one_message_per_channel_sent_once(t) {
        let w = world(t.db.clone()).await;
        case(&w.db, "C-1", &w.applicant).await;
        event(&w.db, "C-1", "submit", None, None).await;
        event(&w.db, "C-1", "attach", None, None).await;
        event(&w.db, "C-1", "approve", Some("district-review"), None).await;
        event(&w.db, "C-1", "approve", None, None).await;

        let round = w.notifier.run_once(now()).await.unwrap();
        // Three changes a person cares about (the attachment is not one),
        // three channels each.
        assert_eq!(round.fanned_out.entries, 3);
        assert_eq!(round.fanned_out.deliveries, 9);
        assert_eq!(round.sent, 6);
        // A second round, and a fan-out of the same events again, send nothing more.
        let again = w.notifier.run_once(now()).await.unwrap();
        assert_eq!((again.fanned_out.deliveries, again.sent), (0, 0));

        let sms = w.gateway.accepted();
        assert_eq!(sms.len(), 3);
        assert!(sms.iter().all(|s| s.phone == PHONE && s.sign_name == "上海市民政局"));
        assert_eq!(
            sms.iter().map(|s| s.template.as_str()).collect::<Vec<_>>(),
            ["SMS_CIVITAS_0001", "SMS_CIVITAS_0003", "SMS_CIVITAS_0004"]
        );
        assert_eq!(sms[0].params["title"], "老年人助餐补贴申请");
        assert_eq!(sms[0].params["authority"], "陆家嘴街道·民政");
        let mail = w.sink.accepted();
        assert_eq!(mail.len(), 3);
        assert_eq!(mail[0].to, [EMAIL]);
        // 1780000000 s is 28 May 20:26 UTC: the 29th in China.
        assert!(mail[2].body.contains("已于 2026-05-29 办结（准予）"), "{}", mail[2].body);
        assert!(mail[2].body.contains("concluded and granted"), "{}", mail[2].body);

        // Every SMS and mail carries its delivery's id, and each delivery went once.
        let records = all_deliveries(&w.db).await;
        assert_eq!(records.len(), 9);
        for record in records.iter().filter(|r| r.channel != Channel::Site) {
            assert_eq!(record.status, Status::Sent, "{record:?}");
            assert_eq!(record.attempts, 1);
            let copies = sms.iter().filter(|s| s.out_id == record.id).count()
                + mail.iter().filter(|m| m.message_id.contains(&record.id)).count();
            assert_eq!(copies, 1, "{record:?}");
        }
        let masked: Vec<&str> = records.iter().filter_map(|r| r.destination.as_deref()).collect();
        assert!(masked.contains(&"138****5678"), "{masked:?}");

        // The message centre: newest first, with how each channel carried it.
        let page = store::messages_of(&w.db, &w.applicant, &MessageFilter { limit: 10, ..MessageFilter::default() })
            .await
            .unwrap();
        assert_eq!(page.unread, 3);
        let kinds: Vec<Kind> = page.messages.iter().map(|m| m.delivery.kind).collect();
        assert_eq!(kinds.len(), 3);
        assert!(kinds.contains(&Kind::Closed) && kinds.contains(&Kind::Submitted));
        for message in &page.messages {
            assert_eq!(message.delivery.handler, if message.delivery.kind == Kind::Submitted { "张三" } else { "pd-reviewer" });
            assert_eq!(message.delivery.matter, "老年人助餐补贴申请");
            let channels: Vec<(Channel, Status)> = message.channels.iter().map(|d| (d.channel, d.status)).collect();
            assert_eq!(channels, [(Channel::Email, Status::Sent), (Channel::Sms, Status::Sent)]);
        }
        let first = page.messages[0].delivery.id.clone();
        assert!(store::mark_read(&w.db, &w.applicant, &first, now()).await.unwrap());
        assert!(!store::mark_read(&w.db, "someone-else", &first, now()).await.unwrap());
        let page = store::messages_of(&w.db, &w.applicant, &MessageFilter { unread: true, limit: 10, ..MessageFilter::default() })
            .await
            .unwrap();
        assert_eq!((page.unread, page.messages.len()), (2, 2));
    }

    async fn a_refused_attempt_waits_its_backoff_and_a_permanent_refusal_fails_at_once(t) {
        let w = world(t.db.clone()).await;
        case(&w.db, "C-2", &w.applicant).await;
        event(&w.db, "C-2", "submit", None, None).await;
        w.gateway.fail_next(1, "isv.BUSINESS_LIMIT_CONTROL");
        w.sink.refuse_next(1);
        let start = now();
        let round = w.notifier.run_once(start).await.unwrap();
        assert_eq!((round.sent, round.retrying), (0, 2));
        let waiting: Vec<store::Delivery> = all_deliveries(&w.db).await.into_iter().filter(|d| d.channel != Channel::Site).collect();
        for d in &waiting {
            assert_eq!((d.status, d.attempts), (Status::Pending, 1), "{d:?}");
            let due = d.next_attempt_at.unwrap();
            assert!(due >= start + 30_000_000 && due <= now() + 30_000_000, "{d:?}");
            assert!(d.last_error.is_some());
        }
        assert!(waiting.iter().any(|d| d.last_error.as_deref().unwrap_or("").contains("isv.BUSINESS_LIMIT_CONTROL")));
        // Not before its time…
        let early = w.notifier.run_once(start + 10_000_000).await.unwrap();
        assert_eq!(early.sent, 0);
        // …and then.
        let later = w.notifier.run_once(now() + 31_000_000).await.unwrap();
        assert_eq!(later.sent, 2);
        assert_eq!(w.gateway.accepted().len(), 1);
        assert_eq!(w.sink.accepted().len(), 1);

        // A number the provider calls invalid is not tried again.
        event(&w.db, "C-2", "approve", Some("district-review"), None).await;
        w.gateway.fail_next(1, "isv.MOBILE_NUMBER_ILLEGAL");
        let round = w.notifier.run_once(now()).await.unwrap();
        assert_eq!((round.sent, round.failed), (1, 1));
        let failed: Vec<store::Delivery> = all_deliveries(&w.db).await.into_iter().filter(|d| d.status == Status::Failed).collect();
        assert_eq!(failed.len(), 1);
        assert_eq!((failed[0].channel, failed[0].attempts, failed[0].next_attempt_at), (Channel::Sms, 1, None));
        assert!(failed[0].last_error.as_deref().unwrap_or("").contains("isv.MOBILE_NUMBER_ILLEGAL"));
    }

    async fn a_sender_that_died_while_sending_is_taken_over_without_a_second_sms(t) {
        let w = world(t.db.clone()).await;
        case(&w.db, "C-3", &w.applicant).await;
        event(&w.db, "C-3", "return", None, Some("缺少户籍证明")).await;
        // The gateway takes the message and the sender dies before the answer.
        w.gateway.hold();
        let notifier = w.notifier.clone();
        let start = now();
        let dying = tokio::spawn(async move { notifier.run_once(start).await });
        let waited = std::time::Instant::now();
        while w.gateway.held() == 0 {
            assert!(waited.elapsed() < Duration::from_secs(30), "the SMS never reached the gateway");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The e-mail of the same round goes out and is recorded meanwhile.
        while !all_deliveries(&w.db).await.iter().any(|d| d.channel == Channel::Email && d.status == Status::Sent) {
            assert!(waited.elapsed() < Duration::from_secs(30), "the e-mail was not recorded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        dying.abort();
        let _ = dying.await;
        w.gateway.release();
        assert_eq!(w.gateway.accepted().len(), 1);
        let sms = all_deliveries(&w.db).await.into_iter().find(|d| d.channel == Channel::Sms).unwrap();
        assert_eq!((sms.status, sms.attempts), (Status::Sending, 1));
        // Nobody takes it over while the lease runs…
        let round = w.notifier.run_once(now()).await.unwrap();
        assert_eq!(round.sent, 0);
        // …then the next sender asks the provider first, finds it, and
        // records it without sending it again.
        w.notifier.run_once(now() + retry::LEASE_MICROS + 1).await.unwrap();
        assert_eq!(w.gateway.accepted().len(), 1);
        assert_eq!(w.sink.accepted().len(), 1);
        let sms = all_deliveries(&w.db).await.into_iter().find(|d| d.channel == Channel::Sms).unwrap();
        assert_eq!((sms.status, sms.attempts), (Status::Sent, 2));
        assert!(sms.provider_ref.as_deref().unwrap_or("").starts_with("OutId "), "{sms:?}");
        assert!(w.gateway.accepted()[0].params["reason"] == "缺少户籍证明");
    }

    async fn a_gateway_that_does_not_answer_times_out_and_the_next_attempt_asks_first(t) {
        let w = world(t.db.clone()).await;
        case(&w.db, "C-6", &w.applicant).await;
        event(&w.db, "C-6", "submit", None, None).await;
        // The gateway takes the SMS and never answers: the attempt gives up
        // at half the lease instead of holding the node.
        w.gateway.hold();
        let notifier = w.notifier.clone().with_lease(Duration::from_secs(2));
        let round = notifier.run_once(now()).await.unwrap();
        assert_eq!((round.sent, round.retrying), (1, 1), "{round:?}");
        let sms = all_deliveries(&w.db).await.into_iter().find(|d| d.channel == Channel::Sms).unwrap();
        assert_eq!((sms.status, sms.attempts), (Status::Pending, 1));
        assert!(sms.last_error.as_deref().unwrap_or("").contains("发送超时"), "{sms:?}");
        w.gateway.release();
        // The retry asks the provider, finds the message, sends nothing.
        let round = notifier.run_once(now() + 31_000_000).await.unwrap();
        assert_eq!(round.sent, 1);
        assert_eq!(w.gateway.accepted().len(), 1);
        let sms = all_deliveries(&w.db).await.into_iter().find(|d| d.channel == Channel::Sms).unwrap();
        assert!(sms.provider_ref.as_deref().unwrap_or("").starts_with("OutId "), "{sms:?}");
    }

    async fn a_return_to_an_earlier_step_of_the_office_is_no_news_to_the_applicant(t) {
        let w = world(t.db.clone()).await;
        case(&w.db, "C-7", &w.applicant).await;
        event(&w.db, "C-7", "return", Some("street-review"), Some("复核材料")).await;
        let round = w.notifier.run_once(now()).await.unwrap();
        assert_eq!((round.fanned_out.entries, round.fanned_out.deliveries), (1, 0));
        event(&w.db, "C-7", "return", Some("applicant"), Some("缺少户籍证明")).await;
        let round = w.notifier.run_once(now()).await.unwrap();
        assert_eq!(round.fanned_out.deliveries, 3);
    }

    async fn a_person_turns_channels_off_but_not_the_message_centre(t) {
        let w = world(t.db.clone()).await;
        assert!(store::set_preference(&w.db, &w.applicant, Channel::Sms, false, now()).await.unwrap());
        assert!(!store::set_preference(&w.db, &w.applicant, Channel::Site, false, now()).await.unwrap());
        let choices = store::preferences(&w.db, &w.applicant).await.unwrap();
        assert_eq!(choices.get(&Channel::Sms), Some(&false));
        assert_eq!(choices.get(&Channel::Site), Some(&true));
        case(&w.db, "C-4", &w.applicant).await;
        event(&w.db, "C-4", "submit", None, None).await;
        w.notifier.run_once(now()).await.unwrap();
        let channels: Vec<Channel> = all_deliveries(&w.db).await.into_iter().map(|d| d.channel).collect();
        assert_eq!(channels.len(), 2);
        assert!(channels.contains(&Channel::Site) && channels.contains(&Channel::Email));
        assert!(w.gateway.accepted().is_empty());
    }

    async fn the_message_centre_pages_newest_first_and_each_message_carries_its_own_notices_channels(t) {
        let w = world(t.db.clone()).await;
        // Five applications, two of them with a second notice of the same
        // case: channels must follow the notice, not only the case.
        for id in ["C-6", "C-7", "C-8", "C-9", "C-10"] {
            case(&w.db, id, &w.applicant).await;
            event(&w.db, id, "submit", None, None).await;
        }
        for id in ["C-7", "C-9"] {
            event(&w.db, id, "approve", None, None).await;
        }
        w.notifier.run_once(now()).await.unwrap();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store::messages_of(&w.db, &w.applicant, &MessageFilter { after, limit: 2, ..MessageFilter::default() })
                .await
                .unwrap();
            assert!(page.messages.len() <= 2);
            assert_eq!(page.unread, 7);
            for message in &page.messages {
                let channels: Vec<(Channel, &str, Kind)> = message
                    .channels
                    .iter()
                    .map(|d| (d.channel, d.case_id.as_str(), d.kind))
                    .collect();
                let own = (message.delivery.case_id.as_str(), message.delivery.kind);
                assert_eq!(channels, [(Channel::Email, own.0, own.1), (Channel::Sms, own.0, own.1)], "{message:?}");
            }
            seen.extend(page.messages.into_iter().map(|m| (m.delivery.created_at, m.delivery.id)));
            match page.next {
                Some(next) => after = civitas_workflow_cursor(&next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 7, "{seen:?}");
        let mut newest_first = seen.clone();
        newest_first.sort_by(|a, b| b.cmp(a));
        newest_first.dedup();
        assert_eq!(seen, newest_first, "every message once, newest first");
    }

    async fn staff_see_the_records_of_their_subtree_only(t) {
        let w = world(t.db.clone()).await;
        case(&w.db, "C-5", &w.applicant).await;
        event(&w.db, "C-5", "submit", None, None).await;
        // The same event in the outbox twice writes its deliveries once.
        let mut tx = w.db.begin_platform().await.unwrap();
        with_connection!(tx.connection(), c => {
            sqlx::query("INSERT INTO notification_outbox (case_id, event_seq, queued_at) VALUES ('C-5', 1, 0)")
                .execute(&mut *c).await.unwrap();
        });
        tx.commit().await.unwrap();
        w.notifier.run_once(now()).await.unwrap();
        let page = |tenant: &'static str, filter: DeliveryFilter| {
            let db = w.db.clone();
            async move {
                let mut tx = db.begin(&TenantScope::for_platform_task(path(tenant))).await.unwrap();
                store::deliveries(&mut tx, &filter).await.unwrap()
            }
        };
        let all = DeliveryFilter { limit: 50, ..DeliveryFilter::default() };
        assert_eq!(page(PUDONG, all.clone()).await.deliveries.len(), 3);
        assert_eq!(page(HUANGPU, all.clone()).await.deliveries.len(), 0);
        let other_line = DeliveryFilter { lines: Some(vec!["housing".into()]), ..all.clone() };
        assert_eq!(page(PUDONG, other_line).await.deliveries.len(), 0);
        let sms_only = DeliveryFilter { channel: Some(Channel::Sms), ..all.clone() };
        assert_eq!(page(LUJIAZUI, sms_only).await.deliveries.len(), 1);
        let one = DeliveryFilter { limit: 1, ..all.clone() };
        let first = page(PUDONG, one.clone()).await;
        let next = first.next.clone().unwrap();
        let second = page(PUDONG, DeliveryFilter {
            after: civitas_workflow_cursor(&next),
            ..one
        }).await;
        assert_eq!(second.deliveries.len(), 1);
        assert_ne!(second.deliveries[0].id, first.deliveries[0].id);
    }
}

fn civitas_workflow_cursor(text: &str) -> Option<civitas_workflow::timers::NotificationCursor> {
    civitas_workflow::timers::NotificationCursor::parse(text)
}
