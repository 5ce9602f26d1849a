#!/usr/bin/env bash
# Builds ios/MynaKitFFI.xcframework and the Swift bindings. Runs on a Mac with
# Xcode and rustup:
#
#   ios/scripts/build-xcframework.sh             release (profile release-small)
#   ios/scripts/build-xcframework.sh --sandbox   test build: adds the sandbox
#                                                virtual card the XCTests use
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
if [ "${1:-}" = "--sandbox" ]; then
  FEATURES=(--features sandbox)
  PROFILE=release
fi

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

BUILD=$IOS/build
rm -rf "$BUILD" "$IOS/MynaKitFFI.xcframework" "$IOS/Sources/MynaKit/Generated"
mkdir -p "$BUILD/headers" "$BUILD/sim" "$BUILD/mac" "$BUILD/swift"

# The Swift bindings, from the host library with the same features (UniFFI
# reads the metadata from the library; it is the same for every target).
cargo build --locked -p mynakit-ffi --features cli --bin uniffi-bindgen --target-dir target/uniffi-bindgen
cargo build --locked -p mynakit-ffi --lib --profile "$PROFILE" ${FEATURES[@]+"${FEATURES[@]}"}
(cd "$ROOT/bindings" && "$ROOT/target/uniffi-bindgen/debug/uniffi-bindgen" generate \
  --library "$ROOT/target/$PROFILE/libmynakit.dylib" --language swift --no-format --out-dir "$BUILD/swift")

cp "$BUILD/swift/MynaKitFFI.h" "$BUILD/headers/"
cp "$BUILD/swift/MynaKitFFI.modulemap" "$BUILD/headers/module.modulemap"
mkdir -p "$IOS/Sources/MynaKit/Generated"
cp "$BUILD/swift/MynaKit.swift" "$IOS/Sources/MynaKit/Generated/MynaKit.swift"

lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$BUILD/sim/libmynakit.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$BUILD/mac/libmynakit.a"

xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers "$BUILD/headers" \
  -library "$BUILD/sim/libmynakit.a" -headers "$BUILD/headers" \
  -library "$BUILD/mac/libmynakit.a" -headers "$BUILD/headers" \
  -output "$IOS/MynaKitFFI.xcframework"

echo "built $IOS/MynaKitFFI.xcframework ($PROFILE${FEATURES[*]:+, ${FEATURES[*]}})"
ls -l "$(lib aarch64-apple-ios)"
