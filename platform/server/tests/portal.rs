//! The faces in real headless Chromium (Debian's `chromium` and
//! `chromedriver`), on the demo city served by the `civitas` binary — on
//! SQLite and on PostgreSQL: the tenant portal as a resident meets it and
//! the workbench as officers clear it (here), the governance console as the
//! administrators use it (`faces/console.rs`).
//!
//! Screenshots of every page at desktop (1366×768) and phone (375 px)
//! width are saved; `infra/dev/screenshots` writes them into
//! `platform/web/screenshots/` (the README shows them), otherwise a
//! temporary directory takes them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "faces/console.rs"]
mod console;
use crate::support;

use std::path::Path;
use std::time::Duration;

use civitas_testkit::TestDb;
use civitas_testkit::browser::browser;
use serde_json::json;
use support::pages::{
    DESKTOP, check_page, runtime, screenshots, shoot, sign_in_as, sign_out, wait_for, wait_until,
};
use support::server::{Server, post_as, upload_as, with_demo_modules};

const CIVITAS: &str = env!("CARGO_BIN_EXE_civitas");
const LUJIAZUI: &str = "/t/shanghai/pudong/lujiazui/";
const MEAL_SUBSIDY: &str = "/t/shanghai/pudong/lujiazui/services/civil-affairs/meal-subsidy";

