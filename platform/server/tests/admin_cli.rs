//! `civitas admin init`: three distinct administrators, one-time passwords
//! shown once and changed at first sign-in.

// Helpers panic like tests do: a test that cannot set up has failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

use civitas_identity::{SignInSettings, authenticate};
use civitas_storage::Database;
use civitas_tenancy::TenantPath;

const CIVITAS: &str = env!("CARGO_BIN_EXE_civitas");

fn civitas(dir: &Path, args: &[&str]) -> Output {
    let mut command = civitas_testkit::clean_command(CIVITAS, dir);
    command.args(args);
    command.env("CIVITAS_TENANTS_DIR", civitas_testkit::tenants_dir());
    command.output().unwrap()
}

#[tokio::test]
async fn init_creates_the_three_administrators_once_with_one_time_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let out = civitas(dir.path(), &["admin", "init", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tenant"], "310000");
    let created = report["created"].as_array().unwrap();
    let names: Vec<&str> = created
        .iter()
        .map(|c| c["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sys-admin", "sec-admin", "audit-admin"]);
    let passwords: Vec<&str> = created
        .iter()
        .map(|c| c["one_time_password"].as_str().unwrap())
        .collect();
    assert!(passwords[0] != passwords[1] && passwords[1] != passwords[2]);

    let db = Database::connect(&format!(
        "sqlite:{}",
        dir.path().join("data/civitas.db").display()
    ))
    .await
    .unwrap();
    let settings = SignInSettings::new(TenantPath::parse("310000").unwrap());
    let account = authenticate(
        &db,
        &settings,
        "audit-admin",
        passwords[2],
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert!(
        account.must_change_password,
        "the one-time password must be changed first"
    );

    // Each holds its own role on every root, and only that one.
    let mut roles: Vec<String> = civitas_authz::load_grants(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|g| format!("{} {} {}", g.role, g.tenant, g.line))
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        [
            "audit-admin 310000 *",
            "audit-admin 510000 *",
            "sec-admin 310000 *",
            "sec-admin 510000 *",
            "sys-admin 310000 *",
            "sys-admin 510000 *"
        ]
    );

    // Again: nothing is overwritten, and it says so.
    let again = civitas(dir.path(), &["admin", "init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("sys-admin 已存在"));
    assert!(
        authenticate(
            &db,
            &settings,
            "audit-admin",
            passwords[2],
            chrono::Utc::now()
        )
        .await
        .is_ok()
    );
}
