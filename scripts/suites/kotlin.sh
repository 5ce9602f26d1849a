#!/usr/bin/env bash
# Kotlin binding tests on a desktop JVM (no Gradle, no Android SDK):
# builds the bindings with the test-only `sandbox` feature, generates the
# Kotlin bindings from the built library, compiles them with the hand-written
# Kotlin (android/src/main/kotlin, against the real Android API from
# Robolectric's android-all jar) and the tests, and runs them on the JUnit
# Platform. Prints `N passed, N failed` last and exits non-zero on failure.
#
#   scripts/suites/kotlin.sh           the test suite
#   scripts/suites/kotlin.sh --bench   the APDU round-trip benchmark instead
#                                      (release build; see BENCHMARKS.md)
#
# Installs what it needs on a fresh Debian machine: a JDK, Maven and npm from
# apt; kotlinx-coroutines, JNA, OkHttp, JUnit (Jupiter 6) and android-all from Maven
# Central (bindings/tests/kotlin-deps/pom.xml, `mvn dependency:copy-dependencies`,
# cached in ~/.m2 and target/); the Kotlin compiler from npm, cached under target/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

MODE=test
[ "${1:-}" = "--bench" ] && MODE=bench

KOTLIN_VERSION=2.4.20
TOOLS=$ROOT/target/tools
KOTLINC_HOME=$TOOLS/kotlin-compiler-$KOTLIN_VERSION/node_modules/kotlin-compiler
WORK=$ROOT/target/kotlin-$MODE
BINDGEN_TARGET=$ROOT/target/uniffi-bindgen

log() { printf '[kotlin] %s\n' "$*"; }

