import Foundation

/// Opens a card session over `transport`, runs `body` with it and returns
/// its result. Every operation of `CardSession` is `async throws`; failures
/// are `MynaKitError` cases (`.WrongPin(triesLeft:)`, `.PinBlocked`,
/// `.LastTryNeedsConfirmation`, `.VerifyOutcomeUnknown`, `.CardRemoved`, …).
///
/// Swift task cancellation does not reach a running card operation (UniFFI
/// 0.32's Swift bindings do not cancel Rust futures): invalidate the NFC
/// reader session instead — `CardReader.run` does that when its task is
/// cancelled. The exchange in flight then fails with `.Cancelled`; a VERIFY
/// in flight ends as `.VerifyOutcomeUnknown` (the card may have counted a
/// try), other operations as `.Cancelled`. Unverified: no Swift toolchain here.
public func withCardSession<R>(
    _ transport: CardTransport,
    _ body: (CardSession) async throws -> R
) async throws -> R {
    let session = CardSession(transport: transport)
    return try await body(session)
}

/// The production JPKI roots plus every CA certificate of anchor files the
/// app ships (PEM with one or more certificates, or one DER certificate).
public func trustAnchors(addingFiles anchorFiles: [Data]) throws -> TrustAnchors {
    try anchorFiles.reduce(TrustAnchors.production()) { try $0.withAnchorFile(contents: $1) }
}

/// The production JPKI roots plus the app's own anchor certificates (DER).
public func trustAnchors(adding anchorCertificates: [Data] = []) throws -> TrustAnchors {
    try anchorCertificates.reduce(TrustAnchors.production()) { try $0.withCertificate(der: $1) }
}

extension CardSession {
    /// Reads the authentication certificate and its CA certificate and checks
    /// the chain against `anchors` (throws `.Untrusted` otherwise).
    public func readTrustedAuthCertificate(anchors: TrustAnchors) async throws -> (Certificate, TrustedAnchor) {
        let certificate = try await readCertificate(which: .authentication)
        let ca = try await readCertificate(which: .authenticationCa)
        return (certificate, try anchors.verify(leaf: certificate, role: .authentication, cardCaCertificates: [ca]))
    }
}

extension Certificate {
    /// Start of validity.
    public var notBefore: Date { Date(timeIntervalSince1970: TimeInterval(notBeforeUnix)) }

    /// End of validity.
    public var notAfter: Date { Date(timeIntervalSince1970: TimeInterval(notAfterUnix)) }

    /// The expiry state at `date` (default now), in the insurers' terms.
    public func expiry(at date: Date = Date()) throws -> CertificateExpiry {
        try certificateExpiry(certificate: self, atUnix: Int64(date.timeIntervalSince1970.rounded(.down)))
    }

    /// True when `signature` is this certificate's key's signature over SHA-256 of `message`.
    public func verifies(message: Data, signature: Data) throws -> Bool {
        try verifySignature(certificate: self, message: message, signature: signature)
    }
}

extension CalendarDate {
    /// The date as Gregorian date components.
    public var dateComponents: DateComponents {
        DateComponents(calendar: Calendar(identifier: .gregorian), year: Int(year), month: Int(month), day: Int(day))
    }
}

extension PinState {
    /// Tries left; nil when the card reports the PIN as verified, 0 when blocked.
    public var remainingTries: Int? {
        switch self {
        case let .triesLeft(tries): return Int(tries)
        case .verified: return nil
        case .blocked: return 0
        }
    }
}

extension MynaKitError {
    /// True for failures the user fixes by holding the card to the phone again.
    /// A lost PIN check (`.VerifyOutcomeUnknown`) is not one: read the PIN state first.
    public var isTapAgain: Bool {
        switch self {
        case .CardRemoved, .LinkFailed: return true
        default: return false
        }
    }
}
