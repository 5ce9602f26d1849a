import XCTest
@testable import MynaKit

/// The reset's platform pieces in Swift (XCFramework built with `--sandbox`).
/// Unverified here: these run on a Mac (`swift test`); scripts/suites/swift.sh
/// checks their syntax and the API they call only.
final class PinResetTests: XCTestCase {
    /// No connection is Unavailable, a time-out is Timeout, a cancelled task
    /// Cancelled, anything after the request may have gone out AnswerLost.
    func testUrlErrorsSortByWhetherTheRequestMayHaveActed() {
        if case .Unavailable = URLSessionAuthorityLink.linkError(URLError(.cannotConnectToHost)) {} else {
            XCTFail("cannot connect: Unavailable")
        }
        if case .Unavailable = URLSessionAuthorityLink.linkError(URLError(.notConnectedToInternet)) {} else {
            XCTFail("offline: Unavailable")
        }
        if case .Timeout = URLSessionAuthorityLink.linkError(URLError(.timedOut)) {} else {
            XCTFail("timed out: Timeout")
        }
        if case .Cancelled = URLSessionAuthorityLink.linkError(URLError(.cancelled)) {} else {
            XCTFail("cancelled: Cancelled")
        }
        if case .AnswerLost = URLSessionAuthorityLink.linkError(URLError(.networkConnectionLost)) {} else {
            XCTFail("connection lost: AnswerLost")
        }
    }

    func testABaseAddressNeedsASchemeAndAHost() {
        XCTAssertNil(URLSessionAuthorityLink(baseURL: "reset.example"))
        XCTAssertNil(URLSessionAuthorityLink(baseURL: "ftp://reset.example"))
        XCTAssertNotNil(URLSessionAuthorityLink(baseURL: "https://reset.example/api/"))
    }

    func testTheSoftwareSecureAreaKeepsTheContract() async throws {
        let area = softwareSecureAreaInMemory()
        let none = try await area.publicKey(alias: "k")
        XCTAssertNil(none)
        let key = try await area.createKey(alias: "k")
        XCTAssertEqual(key.count, 65)
        let signature = try await area.sign(alias: "k", message: Data("hello".utf8))
        XCTAssertEqual(signature.count, 64)
        let deleted = try await area.deleteKey(alias: "k")
        XCTAssertTrue(deleted)
    }

    func testOnlyLinkAndLockOutFailuresAreRetryable() {
        XCTAssertTrue(ResetError.AuthorityTimeout.isRetryable)
        XCTAssertTrue(ResetError.RateLimited(retryAfter: nil).isRetryable)
        XCTAssertFalse(ResetError.WrongCheckCode(triesLeft: 4).isRetryable)
        XCTAssertFalse(ResetError.WrongSecretForKind.isRetryable)
    }
}
