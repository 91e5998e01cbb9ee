//! Published test vectors: GB/T 32905 (SM3), GB/T 32907 (SM4), RFC 8998
//! (SM4-GCM) and GB/T 32918 / GM/T 0003.5 on the recommended curve (SM2).

// Helpers panic like tests do: a test that cannot set up has failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use civitas_crypto::sm2::{CiphertextOrder, PrivateKey, PublicKey, Signature};
use civitas_crypto::{CryptoError, sm3, sm4};

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

#[test]
fn sm3_matches_the_standard_examples() {
    assert_eq!(
        hex::encode(sm3::digest(b"abc")),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    let sixty_four = b"abcd".repeat(16);
    assert_eq!(
        hex::encode(sm3::digest(&sixty_four)),
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    );
    let mut hasher = sm3::Hasher::new();
    for chunk in sixty_four.chunks(7) {
        hasher.update(chunk);
    }
    assert_eq!(
        hasher.finalize(),
        sm3::digest(&sixty_four),
        "incremental equals one-shot"
    );
}

/// HMAC-SM3 is RFC 2104 over SM3 with a 64-byte block: checked against the
/// construction written out here.
#[test]
fn hmac_sm3_is_rfc_2104_over_sm3() {
    fn by_definition(key: &[u8], data: &[u8]) -> [u8; 32] {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&sm3::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let inner: Vec<u8> = block
            .iter()
            .map(|b| b ^ 0x36)
            .chain(data.iter().copied())
            .collect();
        let inner = sm3::digest(&inner);
        let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).chain(inner).collect();
        sm3::digest(&outer)
    }
    for (key, data) in [
        (
            &b"key"[..],
            &b"The quick brown fox jumps over the lazy dog"[..],
        ),
        (&[0x0b; 20][..], &b"Hi There"[..]),
        (&[0xaa; 131][..], &b"a key longer than one block"[..]),
        (&b""[..], &b""[..]),
    ] {
        let tag = sm3::hmac(key, data);
        assert_eq!(tag, by_definition(key, data));
        assert!(sm3::hmac_verify(key, data, &tag));
        let mut altered = tag;
        altered[31] ^= 1;
        assert!(!sm3::hmac_verify(key, data, &altered));
    }
}

#[test]
fn the_kdf_concatenates_counter_hashes() {
    let z = b"shared secret";
    let out = sm3::kdf(z, 70);
    assert_eq!(out.len(), 70);
    let block = |ct: u32| sm3::digest(&[&z[..], &ct.to_be_bytes()].concat());
    assert_eq!(&out[..32], &block(1));
    assert_eq!(&out[32..64], &block(2));
    assert_eq!(&out[64..], &block(3)[..6]);
    assert!(sm3::kdf(z, 0).is_empty());
}

#[test]
fn sm4_matches_the_standard_example() {
    // GB/T 32907-2016 Appendix A, example 1: the key encrypts itself.
    let key = sm4::Key::from_hex("0123456789abcdeffedcba9876543210").unwrap();
    let block = unhex("0123456789abcdeffedcba9876543210");
    // One CBC block with a zero IV is the raw block cipher.
    let ciphertext = sm4::encrypt_cbc(&key, &[0; 16], &block);
    assert_eq!(
        hex::encode(&ciphertext[..16]),
        "681edf34d206965e86b3e94f536e4246"
    );
}

#[test]
fn sm4_gcm_matches_rfc_8998() {
    let key = sm4::Key::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    let nonce: [u8; 12] = unhex("00001234567800000000ABCD").try_into().unwrap();
    let aad = unhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
    let plaintext = unhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD\
         EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
    );
    let expected = "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735\
                    d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d\
                    83de3541e4c2b58177e065a9bf7b62ec";
    let sealed = sm4::encrypt_gcm(&key, &nonce, &aad, &plaintext).unwrap();
    assert_eq!(hex::encode(&sealed), expected);
    assert_eq!(
        sm4::decrypt_gcm(&key, &nonce, &aad, &sealed).unwrap(),
        plaintext
    );
}

