package jp.mynakit.test

import jp.mynakit.CertificateKind
import jp.mynakit.CertificateRole
import jp.mynakit.Hierarchy
import jp.mynakit.MynaKit
import jp.mynakit.MynaKitException
import jp.mynakit.TrustAnchors
import jp.mynakit.UntrustedReason
import jp.mynakit.certificateExpiry
import java.util.Base64
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/** Certificate roles, typed refusal reasons, anchor files and DER-based expiry. */
@Timeout(60)
class TrustTest {
    private fun sandboxAnchors(rig: Rig): TrustAnchors =
        rig.card.anchorCertificates().fold(TrustAnchors.empty()) { a, der -> a.withCertificate(der) }

    @Test fun theSigningCertificateOfferedAsAuthenticationIsUntrustedForItsRole() = runBlocking {
        Rig().use { rig ->
            val signing = rig.session.readSigningCertificate(Sandbox.SIGNING_PASSWORD)
            val anchors = sandboxAnchors(rig)
            val e = expectThrows<MynaKitException.Untrusted> { anchors.verify(signing, CertificateRole.AUTHENTICATION, emptyList()) }
            assertEquals(UntrustedReason.WrongRole(CertificateRole.AUTHENTICATION, CertificateRole.SIGNING), e.reason)
            assertTrue(e.detail.startsWith("wrong role"), e.detail)
            // The same certificate for its own role is trusted.
            val anchor = anchors.verify(signing, CertificateRole.SIGNING, emptyList())
            assertEquals(CertificateRole.SIGNING, anchor.role)
            assertEquals(Hierarchy.PRODUCTION, anchor.hierarchy)
        }
    }

    @Test fun eachRefusalSaysWhichCheckRefused() = runBlocking {
        Rig().use { rig ->
            val auth = rig.session.readCertificate(CertificateKind.AUTHENTICATION)
            val ca = rig.session.readCertificate(CertificateKind.AUTHENTICATION_CA)
            val unknown = expectThrows<MynaKitException.Untrusted> { TrustAnchors.production().verify(auth, CertificateRole.AUTHENTICATION, listOf(ca)) }
            assertEquals(UntrustedReason.UnknownCa, unknown.reason)
            val notLeaf = expectThrows<MynaKitException.Untrusted> { sandboxAnchors(rig).verify(ca, CertificateRole.AUTHENTICATION, emptyList()) }
            assertEquals(UntrustedReason.NotALeaf, notLeaf.reason)
        }
    }

    @Test fun anchorFilesInPemOrDer() = runBlocking {
        Rig().use { rig ->
            val auth = rig.session.readCertificate(CertificateKind.AUTHENTICATION)
            val roots = rig.card.anchorCertificates()
            val pem = roots.joinToString("") { der ->
                "-----BEGIN CERTIFICATE-----\n" + Base64.getMimeEncoder(64, "\n".toByteArray()).encodeToString(der) + "\n-----END CERTIFICATE-----\n"
            }.toByteArray()
            val fromPem = MynaKit.trustAnchorsFromFiles(pem)
            assertEquals(CertificateRole.AUTHENTICATION, fromPem.verify(auth, CertificateRole.AUTHENTICATION, emptyList()).role)
            val fromDer = TrustAnchors.empty().withAnchorFile(roots[0]).withAnchorFile(roots[1])
            assertEquals(CertificateRole.AUTHENTICATION, fromDer.verify(auth, CertificateRole.AUTHENTICATION, emptyList()).role)
            // A holder's certificate is no anchor, and garbage is no file.
            expectThrows<MynaKitException.InvalidInput> { TrustAnchors.empty().withAnchorFile(auth.der) }
            expectThrows<MynaKitException.InvalidInput> { TrustAnchors.empty().withAnchorFile("not a certificate".toByteArray()) }
            Unit
        }
    }

    @Test fun expiryComesFromTheDerNotFromEditableFields() = runBlocking {
        Rig().use { rig ->
            val cert = rig.session.readCertificate(CertificateKind.AUTHENTICATION)
            val day = 86_400L
            val later = cert.notAfterUnix + 100 * day
            val honest = certificateExpiry(cert, later)
            // An app (or an attacker with the app's storage) edits the record's dates.
            val edited = cert.copy(notAfterUnix = later + 365 * day, notBeforeUnix = 0)
            assertEquals(honest, certificateExpiry(edited, later))
            assertEquals(jp.mynakit.ExpiryState.EXPIRED_THREE_MONTHS_OR_MORE, certificateExpiry(edited, later).state)
            // The DER is what counts: garbage DER is refused.
            expectThrows<MynaKitException.InvalidInput> { certificateExpiry(cert.copy(der = byteArrayOf(1, 2, 3)), later) }
            Unit
        }
    }
}
