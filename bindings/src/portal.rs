//! The Mynaportal-style app (issue 10) for Kotlin and Swift:
//! [`PortalClient`] over the core's `mynakit_core::portal::PortalClient`,
//! its records, and one flat error enum, [`PortalError`], that a Kotlin
//! `when` or a Swift `switch` takes case by case. Mapping only: every
//! decision is the core's (rules P1–P7, S1, §6; `docs/portal-protocol.md`).
//!
//! The login (P2): `begin_login` (the portal's challenge, PKCE, `state`,
//! `nonce`) → `tap` (one tap: the authentication certificate, the
//! authentication PIN, the card's signature over the challenge) →
//! `finish_login` (the code for tokens, the ID token checked, the session
//! kept sealed). Then the portal's calls with the session: terms (P7), the
//! health-insurance registration (P1, P3, §6), consents for the
//! self-information API (S1), agents (P5).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use mynakit_core::portal as core_portal;
use mynakit_core::portal::wire as core_wire;
use mynakit_core::{AuthPin, CardChannel, LastTry, Store};
use zeroize::Zeroizing;

use crate::authority::{AuthorityLink, ForeignAuthorityLink};
use crate::error::MynaKitError;
use crate::records::CalendarDate;
use crate::secure_area::{ForeignSecureArea, SecureArea};
use crate::transport::{CardTransport, ForeignTransport};

/// Mirrors a core enum of unit variants, both ways.
macro_rules! same_enum {
    ($name:ident, $core:path { $($variant:ident),* $(,)? }) => {
        impl From<$core> for $name {
            fn from(value: $core) -> Self {
                use $core as C;
                match value { $(C::$variant => Self::$variant),* }
            }
        }
        impl From<$name> for $core {
            fn from(value: $name) -> Self {
                use $core as C;
                match value { $($name::$variant => C::$variant),* }
            }
        }
    };
}

// ---- the certificate and the session ---------------------------------------

/// Where the user-authentication certificate stands for its holder
/// (app-protocols §7; rules §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CertificateState {
    /// Valid, renewal not open yet.
    Valid,
    /// Valid, and renewal is open (the last three months, app-protocols §7).
    RenewalOpen,
    /// Expired less than three months ago (§6 flag 1).
    ExpiredUnderThreeMonths,
    /// Expired three months ago or more (§6 flag 0).
    ExpiredThreeMonthsOrMore,
}

same_enum!(
    CertificateState,
    core_wire::CertificateState {
        Valid,
        RenewalOpen,
        ExpiredUnderThreeMonths,
        ExpiredThreeMonthsOrMore,
    }
);

/// The user-authentication certificate's standing, in Japan dates.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CertificateStanding {
    /// The last day of validity (Japan time).
    pub valid_until: CalendarDate,
    /// The first day renewal is open: three months before expiry.
    pub renewal_opens_on: CalendarDate,
    /// Where it stands now.
    pub state: CertificateState,
    /// The §6 certificate-expiry flag: 0 expired and not renewed for three
    /// months or more, 1 otherwise.
    pub expiry_flag: u8,
}

impl From<core_wire::CertificateStanding> for CertificateStanding {
    fn from(s: core_wire::CertificateStanding) -> Self {
        Self {
            valid_until: s.valid_until.into(),
            renewal_opens_on: s.renewal_opens_on.into(),
            state: s.state.into(),
            expiry_flag: s.expiry_flag,
        }
    }
}

/// A logged-in session as the app shows it (the tokens stay sealed in the
/// core).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Session {
    /// The pairwise subject the portal knows this app's holder by (never
    /// the certificate's serial nor the My Number).
    pub subject: String,
    /// When the card proof was checked.
    pub logged_in_at: SystemTime,
    /// When the access token expires (it is refreshed by itself).
    pub access_expires_at: SystemTime,
    /// When the refresh token expires: after that, tap the card again.
    pub refresh_expires_at: SystemTime,
    /// The authentication certificate used to log in, by the corrected
    /// clock.
    pub certificate: CertificateStanding,
}

impl From<core_portal::Session> for Session {
    fn from(s: core_portal::Session) -> Self {
        Self {
            subject: s.subject,
            logged_in_at: s.logged_in_at.into(),
            access_expires_at: s.access_expires_at.into(),
            refresh_expires_at: s.refresh_expires_at.into(),
            certificate: s.certificate.into(),
        }
    }
}

// ---- terms (P7) --------------------------------------------------------------

/// A published version of the portal's terms (P7).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TermsVersion {
    /// Its name, e.g. `2026-04`.
    pub version: String,
    /// When it was published.
    pub published_at: SystemTime,
}

/// An agreement to one version (P7: which version, and when).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TermsAgreement {
    /// The version agreed to.
    pub version: String,
    /// When the portal recorded it.
    pub agreed_at: SystemTime,
}

impl From<core_wire::TermsAgreement> for TermsAgreement {
    fn from(a: core_wire::TermsAgreement) -> Self {
        Self {
            version: a.version,
            agreed_at: a.agreed_at.into(),
        }
    }
}

impl From<core_portal::RecordedAgreement> for TermsAgreement {
    fn from(a: core_portal::RecordedAgreement) -> Self {
        Self {
            version: a.version,
            agreed_at: a.agreed_at.into(),
        }
    }
}

/// The terms in force and the holder's last agreement (P7).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TermsState {
    /// The version in force.
    pub current: TermsVersion,
    /// The holder's latest agreement, if any.
    pub agreed: Option<TermsAgreement>,
    /// Whether that agreement is to the version in force (the core's
    /// `agreed_to_current`).
    pub agreed_to_current: bool,
}

