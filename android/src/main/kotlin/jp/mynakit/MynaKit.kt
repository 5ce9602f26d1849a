package jp.mynakit

// Plain Kotlin on purpose: no android.* import here, so this file is compiled
// and tested on a desktop JVM (scripts/suites/kotlin.sh) together with the
// generated bindings. IsoDepTransport.kt holds the only Android code.

import java.time.Instant
import java.time.LocalDate
import kotlinx.coroutines.CancellationException

/**
 * The Kotlin entry point to MynaKit.
 *
 * ```
 * val signature = MynaKit.session(transport, MynaKit.progress { step, total, _ -> show("$step / $total") }) {
 *     signWithAuthKey(pinChars, challenge)   // CharArray: wiped afterwards
 * }
 * ```
 *
 * Every card operation is a `suspend` method of [CardSession]; failures are
 * [MynaKitException] subclasses (`WrongPin`, `PinBlocked`,
 * `LastTryNeedsConfirmation`, `VerifyOutcomeUnknown`, `CardRemoved`, …).
 *
 * Cancellation: when the coroutine running a card call is cancelled, the
 * transport's exchange is cancelled too ([IsoDepTransport] closes the
 * IsoDep). If that exchange was a VERIFY, the card may have counted a try:
 * [session] then throws [MynaKitException.VerifyOutcomeUnknown] instead of
 * the `CancellationException` (so `withTimeout { MynaKit.session(t) { … } }`
 * tells the app to read the PIN state before asking again). In a `launch`
 * that the app cancels, catch [MynaKitException] inside the job, or it
 * reaches the scope's exception handler.
 */
object MynaKit {
    /** A link limited to short APDUs. */
    val SHORT_ONLY: LinkCapabilities = LinkCapabilities(extendedLength = false, maxTransceiveLength = 261u)

    /** A link with extended length and room for a 64 KiB response. */
    val EXTENDED: LinkCapabilities = LinkCapabilities(extendedLength = true, maxTransceiveLength = 65_538u)

    /** The largest short APDU exchange (256 data bytes + status word, or a 261-byte command). */
    private const val SHORT_APDU_LIMIT = 261

    /**
     * Opens a session over [transport], runs [block] on it and closes it,
     * also when [block] throws or is cancelled.
     */
    suspend fun <R> session(
        transport: CardTransport,
        progress: ProgressListener? = null,
        block: suspend CardSession.() -> R,
    ): R = CardSession(transport).use { session ->
        session.setProgressListener(progress)
        session.reportingInterruptedVerify { block() }
    }

    /** A [ProgressListener] from a lambda: `(step, total, label)`, e.g. "step 2 of 4". */
    fun progress(onStep: (step: Int, total: Int, label: String) -> Unit): ProgressListener =
        object : ProgressListener {
            override fun onStep(step: UInt, total: UInt, label: String) = onStep(step.toInt(), total.toInt(), label)
        }

    /**
     * What an Android IsoDep link can carry: extended length only when the
     * phone reports support *and* a transceive limit above a short APDU
     * (some phones report support with a 261-byte limit).
     */
    fun isoDepCapabilities(extendedLengthSupported: Boolean, maxTransceiveLength: Int): LinkCapabilities {
        val max = maxTransceiveLength.coerceAtLeast(0)
        return LinkCapabilities(
            extendedLength = extendedLengthSupported && max > SHORT_APDU_LIMIT,
            maxTransceiveLength = max.toUInt(),
        )
    }

    /** The production JPKI roots plus the app's own anchor certificates (DER). */
    fun trustAnchors(vararg anchorCertificates: ByteArray): TrustAnchors =
        anchorCertificates.fold(TrustAnchors.production()) { anchors, der ->
            anchors.use { it.withCertificate(der) }
        }

    /**
     * The production JPKI roots plus every CA certificate of anchor files the
     * app ships (PEM with one or more certificates, or one DER certificate),
     * such as a J-LIS test hierarchy's root.
     */
    fun trustAnchorsFromFiles(vararg anchorFiles: ByteArray): TrustAnchors =
        anchorFiles.fold(TrustAnchors.production()) { anchors, file ->
            anchors.use { it.withAnchorFile(file) }
        }
}

/**
 * Runs [block] on this session; when it is cancelled while a VERIFY was at
 * the card, throws [MynaKitException.VerifyOutcomeUnknown] (the card may
 * have counted a try) instead of the `CancellationException`, which is
 * kept as a suppressed exception. [MynaKit.session] does this for you.
 */
suspend fun <R> CardSession.reportingInterruptedVerify(block: suspend CardSession.() -> R): R =
    try {
        block()
    } catch (e: CancellationException) {
        val pin = takeInterruptedVerify() ?: throw e
        throw MynaKitException.VerifyOutcomeUnknown(null, "cancelled while the card was checking the ${pin.name}")
            .apply { addSuppressed(e) }
    }

