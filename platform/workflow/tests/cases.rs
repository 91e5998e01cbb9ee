//! The engine without HTTP, on SQLite and PostgreSQL: stored rows that do
//! not decode are errors, never defaults; notifications page by line in
//! SQL; stored strings and counts are bounded; a transfer goes only where
//! the flow sends a case; only the case's own party resubmits or withdraws.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use civitas_storage::{TenantScope, with_connection};
use civitas_tenancy::TenantPath;
use civitas_testkit::{TestDb, both_backends};
use civitas_workflow::inbox::{InboxFilter, Queue};
use civitas_workflow::timers::{NotificationCursor, NotificationFilter};
use civitas_workflow::{
    ActRequest, Action, Case, CaseState, FlowCatalog, NewAttachment, NewCase, Origin, Viewer, Who,
    Workflow, WorkflowError,
};
use serde_json::json;

const SHANGHAI: &str = "310000";
const PUDONG: &str = "310000/310115";
const LUJIAZUI: &str = "310000/310115/310115005";
const HUANGPU: &str = "310000/310101";
const HR: &str = "hr-social-security";
const LEAD: &str = "hr-social-security/wage-arrears-lead";
const TITLE: &str = "hr-social-security/title-review";

fn path(p: &str) -> TenantPath {
    TenantPath::parse(p).unwrap()
}

fn scope(p: &str) -> TenantScope {
    TenantScope::for_platform_task(path(p))
}

fn staff(name: &str) -> Who {
    Who {
        account: format!("account-{name}"),
        username: name.to_owned(),
    }
}

fn hr_staff() -> Viewer {
    Viewer::Staff { line: HR.into() }
}

fn request(action: Action) -> ActRequest {
    ActRequest {
        action,
        version: None,
        reason: None,
        to_step: None,
        to_tenant: None,
        days: None,
        data: None,
    }
}

fn with_reason(action: Action, reason: &str) -> ActRequest {
    ActRequest {
        reason: Some(reason.into()),
        ..request(action)
    }
}

fn transfer(to: &str) -> ActRequest {
    ActRequest {
        to_tenant: Some(to.into()),
        ..with_reason(Action::Transfer, "属地分派")
    }
}

/// The grant of a role at `at`: it authorises acting on tasks waiting
/// anywhere in `at`'s subtree.
fn grant(at: &str) -> impl Fn(&TenantPath, &str, &str) -> Result<TenantScope, ()> {
    let at = path(at);
    move |tenant: &TenantPath, _line: &str, _role: &str| {
        if tenant.is_within(&at) {
            Ok(TenantScope::for_platform_task(tenant.clone()))
        } else {
            Err(())
        }
    }
}

/// The shipped flows over the demo tree (no module runtime: the actions
/// taken here run no hooks).
async fn workflow(t: &TestDb) -> Workflow {
    let tree = civitas_testkit::demo_tree();
    t.db.sync_tenants(&tree).await.unwrap();
    let permissions = civitas_authz::Permissions::parse(civitas_authz::BASE_POLICY).unwrap();
    let roles: BTreeSet<String> = permissions.roles().map(str::to_owned).collect();
    let module_services = civitas_testkit::module_services();
    let flows = FlowCatalog::load(
        &civitas_testkit::tenants_dir(),
        &civitas_workflow::flow::Context {
            tree: &tree,
            roles: &roles,
            module_services: &module_services,
        },
    )
    .unwrap();
    let calendar = civitas_calendar::Calendar::official().unwrap();
    Workflow::new(
        flows,
        civitas_tenancy::SharedTree::new(tree),
        calendar,
        None,
    )
}

async fn create(
    wf: &Workflow,
    t: &TestDb,
    at: &str,
    who: &Who,
    applicant: Option<&str>,
    service: &str,
) -> Case {
    wf.create(
        &t.db,
        &scope(at),
        &path(at),
        who,
        applicant,
        NewCase {
            id: None,
            service: service.into(),
            title: None,
            data: json!({"project": "张江某工地"}),
            origin: if service == LEAD {
                Origin::Warning
            } else {
                Origin::Application
            },
        },
    )
    .await
    .unwrap()
}