impl From<core_wire::TermsState> for TermsState {
    fn from(t: core_wire::TermsState) -> Self {
        let agreed_to_current = t.agreed_to_current();
        Self {
            current: TermsVersion {
                version: t.current.version,
                published_at: t.current.published_at.into(),
            },
            agreed: t.agreed.map(Into::into),
            agreed_to_current,
        }
    }
}

// ---- health insurance (P1, P3, §6) -----------------------------------------

/// Why a registration ended (the joint-use notice's 初回登録解除区分, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReleaseReason {
    /// 1: released at the member's request.
    MemberRequest,
    /// 2: three months or more since the certificate expired.
    CertificateExpired,
    /// 3: the card was returned.
    CardReturned,
}

same_enum!(
    ReleaseReason,
    core_wire::ReleaseReason {
        MemberRequest,
        CertificateExpired,
        CardReturned
    }
);

/// The member's identifiers at the insurer (被保険者証記号・番号・枝番).
/// Personal data: `Debug` shows the insurer only; show, never log.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
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

impl std::fmt::Debug for InsuredCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InsuredCard")
            .field("insurer_number", &self.insurer_number)
            .field("insurer_name", &self.insurer_name)
            .field("symbol", &"<redacted>")
            .field("number", &"<redacted>")
            .field("branch", &"<redacted>")
            .finish()
    }
}

impl From<&core_wire::InsuredCard> for InsuredCard {
    // The core's card wipes itself when dropped: copied, not moved.
    fn from(c: &core_wire::InsuredCard) -> Self {
        Self {
            insurer_number: c.insurer_number.clone(),
            insurer_name: c.insurer_name.clone(),
            symbol: c.symbol.clone(),
            number: c.number.clone(),
            branch: c.branch.clone(),
        }
    }
}

/// The holder's health-insurance registration (P1, P3), the facts the
/// insurer's view shows (§6).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct InsuranceStatus {
    /// §6 first-registration state: registered (1) or not (0).
    pub registered: bool,
    /// The first registration's date, if ever registered.
    pub registered_on: Option<CalendarDate>,
    /// The release date, if released.
    pub released_on: Option<CalendarDate>,
    /// Why it was released.
    pub release_reason: Option<ReleaseReason>,
    /// The insurer's record of the holder, if the insurer has one
    /// (personal data).
    pub insured_card: Option<InsuredCard>,
    /// The authentication certificate the registration hangs on (P3).
    pub certificate: CertificateStanding,
}

impl From<core_wire::InsuranceStatus> for InsuranceStatus {
    fn from(s: core_wire::InsuranceStatus) -> Self {
        Self {
            registered: s.registered,
            registered_on: s.registered_on.map(Into::into),
            released_on: s.released_on.map(Into::into),
            release_reason: s.release_reason.map(Into::into),
            insured_card: s.insured_card.as_ref().map(Into::into),
            certificate: s.certificate.into(),
        }
    }
}

// ---- consents (S1) -----------------------------------------------------------

/// A named data item of the self-information API (S1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum DataItem {
    /// The insurer and the insured card's symbol, number, branch.
    InsuredCard,
    /// The health-insurance registration state and dates.
    InsuranceRegistration,
    /// The authentication certificate's validity and renewal dates.
    CertificateValidity,
}

same_enum!(
    DataItem,
    core_wire::DataItem {
        InsuredCard,
        InsuranceRegistration,
        CertificateValidity
    }
);

/// Where a consent request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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

same_enum!(
    ConsentRequestState,
    core_wire::ConsentRequestState {
        Pending,
        Granted,
        Refused,
        Expired
    }
);

/// A service's request for data (S1): what, why, how long.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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
    pub requested_at: SystemTime,
    /// When it lapses unanswered.
    pub expires_at: SystemTime,
    /// Where it stands.
    pub state: ConsentRequestState,
}

impl From<core_wire::ConsentRequest> for ConsentRequest {
    fn from(r: core_wire::ConsentRequest) -> Self {
        Self {
            request_id: r.request_id,
            service_id: r.service_id,
            service_name: r.service_name,
            items: items_from(r.items),
            purpose: r.purpose,
            retention_days: r.retention_days,
            requested_at: r.requested_at.into(),
            expires_at: r.expires_at.into(),
            state: r.state.into(),
        }
    }
}

/// Where a consent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConsentState {
    /// In force: the service may fetch the items and keep them until
    /// `retain_until`.
    Active,
    /// The holder withdrew it: no further fetch; the service deletes.
    Withdrawn,
    /// The retention period ended: the service's copy is purged (S1).
    Expired,
}

same_enum!(
    ConsentState,
    core_wire::ConsentState {
        Active,
        Withdrawn,
        Expired
    }
);

/// A consent the holder gave (S1).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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
    pub granted_at: SystemTime,
    /// The end of the agreed retention period.
    pub retain_until: SystemTime,
    /// Where it stands.
    pub state: ConsentState,
    /// When it was withdrawn.
    pub withdrawn_at: Option<SystemTime>,
}

impl From<core_wire::Consent> for Consent {
    fn from(c: core_wire::Consent) -> Self {
        Self {
            consent_id: c.consent_id,
            request_id: c.request_id,
            service_id: c.service_id,
            service_name: c.service_name,
            items: items_from(c.items),
            purpose: c.purpose,
            granted_at: c.granted_at.into(),
            retain_until: c.retain_until.into(),
            state: c.state.into(),
            withdrawn_at: c.withdrawn_at.map(Into::into),
        }
    }
}

