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
import jp.mynakit.KeyPurpose
import jp.mynakit.KeySpec
import jp.mynakit.P256
import jp.mynakit.SecureAreaException
import jp.mynakit.SecurityLevel
import jp.mynakit.UserAuthentication
import jp.mynakit.biometricPromptError
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
        assertNull(area.keyInfo("k"))
        val info = area.createKey("k", BACKGROUND_SIGNING)
        assertEquals(KeyPurpose.SIGN, info.purpose)
        assertEquals(UserAuthentication.NONE, info.userAuthentication)
        assertEquals(SecurityLevel.SOFTWARE, info.securityLevel)
        assertTrue(info.attestation.isEmpty())
        assertArrayEquals(info.publicKey, area.keyInfo("k")!!.publicKey)
        val signature = area.sign("k", "hello".toByteArray())
        assertEquals(64, signature.size)
        assertTrue(es256Verifies(jdkPublicKey(info.publicKey), "hello".toByteArray(), signature))
        expectThrows<SecureAreaException.WrongPurpose> { area.keyAgreement("k", info.publicKey) }
        assertTrue(area.deleteKey("k"))
        assertFalse(area.deleteKey("k"))
        val e = expectThrows<SecureAreaException.KeyNotFound> { area.sign("k", byteArrayOf(1)) }
        assertEquals("k", e.alias)
    }

    @Test fun aKeyForEveryUseAsksTheLockScreenBeforeEachSignatureAndNeverAfterADenial() = runBlocking {
        val area = JdkSecureArea()
        val info = area.createKey("device", deviceKey())
        assertEquals(UserAuthentication.EVERY_USE, info.userAuthentication)
        assertEquals(SecurityLevel.SOFTWARE, info.securityLevel)
        assertTrue(info.attestation.isEmpty(), "software keys carry no attestation")
        repeat(2) { i ->
            val raw = area.sign("device", "use $i".toByteArray())
            assertTrue(es256Verifies(jdkPublicKey(info.publicKey), "use $i".toByteArray(), raw))
        }
        // W10: one prompt per use, no grace period; the prompt saw the started signature.
        assertEquals(2, area.lockScreen.prompts.get())
        assertTrue(area.lockScreen.operations.all { it is jp.mynakit.KeystoreOperation.Signing && it.alias == "device" })
        area.lockScreen.answer = LockScreen.Answer.FAIL
        expectThrows<SecureAreaException.UserAuthenticationFailed> { area.sign("device", byteArrayOf(1)) }
        area.lockScreen.answer = LockScreen.Answer.CANCEL
        expectThrows<SecureAreaException.UserCancelled> { area.sign("device", byteArrayOf(1)) }
        assertEquals(4, area.lockScreen.prompts.get())
        // A background key never prompts.
        area.createKey("background", BACKGROUND_SIGNING)
        area.sign("background", byteArrayOf(1))
        assertEquals(4, area.lockScreen.prompts.get())
    }

    @Test fun removingTheLockScreenInvalidatesOnlyUserBoundKeys() = runBlocking {
        val area = JdkSecureArea()
        area.createKey("device", deviceKey())
        area.createKey("background", BACKGROUND_SIGNING)
        assertEquals(1, area.invalidate())
        assertEquals("device", expectThrows<SecureAreaException.KeyInvalidated> { area.sign("device", byteArrayOf(1)) }.alias)
        expectThrows<SecureAreaException.KeyInvalidated> { area.keyInfo("device") }
        assertEquals(64, area.sign("background", byteArrayOf(1)).size)
        // A new key under the alias works again; without a lock screen none can be made.
        area.createKey("device", deviceKey())
        assertEquals(64, area.sign("device", byteArrayOf(1)).size)
        area.deviceSecure = false
        expectThrows<SecureAreaException.NoUserAuthentication> { area.createKey("other", deviceKey()) }
        assertNull(area.keyInfo("other"))
    }

    @Test fun ecdhAgreesBetweenTheJdkAreaAndTheCoresSoftwareArea() = runBlocking {
        val jdk = JdkSecureArea()
        val core = softwareSecureAreaInMemory()
        val a = jdk.createKey("store", STORAGE)
        val b = core.createKey("store", STORAGE)
        assertEquals(KeyPurpose.KEY_AGREEMENT, a.purpose)
        val fromJdk = jdk.keyAgreement("store", b.publicKey)
        val fromCore = core.keyAgreement("store", a.publicKey)
        assertEquals(32, fromJdk.size)
        assertArrayEquals(fromCore, fromJdk)
        expectThrows<SecureAreaException.WrongPurpose> { jdk.sign("store", byteArrayOf(1)) }
        // An off-curve point is refused before any ECDH (invalid-curve attack).
        val offCurve = b.publicKey.copyOf().also { it[64] = (it[64].toInt() xor 1).toByte() }
        expectThrows<SecureAreaException.Unavailable> { jdk.keyAgreement("store", offCurve) }
        expectThrows<IllegalArgumentException> { P256.publicKey(offCurve) }
        assertEquals(0, jdk.lockScreen.prompts.get())
    }

    @Test fun biometricPromptErrorsMapToTheCoresFailures() {
        // Codes of android.hardware.biometrics.BiometricPrompt (androidx.biometric uses the same).
        assertTrue(biometricPromptError(10) is SecureAreaException.UserCancelled) // USER_CANCELED
        assertTrue(biometricPromptError(13) is SecureAreaException.UserCancelled) // NEGATIVE_BUTTON
        assertTrue(biometricPromptError(7) is SecureAreaException.UserAuthenticationFailed) // LOCKOUT
        assertTrue(biometricPromptError(9) is SecureAreaException.UserAuthenticationFailed) // LOCKOUT_PERMANENT
        assertTrue(biometricPromptError(11) is SecureAreaException.NoUserAuthentication) // NO_BIOMETRICS
        assertTrue(biometricPromptError(14) is SecureAreaException.NoUserAuthentication) // NO_DEVICE_CREDENTIAL
        assertTrue(biometricPromptError(3, "timeout") is SecureAreaException.Unavailable) // TIMEOUT
    }
}

/** The reset app's kind of key (the core's `KeySpec::background_signing`). */
val BACKGROUND_SIGNING = KeySpec(KeyPurpose.SIGN, UserAuthentication.NONE, false, null)

/** The store's unwrapping key (the core's `KeySpec::storage`). */
val STORAGE = KeySpec(KeyPurpose.KEY_AGREEMENT, UserAuthentication.NONE, false, null)

/** A wallet device key (the core's `KeySpec::device_key`): every use asks the user (W10). */
fun deviceKey(challenge: ByteArray = byteArrayOf(1, 2, 3)) =
    KeySpec(KeyPurpose.SIGN, UserAuthentication.EVERY_USE, true, challenge)
