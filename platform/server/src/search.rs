//! Search, wired: which engine (tantivy in the data directory, or a
//! Meilisearch server), which case fields are searched, which services the
//! public finds, and the indexer that feeds the engine from the outbox.

use std::path::PathBuf;
use std::sync::Arc;

use civitas_search::{Engine, MeiliConfig, MeiliIndex, SearchError, TantivyIndex};
use civitas_search_indexer::{Indexer, RebuildAt, ServiceListing, searchable_fields};
use civitas_tenancy::TenantPath;

/// Where search lives.
#[derive(Clone, serde::Serialize)]
#[serde(tag = "backend", rename_all = "snake_case")]
pub enum SearchConfig {
    /// tantivy in a directory of this node (the embedded default).
    Tantivy {
        /// The index directory (default `<data_dir>/search`).
        dir: PathBuf,
    },
    /// A Meilisearch server (`--meili-url`), shared by every node.
    Meilisearch {
        /// Its URL.
        url: String,
        /// The URL browsers reach it at, for tenant tokens (default: `url`).
        public_url: Option<String>,
        /// The index uid.
        index: String,
        /// Its API key (`CIVITAS_MEILI_KEY`), never printed.
        #[serde(skip)]
        key: Option<String>,
    },
}

impl std::fmt::Debug for SearchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SearchConfig::Tantivy { dir } => f.debug_struct("Tantivy").field("dir", dir).finish(),
            SearchConfig::Meilisearch { url, index, .. } => f
                .debug_struct("Meilisearch")
                .field("url", url)
                .field("index", index)
                .finish_non_exhaustive(),
        }
    }
}

/// Opens the engine `config` names (creating an empty index if needed).
pub async fn open_engine(config: &SearchConfig) -> Result<Engine, SearchError> {
    match config {
        SearchConfig::Tantivy { dir } => Ok(Engine::Tantivy(TantivyIndex::open(dir)?)),
        SearchConfig::Meilisearch {
            url,
            public_url,
            index,
            key,
        } => Ok(Engine::Meili(Box::new(
            MeiliIndex::open(&MeiliConfig {
                url: url.clone(),
                key: key.clone(),
                index: index.clone(),
                public_url: public_url.clone(),
            })
            .await?,
        ))),
    }
}

/// The engine `config` names, to read only: the embedded index without
/// taking its writer's lock (a running `serve` holds it).
pub async fn open_engine_to_read(config: &SearchConfig) -> Result<Engine, SearchError> {
    match config {
        SearchConfig::Tantivy { dir } => Ok(Engine::Tantivy(TantivyIndex::open_to_read(dir)?)),
        other => open_engine(other).await,
    }
}

/// The searched `data` fields of each service, from its input schema.
pub fn searchable(
    catalog: &civitas_services::Catalog,
) -> civitas_search_indexer::project::Searchable {
    for service in catalog.services() {
        for field in civitas_search_indexer::refused_searchable_fields(&service.input_schema) {
            tracing::warn!(service = %service.id, %field, "x-searchable ignored: identifiers and contact data are never indexed");
        }
    }
    catalog
        .services()
        .map(|s| (s.id.clone(), searchable_fields(&s.input_schema)))
        .filter(|(_, fields)| !fields.is_empty())
        .collect()
}

/// The services the public applies for: every flow that takes applicants,
/// with the summary its portal shows.
pub fn listings(workflow: &civitas_workflow::Workflow) -> Vec<ServiceListing> {
    let mut out: Vec<ServiceListing> = workflow
        .flows()
        .flows()
        .into_iter()
        .filter(|f| f.variant.is_none() && !f.applicants.is_empty())
        .map(|f| ServiceListing {
            id: f.service.clone(),
            name: f.name.clone(),
            name_en: f.name_en.clone(),
            description: f.summary.clone(),
            description_en: f.summary_en.clone(),
            line: f.line.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// An indexer over `db` into the engine of `config`, with the services of
/// the catalog indexed under every root. An embedded index holds the
/// database's outbox, takes it over from a holder gone `takeover_after`,
/// or stands by ([`Indexer::claim`]); one that must be rebuilt from the
/// database first (absent, of an older schema, incomplete, without an
/// applied mark, or taking over) is rebuilt when `rebuild_at` says.
pub async fn start_indexer(
    config: &SearchConfig,
    db: &civitas_storage::Database,
    runtime: &Arc<civitas_registry::Runtime>,
    workflow: &civitas_workflow::Workflow,
    roots: &[TenantPath],
    takeover_after: std::time::Duration,
    rebuild_at: RebuildAt,
) -> Result<Indexer, civitas_search_indexer::IndexerError> {
    // The embedded index is derived data: one an older version built is
    // rebuilt from the database rather than refused, and so is one that is
    // not there yet over a database that may hold rows (a restored backup,
    // which carries no index; on a new database the rebuild reads nothing).
    let missing =
        matches!(config, SearchConfig::Tantivy { dir } if !dir.join("meta.json").exists());
    let (engine, rebuild) = match open_engine(config).await {
        Err(SearchError::SchemaChanged(dir)) => {
            tracing::warn!(%dir, "the search index has an older schema: rebuilding it from the database");
            (
                Engine::Tantivy(TantivyIndex::recreate(std::path::Path::new(&dir))?),
                true,
            )
        }
        other => (other?, missing),
    };
    let indexer = Indexer::new(db.clone(), engine, searchable(runtime.catalog()))
        .with_takeover_after(takeover_after);
    if rebuild {
        // Rebuilt before it applies the outbox: now, or when it takes the
        // outbox over if another node's index holds it.
        indexer.mark_incomplete().await?;
    }
    let services = listings(workflow);
    indexer.index_services(&services, roots).await?;
    indexer.claim(rebuild_at).await?;
    Ok(indexer)
}
