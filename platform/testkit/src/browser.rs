//! Real headless Chromium for page tests, driven over W3C WebDriver by
//! Debian's `chromedriver` (packages `chromium` and `chromium-driver`,
//! installed by `infra/dev/setup`).
//!
//! A small client of the standard protocol (sessions, navigation, elements,
//! scripts, screenshots) rather than a crate: the protocol is a handful of
//! JSON calls, and the tests need no more.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver with one headless Chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    client: reqwest::Client,
    profile: std::path::PathBuf,
}

/// Starts Chromium, or says why it cannot. Under `CI=true` a missing
/// Chromium fails the test (the pages must be tested there); elsewhere the
/// test is skipped with a note.
pub async fn browser() -> Option<Browser> {
    match Browser::start().await {
        Ok(b) => Some(b),
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and headless Chromium cannot start: {why}")
        }
        Err(why) => {
            eprintln!("skipped: headless Chromium cannot start ({why}); run infra/dev/setup");
            None
        }
    }
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session
    /// (a fresh profile, no network but the servers the test names).
    pub async fn start() -> Result<Browser, String> {
        let driver_path = std::env::var("CIVITAS_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned());
        let chromium =
            std::env::var("CIVITAS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let mut driver = Command::new(&driver_path)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{driver_path}: {e}"))?;
        let stdout = driver.stdout.take().ok_or("no chromedriver output")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("started successfully on port ")
                    .nth(1)
                    .map(|p| p.trim_end_matches('.').to_owned())
                {
                    let _ = tx.send(port);
                }
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(port) => port,
            Err(_) => {
                let _ = driver.kill();
                return Err("chromedriver did not start".into());
            }
        };
        let profile =
            std::env::temp_dir().join(format!("civitas-chromium-{}", uuid::Uuid::new_v4()));
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            profile: profile.clone(),
        };
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--lang=zh-CN",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let session = browser
            .call(
                reqwest::Method::POST,
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": chromium, "args": args}
                }}})),
            )
            .await?;
        let id = session["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session: {session}"))?;
        browser.base = format!("{}/session/{id}", browser.base);
        Ok(browser)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let answer: Value = response.json().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{url}: {status} {}", answer["value"]));
        }
        Ok(answer["value"].clone())
    }

    async fn must(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.call(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("webdriver: {e}"))
    }

    /// Sets the window's size in CSS pixels (1366×768 desktop, 375 wide
    /// phone).
    pub async fn resize(&self, width: u32, height: u32) {
        self.must(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.must(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page
    /// and returns what it returns.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        self.must(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Runs `script`, whose last argument is a callback it calls with its
    /// answer, and returns that answer (for promises).
    pub async fn run_async(&self, script: &str) -> Value {
        self.must(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// The first element `css` selects, or `None`.
    pub async fn find(&self, css: &str) -> Option<Element<'_>> {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await
            .ok()?;
        Some(Element {
            browser: self,
            id: found[ELEMENT].as_str()?.to_owned(),
        })
    }

    /// The first element `css` selects; fails the test when there is none.
    pub async fn element(&self, css: &str) -> Element<'_> {
        match self.find(css).await {
            Some(e) => e,
            None => panic!("no element {css} on {}", self.url().await),
        }
    }

    /// The page's URL now.
    pub async fn url(&self) -> String {
        self.must(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The text the page shows (its body's innerText).
    pub async fn text(&self) -> String {
        self.run("return document.body.innerText;", json!([]))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let encoded = self.must(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("screenshot: {e}"))
    }

    /// A PNG of the whole page at the window's width (the viewport grown
    /// to the document's height, then put back).
    pub async fn full_page_screenshot(&self, width: u32, height: u32) -> Vec<u8> {
        // The window's height includes the browser's frame (headless, but
        // there): the page's height plus the frame's.
        let sizes = self
            .run(
                "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight];",
                json!([]),
            )
            .await;
        let tall = sizes[0].as_u64().unwrap_or(u64::from(height)) as u32;
        let frame = sizes[1].as_u64().unwrap_or(0) as u32;
        self.resize(width, (tall + frame).max(height)).await;
        let png = self.screenshot().await;
        self.resize(width, height).await;
        png
    }
}

impl Browser {
    /// Ends the session (Chromium exits) and stops chromedriver.
    pub async fn quit(self) {
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// An element of the page.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

impl Element<'_> {
    /// Its text as shown.
    pub async fn text(&self) -> String {
        self.browser
            .must(
                reqwest::Method::GET,
                &format!("/element/{}/text", self.id),
                None,
            )
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Clicks it (and waits for a navigation it starts).
    pub async fn click(&self) {
        self.browser
            .must(
                reqwest::Method::POST,
                &format!("/element/{}/click", self.id),
                Some(json!({})),
            )
            .await;
    }

    /// Types `text` into it.
    pub async fn type_text(&self, text: &str) {
        self.browser
            .must(
                reqwest::Method::POST,
                &format!("/element/{}/value", self.id),
                Some(json!({"text": text})),
            )
            .await;
    }
}
