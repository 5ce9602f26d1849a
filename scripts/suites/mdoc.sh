#!/usr/bin/env bash
# mdoc interop (issue 9): the card-substitute record (ISO/IEC 18013-5
# IssuerSigned, DeviceResponse) against pymdoccbor from PyPI, and the Token
# Status List (draft-ietf-oauth-status-list, CWT) read independently with
# Python's zlib and the draft's bit rule, and with token-status-list's
# BitArray (PyPI, an alpha written for draft 02: the bit rule is unchanged)
# (tests/interop/mdoc/).
#
# Installs what it needs on a fresh Debian machine: python3 with venv from
# apt, pymdoccbor, cbor2 and token-status-list from PyPI into a venv under
# target/tools.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=$ROOT/target/tools/mdoc-venv
OUT=$ROOT/target/tools/mdoc-vectors

log() { printf '[mdoc] %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

if ! "$VENV/bin/python" -c 'import pymdoccbor, cbor2, cryptography, token_status_list' 2>/dev/null; then
  log "installing pymdoccbor, cbor2 and token-status-list into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "pymdoccbor==1.4.0" "cbor2==5.*" \
    "token-status-list==0.1.0a2.dev1"
fi

log "building and running the vectors example"
cargo build --locked --quiet -p mynakit-sandbox --example wallet_vectors
rm -rf "$OUT"
"$ROOT/target/debug/examples/wallet_vectors" "$OUT"
"$VENV/bin/python" tests/interop/mdoc/check_mdoc.py "$OUT"
