package jp.mynakit

// Plain Kotlin (no android.* import): tested on the desktop JVM against the
// served sandbox authority over loopback HTTP (scripts/suites/kotlin.sh).

import java.io.File
import java.time.Instant
import okhttp3.OkHttpClient

/**
 * The PIN-reset app's API (issue 8): reserve a reset of the signing
 * password or the 4-digit user-authentication PIN, which a kiosk finishes
 * within 24 hours (R5).
 *
 * ```
 * val reset = PinReset("https://reset.example", File(filesDir, "mynakit.db"), AndroidKeystoreSecureArea(context))
 * val flow = reset.begin(ResetKind.SIGNING_PASSWORD)
 * reset.tap(flow, IsoDepTransport(isoDep), "昭和60年6月15日生", "2035年6月15日まで有効", securityCode, pin)
 * showIsThisYou(flow.chipPhotoPng())
 * val prompt = reset.openFaceCheck(flow)          // R2; not for a PIN reset (R3)
 * val result = reset.submitCapture(flow, camera.capture(prompt.actions, reset::now))
 * val kept = reset.reserve(flow)                  // kept.timeLeft, kept.reservation.stores (R6)
 * ```
 *
 * Every step is a `suspend` call; failures are [ResetException] cases, flat
 * for a `when` (`WrongCheckCode`, `WrongPin`, `FaceCheckFailed`,
 * `AuthorityUnavailable`, `RateLimited`, `Refused`, …). After a failure
 * that [isRetryable] says may pass later, call the same step again: the
 * request goes with the same idempotency key, so nothing is created twice.
 * Secrets are taken as [CharArray]s, wiped when the call returns; the
 * String UniFFI passes to Rust is a copy the JVM cannot wipe.
 */
class PinReset(private val client: PinResetClient) : AutoCloseable {
    /**
     * A reset client of the authority at [baseUrl] over [OkHttpAuthorityLink],
     * with the phone's store in [storeFile] and the installation key in
     * [secureArea].
     */
    constructor(
        baseUrl: String,
        storeFile: File,
        secureArea: SecureArea,
        httpClient: OkHttpClient = OkHttpAuthorityLink.defaultClient(),
    ) : this(PinResetClient(OkHttpAuthorityLink(baseUrl, httpClient), baseUrl.trimEnd('/'), storeFile.path, secureArea))

    /** The authority's time as last seen: stamp camera frames with it. */
    fun now(): Instant = client.now()

    /** Step 1: what to reset; fetches the authority's challenge. */
    suspend fun begin(kind: ResetKind): ResetFlow = client.begin(kind)

    /**
     * Step 3, the one tap: the card front as read (birth date, expiry, the
     * security code) and the other secret (R4: the 4-digit PIN for a
     * signing-password reset, the signing password for a PIN reset). Both
     * arrays are wiped afterwards. A wrong card front spends no JPKI try.
     * If the coroutine is cancelled while the card checks a secret, whether
     * a try was counted is not reported: read the PIN state
     * ([CardSession.pinStatus]) before offering the secret again.
     */
    suspend fun tap(
        flow: ResetFlow,
        transport: CardTransport,
        birthDateText: String,
        expiryText: String,
        securityCode: CharArray,
        otherSecret: CharArray,
        allowLastTry: Boolean = false,
    ) = securityCode.wiped { code ->
        otherSecret.wiped { secret ->
            client.tap(flow, transport, birthDateText, expiryText, code, secret, allowLastTry)
        }
    }

    /** Step 4 (signing password only, R2): the liveness actions to ask for. */
    suspend fun openFaceCheck(flow: ResetFlow): FaceCheckPrompt = client.openFaceCheck(flow)

    /** The captured frames (neutral first, then per action, stamped with [now]); pass or fail only. */
    suspend fun submitCapture(flow: ResetFlow, frames: List<Frame>): CaptureResult = client.submitCapture(flow, frames)

    /** Step 5: the reservation, kept on the phone. */
    suspend fun reserve(flow: ResetFlow): KeptReservation = client.reserve(flow)

    /** The kept reservations, offline, with time left by the corrected clock. */
    fun reservations(): List<KeptReservation> = client.reservations()

    /** Asks the authority for this installation's reservations and keeps them. */
    suspend fun refresh(): List<KeptReservation> = client.refresh()

    /** Cancels reservation [id]. */
    suspend fun cancel(id: String): KeptReservation = client.cancel(id)

    override fun close() = client.close()
}

/** Wipes the array (U+0000) when [block] returns or throws; see MynaKit.kt. */
private inline fun <R> CharArray.wiped(block: (String) -> R): R =
    try {
        block(String(this))
    } finally {
        fill('\u0000')
    }

/**
 * Whether calling the same step again later may succeed: the authority
 * unreachable or slow, 429, 503, a lock-out that ends, a tap interrupted.
 * Never for a wrong secret or card front.
 */
val ResetException.isRetryable: Boolean
    get() = when (this) {
        is ResetException.AuthorityUnavailable, is ResetException.AuthorityTimeout,
        is ResetException.AnswerLost, is ResetException.AnswerGarbled, is ResetException.Cancelled,
        is ResetException.RateLimited, is ResetException.OutOfService,
        is ResetException.LockedOut, is ResetException.CardRemoved,
        is ResetException.CardLinkFailed -> true
        else -> false
    }
