//! A file anyone may send to the public verification page or to
//! `civitas doc verify`: any bytes are verified or refused with a reason,
//! never a panic — and bytes this root never sealed are never valid.
#![no_main]

use std::sync::LazyLock;

use civitas_crypto::sm2::PrivateKey;
use civitas_seal::{SealError, verify_pdf};
use libfuzzer_sys::fuzz_target;

/// A root nothing in the corpus was sealed under.
static ROOT: LazyLock<PrivateKey> = LazyLock::new(|| {
    PrivateKey::from_hex("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8")
        .unwrap_or_else(|e| panic!("{e}"))
});

fuzz_target!(|data: &[u8]| {
    match verify_pdf(data, &ROOT.public_key()) {
        Ok(verified) => panic!("bytes this root never sealed verified: {verified:?}"),
        Err(SealError::Refused(reason)) => assert!(!reason.is_empty()),
        Err(_) => {}
    }
});
