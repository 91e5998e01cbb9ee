//! A running `civitas serve` for tests that drive the binary (shared by the
//! test files that `mod support;` it).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `civitas serve`.
pub struct Server {
    /// The server process.
    pub child: Child,
    /// Where it listens (`127.0.0.1:port`).
    pub address: String,
    /// Its log lines so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `command` (a `serve` on 127.0.0.1:0) and waits until it says
    /// where it listens.
    pub fn start(command: &mut Command) -> Server {
        Server::start_on(command, "127.0.0.1:0")
    }

    /// Starts `command` (a `serve`) listening on `address`.
    pub fn start_on(command: &mut Command, address: &str) -> Server {
        let mut child = command
            .args(["--listen", address, "--log-format", "text"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn civitas serve: {e}"));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let address = line.split_once("serving on ").map(|(_, rest)| {
                        rest.trim_start_matches("https://")
                            .trim_start_matches("http://")
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned()
                    });
                    // The line is in the log before the test learns the
                    // address, so a test may read the log as soon as
                    // `start` returns.
                    if let Ok(mut log) = log.lock() {
                        log.push(line);
                    }
                    if let Some(address) = address {
                        let _ = tx.send(address);
                    }
                }
            });
        }
        let address = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "civitas serve did not start:\n{}",
                    log.lock().map(|l| l.join("\n")).unwrap_or_default()
                );
            }
        };
        Server {
            child,
            address,
            log,
        }
    }

    /// Signs a demo account in (the demo password) and returns its access
    /// token.
    pub fn sign_in(&self, username: &str) -> String {
        let (status, tokens) = self.request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({"username": username, "password": "Civitas#2026"})),
        );
        assert_eq!(status, 200, "{username}: {tokens}");
        tokens["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Whether a line of the log contains `what` within `within`: the log
    /// is read by a thread of its own, so a line the node wrote before it
    /// answered may reach the test a moment after the answer.
    pub fn logged(&self, what: &str, within: Duration) -> bool {
        let started = Instant::now();
        loop {
            let found = self
                .log
                .lock()
                .map(|l| l.iter().any(|line| line.contains(what)))
                .unwrap_or(false);
            if found || started.elapsed() >= within {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        http_get(&self.url(path))
    }

    /// Any request, with an optional bearer token and JSON body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, _, body) = self.exchange(method, path, token, body, None);
        (status, body)
    }

    /// A page as a browser navigates to it (`Accept: text/html`), with a
    /// `Cookie` header: the status and the HTML.
    pub fn browse(&self, path: &str, cookie: &str) -> (u16, String) {
        let url = self.url(path);
        block_on(async {
            let response = reqwest::Client::new()
                .get(&url)
                .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
                .header("cookie", cookie)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        })
    }

    /// A form posted as a browser posts it (URL-encoded), with a `Cookie`
    /// header, its redirect not followed: the status and the headers.
    pub fn post_form(
        &self,
        path: &str,
        cookie: &str,
        body: &str,
    ) -> (u16, reqwest::header::HeaderMap) {
        let url = self.url(path);
        block_on(async {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            let response = client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookie)
                .body(body.to_owned())
                .send()
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            (response.status().as_u16(), response.headers().clone())
        })
    }

    /// Any request, with an optional bearer token, JSON body and `Cookie`
    /// header; the status, the headers and the body.
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        cookie: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let url = self.url(path);
        block_on(async {
            let method =
                reqwest::Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            let mut request = reqwest::Client::new().request(method, &url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            let response = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let text = response.text().await.unwrap_or_default();
            (
                status,
                headers,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
    }

    /// Sends SIGTERM and returns the exit code and the whole log.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(killed.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let started = Instant::now();
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("civitas serve did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().map(|l| l.join("\n")).unwrap_or_default();
        (status.code(), log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Builds the demo's modules (meal-subsidy eligibility at submission,
/// penalty discretion at a penalty case's steps; they read tenant settings)
/// and points `command`, a `serve --demo`, at them and at the shared
/// compiled-code cache.
pub fn with_demo_modules(command: &mut Command) -> &mut Command {
    let repository = civitas_testkit::repository_dir();
    command
        .env(
            "CIVITAS_DEMO_MODULES_DIR",
            civitas_testkit::demo_modules_dir(),
        )
        .env(
            "CIVITAS_MODULE_CACHE_DIR",
            repository.join("target/test-module-cache"),
        )
}

/// A demo account's access token from `server`, for tests already running
/// on an async runtime (the page walks).
pub async fn demo_token(server: &Server, username: &str) -> String {
    let login: Value = reqwest::Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": "Civitas#2026"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    login["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{username}: {login}"))
        .to_owned()
}

/// `body` posted to `path` on `server` as the demo account `username` (for
/// tests already running on an async runtime): the answer's JSON.
pub async fn post_as(server: &Server, username: &str, path: &str, body: Value) -> Value {
    call_as(server, username, reqwest::Method::POST, path, Some(body)).await
}

/// A file posted as the body to `path` on `server` as the demo account
/// `username` (async), as `curl --data-binary` does: the answer's JSON.
pub async fn upload_as(
    server: &Server,
    username: &str,
    path: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Value {
    let token = demo_token(server, username).await;
    reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(&token)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(bytes)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `path` read from `server` as the demo account `username` (async): the
/// answer's JSON.
pub async fn get_as(server: &Server, username: &str, path: &str) -> Value {
    call_as(server, username, reqwest::Method::GET, path, None).await
}

async fn call_as(
    server: &Server,
    username: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let token = demo_token(server, username).await;
    let mut request = reqwest::Client::new()
        .request(method, server.url(path))
        .bearer_auth(&token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs `work` on the SQLite database of a `serve --demo` in `dir` (stopped).
pub fn on_demo_database<T>(
    dir: &Path,
    work: impl AsyncFnOnce(&mut sqlx::SqliteConnection) -> T,
) -> T {
    use sqlx::Connection;
    let database = dir.join("data/civitas.db");
    block_on(async {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", database.display()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        work(&mut c).await
    })
}

/// A blocking GET on a runtime of its own, so the tests stay synchronous;
/// the body as JSON, or as a JSON string when it is not JSON.
pub fn http_get(url: &str) -> (u16, Value) {
    block_on(async {
        let response = reqwest::get(url)
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    })
}

/// Runs `work` to its end on a runtime of its own (these helpers serve
/// synchronous tests).
fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .block_on(work)
}
