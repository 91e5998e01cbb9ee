//! `civitas-load`: measures Civitas under load, as BENCHMARKS.md reports it.
//!
//! - `submit`: citizen submissions of meal-subsidy applications over HTTP,
//!   from N connections for a number of seconds, spread over places;
//! - `batch`: eligibility checks in bulk (`evaluate-batch`) against single
//!   calls;
//! - `wage-arrears`: a month of project monitoring data imported from CSV
//!   and run as one batch of warning rules, against single calls;
//! - `population`: a million residents' population records written into
//!   the embedded database, then the nightly 免申即享 run timed, against
//!   single calls of the same rule;
//! - `mix`: users of every kind at once over one or more nodes — the
//!   public browsing the portal, citizens applying, officers at their
//!   inbox approving what citizens filed, searching, evaluating — with
//!   p50/p95/p99 and throughput per operation;
//! - `invalidation`: a grant revoked and made again on one node, timed
//!   until the other nodes refuse and honour it again;
//! - `fill`: grows the case tables of a PostgreSQL database to a number of
//!   cases by copying the cases already filed (with their tasks, history
//!   and timers), so the next `submit` runs against a large database.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use civitas_load::{CASE_TABLES, FILL_PREFIX, Report, copy_statement};
use clap::{Parser, Subcommand};
use sqlx::{Connection, PgConnection};

/// The ten demo streets whose civil-affairs offices take meal-subsidy
/// applications.
const DEMO_STREETS: &[&str] = &[
    "shanghai/huangpu/nanjing-dong-lu",
    "shanghai/huangpu/waitan",
    "shanghai/huangpu/yuyuan",
    "shanghai/xuhui/tianping-lu",
    "shanghai/xuhui/xujiahui",
    "shanghai/xuhui/huajing",
    "shanghai/pudong/weifang-xincun",
    "shanghai/pudong/lujiazui",
    "shanghai/pudong/huamu",
    "shanghai/pudong/zhangjiang",
];

#[derive(Parser)]
#[command(
    name = "civitas-load",
    version,
    about = "Load generator for Civitas (results as BENCHMARKS.md reports them)",
    after_help = "Exit codes: 0 done · 1 the run failed (no answer, or fewer than 99 % of requests succeeded) · 2 usage"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Citizen submissions over HTTP: sign in once, then each connection
    /// files meal-subsidy applications one after another, going round the
    /// places.
    #[command(after_help = "Examples:\n  \
        civitas-load submit --url http://127.0.0.1:8080 --connections 16 --seconds 20\n  \
        civitas-load submit --at shanghai/pudong/lujiazui --connections 200 --json")]
    Submit(SubmitArgs),
    /// Eligibility checks in bulk over HTTP: `--inputs` meal-subsidy
    /// applications sent in batches (`POST …/evaluate-batch`), then, for
    /// comparison in the same run, single calls (`POST …/evaluate`) for
    /// `--single-seconds`.
    #[command(after_help = "Example:\n  \
        civitas-load batch --username lujiazui-officer --at shanghai/pudong/lujiazui --inputs 100000")]
    Batch(BatchArgs),
    /// 安薪 warnings at scale: `--projects` project-months generated across
    /// Pudong (its variant), Lujiazui, Huangpu and Xuhui, imported as CSV
    /// files (`POST …/wage-arrears/project-months`), then the month run as
    /// one batch (`POST …/wage-arrears/runs`); for comparison in the same
    /// run, single calls of the same rules (`POST …/evaluate`) for
    /// `--single-seconds`.
    #[command(after_help = "Example:\n  \
        civitas-load wage-arrears --projects 100000 --month 2026-11")]
    WageArrears(WageArrearsArgs),
    /// 免申即享 at scale: `--residents` population records written straight into the embedded
    /// (SQLite) database of a demo server (ids `fill-…`; their residents' sealed fields are
    /// placeholders the run does not read), then `civitas entitlements run` timed on it; for
    /// comparison in the same run, single calls of the same rule over HTTP for
    /// `--single-seconds`.
    #[command(after_help = "Example:\n  \
        civitas-load population --data-dir /tmp/bench-data --residents 1000000")]
    Population(PopulationArgs),
    /// Grows the case tables of a PostgreSQL database to `--to` cases by
    /// copying the cases already there (ids prefixed `fill-`), with their
    /// tasks, history and timers. Copies are not indexed for search and
    /// not counted in the dashboards; audit chains are left alone. Needs
    /// the database's owner (it copies past row-level security and
    /// triggers).
    #[command(after_help = "Example:\n  \
        civitas-load fill --database-url 'postgres://postgres@127.0.0.1/civitas' --to 1000000")]
    Fill(FillArgs),
    /// An export as a user downloads it (`GET …/export`), read as it
    /// streams, with the server's resident memory before it and its peak
    /// during it (`/proc/PID`; the peak reset first through `clear_refs`,
    /// so run it as the server's user or root); then, for comparison in
    /// the same run, the same rows read page by page from the list route
    /// as JSON.
    #[command(after_help = "Example:\n  \
        civitas-load export --server-pid 4242 --username city-admin \\\n    \
        --list '/api/v1/tenants/310000/cases?service=civil-affairs/meal-subsidy' --key cases")]
    Export(ExportArgs),
    /// How soon a change on one node is in force on the others: a grant
    /// revoked on `--url` and made again, `--rounds` times, each timed from
    /// sending the change until every `--watch` node answers the grant's
    /// holder accordingly (403, then 200 again), polling as fast as it
    /// answers.
    #[command(after_help = "Example:\n  \
        civitas-load invalidation --url http://127.0.0.1:8081 \\\n    \
        --watch http://127.0.0.1:8082 --watch http://127.0.0.1:8083 --rounds 100")]
    Invalidation(InvalidationArgs),
    /// Users of every kind at once, spread over the nodes given: a third
    /// the public (the portal's pages, the service catalog), a third
    /// citizens (each a person of their own: registered with a generated
    /// resident id number and verified by Lujiazui's officer before the
    /// measured window, then applying for the meal subsidy at the demo
    /// streets and reading their messages), a third officers (the inbox, approving the cases the
    /// citizens filed — each case once —, search, eligibility checks). Each
    /// user signs in once (renewing the access token with the refresh
    /// token every `--renew-after-secs`, as a browser does), then acts one request
    /// after another (with `--think-ms` between). Reports each operation's throughput,
    /// p50/p95/p99 and failures.
    #[command(after_help = "Examples:\n  \
        civitas-load mix --url http://127.0.0.1:8080 --users 200 --seconds 120\n  \
        civitas-load mix --url http://127.0.0.1:18091 --url http://127.0.0.1:18092 --users 1000 --json")]
    Mix(MixArgs),
}

