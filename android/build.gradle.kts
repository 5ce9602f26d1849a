// MynaKit for Android: an AAR with the Rust library for every shipped ABI,
// the generated Kotlin bindings, the Kotlin entry point and IsoDepTransport.
//
// Build tasks added here:
//   cargoNdkBuild        cargo-ndk builds libmynakit.so (profile release-small)
//                        for arm64-v8a, armeabi-v7a and x86_64 into
//                        build/rustJniLibs/<abi>/
//   generateUniffiKotlin uniffi-bindgen (host build) generates the Kotlin
//                        bindings from the arm64 library, with
//                        uniffi-android.toml merged in (android = true)
// Both run before preBuild, so `gradle assembleRelease` does everything.

import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.0"
}

val repoRoot: File = rootDir.parentFile
val rustJniLibs = layout.buildDirectory.dir("rustJniLibs")
val generatedKotlin = layout.buildDirectory.dir("generated/uniffi/kotlin")
val abis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")
// Same profile as the size figure in bindings/README.md.
val cargoProfile = providers.gradleProperty("mynakit.cargoProfile").getOrElse("release-small")

android {
    namespace = "jp.mynakit"
    compileSdk = 35

    defaultConfig {
        // IsoDep extended-length queries exist since API 16; java.time (used
        // by the Kotlin helpers) since API 26.
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
        ndk { abiFilters += abis }
    }

    sourceSets["main"].apply {
        jniLibs.srcDir(rustJniLibs)
        kotlin.srcDir(generatedKotlin)
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    // UniFFI's Kotlin calls the Rust library through JNA (the @aar ships
    // libjnidispatch.so for every ABI); coroutines for the suspend API.
    implementation("net.java.dev.jna:jna:5.14.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.8.1")
    implementation("androidx.annotation:annotation:1.9.1")
    // OkHttpAuthorityLink: the AuthorityLink over the app's HTTP stack (the
    // version the JVM suite tests, bindings/tests/kotlin-deps/pom.xml).
    implementation("com.squareup.okhttp3:okhttp:5.5.1")
}

val cargoNdkBuild by tasks.registering(Exec::class) {
    description = "Builds libmynakit.so for ${abis.joinToString()} with cargo-ndk."
    group = "rust"
    workingDir = repoRoot
    val args = mutableListOf("cargo", "ndk")
    abis.forEach { args += listOf("-t", it) }
    args += listOf(
        "--platform", "26",
        "-o", rustJniLibs.get().asFile.absolutePath,
        "build", "--locked", "-p", "mynakit-ffi", "--lib", "--profile", cargoProfile,
    )
    commandLine(args)
    inputs.files(fileTree(repoRoot) {
        include("Cargo.toml", "Cargo.lock", "core/**", "bindings/**")
        exclude("**/target/**")
    })
    outputs.dir(rustJniLibs)
}

val buildUniffiBindgen by tasks.registering(Exec::class) {
    description = "Builds the host uniffi-bindgen (own target dir, see scripts/suites/kotlin.sh)."
    group = "rust"
    workingDir = repoRoot
    commandLine(
        "cargo", "build", "--locked", "-p", "mynakit-ffi", "--features", "cli",
        "--bin", "uniffi-bindgen", "--target-dir", "target/uniffi-bindgen",
    )
}

val generateUniffiKotlin by tasks.registering(Exec::class) {
    description = "Generates the Kotlin bindings from the Android library."
    group = "rust"
    dependsOn(cargoNdkBuild, buildUniffiBindgen)
    // Library mode runs `cargo metadata` to find bindings/uniffi.toml.
    workingDir = File(repoRoot, "bindings")
    commandLine(
        File(repoRoot, "target/uniffi-bindgen/debug/uniffi-bindgen").absolutePath,
        "generate",
        "--library", rustJniLibs.get().file("arm64-v8a/libmynakit.so").asFile.absolutePath,
        "--language", "kotlin",
        "--no-format",
        "--config", file("uniffi-android.toml").absolutePath,
        "--out-dir", generatedKotlin.get().asFile.absolutePath,
    )
    outputs.dir(generatedKotlin)
}

tasks.named("preBuild") { dependsOn(generateUniffiKotlin) }
