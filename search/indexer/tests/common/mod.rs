//! Rows written as the platform writes them (the triggers fill the
//! outbox), and both search backends.

#![allow(dead_code)]

use civitas_search::{Engine, MeiliConfig, MeiliIndex, TantivyIndex};
use civitas_storage::{Database, with_connection};

/// tantivy in a temporary directory and, when its server runs (always in
/// CI), Meilisearch with an index of its own.
pub async fn engines(dir: &std::path::Path) -> Vec<Engine> {
    let mut engines = vec![Engine::Tantivy(
        TantivyIndex::open(&dir.join("index")).unwrap_or_else(|e| panic!("index: {e}")),
    )];
    if let Some(server) = civitas_testkit::meili() {
        let index = meili_index(server, &server.unique_index()).await;
        engines.push(Engine::Meili(Box::new(index)));
    }
    engines
}

/// The index `uid` on the test's Meilisearch `server`, opened as a node
/// opens it.
pub async fn meili_index(server: &civitas_testkit::MeiliServer, uid: &str) -> MeiliIndex {
    MeiliIndex::open(&MeiliConfig {
        url: server.url.clone(),
        key: Some(server.key.clone()),
        index: uid.to_owned(),
        public_url: None,
    })
    .await
    .unwrap_or_else(|e| panic!("Meilisearch index {uid}: {e}"))
}

/// Runs `sql` with `binds` in a platform transaction.
pub async fn exec(db: &Database, sql: &str, binds: &[&str]) {
    let mut tx = db.begin_platform().await.unwrap_or_else(|e| panic!("{e}"));
    with_connection!(tx.connection(), c => {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
        for b in binds {
            q = q.bind(*b);
        }
        q.execute(&mut *c).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    });
    tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
}

/// What a backup holds of the outbox's row(s) (of `backend`, or all),
/// kept in the table `name` for [`restore_indexer_row`].
pub async fn back_up_indexer_row(db: &Database, name: &str, backend: Option<&str>) {
    let filter = backend.map_or(String::new(), |b| format!(" WHERE backend = '{b}'"));
    exec(
        db,
        &format!("CREATE TABLE {name} AS SELECT backend, applied, applied_batch FROM search_indexers{filter}"),
        &[],
    )
    .await;
}

/// The outbox's row(s) put back as [`back_up_indexer_row`] kept them in
/// `name` (what a restored database holds).
pub async fn restore_indexer_row(db: &Database, name: &str) {
    exec(
        db,
        &format!(
            "UPDATE search_indexers SET \
             applied = (SELECT b.applied FROM {name} b WHERE b.backend = search_indexers.backend), \
             applied_batch = (SELECT b.applied_batch FROM {name} b WHERE b.backend = search_indexers.backend) \
             WHERE backend IN (SELECT backend FROM {name})"
        ),
        &[],
    )
    .await;
}

/// Outbox entries written with the numbers `select` gives (`seq, kind,
/// doc, queued_at`), as a restored database holds them.
pub async fn insert_numbered_entries(db: &Database, select: &str) {
    let overriding = match db.backend() {
        civitas_storage::Backend::Postgres => "OVERRIDING SYSTEM VALUE ",
        civitas_storage::Backend::Sqlite => "",
    };
    exec(
        db,
        &format!("INSERT INTO search_outbox (seq, kind, doc, queued_at) {overriding}{select}"),
        &[],
    )
    .await;
}

/// A case row (what the workflow writes), `data` as JSON text.
pub async fn insert_case(
    db: &Database,
    id: &str,
    tenant: &str,
    title: &str,
    applicant: Option<&str>,
    data: &str,
) {
    let sql = "INSERT INTO cases (id, tenant_path, line, service, flow_variant, title, origin, state, step, version, applicant, created_by, data, outcomes, signed, created_at, updated_at) \
               VALUES ($1, $2, 'civil-affairs', 'civil-affairs/meal-subsidy', 'base', $3, 'online', 'submitted', 'street-review', 1, $4, 'tester', $5, '{}', '{}', 1780000000000000, 1780000000000000)";
    let mut tx = db.begin_platform().await.unwrap_or_else(|e| panic!("{e}"));
    with_connection!(tx.connection(), c => {
        sqlx::query(sql)
            .bind(id).bind(tenant).bind(title).bind(applicant).bind(data)
            .execute(&mut *c).await.unwrap_or_else(|e| panic!("insert case: {e}"));
    });
    tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
}

/// An account row.
pub async fn insert_account(
    db: &Database,
    id: &str,
    username: &str,
    kind: &str,
    tenant: &str,
    name: &str,
    subject: Option<&str>,
) {
    let sql = "INSERT INTO accounts (id, username, kind, tenant_path, display_name, subject, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, 1780000000000000)";
    let mut tx = db.begin_platform().await.unwrap_or_else(|e| panic!("{e}"));
    with_connection!(tx.connection(), c => {
        sqlx::query(sql)
            .bind(id).bind(username).bind(kind).bind(tenant).bind(name).bind(subject)
            .execute(&mut *c).await.unwrap_or_else(|e| panic!("insert account: {e}"));
    });
    tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
}

/// A resident row (the identifiers are stand-ins for sealed values).
pub async fn insert_resident(db: &Database, id: &str, tenant: &str, name: &str) {
    exec(
        db,
        "INSERT INTO residents (id, tenant_path, name, key_version, id_number, id_number_index, created_at, updated_at) \
         VALUES ($1, $2, $3, 1, 'sealed-id-number', $4, 1780000000000000, 1780000000000000)",
        &[id, tenant, name, &format!("index-{id}")],
    )
    .await;
}
