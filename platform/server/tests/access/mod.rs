//! A platform as `civitas serve --demo` builds it, in process, for tests of
//! who may do what over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civitas_api::{ApiSettings, AuthSettings};
use civitas_identity::{AccountKind, NewAccount, SessionSettings, SignInSettings};
use civitas_tenancy::TenantPath;
use civitas_testkit::{TestDb, demo_tree};
use civitas_vault::{Keyring, LocalMasterKeys};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The demo password.
pub const PASSWORD: &str = "Civitas#2026";

const MASTER: &str = "000102030405060708090a0b0c0d0e0f";

/// An HTTP answer.
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

/// The demo platform behind its router.
pub struct World {
    pub app: Router,
    pub db: civitas_storage::Database,
    /// Access tokens of the demo accounts, by username.
    pub tokens: HashMap<String, String>,
    pub sign_in: SignInSettings,
    /// The module runtime behind the API.
    pub modules: Arc<civitas_registry::Runtime>,
    /// The per-address limits and refused-key tally behind the API
    /// (`serve` flushes it periodically; tests call `flush`).
    pub throttle: Arc<civitas_api::Throttle>,
    /// Search as `serve` wires it: tantivy in a directory of the test's own,
    /// fed from the outbox by [`World::indexed`] (serve runs it every 200 ms).
    pub search: civitas_search_indexer::Indexer,
    _search_dir: Arc<tempfile::TempDir>,
    /// The platform's SM2 key, which signs access tokens.
    pub platform_key: Arc<civitas_crypto::sm2::PrivateKey>,
    /// The session timeouts behind the API.
    pub sessions: SessionSettings,
    /// The workflow's clock: it starts at the system's now and moves only
    /// when a test says time passes ([`World::time_passes`]).
    pub clock: civitas_workflow::Clock,
    /// The vault behind the API.
    pub keyring: Arc<Keyring>,
    /// The tree as the node serves it.
    pub shared_tree: civitas_tenancy::SharedTree,
}

/// The module runtime as `serve` builds it, with a small instance pool and
/// a compiled-code cache shared by every test (keyed by artifact digest and
/// engine, so sharing is safe).
pub fn module_runtime() -> civitas_registry::Runtime {
    let catalog = civitas_services::Catalog::load(&civitas_testkit::tenants_dir()).unwrap();
    let host = civitas_host::ModuleHost::new(civitas_host::HostConfig {
        pool_size: 32,
        cache_dir: Some(civitas_testkit::repository_dir().join("target/test-module-cache")),
        ..civitas_host::HostConfig::default()
    })
    .unwrap();
    civitas_registry::Runtime::new(host, catalog)
}

/// The directory holding the demo's components, built if needed
/// (`<name>-<version>.wasm`, as `serve --demo` expects).
pub fn demo_modules_dir() -> std::path::PathBuf {
    civitas_testkit::demo_modules_dir()
}

/// A workflow clock standing at the system's now.
fn now() -> civitas_workflow::Clock {
    civitas_workflow::Clock::fixed(chrono::Utc::now().timestamp_micros())
}

/// The platform key of the test database `t`: made once and kept in its
/// platform metadata (test only; `serve` keeps it in a key file).
async fn platform_key_of(t: &TestDb) -> civitas_crypto::sm2::PrivateKey {
    const KEY: &str = "test.platform_key";
    let fresh = civitas_crypto::sm2::PrivateKey::generate().unwrap();
    t.db.record_platform_meta_once(KEY, &fresh.to_hex())
        .await
        .unwrap();
    let stored = t.db.platform_meta(KEY).await.unwrap().unwrap();
    civitas_crypto::sm2::PrivateKey::from_hex(&stored).unwrap()
}

impl World {
    /// Seeds the demo city (accounts, grants, keys) on `t` and signs every
    /// demo account in.
    pub async fn demo(t: &TestDb) -> World {
        World::demo_with(
            t,
            SignInSettings::new(TenantPath::parse("310000").unwrap()),
            SessionSettings::default(),
        )
        .await
    }

    pub async fn demo_with(
        t: &TestDb,
        sign_in: SignInSettings,
        sessions: SessionSettings,
    ) -> World {
        World::build(t, sign_in, sessions, true, None, now()).await
    }

