package android.nfc

/** Stand-in for `android.nfc.NfcAdapter`: the reader-mode flag constants, with the SDK's values. */
class NfcAdapter private constructor() {
    companion object {
        const val FLAG_READER_NFC_A: Int = 0x1
        const val FLAG_READER_NFC_B: Int = 0x2
        const val FLAG_READER_SKIP_NDEF_CHECK: Int = 0x80
    }
}
