//! What the page tests in real headless Chromium share: screenshots at
//! desktop and phone width, the checks every page must pass (language,
//! nothing from outside, labels, no inline script, axe-core), signing in,
//! and waiting for a page.

use std::path::{Path, PathBuf};

use civitas_testkit::browser::Browser;
use serde_json::json;

use super::server::Server;

/// A runtime for a synchronous test's walk in the browser.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Where screenshots go: `CIVITAS_SCREENSHOTS` (the repository's
/// `platform/web/screenshots` when `infra/dev/screenshots` runs the tests), else a
/// temporary directory that `_keep` holds.
pub fn screenshots() -> (PathBuf, Option<tempfile::TempDir>) {
    match std::env::var_os("CIVITAS_SCREENSHOTS") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            (dir, None)
        }
        None => {
            let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            (tmp.path().to_owned(), Some(tmp))
        }
    }
}

pub const DESKTOP: (u32, u32) = (1366, 768);
pub const PHONE: (u32, u32) = (375, 812);

/// Saves the page at both widths as `{name}-desktop.png` and
/// `{name}-phone.png`, and checks at each that nothing is wider than the
/// window (no sideways scrolling on a phone).
pub async fn shoot(b: &Browser, dir: &Path, name: &str) {
    for (label, (width, height)) in [("desktop", DESKTOP), ("phone", PHONE)] {
        b.resize(width, height).await;
        let widths = b
            .run(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                json!([]),
            )
            .await;
        assert!(
            widths[0].as_u64() <= widths[1].as_u64(),
            "{name} at {label}: the page is wider than the window {widths}"
        );
        let png = b.full_page_screenshot(width, height).await;
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        let file = dir.join(format!("{name}-{label}.png"));
        std::fs::write(&file, png).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    b.resize(DESKTOP.0, DESKTOP.1).await;
}

/// What every page must be: Chinese unless English was chosen, nothing
/// loaded from outside the server, every form field labelled.
pub async fn check_page(b: &Browser, server: &Server, lang: &str) {
    let origin = format!("http://{}", server.address);
    let facts = b
        .run(
            r#"
            const outside = [];
            for (const e of performance.getEntriesByType('resource')) {
                if (!e.name.startsWith(arguments[0])) outside.push(e.name);
            }
            for (const e of document.querySelectorAll('[src], link[href]')) {
                const url = e.src || e.href;
                if (!url.startsWith(arguments[0])) outside.push(url);
            }
            const unlabelled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                .map(e => e.outerHTML);
            return {
                lang: document.documentElement.lang,
                outside,
                unlabelled,
                inline: document.querySelectorAll('script:not([src]), style, [style]').length,
                stylesheets: document.styleSheets.length,
            };
            "#,
            json!([origin]),
        )
        .await;
    assert_eq!(facts["lang"], lang, "{facts}");
    assert_eq!(facts["outside"], json!([]), "requests outside the server");
    assert_eq!(
        facts["unlabelled"],
        json!([]),
        "form fields without a label"
    );
    assert_eq!(facts["inline"], 0, "inline script or style");
    assert_eq!(facts["stylesheets"], 1, "the stylesheet did not load");
    accessible(b).await;
}

/// axe-core (`infra/dev/axe`, run in the page by the test) finds no serious
/// or critical accessibility violation (WCAG 2.1 A and AA rules).
pub async fn accessible(b: &Browser) {
    let axe =
        civitas_testkit::repository_dir().join("infra/dev/axe/node_modules/axe-core/axe.min.js");
    let source = match std::fs::read_to_string(&axe) {
        Ok(source) => source,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "CI=true and no axe-core at {}: {e}; run infra/dev/setup",
                axe.display()
            )
        }
        Err(_) => {
            eprintln!(
                "skipped the accessibility check: no {}; run infra/dev/setup",
                axe.display()
            );
            return;
        }
    };
    b.run(&source, json!([])).await;
    let found = b
        .run_async(
            r#"
            const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                .then(r => done(r.violations
                    .filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.html) }))))
                .catch(e => done({ error: String(e) }));
            "#,
        )
        .await;
    assert_eq!(
        found,
        json!([]),
        "accessibility violations on {}",
        b.url().await
    );
}

/// Signs `username` in (the demo password) on the sign-in page that
/// opening `url` leads to, and waits until the browser is back at `url`.
pub async fn sign_in_as(b: &Browser, url: &str, username: &str) {
    b.goto(url).await;
    wait_for(b, "#sign-in").await;
    b.element("#username").await.type_text(username).await;
    b.element("#password").await.type_text("Civitas#2026").await;
    b.element("#sign-in button").await.click().await;
    wait_for(b, "span.account").await;
}

/// Signs out from the masthead and waits for the sign-in page.
pub async fn sign_out(b: &Browser) {
    b.element("form.sign-out button").await.click().await;
    wait_for(b, "#sign-in").await;
}

/// Waits (up to 10 s) until `condition` (a script's body) returns true:
/// a click that navigates may return before the next page is there.
pub async fn wait_until(b: &Browser, condition: &str) {
    for _ in 0..100 {
        if b.run(condition, json!([])).await == json!(true) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "never true on {}: {condition}\n{}",
        b.url().await,
        b.text().await
    );
}

/// Waits (up to 10 s) until `css` selects something: a form posted by a
/// script navigates on its own time.
pub async fn wait_for(b: &Browser, css: &str) {
    for _ in 0..100 {
        if b.find(css).await.is_some() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "{css} never appeared on {}:\n{}",
        b.url().await,
        b.text().await
    );
}
