//! The embedded backend: a tantivy index in a directory of the node.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use civitas_tenancy::TenantPath;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, Occur, PhraseQuery, Query as TantivyQuery, RangeQuery,
    TermQuery, TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
};

use crate::analyzer::Analyzer;
use crate::highlight::highlights;
use crate::model::{Part, SearchError};
use crate::newest_first::{DateMaxima, newest_first};
use crate::tally::{Tally, TallySlots, tally_conjunction};
use crate::{Change, Counts, Document, Facets, Hit, Kind, Query, Reach, Results};

const TOKENIZER: &str = "civitas";

/// Clauses of a boolean query.
type Clauses = Vec<(Occur, Box<dyn TantivyQuery>)>;

/// The writer's memory budget (split between its threads): large
/// segments mean fewer merges while a rebuild writes a million documents.
const WRITER_HEAP: usize = 256 * 1024 * 1024;

/// Stored documents (title and body, for hits and highlights) are most of
/// an index: zstd keeps the whole index smaller than the text it indexes
/// (0.99× at level 1 on the benchmark's corpus), where lz4 (tantivy's
/// default) leaves it larger (1.14×). Level 3 would make it 0.95× for about
/// 5 % of the indexing rate (BENCHMARKS.md).
fn settings() -> tantivy::IndexSettings {
    tantivy::IndexSettings {
        docstore_compression: tantivy::store::Compressor::Zstd(tantivy::store::ZstdCompressor {
            compression_level: Some(1),
        }),
        ..tantivy::IndexSettings::default()
    }
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    kind: Field,
    scope: Field,
    places: Field,
    tenant: Field,
    line: Field,
    status: Field,
    service: Field,
    title: Field,
    body: Field,
    text: Field,
    date: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |positions: bool, stored: bool| {
        let record = if positions {
            IndexRecordOption::WithFreqsAndPositions
        } else {
            IndexRecordOption::WithFreqs
        };
        let options = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(record),
        );
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        kind: b.add_text_field("kind", STRING | STORED),
        scope: b.add_text_field("scope", STRING),
        places: b.add_text_field("places", STRING),
        // Tenant and status are columns too: counting matches by place
        // and by status reads a slot of each per match (`tally`: the columns
        // are read whole once per segment).
        tenant: b.add_text_field("tenant", STORED | FAST),
        line: b.add_text_field("line", STRING | STORED),
        status: b.add_text_field("status", STRING | STORED | FAST),
        service: b.add_text_field("service", STRING | STORED),
        // Title and body are stored for hits and highlights; what is
        // searched — title, body and keywords — is one indexed field, so a
        // word is one posting list (an AND intersects plain lists, a single
        // word keeps top-k pruning) instead of a union over three fields.
        title: b.add_text_field("title", STORED),
        body: b.add_text_field("body", STORED),
        text: b.add_text_field("text", text(true, false)),
        date: b.add_i64_field("date", INDEXED | FAST | STORED),
    };
    (b.build(), fields)
}

/// The analyzer as a tantivy tokenizer (index terms).
#[derive(Clone)]
struct CivitasTokenizer {
    analyzer: Analyzer,
}

/// One document's terms, copied one at a time into a token whose text
/// buffer is reused (no allocation per term).
struct Terms<'a> {
    analysed: crate::analyzer::Analysed<'a>,
    next: usize,
    token: Token,
}

impl TokenStream for Terms<'_> {
    fn advance(&mut self) -> bool {
        let Some(span) = self.analysed.spans().get(self.next) else {
            return false;
        };
        self.next += 1;
        self.token.text.clear();
        self.token.text.push_str(self.analysed.text_of(span));
        self.token.offset_from = span.start;
        self.token.offset_to = span.end;
        self.token.position = span.position;
        self.token.position_length = 1;
        true
    }
    fn token(&self) -> &Token {
        &self.token
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

impl Tokenizer for CivitasTokenizer {
    type TokenStream<'a> = Terms<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> Terms<'a> {
        Terms {
            analysed: self.analyzer.index_spans(text),
            next: 0,
            token: Token::default(),
        }
    }
}

struct Inner {
    reader: IndexReader,
    /// None when opened to read only; within, None after
    /// [`TantivyIndex::settle_now`] gave it up until a new one is opened.
    writer: Option<Mutex<Option<IndexWriter<TantivyDocument>>>>,
    /// To open a writer again.
    index: Index,
    fields: Fields,
    analyzer: Analyzer,
    dir: Option<PathBuf>,
    /// Which index this is ([`TantivyIndex::identity`]).
    identity: String,
    /// Whether it is marked as not holding what it applied
    /// ([`TantivyIndex::is_incomplete`]).
    incomplete: std::sync::atomic::AtomicBool,
    /// How far into the outbox it holds ([`TantivyIndex::applied_mark`]).
    applied: Mutex<Option<AppliedMark>>,
    /// Per segment, for pages of the newest matches (a warmer of the
    /// reader, which holds it weakly).
    date_maxima: Arc<DateMaxima>,
    /// Each segment's statuses and tenants as slots, for counting (a warmer
    /// too).
    tally_slots: Arc<TallySlots>,
}

impl Inner {
    /// The writer, opened again if a settle gave it up and could not
    /// (another process held the directory's lock meanwhile): the error
    /// then is this call's, and a later call tries again.
    fn writer(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, Option<IndexWriter<TantivyDocument>>>, SearchError> {
        let mut guard = self
            .writer
            .as_ref()
            .ok_or_else(|| SearchError::Index("the index was opened to read only".into()))?
            .lock()
            .map_err(|_| SearchError::Index("writer lock poisoned".into()))?;
        if guard.is_none() {
            *guard = Some(self.index.writer(WRITER_HEAP).map_err(index_error)?);
        }
        Ok(guard)
    }
}

/// No writer where `Inner::writer` has just made sure of one.
fn no_writer() -> SearchError {
    SearchError::Index("the index writer is missing".into())
}

/// A tantivy index (cheap to clone; one writer behind a lock).
#[derive(Clone)]
pub struct TantivyIndex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TantivyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyIndex")
            .field("dir", &self.inner.dir)
            .finish()
    }
}

fn index_error(e: impl std::fmt::Display) -> SearchError {
    SearchError::Index(e.to_string())
}

