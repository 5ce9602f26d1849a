import XCTest
import LocalAuthentication
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
        let none = try await area.keyInfo(alias: "k")
        XCTAssertNil(none)
        let spec = KeySpec(purpose: .sign, userAuthentication: .none, preferStrongBox: false, attestationChallenge: nil)
        let info = try await area.createKey(alias: "k", spec: spec)
        XCTAssertEqual(info.publicKey.count, 65)
        XCTAssertEqual(info.securityLevel, .software)
        XCTAssertTrue(info.attestation.isEmpty)
        let signature = try await area.sign(alias: "k", message: Data("hello".utf8))
        XCTAssertEqual(signature.count, 64)
        do {
            _ = try await area.keyAgreement(alias: "k", peerPublicKey: info.publicKey)
            XCTFail("a signing key does no ECDH")
        } catch SecureAreaError.WrongPurpose(let alias) {
            XCTAssertEqual(alias, "k")
        }
        let deleted = try await area.deleteKey(alias: "k")
        XCTAssertTrue(deleted)
    }

    /// The Secure Enclave's failures as the core's (mapping only: the enclave
    /// itself needs a device).
    func testSecureEnclaveFailuresMapToTheCoresErrors() {
        if case .UserCancelled = SecureEnclaveSecureArea.mapped(
            domain: LAErrorDomain, code: LAError.userCancel.rawValue, alias: "k", description: "") {} else {
            XCTFail("user cancel: UserCancelled")
        }
        if case .UserAuthenticationFailed = SecureEnclaveSecureArea.mapped(
            domain: NSOSStatusErrorDomain, code: Int(errSecAuthFailed), alias: "k", description: "") {} else {
            XCTFail("errSecAuthFailed: UserAuthenticationFailed")
        }
        if case .NoUserAuthentication = SecureEnclaveSecureArea.mapped(
            domain: LAErrorDomain, code: LAError.passcodeNotSet.rawValue, alias: "k", description: "") {} else {
            XCTFail("no passcode: NoUserAuthentication")
        }
        if case .KeyNotFound(let alias) = SecureEnclaveSecureArea.mapped(
            domain: NSOSStatusErrorDomain, code: Int(errSecItemNotFound), alias: "k", description: "") {
            XCTAssertEqual(alias, "k")
        } else {
            XCTFail("errSecItemNotFound: KeyNotFound")
        }
    }

    func testOnlyLinkAndLockOutFailuresAreRetryable() {
        XCTAssertTrue(ResetError.AuthorityTimeout.isRetryable)
        XCTAssertTrue(ResetError.RateLimited(retryAfter: nil).isRetryable)
        XCTAssertFalse(ResetError.WrongCheckCode(triesLeft: 4).isRetryable)
        XCTAssertFalse(ResetError.WrongSecretForKind.isRetryable)
    }
}
