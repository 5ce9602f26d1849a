package jp.mynakit.test

import jp.mynakit.CertificateKind
import jp.mynakit.MynaKit
import jp.mynakit.MynaKitException
import jp.mynakit.PinKind
import jp.mynakit.PinState
import jp.mynakit.VirtualLinkSwitches
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/**
 * A coroutine cancelled while its VERIFY is at the card: the card may have
 * counted the try, so the app must hear "outcome unknown", never a plain
 * cancellation. Over the sandbox card, with the card acting on the VERIFY.
 */
@Timeout(60)
class CancellationTest {
    /** Lets the card act on each VERIFY with data, then hangs until cancelled (the answer never comes back). */
    private fun Rig.hangAfterTheCardCountsTheVerify(entered: CompletableDeferred<Unit>) {
        transport.intercept = { _, command ->
            if (isVerifyWithData(command)) {
                link.transmit(command) // the card counts the try
                entered.complete(Unit)
                CompletableDeferred<ByteArray>().await()
            } else {
                null
            }
        }
    }

    @Test fun aTimeoutAroundMynaKitSessionDuringVerifyIsVerifyOutcomeUnknown() = runBlocking {
        Rig().use { rig ->
            val entered = CompletableDeferred<Unit>()
            rig.hangAfterTheCardCountsTheVerify(entered)
            val e = expectThrows<MynaKitException.VerifyOutcomeUnknown> {
                withTimeout(500) { MynaKit.session(rig.transport) { verifyAuthPin("9999") } }
            }
            assertTrue(entered.isCompleted)
            assertNull(e.triesLeft)
            assertTrue(e.suppressed.any { it is CancellationException }, "the cancellation is kept as suppressed")
            // The try was counted: the app reads the state before asking again.
            rig.transport.intercept = null
            assertEquals(PinState.TriesLeft(2u), MynaKit.session(rig.transport) { pinStatus(PinKind.AUTH_PIN) })
        }
    }

    @Test fun aCancelledJobDuringSigningVerifyFailsWithVerifyOutcomeUnknown() = runBlocking {
        Rig().use { rig ->
            val entered = CompletableDeferred<Unit>()
            rig.hangAfterTheCardCountsTheVerify(entered)
            // Its own scope: the job's failure must not cancel the test.
            val job = CoroutineScope(Dispatchers.Default).async {
                MynaKit.session(rig.transport) { signWithSigningKey("WRONG1", byteArrayOf(1)) }
            }
            withTimeout(5_000) { entered.await() }
            job.cancel()
            // The job ends with the exception its block ended in, not a cancellation.
            val e = withTimeout(5_000) { runCatching { job.await() } }.exceptionOrNull()
            assertTrue(e is MynaKitException.VerifyOutcomeUnknown, "got $e")
            assertTrue((e as MynaKitException.VerifyOutcomeUnknown).detail.contains("SIGNING_PASSWORD"), e.detail)
            assertEquals(1u, rig.card.verifyCommandsReceived())
            assertEquals(4.toUByte(), rig.card.triesLeft(PinKind.SIGNING_PASSWORD))
        }
    }

    @Test fun aCancellationOutsideVerifyStaysAPlainCancellation() = runBlocking {
        Rig(switches = VirtualLinkSwitches(answerDelayMillis = 400u)).use { rig ->
            expectThrows<TimeoutCancellationException> {
                withTimeout(200) { MynaKit.session(rig.transport) { readCertificate(CertificateKind.AUTHENTICATION) } }
            }
            // Nothing to report: the next session on the card works as usual.
            assertEquals(PinState.TriesLeft(3u), MynaKit.session(rig.transport) { pinStatus(PinKind.AUTH_PIN) })
        }
    }

    @Test fun theSessionReportsAnInterruptedVerifyOnceThroughTheQuery() = runBlocking {
        Rig().use { rig ->
            val entered = CompletableDeferred<Unit>()
            rig.hangAfterTheCardCountsTheVerify(entered)
            expectThrows<TimeoutCancellationException> { withTimeout(500) { rig.session.readBasicInfo(Sandbox.PIN) } }
            assertEquals(PinKind.KENHOJO_PIN, rig.session.takeInterruptedVerify())
            assertNull(rig.session.takeInterruptedVerify())
            rig.transport.intercept = null
            // Acknowledged through the query: the next call is not failed for it.
            assertEquals(rig.card.holder().name, rig.session.readBasicInfo(Sandbox.PIN).name)
        }
    }
}
