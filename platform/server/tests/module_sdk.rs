//! The module developer's path, exactly as sdk/README.md tells it:
//! `civitas module new` → `build` → `check` → `run` → `keygen` → register the
//! key → `publish` → bind → evaluate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use std::path::Path;
use std::process::Output;

use access::World;
use axum::http::StatusCode;
use civitas_testkit::{TestDb, repository_dir};
use serde_json::{Value, json};

const SERVICE: &str = "civil-affairs/meal-subsidy";

async fn civitas(args: Vec<String>, dir: &Path) -> Output {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        civitas_testkit::clean_command(env!("CARGO_BIN_EXE_civitas"), &dir)
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_module_goes_from_template_to_evaluation() {
    let work = tempfile::tempdir().unwrap();
    let repo = repository_dir().canonicalize().unwrap();
    let tenants = repo.join("tenants").display().to_string();
    let guest_target = repo.join("target/guest").display().to_string();

    let new = civitas(
        args(&[
            "module",
            "new",
            "my-meal-rule",
            "--service",
            SERVICE,
            "--tenants-dir",
            &tenants,
        ]),
        work.path(),
    )
    .await;
    assert!(
        new.status.success(),
        "{}",
        String::from_utf8_lossy(&new.stderr)
    );
    let crate_dir = work.path().join("my-meal-rule");
    assert!(crate_dir.join("src/lib.rs").is_file() && crate_dir.join("examples").is_dir());
    // It depends on the SDK by version; this installation's copy patches the
    // registry's in (an intranet without a registry does the same).
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("civitas-module = \"0.1\""), "{manifest}");
    let config = std::fs::read_to_string(crate_dir.join(".cargo/config.toml")).unwrap();
    assert!(config.contains("[patch.crates-io]"), "{config}");
    assert!(
        config.contains(&repo.join("sdk/rust").display().to_string()),
        "{config}"
    );

    let component = work
        .path()
        .join("my-meal-rule-0.1.0.wasm")
        .display()
        .to_string();
    let build = civitas(
        args(&[
            "module",
            "build",
            "my-meal-rule",
            "--target-dir",
            &guest_target,
            "--out",
            &component,
            "--json",
        ]),
        work.path(),
    )
    .await;
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    assert_eq!(stdout_json(&build)["name"], "my-meal-rule");

    let check = civitas(
        args(&[
            "module",
            "check",
            &component,
            "--service",
            SERVICE,
            "--tenants-dir",
            &tenants,
            "--json",
        ]),
        work.path(),
    )
    .await;
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let report = stdout_json(&check);
    assert_eq!(report["passed"], true);
    let checks: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "exports",
            "output_schema",
            "deterministic",
            "fuel_budget",
            "malformed_input"
        ]
    );

    let run = civitas(
        args(&[
            "module",
            "run",
            &component,
            "--service",
            SERVICE,
            "--tenant",
            "shanghai/xuhui",
            "--input",
            "my-meal-rule/examples/general-72-local.json",
            "--as-of",
            "2026-11-23",
            "--tenants-dir",
            &tenants,
            "--json",
        ]),
        work.path(),
    )
    .await;
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let ran = stdout_json(&run);
    assert_eq!(ran["output"]["eligible"], true);
    assert_eq!(
        ran["output"]["per_meal_fen"], 300,
        "the city's general amount"
    );
    assert!(ran["fuel_used"].as_u64().unwrap() > 0);

    // A platform to publish to, on a real socket.
    let t = TestDb::sqlite().await;
    let world = World::demo(&t).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    let app = world
        .app
        .clone()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // The key is made and registered in one step, as the token's account;
    // a refused registration leaves no key file behind.
    let keygen = |out: &str, token: &str| {
        civitas(
            args(&[
                "module",
                "keygen",
                "--out",
                out,
                "--register",
                "--server",
                &server,
                "--token",
                token,
                "--json",
            ]),
            work.path(),
        )
    };
    // A citizen may not publish: the server refuses the key.
    let refused = keygen("refused.pem", world.token("citizen-demo")).await;
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(stdout_json(&refused)["status"], 403);
    let unknown = keygen("unknown.pem", "not-a-token").await;
    assert!(!unknown.status.success());
    assert!(!work.path().join("unknown.pem").exists());
    assert!(
        !work.path().join("refused.pem").exists(),
        "no key file is left behind"
    );
    let keygen = keygen("signing.pem", world.token("module-dev")).await;
    assert!(
        keygen.status.success(),
        "{}{}",
        String::from_utf8_lossy(&keygen.stdout),
        String::from_utf8_lossy(&keygen.stderr)
    );
    let made = stdout_json(&keygen);
    assert_eq!(
        made["registered"]["public_key"], made["public_key"],
        "{made}"
    );
    let again = civitas(
        args(&[
            "module",
            "keygen",
            "--out",
            "signing.pem",
            "--username",
            "module-dev",
        ]),
        work.path(),
    )
    .await;
    assert!(!again.status.success(), "a key file is never overwritten");
    // Without --register, the body to register is printed instead.
    let offline = civitas(
        args(&[
            "module",
            "keygen",
            "--out",
            "offline.pem",
            "--username",
            "module-dev",
            "--json",
        ]),
        work.path(),
    )
    .await;
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    assert!(stdout_json(&offline)["registration"]["proof"].is_string());

    let publish = civitas(
        args(&[
            "module",
            "publish",
            &component,
            "--service",
            SERVICE,
            "--version",
            "0.1.0",
            "--key",
            "signing.pem",
            "--server",
            &server,
            "--token",
            world.token("module-dev"),
            "--json",
        ]),
        work.path(),
    )
    .await;
    assert!(
        publish.status.success(),
        "{}",
        String::from_utf8_lossy(&publish.stdout)
    );
    assert_eq!(stdout_json(&publish)["response"]["name"], "my-meal-rule");
    let republish = civitas(
        args(&[
            "module",
            "publish",
            &component,
            "--service",
            SERVICE,
            "--version",
            "0.1.0",
            "--key",
            "signing.pem",
            "--server",
            &server,
            "--token",
            world.token("module-dev"),
        ]),
        work.path(),
    )
    .await;
    assert_eq!(republish.status.code(), Some(1), "versions are immutable");

    let bound = world
        .call(
            "PUT",
            &format!("/api/v1/tenants/shanghai/xuhui/bindings/{SERVICE}"),
            Some(world.token("city-admin")),
            Some(json!({"module": "my-meal-rule", "version": "0.1.0"})),
        )
        .await;
    assert_eq!(bound.status, StatusCode::OK, "{}", bound.body);
    let evaluated = world
        .call("POST", &format!("/api/v1/tenants/310000/310104/310104014/services/{SERVICE}/evaluate"),
              Some(world.token("city-admin")),
              Some(json!({"input": {"birth_date": "1954-03-02", "household_registration": "local",
                                    "living_alone": false, "disability_grade": 0, "economic_status": "none"}})))
        .await;
    assert_eq!(evaluated.status, StatusCode::OK, "{}", evaluated.body);
    assert_eq!(evaluated.body["module"], "my-meal-rule");
    assert_eq!(evaluated.body["binding_tenant"], "310000/310104");
    assert_eq!(evaluated.body["output"]["eligible"], true);
}
