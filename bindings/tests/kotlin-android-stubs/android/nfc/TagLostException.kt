package android.nfc

/** Stand-in for `android.nfc.TagLostException` (an IOException, as in the SDK). */
class TagLostException(message: String? = null) : java.io.IOException(message)
