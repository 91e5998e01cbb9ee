//! The checks a module must pass before it may be bound to a service.
//!
//! | check            | what it proves |
//! | ---------------- | -------------- |
//! | `exports`        | the component exports the service's world (`evaluator`) and imports nothing else |
//! | `output_schema`  | on every example input the module answers, and the answer validates against the service's output schema |
//! | `deterministic`  | the same example gives the same answer when run again |
//! | `fuel_budget`    | no example uses more fuel than the service's budget |
//! | `malformed_input`| documents that break the input schema are refused with a module error, never a trap |
//!
//! [`check`] runs them all against a [`LoadedModule`] and returns a
//! [`Report`]; binding refuses a module whose report has a failure and names
//! the first failing check. `civitas module check` prints the same report.

use civitas_host::{CallContext, CallError, LoadedModule};
use civitas_services::{Example, Service};
use serde::Serialize;

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The check's name (see the table above).
    pub check: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// What was found (the failing example and why, or a summary).
    pub detail: String,
}

/// All checks of one module against one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The service checked against.
    pub service: String,
    /// Each check, in order.
    pub checks: Vec<CheckResult>,
    /// The most fuel any example used.
    pub max_fuel_used: u64,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }

    /// The first failing check.
    pub fn first_failure(&self) -> Option<&CheckResult> {
        self.checks.iter().find(|check| !check.passed)
    }
}

/// Inputs that break any sensible input schema: each must be refused with a
/// module error.
const MALFORMED: &[&str] = &[
    "",
    "{",
    "null",
    "[]",
    "\"text\"",
    "{}",
    "{\"birth_date\": 12}",
];

/// Runs every check. `examples` are the service's examples plus any the
/// module brings; `context` supplies the settings and date the examples
/// are evaluated with.
pub fn check(
    module: &LoadedModule,
    service: &Service,
    examples: &[Example],
    context: &CallContext,
) -> Report {
    let mut checks = Vec::new();
    let info = module.info();
    let exports_ok = info.exports.iter().any(|export| export == "evaluate")
        && info.world.contains(&format!("/{}@", service.world));
    checks.push(CheckResult {
        check: "exports",
        passed: exports_ok,
        detail: format!(
            "world {}, exports [{}], imports [{}]",
            info.world,
            info.exports.join(", "),
            info.imports.join(", ")
        ),
    });

    let mut schema = pass(
        "output_schema",
        format!("{} examples answered and valid", examples.len()),
    );
    let mut determinism = pass(
        "deterministic",
        "every example gave the same answer twice".into(),
    );
    let mut fuel = pass("fuel_budget", String::new());
    let mut max_fuel_used = 0;
    for example in examples {
        let input = example.input.to_string();
        let first = module.evaluate(context, &input);
        let first = match first {
            Ok(evaluation) => evaluation,
            Err(error) => {
                fail(&mut schema, format!("{}: {error}", example.name));
                continue;
            }
        };
        max_fuel_used = max_fuel_used.max(first.fuel_used);
        if first.fuel_used > service.fuel_budget {
            fail(
                &mut fuel,
                format!(
                    "{}: used {} fuel, budget {}",
                    example.name, first.fuel_used, service.fuel_budget
                ),
            );
        }
        if let Err(violation) = service.check_output(&first.output) {
            fail(&mut schema, format!("{}: {violation}", example.name));
        }
        match module.evaluate(context, &input) {
            Ok(second) if second.output == first.output => {}
            Ok(_) => fail(
                &mut determinism,
                format!("{}: a second run gave a different answer", example.name),
            ),
            Err(error) => fail(
                &mut determinism,
                format!("{}: a second run failed: {error}", example.name),
            ),
        }
    }
    if fuel.passed {
        fuel.detail = format!("at most {max_fuel_used} of {} fuel", service.fuel_budget);
    }
    checks.extend([schema, determinism, fuel]);

    let mut malformed = pass(
        "malformed_input",
        format!(
            "{} malformed documents refused with a module error",
            MALFORMED.len()
        ),
    );
    for input in MALFORMED {
        match module.evaluate(context, input) {
            Err(CallError::Rejected { .. }) => {}
            Ok(_) => fail(
                &mut malformed,
                format!("{input:?}: answered instead of refused"),
            ),
            Err(error) => fail(&mut malformed, format!("{input:?}: {error}")),
        }
    }
    checks.push(malformed);
    Report {
        service: service.id.clone(),
        checks,
        max_fuel_used,
    }
}

fn pass(check: &'static str, detail: String) -> CheckResult {
    CheckResult {
        check,
        passed: true,
        detail,
    }
}

/// Marks `result` failed; the first failure's detail is kept, later ones are
/// appended (up to a few).
fn fail(result: &mut CheckResult, detail: String) {
    if result.passed {
        result.passed = false;
        result.detail = detail;
    } else if result.detail.matches("; ").count() < 3 {
        result.detail.push_str("; ");
        result.detail.push_str(&detail);
    }
}
