package jp.mynakit

import android.app.KeyguardManager
import android.content.Context
import android.content.pm.PackageManager
import android.hardware.biometrics.BiometricPrompt
import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import android.security.keystore.UserNotAuthenticatedException
import java.security.GeneralSecurityException
import java.security.KeyFactory
import java.security.KeyPairGenerator
import java.security.KeyStore
import java.security.PrivateKey
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import javax.crypto.KeyAgreement
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext

/**
 * A Keystore operation waiting for the user: the app shows its own prompt
 * for it ([KeystoreAuthenticator]).
 */
sealed class KeystoreOperation {
    /** The alias of the key the operation uses. */
    abstract val alias: String

    /**
     * A signature with a key that asks the user before **every** use (W10):
     * `initSign` done, nothing signed yet. Authorise exactly this object:
     * `BiometricPrompt.authenticate(CryptoObject(signature), …)`; a prompt
     * without it does not unlock a per-use key.
     */
    class Signing(override val alias: String, val signature: Signature) : KeystoreOperation()

    /**
     * ECDH with a key that asks the user before every use: `init` done.
     * Authorise it the same way (`CryptoObject(keyAgreement)`, which the
     * framework's BiometricPrompt accepts from Android 15).
     */
    class Agreement(override val alias: String, val keyAgreement: KeyAgreement) : KeystoreOperation()

    /**
     * A key with a validity window after authentication (made elsewhere,
     * not by this class) said `UserNotAuthenticatedException`: a plain
     * prompt (no CryptoObject) unlocks it for its window; the operation is
     * then started again.
     */
    class Unlock(override val alias: String) : KeystoreOperation()
}

/**
 * The app's prompt for keys that need the user. MynaKit shows no UI: the
 * prompt (title, wording, allowed authenticators, the Activity it belongs
 * to) is the app's.
 *
 * Return when the user authenticated; throw a [SecureAreaException] when
 * not: [SecureAreaException.UserCancelled], [SecureAreaException.UserAuthenticationFailed]
 * or [SecureAreaException.NoUserAuthentication] ([biometricPromptError]
 * maps BiometricPrompt's error codes). Called on the caller's coroutine
 * context: switch to the main thread to show the prompt.
 *
 * ```
 * val area = AndroidKeystoreSecureArea(context) { op ->
 *     val crypto = when (op) {
 *         is KeystoreOperation.Signing -> BiometricPrompt.CryptoObject(op.signature)
 *         is KeystoreOperation.Agreement -> BiometricPrompt.CryptoObject(op.keyAgreement)
 *         is KeystoreOperation.Unlock -> null
 *     }
 *     withContext(Dispatchers.Main) { activity.promptForKey(crypto) }   // suspends until onAuthenticationSucceeded / onAuthenticationError
 * }
 * ```
 */
fun interface KeystoreAuthenticator {
    /** Asks the user to authorise [operation]. */
    suspend fun authenticate(operation: KeystoreOperation)
}

/**
 * What a BiometricPrompt error code (framework `BiometricPrompt.BIOMETRIC_ERROR_*`,
 * the same numbers as androidx.biometric's `ERROR_*`) means for the core:
 * the user's own cancel is [SecureAreaException.UserCancelled]; lock-out is
 * [SecureAreaException.UserAuthenticationFailed]; nothing enrolled or no
 * lock screen is [SecureAreaException.NoUserAuthentication]; anything else
 * (hardware, time-out) [SecureAreaException.Unavailable].
 */
fun biometricPromptError(errorCode: Int, message: CharSequence? = null): SecureAreaException = when (errorCode) {
    BiometricPrompt.BIOMETRIC_ERROR_USER_CANCELED,
    BiometricPrompt.BIOMETRIC_ERROR_CANCELED,
    NEGATIVE_BUTTON,
    -> SecureAreaException.UserCancelled()
    BiometricPrompt.BIOMETRIC_ERROR_LOCKOUT,
    BiometricPrompt.BIOMETRIC_ERROR_LOCKOUT_PERMANENT,
    -> SecureAreaException.UserAuthenticationFailed()
    BiometricPrompt.BIOMETRIC_ERROR_NO_BIOMETRICS,
    BiometricPrompt.BIOMETRIC_ERROR_NO_DEVICE_CREDENTIAL,
    BiometricPrompt.BIOMETRIC_ERROR_HW_NOT_PRESENT,
    -> SecureAreaException.NoUserAuthentication()
    else -> SecureAreaException.Unavailable("BiometricPrompt error $errorCode: ${message ?: ""}")
}

/** androidx.biometric's `ERROR_NEGATIVE_BUTTON` (the framework reports it through its own callback). */
private const val NEGATIVE_BUTTON = 13

