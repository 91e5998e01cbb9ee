//! The residents a tenant serves — applicants and beneficiaries — with
//! their personal data protected.
//!
//! Id numbers, phone numbers, bank accounts and addresses are sealed with
//! the tenant's data key ([`civitas_vault::Sealer`]) and never stored in the
//! clear; id numbers and phones also get a blind index for exact lookups.
//! A [`Resident`] holds the opened values in memory only; [`Resident::view`]
//! renders it masked, and a full view is only produced by [`reveal`], which
//! records an audit event in the same transaction.

mod id_number;

use chrono::{DateTime, Utc};
use civitas_audit::NewEvent;
use civitas_storage::{StorageError, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use civitas_vault::{Keyring, ProtectedTable, VaultError, mask};
use serde::Serialize;
use zeroize::Zeroizing;

pub use id_number::{IdNumber, IdNumberError};

/// The sealed columns of `residents`, for key rotation.
pub const PROTECTED: ProtectedTable = ProtectedTable {
    table: "residents",
    id_column: "id",
    columns: &["id_number", "phone", "bank_account", "address"],
};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Sealing, opening or finding a key failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Recording the audit event failed.
    #[error(transparent)]
    Audit(#[from] civitas_audit::AuditError),
    /// The tenant lies outside the transaction's scope.
    #[error("租户 {0} 不在事务范围内 (tenant {0} is outside the transaction's scope)")]
    OutOfScope(String),
    /// The tenant already has a resident with this id number.
    #[error(
        "该租户已登记此身份证号码的居民 (a resident with this id number is already registered here)"
    )]
    Duplicate,
}

impl From<sqlx::Error> for PeopleError {
    fn from(e: sqlx::Error) -> PeopleError {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return PeopleError::Duplicate;
        }
        PeopleError::Storage(StorageError::Database(e))
    }
}

/// A resident to register.
#[derive(Debug, Clone)]
pub struct NewResident {
    /// The full name.
    pub name: String,
    /// The resident identity number.
    pub id_number: IdNumber,
    /// A phone number.
    pub phone: Option<String>,
    /// A bank account for payments (subsidies).
    pub bank_account: Option<String>,
    /// The residential address.
    pub address: Option<String>,
}

/// Changes to a resident's contact data; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ContactChange {
    /// A new phone number.
    pub phone: Option<String>,
    /// A new bank account.
    pub bank_account: Option<String>,
    /// A new address.
    pub address: Option<String>,
}

/// A resident with its personal data opened, in memory only.
pub struct Resident {
    /// The record id.
    pub id: String,
    /// The tenant that registered the resident.
    pub tenant_path: String,
    /// The full name.
    pub name: String,
    id_number: Zeroizing<String>,
    phone: Option<Zeroizing<String>>,
    bank_account: Option<Zeroizing<String>>,
    address: Option<Zeroizing<String>>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for Resident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.view(), f)
    }
}

/// A resident as shown to a caller: masked unless `masked` is false.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResidentView {
    /// The record id.
    pub id: String,
    /// The tenant that registered the resident.
    pub tenant_path: String,
    /// The name (masked: first character only).
    pub name: String,
    /// The id number (masked: `310***********1234`).
    pub id_number: String,
    /// The phone number (masked: `138****5678`).
    pub phone: Option<String>,
    /// The bank account (masked: first and last four digits).
    pub bank_account: Option<String>,
    /// The address (masked: up to the district).
    pub address: Option<String>,
    /// Whether the values above are masked.
    pub masked: bool,
    /// When the resident was registered.
    pub registered_at: DateTime<Utc>,
}

impl Resident {
    /// The masked view: what every caller sees unless allowed more.
    pub fn view(&self) -> ResidentView {
        ResidentView {
            id: self.id.clone(),
            tenant_path: self.tenant_path.clone(),
            name: mask::name(&self.name),
            id_number: mask::id_number(&self.id_number),
            phone: self.phone.as_deref().map(|v| mask::phone(v)),
            bank_account: self.bank_account.as_deref().map(|v| mask::bank_account(v)),
            address: self.address.as_deref().map(|v| mask::address(v)),
            masked: true,
            registered_at: self.created_at,
        }
    }

    /// The date of birth the identity number encodes (GB 11643): what a
    /// population record holds, never typed in separately.
    pub fn birth_date(&self) -> Option<chrono::NaiveDate> {
        IdNumber::parse(&self.id_number).ok()?.birth_date()
    }

    fn full_view(&self) -> ResidentView {
        ResidentView {
            id: self.id.clone(),
            tenant_path: self.tenant_path.clone(),
            name: self.name.clone(),
            id_number: self.id_number.to_string(),
            phone: self.phone.as_deref().map(|v| v.to_string()),
            bank_account: self.bank_account.as_deref().map(|v| v.to_string()),
            address: self.address.as_deref().map(|v| v.to_string()),
            masked: false,
            registered_at: self.created_at,
        }
    }
}

/// Normalises a phone number for its blind index: digits only, a leading
/// `+86`/`86` country code dropped from mobile numbers.
pub fn normalise_phone(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix("86") {
        Some(rest) if rest.len() == 11 => rest.to_owned(),
        _ => digits,
    }
}

