//! The key chain: the platform's root certificate (self-signed with the
//! platform key) and each seal's certificate, which the root issues.
//!
//! Certificates are X.509 v3 with SM2 keys signed SM3withSM2 (the default
//! user id), so `openssl x509` and any GM toolkit read them.

use std::time::Duration;

use civitas_crypto::sm2::{PrivateKey, PublicKey, Signature};
use der::asn1::{Any, BitString, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode};

use crate::SealError;
use crate::asn1::{
    AlgorithmIdentifier, AttributeTypeAndValue, BASIC_CONSTRAINTS, COMMON_NAME, COUNTRY,
    Certificate, Extension, KEY_USAGE, Name, ORGANIZATION, ORGANIZATIONAL_UNIT, SM3_WITH_SM2,
    TbsCertificate, Validity,
};

/// The root's subject. Fixed, with fixed validity, so the platform key
/// always yields the same root certificate (SM2 signatures here use
/// deterministic nonces): nothing to store, nothing to drift.
const ROOT_NAME: &str = "Civitas 平台根证书 / Civitas platform root";
/// 2025-01-01T00:00:00Z.
const ROOT_NOT_BEFORE: u64 = 1_735_689_600;
/// 2049-12-31T23:59:59Z, the last instant UTCTime can write.
const ROOT_NOT_AFTER: u64 = 2_524_607_999;

/// basicConstraints: cA TRUE.
const CA_TRUE: &[u8] = &[0x30, 0x03, 0x01, 0x01, 0xff];
/// keyUsage: keyCertSign | cRLSign (bits 5 and 6).
const USAGE_CA: &[u8] = &[0x03, 0x02, 0x01, 0x06];
/// keyUsage: digitalSignature | nonRepudiation (bits 0 and 1).
const USAGE_SEAL: &[u8] = &[0x03, 0x02, 0x06, 0xc0];

fn name(parts: &[(der::asn1::ObjectIdentifier, &str)]) -> Result<Name, SealError> {
    parts
        .iter()
        .map(|(oid, value)| {
            let mut set = SetOfVec::new();
            set.insert(AttributeTypeAndValue {
                oid: *oid,
                value: (*value).to_owned(),
            })?;
            Ok(set)
        })
        .collect()
}

fn utc(seconds: u64) -> Result<UtcTime, SealError> {
    Ok(UtcTime::from_unix_duration(Duration::from_secs(seconds))?)
}

fn extension(oid: der::asn1::ObjectIdentifier, value: &[u8]) -> Result<Extension, SealError> {
    Ok(Extension {
        extn_id: oid,
        critical: true,
        extn_value: OctetString::new(value)?,
    })
}

/// Serial numbers are the first 16 bytes of an SM3 digest, made positive.
fn serial(seed: &[u8]) -> Result<der::asn1::Uint, SealError> {
    let digest = civitas_crypto::sm3::digest(seed);
    let mut bytes = digest[..16].to_vec();
    bytes[0] &= 0x7f;
    Ok(der::asn1::Uint::new(&bytes)?)
}

fn sign(tbs: TbsCertificate, issuer: &PrivateKey) -> Result<Vec<u8>, SealError> {
    let signature = issuer.sign(&tbs.to_der()?)?;
    let certificate = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: AlgorithmIdentifier::sm3_with_sm2(),
        signature: BitString::from_bytes(&signature.to_der())?,
    };
    Ok(certificate.to_der()?)
}

/// The platform's root certificate (DER), self-signed by `platform_key`.
pub fn root_certificate(platform_key: &PrivateKey) -> Result<Vec<u8>, SealError> {
    let public = platform_key.public_key().to_spki_der()?;
    let subject = name(&[(COUNTRY, "CN"), (COMMON_NAME, ROOT_NAME)])?;
    let tbs = TbsCertificate {
        version: 2,
        serial_number: serial(&public)?,
        signature: AlgorithmIdentifier::sm3_with_sm2(),
        issuer: subject.clone(),
        validity: Validity {
            not_before: utc(ROOT_NOT_BEFORE)?,
            not_after: utc(ROOT_NOT_AFTER)?,
        },
        subject,
        subject_public_key_info: Any::from_der(&public)?,
        extensions: Some(vec![
            extension(BASIC_CONSTRAINTS, CA_TRUE)?,
            extension(KEY_USAGE, USAGE_CA)?,
        ]),
    };
    sign(tbs, platform_key)
}