/// The file in an index's directory that holds its id (tantivy leaves
/// files it did not write alone).
const IDENTITY_FILE: &str = "civitas-index-id";

/// The file whose presence marks an index as not holding what it applied.
const INCOMPLETE_FILE: &str = "civitas-index-incomplete";

/// The file that holds the index's applied mark
/// ([`TantivyIndex::applied_mark`]).
const APPLIED_FILE: &str = "civitas-index-applied";

/// How far into the database's search outbox an embedded index holds
/// ([`TantivyIndex::applied_mark`]): a count, and which batch it came to
/// with, so that an index can tell a database that went back in time (a
/// restore to an earlier point) from one it kept up with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedMark {
    /// The count of entries its backend had applied, ever, when this
    /// index last applied a batch or was rebuilt.
    pub applied: i64,
    /// The token the database records for the last batch counted in
    /// `applied` (each batch is given a new one as it is applied); `None`
    /// before batches were given tokens, or when none was applied yet.
    pub batch: Option<String>,
    /// The token the database recorded before that batch (what it records
    /// still if the batch's own commit failed); for a rebuilt index, the
    /// same as `batch`.
    pub after: Option<String>,
    /// What that batch held, as its indexer wrote it (one word, opaque
    /// here): to tell, should the database not have counted the batch,
    /// whether its entries still wait to be applied again. `None` for a
    /// rebuilt index.
    pub entries: Option<String>,
}

impl AppliedMark {
    /// As kept in the mark's file: the count, then the two tokens and the
    /// batch's entries (`-` for none), on one line.
    pub(crate) fn to_line(&self) -> Result<String, SearchError> {
        let token = |t: &Option<String>| match t {
            None => Ok("-".to_owned()),
            Some(t) if t.is_empty() || t == "-" || t.contains(char::is_whitespace) => Err(
                SearchError::Index(format!("a batch token must be one word, not {t:?}")),
            ),
            Some(t) => Ok(t.clone()),
        };
        Ok(format!(
            "{} {} {} {}\n",
            self.applied,
            token(&self.batch)?,
            token(&self.after)?,
            token(&self.entries)?
        ))
    }

    /// The mark a file holds: the line [`AppliedMark::to_line`] writes, or
    /// a count alone (an index from before batches had tokens).
    pub(crate) fn parse(text: &str) -> Result<AppliedMark, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (count, batch, after, entries) = match words.as_slice() {
            [count] => (*count, "-", "-", "-"),
            [count, batch, after, entries] => (*count, *batch, *after, *entries),
            _ => return Err(format!("{text:?} is not a count, two tokens and entries")),
        };
        let token = |t: &str| (t != "-").then(|| t.to_owned());
        Ok(AppliedMark {
            applied: count
                .parse::<i64>()
                .map_err(|e| format!("{count:?} is not a count: {e}"))?,
            batch: token(batch),
            after: token(after),
            entries: token(entries),
        })
    }
}

