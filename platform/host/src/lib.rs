//! Runs Civitas business-rule modules: WebAssembly components of the
//! `civitas:module` world (`sdk/wit/module.wit`), sandboxed in wasmtime.
//!
//! One [`ModuleHost`] per process holds the engine (pooling allocator, fuel
//! metering, epoch interruption), the linker with the host interface, and the
//! on-disk cache of compiled code. [`ModuleHost::load`] turns an artifact into
//! a [`LoadedModule`] (one `InstancePre` per module version);
//! [`LoadedModule::evaluate`] runs one call in a fresh instance with its own
//! fuel, memory, table, stack and time limits. Whatever the module does (loop,
//! allocate, recurse, trap, return garbage), the call ends with a typed
//! [`CallError`] and nothing else is affected.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use civitas_host::{CallContext, HostConfig, ModuleHost};
//! let host = ModuleHost::new(HostConfig::default())?;
//! let artifact = std::fs::read("meal-subsidy-1.0.0.wasm")?;
//! let module = host.load("digest-of-artifact", &artifact)?;
//! let evaluation = module.evaluate(&CallContext::default(), r#"{"age": 72}"#)?;
//! println!("{} (fuel {})", evaluation.output, evaluation.fuel_used);
//! # Ok(()) }
//! ```

mod cache;
mod call;
mod config;
mod host;

pub use call::{CallContext, CallError, Date, Dictionaries, Evaluation, LogLine};
pub use config::{HostConfig, Limits};
pub use host::{ComponentInfo, LoadError, LoadedModule, ModuleHost, WIT_PACKAGE, WIT_VERSION};
