package jp.mynakit.test

import android.nfc.Tag
import android.nfc.TagLostException
import jp.mynakit.CertificateKind
import jp.mynakit.ExtendedLengthMemory
import jp.mynakit.IsoDepLink
import jp.mynakit.IsoDepTransport
import jp.mynakit.LinkCapabilities
import jp.mynakit.MynaKit
import jp.mynakit.MynaKitException
import jp.mynakit.TransportFailure
import jp.mynakit.VirtualLink
import java.io.IOException
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/**
 * The real IsoDepTransport (android/src/main/kotlin) over a scripted IsoDep
 * link: lazy connection, timeout, failure mapping, cancellation closing the
 * connection, the extended-length memory, and sessions through it to the
 * virtual card. The Android classes it uses come from Robolectric's
 * android-all jar (the real framework); the SDK's IsoDep itself needs a
 * phone's NFC service, so its thin adapter is compiled, not run.
 */
@Timeout(60)
class IsoDepTransportTest {
    /**
     * An IsoDep link whose transceive reaches the virtual card (or throws
     * [failure]); counts connects and closes. With [refuseExtended] it
     * answers every extended-length APDU with 6700, as phones whose NFC
     * controller cannot carry them do.
     */
    private class ScriptedIsoDep(
        private val link: VirtualLink?,
        override val isExtendedLengthApduSupported: Boolean = true,
        override val maxTransceiveLength: Int = 65_279,
        override val tagId: ByteArray = byteArrayOf(1, 2, 3, 4),
        val refuseExtended: Boolean = false,
    ) : IsoDepLink {
        @Volatile var failure: Exception? = null
        @Volatile var connectFailure: Exception? = null
        @Volatile var block: CountDownLatch? = null
        val sent: MutableList<ByteArray> = CopyOnWriteArrayList()
        @Volatile var connects = 0
        @Volatile var closes = 0
        @Volatile override var isConnected = false
        override var timeout = 300

        override fun connect() {
            connectFailure?.let { throw it }
            connects++
            isConnected = true
            timeout = 300 // Android resets the timeout on (re)connect
        }

        override fun close() {
            closes++
            isConnected = false
            block?.countDown() // a blocked transceive fails once the link closes
        }

        override fun transceive(data: ByteArray): ByteArray {
            check(isConnected) { "Call connect() first!" }
            sent.add(data.copyOf())
            block?.let { latch ->
                latch.await(30, TimeUnit.SECONDS)
                if (!isConnected) throw IOException("Transceive failed: closed")
            }
            failure?.let { throw it }
            if (refuseExtended && IsoDepTransport.isExtended(data)) return byteArrayOf(0x67, 0x00)
            return link!!.transmitBlocking(data)
        }
    }

    private fun transport(isoDep: IsoDepLink, timeout: Int = IsoDepTransport.DEFAULT_TIMEOUT_MILLIS, memory: ExtendedLengthMemory = ExtendedLengthMemory()) =
        IsoDepTransport(isoDep, timeout, memory)

    private val select = byteArrayOf(0, 0xA4.toByte(), 4, 0x0C, 1, 0)

    @Test fun connectsOnTheFirstExchangeAndSetsATimeoutLongEnoughForSigning() = runBlocking {
        Rig().use { rig ->
            val isoDep = ScriptedIsoDep(rig.link)
            val transport = transport(isoDep)
            assertEquals(0, isoDep.connects, "nothing happens before the first exchange")
            transport.transmit(select)
            assertEquals(1, isoDep.connects)
            assertTrue(isoDep.timeout in 5_000..20_000, "timeout ${isoDep.timeout}")
            transport.transmit(select)
            assertEquals(1, isoDep.connects, "connected once")

            val custom = ScriptedIsoDep(rig.link)
            transport(custom, timeout = 15_000).transmit(select)
            assertEquals(15_000, custom.timeout)
        }
    }

    @Test fun aFailedConnectIsATransportFailureNotARawIOException() = runBlocking {
        val isoDep = ScriptedIsoDep(null)
        val transport = transport(isoDep)
        isoDep.connectFailure = TagLostException("Tag was lost.")
        expectThrows<TransportFailure.CardRemoved> { transport.transmit(select) }
        isoDep.connectFailure = IOException("connect failed")
        val e = expectThrows<TransportFailure.Link> { transport.transmit(select) }
        assertTrue(e.reason.contains("connect failed"), e.reason)
        isoDep.connectFailure = SecurityException("Tag is out of date")
        expectThrows<TransportFailure.CardRemoved> { transport.transmit(select) }
        Unit
    }

    @Test fun extendedLengthOnlyWhenThePhoneSupportsItWithRoom() {
        assertEquals(LinkCapabilities(true, 65_279u), transport(ScriptedIsoDep(null, true, 65_279)).capabilities())
        assertEquals(LinkCapabilities(false, 261u), transport(ScriptedIsoDep(null, true, 261)).capabilities())
        assertEquals(LinkCapabilities(false, 1_024u), transport(ScriptedIsoDep(null, false, 1_024)).capabilities())
    }

    @Test fun capabilitiesOfATagThatIsGoneAreShortInsteadOfAnException() {
        val gone = object : IsoDepLink by ScriptedIsoDep(null) {
            override val isExtendedLengthApduSupported: Boolean get() = throw SecurityException("Tag is out of date")
        }
        assertEquals(LinkCapabilities(false, 261u), transport(gone).capabilities())
    }

