//! The host contains every way a module can misbehave: each fails its own
//! call with its own error, and well-behaved calls running at the same time
//! all succeed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use civitas_host::{CallContext, CallError, Date, HostConfig, Limits, LoadError, ModuleHost};
use civitas_testkit::module_component;
use serde_json::{Value, json};

fn context() -> CallContext {
    let settings = json!({
        "meal-subsidy.per-meal.general": 300,
        "meal-subsidy.per-meal.advanced-age": 500,
        "meal-subsidy.per-meal.alone-or-disabled": 500,
        "meal-subsidy.per-meal.low-income": 600,
        "meal-subsidy.per-meal.minimum-living": 800,
        "meal-subsidy.per-meal.extreme-poverty": 1000,
        "meal-subsidy.monthly-cap": 20000,
        "meal-subsidy.local-top-up": 100,
    });
    let Value::Object(settings) = settings else {
        unreachable!()
    };
    let mut dictionaries = civitas_host::Dictionaries::new();
    dictionaries.insert(
        "meal-subsidy-category".into(),
        [("general".to_owned(), "六十周岁及以上老年人".to_owned())].into(),
    );
    CallContext {
        settings: Arc::new(settings),
        dictionaries: Arc::new(dictionaries),
        today: Date::parse("2026-11-23").unwrap(),
        log_tags: vec![("test".into(), "hostile".into())],
    }
}

const APPLICATION: &str = r#"{"birth_date":"1954-03-02","household_registration":"local","living_alone":false,"disability_grade":0,"economic_status":"none"}"#;

fn host() -> ModuleHost {
    ModuleHost::new(HostConfig::default()).unwrap()
}

fn hostile(name: &str) -> Vec<u8> {
    module_component(&format!("conformance/hostile/{name}"))
}

#[test]
fn the_city_rule_decides_from_the_tenants_settings_and_the_hosts_date() {
    let host = host();
    let module = host
        .load(
            "meal",
            &module_component("modules/civil-affairs/meal-subsidy"),
        )
        .unwrap();
    let evaluation = module.evaluate(&context(), APPLICATION).unwrap();
    assert_eq!(evaluation.output["eligible"], true);
    assert_eq!(evaluation.output["age"], 72);
    assert_eq!(evaluation.output["category"], "general");
    assert_eq!(evaluation.output["category_label"], "六十周岁及以上老年人");
    assert_eq!(evaluation.output["per_meal_fen"], 400, "300 + top-up 100");
    assert!(evaluation.fuel_used > 0);
    assert_eq!(evaluation.logs.len(), 1);
    assert_eq!(evaluation.logs[0].message, "meal subsidy decided");
}

#[test]
fn malformed_input_is_the_modules_refusal_not_a_trap() {
    let host = host();
    let module = host
        .load(
            "meal",
            &module_component("modules/civil-affairs/meal-subsidy"),
        )
        .unwrap();
    for input in ["", "[]", "{}", r#"{"birth_date": 5}"#] {
        let error = module.evaluate(&context(), input).unwrap_err();
        assert!(
            matches!(&error, CallError::Rejected { code, .. } if code == "invalid_input"),
            "{input}: {error}"
        );
        assert_eq!(error.code(), "module_rejected_input");
    }
}

#[test]
fn each_hostile_module_fails_its_own_call_with_its_own_error() {
    let host = host();
    let cases = [
        ("endless-loop", "module_fuel_exhausted"),
        ("memory-bomb", "module_memory_limit"),
        ("deep-recursion", "module_stack_overflow"),
        ("trap", "module_trap"),
        ("invalid-output", "module_invalid_output"),
        ("huge-output", "module_output_too_large"),
    ];
    for (name, code) in cases {
        let module = host.load(name, &hostile(name)).unwrap();
        let error = module.evaluate(&context(), APPLICATION).unwrap_err();
        assert_eq!(error.code(), code, "{name}: {error:?}");
        assert!(error.is_module_fault());
    }
}

