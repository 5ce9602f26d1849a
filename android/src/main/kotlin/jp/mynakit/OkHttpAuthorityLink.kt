package jp.mynakit

// Plain Kotlin over OkHttp (no android.* import): the JVM suite
// (scripts/suites/kotlin.sh) compiles and runs it against the served sandbox
// authority over real loopback HTTP.

import java.io.IOException
import java.io.InterruptedIOException
import java.net.SocketTimeoutException
import java.util.concurrent.TimeUnit
import kotlin.coroutines.resumeWithException
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.suspendCancellableCoroutine
import okhttp3.Call
import okhttp3.Callback
import okhttp3.Headers
import okhttp3.HttpUrl
import okhttp3.HttpUrl.Companion.toHttpUrlOrNull
import okhttp3.Interceptor
import okhttp3.OkHttpClient
import okhttp3.Request
import okhttp3.RequestBody.Companion.toRequestBody
import okhttp3.Response

/**
 * The link to one authority (the reset authority, …) over OkHttp: what the
 * core calls for every request of a flow such as [PinReset].
 *
 * ```
 * val link = OkHttpAuthorityLink("https://reset.example/api")
 * ```
 *
 * What it guarantees to the core, like the desktop's `mynakit-http`:
 * - every answer comes back as an [AuthorityResponse], whatever its status
 *   (429 and 503 included: the core reads `Retry-After`, W12 and P6); no
 *   redirect is followed (the 3xx is handed to the core, which refuses it);
 * - every header the core set is sent as given, the `Idempotency-Key` of a
 *   state-changing request included, so a retry after a lost answer creates
 *   nothing twice;
 * - failures are [LinkException]s that say whether the request may have
 *   acted: a failure to connect (refused, no route, unknown host, TLS) is
 *   [LinkException.Unavailable]; a [SocketTimeoutException] or the call's
 *   time limit is [LinkException.Timeout]; any failure once the connection
 *   was up and the request was being written is [LinkException.AnswerLost];
 *   a cancelled coroutine cancels the OkHttp call and ends as
 *   [LinkException.Cancelled] (the core keeps the idempotency key);
 * - nothing is logged: bodies carry the chip's face record and camera
 *   frames (personal data). Do not hand it a client with a body-level
 *   logging interceptor.
 *
 * A plain `http://` base (the loopback sandbox) needs cleartext allowed for
 * that host in the app's network security config; production authorities
 * are `https://`.
 *
 * @param baseUrl the authority's base address, `http://` or `https://` and a
 *   host, with an optional path prefix; request paths are appended to it.
 * @param client the app's client (its connection pool, certificate pinning,
 *   proxies); redirects are switched off on a copy of it.
 */
