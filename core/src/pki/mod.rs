//! PKI: the card's X.509 certificates, what each is for, the anchors a
//! chain must end in, and where a certificate stands in time.

mod anchors;
mod certificate;
mod expiry;
mod role;

pub use anchors::{AnchorError, ChainError, TrustAnchors, TrustedAnchor, parse_fingerprint};
pub use certificate::{
    CardCertificate, CertificateError, CertificateInfo, PersonalAttributes, attribute_oid,
};
pub use expiry::ExpiryState;
pub use role::{
    AUTHENTICATION_POLICY, CertificateRole, Hierarchy, RoleError, RoleFinding, SIGNING_POLICY,
    TEST_AUTHENTICATION_POLICY, TEST_SIGNING_POLICY,
};