#[derive(clap::Args)]
struct MixArgs {
    /// A node's address; repeat for more (users go round them).
    #[arg(long, required = true)]
    url: Vec<String>,
    /// Concurrent users.
    #[arg(long, default_value_t = 200, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(3..))]
    users: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seconds of work before measuring (sign-ins, warm caches).
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// Milliseconds a user waits between two requests, on average: each
    /// wait is drawn uniformly from half to one and a half times it (as
    /// Locust's `between`), so users who started together do not keep
    /// arriving together.
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
    /// Seconds after which a user renews its access token (the server's
    /// tokens last 5 minutes by default).
    #[arg(long, default_value_t = 240)]
    renew_after_secs: u64,
    /// The demo password.
    #[arg(long, env = "CIVITAS_LOAD_PASSWORD", default_value = "Civitas#2026")]
    password: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct InvalidationArgs {
    /// The node the changes are made on.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A node that must learn of them; repeat for more.
    #[arg(long, required = true)]
    watch: Vec<String>,
    /// Who revokes and grants (`grant.manage` at the place).
    #[arg(long, default_value = "sec-admin")]
    admin: String,
    /// Whose grant it is.
    #[arg(long, default_value = "lujiazui-officer")]
    holder: String,
    /// The place of the grant (code path).
    #[arg(long, default_value = "310000/310115/310115005")]
    tenant: String,
    /// The grant's line.
    #[arg(long, default_value = "civil-affairs")]
    line: String,
    /// The grant's role.
    #[arg(long, default_value = "officer")]
    role: String,
    /// The demo password of both.
    #[arg(long, env = "CIVITAS_LOAD_PASSWORD", default_value = "Civitas#2026")]
    password: String,
    /// Revocations (each followed by the grant made again).
    #[arg(long, default_value_t = 100, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    rounds: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ExportArgs {
    /// The platform's address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Who exports.
    #[arg(long, default_value = "city-admin")]
    username: String,
    /// Their password.
    #[arg(long, env = "CIVITAS_LOAD_PASSWORD", default_value = "Civitas#2026")]
    password: String,
    /// The list route with its filters; the export is its `/export`
    /// sibling with the same filters.
    #[arg(long)]
    list: String,
    /// The list answer's array of rows.
    #[arg(long, default_value = "cases")]
    key: String,
    /// The server's process id, whose memory is read.
    #[arg(long)]
    server_pid: u32,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct SubmitArgs {
    /// The platform's address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The citizen who files.
    #[arg(long, default_value = "citizen-demo")]
    username: String,
    /// Their password.
    #[arg(long, env = "CIVITAS_LOAD_PASSWORD", default_value = "Civitas#2026")]
    password: String,
    /// A place that takes the application (slug or code path); repeat for
    /// more [default: the ten demo streets].
    #[arg(long = "at", value_name = "PATH")]
    places: Vec<String>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 16, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    connections: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Seconds sent before measuring (connections opened, caches warm).
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct WageArrearsArgs {
    /// The platform's address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A staff member with `monitoring.import` and `warning.run` in
    /// hr-social-security at the city.
    #[arg(long, default_value = "city-hr-dispatcher")]
    username: String,
    /// Their password.
    #[arg(long, env = "CIVITAS_LOAD_PASSWORD", default_value = "Civitas#2026")]
    password: String,
    /// Project-months in all.
    #[arg(long, default_value_t = 100_000)]
    projects: usize,
    /// Rows per imported file (the API takes at most 50,000).
    #[arg(long, default_value_t = 50_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=50_000))]
    per_file: usize,
    /// The month, YYYY-MM.
    #[arg(long, default_value = "2026-11")]
    month: String,
    /// Seconds of single calls for comparison (0: none).
    #[arg(long, default_value_t = 5)]
    single_seconds: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct PopulationArgs {
    /// The demo server's data directory (its database is <DIR>/civitas.db).
    #[arg(long, value_name = "DIR")]
    data_dir: std::path::PathBuf,
    /// Population records to write.
    #[arg(long, default_value_t = 1_000_000)]
    residents: usize,
    /// The civitas binary that runs the nightly run.
    #[arg(long, default_value = "target/release/civitas")]
    civitas: std::path::PathBuf,
    /// The running server, for the single calls.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A Lujiazui officer's password (lujiazui-officer).
    #[arg(long, env = "CIVITAS_LOAD_PASSWORD", default_value = "Civitas#2026")]
    password: String,
    /// Seconds of single calls for comparison (0: none).
    #[arg(long, default_value_t = 5)]
    single_seconds: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct BatchArgs {
    /// The platform's address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A staff member with `service.evaluate` at the place.
    #[arg(long, default_value = "lujiazui-officer")]
    username: String,
    /// Their password.
    #[arg(long, env = "CIVITAS_LOAD_PASSWORD", default_value = "Civitas#2026")]
    password: String,
    /// The place whose binding answers (slug or code path).
    #[arg(long = "at", default_value = "shanghai/pudong/lujiazui")]
    place: String,
    /// Inputs in all.
    #[arg(long, default_value_t = 100_000)]
    inputs: usize,
    /// Inputs per request (the API takes at most 5,000).
    #[arg(long, default_value_t = 5_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    per_request: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 2, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    connections: usize,
    /// Seconds of single calls, the same inputs one per request, for
    /// comparison (0: none).
    #[arg(long, default_value_t = 5)]
    single_seconds: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct FillArgs {
    /// The PostgreSQL database (URL with `options=-c search_path=…` for a
    /// schema), as its owner.
    #[arg(long, env = "CIVITAS_DATABASE_URL")]
    database_url: String,
    /// Cases wanted in all.
    #[arg(long)]
    to: u64,
    /// Print what was done as JSON.
    #[arg(long)]
    json: bool,
}

/// A meal-subsidy application the demo's modules find eligible.
fn application() -> serde_json::Value {
    serde_json::json!({
        "service": "civil-affairs/meal-subsidy",
        "data": {
            "birth_date": "1944-03-02",
            "household_registration": "local",
            "living_alone": true,
            "disability_grade": 0,
            "economic_status": "none"
        }
    })
}

async fn sign_in(
    client: &reqwest::Client,
    url: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<String> {
    let answer = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .with_context(|| format!("sign in at {url}"))?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.context("sign-in answer")?;
    match body.get("access_token").and_then(|t| t.as_str()) {
        Some(token) if status.is_success() => Ok(token.to_owned()),
        _ => bail!("sign-in refused ({status}): {body}"),
    }
}

/// One connection's results: latencies of the successes measured, and the
/// failures by status.
type Tally = (Vec<Duration>, BTreeMap<String, usize>);

/// What one request of a run is: its URL and JSON body, by request number.
type Request = Arc<dyn Fn(usize) -> (String, serde_json::Value) + Send + Sync>;

/// Sends requests from `connections` connections, one after another on
/// each, until `warmup + seconds` have passed; measures those sent after the
/// warm-up. Success is the status `expected`, and the whole answer read.
async fn run(
    client: &reqwest::Client,
    token: &str,
    connections: usize,
    warmup: u64,
    seconds: u64,
    expected: reqwest::StatusCode,
    request: Request,
) -> anyhow::Result<Report> {
    let measure_from = Instant::now() + Duration::from_secs(warmup);
    let end = measure_from + Duration::from_secs(seconds);
    let mut workers = Vec::with_capacity(connections);
    for worker in 0..connections {
        let (client, token, request) = (client.clone(), token.to_owned(), request.clone());
        workers.push(tokio::spawn(async move {
            let mut tally: Tally = (Vec::new(), BTreeMap::new());
            let mut n = worker;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let (url, body) = request(n);
                n += connections;
                let answer = client
                    .post(url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await;
                let outcome = match answer {
                    // The whole answer is read: the client pays for it.
                    Ok(answer) if answer.status() == expected => answer
                        .bytes()
                        .await
                        .map(|_| ())
                        .map_err(|_| "error".to_owned()),
                    Ok(answer) => Err(answer.status().as_u16().to_string()),
                    Err(_) => Err("error".to_owned()),
                };
                if sent < measure_from {
                    continue;
                }
                match outcome {
                    Ok(()) => tally.0.push(sent.elapsed()),
                    Err(status) => *tally.1.entry(status).or_default() += 1,
                }
            }
            tally
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = BTreeMap::new();
    for worker in workers {
        let (ok, bad) = worker.await?;
        latencies.extend(ok);
        for (status, n) in bad {
            *failed.entry(status).or_default() += n;
        }
    }
    // Requests in flight at the end finish late; the window is what was
    // measured.
    let window = Instant::now().min(end + Duration::from_secs(30)) - measure_from;
    Ok(Report::new(connections, window, latencies, failed))
}

async fn submit(args: SubmitArgs) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    let token = sign_in(&client, &args.url, &args.username, &args.password).await?;
    let places: Vec<String> = if args.places.is_empty() {
        DEMO_STREETS.iter().map(|p| (*p).to_owned()).collect()
    } else {
        args.places.clone()
    };
    let urls: Vec<String> = places
        .iter()
        .map(|p| format!("{}/api/v1/tenants/{p}/cases", args.url))
        .collect();
    let body = application();
    let request: Request = Arc::new(move |n| (urls[n % urls.len()].clone(), body.clone()));
    run(
        &client,
        &token,
        args.connections,
        args.warmup,
        args.seconds,
        reqwest::StatusCode::CREATED,
        request,
    )
    .await
}

/// The `i`-th input of a batch run: ages, living alone and hardship vary,
/// so the module's answers do too.
fn batch_input(i: usize) -> serde_json::Value {
    serde_json::json!({
        "birth_date": format!("19{:02}-03-02", 30 + i % 50),
        "household_registration": "local",
        "living_alone": i.is_multiple_of(3),
        "disability_grade": i % 5,
        "economic_status": if i.is_multiple_of(7) { "low-income" } else { "none" }
    })
}

async fn batch(args: BatchArgs) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let token = sign_in(&client, &args.url, &args.username, &args.password).await?;
    let base = format!(
        "{}/api/v1/tenants/{}/services/civil-affairs/meal-subsidy",
        args.url, args.place
    );
    let bodies: Vec<serde_json::Value> = (0..args.inputs)
        .step_by(args.per_request)
        .map(|start| {
            let inputs: Vec<_> = (start..(start + args.per_request).min(args.inputs))
                .map(batch_input)
                .collect();
            serde_json::json!({"inputs": inputs})
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (client, token, bodies, next) =
            (client.clone(), token.clone(), bodies.clone(), next.clone());
        let url = format!("{base}/evaluate-batch");
        workers.push(tokio::spawn(async move {
            let mut tally = (0usize, 0usize, Vec::new());
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let sent = Instant::now();
                let answer = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(body)
                    .send()
                    .await?;
                let status = answer.status();
                let reply: serde_json::Value = answer.json().await?;
                if !status.is_success() {
                    bail!("batch refused ({status}): {reply}");
                }
                tally.0 += reply["answered"].as_u64().unwrap_or(0) as usize;
                tally.1 += reply["failed"].as_u64().unwrap_or(0) as usize;
                tally.2.push(sent.elapsed());
            }
            Ok::<_, anyhow::Error>(tally)
        }));
    }
    let (mut answered, mut failed, mut latencies) = (0, 0, Vec::new());
    for worker in workers {
        let (a, f, l) = worker.await??;
        answered += a;
        failed += f;
        latencies.extend(l);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let mut report = serde_json::json!({
        "inputs": args.inputs,
        "answered": answered,
        "failed": failed,
        "seconds": (elapsed.as_secs_f64() * 100.0).round() / 100.0,
        "inputs_per_second": (answered as f64 / elapsed.as_secs_f64()).round(),
        "request_p50_ms": civitas_load::percentile(&latencies, 0.5).as_millis() as u64,
        "request_p99_ms": civitas_load::percentile(&latencies, 0.99).as_millis() as u64,
    });
    if args.single_seconds > 0 {
        let url = format!("{base}/evaluate");
        let request: Request =
            Arc::new(move |n| (url.clone(), serde_json::json!({"input": batch_input(n)})));
        let single = run(
            &client,
            &token,
            args.connections.max(16),
            0,
            args.single_seconds,
            reqwest::StatusCode::OK,
            request,
        )
        .await?;
        report["single_calls"] = serde_json::to_value(&single)?;
        if single.per_second > 0.0 {
            let ratio = report["inputs_per_second"].as_f64().unwrap_or(0.0) / single.per_second;
            report["batch_over_single"] = serde_json::json!((ratio * 10.0).round() / 10.0);
        }
    }
    Ok(report)
}

/// Where the generated projects are: Pudong's variant at the district
/// and at a street, the city's rules at Huangpu and Xuhui.
const PROJECT_PLACES: &[&str] = &["310115", "310115005", "310101", "310104"];

/// The `i`-th generated project-month as a CSV row: about one in twenty
/// goes unpaid long enough to warn somewhere; attendance, deposits and
/// stopped sites vary.
fn project_row(i: usize, month: &str) -> String {
    let place = PROJECT_PLACES[i % PROJECT_PLACES.len()];
    let status = if i.is_multiple_of(11) {
        "停工"
    } else {
        "在建"
    };
    let last_paid = match i % 20 {
        0 => "2026-08-20",
        1 => "2026-10-10",
        _ => "2026-11-14",
    };
    let headcount = 50 + i % 400;
    let attended = if i.is_multiple_of(37) {
        headcount / 20
    } else {
        headcount * 9 / 10
    };
    format!(
        "LD-{month}-{i:06},负载测试项目{i},{place},工程建设,{status},{month},2026-0{}-01,{headcount},{attended},是,{},{},{last_paid}",
        1 + i % 6,
        100_000 + i % 900_000,
        if i % 20 < 2 { 0 } else { 90_000 + i % 800_000 },
    )
}

async fn wage_arrears(args: WageArrearsArgs) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1800))
        .build()?;
    let token = sign_in(&client, &args.url, &args.username, &args.password).await?;
    let base = format!("{}/api/v1/tenants/shanghai", args.url);
    let header = "项目编号,项目名称,所属区划,项目类型,项目状态,数据月份,实际开工日期,在职人数,考勤人数,工资专户,人工费拨入（元）,代发工资（元）,最近代发工资日期";
    let started = Instant::now();
    let mut stored = 0u64;
    for start in (0..args.projects).step_by(args.per_file) {
        let mut file = String::from(header);
        for i in start..(start + args.per_file).min(args.projects) {
            file.push('\n');
            file.push_str(&project_row(i, &args.month));
        }
        let answer = client
            .post(format!("{base}/wage-arrears/project-months"))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(file)
            .send()
            .await?;
        let status = answer.status();
        let reply: serde_json::Value = answer.json().await?;
        if !status.is_success() {
            bail!("import refused ({status}): {reply}");
        }
        stored += reply["stored"].as_u64().unwrap_or(0);
    }
    let imported = started.elapsed();
    let started = Instant::now();
    let answer = client
        .post(format!("{base}/wage-arrears/runs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"month": args.month}))
        .send()
        .await?;
    let status = answer.status();
    let outcome: serde_json::Value = answer.json().await?;
    if !status.is_success() {
        bail!("run refused ({status}): {outcome}");
    }
    let ran = started.elapsed();
    let projects = outcome["projects"].as_u64().unwrap_or(0);
    let evaluation = outcome["evaluation_micros"].as_u64().unwrap_or(0) as f64 / 1e6;
    let mut report = serde_json::json!({
        "projects": projects,
        "stored": stored,
        "import_seconds": (imported.as_secs_f64() * 100.0).round() / 100.0,
        "run_seconds": (ran.as_secs_f64() * 100.0).round() / 100.0,
        "evaluation_seconds": (evaluation * 100.0).round() / 100.0,
        "evaluated_per_second": if evaluation > 0.0 { (projects as f64 / evaluation).round() } else { 0.0 },
        "warned": outcome["warned"],
        "opened": outcome["opened"].as_array().map_or(0, Vec::len),
        "already_filed": outcome["already_filed"],
        "failures": outcome["failures"].as_array().map_or(0, Vec::len),
    });
    if args.single_seconds > 0 {
        let url =
            format!("{base}/pudong/services/hr-social-security/wage-arrears-warning/evaluate");
        let month = args.month.clone();
        let request: Request = Arc::new(move |n| {
            let row = project_row(n, &month);
            let cells: Vec<&str> = row.split(',').collect();
            let number = |i: usize| {
                cells
                    .get(i)
                    .and_then(|c| c.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            let input = serde_json::json!({
                "project_code": cells[0], "project_name": cells[1], "place": cells[2],
                "project_type": "construction",
                "status": if cells[4] == "停工" { "stopped" } else { "in-progress" },
                "month": cells[5], "actual_start_on": cells[6], "headcount": number(7),
                "attended": number(8), "wage_account_open": true,
                "labour_cost_in_yuan": number(10), "wages_paid_yuan": number(11),
                "last_wages_paid_on": cells[12],
            });
            (url.clone(), serde_json::json!({"input": input}))
        });
        let single = run(
            &client,
            &token,
            16,
            0,
            args.single_seconds,
            reqwest::StatusCode::OK,
            request,
        )
        .await?;
        report["single_calls"] = serde_json::to_value(&single)?;
        if single.per_second > 0.0 {
            let ratio = report["evaluated_per_second"].as_f64().unwrap_or(0.0) / single.per_second;
            report["batch_over_single"] = serde_json::json!((ratio * 10.0).round() / 10.0);
        }
    }
    Ok(report)
}

/// The `i`-th generated resident: a place, a date of birth, a disability
/// grade. Born 21–80 calendar years ago on a day of the year that varies
/// (so some have turned 80 earlier this year), one in a thousand exactly
/// 80 today; one in a thousand with a severe disability, the others with
/// none or a light one.
fn generated_resident(i: usize, today: chrono::NaiveDate) -> (&'static str, String, i64) {
    use chrono::Datelike;
    let place = DEMO_STREET_CODES[i % DEMO_STREET_CODES.len()];
    let year = today.year();
    let birth = match today.with_year(year - 80) {
        Some(eighty) if i % 1000 == 7 => eighty.to_string(),
        _ => {
            let age = 20 + (i % 60) as i32;
            format!("{:04}-{:02}-{:02}", year - age - 1, 1 + i % 12, 1 + i % 28)
        }
    };
    // Grades 0, 3 and 4 are no severe disability.
    let grade = if i % 1000 == 500 { 1 } else { [0, 3, 4][i % 3] };
    (place, birth, grade)
}

/// The demo streets by code path (the population records' tenants).
const DEMO_STREET_CODES: &[&str] = &[
    "310000/310101/310101002",
    "310000/310101/310101013",
    "310000/310104/310104003",
    "310000/310104/310104014",
    "310000/310115/310115004",
    "310000/310115/310115005",
    "310000/310115/310115016",
    "310000/310115/310115125",
];

async fn population(args: PopulationArgs) -> anyhow::Result<serde_json::Value> {
    use sqlx::SqliteConnection;
    let database = args.data_dir.join("civitas.db");
    let mut conn = SqliteConnection::connect(&format!("sqlite:{}", database.display()))
        .await
        .with_context(|| format!("open {}", database.display()))?;
    let now = chrono::Utc::now().timestamp_micros();
    // Today in China Standard Time.
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new(args.residents as u64);
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    sqlx::query("DELETE FROM population_records WHERE resident_id LIKE 'fill-%'")
        .execute(&mut conn)
        .await?;
    const CHUNK: usize = 2_000;
    for start in (0..args.residents).step_by(CHUNK) {
        let end = (start + CHUNK).min(args.residents);
        let mut tx = conn.begin().await?;
        for i in start..end {
            let (place, birth, grade) = generated_resident(i, today);
            let id = format!("fill-{i:07}");
            sqlx::query(
                "INSERT OR IGNORE INTO residents (id, tenant_path, name, key_version, id_number, id_number_index, created_at, updated_at) \
                 VALUES ($1, $2, '负载居民', 1, 'fill', $1, $3, $3)",
            )
            .bind(&id)
            .bind(place)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO population_records (resident_id, tenant_path, birth_date, household, disability_grade, deceased, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'civitas-load', $7)",
            )
            .bind(&id)
            .bind(place)
            .bind(&birth)
            .bind(if i % 10 == 3 { "non-local" } else { "local" })
            .bind(grade)
            .bind(i % 997 == 0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        bar.set_position(end as u64);
    }
    bar.finish_and_clear();
    let written = started.elapsed();
    drop(conn);

    let started = Instant::now();
    let (civitas, data_dir) = (args.civitas.clone(), args.data_dir.clone());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&civitas)
            .args(["entitlements", "--data-dir"])
            .arg(&data_dir)
            .args(["run", "--json"])
            .output()
    })
    .await?
    .with_context(|| format!("run {}", args.civitas.display()))?;
    let ran = started.elapsed();
    if !output.status.success() {
        bail!(
            "civitas entitlements run failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let reports: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let shanghai = reports
        .as_array()
        .and_then(|r| r.iter().find(|r| r["tenant"] == "310000"))
        .map(|r| r["report"].clone())
        .unwrap_or_default();
    let evaluation = shanghai["evaluation_micros"].as_u64().unwrap_or(0) as f64 / 1e6;
    let evaluated = shanghai["evaluated"].as_u64().unwrap_or(0);
    let mut report = serde_json::json!({
        "residents": args.residents,
        "write_seconds": (written.as_secs_f64() * 100.0).round() / 100.0,
        "run_seconds": (ran.as_secs_f64() * 100.0).round() / 100.0,
        "evaluated": evaluated,
        "evaluation_seconds": (evaluation * 100.0).round() / 100.0,
        "evaluated_per_second": if evaluation > 0.0 { (evaluated as f64 / evaluation).round() } else { 0.0 },
        "eligible": shanghai["eligible"],
        "filed": shanghai["filed"],
        "filed_before": shanghai["filed_before"],
        "failed": shanghai["failed"],
    });
    if args.single_seconds > 0 {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let token = sign_in(&client, &args.url, "lujiazui-officer", &args.password).await?;
        let url = format!(
            "{}/api/v1/tenants/shanghai/pudong/lujiazui/services/civil-affairs/care-subsidy/evaluate",
            args.url
        );
        let request: Request = Arc::new(move |n| {
            let (_, birth, grade) = generated_resident(n, today);
            (
                url.clone(),
                serde_json::json!({"input": {
                "resident_id": format!("fill-{n:07}"), "birth_date": birth, "household": "local",
                "disability_grade": grade, "deceased": false, "receiving": false}}),
            )
        });
        let single = run(
            &client,
            &token,
            16,
            0,
            args.single_seconds,
            reqwest::StatusCode::OK,
            request,
        )
        .await?;
        report["single_calls"] = serde_json::to_value(&single)?;
        if single.per_second > 0.0 {
            let ratio = report["evaluated_per_second"].as_f64().unwrap_or(0.0) / single.per_second;
            report["batch_over_single"] = serde_json::json!((ratio * 10.0).round() / 10.0);
        }
    }
    Ok(report)
}

/// The same run's single calls, when it made any, and the ratio.
fn print_single_calls(report: &serde_json::Value) {
    if let Some(single) = report.get("single_calls") {
        println!(
            "single calls, {} connections: {}/s (p50 {} ms, p99 {} ms); batch / single {}",
            single["connections"],
            single["per_second"],
            single["p50_ms"],
            single["p99_ms"],
            report["batch_over_single"]
        );
    }
}

async fn count_cases(conn: &mut PgConnection) -> anyhow::Result<(i64, i64)> {
    let (all, real): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), count(*) FILTER (WHERE id NOT LIKE '{FILL_PREFIX}%') FROM cases"
    )))
    .fetch_one(&mut *conn)
    .await?;
    Ok((all, real))
}

async fn fill(args: FillArgs) -> anyhow::Result<serde_json::Value> {
    let mut conn = PgConnection::connect(&args.database_url)
        .await
        .context("connect to the database")?;
    let (mut cases, templates) = count_cases(&mut conn).await?;
    if templates == 0 {
        bail!("no cases to copy: file some first (civitas-load submit)");
    }
    let mut columns = Vec::new();
    for (table, _) in CASE_TABLES {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(*table)
        .fetch_all(&mut conn)
        .await?;
        if names.is_empty() {
            bail!("no table {table} in the database's current schema");
        }
        columns.push(names);
    }
    let wanted = args.to;
    let start_cases = cases;
    let bar = indicatif::ProgressBar::new(wanted.saturating_sub(cases as u64));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} cases copied ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // The round a copy belongs to is in its id; start after the last one.
    let mut round: u64 = sqlx::query_scalar::<_, Option<i64>>(sqlx::AssertSqlSafe(format!(
        "SELECT max(split_part(id, '-', 2)::bigint) FROM cases WHERE id LIKE '{FILL_PREFIX}%'"
    )))
    .fetch_one(&mut conn)
    .await?
    .unwrap_or(0) as u64;
    let started = Instant::now();
    while (cases as u64) < wanted {
        round += 1;
        let mut tx = conn.begin().await?;
        // Copies skip the triggers (search outbox; the foreign keys they
        // copy hold already): the owner's session setting, this
        // transaction only.
        sqlx::query("SET LOCAL session_replication_role = replica")
            .execute(&mut *tx)
            .await
            .context("the filler needs the database owner (session_replication_role)")?;
        for ((table, id_columns), names) in CASE_TABLES.iter().zip(&columns) {
            let sql = copy_statement(table, names, id_columns, round);
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .with_context(|| format!("copy {table}"))?;
        }
        tx.commit().await?;
        cases += templates;
        bar.set_position((cases - start_cases) as u64);
    }
    bar.finish_and_clear();
    Ok(serde_json::json!({
        "cases": cases,
        "copied": cases - start_cases,
        "templates": templates,
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    }))
}

/// A line of `/proc/PID/status` (`VmRSS`, `VmHWM`) in KiB.
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Resets the process's peak resident memory to its current one.
fn reset_peak(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("resetting the peak of {pid} (/proc/{pid}/clear_refs)"))
}

/// The server's memory around `work`: (before, peak during) in KiB.
async fn measured<T>(
    pid: u32,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, u64, u64)> {
    reset_peak(pid)?;
    let before = status_kib(pid, "VmRSS")?;
    let result = work.await?;
    let peak = status_kib(pid, "VmHWM")?;
    Ok((result, before, peak))
}

async fn export(args: ExportArgs) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::new();
    let token = sign_in(&client, &args.url, &args.username, &args.password).await?;
    let (path, query) = args.list.split_once('?').unwrap_or((&args.list, ""));
    let export_uri = format!("{}{path}/export?{query}", args.url);
    // The export: its answer read chunk by chunk, as a browser saves it.
    let started = Instant::now();
    let ((rows, bytes), before, peak) = measured(args.server_pid, async {
        let mut answer = client
            .get(&export_uri)
            .bearer_auth(&token)
            .send()
            .await
            .context("export request")?;
        if !answer.status().is_success() {
            bail!(
                "export refused: {} {}",
                answer.status(),
                answer.text().await.unwrap_or_default()
            );
        }
        let rows: u64 = answer
            .headers()
            .get("x-export-rows")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .context("no x-export-rows header")?;
        let mut bytes = 0u64;
        while let Some(chunk) = answer.chunk().await.context("export body")? {
            bytes += chunk.len() as u64;
        }
        Ok((rows, bytes))
    })
    .await?;
    let export_seconds = started.elapsed().as_secs_f64();
    // The same rows as the list gives them, page after page.
    let started = Instant::now();
    let ((listed, list_bytes), list_before, list_peak) = measured(args.server_pid, async {
        let (mut listed, mut bytes, mut after) = (0u64, 0u64, None::<String>);
        loop {
            let sep = if query.is_empty() { "" } else { "&" };
            let uri = match &after {
                Some(a) => format!("{}{path}?{query}{sep}limit=200&after={a}", args.url),
                None => format!("{}{path}?{query}{sep}limit=200", args.url),
            };
            let answer = client
                .get(&uri)
                .bearer_auth(&token)
                .send()
                .await
                .context("list request")?;
            if !answer.status().is_success() {
                bail!("list refused: {}", answer.status());
            }
            let body = answer.bytes().await.context("list body")?;
            bytes += body.len() as u64;
            let page: serde_json::Value = serde_json::from_slice(&body).context("list page")?;
            listed += page[&args.key].as_array().map_or(0, |a| a.len() as u64);
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return Ok((listed, bytes)),
            }
        }
    })
    .await?;
    let list_seconds = started.elapsed().as_secs_f64();
    if listed != rows {
        bail!("the export has {rows} rows where the list has {listed}");
    }
    let mib = |kib: u64| (kib as f64 / 1024.0 * 10.0).round() / 10.0;
    Ok(serde_json::json!({
        "rows": rows,
        "export": {
            "seconds": (export_seconds * 100.0).round() / 100.0,
            "rows_per_second": (rows as f64 / export_seconds).round(),
            "bytes": bytes,
            "server_rss_before_mib": mib(before),
            "server_peak_mib": mib(peak),
            "server_growth_mib": mib(peak.saturating_sub(before)),
        },
        "list_pages": {
            "seconds": (list_seconds * 100.0).round() / 100.0,
            "rows_per_second": (listed as f64 / list_seconds).round(),
            "bytes": list_bytes,
            "server_rss_before_mib": mib(list_before),
            "server_peak_mib": mib(list_peak),
            "server_growth_mib": mib(list_peak.saturating_sub(list_before)),
        },
    }))
}

/// Polls `url` as `token` until it answers `status`, as fast as it
/// answers; the time since `since`. Gives up after 30 s.
async fn until_status(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    status: u16,
    since: Instant,
) -> anyhow::Result<Duration> {
    loop {
        let answer = client.get(url).bearer_auth(token).send().await?;
        let got = answer.status().as_u16();
        answer.bytes().await?;
        if got == status {
            return Ok(since.elapsed());
        }
        if since.elapsed() > Duration::from_secs(30) {
            bail!("{url} still answers {got}, not {status}, 30 s after the change");
        }
    }
}

async fn invalidation(args: InvalidationArgs) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .build()?;
    let admin = sign_in(&client, &args.url, &args.admin, &args.password).await?;
    let holder = sign_in(&client, &args.url, &args.holder, &args.password).await?;
    let tenant = &args.tenant;
    let grant = format!(
        "{}/api/v1/tenants/{tenant}/grants/{}/{}/{}",
        args.url, args.holder, args.line, args.role
    );
    let grants = format!("{}/api/v1/tenants/{tenant}/grants", args.url);
    let probes: Vec<String> = args
        .watch
        .iter()
        .map(|node| format!("{node}/api/v1/tenants/{tenant}/cases?limit=1"))
        .collect();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); probes.len()];
    for _ in 0..args.rounds {
        for (revoke, expected) in [(true, 403), (false, 200)] {
            let sent = Instant::now();
            let answer = if revoke {
                client.delete(&grant).bearer_auth(&admin).send().await?
            } else {
                client
                    .post(&grants)
                    .bearer_auth(&admin)
                    .json(&serde_json::json!({
                        "account": args.holder, "line": args.line, "role": args.role
                    }))
                    .send()
                    .await?
            };
            let status = answer.status();
            let body = answer.text().await?;
            if !status.is_success() {
                bail!("the change was refused ({status}): {body}");
            }
            let mut watchers = Vec::new();
            for probe in &probes {
                let (client, probe, holder) = (client.clone(), probe.clone(), holder.clone());
                watchers.push(tokio::spawn(async move {
                    until_status(&client, &probe, &holder, expected, sent).await
                }));
            }
            for (n, watcher) in watchers.into_iter().enumerate() {
                samples[n].push(watcher.await??);
            }
        }
    }
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let nodes: Vec<serde_json::Value> = args
        .watch
        .iter()
        .zip(samples)
        .map(|(node, mut took)| {
            took.sort_unstable();
            serde_json::json!({
                "node": node,
                "changes": took.len(),
                "p50_ms": ms(civitas_load::percentile(&took, 0.50)),
                "p99_ms": ms(civitas_load::percentile(&took, 0.99)),
                "max_ms": ms(took.last().copied().unwrap_or_default()),
            })
        })
        .collect();
    Ok(serde_json::json!({"changed_on": args.url, "nodes": nodes}))
}

