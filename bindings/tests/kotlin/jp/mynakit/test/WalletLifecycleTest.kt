package jp.mynakit.test

import java.io.File
import java.nio.file.Files
import java.time.Duration
import jp.mynakit.ElementValue
import jp.mynakit.KeystoreOperation
import jp.mynakit.OkHttpAuthorityLink
import jp.mynakit.ReapplyReason
import jp.mynakit.ReissueReason
import jp.mynakit.RecordStatus
import jp.mynakit.RevocationReason
import jp.mynakit.SecurityLevel
import jp.mynakit.UserAuthentication
import jp.mynakit.VirtualCard
import jp.mynakit.VirtualLinkSwitches
import jp.mynakit.Wallet
import jp.mynakit.WalletException
import jp.mynakit.StatusCheck
import jp.mynakit.VerifyFailure
import jp.mynakit.verifyPresentation
import kotlinx.coroutines.runBlocking
import okhttp3.MediaType.Companion.toMediaType
import okhttp3.Request
import okhttp3.RequestBody.Companion.toRequestBody
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/**
 * The whole wallet lifecycle from Kotlin (issue 9), as a phone lives it:
 * [Wallet] over [OkHttpAuthorityLink] against the reference issuer served on
 * real loopback HTTP (`mynakit sandbox serve`), the sandbox virtual card
 * behind a Kotlin transport, and the JDK secure area with its lock screen
 * (every use of the device key asks: W10).
 */
@Timeout(180)
class WalletLifecycleTest {
    private val dir: File = Files.createTempDirectory("mynakit-wallet-life").toFile()

    @AfterEach fun cleanUp() {
        dir.deleteRecursively()
    }

    /** An ISO 18013-5 SessionTranscript as a verifier would send it: `[null, null, handover]`. */
    private val transcript = byteArrayOf(0x83.toByte(), 0xF6.toByte(), 0xF6.toByte(), 0x41, 0x07)

    /** Moves the served sandbox's clock (the sandbox-only admin route the CLI's `sandbox clock advance` uses). */
    private fun advanceClock(served: ServedSandbox, by: String) {
        val request = Request.Builder()
            .url("${served.baseUrl}/v1/sandbox/clock/advance")
            .header("Idempotency-Key", jp.mynakit.newIdempotencyKey())
            .post("""{"by":"$by"}""".toRequestBody("application/json".toMediaType()))
            .build()
        OkHttpAuthorityLink.defaultClient().newCall(request).execute().use { answer ->
            assertEquals(200, answer.code, "clock advance: ${answer.body.string()}")
        }
    }

    /** GET [url] on the served sandbox: the body's bytes. */
    private fun fetch(url: String): ByteArray {
        val request = Request.Builder().url(url).get().build()
        return OkHttpAuthorityLink.defaultClient().newCall(request).execute().use { answer ->
            assertEquals(200, answer.code, url)
            answer.body.bytes()
        }
    }

