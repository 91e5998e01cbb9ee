//! `civitas audit …` as an operator runs it: verify names tampering, anchor
//! signs, export writes JSON lines.

// Helpers panic like tests do: a test that cannot set up has failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

use civitas_storage::{Database, TenantScope};
use civitas_tenancy::TenantPath;

const CIVITAS: &str = env!("CARGO_BIN_EXE_civitas");

fn civitas(dir: &Path, args: &[&str]) -> Output {
    let mut command = civitas_testkit::clean_command(CIVITAS, dir);
    command.args(args);
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A data directory whose database holds `n` audit records for Pudong.
async fn database_with_records(dir: &Path, n: usize) -> Database {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let db = Database::connect(&format!("sqlite:{}", dir.join("data/civitas.db").display()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let pudong = TenantPath::parse("310000/310115").unwrap();
    for i in 0..n {
        let mut tx = db
            .begin(&TenantScope::for_platform_task(pudong.clone()))
            .await
            .unwrap();
        let event = civitas_audit::NewEvent {
            actor: "sec-admin".into(),
            action: "grant.create".into(),
            target: format!("account-{i}"),
            detail: serde_json::json!({"role": "reviewer"}),
        };
        civitas_audit::record(&mut tx, &pudong, &event)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    db
}

#[tokio::test]
async fn verify_passes_then_names_an_edited_record_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_with_records(dir.path(), 4).await;

    let intact = civitas(dir.path(), &["audit", "verify"]);
    assert_eq!(
        intact.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&intact.stderr)
    );
    assert!(
        stdout(&intact).contains("4 条记录 (records)"),
        "{}",
        stdout(&intact)
    );

    let mut tx = db.begin_platform().await.unwrap();
    civitas_storage::with_connection!(tx.connection(), c => {
        sqlx::query("DROP TRIGGER audit_events_no_update").execute(&mut *c).await.unwrap();
        sqlx::query("UPDATE audit_events SET actor = 'intruder' WHERE seq = 2").execute(&mut *c).await.unwrap();
    });
    tx.commit().await.unwrap();
    db.close().await;

    let tampered = civitas(dir.path(), &["audit", "verify"]);
    assert_eq!(tampered.status.code(), Some(1));
    assert!(
        stdout(&tampered).contains("310000/310115 #2"),
        "{}",
        stdout(&tampered)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&civitas(dir.path(), &["audit", "verify", "--json"]).stdout)
            .unwrap();
    assert_eq!(json["problems"][0]["kind"], "altered");
    assert_eq!(json["problems"][0]["seq"], 2);
}

#[tokio::test]
async fn anchors_are_signed_with_the_platform_key_and_pinned_on_verify() {
    let dir = tempfile::tempdir().unwrap();
    database_with_records(dir.path(), 2).await.close().await;
    assert!(
        civitas(
            dir.path(),
            &["crypto", "sm2", "keygen", "--out", "platform.pem"]
        )
        .status
        .success()
    );
    assert!(
        civitas(
            dir.path(),
            &["crypto", "sm2", "keygen", "--out", "other.pem"]
        )
        .status
        .success()
    );

    let anchored = civitas(
        dir.path(),
        &["audit", "anchor", "--key", "platform.pem", "--json"],
    );
    let anchors: serde_json::Value = serde_json::from_slice(&anchored.stdout).unwrap();
    assert_eq!(anchors[0]["seq"], 2);

    assert_eq!(
        civitas(
            dir.path(),
            &["audit", "verify", "--pub", "platform.pub.pem"]
        )
        .status
        .code(),
        Some(0)
    );
    let foreign = civitas(dir.path(), &["audit", "verify", "--pub", "other.pub.pem"]);
    assert_eq!(foreign.status.code(), Some(1));
    assert!(
        stdout(&foreign).contains("anchor mismatch"),
        "{}",
        stdout(&foreign)
    );
}

#[tokio::test]
async fn export_writes_the_chosen_days_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    database_with_records(dir.path(), 3).await.close().await;
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let (today, tomorrow) = (today.to_string(), tomorrow.to_string());
    let exported = civitas(
        dir.path(),
        &[
            "audit",
            "export",
            "--from",
            &today,
            "--to",
            &tomorrow,
            "--tenant",
            "310000/310115",
            "--out",
            "audit.jsonl",
        ],
    );
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let lines = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 3);
    assert!(
        lines
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );

    let backwards = civitas(
        dir.path(),
        &["audit", "export", "--from", &tomorrow, "--to", &today],
    );
    assert_eq!(backwards.status.code(), Some(1));
    let bad_tenant = civitas(
        dir.path(),
        &["audit", "verify", "--tenant", "shanghai/pudong"],
    );
    assert_eq!(bad_tenant.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_tenant.stderr).contains("path of codes"));
}

#[test]
fn every_audit_command_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["verify", "anchor", "export"] {
        let output = civitas(dir.path(), &["audit", command, "--help"]);
        assert!(stdout(&output).contains("Examples:"), "{command}");
    }
}

#[tokio::test]
async fn prune_archives_old_records_and_verify_still_passes() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_with_records(dir.path(), 0).await;
    let pudong = TenantPath::parse("310000/310115").unwrap();
    for days in [400, 300, 200, 1] {
        let mut tx = db
            .begin(&TenantScope::for_platform_task(pudong.clone()))
            .await
            .unwrap();
        let event = civitas_audit::NewEvent {
            actor: "sec-admin".into(),
            action: "grant.create".into(),
            target: format!("account-{days}"),
            detail: serde_json::json!({}),
        };
        let at = chrono::Utc::now() - chrono::Duration::days(days);
        civitas_audit::record_at(&mut tx, &pudong, &event, at)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    assert!(
        civitas(
            dir.path(),
            &["crypto", "sm2", "keygen", "--out", "platform.pem"]
        )
        .status
        .success()
    );
    let before = (chrono::Utc::now() - chrono::Duration::days(190))
        .format("%Y-%m-%d")
        .to_string();

    // Too recent a cut-off: refused, and no archive left behind.
    let recent = (chrono::Utc::now() - chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let refused = civitas(
        dir.path(),
        &[
            "audit",
            "prune",
            "--before",
            &recent,
            "--key",
            "platform.pem",
            "--archive",
            "a.jsonl",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("180"));
    assert!(!dir.path().join("a.jsonl").exists());

    let out = civitas(
        dir.path(),
        &[
            "audit",
            "prune",
            "--before",
            &before,
            "--key",
            "platform.pem",
            "--archive",
            "a.jsonl",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pruned: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pruned[0]["records"], 3);
    let archive = std::fs::read(dir.path().join("a.jsonl")).unwrap();
    assert_eq!(String::from_utf8_lossy(&archive).lines().count(), 3);
    assert_eq!(
        pruned[0]["archive_sm3"],
        hex::encode(civitas_crypto::sm3::digest(&archive))
    );

    let verified = civitas(
        dir.path(),
        &["audit", "verify", "--pub", "platform.pub.pem"],
    );
    assert!(verified.status.success(), "{}", stdout(&verified));
    // The archive is never overwritten.
    let again = civitas(
        dir.path(),
        &[
            "audit",
            "prune",
            "--before",
            &before,
            "--key",
            "platform.pem",
            "--archive",
            "a.jsonl",
        ],
    );
    assert_eq!(again.status.code(), Some(1));
}
