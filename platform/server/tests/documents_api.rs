//! Official documents sealed with the bureau's electronic seal: a closed
//! penalty case gets its decision (行政处罚决定书) — the reviewer's fine
//! within the band the district's rule proposed, numbered, rendered,
//! sealed (GB/T 38540), kept by SM3 with the case and audited — which the
//! API, `civitas doc verify` and an independent verifier (Python, gmssl)
//! accept, and refuse with one byte changed; an applicant downloads the
//! approval notice of their own meal subsidy; the security administrator
//! makes and revokes seals. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use access::{Reply, World};
use axum::http::StatusCode;
use civitas_testkit::both_backends;
use serde_json::{Value, json};

const PUDONG: &str = "310000/310115";
const LUJIAZUI: &str = "310000/310115/310115005";

fn expired_food() -> Value {
    json!({"party": "上海某超市有限公司", "party_credit_code": "91310115MA1K4B8E73",
           "violation": "销售超过保质期的酸奶 24 盒", "violation_code": "food-expired",
           "registration_authority": "district", "goods_value_yuan": 216, "illegal_gains_yuan": 48,
           "harm": "minor", "first_offence": true, "corrected_promptly": true})
}

async fn post(world: &World, who: &str, path: &str, body: Value) -> Reply {
    world
        .call("POST", path, Some(world.token(who)), Some(body))
        .await
}

async fn get(world: &World, who: &str, path: &str) -> Reply {
    world.call("GET", path, Some(world.token(who)), None).await
}

