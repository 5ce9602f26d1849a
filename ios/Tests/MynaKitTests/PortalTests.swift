import XCTest
@testable import MynaKit

/// The portal app's platform pieces in Swift (XCFramework built with
/// `--sandbox`). Unverified here: these run on a Mac (`swift test`);
/// scripts/suites/swift.sh checks their syntax and the API they call only.
/// The login, registration and consents over loopback HTTP are run from
/// Kotlin (PortalLifecycleTest).
final class PortalTests: XCTestCase {
    /// P6: a limit and a maintenance window may pass later; a refusal, the
    /// terms not agreed (P7) and a missing session never do.
    func testOnlyLinkFailuresAndWaitsAreRetryable() {
        XCTAssertTrue(PortalError.RateLimited(retryAfterSeconds: 30).isRetryable)
        XCTAssertTrue(PortalError.OutOfService(retryAfterSeconds: nil).isRetryable)
        XCTAssertTrue(PortalError.AuthorityTimeout.isRetryable)
        XCTAssertFalse(PortalError.TermsNotAgreed(current: "2026-04").isRetryable)
        XCTAssertFalse(PortalError.Refused(refusal: .alreadyRegistered, status: 409).isRetryable)
        XCTAssertFalse(PortalError.LoginRequired.isRetryable)
        XCTAssertFalse(PortalError.LastTry.isRetryable)
    }

    /// Without a session every portal call asks for the card, and nothing
    /// is sent (the base address points nowhere).
    func testWithoutASessionTheCardIsNeeded() async throws {
        let path = NSTemporaryDirectory() + "mynakit-portal-\(Date().timeIntervalSince1970).db"
        let portal = try Portal(baseURL: "http://127.0.0.1:9", storePath: path,
                                secureArea: softwareSecureAreaInMemory())
        let session = try await portal.session()
        XCTAssertNil(session)
        XCTAssertNil(try portal.recordedTermsAgreement())
        do {
            _ = try await portal.insuranceStatus()
            XCTFail("no session: LoginRequired")
        } catch PortalError.LoginRequired {
        }
    }
}
