package jp.mynakit.bench

import jp.mynakit.CardSession
import jp.mynakit.CardTransport
import jp.mynakit.CertificateKind
import jp.mynakit.LinkCapabilities
import jp.mynakit.MynaKit
import jp.mynakit.PinKind
import jp.mynakit.VirtualCard
import jp.mynakit.VirtualLinkSwitches
import jp.mynakit.test.ForwardingTransport
import kotlin.coroutines.CoroutineContext
import kotlin.coroutines.EmptyCoroutineContext
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext

/**
 * A Kotlin transport that answers from Kotlin, as an NFC stack does: `9000`
 * to SELECT, `63C3` (three tries left) to the bare VERIFY. Nothing crosses
 * back into Rust, so the time is the FFI round trip itself.
 */
class CannedTransport : CardTransport {
    private val ok = byteArrayOf(0x90.toByte(), 0x00)
    private val triesLeft = byteArrayOf(0x63, 0xC3.toByte())
    override fun capabilities(): LinkCapabilities = MynaKit.EXTENDED
    override suspend fun transmit(command: ByteArray): ByteArray = if (command[1] == 0xA4.toByte()) ok else triesLeft
}

/**
 * What a Kotlin transport adds per APDU over the Rust-only path
 * (`scripts/suites/kotlin.sh --bench [N] [rounds]`; figures in BENCHMARKS.md).
 *
 * Every path runs the same core operation (the auth PIN's counter: one bare
 * VERIFY per call once JPKI is selected) through the same exported async
 * session method, called from a coroutine; they differ only in the link:
 * - a Kotlin `CardTransport` answering in Kotlin (the FFI round trip alone);
 * - a Kotlin `CardTransport` forwarding to the virtual card, blocking or
 *   suspending (the FFI round trip plus the rig's own call back into Rust);
 * - the virtual card's Rust transport directly (the Rust-only path).
 * Paths are interleaved within each round; the best round shows the cost
 * without interference, the median what other load on the machine adds.
 */
fun main(args: Array<String>) = runBlocking {
    val n = args.firstOrNull()?.toInt() ?: 1000
    val rounds = args.getOrNull(1)?.toInt() ?: 15
    val card = VirtualCard()
    val switches = VirtualLinkSwitches()

    suspend fun perCall(session: CardSession, calls: Int, op: suspend CardSession.() -> Unit): Double {
        val start = System.nanoTime()
        repeat(calls) { session.op() }
        return (System.nanoTime() - start) / 1000.0 / calls
    }
    fun median(xs: List<Double>) = xs.sorted()[xs.size / 2]
    fun best(xs: List<Double>) = xs.min()

    val paths = listOf(
        "Kotlin transport, answers in Kotlin" to CardSession(CannedTransport()),
        "Kotlin transport, blocking forward" to CardSession(ForwardingTransport(card.link(switches), blocking = true)),
        "Kotlin transport, suspend forward" to CardSession(ForwardingTransport(card.link(switches), blocking = false)),
        "Rust-only link" to card.rustSession(switches),
    )
    val callers = listOf<Pair<String, CoroutineContext>>(
        "runBlocking thread" to EmptyCoroutineContext,
        "Dispatchers.Default" to Dispatchers.Default,
    )
    val pinStatus: suspend CardSession.() -> Unit = { pinStatus(PinKind.AUTH_PIN) }

    for ((_, session) in paths) {
        perCall(session, 2 * n, pinStatus) // warm-up: JIT, and the first call's SELECT
        val before = session.transcriptStats().roundTrips
        perCall(session, 10, pinStatus)
        check(session.transcriptStats().roundTrips - before == 10u) { "one APDU per pin-status call" }
    }
    val results = mutableMapOf<Pair<String, String>, MutableList<Double>>()
    repeat(rounds) {
        for ((callerName, context) in callers) {
            for ((pathName, session) in paths) {
                val t = withContext(context) { perCall(session, n, pinStatus) }
                results.getOrPut(callerName to pathName) { mutableListOf() }.add(t)
            }
        }
    }
    val pureRust = List(rounds) { card.rustOnlyPinStatusNanos(n.toUInt()).toDouble() / 1000.0 }

    val load = runCatching { java.io.File("/proc/loadavg").readText().trim() }.getOrDefault("?")
    println("${Runtime.getRuntime().availableProcessors()} CPUs, load average $load")
    println("$n bare-VERIFY pin-status calls per round, $rounds rounds; µs per call (= per APDU), best / median round")
    for ((callerName, _) in callers) {
        println("caller on the $callerName:")
        val rust = results.getValue(callerName to paths.last().first)
        for ((pathName, _) in paths) {
            val xs = results.getValue(callerName to pathName)
            val added = if (pathName == paths.last().first) "" else
                "   adds %6.1f / %6.1f".format(best(xs) - best(rust), median(xs) - median(rust))
            println("  %-38s %7.1f / %7.1f%s".format(pathName, best(xs), median(xs), added))
        }
    }
    println("  %-38s %7.1f / %7.1f".format("pure Rust loop (no FFI, no async call)", best(pureRust), median(pureRust)))

    // A multi-APDU operation: the authentication certificate over a short link.
    val short = VirtualLinkSwitches(extendedLength = false, maxTransceiveLength = 261u)
    val kotlin = CardSession(ForwardingTransport(card.link(short), blocking = true))
    val rustOnly = card.rustSession(short)
    val reads = maxOf(n / 10, 10)
    val read: suspend CardSession.() -> Unit = { readCertificate(CertificateKind.AUTHENTICATION) }
    perCall(kotlin, reads, read)
    perCall(rustOnly, reads, read)
    val before = kotlin.transcriptStats().roundTrips
    perCall(kotlin, 1, read)
    val apdus = (kotlin.transcriptStats().roundTrips - before).toInt()
    val k = mutableListOf<Double>()
    val r = mutableListOf<Double>()
    repeat(rounds) {
        k += perCall(kotlin, reads, read)
        r += perCall(rustOnly, reads, read)
    }
    println("auth certificate over a short link ($apdus APDUs per read, $reads reads per round), best / median round:")
    println("  Kotlin transport, blocking forward %7.1f / %7.1f µs per read".format(best(k), median(k)))
    println("  Rust-only link                     %7.1f / %7.1f µs per read".format(best(r), median(r)))
    println("  added per APDU                     %7.1f / %7.1f".format((best(k) - best(r)) / apdus, (median(k) - median(r)) / apdus))
}
