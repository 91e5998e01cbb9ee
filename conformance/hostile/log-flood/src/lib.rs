//! Asks the host to copy far more than the module's memory through `log`:
//! each line's message and the keys and values of its 64 fields all name
//! one 4 MiB string, so a host that lifts every string before looking would
//! copy 516 MiB per line from a module holding 4 MiB. It writes 100 such
//! lines (past the host's line limit), then answers `{"lines": 100}`.
//!
//! The input may set `fields` (per line) and `lines`. The string is fresh
//! memory (`memory.grow`) the module never writes — zero bytes are valid
//! UTF-8 — so the module itself stays small and whatever the process gains
//! is the host's.
//!
//! `civitas_module` encodes a line's fields as owned strings, which could
//! not alias; the module calls the host's `log` import directly with the
//! canonical ABI's encoding instead.
use civitas_module::{Context, ModuleError};
use serde_json::{Value, json};

const STRING_BYTES: usize = 4 << 20;
const PAGE: usize = 64 << 10;

/// One `tuple<string, string>` of a `list` in linear memory.
#[repr(C)]
struct Field {
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
}

#[link(wasm_import_module = "civitas:module/host@0.1.0")]
unsafe extern "C" {
    /// `log: func(level: level, message: string, fields: list<tuple<string, string>>)`.
    #[link_name = "log"]
    fn host_log(
        level: i32,
        message: *const u8,
        message_len: usize,
        fields: *const Field,
        fields_len: usize,
    );
}

fn evaluate(_: &Context, input: Value) -> Result<Value, ModuleError> {
    let count = |key: &str, default: usize| {
        input
            .get(key)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(default)
    };
    let (fields_per_line, lines) = (count("fields", 64), count("lines", 100));
    let previous = core::arch::wasm32::memory_grow(0, STRING_BYTES / PAGE);
    if previous == usize::MAX {
        return Err(ModuleError::new("no_memory", "cannot grow memory"));
    }
    let string = (previous * PAGE) as *const u8;
    let fields: Vec<Field> = (0..fields_per_line)
        .map(|_| Field {
            key: string,
            key_len: STRING_BYTES,
            value: string,
            value_len: STRING_BYTES,
        })
        .collect();
    for _ in 0..lines {
        // SAFETY: every pointer names `STRING_BYTES` bytes of this module's
        // memory, grown above and never freed.
        unsafe { host_log(1, string, STRING_BYTES, fields.as_ptr(), fields.len()) };
    }
    Ok(json!({ "lines": lines }))
}

civitas_module::export_evaluator!(evaluate);
