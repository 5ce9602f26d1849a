package jp.mynakit

// Plain Kotlin on purpose: no android.* import here, so this file is compiled
// and tested on a desktop JVM (scripts/suites/kotlin.sh) together with the
// generated bindings. IsoDepTransport.kt holds the only Android code.

import java.time.Instant
import java.time.LocalDate

/**
 * The Kotlin entry point to MynaKit.
 *
 * ```
 * val signature = MynaKit.session(IsoDepTransport(isoDep)) {
 *     signWithAuthKey(pin, challenge)
 * }
 * ```
 *
 * Every card operation is a `suspend` method of [CardSession]; failures are
 * [MynaKitException] subclasses (`WrongPin`, `PinBlocked`,
 * `LastTryNeedsConfirmation`, `VerifyOutcomeUnknown`, `CardRemoved`, …).
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
    suspend fun <R> session(transport: CardTransport, block: suspend CardSession.() -> R): R =
        CardSession(transport).use { it.block() }

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
}

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

/** The expiry state at [at] (default now), in the insurers' terms. */
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
