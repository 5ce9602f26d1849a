package jp.mynakit.test

import java.io.File
import java.nio.file.Files
import java.time.Duration
import jp.mynakit.AuthorityLink
import jp.mynakit.AuthorityRequest
import jp.mynakit.AuthorityResponse
import jp.mynakit.LinkException
import jp.mynakit.OkHttpAuthorityLink
import jp.mynakit.idempotencyKey
import jp.mynakit.PinKind
import jp.mynakit.PinReset
import jp.mynakit.PinResetClient
import jp.mynakit.Refusal
import jp.mynakit.ReservationState
import jp.mynakit.ResetException
import jp.mynakit.ResetKind
import jp.mynakit.SandboxCameraSubject
import jp.mynakit.StoreChain
import jp.mynakit.VirtualCard
import jp.mynakit.VirtualLinkSwitches
import jp.mynakit.isRetryable
import jp.mynakit.sandboxCameraFrames
import jp.mynakit.softwareSecureAreaInMemory
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/**
 * The PIN-reset flow (issue 8) from Kotlin: PinReset over OkHttpAuthorityLink
 * against the reference authority served on real loopback HTTP
 * (`mynakit sandbox serve`), the sandbox virtual card behind a Kotlin
 * transport, the sandbox camera, and the core's software secure area.
 */
@Timeout(120)
class PinResetTest {
    private val dir: File = Files.createTempDirectory("mynakit-reset").toFile()
    private val area = softwareSecureAreaInMemory()

    @AfterEach fun cleanUp() {
        dir.deleteRecursively()
    }

    private fun store(): File = File(dir, "phone.db")

    private fun transport(card: VirtualCard) = ForwardingTransport(card.link(VirtualLinkSwitches()))

    private suspend fun PinReset.tapWith(
        flow: jp.mynakit.ResetFlow,
        card: VirtualCard,
        secret: String,
        securityCode: String = Sandbox.FRONT_SECURITY_CODE,
    ) = tap(flow, transport(card), Sandbox.FRONT_BIRTH_DATE, Sandbox.FRONT_EXPIRY, securityCode.toCharArray(), secret.toCharArray())

    @Test fun r2_r4_r5_r6_aSigningPasswordResetEndToEndOverLoopbackHttp() = runBlocking {
        ServedSandbox().use { served ->
            val card = VirtualCard()
            PinReset(served.baseUrl, store(), area).use { reset ->
                val flow = reset.begin(ResetKind.SIGNING_PASSWORD)
                assertFalse(flow.tapped())
                assertNull(flow.chipPhotoPng(), "no photo before the tap")
                reset.tapWith(flow, card, Sandbox.PIN)
                assertTrue(flow.tapped())
                val png = flow.chipPhotoPng() ?: throw AssertionError("no chip photo after the tap")
                assertArrayEquals(byteArrayOf(0x89.toByte(), 'P'.code.toByte(), 'N'.code.toByte(), 'G'.code.toByte()), png.copyOf(4))
                // R4: the 4-digit PIN was verified (counter back at 3); the signing password untouched.
                assertEquals(3.toUByte(), card.triesLeft(PinKind.AUTH_PIN))
                assertEquals(5.toUByte(), card.triesLeft(PinKind.SIGNING_PASSWORD))

                val prompt = reset.openFaceCheck(flow)
                assertTrue(prompt.actions.size >= 3, "R2: at least three liveness actions")
                assertTrue(prompt.startBy.isAfter(reset.now().minusSeconds(5)))
                // R2: a masked face fails (pass/fail only, one attempt spent)…
                val masked = sandboxCameraFrames(flow, SandboxCameraSubject.MASKED, prompt.actions, 2u, reset.now(), 7uL)
                assertEquals(1 + 2 * prompt.actions.size, masked.size)
                val failed = reset.submitCapture(flow, masked)
                assertFalse(failed.passed)
                assertEquals(prompt.maxAttempts - 1u, failed.attemptsLeft)
                expectThrows<ResetException.OutOfOrder> { reset.reserve(flow) }
                // …the holder passes.
                val frames = sandboxCameraFrames(flow, SandboxCameraSubject.HOLDER, prompt.actions, 2u, reset.now(), 7uL)
                assertTrue(reset.submitCapture(flow, frames).passed)
                assertTrue(flow.faceCheckPassed())

                val kept = reset.reserve(flow)
                val r = kept.reservation
                assertEquals(ResetKind.SIGNING_PASSWORD, r.kind)
                assertEquals(ReservationState.RESERVED, r.state)
                assertEquals(Duration.ofHours(24), Duration.between(r.createdAt, r.expiresAt), "R5")
                assertEquals(StoreChain.entries.toList(), r.stores, "R6: every chain resets the signing password")
                assertEquals(
                    listOf(StoreChain.AEON_HOKKAIDO, StoreChain.AEON_TOHOKU, StoreChain.FUJI, StoreChain.DAIEI),
                    kept.partialChains,
                )
                val left = kept.timeLeft ?: throw AssertionError("no time left on a live reservation")
                assertTrue(left > Duration.ofHours(23) && left <= Duration.ofHours(24), "$left")

                // Offline: another client on the same store whose link reaches nothing.
                val offlineLink = OkHttpAuthorityLink("http://127.0.0.1:${closedPort()}")
                PinResetClient(offlineLink, served.baseUrl, store().path, area).use { offline ->
                    val listed = offline.reservations()
                    assertEquals(listOf(r.id), listed.map { it.reservation.id })
                    assertEquals(ReservationState.RESERVED, listed[0].stateNow)
                    assertTrue(listed[0].timeLeft!! > Duration.ofHours(23))
                    expectThrows<ResetException.AuthorityUnavailable> { offline.refresh() }
                }

                val cancelled = reset.cancel(r.id)
                assertEquals(ReservationState.CANCELLED, cancelled.reservation.state)
                assertNull(cancelled.timeLeft)
                assertEquals(ReservationState.CANCELLED, reset.reservations().single().stateNow)
                assertEquals(listOf(r.id), reset.refresh().map { it.reservation.id })
            }
        }
    }

