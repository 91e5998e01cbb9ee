//! Throughput of the national-cryptography primitives as the platform uses
//! them. `infra/bench/crypto` runs this beside `openssl speed` in the same
//! run and writes the comparison into BENCHMARKS.md's format.

// Benchmarks panic like tests do on impossible setup failures.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use civitas_crypto::sm2::{CiphertextOrder, PrivateKey};
use civitas_crypto::{sm3, sm4};
use divan::Bencher;
use divan::counter::BytesCount;

fn main() {
    divan::main();
}

/// The block size `openssl speed -bytes 8192` uses.
const LEN: usize = 8192;

#[divan::bench]
fn sm3_8k(bencher: Bencher) {
    let data = vec![0x5a; LEN];
    bencher
        .counter(BytesCount::new(LEN))
        .bench(|| sm3::digest(divan::black_box(&data)));
}

#[divan::bench]
fn hmac_sm3_64(bencher: Bencher) {
    // A blind index: HMAC over a short value.
    let key = [7u8; 32];
    bencher.bench(|| {
        sm3::hmac(
            &key,
            divan::black_box(b"residents.id_number\x0011010519491231002X"),
        )
    });
}

#[divan::bench]
fn sm4_gcm_seal_8k(bencher: Bencher) {
    let key = sm4::Key::from_bytes([7; 16]);
    let data = vec![0x5a; LEN];
    bencher
        .counter(BytesCount::new(LEN))
        .bench(|| sm4::seal(&key, b"aad", divan::black_box(&data)).unwrap());
}

#[divan::bench]
fn sm4_gcm_seal_field(bencher: Bencher) {
    // A personal-data field: a phone number sealed for storage.
    let key = sm4::Key::from_bytes([7; 16]);
    bencher.bench(|| {
        sm4::seal(
            &key,
            b"civitas-field|310000|residents.phone|1",
            divan::black_box(b"13812345678"),
        )
        .unwrap()
    });
}

#[divan::bench]
fn sm4_gcm_seal_8k_portable(bencher: Bencher) {
    // The same GCM over the portable RustCrypto `sm4` crate (table-driven,
    // one block at a time): what the vector path replaces.
    use aes_gcm::aead::consts::U12;
    use aes_gcm::aead::{Aead, KeyInit};
    let gcm = aes_gcm::AesGcm::<::sm4::Sm4, U12>::new(&[7; 16].into());
    let data = vec![0x5a; LEN];
    bencher.counter(BytesCount::new(LEN)).bench(|| {
        gcm.encrypt(&[1; 12].into(), divan::black_box(&data[..]))
            .unwrap()
    });
}

#[divan::bench]
fn sm4_cbc_decrypt_8k(bencher: Bencher) {
    // Decryption is the CBC direction that runs sixteen blocks at a time.
    let key = sm4::Key::from_bytes([7; 16]);
    let data = sm4::encrypt_cbc(&key, &[0; 16], &vec![0x5a; LEN - 16]);
    bencher
        .counter(BytesCount::new(LEN))
        .bench(|| sm4::decrypt_cbc(&key, &[0; 16], divan::black_box(&data)).unwrap());
}

#[divan::bench]
fn sm4_cbc_encrypt_8k(bencher: Bencher) {
    let key = sm4::Key::from_bytes([7; 16]);
    let data = vec![0x5a; LEN];
    bencher
        .counter(BytesCount::new(LEN))
        .bench(|| sm4::encrypt_cbc(&key, &[0; 16], divan::black_box(&data)));
}

#[divan::bench]
fn sm2_sign(bencher: Bencher) {
    let key = PrivateKey::generate().unwrap();
    bencher.bench(|| {
        key.sign(divan::black_box(b"civitas token payload"))
            .unwrap()
    });
}

#[divan::bench]
fn sm2_verify(bencher: Bencher) {
    let key = PrivateKey::generate().unwrap();
    let public = key.public_key();
    let signature = key.sign(b"civitas token payload").unwrap();
    bencher.bench(|| {
        public
            .verify(divan::black_box(b"civitas token payload"), &signature)
            .unwrap()
    });
}

#[divan::bench]
fn sm2_decrypt_32(bencher: Bencher) {
    // A browser-encrypted password or field: 32 bytes, C1C3C2.
    let key = PrivateKey::generate().unwrap();
    let ciphertext = key
        .public_key()
        .encrypt(&[0x5a; 32], CiphertextOrder::C1C3C2)
        .unwrap();
    bencher.bench(|| {
        key.decrypt(divan::black_box(&ciphertext), CiphertextOrder::C1C3C2)
            .unwrap()
    });
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn password_verify_default_iterations(bencher: Bencher) {
    // One login: PBKDF2-HMAC-SM3 at the default work factor.
    let stored = civitas_crypto::password::hash(
        "Civitas#2026",
        civitas_crypto::password::DEFAULT_ITERATIONS,
    )
    .unwrap();
    bencher.bench(|| {
        civitas_crypto::password::verify(divan::black_box("Civitas#2026"), &stored).unwrap()
    });
}
