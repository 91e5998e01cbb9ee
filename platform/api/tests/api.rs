//! The HTTP API, specified request by request against SQLite and PostgreSQL.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civitas_api::{ApiSettings, app};
use civitas_testkit::{TestDb, both_backends, demo_tree};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    request_id: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the error envelope: status, code, both messages, request id.
    fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        let zh = body["message"]["zh"].as_str().unwrap_or_default();
        let en = body["message"]["en"].as_str().unwrap_or_default();
        assert!(
            zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "no Chinese message: {body}"
        );
        assert!(
            en.is_ascii() && !en.is_empty(),
            "no English message: {body}"
        );
        assert_eq!(
            body["request_id"].as_str(),
            self.request_id.as_deref(),
            "body and header ids differ"
        );
    }
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let header = |name: header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let request_id = header(header::HeaderName::from_static("x-request-id"));
    let content_type = header(header::CONTENT_TYPE);
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .to_bytes()
        .to_vec();
    Reply {
        status,
        request_id,
        content_type,
        body,
    }
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn post_json(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn demo_app(t: &TestDb) -> Router {
    t.db.sync_tenants(&demo_tree())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tenants = civitas_api::TenantDirectory::load(&t.db)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    app(
        t.db.clone(),
        &ApiSettings {
            tenants: civitas_api::SharedDirectory::new(tenants),
            ..ApiSettings::default()
        },
    )
}

both_backends! {
    async fn the_tree_lists_shanghai_with_districts_and_streets(t) {
        let app = demo_app(&t).await;
        let reply = send(&app, get("/api/v1/tenants")).await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = reply.json();
        let shanghai = &body["tenants"][0];
        assert_eq!(shanghai["code"], "310000");
        assert_eq!(shanghai["name"], "上海市");
        let districts: Vec<&str> = shanghai["children"].as_array().map(|a| a.iter().filter_map(|d| d["slug_path"].as_str()).collect()).unwrap_or_default();
        assert_eq!(districts, ["shanghai/huangpu", "shanghai/xuhui", "shanghai/pudong"]);
        for district in shanghai["children"].as_array().into_iter().flatten() {
            assert!(district["children"].as_array().map_or(0, Vec::len) >= 2, "{district}");
        }
        assert_eq!(body["tenants"][1]["slug_path"], "sichuan", "a province-rooted tree sits beside it");
    }

    async fn a_tenant_is_found_by_path_or_slug_with_ancestors_and_subtree(t) {
        let app = demo_app(&t).await;
        let by_slug = send(&app, get("/api/v1/tenants/shanghai/pudong")).await.json();
        let by_path = send(&app, get("/api/v1/tenants/310000/310115")).await.json();
        let encoded = send(&app, get("/api/v1/tenants/310000%2F310115")).await.json();
        assert_eq!(by_slug, by_path);
        assert_eq!(by_slug, encoded);
        assert_eq!(by_slug["tenant"]["name"], "浦东新区");
        assert_eq!(by_slug["ancestors"][0]["code"], "310000");
        let streets: Vec<&str> = by_slug["children"].as_array().map(|a| a.iter().filter_map(|s| s["code"].as_str()).collect()).unwrap_or_default();
        assert!(streets.contains(&"310115005"), "{streets:?}");

        let street = send(&app, get("/api/v1/tenants/shanghai/pudong/lujiazui")).await.json();
        assert_eq!(street["tenant"]["path"], "310000/310115/310115005");
        assert_eq!(street["ancestors"].as_array().map(Vec::len), Some(2));

        let county = send(&app, get("/api/v1/tenants/sichuan/dazhou/dazhu")).await.json();
        assert_eq!(county["ancestors"].as_array().map(Vec::len), Some(2), "province and city above a county");
    }

    async fn an_unknown_tenant_is_a_404_with_the_envelope(t) {
        let app = demo_app(&t).await;
        send(&app, get("/api/v1/tenants/shanghai/atlantis")).await.assert_error(StatusCode::NOT_FOUND, "tenant_not_found");
        send(&app, get("/api/v1/tenants/310000/310999")).await.assert_error(StatusCode::NOT_FOUND, "tenant_not_found");
    }

    async fn references_resolve_in_order_with_null_for_unknown(t) {
        let app = demo_app(&t).await;
        let body = json!({"references": ["shanghai/xuhui", "310000/310101/310101002", "shanghai/nowhere"]});
        let reply = send(&app, post_json("/api/v1/tenants/resolve", body.to_string())).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let results = reply.json()["results"].clone();
        assert_eq!(results[0]["tenant"]["path"], "310000/310104");
        assert_eq!(results[1]["tenant"]["name"], "南京东路街道");
        assert_eq!(results[2]["reference"], "shanghai/nowhere");
        assert!(results[2]["tenant"].is_null());
    }

    async fn readiness_reports_the_backend(t) {
        let app = demo_app(&t).await;
        let reply = send(&app, get("/readyz")).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json()["database"], t.db.backend().as_str());
    }
}

