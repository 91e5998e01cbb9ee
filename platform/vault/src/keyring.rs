//! Tenant keys: where they live, how they are found, and the in-memory
//! cache of unwrapped keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use civitas_crypto::{sm3, sm4};
use civitas_storage::{PlatformTx, TenantTx, with_connection};
use civitas_tenancy::TenantPath;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::{MasterKeyProvider, VaultError};

/// What a tenant key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// An SM4 key that seals a tenant's personal data.
    Data,
    /// An HMAC-SM3 key for blind indexes, one per root tenant.
    Index,
}

impl Purpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Data => "data",
            Purpose::Index => "index",
        }
    }

    /// The length of a key of this purpose, in bytes.
    pub(crate) fn key_len(self) -> usize {
        match self {
            Purpose::Data => 16,
            Purpose::Index => 32,
        }
    }
}

type Secret = Arc<Zeroizing<Vec<u8>>>;

/// Unwrapped keys by (tenant, purpose, version), with when they were cached.
type Cache = HashMap<(String, Purpose, i64), (Secret, std::time::Instant)>;

/// The context a tenant key is wrapped with: it ties the wrapped bytes to
/// their row, so a key cannot be copied to another tenant or version.
pub(crate) fn wrap_context(tenant: &str, purpose: Purpose, version: i64) -> Vec<u8> {
    format!("civitas-tenant-key|{tenant}|{}|{version}", purpose.as_str()).into_bytes()
}

/// How long an unwrapped key stays in memory: a key a rotation destroyed
/// leaves every running server within this time.
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// Finds, unwraps and caches tenant keys.
///
/// Unwrapped keys are cached by (tenant, purpose, version), which never
/// changes meaning, for at most [`CACHE_TTL`]; with an HSM or KMS provider
/// the cache saves a remote call per record.
#[derive(Debug)]
pub struct Keyring {
    provider: Arc<dyn MasterKeyProvider>,
    cache: Mutex<Cache>,
}

