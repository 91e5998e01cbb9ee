//! SM2 (GB/T 32918-2016): keys, signatures and public-key encryption.

use sm2::dsa::signature::Verifier as _;
use sm2::elliptic_curve::Generate as _;
use sm2::elliptic_curve::common::getrandom::SysRng;
use sm2::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
    LineEnding,
};
use zeroize::Zeroizing;

use crate::CryptoError;

/// The user id (distinguishing identifier) that GB/T 32918 and GM/T 0009
/// use when none is agreed: `1234567812345678`.
pub const DEFAULT_USER_ID: &str = "1234567812345678";

/// The order of the parts of an SM2 ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CiphertextOrder {
    /// C1 ‖ C3 ‖ C2: GM/T 0009-2012 and GB/T 32918.4-2016, the current standard.
    #[default]
    C1C3C2,
    /// C1 ‖ C2 ‖ C3: the legacy order some older systems still produce.
    C1C2C3,
}

impl CiphertextOrder {
    fn mode(self) -> sm2::pke::Mode {
        match self {
            CiphertextOrder::C1C3C2 => sm2::pke::Mode::C1C3C2,
            CiphertextOrder::C1C2C3 => sm2::pke::Mode::C1C2C3,
        }
    }
}

fn key_error(what: &str) -> impl Fn(sm2::elliptic_curve::Error) -> CryptoError + '_ {
    move |_| CryptoError::InvalidKey(what.to_owned())
}

/// An SM2 private key. The secret is wiped from memory when dropped.
///
/// Signing with the default user id reuses what depends only on the key
/// (its public key, Z and (1 + d)⁻¹), computed at the first signature.
#[derive(Clone)]
pub struct PrivateKey(sm2::SecretKey, std::sync::OnceLock<std::sync::Arc<Signing>>);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sm2::PrivateKey(…)")
    }
}

impl PrivateKey {
    fn of(secret: sm2::SecretKey) -> PrivateKey {
        PrivateKey(secret, std::sync::OnceLock::new())
    }

    /// A fresh key from the operating system's secure random source.
    pub fn generate() -> Result<PrivateKey, CryptoError> {
        sm2::SecretKey::try_generate()
            .map(PrivateKey::of)
            .map_err(|e| CryptoError::Random(e.to_string()))
    }