class OkHttpAuthorityLink(
    baseUrl: String,
    client: OkHttpClient = defaultClient(),
) : AuthorityLink {
    private val base: String = baseUrl.trimEnd('/')

    init {
        val url = base.toHttpUrlOrNull()
        require(url != null && base.startsWith(url.scheme + "://")) {
            "not an authority base address (http:// or https:// and a host)"
        }
    }

    private val client: OkHttpClient = client.newBuilder()
        .followRedirects(false)
        .followSslRedirects(false)
        // Runs once a connection is up, just before the request is written:
        // from then on a failure may come after the authority acted.
        .addNetworkInterceptor(Interceptor { chain ->
            chain.request().tag(Progress::class.java)?.connected = true
            chain.proceed(chain.request())
        })
        .build()

    /** How far one call got: connected, so its request may have been written. */
    private class Progress {
        @Volatile var connected = false
    }

    override suspend fun send(request: AuthorityRequest): AuthorityResponse {
        val progress = Progress()
        val call = client.newCall(build(request, progress))
        try {
            return suspendCancellableCoroutine { continuation ->
                continuation.invokeOnCancellation { call.cancel() }
                call.enqueue(object : Callback {
                    override fun onFailure(call: Call, e: IOException) {
                        continuation.resumeWithException(linkException(call, e, progress))
                    }

                    override fun onResponse(call: Call, response: Response) {
                        // Read here, on OkHttp's thread: the body is streamed.
                        val result = try {
                            Result.success(response.use { read(it) })
                        } catch (e: IOException) {
                            Result.failure(linkException(call, e, progress))
                        } catch (e: LinkException) {
                            Result.failure(e)
                        }
                        continuation.resumeWith(result)
                    }
                })
            }
        } catch (e: CancellationException) {
            // The caller was cancelled (or the Rust side dropped the call):
            // the HTTP call is cancelled too, and the core is told in its own
            // terms. The request may have acted; the core keeps its key.
            call.cancel()
            throw LinkException.Cancelled().apply { addSuppressed(e) }
        }
    }

    /** The OkHttp request for [request]; a malformed one is `Unavailable` (nothing was sent). */
    private fun build(request: AuthorityRequest, progress: Progress): Request {
        val url: HttpUrl = (base + request.path).toHttpUrlOrNull()
            ?: throw LinkException.Unavailable("the request's address is not a URL")
        val headers = try {
            Headers.Builder().apply { request.headers.forEach { add(it.name, it.value) } }.build()
        } catch (e: IllegalArgumentException) {
            throw LinkException.Unavailable("a header cannot be sent: ${e.message}")
        }
        // No media type on the body: OkHttp then sends the core's own
        // Content-Type header unchanged.
        val body = when {
            request.method == HttpMethod.GET -> null
            request.body.isEmpty() && request.method == HttpMethod.DELETE -> null
            else -> request.body.toRequestBody(null)
        }
        return Request.Builder()
            .url(url)
            .headers(headers)
            .method(request.method.name, body)
            .tag(Progress::class.java, progress)
            .build()
    }

    /** The answer, with a size limit: authorities answer with small JSON documents. */
    private fun read(response: Response): AuthorityResponse {
        val source = response.body.source()
        if (source.request(MAX_ANSWER_BYTES + 1)) {
            throw LinkException.AnswerLost("the answer is larger than $MAX_ANSWER_BYTES bytes")
        }
        return AuthorityResponse(
            status = response.code.toUShort(),
            headers = response.headers.map { (name, value) -> HttpHeader(name, value) },
            body = source.buffer.readByteArray(),
        )
    }

    companion object {
        /**
         * Time for one whole request, connecting to the last byte of the
         * answer. A policy value of ours, as the desktop link's: long enough
         * for a face-check upload on a slow line, short enough that a user
         * waiting on a dead link is told.
         */
        const val DEFAULT_CALL_TIMEOUT_SECONDS: Long = 30

        /** Time to set up a connection (a policy value). */
        const val DEFAULT_CONNECT_TIMEOUT_SECONDS: Long = 10

        /** The largest answer read (a policy value, as the desktop link's). */
        const val MAX_ANSWER_BYTES: Long = 8L * 1024 * 1024

        /** A client with this link's default time limits. */
        fun defaultClient(): OkHttpClient = OkHttpClient.Builder()
            .connectTimeout(DEFAULT_CONNECT_TIMEOUT_SECONDS, TimeUnit.SECONDS)
            .callTimeout(DEFAULT_CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS)
            .build()

        /**
         * Sorts an OkHttp failure by what it means for the request. The
         * reason is the exception's class and message: OkHttp's messages hold
         * addresses and states, never bodies.
         */
        internal fun linkException(call: Call, e: IOException, connected: Boolean): LinkException {
            val reason = "${e.javaClass.simpleName}: ${e.message}"
            return when {
                call.isCanceled() -> LinkException.Cancelled()
                e is SocketTimeoutException -> LinkException.Timeout()
                // The call's own time limit (callTimeout) ends with a plain
                // InterruptedIOException("timeout").
                e is InterruptedIOException && e.message == "timeout" -> LinkException.Timeout()
                connected -> LinkException.AnswerLost(reason)
                else -> LinkException.Unavailable(reason)
            }
        }

        private fun linkException(call: Call, e: IOException, progress: Progress): LinkException =
            linkException(call, e, progress.connected)
    }
}

/** The request's `Idempotency-Key`, when it changes state. */
val AuthorityRequest.idempotencyKey: String?
    get() = headers.firstOrNull { it.name.equals("Idempotency-Key", ignoreCase = true) }?.value

/** The first header called [name] (case-insensitive). */
fun AuthorityResponse.header(name: String): String? =
    headers.firstOrNull { it.name.equals(name, ignoreCase = true) }?.value
