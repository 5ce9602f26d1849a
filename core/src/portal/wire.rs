//! The portal's wire format (`docs/portal-protocol.md`): the OpenID
//! Connect login with the card (P2, shaped like the Digital Authentication
//! App: authorization code + PKCE S256, `state` and `nonce` required), the
//! portal API (terms P7, health-insurance registration P1/P3, consents S1,
//! agents P5) and the byte string the card's authentication key signs. One
//! definition for the phone (`portal::client`) and the reference portal in
//! `mynakit-sandbox`.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::hex::hex_bytes;

/// The portal API's path prefix.
pub const API_PREFIX: &str = "/v1/portal";
/// OpenID Connect discovery (OpenID Connect Discovery 1.0 §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// The authorization endpoint (RFC 6749 §3.1): `GET` with the query of
/// [`AuthorizeQuery`], answered with a [`LoginChallenge`].
pub const AUTHORIZE_PATH: &str = "/v1/portal/authorize";
/// Where the card's proof goes: `POST` a [`CardProof`], answered with an
/// [`AuthorizationResult`] (the code, RFC 6749 §4.1.2).
pub const PROOF_PATH: &str = "/v1/portal/authorize/proof";
/// The token endpoint (RFC 6749 §3.2): `POST`
/// `application/x-www-form-urlencoded`, answered with [`TokenResponse`].
pub const TOKEN_PATH: &str = "/v1/portal/token";
/// The portal's ID-token signing keys (RFC 7517 JWK Set).
pub const JWKS_PATH: &str = "/v1/portal/jwks";

/// The phone app's client id: a public native client (RFC 8252), so it
/// authenticates no secret; PKCE protects its code (RFC 7636).
pub const APP_CLIENT_ID: &str = "mynaportal-app";
/// The phone app's redirect URI: a private-use URI scheme (RFC 8252 §7.1).
pub const APP_REDIRECT_URI: &str = "jp.mynakit.portal:/oauth2redirect";
/// The only scope the login asks for.
pub const OPENID_SCOPE: &str = "openid";
/// The only PKCE method accepted (RFC 7636 §4.2; the Digital Authentication
/// App accepts no `plain`).
pub const PKCE_METHOD: &str = "S256";
/// `amr` values of a card login (RFC 8176): a hardware-held key and a PIN.
pub const CARD_LOGIN_AMR: [&str; 2] = ["hwk", "pin"];
/// The `acr` of a card login (policy: the Digital Authentication App's
/// `aal3`).
pub const CARD_LOGIN_ACR: &str = "aal3";

/// The media type of a token request body.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// The header an agent (P5) names the holder's grant with, on any portal
/// API request it makes on the holder's behalf.
pub const ON_BEHALF_OF_HEADER: &str = "On-Behalf-Of";

/// OpenID Provider metadata (OpenID Connect Discovery 1.0 §3), the fields
/// this portal publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// The issuer identifier: the `iss` of every ID token.
    pub issuer: String,
    /// The authorization endpoint's URL.
    pub authorization_endpoint: String,
    /// The token endpoint's URL.
    pub token_endpoint: String,
    /// The JWK Set's URL.
    pub jwks_uri: String,
    /// `["code"]`.
    pub response_types_supported: Vec<String>,
    /// `["authorization_code", "refresh_token"]`.
    pub grant_types_supported: Vec<String>,
    /// `["pairwise"]`.
    pub subject_types_supported: Vec<String>,
    /// `["ES256"]`.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// `["S256"]`.
    pub code_challenge_methods_supported: Vec<String>,
    /// `["none"]` for the public app client.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// `["openid"]`.
    pub scopes_supported: Vec<String>,
}

