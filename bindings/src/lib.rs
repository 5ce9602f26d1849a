//! MynaKit for Kotlin and Swift: the UniFFI layer over `mynakit-core`.
//!
//! Conversion only: every card operation, PIN rule and certificate check
//! lives in the core. This crate adds
//! - the [`CardTransport`] foreign trait the app implements (IsoDep, CoreNFC)
//!   and its adapter to the core's transport trait;
//! - the [`AuthorityLink`] foreign trait (OkHttp, URLSession), its records
//!   and its typed [`LinkError`], and its adapter to the core's link;
//! - the [`SecureArea`] foreign trait (Android Keystore, Secure Enclave)
//!   for the installation key, and its adapter to the core's;
//! - [`PortalClient`], the Mynaportal-style app (issue 10) over the core's
//!   `PortalClient`, with one flat error enum, [`PortalError`];
//! - [`PinResetClient`], the PIN-reset flow (issue 8) over the core's
//!   `ResetClient`, with one flat error enum, [`ResetError`];
//! - [`CardSession`], which lends the core's channel to one async call at a
//!   time and survives a cancelled call;
//! - records and enums for the core's results, and one error enum,
//!   [`MynaKitError`], with the cases an app handles differently;
//! - [`TrustAnchors`] and free functions for checks that need no card.
//!
//! Secrets arrive as `String`s (what Kotlin and Swift have); they are wrapped
//! in `Zeroizing` on arrival, turned into the core's validated secret types,
//! and never logged.
//!
//! With the `sandbox` feature (test builds only) the library also exports
//! the sandbox virtual card, the sandbox camera, the core's software secure
//! area and a function that panics, for the binding tests.

// Nothing may panic across the FFI on data from the app or the card.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::string_slice,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

uniffi::setup_scaffolding!();

mod authority;
mod error;
mod portal;
mod progress;
mod records;
mod reset;
mod secure_area;
mod session;
mod transport;
mod trust;
mod wallet;

#[cfg(feature = "sandbox")]
mod sandbox;

pub use authority::{
    AuthorityError, AuthorityLink, AuthorityRequest, AuthorityResponse, HttpHeader, HttpMethod,
    LinkError, new_idempotency_key, send_to_authority,
};
pub use error::{MynaKitError, TransportFailure, UntrustedReason};
pub use portal::{
    Agency, AgentGrant, AgentGrantState, AgentScope, CertificateStanding, CertificateState,
    Consent, ConsentRequest, ConsentRequestState, ConsentState, DataItem, IdTokenProblem,
    InsuranceStatus, InsuredCard, LoginFlow, PortalClient, PortalError, PortalRefusal,
    ReleaseReason, Session, TermsAgreement, TermsState, TermsVersion, portal_error_is_retryable,
};
pub use progress::ProgressListener;
pub use records::{
    BasicInfo, CalendarDate, CardFace, CardStatus, Certificate, CertificateExpiry, CertificateKind,
    CertificateRole, ExpiryState, Hierarchy, PersonalAttributes, PinKind, PinState, Sex, TokenKind,
    TranscriptStats, TrustedAnchor,
};
pub use reset::{
    CaptureResult, FaceCheckPrompt, Frame, KeptReservation, LivenessAction, PinResetClient,
    Refusal, Reservation, ReservationState, ResetError, ResetFlow, ResetKind, StoreChain,
};
pub use secure_area::{SecureArea, SecureAreaError};
pub use session::CardSession;
pub use transport::{CardTransport, LinkCapabilities};
pub use trust::{TrustAnchors, certificate_expiry, parse_certificate, verify_signature};
pub use wallet::{
    ApplySecret, ElementValue, Notice, NoticeKind, Notices, PublicNotice, ReapplyReason,
    RecordElement, RecordStatus, RefreshReport, ReissueReason, Reissued, RevocationReason,
    StatusCheck, VerifiedPresentation, VerifyFailure, WalletApplication, WalletClient, WalletError,
    WalletRecord, WalletRefusal, verify_presentation, wallet_error_is_retryable,
};

#[cfg(feature = "sandbox")]
pub use sandbox::{
    SandboxCameraSubject, SandboxHolder, VirtualCard, VirtualLink, VirtualLinkSwitches,
    sandbox_camera_frames, sandbox_panic, sandbox_panic_async, software_secure_area_in_memory,
};
