#!/usr/bin/env bash
# Builds ios/MynaKitFFI.xcframework and the Swift bindings. Runs on a Mac with
# Xcode and rustup:
#
#   ios/scripts/build-xcframework.sh             release (profile release-small)
#                                                → ios/MynaKitFFI.xcframework,
#                                                  ios/Sources/MynaKit/Generated/
#   ios/scripts/build-xcframework.sh --sandbox   test build: adds the sandbox
#                                                virtual card the XCTests use
#                                                → ios/build-sandbox/ only
#
# The two never share an output path: a sandbox build (virtual card, and
# `sandbox_panic`, a function that panics on purpose) cannot end up where
# the package and an app take the release from. The release build fails if
# its libraries contain any sandbox symbol.
#
# Slices: iOS devices (aarch64-apple-ios), the iOS simulator
# (aarch64-apple-ios-sim + x86_64-apple-ios, one fat library) and macOS
# (aarch64 + x86_64, so `swift test` runs the XCTests on a Mac without a
# simulator). Then: `cd ios && swift test` (with --sandbox), or add the
# package to an app.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
IOS=$ROOT/ios

FEATURES=()
PROFILE=release-small
OUT=$IOS
if [ "${1:-}" = "--sandbox" ]; then
  FEATURES=(--features sandbox)
  PROFILE=release
  OUT=$IOS/build-sandbox
fi

# Fails when a library holds anything of the sandbox (checked on every slice).
refuse_sandbox() {
  if nm -gU "$1" 2>/dev/null | grep -Eiq 'sandbox|virtualcard|virtual_card|VirtualLink'; then
    echo "refusing: $1 contains sandbox symbols (built with the sandbox feature?)" >&2
    exit 1
  fi
}

IOS_TARGETS=(aarch64-apple-ios)
SIM_TARGETS=(aarch64-apple-ios-sim x86_64-apple-ios)
MAC_TARGETS=(aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${IOS_TARGETS[@]}" "${SIM_TARGETS[@]}" "${MAC_TARGETS[@]}"

export IPHONEOS_DEPLOYMENT_TARGET=15.0
export MACOSX_DEPLOYMENT_TARGET=12.0
for target in "${IOS_TARGETS[@]}" "${SIM_TARGETS[@]}" "${MAC_TARGETS[@]}"; do
  cargo build --locked -p mynakit-ffi --lib --profile "$PROFILE" --target "$target" ${FEATURES[@]+"${FEATURES[@]}"}
done
lib() { echo "$ROOT/target/$1/$PROFILE/libmynakit.a"; }

if [ -z "${FEATURES[*]}" ]; then
  for target in "${IOS_TARGETS[@]}" "${SIM_TARGETS[@]}" "${MAC_TARGETS[@]}"; do
    refuse_sandbox "$(lib "$target")"
  done
fi

BUILD=$OUT/build
mkdir -p "$OUT"
rm -rf "$BUILD" "$OUT/MynaKitFFI.xcframework" "$OUT/Sources/MynaKit/Generated"
mkdir -p "$BUILD/headers" "$BUILD/sim" "$BUILD/mac" "$BUILD/swift"

# The Swift bindings, from the host library with the same features (UniFFI
# reads the metadata from the library; it is the same for every target).
cargo build --locked -p mynakit-ffi --features cli --bin uniffi-bindgen --target-dir target/uniffi-bindgen
cargo build --locked -p mynakit-ffi --lib --profile "$PROFILE" ${FEATURES[@]+"${FEATURES[@]}"}
(cd "$ROOT/bindings" && "$ROOT/target/uniffi-bindgen/debug/uniffi-bindgen" generate \
  --library "$ROOT/target/$PROFILE/libmynakit.dylib" --language swift --no-format --out-dir "$BUILD/swift")

cp "$BUILD/swift/MynaKitFFI.h" "$BUILD/headers/"
cp "$BUILD/swift/MynaKitFFI.modulemap" "$BUILD/headers/module.modulemap"
mkdir -p "$OUT/Sources/MynaKit/Generated"
cp "$BUILD/swift/MynaKit.swift" "$OUT/Sources/MynaKit/Generated/MynaKit.swift"

lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$BUILD/sim/libmynakit.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$BUILD/mac/libmynakit.a"

xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers "$BUILD/headers" \
  -library "$BUILD/sim/libmynakit.a" -headers "$BUILD/headers" \
  -library "$BUILD/mac/libmynakit.a" -headers "$BUILD/headers" \
  -output "$OUT/MynaKitFFI.xcframework"

if [ -n "${FEATURES[*]}" ]; then
  # A package of its own for the XCTests: cd ios/build-sandbox && swift test
  cp "$IOS/Package.swift" "$OUT/"
  cp "$IOS"/Sources/MynaKit/*.swift "$OUT/Sources/MynaKit/"
  rm -rf "$OUT/Tests" && cp -R "$IOS/Tests" "$OUT/Tests"
fi

echo "built $OUT/MynaKitFFI.xcframework ($PROFILE${FEATURES[*]:+, ${FEATURES[*]}})"
ls -l "$(lib aarch64-apple-ios)"
