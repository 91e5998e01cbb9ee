//! The engine, loading modules, and running one call.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, WasmList, WasmStr};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter,
    Store, StoreContextMut, Trap,
};

use crate::call::{CallContext, CallError, Evaluation, LogLine};
use crate::config::{HostConfig, Limits};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "evaluator",
    });
}

use bindings::civitas::module::host as wit_host;

/// The WIT package modules are built against.
pub const WIT_PACKAGE: &str = "civitas:module";
/// Its version.
pub const WIT_VERSION: &str = "0.1.0";
/// The only interface a module may import.
const HOST_INTERFACE: &str = "civitas:module/host@0.1.0";
/// The function the `evaluator` world exports.
const EVALUATE: &str = "evaluate";

/// Why an artifact cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Not a valid WebAssembly component.
    #[error("不是有效的 WebAssembly 组件 / not a valid WebAssembly component: {0}")]
    Invalid(String),
    /// It imports something the host does not give modules.
    #[error(
        "模块导入了平台不提供的接口 {import}：模块不得访问文件系统、网络、时钟或随机数 / the module imports {import}, which Civitas does not provide: modules get no filesystem, network, clock or randomness, only {allowed}"
    )]
    ForbiddenImport {
        /// The import's name.
        import: String,
        /// What is allowed.
        allowed: &'static str,
    },
    /// It does not export the `evaluator` world.
    #[error(
        "模块未导出 evaluate 函数 / the module does not export the evaluator world's `evaluate` function (exports: {exports})"
    )]
    MissingExport {
        /// What it does export.
        exports: String,
    },
    /// The host could not prepare it.
    #[error("模块无法实例化 / the module cannot be prepared for instantiation: {0}")]
    Link(String),
}

/// What an artifact declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    /// Its imports (only the Civitas host interface is allowed).
    pub imports: Vec<String>,
    /// Its exports.
    pub exports: Vec<String>,
    /// The world it implements.
    pub world: String,
    /// The version of the WIT package it was built against.
    pub wit_version: String,
}

/// The module runtime of one process.
pub struct ModuleHost {
    engine: Engine,
    dirty_page_reset: bool,
    linker: Arc<Linker<CallState>>,
    limits: Limits,
    cache_dir: Option<PathBuf>,
    engine_key: String,
    ticker_stop: Arc<AtomicBool>,
    epoch_tick: Duration,
}

impl std::fmt::Debug for ModuleHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleHost")
            .field("limits", &self.limits)
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

