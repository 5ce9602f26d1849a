package jp.mynakit

// Plain Kotlin (no android.* import): tested on the desktop JVM against the
// served sandbox portal over loopback HTTP (scripts/suites/kotlin.sh).

import java.io.File
import java.time.Instant
import okhttp3.OkHttpClient

/**
 * The Mynaportal-style app (issue 10): log in with the card's
 * authentication key (P2), then the portal's features with that session:
 * the terms (P7), the health-insurance registration (P1, P3, §6), consents
 * for the self-information API (S1) and agents (P5).
 *
 * ```
 * val portal = Portal("https://portal.example", File(filesDir, "mynakit.db"), AndroidKeystoreSecureArea(context))
 * val flow = portal.beginLogin()                                  // the portal's challenge (PKCE, state, nonce)
 * portal.tap(flow, IsoDepTransport(isoDep), authPin)              // one tap: certificate, PIN, signature
 * val session = portal.finishLogin(flow)                          // tokens kept sealed; session.certificate
 * val terms = portal.terms()
 * if (!terms.agreedToCurrent) portal.acceptTerms(terms.current.version)   // after showing them (P7)
 * val status = portal.registerInsurance(terms.current.version)   // P1 method 2
 * val request = portal.consentRequest(idFromTheServicesLink)      // S1: what, why, how long
 * val consent = portal.grantConsent(request.requestId, request.items)
 * ```
 *
 * Every network step is a `suspend` call; failures are [PortalException]
 * cases, flat for a `when` (`LoginRequired`, `TermsNotAgreed` with the
 * version in force, `LastTry`, `RateLimited`/`OutOfService` with the wait in
 * seconds (P6), `Refused` with its kind, …). After a failure that
 * [isRetryable] says may pass later, call the same step again: a
 * state-changing request goes under the same idempotency key, so the
 * portal never acts twice. The PIN is taken as a [CharArray], wiped when
 * the call returns; the String UniFFI passes to Rust is a copy the JVM
 * cannot wipe.
 */
class Portal(private val client: PortalClient) : AutoCloseable {
    /**
     * A client of the portal at [baseUrl] (also its issuer identifier, the
     * ID token's `iss`) over [OkHttpAuthorityLink], with the phone's store in
     * [storeFile] and the vault's key in [secureArea].
     */
    constructor(
        baseUrl: String,
        storeFile: File,
        secureArea: SecureArea,
        httpClient: OkHttpClient = OkHttpAuthorityLink.defaultClient(),
    ) : this(PortalClient(OkHttpAuthorityLink(baseUrl, httpClient), baseUrl.trimEnd('/'), storeFile.path, secureArea))

    /** The portal's time as last seen. */
    fun now(): Instant = client.now()

    // ---- login (P2) ----

    /** Step 1: the portal's challenge for a fresh PKCE verifier, `state` and `nonce`. */
    suspend fun beginLogin(): LoginFlow = client.beginLogin()

    /**
     * Step 2, the one tap: the authentication certificate, the 4-digit
     * authentication PIN (the array is wiped afterwards) and the card's
     * signature over the challenge. With one try left nothing is sent unless
     * [allowLastTry] (the user confirmed after [PortalException.LastTry]).
     */
    suspend fun tap(flow: LoginFlow, transport: CardTransport, pin: CharArray, allowLastTry: Boolean = false) =
        pin.wipedPin { text -> client.tap(flow, transport, text, allowLastTry) }

    /**
     * Step 3: the proof sent, the code exchanged, the ID token checked, the
     * session kept sealed. After a failure [isRetryable] says may pass (no
     * answer, 429, 503: P6), call it again with the same [flow]: it resumes
     * without another tap. A finished flow is [PortalException.OutOfOrder].
     */
    suspend fun finishLogin(flow: LoginFlow): Session = client.finishLogin(flow)

    /** The session kept on this phone, or null (offline). */
    suspend fun session(): Session? = client.session()

    /** The authentication certificate's standing as of the last login (app-protocols §7, §6 flag), offline. */
    suspend fun certificateStanding(): CertificateStanding = client.certificateStanding()

