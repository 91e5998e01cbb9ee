//! A flow file (`flow.toml`, per service, overridable per tenant): any text
//! is a flow or a list of problems, never a panic.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use civitas_tenancy::{Source, TenantTree};
use civitas_workflow::flow::Context;
use civitas_workflow::FlowCatalog;
use libfuzzer_sys::fuzz_target;

fn tree() -> &'static TenantTree {
    static TREE: OnceLock<TenantTree> = OnceLock::new();
    TREE.get_or_init(|| {
        TenantTree::from_sources(vec![
            Source::new("lines.toml", "[[line]]\ncode = \"civil-affairs\"\nname = \"民政\"\nname_en = \"Civil affairs\"\n"),
            Source::new("shanghai.toml", "code = \"310000\"\nlevel = \"city\"\nname = \"上海市\"\nname_en = \"Shanghai\"\nslug = \"shanghai\"\nlines = [\"civil-affairs\"]\n"),
            Source::new("pudong.toml", "code = \"310115\"\nlevel = \"district\"\nparent = \"310000\"\nname = \"浦东新区\"\nname_en = \"Pudong\"\nslug = \"pudong\"\nlines = [\"civil-affairs\"]\n"),
        ])
        .expect("the fixed tree is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let roles: BTreeSet<String> = ["officer", "reviewer", "tenant-admin"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let module_services: BTreeMap<String, BTreeSet<String>> = [(
        "civil-affairs/meal-subsidy".to_owned(),
        ["eligible", "per_meal_fen", "reasons"].map(String::from).into(),
    )]
    .into();
    let context = Context {
        tree: tree(),
        roles: &roles,
        module_services: &module_services,
    };
    for file in [
        "civil-affairs/meal-subsidy/flow.toml",
        "civil-affairs/meal-subsidy/flows/pudong.toml",
    ] {
        match FlowCatalog::from_texts(vec![(PathBuf::from(file), text.to_owned())], &context) {
            Ok(catalog) => {
                for flow in catalog.flows() {
                    assert!(!flow.steps.is_empty());
                }
            }
            Err(errors) => assert!(!errors.problems.is_empty()),
        }
    }
});