/// A module reads what an earlier call may have left in its memory, low
/// (inside the keep-resident size) and high (4 MiB up), then leaves its
/// own: with one slot, every call reuses the same memory, and each must
/// still find nothing — after a trap too — whichever way slots are reset.
#[test]
fn no_call_sees_what_an_earlier_call_left_in_its_memory_even_after_a_trap() {
    for dirty_page_reset in [true, false] {
        let host = ModuleHost::new(HostConfig {
            pool_size: 1,
            dirty_page_reset,
            ..HostConfig::default()
        })
        .unwrap();
        if !dirty_page_reset {
            assert!(!host.resets_dirty_pages());
        }
        let module = host
            .load("state-carrier", &hostile("state-carrier"))
            .unwrap();
        for round in 0..4 {
            if round == 2 {
                let error = module
                    .evaluate(&context(), r#"{"trap": true}"#)
                    .unwrap_err();
                assert_eq!(error.code(), "module_trap");
            }
            let found = module.evaluate(&context(), "{}").unwrap();
            assert_eq!(
                found.output,
                serde_json::json!({"calls_seen": 0, "far_seen": [0, 0]}),
                "round {round}, dirty-page reset {}",
                host.resets_dirty_pages()
            );
        }
    }
}

#[test]
fn a_module_that_never_runs_out_of_fuel_is_stopped_by_the_clock() {
    let host = ModuleHost::new(HostConfig {
        limits: Limits {
            fuel: u64::MAX / 2,
            timeout: Duration::from_millis(50),
            ..Limits::default()
        },
        ..HostConfig::default()
    })
    .unwrap();
    let module = host.load("loop", &hostile("endless-loop")).unwrap();
    let error = module.evaluate(&context(), "{}").unwrap_err();
    assert_eq!(error, CallError::Timeout { millis: 50 });
}

#[test]
fn a_module_importing_anything_but_the_host_interface_is_refused() {
    let error = host().inspect(&hostile("forbidden-import")).unwrap_err();
    assert!(
        matches!(&error, LoadError::ForbiddenImport { import, .. } if import == "wasi:random/random@0.2.0"),
        "{error:?}"
    );
    assert!(error.to_string().contains("randomness"));
    assert!(matches!(
        host().inspect(b"not wasm"),
        Err(LoadError::Invalid(_))
    ));
}

#[test]
fn hostile_calls_leave_concurrent_well_behaved_calls_untouched() {
    let host = Arc::new(host());
    let good = Arc::new(
        host.load(
            "meal",
            &module_component("modules/civil-affairs/meal-subsidy"),
        )
        .unwrap(),
    );
    let bad: Vec<_> = [
        "endless-loop",
        "memory-bomb",
        "deep-recursion",
        "trap",
        "huge-output",
    ]
    .into_iter()
    .map(|name| Arc::new(host.load(name, &hostile(name)).unwrap()))
    .collect();
    let expected = good.evaluate(&context(), APPLICATION).unwrap().output;
    std::thread::scope(|scope| {
        for module in &bad {
            let module = module.clone();
            scope.spawn(move || {
                for _ in 0..5 {
                    assert!(module.evaluate(&context(), APPLICATION).is_err());
                }
            });
        }
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let good = good.clone();
                let expected = expected.clone();
                scope.spawn(move || {
                    for _ in 0..200 {
                        let evaluation = good.evaluate(&context(), APPLICATION).unwrap();
                        assert_eq!(evaluation.output, expected);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
    });
}

#[test]
fn a_log_line_larger_than_a_line_may_be_is_refused_and_the_call_goes_on() {
    // Each line names one 4 MiB string as its message and as the keys and
    // values of 64 fields; the module answers after 100 of them.
    let host = host();
    let module = host.load("log-flood", &hostile("log-flood")).unwrap();
    let evaluation = module.evaluate(&context(), APPLICATION).unwrap();
    assert_eq!(evaluation.output, json!({"lines": 100}));
    assert!(evaluation.logs.is_empty(), "{:?}", evaluation.logs.len());
    assert_eq!(evaluation.dropped_logs, 100);
    // A line of 32 fields of 4 MiB each is refused the same way.
    let evaluation = module
        .evaluate(&context(), r#"{"fields": 32, "lines": 1}"#)
        .unwrap();
    assert!(evaluation.logs.is_empty());
    assert_eq!(evaluation.dropped_logs, 1);
}

#[test]
fn a_transfer_larger_than_the_modules_memory_is_its_own_error() {
    // 400 000 fields: a list the host would have to account for far beyond
    // the module's 16 MiB, stopped by wasmtime before anything is copied.
    let host = host();
    let module = host.load("log-flood", &hostile("log-flood")).unwrap();
    let error = module
        .evaluate(&context(), r#"{"fields": 400000, "lines": 1}"#)
        .unwrap_err();
    assert_eq!(
        error,
        CallError::TransferTooLarge {
            limit: Limits::default().memory_bytes
        }
    );
    assert_eq!(error.code(), "module_transfer_too_large");
    assert!(error.is_module_fault());
}

/// The process's resident memory and its peak since the last
/// [`reset_peak`], in bytes (`VmRSS`, `VmHWM` of `/proc/self/status`).
fn resident() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap();
        kib * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak (`VmHWM`) to the current resident size; false where the
/// kernel does not allow it (then only the sampled peak counts).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[test]
fn a_module_flooding_the_log_grows_the_hosts_memory_by_less_than_its_own() {
    // Measured in a process of its own: under `cargo test` the other tests
    // of this file run beside it, in the same process.
    const ALONE: &str = "CIVITAS_HOSTILE_MEASURED_ALONE";
    if std::env::var_os(ALONE).is_none() {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_module_flooding_the_log_grows_the_hosts_memory_by_less_than_its_own",
                "--nocapture",
            ])
            .env(ALONE, "1")
            .status()
            .unwrap();
        assert!(status.success(), "the measuring process failed: {status}");
        return;
    }
    let host = Arc::new(host());
    let good = Arc::new(
        host.load(
            "meal",
            &module_component("modules/civil-affairs/meal-subsidy"),
        )
        .unwrap(),
    );
    let flood = Arc::new(host.load("log-flood", &hostile("log-flood")).unwrap());
    let expected = good.evaluate(&context(), APPLICATION).unwrap().output;
    let run = |calls: usize, good_calls: usize| {
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let flood = flood.clone();
                scope.spawn(move || {
                    for _ in 0..calls {
                        let evaluation = flood.evaluate(&context(), APPLICATION).unwrap();
                        assert_eq!(evaluation.dropped_logs, 100);
                    }
                });
            }
            for _ in 0..2 {
                let (good, expected) = (good.clone(), expected.clone());
                scope.spawn(move || {
                    for _ in 0..good_calls {
                        let evaluation = good.evaluate(&context(), APPLICATION).unwrap();
                        assert_eq!(evaluation.output, expected);
                    }
                });
            }
        });
    };
    // Once first, so that instance slots, thread stacks and allocator
    // arenas are in place before measuring.
    run(1, 1);
    let (before, _) = resident();
    let peak_reset = reset_peak();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let sampled = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(resident().0);
                std::thread::sleep(Duration::from_millis(1));
            }
            peak
        });
        run(4, 100);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sampler.join().unwrap()
    });
    let (after, high_water) = resident();
    let peak = sampled
        .max(after)
        .max(if peak_reset { high_water } else { 0 });
    let growth = peak.saturating_sub(before);
    eprintln!(
        "resident {} KiB before, peak {} KiB (growth {} KiB; VmHWM reset: {peak_reset})",
        before / 1024,
        peak / 1024,
        growth / 1024
    );
    assert!(
        growth < 16 << 20,
        "8 log-flooding calls at once grew the process by {} KiB",
        growth / 1024
    );
}

#[test]
fn compiled_code_is_cached_on_disk_and_a_damaged_entry_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let config = HostConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..HostConfig::default()
    };
    let artifact = module_component("modules/civil-affairs/meal-subsidy");
    let digest = "ab".repeat(32);
    let first = ModuleHost::new(config.clone()).unwrap();
    first.load(&digest, &artifact).unwrap();
    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(
        entries[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&digest)
    );

    let second = ModuleHost::new(config.clone()).unwrap();
    let module = second.load(&digest, &artifact).unwrap();
    assert_eq!(
        module.evaluate(&context(), APPLICATION).unwrap().output["eligible"],
        true
    );

    std::fs::write(&entries[0], b"damaged").unwrap();
    let third = ModuleHost::new(config).unwrap();
    let module = third.load(&digest, &artifact).unwrap();
    assert_eq!(
        module.evaluate(&context(), APPLICATION).unwrap().output["eligible"],
        true
    );
}
