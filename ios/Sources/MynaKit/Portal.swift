import Foundation

/// The Mynaportal-style app (issue 10): log in with the card's
/// authentication key (P2), then the portal's features with that session:
/// the terms (P7), the health-insurance registration (P1, P3, §6), consents
/// for the self-information API (S1) and agents (P5).
///
/// ```swift
/// let portal = try Portal(baseURL: "https://portal.example", storePath: dbPath,
///                         secureArea: SecureEnclaveSecureArea())
/// let flow = try await portal.beginLogin()                      // the portal's challenge
/// try await portal.tap(flow, transport: transport, pin: pin)    // one tap (P2)
/// let session = try await portal.finishLogin(flow)              // tokens kept sealed
/// let terms = try await portal.terms()
/// if !terms.agreedToCurrent { _ = try await portal.acceptTerms(terms.current.version) }   // P7
/// let status = try await portal.registerInsurance(termsVersion: terms.current.version) // P1
/// let request = try await portal.consentRequest(requestIdFromTheService)                // S1
/// let consent = try await portal.grantConsent(request.requestId, items: request.items)
/// ```
///
/// Every network step is `async throws`; failures are `PortalError` cases,
/// flat for a `switch` (`LoginRequired`, `TermsNotAgreed(current:)`,
/// `LastTry`, `RateLimited(retryAfterSeconds:)`, `Refused(refusal:status:)`,
/// …). After one that `isRetryable` says may pass later, call the same step
/// again: a state-changing request goes under the same idempotency key.
/// Swift task cancellation does not reach a running step (UniFFI's Swift
/// bindings do not cancel Rust futures). Unverified: no Swift toolchain
/// here; scripts/suites/swift.sh checks syntax, the API called and the ABI.
public final class Portal: @unchecked Sendable {
    /// The generated client this wraps.
    public let client: PortalClient

    /// Wraps `client`.
    public init(client: PortalClient) {
        self.client = client
    }

    /// A client of the portal at `baseURL` (also its issuer identifier, the
    /// ID token's `iss`) over `URLSessionAuthorityLink`, with the phone's
    /// store at `storePath` and the vault's key in `secureArea`.
    public convenience init(baseURL: String, storePath: String, secureArea: SecureArea) throws {
        guard let link = URLSessionAuthorityLink(baseURL: baseURL) else {
            throw PortalError.InvalidInput(reason: "not a portal base address")
        }
        let authority = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.init(client: try PortalClient(link: link, authority: authority, storePath: storePath,
                                           secureArea: secureArea))
    }

    /// The portal's time as last seen.
    public func now() -> Date {
        client.now()
    }

    // MARK: Login (P2)

    /// Step 1: the portal's challenge for a fresh PKCE verifier, `state`
    /// and `nonce`.
    public func beginLogin() async throws -> LoginFlow {
        try await client.beginLogin()
    }

    /// Step 2, the one tap: the authentication certificate, the 4-digit
    /// authentication PIN and the card's signature over the challenge. With
    /// one try left nothing is sent unless `allowLastTry` (the user
    /// confirmed after `PortalError.LastTry`).
    public func tap(_ flow: LoginFlow, transport: CardTransport, pin: String,
                    allowLastTry: Bool = false) async throws {
        try await client.tap(flow: flow, transport: transport, pin: pin, allowLastTry: allowLastTry)
    }

    /// Step 3: the proof sent, the code exchanged, the ID token checked,
    /// the session kept sealed. After a retryable failure (P6) call it
    /// again with the same flow: it resumes without another tap.
    public func finishLogin(_ flow: LoginFlow) async throws -> Session {
        try await client.finishLogin(flow: flow)
    }

    /// The session kept on this phone, or `nil` (offline).
    public func session() async throws -> Session? {
        try await client.session()
    }

    /// The authentication certificate's standing as of the last login
    /// (app-protocols §7, §6 flag), offline.
    public func certificateStanding() async throws -> CertificateStanding {
        try await client.certificateStanding()
    }

    /// Renews the access token now; a refused refresh is `LoginRequired`.
    public func refreshSession() async throws -> Session {
        try await client.refreshSession()
    }

