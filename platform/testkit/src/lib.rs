//! Test support for Civitas crates.
//!
//! - [`TestDb::sqlite`]: a fresh SQLite file in a temporary directory.
//! - [`TestDb::postgres`]: a fresh schema in the PostgreSQL database named by
//!   `CIVITAS_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`),
//!   so tests run in parallel without seeing each other; schemas older than
//!   an hour are swept by later runs.
//!   When PostgreSQL cannot be reached it returns `None` and the test is
//!   skipped with a message, except under `CI=true`, where it panics: CI must
//!   never pass without exercising PostgreSQL.
//! - [`both_backends!`] writes a test once and runs it on both.

pub mod browser;
mod gate;
pub mod meili;
pub mod sms_gateway;
pub mod smtp_sink;

pub use meili::{MeiliServer, meili};
pub use sms_gateway::SmsGateway;
pub use smtp_sink::SmtpSink;

use std::path::{Path, PathBuf};
use std::process::Command;

use civitas_storage::Database;
use civitas_tenancy::TenantTree;
use sqlx::Connection as _;

/// The PostgreSQL database tests use unless `CIVITAS_TEST_PG` says otherwise.
pub const DEFAULT_TEST_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

const SCHEMA_PREFIX: &str = "civitas_test_";

/// Schemas of tests that started more than this long ago are dropped.
const STALE_AFTER_SECS: u64 = 3600;

/// Drops the schemas of tests that started long ago.
///
/// Tests do not drop their own schema: their pool still holds connections,
/// possibly idle in a transaction the test dropped, and closing them from
/// `Drop` would block the test's own runtime. Sweeping old schemas from the
/// next test run is simple and never blocks.
async fn sweep_stale_schemas(admin: &mut sqlx::PgConnection, now: u64) {
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'civitas\\_test\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    let _ = sqlx::query("SET lock_timeout = '2s'")
        .execute(&mut *admin)
        .await;
    for schema in schemas {
        let started = schema
            .strip_prefix(SCHEMA_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if started.is_some_and(|t| t + STALE_AFTER_SECS < now) {
            let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
            // Another test may be dropping it too; either way it goes.
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *admin)
                .await;
        }
    }
}

/// A migrated database that exists for one test.
pub struct TestDb {
    /// The database, migrated.
    pub db: Database,
    /// The URL that reaches this database (and schema), for a second pool or
    /// a server process.
    pub url: String,
    // The SQLite file's directory, removed when the test ends.
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A migrated SQLite database in a fresh temporary file.
    pub async fn sqlite() -> TestDb {
        TestDb::sqlite_up_to(None).await
    }

    /// A SQLite database migrated up to `version` only: to test what a
    /// later migration does to data already there.
    pub async fn sqlite_at(version: i64) -> TestDb {
        TestDb::sqlite_up_to(Some(version)).await
    }

    async fn sqlite_up_to(version: Option<i64>) -> TestDb {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
        let url = format!("sqlite:{}", dir.path().join("civitas.db").display());
        let db = connect_and_migrate(&url, version).await;
        TestDb {
            db,
            url,
            _dir: Some(dir),
        }
    }

    /// A migrated PostgreSQL schema of its own, or `None` (after saying so)
    /// when PostgreSQL is unreachable outside CI.
    pub async fn postgres() -> Option<TestDb> {
        TestDb::postgres_up_to(None).await
    }

    /// A PostgreSQL schema migrated up to `version` only, or `None` as
    /// [`TestDb::postgres`].
    pub async fn postgres_at(version: i64) -> Option<TestDb> {
        TestDb::postgres_up_to(Some(version)).await
    }

    async fn postgres_up_to(version: Option<i64>) -> Option<TestDb> {
        let admin_url = postgres_url()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let schema = format!("{SCHEMA_PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {admin_url}: {e}"));
        sweep_stale_schemas(&mut admin, now).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("create schema {schema}: {e}"));
        let _ = admin.close().await;
        let url = schema_url(&admin_url, &schema);
        let db = connect_and_migrate(&url, version).await;
        Some(TestDb {
            db,
            url,
            _dir: None,
        })
    }
}

/// The admin URL of the test PostgreSQL, if it answers.
///
/// Panics under `CI=true` when it does not.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("CIVITAS_TEST_PG").unwrap_or_else(|_| DEFAULT_TEST_PG.to_owned());
    let reachable = std::thread::scope(|s| {
        s.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let conn = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    sqlx::PgConnection::connect(&url),
                );
                conn.await.ok()?.ok()?.close().await.ok()
            })
        })
        .join()
        .ok()
        .flatten()
        .is_some()
    });
    if reachable {
        return Some(url);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "PostgreSQL is not reachable at {url} and CI=true: refusing to skip the PostgreSQL tests"
        );
    }
    eprintln!(
        "SKIPPED: PostgreSQL is not reachable at {url} (set CIVITAS_TEST_PG); running SQLite only"
    );
    None
}

/// Whether the fonts official documents are set in are installed
/// (Debian's fonts-noto-cjk, which `infra/dev/setup` installs).
///
/// Panics under `CI=true` when they are not: document tests never skip
/// there.
pub fn document_fonts_available() -> bool {
    let dir = Path::new("/usr/share/fonts/opentype/noto");
    let found = ["NotoSerifCJK-Regular.ttc", "NotoSerifCJK-Bold.ttc"]
        .iter()
        .all(|f| dir.join(f).is_file());
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "the document fonts are not installed and CI=true (infra/dev/setup installs fonts-noto-cjk)"
            );
        }
        eprintln!("SKIPPED: document fonts not installed (apt-get install fonts-noto-cjk)");
    }
    found
}

