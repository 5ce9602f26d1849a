import XCTest
@testable import MynaKit

/// A transport written in Swift, as an app writes one, forwarding every APDU
/// to a link to the sandbox virtual card (XCFramework built with `--sandbox`).
final class ForwardingTransport: CardTransport, @unchecked Sendable {
    let link: VirtualLink
    private let counter = Counter()
    /// Answers, throws, waits, or returns nil to forward.
    var intercept: ((Int, Data) async throws -> Data?)?

    init(_ link: VirtualLink) { self.link = link }

    func capabilities() -> LinkCapabilities { link.capabilities() }

    func transmit(command: Data) async throws -> Data {
        let index = await counter.next()
        if let intercept, let answer = try await intercept(index, command) { return answer }
        return try await link.transmit(command: command)
    }
}

/// Numbers the exchanges.
actor Counter {
    private var value = 0

    func next() -> Int {
        defer { value += 1 }
        return value
    }
}

/// A one-shot gate tasks can wait on without blocking a thread.
actor Gate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func open() {
        isOpen = true
        waiters.forEach { $0.resume() }
        waiters.removeAll()
    }
}

enum Sandbox {
    static let pin = "1234"
    static let signingPassword = "SANDBOX1"
}

final class MynaKitTests: XCTestCase {
    private func rig(_ switches: VirtualLinkSwitches = VirtualLinkSwitches(
        extendedLength: true, maxTransceiveLength: 65_538, removeAtExchange: nil,
        removeAfterCard: true, answerDelayMillis: 0)
    ) -> (VirtualCard, ForwardingTransport, CardSession) {
        let card = VirtualCard()
        let transport = ForwardingTransport(card.link(switches: switches))
        return (card, transport, CardSession(transport: transport))
    }

    func testCardStatusSpendsNoTry() async throws {
        let (card, _, session) = rig()
        let status = try await session.cardStatus()
        XCTAssertEqual(status.tokenKind, .physicalCard)
        XCTAssertTrue(status.hasSigningCertificate)
        XCTAssertEqual(status.authPin, .triesLeft(tries: 3))
        XCTAssertEqual(card.verifyCommandsReceived(), 0)
    }

    func testAuthCertificateChainsToTheSandboxAnchors() async throws {
        let (card, _, session) = rig()
        let anchors = try trustAnchors(adding: card.anchorCertificates())
        let (certificate, anchor) = try await session.readTrustedAuthCertificate(anchors: anchors)
        XCTAssertEqual(certificate.der, card.authCertificateDer())
        XCTAssertFalse(anchor.sha256.isEmpty)
        do {
            _ = try TrustAnchors.production().verify(leaf: certificate, role: .authentication, cardCaCertificates: [])
            XCTFail("the production roots do not know the sandbox CA")
        } catch MynaKitError.Untrusted {
        }
    }

    func testSignatureVerifies() async throws {
        let (_, _, session) = rig()
        let message = Data("challenge".utf8)
        let signature = try await session.signWithAuthKey(pin: Sandbox.pin, message: message)
        let certificate = try await session.readCertificate(which: .authentication)
        XCTAssertEqual(signature.count, 256)
        XCTAssertTrue(try certificate.verifies(message: message, signature: signature))
        XCTAssertFalse(try certificate.verifies(message: Data("other".utf8), signature: signature))
    }

    func testWrongPinThenLastTryNeedsConfirmation() async throws {
        let (card, _, session) = rig()
        for expected: UInt8 in [2, 1] {
            do {
                try await session.verifyAuthPin(pin: "0000")
                XCTFail("wrong PIN accepted")
            } catch let MynaKitError.WrongPin(triesLeft) {
                XCTAssertEqual(triesLeft, expected)
            }
        }
        let sent = card.verifyCommandsReceived()
        do {
            try await session.verifyAuthPin(pin: Sandbox.pin)
            XCTFail("the last try was spent without confirmation")
        } catch MynaKitError.LastTryNeedsConfirmation {
        }
        XCTAssertEqual(card.verifyCommandsReceived(), sent)
        try await session.verifyAuthPin(pin: Sandbox.pin, allowLastTry: true)
        XCTAssertEqual(card.triesLeft(pin: .authPin), 3)
    }

    func testCardRemovedAndLostVerify() async throws {
        let (_, _, session) = rig(VirtualLinkSwitches(
            extendedLength: true, maxTransceiveLength: 65_538, removeAtExchange: 3,
            removeAfterCard: true, answerDelayMillis: 0))
        do {
            try await session.verifyAuthPin(pin: "9999")
            XCTFail("the card left")
        } catch let MynaKitError.VerifyOutcomeUnknown(triesLeft, _) {
            XCTAssertNil(triesLeft)
        }
        do {
            _ = try await session.pinStatus(pin: .authPin)
            XCTFail("the card is gone")
        } catch let error as MynaKitError {
            XCTAssertEqual(error, .CardRemoved)
            XCTAssertTrue(error.isTapAgain)
        }
    }