impl Keyring {
    /// A keyring over `provider`.
    pub fn new(provider: Arc<dyn MasterKeyProvider>) -> Keyring {
        Keyring {
            provider,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The master-key provider.
    pub fn provider(&self) -> &dyn MasterKeyProvider {
        self.provider.as_ref()
    }

    /// A sealer with `tenant`'s active data key, for writing.
    ///
    /// On PostgreSQL the key row is share-locked until `tx` ends, so a
    /// rotation cannot retire the key between this call and the commit of
    /// what it sealed; on SQLite the write transaction already excludes it.
    pub async fn sealer(
        &self,
        tx: &mut TenantTx,
        tenant: &TenantPath,
    ) -> Result<Sealer, VaultError> {
        if !tx.scope().covers(tenant) {
            return Err(VaultError::OutOfScope(tenant.to_string()));
        }
        let (version, key) = self.active(tx, tenant, Purpose::Data).await?;
        Ok(Sealer {
            tenant: tenant.as_str().to_owned(),
            version,
            key,
        })
    }

    /// A sealer with version `version` of `tenant`'s data key, for opening
    /// records sealed with it.
    pub async fn opener(
        &self,
        tx: &mut TenantTx,
        tenant: &TenantPath,
        version: i64,
    ) -> Result<Sealer, VaultError> {
        if !tx.scope().covers(tenant) {
            return Err(VaultError::OutOfScope(tenant.to_string()));
        }
        self.version(tx, tenant, version).await
    }

    /// A sealer with version `version` of `tenant`'s data key inside
    /// platform work, for opening records sealed with it.
    pub async fn platform_opener(
        &self,
        tx: &mut PlatformTx,
        tenant: &TenantPath,
        version: i64,
    ) -> Result<Sealer, VaultError> {
        self.version(tx, tenant, version).await
    }

    async fn version(
        &self,
        tx: &mut impl KeyTx,
        tenant: &TenantPath,
        version: i64,
    ) -> Result<Sealer, VaultError> {
        let cache_key = (tenant.as_str().to_owned(), Purpose::Data, version);
        if let Some(key) = self.cached(&cache_key) {
            return Ok(Sealer {
                tenant: cache_key.0,
                version,
                key,
            });
        }
        let row: Option<(Option<String>, String)> = with_connection!(tx.connection(), c => {
            sqlx::query_as("SELECT wrapped_key, master_key_id FROM tenant_keys WHERE tenant_path = $1 AND purpose = 'data' AND version = $2")
                .bind(tenant.as_str().to_owned())
                .bind(version)
                .fetch_optional(&mut *c)
                .await?
        });
        let (wrapped, master_key_id) = row.ok_or_else(|| VaultError::MissingKey {
            tenant: tenant.to_string(),
            purpose: "data",
        })?;
        let wrapped = wrapped.ok_or_else(|| VaultError::RetiredKey {
            tenant: tenant.to_string(),
            version,
        })?;
        let key = self.unwrap_and_cache(cache_key, &master_key_id, &wrapped)?;
        Ok(Sealer {
            tenant: tenant.as_str().to_owned(),
            version,
            key,
        })
    }

    /// The blind indexer of `tenant`'s root: one index key per root, so an
    /// exact-match lookup covers any subtree with one hash.
    pub async fn indexer(
        &self,
        tx: &mut TenantTx,
        tenant: &TenantPath,
    ) -> Result<BlindIndexer, VaultError> {
        let root = root_of(tenant);
        if !(tx.scope().covers(&root) || tx.scope().path().is_within(&root)) {
            return Err(VaultError::OutOfScope(root.to_string()));
        }
        let (_, key) = self.active(tx, &root, Purpose::Index).await?;
        Ok(BlindIndexer { key })
    }

    /// A sealer with `tenant`'s active data key inside platform work (the
    /// caller decided the tenant may be written; account administration
    /// writes accounts in platform transactions). Locks as [`Keyring::sealer`].
    pub async fn platform_sealer(
        &self,
        tx: &mut PlatformTx,
        tenant: &TenantPath,
    ) -> Result<Sealer, VaultError> {
        let (version, key) = self.active(tx, tenant, Purpose::Data).await?;
        Ok(Sealer {
            tenant: tenant.as_str().to_owned(),
            version,
            key,
        })
    }

    /// The blind indexer of `tenant`'s root inside platform work.
    pub async fn platform_indexer(
        &self,
        tx: &mut PlatformTx,
        tenant: &TenantPath,
    ) -> Result<BlindIndexer, VaultError> {
        let root = root_of(tenant);
        let (_, key) = self.active(tx, &root, Purpose::Index).await?;
        Ok(BlindIndexer { key })
    }

    /// The active key of `purpose` at `tenant`; callers check the scope
    /// (index keys live at the root, an ancestor of the scope; data keys at
    /// the record's own tenant, inside it).
    async fn active(
        &self,
        tx: &mut impl KeyTx,
        tenant: &TenantPath,
        purpose: Purpose,
    ) -> Result<(i64, Secret), VaultError> {
        // Lock only data keys: an index key is never retired.
        let lock = match purpose {
            Purpose::Data => tx.backend().lock_for_share(),
            Purpose::Index => "",
        };
        let sql = format!(
            "SELECT version, wrapped_key, master_key_id FROM tenant_keys \
             WHERE tenant_path = $1 AND purpose = $2 AND state = 'active'{lock}"
        );
        // A statement that waited on a rotation's switch-over can find the
        // old key no longer active and the new one not yet in its snapshot;
        // the next statement sees the new one.
        for _ in 0..3 {
            let row = with_connection!(tx.connection(), c => {
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(tenant.as_str().to_owned())
                    .bind(purpose.as_str())
                    .fetch_optional(&mut *c)
                    .await?
                    .map(|r| -> Result<(i64, Option<String>, String), sqlx::Error> {
                        Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
                    })
                    .transpose()?
            });
            if let Some((version, wrapped, master_key_id)) = row {
                let cache_key = (tenant.as_str().to_owned(), purpose, version);
                if let Some(key) = self.cached(&cache_key) {
                    return Ok((version, key));
                }
                let wrapped = wrapped.ok_or_else(|| VaultError::RetiredKey {
                    tenant: tenant.to_string(),
                    version,
                })?;
                let key = self.unwrap_and_cache(cache_key, &master_key_id, &wrapped)?;
                return Ok((version, key));
            }
        }
        Err(VaultError::MissingKey {
            tenant: tenant.to_string(),
            purpose: purpose.as_str(),
        })
    }

    fn cached(&self, cache_key: &(String, Purpose, i64)) -> Option<Secret> {
        let mut cache = self.cache.lock().ok()?;
        match cache.get(cache_key) {
            Some((key, at)) if at.elapsed() < CACHE_TTL => Some(key.clone()),
            Some(_) => {
                cache.remove(cache_key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn unwrap_and_cache(
        &self,
        cache_key: (String, Purpose, i64),
        master_key_id: &str,
        wrapped_hex: &str,
    ) -> Result<Secret, VaultError> {
        let (tenant, purpose, version) = &cache_key;
        let wrapped = hex::decode(wrapped_hex)
            .map_err(|e| VaultError::Malformed(format!("wrapped key: {e}")))?;
        let key = self.provider.unwrap(
            master_key_id,
            &wrapped,
            &wrap_context(tenant, *purpose, *version),
        )?;
        if key.len() != purpose.key_len() {
            return Err(VaultError::Malformed(format!(
                "unwrapped {} key has {} bytes",
                purpose.as_str(),
                key.len()
            )));
        }
        let key = Arc::new(key);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(cache_key, (key.clone(), std::time::Instant::now()));
        }
        Ok(key)
    }

    /// Forgets every cached key of `tenant` (after a rotation destroyed
    /// some of them).
    pub fn forget(&self, tenant: &TenantPath) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|(t, _, _), _| t != tenant.as_str());
        }
    }
}

/// Seals and opens the personal-data fields of one tenant's records with
/// one version of its data key (SM4-GCM).
///
/// A sealed field is `base64(nonce ‖ ciphertext ‖ tag)`. The tenant, the
/// field's name and the key version are authenticated with it, so a value
/// copied to another tenant or column does not open. A record stores the
/// version it was sealed with (`key_version`); all its fields share it.
#[derive(Clone)]
pub struct Sealer {
    tenant: String,
    version: i64,
    key: Secret,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("tenant", &self.tenant)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    pub(crate) fn new(tenant: &str, version: i64, key: Secret) -> Sealer {
        Sealer {
            tenant: tenant.to_owned(),
            version,
            key,
        }
    }

    /// The key version records sealed by this sealer must store.
    pub fn version(&self) -> i64 {
        self.version
    }

    fn aad(&self, field: &str) -> Vec<u8> {
        format!("civitas-field|{}|{field}|{}", self.tenant, self.version).into_bytes()
    }

    fn key(&self) -> Result<sm4::Key, VaultError> {
        Ok(sm4::Key::from_slice(&self.key)?)
    }

    /// Seals `plaintext` for the field `field` (e.g. `residents.phone`).
    pub fn seal(&self, field: &str, plaintext: &str) -> Result<String, VaultError> {
        use base64::Engine as _;
        let sealed = sm4::seal(&self.key()?, &self.aad(field), plaintext.as_bytes())?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
    }

    /// Opens a value sealed for `field`; fails if it was altered, moved or
    /// sealed under another key.
    pub fn open(&self, field: &str, sealed: &str) -> Result<Zeroizing<String>, VaultError> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|e| VaultError::Malformed(format!("{field}: {e}")))?;
        let plain = sm4::open(&self.key()?, &self.aad(field), &bytes)?;
        String::from_utf8(plain)
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Malformed(format!("{field}: not UTF-8")))
    }
}