/// Runs `sql` with `id` bound as `$1`, as the platform (outside any scope):
/// how a damaged row gets into the database.
async fn damage(t: &TestDb, sql: &str, id: &str) {
    let mut tx = t.db.begin_platform().await.unwrap();
    let changed = with_connection!(tx.connection(), c => {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(id.to_owned())
            .execute(&mut *c)
            .await
            .unwrap()
            .rows_affected()
    });
    assert!(changed > 0, "{sql} changed nothing");
    tx.commit().await.unwrap();
}

fn assert_corrupt(result: Result<impl std::fmt::Debug, WorkflowError>, what: &str) {
    let error = result.expect_err(what);
    assert_eq!(
        (error.code(), error.status()),
        ("data_corrupt", 500),
        "{what}: {error}"
    );
}

/// `who` (seeing the case as `viewer` in `at`'s subtree, granted a role at
/// `granted`) applies `req` to the case `id`.
#[allow(clippy::too_many_arguments)]
async fn act(
    wf: &Workflow,
    t: &TestDb,
    at: &str,
    viewer: &Viewer,
    who: &Who,
    id: &str,
    req: ActRequest,
    granted: &str,
) -> Result<Case, WorkflowError> {
    wf.act(&t.db, &scope(at), viewer, who, id, req, grant(granted))
        .await
}

async fn attach(
    wf: &Workflow,
    t: &TestDb,
    who: &Who,
    id: &str,
    new: NewAttachment,
) -> Result<civitas_workflow::Attachment, WorkflowError> {
    wf.attach(&t.db, &scope(HUANGPU), &hr_staff(), who, id, new)
        .await
}

async fn titled(
    wf: &Workflow,
    t: &TestDb,
    who: &Who,
    service: &str,
    title: Option<String>,
) -> Result<Case, WorkflowError> {
    wf.create(
        &t.db,
        &scope(HUANGPU),
        &path(HUANGPU),
        who,
        None,
        NewCase {
            id: None,
            service: service.into(),
            title,
            data: json!({}),
            origin: Origin::Application,
        },
    )
    .await
}

fn limited<T: std::fmt::Debug>(result: Result<T, WorkflowError>, what: &str) {
    let e = result.expect_err(what);
    assert_eq!(
        (e.code(), e.status()),
        ("limit_exceeded", 422),
        "{what}: {e}"
    );
    assert!(e.to_string().contains(" / "), "bilingual: {e}");
}

fn not_yours(result: Result<Case, WorkflowError>, what: &str) {
    let e = result.expect_err(what);
    assert_eq!(
        (e.code(), e.status()),
        ("not_your_step", 403),
        "{what}: {e}"
    );
}

async fn get(wf: &Workflow, t: &TestDb, at: &str, id: &str) -> Result<Case, WorkflowError> {
    let mut tx = t.db.begin_read(&scope(at)).await.unwrap();
    let case = wf.get(&mut tx, &hr_staff(), id).await;
    tx.rollback().await.unwrap();
    case
}

both_backends! {
    async fn deadlines_count_from_the_engines_clock_and_its_timers_fire_when_it_passes_them(t) {
        // The eve of National Day 2026 (1–7 October off): the intake's five
        // working days run past the holiday, counted from the clock's day.
        let filed_on = chrono::NaiveDate::from_ymd_opt(2026, 9, 30).unwrap();
        let clock = civitas_workflow::Clock::at_china_date(filed_on);
        let wf = workflow(&t).await.with_clock(clock.clone());
        let officer = staff("huangpu-officer");
        let case = create(&wf, &t, HUANGPU, &officer, None, TITLE).await;
        let due = civitas_calendar::Calendar::official().unwrap().add_working_days(filed_on, 5).unwrap();
        assert_eq!(case.step_due_on, Some(due));
        assert!(due > chrono::NaiveDate::from_ymd_opt(2026, 10, 7).unwrap(), "the holiday is not counted");
        assert_eq!(case.created_at, clock.now_micros(), "the filing's time is the clock's");

        // Nothing is due yet at the clock's now.
        let fire = |now: i64| civitas_workflow::timers::fire_due(&t.db, now, 100, "test");
        let fired = fire(clock.now_micros()).await.unwrap();
        assert!(fired.iter().all(|f| f.case_id != case.id), "{fired:?}");
        // The day after the due date the step's overdue timer fires, and the
        // case reads as overdue: time moved by the clock alone, no SQL.
        clock.advance_days((due - filed_on).num_days() + 1);
        let fired = fire(clock.now_micros()).await.unwrap();
        assert!(
            fired.iter().any(|f| f.case_id == case.id && f.kind == "step.overdue"),
            "{fired:?}"
        );
        assert!(get(&wf, &t, HUANGPU, &case.id).await.unwrap().overdue);

        // Acting takes its time from the clock too.
        let acted = act(&wf, &t, HUANGPU, &hr_staff(), &officer, &case.id, request(Action::Approve), HUANGPU)
            .await
            .unwrap();
        assert_eq!(acted.updated_at, clock.now_micros());
    }
}

