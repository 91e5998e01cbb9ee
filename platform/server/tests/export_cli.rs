//! `civitas export`: a list as a workbook from a terminal, against a real
//! server socket — written to a new file, checked against the digest the
//! server recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use std::path::Path;
use std::process::Output;

use access::World;
use civitas_testkit::TestDb;
use serde_json::Value;

async fn civitas(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let dir = dir.to_owned();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = civitas_testkit::clean_command(env!("CARGO_BIN_EXE_civitas"), &dir);
        command.envs(env).args(&args);
        command.output().unwrap()
    })
    .await
    .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn an_officer_exports_a_list_to_a_new_file_checked_against_its_audited_digest() {
    let t = TestDb::sqlite().await;
    let world = World::demo(&t).await;
    let filed = world
        .call(
            "POST",
            "/api/v1/tenants/310000/310115/310115005/cases",
            Some(world.token("citizen-demo")),
            Some(
                serde_json::json!({"service": "civil-affairs/meal-subsidy", "data": {
                "birth_date": "1944-03-02", "household_registration": "local", "living_alone": true,
                "disability_grade": 0, "economic_status": "none"}}),
            ),
        )
        .await;
    assert_eq!(
        filed.status,
        axum::http::StatusCode::CREATED,
        "{}",
        filed.body
    );
    let server = world.serve().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("CIVITAS_SERVER", server.as_str()),
        ("CIVITAS_TOKEN", world.token("pudong-reviewer")),
    ];

    // Named as the server names it, in the working directory.
    let done = civitas(
        dir.path(),
        &env,
        &[
            "export",
            "cases",
            "--tenant",
            "shanghai/pudong",
            "--filter",
            "service=civil-affairs/meal-subsidy",
            "--json",
        ],
    )
    .await;
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    let report: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(report["rows"], 1);
    let file = dir.path().join(report["file"].as_str().unwrap());
    assert!(
        report["file"].as_str().unwrap().starts_with("办件-"),
        "{report}"
    );
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(
        report["sm3"],
        hex::encode(civitas_crypto::sm3::digest(&bytes))
    );
    let rows = civitas_sheet::read(&bytes, civitas_sheet::Format::Xlsx, 10).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].cells[0].text(), filed.body["id"].as_str().unwrap());

    // An existing file is never overwritten.
    let again = civitas(
        dir.path(),
        &env,
        &[
            "export",
            "cases",
            "--tenant",
            "shanghai/pudong",
            "--filter",
            "service=civil-affairs/meal-subsidy",
            "--out",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("已存在"), "{}", stderr(&again));
    assert_eq!(std::fs::read(&file).unwrap(), bytes);

    // The server's refusal, in both languages; the file is not created.
    let refused = civitas(
        dir.path(),
        &env,
        &[
            "export",
            "accounts",
            "--tenant",
            "shanghai/pudong",
            "--out",
            "accounts.xlsx",
        ],
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("403 forbidden"),
        "{}",
        stderr(&refused)
    );
    assert!(!dir.path().join("accounts.xlsx").exists());

    // Without a tenant there is nothing to name but the inbox.
    let usage = civitas(dir.path(), &env, &["export", "cases"]).await;
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
    let inbox = civitas(
        dir.path(),
        &[
            ("CIVITAS_SERVER", server.as_str()),
            ("CIVITAS_TOKEN", world.token("lujiazui-officer")),
        ],
        &["export", "inbox", "--out", "待办.xlsx"],
    )
    .await;
    assert_eq!(inbox.status.code(), Some(0), "{}", stderr(&inbox));
    assert!(String::from_utf8_lossy(&inbox.stdout).contains("已导出 1 行"));

    // A server that cannot be reached: exit code 5.
    let unreachable = civitas(
        dir.path(),
        &[
            ("CIVITAS_SERVER", "http://127.0.0.1:9"),
            ("CIVITAS_TOKEN", "x"),
        ],
        &["export", "inbox"],
    )
    .await;
    assert_eq!(
        unreachable.status.code(),
        Some(5),
        "{}",
        stderr(&unreachable)
    );
}

#[tokio::test]
async fn export_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    let help = civitas(dir.path(), &[], &["export", "--help"]).await;
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("Examples:") && text.contains("civitas export cases"),
        "{text}"
    );
}
