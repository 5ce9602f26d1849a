package jp.mynakit

import android.nfc.Tag
import android.nfc.TagLostException
import android.nfc.tech.IsoDep
import java.io.IOException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.asExecutor
import kotlinx.coroutines.suspendCancellableCoroutine

/**
 * What [IsoDepTransport] needs of an `IsoDep`. The Android implementation
 * forwards to [IsoDep]; the JVM tests (scripts/suites/kotlin.sh) put a
 * scripted link here, because the SDK's `IsoDep` is final and talks to the
 * NFC service.
 */
internal interface IsoDepLink {
    /** The tag's identifier (`Tag.getId()`). */
    val tagId: ByteArray
    val isConnected: Boolean
    val isExtendedLengthApduSupported: Boolean
    val maxTransceiveLength: Int
    var timeout: Int
    fun connect()
    fun close()
    fun transceive(data: ByteArray): ByteArray
}

/** The real thing. Compiled against the Android API; not run on a device here. */
private class AndroidIsoDep(private val isoDep: IsoDep) : IsoDepLink {
    override val tagId: ByteArray get() = isoDep.tag.id
    override val isConnected: Boolean get() = isoDep.isConnected
    override val isExtendedLengthApduSupported: Boolean get() = isoDep.isExtendedLengthApduSupported
    override val maxTransceiveLength: Int get() = isoDep.maxTransceiveLength
    override var timeout: Int
        get() = isoDep.timeout
        set(value) { isoDep.timeout = value }
    override fun connect() = isoDep.connect()
    override fun close() = isoDep.close()
    override fun transceive(data: ByteArray): ByteArray = isoDep.transceive(data)
}

/**
 * The card transport over Android's [IsoDep]: the only Android-specific
 * transport code in MynaKit.
 *
 * Build it in `NfcAdapter.ReaderCallback.onTagDiscovered` (or let
 * [NfcReaderMode] do it). Nothing happens until the first exchange: the
 * connection is opened then (and again after it was closed), and a failure
 * to connect is a [TransportFailure] like any other, never a raw
 * `IOException` from a constructor.
 *
 * [transmit] runs the blocking `transceive` on an I/O thread. When the
 * calling coroutine is cancelled (the app gave up, or MynaKit dropped the
 * call), the IsoDep connection is **closed**, so the exchange in flight
 * fails at once instead of running on in the background; the next exchange
 * connects again (the card is then reset, and the session selects afresh).
 *
 * Extended-length APDUs are used only when the phone says it supports them,
 * its `maxTransceiveLength` has room for more than a short APDU, and this
 * phone has not refused them before (see [ExtendedLengthMemory]).
 *
 * @param timeoutMillis how long one exchange may take. Android's default
 *   (about 300 ms) is too short for an RSA-2048 signature; peers use 5–20 s.
 */
