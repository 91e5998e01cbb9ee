//! Seals and issued documents as stored.
//!
//! - [`make`]: a tenant's seal for a line (key sealed with the tenant's
//!   data key), audit `seal.make`; [`revoke`], audit `seal.revoke`.
//! - [`issue`]: a closed case's document — the template filled, checked,
//!   numbered (文号, per tenant, kind and year), rendered, sealed with the
//!   nearest active seal of the case's line on the path up, stored by its
//!   SM3 and recorded with the case and audit `document.issue`, in one
//!   transaction.
//! - [`issued_for_case`], [`find_issued`]: reading them back; the latter
//!   by digest for anyone (the public verification page).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, FixedOffset, Utc};
use civitas_crypto::sm2::PrivateKey;
use civitas_documents::DocumentStore;
use civitas_storage::{Database, StorageError, TenantScope, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use civitas_vault::Keyring;
use civitas_workflow::{Case, CaseState};
use serde::Serialize;
use serde_json::{Value, json};

use crate::template::{Template, Values};
use crate::{DocumentText, Fonts, Seal, SealError, SealSpec};

/// Field name of the sealed private key (its sealing context).
const KEY_FIELD: &str = "seals.private_key";

/// What storing seals and documents can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A statement failed.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// Sealing or opening a key failed.
    #[error(transparent)]
    Vault(#[from] civitas_vault::VaultError),
    /// The audit log failed.
    #[error(transparent)]
    Audit(#[from] civitas_audit::AuditError),
    /// Reading the case failed.
    #[error(transparent)]
    Workflow(#[from] civitas_workflow::WorkflowError),
    /// Document storage failed.
    #[error(transparent)]
    Documents(#[from] civitas_documents::DocumentError),
    /// Making, rendering or sealing failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// No active seal of the line on the case's path.
    #[error("{0} 没有有效的{1}印章 / no active seal of line {1} at or above {0}")]
    NoSeal(String, String),
    /// The tenant already has an active seal for the line.
    #[error("{0} 已有{1}条线的有效印章 / an active seal of line {1} exists at {0}")]
    SealExists(String, String),
    /// No seal with that id in scope.
    #[error("印章不存在：{0} / no such seal: {0}")]
    SealNotFound(String),
    /// The case is not closed (approved to the end).
    #[error("案件未办结，不能出具文书 / the case is {0}, not closed: no document yet")]
    NotClosed(String),
    /// The document was already issued for the case.
    #[error("该文书已出具（SM3 {0}） / the document was already issued (SM3 {0})")]
    AlreadyIssued(String),
    /// The case lacks values the template needs.
    #[error("案件缺少文书所需的内容：{list} / the case lacks values the document needs: {list}", list = .0.join(", "))]
    MissingValues(Vec<String>),
    /// What the officer entered is wrong, field by field.
    #[error("文书字段有误 / the document's fields are wrong")]
    BadEntries(Vec<(String, String)>),
    /// Stored data that does not parse.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            StoreError::NoSeal(..)
            | StoreError::SealExists(..)
            | StoreError::NotClosed(_)
            | StoreError::AlreadyIssued(_)
            | StoreError::Seal(SealError::Expired) => 409,
            StoreError::SealNotFound(_) => 404,
            StoreError::MissingValues(_)
            | StoreError::BadEntries(_)
            | StoreError::Seal(SealError::Invalid(_) | SealError::Refused(_)) => 422,
            StoreError::Seal(SealError::Fonts(_)) => 503,
            StoreError::Workflow(e) => e.status(),
            StoreError::Storage(e) if e.is_unavailable() => 503,
            _ => 500,
        }
    }

    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NoSeal(..) => "seal_missing",
            StoreError::SealExists(..) => "seal_exists",
            StoreError::SealNotFound(_) => "seal_not_found",
            StoreError::NotClosed(_) => "case_not_closed",
            StoreError::AlreadyIssued(_) => "document_already_issued",
            StoreError::MissingValues(_) => "document_values_missing",
            StoreError::BadEntries(_) => "invalid_document_fields",
            StoreError::Seal(SealError::Expired) => "seal_expired",
            StoreError::Seal(SealError::Invalid(_)) => "invalid_seal",
            StoreError::Seal(SealError::Refused(_)) => "document_refused",
            StoreError::Seal(SealError::Fonts(_)) => "document_fonts_missing",
            StoreError::Workflow(e) => e.code(),
            StoreError::Storage(e) if e.is_unavailable() => "database_unavailable",
            _ => "internal",
        }
    }
}