/// The authorization request's query (RFC 6749 §4.1.1, RFC 7636 §4.3,
/// OpenID Connect Core §3.1.2.1). Every field is required here: `state`
/// and `nonce` (the Digital Authentication App's rule), and PKCE with S256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeQuery {
    /// `code`.
    pub response_type: String,
    /// The client.
    pub client_id: String,
    /// Where the code goes; must be the client's registered one.
    pub redirect_uri: String,
    /// `openid`.
    pub scope: String,
    /// The client's CSRF token, echoed in the authorization response.
    pub state: String,
    /// Bound into the ID token (replay protection).
    pub nonce: String,
    /// BASE64URL(SHA-256(code_verifier)).
    pub code_challenge: String,
    /// `S256`.
    pub code_challenge_method: String,
}

/// The authorization endpoint's answer to a native client: the challenge
/// the card signs. One use, short-lived (`portal::policy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginChallenge {
    /// Names this authorization request at the portal.
    pub request_id: String,
    /// 32 random bytes, hex.
    #[serde(with = "hex_bytes")]
    pub challenge: Vec<u8>,
    /// When the portal forgets it.
    pub expires_at: DateTime<Utc>,
}

/// The domain-separation prefix of [`card_login_message`].
pub const CARD_LOGIN_CONTEXT: &[u8] = b"MynaKit portal login v1\0";

/// What the card's authentication key signs (PKCS#1 v1.5 over its
/// SHA-256, as every JPKI authentication signature): the context, the
/// request id, a zero byte, the challenge. The challenge is bound at the
/// portal to the client, redirect URI, state, nonce and PKCE challenge,
/// so the signature authorises exactly one authorization request.
pub fn card_login_message(request_id: &str, challenge: &[u8]) -> Vec<u8> {
    let mut message = CARD_LOGIN_CONTEXT.to_vec();
    message.extend_from_slice(request_id.as_bytes());
    message.push(0);
    message.extend_from_slice(challenge);
    message
}

/// The card's proof for one authorization request (P2).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardProof {
    /// The request the challenge came with.
    pub request_id: String,
    /// The user-authentication certificate, DER, hex. Sent once and not
    /// kept by the phone after the login.
    #[serde(with = "hex_bytes")]
    pub certificate: Vec<u8>,
    /// The card's signature over [`card_login_message`], hex.
    #[serde(with = "hex_bytes")]
    pub signature: Vec<u8>,
}

impl fmt::Debug for CardProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardProof")
            .field("request_id", &self.request_id)
            .field(
                "certificate",
                &format_args!("<{} bytes>", self.certificate.len()),
            )
            .field(
                "signature",
                &format_args!("<{} bytes>", self.signature.len()),
            )
            .finish()
    }
}

/// The authorization response (RFC 6749 §4.1.2) for a native client: the
/// redirect the browser would follow, and its parts.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationResult {
    /// `redirect_uri?code=…&state=…`.
    pub redirect_to: String,
    /// The authorization code: one use, short-lived.
    pub code: String,
    /// The client's `state`, echoed.
    pub state: String,
}

impl fmt::Debug for AuthorizationResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationResult")
            .field("code", &"<secret>")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Drop for AuthorizationResult {
    fn drop(&mut self) {
        self.code.zeroize();
        self.redirect_to.zeroize();
    }
}

/// A token request (RFC 6749 §4.1.3, §6), sent form-encoded.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "grant_type", rename_all = "snake_case")]
pub enum TokenRequest {
    /// The code for tokens, with the PKCE verifier (RFC 7636 §4.5).
    AuthorizationCode {
        /// The code.
        code: String,
        /// The same redirect URI as in the authorization request.
        redirect_uri: String,
        /// The client.
        client_id: String,
        /// The PKCE verifier.
        code_verifier: String,
    },
    /// A refresh token for new tokens (rotated: the old one is spent).
    RefreshToken {
        /// The refresh token.
        refresh_token: String,
        /// The client.
        client_id: String,
    },
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AuthorizationCode { client_id, .. } => f
                .debug_struct("AuthorizationCode")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Self::RefreshToken { client_id, .. } => f
                .debug_struct("RefreshToken")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
        }
    }
}

impl Drop for TokenRequest {
    fn drop(&mut self) {
        match self {
            Self::AuthorizationCode {
                code,
                code_verifier,
                ..
            } => {
                code.zeroize();
                code_verifier.zeroize();
            }
            Self::RefreshToken { refresh_token, .. } => refresh_token.zeroize(),
        }
    }
}