/// A penalty case at Pudong taken through investigation and legal review
/// to the decision step; the reviewer's `decide` closes it.
async fn penalty_at_decision(world: &World) -> String {
    let created = post(world, "pudong-market-officer", &format!("/api/v1/tenants/{PUDONG}/cases"),
        json!({"service": "market-regulation/penalty-case", "title": "某超市销售过期酸奶案", "data": expired_food()})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let case = created.body["id"].as_str().unwrap().to_owned();
    let actions = format!("/api/v1/tenants/{PUDONG}/cases/{case}/actions");
    for who in ["pudong-market-officer", "pudong-market-reviewer"] {
        let done = post(world, who, &actions, json!({"action": "approve"})).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    }
    case
}

struct Download {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    bytes: Vec<u8>,
}

async fn download(world: &World, uri: &str, who: Option<&str>) -> Download {
    let (status, headers, bytes) = world.download(uri, who.map(|w| world.token(w)), None).await;
    Download {
        status,
        headers,
        bytes,
    }
}

/// The API's verification of `bytes` (anyone may ask).
async fn verify(world: &World, bytes: Vec<u8>) -> Reply {
    world
        .upload(
            "/api/v1/documents/verify",
            world.token("citizen-demo"),
            "application/pdf",
            bytes,
        )
        .await
}

/// Where a test keeps a file it hands to the verifiers.
fn file_of(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The independent verifier (platform/seal/tests/gm_verify.py): accepted?
fn independent(root: &Path, pdf: &Path) -> Option<bool> {
    if !crate::support::python_has("gmssl.sm2", "gmssl==3.2.2") {
        return None;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../seal/tests/gm_verify.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(root)
        .arg(pdf)
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => Some(true),
        Some(1) => Some(false),
        _ => panic!("{}", String::from_utf8_lossy(&out.stderr)),
    }
}

async fn civitas(dir: &Path, args: Vec<String>) -> Output {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        civitas_testkit::clean_command(env!("CARGO_BIN_EXE_civitas"), &dir)
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// The pages of a PDF as PNG for people to look at (`NAME-1.png`, …, in
/// the faces' screenshots), when CIVITAS_SCREENSHOTS names where.
fn screenshot(pdf: &Path, name: &str) {
    let Ok(dir) = std::env::var("CIVITAS_SCREENSHOTS") else {
        return;
    };
    let out = Path::new(&dir).join(name);
    let made = Command::new("pdftoppm")
        .args(["-png", "-r", "80"])
        .arg(pdf)
        .arg(&out)
        .status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "pdftoppm (poppler-utils) renders {name}"
    );
}

both_backends! {
    async fn a_closed_penalty_case_gets_its_sealed_decision_which_every_verifier_accepts_and_a_changed_copy_none(t) {
        if !civitas_testkit::document_fonts_available() { return; }
        let world = World::demo(&t).await;
        let case = penalty_at_decision(&world).await;
        let documents = format!("/api/v1/tenants/{PUDONG}/cases/{case}/issued-documents");

        // The kinds the case may have, with what the officer enters.
        let listed = get(&world, "pudong-market-reviewer", &documents).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(listed.body["closed"], false);
        assert_eq!(listed.body["kinds"][0]["kind"], "penalty-decision");
        assert_eq!(listed.body["kinds"][0]["fields"][0]["name"], "fine_yuan");
        assert!(listed.body["kinds"][0]["issued"].is_null());

        // Not before the decision.
        let issue = format!("{documents}/penalty-decision");
        let fine = |yuan: i64| json!({"fields": {"fine_yuan": yuan, "address": "上海市浦东新区某路 1 号"}});
        let early = post(&world, "pudong-market-reviewer", &issue, fine(50_000)).await;
        assert_eq!((early.status, early.code()), (StatusCode::CONFLICT, "case_not_closed"), "{}", early.body);
        let decided = post(&world, "pudong-market-reviewer", &format!("/api/v1/tenants/{PUDONG}/cases/{case}/actions"),
            json!({"action": "approve", "reason": "从轻处罚"})).await;
        assert_eq!(decided.body["state"], "closed", "{}", decided.body);

        // The officer who investigated does not issue decisions.
        let officer = post(&world, "pudong-market-officer", &issue, fine(50_000)).await;
        assert_eq!(officer.status, StatusCode::FORBIDDEN, "{}", officer.body);
        // The fine lies within the band the district's rule proposed
        // (50,000–70,000 yuan for Pudong's lighter level).
        let high = post(&world, "pudong-market-reviewer", &issue, fine(90_000)).await;
        assert_eq!((high.status, high.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_document_fields"), "{}", high.body);
        assert_eq!(high.body["problems"][0]["field"], "fine_yuan");
        let missing = post(&world, "pudong-market-reviewer", &issue, json!({"fields": {"fine_yuan": 50_000}})).await;
        assert_eq!(missing.body["problems"][0]["field"], "address", "{}", missing.body);
        let unknown = post(&world, "pudong-market-reviewer", &format!("{documents}/no-such-kind"), fine(50_000)).await;
        assert_eq!((unknown.status, unknown.code()), (StatusCode::NOT_FOUND, "document_kind_not_found"));

        let issued = post(&world, "pudong-market-reviewer", &issue, fine(50_000)).await;
        assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
        let year = chrono::Datelike::year(&world.clock.today_in_china());
        assert_eq!(issued.body["number"], format!("浦市监罚〔{year}〕1号"));
        let sm3 = issued.body["sm3"].as_str().unwrap().to_owned();
        // Issued once.
        let again = post(&world, "pudong-market-reviewer", &issue, fine(50_000)).await;
        assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "document_already_issued"));

        // Kept by its SM3, recorded with the case and in the audit log.
        let listed = get(&world, "pudong-market-officer", &documents).await;
        assert_eq!(listed.body["kinds"][0]["issued"]["sm3"], sm3.as_str());
        let audit = get(&world, "audit-admin", &format!("/api/v1/tenants/{PUDONG}/audit?action=document.issue")).await;
        let record = &audit.body["records"][0];
        assert_eq!(record["detail"]["sm3"], sm3.as_str(), "{}", audit.body);
        assert_eq!(record["detail"]["entries"]["fine_yuan"], 50_000);
        let pdf = download(&world, &format!("{issue}/content"), Some("pudong-market-officer")).await;
        assert_eq!(pdf.status, StatusCode::OK);
        assert_eq!(pdf.headers["content-type"], "application/pdf");
        assert_eq!(hex::encode(civitas_crypto::sm3::digest(&pdf.bytes)), sm3);
        assert!(pdf.bytes.windows(12).any(|w| w == b"/GM.sm2seal "), "a GB/T 38540 signature");

        // The API's verification: valid, and this very file was issued here.
        let verified = verify(&world, pdf.bytes.clone()).await;
        assert_eq!(verified.body["valid"], true, "{}", verified.body);
        assert_eq!(verified.body["seal_name"], "上海市浦东新区市场监督管理局");
        assert_eq!(verified.body["issued"]["number"], format!("浦市监罚〔{year}〕1号"));
        let mut changed = pdf.bytes.clone();
        let at = changed.len() / 2;
        changed[at] ^= 0x01;
        let refused = verify(&world, changed.clone()).await;
        assert_eq!(refused.body["valid"], false, "{}", refused.body);
        assert!(refused.body["reason"]["zh"].as_str().unwrap().contains("改动"), "{}", refused.body);

        // `civitas doc verify` offline with the root certificate, and the
        // independent verifier: the file passes, the changed copy fails.
        let dir = tempfile::tempdir().unwrap();
        let root = download(&world, "/api/v1/documents/root-certificate", None).await;
        assert_eq!(root.status, StatusCode::OK);
        let root = file_of(dir.path(), "root.cer", &root.bytes);
        let good = file_of(dir.path(), "decision.pdf", &pdf.bytes);
        let bad = file_of(dir.path(), "changed.pdf", &changed);
        screenshot(&good, "document-penalty-decision");
        for (file, valid) in [(&good, true), (&bad, false)] {
            let out = civitas(dir.path(), vec!["doc".into(), "verify".into(), file.display().to_string(),
                "--root".into(), root.display().to_string(), "--json".into()]).await;
            let verdict: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            assert_eq!(verdict["valid"], valid, "{verdict} {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(out.status.code(), Some(if valid { 0 } else { 1 }));
            if let Some(accepted) = independent(&root, file) {
                assert_eq!(accepted, valid, "the independent verifier on {}", file.display());
            }
        }
        // Asking the platform instead: its root, and its record of this
        // very file.
        let server = world.serve().await;
        let out = civitas(dir.path(), vec!["doc".into(), "verify".into(), good.display().to_string(),
            "--server".into(), server, "--json".into()]).await;
        let verdict: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert_eq!(verdict["valid"], true, "{verdict} {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(verdict["issued"]["number"], format!("浦市监罚〔{year}〕1号"), "{verdict}");
        assert_eq!(verdict["tenant"], PUDONG);
        assert_eq!(verdict["line"], "market-regulation");
    }

    async fn an_applicant_downloads_the_sealed_approval_notice_of_their_own_case_only(t) {
        if !civitas_testkit::document_fonts_available() { return; }
        let world = World::demo(&t).await;
        let born = chrono::Datelike::year(&world.clock.today_in_china()) - 75;
        let filed = post(&world, "citizen-demo", &format!("/api/v1/tenants/{LUJIAZUI}/cases"),
            json!({"service": "civil-affairs/meal-subsidy", "data": {"birth_date": format!("{born}-03-02"),
                "household_registration": "local", "living_alone": true, "disability_grade": 0,
                "economic_status": "none"}})).await;
        assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
        let case = filed.body["id"].as_str().unwrap().to_owned();
        for (who, at) in [("lujiazui-officer", LUJIAZUI), ("pudong-reviewer", PUDONG)] {
            let done = post(&world, who, &format!("/api/v1/tenants/{at}/cases/{case}/actions"), json!({"action": "approve"})).await;
            assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        }
        let documents = format!("/api/v1/tenants/{PUDONG}/cases/{case}/issued-documents");
        // Nothing issued yet: the applicant sees nothing to download.
        let mine = get(&world, "citizen-demo", &format!("/api/v1/tenants/{LUJIAZUI}/cases/{case}/issued-documents")).await;
        assert_eq!(mine.body["kinds"], json!([]), "{}", mine.body);
        let issued = post(&world, "pudong-reviewer", &format!("{documents}/approval-notice"),
            json!({"fields": {"starts_on": "2027年1月1日"}})).await;
        assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);

        let mine = get(&world, "citizen-demo", &format!("/api/v1/tenants/{LUJIAZUI}/cases/{case}/issued-documents")).await;
        assert_eq!(mine.body["kinds"][0]["issued"]["sm3"], issued.body["sm3"]);
        let notice = format!("/api/v1/tenants/{LUJIAZUI}/cases/{case}/issued-documents/approval-notice/content");
        let pdf = download(&world, &notice, Some("citizen-demo")).await;
        assert_eq!(pdf.status, StatusCode::OK);
        let dir = tempfile::tempdir().unwrap();
        screenshot(&file_of(dir.path(), "notice.pdf", &pdf.bytes), "document-meal-subsidy-approval-notice");
        // Another applicant reads nothing of it.
        let other = download(&world, &notice, Some("enterprise-demo")).await;
        assert_eq!(other.status, StatusCode::NOT_FOUND);
    }

    async fn an_admitted_talent_apartment_application_gets_its_allocation_result_with_its_guarded_score(t) {
        if !civitas_testkit::document_fonts_available() { return; }
        let world = World::demo(&t).await;
        let filed = post(&world, "citizen-demo", &format!("/api/v1/tenants/{PUDONG}/cases"),
            json!({"service": "housing/talent-apartment", "data": {
                "applicant_name": "张三", "project": "张江国际社区人才公寓", "unit_type": "one-bedroom",
                "talent_tier": "city-key", "full_time_contract": true, "owns_home_in_city": false,
                "clean_record": true, "already_housed": false, "key_employer_recommended": true,
                "household_size": 2, "months_in_district": 50, "employer_area": "zhangjiang"}})).await;
        assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
        let case = filed.body["id"].as_str().unwrap().to_owned();
        for who in ["pudong-housing-officer", "pudong-housing-reviewer"] {
            let done = post(&world, who, &format!("/api/v1/tenants/{PUDONG}/cases/{case}/actions"), json!({"action": "approve"})).await;
            assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        }
        let issued = post(&world, "pudong-housing-reviewer",
            &format!("/api/v1/tenants/{PUDONG}/cases/{case}/issued-documents/allocation-result"),
            json!({"fields": {"unit": "3 号楼 1204 室", "sign_by": "2027年1月15日"}})).await;
        assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
        assert_eq!(issued.body["name"], "人才公寓配租结果通知书");
        let pdf = download(&world, &format!("/api/v1/tenants/{PUDONG}/cases/{case}/issued-documents/allocation-result/content"),
            Some("citizen-demo")).await;
        assert_eq!(pdf.status, StatusCode::OK);
        let verified = verify(&world, pdf.bytes.clone()).await;
        assert_eq!(verified.body["seal_name"], "上海市浦东新区房屋管理局", "{}", verified.body);
        let dir = tempfile::tempdir().unwrap();
        screenshot(&file_of(dir.path(), "allocation.pdf", &pdf.bytes), "document-talent-apartment-allocation-result");
    }

    async fn verification_is_public_but_counted_per_address(t) {
        let world = World::demo(&t).await;
        for n in 0..30 {
            let answer = verify(&world, b"%PDF-1.7 not sealed".to_vec()).await;
            assert_eq!((answer.status, answer.body["valid"].clone()), (StatusCode::OK, json!(false)), "{n}: {}", answer.body);
        }
        let answer = verify(&world, b"%PDF-1.7 not sealed".to_vec()).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"), "{}", answer.body);
        let empty = world.upload("/api/v1/documents/verify", world.token("citizen-demo"), "text/plain", b"x".to_vec()).await;
        assert_eq!(empty.status, StatusCode::TOO_MANY_REQUESTS, "the limit holds whatever is sent");
    }

    async fn the_security_administrator_makes_and_revokes_seals_and_a_revoked_seal_signs_nothing_more(t) {
        if !civitas_testkit::document_fonts_available() { return; }
        let world = World::demo(&t).await;
        let seals = format!("/api/v1/tenants/{PUDONG}/seals");
        let listed = get(&world, "sec-admin", &seals).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        let market = listed.body["seals"].as_array().unwrap().iter()
            .find(|s| s["line"] == "market-regulation").cloned().unwrap();
        assert_eq!(market["name"], "上海市浦东新区市场监督管理局");
        assert!(market.get("private_key").is_none());
        // Seals are the security administrator's, not the bureau's staff's.
        let reviewer = get(&world, "pudong-market-reviewer", &seals).await;
        assert_eq!(reviewer.status, StatusCode::FORBIDDEN);
        let twice = post(&world, "sec-admin", &seals, json!({"line": "market-regulation", "name": "重复印章"})).await;
        assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "seal_exists"));

        // A decision sealed before the revocation still verifies, saying so.
        let case = penalty_at_decision(&world).await;
        post(&world, "pudong-market-reviewer", &format!("/api/v1/tenants/{PUDONG}/cases/{case}/actions"), json!({"action": "approve"})).await;
        let issue = format!("/api/v1/tenants/{PUDONG}/cases/{case}/issued-documents/penalty-decision");
        let issued = post(&world, "pudong-market-reviewer", &issue,
            json!({"fields": {"fine_yuan": 60_000, "address": "上海市浦东新区某路 1 号"}})).await;
        assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
        let id = market["id"].as_str().unwrap();
        let revoked = post(&world, "sec-admin", &format!("{seals}/{id}/revoke"), json!({})).await;
        assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
        assert!(revoked.body["revoked_at"].is_string());
        let pdf = download(&world, &format!("{issue}/content"), Some("pudong-market-reviewer")).await;
        let verified = verify(&world, pdf.bytes.clone()).await;
        assert_eq!(verified.body["valid"], true);
        assert!(verified.body["seal_revoked_at"].is_string(), "{}", verified.body);

        // Without an active seal nothing is issued; a new seal signs again.
        let next = penalty_at_decision(&world).await;
        post(&world, "pudong-market-reviewer", &format!("/api/v1/tenants/{PUDONG}/cases/{next}/actions"), json!({"action": "approve"})).await;
        let next_issue = format!("/api/v1/tenants/{PUDONG}/cases/{next}/issued-documents/penalty-decision");
        let body = json!({"fields": {"fine_yuan": 60_000, "address": "上海市浦东新区某路 2 号"}});
        let sealless = post(&world, "pudong-market-reviewer", &next_issue, body.clone()).await;
        assert_eq!((sealless.status, sealless.code()), (StatusCode::CONFLICT, "seal_missing"), "{}", sealless.body);
        let made = post(&world, "sec-admin", &seals, json!({"line": "market-regulation", "name": "上海市浦东新区市场监督管理局", "years": 2})).await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        let issued = post(&world, "pudong-market-reviewer", &next_issue, body).await;
        assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
        let year = chrono::Datelike::year(&world.clock.today_in_china());
        assert_eq!(issued.body["number"], format!("浦市监罚〔{year}〕2号"), "numbers run on per place, kind and year");
        // A document signed after its seal's revocation (a leaked key) is
        // refused: here the revocation is moved back before the signing.
        let mut tx = t.db.begin_platform().await.unwrap();
        civitas_storage::with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE seals SET revoked_at = 1 WHERE id = $1")
                .bind(id.to_owned())
                .execute(&mut *c)
                .await
                .unwrap();
        });
        tx.commit().await.unwrap();
        let late = verify(&world, pdf.bytes.clone()).await;
        assert_eq!(late.body["valid"], false, "{}", late.body);
        assert!(late.body["reason"]["en"].as_str().unwrap().contains("revoked"), "{}", late.body);
        let audit = get(&world, "audit-admin", &format!("/api/v1/tenants/{PUDONG}/audit?action=seal.revoke")).await;
        assert_eq!(audit.body["records"].as_array().map(Vec::len), Some(1), "{}", audit.body);
    }
}