const ID_FIELD: &str = "residents.id_number";
const PHONE_FIELD: &str = "residents.phone";
const BANK_FIELD: &str = "residents.bank_account";
const ADDRESS_FIELD: &str = "residents.address";

fn check_scope(tx: &TenantTx, tenant: &TenantPath) -> Result<(), PeopleError> {
    if tx.scope().covers(tenant) {
        Ok(())
    } else {
        Err(PeopleError::OutOfScope(tenant.to_string()))
    }
}

/// Registers a resident with `tenant`; returns its id.
pub async fn register(
    tx: &mut TenantTx,
    keyring: &Keyring,
    tenant: &TenantPath,
    resident: &NewResident,
) -> Result<String, PeopleError> {
    check_scope(tx, tenant)?;
    let sealer = keyring.sealer(tx, tenant).await?;
    let indexer = keyring.indexer(tx, tenant).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now().timestamp_micros();
    let seal = |field, value: &Option<String>| -> Result<Option<String>, VaultError> {
        value.as_deref().map(|v| sealer.seal(field, v)).transpose()
    };
    let id_number = sealer.seal(ID_FIELD, resident.id_number.as_str())?;
    let id_index = indexer.index(ID_FIELD, resident.id_number.as_str());
    let phone = seal(PHONE_FIELD, &resident.phone)?;
    let phone_index = resident
        .phone
        .as_deref()
        .map(|p| indexer.index(PHONE_FIELD, &normalise_phone(p)));
    let bank = seal(BANK_FIELD, &resident.bank_account)?;
    let address = seal(ADDRESS_FIELD, &resident.address)?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO residents (id, tenant_path, name, key_version, id_number, id_number_index, phone, phone_index, bank_account, address, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(id.clone())
        .bind(tenant.as_str().to_owned())
        .bind(resident.name.clone())
        .bind(sealer.version())
        .bind(id_number)
        .bind(id_index)
        .bind(phone)
        .bind(phone_index)
        .bind(bank)
        .bind(address)
        .bind(now)
        .execute(&mut *c)
        .await?;
    });
    Ok(id)
}

/// Changes a resident's contact data. The whole record is re-sealed with
/// the tenant's active key, so a write also completes a pending rotation
/// for that record. Returns false if no such resident is in scope.
pub async fn update_contact(
    tx: &mut TenantTx,
    keyring: &Keyring,
    id: &str,
    change: &ContactChange,
) -> Result<bool, PeopleError> {
    let Some(current) = get(tx, keyring, id).await? else {
        return Ok(false);
    };
    let tenant = TenantPath::parse(&current.tenant_path)
        .map_err(|_| PeopleError::OutOfScope(current.tenant_path.clone()))?;
    let sealer = keyring.sealer(tx, &tenant).await?;
    let indexer = keyring.indexer(tx, &tenant).await?;
    let pick = |new: &Option<String>, old: &Option<Zeroizing<String>>| -> Option<String> {
        new.clone()
            .or_else(|| old.as_deref().map(|v| v.to_string()))
    };
    let phone = pick(&change.phone, &current.phone);
    let bank = pick(&change.bank_account, &current.bank_account);
    let address = pick(&change.address, &current.address);
    let seal = |field, value: &Option<String>| -> Result<Option<String>, VaultError> {
        value.as_deref().map(|v| sealer.seal(field, v)).transpose()
    };
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper);
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "UPDATE residents SET key_version = $2, id_number = $3, phone = $4, phone_index = $5, bank_account = $6, address = $7, updated_at = $8 \
             WHERE id = $1 AND tenant_path >= $9 AND tenant_path < $10",
        )
        .bind(id.to_owned())
        .bind(sealer.version())
        .bind(sealer.seal(ID_FIELD, &current.id_number)?)
        .bind(seal(PHONE_FIELD, &phone)?)
        .bind(phone.as_deref().map(|p| indexer.index(PHONE_FIELD, &normalise_phone(p))))
        .bind(seal(BANK_FIELD, &bank)?)
        .bind(seal(ADDRESS_FIELD, &address)?)
        .bind(Utc::now().timestamp_micros())
        .bind(lower.clone())
        .bind(upper.clone())
        .execute(&mut *c)
        .await?;
    });
    Ok(true)
}

const COLUMNS: &str = "id, tenant_path, name, key_version, id_number, phone, bank_account, address, created_at, updated_at";

/// A resident row as stored: personal data still sealed.
#[derive(sqlx::FromRow)]
struct SealedRow {
    id: String,
    tenant_path: String,
    name: String,
    key_version: i64,
    id_number: String,
    phone: Option<String>,
    bank_account: Option<String>,
    address: Option<String>,
    created_at: i64,
    updated_at: i64,
}

