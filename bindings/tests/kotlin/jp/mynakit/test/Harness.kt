package jp.mynakit.test

import jp.mynakit.CardSession
import jp.mynakit.CardTransport
import jp.mynakit.LinkCapabilities
import jp.mynakit.MynaKitException
import jp.mynakit.VirtualCard
import jp.mynakit.VirtualLink
import jp.mynakit.VirtualLinkSwitches
import java.util.concurrent.CopyOnWriteArrayList

/** The sandbox card's secrets and printed card front (see the sandbox crate). */
object Sandbox {
    const val PIN = "1234"
    const val SIGNING_PASSWORD = "SANDBOX1"
    const val FRONT_BIRTH_DATE = "昭和60年6月15日生"
    const val FRONT_EXPIRY = "2035年6月15日まで有効"
    const val FRONT_SECURITY_CODE = "4821"
    const val AUTH_POLICY = "1.2.392.200149.8.5.1.3.30"
    const val SIGNING_POLICY = "1.2.392.200149.8.5.1.1.20"
}

/**
 * A transport written in Kotlin, as an app writes one, that forwards every
 * APDU to a link to the sandbox virtual card. [intercept] lets a test answer,
 * throw or hang instead (return null to forward).
 */
class ForwardingTransport(
    val link: VirtualLink,
    private val caps: LinkCapabilities = link.capabilities(),
    private val blocking: Boolean = false,
) : CardTransport {
    /** Every command the core sent through this transport, in order. */
    val sent: MutableList<ByteArray> = CopyOnWriteArrayList()

    @Volatile
    var intercept: (suspend (index: Int, command: ByteArray) -> ByteArray?)? = null

    override fun capabilities(): LinkCapabilities = caps

    override suspend fun transmit(command: ByteArray): ByteArray {
        val index = sent.size
        sent.add(command.copyOf())
        intercept?.invoke(index, command)?.let { return it }
        return if (blocking) link.transmitBlocking(command) else link.transmit(command)
    }
}

/** A virtual card, a Kotlin transport to it and a session over that transport. */
class Rig(
    val card: VirtualCard = VirtualCard(),
    switches: VirtualLinkSwitches = VirtualLinkSwitches(),
    caps: LinkCapabilities? = null,
) : AutoCloseable {
    val link: VirtualLink = card.link(switches)
    val transport = ForwardingTransport(link, caps ?: link.capabilities())
    val session = CardSession(transport)

    /** A further session over the same Kotlin transport. */
    fun newSession(): CardSession = CardSession(transport)

    override fun close() {
        session.close()
        link.close()
        card.close()
    }
}

/** True for a VERIFY that carries a secret. */
fun isVerifyWithData(command: ByteArray): Boolean = command.size > 5 && command[1] == 0x20.toByte()

/** True for SELECT by AID. */
fun isSelectApplication(command: ByteArray): Boolean =
    command.size > 4 && command[1] == 0xA4.toByte() && command[2] == 0x04.toByte()

/** Runs [block] and returns the [MynaKitException] of type [T] it throws; fails otherwise. */
inline fun <reified T : Throwable> expectThrows(block: () -> Unit): T {
    try {
        block()
    } catch (e: Throwable) {
        if (e is T) return e
        throw AssertionError("expected ${T::class.simpleName}, got ${e::class.qualifiedName}: ${e.message}", e)
    }
    throw AssertionError("expected ${T::class.simpleName}, nothing was thrown")
}

/** The hex of some bytes, for messages. */
fun ByteArray.hex(): String = joinToString("") { "%02X".format(it) }
