//! The vector path gives what the standard and the portable RustCrypto
//! crate give: on the standard's examples, on every S-box input, and on
//! random keys and messages of every length a mode hands a block cipher
//! (one block, the tail of a message, whole parallel batches).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use civitas_sm4_simd::Sm4;

fn hex16(text: &str) -> [u8; 16] {
    core::array::from_fn(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
}

fn both(key: &[u8; 16]) -> (Sm4, sm4::Sm4) {
    let key = Array::from(*key);
    (Sm4::new(&key), sm4::Sm4::new(&key))
}

/// A small, seeded generator: a failure names its seed, and the seed
/// reproduces it.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        core::array::from_fn(|_| self.next() as u8)
    }
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    u64::from_le_bytes(bytes) | 1
}

#[test]
fn takes_the_vector_path_where_the_cpu_has_avx2_and_gfni() {
    let (fast, _) = both(&[0; 16]);
    assert_eq!(
        fast.is_vectorised(),
        civitas_sm4_simd::vector_path_available()
    );
    #[cfg(target_arch = "x86_64")]
    assert_eq!(
        fast.is_vectorised(),
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("gfni"),
        "without the vector path these tests compare the portable crate with itself"
    );
}

#[test]
fn encrypts_the_standards_examples() {
    // GB/T 32907-2016, appendix A: example 1, then example 2 (the same
    // block encrypted 1,000,000 times).
    let key = hex16("0123456789abcdeffedcba9876543210");
    let (fast, _) = both(&key);
    let mut block = Array::from(key);
    fast.encrypt_block(&mut block);
    assert_eq!(block.0, hex16("681edf34d206965e86b3e94f536e4246"));
    fast.decrypt_block(&mut block);
    assert_eq!(block.0, key);

    // Sixteen at a time through the parallel path: every one of the
    // 1,000,000 rounds of encryption goes through the vector kernel.
    let mut blocks = [Array::from(key); 16];
    for _ in 0..1_000_000 {
        fast.encrypt_blocks(&mut blocks);
    }
    for block in blocks {
        assert_eq!(block.0, hex16("595298c7c6fd271f0402f804c33d3f66"));
    }
}

#[test]
fn every_sbox_input_gives_the_portable_result() {
    // Block i of 256 has byte i in every position: all 256 S-box inputs
    // through every byte lane of the first round.
    let mut rng = Random(seed());
    let key: [u8; 16] = rng.bytes();
    let (fast, portable) = both(&key);
    let mut ours: Vec<_> = (0..=255u8).map(|b| Array::from([b; 16])).collect();
    let mut theirs = ours.clone();
    fast.encrypt_blocks(&mut ours);
    portable.encrypt_blocks(&mut theirs);
    assert_eq!(ours, theirs, "key {key:02x?}");
    fast.decrypt_blocks(&mut ours);
    let originals: Vec<_> = (0..=255u8).map(|b| Array::from([b; 16])).collect();
    assert_eq!(ours, originals);
}

#[test]
fn random_keys_and_messages_of_every_length_agree_with_the_portable_crate() {
    let seed = seed();
    let mut rng = Random(seed);
    for round in 0..400 {
        let key: [u8; 16] = rng.bytes();
        let (fast, portable) = both(&key);
        // 0..=40 blocks: empty, single, tails, one and two full batches.
        let count = round % 41;
        let plain: Vec<_> = (0..count).map(|_| Array::from(rng.bytes::<16>())).collect();

        let mut ours = plain.clone();
        let mut theirs = plain.clone();
        fast.encrypt_blocks(&mut ours);
        portable.encrypt_blocks(&mut theirs);
        assert_eq!(ours, theirs, "seed {seed}, round {round}: encryption");

        for (one, expected) in plain.iter().zip(&theirs) {
            let mut block = *one;
            fast.encrypt_block(&mut block);
            assert_eq!(&block, expected, "seed {seed}, round {round}: one block");
        }

        fast.decrypt_blocks(&mut ours);
        assert_eq!(ours, plain, "seed {seed}, round {round}: decryption");
    }
}

#[test]
fn clones_encrypt_alike_and_debug_output_shows_no_key() {
    let key = hex16("0123456789abcdeffedcba9876543210");
    let (fast, _) = both(&key);
    let copy = fast.clone();
    let mut a = Array::from([9u8; 16]);
    let mut b = a;
    fast.encrypt_block(&mut a);
    copy.encrypt_block(&mut b);
    assert_eq!(a, b);
    let shown = format!("{fast:?}");
    assert!(
        !shown.contains("01") && shown.starts_with("Sm4 {"),
        "{shown}"
    );
}
