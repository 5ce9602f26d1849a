package jp.mynakit.test

import java.io.File
import java.nio.file.Files
import jp.mynakit.CertificateState
import jp.mynakit.ConsentRequestState
import jp.mynakit.ConsentState
import jp.mynakit.DataItem
import jp.mynakit.OkHttpAuthorityLink
import jp.mynakit.PinKind
import jp.mynakit.Portal
import jp.mynakit.PortalException
import jp.mynakit.PortalRefusal
import jp.mynakit.VirtualCard
import jp.mynakit.VirtualLinkSwitches
import jp.mynakit.isRetryable
import kotlinx.coroutines.runBlocking
import okhttp3.MediaType.Companion.toMediaType
import okhttp3.Request
import okhttp3.RequestBody.Companion.toRequestBody
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/**
 * The portal app from Kotlin (issue 10), as a phone lives it: [Portal] over
 * [OkHttpAuthorityLink] against the reference portal served on real
 * loopback HTTP (`mynakit sandbox serve`), the sandbox virtual card behind
 * a Kotlin transport, and the JDK secure area. Login with the card (P2),
 * the terms (P7) and the health-insurance registration (P1, P3), and
 * consents for the sample service (S1).
 */
@Timeout(180)
class PortalLifecycleTest {
    private val dir: File = Files.createTempDirectory("mynakit-portal-life").toFile()

    @AfterEach fun cleanUp() {
        dir.deleteRecursively()
    }

    private val http = OkHttpAuthorityLink.defaultClient()

    /** POST [body] (JSON) to [url] on the served sandbox, as a service or the sandbox's admin would: status and body. */
    private fun post(url: String, body: String): Pair<Int, String> {
        val request = Request.Builder()
            .url(url)
            .header("Idempotency-Key", jp.mynakit.newIdempotencyKey())
            .post(body.toRequestBody("application/json".toMediaType()))
            .build()
        return http.newCall(request).execute().use { it.code to it.body.string() }
    }

    /** GET [url]: status and body. */
    private fun get(url: String): Pair<Int, String> =
        http.newCall(Request.Builder().url(url).get().build()).execute().use { it.code to it.body.string() }

    /** A string field of a JSON object (the tests need no JSON library for this). */
    private fun field(json: String, name: String): String =
        Regex("\"$name\"\\s*:\\s*\"([^\"]*)\"").find(json)?.groupValues?.get(1)
            ?: throw AssertionError("no $name in $json")

    /** The sample service asks the holder for [items] (S1): the request's id. */
    private fun serviceAsks(served: ServedSandbox, items: List<String>, retentionDays: Int = 30): String {
        val body = """{"items":[${items.joinToString(",") { "\"$it\"" }}],"purpose":"健康管理アプリでの表示","retention_days":$retentionDays}"""
        val (status, answer) = post("${served.baseUrl}/v1/services/sample-health-app/consent-requests", body)
        assertEquals(201, status, "the sample service's request: $answer")
        return field(answer, "request_id")
    }

    /** P2: one login with the card over [transport]; every step as the app makes it. */
    private suspend fun login(portal: Portal, transport: ForwardingTransport) = portal.run {
        val flow = beginLogin()
        assertFalse(flow.tapped())
        tap(flow, transport, Sandbox.PIN.toCharArray())
        assertTrue(flow.tapped())
        finishLogin(flow).also {
            // The flow is spent: a second finish is out of order, not a second login.
            expectThrows<PortalException.OutOfOrder> { finishLogin(flow) }
        }
    }