both_backends! {
    async fn stored_rows_that_do_not_decode_are_errors_not_defaults(t) {
        let wf = workflow(&t).await;
        let officer = staff("huangpu-officer");
        let at = HUANGPU;

        // A closed case whose state text is damaged does not read as open.
        let case = create(&wf, &t, at, &officer, None, TITLE).await;
        assert_eq!(get(&wf, &t, at, &case.id).await.unwrap().state, CaseState::Open);
        damage(&t, "UPDATE cases SET state = 'archived' WHERE id = $1", &case.id).await;
        assert_corrupt(get(&wf, &t, at, &case.id).await, "unknown state");
        // Nor can anyone act on it.
        let acted = act(&wf, &t, at, &hr_staff(), &officer, &case.id, request(Action::Approve), at).await;
        assert_corrupt(acted, "act on an unknown state");
        // An open state without a step is no place to wait at.
        let case = create(&wf, &t, at, &officer, None, TITLE).await;
        damage(&t, "UPDATE cases SET step = NULL WHERE id = $1", &case.id).await;
        assert_corrupt(get(&wf, &t, at, &case.id).await, "open without a step");

        // Malformed JSON, and JSON that is not an object, in the document.
        let case = create(&wf, &t, at, &officer, None, TITLE).await;
        damage(&t, "UPDATE cases SET data = '{\"project\": ' WHERE id = $1", &case.id).await;
        assert_corrupt(get(&wf, &t, at, &case.id).await, "malformed data");
        let case = create(&wf, &t, at, &officer, None, TITLE).await;
        damage(&t, "UPDATE cases SET outcomes = '[]' WHERE id = $1", &case.id).await;
        assert_corrupt(get(&wf, &t, at, &case.id).await, "outcomes not an object");
        let case = create(&wf, &t, at, &officer, None, TITLE).await;
        damage(&t, "UPDATE cases SET signed = 'null' WHERE id = $1", &case.id).await;
        assert_corrupt(get(&wf, &t, at, &case.id).await, "signatures not a list");

        // A date that is not a date, and a unit that is not a unit.
        let case = create(&wf, &t, at, &officer, None, TITLE).await;
        damage(&t, "UPDATE cases SET step_due_on = '2026-02-30' WHERE id = $1", &case.id).await;
        assert_corrupt(get(&wf, &t, at, &case.id).await, "bad date");
        let case = create(&wf, &t, at, &officer, None, TITLE).await;
        damage(&t, "UPDATE cases SET step_unit = 'lunar' WHERE id = $1", &case.id).await;
        assert_corrupt(get(&wf, &t, at, &case.id).await, "bad unit");
        // A damaged case in a list fails the list rather than vanishing or
        // changing.
        let mut tx = t.db.begin_read(&scope(at)).await.unwrap();
        let listed = wf.list(&mut tx, &hr_staff(), &civitas_workflow::CaseFilter {
            limit: 50, ..Default::default()
        }).await;
        tx.rollback().await.unwrap();
        assert_corrupt(listed, "a list holding corrupt cases");

        // History with a damaged detail.
        let case = create(&wf, &t, at, &officer, None, TITLE).await;
        damage(&t, "UPDATE case_events SET detail = 'not json' WHERE case_id = $1", &case.id).await;
        let mut tx = t.db.begin_read(&scope(at)).await.unwrap();
        let history = wf.history(&mut tx, &case).await;
        tx.rollback().await.unwrap();
        assert_corrupt(history, "bad history detail");

        // An attachment whose digest is not one.
        let case = create(&wf, &t, at, &officer, None, TITLE).await;
        attach(&wf, &t, &officer, &case.id, attachment("证明.pdf")).await.unwrap();
        damage(&t, "UPDATE case_attachments SET sm3 = 'abc' WHERE case_id = $1", &case.id).await;
        let mut tx = t.db.begin_read(&scope(at)).await.unwrap();
        let attachments = wf.attachments(&mut tx, &case).await;
        tx.rollback().await.unwrap();
        assert_corrupt(attachments, "bad attachment digest");

        // A task whose actor tenant or due date is damaged: acting and the
        // inbox both refuse it.
        let case = create(&wf, &t, at, &officer, None, TITLE).await;
        damage(&t, "UPDATE case_tasks SET actor_tenant = 'huangpu' WHERE case_id = $1", &case.id).await;
        let acted = act(&wf, &t, at, &hr_staff(), &officer, &case.id, request(Action::Approve), at).await;
        assert_corrupt(acted, "bad actor tenant");
        damage(&t, "UPDATE case_tasks SET actor_tenant = $1 WHERE actor_tenant = 'huangpu'", HUANGPU).await;
        damage(&t, "UPDATE case_tasks SET due_on = 'soon' WHERE case_id = $1", &case.id).await;
        let queue = Queue { scope: scope(HUANGPU), line: HR.into(), roles: vec!["officer".into()] };
        let inbox = wf.inbox(&t.db, &[queue], &InboxFilter { limit: 50, ..Default::default() },
            civitas_workflow::today_in_china()).await;
        assert_corrupt(inbox, "bad task due date");

        // A due timer of no known kind stops the round with an error (and
        // stays unfired) instead of being skipped.
        let case = create(&wf, &t, at, &officer, None, TITLE).await;
        damage(&t, "UPDATE case_timers SET kind = 'step.bogus', fire_at = 0 WHERE case_id = $1", &case.id).await;
        let fired = civitas_workflow::timers::fire_due(&t.db, chrono::Utc::now().timestamp_micros(), 100, "test").await;
        assert_corrupt(fired, "bad timer kind");
        damage(&t, "UPDATE case_timers SET kind = 'step.overdue', due_on = '31/12/2026' WHERE case_id = $1", &case.id).await;
        let fired = civitas_workflow::timers::fire_due(&t.db, chrono::Utc::now().timestamp_micros(), 100, "test").await;
        assert_corrupt(fired, "bad timer due date");
    }

    async fn sqlite_keeps_text_in_an_integer_column_and_reading_it_is_corrupt(t) {
        // SQLite stores whatever is written; PostgreSQL refuses the write.
        if t.url.starts_with("sqlite:") {
            let wf = workflow(&t).await;
            let case = create(&wf, &t, HUANGPU, &staff("huangpu-officer"), None, TITLE).await;
            damage(&t, "UPDATE cases SET version = 'two' WHERE id = $1", &case.id).await;
            assert_corrupt(get(&wf, &t, HUANGPU, &case.id).await, "text version");
        }
    }

    async fn notifications_page_by_line_in_sql_with_no_short_page(t) {
        workflow(&t).await;
        // 30 notifications in Pudong, two lines interleaved, several made
        // in the same microsecond; and some in Huangpu, outside the scope.
        let mut tx = t.db.begin_platform().await.unwrap();
        let mut ids = Vec::new();
        for i in 0..36_i64 {
            let (tenant, line) = match i {
                30.. => (HUANGPU, HR),
                _ if i % 2 == 0 => (if i % 4 == 0 { PUDONG } else { LUJIAZUI }, HR),
                _ => (LUJIAZUI, "civil-affairs"),
            };
            let id = uuid::Uuid::new_v4().to_string();
            with_connection!(tx.connection(), c => {
                sqlx::query("INSERT INTO notifications (id, tenant_path, case_id, timer_id, kind, recipient_tenant, \
                             recipient_role, line, message_zh, message_en, created_at) \
                             VALUES ($1, $2, 'case', NULL, 'step.remind', $2, 'officer', $3, '提醒', 'Reminder', $4)")
                    .bind(id.clone())
                    .bind(tenant)
                    .bind(line)
                    .bind(1_000 + i / 3)
                    .execute(&mut *c)
                    .await
                    .unwrap();
            });
            if i < 30 {
                ids.push((line, 1_000 + i / 3, id));
            }
        }
        tx.commit().await.unwrap();

        for line in [Some(HR), Some("civil-affairs"), None] {
            let pages = notification_pages(&t, line).await;
            let expected: Vec<&str> = ids.iter()
                .filter(|(l, _, _)| line.is_none_or(|line| *l == line))
                .map(|(_, _, id)| id.as_str())
                .collect();
            let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
            // Full pages until the last, which is the rest.
            let full = expected.len() / 10;
            let mut wanted = vec![10; full];
            if !expected.len().is_multiple_of(10) {
                wanted.push(expected.len() % 10);
            }
            assert_eq!(sizes, wanted, "{line:?}");
            let seen: Vec<&civitas_workflow::timers::Notification> = pages.iter().flatten().collect();
            // Every one of the line exactly once, newest first.
            let mut got: Vec<&str> = seen.iter().map(|n| n.id.as_str()).collect();
            assert!(seen.windows(2).all(|w| (w[0].created_at, &w[0].id) > (w[1].created_at, &w[1].id)));
            assert!(seen.iter().all(|n| line.is_none_or(|l| n.line == l)));
            got.sort_unstable();
            let mut expected = expected;
            expected.sort_unstable();
            assert_eq!(got, expected, "{line:?}");
        }
        // One case's notices only.
        let mut tx = t.db.begin_read(&scope(PUDONG)).await.unwrap();
        let none = civitas_workflow::timers::notifications(&mut tx, &NotificationFilter {
            case_id: Some("another".into()), line: None, after: None, limit: 10,
        }).await.unwrap();
        tx.rollback().await.unwrap();
        assert!(none.notifications.is_empty() && none.next.is_none());
    }

    async fn reasons_titles_and_attachments_are_bounded(t) {
        let wf = workflow(&t).await;
        let officer = staff("huangpu-officer");
        let long = |n: usize| "理".repeat(n);

        // Titles: 200 characters at most.
        limited(titled(&wf, &t, &officer, TITLE, Some(long(201))).await, "title 201");
        let case = titled(&wf, &t, &officer, TITLE, Some(long(200))).await.unwrap();
        assert_eq!(case.title.chars().count(), 200);

        // Reasons: 500 characters, on every action that records one.
        let hr = hr_staff();
        let on = |req: ActRequest| (req, case.id.clone());
        for (req, id) in [on(with_reason(Action::Approve, &long(501))), on(with_reason(Action::Return, &long(501)))] {
            limited(act(&wf, &t, HUANGPU, &hr, &officer, &id, req, HUANGPU).await, "reason 501");
        }
        let returned = act(&wf, &t, HUANGPU, &hr, &officer, &case.id, with_reason(Action::Return, &long(500)), HUANGPU).await.unwrap();
        assert_eq!(returned.state, CaseState::Returned);
        limited(act(&wf, &t, HUANGPU, &hr, &officer, &case.id, with_reason(Action::Resubmit, &long(501)), HUANGPU).await, "resubmit 501");
        act(&wf, &t, HUANGPU, &hr, &officer, &case.id, with_reason(Action::Resubmit, "已补正"), HUANGPU).await.unwrap();

        // Pause and resume on a penalty case (it has a limit to stop).
        let market = staff("huangpu-market");
        let penalty = titled(&wf, &t, &market, "market-regulation/penalty-case", None).await.unwrap();
        let viewer = Viewer::Staff { line: "market-regulation".into() };
        let pause = |reason: &str| with_reason(Action::Pause, reason);
        limited(act(&wf, &t, HUANGPU, &viewer, &market, &penalty.id, pause(&long(501)), HUANGPU).await, "pause 501");
        act(&wf, &t, HUANGPU, &viewer, &market, &penalty.id, pause("等待鉴定"), HUANGPU).await.unwrap();
        limited(act(&wf, &t, HUANGPU, &viewer, &market, &penalty.id, with_reason(Action::Resume, &long(501)), HUANGPU).await, "resume 501");
        act(&wf, &t, HUANGPU, &viewer, &market, &penalty.id, with_reason(Action::Resume, "鉴定完成"), HUANGPU).await.unwrap();

        // Attachments: name 255, media type 127, 50 per case.
        limited(attach(&wf, &t, &officer, &case.id, attachment(&format!("{}.pdf", "证".repeat(252)))).await, "name 256");
        attach(&wf, &t, &officer, &case.id, attachment(&format!("{}.pdf", "证".repeat(251)))).await.unwrap();
        let typed = |media_type: String| NewAttachment { media_type, ..attachment("a.bin") };
        limited(attach(&wf, &t, &officer, &case.id, typed(format!("application/{}", "x".repeat(116)))).await, "media type 128");
        attach(&wf, &t, &officer, &case.id, typed(format!("application/{}", "x".repeat(115)))).await.unwrap();
        for i in 2..50 {
            attach(&wf, &t, &officer, &case.id, attachment(&format!("证明{i}.pdf"))).await.unwrap();
        }
        limited(attach(&wf, &t, &officer, &case.id, attachment("第51份.pdf")).await, "attachment 51");
        let mut tx = t.db.begin_read(&scope(HUANGPU)).await.unwrap();
        assert_eq!(wf.attachments(&mut tx, &case).await.unwrap().len(), 50);
        tx.rollback().await.unwrap();
    }

    async fn history_is_read_in_pages(t) {
        let wf = workflow(&t).await;
        let officer = staff("huangpu-officer");
        let case = create(&wf, &t, HUANGPU, &officer, None, TITLE).await;
        for i in 0..12 {
            attach(&wf, &t, &officer, &case.id, attachment(&format!("证明{i}.pdf"))).await.unwrap();
        }
        // 13 entries: the submission and 12 attachments.
        let mut tx = t.db.begin_read(&scope(HUANGPU)).await.unwrap();
        let mut seqs = Vec::new();
        let mut sizes = Vec::new();
        let mut after = None;
        loop {
            let page = wf.history_page(&mut tx, &case, after, 5).await.unwrap();
            sizes.push(page.events.len());
            seqs.extend(page.events.iter().map(|e| e.seq));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(sizes, [5, 5, 3]);
        assert_eq!(seqs, (1..=13).collect::<Vec<i64>>());
        assert_eq!(wf.history(&mut tx, &case).await.unwrap().len(), 13);
        // A page is never larger than the cap, whatever is asked.
        let page = wf.history_page(&mut tx, &case, None, u32::MAX).await.unwrap();
        assert!(page.events.len() <= civitas_workflow::MAX_HISTORY_PAGE as usize && page.next.is_none());
        tx.rollback().await.unwrap();
    }

    async fn a_district_sends_a_lead_back_up_never_sideways(t) {
        let wf = workflow(&t).await;
        let dispatcher = staff("city-hr-dispatcher");
        let inspector = staff("pudong-hr-inspector");
        let case = create(&wf, &t, SHANGHAI, &dispatcher, None, LEAD).await;
        assert_eq!(case.step.as_deref(), Some("dispatch"));
        let hr = hr_staff();
        let city = |req| act(&wf, &t, SHANGHAI, &hr, &dispatcher, &case.id, req, SHANGHAI);
        let pudong = |req| act(&wf, &t, PUDONG, &hr, &inspector, &case.id, req, PUDONG);

        // The city dispatches to a district, not to a street (the inspectors
        // of the landing step sit at districts).
        let refused = city(transfer(LUJIAZUI)).await.unwrap_err();
        assert_eq!((refused.code(), refused.status()), ("transfer_target_not_allowed", 422), "{refused}");
        let at_pudong = city(transfer(PUDONG)).await.unwrap();
        assert_eq!((at_pudong.tenant_path.as_str(), at_pudong.step.as_deref()), (PUDONG, Some("dispose")));

        // Pudong cannot hand it straight to Huangpu, nor down to one of its
        // streets; the case stays as it was.
        for target in [HUANGPU, LUJIAZUI] {
            let refused = pudong(transfer(target)).await.unwrap_err();
            assert_eq!((refused.code(), refused.status()), ("transfer_target_not_allowed", 422), "{target}: {refused}");
            assert!(refused.to_string().contains(" / "), "bilingual: {refused}");
        }
        let still = get(&wf, &t, PUDONG, &case.id).await.unwrap();
        assert_eq!((still.tenant_path.as_str(), still.version), (PUDONG, at_pudong.version));

        // Sending it back to the city works; the city dispatches again.
        let back = pudong(transfer(SHANGHAI)).await.unwrap();
        assert_eq!((back.tenant_path.as_str(), back.step.as_deref()), (SHANGHAI, Some("dispatch")));
        let again = city(transfer(HUANGPU)).await.unwrap();
        assert_eq!((again.tenant_path.as_str(), again.step.as_deref()), (HUANGPU, Some("dispose")));
    }

    async fn open_cases_are_counted_at_exactly_one_node_for_tree_revisions(t) {
        // What `civitas tenant plan` reports for a node it would retire.
        let wf = workflow(&t).await;
        let officer = staff("huangpu-officer");
        let first = create(&wf, &t, HUANGPU, &officer, None, TITLE).await;
        create(&wf, &t, HUANGPU, &officer, None, TITLE).await;
        let (huangpu, shanghai) = (path(HUANGPU), path(SHANGHAI));
        let count = |at| civitas_workflow::open_cases_at(&t.db, at);
        assert_eq!(count(&huangpu).await.unwrap(), 2);
        assert_eq!(count(&shanghai).await.unwrap(), 0, "the node itself, not its subtree");
        // A case sent back to its filer is not finished.
        act(&wf, &t, HUANGPU, &hr_staff(), &officer, &first.id, with_reason(Action::Return, "材料不全"), HUANGPU)
            .await
            .unwrap();
        assert_eq!(count(&huangpu).await.unwrap(), 2);
    }

    async fn only_the_applicant_or_the_filing_account_resubmits(t) {
        let wf = workflow(&t).await;
        let officer = staff("huangpu-officer");
        let colleague = staff("huangpu-colleague");
        let hr = hr_staff();
        macro_rules! resubmit {
            ($id:expr, $who:expr, $viewer:expr) => {
                act(&wf, &t, HUANGPU, $viewer, $who, $id, with_reason(Action::Resubmit, "已补正"), HUANGPU).await
            };
        }
        macro_rules! send_back {
            ($id:expr) => {
                act(&wf, &t, HUANGPU, &hr, &officer, $id, with_reason(Action::Return, "材料不全"), HUANGPU).await
            };
        }

        // Filed by staff: only the account that filed it resubmits.
        let filed = create(&wf, &t, HUANGPU, &officer, None, TITLE).await;
        send_back!(&filed.id).unwrap();
        not_yours(resubmit!(&filed.id, &colleague, &hr), "a colleague");
        let again = resubmit!(&filed.id, &officer, &hr).unwrap();
        assert_eq!((again.state, again.step.as_deref()), (CaseState::Open, Some("intake")));

        // Filed by an applicant: only the applicant, not the staff who can
        // see it (nor its creator account if it differs).
        let citizen = Who { account: "account-citizen".into(), username: "citizen-demo".into() };
        let applied = create(&wf, &t, HUANGPU, &citizen, Some("account-citizen"), TITLE).await;
        send_back!(&applied.id).unwrap();
        not_yours(resubmit!(&applied.id, &officer, &hr), "staff on an application");
        let stranger = Who { account: "account-other".into(), username: "other".into() };
        let stranger_view = Viewer::Applicant { account: "account-other".into() };
        let hidden = resubmit!(&applied.id, &stranger, &stranger_view);
        assert_eq!(hidden.unwrap_err().code(), "case_not_found");
        let citizen_view = Viewer::Applicant { account: "account-citizen".into() };
        resubmit!(&applied.id, &citizen, &citizen_view).unwrap();

        // Withdrawing is the applicant's alone.
        let withdraw = || with_reason(Action::Withdraw, "不需要了");
        not_yours(act(&wf, &t, HUANGPU, &hr, &officer, &applied.id, withdraw(), HUANGPU).await, "staff withdrawing");
        let gone = act(&wf, &t, HUANGPU, &citizen_view, &citizen, &applied.id, withdraw(), HUANGPU).await.unwrap();
        assert_eq!(gone.state, CaseState::Withdrawn);
    }

    async fn dashboards_count_filings_and_outcomes_by_month_and_place(t) {
        let wf = workflow(&t).await;
        let officer = staff("huangpu-officer");
        let hr = hr_staff();
        let month = civitas_workflow::stats::filing_month(chrono::Utc::now().timestamp_micros());
        // Three filed at Huangpu: one refused at intake, one withdrawn, one
        // still open; one filed at Pudong.
        let refused = create(&wf, &t, HUANGPU, &officer, None, TITLE).await;
        act(&wf, &t, HUANGPU, &hr, &officer, &refused.id, with_reason(Action::Reject, "不符合条件"), HUANGPU)
            .await
            .unwrap();
        let citizen = Who { account: "account-citizen".into(), username: "citizen-demo".into() };
        let citizen_view = Viewer::Applicant { account: "account-citizen".into() };
        let withdrawn = create(&wf, &t, HUANGPU, &citizen, Some("account-citizen"), TITLE).await;
        act(&wf, &t, HUANGPU, &citizen_view, &citizen, &withdrawn.id, with_reason(Action::Withdraw, "不需要了"), HUANGPU)
            .await
            .unwrap();
        create(&wf, &t, HUANGPU, &officer, None, TITLE).await;
        create(&wf, &t, PUDONG, &officer, None, TITLE).await;

        let read = |at: &'static str, line: Option<&'static str>| {
            let t = &t;
            async move {
                let mut tx = t.db.begin_read(&scope(at)).await.unwrap();
                let board = civitas_workflow::stats::dashboard(&mut tx, line, "2000-01").await.unwrap();
                tx.rollback().await.unwrap();
                board
            }
        };
        let city = read(SHANGHAI, Some(HR)).await;
        assert_eq!(
            (city.total.filed, city.total.rejected, city.total.withdrawn, city.total.approved),
            (4, 1, 1, 0)
        );
        // Finished the day they were filed: measured, at zero working days.
        assert_eq!((city.total.timed, city.total.working_days), (2, 0));
        assert_eq!(city.total.approval_rate(), Some(0.0));
        assert_eq!(city.months.len(), 1);
        assert_eq!(city.months[0].month, month);
        // By the city's children, each with its subtree.
        let places: Vec<(String, i64)> = city
            .places
            .iter()
            .map(|p| (p.tenant.clone(), p.counts.filed))
            .collect();
        assert_eq!(places, vec![(HUANGPU.to_owned(), 3), (PUDONG.to_owned(), 1)]);
        // A district sees its own; another line sees none of these.
        assert_eq!(read(HUANGPU, None).await.total.filed, 3);
        assert_eq!(read(PUDONG, Some(HR)).await.total.filed, 1);
        assert_eq!(read(SHANGHAI, Some("civil-affairs")).await.total.filed, 0);
        // Only months from the one asked for.
        let mut tx = t.db.begin_read(&scope(SHANGHAI)).await.unwrap();
        let later = civitas_workflow::stats::dashboard(&mut tx, None, "2999-01").await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(later.total.filed, 0);
    }
}

/// Every page of Pudong's notifications (of `line`, or all), 10 a page.
async fn notification_pages(
    t: &TestDb,
    line: Option<&str>,
) -> Vec<Vec<civitas_workflow::timers::Notification>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let mut tx = t.db.begin_read(&scope(PUDONG)).await.unwrap();
        let page = civitas_workflow::timers::notifications(
            &mut tx,
            &NotificationFilter {
                case_id: None,
                line: line.map(str::to_owned),
                after,
                limit: 10,
            },
        )
        .await
        .unwrap();
        tx.rollback().await.unwrap();
        pages.push(page.notifications);
        match page.next {
            Some(next) => after = Some(NotificationCursor::parse(&next).unwrap()),
            None => return pages,
        }
    }
}