    /** Renews the access token now (the calls do it by themselves); a refused refresh is [PortalException.LoginRequired]. */
    suspend fun refreshSession(): Session = client.refreshSession()

    /** Forgets the session on this phone. */
    suspend fun logout() = client.logout()

    /** P5: act for the holder who granted [grantId] on every later call, or for oneself with null. */
    fun actOnBehalfOf(grantId: String?) = client.actOnBehalfOf(grantId)

    // ---- terms (P7) ----

    /** The terms in force and the holder's last agreement. */
    suspend fun terms(): TermsState = client.terms()

    /** Agrees to [version] (the one the holder was shown); also recorded on the phone. */
    suspend fun acceptTerms(version: String): TermsAgreement = client.acceptTerms(version)

    /** The agreement this phone recorded last, or null (offline). */
    fun recordedTermsAgreement(): TermsAgreement? = client.recordedTermsAgreement()

    // ---- health insurance (P1, P3, §6) ----

    /** The holder's registration as the insurer sees it (the insured card is personal data: never log). */
    suspend fun insuranceStatus(): InsuranceStatus = client.insuranceStatus()

    /** P1 method 2: registers the card as the health-insurance card; needs the terms in force agreed (P7). */
    suspend fun registerInsurance(termsVersion: String): InsuranceStatus = client.registerInsurance(termsVersion)

    /** Releases the registration at the holder's request (§6 reason 1). */
    suspend fun releaseInsurance(): InsuranceStatus = client.releaseInsurance()

    // ---- consents (S1) ----

    /** A service's request, as the holder is asked about it. */
    suspend fun consentRequest(requestId: String): ConsentRequest = client.consentRequest(requestId)

    /** Grants [items] (a subset of those asked) for the request's purpose and retention. */
    suspend fun grantConsent(requestId: String, items: List<DataItem>): Consent = client.grantConsent(requestId, items)

    /** Refuses the request; the service gets nothing. */
    suspend fun refuseConsent(requestId: String): ConsentRequest = client.refuseConsent(requestId)

    /** Every consent the holder gave, newest first. */
    suspend fun consents(): List<Consent> = client.consents()

    /** Withdraws a consent: the service may fetch nothing more and deletes what it kept. */
    suspend fun withdrawConsent(consentId: String): Consent = client.withdrawConsent(consentId)

    // ---- agents (P5) ----

    /** The holder's delegations. */
    suspend fun agents(): List<AgentGrant> = client.agents()

    /** Delegates [scopes] to an agent named [label]; the answer carries the one-time invitation code. */
    suspend fun addAgent(label: String, scopes: List<AgentScope>): AgentGrant = client.addAgent(label, scopes)

    /** Changes what the agent may do, at once. */
    suspend fun changeAgent(grantId: String, scopes: List<AgentScope>): AgentGrant = client.changeAgent(grantId, scopes)

    /** Ends the delegation, at once. */
    suspend fun removeAgent(grantId: String): AgentGrant = client.removeAgent(grantId)

    /** The agent's side (logged in with the agent's own card): accepts an invitation; then [actOnBehalfOf]. */
    suspend fun acceptAgency(invitationCode: String): Agency = client.acceptAgency(invitationCode)

    /** The agent's side: the delegations this user holds. */
    suspend fun agencies(): List<Agency> = client.agencies()

    override fun close() = client.close()
}

/** Wipes the array (U+0000) when [block] returns or throws; see MynaKit.kt. */
private inline fun <R> CharArray.wipedPin(block: (String) -> R): R =
    try {
        block(String(this))
    } finally {
        fill('\u0000')
    }

/**
 * Whether calling the same step again later may succeed (the portal
 * unreachable or slow; 429 and 503, P6; a damaged answer; a tap
 * interrupted). Never for a refusal or a wrong PIN. The core decides (one
 * rule for Kotlin and Swift).
 */
val PortalException.isRetryable: Boolean
    get() = portalErrorIsRetryable(this)
