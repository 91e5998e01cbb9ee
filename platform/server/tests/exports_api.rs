//! Exports (`…/export` beside each list route): the workbook holds the
//! rows the list API gives the same caller, masked as the list masks them,
//! every page of them; the caller needs what the list needs; each export
//! is audited with its filter, rows and the file's SM3, the digest the
//! answer carries. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use access::World;
use axum::http::StatusCode;
use civitas_sheet::{Format, Row, read};
use civitas_testkit::both_backends;
use serde_json::{Value, json};

const LUJIAZUI: &str = "310000/310115/310115005";
const PUDONG: &str = "310000/310115";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Applications filed: more than one page (200) of the export's reads.
const FILED: usize = 205;

/// A meal-subsidy application of someone born on day `n` of 1950.
fn application(n: usize) -> Value {
    let born = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap() + chrono::Days::new(n as u64);
    json!({"service": "civil-affairs/meal-subsidy", "data": {
        "birth_date": born.to_string(), "household_registration": "local", "living_alone": n.is_multiple_of(2),
        "disability_grade": 0, "economic_status": "none"}})
}

/// Every page of a list route as `who` reads it: the items under `key`.
async fn every_page(world: &World, who: &str, uri: &str, key: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let sep = if uri.contains('?') { '&' } else { '?' };
        let page_uri = match &after {
            Some(a) => format!("{uri}{sep}limit=200&after={a}"),
            None => format!("{uri}{sep}limit=200"),
        };
        let reply = world
            .call("GET", &page_uri, Some(world.token(who)), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{page_uri}: {}", reply.body);
        items.extend(reply.body[key].as_array().unwrap().iter().cloned());
        match reply.body["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// A downloaded export, checked as a file: its type, length, rows and
/// digest headers; its rows as a spreadsheet reads them (header first).
async fn export(world: &World, who: &str, uri: &str) -> (Vec<Row>, String) {
    let (status, headers, bytes) = world.download(uri, Some(world.token(who)), None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{uri}: {}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(headers["content-type"], XLSX);
    assert_eq!(headers["content-length"], bytes.len().to_string().as_str());
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let sm3 = hex::encode(civitas_crypto::sm3::digest(&bytes));
    assert_eq!(
        headers["x-export-sm3"],
        sm3.as_str(),
        "the digest header is the file's"
    );
    let rows = read(&bytes, Format::Xlsx, 100_000).unwrap();
    assert_eq!(
        headers["x-export-rows"],
        (rows.len() - 1).to_string().as_str(),
        "every data row counted"
    );
    (rows, sm3)
}

/// The column headed `zh` (the header's Chinese line).
fn column(rows: &[Row], zh: &str) -> usize {
    rows[0]
        .cells
        .iter()
        .position(|c| c.text().split('\n').next() == Some(zh))
        .unwrap_or_else(|| panic!("no column {zh}"))
}

/// The text of row `row`'s cell in `column` (cells past a row's last
/// written one are empty).
fn cell(rows: &[Row], row: usize, column: usize) -> &str {
    rows[row].cells.get(column).map_or("", |c| c.text())
}

/// The export records of `action` at `tenant`, newest first, as the audit
/// administrator reads them.
async fn export_records(world: &World, tenant: &str, action: &str) -> Vec<Value> {
    let reply = world
        .call(
            "GET",
            &format!("/api/v1/tenants/{tenant}/audit?action={action}"),
            Some(world.token("audit-admin")),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["records"].as_array().unwrap().clone()
}

both_backends! {
    async fn a_cases_export_holds_every_row_of_the_list_masked_as_the_list_and_is_audited(t) {
        let world = World::demo(&t).await;
        for n in 0..FILED {
            let filed = world
                .call("POST", &format!("/api/v1/tenants/{LUJIAZUI}/cases"),
                      Some(world.token("citizen-demo")), Some(application(n)))
                .await;
            assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
        }
        let service = "service=civil-affairs/meal-subsidy";

        // Pudong's reviewer: the list, every page, and the export of the
        // same filter hold the same cases in the same order, masked alike.
        let listed = every_page(&world, "pudong-reviewer",
            &format!("/api/v1/tenants/{PUDONG}/cases?{service}"), "cases").await;
        assert_eq!(listed.len(), FILED);
        let (rows, sm3) = export(&world, "pudong-reviewer",
            &format!("/api/v1/tenants/{PUDONG}/cases/export?{service}")).await;
        assert_eq!(rows.len(), FILED + 1);
        let (id, title, born, state) = (
            column(&rows, "办件编号"), column(&rows, "标题"),
            column(&rows, "出生日期"), column(&rows, "状态"));
        for (i, case) in listed.iter().enumerate() {
            assert_eq!(cell(&rows, i + 1, id), case["id"].as_str().unwrap());
            assert_eq!(cell(&rows, i + 1, title), case["title"].as_str().unwrap());
            assert_eq!(cell(&rows, i + 1, born), case["data"]["birth_date"].as_str().unwrap());
            assert_eq!(cell(&rows, i + 1, state), "办理中");
        }
        assert!(listed[0]["masked"].as_array().unwrap().contains(&json!("birth_date")));
        // The eligibility hook's answer, as the list gives it.
        let decisions: Value =
            serde_json::from_str(cell(&rows, 1, column(&rows, "规则判定（JSON）"))).unwrap();
        assert_eq!(decisions, listed[0]["outcomes"]);
        // … and as people read it: the module, the decision, its figures.
        let read = cell(&rows, 1, column(&rows, "规则判定"));
        assert!(read.contains("meal-subsidy-pudong@") && read.contains("符合条件"), "{read}");
        assert!(cell(&rows, 1, born).ends_with("-**-**"), "masked: {}", cell(&rows, 1, born));

        // Audited once at Pudong: who, the filter, the rows, the digest.
        let records = export_records(&world, PUDONG, "case.export").await;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["actor"], "pudong-reviewer");
        assert_eq!(records[0]["detail"]["rows"], FILED);
        assert_eq!(records[0]["detail"]["sm3"], sm3.as_str());
        assert_eq!(records[0]["detail"]["filter"]["service"], "civil-affairs/meal-subsidy");

        // Without a service the application is one column of JSON, masked.
        let (rows, _) = export(&world, "pudong-reviewer",
            &format!("/api/v1/tenants/{PUDONG}/cases/export?state=open")).await;
        assert_eq!(rows.len(), FILED + 1);
        let document: Value =
            serde_json::from_str(cell(&rows, 1, column(&rows, "申请材料"))).unwrap();
        assert_eq!(document["birth_date"], listed[0]["data"]["birth_date"]);

        // The applicant exports their own cases in full.
        let (rows, _) = export(&world, "citizen-demo",
            &format!("/api/v1/tenants/{LUJIAZUI}/cases/export?{service}")).await;
        assert_eq!(rows.len(), FILED + 1);
        let born = column(&rows, "出生日期");
        let mut exported: Vec<&str> = (1..rows.len()).map(|r| cell(&rows, r, born)).collect();
        exported.sort_unstable();
        let filed: Vec<String> = (0..FILED)
            .map(|n| application(n)["data"]["birth_date"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(exported, filed, "every date of birth as filed, none masked");

        // Who may not list may not export, and nothing is recorded.
        let recorded = export_records(&world, PUDONG, "case.export").await.len();
        assert_eq!(recorded, 3, "two at Pudong, the applicant's at Lujiazui");
        let (status, _, _) = world
            .download(&format!("/api/v1/tenants/{PUDONG}/cases/export"),
                      Some(world.token("huangpu-reviewer")), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = world
            .download(&format!("/api/v1/tenants/{PUDONG}/cases/export"), None, None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(export_records(&world, PUDONG, "case.export").await.len(), recorded);

        // HEAD would record an export that sends nothing: refused.
        let head = world
            .call("HEAD", &format!("/api/v1/tenants/{PUDONG}/cases/export"),
                  Some(world.token("pudong-reviewer")), None)
            .await;
        assert_eq!(head.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(export_records(&world, PUDONG, "case.export").await.len(), recorded);

        // Paging belongs to the list: an export takes no cursor.
        let refused = world
            .call("GET", &format!("/api/v1/tenants/{PUDONG}/cases/export?limit=5"),
                  Some(world.token("pudong-reviewer")), None)
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);

        // The street officer's inbox: the same tasks as the inbox API, and
        // a record at the tenant of the grant whose queue was read.
        let tasks = every_page(&world, "lujiazui-officer", "/api/v1/inbox", "items").await;
        assert_eq!(tasks.len(), FILED);
        let (rows, _) = export(&world, "lujiazui-officer", "/api/v1/inbox/export").await;
        let id = column(&rows, "办件编号");
        let exported: Vec<&str> = (1..rows.len()).map(|r| cell(&rows, r, id)).collect();
        let listed: Vec<&str> = tasks.iter().map(|t| t["case_id"].as_str().unwrap()).collect();
        assert_eq!(exported, listed);
        let records = export_records(&world, LUJIAZUI, "inbox.export").await;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["detail"]["rows_here"], FILED);

        // The dashboard's figures: a row per street of Pudong that has
        // cases, Pudong's own, then the months and the total.
        let (rows, _) = export(&world, "pudong-reviewer",
            &format!("/api/v1/tenants/{PUDONG}/dashboard/export")).await;
        let (dimension, code, filed) =
            (column(&rows, "统计口径"), column(&rows, "代码"), column(&rows, "受理"));
        let lujiazui = (1..rows.len())
            .find(|&r| cell(&rows, r, dimension) == "地区" && cell(&rows, r, code) == LUJIAZUI)
            .expect("Lujiazui's row");
        assert_eq!(cell(&rows, lujiazui, filed), FILED.to_string());
        let total = rows.len() - 1;
        assert_eq!(cell(&rows, total, dimension), "合计");
        assert_eq!(cell(&rows, total, filed), FILED.to_string());
    }
}

both_backends! {
    async fn accounts_and_audit_exports_hold_what_their_lists_hold(t) {
        let world = World::demo(&t).await;
        // The system administrator's accounts, phone numbers masked.
        let updated = world
            .call("PATCH", "/api/v1/tenants/310000/310115/310115005/accounts/lujiazui-officer",
                  Some(world.token("sys-admin")), Some(json!({"phone": "13800138000"})))
            .await;
        assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
        let listed = every_page(&world, "sys-admin",
            "/api/v1/tenants/310000/accounts?kind=staff", "accounts").await;
        assert!(listed.len() > 5);
        let (rows, _) = export(&world, "sys-admin",
            "/api/v1/tenants/310000/accounts/export?kind=staff").await;
        assert_eq!(rows.len(), listed.len() + 1);
        let (username, phone) = (column(&rows, "用户名"), column(&rows, "手机（脱敏）"));
        for (i, account) in listed.iter().enumerate() {
            assert_eq!(cell(&rows, i + 1, username), account["username"].as_str().unwrap());
            assert_eq!(cell(&rows, i + 1, phone), account["phone"].as_str().unwrap_or(""));
        }
        let officer = (1..rows.len()).find(|&r| cell(&rows, r, username) == "lujiazui-officer").unwrap();
        assert_eq!(cell(&rows, officer, phone), "138****8000");
        // An exact phone number finds its account; the record does not
        // repeat the number.
        let (rows, _) = export(&world, "sys-admin",
            "/api/v1/tenants/310000/accounts/export?phone=13800138000").await;
        assert_eq!(rows.len(), 2);
        assert_eq!(cell(&rows, 1, username), "lujiazui-officer");
        let records = export_records(&world, "310000", "account.export").await;
        assert_eq!(records[0]["detail"]["filter"]["phone"], "(given)");
        assert!(!records[0].to_string().contains("13800138000"));
        // Only the three administrators read accounts; an officer exports none.
        let (status, _, _) = world
            .download("/api/v1/tenants/310000/accounts/export",
                      Some(world.token("lujiazui-officer")), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // The audit administrator's export of the trail, hashes included;
        // the export itself is then a record of its own.
        let listed = every_page(&world, "audit-admin",
            "/api/v1/tenants/310000/audit?action=account.*", "records").await;
        assert!(listed.len() >= 3, "the accounts' creation, update and exports");
        let (rows, sm3) = export(&world, "audit-admin",
            "/api/v1/tenants/310000/audit/export?action=account.*").await;
        assert_eq!(rows.len(), listed.len() + 1);
        let (id, hash) = (column(&rows, "记录编号"), column(&rows, "记录哈希（SM3）"));
        for (i, record) in listed.iter().enumerate() {
            assert_eq!(cell(&rows, i + 1, id), record["id"].to_string());
            assert_eq!(cell(&rows, i + 1, hash), record["hash"].as_str().unwrap());
        }
        let records = export_records(&world, "310000", "audit.export").await;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["detail"]["sm3"], sm3.as_str());
        assert_eq!(records[0]["detail"]["filter"]["action"], "account.*");
    }
}

both_backends! {
    async fn an_inbox_export_records_each_place_with_the_rows_of_its_own_queues(t) {
        let world = World::demo(&t).await;
        // Two applications at Lujiazui; the street approves one, which
        // then waits for Pudong's review.
        let mut filed = Vec::new();
        for n in 0..2 {
            let reply = world
                .call("POST", &format!("/api/v1/tenants/{LUJIAZUI}/cases"),
                      Some(world.token("citizen-demo")), Some(application(n)))
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            filed.push(reply.body["id"].as_str().unwrap().to_owned());
        }
        let approved = world
            .call("POST", &format!("/api/v1/tenants/{LUJIAZUI}/cases/{}/actions", filed[0]),
                  Some(world.token("lujiazui-officer")), Some(json!({"action": "approve", "version": 1})))
            .await;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
        // The street officer also reviews for the district (a second grant).
        let granted = world
            .call("POST", &format!("/api/v1/tenants/{PUDONG}/grants"), Some(world.token("sec-admin")),
                  Some(json!({"account": "lujiazui-officer", "line": "civil-affairs", "role": "reviewer"})))
            .await;
        assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.body);
        let tasks = every_page(&world, "lujiazui-officer", "/api/v1/inbox", "items").await;
        assert_eq!(tasks.len(), 2, "{tasks:?}");

        let (rows, sm3) = export(&world, "lujiazui-officer", "/api/v1/inbox/export").await;
        assert_eq!(rows.len(), 3);
        // One record at each place whose queue was read, each with its own
        // task: the district's queue does not count the street's.
        let records = export_records(&world, PUDONG, "inbox.export").await;
        let at = |tenant: &str| {
            records.iter().find(|r| r["tenant"] == tenant).unwrap_or_else(|| panic!("no record at {tenant}: {records:?}"))
        };
        assert_eq!(records.len(), 2, "{records:?}");
        for tenant in [PUDONG, LUJIAZUI] {
            assert_eq!(at(tenant)["detail"]["rows_here"], 1, "{tenant}");
            assert_eq!(at(tenant)["detail"]["rows"], 2);
            assert_eq!(at(tenant)["detail"]["sm3"], sm3.as_str());
        }
    }
}