impl Drop for ModuleHost {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl ModuleHost {
    /// Builds the engine (pooling allocator, fuel, epochs) and starts the
    /// epoch ticker thread.
    pub fn new(config: HostConfig) -> Result<ModuleHost, LoadError> {
        let limits = config.limits;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(config.pool_size)
            .total_core_instances(config.pool_size.saturating_mul(4))
            .total_memories(config.pool_size)
            .total_tables(config.pool_size.saturating_mul(2))
            .max_core_instances_per_component(8)
            .max_memories_per_component(1)
            .max_tables_per_component(4)
            .max_memory_size(limits.memory_bytes)
            .table_elements(limits.table_elements)
            .linear_memory_keep_resident(config.keep_resident_bytes)
            .table_keep_resident(config.keep_resident_bytes.min(64 << 10));
        let engine_with = |pool: &PoolingAllocationConfig| {
            let mut engine_config = Config::new();
            engine_config
                .consume_fuel(true)
                .epoch_interruption(true)
                .max_wasm_stack(config.wasm_stack_bytes)
                .allocation_strategy(InstanceAllocationStrategy::Pooling(pool.clone()));
            Engine::new(&engine_config)
        };
        let refused = match (config.dirty_page_reset, swap_in_use()) {
            (false, _) => Some("turned off in the host's settings".to_owned()),
            (true, Some(why)) => Some(why),
            (true, None) => None,
        };
        let (engine, dirty_page_reset) = match refused {
            Some(why) => {
                tracing::info!(%why, "module slots are reset by unmapping their memory, not by dirty pages");
                (engine_with(&pool), false)
            }
            None => {
                pool.pagemap_scan(Enabled::Yes);
                match engine_with(&pool) {
                    Ok(engine) => {
                        tracing::info!(
                            "module slots are reset by the pages each call dirtied (PAGEMAP_SCAN)"
                        );
                        (Ok(engine), true)
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the kernel cannot scan dirty pages (PAGEMAP_SCAN needs Linux 6.7); module slots are reset by unmapping their memory");
                        pool.pagemap_scan(Enabled::No);
                        (engine_with(&pool), false)
                    }
                }
            }
        };
        let engine = engine.map_err(|e| LoadError::Link(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        define_host_interface(&mut linker).map_err(|e| LoadError::Link(e.to_string()))?;
        if let Some(dir) = &config.cache_dir
            && let Err(error) = std::fs::create_dir_all(dir)
        {
            tracing::warn!(dir = %dir.display(), %error, "cannot create the compiled-code cache directory");
        }
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (ticker_engine, stop, tick) = (engine.clone(), ticker_stop.clone(), config.epoch_tick);
        std::thread::Builder::new()
            .name("civitas-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| LoadError::Link(format!("cannot start the epoch ticker: {e}")))?;
        Ok(ModuleHost {
            engine_key: crate::cache::engine_key(&engine),
            engine,
            dirty_page_reset,
            linker: Arc::new(linker),
            limits,
            cache_dir: config.cache_dir,
            ticker_stop,
            epoch_tick: config.epoch_tick,
        })
    }

    /// Whether slots are reset by the pages each call dirtied
    /// ([`crate::HostConfig::dirty_page_reset`]) rather than by unmapping.
    pub fn resets_dirty_pages(&self) -> bool {
        self.dirty_page_reset
    }

    /// The wasmtime engine every module of this host is compiled for and
    /// instantiated with (its pooling allocator, fuel, epochs and slot
    /// reset): for a benchmark or tool that measures wasmtime's own costs
    /// under exactly the host's settings.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The per-call limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compiles `artifact` and reports what it imports and exports; refuses
    /// anything but a component of the `evaluator` world that imports nothing
    /// but the Civitas host interface.
    pub fn inspect(&self, artifact: &[u8]) -> Result<ComponentInfo, LoadError> {
        use sm3::Digest as _;
        // Compiled through the cache, as loading it later will be: the
        // compile is the cost of publishing, not of inspecting twice.
        let digest = hex::encode(sm3::Sm3::digest(artifact));
        let component = self.component(&digest, artifact)?;
        let info = self.check(&component)?;
        // The export's type must be the evaluator world's, not just its name.
        self.linker
            .instantiate_pre(&component)
            .and_then(bindings::EvaluatorPre::new)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        Ok(info)
    }

    fn check(&self, component: &Component) -> Result<ComponentInfo, LoadError> {
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        if let Some(import) = imports.iter().find(|name| name.as_str() != HOST_INTERFACE) {
            return Err(LoadError::ForbiddenImport {
                import: import.clone(),
                allowed: HOST_INTERFACE,
            });
        }
        if !exports.iter().any(|name| name == EVALUATE) {
            return Err(LoadError::MissingExport {
                exports: if exports.is_empty() {
                    "none".to_owned()
                } else {
                    exports.join(", ")
                },
            });
        }
        Ok(ComponentInfo {
            imports,
            exports,
            world: format!("{WIT_PACKAGE}/evaluator@{WIT_VERSION}"),
            wit_version: WIT_VERSION.to_owned(),
        })
    }

    /// Loads an artifact whose SM3 digest (hex) is `digest`: from the
    /// compiled-code cache when present, else compiled (and cached); checked
    /// like [`ModuleHost::inspect`]; pre-instantiated.
    pub fn load(&self, digest: &str, artifact: &[u8]) -> Result<LoadedModule, LoadError> {
        let component = self.component(digest, artifact)?;
        let info = self.check(&component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(bindings::EvaluatorPre::new)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        Ok(LoadedModule {
            engine: self.engine.clone(),
            pre,
            info,
            limits: self.limits,
            epoch_tick: self.epoch_tick,
        })
    }

    /// The compiled component of the artifact whose SM3 digest (hex) is
    /// `digest`: from the cache when present, else compiled, checked and
    /// cached.
    fn component(&self, digest: &str, artifact: &[u8]) -> Result<Component, LoadError> {
        let cached = self
            .cache_dir
            .as_ref()
            .filter(|_| digest.bytes().all(|b| b.is_ascii_hexdigit()) && !digest.is_empty())
            .map(|dir| crate::cache::path(dir, digest, &self.engine_key));
        let component = match cached
            .as_deref()
            .and_then(|file| crate::cache::load(&self.engine, file))
        {
            Some(component) => component,
            None => {
                let component = Component::new(&self.engine, artifact)
                    .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
                self.check(&component)?;
                if let Some(file) = &cached {
                    crate::cache::store(&component, file);
                }
                component
            }
        };
        Ok(component)
    }
}

/// A module version ready to run: compiled and pre-instantiated. Cheap to
/// share (`Arc`) between requests; every call gets a fresh instance.
pub struct LoadedModule {
    engine: Engine,
    pre: bindings::EvaluatorPre<CallState>,
    info: ComponentInfo,
    limits: Limits,
    epoch_tick: Duration,
}

impl std::fmt::Debug for LoadedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModule")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl LoadedModule {
    /// What the artifact declares.
    pub fn info(&self) -> &ComponentInfo {
        &self.info
    }

    /// Runs `evaluate(input)` in a fresh instance under the host's limits.
    pub fn evaluate(&self, context: &CallContext, input: &str) -> Result<Evaluation, CallError> {
        self.evaluate_with(context, input, self.limits.fuel)
    }

    /// Like [`LoadedModule::evaluate`] with a smaller fuel budget (a
    /// service's own); never more than the host's.
    pub fn evaluate_with(
        &self,
        context: &CallContext,
        input: &str,
        fuel: u64,
    ) -> Result<Evaluation, CallError> {
        let budget = fuel.min(self.limits.fuel);
        let started = Instant::now();
        let mut store = Store::new(
            &self.engine,
            CallState {
                context: context.clone(),
                limiter: CallLimiter {
                    memory_bytes: self.limits.memory_bytes,
                    table_elements: self.limits.table_elements,
                    exceeded_memory: false,
                },
                logs: Vec::new(),
                dropped_logs: 0,
                refused_logs: 0,
                log_limit: self.limits.log_lines,
            },
        );
        store.limiter(|state| &mut state.limiter);
        // Hostcall fuel: what wasmtime lets one transfer from the module
        // account for (the arguments of one host call, or the answer), one
        // unit per byte of each string and per host-side byte of each list
        // element, copied or not (its default is 128 MiB). The host functions
        // copy no argument whole, so the fuel's work is bounding the answer
        // and the worst case: set to the module's memory, no one string the
        // module can hold exhausts it (an answer of any size is still
        // `module_output_too_large`, a log line of any size is refused as a
        // line), while a transfer naming the same bytes many times over, or
        // a list of hundreds of thousands of fields, ends the call as
        // `module_transfer_too_large`. It cannot be the few hundred KiB the
        // contract's limits suggest (the 256 KiB answer, 4 KiB lines): fuel
        // is spent before any host code runs, so a 1 MiB answer or a 1 MiB
        // log message would trap instead of being refused.
        store.set_hostcall_fuel(self.limits.memory_bytes);
        store
            .set_fuel(budget)
            .map_err(|e| CallError::Internal(e.to_string()))?;
        let tick = self.epoch_tick.as_millis().max(1);
        let ticks = (self.limits.timeout.as_millis() / tick).max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));

        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| instance.call_evaluate(&mut store, input));
        let fuel_used = budget.saturating_sub(store.get_fuel().unwrap_or(0));
        let elapsed = started.elapsed();
        let state = store.data();
        if state.dropped_logs + state.refused_logs > 0 {
            tracing::warn!(
                tags = ?state.context.log_tags,
                past_limit = state.dropped_logs,
                too_large = state.refused_logs,
                "the host dropped log lines of a module: past the line limit, or longer than a line may be"
            );
        }
        let answer = match result {
            Ok(answer) => answer,
            Err(error) => return Err(self.classify(&error, store.data(), budget)),
        };
        // A refusal reaches the caller's error body: bounded like a log line.
        let text = answer.map_err(|refusal| CallError::Rejected {
            code: clip_code(refusal.code),
            message: clip(refusal.message),
        })?;
        if text.len() > self.limits.output_bytes {
            return Err(CallError::OutputTooLarge {
                size: text.len(),
                limit: self.limits.output_bytes,
            });
        }
        let output =
            serde_json::from_str(&text).map_err(|e| CallError::InvalidOutput(e.to_string()))?;
        let state = store.into_data();
        Ok(Evaluation {
            output,
            fuel_used,
            elapsed,
            dropped_logs: state.dropped_logs + state.refused_logs,
            logs: state.logs,
        })
    }