fn items_from(items: Vec<core_wire::DataItem>) -> Vec<DataItem> {
    items.into_iter().map(Into::into).collect()
}

// ---- agents (P5) -------------------------------------------------------------

/// What an agent may do for the holder (P5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
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

same_enum!(
    AgentScope,
    core_wire::AgentScope {
        InsuranceRead,
        InsuranceManage,
        ConsentsRead,
        ConsentsManage
    }
);

/// Where an agent grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AgentGrantState {
    /// Made; the agent has not accepted the invitation yet.
    Invited,
    /// The agent accepted: it may act within the scopes.
    Active,
    /// The holder ended it.
    Ended,
}

same_enum!(
    AgentGrantState,
    core_wire::AgentGrantState {
        Invited,
        Active,
        Ended
    }
);

/// A delegation to an agent (P5), as the holder sees it. The invitation
/// code is a secret for the agent: `Debug` leaves it out.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
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
    pub created_at: SystemTime,
    /// The one-time code the agent accepts it with: only in the answer
    /// that made the grant, while `Invited`.
    pub invitation_code: Option<String>,
}

impl std::fmt::Debug for AgentGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentGrant")
            .field("grant_id", &self.grant_id)
            .field("scopes", &self.scopes)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl From<core_wire::AgentGrant> for AgentGrant {
    fn from(g: core_wire::AgentGrant) -> Self {
        Self {
            grant_id: g.grant_id,
            label: g.label,
            scopes: g.scopes.into_iter().map(Into::into).collect(),
            state: g.state.into(),
            created_at: g.created_at.into(),
            invitation_code: g.invitation_code,
        }
    }
}

/// A delegation as the agent sees it (P5).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Agency {
    /// The grant to name with `act_on_behalf_of`.
    pub grant_id: String,
    /// What the agent may do.
    pub scopes: Vec<AgentScope>,
    /// Where it stands.
    pub state: AgentGrantState,
}

impl From<core_wire::Agency> for Agency {
    fn from(a: core_wire::Agency) -> Self {
        Self {
            grant_id: a.grant_id,
            scopes: a.scopes.into_iter().map(Into::into).collect(),
            state: a.state.into(),
        }
    }
}

fn scopes_to_core(scopes: Vec<AgentScope>) -> Vec<core_wire::AgentScope> {
    scopes.into_iter().map(Into::into).collect()
}

// ---- errors ------------------------------------------------------------------

/// The portal's refusal kinds (`docs/portal-protocol.md`, "Refusals").
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PortalRefusal {
    /// OAuth: a parameter is missing, repeated or malformed (a bug on our
    /// side).
    InvalidRequest,
    /// OAuth: unknown client, or a redirect URI not registered for it.
    InvalidClient,
    /// OAuth: the code or refresh token is unknown, used or expired, or the
    /// PKCE verifier does not match.
    InvalidGrant,
    /// OAuth: a grant type the portal does not serve.
    UnsupportedGrantType,
    /// OAuth: a response type other than `code`.
    UnsupportedResponseType,
    /// OAuth: a scope other than `openid`.
    InvalidScope,
    /// No bearer token, or one unknown or expired.
    InvalidToken,
    /// P2: the certificate does not chain to the JPKI authentication CA.
    CertificateUntrusted,
    /// P2: not an authentication certificate.
    NotAuthenticationCertificate,
    /// P2: the certificate expired (or is not yet valid).
    CertificateExpired,
    /// P2: the certificate is revoked (J-LIS's list).
    CertificateRevoked,
    /// P2: the card's signature does not verify.
    BadCardSignature,
    /// No such authorization request (or its challenge was used).
    ChallengeUnknown,
    /// The challenge is past its lifetime: begin the login again.
    ChallengeExpired,
    /// P7: the terms in force are not agreed (without the version: the
    /// version comes with `PortalError.TermsNotAgreed`).
    TermsNotAgreed,
    /// P7: an agreement to a version that is not the one in force.
    TermsOutdated,
    /// P1/P3: the insurer has no record of this person.
    NoInsurerRecord,
    /// The registration is already in this state.
    AlreadyRegistered,
    /// Nothing to release.
    NotRegistered,
    /// No such consent request, consent, agent grant or invitation.
    NotFound,
    /// S1: the consent request or consent is no longer in force.
    ConsentNotInForce,
    /// S1: items granted that the request did not ask for, or none.
    ItemsNotRequested,
    /// P5: outside the holder's delegation, or the delegation ended.
    OutsideAgentScope,
    /// The idempotency key was used for another request (a bug on our
    /// side).
    IdempotencyKeyReused,
    /// The path is not part of the API.
    NoSuchRoute,
    /// The portal failed inside.
    Internal,
    /// A kind this version does not know.
    Unknown,
}

same_enum!(
    PortalRefusal,
    core_portal::PortalRefusal {
        InvalidRequest,
        InvalidClient,
        InvalidGrant,
        UnsupportedGrantType,
        UnsupportedResponseType,
        InvalidScope,
        InvalidToken,
        CertificateUntrusted,
        NotAuthenticationCertificate,
        CertificateExpired,
        CertificateRevoked,
        BadCardSignature,
        ChallengeUnknown,
        ChallengeExpired,
        TermsNotAgreed,
        TermsOutdated,
        NoInsurerRecord,
        AlreadyRegistered,
        NotRegistered,
        NotFound,
        ConsentNotInForce,
        ItemsNotRequested,
        OutsideAgentScope,
        IdempotencyKeyReused,
        NoSuchRoute,
        Internal,
        Unknown,
    }
);

