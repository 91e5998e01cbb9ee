//! One call: what the module sees, what it may use, what comes back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// The year.
    pub year: u16,
    /// 1–12.
    pub month: u8,
    /// 1–31.
    pub day: u8,
}

impl Date {
    /// Parses `YYYY-MM-DD` (a real calendar date).
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let year: u16 = text.get(0..4)?.parse().ok()?;
        let month: u8 = text.get(5..7)?.parse().ok()?;
        let day: u8 = text.get(8..10)?.parse().ok()?;
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days)
            .contains(&day)
            .then_some(Date { year, month, day })
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Reference data: dictionary name → code → label.
pub type Dictionaries = BTreeMap<String, BTreeMap<String, String>>;

/// What the host tells a module during one call.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The calling tenant's effective settings (most specific tenant wins).
    pub settings: Arc<Map<String, Value>>,
    /// Platform reference data.
    pub dictionaries: Arc<Dictionaries>,
    /// The date the evaluation is made for.
    pub today: Date,
    /// Tags for the module's log lines (module, version, tenant, request).
    pub log_tags: Vec<(String, String)>,
}

impl Default for CallContext {
    fn default() -> CallContext {
        CallContext {
            settings: Arc::default(),
            dictionaries: Arc::default(),
            today: Date {
                year: 2026,
                month: 1,
                day: 1,
            },
            log_tags: Vec::new(),
        }
    }
}

/// A log line a module wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The message.
    pub message: String,
    /// Key/value fields.
    pub fields: Vec<(String, String)>,
}

/// A successful call.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The module's answer, parsed.
    pub output: Value,
    /// Fuel the call used.
    pub fuel_used: u64,
    /// Wall-clock time of instantiate + call.
    pub elapsed: Duration,
    /// What the module logged (at most [`crate::Limits::log_lines`] lines,
    /// each at most 4096 bytes of message, keys and values and 32 fields).
    pub logs: Vec<LogLine>,
    /// `log` calls the host did not keep: past the line limit, or a line
    /// larger than a line may be (refused whole, the call going on).
    pub dropped_logs: usize,
}

/// Why one call failed. Each names what the module did; none affects any
/// other call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The module refused the input with its own error (not a fault).
    #[error("模块拒绝了输入 / the module rejected the input: {code}: {message}")]
    Rejected {
        /// The module's code, e.g. `invalid_input`.
        code: String,
        /// The module's message.
        message: String,
    },
    /// The call ran out of fuel (an endless or too long computation).
    #[error("模块超出计算配额 / the module used up its fuel budget of {budget}")]
    FuelExhausted {
        /// The budget.
        budget: u64,
    },
    /// The call ran past its time limit.
    #[error("模块执行超时 / the module ran past its time limit of {millis} ms")]
    Timeout {
        /// The limit.
        millis: u64,
    },
    /// The module tried to grow its memory past the limit.
    #[error("模块超出内存上限 / the module tried to use more than {limit} bytes of memory")]
    MemoryLimit {
        /// The limit in bytes.
        limit: usize,
    },
    /// The module recursed past its stack.
    #[error("模块栈溢出 / the module overflowed its stack")]
    StackOverflow,
    /// The module trapped (a panic, unreachable code, out-of-bounds access…).
    #[error("模块执行出错 / the module trapped: {0}")]
    Trap(String),
    /// The output is not a JSON document.
    #[error("模块输出不是有效的 JSON / the module's output is not valid JSON: {0}")]
    InvalidOutput(String),
    /// The output is larger than allowed.
    #[error(
        "模块输出过大 / the module's output of {size} bytes exceeds the limit of {limit} bytes"
    )]
    OutputTooLarge {
        /// The output's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The module handed the host more in one transfer (the arguments of one
    /// host function, or its answer) than its memory can hold: several
    /// strings naming the same bytes, or a list of hundreds of thousands of
    /// log fields. Wasmtime stops such a transfer before copying it.
    #[error(
        "模块一次传给平台的数据过多 / the module passed the host more than {limit} bytes in one call of the host interface or in its answer"
    )]
    TransferTooLarge {
        /// The most one transfer may carry (the module's memory limit).
        limit: usize,
    },
    /// Every instance slot is in use.
    #[error("模块运行环境繁忙，请稍后重试 / all module instance slots are busy; retry shortly")]
    Busy,
    /// Something in the host failed (a bug, not the module's doing).
    #[error("模块运行环境内部错误 / internal module host error: {0}")]
    Internal(String),
}

impl CallError {
    /// A stable machine-readable code for the error envelope.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::Rejected { .. } => "module_rejected_input",
            CallError::FuelExhausted { .. } => "module_fuel_exhausted",
            CallError::Timeout { .. } => "module_timeout",
            CallError::MemoryLimit { .. } => "module_memory_limit",
            CallError::StackOverflow => "module_stack_overflow",
            CallError::Trap(_) => "module_trap",
            CallError::InvalidOutput(_) => "module_invalid_output",
            CallError::OutputTooLarge { .. } => "module_output_too_large",
            CallError::TransferTooLarge { .. } => "module_transfer_too_large",
            CallError::Busy => "module_host_busy",
            CallError::Internal(_) => "module_host_error",
        }
    }

    /// Whether the module misbehaved (as opposed to refusing input, or the
    /// host failing).
    pub fn is_module_fault(&self) -> bool {
        !matches!(
            self,
            CallError::Rejected { .. } | CallError::Busy | CallError::Internal(_)
        )
    }
}