    /// Forgets the session on this phone.
    public func logout() async throws {
        try await client.logout()
    }

    /// P5: act for the holder who granted `grantId` on every later call, or
    /// for oneself with `nil`.
    public func actOnBehalfOf(_ grantId: String?) {
        client.actOnBehalfOf(grantId: grantId)
    }

    // MARK: Terms (P7)

    /// The terms in force and the holder's last agreement.
    public func terms() async throws -> TermsState {
        try await client.terms()
    }

    /// Agrees to `version` (the one the holder was shown); also recorded on
    /// the phone.
    public func acceptTerms(_ version: String) async throws -> TermsAgreement {
        try await client.acceptTerms(version: version)
    }

    /// The agreement this phone recorded last, or `nil` (offline).
    public func recordedTermsAgreement() throws -> TermsAgreement? {
        try client.recordedTermsAgreement()
    }

    // MARK: Health insurance (P1, P3, §6)

    /// The holder's registration as the insurer sees it (the insured card
    /// is personal data: never log).
    public func insuranceStatus() async throws -> InsuranceStatus {
        try await client.insuranceStatus()
    }

    /// P1 method 2: registers the card as the health-insurance card; needs
    /// the terms in force agreed (P7).
    public func registerInsurance(termsVersion: String) async throws -> InsuranceStatus {
        try await client.registerInsurance(termsVersion: termsVersion)
    }

    /// Releases the registration at the holder's request (§6 reason 1).
    public func releaseInsurance() async throws -> InsuranceStatus {
        try await client.releaseInsurance()
    }

    // MARK: Consents (S1)

    /// A service's request, as the holder is asked about it.
    public func consentRequest(_ requestId: String) async throws -> ConsentRequest {
        try await client.consentRequest(requestId: requestId)
    }

    /// Grants `items` (a subset of those asked) for the request's purpose
    /// and retention.
    public func grantConsent(_ requestId: String, items: [DataItem]) async throws -> Consent {
        try await client.grantConsent(requestId: requestId, items: items)
    }

    /// Refuses the request; the service gets nothing.
    public func refuseConsent(_ requestId: String) async throws -> ConsentRequest {
        try await client.refuseConsent(requestId: requestId)
    }

    /// Every consent the holder gave, newest first.
    public func consents() async throws -> [Consent] {
        try await client.consents()
    }

    /// Withdraws a consent: the service may fetch nothing more and deletes
    /// what it kept.
    public func withdrawConsent(_ consentId: String) async throws -> Consent {
        try await client.withdrawConsent(consentId: consentId)
    }

    // MARK: Agents (P5)

    /// The holder's delegations.
    public func agents() async throws -> [AgentGrant] {
        try await client.agents()
    }

    /// Delegates `scopes` to an agent named `label`; the answer carries the
    /// one-time invitation code.
    public func addAgent(label: String, scopes: [AgentScope]) async throws -> AgentGrant {
        try await client.addAgent(label: label, scopes: scopes)
    }

    /// Changes what the agent may do, at once.
    public func changeAgent(_ grantId: String, scopes: [AgentScope]) async throws -> AgentGrant {
        try await client.changeAgent(grantId: grantId, scopes: scopes)
    }

    /// Ends the delegation, at once.
    public func removeAgent(_ grantId: String) async throws -> AgentGrant {
        try await client.removeAgent(grantId: grantId)
    }

    /// The agent's side (logged in with the agent's own card): accepts an
    /// invitation; then `actOnBehalfOf` with the grant id.
    public func acceptAgency(invitationCode: String) async throws -> Agency {
        try await client.acceptAgency(invitationCode: invitationCode)
    }

    /// The agent's side: the delegations this user holds.
    public func agencies() async throws -> [Agency] {
        try await client.agencies()
    }
}

extension PortalError {
    /// Whether calling the same step again later may succeed (the portal
    /// unreachable or slow; 429 and 503, P6; a damaged answer; a tap
    /// interrupted). The core's rule, one for Kotlin and Swift.
    public var isRetryable: Bool {
        portalErrorIsRetryable(error: self)
    }
}