/// What is wrong with the portal's ID token (OpenID Connect Core
/// §3.1.3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum IdTokenProblem {
    /// Not a JWS compact ES256 token, or a claim missing.
    Malformed,
    /// No key of the portal's JWK Set verifies it.
    BadSignature,
    /// `iss` is not the portal.
    WrongIssuer,
    /// `aud` is not this app.
    WrongAudience,
    /// `nonce` is not this login's.
    WrongNonce,
    /// Expired or issued in the future, by the corrected clock.
    Expired,
    /// A refresh's ID token names another subject.
    WrongSubject,
}

/// Why a portal call stopped. The phone's store is as before the call, or
/// holds its whole outcome; `portal_error_is_retryable` says when calling
/// the same step again may pass (a state-changing request then goes under
/// the same idempotency key, P6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PortalError {
    /// The authentication PIN was wrong; ask again, showing the tries left.
    #[error("wrong PIN, {tries_left} tries left")]
    WrongPin {
        /// Tries left.
        tries_left: u8,
    },
    /// The authentication PIN is blocked (reset it: issue 8, or at the
    /// municipal office).
    #[error("the PIN is blocked")]
    PinBlocked,
    /// The PIN has one try left (the card says so): nothing was sent.
    /// Confirm with the user, then tap again with `allow_last_try`.
    #[error("the PIN has one try left: confirm before spending it")]
    LastTry,
    /// The card's try counter could not be read: confirm, then tap again
    /// with `allow_last_try`.
    #[error("the tries left are unknown: confirm before trying")]
    TriesUnknownNeedsConfirmation,
    /// A VERIFY whose outcome is unknown (the card went away mid-check): a
    /// try may have been spent. Never retry on your own.
    #[error("whether the card counted a try is unknown: {detail}")]
    VerifyOutcomeUnknown {
        /// The tries left as last read, if known.
        tries_left: Option<u8>,
        /// What happened.
        detail: String,
    },
    /// The card was taken away: tap again.
    #[error("the card was removed")]
    CardRemoved,
    /// The card link failed: tap again.
    #[error("the card link failed: {reason}")]
    CardLinkFailed {
        /// What failed.
        reason: String,
    },
    /// Not a card this library reads.
    #[error("card not supported: {reason}")]
    CardNotSupported {
        /// Why.
        reason: String,
    },
    /// The card's data or signature is damaged.
    #[error("malformed card data: {reason}")]
    MalformedCardData {
        /// What.
        reason: String,
    },
    /// The app's input is not valid (the PIN's format).
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What.
        reason: String,
    },
    /// The call was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The portal cannot be reached: retry later.
    #[error("the portal is unavailable: {reason}")]
    AuthorityUnavailable {
        /// What failed.
        reason: String,
    },
    /// The portal did not answer in time: retry.
    #[error("the portal did not answer in time")]
    AuthorityTimeout,
    /// The request went out and the answer was lost: retry (same key).
    #[error("the answer was lost: {reason}")]
    AnswerLost {
        /// What failed.
        reason: String,
    },
    /// P6, 429: the portal limits requests; retry after the wait.
    #[error("rate limited")]
    RateLimited {
        /// Seconds to wait, if the portal said (`Retry-After`).
        retry_after_seconds: Option<u64>,
    },
    /// P6, 503: maintenance; retry after the wait.
    #[error("the portal is out of service")]
    OutOfService {
        /// Seconds to wait, if the portal said (`Retry-After`).
        retry_after_seconds: Option<u64>,
    },
    /// An answer the portal client does not know what to do with.
    #[error("the portal answered status {status}")]
    AuthorityRefused {
        /// The HTTP status.
        status: u16,
    },
    /// The portal refused the request.
    #[error("the portal refused: {refusal:?} (status {status})")]
    Refused {
        /// Why.
        refusal: PortalRefusal,
        /// The HTTP status.
        status: u16,
    },
    /// P7: the terms in force were not agreed to: show version `current`,
    /// then `accept_terms(current)`.
    #[error("agree to the terms version {current} first (P7)")]
    TermsNotAgreed {
        /// The version in force.
        current: String,
    },
    /// No session (never logged in, logged out, or the refresh token
    /// expired or was refused): log in with the card.
    #[error("log in with the card")]
    LoginRequired,
    /// The authorization response's `state` is not this login's: dropped.
    #[error("the authorization response's state is not this login's")]
    StateMismatch,
    /// The ID token failed the phone's check: the login did not happen.
    #[error("the ID token failed the check: {reason}")]
    IdToken {
        /// Which check.
        problem: IdTokenProblem,
        /// The core's words.
        reason: String,
    },
    /// A step was called before the one it needs (or on a finished login).
    #[error("{step} needs {needs} first")]
    OutOfOrder {
        /// The step.
        step: String,
        /// What must come first.
        needs: String,
    },
    /// A damaged answer: call the same step again.
    #[error("the portal's answer was damaged: {reason}")]
    AnswerGarbled {
        /// What was wrong.
        reason: String,
    },
    /// An answer that cannot be right.
    #[error("the portal's answer cannot be right: {reason}")]
    BadAnswer {
        /// What was wrong.
        reason: String,
    },
    /// The phone's store failed, or the sealed session did not open.
    #[error("the store failed: {reason}")]
    Store {
        /// What failed.
        reason: String,
    },
    /// The user cancelled the secure area's prompt.
    #[error("the user cancelled")]
    UserCancelled,
    /// The user's authentication failed.
    #[error("the user's authentication failed")]
    UserAuthenticationFailed,
    /// No user authentication is set up.
    #[error("no user authentication is set up")]
    NoUserAuthentication,
    /// A key the portal client needs was invalidated.
    #[error("the key {alias} was invalidated")]
    KeyInvalidated {
        /// Its alias.
        alias: String,
    },
    /// The secure area failed.
    #[error("the secure area failed: {reason}")]
    SecureAreaFailed {
        /// What failed.
        reason: String,
    },
    /// Another step on this login is still running: one at a time.
    #[error("another step on this login is still running")]
    Busy,
    /// Something that should not happen (a bug).
    #[error("internal error: {reason}")]
    Internal {
        /// What happened.
        reason: String,
    },
}

