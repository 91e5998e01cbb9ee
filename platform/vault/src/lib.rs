//! Personal-data protection: keys, sealed columns, blind indexes, masking.
//!
//! - A **master key** ([`MasterKeyProvider`]; [`LocalMasterKeys`] from a
//!   file or `CIVITAS_MASTER_KEY`, an HSM or KMS behind the same trait)
//!   wraps every tenant key; nothing else is stored in the clear.
//! - Each tenant has an SM4 **data key** with versions; the [`Keyring`]
//!   hands out a [`Sealer`] for the active version to write and for any
//!   live version to read. Each root tenant has an HMAC-SM3 **index key**
//!   for [`BlindIndexer`]s, so exact-match lookups need no decryption.
//! - [`rotate`] moves a tenant to a new data key while the platform serves:
//!   old versions open records until none is left, then are destroyed.
//! - [`mask`] renders personal data for people who may not see it in full.
//!
//! A table holding personal data stores, per row, `key_version` and the
//! sealed columns (see [`ProtectedTable`]), plus blind-index columns for
//! the fields looked up by exact value.

mod error;
mod keyring;
mod manage;
pub mod mask;
mod master;

pub use error::VaultError;
pub use keyring::{BlindIndexer, CACHE_TTL, Keyring, Purpose, Sealer};
pub use manage::{
    KeyInfo, ProtectedTable, ProvisionReport, RotationReport, check_master_keys, key_counts,
    key_holders, keys_under_old_master, list, provision, rewrap, rotate,
};
pub use master::{LocalMasterKeys, MASTER_KEY_ENV, MasterKeyProvider};
