//! `civitas backup` and `civitas restore` as an operator runs them on the
//! embedded default: a consistent snapshot with an SM3 manifest, keys left
//! out, a damaged backup refused before anything is written, and a restore
//! into an empty directory whose audit chain verifies.

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

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A data directory with `n` audit records for Pudong, a supporting
/// document and the keys a server keeps there.
async fn data_directory(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join("data/documents/sm3/ab")).unwrap();
    std::fs::write(
        dir.join("data/documents/sm3/ab/abcdef"),
        b"%PDF-1.7 a document",
    )
    .unwrap();
    std::fs::write(
        dir.join("data/master.key"),
        b"0123456789abcdef0123456789abcdef",
    )
    .unwrap();
    std::fs::write(
        dir.join("data/platform.pem"),
        b"-----BEGIN PRIVATE KEY-----",
    )
    .unwrap();
    let db = Database::connect(&format!("sqlite:{}", dir.join("data/civitas.db").display()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    append(&db, n, "grant.create").await;
    db.close().await;
}

/// Appends `n` records of `action` to Pudong's chain, one transaction each.
async fn append(db: &Database, n: usize, action: &str) {
    let pudong = TenantPath::parse("310000/310115").unwrap();
    for i in 0..n {
        let mut tx = db
            .begin(&TenantScope::for_platform_task(pudong.clone()))
            .await
            .unwrap();
        let event = civitas_audit::NewEvent {
            actor: "sec-admin".into(),
            action: action.into(),
            target: format!("account-{i}"),
            detail: serde_json::json!({"role": "reviewer"}),
        };
        civitas_audit::record(&mut tx, &pudong, &event)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_into_an_empty_directory_whose_audit_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    data_directory(dir.path(), 4).await;

    let taken = civitas(
        dir.path(),
        &["backup", "--data-dir", "data", "--out", "backup", "--json"],
    );
    assert_eq!(taken.status.code(), Some(0), "{}", text(&taken));
    let report: serde_json::Value = serde_json::from_slice(&taken.stdout).unwrap();
    assert_eq!(
        report["files"], 2,
        "the database and the document: {report}"
    );
    let backup = dir.path().join("backup");
    assert!(backup.join("civitas.db").exists() && backup.join("documents/sm3/ab/abcdef").exists());
    assert!(
        !backup.join("master.key").exists() && !backup.join("platform.pem").exists(),
        "keys are kept apart"
    );
    let manifest = std::fs::read_to_string(backup.join("manifest.json")).unwrap();
    assert!(
        !manifest.contains("master.key") && manifest.contains("\"sm3\""),
        "{manifest}"
    );

    // A backup is never written over another.
    let again = civitas(
        dir.path(),
        &["backup", "--data-dir", "data", "--out", "backup"],
    );
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));

    // A damaged copy restores nothing.
    let damaged = dir.path().join("damaged");
    std::fs::create_dir_all(damaged.join("documents/sm3/ab")).unwrap();
    for file in ["manifest.json", "civitas.db", "documents/sm3/ab/abcdef"] {
        std::fs::copy(backup.join(file), damaged.join(file)).unwrap();
    }
    std::fs::write(
        damaged.join("documents/sm3/ab/abcdef"),
        b"%PDF-1.7 a forgery",
    )
    .unwrap();
    let refused = civitas(
        dir.path(),
        &["restore", "--from", "damaged", "--data-dir", "refused"],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("documents/sm3/ab/abcdef"),
        "{}",
        text(&refused)
    );
    assert!(
        !dir.path().join("refused/civitas.db").exists(),
        "nothing written"
    );

    // Restored into an empty directory: the chain verifies, the document
    // is as it was.
    let restored = civitas(
        dir.path(),
        &["restore", "--from", "backup", "--data-dir", "restored"],
    );
    assert_eq!(restored.status.code(), Some(0), "{}", text(&restored));
    assert_eq!(
        std::fs::read(dir.path().join("restored/documents/sm3/ab/abcdef")).unwrap(),
        b"%PDF-1.7 a document"
    );
    let verified = civitas(dir.path(), &["audit", "--data-dir", "restored", "verify"]);
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
    assert!(
        text(&verified).contains("4 条记录 (records)"),
        "{}",
        text(&verified)
    );

    // Never over data that is there.
    let over = civitas(
        dir.path(),
        &["restore", "--from", "backup", "--data-dir", "restored"],
    );
    assert_eq!(over.status.code(), Some(1), "{}", text(&over));

    // Taken while records are being written: the snapshot is one moment,
    // so the restored chain has no half of a record.
    let db = Database::connect(&format!(
        "sqlite:{}",
        dir.path().join("data/civitas.db").display()
    ))
    .await
    .unwrap();
    let writing = {
        let db = db.clone();
        tokio::spawn(async move { append(&db, 200, "grant.revoke").await })
    };
    let busy_dir = dir.path().to_owned();
    let busy = tokio::task::spawn_blocking(move || {
        civitas(
            &busy_dir,
            &["backup", "--data-dir", "data", "--out", "busy"],
        )
    })
    .await
    .unwrap();
    writing.await.unwrap();
    db.close().await;
    assert_eq!(busy.status.code(), Some(0), "{}", text(&busy));
    let restored = civitas(
        dir.path(),
        &["restore", "--from", "busy", "--data-dir", "busy-restored"],
    );
    assert_eq!(restored.status.code(), Some(0), "{}", text(&restored));
    let verified = civitas(
        dir.path(),
        &["audit", "--data-dir", "busy-restored", "verify"],
    );
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));

    // PostgreSQL has its own tools.
    let postgres = civitas(
        dir.path(),
        &[
            "backup",
            "--database-url",
            "postgres://postgres@127.0.0.1:5432/test",
            "--out",
            "pg",
        ],
    );
    assert_eq!(postgres.status.code(), Some(2), "{}", text(&postgres));
}

#[tokio::test]
async fn backup_and_restore_have_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["backup", "restore"] {
        let help = civitas(dir.path(), &[command, "--help"]);
        assert_eq!(help.status.code(), Some(0));
        let out = String::from_utf8_lossy(&help.stdout);
        assert!(
            out.contains("Example") && out.contains(&format!("civitas {command} ")),
            "{out}"
        );
    }
}