impl From<MynaKitError> for PortalError {
    fn from(e: MynaKitError) -> Self {
        match e {
            MynaKitError::WrongPin { tries_left } | MynaKitError::WrongCheckCode { tries_left } => {
                Self::WrongPin { tries_left }
            }
            MynaKitError::PinBlocked => Self::PinBlocked,
            // The core turns the card's last-try refusal into LastTry.
            MynaKitError::LastTryNeedsConfirmation => Self::LastTry,
            MynaKitError::TriesUnknownNeedsConfirmation => Self::TriesUnknownNeedsConfirmation,
            MynaKitError::VerifyOutcomeUnknown { tries_left, detail } => {
                Self::VerifyOutcomeUnknown { tries_left, detail }
            }
            MynaKitError::Cancelled => Self::Cancelled,
            MynaKitError::CardRemoved => Self::CardRemoved,
            MynaKitError::LinkFailed { reason } => Self::CardLinkFailed { reason },
            MynaKitError::NotSupported { reason } => Self::CardNotSupported { reason },
            MynaKitError::MalformedCardData { reason } => Self::MalformedCardData { reason },
            MynaKitError::InvalidInput { reason } => Self::InvalidInput { reason },
            MynaKitError::Untrusted { detail, .. } => Self::MalformedCardData { reason: detail },
            MynaKitError::PinRequired => Self::CardLinkFailed {
                reason: e.to_string(),
            },
            MynaKitError::SessionBusy => Self::Busy,
            MynaKitError::Internal { reason } => Self::Internal { reason },
        }
    }
}

impl From<mynakit_core::AuthorityError> for PortalError {
    fn from(e: mynakit_core::AuthorityError) -> Self {
        use mynakit_core::AuthorityError as E;
        let seconds = |d: Option<std::time::Duration>| d.map(|d| d.as_secs());
        match e {
            E::Unavailable { reason } => Self::AuthorityUnavailable { reason },
            E::Timeout => Self::AuthorityTimeout,
            E::AnswerLost { reason } => Self::AnswerLost { reason },
            E::Cancelled => Self::Cancelled,
            E::RateLimited { retry_after } => Self::RateLimited {
                retry_after_seconds: seconds(retry_after),
            },
            E::OutOfService { retry_after } => Self::OutOfService {
                retry_after_seconds: seconds(retry_after),
            },
            E::Refused(answer) => Self::AuthorityRefused {
                status: answer.status,
            },
        }
    }
}

impl From<mynakit_core::SecureAreaError> for PortalError {
    fn from(e: mynakit_core::SecureAreaError) -> Self {
        use mynakit_core::SecureAreaError as E;
        match e {
            E::UserCancelled => Self::UserCancelled,
            E::UserAuthenticationFailed => Self::UserAuthenticationFailed,
            E::NoUserAuthentication => Self::NoUserAuthentication,
            E::KeyInvalidated { alias } => Self::KeyInvalidated { alias },
            other @ (E::KeyNotFound { .. } | E::WrongPurpose { .. } | E::Unavailable { .. }) => {
                Self::SecureAreaFailed {
                    reason: other.to_string(),
                }
            }
        }
    }
}

impl From<core_portal::IdTokenError> for PortalError {
    fn from(e: core_portal::IdTokenError) -> Self {
        use core_portal::IdTokenError as E;
        let problem = match &e {
            E::Malformed(_) => IdTokenProblem::Malformed,
            E::BadSignature => IdTokenProblem::BadSignature,
            E::WrongIssuer(_) => IdTokenProblem::WrongIssuer,
            E::WrongAudience => IdTokenProblem::WrongAudience,
            E::WrongNonce => IdTokenProblem::WrongNonce,
            E::Expired => IdTokenProblem::Expired,
            E::WrongSubject => IdTokenProblem::WrongSubject,
        };
        Self::IdToken {
            problem,
            reason: e.to_string(),
        }
    }
}

