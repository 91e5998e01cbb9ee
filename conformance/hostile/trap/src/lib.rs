//! Panics (a trap): the call must fail, nothing else.
use civitas_module::{Context, ModuleError};
use serde_json::Value;

fn evaluate(_: &Context, input: Value) -> Result<Value, ModuleError> {
    let items: Vec<u32> = Vec::new();
    let index = std::hint::black_box(input.as_object().map_or(3, |o| o.len() + 3));
    Ok(Value::from(items[index]))
}

civitas_module::export_evaluator!(evaluate);