/// The applied mark kept in `dir`: `Ok(None)` when there is none (an index
/// from before marks were kept, or one that has applied nothing yet).
fn read_applied(dir: &Path) -> Result<Option<AppliedMark>, String> {
    let path = dir.join(APPLIED_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => AppliedMark::parse(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn new_identity() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The id kept in `dir`; `None` when there is none yet; an error when the
/// file does not hold one.
fn read_identity(dir: &Path) -> Result<Option<String>, SearchError> {
    let path = dir.join(IDENTITY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => match uuid::Uuid::parse_str(text.trim()) {
            Ok(id) => Ok(Some(id.to_string())),
            Err(e) => Err(SearchError::Index(format!(
                "{} does not hold an index id: {e}",
                path.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(index_error(e)),
    }
}

/// Keeps `identity` in `dir` (written aside, then renamed, so a crash
/// leaves no half-written id).
fn write_identity(dir: &Path, identity: &str) -> Result<String, SearchError> {
    let identity = identity.to_owned();
    let aside = dir.join(format!("{IDENTITY_FILE}.new"));
    std::fs::write(&aside, format!("{identity}\n")).map_err(index_error)?;
    std::fs::rename(&aside, dir.join(IDENTITY_FILE)).map_err(index_error)?;
    Ok(identity)
}

impl TantivyIndex {
    /// Opens the index in `dir`, creating it when the directory is empty or
    /// absent. An index another version of the schema wrote is an error
    /// (rebuild it with `civitas search reindex`).
    pub fn open(dir: &Path) -> Result<TantivyIndex, SearchError> {
        std::fs::create_dir_all(dir).map_err(index_error)?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir).map_err(index_error)?;
        let index = if Index::exists(&directory).map_err(index_error)? {
            let index = Index::open(directory).map_err(index_error)?;
            if index.schema() != schema {
                return Err(SearchError::SchemaChanged(dir.display().to_string()));
            }
            index
        } else {
            Index::create(directory, schema, settings()).map_err(index_error)?
        };
        let identity = match read_identity(dir) {
            Ok(Some(identity)) => identity,
            Ok(None) => write_identity(dir, &new_identity())?,
            Err(e) => {
                // Derived data: an id that cannot be read makes this index
                // a new one, rebuilt before it holds an outbox.
                tracing::warn!(error = %e, "检索索引 id 无法读取，改用新的 id (the search index's id cannot be read: a new one is used)");
                write_identity(dir, &new_identity())?
            }
        };
        TantivyIndex::with_index(index, fields, Some(dir.to_owned()), identity, true)
    }

    /// Opens the index in `dir` to read only (status, while a server holds
    /// the writer's lock); applying changes to it is an error.
    pub fn open_to_read(dir: &Path) -> Result<TantivyIndex, SearchError> {
        let (schema, fields) = schema();
        let missing = || SearchError::Index(format!("no search index in {}", dir.display()));
        if !dir.is_dir() {
            return Err(missing());
        }
        let directory = tantivy::directory::MmapDirectory::open(dir).map_err(index_error)?;
        if !Index::exists(&directory).map_err(index_error)? {
            return Err(missing());
        }
        let index = Index::open(directory).map_err(index_error)?;
        if index.schema() != schema {
            return Err(SearchError::SchemaChanged(dir.display().to_string()));
        }
        // An index without its id yet (the writer has not opened it since
        // ids were kept) is, to a reader, an index no outbox names.
        let identity = read_identity(dir)
            .ok()
            .flatten()
            .unwrap_or_else(new_identity);
        TantivyIndex::with_index(index, fields, Some(dir.to_owned()), identity, false)
    }

    /// Deletes the index in `dir` and creates an empty one with the same
    /// id: still this node's index, to be rebuilt (an index of an older
    /// schema is recreated so), not an index of another node.
    pub fn recreate(dir: &Path) -> Result<TantivyIndex, SearchError> {
        let identity = read_identity(dir).ok().flatten();
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(index_error)?;
        }
        if let Some(identity) = identity {
            std::fs::create_dir_all(dir).map_err(index_error)?;
            write_identity(dir, &identity)?;
        }
        let index = TantivyIndex::open(dir)?;
        index.set_incomplete(true)?;
        Ok(index)
    }

    /// Whether the index is marked as not holding every document of what
    /// it applied: created empty over a database that may hold rows, or
    /// cleared by a rebuild that has not finished. Kept in its directory
    /// (`civitas-index-incomplete`), so a node killed during a rebuild
    /// still knows when it starts again.
    pub fn is_incomplete(&self) -> bool {
        self.inner
            .incomplete
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Marks the index (not) complete ([`TantivyIndex::is_incomplete`]).
    pub fn set_incomplete(&self, incomplete: bool) -> Result<(), SearchError> {
        if let Some(dir) = &self.inner.dir {
            let marker = dir.join(INCOMPLETE_FILE);
            if incomplete {
                std::fs::write(&marker, b"").map_err(index_error)?;
            } else {
                match std::fs::remove_file(&marker) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(index_error(e)),
                }
            }
        }
        self.inner
            .incomplete
            .store(incomplete, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// How far into the database's search outbox this index holds
    /// ([`AppliedMark`]): the count of entries its backend had applied when
    /// this index last applied a batch or was rebuilt, and that batch's
    /// token (`None` when it has not yet said). An index that holds the
    /// outbox but whose mark is below the count the database records
    /// missed what another process applied under its id — a copy of its
    /// directory — and must not apply on top of that; one whose batch the
    /// database does not know holds changes the database lost.
    /// Kept in its directory (`civitas-index-applied`); written before the
    /// index applies the batch it names and before the database counts it,
    /// so it never leaves out a batch the index holds (it may name one the
    /// index holds only part of: that batch is then judged by whether its
    /// entries all still wait in the outbox).
    pub fn applied_mark(&self) -> Option<AppliedMark> {
        self.inner
            .applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The applied mark as its file holds it now: another process (the
    /// server, while a command opened the index to read) may have written
    /// it since this one read it. A file that does not parse is an error
    /// ([`SearchError::Stored`]).
    pub fn read_applied_mark(&self) -> Result<Option<AppliedMark>, SearchError> {
        match &self.inner.dir {
            None => Ok(self.applied_mark()),
            Some(dir) => read_applied(dir).map_err(|reason| SearchError::Stored {
                id: APPLIED_FILE.to_owned(),
                reason,
            }),
        }
    }

    /// Records the applied mark ([`TantivyIndex::applied_mark`]): written
    /// aside, flushed to disk, then renamed (and the rename flushed), so a
    /// crash leaves the former mark whole.
    pub fn set_applied_mark(&self, mark: &AppliedMark) -> Result<(), SearchError> {
        let line = mark.to_line()?;
        if let Some(dir) = &self.inner.dir {
            use std::io::Write as _;
            let aside = dir.join(format!("{APPLIED_FILE}.new"));
            let mut file = std::fs::File::create(&aside).map_err(index_error)?;
            file.write_all(line.as_bytes()).map_err(index_error)?;
            file.sync_all().map_err(index_error)?;
            std::fs::rename(&aside, dir.join(APPLIED_FILE)).map_err(index_error)?;
            // The rename itself made durable: a mark lost to a power cut
            // would make the holder look behind (a needless rebuild).
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(index_error)?;
        }
        *self
            .inner
            .applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(mark.clone());
        Ok(())
    }

    /// An index in memory (tests, benchmarks).
    pub fn in_memory() -> Result<TantivyIndex, SearchError> {
        let (schema, fields) = schema();
        let index = Index::builder()
            .schema(schema)
            .settings(settings())
            .create_in_ram()
            .map_err(index_error)?;
        TantivyIndex::with_index(index, fields, None, new_identity(), true)
    }

    /// Which index this is: an id made when the index was created, kept in
    /// its directory beside tantivy's files (`civitas-index-id`), kept by
    /// [`TantivyIndex::recreate`], new when the directory is. The outbox's
    /// holder is named by it (one embedded index per database).
    pub fn identity(&self) -> &str {
        &self.inner.identity
    }

    fn with_index(
        index: Index,
        fields: Fields,
        dir: Option<PathBuf>,
        identity: String,
        writable: bool,
    ) -> Result<TantivyIndex, SearchError> {
        let analyzer = Analyzer::shared();
        index.tokenizers().register(
            TOKENIZER,
            tantivy::tokenizer::TextAnalyzer::from(CivitasTokenizer {
                analyzer: analyzer.clone(),
            }),
        );
        let writer = if writable {
            Some(Mutex::new(Some(
                index.writer(WRITER_HEAP).map_err(index_error)?,
            )))
        } else {
            None
        };
        // Derived per segment by the reader's warmers on every reload
        // (`per_segment.rs`).
        let date_maxima = Arc::new(DateMaxima::of_field("date"));
        let tally_slots = Arc::new(TallySlots::of_fields("status", "tenant"));
        let warmers: [Arc<dyn tantivy::Warmer>; 2] = [date_maxima.clone(), tally_slots.clone()];
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .warmers(warmers.iter().map(Arc::downgrade).collect())
            .try_into()
            .map_err(index_error)?;
        let mut incomplete = dir
            .as_ref()
            .is_some_and(|d| d.join(INCOMPLETE_FILE).exists());
        let applied = match dir.as_deref().map(read_applied) {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(applied))) => Some(applied),
            // Derived data: a mark that cannot be read says nothing of
            // what the index holds, so it is rebuilt before it applies.
            Some(Err(e)) => {
                tracing::warn!(error = %e, "检索索引的进度标记无法读取，索引将重建 (the search index's applied mark cannot be read: the index will be rebuilt)");
                incomplete = true;
                None
            }
        };
        Ok(TantivyIndex {
            inner: Arc::new(Inner {
                reader,
                writer,
                index,
                fields,
                analyzer,
                incomplete: std::sync::atomic::AtomicBool::new(incomplete),
                applied: Mutex::new(applied),
                dir,
                identity,
                date_maxima,
                tally_slots,
            }),
        })
    }

    /// Applies changes and commits (see [`crate::Engine::apply`]).
    pub async fn apply(&self, changes: Vec<Change>) -> Result<(), SearchError> {
        let this = self.clone();
        blocking(move || this.apply_now(changes)).await
    }

    /// The same, on the calling thread.
    pub fn apply_now(&self, changes: Vec<Change>) -> Result<(), SearchError> {
        self.write_now(changes, true)?;
        self.inner.reader.reload().map_err(index_error)
    }

    /// Writes changes without committing them (see
    /// [`crate::Engine::stage`]).
    pub async fn stage(&self, changes: Vec<Change>) -> Result<(), SearchError> {
        let this = self.clone();
        blocking(move || this.stage_now(changes)).await
    }

    /// The same, on the calling thread.
    pub fn stage_now(&self, changes: Vec<Change>) -> Result<(), SearchError> {
        self.write_now(changes, false)
    }

    /// Writes changes under the writer's lock, and commits them when
    /// `commit`.
    fn write_now(&self, changes: Vec<Change>, commit: bool) -> Result<(), SearchError> {
        let mut guard = self.inner.writer()?;
        let writer = guard.as_mut().ok_or_else(no_writer)?;
        write(writer, &self.inner.fields, changes)?;
        if commit {
            writer.commit().map_err(index_error)?;
        }
        Ok(())
    }

    /// Commits what is staged and waits for the merges of segments in
    /// progress (see [`crate::Engine::settle`]).
    pub async fn settle(&self) -> Result<(), SearchError> {
        let this = self.clone();
        blocking(move || this.settle_now()).await
    }

    /// The same, on the calling thread.
    ///
    /// Changes wait meanwhile (the writer's lock is held throughout).
    pub fn settle_now(&self) -> Result<(), SearchError> {
        let mut guard = self.inner.writer()?;
        let mut writer = guard.take().ok_or_else(no_writer)?;
        // Staged changes first: giving the writer up drops what it has not
        // committed. A failed commit keeps the writer (and what it holds).
        if let Err(e) = writer.commit() {
            *guard = Some(writer);
            return Err(index_error(e));
        }
        // tantivy waits for merges only by giving the writer up; a new one
        // takes its place (the directory's lock is released in between).
        let waited = writer.wait_merging_threads();
        *guard = Some(self.inner.index.writer(WRITER_HEAP).map_err(index_error)?);
        drop(guard);
        waited.map_err(index_error)?;
        self.inner.reader.reload().map_err(index_error)
    }

    /// Deletes a subtree's documents, or all (see [`crate::Engine::clear`]).
    pub async fn clear(&self, tenant: Option<&TenantPath>) -> Result<(), SearchError> {
        let this = self.clone();
        let tenant = tenant.cloned();
        blocking(move || {
            let inner = &this.inner;
            let mut guard = inner.writer()?;
            let writer = guard.as_mut().ok_or_else(no_writer)?;
            match &tenant {
                Some(t) => {
                    writer.delete_term(Term::from_field_text(inner.fields.places, t.as_str()));
                }
                None => {
                    writer.delete_all_documents().map_err(index_error)?;
                }
            }
            writer.commit().map_err(index_error)?;
            drop(guard);
            inner.reader.reload().map_err(index_error)
        })
        .await
    }

    /// Documents by kind.
    pub async fn counts(&self) -> Result<Counts, SearchError> {
        let this = self.clone();
        blocking(move || {
            let searcher = this.inner.reader.searcher();
            let mut counts = Counts {
                total: searcher.num_docs(),
                ..Counts::default()
            };
            for kind in Kind::ALL {
                let query = TermQuery::new(
                    Term::from_field_text(this.inner.fields.kind, kind.as_str()),
                    IndexRecordOption::Basic,
                );
                let n = searcher.search(&query, &Count).map_err(index_error)?;
                counts.by_kind.insert(kind.as_str().to_owned(), n as u64);
            }
            Ok(counts)
        })
        .await
    }

    /// Searches (see [`crate::Engine::search`]).
    pub async fn search(&self, reach: &Reach, query: &Query) -> Result<Results, SearchError> {
        let this = self.clone();
        let reach = reach.clone();
        let query = query.clone();
        blocking(move || this.search_now(&reach, &query)).await
    }

    /// The same, on the calling thread (benchmarks).
    pub fn search_now(&self, reach: &Reach, query: &Query) -> Result<Results, SearchError> {
        query.check()?;
        let reach = reach.of_kinds(&query.kinds);
        if reach.is_empty() {
            return Ok(Results::default());
        }
        let inner = &self.inner;
        let f = inner.fields;
        let searcher = inner.reader.searcher();
        let (clauses, highlight_terms, ranked) = self.text_clauses(query);
        // The filters score nothing: relevance is the text's alone.
        let mut filters: Clauses = Vec::new();
        let scope: Vec<Term> = reach
            .terms()
            .into_iter()
            .map(|t| Term::from_field_text(f.scope, &t))
            .collect();
        // A reach term every document of the index carries (a city
        // administrator's, on an index of the city's cases) filters
        // nothing: leaving it out lets a one-word query keep tantivy's
        // pruning top-k instead of visiting every match.
        let stored: u64 = searcher
            .segment_readers()
            .iter()
            .map(|r| u64::from(r.max_doc()))
            .sum();
        let mut covers_all = false;
        for term in &scope {
            if stored > 0 && searcher.doc_freq(term).map_err(index_error)? == stored {
                covers_all = true;
            }
        }
        if !covers_all {
            // Term queries, not a term set: a term set reads every posting
            // into a bitset, where a posting list is skipped through by the
            // rarer side of the intersection.
            let filter: Box<dyn TantivyQuery> = if scope.len() == 1 {
                Box::new(TermQuery::new(scope[0].clone(), IndexRecordOption::Basic))
            } else if scope.len() <= 64 {
                Box::new(BooleanQuery::new(
                    scope
                        .iter()
                        .map(|t| {
                            (
                                Occur::Should,
                                Box::new(TermQuery::new(t.clone(), IndexRecordOption::Basic))
                                    as Box<dyn TantivyQuery>,
                            )
                        })
                        .collect(),
                ))
            } else {
                Box::new(TermSetQuery::new(scope))
            };
            filters.push((Occur::Must, filter));
        }
        let exact = |field: Field, value: &str| -> (Occur, Box<dyn TantivyQuery>) {
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(field, value),
                    IndexRecordOption::Basic,
                )),
            )
        };
        if let Some(within) = &query.within {
            filters.push(exact(f.places, within.as_str()));
        }
        if let Some(line) = &query.line {
            filters.push(exact(f.line, line));
        }
        if let Some(status) = &query.status {
            filters.push(exact(f.status, status));
        }
        if let Some(service) = &query.service {
            filters.push(exact(f.service, service));
        }
        if query.from.is_some() || query.to.is_some() {
            let lower = query.from.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_i64(f.date, v))
            });
            let upper = query.to.map_or(Bound::Unbounded, |v| {
                Bound::Excluded(Term::from_field_i64(f.date, v))
            });
            filters.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
        }
        // The page and the counts are two passes. The page is found
        // without visiting every match: words by relevance with tantivy's
        // pruning top-k, phrases and filters alone newest first by reading
        // blocks of documents by their newest date (`newest_first`). The
        // counts visit every match but score none (no frequencies or
        // positions read): one pass doing both would score every match.
        let counted: Option<Vec<Box<dyn TantivyQuery>>> = query.exhaustive.then(|| {
            clauses
                .iter()
                .chain(&filters)
                .map(|(_, q)| q.box_clone())
                .collect()
        });
        let addresses: Vec<DocAddress> = if ranked {
            let top = TopDocs::with_limit(query.limit).and_offset(query.offset);
            searcher
                .search(combined(clauses, filters).as_ref(), &top.order_by_score())
                .map_err(index_error)?
                .into_iter()
                .map(|(_, a)| a)
                .collect()
        } else {
            let conjunction: Vec<Box<dyn TantivyQuery>> =
                clauses.into_iter().chain(filters).map(|(_, q)| q).collect();
            newest_first(
                &searcher,
                &conjunction,
                query.offset + query.limit,
                &inner.date_maxima,
            )
            .map_err(index_error)?
            .into_iter()
            .skip(query.offset)
            .collect()
        };
        let (total, facets) = match counted {
            Some(conjunction) => {
                let tally = Tally {
                    slots: &inner.tally_slots,
                };
                let tallied =
                    tally_conjunction(&searcher, conjunction, &tally).map_err(index_error)?;
                let parent = query.facet_parent.as_ref().map(TenantPath::as_str);
                let facets = Facets {
                    places: tallied.places_below(parent),
                    status: tallied.statuses,
                };
                (tallied.total, facets)
            }
            None => (addresses.len() as u64, Facets::default()),
        };
        let no_terms = BTreeSet::new();
        let highlight_terms = if query.highlight {
            &highlight_terms
        } else {
            &no_terms
        };
        let hits = addresses
            .into_iter()
            .map(|address| self.hit(&searcher, address, highlight_terms))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Results {
            total,
            hits,
            facets,
        })
    }

    /// One Must clause per word and phrase; the set of query terms to
    /// highlight; whether there are words to rank by (a query of phrases
    /// only matches exactly and is ordered newest first, as a query
    /// without text is).
    fn text_clauses(&self, query: &Query) -> (Clauses, BTreeSet<String>, bool) {
        let f = self.inner.fields;
        let mut clauses: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        let mut highlight = BTreeSet::new();
        let mut ranked = false;
        let any_field = |term: &str| -> Box<dyn TantivyQuery> {
            Box::new(TermQuery::new(
                Term::from_field_text(f.text, term),
                IndexRecordOption::WithFreqs,
            ))
        };
        for part in query.parts() {
            match part {
                Part::Words(text) => {
                    for term in self.inner.analyzer.query_terms(&text) {
                        ranked = true;
                        clauses.push((Occur::Must, any_field(&term.text)));
                        highlight.insert(term.text);
                    }
                }
                Part::Phrase(text) => {
                    let terms = self.inner.analyzer.query_terms(&text);
                    if terms.len() == 1 {
                        clauses.push((Occur::Must, any_field(&terms[0].text)));
                    } else if terms.len() > 1 {
                        // Values of a field are a position apart, so a
                        // phrase never spans the title and the body.
                        clauses.push((
                            Occur::Must,
                            Box::new(PhraseQuery::new_with_offset(
                                terms
                                    .iter()
                                    .enumerate()
                                    .map(|(i, t)| (i, Term::from_field_text(f.text, &t.text)))
                                    .collect(),
                            )),
                        ));
                    }
                    highlight.extend(terms.into_iter().map(|t| t.text));
                }
            }
        }
        (clauses, highlight, ranked)
    }

    fn hit(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        terms: &BTreeSet<String>,
    ) -> Result<Hit, SearchError> {
        let f = self.inner.fields;
        let doc: TantivyDocument = searcher.doc(address).map_err(index_error)?;
        let text = |field: Field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let id = text(f.id).ok_or_else(|| SearchError::Stored {
            id: format!("{address:?}"),
            reason: "no id".into(),
        })?;
        let stored = |reason: &str| SearchError::Stored {
            id: id.clone(),
            reason: reason.to_owned(),
        };
        let kind = text(f.kind)
            .as_deref()
            .and_then(Kind::parse)
            .ok_or_else(|| stored("kind"))?;
        let title = text(f.title).ok_or_else(|| stored("title"))?;
        let bodies: Vec<String> = doc
            .get_all(f.body)
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let highlights = highlights(&self.inner.analyzer, terms, &title, &bodies);
        Ok(Hit {
            kind,
            tenant: text(f.tenant).ok_or_else(|| stored("tenant"))?,
            line: text(f.line).ok_or_else(|| stored("line"))?,
            title,
            status: text(f.status).filter(|s| !s.is_empty()),
            service: text(f.service).filter(|s| !s.is_empty()),
            date: doc
                .get_first(f.date)
                .and_then(|v| v.as_i64())
                .ok_or_else(|| stored("date"))?,
            highlights,
            id,
        })
    }
}