    /// A new server process over the same database (nothing seeded again):
    /// what a restart is. Time goes on from `clock`, the clock of the
    /// server it replaces.
    pub async fn restarted(t: &TestDb, clock: &civitas_workflow::Clock) -> World {
        World::build(
            t,
            SignInSettings::new(TenantPath::parse("310000").unwrap()),
            SessionSettings::default(),
            false,
            None,
            clock.clone(),
        )
        .await
    }

    /// `days` days pass on the workflow's clock, then the timer queue fires
    /// as `serve` does, batch after batch until nothing is due: what fired.
    pub async fn time_passes(&self, days: i64) -> Vec<civitas_workflow::timers::Fired> {
        self.clock.advance_days(days);
        let mut fired = Vec::new();
        loop {
            let batch =
                civitas_workflow::timers::fire_due(&self.db, self.clock.now_micros(), 100, "test")
                    .await
                    .unwrap();
            if batch.is_empty() {
                return fired;
            }
            fired.extend(batch);
        }
    }

    /// The demo with search on the given backend (`None`: tantivy in a
    /// directory of the test's own).
    pub async fn demo_searching(t: &TestDb, search: civitas::search::SearchConfig) -> World {
        World::build(
            t,
            SignInSettings::new(TenantPath::parse("310000").unwrap()),
            SessionSettings::default(),
            true,
            Some(search),
            now(),
        )
        .await
    }

