//! Limits and engine settings.

use std::path::PathBuf;
use std::time::Duration;

/// What one call may use. A call that exceeds any of them fails with its own
/// [`crate::CallError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (roughly, WebAssembly instructions) per call.
    pub fuel: u64,
    /// Wall-clock time per call, enforced by epoch interruption.
    pub timeout: Duration,
    /// Linear memory per instance, in bytes.
    pub memory_bytes: usize,
    /// Table elements per table.
    pub table_elements: usize,
    /// The largest output document, in bytes.
    pub output_bytes: usize,
    /// Log lines a call may write, refused ones included (more are dropped
    /// unread and counted).
    pub log_lines: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel: 20_000_000,
            timeout: Duration::from_millis(200),
            memory_bytes: 16 << 20,
            table_elements: 10_000,
            output_bytes: 256 << 10,
            log_lines: 64,
        }
    }
}

/// How the host is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The most any call may use; a service may ask for less fuel
    /// ([`crate::LoadedModule::evaluate_with`]), never more.
    pub limits: Limits,
    /// Instances that may run at once (slots of the pooling allocator).
    pub pool_size: u32,
    /// The WebAssembly stack of one call, in bytes (deep recursion traps
    /// with a stack overflow here).
    pub wasm_stack_bytes: usize,
    /// Where compiled code is kept between restarts; `None` compiles every
    /// module at every start.
    pub cache_dir: Option<PathBuf>,
    /// How often the epoch advances (the timeout's resolution).
    pub epoch_tick: Duration,
    /// Bytes of each instance's memory kept resident between uses of its
    /// slot and reset with `memset` instead of being returned to the kernel
    /// (which costs page faults on the next use and TLB shootdowns).
    pub keep_resident_bytes: usize,
}

impl Default for HostConfig {
    fn default() -> HostConfig {
        HostConfig {
            limits: Limits::default(),
            pool_size: 256,
            wasm_stack_bytes: 256 << 10,
            cache_dir: None,
            epoch_tick: Duration::from_millis(5),
            keep_resident_bytes: 64 << 10,
        }
    }
}
