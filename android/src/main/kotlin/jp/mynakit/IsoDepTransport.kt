package jp.mynakit

import android.nfc.NfcAdapter
import android.nfc.Tag
import android.nfc.TagLostException
import android.nfc.tech.IsoDep
import java.io.IOException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext

/**
 * The card transport over Android's [IsoDep]: the only Android-specific code
 * in MynaKit.
 *
 * Reader-mode friendly: build it inside `NfcAdapter.ReaderCallback.onTagDiscovered`
 * (see [READER_MODE_FLAGS]) and use it before the callback returns or from a
 * coroutine started there. [transmit] runs the blocking `transceive` on
 * [Dispatchers.IO]; a cancelled call returns at once, while the pending
 * `transceive` finishes in the background. Extended-length APDUs are used
 * only when the phone says it supports them *and* its `maxTransceiveLength`
 * has room for more than a short APDU; otherwise the core reads in short
 * chunks.
 *
 * @param isoDep the tag's IsoDep technology; connected here if it is not yet.
 * @param timeoutMillis how long one exchange may take. Android's default
 *   (about 300 ms) is too short for an RSA-2048 signature; peers use 5–20 s.
 */
class IsoDepTransport(
    private val isoDep: IsoDep,
    timeoutMillis: Int = DEFAULT_TIMEOUT_MILLIS,
) : CardTransport {
    init {
        if (!isoDep.isConnected) isoDep.connect()
        isoDep.timeout = timeoutMillis
    }

    override fun capabilities(): LinkCapabilities =
        MynaKit.isoDepCapabilities(isoDep.isExtendedLengthApduSupported, isoDep.maxTransceiveLength)

    override suspend fun transmit(command: ByteArray): ByteArray =
        withContext(Dispatchers.IO) {
            try {
                isoDep.transceive(command)
            } catch (e: TagLostException) {
                throw TransportFailure.CardRemoved()
            } catch (e: SecurityException) {
                // "Tag is out of date": another tag was discovered since.
                throw TransportFailure.CardRemoved()
            } catch (e: IllegalStateException) {
                // The connection was closed (or never opened).
                throw TransportFailure.NoCard()
            } catch (e: IOException) {
                throw TransportFailure.Link(e.toString())
            }
        }

    /** Closes the IsoDep connection (the tag stays discovered). */
    fun close() {
        try {
            isoDep.close()
        } catch (_: IOException) {
        }
    }

    companion object {
        /** Ten seconds: room for a signature on a slow card with margin. */
        const val DEFAULT_TIMEOUT_MILLIS: Int = 10_000

        /**
         * Flags for `NfcAdapter.enableReaderMode`: NFC-A and NFC-B (the card is
         * type B), and no NDEF check (the card has no NDEF; the check costs time
         * and can disturb the card). Values of `NfcAdapter.FLAG_READER_NFC_A`,
         * `FLAG_READER_NFC_B` and `FLAG_READER_SKIP_NDEF_CHECK`.
         */
        const val READER_MODE_FLAGS: Int = 0x1 or 0x2 or 0x80

        /** The transport for a discovered [tag], or null if it does not speak ISO-DEP. */
        fun fromTag(tag: Tag, timeoutMillis: Int = DEFAULT_TIMEOUT_MILLIS): IsoDepTransport? =
            IsoDep.get(tag)?.let { IsoDepTransport(it, timeoutMillis) }
    }
}
