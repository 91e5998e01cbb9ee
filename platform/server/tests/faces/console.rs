//! The governance console as the city's administrators meet it, in real
//! headless Chromium: the system administrator creates an account, the
//! security administrator grants it a role (and is refused, in words, a
//! grant that breaks 三员分立), the city administrator rolls Pudong's
//! variant out to 30 % of cases and rolls it back, and the audit
//! administrator sees each of these events, verifies the chains, and finds
//! nothing to edit.

use std::path::Path;

use base64::Engine as _;
use civitas_crypto::sm2::PrivateKey;
use civitas_testkit::browser::{Browser, browser};
use serde_json::json;

use crate::support::pages::{check_page, shoot, sign_in_as, sign_out, wait_for, wait_until};
use crate::support::server::Server;

const PUDONG_BINDINGS: &str = "/console/t/shanghai/pudong/bindings";
const SERVICE: &str = "civil-affairs/meal-subsidy";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The module developer publishes a new release of Pudong's variant
/// (1.1.0) through the API, as `civitas module publish` does: nothing binds
/// it yet.
pub fn publish_pudong_release(server: &Server) {
    let token = server.sign_in("module-dev");
    let key = PrivateKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let public_key = key.public_key().to_hex();
    let proof = key
        .sign(&civitas_devkit::key_registration_message(
            "module-dev",
            &public_key,
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = server.request(
        "POST",
        "/api/v1/signing-keys",
        Some(&token),
        Some(json!({"public_key": public_key, "proof": hex(&proof.to_der())})),
    );
    assert_eq!(status, 201, "{body}");
    let artifact = civitas_testkit::module_component("modules/civil-affairs/meal-subsidy-pudong");
    let digest = hex(&civitas_crypto::sm3::digest(&artifact));
    let message = civitas_devkit::signing_message(
        "meal-subsidy-pudong",
        "1.1.0",
        SERVICE,
        &digest,
        "module-dev",
    );
    let signature = hex(&key
        .sign(&message)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_der());
    let (status, body) = server.request(
        "POST",
        "/api/v1/modules",
        Some(&token),
        Some(json!({
            "name": "meal-subsidy-pudong", "version": "1.1.0", "service": SERVICE,
            "artifact": base64::engine::general_purpose::STANDARD.encode(&artifact),
            "signature": signature,
        })),
    );
    assert_eq!(status, 201, "{body}");
}

/// The demo resident applies for the meal subsidy at Lujiazui (the form the
/// portal posts), so Pudong's dashboard has a case to count.
pub fn file_an_application(server: &Server) {
    let token = server.sign_in("citizen-demo");
    let form_token = "A".repeat(43);
    crate::support::pages::runtime().block_on(async {
        let response = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .post(server.url(
                "/t/shanghai/pudong/lujiazui/services/civil-affairs/meal-subsidy/apply",
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "cookie",
                format!("civitas_session={token}; civitas_csrf={form_token}"),
            )
            .body(format!(
                "csrf={form_token}&birth_date=1954-03-02&household_registration=local&living_alone=false&disability_grade=0&economic_status=none"
            ))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), 303, "the application was filed");
    });
}

/// Sets a form control's value as a person choosing it would.
async fn set_value(b: &Browser, css: &str, value: &str) {
    let set = b
        .run(
            "const e = document.querySelector(arguments[0]); if (!e) return false; e.value = arguments[1]; return e.value === arguments[1];",
            json!([css, value]),
        )
        .await;
    assert_eq!(set, json!(true), "{css} cannot take {value}");
}

/// Clicks `css` (a submit button) and waits until the answer's page is
/// complete with `expected` (a CSS selector) on it.
async fn submit(b: &Browser, css: &str, expected: &str) {
    b.run(
        "document.querySelector(arguments[0]).setAttribute('data-old-page', '1');",
        json!([css]),
    )
    .await;
    b.element(css).await.click().await;
    wait_until(
        b,
        "return document.readyState === 'complete' && !document.querySelector('[data-old-page]');",
    )
    .await;
    wait_for(b, expected).await;
}

/// The bindings of Pudong, as the API lists them to the city
/// administrator (the walk runs on the test's runtime: asynchronously).
async fn pudong_bindings(server: &Server) -> serde_json::Value {
    let listed = crate::support::server::get_as(
        server,
        "city-admin",
        "/api/v1/tenants/shanghai/pudong/bindings",
    )
    .await;
    listed["bindings"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|b| b["tenant"] == "310000/310115" && b["service"] == SERVICE)
                .cloned()
        })
        .unwrap_or_default()
}

