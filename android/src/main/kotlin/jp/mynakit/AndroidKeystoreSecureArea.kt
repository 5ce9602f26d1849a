package jp.mynakit

import android.content.Context
import android.content.pm.PackageManager
import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import android.security.keystore.UserNotAuthenticatedException
import java.security.GeneralSecurityException
import java.security.KeyPairGenerator
import java.security.KeyStore
import java.security.PrivateKey
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext

/**
 * The core's secure area over the Android Keystore: P-256 keys whose private
 * half never leaves the phone's secure hardware, in **StrongBox** when the
 * phone has one (API 28+, `FEATURE_STRONGBOX_KEYSTORE`), else in the TEE.
 *
 * The reset app keeps its installation key here (issue 8). It asks for no
 * user authentication (`setUserAuthenticationRequired` stays off): the key
 * proves this installation to the reset authority, not the user's
 * presence; the user proves themself with the card and its secret (R4) and
 * the face check (R2). The wallet's device keys (issue 9) are the ones to
 * require user authentication; that is their job, not this class's.
 *
 * Compiled against the real Android API (android-all) by the JVM suite; it
 * runs only on a device (the JVM has no `AndroidKeyStore` provider). The
 * encodings it hands the core (SEC1 public key, raw `r‖s`) are [P256]'s,
 * tested on the JVM.
 */
class AndroidKeystoreSecureArea(private val preferStrongBox: Boolean) : SecureArea {
    /** Uses StrongBox when [context]'s phone has it. */
    constructor(context: Context) : this(
        Build.VERSION.SDK_INT >= Build.VERSION_CODES.P &&
            context.packageManager.hasSystemFeature(PackageManager.FEATURE_STRONGBOX_KEYSTORE),
    )

    private fun keyStore(): KeyStore = KeyStore.getInstance(PROVIDER).apply { load(null) }

    override suspend fun createKey(alias: String): ByteArray = keystoreCall(alias) {
        keyStore().deleteEntry(alias)
        val public = try {
            generate(alias, strongBox = preferStrongBox)
        } catch (e: StrongBoxUnavailableException) {
            // Advertised but busy or absent for this key type: the TEE.
            generate(alias, strongBox = false)
        }
        P256.uncompressed(public)
    }

    override suspend fun publicKey(alias: String): ByteArray? = keystoreCall(alias) {
        (keyStore().getCertificate(alias)?.publicKey as? ECPublicKey)?.let { P256.uncompressed(it) }
    }

    override suspend fun sign(alias: String, message: ByteArray): ByteArray = keystoreCall(alias) {
        val key = keyStore().getKey(alias, null) as? PrivateKey
            ?: throw SecureAreaException.KeyNotFound(alias)
        val der = Signature.getInstance("SHA256withECDSA").run {
            initSign(key)
            update(message)
            sign()
        }
        P256.rawSignature(der)
    }

    override suspend fun deleteKey(alias: String): Boolean = keystoreCall(alias) {
        val store = keyStore()
        val existed = store.containsAlias(alias)
        if (existed) store.deleteEntry(alias)
        existed
    }

    private fun generate(alias: String, strongBox: Boolean): ECPublicKey {
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_SIGN)
            .setAlgorithmParameterSpec(ECGenParameterSpec("secp256r1"))
            .setDigests(KeyProperties.DIGEST_SHA256)
            .apply { if (strongBox && Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) setIsStrongBoxBacked(true) }
            .build()
        val generator = KeyPairGenerator.getInstance(KeyProperties.KEY_ALGORITHM_EC, PROVIDER)
        generator.initialize(spec)
        return generator.generateKeyPair().public as ECPublicKey
    }

    /** Runs a Keystore call off the main thread, its failures typed for the core. */
    private suspend fun <T> keystoreCall(alias: String, block: () -> T): T = withContext(Dispatchers.IO) {
        try {
            block()
        } catch (e: SecureAreaException) {
            throw e
        } catch (e: KeyPermanentlyInvalidatedException) {
            throw SecureAreaException.KeyInvalidated(alias)
        } catch (e: UserNotAuthenticatedException) {
            throw SecureAreaException.UserCancelled()
        } catch (e: GeneralSecurityException) {
            throw SecureAreaException.Unavailable("${e.javaClass.simpleName}: ${e.message}")
        } catch (e: java.io.IOException) {
            throw SecureAreaException.Unavailable("${e.javaClass.simpleName}: ${e.message}")
        } catch (e: IllegalArgumentException) {
            throw SecureAreaException.Unavailable("${e.javaClass.simpleName}: ${e.message}")
        } catch (e: java.security.ProviderException) {
            // The Keystore daemon's own failures (StrongBox busy, TEE errors).
            throw SecureAreaException.Unavailable("${e.javaClass.simpleName}: ${e.message}")
        }
    }

    companion object {
        /** The JCA provider of the Android Keystore. */
        const val PROVIDER = "AndroidKeyStore"
    }
}
