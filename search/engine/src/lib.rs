//! Full-text search over tenant documents, in Chinese, filtered by what the
//! caller may see.
//!
//! One interface ([`Engine`]), two backends: tantivy in the data directory
//! (the embedded default) and a Meilisearch server (at scale). Both index
//! the same [`Document`]s, analyse text by one contract ([`analyzer`]) and
//! filter every query by a [`Reach`] — the subtrees and lines a caller's
//! grants cover, the applicant's own documents, public documents — written
//! as terms of one `scope` field, so the filter is part of the query and
//! not a pass over its results.
//!
//! This crate knows nothing of databases or grants: the indexer
//! (`civitas-search-indexer`) turns rows into documents, and the API turns
//! a caller's grants into a [`Reach`].

pub mod analyzer;
mod highlight;
mod meili;
mod model;
mod newest_first;
mod per_segment;
mod tally;
mod tantivy_index;

pub use analyzer::{Analyzer, pinyin_keys};
pub use meili::{MeiliConfig, MeiliIndex, TenantToken};
pub use model::{
    Change, Counts, Document, Facets, Highlight, Hit, Kind, MAX_OFFSET, MAX_QUERY_CHARS, Query,
    Reach, ReachEntry, Results, SearchError,
};
pub use tantivy_index::{AppliedMark, TantivyIndex};

/// A search backend.
#[derive(Debug, Clone)]
pub enum Engine {
    /// tantivy, in a directory of this node.
    Tantivy(TantivyIndex),
    /// A Meilisearch server every node shares.
    Meili(Box<MeiliIndex>),
}

impl Engine {
    /// The backend's name, for status and logs (`tantivy`, `meilisearch`).
    pub fn backend(&self) -> &'static str {
        match self {
            Engine::Tantivy(_) => "tantivy",
            Engine::Meili(_) => "meilisearch",
        }
    }

    /// The id of an embedded index, kept in its directory; `None` for a
    /// Meilisearch index, which every node shares and any may feed.
    pub fn identity(&self) -> Option<&str> {
        match self {
            Engine::Tantivy(index) => Some(index.identity()),
            Engine::Meili(_) => None,
        }
    }

    /// Whether the index is marked as not holding what it applied: an
    /// embedded index created empty or cleared by a rebuild that has not
    /// ended ([`TantivyIndex::is_incomplete`]); a Meilisearch index being
    /// rebuilt, or whose rebuild was cut short, as this process last read
    /// it ([`MeiliIndex::is_incomplete`]).
    pub fn is_incomplete(&self) -> bool {
        match self {
            Engine::Tantivy(index) => index.is_incomplete(),
            Engine::Meili(index) => index.is_incomplete(),
        }
    }

    /// Marks the index (not) complete: in an embedded index's directory,
    /// on the Meilisearch server for its index.
    pub async fn set_incomplete(&self, incomplete: bool) -> Result<(), SearchError> {
        match self {
            Engine::Tantivy(index) => index.set_incomplete(incomplete),
            Engine::Meili(index) => index.set_incomplete(incomplete).await,
        }
    }

    /// How far into the outbox the index holds ([`AppliedMark`]), as this
    /// process last knew it: an embedded index's own mark
    /// ([`TantivyIndex::applied_mark`]); for Meilisearch, which every node
    /// applies to, the mark this process last wrote or read
    /// ([`Engine::read_applied_mark`] reads it from the server).
    pub fn applied_mark(&self) -> Option<AppliedMark> {
        match self {
            Engine::Tantivy(index) => index.applied_mark(),
            Engine::Meili(index) => index.applied_mark(),
        }
    }

    /// The applied mark as the index keeps it now: an embedded index's
    /// file (the server may have moved it on while a command reads it);
    /// Meilisearch's from the server (another node may have), which also
    /// refreshes [`Engine::is_incomplete`]. A mark that does not parse is
    /// an error.
    pub async fn read_applied_mark(&self) -> Result<Option<AppliedMark>, SearchError> {
        match self {
            Engine::Tantivy(index) => index.read_applied_mark(),
            Engine::Meili(index) => index.read_applied_mark().await,
        }
    }

    /// Records the index's applied mark: before the index applies the
    /// batch it names, and before the database counts it.
    pub async fn set_applied_mark(&self, mark: &AppliedMark) -> Result<(), SearchError> {
        match self {
            Engine::Tantivy(index) => index.set_applied_mark(mark),
            Engine::Meili(index) => index.set_applied_mark(mark).await,
        }
    }

    /// Applies `changes` (upserts by id, deletions) and returns once they
    /// are durable and visible to searches. Applying the same change twice
    /// leaves the same index.
    pub async fn apply(&self, changes: Vec<Change>) -> Result<(), SearchError> {
        if changes.is_empty() {
            return Ok(());
        }
        match self {
            Engine::Tantivy(index) => index.apply(changes).await,
            Engine::Meili(index) => index.apply(changes).await,
        }
    }

    /// Writes `changes` like [`Engine::apply`] but leaves them for the
    /// next commit: on tantivy they are neither durable nor visible until
    /// [`Engine::settle`] (or the next `apply`) commits them, so a rebuild
    /// writes its documents into segments once instead of committing and
    /// merging again after every batch. Meilisearch applies them at once.
    pub async fn stage(&self, changes: Vec<Change>) -> Result<(), SearchError> {
        if changes.is_empty() {
            return Ok(());
        }
        match self {
            Engine::Tantivy(index) => index.stage(changes).await,
            Engine::Meili(index) => index.apply(changes).await,
        }
    }

    /// Searches within `reach`: no hit is outside it, whatever the query.
    pub async fn search(&self, reach: &Reach, query: &Query) -> Result<Results, SearchError> {
        if reach.is_empty() {
            return Ok(Results::default());
        }
        match self {
            Engine::Tantivy(index) => index.search(reach, query).await,
            Engine::Meili(index) => index.search(reach, query).await,
        }
    }

    /// A token a browser searches `reach` with directly (Meilisearch only:
    /// the embedded index is not reachable from a browser).
    pub async fn tenant_token(
        &self,
        reach: &Reach,
        ttl: std::time::Duration,
    ) -> Result<Option<TenantToken>, SearchError> {
        match self {
            Engine::Tantivy(_) => Ok(None),
            Engine::Meili(index) => index.tenant_token(reach, ttl).await.map(Some),
        }
    }

    /// Documents by kind.
    pub async fn counts(&self) -> Result<Counts, SearchError> {
        match self {
            Engine::Tantivy(index) => index.counts().await,
            Engine::Meili(index) => index.counts().await,
        }
    }

    /// Commits what [`Engine::stage`] left and returns once the index is
    /// as compact as it will get: tantivy's merges of segments in progress
    /// are done (a rebuild ends with this, so a command-line rebuild does
    /// not leave its last merges undone when it exits). Meilisearch has
    /// nothing pending once `apply` or `stage` has returned.
    pub async fn settle(&self) -> Result<(), SearchError> {
        match self {
            Engine::Tantivy(index) => index.settle().await,
            Engine::Meili(_) => Ok(()),
        }
    }

    /// Deletes every document of `tenant`'s subtree (every document when
    /// `None`), before a rebuild.
    pub async fn clear(
        &self,
        tenant: Option<&civitas_tenancy::TenantPath>,
    ) -> Result<(), SearchError> {
        match self {
            Engine::Tantivy(index) => index.clear(tenant).await,
            Engine::Meili(index) => index.clear(tenant).await,
        }
    }
}
