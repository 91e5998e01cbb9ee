//! `civitas accounts`: the system administrator's terminal client of the
//! account API, against a real server socket.
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

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[tokio::test]
async fn the_system_administrator_works_on_accounts_from_a_terminal() {
    let t = TestDb::sqlite().await;
    let world = World::demo(&t).await;
    let server = world.serve().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("CIVITAS_SERVER", server.as_str()),
        ("CIVITAS_TOKEN", world.token("sys-admin")),
        ("CIVITAS_TENANT", "shanghai/pudong/huamu"),
    ];

    let created = civitas(
        dir.path(),
        &env,
        &[
            "accounts",
            "create",
            "huamu-wangfang",
            "--line",
            "civil-affairs",
            "--name",
            "王芳",
            "--phone",
            "13800138000",
            "--employee-no",
            "HM-0042",
        ],
    )
    .await;
    assert_eq!(
        created.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let text = String::from_utf8_lossy(&created.stdout);
    assert!(text.contains("138****8000"), "{text}");
    assert!(text.contains("一次性密码"), "{text}");

    let listed = civitas(
        dir.path(),
        &env,
        &["accounts", "list", "--state", "pending", "--json"],
    )
    .await;
    assert_eq!(listed.status.code(), Some(0));
    let names: Vec<String> = json(&listed)["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["huamu-wangfang"]);

    let disabled = civitas(
        dir.path(),
        &env,
        &[
            "accounts",
            "disable",
            "huamu-wangfang",
            "--reason",
            "调离",
            "--json",
        ],
    )
    .await;
    assert_eq!(disabled.status.code(), Some(0));
    assert_eq!(json(&disabled)["account"]["state"], "disabled");
    let updated = civitas(
        dir.path(),
        &env,
        &[
            "accounts",
            "update",
            "huamu-wangfang",
            "--clear",
            "phone",
            "--json",
        ],
    )
    .await;
    assert_eq!(json(&updated)["phone"], Value::Null);
    let reset = civitas(
        dir.path(),
        &env,
        &["accounts", "reset-password", "huamu-wangfang", "--json"],
    )
    .await;
    assert!(json(&reset)["one_time_password"].is_string());

    // Refused by the server: its code and message, exit 1.
    let missing = civitas(dir.path(), &env, &["accounts", "show", "nobody-here"]).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("account_not_found"));
    let sec = [env[0], ("CIVITAS_TOKEN", world.token("sec-admin")), env[2]];
    let duty = civitas(dir.path(), &sec, &["accounts", "unlock", "huamu-wangfang"]).await;
    assert_eq!(duty.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&duty.stderr).contains("separation_of_duties"));

    // A roster: the dry run names the bad row and exits 1; the import
    // writes the one-time passwords to a file only its owner reads.
    let roster = dir.path().join("花木员工.csv");
    std::fs::write(&roster, "姓名,工号,所属单位,条线,手机\n李强,HM-0100,花木街道,民政,13900139000\n赵敏,HM-0101,花木街道,房管,\n").unwrap();
    let dry = civitas(
        dir.path(),
        &env,
        &["accounts", "import", roster.to_str().unwrap(), "--dry-run"],
    )
    .await;
    assert_eq!(dry.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&dry.stderr);
    assert!(
        stderr.contains("第 3 行") && stderr.contains("条线"),
        "{stderr}"
    );
    std::fs::write(&roster, "姓名,工号,所属单位,条线,手机\n李强,HM-0100,花木街道,民政,13900139000\n赵敏,HM-0101,花木街道,人社,\n").unwrap();
    let imported = civitas(
        dir.path(),
        &env,
        &["accounts", "import", roster.to_str().unwrap()],
    )
    .await;
    assert_eq!(
        imported.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let passwords = dir.path().join("花木员工-一次性密码.csv");
    let written = std::fs::read_to_string(&passwords).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines[0], "\u{feff}用户名,姓名,所属租户,一次性密码");
    assert!(lines[1].starts_with("huamu.hm-0100,李强,310000/310115/310115016,"));
    let otp = lines[1].rsplit(',').next().unwrap();
    assert_eq!(
        world.login("huamu.hm-0100", otp).await.body["must_change_password"],
        true
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&passwords).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Importing again: refused (the accounts exist), and the passwords
    // file already there is neither overwritten nor needed.
    let again = civitas(
        dir.path(),
        &env,
        &["accounts", "import", roster.to_str().unwrap()],
    )
    .await;
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&passwords).unwrap(), written);
    let elsewhere = dir.path().join("otp2.csv");
    let taken = civitas(
        dir.path(),
        &env,
        &[
            "accounts",
            "import",
            roster.to_str().unwrap(),
            "--passwords-out",
            elsewhere.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(taken.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&taken.stderr).contains("import_rejected"));
    assert!(
        !elsewhere.exists(),
        "no passwords file for an import that created nothing"
    );

    // No server: exit 5.
    let gone = [("CIVITAS_SERVER", "http://127.0.0.1:9"), env[1], env[2]];
    let unreachable = civitas(dir.path(), &gone, &["accounts", "list"]).await;
    assert_eq!(unreachable.status.code(), Some(5));
}

#[tokio::test]
async fn every_accounts_command_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        "list",
        "show",
        "create",
        "update",
        "disable",
        "enable",
        "unlock",
        "reset-password",
        "import",
    ] {
        let help = civitas(dir.path(), &[], &["accounts", command, "--help"]).await;
        assert_eq!(help.status.code(), Some(0), "{command}");
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(text.contains("civitas accounts"), "{command}: {text}");
    }
}