async fn walk_the_portal(server: &Server, shots: Option<&Path>) {
    let Some(b) = browser().await else {
        return;
    };
    let url = |path: &str| format!("http://{}{path}", server.address);
    b.resize(DESKTOP.0, DESKTOP.1).await;

    // The street's portal lists what can be applied for here.
    b.goto(&url(LUJIAZUI)).await;
    check_page(&b, server, "zh-CN").await;
    assert_eq!(b.element("h1").await.text().await, "政务服务");
    let text = b.text().await;
    assert!(text.contains("陆家嘴街道"), "{text}");
    assert!(text.contains("社区长者食堂助餐补贴申请"), "{text}");
    assert!(text.contains("职称申报评审"), "{text}");
    if let Some(dir) = shots {
        shoot(&b, dir, "portal-home").await;
    }

    // A resident types the initials of 助餐补贴 and finds it alone.
    b.element("#q").await.type_text("zcbt").await;
    b.element("form.search button").await.click().await;
    wait_until(
        &b,
        "return location.search.includes('q=zcbt') && document.readyState === 'complete';",
    )
    .await;
    let found = b.text().await;
    assert!(found.contains("搜索结果"), "{found}");
    assert!(found.contains("社区长者食堂助餐补贴申请"), "{found}");
    assert!(!found.contains("职称申报评审"), "{found}");
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "portal-search").await;
    }

    // Its guide: who may apply, the steps with their limits in working
    // days, and what the application asks for.
    b.element("ul.cards a").await.click().await;
    wait_until(
        &b,
        &format!(
            "return location.pathname === '{MEAL_SUBSIDY}' && document.readyState === 'complete';"
        ),
    )
    .await;
    check_page(&b, server, "zh-CN").await;
    let guide = b.text().await;
    for expected in [
        "社区长者食堂助餐补贴申请",
        "个人（需实名认证）",
        "街道初审",
        "5个工作日",
        "出生日期",
        "必填",
        "低保",
    ] {
        assert!(guide.contains(expected), "{expected} missing from\n{guide}");
    }
    // The platform's own field (the case number) is not asked for.
    assert!(!guide.contains("办件编号"), "{guide}");
    // What a first visit transfers: the page and everything it loads
    // (their bodies as sent, whether cached now or not), within the
    // portal's budget of 150 KB.
    let weight = b
        .run(
            r#"
            const nav = performance.getEntriesByType('navigation')[0];
            let bytes = nav.transferSize;
            for (const r of performance.getEntriesByType('resource')) bytes += r.encodedBodySize + 300;
            return bytes;
            "#,
            json!([]),
        )
        .await
        .as_u64()
        .unwrap_or(u64::MAX);
    eprintln!("page weight of the service page, first visit: {weight} bytes");
    assert!(
        weight <= 150 * 1024,
        "the service page weighs {weight} bytes"
    );
    if let Some(dir) = shots {
        shoot(&b, dir, "portal-service").await;
    }

    // English on request, remembered from page to page.
    b.element("a.lang").await.click().await;
    wait_until(
        &b,
        "return document.documentElement.lang === 'en' && document.readyState === 'complete';",
    )
    .await;
    check_page(&b, server, "en").await;
    let english = b.text().await;
    assert!(
        english.contains("Community canteen meal subsidy application"),
        "{english}"
    );
    assert!(english.contains("5 working days"), "{english}");
    b.goto(&url(LUJIAZUI)).await;
    check_page(&b, server, "en").await;
    assert_eq!(b.element("h1").await.text().await, "Government services");
    b.element("a.lang").await.click().await;
    wait_until(
        &b,
        "return document.documentElement.lang === 'zh-CN' && document.readyState === 'complete';",
    )
    .await;
    check_page(&b, server, "zh-CN").await;

    // Signing in from the portal: the password is encrypted in the page
    // with the platform's SM2 key (sm-crypto), never posted as it is.
    b.element("a.account").await.click().await;
    wait_for(&b, "#sign-in").await;
    assert!(
        b.url()
            .await
            .contains("/sign-in?next=/t/shanghai/pudong/lujiazui/"),
        "{}",
        b.url().await
    );
    check_page(&b, server, "zh-CN").await;
    assert_eq!(
        b.run(
            "return document.getElementById('password').getAttribute('name');",
            json!([])
        )
        .await,
        json!(null),
        "the password field is never part of the form"
    );
    // A newcomer, Wang Fang, registers from here, at Lujiazui: the
    // passwords must agree, are sealed like the sign-in's, and the new
    // account is shown how to verify who she is before she may apply.
    b.element("#register-link").await.click().await;
    wait_for(&b, "#register").await;
    assert!(b.text().await.contains("陆家嘴街道"), "{}", b.text().await);
    check_page(&b, server, "zh-CN").await;
    for (field, value) in [
        ("#name", "王芳"),
        ("#number", "310115194005010023"),
        ("#username", "wang-fang"),
        ("#password", "Civitas#2026"),
        ("#password-again", "Civitas#2027"),
    ] {
        b.element(field).await.type_text(value).await;
    }
    b.element("#register button").await.click().await;
    wait_for(&b, "#sign-in-status:not([hidden])").await;
    assert!(b.text().await.contains("两次输入的密码不一致"));
    if let Some(dir) = shots {
        shoot(&b, dir, "register").await;
    }
    b.run(
        "document.getElementById('password-again').value = 'Civitas#2026';",
        json!([]),
    )
    .await;
    b.element("#register button").await.click().await;
    wait_for(&b, "#unverified").await;
    let verify = b.text().await;
    assert!(
        verify.contains("窗口核验") && verify.contains("wang-fang"),
        "{verify}"
    );
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "verify-identity").await;
    }
    sign_out(&b).await;

    // She shows her identity card at Lujiazui's counter; the officer checks
    // it in the workbench.
    sign_in_as(&b, &url("/workbench/"), "lujiazui-officer").await;
    b.element("#counter-link").await.click().await;
    wait_for(&b, "#counter-check").await;
    b.element("#username").await.type_text("wang-fang").await;
    b.element("#number")
        .await
        .type_text("310115194005010023")
        .await;
    b.element("#counter-check button").await.click().await;
    wait_for(&b, "#counter-done").await;
    assert!(b.text().await.contains("已完成实名核验：wang-fang"));
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "workbench-counter-check").await;
    }
    sign_out(&b).await;
    b.goto(&url(&format!("/sign-in?next={LUJIAZUI}"))).await;
    wait_for(&b, "#sign-in").await;

    b.element("#username").await.type_text("wang-fang").await;
    b.element("#password").await.type_text("Wrong#2026").await;
    b.element("#sign-in button").await.click().await;
    wait_for(&b, "p.error:not([hidden])").await;
    let refused = b.text().await;
    assert!(refused.contains("用户名或密码错误"), "{refused}");
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "sign-in").await;
    }
    b.element("#password").await.type_text("Civitas#2026").await;
    b.element("#sign-in button").await.click().await;
    wait_for(&b, "span.account").await;
    assert!(
        b.url().await.ends_with(LUJIAZUI),
        "back where she was: {}",
        b.url().await
    );
    assert_eq!(
        b.element("span.account").await.text().await,
        "已登录：wang-fang"
    );
    assert_eq!(
        b.run(
            "return document.cookie.includes('civitas_session');",
            json!([])
        )
        .await,
        json!(false),
        "the session cookie is HttpOnly"
    );
    check_page(&b, server, "zh-CN").await;

    // She applies for the meal subsidy: the form is the service's schema,
    // every field labelled; the receipt names the case, its step and when
    // the step is due.
    b.goto(&url(MEAL_SUBSIDY)).await;
    b.element("#apply").await.click().await;
    wait_for(&b, "form.application").await;
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "portal-apply").await;
    }
    b.run(
        "document.getElementById('f-birth_date').value = '1940-05-01';",
        json!([]),
    )
    .await;
    for (select, value) in [
        ("#f-household_registration", "local"),
        ("#f-economic_status", "low-income"),
    ] {
        b.run(
            "document.querySelector(arguments[0]).value = arguments[1];",
            json!([select, value]),
        )
        .await;
    }
    b.element("input[name=living_alone][value=true]")
        .await
        .click()
        .await;
    b.element("#f-disability_grade").await.type_text("0").await;
    b.element("form.application button").await.click().await;
    wait_for(&b, "#case-id").await;
    check_page(&b, server, "zh-CN").await;
    let receipt = b.text().await;
    for expected in ["申请已提交", "办件编号", "办理中", "街道初审", "工作日"] {
        assert!(
            receipt.contains(expected),
            "{expected} missing from\n{receipt}"
        );
    }
    let case_id = b.element("#case-id").await.text().await;
    assert!(!case_id.is_empty());
    // She uploads her household registration certificate (a real file the
    // browser reads from disk), and sees it listed.
    let scans = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let scan = scans.path().join("户籍证明.pdf");
    std::fs::write(
        &scan,
        b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    b.element("#document")
        .await
        .type_text(&scan.display().to_string())
        .await;
    b.element("form.upload button").await.click().await;
    wait_for(&b, "ul.documents a").await;
    assert_eq!(
        b.element("ul.documents a").await.text().await,
        "户籍证明.pdf"
    );
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "portal-case").await;
    }
    // Her applications, from the masthead.
    b.element("a.cases").await.click().await;
    wait_for(&b, "ul.cases").await;
    check_page(&b, server, "zh-CN").await;
    assert!(b.text().await.contains(&case_id), "{}", b.text().await);
    if let Some(dir) = shots {
        shoot(&b, dir, "portal-my-cases").await;
    }

    // Signing out ends the session; the portal offers sign-in again.
    sign_out(&b).await;
    b.goto(&url(LUJIAZUI)).await;
    assert!(b.find("a.account").await.is_some(), "signed out");

    // The street officer first returns it with a reason (the certificate's
    // stamp cannot be read); she reads why, corrects and resubmits.
    sign_in_as(
        &b,
        &url(&format!(
            "/workbench/t/310000/310115/310115005/cases/{case_id}"
        )),
        "lujiazui-officer",
    )
    .await;
    wait_for(&b, "#reason-return").await;
    b.element("#reason-return")
        .await
        .type_text("户籍证明印章不清晰，请补正")
        .await;
    b.element("form.act:has(#reason-return) button")
        .await
        .click()
        .await;
    wait_until(
        &b,
        "return location.pathname === '/workbench/' && document.readyState === 'complete';",
    )
    .await;
    sign_out(&b).await;
    sign_in_as(&b, &url(&format!("{LUJIAZUI}cases/{case_id}")), "wang-fang").await;
    wait_for(&b, "#correct").await;
    let returned = b.element("#return-reason").await.text().await;
    assert!(
        returned.contains("户籍证明印章不清晰，请补正"),
        "{returned}"
    );
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "portal-returned").await;
    }
    b.element("section[aria-labelledby=correct] form.application button")
        .await
        .click()
        .await;
    wait_until(
        &b,
        "return document.readyState === 'complete' && !document.getElementById('correct') && !!document.getElementById('case-state');",
    )
    .await;
    assert_eq!(b.element("#case-state").await.text().await, "办理中");
    sign_out(&b).await;

    // The street officer's workbench: the case waits in the inbox; she
    // reads it and approves. Then the district reviewer approves.
    for (officer, step, shot) in [
        ("lujiazui-officer", "街道初审", "workbench"),
        ("pudong-reviewer", "区级审批", "workbench-district"),
    ] {
        sign_in_as(&b, &url("/workbench/"), officer).await;
        wait_for(&b, "table.tasks").await;
        check_page(&b, server, "zh-CN").await;
        let inbox = b.text().await;
        assert!(inbox.contains(step), "{officer}: {inbox}");
        if let Some(dir) = shots {
            shoot(&b, dir, &format!("{shot}-inbox")).await;
        }
        if officer == "lujiazui-officer" {
            // The search box finds the case by its service's words.
            b.element("#q").await.type_text("助餐补贴").await;
            b.element("form.search button").await.click().await;
            wait_for(&b, "#found").await;
            assert!(
                b.find(&format!("#found a[href$='{case_id}']"))
                    .await
                    .is_some(),
                "{}",
                b.text().await
            );
            check_page(&b, server, "zh-CN").await;
            if let Some(dir) = shots {
                shoot(&b, dir, "workbench-search").await;
            }
            b.goto(&url("/workbench/")).await;
            wait_for(&b, "table.tasks").await;
        }
        b.element(&format!("a[href$='{case_id}']"))
            .await
            .click()
            .await;
        wait_for(&b, "form.act").await;
        check_page(&b, server, "zh-CN").await;
        assert!(
            b.text().await.contains("户籍证明.pdf"),
            "{officer} sees the uploaded document"
        );
        if let Some(dir) = shots {
            shoot(&b, dir, &format!("{shot}-case")).await;
        }
        // The date of birth is masked; the reviewer's role may show it in
        // full, with a reason (audited), and acts from that page.
        assert!(b.text().await.contains("1940-**-**"), "{officer}: masked");
        if officer == "pudong-reviewer" {
            b.element("#reveal-reason")
                .await
                .type_text("核对出生日期与户籍证明是否一致")
                .await;
            b.element("#reveal button").await.click().await;
            wait_for(&b, "#personal-shown").await;
            assert!(b.text().await.contains("1940-05-01"));
            check_page(&b, server, "zh-CN").await;
            if let Some(dir) = shots {
                shoot(&b, dir, "workbench-reveal").await;
            }
        } else {
            assert!(
                b.find("#reveal").await.is_none(),
                "an officer may not reveal"
            );
        }
        b.element("form.act button").await.click().await;
        wait_until(
            &b,
            "return location.pathname === '/workbench/' && document.readyState === 'complete';",
        )
        .await;
        sign_out(&b).await;
    }
    // She sees it finished.
    sign_in_as(&b, &url(&format!("{LUJIAZUI}cases/{case_id}")), "wang-fang").await;
    wait_for(&b, "#case-state").await;
    assert_eq!(
        b.element("#case-state").await.text().await,
        "已办结（准予）"
    );
    check_page(&b, server, "zh-CN").await;
    // 好差评: she rates the finished case; the rating shows in its place.
    b.run(
        "document.querySelector('input[name=score][value=\"5\"]').checked = true;",
        json!([]),
    )
    .await;
    b.element("#comment")
        .await
        .type_text("办理很快，工作人员很耐心")
        .await;
    b.element("form.rate button").await.click().await;
    wait_for(&b, "#rating").await;
    let rated = b.element("#rating").await.text().await;
    assert!(rated.contains("非常满意"), "{rated}");
    assert!(b.text().await.contains("办理很快，工作人员很耐心"));
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "portal-rated").await;
    }

    // 消息中心: every step of her case reached her message centre (this
    // node sends no SMS or e-mail: those channels say so).
    b.element("a.messages").await.click().await;
    wait_for(&b, "#unread").await;
    let started = std::time::Instant::now();
    while !b.text().await.contains("已办结") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}",
            b.text().await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        b.goto(&url(&format!("{LUJIAZUI}messages"))).await;
        wait_for(&b, "#unread").await;
    }
    check_page(&b, server, "zh-CN").await;
    let centre = b.text().await;
    for expected in [
        "已提交",
        "退回补正",
        "户籍证明印章不清晰，请补正",
        "已重新提交",
        "已办结",
        "办理人",
        "办理时间",
        "办理事项",
        "（本平台暂未开通）",
    ] {
        assert!(
            centre.contains(expected),
            "{expected} missing from\n{centre}"
        );
    }
    let unread: u32 = b
        .element("#unread strong")
        .await
        .text()
        .await
        .parse()
        .unwrap_or(0);
    assert!(unread >= 5, "{centre}");
    // She reads the newest, and gives her mobile number for later notices.
    b.element("ul.messages form button").await.click().await;
    wait_until(
        &b,
        "return location.hash.startsWith('#message-') && document.readyState === 'complete';",
    )
    .await;
    let now_unread: u32 = b
        .element("#unread strong")
        .await
        .text()
        .await
        .parse()
        .unwrap_or(0);
    assert_eq!(now_unread, unread - 1);
    b.element("#phone").await.type_text("13912345678").await;
    b.element("#settings form button").await.click().await;
    wait_for(&b, "p.notice").await;
    assert!(
        b.element("#phone-now")
            .await
            .text()
            .await
            .contains("139****5678")
    );
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "portal-messages").await;
    }
    sign_out(&b).await;

    // The street's delivery records on the workbench: each notice per
    // channel, with its handler, time, status and matter.
    sign_in_as(&b, &url("/workbench/"), "lujiazui-officer").await;
    b.element("#deliveries-link").await.click().await;
    wait_for(&b, "table.deliveries").await;
    check_page(&b, server, "zh-CN").await;
    let records = b.text().await;
    for expected in ["通知发送记录", "站内消息", "已发送", "退回补正"] {
        assert!(
            records.contains(expected),
            "{expected} missing from\n{records}"
        );
    }
    if let Some(dir) = shots {
        shoot(&b, dir, "workbench-deliveries").await;
    }
    sign_out(&b).await;

    // A penalty case (seed 004): the officer files it with the facts
    // found (through the API, as the enforcement system does) and ends the
    // investigation on the workbench; Pudong's discretion module proposes
    // the band, which the legal reviewer reads on the case's page.
    let penalty = penalty_case(server).await;
    for (who, shot) in [
        ("pudong-market-officer", None),
        ("pudong-market-reviewer", Some("workbench-penalty-case")),
    ] {
        sign_in_as(
            &b,
            &url(&format!("/workbench/t/310000/310115/cases/{penalty}")),
            who,
        )
        .await;
        wait_for(&b, "form.act").await;
        check_page(&b, server, "zh-CN").await;
        if let Some(shot) = shot {
            let text = b.text().await;
            for shown in [
                "proposal",
                "penalty-discretion-pudong@1.0.0",
                "从轻处罚",
                "建议罚款上限（元）",
                "70,000",
                "初次违法、及时改正",
                "《中华人民共和国食品安全法》第一百二十四条第一款第（五）项",
            ] {
                assert!(text.contains(shown), "{shown} missing: {text}");
            }
            if let Some(dir) = shots {
                shoot(&b, dir, shot).await;
            }
        } else {
            b.element("form.act button").await.click().await;
            wait_until(
                &b,
                "return location.pathname === '/workbench/' && document.readyState === 'complete';",
            )
            .await;
        }
        sign_out(&b).await;
    }

    // The reviewer passes the legal review and decides (over the API, as
    // above); the decision is issued on the case's page — the fine within
    // the band Pudong's rule proposed — and sealed with the bureau's seal.
    for _ in 0..2 {
        let acted = post_as(
            server,
            "pudong-market-reviewer",
            &format!("/api/v1/tenants/310000/310115/cases/{penalty}/actions"),
            json!({"action": "approve"}),
        )
        .await;
        assert!(acted["state"].is_string(), "{acted}");
    }
    sign_in_as(
        &b,
        &url(&format!("/workbench/t/310000/310115/cases/{penalty}")),
        "pudong-market-reviewer",
    )
    .await;
    wait_for(&b, "form.issue").await;
    check_page(&b, server, "zh-CN").await;
    if let Some(dir) = shots {
        shoot(&b, dir, "workbench-issue-penalty-decision").await;
    }
    b.element("form.issue input[name=fine_yuan]")
        .await
        .type_text("50000")
        .await;
    b.element("form.issue input[name=address]")
        .await
        .type_text("上海市浦东新区某路1号")
        .await;
    b.element("form.issue button").await.click().await;
    wait_until(
        &b,
        "return document.querySelector('#sealed a[download]') !== null && document.readyState === 'complete';",
    )
    .await;
    check_page(&b, server, "zh-CN").await;
    let text = b.text().await;
    assert!(text.contains("行政处罚决定书（浦市监罚〔"), "{text}");
    if let Some(dir) = shots {
        shoot(&b, dir, "workbench-penalty-decision-issued").await;
    }
    sign_out(&b).await;

    // Anyone checks the decision on /verify, signed in or not: the file
    // as the party received it, then a copy with one byte changed.
    let token = support::server::demo_token(server, "pudong-market-reviewer").await;
    let pdf = reqwest::Client::new()
        .get(server.url(&format!(
            "/api/v1/tenants/310000/310115/cases/{penalty}/issued-documents/penalty-decision/content"
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let files = tempfile::tempdir().unwrap();
    let mut changed = pdf.clone();
    let middle = changed.len() / 2;
    changed[middle] ^= 0x20;
    for (name, bytes, verdict, shot) in [
        ("decision.pdf", &pdf, "签章有效", "verify-document-valid"),
        (
            "changed.pdf",
            &changed,
            "核验未通过",
            "verify-document-refused",
        ),
    ] {
        let file = files.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        b.goto(&url("/verify")).await;
        check_page(&b, server, "zh-CN").await;
        b.element("input#file")
            .await
            .type_text(&file.display().to_string())
            .await;
        b.element("form.upload button").await.click().await;
        wait_for(&b, "#verdict").await;
        check_page(&b, server, "zh-CN").await;
        let text = b.text().await;
        assert!(text.contains(verdict), "{name}: {text}");
        if let Some(dir) = shots {
            shoot(&b, dir, shot).await;
        }
    }

    // A wage-arrears warning (seed 000): the city imports November's
    // project data and runs the month; Pudong's inspector reads the
    // warning Pudong's rules gave on the case's page, ready to assign it
    // to a street.
    let warning = wage_arrears_warning(server).await;
    sign_in_as(
        &b,
        &url(&format!("/workbench/t/310000/310115/cases/{warning}")),
        "pudong-hr-inspector",
    )
    .await;
    wait_for(&b, "form.act").await;
    check_page(&b, server, "zh-CN").await;
    let text = b.text().await;
    for shown in [
        "wage-arrears-warning-pudong@1.0.0",
        "未及时发放工资 · 红色 · 截至 2026-11-30 已 45 天无代发工资记录（阈值 30 天）",
        "陆家嘴某办公楼新建工程",
        "区级接收指派",
    ] {
        assert!(text.contains(shown), "{shown} missing: {text}");
    }
    if let Some(dir) = shots {
        shoot(&b, dir, "workbench-wage-arrears-warning").await;
    }
    sign_out(&b).await;

    // A lottery published at Pudong is public: its page shows the frozen
    // entries, the day of the draw and the public value it waits for, and
    // how anyone will recompute it (the drawn page: civitas-web's tests).
    let (lottery, published_sm3) = published_lottery(server).await;
    b.goto(&url(&format!("/t/shanghai/pudong/lotteries/{lottery}")))
        .await;
    check_page(&b, server, "zh-CN").await;
    assert_eq!(
        b.element("h1").await.text().await,
        "2026年第四季度张江国际社区人才公寓一室一厅摇号"
    );
    let text = b.text().await;
    for shown in [
        published_sm3.as_str(),
        "一室一厅",
        "已公示，待摇号",
        "公示名单",
        "上证指数",
        "如何复核",
    ] {
        assert!(text.contains(shown), "{shown}: {text}");
    }
    if let Some(dir) = shots {
        shoot(&b, dir, "portal-lottery").await;
    }

    // A place that does not exist is a page that says so, in Chinese.
    b.goto(&url("/t/shanghai/nowhere/")).await;
    check_page(&b, server, "zh-CN").await;
    assert_eq!(b.element("h1").await.text().await, "页面不存在");
    b.quit().await;
}

/// A penalty case filed at Pudong by its enforcement officer over the API,
/// with the facts of a supermarket's first sale of expired food; its id.
async fn penalty_case(server: &Server) -> String {
    let filed = post_as(server, "pudong-market-officer", "/api/v1/tenants/310000/310115/cases",
        json!({"service": "market-regulation/penalty-case", "title": "某超市销售过期酸奶案", "data": {
            "party": "上海某超市有限公司", "party_credit_code": "91310115MA1K4B8E73",
            "violation": "销售超过保质期的酸奶 24 盒", "violation_code": "food-expired",
            "registration_authority": "district", "goods_value_yuan": 216, "illegal_gains_yuan": 48,
            "harm": "minor", "first_offence": true, "corrected_promptly": true}})).await;
    filed["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{filed}"))
        .to_owned()
}

/// The README's sample month of project data imported and run by the
/// city's HR dispatcher over the API; the case of the warning at PD-0311
/// (Lujiazui, 45 days without a wage payout: past Pudong's 30).
async fn wage_arrears_warning(server: &Server) -> String {
    let sample = std::fs::read(
        civitas_testkit::repository_dir()
            .join("tenants/_services/hr-social-security/wage-arrears-warning/sample-2026-11.csv"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let stored = upload_as(
        server,
        "city-hr-dispatcher",
        "/api/v1/tenants/310000/wage-arrears/project-months",
        "text/csv",
        sample,
    )
    .await;
    assert_eq!(stored["stored"], 6, "{stored}");
    let run = post_as(
        server,
        "city-hr-dispatcher",
        "/api/v1/tenants/310000/wage-arrears/runs",
        json!({"month": "2026-11"}),
    )
    .await;
    assert_eq!(run["warned"], 4, "{run}");
    run["opened"]
        .as_array()
        .and_then(|opened| opened.iter().find(|o| o["project_code"] == "PD-0311"))
        .and_then(|o| o["case_id"].as_str())
        .unwrap_or_else(|| panic!("{run}"))
        .to_owned()
}

/// Three talent-apartment applications filed at Pudong by citizen-demo,
/// admitted by Pudong's housing office and published for two units, to be
/// drawn tomorrow, over the API; the lottery's id and the SM3 of its text.
async fn published_lottery(server: &Server) -> (String, String) {
    for (name, tier) in [("张三", "city-key"), ("李四", "young"), ("王五", "young")] {
        let filed = post_as(server, "citizen-demo", "/api/v1/tenants/310000/310115/cases", json!({
            "service": "housing/talent-apartment", "data": {
                "applicant_name": name, "project": "张江国际社区人才公寓", "unit_type": "one-bedroom",
                "talent_tier": tier, "full_time_contract": true, "owns_home_in_city": false,
                "clean_record": true, "already_housed": false, "key_employer_recommended": false,
                "household_size": 1, "months_in_district": 30, "employer_area": "other"}})).await;
        let id = filed["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{filed}"))
            .to_owned();
        for who in ["pudong-housing-officer", "pudong-housing-reviewer"] {
            let acted = post_as(
                server,
                who,
                &format!("/api/v1/tenants/310000/310115/cases/{id}/actions"),
                json!({"action": "approve"}),
            )
            .await;
            assert!(acted["id"].is_string(), "{acted}");
        }
    }
    let tomorrow = (civitas_workflow::today_in_china() + chrono::Days::new(1)).to_string();
    let published = post_as(
        server,
        "pudong-housing-reviewer",
        "/api/v1/tenants/310000/310115/lotteries",
        json!({"title": "2026年第四季度张江国际社区人才公寓一室一厅摇号", "service": "housing/talent-apartment",
               "project": "张江国际社区人才公寓", "unit_type": "one-bedroom", "units": 2,
               "draw_on": tomorrow, "public_value": format!("上证指数 {tomorrow} 收盘价"), "value_decimals": 2}),
    )
    .await;
    let field = |name: &str| {
        published[name]
            .as_str()
            .unwrap_or_else(|| panic!("{published}"))
            .to_owned()
    };
    (field("id"), field("published_sm3"))
}

/// A form posted without the page's form token (a cross-site post) is
/// refused and does nothing.
fn forged_forms_are_refused(server: &Server) {
    runtime().block_on(async {
        let client = reqwest::Client::new();
        for (path, body) in [
            (
                "/sign-in",
                "csrf=forged&next=%2F&username=citizen-demo&password_sm2=00",
            ),
            ("/sign-out", "csrf=forged"),
        ] {
            let response = client
                .post(format!("http://{}{path}", server.address))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", format!("civitas_csrf={}", "A".repeat(43)))
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(response.status(), 403, "{path}");
            let sessions = response
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter(|v| v.as_bytes().starts_with(b"civitas_session=v1"))
                .count();
            assert_eq!(sessions, 0, "{path} opened a session");
            let text = response.text().await.unwrap_or_default();
            assert!(text.contains("页面已过期"), "{path}: {text}");
        }
    });
}

/// The answers' headers: a page may load only from this server, and no
/// other site may frame it.
fn check_headers(server: &Server) {
    let (status, headers, _) = server.exchange("GET", LUJIAZUI, None, None, None);
    assert_eq!(status, 200);
    let csp = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(
        headers.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    assert_eq!(
        headers.get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..]),
        "pages are not kept"
    );
    let (status, headers, _) =
        server.exchange("GET", "/t/shanghai/nowhere/services/x/y", None, None, None);
    assert_eq!(status, 404);
    assert!(headers.get("content-security-policy").is_some());
    let (status, _, _) = server.exchange(
        "GET",
        "/t/shanghai/pudong/lujiazui/services/market-regulation/penalty-case",
        None,
        None,
        None,
    );
    assert_eq!(
        status, 404,
        "a service that takes no applications has no page"
    );
    // A face's path no route matches is a page too, not the API's JSON.
    for path in [
        "/t/shanghai/pudong/lujiazui/no-such-page",
        "/workbench/no-such-page",
    ] {
        let (status, headers, body) = server.exchange("GET", path, None, None, None);
        assert_eq!(status, 404, "{path}");
        assert!(
            body.as_str().unwrap_or_default().contains("页面不存在"),
            "{path}: {body}"
        );
        assert!(headers.get("content-security-policy").is_some(), "{path}");
    }
    let (status, _, body) = server.exchange("GET", "/api/v1/no-such-route", None, None, None);
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("route_not_found"))
    );
}

