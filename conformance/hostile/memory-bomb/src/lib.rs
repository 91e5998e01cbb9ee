//! Allocates memory until something stops it: the host's memory limit must.
use civitas_module::{Context, ModuleError};
use serde_json::Value;

fn evaluate(_: &Context, _: Value) -> Result<Value, ModuleError> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

civitas_module::export_evaluator!(evaluate);
