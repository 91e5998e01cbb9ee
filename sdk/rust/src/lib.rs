//! Write a Civitas business-rule module as a plain Rust function.
//!
//! A module implements one service's extension point (the `evaluator` world
//! of `sdk/wit/module.wit`). This crate hides the WebAssembly bindings: you
//! write a function from your typed input to your typed output, and export it
//! with [`export_evaluator!`]:
//!
//! ```ignore
//! use civitas_module::{Context, ModuleError};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Application { age: u32 }
//!
//! #[derive(Serialize)]
//! struct Decision { eligible: bool }
//!
//! fn evaluate(ctx: &Context, input: Application) -> Result<Decision, ModuleError> {
//!     let threshold: u32 = ctx.setting("meal-subsidy.min-age")?.unwrap_or(60);
//!     Ok(Decision { eligible: input.age >= threshold })
//! }
//!
//! civitas_module::export_evaluator!(evaluate);
//! ```
//!
//! Input that does not deserialize into your type is answered with a
//! [`ModuleError`] (`invalid_input`), never a trap: the platform's conformance
//! checks require it.

use serde::Serialize;
use serde::de::DeserializeOwned;

// Only a module's own build (wasm32) allocates with it; on a host (docs,
// `cargo publish` checking the package) it would be dead code.
#[cfg(all(feature = "bump-allocator", target_arch = "wasm32"))]
mod alloc;

/// One instance serves one call, so memory is bumped, never freed: see
/// [`alloc::BumpAllocator`]. Disable the `bump-allocator` feature to use the
/// standard allocator instead.
#[cfg(all(feature = "bump-allocator", target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: alloc::BumpAllocator = alloc::BumpAllocator::new();

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "evaluator",
        pub_export_macro: true,
        export_macro_name: "__civitas_export_evaluator",
        default_bindings_module: "civitas_module::bindings",
    });
}

use bindings::civitas::module::host;

/// A refusal by the module: the input cannot be evaluated. The platform
/// answers the caller with HTTP 422 and this code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleError {
    /// Machine-readable, e.g. `invalid_input`, `inconsistent_household`.
    pub code: String,
    /// For a person: what is wrong with the input.
    pub message: String,
}

impl ModuleError {
    /// A refusal with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> ModuleError {
        ModuleError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The input is malformed or inconsistent.
    pub fn invalid_input(message: impl Into<String>) -> ModuleError {
        ModuleError::new("invalid_input", message)
    }
}

/// A calendar date, as the host gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// The year, e.g. 2026.
    pub year: u16,
    /// 1–12.
    pub month: u8,
    /// 1–31.
    pub day: u8,
}

impl Date {
    /// Whole years from `birth` to this date (a person's age on this date).
    pub fn years_since(self, birth: Date) -> u32 {
        let mut years = u32::from(self.year).saturating_sub(u32::from(birth.year));
        if (self.month, self.day) < (birth.month, birth.day) {
            years = years.saturating_sub(1);
        }
        years
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Date> {
        let mut parts = text.split('-');
        let year = parts.next()?.parse().ok()?;
        let month: u8 = parts.next()?.parse().ok()?;
        let day: u8 = parts.next()?.parse().ok()?;
        if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        Some(Date { year, month, day })
    }
}

/// What the platform offers during one evaluation: the tenant's settings,
/// reference data, the evaluation date and the log.
pub struct Context {
    _private: (),
}

impl Context {
    /// The calling tenant's effective setting `key` (the most specific tenant
    /// on the path up to the root wins), decoded into `T`. `Ok(None)` when no
    /// tenant sets it; an error when it is set but is not a `T`.
    pub fn setting<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ModuleError> {
        match host::setting(key) {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json).map(Some).map_err(|error| {
                ModuleError::new(
                    "invalid_setting",
                    format!("setting {key} is not of the expected type: {error}"),
                )
            }),
        }
    }

    /// The label of `code` in the platform dictionary `dictionary`.
    pub fn lookup(&self, dictionary: &str, code: &str) -> Option<String> {
        host::lookup(dictionary, code)
    }

    /// The date the evaluation is made for.
    pub fn today(&self) -> Date {
        let date = host::today();
        Date {
            year: date.year,
            month: date.month,
            day: date.day,
        }
    }

    /// Writes an informational log line with key/value fields.
    pub fn info(&self, message: &str, fields: &[(&str, &str)]) {
        log(host::Level::Info, message, fields);
    }

    /// Writes a warning log line with key/value fields.
    pub fn warn(&self, message: &str, fields: &[(&str, &str)]) {
        log(host::Level::Warn, message, fields);
    }
}

fn log(level: host::Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    host::log(level, message, &fields);
}

/// Runs `rule` over the JSON `input`: decodes it, calls the rule, encodes the
/// answer. Used by [`export_evaluator!`]; not called directly.
#[doc(hidden)]
pub fn run<I: DeserializeOwned, O: Serialize>(
    input: &str,
    rule: fn(&Context, I) -> Result<O, ModuleError>,
) -> Result<String, bindings::ModuleError> {
    let to_wit = |error: ModuleError| bindings::ModuleError {
        code: error.code,
        message: error.message,
    };
    let input: I = serde_json::from_str(input).map_err(|error| {
        to_wit(ModuleError::invalid_input(format!(
            "input does not match this module's input type: {error}"
        )))
    })?;
    let output = rule(&Context { _private: () }, input).map_err(to_wit)?;
    serde_json::to_string(&output).map_err(|error| {
        to_wit(ModuleError::new(
            "output_encoding",
            format!("the module's output could not be encoded: {error}"),
        ))
    })
}

/// Exports `rule` (a `fn(&Context, Input) -> Result<Output, ModuleError>`,
/// with `Input: Deserialize` and `Output: Serialize`) as this module's
/// `evaluate`. Use once per module crate.
#[macro_export]
macro_rules! export_evaluator {
    ($rule:path) => {
        #[doc(hidden)]
        struct __CivitasEvaluator;

        impl $crate::bindings::Guest for __CivitasEvaluator {
            fn evaluate(
                input: $crate::__private::String,
            ) -> ::core::result::Result<$crate::__private::String, $crate::bindings::ModuleError>
            {
                $crate::run(&input, $rule)
            }
        }

        $crate::bindings::__civitas_export_evaluator!(__CivitasEvaluator with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub mod __private {
    pub use std::string::String;
}