/// What a user of `mix` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Register,
    SignIn,
    Refresh,
    Portal,
    Guide,
    Catalog,
    Apply,
    Messages,
    Inbox,
    Approve,
    Search,
    Evaluate,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Register => "register and verify (once per citizen)",
            Op::SignIn => "sign-in",
            Op::Refresh => "token refresh",
            Op::Portal => "portal page",
            Op::Guide => "service guide page",
            Op::Catalog => "service catalog",
            Op::Apply => "apply",
            Op::Messages => "my messages",
            Op::Inbox => "inbox",
            Op::Approve => "approve",
            Op::Search => "search",
            Op::Evaluate => "evaluate",
        }
    }
}

/// The streets citizens apply at in `mix`, and the district (0 Pudong,
/// 1 Huangpu) whose reviewer approves there.
const MIX_STREETS: &[(&str, usize)] = &[
    ("shanghai/pudong/weifang-xincun", 0),
    ("shanghai/pudong/lujiazui", 0),
    ("shanghai/pudong/huamu", 0),
    ("shanghai/pudong/zhangjiang", 0),
    ("shanghai/huangpu/nanjing-dong-lu", 1),
    ("shanghai/huangpu/waitan", 1),
    ("shanghai/huangpu/yuyuan", 1),
];

/// Each district's reviewer (a reviewer acts at the street's step too),
/// the district's path and a street to evaluate at.
const MIX_DISTRICTS: [(&str, &str, &str); 2] = [
    (
        "pudong-reviewer",
        "shanghai/pudong",
        "shanghai/pudong/lujiazui",
    ),
    (
        "huangpu-reviewer",
        "shanghai/huangpu",
        "shanghai/huangpu/waitan",
    ),
];