/// A seal as listed (never its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SealRecord {
    /// Its id, also its code in the SESeal (印章编码).
    pub id: String,
    /// The tenant it belongs to.
    pub tenant: String,
    /// The line it seals for.
    pub line: String,
    /// The name it shows.
    pub name: String,
    /// From when it signs, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub valid_from: DateTime<Utc>,
    /// Until when, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub valid_until: DateTime<Utc>,
    /// Who made it.
    pub made_by: String,
    /// When, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub made_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// The SM3 of its signer certificate, hex.
    pub certificate_sm3: String,
}

#[derive(sqlx::FromRow)]
struct SealRow {
    id: String,
    tenant_path: String,
    line: String,
    name: String,
    seal: Vec<u8>,
    certificate: Vec<u8>,
    private_key: String,
    key_version: i64,
    valid_from: i64,
    valid_until: i64,
    made_by: String,
    made_at: i64,
    revoked_at: Option<i64>,
}

fn instant(micros: i64, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("{what}: {micros} is not an instant")))
}

impl SealRow {
    fn record(&self) -> Result<SealRecord, StoreError> {
        Ok(SealRecord {
            id: self.id.clone(),
            tenant: self.tenant_path.clone(),
            line: self.line.clone(),
            name: self.name.clone(),
            valid_from: instant(self.valid_from, "seals.valid_from")?,
            valid_until: instant(self.valid_until, "seals.valid_until")?,
            made_by: self.made_by.clone(),
            made_at: instant(self.made_at, "seals.made_at")?,
            revoked_at: self
                .revoked_at
                .map(|at| instant(at, "seals.revoked_at"))
                .transpose()?,
            certificate_sm3: hex::encode(civitas_crypto::sm3::digest(&self.certificate)),
        })
    }
}

const SEAL_COLUMNS: &str = "id, tenant_path, line, name, seal, certificate, private_key, key_version, \
     valid_from, valid_until, made_by, made_at, revoked_at";

/// What a new seal is.
#[derive(Debug, Clone)]
pub struct NewSealRequest {
    /// The line it seals for.
    pub line: String,
    /// The name it shows (the bureau's full name).
    pub name: String,
    /// How many years it is valid from now (1–10).
    pub years: u32,
}

