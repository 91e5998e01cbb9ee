//! Returns text that is not JSON.
use civitas_module::bindings::{Guest, ModuleError};

struct Garbage;

impl Guest for Garbage {
    fn evaluate(_: String) -> Result<String, ModuleError> {
        Ok("{eligible: yes".to_owned())
    }
}

civitas_module::bindings::__civitas_export_evaluator!(Garbage with_types_in civitas_module::bindings);