// PINs as CharArray: the app can wipe a CharArray, not a String. Each call
// below wipes the array (fills it with U+0000) when it returns or throws.
// The String made from it for the FFI call cannot be wiped by Kotlin (the
// Rust side wipes its own copy); keep it as short-lived as this.

private inline fun <R> CharArray.usedOnce(block: (String) -> R): R =
    try {
        block(String(this))
    } finally {
        fill('\u0000')
    }

/** [CardSession.verifyAuthPin] with the PIN as a [CharArray], wiped afterwards. */
suspend fun CardSession.verifyAuthPin(pin: CharArray, allowLastTry: Boolean = false) =
    pin.usedOnce { verifyAuthPin(it, allowLastTry) }

/** [CardSession.verifySigningPassword] with the password as a [CharArray], wiped afterwards. */
suspend fun CardSession.verifySigningPassword(password: CharArray, allowLastTry: Boolean = false) =
    password.usedOnce { verifySigningPassword(it, allowLastTry) }

/** [CardSession.signWithAuthKey] with the PIN as a [CharArray], wiped afterwards. */
suspend fun CardSession.signWithAuthKey(pin: CharArray, message: ByteArray, allowLastTry: Boolean = false): ByteArray =
    pin.usedOnce { signWithAuthKey(it, message, allowLastTry) }

/** [CardSession.signWithSigningKey] with the password as a [CharArray], wiped afterwards. */
suspend fun CardSession.signWithSigningKey(password: CharArray, message: ByteArray, allowLastTry: Boolean = false): ByteArray =
    password.usedOnce { signWithSigningKey(it, message, allowLastTry) }

/** [CardSession.readSigningCertificate] with the password as a [CharArray], wiped afterwards. */
suspend fun CardSession.readSigningCertificate(password: CharArray, allowLastTry: Boolean = false): Certificate =
    password.usedOnce { readSigningCertificate(it, allowLastTry) }

/** [CardSession.readBasicInfo] with the PIN as a [CharArray], wiped afterwards. */
suspend fun CardSession.readBasicInfo(pin: CharArray, allowLastTry: Boolean = false): BasicInfo =
    pin.usedOnce { readBasicInfo(it, allowLastTry) }

/** [CardSession.readMyNumber] with the PIN as a [CharArray], wiped afterwards. */
suspend fun CardSession.readMyNumber(pin: CharArray, allowLastTry: Boolean = false): String =
    pin.usedOnce { readMyNumber(it, allowLastTry) }

/** [CardSession.readCardFace] with the security code as a [CharArray], wiped afterwards. */
suspend fun CardSession.readCardFace(
    birthDateText: String,
    expiryText: String,
    securityCode: CharArray,
    allowLastTry: Boolean = false,
): CardFace = securityCode.usedOnce { readCardFace(birthDateText, expiryText, it, allowLastTry) }

/** Reads the user-authentication certificate (no PIN needed). */
suspend fun CardSession.readAuthCertificate(): Certificate = readCertificate(CertificateKind.AUTHENTICATION)

/**
 * Reads the authentication certificate and its CA certificate and checks the
 * chain against [anchors]; returns the certificate and the anchor it ends in.
 * Throws [MynaKitException.Untrusted] when no anchor issued it.
 */
suspend fun CardSession.readTrustedAuthCertificate(anchors: TrustAnchors): Pair<Certificate, TrustedAnchor> {
    val certificate = readAuthCertificate()
    val ca = readCertificate(CertificateKind.AUTHENTICATION_CA)
    return certificate to anchors.verify(certificate, CertificateRole.AUTHENTICATION, listOf(ca))
}

/** Start of validity. */
val Certificate.notBefore: Instant get() = Instant.ofEpochSecond(notBeforeUnix)

/** End of validity. */
val Certificate.notAfter: Instant get() = Instant.ofEpochSecond(notAfterUnix)

/** The expiry state at [at] (default now), in the insurers' terms, computed from the DER. */
fun Certificate.expiryAt(at: Instant = Instant.now()): CertificateExpiry = certificateExpiry(this, at.epochSecond)

/** True when [signature] is this certificate's key's signature over SHA-256 of [message]. */
fun Certificate.verifies(message: ByteArray, signature: ByteArray): Boolean = verifySignature(this, message, signature)

/** This date as a [LocalDate]. */
fun CalendarDate.toLocalDate(): LocalDate = LocalDate.of(year, month.toInt(), day.toInt())

/** Tries left, or null when the card reports the PIN verified; 0 when blocked. */
val PinState.triesLeft: Int?
    get() = when (this) {
        is PinState.TriesLeft -> tries.toInt()
        PinState.Verified -> null
        PinState.Blocked -> 0
    }

/**
 * True for failures the user fixes by holding the card to the phone again
 * (the card moved away or the link broke); the app then opens a new session.
 * A lost PIN check ([MynaKitException.VerifyOutcomeUnknown]) is not one of
 * them: read the PIN state first, never resend the PIN on your own.
 */
val MynaKitException.isTapAgain: Boolean
    get() = this is MynaKitException.CardRemoved || this is MynaKitException.LinkFailed
