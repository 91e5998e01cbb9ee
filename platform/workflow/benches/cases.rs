//! The workflow engine at the scale of the issue, on PostgreSQL: one million
//! open cases (Shanghai, 16 districts × 215 streets, two services in two
//! lines), then
//!
//! - **transitions per second**: street-level title applications approved
//!   at intake by concurrent clients through [`Workflow::act`] (read, guard,
//!   write the case, its history, tasks, timers and the tenant's audit chain
//!   in one transaction), beside the same number of bare SQL transitions
//!   (the case row with its version guard, one history row, the task
//!   replaced: the least a hand-written transition writes) and bare SQL
//!   writing every row `act` writes (those, the step timers and the audit
//!   record chained to the street's head) in the same run — each kind in
//!   two halves, the second round in the reverse order of the first;
//! - **inbox latency**: [`Workflow::inbox`] for district officers, street
//!   officers, the city reviewer (the largest queue), a second page
//!   and the overdue filter, each query timed, beside the same SQL sent
//!   bare (no transaction, no tenant scope, no row-level security).
//!
//!     cargo bench -p civitas-workflow --bench cases
//!
//! `CIVITAS_TEST_PG` names the PostgreSQL database (default
//! `postgres://postgres@127.0.0.1:5432/test`; the bench works in a schema of
//! its own and drops it); `CIVITAS_BENCH_CASES` (1,000,000),
//! `CIVITAS_BENCH_TRANSITIONS` (20,000) and `CIVITAS_BENCH_CLIENTS` (16)
//! change the sizes.

// A benchmark panics on impossible setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use civitas_storage::{Database, PoolSettings, TenantScope};
use civitas_tenancy::{LINES_FILE, Source, TenantPath, TenantTree};
use civitas_workflow::inbox::{InboxFilter, Queue};
use civitas_workflow::{ActRequest, Action, FlowCatalog, Viewer, Who, Workflow};
use sqlx::{Connection, PgConnection, Row};

const DISTRICTS: u32 = 16;
const STREETS: u32 = 215;
/// Streets in all: each service's cases go round them, step by step.
const TENANTS: u32 = DISTRICTS * STREETS;
const INBOX_QUERIES: usize = 1_000;
const DASHBOARD_QUERIES: usize = 200;
/// A dashboard the stock way: the subtree's cases grouped by place, month
/// and state, counted at each request.
const BARE_DASHBOARD: &str = "SELECT tenant_path, to_char(to_timestamp(created_at / 1000000.0), 'YYYY-MM') AS month, \
     state, count(*), count(*) FILTER (WHERE overdue) FROM cases \
     WHERE tenant_path >= $1 AND tenant_path < $2 GROUP BY 1, 2, 3";

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn district(d: u32) -> String {
    format!("310000/3101{d:02}")
}

fn street(d: u32, s: u32) -> String {
    format!("310000/3101{d:02}/3101{d:02}{s:03}")
}

/// Shanghai with 16 districts of 215 streets, every line everywhere.
fn tree(tenants: &std::path::Path) -> TenantTree {
    let lines =
        r#"lines = ["civil-affairs", "hr-social-security", "housing", "market-regulation"]"#;
    let mut sources = vec![
        Source::new(
            LINES_FILE,
            std::fs::read_to_string(tenants.join(LINES_FILE)).unwrap(),
        ),
        Source::new(
            "310000.toml",
            format!(
                "code = \"310000\"\nlevel = \"city\"\nname = \"上海市\"\nname_en = \"Shanghai\"\nslug = \"shanghai\"\n{lines}\n"
            ),
        ),
    ];
    for d in 1..=DISTRICTS {
        let code = format!("3101{d:02}");
        sources.push(Source::new(
            format!("{code}.toml"),
            format!("code = \"{code}\"\nlevel = \"district\"\nparent = \"310000\"\nname = \"区{d}\"\nname_en = \"District {d}\"\nslug = \"d{d}\"\n{lines}\n"),
        ));
        for s in 1..=STREETS {
            sources.push(Source::new(
                format!("{code}{s:03}.toml"),
                format!("code = \"{code}{s:03}\"\nlevel = \"street\"\nparent = \"{code}\"\nname = \"街道{s}\"\nname_en = \"Street {s}\"\nslug = \"s{s}\"\n{lines}\n"),
            ));
        }
    }
    TenantTree::from_sources(sources).unwrap()
}

