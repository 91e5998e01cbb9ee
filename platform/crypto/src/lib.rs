//! Chinese national cryptography (国密) for Civitas, on the RustCrypto
//! `sm2`, `sm3` and `sm4` crates (constant-time implementations).
//!
//! - [`sm3`]: the SM3 hash (GB/T 32905), HMAC-SM3 and the SM3 key derivation
//!   function of GB/T 32918.4.
//! - [`sm4`]: SM4 (GB/T 32907) in GCM, the default and authenticated, and in
//!   CBC with PKCS#7 padding, for interoperability only.
//! - [`sm2`]: SM2 (GB/T 32918) keys in PKCS#8/SubjectPublicKeyInfo PEM or DER
//!   and in hex; signatures with a user id (default `1234567812345678`) in
//!   DER or raw `r‖s`; public-key encryption in C1C3C2 (GM/T 0009-2012, the
//!   default) or the legacy C1C2C3 order, with or without the leading `04`
//!   of C1 that browser libraries omit.
//!
//! - [`password`]: PBKDF2-HMAC-SM3 password hashes.
//!
//! Malformed keys, ciphertexts and signatures are errors, never panics.
//!
//! ```
//! use civitas_crypto::{sm2, sm3};
//!
//! assert_eq!(
//!     hex::encode(sm3::digest(b"abc")),
//!     "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
//! );
//! let key = sm2::PrivateKey::generate().unwrap();
//! let signature = key.sign(b"meal subsidy case 42").unwrap();
//! assert!(key.public_key().verify(b"meal subsidy case 42", &signature).is_ok());
//! ```

mod error;
pub mod password;
pub mod sm2;
pub mod sm3;
pub mod sm4;

pub use error::CryptoError;

/// Fills `buf` from the operating system's secure random source.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|e| CryptoError::Random(e.to_string()))
}

/// A uniform index below `n` (1 ≤ n ≤ 256) from the secure random source,
/// by rejection sampling (no modulo bias), for drawing characters of
/// generated passwords.
pub fn random_index(n: usize) -> Result<usize, CryptoError> {
    if n == 0 || n > 256 {
        return Err(CryptoError::InvalidKey(format!("random_index: n = {n}")));
    }
    let limit = 256 - 256 % n;
    loop {
        let mut byte = [0u8; 1];
        random_bytes(&mut byte)?;
        let b = usize::from(byte[0]);
        if b < limit {
            return Ok(b % n);
        }
    }
}

/// Whether `a` and `b` are equal, in time that depends only on their
/// lengths (for comparing digests of secrets).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.ct_eq(b).into()
}