    fn classify(&self, error: &wasmtime::Error, state: &CallState, budget: u64) -> CallError {
        if state.limiter.exceeded_memory {
            return CallError::MemoryLimit {
                limit: self.limits.memory_bytes,
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => CallError::FuelExhausted { budget },
            Some(Trap::Interrupt) => CallError::Timeout {
                millis: u64::try_from(self.limits.timeout.as_millis()).unwrap_or(u64::MAX),
            },
            Some(Trap::StackOverflow) => CallError::StackOverflow,
            Some(trap) => CallError::Trap(trap.to_string()),
            None => {
                let message = format!("{error:#}");
                if message.contains("pooling") || message.contains("concurrent") {
                    CallError::Busy
                } else if message.contains(HOSTCALL_FUEL_EXHAUSTED) {
                    CallError::TransferTooLarge {
                        limit: self.limits.memory_bytes,
                    }
                } else {
                    CallError::Trap(clip(message))
                }
            }
        }
    }
}

/// How wasmtime says a transfer from the module spent the store's hostcall
/// fuel (its error type is private; `classify` recognises the message).
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// The store's data for one call.
struct CallState {
    context: CallContext,
    limiter: CallLimiter,
    logs: Vec<LogLine>,
    /// `log` calls past `log_limit`, not read at all.
    dropped_logs: usize,
    /// Lines refused for their size (they count towards `log_limit`).
    refused_logs: usize,
    log_limit: usize,
}

/// Refuses growth past the limits and remembers that it did, so the trap
/// that follows (Rust aborts on a failed allocation) is reported as what it
/// is.
struct CallLimiter {
    memory_bytes: usize,
    table_elements: usize,
    exceeded_memory: bool,
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.exceeded_memory = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }
}

/// The most bytes of one log line the host keeps: its message, keys and
/// values together. A longer line is refused whole.
const LOG_LINE_BYTES: usize = 4096;
/// The most fields of one log line; a line with more is refused whole.
const LOG_FIELDS: usize = 32;
/// The most bytes of a module's refusal message, or of a trap's text, the
/// host keeps.
const MESSAGE_BYTES: usize = 4096;

/// A module's error code: at most 64 characters of `[a-z0-9_.-]`.
fn clip_code(code: String) -> String {
    let clean: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(64)
        .collect();
    if clean.is_empty() {
        "module_error".to_owned()
    } else {
        clean
    }
}

fn clip(mut text: String) -> String {
    if text.len() > MESSAGE_BYTES {
        let mut end = MESSAGE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Defines `civitas:module/host` in the linker by hand rather than with
/// `bindgen!`'s `add_to_linker`: the generated glue lifts every string
/// argument into a host `String` before the function runs, so a module could
/// make the host copy far more than its own memory (one 4 MiB string named
/// as the message and the 64 keys and values of a log line is 516 MiB of
/// copies). Here strings arrive as [`WasmStr`] and lists as [`WasmList`],
/// bounds-checked views of the module's memory: the host checks lengths
/// first and copies only what it keeps. Instantiation still checks these
/// signatures against the component's imports.
fn define_host_interface(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    type LogArgs = (wit_host::Level, WasmStr, WasmList<(WasmStr, WasmStr)>);
    let mut host = linker.instance(HOST_INTERFACE)?;
    host.func_wrap(
        "log",
        |store: StoreContextMut<'_, CallState>, (level, message, fields): LogArgs| {
            log(store, level, &message, &fields)
        },
    )?;
    host.func_wrap(
        "setting",
        |store: StoreContextMut<'_, CallState>, (key,): (WasmStr,)| {
            let key = key.to_str(&store)?;
            let value = store
                .data()
                .context
                .settings
                .get(key.as_ref())
                .and_then(|value| serde_json::to_string(value).ok());
            Ok((value,))
        },
    )?;
    host.func_wrap(
        "lookup",
        |store: StoreContextMut<'_, CallState>, (dictionary, code): (WasmStr, WasmStr)| {
            let dictionary = dictionary.to_str(&store)?;
            let code = code.to_str(&store)?;
            let label = store
                .data()
                .context
                .dictionaries
                .get(dictionary.as_ref())
                .and_then(|entries| entries.get(code.as_ref()))
                .cloned();
            Ok((label,))
        },
    )?;
    host.func_wrap("today", |store: StoreContextMut<'_, CallState>, (): ()| {
        let today = store.data().context.today;
        Ok((wit_host::Date {
            year: today.year,
            month: today.month,
            day: today.day,
        },))
    })?;
    Ok(())
}