/// The shipped meal-subsidy and title-review flows.
fn workflow(tenants: &std::path::Path, tree: TenantTree) -> Workflow {
    let permissions = civitas_authz::Permissions::parse(civitas_authz::BASE_POLICY).unwrap();
    let roles: BTreeSet<String> = permissions.roles().map(str::to_owned).collect();
    let module_services = std::collections::BTreeMap::from([(
        "civil-affairs/meal-subsidy".to_owned(),
        BTreeSet::from(["eligible".to_owned(), "reasons".to_owned()]),
    )]);
    let texts = [
        "_services/civil-affairs/meal-subsidy/flow.toml",
        "_services/hr-social-security/title-review/flow.toml",
    ]
    .iter()
    .map(|f| {
        (
            PathBuf::from(f),
            std::fs::read_to_string(tenants.join(f)).unwrap(),
        )
    })
    .collect();
    let flows = FlowCatalog::from_texts(
        texts,
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

/// One million cases as the engine would have written them: every second
/// one a meal subsidy (street review, then district approval), the others
/// title applications (district intake, district review, city approval);
/// each with its open task, its creation in the history and its overdue
/// timer; due dates from ten days ago to twenty days ahead.
async fn load(conn: &mut PgConnection, cases: usize) {
    let today = civitas_workflow::today_in_china();
    let now = chrono::Utc::now().timestamp_micros();
    let statements = [
        format!(
            "INSERT INTO cases (id, tenant_path, line, service, flow_variant, title, origin, state, step, \
               version, applicant, created_by, data, outcomes, signed, step_due_on, step_unit, overdue, \
               supervised, created_at, updated_at) \
             SELECT md5('case' || g)::uuid::text, \
               '310000/3101' || lpad(d::text, 2, '0') || '/3101' || lpad(d::text, 2, '0') || lpad(s::text, 3, '0'), \
               CASE WHEN meal THEN 'civil-affairs' ELSE 'hr-social-security' END, \
               CASE WHEN meal THEN 'civil-affairs/meal-subsidy' ELSE 'hr-social-security/title-review' END, \
               '', CASE WHEN meal THEN '老年助餐补贴申请' ELSE '职称申报评审' END, 'application', 'open', \
               CASE WHEN meal THEN (ARRAY['street-review', 'district-approval'])[k / {TENANTS} % 2 + 1] \
                    ELSE (ARRAY['intake', 'review', 'approval'])[k / {TENANTS} % 3 + 1] END, \
               1, 'citizen-' || g % 100000, 'citizen-' || g % 100000, '{{}}', '{{}}', '[]', \
               to_char(DATE '{today}' + (g % 31 - 10), 'YYYY-MM-DD'), 'working', g % 31 < 10, FALSE, \
               {now} - g, {now} - g \
             FROM (SELECT g, k, k % {DISTRICTS} + 1 AS d, k / {DISTRICTS} % {STREETS} + 1 AS s, meal \
                   FROM (SELECT g, g / 2 AS k, g % 2 = 0 AS meal FROM generate_series(1, {cases}) g) n) x"
        ),
        "INSERT INTO case_tasks (case_id, slot, tenant_path, actor_tenant, actor_role, line, step, due_on, unit, \
           title, service) \
         SELECT id, 0, tenant_path, \
           CASE step WHEN 'street-review' THEN tenant_path WHEN 'approval' THEN '310000' \
                     ELSE left(tenant_path, 13) END, \
           CASE WHEN step IN ('street-review', 'intake') THEN 'officer' ELSE 'reviewer' END, \
           line, step, step_due_on, step_unit, title, service FROM cases"
            .to_owned(),
        "INSERT INTO case_events (case_id, seq, tenant_path, at, actor, action, step, detail) \
         SELECT id, 1, tenant_path, created_at, applicant, 'create', step, '{}' FROM cases"
            .to_owned(),
        "INSERT INTO case_timers (id, case_id, tenant_path, kind, step, due_on, fire_at) \
         SELECT md5('timer' || id)::uuid::text, id, tenant_path, 'step.overdue', step, step_due_on, \
           (extract(epoch FROM step_due_on::date + 1) * 1000000)::bigint - 28800000000 FROM cases"
            .to_owned(),
        "ANALYZE".to_owned(),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .unwrap();
    }
}

/// Cases at `step` of `service`, spread over the city.
async fn pick(conn: &mut PgConnection, step: &str, n: usize) -> Vec<(String, String)> {
    sqlx::query(
        "SELECT id, tenant_path FROM cases WHERE step = $1 AND version = 1 ORDER BY md5(id) LIMIT $2",
    )
    .bind(step)
    .bind(n as i64)
    .fetch_all(conn)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("id"), r.get("tenant_path")))
    .collect()
}

