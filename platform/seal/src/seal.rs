//! Seals (电子印章) and signing with them (电子签章), GB/T 38540-2020:
//! the platform's root makes each tenant's seal (SESeal: the seal's name,
//! picture, validity and bound certificate, signed by the maker); a
//! document is signed with the seal's key over the SM3 of its bytes
//! (SES_Signature: the seal, the time, the digest, signed SM3withSM2).

use std::time::Duration;

use chrono::{DateTime, Utc};
use civitas_crypto::sm2::{PrivateKey, PublicKey, Signature};
use der::asn1::{BitString, GeneralizedTime, Ia5String, OctetString};
use der::{Decode, Encode};

use crate::SealError;
use crate::asn1::{
    SM3_WITH_SM2, SesHeader, SesPictureInfo, SesPropertyInfo, SesSeal, SesSealInfo, SesSignature,
    TbsSeal, TbsSign,
};
use crate::cert::{self, ParsedCertificate, SealSubject};
use crate::picture;

/// The vendor id written in every seal's header.
const VENDOR: &str = "civitas";
/// GB/T 38540-2020 structures are version 4.
const VERSION: u32 = 4;

/// What a new seal is for.
#[derive(Debug, Clone)]
pub struct SealSpec<'a> {
    /// Its code (印章编码): ASCII, unique on the platform.
    pub code: &'a str,
    /// The organization's name as the seal shows it.
    pub name: &'a str,
    /// The tenant it belongs to.
    pub tenant: &'a str,
    /// The line it seals for.
    pub line: &'a str,
    /// From when it may sign.
    pub valid_from: DateTime<Utc>,
    /// Until when it may sign.
    pub valid_until: DateTime<Utc>,
}

/// A seal just made: its key (to be kept sealed), the SESeal and the
/// certificate the root issued for the key.
#[derive(Debug)]
pub struct NewSeal {
    /// The signing key.
    pub private_key: PrivateKey,
    /// SESeal, DER.
    pub seal: Vec<u8>,
    /// The seal's certificate, DER.
    pub certificate: Vec<u8>,
}

fn generalized(at: DateTime<Utc>) -> Result<GeneralizedTime, SealError> {
    let seconds = u64::try_from(at.timestamp())
        .map_err(|_| SealError::Invalid("时间早于 1970 年 / time before 1970".into()))?;
    Ok(GeneralizedTime::from_unix_duration(Duration::from_secs(
        seconds,
    ))?)
}

fn ia5(text: &str) -> Result<Ia5String, SealError> {
    Ia5String::new(text)
        .map_err(|_| SealError::Invalid(format!("{text}: 须为 ASCII / must be ASCII")))
}

/// Makes a seal: a new SM2 key, its certificate from the root, and the
/// SESeal binding the name, picture and validity to that certificate,
/// signed by the platform key as the seal's maker.
pub fn make_seal(
    platform_key: &PrivateKey,
    spec: &SealSpec<'_>,
    now: DateTime<Utc>,
) -> Result<NewSeal, SealError> {
    if spec.name.trim().is_empty() {
        return Err(SealError::Invalid(
            "印章名称为空 / the seal's name is empty".into(),
        ));
    }
    if spec.valid_until <= spec.valid_from {
        return Err(SealError::Invalid(
            "有效期结束早于开始 / validity ends before it starts".into(),
        ));
    }
    let private_key = PrivateKey::generate()?;
    let from = generalized(spec.valid_from)?.to_unix_duration().as_secs();
    let until = generalized(spec.valid_until)?.to_unix_duration().as_secs();
    let certificate = cert::seal_certificate(
        platform_key,
        &private_key.public_key(),
        &SealSubject {
            name: spec.name,
            tenant: spec.tenant,
            line: spec.line,
        },
        from,
        until,
    )?;
    let maker = cert::root_certificate(platform_key)?;
    let info = SesSealInfo {
        header: SesHeader {
            id: ia5("ES")?,
            version: VERSION,
            vid: ia5(VENDOR)?,
        },
        es_id: ia5(spec.code)?,
        property: SesPropertyInfo {
            seal_type: 1,
            name: spec.name.to_owned(),
            cert_list_type: 1,
            cert_list: vec![OctetString::new(certificate.clone())?],
            create_date: generalized(now)?,
            valid_start: generalized(spec.valid_from)?,
            valid_end: generalized(spec.valid_until)?,
        },
        picture: SesPictureInfo {
            picture_type: ia5("svg")?,
            data: OctetString::new(picture::svg(spec.name).into_bytes())?,
            width: picture::DIAMETER_MM as u32,
            height: picture::DIAMETER_MM as u32,
        },
    };
    let tbs = TbsSeal {
        eseal_info: info,
        cert: OctetString::new(maker)?,
        sign_alg_id: SM3_WITH_SM2,
    };
    let signed = platform_key.sign(&tbs.to_der()?)?;
    let seal = SesSeal {
        eseal_info: tbs.eseal_info,
        cert: tbs.cert,
        sign_alg_id: SM3_WITH_SM2,
        signed_value: BitString::from_bytes(&signed.to_der())?,
    };
    Ok(NewSeal {
        private_key,
        seal: seal.to_der()?,
        certificate,
    })
}

