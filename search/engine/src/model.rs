//! What is indexed, who may find it, what a query asks and what it answers.

use std::collections::BTreeMap;

use civitas_tenancy::{ALL_LINES, TenantPath};
use serde::{Deserialize, Serialize};

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A case (an application, a penalty case, a lead).
    Case,
    /// An account: staff, developer, service, citizen or enterprise.
    Account,
    /// A resident a tenant serves (name only).
    Resident,
    /// A service of the catalog, as the public sees it.
    Service,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [Kind::Case, Kind::Account, Kind::Resident, Kind::Service];

    /// Its name in ids, filters and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Case => "case",
            Kind::Account => "account",
            Kind::Resident => "resident",
            Kind::Service => "service",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A document to index. Its id is unique across kinds (the indexer prefixes
/// the row's id with the kind).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Unique id (`case:…`, `account:…`, `resident:…`, `service:…`).
    pub id: String,
    /// What it is.
    pub kind: Kind,
    /// The tenant that owns it.
    pub tenant: TenantPath,
    /// Its line (a case's or service's), or `-` for data of no line.
    pub line: String,
    /// The title shown in a hit: a case's title, a person's name, a
    /// service's name.
    pub title: String,
    /// Further text searched and highlighted (the searchable fields of a
    /// case's form, a service's description).
    pub body: Vec<String>,
    /// Terms searched but not shown: numbers, usernames, credit codes,
    /// pinyin keys.
    pub keywords: Vec<String>,
    /// A case's status (its state), an account's state.
    pub status: Option<String>,
    /// A case's service.
    pub service: Option<String>,
    /// The account that owns it as an applicant (a case it applied for), who
    /// may find it without a grant.
    pub owner: Option<String>,
    /// Whether anyone may find it in its tenant's lines (services).
    pub public: bool,
    /// When it was made (Unix seconds).
    pub date: i64,
}

impl Document {
    /// The `scope` terms a [`Reach`] is matched against: for every ancestor
    /// of its tenant (itself included) `kind:ancestor|line` and
    /// `kind:ancestor|*`; `kind@owner` for its applicant; and the same with
    /// `!` for a public document.
    pub fn scope_terms(&self) -> Vec<String> {
        let mut terms = Vec::new();
        self.each_scope_term(|term| terms.push(term.to_owned()));
        terms
    }

    /// Calls `f` with each of [`Document::scope_terms`], written into one
    /// buffer (indexing a million documents allocates no string per term).
    pub(crate) fn each_scope_term(&self, mut f: impl FnMut(&str)) {
        use std::fmt::Write as _;
        let kind = self.kind.as_str();
        let mut term = String::with_capacity(64);
        let marks: &[char] = if self.public { &[':', '!'] } else { &[':'] };
        for ancestor in self.each_place() {
            for mark in marks {
                for line in [self.line.as_str(), ALL_LINES] {
                    term.clear();
                    let _ = write!(term, "{kind}{mark}{ancestor}|{line}");
                    f(&term);
                }
            }
        }
        if let Some(owner) = &self.owner {
            term.clear();
            let _ = write!(term, "{kind}@{owner}");
            f(&term);
        }
    }

    /// The paths of its tenant and every ancestor (the `within` filter and
    /// the place facet).
    pub fn places(&self) -> Vec<String> {
        self.each_place().map(str::to_owned).collect()
    }

    /// [`Document::places`], borrowed from its tenant's path: each
    /// ancestor's path is a prefix of it, up to a `/`.
    pub(crate) fn each_place(&self) -> impl Iterator<Item = &str> {
        let path = self.tenant.as_str();
        path.match_indices('/')
            .map(|(at, _)| &path[..at])
            .chain([path])
    }
}

/// One way a caller reaches documents.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReachEntry {
    /// Documents of `kind` in `root`'s subtree and `line` (`*`: every line)
    /// — what a grant gives.
    Subtree {
        /// What the grant lets the caller read.
        kind: Kind,
        /// The grant's tenant.
        root: TenantPath,
        /// The grant's line.
        line: String,
    },
    /// Documents of `kind` the account owns as an applicant.
    Own {
        /// What it owns.
        kind: Kind,
        /// The account id.
        account: String,
    },
    /// Public documents of `kind` in `root`'s subtree and `line`.
    Public {
        /// What is public.
        kind: Kind,
        /// Under which tenant.
        root: TenantPath,
        /// In which line (`*`: every line).
        line: String,
    },
}

