//! A Meilisearch server for tests, started once per test process.
//!
//! `CIVITAS_TEST_MEILI_URL` (and `CIVITAS_TEST_MEILI_KEY`) name a running
//! server to use instead. Otherwise the server the project carries
//! (`../shared/tools/meilisearch/start`, or `CIVITAS_MEILI_TOOL`) is started
//! on a free loopback port with a data directory of its own, and stopped
//! when the test process ends (a watchdog shell ends it when its parent is
//! gone). When it cannot start, tests are skipped with a message — except
//! under `CI=true`, where that fails them, exactly as for PostgreSQL.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running Meilisearch server.
#[derive(Debug)]
pub struct MeiliServer {
    /// Its URL.
    pub url: String,
    /// Its master key.
    pub key: String,
    _data: Option<tempfile::TempDir>,
}

impl MeiliServer {
    /// A fresh index uid for one test.
    pub fn unique_index(&self) -> String {
        format!("test_{}", uuid::Uuid::new_v4().simple())
    }
}

fn healthy(addr: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(format!("GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
}

fn start() -> Result<MeiliServer, String> {
    if let Ok(url) = std::env::var("CIVITAS_TEST_MEILI_URL") {
        return Ok(MeiliServer {
            url,
            key: std::env::var("CIVITAS_TEST_MEILI_KEY").unwrap_or_default(),
            _data: None,
        });
    }
    let tool = std::env::var_os("CIVITAS_MEILI_TOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/tools/meilisearch/start")
        });
    if !tool.exists() {
        return Err(format!("{} does not exist", tool.display()));
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let data = tempfile::tempdir().map_err(|e| e.to_string())?;
    let key = format!("test-master-key-{}", uuid::Uuid::new_v4().simple());
    // The shell waits for the server and ends it once the test process
    // (its parent) is gone, so no server outlives its tests.
    // Its data directory goes with it (the handle below lives in a static,
    // which is never dropped).
    let script = r#"parent=$PPID; data="$CIVITAS_MEILI_DATA"; "$0" "$@" >/dev/null 2>&1 & server=$!
while kill -0 "$parent" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 1; done
kill "$server" 2>/dev/null; wait; rm -rf "$data""#;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&tool)
        .args(["--db-path"])
        .arg(data.path().join("db"))
        .args([
            "--http-addr",
            &addr,
            "--master-key",
            &key,
            "--no-analytics",
            "--env",
            "development",
        ])
        .env("CIVITAS_MEILI_DATA", data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
    let started = Instant::now();
    // The first start unpacks the binary (a few seconds).
    while started.elapsed() < Duration::from_secs(60) {
        if healthy(&addr) {
            return Ok(MeiliServer {
                url: format!("http://{addr}"),
                key,
                _data: Some(data),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("Meilisearch did not answer on {addr} within 60 s"))
}

/// The test process's Meilisearch server; `None` (the test is skipped with
/// a message) when it cannot start outside CI.
///
/// # Panics
/// Under `CI=true` when the server cannot start.
pub fn meili() -> Option<&'static MeiliServer> {
    static SERVER: OnceLock<Result<MeiliServer, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(server) => Some(server),
        Err(why) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("Meilisearch must run in CI: {why}");
            }
            eprintln!("skipping the Meilisearch part of this test: {why}");
            None
        }
    }
}