/// `url` with `search_path` set to `schema` for every connection.
pub fn schema_url(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

async fn connect_and_migrate(url: &str, version: Option<i64>) -> Database {
    let settings = civitas_storage::PoolSettings {
        max_connections: 4,
        ..Default::default()
    };
    let db = Database::connect_with(url, &settings)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    match version {
        Some(version) => db.migrate_to(version).await,
        None => db.migrate().await,
    }
    .unwrap_or_else(|e| panic!("migrate {url}: {e}"));
    db
}

/// A command for the program `binary` run in `dir`, with none of this
/// process's `CIVITAS_*`, `DATABASE_URL` or `OTEL_*` variables: a test of a
/// binary sees only the settings it gives.
pub fn clean_command(binary: &str, dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("CIVITAS_") || key == "DATABASE_URL" || key.starts_with("OTEL_") {
            command.env_remove(key);
        }
    }
    command
}

/// The repository's `tenants/` directory.
pub fn tenants_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tenants")
}

/// The module services of the repository's catalog: `line/name` of every
/// `tenants/_services/<line>/<name>/service.toml` (what a flow's hooks may
/// call), each with the top-level fields of its `output.schema.json`,
/// without loading the catalog.
pub fn module_services() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut services = std::collections::BTreeMap::new();
    let root = tenants_dir().join("_services");
    let lines = std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    for line in lines.flatten() {
        let Ok(names) = std::fs::read_dir(line.path()) else {
            continue;
        };
        for name in names.flatten() {
            if name.path().join("service.toml").is_file() {
                let schema = name.path().join("output.schema.json");
                let schema: serde_json::Value = serde_json::from_str(
                    &std::fs::read_to_string(&schema)
                        .unwrap_or_else(|e| panic!("{}: {e}", schema.display())),
                )
                .unwrap_or_else(|e| panic!("{}: {e}", schema.display()));
                let fields = schema["properties"]
                    .as_object()
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default();
                services.insert(
                    format!(
                        "{}/{}",
                        line.file_name().to_string_lossy(),
                        name.file_name().to_string_lossy()
                    ),
                    fields,
                );
            }
        }
    }
    services
}

/// A temporary work directory holding a copy of the repository's
/// `tenants/`, for a binary run in it (which may change its copy).
pub fn tenants_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
    copy_dir(&tenants_dir(), &dir.path().join("tenants"));
    dir
}

/// Copies the directory `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("read {}: {e}", from.display()))
        .flatten()
    {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy to {}: {e}", target.display()));
        }
    }
}

/// The repository's root directory.
pub fn repository_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the module crate at `crate_dir` (relative to the repository, e.g.
/// `modules/civil-affairs/meal-subsidy` or `conformance/hostile/trap`) into a
/// component, once per test process, and returns the component's bytes.
/// Guest builds share `target/guest`; cargo's lock serialises concurrent
/// builds from several test processes.
pub fn module_component(crate_dir: &str) -> Vec<u8> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let path = match built.get(crate_dir) {
        Some(path) => path.clone(),
        None => {
            let root = repository_dir();
            let options = civitas_devkit::BuildOptions {
                target_dir: Some(root.join("target/guest")),
                quiet: true,
                ..Default::default()
            };
            let module = civitas_devkit::build(&root.join(crate_dir), &options)
                .unwrap_or_else(|e| panic!("building {crate_dir}: {e}"));
            built.insert(crate_dir.to_owned(), module.path.clone());
            module.path
        }
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The component crates under `modules/<line>/<name>/`, relative to the
/// repository, in order — the crates `infra/dev/build-modules` builds
/// (the libraries they share are not components, so they are skipped).
pub fn module_crates() -> Vec<String> {
    let root = repository_dir();
    let mut crates = Vec::new();
    let lines = std::fs::read_dir(root.join("modules")).unwrap_or_else(|e| panic!("modules/: {e}"));
    for line in lines.flatten() {
        let line = line.path();
        if !line.is_dir() || line.ends_with("target") {
            continue;
        }
        let Ok(modules) = std::fs::read_dir(&line) else {
            continue;
        };
        for module in modules.flatten() {
            let dir = module.path();
            let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
                continue;
            };
            if manifest.contains(r#"crate-type = ["cdylib"]"#)
                && let Ok(relative) = dir.strip_prefix(&root)
            {
                crates.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    crates.sort();
    crates
}

/// Builds every module of `modules/` (once per test process), as
/// `infra/dev/build-modules` does for `serve --demo`, and returns the
/// directory holding their components as `<name>-<version>.wasm`, where
/// `serve --demo` looks for the ones it publishes
/// (`CIVITAS_DEMO_MODULES_DIR`).
pub fn demo_modules_dir() -> PathBuf {
    for module in module_crates() {
        module_component(&module);
    }
    repository_dir().join("target/guest/civitas")
}

/// The repository's tenant tree (Shanghai and Sichuan), validated.
pub fn demo_tree() -> TenantTree {
    TenantTree::load(&tenants_dir()).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes one async test body and runs it against SQLite and PostgreSQL, as
/// `NAME::sqlite` and `NAME::postgres`.
///
/// ```ignore
/// civitas_testkit::both_backends! {
///     async fn loads_the_tree(t) {
///         t.db.sync_tenants(&civitas_testkit::demo_tree()).await.unwrap();
///     }
/// }
/// ```
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($t:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test]
                async fn sqlite() {
                    let $t = $crate::TestDb::sqlite().await;
                    $body
                }

                #[tokio::test]
                async fn postgres() {
                    let Some($t) = $crate::TestDb::postgres().await else {
                        return;
                    };
                    $body
                }
            }
        )*
    };
}