#[tokio::test]
async fn the_security_administrator_lists_and_makes_seals_from_a_terminal() {
    let t = civitas_testkit::TestDb::sqlite().await;
    let world = World::demo(&t).await;
    let server = world.serve().await;
    let dir = tempfile::tempdir().unwrap();
    let seal = |tenant: &str, args: &[&str]| {
        // The server, token and tenant before the subcommand.
        let mut all: Vec<String> = vec![
            "seal".into(),
            "--server".into(),
            server.clone(),
            "--token".into(),
            world.token("sec-admin").to_owned(),
            "--tenant".into(),
            tenant.to_owned(),
        ];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        civitas(dir.path(), all)
    };
    let listed = seal("shanghai/pudong", &["list", "--json"]).await;
    assert_eq!(
        listed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let body: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(
        body["seals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "上海市浦东新区民政局"),
        "{body}"
    );
    // The line has an active seal: refused, the server's code printed, exit 1.
    let twice = seal(
        "shanghai/pudong",
        &[
            "make",
            "--line",
            "civil-affairs",
            "--name",
            "上海市浦东新区民政局",
        ],
    )
    .await;
    assert_eq!(twice.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("seal_exists"),
        "{}",
        String::from_utf8_lossy(&twice.stderr)
    );
    // A street's own seal for its line.
    let made = seal(
        "shanghai/pudong/lujiazui",
        &[
            "make",
            "--line",
            "civil-affairs",
            "--name",
            "上海市浦东新区陆家嘴街道办事处",
        ],
    )
    .await;
    assert_eq!(
        made.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(String::from_utf8_lossy(&made.stdout).contains("陆家嘴街道办事处"));
}
