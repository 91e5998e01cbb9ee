//! The seal in the PDF: an incremental update (ISO 32000-1 7.5.6) adding a
//! signature field whose value is a signature dictionary — `/Filter
//! /GM.PKILite /SubFilter /GM.sm2seal`, the GB/T 38540 SES_Signature in
//! `/Contents` — over `/ByteRange`, every byte of the file but the
//! `/Contents` string. The rendered document's own bytes are untouched.
//!
//! Verification is the reverse, by anyone: find the one signature
//! dictionary, check the byte range covers the whole file but its own
//! hex string (so nothing was appended after sealing), that the padding
//! of that string is zeros, the SM3 of the covered bytes, and the
//! SES_Signature (seal::verify_signature).

use chrono::{DateTime, Utc};
use civitas_crypto::sm2::PublicKey;

use crate::SealError;
use crate::seal::{Seal, SignatureInfo, verify_signature};
use crate::text::SealPlacement;

/// Room for the SES_Signature, in bytes: two certificates, the seal's
/// SVG picture and two signatures take about 3 KiB; a longer name or a
/// future timestamp token fits too.
const CONTENTS_CAPACITY: usize = 16 * 1024;
/// Each number of /ByteRange is written space-padded to this width, so
/// the dictionary's length is known before the numbers are.
const NUMBER_WIDTH: usize = 10;

fn refuse(what: &str) -> SealError {
    SealError::Refused(what.to_owned())
}

