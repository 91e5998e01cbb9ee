//! A tenant's TOML file (configuration an operator edits by hand): any
//! text is a tree or a list of problems with file and line, never a panic.
#![no_main]

use civitas_tenancy::{Source, TenantTree};
use libfuzzer_sys::fuzz_target;

const LINES: &str = "[[line]]\ncode = \"civil-affairs\"\nname = \"民政\"\nname_en = \"Civil affairs\"\n";
const CITY: &str = "code = \"310000\"\nlevel = \"city\"\nname = \"上海市\"\nname_en = \"Shanghai\"\nslug = \"shanghai\"\nlines = [\"civil-affairs\"]\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sources = vec![
        Source::new("lines.toml", LINES),
        Source::new("shanghai.toml", CITY),
        Source::new("node.toml", text),
    ];
    match TenantTree::from_sources(sources) {
        Ok(tree) => assert!(tree.len() >= 1),
        Err(errors) => assert!(!errors.is_empty()),
    }
});
