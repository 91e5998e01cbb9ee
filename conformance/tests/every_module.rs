//! Every business-rule module in `modules/` passes conformance against the
//! service it implements, with the settings of each tenant it names
//! (`[package.metadata.civitas]` in its Cargo.toml: `service`,
//! `checked_at`), on the service's examples and its own (`examples/`) —
//! what binding it there would require. A module added to `modules/` is
//! checked without touching this file; one that names no service fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use civitas_host::{CallContext, Date, HostConfig, ModuleHost};
use civitas_services::Catalog;
use civitas_tenancy::TenantPath;

#[test]
fn every_module_passes_conformance_where_it_is_meant_to_be_bound() {
    let root = civitas_testkit::repository_dir();
    let catalog = Catalog::load(&civitas_testkit::tenants_dir()).unwrap();
    let tree = civitas_testkit::demo_tree();
    let host = ModuleHost::new(HostConfig::default()).unwrap();
    let crates: Vec<_> = civitas_testkit::module_crates()
        .into_iter()
        .map(|relative| root.join(relative))
        .collect();
    assert!(
        crates.len() >= 4,
        "the modules of the demo at least: {crates:?}"
    );
    let mut checked = 0;
    for dir in crates {
        let relative = dir
            .strip_prefix(&root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let manifest: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap();
        let metadata = manifest["package"]
            .get("metadata")
            .and_then(|m| m.get("civitas"))
            .unwrap_or_else(|| panic!("{relative}: no [package.metadata.civitas]"));
        let service_id = metadata["service"].as_str().unwrap();
        let service = catalog
            .service(service_id)
            .unwrap_or_else(|| panic!("{relative}: no service {service_id}"));
        let mut examples = service.examples.clone();
        if dir.join("examples").is_dir() {
            examples.extend(service.read_examples(&dir.join("examples")).unwrap());
        }
        let module = host
            .load(&relative, &civitas_testkit::module_component(&relative))
            .unwrap_or_else(|e| panic!("{relative}: {e}"));
        let places = metadata["checked_at"].as_array().unwrap();
        assert!(!places.is_empty(), "{relative}: checked_at names no tenant");
        for place in places {
            let path = TenantPath::parse(place.as_str().unwrap()).unwrap();
            assert!(tree.get(&path).is_some(), "{relative}: no tenant {path}");
            let context = CallContext {
                settings: Arc::new(tree.effective_settings(&path)),
                dictionaries: catalog.dictionaries().clone(),
                today: Date {
                    year: 2026,
                    month: 12,
                    day: 4,
                },
                log_tags: vec![("tenant".into(), path.to_string())],
            };
            let report = civitas_conformance::check(&module, service, &examples, &context);
            assert!(
                report.passed(),
                "{relative} at {path}: {:#?}",
                report.checks
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "{checked} checks");
}
