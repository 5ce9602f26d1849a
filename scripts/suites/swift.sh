#!/usr/bin/env bash
# Swift checks without a Swift toolchain. What passes here is syntax and ABI,
# not a compiled or tested Swift package: the XCTests are NOT run (they run on
# a Mac: ios/scripts/build-xcframework.sh --sandbox && cd ios/build-sandbox &&
# swift test), types and overloads are not checked, and CoreNFC/Foundation/
# XCTest names come from an allow-list taken on trust.
#
# Builds the library twice (as shipped, and with the test-only `sandbox`
# feature the XCTests use), generates the Swift bindings from each, and runs
# bindings/tests/swift/check_swift.py: generated and hand-written Swift parse
# (tree-sitter-swift), the hand-written Swift only calls what the generated
# Swift declares, the generated Swift's contract version, checksums and
# symbols match the built library, the generated C header compiles and
# links, and the shipped library (no `sandbox` feature) exports no sandbox
# symbol (the sandbox build serves as the positive control). The release
# profile is not built here (LTO costs minutes on 2 cores): features, not the
# profile, decide which symbols exist, and ios/scripts/build-xcframework.sh
# runs the same refusal on its release-small libraries. Prints
# `N passed, N failed` last.
#
# Installs what it needs on a fresh Debian machine: python3 with venv and gcc
# from apt, tree-sitter and tree-sitter-swift from PyPI into a venv under target/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TOOLS=$ROOT/target/tools
VENV=$TOOLS/swift-venv
WORK=$ROOT/target/swift-check
BINDGEN_TARGET=$ROOT/target/uniffi-bindgen

log() { printf '[swift] %s\n' "$*"; }

# --- system packages --------------------------------------------------------
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
missing=()
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

# --- tree-sitter (PyPI) -----------------------------------------------------
if ! "$VENV/bin/python" -c 'import tree_sitter, tree_sitter_swift' 2>/dev/null; then
  log "installing tree-sitter and tree-sitter-swift into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "tree-sitter==0.26.*" "tree-sitter-swift==0.7.*"
fi

# --- libraries and generated Swift -----------------------------------------
log "building uniffi-bindgen"
cargo build --locked --quiet -p mynakit-ffi --features cli --bin uniffi-bindgen --target-dir "$BINDGEN_TARGET"
BINDGEN=$BINDGEN_TARGET/debug/uniffi-bindgen

rm -rf "$WORK"
build_args=()
for variant in shipped sandbox; do
  features=()
  [ "$variant" = sandbox ] && features=(--features sandbox)
  log "building the library ($variant)"
  cargo build --locked --quiet -p mynakit-ffi --lib ${features[@]+"${features[@]}"}
  mkdir -p "$WORK/$variant/lib" "$WORK/$variant/gen"
  # A private copy: the next build overwrites target/debug/libmynakit.so.
  cp "$ROOT/target/debug/libmynakit.so" "$WORK/$variant/lib/libmynakit.so"
  (cd "$ROOT/bindings" && "$BINDGEN" generate --library "$WORK/$variant/lib/libmynakit.so" \
    --language swift --no-format --out-dir "$WORK/$variant/gen")
  build_args+=(--build "$variant" "$WORK/$variant/gen" "$WORK/$variant/lib/libmynakit.so")
done

log "checking"
"$VENV/bin/python" "$ROOT/bindings/tests/swift/check_swift.py" \
  "${build_args[@]}" \
  --sources "$ROOT"/ios/Sources/MynaKit/*.swift \
  --tests "$ROOT"/ios/Tests/MynaKitTests/*.swift \
  --parse-only "$ROOT/ios/Package.swift"
