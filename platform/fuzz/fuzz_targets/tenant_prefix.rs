//! Where a tenant path ends in a request path (the router's first step on
//! every `/api/v1/tenants/…` request), against a small tree.
#![no_main]

use civitas_tenancy::{RESERVED_SLUGS, TenantPrefix, split_tenant_prefix};
use libfuzzer_sys::fuzz_target;

const TREE: &[(&str, &str, &str)] = &[
    ("", "shanghai", "310000"),
    ("310000", "pudong", "310000/310115"),
    ("310000/310115", "lujiazui", "310000/310115/310115005"),
    ("", "sichuan", "510000"),
];

fn child(parent: Option<&String>, segment: &str) -> Option<String> {
    let parent = parent.map_or("", String::as_str);
    TREE.iter()
        .find(|(p, slug, path)| {
            *p == parent && (*slug == segment || path.rsplit('/').next() == Some(segment))
        })
        .map(|(_, _, path)| (*path).to_owned())
}

fuzz_target!(|data: &[u8]| {
    let Ok(tail) = std::str::from_utf8(data) else {
        return;
    };
    match split_tenant_prefix(tail, child) {
        TenantPrefix::Tenant {
            tenant,
            reference,
            rest,
        } => {
            assert!(TREE.iter().any(|(_, _, path)| *path == tenant));
            assert!(!reference.is_empty());
            if let Some(first) = rest.first() {
                assert!(RESERVED_SLUGS.contains(&first.as_str()), "{first}");
            }
        }
        TenantPrefix::Unknown { reference, rest } => {
            assert!(!reference.is_empty());
            if let Some(first) = rest.first() {
                assert!(RESERVED_SLUGS.contains(&first.as_str()), "{first}");
            }
        }
        TenantPrefix::NotTenant => {}
    }
});