/// `who` makes the seal of `request.line` at `scope`'s tenant, signed by
/// the platform's root (`platform_key`); refused while an active one
/// exists. Audit `seal.make`.
pub async fn make(
    db: &Database,
    keyring: &Keyring,
    scope: &TenantScope,
    platform_key: &PrivateKey,
    who: &str,
    request: &NewSealRequest,
    now: DateTime<Utc>,
) -> Result<SealRecord, StoreError> {
    if !(1..=10).contains(&request.years) {
        return Err(
            SealError::Invalid("有效期须为 1–10 年 / validity is 1–10 years".into()).into(),
        );
    }
    if request.name.trim().is_empty() || request.name.chars().count() > 40 {
        return Err(SealError::Invalid(
            "印章名称须为 1–40 字 / the name is 1–40 characters".into(),
        )
        .into());
    }
    let tenant = scope.path();
    // A seal is valid from the day it is made (China time), as its
    // paper counterpart is dated; until the same day `years` on.
    let valid_from = start_of_china_day(now);
    let until = valid_from
        .checked_add_months(chrono::Months::new(12 * request.years))
        .ok_or_else(|| SealError::Invalid("validity out of range".into()))?;
    // The place's own code, the line and a random part: readable, and
    // unique however many seals a line has had.
    let random = uuid::Uuid::new_v4().simple().to_string();
    let id = format!(
        "{}-{}-{}",
        tenant.as_str().rsplit('/').next().unwrap_or("seal"),
        request.line,
        &random[..8]
    );
    let new = crate::make_seal(
        platform_key,
        &SealSpec {
            code: &id,
            name: request.name.trim(),
            tenant: tenant.as_str(),
            line: &request.line,
            valid_from,
            valid_until: until,
        },
        now,
    )?;
    let mut tx = db.begin(scope).await?;
    let active: Option<(String, i64)> = with_connection!(tx.connection(), c => {
        sqlx::query_as("SELECT id, valid_until FROM seals WHERE tenant_path = $1 AND line = $2 AND revoked_at IS NULL")
            .bind(tenant.to_string())
            .bind(request.line.clone())
            .fetch_optional(&mut *c)
            .await?
    });
    match active {
        Some((_, until)) if until > now.timestamp_micros() => {
            return Err(StoreError::SealExists(
                tenant.to_string(),
                request.line.clone(),
            ));
        }
        // A lapsed seal gives way to its successor: revoked now, on the
        // record (the new seal's audit record names it).
        Some((expired, _)) => {
            with_connection!(tx.connection(), c => {
                sqlx::query("UPDATE seals SET revoked_by = $2, revoked_at = $3 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(expired.clone())
                    .bind(who.to_owned())
                    .bind(now.timestamp_micros())
                    .execute(&mut *c)
                    .await?;
            });
        }
        None => {}
    }
    let sealer = keyring.sealer(&mut tx, tenant).await?;
    let sealed = sealer.seal(KEY_FIELD, &new.private_key.to_hex())?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO seals (id, tenant_path, line, name, seal, certificate, private_key, key_version, \
             valid_from, valid_until, made_by, made_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id.clone())
        .bind(tenant.to_string())
        .bind(request.line.clone())
        .bind(request.name.trim().to_owned())
        .bind(new.seal.clone())
        .bind(new.certificate.clone())
        .bind(sealed.clone())
        .bind(sealer.version())
        .bind(valid_from.timestamp_micros())
        .bind(until.timestamp_micros())
        .bind(who.to_owned())
        .bind(now.timestamp_micros())
        .execute(&mut *c)
        .await?;
    });
    let certificate_sm3 = hex::encode(civitas_crypto::sm3::digest(&new.certificate));
    civitas_audit::record(
        &mut tx,
        tenant,
        &civitas_audit::NewEvent {
            actor: who.to_owned(),
            action: "seal.make".into(),
            target: format!("seal:{id}"),
            detail: json!({
                "line": request.line,
                "name": request.name.trim(),
                "valid_until": until.to_rfc3339(),
                "certificate_sm3": certificate_sm3,
                "seal_sm3": hex::encode(civitas_crypto::sm3::digest(&new.seal)),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(SealRecord {
        id,
        tenant: tenant.to_string(),
        line: request.line.clone(),
        name: request.name.trim().to_owned(),
        valid_from,
        valid_until: until,
        made_by: who.to_owned(),
        made_at: now,
        revoked_at: None,
        certificate_sm3,
    })
}

/// The seals of `tx`'s subtree, active first, newest first.
pub async fn seals(tx: &mut TenantTx) -> Result<Vec<SealRecord>, StoreError> {
    let sql = format!(
        "SELECT {SEAL_COLUMNS} FROM seals WHERE tenant_path >= $1 AND tenant_path < $2 \
         ORDER BY revoked_at IS NOT NULL, made_at DESC, id LIMIT 1000"
    );
    let (from, to) = tx.scope().path().subtree_range();
    let (from, to) = (from.to_owned(), to);
    let rows: Vec<SealRow> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(from.clone()).bind(to.clone()).fetch_all(&mut *c).await?
    });
    rows.iter().map(SealRow::record).collect()
}

/// `who` revokes the seal `id` in `scope`'s subtree: it signs nothing more;
/// what it sealed still verifies. Audit `seal.revoke`.
pub async fn revoke(
    db: &Database,
    scope: &TenantScope,
    who: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<SealRecord, StoreError> {
    let mut tx = db.begin(scope).await?;
    let (from, to) = scope.path().subtree_range();
    let (from, to) = (from.to_owned(), to);
    let sql = format!(
        "SELECT {SEAL_COLUMNS} FROM seals WHERE id = $1 AND tenant_path >= $2 AND tenant_path < $3"
    );
    let row: Option<SealRow> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.to_owned()).bind(from.clone()).bind(to.clone())
            .fetch_optional(&mut *c).await?
    });
    let row = row.ok_or_else(|| StoreError::SealNotFound(id.to_owned()))?;
    if row.revoked_at.is_none() {
        with_connection!(tx.connection(), c => {
            sqlx::query("UPDATE seals SET revoked_by = $2, revoked_at = $3 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id.to_owned())
                .bind(who.to_owned())
                .bind(now.timestamp_micros())
                .execute(&mut *c)
                .await?;
        });
        let tenant = TenantPath::parse(&row.tenant_path)
            .map_err(|e| StoreError::Corrupt(format!("seals.tenant_path: {e}")))?;
        civitas_audit::record(
            &mut tx,
            &tenant,
            &civitas_audit::NewEvent {
                actor: who.to_owned(),
                action: "seal.revoke".into(),
                target: format!("seal:{id}"),
                detail: json!({ "line": row.line, "name": row.name }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    let mut record = row.record()?;
    record.revoked_at.get_or_insert(now);
    Ok(record)
}

/// The active seal of `line` nearest `tenant` on its path up, opened.
/// Read on the platform: the seal of a district signs for its streets,
/// whose officers' scopes do not cover the district's row; the caller
/// authorized the case it signs for.
async fn nearest_seal(
    db: &Database,
    keyring: &Keyring,
    tenant: &TenantPath,
    line: &str,
    now: DateTime<Utc>,
) -> Result<(SealRecord, Seal), StoreError> {
    let lineage: Vec<String> = tenant.lineage().iter().map(|p| p.to_string()).collect();
    let placeholders: Vec<String> = (0..lineage.len()).map(|i| format!("${}", i + 3)).collect();
    // An expired seal is passed over: a district's lapsed seal does not
    // stop the city's from signing for it.
    let sql = format!(
        "SELECT {SEAL_COLUMNS} FROM seals WHERE line = $1 AND revoked_at IS NULL AND valid_until > $2 \
         AND tenant_path IN ({}) ORDER BY length(tenant_path) DESC LIMIT 1",
        placeholders.join(", ")
    );
    let mut tx = db.begin_platform_read().await?;
    let row: Option<SealRow> = with_connection!(tx.connection(), c => {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(line.to_owned())
            .bind(now.timestamp_micros());
        for path in &lineage {
            query = query.bind(path.clone());
        }
        query.fetch_optional(&mut *c).await?
    });
    let row = row.ok_or_else(|| StoreError::NoSeal(tenant.to_string(), line.to_owned()))?;
    let seal_tenant = TenantPath::parse(&row.tenant_path)
        .map_err(|e| StoreError::Corrupt(format!("seals.tenant_path: {e}")))?;
    let opener = keyring
        .platform_opener(&mut tx, &seal_tenant, row.key_version)
        .await?;
    let key_hex = opener.open(KEY_FIELD, &row.private_key)?;
    // A read: nothing to commit.
    drop(tx);
    let key = PrivateKey::from_hex(&key_hex)
        .map_err(|e| StoreError::Corrupt(format!("seal {}: key: {e}", row.id)))?;
    let seal = Seal::open(key, &row.seal)
        .map_err(|e| StoreError::Corrupt(format!("seal {}: {e}", row.id)))?;
    Ok((row.record()?, seal))
}

/// An issued document as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IssuedDocument {
    /// The SM3 of the sealed file, hex: its id.
    pub sm3: String,
    /// The tenant of the case.
    pub tenant: String,
    /// The case.
    pub case_id: String,
    /// Its kind (template).
    pub kind: String,
    /// Its name, e.g. 行政处罚决定书.
    pub name: String,
    /// Its number (文号).
    pub number: String,
    /// The seal that sealed it.
    pub seal_id: String,
    /// The file's size in bytes.
    pub size: i64,
    /// Who issued it.
    pub issued_by: String,
    /// When, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub issued_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct IssuedRow {
    sm3: String,
    tenant_path: String,
    case_id: String,
    kind: String,
    name: String,
    number: String,
    seal_id: String,
    size: i64,
    issued_by: String,
    issued_at: i64,
}

impl IssuedRow {
    fn decode(self) -> Result<IssuedDocument, StoreError> {
        if self.sm3.len() != 64 || !self.sm3.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Corrupt(format!(
                "issued_documents.sm3 {:?}",
                self.sm3
            )));
        }
        Ok(IssuedDocument {
            issued_at: instant(self.issued_at, "issued_documents.issued_at")?,
            sm3: self.sm3,
            tenant: self.tenant_path,
            case_id: self.case_id,
            kind: self.kind,
            name: self.name,
            number: self.number,
            seal_id: self.seal_id,
            size: self.size,
            issued_by: self.issued_by,
        })
    }
}

const ISSUED_COLUMNS: &str =
    "sm3, tenant_path, case_id, kind, name, number, seal_id, size, issued_by, issued_at";

/// The documents issued for the case `case_id` (which the caller read in
/// `tx`'s scope), oldest first.
pub async fn issued_for_case(
    tx: &mut TenantTx,
    case_id: &str,
) -> Result<Vec<IssuedDocument>, StoreError> {
    let sql = format!(
        "SELECT {ISSUED_COLUMNS} FROM issued_documents WHERE case_id = $1 ORDER BY issued_at, kind LIMIT 100"
    );
    let rows: Vec<IssuedRow> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(case_id.to_owned()).fetch_all(&mut *c).await?
    });
    rows.into_iter().map(IssuedRow::decode).collect()
}

