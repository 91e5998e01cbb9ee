//! The faces' forms as the server takes them, whatever the browser did:
//! every answer checked again and each problem named beside its field,
//! forged forms refused, nothing filed until the application is right.

use crate::access;

use access::World;
use axum::http::StatusCode;
use civitas_testkit::both_backends;

const APPLY: &str = "/t/shanghai/pudong/lujiazui/services/civil-affairs/meal-subsidy/apply";
const FORM_TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// `value` percent-encoded for a form body.
fn enc(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn html(reply: &access::Reply) -> &str {
    reply.body.as_str().unwrap_or_default()
}

async fn my_cases(world: &World) -> usize {
    let mine = world
        .call(
            "GET",
            "/api/v1/tenants/310000/cases",
            Some(world.token("citizen-demo")),
            None,
        )
        .await;
    mine.body["cases"].as_array().map_or(0, Vec::len)
}

both_backends! {
    async fn an_applicant_is_told_each_problem_files_once_right_and_follows_the_case(t) {
        let world = World::demo(&t).await;
        let cookie = format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token("citizen-demo"));

        // Nobody signed in: applying starts with signing in, and comes back.
        let anonymous = world.page(APPLY, None).await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
        assert_eq!(anonymous.headers["location"], format!("/sign-in?next={APPLY}").as_str());

        // The form, every field of the schema the applicant fills in.
        let form = world.page(APPLY, Some(&cookie)).await;
        assert_eq!(form.status, StatusCode::OK);
        for label in ["出生日期", "户籍", "是否独居", "残疾等级", "经济状况"] {
            assert!(html(&form).contains(label), "{label}");
        }
        assert!(!html(&form).contains("case_id"), "the platform's own field is not asked");

        // Wrong answers: 422, each named beside its field, the answers kept,
        // nothing filed.
        let wrong = world
            .form(APPLY, &cookie, &format!("csrf={FORM_TOKEN}&birth_date=1941-02-29&living_alone=maybe&disability_grade=9&household_registration=mars"))
            .await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
        for problem in ["申请未提交", "请填写有效日期", "请从选项中选择", "请填写范围内的整数：0–4", "请填写此项"] {
            assert!(html(&wrong).contains(problem), "{problem} missing");
        }
        assert!(html(&wrong).contains(r#"value="9""#), "the answer is kept");
        assert_eq!(my_cases(&world).await, 0);

        // A form without the page's token (a cross-site post) files nothing.
        let complete = "birth_date=1954-03-02&household_registration=local&living_alone=false&disability_grade=0&economic_status=none";
        let forged = world.form(APPLY, &cookie, &format!("csrf=forged&{complete}")).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(html(&forged).contains("页面已过期"));
        assert_eq!(my_cases(&world).await, 0);

        // Right: filed, and the browser goes to the case.
        let filed = world.form(APPLY, &cookie, &format!("csrf={FORM_TOKEN}&{complete}")).await;
        assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", html(&filed));
        let location = filed.headers["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("/t/shanghai/pudong/lujiazui/cases/") && location.ends_with("?filed=1"), "{location}");
        assert_eq!(my_cases(&world).await, 1);
        let case = world.page(&location, Some(&cookie)).await;
        assert_eq!(case.status, StatusCode::OK);
        assert!(html(&case).contains("办理中") && html(&case).contains("街道初审"));
        // Her applications list it; its page tells what happened.
        let mine = world.page("/t/shanghai/pudong/lujiazui/cases", Some(&cookie)).await;
        assert_eq!(mine.status, StatusCode::OK);
        let case_id = location.trim_start_matches("/t/shanghai/pudong/lujiazui/cases/").trim_end_matches("?filed=1").to_owned();
        assert!(html(&mine).contains(&case_id) && html(&mine).contains("我的办件"));
        assert!(html(&case).contains("办理记录") && html(&case).contains("提交申请"));
        // The street officer returns it with a reason: she reads both.
        let returned = world
            .call(
                "POST",
                &format!("/api/v1/tenants/310000/310115/310115005/cases/{case_id}/actions"),
                Some(world.token("lujiazui-officer")),
                Some(serde_json::json!({"action": "return", "reason": "请补充户籍证明材料"})),
            )
            .await;
        assert_eq!(returned.status, StatusCode::OK, "{}", returned.body);
        let case = world.page(&format!("/t/shanghai/pudong/lujiazui/cases/{case_id}"), Some(&cookie)).await;
        for said in ["已退回补正", "退回补正", "请补充户籍证明材料", "街道初审"] {
            assert!(html(&case).contains(said), "{said}");
        }
        // She corrects it and sends it again: the stored answers are the
        // form's, a wrong one is named, a right one goes back to the street.
        let case_page = format!("/t/shanghai/pudong/lujiazui/cases/{case_id}");
        assert!(html(&case).contains("修改后重新提交") && html(&case).contains(r#"value="1954-03-02""#));
        let version = returned.body["version"].as_i64().unwrap();
        let wrong = world
            .form(&case_page, &cookie, &format!("csrf={FORM_TOKEN}&do=resubmit&version={version}&birth_date=1954-13-02&household_registration=local&living_alone=false&disability_grade=0&economic_status=none"))
            .await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html(&wrong).contains("请填写有效日期"));
        let again = world
            .form(&case_page, &cookie, &format!("csrf={FORM_TOKEN}&do=resubmit&version={version}&{complete}"))
            .await;
        assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", html(&again));
        let case = world.page(&case_page, Some(&cookie)).await;
        assert!(html(&case).contains("办理中") && html(&case).contains("重新提交"));
        assert!(!html(&case).contains("修改后重新提交"), "nothing left to correct");
        // The same version again is stale: said, nothing changes.
        let stale = world
            .form(&case_page, &cookie, &format!("csrf={FORM_TOKEN}&do=resubmit&version={version}&{complete}"))
            .await;
        assert_eq!(stale.status, StatusCode::CONFLICT, "{}", html(&stale));
        assert!(html(&stale).contains("未能办理："));

        // Another applicant does not see it.
        let other = format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token("enterprise-demo"));
        let theirs = world.page(&location, Some(&other)).await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND);

        // Staff do not apply: the refusal is said above the form.
        let staff = format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token("lujiazui-officer"));
        let refused = world.form(APPLY, &staff, &format!("csrf={FORM_TOKEN}&{complete}")).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", html(&refused));
        assert!(html(&refused).contains("申请未提交"));
    }

    async fn an_applications_personal_data_is_masked_for_staff_and_shown_in_full_only_by_an_audited_reveal(t) {
        let world = World::demo(&t).await;
        let filed = world.call("POST", "/api/v1/tenants/310000/310115/310115005/cases", Some(world.token("citizen-demo")),
            Some(serde_json::json!({"service": "civil-affairs/meal-subsidy", "data": {"birth_date": "1954-03-02",
                "household_registration": "local", "living_alone": false, "disability_grade": 0, "economic_status": "none"}}))).await;
        assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
        let id = filed.body["id"].as_str().unwrap().to_owned();
        let api = format!("/api/v1/tenants/310000/310115/310115005/cases/{id}");

        // The applicant reads their own application as they wrote it.
        let own = world.call("GET", &api, Some(world.token("citizen-demo")), None).await;
        assert_eq!((own.body["data"]["birth_date"].clone(), own.body["masked"].clone()), (serde_json::json!("1954-03-02"), serde_json::json!([])));
        // Staff see the date of birth (x-personal: date) to its year only.
        let officer = world.call("GET", &api, Some(world.token("lujiazui-officer")), None).await;
        assert_eq!(officer.body["data"]["birth_date"], "1954-**-**", "{}", officer.body);
        assert_eq!(officer.body["masked"], serde_json::json!(["birth_date"]));
        assert_eq!(officer.body["data"]["household_registration"], "local", "what is not personal stays as it is");
        let listed = world.call("GET", "/api/v1/tenants/310000/310115/310115005/cases", Some(world.token("lujiazui-officer")), None).await;
        assert_eq!(listed.body["cases"][0]["data"]["birth_date"], "1954-**-**", "{}", listed.body);

        // An officer's role may not reveal; the applicant has nothing to reveal.
        let reason = serde_json::json!({"reason": "核对出生日期与户籍证明是否一致"});
        for who in ["lujiazui-officer", "citizen-demo"] {
            let refused = world.call("POST", &format!("{api}/reveal"), Some(world.token(who)), Some(reason.clone())).await;
            assert_eq!((refused.status, refused.code()), (StatusCode::FORBIDDEN, "forbidden"), "{who}: {}", refused.body);
        }
        // A reviewer reveals with a reason, and only with one.
        let bare = world.call("POST", &format!("{api}/reveal"), Some(world.token("pudong-reviewer")), Some(serde_json::json!({"reason": "  "}))).await;
        assert_eq!(bare.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bare.body);
        let shown = world.call("POST", &format!("{api}/reveal"), Some(world.token("pudong-reviewer")), Some(reason.clone())).await;
        assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
        assert_eq!((shown.body["data"]["birth_date"].clone(), shown.body["masked"].clone()), (serde_json::json!("1954-03-02"), serde_json::json!([])));

        // The workbench: the officer sees it masked and no way to reveal;
        // the reviewer reveals through a form, with a reason.
        let page = format!("/workbench/t/310000/310115/310115005/cases/{id}");
        let officer_cookie = format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token("lujiazui-officer"));
        let seen = world.page(&page, Some(&officer_cookie)).await;
        assert!(html(&seen).contains("1954-**-**") && html(&seen).contains("已脱敏"), "{}", html(&seen));
        assert!(html(&seen).contains("personal-note") && !html(&seen).contains("id=\"reveal\""));
        assert!(!html(&seen).contains("1954-03-02"));
        let reviewer = format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token("pudong-reviewer"));
        let offered = world.page(&page, Some(&reviewer)).await;
        assert!(html(&offered).contains("id=\"reveal\"") && !html(&offered).contains("1954-03-02"), "{}", html(&offered));
        let forged = world.form(&format!("{page}/reveal"), &reviewer, "csrf=forged&reason=x").await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(!html(&forged).contains("1954-03-02"));
        let empty = world.form(&format!("{page}/reveal"), &reviewer, &format!("csrf={FORM_TOKEN}&reason=")).await;
        assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!html(&empty).contains("1954-03-02") && html(&empty).contains("理由"), "{}", html(&empty));
        // A refused reason is shown again to be shortened, not typed anew.
        let long = "核".repeat(501);
        let too_long = world.form(&format!("{page}/reveal"), &reviewer, &format!("csrf={FORM_TOKEN}&reason={}", enc(&long))).await;
        assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html(&too_long).contains(&long) && !html(&too_long).contains("1954-03-02"));
        let revealed = world.form(&format!("{page}/reveal"), &reviewer,
            &format!("csrf={FORM_TOKEN}&reason=%E6%A0%B8%E5%AF%B9%E6%88%B7%E7%B1%8D")).await;
        assert_eq!(revealed.status, StatusCode::OK, "{}", html(&revealed));
        assert!(html(&revealed).contains("1954-03-02") && html(&revealed).contains("personal-shown"), "{}", html(&revealed));

        // Each reveal is in the audit trail: who, which fields, why.
        let trail = world.call("GET", "/api/v1/tenants/310000/310115/310115005/audit?action=personal_data.reveal",
            Some(world.token("audit-admin")), None).await;
        let records = trail.body["records"].as_array().unwrap();
        assert_eq!(records.len(), 2, "{}", trail.body);
        for record in records {
            assert_eq!(record["actor"], "pudong-reviewer");
            assert_eq!(record["target"], format!("case:{id}"));
            assert_eq!(record["detail"]["fields"], serde_json::json!(["birth_date"]));
        }
        let reasons: Vec<&str> = records.iter().filter_map(|r| r["detail"]["reason"].as_str()).collect();
        assert!(reasons.contains(&"核对出生日期与户籍证明是否一致") && reasons.contains(&"核对户籍"), "{reasons:?}");
    }

    async fn a_person_registers_on_the_portal_with_a_sealed_password_and_is_shown_how_to_verify(t) {
        use civitas_crypto::sm2::{CiphertextOrder, PublicKey};
        let world = World::demo(&t).await;
        // From a portal's sign-in, registration is at the portal's place.
        let sign_in = world.page("/sign-in?next=/t/shanghai/pudong/lujiazui/", None).await;
        assert!(html(&sign_in).contains("href=\"/register?next=/t/shanghai/pudong/lujiazui/\""), "{}", html(&sign_in));
        let form = world.page("/register?next=/t/shanghai/pudong/lujiazui/services/civil-affairs/meal-subsidy", Some(&format!("civitas_csrf={FORM_TOKEN}"))).await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(html(&form).contains("陆家嘴") && html(&form).contains("name=\"at\" value=\"310000/310115/310115005\""), "{}", html(&form));
        // Only the sealed password is a field; the typed ones have no name.
        assert!(html(&form).contains("name=\"password_sm2\"") && !html(&form).contains("name=\"password\""));
        let nowhere = world.page("/register", None).await;
        assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
        assert!(html(&nowhere).contains("请从您所在地区的服务门户进入注册页面"));

        // Sealed as sm-crypto's doEncrypt(…, 1) seals it in the page.
        let key = world.call("GET", "/.well-known/civitas/platform-key", None, None).await;
        let platform = PublicKey::from_hex(key.body["public_key_hex"].as_str().unwrap()).unwrap();
        let sealed = hex::encode(&platform.encrypt(b"Wang#2026fang", CiphertextOrder::C1C3C2).unwrap()[1..]);
        let cookie = format!("civitas_csrf={FORM_TOKEN}");
        let post = |fields: &[(&str, &str)]| {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
            let body = body.join("&");
            let (world, cookie) = (&world, &cookie);
            async move { world.form("/register", cookie, &body).await }
        };
        let real = access::id_number(31);
        let mut fields = vec![("csrf", FORM_TOKEN), ("kind", "citizen"), ("at", "310000/310115/310115005"),
            ("name", "王芳"), ("number", real.as_str()), ("username", "wang-fang"), ("password_sm2", sealed.as_str()),
            ("next", "/t/shanghai/pudong/lujiazui/services/civil-affairs/meal-subsidy")];
        let forged = post(&[&[("csrf", "forged")], &fields[1..]].concat()).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        let unsealed = post(&fields[..6]).await;
        assert_eq!(unsealed.status, StatusCode::BAD_REQUEST);
        assert!(html(&unsealed).contains("注册需要启用 JavaScript"));
        // A wrong check digit: said, and what was typed is kept.
        let mut wrong = real.clone();
        wrong.replace_range(17.., if real.ends_with('0') { "1" } else { "0" });
        fields[4] = ("number", wrong.as_str());
        let refused = post(&fields).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", html(&refused));
        assert!(html(&refused).contains("value=\"王芳\"") && html(&refused).contains("value=\"wang-fang\""));
        assert!(!html(&refused).contains(&sealed), "the password is never sent back");
        fields[4] = ("number", real.as_str());
        let registered = post(&fields).await;
        assert_eq!(registered.status, StatusCode::SEE_OTHER, "{}", html(&registered));
        // On to verify, and then on to where she was going.
        assert_eq!(registered.headers["location"], "/verify-identity?next=/t/shanghai/pudong/lujiazui/services/civil-affairs/meal-subsidy");
        let session = registered.headers.get_all("set-cookie").iter()
            .filter_map(|c| c.to_str().ok()).find(|c| c.starts_with("civitas_session="))
            .and_then(|c| c.split(';').next()).unwrap().to_owned();
        let taken = post(&fields).await;
        assert_eq!(taken.status, StatusCode::CONFLICT);

        // Signed in, not verified: both ways are shown; without an identity
        // provider, the counter.
        let signed_in = format!("{session}; civitas_csrf={FORM_TOKEN}");
        let onward = world.page("/verify-identity?next=/t/shanghai/pudong/lujiazui/services/civil-affairs/meal-subsidy", Some(&signed_in)).await;
        assert!(html(&onward).contains("href=\"/t/shanghai/pudong/lujiazui/services/civil-affairs/meal-subsidy\""), "{}", html(&onward));
        let elsewhere = world.page("/verify-identity?next=//evil.example/", Some(&signed_in)).await;
        assert!(!html(&elsewhere).contains("evil.example"), "only this server's pages are places to go next");
        let status = world.page("/verify-identity", Some(&signed_in)).await;
        assert_eq!(status.status, StatusCode::OK);
        assert!(html(&status).contains("尚未实名核验") && html(&status).contains("wang-fang") && html(&status).contains("窗口核验"));
        assert!(!html(&status).contains("verify-online"), "no provider is configured");
        let online = world.form("/verify-identity", &signed_in, &format!("csrf={FORM_TOKEN}")).await;
        assert_eq!(online.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(html(&online).contains("未配置统一身份认证"));
        let applying = world.page("/t/shanghai/pudong/lujiazui/services/civil-affairs/meal-subsidy/apply", Some(&signed_in)).await;
        assert!(html(&applying).contains("实名核验"), "{}", html(&applying));

        // An officer checks her card at the counter, in the workbench: a
        // number that is not the registered one is said and kept; the
        // right one verifies her. Her next page renews her session with
        // the verification, and she may apply.
        let officer = format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token("lujiazui-officer"));
        let inbox = world.page("/workbench/", Some(&officer)).await;
        assert!(html(&inbox).contains("href=\"/workbench/verify-identity\""));
        let counter = |number: String| {
            let body = format!("csrf={FORM_TOKEN}&username=wang-fang&document=id-card&number={number}");
            let (world, officer) = (&world, &officer);
            async move { world.form("/workbench/verify-identity", officer, &body).await }
        };
        let unknown = world.form("/workbench/verify-identity", &officer,
            &format!("csrf={FORM_TOKEN}&username=wang-fang&document=passport&number={real}")).await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html(&unknown).contains("请选择证件类型"));
        let other = access::id_number(32);
        let mismatch = counter(other.clone()).await;
        assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", html(&mismatch));
        assert!(html(&mismatch).contains(&format!("value=\"{other}\"")) && html(&mismatch).contains("value=\"wang-fang\""));
        let checked = counter(real.clone()).await;
        assert_eq!(checked.status, StatusCode::OK, "{}", html(&checked));
        assert!(html(&checked).contains("已完成实名核验：<strong>wang-fang</strong>"), "{}", html(&checked));
        let trail = world.call("GET", "/api/v1/tenants/310000/310115/310115005/audit?action=account.verify",
            Some(world.token("audit-admin")), None).await;
        assert_eq!(trail.body["records"][0]["actor"], "lujiazui-officer", "{}", trail.body);
        let next = world.page("/verify-identity", Some(&signed_in)).await;
        let renewed = next.headers.get_all("set-cookie").iter()
            .filter_map(|c| c.to_str().ok()).find(|c| c.starts_with("civitas_session="))
            .and_then(|c| c.split(';').next()).unwrap().to_owned();
        let now = world.page("/verify-identity", Some(&format!("{renewed}; civitas_csrf={FORM_TOKEN}"))).await;
        assert!(html(&now).contains("已完成实名核验"), "{}", html(&now));
        // Staff have nothing to verify, and are told so.
        let staff = world.page("/verify-identity", Some(&officer)).await;
        assert!(html(&staff).contains("无需实名核验"), "{}", html(&staff));

        // The API takes the sealed password too, and exactly one password.
        let api = |password: serde_json::Value| {
            let mut body = serde_json::json!({"kind": "enterprise", "username": "lujiazui-shop", "tenant": "310000/310115/310115005",
                "name": "陆家嘴某商店", "credit_code": "91350100M000100Y43"});
            for (k, v) in password.as_object().unwrap() { body[k] = v.clone(); }
            world.call("POST", "/api/v1/auth/register", None, Some(body))
        };
        let both = api(serde_json::json!({"password": "Shop#2026x", "password_sm2": sealed})).await;
        assert_eq!((both.status, both.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "{}", both.body);
        let neither = api(serde_json::json!({})).await;
        assert_eq!((neither.status, neither.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));
        let garbled = api(serde_json::json!({"password_sm2": "00ff"})).await;
        assert_eq!(garbled.code(), "invalid_password_ciphertext");
        let shop = hex::encode(&platform.encrypt(b"Shop#2026x", CiphertextOrder::C1C3C2).unwrap()[1..]);
        let sealed_ok = api(serde_json::json!({"password_sm2": shop})).await;
        assert_eq!(sealed_ok.status, StatusCode::CREATED, "{}", sealed_ok.body);
        assert_eq!(world.login("lujiazui-shop", "Shop#2026x").await.status, StatusCode::OK);
    }

    async fn refused_console_forms_show_what_was_chosen_and_typed_again(t) {
        let world = World::demo(&t).await;
        let admin = format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token("city-admin"));
        let page = world.page("/console/t/shanghai/pudong/bindings", Some(&admin)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(html(&page).contains("<option value=\"meal-subsidy-pudong@1.0.0\">"), "{}", html(&page));
        let refused = world.form("/console/t/shanghai/pudong/bindings/civil-affairs/meal-subsidy", &admin,
            &format!("csrf={FORM_TOKEN}&version=meal-subsidy-pudong%401.0.0&percent=0")).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html(&refused).contains("<option value=\"meal-subsidy-pudong@1.0.0\" selected>"), "{}", html(&refused));
        assert!(html(&refused).contains("name=\"percent\" min=\"1\" max=\"100\" value=\"0\""), "{}", html(&refused));

        // A disable refused (its reason too long) keeps the reason, its
        // account's actions open.
        let sys = format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token("sys-admin"));
        let long = "离".repeat(501);
        let refused = world.form("/console/t/shanghai/accounts/lujiazui-officer", &sys,
            &format!("csrf={FORM_TOKEN}&do=disable&reason={}", enc(&long))).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", html(&refused));
        assert!(html(&refused).contains(&format!("value=\"{long}\"")) && html(&refused).contains("<details class=\"actions\" open>"), "{}", html(&refused));
    }

    async fn supporting_documents_are_checked_stored_by_sm3_and_read_back_by_who_may_read_the_case(t) {
        let world = World::demo(&t).await;
        let cookie = format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token("citizen-demo"));
        let complete = "birth_date=1954-03-02&household_registration=local&living_alone=false&disability_grade=0&economic_status=none";
        let filed = world.form(APPLY, &cookie, &format!("csrf={FORM_TOKEN}&{complete}")).await;
        let case_page = filed.headers["location"].to_str().unwrap().trim_end_matches("?filed=1").to_owned();
        let case_id = case_page.rsplit('/').next().unwrap().to_owned();
        let upload = format!("{case_page}/documents");
        let pdf: &[u8] = b"%PDF-1.7\n% \xe6\x88\xb7\xe7\xb1\x8d\n1 0 obj <<>> endobj\n%%EOF\n";
        let page = world.page(&case_page, Some(&cookie)).await;
        assert!(html(&page).contains("尚未上传申请材料") && html(&page).contains(r#"enctype="multipart/form-data""#));

        // A form without the page's token stores nothing.
        let forged = world.multipart(&upload, None, Some(&cookie), &[("csrf", None, b"forged"), ("file", Some("户籍证明.pdf"), pdf)]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(html(&forged).contains("页面已过期"));
        // What is not a document is refused by its bytes, whatever its name.
        let exe = world.multipart(&upload, None, Some(&cookie), &[("csrf", None, FORM_TOKEN.as_bytes()), ("file", Some("证明.pdf"), b"MZ\x90\x00\x03")]).await;
        assert_eq!(exe.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html(&exe).contains("只接受 PDF、OFD、JPEG 或 PNG"), "{}", html(&exe));
        let listed = world.call("GET", &format!("/api/v1/tenants/shanghai/pudong/lujiazui/cases/{case_id}/attachments"), Some(world.token("citizen-demo")), None).await;
        assert_eq!(listed.body["attachments"], serde_json::json!([]), "nothing recorded");

        // A PDF: stored, listed on the case, downloaded as it was sent.
        let done = world.multipart(&upload, None, Some(&cookie), &[("csrf", None, FORM_TOKEN.as_bytes()), ("file", Some("户籍证明.pdf"), pdf)]).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", html(&done));
        let page = world.page(&case_page, Some(&cookie)).await;
        assert!(html(&page).contains("户籍证明.pdf"), "{}", html(&page));
        let listed = world.call("GET", &format!("/api/v1/tenants/shanghai/pudong/lujiazui/cases/{case_id}/attachments"), Some(world.token("citizen-demo")), None).await;
        let attachment = &listed.body["attachments"][0];
        assert_eq!(attachment["media_type"], "application/pdf");
        assert_eq!(attachment["sm3"], civitas_documents::digest(pdf).as_str());
        let aid = attachment["id"].as_str().unwrap().to_owned();
        let (status, headers, bytes) = world.download(&format!("{case_page}/documents/{aid}"), None, Some(&cookie)).await;
        assert_eq!((status, &bytes[..]), (StatusCode::OK, pdf));
        assert_eq!(headers["content-type"], "application/pdf");
        assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment;"));

        // Through the API, with a bearer token: the same checks.
        let api = format!("/api/v1/tenants/shanghai/pudong/lujiazui/cases/{case_id}/documents");
        let png: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        let added = world.multipart(&api, Some(world.token("citizen-demo")), None, &[("file", Some("照片.png"), png)]).await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
        assert_eq!(added.body["media_type"], "image/png");
        let too_big = vec![b'%'; civitas_documents::MAX_DOCUMENT_BYTES + 1];
        let big = world.multipart(&api, Some(world.token("citizen-demo")), None, &[("file", Some("big.pdf"), &too_big)]).await;
        assert_eq!((big.status, big.code()), (StatusCode::PAYLOAD_TOO_LARGE, "document_too_large"), "{}", big.body);
        let nothing = world.multipart(&api, Some(world.token("citizen-demo")), None, &[("note", None, b"x")]).await;
        assert_eq!((nothing.status, nothing.code()), (StatusCode::BAD_REQUEST, "invalid_upload"));
        // A file with another field beside it, or two files, is refused
        // whole: nothing of it is stored.
        let listing = format!("/api/v1/tenants/shanghai/pudong/lujiazui/cases/{case_id}/attachments");
        let before = world.call("GET", &listing, Some(world.token("citizen-demo")), None).await;
        for form in [
            vec![("file", Some("照片.png"), png), ("note", None, b"x".as_slice())],
            vec![("file", Some("一.png"), png), ("file", Some("二.png"), png)],
        ] {
            let refused = world.multipart(&api, Some(world.token("citizen-demo")), None, &form).await;
            assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, "invalid_upload"), "{}", refused.body);
        }
        let after = world.call("GET", &listing, Some(world.token("citizen-demo")), None).await;
        assert_eq!(before.body, after.body);

        // The street officer reads it in the workbench; a district elsewhere
        // cannot reach it.
        let officer = format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token("lujiazui-officer"));
        let staff_page = format!("/workbench/t/310000/310115/310115005/cases/{case_id}");
        let case = world.page(&staff_page, Some(&officer)).await;
        assert!(html(&case).contains("户籍证明.pdf") && html(&case).contains("照片.png"), "{}", html(&case));
        let (status, _, bytes) = world.download(&format!("{staff_page}/documents/{aid}"), None, Some(&officer)).await;
        assert_eq!((status, &bytes[..]), (StatusCode::OK, pdf));
        let content = format!("/api/v1/tenants/310000/310115/310115005/cases/{case_id}/attachments/{aid}/content");
        let (status, _, bytes) = world.download(&content, Some(world.token("lujiazui-officer")), None).await;
        assert_eq!((status, &bytes[..]), (StatusCode::OK, pdf));
        let (status, _, _) = world.download(&content, Some(world.token("huangpu-reviewer")), None).await;
        assert!(status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND, "{status}");
        // Metadata naming a stored digest opens nothing: only an upload is served.
        let named = world.call("POST", &format!("/api/v1/tenants/310000/310115/310115005/cases/{case_id}/attachments"),
            Some(world.token("lujiazui-officer")),
            Some(serde_json::json!({"name": "抄来的.pdf", "media_type": "application/pdf", "size": pdf.len(), "sm3": civitas_documents::digest(pdf)}))).await;
        assert_eq!(named.status, StatusCode::CREATED, "{}", named.body);
        assert_eq!(named.body["stored"], false);
        let copied = format!("/api/v1/tenants/310000/310115/310115005/cases/{case_id}/attachments/{}/content", named.body["id"].as_str().unwrap());
        let (status, _, bytes) = world.download(&copied, Some(world.token("lujiazui-officer")), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", String::from_utf8_lossy(&bytes));
    }

    async fn the_workbench_pauses_resumes_extends_and_transfers_as_the_step_allows(t) {
        let world = World::demo(&t).await;
        let as_user = |name: &str| format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token(name));
        let version_of = |page: &access::Reply| -> String {
            html(page).split(r#"name="version" value=""#).nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_owned()
        };

        // A penalty case: its investigation may pause, resume and extend
        // the 90-day limit, within the 30 days of extension the flow allows.
        let created = world.call("POST", "/api/v1/tenants/310000/310115/cases", Some(world.token("pudong-market-officer")), Some(serde_json::json!({
            "service": "market-regulation/penalty-case", "title": "某超市销售过期食品案",
            "data": {"party": "某超市", "violation": "销售超过保质期的食品"}}))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let case_id = created.body["id"].as_str().unwrap().to_owned();
        let desk = format!("/workbench/t/310000/310115/cases/{case_id}");
        let officer = as_user("pudong-market-officer");
        let page = world.page(&desk, Some(&officer)).await;
        for offered in ["中止办理", "延长办理期限", "已延长 / 最多可延长：0 / 30个自然日", "法定办结期限"] {
            assert!(html(&page).contains(offered), "{offered} missing");
        }
        assert!(!html(&page).contains("恢复办理"), "nothing to resume while open");
        let paused = world.form(&desk, &officer, &format!("csrf={FORM_TOKEN}&do=pause&version={}&reason=%E5%A7%94%E6%89%98%E6%A3%80%E9%AA%8C", version_of(&page))).await;
        assert_eq!(paused.status, StatusCode::SEE_OTHER, "{}", html(&paused));
        let page = world.page(&desk, Some(&officer)).await;
        assert!(html(&page).contains("已中止") && html(&page).contains("恢复办理"), "{}", html(&page));
        assert!(!html(&page).contains("中止办理</button>"), "a paused case only resumes");
        let resumed = world.form(&desk, &officer, &format!("csrf={FORM_TOKEN}&do=resume&version={}", version_of(&page))).await;
        assert_eq!(resumed.status, StatusCode::SEE_OTHER, "{}", html(&resumed));
        let page = world.page(&desk, Some(&officer)).await;
        let too_long = world.form(&desk, &officer, &format!("csrf={FORM_TOKEN}&do=extend&version={}&days=31&reason=%E6%A1%88%E6%83%85%E5%A4%8D%E6%9D%82", version_of(&page))).await;
        assert_eq!(too_long.status, StatusCode::CONFLICT, "{}", html(&too_long));
        assert!(html(&too_long).contains("延期总计不得超过 30 天"), "{}", html(&too_long));
        assert!(html(&too_long).contains(r#"value="31""#) && html(&too_long).contains(r#"value="案情复杂""#), "what was typed is kept");
        let extended = world.form(&desk, &officer, &format!("csrf={FORM_TOKEN}&do=extend&version={}&days=10&reason=%E6%A1%88%E6%83%85%E5%A4%8D%E6%9D%82", version_of(&page))).await;
        assert_eq!(extended.status, StatusCode::SEE_OTHER, "{}", html(&extended));
        let page = world.page(&desk, Some(&officer)).await;
        assert!(html(&page).contains("10 / 30个自然日") && html(&page).contains("延长期限"), "{}", html(&page));
        let limit = (civitas_workflow::today_in_china() + chrono::Days::new(100)).to_string();
        assert!(html(&page).contains(&limit), "the limit moved 10 days: {limit}");

        // A wage-arrears lead: the city's dispatcher picks the district
        // from the places the transfer rule allows.
        let lead = world.call("POST", "/api/v1/tenants/310000/cases", Some(world.token("city-hr-dispatcher")), Some(serde_json::json!({
            "service": "hr-social-security/wage-arrears-lead", "origin": "warning",
            "title": "某建筑项目欠薪线索", "data": {"rule": "wage-arrears-3-months", "project": "张江某工地"}}))).await;
        assert_eq!(lead.status, StatusCode::CREATED, "{}", lead.body);
        let lead_id = lead.body["id"].as_str().unwrap().to_owned();
        let city_desk = format!("/workbench/t/310000/cases/{lead_id}");
        let dispatcher = as_user("city-hr-dispatcher");
        let page = world.page(&city_desk, Some(&dispatcher)).await;
        assert!(html(&page).contains(r#"name="to_tenant""#) && html(&page).contains(r#"value="310000/310115""#), "{}", html(&page));
        assert!(!html(&page).contains(r#"value="510000"#), "never out of the city");
        let sent = world.form(&city_desk, &dispatcher, &format!("csrf={FORM_TOKEN}&do=transfer&version={}&to_tenant=310000%2F310115&reason=%E5%B1%9E%E5%9C%B0%E5%88%86%E6%B4%BE", version_of(&page))).await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", html(&sent));
        let moved = world.call("GET", &format!("/api/v1/tenants/310000/310115/cases/{lead_id}"), Some(world.token("pudong-hr-inspector")), None).await;
        assert_eq!((moved.body["tenant_path"].as_str(), moved.body["step"].as_str()), (Some("310000/310115"), Some("dispose")), "{}", moved.body);
    }

    async fn the_workbench_finds_the_cases_an_officer_may_see_and_shows_the_notices(t) {
        let world = World::demo(&t).await;
        let cookie = format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token("citizen-demo"));
        let complete = "birth_date=1954-03-02&household_registration=local&living_alone=false&disability_grade=0&economic_status=none";
        let filed = world.form(APPLY, &cookie, &format!("csrf={FORM_TOKEN}&{complete}")).await;
        assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", html(&filed));
        let case_id = filed.headers["location"].to_str().unwrap().trim_end_matches("?filed=1").rsplit('/').next().unwrap().to_owned();
        world.indexed().await;
        let as_user = |name: &str| format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token(name));
        let inbox = world.page("/workbench/", Some(&as_user("lujiazui-officer"))).await;
        assert!(html(&inbox).contains(r#"action="/workbench/search""#), "the inbox offers search");
        // … and its every task as a workbook, through the API's export.
        assert!(html(&inbox).contains(r#"href="/workbench/inbox/export""#), "the inbox offers its export");
        let (status, headers, bytes) = world.download("/workbench/inbox/export", None, Some(&as_user("lujiazui-officer"))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers["content-disposition"].to_str().unwrap().contains(".xlsx"));
        let rows = civitas_sheet::read(&bytes, civitas_sheet::Format::Xlsx, 100).unwrap();
        assert!(rows.iter().any(|r| r.cells.first().is_some_and(|c| c.text() == case_id)), "{rows:?}");
        let (status, _, _) = world.download("/workbench/inbox/export", None, Some(&cookie)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "the public has no inbox to export");
        // The console's sections offer theirs to whom may read them.
        let accounts = world.page("/console/t/shanghai/accounts", Some(&as_user("sys-admin"))).await;
        assert!(html(&accounts).contains(r#"href="/console/t/shanghai/accounts/export""#), "{}", html(&accounts));
        let (status, _, bytes) = world.download("/console/t/shanghai/accounts/export", None, Some(&as_user("sys-admin"))).await;
        assert_eq!(status, StatusCode::OK);
        let rows = civitas_sheet::read(&bytes, civitas_sheet::Format::Xlsx, 1000).unwrap();
        assert!(rows.iter().any(|r| r.cells.first().is_some_and(|c| c.text() == "lujiazui-officer")));
        let refused = world.page("/console/t/shanghai/accounts/export", Some(&as_user("lujiazui-officer"))).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(html(&refused).contains("无权"), "a refusal is a page: {}", html(&refused));
        let found = world.page("/workbench/search?q=%E5%8A%A9%E9%A4%90", Some(&as_user("lujiazui-officer"))).await;
        assert_eq!(found.status, StatusCode::OK);
        assert!(html(&found).contains("找到办件：1") && html(&found).contains(&case_id), "{}", html(&found));
        assert!(html(&found).contains("办理中"), "{}", html(&found));
        // Another district's reviewer finds nothing of Lujiazui's.
        let elsewhere = world.page("/workbench/search?q=%E5%8A%A9%E9%A4%90", Some(&as_user("huangpu-reviewer"))).await;
        assert!(html(&elsewhere).contains("找到办件：0") && !html(&elsewhere).contains(&case_id), "{}", html(&elsewhere));
        // The public's side has no workbench.
        let citizen = world.page("/workbench/search?q=x", Some(&cookie)).await;
        assert_eq!(citizen.status, StatusCode::FORBIDDEN);

        // Time passes: the street's deadline is missed, and the officer's
        // inbox shows the notices with a link to the case.
        let fired = world.time_passes(21).await;
        assert!(!fired.is_empty());
        let inbox = world.page("/workbench/", Some(&as_user("lujiazui-officer"))).await;
        assert!(html(&inbox).contains("提醒与督办") && html(&inbox).contains(&format!("/cases/{case_id}")), "{}", html(&inbox));
    }

    async fn a_countersign_step_shows_who_has_signed(t) {
        let world = World::demo(&t).await;
        let as_user = |name: &str| format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token(name));
        // Pudong's title applications add a countersign after intake: the
        // district's reviewer and its bureau head must both approve.
        let filed = world.call("POST", "/api/v1/tenants/310000/310115/cases", Some(world.token("pudong-hr-officer")), Some(serde_json::json!({
            "service": "hr-social-security/title-review", "title": "张工 高级工程师申报", "data": {"project": "张江某工地"}}))).await;
        assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
        let case_id = filed.body["id"].as_str().unwrap().to_owned();
        let actions = format!("/api/v1/tenants/310000/310115/cases/{case_id}/actions");
        let intake = world.call("POST", &actions, Some(world.token("pudong-hr-officer")), Some(serde_json::json!({"action": "approve", "version": 1}))).await;
        assert_eq!(intake.status, StatusCode::OK, "{}", intake.body);
        let desk = format!("/workbench/t/310000/310115/cases/{case_id}");
        let page = world.page(&desk, Some(&as_user("pudong-hr-inspector"))).await;
        assert!(html(&page).contains("会签") && html(&page).matches("待会签").count() == 2, "{}", html(&page));
        let version = html(&page).split(r#"name="version" value=""#).nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_owned();
        let signed = world.form(&desk, &as_user("pudong-hr-inspector"), &format!("csrf={FORM_TOKEN}&do=approve&version={version}")).await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", html(&signed));
        let page = world.page(&desk, Some(&as_user("pudong-hr-head"))).await;
        assert_eq!((html(&page).matches("已会签").count(), html(&page).matches("待会签").count()), (1, 1), "{}", html(&page));
    }

    async fn the_system_administrator_checks_then_imports_a_staff_roster_in_the_console(t) {
        let world = World::demo(&t).await;
        let admin = format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token("sys-admin"));
        let import = "/console/t/shanghai/pudong/account-imports";
        let accounts = world.page("/console/t/shanghai/pudong/accounts", Some(&admin)).await;
        assert!(html(&accounts).contains("导入花名册") && html(&accounts).contains(&format!(r#"action="{import}""#)));
        let bad = "姓名,工号,所属单位,条线\n王芳,PD-7001,陆家嘴街道,民政\n李强,,火星街道,民政\n";
        let good = "姓名,工号,所属单位,条线\n王芳,PD-7001,陆家嘴街道,民政\n李强,PD-7002,花木街道,民政\n";
        let send = |roster: &'static str, dry_run: bool| {
            let world = &world;
            let admin = admin.clone();
            async move {
                let mut parts: Vec<(&str, Option<&str>, &[u8])> = vec![("csrf", None, FORM_TOKEN.as_bytes())];
                if dry_run {
                    parts.push(("dry_run", None, b"true"));
                }
                parts.push(("file", Some("花名册.csv"), roster.as_bytes()));
                world.multipart(import, None, Some(&admin), &parts).await
            }
        };
        // A dry run names the bad row's problems, and creates nothing.
        let checked = send(bad, true).await;
        assert_eq!(checked.status, StatusCode::OK, "{}", html(&checked));
        assert!(html(&checked).contains("花名册检查结果") && html(&checked).contains("火星街道"), "{}", html(&checked));
        let listed = world.call("GET", "/api/v1/tenants/310000/310115/accounts", Some(world.token("sys-admin")), None).await;
        assert!(!listed.body.to_string().contains("PD-7001"));
        // Imported with a bad row: refused, every problem named, nothing created.
        let refused = send(bad, false).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", html(&refused));
        assert!(html(&refused).contains("未创建任何账户") && html(&refused).contains("火星街道"));
        // Corrected: every account created, each one-time password shown once.
        let done = send(good, false).await;
        assert_eq!(done.status, StatusCode::CREATED, "{}", html(&done));
        assert!(html(&done).contains("花名册已导入") && html(&done).contains("已创建账户：2"), "{}", html(&done));
        assert!(html(&done).contains("一次性密码") && html(&done).contains("此密码仅显示这一次"), "{}", html(&done));
        let listed = world.call("GET", "/api/v1/tenants/310000/310115/accounts", Some(world.token("sys-admin")), None).await;
        assert!(listed.body.to_string().contains("PD-7001") && listed.body.to_string().contains("PD-7002"), "{}", listed.body);
        // A cross-site post (no form token) reads nothing and creates nothing.
        let forged = world.multipart(import, None, Some(&admin), &[("csrf", None, b"forged"), ("file", Some("x.csv"), good.as_bytes())]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
    }

    async fn an_application_not_reviewed_yet_is_withdrawn_with_a_reason(t) {
        let world = World::demo(&t).await;
        let cookie = format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token("citizen-demo"));
        let complete = "birth_date=1954-03-02&household_registration=local&living_alone=false&disability_grade=0&economic_status=none";
        let filed = world.form(APPLY, &cookie, &format!("csrf={FORM_TOKEN}&{complete}")).await;
        let case_page = filed.headers["location"].to_str().unwrap().trim_end_matches("?filed=1").to_owned();
        let page = world.page(&case_page, Some(&cookie)).await;
        assert!(html(&page).contains("撤回申请"), "withdrawal offered before review");
        // Without a reason: refused, said, still open.
        let bare = world.form(&case_page, &cookie, &format!("csrf={FORM_TOKEN}&do=withdraw&version=1&reason=")).await;
        assert!(bare.status.is_client_error(), "{}", bare.status);
        assert!(html(&bare).contains("未能办理："), "{}", html(&bare));
        let withdrawn = world.form(&case_page, &cookie, &format!("csrf={FORM_TOKEN}&do=withdraw&version=1&reason=%E5%B7%B2%E4%B8%8D%E9%9C%80%E8%A6%81")).await;
        assert_eq!(withdrawn.status, StatusCode::SEE_OTHER, "{}", html(&withdrawn));
        let page = world.page(&case_page, Some(&cookie)).await;
        assert!(html(&page).contains("已撤回") && html(&page).contains("已不需要"));
        assert!(!html(&page).contains("撤回理由"), "nothing left to withdraw");
    }

    async fn the_street_and_the_district_approve_in_the_workbench_and_the_applicant_sees_it_finished(t) {
        let world = World::demo(&t).await;
        let as_user = |name: &str| format!("civitas_session={}; civitas_csrf={FORM_TOKEN}", world.token(name));
        let citizen = as_user("citizen-demo");
        let complete = "birth_date=1954-03-02&household_registration=local&living_alone=false&disability_grade=0&economic_status=none";
        let filed = world.form(APPLY, &citizen, &format!("csrf={FORM_TOKEN}&{complete}")).await;
        let portal_case = filed.headers["location"].to_str().unwrap().trim_end_matches("?filed=1").to_owned();
        let case_id = portal_case.rsplit('/').next().unwrap().to_owned();
        let desk = format!("/workbench/t/310000/310115/310115005/cases/{case_id}");

        // Not staff: the workbench says so; nobody: sign in first.
        let refused = world.page("/workbench/", Some(&citizen)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(html(&refused).contains("工作台仅供工作人员使用"));
        let anonymous = world.page("/workbench/", None).await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER);

        // The street officer finds it in the inbox with its deadline, reads
        // the application and the module's decision, and approves it.
        let officer = as_user("lujiazui-officer");
        let tasks = world.page("/workbench/", Some(&officer)).await;
        assert_eq!(tasks.status, StatusCode::OK);
        assert!(html(&tasks).contains(&desk), "{}", html(&tasks));
        assert!(html(&tasks).contains("街道初审") && html(&tasks).contains("个工作日"));
        let page = world.page(&desk, Some(&officer)).await;
        // The date of birth is personal data: the officer sees its year.
        for shown in ["申请内容", "出生日期", "1954-**-**", "本市户籍", "规则判定", "meal-subsidy-pudong@1.0.0", "审核通过", "退回补正"] {
            assert!(html(&page).contains(shown), "{shown} missing");
        }
        // A form without the page's token does nothing.
        let forged = world.form(&desk, &officer, "csrf=forged&do=approve&version=1").await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        // Returning needs a reason: said, nothing changes.
        let bare = world.form(&desk, &officer, &format!("csrf={FORM_TOKEN}&do=return&version=1&reason=")).await;
        assert!(bare.status.is_client_error(), "{}", bare.status);
        assert!(html(&bare).contains("未能办理："));
        let approved = world.form(&desk, &officer, &format!("csrf={FORM_TOKEN}&do=approve&version=1")).await;
        assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", html(&approved));
        assert_eq!(approved.headers["location"], "/workbench/");
        let tasks = world.page("/workbench/", Some(&officer)).await;
        assert!(!html(&tasks).contains(&desk), "done: no longer the street's task");

        // The district reviewer approves it in turn.
        let reviewer = as_user("pudong-reviewer");
        let tasks = world.page("/workbench/", Some(&reviewer)).await;
        assert!(html(&tasks).contains(&desk) && html(&tasks).contains("区级审批"));
        let page = world.page(&desk, Some(&reviewer)).await;
        let version = html(&page).split(r#"name="version" value=""#).nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_owned();
        let approved = world.form(&desk, &reviewer, &format!("csrf={FORM_TOKEN}&do=approve&version={version}")).await;
        assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", html(&approved));

        // The applicant sees it finished, and both approvals in its history.
        let mine = world.page(&portal_case, Some(&citizen)).await;
        assert!(html(&mine).contains("已办结（准予）"), "{}", html(&mine));
        assert_eq!(html(&mine).matches("审核通过").count(), 2);

        // 好差评: she rates it, once; a poor rating must say why; staff
        // cannot rate for her; the rating shows on both faces and counts
        // on the dashboard.
        assert!(html(&mine).contains("评价本次服务") && html(&mine).contains(r#"name="score""#));
        let case_id = portal_case.rsplit('/').next().unwrap().to_owned();
        let api = format!("/api/v1/tenants/310000/310115/310115005/cases/{case_id}/rating");
        let poor = world.form(&portal_case, &citizen, &format!("csrf={FORM_TOKEN}&do=rate&score=2&comment=")).await;
        assert_eq!(poor.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", html(&poor));
        assert!(html(&poor).contains("差评请说明原因"));
        assert!(html(&poor).contains(r#"value="2" required checked"#), "the score chosen is kept");
        let by_staff = world.call("POST", &api, Some(world.token("lujiazui-officer")), Some(serde_json::json!({"score": 5}))).await;
        assert_eq!(by_staff.status, StatusCode::FORBIDDEN, "{}", by_staff.body);
        let rated = world.form(&portal_case, &citizen, &format!("csrf={FORM_TOKEN}&do=rate&score=4&comment=%E5%8A%9E%E7%90%86%E5%BE%88%E5%BF%AB")).await;
        assert_eq!(rated.status, StatusCode::SEE_OTHER, "{}", html(&rated));
        let again = world.call("POST", &api, Some(world.token("citizen-demo")), Some(serde_json::json!({"score": 1, "comment": "改主意了"}))).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "rated once: {}", again.body);
        let read = world.call("GET", &api, Some(world.token("lujiazui-officer")), None).await;
        assert_eq!((read.body["score"].as_i64(), read.body["comment"].as_str()), (Some(4), Some("办理很快")));
        let mine = world.page(&portal_case, Some(&citizen)).await;
        assert!(html(&mine).contains("您的评价：") && html(&mine).contains("办理很快"));
        assert!(!html(&mine).contains(r#"name="score""#), "nothing left to rate");
        let staff_view = world.page(&desk, Some(&officer)).await;
        assert!(html(&staff_view).contains("申请人评价：") && html(&staff_view).contains("★★★★☆"));
        let board = world.call("GET", "/api/v1/tenants/310000/310115/dashboard", Some(world.token("city-admin")), None).await;
        assert_eq!(board.status, StatusCode::OK, "{}", board.body);
        let total = &board.body["total"];
        assert_eq!((total["filed"].as_i64(), total["approved"].as_i64(), total["rated"].as_i64(), total["score_sum"].as_i64()), (Some(1), Some(1), Some(1), Some(4)), "{total}");
    }
}
