"""The card-substitute record's formats (issue 9) against implementations we
did not write:

1. pymdoccbor (PyPI) parses the IssuerSigned record and the DeviceResponse
   our code made, checks the document signer chains to the IACA root, and
   verifies the MSO signature and every digest; tampered copies (an element
   value, the MSO) are refused.
2. The device signature of the DeviceResponse is checked here from the
   ISO/IEC 18013-5 definition (DeviceAuthentication built with cbor2, the
   COSE Sig_structure of RFC 9052, ES256 with `cryptography`); for another
   transcript it must fail.
3. The status list token (draft-ietf-oauth-status-list, CWT form) is read
   independently: COSE_Sign1 tag 18, typ application/statuslist+cwt,
   signature by the x5chain's key, the claims, zlib (Python's) and the
   draft's bit rule, and again with token-status-list's BitArray (PyPI);
   every status agrees with what our reader reported; a tampered token does
   not verify.

Usage: check_mdoc.py VECTORS_DIR
Exits 1 when any check fails.
"""

import hashlib
import json
import pathlib
import sys
import zlib

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pymdoccbor.mdoc.verifier import MdocCbor, MobileDocument

DIR = pathlib.Path(sys.argv[1])
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def read(name):
    return (DIR / name).read_bytes()


iaca = x509.load_der_x509_certificate(read("iaca.der"))
expected = json.loads(read("expected.json"))
DOC_TYPE = expected["doc_type"]


def pymdoc_document_ok(issuer_signed):
    """pymdoccbor's verdict on one IssuerSigned (MSO signature, chain to
    the IACA, every digest); False on any exception it raises."""
    try:
        doc = MobileDocument(docType=DOC_TYPE, issuerSigned=issuer_signed)
        return doc.verify(trusted_root_certs=[iaca], verify_hashes=True) is True and (
            doc.hash_verification or {}
        ).get("failed") == []
    except Exception as exc:  # noqa: BLE001 - any refusal counts as refused
        print(f"     (pymdoccbor: {type(exc).__name__}: {exc})")
        return False


# 1. The whole record.
record = cbor2.loads(read("issuer_signed.cbor"))
check(pymdoc_document_ok(record), "pymdoccbor verifies the issued record (MSO signature, chain, digests)")
items = [i for ns in record["nameSpaces"].values() for i in ns]
check(len(items) == expected["record_elements"], f"the record holds {expected['record_elements']} elements")
check(all(isinstance(i, cbor2.CBORTag) and i.tag == 24 for i in items), "every IssuerSignedItem is tag-24 bytes")
for item in items:
    decoded = cbor2.loads(item.value)
    if len(decoded["random"]) < 16:
        check(False, f"salt of {decoded['elementIdentifier']} is at least 16 bytes")
        break
else:
    check(True, "every salt is at least 16 bytes")

issuer_auth = record["issuerAuth"]
protected = cbor2.loads(issuer_auth[0])
check(protected.get(1) == -7, "issuerAuth is ES256 (protected alg -7)")
check(33 in issuer_auth[1], "issuerAuth carries x5chain (label 33) unprotected")
mso_tag = cbor2.loads(issuer_auth[2])
check(isinstance(mso_tag, cbor2.CBORTag) and mso_tag.tag == 24, "the MSO payload is tag-24 bytes")
mso = cbor2.loads(mso_tag.value)
check(mso["version"] == "1.0" and mso["digestAlgorithm"] == "SHA-256", "MSO version 1.0, SHA-256")
check(mso["docType"] == DOC_TYPE, "MSO docType is the My Number card's")
key = mso["deviceKeyInfo"]["deviceKey"]
check(key.get(1) == 2 and key.get(-1) == 1, "deviceKey is a COSE_Key EC2 P-256")
check(
    bytes.fromhex(read("device_key.hex").decode()) == b"\x04" + key[-2] + key[-3],
    "deviceKey is the device's public key",
)
validity = mso["validityInfo"]
check(
    all(hasattr(validity[k], "tzinfo") for k in ("signed", "validFrom", "validUntil")),
    "validityInfo holds tdates (tag 0) that cbor2 reads as datetimes",
)
status_ref = mso.get("status", {}).get("status_list", {})
list_info = json.loads(read("status_list.json"))
check(
    status_ref.get("uri") == list_info["uri"] and status_ref.get("idx") == list_info["record_index"],
    "MSO status points at the status list (uri, idx)",
)