/// The token endpoint's answer (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token (opaque), sent as `Authorization: Bearer`.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// The access token's lifetime, seconds.
    pub expires_in: u64,
    /// The refresh token (opaque, rotated on every use).
    pub refresh_token: String,
    /// The refresh token's lifetime, seconds (not in RFC 6749; documented
    /// in `docs/portal-protocol.md`).
    pub refresh_token_expires_in: u64,
    /// The ID token (JWS compact, ES256); in the answer to a code, and
    /// to a refresh (without `nonce` then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// `openid`.
    pub scope: String,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token_expires_in", &self.refresh_token_expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Drop for TokenResponse {
    fn drop(&mut self) {
        self.access_token.zeroize();
        self.refresh_token.zeroize();
        if let Some(id_token) = &mut self.id_token {
            id_token.zeroize();
        }
    }
}

/// The claims of the portal's ID token (OpenID Connect Core §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// The portal's issuer identifier (its base URL).
    pub iss: String,
    /// The pairwise subject for this client (OpenID Connect Core §8.1):
    /// never the certificate's serial nor the My Number; the same after
    /// the certificate is renewed (P3, P4).
    pub sub: String,
    /// The client id.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// When the card proof was checked, seconds since the epoch.
    pub auth_time: i64,
    /// The client's nonce (absent in a refresh's ID token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// [`CARD_LOGIN_ACR`].
    pub acr: String,
    /// [`CARD_LOGIN_AMR`].
    pub amr: Vec<String>,
}

/// The body of every refusal: OAuth's error response (RFC 6749 §5.2) for
/// the login routes and the portal API alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The kind (`docs/portal-protocol.md`, "Refusals").
    pub error: String,
    /// For people, not for programs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// With `terms_not_agreed`: the version to agree to (P7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_terms_version: Option<String>,
}

/// A published version of the portal's terms (P7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermsVersion {
    /// Its name, e.g. `2026-04`.
    pub version: String,
    /// When it was published.
    pub published_at: DateTime<Utc>,
}

/// A holder's agreement to one version (P7: which version, and when).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermsAgreement {
    /// The version agreed to.
    pub version: String,
    /// When.
    pub agreed_at: DateTime<Utc>,
}

/// `GET /v1/portal/terms`: the current version and the holder's last
/// agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermsState {
    /// The version in force.
    pub current: TermsVersion,
    /// The holder's latest agreement, if any.
    pub agreed: Option<TermsAgreement>,
}

impl TermsState {
    /// Whether the holder agreed to the version in force.
    pub fn agreed_to_current(&self) -> bool {
        self.agreed
            .as_ref()
            .is_some_and(|a| a.version == self.current.version)
    }
}

/// `POST /v1/portal/terms/agreements`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreeTerms {
    /// The version the holder read and agreed to.
    pub version: String,
}

/// Why a registration ended (the joint-use notice's 初回登録解除区分, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// 1: released at the member's request.
    MemberRequest,
    /// 2: three months or more since the certificate expired.
    CertificateExpired,
    /// 3: the card was returned.
    CardReturned,
}

impl ReleaseReason {
    /// The notice's code.
    pub fn code(self) -> u8 {
        match self {
            Self::MemberRequest => 1,
            Self::CertificateExpired => 2,
            Self::CardReturned => 3,
        }
    }

    /// The reason of a notice's code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::MemberRequest),
            2 => Some(Self::CertificateExpired),
            3 => Some(Self::CardReturned),
            _ => None,
        }
    }
}

/// Where a certificate stands for its holder (app-protocols §7: valid
/// until the fifth birthday after issue; renewal opens three months
/// before; §6: the flag drops to 0 three months after expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateState {
    /// Valid, renewal not open yet.
    Valid,
    /// Valid, and renewal is open (the last three months).
    RenewalOpen,
    /// Expired less than three months ago (§6 flag 1).
    ExpiredUnderThreeMonths,
    /// Expired three months ago or more (§6 flag 0).
    ExpiredThreeMonthsOrMore,
}

