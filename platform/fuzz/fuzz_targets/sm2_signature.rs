//! SM2 signatures, DER or raw r‖s, checked against a fixed key.
#![no_main]

use civitas_crypto::sm2::{PrivateKey, Signature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Signature::from_der(data);
    let _ = Signature::from_raw(data);
    if let Ok(signature) = Signature::parse(data)
        && let Ok(key) =
            PrivateKey::from_hex("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8")
    {
        // A forged signature over a fixed message must not verify.
        assert!(key.public_key().verify(b"civitas", &signature).is_err());
    }
});