# Tampering with one element value: pymdoccbor must refuse.
name = "番号　花子".encode()
tampered_bytes = read("issuer_signed.cbor").replace(name, "番号　太郎".encode(), 1)
check(tampered_bytes != read("issuer_signed.cbor"), "(the name is there to tamper with)")
check(not pymdoc_document_ok(cbor2.loads(tampered_bytes)), "pymdoccbor refuses a record with a changed element value")

# Tampering with the MSO (another validUntil): the signature must fail.
tampered = cbor2.loads(read("issuer_signed.cbor"))
mso_t = cbor2.loads(cbor2.loads(tampered["issuerAuth"][2]).value)
mso_t["docType"] = DOC_TYPE + ".forged"
tampered["issuerAuth"][2] = cbor2.dumps(cbor2.CBORTag(24, cbor2.dumps(mso_t)))
check(not pymdoc_document_ok(tampered), "pymdoccbor refuses a record whose MSO was changed")

# Another anchor: the chain must not verify.
other_root = ec.generate_private_key(ec.SECP256R1())
try:
    doc = MobileDocument(docType=DOC_TYPE, issuerSigned=record)

    class FakeRoot:
        def public_key(self):
            return other_root.public_key()

    refused = not doc.verify(trusted_root_certs=[FakeRoot()])
except Exception:  # noqa: BLE001
    refused = True
check(refused, "pymdoccbor refuses the record against another root")

# 2. The DeviceResponse.
response_bytes = read("device_response.cbor")
mdoc = MdocCbor()
mdoc.loads(response_bytes)
check(mdoc.verify(trusted_root_certs=[iaca]) is True, "pymdoccbor verifies the DeviceResponse's document")
check(mdoc.status == 0 and len(mdoc.documents) == 1, "one valid document, status 0")
disclosed = mdoc.disclosure_map
want = {(d["namespace"], d["identifier"]): d["value"] for d in expected["disclosed"]}
got = {(ns, k) for ns, claims in disclosed.items() for k in claims}
check(got == set(want), f"pymdoccbor sees exactly the disclosed elements {sorted(i for _, i in want)}")
for (ns, ident), value in want.items():
    seen = disclosed.get(ns, {}).get(ident)
    if "text" in value:
        ok = seen == value["text"]
    elif "bytes" in value:
        ok = seen == bytes.fromhex(value["bytes"])
    elif "bool" in value:
        ok = seen is value["bool"]
    elif "uint" in value:
        ok = seen == value["uint"]
    elif "full_date" in value:
        ok = str(seen) == value["full_date"]
    else:
        ok = False
    check(ok, f"{ns}/{ident} reads the same in pymdoccbor")
check(("org.iso.23220.1.jp", "individual_number_unicode") not in got, "the My Number is not disclosed")

response = cbor2.loads(response_bytes)
document = response["documents"][0]
device_ns = document["deviceSigned"]["nameSpaces"]
check(isinstance(device_ns, cbor2.CBORTag) and device_ns.tag == 24, "DeviceNameSpacesBytes is tag-24 bytes")
sign1 = document["deviceSigned"]["deviceAuth"]["deviceSignature"]
device_public = ec.EllipticCurvePublicKey.from_encoded_point(
    ec.SECP256R1(), bytes.fromhex(read("device_key.hex").decode())
)