/**
 * The core's secure area over the Android Keystore: P-256 keys whose private
 * half never leaves the phone's secure hardware, in **StrongBox** when the
 * spec prefers it and the phone has one (API 28+, `FEATURE_STRONGBOX_KEYSTORE`;
 * `StrongBoxUnavailableException` falls back to the TEE), else in the TEE.
 *
 * Keys as the core's `KeySpec` asks (API facts from the Android reference
 * for `KeyGenParameterSpec.Builder`, and the settings multipaz's
 * `AndroidKeystoreCreateKeySettings` exposes):
 * - `Sign`: `PURPOSE_SIGN`, `secp256r1`, `DIGEST_SHA256`; signatures come
 *   back DER and are turned into raw `r‖s` ([P256.rawSignature]).
 * - `KeyAgreement`: `PURPOSE_AGREE_KEY` (API 31+; refused as `Unavailable`
 *   below), ECDH through `KeyAgreement.getInstance("ECDH", "AndroidKeyStore")`.
 * - `EveryUse` (W10): `setUserAuthenticationRequired(true)` with
 *   `setUserAuthenticationParameters(0, AUTH_BIOMETRIC_STRONG or AUTH_DEVICE_CREDENTIAL)`
 *   (API 30+; `setUserAuthenticationValidityDurationSeconds(-1)`, biometrics
 *   only, below). Timeout 0 means every operation needs its own
 *   authentication bound to that operation's CryptoObject: [authenticator]
 *   gets the initialised [Signature] / [KeyAgreement] and shows the app's
 *   BiometricPrompt. Without an authenticator such keys cannot be used
 *   (`NoUserAuthentication`). Creating one on a phone without a secure lock
 *   screen is `NoUserAuthentication`.
 * - an attestation challenge: `setAttestationChallenge`; the key's
 *   certificate chain (leaf carrying the challenge, to Google's or the
 *   maker's root) is the `KeyInfo.attestation`. Without a challenge the
 *   Keystore gives one self-signed certificate, reported as no attestation.
 *
 * Key info comes from the Keystore itself (`KeyFactory.getKeySpec(…, KeyInfo)`):
 * the security level (API 31+ `getSecurityLevel`; below, inside secure
 * hardware is reported as the TEE), purposes, and user authentication (a
 * key with a validity window is reported as `None`: it is not "every use").
 * `KeyPermanentlyInvalidatedException` (lock screen removed, biometrics
 * re-enrolled) is `KeyInvalidated`; `key_info` probes per-use keys for it.
 *
 * The reset app's installation key asks for no user authentication: it
 * proves this installation to the reset authority, not the user's
 * presence (R2, R4 do that).
 *
 * Compiled against the real Android API (android-all) by the JVM suite; it
 * runs only on a device (the JVM has no `AndroidKeyStore` provider). Its
 * encodings ([P256]) and the contract it keeps (the suite's JDK secure area
 * goes through the same java.security calls) are tested on the JVM.
 */
