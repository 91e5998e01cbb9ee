//! The vault's error type.

use civitas_storage::StorageError;

/// What can go wrong. Messages never include key material or personal data.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A cipher operation failed.
    #[error(transparent)]
    Crypto(#[from] civitas_crypto::CryptoError),
    /// The master key could not be loaded.
    #[error("主密钥无法加载 (the master key cannot be loaded): {0}")]
    MasterKey(String),
    /// A wrapped key names a master key this platform does not hold.
    #[error(
        "缺少主密钥 {0}，无法解开租户密钥 (master key {0} is not configured; tenant keys wrapped by it cannot be unwrapped)"
    )]
    UnknownMasterKey(String),
    /// A tenant has no key of the kind asked for.
    #[error(
        "租户 {tenant} 没有可用的{purpose}密钥，请先运行 civitas keys provision (tenant {tenant} has no {purpose} key; run `civitas keys provision`)"
    )]
    MissingKey {
        /// The tenant.
        tenant: String,
        /// `data` or `index`.
        purpose: &'static str,
    },
    /// A record was sealed with a key that no longer exists.
    #[error(
        "租户 {tenant} 的数据密钥版本 {version} 已销毁 (data key version {version} of tenant {tenant} has been destroyed)"
    )]
    RetiredKey {
        /// The tenant.
        tenant: String,
        /// The key version.
        version: i64,
    },
    /// A sealed value is not in the stored format.
    #[error("加密字段格式无效 (a sealed field is malformed): {0}")]
    Malformed(String),
    /// Another rotation of the tenant began while this one ran; it carries
    /// on, and this one stopped without destroying anything.
    #[error(
        "租户 {0} 的另一次密钥轮换已开始，本次停止 (another rotation of {0} began; this one stopped)"
    )]
    RotationSuperseded(String),
    /// A tenant path is outside the transaction's scope.
    #[error("租户 {0} 不在事务范围内 (tenant {0} is outside the transaction's scope)")]
    OutOfScope(String),
}

impl From<sqlx::Error> for VaultError {
    fn from(e: sqlx::Error) -> VaultError {
        VaultError::Storage(StorageError::Database(e))
    }
}
