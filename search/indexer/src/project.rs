//! Rows as search documents: what of a case, an account or a resident is
//! searchable, and nothing more.

use std::collections::HashMap;

use civitas_search::{Change, Document, Kind};
use civitas_storage::{Connection, with_connection};
use civitas_tenancy::TenantPath;
use serde_json::Value;
use sqlx::Row;

use crate::IndexerError;

/// Field names that hold identifiers or contact data: never searchable,
/// whatever a schema says (they are found by exact blind-index match).
const NEVER_SEARCHABLE: &[&str] = &[
    "id_number",
    "id_card",
    "idcard",
    "identity_number",
    "passport",
    "phone",
    "mobile",
    "telephone",
    "email",
    "bank_account",
    "bank_card",
    "address",
    "credit_code",
];

/// The `data` fields of a service's cases that are searched: the
/// top-level string properties its JSON Schema marks `"x-searchable": true`,
/// except identifiers and contact data ([`refused_searchable_fields`]).
pub fn searchable_fields(schema: &Value) -> Vec<String> {
    marked(schema).filter(|name| !is_identifier(name)).collect()
}

/// Fields a schema marks searchable that are identifiers or contact data,
/// and so are not (the server logs them at start).
pub fn refused_searchable_fields(schema: &Value) -> Vec<String> {
    marked(schema).filter(|name| is_identifier(name)).collect()
}

fn is_identifier(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    NEVER_SEARCHABLE.iter().any(|n| name.contains(n))
}

fn marked(schema: &Value) -> impl Iterator<Item = String> + '_ {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, p)| p.get("x-searchable").and_then(Value::as_bool) == Some(true))
        .map(|(name, _)| name.clone())
}

/// The searchable fields by service.
pub type Searchable = HashMap<String, Vec<String>>;

fn stored_error(kind: &str, id: &str, what: &str) -> IndexerError {
    IndexerError::Stored(format!("{kind} {id}: {what}"))
}

fn path(kind: &str, id: &str, text: &str) -> Result<TenantPath, IndexerError> {
    TenantPath::parse(text).map_err(|e| stored_error(kind, id, &format!("tenant path: {e}")))
}

/// The document id of a row.
pub fn document_id(kind: Kind, id: &str) -> String {
    format!("{}:{id}", kind.as_str())
}

const CASE_SELECT: &str = "SELECT c.id, c.tenant_path, c.line, c.service, c.title, c.state, c.step, \
     c.data, c.created_at, c.applicant, a.display_name AS applicant_name \
     FROM cases c LEFT JOIN accounts a ON a.id = c.applicant";
const ACCOUNT_SELECT: &str = "SELECT id, tenant_path, kind, username, display_name, subject, \
     employee_no, CAST(CASE WHEN disabled THEN 1 ELSE 0 END AS BIGINT) AS disabled_flag, created_at \
     FROM accounts";
const RESIDENT_SELECT: &str = "SELECT id, tenant_path, name, created_at FROM residents";

/// A row, read by name, whatever the backend.
struct Fields<'a> {
    kind: &'a str,
    id: String,
    get: HashMap<&'static str, Option<String>>,
    ints: HashMap<&'static str, Option<i64>>,
}

impl Fields<'_> {
    fn text(&self, name: &str) -> Result<String, IndexerError> {
        self.get
            .get(name)
            .cloned()
            .flatten()
            .ok_or_else(|| stored_error(self.kind, &self.id, &format!("no {name}")))
    }
    fn optional(&self, name: &str) -> Option<String> {
        self.get.get(name).cloned().flatten()
    }
    fn int(&self, name: &str) -> Result<i64, IndexerError> {
        self.ints
            .get(name)
            .copied()
            .flatten()
            .ok_or_else(|| stored_error(self.kind, &self.id, &format!("no {name}")))
    }
}

macro_rules! read_rows {
    ($rows:expr, $kind:expr, [$($text:literal),*], [$($int:literal),*]) => {{
        let mut out = Vec::new();
        for row in $rows {
            let id: String = row.try_get("id")?;
            let mut get = HashMap::new();
            $( get.insert($text, row.try_get::<Option<String>, _>($text)?); )*
            let mut ints = HashMap::new();
            $( ints.insert($int, row.try_get::<Option<i64>, _>($int)?); )*
            out.push(Fields { kind: $kind, id, get, ints });
        }
        out
    }};
}

/// Reads rows of `kind` by `sql` (ending in a WHERE over `binds`).
async fn fetch(
    conn: Connection<'_>,
    kind: Kind,
    sql: String,
    binds: Vec<String>,
) -> Result<Vec<Fields<'static>>, IndexerError> {
    let name = kind.as_str();
    Ok(with_connection!(conn, c => {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&mut *c).await?;
        match kind {
            Kind::Case => read_rows!(rows, name,
                ["tenant_path", "line", "service", "title", "state", "step", "data", "applicant", "applicant_name"],
                ["created_at"]),
            Kind::Account => read_rows!(rows, name,
                ["tenant_path", "kind", "username", "display_name", "subject", "employee_no"],
                ["created_at", "disabled_flag"]),
            Kind::Resident => read_rows!(rows, name, ["tenant_path", "name"], ["created_at"]),
            Kind::Service => Vec::new(),
        }
    }))
}