def device_signature_ok(transcript_bytes):
    # ISO 18013-5 §9.1.3.4: DeviceAuthentication, wrapped in tag 24, is the
    # detached payload of the COSE_Sign1 (RFC 9052 §4.4 Sig_structure).
    transcript = cbor2.loads(transcript_bytes)
    authentication = ["DeviceAuthentication", transcript, DOC_TYPE, device_ns]
    payload = cbor2.dumps(cbor2.CBORTag(24, cbor2.dumps(authentication)))
    tbs = cbor2.dumps(["Signature1", sign1[0], b"", payload])
    raw = sign1[3]
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        device_public.verify(der, tbs, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


check(sign1[2] is None, "the device signature's payload is detached (nil)")
check(cbor2.loads(sign1[0]).get(1) == -7, "the device signature is ES256")
check(device_signature_ok(read("session_transcript.cbor")), "the device signature verifies over the session transcript")
check(
    not device_signature_ok(cbor2.dumps([None, None, ["MynaKitInteropHandover", b"another session"]])),
    "the device signature does not verify over another transcript (no replay)",
)

# 3. The status list token.
cwt = read("status_list.cwt")
token = cbor2.loads(cwt)
check(isinstance(token, cbor2.CBORTag) and token.tag == 18, "the status list token is a tagged COSE_Sign1 (18)")
prot_bytes, unprot, payload, signature = token.value
prot = cbor2.loads(prot_bytes)
check(prot.get(1) == -7, "status list alg ES256")
check(prot.get(16) == "application/statuslist+cwt", "status list typ is application/statuslist+cwt")
chain = unprot.get(33)
signer_der = chain if isinstance(chain, bytes) else chain[0]
signer = x509.load_der_x509_certificate(signer_der)
try:
    iaca.public_key().verify(signer.signature, signer.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    chained = True
except InvalidSignature:
    chained = False
check(chained, "the status list signer is certified by the IACA")


def cwt_signature_ok(prot_bytes, payload, signature):
    tbs = cbor2.dumps(["Signature1", prot_bytes, b"", payload])
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        signer.public_key().verify(der, tbs, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


check(cwt_signature_ok(prot_bytes, payload, signature), "the status list signature verifies")
claims = cbor2.loads(payload)
check(claims.get(2) == list_info["uri"], "sub (2) is the list's URI")
check(isinstance(claims.get(6), int) and isinstance(claims.get(4), int) and claims[4] > claims[6], "iat (6) and exp (4), exp after iat")
check(claims[4] > list_info["now"], "exp is in the future")
check(claims.get(65534) == 1200, "ttl (65534) is 20 minutes")
sl = claims[65533]
bits = sl["bits"]
check(bits == list_info["bits"] == 2, "bits is 2")
lst = zlib.decompress(sl["lst"])
check(sl["lst"][0] == 0x78, "lst is zlib (RFC 1950 header)")


def status(i):
    # draft-ietf-oauth-status-list: entry i at bit (i*bits) mod 8 of byte
    # floor(i*bits/8), least significant bits first.
    byte = lst[(i * bits) // 8]
    return (byte >> ((i * bits) % 8)) & ((1 << bits) - 1)


ours = list_info["statuses"]
theirs = [status(i) for i in range(len(lst) * 8 // bits)]
check(theirs[: len(ours)] == ours, f"every one of {len(ours)} statuses agrees with our reader")
# A second reader we did not write: token-status-list's BitArray (PyPI).
from token_status_list import BitArray  # noqa: E402

library = BitArray(bits, lst)
check(
    [library.get(i) for i in range(len(ours))] == ours,
    f"token-status-list reads the same {len(ours)} statuses",
)
check({0, 1, 2} <= set(ours), "the list holds VALID, INVALID and SUSPENDED entries")
check(ours[list_info["record_index"]] == 0, "the record's own entry is VALID")

flipped = bytearray(payload)
flipped[-1] ^= 1
check(not cwt_signature_ok(prot_bytes, bytes(flipped), signature), "a tampered status list does not verify")

print()
if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all mdoc interop checks passed")
