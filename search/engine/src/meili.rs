//! The backend at scale: a Meilisearch server every node shares, through
//! `meilisearch-sdk` over the workspace's reqwest (so the build carries
//! one HTTP stack, with TCP_NODELAY: without it responses over ~1.5 KB
//! stall ~40 ms on loopback).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use civitas_tenancy::TenantPath;
use meilisearch_sdk::client::Client;
use meilisearch_sdk::documents::DocumentDeletionQuery;
use meilisearch_sdk::errors::{Error as MeiliError, ErrorCode};
use meilisearch_sdk::indexes::Index;
use meilisearch_sdk::request::{HttpClient, Method, parse_response};
use meilisearch_sdk::search::{MatchingStrategies, Selectors};
use meilisearch_sdk::settings::{
    FacetingSettings, PaginationSetting, Settings, TypoToleranceSettings,
};
use meilisearch_sdk::task_info::TaskInfo;
use meilisearch_sdk::tasks::Task;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::analyzer::{Analyzer, normalise_text};
use crate::highlight::highlights;
use crate::model::{MAX_OFFSET, Part, SearchError};
use crate::tantivy_index::AppliedMark;
use crate::{Change, Counts, Document, Facets, Hit, Kind, Query, Reach, Results};

/// Where the server is and which index to use.
#[derive(Debug, Clone)]
pub struct MeiliConfig {
    /// The server's URL (`http://127.0.0.1:7700`).
    pub url: String,
    /// Its API key (the master key or an admin key), if it has one.
    pub key: Option<String>,
    /// The index's uid (`civitas` unless several platforms share a server).
    pub index: String,
    /// The URL browsers reach the server at, for tenant tokens (default:
    /// `url`).
    pub public_url: Option<String>,
}

/// A token that lets a browser search one reach of the index directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantToken {
    /// Where to send the search (`POST {url}/indexes/{index}/search`).
    pub url: String,
    /// The index uid.
    pub index: String,
    /// The token (a JWT Meilisearch checks: its search rules hold the
    /// reach as a filter the browser cannot remove).
    pub token: String,
    /// When it stops working (Unix seconds).
    pub expires_at: i64,
}

/// The key of the one document of the marks index.
const MARK_KEY: &str = "applied";

/// The marks index's one document: the applied mark as the line an
/// embedded index keeps in its file, and whether a rebuild began and did
/// not end (an embedded index's `civitas-index-incomplete`). Each is
/// written alone (Meilisearch merges the fields of an update).
#[derive(Debug, Serialize, Deserialize)]
struct MarkDocument {
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mark: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    incomplete: Option<bool>,
}

/// The name of the search-only key tenant tokens are signed with.
const PUBLIC_KEY_NAME: &str = "civitas-public-search";

/// reqwest 0.13 as the SDK's HTTP client.
#[derive(Debug, Clone)]
struct Http {
    client: reqwest::Client,
    key: Option<String>,
}

fn http_error(e: impl std::error::Error + Send + Sync + 'static) -> MeiliError {
    MeiliError::Other(Box::new(e))
}

