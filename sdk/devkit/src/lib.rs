//! The module developer's tools, used by `civitas module new|build|publish`.
//!
//! - [`new_module`] writes a module crate from a service's starter rule;
//! - [`build`] compiles a module crate for `wasm32-unknown-unknown` and turns the
//!   core module into a component ([`componentize`]) that imports nothing but
//!   the Civitas host interface;
//! - [`signing_message`] is what a publisher signs with SM2 and the registry
//!   verifies before it stores or loads an artifact.

mod build;
mod template;

pub use build::{BuildOptions, BuiltModule, build, componentize};
pub use template::{NewModule, new_module};

/// The `civitas-module` SDK a new module depends on: the crate's version is
/// its WIT package's (`civitas:module@0.1.0`), and a module built against
/// 0.1 runs on every platform that serves that package.
pub const SDK_REQUIREMENT: &str = "0.1";

use std::path::PathBuf;

/// What can go wrong with the developer's tools.
#[derive(Debug, thiserror::Error)]
pub enum DevkitError {
    /// A module name must be lower-case letters, digits and dashes.
    #[error(
        "模块名称无效 / invalid module name {0:?}: use lower-case letters, digits and dashes, starting with a letter"
    )]
    InvalidName(String),
    /// `new` would overwrite an existing directory.
    #[error("目录已存在 / {0} already exists; choose another name or directory")]
    Exists(PathBuf),
    /// Cargo could not be run or failed.
    #[error("构建失败 / build failed: {0}")]
    Cargo(String),
    /// The compiled core module could not become a component.
    #[error("无法生成组件 / could not make a component from {path}: {message}")]
    Componentize {
        /// The core module.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The bytes a publisher signs (SM2, default user id) for one artifact: the
/// module's name, version and service and the publishing account bound to
/// the artifact's SM3 digest, so a signature cannot be replayed for another
/// name, version or service, nor by another account that registered the
/// same public key.
pub fn signing_message(
    name: &str,
    version: &str,
    service: &str,
    digest_hex: &str,
    publisher: &str,
) -> Vec<u8> {
    format!(
        "civitas-module-v1\nname={name}\nversion={version}\nservice={service}\nsm3={digest_hex}\npublisher={publisher}\n"
    )
    .into_bytes()
}

/// The bytes signed to prove possession of a signing key when registering
/// it for `username` (`POST /api/v1/signing-keys`): nobody registers a key
/// they do not hold.
pub fn key_registration_message(username: &str, public_key_hex: &str) -> Vec<u8> {
    format!("civitas-signing-key-v1\nusername={username}\npublic_key={public_key_hex}\n")
        .into_bytes()
}

/// Whether `name` is a valid module name: `[a-z][a-z0-9-]*`, at most 64
/// characters, no trailing or doubled dash.
pub fn valid_module_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !name.ends_with('-')
        && !name.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_are_lower_case_words_joined_by_dashes() {
        assert!(valid_module_name("meal-subsidy"));
        assert!(valid_module_name("meal-subsidy-pudong2"));
        for bad in [
            "",
            "Meal",
            "2meal",
            "meal_subsidy",
            "meal-",
            "meal--x",
            "a/b",
        ] {
            assert!(!valid_module_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_signed_message_binds_every_field() {
        let base = signing_message("a", "1.0.0", "s/x", "00", "dev");
        assert_ne!(base, signing_message("b", "1.0.0", "s/x", "00", "dev"));
        assert_ne!(base, signing_message("a", "1.0.1", "s/x", "00", "dev"));
        assert_ne!(base, signing_message("a", "1.0.0", "s/y", "00", "dev"));
        assert_ne!(base, signing_message("a", "1.0.0", "s/x", "01", "dev"));
        assert_ne!(base, signing_message("a", "1.0.0", "s/x", "00", "other"));
    }
}
