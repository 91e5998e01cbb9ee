//! A sealed document verifies with Civitas's verifier and with an
//! independent one (tests/gm_verify.py: its own DER and PDF reading, SM2
//! and SM3 from the `gmssl` package), and a copy with one byte changed —
//! anywhere: the text, the seal's value, its padding, or a byte appended —
//! is refused by both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration, TimeZone, Utc};
use civitas_crypto::sm2::PrivateKey;
use civitas_seal::{
    Block, DocumentText, Fonts, Seal, SealError, SealSpec, make_seal, render, root_certificate,
    seal_pdf, verify_pdf,
};

/// The fonts, or none outside CI when they are not installed (CI fails).
fn fonts() -> Option<Fonts> {
    match Fonts::load(Path::new(Fonts::DEFAULT_DIR)) {
        Ok(fonts) => Some(fonts),
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipped: {e} (infra/dev/setup installs fonts-noto-cjk)");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// Whether the independent verifier can run (python3 with gmssl); CI
/// requires it.
fn python_verifier() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import gmssl.sm2"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var("CI").as_deref() == Ok("true") {
        panic!("python3 with gmssl is required under CI (infra/dev/setup installs it)");
    }
    if !ok {
        eprintln!("independent verifier skipped: pip install gmssl==3.2.2");
    }
    ok
}

fn text() -> DocumentText {
    DocumentText {
        title: "行政处罚决定书".into(),
        number: "浦市监罚〔2026〕1号".into(),
        body: vec![
            Block::Line("当事人：上海某超市有限公司".into()),
            Block::Line("统一社会信用代码：91310115MA1K4B8E73".into()),
            Block::Paragraph(
                "经查，当事人销售超过保质期的酸奶24盒，货值金额216元，违法所得48元。\
                 以上事实有现场检查笔录、询问笔录等证据为证。"
                    .repeat(3),
            ),
            Block::Paragraph(
                "依据《中华人民共和国食品安全法》第一百二十四条，决定罚款人民币5000元。".into(),
            ),
        ],
        authority: "上海市浦东新区市场监督管理局".into(),
        date: "2026年12月6日".into(),
        note: "本文书加盖电子印章，可在 https://civitas.example/verify 核验。".into(),
    }
}

struct Sealed {
    root_key: PrivateKey,
    root_der: Vec<u8>,
    pdf: Vec<u8>,
}

fn sealed(fonts: &Fonts) -> Sealed {
    let root_key = PrivateKey::generate().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 6, 2, 0, 0).unwrap();
    let new = make_seal(
        &root_key,
        &SealSpec {
            code: "310115-market-regulation-1",
            name: "上海市浦东新区市场监督管理局",
            tenant: "310000/310115",
            line: "market-regulation",
            valid_from: now - Duration::days(1),
            valid_until: now + Duration::days(365),
        },
        now,
    )
    .unwrap();
    let seal = Seal::open(new.private_key, &new.seal).unwrap();
    let (pdf, placement) = render(&text(), fonts, seal.name()).unwrap();
    let pdf = seal_pdf(pdf, &seal, placement, now).unwrap();
    Sealed {
        root_der: root_certificate(&root_key).unwrap(),
        root_key,
        pdf,
    }
}

