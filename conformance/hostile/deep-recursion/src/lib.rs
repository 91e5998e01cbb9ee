//! Recurses without bound: the host's stack limit must stop it.
use civitas_module::{Context, ModuleError};
use serde_json::Value;

#[inline(never)]
fn descend(depth: u64) -> u64 {
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    1 + descend(std::hint::black_box(depth + 1))
}

fn evaluate(_: &Context, _: Value) -> Result<Value, ModuleError> {
    Ok(Value::from(descend(0)))
}

civitas_module::export_evaluator!(evaluate);
