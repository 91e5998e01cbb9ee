//! Supporting documents of cases (申请材料): what may be uploaded, and the
//! store that keeps each one once, named by its SM3 digest.
//!
//! [`inspect`] decides what a file is from its bytes, not from its name
//! or the type the browser claimed: a PDF, an OFD (the national format for
//! electronic documents, a ZIP package), a JPEG or a PNG, at most
//! [`MAX_DOCUMENT_BYTES`]. Anything else is refused with the reason in
//! Chinese and English.
//!
//! [`DocumentStore`] writes through [`object_store`] — the local filesystem
//! by default, an S3-compatible store in production — at
//! `sm3/{first two hex digits}/{digest}`. The same bytes uploaded twice are
//! stored once; a read recomputes the digest, so a file changed on disk is
//! an error, never served.

use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore, PutMode, PutOptions, PutPayload};

/// The largest document accepted: 10 MiB.
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;

/// Why a document was refused or could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Empty.
    #[error("文件为空 / the file is empty")]
    Empty,
    /// Larger than [`MAX_DOCUMENT_BYTES`].
    #[error("文件超过 10 MB（{0} 字节）/ the file is larger than 10 MB ({0} bytes)")]
    TooLarge(usize),
    /// Not one of the accepted kinds.
    #[error(
        "只接受 PDF、OFD、JPEG 或 PNG 文件（按内容判断）/ only PDF, OFD, JPEG or PNG files are accepted (judged by their content)"
    )]
    Unsupported,
    /// No document has this digest.
    #[error("文件不存在：{0} / no such document: {0}")]
    NotFound(String),
    /// The stored bytes no longer have their digest.
    #[error("文件已被改动：{0} / the stored document was altered: {0}")]
    Altered(String),
    /// The store failed.
    #[error("文件存储不可用 / the document store failed: {0}")]
    Store(#[from] object_store::Error),
}

/// The kinds of document accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `application/pdf`.
    Pdf,
    /// `application/ofd` (GB/T 33190, a ZIP package).
    Ofd,
    /// `image/jpeg`.
    Jpeg,
    /// `image/png`.
    Png,
}

impl Kind {
    /// The media type stored and served.
    pub fn media_type(self) -> &'static str {
        match self {
            Kind::Pdf => "application/pdf",
            Kind::Ofd => "application/ofd",
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Pdf => "pdf",
            Kind::Ofd => "ofd",
            Kind::Jpeg => "jpg",
            Kind::Png => "png",
        }
    }
}

/// What `bytes` are, if they are a document that may be uploaded. A ZIP
/// package counts as OFD only under a name ending in `.ofd` (any other ZIP,
/// an office file or an archive, is refused).
pub fn inspect(name: &str, bytes: &[u8]) -> Result<Kind, DocumentError> {
    if bytes.is_empty() {
        return Err(DocumentError::Empty);
    }
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge(bytes.len()));
    }
    let ofd_name = name.to_ascii_lowercase().ends_with(".ofd");
    if bytes.starts_with(b"%PDF-") {
        Ok(Kind::Pdf)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(Kind::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(Kind::Png)
    } else if bytes.starts_with(b"PK\x03\x04") && ofd_name {
        Ok(Kind::Ofd)
    } else {
        Err(DocumentError::Unsupported)
    }
}

/// The SM3 digest of `bytes`, as 64 lowercase hex digits: a document's
/// name in the store.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(civitas_crypto::sm3::digest(bytes))
}

/// Where documents are kept, by SM3 digest.
#[derive(Debug, Clone)]
pub struct DocumentStore {
    store: Arc<dyn ObjectStore>,
}

fn location(digest: &str) -> Path {
    Path::from(format!("sm3/{}/{digest}", &digest[..2.min(digest.len())]))
}

fn is_digest(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl DocumentStore {
    /// Documents in `dir` on the local filesystem (created if missing).
    pub fn local(dir: &FsPath) -> Result<DocumentStore, DocumentError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            DocumentError::Store(object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(e),
            })
        })?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)?;
        Ok(DocumentStore::on(Arc::new(store)))
    }

    /// Documents in any object store (S3-compatible, in memory for tests).
    pub fn on(store: Arc<dyn ObjectStore>) -> DocumentStore {
        DocumentStore { store }
    }

    /// Keeps `bytes` (already [`inspect`]ed) and returns their digest. The
    /// same bytes kept before are not written again.
    pub async fn put(&self, bytes: Bytes) -> Result<String, DocumentError> {
        let digest = digest(&bytes);
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&location(&digest), PutPayload::from(bytes), options)
            .await
        {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(digest),
            Err(e) => Err(e.into()),
        }
    }

    /// The document with `digest`, checked against it.
    pub async fn get(&self, digest: &str) -> Result<Bytes, DocumentError> {
        if !is_digest(digest) {
            return Err(DocumentError::NotFound(digest.to_owned()));
        }
        let bytes = match self
            .store
            .get_opts(&location(digest), GetOptions::default())
            .await
        {
            Ok(found) => found.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(DocumentError::NotFound(digest.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        if self::digest(&bytes) != digest {
            return Err(DocumentError::Altered(digest.to_owned()));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &[u8] = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

    #[test]
    fn a_document_is_what_its_bytes_say() {
        assert_eq!(inspect("证明.pdf", PDF).ok(), Some(Kind::Pdf));
        // The name does not make a PDF of something else…
        assert!(matches!(
            inspect("证明.pdf", b"MZ\x90\x00"),
            Err(DocumentError::Unsupported)
        ));
        // …nor hide one.
        assert_eq!(inspect("scan.bin", PDF).ok(), Some(Kind::Pdf));
        assert_eq!(
            inspect("照片.JPG", &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]).ok(),
            Some(Kind::Jpeg)
        );
        assert_eq!(
            inspect("a.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").ok(),
            Some(Kind::Png)
        );
        // A ZIP package is an OFD only under that name.
        assert_eq!(
            inspect("电子证照.ofd", b"PK\x03\x04\x14\0").ok(),
            Some(Kind::Ofd)
        );
        assert!(matches!(
            inspect("报表.xlsx", b"PK\x03\x04\x14\0"),
            Err(DocumentError::Unsupported)
        ));
        assert!(matches!(inspect("x.pdf", b""), Err(DocumentError::Empty)));
        let big = [PDF, &vec![b' '; MAX_DOCUMENT_BYTES]].concat();
        assert!(matches!(
            inspect("big.pdf", &big),
            Err(DocumentError::TooLarge(n)) if n == big.len()
        ));
    }

    #[tokio::test]
    async fn documents_are_kept_once_by_digest_and_checked_when_read() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = DocumentStore::local(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let digest = store
            .put(Bytes::from_static(PDF))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(digest, self::digest(PDF));
        // Again: the same name, nothing rewritten.
        let again = store.put(Bytes::from_static(PDF)).await.ok();
        assert_eq!(again.as_deref(), Some(digest.as_str()));
        let read = store.get(&digest).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&read[..], PDF);
        // Unknown, malformed and altered documents are errors.
        let missing = "0".repeat(64);
        assert!(matches!(
            store.get(&missing).await,
            Err(DocumentError::NotFound(_))
        ));
        assert!(matches!(
            store.get("../../etc/passwd").await,
            Err(DocumentError::NotFound(_))
        ));
        let file = dir.path().join("sm3").join(&digest[..2]).join(&digest);
        std::fs::write(&file, b"%PDF-1.7 forged").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            store.get(&digest).await,
            Err(DocumentError::Altered(_))
        ));
    }
}
