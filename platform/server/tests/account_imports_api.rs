//! Staff roster imports over HTTP on SQLite and PostgreSQL (issue 16): the
//! system administrator uploads the sheet a bureau's HR office keeps; a
//! dry run names every bad row by its number, an import creates every
//! account or none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use std::time::Instant;

use access::{Reply, World};
use axum::http::StatusCode;
use civitas_testkit::both_backends;
use serde_json::Value;

const PUDONG: &str = "310000/310115";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const HEADER: [&str; 6] = ["姓名", "工号", "所属单位", "条线", "岗位/角色", "手机"];

/// Row `n` (1-based, data rows only) of a Pudong staff roster: spread over
/// the district and three of its streets, both lines, phones unique.
fn person(n: usize) -> [String; 6] {
    let unit = ["花木街道", "陆家嘴街道", "张江镇", "浦东新区"][n % 4];
    let line = if n.is_multiple_of(2) {
        "民政"
    } else {
        "人社"
    };
    [
        format!("职工{n}"),
        format!("PD-{n:04}"),
        unit.to_owned(),
        line.to_owned(),
        "综合受理".to_owned(),
        format!("139{n:08}"),
    ]
}

/// An `.xlsx` roster as Excel writes it, employee and phone numbers typed
/// into number cells where they are digits.
fn xlsx(rows: &[[String; 6]]) -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, h) in HEADER.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, cells) in rows.iter().enumerate() {
        for (c, text) in cells.iter().enumerate() {
            let (r, c) = (r as u32 + 1, c as u16);
            if c == 5 && !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
                sheet
                    .write_number(r, c, text.parse::<f64>().unwrap())
                    .unwrap();
            } else {
                sheet.write_string(r, c, text).unwrap();
            }
        }
    }
    workbook.save_to_buffer().unwrap()
}

async fn import(world: &World, who: &str, query: &str, content_type: &str, file: Vec<u8>) -> Reply {
    world
        .upload(
            &format!("/api/v1/tenants/{PUDONG}/account-imports{query}"),
            world.token(who),
            content_type,
            file,
        )
        .await
}

fn problem_rows(body: &Value) -> Vec<u64> {
    let mut rows: Vec<u64> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["row"].as_u64().unwrap())
        .collect();
    rows.dedup();
    rows
}

async fn status_of(world: &World, tenant: &str, username: &str) -> StatusCode {
    world
        .call(
            "GET",
            &format!("/api/v1/tenants/{tenant}/accounts/{username}"),
            Some(world.token("sys-admin")),
            None,
        )
        .await
        .status
}