#[test]
fn a_resident_finds_a_service_and_reads_its_guide_on_sqlite() {
    let dir = civitas_testkit::tenants_copy();
    let mut command = civitas_testkit::clean_command(CIVITAS, dir.path());
    let server = Server::start(with_demo_modules(&mut command).args(["serve", "--demo"]));
    check_headers(&server);
    forged_forms_are_refused(&server);
    let (shots, _keep) = screenshots();
    runtime().block_on(walk_the_portal(&server, Some(&shots)));
}

#[test]
fn a_resident_finds_a_service_and_reads_its_guide_on_postgres() {
    let rt = runtime();
    let Some(t) = rt.block_on(TestDb::postgres()) else {
        return;
    };
    let dir = civitas_testkit::tenants_copy();
    let mut command = civitas_testkit::clean_command(CIVITAS, dir.path());
    let server = Server::start(
        with_demo_modules(&mut command)
            .args(["serve", "--demo"])
            .env("DATABASE_URL", &t.url)
            .env("CIVITAS_MASTER_KEY", "0123456789abcdeffedcba9876543210"),
    );
    check_headers(&server);
    rt.block_on(walk_the_portal(&server, None));
}

#[test]
fn administrators_govern_the_city_in_the_console_on_sqlite() {
    let dir = civitas_testkit::tenants_copy();
    let mut command = civitas_testkit::clean_command(CIVITAS, dir.path());
    let server = Server::start(with_demo_modules(&mut command).args(["serve", "--demo"]));
    console::forged_console_forms_are_refused(&server);
    console::publish_pudong_release(&server);
    console::file_an_application(&server);
    let (shots, _keep) = screenshots();
    runtime().block_on(console::walk_the_console(&server, Some(&shots)));
}

#[test]
fn administrators_govern_the_city_in_the_console_on_postgres() {
    let rt = runtime();
    let Some(t) = rt.block_on(TestDb::postgres()) else {
        return;
    };
    let dir = civitas_testkit::tenants_copy();
    let mut command = civitas_testkit::clean_command(CIVITAS, dir.path());
    let server = Server::start(
        with_demo_modules(&mut command)
            .args(["serve", "--demo"])
            .env("DATABASE_URL", &t.url)
            .env("CIVITAS_MASTER_KEY", "0123456789abcdeffedcba9876543210"),
    );
    console::forged_console_forms_are_refused(&server);
    console::publish_pudong_release(&server);
    console::file_an_application(&server);
    rt.block_on(console::walk_the_console(&server, None));
}