/// The vector SM4 (civitas-sm4-simd) under GCM and CBC gives the bytes the
/// portable RustCrypto `sm4` crate gives under the same modes: random keys,
/// nonces, associated data and every length from empty through several
/// sixteen-block batches and their tails.
#[test]
fn sm4_modes_equal_the_portable_crates_on_random_keys_and_lengths() {
    use aes_gcm::aead::consts::U12;
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use cbc::cipher::block_padding::Pkcs7;
    use cbc::cipher::{BlockModeEncrypt, KeyIvInit};

    for length in 0..600 {
        let mut key = [0u8; 16];
        let mut nonce = [0u8; 12];
        let mut iv = [0u8; 16];
        let mut aad = vec![0u8; length % 37];
        let mut plaintext = vec![0u8; length];
        for buffer in [&mut key[..], &mut nonce, &mut iv, &mut aad, &mut plaintext] {
            getrandom::fill(buffer).unwrap();
        }
        let ours = sm4::encrypt_gcm(&sm4::Key::from_bytes(key), &nonce, &aad, &plaintext).unwrap();
        let portable = aes_gcm::AesGcm::<::sm4::Sm4, U12>::new(&key.into())
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(
            ours,
            portable,
            "GCM, {length} bytes, key {}",
            hex::encode(key)
        );

        let ours = sm4::encrypt_cbc(&sm4::Key::from_bytes(key), &iv, &plaintext);
        let portable = cbc::Encryptor::<::sm4::Sm4>::new(&key.into(), &iv.into())
            .encrypt_padded_vec::<Pkcs7>(&plaintext);
        assert_eq!(
            ours,
            portable,
            "CBC, {length} bytes, key {}",
            hex::encode(key)
        );
        assert_eq!(
            sm4::decrypt_cbc(&sm4::Key::from_bytes(key), &iv, &portable).unwrap(),
            plaintext
        );
    }
}

#[test]
fn sm4_gcm_refuses_any_alteration() {
    let key = sm4::Key::generate().unwrap();
    let sealed = sm4::seal(
        &key,
        b"tenant 310000/310115 record 7",
        b"310110199001011234",
    )
    .unwrap();
    assert_eq!(
        sm4::open(&key, b"tenant 310000/310115 record 7", &sealed).unwrap(),
        b"310110199001011234"
    );
    for i in [0, 12, sealed.len() - 1] {
        let mut altered = sealed.clone();
        altered[i] ^= 0x80;
        assert_eq!(
            sm4::open(&key, b"tenant 310000/310115 record 7", &altered),
            Err(CryptoError::BadCiphertext)
        );
    }
    assert_eq!(
        sm4::open(&key, b"tenant 310000/310101 record 7", &sealed),
        Err(CryptoError::BadCiphertext),
        "a ciphertext moved to another record does not open"
    );
    assert_eq!(
        sm4::open(&key, b"", &sealed[..20]),
        Err(CryptoError::BadCiphertext)
    );
    let other = sm4::Key::generate().unwrap();
    assert_eq!(
        sm4::open(&other, b"tenant 310000/310115 record 7", &sealed),
        Err(CryptoError::BadCiphertext)
    );
    assert_ne!(
        sm4::seal(&key, b"", b"same").unwrap(),
        sm4::seal(&key, b"", b"same").unwrap(),
        "fresh nonces"
    );
}

#[test]
fn sm4_cbc_round_trips_and_rejects_bad_padding() {
    let key = sm4::Key::generate().unwrap();
    let iv = [7u8; 16];
    for len in [0, 1, 15, 16, 17, 100] {
        let plaintext = vec![0x5a; len];
        let ciphertext = sm4::encrypt_cbc(&key, &iv, &plaintext);
        assert_eq!(ciphertext.len(), (len / 16 + 1) * 16, "PKCS#7 always pads");
        assert_eq!(sm4::decrypt_cbc(&key, &iv, &ciphertext).unwrap(), plaintext);
    }
    assert_eq!(
        sm4::decrypt_cbc(&key, &iv, &[1; 15]),
        Err(CryptoError::BadCiphertext)
    );
    assert_eq!(
        sm4::decrypt_cbc(&key, &iv, &[]),
        Err(CryptoError::BadCiphertext)
    );
    assert!(sm4::Key::from_hex("0011").is_err());
    assert!(sm4::Key::from_hex("zz23456789abcdeffedcba9876543210").is_err());
}

