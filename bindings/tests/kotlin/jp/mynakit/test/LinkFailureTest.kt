package jp.mynakit.test

import jp.mynakit.CardSession
import jp.mynakit.CertificateKind
import jp.mynakit.MynaKitException
import jp.mynakit.PinKind
import jp.mynakit.PinState
import jp.mynakit.TransportFailure
import jp.mynakit.VirtualLinkSwitches
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/** The card pulled away, lost answers and broken links, as Kotlin exceptions. */
@Timeout(60)
class LinkFailureTest {
    @Test fun aCardRemovedMidReadIsCardRemovedAndTheSessionWorksAfterReinsertion() = runBlocking {
        Rig(switches = VirtualLinkSwitches(removeAtExchange = 2u)).use { rig ->
            expectThrows<MynaKitException.CardRemoved> { rig.session.readCertificate(CertificateKind.AUTHENTICATION) }
            expectThrows<MynaKitException.CardRemoved> { rig.session.pinStatus(PinKind.AUTH_PIN) }
            rig.link.reinsert()
            val sentBefore = rig.transport.sent.size
            val cert = rig.session.readCertificate(CertificateKind.AUTHENTICATION)
            assertArrayEquals(rig.card.authCertificateDer(), cert.der)
            // The card was powered up afresh: the session selects the application again.
            assertTrue(isSelectApplication(rig.transport.sent[sentBefore]))
        }
    }

    @Test fun aVerifyWhoseAnswerIsLostIsReportedAndTheSpentTryShowsAfterReinsertion() = runBlocking {
        // Exchange 3 is the VERIFY: SELECT, bare VERIFY, VERIFY.
        Rig(switches = VirtualLinkSwitches(removeAtExchange = 3u, removeAfterCard = true)).use { rig ->
            val e = expectThrows<MynaKitException.VerifyOutcomeUnknown> { rig.session.verifyAuthPin("9999") }
            assertNull(e.triesLeft)
            assertEquals(1u, rig.card.verifyCommandsReceived())
            rig.link.reinsert()
            assertEquals(PinState.TriesLeft(2u), rig.newSession().pinStatus(PinKind.AUTH_PIN))
        }
    }

    @Test fun aVerifyThatNeverReachedTheCardSpendsNothing() = runBlocking {
        Rig(switches = VirtualLinkSwitches(removeAtExchange = 3u, removeAfterCard = false)).use { rig ->
            expectThrows<MynaKitException.VerifyOutcomeUnknown> { rig.session.verifyAuthPin("9999") }
            assertEquals(3.toUByte(), rig.card.triesLeft(PinKind.AUTH_PIN))
            assertEquals(0u, rig.card.verifyCommandsReceived())
        }
    }

    @Test fun whenOnlyTheVerifyAnswerIsLostTheCounterIsReadBack() = runBlocking {
        Rig().use { rig ->
            rig.transport.intercept = { _, command ->
                if (isVerifyWithData(command)) {
                    rig.link.transmit(command) // the card acts…
                    throw TransportFailure.Timeout() // …and the answer is lost
                }
                null
            }
            val e = expectThrows<MynaKitException.VerifyOutcomeUnknown> { rig.session.signWithAuthKey("9999", byteArrayOf(1)) }
            assertEquals(2.toUByte(), e.triesLeft)
            assertTrue(e.detail.contains("in time"), e.detail)
            assertEquals(1, rig.transport.sent.count { isVerifyWithData(it) }, "never resent")
            assertEquals(0, rig.transport.sent.count { it[0] == 0x80.toByte() && it[1] == 0x2A.toByte() }, "no signature after a lost VERIFY")
        }
    }

