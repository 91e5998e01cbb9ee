//! The DER structures: X.509 certificates with SM2 keys (RFC 5280, the
//! fields Civitas uses) and the electronic seal and signature of
//! GB/T 38540-2020 (安全电子签章密码技术规范), version 4.
//!
//! Plain data with `der`'s derived encoders and decoders. `der` decodes
//! strict DER only, so re-encoding a decoded structure gives back the bytes
//! that were signed.

use der::asn1::{
    Any, BitString, GeneralizedTime, Ia5String, ObjectIdentifier, OctetString, SetOfVec, UtcTime,
};
use der::{Sequence, ValueOrd};

/// SM3withSM2 (GB/T 35276; GM/T 0006: 1.2.156.10197.1.501).
pub const SM3_WITH_SM2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.501");
/// id-at-commonName.
pub const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// id-at-organizationName.
pub const ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
/// id-at-organizationalUnitName.
pub const ORGANIZATIONAL_UNIT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
/// id-at-countryName.
pub const COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
/// id-ce-basicConstraints.
pub const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
/// id-ce-keyUsage.
pub const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

/// AlgorithmIdentifier; SM3withSM2 has no parameters.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct AlgorithmIdentifier {
    pub algorithm: ObjectIdentifier,
    #[asn1(optional = "true")]
    pub parameters: Option<Any>,
}

impl AlgorithmIdentifier {
    pub fn sm3_with_sm2() -> AlgorithmIdentifier {
        AlgorithmIdentifier {
            algorithm: SM3_WITH_SM2,
            parameters: None,
        }
    }
}

/// One attribute of a distinguished name; every value as a UTF8String
/// (Chinese names), except the country, which RFC 5280 wants printable —
/// Civitas writes "CN", printable in either form, as UTF8String too.
#[derive(Clone, Debug, Eq, PartialEq, Sequence, ValueOrd)]
pub struct AttributeTypeAndValue {
    pub oid: ObjectIdentifier,
    pub value: String,
}

/// A distinguished name: a sequence of single-attribute sets.
pub type Name = Vec<SetOfVec<AttributeTypeAndValue>>;

/// Validity; every date Civitas writes is before 2050, so UTCTime.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Validity {
    pub not_before: UtcTime,
    pub not_after: UtcTime,
}

/// An extension.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Extension {
    pub extn_id: ObjectIdentifier,
    #[asn1(default = "Default::default")]
    pub critical: bool,
    pub extn_value: OctetString,
}

/// TBSCertificate (v3).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TbsCertificate {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub version: u8,
    pub serial_number: der::asn1::Uint,
    pub signature: AlgorithmIdentifier,
    pub issuer: Name,
    pub validity: Validity,
    pub subject: Name,
    /// SubjectPublicKeyInfo, as the SM2 key encodes it.
    pub subject_public_key_info: Any,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub extensions: Option<Vec<Extension>>,
}

/// Certificate.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Certificate {
    pub tbs_certificate: TbsCertificate,
    pub signature_algorithm: AlgorithmIdentifier,
    pub signature: BitString,
}

/// SES_Header: "ES", version 4, the vendor.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SesHeader {
    pub id: Ia5String,
    pub version: u32,
    pub vid: Ia5String,
}

/// SES_ESPropertyInfo. `cert_list` is the CHOICE's first form (certs: the
/// signer certificates bound to the seal), which is what cert_list_type 1
/// says.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SesPropertyInfo {
    /// 1 单位印章 (an organization's seal), 2 个人印章.
    pub seal_type: u32,
    pub name: String,
    pub cert_list_type: u32,
    pub cert_list: Vec<OctetString>,
    pub create_date: GeneralizedTime,
    pub valid_start: GeneralizedTime,
    pub valid_end: GeneralizedTime,
}

/// SES_ESPictrueInfo (the standard's spelling): the seal's image and its
/// size in millimetres.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SesPictureInfo {
    pub picture_type: Ia5String,
    pub data: OctetString,
    pub width: u32,
    pub height: u32,
}

/// SES_SealInfo.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SesSealInfo {
    pub header: SesHeader,
    pub es_id: Ia5String,
    pub property: SesPropertyInfo,
    pub picture: SesPictureInfo,
}

/// What the seal maker signs: the seal's information, the maker's
/// certificate and the algorithm.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TbsSeal {
    pub eseal_info: SesSealInfo,
    pub cert: OctetString,
    pub sign_alg_id: ObjectIdentifier,
}

/// SESeal: the electronic seal, signed by its maker (制章者).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SesSeal {
    pub eseal_info: SesSealInfo,
    pub cert: OctetString,
    pub sign_alg_id: ObjectIdentifier,
    pub signed_value: BitString,
}

/// TBS_Sign: what the signer signs — the seal, the time, the SM3 of the
/// signed bytes and a description of them.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TbsSign {
    pub version: u32,
    pub eseal: SesSeal,
    pub time_info: GeneralizedTime,
    pub data_hash: BitString,
    pub property_info: Ia5String,
}

/// SES_Signature: the electronic signature (签章) embedded in the PDF.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SesSignature {
    pub to_sign: TbsSign,
    pub cert: OctetString,
    pub signature_alg_id: ObjectIdentifier,
    pub signature: BitString,
}
