//! `civitas module new`: a module crate that builds with one command.

use std::path::{Path, PathBuf};

use crate::DevkitError;

/// What a new module crate is made from.
#[derive(Debug, Clone)]
pub struct NewModule<'a> {
    /// The module's name (the crate's package name).
    pub name: &'a str,
    /// The service it implements, e.g. `civil-affairs/meal-subsidy`.
    pub service: &'a str,
    /// The directory the crate directory is created in.
    pub parent: &'a Path,
    /// A local copy of the `civitas-module` SDK crate (`sdk/rust`, or an
    /// unpacked `.crate`) to use instead of the registry's: written as a
    /// `[patch.crates-io]` in the new crate's `.cargo/config.toml`. `None`:
    /// the registry's (crates.io, or the intranet registry cargo is
    /// configured with).
    pub sdk: Option<&'a Path>,
    /// The service's starter rule (its `starter.rs`), the new `src/lib.rs`.
    pub starter: &'a str,
    /// The service's example inputs, copied to `examples/` as `(file name, JSON)`.
    pub examples: &'a [(String, String)],
}

/// Creates `<parent>/<name>/` with `Cargo.toml`, `src/lib.rs`, `examples/`
/// and a README; returns the crate's directory.
pub fn new_module(spec: &NewModule<'_>) -> Result<PathBuf, DevkitError> {
    if !crate::valid_module_name(spec.name) {
        return Err(DevkitError::InvalidName(spec.name.to_owned()));
    }
    let dir = spec.parent.join(spec.name);
    if dir.exists() {
        return Err(DevkitError::Exists(dir));
    }
    let cargo_toml = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false
description = "A Civitas module for {service}"

[lib]
crate-type = ["cdylib"]

[dependencies]
# The SDK, versioned with the civitas:module WIT package it implements.
civitas-module = "{sdk_version}"
serde = {{ version = "1", features = ["derive"] }}

# A standalone crate, not part of an enclosing workspace.
[workspace]

# Small, fast components: a module is loaded once and instantiated per call.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true
"#,
        name = spec.name,
        service = spec.service,
        sdk_version = crate::SDK_REQUIREMENT,
    );
    let readme = format!(
        "# {name}\n\nA Civitas module for `{service}`.\n\n\
         ```sh\n\
         civitas module build .                       # -> target/civitas/{name}-0.1.0.wasm\n\
         civitas module check target/civitas/{name}-0.1.0.wasm --service {service}\n\
         civitas module run target/civitas/{name}-0.1.0.wasm --service {service} \\\n    --tenant 310000/310115 --input examples/{first}\n\
         ```\n\nSee the SDK README (sdk/README.md) for publishing and binding.\n",
        name = spec.name,
        service = spec.service,
        first = spec
            .examples
            .first()
            .map(|(file, _)| file.as_str())
            .unwrap_or("input.json"),
    );
    let mut files: Vec<(PathBuf, String)> = vec![
        (dir.join("Cargo.toml"), cargo_toml),
        (dir.join("src/lib.rs"), spec.starter.to_owned()),
        (dir.join("README.md"), readme),
        (dir.join(".gitignore"), "/target\n".to_owned()),
    ];
    if let Some(sdk) = spec.sdk {
        let sdk = sdk.display().to_string().replace('\\', "/");
        files.push((
            dir.join(".cargo/config.toml"),
            format!(
                "# The civitas-module SDK from a local copy instead of a registry (an intranet\n\
                 # without one, or the platform's own checkout). Delete this file to use the\n\
                 # registry's civitas-module {req}.\n\
                 [patch.crates-io]\n\
                 civitas-module = {{ path = \"{sdk}\" }}\n",
                req = crate::SDK_REQUIREMENT,
            ),
        ));
    }
    for (file, json) in spec.examples {
        files.push((dir.join("examples").join(file), json.clone()));
    }
    for (path, contents) in files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| DevkitError::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        std::fs::write(&path, contents).map_err(|source| DevkitError::Io { path, source })?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SDK_REQUIREMENT;

    #[test]
    fn a_new_module_has_a_manifest_a_rule_and_examples_and_never_overwrites() {
        let parent = tempfile::tempdir().unwrap();
        let examples = vec![("a.json".to_owned(), "{}".to_owned())];
        let spec = NewModule {
            name: "my-rule",
            service: "civil-affairs/meal-subsidy",
            parent: parent.path(),
            sdk: None,
            starter: "// rule",
            examples: &examples,
        };
        let dir = new_module(&spec).unwrap();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"my-rule\""));
        assert!(manifest.contains(&format!("civitas-module = \"{SDK_REQUIREMENT}\"")));
        assert!(!dir.join(".cargo").exists(), "the registry's SDK");
        assert_eq!(
            std::fs::read_to_string(dir.join("src/lib.rs")).unwrap(),
            "// rule"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("examples/a.json")).unwrap(),
            "{}"
        );
        assert!(matches!(new_module(&spec), Err(DevkitError::Exists(_))));
        let bad = NewModule {
            name: "My_Rule",
            ..spec
        };
        assert!(matches!(new_module(&bad), Err(DevkitError::InvalidName(_))));
    }

    #[test]
    fn a_local_sdk_is_a_patch_of_the_registrys_never_a_path_in_the_manifest() {
        let parent = tempfile::tempdir().unwrap();
        let dir = new_module(&NewModule {
            name: "intranet-rule",
            service: "civil-affairs/meal-subsidy",
            parent: parent.path(),
            sdk: Some(Path::new("/opt/civitas/sdk/rust")),
            starter: "// rule",
            examples: &[],
        })
        .unwrap();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(!manifest.contains("path ="), "{manifest}");
        let config = std::fs::read_to_string(dir.join(".cargo/config.toml")).unwrap();
        assert!(
            config.contains(
                "[patch.crates-io]\ncivitas-module = { path = \"/opt/civitas/sdk/rust\" }"
            ),
            "{config}"
        );
    }

    #[test]
    fn the_sdk_requirement_is_the_sdk_crates_version_and_its_wit_packages() {
        let sdk =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../rust/Cargo.toml"))
                .unwrap();
        let version = sdk
            .lines()
            .find_map(|l| l.strip_prefix("version = \""))
            .and_then(|v| v.strip_suffix('"'))
            .unwrap();
        assert!(
            version.starts_with(&format!("{SDK_REQUIREMENT}.")),
            "{version} against {SDK_REQUIREMENT}"
        );
        let wit =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/module.wit"))
                .unwrap();
        assert!(
            wit.contains(&format!("package civitas:module@{version};")),
            "the WIT package is civitas:module@{version}"
        );
    }
}
