//! A staff roster of 1,000 rows from `.xlsx`, imported the way
//! `POST /account-imports` does it — read the workbook, plan every row,
//! look up clashes, create every account in one transaction (sealed
//! contact data, one-time password, password history, an audit record per
//! account and one for the import) — beside, in the same run:
//!
//! - the same 1,000 accounts created one request at a time
//!   ([`create_staff_account`], what a script over `POST /accounts` does);
//! - a bare multi-row `INSERT` of 1,000 account rows (no sealing, no
//!   password, no audit): the floor any import has to stand on.
//!
//!     cargo bench -p civitas-identity --bench import
//!
//! On SQLite (a temporary file) and on PostgreSQL (`CIVITAS_TEST_PG`,
//! default `postgres://postgres@127.0.0.1:5432/test`, in a schema of its
//! own). `CIVITAS_BENCH_ROWS` (1,000) and `CIVITAS_BENCH_RUNS` (3) change
//! the sizes.

// A benchmark panics on impossible setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use civitas_identity::{
    AccountKind, ImportUnit, NewStaffAccount, check_taken, create_staff_account, import_staff,
    plan_import,
};
use civitas_storage::{Database, TenantScope};
use civitas_tenancy::TenantPath;
use civitas_testkit::{TestDb, demo_tree};
use civitas_vault::{Keyring, LocalMasterKeys, provision};

const PUDONG: &str = "310000/310115";

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn roster(rows: usize, run: usize) -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, h) in ["姓名", "工号", "所属单位", "条线", "岗位/角色", "手机"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for n in 1..=rows {
        let r = n as u32;
        let unit = ["花木街道", "陆家嘴街道", "张江镇", "浦东新区"][n % 4];
        sheet.write_string(r, 0, format!("职工{n}")).unwrap();
        sheet.write_string(r, 1, format!("R{run}-{n:05}")).unwrap();
        sheet.write_string(r, 2, unit).unwrap();
        sheet
            .write_string(r, 3, if n % 2 == 0 { "民政" } else { "人社" })
            .unwrap();
        sheet.write_string(r, 4, "综合受理").unwrap();
        sheet
            .write_number(r, 5, (13_900_000_000u64 + (run * rows + n) as u64) as f64)
            .unwrap();
    }
    workbook.save_to_buffer().unwrap()
}

async fn setup(db: &Database) -> Arc<Keyring> {
    db.sync_tenants(&demo_tree()).await.unwrap();
    let keyring = Arc::new(Keyring::new(Arc::new(
        LocalMasterKeys::parse("000102030405060708090a0b0c0d0e0f").unwrap(),
    )));
    let tenants: Vec<TenantPath> = db
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.path)
        .collect();
    provision(db, &keyring, &tenants).await.unwrap();
    keyring
}

fn units(db_tenants: &[civitas_storage::TenantRecord]) -> Vec<ImportUnit> {
    let pudong = TenantPath::parse(PUDONG).unwrap();
    db_tenants
        .iter()
        .filter(|r| r.path.is_within(&pudong))
        .map(ImportUnit::from)
        .collect()
}

struct Figures {
    import: Vec<Duration>,
    one_by_one: Vec<Duration>,
    bare: Vec<Duration>,
}

