import XCTest
@testable import MynaKit

/// The wallet's platform pieces in Swift (XCFramework built with `--sandbox`).
/// Unverified here: these run on a Mac (`swift test`); scripts/suites/swift.sh
/// checks their syntax and the API they call only.
final class WalletTests: XCTestCase {
    /// W12: link failures may pass later; refusals and the user's own cancel never.
    func testOnlyLinkFailuresAreRetryable() {
        XCTAssertTrue(WalletError.AuthorityTimeout.isRetryable)
        XCTAssertTrue(WalletError.AuthorityUnavailable(reason: "offline").isRetryable)
        XCTAssertFalse(WalletError.RecordInForce(recordId: "ab").isRetryable)
        XCTAssertFalse(WalletError.UserCancelled.isRetryable)
    }

    /// A verifier reading garbage is told the response is malformed, not that the record is revoked.
    func testGarbageIsMalformedNotRevoked() {
        XCTAssertThrowsError(try verifyPresentation(anchors: [], deviceResponse: Data([0xFF]),
                                                    sessionTranscript: Data([0x80]), now: Date(),
                                                    statusList: nil)) { error in
            if case VerifyFailure.Malformed = error {} else {
                XCTFail("expected Malformed, got \(error)")
            }
        }
    }

    /// The software secure area's ECDH key does no signing (keys keep to their purpose).
    func testTheSoftwareAreaKeepsKeysToTheirPurpose() async throws {
        let area = softwareSecureAreaInMemory()
        let spec = KeySpec(purpose: .keyAgreement, userAuthentication: .none, preferStrongBox: false,
                           attestationChallenge: nil)
        let info = try await area.createKey(alias: "store", spec: spec)
        XCTAssertEqual(info.purpose, .keyAgreement)
        do {
            _ = try await area.sign(alias: "store", message: Data("x".utf8))
            XCTFail("an ECDH key does not sign")
        } catch SecureAreaError.WrongPurpose(let alias) {
            XCTAssertEqual(alias, "store")
        }
    }
}