both_backends! {
    async fn a_roster_of_a_thousand_with_three_bad_rows_names_them_and_creates_nothing_until_corrected(t) {
        let world = World::demo(&t).await;
        let mut rows: Vec<[String; 6]> = (1..=1000).map(person).collect();
        // Spreadsheet rows are data rows + 1 (the header is row 1).
        rows[16][0] = String::new(); // row 18: no name
        rows[498][2] = "徐汇区".into(); // row 500: a unit outside Pudong
        rows[999][5] = "12345".into(); // row 1001: not a phone number
        let bad = xlsx(&rows);

        let dry = import(&world, "sys-admin", "?dry_run=true", XLSX, bad.clone()).await;
        assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
        assert_eq!(problem_rows(&dry.body), [18, 500, 1001]);
        let fields: Vec<&str> = dry.body["problems"].as_array().unwrap().iter().map(|p| p["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["姓名", "所属单位", "手机"]);
        assert!(dry.body["problems"][1]["message"]["zh"].as_str().unwrap().contains("徐汇区"));
        assert_eq!((dry.body["rows"].as_u64(), dry.body["created"].as_u64()), (Some(1000), Some(0)));
        assert_eq!(dry.body["accounts"].as_array().unwrap().len(), 997);
        assert_eq!(status_of(&world, PUDONG, "huamu.pd-0004").await, StatusCode::NOT_FOUND, "a dry run creates nothing");

        let refused = import(&world, "sys-admin", "", XLSX, bad).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "import_rejected"), "{}", refused.body);
        assert_eq!(problem_rows(&refused.body), [18, 500, 1001]);
        assert!(refused.body["message"]["zh"].as_str().unwrap().contains("3 行"));
        assert_eq!(status_of(&world, PUDONG, "huamu.pd-0004").await, StatusCode::NOT_FOUND, "all or nothing");

        // The corrected file creates all 1,000.
        let rows: Vec<[String; 6]> = (1..=1000).map(person).collect();
        let started = Instant::now();
        let done = import(&world, "sys-admin", "", XLSX, xlsx(&rows)).await;
        let took = started.elapsed();
        assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
        println!("imported 1,000 staff from .xlsx in {took:.2?} ({:?})", t.db.backend());
        assert_eq!(done.body["created"], 1000);
        let accounts = done.body["accounts"].as_array().unwrap();
        assert_eq!(accounts.len(), 1000);
        assert_eq!(accounts[3]["username"], "huamu.pd-0004");
        assert_eq!(accounts[3]["tenant"], "310000/310115/310115016");
        assert_eq!(accounts[3]["line"], "civil-affairs");
        assert_eq!(accounts[2]["line"], "hr-social-security", "人社 is an alias of the line");
        assert_eq!(accounts[2]["username"], "pudong.pd-0003", "the district itself is a unit too");
        assert_eq!(accounts[3]["row"], 5);

        // The account is as the sheet said, masked, with no role: roles are
        // the security administrator's to grant.
        let shown = world.call("GET", &format!("/api/v1/tenants/{PUDONG}/accounts/huamu.pd-0004"), Some(world.token("sys-admin")), None).await;
        assert_eq!(shown.status, StatusCode::OK);
        assert_eq!(shown.body["display_name"], "职工4");
        assert_eq!(shown.body["employee_no"], "PD-0004");
        assert_eq!(shown.body["position"], "综合受理");
        assert_eq!(shown.body["phone"], "139****0004");
        assert_eq!(shown.body["state"], "pending");
        assert_eq!(shown.body["roles"], serde_json::json!([]));

        // The one-time password works once, to change it.
        let otp = accounts[3]["one_time_password"].as_str().unwrap();
        let first = world.login("huamu.pd-0004", otp).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(first.body["must_change_password"], true);

        // The import is in Pudong's audit chain with the file's digest, and
        // each account's creation in its own tenant's.
        let audit = world.call("GET", &format!("/api/v1/tenants/{PUDONG}/audit?action=account.import"), Some(world.token("audit-admin")), None).await;
        assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
        let record = &audit.body["records"][0];
        assert_eq!(record["actor"], "sys-admin");
        assert_eq!(record["detail"]["accounts"], 1000);
        assert_eq!(record["detail"]["file_sm3"].as_str().unwrap().len(), 64);

        // The same file again: every row's username and employee number is taken.
        let again = import(&world, "sys-admin", "?dry_run=true", XLSX, xlsx(&rows[..3])).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(problem_rows(&again.body), [2, 3, 4]);
        assert_eq!(again.body["problems"].as_array().unwrap().len(), 6);
    }

    async fn a_csv_from_a_chinese_excel_with_extra_columns_and_chosen_usernames_imports(t) {
        let world = World::demo(&t).await;
        let text = "序号,姓名,性别,工号,所属单位,条线,岗位,手机号码,用户名\n\
                    1,王芳,女,HM-0042,花木街道,民政,民政专员,+86 138-0013-8000,huamu-wangfang\n\
                    \n\
                    2,李强,男,10086,310000/310115/310115005,hr-social-security,,,\n";
        // Excel on a Chinese Windows saves CSV in GBK.
        let (gbk, _, lossy) = encoding_rs::GBK.encode(text);
        assert!(!lossy);
        let dry = import(&world, "sys-admin", "?dry_run=true", "text/csv", gbk.to_vec()).await;
        assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
        assert_eq!(dry.body["problems"], serde_json::json!([]));
        assert_eq!(dry.body["ignored_columns"], serde_json::json!(["序号", "性别"]));
        let planned: Vec<(&str, u64)> = dry.body["accounts"].as_array().unwrap().iter()
            .map(|a| (a["username"].as_str().unwrap(), a["row"].as_u64().unwrap())).collect();
        assert_eq!(planned, [("huamu-wangfang", 2), ("lujiazui.10086", 4)]);
        assert!(dry.body["accounts"][0]["one_time_password"].is_null());

        let done = import(&world, "sys-admin", "", "application/octet-stream", gbk.to_vec()).await;
        assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
        assert_eq!(status_of(&world, PUDONG, "lujiazui.10086").await, StatusCode::OK);
        let shown = world.call("GET", &format!("/api/v1/tenants/{PUDONG}/accounts?phone=13800138000"), Some(world.token("sys-admin")), None).await;
        assert_eq!(shown.body["accounts"][0]["username"], "huamu-wangfang", "phone found by blind index");
    }

    async fn a_file_that_is_no_roster_gets_a_clear_error_and_only_the_system_administrator_imports(t) {
        let world = World::demo(&t).await;
        let good = xlsx(&[person(1)]);
        let cases: [(&str, Vec<u8>, StatusCode, &str); 6] = [
            ("application/json", b"{}".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ("text/csv", "姓名,岗位\n王芳,专员\n".as_bytes().to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "roster_missing_columns"),
            ("text/csv", "姓名,工号,单位,所属单位,条线\n".as_bytes().to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "roster_duplicate_column"),
            (XLSX, b"PK\x03\x04 truncated".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "roster_unreadable"),
            ("text/csv", Vec::new(), StatusCode::UNPROCESSABLE_ENTITY, "roster_unreadable"),
            ("text/csv", "姓名,工号,所属单位,条线\n".as_bytes().to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "roster_empty"),
        ];
        for (content_type, body, status, code) in cases {
            let reply = import(&world, "sys-admin", "?dry_run=true", content_type, body).await;
            assert_eq!((reply.status, reply.code()), (status, code), "{content_type}: {}", reply.body);
            assert!(!reply.body["message"]["zh"].as_str().unwrap().is_empty());
            assert!(!reply.body["message"]["en"].as_str().unwrap().is_empty());
        }
        let missing = import(&world, "sys-admin", "", "text/csv", "姓名,岗位\n".as_bytes().to_vec()).await;
        assert!(missing.body["message"]["zh"].as_str().unwrap().contains("工号、所属单位、条线"));

        // The security administrator grants; creating accounts is not theirs.
        let sec = import(&world, "sec-admin", "", XLSX, good.clone()).await;
        assert_eq!((sec.status, sec.code()), (StatusCode::CONFLICT, "separation_of_duties"));
        // An officer administers nothing.
        let officer = import(&world, "pudong-hr-officer", "", XLSX, good.clone()).await;
        assert_eq!(officer.status, StatusCode::FORBIDDEN);
        let query = import(&world, "sys-admin", "?dry_run=maybe", XLSX, good).await;
        assert_eq!(query.status, StatusCode::BAD_REQUEST);
    }
}