/// `log(level, message, fields)`: keeps the line when it fits
/// ([`LOG_LINE_BYTES`], [`LOG_FIELDS`]), else refuses it; either way the
/// call goes on. Past the call's line limit nothing is read.
fn log(
    mut store: StoreContextMut<'_, CallState>,
    level: wit_host::Level,
    message: &WasmStr,
    fields: &WasmList<(WasmStr, WasmStr)>,
) -> wasmtime::Result<()> {
    let state = store.data_mut();
    if state.logs.len() + state.refused_logs >= state.log_limit {
        state.dropped_logs += 1;
        return Ok(());
    }
    let level = match level {
        wit_host::Level::Debug => "debug",
        wit_host::Level::Info => "info",
        wit_host::Level::Warn => "warn",
        wit_host::Level::Error => "error",
    };
    let Some(line) = read_line(&mut store, level, message, fields)? else {
        store.data_mut().refused_logs += 1;
        return Ok(());
    };
    let state = store.data_mut();
    // Debug level: the lines are also returned with the evaluation, and
    // conformance runs would otherwise flood the log.
    tracing::debug!(
        target: "civitas::module",
        module_level = line.level,
        tags = ?state.context.log_tags,
        fields = ?line.fields,
        "{}",
        line.message
    );
    state.logs.push(line);
    Ok(())
}

