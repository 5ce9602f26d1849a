import Foundation

/// The card-substitute wallet (issue 9): the holder's card information as
/// an ISO 18013-5 mdoc signed by the issuer, bound to a Secure Enclave key
/// that asks the user before every use (W1, W10).
///
/// ```swift
/// let wallet = try Wallet(baseURL: "https://issuer.example", storePath: dbPath,
///                         secureArea: SecureEnclaveSecureArea())
/// let application = try await wallet.beginApplication()          // nonce; the device key (W10)
/// try await wallet.tap(application, transport: transport, cardInfoPin: pin, signingPassword: password)
/// let record = try await wallet.submitApplication(application)   // one prompt; W3, W4
/// let response = try await wallet.present(record.recordId, elements: ["age_over_20"],
///                                         sessionTranscript: transcript)   // prompt (W10)
/// let report = try await wallet.refresh()                        // re-issue without the card (W6)
/// ```
///
/// Every network step is `async throws`; failures are `WalletError` cases,
/// flat for a `switch`. After one that `isRetryable` says may pass later,
/// call the same step again: the request goes under the same idempotency
/// key. Swift task cancellation does not reach a running step (UniFFI's
/// Swift bindings do not cancel Rust futures). Unverified: no Swift
/// toolchain here; scripts/suites/swift.sh checks syntax and the API called.
public final class Wallet: @unchecked Sendable {
    /// The generated client this wraps.
    public let client: WalletClient

    /// Wraps `client`.
    public init(client: WalletClient) {
        self.client = client
    }

    /// A wallet of the issuer at `baseURL` over `URLSessionAuthorityLink`,
    /// with the phone's store at `storePath` and the keys in `secureArea`.
    public convenience init(baseURL: String, storePath: String, secureArea: SecureArea) throws {
        guard let link = URLSessionAuthorityLink(baseURL: baseURL) else {
            throw WalletError.InvalidInput(reason: "not an issuer base address")
        }
        let authority = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.init(client: try WalletClient(link: link, authority: authority, storePath: storePath,
                                           secureArea: secureArea))
    }

    /// The issuer's time as last seen.
    public func now() -> Date {
        client.now()
    }

    /// Step 1: the issuer's nonce and a new device key (W10); refused while
    /// a record is in force (W3).
    public func beginApplication() async throws -> WalletApplication {
        try await client.beginApplication()
    }

    /// Step 2, the one tap (W2): the card-info PIN and the signing password.
    public func tap(_ application: WalletApplication, transport: CardTransport,
                    cardInfoPin: String, signingPassword: String) async throws {
        try await client.tap(application: application, transport: transport,
                             cardInfoPin: cardInfoPin, signingPassword: signingPassword)
    }

    /// Step 3: the device key signs (one prompt) and the issuer issues.
    public func submitApplication(_ application: WalletApplication) async throws -> WalletRecord {
        try await client.submitApplication(application: application)
    }

    /// Sends again applications sent without a final answer before the app stopped.
    public func resumeApplications() async throws -> [WalletRecord] {
        try await client.resumeApplications()
    }

    /// The records on this phone, newest first, offline.
    public func records() throws -> [WalletRecord] {
        try client.records()
    }

    /// One record, offline.
    public func record(_ recordId: String) throws -> WalletRecord {
        try client.record(recordId: recordId)
    }

    /// The record's elements for the holder's own screen (personal data).
    public func recordElements(_ recordId: String) async throws -> [RecordElement] {
        try await client.recordElements(recordId: recordId)
    }

    /// A `DeviceResponse` (CBOR) with only `elements`, signed over the
    /// verifier's `sessionTranscript` after the user's authentication (W10).
    public func present(_ recordId: String, elements: [String], sessionTranscript: Data) async throws -> Data {
        try await client.present(recordId: recordId, elements: elements, sessionTranscript: sessionTranscript)
    }

    /// The issuer's word on the records, re-issue when due (W6), notices.
    public func refresh() async throws -> RefreshReport {
        try await client.refresh()
    }

    /// Stops the record for good (W7(2), (3)); one prompt.
    public func revoke(_ recordId: String) async throws -> WalletRecord {
        try await client.revoke(recordId: recordId)
    }

    /// The holder's notices and the public ones (W8, W9), fetched now.
    public func notices() async throws -> Notices {
        try await client.notices()
    }

    /// The holder's notices kept from the last fetch, offline.
    public func keptNotices() throws -> [Notice] {
        try client.keptNotices()
    }

    /// The status list token at `uri`, fetched or reused within its ttl;
    /// `nil`: undetermined, never "revoked".
    public func statusList(_ uri: String) async throws -> Data? {
        try await client.statusList(uri: uri)
    }
}

extension WalletError {
    /// Whether calling the same step again later may succeed (the issuer
    /// unreachable or slow, W12; 429; 503; a damaged answer; a tap
    /// interrupted). The core decides.
    public var isRetryable: Bool {
        walletErrorIsRetryable(error: self)
    }
}