/// What the users of one `mix` run share.
struct MixShared {
    client: reqwest::Client,
    urls: Vec<String>,
    password: String,
    /// Filed cases waiting for their next approval, per district: the id
    /// and how many approvals it has had.
    queues: [std::sync::Mutex<std::collections::VecDeque<(String, u8)>>; 2],
    measure_from: Instant,
    end: Instant,
    think: Duration,
    /// When a user renews its access token.
    renew_after: Duration,
    /// One sign-in at a time per officer account: the demo has two
    /// reviewers for many users, and sign-ins of one name at once count as
    /// attempts against its lockout before their passwords are checked.
    signing_in: [tokio::sync::Mutex<()>; 2],
    /// The street officer who verifies each citizen's identity at the
    /// counter (an unverified account may not apply).
    verifier: String,
}

/// The street citizens register at (and are verified at, by its officer).
const MIX_HOME: &str = "shanghai/pudong/lujiazui";

/// The node user `n` is sent to among `nodes`: the users of each kind
/// (the role is `n % 3`) in turn, so every node serves every kind alike
/// (`n % nodes` sent every citizen to one of three nodes).
fn node_of(n: usize, nodes: usize) -> usize {
    (n / 3) % nodes.max(1)
}

/// A think time of mean `mean`, uniform from half to one and a half of it.
fn think_time(mean: Duration, draws: &mut fastrand::Rng) -> Duration {
    mean.mul_f64(0.5 + draws.f64())
}