/// The text's clauses and the filters as one query: one word with nothing
/// to filter is the word's own query (so top-k pruning applies); filters
/// score nothing (relevance is the text's alone).
fn combined(mut clauses: Clauses, filters: Clauses) -> Box<dyn TantivyQuery> {
    if filters.is_empty() && clauses.len() == 1 {
        return clauses.remove(0).1;
    }
    if !filters.is_empty() {
        clauses.push((
            Occur::Must,
            Box::new(ConstScoreQuery::new(
                Box::new(BooleanQuery::new(filters)),
                0.0,
            )),
        ));
    }
    if clauses.is_empty() {
        Box::new(tantivy::query::AllQuery)
    } else {
        Box::new(BooleanQuery::new(clauses))
    }
}

/// Writes `changes` to `writer`, uncommitted.
fn write(
    writer: &mut IndexWriter<TantivyDocument>,
    f: &Fields,
    changes: Vec<Change>,
) -> Result<(), SearchError> {
    for change in changes {
        match change {
            Change::Delete(id) => {
                writer.delete_term(Term::from_field_text(f.id, &id));
            }
            Change::Upsert(document) => {
                writer.delete_term(Term::from_field_text(f.id, &document.id));
                writer
                    .add_document(to_tantivy(f, &document))
                    .map_err(index_error)?;
            }
            Change::Add(document) => {
                writer
                    .add_document(to_tantivy(f, &document))
                    .map_err(index_error)?;
            }
        }
    }
    Ok(())
}

