//! Tries to carry state from one call to the next: it reads what an
//! earlier call may have left in its memory — a counter among the first
//! pages (inside the slot's keep-resident size) and a mark in a 4 MiB
//! buffer (far above it) — then leaves its own, and traps when asked to
//! (a trapped call's memory must not reach the next one either). Every
//! call must find nothing: each runs in a fresh instance.
use civitas_module::{Context, ModuleError};
use serde_json::{Value, json};

/// A counter in low memory (the data segment's neighbourhood).
static mut CALLS: u64 = 0;
/// A buffer far above the keep-resident size; zero in a fresh instance.
static mut FAR: [u8; 4 << 20] = [0; 4 << 20];

fn evaluate(_: &Context, input: Value) -> Result<Value, ModuleError> {
    // SAFETY: one call at a time in one instance; volatile so the reads
    // and writes happen as written.
    let (calls, far) = unsafe {
        let calls = std::ptr::read_volatile(&raw const CALLS);
        let far_end = (&raw mut FAR).cast::<u8>().add((4 << 20) - 1);
        let far_start = (&raw mut FAR).cast::<u8>();
        let seen = (
            std::ptr::read_volatile(far_start),
            std::ptr::read_volatile(far_end),
        );
        std::ptr::write_volatile(&raw mut CALLS, calls + 1);
        std::ptr::write_volatile(far_start, 0xA5);
        std::ptr::write_volatile(far_end, 0x5A);
        (calls, seen)
    };
    if input.get("trap").and_then(Value::as_bool) == Some(true) {
        let items: Vec<u32> = Vec::new();
        let index = std::hint::black_box(calls as usize + 7);
        return Ok(Value::from(items[index]));
    }
    Ok(json!({"calls_seen": calls, "far_seen": [far.0, far.1]}))
}

civitas_module::export_evaluator!(evaluate);