/// Who a seal certificate names.
pub(crate) struct SealSubject<'a> {
    /// The seal's name (the organization, e.g. 上海市浦东新区市场监督管理局).
    pub name: &'a str,
    /// The tenant path the seal belongs to.
    pub tenant: &'a str,
    /// The line (条线) it seals for.
    pub line: &'a str,
}

/// A seal certificate (DER) for `public`, issued by the root.
pub(crate) fn seal_certificate(
    platform_key: &PrivateKey,
    public: &PublicKey,
    subject: &SealSubject<'_>,
    not_before: u64,
    not_after: u64,
) -> Result<Vec<u8>, SealError> {
    let root = Certificate::from_der(&root_certificate(platform_key)?)?;
    let spki = public.to_spki_der()?;
    let mut seed = spki.clone();
    seed.extend_from_slice(&not_before.to_be_bytes());
    let tbs = TbsCertificate {
        version: 2,
        serial_number: serial(&seed)?,
        signature: AlgorithmIdentifier::sm3_with_sm2(),
        issuer: root.tbs_certificate.subject,
        validity: Validity {
            not_before: utc(not_before)?,
            not_after: utc(not_after.min(ROOT_NOT_AFTER))?,
        },
        subject: name(&[
            (COUNTRY, "CN"),
            (ORGANIZATION, subject.name),
            (ORGANIZATIONAL_UNIT, subject.line),
            (COMMON_NAME, subject.tenant),
        ])?,
        subject_public_key_info: Any::from_der(&spki)?,
        extensions: Some(vec![extension(KEY_USAGE, USAGE_SEAL)?]),
    };
    sign(tbs, platform_key)
}

/// A certificate read back: its public key, names and validity.
#[derive(Debug, Clone)]
pub(crate) struct ParsedCertificate {
    pub certificate: Certificate,
    pub public_key: PublicKey,
}

impl ParsedCertificate {
    pub fn parse(der_bytes: &[u8]) -> Result<ParsedCertificate, SealError> {
        let certificate = Certificate::from_der(der_bytes).map_err(|e| {
            SealError::Invalid(format!(
                "证书无法解析：{e} / the certificate does not parse: {e}"
            ))
        })?;
        let public_key = PublicKey::from_spki_der(
            &certificate
                .tbs_certificate
                .subject_public_key_info
                .to_der()?,
        )?;
        Ok(ParsedCertificate {
            certificate,
            public_key,
        })
    }

    /// Whether `issuer` signed this certificate (SM3withSM2, default id).
    pub fn issued_by(&self, issuer: &PublicKey) -> bool {
        if self.certificate.signature_algorithm.algorithm != SM3_WITH_SM2 {
            return false;
        }
        let Some(signature) = self.certificate.signature.as_bytes() else {
            return false;
        };
        let Ok(signature) = Signature::from_der(signature) else {
            return false;
        };
        let Ok(tbs) = self.certificate.tbs_certificate.to_der() else {
            return false;
        };
        issuer.verify(&tbs, &signature).is_ok()
    }

    /// The value of the first attribute `oid` of the subject.
    pub fn subject(&self, oid: der::asn1::ObjectIdentifier) -> Option<&str> {
        self.certificate
            .tbs_certificate
            .subject
            .iter()
            .flat_map(|set| set.iter())
            .find(|attribute| attribute.oid == oid)
            .map(|attribute| attribute.value.as_str())
    }

    /// Whether `at` (Unix seconds) is inside the validity.
    pub fn valid_at(&self, at: u64) -> bool {
        let validity = &self.certificate.tbs_certificate.validity;
        let from = validity.not_before.to_unix_duration().as_secs();
        let to = validity.not_after.to_unix_duration().as_secs();
        from <= at && at <= to
    }
}

/// The public key of a root certificate (DER), checked to be self-signed:
/// what a verifier holding only the certificate trusts.
pub fn root_public_key(der_bytes: &[u8]) -> Result<PublicKey, SealError> {
    let parsed = ParsedCertificate::parse(der_bytes)?;
    if !parsed.issued_by(&parsed.public_key) {
        return Err(SealError::Invalid(
            "根证书不是自签名的 / the root certificate is not self-signed".into(),
        ));
    }
    Ok(parsed.public_key)
}