class AndroidKeystoreSecureArea(
    private val hasStrongBox: Boolean,
    private val isDeviceSecure: () -> Boolean,
    private val authenticator: KeystoreAuthenticator?,
) : SecureArea {
    /**
     * StrongBox when [context]'s phone has it; the lock screen from its
     * `KeyguardManager`; [authenticator] the app's prompt for per-use keys.
     */
    constructor(context: Context, authenticator: KeystoreAuthenticator? = null) : this(
        Build.VERSION.SDK_INT >= Build.VERSION_CODES.P &&
            context.packageManager.hasSystemFeature(PackageManager.FEATURE_STRONGBOX_KEYSTORE),
        { context.getSystemService(KeyguardManager::class.java)?.isDeviceSecure == true },
        authenticator,
    )

    private fun keyStore(): KeyStore = KeyStore.getInstance(PROVIDER).apply { load(null) }

    override suspend fun createKey(alias: String, spec: KeySpec): KeyInfo = keystoreCall(alias) {
        if (spec.userAuthentication == UserAuthentication.EVERY_USE && !isDeviceSecure()) {
            throw SecureAreaException.NoUserAuthentication()
        }
        if (spec.purpose == KeyPurpose.KEY_AGREEMENT && Build.VERSION.SDK_INT < Build.VERSION_CODES.S) {
            throw SecureAreaException.Unavailable("ECDH in the Android Keystore needs Android 12 (API 31)")
        }
        val store = keyStore()
        store.deleteEntry(alias)
        val strongBox = spec.preferStrongBox && hasStrongBox
        try {
            generate(alias, spec, strongBox)
        } catch (e: StrongBoxUnavailableException) {
            // Advertised but busy, or not for this key (StrongBox supports fewer features): the TEE.
            generate(alias, spec, strongBox = false)
        }
        describe(store, alias)?.second ?: throw SecureAreaException.Unavailable("the new key $alias is not in the Keystore")
    }

    override suspend fun keyInfo(alias: String): KeyInfo? = keystoreCall(alias) {
        val (key, info) = describe(keyStore(), alias) ?: return@keystoreCall null
        if (info.userAuthentication == UserAuthentication.EVERY_USE) {
            // Starting an operation needs no authentication for a per-use key,
            // but throws KeyPermanentlyInvalidatedException for an invalidated one.
            when (info.purpose) {
                KeyPurpose.SIGN -> Signature.getInstance(SIGNATURE).initSign(key)
                KeyPurpose.KEY_AGREEMENT -> KeyAgreement.getInstance(ECDH, PROVIDER).init(key)
            }
        }
        info
    }

    override suspend fun sign(alias: String, message: ByteArray): ByteArray {
        val (key, info) = keyFor(alias, KeyPurpose.SIGN)
        val signature = started(alias) { Signature.getInstance(SIGNATURE).apply { initSign(key) } }
        if (info.userAuthentication == UserAuthentication.EVERY_USE) {
            authenticate(KeystoreOperation.Signing(alias, signature))
        }
        return keystoreCall(alias) {
            signature.update(message)
            P256.rawSignature(signature.sign())
        }
    }

    override suspend fun keyAgreement(alias: String, peerPublicKey: ByteArray): ByteArray {
        val peer = try {
            P256.publicKey(peerPublicKey)
        } catch (e: IllegalArgumentException) {
            throw SecureAreaException.Unavailable("the peer's public key is not a P-256 point")
        }
        val (key, info) = keyFor(alias, KeyPurpose.KEY_AGREEMENT)
        val agreement = started(alias) { KeyAgreement.getInstance(ECDH, PROVIDER).apply { init(key) } }
        if (info.userAuthentication == UserAuthentication.EVERY_USE) {
            authenticate(KeystoreOperation.Agreement(alias, agreement))
        }
        return keystoreCall(alias) {
            agreement.doPhase(peer, true)
            agreement.generateSecret()
        }
    }

    override suspend fun deleteKey(alias: String): Boolean = keystoreCall(alias) {
        val store = keyStore()
        val existed = store.containsAlias(alias)
        if (existed) store.deleteEntry(alias)
        existed
    }

    /** The key under [alias] and what the Keystore says of it, checked to be for [purpose]. */
    private suspend fun keyFor(alias: String, purpose: KeyPurpose): Pair<PrivateKey, KeyInfo> = keystoreCall(alias) {
        val found = describe(keyStore(), alias) ?: throw SecureAreaException.KeyNotFound(alias)
        if (found.second.purpose != purpose) throw SecureAreaException.WrongPurpose(alias)
        found
    }

    /**
     * Starts an operation; a key with a validity window that is locked
     * (`UserNotAuthenticatedException`) is unlocked by the app's prompt and
     * started once more.
     */
    private suspend fun <T> started(alias: String, start: () -> T): T {
        try {
            return keystoreCall(alias, unlockable = true, block = start)
        } catch (e: Locked) {
            authenticate(KeystoreOperation.Unlock(alias))
        }
        return keystoreCall(alias, block = start)
    }

    private suspend fun authenticate(operation: KeystoreOperation) {
        val prompt = authenticator ?: throw SecureAreaException.NoUserAuthentication()
        try {
            prompt.authenticate(operation)
        } catch (e: SecureAreaException) {
            throw e
        } catch (e: kotlinx.coroutines.CancellationException) {
            throw e
        } catch (e: Exception) {
            throw SecureAreaException.Unavailable("the app's prompt failed: ${e.javaClass.simpleName}: ${e.message}")
        }
    }

    private fun generate(alias: String, spec: KeySpec, strongBox: Boolean) {
        val purpose = when (spec.purpose) {
            KeyPurpose.SIGN -> KeyProperties.PURPOSE_SIGN
            KeyPurpose.KEY_AGREEMENT -> KeyProperties.PURPOSE_AGREE_KEY
        }
        val builder = KeyGenParameterSpec.Builder(alias, purpose)
            .setAlgorithmParameterSpec(ECGenParameterSpec("secp256r1"))
        // A digest only means something for signing (ES256: SHA-256).
        if (spec.purpose == KeyPurpose.SIGN) builder.setDigests(KeyProperties.DIGEST_SHA256)
        if (spec.userAuthentication == UserAuthentication.EVERY_USE) {
            builder.setUserAuthenticationRequired(true)
            if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.R) {
                builder.setUserAuthenticationParameters(
                    0,
                    KeyProperties.AUTH_BIOMETRIC_STRONG or KeyProperties.AUTH_DEVICE_CREDENTIAL,
                )
            } else {
                @Suppress("DEPRECATION")
                builder.setUserAuthenticationValidityDurationSeconds(-1)
            }
        }
        if (strongBox && Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) builder.setIsStrongBoxBacked(true)
        spec.attestationChallenge?.let { builder.setAttestationChallenge(it) }
        val generator = KeyPairGenerator.getInstance(KeyProperties.KEY_ALGORITHM_EC, PROVIDER)
        generator.initialize(builder.build())
        generator.generateKeyPair()
    }

    /** The key under [alias] and the core's view of it, or null when there is none. */
    private fun describe(store: KeyStore, alias: String): Pair<PrivateKey, KeyInfo>? {
        val key = store.getKey(alias, null) as? PrivateKey ?: return null
        val public = store.getCertificate(alias)?.publicKey as? ECPublicKey
            ?: throw SecureAreaException.Unavailable("the key $alias is not an EC key")
        val platform = KeyFactory.getInstance(key.algorithm, PROVIDER)
            .getKeySpec(key, android.security.keystore.KeyInfo::class.java)
        val purpose = when {
            Build.VERSION.SDK_INT >= Build.VERSION_CODES.S &&
                platform.purposes and KeyProperties.PURPOSE_AGREE_KEY != 0 -> KeyPurpose.KEY_AGREEMENT
            platform.purposes and KeyProperties.PURPOSE_SIGN != 0 -> KeyPurpose.SIGN
            else -> throw SecureAreaException.WrongPurpose(alias)
        }
        @Suppress("DEPRECATION")
        val perUse = platform.isUserAuthenticationRequired && platform.userAuthenticationValidityDurationSeconds <= 0
        val chain = store.getCertificateChain(alias).orEmpty()
        return key to KeyInfo(
            publicKey = P256.uncompressed(public),
            purpose = purpose,
            userAuthentication = if (perUse) UserAuthentication.EVERY_USE else UserAuthentication.NONE,
            securityLevel = securityLevel(platform),
            // One certificate is the Keystore's self-signed stand-in, not an attestation.
            attestation = if (chain.size > 1) chain.map { it.encoded } else emptyList(),
        )
    }

    private fun securityLevel(platform: android.security.keystore.KeyInfo): SecurityLevel =
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
            when (platform.securityLevel) {
                KeyProperties.SECURITY_LEVEL_STRONGBOX -> SecurityLevel.STRONG_BOX
                // Secure hardware of a level the platform does not name: the lower one.
                KeyProperties.SECURITY_LEVEL_TRUSTED_ENVIRONMENT,
                KeyProperties.SECURITY_LEVEL_UNKNOWN_SECURE,
                -> SecurityLevel.TRUSTED_ENVIRONMENT
                else -> SecurityLevel.SOFTWARE
            }
        } else {
            @Suppress("DEPRECATION")
            if (platform.isInsideSecureHardware) SecurityLevel.TRUSTED_ENVIRONMENT else SecurityLevel.SOFTWARE
        }

    /** `UserNotAuthenticatedException` where the app's prompt can unlock the key. */
    private class Locked : Exception()

    /** Runs a Keystore call off the main thread, its failures typed for the core. */
    private suspend fun <T> keystoreCall(alias: String, unlockable: Boolean = false, block: () -> T): T =
        withContext(Dispatchers.IO) {
            try {
                block()
            } catch (e: SecureAreaException) {
                throw e
            } catch (e: KeyPermanentlyInvalidatedException) {
                throw SecureAreaException.KeyInvalidated(alias)
            } catch (e: UserNotAuthenticatedException) {
                if (unlockable) throw Locked()
                throw SecureAreaException.UserAuthenticationFailed()
            } catch (e: GeneralSecurityException) {
                throw SecureAreaException.Unavailable("${e.javaClass.simpleName}: ${e.message}")
            } catch (e: java.io.IOException) {
                throw SecureAreaException.Unavailable("${e.javaClass.simpleName}: ${e.message}")
            } catch (e: IllegalArgumentException) {
                throw SecureAreaException.Unavailable("${e.javaClass.simpleName}: ${e.message}")
            } catch (e: IllegalStateException) {
                // e.g. "secure lock screen must be enabled" when it went away meanwhile.
                throw SecureAreaException.Unavailable("${e.javaClass.simpleName}: ${e.message}")
            } catch (e: java.security.ProviderException) {
                // The Keystore daemon's own failures (StrongBox busy, TEE errors).
                throw SecureAreaException.Unavailable("${e.javaClass.simpleName}: ${e.message}")
            }
        }

    companion object {
        /** The JCA provider of the Android Keystore. */
        const val PROVIDER = "AndroidKeyStore"
        private const val SIGNATURE = "SHA256withECDSA"
        private const val ECDH = "ECDH"
    }
}
