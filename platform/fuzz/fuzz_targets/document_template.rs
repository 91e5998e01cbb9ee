//! A document template (configuration an operator edits by hand): any
//! text is a template or a list of problems naming the file, never a
//! panic; a template that loads fills from any values without one.
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;

use civitas_seal::template::{TemplateCatalog, Values};
use libfuzzer_sys::fuzz_target;

const SERVICE: &str = "market-regulation/penalty-case";

/// Every placeholder filled with its own name (numbers where a bound wants one).
struct Echo;
impl Values for Echo {
    fn value(&self, name: &str) -> Option<String> {
        (!name.ends_with("missing")).then(|| if name.contains("yuan") { "100".into() } else { name.into() })
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = PathBuf::from(format!("_services/{SERVICE}/documents/t.toml"));
    match TemplateCatalog::from_texts(vec![(file.clone(), text.to_owned())], &[SERVICE.to_owned()]) {
        Ok(catalog) => {
            let Ok(tenant) = civitas_tenancy::TenantPath::parse("310000") else {
                return;
            };
            for template in catalog.for_service(SERVICE, &tenant) {
                let _ = template.fill(&Echo);
                let _ = template.check_entries(&BTreeMap::new(), &Echo);
                let _ = template.placeholders();
            }
        }
        Err(problems) => assert!(problems.iter().all(|p| p.contains("t.toml") || p.contains(SERVICE))),
    }
});