async fn sqlite_app() -> (TestDb, Router) {
    let t = TestDb::sqlite().await;
    let app = demo_app(&t).await;
    (t, app)
}

#[tokio::test]
async fn health_is_up_without_touching_the_database() {
    let (t, app) = sqlite_app().await;
    t.db.close().await;
    let reply = send(&app, get("/healthz")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn readiness_fails_with_503_when_the_database_is_gone() {
    let (t, app) = sqlite_app().await;
    t.db.close().await;
    send(&app, get("/readyz"))
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable");
}

#[tokio::test]
async fn readiness_fails_with_503_before_migrations() {
    let dir = tempfile_dir("unmigrated");
    let url = format!("sqlite:{}", dir.join("civitas.db").display());
    let db = civitas_storage::Database::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(db, &ApiSettings::default());
    send(&app, get("/readyz"))
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "migrations_pending");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_envelope() {
    let (_t, app) = sqlite_app().await;
    send(&app, get("/api/v1/nothing-here"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "route_not_found");
    send(&app, get("/"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "route_not_found");
    let delete = Request::delete("/api/v1/tenants")
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"));
    send(&app, delete)
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    // Tenant routes are ordinary routes: a wrong method is a 405 that says
    // which methods the route takes, whatever spelling the tenant has.
    for path in [
        "/api/v1/tenants/shanghai/pudong/cases",
        "/api/v1/tenants/310000%2F310115/cases",
    ] {
        let delete = Request::delete(path)
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        let response = app
            .clone()
            .oneshot(delete)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let allow = response
            .headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            allow.contains("GET") && allow.contains("POST"),
            "{path}: Allow: {allow}"
        );
    }
    // A sub-resource nobody serves, below a case or a tenant.
    send(&app, get("/api/v1/tenants/shanghai/pudong/cases/x/nothing"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "route_not_found");
    send(&app, get("/api/v1/tenants/shanghai/pudong/nothing"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "tenant_not_found");
    send(&app, get("/api/v1/tenants/shanghai%2Fnowhere"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "tenant_not_found");
}

/// The document describes each parameter where it is: every `in: path`
/// parameter is a template variable of its path and every template
/// variable is a path parameter (a query parameter declared `in: path`
/// makes generated clients build wrong URLs).
#[test]
fn parameters_are_declared_where_they_are() {
    let doc = serde_json::to_value(civitas_api::openapi()).unwrap_or_else(|e| panic!("{e}"));
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (path, item) in &paths {
        let mut template: Vec<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        template.sort();
        for (method, operation) in item.as_object().into_iter().flatten() {
            let mut declared: Vec<String> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
                .collect();
            declared.sort();
            assert_eq!(declared, template, "{method} {path}");
        }
    }
}

/// Reserved words of the faces' routes only: the portal's message centre
/// (`/t/{tenant}/messages`) and the workbench's delivery records
/// (`/workbench/t/{tenant}/deliveries`).
const PAGE_WORDS: [&str; 2] = ["messages", "deliveries"];

/// The router tells where a tenant path ends by the first segment that is
/// not a child, so every word after `/api/v1/tenants/{path}/` (and beside
/// `{path}`, like `resolve`) is one no slug may be; and every reserved word
/// names a route, so the list does not outlive them.
#[test]
fn every_word_after_a_tenant_is_a_reserved_slug() {
    let doc = serde_json::to_value(civitas_api::openapi()).unwrap_or_else(|e| panic!("{e}"));
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let reserved = civitas_tenancy::RESERVED_SLUGS;
    let mut used = std::collections::BTreeSet::new();
    for path in paths.keys() {
        let Some(rest) = path.strip_prefix("/api/v1/tenants/") else {
            continue;
        };
        let word = match rest.strip_prefix("{path}") {
            Some("") => continue, // the tenant itself
            Some(below) => below.trim_start_matches('/').split('/').next(),
            None => rest.split('/').next(),
        }
        .unwrap_or_default();
        assert!(
            reserved.contains(&word),
            "{path}: `{word}` is not in civitas_tenancy::RESERVED_SLUGS, so a tenant could take it as a slug"
        );
        used.insert(word);
    }
    // Words only the faces use after a tenant path (pages/mod.rs).
    let pages = include_str!("../src/pages/mod.rs");
    for word in PAGE_WORDS {
        assert!(reserved.contains(&word), "{word} is not reserved");
        assert!(
            pages.contains(&format!("/{{tenant}}/{word}\"")),
            "no page route ends in /{{tenant}}/{word}"
        );
        used.insert(word);
    }
    let unused: Vec<&&str> = reserved.iter().filter(|w| !used.contains(**w)).collect();
    assert!(
        unused.is_empty(),
        "reserved words no route uses: {unused:?}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let (_t, app) = sqlite_app().await;
    let reply = send(
        &app,
        post_json("/api/v1/tenants/resolve", "{\"references\": ["),
    )
    .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "malformed_json");
}

#[tokio::test]
async fn unknown_missing_or_mistyped_fields_are_a_422() {
    let (_t, app) = sqlite_app().await;
    for body in [
        json!({"references": [], "colour": "red"}),
        json!({}),
        json!({"references": "shanghai"}),
    ] {
        let reply = send(&app, post_json("/api/v1/tenants/resolve", body.to_string())).await;
        reply.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let (_t, app) = sqlite_app().await;
    let request = Request::post("/api/v1/tenants/resolve")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("shanghai"))
        .unwrap_or_else(|e| panic!("{e}"));
    send(&app, request)
        .await
        .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
}

#[tokio::test]
async fn too_many_references_are_refused_by_name() {
    let (_t, app) = sqlite_app().await;
    let references: Vec<String> = (0..101).map(|i| format!("shanghai/{i}")).collect();
    let body = json!({"references": references}).to_string();
    send(&app, post_json("/api/v1/tenants/resolve", body))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "too_many_references");
}

#[tokio::test]
async fn oversized_bodies_are_a_413_at_the_configured_limit() {
    let t = TestDb::sqlite().await;
    t.db.sync_tenants(&demo_tree())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let app = app(
        t.db.clone(),
        &ApiSettings {
            body_limit: 64,
            ..ApiSettings::default()
        },
    );
    let small = json!({"references": ["shanghai"]}).to_string();
    assert!(small.len() < 64);
    assert_eq!(
        send(&app, post_json("/api/v1/tenants/resolve", small))
            .await
            .status,
        StatusCode::OK
    );
    let big = json!({"references": vec!["shanghai/pudong/lujiazui"; 4]}).to_string();
    assert!(big.len() > 64);
    send(&app, post_json("/api/v1/tenants/resolve", big))
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn the_default_body_limit_is_one_mebibyte() {
    let (_t, app) = sqlite_app().await;
    let padding = "x".repeat(1024 * 1024);
    let body = format!("{{\"references\": [\"{padding}\"]}}");
    send(&app, post_json("/api/v1/tenants/resolve", body))
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn request_ids_are_generated_or_echoed_when_sane() {
    let (_t, app) = sqlite_app().await;
    let generated = send(&app, get("/healthz"))
        .await
        .request_id
        .unwrap_or_default();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let echoed = Request::get("/healthz")
        .header("x-request-id", "gateway-42")
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        send(&app, echoed).await.request_id.as_deref(),
        Some("gateway-42")
    );
    let hostile = Request::get("/healthz")
        .header("x-request-id", "a b\tc")
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"));
    let replaced = send(&app, hostile).await.request_id.unwrap_or_default();
    assert_ne!(replaced, "a b\tc");
    assert_eq!(replaced.len(), 36);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let (_t, app) = sqlite_app().await;
    send(&app, get("/api/v1/tenants/shanghai/pudong")).await;
    send(&app, get("/api/v1/tenants/shanghai/xuhui")).await;
    send(&app, get("/no/such/route")).await;
    let reply = send(&app, get("/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .content_type
            .as_deref()
            .unwrap_or_default()
            .contains("text"),
        "a text exposition format"
    );
    let text = reply.text();
    assert!(
        text.contains(r#"civitas_http_requests_total{method="GET",route="/api/v1/tenants/{path}",status="200"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(
        text.contains("civitas_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        !text.contains("shanghai/pudong"),
        "raw paths never become labels"
    );
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_lists_every_route() {
    let (_t, app) = sqlite_app().await;
    let reply = send(&app, get("/api/openapi.json")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    // Every documented operation is served: a request to it never meets
    // the unknown-route or wrong-method answer. (The reverse — no route
    // outside the document — is `no_route_is_added_outside_the_document`.)
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let mut operations = 0;
    for (path, item) in &paths {
        for method in item
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            operations += 1;
            let uri = path
                .replace("{path}", "shanghai/pudong")
                .replace("{id}", "x")
                .replace("{line}", "civil-affairs")
                .replace("{name}", "meal-subsidy")
                .replace("{version}", "1.0.0");
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(if method == "get" { "" } else { "{}" }))
                .unwrap_or_else(|e| panic!("{e}"));
            let reply = send(&app, request).await;
            let body = reply.text();
            assert!(
                !body.contains("\"route_not_found\"")
                    && reply.status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {uri} is documented but not served: {} {body}",
                reply.status
            );
        }
    }
    assert!(operations > 50, "only {operations} operations documented");
    for expected in [
        "/api/v1/tenants/{path}/cases",
        "/api/v1/tenants/{path}/cases/{id}/actions",
        "/api/v1/inbox",
        "/api/v1/flows",
        "/api/v1/tenants/{path}/notifications",
    ] {
        assert!(paths.contains_key(expected), "{expected} is not documented");
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

/// API routes exist only through `utoipa-axum` (`routes!`), which
/// registers a handler together with its OpenAPI entry, so the router
/// cannot serve an operation the document lacks. This holds that line: no
/// plain axum `.route(`, `.nest(` or `.merge(` in the API's sources — but
/// in `src/pages/`, the HTML pages of the faces, which are not API
/// operations and are routed there and nowhere else.
#[test]
fn no_route_is_added_outside_the_document() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let pages = src.join("pages");
    let mut stack = vec![src];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            if path == pages {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
            for needle in [".route(", ".route_service(", ".nest(", ".merge("] {
                assert!(
                    !text.contains(needle),
                    "{}: `{needle}` adds a route without its OpenAPI entry; use `routes!`",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 5);
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("civitas-api-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

/// Every time the API shows is RFC 3339 text: no schema property named
/// `at` or `…_at` is a number.
#[test]
fn times_are_rfc3339_text_everywhere() {
    fn walk(schema: &Value, owner: &str, bad: &mut Vec<String>) {
        if let Some(properties) = schema["properties"].as_object() {
            for (name, property) in properties {
                let is_number = |t: &Value| t == "integer" || t == "number";
                let numeric = is_number(&property["type"])
                    || property["type"]
                        .as_array()
                        .is_some_and(|types| types.iter().any(is_number));
                if (name == "at" || name.ends_with("_at")) && numeric {
                    bad.push(format!("{owner}.{name}"));
                }
                walk(property, owner, bad);
            }
        }
        for key in ["items", "allOf", "oneOf", "anyOf"] {
            match &schema[key] {
                Value::Array(parts) => parts.iter().for_each(|p| walk(p, owner, bad)),
                part @ Value::Object(_) => walk(part, owner, bad),
                _ => {}
            }
        }
    }
    let doc = serde_json::to_value(civitas_api::openapi()).unwrap_or_else(|e| panic!("{e}"));
    let mut bad = Vec::new();
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        walk(schema, name, &mut bad);
    }
    assert!(bad.is_empty(), "numeric times: {bad:?}");
}
