#!/usr/bin/env bash
# COSE/CWT interop (issue 8): the face-check token against pycose and cbor2
# from PyPI, implementations we did not write (tests/interop/cose/).
#
# Installs what it needs on a fresh Debian machine: python3 with venv from
# apt, pycose and cbor2 from PyPI into a venv under target/tools.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=$ROOT/target/tools/cose-venv

log() { printf '[cose] %s\n' "$*"; }

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

if ! "$VENV/bin/python" -c 'import pycose, cbor2' 2>/dev/null; then
  log "installing pycose and cbor2 into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "pycose==1.1.*" "cbor2==5.*"
fi

log "building the token example"
cargo build --locked --quiet -p mynakit-sandbox --example face_check_token
"$VENV/bin/python" tests/interop/cose/check_token.py "$ROOT/target/debug/examples/face_check_token"
