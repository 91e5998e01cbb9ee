//! Identifiers from requests and configuration: resident id numbers,
//! tenant paths and division codes, and the masking of any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = civitas_people::IdNumber::parse(text) {
        assert_eq!(id.as_str().len(), 18);
    }
    if let Ok(path) = civitas_tenancy::TenantPath::parse(text) {
        assert!(path.lineage().last() == Some(&path));
    }
    let _ = civitas_tenancy::DivisionCode::parse(text);
    let chars = text.chars().count();
    for masked in [
        civitas_vault::mask::id_number(text),
        civitas_vault::mask::phone(text),
        civitas_vault::mask::bank_account(text),
    ] {
        // Length-preserving, and a value too short to show ends is all stars.
        assert_eq!(masked.chars().count(), chars);
        if chars < 11 {
            assert!(masked.chars().all(|c| c == '*'), "{masked}");
        }
    }
    let _ = civitas_vault::mask::address(text);
    let _ = civitas_vault::mask::name(text);
});