/// A log line, its message and fields copied, or `None` when it is larger
/// than a line may be. No more than [`LOG_LINE_BYTES`] is copied: the
/// message is measured in place, and each field is lifted with only the
/// bytes the line has left as hostcall fuel, so a longer key or value fails
/// its lift before a byte of it is read.
fn read_line(
    store: &mut StoreContextMut<'_, CallState>,
    level: &'static str,
    message: &WasmStr,
    fields: &WasmList<(WasmStr, WasmStr)>,
) -> wasmtime::Result<Option<LogLine>> {
    if fields.len() > LOG_FIELDS {
        return Ok(None);
    }
    let message = message.to_str(&*store)?;
    let Some(mut left) = LOG_LINE_BYTES.checked_sub(message.len()) else {
        return Ok(None);
    };
    let message = message.into_owned();
    let mut kept = Vec::with_capacity(fields.len());
    let fuel = store.hostcall_fuel();
    for index in 0..fields.len() {
        store.set_hostcall_fuel(left);
        let field = fields.get(&mut *store, index);
        store.set_hostcall_fuel(fuel);
        // Too long for what is left of the line (or out of bounds).
        let Some(Ok((key, value))) = field else {
            return Ok(None);
        };
        let key = key.to_str(&*store)?;
        let value = value.to_str(&*store)?;
        let Some(rest) = left.checked_sub(key.len() + value.len()) else {
            return Ok(None);
        };
        left = rest;
        kept.push((key.into_owned(), value.into_owned()));
    }
    Ok(Some(LogLine {
        level,
        message,
        fields: kept,
    }))
}

/// Why resetting slots by dirty pages would be unsafe here: swap is in use
/// (or cannot be told), so a dirty page could be swapped out and not reset.
fn swap_in_use() -> Option<String> {
    match std::fs::read_to_string("/proc/swaps") {
        // The header line, then one line per active swap area.
        Ok(swaps) if swaps.lines().skip(1).any(|l| !l.trim().is_empty()) => {
            Some("swap is in use: a dirty page swapped out would not be reset".to_owned())
        }
        Ok(_) => None,
        Err(error) => Some(format!(
            "cannot tell whether swap is in use (/proc/swaps: {error})"
        )),
    }
}