impl From<core_portal::PortalError> for PortalError {
    fn from(e: core_portal::PortalError) -> Self {
        use core_portal::PortalError as E;
        match e {
            E::Card(card) => MynaKitError::from(card).into(),
            E::LastTry => Self::LastTry,
            E::Authority(authority) => authority.into(),
            E::Refused { error, status } => Self::Refused {
                refusal: error.into(),
                status,
            },
            E::TermsNotAgreed { current } => Self::TermsNotAgreed { current },
            E::LoginRequired => Self::LoginRequired,
            E::StateMismatch => Self::StateMismatch,
            E::IdToken(id_token) => id_token.into(),
            E::OutOfOrder { step, needs } => Self::OutOfOrder {
                step: step.to_owned(),
                needs: needs.to_owned(),
            },
            E::AnswerGarbled { what } => Self::AnswerGarbled { reason: what },
            E::BadAnswer { what } => Self::BadAnswer { reason: what },
            E::Store(store) => Self::Store {
                reason: store.to_string(),
            },
            E::Seal(seal) => Self::Store {
                reason: seal.to_string(),
            },
            E::SecureArea(area) => area.into(),
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for PortalError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Internal { reason: e.reason }
    }
}

impl PortalError {
    /// Whether calling the same step again later may succeed: the cases the
    /// core's `PortalError::is_retryable` calls retryable (a link failure,
    /// 429, 503, a damaged answer, an interrupted tap). Never for a refusal
    /// or a wrong PIN.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::AuthorityUnavailable { .. }
                | Self::AuthorityTimeout
                | Self::AnswerLost { .. }
                | Self::AnswerGarbled { .. }
                | Self::Cancelled
                | Self::RateLimited { .. }
                | Self::OutOfService { .. }
                | Self::CardRemoved
                | Self::CardLinkFailed { .. }
        )
    }
}

/// Whether calling the same step again later may succeed (see
/// `PortalError.is_retryable`).
#[uniffi::export]
pub fn portal_error_is_retryable(error: &PortalError) -> bool {
    error.is_retryable()
}

// ---- the login flow ------------------------------------------------------------

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One login, from `begin_login` to `finish_login`. Kept in memory only
/// (the core's choice: a login the app loses is begun again); one step at
/// a time. After a retryable failure of `finish_login`, call it again with
/// the same flow: it resumes without another tap.
#[derive(uniffi::Object)]
pub struct LoginFlow {
    /// The core's flow; `None` while a step holds it.
    slot: Mutex<Option<Box<core_portal::LoginFlow>>>,
}

impl std::fmt::Debug for LoginFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*lock(&self.slot) {
            Some(flow) => flow.fmt(f),
            None => f.write_str("LoginFlow(busy)"),
        }
    }
}

/// The core's flow lent to one step; given back when the step ends or is
/// dropped (a cancelled coroutine), so the flow stays usable.
struct Lease<'a> {
    owner: &'a LoginFlow,
    inner: Option<Box<core_portal::LoginFlow>>,
}

impl Lease<'_> {
    fn get(&mut self) -> Result<&mut core_portal::LoginFlow, PortalError> {
        self.inner
            .as_deref_mut()
            .ok_or_else(|| PortalError::Internal {
                reason: "a login lease without a login".into(),
            })
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            *lock(&self.owner.slot) = Some(inner);
        }
    }
}

impl LoginFlow {
    fn lease(&self) -> Result<Lease<'_>, PortalError> {
        let inner = lock(&self.slot).take().ok_or(PortalError::Busy)?;
        Ok(Lease {
            owner: self,
            inner: Some(inner),
        })
    }
}

#[uniffi::export]
impl LoginFlow {
    /// Whether the card was tapped (the proof is ready to send).
    pub fn tapped(&self) -> bool {
        lock(&self.slot).as_ref().is_some_and(|flow| flow.tapped())
    }

    /// When the portal forgets the challenge (tap before then); `None`
    /// while a step is running.
    pub fn expires_at(&self) -> Option<SystemTime> {
        lock(&self.slot)
            .as_ref()
            .map(|flow| flow.expires_at().into())
    }
}

// ---- the client ----------------------------------------------------------------

/// The Mynaportal-style app's client of one portal: over the app's
/// authority link (OkHttp, URLSession), secure area (the vault's key:
/// Android Keystore, Secure Enclave) and the phone's store, with the
/// system clock corrected by the portal's `Date`.
#[derive(uniffi::Object)]
pub struct PortalClient {
    client: core_portal::PortalClient,
}

impl std::fmt::Debug for PortalClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.client.fmt(f)
    }
}

#[uniffi::export]
impl PortalClient {
    /// A client of the portal whose issuer identifier (base URL) is
    /// `authority` (the ID token's `iss` must be exactly this; the store
    /// keeps the session and clock offset under it), reached through
    /// `link`, with the phone's store at `store_path` (created if need be)
    /// and the vault's key in `secure_area`. The clock is the system's,
    /// corrected by the portal's `Date`.
    #[uniffi::constructor]
    pub fn new(
        link: Arc<dyn AuthorityLink>,
        authority: String,
        store_path: String,
        secure_area: Arc<dyn SecureArea>,
    ) -> Result<Arc<Self>, PortalError> {
        let store = Store::open(&store_path).map_err(|e| PortalError::Store {
            reason: e.to_string(),
        })?;
        let client = core_portal::PortalClient::new(
            Arc::new(ForeignAuthorityLink(link)),
            Arc::new(store),
            Arc::new(ForeignSecureArea(secure_area)),
            Arc::new(mynakit_core::SystemClock),
            &authority,
        )?;
        Ok(Arc::new(Self { client }))
    }

    /// The time by the portal's clock as last seen.
    pub fn now(&self) -> SystemTime {
        self.client.now().into()
    }

    /// The portal's issuer identifier.
    pub fn authority(&self) -> String {
        self.client.authority().to_owned()
    }

    /// P2, step 1: the portal's challenge for a fresh PKCE verifier,
    /// `state` and `nonce`.
    pub async fn begin_login(&self) -> Result<Arc<LoginFlow>, PortalError> {
        let flow = self.client.begin_login().await?;
        Ok(Arc::new(LoginFlow {
            slot: Mutex::new(Some(Box::new(flow))),
        }))
    }