    @Test fun transportFailuresMapToTheirCases() = runBlocking {
        Rig().use { rig ->
            rig.transport.intercept = { _, _ -> throw TransportFailure.Link("NFC stack error 42") }
            val link = expectThrows<MynaKitException.LinkFailed> { rig.session.cardStatus() }
            assertTrue(link.reason.contains("NFC stack error 42"), link.reason)
            rig.transport.intercept = { _, _ -> throw TransportFailure.NoCard() }
            expectThrows<MynaKitException.CardRemoved> { rig.session.cardStatus() }
            rig.transport.intercept = { _, _ -> throw TransportFailure.CardRemoved() }
            expectThrows<MynaKitException.CardRemoved> { rig.session.cardStatus() }
            rig.transport.intercept = null
            rig.session.cardStatus()
            Unit
        }
    }

    @Test fun anUndeclaredKotlinExceptionInTheTransportIsALinkFailure() = runBlocking {
        Rig().use { rig ->
            rig.transport.intercept = { _, _ -> throw IllegalStateException("NFC adapter off") }
            val e = expectThrows<MynaKitException.LinkFailed> { rig.session.pinStatus(PinKind.AUTH_PIN) }
            assertTrue(e.reason.contains("NFC adapter off"), e.reason)
        }
    }

    @Test fun aGarbledAnswerIsMalformedCardData() = runBlocking {
        Rig().use { rig ->
            rig.transport.intercept = { index, _ -> if (index == 0) byteArrayOf(0x90.toByte()) else null }
            expectThrows<MynaKitException.MalformedCardData> { rig.session.pinStatus(PinKind.AUTH_PIN) }
            rig.transport.intercept = { _, command -> if (command[1] == 0x20.toByte()) byteArrayOf(0x6A, 0x86.toByte()) else null }
            val e = expectThrows<MynaKitException.MalformedCardData> { rig.session.pinStatus(PinKind.AUTH_PIN) }
            assertTrue(e.reason.contains("6A86"), e.reason)
        }
    }

    @Test fun aSlowCardShowsInTheTranscript() = runBlocking {
        Rig(switches = VirtualLinkSwitches(answerDelayMillis = 25u)).use { rig ->
            rig.session.pinStatus(PinKind.AUTH_PIN)
            val stats = rig.session.transcriptStats()
            assertEquals(2u, stats.roundTrips)
            assertTrue(stats.elapsedMicros >= 50_000u, "${stats.elapsedMicros} µs")
        }
    }

    @Test fun aBlockingKotlinTransportWorksToo() = runBlocking {
        Rig().use { rig ->
            val blocking = ForwardingTransport(rig.link, blocking = true)
            CardSession(blocking).use { session ->
                assertArrayEquals(rig.card.authCertificateDer(), session.readCertificate(CertificateKind.AUTHENTICATION).der)
            }
        }
    }

    @Test fun theBenchmarkBaselinesAgreeWithTheKotlinPath() = runBlocking {
        Rig().use { rig ->
            val rust = rig.card.rustSession(VirtualLinkSwitches())
            assertArrayEquals(
                rig.session.readCertificate(CertificateKind.AUTHENTICATION).der,
                rust.readCertificate(CertificateKind.AUTHENTICATION).der,
            )
            assertEquals(rig.session.transcriptStats().roundTrips, rust.transcriptStats().roundTrips)
            assertTrue(rig.card.rustOnlyPinStatusNanos(10u) > 0u)
            rust.close()
        }
    }

    @Test fun removingTheCardByHandFailsEveryExchangeUntilReinserted() = runBlocking {
        Rig().use { rig ->
            rig.session.pinStatus(PinKind.AUTH_PIN)
            val before = rig.link.exchanges()
            rig.link.remove()
            expectThrows<MynaKitException.CardRemoved> { rig.session.pinStatus(PinKind.AUTH_PIN) }
            expectThrows<TransportFailure.CardRemoved> { rig.link.transmitBlocking(byteArrayOf(0, 0x20, 0, 0x98.toByte())) }
            assertEquals(before + 2u, rig.link.exchanges())
            rig.link.reinsert()
            assertEquals(PinState.TriesLeft(3u), rig.session.pinStatus(PinKind.AUTH_PIN))
        }
    }
}
