//! Returns well-formed JSON that breaks the meal-subsidy output schema.
use civitas_module::{Context, ModuleError};
use serde_json::{Value, json};

fn evaluate(_: &Context, _: Value) -> Result<Value, ModuleError> {
    Ok(json!({ "eligible": "yes", "amount": -5 }))
}

civitas_module::export_evaluator!(evaluate);