/// A seal ready to sign: its key and its SESeal.
#[derive(Debug)]
pub struct Seal {
    key: PrivateKey,
    seal: SesSeal,
    certificate: Vec<u8>,
}

impl Seal {
    /// A stored seal: its key and its SESeal. Refuses a key that is not the
    /// one the seal's certificate names.
    pub fn open(key: PrivateKey, seal_der: &[u8]) -> Result<Seal, SealError> {
        let seal = SesSeal::from_der(seal_der)?;
        let certificate = seal
            .eseal_info
            .property
            .cert_list
            .first()
            .map(|c| c.as_bytes().to_vec())
            .ok_or_else(|| {
                SealError::Invalid("印章未绑定证书 / seal binds no certificate".into())
            })?;
        let parsed = ParsedCertificate::parse(&certificate)?;
        if parsed.public_key != key.public_key() {
            return Err(SealError::Invalid(
                "密钥与印章证书不符 / the key is not the seal's".into(),
            ));
        }
        Ok(Seal {
            key,
            seal,
            certificate,
        })
    }

    /// The name on the seal.
    pub fn name(&self) -> &str {
        &self.seal.eseal_info.property.name
    }

    /// The seal's code.
    pub fn code(&self) -> &str {
        self.seal.eseal_info.es_id.as_str()
    }

    /// Signs the SM3 digest `data_hash` of a document's signed bytes,
    /// described by `property` (ASCII), at `now`: an SES_Signature, DER.
    pub(crate) fn sign(
        &self,
        data_hash: &[u8; 32],
        property: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, SealError> {
        let valid = &self.seal.eseal_info.property;
        let at = generalized(now)?;
        if at.to_unix_duration() < valid.valid_start.to_unix_duration()
            || at.to_unix_duration() > valid.valid_end.to_unix_duration()
        {
            return Err(SealError::Expired);
        }
        let tbs = TbsSign {
            version: VERSION,
            eseal: self.seal.clone(),
            time_info: at,
            data_hash: BitString::from_bytes(data_hash)?,
            property_info: ia5(property)?,
        };
        let signature: Signature = self.key.sign(&tbs.to_der()?)?;
        Ok(SesSignature {
            to_sign: tbs,
            cert: OctetString::new(self.certificate.clone())?,
            signature_alg_id: SM3_WITH_SM2,
            signature: BitString::from_bytes(&signature.to_der())?,
        }
        .to_der()?)
    }
}

/// What a valid SES_Signature says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignatureInfo {
    /// The seal's name.
    pub seal_name: String,
    /// The seal's code.
    pub seal_code: String,
    /// The signer certificate's organizational unit (the line).
    pub line: String,
    /// The signer certificate's common name (the tenant path).
    pub tenant: String,
    /// When it was signed.
    pub signed_at: DateTime<Utc>,
    /// The SM3 the signature covers, hex.
    pub data_hash: String,
    /// The signer certificate's SM3, hex.
    pub certificate_sm3: String,
}

fn refuse(what: &str) -> SealError {
    SealError::Refused(what.to_owned())
}

