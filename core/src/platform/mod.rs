//! The services the phone (or desktop) implements for the core: the card
//! transport, the clock and the link to the authorities; and the small
//! helpers that belong with them (the clock corrected by an authority's
//! time, HTTP dates). They know nothing of the card's files, of the store or
//! of the apps; every trait is object-safe, so a front end holds
//! `Arc<dyn …>`.

mod authority;
mod clock;
mod http_date;
mod secure_area;
mod transport;

pub use authority::{
    AuthorityError, AuthorityLink, AuthorityRequest, AuthorityResponse, BadIdempotencyKey,
    IDEMPOTENCY_KEY_HEADER, IdempotencyKey, JsonAnswerError, LinkError, Method, RandomUnavailable,
    read_json_answer, send,
};
pub use clock::{BadHttpDate, Clock, ClockOffset, CorrectedClock, ManualClock, SystemClock};
pub use http_date::{format_http_date, parse_http_date};
pub use secure_area::{
    KeyInfo, KeyPurpose, KeySpec, SecureArea, SecureAreaError, SecurityLevel, SoftwareSecureArea,
    UserAuthentication, UserAuthenticator,
};
pub use transport::{CardTransport, LinkCapabilities, TransportError};
