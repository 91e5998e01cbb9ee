//! Signing keys, publishing, listing, downloading and yanking artifacts.

use chrono::{DateTime, Utc};
use civitas_audit::NewEvent;
use civitas_crypto::sm2::{PublicKey, Signature};
use civitas_host::ComponentInfo;
use civitas_services::Service;
use civitas_storage::{TenantTx, with_connection};
use serde::Serialize;
use sqlx::Row;

use crate::{Conn, RegistryError, from_micros, now_micros};

/// The largest artifact the registry accepts.
pub const MAX_ARTIFACT_BYTES: usize = 16 << 20;

/// A publisher's registered SM2 public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SigningKey {
    /// The key's id.
    pub id: String,
    /// The account it belongs to.
    pub account_id: String,
    /// The public key, uncompressed SEC1 hex (`04…`).
    pub public_key: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// A published module version (without its bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleRecord {
    /// The module's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The service it implements.
    pub service: String,
    /// SM3 of the artifact, hex.
    pub digest: String,
    /// Size in bytes.
    pub size: i64,
    /// The WIT package version it was built against.
    pub wit_version: String,
    /// The world it implements.
    pub world: String,
    /// Its exports.
    pub exports: Vec<String>,
    /// The publisher's username.
    pub publisher: String,
    /// The signing key's id.
    pub signing_key: String,
    /// The SM2 signature (DER, hex).
    pub signature: String,
    /// When it was published.
    pub published_at: DateTime<Utc>,
    /// When it was yanked, if it was.
    pub yanked_at: Option<DateTime<Utc>>,
    /// Why.
    pub yank_reason: Option<String>,
}

impl ModuleRecord {
    /// `name@version`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// What a publisher sends.
#[derive(Debug, Clone)]
pub struct Publication<'a> {
    /// The module's name.
    pub name: &'a str,
    /// The version (`MAJOR.MINOR.PATCH`, optional `-pre`).
    pub version: &'a str,
    /// The service it implements.
    pub service: &'a Service,
    /// The component.
    pub artifact: &'a [u8],
    /// SM2 signature over [`civitas_devkit::signing_message`], DER or raw
    /// r‖s, hex.
    pub signature_hex: &'a str,
    /// The publishing account's id.
    pub publisher_account: &'a str,
    /// Its username.
    pub publisher: &'a str,
    /// What the artifact declares ([`civitas_host::ModuleHost::inspect`],
    /// run before the transaction: compiling takes time).
    pub info: &'a ComponentInfo,
}

/// Records a registry event in the chain of the transaction's tenant (the
/// root the action was authorised at).
async fn audit_in_scope(
    tx: &mut TenantTx,
    actor: &str,
    action: &str,
    target: String,
    detail: serde_json::Value,
) -> Result<(), RegistryError> {
    let root = tx.scope().path().clone();
    let event = NewEvent {
        actor: actor.to_owned(),
        action: action.to_owned(),
        target,
        detail,
    };
    civitas_audit::record(tx, &root, &event).await?;
    Ok(())
}

