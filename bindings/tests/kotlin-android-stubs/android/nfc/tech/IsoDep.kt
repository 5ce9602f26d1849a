package android.nfc.tech

import android.nfc.Tag

/**
 * Stand-in for `android.nfc.tech.IsoDep`, with the getters and setters
 * IsoDepTransport uses (`isConnected()`, `get/setTimeout`,
 * `isExtendedLengthApduSupported()`, `getMaxTransceiveLength()`) as Kotlin
 * properties so the call sites read exactly as against the SDK. Open, so a
 * test can script `transceive`; the SDK class is final.
 */
open class IsoDep(
    val isExtendedLengthApduSupported: Boolean = true,
    val maxTransceiveLength: Int = 65_279,
) {
    var isConnected: Boolean = false
        private set
    var timeout: Int = 300
    var closed: Boolean = false
        private set

    open fun connect() {
        isConnected = true
    }

    open fun close() {
        isConnected = false
        closed = true
    }

    open fun transceive(data: ByteArray): ByteArray = throw java.io.IOException("no card in the stand-in")

    companion object {
        @JvmStatic
        fun get(tag: Tag): IsoDep? = tag.isoDep
    }
}
