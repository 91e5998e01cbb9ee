//! Allocates memory until something stops it: the host's memory limit must.
use civitas_module::{Context, ModuleError};
use serde_json::Value;

fn evaluate(_: &Context, _: Value) -> Result<Value, ModuleError> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Reserve without touching: memory grows at once, fuel barely moves.
        let mut chunk: Vec<u8> = Vec::with_capacity(1 << 20);
        chunk.push(1);
        hoard.push(chunk);
        std::hint::black_box(&hoard);
    }
}

civitas_module::export_evaluator!(evaluate);