/// The issued document whose sealed file has SM3 `sm3`, for anyone who
/// holds the file (the public verification page): reads that one row.
pub async fn find_issued(db: &Database, sm3: &str) -> Result<Option<IssuedDocument>, StoreError> {
    let sql = format!("SELECT {ISSUED_COLUMNS} FROM issued_documents WHERE sm3 = $1");
    let mut tx = db.begin_platform_read().await?;
    let row: Option<IssuedRow> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(sm3.to_ascii_lowercase()).fetch_optional(&mut *c).await?
    });
    // A read: nothing to commit.
    drop(tx);
    row.map(IssuedRow::decode).transpose()
}

/// Whether the seal `id` is revoked, and when (platform read, for the
/// verification page).
pub async fn seal_revoked_at(db: &Database, id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut tx = db.begin_platform_read().await?;
    let at: Option<Option<i64>> = with_connection!(tx.connection(), c => {
        sqlx::query_scalar("SELECT revoked_at FROM seals WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&mut *c)
            .await?
    });
    // A read: nothing to commit.
    drop(tx);
    at.flatten()
        .map(|micros| instant(micros, "seals.revoked_at"))
        .transpose()
}

/// The values of a case a template is filled from.
pub struct CaseValues<'a> {
    /// The case.
    pub case: &'a Case,
    /// The service's input schema (for the titles of enumerated values).
    pub input_schema: Option<&'a Value>,
    /// The applicant's name.
    pub applicant: Option<String>,
    /// What the officer entered.
    pub entries: &'a BTreeMap<String, Value>,
    /// The seal's name.
    pub authority: String,
    /// The date of issue, as written (2026年12月6日).
    pub date: String,
    /// Its year.
    pub year: i32,
    /// The serial in the year.
    pub serial: Option<i64>,
    /// The case's dates, as written.
    pub filed_on: String,
    /// When it closed, as written.
    pub closed_on: Option<String>,
}