/// Walks the console; the module developer has published Pudong's 1.1.0
/// ([`publish_pudong_release`]).
pub async fn walk_the_console(server: &Server, shots: Option<&Path>) {
    let Some(b) = browser().await else {
        return;
    };
    let url = |path: &str| format!("http://{}{path}", server.address);

    // The system administrator: the tree, any depth, and a new account at
    // Lujiazui with its one-time password shown once.
    sign_in_as(&b, &url("/console/"), "sys-admin").await;
    wait_for(&b, "ul.tree").await;
    check_page(&b, server, "zh-CN").await;
    let tree = b.text().await;
    for place in ["上海市", "浦东新区", "陆家嘴街道", "四川省"] {
        assert!(tree.contains(place), "{place} missing from\n{tree}");
    }
    if let Some(dir) = shots {
        shoot(&b, dir, "console-tree").await;
    }
    b.element("a[href='/console/t/shanghai/pudong/lujiazui/']")
        .await
        .click()
        .await;
    wait_for(&b, "nav.sections").await;
    check_page(&b, server, "zh-CN").await;
    b.element("nav.sections a[href$='/accounts']")
        .await
        .click()
        .await;
    wait_for(&b, "#new-account").await;
    check_page(&b, server, "zh-CN").await;
    b.element("#username")
        .await
        .type_text("lujiazui-clerk")
        .await;
    b.element("#display_name")
        .await
        .type_text("陆家嘴街道受理员")
        .await;
    set_value(&b, "#line", "civil-affairs").await;
    b.element("#employee_no").await.type_text("LJZ-0007").await;
    submit(&b, "form.application button", "#one-time-password").await;
    let password = b.element("#one-time-password").await.text().await;
    assert!(password.len() >= 16, "a one-time password: {password}");
    assert!(
        b.find("tr[data-username='lujiazui-clerk']").await.is_some(),
        "{}",
        b.text().await
    );
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "console-accounts").await;
    }
    // The same username again is refused, in words, and nothing is lost.
    b.element("#username")
        .await
        .type_text("lujiazui-clerk")
        .await;
    b.element("#display_name").await.type_text("重名").await;
    set_value(&b, "#line", "civil-affairs").await;
    submit(&b, "form.application button", "p.error").await;
    assert!(
        b.text().await.contains("用户名 lujiazui-clerk 已被使用"),
        "{}",
        b.text().await
    );
    assert_eq!(
        b.run(
            "return [document.getElementById('username').value, document.getElementById('display_name').value, document.getElementById('line').value];",
            json!([])
        )
        .await,
        json!(["lujiazui-clerk", "重名", "civil-affairs"]),
        "what was typed is still there"
    );
    sign_out(&b).await;

    // The security administrator grants it the officer's role; a grant
    // that would make the system administrator also the auditor is refused
    // as 三员分立.
    sign_in_as(
        &b,
        &url("/console/t/shanghai/pudong/lujiazui/grants"),
        "sec-admin",
    )
    .await;
    wait_for(&b, "#new-grant").await;
    check_page(&b, server, "zh-CN").await;
    b.element("#account")
        .await
        .type_text("lujiazui-clerk")
        .await;
    set_value(&b, "#role", "officer").await;
    set_value(&b, "#grant-line", "civil-affairs").await;
    submit(&b, "form.application button", "p.notice").await;
    assert!(b.text().await.contains("已授权"), "{}", b.text().await);
    assert!(
        b.find("tr[data-account='lujiazui-clerk'][data-role='officer']")
            .await
            .is_some(),
        "{}",
        b.text().await
    );
    b.element("#account").await.type_text("sys-admin").await;
    set_value(&b, "#role", "audit-admin").await;
    submit(&b, "form.application button", "div.error").await;
    let refused = b.element("div.error").await.text().await;
    assert!(refused.contains("已拒绝：三员分立"), "{refused}");
    assert!(
        refused.contains("系统管理员") || refused.contains("sys-admin"),
        "{refused}"
    );
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "console-grants").await;
    }

    // The same administrator keeps the seals: Lujiazui's street office
    // gets its own civil-affairs seal (a second is refused while it is
    // active), then revokes it.
    b.goto(&url("/console/t/shanghai/pudong/lujiazui/seals"))
        .await;
    wait_for(&b, "#new-seal").await;
    check_page(&b, server, "zh-CN").await;
    set_value(&b, "#seal-line", "civil-affairs").await;
    b.element("#name")
        .await
        .type_text("上海市浦东新区陆家嘴街道办事处")
        .await;
    submit(&b, "form.application button", "p.notice").await;
    assert!(b.text().await.contains("已制章"), "{}", b.text().await);
    let made = b.text().await;
    assert!(made.contains("上海市浦东新区陆家嘴街道办事处"), "{made}");
    set_value(&b, "#seal-line", "civil-affairs").await;
    b.element("#name").await.type_text("重复印章").await;
    submit(&b, "form.application button", "p.error").await;
    assert!(
        b.element("p.error").await.text().await.contains("有效印章"),
        "{}",
        b.text().await
    );
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "console-seals").await;
    }
    submit(&b, "table#seals form.act button", "p.notice").await;
    assert!(b.text().await.contains("印章已吊销"), "{}", b.text().await);
    sign_out(&b).await;

    // The city administrator reads Pudong's dashboard: the application
    // filed at Lujiazui this month, month by month and by street.
    sign_in_as(
        &b,
        &url("/console/t/shanghai/pudong/dashboard"),
        "city-admin",
    )
    .await;
    wait_for(&b, "#kpis").await;
    check_page(&b, server, "zh-CN").await;
    let board = b.text().await;
    assert!(
        board.contains("申请量\n1") || board.contains("申请量 1"),
        "{board}"
    );
    assert!(
        b.find("figure.chart svg rect.filed").await.is_some(),
        "a chart is drawn"
    );
    let lujiazui = b
        .run(
            "return [...document.querySelectorAll('#places tbody tr')].map(r => r.innerText.split('\t').slice(0, 2));",
            json!([]),
        )
        .await;
    assert_eq!(lujiazui, json!([["陆家嘴街道", "1"]]), "{board}");
    if let Some(dir) = shots {
        shoot(&b, dir, "console-dashboard").await;
    }

    // The city administrator first asks what Pudong's new release would
    // change (the report is kept and filled into the form), then rolls it
    // out to 30 % of its cases on that report, then rolls it back.
    b.goto(&url(PUDONG_BINDINGS)).await;
    wait_for(&b, "#bindings").await;
    check_page(&b, server, "zh-CN").await;
    let select = "#version-civil-affairs-meal-subsidy";
    set_value(&b, select, "meal-subsidy-pudong@1.1.0").await;
    set_value(&b, "#percent-civil-affairs-meal-subsidy", "30").await;
    submit(
        &b,
        "#bind-civil-affairs-meal-subsidy ~ form button.quiet",
        "p.notice",
    )
    .await;
    let reported = b.text().await;
    assert!(reported.contains("假设评估报告"), "{reported}");
    let report = b
        .run(
            "return document.querySelector('#what-if-civil-affairs-meal-subsidy').value;",
            json!([]),
        )
        .await;
    assert!(report.as_str().is_some_and(|r| r.len() == 36), "{report}");
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "console-what-if").await;
    }
    submit(
        &b,
        "#bind-civil-affairs-meal-subsidy ~ form button",
        "p.notice",
    )
    .await;
    let rolled_out = b.text().await;
    assert!(rolled_out.contains("已绑定"), "{rolled_out}");
    assert!(
        rolled_out.contains("meal-subsidy-pudong@1.1.0 · 30%"),
        "{rolled_out}"
    );
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "console-bindings").await;
    }
    let pudong = pudong_bindings(server).await;
    assert_eq!(pudong["rollout_percent"], 30, "{pudong}");
    assert_eq!(pudong["candidate"]["version"], "1.1.0", "{pudong}");
    // Pudong binds other services too: the meal subsidy's row's rollback.
    submit(
        &b,
        "td form.act[action$='/civil-affairs/meal-subsidy/rollback'] button",
        "p.notice",
    )
    .await;
    assert!(b.text().await.contains("已回滚"), "{}", b.text().await);
    let pudong = pudong_bindings(server).await;
    assert_eq!(pudong["candidate"], json!(null), "{pudong}");
    assert_eq!(pudong["stable"]["version"], "1.0.0", "{pudong}");
    // The registry: every version with its publisher and signature; the
    // new release's conformance checks run with Pudong's settings.
    b.element("nav.sections a[href$='/bindings/modules']")
        .await
        .click()
        .await;
    wait_for(&b, "#modules").await;
    check_page(&b, server, "zh-CN").await;
    assert!(b.text().await.contains("module-dev"), "{}", b.text().await);
    b.element("a[href*='check=meal-subsidy-pudong@1.1.0']")
        .await
        .click()
        .await;
    wait_for(&b, "#conformance p.notice").await;
    assert!(
        b.element("#conformance")
            .await
            .text()
            .await
            .contains("全部通过"),
        "{}",
        b.text().await
    );
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "console-modules").await;
    }
    sign_out(&b).await;

    // The audit administrator sees each of these events, the chains
    // verified intact, and nothing she could change.
    sign_in_as(&b, &url("/console/t/shanghai/audit"), "audit-admin").await;
    wait_for(&b, "#audit").await;
    check_page(&b, server, "zh-CN").await;
    let log = b.text().await;
    for event in [
        "account.create",
        "lujiazui-clerk",
        "grant.create",
        "module.bind",
    ] {
        assert!(log.contains(event), "{event} missing from\n{log}");
    }
    assert!(log.contains("rollback"), "the rollback is recorded\n{log}");
    let editable = b
        .run(
            "return [...document.querySelectorAll('form')].filter(f => f.method === 'post' && !f.classList.contains('sign-out')).length;",
            json!([]),
        )
        .await;
    assert_eq!(editable, json!(0), "the audit log offers no change");
    let sections = b.element("nav.sections").await.text().await;
    assert!(
        !sections.contains("授权") && !sections.contains("模块绑定"),
        "{sections}"
    );
    b.element("#chain-status a").await.click().await;
    wait_for(&b, "#chain-status p.notice").await;
    assert!(
        b.element("#chain-status")
            .await
            .text()
            .await
            .contains("完整"),
        "{}",
        b.text().await
    );
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "console-audit").await;
    }
    // A section that is not hers is a page that says so.
    b.goto(&url(PUDONG_BINDINGS)).await;
    wait_for(&b, "h1").await;
    assert_eq!(b.element("h1").await.text().await, "无权访问");
    check_page(&b, server, "zh-CN").await;
    sign_out(&b).await;
    b.quit().await;
}

