//! SM3 (GB/T 32905-2016), HMAC-SM3 and the SM3 KDF (GB/T 32918.4-2016 §5.4.3).

use hmac::{KeyInit, Mac};
use sm3::{Digest, Sm3};

/// An SM3 digest.
pub type Digest32 = [u8; 32];

/// The SM3 digest of `data`.
pub fn digest(data: &[u8]) -> Digest32 {
    Sm3::digest(data).into()
}

/// An incremental SM3 hasher, for data that arrives in pieces.
#[derive(Clone, Default)]
pub struct Hasher(Sm3);

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Hasher {
        Hasher(Sm3::new())
    }

    /// Feeds more data.
    pub fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }

    /// The digest of everything fed.
    pub fn finalize(self) -> Digest32 {
        self.0.finalize().into()
    }
}

/// HMAC-SM3 (RFC 2104 with SM3) of `data` under `key`; any key length.
pub fn hmac(key: &[u8], data: &[u8]) -> Digest32 {
    // `new_from_slice` accepts every key length for HMAC.
    let mut mac = match hmac::Hmac::<Sm3>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable_hmac(),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Verifies an HMAC-SM3 tag in constant time.
pub fn hmac_verify(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    match hmac::Hmac::<Sm3>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.verify_slice(tag).is_ok()
        }
        Err(_) => false,
    }
}

#[cold]
fn unreachable_hmac() -> ! {
    // HMAC takes keys of any length; this cannot happen.
    panic!("HMAC rejected a key length")
}

/// The SM3 key derivation function: `klen` bytes from the shared secret `z`,
/// `SM3(z ‖ ct)` for a 32-bit big-endian counter `ct` from 1.
pub fn kdf(z: &[u8], klen: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(klen + 32);
    let mut counter: u32 = 1;
    while out.len() < klen {
        let mut hasher = Sm3::new();
        hasher.update(z);
        hasher.update(counter.to_be_bytes());
        out.extend_from_slice(&hasher.finalize());
        counter = counter.wrapping_add(1);
    }
    out.truncate(klen);
    out
}
