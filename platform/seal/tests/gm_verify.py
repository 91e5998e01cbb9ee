#!/usr/bin/env python3
"""An independent verifier of PDFs sealed per GB/T 38540 (SES_Signature in a
PDF signature's /Contents over /ByteRange), written apart from Civitas: its
own DER reader and PDF scan, SM2 and SM3 from the `gmssl` package (PyPI).

usage: gm_verify.py ROOT_CERT.der FILE.pdf
Prints one JSON line; exit 0 when the seal verifies, 1 when it is refused,
2 on usage errors.
"""
import json
import re
import sys

from gmssl import sm2, sm3, func

SM3_WITH_SM2 = bytes.fromhex("2a811ccf55018375")  # 1.2.156.10197.1.501


class Refused(Exception):
    pass


def sm3_hex(data):
    return sm3.sm3_hash(func.bytes_to_list(data))


def element(data, at):
    """(tag, start of content, end) of the DER element at `at`."""
    if at + 2 > len(data):
        raise Refused("truncated DER")
    tag = data[at]
    first = data[at + 1]
    if first < 0x80:
        length, header = first, 2
    else:
        n = first & 0x7F
        if n == 0 or n > 4:
            raise Refused("bad DER length")
        length = int.from_bytes(data[at + 2:at + 2 + n], "big")
        header = 2 + n
    end = at + header + length
    if end > len(data):
        raise Refused("DER element runs past its end")
    return tag, at + header, end


def children(data, at):
    """The elements inside the constructed element at `at`: (tag, at, content, end)."""
    _, content, end = element(data, at)
    out, pos = [], content
    while pos < end:
        tag, inner, stop = element(data, pos)
        out.append((tag, pos, inner, stop))
        pos = stop
    return out


def der_length(n):
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def sequence(parts):
    body = b"".join(parts)
    return b"\x30" + der_length(len(body)) + body


def bit_string(data, child):
    tag, _, content, end = child
    if tag != 0x03 or data[content] != 0:
        raise Refused("not a BIT STRING of whole bytes")
    return data[content + 1:end]


def certificate(der):
    """(tbs bytes, signature DER, public key hex x||y)."""
    top = children(der, 0)
    if len(top) != 3:
        raise Refused("a certificate has three parts")
    tbs = der[top[0][1]:top[0][3]]
    alg = children(der, top[1][1])
    if der[alg[0][2]:alg[0][3]] != SM3_WITH_SM2:
        raise Refused("certificate not signed SM3withSM2")
    signature = bit_string(der, top[2])
    fields = children(der, top[0][1])
    # [0] version, serial, signature, issuer, validity, subject, spki, ...
    spki = fields[6]
    key = bit_string(der, children(der, spki[1])[1])
    if len(key) != 65 or key[0] != 4:
        raise Refused("not an uncompressed SM2 public key")
    return tbs, signature, key[1:].hex()


def sm2_verify(public_hex, signature_der, message):
    verifier = sm2.CryptSM2(private_key=None, public_key="", asn1=True)
    # Set after construction: the constructor strips a leading "04" with
    # str.lstrip, which also eats leading zeros of x.
    verifier.public_key = public_hex
    return verifier.verify_with_sm3(signature_der.hex(), message)


def verify(root_der, pdf):
    root_tbs, root_signature, root_key = certificate(root_der)
    if not sm2_verify(root_key, root_signature, root_tbs):
        raise Refused("the root certificate's own signature fails")
    ranges = re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    if len(ranges) != 1:
        raise Refused("expected exactly one /ByteRange, found %d" % len(ranges))
    a, b, c, d = (int(x) for x in ranges[0])
    if a != 0 or c + d != len(pdf) or b >= c:
        raise Refused("the byte range does not cover the whole file but the signature")
    hole = pdf[b:c]
    if not (hole.startswith(b"<") and hole.endswith(b">")):
        raise Refused("/Contents is not a hex string where /ByteRange says")
    try:
        value = bytes.fromhex(hole[1:-1].decode("ascii"))
    except ValueError:
        raise Refused("/Contents is not hex")
    _, _, der_end = element(value, 0)
    if any(value[der_end:]):
        raise Refused("non-zero padding after the signature")
    signature = value[:der_end]
    digest = sm3_hex(pdf[a:a + b] + pdf[c:c + d])

    parts = children(signature, 0)
    if len(parts) < 4:
        raise Refused("SES_Signature has four parts")
    to_sign = signature[parts[0][1]:parts[0][3]]
    signer_cert = signature[parts[1][2]:parts[1][3]]
    if signature[parts[2][2]:parts[2][3]] != SM3_WITH_SM2:
        raise Refused("not SM3withSM2")
    value_der = bit_string(signature, parts[3])

    tbs = children(signature, parts[0][1])
    version = int.from_bytes(signature[tbs[0][2]:tbs[0][3]], "big")
    if version != 4:
        raise Refused("TBS_Sign version %d, not 4" % version)
    data_hash = bit_string(signature, tbs[3]).hex()
    if data_hash != digest:
        raise Refused("the document's SM3 is not the signed one: altered after sealing")

    # The seal: made by the root.
    seal = children(signature, tbs[1][1])
    seal_info = signature[seal[0][1]:seal[0][3]]
    maker_cert_field = signature[seal[1][1]:seal[1][3]]
    maker_cert = signature[seal[1][2]:seal[1][3]]
    seal_alg = signature[seal[2][1]:seal[2][3]]
    if maker_cert != root_der:
        raise Refused("the seal was not made by this root")
    if not sm2_verify(root_key, bit_string(signature, seal[3]), sequence([seal_info, maker_cert_field, seal_alg])):
        raise Refused("the seal's maker signature fails")

    # The signer certificate: issued by the root, bound in the seal.
    signer_tbs, signer_signature, signer_key = certificate(signer_cert)
    if not sm2_verify(root_key, signer_signature, signer_tbs):
        raise Refused("the signer certificate was not issued by the root")
    info = children(signature, seal[0][1])
    prop = children(signature, info[2][1])
    bound = [signature[x[2]:x[3]] for x in children(signature, prop[3][1])]
    if signer_cert not in bound:
        raise Refused("the signer certificate is not the seal's")
    name = signature[prop[1][2]:prop[1][3]].decode("utf-8")

    if not sm2_verify(signer_key, value_der, to_sign):
        raise Refused("the signature over TBS_Sign fails")
    return {"valid": True, "seal_name": name, "data_hash": digest}


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        root = f.read()
    with open(sys.argv[2], "rb") as f:
        pdf = f.read()
    try:
        result = verify(root, pdf)
    except (Refused, IndexError, ValueError, UnicodeDecodeError) as e:
        print(json.dumps({"valid": False, "reason": str(e)}))
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