    /// P2, step 2, the one tap: the authentication certificate, the
    /// authentication PIN (4 digits, wiped after the call), the card's
    /// signature over the challenge. With one try left nothing is sent
    /// unless `allow_last_try` (`PortalError.LastTry`).
    pub async fn tap(
        &self,
        flow: Arc<LoginFlow>,
        transport: Arc<dyn CardTransport>,
        pin: String,
        allow_last_try: bool,
    ) -> Result<(), PortalError> {
        let pin = Zeroizing::new(pin);
        let pin = AuthPin::new(&pin).map_err(|e| PortalError::InvalidInput {
            reason: e.to_string(),
        })?;
        let last_try = if allow_last_try {
            LastTry::Allow
        } else {
            LastTry::Refuse
        };
        let mut lease = flow.lease()?;
        let mut channel = CardChannel::new(ForeignTransport(transport));
        self.client
            .tap(lease.get()?, &mut channel, &pin, last_try)
            .await?;
        Ok(())
    }

    /// P2, step 3: the card's proof sent, the code exchanged for tokens,
    /// the ID token checked, the session kept sealed. After a retryable
    /// failure (no answer, 429, 503: P6) call it again with the same flow:
    /// it resumes under the same idempotency keys, without another tap. A
    /// finished flow is `OutOfOrder`.
    pub async fn finish_login(&self, flow: Arc<LoginFlow>) -> Result<Session, PortalError> {
        let mut lease = flow.lease()?;
        Ok(self.client.finish_login(lease.get()?).await?.into())
    }

    /// The session kept on the phone, if any (offline).
    pub async fn session(&self) -> Result<Option<Session>, PortalError> {
        Ok(self.client.session().await?.map(Into::into))
    }

    /// The authentication certificate's standing as of the last login, by
    /// the corrected clock (offline; app-protocols §7, §6 flag).
    pub async fn certificate_standing(&self) -> Result<CertificateStanding, PortalError> {
        Ok(self.client.certificate_standing().await?.into())
    }

    /// Renews the access token now (the calls do it by themselves). A
    /// refused refresh token ends the session: `LoginRequired`.
    pub async fn refresh_session(&self) -> Result<Session, PortalError> {
        Ok(self.client.refresh_session().await?.into())
    }

    /// Forgets the session on this phone.
    pub async fn logout(&self) -> Result<(), PortalError> {
        Ok(self.client.logout().await?)
    }

    /// P5: act for the holder who granted `grant_id` on every later call
    /// (this app's user is their agent), or for oneself with `None`.
    pub fn act_on_behalf_of(&self, grant_id: Option<String>) {
        self.client.act_on_behalf_of(grant_id);
    }

    /// P7: the terms in force and the holder's last agreement.
    pub async fn terms(&self) -> Result<TermsState, PortalError> {
        Ok(self.client.terms().await?.into())
    }

    /// P7: agrees to `version` (the one the holder was shown); also
    /// recorded on the phone.
    pub async fn accept_terms(&self, version: String) -> Result<TermsAgreement, PortalError> {
        Ok(self.client.accept_terms(&version).await?.into())
    }

    /// P7: the agreement this phone recorded last (offline).
    pub fn recorded_terms_agreement(&self) -> Result<Option<TermsAgreement>, PortalError> {
        Ok(self.client.recorded_terms_agreement()?.map(Into::into))
    }

    /// P1, P3, §6: the holder's registration as the insurer sees it.
    pub async fn insurance_status(&self) -> Result<InsuranceStatus, PortalError> {
        Ok(self.client.insurance_status().await?.into())
    }

    /// P1 method 2: registers the card as the health-insurance card; needs
    /// the terms in force agreed (P7: `TermsNotAgreed` otherwise).
    pub async fn register_insurance(
        &self,
        terms_version: String,
    ) -> Result<InsuranceStatus, PortalError> {
        Ok(self.client.register_insurance(&terms_version).await?.into())
    }

    /// Releases the registration at the holder's request (§6 reason 1).
    pub async fn release_insurance(&self) -> Result<InsuranceStatus, PortalError> {
        Ok(self.client.release_insurance().await?.into())
    }

    /// S1: a service's request, as the holder is asked about it.
    pub async fn consent_request(&self, request_id: String) -> Result<ConsentRequest, PortalError> {
        Ok(self.client.consent_request(&request_id).await?.into())
    }

    /// S1: grants `items` (a subset of those asked) for the request's
    /// purpose and retention period.
    pub async fn grant_consent(
        &self,
        request_id: String,
        items: Vec<DataItem>,
    ) -> Result<Consent, PortalError> {
        let items: Vec<core_wire::DataItem> = items.into_iter().map(Into::into).collect();
        Ok(self.client.grant_consent(&request_id, &items).await?.into())
    }

    /// S1: refuses the request; the service gets nothing.
    pub async fn refuse_consent(&self, request_id: String) -> Result<ConsentRequest, PortalError> {
        Ok(self.client.refuse_consent(&request_id).await?.into())
    }