async fn measure(db: &Database, rows: usize, runs: usize) -> Figures {
    let keyring = setup(db).await;
    let tree = demo_tree();
    let units = units(&db.tenants().await.unwrap());
    let scope = TenantScope::for_platform_task(TenantPath::parse(PUDONG).unwrap());
    let mut figures = Figures {
        import: vec![],
        one_by_one: vec![],
        bare: vec![],
    };
    for run in 0..runs {
        // The import, from the workbook's bytes to the commit.
        let file = roster(rows, run);
        let started = Instant::now();
        let read = civitas_roster::read(&file, civitas_roster::Format::Xlsx).unwrap();
        let mut plan = plan_import(&read, &units, tree.lines());
        check_taken(db, &mut plan).await.unwrap();
        assert!(plan.problems.is_empty(), "{:?}", plan.problems.first());
        let digest = hex_digest(&file);
        let created = import_staff(
            db,
            &keyring,
            &scope,
            scope.path(),
            &plan,
            &digest,
            "sys-admin",
            Utc::now(),
        )
        .await
        .unwrap();
        figures.import.push(started.elapsed());
        assert_eq!(created.len(), rows);

        // The same accounts, one request each.
        let started = Instant::now();
        for planned in &plan.accounts {
            let mut account: NewStaffAccount = planned.account.clone();
            account.username = format!("one.{}", account.username);
            account.profile.employee_no = account.profile.employee_no.map(|n| format!("1-{n}"));
            let lines = &units
                .iter()
                .find(|u| u.path == account.tenant)
                .unwrap()
                .lines;
            create_staff_account(
                db,
                &keyring,
                &scope,
                &account,
                lines,
                "sys-admin",
                Utc::now(),
            )
            .await
            .unwrap();
        }
        figures.one_by_one.push(started.elapsed());

        // The floor: one multi-row INSERT, nothing sealed, hashed or audited.
        let started = Instant::now();
        bare_insert(db, rows, run).await;
        figures.bare.push(started.elapsed());
    }
    figures
}

fn hex_digest(bytes: &[u8]) -> String {
    civitas_crypto::sm3::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn bare_insert(db: &Database, rows: usize, run: usize) {
    let mut tx = db.begin_platform().await.unwrap();
    // 1,000 rows × 8 parameters stays under both backends' parameter limits.
    for chunk in (1..=rows).collect::<Vec<_>>().chunks(500) {
        let mut sql = String::from(
            "INSERT INTO accounts (id, username, kind, tenant_path, line, display_name, created_at, employee_no) VALUES ",
        );
        for (i, _) in chunk.iter().enumerate() {
            let p = i * 8;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7,
                p + 8
            ));
        }
        civitas_storage::with_connection!(tx.connection(), c => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for n in chunk {
                query = query
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(format!("bare.r{run}-{n:05}"))
                    .bind(AccountKind::Staff.as_str())
                    .bind("310000/310115/310115016")
                    .bind("civil-affairs")
                    .bind(format!("职工{n}"))
                    .bind(Utc::now().timestamp_micros())
                    .bind(format!("B{run}-{n:05}"));
            }
            query.execute(&mut *c).await.unwrap();
        });
    }
    tx.commit().await.unwrap();
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn report(backend: &str, rows: usize, f: Figures) {
    let import = median(f.import);
    let one = median(f.one_by_one);
    let bare = median(f.bare);
    let per_s = |d: Duration| rows as f64 / d.as_secs_f64();
    println!("{backend}: {rows} rows, median of runs");
    println!("| way | time | accounts/s | ratio to the import |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| import (read .xlsx, plan, check, one transaction) | {:.0} ms | {:.0}/s | 1.00× |",
        import.as_secs_f64() * 1e3,
        per_s(import)
    );
    println!(
        "| one create_staff_account per row | {:.0} ms | {:.0}/s | {:.2}× |",
        one.as_secs_f64() * 1e3,
        per_s(one),
        one.as_secs_f64() / import.as_secs_f64()
    );
    println!(
        "| bare multi-row INSERT (no seal, password, audit) | {:.0} ms | {:.0}/s | {:.2}× |",
        bare.as_secs_f64() * 1e3,
        per_s(bare),
        bare.as_secs_f64() / import.as_secs_f64()
    );
}

fn main() {
    let rows = setting("CIVITAS_BENCH_ROWS", 1_000);
    let runs = setting("CIVITAS_BENCH_RUNS", 3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sqlite = TestDb::sqlite().await;
        report("SQLite", rows, measure(&sqlite.db, rows, runs).await);
        match TestDb::postgres().await {
            Some(pg) => report("PostgreSQL", rows, measure(&pg.db, rows, runs).await),
            None => println!("PostgreSQL: unreachable, not measured"),
        }
    });
}
