//! SM4 (GB/T 32907-2016): GCM for data at rest and in transit, CBC only to
//! read and write what other systems produce.
//!
//! The block cipher is `civitas-sm4-simd`: sixteen blocks at a time with
//! the S-box computed by GFNI where the CPU has AVX2 and GFNI (constant
//! time, no table), the portable RustCrypto `sm4` crate elsewhere. Both give
//! the same bytes (that crate's tests and fuzz target check it).

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use civitas_sm4_simd::Sm4;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;

/// GCM with SM4 as the block cipher, 96-bit nonces and 128-bit tags.
type Sm4Gcm = aes_gcm::AesGcm<Sm4, U12>;

/// The length of a GCM nonce.
pub const NONCE_LEN: usize = 12;
/// The length of a GCM tag.
pub const TAG_LEN: usize = 16;

/// A 128-bit SM4 key, wiped from memory when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key([u8; 16]);

impl Key {
    /// A key from its 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Key {
        Key(bytes)
    }

    /// A key from a byte slice, which must be 16 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Key, CryptoError> {
        let bytes: [u8; 16] = bytes.try_into().map_err(|_| {
            CryptoError::InvalidKey(format!(
                "SM4 密钥应为16字节 (an SM4 key is 16 bytes, got {})",
                bytes.len()
            ))
        })?;
        Ok(Key(bytes))
    }

    /// A key from 32 hex digits.
    pub fn from_hex(text: &str) -> Result<Key, CryptoError> {
        let bytes =
            hex::decode(text.trim()).map_err(|e| CryptoError::InvalidKey(format!("hex: {e}")))?;
        Key::from_slice(&bytes)
    }

    /// A fresh random key.
    pub fn generate() -> Result<Key, CryptoError> {
        let mut bytes = [0u8; 16];
        crate::random_bytes(&mut bytes)?;
        Ok(Key(bytes))
    }

    /// The key's bytes (for wrapping it under another key).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    fn gcm(&self) -> Sm4Gcm {
        Sm4Gcm::new(&self.0.into())
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sm4::Key(…)")
    }
}

/// Encrypts with SM4-GCM under a fresh random nonce; returns
/// `nonce ‖ ciphertext ‖ tag`. `aad` is authenticated, not encrypted (bind
/// a record's id and tenant here so that ciphertexts cannot be swapped).
pub fn seal(key: &Key, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::random_bytes(&mut nonce)?;
    let sealed = encrypt_gcm(key, &nonce, aad, plaintext)?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts what [`seal`] produced.
pub fn open(key: &Key, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::BadCiphertext);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::BadCiphertext)?;
    decrypt_gcm(key, &nonce, aad, rest)
}

/// SM4-GCM with an explicit nonce; returns `ciphertext ‖ tag`. A nonce must
/// never be reused under one key: prefer [`seal`].
pub fn encrypt_gcm(
    key: &Key,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    key.gcm()
        .encrypt(
            &(*nonce).into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Encrypt("SM4-GCM".into()))
}

/// Decrypts `ciphertext ‖ tag` with SM4-GCM; fails if anything was altered.
pub fn decrypt_gcm(
    key: &Key,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    key.gcm()
        .decrypt(
            &(*nonce).into(),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| CryptoError::BadCiphertext)
}

/// SM4-CBC with PKCS#7 padding, for interoperability only: it is not
/// authenticated.
pub fn encrypt_cbc(key: &Key, iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<Sm4>::new(&key.0.into(), &(*iv).into()).encrypt_padded_vec::<Pkcs7>(plaintext)
}

/// Decrypts SM4-CBC with PKCS#7 padding.
pub fn decrypt_cbc(key: &Key, iv: &[u8; 16], ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return Err(CryptoError::BadCiphertext);
    }
    cbc::Decryptor::<Sm4>::new(&key.0.into(), &(*iv).into())
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map_err(|_| CryptoError::BadCiphertext)
}
