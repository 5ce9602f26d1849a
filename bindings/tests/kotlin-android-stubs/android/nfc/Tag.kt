package android.nfc

// Test stand-in for the Android SDK class of the same name (no Android SDK on
// the CI machines). Only what IsoDepTransport.kt uses, with the same Kotlin
// call shapes as the real API; the test hook `isoDep` is not in the SDK.

/** Stand-in for `android.nfc.Tag`. */
class Tag(internal val isoDep: android.nfc.tech.IsoDep?)