/// The user-authentication certificate's standing, in Japan dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateStanding {
    /// The last day of validity (Japan time).
    pub valid_until: NaiveDate,
    /// The first day renewal is open: three months before expiry.
    pub renewal_opens_on: NaiveDate,
    /// Where it stands now.
    pub state: CertificateState,
    /// The §6 certificate-expiry flag: 0 expired and not renewed for three
    /// months or more, 1 otherwise.
    pub expiry_flag: u8,
}

/// The member's identifiers at the insurer (被保険者証記号・番号・枝番).
/// Personal data: redacted in `Debug`, wiped when dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsuredCard {
    /// The insurer number (保険者番号), 8 digits.
    pub insurer_number: String,
    /// The insurer's name.
    pub insurer_name: String,
    /// 記号.
    pub symbol: String,
    /// 番号.
    pub number: String,
    /// 枝番, 2 digits.
    pub branch: String,
}

impl fmt::Debug for InsuredCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InsuredCard")
            .field("insurer_number", &self.insurer_number)
            .field("insurer_name", &self.insurer_name)
            .field("symbol", &"<redacted>")
            .field("number", &"<redacted>")
            .field("branch", &"<redacted>")
            .finish()
    }
}

impl Drop for InsuredCard {
    fn drop(&mut self) {
        self.symbol.zeroize();
        self.number.zeroize();
        self.branch.zeroize();
    }
}

/// `GET /v1/portal/insurance`: the holder's health-insurance registration
/// (P1, P3), the same facts the insurer's view shows (§6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsuranceStatus {
    /// §6 first-registration state: registered (1) or not (0).
    pub registered: bool,
    /// The first registration's date, if ever registered.
    pub registered_on: Option<NaiveDate>,
    /// The release date, if released.
    pub released_on: Option<NaiveDate>,
    /// Why it was released.
    pub release_reason: Option<ReleaseReason>,
    /// The insurer's record of the holder, if the insurer has one.
    pub insured_card: Option<InsuredCard>,
    /// The authentication certificate the registration hangs on (P3).
    pub certificate: CertificateStanding,
}

/// `POST /v1/portal/insurance/registration` (P1 method 2, P7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterInsurance {
    /// The terms version the holder agreed to; refused unless current.
    pub terms_version: String,
}

/// A named data item of the self-information API (S1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataItem {
    /// The insurer and the insured card's symbol, number, branch.
    InsuredCard,
    /// The health-insurance registration state and dates.
    InsuranceRegistration,
    /// The authentication certificate's validity and renewal dates.
    CertificateValidity,
}

/// Where a consent request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentRequestState {
    /// Waiting for the holder.
    Pending,
    /// Granted (a consent was made).
    Granted,
    /// Refused by the holder.
    Refused,
    /// Not answered in time.
    Expired,
}

/// A third-party service's request for data (S1): what, why, how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRequest {
    /// Its id (the service gives it to the holder, e.g. as a link).
    pub request_id: String,
    /// The service's id.
    pub service_id: String,
    /// The service's name, for the holder.
    pub service_name: String,
    /// The items asked for.
    pub items: Vec<DataItem>,
    /// The purpose the data may be used for (S1).
    pub purpose: String,
    /// How long the service may keep the data, days (S1).
    pub retention_days: u32,
    /// When it was made.
    pub requested_at: DateTime<Utc>,
    /// When it lapses unanswered.
    pub expires_at: DateTime<Utc>,
    /// Where it stands.
    pub state: ConsentRequestState,
}

/// `POST /v1/portal/consent-requests/{id}/grant`: the items granted (a
/// subset of those asked; at least one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantConsent {
    /// The items the holder allows.
    pub items: Vec<DataItem>,
}

/// Where a consent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// In force: the service may fetch the items and keep them until
    /// `retain_until`.
    Active,
    /// The holder withdrew it: no further fetch; the service deletes.
    Withdrawn,
    /// The retention period ended: the service's copy is purged (S1).
    Expired,
}