/// A resident id number (GB 11643) for the `n`th simulated citizen:
/// Pudong, born 1944-03-02 like the application says, sequence `n`, the
/// check character computed — so every citizen is a person of their own.
fn citizen_id_number(n: usize) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    // 1,000 sequence numbers a day; further citizens are born a day later.
    let body = format!("310115194403{:02}{:03}", 2 + n / 1000, n % 1000);
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    format!("{body}{}", char::from(CHECK[(sum % 11) as usize]))
}

/// A signed-in user's tokens: the access token, when it was issued, and
/// the refresh token that renews it (each renewal gives a new one).
struct Tokens {
    access: String,
    issued: Instant,
    refresh: String,
}

/// The tokens `body` posted to `path` at `url` from `address` answers
/// (a sign-in or a refresh), or the status (or `error`) it failed with.
async fn post_for_tokens(
    client: &reqwest::Client,
    url: &str,
    path: &str,
    address: &str,
    body: serde_json::Value,
) -> Result<Tokens, String> {
    let answer = client
        .post(format!("{url}{path}"))
        .header("x-forwarded-for", address)
        .json(&body)
        .send()
        .await;
    match answer {
        Ok(answer) if answer.status().is_success() => answer
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|body| {
                Some(Tokens {
                    access: body["access_token"].as_str()?.to_owned(),
                    issued: Instant::now(),
                    refresh: body["refresh_token"].as_str()?.to_owned(),
                })
            })
            .ok_or_else(|| "error".to_owned()),
        Ok(answer) => Err(answer.status().as_u16().to_string()),
        Err(_) => Err("error".to_owned()),
    }
}