/// Console forms posted without the page's form token (a cross-site post
/// riding the administrator's cookie) are refused and change nothing.
pub fn forged_console_forms_are_refused(server: &Server) {
    let token = server.sign_in("sys-admin");
    let tokens = [
        token.clone(),
        token.clone(),
        server.sign_in("sec-admin"),
        server.sign_in("city-admin"),
    ];
    crate::support::pages::runtime().block_on(async {
        let client = reqwest::Client::new();
        for (token, (path, body)) in tokens.iter().zip([
            (
                "/console/t/shanghai/pudong/lujiazui/accounts",
                "csrf=forged&username=forged-clerk&display_name=x&kind=staff&line=civil-affairs",
            ),
            (
                "/console/t/shanghai/pudong/lujiazui/accounts/lujiazui-officer",
                "csrf=forged&do=disable&reason=x",
            ),
            (
                "/console/t/shanghai/pudong/lujiazui/grants",
                "csrf=forged&account=sys-admin&line=*&role=officer",
            ),
            (
                "/console/t/shanghai/pudong/bindings/civil-affairs/meal-subsidy/rollback",
                "csrf=forged",
            ),
        ]) {
            let response = client
                .post(format!("http://{}{path}", server.address))
                .header("content-type", "application/x-www-form-urlencoded")
                .header(
                    "cookie",
                    format!("civitas_session={token}; civitas_csrf={}", "A".repeat(43)),
                )
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(response.status(), 403, "{path}");
            let text = response.text().await.unwrap_or_default();
            assert!(text.contains("页面已过期"), "{path}: {text}");
        }
    });
    let (status, accounts) = server.request(
        "GET",
        "/api/v1/tenants/shanghai/pudong/lujiazui/accounts",
        Some(&token),
        None,
    );
    assert_eq!(status, 200, "{accounts}");
    let text = accounts.to_string();
    assert!(!text.contains("forged-clerk"), "{text}");
    let officer = accounts["accounts"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["username"] == "lujiazui-officer"))
        .cloned()
        .unwrap_or_default();
    assert_ne!(officer["state"], "disabled", "{officer}");
}