    /// Parses a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<PrivateKey, CryptoError> {
        sm2::SecretKey::from_pkcs8_pem(pem)
            .map(PrivateKey::of)
            .map_err(|e| CryptoError::InvalidKey(format!("PKCS#8 PEM: {e}")))
    }

    /// Parses a PKCS#8 DER private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, CryptoError> {
        sm2::SecretKey::from_pkcs8_der(der)
            .map(PrivateKey::of)
            .map_err(|e| CryptoError::InvalidKey(format!("PKCS#8 DER: {e}")))
    }

    /// Parses the 32-byte secret scalar in hex (64 digits), as browser
    /// libraries exchange it.
    pub fn from_hex(text: &str) -> Result<PrivateKey, CryptoError> {
        let bytes = Zeroizing::new(
            hex::decode(text.trim()).map_err(|e| CryptoError::InvalidKey(format!("hex: {e}")))?,
        );
        if bytes.len() != 32 {
            return Err(CryptoError::InvalidKey(format!(
                "私钥应为32字节 (a private key is 32 bytes, got {})",
                bytes.len()
            )));
        }
        sm2::SecretKey::from_slice(&bytes)
            .map(PrivateKey::of)
            .map_err(key_error("私钥不在有效范围内 (private key out of range)"))
    }

    /// The key as PKCS#8 PEM.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, CryptoError> {
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| CryptoError::InvalidKey(format!("PKCS#8 PEM: {e}")))
    }

    /// The key as PKCS#8 DER.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.0
            .to_pkcs8_der()
            .map(|doc| Zeroizing::new(doc.as_bytes().to_vec()))
            .map_err(|e| CryptoError::InvalidKey(format!("PKCS#8 DER: {e}")))
    }

    /// The secret scalar in hex (64 digits).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.to_bytes()))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.public_key())
    }

    /// Signs `message` with the default user id: `SM3(Z ‖ message)`.
    pub fn sign(&self, message: &[u8]) -> Result<Signature, CryptoError> {
        let signing = match self.1.get() {
            Some(signing) => signing,
            None => {
                let made = std::sync::Arc::new(Signing::new(&self.0, DEFAULT_USER_ID)?);
                self.1.get_or_init(|| made)
            }
        };
        signing.sign(message)
    }

    /// Signs `message` with `user_id` in Z.
    pub fn sign_with_id(&self, message: &[u8], user_id: &str) -> Result<Signature, CryptoError> {
        if user_id == DEFAULT_USER_ID {
            return self.sign(message);
        }
        Signing::new(&self.0, user_id)?.sign(message)
    }

    /// Decrypts an SM2 ciphertext in `order`. C1 may come with its leading
    /// `04` or without it, as browser libraries send it.
    pub fn decrypt(
        &self,
        ciphertext: &[u8],
        order: CiphertextOrder,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        // C1 (64 or 65 bytes) and C3 (32 bytes) come before any plaintext.
        if ciphertext.len() < 64 + 32 {
            return Err(CryptoError::BadCiphertext);
        }
        let key = sm2::pke::DecryptingKey::new_with_mode(self.0.to_nonzero_scalar(), order.mode());
        if ciphertext[0] == 0x04
            && let Ok(plaintext) = key.decrypt(ciphertext)
        {
            return Ok(Zeroizing::new(plaintext));
        }
        // Without the 04 (or an x coordinate that happens to start with 04):
        // C3 authenticates the result, so a wrong guess cannot pass.
        let mut prefixed = Vec::with_capacity(ciphertext.len() + 1);
        prefixed.push(0x04);
        prefixed.extend_from_slice(ciphertext);
        key.decrypt(&prefixed)
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::BadCiphertext)
    }
}

/// What signing with one key and one user id needs besides the nonce,
/// computed once: Z (GB/T 32918.2 §5.5) and (1 + d)⁻¹ (step A6). A
/// signature then costs the message hash, the RFC 6979 nonce, one
/// fixed-base multiplication (the `sm2` crate's precomputed table), one
/// field inversion and two scalar multiplications, against the `sm2`
/// crate's `SigningKey::new` + `try_sign`, which also multiplies the
/// public key out, hashes Z and inverts (1 + d) at every call.
///
/// The nonce is derived exactly as `sm2::dsa::SigningKey` derives it
/// (RFC 6979 with SM3 over d and e), so the signatures are the same bytes:
/// the tests hold it to that on random keys and messages.
pub(crate) struct Signing {
    d: sm2::NonZeroScalar,
    d_plus_1_inv: sm2::Scalar,
    z: [u8; 32],
}

impl Drop for Signing {
    fn drop(&mut self) {
        // The secret and (1 + d)⁻¹, which gives it away, are wiped like the
        // key itself.
        use zeroize::Zeroize as _;
        self.d.zeroize();
        self.d_plus_1_inv.zeroize();
        self.z.zeroize();
    }
}