// GM/T 0003.5-2012 (GB/T 32918.5) example on the recommended curve.
const D: &str = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8";
const PUBLIC: &str = "0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020\
                      ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13";

#[test]
fn sm2_public_key_derives_from_the_private_key() {
    let key = PrivateKey::from_hex(D).unwrap();
    assert_eq!(key.public_key().to_hex(), PUBLIC);
    assert_eq!(key.to_hex().as_str(), D);
}

#[test]
fn sm2_verifies_the_standard_signature() {
    let public = PublicKey::from_hex(PUBLIC).unwrap();
    let r = "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3";
    let s = "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa";
    let signature = Signature::from_raw(&unhex(&format!("{r}{s}"))).unwrap();
    assert_eq!(public.verify(b"message digest", &signature), Ok(()));
    assert_eq!(
        public.verify(b"message digesT", &signature),
        Err(CryptoError::BadSignature)
    );
    assert_eq!(
        public.verify_with_id(b"message digest", &signature, "ALICE123@YAHOO.COM"),
        Err(CryptoError::BadSignature),
        "the user id is part of what is signed"
    );
    // The same signature in DER, as GmSSL prints it.
    let der = unhex(&format!("3046022100{r}022100{s}"));
    assert_eq!(Signature::from_der(&der).unwrap(), signature);
    assert_eq!(signature.to_der(), der);
    assert_eq!(
        Signature::parse(&der).unwrap(),
        Signature::parse(&signature.to_raw()).unwrap()
    );
}

#[test]
fn sm2_decrypts_the_standard_ciphertext_in_both_orders_with_or_without_04() {
    let key = PrivateKey::from_hex(D).unwrap();
    let c1 = "04ebfc718e8d1798620432268e77feb6415e2ede0e073c0f4f640ecd2e149a73\
              e858f9d81e5430a57b36daab8f950a3c64e6ee6a63094d99283aff767e124df0";
    let c3 = "59983c18f809e262923c53aec295d30383b54e39d609d160afcb1908d0bd8766";
    let c2 = "21886ca989ca9c7d58087307ca93092d651efa";
    let plaintext = b"encryption standard";
    for (order, text) in [
        (CiphertextOrder::C1C3C2, format!("04{c1}{c3}{c2}")),
        (CiphertextOrder::C1C2C3, format!("04{c1}{c2}{c3}")),
        (CiphertextOrder::C1C3C2, format!("{c1}{c3}{c2}")),
        (CiphertextOrder::C1C2C3, format!("{c1}{c2}{c3}")),
    ] {
        let decrypted = key.decrypt(&unhex(&text), order).unwrap();
        assert_eq!(decrypted.as_slice(), plaintext, "{order:?} {}", &text[..4]);
    }
    let wrong_order = key.decrypt(&unhex(&format!("04{c1}{c2}{c3}")), CiphertextOrder::C1C3C2);
    assert_eq!(
        wrong_order.map(|p| p.to_vec()),
        Err(CryptoError::BadCiphertext)
    );
}

