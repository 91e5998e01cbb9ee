//! SM4-GCM sealed values and CBC ciphertexts, and sealed personal-data
//! fields as stored (base64), under fixed keys.
#![no_main]

use civitas_crypto::sm4::{self, Key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = Key::from_bytes([7; 16]);
    assert!(sm4::open(&key, b"aad", data).is_err() || data.len() >= sm4::NONCE_LEN + sm4::TAG_LEN);
    let _ = sm4::decrypt_cbc(&key, &[0; 16], data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Key::from_hex(text);
        let _ = civitas_vault::LocalMasterKeys::parse(text);
    }
});