/// A sign-in of `who` at `url` from `address`.
async fn sign_in_from(
    client: &reqwest::Client,
    url: &str,
    address: &str,
    who: &str,
    password: &str,
) -> Result<Tokens, String> {
    let body = serde_json::json!({"username": who, "password": password});
    post_for_tokens(client, url, "/api/v1/auth/login", address, body).await
}

/// Renews `tokens` at `url` from `address` with the refresh token.
async fn refresh(
    client: &reqwest::Client,
    url: &str,
    address: &str,
    tokens: &Tokens,
) -> Result<Tokens, String> {
    let body = serde_json::json!({"refresh_token": tokens.refresh});
    post_for_tokens(client, url, "/api/v1/auth/refresh", address, body).await
}

/// Registers the `n`th citizen `username` at [`MIX_HOME`] and has the
/// street's officer verify them: what the first visit to a counter does.
async fn register_citizen(
    shared: &MixShared,
    url: &str,
    address: &str,
    username: &str,
    n: usize,
) -> Result<(), String> {
    let id_number = citizen_id_number(n);
    let status = |answer: Result<reqwest::Response, reqwest::Error>, expected: u16| match answer {
        Ok(answer) if answer.status().as_u16() == expected => Ok(()),
        Ok(answer) => Err(answer.status().as_u16().to_string()),
        Err(_) => Err("error".to_owned()),
    };
    let registered = shared
        .client
        .post(format!("{url}/api/v1/auth/register"))
        .header("x-forwarded-for", address)
        .json(&serde_json::json!({
            "kind": "citizen", "username": username, "password": shared.password,
            "tenant": MIX_HOME, "name": format!("市民{n}"), "id_number": id_number,
        }))
        .send()
        .await;
    status(registered, 201)?;
    let verified = shared
        .client
        .post(format!(
            "{url}/api/v1/tenants/{MIX_HOME}/accounts/{username}/verify"
        ))
        .bearer_auth(&shared.verifier)
        .json(&serde_json::json!({"id_number": id_number}))
        .send()
        .await;
    status(verified, 200)
}

/// One outcome: the operation, when it was sent, and its time or the
/// status it failed with.
type Outcome = (Op, Instant, Result<Duration, String>);

