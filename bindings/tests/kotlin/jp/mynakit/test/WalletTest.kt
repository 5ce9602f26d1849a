package jp.mynakit.test

import java.io.File
import java.nio.file.Files
import jp.mynakit.OkHttpAuthorityLink
import jp.mynakit.Wallet
import jp.mynakit.WalletClient
import jp.mynakit.WalletException
import jp.mynakit.isRetryable
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/**
 * The wallet (issue 9) from Kotlin where no issuer is needed: typed
 * failures when the issuer cannot be reached (W12) and offline calls on an
 * empty phone. The lifecycle against the served issuer is
 * [WalletLifecycleTest].
 */
@Timeout(60)
class WalletTest {
    private val dir: File = Files.createTempDirectory("mynakit-wallet").toFile()

    @AfterEach fun cleanUp() {
        dir.deleteRecursively()
    }

    @Test fun w12_anUnreachableIssuerIsARetryableFailureAndNothingIsMade(): Unit = runBlocking {
        val area = JdkSecureArea()
        val base = "http://127.0.0.1:${closedPort()}"
        Wallet(base, File(dir, "phone.db"), area).use { wallet ->
            val e = expectThrows<WalletException.AuthorityUnavailable> { wallet.beginApplication() }
            assertTrue(e.isRetryable, "W12: try again later")
            assertTrue(wallet.records().isEmpty())
            assertTrue(wallet.keptNotices().isEmpty())
            // No device key was made for an application that never started, and no prompt shown.
            assertEquals(0, area.lockScreen.prompts.get())
        }
    }

    @Test fun offlineCallsOnAnEmptyPhoneAreTypedRefusals(): Unit = runBlocking {
        val link = OkHttpAuthorityLink("http://127.0.0.1:${closedPort()}")
        Wallet(WalletClient(link, "issuer.example", File(dir, "phone.db").path, JdkSecureArea())).use { wallet ->
            val missing = expectThrows<WalletException.NoSuchRecord> { wallet.record("00ff") }
            assertEquals("00ff", missing.id)
            // An element name that is neither `namespace/identifier` nor one of the record's.
            val bad = expectThrows<WalletException.InvalidInput> {
                wallet.present("00ff", listOf("no_such_element"), byteArrayOf(0x80.toByte()))
            }
            assertFalse(bad.isRetryable)
            expectThrows<WalletException.NoSuchRecord> {
                wallet.present("00ff", listOf("age_over_20"), byteArrayOf(0x80.toByte()))
            }
        }
    }
}