    func testTransportFailuresFromSwift() async throws {
        let (_, transport, session) = rig()
        transport.intercept = { _, _ in throw TransportFailure.CardRemoved }
        do {
            _ = try await session.cardStatus()
            XCTFail("the transport failed")
        } catch MynaKitError.CardRemoved {
        }
        transport.intercept = nil
        _ = try await session.cardStatus()
    }

    func testSessionBusyWhileACallRuns() async throws {
        let (_, transport, session) = rig()
        let gate = Gate()
        let entered = Gate()
        transport.intercept = { index, _ in
            if index == 0 {
                await entered.open()
                await gate.wait()
            }
            return nil
        }
        let first = Task { try await session.readCertificate(which: .authentication) }
        await entered.wait()
        do {
            _ = try await session.pinStatus(pin: .authPin)
            XCTFail("a second call ran concurrently")
        } catch MynaKitError.SessionBusy {
        }
        await gate.open()
        _ = try await first.value
        let state = try await session.pinStatus(pin: .authPin)
        XCTAssertEqual(state, .triesLeft(tries: 3))
    }

    func testARustPanicIsAnError() {
        XCTAssertThrowsError(try sandboxPanic(message: "deliberate")) { error in
            XCTAssertTrue(String(describing: error).contains("deliberate"))
        }
    }

    func testCardFaceFromThePrintedFront() async throws {
        let (card, _, session) = rig()
        let face = try await session.readCardFace(
            birthDateText: "昭和60年6月15日生", expiryText: "2035年6月15日まで有効", securityCode: "4821")
        XCTAssertEqual(face.photoJp2, card.holder().photoJp2)
        XCTAssertEqual(face.cardExpiry.dateComponents.year, 2035)
        do {
            _ = try await session.readCardFace(birthDateText: "昭和60年6月15日生", expiryText: "令和17年", securityCode: "4821")
            XCTFail("bad expiry text accepted")
        } catch MynaKitError.InvalidInput {
        }
    }

    func testApduFieldsForCoreNfc() {
        // Case 1: bare VERIFY.
        XCTAssertEqual(CommandApduFields(Data([0x00, 0x20, 0x00, 0x98]))?.expectedResponseLength, -1)
        // Case 2 short, Le 00 -> 256.
        let short = CommandApduFields(Data([0x00, 0xB0, 0x8A, 0x00, 0x00]))
        XCTAssertEqual(short?.expectedResponseLength, 256)
        // Case 2 extended, Le 0000 -> 65536.
        XCTAssertEqual(CommandApduFields(Data([0x00, 0xB0, 0x8A, 0x00, 0x00, 0x00, 0x00]))?.expectedResponseLength, 65_536)
        // Case 3 short: SELECT by AID.
        let select = CommandApduFields(Data([0x00, 0xA4, 0x04, 0x0C, 0x02, 0xD3, 0x92]))
        XCTAssertEqual(select?.data, Data([0xD3, 0x92]))
        XCTAssertEqual(select?.expectedResponseLength, -1)
        // Case 4 short: signature with Le 00.
        let sign = CommandApduFields(Data([0x80, 0x2A, 0x00, 0x97, 0x02, 0x01, 0x02, 0x00]))
        XCTAssertEqual(sign?.data, Data([0x01, 0x02]))
        XCTAssertEqual(sign?.expectedResponseLength, 256)
        // Case 4 extended.
        let ext = CommandApduFields(Data([0x00, 0x2A, 0x00, 0x00, 0x00, 0x00, 0x01, 0xAA, 0x01, 0x00]))
        XCTAssertEqual(ext?.data, Data([0xAA]))
        XCTAssertEqual(ext?.expectedResponseLength, 256)
        // Not APDUs.
        XCTAssertNil(CommandApduFields(Data([0x00, 0xA4])))
        XCTAssertNil(CommandApduFields(Data([0x00, 0xA4, 0x04, 0x0C, 0x05, 0x01])))
    }

    func testValueHelpers() {
        XCTAssertEqual(PinState.triesLeft(tries: 2).remainingTries, 2)
        XCTAssertEqual(PinState.blocked.remainingTries, 0)
        XCTAssertNil(PinState.verified.remainingTries)
        XCTAssertEqual(CalendarDate(year: 1985, month: 6, day: 15).dateComponents.month, 6)
    }
}