#[test]
fn sm2_keys_round_trip_through_pem_der_and_hex() {
    let key = PrivateKey::generate().unwrap();
    let pem = key.to_pkcs8_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let again = PrivateKey::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(again.to_hex(), key.to_hex());
    let der = key.to_pkcs8_der().unwrap();
    assert_eq!(
        PrivateKey::from_pkcs8_der(&der).unwrap().to_hex(),
        key.to_hex()
    );

    let public = key.public_key();
    let spki = public.to_spki_pem().unwrap();
    assert!(spki.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(PublicKey::from_spki_pem(&spki).unwrap(), public);
    assert_eq!(
        PublicKey::from_spki_der(&public.to_spki_der().unwrap()).unwrap(),
        public
    );
    assert_eq!(
        PublicKey::from_hex(&public.to_hex()[2..]).unwrap(),
        public,
        "browser hex has no 04"
    );
}

#[test]
fn sm2_signs_and_encrypts_round_trip() {
    let key = PrivateKey::generate().unwrap();
    let public = key.public_key();
    let signature = key
        .sign_with_id(b"case 42 approved", "pudong-reviewer")
        .unwrap();
    assert_eq!(
        public.verify_with_id(b"case 42 approved", &signature, "pudong-reviewer"),
        Ok(())
    );
    assert_eq!(
        public.verify(b"case 42 approved", &signature),
        Err(CryptoError::BadSignature)
    );
    for order in [CiphertextOrder::C1C3C2, CiphertextOrder::C1C2C3] {
        let ciphertext = public
            .encrypt("身份证号 310110199001011234".as_bytes(), order)
            .unwrap();
        assert_eq!(ciphertext[0], 0x04);
        assert_eq!(
            key.decrypt(&ciphertext, order).unwrap().as_slice(),
            "身份证号 310110199001011234".as_bytes()
        );
    }
    assert!(public.encrypt(b"", CiphertextOrder::C1C3C2).is_err());
}

#[test]
fn malformed_sm2_input_is_an_error_not_a_panic() {
    let key = PrivateKey::from_hex(D).unwrap();
    for bad in [&b""[..], &[0x04; 10][..], &[0u8; 97][..], &[0x04; 200][..]] {
        assert_eq!(
            key.decrypt(bad, CiphertextOrder::C1C3C2)
                .map(|p| p.to_vec()),
            Err(CryptoError::BadCiphertext)
        );
    }
    assert!(PrivateKey::from_hex("00").is_err());
    assert!(
        PrivateKey::from_hex(&"00".repeat(32)).is_err(),
        "zero is not a key"
    );
    assert!(
        PrivateKey::from_hex(&"ff".repeat(32)).is_err(),
        "beyond the group order"
    );
    assert!(
        PrivateKey::from_pkcs8_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .is_err()
    );
    assert!(
        PublicKey::from_hex(&format!("04{}", "11".repeat(64))).is_err(),
        "not on the curve"
    );
    assert!(PublicKey::from_spki_der(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
    assert!(Signature::from_der(&[0x30, 0x02, 0x02, 0x00]).is_err());
    assert!(
        Signature::from_raw(&[0u8; 64]).is_err(),
        "r = s = 0 is not a signature"
    );
    assert!(Signature::from_raw(&[1u8; 63]).is_err());
}

/// Our signer (Z and (1 + d)⁻¹ kept with the key) against the `sm2`
/// crate's own `SigningKey`: both draw the nonce by RFC 6979, so on random
/// keys, messages and user ids the signatures are the same bytes — and
/// each verifies.
#[test]
fn sm2_signatures_equal_the_sm2_crates_on_random_keys_messages_and_ids() {
    use sm2::dsa::signature::Signer as _;
    for round in 0..200usize {
        let key = PrivateKey::generate().unwrap();
        let secret = sm2::SecretKey::from_slice(&unhex(&key.to_hex())).unwrap();
        let mut message = vec![0u8; round % 97];
        getrandom::fill(&mut message).unwrap();
        let id = match round % 3 {
            0 => civitas_crypto::sm2::DEFAULT_USER_ID.to_owned(),
            1 => format!("pudong-reviewer-{round}"),
            _ => "ALICE123@YAHOO.COM".to_owned(),
        };
        let stock: sm2::dsa::Signature = sm2::dsa::SigningKey::new(&id, &secret)
            .unwrap()
            .try_sign(&message)
            .unwrap();
        let ours = key.sign_with_id(&message, &id).unwrap();
        assert_eq!(
            ours.to_raw().to_vec(),
            stock.to_bytes().to_vec(),
            "round {round}, id {id}"
        );
        assert_eq!(
            key.public_key().verify_with_id(&message, &ours, &id),
            Ok(())
        );
        // The key's kept signer (the default id) signs the same again.
        if id == civitas_crypto::sm2::DEFAULT_USER_ID {
            assert_eq!(key.sign(&message).unwrap().to_raw(), ours.to_raw());
            assert_eq!(key.clone().sign(&message).unwrap().to_raw(), ours.to_raw());
        }
    }
}

#[test]
fn sm2_signing_with_the_standard_key_verifies_and_a_too_long_id_is_refused() {
    let key = PrivateKey::from_hex(D).unwrap();
    let public = PublicKey::from_hex(PUBLIC).unwrap();
    let signature = key.sign(b"message digest").unwrap();
    assert_eq!(public.verify(b"message digest", &signature), Ok(()));
    let long = "x".repeat(8192);
    assert!(matches!(
        key.sign_with_id(b"m", &long),
        Err(CryptoError::InvalidKey(_))
    ));
}