    @Test fun p2_p7_p1_s1_loginRegisterAndConsentOverLoopbackHttp(): Unit = runBlocking {
        ServedSandbox().use { served ->
            val card = VirtualCard()
            val transport = ForwardingTransport(card.link(VirtualLinkSwitches()))
            Portal(served.baseUrl, File(dir, "phone.db"), JdkSecureArea()).use { portal ->
                // Nothing works before the login.
                expectThrows<PortalException.LoginRequired> { portal.insuranceStatus() }

                // P2: one tap, one VERIFY of the authentication PIN, the card signs the challenge.
                val session = login(portal, transport)
                assertEquals(1, transport.sent.count { isVerifyWithData(it) }, "one PIN try spent")
                assertTrue(session.subject.isNotEmpty())
                assertEquals(CertificateState.VALID, session.certificate.state)
                assertEquals(1.toUByte(), session.certificate.expiryFlag)
                assertTrue(session.accessExpiresAt.isAfter(session.loggedInAt))
                assertTrue(session.refreshExpiresAt.isAfter(session.accessExpiresAt))
                assertEquals(session.subject, portal.session()?.subject)
                assertEquals(session.certificate, portal.certificateStanding())
                // The access token renews without the card; the subject stays.
                assertEquals(session.subject, portal.refreshSession().subject)

                // P7: registration needs the terms in force agreed; the error names the version.
                val terms = portal.terms()
                assertFalse(terms.agreedToCurrent, "a new holder has agreed to nothing: $terms")
                val notAgreed = expectThrows<PortalException.TermsNotAgreed> {
                    portal.registerInsurance(terms.current.version)
                }
                assertEquals(terms.current.version, notAgreed.current)
                assertFalse(portal.insuranceStatus().registered, "nothing registered without the terms")
                val agreement = portal.acceptTerms(terms.current.version)
                assertEquals(terms.current.version, agreement.version)
                assertEquals(agreement, portal.recordedTermsAgreement(), "P7: version and time recorded on the phone")
                assertTrue(portal.terms().agreedToCurrent)

                // P1 method 2: registered, on the certificate used to log in (P3).
                val registered = portal.registerInsurance(terms.current.version)
                assertTrue(registered.registered)
                assertNotNull(registered.registeredOn)
                assertNull(registered.releaseReason)
                assertEquals(session.certificate.validUntil, registered.certificate.validUntil)
                val insured = registered.insuredCard ?: throw AssertionError("the sample holder's insurer record")
                // The sandbox insurer's record of the sample holder (sandbox/src/portal/insurance.rs).
                assertEquals("06139901", insured.insurerNumber)
                assertTrue(insured.number.isNotEmpty() && insured.branch.length == 2, "the insured card's number and branch")
                assertEquals(registered, portal.insuranceStatus())
                val again = expectThrows<PortalException.Refused> { portal.registerInsurance(terms.current.version) }
                assertEquals(PortalRefusal.ALREADY_REGISTERED, again.refusal)

                // S1: the sample service asks; the holder sees what, why and how long, and grants part of it.
                val requestId = serviceAsks(served, listOf("insured_card", "certificate_validity"))
                val request = portal.consentRequest(requestId)
                assertEquals("sample-health-app", request.serviceId)
                assertEquals(setOf(DataItem.INSURED_CARD, DataItem.CERTIFICATE_VALIDITY), request.items.toSet())
                assertEquals(30u, request.retentionDays)
                assertEquals(ConsentRequestState.PENDING, request.state)
                val notAsked = expectThrows<PortalException.Refused> {
                    portal.grantConsent(requestId, listOf(DataItem.INSURANCE_REGISTRATION))
                }
                assertEquals(PortalRefusal.ITEMS_NOT_REQUESTED, notAsked.refusal)
                val consent = portal.grantConsent(requestId, listOf(DataItem.CERTIFICATE_VALIDITY))
                assertEquals(ConsentState.ACTIVE, consent.state)
                assertEquals(listOf(DataItem.CERTIFICATE_VALIDITY), consent.items)
                assertEquals(request.purpose, consent.purpose)
                assertEquals(ConsentRequestState.GRANTED, portal.consentRequest(requestId).state)
                assertEquals(listOf(consent.consentId), portal.consents().map { it.consentId })
                // The service holds only what was granted.
                val (kept, data) = get("${served.baseUrl}/v1/services/sample-health-app/data/${consent.consentId}")
                assertEquals(200, kept, data)
                assertTrue(data.contains("certificate_validity"), data)
                assertFalse(data.contains("insured_card"), "an item not granted reached the service: $data")

                // S1: withdrawn, the service may fetch nothing more.
                val withdrawn = portal.withdrawConsent(consent.consentId)
                assertEquals(ConsentState.WITHDRAWN, withdrawn.state)
                assertNotNull(withdrawn.withdrawnAt)
                assertEquals(410, get("${served.baseUrl}/v1/services/sample-health-app/data/${consent.consentId}").first)

                // S1: a refused request gives the service nothing and cannot be granted afterwards.
                val second = serviceAsks(served, listOf("insurance_registration"))
                assertEquals(ConsentRequestState.REFUSED, portal.refuseConsent(second).state)
                val late = expectThrows<PortalException.Refused> {
                    portal.grantConsent(second, listOf(DataItem.INSURANCE_REGISTRATION))
                }
                assertEquals(PortalRefusal.CONSENT_NOT_IN_FORCE, late.refusal)
                assertEquals(1, portal.consents().size)

                // Logged out: the card is needed again.
                portal.logout()
                assertNull(portal.session())
                expectThrows<PortalException.LoginRequired> { portal.consents() }
            }
        }
    }