#[async_trait]
impl HttpClient for Http {
    async fn stream_request<
        Q: Serialize + Send + Sync,
        B: futures_util::AsyncRead + Send + Sync + 'static,
        Output: DeserializeOwned + 'static,
    >(
        &self,
        url: &str,
        method: Method<Q, B>,
        content_type: &str,
        expected_status_code: u16,
    ) -> Result<Output, MeiliError> {
        use futures_util::AsyncReadExt;
        let query = yaup::to_string(method.query())?;
        let url = format!("{url}{query}");
        let verb = match &method {
            Method::Get { .. } => reqwest::Method::GET,
            Method::Post { .. } => reqwest::Method::POST,
            Method::Patch { .. } => reqwest::Method::PATCH,
            Method::Put { .. } => reqwest::Method::PUT,
            Method::Delete { .. } => reqwest::Method::DELETE,
        };
        let mut request = self.client.request(verb, &url);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = method.into_body() {
            let mut bytes = Vec::new();
            let mut body = Box::pin(body);
            body.read_to_end(&mut bytes).await.map_err(http_error)?;
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let response = request.send().await.map_err(http_error)?;
        let status = response.status().as_u16();
        let mut body = response.text().await.map_err(http_error)?;
        if body.is_empty() {
            body = "null".to_owned();
        }
        parse_response(status, expected_status_code, &body, url)
    }

    fn is_tokio(&self) -> bool {
        true
    }
}

/// A document as Meilisearch stores it: the same fields as the tantivy
/// index, with a primary key Meilisearch accepts (hex of the id).
#[derive(Debug, Clone, Serialize)]
struct Stored {
    key: String,
    id: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scope: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    places: Vec<String>,
    tenant: String,
    line: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    service: Option<String>,
    title: String,
    #[serde(default)]
    body: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    keywords: Vec<String>,
    date: i64,
}

/// A hit as Meilisearch shows it (its displayed attributes).
#[derive(Debug, Clone, Deserialize)]
struct Shown {
    id: String,
    kind: String,
    tenant: String,
    line: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    service: Option<String>,
    title: String,
    #[serde(default)]
    body: Vec<String>,
    date: i64,
}

fn key_of(id: &str) -> String {
    id.bytes().map(|b| format!("{b:02x}")).collect()
}

fn stored(d: &Document) -> Stored {
    Stored {
        key: key_of(&d.id),
        id: d.id.clone(),
        kind: d.kind.as_str().to_owned(),
        scope: d.scope_terms(),
        places: d.places(),
        tenant: d.tenant.as_str().to_owned(),
        line: d.line.clone(),
        status: d.status.clone(),
        service: d.service.clone(),
        title: d.title.clone(),
        body: d.body.clone(),
        keywords: d.keywords.iter().map(|k| normalise_text(k)).collect(),
        date: d.date,
    }
}

/// A run of consecutive changes of one kind: one Meilisearch task.
enum Batch {
    Upserts(Vec<Stored>),
    Deletes(Vec<String>),
}

/// A Meilisearch index (cheap to clone).
#[derive(Debug, Clone)]
pub struct MeiliIndex {
    client: Client<Http>,
    index: Index<Http>,
    /// Where the index's applied mark is kept ([`MeiliIndex::applied_mark`]):
    /// an index of its own (`{index}_applied`), so no search or count of
    /// the documents ever meets it.
    marks: Index<Http>,
    /// The mark as this process last wrote or read it.
    mark: std::sync::Arc<std::sync::Mutex<Option<AppliedMark>>>,
    /// Whether a rebuild began and did not end, as this process last wrote
    /// or read it ([`MeiliIndex::is_incomplete`]).
    incomplete: std::sync::Arc<std::sync::atomic::AtomicBool>,
    analyzer: Analyzer,
    public_url: String,
    /// The search-only key's uid and value, found or made once.
    public_key: std::sync::Arc<tokio::sync::OnceCell<(String, String)>>,
}

fn server_error(e: impl std::fmt::Display) -> SearchError {
    SearchError::Server(e.to_string())
}

/// A filter string literal.
fn literal(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

impl MeiliIndex {
    /// Connects, creates the index if it is missing and applies its settings
    /// (searchable, filterable and sortable attributes; typo tolerance off,
    /// so codes and pinyin match exactly as on tantivy), and creates the
    /// index `<uid>_applied` beside it, which keeps its applied mark (the
    /// key given needs rights on both).
    pub async fn open(config: &MeiliConfig) -> Result<MeiliIndex, SearchError> {
        let http = Http {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .tcp_nodelay(true)
                .build()
                .map_err(server_error)?,
            key: config.key.clone(),
        };
        let client = Client::new_with_client(config.url.clone(), config.key.clone(), http);
        let index = client.index(&config.index);
        let marks = client.index(format!("{}_applied", config.index));
        let this = MeiliIndex {
            client,
            index,
            marks,
            mark: std::sync::Arc::default(),
            incomplete: std::sync::Arc::default(),
            analyzer: Analyzer::shared(),
            public_url: config
                .public_url
                .clone()
                .unwrap_or_else(|| config.url.clone()),
            public_key: std::sync::Arc::default(),
        };
        this.prepare().await?;
        Ok(this)
    }

    /// Creates the index and its marks index where missing and applies the
    /// index's settings: as it opens, and before a whole rebuild clears it
    /// (a server that lost its data under running nodes has the index
    /// recreated bare by the next write).
    async fn prepare(&self) -> Result<(), SearchError> {
        self.create_missing().await?;
        self.apply_settings().await
    }

    /// Creates the index and its marks index where missing.
    async fn create_missing(&self) -> Result<(), SearchError> {
        for uid in [self.index.uid.clone(), self.marks.uid.clone()] {
            if self.client.index(&uid).fetch_info().await.is_err() {
                let task = self
                    .client
                    .create_index(&uid, Some("key"))
                    .await
                    .map_err(server_error)?;
                // Another node may have created it meanwhile: that is fine.
                let _ = self.wait(task).await;
            }
        }
        Ok(())
    }

    /// Applies the index's settings (the same on every node).
    async fn apply_settings(&self) -> Result<(), SearchError> {
        let settings = Settings::new()
            .with_searchable_attributes(["title", "body", "keywords"])
            .with_filterable_attributes([
                "scope", "places", "kind", "line", "status", "service", "date",
            ])
            .with_sortable_attributes(["date"])
            // `sort` right after `words`: a query given a sort (no words
            // to rank by) is ordered by it alone; one without is ranked
            // as by default.
            .with_ranking_rules([
                "words",
                "sort",
                "typo",
                "proximity",
                "attribute",
                "exactness",
            ])
            .with_displayed_attributes([
                "id", "kind", "tenant", "line", "title", "status", "service", "date", "body",
            ])
            .with_typo_tolerance(TypoToleranceSettings {
                enabled: Some(false),
                disable_on_attributes: None,
                disable_on_words: None,
                min_word_size_for_typos: None,
                disable_on_numbers: None,
            })
            .with_pagination(PaginationSetting {
                max_total_hits: MAX_OFFSET + 100,
            })
            .with_faceting(FacetingSettings {
                max_values_per_facet: 1000,
                sort_facet_values_by: None,
            });
        let task = self
            .index
            .set_settings(&settings)
            .await
            .map_err(server_error)?;
        self.wait(task).await
    }

    /// The search-only key for this index (created once, by name).
    async fn public_key(&self) -> Result<&(String, String), SearchError> {
        self.public_key
            .get_or_try_init(|| async {
                let name = format!("{PUBLIC_KEY_NAME}-{}", self.index.uid);
                let mut query = meilisearch_sdk::key::KeysQuery::new();
                query.with_limit(1000);
                let keys = self
                    .client
                    .get_keys_with(&query)
                    .await
                    .map_err(server_error)?;
                if let Some(key) = keys
                    .results
                    .into_iter()
                    .find(|k| k.name.as_deref() == Some(name.as_str()))
                {
                    return Ok((key.uid, key.key));
                }
                let mut builder = meilisearch_sdk::key::KeyBuilder::new();
                builder
                    .with_name(&name)
                    .with_action(meilisearch_sdk::key::Action::Search)
                    .with_index(&self.index.uid);
                let key = self
                    .client
                    .create_key(builder)
                    .await
                    .map_err(server_error)?;
                Ok((key.uid, key.key))
            })
            .await
    }

    /// A tenant token for `reach` (public documents only: the browser may
    /// read whatever it allows), valid for `ttl`.
    pub async fn tenant_token(
        &self,
        reach: &Reach,
        ttl: Duration,
    ) -> Result<TenantToken, SearchError> {
        let (uid, key) = self.public_key().await?;
        let expires_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(server_error)?
            .as_secs() as i64
            + ttl.as_secs() as i64;
        let filter = format!(
            "scope IN [{}]",
            reach
                .terms()
                .iter()
                .map(|t| literal(t))
                .collect::<Vec<_>>()
                .join(",")
        );
        let rules = serde_json::json!({ self.index.uid.clone(): { "filter": filter } });
        let expiry = time::OffsetDateTime::from_unix_timestamp(expires_at).map_err(server_error)?;
        let token = self
            .client
            .generate_tenant_token(uid.clone(), rules, Some(key), Some(expiry))
            .map_err(server_error)?;
        Ok(TenantToken {
            url: self.public_url.clone(),
            index: self.index.uid.clone(),
            token,
            expires_at,
        })
    }

    /// Deletes the index and its mark (tests).
    pub async fn delete(self) -> Result<(), SearchError> {
        let task = self.index.clone().delete().await.map_err(server_error)?;
        self.wait(task).await?;
        // Gone already when a test deleted it by itself.
        if self
            .client
            .index(&self.marks.uid)
            .fetch_info()
            .await
            .is_err()
        {
            return Ok(());
        }
        let task = self.marks.clone().delete().await.map_err(server_error)?;
        self.wait(task).await
    }

    /// How far into the database's search outbox the index holds, as this
    /// process last wrote or read it ([`MeiliIndex::read_applied_mark`]).
    /// Every node applies to the one index, so another node may have
    /// moved it on since: for status, not for deciding.
    pub fn applied_mark(&self) -> Option<AppliedMark> {
        self.mark
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether a rebuild of the index began and did not end, as this
    /// process last wrote or read it ([`MeiliIndex::read_applied_mark`]
    /// reads it too).
    pub fn is_incomplete(&self) -> bool {
        self.incomplete.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The applied mark as the server keeps it (the same record an
    /// embedded index keeps in its directory: [`AppliedMark`]), and with
    /// it whether a rebuild began and did not end, or the marks index is
    /// gone (the server lost its data) ([`MeiliIndex::is_incomplete`]);
    /// `None` when no mark was written (a new server, or an index from
    /// before marks were kept). A mark that does not parse is an error
    /// ([`SearchError::Stored`]).
    pub async fn read_applied_mark(&self) -> Result<Option<AppliedMark>, SearchError> {
        // No marks index at all (`open` makes it), or no index: the server
        // lost its data, or was replaced, under running nodes — the index
        // holds nothing it can vouch for, as after a rebuild cut short.
        let (found, lost) = match self.marks.get_document::<MarkDocument>(MARK_KEY).await {
            // The index itself gone while its mark stayed is as lost.
            Ok(found) => (
                Some(found),
                self.client
                    .index(&self.index.uid)
                    .fetch_info()
                    .await
                    .is_err_and(|e| {
                        matches!(e, MeiliError::Meilisearch(ref e) if e.error_code == ErrorCode::IndexNotFound)
                    }),
            ),
            Err(MeiliError::Meilisearch(e)) if e.error_code == ErrorCode::DocumentNotFound => {
                (None, false)
            }
            Err(MeiliError::Meilisearch(e)) if e.error_code == ErrorCode::IndexNotFound => {
                (None, true)
            }
            Err(e) => return Err(server_error(e)),
        };
        let incomplete = lost
            || found
                .as_ref()
                .and_then(|found| found.incomplete)
                .unwrap_or(false);
        self.incomplete
            .store(incomplete, std::sync::atomic::Ordering::SeqCst);
        let mark = found
            .and_then(|found| found.mark)
            .map(|line| {
                AppliedMark::parse(&line).map_err(|reason| SearchError::Stored {
                    id: format!("{}/{MARK_KEY}", self.marks.uid),
                    reason,
                })
            })
            .transpose()?;
        *self
            .mark
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = mark.clone();
        Ok(mark)
    }

    /// Records the applied mark on the server: before the index applies
    /// the batch it names, and before the database counts it.
    pub async fn set_applied_mark(&self, mark: &AppliedMark) -> Result<(), SearchError> {
        self.write_mark(MarkDocument {
            key: MARK_KEY.to_owned(),
            mark: Some(mark.to_line()?.trim_end().to_owned()),
            incomplete: None,
        })
        .await?;
        *self
            .mark
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(mark.clone());
        Ok(())
    }

    /// Marks the index as being rebuilt (`true`, before a rebuild clears
    /// it) or rebuilt (`false`), on the server: a rebuild cut short on any
    /// node is done again ([`MeiliIndex::is_incomplete`]).
    pub async fn set_incomplete(&self, incomplete: bool) -> Result<(), SearchError> {
        self.write_mark(MarkDocument {
            key: MARK_KEY.to_owned(),
            mark: None,
            incomplete: Some(incomplete),
        })
        .await?;
        self.incomplete
            .store(incomplete, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Writes the fields `document` has of the marks index's document.
    async fn write_mark(&self, document: MarkDocument) -> Result<(), SearchError> {
        let task = self
            .marks
            .add_or_update(&[document], Some("key"))
            .await
            .map_err(server_error)?;
        self.wait(task).await
    }

    async fn wait(&self, task: TaskInfo) -> Result<(), SearchError> {
        let task = task
            .wait_for_completion(
                &self.client,
                Some(Duration::from_millis(5)),
                Some(Duration::from_secs(300)),
            )
            .await
            .map_err(server_error)?;
        match task {
            Task::Failed { content } => Err(SearchError::Server(format!(
                "task failed: {}",
                content.error.error_message
            ))),
            _ => Ok(()),
        }
    }

    /// Applies changes (see [`crate::Engine::apply`]): consecutive upserts
    /// go as one task, consecutive deletions as another, in order.
    pub async fn apply(&self, changes: Vec<Change>) -> Result<(), SearchError> {
        let mut batches: Vec<Batch> = Vec::new();
        for change in changes {
            match (change, batches.last_mut()) {
                (Change::Upsert(d) | Change::Add(d), Some(Batch::Upserts(run))) => {
                    run.push(stored(&d))
                }
                (Change::Upsert(d) | Change::Add(d), _) => {
                    batches.push(Batch::Upserts(vec![stored(&d)]))
                }
                (Change::Delete(id), Some(Batch::Deletes(run))) => run.push(key_of(&id)),
                (Change::Delete(id), _) => batches.push(Batch::Deletes(vec![key_of(&id)])),
            }
        }
        // All enqueued first (Meilisearch runs them in order), then awaited.
        let mut tasks = Vec::with_capacity(batches.len());
        for batch in batches {
            let task = match batch {
                Batch::Upserts(documents) => {
                    self.index.add_or_replace(&documents, Some("key")).await
                }
                Batch::Deletes(keys) => self.index.delete_documents(&keys).await,
            };
            tasks.push(task.map_err(server_error)?);
        }
        for task in tasks {
            self.wait(task).await?;
        }
        Ok(())
    }

    /// Deletes a subtree's documents, or all (see [`crate::Engine::clear`]).
    pub async fn clear(&self, tenant: Option<&TenantPath>) -> Result<(), SearchError> {
        let task = match tenant {
            Some(t) => {
                let filter = format!("places = {}", literal(t.as_str()));
                let mut query = DocumentDeletionQuery::new(&self.index);
                query.with_filter(&filter);
                self.index
                    .delete_documents_with(&query)
                    .await
                    .map_err(server_error)?
            }
            None => {
                // Settings after the documents are gone: changed settings
                // would have the server index every old document again.
                self.create_missing().await?;
                let task = self
                    .index
                    .delete_all_documents()
                    .await
                    .map_err(server_error)?;
                self.wait(task).await?;
                return self.apply_settings().await;
            }
        };
        self.wait(task).await
    }

    /// Documents by kind.
    pub async fn counts(&self) -> Result<Counts, SearchError> {
        let results = self
            .index
            .search()
            .with_limit(0)
            .with_facets(Selectors::Some(&["kind"]))
            .execute::<Shown>()
            .await;
        let by_kind = match results {
            Ok(results) => results
                .facet_distribution
                .and_then(|mut d| d.remove("kind"))
                .unwrap_or_default(),
            // An index that is not there holds nothing.
            Err(MeiliError::Meilisearch(e)) if e.error_code == ErrorCode::IndexNotFound => {
                HashMap::new()
            }
            Err(e) => return Err(server_error(e)),
        };
        let mut counts = Counts::default();
        for kind in Kind::ALL {
            let n = by_kind.get(kind.as_str()).copied().unwrap_or(0) as u64;
            counts.by_kind.insert(kind.as_str().to_owned(), n);
            counts.total += n;
        }
        Ok(counts)
    }

    /// Searches (see [`crate::Engine::search`]).
    pub async fn search(&self, reach: &Reach, query: &Query) -> Result<Results, SearchError> {
        query.check()?;
        let reach = reach.of_kinds(&query.kinds);
        if reach.is_empty() {
            return Ok(Results::default());
        }
        let list = |values: Vec<String>| {
            values
                .iter()
                .map(|v| literal(v))
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut filter = vec![format!("scope IN [{}]", list(reach.terms()))];
        if let Some(within) = &query.within {
            filter.push(format!("places = {}", literal(within.as_str())));
        }
        if let Some(line) = &query.line {
            filter.push(format!("line = {}", literal(line)));
        }
        if let Some(status) = &query.status {
            filter.push(format!("status = {}", literal(status)));
        }
        if let Some(service) = &query.service {
            filter.push(format!("service = {}", literal(service)));
        }
        if let Some(from) = query.from {
            filter.push(format!("date >= {from}"));
        }
        if let Some(to) = query.to {
            filter.push(format!("date < {to}"));
        }
        let filter = filter.join(" AND ");
        // Meilisearch reads quotes as phrases, as the query's own parts do.
        let text = normalise_text(&query.text).replace(['“', '”'], "\"");
        let mut terms = BTreeSet::new();
        // Words rank; phrases only match (see the tantivy backend).
        let mut ranked = false;
        for part in query.parts() {
            let (Part::Words(t) | Part::Phrase(t)) = &part;
            let words = self.analyzer.query_terms(t);
            ranked |= matches!(part, Part::Words(_)) && !words.is_empty();
            terms.extend(words.into_iter().map(|t| t.text));
        }
        let sort = ["date:desc"];
        // Page mode counts exactly; one page that ends where ours ends.
        let mut search = self.index.search();
        search
            .with_query(&text)
            .with_filter(&filter)
            .with_page(1)
            .with_hits_per_page(query.offset + query.limit)
            .with_matching_strategy(MatchingStrategies::ALL);
        if query.exhaustive {
            search.with_facets(Selectors::Some(&["status", "places"]));
        }
        if !ranked {
            search.with_sort(&sort);
        }
        let results = search.execute::<Shown>().await.map_err(server_error)?;
        let mut facets = Facets::default();
        let mut distribution: HashMap<String, HashMap<String, usize>> =
            results.facet_distribution.unwrap_or_default();
        for (status, n) in distribution.remove("status").unwrap_or_default() {
            facets.status.insert(status, n as u64);
        }
        for (place, n) in distribution.remove("places").unwrap_or_default() {
            let parent = place.rsplit_once('/').map(|(p, _)| p);
            let counted = match &query.facet_parent {
                Some(p) => parent == Some(p.as_str()),
                None => parent.is_none(),
            };
            if counted {
                facets.places.insert(place, n as u64);
            }
        }
        let hits = results
            .hits
            .into_iter()
            .skip(query.offset)
            .map(|h| {
                let s = h.result;
                let kind = Kind::parse(&s.kind).ok_or_else(|| SearchError::Stored {
                    id: s.id.clone(),
                    reason: format!("kind {}", s.kind),
                })?;
                let highlights = if query.highlight {
                    highlights(&self.analyzer, &terms, &s.title, &s.body)
                } else {
                    Vec::new()
                };
                Ok(Hit {
                    highlights,
                    id: s.id,
                    kind,
                    tenant: s.tenant,
                    line: s.line,
                    title: s.title,
                    status: s.status,
                    service: s.service,
                    date: s.date,
                })
            })
            .collect::<Result<Vec<_>, SearchError>>()?;
        Ok(Results {
            total: results.total_hits.unwrap_or(0) as u64,
            hits,
            facets,
        })
    }
}
