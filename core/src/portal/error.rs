//! What can stop the portal app on the phone, typed so an app can say what
//! to do.

use serde::Deserialize;

use crate::card::error::CardError;
use crate::platform::{AuthorityError, SecureAreaError};
use crate::store::{SealError, StoreError, VaultError};

/// The portal's refusal kinds (`docs/portal-protocol.md`, "Refusals": the
/// `error` of an [`ErrorBody`](super::wire::ErrorBody)). OAuth's own kinds
/// (RFC 6749 §4.1.2.1, §5.2) come first. Unknown kinds are kept as
/// [`PortalRefusal::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortalRefusal {
    /// OAuth: a parameter is missing, repeated or malformed (a bug on our
    /// side, or `state`/`nonce`/PKCE left out).
    InvalidRequest,
    /// OAuth: unknown client, or a redirect URI not registered for it.
    InvalidClient,
    /// OAuth: the code or refresh token is unknown, used, expired, issued
    /// to another client, or the PKCE verifier does not match.
    InvalidGrant,
    /// OAuth: a grant type the portal does not serve.
    UnsupportedGrantType,
    /// OAuth: a response type other than `code`.
    UnsupportedResponseType,
    /// OAuth: a scope other than `openid`.
    InvalidScope,
    /// No bearer token, or one that is unknown or expired: refresh, or log
    /// in with the card.
    InvalidToken,
    /// P2: the certificate does not chain to the JPKI authentication CA.
    CertificateUntrusted,
    /// P2: a certificate of the wrong kind (a signing certificate offered
    /// as the authentication certificate).
    NotAuthenticationCertificate,
    /// P2: the certificate expired (or is not yet valid).
    CertificateExpired,
    /// P2: the certificate is revoked (J-LIS's list).
    CertificateRevoked,
    /// P2: the card's signature does not verify.
    BadCardSignature,
    /// No such authorization request (or its challenge was used).
    #[serde(alias = "challenge_used")]
    ChallengeUnknown,
    /// The challenge is past its lifetime: begin the login again.
    ChallengeExpired,
    /// P7: the terms in force are not agreed (`current_terms_version`
    /// says which).
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
    /// S1: the consent request or consent is no longer in force
    /// (answered, lapsed, withdrawn, retention ended).
    #[serde(alias = "consent_expired", alias = "consent_withdrawn")]
    ConsentNotInForce,
    /// S1: items granted that the request did not ask for, or none.
    ItemsNotRequested,
    /// P5: the agent asked for something outside the holder's delegation,
    /// or the delegation ended.
    OutsideAgentScope,
    /// The idempotency key was used for another request (a bug on our
    /// side).
    IdempotencyKeyReused,
    /// The path is not part of the API.
    NoSuchRoute,
    /// The portal failed inside.
    Internal,
    /// A kind this version does not know.
    #[serde(other)]
    Unknown,
}

/// What is wrong with the portal's ID token (OpenID Connect Core
/// §3.1.3.7). Any of these means the login did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Not a JWS compact ES256 token, or a claim missing.
    #[error("the ID token is malformed: {0}")]
    Malformed(String),
    /// No key of the portal's JWK Set verifies it.
    #[error("the ID token's signature does not verify")]
    BadSignature,
    /// `iss` is not the portal.
    #[error("the ID token's issuer is {0}")]
    WrongIssuer(String),
    /// `aud` is not this app.
    #[error("the ID token is for another client")]
    WrongAudience,
    /// `nonce` is not the one this login sent.
    #[error("the ID token's nonce is not this login's")]
    WrongNonce,
    /// Expired (or issued in the future) by the corrected clock.
    #[error("the ID token is expired or not yet valid")]
    Expired,
    /// A refresh's ID token names another subject.
    #[error("the ID token names another subject")]
    WrongSubject,
}

