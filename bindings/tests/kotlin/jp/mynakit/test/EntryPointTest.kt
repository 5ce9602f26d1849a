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
import jp.mynakit.readCardFace
import jp.mynakit.readSigningCertificate
import jp.mynakit.readTrustedAuthCertificate
import jp.mynakit.signWithAuthKey
import jp.mynakit.verifyAuthPin
import jp.mynakit.toLocalDate
import jp.mynakit.triesLeft
import jp.mynakit.verifies
import java.time.LocalDate
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/** The hand-written Kotlin entry point (android/src/main/kotlin/jp/mynakit/MynaKit.kt). */
@Timeout(60)
class EntryPointTest {
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

    @Test fun progressReportsTheStepsOfALongTap() = runBlocking {
        Rig().use { rig ->
            val steps = mutableListOf<Triple<Int, Int, String>>()
            val signature = MynaKit.session(rig.transport, MynaKit.progress { step, total, label -> steps += Triple(step, total, label) }) {
                signWithAuthKey(Sandbox.PIN, byteArrayOf(1))
            }
            assertEquals(256, signature.size)
            assertEquals(
                listOf(Triple(1, 4, "select"), Triple(2, 4, "pin-counter"), Triple(3, 4, "verify"), Triple(4, 4, "sign")),
                steps,
            )
            // Within one session a verified PIN is not sent again: the steps jump.
            steps.clear()
            MynaKit.session(rig.transport, MynaKit.progress { step, total, label -> steps += Triple(step, total, label) }) {
                verifyAuthPin(Sandbox.PIN)
                steps.clear()
                signWithAuthKey(Sandbox.PIN, byteArrayOf(2))
            }
            assertEquals(listOf(Triple(4, 4, "sign")), steps)
        }
    }

    @Test fun pinsGivenAsCharArraysAreWipedAfterUseEvenOnFailure() = runBlocking {
        Rig().use { rig ->
            val pin = Sandbox.PIN.toCharArray()
            MynaKit.session(rig.transport) { verifyAuthPin(pin) }
            assertTrue(pin.all { it == '\u0000' }, "wiped after success")
            val wrong = "0000".toCharArray()
            expectThrows<MynaKitException.WrongPin> { MynaKit.session(rig.transport) { signWithAuthKey(wrong, byteArrayOf(1)) } }
            assertTrue(wrong.all { it == '\u0000' }, "wiped after a failure")
            val password = Sandbox.SIGNING_PASSWORD.toCharArray()
            val cert = MynaKit.session(rig.transport) { readSigningCertificate(password) }
            assertTrue(cert.personalAttributes != null)
            assertTrue(password.all { it == '\u0000' })
            val code = Sandbox.FRONT_SECURITY_CODE.toCharArray()
            MynaKit.session(rig.transport) { readCardFace(Sandbox.FRONT_BIRTH_DATE, Sandbox.FRONT_EXPIRY, code) }
            assertTrue(code.all { it == '\u0000' })
        }
    }

    @Test fun pinStatusThroughTheEntryPoint() = runBlocking {
        Rig().use { rig ->
            assertEquals(3, MynaKit.session(rig.transport) { pinStatus(PinKind.AUTH_PIN) }.triesLeft)
        }
    }
}