/// Registers an SM2 public key (SEC1 hex) for the account `account_id`
/// named `username`, given `proof`: a signature (hex) with that key over
/// [`civitas_devkit::key_registration_message`], so nobody registers a key
/// they do not hold.
pub async fn register_signing_key(
    tx: &mut TenantTx,
    account_id: &str,
    username: &str,
    public_key_hex: &str,
    proof_hex: &str,
) -> Result<SigningKey, RegistryError> {
    let key = PublicKey::from_hex(public_key_hex.trim()).map_err(|error| {
        RegistryError::Invalid(format!(
            "public_key 不是有效的 SM2 公钥 / is not an SM2 public key: {error}"
        ))
    })?;
    let public_key = key.to_hex();
    let proof = hex::decode(proof_hex.trim())
        .ok()
        .and_then(|bytes| Signature::parse(&bytes).ok())
        .ok_or(RegistryError::Unproven)?;
    key.verify(
        &civitas_devkit::key_registration_message(username, &public_key),
        &proof,
    )
    .map_err(|_| RegistryError::Unproven)?;
    let actor = username;
    let id = format!("sk_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let now = now_micros();
    let inserted = with_connection!(tx.conn(), c => {
        sqlx::query(
            "INSERT INTO signing_keys (id, account_id, public_key, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (public_key) DO NOTHING",
        )
        .bind(id.clone())
        .bind(account_id.to_owned())
        .bind(public_key.clone())
        .bind(now)
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    if inserted == 0 {
        return Err(RegistryError::Invalid(
            "该公钥已登记 / this public key is already registered".into(),
        ));
    }
    audit_in_scope(
        tx,
        actor,
        "signing_key.register",
        format!("signing_key:{id}"),
        serde_json::json!({ "account": account_id, "public_key": public_key }),
    )
    .await?;
    Ok(SigningKey {
        id,
        account_id: account_id.to_owned(),
        public_key,
        created_at: from_micros(now),
    })
}

/// Revokes signing key `id`: artifacts it signed stop verifying, so no node
/// loads them again and loaded ones are dropped at their next call
/// ([`crate::Runtime::load`] checks). `owner` limits the revocation to that
/// account's keys (a publisher revoking its own); `None` revokes any key
/// (the system administrator). Audited as `signing_key.revoke`; false when
/// there is no such live key.
pub async fn revoke_signing_key(
    tx: &mut TenantTx,
    id: &str,
    owner: Option<&str>,
    actor: &str,
) -> Result<bool, RegistryError> {
    let revoked = with_connection!(tx.conn(), c => {
        sqlx::query(
            "UPDATE signing_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             AND ($3 = '' OR account_id = $3)",
        )
        .bind(now_micros())
        .bind(id.to_owned())
        .bind(owner.unwrap_or_default().to_owned())
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    if revoked == 0 {
        return Ok(false);
    }
    audit_in_scope(
        tx,
        actor,
        "signing_key.revoke",
        format!("signing_key:{id}"),
        serde_json::json!({ "by_owner": owner.is_some() }),
    )
    .await?;
    Ok(true)
}

/// Whether version `name@version` is still signed by a live key (its
/// artifact was verified when it was loaded; a key revoked since then
/// withdraws that trust).
pub(crate) async fn still_trusted(
    tx: &mut impl crate::Conn,
    name: &str,
    version: &str,
) -> Result<bool, RegistryError> {
    let found = with_connection!(tx.conn(), c => {
        sqlx::query(
            "SELECT 1 AS live FROM modules m JOIN signing_keys k ON k.id = m.signing_key \
             WHERE m.name = $1 AND m.version = $2 AND k.revoked_at IS NULL",
        )
        .bind(name.to_owned())
        .bind(version.to_owned())
        .fetch_optional(&mut *c)
        .await?
        .is_some()
    });
    Ok(found)
}

/// The live signing keys of `account_id`.
pub async fn signing_keys(
    tx: &mut impl crate::Conn,
    account_id: &str,
) -> Result<Vec<SigningKey>, RegistryError> {
    let rows = with_connection!(tx.conn(), c => {
        sqlx::query(
            "SELECT id, account_id, public_key, created_at FROM signing_keys \
             WHERE account_id = $1 AND revoked_at IS NULL ORDER BY created_at",
        )
        .bind(account_id.to_owned())
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| -> Result<SigningKey, sqlx::Error> {
            Ok(SigningKey {
                id: r.try_get("id")?,
                account_id: r.try_get("account_id")?,
                public_key: r.try_get("public_key")?,
                created_at: from_micros(r.try_get("created_at")?),
            })
        })
        .collect::<Result<Vec<_>, _>>()?
    });
    Ok(rows)
}

/// Whether `version` is `MAJOR.MINOR.PATCH` with an optional `-pre` of
/// letters, digits, dots and dashes.
pub(crate) fn valid_version(version: &str) -> bool {
    let (core, pre) = match version.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (version, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
        && pre.is_none_or(|pre| {
            !pre.is_empty()
                && pre.len() <= 32
                && pre
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        })
}

fn parse_signature(text: &str) -> Result<Signature, RegistryError> {
    let bytes = hex::decode(text.trim()).map_err(|_| {
        RegistryError::Unsigned("signature 不是十六进制 / signature is not hex".into())
    })?;
    if bytes.is_empty() {
        return Err(RegistryError::Unsigned(
            "signature 为空 / no signature".into(),
        ));
    }
    Signature::parse(&bytes).map_err(|_| RegistryError::BadSignature)
}

/// Verifies and stores a new module version; audited as `module.publish` in
/// the transaction's root tenant chain.
pub async fn publish(
    tx: &mut TenantTx,
    publication: &Publication<'_>,
) -> Result<ModuleRecord, RegistryError> {
    let Publication {
        name,
        version,
        service,
        artifact,
        signature_hex,
        publisher_account,
        publisher,
        info,
    } = publication;
    if !civitas_devkit::valid_module_name(name) {
        return Err(RegistryError::Invalid(format!(
            "模块名称无效 / invalid module name {name:?}: lower-case letters, digits and dashes"
        )));
    }
    if !valid_version(version) {
        return Err(RegistryError::Invalid(format!(
            "版本号无效 / invalid version {version:?}: use MAJOR.MINOR.PATCH, e.g. 1.0.0"
        )));
    }
    if artifact.is_empty() || artifact.len() > MAX_ARTIFACT_BYTES {
        return Err(RegistryError::Invalid(format!(
            "制品大小须在 1 字节到 {MAX_ARTIFACT_BYTES} 字节之间 / the artifact must be 1 to {MAX_ARTIFACT_BYTES} bytes"
        )));
    }
    let digest = hex::encode(civitas_crypto::sm3::digest(artifact));
    let signature = parse_signature(signature_hex)?;
    let keys = signing_keys(tx, publisher_account).await?;
    if keys.is_empty() {
        return Err(RegistryError::Unsigned(format!(
            "{publisher} 没有登记签名公钥 / {publisher} has no registered signing key (POST /api/v1/signing-keys)"
        )));
    }
    let message = civitas_devkit::signing_message(name, version, &service.id, &digest, publisher);
    let key = keys
        .iter()
        .find(|key| {
            PublicKey::from_hex(&key.public_key)
                .is_ok_and(|public| public.verify(&message, &signature).is_ok())
        })
        .ok_or(RegistryError::BadSignature)?;
    if let Some(existing) = module(tx, name, version).await? {
        return Err(RegistryError::AlreadyPublished(existing.label()));
    }
    let earlier: Option<(String, String)> = with_connection!(tx.conn(), c => {
        sqlx::query_as("SELECT service, publisher FROM modules WHERE name = $1 ORDER BY published_at LIMIT 1")
            .bind(name.to_string())
            .fetch_optional(&mut *c)
            .await?
    });
    if let Some((other_service, owner)) = earlier {
        if owner != *publisher {
            return Err(RegistryError::NotOwner {
                name: name.to_string(),
                owner,
            });
        }
        if other_service != service.id {
            return Err(RegistryError::WrongService {
                name: name.to_string(),
                service: other_service,
                requested: service.id.clone(),
            });
        }
    }
    let now = now_micros();
    let exports = serde_json::to_string(&info.exports).unwrap_or_else(|_| "[]".into());
    let signature_hex = hex::encode(signature.to_der());
    let inserted = with_connection!(tx.conn(), c => {
        sqlx::query(
            "INSERT INTO modules (name, version, service, digest, size, wit_version, world, exports, publisher, \
             signing_key, signature, artifact, published_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (name, version) DO NOTHING",
        )
        .bind(name.to_string())
        .bind(version.to_string())
        .bind(service.id.clone())
        .bind(digest.clone())
        .bind(i64::try_from(artifact.len()).unwrap_or(i64::MAX))
        .bind(info.wit_version.clone())
        .bind(info.world.clone())
        .bind(exports)
        .bind(publisher.to_string())
        .bind(key.id.clone())
        .bind(signature_hex.clone())
        .bind(artifact.to_vec())
        .bind(now)
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    if inserted == 0 {
        return Err(RegistryError::AlreadyPublished(format!("{name}@{version}")));
    }
    audit_in_scope(
        tx,
        publisher,
        "module.publish",
        format!("module:{name}@{version}"),
        serde_json::json!({
            "service": service.id, "digest": digest, "size": artifact.len(),
            "signing_key": key.id, "wit_version": info.wit_version,
        }),
    )
    .await?;
    module(tx, name, version)
        .await?
        .ok_or_else(|| RegistryError::UnknownModule(format!("{name}@{version}")))
}

const COLUMNS: &str = "name, version, service, digest, size, wit_version, world, exports, publisher, \
     signing_key, signature, published_at, yanked_at, yank_reason";

fn record_from(row: &impl RowLike) -> Result<ModuleRecord, sqlx::Error> {
    row.record()
}

/// Reading a module row from either backend.
trait RowLike {
    fn record(&self) -> Result<ModuleRecord, sqlx::Error>;
}

macro_rules! impl_row_like {
    ($row:ty) => {
        impl RowLike for $row {
            fn record(&self) -> Result<ModuleRecord, sqlx::Error> {
                let exports: String = self.try_get("exports")?;
                Ok(ModuleRecord {
                    name: self.try_get("name")?,
                    version: self.try_get("version")?,
                    service: self.try_get("service")?,
                    digest: self.try_get("digest")?,
                    size: self.try_get("size")?,
                    wit_version: self.try_get("wit_version")?,
                    world: self.try_get("world")?,
                    exports: serde_json::from_str(&exports).unwrap_or_default(),
                    publisher: self.try_get("publisher")?,
                    signing_key: self.try_get("signing_key")?,
                    signature: self.try_get("signature")?,
                    published_at: from_micros(self.try_get("published_at")?),
                    yanked_at: self
                        .try_get::<Option<i64>, _>("yanked_at")?
                        .map(from_micros),
                    yank_reason: self.try_get("yank_reason")?,
                })
            }
        }
    };
}
impl_row_like!(sqlx::sqlite::SqliteRow);
impl_row_like!(sqlx::postgres::PgRow);

/// Every published version, newest first; only `service`'s when given.
pub async fn modules(
    tx: &mut impl crate::Conn,
    service: Option<&str>,
) -> Result<Vec<ModuleRecord>, RegistryError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM modules WHERE ($1 = '' OR service = $1) ORDER BY name, published_at DESC"
    );
    let service = service.unwrap_or_default().to_owned();
    let records = with_connection!(tx.conn(), c => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(service)
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(record_from)
            .collect::<Result<Vec<_>, _>>()?
    });
    Ok(records)
}

/// One version.
pub async fn module(
    tx: &mut impl crate::Conn,
    name: &str,
    version: &str,
) -> Result<Option<ModuleRecord>, RegistryError> {
    let sql = format!("SELECT {COLUMNS} FROM modules WHERE name = $1 AND version = $2");
    let record = with_connection!(tx.conn(), c => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name.to_owned())
            .bind(version.to_owned())
            .fetch_optional(&mut *c)
            .await?
            .as_ref()
            .map(record_from)
            .transpose()?
    });
    Ok(record)
}

/// A version's artifact, verified: its SM3 digest and the publisher's SM2
/// signature are checked again, so an artifact altered in storage is never
/// served or loaded.
pub async fn artifact(
    tx: &mut impl crate::Conn,
    name: &str,
    version: &str,
) -> Result<(ModuleRecord, Vec<u8>), RegistryError> {
    let label = format!("{name}@{version}");
    let record = module(tx, name, version)
        .await?
        .ok_or_else(|| RegistryError::UnknownModule(label.clone()))?;
    let (bytes, public_key): (Vec<u8>, String) = with_connection!(tx.conn(), c => {
        let row = sqlx::query(
            "SELECT m.artifact, k.public_key FROM modules m JOIN signing_keys k ON k.id = m.signing_key \
             WHERE m.name = $1 AND m.version = $2 AND k.revoked_at IS NULL",
        )
        .bind(name.to_owned())
        .bind(version.to_owned())
        .fetch_optional(&mut *c)
        .await?;
        match row {
            Some(row) => (row.try_get("artifact")?, row.try_get("public_key")?),
            // Its signing key was revoked: no longer trusted.
            None => return Err(RegistryError::KeyRevoked(label.clone())),
        }
    });
    let digest = hex::encode(civitas_crypto::sm3::digest(&bytes));
    let message =
        civitas_devkit::signing_message(name, version, &record.service, &digest, &record.publisher);
    let verified = digest == record.digest
        && hex::decode(&record.signature)
            .ok()
            .and_then(|der| Signature::parse(&der).ok())
            .zip(PublicKey::from_hex(&public_key).ok())
            .is_some_and(|(signature, key)| key.verify(&message, &signature).is_ok());
    if !verified {
        tracing::error!(module = %label, "stored artifact fails its digest or signature check");
        return Err(RegistryError::Tampered(label));
    }
    Ok((record, bytes))
}

/// Yanks a version (its publisher only): it stays loadable for bindings
/// that use it, but cannot be newly bound. Audited as `module.yank`.
pub async fn yank(
    tx: &mut TenantTx,
    name: &str,
    version: &str,
    reason: &str,
    actor: &str,
) -> Result<ModuleRecord, RegistryError> {
    let reason = reason.trim();
    let existing = module(tx, name, version)
        .await?
        .ok_or_else(|| RegistryError::UnknownModule(format!("{name}@{version}")))?;
    if existing.publisher != actor {
        return Err(RegistryError::NotOwner {
            name: name.to_owned(),
            owner: existing.publisher,
        });
    }
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(RegistryError::Invalid(
            "撤回须说明原因（1–500 字）/ a yank needs a reason of 1–500 characters".into(),
        ));
    }
    let updated = with_connection!(tx.conn(), c => {
        sqlx::query(
            "UPDATE modules SET yanked_at = $1, yanked_by = $2, yank_reason = $3 \
             WHERE name = $4 AND version = $5 AND yanked_at IS NULL",
        )
        .bind(now_micros())
        .bind(actor.to_owned())
        .bind(reason.to_owned())
        .bind(name.to_owned())
        .bind(version.to_owned())
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    let record = module(tx, name, version)
        .await?
        .ok_or_else(|| RegistryError::UnknownModule(format!("{name}@{version}")))?;
    if updated > 0 {
        audit_in_scope(
            tx,
            actor,
            "module.yank",
            format!("module:{name}@{version}"),
            serde_json::json!({ "reason": reason }),
        )
        .await?;
    }
    Ok(record)
}