    async fn build(
        t: &TestDb,
        sign_in: SignInSettings,
        sessions: SessionSettings,
        seed: bool,
        search: Option<civitas::search::SearchConfig>,
        clock: civitas_workflow::Clock,
    ) -> World {
        let tree = demo_tree();
        t.db.sync_tenants(&tree).await.unwrap();
        let keyring = Arc::new(Keyring::new(Arc::new(
            LocalMasterKeys::parse(MASTER).unwrap(),
        )));
        let paths: Vec<TenantPath> = tree.iter().map(|t| t.path.clone()).collect();
        civitas_vault::provision(&t.db, &keyring, &paths)
            .await
            .unwrap();
        let modules = Arc::new(module_runtime());
        // One platform key per database: a restarted world signs with the
        // key its seals and tokens were made with.
        let platform_key = Arc::new(platform_key_of(t).await);
        if seed {
            World::seed(t, &tree, &modules, &sign_in).await;
            civitas::serve::seed_demo_seals(&t.db, &keyring, &tree, &platform_key)
                .await
                .unwrap();
        }
        let permissions = civitas_authz::Permissions::parse(civitas_authz::BASE_POLICY).unwrap();
        let grants = civitas_authz::load_grants(&t.db).await.unwrap();
        let authorizer = Arc::new(RwLock::new(civitas_authz::Authorizer::new(
            permissions,
            grants,
        )));
        let shared_tree = civitas_tenancy::SharedTree::new(tree.clone());
        let workflow = Arc::new(
            civitas::serve::start_workflow(&civitas_testkit::tenants_dir(), &shared_tree, &modules)
                .unwrap()
                .with_clock(clock.clone()),
        );
        let throttle = Arc::new(civitas_api::Throttle::default());
        let search_dir = Arc::new(tempfile::tempdir().unwrap());
        let roots: Vec<TenantPath> = tree.roots().map(|t| t.path.clone()).collect();
        let search = civitas::search::start_indexer(
            &search.unwrap_or_else(|| civitas::search::SearchConfig::Tantivy {
                dir: search_dir.path().join("search"),
            }),
            &t.db,
            &modules,
            &workflow,
            &roots,
            civitas_search_indexer::TAKEOVER_AFTER,
            civitas_search_indexer::RebuildAt::Claim,
        )
        .await
        .unwrap();
        let templates = Arc::new(
            civitas::serve::load_templates(&civitas_testkit::tenants_dir(), &workflow, &modules)
                .unwrap(),
        );
        let app = civitas_api::app(
            t.db.clone(),
            &ApiSettings {
                throttle: throttle.clone(),
                auth: Some(AuthSettings {
                    platform_key: platform_key.clone(),
                    sign_in: sign_in.clone(),
                    sessions: sessions.clone(),
                    authorizer,
                }),
                keyring: Some(keyring.clone()),
                modules: Some(civitas_api::ModuleSettings {
                    runtime: modules.clone(),
                    tree: shared_tree.clone(),
                }),
                workflow: Some(workflow),
                tenants: civitas_api::SharedDirectory::new(
                    civitas_api::TenantDirectory::load(&t.db).await.unwrap(),
                ),
                search: Some(search.clone()),
                documents: Some(
                    civitas_documents::DocumentStore::local(&search_dir.path().join("documents"))
                        .unwrap(),
                ),
                sealing: Some(civitas_api::SealingSettings {
                    templates,
                    fonts_dir: civitas_seal::Fonts::DEFAULT_DIR.into(),
                    fonts: std::sync::OnceLock::new(),
                    verify_url: "https://civitas.example/verify".into(),
                }),
                // As a node whose notifier has an SMS gateway and a mail
                // relay (tests run the rounds: World::notifier).
                notify: Some(civitas_notify::store::Offered {
                    sms: true,
                    email: true,
                }),
                ..ApiSettings::default()
            },
        );
        let mut world = World {
            app,
            db: t.db.clone(),
            tokens: HashMap::new(),
            sign_in,
            modules,
            throttle,
            search,
            _search_dir: search_dir,
            platform_key,
            sessions,
            clock,
            keyring,
            shared_tree,
        };
        for name in [
            "city-admin",
            "pudong-reviewer",
            "lujiazui-officer",
            "community-officer",
            "huangpu-reviewer",
            "sys-admin",
            "sec-admin",
            "audit-admin",
            "sc-sys-admin",
            "sc-sec-admin",
            "module-dev",
            "citizen-demo",
            "enterprise-demo",
            "city-hr-dispatcher",
            "pudong-hr-inspector",
            "lujiazui-hr-officer",
            "huangpu-hr-inspector",
            "pudong-hr-officer",
            "pudong-hr-head",
            "pudong-market-officer",
            "pudong-market-reviewer",
            "huangpu-market-officer",
            "huangpu-market-reviewer",
            "pudong-housing-officer",
            "pudong-housing-reviewer",
            "xuhui-housing-officer",
            "xuhui-housing-reviewer",
            "wumu-window",
            "dazhu-hr-reviewer",
            "dazhu-civil-reviewer",
            "dazhou-hr-reviewer",
            "dazhu-citizen",
        ] {
            // A session opened as signing in opens it, without checking
            // the password again (100,000 SM3 compressions each, thirty
            // accounts a world): signing in has its own tests.
            let account = civitas_identity::find_account(&t.db, name)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("no demo account {name}"));
            let tokens = civitas_identity::open_session(
                &t.db,
                &world.platform_key,
                &account,
                &world.sessions,
                chrono::Utc::now(),
            )
            .await
            .unwrap();
            world.tokens.insert(name.to_owned(), tokens.access_token);
        }
        world
    }

    async fn seed(
        t: &TestDb,
        tree: &civitas_tenancy::TenantTree,
        modules: &Arc<civitas_registry::Runtime>,
        sign_in: &SignInSettings,
    ) {
        civitas::serve::seed_demo(&t.db, tree, sign_in)
            .await
            .unwrap();
        civitas::demo_modules::seed_demo_modules(&t.db, tree, modules, &demo_modules_dir())
            .await
            .unwrap();
        // Whom the grant cells grant to: an account no other cell relies on.
        civitas_identity::create_account(
            &t.db,
            sign_in,
            &NewAccount {
                username: "matrix-target".into(),
                kind: AccountKind::Staff,
                tenant_path: TenantPath::parse("310000/310115").unwrap(),
                line: Some("civil-affairs".into()),
                display_name: "授权目标".into(),
                password: PASSWORD.into(),
                must_change_password: false,
            },
            "test",
        )
        .await
        .unwrap();
    }

    /// A notifier on this world's database, sending through `sms` and
    /// `mail` (the testkit's gateway and SMTP server): tests run its rounds
    /// where `serve` runs them every second.
    pub fn notifier(
        &self,
        sms: &civitas_testkit::SmsGateway,
        mail: &civitas_testkit::SmtpSink,
    ) -> civitas_notify::Notifier {
        let gateway = civitas_notify::sms::SmsGateway::new(civitas_notify::sms::SmsSettings {
            endpoint: sms.url.clone(),
            access_key_id: civitas_testkit::sms_gateway::ACCESS_KEY_ID.into(),
            access_key_secret: civitas_testkit::sms_gateway::ACCESS_KEY_SECRET.into(),
            sign_name: "上海市民政局".into(),
            region: "cn-hangzhou".into(),
            timeout: std::time::Duration::from_secs(15),
        })
        .unwrap();
        let mailer = civitas_notify::mail::Mailer::new(&civitas_notify::mail::MailSettings {
            relay: mail.url.clone(),
            from: "上海市一网通办 <noreply@example.gov.cn>".into(),
            timeout: std::time::Duration::from_secs(15),
        })
        .unwrap();
        civitas_notify::Notifier::new(
            self.db.clone(),
            self.keyring.clone(),
            Arc::new(civitas_notify::Templates::load(&civitas_testkit::tenants_dir()).unwrap()),
            Arc::new(self.shared_tree.clone()),
            Some(gateway),
            Some(mailer),
        )
    }

    /// Serves this world on a loopback socket, as `serve` does (with the
    /// peer's address), for the binary's API clients: its base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = format!("http://{}", listener.local_addr().unwrap());
        let app = self
            .app
            .clone()
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        server
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await
    }

    /// Signs `username` in with a one-time password, changes it to
    /// `new_password` and keeps the token of the signed-in account.
    #[allow(dead_code)] // not every test binary brings staff on
    pub async fn sign_in_with_new_password(
        &mut self,
        username: &str,
        otp: &str,
        new_password: &str,
    ) {
        let first = self.login(username, otp).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        let token = first.body["access_token"].as_str().unwrap().to_owned();
        let changed = self
            .call(
                "POST",
                "/api/v1/auth/password",
                Some(&token),
                Some(json!({"current_password": otp, "new_password": new_password})),
            )
            .await;
        assert!(changed.status.is_success(), "{}", changed.body);
        let signed_in = self.login(username, new_password).await;
        assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
        let token = signed_in.body["access_token"].as_str().unwrap().to_owned();
        self.tokens.insert(username.to_owned(), token);
    }

    /// The token of a demo account.
    /// Applies every pending search change (what `serve`'s indexer does
    /// within 200 ms).
    pub async fn indexed(&self) {
        self.search.drain().await.unwrap();
    }

    pub fn token(&self, username: &str) -> &str {
        &self.tokens[username]
    }

    /// Sends a request with an optional bearer credential and JSON body.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.call_from(method, uri, bearer, body, None).await
    }

    /// Sends a file as the request body, as `curl --data-binary` does.
    pub async fn upload(
        &self,
        uri: &str,
        bearer: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Reply {
        let request = Request::builder()
            .method("POST")
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(bytes))
            .unwrap();
        self.send(request).await
    }

    /// A page, as a browser asks for it: GET with a `Cookie` header.
    pub async fn page(&self, uri: &str, cookie: Option<&str>) -> Reply {
        let mut request = Request::builder().method("GET").uri(uri);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// A form posted as a browser posts it (URL-encoded), with a `Cookie`
    /// header.
    pub async fn form(&self, uri: &str, cookie: &str, body: &str) -> Reply {
        let request = Request::builder()
            .method("POST")
            .uri(uri)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap();
        self.send(request).await
    }

    /// A multipart form (as a browser uploads a file): each part is a name,
    /// a file name for a file, and its bytes; with a bearer token or a
    /// `Cookie` header.
    pub async fn multipart(
        &self,
        uri: &str,
        bearer: Option<&str>,
        cookie: Option<&str>,
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Reply {
        const BOUNDARY: &str = "civitas-test-boundary-7d1f";
        let mut body = Vec::new();
        for (name, file_name, bytes) in parts {
            body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            match file_name {
                Some(file) => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        let mut request = Request::builder().method("POST").uri(uri).header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        );
        if let Some(bearer) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {bearer}"));
        }
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// A download: the status, the headers and the bytes as they are.
    pub async fn download(
        &self,
        uri: &str,
        bearer: Option<&str>,
        cookie: Option<&str>,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut request = Request::builder().method("GET").uri(uri);
        if let Some(bearer) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {bearer}"));
        }
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, bytes.to_vec())
    }

    /// Like [`World::call`], from a source address.
    pub async fn call_from(
        &self,
        method: &str,
        uri: &str,
        bearer: Option<&str>,
        body: Option<Value>,
        source: Option<std::net::SocketAddr>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(bearer) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {bearer}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let mut request = request.body(body).unwrap();
        if let Some(source) = source {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(source));
        }
        self.send(request).await
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = headers.get(header::CONTENT_TYPE).is_some_and(|v| {
            v.as_bytes().starts_with(b"text/html")
                || v.as_bytes().starts_with(b"application/openmetrics-text")
        });
        let binary = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/vnd.openxmlformats"));
        let body = if bytes.is_empty() {
            Value::Null
        } else if binary {
            // A file (an export): its size, the bytes being `download`'s.
            Value::from(bytes.len())
        } else if text {
            // A page (its markup) or metrics, as a string.
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Writes the refused API keys counted so far as one audit record, as
    /// `serve` does every minute; returns how many it covers.
    pub async fn flush_refused_keys(&self) -> u64 {
        self.throttle
            .flush(&self.db, &self.sign_in.realm)
            .await
            .unwrap()
    }

    /// How many audit records there are, in every chain.
    pub async fn audit_records(&self) -> i64 {
        let mut tx = self.db.begin_platform_read().await.unwrap();
        civitas_storage::with_connection!(tx.connection(), c => {
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
                .fetch_one(&mut *c)
                .await
                .unwrap()
        })
    }

    /// Disables an account, as an operator would in the database.
    pub async fn disable(&self, username: &str) {
        let mut tx = self.db.begin_platform().await.unwrap();
        civitas_storage::with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE accounts SET disabled = TRUE WHERE username = $1")
                .bind(username.to_owned())
                .execute(&mut *c)
                .await
                .unwrap();
        });
        tx.commit().await.unwrap();
    }

    /// Has the system administrator create service account `username` at
    /// `tenant`, unless it exists.
    pub async fn service_account(&self, tenant: &str, username: &str) {
        let reply = self
            .call(
                "POST",
                &format!("/api/v1/tenants/{tenant}/accounts"),
                Some(self.token("sys-admin")),
                Some(json!({"username": username, "kind": "service", "display_name": format!("服务 {username}")})),
            )
            .await;
        assert!(
            reply.status == StatusCode::CREATED || reply.code() == "username_taken",
            "{}",
            reply.body
        );
    }

    /// Issues an API key as the security administrator at the body's
    /// `tenant` and, when it reaches personal data (two-person rule), has
    /// the city administrator approve it; returns its secret.
    pub async fn issue_key(&self, mut request: Value) -> String {
        let tenant = request["tenant"].as_str().unwrap().to_owned();
        request.as_object_mut().unwrap().remove("tenant");
        self.service_account(&tenant, request["account"].as_str().unwrap())
            .await;
        let reply = self
            .call(
                "POST",
                &format!("/api/v1/tenants/{tenant}/api-keys"),
                Some(self.token("sec-admin")),
                Some(request),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        if reply.body["key"]["pending"] == true {
            let id = reply.body["key"]["id"].as_str().unwrap();
            let approved = self
                .call(
                    "POST",
                    &format!("/api/v1/tenants/{tenant}/api-keys/{id}/approve"),
                    Some(self.token("city-admin")),
                    None,
                )
                .await;
            assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
        }
        reply.body["secret"].as_str().unwrap().to_owned()
    }
}

/// A valid resident id number (GB 11643) for serial `n`: region 310115,
/// born 1980-01-01, check character computed.
pub fn id_number(n: u32) -> String {
    let body = format!("31011519800101{:03}", n % 1000);
    format!("{body}{}", check_character(&body))
}

/// The GB 11643 check character of the first 17 digits.
pub fn check_character(body: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize] as char
}
