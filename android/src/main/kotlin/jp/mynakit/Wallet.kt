package jp.mynakit

// Plain Kotlin (no android.* import): tested on the desktop JVM against the
// served sandbox issuer over loopback HTTP (scripts/suites/kotlin.sh).

import java.io.File
import java.time.Instant
import okhttp3.OkHttpClient

/**
 * The card-substitute wallet (issue 9): the holder's card information as an
 * ISO 18013-5 mdoc signed by the issuer, bound to a key in the phone's
 * secure area that asks the user before every use (W1, W10).
 *
 * ```
 * val area = AndroidKeystoreSecureArea(context) { op -> showBiometricPrompt(op) }
 * val wallet = Wallet("https://issuer.example", File(filesDir, "mynakit.db"), area)
 * val application = wallet.beginApplication()          // nonce; the device key (W10)
 * wallet.tap(application, IsoDepTransport(isoDep), cardInfoPin, signingPassword)   // one tap (W2)
 * val record = wallet.submitApplication(application)    // one prompt; the issuer checks (W3, W4)
 * val response = wallet.present(record.recordId, listOf("age_over_20"), sessionTranscript)   // prompt (W10)
 * val report = wallet.refresh()                         // re-issue without the card (W6), notices
 * ```
 *
 * Every network step is a `suspend` call; failures are [WalletException]
 * cases, flat for a `when` (`RecordInForce` W3, `ReapplyWithCard` W6,
 * `RecordNotUsable`, `UserCancelled`, `AuthorityUnavailable` W12, …).
 * After a failure [isRetryable] says may pass later, call the same step
 * again: the request goes under the same idempotency key, so the issuer
 * never makes a second record. Secrets are taken as [CharArray]s, wiped
 * when the call returns; the String UniFFI passes to Rust is a copy the JVM
 * cannot wipe.
 */
class Wallet(private val client: WalletClient) : AutoCloseable {
    /**
     * A wallet of the issuer at [baseUrl] over [OkHttpAuthorityLink], with
     * the phone's store in [storeFile] and the keys in [secureArea].
     */
    constructor(
        baseUrl: String,
        storeFile: File,
        secureArea: SecureArea,
        httpClient: OkHttpClient = OkHttpAuthorityLink.defaultClient(),
    ) : this(WalletClient(OkHttpAuthorityLink(baseUrl, httpClient), baseUrl.trimEnd('/'), storeFile.path, secureArea))

    /** The issuer's time as last seen. */
    fun now(): Instant = client.now()

    /** Step 1: the issuer's nonce and a new device key (W10); refused while a record is in force (W3). */
    suspend fun beginApplication(): WalletApplication = client.beginApplication()

    /**
     * Step 2, the one tap (W2): the card-info PIN (4 digits) and the signing
     * password; both arrays are wiped afterwards. A secret with one try
     * left is not spent without [WalletApplication.allowLastTry].
     */
    suspend fun tap(
        application: WalletApplication,
        transport: CardTransport,
        cardInfoPin: CharArray,
        signingPassword: CharArray,
    ) = cardInfoPin.wiped { pin ->
        signingPassword.wiped { password -> client.tap(application, transport, pin, password) }
    }

    /** Step 3: the device key signs (one prompt) and the issuer issues; the record is kept sealed. */
    suspend fun submitApplication(application: WalletApplication): WalletRecord = client.submitApplication(application)

    /** Sends again applications sent without a final answer before the app stopped. */
    suspend fun resumeApplications(): List<WalletRecord> = client.resumeApplications()

    /** The records on this phone, newest first, offline. */
    fun records(): List<WalletRecord> = client.records()

    /** One record, offline. */
    fun record(recordId: String): WalletRecord = client.record(recordId)

    /** The record's elements for the holder's own screen (personal data: never log). */
    suspend fun recordElements(recordId: String): List<RecordElement> = client.recordElements(recordId)

    /**
     * A `DeviceResponse` (CBOR) with only [elements] (`namespace/identifier`
     * or the identifier), signed over the verifier's [sessionTranscript]
     * after the user's authentication (W10); the use is counted (W6(3)).
     */
    suspend fun present(recordId: String, elements: List<String>, sessionTranscript: ByteArray): ByteArray =
        client.present(recordId, elements, sessionTranscript)

    /** The issuer's word on the records, re-issue when due (W6), notices. */
    suspend fun refresh(): RefreshReport = client.refresh()

    /** Stops the record for good (W7(2), (3)); one prompt. */
    suspend fun revoke(recordId: String): WalletRecord = client.revoke(recordId)

    /** The holder's notices and the public ones (W8, W9), fetched now. */
    suspend fun notices(): Notices = client.notices()

    /** The holder's notices kept from the last fetch, offline. */
    fun keptNotices(): List<Notice> = client.keptNotices()

    /** The status list token at [uri], fetched or reused within its ttl; null: undetermined, never "revoked". */
    suspend fun statusList(uri: String): ByteArray? = client.statusList(uri)

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
 * Whether calling the same step again later may succeed (the issuer
 * unreachable or slow, W12; 429; 503; a damaged answer; a tap interrupted).
 * Never for a refusal. The core decides (one rule for Kotlin and Swift).
 */
val WalletException.isRetryable: Boolean
    get() = walletErrorIsRetryable(this)
