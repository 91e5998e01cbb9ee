//! Interoperability with the `sm-crypto` crate, which produces the formats
//! of `sm-crypto` on npm that browser login pages use: public keys as 128
//! hex digits without `04`, ciphertexts C1C3C2 (or C1C2C3) without the `04`
//! of C1, DER signatures with the default user id. Both directions.
//!
//! `sm-crypto` is only an oracle here: it panics on bad input and is not
//! constant-time, so it never runs in the platform.

// Helpers panic like tests do: a test that cannot set up has failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use civitas_crypto::sm2::{CiphertextOrder, PrivateKey, PublicKey, Signature};
use civitas_crypto::{sm3, sm4};
use sm_crypto::sm2 as oracle;

const MESSAGES: [&[u8]; 4] = [
    b"a",
    b"Civitas#2026",
    "上海市浦东新区陆家嘴街道 助餐补贴".as_bytes(),
    &[0u8; 300],
];

#[test]
fn keys_from_sm_crypto_are_read_as_browsers_write_them() {
    for _ in 0..5 {
        let (private_hex, public_hex) = oracle::gen_keypair();
        let key = PrivateKey::from_hex(&private_hex).unwrap();
        let public = PublicKey::from_hex(&public_hex).unwrap();
        assert_eq!(key.public_key(), public);
        assert_eq!(public.to_hex()[2..], public_hex);
    }
}

#[test]
fn signatures_verify_both_ways() {
    let (private_hex, public_hex) = oracle::gen_keypair();
    let ours = PrivateKey::from_hex(&private_hex).unwrap();
    let public = PublicKey::from_hex(&public_hex).unwrap();
    for message in MESSAGES {
        // sm-crypto signs (SM3 with Z and the default id) → we verify.
        let der = oracle::Sign::new(&private_hex).sign_der(message, true);
        let signature = Signature::from_der(&der).unwrap();
        assert_eq!(public.verify(message, &signature), Ok(()));

        // We sign → sm-crypto verifies.
        let signature = ours.sign(message).unwrap();
        assert!(oracle::Verify::new(&public_hex).verify_der(message, &signature.to_der(), true));
    }
}

#[test]
fn ciphertexts_decrypt_both_ways_in_both_orders() {
    let (private_hex, public_hex) = oracle::gen_keypair();
    let ours = PrivateKey::from_hex(&private_hex).unwrap();
    let public = PublicKey::from_hex(&public_hex).unwrap();
    for message in MESSAGES {
        // sm-crypto encrypts (no 04) → we decrypt.
        let c1c3c2 = oracle::Encrypt::new(&public_hex).encrypt(message);
        assert_eq!(
            ours.decrypt(&c1c3c2, CiphertextOrder::C1C3C2)
                .unwrap()
                .as_slice(),
            message
        );
        let c1c2c3 = oracle::Encrypt::new(&public_hex).encrypt_c1c2c3(message);
        assert_eq!(
            ours.decrypt(&c1c2c3, CiphertextOrder::C1C2C3)
                .unwrap()
                .as_slice(),
            message
        );

        // We encrypt → sm-crypto decrypts once the 04 is dropped, as a
        // browser would receive it. (sm-crypto's decryption goes through a
        // big integer and drops leading zero bytes of the plaintext: an
        // oracle bug, so such messages are checked in one direction only.)
        if message.first() == Some(&0) {
            continue;
        }
        let ciphertext = public.encrypt(message, CiphertextOrder::C1C3C2).unwrap();
        assert_eq!(
            oracle::Decrypt::new(&private_hex).decrypt(&ciphertext[1..]),
            message
        );
        let ciphertext = public.encrypt(message, CiphertextOrder::C1C2C3).unwrap();
        assert_eq!(
            oracle::Decrypt::new(&private_hex).decrypt_c1c2c3(&ciphertext[1..]),
            message
        );
    }
}

#[test]
fn sm3_agrees() {
    for message in MESSAGES {
        assert_eq!(
            hex::encode(sm3::digest(message)),
            sm_crypto::sm3::sm3_hash(message)
        );
    }
}

#[test]
fn sm4_cbc_agrees_both_ways() {
    let key_bytes = *b"1234567812345678";
    let iv = *b"0000000000000000";
    let key = sm4::Key::from_bytes(key_bytes);
    let theirs = sm_crypto::sm4::CryptSM4CBC::new(&key_bytes, &iv);
    for message in MESSAGES {
        let ours = sm4::encrypt_cbc(&key, &iv, message);
        assert_eq!(ours, theirs.encrypt_cbc(message));
        assert_eq!(
            sm4::decrypt_cbc(&key, &iv, &theirs.encrypt_cbc(message)).unwrap(),
            message
        );
    }
}