impl Signing {
    fn new(secret: &sm2::SecretKey, user_id: &str) -> Result<Signing, CryptoError> {
        let d = secret.to_nonzero_scalar();
        let d_plus_1_inv = Option::<sm2::Scalar>::from((*d + sm2::Scalar::ONE).invert())
            .ok_or_else(|| CryptoError::InvalidKey("d = n − 1 cannot sign".into()))?;
        let public = sm2::dsa::VerifyingKey::new(user_id, secret.public_key())
            .map_err(|_| CryptoError::InvalidKey("用户标识过长 (user id too long)".into()))?;
        let point = public.to_sec1_bytes();
        let z = z_digest(user_id, &point)?;
        Ok(Signing { d, d_plus_1_inv, z })
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, CryptoError> {
        use sm2::elliptic_curve::point::AffineCoordinates as _;
        use sm2::elliptic_curve::{Curve as _, PrimeField as _};
        use sm3::Digest as _;
        let failed = || CryptoError::InvalidKey("signing failed".into());
        // A1–A2: e = SM3(Z ‖ M), as an integer mod n.
        let hash = sm3::Sm3::new_with_prefix(self.z)
            .chain_update(message)
            .finalize();
        let e = <sm2::Scalar as sm2::elliptic_curve::ops::Reduce<sm2::U256>>::reduce(
            &sm2::U256::from_be_slice(&hash),
        );
        // A3: k by RFC 6979 over d and e, as the sm2 crate does.
        let mut kgen = rfc6979::KGenerator::<sm3::Sm3, sm2::U256>::new(
            &self.d.to_repr(),
            &e.to_bytes(),
            &[],
            &sm2::Sm2::ORDER,
        );
        let mut k_bytes = sm2::FieldBytes::default();
        kgen.fill_next_k(&mut k_bytes);
        let k = Option::<sm2::Scalar>::from(sm2::Scalar::from_repr(k_bytes)).ok_or_else(failed)?;
        // A4–A5: (x1, y1) = [k]G; r = (e + x1) mod n, never 0 or n − k.
        let point: sm2::ProjectivePoint = sm2::elliptic_curve::group::Group::mul_by_generator(&k);
        let x1 = sm2::elliptic_curve::group::Curve::to_affine(&point).x();
        let r = e + <sm2::Scalar as sm2::elliptic_curve::ops::Reduce<sm2::FieldBytes>>::reduce(&x1);
        if bool::from(r.is_zero() | (r + k).is_zero()) {
            return Err(failed());
        }
        // A6: s = (1 + d)⁻¹ (k − r d) mod n.
        let s = self.d_plus_1_inv * (k - r * *self.d);
        sm2::dsa::Signature::from_scalars(r, s)
            .map(Signature)
            .map_err(|_| failed())
    }
}

/// Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A) (GB/T 32918.2 §5.5),
/// for the uncompressed public key `point` (`04 ‖ x ‖ y`).
fn z_digest(user_id: &str, point: &[u8]) -> Result<[u8; 32], CryptoError> {
    use sm3::Digest as _;
    // The curve's parameters, GB/T 32918.5 (sm2p256v1).
    const CURVE: [&str; 4] = [
        "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC",
        "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93",
        "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7",
        "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0",
    ];
    let bits = u16::try_from(user_id.len() * 8)
        .map_err(|_| CryptoError::InvalidKey("用户标识过长 (user id too long)".into()))?;
    let (Some(0x04), 65) = (point.first().copied(), point.len()) else {
        return Err(CryptoError::InvalidKey(
            "public key is not an uncompressed point".into(),
        ));
    };
    let mut sm3 = sm3::Sm3::new();
    sm3.update(bits.to_be_bytes());
    sm3.update(user_id.as_bytes());
    for hex_value in CURVE {
        let bytes =
            hex::decode(hex_value).map_err(|_| CryptoError::InvalidKey("curve constant".into()))?;
        sm3.update(bytes);
    }
    sm3.update(&point[1..]);
    Ok(sm3.finalize().into())
}

/// An SM2 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(sm2::PublicKey);

impl PublicKey {
    /// Parses a SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_spki_pem(pem: &str) -> Result<PublicKey, CryptoError> {
        sm2::PublicKey::from_public_key_pem(pem)
            .map(PublicKey)
            .map_err(|e| CryptoError::InvalidKey(format!("SubjectPublicKeyInfo PEM: {e}")))
    }