    @Test fun r3_r4_r6_anAuthPinResetNeedsTheSigningPasswordAndNoFaceCheck() = runBlocking {
        ServedSandbox().use { served ->
            val card = VirtualCard()
            PinReset(served.baseUrl, store(), area).use { reset ->
                val flow = reset.begin(ResetKind.AUTH_PIN)
                reset.tapWith(flow, card, Sandbox.SIGNING_PASSWORD)
                expectThrows<ResetException.OutOfOrder> { reset.openFaceCheck(flow) }
                val kept = reset.reserve(flow)
                assertEquals(ResetKind.AUTH_PIN, kept.reservation.kind)
                assertEquals(
                    listOf(StoreChain.SEVEN_ELEVEN, StoreChain.AEON_RETAIL, StoreChain.AEON_HOKKAIDO, StoreChain.AEON_TOHOKU, StoreChain.FUJI),
                    kept.reservation.stores,
                    "R6: the 4-digit PIN only at these chains",
                )
                assertEquals(5.toUByte(), card.triesLeft(PinKind.SIGNING_PASSWORD))
                // One live reservation per card and kind.
                val again = reset.begin(ResetKind.AUTH_PIN)
                reset.tapWith(again, card, Sandbox.SIGNING_PASSWORD)
                val refused = expectThrows<ResetException.Refused> { reset.reserve(again) }
                assertEquals(Refusal.ALREADY_RESERVED, refused.refusal)
                assertEquals(kept.reservation.id, refused.reservationId)
            }
        }
    }

    @Test fun r4_theSecretIsTakenAsTheOtherOneAndAWrongFormatSendsNothing() = runBlocking {
        ServedSandbox().use { served ->
            val card = VirtualCard()
            PinReset(served.baseUrl, store(), area).use { reset ->
                val flow = reset.begin(ResetKind.AUTH_PIN)
                val t = transport(card)
                // The 4-digit PIN offered for a PIN reset is not a signing password.
                expectThrows<ResetException.InvalidInput> {
                    reset.tap(flow, t, Sandbox.FRONT_BIRTH_DATE, Sandbox.FRONT_EXPIRY, "4821".toCharArray(), "1234".toCharArray())
                }
                assertEquals(0, t.sent.size)
            }
        }
    }