async fn mix_user(n: usize, shared: Arc<MixShared>) -> Vec<Outcome> {
    let url = &shared.urls[node_of(n, shared.urls.len())];
    let client = &shared.client;
    let mut outcomes = Vec::new();
    // Each user from an address of its own, as a load balancer in front of
    // the nodes reports it (the nodes trust 127.0.0.1 as their proxy): the
    // per-address limits apply per user, as they would.
    let address = format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255);
    // The public, citizens and officers in equal shares.
    let role = n % 3;
    let district = (n / 3) % 2;
    // Who the user signs in as: a citizen of their own (registered and
    // verified at the counter first), or their district's reviewer.
    let who = match role {
        0 => None,
        1 => {
            let username = format!("load-citizen-{n}");
            let sent = Instant::now();
            let registered = register_citizen(&shared, url, &address, &username, n / 3).await;
            let failed = registered.is_err();
            outcomes.push((Op::Register, sent, registered.map(|()| sent.elapsed())));
            if failed {
                return outcomes;
            }
            Some(username)
        }
        _ => Some(MIX_DISTRICTS[district].0.to_owned()),
    };
    let mut token = match who {
        None => None,
        Some(who) => {
            // One sign-in at a time per reviewer account.
            let _turn = match role {
                1 => None,
                _ => Some(shared.signing_in[district].lock().await),
            };
            let sent = Instant::now();
            match sign_in_from(client, url, &address, &who, &shared.password).await {
                Ok(token) => {
                    outcomes.push((Op::SignIn, sent, Ok(sent.elapsed())));
                    Some(token)
                }
                Err(status) => {
                    outcomes.push((Op::SignIn, sent, Err(status)));
                    return outcomes;
                }
            }
        }
    };
    let mut step = n;
    // Each user's own sequence of think times, the same in every run.
    let mut draws = fastrand::Rng::with_seed(n as u64);
    loop {
        let sent = Instant::now();
        if sent >= shared.end {
            return outcomes;
        }
        if let Some(tokens) = token
            .as_ref()
            .filter(|t| t.issued.elapsed() >= shared.renew_after)
        {
            match refresh(client, url, &address, tokens).await {
                Ok(renewed) => {
                    outcomes.push((Op::Refresh, sent, Ok(sent.elapsed())));
                    token = Some(renewed);
                }
                Err(status) => {
                    outcomes.push((Op::Refresh, sent, Err(status)));
                    return outcomes;
                }
            }
            continue;
        }
        step += 1;
        let mut queued: Option<(usize, String, u8)> = None;
        let (op, request) = match role {
            0 => match step % 3 {
                0 => (
                    Op::Portal,
                    client.get(format!("{url}/t/shanghai/pudong/lujiazui/")),
                ),
                1 => (
                    Op::Guide,
                    client.get(format!(
                        "{url}/t/shanghai/pudong/lujiazui/services/civil-affairs/meal-subsidy"
                    )),
                ),
                _ => (Op::Catalog, client.get(format!("{url}/api/v1/services"))),
            },
            1 => match step % 2 {
                0 => {
                    let (street, _) = MIX_STREETS[step / 2 % MIX_STREETS.len()];
                    (
                        Op::Apply,
                        client
                            .post(format!("{url}/api/v1/tenants/{street}/cases"))
                            .json(&application()),
                    )
                }
                _ => (
                    Op::Messages,
                    client.get(format!("{url}/api/v1/me/messages")),
                ),
            },
            _ => {
                let (_, district_path, street) = MIX_DISTRICTS[district];
                let next = match step % 5 {
                    0 | 1 => shared.queues[district]
                        .lock()
                        .ok()
                        .and_then(|mut q| q.pop_front()),
                    _ => None,
                };
                match (step % 5, next) {
                    (0 | 1, Some((id, done))) => {
                        let request = client
                            .post(format!(
                                "{url}/api/v1/tenants/{district_path}/cases/{id}/actions"
                            ))
                            .json(&serde_json::json!({"action": "approve"}));
                        queued = Some((district, id, done));
                        (Op::Approve, request)
                    }
                    (2, _) => (
                        Op::Search,
                        client.get(format!("{url}/api/v1/search?q=%E5%8A%A9%E9%A4%90&limit=20")),
                    ),
                    (3, _) => (
                        Op::Evaluate,
                        client
                            .post(format!(
                                "{url}/api/v1/tenants/{street}/services/civil-affairs/meal-subsidy/evaluate"
                            ))
                            .json(&serde_json::json!({"as_of": "2026-11-23", "input": application()["data"]})),
                    ),
                    _ => (Op::Inbox, client.get(format!("{url}/api/v1/inbox?limit=20"))),
                }
            }
        };
        let request = request.header("x-forwarded-for", &address);
        let request = match &token {
            Some(tokens) => request.bearer_auth(&tokens.access),
            None => request,
        };
        let expected = if op == Op::Apply { 201 } else { 200 };
        let outcome = match request.send().await {
            Ok(answer) if answer.status().as_u16() == expected => match answer.bytes().await {
                Ok(body) => {
                    let took = sent.elapsed();
                    if op == Op::Apply {
                        let id = serde_json::from_slice::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|case| case["id"].as_str().map(str::to_owned));
                        let (_, district) = MIX_STREETS[step / 2 % MIX_STREETS.len()];
                        if let (Some(id), Ok(mut queue)) = (id, shared.queues[district].lock()) {
                            queue.push_back((id, 0));
                        }
                    }
                    if let Some((district, id, 0)) = queued.take()
                        && let Ok(mut queue) = shared.queues[district].lock()
                    {
                        // The district's own step next.
                        queue.push_back((id, 1));
                    }
                    Ok(took)
                }
                Err(_) => Err("error".to_owned()),
            },
            Ok(answer) => Err(answer.status().as_u16().to_string()),
            Err(_) => Err("error".to_owned()),
        };
        if sent >= shared.measure_from {
            outcomes.push((op, sent, outcome));
        }
        if !shared.think.is_zero() {
            tokio::time::sleep(think_time(shared.think, &mut draws)).await;
        }
    }
}

