//! Per-call cost of the meal-subsidy module: a fresh instance per call
//! (instantiate + evaluate + drop) with civitas-host, beside stock wasmtime
//! (default allocator, `Linker::instantiate` per call), a reused instance,
//! the same rule written as native Rust, and the floor of isolation (the
//! host's engine making and dropping instances with no call: this component,
//! and the least component there is) — all in the same run. Then the
//! start-up cost of 50 module versions loaded from the compiled-code cache.
//!
//!     cargo bench -p civitas-host --bench evaluate
//!
//! Times every call one by one and prints p50, p99, calls per second on one
//! core, and the ratios.

// A benchmark panics on impossible setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use civitas_host::{CallContext, Date, HostConfig, ModuleHost};
use serde_json::{Map, Value, json};

const INPUT: &str = r#"{"case_id":"CA-1","birth_date":"1954-03-02","household_registration":"local","living_alone":true,"disability_grade":0,"economic_status":"none"}"#;
const CALLS: usize = 20_000;

mod stock {
    wasmtime::component::bindgen!({ path: "../../sdk/wit", world: "evaluator" });
}

struct StockState {
    settings: Arc<Map<String, Value>>,
}

impl stock::civitas::module::host::Host for StockState {
    fn log(&mut self, _: stock::civitas::module::host::Level, _: String, _: Vec<(String, String)>) {
    }
    fn setting(&mut self, key: String) -> Option<String> {
        self.settings.get(&key).map(|v| v.to_string())
    }
    fn lookup(&mut self, _: String, _: String) -> Option<String> {
        None
    }
    fn today(&mut self) -> stock::civitas::module::host::Date {
        stock::civitas::module::host::Date {
            year: 2026,
            month: 11,
            day: 23,
        }
    }
}

/// The least component: one core module holding one page of memory,
/// instantiated with no imports and exporting nothing (binary format; the
/// workspace's wasmtime has no text parser).
const LEAST_COMPONENT: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, // component, version 0x0d, layer 1
    0x01, 0x0d, // core module section, 13 bytes:
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // core module, version 1
    0x05, 0x03, 0x01, 0x00, 0x01, // memory section: one memory, at least one page
    // core instance section, 4 bytes: one instance, module 0, no arguments
    0x02, 0x04, 0x01, 0x00, 0x00, 0x00,
];

/// A store for the stock bindings, reading `settings`.
fn stock_store(
    engine: &wasmtime::Engine,
    settings: &Arc<Map<String, Value>>,
) -> wasmtime::Store<StockState> {
    wasmtime::Store::new(
        engine,
        StockState {
            settings: settings.clone(),
        },
    )
}

fn settings() -> Arc<Map<String, Value>> {
    let Value::Object(map) = json!({
        "meal-subsidy.per-meal.general": 300, "meal-subsidy.per-meal.advanced-age": 500,
        "meal-subsidy.per-meal.alone-or-disabled": 500, "meal-subsidy.per-meal.low-income": 600,
        "meal-subsidy.per-meal.minimum-living": 800, "meal-subsidy.per-meal.extreme-poverty": 1000,
        "meal-subsidy.monthly-cap": 20000, "meal-subsidy.local-top-up": 100,
    }) else {
        unreachable!()
    };
    Arc::new(map)
}

/// The city's rule (modules/civil-affairs/meal-subsidy) as native Rust, with
/// the same JSON decoding and encoding, for the ratio.
fn native_rule(input: &str, settings: &Map<String, Value>) -> String {
    let doc: Value = serde_json::from_str(input).unwrap();
    let birth = doc["birth_date"].as_str().unwrap();
    let (y, m, d): (u32, u32, u32) = (
        birth[0..4].parse().unwrap(),
        birth[5..7].parse().unwrap(),
        birth[8..10].parse().unwrap(),
    );
    let mut age = 2026 - y;
    if (11, 23) < (m, d) {
        age -= 1;
    }
    let category = match doc["economic_status"].as_str().unwrap() {
        "extreme-poverty" => "extreme-poverty",
        "minimum-living" => "minimum-living",
        "low-income" => "low-income",
        _ if age >= 80 => "advanced-age",
        _ if doc["living_alone"].as_bool().unwrap()
            || doc["disability_grade"].as_u64().unwrap() > 0 =>
        {
            "alone-or-disabled"
        }
        _ => "general",
    };
    let amount = |key: &str| settings.get(key).and_then(Value::as_u64).unwrap_or(0);
    let tier = amount(&format!("meal-subsidy.per-meal.{category}"));
    let top_up = amount("meal-subsidy.local-top-up");
    json!({
        "eligible": doc["household_registration"] == "local" && age >= 60, "category": category,
        "category_label": Value::Null, "age": age, "per_meal_fen": tier + top_up,
        "monthly_cap_fen": amount("meal-subsidy.monthly-cap"),
        "reasons": [format!("tier {category}: {tier} fen per meal")],
    })
    .to_string()
}

