// The MynaKit Android library (AAR). Build from this directory:
//   gradle :assembleRelease            (or ./gradlew after `gradle wrapper`)
// Needs the Android SDK + NDK, Rust with the Android targets and cargo-ndk
// (see README.md in bindings/).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "mynakit-android"
