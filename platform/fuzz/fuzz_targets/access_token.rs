//! The access-token decoder: any bearer text a client sends, and any
//! payload under a valid signature (what a stolen signing key could make
//! the decoder read), must give a typed error or claims, never a panic.
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

fn key() -> &'static civitas_crypto::sm2::PrivateKey {
    static KEY: OnceLock<civitas_crypto::sm2::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| civitas_crypto::sm2::PrivateKey::generate().expect("a key"))
}

fuzz_target!(|data: &[u8]| {
    let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).expect("a time");
    let public = key().public_key();
    if let Ok(text) = std::str::from_utf8(data) {
        // Unsigned garbage never verifies.
        assert!(civitas_identity::decode_access(&public, text, now).is_err());
    }
    // The same bytes as a signed payload: only the claims parser decides.
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data);
    let signature = key()
        .sign(format!("civitas-token-v1.{payload}").as_bytes())
        .expect("signing");
    let token = format!(
        "v1.{payload}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature.to_der())
    );
    let _ = civitas_identity::decode_access(&public, &token, now);
});
