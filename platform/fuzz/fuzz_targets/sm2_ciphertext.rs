//! SM2 ciphertexts in both orders, with or without the leading 04.
#![no_main]

use civitas_crypto::sm2::{CiphertextOrder, PrivateKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(key) =
        PrivateKey::from_hex("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8")
    else {
        return;
    };
    let _ = key.decrypt(data, CiphertextOrder::C1C3C2);
    let _ = key.decrypt(data, CiphertextOrder::C1C2C3);
});
