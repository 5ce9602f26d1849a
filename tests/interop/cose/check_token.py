"""The face-check token against pycose (a COSE implementation we did not
write) and cbor2: issue 8's CWT (RFC 8392) in a tagged COSE_Sign1 (RFC 9052)
with ES256, as docs/reset-protocol.md describes it.

1. A token our authority minted verifies with pycose and carries the claims
   the protocol names, with the types and keys RFC 8392 / RFC 8747 give them.
2. A token pycose minted with the same key verifies with ours and yields the
   same claims; one with a flipped payload byte, or signed by another key,
   is refused by ours.

Usage: check_token.py PATH_TO_face_check_token_EXAMPLE
"""

import json
import subprocess
import sys

import cbor2
from pycose.algorithms import Es256
from pycose.headers import KID, Algorithm
from pycose.keys import EC2Key
from pycose.keys.curves import P256
from pycose.messages import CoseMessage, Sign1Message

EXAMPLE = sys.argv[1]
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def run(*args):
    return subprocess.run([EXAMPLE, *args], capture_output=True, text=True)


minted = json.loads(run("mint").stdout)
token = bytes.fromhex(minted["token"])
public = bytes.fromhex(minted["public_key"])
claims = minted["claims"]
x, y = public[1:33], public[33:65]

# --- 1. ours, read by pycose ---------------------------------------------
check(token[0] == 0xD2, "the token is a tagged COSE_Sign1 (tag 18)")
message = CoseMessage.decode(token)
check(isinstance(message, Sign1Message), "pycose decodes a Sign1Message")
check(message.phdr.get(Algorithm) == Es256, "protected alg is ES256 (-7)")
check(message.phdr.get(KID) == bytes.fromhex(minted["key_id"]), "protected kid is the key id")
message.key = EC2Key(crv=P256, x=x, y=y)
check(message.verify_signature(), "pycose verifies the signature with the authority's key")
other = EC2Key.generate_key(crv=P256)
message.key = EC2Key(crv=P256, x=other.x, y=other.y)
check(not message.verify_signature(), "pycose refuses it with another key")

payload = cbor2.loads(message.payload)
check(payload.get(1) == claims["iss"], "claim 1 (iss)")
check(payload.get(3) == claims["aud"], "claim 3 (aud)")
check(payload.get(6) == claims["iat"], "claim 6 (iat), whole seconds")
check(payload.get(4) == claims["exp"], "claim 4 (exp)")
check(payload.get(4) - payload.get(6) == 300, "exp = iat + 300 s")
check(payload.get(7) == bytes.fromhex(claims["cti"]), "claim 7 (cti), 16 bytes")
cnf = payload.get(8)
device = bytes.fromhex(claims["device_key"])
check(isinstance(cnf, dict) and set(cnf) == {1}, "claim 8 (cnf) holds a COSE_Key under 1 (RFC 8747)")
cose_key = cnf.get(1, {}) if isinstance(cnf, dict) else {}
check(cose_key.get(1) == 2 and cose_key.get(-1) == 1, "cnf key is EC2 on P-256")
check(cose_key.get(-2) == device[1:33] and cose_key.get(-3) == device[33:65], "cnf key is the installation key")
check(payload.get("mynakit_card") == bytes.fromhex(claims["card"]), "the card claim (bytes)")

# --- 2. pycose's, read by ours ------------------------------------------
private = bytes.fromhex(minted["private_key"])
theirs = Sign1Message(
    phdr={Algorithm: Es256, KID: bytes.fromhex(minted["key_id"])},
    payload=cbor2.dumps(payload),
)
theirs.key = EC2Key(crv=P256, d=private, x=x, y=y)
encoded = theirs.encode()
answer = run("verify", encoded.hex())
check(answer.returncode == 0, "ours verifies pycose's token")
if answer.returncode == 0:
    check(json.loads(answer.stdout) == claims, "ours reads the same claims from pycose's token")

tampered = Sign1Message.decode(encoded)
tampered_payload = dict(payload)
tampered_payload[4] = payload[4] + 3600
# Keep pycose's signature over the original payload: a changed exp must fail.
forged_bytes = cbor2.dumps(
    cbor2.CBORTag(18, [cbor2.dumps({1: -7, 4: bytes.fromhex(minted["key_id"])}),
                       {}, cbor2.dumps(tampered_payload), tampered.signature])
)
check(run("verify", forged_bytes.hex()).returncode == 1, "ours refuses a token whose exp was changed")

stranger = Sign1Message(phdr={Algorithm: Es256}, payload=cbor2.dumps(payload))
stranger.key = EC2Key.generate_key(crv=P256)
check(run("verify", stranger.encode().hex()).returncode == 1, "ours refuses a token signed by another key")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all COSE/CWT interop checks passed")