/// The residents of the transaction's subtree whose `column` equals
/// `value`, opened, in tenant and id order.
async fn select_by(
    tx: &mut TenantTx,
    keyring: &Keyring,
    column: &'static str,
    value: String,
) -> Result<Vec<Resident>, PeopleError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper);
    let sql = format!(
        "SELECT {COLUMNS} FROM residents WHERE {column} = $1 AND tenant_path >= $2 AND tenant_path < $3 ORDER BY tenant_path, id"
    );
    let rows: Vec<SealedRow> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .bind(lower)
            .bind(upper)
            .fetch_all(&mut *c)
            .await?
    });
    open_rows(tx, keyring, rows).await
}

async fn open_rows(
    tx: &mut TenantTx,
    keyring: &Keyring,
    rows: Vec<SealedRow>,
) -> Result<Vec<Resident>, PeopleError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let tenant = TenantPath::parse(&row.tenant_path)
            .map_err(|_| PeopleError::OutOfScope(row.tenant_path.clone()))?;
        let opener = keyring.opener(tx, &tenant, row.key_version).await?;
        let open =
            |field, value: &Option<String>| -> Result<Option<Zeroizing<String>>, VaultError> {
                value.as_deref().map(|v| opener.open(field, v)).transpose()
            };
        out.push(Resident {
            id_number: opener.open(ID_FIELD, &row.id_number)?,
            phone: open(PHONE_FIELD, &row.phone)?,
            bank_account: open(BANK_FIELD, &row.bank_account)?,
            address: open(ADDRESS_FIELD, &row.address)?,
            id: row.id,
            tenant_path: row.tenant_path,
            name: row.name,
            created_at: DateTime::from_timestamp_micros(row.created_at).unwrap_or_default(),
            updated_at: DateTime::from_timestamp_micros(row.updated_at).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The resident `id`, if it lies in the transaction's scope.
pub async fn get(
    tx: &mut TenantTx,
    keyring: &Keyring,
    id: &str,
) -> Result<Option<Resident>, PeopleError> {
    Ok(select_by(tx, keyring, "id", id.to_owned())
        .await?
        .into_iter()
        .next())
}

/// The residents in scope with this id number (one per tenant at most),
/// found by blind index without decrypting anything else.
pub async fn find_by_id_number(
    tx: &mut TenantTx,
    keyring: &Keyring,
    id_number: &IdNumber,
) -> Result<Vec<Resident>, PeopleError> {
    let scope = tx.scope().path().clone();
    let index = keyring
        .indexer(tx, &scope)
        .await?
        .index(ID_FIELD, id_number.as_str());
    select_by(tx, keyring, "id_number_index", index).await
}

/// The residents in scope with this phone number, by blind index.
pub async fn find_by_phone(
    tx: &mut TenantTx,
    keyring: &Keyring,
    phone: &str,
) -> Result<Vec<Resident>, PeopleError> {
    let scope = tx.scope().path().clone();
    let index = keyring
        .indexer(tx, &scope)
        .await?
        .index(PHONE_FIELD, &normalise_phone(phone));
    select_by(tx, keyring, "phone_index", index).await
}

/// Residents of the scope's subtree, oldest first (by registration time,
/// then id), a page at a time: at most `limit`, after the one registered
/// at `after`'s time with `after`'s id (keyset paging: a page never skips
/// or repeats a resident when others are registered meanwhile).
pub async fn list(
    tx: &mut TenantTx,
    keyring: &Keyring,
    after: Option<(DateTime<Utc>, &str)>,
    limit: i64,
) -> Result<Vec<Resident>, PeopleError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let (lower, upper) = (lower.to_owned(), upper);
    let (after_at, after_id) = match after {
        Some((at, id)) => (Some(at.timestamp_micros()), Some(id.to_owned())),
        None => (None, None),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM residents WHERE tenant_path >= $1 AND tenant_path < $2 \
         AND ($3 IS NULL OR created_at > $3 OR (created_at = $3 AND id > $4)) \
         ORDER BY created_at, id LIMIT $5"
    );
    let rows: Vec<SealedRow> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(lower)
            .bind(upper)
            .bind(after_at)
            .bind(after_id)
            .bind(limit)
            .fetch_all(&mut *c)
            .await?
    });
    open_rows(tx, keyring, rows).await
}

/// The full, unmasked view of resident `id` for `actor`, recorded in the
/// resident's tenant's audit chain in the same transaction (commit it, or
/// neither the view nor the record counts). The caller decides beforehand
/// whether `actor` may see personal data in full.
pub async fn reveal(
    tx: &mut TenantTx,
    keyring: &Keyring,
    id: &str,
    actor: &str,
    reason: &str,
) -> Result<Option<ResidentView>, PeopleError> {
    let Some(resident) = get(tx, keyring, id).await? else {
        return Ok(None);
    };
    let tenant = TenantPath::parse(&resident.tenant_path)
        .map_err(|_| PeopleError::OutOfScope(resident.tenant_path.clone()))?;
    civitas_audit::record(
        tx,
        &tenant,
        &NewEvent {
            actor: actor.to_owned(),
            action: "personal_data.reveal".to_owned(),
            target: format!("resident:{id}"),
            detail: serde_json::json!({
                "fields": ["name", "id_number", "phone", "bank_account", "address"],
                "reason": reason,
            }),
        },
    )
    .await?;
    Ok(Some(resident.full_view()))
}
