//! Search over HTTP, on SQLite and PostgreSQL: staff find cases by title,
//! applicant and number within their subtree and line; applicants find
//! their own; the public finds a tenant's services in Chinese, pinyin or
//! initials; every hit opens with the caller's own `GET`; bad input is a
//! coded 400.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::access;

use access::{Reply, World};
use axum::http::StatusCode;
use civitas_testkit::both_backends;
use serde_json::{Value, json};

const LUJIAZUI: &str = "310000/310115/310115005";

async fn search(world: &World, who: Option<&str>, query: &str) -> Reply {
    world
        .call(
            "GET",
            &format!("/api/v1/search?{query}"),
            who.map(|w| world.token(w)),
            None,
        )
        .await
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.body["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.body))
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

fn q(text: &str) -> String {
    format!("q={}", percent(text))
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn apply(world: &World) -> String {
    let data = json!({"birth_date": "1954-03-02", "household_registration": "local",
        "living_alone": false, "disability_grade": 0, "economic_status": "none"});
    let created = world
        .call(
            "POST",
            &format!("/api/v1/tenants/{LUJIAZUI}/cases"),
            Some(world.token("citizen-demo")),
            Some(json!({"service": "civil-affairs/meal-subsidy", "data": data})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

/// Runs each body on tantivy and on Meilisearch, each on SQLite and
/// PostgreSQL (`world` is the demo platform searching with that backend).
macro_rules! on_both_engines {
    ($(async fn $name:ident($world:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                both_backends! {
                    async fn tantivy(t) {
                        let $world = World::demo(&t).await;
                        $body
                    }
                    async fn meilisearch(t) {
                        let Some(server) = civitas_testkit::meili() else { return };
                        let $world = World::demo_searching(&t, civitas::search::SearchConfig::Meilisearch {
                            url: server.url.clone(),
                            public_url: None,
                            index: server.unique_index(),
                            key: Some(server.key.clone()),
                        }).await;
                        $body
                    }
                }
            }
        )*
    };
}

on_both_engines! {
    async fn staff_find_cases_within_their_subtree_and_line_and_every_hit_opens(world) {
        let case = apply(&world).await;
        world.indexed().await;
        let doc = format!("case:{case}");

        // By the title's words, the applicant's name and the case number.
        for text in ["助餐补贴", "演示居民", case.as_str()] {
            let found = search(&world, Some("lujiazui-officer"), &format!("{}&kind=case", q(text))).await;
            assert_eq!(found.status, StatusCode::OK, "{}", found.body);
            assert_eq!(ids(&found), [doc.as_str()], "{text}: {}", found.body);
        }
        let found = search(&world, Some("lujiazui-officer"), &q("助餐补贴")).await;
        let hit = found.body["hits"].as_array().unwrap().iter().find(|h| h["id"] == doc.as_str()).unwrap().clone();
        assert_eq!(hit["tenant"], LUJIAZUI);
        assert_eq!(hit["status"], "open");
        let title = &hit["highlights"][0];
        assert_eq!(title["field"], "title");
        let [start, end] = [title["ranges"][0][0].as_u64().unwrap() as usize, title["ranges"][0][1].as_u64().unwrap() as usize];
        let marked: String = title["text"].as_str().unwrap().chars().skip(start).take(end - start).collect();
        assert!(marked.contains("助餐"), "{marked}");
        // Facets count by status and by place below the tenant asked for.
        let faceted = search(&world, Some("pudong-reviewer"), &format!("{}&kind=case&tenant=310000/310115", q("助餐"))).await;
        assert_eq!(faceted.body["facets"]["status"]["open"], 1, "{}", faceted.body);
        assert_eq!(faceted.body["facets"]["places"]["310000/310115/310115005"], 1, "{}", faceted.body);

        // Every hit opens with the searcher's own GET.
        let opened = world
            .call("GET", &format!("/api/v1/tenants/{}/cases/{case}", hit["tenant"].as_str().unwrap()),
                Some(world.token("lujiazui-officer")), None)
            .await;
        assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);

        // Another district, another line, an enterprise: nothing.
        for who in ["huangpu-reviewer", "pudong-market-officer", "enterprise-demo"] {
            let found = search(&world, Some(who), &format!("{}&kind=case", q("助餐补贴"))).await;
            assert_eq!(found.status, StatusCode::OK, "{who}: {}", found.body);
            assert_eq!(found.body["total"], 0, "{who}: {}", found.body);
        }
        // A self-registered enterprise, not verified yet, finds the public
        // services and nothing else (the case routes answer 403 verification_required).
        let registered = world
            .call("POST", "/api/v1/auth/register", None, Some(json!({
                "kind": "enterprise", "username": "search-unverified", "password": "Qiye#2026ok",
                "tenant": "310000/310115", "name": "上海某某科技有限公司", "credit_code": "91350100M000100Y43"})))
            .await;
        assert_eq!(registered.status, StatusCode::CREATED, "{}", registered.body);
        let login = world.login("search-unverified", "Qiye#2026ok").await;
        let token = login.body["access_token"].as_str().unwrap().to_owned();
        let unverified = world.call("GET", &format!("/api/v1/search?{}", q("助餐补贴")), Some(&token), None).await;
        assert_eq!(unverified.status, StatusCode::OK, "{}", unverified.body);
        assert!(ids(&unverified).iter().all(|id| id.starts_with("service:")), "{}", unverified.body);

        // The applicant finds its own case, and the public services.
        let mine = search(&world, Some("citizen-demo"), &q("助餐补贴")).await;
        let mine = ids(&mine);
        assert!(mine.contains(&doc), "{mine:?}");
        assert!(mine.iter().any(|id| id.starts_with("service:")), "{mine:?}");
        // A change reaches the index: the case withdrawn is found by its new state.
        let withdrawn = world
            .call("POST", &format!("/api/v1/tenants/{LUJIAZUI}/cases/{case}/actions"),
                Some(world.token("citizen-demo")), Some(json!({"action": "withdraw", "reason": "不再需要"})))
            .await;
        assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.body);
        world.indexed().await;
        let found = search(&world, Some("lujiazui-officer"), &format!("{}&status=withdrawn", q("助餐补贴"))).await;
        assert_eq!(ids(&found), [doc.as_str()], "{}", found.body);

        // The system administrator finds accounts (account.read), not cases.
        let accounts = search(&world, Some("sys-admin"), &q("lujiazui-officer")).await;
        assert_eq!(accounts.status, StatusCode::OK, "{}", accounts.body);
        let found = ids(&accounts);
        assert!(found.iter().any(|id| id.starts_with("account:")), "{}", accounts.body);
        assert!(found.iter().all(|id| !id.starts_with("case:")), "{}", accounts.body);

        // Ready reports the index.
        let ready = world.call("GET", "/readyz", None, None).await;
        assert_eq!(ready.body["search"]["backend"], world.search.engine().backend(), "{}", ready.body);
        assert_eq!(ready.body["search"]["pending"], 0, "{}", ready.body);
        assert_eq!(ready.body["search"]["behind"], false, "{}", ready.body);
    }

    async fn the_public_finds_a_tenants_services_by_chinese_pinyin_and_initials(world) {
        for text in ["助餐补贴", "zcbt", "zhucanbutie", "ＺＣＢＴ"] {
            let found = world
                .call("GET", &format!("/api/v1/tenants/shanghai/pudong/lujiazui/services/search?{}", q(text)), None, None)
                .await;
            assert_eq!(found.status, StatusCode::OK, "{}", found.body);
            let services: Vec<Value> = found.body["hits"].as_array().unwrap().iter().map(|h| h["service"].clone()).collect();
            assert_eq!(services, [json!("civil-affairs/meal-subsidy")], "{text}: {}", found.body);
        }
        let nothing = world
            .call("GET", &format!("/api/v1/tenants/{LUJIAZUI}/services/search?{}", q("处罚")), None, None)
            .await;
        assert_eq!(nothing.body["total"], 0, "{}", nothing.body);
        let unknown = world.call("GET", "/api/v1/tenants/nowhere/services/search?q=a", None, None).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);

        // A portal searches Meilisearch directly with a tenant token that
        // finds this tenant's services and nothing else.
        let token = world.call("GET", &format!("/api/v1/tenants/{LUJIAZUI}/services/search-token"), None, None).await;
        if world.search.engine().backend() == "tantivy" {
            assert_eq!(token.status, StatusCode::NOT_FOUND, "{}", token.body);
            assert_eq!(token.code(), "search_token_unavailable");
        } else {
            assert_eq!(token.status, StatusCode::OK, "{}", token.body);
            let url = format!("{}/indexes/{}/search", token.body["url"].as_str().unwrap(), token.body["index"].as_str().unwrap());
            let client = reqwest::Client::new();
            let direct = |q: &'static str| client.post(&url).bearer_auth(token.body["token"].as_str().unwrap()).json(&json!({"q": q})).send();
            let found: Value = direct("zcbt").await.unwrap().json().await.unwrap();
            let ids: Vec<&str> = found["hits"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap()).collect();
            assert_eq!(ids, ["service:310000:civil-affairs/meal-subsidy"], "{found}");
            // The token's rules hold the filter: cases are not found, even asked for directly.
            let apply_case = apply(&world).await;
            world.indexed().await;
            let cases: Value = direct("助餐补贴").await.unwrap().json().await.unwrap();
            assert!(cases["hits"].as_array().unwrap().iter().all(|h| h["kind"] == "service"), "{cases} ({apply_case})");
            let refused = client.post(&url).bearer_auth("not-a-token").json(&json!({"q": "a"})).send().await.unwrap();
            assert_eq!(refused.status().as_u16(), 403);
        }
    }
}

both_backends! {
    async fn bad_search_input_is_a_coded_error(t) {
        let world = World::demo(&t).await;
        let anonymous = search(&world, None, "q=a").await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
        let long = "长".repeat(201);
        for (query, status, code) in [
            ("limit=0".to_owned(), StatusCode::BAD_REQUEST, "invalid_limit"),
            ("limit=101".to_owned(), StatusCode::BAD_REQUEST, "invalid_limit"),
            ("kind=letters".to_owned(), StatusCode::BAD_REQUEST, "invalid_kind"),
            ("from=2026-13-01".to_owned(), StatusCode::BAD_REQUEST, "invalid_date"),
            ("after=not-a-cursor".to_owned(), StatusCode::BAD_REQUEST, "invalid_cursor"),
            ("tenant=nowhere".to_owned(), StatusCode::NOT_FOUND, "tenant_not_found"),
            (q(&long), StatusCode::BAD_REQUEST, "query_too_long"),
            ("count=maybe".to_owned(), StatusCode::BAD_REQUEST, "invalid_query"),
        ] {
            let reply = search(&world, Some("lujiazui-officer"), &query).await;
            assert_eq!(reply.status, status, "{query}: {}", reply.body);
            assert_eq!(reply.code(), code, "{query}: {}", reply.body);
            assert!(reply.body["message"]["zh"].is_string() && reply.body["message"]["en"].is_string());
        }
    }

    async fn pages_follow_next_until_the_last(t) {
        let world = World::demo(&t).await;
        for _ in 0..3 {
            apply(&world).await;
        }
        world.indexed().await;
        let mut seen = Vec::new();
        let mut query = "kind=case&limit=2".to_owned();
        loop {
            let page = search(&world, Some("lujiazui-officer"), &query).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            assert_eq!(page.body["total"], 3);
            seen.extend(ids(&page));
            match page.body["next"].as_str() {
                Some(next) => query = format!("kind=case&limit=2&after={next}"),
                None => break,
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 3);
    }

    async fn uncounted_pages_give_the_same_hits_and_next_without_total_or_facets(t) {
        let world = World::demo(&t).await;
        for _ in 0..3 {
            apply(&world).await;
        }
        world.indexed().await;
        let counted = search(&world, Some("lujiazui-officer"), "kind=case&limit=3").await;
        assert_eq!(counted.body["total"], 3, "{}", counted.body);
        assert!(counted.body["facets"]["status"].is_object(), "{}", counted.body);
        assert!(counted.body["next"].is_null(), "{}", counted.body);

        // Not counted: a page that fills exactly has no next; a shorter
        // one has, and following it ends where the counted pages end.
        let whole = search(&world, Some("lujiazui-officer"), "kind=case&limit=3&count=false").await;
        assert_eq!(whole.status, StatusCode::OK, "{}", whole.body);
        assert!(whole.body.get("total").is_none_or(Value::is_null), "{}", whole.body);
        assert!(whole.body.get("facets").is_none_or(Value::is_null), "{}", whole.body);
        assert!(whole.body["next"].is_null(), "{}", whole.body);
        assert_eq!(ids(&whole), ids(&counted));

        let mut seen = Vec::new();
        let mut query = "kind=case&limit=2&count=false".to_owned();
        let mut pages = 0;
        loop {
            let page = search(&world, Some("lujiazui-officer"), &query).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            pages += 1;
            seen.extend(ids(&page));
            match page.body["next"].as_str() {
                Some(next) => query = format!("kind=case&limit=2&count=false&after={next}"),
                None => break,
            }
        }
        assert_eq!(pages, 2);
        assert_eq!(seen, ids(&counted));
    }
}

both_backends! {
    async fn a_node_that_finds_no_index_rebuilds_it_from_the_database(t) {
        // A restored backup carries no index (it is derived data): the
        // node started on it builds one from the database before serving.
        let world = World::demo(&t).await;
        let filed = world
            .call("POST", "/api/v1/tenants/310000/310115/310115005/cases", Some(world.token("citizen-demo")),
                  Some(json!({"service": "civil-affairs/meal-subsidy", "data": {
                      "birth_date": "1944-03-02", "household_registration": "local", "living_alone": true,
                      "disability_grade": 0, "economic_status": "none"}})))
            .await;
        assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
        world.indexed().await;
        let indexed = world.search.engine().counts().await.unwrap();
        assert!(indexed.by_kind.get("case").copied().unwrap_or(0) >= 1, "{indexed:?}");

        let tree = civitas_tenancy::SharedTree::new(civitas_testkit::demo_tree());
        let workflow = civitas::serve::start_workflow(&civitas_testkit::tenants_dir(), &tree, &world.modules).unwrap();
        let roots: Vec<civitas_tenancy::TenantPath> =
            tree.current().roots().map(|t| t.path.clone()).collect();
        // The node whose index held the outbox is the backup's, last seen
        // an hour before the restore: no window to wait out.
        let mut tx = t.db.begin_platform().await.unwrap();
        civitas_storage::with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE search_indexers SET seen_at = seen_at - 3600000000")
                .execute(&mut *c)
                .await
                .unwrap();
        });
        tx.commit().await.unwrap();
        let restored = tempfile::tempdir().unwrap();
        let indexer = civitas::search::start_indexer(
            &civitas::search::SearchConfig::Tantivy { dir: restored.path().join("search") },
            &t.db, &world.modules, &workflow, &roots,
            civitas_search_indexer::TAKEOVER_AFTER,
            civitas_search_indexer::RebuildAt::Claim,
        )
        .await
        .unwrap();
        // Nothing was left in the outbox: what it holds came from the database.
        assert_eq!(indexer.engine().counts().await.unwrap(), indexed);
    }
}