impl ReachEntry {
    /// The `scope` term it matches (see [`Document::scope_terms`]).
    pub fn term(&self) -> String {
        match self {
            ReachEntry::Subtree { kind, root, line } => {
                format!("{}:{}|{line}", kind.as_str(), root.as_str())
            }
            ReachEntry::Own { kind, account } => format!("{}@{account}", kind.as_str()),
            ReachEntry::Public { kind, root, line } => {
                format!("{}!{}|{line}", kind.as_str(), root.as_str())
            }
        }
    }
}

/// Everything a caller may find: a hit must match one entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    entries: Vec<ReachEntry>,
}

impl Reach {
    /// A reach of `entries` (duplicates dropped; an entry inside another
    /// subtree entry of the same kind and line is kept — it costs one term).
    pub fn new(entries: impl IntoIterator<Item = ReachEntry>) -> Reach {
        let mut entries: Vec<ReachEntry> = entries.into_iter().collect();
        entries.sort();
        entries.dedup();
        Reach { entries }
    }

    /// Whether it reaches nothing (a query then answers nothing).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Its entries.
    pub fn entries(&self) -> &[ReachEntry] {
        &self.entries
    }

    /// The `scope` terms a document must have one of.
    pub fn terms(&self) -> Vec<String> {
        self.entries.iter().map(ReachEntry::term).collect()
    }

    /// Keeps only entries of `kinds` (all when empty).
    pub fn of_kinds(&self, kinds: &[Kind]) -> Reach {
        if kinds.is_empty() {
            return self.clone();
        }
        Reach {
            entries: self
                .entries
                .iter()
                .filter(|e| {
                    let kind = match e {
                        ReachEntry::Subtree { kind, .. }
                        | ReachEntry::Own { kind, .. }
                        | ReachEntry::Public { kind, .. } => kind,
                    };
                    kinds.contains(kind)
                })
                .cloned()
                .collect(),
        }
    }

    /// Whether a document is within it (what the query filter decides, in
    /// plain code: the tests' oracle).
    pub fn admits(&self, document: &Document) -> bool {
        let terms = document.scope_terms();
        self.entries.iter().any(|e| terms.contains(&e.term()))
    }
}

/// A search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// What was typed: words (all must match, in the title, body or
    /// keywords) and `"quoted phrases"`. Empty: every document the filters
    /// let through, newest first.
    pub text: String,
    /// Only these kinds (all when empty).
    pub kinds: Vec<Kind>,
    /// Only documents of this tenant's subtree.
    pub within: Option<TenantPath>,
    /// Only this line.
    pub line: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only this service.
    pub service: Option<String>,
    /// Only documents dated on or after (Unix seconds).
    pub from: Option<i64>,
    /// Only documents dated before (Unix seconds).
    pub to: Option<i64>,
    /// Places are counted one level below this tenant (by root when none).
    pub facet_parent: Option<TenantPath>,
    /// Hits to skip.
    pub offset: usize,
    /// Hits to return (at least 1).
    pub limit: usize,
    /// Count every match and facet them (`total`, `facets`); without it
    /// `total` is only the hits returned and the engine may stop early.
    pub exhaustive: bool,
    /// Highlight the matches in each hit.
    pub highlight: bool,
}

impl Default for Query {
    fn default() -> Query {
        Query {
            text: String::new(),
            kinds: Vec::new(),
            within: None,
            line: None,
            status: None,
            service: None,
            from: None,
            to: None,
            facet_parent: None,
            offset: 0,
            limit: 20,
            exhaustive: true,
            highlight: true,
        }
    }
}

/// A query's text split into words and phrases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Words(String),
    Phrase(String),
}

impl Query {
    /// Words outside quotes and phrases inside them, in order; an
    /// unmatched quote quotes to the end.
    pub(crate) fn parts(&self) -> Vec<Part> {
        let mut parts = Vec::new();
        for (i, piece) in self.text.split(['"', '“', '”']).enumerate() {
            if piece.trim().is_empty() {
                continue;
            }
            parts.push(if i % 2 == 1 {
                Part::Phrase(piece.to_owned())
            } else {
                Part::Words(piece.to_owned())
            });
        }
        parts
    }
}

/// A highlighted fragment of a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Highlight {
    /// `title` or `body`.
    pub field: String,
    /// The fragment (plain text; never markup).
    pub text: String,
    /// Matched ranges in `text`, as character offsets `[start, end)`.
    pub ranges: Vec<[usize; 2]>,
}

/// One hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The document's id.
    pub id: String,
    /// What it is.
    pub kind: Kind,
    /// Its tenant.
    pub tenant: String,
    /// Its line.
    pub line: String,
    /// Its title.
    pub title: String,
    /// Its status.
    pub status: Option<String>,
    /// Its service.
    pub service: Option<String>,
    /// Its date (Unix seconds).
    pub date: i64,
    /// Where the query matched.
    pub highlights: Vec<Highlight>,
}

