package jp.mynakit.test

import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import jp.mynakit.AuthorityException
import jp.mynakit.AuthorityRequest
import jp.mynakit.HttpHeader
import jp.mynakit.HttpMethod
import jp.mynakit.LinkException
import jp.mynakit.OkHttpAuthorityLink
import jp.mynakit.header
import jp.mynakit.idempotencyKey
import jp.mynakit.newIdempotencyKey
import jp.mynakit.sendToAuthority
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import okhttp3.OkHttpClient
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/** A `POST /v1/challenges` as the core builds it (empty JSON body, a key). */
fun challengeRequest(key: String? = newIdempotencyKey()): AuthorityRequest = AuthorityRequest(
    method = HttpMethod.POST,
    path = "/v1/challenges",
    headers = listOfNotNull(
        HttpHeader("Content-Type", "application/json"),
        key?.let { HttpHeader("Idempotency-Key", it) },
    ),
    body = "{}".toByteArray(),
)

/** The challenge id in a `POST /v1/challenges` answer. */
fun challengeId(body: ByteArray): String =
    Regex("\"challenge_id\" *: *\"([0-9a-f]+)\"").find(String(body))?.groupValues?.get(1)
        ?: throw AssertionError("no challenge_id in the answer")

/**
 * OkHttpAuthorityLink over real loopback HTTP: the served sandbox authority
 * for answers, raw sockets for the failures (W12, P6: each a typed error
 * that says whether the request may have acted).
 */
@Timeout(60)
class AuthorityLinkTest {
    @Test fun aChallengeRoundTripsThroughOkHttpAndTheCoreAndARetryWithTheSameKeyCreatesNothingNew() = runBlocking {
        ServedSandbox().use { served ->
            val link = OkHttpAuthorityLink(served.baseUrl)
            val request = challengeRequest()
            val first = sendToAuthority(link, request)
            assertEquals(201.toUShort(), first.status)
            assertNotNull(first.header("Date"), "the authority's time, for the corrected clock")
            // The same key again (a retry after a lost answer): the first answer, nothing new.
            val retry = sendToAuthority(link, request)
            assertEquals(challengeId(first.body), challengeId(retry.body))
            // Another operation, another key: another challenge.
            val other = sendToAuthority(link, challengeRequest())
            assertNotEquals(challengeId(first.body), challengeId(other.body))
        }
    }

    @Test fun aStoppedAuthorityIsUnavailable() = runBlocking {
        val served = ServedSandbox()
        val link = OkHttpAuthorityLink(served.baseUrl)
        assertEquals(201.toUShort(), link.send(challengeRequest()).status)
        served.stop()
        // The connection kept alive from that answer: OkHttp may write the
        // next request to it before it sees the close, and a request written
        // may have been read, so the link cannot tell and says AnswerLost
        // (retry with the same key) - or Unavailable if the close was seen.
        val first = runCatching { link.send(challengeRequest()) }.exceptionOrNull()
        assertTrue(first is LinkException.AnswerLost || first is LinkException.Unavailable, "$first")
        // With no connection left, nothing can be sent: Unavailable.
        val e = expectThrows<LinkException.Unavailable> { link.send(challengeRequest()) }
        assertTrue(e.reason.contains("Connect", ignoreCase = true), e.reason)
        expectThrows<AuthorityException.Unavailable> {
            sendToAuthority(OkHttpAuthorityLink(served.baseUrl), challengeRequest())
        }
        expectThrows<LinkException.Unavailable> {
            OkHttpAuthorityLink("http://127.0.0.1:${closedPort()}").send(challengeRequest())
        }
        Unit
    }

    @Test fun noAnswerInTimeIsATimeoutAndTheKeyWasSentAsGiven() = runBlocking {
        RawServer { _, socket, _ -> Thread.sleep(5_000); socket.close() }.use { server ->
            val client = OkHttpClient.Builder().readTimeout(300, TimeUnit.MILLISECONDS).build()
            val request = challengeRequest()
            expectThrows<LinkException.Timeout> { OkHttpAuthorityLink(server.baseUrl, client).send(request) }
            val head = server.requests.first()
            assertTrue(head.startsWith("POST /v1/challenges HTTP/1.1\r\n"), head)
            assertTrue(head.contains("Idempotency-Key: ${request.idempotencyKey}\r\n"), head)
            assertTrue(head.contains("Content-Type: application/json\r\n"), head)
            assertTrue(head.endsWith("\r\n\r\n{}"), head)
        }
    }

