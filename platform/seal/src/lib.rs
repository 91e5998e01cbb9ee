//! Official documents sealed with a tenant's electronic seal (电子签章).
//!
//! - [`render`]: a document's text set as a GB/T 9704 page in PDF, Chinese
//!   fonts embedded, the seal's picture over the issuing authority and date.
//! - [`make_seal`], [`Seal`]: seals of GB/T 38540-2020 — the platform's
//!   root certificate (self-signed with the platform key) makes each seal
//!   and issues its signer certificate; [`root_certificate`].
//! - [`seal_pdf`], [`verify_pdf`]: the seal as a PDF signature
//!   (`/SubFilter /GM.sm2seal`, the SES_Signature over `/ByteRange`) and
//!   its verification by anyone who holds the root's public key.
//! - [`template`]: document templates per service, overridable per tenant
//!   as flows are, filled from a case.
//! - [`store`]: seals kept (their keys sealed with the tenant's data key),
//!   issuing a case's document (number, render, seal, store by SM3, audit)
//!   and finding an issued document by its digest.

//!
//! Features: `render` (krilla and the fonts) and `store` (the database,
//! document storage, the vault), both default; without them the crate is
//! the seal format, signing and verification, and the templates — what the
//! fuzz targets build.

mod asn1;
mod cert;
mod pdf;
mod picture;
#[cfg(feature = "render")]
mod render;
mod seal;
#[cfg(feature = "store")]
pub mod store;
pub mod template;
mod text;

pub use cert::{root_certificate, root_public_key};
pub use pdf::{Verified, seal_pdf, verify_pdf};
#[cfg(feature = "render")]
pub use render::{Fonts, render};
pub use seal::{NewSeal, Seal, SealSpec, SignatureInfo, make_seal};
pub use text::{Block, DocumentText, SealPlacement};

/// The vault table entry for seals: their private keys are sealed with
/// the tenant's data key, and key rotation re-seals them.
#[cfg(feature = "store")]
pub const PROTECTED: civitas_vault::ProtectedTable = civitas_vault::ProtectedTable {
    table: "seals",
    id_column: "id",
    columns: &["private_key"],
};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A verification refused the document; says why.
    #[error("{0}")]
    Refused(String),
    /// Input that cannot make a seal or a document; says why.
    #[error("{0}")]
    Invalid(String),
    /// The seal may not sign now.
    #[error("印章不在有效期内 / the seal is not valid now")]
    Expired,
    /// The fonts documents are set in are missing.
    #[error("文书字体缺失：{0} / document fonts missing: {0}")]
    Fonts(String),
    /// Rendering or assembling the PDF failed.
    #[error("文书生成失败：{0} / rendering the document failed: {0}")]
    Render(String),
    /// DER encoding or decoding failed.
    #[error("ASN.1: {0}")]
    Der(#[from] der::Error),
    /// A cryptographic operation failed.
    #[error(transparent)]
    Crypto(#[from] civitas_crypto::CryptoError),
}
