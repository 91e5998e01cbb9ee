//! Loops forever: the host's fuel (or time) limit must end the call.
use civitas_module::{Context, ModuleError};
use serde_json::Value;

fn evaluate(_: &Context, _: Value) -> Result<Value, ModuleError> {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

civitas_module::export_evaluator!(evaluate);