/// Reads rows of `kind` by id and returns their documents; an id without
/// a row becomes a deletion.
pub async fn load(
    conn: Connection<'_>,
    kind: Kind,
    ids: &[String],
    searchable: &Searchable,
) -> Result<Vec<Change>, IndexerError> {
    let Some((select, column)) = select_of(kind).filter(|_| !ids.is_empty()) else {
        return Ok(Vec::new());
    };
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!("{select} WHERE {column} IN ({})", placeholders.join(", "));
    let rows = fetch(conn, kind, sql, ids.to_vec()).await?;
    let mut changes = Vec::with_capacity(ids.len());
    let mut found = std::collections::HashSet::new();
    for row in rows {
        found.insert(row.id.clone());
        changes.push(Change::Upsert(Box::new(document(kind, &row, searchable)?)));
    }
    for id in ids {
        if !found.contains(id) {
            changes.push(Change::Delete(document_id(kind, id)));
        }
    }
    Ok(changes)
}

/// One page of `kind`'s rows in `tenant`'s subtree (all tenants when
/// `None`), by id after `after`, as documents; with the last id read and
/// how many rows were left out because they do not parse (each logged:
/// one bad row must not stop a rebuild, as it does not stop the outbox).
pub async fn page(
    conn: Connection<'_>,
    kind: Kind,
    tenant: Option<&TenantPath>,
    after: &str,
    limit: usize,
    searchable: &Searchable,
) -> Result<(Vec<Document>, Option<String>, usize), IndexerError> {
    let Some((select, column)) = select_of(kind) else {
        return Ok((Vec::new(), None, 0));
    };
    let mut binds = vec![after.to_owned()];
    let mut sql = format!("{select} WHERE {column} > $1");
    let prefix = match kind {
        Kind::Case => "c.",
        _ => "",
    };
    if let Some(t) = tenant {
        let (low, high) = t.subtree_range();
        sql.push_str(&format!(
            " AND {prefix}tenant_path >= $2 AND {prefix}tenant_path < $3"
        ));
        binds.push(low.to_owned());
        binds.push(high);
    }
    sql.push_str(&format!(" ORDER BY {column} LIMIT {limit}"));
    let rows = fetch(conn, kind, sql, binds).await?;
    let last = rows.last().map(|r| r.id.clone());
    let mut documents = Vec::with_capacity(rows.len());
    let mut rejected = 0;
    for row in &rows {
        match document(kind, row, searchable) {
            Ok(document) => documents.push(document),
            Err(IndexerError::Stored(why)) => {
                tracing::error!(kind = kind.as_str(), id = %row.id, reason = %why, "a stored row does not parse: not indexed");
                rejected += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok((documents, last, rejected))
}

/// The row query and id column of a kind; none for services, which are no
/// rows (the catalog's, written by `Indexer::index_services`).
fn select_of(kind: Kind) -> Option<(&'static str, &'static str)> {
    match kind {
        Kind::Case => Some((CASE_SELECT, "c.id")),
        Kind::Account => Some((ACCOUNT_SELECT, "id")),
        Kind::Resident => Some((RESIDENT_SELECT, "id")),
        Kind::Service => None,
    }
}

fn document(
    kind: Kind,
    row: &Fields<'_>,
    searchable: &Searchable,
) -> Result<Document, IndexerError> {
    let id = &row.id;
    let name = kind.as_str();
    let tenant = path(name, id, &row.text("tenant_path")?)?;
    let date = row.int("created_at")? / 1_000_000;
    let base = Document {
        id: document_id(kind, id),
        kind,
        tenant,
        line: civitas_authz::NO_LINE.to_owned(),
        title: String::new(),
        body: Vec::new(),
        keywords: Vec::new(),
        status: None,
        service: None,
        owner: None,
        public: false,
        date,
    };
    Ok(match kind {
        Kind::Case => {
            let service = row.text("service")?;
            let data: Value = serde_json::from_str(&row.text("data")?)
                .map_err(|e| stored_error(name, id, &format!("data: {e}")))?;
            let mut body = Vec::new();
            for field in searchable.get(&service).into_iter().flatten() {
                if let Some(text) = data.get(field).and_then(Value::as_str) {
                    body.push(text.to_owned());
                }
            }
            let mut keywords = vec![id.clone()];
            keywords.extend(row.optional("step"));
            // The applicant's name finds the case but is never shown in a
            // hit (a keyword, not highlighted text).
            keywords.extend(row.optional("applicant_name"));
            Document {
                line: row.text("line")?,
                title: row.text("title")?,
                body,
                keywords,
                status: Some(row.text("state")?),
                service: Some(service),
                owner: row.optional("applicant"),
                ..base
            }
        }
        Kind::Account => {
            let account_kind = row.text("kind")?;
            let mut keywords = vec![row.text("username")?];
            keywords.extend(row.optional("employee_no"));
            // An enterprise's subject is its credit code (public); a
            // citizen's is the blind index of an id number, never indexed.
            if account_kind == "enterprise" {
                keywords.extend(row.optional("subject"));
            }
            let disabled = row.int("disabled_flag")? != 0;
            Document {
                title: row.text("display_name")?,
                keywords,
                status: Some(if disabled { "disabled" } else { "active" }.to_owned()),
                ..base
            }
        }
        Kind::Resident | Kind::Service => Document {
            title: row.text("name")?,
            ..base
        },
    })
}
