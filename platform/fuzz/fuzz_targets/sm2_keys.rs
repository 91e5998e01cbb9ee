//! SM2 keys in every format an operator or a browser may hand us: PEM,
//! DER and hex, private and public. Each must parse or fail, never panic.
#![no_main]

use civitas_crypto::sm2::{PrivateKey, PublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = PrivateKey::from_pkcs8_der(data);
    let _ = PublicKey::from_spki_der(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = PrivateKey::from_pkcs8_pem(text);
        let _ = PrivateKey::from_hex(text);
        let _ = PublicKey::from_spki_pem(text);
        if let Ok(public) = PublicKey::from_hex(text) {
            // A key that parsed round-trips.
            assert_eq!(PublicKey::from_hex(&public.to_hex()).ok(), Some(public));
        }
    }
});