/// An application as a typed record (what a WIT record would hand the
/// guest instead of JSON text).
struct Application {
    birth: (u32, u32, u32),
    local: bool,
    living_alone: bool,
    disability_grade: u8,
    economic_status: &'static str,
}

/// The decision as a typed record.
struct Decision {
    eligible: bool,
    category: &'static str,
    age: u32,
    per_meal_fen: u64,
    monthly_cap_fen: u64,
    reasons: Vec<String>,
}

/// The tenant's amounts, read once (a typed settings record).
struct Amounts {
    per_meal: [(&'static str, u64); 6],
    top_up: u64,
    cap: u64,
}

/// The same rule on typed values, no JSON either way: the least any
/// encoding (a WIT record, a compact binary one) could cost, natively.
fn native_typed_rule(a: &Application, amounts: &Amounts) -> Decision {
    let (y, m, d) = a.birth;
    let mut age = 2026 - y;
    if (11, 23) < (m, d) {
        age -= 1;
    }
    let category = match a.economic_status {
        "extreme-poverty" => "extreme-poverty",
        "minimum-living" => "minimum-living",
        "low-income" => "low-income",
        _ if age >= 80 => "advanced-age",
        _ if a.living_alone || a.disability_grade > 0 => "alone-or-disabled",
        _ => "general",
    };
    let tier = amounts
        .per_meal
        .iter()
        .find(|(name, _)| *name == category)
        .map_or(0, |(_, fen)| *fen);
    Decision {
        eligible: a.local && age >= 60,
        category,
        age,
        per_meal_fen: tier + amounts.top_up,
        monthly_cap_fen: amounts.cap,
        reasons: vec![format!("tier {category}: {tier} fen per meal")],
    }
}

fn time(calls: usize, mut call: impl FnMut()) -> Vec<Duration> {
    for _ in 0..calls / 20 {
        call(); // warm up
    }
    let mut samples: Vec<Duration> = (0..calls)
        .map(|_| {
            let start = Instant::now();
            call();
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples
}

fn p(samples: &[Duration], q: f64) -> Duration {
    samples[((samples.len() as f64 - 1.0) * q).round() as usize]
}

fn per_second(samples: &[Duration]) -> f64 {
    samples.len() as f64 / samples.iter().sum::<Duration>().as_secs_f64()
}

fn report(name: &str, samples: &[Duration]) {
    println!(
        "| {name} | {:.1} µs | {:.1} µs | {:.0} |",
        p(samples, 0.5).as_secs_f64() * 1e6,
        p(samples, 0.99).as_secs_f64() * 1e6,
        per_second(samples)
    );
}

fn main() {
    let artifact = civitas_testkit::module_component("modules/civil-affairs/meal-subsidy");
    let context = CallContext {
        settings: settings(),
        dictionaries: Arc::default(),
        today: Date {
            year: 2026,
            month: 11,
            day: 23,
        },
        log_tags: Vec::new(),
    };

    // civitas-host: pooling allocator, one InstancePre, fuel + epochs.
    let keep_resident_bytes = std::env::var("CIVITAS_KEEP_RESIDENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(HostConfig::default().keep_resident_bytes);
    // CIVITAS_DIRTY_PAGE_RESET=0 measures the reset by unmapping.
    let dirty_page_reset = std::env::var("CIVITAS_DIRTY_PAGE_RESET").map_or(true, |v| v != "0");
    let host = ModuleHost::new(HostConfig {
        keep_resident_bytes,
        dirty_page_reset,
        ..HostConfig::default()
    })
    .unwrap();
    println!(
        "slots reset by dirty pages (PAGEMAP_SCAN): {}",
        host.resets_dirty_pages()
    );
    let module = host.load("bench", &artifact).unwrap();
    let expected = module.evaluate(&context, INPUT).unwrap().output;
    if std::env::var_os("CIVITAS_BENCH_PROFILE").is_some() {
        // Only the fresh-instance loop, for `perf record`.
        for _ in 0..200_000 {
            module.evaluate(&context, INPUT).unwrap();
        }
        return;
    }
    let civitas = time(CALLS, || {
        module.evaluate(&context, INPUT).unwrap();
    });

    // Stock wasmtime: default config and allocator, instantiate per call.
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::new(&engine, &artifact).unwrap();
    let mut linker = wasmtime::component::Linker::new(&engine);
    stock::civitas::module::host::add_to_linker::<
        StockState,
        wasmtime::component::HasSelf<StockState>,
    >(&mut linker, |s| s)
    .unwrap();
    let stock_settings = settings();
    let stock = time(CALLS, || {
        let mut store = stock_store(&engine, &stock_settings);
        let instance = stock::Evaluator::instantiate(&mut store, &component, &linker).unwrap();
        let output = instance.call_evaluate(&mut store, INPUT).unwrap().unwrap();
        std::hint::black_box(output);
    });

    // A reused instance: the call alone (no isolation between calls).
    let mut store = stock_store(&engine, &stock_settings);
    let instance = stock::Evaluator::instantiate(&mut store, &component, &linker).unwrap();
    let reused = time(CALLS, || {
        std::hint::black_box(instance.call_evaluate(&mut store, INPUT).unwrap().unwrap());
    });

    // The isolation's floor: the host's own engine (pooling allocator,
    // dirty-page reset, fuel, epochs), instances made and dropped with no
    // call — of this component (three core instances: the
    // rule and the two adapters `wit-component` adds for host imports that
    // read the guest's memory), and of the least component there is (one core
    // module with one page of memory).
    let pooled = host.engine().clone();
    let pooled_dirty_reset = host.resets_dirty_pages();
    let mut pooled_linker = wasmtime::component::Linker::new(&pooled);
    stock::civitas::module::host::add_to_linker::<
        StockState,
        wasmtime::component::HasSelf<StockState>,
    >(&mut pooled_linker, |s| s)
    .unwrap();
    let instantiate_only = |bytes: &[u8]| {
        let component = wasmtime::component::Component::new(&pooled, bytes).unwrap();
        let pre = pooled_linker.instantiate_pre(&component).unwrap();
        time(CALLS, || {
            let mut store = stock_store(&pooled, &stock_settings);
            store.set_fuel(host.limits().fuel).unwrap();
            store.set_epoch_deadline(200);
            std::hint::black_box(pre.instantiate(&mut store).unwrap());
        })
    };
    let setup_only = instantiate_only(&artifact);
    let least_setup = instantiate_only(LEAST_COMPONENT);

    // Native Rust.
    let native_settings = settings();
    let native_output: Value = serde_json::from_str(&native_rule(INPUT, &native_settings)).unwrap();
    assert_eq!(
        native_output["per_meal_fen"], expected["per_meal_fen"],
        "the native rule agrees"
    );
    let native = time(CALLS, || {
        std::hint::black_box(native_rule(INPUT, &native_settings));
    });
    let application = Application {
        birth: (1954, 3, 2),
        local: true,
        living_alone: true,
        disability_grade: 0,
        economic_status: "none",
    };
    let amount = |key: &str| {
        native_settings
            .get(key)
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let amounts = Amounts {
        per_meal: [
            "general",
            "advanced-age",
            "alone-or-disabled",
            "low-income",
            "minimum-living",
            "extreme-poverty",
        ]
        .map(|c| (c, amount(&format!("meal-subsidy.per-meal.{c}")))),
        top_up: amount("meal-subsidy.local-top-up"),
        cap: amount("meal-subsidy.monthly-cap"),
    };
    let typed = native_typed_rule(&application, &amounts);
    assert_eq!(
        (typed.per_meal_fen, typed.age, typed.eligible),
        (
            native_output["per_meal_fen"].as_u64().unwrap(),
            native_output["age"].as_u64().unwrap() as u32,
            native_output["eligible"].as_bool().unwrap()
        ),
        "the typed rule agrees"
    );
    std::hint::black_box((typed.category, typed.monthly_cap_fen, typed.reasons.len()));
    let native_typed = time(CALLS, || {
        std::hint::black_box(native_typed_rule(
            std::hint::black_box(&application),
            &amounts,
        ));
    });

    println!(
        "meal-subsidy ({} bytes), {CALLS} calls each, one core\n",
        artifact.len()
    );
    println!("| per call | p50 | p99 | calls/s |\n| --- | --- | --- | --- |");
    report(
        "civitas-host: fresh instance (pooling, InstancePre, fuel, epochs)",
        &civitas,
    );
    report("stock wasmtime: instantiate per call", &stock);
    report(
        "the host's engine: instantiate + drop, no call (this component)",
        &setup_only,
    );
    report(
        "the host's engine: instantiate + drop, no call (least component: one core module, one page)",
        &least_setup,
    );
    report("reused instance: call only", &reused);
    report("native Rust (same rule, same JSON)", &native);
    report(
        "native Rust (same rule, typed values, no JSON)",
        &native_typed,
    );
    let ratio = |a: &[Duration], b: &[Duration]| p(a, 0.5).as_secs_f64() / p(b, 0.5).as_secs_f64();
    let micros = |a: &[Duration]| p(a, 0.5).as_secs_f64() * 1e6;
    println!(
        "\nat p50: isolation (fresh instance − reused call) {:.1} µs; JSON in the native rule (JSON − typed) {:.1} µs; \
         a fresh instance with no encoding cost at all would be ≥ {:.1} µs",
        micros(&civitas) - micros(&reused),
        micros(&native) - micros(&native_typed),
        micros(&civitas) - (micros(&native) - micros(&native_typed)),
    );
    println!(
        "\nratios at p50: civitas-host / stock = {:.2}×, civitas-host / native = {:.0}×, reused call / native = {:.1}×",
        ratio(&civitas, &stock),
        ratio(&civitas, &native),
        ratio(&reused, &native)
    );
    // A fresh instance per call costs at least its set-up plus the call: the
    // least any isolated call of this rule could take with this engine.
    println!(
        "\nfloors at p50 (dirty-page reset: {pooled_dirty_reset}): set-up of this component {:.1} µs + reused call {:.1} µs = {:.1} µs ({:.1}× native); \
         with the least component's set-up instead, {:.1} µs ({:.1}× native); \
         2.5× native leaves {:.1} µs for the set-up",
        micros(&setup_only),
        micros(&reused),
        micros(&setup_only) + micros(&reused),
        (micros(&setup_only) + micros(&reused)) / micros(&native),
        micros(&least_setup) + micros(&reused),
        (micros(&least_setup) + micros(&reused)) / micros(&native),
        2.5 * micros(&native) - micros(&reused),
    );

    // Start-up: 50 versions (distinct digests) from the compiled-code cache,
    // each verified (SM3 digest, SM2 signature) as the registry does before
    // loading, as `serve` does at start.
    let cache = tempfile::tempdir().unwrap();
    let key = civitas_crypto::sm2::PrivateKey::generate().unwrap();
    let versions: Vec<(String, Vec<u8>, civitas_crypto::sm2::Signature)> = (0..50)
        .map(|i| {
            // A custom section makes each artifact distinct without changing it.
            let name = format!("version-{i:02}");
            let mut bytes = artifact.clone();
            bytes.extend_from_slice(&[0, (name.len() + 1) as u8, name.len() as u8]);
            bytes.extend_from_slice(name.as_bytes());
            let digest: String = civitas_crypto::sm3::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let signature = key.sign(digest.as_bytes()).unwrap();
            (digest, bytes, signature)
        })
        .collect();
    let config = HostConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..HostConfig::default()
    };
    let cold = Instant::now();
    let first = ModuleHost::new(config.clone()).unwrap();
    for (digest, bytes, _) in &versions {
        first.load(digest, bytes).unwrap();
    }
    let cold = cold.elapsed();
    drop(first);
    let public = key.public_key();
    let warm = Instant::now();
    let second = ModuleHost::new(config).unwrap();
    let loaded: Vec<_> = versions
        .iter()
        .map(|(digest, bytes, signature)| {
            let computed: String = civitas_crypto::sm3::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(&computed, digest);
            public.verify(digest.as_bytes(), signature).unwrap();
            second.load(digest, bytes).unwrap()
        })
        .collect();
    let warm = warm.elapsed();
    assert_eq!(
        loaded[49].evaluate(&context, INPUT).unwrap().output,
        expected
    );
    println!(
        "\n50 module versions: compile + cache {:.0} ms; start from the cache (verify + load + pre-instantiate) {:.0} ms",
        cold.as_secs_f64() * 1e3,
        warm.as_secs_f64() * 1e3
    );
}