/// A consent the holder gave (S1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Its id.
    pub consent_id: String,
    /// The request it answered.
    pub request_id: String,
    /// The service's id.
    pub service_id: String,
    /// The service's name.
    pub service_name: String,
    /// The items granted.
    pub items: Vec<DataItem>,
    /// The agreed purpose.
    pub purpose: String,
    /// When it was granted.
    pub granted_at: DateTime<Utc>,
    /// The end of the agreed retention period.
    pub retain_until: DateTime<Utc>,
    /// Where it stands.
    pub state: ConsentState,
    /// When it was withdrawn.
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// What an agent may do for the holder (P5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentScope {
    /// Read the holder's insurance registration and certificate state.
    InsuranceRead,
    /// Register or release the holder's insurance registration.
    InsuranceManage,
    /// List the holder's consents.
    ConsentsRead,
    /// Grant, refuse and withdraw consents for the holder.
    ConsentsManage,
}

/// Where an agent grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentGrantState {
    /// Made; the agent has not accepted the invitation yet.
    Invited,
    /// The agent accepted: it may act within the scopes.
    Active,
    /// The holder ended it.
    Ended,
}

/// `POST /v1/portal/agents`: delegate to an agent (P5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddAgent {
    /// The holder's name for the agent (shown to the holder only).
    pub label: String,
    /// What the agent may do.
    pub scopes: Vec<AgentScope>,
}

/// `PATCH /v1/portal/agents/{id}`: change what the agent may do, at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeAgent {
    /// The new scopes (replacing the old ones).
    pub scopes: Vec<AgentScope>,
}

/// A delegation to an agent (P5), as the holder sees it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentGrant {
    /// Its id; the agent names it in `On-Behalf-Of`.
    pub grant_id: String,
    /// The holder's name for the agent.
    pub label: String,
    /// What the agent may do.
    pub scopes: Vec<AgentScope>,
    /// Where it stands.
    pub state: AgentGrantState,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The one-time code the agent accepts it with: only in the answer
    /// that made the grant, while `Invited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_code: Option<String>,
}

impl fmt::Debug for AgentGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentGrant")
            .field("grant_id", &self.grant_id)
            .field("scopes", &self.scopes)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/portal/agencies`: the agent, logged in with its own card,
/// accepts an invitation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptAgency {
    /// The holder's invitation code.
    pub invitation_code: String,
}

impl fmt::Debug for AcceptAgency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AcceptAgency(<code>)")
    }
}

/// A delegation as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agency {
    /// The grant to name in `On-Behalf-Of`.
    pub grant_id: String,
    /// What the agent may do.
    pub scopes: Vec<AgentScope>,
    /// Where it stands.
    pub state: AgentGrantState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_signs_the_request_and_its_challenge_under_a_context() {
        let message = card_login_message("r1", &[1, 2]);
        assert_eq!(message, b"MynaKit portal login v1\0r1\0\x01\x02".to_vec());
        assert_ne!(
            card_login_message("r1", &[1, 2]),
            card_login_message("r2", &[1, 2])
        );
    }

    #[test]
    fn token_requests_are_form_encoded_with_their_grant_type() {
        let request = TokenRequest::AuthorizationCode {
            code: "c".into(),
            redirect_uri: APP_REDIRECT_URI.into(),
            client_id: APP_CLIENT_ID.into(),
            code_verifier: "v".into(),
        };
        let form = serde_urlencoded::to_string(&request).unwrap();
        assert_eq!(
            form,
            "grant_type=authorization_code&code=c&redirect_uri=jp.mynakit.portal%3A%2Foauth2redirect&client_id=mynaportal-app&code_verifier=v"
        );
        let back: TokenRequest = serde_urlencoded::from_str(&form).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn release_reasons_keep_the_notice_s_codes() {
        for code in 1..=3 {
            assert_eq!(ReleaseReason::from_code(code).unwrap().code(), code);
        }
        assert_eq!(ReleaseReason::from_code(0), None);
    }
}