class IsoDepTransport internal constructor(
    private val link: IsoDepLink,
    private val timeoutMillis: Int,
    private val memory: ExtendedLengthMemory,
) : CardTransport {
    /** A transport over [isoDep] (connected lazily). */
    constructor(isoDep: IsoDep, timeoutMillis: Int = DEFAULT_TIMEOUT_MILLIS) :
        this(AndroidIsoDep(isoDep), timeoutMillis, ExtendedLengthMemory.shared)

    private val lock = Any()

    override fun capabilities(): LinkCapabilities {
        // Must not throw: a tag that is already gone reads as a short link,
        // and the first exchange reports the loss.
        val (extended, max) = try {
            link.isExtendedLengthApduSupported to link.maxTransceiveLength
        } catch (e: RuntimeException) {
            false to SHORT_APDU_LIMIT
        }
        val refused = memory.refuses(link.tagIdOrNull())
        return MynaKit.isoDepCapabilities(extended && !refused, max)
    }

    override suspend fun transmit(command: ByteArray): ByteArray =
        suspendCancellableCoroutine { continuation ->
            continuation.invokeOnCancellation { closeQuietly() }
            Dispatchers.IO.asExecutor().execute {
                // After a cancellation the result is dropped by the coroutine machinery.
                continuation.resumeWith(runCatching { exchange(command) })
            }
        }

    /** One blocking exchange with the failures mapped to [TransportFailure]. */
    private fun exchange(command: ByteArray): ByteArray {
        try {
            synchronized(lock) {
                if (!link.isConnected) {
                    link.connect()
                    // Android resets the timeout on close(): set it on every connect.
                    link.timeout = timeoutMillis
                }
            }
            val response = link.transceive(command)
            if (isExtended(command) && refusesLength(response)) {
                memory.remember(link.tagIdOrNull())
            }
            return response
        } catch (e: TagLostException) {
            throw TransportFailure.CardRemoved()
        } catch (e: SecurityException) {
            // "Tag is out of date": another tag was discovered since.
            throw TransportFailure.CardRemoved()
        } catch (e: IllegalStateException) {
            // Closed while connecting, or the NFC service refused the call.
            throw TransportFailure.NoCard()
        } catch (e: IOException) {
            throw TransportFailure.Link(e.toString())
        } catch (e: RuntimeException) {
            // Whatever else the NFC stack throws reaches the app typed.
            throw TransportFailure.Link(e.toString())
        }
    }

    /** Closes the IsoDep connection (the tag stays discovered; the next exchange reconnects). */
    fun close() = closeQuietly()

    private fun closeQuietly() {
        try {
            link.close()
        } catch (_: IOException) {
        } catch (_: RuntimeException) {
        }
    }

    companion object {
        /** Ten seconds: room for a signature on a slow card with margin. */
        const val DEFAULT_TIMEOUT_MILLIS: Int = 10_000

        /**
         * Flags for `NfcAdapter.enableReaderMode`: NFC-A and NFC-B (the card is
         * type B), and no NDEF check (the card has no NDEF; the check costs time
         * and can disturb the card).
         */
        const val READER_MODE_FLAGS: Int = android.nfc.NfcAdapter.FLAG_READER_NFC_A or
            android.nfc.NfcAdapter.FLAG_READER_NFC_B or
            android.nfc.NfcAdapter.FLAG_READER_SKIP_NDEF_CHECK

        /** The largest short APDU exchange (256 data bytes + status word, or a 261-byte command). */
        private const val SHORT_APDU_LIMIT = 261

        /** The transport for a discovered [tag], or null if it does not speak ISO-DEP. */
        fun fromTag(tag: Tag, timeoutMillis: Int = DEFAULT_TIMEOUT_MILLIS): IsoDepTransport? =
            IsoDep.get(tag)?.let { IsoDepTransport(it, timeoutMillis) }

        /** An extended-length command: `00` then a two-byte length after the header. */
        internal fun isExtended(command: ByteArray): Boolean = command.size >= 7 && command[4] == 0.toByte()

        /** `6700`: wrong length, the answer to an extended APDU a link or card refuses. */
        private fun refusesLength(response: ByteArray): Boolean =
            response.size >= 2 && response[response.size - 2] == 0x67.toByte() && response[response.size - 1] == 0.toByte()

        private fun IsoDepLink.tagIdOrNull(): ByteArray? = try {
            tagId
        } catch (e: RuntimeException) {
            null
        }
    }
}

/**
 * Which tags, and whether this phone, refused extended-length APDUs
 * (answered `6700`). The core learns it again in every session, one wasted
 * APDU each time; the transport remembers it, so the next session's
 * capabilities say `extendedLength = false` from the start.
 *
 * Keyed by tag ID; a type B card may show a new random ID at every tap, so
 * after [PHONE_WIDE_AFTER] refusals by different tags the phone itself is
 * taken to refuse extended length (the usual cause is the phone's NFC
 * controller, not the card). Kept in memory only, for the app's lifetime.
 */
class ExtendedLengthMemory(private val capacity: Int = 16) {
    private val refusedTags = LinkedHashMap<String, Unit>()
    private var phoneRefuses = false

    /** True when [tagId] (or, with enough refusals, any tag on this phone) refused extended length. */
    @Synchronized
    fun refuses(tagId: ByteArray?): Boolean = phoneRefuses || (tagId != null && key(tagId) in refusedTags)

    /** Records that [tagId] refused an extended-length APDU. */
    @Synchronized
    fun remember(tagId: ByteArray?) {
        if (tagId == null) {
            phoneRefuses = true
            return
        }
        refusedTags.remove(key(tagId))
        refusedTags[key(tagId)] = Unit
        if (refusedTags.size >= PHONE_WIDE_AFTER) phoneRefuses = true
        while (refusedTags.size > capacity) refusedTags.remove(refusedTags.keys.first())
    }

    /** Forgets everything (a test, or the user changed phones' NFC settings). */
    @Synchronized
    fun clear() {
        refusedTags.clear()
        phoneRefuses = false
    }

    private fun key(tagId: ByteArray) = tagId.joinToString("") { "%02X".format(it) }

    companion object {
        /** Refusals by this many different tags mark the phone itself. */
        const val PHONE_WIDE_AFTER: Int = 2

        /** The memory every [IsoDepTransport] built from an Android `IsoDep` shares. */
        val shared: ExtendedLengthMemory = ExtendedLengthMemory()
    }
}