    @Test fun w2_w3_w5_w6_w7_w10_applyPresentVerifyReissueAndRevokeOverLoopbackHttp(): Unit = runBlocking {
        ServedSandbox().use { served ->
            val card = VirtualCard()
            val area = JdkSecureArea()
            Wallet(served.baseUrl, File(dir, "phone.db"), area).use { wallet ->
                // Apply (W2-W4): the device key asks before every use (W10).
                val application = wallet.beginApplication()
                val key = application.deviceKey() ?: throw AssertionError("no device key")
                assertEquals(UserAuthentication.EVERY_USE, key.userAuthentication)
                assertEquals(SecurityLevel.SOFTWARE, key.securityLevel)
                wallet.tap(
                    application,
                    ForwardingTransport(card.link(VirtualLinkSwitches())),
                    Sandbox.PIN.toCharArray(),
                    Sandbox.SIGNING_PASSWORD.toCharArray(),
                )
                assertTrue(application.tapped())
                val before = area.lockScreen.prompts.get()
                val record = wallet.submitApplication(application)
                assertEquals(before + 1, area.lockScreen.prompts.get(), "W10: the device key signed the application after a prompt")
                assertTrue(area.lockScreen.operations.last() is KeystoreOperation.Signing)
                assertEquals(RecordStatus.VALID, record.status)
                assertTrue(record.inForce)
                val validity = Duration.between(record.validFrom, record.validUntil)
                assertTrue(validity >= Duration.ofDays(27) && validity <= Duration.ofDays(32), "W5: one month, $validity")

                // W3: one record in force.
                expectThrows<WalletException.RecordInForce> { wallet.beginApplication() }

                // The holder's own screen: the card's information, no prompt.
                val prompts = area.lockScreen.prompts.get()
                val elements = wallet.recordElements(record.recordId)
                val over20 = elements.single { it.identifier == "age_over_20" }
                assertTrue(over20.value is ElementValue.Bool)
                assertTrue(elements.any { it.identifier == "portrait" && it.value is ElementValue.Bytes })
                assertEquals(prompts, area.lockScreen.prompts.get())

                // Present (W10): one prompt per presentation, each use counted.
                val response = wallet.present(record.recordId, listOf("age_over_20"), transcript)
                assertTrue(response.isNotEmpty())
                assertEquals(prompts + 1, area.lockScreen.prompts.get())
                assertEquals(1uL, wallet.record(record.recordId).uses)
                // A cancelled prompt presents nothing.
                area.lockScreen.answer = LockScreen.Answer.CANCEL
                expectThrows<WalletException.UserCancelled> {
                    wallet.present(record.recordId, listOf("age_over_20"), transcript)
                }
                area.lockScreen.answer = LockScreen.Answer.APPROVE
                val statusList = wallet.statusList(record.statusUri)
                assertNotNull(statusList, "the issuer publishes its status list")

                // Verify as a verifier would: the issuer's IACA as anchor, the signed status list.
                val iaca = fetch("${served.baseUrl}/v1/wallet/iaca")
                val verified = verifyPresentation(listOf(iaca), response, transcript, wallet.now(), statusList)
                assertEquals("org.iso.23220.1.jp.mnc", verified.docType)
                assertEquals(listOf("age_over_20"), verified.elements.map { it.identifier }, "only what was asked")
                assertEquals(StatusCheck.Valid, verified.status)
                // Replayed into another session: the device signature does not cover it.
                val otherTranscript = byteArrayOf(0x83.toByte(), 0xF6.toByte(), 0xF6.toByte(), 0x41, 0x08)
                expectThrows<VerifyFailure.DeviceSignature> {
                    verifyPresentation(listOf(iaca), response, otherTranscript, wallet.now(), statusList)
                }
                // No anchor for this issuer: not trusted. No status list: undetermined, never "revoked".
                expectThrows<VerifyFailure.UntrustedIssuer> {
                    verifyPresentation(emptyList(), response, transcript, wallet.now(), statusList)
                }
                assertTrue(verifyPresentation(listOf(iaca), response, transcript, wallet.now(), null).status is StatusCheck.Undetermined)

                // A month passes on the issuer's clock: refresh re-issues without the card (W6(1)).
                advanceClock(served, "32d")
                val report = wallet.refresh()
                val reissued = report.reissued ?: throw AssertionError("no re-issue after the validity ended: $report")
                assertEquals(record.recordId, reissued.oldRecordId)
                assertEquals(ReissueReason.VALIDITY_ENDED, reissued.reason)
                assertEquals(null, report.reapply)
                val current = wallet.record(reissued.newRecordId)
                assertNotEquals(record.recordId, current.recordId)
                assertEquals(RecordStatus.VALID, current.status)
                assertTrue(current.validFrom.isAfter(record.validUntil.minus(Duration.ofDays(1))))
                // The old one can no longer be presented.
                expectThrows<WalletException.RecordNotUsable> {
                    wallet.present(record.recordId, listOf("age_over_20"), transcript)
                }
                val beforeRevocation = wallet.present(current.recordId, listOf("age_over_18"), transcript)
                assertEquals(
                    StatusCheck.Valid,
                    verifyPresentation(listOf(iaca), beforeRevocation, transcript, wallet.now(), fetch(current.statusUri)).status,
                )

                // The holder revokes from the phone (W7(2)): for good.
                val revoked = wallet.revoke(current.recordId)
                assertEquals(RecordStatus.REVOKED, revoked.status)
                assertEquals(RevocationReason.HOLDER_REQUEST, revoked.revocationReason)
                expectThrows<WalletException.RecordNotUsable> {
                    wallet.present(current.recordId, listOf("age_over_20"), transcript)
                }
                // The verifier reading a fresh list sees the old presentation revoked.
                val fresh = fetch(current.statusUri)
                expectThrows<VerifyFailure.Revoked> {
                    verifyPresentation(listOf(iaca), beforeRevocation, transcript, wallet.now(), fresh)
                }
                val notices = wallet.notices()
                assertTrue(notices.holder.any { it.recordId == current.recordId }, "the revocation is confirmed: ${notices.holder}")
            }
        }
    }

    @Test fun w10_w11_aRemovedLockScreenLeavesTheRecordUnusableAndAsksForTheCard(): Unit = runBlocking {
        ServedSandbox().use { served ->
            val card = VirtualCard()
            val area = JdkSecureArea()
            Wallet(served.baseUrl, File(dir, "phone.db"), area).use { wallet ->
                val application = wallet.beginApplication()
                wallet.tap(
                    application,
                    ForwardingTransport(card.link(VirtualLinkSwitches())),
                    Sandbox.PIN.toCharArray(),
                    Sandbox.SIGNING_PASSWORD.toCharArray(),
                )
                val record = wallet.submitApplication(application)
                // The lock screen goes: Android invalidates every key that asks for the user.
                assertEquals(1, area.invalidate(), "only the device key asks for the user; the vault's key does not")
                val prompts = area.lockScreen.prompts.get()
                val e = expectThrows<WalletException.ReapplyWithCard> {
                    wallet.present(record.recordId, listOf("age_over_20"), transcript)
                }
                assertEquals(ReapplyReason.DEVICE_KEY_INVALIDATED, e.reason)
                assertEquals(prompts, area.lockScreen.prompts.get(), "no prompt for a key that is gone")
                // The record is still listed (the vault opens), and can be read on the holder's screen.
                assertEquals(listOf(record.recordId), wallet.records().map { it.recordId })
                assertTrue(wallet.recordElements(record.recordId).isNotEmpty())
            }
        }
    }
}