/// Why a portal call stopped. In every case the phone's store is as it was
/// before the call (or holds the call's whole outcome); a retryable case can
/// be retried by calling the same step again.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// The card refused or the tap was interrupted (card pulled away: tap
    /// again; no PIN try was spent without the card saying so).
    #[error(transparent)]
    Card(#[from] CardError),
    /// The authentication PIN has one try left (the card says so). Nothing
    /// was sent: confirm with the user, then tap again with
    /// `LastTry::Allow`.
    #[error("the PIN has one try left: confirm before spending it")]
    LastTry,
    /// The portal could not be reached, did not answer, limits requests
    /// (P6: 429) or is in maintenance (503). Wait `retry_after` and call
    /// again: the request and its idempotency key are kept.
    #[error(transparent)]
    Authority(AuthorityError),
    /// The portal refused the request.
    #[error("the portal refused: {error:?} (status {status})")]
    Refused {
        /// What it refused for.
        error: PortalRefusal,
        /// The HTTP status.
        status: u16,
    },
    /// P7: the terms in force were not agreed: show `current`, then
    /// `accept_terms(current)`.
    #[error("agree to the terms version {current} first (P7)")]
    TermsNotAgreed {
        /// The version in force.
        current: String,
    },
    /// No session (never logged in, logged out, or the refresh token
    /// expired or was refused): log in with the card.
    #[error("log in with the card")]
    LoginRequired,
    /// The authorization response's `state` is not this login's (RFC 6749
    /// §10.12): the answer is not ours and is dropped.
    #[error("the authorization response's state is not this login's")]
    StateMismatch,
    /// The ID token failed the phone's check.
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
    /// A step was called before the one it needs.
    #[error("{step} needs {needs} first")]
    OutOfOrder {
        /// The step called.
        step: &'static str,
        /// What must happen before it.
        needs: &'static str,
    },
    /// A success answer that does not parse (damaged on the way). The
    /// request may have acted: call the same step again.
    #[error("the portal's answer was damaged: {what}")]
    AnswerGarbled {
        /// What was wrong.
        what: String,
    },
    /// An answer that parses but cannot be right.
    #[error("the portal's answer cannot be right: {what}")]
    BadAnswer {
        /// What was wrong.
        what: String,
    },
    /// The phone's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealed data did not open.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The secure area failed.
    #[error(transparent)]
    SecureArea(#[from] SecureAreaError),
}

impl From<VaultError> for PortalError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::SecureArea(e) => Self::SecureArea(e),
            VaultError::Store(e) => Self::Store(e),
            // The session cannot be opened: a new login makes a new one.
            VaultError::KeyGone => Self::LoginRequired,
            VaultError::Damaged => Self::Seal(SealError::DoesNotOpen),
        }
    }
}

impl PortalError {
    /// Whether calling the same step again later may succeed: a link
    /// failure, 429, 503, a damaged answer or an interrupted tap.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Authority(e) => e.is_retryable(),
            Self::Card(CardError::Transport(_)) => true,
            Self::AnswerGarbled { .. } => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_kind_of_the_protocol_table_is_known() {
        // docs/portal-protocol.md, "Refusals".
        for kind in [
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unsupported_grant_type",
            "unsupported_response_type",
            "invalid_scope",
            "invalid_token",
            "certificate_untrusted",
            "not_authentication_certificate",
            "certificate_expired",
            "certificate_revoked",
            "bad_card_signature",
            "challenge_unknown",
            "challenge_used",
            "challenge_expired",
            "terms_not_agreed",
            "terms_outdated",
            "no_insurer_record",
            "already_registered",
            "not_registered",
            "not_found",
            "consent_not_in_force",
            "consent_expired",
            "consent_withdrawn",
            "items_not_requested",
            "outside_agent_scope",
            "idempotency_key_reused",
            "no_such_route",
            "internal",
        ] {
            let refusal: PortalRefusal =
                serde_json::from_value(serde_json::Value::String(kind.into())).unwrap();
            assert_ne!(refusal, PortalRefusal::Unknown, "{kind}");
        }
    }
}
