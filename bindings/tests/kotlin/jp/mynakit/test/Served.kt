package jp.mynakit.test

import java.io.BufferedReader
import java.io.InputStreamReader
import java.net.InetAddress
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

/**
 * The reference reset authority served on loopback HTTP by the desktop CLI
 * (`mynakit sandbox serve --listen 127.0.0.1:0`, its store in memory), as a
 * phone would reach a real one. The CLI's path comes from the system
 * property `mynakit.cli` (scripts/suites/kotlin.sh builds it).
 */
class ServedSandbox : AutoCloseable {
    private val process: Process
    /** `http://127.0.0.1:PORT`, as the server printed it. */
    val baseUrl: String

    init {
        val cli = System.getProperty("mynakit.cli")
            ?: error("system property mynakit.cli (the mynakit binary) is not set")
        process = ProcessBuilder(cli, "sandbox", "serve", "--listen", "127.0.0.1:0")
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start()
        val out = BufferedReader(InputStreamReader(process.inputStream, Charsets.UTF_8))
        val first = out.readLine()
        if (first == null || !first.startsWith("listening on http://")) {
            process.destroyForcibly()
            error("the served sandbox did not start: $first")
        }
        baseUrl = first.removePrefix("listening on ").trim()
        // Keep reading so a full pipe never blocks the server.
        thread(isDaemon = true) { runCatching { out.readLines() } }
    }

    /** Stops the server (SIGTERM; it stops within its 200 ms poll) and waits for it. */
    fun stop() {
        if (!process.isAlive) return
        process.destroy()
        if (!process.waitFor(5, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
    }

    override fun close() = stop()
}

/**
 * A one-connection-at-a-time loopback server written with raw sockets, for
 * the link failures a real authority cannot be made to show on demand: it
 * reads each request's head and body, then does what [script] says with
 * the socket.
 */
class RawServer(private val script: (index: Int, socket: Socket, request: String) -> Unit) : AutoCloseable {
    private val server = ServerSocket(0, 8, InetAddress.getLoopbackAddress())
    /** The requests' heads and bodies, as received. */
    val requests: MutableList<String> = CopyOnWriteArrayList()
    val baseUrl: String = "http://127.0.0.1:${server.localPort}"

    init {
        thread(isDaemon = true) {
            var index = 0
            while (!server.isClosed) {
                val socket = try { server.accept() } catch (_: Exception) { break }
                val request = readRequest(socket)
                requests.add(request)
                val i = index++
                thread(isDaemon = true) { runCatching { script(i, socket, request) } }
            }
        }
    }

    private fun readRequest(socket: Socket): String {
        val input = socket.getInputStream()
        val head = StringBuilder()
        while (!head.endsWith("\r\n\r\n")) {
            val b = input.read()
            if (b < 0) break
            head.append(b.toChar())
        }
        val length = Regex("(?i)content-length: *(\\d+)").find(head)?.groupValues?.get(1)?.toInt() ?: 0
        val body = ByteArray(length)
        var read = 0
        while (read < length) {
            val n = input.read(body, read, length - read)
            if (n < 0) break
            read += n
        }
        return head.toString() + String(body, 0, read, Charsets.UTF_8)
    }

    override fun close() = server.close()

    companion object {
        /** Answers with [status], [headers] and [body], then closes. */
        fun answer(socket: Socket, status: Int, headers: List<String> = emptyList(), body: String = "") {
            val bytes = body.toByteArray()
            val head = buildString {
                append("HTTP/1.1 $status X\r\n")
                headers.forEach { append(it).append("\r\n") }
                append("Content-Length: ${bytes.size}\r\nConnection: close\r\n\r\n")
            }
            socket.getOutputStream().apply { write(head.toByteArray()); write(bytes); flush() }
            socket.close()
        }
    }
}

/** A loopback port nothing listens on (bound, then closed). */
fun closedPort(): Int = ServerSocket(0, 1, InetAddress.getLoopbackAddress()).use { it.localPort }
