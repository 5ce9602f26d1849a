package jp.mynakit.test

import jp.mynakit.CertificateKind
import jp.mynakit.InternalException
import jp.mynakit.MynaKitException
import jp.mynakit.PinKind
import jp.mynakit.PinState
import jp.mynakit.sandboxPanic
import jp.mynakit.sandboxPanicAsync
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/** Panics, coroutine cancellation and concurrent calls across the FFI. */
@Timeout(60)
class AsyncTest {
    @Test fun aRustPanicIsAnExceptionNotACrash() {
        val e = expectThrows<InternalException> { sandboxPanic("deliberate panic 1") }
        assertTrue(e.message!!.contains("deliberate panic 1"), e.message)
    }

    @Test fun aRustPanicInAnAsyncCallIsAnExceptionNotACrash() = runBlocking {
        val e = expectThrows<InternalException> { sandboxPanicAsync("deliberate panic 2") }
        assertTrue(e.message!!.contains("deliberate panic 2"), e.message)
        // The library still works afterwards.
        Rig().use { assertEquals(PinState.TriesLeft(3u), it.session.pinStatus(PinKind.AUTH_PIN)) }
    }

    /** Makes exchange [at] (0-based) hang until cancelled; [entered] completes when it starts. */
    private fun Rig.hangAt(at: Int, entered: CompletableDeferred<Unit>, cancelled: CompletableDeferred<Throwable>) {
        transport.intercept = { index, _ ->
            if (index == at) {
                entered.complete(Unit)
                try {
                    CompletableDeferred<ByteArray>().await()
                } catch (e: CancellationException) {
                    cancelled.complete(e)
                    throw e
                }
            } else {
                null
            }
        }
    }

    @Test fun cancellingTheCallerCancelsThePendingTransmitAndTheSessionStillWorks() = runBlocking {
        Rig().use { rig ->
            val entered = CompletableDeferred<Unit>()
            val cancelled = CompletableDeferred<Throwable>()
            // Exchange 0 is the SELECT, exchange 1 the READ BINARY: hang there.
            rig.hangAt(1, entered, cancelled)
            var caught: Throwable? = null
            val job = launch(Dispatchers.Default) {
                try {
                    rig.session.readCertificate(CertificateKind.AUTHENTICATION)
                } catch (e: Throwable) {
                    caught = e
                    throw e
                }
            }
            withTimeout(5_000) { entered.await() }
            job.cancel()
            withTimeout(5_000) { job.join() }
            assertTrue(caught is CancellationException, "caller got $caught")
            // The Kotlin transmit coroutine the Rust future was waiting on was cancelled too.
            withTimeout(5_000) { cancelled.await() }

            rig.transport.intercept = null
            val sentBefore = rig.transport.sent.size
            val cert = rig.session.readCertificate(CertificateKind.AUTHENTICATION)
            assertArrayEquals(rig.card.authCertificateDer(), cert.der)
            // The interrupted call left the card state unknown: the session selects again.
            assertTrue(isSelectApplication(rig.transport.sent[sentBefore]))
        }
    }

    @Test fun aTimeoutDuringVerifyIsReportedByTheNextCallThenTheSessionWorks() = runBlocking {
        Rig().use { rig ->
            val entered = CompletableDeferred<Unit>()
            val cancelled = CompletableDeferred<Throwable>()
            rig.hangAt(2, entered, cancelled) // SELECT, bare VERIFY, then the VERIFY hangs
            // Called directly (not through MynaKit.session) the caller sees its own cancellation…
            expectThrows<TimeoutCancellationException> {
                withTimeout(300) { rig.session.verifyAuthPin(Sandbox.PIN) }
            }
            withTimeout(5_000) { cancelled.await() }
            rig.transport.intercept = null
            // …and the session reports the VERIFY left at the card on the next call, once.
            val e = expectThrows<MynaKitException.VerifyOutcomeUnknown> { rig.session.signWithAuthKey(Sandbox.PIN, byteArrayOf(1, 2, 3)) }
            assertTrue(e.detail.contains("cancelled"), e.detail)
            // The counter was read back: this VERIFY never reached the card.
            assertEquals(3.toUByte(), e.triesLeft)
            rig.session.signWithAuthKey(Sandbox.PIN, byteArrayOf(1, 2, 3))
            assertEquals(1u, rig.card.verifyCommandsReceived())
        }
    }

    @Test fun aSecondCallWhileOneIsRunningIsSessionBusy() = runBlocking {
        Rig().use { rig ->
            val entered = CompletableDeferred<Unit>()
            val release = CompletableDeferred<Unit>()
            rig.transport.intercept = { index, _ ->
                if (index == 0) {
                    entered.complete(Unit)
                    release.await()
                }
                null // then forward
            }
            val first = async(Dispatchers.Default) { rig.session.readCertificate(CertificateKind.AUTHENTICATION) }
            withTimeout(5_000) { entered.await() }
            expectThrows<MynaKitException.SessionBusy> { rig.session.pinStatus(PinKind.AUTH_PIN) }
            expectThrows<MynaKitException.SessionBusy> { rig.session.transcriptStats() }
            release.complete(Unit)
            assertArrayEquals(rig.card.authCertificateDer(), withTimeout(5_000) { first.await() }.der)
            // Free again once the first call is done.
            assertEquals(PinState.TriesLeft(3u), rig.session.pinStatus(PinKind.AUTH_PIN))
            assertEquals(3u, rig.session.transcriptStats().roundTrips)
        }
    }

    @Test fun sessionsOnSeparateLinksRunConcurrently() = runBlocking {
        Rig().use { rig ->
            val sessions = List(4) { rig.card.link(jp.mynakit.VirtualLinkSwitches()).let { jp.mynakit.CardSession(ForwardingTransport(it)) } }
            val ders = sessions.map { s -> async(Dispatchers.Default) { s.readCertificate(CertificateKind.AUTHENTICATION).der } }.awaitAll()
            ders.forEach { assertArrayEquals(rig.card.authCertificateDer(), it) }
            sessions.forEach { it.close() }
        }
    }
}
