package jp.mynakit.test

import jp.mynakit.CalendarDate
import jp.mynakit.CertificateKind
import jp.mynakit.CertificateRole
import jp.mynakit.ExpiryState
import jp.mynakit.LinkCapabilities
import jp.mynakit.MynaKitException
import jp.mynakit.PinKind
import jp.mynakit.PinState
import jp.mynakit.Sex
import jp.mynakit.TokenKind
import jp.mynakit.TrustAnchors
import jp.mynakit.VirtualCard
import jp.mynakit.VirtualLinkSwitches
import jp.mynakit.certificateExpiry
import jp.mynakit.parseCertificate
import jp.mynakit.verifySignature
import java.security.MessageDigest
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/** Every exported operation, through a Kotlin transport forwarding to the virtual card. */
@Timeout(60)
class OperationsTest {
    @Test fun cardStatusReadsTokenCertificatesAndCountersWithoutSpendingATry() = runBlocking {
        Rig().use { rig ->
            val status = rig.session.cardStatus()
            assertEquals(TokenKind.PhysicalCard, status.tokenKind)
            assertTrue(status.hasAuthenticationCertificate)
            assertTrue(status.hasSigningCertificate)
            assertEquals(PinState.TriesLeft(3u), status.authPin)
            assertEquals(PinState.TriesLeft(5u), status.signingPassword)
            assertEquals(0u, rig.card.verifyCommandsReceived())
            assertEquals(rig.transport.sent.size.toUInt(), rig.session.transcriptStats().roundTrips)
        }
    }

    @Test fun aChildsCardHasNoSigningCertificate() = runBlocking {
        Rig(VirtualCard.configured(withSigningCertificate = false, tokenLabel = "JPKIAPICCTOKEN2")).use { rig ->
            val status = rig.session.cardStatus()
            assertFalse(status.hasSigningCertificate)
            assertNull(status.signingPassword)
            expectThrows<MynaKitException.NotSupported> { rig.session.readSigningCertificate(Sandbox.SIGNING_PASSWORD) }
            Unit
        }
    }

    @Test fun tokenKindsFollowTheLabel() = runBlocking {
        Rig(VirtualCard.configured(true, "JPKIAPGPSETOKEN")).use { assertEquals(TokenKind.AndroidToken, it.session.cardStatus().tokenKind) }
        Rig(VirtualCard.configured(true, "SOMETHINGELSE")).use {
            assertEquals(TokenKind.Unknown("SOMETHINGELSE"), it.session.cardStatus().tokenKind)
        }
    }

    @Test fun theAuthCertificateIsReadInTwoRoundTripsOnAnExtendedLink() = runBlocking {
        Rig().use { rig ->
            val cert = rig.session.readCertificate(CertificateKind.AUTHENTICATION)
            assertArrayEquals(rig.card.authCertificateDer(), cert.der)
            assertEquals(2u, rig.session.transcriptStats().roundTrips)
            assertTrue(cert.policies.contains(Sandbox.AUTH_POLICY))
            assertFalse(cert.isCa)
            assertNull(cert.personalAttributes)
            assertTrue(cert.notBeforeUnix < cert.notAfterUnix)
            val sha = MessageDigest.getInstance("SHA-256").digest(cert.der).hex()
            assertEquals(sha, cert.sha256)
        }
    }

    @Test fun aShortOnlyLinkReadsTheSameCertificateInMoreRoundTrips() = runBlocking {
        val shortLink = VirtualLinkSwitches(extendedLength = false, maxTransceiveLength = 261u)
        Rig(switches = shortLink).use { rig ->
            assertEquals(LinkCapabilities(false, 261u), rig.transport.capabilities())
            val cert = rig.session.readCertificate(CertificateKind.AUTHENTICATION)
            assertArrayEquals(rig.card.authCertificateDer(), cert.der)
            assertTrue(rig.session.transcriptStats().roundTrips > 3u)
            // Never an extended-length command on a short link.
            assertTrue(rig.transport.sent.all { it.size <= 261 && !(it.size >= 7 && it[4] == 0.toByte()) })
        }
    }

    @Test fun caCertificatesAreCaCertificates() = runBlocking {
        Rig().use { rig ->
            for (kind in listOf(CertificateKind.AUTHENTICATION_CA, CertificateKind.SIGNING_CA)) {
                val ca = rig.session.readCertificate(kind)
                assertTrue(ca.isCa, "$kind")
            }
        }
    }

