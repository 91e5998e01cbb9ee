//! Answers valid input correctly but traps on malformed input (it unwraps
//! instead of returning a module error): conformance must refuse it.
use civitas_module::bindings::{Guest, ModuleError};

struct Fragile;

impl Guest for Fragile {
    fn evaluate(input: String) -> Result<String, ModuleError> {
        let value: serde_json::Value = serde_json::from_str(&input).unwrap();
        let birth = value["birth_date"].as_str().unwrap();
        let year: u32 = birth[..4].parse().unwrap();
        let age = 2026 - year;
        Ok(serde_json::json!({
            "eligible": age >= 60, "category": null, "age": age,
            "per_meal_fen": 0, "monthly_cap_fen": 0, "reasons": []
        })
        .to_string())
    }
}

civitas_module::bindings::__civitas_export_evaluator!(Fragile with_types_in civitas_module::bindings);
