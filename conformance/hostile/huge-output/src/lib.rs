//! Returns a valid but one-megabyte JSON document (an array padded with
//! spaces): four times the host's output limit, built cheaply (one memset)
//! so that the output limit, not the fuel budget, is what stops it.
use civitas_module::bindings::{Guest, ModuleError};

struct Huge;

impl Guest for Huge {
    fn evaluate(_: String) -> Result<String, ModuleError> {
        let mut bytes = vec![b' '; 1 << 20];
        bytes[0] = b'[';
        let last = bytes.len() - 1;
        bytes[last] = b']';
        // SAFETY: every byte is ASCII.
        Ok(unsafe { String::from_utf8_unchecked(bytes) })
    }
}

civitas_module::bindings::__civitas_export_evaluator!(Huge with_types_in civitas_module::bindings);
