package jp.mynakit.test

import java.io.File
import java.nio.file.Files
import jp.mynakit.OkHttpAuthorityLink
import jp.mynakit.Portal
import jp.mynakit.PortalClient
import jp.mynakit.PortalException
import jp.mynakit.VirtualCard
import jp.mynakit.VirtualLinkSwitches
import jp.mynakit.isRetryable
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/**
 * The portal app (issue 10) from Kotlin where no portal is needed: typed
 * failures when the portal cannot be reached or answers 429/503 (P6), and
 * the calls that need a session on a phone without one. The login,
 * registration and consents against the served portal are
 * [PortalLifecycleTest].
 */
@Timeout(60)
class PortalTest {
    private val dir: File = Files.createTempDirectory("mynakit-portal").toFile()

    @AfterEach fun cleanUp() {
        dir.deleteRecursively()
    }

    @Test fun anUnreachablePortalIsARetryableFailureAndNoLoginStarts(): Unit = runBlocking {
        Portal("http://127.0.0.1:${closedPort()}", File(dir, "phone.db"), JdkSecureArea()).use { portal ->
            val e = expectThrows<PortalException.AuthorityUnavailable> { portal.beginLogin() }
            assertTrue(e.isRetryable, "try again later")
            assertNull(portal.session())
        }
    }

    @Test fun withoutASessionEveryPortalCallAsksForTheCardAndSendsNothing(): Unit = runBlocking {
        RawServer { _, socket, _ -> RawServer.answer(socket, 500) }.use { server ->
            val link = OkHttpAuthorityLink(server.baseUrl)
            Portal(PortalClient(link, server.baseUrl, File(dir, "phone.db").path, JdkSecureArea())).use { portal ->
                assertNull(portal.session())
                assertNull(portal.recordedTermsAgreement())
                val e = expectThrows<PortalException.LoginRequired> { portal.insuranceStatus() }
                assertFalse(e.isRetryable)
                expectThrows<PortalException.LoginRequired> { portal.terms() }
                expectThrows<PortalException.LoginRequired> { portal.consents() }
                expectThrows<PortalException.LoginRequired> { portal.certificateStanding() }
                expectThrows<PortalException.LoginRequired> { portal.refreshSession() }
                assertTrue(server.requests.isEmpty(), "nothing is sent without a session: ${server.requests}")
            }
        }
    }

    @Test fun p6_aLimitAndAMaintenanceWindowAreRetryableWithTheWaitInSeconds(): Unit = runBlocking {
        RawServer { index, socket, _ ->
            if (index == 0) {
                RawServer.answer(socket, 429, listOf("Retry-After: 30", "Content-Type: application/json"), "{}")
            } else {
                RawServer.answer(socket, 503, listOf("Retry-After: 120"))
            }
        }.use { server ->
            Portal(server.baseUrl, File(dir, "phone.db"), JdkSecureArea()).use { portal ->
                val limited = expectThrows<PortalException.RateLimited> { portal.beginLogin() }
                assertEquals(30uL, limited.retryAfterSeconds)
                assertTrue(limited.isRetryable)
                val maintenance = expectThrows<PortalException.OutOfService> { portal.beginLogin() }
                assertEquals(120uL, maintenance.retryAfterSeconds)
                assertTrue(maintenance.isRetryable)
            }
        }
    }

    @Test fun p2_aBadPinFormatSpendsNoTryAndTouchesNoCard(): Unit = runBlocking {
        // The challenge a portal would give; the card is never reached.
        val challenge = """{"request_id":"r1","challenge":"${"ab".repeat(32)}","expires_at":"2099-01-01T00:00:00Z"}"""
        RawServer { _, socket, _ ->
            RawServer.answer(socket, 200, listOf("Content-Type: application/json"), challenge)
        }.use { server ->
            Portal(server.baseUrl, File(dir, "phone.db"), JdkSecureArea()).use { portal ->
                val flow = portal.beginLogin()
                assertFalse(flow.tapped())
                val card = VirtualCard()
                val transport = ForwardingTransport(card.link(VirtualLinkSwitches()))
                val pin = "12a4".toCharArray()
                expectThrows<PortalException.InvalidInput> { portal.tap(flow, transport, pin) }
                assertTrue(pin.all { it == '\u0000' }, "the PIN array is wiped")
                assertTrue(transport.sent.isEmpty(), "no APDU for a PIN that cannot be right")
                assertFalse(flow.tapped())
                // Finishing without the tap is out of order, and nothing is sent.
                val sentBefore = server.requests.size
                expectThrows<PortalException.OutOfOrder> { portal.finishLogin(flow) }
                assertEquals(sentBefore, server.requests.size)
            }
        }
    }
}