    /// Parses a SubjectPublicKeyInfo DER.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, CryptoError> {
        sm2::PublicKey::from_public_key_der(der)
            .map(PublicKey)
            .map_err(|e| CryptoError::InvalidKey(format!("SubjectPublicKeyInfo DER: {e}")))
    }

    /// Parses a point in hex: `04 ‖ x ‖ y` (130 digits), `x ‖ y` without the
    /// `04` as browser libraries write it (128 digits), or compressed (66).
    pub fn from_hex(text: &str) -> Result<PublicKey, CryptoError> {
        let mut bytes =
            hex::decode(text.trim()).map_err(|e| CryptoError::InvalidKey(format!("hex: {e}")))?;
        if bytes.len() == 64 {
            bytes.insert(0, 0x04);
        }
        sm2::PublicKey::from_sec1_bytes(&bytes)
            .map(PublicKey)
            .map_err(key_error(
                "公钥不是曲线上的点 (not a point on the SM2 curve)",
            ))
    }

    /// The key as SubjectPublicKeyInfo PEM.
    pub fn to_spki_pem(&self) -> Result<String, CryptoError> {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| CryptoError::InvalidKey(format!("SubjectPublicKeyInfo PEM: {e}")))
    }

    /// The key as SubjectPublicKeyInfo DER.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        self.0
            .to_public_key_der()
            .map(|doc| doc.as_bytes().to_vec())
            .map_err(|e| CryptoError::InvalidKey(format!("SubjectPublicKeyInfo DER: {e}")))
    }

    /// The uncompressed point `04 ‖ x ‖ y` in hex (130 digits).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_sec1_bytes())
    }

    /// Verifies a signature made with the default user id.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        self.verify_with_id(message, signature, DEFAULT_USER_ID)
    }

    /// Verifies a signature made with `user_id` in Z.
    pub fn verify_with_id(
        &self,
        message: &[u8],
        signature: &Signature,
        user_id: &str,
    ) -> Result<(), CryptoError> {
        let verifier = sm2::dsa::VerifyingKey::new(user_id, self.0)
            .map_err(|_| CryptoError::InvalidKey("用户标识过长 (user id too long)".into()))?;
        verifier
            .verify(message, &signature.0)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// Encrypts `plaintext` to this key; C1 carries its leading `04`.
    pub fn encrypt(
        &self,
        plaintext: &[u8],
        order: CiphertextOrder,
    ) -> Result<Vec<u8>, CryptoError> {
        if plaintext.is_empty() {
            return Err(CryptoError::Encrypt(
                "明文不能为空 (the plaintext must not be empty)".into(),
            ));
        }
        sm2::pke::EncryptingKey::new_with_mode(self.0, order.mode())
            .encrypt(&mut SysRng, plaintext)
            .map_err(|e| CryptoError::Encrypt(e.to_string()))
    }
}

/// An SM2 signature `(r, s)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature(sm2::dsa::Signature);

impl Signature {
    /// Parses an ASN.1 DER signature (`SEQUENCE { r INTEGER, s INTEGER }`).
    pub fn from_der(der: &[u8]) -> Result<Signature, CryptoError> {
        sm2::dsa::Signature::from_der(der)
            .map(Signature)
            .map_err(|_| CryptoError::MalformedSignature("DER".into()))
    }

    /// Parses a raw 64-byte `r ‖ s` signature.
    pub fn from_raw(bytes: &[u8]) -> Result<Signature, CryptoError> {
        if bytes.len() != 64 {
            return Err(CryptoError::MalformedSignature(format!(
                "r‖s 应为64字节 (r‖s is 64 bytes, got {})",
                bytes.len()
            )));
        }
        sm2::dsa::Signature::from_slice(bytes)
            .map(Signature)
            .map_err(|_| CryptoError::MalformedSignature("r‖s out of range".into()))
    }

    /// Parses either form: 64 bytes are raw `r ‖ s`, anything else DER.
    pub fn parse(bytes: &[u8]) -> Result<Signature, CryptoError> {
        if bytes.len() == 64 {
            Signature::from_raw(bytes)
        } else {
            Signature::from_der(bytes)
        }
    }

    /// The DER encoding.
    pub fn to_der(&self) -> Vec<u8> {
        self.0.to_der().to_vec()
    }

    /// The raw `r ‖ s` encoding (64 bytes).
    pub fn to_raw(&self) -> [u8; 64] {
        self.0.to_bytes().into()
    }
}
