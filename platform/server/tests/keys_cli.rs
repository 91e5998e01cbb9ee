//! `civitas keys …` as an operator runs it: a master key file, provisioning,
//! rotation that keeps every record readable, a master key replaced.

// Helpers panic like tests do: a test that cannot set up has failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use civitas_people::{IdNumber, NewResident, get, register};
use civitas_storage::{Database, TenantScope};
use civitas_tenancy::TenantPath;
use civitas_vault::{Keyring, LocalMasterKeys};
use serde_json::Value;

const CIVITAS: &str = env!("CARGO_BIN_EXE_civitas");
const LUJIAZUI: &str = "310000/310115/310115005";

fn civitas(dir: &Path, args: &[&str]) -> Output {
    let mut command = civitas_testkit::clean_command(CIVITAS, dir);
    command.args(args);
    command.env("CIVITAS_TENANTS_DIR", civitas_testkit::tenants_dir());
    command.output().unwrap()
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn database(dir: &Path) -> Database {
    Database::connect(&format!("sqlite:{}", dir.join("data/civitas.db").display()))
        .await
        .unwrap()
}

fn keyring(dir: &Path) -> Keyring {
    Keyring::new(Arc::new(
        LocalMasterKeys::from_file(&dir.join("data/master.key")).unwrap(),
    ))
}

/// Registers three residents in Lujiazui; returns their ids.
async fn register_residents(db: &Database, keyring: &Keyring) -> Vec<String> {
    let lujiazui = TenantPath::parse(LUJIAZUI).unwrap();
    let mut ids = Vec::new();
    for (i, id_number) in [
        "11010519491231002X",
        "440524188001010014",
        "310101199001011234",
    ]
    .into_iter()
    .enumerate()
    {
        let mut tx = db
            .begin(&TenantScope::for_platform_task(lujiazui.clone()))
            .await
            .unwrap();
        let resident = NewResident {
            name: format!("李四{i}"),
            id_number: IdNumber::parse(id_number).unwrap(),
            phone: Some(format!("1380000{i:04}")),
            bank_account: None,
            address: Some("上海市浦东新区陆家嘴街道".into()),
        };
        ids.push(
            register(&mut tx, keyring, &lujiazui, &resident)
                .await
                .unwrap(),
        );
        tx.commit().await.unwrap();
    }
    ids
}

async fn phones(db: &Database, keyring: &Keyring, ids: &[String]) -> Vec<String> {
    let mut tx = db
        .begin_read(&TenantScope::for_platform_task(
            TenantPath::parse(LUJIAZUI).unwrap(),
        ))
        .await
        .unwrap();
    let mut out = Vec::new();
    for id in ids {
        let resident = get(&mut tx, keyring, id).await.unwrap().unwrap();
        out.push(resident.view().phone.unwrap());
    }
    out
}

#[tokio::test]
async fn init_writes_a_private_key_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = json(&civitas(dir.path(), &["keys", "init", "--json"]));
    assert_eq!(out["path"], "data/master.key");
    assert_eq!(out["key_id"].as_str().unwrap().len(), 16);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("data/master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = civitas(dir.path(), &["keys", "init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not overwritten"));
}

#[tokio::test]
async fn rotate_reencrypts_every_record_and_destroys_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    json(&civitas(dir.path(), &["keys", "init", "--json"]));
    let provisioned = json(&civitas(dir.path(), &["keys", "provision", "--json"]));
    assert_eq!(
        provisioned,
        serde_json::json!({"data_keys": civitas_testkit::demo_tree().len(), "index_keys": 2})
    );

    let db = database(dir.path()).await;
    let keyring = keyring(dir.path());
    let ids = register_residents(&db, &keyring).await;
    let before = phones(&db, &keyring, &ids).await;

    let reports = json(&civitas(
        dir.path(),
        &["keys", "rotate", "--tenant", "310000/310115", "--json"],
    ));
    let reports = reports.as_array().unwrap();
    let pudong = civitas_tenancy::TenantPath::parse("310000/310115").unwrap();
    assert_eq!(
        reports.len(),
        civitas_testkit::demo_tree().subtree(&pudong).count(),
        "Pudong and every node below it"
    );
    let lujiazui = reports.iter().find(|r| r["tenant"] == LUJIAZUI).unwrap();
    assert_eq!(lujiazui["reencrypted"], 3);
    assert_eq!(lujiazui["active_version"], 2);
    assert_eq!(lujiazui["retired_versions"], serde_json::json!([1]));

    // A fresh keyring (no cache) opens everything with the new version.
    assert_eq!(
        phones(
            &db,
            &Keyring::new(Arc::new(
                LocalMasterKeys::from_file(&dir.path().join("data/master.key")).unwrap()
            )),
            &ids
        )
        .await,
        before
    );
    let listed = json(&civitas(
        dir.path(),
        &["keys", "list", "--tenant", LUJIAZUI, "--json"],
    ));
    // `keys list --tenant` shows the subtree; Lujiazui's own data key here.
    let states: Vec<(i64, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["tenant_path"] == LUJIAZUI && k["purpose"] == "data")
        .map(|k| {
            (
                k["version"].as_i64().unwrap(),
                k["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![(1, "retired".to_owned()), (2, "active".to_owned())]
    );

    // The rotation is in Lujiazui's audit chain.
    let out = civitas(
        dir.path(),
        &[
            "audit",
            "export",
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
            "--tenant",
            LUJIAZUI,
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("keys.rotate"));
}

#[tokio::test]
async fn a_new_master_key_takes_over_after_the_roots_are_rotated() {
    let dir = tempfile::tempdir().unwrap();
    json(&civitas(dir.path(), &["keys", "init", "--json"]));
    json(&civitas(dir.path(), &["keys", "provision", "--json"]));
    let db = database(dir.path()).await;
    let ids = register_residents(&db, &keyring(dir.path())).await;
    let before = phones(&db, &keyring(dir.path()), &ids).await;

    // The operator puts a new key first and keeps the old one below it.
    let key_file = dir.path().join("data/master.key");
    let old = std::fs::read_to_string(&key_file).unwrap();
    let new = LocalMasterKeys::generate().unwrap();
    std::fs::write(&key_file, format!("{}\n{old}", new.as_str())).unwrap();
    json(&civitas(
        dir.path(),
        &["keys", "rotate", "--tenant", "310000", "--json"],
    ));
    json(&civitas(
        dir.path(),
        &["keys", "rotate", "--tenant", "510000", "--json"],
    ));

    // Then removes the old one: everything still opens and is still found.
    std::fs::write(&key_file, new.as_str()).unwrap();
    let only_new = keyring(dir.path());
    assert_eq!(phones(&db, &only_new, &ids).await, before);
    let listed = json(&civitas(dir.path(), &["keys", "list", "--json"]));
    let current = LocalMasterKeys::parse(new.as_str()).unwrap();
    for key in listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["state"] != "retired")
    {
        assert_eq!(
            key["master_key_id"],
            civitas_vault::MasterKeyProvider::current_id(&current),
            "{key}"
        );
    }
}

#[tokio::test]
async fn commands_that_need_the_master_key_say_so_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = civitas(dir.path(), &["keys", "rotate", "--tenant", "310000"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("civitas keys init"));
    // Listing needs none.
    assert_eq!(
        json(&civitas(dir.path(), &["keys", "list", "--json"])),
        serde_json::json!([])
    );
}
