//! Where the platform's master key comes from, and which tables hold
//! sealed personal data.

use std::io::Write;
use std::path::Path;

use civitas_vault::{LocalMasterKeys, MASTER_KEY_ENV, ProtectedTable, VaultError};

use crate::config::Settings;

/// Every table holding sealed personal data: key rotation re-encrypts
/// them all. A capability that adds such a table adds it here.
pub const PROTECTED_TABLES: &[ProtectedTable] = &[
    civitas_people::PROTECTED,
    civitas_identity::PROTECTED,
    civitas_seal::PROTECTED,
];

/// Where the master key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// The `CIVITAS_MASTER_KEY` environment variable.
    Environment,
    /// A key file.
    File(std::path::PathBuf),
    /// A key file generated just now (demo only).
    Generated(std::path::PathBuf),
}

/// Loads the master keys: `CIVITAS_MASTER_KEY` if set, else the settings'
/// key file. When the file does not exist and `generate` is set (the demo),
/// writes a fresh key there (mode 600); otherwise that is an error telling
/// the operator how to create one.
pub fn load_master_keys(
    settings: &Settings,
    generate: bool,
) -> Result<(LocalMasterKeys, MasterKeySource), VaultError> {
    if let Ok(value) = std::env::var(MASTER_KEY_ENV)
        && !value.trim().is_empty()
    {
        let keys = LocalMasterKeys::parse(&value)
            .map_err(|e| VaultError::MasterKey(format!("{MASTER_KEY_ENV}: {e}")))?;
        return Ok((keys, MasterKeySource::Environment));
    }
    let path = &settings.master_key_file;
    if path.exists() {
        return Ok((
            LocalMasterKeys::from_file(path)?,
            MasterKeySource::File(path.clone()),
        ));
    }
    if !generate {
        return Err(VaultError::MasterKey(format!(
            "{} 不存在；请用 `civitas keys init` 生成，或设置 {MASTER_KEY_ENV} \
             ({} does not exist; create one with `civitas keys init` or set {MASTER_KEY_ENV})",
            path.display(),
            path.display()
        )));
    }
    write_new_key_file(path)?;
    Ok((
        LocalMasterKeys::from_file(path)?,
        MasterKeySource::Generated(path.clone()),
    ))
}

/// Writes a fresh master key to `path` (mode 600), refusing to overwrite.
pub fn write_new_key_file(path: &Path) -> Result<(), VaultError> {
    let shown = path.display();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| VaultError::MasterKey(format!("{shown}: {e}")))?;
    }
    let key = LocalMasterKeys::generate()?;
    let mut file = create_private_file(path, false).map_err(|e| {
        VaultError::MasterKey(if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!("{shown} 已存在，不会覆盖 (already exists; not overwritten)")
        } else {
            format!("{shown}: {e}")
        })
    })?;
    writeln!(
        file,
        "# Civitas master key (SM4). Keep it secret, back it up apart from the database.\n\
         # To change it: put a new key on the first line, keep this one below it,\n\
         # run `civitas keys rotate --tenant ROOT` for every root, then remove it.\n{}",
        key.as_str()
    )
    .map_err(|e| VaultError::MasterKey(format!("{shown}: {e}")))?;
    Ok(())
}

/// Creates a file only its owner may read (mode 600), for secret keys.
/// With `overwrite` false an existing file is an `AlreadyExists` error.
pub fn create_private_file(path: &Path, overwrite: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}