    @Test fun aConnectionClosedAfterTheRequestWasWrittenIsAnAnswerLost() = runBlocking {
        RawServer { _, socket, _ -> socket.close() }.use { server ->
            val e = expectThrows<LinkException.AnswerLost> {
                OkHttpAuthorityLink(server.baseUrl).send(challengeRequest())
            }
            assertTrue(server.requests.isNotEmpty(), "the request reached the server")
            expectThrows<AuthorityException.AnswerLost> {
                sendToAuthority(OkHttpAuthorityLink(server.baseUrl), challengeRequest())
            }
            assertTrue(e.reason.isNotEmpty())
        }
    }

    @Test fun aCancelledCoroutineCancelsTheCallAndEndsAsCancelled() = runBlocking {
        val closed = CountDownLatch(1)
        RawServer { _, socket, _ ->
            // Never answers; sees the client hang up when the call is cancelled.
            if (socket.getInputStream().read() < 0) closed.countDown()
        }.use { server ->
            val link = OkHttpAuthorityLink(server.baseUrl)
            expectThrows<LinkException.Cancelled> { withTimeout(500) { link.send(challengeRequest()) } }
            assertTrue(closed.await(5, TimeUnit.SECONDS), "the HTTP call was cancelled (connection closed)")
        }
    }

    @Test fun statusesAreAnswersTheCoreSortsAndRedirectsAreNotFollowed() = runBlocking {
        RawServer { index, socket, _ ->
            when (index) {
                0 -> RawServer.answer(socket, 429, listOf("Retry-After: 7"), "{\"error\":\"locked_out\"}")
                1 -> RawServer.answer(socket, 503)
                2 -> RawServer.answer(socket, 302, listOf("Location: http://127.0.0.1:1/elsewhere"))
                else -> RawServer.answer(socket, 429, listOf("Retry-After: 7"))
            }
        }.use { server ->
            val link = OkHttpAuthorityLink(server.baseUrl)
            val limited = expectThrows<AuthorityException.RateLimited> { sendToAuthority(link, challengeRequest()) }
            assertEquals(7uL, limited.retryAfterSeconds)
            val out = expectThrows<AuthorityException.OutOfService> { sendToAuthority(link, challengeRequest()) }
            assertEquals(null, out.retryAfterSeconds)
            val refused = expectThrows<AuthorityException.Refused> { sendToAuthority(link, challengeRequest()) }
            assertEquals(302.toUShort(), refused.status)
            assertEquals(3, server.requests.size, "the redirect was not followed")
            // The link itself returns a 429 as an answer, not a failure.
            val answer = link.send(challengeRequest())
            assertEquals(429.toUShort(), answer.status)
            assertEquals("7", answer.header("retry-after"))
        }
    }

    @Test fun aChangingRequestWithoutAWellFormedKeyIsRefusedBeforeAnythingIsSent() = runBlocking {
        RawServer { _, socket, _ -> RawServer.answer(socket, 201) }.use { server ->
            val link = OkHttpAuthorityLink(server.baseUrl)
            expectThrows<AuthorityException.InvalidRequest> { sendToAuthority(link, challengeRequest(key = null)) }
            expectThrows<AuthorityException.InvalidRequest> { sendToAuthority(link, challengeRequest(key = "ABC")) }
            assertEquals(0, server.requests.size)
        }
    }

    @Test fun aBaseAddressNeedsASchemeAndAHost() {
        for (bad in listOf("", "reset.example", "ftp://x", "http://")) {
            expectThrows<IllegalArgumentException> { OkHttpAuthorityLink(bad) }
        }
        OkHttpAuthorityLink("https://reset.example/api/")
    }
}
