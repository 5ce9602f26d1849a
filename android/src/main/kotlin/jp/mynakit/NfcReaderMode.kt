package jp.mynakit

import android.app.Activity
import android.nfc.NfcAdapter
import android.os.Bundle

/**
 * Reader mode for the My Number card, with the settings the card needs:
 * NFC-A | NFC-B | skip the NDEF check ([IsoDepTransport.READER_MODE_FLAGS]),
 * and an [IsoDepTransport] with a timeout long enough for signing.
 *
 * ```
 * private val reader = NfcReaderMode(this)
 * override fun onResume() {
 *     super.onResume()
 *     if (!reader.enable { transport -> lifecycleScope.launch { readCard(transport) } }) showNoNfc()
 * }
 * override fun onPause() { reader.disable(); super.onPause() }
 * ```
 *
 * Compiled against the Android API (Robolectric's android-all jar) but not
 * run on a device or emulator here: no Android SDK on the build machines.
 *
 * @param activity the foreground activity (reader mode is tied to it).
 * @param timeoutMillis the IsoDep timeout for each exchange.
 */
class NfcReaderMode(
    private val activity: Activity,
    private val timeoutMillis: Int = IsoDepTransport.DEFAULT_TIMEOUT_MILLIS,
) {
    private val adapter: NfcAdapter? = NfcAdapter.getDefaultAdapter(activity)

    /** The phone has NFC hardware (with `required="false"` in the manifest it may not). */
    val isAvailable: Boolean get() = adapter != null

    /** NFC is switched on in the settings. */
    val isEnabled: Boolean get() = adapter?.isEnabled == true

    /**
     * Starts reader mode; [onCard] gets a transport for each ISO-DEP tag
     * discovered (on a binder thread: start a coroutine, do not block it).
     * Returns false when the phone has no NFC or it is switched off.
     */
    fun enable(onCard: (IsoDepTransport) -> Unit): Boolean {
        val adapter = adapter ?: return false
        if (!adapter.isEnabled) return false
        val extras = Bundle().apply {
            // Fewer presence checks while a long signature runs.
            putInt(NfcAdapter.EXTRA_READER_PRESENCE_CHECK_DELAY, PRESENCE_CHECK_DELAY_MILLIS)
        }
        adapter.enableReaderMode(
            activity,
            { tag -> IsoDepTransport.fromTag(tag, timeoutMillis)?.let(onCard) },
            IsoDepTransport.READER_MODE_FLAGS,
            extras,
        )
        return true
    }

    /** Stops reader mode (call from `onPause`). */
    fun disable() {
        adapter?.disableReaderMode(activity)
    }

    private companion object {
        const val PRESENCE_CHECK_DELAY_MILLIS = 1_000
    }
}
