//! Building a module crate into a component.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::DevkitError;

/// The target modules compile for: plain WebAssembly without WASI, so the
/// component imports nothing but the Civitas host interface.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Where to write the component; default
    /// `<target dir>/civitas/<name>-<version>.wasm`.
    pub out: Option<PathBuf>,
    /// Cargo's target directory; default the crate's (or its workspace's).
    pub target_dir: Option<PathBuf>,
    /// Hide cargo's progress output.
    pub quiet: bool,
}

/// A built component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltModule {
    /// The crate's package name, which is the module's name.
    pub name: String,
    /// The crate's version.
    pub version: String,
    /// The component file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// Builds the module crate in `crate_dir` (release profile, [`TARGET`]) and
/// writes the component.
pub fn build(crate_dir: &Path, options: &BuildOptions) -> Result<BuiltModule, DevkitError> {
    let manifest = crate_dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(DevkitError::Cargo(format!(
            "找不到 Cargo.toml / no Cargo.toml in {}",
            crate_dir.display()
        )));
    }
    // Cargo reads `.cargo/config.toml` from its working directory upwards:
    // a crate's own (a local SDK patched in for the registry's, written by
    // `module new --sdk`) applies only when cargo runs in the crate. So it
    // does, with every path made absolute first.
    let crate_dir = std::fs::canonicalize(crate_dir).map_err(|source| DevkitError::Io {
        path: crate_dir.to_owned(),
        source,
    })?;
    let manifest = crate_dir.join("Cargo.toml");
    let options = &BuildOptions {
        target_dir: options
            .target_dir
            .as_deref()
            .map(std::path::absolute)
            .transpose()
            .map_err(|source| DevkitError::Io {
                path: options.target_dir.clone().unwrap_or_default(),
                source,
            })?,
        ..options.clone()
    };
    let metadata = metadata(&manifest, &crate_dir, options)?;
    let mut cargo = cargo();
    cargo
        .current_dir(&crate_dir)
        .args([
            "build",
            "--release",
            "--lib",
            "--target",
            TARGET,
            "--manifest-path",
        ])
        .arg(&manifest);
    if let Some(dir) = &options.target_dir {
        cargo.arg("--target-dir").arg(dir);
    }
    if options.quiet {
        cargo.arg("--quiet");
    }
    let status = cargo
        .status()
        .map_err(|error| DevkitError::Cargo(format!("cannot run cargo: {error}")))?;
    if !status.success() {
        return Err(DevkitError::Cargo(format!(
            "cargo build of {} exited with {status}",
            crate_dir.display()
        )));
    }
    let core = metadata
        .target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", metadata.name.replace('-', "_")));
    let core_bytes = std::fs::read(&core).map_err(|source| DevkitError::Io {
        path: core.clone(),
        source,
    })?;
    let component = componentize(&core_bytes).map_err(|message| DevkitError::Componentize {
        path: core.clone(),
        message,
    })?;
    let out = options.out.clone().unwrap_or_else(|| {
        metadata
            .target_dir
            .join("civitas")
            .join(format!("{}-{}.wasm", metadata.name, metadata.version))
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|source| DevkitError::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    // Written beside the target and renamed over it: a reader (a server
    // loading modules, another build's caller) sees the old component or the
    // new one, never a half-written file.
    let partial = out.with_extension(format!("wasm.{}.partial", std::process::id()));
    std::fs::write(&partial, &component)
        .and_then(|()| std::fs::rename(&partial, &out))
        .map_err(|source| {
            let _ = std::fs::remove_file(&partial);
            DevkitError::Io {
                path: out.clone(),
                source,
            }
        })?;
    Ok(BuiltModule {
        name: metadata.name,
        version: metadata.version,
        size: component.len() as u64,
        path: out,
    })
}

/// Turns a core module compiled with the SDK (its bindings embed the WIT
/// world) into a component.
pub fn componentize(core: &[u8]) -> Result<Vec<u8>, String> {
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(core)
        .and_then(|encoder| encoder.encode())
        .map_err(|error| format!("{error:#}"))
}

struct Metadata {
    name: String,
    version: String,
    target_dir: PathBuf,
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // Flags meant for the host build (coverage, sanitizers) break a wasm build.
    command
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        // A 64 KiB shadow stack instead of rustc's 1 MiB: a rule needs
        // little, and a smaller memory is less for the host to map per
        // instance. Deep recursion still stops at the host's stack limit.
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            "-C link-arg=-zstack-size=65536",
        );
    command
}

fn metadata(
    manifest: &Path,
    crate_dir: &Path,
    options: &BuildOptions,
) -> Result<Metadata, DevkitError> {
    let output = cargo()
        .current_dir(crate_dir)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| DevkitError::Cargo(format!("cannot run cargo metadata: {error}")))?;
    if !output.status.success() {
        return Err(DevkitError::Cargo(format!(
            "cargo metadata for {} failed",
            manifest.display()
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|error| DevkitError::Cargo(format!("unreadable cargo metadata: {error}")))?;
    let manifest_path = std::fs::canonicalize(manifest).map_err(|source| DevkitError::Io {
        path: manifest.to_owned(),
        source,
    })?;
    let package = value["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| {
            package["manifest_path"]
                .as_str()
                .is_some_and(|path| Path::new(path) == manifest_path)
        })
        .ok_or_else(|| DevkitError::Cargo(format!("{} is not a package", manifest.display())))?;
    let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
    let name = text(&package["name"])
        .ok_or_else(|| DevkitError::Cargo("package without a name".into()))?;
    if !crate::valid_module_name(&name) {
        return Err(DevkitError::InvalidName(name));
    }
    Ok(Metadata {
        version: text(&package["version"]).unwrap_or_else(|| "0.0.0".into()),
        target_dir: match &options.target_dir {
            Some(dir) => dir.clone(),
            None => text(&value["target_directory"])
                .map(PathBuf::from)
                .ok_or_else(|| DevkitError::Cargo("no target directory in metadata".into()))?,
        },
        name,
    })
}
