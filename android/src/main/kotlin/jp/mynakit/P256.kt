package jp.mynakit

// Plain Kotlin (no android.* import): the encodings the core expects from a
// secure area, tested on the JVM by scripts/suites/kotlin.sh.

import java.math.BigInteger
import java.security.AlgorithmParameters
import java.security.KeyFactory
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.security.spec.ECParameterSpec
import java.security.spec.ECPoint
import java.security.spec.ECPublicKeySpec

/**
 * P-256 encodings between what Java security APIs (and the Android
 * Keystore) hand out and what the core's `SecureArea` contract asks for.
 */
object P256 {
    /** Bytes of one P-256 coordinate or scalar. */
    const val FIELD_BYTES = 32

    /** The public key as SEC1 uncompressed: `04 ‖ x ‖ y`, 65 bytes. */
    fun uncompressed(key: ECPublicKey): ByteArray {
        require(key.params.curve.field.fieldSize == 256) { "not a P-256 key" }
        return byteArrayOf(4) + fixed(key.w.affineX) + fixed(key.w.affineY)
    }

    /**
     * A SEC1 uncompressed P-256 public key (`04 ‖ x ‖ y`) as a JCA key, for
     * ECDH with a peer. Throws [IllegalArgumentException] unless it is a
     * point on the curve: the JCA providers do not all check, and ECDH with
     * an off-curve point leaks bits of the private key (invalid-curve attack).
     */
    fun publicKey(sec1: ByteArray): ECPublicKey {
        require(sec1.size == 1 + 2 * FIELD_BYTES && sec1[0] == 4.toByte()) { "not a SEC1 uncompressed P-256 key" }
        val x = BigInteger(1, sec1.copyOfRange(1, 1 + FIELD_BYTES))
        val y = BigInteger(1, sec1.copyOfRange(1 + FIELD_BYTES, sec1.size))
        val params = AlgorithmParameters.getInstance("EC").apply { init(ECGenParameterSpec("secp256r1")) }
            .getParameterSpec(ECParameterSpec::class.java)
        val p = (params.curve.field as java.security.spec.ECFieldFp).p
        require(x < p && y < p) { "coordinate out of range" }
        // y² = x³ + a·x + b (mod p)
        val right = x.pow(3).add(params.curve.a.multiply(x)).add(params.curve.b).mod(p)
        require(y.pow(2).mod(p) == right) { "not a point on P-256" }
        return KeyFactory.getInstance("EC").generatePublic(ECPublicKeySpec(ECPoint(x, y), params)) as ECPublicKey
    }

    /**
     * An ECDSA signature as DER (`SEQUENCE { INTEGER r, INTEGER s }`, what
     * `Signature("SHA256withECDSA")` returns) turned into raw `r ‖ s`
     * (64 bytes), what ES256 and the core use. Throws
     * [IllegalArgumentException] on anything else.
     */
    fun rawSignature(der: ByteArray): ByteArray {
        var at = 0
        fun byte(): Int {
            require(at < der.size) { "truncated ECDSA signature" }
            return der[at++].toInt() and 0xFF
        }
        fun length(): Int {
            val first = byte()
            // Short form only: a P-256 signature's parts are at most 72 bytes.
            require(first < 0x80) { "unexpected DER length form" }
            return first
        }
        require(byte() == 0x30) { "not a DER SEQUENCE" }
        require(length() == der.size - at) { "DER SEQUENCE length mismatch" }
        val parts = List(2) {
            require(byte() == 0x02) { "not a DER INTEGER" }
            val n = length()
            require(n in 1..FIELD_BYTES + 1 && at + n <= der.size) { "bad INTEGER length" }
            BigInteger(1, der.copyOfRange(at, at + n)).also { at += n }
        }
        require(at == der.size) { "trailing bytes after the signature" }
        return fixed(parts[0]) + fixed(parts[1])
    }

    /** A non-negative integer as exactly 32 big-endian bytes. */
    private fun fixed(n: BigInteger): ByteArray {
        val bytes = n.toByteArray().dropWhile { it == 0.toByte() }.toByteArray()
        require(bytes.size <= FIELD_BYTES) { "value too large for P-256" }
        return ByteArray(FIELD_BYTES - bytes.size) + bytes
    }
}