    /// S1: every consent the holder gave, newest first.
    pub async fn consents(&self) -> Result<Vec<Consent>, PortalError> {
        Ok(self
            .client
            .consents()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// S1: withdraws a consent: the service may fetch nothing more and
    /// deletes what it kept.
    pub async fn withdraw_consent(&self, consent_id: String) -> Result<Consent, PortalError> {
        Ok(self.client.withdraw_consent(&consent_id).await?.into())
    }

    /// P5: the holder's delegations.
    pub async fn agents(&self) -> Result<Vec<AgentGrant>, PortalError> {
        Ok(self
            .client
            .agents()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// P5: delegates `scopes` to an agent named `label`; the answer carries
    /// the one-time invitation code to give the agent.
    pub async fn add_agent(
        &self,
        label: String,
        scopes: Vec<AgentScope>,
    ) -> Result<AgentGrant, PortalError> {
        Ok(self
            .client
            .add_agent(&label, &scopes_to_core(scopes))
            .await?
            .into())
    }

    /// P5: changes what the agent may do, effective at once.
    pub async fn change_agent(
        &self,
        grant_id: String,
        scopes: Vec<AgentScope>,
    ) -> Result<AgentGrant, PortalError> {
        Ok(self
            .client
            .change_agent(&grant_id, &scopes_to_core(scopes))
            .await?
            .into())
    }

    /// P5: ends the delegation, effective at once.
    pub async fn remove_agent(&self, grant_id: String) -> Result<AgentGrant, PortalError> {
        Ok(self.client.remove_agent(&grant_id).await?.into())
    }

    /// P5, the agent's side (logged in with the agent's own card): accepts
    /// a holder's invitation (the code is wiped after the call). Then
    /// `act_on_behalf_of` with the grant id.
    pub async fn accept_agency(&self, invitation_code: String) -> Result<Agency, PortalError> {
        let invitation_code = Zeroizing::new(invitation_code);
        Ok(self.client.accept_agency(&invitation_code).await?.into())
    }

    /// P5, the agent's side: the delegations this user holds.
    pub async fn agencies(&self) -> Result<Vec<Agency>, PortalError> {
        Ok(self
            .client
            .agencies()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insured_card_numbers_stay_out_of_debug() {
        let status = InsuranceStatus {
            registered: true,
            registered_on: None,
            released_on: None,
            release_reason: None,
            insured_card: Some(InsuredCard {
                insurer_number: "06139999".into(),
                insurer_name: "サンドボックス健康保険組合".into(),
                symbol: "KIGO77".into(),
                number: "NUM4242".into(),
                branch: "03".into(),
            }),
            certificate: CertificateStanding {
                valid_until: CalendarDate {
                    year: 2030,
                    month: 5,
                    day: 10,
                },
                renewal_opens_on: CalendarDate {
                    year: 2030,
                    month: 2,
                    day: 10,
                },
                state: CertificateState::Valid,
                expiry_flag: 1,
            },
        };
        let text = format!("{status:?}");
        assert!(
            text.contains("06139999") && text.contains("redacted"),
            "{text}"
        );
        for secret in ["KIGO77", "NUM4242", "\"03\""] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn an_invitation_code_stays_out_of_debug() {
        let grant = AgentGrant {
            grant_id: "g1".into(),
            label: "家族".into(),
            scopes: vec![AgentScope::InsuranceRead],
            state: AgentGrantState::Invited,
            created_at: SystemTime::UNIX_EPOCH,
            invitation_code: Some("INVITE-SECRET".into()),
        };
        let text = format!("{grant:?}");
        assert!(text.contains("g1"), "{text}");
        assert!(!text.contains("INVITE-SECRET"), "{text}");
    }

    #[test]
    fn p6_p7_core_errors_map_to_flat_cases() {
        // P7: the version to agree to travels with the error.
        assert_eq!(
            PortalError::from(core_portal::PortalError::TermsNotAgreed {
                current: "2026-04".into()
            }),
            PortalError::TermsNotAgreed {
                current: "2026-04".into()
            }
        );
        // P6: the wait in whole seconds.
        let limited = PortalError::from(core_portal::PortalError::Authority(
            mynakit_core::AuthorityError::RateLimited {
                retry_after: Some(std::time::Duration::from_secs(30)),
            },
        ));
        assert_eq!(
            limited,
            PortalError::RateLimited {
                retry_after_seconds: Some(30)
            }
        );
        assert!(limited.is_retryable() && portal_error_is_retryable(&limited));
        let maintenance = PortalError::from(core_portal::PortalError::Authority(
            mynakit_core::AuthorityError::OutOfService { retry_after: None },
        ));
        assert_eq!(
            maintenance,
            PortalError::OutOfService {
                retry_after_seconds: None
            }
        );
        let refused = PortalError::from(core_portal::PortalError::Refused {
            error: core_portal::PortalRefusal::OutsideAgentScope,
            status: 403,
        });
        assert_eq!(
            refused,
            PortalError::Refused {
                refusal: PortalRefusal::OutsideAgentScope,
                status: 403
            }
        );
        assert!(!refused.is_retryable());
        assert_eq!(
            PortalError::from(core_portal::PortalError::LastTry),
            PortalError::LastTry
        );
        assert_eq!(
            PortalError::from(core_portal::PortalError::LoginRequired),
            PortalError::LoginRequired
        );
        let id_token = PortalError::from(core_portal::PortalError::IdToken(
            core_portal::IdTokenError::WrongNonce,
        ));
        assert!(
            matches!(
                id_token,
                PortalError::IdToken {
                    problem: IdTokenProblem::WrongNonce,
                    ..
                }
            ),
            "{id_token:?}"
        );
    }

    #[test]
    fn a_login_a_step_holds_is_busy_for_the_others() {
        let busy = LoginFlow {
            slot: Mutex::new(None),
        };
        assert_eq!(busy.lease().err(), Some(PortalError::Busy));
        assert!(!busy.tapped());
        assert_eq!(busy.expires_at(), None);
    }
}
