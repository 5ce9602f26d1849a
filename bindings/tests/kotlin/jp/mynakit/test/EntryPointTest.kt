package jp.mynakit.test

import jp.mynakit.CalendarDate
import jp.mynakit.CardSession
import jp.mynakit.ExpiryState
import jp.mynakit.LinkCapabilities
import jp.mynakit.MynaKit
import jp.mynakit.MynaKitException
import jp.mynakit.PinKind
import jp.mynakit.PinState
import jp.mynakit.expiryAt
import jp.mynakit.isTapAgain
import jp.mynakit.notAfter
import jp.mynakit.notBefore
import jp.mynakit.readAuthCertificate
import jp.mynakit.readTrustedAuthCertificate
import jp.mynakit.toLocalDate
import jp.mynakit.triesLeft
import jp.mynakit.verifies
import java.time.LocalDate
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Rule
import org.junit.Test
import org.junit.rules.Timeout

/** The hand-written Kotlin entry point (android/src/main/kotlin/jp/mynakit/MynaKit.kt). */
class EntryPointTest {
    @get:Rule val timeout: Timeout = Timeout.seconds(60)

    @Test fun sessionRunsTheBlockAndClosesTheSession() = runBlocking {
        Rig().use { rig ->
            var inside: CardSession? = null
            val cert = MynaKit.session(rig.transport) {
                inside = this
                readAuthCertificate()
            }
            assertArrayEquals(rig.card.authCertificateDer(), cert.der)
            expectThrows<IllegalStateException> { inside!!.transcriptStats() }
            Unit
        }
    }

    @Test fun sessionClosesTheSessionWhenTheBlockThrows() = runBlocking {
        Rig().use { rig ->
            var inside: CardSession? = null
            expectThrows<MynaKitException.WrongPin> {
                MynaKit.session(rig.transport) {
                    inside = this
                    verifyAuthPin("0000")
                }
            }
            expectThrows<IllegalStateException> { inside!!.transcriptStats() }
            Unit
        }
    }

    @Test fun isoDepCapabilitiesUseExtendedLengthOnlyWithRoomForIt() {
        assertEquals(LinkCapabilities(true, 65_279u), MynaKit.isoDepCapabilities(true, 65_279))
        assertEquals(LinkCapabilities(false, 261u), MynaKit.isoDepCapabilities(true, 261))
        assertEquals(LinkCapabilities(false, 65_279u), MynaKit.isoDepCapabilities(false, 65_279))
        assertEquals(LinkCapabilities(false, 0u), MynaKit.isoDepCapabilities(true, -1))
    }

    @Test fun trustedAuthCertificateChecksTheChain() = runBlocking {
        Rig().use { rig ->
            val anchors = MynaKit.trustAnchors(*rig.card.anchorCertificates().toTypedArray())
            val (cert, anchor) = MynaKit.session(rig.transport) { readTrustedAuthCertificate(anchors) }
            assertArrayEquals(rig.card.authCertificateDer(), cert.der)
            assertTrue(anchor.subject.isNotEmpty())
            val production = MynaKit.trustAnchors()
            expectThrows<MynaKitException.Untrusted> { MynaKit.session(rig.transport) { readTrustedAuthCertificate(production) } }
            Unit
        }
    }

    @Test fun certificateHelpers() = runBlocking {
        Rig().use { rig ->
            val cert = MynaKit.session(rig.transport) { readAuthCertificate() }
            assertEquals(cert.notBeforeUnix, cert.notBefore.epochSecond)
            assertEquals(cert.notAfterUnix, cert.notAfter.epochSecond)
            assertEquals(ExpiryState.VALID, cert.expiryAt(cert.notBefore.plusSeconds(1)).state)
            assertEquals(ExpiryState.NOT_YET_VALID, cert.expiryAt(cert.notBefore.minusSeconds(1)).state)
            val message = byteArrayOf(9, 8, 7)
            val signature = MynaKit.session(rig.transport) { signWithAuthKey(Sandbox.PIN, message) }
            assertTrue(cert.verifies(message, signature))
            assertFalse(cert.verifies(byteArrayOf(), signature))
        }
    }

    @Test fun valueHelpers() {
        assertEquals(LocalDate.of(1985, 6, 15), CalendarDate(1985, 6u, 15u).toLocalDate())
        assertEquals(2, PinState.TriesLeft(2u).triesLeft)
        assertEquals(0, PinState.Blocked.triesLeft)
        assertNull(PinState.Verified.triesLeft)
        assertTrue(MynaKitException.CardRemoved().isTapAgain)
        assertTrue(MynaKitException.LinkFailed("x").isTapAgain)
        assertFalse(MynaKitException.VerifyOutcomeUnknown(null, "lost").isTapAgain)
        assertFalse(MynaKitException.WrongPin(2u).isTapAgain)
    }

    @Test fun pinStatusThroughTheEntryPoint() = runBlocking {
        Rig().use { rig ->
            assertEquals(3, MynaKit.session(rig.transport) { pinStatus(PinKind.AUTH_PIN) }.triesLeft)
        }
    }
}
