//! Unified social credit codes (GB 32100) from registration requests.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(code) = civitas_identity::CreditCode::parse(text) {
        // What parses is 18 characters of the code's alphabet, and parses
        // again to itself.
        assert_eq!(code.as_str().chars().count(), 18);
        assert_eq!(
            civitas_identity::CreditCode::parse(code.as_str()).ok(),
            Some(code)
        );
    }
});
