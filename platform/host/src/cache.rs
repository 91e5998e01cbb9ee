//! Compiled code on disk, keyed by artifact digest and engine.
//!
//! Compiling a component takes ~100 ms; loading its compiled form takes
//! ~0.3 ms. A restart with many module versions would otherwise spend seconds
//! compiling. The key holds the artifact's SM3 digest and a hash of the
//! engine's version and settings, so a new wasmtime or different limits never
//! load stale code.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// The engine part of every cache key.
pub(crate) fn engine_key(engine: &Engine) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    "wasmtime-48".hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The cache file of one artifact.
pub(crate) fn path(dir: &Path, digest: &str, engine_key: &str) -> PathBuf {
    dir.join(format!("{digest}-{engine_key}.cwasm"))
}

/// The compiled component from the cache, if present and loadable.
pub(crate) fn load(engine: &Engine, file: &Path) -> Option<Component> {
    let bytes = std::fs::read(file).ok()?;
    // SAFETY: wasmtime requires that the bytes come from `Component::serialize`
    // of a compatible engine. This file is written only by `store` below, from
    // `serialize`, atomically (write to a temporary file, then rename), in a
    // directory the operator gives this process alone; its name carries the
    // engine's compatibility hash, and wasmtime checks its own header and
    // version again. Whoever can write this directory can also replace the
    // binary, so it adds no new trust.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine, &bytes) };
    match component {
        Ok(component) => Some(component),
        Err(error) => {
            tracing::warn!(file = %file.display(), %error, "ignoring an unloadable compiled-code cache entry");
            None
        }
    }
}

/// Writes the compiled form of `component` (best effort: a cache that cannot
/// be written only costs compile time at the next start).
pub(crate) fn store(component: &Component, file: &Path) {
    let result = component
        .serialize()
        .map_err(|error| error.to_string())
        .and_then(|bytes| {
            // Unique per process and call: concurrent first loads of one
            // artifact each write their own file; the rename is atomic.
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let temporary = file.with_extension(format!("tmp{}-{serial}", std::process::id()));
            std::fs::write(&temporary, bytes)
                .and_then(|()| std::fs::rename(&temporary, file))
                .map_err(|error| error.to_string())
        });
    if let Err(error) = result {
        tracing::warn!(file = %file.display(), %error, "could not write the compiled-code cache");
    }
}
