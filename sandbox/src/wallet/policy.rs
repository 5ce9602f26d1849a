//! The reference issuer's numbers: those the rules fix are cited; the
//! others are **policy values of ours** (the terms publish none), each with
//! its default and the reason for it. The phone-side numbers (validity,
//! uses before re-issue, status list ttl and lifetime, nonce lifetime) are
//! the core's `wallet::policy`, so the two sides never disagree.

use chrono::Duration;
use mynakit_core::SecurityLevel;
use mynakit_core::wallet::policy as core_policy;

/// The status list every record is published in (`/v1/wallet/status-lists/1`).
pub const STATUS_LIST_NUMBER: u32 = 1;

/// Bits per status (draft-ietf-oauth-status-list): 2, so VALID (0),
/// INVALID (1) and SUSPENDED (2) are all expressible.
pub const STATUS_BITS: u8 = 2;

/// The issuer's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerPolicy {
    /// Entries in the status list. **Policy value**, 2^20 (1 048 576):
    /// indices are drawn at random from the whole list so that a record's
    /// index says nothing about when it was issued or who holds the ones
    /// next to it (draft-ietf-oauth-status-list, privacy considerations:
    /// "unlinkability", random allocation); a list much larger than the
    /// records in it keeps random draws cheap. 2 bits each: 256 KiB before
    /// compression, a few hundred bytes after while mostly VALID. An index
    /// is never reused (a reused one could flip an old record back to VALID).
    pub status_list_size: u64,
    /// Security levels of the device key the issuer accepts (W1: "a secure
    /// device in the phone"). **Sandbox default: all of them, `software`
    /// included**, so the desktop and the tests (the software secure area)
    /// can apply; a production issuer would accept only hardware levels and
    /// verify the attestation chain, which the sandbox does not (it has no
    /// platform attestation roots).
    pub accepted_security_levels: Vec<SecurityLevel>,
    /// W6(3): more uses than this and a re-issue is due (the core's value).
    pub max_uses_before_reissue: u64,
    /// How long a nonce lives (the core's value).
    pub nonce_lifetime: Duration,
    /// `ttl` of the status list token (the core's value); the issuer also
    /// re-signs a cached token after this long.
    pub status_list_ttl: Duration,
    /// `exp` − `iat` of the status list token (the core's value).
    pub status_list_lifetime: Duration,
}

impl Default for IssuerPolicy {
    fn default() -> Self {
        Self {
            status_list_size: 1 << 20,
            accepted_security_levels: vec![
                SecurityLevel::Software,
                SecurityLevel::TrustedEnvironment,
                SecurityLevel::StrongBox,
                SecurityLevel::SecureEnclave,
            ],
            max_uses_before_reissue: core_policy::MAX_USES_BEFORE_REISSUE,
            nonce_lifetime: core_policy::NONCE_LIFETIME,
            status_list_ttl: core_policy::STATUS_LIST_TTL,
            status_list_lifetime: core_policy::STATUS_LIST_LIFETIME,
        }
    }
}
