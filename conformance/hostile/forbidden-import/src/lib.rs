//! Imports `wasi:random` (randomness): the registry must refuse it at publish.
wit_bindgen::generate!({
    path: "wit",
    world: "greedy",
    generate_all,
});

struct Greedy;

impl Guest for Greedy {
    fn evaluate(_: String) -> Result<String, ModuleError> {
        let roll = wasi::random::random::get_random_u64();
        Ok(format!("{{\"roll\":{roll}}}"))
    }
}

export!(Greedy);