/// Runs `call` on every item with `clients` concurrent clients; returns the
/// wall time and each call's latency, sorted.
async fn drive<T, F, Fut>(items: Vec<T>, clients: usize, call: F) -> (Duration, Vec<Duration>)
where
    T: Clone + Send + Sync + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let items = Arc::new(items);
    let next = Arc::new(AtomicUsize::new(0));
    let call = Arc::new(call);
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..clients {
        let (items, next, call) = (items.clone(), next.clone(), call.clone());
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let t = Instant::now();
                call(item.clone()).await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let wall = started.elapsed();
    all.sort_unstable();
    (wall, all)
}

fn report_rate(name: &str, wall: Duration, latencies: &[Duration]) -> f64 {
    let rate = latencies.len() as f64 / wall.as_secs_f64();
    println!(
        "| {name} | {:.0}/s | {} | {} |",
        rate,
        ms(percentile(latencies, 0.5)),
        ms(percentile(latencies, 0.99))
    );
    rate
}

/// A step timer as `act` armed it: kind, step, due date, firing time.
type Armed = (String, Option<String>, String, i64);

/// One intake approval through [`Workflow::act`], as a district officer.
async fn act_once(engine: &Workflow, db: &Database, id: &str, tenant: &str) {
    let district = TenantPath::parse(&tenant[..13]).unwrap();
    let who = Who {
        account: format!("officer-{}", &tenant[7..13]),
        username: format!("officer-{}", &tenant[7..13]),
    };
    engine
        .act(
            db,
            // Stands in for the caller's allow decision (the authorization
            // index decides in about 1 µs).
            &TenantScope::for_platform_task(district),
            &Viewer::Staff {
                line: "hr-social-security".into(),
            },
            &who,
            id,
            ActRequest {
                action: Action::Approve,
                version: Some(1),
                reason: None,
                to_step: None,
                to_tenant: None,
                days: None,
                data: None,
            },
            |tenant: &TenantPath, _: &str, _: &str| {
                Ok::<_, ()>(TenantScope::for_platform_task(tenant.clone()))
            },
        )
        .await
        .unwrap();
}

