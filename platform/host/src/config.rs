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
    /// Reset a slot's memory by the pages the last call dirtied (Linux's
    /// `PAGEMAP_SCAN`, kernel 6.7 or later) instead of unmapping it: a fresh
    /// instance then costs about a third. Used only where it is safe: the
    /// kernel has it and no swap is active (a dirty page swapped out is not
    /// reset by wasmtime 48, so the next call could read it; wasmtime PR
    /// #14357). Elsewhere slots are reset as before, with a log line saying
    /// why.
    pub dirty_page_reset: bool,
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
            dirty_page_reset: true,
        }
    }
}
