//! Returns a valid but one-megabyte JSON document.
use civitas_module::bindings::{Guest, ModuleError};

struct Huge;

impl Guest for Huge {
    fn evaluate(_: String) -> Result<String, ModuleError> {
        // 1 MiB: four times the host's output limit, well inside its memory.
        Ok(format!("{{\"padding\":\"{}\"}}", "x".repeat(1 << 20)))
    }
}

civitas_module::bindings::__civitas_export_evaluator!(Huge with_types_in civitas_module::bindings);