/// The few things the incremental update needs from the original file.
struct Original {
    size: u64,
    root: u64,
    info: Option<u64>,
    id: Option<String>,
    startxref: u64,
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The integer after `key` in `dict` (`/Size 12`), or the object number
/// of the reference after it (`/Root 3 0 R`).
fn number_after(dict: &str, key: &str) -> Option<u64> {
    let at = dict.find(key)? + key.len();
    let rest = dict[at..].trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

fn read_original(pdf: &[u8]) -> Result<Original, SealError> {
    let broken = || SealError::Render("rendered PDF has no classic trailer".into());
    let trailer_at = find_last(pdf, b"trailer").ok_or_else(broken)?;
    let startxref_at = find_last(pdf, b"startxref").ok_or_else(broken)?;
    let trailer = std::str::from_utf8(&pdf[trailer_at..startxref_at]).map_err(|_| broken())?;
    let tail = std::str::from_utf8(&pdf[startxref_at + 9..]).map_err(|_| broken())?;
    let startxref = tail
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(broken)?;
    let id = trailer.find("/ID").and_then(|at| {
        let rest = &trailer[at..];
        let open = rest.find('[')?;
        let close = rest.find(']')?;
        Some(rest[open..=close].to_owned())
    });
    Ok(Original {
        size: number_after(trailer, "/Size").ok_or_else(broken)?,
        root: number_after(trailer, "/Root").ok_or_else(broken)?,
        info: number_after(trailer, "/Info"),
        id,
        startxref,
    })
}

/// The offset of object `number` from the classic cross-reference table
/// at `startxref`.
fn object_offset(pdf: &[u8], startxref: u64, number: u64) -> Result<usize, SealError> {
    let broken = || SealError::Render(format!("object {number} not in the xref table"));
    let at = usize::try_from(startxref).map_err(|_| broken())?;
    let table = pdf.get(at..).ok_or_else(broken)?;
    let text = std::str::from_utf8(&table[..table.len().min(1 << 20)]).unwrap_or("");
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("xref") {
        return Err(broken());
    }
    while let Some(header) = lines.next() {
        let mut parts = header.split_whitespace();
        let (Some(first), Some(count)) = (parts.next(), parts.next()) else {
            break;
        };
        let (Ok(first), Ok(count)) = (first.parse::<u64>(), count.parse::<u64>()) else {
            break;
        };
        for n in first..first + count {
            let entry = lines.next().ok_or_else(broken)?;
            if n == number {
                let offset: usize = entry
                    .split_whitespace()
                    .next()
                    .and_then(|o| o.parse().ok())
                    .ok_or_else(broken)?;
                return Ok(offset);
            }
        }
    }
    Err(broken())
}

/// The dictionary of object `number`, between its `<<` and the `>>`
/// before `endobj`.
fn object_dict(pdf: &[u8], startxref: u64, number: u64) -> Result<String, SealError> {
    let offset = object_offset(pdf, startxref, number)?;
    let rest = pdf
        .get(offset..)
        .ok_or_else(|| SealError::Render("object offset outside the file".into()))?;
    let end = find(rest, b"endobj").ok_or_else(|| SealError::Render("no endobj".into()))?;
    let body = std::str::from_utf8(&rest[..end])
        .map_err(|_| SealError::Render(format!("object {number} is not text")))?;
    let open = body
        .find("<<")
        .ok_or_else(|| SealError::Render(format!("object {number} is not a dictionary")))?;
    let close = body
        .rfind(">>")
        .ok_or_else(|| SealError::Render(format!("object {number} is not a dictionary")))?;
    Ok(body[open + 2..close].to_owned())
}

fn pdf_date(at: DateTime<Utc>) -> String {
    at.format("D:%Y%m%d%H%M%SZ").to_string()
}

/// Seals `pdf` (as [`crate::render`] made it) with `seal` at `now`; the
/// seal's widget covers `placement` on its page.
pub fn seal_pdf(
    pdf: Vec<u8>,
    seal: &Seal,
    placement: SealPlacement,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, SealError> {
    let original = read_original(&pdf)?;
    let catalog = object_dict(&pdf, original.startxref, original.root)?;
    let pages = number_after(&catalog, "/Pages")
        .ok_or_else(|| SealError::Render("catalog without /Pages".into()))?;
    let pages_dict = object_dict(&pdf, original.startxref, pages)?;
    let kids_at = pages_dict
        .find("/Kids")
        .ok_or_else(|| SealError::Render("page tree without /Kids".into()))?;
    let kids: Vec<u64> = pages_dict[kids_at..]
        .split(']')
        .next()
        .unwrap_or("")
        .trim_start_matches("/Kids")
        .trim()
        .trim_start_matches('[')
        .split(" R")
        .filter_map(|r| r.split_whitespace().next().and_then(|n| n.parse().ok()))
        .collect();
    let page = *kids
        .get(placement.page)
        .ok_or_else(|| SealError::Render("the seal's page is not in the page tree".into()))?;
    let page_dict = object_dict(&pdf, original.startxref, page)?;
    if catalog.contains("/AcroForm") || page_dict.contains("/Annots") {
        return Err(SealError::Render(
            "document already has forms or annotations".into(),
        ));
    }

    let signature_number = original.size;
    let widget_number = original.size + 1;
    let form_number = original.size + 2;
    let size = original.size + 3;
    // The seal's picture is part of the page (drawn with it, signed with
    // it); the widget itself is invisible (a zero rectangle needs no
    // appearance stream, which PDF/A and PDF 2.0 would want of a visible
    // one).
    let name = seal.name();
    let utf16: String = std::iter::once(0xfeff_u16)
        .chain(name.encode_utf16())
        .map(|u| format!("{u:04X}"))
        .collect();

    // The update, up to and after the /Contents hex string.
    let base = pdf.len();
    let mut head = Vec::new();
    let mut offsets: Vec<(u64, usize)> = Vec::new();
    head.extend_from_slice(b"\n");
    offsets.push((signature_number, base + head.len()));
    head.extend_from_slice(
        format!(
            "{signature_number} 0 obj\n<< /Type /Sig /Filter /GM.PKILite /SubFilter /GM.sm2seal \
             /Name <{utf16}> /M ({}) /ByteRange [",
            pdf_date(now)
        )
        .as_bytes(),
    );
    let byte_range_at = head.len();
    head.extend_from_slice(&[b' '; NUMBER_WIDTH * 4 + 3]);
    head.extend_from_slice(b"] /Contents ");
    let contents_at = base + head.len();
    let contents_len = 2 + CONTENTS_CAPACITY * 2;
    let after_contents = contents_at + contents_len;
    let mut tail = Vec::new();
    tail.extend_from_slice(b" >>\nendobj\n");
    offsets.push((widget_number, after_contents + tail.len()));
    tail.extend_from_slice(
        format!(
            "{widget_number} 0 obj\n<< /Type /Annot /Subtype /Widget /FT /Sig /T (Seal1) \
             /V {signature_number} 0 R /F 132 /P {page} 0 R /Rect [0 0 0 0] >>\nendobj\n"
        )
        .as_bytes(),
    );
    offsets.push((form_number, after_contents + tail.len()));
    tail.extend_from_slice(
        format!("{form_number} 0 obj\n<< /Fields [{widget_number} 0 R] /SigFlags 3 >>\nendobj\n")
            .as_bytes(),
    );
    offsets.push((original.root, after_contents + tail.len()));
    tail.extend_from_slice(
        format!(
            "{} 0 obj\n<<{catalog} /AcroForm {form_number} 0 R >>\nendobj\n",
            original.root
        )
        .as_bytes(),
    );
    offsets.push((page, after_contents + tail.len()));
    tail.extend_from_slice(
        format!("{page} 0 obj\n<<{page_dict} /Annots [{widget_number} 0 R] >>\nendobj\n")
            .as_bytes(),
    );
    let xref_at = after_contents + tail.len();
    offsets.sort_unstable();
    tail.extend_from_slice(b"xref\n0 1\n0000000000 65535 f \n");
    for (number, offset) in &offsets {
        tail.extend_from_slice(format!("{number} 1\n{offset:010} 00000 n \n").as_bytes());
    }
    let mut trailer = format!(
        "trailer\n<< /Size {size} /Root {} 0 R /Prev {}",
        original.root, original.startxref
    );
    if let Some(info) = original.info {
        trailer.push_str(&format!(" /Info {info} 0 R"));
    }
    if let Some(id) = &original.id {
        trailer.push_str(&format!(" /ID {id}"));
    }
    trailer.push_str(&format!(" >>\nstartxref\n{xref_at}\n%%EOF\n"));
    tail.extend_from_slice(trailer.as_bytes());

    let total = after_contents + tail.len();
    let ranges = [0, contents_at, after_contents, total - after_contents];
    let numbers = ranges
        .iter()
        .map(|n| format!("{n:<width$}", width = NUMBER_WIDTH))
        .collect::<Vec<_>>()
        .join(" ");
    head[byte_range_at..byte_range_at + numbers.len()].copy_from_slice(numbers.as_bytes());

    let mut out = pdf;
    out.extend_from_slice(&head);
    let mut hasher = civitas_crypto::sm3::Hasher::new();
    hasher.update(&out);
    hasher.update(&tail);
    let digest: [u8; 32] = hasher.finalize();
    let property = format!("/ByteRange [{}]", ranges.map(|n| n.to_string()).join(" "));
    let signature = seal.sign(&digest, &property, now)?;
    if signature.len() > CONTENTS_CAPACITY {
        return Err(SealError::Render("signature larger than its room".into()));
    }
    out.push(b'<');
    out.extend_from_slice(hex::encode_upper(&signature).as_bytes());
    out.resize(after_contents - 1, b'0');
    out.push(b'>');
    out.extend_from_slice(&tail);
    debug_assert_eq!(out.len(), total);
    Ok(out)
}

/// What verifying a sealed PDF found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verified {
    /// The signature's seal, signer and time.
    #[serde(flatten)]
    pub signature: SignatureInfo,
    /// The SM3 of the whole file, hex (what the platform stored).
    pub file_sm3: String,
}

/// Verifies a sealed PDF against the platform root's public key. Refuses
/// (`SealError::Refused`, saying why) a file without exactly one seal, a
/// byte range that leaves out anything but the seal's own value, bytes
/// appended after sealing, non-zero padding, an altered byte anywhere, or
/// a seal this root did not make.
pub fn verify_pdf(bytes: &[u8], root: &PublicKey) -> Result<Verified, SealError> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(refuse("不是 PDF 文件 / not a PDF file"));
    }
    let count = bytes.windows(10).filter(|w| *w == b"/ByteRange").count();
    if count == 0 {
        return Err(refuse("文件没有电子签章 / the file has no electronic seal"));
    }
    if count > 1 {
        return Err(refuse(
            "文件有多个签章，不予核验 / more than one seal: not verified",
        ));
    }
    let at = find(bytes, b"/ByteRange").unwrap_or(0) + 10;
    let rest = &bytes[at..bytes.len().min(at + 200)];
    let text = String::from_utf8_lossy(rest);
    let inside = text
        .trim_start()
        .strip_prefix('[')
        .and_then(|t| t.split(']').next())
        .ok_or_else(|| refuse("ByteRange 格式错误 / malformed ByteRange"))?;
    let ranges: Vec<usize> = inside
        .split_whitespace()
        .map(|n| {
            n.parse()
                .map_err(|_| refuse("ByteRange 格式错误 / malformed ByteRange"))
        })
        .collect::<Result<_, _>>()?;
    let [start, first_len, second_at, second_len] = ranges[..] else {
        return Err(refuse(
            "ByteRange 须有四个数 / ByteRange must have four numbers",
        ));
    };
    let contents_end = second_at;
    if start != 0
        || first_len >= contents_end
        || second_at.checked_add(second_len) != Some(bytes.len())
    {
        return Err(refuse(
            "签章未覆盖整个文件，签章后文件被追加或改动 / the seal does not cover the whole file: changed after sealing",
        ));
    }
    let contents = &bytes[first_len..contents_end];
    if contents.len() < 2 || contents[0] != b'<' || contents[contents.len() - 1] != b'>' {
        return Err(refuse(
            "签章值位置错误 / the seal's value is not where ByteRange says",
        ));
    }
    // The ByteRange must be inside the signed part (it is, when it comes
    // before /Contents), and /Contents must directly follow its key.
    if at > first_len || !bytes[..first_len].ends_with(b"/Contents ") {
        return Err(refuse("签章字典格式错误 / malformed signature dictionary"));
    }
    let hex_text = &contents[1..contents.len() - 1];
    // One spelling only (the signer's: upper case): a copy re-spelled in
    // lower case would verify with another file SM3 and escape the
    // platform's record of the file it issued.
    if hex_text
        .iter()
        .any(|b| !(b.is_ascii_digit() || (b'A'..=b'F').contains(b)))
    {
        return Err(refuse(
            "签章值须为大写十六进制 / the seal's value must be upper-case hex",
        ));
    }
    let decoded = hex::decode(hex_text)
        .map_err(|_| refuse("签章值不是十六进制 / the seal's value is not hex"))?;
    let der_len = der_length(&decoded)
        .ok_or_else(|| refuse("签章数据无法解析 / the signature does not parse"))?;
    if decoded[der_len..].iter().any(|b| *b != 0) {
        return Err(refuse(
            "签章值的填充被改动 / the padding of the seal's value was altered",
        ));
    }
    let mut hasher = civitas_crypto::sm3::Hasher::new();
    hasher.update(&bytes[..first_len]);
    hasher.update(&bytes[second_at..]);
    let digest: [u8; 32] = hasher.finalize();
    // Whatever is wrong inside the signature, the answer is a refusal
    // with its reason: a hostile file is not an error of the verifier.
    let signature = verify_signature(&decoded[..der_len], &digest, root).map_err(|e| match e {
        SealError::Refused(_) => e,
        other => SealError::Refused(format!(
            "签章数据无效：{other} / the signature is invalid: {other}"
        )),
    })?;
    Ok(Verified {
        signature,
        file_sm3: hex::encode(civitas_crypto::sm3::digest(bytes)),
    })
}

/// The length of the DER element at the start of `bytes`, header included.
fn der_length(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 2 || bytes[0] != 0x30 {
        return None;
    }
    let first = usize::from(bytes[1]);
    let (header, len) = if first < 0x80 {
        (2, first)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 || bytes.len() < 2 + n {
            return None;
        }
        let len = bytes[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (2 + n, len)
    };
    let total = header.checked_add(len)?;
    (total <= bytes.len()).then_some(total)
}
