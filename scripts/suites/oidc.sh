#!/usr/bin/env bash
# OIDC interop (issue 10): Authlib (an OAuth 2.0 client from PyPI) drives the
# served sandbox portal's login with PKCE S256 (RFC 7636) — the card's part
# is played over the virtual card by sandbox/examples/portal_card_proof.rs —
# and PyJWT (PyPI, a JOSE implementation we did not write) verifies the ID
# tokens with the portal's JWK Set (tests/interop/oidc/).
#
# Installs what it needs on a fresh Debian machine: python3 with venv from
# apt; authlib, requests and pyjwt[crypto] from PyPI into a venv under
# target/tools.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=$ROOT/target/tools/oidc-venv

log() { printf '[oidc] %s\n' "$*"; }

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

if ! "$VENV/bin/python" -c 'import authlib, jwt, requests, cryptography' 2>/dev/null; then
  log "installing authlib, requests and pyjwt into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "authlib==1.9.10" \
    "requests==2.34.2" "pyjwt[crypto]==2.15.1"
fi

log "building mynakit and the card-proof example"
cargo build --locked --quiet -p mynakit-cli
cargo build --locked --quiet -p mynakit-sandbox --example portal_card_proof

OUT=$(mktemp -d)
cleanup() {
  if [ -n "${SERVER:-}" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$OUT"
}
trap cleanup EXIT
"$ROOT/target/debug/mynakit" sandbox serve --listen 127.0.0.1:0 >"$OUT/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  if grep -q '^listening on ' "$OUT/serve.log"; then break; fi
  sleep 0.1
done
BASE=$(sed -n 's/^listening on //p' "$OUT/serve.log" | head -1)
if [ -z "$BASE" ]; then
  log "the sandbox did not start:"; cat "$OUT/serve.log"; exit 1
fi
log "served sandbox at $BASE"
"$VENV/bin/python" tests/interop/oidc/check_oidc.py "$BASE" "$ROOT/target/debug/examples/portal_card_proof"