/// The Chinese half of a bilingual title ("中文 / English").
fn chinese(title: &str) -> &str {
    title.split(" / ").next().unwrap_or(title).trim()
}

fn shown(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(true) => Some("是".into()),
        Value::Bool(false) => Some("否".into()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(shown)
                .collect::<Vec<_>>()
                .join("；"),
        ),
        Value::Object(_) => Some(value.to_string()),
    }
}

impl Values for CaseValues<'_> {
    fn value(&self, name: &str) -> Option<String> {
        match name {
            "applicant" => return self.applicant.clone(),
            "authority" => return Some(self.authority.clone()),
            "date" => return Some(self.date.clone()),
            "year" => return Some(self.year.to_string()),
            "serial" => return self.serial.map(|s| s.to_string()),
            _ => {}
        }
        let (namespace, rest) = name.split_once('.')?;
        match namespace {
            "input" => {
                let value = self.case.data.get(rest)?;
                // An enumerated value reads as its title.
                if let (Some(schema), Value::String(code)) = (self.input_schema, value)
                    && let Some(options) = schema
                        .pointer(&format!("/properties/{rest}/oneOf"))
                        .and_then(Value::as_array)
                    && let Some(title) = options
                        .iter()
                        .find(|o| o.get("const") == Some(value))
                        .and_then(|o| o.get("title"))
                        .and_then(Value::as_str)
                {
                    let _ = code;
                    return Some(chinese(title).to_owned());
                }
                shown(value)
            }
            "outcome" => {
                let (hook, field) = rest.split_once('.')?;
                shown(self.case.outcomes.get(hook)?.get("output")?.get(field)?)
            }
            "field" => shown(self.entries.get(rest)?),
            "case" => match rest {
                "id" => Some(self.case.id.clone()),
                "title" => Some(self.case.title.clone()),
                "filed_on" => Some(self.filed_on.clone()),
                "closed_on" => self.closed_on.clone(),
                _ => None,
            },
            _ => None,
        }
    }
}

