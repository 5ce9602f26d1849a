package jp.mynakit.test

import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicInteger
import javax.crypto.KeyAgreement
import jp.mynakit.KeyInfo
import jp.mynakit.KeyPurpose
import jp.mynakit.KeySpec
import jp.mynakit.KeystoreAuthenticator
import jp.mynakit.KeystoreOperation
import jp.mynakit.P256
import jp.mynakit.SecureArea
import jp.mynakit.SecureAreaException
import jp.mynakit.SecurityLevel
import jp.mynakit.UserAuthentication

/**
 * The test suite's lock screen: answers every prompt as [answer] says and
 * counts the prompts. A [KeystoreAuthenticator], the hook an app gives
 * `AndroidKeystoreSecureArea` for its BiometricPrompt.
 */
class LockScreen : KeystoreAuthenticator {
    /** How the next prompts end. */
    enum class Answer { APPROVE, FAIL, CANCEL }

    @Volatile var answer = Answer.APPROVE

    /** Prompts shown so far. */
    val prompts = AtomicInteger()

    /** The operations prompted for, in order. */
    val operations: MutableList<KeystoreOperation> = java.util.Collections.synchronizedList(mutableListOf())

    override suspend fun authenticate(operation: KeystoreOperation) {
        prompts.incrementAndGet()
        operations += operation
        when (answer) {
            Answer.APPROVE -> Unit
            Answer.FAIL -> throw SecureAreaException.UserAuthenticationFailed()
            Answer.CANCEL -> throw SecureAreaException.UserCancelled()
        }
    }
}

/**
 * A `SecureArea` over the JDK's own P-256 (java.security, the API the
 * Android Keystore is used through: `KeyPairGenerator`, `Signature
 * SHA256withECDSA` giving DER, `KeyAgreement ECDH`), shaped like
 * `AndroidKeystoreSecureArea`: an operation is started, the [lockScreen]
 * authorises that very operation for a key that asks before every use
 * (W10), then it runs. **Software keys, test only**: `SecurityLevel.SOFTWARE`,
 * no attestation.
 *
 * [invalidate] is what Android does when the lock screen is removed or
 * biometrics re-enrolled: every key that needs the user is gone for good
 * (`KeyPermanentlyInvalidatedException`, here `KeyInvalidated`).
 */
class JdkSecureArea(
    val lockScreen: LockScreen = LockScreen(),
    /** Whether the phone has a secure lock screen (else user-bound keys cannot be made). */
    @Volatile var deviceSecure: Boolean = true,
) : SecureArea {
    private class Entry(val pair: KeyPair, val purpose: KeyPurpose, val userAuthentication: UserAuthentication) {
        @Volatile var invalidated = false
    }

    private val keys = ConcurrentHashMap<String, Entry>()

    /** Invalidates every key that asks for the user; how many were. */
    fun invalidate(): Int = keys.values.count { e ->
        (e.userAuthentication == UserAuthentication.EVERY_USE && !e.invalidated).also { if (it) e.invalidated = true }
    }

    override suspend fun createKey(alias: String, spec: KeySpec): KeyInfo {
        if (spec.userAuthentication == UserAuthentication.EVERY_USE && !deviceSecure) {
            throw SecureAreaException.NoUserAuthentication()
        }
        val pair = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }
            .generateKeyPair()
        val entry = Entry(pair, spec.purpose, spec.userAuthentication)
        keys[alias] = entry
        return info(entry)
    }

    override suspend fun keyInfo(alias: String): KeyInfo? {
        val entry = keys[alias] ?: return null
        if (entry.invalidated) throw SecureAreaException.KeyInvalidated(alias)
        return info(entry)
    }

    override suspend fun sign(alias: String, message: ByteArray): ByteArray {
        val entry = usable(alias, KeyPurpose.SIGN)
        val signature = Signature.getInstance("SHA256withECDSA").apply { initSign(entry.pair.private) }
        if (entry.userAuthentication == UserAuthentication.EVERY_USE) {
            lockScreen.authenticate(KeystoreOperation.Signing(alias, signature))
        }
        signature.update(message)
        return P256.rawSignature(signature.sign())
    }

    override suspend fun keyAgreement(alias: String, peerPublicKey: ByteArray): ByteArray {
        val peer = try {
            P256.publicKey(peerPublicKey)
        } catch (e: IllegalArgumentException) {
            throw SecureAreaException.Unavailable("the peer's public key is not a P-256 point")
        }
        val entry = usable(alias, KeyPurpose.KEY_AGREEMENT)
        val agreement = KeyAgreement.getInstance("ECDH").apply { init(entry.pair.private) }
        if (entry.userAuthentication == UserAuthentication.EVERY_USE) {
            lockScreen.authenticate(KeystoreOperation.Agreement(alias, agreement))
        }
        agreement.doPhase(peer, true)
        return agreement.generateSecret()
    }

    override suspend fun deleteKey(alias: String): Boolean = keys.remove(alias) != null

    private fun usable(alias: String, purpose: KeyPurpose): Entry {
        val entry = keys[alias] ?: throw SecureAreaException.KeyNotFound(alias)
        if (entry.invalidated) throw SecureAreaException.KeyInvalidated(alias)
        if (entry.purpose != purpose) throw SecureAreaException.WrongPurpose(alias)
        return entry
    }

    private fun info(entry: Entry) = KeyInfo(
        publicKey = P256.uncompressed(entry.pair.public as ECPublicKey),
        purpose = entry.purpose,
        userAuthentication = entry.userAuthentication,
        securityLevel = SecurityLevel.SOFTWARE,
        attestation = emptyList(),
    )
}
