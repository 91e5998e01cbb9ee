//! `civitas crypto …` as an operator runs it.

// Helpers panic like tests do: a test that cannot set up has failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use civitas_crypto::sm2::PrivateKey;

const CIVITAS: &str = env!("CARGO_BIN_EXE_civitas");

fn civitas(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(CIVITAS)
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn sm3_prints_the_lowercase_hex_digest_of_stdin_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = civitas(dir.path(), &["crypto", "sm3"], b"abc");
    assert_eq!(
        stdout(&output),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    std::fs::write(dir.path().join("m"), b"abc").unwrap();
    assert_eq!(
        stdout(&civitas(dir.path(), &["crypto", "sm3", "m"], b"")),
        stdout(&output)
    );
    assert_eq!(
        stdout(&civitas(dir.path(), &["crypto", "sm3", "-"], b"abc")),
        stdout(&output)
    );
}

#[test]
fn keygen_sign_verify_with_meaningful_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let keygen = civitas(
        dir.path(),
        &["crypto", "sm2", "keygen", "--out", "platform.pem"],
        b"",
    );
    assert!(
        keygen.status.success(),
        "{}",
        String::from_utf8_lossy(&keygen.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("platform.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the private key is readable by its owner only"
        );
    }
    let public = std::fs::read_to_string(dir.path().join("platform.pub.pem")).unwrap();
    assert_eq!(
        stdout(&civitas(
            dir.path(),
            &["crypto", "sm2", "pubkey", "--key", "platform.pem"],
            b""
        )),
        public.trim()
    );

    let again = civitas(
        dir.path(),
        &["crypto", "sm2", "keygen", "--out", "platform.pem"],
        b"",
    );
    assert_eq!(
        again.status.code(),
        Some(1),
        "never overwrites a key without --force"
    );

    let signature = stdout(&civitas(
        dir.path(),
        &["crypto", "sm2", "sign", "--key", "platform.pem"],
        b"anchor 42",
    ));
    let verify = |message: &[u8], extra: &[&str]| {
        let mut args = vec![
            "crypto",
            "sm2",
            "verify",
            "--pub",
            "platform.pub.pem",
            "--sig",
            &signature,
        ];
        args.extend_from_slice(extra);
        civitas(dir.path(), &args, message).status.code()
    };
    assert_eq!(verify(b"anchor 42", &[]), Some(0));
    assert_eq!(verify(b"anchor 43", &[]), Some(1));
    assert_eq!(verify(b"anchor 42", &["--id", "someone-else"]), Some(1));
}

#[test]
fn sm2_encrypts_and_decrypts_in_both_orders() {
    let dir = tempfile::tempdir().unwrap();
    civitas(
        dir.path(),
        &["crypto", "sm2", "keygen", "--out", "k.pem"],
        b"",
    );
    for extra in [&[][..], &["--c1c2c3"][..]] {
        let mut args = vec!["crypto", "sm2", "encrypt", "--pub", "k.pub.pem"];
        args.extend_from_slice(extra);
        let ciphertext = stdout(&civitas(dir.path(), &args, "310110199001011234".as_bytes()));
        assert!(ciphertext.starts_with("04"));
        let mut args = vec!["crypto", "sm2", "decrypt", "--key", "k.pem"];
        args.extend_from_slice(extra);
        let plaintext = civitas(dir.path(), &args, ciphertext.as_bytes());
        assert_eq!(plaintext.stdout, b"310110199001011234");
    }
}

/// The GM/T 0003.5 example ciphertext, without the 04 of C1 as browsers'
/// sm-crypto sends it, decrypts with the example key.
#[test]
fn sm2_decrypts_browser_ciphertexts_without_the_leading_04() {
    let dir = tempfile::tempdir().unwrap();
    let key =
        PrivateKey::from_hex("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8")
            .unwrap();
    std::fs::write(
        dir.path().join("k.pem"),
        key.to_pkcs8_pem().unwrap().as_bytes(),
    )
    .unwrap();
    let ciphertext = "04ebfc718e8d1798620432268e77feb6415e2ede0e073c0f4f640ecd2e149a73\
                      e858f9d81e5430a57b36daab8f950a3c64e6ee6a63094d99283aff767e124df0\
                      59983c18f809e262923c53aec295d30383b54e39d609d160afcb1908d0bd8766\
                      21886ca989ca9c7d58087307ca93092d651efa";
    let output = civitas(
        dir.path(),
        &["crypto", "sm2", "decrypt", "--key", "k.pem"],
        ciphertext.as_bytes(),
    );
    assert_eq!(output.stdout, b"encryption standard");
    let garbage = civitas(
        dir.path(),
        &["crypto", "sm2", "decrypt", "--key", "k.pem"],
        b"04zz",
    );
    assert_eq!(garbage.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&garbage.stderr).contains("hex"));
}

#[test]
fn sm4_gcm_round_trips_and_refuses_a_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = "0123456789abcdeffedcba9876543210";
    let sealed = stdout(&civitas(
        dir.path(),
        &["crypto", "sm4", "encrypt", "--key", key],
        b"meal subsidy 300",
    ));
    assert_eq!(
        sealed.len(),
        2 * (12 + 16 + 16),
        "hex of nonce, ciphertext and tag"
    );
    let opened = civitas(
        dir.path(),
        &["crypto", "sm4", "decrypt", "--key", key],
        sealed.as_bytes(),
    );
    assert_eq!(opened.stdout, b"meal subsidy 300");
    let wrong = civitas(
        dir.path(),
        &["crypto", "sm4", "decrypt", "--key", &"ab".repeat(16)],
        sealed.as_bytes(),
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("tampered"));
}

#[test]
fn every_crypto_command_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["crypto", "sm3", "--help"],
        vec!["crypto", "sm2", "keygen", "--help"],
        vec!["crypto", "sm2", "pubkey", "--help"],
        vec!["crypto", "sm2", "sign", "--help"],
        vec!["crypto", "sm2", "verify", "--help"],
        vec!["crypto", "sm2", "encrypt", "--help"],
        vec!["crypto", "sm2", "decrypt", "--help"],
        vec!["crypto", "sm4", "encrypt", "--help"],
        vec!["crypto", "sm4", "decrypt", "--help"],
    ] {
        let output = civitas(dir.path(), &args, b"");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Examples:"),
            "{args:?}"
        );
    }
}