fn attachment(name: &str) -> NewAttachment {
    NewAttachment {
        name: name.into(),
        media_type: "application/pdf".into(),
        size: 1024,
        sm3: "a".repeat(64),
    }
}

both_backends! {
    async fn places_resolve_from_a_case_below_the_street_and_in_a_unit(t) {
        use civitas_workflow::flow::Place;
        let wf = workflow(&t).await;
        let path = |s: &str| TenantPath::parse(s).unwrap();
        let level = |s: &str| civitas_tenancy::Level::parse(s).unwrap();
        let community = path("310000/310115/310115005/310115005001");
        let centre = path("310000/310115/310115005/U-LJZ01");
        assert_eq!(wf.place(&Place::Level(level("street")), &community), Some(path("310000/310115/310115005")));
        assert_eq!(wf.place(&Place::Level(level("community")), &community), Some(community.clone()));
        assert_eq!(wf.place(&Place::Ancestor(level("community")), &community), None, "not itself");
        assert_eq!(wf.place(&Place::Ancestor(level("district")), &centre), Some(path("310000/310115")));
        assert_eq!(wf.place(&Place::Parent, &centre), Some(path("310000/310115/310115005")));
        assert_eq!(wf.place(&Place::Level(level("community")), &centre), None, "a unit is no community");
        assert_eq!(wf.place(&Place::Case, &centre), Some(centre.clone()));
    }
}