    @Test fun p6_aLoginStoppedByTheLimitResumesWithTheSameFlowWithoutAnotherTap(): Unit = runBlocking {
        ServedSandbox().use { served ->
            val card = VirtualCard()
            val transport = ForwardingTransport(card.link(VirtualLinkSwitches()))
            Portal(served.baseUrl, File(dir, "phone.db"), JdkSecureArea()).use { portal ->
                val flow = portal.beginLogin()
                portal.tap(flow, transport, Sandbox.PIN.toCharArray())
                val (limited, limit) = post("${served.baseUrl}/v1/sandbox/portal/limit", """{"length":"10m"}""")
                assertEquals(200, limited, limit)
                val e = expectThrows<PortalException.RateLimited> { portal.finishLogin(flow) }
                val wait = e.retryAfterSeconds ?: throw AssertionError("P6: the portal says how long to wait")
                assertTrue(wait in 1uL..600uL, "Retry-After $wait s")
                assertTrue(e.isRetryable)
                assertNull(portal.session(), "no session from a refused step")
                // The limit ends; the same flow finishes: no second tap, no second PIN try.
                assertEquals(200, post("${served.baseUrl}/v1/sandbox/portal/limit", """{"length":"0s"}""").first)
                val session = portal.finishLogin(flow)
                assertEquals(session.subject, portal.session()?.subject)
                assertEquals(1, transport.sent.count { isVerifyWithData(it) }, "one PIN try for the whole login")
            }
        }
    }

    @Test fun p2_withOneTryLeftTheLastTryIsNotSpentWithoutConsent(): Unit = runBlocking {
        ServedSandbox().use { served ->
            val card = VirtualCard()
            val transport = ForwardingTransport(card.link(VirtualLinkSwitches()))
            Portal(served.baseUrl, File(dir, "phone.db"), JdkSecureArea()).use { portal ->
                // Two wrong PINs leave one try of the authentication PIN's three.
                for (tries in listOf(2, 1)) {
                    val flow = portal.beginLogin()
                    val wrong = expectThrows<PortalException.WrongPin> { portal.tap(flow, transport, "9999".toCharArray()) }
                    assertEquals(tries.toUByte(), wrong.triesLeft)
                    assertFalse(flow.tapped())
                }
                val flow = portal.beginLogin()
                val verifies = transport.sent.count { isVerifyWithData(it) }
                expectThrows<PortalException.LastTry> { portal.tap(flow, transport, Sandbox.PIN.toCharArray()) }
                assertEquals(verifies, transport.sent.count { isVerifyWithData(it) }, "the last try was not sent")
                // The user confirms: the right PIN logs in and the counter is back to three.
                portal.tap(flow, transport, Sandbox.PIN.toCharArray(), allowLastTry = true)
                assertTrue(portal.finishLogin(flow).subject.isNotEmpty())
                assertEquals(3.toUByte(), card.triesLeft(PinKind.AUTH_PIN))
            }
        }
    }
}