/// The least a hand-written transition writes: the case row guarded by its
/// version, one history row, the task replaced.
async fn bare_transition(pool: &sqlx::PgPool, id: &str, tenant: &str) {
    let now = chrono::Utc::now().timestamp_micros();
    let mut tx = pool.begin().await.unwrap();
    let moved = sqlx::query(
        "UPDATE cases SET step = 'approval', version = version + 1, updated_at = $2 \
         WHERE id = $1 AND version = 1",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(moved, 1);
    sqlx::query(
        "INSERT INTO case_events (case_id, seq, tenant_path, at, actor, action, step, detail) \
         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM case_events WHERE case_id = $1), \
         $2, $3, 'reviewer', 'approve', 'review', '{}')",
    )
    .bind(id)
    .bind(tenant)
    .bind(now)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("DELETE FROM case_tasks WHERE case_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO case_tasks (case_id, slot, tenant_path, actor_tenant, actor_role, line, step, \
         due_on, unit, title, service) VALUES ($1, 0, $2, '310000', 'reviewer', \
         'hr-social-security', 'approval', '2026-12-31', 'working', '职称申报评审', \
         'hr-social-security/title-review')",
    )
    .bind(id)
    .bind(tenant)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// One intake approval written bare, every row `act` writes for it, in as
/// few round trips as those rows allow: the case row guarded by its
/// version, its history entry, its task replaced, its step timers cleared
/// and `armed` anew — one statement, as `act` sends them on PostgreSQL —
/// then the audit record chained to the street's head (the head's upsert;
/// the record's SM3 hash, which needs the head's; the record with the
/// head's new hash), and the commit: five round trips against `act`'s eight,
/// with no scope, no row-level security and nothing read first.
async fn write_same_rows(pool: &sqlx::PgPool, id: &str, tenant: &str, armed: &[Armed]) {
    let now = chrono::Utc::now().timestamp_micros();
    let mut tx = pool.begin().await.unwrap();
    let moved = sqlx::query(
        "WITH changed AS (UPDATE cases SET step = 'review', version = version + 1, updated_at = $2 \
           WHERE id = $1 AND version = 1 RETURNING id), \
         event AS (INSERT INTO case_events (case_id, seq, tenant_path, at, actor, action, step, to_step, detail) \
           SELECT $1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM case_events WHERE case_id = $1), \
           $3, $2, 'officer', 'approve', 'intake', 'review', '{}' FROM changed), \
         closed AS (DELETE FROM case_tasks WHERE case_id = $1 AND EXISTS (SELECT 1 FROM changed) RETURNING slot), \
         opened AS (INSERT INTO case_tasks (case_id, slot, tenant_path, actor_tenant, actor_role, line, step, \
           due_on, unit, title, service) SELECT $1, 0, $3, $4, 'reviewer', 'hr-social-security', 'review', \
           '2026-12-31', 'working', '职称申报评审', 'hr-social-security/title-review' \
           FROM (SELECT count(*) FROM closed) AS done, changed), \
         cleared AS (DELETE FROM case_timers WHERE case_id = $1 AND fired_at IS NULL AND kind LIKE 'step.%' \
           AND EXISTS (SELECT 1 FROM changed)), \
         timers AS (INSERT INTO case_timers (id, case_id, tenant_path, kind, step, due_on, fire_at) \
           SELECT gen_random_uuid()::text, $1, $3, t.kind, t.step, t.due_on, t.fire_at \
           FROM changed, unnest($5::text[], $6::text[], $7::text[], $8::bigint[]) AS t(kind, step, due_on, fire_at)) \
         SELECT count(*) FROM changed",
    )
    .bind(id)
    .bind(now)
    .bind(tenant)
    .bind(&tenant[..13])
    .bind(armed.iter().map(|t| t.0.clone()).collect::<Vec<_>>())
    .bind(armed.iter().map(|t| t.1.clone()).collect::<Vec<_>>())
    .bind(armed.iter().map(|t| t.2.clone()).collect::<Vec<_>>())
    .bind(armed.iter().map(|t| t.3).collect::<Vec<_>>())
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(moved.get::<i64, _>(0), 1);
    let head = sqlx::query(
        "INSERT INTO audit_heads (tenant_path, seq, hash) VALUES ($1, 1, $2) \
         ON CONFLICT (tenant_path) DO UPDATE SET seq = audit_heads.seq + 1 RETURNING seq, hash",
    )
    .bind(tenant)
    .bind(civitas_audit::GENESIS)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let (seq, prev): (i64, String) = (head.get("seq"), head.get("hash"));
    let detail = r#"{"evaluations":[],"module":null,"module_version":null,"reason":null,"service":"hr-social-security/title-review","state":"open","step":"intake","to_step":"review","version":2}"#;
    let hash = civitas_crypto::sm3::digest(
        [
            tenant.as_bytes(),
            &seq.to_be_bytes(),
            &now.to_be_bytes(),
            detail.as_bytes(),
            prev.as_bytes(),
        ]
        .concat()
        .as_slice(),
    )
    .iter()
    .map(|b| format!("{b:02x}"))
    .collect::<String>();
    sqlx::query(
        "WITH appended AS (INSERT INTO audit_events (tenant_path, seq, occurred_at, actor, action, target, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, 'officer', 'case.approve', $4, $5, $6, $7)) \
         UPDATE audit_heads SET hash = $7 WHERE tenant_path = $1",
    )
    .bind(tenant)
    .bind(seq)
    .bind(now)
    .bind(id)
    .bind(detail)
    .bind(&prev)
    .bind(&hash)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// The inbox query as the engine sends it, for the bare comparison.
const BARE_INBOX: &str = "SELECT case_id, slot, tenant_path, actor_tenant, actor_role, line, service, title, \
     step, due_on, unit FROM case_tasks WHERE actor_tenant = $1 AND line = $2 AND actor_role = ANY($3) \
     ORDER BY due_on, case_id, slot LIMIT 51";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let cases = setting("CIVITAS_BENCH_CASES", 1_000_000);
    let transitions = setting("CIVITAS_BENCH_TRANSITIONS", 20_000);
    let clients = setting("CIVITAS_BENCH_CLIENTS", 16);
    let tenants = civitas_testkit::tenants_dir();
    let Some(t) = civitas_testkit::TestDb::postgres().await else {
        eprintln!("PostgreSQL is needed: set CIVITAS_TEST_PG");
        return;
    };
    let mut admin = PgConnection::connect(&t.url).await.unwrap();
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut admin)
        .await
        .unwrap();

    let started = Instant::now();
    let engine = Arc::new(workflow(&tenants, tree(&tenants)));
    load(&mut admin, cases).await;
    println!(
        "loaded {cases} cases (with their tasks, history and timers) in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let db = Database::connect_with(
        &t.url,
        &PoolSettings {
            max_connections: clients as u32,
            ..PoolSettings::default()
        },
    )
    .await
    .unwrap();
    let permissions = civitas_authz::Permissions::parse(civitas_authz::BASE_POLICY).unwrap();
    let roles_of = |role: &str| -> Vec<String> {
        permissions
            .roles()
            .filter(|r| permissions.role_may(role, r))
            .map(str::to_owned)
            .collect()
    };

    // ---------------------------------------------------------- transitions
    println!(
        "\n{transitions} transitions of each kind, {clients} concurrent clients, {} cores\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| transition | per second | p50 | p99 |");
    println!("| --- | --- | --- | --- |");
    // Intake cases for `act` and for the same rows written bare; review
    // cases for the bare transition.
    let intake = pick(&mut admin, "intake", 2 * transitions).await;
    let (engine_items, same_rows_items) = intake.split_at(transitions.min(intake.len()));
    let review = pick(&mut admin, "review", transitions).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(clients as u32)
        .connect(&t.url)
        .await
        .unwrap();
    let act_call = {
        let (engine, db) = (engine.clone(), db.clone());
        move |(id, tenant): (String, String)| {
            let (engine, db) = (engine.clone(), db.clone());
            async move { act_once(&engine, &db, &id, &tenant).await }
        }
    };
    let bare_call = {
        let pool = pool.clone();
        move |(id, tenant): (String, String)| {
            let pool = pool.clone();
            async move { bare_transition(&pool, &id, &tenant).await }
        }
    };
    // Each kind runs in two halves, the second round in the reverse order
    // of the first (act, bare, same rows; then same rows, bare, act), so
    // no kind always meets the tables as another kind's run left them.
    const KINDS: [&str; 3] = [
        "civitas-workflow `act` (approve at intake)",
        "bare SQL transition (same run)",
        "bare SQL writing the rows `act` writes (same run)",
    ];
    let mut runs: [(Duration, Vec<Duration>); 3] = Default::default();
    let mut armed: Option<Arc<Vec<Armed>>> = None;
    let half = transitions / 2;
    for round in 0..2 {
        let range = if round == 0 {
            0..half
        } else {
            half..transitions
        };
        let order = if round == 0 { [0, 1, 2] } else { [2, 1, 0] };
        for kind in order {
            let (wall, latencies) = match kind {
                0 => {
                    drive(
                        engine_items[range.clone()].to_vec(),
                        clients,
                        act_call.clone(),
                    )
                    .await
                }
                1 => drive(review[range.clone()].to_vec(), clients, bare_call.clone()).await,
                _ => {
                    // The timers armed are those `act` armed for its first
                    // case (it runs first in the first round).
                    let armed = match &armed {
                        Some(armed) => armed.clone(),
                        None => {
                            let rows: Vec<Armed> = sqlx::query_as(
                                "SELECT kind, step, due_on, fire_at FROM case_timers \
                                 WHERE case_id = $1 AND fired_at IS NULL ORDER BY kind",
                            )
                            .bind(&engine_items[0].0)
                            .fetch_all(&mut admin)
                            .await
                            .unwrap();
                            assert!(!rows.is_empty(), "act armed the review step's timers");
                            armed.insert(Arc::new(rows)).clone()
                        }
                    };
                    let pool = pool.clone();
                    drive(
                        same_rows_items[range.clone()].to_vec(),
                        clients,
                        move |(id, tenant): (String, String)| {
                            let (pool, armed) = (pool.clone(), armed.clone());
                            async move { write_same_rows(&pool, &id, &tenant, &armed).await }
                        },
                    )
                    .await
                }
            };
            runs[kind].0 += wall;
            runs[kind].1.extend(latencies);
        }
    }
    let mut rates = [0.0; 3];
    for (kind, (wall, latencies)) in runs.iter_mut().enumerate() {
        latencies.sort_unstable();
        rates[kind] = report_rate(KINDS[kind], *wall, latencies);
    }
    let [engine_rate, bare_rate, same_rows_rate] = rates;
    println!(
        "\nratios: civitas-workflow / bare SQL = {:.2}× the throughput; \
         civitas-workflow / bare SQL writing the same rows = {:.2}×; \
         the same rows / bare SQL = {:.2}×",
        engine_rate / bare_rate,
        engine_rate / same_rows_rate,
        same_rows_rate / bare_rate
    );

    // ---------------------------------------------------------------- inbox
    println!("\n{INBOX_QUERIES} queries each, one at a time\n");
    println!("| inbox query | tasks in the queue | p50 | p99 | bare SQL p50 | bare SQL p99 |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let today = civitas_workflow::today_in_china();
    let mut rng = 7u64;
    let mut random = move |n: u32| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((rng >> 33) % u64::from(n)) as u32 + 1
    };
    type Kind = (&'static str, &'static str, &'static str);
    let kinds: [Kind; 5] = [
        ("district officer (intake)", "hr-social-security", "officer"),
        ("street officer (meal subsidy)", "civil-affairs", "officer"),
        ("city reviewer (approval)", "hr-social-security", "reviewer"),
        (
            "district officer, second page",
            "hr-social-security",
            "officer",
        ),
        (
            "district officer, overdue only",
            "hr-social-security",
            "officer",
        ),
    ];
    for (n, (name, line, role)) in kinds.iter().enumerate() {
        let roles = roles_of(role);
        let mut engine_times = Vec::with_capacity(INBOX_QUERIES);
        let mut bare_times = Vec::with_capacity(INBOX_QUERIES);
        let mut sizes = Vec::new();
        for _ in 0..INBOX_QUERIES {
            let tenant = match n {
                1 => street(random(DISTRICTS), random(STREETS)),
                2 => "310000".to_owned(),
                _ => district(random(DISTRICTS)),
            };
            let queue = Queue {
                scope: TenantScope::for_platform_task(TenantPath::parse(&tenant).unwrap()),
                line: (*line).to_owned(),
                roles: roles.clone(),
            };
            let mut filter = InboxFilter {
                limit: 50,
                overdue: (n == 4).then_some(true),
                ..InboxFilter::default()
            };
            if n == 3 {
                let first = engine
                    .inbox(&db, std::slice::from_ref(&queue), &filter, today)
                    .await
                    .unwrap();
                filter.after = first
                    .next
                    .as_deref()
                    .and_then(civitas_workflow::inbox::parse_cursor);
            }
            let t0 = Instant::now();
            let page = engine
                .inbox(&db, std::slice::from_ref(&queue), &filter, today)
                .await
                .unwrap();
            engine_times.push(t0.elapsed());
            assert!(
                !page.items.is_empty(),
                "{name}: an empty inbox measures nothing"
            );
            if sizes.len() < 3 {
                let size: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM case_tasks WHERE actor_tenant = $1 AND line = $2 \
                     AND actor_role = ANY($3)",
                )
                .bind(&tenant)
                .bind(line)
                .bind(&roles)
                .fetch_one(&mut admin)
                .await
                .unwrap();
                sizes.push(size);
            }
            if n < 3 {
                let t0 = Instant::now();
                let rows = sqlx::query(BARE_INBOX)
                    .persistent(false)
                    .bind(&tenant)
                    .bind(line)
                    .bind(&roles)
                    .fetch_all(&mut admin)
                    .await
                    .unwrap();
                bare_times.push(t0.elapsed());
                assert!(!rows.is_empty());
            }
        }
        engine_times.sort_unstable();
        bare_times.sort_unstable();
        let (bare50, bare99) = if bare_times.is_empty() {
            ("—".to_owned(), "—".to_owned())
        } else {
            (
                ms(percentile(&bare_times, 0.5)),
                ms(percentile(&bare_times, 0.99)),
            )
        };
        println!(
            "| {name} | ~{} | {} | {} | {bare50} | {bare99} |",
            sizes.iter().sum::<i64>() / sizes.len().max(1) as i64,
            ms(percentile(&engine_times, 0.5)),
            ms(percentile(&engine_times, 0.99)),
        );
    }

    // ------------------------------------------------------------ dashboard
    // The counts as a year of traffic leaves them: every case counted in
    // one of the last twelve filing months, three in five finished.
    // At each case's street, district and the city, as the workflow counts.
    for (node, parent) in [
        ("tenant_path", "left(tenant_path, 13)"),
        ("left(tenant_path, 13)", "'310000'"),
        ("'310000'", "''"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO case_stats (node_path, parent_path, line, service, month, shard, filed, approved, \
               rejected, withdrawn, overdue, timed, working_days) \
             SELECT {node}, {parent}, line, service, \
               to_char(now() - ((hashtext(id) & 2147483647) % 12) * interval '1 month', 'YYYY-MM'), 0, count(*), \
               count(*) FILTER (WHERE (hashtext(id) & 2147483647) % 10 < 4), \
               count(*) FILTER (WHERE (hashtext(id) & 2147483647) % 10 = 4), \
               count(*) FILTER (WHERE (hashtext(id) & 2147483647) % 10 = 5), \
               count(*) FILTER (WHERE overdue), \
               count(*) FILTER (WHERE (hashtext(id) & 2147483647) % 10 < 6), \
               coalesce(sum((hashtext(id) & 2147483647) % 20) FILTER (WHERE (hashtext(id) & 2147483647) % 10 < 6), 0) \
             FROM cases GROUP BY 1, 2, 3, 4, 5"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
    }
    sqlx::query("ANALYZE case_stats")
        .execute(&mut admin)
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM case_stats")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    println!(
        "\nDashboards: {rows} count rows (street, district and city × service × month); {DASHBOARD_QUERIES} queries each, one at a time\n"
    );
    println!(
        "| dashboard (twelve months, by month and by place) | p50 | p95 | p99 | counting the cases instead: p50 | p95 |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let since = {
        let months_back = chrono::Utc::now() - chrono::Duration::days(335);
        months_back.format("%Y-%m").to_string()
    };
    for (name, level) in [
        ("a district (215 streets)", 1),
        ("the city (16 districts)", 0),
    ] {
        let mut engine_times = Vec::with_capacity(DASHBOARD_QUERIES);
        let mut bare_times = Vec::with_capacity(DASHBOARD_QUERIES);
        for i in 0..DASHBOARD_QUERIES {
            let tenant = if level == 0 {
                "310000".to_owned()
            } else {
                district(random(DISTRICTS))
            };
            let scope = TenantScope::for_platform_task(TenantPath::parse(&tenant).unwrap());
            let t0 = Instant::now();
            let mut tx = db.begin_read(&scope).await.unwrap();
            let board = civitas_workflow::stats::dashboard(&mut tx, None, &since)
                .await
                .unwrap();
            tx.rollback().await.unwrap();
            engine_times.push(t0.elapsed());
            assert!(board.total.filed > 0 && board.months.len() == 12, "{name}");
            // The stock way, a tenth as often: count the subtree's cases.
            if i % 10 == 0 {
                let path = TenantPath::parse(&tenant).unwrap();
                let (lower, upper) = path.subtree_range();
                let lower = lower.to_owned();
                let t0 = Instant::now();
                let rows = sqlx::query(BARE_DASHBOARD)
                    .persistent(false)
                    .bind(lower)
                    .bind(upper)
                    .fetch_all(&mut admin)
                    .await
                    .unwrap();
                bare_times.push(t0.elapsed());
                assert!(!rows.is_empty());
            }
        }
        engine_times.sort_unstable();
        bare_times.sort_unstable();
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            ms(percentile(&engine_times, 0.5)),
            ms(percentile(&engine_times, 0.95)),
            ms(percentile(&engine_times, 0.99)),
            ms(percentile(&bare_times, 0.5)),
            ms(percentile(&bare_times, 0.95)),
        );
    }

    drop(db);
    if std::env::var_os("CIVITAS_BENCH_KEEP").is_some() {
        println!("\nkept schema {schema} (CIVITAS_BENCH_KEEP)");
        return;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}