/// Computes blind indexes: HMAC-SM3 under the root tenant's index key, so
/// equal values can be found without storing or decrypting them.
#[derive(Clone)]
pub struct BlindIndexer {
    key: Secret,
}

impl std::fmt::Debug for BlindIndexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexer(…)")
    }
}

impl BlindIndexer {
    /// The blind index of `value` (already normalised by the caller) in the
    /// field `field`; the field name is mixed in so equal values in two
    /// fields do not match.
    pub fn index(&self, field: &str, value: &str) -> String {
        let mut input = Vec::with_capacity(field.len() + 1 + value.len());
        input.extend_from_slice(field.as_bytes());
        input.push(0);
        input.extend_from_slice(value.as_bytes());
        hex::encode(sm3::hmac(&self.key, &input))
    }
}

/// The root of `tenant`'s tree, where its index key lives.
fn root_of(tenant: &TenantPath) -> TenantPath {
    tenant
        .lineage()
        .into_iter()
        .next()
        .unwrap_or_else(|| tenant.clone())
}

/// A transaction keys can be read in: a tenant's or the platform's.
trait KeyTx {
    fn backend(&self) -> civitas_storage::Backend;
    fn connection(&mut self) -> civitas_storage::Connection<'_>;
}

impl KeyTx for TenantTx {
    fn backend(&self) -> civitas_storage::Backend {
        TenantTx::backend(self)
    }
    fn connection(&mut self) -> civitas_storage::Connection<'_> {
        TenantTx::connection(self)
    }
}

impl KeyTx for PlatformTx {
    fn backend(&self) -> civitas_storage::Backend {
        PlatformTx::backend(self)
    }
    fn connection(&mut self) -> civitas_storage::Connection<'_> {
        PlatformTx::connection(self)
    }
}