/// Checks an SES_Signature over `data_hash`: the seal's maker is the root
/// (`root`), the maker's signature over the seal, the signer certificate
/// issued by the root and bound in the seal, the signature over TBS_Sign,
/// the time inside the seal's and the certificate's validity, and that
/// the signed digest is `data_hash`.
pub(crate) fn verify_signature(
    der_bytes: &[u8],
    data_hash: &[u8; 32],
    root: &PublicKey,
) -> Result<SignatureInfo, SealError> {
    let signature = SesSignature::from_der(der_bytes).map_err(|e| {
        refuse(&format!(
            "签章数据无法解析：{e} / the signature does not parse: {e}"
        ))
    })?;
    let tbs = &signature.to_sign;
    let seal = &tbs.eseal;
    if tbs.version != VERSION || seal.eseal_info.header.version != VERSION {
        return Err(refuse("签章版本不是 4 / not a version 4 signature"));
    }
    if signature.signature_alg_id != SM3_WITH_SM2 || seal.sign_alg_id != SM3_WITH_SM2 {
        return Err(refuse("算法不是 SM3withSM2 / not SM3withSM2"));
    }
    // The seal: made by the root.
    let maker = ParsedCertificate::parse(seal.cert.as_bytes())?;
    if maker.public_key != *root || !maker.issued_by(root) {
        return Err(refuse(
            "印章不是本平台制作的 / the seal was not made by this platform's root",
        ));
    }
    let tbs_seal = TbsSeal {
        eseal_info: seal.eseal_info.clone(),
        cert: seal.cert.clone(),
        sign_alg_id: seal.sign_alg_id,
    };
    let seal_signature = seal
        .signed_value
        .as_bytes()
        .and_then(|b| Signature::from_der(b).ok())
        .ok_or_else(|| refuse("印章签名无法解析 / the seal's signature does not parse"))?;
    if root.verify(&tbs_seal.to_der()?, &seal_signature).is_err() {
        return Err(refuse("印章数据被改动 / the seal was altered"));
    }
    // The signer: a certificate the root issued and the seal binds.
    let signer = ParsedCertificate::parse(signature.cert.as_bytes())?;
    if !signer.issued_by(root) {
        return Err(refuse(
            "签章证书不是本平台签发的 / the signer certificate was not issued by this root",
        ));
    }
    if !seal
        .eseal_info
        .property
        .cert_list
        .iter()
        .any(|c| c.as_bytes() == signature.cert.as_bytes())
    {
        return Err(refuse(
            "签章证书不属于该印章 / the signer certificate is not the seal's",
        ));
    }
    let value = signature
        .signature
        .as_bytes()
        .and_then(|b| Signature::from_der(b).ok())
        .ok_or_else(|| refuse("签名值无法解析 / the signature value does not parse"))?;
    if signer.public_key.verify(&tbs.to_der()?, &value).is_err() {
        return Err(refuse("签名验证失败 / the signature does not verify"));
    }
    let signed_at = tbs.time_info.to_unix_duration().as_secs();
    let property = &seal.eseal_info.property;
    if signed_at < property.valid_start.to_unix_duration().as_secs()
        || signed_at > property.valid_end.to_unix_duration().as_secs()
        || !signer.valid_at(signed_at)
    {
        return Err(refuse(
            "签章时印章不在有效期内 / the seal was not valid when it signed",
        ));
    }
    if tbs.data_hash.as_bytes() != Some(&data_hash[..]) {
        return Err(refuse(
            "文档内容被改动 / the document was altered after sealing",
        ));
    }
    let signed_at =
        DateTime::<Utc>::from_timestamp(i64::try_from(signed_at).unwrap_or(i64::MAX), 0)
            .ok_or_else(|| refuse("签章时间无效 / invalid signing time"))?;
    Ok(SignatureInfo {
        seal_name: property.name.clone(),
        seal_code: seal.eseal_info.es_id.to_string(),
        line: signer
            .subject(crate::asn1::ORGANIZATIONAL_UNIT)
            .unwrap_or_default()
            .to_owned(),
        tenant: signer
            .subject(crate::asn1::COMMON_NAME)
            .unwrap_or_default()
            .to_owned(),
        signed_at,
        data_hash: hex::encode(data_hash),
        certificate_sm3: hex::encode(civitas_crypto::sm3::digest(signature.cert.as_bytes())),
    })
}
