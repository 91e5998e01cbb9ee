//! SM4 (GB/T 32907-2016) for the vector units of x86-64, as a drop-in
//! block cipher for RustCrypto's modes (`aes-gcm`'s GCM, `cbc`, `ctr`).
//!
//! Where the CPU has AVX2 and GFNI (checked once per key, at run time), the
//! S-box is computed, not looked up: SM4's S-box is an affine map of an
//! inversion in GF(2⁸), and GFNI's `gf2p8affineinvqb` inverts in the AES
//! field, so two affine transforms whose matrices fold in the isomorphism
//! between the two fields give SM4's S-box for 32 bytes at once. Sixteen
//! blocks go through the 32 rounds together, one 32-bit word of eight
//! blocks per register. There is no table and no branch on data, so the
//! vector path is constant-time, which the table-driven portable crate is
//! not. Elsewhere, [`Sm4`] is the portable RustCrypto `sm4` crate.
//!
//! This is the one crate in the workspace that uses `unsafe`, all of it in
//! the private `x86` module: unaligned vector loads and stores within
//! fixed-size buffers, and calls into code compiled for AVX2 and GFNI that a
//! value of that module's key type proves were detected. The vector path is
//! checked against the portable crate on random keys and data in the tests
//! and by a fuzz target (`platform/fuzz`, `sm4_vector`).
//!
//! ```
//! use cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
//! use civitas_sm4_simd::Sm4;
//!
//! // GB/T 32907-2016, appendix A, example 1.
//! let key = hex_bytes("0123456789abcdeffedcba9876543210");
//! let cipher = Sm4::new(&key.into());
//! let mut block = key.into();
//! cipher.encrypt_block(&mut block);
//! assert_eq!(block.as_slice(), hex_bytes("681edf34d206965e86b3e94f536e4246"));
//! cipher.decrypt_block(&mut block);
//! assert_eq!(block.as_slice(), key);
//!
//! fn hex_bytes(text: &str) -> [u8; 16] {
//!     core::array::from_fn(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
//! }
//! ```

pub use cipher;

use cipher::consts::U16;
use cipher::{
    BlockCipherDecClosure, BlockCipherDecrypt, BlockCipherEncClosure, BlockCipherEncrypt,
    BlockSizeUser, Key, KeyInit, KeySizeUser,
};

#[cfg(target_arch = "x86_64")]
mod x86;

/// The SM4 block cipher: the vector path where the CPU has it, the portable
/// RustCrypto implementation otherwise.
#[derive(Clone)]
pub struct Sm4(Path);

#[derive(Clone)]
enum Path {
    #[cfg(target_arch = "x86_64")]
    Vector(x86::RoundKeys),
    Portable(sm4::Sm4),
}

impl Sm4 {
    /// Whether this key runs on the vector path (AVX2 and GFNI were found
    /// on this CPU) rather than the portable one.
    pub fn is_vectorised(&self) -> bool {
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            Path::Vector(_) => true,
            Path::Portable(_) => false,
        }
    }
}

/// Whether this CPU takes the vector path (x86-64 with AVX2 and GFNI).
pub fn vector_path_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl KeySizeUser for Sm4 {
    type KeySize = U16;
}

impl KeyInit for Sm4 {
    fn new(key: &Key<Self>) -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(keys) = x86::RoundKeys::expand(&key.0) {
            return Sm4(Path::Vector(keys));
        }
        Sm4(Path::Portable(sm4::Sm4::new(key)))
    }
}

impl BlockSizeUser for Sm4 {
    type BlockSize = U16;
}

impl BlockCipherEncrypt for Sm4 {
    fn encrypt_with_backend(&self, f: impl BlockCipherEncClosure<BlockSize = Self::BlockSize>) {
        match &self.0 {
            #[cfg(target_arch = "x86_64")]
            Path::Vector(keys) => f.call(&keys.encryption()),
            Path::Portable(cipher) => cipher.encrypt_with_backend(f),
        }
    }
}

impl BlockCipherDecrypt for Sm4 {
    fn decrypt_with_backend(&self, f: impl BlockCipherDecClosure<BlockSize = Self::BlockSize>) {
        match &self.0 {
            #[cfg(target_arch = "x86_64")]
            Path::Vector(keys) => f.call(&keys.decryption()),
            Path::Portable(cipher) => cipher.decrypt_with_backend(f),
        }
    }
}

impl std::fmt::Debug for Sm4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.is_vectorised() {
            "vector"
        } else {
            "portable"
        };
        write!(f, "Sm4 {{ path: {path}, .. }}")
    }
}
