package jp.mynakit.test

import java.math.BigInteger
import java.security.AlgorithmParameters
import java.security.KeyFactory
import java.security.KeyPairGenerator
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.security.spec.ECParameterSpec
import java.security.spec.ECPoint
import java.security.spec.ECPublicKeySpec
import jp.mynakit.P256
import jp.mynakit.SecureAreaException
import jp.mynakit.softwareSecureAreaInMemory
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** A SEC1 uncompressed P-256 public key as a JDK key. */
fun jdkPublicKey(sec1: ByteArray): ECPublicKey {
    require(sec1.size == 65 && sec1[0] == 4.toByte())
    val params = AlgorithmParameters.getInstance("EC").apply { init(ECGenParameterSpec("secp256r1")) }
        .getParameterSpec(ECParameterSpec::class.java)
    val point = ECPoint(BigInteger(1, sec1.copyOfRange(1, 33)), BigInteger(1, sec1.copyOfRange(33, 65)))
    return KeyFactory.getInstance("EC").generatePublic(ECPublicKeySpec(point, params)) as ECPublicKey
}

/** True when [raw] (r‖s) is an ES256 signature of [message] by [key], checked by the JDK. */
fun es256Verifies(key: ECPublicKey, message: ByteArray, raw: ByteArray): Boolean =
    Signature.getInstance("SHA256withECDSAinP1363Format").run {
        initVerify(key)
        update(message)
        verify(raw)
    }

/**
 * The secure-area contract as Kotlin sees it: the encodings
 * AndroidKeystoreSecureArea hands the core ([P256], checked against the
 * JDK), and the core's software stand-in exported for tests.
 */
class SecureAreaTest {
    @Test fun publicKeysAreSec1UncompressedAndDerSignaturesBecomeRawRAndS() {
        val generator = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }
        repeat(40) { i ->
            val pair = generator.generateKeyPair()
            val public = P256.uncompressed(pair.public as ECPublicKey)
            assertEquals(65, public.size)
            assertEquals(4.toByte(), public[0])
            val message = "message $i".toByteArray()
            val der = Signature.getInstance("SHA256withECDSA").run {
                initSign(pair.private)
                update(message)
                sign()
            }
            val raw = P256.rawSignature(der)
            assertEquals(64, raw.size)
            // Forty signatures include r or s with leading zero bytes (DER drops them).
            assertTrue(es256Verifies(jdkPublicKey(public), message, raw), "signature $i")
            assertFalse(es256Verifies(jdkPublicKey(public), "other".toByteArray(), raw))
        }
    }

    @Test fun malformedDerSignaturesAreRefused() {
        val good = byteArrayOf(0x30, 6, 2, 1, 1, 2, 1, 2)
        assertArrayEquals(ByteArray(31) + byteArrayOf(1) + ByteArray(31) + byteArrayOf(2), P256.rawSignature(good))
        for (bad in listOf(
            byteArrayOf(),
            byteArrayOf(0x31, 6, 2, 1, 1, 2, 1, 2),
            byteArrayOf(0x30, 7, 2, 1, 1, 2, 1, 2),
            byteArrayOf(0x30, 6, 2, 1, 1, 2, 1),
            good + byteArrayOf(0),
            byteArrayOf(0x30, 37, 2, 34) + ByteArray(34) { 1 } + byteArrayOf(2, 1, 2),
        )) {
            expectThrows<IllegalArgumentException> { P256.rawSignature(bad) }
        }
    }

    @Test fun theSoftwareStandInKeepsTheContractTheCoreAsksFor() = runBlocking {
        val area = softwareSecureAreaInMemory()
        assertNull(area.publicKey("k"))
        val public = area.createKey("k")
        assertArrayEquals(public, area.publicKey("k"))
        val signature = area.sign("k", "hello".toByteArray())
        assertEquals(64, signature.size)
        assertTrue(es256Verifies(jdkPublicKey(public), "hello".toByteArray(), signature))
        assertTrue(area.deleteKey("k"))
        assertFalse(area.deleteKey("k"))
        val e = expectThrows<SecureAreaException.KeyNotFound> { area.sign("k", byteArrayOf(1)) }
        assertEquals("k", e.alias)
    }
}
