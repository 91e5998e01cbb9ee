//! Differential: the vector SM4 (the workspace's one crate with `unsafe`)
//! against the portable RustCrypto crate. The first 16 bytes are the key,
//! the rest whole blocks of a message; every block must come out the same,
//! through the batch path, the single-block path and back.
#![no_main]

use civitas_sm4_simd::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((key, message)) = data.split_first_chunk::<16>() else {
        return;
    };
    let key = Array::from(*key);
    let fast = civitas_sm4_simd::Sm4::new(&key);
    let portable = sm4::Sm4::new(&key);
    let plain: Vec<_> = message
        .chunks_exact(16)
        .map(|chunk| {
            let mut block = Array::from([0u8; 16]);
            block.copy_from_slice(chunk);
            block
        })
        .collect();

    let mut ours = plain.clone();
    let mut theirs = plain.clone();
    fast.encrypt_blocks(&mut ours);
    portable.encrypt_blocks(&mut theirs);
    assert_eq!(ours, theirs);
    if let (Some(first), Some(expected)) = (plain.first(), theirs.first()) {
        let mut one = *first;
        fast.encrypt_block(&mut one);
        assert_eq!(&one, expected);
    }
    fast.decrypt_blocks(&mut ours);
    assert_eq!(ours, plain);
});