    @Test fun theSigningCertificateNeedsThePasswordAndCarriesTheHolder() = runBlocking {
        Rig().use { rig ->
            val holder = rig.card.holder()
            // Lower case is upper-cased, as the card expects.
            val cert = rig.session.readSigningCertificate(Sandbox.SIGNING_PASSWORD.lowercase())
            assertEquals(1u, rig.card.verifyCommandsReceived())
            assertTrue(cert.policies.contains(Sandbox.SIGNING_POLICY))
            val attrs = cert.personalAttributes ?: throw AssertionError("the signing certificate has personal attributes")
            assertEquals(holder.name, attrs.name)
            assertEquals(holder.address, attrs.address)
            assertEquals(holder.birthDate, attrs.birthDate)
            assertEquals(Sex.FEMALE, attrs.sex)
        }
    }

    @Test fun signaturesVerifyAgainstTheCertificates() = runBlocking {
        Rig().use { rig ->
            val message = "login challenge".toByteArray()
            val authSig = rig.session.signWithAuthKey(Sandbox.PIN, message)
            assertEquals(256, authSig.size)
            val auth = rig.session.readCertificate(CertificateKind.AUTHENTICATION)
            assertTrue(verifySignature(auth, message, authSig))
            assertFalse(verifySignature(auth, "other".toByteArray(), authSig))

            val document = "document".toByteArray()
            val signSig = rig.session.signWithSigningKey(Sandbox.SIGNING_PASSWORD, document)
            val signing = rig.session.readSigningCertificate(Sandbox.SIGNING_PASSWORD)
            assertTrue(verifySignature(signing, document, signSig))
            assertFalse(verifySignature(auth, document, signSig))
            // Each PIN was sent once: the session remembers what it verified.
            assertEquals(2u, rig.card.verifyCommandsReceived())
        }
    }

    @Test fun verifyThenSignDoesNotSendThePinTwice() = runBlocking {
        Rig().use { rig ->
            rig.session.verifyAuthPin(Sandbox.PIN)
            rig.session.signWithAuthKey(Sandbox.PIN, byteArrayOf(1, 2, 3))
            assertEquals(1u, rig.card.verifyCommandsReceived())
            rig.session.verifySigningPassword(Sandbox.SIGNING_PASSWORD)
            assertEquals(2u, rig.card.verifyCommandsReceived())
        }
    }

    @Test fun kenhojoReadsTheBasicFourAndTheMyNumberOnlyOnRequest() = runBlocking {
        Rig().use { rig ->
            val holder = rig.card.holder()
            val info = rig.session.readBasicInfo(Sandbox.PIN)
            assertEquals(holder.name, info.name)
            assertEquals("番号", info.familyName)
            assertEquals("花子", info.givenName)
            assertEquals(holder.address, info.address)
            assertEquals(holder.birthDate, info.birthDate)
            assertEquals(CalendarDate(1985, 6u, 15u), info.birthDate)
            assertEquals(Sex.FEMALE, info.sex)
            // The My Number EF (Kenhojo EF 0001, READ BINARY P1 = 0x81) was not read.
            assertFalse(rig.transport.sent.any { it.size >= 4 && it[1] == 0xB0.toByte() && it[2] == 0x81.toByte() })
            assertEquals(holder.myNumber, rig.session.readMyNumber(Sandbox.PIN))
            assertEquals(1u, rig.card.verifyCommandsReceived())
        }
    }

    @Test fun kenmenReadsTheFaceFromThePrintedCardFront() = runBlocking {
        Rig().use { rig ->
            val holder = rig.card.holder()
            val face = rig.session.readCardFace(Sandbox.FRONT_BIRTH_DATE, Sandbox.FRONT_EXPIRY, Sandbox.FRONT_SECURITY_CODE)
            assertEquals(holder.birthDate, face.birthDate)
            assertEquals(holder.cardExpiry, face.cardExpiry)
            assertEquals(Sex.FEMALE, face.sex)
            assertArrayEquals(holder.photoJp2, face.photoJp2)
            assertTrue(face.nameImage.isNotEmpty() && face.securityCodeImage.isNotEmpty())
        }
        // OCR text with full-width digits and spaces.
        Rig().use { rig ->
            val face = rig.session.readCardFace("昭和６０年　６月１５日生", "２０３５年　６月１５日まで有効", "４８２１")
            assertEquals(CalendarDate(2035, 6u, 15u), face.cardExpiry)
        }
    }

    @Test fun badInputIsRefusedBeforeAnythingIsSent() = runBlocking {
        Rig().use { rig ->
            expectThrows<MynaKitException.InvalidInput> { rig.session.verifyAuthPin("12a4") }
            expectThrows<MynaKitException.InvalidInput> { rig.session.signWithAuthKey("12345", byteArrayOf(1)) }
            expectThrows<MynaKitException.InvalidInput> { rig.session.readSigningCertificate("ABCDEF") }
            expectThrows<MynaKitException.InvalidInput> { rig.session.readBasicInfo("") }
            val e = expectThrows<MynaKitException.InvalidInput> {
                rig.session.readCardFace(Sandbox.FRONT_BIRTH_DATE, "令和17年", Sandbox.FRONT_SECURITY_CODE)
            }
            assertTrue(e.reason.startsWith("expiry year"), e.reason)
            val birth = expectThrows<MynaKitException.InvalidInput> {
                rig.session.readCardFace("昭和64年1月8日", Sandbox.FRONT_EXPIRY, Sandbox.FRONT_SECURITY_CODE)
            }
            assertTrue(birth.reason.startsWith("birth date"), birth.reason)
            assertEquals(0, rig.transport.sent.size)
            assertEquals(0u, rig.card.commandsReceived())
        }
    }

