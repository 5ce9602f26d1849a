import Foundation

/// The PIN-reset app's API (issue 8): reserve a reset of the signing
/// password or the 4-digit user-authentication PIN, which a kiosk finishes
/// within 24 hours (R5).
///
/// ```swift
/// let reset = try PinReset(baseURL: "https://reset.example", storePath: dbPath,
///                          secureArea: SecureEnclaveSecureArea())
/// let flow = try await reset.begin(.signingPassword)
/// try await reset.tap(flow, transport: transport, birthDateText: "昭和60年6月15日生",
///                     expiryText: "2035年6月15日まで有効", securityCode: code, otherSecret: pin)
/// let prompt = try await reset.openFaceCheck(flow)     // R2; not for a PIN reset (R3)
/// let result = try await reset.submitCapture(flow, frames: frames)
/// let kept = try await reset.reserve(flow)             // kept.timeLeft, kept.reservation.stores (R6)
/// ```
///
/// Every step is `async throws`; failures are `ResetError` cases, flat for a
/// `switch`. After one that `isRetryable` says may pass later, call the
/// same step again: the request goes with the same idempotency key.
/// Swift task cancellation does not reach a running step (UniFFI 0.32's
/// Swift bindings do not cancel Rust futures): the link's URLSession task
/// and the NFC session are what to cancel. Unverified: no Swift toolchain
/// here.
public final class PinReset: @unchecked Sendable {
    /// The generated client this wraps.
    public let client: PinResetClient

    /// Wraps `client`.
    public init(client: PinResetClient) {
        self.client = client
    }

    /// A reset client of the authority at `baseURL` over
    /// `URLSessionAuthorityLink`, with the phone's store at `storePath` and
    /// the installation key in `secureArea`.
    public convenience init(baseURL: String, storePath: String, secureArea: SecureArea) throws {
        guard let link = URLSessionAuthorityLink(baseURL: baseURL) else {
            throw ResetError.InvalidInput(reason: "not an authority base address")
        }
        let authority = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.init(client: try PinResetClient(link: link, authority: authority, storePath: storePath, secureArea: secureArea))
    }

    /// The authority's time as last seen: stamp camera frames with it.
    public func now() -> Date {
        client.now()
    }

    /// Step 1: what to reset; fetches the authority's challenge.
    public func begin(_ kind: ResetKind) async throws -> ResetFlow {
        try await client.begin(kind: kind)
    }

    /// Step 3, the one tap: the card front as read and the other secret
    /// (R4: the 4-digit PIN for a signing-password reset, the signing
    /// password for a PIN reset). A wrong card front spends no JPKI try.
    public func tap(_ flow: ResetFlow, transport: CardTransport, birthDateText: String, expiryText: String,
                    securityCode: String, otherSecret: String, allowLastTry: Bool = false) async throws {
        try await client.tap(flow: flow, transport: transport, birthDateText: birthDateText,
                             expiryText: expiryText, securityCode: securityCode,
                             otherSecretText: otherSecret, allowLastTry: allowLastTry)
    }

    /// Step 4 (signing password only, R2): the liveness actions to ask for.
    public func openFaceCheck(_ flow: ResetFlow) async throws -> FaceCheckPrompt {
        try await client.openFaceCheck(flow: flow)
    }

    /// The captured frames (neutral first, then per action, stamped with `now()`); pass or fail only.
    public func submitCapture(_ flow: ResetFlow, frames: [Frame]) async throws -> CaptureResult {
        try await client.submitCapture(flow: flow, frames: frames)
    }

    /// Step 5: the reservation, kept on the phone.
    public func reserve(_ flow: ResetFlow) async throws -> KeptReservation {
        try await client.reserve(flow: flow)
    }

    /// The kept reservations, offline, with time left by the corrected clock.
    public func reservations() throws -> [KeptReservation] {
        try client.reservations()
    }

    /// Asks the authority for this installation's reservations and keeps them.
    public func refresh() async throws -> [KeptReservation] {
        try await client.refresh()
    }

    /// Cancels reservation `id`.
    public func cancel(_ id: String) async throws -> KeptReservation {
        try await client.cancel(id: id)
    }
}

extension ResetError {
    /// Whether calling the same step again later may succeed: the authority
    /// unreachable or slow, 429, 503, a lock-out that ends, a tap
    /// interrupted. Never for a wrong secret or card front.
    public var isRetryable: Bool {
        switch self {
        case .AuthorityUnavailable, .AuthorityTimeout, .AnswerLost, .AnswerGarbled, .Cancelled, .RateLimited,
             .OutOfService, .LockedOut, .CardRemoved, .CardLinkFailed:
            return true
        default:
            return false
        }
    }
}