fn python(root_der: &[u8], pdf: &[u8]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.der");
    let file = dir.path().join("doc.pdf");
    std::fs::write(&root, root_der).unwrap();
    std::fs::write(&file, pdf).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/gm_verify.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&root)
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    match out.status.code() {
        Some(0) => (true, said),
        Some(1) => (false, said),
        other => panic!(
            "verifier failed ({other:?}): {said} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn a_sealed_document_verifies_with_both_verifiers_and_names_its_seal() {
    let Some(fonts) = fonts() else { return };
    let s = sealed(&fonts);
    let verified = verify_pdf(&s.pdf, &s.root_key.public_key()).unwrap();
    assert_eq!(verified.signature.seal_name, "上海市浦东新区市场监督管理局");
    assert_eq!(verified.signature.tenant, "310000/310115");
    assert_eq!(verified.signature.line, "market-regulation");
    assert_eq!(
        verified.file_sm3,
        hex::encode(civitas_crypto::sm3::digest(&s.pdf))
    );
    if python_verifier() {
        let (ok, said) = python(&s.root_der, &s.pdf);
        assert!(ok, "{said}");
        assert!(said.contains("上海市浦东新区市场监督管理局"), "{said}");
    }
}

/// The positions a forger might try: the page's bytes, the signed
/// dictionary, the seal's DER value, its zero padding.
fn tampered(pdf: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let contents = pdf.windows(11).position(|w| w == b"/Contents <").unwrap() + 11;
    let der_byte = contents + 200;
    let padding = pdf[contents..].iter().position(|b| *b == b'>').unwrap() + contents - 10;
    let change = |at: usize| {
        let mut copy = pdf.to_vec();
        copy[at] = if copy[at] == b'0' { b'1' } else { b'0' };
        copy
    };
    let mut appended = pdf.to_vec();
    appended.extend_from_slice(b"\n% appended\n");
    vec![
        ("a byte of the page", change(pdf.len() / 3)),
        ("the first byte of the header", change(1)),
        ("a byte of the seal's value", change(der_byte)),
        ("a byte of the padding", change(padding)),
        ("a byte of the update's trailer", change(pdf.len() - 20)),
        ("bytes appended", appended),
    ]
}

#[test]
fn a_copy_with_one_byte_changed_is_refused_by_both_verifiers() {
    let Some(fonts) = fonts() else { return };
    let s = sealed(&fonts);
    let independent = python_verifier();
    for (what, copy) in tampered(&s.pdf) {
        assert_ne!(copy, s.pdf);
        let refused = verify_pdf(&copy, &s.root_key.public_key());
        assert!(
            matches!(refused, Err(SealError::Refused(_))),
            "{what}: Civitas accepted it: {refused:?}"
        );
        if independent {
            let (ok, said) = python(&s.root_der, &copy);
            assert!(!ok, "{what}: the independent verifier accepted it: {said}");
        }
    }
}

#[test]
fn a_copy_respelling_the_seals_value_in_lower_case_is_refused() {
    // Still the same signature to a GM toolkit, but another file: it would
    // escape the platform's record of the file it issued.
    let Some(fonts) = fonts() else { return };
    let s = sealed(&fonts);
    let start = s.pdf.windows(11).position(|w| w == b"/Contents <").unwrap() + 11;
    let end = s.pdf[start..].iter().position(|b| *b == b'>').unwrap() + start;
    let mut copy = s.pdf.clone();
    copy[start..end].make_ascii_lowercase();
    assert_ne!(copy, s.pdf);
    let refused = verify_pdf(&copy, &s.root_key.public_key()).unwrap_err();
    assert!(refused.to_string().contains("upper-case"), "{refused}");
}

#[test]
fn a_seal_made_by_another_root_is_refused() {
    let Some(fonts) = fonts() else { return };
    let s = sealed(&fonts);
    let other = PrivateKey::generate().unwrap();
    let refused = verify_pdf(&s.pdf, &other.public_key()).unwrap_err();
    assert!(refused.to_string().contains("root"), "{refused}");
    if python_verifier() {
        let (ok, _) = python(&root_certificate(&other).unwrap(), &s.pdf);
        assert!(!ok);
    }
}

#[test]
fn a_seal_outside_its_validity_does_not_sign() {
    let Some(fonts) = fonts() else { return };
    let root = PrivateKey::generate().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 6, 2, 0, 0).unwrap();
    let new = make_seal(
        &root,
        &SealSpec {
            code: "x-1",
            name: "某某局",
            tenant: "310000",
            line: "civil-affairs",
            valid_from: now - Duration::days(10),
            valid_until: now - Duration::days(1),
        },
        now - Duration::days(10),
    )
    .unwrap();
    let seal = Seal::open(new.private_key, &new.seal).unwrap();
    let (pdf, placement) = render(&text(), &fonts, seal.name()).unwrap();
    assert!(matches!(
        seal_pdf(pdf, &seal, placement, now),
        Err(SealError::Expired)
    ));
}

#[test]
fn a_key_that_is_not_the_seals_is_refused() {
    let root = PrivateKey::generate().unwrap();
    let now = Utc::now();
    let new = make_seal(
        &root,
        &SealSpec {
            code: "x-2",
            name: "某某局",
            tenant: "310000",
            line: "civil-affairs",
            valid_from: now,
            valid_until: now + Duration::days(1),
        },
        now,
    )
    .unwrap();
    assert!(Seal::open(PrivateKey::generate().unwrap(), &new.seal).is_err());
}

#[test]
fn the_root_certificate_is_the_same_for_the_same_key_and_openssl_reads_it() {
    let root = PrivateKey::generate().unwrap();
    let der = root_certificate(&root).unwrap();
    assert_eq!(der, root_certificate(&root).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("root.der");
    std::fs::write(&file, &der).unwrap();
    let Ok(out) = Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-subject", "-in"])
        .arg(&file)
        .output()
    else {
        eprintln!("openssl not installed: certificate check skipped");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Civitas"));
}
