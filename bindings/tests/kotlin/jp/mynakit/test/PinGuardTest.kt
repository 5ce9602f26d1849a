package jp.mynakit.test

import jp.mynakit.MynaKitException
import jp.mynakit.PinKind
import jp.mynakit.PinState
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/** Wrong PIN, the last try and blocked PINs, as Kotlin exceptions. */
@Timeout(60)
class PinGuardTest {
    @Test fun aWrongPinReportsTriesLeftAndTheRightOneRestoresThem() = runBlocking {
        Rig().use { rig ->
            val e = expectThrows<MynaKitException.WrongPin> { rig.session.verifyAuthPin("0000") }
            assertEquals(2.toUByte(), e.triesLeft)
            assertEquals(2.toUByte(), rig.card.triesLeft(PinKind.AUTH_PIN))
            rig.session.verifyAuthPin(Sandbox.PIN)
            assertEquals(3.toUByte(), rig.card.triesLeft(PinKind.AUTH_PIN))
        }
    }

    @Test fun theLastTryNeedsConfirmationAndNothingIsSentWithout() = runBlocking {
        Rig().use { rig ->
            expectThrows<MynaKitException.WrongPin> { rig.session.verifyAuthPin("0000") }
            val second = expectThrows<MynaKitException.WrongPin> { rig.session.signWithAuthKey("1111", byteArrayOf(1)) }
            assertEquals(1.toUByte(), second.triesLeft)
            val sent = rig.card.verifyCommandsReceived()
            expectThrows<MynaKitException.LastTryNeedsConfirmation> { rig.session.verifyAuthPin(Sandbox.PIN) }
            assertEquals(sent, rig.card.verifyCommandsReceived(), "no VERIFY with data was sent")
            assertEquals(1.toUByte(), rig.card.triesLeft(PinKind.AUTH_PIN))
            rig.session.verifyAuthPin(Sandbox.PIN, allowLastTry = true)
            assertEquals(3.toUByte(), rig.card.triesLeft(PinKind.AUTH_PIN))
        }
    }

    @Test fun theExhaustingTryAndEveryLaterOneReportABlockedPin() = runBlocking {
        Rig().use { rig ->
            expectThrows<MynaKitException.WrongPin> { rig.session.verifyAuthPin("0000") }
            expectThrows<MynaKitException.WrongPin> { rig.session.verifyAuthPin("0001") }
            expectThrows<MynaKitException.PinBlocked> { rig.session.verifyAuthPin("0002", allowLastTry = true) }
            assertEquals(PinState.Blocked, rig.session.pinStatus(PinKind.AUTH_PIN))
            val sent = rig.card.verifyCommandsReceived()
            // With the counter read (last try not allowed) nothing reaches a blocked PIN.
            expectThrows<MynaKitException.PinBlocked> { rig.session.signWithAuthKey(Sandbox.PIN, byteArrayOf(1)) }
            assertEquals(sent, rig.card.verifyCommandsReceived(), "nothing is sent to a blocked PIN")
            // With the last try allowed the counter read is skipped: the card refuses (6984), counting nothing.
            expectThrows<MynaKitException.PinBlocked> { rig.session.signWithAuthKey(Sandbox.PIN, byteArrayOf(1), allowLastTry = true) }
            assertEquals(0.toUByte(), rig.card.triesLeft(PinKind.AUTH_PIN))
            assertEquals(PinState.Blocked, rig.newSession().pinStatus(PinKind.AUTH_PIN))
        }
    }

    @Test fun theSigningPasswordAndTheKenhojoPinHaveTheirOwnCounters() = runBlocking {
        Rig().use { rig ->
            val e = expectThrows<MynaKitException.WrongPin> { rig.session.signWithSigningKey("WRONG1", byteArrayOf(1)) }
            assertEquals(4.toUByte(), e.triesLeft)
            val k = expectThrows<MynaKitException.WrongPin> { rig.session.readBasicInfo("9999") }
            assertEquals(2.toUByte(), k.triesLeft)
            assertEquals(PinState.TriesLeft(3u), rig.session.pinStatus(PinKind.AUTH_PIN))
            assertEquals(PinState.TriesLeft(4u), rig.session.pinStatus(PinKind.SIGNING_PASSWORD))
            assertEquals(PinState.TriesLeft(2u), rig.session.pinStatus(PinKind.KENHOJO_PIN))
        }
    }

    @Test fun aWrongCardFrontIsAWrongCheckCode() = runBlocking {
        Rig().use { rig ->
            val before = rig.card.triesLeft(PinKind.CHECK_CODE_B)!!
            val e = expectThrows<MynaKitException.WrongCheckCode> {
                rig.session.readCardFace(Sandbox.FRONT_BIRTH_DATE, Sandbox.FRONT_EXPIRY, "0000")
            }
            assertEquals((before - 1u).toUByte(), e.triesLeft)
        }
    }
}