    @Test fun pinStatusReadsEveryCounterWithoutSpendingATry() = runBlocking {
        Rig().use { rig ->
            for (kind in PinKind.values()) {
                val state = rig.session.pinStatus(kind)
                val onCard = rig.card.triesLeft(kind) ?: throw AssertionError("$kind exists on the card")
                assertEquals(PinState.TriesLeft(onCard), state, "$kind")
            }
            assertEquals(PinState.TriesLeft(3u), rig.session.pinStatus(PinKind.AUTH_PIN))
            assertEquals(0u, rig.card.verifyCommandsReceived())
        }
    }

    @Test fun chainsVerifyOnlyAgainstConfiguredAnchors() = runBlocking {
        Rig().use { rig ->
            val auth = rig.session.readCertificate(CertificateKind.AUTHENTICATION)
            val cardCa = rig.session.readCertificate(CertificateKind.AUTHENTICATION_CA)
            // The production roots do not know the sandbox CA, and a CA read from the card proves nothing.
            expectThrows<MynaKitException.Untrusted> { TrustAnchors.production().verify(auth, CertificateRole.AUTHENTICATION, listOf(cardCa)) }
            expectThrows<MynaKitException.Untrusted> { TrustAnchors.empty().verify(auth, CertificateRole.AUTHENTICATION, emptyList()) }

            var anchors = TrustAnchors.production()
            for (der in rig.card.anchorCertificates()) anchors = anchors.withCertificate(der)
            val anchor = anchors.verify(auth, CertificateRole.AUTHENTICATION, emptyList())
            val root = rig.card.anchorCertificates().map { parseCertificate(it) }.single { it.sha256 == anchor.sha256 }
            assertEquals(root.subject, anchor.subject)

            // Pinning the root by fingerprint makes the card's own CA copy count.
            val pinned = TrustAnchors.empty().withFingerprint(cardCa.sha256)
            assertEquals(cardCa.sha256, pinned.verify(auth, CertificateRole.AUTHENTICATION, listOf(cardCa)).sha256)
            expectThrows<MynaKitException.Untrusted> { pinned.verify(auth, CertificateRole.AUTHENTICATION, emptyList()) }

            expectThrows<MynaKitException.InvalidInput> { TrustAnchors.empty().withFingerprint("zz") }
            expectThrows<MynaKitException.InvalidInput> { TrustAnchors.empty().withCertificate(byteArrayOf(0x30, 0x03, 1, 2)) }
            Unit
        }
    }

    @Test fun expiryStatesFollowTheInsurersTable() = runBlocking {
        Rig().use { rig ->
            val cert = rig.session.readCertificate(CertificateKind.AUTHENTICATION)
            val day = 86_400L
            fun at(t: Long) = certificateExpiry(cert, t)
            assertEquals(ExpiryState.NOT_YET_VALID, at(cert.notBeforeUnix - 1).state)
            assertEquals(ExpiryState.VALID, at(cert.notBeforeUnix).state)
            assertEquals(ExpiryState.VALID, at(cert.notAfterUnix).state)
            assertEquals(1.toUByte(), at(cert.notAfterUnix).insurerFlag)
            assertEquals(ExpiryState.EXPIRED_UNDER_THREE_MONTHS, at(cert.notAfterUnix + 1).state)
            assertEquals(1.toUByte(), at(cert.notAfterUnix + 30 * day).insurerFlag)
            assertEquals(ExpiryState.EXPIRED_THREE_MONTHS_OR_MORE, at(cert.notAfterUnix + 100 * day).state)
            assertEquals(0.toUByte(), at(cert.notAfterUnix + 100 * day).insurerFlag)
            expectThrows<MynaKitException.InvalidInput> { certificateExpiry(cert, Long.MAX_VALUE) }
            Unit
        }
    }

    @Test fun parseCertificateReadsAnchorsAndRefusesGarbage() {
        VirtualCard().use { card ->
            val roots = card.anchorCertificates().map { parseCertificate(it) }
            assertEquals(2, roots.size)
            assertTrue(roots.all { it.isCa && it.subject == it.issuer })
        }
        expectThrows<MynaKitException.InvalidInput> { parseCertificate(byteArrayOf(1, 2, 3)) }
    }
}