/// China Standard Time, in which documents are dated.
fn china(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    match FixedOffset::east_opt(8 * 3600) {
        Some(offset) => at.with_timezone(&offset),
        None => at.fixed_offset(),
    }
}

/// Midnight, China time, of the day `at` falls on.
fn start_of_china_day(at: DateTime<Utc>) -> DateTime<Utc> {
    let local = china(at);
    local
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| midnight.and_local_timezone(*local.offset()).single())
        .map_or(at, |midnight| midnight.with_timezone(&Utc))
}

/// A date as GB/T 9704 writes it: 2026年12月6日.
pub fn written_date(at: DateTime<Utc>) -> String {
    let local = china(at);
    format!("{}年{}月{}日", local.year(), local.month(), local.day())
}

/// What issuing needs besides the database.
pub struct Issuer<'a> {
    /// The fonts.
    pub fonts: &'a Fonts,
    /// Where the sealed file is kept.
    pub documents: &'a DocumentStore,
    /// Opens the seal's key.
    pub keyring: &'a Keyring,
    /// The public verification address printed on the document.
    pub verify_url: &'a str,
}

/// A document to issue.
pub struct IssueRequest<'a> {
    /// The template (already resolved for the case).
    pub template: &'a Template,
    /// The case, read in `scope` by the caller.
    pub case: &'a Case,
    /// The service's input schema.
    pub input_schema: Option<&'a Value>,
    /// The applicant's name.
    pub applicant: Option<String>,
    /// What the officer entered.
    pub entries: &'a BTreeMap<String, Value>,
    /// When the case was filed and closed, as written.
    pub filed_on: String,
    /// When the case closed, as written.
    pub closed_on: Option<String>,
}

