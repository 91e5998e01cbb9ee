//! The crypto error type.

/// What can go wrong. Messages never include key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A key could not be parsed (wrong length, not on the curve, bad PEM/DER/hex).
    #[error("密钥无效 (invalid key): {0}")]
    InvalidKey(String),
    /// A signature could not be parsed.
    #[error("签名格式无效 (malformed signature): {0}")]
    MalformedSignature(String),
    /// A well-formed signature does not verify.
    #[error("签名验证失败 (signature does not verify)")]
    BadSignature,
    /// A ciphertext is malformed, truncated or fails authentication.
    #[error("密文无效或已被篡改 (invalid or tampered ciphertext)")]
    BadCiphertext,
    /// Hex or base64 input does not decode.
    #[error("编码无效 (invalid encoding): {0}")]
    Encoding(String),
    /// The secure random source failed.
    #[error("随机数生成失败 (random source failed): {0}")]
    Random(String),
    /// Encryption failed (for SM2, an input the algorithm cannot take).
    #[error("加密失败 (encryption failed): {0}")]
    Encrypt(String),
}