async fn mix(args: MixArgs) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.users)
        .timeout(Duration::from_secs(60))
        .build()?;
    let urls: Vec<String> = args
        .url
        .iter()
        .map(|u| u.trim_end_matches('/').to_owned())
        .collect();
    let verifier = sign_in_from(
        &client,
        &urls[0],
        "10.255.255.254",
        "lujiazui-officer",
        &args.password,
    )
    .await
    .map_err(|status| anyhow::anyhow!("the verifying officer cannot sign in: {status}"))?
    .access;
    let started = Instant::now();
    let measure_from = started + Duration::from_secs(args.warmup);
    let shared = Arc::new(MixShared {
        client,
        urls,
        password: args.password.clone(),
        queues: Default::default(),
        measure_from,
        end: measure_from + Duration::from_secs(args.seconds),
        think: Duration::from_millis(args.think_ms),
        renew_after: Duration::from_secs(args.renew_after_secs),
        signing_in: Default::default(),
        verifier,
    });
    let users: Vec<_> = (0..args.users)
        .map(|n| tokio::spawn(mix_user(n, shared.clone())))
        .collect();
    let mut by_op: BTreeMap<Op, Tally> = BTreeMap::new();
    let mut all: Tally = (Vec::new(), BTreeMap::new());
    for user in users {
        for (op, _, outcome) in user.await? {
            let tally = by_op.entry(op).or_default();
            match outcome {
                Ok(took) => {
                    tally.0.push(took);
                    if !matches!(op, Op::SignIn | Op::Register | Op::Refresh) {
                        all.0.push(took);
                    }
                }
                Err(status) => {
                    *tally.1.entry(status.clone()).or_default() += 1;
                    if !matches!(op, Op::SignIn | Op::Register | Op::Refresh) {
                        *all.1.entry(status).or_default() += 1;
                    }
                }
            }
        }
    }
    let window = Instant::now().min(shared.end + Duration::from_secs(60)) - measure_from;
    let operations: Vec<serde_json::Value> = by_op
        .into_iter()
        .map(|(op, (ok, failed))| {
            let report = Report::new(args.users, window, ok, failed);
            serde_json::json!({"operation": op.name(), "report": report})
        })
        .collect();
    Ok(serde_json::json!({
        "users": args.users,
        "nodes": args.url.len(),
        "think_ms": args.think_ms,
        "operations": operations,
        "all": Report::new(args.users, window, all.0, all.1),
    }))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("civitas-load: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Submit(args) => {
                let json = args.json;
                let report = submit(args).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    println!("{}", report.line());
                }
                let failed: usize = report.failed.values().sum();
                if report.ok == 0 || failed * 100 > (report.ok + failed) {
                    bail!("fewer than 99 % of the requests succeeded");
                }
                Ok(())
            }
            Command::Batch(args) => {
                let json = args.json;
                let report = batch(args).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    println!(
                        "{} inputs in {} s: {}/s (requests p50 {} ms, p99 {} ms), {} failed",
                        report["inputs"], report["seconds"], report["inputs_per_second"],
                        report["request_p50_ms"], report["request_p99_ms"], report["failed"]
                    );
                    print_single_calls(&report);
                }
                if report["failed"].as_u64().unwrap_or(0) > 0 {
                    bail!("some inputs failed");
                }
                Ok(())
            }
            Command::Export(args) => {
                let json = args.json;
                let report = export(args).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    let (e, l) = (&report["export"], &report["list_pages"]);
                    println!(
                        "export: {} rows in {} s ({}/s), {} bytes; server memory {} MiB before, peak {} MiB (+{} MiB)",
                        report["rows"], e["seconds"], e["rows_per_second"], e["bytes"],
                        e["server_rss_before_mib"], e["server_peak_mib"], e["server_growth_mib"]
                    );
                    println!(
                        "list pages (JSON, 200 a page), same run: {} s ({}/s), {} bytes; peak {} MiB (+{} MiB)",
                        l["seconds"], l["rows_per_second"], l["bytes"],
                        l["server_peak_mib"], l["server_growth_mib"]
                    );
                }
                Ok(())
            }
            Command::Population(args) => {
                let json = args.json;
                let report = population(args).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    println!(
                        "{} residents written in {} s; nightly run {} s, of which evaluation {} s ({} evaluated, {}/s); {} eligible, {} filed, {} failed",
                        report["residents"], report["write_seconds"], report["run_seconds"],
                        report["evaluation_seconds"], report["evaluated"], report["evaluated_per_second"],
                        report["eligible"], report["filed"], report["failed"]
                    );
                    print_single_calls(&report);
                }
                if report["failed"].as_u64().unwrap_or(0) > 0 {
                    bail!("some residents failed");
                }
                Ok(())
            }
            Command::WageArrears(args) => {
                let json = args.json;
                let report = wage_arrears(args).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    println!(
                        "{} project-months: imported in {} s; run in {} s, of which evaluation {} s ({}/s); {} warned, {} filed, {} failed",
                        report["projects"], report["import_seconds"], report["run_seconds"],
                        report["evaluation_seconds"], report["evaluated_per_second"],
                        report["warned"], report["opened"], report["failures"]
                    );
                    print_single_calls(&report);
                }
                if report["failures"].as_u64().unwrap_or(0) > 0 {
                    bail!("some project-months failed");
                }
                Ok(())
            }
            Command::Mix(args) => {
                let json = args.json;
                let report = mix(args).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    println!(
                        "{} users over {} node(s), think {} ms:",
                        report["users"], report["nodes"], report["think_ms"]
                    );
                    let row = |name: &str, r: &serde_json::Value| {
                        let failed: u64 = r["failed"]
                            .as_object()
                            .map(|f| f.values().filter_map(|v| v.as_u64()).sum())
                            .unwrap_or(0);
                        println!(
                            "  {name:<20} {:>7} ok {:>7}/s  p50 {:>8} ms  p95 {:>8} ms  p99 {:>8} ms  failed {failed} {}",
                            r["ok"], r["per_second"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["failed"]
                        );
                    };
                    for op in report["operations"].as_array().into_iter().flatten() {
                        row(op["operation"].as_str().unwrap_or_default(), &op["report"]);
                    }
                    row("all (but sign-in, registration, refresh)", &report["all"]);
                }
                let failed: u64 = report["all"]["failed"]
                    .as_object()
                    .map(|f| f.values().filter_map(|v| v.as_u64()).sum())
                    .unwrap_or(0);
                if failed > 0 {
                    bail!("{failed} requests failed");
                }
                Ok(())
            }
            Command::Invalidation(args) => {
                let json = args.json;
                let report = invalidation(args).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    for node in report["nodes"].as_array().into_iter().flatten() {
                        println!(
                            "{}: {} changes in force after p50 {} ms, p99 {} ms, max {} ms",
                            node["node"], node["changes"], node["p50_ms"], node["p99_ms"], node["max_ms"]
                        );
                    }
                }
                Ok(())
            }
            Command::Fill(args) => {
                let json = args.json;
                let done = fill(args).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&done)?);
                } else {
                    println!(
                        "{} cases ({} copied from {} filed) in {} s",
                        done["cases"], done["copied"], done["templates"], done["seconds"]
                    );
                }
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("civitas-load: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{citizen_id_number, node_of, think_time};

    #[test]
    fn every_node_serves_users_of_every_kind_alike() {
        for nodes in 1..=4 {
            let mut served = vec![[0u32; 3]; nodes];
            for n in 0..1200 {
                served[node_of(n, nodes)][n % 3] += 1;
            }
            let each = 1200 / 3 / nodes as u32;
            for kinds in &served {
                assert!(
                    kinds.iter().all(|k| k.abs_diff(each) <= 1),
                    "{nodes} nodes: {served:?}"
                );
            }
        }
    }

    #[test]
    fn think_times_spread_from_half_to_one_and_a_half_of_the_mean_and_differ_between_users() {
        let mean = Duration::from_millis(1000);
        let mut first = fastrand::Rng::with_seed(0);
        let waits: Vec<Duration> = (0..10_000).map(|_| think_time(mean, &mut first)).collect();
        assert!(waits.iter().all(|w| *w >= mean / 2 && *w < mean * 3 / 2));
        let average = waits.iter().sum::<Duration>() / 10_000;
        assert!(
            average > mean * 48 / 50 && average < mean * 52 / 50,
            "{average:?}"
        );
        // Every tenth of the range is drawn, none much more than another.
        let mut tenths = [0u32; 10];
        for w in &waits {
            tenths[((w.as_secs_f64() - 0.5) * 10.0) as usize] += 1;
        }
        assert!(tenths.iter().all(|n| (800..1200).contains(n)), "{tenths:?}");
        let mut second = fastrand::Rng::with_seed(1);
        let theirs: Vec<Duration> = (0..10).map(|_| think_time(mean, &mut second)).collect();
        assert_ne!(theirs, waits[..10]);
    }

    #[test]
    fn simulated_citizens_have_valid_distinct_resident_id_numbers() {
        let numbers: std::collections::BTreeSet<String> =
            (0..2500).map(citizen_id_number).collect();
        assert_eq!(numbers.len(), 2500);
        for number in &numbers {
            assert!(civitas_people::IdNumber::parse(number).is_ok(), "{number}");
        }
        assert_eq!(citizen_id_number(0), "310115194403020008");
    }
}