/// Counts of what matched, over all hits (not only the page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Facets {
    /// By status.
    pub status: BTreeMap<String, u64>,
    /// By tenant one level below the query's facet parent.
    pub places: BTreeMap<String, u64>,
}

/// What a search answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Results {
    /// How many documents matched.
    pub total: u64,
    /// The page of hits.
    pub hits: Vec<Hit>,
    /// Counts by status and place.
    pub facets: Facets,
}

/// Documents in an index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// All of them.
    pub total: u64,
    /// By kind.
    pub by_kind: BTreeMap<String, u64>,
}

/// A change to an index.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Add or replace the document with this id.
    Upsert(Box<Document>),
    /// Add a document known not to be in the index (a rebuild after
    /// clearing): no lookup of an older version. Adding one that is there
    /// leaves two.
    Add(Box<Document>),
    /// Remove the document with this id (nothing if absent).
    Delete(String),
}

/// Why a search or an index change failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The embedded index failed (disk, corruption).
    #[error("search index: {0}")]
    Index(String),
    /// The Meilisearch server failed or answered an error.
    #[error("meilisearch: {0}")]
    Server(String),
    /// The embedded index was built by another version of its schema:
    /// rebuild it (`TantivyIndex::recreate`, then a rebuild from the
    /// database).
    #[error(
        "the search index in {0} was built with another schema; rebuild it (civitas search reindex)"
    )]
    SchemaChanged(String),
    /// The query cannot be run (too long, too many terms).
    #[error("query: {0}")]
    Query(String),
    /// A stored document does not parse.
    #[error("stored document {id} does not parse: {reason}")]
    Stored {
        /// The document.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

/// The deepest page a query may reach (hits skipped).
pub const MAX_OFFSET: usize = 10_000;

/// The longest query text accepted (characters).
pub const MAX_QUERY_CHARS: usize = 200;

impl Query {
    /// Checks the limits a query must keep.
    pub(crate) fn check(&self) -> Result<(), SearchError> {
        if self.text.chars().count() > MAX_QUERY_CHARS {
            return Err(SearchError::Query(format!(
                "longer than {MAX_QUERY_CHARS} characters"
            )));
        }
        if self.offset > MAX_OFFSET {
            return Err(SearchError::Query(format!(
                "cannot page past {MAX_OFFSET} hits; narrow the query"
            )));
        }
        if self.limit == 0 || self.limit > 100 {
            return Err(SearchError::Query("limit must be 1 to 100".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(public: bool, owner: Option<&str>) -> Document {
        Document {
            id: "case:1".into(),
            kind: Kind::Case,
            tenant: TenantPath::parse("310000/310115/310115005").unwrap_or_else(|e| panic!("{e}")),
            line: "civil-affairs".into(),
            title: "助餐补贴申请".into(),
            body: Vec::new(),
            keywords: Vec::new(),
            status: None,
            service: None,
            owner: owner.map(str::to_owned),
            public,
            date: 0,
        }
    }

    /// A document's places are its tenant and every ancestor, city first.
    #[test]
    fn places_are_the_tenant_and_its_ancestors() {
        assert_eq!(
            document(false, None).places(),
            ["310000", "310000/310115", "310000/310115/310115005"]
        );
    }

    /// Every ancestor gets a term for the document's line and one for all
    /// lines; a public document the same again marked `!`; an applicant's
    /// document one more naming the applicant.
    #[test]
    fn scope_terms_name_every_ancestor_by_line_publicity_and_owner() {
        assert_eq!(
            document(false, None).scope_terms(),
            [
                "case:310000|civil-affairs",
                "case:310000|*",
                "case:310000/310115|civil-affairs",
                "case:310000/310115|*",
                "case:310000/310115/310115005|civil-affairs",
                "case:310000/310115/310115005|*",
            ]
        );
        assert_eq!(
            document(true, Some("acct-7")).scope_terms(),
            [
                "case:310000|civil-affairs",
                "case:310000|*",
                "case!310000|civil-affairs",
                "case!310000|*",
                "case:310000/310115|civil-affairs",
                "case:310000/310115|*",
                "case!310000/310115|civil-affairs",
                "case!310000/310115|*",
                "case:310000/310115/310115005|civil-affairs",
                "case:310000/310115/310115005|*",
                "case!310000/310115/310115005|civil-affairs",
                "case!310000/310115/310115005|*",
                "case@acct-7",
            ]
        );
    }
}
