//! What a JPKI end-entity certificate is for, decided from everything the
//! certificate says: its policy (production or J-LIS test hierarchy), key
//! usage, extended key usage and issuer.

use const_oid::ObjectIdentifier;
use serde::Serialize;

use super::certificate::CardCertificate;

/// Certificate policy of the production signing certificate.
pub const SIGNING_POLICY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.1.20");
/// Certificate policy of the production user-authentication certificate.
pub const AUTHENTICATION_POLICY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.3.30");
/// Certificate policy of a J-LIS test card's signing certificate (card-protocol.md, 2026-11-30).
pub const TEST_SIGNING_POLICY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.0.20");
/// Certificate policy of a J-LIS test card's authentication certificate.
pub const TEST_AUTHENTICATION_POLICY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.0.30");

/// The issuer unit naming the authentication hierarchy (card-protocol.md, Certificates).
const AUTHENTICATION_UNIT: &str = "JPKI for user authentication";
/// The issuer unit naming the signing hierarchy.
const SIGNING_UNIT: &str = "JPKI for digital signature";

/// What a JPKI end-entity certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateRole {
    /// User authentication (利用者証明用).
    Authentication,
    /// Digital signature (署名用).
    Signing,
}

/// Which JPKI hierarchy a certificate's policy belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hierarchy {
    /// The production hierarchy (`…8.5.1.3.30`, `…8.5.1.1.20`).
    Production,
    /// The J-LIS test-card hierarchy (`…8.5.1.0.30`, `…8.5.1.0.20`).
    Test,
    /// No JPKI policy: the role came from key usage and issuer alone.
    Unlisted,
}

/// Why no role could be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleError {
    /// Nothing in the certificate says what it is for.
    #[error("nothing in the certificate marks it as a JPKI authentication or signing certificate")]
    Unmarked,
    /// The certificate says both (policy, key usage, EKU or issuer disagree).
    #[error("the certificate's policy, key usage and issuer disagree about its role")]
    Contradictory,
}

/// The role and hierarchy a certificate was found to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RoleFinding {
    /// What the certificate is for.
    pub role: CertificateRole,
    /// Which policy said so.
    pub hierarchy: Hierarchy,
}

impl CertificateRole {
    /// Decides the role from the certificate. A JPKI policy of either
    /// hierarchy decides when nothing else contradicts it; without one,
    /// the issuer unit decides when key usage agrees.
    pub fn of(cert: &CardCertificate) -> Result<RoleFinding, RoleError> {
        let policies = cert.policy_oids();
        let mut by_policy = Vec::new();
        for oid in &policies {
            let found = match *oid {
                AUTHENTICATION_POLICY => (Self::Authentication, Hierarchy::Production),
                SIGNING_POLICY => (Self::Signing, Hierarchy::Production),
                TEST_AUTHENTICATION_POLICY => (Self::Authentication, Hierarchy::Test),
                TEST_SIGNING_POLICY => (Self::Signing, Hierarchy::Test),
                _ => continue,
            };
            by_policy.push(found);
        }
        // Evidence other than the policy. Each says one role or nothing.
        let mut other = Vec::new();
        if cert.has_client_auth_eku() {
            other.push(Self::Authentication);
        }
        if let Some(usage) = cert.key_usage() {
            if usage.non_repudiation() {
                other.push(Self::Signing);
            } else if usage.digital_signature() {
                other.push(Self::Authentication);
            }
        }
        for unit in cert.issuer_units() {
            if unit == AUTHENTICATION_UNIT {
                other.push(Self::Authentication);
            } else if unit == SIGNING_UNIT {
                other.push(Self::Signing);
            }
        }
        let agree = |role: Self| other.iter().all(|r| *r == role);
        match by_policy.as_slice() {
            [] => match other.first() {
                None => Err(RoleError::Unmarked),
                Some(first) if !agree(*first) => Err(RoleError::Contradictory),
                // Without a policy the issuer must name the hierarchy: key usage alone is too weak.
                Some(first)
                    if cert
                        .issuer_units()
                        .iter()
                        .any(|u| u == AUTHENTICATION_UNIT || u == SIGNING_UNIT) =>
                {
                    Ok(RoleFinding {
                        role: *first,
                        hierarchy: Hierarchy::Unlisted,
                    })
                }
                Some(_) => Err(RoleError::Unmarked),
            },
            [(role, hierarchy)] if agree(*role) => Ok(RoleFinding {
                role: *role,
                hierarchy: *hierarchy,
            }),
            _ => Err(RoleError::Contradictory),
        }
    }
}