# --- system packages --------------------------------------------------------
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
missing=()
command -v java >/dev/null || missing+=(default-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

# --- jars from Maven Central ------------------------------------------------
POM=$ROOT/bindings/tests/kotlin-deps/pom.xml
DEPS=$TOOLS/kotlin-deps
if [ ! -f "$DEPS/stamp" ] || ! cmp -s "$POM" "$DEPS/stamp"; then
  log "fetching jars from Maven Central ($(basename "$POM"))"
  rm -rf "$DEPS"
  mkdir -p "$DEPS/lib"
  # kotlin-stdlib comes with the compiler (npm), the same version as kotlinc.
  mvn -B -q -f "$POM" dependency:copy-dependencies \
    -DoutputDirectory="$DEPS/lib" -DexcludeArtifactIds=kotlin-stdlib,annotations
  cp "$POM" "$DEPS/stamp"
fi
dep_jar() {
  local found
  found=$(ls "$DEPS"/lib/"$1"-[0-9]*.jar 2>/dev/null | head -1)
  [ -n "$found" ] || { echo "missing $1 in $DEPS/lib" >&2; exit 1; }
  echo "$found"
}
COROUTINES=$(dep_jar kotlinx-coroutines-core-jvm)
JNA_JAR=$(dep_jar jna)
ANDROID_ALL=$(dep_jar android-all)
OKHTTP_CP=$(dep_jar okhttp-jvm):$(dep_jar okio-jvm)
JUNIT_CP=$(ls "$DEPS"/lib/junit-*.jar "$DEPS"/lib/opentest4j-*.jar "$DEPS"/lib/apiguardian-*.jar "$DEPS"/lib/jspecify-*.jar | tr '\n' ':')
log "using $(basename "$COROUTINES"), $(basename "$JNA_JAR"), $(basename "${OKHTTP_CP%%:*}"), $(basename "$ANDROID_ALL"), $(ls "$DEPS"/lib | grep -o 'junit-jupiter-api-[0-9.]*' | head -1)"

# --- Kotlin compiler (npm package with the JVM compiler) --------------------
if [ ! -x "$KOTLINC_HOME/bin/kotlinc-jvm" ]; then
  log "installing kotlin-compiler@$KOTLIN_VERSION from npm"
  mkdir -p "$TOOLS/kotlin-compiler-$KOTLIN_VERSION"
  npm install --no-audit --no-fund --prefix "$TOOLS/kotlin-compiler-$KOTLIN_VERSION" "kotlin-compiler@$KOTLIN_VERSION"
fi
KOTLIN_STDLIB=$KOTLINC_HOME/lib/kotlin-stdlib.jar

# --- Rust library and bindings ---------------------------------------------
# uniffi-bindgen gets its own target dir: built with the `cli` feature in the
# same dir it would overwrite target/*/libmynakit.so with another feature set.
log "building uniffi-bindgen"
cargo build --locked --quiet -p mynakit-ffi --features cli --bin uniffi-bindgen --target-dir "$BINDGEN_TARGET"
BINDGEN=$BINDGEN_TARGET/debug/uniffi-bindgen

if [ "$MODE" = bench ]; then PROFILE_FLAG=--release; PROFILE_DIR=release; else PROFILE_FLAG=; PROFILE_DIR=debug; fi
log "building the library with the sandbox feature ($PROFILE_DIR)"
cargo build --locked --quiet -p mynakit-ffi --features sandbox --lib $PROFILE_FLAG
rm -rf "$WORK"
mkdir -p "$WORK/lib" "$WORK/gen" "$WORK/classes"
# A private copy, so a later cargo build cannot swap the library under the JVM.
cp "$ROOT/target/$PROFILE_DIR/libmynakit.so" "$WORK/lib/libmynakit.so"

# The served sandbox authority the reset tests talk to over loopback HTTP
# (`mynakit sandbox serve --listen 127.0.0.1:0`), the desktop CLI's binary.
EXTRA_JAVA_OPTS=()
if [ "$MODE" = test ]; then
  log "building the mynakit CLI (the served sandbox authority)"
  cargo build --locked --quiet -p mynakit-cli --bin mynakit
  EXTRA_JAVA_OPTS+=("-Dmynakit.cli=$ROOT/target/debug/mynakit")
fi

log "generating Kotlin"
# Library mode runs `cargo metadata` to find uniffi.toml: run it inside the crate.
(cd "$ROOT/bindings" && "$BINDGEN" generate --library "$WORK/lib/libmynakit.so" \
  --language kotlin --no-format --out-dir "$WORK/gen")

# --- compile and run --------------------------------------------------------
# The generated bindings and MynaKit.kt are plain Kotlin; IsoDepTransport.kt
# and NfcReaderMode.kt compile against the real Android API (android-all).
# android-all goes last on the classpath: only android.* is taken from it.
CP=$JNA_JAR:$COROUTINES:$OKHTTP_CP:$JUNIT_CP$ANDROID_ALL
sources=(
  "$WORK/gen/jp/mynakit/mynakit.kt"
  "$ROOT"/android/src/main/kotlin/jp/mynakit/*.kt
)
if [ "$MODE" = bench ]; then
  sources+=("$ROOT/bindings/tests/kotlin/jp/mynakit/test/Harness.kt" "$ROOT/bindings/bench/Bench.kt")
  MAIN=jp.mynakit.bench.BenchKt
else
  sources+=($(find "$ROOT/bindings/tests/kotlin" -name '*.kt'))
  MAIN=jp.mynakit.test.RunAllKt
fi
log "compiling ${#sources[@]} Kotlin files"
"$KOTLINC_HOME/bin/kotlinc-jvm" -nowarn -jvm-target 17 -cp "$CP" -d "$WORK/classes" "${sources[@]}"

log "running $MAIN"
RUST_BACKTRACE=0 java -cp "$WORK/classes:$KOTLIN_STDLIB:$CP" \
  -Duniffi.component.mynakit.libraryOverride="$WORK/lib/libmynakit.so" \
  ${EXTRA_JAVA_OPTS[@]+"${EXTRA_JAVA_OPTS[@]}"} \
  "$MAIN"