    @Test fun aWrongCheckCodeIsATypedCardErrorAndSpendsNoJpkiTry() = runBlocking {
        ServedSandbox().use { served ->
            val card = VirtualCard()
            PinReset(served.baseUrl, store(), area).use { reset ->
                val flow = reset.begin(ResetKind.SIGNING_PASSWORD)
                val checkTries = card.triesLeft(PinKind.CHECK_CODE_B)!!
                val t = transport(card)
                val secret = Sandbox.PIN.toCharArray()
                val e = expectThrows<ResetException.WrongCheckCode> {
                    reset.tap(flow, t, Sandbox.FRONT_BIRTH_DATE, Sandbox.FRONT_EXPIRY, "1111".toCharArray(), secret)
                }
                assertEquals((checkTries - 1u).toUByte(), e.triesLeft)
                assertFalse(e.isRetryable, "never retried on its own")
                assertTrue(secret.all { it == '\u0000' }, "the secret was wiped")
                // Only the 照合番号B VERIFY went out: no JPKI try spent.
                assertEquals(1, t.sent.count { isVerifyWithData(it) })
                assertEquals(3.toUByte(), card.triesLeft(PinKind.AUTH_PIN))
                assertEquals(5.toUByte(), card.triesLeft(PinKind.SIGNING_PASSWORD))
                assertFalse(flow.tapped())
            }
        }
    }

    /**
     * Sends through OkHttp but loses the answer of the first request to
     * [path] after the authority acted, as a dropped connection would.
     */
    private class LosesFirstAnswer(private val inner: AuthorityLink, private val path: String) : AuthorityLink {
        val keys = mutableListOf<String?>()
        override suspend fun send(request: AuthorityRequest): AuthorityResponse {
            val response = inner.send(request)
            if (request.path == path) {
                keys.add(request.idempotencyKey)
                if (keys.size == 1) throw LinkException.AnswerLost("dropped by the test after the authority answered")
            }
            return response
        }
    }

    @Test fun w12_aLostAnswerToReserveIsRetriedWithTheSameKeyAndCreatesOneReservation() = runBlocking {
        ServedSandbox().use { served ->
            val card = VirtualCard()
            val link = LosesFirstAnswer(OkHttpAuthorityLink(served.baseUrl), "/v1/reservations")
            PinReset(PinResetClient(link, served.baseUrl, store().path, area)).use { reset ->
                val flow = reset.begin(ResetKind.AUTH_PIN)
                reset.tapWith(flow, card, Sandbox.SIGNING_PASSWORD)
                val lost = expectThrows<ResetException.AnswerLost> { reset.reserve(flow) }
                assertTrue(lost.isRetryable)
                assertEquals(emptyList<Any>(), reset.reservations(), "nothing kept without an answer")
                val kept = reset.reserve(flow)
                assertEquals(2, link.keys.size)
                assertEquals(link.keys[0], link.keys[1], "the retry went with the same idempotency key")
                assertEquals(listOf(kept.reservation.id), reset.refresh().map { it.reservation.id }, "one reservation at the authority")
            }
        }
    }

    @Test fun cancellingAStepCancelsItsHttpCallThroughTheCore() = runBlocking {
        val closed = CountDownLatch(1)
        // An authority that never answers; it sees the client hang up.
        RawServer { _, socket, _ -> if (socket.getInputStream().read() < 0) closed.countDown() }.use { server ->
            PinReset(server.baseUrl, store(), area).use { reset ->
                expectThrows<TimeoutCancellationException> { withTimeout(1_000) { reset.begin(ResetKind.AUTH_PIN) } }
                // The coroutine's cancellation dropped the Rust call, which cancelled the OkHttp call.
                assertTrue(closed.await(5, TimeUnit.SECONDS), "the HTTP call was cancelled")
                assertEquals(1, server.requests.size)
                assertEquals(emptyList<Any>(), reset.reservations(), "the store is intact")
            }
        }
    }

    @Test fun w12_aStoppedAuthorityIsAuthorityUnavailableAndRetryable() = runBlocking {
        val served = ServedSandbox()
        PinReset(served.baseUrl, store(), area).use { reset ->
            served.stop()
            val e = expectThrows<ResetException.AuthorityUnavailable> { reset.begin(ResetKind.SIGNING_PASSWORD) }
            assertTrue(e.isRetryable)
            assertEquals(emptyList<Any>(), reset.reservations())
        }
    }
}
