package jp.mynakit.test

import android.nfc.Tag
import android.nfc.TagLostException
import android.nfc.tech.IsoDep
import jp.mynakit.CertificateKind
import jp.mynakit.IsoDepTransport
import jp.mynakit.LinkCapabilities
import jp.mynakit.MynaKit
import jp.mynakit.MynaKitException
import jp.mynakit.TransportFailure
import jp.mynakit.VirtualLink
import java.io.IOException
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Rule
import org.junit.Test
import org.junit.rules.Timeout

/**
 * IsoDepTransport compiled against stand-ins of the Android classes it uses
 * (tests/kotlin-android-stubs): its mapping of Android failures, its timeout
 * and link capabilities, and a session through it to the virtual card.
 */
class IsoDepTransportTest {
    @get:Rule val timeout: Timeout = Timeout.seconds(60)

    /** An IsoDep whose transceive reaches the virtual card, or throws [failure]. */
    private class CardIsoDep(
        private val link: VirtualLink?,
        extended: Boolean = true,
        max: Int = 65_279,
        var failure: Exception? = null,
    ) : IsoDep(extended, max) {
        override fun transceive(data: ByteArray): ByteArray {
            failure?.let { throw it }
            return link!!.transmitBlocking(data)
        }
    }

    @Test fun connectsAndSetsATimeoutLongEnoughForSigning() {
        val isoDep = CardIsoDep(null)
        IsoDepTransport(isoDep)
        assertTrue(isoDep.isConnected)
        assertEquals(IsoDepTransport.DEFAULT_TIMEOUT_MILLIS, isoDep.timeout)
        assertTrue(isoDep.timeout in 5_000..20_000)
        IsoDepTransport(isoDep, timeoutMillis = 15_000)
        assertEquals(15_000, isoDep.timeout)
    }

    @Test fun extendedLengthOnlyWhenThePhoneSupportsItWithRoom() {
        assertEquals(LinkCapabilities(true, 65_279u), IsoDepTransport(CardIsoDep(null, true, 65_279)).capabilities())
        assertEquals(LinkCapabilities(false, 261u), IsoDepTransport(CardIsoDep(null, true, 261)).capabilities())
        assertEquals(LinkCapabilities(false, 1_024u), IsoDepTransport(CardIsoDep(null, false, 1_024)).capabilities())
    }

    @Test fun androidFailuresMapToTransportFailures() = runBlocking {
        val isoDep = CardIsoDep(null)
        val transport = IsoDepTransport(isoDep)
        isoDep.failure = TagLostException("Tag was lost.")
        expectThrows<TransportFailure.CardRemoved> { transport.transmit(byteArrayOf(0, 0xA4.toByte(), 4, 0x0C)) }
        isoDep.failure = SecurityException("Tag is out of date")
        expectThrows<TransportFailure.CardRemoved> { transport.transmit(byteArrayOf(0)) }
        isoDep.failure = IllegalStateException("Call connect() first!")
        expectThrows<TransportFailure.NoCard> { transport.transmit(byteArrayOf(0)) }
        isoDep.failure = IOException("Transceive failed")
        val link = expectThrows<TransportFailure.Link> { transport.transmit(byteArrayOf(0)) }
        assertTrue(link.reason, link.reason.contains("Transceive failed"))
    }

    @Test fun aSessionThroughIsoDepReachesTheCardAndATagLossIsCardRemoved() = runBlocking {
        Rig().use { rig ->
            val isoDep = CardIsoDep(rig.link)
            val transport = IsoDepTransport.fromTag(Tag(isoDep))!!
            val cert = MynaKit.session(transport) { readCertificate(CertificateKind.AUTHENTICATION) }
            assertArrayEquals(rig.card.authCertificateDer(), cert.der)
            isoDep.failure = TagLostException()
            expectThrows<MynaKitException.CardRemoved> { MynaKit.session(transport) { signWithAuthKey(Sandbox.PIN, byteArrayOf(1)) } }
            transport.close()
            assertTrue(isoDep.closed)
        }
        assertNull(IsoDepTransport.fromTag(Tag(null)))
    }

    @Test fun readerModeFlagsAreNfcANfcBAndNoNdefCheck() {
        assertEquals(0x1 or 0x2 or 0x80, IsoDepTransport.READER_MODE_FLAGS)
    }
}
