//! The master key: the one secret that wraps every tenant key.
//!
//! [`MasterKeyProvider`] is the seam for an HSM or a cloud KMS: such a
//! provider wraps and unwraps inside the device and never hands out the
//! master key. [`LocalMasterKeys`] is the provider for a key held in a file
//! or in the environment.

use std::path::Path;

use civitas_crypto::{sm3, sm4};
use zeroize::Zeroizing;

use crate::VaultError;

/// Wraps and unwraps tenant keys under a master key.
///
/// Several master keys may be known at once (after the operator introduces
/// a new one, keys wrapped by the old one must still open until they are
/// re-wrapped); new wraps always use the current one.
pub trait MasterKeyProvider: Send + Sync + std::fmt::Debug {
    /// The id of the master key that new wraps use.
    fn current_id(&self) -> &str;

    /// Wraps `key` under the current master key, binding `context` (the
    /// tenant, purpose and version) so a wrapped key cannot be moved to
    /// another row. Returns the id of the master key used and the wrapped
    /// bytes.
    fn wrap(&self, key: &[u8], context: &[u8]) -> Result<(String, Vec<u8>), VaultError>;

    /// Unwraps bytes produced by [`MasterKeyProvider::wrap`] under the
    /// master key `master_key_id` with the same `context`.
    fn unwrap(
        &self,
        master_key_id: &str,
        wrapped: &[u8],
        context: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError>;
}

/// Master keys held in memory, loaded from a file or the environment.
///
/// The text form is one SM4 key per line (32 hex digits); `#` starts a
/// comment. The first key is current; the others are older keys that still
/// unwrap until `civitas keys rotate` has re-wrapped everything under the
/// current one.
#[derive(Debug)]
pub struct LocalMasterKeys {
    keys: Vec<(String, sm4::Key)>,
}

/// The environment variable that may hold the master keys (comma-separated).
pub const MASTER_KEY_ENV: &str = "CIVITAS_MASTER_KEY";

impl LocalMasterKeys {
    /// Master keys from their text form (lines or commas).
    pub fn parse(text: &str) -> Result<LocalMasterKeys, VaultError> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default();
            for item in line.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let key = sm4::Key::from_hex(item).map_err(|_| {
                    VaultError::MasterKey(format!(
                        "第 {} 行不是32位十六进制的 SM4 密钥 (line {} is not an SM4 key of 32 hex digits)",
                        n + 1,
                        n + 1
                    ))
                })?;
                keys.push((fingerprint(&key), key));
            }
        }
        if keys.is_empty() {
            return Err(VaultError::MasterKey(
                "未找到任何密钥 (no key found)".to_owned(),
            ));
        }
        Ok(LocalMasterKeys { keys })
    }

    /// Master keys from a file, which must not be readable by group or
    /// others.
    pub fn from_file(path: &Path) -> Result<LocalMasterKeys, VaultError> {
        let shown = path.display();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path)
                .map_err(|e| VaultError::MasterKey(format!("{shown}: {e}")))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(VaultError::MasterKey(format!(
                    "{shown}: 文件权限过宽，请执行 chmod 600 (the file is readable by others; run chmod 600)"
                )));
            }
        }
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| VaultError::MasterKey(format!("{shown}: {e}")))?,
        );
        LocalMasterKeys::parse(&text).map_err(|e| match e {
            VaultError::MasterKey(m) => VaultError::MasterKey(format!("{shown}: {m}")),
            other => other,
        })
    }

    /// A fresh random master key in its text form (32 hex digits).
    pub fn generate() -> Result<Zeroizing<String>, VaultError> {
        let key = sm4::Key::generate()?;
        Ok(Zeroizing::new(hex::encode(key.as_bytes())))
    }

    /// The ids of every key held, current first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }
}

/// A master key's id: the first 16 hex digits of a domain-separated SM3 of
/// the key, so that the id reveals nothing usable about the key.
fn fingerprint(key: &sm4::Key) -> String {
    let mut input = Vec::with_capacity(32);
    input.extend_from_slice(b"civitas-master-key-id");
    input.extend_from_slice(key.as_bytes());
    let digest = sm3::digest(&input);
    hex::encode(&digest[..8])
}

impl MasterKeyProvider for LocalMasterKeys {
    fn current_id(&self) -> &str {
        // `parse` refuses an empty list.
        self.keys
            .first()
            .map(|(id, _)| id.as_str())
            .unwrap_or_default()
    }

    fn wrap(&self, key: &[u8], context: &[u8]) -> Result<(String, Vec<u8>), VaultError> {
        let (id, master) = self
            .keys
            .first()
            .ok_or_else(|| VaultError::MasterKey("未找到任何密钥 (no key found)".to_owned()))?;
        Ok((id.clone(), sm4::seal(master, context, key)?))
    }

    fn unwrap(
        &self,
        master_key_id: &str,
        wrapped: &[u8],
        context: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let (_, master) = self
            .keys
            .iter()
            .find(|(id, _)| id == master_key_id)
            .ok_or_else(|| VaultError::UnknownMasterKey(master_key_id.to_owned()))?;
        Ok(Zeroizing::new(sm4::open(master, context, wrapped)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdeffedcba9876543210";
    const B: &str = "00112233445566778899aabbccddeeff";

    #[test]
    fn the_first_key_is_current_and_older_keys_still_unwrap() {
        let old = LocalMasterKeys::parse(B).unwrap();
        let (old_id, wrapped) = old.wrap(b"tenant key", b"ctx").unwrap();
        let both = LocalMasterKeys::parse(&format!("{A}  # new\n{B} # old\n")).unwrap();
        assert_ne!(both.current_id(), old_id);
        assert_eq!(both.ids()[1], old_id);
        assert_eq!(
            &*both.unwrap(&old_id, &wrapped, b"ctx").unwrap(),
            b"tenant key"
        );
        let (new_id, _) = both.wrap(b"tenant key", b"ctx").unwrap();
        assert_eq!(new_id, both.current_id());
    }

    #[test]
    fn a_wrapped_key_opens_only_with_its_context_and_master() {
        let keys = LocalMasterKeys::parse(A).unwrap();
        let (id, wrapped) = keys.wrap(b"k", b"310000|data|1").unwrap();
        assert!(keys.unwrap(&id, &wrapped, b"310000|data|2").is_err());
        assert!(matches!(
            keys.unwrap("feedfacefeedface", &wrapped, b"310000|data|1"),
            Err(VaultError::UnknownMasterKey(_))
        ));
    }

    #[test]
    fn bad_text_is_refused_with_its_line() {
        let err = LocalMasterKeys::parse(&format!("{A}\nnot-hex\n")).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(LocalMasterKeys::parse("# only a comment\n").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, A).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            LocalMasterKeys::from_file(&path)
                .unwrap_err()
                .to_string()
                .contains("chmod 600")
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(LocalMasterKeys::from_file(&path).is_ok());
    }
}