fn to_tantivy(f: &Fields, d: &Document) -> TantivyDocument {
    // Title, body and keywords go in twice (stored, and searched as one
    // field): room for them and the short fields up front, so the
    // document's buffer is not grown by copying as fields are added.
    let text: usize = d.title.len()
        + d.body.iter().map(String::len).sum::<usize>()
        + d.keywords.iter().map(String::len).sum::<usize>();
    let mut doc = TantivyDocument::with_capacity(2 * text + 1024);
    doc.add_text(f.id, &d.id);
    doc.add_text(f.kind, d.kind.as_str());
    d.each_scope_term(|term| doc.add_text(f.scope, term));
    for place in d.each_place() {
        doc.add_text(f.places, place);
    }
    doc.add_text(f.tenant, d.tenant.as_str());
    doc.add_text(f.line, &d.line);
    if let Some(status) = &d.status {
        doc.add_text(f.status, status);
    }
    if let Some(service) = &d.service {
        doc.add_text(f.service, service);
    }
    doc.add_text(f.title, &d.title);
    doc.add_text(f.text, &d.title);
    for body in &d.body {
        doc.add_text(f.body, body);
        doc.add_text(f.text, body);
    }
    for keyword in &d.keywords {
        doc.add_text(f.text, keyword);
    }
    doc.add_i64(f.date, d.date);
    doc
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SearchError> + Send + 'static,
) -> Result<T, SearchError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SearchError::Index(format!("search task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Case `n` of `tenant`, titled `title`, dated `date`, with `status`.
    fn case(n: u32, tenant: &str, title: String, status: Option<&str>, date: i64) -> Document {
        Document {
            id: format!("case:{n}"),
            kind: Kind::Case,
            tenant: TenantPath::parse(tenant).unwrap_or_else(|e| panic!("{e}")),
            line: "civil-affairs".into(),
            title,
            body: Vec::new(),
            keywords: Vec::new(),
            status: status.map(str::to_owned),
            service: None,
            owner: None,
            public: false,
            date,
        }
    }

    /// The applied mark survives the node: its count and both tokens are
    /// read back as written, a mark from before tokens is a count alone,
    /// and a file that says anything else is not taken for a mark.
    #[test]
    fn an_applied_mark_is_read_back_as_it_was_written() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let marks = [
            AppliedMark {
                applied: 12,
                batch: Some("b-2".into()),
                after: Some("b-1".into()),
                entries: Some("4-12:abc".into()),
            },
            AppliedMark {
                applied: 3,
                batch: Some("b-1".into()),
                after: None,
                entries: None,
            },
            AppliedMark::default(),
        ];
        for mark in marks {
            let index = TantivyIndex::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
            index
                .set_applied_mark(&mark)
                .unwrap_or_else(|e| panic!("{e}"));
            drop(index);
            let again = TantivyIndex::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(again.applied_mark(), Some(mark));
            assert!(!again.is_incomplete());
        }
        std::fs::write(dir.path().join(APPLIED_FILE), "7\n").unwrap_or_else(|e| panic!("{e}"));
        let before_tokens = TantivyIndex::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            before_tokens.applied_mark(),
            Some(AppliedMark {
                applied: 7,
                ..AppliedMark::default()
            })
        );
        drop(before_tokens);
        for bad in ["7 b-2\n", "7 b-2 b-1\n", "seven - - -\n", ""] {
            std::fs::write(dir.path().join(APPLIED_FILE), bad).unwrap_or_else(|e| panic!("{e}"));
            let unreadable = TantivyIndex::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(unreadable.applied_mark(), None, "{bad:?}");
            assert!(
                unreadable.is_incomplete(),
                "{bad:?}: rebuilt before it applies"
            );
            drop(unreadable);
        }
        let index = TantivyIndex::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let spaced = AppliedMark {
            applied: 1,
            batch: Some("two words".into()),
            after: None,
            entries: None,
        };
        assert!(index.set_applied_mark(&spaced).is_err());
    }

    /// Settling waits for the merges the commits started, and the index
    /// stays writable and searchable after it.
    #[test]
    fn settling_waits_for_merges_and_the_index_stays_writable() {
        let index = TantivyIndex::in_memory().unwrap_or_else(|e| panic!("{e}"));
        let document = |n: u32| {
            let title = format!("助餐补贴申请 {n}");
            case(
                n,
                "310000/310115",
                title,
                Some("open"),
                1_780_000_000 + i64::from(n),
            )
        };
        // One commit, so one segment, each: the eighth starts a merge of
        // all eight (tantivy's default policy), which settling waits for.
        for n in 0..8 {
            index
                .apply_now(vec![Change::Add(Box::new(document(n)))])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        index.settle_now().unwrap_or_else(|e| panic!("{e}"));
        let segments = index.inner.reader.searcher().segment_readers().len();
        assert_eq!(segments, 1, "segments after settling");
        index
            .apply_now(vec![Change::Add(Box::new(document(8)))])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(index.inner.reader.searcher().num_docs(), 9);
    }

    /// Staged changes are neither searchable nor durable until settling
    /// commits them; applying commits them too.
    #[test]
    fn staged_changes_are_searchable_once_settled_or_applied() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let document = |n: u32| case(n, "310000/310115", format!("助餐补贴申请 {n}"), None, 0);
        let index = TantivyIndex::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let stage = |n: u32| {
            index
                .stage_now(vec![Change::Add(Box::new(document(n)))])
                .unwrap_or_else(|e| panic!("{e}"))
        };
        stage(1);
        stage(2);
        assert_eq!(index.inner.reader.searcher().num_docs(), 0, "staged");
        index.settle_now().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(index.inner.reader.searcher().num_docs(), 2, "settled");
        stage(3);
        index
            .apply_now(vec![Change::Add(Box::new(document(4)))])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(index.inner.reader.searcher().num_docs(), 4, "applied");
        // What was committed is on disk: another opening reads it.
        drop(index);
        let reopened = TantivyIndex::open_to_read(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reopened.inner.reader.searcher().num_docs(), 4, "reopened");
    }

    /// Counts follow the index as it changes: documents of a segment with
    /// no status column count in the total and by place only; counting
    /// again after more commits and after deletions gives the new counts;
    /// no status or place is counted that no match has.
    #[test]
    fn counts_follow_segments_written_and_deleted_after_the_first_count() {
        let index = TantivyIndex::in_memory().unwrap_or_else(|e| panic!("{e}"));
        let city = TenantPath::parse("310000").unwrap_or_else(|e| panic!("{e}"));
        let reach = Reach::new([crate::ReachEntry::Subtree {
            kind: Kind::Case,
            root: city.clone(),
            line: "*".into(),
        }]);
        let pudong = "310000/310115/310115005";
        let huangpu = "310000/310101/310101002";
        let count = || {
            let query = Query {
                text: "补贴".into(),
                exhaustive: true,
                facet_parent: Some(city.clone()),
                ..Query::default()
            };
            let results = index
                .search_now(&reach, &query)
                .unwrap_or_else(|e| panic!("{e}"));
            (results.total, results.facets)
        };
        let map = |pairs: &[(&str, u64)]| -> std::collections::BTreeMap<String, u64> {
            pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
        };
        let add = |n: u32, tenant: &str, title: &str, status: Option<&str>| {
            Change::Add(Box::new(case(
                n,
                tenant,
                title.into(),
                status,
                1_780_000_000 + i64::from(n),
            )))
        };
        // A first segment without any status.
        index
            .apply_now(vec![
                add(0, pudong, "助餐补贴", None),
                add(1, huangpu, "助餐补贴", None),
                add(2, huangpu, "养老服务", None),
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        let (total, facets) = count();
        assert_eq!(total, 2);
        assert_eq!(facets.status, map(&[]));
        assert_eq!(
            facets.places,
            map(&[("310000/310101", 1), ("310000/310115", 1)])
        );
        // A second segment, with statuses.
        index
            .apply_now(vec![
                add(3, pudong, "助餐补贴", Some("approved")),
                add(4, pudong, "助餐补贴", Some("submitted")),
                add(5, pudong, "养老服务", Some("rejected")),
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        let (total, facets) = count();
        assert_eq!(total, 4);
        assert_eq!(facets.status, map(&[("approved", 1), ("submitted", 1)]));
        assert_eq!(
            facets.places,
            map(&[("310000/310101", 1), ("310000/310115", 3)])
        );
        // Deletions in both, and a third segment.
        index
            .apply_now(vec![
                Change::Delete("case:0".into()),
                Change::Delete("case:3".into()),
                add(6, huangpu, "助餐补贴", Some("submitted")),
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        let (total, facets) = count();
        assert_eq!(total, 3);
        assert_eq!(facets.status, map(&[("submitted", 2)]));
        assert_eq!(
            facets.places,
            map(&[("310000/310101", 2), ("310000/310115", 1)])
        );
        // A segment of 300 matches — two full blocks of a posting list and
        // a tail — with 128 approved (a list of exactly one block), then
        // every seventh deleted.
        let status = |n: u32| if n < 228 { "approved" } else { "submitted" };
        index
            .apply_now(
                (100..400u32)
                    .map(|n| add(n, pudong, "助餐补贴", Some(status(n))))
                    .collect(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let (total, facets) = count();
        assert_eq!(total, 303);
        assert_eq!(facets.status, map(&[("approved", 128), ("submitted", 174)]));
        index
            .apply_now(
                (100..400u32)
                    .filter(|n| n % 7 == 0)
                    .map(|n| Change::Delete(format!("case:{n}")))
                    .collect(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let kept = |wanted: &str| {
            (100..400u32)
                .filter(|n| n % 7 != 0 && status(*n) == wanted)
                .count() as u64
        };
        let (total, facets) = count();
        assert_eq!(total, 3 + kept("approved") + kept("submitted"));
        assert_eq!(
            facets.status,
            map(&[
                ("approved", kept("approved")),
                ("submitted", kept("submitted") + 2)
            ])
        );
        assert_eq!(
            facets.places,
            map(&[
                ("310000/310101", 2),
                ("310000/310115", 1 + kept("approved") + kept("submitted"))
            ])
        );
        // A status alone (no words): one term, read a block at a time.
        let approved = index
            .search_now(
                &reach,
                &Query {
                    status: Some("approved".into()),
                    exhaustive: true,
                    facet_parent: Some(city.clone()),
                    ..Query::default()
                },
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(approved.total, kept("approved"));
    }

    /// Counting every match is a pass of its own: the page (its hits and
    /// their order) is the one an uncounted query returns, and the total
    /// and the facets are those of every match, whether words rank the
    /// page by relevance or a phrase orders it newest first.
    #[test]
    fn counting_every_match_changes_no_page_and_counts_every_match() {
        const WORDS: [&str; 6] = ["补贴", "食堂", "申请", "老人", "街道", "社区"];
        const STATUSES: [&str; 3] = ["submitted", "approved", "rejected"];
        const STREETS: [&str; 3] = ["310115005", "310115007", "310101002"];
        let mut seed = 7u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let index = TantivyIndex::in_memory().unwrap_or_else(|e| panic!("{e}"));
        let analyzer = Analyzer::shared();
        let mut documents = Vec::new();
        for n in 0..400u32 {
            let mut words: Vec<&str> = (0..1 + next(5)).map(|_| WORDS[next(WORDS.len())]).collect();
            // A rare word: beside a common one, the intersection is read
            // as tantivy reads it rather than as bitsets.
            if next(40) == 0 {
                words.push("医疗");
            }
            let street = STREETS[next(STREETS.len())];
            let district = &street[..6];
            // A document in ten without a status: counted, not by status.
            let status = (next(10) != 0).then(|| STATUSES[next(STATUSES.len())]);
            let date = 1_780_000_000 + next(1000) as i64;
            let tenant = format!("310000/{district}/{street}");
            documents.push(case(n, &tenant, words.join("，"), status, date));
        }
        // Several segments, one of them with deletions.
        for (i, batch) in documents.chunks(90).enumerate() {
            let mut changes: Vec<Change> = batch
                .iter()
                .map(|d| Change::Upsert(Box::new(d.clone())))
                .collect();
            // Deletions in the segments written before.
            changes.extend(
                (0..i * 90)
                    .filter(|n| n % 7 == 3)
                    .map(|n| Change::Delete(format!("case:{n}"))),
            );
            index.apply_now(changes).unwrap_or_else(|e| panic!("{e}"));
        }
        let written = documents.len().div_ceil(90) - 1;
        documents.retain(|d| {
            let n: usize = d.id["case:".len()..].parse().unwrap_or(usize::MAX);
            n >= written * 90 || n % 7 != 3
        });
        let city = TenantPath::parse("310000").unwrap_or_else(|e| panic!("{e}"));
        let district = TenantPath::parse("310000/310115").unwrap_or_else(|e| panic!("{e}"));
        let texts = [
            // Filters alone: every document, or one term (a district's
            // reach, a status) read a block at a time.
            "",
            "补贴",
            "食堂",
            "补贴 申请",
            "老人 街道",
            "补贴 医疗",
            "\"补贴申请\"",
            "\"食堂\" 社区",
        ];
        // A city-wide reach filters nothing; a district's is a clause, and
        // so is a status.
        let cases = [
            (&city, None),
            (&district, None),
            (&city, Some("approved")),
            (&district, Some("submitted")),
        ];
        for (root, status) in cases {
            let reach = Reach::new([crate::ReachEntry::Subtree {
                kind: Kind::Case,
                root: root.clone(),
                line: "*".into(),
            }]);
            for text in texts {
                let words: Vec<String> = text
                    .split(' ')
                    .filter(|w| !w.is_empty())
                    .map(|w| w.trim_matches('"').to_owned())
                    .collect();
                let matching: Vec<&Document> = documents
                    .iter()
                    .filter(|d| {
                        let terms = analyzer.index_terms(&d.title);
                        let title: String = terms.iter().map(|t| t.text.as_str()).collect();
                        d.tenant.is_within(root)
                            && (status.is_none() || d.status.as_deref() == status)
                            && words.iter().all(|w| {
                                terms.iter().any(|t| &t.text == w)
                                    || w.chars().count() > 2 && title.contains(w.as_str())
                            })
                    })
                    .collect();
                let case = format!("{text} in {root} with status {status:?}");
                for offset in [0, 7, 30] {
                    let query = |exhaustive| Query {
                        text: text.into(),
                        status: status.map(str::to_owned),
                        offset,
                        limit: 7,
                        exhaustive,
                        // Places counted by district: the city's children.
                        facet_parent: Some(city.clone()),
                        ..Query::default()
                    };
                    let counted = index
                        .search_now(&reach, &query(true))
                        .unwrap_or_else(|e| panic!("{e}"));
                    let uncounted = index
                        .search_now(&reach, &query(false))
                        .unwrap_or_else(|e| panic!("{e}"));
                    let ids = |r: &Results| r.hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>();
                    assert_eq!(ids(&counted), ids(&uncounted), "{case} at {offset}");
                    assert_eq!(counted.total, matching.len() as u64, "{case}: total");
                    for status in STATUSES {
                        let expected = matching
                            .iter()
                            .filter(|d| d.status.as_deref() == Some(status))
                            .count();
                        assert_eq!(
                            counted.facets.status.get(status).copied().unwrap_or(0),
                            expected as u64,
                            "{case}: {status}"
                        );
                    }
                    for place in ["310000/310115", "310000/310101"] {
                        let expected = matching
                            .iter()
                            .filter(|d| d.tenant.as_str().starts_with(place))
                            .count();
                        assert_eq!(
                            counted.facets.places.get(place).copied().unwrap_or(0),
                            expected as u64,
                            "{case}: {place}"
                        );
                    }
                }
            }
        }
    }

    /// The tokenizer reuses one token's buffer; what it hands tantivy is
    /// still exactly the analyzer's index terms, term by term.
    #[test]
    fn the_tokenizer_streams_the_analyzers_index_terms() {
        let analyzer = Analyzer::shared();
        let mut tokenizer = CivitasTokenizer {
            analyzer: analyzer.clone(),
        };
        for text in [
            "",
            "社区长者食堂助餐补贴申请，申请人张伟（浦东新区陆家嘴街道）。",
            "Ｃ-2026-000123 zhang.wei 2026年申请　ＡＢｃ",
            "长者食堂助餐补贴；\r\n失能老人居家照护补贴！",
        ] {
            let expected = analyzer.index_terms(text);
            let mut stream = tokenizer.token_stream(text);
            let mut streamed = Vec::new();
            while stream.advance() {
                let token = stream.token();
                streamed.push(crate::analyzer::Term {
                    text: token.text.clone(),
                    position: token.position,
                    start: token.offset_from,
                    end: token.offset_to,
                });
            }
            assert_eq!(streamed, expected, "{text:?}");
        }
    }
}