    @Test fun androidFailuresMapToTransportFailures() = runBlocking {
        val isoDep = ScriptedIsoDep(null)
        val transport = transport(isoDep)
        isoDep.failure = TagLostException("Tag was lost.")
        expectThrows<TransportFailure.CardRemoved> { transport.transmit(select) }
        isoDep.failure = SecurityException("Tag is out of date")
        expectThrows<TransportFailure.CardRemoved> { transport.transmit(select) }
        isoDep.failure = IllegalStateException("Call connect() first!")
        expectThrows<TransportFailure.NoCard> { transport.transmit(select) }
        isoDep.failure = IOException("Transceive failed")
        val link = expectThrows<TransportFailure.Link> { transport.transmit(select) }
        assertTrue(link.reason.contains("Transceive failed"), link.reason)
    }

    @Test fun aSessionThroughIsoDepReachesTheCardAndATagLossIsCardRemoved() = runBlocking {
        Rig().use { rig ->
            val isoDep = ScriptedIsoDep(rig.link)
            val transport = transport(isoDep)
            val cert = MynaKit.session(transport) { readCertificate(CertificateKind.AUTHENTICATION) }
            assertArrayEquals(rig.card.authCertificateDer(), cert.der)
            isoDep.failure = TagLostException()
            expectThrows<MynaKitException.CardRemoved> { MynaKit.session(transport) { signWithAuthKey(Sandbox.PIN, byteArrayOf(1)) } }
            transport.close()
            assertEquals(1, isoDep.closes)
            assertFalse(isoDep.isConnected)
            // Closed by the app: the next exchange connects again.
            isoDep.failure = null
            MynaKit.session(transport) { readCertificate(CertificateKind.AUTHENTICATION) }
            assertEquals(2, isoDep.connects)
        }
    }

    @Test fun cancellingTheCallClosesTheIsoDepSoTheExchangeStopsAtOnce() = runBlocking {
        Rig().use { rig ->
            val isoDep = ScriptedIsoDep(rig.link)
            val transport = transport(isoDep)
            transport.transmit(select) // connected
            isoDep.block = CountDownLatch(1)
            val started = CompletableDeferred<Unit>()
            var caught: Throwable? = null
            val job = launch(Dispatchers.Default) {
                started.complete(Unit)
                try {
                    transport.transmit(byteArrayOf(0, 0xB0.toByte(), 0x8A.toByte(), 0, 0))
                } catch (e: Throwable) {
                    caught = e
                }
            }
            started.await()
            while (isoDep.sent.size < 2) Thread.sleep(5) // the transceive is in flight
            job.cancel()
            withTimeout(5_000) { job.join() }
            assertTrue(caught is CancellationException, "caller got $caught")
            assertEquals(1, isoDep.closes, "the IsoDep was closed to stop the exchange")
            assertFalse(isoDep.isConnected)
        }
    }

    @Test fun aTagThatRefusedExtendedLengthIsShortFromTheNextSessionOn() = runBlocking {
        Rig().use { rig ->
            val memory = ExtendedLengthMemory()
            val tag = byteArrayOf(9, 9, 9, 9)
            val first = ScriptedIsoDep(rig.link, tagId = tag, refuseExtended = true)
            val firstTransport = transport(first, memory = memory)
            assertTrue(firstTransport.capabilities().extendedLength)
            val cert = MynaKit.session(firstTransport) { readCertificate(CertificateKind.AUTHENTICATION) }
            assertArrayEquals(rig.card.authCertificateDer(), cert.der)
            assertTrue(first.sent.any { IsoDepTransport.isExtended(it) }, "the first session tried extended length")

            // The same tag again (a new tap): no extended APDU is spent learning it.
            val again = ScriptedIsoDep(rig.link, tagId = tag, refuseExtended = true)
            val againTransport = transport(again, memory = memory)
            assertEquals(LinkCapabilities(false, 65_279u), againTransport.capabilities())
            MynaKit.session(againTransport) { readCertificate(CertificateKind.AUTHENTICATION) }
            assertFalse(again.sent.any { IsoDepTransport.isExtended(it) })

            // Another tag still gets extended length, until a second tag refuses it too.
            assertTrue(transport(ScriptedIsoDep(rig.link, tagId = byteArrayOf(7)), memory = memory).capabilities().extendedLength)
            memory.remember(byteArrayOf(7))
            assertFalse(transport(ScriptedIsoDep(rig.link, tagId = byteArrayOf(5)), memory = memory).capabilities().extendedLength)
        }
    }

    @Test fun aTagThatCarriesExtendedLengthIsNotRemembered() = runBlocking {
        Rig().use { rig ->
            val memory = ExtendedLengthMemory()
            val isoDep = ScriptedIsoDep(rig.link)
            MynaKit.session(transport(isoDep, memory = memory)) { readCertificate(CertificateKind.AUTHENTICATION) }
            assertTrue(isoDep.sent.any { IsoDepTransport.isExtended(it) })
            assertFalse(memory.refuses(isoDep.tagId))
        }
    }

    @Test fun fromTagWithTheRealAndroidTagClass() = runBlocking {
        // Tag.createMockTag is the framework's own factory (hidden API, present in android-all).
        val isoDepTech = 3 // android.nfc.tech.TagTechnology.ISO_DEP
        val nfcA = 1
        assertNull(IsoDepTransport.fromTag(Tag.createMockTag(byteArrayOf(1), intArrayOf(nfcA), arrayOf(android.os.Bundle()), 0L)))
        val transport = IsoDepTransport.fromTag(Tag.createMockTag(byteArrayOf(1), intArrayOf(isoDepTech), arrayOf(android.os.Bundle()), 0L))
        assertNotNull(transport)
        // No NFC service on a desktop JVM: the first exchange fails as a TransportFailure, never a raw exception.
        val e = runCatching { transport!!.transmit(select) }.exceptionOrNull()
        assertTrue(e is TransportFailure, "got $e")
    }
}