/// `who` issues `request.template`'s document for the closed case
/// `request.case` in `scope`; see the module's documentation. Returns the
/// record and the sealed file.
pub async fn issue(
    db: &Database,
    scope: &TenantScope,
    issuer: &Issuer<'_>,
    who: &str,
    request: &IssueRequest<'_>,
    now: DateTime<Utc>,
) -> Result<(IssuedDocument, Vec<u8>), StoreError> {
    let case = request.case;
    let template = request.template;
    if case.state != CaseState::Closed {
        return Err(StoreError::NotClosed(case.state.as_str().to_owned()));
    }
    let (seal_record, seal) =
        nearest_seal(db, issuer.keyring, &case.tenant_path, &case.line, now).await?;
    let year = china(now).year();
    let mut values = CaseValues {
        case,
        input_schema: request.input_schema,
        applicant: request.applicant.clone(),
        entries: request.entries,
        authority: seal.name().to_owned(),
        date: written_date(now),
        year,
        serial: Some(0),
        filed_on: request.filed_on.clone(),
        closed_on: request.closed_on.clone(),
    };
    // Checked before a number is taken: a refused request leaves no gap.
    let problems = template.check_entries(request.entries, &values);
    if !problems.is_empty() {
        return Err(StoreError::BadEntries(problems));
    }
    template.fill(&values).map_err(StoreError::MissingValues)?;

    let mut tx = db.begin(scope).await?;
    let issued: Option<String> = with_connection!(tx.connection(), c => {
        sqlx::query_scalar("SELECT sm3 FROM issued_documents WHERE case_id = $1 AND kind = $2")
            .bind(case.id.clone())
            .bind(template.kind.clone())
            .fetch_optional(&mut *c)
            .await?
    });
    if let Some(sm3) = issued {
        return Err(StoreError::AlreadyIssued(sm3));
    }
    // The number is taken, the file rendered, sealed and stored, and the
    // record written in one transaction: a number is used only by a
    // document that was issued (a failure anywhere takes it back), and two
    // officers issuing at once get consecutive numbers (the counter's row).
    let serial: i64 = with_connection!(tx.connection(), c => {
        sqlx::query_scalar(
            "INSERT INTO document_serials (tenant_path, kind, year, last) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (tenant_path, kind, year) DO UPDATE SET last = document_serials.last + 1 \
             RETURNING last",
        )
        .bind(case.tenant_path.to_string())
        .bind(template.kind.clone())
        .bind(year)
        .fetch_one(&mut *c)
        .await?
    });
    values.serial = Some(serial);
    let filled = template.fill(&values).map_err(StoreError::MissingValues)?;
    let text = DocumentText {
        title: filled.title,
        number: filled.number.clone(),
        body: filled.body,
        authority: seal.name().to_owned(),
        date: values.date.clone(),
        note: format!(
            "本文书加盖电子印章（GB/T 38540，SM2/SM3），可在 {} 核验真伪。This document bears an electronic seal; verify it at the address above.",
            issuer.verify_url
        ),
    };
    let fonts = issuer.fonts.clone();
    let seal_name = seal.name().to_owned();
    let sealed = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, SealError> {
        let (pdf, placement) = crate::render(&text, &fonts, &seal_name)?;
        crate::seal_pdf(pdf, &seal, placement, now)
    })
    .await
    .map_err(|e| SealError::Render(format!("render task: {e}")))??;
    let digest = issuer
        .documents
        .put(bytes::Bytes::from(sealed.clone()))
        .await?;
    let size = i64::try_from(sealed.len()).unwrap_or(i64::MAX);
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO issued_documents (sm3, tenant_path, case_id, kind, name, number, seal_id, size, \
             issued_by, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(digest.clone())
        .bind(case.tenant_path.to_string())
        .bind(case.id.clone())
        .bind(template.kind.clone())
        .bind(template.name.clone())
        .bind(filled.number.clone())
        .bind(seal_record.id.clone())
        .bind(size)
        .bind(who.to_owned())
        .bind(now.timestamp_micros())
        .execute(&mut *c)
        .await
        // Another officer issued it since the check above.
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::AlreadyIssued(case.id.clone())
            }
            _ => StoreError::Sql(e),
        })?;
    });
    civitas_audit::record(
        &mut tx,
        &case.tenant_path,
        &civitas_audit::NewEvent {
            actor: who.to_owned(),
            action: "document.issue".into(),
            target: format!("case:{}", case.id),
            detail: json!({
                "kind": template.kind,
                "number": filled.number,
                "sm3": digest,
                "size": size,
                "seal": seal_record.id,
                "entries": request.entries,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        IssuedDocument {
            sm3: digest,
            tenant: case.tenant_path.to_string(),
            case_id: case.id.clone(),
            kind: template.kind.clone(),
            name: template.name.clone(),
            number: filled.number,
            seal_id: seal_record.id,
            size,
            issued_by: who.to_owned(),
            issued_at: now,
        },
        sealed,
    ))
}
