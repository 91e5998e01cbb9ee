//! The `civitas` binary as an operator uses it: serve, stop, validate,
//! list, migrate, configure, export traces.

use crate::support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use civitas_testkit::TestDb;
use serde_json::Value;
use support::server::{Server, on_demo_database, with_demo_modules};

const CIVITAS: &str = env!("CARGO_BIN_EXE_civitas");

/// A master key for servers started without `--demo`.
const MASTER_KEY: &str = "0123456789abcdeffedcba9876543210";

/// A `civitas` command run in `dir` with a clean environment for our
/// variables.
fn civitas(dir: &Path) -> Command {
    civitas_testkit::clean_command(CIVITAS, dir)
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("run civitas: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A work directory with a copy of the repository's tenants/.
fn workdir() -> tempfile::TempDir {
    civitas_testkit::tenants_copy()
}

#[test]
fn serve_demo_on_sqlite_serves_the_tree_and_stops_cleanly_on_sigterm() {
    let dir = workdir();
    let server = Server::start(civitas(dir.path()).args(["serve", "--demo"]));
    let (status, tree) = server.get("/api/v1/tenants");
    assert_eq!(status, 200);
    assert_eq!(tree["tenants"][0]["name"], "上海市");
    let districts = tree["tenants"][0]["children"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(districts, 3);
    let (status, ready) = server.get("/readyz");
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        (&ready["status"], &ready["database"]),
        (&serde_json::json!("ready"), &serde_json::json!("sqlite"))
    );
    assert_eq!(ready["search"]["backend"], "tantivy", "{ready}");
    assert!(
        dir.path().join("data/civitas.db").exists(),
        "the embedded database is created in ./data"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = std::fs::metadata(dir.path().join("data/master.key"))
            .unwrap_or_else(|e| panic!("the demo generates its master key: {e}"));
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
    }

    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(
        log.contains("demo data is loaded"),
        "demo mode warns: {log}"
    );
    assert!(log.contains("generated a master key for the demo"), "{log}");

    // Seeding is idempotent: a second start on the same data works.
    let again = Server::start(civitas(dir.path()).args(["serve", "--demo"]));
    assert_eq!(again.get("/readyz").0, 200);
    let (code, log) = again.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        !log.contains("demo city seeded"),
        "nothing seeded twice: {log}"
    );

    // A node with another platform key than the one that signed the
    // database's tree revisions refuses to start (the demo makes itself a
    // new key when its own is gone).
    for file in ["platform.pem", "platform.pub.pem"] {
        std::fs::remove_file(dir.path().join("data").join(file)).ok();
    }
    let other_key = run(civitas(dir.path()).args(["serve", "--demo", "--listen", "127.0.0.1:0"]));
    assert_eq!(
        other_key.status.code(),
        Some(3),
        "exit code 3: configuration"
    );
    assert!(
        text(&other_key.stderr).contains("the signature is not the platform key's"),
        "{}",
        text(&other_key.stderr)
    );
}

#[test]
fn demo_accounts_sign_in_see_who_they_are_and_sign_out() {
    let dir = workdir();
    let server = Server::start(civitas(dir.path()).args(["serve", "--demo"]));
    let login = |username: &str, password: &str| {
        server.request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({"username": username, "password": password})),
        )
    };
    let (status, tokens) = login("pudong-reviewer", "Civitas#2026");
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let (status, me) = server.request("GET", "/api/v1/me", Some(&access), None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (
            me["username"].as_str(),
            me["tenant"].as_str(),
            me["line"].as_str()
        ),
        (
            Some("pudong-reviewer"),
            Some("310000/310115"),
            Some("civil-affairs")
        )
    );

    // A revoked grant stops counting on the running server within seconds.
    let runtime = support::pages::runtime();
    runtime.block_on(async {
        let db = civitas_storage::Database::connect(&format!(
            "sqlite:{}",
            dir.path().join("data/civitas.db").display()
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let grant = civitas_authz::Grant {
            account: me["account_id"].as_str().unwrap_or_default().to_owned(),
            tenant: civitas_tenancy::TenantPath::parse("310000/310115")
                .unwrap_or_else(|e| panic!("{e}")),
            line: "civil-affairs".into(),
            role: "reviewer".into(),
        };
        assert!(
            civitas_authz::remove_grant(&db, &grant, "sec-admin")
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
    });
    let mut roles = me["roles"].clone();
    for _ in 0..100 {
        roles = server.request("GET", "/api/v1/me", Some(&access), None).1["roles"].clone();
        if roles == serde_json::json!([]) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(roles, serde_json::json!([]), "the index was reloaded");

    // The token verifies with the published key.
    let (status, key) = server.get("/.well-known/civitas/platform-key");
    assert_eq!(status, 200);
    assert_eq!(
        key["public_key_pem"].as_str(),
        std::fs::read_to_string(dir.path().join("data/platform.pub.pem"))
            .ok()
            .as_deref()
    );

    // Every failure is one answer; no token is 401 unauthenticated.
    let (wrong, wrong_body) = login("pudong-reviewer", "Wrong#2026");
    let (unknown, unknown_body) = login("nobody", "Civitas#2026");
    assert_eq!((wrong, unknown), (401, 401));
    assert_eq!(wrong_body["code"], "invalid_credentials");
    assert_eq!(wrong_body["message"], unknown_body["message"]);
    assert_eq!(server.get("/api/v1/me").1["code"], "unauthenticated");
    assert_eq!(
        server
            .request("GET", "/api/v1/me", Some("v1.forged.token"), None)
            .1["code"],
        "token_invalid"
    );

    // Refresh gives a new pair; sign-out ends the session at the next request.
    let (status, refreshed) = server.request(
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(serde_json::json!({"refresh_token": tokens["refresh_token"]})),
    );
    assert_eq!(status, 200, "{refreshed}");
    let (status, _) = server.request("POST", "/api/v1/auth/logout", Some(&access), None);
    assert_eq!(status, 204);
    let (status, after) = server.request("GET", "/api/v1/me", Some(&access), None);
    assert_eq!(
        (status, after["code"].as_str()),
        (401, Some("session_ended"))
    );

    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn serve_signs_audit_anchors_with_the_platform_key() {
    let dir = workdir();
    let server =
        Server::start(civitas(dir.path()).args(["serve", "--demo", "--anchor-interval-secs", "1"]));
    // The demo generated the platform key pair; the first anchoring runs at start.
    let public = dir.path().join("data/platform.pub.pem");
    let mut anchors = 0;
    for _ in 0..100 {
        let output = run(civitas(dir.path())
            .args(["audit", "verify", "--json", "--pub"])
            .arg(&public));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        anchors = report["anchors"].as_u64().unwrap_or(0);
        if anchors > 0 {
            assert_eq!(output.status.code(), Some(0), "{report}");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        anchors >= 2,
        "one anchor per root chain (Shanghai, Sichuan): {anchors}\n{log}"
    );
}

#[test]
fn serve_without_a_master_key_refuses_to_start_and_says_how_to_make_one() {
    let dir = workdir();
    let output = run(civitas(dir.path()).args(["serve", "--listen", "127.0.0.1:0"]));
    assert_eq!(output.status.code(), Some(3), "exit code 3: configuration");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("civitas keys init"), "{stderr}");
    assert!(!dir.path().join("data/master.key").exists());

    let bad = run(civitas(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("CIVITAS_MASTER_KEY", "not-a-key"));
    assert_eq!(bad.status.code(), Some(3));
    assert!(
        text(&bad.stderr).contains("CIVITAS_MASTER_KEY"),
        "{}",
        text(&bad.stderr)
    );
}

/// A node started with another master key than the one the database's
/// keys were wrapped with refuses to start (it would fail on every sealed
/// field and seal what no other node can open); with the key rotated in —
/// the new one first, the old one still held — it starts.
#[test]
fn a_node_with_another_master_key_than_the_databases_refuses_to_start() {
    let dir = workdir();
    let first = Server::start(
        civitas(dir.path())
            .arg("serve")
            .env("CIVITAS_MASTER_KEY", MASTER_KEY),
    );
    let (status, ready) = first.get("/readyz");
    assert_eq!(status, 200, "{ready}");
    let (code, log) = first.terminate();
    assert_eq!(code, Some(0), "{log}");

    const OTHER: &str = "00112233445566778899aabbccddeeff";
    let refused = run(civitas(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("CIVITAS_MASTER_KEY", OTHER));
    assert_eq!(refused.status.code(), Some(3), "exit code 3: configuration");
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("缺少主密钥") && stderr.contains("master key"),
        "{stderr}"
    );

    let rotated = Server::start(
        civitas(dir.path())
            .arg("serve")
            .env("CIVITAS_MASTER_KEY", format!("{OTHER}\n{MASTER_KEY}")),
    );
    let (status, ready) = rotated.get("/readyz");
    assert_eq!(status, 200, "{ready}");
    let (code, log) = rotated.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// A self-signed certificate for 127.0.0.1 and its P-256 key, as
/// `dir/{name}.crt` and `dir/{name}.key`, made by the openssl command as an
/// operator's own CA would issue one.
fn certificate(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let made = run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=civitas-test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    assert!(made.status.success(), "openssl: {}", text(&made.stderr));
    (cert, key)
}

/// `curl` of `url` trusting `ca`: the status, or 0 when no HTTP answer
/// came (a refused handshake), and what curl said.
fn curl(url: &str, ca: &Path) -> (u16, String) {
    let out = run(Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg("--cacert")
        .arg(ca)
        .arg(url));
    (
        text(&out.stdout).trim().parse().unwrap_or(0),
        text(&out.stderr),
    )
}

#[test]
fn serve_with_a_certificate_answers_over_tls_and_refuses_a_key_that_is_not_the_certificates() {
    let dir = workdir();
    let (cert, key) = certificate(dir.path(), "node");
    let (_, other_key) = certificate(dir.path(), "other");

    // A key that is not the certificate's, or a certificate without its
    // key: refused before anything listens, exit 3, the problem named.
    let mismatched = run(civitas(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&other_key)
        .env("CIVITAS_MASTER_KEY", MASTER_KEY));
    assert_eq!(
        mismatched.status.code(),
        Some(3),
        "{}",
        text(&mismatched.stderr)
    );
    assert!(
        text(&mismatched.stderr).contains("TLS"),
        "{}",
        text(&mismatched.stderr)
    );
    let alone = run(civitas(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(&cert)
        .env("CIVITAS_MASTER_KEY", MASTER_KEY));
    assert_eq!(alone.status.code(), Some(3), "{}", text(&alone.stderr));
    assert!(
        text(&alone.stderr).contains("tls_key"),
        "{}",
        text(&alone.stderr)
    );

    let server = Server::start(
        civitas(dir.path())
            .arg("serve")
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .env("CIVITAS_MASTER_KEY", MASTER_KEY),
    );
    assert!(
        server
            .log
            .lock()
            .map(|l| l.iter().any(|l| l.contains("serving on https://")))
            .unwrap_or(false),
        "the node says it serves https"
    );
    // A client that trusts the certificate is answered; a plain-HTTP
    // request to the same port is not (the port speaks TLS only).
    let (status, said) = curl(&format!("https://{}/healthz", server.address), &cert);
    assert_eq!(status, 200, "{said}");
    let (status, said) = curl(
        &format!("https://{}/api/v1/services", server.address),
        &cert,
    );
    assert_eq!(status, 200, "{said}");
    let (status, _) = curl(&format!("http://{}/healthz", server.address), &cert);
    assert_ne!(status, 200, "plain HTTP on the TLS port");
    // A client that does not trust it does not get through the handshake.
    let (status, said) = curl(
        &format!("https://{}/healthz", server.address),
        &other_key.with_extension("crt"),
    );
    assert_eq!(status, 0, "{said}");
    eprintln!(
        "TLS: answered over https with the node's certificate; plain HTTP and an untrusting client refused"
    );
    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn serve_on_postgres_from_database_url() {
    let Some(t) = support::pages::runtime().block_on(TestDb::postgres()) else {
        return;
    };
    let dir = workdir();
    let server = Server::start(
        civitas(dir.path())
            .arg("serve")
            .env("DATABASE_URL", &t.url)
            .env("CIVITAS_MASTER_KEY", MASTER_KEY),
    );
    let (status, ready) = server.get("/readyz");
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        (&ready["status"], &ready["database"]),
        (&serde_json::json!("ready"), &serde_json::json!("postgres"))
    );
    let (status, pudong) = server.get("/api/v1/tenants/shanghai/pudong");
    assert_eq!(status, 200);
    assert_eq!(pudong["tenant"]["path"], "310000/310115");
    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        !dir.path().join("data/civitas.db").exists(),
        "no SQLite file when PostgreSQL is used"
    );
}

#[test]
fn serve_refuses_to_start_on_an_invalid_tree_and_names_the_file() {
    let dir = workdir();
    let pudong = dir.path().join("tenants/shanghai/310115-pudong.toml");
    let original = std::fs::read_to_string(&pudong).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &pudong,
        original.replace("parent = \"310000\"", "parent = \"310999\""),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let output = run(civitas(dir.path()).args(["serve", "--listen", "127.0.0.1:0"]));
    assert_eq!(
        output.status.code(),
        Some(3),
        "exit code 3: invalid configuration"
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("shanghai/310115-pudong.toml:3: 上级不存在 (unknown parent): 310999"),
        "{stderr}"
    );
    assert!(stderr.contains("the server did not start"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

#[test]
fn tenant_validate_reports_every_problem_with_exit_code_1() {
    let dir = workdir();
    let ok = run(civitas(dir.path()).args(["tenant", "validate"]));
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let shipped = civitas_testkit::demo_tree().len();
    assert!(
        text(&ok.stdout).contains(&format!("共 {shipped} 个租户")),
        "{}",
        text(&ok.stdout)
    );

    let broken = dir.path().join("tenants/shanghai/310101013-waitan.toml");
    std::fs::write(&broken, "code = \"31010101\"\nlevel = \"street\"\nparent = \"310101\"\nname = \"外滩街道\"\nname_en = \"The Bund\"\nslug = \"waitan\"\nlines = [\"fisheries\"]\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let bad = run(civitas(dir.path()).args(["tenant", "validate", "tenants", "--json"]));
    assert_eq!(bad.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&bad.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report["valid"], false);
    let problems = report["problems"].as_array().cloned().unwrap_or_default();
    assert_eq!(problems.len(), 2, "{report}");
    assert!(
        problems
            .iter()
            .all(|p| p["file"] == "shanghai/310101013-waitan.toml"),
        "{report}"
    );
    assert_eq!(problems[0]["line"], 1, "the bad code");
    assert_eq!(problems[1]["line"], 7, "the unknown line");
}

#[test]
fn tenant_list_and_show_read_the_configuration() {
    let dir = workdir();
    let list = run(civitas(dir.path()).args(["tenant", "list", "--json"]));
    assert_eq!(list.status.code(), Some(0));
    let tenants: Value = serde_json::from_slice(&list.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        tenants.as_array().map(Vec::len),
        Some(civitas_testkit::demo_tree().len())
    );
    let plain = text(&run(civitas(dir.path()).args(["tenant", "list"])).stdout);
    assert!(
        plain.contains("    陆家嘴街道 Lujiazui Subdistrict  [street]  310000/310115/310115005"),
        "{plain}"
    );

    let show = run(civitas(dir.path()).args(["tenant", "show", "shanghai/xuhui", "--json"]));
    let xuhui: Value = serde_json::from_slice(&show.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(xuhui["tenant"]["path"], "310000/310104");
    assert_eq!(xuhui["children"].as_array().map(Vec::len), Some(3));

    let missing = run(civitas(dir.path()).args(["tenant", "show", "shanghai/atlantis"]));
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("tenant not found"));
}

#[test]
fn migrate_applies_once_and_reports_json() {
    let dir = workdir();
    let first = run(civitas(dir.path()).args(["migrate", "--json"]));
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let first: Value = serde_json::from_slice(&first.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert!(first["applied"].as_u64().unwrap_or(0) >= 1);
    let second = run(civitas(dir.path()).args(["migrate", "--json"]));
    let second: Value = serde_json::from_slice(&second.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second["applied"], 0);

    let unreachable = run(civitas(dir.path()).args([
        "migrate",
        "--database-url",
        "postgres://nobody@127.0.0.1:1/none",
    ]));
    assert_eq!(
        unreachable.status.code(),
        Some(4),
        "exit code 4: database unavailable"
    );
}

#[test]
fn settings_come_from_flags_then_environment_then_file() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("civitas.toml"),
        "listen = \"127.0.0.1:7001\"\ndata_dir = \"/srv/civitas\"\nbody_limit = 4096\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let print = |command: &mut Command| -> Value {
        let output = run(command.args(["serve", "--print-config"]));
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}"))
    };
    let from_file = print(&mut civitas(dir.path()));
    assert_eq!(from_file["listen"], "127.0.0.1:7001");
    assert_eq!(from_file["database_url"], "sqlite:/srv/civitas/civitas.db");
    assert_eq!(from_file["body_limit"], 4096);

    let from_env = print(civitas(dir.path()).env("CIVITAS_LISTEN", "127.0.0.1:7002"));
    assert_eq!(from_env["listen"], "127.0.0.1:7002");
    assert_eq!(
        from_env["body_limit"], 4096,
        "the file still fills the rest"
    );

    let mut flagged = civitas(dir.path());
    flagged.env("CIVITAS_LISTEN", "127.0.0.1:7002");
    let output = run(flagged.args(["serve", "--listen", "127.0.0.1:7003", "--print-config"]));
    let from_flag: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from_flag["listen"], "127.0.0.1:7003");

    let database = print(civitas(dir.path()).env("DATABASE_URL", "postgres://civitas@db/civitas"));
    assert_eq!(database["database_url"], "postgres://civitas@db/civitas");

    std::fs::write(dir.path().join("civitas.toml"), "listne = \"typo\"\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = run(civitas(dir.path()).args(["serve", "--print-config"]));
    assert_eq!(refused.status.code(), Some(3));
    assert!(
        text(&refused.stderr).contains("listne"),
        "{}",
        text(&refused.stderr)
    );
}

#[test]
fn every_command_has_help_with_an_example() {
    let dir = workdir();
    for args in [
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["tenant", "list", "--help"],
        vec!["tenant", "show", "--help"],
        vec!["tenant", "validate", "--help"],
        vec!["keys", "init", "--help"],
        vec!["keys", "provision", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["admin", "init", "--help"],
        vec!["search", "reindex", "--help"],
        vec!["search", "status", "--help"],
        vec!["entitlements", "run", "--help"],
        vec!["backup", "--help"],
        vec!["restore", "--help"],
        vec!["export", "--help"],
    ] {
        let output = run(civitas(dir.path()).args(&args));
        assert_eq!(output.status.code(), Some(0));
        assert!(text(&output.stdout).contains("Examples:"), "{args:?}");
    }
    let usage = run(civitas(dir.path()).args(["serve", "--no-such-flag"]));
    assert_eq!(usage.status.code(), Some(2), "usage errors exit 2");
}

/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, request spans reach an OTLP/HTTP
/// collector (here a minimal one in the test that records what it gets).
#[test]
fn traces_are_exported_over_otlp_when_an_endpoint_is_set() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    /// What the collector received: path, content type, body.
    type Received = Vec<(String, String, Vec<u8>)>;
    let received: Arc<Mutex<Received>> = Arc::new(Mutex::new(Vec::new()));
    let collector = {
        let received = received.clone();
        axum::Router::new().fallback(move |request: axum::extract::Request| {
            let received = received.clone();
            async move {
                let path = request.uri().path().to_owned();
                let content_type = request
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body = axum::body::to_bytes(request.into_body(), 16 * 1024 * 1024)
                    .await
                    .unwrap_or_default();
                if let Ok(mut received) = received.lock() {
                    received.push((path, content_type, body.to_vec()));
                }
                axum::http::StatusCode::OK
            }
        })
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap_or_else(|e| panic!("{e}"));
    let collector_address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    runtime.spawn(async move { axum::serve(listener, collector).await });

    let dir = workdir();
    let server = Server::start(
        civitas(dir.path())
            .arg("serve")
            .env("CIVITAS_MASTER_KEY", MASTER_KEY)
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{collector_address}"),
            )
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            // The test is the gateway whose trace context is honoured.
            .env("CIVITAS_TRUSTED_PROXIES", "127.0.0.1"),
    );
    assert_eq!(server.get("/api/v1/tenants/shanghai").0, 200);
    // A trusted gateway's W3C trace context: the request's span joins that
    // trace.
    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let joined = runtime.block_on(async {
        reqwest::Client::new()
            .get(server.url("/api/v1/tenants/shanghai/pudong"))
            .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert_eq!(joined.ok(), Some(200));
    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("exporting traces over OTLP"), "{log}");

    let received = received.lock().map(|r| r.clone()).unwrap_or_default();
    let traces: Vec<_> = received
        .iter()
        .filter(|(path, _, _)| path == "/v1/traces")
        .collect();
    assert!(!traces.is_empty(), "no OTLP export arrived: {received:?}");
    assert!(traces.iter().all(
        |(_, content_type, body)| content_type == "application/x-protobuf" && !body.is_empty()
    ));
    // Protobuf carries the trace id as its 16 raw bytes.
    let trace_id: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&TRACE_ID[2 * i..2 * i + 2], 16).unwrap_or_default())
        .collect();
    assert!(
        traces
            .iter()
            .any(|(_, _, body)| body.windows(16).any(|w| w == trace_id.as_slice())),
        "no exported span is in the caller's trace {TRACE_ID}"
    );
}

/// Two `civitas serve` processes on one PostgreSQL database: every due
/// timer fires exactly once, and both processes take part.
///
/// To make the race certain rather than likely, the test holds the audit
/// chain of the cases' street while the timers become due: each process
/// claims its own batch (`FOR UPDATE SKIP LOCKED`, 100 at a time) and waits
/// on the chain; only when both are seen waiting does the test let go.
#[test]
fn two_servers_on_one_postgres_fire_each_due_timer_once() {
    use sqlx::{Connection, Row};
    const LUJIAZUI: &str = "310000/310115/310115005";
    // Three timers per case (reminder, overdue, escalation): more than one
    // process's batch of 100.
    const CASES: usize = 40;

    let runtime = support::pages::runtime();
    let Some(t) = runtime.block_on(TestDb::postgres()) else {
        return;
    };
    let dir = workdir();
    // The demo's meal-subsidy modules decide eligibility at submission.
    let serve = |dir: &Path, node: &str| {
        let mut command = node_on_postgres(dir, &t.url, node);
        command.args(["--timer-interval-secs", "1"]);
        command
    };
    let first = Server::start(&mut serve(dir.path(), "search-a"));
    let second = Server::start(&mut serve(dir.path(), "search-b"));

    let token = first.sign_in("citizen-demo");
    for n in 0..CASES {
        // Both servers take applications.
        let server = if n % 2 == 0 { &first } else { &second };
        let (status, case) = server.request(
            "POST",
            &format!("/api/v1/tenants/{LUJIAZUI}/cases"),
            Some(&token),
            Some(meal_subsidy_application()),
        );
        assert_eq!(status, 201, "{case}");
    }

    let fired_by = runtime.block_on(async {
        let mut holder = sqlx::PgConnection::connect(&t.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut admin = sqlx::PgConnection::connect(&t.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let timers: i64 = sqlx::query_scalar("SELECT count(*) FROM case_timers")
            .fetch_one(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(timers, 3 * CASES as i64, "reminder, overdue, escalation per case");

        // Hold Lujiazui's audit chain, then make every timer due. Two real
        // `serve` processes fire on the system clock, which a test cannot
        // move: here, and only here, the rows are moved instead (in-process
        // tests move the workflow's `Clock`).
        let mut hold = holder.begin().await.unwrap_or_else(|e| panic!("{e}"));
        sqlx::query("SELECT seq FROM audit_heads WHERE tenant_path = $1 FOR UPDATE")
            .bind(LUJIAZUI)
            .fetch_one(&mut *hold)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *hold)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query("UPDATE case_timers SET fire_at = fire_at - 100000000000000")
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        // Both processes have claimed a batch and wait on the chain.
        let started = Instant::now();
        loop {
            let waiting: i64 = sqlx::query_scalar(
                // Directly or behind the other process in the lock queue.
                "WITH RECURSIVE waiting(pid) AS ( \
                     SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)) \
                     UNION SELECT a.pid FROM pg_stat_activity a JOIN waiting w \
                         ON w.pid = ANY(pg_blocking_pids(a.pid))) \
                 SELECT count(*) FROM waiting",
            )
            .bind(holder_pid)
            .fetch_one(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            if waiting >= 2 {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                let activity: Vec<String> = sqlx::query(
                    "SELECT pid, state, wait_event_type, wait_event, pg_blocking_pids(pid)::text AS b, query \
                     FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle'",
                )
                .fetch_all(&mut admin)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .map(|r| {
                    format!(
                        "{:?} {:?} {:?} {:?} {:?} {:?}",
                        r.get::<i32, _>("pid"),
                        r.get::<Option<String>, _>("state"),
                        r.get::<Option<String>, _>("wait_event_type"),
                        r.get::<Option<String>, _>("wait_event"),
                        r.get::<Option<String>, _>("b"),
                        r.get::<Option<String>, _>("query"),
                    )
                })
                .collect();
                panic!(
                    "both servers should be waiting on the held audit chain ({waiting} waiting, holder {holder_pid}):\n{}\n--- first\n{}\n--- second\n{}",
                    activity.join("\n"),
                    first.log.lock().map(|l| l.join("\n")).unwrap_or_default(),
                    second.log.lock().map(|l| l.join("\n")).unwrap_or_default(),
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        hold.rollback().await.unwrap_or_else(|e| panic!("{e}"));

        // Every timer fires.
        let started = Instant::now();
        loop {
            let unfired: i64 =
                sqlx::query_scalar("SELECT count(*) FROM case_timers WHERE fired_at IS NULL")
                    .fetch_one(&mut admin)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            if unfired == 0 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{unfired} timers still unfired"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Once each: one audit record, one notification, one history entry
        // per timer.
        for (table, column) in [
            ("audit_events", "detail::json->>'timer'"),
            ("notifications", "timer_id"),
            ("case_events", "detail::json->>'timer'"),
        ] {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {column} AS timer, count(*) AS n FROM {table} \
                 WHERE {column} IS NOT NULL GROUP BY 1"
            )))
            .fetch_all(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
            assert_eq!(rows.len(), 3 * CASES, "{table}: a row for every timer");
            for row in rows {
                let n: i64 = row.get("n");
                let timer: String = row.get("timer");
                assert_eq!(n, 1, "{table}: timer {timer} recorded {n} times");
            }
        }
        let rows = sqlx::query("SELECT DISTINCT fired_by FROM case_timers")
            .fetch_all(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        rows.iter()
            .map(|r| r.get::<String, _>("fired_by"))
            .collect::<Vec<_>>()
    });
    assert_eq!(
        fired_by.len(),
        2,
        "both processes fired timers: {fired_by:?}"
    );
    for server in [first, second] {
        let (code, log) = server.terminate();
        assert_eq!(code, Some(0), "{log}");
    }
}

/// One embedded search index per database. On PostgreSQL the index of the
/// node that starts second stands by: its searches answer 503
/// `search_standby` and its readiness says so (and stays 200), while the
/// first node's index applies every change, whichever node made it. When
/// the first node stops, the second's index, once the first has gone unseen
/// for `--search-takeover-secs`, rebuilds itself from the database and
/// takes over: it finds what only the first had applied, and the portal's
/// services again.
#[test]
fn a_second_nodes_embedded_index_stands_by_and_takes_over_rebuilt_when_the_first_stops() {
    const LUJIAZUI: &str = "310000/310115/310115005";
    let runtime = support::pages::runtime();
    let Some(t) = runtime.block_on(TestDb::postgres()) else {
        return;
    };
    let dir = workdir();
    let serve = |node: &str| {
        let mut command = node_on_postgres(dir.path(), &t.url, node);
        command.args(["--search-takeover-secs", "3"]);
        command
    };
    let role = |server: &Server| {
        let (status, ready) = server.get("/readyz");
        assert_eq!(status, 200, "{ready}");
        ready["search"]["role"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let until_role = |server: &Server, wanted: &str| {
        let started = Instant::now();
        loop {
            let now = role(server);
            if now == wanted {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the role is {now}, never {wanted}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // Each node serves at once. The first's index, new over the demo's
    // rows, is rebuilt on its indexer's first turn and then holds the
    // outbox; the second's, started then, stands by.
    let first = Server::start(&mut serve("search-a"));
    until_role(&first, "applying");
    let second = Server::start(&mut serve("search-b"));
    until_role(&second, "standing_by");
    assert_eq!(role(&first), "applying");

    // A case submitted through the second node is indexed by the first.
    let citizen = second.sign_in("citizen-demo");
    let (status, case) = second.request(
        "POST",
        &format!("/api/v1/tenants/{LUJIAZUI}/cases"),
        Some(&citizen),
        Some(meal_subsidy_application()),
    );
    assert_eq!(status, 201, "{case}");
    let hit = format!("case:{}", case["id"].as_str().unwrap_or_default());
    let officer = first.sign_in("lujiazui-officer");
    let search = format!(
        "/api/v1/search?kind=case&q={}",
        case["id"].as_str().unwrap_or_default()
    );
    let finds = |server: &Server| {
        let (status, body) = server.request("GET", &search, Some(&officer), None);
        (
            status == 200
                && body["hits"]
                    .as_array()
                    .is_some_and(|hits| hits.iter().any(|h| h["id"] == hit.as_str())),
            body,
        )
    };
    let started = Instant::now();
    while !finds(&first).0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first node never finds {hit}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, standby) = second.request("GET", &search, Some(&officer), None);
    assert_eq!(
        (status, standby["code"].as_str()),
        (503, Some("search_standby")),
        "{standby}"
    );
    let services = format!("/api/v1/tenants/{LUJIAZUI}/services/search?q=zcbt");
    assert_eq!(second.get(&services).0, 503);

    // The first node stops; the second takes over, rebuilt.
    let (code, log) = first.terminate();
    assert_eq!(code, Some(0), "{log}");
    until_role(&second, "applying");
    let (found, body) = finds(&second);
    assert!(
        found,
        "after taking over, the second node finds {hit}: {body}"
    );
    let (status, body) = second.get(&services);
    assert_eq!(status, 200, "{body}");
    let found: Vec<&Value> = body["hits"]
        .as_array()
        .map(|h| h.iter().map(|h| &h["service"]).collect())
        .unwrap_or_default();
    assert_eq!(found, ["civil-affairs/meal-subsidy"], "{body}");
}

/// `civitas serve --demo` as one node of several on the PostgreSQL at
/// `url`: the demo's modules, the nodes' shared master key, and an embedded
/// search index in `search_dir` of its own (one directory holds one node's
/// index: its writer is locked).
fn node_on_postgres(dir: &Path, url: &str, search_dir: &str) -> Command {
    let mut command = civitas(dir);
    with_demo_modules(&mut command)
        .args(["serve", "--demo", "--search-dir", search_dir])
        .env("DATABASE_URL", url)
        .env("CIVITAS_MASTER_KEY", MASTER_KEY);
    command
}

/// A community under Lujiazui that the repository's tree does not have.
const THIRD_COMMUNITY: &str = "code = \"310115005003\"\nlevel = \"community\"\n\
    parent = \"310115005\"\nname = \"陆家嘴演示社区三\"\nname_en = \"Lujiazui Demo Community 3\"\n\
    slug = \"community-3\"\nlines = [\"civil-affairs\"]\n";

/// Polls `get` until it answers `status`; the time it took.
fn until_status(server: &Server, path: &str, status: u16) -> Duration {
    let started = Instant::now();
    loop {
        let (got, _) = server.get(path);
        if got == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{path} still answers {got}, not {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_servers_with_different_tenants_directories_agree_on_one_tree_and_its_settings() {
    let runtime = support::pages::runtime();
    let Some(t) = runtime.block_on(TestDb::postgres()) else {
        return;
    };
    let keys = workdir();
    let platform_key = keys.path().join("platform.pem");
    // The demo's meal-subsidy modules read the settings changed below.
    let command = |dir: &Path, args: &[&str]| {
        let mut command = civitas(dir);
        with_demo_modules(&mut command)
            .args(args)
            .env("DATABASE_URL", &t.url)
            .env("CIVITAS_MASTER_KEY", MASTER_KEY)
            .env("CIVITAS_PLATFORM_KEY_FILE", &platform_key);
        command
    };
    let third = "/api/v1/tenants/shanghai/pudong/lujiazui/community-3";
    let first_community = "/api/v1/tenants/shanghai/pudong/lujiazui/community-1";

    // The first node on an empty database: its directory becomes revision 1.
    let old = workdir();
    let first = Server::start(&mut command(old.path(), &["serve", "--demo"]));
    assert_eq!(first.get(third).0, 404);

    // A newer directory, planned against the database and applied.
    let new = workdir();
    std::fs::write(
        new.path()
            .join("tenants/shanghai/310115005003-demo-community.toml"),
        THIRD_COMMUNITY,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = run(&mut command(new.path(), &["tenant", "plan"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(plan.contains("第 1 版 (revision 1)"), "{plan}");
    assert!(
        plan.contains("新增 (added)") && plan.contains("310000/310115/310115005/310115005003"),
        "{plan}"
    );
    let out = run(&mut command(new.path(), &["tenant", "plan", "--json"]));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (plan["base"].clone(), plan["revision"].clone()),
        (1.into(), 2.into())
    );
    assert_eq!(plan["changes"].as_array().map(Vec::len), Some(1), "{plan}");
    assert_eq!(plan["changes"][0]["kind"], "added");
    let out = run(&mut command(new.path(), &["tenant", "apply", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let applied: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (applied["applied"].clone(), applied["revision"].clone()),
        (true.into(), 2.into())
    );

    // The running node serves it without a restart (it looks every second).
    let took = until_status(&first, third, 200);
    eprintln!("revision 2 served by the running node after {took:?}");

    // A node started on the older directory refuses, names both revisions,
    // and deactivates nothing.
    let out = run(&mut command(
        old.path(),
        &["serve", "--demo", "--listen", "127.0.0.1:0"],
    ));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let reason = text(&out.stderr);
    assert!(
        reason.contains("revision 1") && reason.contains("revision 2"),
        "{reason}"
    );
    assert_eq!(first.get(third).0, 200);

    // A node on the newer directory starts and serves the same tree.
    let second = Server::start(&mut command(new.path(), &["serve", "--demo"]));
    assert_eq!(second.get(third).0, 200);

    // Retiring a community that still holds a grant (the demo's community
    // officer) is refused by plan and apply alike, and changes nothing.
    let retiring = workdir();
    std::fs::remove_file(
        retiring
            .path()
            .join("tenants/shanghai/310115005001-demo-community.toml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        retiring
            .path()
            .join("tenants/shanghai/310115005003-demo-community.toml"),
        THIRD_COMMUNITY,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = run(&mut command(retiring.path(), &["tenant", "plan"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let plan = text(&out.stdout);
    assert!(
        plan.contains("停用 (deactivated)")
            && plan.contains("310115005001")
            && plan.contains("grants: 1"),
        "{plan}"
    );
    let out = run(&mut command(retiring.path(), &["tenant", "apply"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("310115005001"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(first.get(first_community).0, 200);

    // Revision 3 retires the third community (nothing held there) and
    // renames the second: both nodes follow.
    let third_revision = workdir();
    let renamed = third_revision
        .path()
        .join("tenants/shanghai/310115005002-demo-community.toml");
    let text_before = std::fs::read_to_string(&renamed).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &renamed,
        text_before.replace("陆家嘴演示社区二", "陆家嘴演示社区（二）"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = run(&mut command(third_revision.path(), &["tenant", "apply"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("停用 (deactivated)") && shown.contains("更名 (renamed)"),
        "{shown}"
    );
    for server in [&first, &second] {
        until_status(server, third, 404);
        let (status, community) =
            server.get("/api/v1/tenants/shanghai/pudong/lujiazui/community-2");
        assert_eq!(status, 200);
        assert_eq!(
            community["tenant"]["name"], "陆家嘴演示社区（二）",
            "{community}"
        );
    }

    // Each revision is in the audit log, signed.
    let revisions: Vec<(String, String)> = runtime.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&t.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query_as(
            "SELECT target, detail FROM audit_events WHERE action = 'tenant.revision' \
             ORDER BY seq",
        )
        .fetch_all(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    });
    let shanghai: Vec<Value> = revisions
        .iter()
        .filter(|(target, _)| target == "310000")
        .map(|(_, detail)| serde_json::from_str(detail).unwrap_or_default())
        .collect();
    assert_eq!(shanghai.len(), 3, "{revisions:?}");
    assert!(shanghai.iter().all(|d| d["signed"] == true), "{shanghai:?}");
    assert_eq!(shanghai[2]["deactivated"], 1);

    // A setting changed through one node is in force on the other without
    // a restart (it looks at the settings version every second).
    let officer = second.sign_in("lujiazui-officer");
    let per_meal = || {
        let (status, reply) = second.request(
            "POST",
            "/api/v1/tenants/shanghai/pudong/lujiazui/services/civil-affairs/meal-subsidy/evaluate",
            Some(&officer),
            Some(serde_json::json!({"as_of": "2026-11-23", "input": eligible_answers()})),
        );
        assert_eq!(status, 200, "{reply}");
        reply["output"]["per_meal_fen"].as_u64().unwrap_or_default()
    };
    assert_eq!(per_meal(), 400 + 200);
    let admin = first.sign_in("city-admin");
    let (status, set) = first.request(
        "PUT",
        "/api/v1/tenants/shanghai/pudong/lujiazui/settings/meal-subsidy.local-top-up",
        Some(&admin),
        Some(serde_json::json!({"value": 350})),
    );
    assert_eq!(status, 200, "{set}");
    let started = Instant::now();
    while per_meal() != 400 + 350 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the other node never saw the setting"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "the setting was in force on the other node after {:?}",
        started.elapsed()
    );
    drop(second);
    drop(first);
}

#[test]
fn a_node_refuses_a_stored_tree_revision_that_was_altered() {
    let dir = workdir();
    let server = Server::start(civitas(dir.path()).args(["serve", "--demo"]));
    assert_eq!(
        server.get("/api/v1/tenants/shanghai/pudong/lujiazui").0,
        200
    );
    server.terminate();
    // Someone with write access to the database edits the stored tree.
    on_demo_database(dir.path(), async |c| {
        let changed = sqlx::query(
            "UPDATE tenant_revisions SET sources = replace(sources, '陆家嘴街道', '陆家嘴镇')",
        )
        .execute(c)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(changed.rows_affected(), 1);
    });
    let out = run(civitas(dir.path()).args(["serve", "--demo", "--listen", "127.0.0.1:0"]));
    assert_eq!(out.status.code(), Some(3));
    let reason = text(&out.stderr);
    assert!(
        reason.contains("tree revision 1 does not verify") && reason.contains("digest"),
        "{reason}"
    );
}

/// A free port on 127.0.0.1 (bound once and let go).
/// The answers of a meal-subsidy application the demo's modules find
/// eligible (a Shanghai resident born in 1954).
fn eligible_answers() -> Value {
    serde_json::json!({"birth_date": "1954-03-02", "household_registration": "local",
        "living_alone": false, "disability_grade": 0, "economic_status": "none"})
}

/// A meal-subsidy application the demo's modules find eligible.
fn meal_subsidy_application() -> Value {
    serde_json::json!({"service": "civil-affairs/meal-subsidy", "data": eligible_answers()})
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The OpenID provider the tests start: panva's oidc-provider from
/// infra/dev/oidc-provider (installed by infra/dev/setup).
struct OpenIdProvider {
    child: Child,
    issuer: String,
}

impl OpenIdProvider {
    fn start(redirect_uri: &str, secret: &str, accounts: &Value) -> OpenIdProvider {
        let dir = civitas_testkit::repository_dir().join("infra/dev/oidc-provider");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the test OpenID provider is not installed: run infra/dev/setup"
        );
        let port = free_port();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("PORT", port.to_string())
            .env("REDIRECT_URI", redirect_uri)
            .env("CLIENT_SECRET", secret)
            .env("ACCOUNTS", accounts.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("node provider.mjs: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            panic!("the OpenID provider did not start");
        }
        OpenIdProvider {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Plays the browser from `url` through the provider's redirects (keeping
/// its cookies) until it is sent somewhere outside the provider: that
/// address.
fn follow_the_provider(url: &str, provider: &str) -> String {
    let runtime = support::pages::runtime();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let mut cookies: std::collections::BTreeMap<String, String> = Default::default();
        let mut next = url.to_owned();
        for _ in 0..10 {
            if !next.starts_with(provider) {
                return next;
            }
            let jar = cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let response = client
                .get(&next)
                .header("cookie", jar)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {next}: {e}"));
            for value in response.headers().get_all("set-cookie") {
                let text = value.to_str().unwrap_or_default();
                if let Some((name, rest)) = text.split_once('=') {
                    let value = rest.split(';').next().unwrap_or_default();
                    cookies.insert(name.to_owned(), value.to_owned());
                }
            }
            let status = response.status();
            let location = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            let Some(location) = location else {
                let body = response.text().await.unwrap_or_default();
                panic!("the provider answered {status} without a redirect: {body}");
            };
            next = if location.starts_with("http") {
                location
            } else {
                format!("{provider}{location}")
            };
        }
        panic!("the provider never sent the browser back")
    })
}

#[test]
fn a_citizen_is_verified_through_a_real_openid_provider_and_may_then_apply() {
    let dir = workdir();
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/api/v1/auth/verification/callback");
    let secret = "a-test-client-secret-of-some-length";
    let id_number = "310115195403020010";
    let provider = OpenIdProvider::start(
        &callback,
        secret,
        &serde_json::json!({"wang": {"id_number": id_number, "name": "王芳"},
                            "zhao": {"id_number": "310115195501010019", "name": "赵六"}}),
    );
    // The demo's meal-subsidy modules decide eligibility at submission.
    let repository = civitas_testkit::repository_dir();
    let server = Server::start_on(
        civitas(dir.path())
            .args(["serve", "--demo"])
            .env(
                "CIVITAS_DEMO_MODULES_DIR",
                civitas_testkit::demo_modules_dir(),
            )
            .env(
                "CIVITAS_MODULE_CACHE_DIR",
                repository.join("target/test-module-cache"),
            )
            .env("CIVITAS_OIDC_ISSUER", &provider.issuer)
            .env("CIVITAS_OIDC_CLIENT_ID", "civitas")
            .env("CIVITAS_OIDC_CLIENT_SECRET", secret)
            .env("CIVITAS_OIDC_REDIRECT_URL", &callback)
            .env("CIVITAS_OIDC_SCOPES", "identity"),
        &format!("127.0.0.1:{port}"),
    );
    let register = |username: &str, id: &str| {
        server.request(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(serde_json::json!({"kind": "citizen", "username": username,
                "password": "Wang#2026fang", "tenant": "shanghai/pudong/lujiazui",
                "name": "王芳", "id_number": id})),
        )
    };
    let login = |username: &str| {
        let (status, tokens) = server.request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({"username": username, "password": "Wang#2026fang"})),
        );
        assert_eq!(status, 200, "{tokens}");
        tokens
    };
    assert_eq!(register("wang-fang", id_number).0, 201);
    // Someone else claims her number too, and another person registers
    // with their own number but tries to pass as her at the provider.
    assert_eq!(register("wang-fang-squat", id_number).0, 201);
    assert_eq!(register("li-si", "310115198001010016").0, 201);

    let tokens = login("wang-fang");
    let token = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let application = meal_subsidy_application();
    let cases = "/api/v1/tenants/shanghai/pudong/lujiazui/cases";
    let (status, refused) = server.request("POST", cases, Some(&token), Some(application.clone()));
    assert_eq!(
        (status, refused["code"].clone()),
        (403, "verification_required".into()),
        "{refused}"
    );

    // To the provider and back, in the browser that began (its cookie), or
    // in another one.
    let go_as = |token: &str, hint: &str| {
        let (status, headers, start) = server.exchange(
            "POST",
            "/api/v1/me/verification",
            Some(token),
            Some(serde_json::json!({"login_hint": hint})),
            None,
        );
        assert_eq!(status, 200, "{start}");
        let cookie = headers
            .get("set-cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
            .unwrap_or_default()
            .to_owned();
        assert!(cookie.starts_with("civitas_verification="), "{cookie}");
        let url = start["authorization_url"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(url.starts_with(&provider.issuer), "{url}");
        let back = follow_the_provider(&url, &provider.issuer);
        assert!(back.starts_with(&callback), "{back}");
        let path = back
            .trim_start_matches(&format!("http://127.0.0.1:{port}"))
            .to_owned();
        (path, cookie)
    };
    let go = |token: &str| go_as(token, "wang");
    let verify = |token: &str| {
        let (path, cookie) = go(token);
        let (status, _, body) = server.exchange("GET", &path, None, None, Some(&cookie));
        (status, body)
    };
    // Someone who registered with her number sends her their verification
    // link: she signs in at the provider, but her browser lacks their
    // cookie, so their account is not verified as her.
    let squatter = login("wang-fang-squat");
    let (path, _) = go(squatter["access_token"].as_str().unwrap_or_default());
    let (status, _, lured) = server.exchange("GET", &path, None, None, None);
    assert_eq!(
        (status, lured["code"].clone()),
        (400, "verification_not_yours".into()),
        "{lured}"
    );
    let li_si = login("li-si");
    let (status, mismatch) = verify(li_si["access_token"].as_str().unwrap_or_default());
    assert_eq!(
        (status, mismatch["code"].clone()),
        (422, "identity_mismatch".into()),
        "{mismatch}"
    );
    let (status, verified) = verify(&token);
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["username"], "wang-fang");
    assert_eq!(verified["method"], format!("oidc:{}", provider.issuer));
    assert_eq!(verified["released"], serde_json::json!(["wang-fang-squat"]));
    // A state is used once.
    let (status, again) = server.request(
        "GET",
        "/api/v1/auth/verification/callback?code=x&state=used-or-never-issued",
        None,
        None,
    );
    assert_eq!(
        (status, again["code"].clone()),
        (400, "verification_state_unknown".into())
    );

    // In the portal: the verification page sends the browser to the
    // provider, which sends it back to a page, not JSON.
    assert_eq!(register("zhao-liu", "310115195501010019").0, 201);
    let zhao = login("zhao-liu");
    let form_token = "A".repeat(43);
    let session = format!(
        "civitas_session={}; civitas_csrf={form_token}",
        zhao["access_token"].as_str().unwrap_or_default()
    );
    let (status, headers) =
        server.post_form("/verify-identity", &session, &format!("csrf={form_token}"));
    assert_eq!(status, 303);
    let to_provider = headers
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(to_provider.starts_with(&provider.issuer), "{to_provider}");
    let cookie = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find(|c| c.starts_with("civitas_verification="))
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .to_owned();
    // The provider's own page picks the account by its login hint; the
    // portal's form gives none, so the test provider is told here.
    let back = follow_the_provider(&format!("{to_provider}&login_hint=zhao"), &provider.issuer);
    let path = back
        .trim_start_matches(&format!("http://127.0.0.1:{port}"))
        .to_owned();
    let (status, page) = server.browse(&path, &cookie);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("实名核验已完成") && page.contains("<html"),
        "{page}"
    );
    let (status, page) = server.browse(&path, &cookie);
    assert_eq!(status, 400, "a state is used once: {page}");
    assert!(page.contains("核验请求不存在或已过期"), "{page}");

    // From the next refresh on, she may apply.
    let (status, refreshed) = server.request(
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(serde_json::json!({"refresh_token": tokens["refresh_token"]})),
    );
    assert_eq!(status, 200, "{refreshed}");
    let token = refreshed["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, case) = server.request("POST", cases, Some(&token), Some(application));
    assert_eq!(status, 201, "{case}");
    drop(server);
    drop(provider);
}

#[test]
fn a_node_with_the_platform_key_signs_the_unsigned_revision_admin_init_stored() {
    let dir = workdir();
    // admin init on an empty database, with no platform key yet.
    let out = run(civitas(dir.path()).args(["admin", "init", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The first serve has (here: generates) the key and signs it.
    let server = Server::start(civitas(dir.path()).args(["serve", "--demo"]));
    assert_eq!(
        server.get("/api/v1/tenants/shanghai/pudong/lujiazui").0,
        200
    );
    server.terminate();
    let revisions: Vec<(i64, Option<String>, String)> = on_demo_database(dir.path(), async |c| {
        sqlx::query_as("SELECT revision, signature, digest FROM tenant_revisions ORDER BY revision")
            .fetch_all(c)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    });
    assert_eq!(revisions.len(), 2, "{revisions:?}");
    assert!(
        revisions[0].1.is_none() && revisions[1].1.is_some(),
        "{revisions:?}"
    );
    assert_eq!(
        revisions[0].2, revisions[1].2,
        "the same directory, now signed"
    );
}

/// A kill -9 in the middle of indexing 100,000 changes loses none and
/// doubles none: after the restart every change is searchable exactly once.
#[test]
fn a_node_killed_while_indexing_100000_changes_indexes_each_exactly_once_after_restart() {
    let dir = workdir();
    let first = Server::start(with_demo_modules(
        civitas(dir.path()).args(["serve", "--demo"]),
    ));
    // 100,000 accounts in one transaction, as an import writes them: the
    // triggers put 100,000 rows in the search outbox.
    on_demo_database(dir.path(), async |c| {
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
             INSERT INTO accounts (id, username, kind, tenant_path, display_name, created_at) \
             SELECT 'bulk-' || i, 'bulk' || i, 'staff', '310000/310115', '批量账户' || i, 1780000000000000 FROM n",
        )
        .execute(&mut *c)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    });
    // Kill it once the indexer is part of the way through.
    let started = Instant::now();
    loop {
        let (_, ready) = first.get("/readyz");
        let pending = ready["search"]["pending"].as_i64().unwrap_or(0);
        if pending > 0 && pending < 90_000 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "indexing did not start: {ready}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut first = first;
    first
        .child
        .kill()
        .unwrap_or_else(|e| panic!("kill -9: {e}"));
    let _ = first.child.wait();
    let (_, left) = {
        let pending: i64 = on_demo_database(dir.path(), async |c| {
            sqlx::query_scalar("SELECT count(*) FROM search_outbox")
                .fetch_one(&mut *c)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        });
        (0, pending)
    };
    assert!(
        left > 0,
        "the kill came after the indexing ended: nothing was tested"
    );

    let second = Server::start(with_demo_modules(
        civitas(dir.path()).args(["serve", "--demo"]),
    ));
    let started = Instant::now();
    loop {
        let (_, ready) = second.get("/readyz");
        if ready["search"]["pending"] == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "indexing did not finish: {ready}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let token = second.sign_in("sys-admin");
    let stored: i64 = on_demo_database(dir.path(), async |c| {
        sqlx::query_scalar("SELECT count(*) FROM accounts WHERE tenant_path >= '310000/310115' AND tenant_path < '310000/3101150'")
            .fetch_one(&mut *c)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    });
    // Every account of Pudong is in the index once: no loss, no double.
    let (status, all) = second.request(
        "GET",
        "/api/v1/search?kind=account&tenant=310000/310115&limit=1",
        Some(&token),
        None,
    );
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total"].as_i64(), Some(stored), "{all}");
    // And each is found by its own name, once.
    for i in [1, 45_678, 100_000] {
        let (_, found) = second.request(
            "GET",
            &format!("/api/v1/search?kind=account&q=bulk{i}"),
            Some(&token),
            None,
        );
        let ids: Vec<&str> = found["hits"]
            .as_array()
            .map(|h| h.iter().filter_map(|h| h["id"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(ids, [format!("account:bulk-{i}")], "{found}");
    }
}

/// The operator's view of search: `status` says what is indexed and how
/// far behind, `reindex` rebuilds a lost index from the database.
#[test]
fn search_status_and_reindex_rebuild_a_lost_index_from_the_database() {
    let dir = workdir();
    let server = Server::start(with_demo_modules(
        civitas(dir.path()).args(["serve", "--demo"]),
    ));
    let started = Instant::now();
    while server.get("/readyz").1["search"]["pending"] != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the demo was not indexed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, log) = server.terminate();
    assert!(log.contains("search ready"), "{log}");

    let status = run(civitas(dir.path()).args(["search", "status", "--json"]));
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status["backend"], "tantivy");
    assert_eq!(status["pending"], 0);
    assert_eq!(status["holds"], "all", "{status}");
    assert_eq!(status["incomplete"], false, "{status}");
    let accounts = status["documents"]["by_kind"]["account"]
        .as_u64()
        .unwrap_or(0);
    assert!(accounts >= 20, "{status}");

    // The index is lost; reindex rebuilds every account from the database.
    std::fs::remove_dir_all(dir.path().join("data/search")).unwrap_or_else(|e| panic!("{e}"));
    let missing = run(civitas(dir.path()).args(["search", "status", "--json"]));
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("no search index"),
        "{}",
        text(&missing.stderr)
    );
    let rebuilt = run(with_demo_modules(
        civitas(dir.path()).args(["search", "reindex", "--json"]),
    ));
    assert_eq!(rebuilt.status.code(), Some(0), "{}", text(&rebuilt.stderr));
    let rebuilt: Value = serde_json::from_slice(&rebuilt.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        rebuilt["by_kind"]["account"].as_u64(),
        Some(accounts),
        "{rebuilt}"
    );
    let again = run(civitas(dir.path()).args(["search", "status"]));
    assert_eq!(again.status.code(), Some(0));
    assert!(
        text(&again.stdout).contains(&format!("account: {accounts}")),
        "{}",
        text(&again.stdout)
    );

    // A tenant that does not exist is a configuration error (exit 3).
    let unknown = run(civitas(dir.path()).args(["search", "reindex", "--tenant", "nowhere"]));
    assert_eq!(unknown.status.code(), Some(3), "{}", text(&unknown.stderr));

    // Taking the outbox over rebuilds the whole index (on SQLite the data
    // directory's index holds it anyway); it cannot be asked of a subtree.
    let taken = run(with_demo_modules(civitas(dir.path()).args([
        "search",
        "reindex",
        "--take-over",
        "--json",
    ])));
    assert_eq!(taken.status.code(), Some(0), "{}", text(&taken.stderr));
    let taken: Value = serde_json::from_slice(&taken.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        taken["by_kind"]["account"].as_u64(),
        Some(accounts),
        "{taken}"
    );
    let both =
        run(civitas(dir.path()).args(["search", "reindex", "--take-over", "--tenant", "310000"]));
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
}

#[test]
fn the_nightly_entitlements_run_reads_every_population_record_and_reports_in_json() {
    let dir = workdir();
    let mut command = civitas(dir.path());
    let server = Server::start(with_demo_modules(&mut command).args(["serve", "--demo"]));
    let token = server.sign_in("lujiazui-officer");
    let today = chrono::Utc::now() + chrono::Duration::hours(8);
    let year = chrono::Datelike::year(&today);
    // An 85-year-old (entitled: filed when recorded) and a 70-year-old.
    for (n, age) in [(1, 85), (2, 70)] {
        let body = format!("310115{}0101{n:03}", year - age);
        let id_number = format!("{body}{}", check_character(&body));
        let (status, resident) = server.request(
            "POST",
            "/api/v1/tenants/310000/310115/310115005/residents",
            Some(&token),
            Some(serde_json::json!({"name": "夜间比对", "id_number": id_number})),
        );
        assert_eq!(status, 201, "{resident}");
        let id = resident["id"].as_str().unwrap_or_default().to_owned();
        let (status, recorded) = server.request(
            "PUT",
            &format!("/api/v1/tenants/310000/310115/310115005/residents/{id}/population"),
            Some(&token),
            Some(
                serde_json::json!({"household": "local", "disability_grade": 0, "deceased": false}),
            ),
        );
        assert_eq!(status, 200, "{recorded}");
        assert_eq!(
            recorded["entitlements"][0]["eligible"],
            age >= 80,
            "{recorded}"
        );
    }
    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "{log}");

    let output = run(civitas(dir.path()).args(["entitlements", "run", "--json"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let reports: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let shanghai = reports
        .as_array()
        .and_then(|r| r.iter().find(|r| r["tenant"] == "310000"))
        .map(|r| r["report"].clone())
        .unwrap_or_default();
    assert_eq!(
        (
            &shanghai["residents"],
            &shanghai["filed_before"],
            &shanghai["evaluated"],
            &shanghai["filed"]
        ),
        (
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(0)
        ),
        "{reports}"
    );
    let unknown = run(civitas(dir.path()).args(["entitlements", "run", "--tenant", "nowhere"]));
    assert_eq!(unknown.status.code(), Some(3));
}

/// The GB 11643 check character of the first 17 digits.
fn check_character(body: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

#[test]
fn what_if_runs_a_candidate_over_recorded_decisions_and_replay_names_a_changed_input() {
    let dir = workdir();
    let mut command = civitas(dir.path());
    let server = Server::start(with_demo_modules(&mut command).args(["serve", "--demo"]));
    let token = server.sign_in("citizen-demo");
    let (status, case) = server.request(
        "POST",
        "/api/v1/tenants/310000/310115/310115005/cases",
        Some(&token),
        Some(meal_subsidy_application()),
    );
    assert_eq!(status, 201, "{case}");
    let id = case["id"].as_str().unwrap_or_default().to_owned();
    // Someone of 62 or 63: Pudong's rule (general age 65) refuses her.
    let today = chrono::Utc::now() + chrono::Duration::hours(8);
    let born = format!("{}-01-01", chrono::Datelike::year(&today) - 63);
    let (status, younger) = server.request(
        "POST",
        "/api/v1/tenants/310000/310115/310115005/cases",
        Some(&token),
        Some(serde_json::json!({
            "service": "civil-affairs/meal-subsidy",
            "data": {"birth_date": born, "household_registration": "local",
                     "living_alone": false, "disability_grade": 0, "economic_status": "none"}
        })),
    );
    assert_eq!(
        (status, younger["state"].as_str()),
        (201, Some("rejected")),
        "{younger}"
    );
    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "{log}");

    // Before rolling the city's rule out at Pudong: it would grant her.
    let what_if = |candidate: &str| {
        run(civitas(dir.path()).args([
            "module",
            "what-if",
            "--service",
            "civil-affairs/meal-subsidy",
            "--tenant",
            "shanghai/pudong",
            "--candidate",
            candidate,
            "--json",
        ]))
    };
    let output = what_if("meal-subsidy@1.0.0");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    assert_eq!(report["decisions"], 2, "{report}");
    assert_eq!(report["changed"][0]["case_id"], younger["id"], "{report}");
    assert_eq!(report["fields"]["eligible"], 1, "{report}");
    let output = what_if("meal-subsidy-pudong@1.0.0");
    assert_eq!(
        output.status.code(),
        Some(0),
        "the version in force changes nothing: {}",
        text(&output.stdout)
    );
    assert_eq!(what_if("meal-subsidy").status.code(), Some(2));
    assert_eq!(what_if("meal-subsidy@9.9.9").status.code(), Some(2));

    // Nothing changed: the one decision replays identically.
    let output = run(civitas(dir.path()).args(["audit", "replay", &id, "--json"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    assert_eq!(report["decisions"][0]["hook"], "eligibility", "{report}");
    assert_eq!(
        report["decisions"][0]["module"], "meal-subsidy-pudong",
        "{report}"
    );
    assert_eq!(
        report["decisions"][0]["findings"],
        serde_json::json!([]),
        "{report}"
    );

    // The stored input is changed behind the platform's back: named.
    on_demo_database(dir.path(), async |c| {
        sqlx::query(
            "UPDATE case_evaluations SET input = replace(input, '1954-03-02', '1934-03-02')",
        )
        .execute(&mut *c)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    });
    let output = run(civitas(dir.path()).args(["audit", "replay", &id]));
    let shown = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{shown}{}",
        text(&output.stderr)
    );
    assert!(
        shown.contains("✗ eligibility meal-subsidy-pudong@1.0.0"),
        "{shown}"
    );
    assert!(
        shown.contains("输入被改动 (the stored input was changed)"),
        "{shown}"
    );
    assert!(
        shown.contains("重新运行结果不同 (the module answers otherwise now)"),
        "{shown}"
    );

    let output = run(civitas(dir.path()).args(["audit", "replay", "no-such-case"]));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("no such case"));
}

/// `civitas serve --demo` sending notices through the local SMS gateway
/// and SMTP server the test holds.
fn notifying(
    dir: &Path,
    sms: &civitas_testkit::SmsGateway,
    mail: &civitas_testkit::SmtpSink,
) -> Server {
    Server::start(
        with_demo_modules(civitas(dir).args(["serve", "--demo"]))
            .env("CIVITAS_SMS_URL", &sms.url)
            .env(
                "CIVITAS_SMS_ACCESS_KEY_ID",
                civitas_testkit::sms_gateway::ACCESS_KEY_ID,
            )
            .env(
                "CIVITAS_SMS_ACCESS_KEY_SECRET",
                civitas_testkit::sms_gateway::ACCESS_KEY_SECRET,
            )
            .env("CIVITAS_SMS_SIGN_NAME", "上海市民政局")
            .env("CIVITAS_SMTP_URL", &mail.url)
            .env(
                "CIVITAS_MAIL_FROM",
                "上海市一网通办 <noreply@example.gov.cn>",
            )
            // The shortest lease, so the node after the crash takes the
            // dead one's deliveries over within seconds.
            .env("CIVITAS_NOTIFY_LEASE_SECS", "10"),
    )
}

/// After a kill -9 between the case changes and their delivery the next
/// node delivers every status change exactly once per channel. The first
/// node dies with one SMS accepted by the gateway but not answered and two
/// changes not yet fanned out; the second dies with an e-mail cut off before
/// the relay's answer; the third finishes.
#[test]
fn a_node_killed_between_case_changes_and_delivery_sends_each_notice_once_per_channel() {
    let dir = workdir();
    let (sms, mail) = (
        civitas_testkit::SmsGateway::start(),
        civitas_testkit::SmtpSink::start(),
    );
    let first = notifying(dir.path(), &sms, &mail);
    let citizen = first.sign_in("citizen-demo");
    let officer = first.sign_in("lujiazui-officer");
    let (status, saved) = first.request(
        "PUT",
        "/api/v1/me/notification-settings",
        Some(&citizen),
        Some(serde_json::json!({"phone": "13912345678", "email": "li.si@example.cn"})),
    );
    assert_eq!(status, 200, "{saved}");
    let kill = |mut server: Server| {
        server
            .child
            .kill()
            .unwrap_or_else(|e| panic!("kill -9: {e}"));
        let _ = server.child.wait();
    };
    let wait_until = |what: &str, done: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(90), "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let count = |sql: &'static str| -> i64 {
        on_demo_database(dir.path(), async |c| {
            sqlx::query_scalar(sql)
                .fetch_one(&mut *c)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        })
    };

    // 1. The gateway takes the first SMS and does not answer.
    sms.hold();
    let application = meal_subsidy_application();
    let mut cases = Vec::new();
    for _ in 0..4 {
        let (status, created) = first.request(
            "POST",
            "/api/v1/tenants/310000/310115/310115005/cases",
            Some(&citizen),
            Some(application.clone()),
        );
        assert_eq!(status, 201, "{created}");
        cases.push(created["id"].as_str().unwrap_or_default().to_owned());
    }
    wait_until("no SMS reached the gateway", &|| sms.held() > 0);
    // The e-mails the node's round claimed go out and are recorded
    // meanwhile (a submission after the round began waits for the next).
    wait_until("the claimed e-mails were not recorded", &|| {
        count(
            "SELECT count(*) FROM notification_deliveries WHERE channel = 'email' AND status = 'sending'",
        ) == 0
    });
    // Two more changes while the notifier waits: committed, not fanned out.
    for case in &cases[..2] {
        let (status, returned) = first.request(
            "POST",
            &format!("/api/v1/tenants/310000/310115/310115005/cases/{case}/actions"),
            Some(&officer),
            Some(serde_json::json!({"action": "return", "reason": "户籍证明不清晰"})),
        );
        assert_eq!(status, 200, "{returned}");
    }
    kill(first);
    assert!(count("SELECT count(*) FROM notification_outbox") >= 2);
    // One SMS is at the gateway, unanswered; the node's other claims wait
    // behind it (one person's, in order): all in doubt for the next node.
    let in_doubt = count(
        "SELECT count(*) FROM notification_deliveries WHERE channel = 'sms' AND status = 'sending'",
    );
    assert!(in_doubt >= 1);
    assert_eq!(sms.accepted().len(), 1);
    // The dead node's request is answered into the void.
    sms.release();

    // 2. The next node's first e-mail is cut off before the relay answers.
    mail.hold();
    let second = notifying(dir.path(), &sms, &mail);
    wait_until("no e-mail reached the relay", &|| mail.held() > 0);
    kill(second);
    mail.release();

    // 3. The third node finishes.
    let third = notifying(dir.path(), &sms, &mail);
    let started = Instant::now();
    loop {
        let (_, ready) = third.get("/readyz");
        let notifications = &ready["notifications"];
        if notifications["outbox"] == 0 && notifications["unsent"] == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "notices were not all delivered: {ready}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Exactly one SMS and one e-mail per status change, each carrying its
    // delivery's id, and every delivery recorded as sent.
    type Row = (String, String, String, Option<String>);
    let deliveries: Vec<Row> = on_demo_database(dir.path(), async |c| {
        sqlx::query_as(
            "SELECT id, channel, status, provider_ref FROM notification_deliveries ORDER BY id",
        )
        .fetch_all(&mut *c)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    });
    let on = |channel: &str| deliveries.iter().filter(|d| d.1 == channel).count();
    assert_eq!(
        (on("site"), on("sms"), on("email")),
        (6, 6, 6),
        "{deliveries:?}"
    );
    assert!(deliveries.iter().all(|d| d.2 == "sent"), "{deliveries:?}");
    let texts = sms.accepted();
    let mails = mail.accepted();
    assert_eq!(texts.len(), 6, "{texts:?}");
    assert_eq!(mails.len(), 6, "{mails:?}");
    for (id, channel, _, _) in &deliveries {
        match channel.as_str() {
            "sms" => assert_eq!(texts.iter().filter(|t| &t.out_id == id).count(), 1, "{id}"),
            "email" => assert_eq!(
                mails
                    .iter()
                    .filter(|m| m.message_id.contains(id.as_str()))
                    .count(),
                1,
                "{id}"
            ),
            _ => {}
        }
    }
    // The SMS the first node left in doubt was found at the provider, not
    // sent again.
    assert!(
        deliveries
            .iter()
            .any(|d| d.3.as_deref().is_some_and(|r| r.starts_with("OutId "))),
        "{deliveries:?}"
    );
}

/// Polls `probe` until it answers `status`, at most `bound`; the time it
/// took. A liveness bound, not a speed requirement: the nodes here look
/// for themselves only once an hour, so only a change notice can make it.
fn until_answer(probe: impl Fn() -> u16, status: u16, what: &str) -> Duration {
    let started = Instant::now();
    loop {
        let got = probe();
        if got == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: still {got}, not {status}, 30 s after the change"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What `/readyz` says of the change listener, once it is listening.
fn listening(server: &Server) -> Value {
    listening_after(server, 0)
}

/// What `/readyz` says of the change listener, once it is listening after
/// at least `reconnects` reconnections.
fn listening_after(server: &Server, reconnects: u64) -> Value {
    let started = Instant::now();
    loop {
        let (status, ready) = server.get("/readyz");
        if status == 200
            && ready["changes"]["state"] == "listening"
            && ready["changes"]["reconnects"].as_u64() >= Some(reconnects)
        {
            return ready["changes"].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not listening: {status} {ready}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn three_nodes_hear_a_grant_a_setting_and_a_tree_revision_changed_on_one_as_it_commits() {
    const LUJIAZUI: &str = "310000/310115/310115005";
    let runtime = support::pages::runtime();
    let Some(t) = runtime.block_on(TestDb::postgres()) else {
        return;
    };
    let dir = workdir();
    let platform_key = dir.path().join("platform.pem");
    let command = |args: &[&str]| {
        let mut command = civitas(dir.path());
        with_demo_modules(&mut command)
            .args(args)
            .env("DATABASE_URL", &t.url)
            .env("CIVITAS_MASTER_KEY", MASTER_KEY)
            .env("CIVITAS_PLATFORM_KEY_FILE", &platform_key);
        command
    };
    // Each node looks for itself once an hour: whatever reaches the others
    // within the test's bounds came by notice.
    let serve = |node: &str| {
        command(&[
            "serve",
            "--demo",
            "--change-poll-secs",
            "3600",
            "--search-dir",
            node,
        ])
    };
    let a = Server::start(&mut serve("search-a"));
    let b = Server::start(&mut serve("search-b"));
    let c = Server::start(&mut serve("search-c"));
    for node in [&a, &b, &c] {
        let changes = listening(node);
        assert_eq!(changes["reconnects"], 0, "{changes}");
    }

    // A grant revoked on A stops working on B and C; granted again, it
    // works again.
    let officer = a.sign_in("lujiazui-officer");
    let inbox = format!("/api/v1/tenants/{LUJIAZUI}/cases?limit=1");
    let probe = |node: &Server| node.request("GET", &inbox, Some(&officer), None).0;
    assert_eq!((probe(&b), probe(&c)), (200, 200));
    let sec = a.sign_in("sec-admin");
    let grant = format!("/api/v1/tenants/{LUJIAZUI}/grants/lujiazui-officer/civil-affairs/officer");
    let (status, body) = a.request("DELETE", &grant, Some(&sec), None);
    assert_eq!(status, 204, "{body}");
    for (name, node) in [("B", &b), ("C", &c)] {
        let took = until_answer(|| probe(node), 403, "the revoked grant");
        eprintln!("grant revoked on A refused on {name} after {took:?}");
    }
    let (status, body) = a.request(
        "POST",
        &format!("/api/v1/tenants/{LUJIAZUI}/grants"),
        Some(&sec),
        Some(serde_json::json!({"account": "lujiazui-officer", "line": "civil-affairs", "role": "officer"})),
    );
    assert_eq!(status, 201, "{body}");
    for (name, node) in [("B", &b), ("C", &c)] {
        let took = until_answer(|| probe(node), 200, "the grant made again");
        eprintln!("grant made on A honoured on {name} after {took:?}");
    }

    // A setting changed on A is in force on B and C.
    let per_meal = |node: &Server| {
        let (status, reply) = node.request(
            "POST",
            &format!("/api/v1/tenants/{LUJIAZUI}/services/civil-affairs/meal-subsidy/evaluate"),
            Some(&officer),
            Some(serde_json::json!({"as_of": "2026-11-23", "input": eligible_answers()})),
        );
        assert_eq!(status, 200, "{reply}");
        u16::try_from(reply["output"]["per_meal_fen"].as_u64().unwrap_or_default())
            .unwrap_or_default()
    };
    assert_eq!((per_meal(&b), per_meal(&c)), (400 + 200, 400 + 200));
    let admin = a.sign_in("city-admin");
    let (status, set) = a.request(
        "PUT",
        &format!("/api/v1/tenants/{LUJIAZUI}/settings/meal-subsidy.local-top-up"),
        Some(&admin),
        Some(serde_json::json!({"value": 350})),
    );
    assert_eq!(status, 200, "{set}");
    for (name, node) in [("B", &b), ("C", &c)] {
        let took = until_answer(|| per_meal(node), 400 + 350, "the setting");
        eprintln!("setting changed on A in force on {name} after {took:?}");
    }

    // A tree revision applied by an operator's command (on no node at
    // all) is served by every node.
    let third = "/api/v1/tenants/shanghai/pudong/lujiazui/community-3";
    assert_eq!(a.get(third).0, 404);
    std::fs::write(
        dir.path()
            .join("tenants/shanghai/310115005003-demo-community.toml"),
        THIRD_COMMUNITY,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = run(&mut command(&["tenant", "apply"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for (name, node) in [("A", &a), ("B", &b), ("C", &c)] {
        let took = until_answer(|| node.get(third).0, 200, "the tree revision");
        eprintln!("tree revision served by {name} after {took:?}");
    }

    // C's listening connection is cut (as a restarted PostgreSQL or a
    // network fault would): C connects again by itself, and a grant
    // revoked around the cut still reaches it.
    let c_pid = c.child.id();
    runtime.block_on(async {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&t.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let cut: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(format!("civitas-changes {c_pid}"))
        .fetch_all(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cut, [true], "C's one listening connection");
    });
    let (status, body) = a.request("DELETE", &grant, Some(&sec), None);
    assert_eq!(status, 204, "{body}");
    let took = until_answer(|| probe(&c), 403, "the grant revoked around the cut");
    eprintln!("grant revoked around the cut refused on C after {took:?}");
    // (C's old connection may have heard that notice before it went.)
    let changes = listening_after(&c, 1);
    assert_eq!(changes["reconnects"], 1, "{changes}");
    assert!(
        c.logged("change notices lost", Duration::from_secs(10)),
        "C says it lost the notices"
    );
    for server in [a, b, c] {
        let (code, log) = server.terminate();
        assert_eq!(code, Some(0), "{log}");
    }
}

#[test]
fn metrics_on_a_listener_of_their_own_are_not_on_the_public_port() {
    let dir = workdir();
    let metrics = format!("127.0.0.1:{}", free_port());
    let server = Server::start(
        civitas(dir.path())
            .args(["serve", "--demo", "--metrics-listen", &metrics])
            .env("CIVITAS_MASTER_KEY", MASTER_KEY),
    );
    let (status, body) = server.get("/metrics");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "route_not_found");
    let runtime = support::pages::runtime();
    let (status, text) = runtime.block_on(async {
        let answer = reqwest::get(format!("http://{metrics}/metrics"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (
            answer.status().as_u16(),
            answer.text().await.unwrap_or_default(),
        )
    });
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("civitas_build_info{") && text.contains("civitas_http_requests_total"),
        "{text}"
    );
    // Only /metrics there.
    let other = runtime.block_on(async {
        reqwest::get(format!("http://{metrics}/api/v1/tenants"))
            .await
            .map(|a| a.status().as_u16())
    });
    assert_eq!(other.ok(), Some(404));
    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// A PostgreSQL server of the test's own — initdb in a temporary
/// directory, a free port — so stopping and starting it disturbs no other
/// test. `None` where the server binaries are missing, except under CI,
/// where that fails.
struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
    /// PostgreSQL refuses to run as root: as its own user then.
    as_postgres: bool,
}

impl OwnPostgres {
    fn start() -> Option<OwnPostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").exists())
            .max();
        let Some(bin) = bin else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true and no PostgreSQL server binaries under /usr/lib/postgresql"
            );
            eprintln!("skipped: no PostgreSQL server binaries (initdb) under /usr/lib/postgresql");
            return None;
        };
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let as_postgres = text(&run(Command::new("id").arg("-u")).stdout).trim() == "0";
        if as_postgres {
            run(Command::new("chmod").arg("755").arg(dir.path()));
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let pg = OwnPostgres {
            dir,
            bin,
            port: free_port(),
            as_postgres,
        };
        let data = pg.dir.path().join("data");
        let out = run(pg.command("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]));
        assert!(out.status.success(), "initdb: {}", text(&out.stderr));
        pg.ctl("start");
        Some(pg)
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// `pg_ctl start` (waiting until it accepts connections) or `stop`
    /// (fast: sessions are ended, as an operator's restart ends them).
    fn ctl(&self, action: &str) {
        let data = self.dir.path().join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let mut command = self.command("pg_ctl");
        command.arg("-D").arg(&data).args(["-w", "-m", "fast"]);
        if action == "start" {
            command
                .args(["-o", &options, "-l"])
                .arg(self.dir.path().join("log"));
        }
        let out = run(command.arg(action));
        assert!(
            out.status.success(),
            "pg_ctl {action}: {}",
            text(&out.stderr)
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

#[test]
fn a_node_rides_out_a_postgres_restart_under_load_answering_503_and_recovers_by_itself() {
    let Some(pg) = OwnPostgres::start() else {
        return;
    };
    let dir = workdir();
    let server = Server::start(
        with_demo_modules(&mut civitas(dir.path()))
            .args(["serve", "--demo"])
            .env("DATABASE_URL", pg.url())
            .env("CIVITAS_MASTER_KEY", MASTER_KEY),
    );
    let officer = server.sign_in("lujiazui-officer");
    let inbox = "/api/v1/tenants/310000/310115/310115005/cases?limit=1";
    assert_eq!(server.request("GET", inbox, Some(&officer), None).0, 200);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let seen: Mutex<Vec<(u16, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        // Load: two clients reading the inbox one request after another.
        for _ in 0..2 {
            scope.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (status, body) = server.request("GET", inbox, Some(&officer), None);
                    let code = body["code"].as_str().unwrap_or_default().to_owned();
                    if let Ok(mut seen) = seen.lock() {
                        seen.push((status, code));
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(500));
        pg.ctl("stop");
        // While it is down: a coded 503, and the node says it is not ready.
        let (status, body) = server.request("GET", inbox, Some(&officer), None);
        assert_eq!(
            (status, body["code"].as_str()),
            (503, Some("database_unavailable")),
            "{body}"
        );
        let (status, ready) = server.get("/readyz");
        assert_eq!(status, 503, "{ready}");
        pg.ctl("start");
        // Back without an operator: answers, ready, listening again.
        let took = until_answer(
            || server.request("GET", inbox, Some(&officer), None).0,
            200,
            "the inbox after the restart",
        );
        eprintln!("serving again {took:?} after PostgreSQL accepted connections");
        listening_after(&server, 1);
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let seen = seen.into_inner().unwrap_or_default();
    let count = |status: u16| seen.iter().filter(|(s, _)| *s == status).count();
    eprintln!(
        "{} requests under load: {} answered, {} refused 503",
        seen.len(),
        count(200),
        count(503)
    );
    // Every answer was either the inbox or the coded refusal: nothing else
    // (no 500, no hang past the pool's timeout), and both happened.
    let other: Vec<&(u16, String)> = seen
        .iter()
        .filter(|(s, code)| !(*s == 200 || (*s == 503 && code == "database_unavailable")))
        .collect();
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert!(count(200) > 0 && count(503) > 0, "{seen:?}");
    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn a_node_killed_during_transitions_loses_and_doubles_none_and_the_audit_chain_verifies() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const LUJIAZUI: &str = "310000/310115/310115005";
    const PUDONG: &str = "310000/310115";
    // Two approvals a case (the street's officer, the district's reviewer).
    const CASES: usize = 300;
    let runtime = support::pages::runtime();
    let Some(t) = runtime.block_on(TestDb::postgres()) else {
        return;
    };
    let dir = workdir();
    let serve = |node: &str| {
        let mut command = node_on_postgres(dir.path(), &t.url, node);
        command.env("CIVITAS_PLATFORM_KEY_FILE", dir.path().join("platform.pem"));
        command
    };
    let victim = Server::start(&mut serve("search-a"));
    let survivor = Server::start(&mut serve("search-b"));
    let citizen = survivor.sign_in("citizen-demo");
    let officer = survivor.sign_in("lujiazui-officer");
    let reviewer = survivor.sign_in("pudong-reviewer");

    // The cases, filed on the survivor by four clients at once.
    let next = AtomicUsize::new(0);
    let filed: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < CASES {
                    let (status, case) = survivor.request(
                        "POST",
                        &format!("/api/v1/tenants/{LUJIAZUI}/cases"),
                        Some(&citizen),
                        Some(meal_subsidy_application()),
                    );
                    assert_eq!(status, 201, "{case}");
                    let id = case["id"].as_str().unwrap_or_default().to_owned();
                    if let Ok(mut filed) = filed.lock() {
                        filed.push(id);
                    }
                }
            });
        }
    });
    let cases = filed.into_inner().unwrap_or_default();
    assert_eq!(cases.len(), CASES);

    // A case's next step as the client learns it: the approvals recorded.
    let approvals = |id: &str| -> i64 {
        runtime.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&t.url)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            sqlx::query_scalar(
                "SELECT count(*) FROM case_events WHERE case_id = $1 AND action = 'approve'",
            )
            .bind(id)
            .fetch_one(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
        })
    };
    /// One approval on `node`: its status, or `None` when no answer came.
    fn approve(node: &Server, token: &str, tenant: &str, id: &str) -> Option<u16> {
        let url = node.url(&format!("/api/v1/tenants/{tenant}/cases/{id}/actions"));
        support::pages::runtime().block_on(async {
            reqwest::Client::new()
                .post(&url)
                .bearer_auth(token)
                .json(&serde_json::json!({"action": "approve"}))
                .send()
                .await
                .ok()
                .map(|r| r.status().as_u16())
        })
    }

    // Four clients approve on the victim, each case street then district;
    // the victim is killed (SIGKILL) once a third of the transitions are
    // answered. A client whose request got no answer stops: that case is
    // in doubt.
    let answered = AtomicUsize::new(0);
    let next = AtomicUsize::new(0);
    let mut victim = victim;
    let victim_pid = victim.child.id().to_string();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = cases.get(n) else { return };
                    for (token, tenant) in [(&officer, LUJIAZUI), (&reviewer, PUDONG)] {
                        match approve(&victim, token, tenant, id) {
                            Some(200) => {
                                answered.fetch_add(1, Ordering::Relaxed);
                            }
                            Some(status) => panic!("{id}: approval answered {status}"),
                            None => return,
                        }
                    }
                }
            });
        }
        let started = Instant::now();
        while answered.load(Ordering::Relaxed) < 2 * CASES / 3 {
            assert!(started.elapsed() < Duration::from_secs(300), "too slow");
            std::thread::sleep(Duration::from_millis(5));
        }
        let killed = Command::new("kill").args(["-KILL", &victim_pid]).status();
        assert!(killed.is_ok_and(|s| s.success()), "kill -9 {victim_pid}");
    });
    let _ = victim.child.wait();
    let before_kill = answered.load(Ordering::Relaxed);
    eprintln!("{before_kill} transitions answered before the kill");
    assert!(before_kill < 2 * CASES, "the kill came after the work");

    // The clients finish on the survivor, asking first where each case is
    // (an answer lost with the victim may or may not have been committed).
    let mut redone = 0;
    for id in &cases {
        loop {
            let (token, tenant) = match approvals(id) {
                0 => (&officer, LUJIAZUI),
                1 => (&reviewer, PUDONG),
                2 => break,
                n => panic!("{id}: {n} approvals"),
            };
            assert_eq!(approve(&survivor, token, tenant, id), Some(200), "{id}");
            redone += 1;
        }
    }
    eprintln!("{redone} transitions made on the survivor");

    // None lost, none doubled: every case finished with exactly one
    // approval per step, and the history, tasks and audit log agree.
    runtime.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&t.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let per_case: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT c.id, \
                    (SELECT count(*) FROM case_events e WHERE e.case_id = c.id AND e.action = 'approve'), \
                    (SELECT count(*) FROM case_events e WHERE e.case_id = c.id AND e.action = 'submit') \
             FROM cases c",
        )
        .fetch_all(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(per_case.len(), CASES);
        for (id, approvals, submits) in &per_case {
            assert_eq!((approvals, submits), (&2, &1), "{id}");
        }
        let open: i64 = sqlx::query_scalar("SELECT count(*) FROM cases WHERE state <> 'closed'")
            .fetch_one(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(open, 0, "every case finished");
        let audited: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_events WHERE action = 'case.approve'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(audited, 2 * CASES as i64, "one audit record per transition");
    });
    let out = run(civitas(dir.path())
        .args(["audit", "verify", "--json"])
        .env("DATABASE_URL", &t.url));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // The killed node starts again on the same data and serves.
    let restarted = Server::start(&mut serve("search-a"));
    let (status, ready) = restarted.get("/readyz");
    assert_eq!(status, 200, "{ready}");
    for server in [restarted, survivor] {
        let (code, log) = server.terminate();
        assert_eq!(code, Some(0), "{log}");
    }
}

/// A small filesystem of the test's own (tmpfs), unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    /// `None` where mounting is not allowed (not root), except under CI,
    /// where that fails.
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|out| out.status.success());
        if !mounted {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true and a tmpfs cannot be mounted (the test needs root)"
            );
            eprintln!("skipped: cannot mount a tmpfs here (not root)");
            return None;
        }
        Some(SmallDisk(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// Writes a file until the disk is full; returns it.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap_or_else(|e| panic!("{e}"));
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        // The last partial block, to the last byte.
        while file.write_all(&[0]).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_under_the_embedded_database_refuses_writes_with_a_coded_503_and_loses_nothing() {
    const LUJIAZUI: &str = "310000/310115/310115005";
    let Some(disk) = SmallDisk::mount(64) else {
        return;
    };
    let dir = workdir();
    // The database alone on the small disk (the compiled modules and the
    // search index elsewhere).
    let data = disk.path().join("data");
    let server = Server::start(
        with_demo_modules(&mut civitas(dir.path()))
            .args(["serve", "--demo", "--data-dir"])
            .arg(&data)
            .arg("--module-cache-dir")
            .arg(dir.path().join("module-cache"))
            .arg("--search-dir")
            .arg(dir.path().join("search")),
    );
    let citizen = server.sign_in("citizen-demo");
    let file = || {
        server.request(
            "POST",
            &format!("/api/v1/tenants/{LUJIAZUI}/cases"),
            Some(&citizen),
            Some(meal_subsidy_application()),
        )
    };
    assert_eq!(file().0, 201);
    let filler = disk.fill();

    // Filing goes on while SQLite finds room in pages it already has, then
    // is refused: a coded 503, never a 500, and the node stays up.
    let mut filed = 1;
    let refused = loop {
        let (status, body) = file();
        match status {
            201 => filed += 1,
            _ => break (status, body),
        }
        assert!(filed < 2000, "2000 cases filed on a full disk");
    };
    assert_eq!(
        (refused.0, refused.1["code"].as_str()),
        (503, Some("database_unavailable")),
        "{}",
        refused.1
    );
    assert!(
        server.logged("full", Duration::from_secs(10)),
        "the log names the full disk"
    );
    assert_eq!(server.get("/healthz").0, 200);

    // Room again: filing works, without a restart.
    std::fs::remove_file(&filler).unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = file();
    assert_eq!(status, 201, "{body}");
    filed += 1;
    let (code, log) = server.terminate();
    assert_eq!(code, Some(0), "{log}");

    // Nothing half-written: every case answered 201 is there with its
    // submission and its audit record, no other, and the chain verifies.
    let url = format!("sqlite:{}", data.join("civitas.db").display());
    let counts: (i64, i64, i64) = support::pages::runtime().block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM cases), \
                        (SELECT count(*) FROM case_events WHERE action = 'submit'), \
                        (SELECT count(*) FROM audit_events WHERE action = 'case.create')",
        )
        .fetch_one(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    });
    assert_eq!(counts, (filed, filed, filed));
    let out = run(civitas(dir.path())
        .args(["audit", "verify"])
        .env("DATABASE_URL", &url));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The `CIVITAS_…` names a text mentions.
fn civitas_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("CIVITAS_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_deployment_kit_names_only_settings_exit_codes_and_routes_the_binary_has() {
    let dir = workdir();
    let help = run(civitas(dir.path()).args(["serve", "--help"]));
    assert_eq!(help.status.code(), Some(0));
    let known = civitas_names(&text(&help.stdout));
    assert!(known.len() > 30, "{known:?}");
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/deploy");
    let read = |file: &str| {
        std::fs::read_to_string(deploy.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    };
    for file in [
        "Dockerfile",
        "systemd/civitas.service",
        "systemd/civitas.env",
        "kubernetes/civitas.yaml",
        "check-image",
        "README.md",
    ] {
        let named = civitas_names(&read(file));
        let unknown: Vec<&String> = named.difference(&known).collect();
        assert!(
            unknown.is_empty(),
            "{file} names settings serve does not read: {unknown:?}"
        );
    }
    // The probes are the routes that answer them.
    let manifest = read("kubernetes/civitas.yaml");
    assert!(manifest.contains("path: /readyz") && manifest.contains("path: /healthz"));
    // The unit does not restart on what a restart cannot mend: usage (2)
    // and a refused configuration (3), and does on an unreachable database.
    let unit = read("systemd/civitas.service");
    assert!(unit.contains(&format!(
        "RestartPreventExitStatus=2 {}",
        civitas::exit::CONFIG
    )));
    assert_eq!(civitas::exit::DATABASE, 4, "the unit's comment says 4");
    // Every variable the env file sets is a setting, and resolves.
    let env = read("systemd/civitas.env");
    let mut command = civitas(dir.path());
    command.args(["serve", "--print-config"]);
    for line in env
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
    {
        let (name, value) = line.split_once('=').unwrap_or_default();
        command.env(name, value);
    }
    // A key file that is not there is not the question here.
    command.env_remove("CIVITAS_MASTER_KEY_FILE");
    let printed = run(&mut command);
    assert_eq!(printed.status.code(), Some(0), "{}", text(&printed.stderr));
    let config = text(&printed.stdout);
    assert!(
        config.contains("0.0.0.0:9464") && config.contains("zwfw.example.gov.cn"),
        "{config}"
    );
}

/// Kubernetes versions the manifests must be valid for: the oldest a
/// district's cloud is likely still to run, and the newest whose schemas
/// kubernetes-validate 1.37 carries.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];

#[test]
fn the_kubernetes_manifests_are_valid_against_the_api_schemas_strictly() {
    // The schemas of the Kubernetes API itself (kubernetes-validate, which
    // infra/dev/setup installs), strict: a misspelt or misplaced field is
    // an error a cluster would otherwise ignore or refuse at apply time.
    let script = r#"
import sys, yaml, kubernetes_validate
for doc in yaml.safe_load_all(open(sys.argv[1])):
    for version in sys.argv[2:]:
        kubernetes_validate.validate(doc, version, strict=True)
        print(doc["kind"], version)
"#;
    if !support::python_has("kubernetes_validate, yaml", "kubernetes-validate==1.37.0") {
        return;
    }
    let manifest =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/deploy/kubernetes/civitas.yaml");
    let checked = run(Command::new("python3")
        .args(["-c", script])
        .arg(&manifest)
        .args(KUBERNETES_VERSIONS));
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    let printed = text(&checked.stdout);
    for kind in ["Deployment", "Service", "PodDisruptionBudget"] {
        for version in KUBERNETES_VERSIONS {
            assert!(
                printed.contains(&format!("{kind} {version}")),
                "{kind} not checked for {version}: {printed}"
            );
        }
    }

    // The same check refuses a manifest with a misspelt field, so its
    // passing above means something.
    let dir = workdir();
    let misspelt = dir.path().join("civitas.yaml");
    let text_of = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &misspelt,
        text_of.replacen("failureThreshold:", "failureThreshol:", 1),
    )
    .unwrap();
    let refused = run(Command::new("python3")
        .args(["-c", script])
        .arg(&misspelt)
        .args(KUBERNETES_VERSIONS));
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("failureThreshol"),
        "{}",
        text(&refused.stderr)
    );
}
