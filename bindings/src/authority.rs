//! The link to the authorities the app implements (OkHttp on Android,
//! URLSession on iOS), its records and typed failures, and its adapter to
//! the core's `AuthorityLink`.
//!
//! HTTP semantics and nothing more, as in the core: the core builds each
//! request (path, headers, the `Idempotency-Key` of a state-changing one,
//! body) and reads each answer; the app's link moves bytes and reports
//! every answer it got, whatever its status (a 429 or 503 is an answer, not
//! a failure: the core sorts them, W12 and P6). A failure says whether the
//! request may have acted ([`LinkError`]), so that the core knows a retry
//! must reuse the idempotency key.

use std::fmt;
use std::sync::Arc;

use mynakit_core::{IdempotencyKey, Method, SystemClock};

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HttpMethod {
    /// `GET`: reads, changes nothing.
    Get,
    /// `POST`: creates (a session, a token, a reservation).
    Post,
    /// `PUT`: replaces.
    Put,
    /// `PATCH`: changes part of something.
    Patch,
    /// `DELETE`: removes or cancels.
    Delete,
}

impl From<Method> for HttpMethod {
    fn from(m: Method) -> Self {
        match m {
            Method::Get => Self::Get,
            Method::Post => Self::Post,
            Method::Put => Self::Put,
            Method::Patch => Self::Patch,
            Method::Delete => Self::Delete,
        }
    }
}

impl From<HttpMethod> for Method {
    fn from(m: HttpMethod) -> Self {
        match m {
            HttpMethod::Get => Self::Get,
            HttpMethod::Post => Self::Post,
            HttpMethod::Put => Self::Put,
            HttpMethod::Patch => Self::Patch,
            HttpMethod::Delete => Self::Delete,
        }
    }
}

/// One header field.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    /// Its name, as the core or the authority spelt it.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// Values may be tokens: `Debug` shows the name only.
impl fmt::Debug for HttpHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: <{} bytes>", self.name, self.value.len())
    }
}

/// One request to an authority, as the core built it. Send it as it is:
/// every header (the `Idempotency-Key` of a state-changing request
/// included, unchanged) and the body. Its body may hold personal data (the
/// chip's face record, camera frames): never log it.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuthorityRequest {
    /// The method.
    pub method: HttpMethod,
    /// The path, starting with `/`, relative to the authority's base
    /// address (append it to the base, with its query if any).
    pub path: String,
    /// The headers to send, in order.
    pub headers: Vec<HttpHeader>,
    /// The body (empty for a `GET`).
    pub body: Vec<u8>,
}

/// Header names, the path and the body's length only.
impl fmt::Debug for AuthorityRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers)
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

/// An authority's answer, whatever its status.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuthorityResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The headers, in the order received (`Date` and `Retry-After` are
    /// read by the core).
    pub headers: Vec<HttpHeader>,
    /// The body.
    pub body: Vec<u8>,
}

/// The status and header names; the body's length only.
impl fmt::Debug for AuthorityResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

fn headers_from(pairs: &[(String, String)]) -> Vec<HttpHeader> {
    pairs
        .iter()
        .map(|(name, value)| HttpHeader {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

impl From<&mynakit_core::AuthorityRequest> for AuthorityRequest {
    fn from(r: &mynakit_core::AuthorityRequest) -> Self {
        Self {
            method: r.method().into(),
            path: r.path().to_owned(),
            headers: headers_from(r.headers()),
            body: r.body().to_vec(),
        }
    }
}

impl From<AuthorityResponse> for mynakit_core::AuthorityResponse {
    fn from(r: AuthorityResponse) -> Self {
        Self {
            status: r.status,
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: r.body,
        }
    }
}

impl From<mynakit_core::AuthorityResponse> for AuthorityResponse {
    fn from(r: mynakit_core::AuthorityResponse) -> Self {
        Self {
            status: r.status,
            headers: headers_from(&r.headers),
            body: r.body,
        }
    }
}

/// Why the app's link got no answer at all (thrown by
/// `AuthorityLink.send` in Kotlin and Swift). Pick the case by whether the
/// request may have reached the authority: when in doubt, `AnswerLost`
/// (a retry with the same idempotency key is then safe).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum LinkError {
    /// Nothing reached the authority: no network, connection refused, name
    /// not found, TLS failure.
    #[error("the authority cannot be reached: {reason}")]
    Unavailable {
        /// What the platform reported (no request or answer content).
        reason: String,
    },
    /// No answer in time; the request may have acted.
    #[error("the authority did not answer in time")]
    Timeout,
    /// The connection failed after the request may have been sent: it may
    /// have acted.
    #[error("the authority's answer was lost: {reason}")]
    AnswerLost {
        /// What the platform reported.
        reason: String,
    },
    /// The caller cancelled the request in flight (coroutine or task); the
    /// platform cancelled the HTTP call. It may have acted.
    #[error("the request was cancelled")]
    Cancelled,
}

impl From<uniffi::UnexpectedUniFFICallbackError> for LinkError {
    /// An exception the link threw that is not a `LinkError`: nothing says
    /// whether the request went out, so it is taken as possibly acted.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::AnswerLost { reason: e.reason }
    }
}

impl From<LinkError> for mynakit_core::LinkError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Unavailable { reason } => Self::Unavailable { reason },
            LinkError::Timeout => Self::Timeout,
            LinkError::AnswerLost { reason } => Self::AnswerLost { reason },
            LinkError::Cancelled => Self::Cancelled,
        }
    }
}

impl From<mynakit_core::LinkError> for LinkError {
    fn from(e: mynakit_core::LinkError) -> Self {
        match e {
            mynakit_core::LinkError::Unavailable { reason } => Self::Unavailable { reason },
            mynakit_core::LinkError::Timeout => Self::Timeout,
            mynakit_core::LinkError::AnswerLost { reason } => Self::AnswerLost { reason },
            mynakit_core::LinkError::Cancelled => Self::Cancelled,
        }
    }
}

/// Sends requests to one authority: the app's HTTP stack (OkHttp,
/// URLSession). One instance per authority (its base address).
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait AuthorityLink: Send + Sync {
    /// Sends `request` and returns the authority's answer, whatever its
    /// status. Follow no redirect (return the 3xx). Throw [`LinkError`]
    /// when there is no answer. When the Rust side drops the call (its
    /// caller was cancelled) the foreign task is cancelled: cancel the HTTP
    /// call then.
    async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError>;
}

/// The app's link seen as the core's link.
pub(crate) struct ForeignAuthorityLink(pub(crate) Arc<dyn AuthorityLink>);

#[async_trait::async_trait]
impl mynakit_core::AuthorityLink for ForeignAuthorityLink {
    async fn send(
        &self,
        request: mynakit_core::AuthorityRequest,
    ) -> Result<mynakit_core::AuthorityResponse, mynakit_core::LinkError> {
        self.0
            .send(AuthorityRequest::from(&request))
            .await
            .map(Into::into)
            .map_err(Into::into)
    }
}

/// Why a request sent with [`send_to_authority`] did not succeed: the
/// core's sorting of the link's outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum AuthorityError {
    /// Nothing reached the authority (W12); the phone's state is as before.
    #[error("the authority cannot be reached: {reason}")]
    Unavailable {
        /// What the platform reported.
        reason: String,
    },
    /// No answer in time; the request may have acted: retry it unchanged.
    #[error("the authority did not answer in time")]
    Timeout,
    /// The answer was lost; the request may have acted: retry it unchanged.
    #[error("the authority's answer was lost: {reason}")]
    AnswerLost {
        /// What the platform reported.
        reason: String,
    },
    /// Cancelled in flight; the request may have acted.
    #[error("the request was cancelled")]
    Cancelled,
    /// 429: the authority limits use (P6, or a lock-out).
    #[error("the authority limits requests now")]
    RateLimited {
        /// Its `Retry-After`, in seconds.
        retry_after_seconds: Option<u64>,
    },
    /// 503: maintenance or overload (W12, P6).
    #[error("the authority is temporarily out of service")]
    OutOfService {
        /// Its `Retry-After`, in seconds.
        retry_after_seconds: Option<u64>,
    },
    /// Any other status outside 2xx: the answer, for its reason.
    #[error("the authority answered with status {status}")]
    Refused {
        /// The status.
        status: u16,
        /// The whole answer.
        answer: AuthorityResponse,
    },
    /// The request cannot be sent: a state-changing method without an
    /// `Idempotency-Key` of 32 lowercase hex digits. Nothing was sent.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// What is wrong.
        reason: String,
    },
}

impl From<mynakit_core::AuthorityError> for AuthorityError {
    fn from(e: mynakit_core::AuthorityError) -> Self {
        use mynakit_core::AuthorityError as E;
        match e {
            E::Unavailable { reason } => Self::Unavailable { reason },
            E::Timeout => Self::Timeout,
            E::AnswerLost { reason } => Self::AnswerLost { reason },
            E::Cancelled => Self::Cancelled,
            E::RateLimited { retry_after } => Self::RateLimited {
                retry_after_seconds: retry_after.map(|d| d.as_secs()),
            },
            E::OutOfService { retry_after } => Self::OutOfService {
                retry_after_seconds: retry_after.map(|d| d.as_secs()),
            },
            E::Refused(answer) => Self::Refused {
                status: answer.status,
                answer: answer.into(),
            },
        }
    }
}

/// A fresh idempotency key (32 lowercase hex digits, 128 random bits) for
/// a request the app builds itself. Keep it with the operation and send
/// every retry with it.
#[uniffi::export]
pub fn new_idempotency_key() -> Result<String, AuthorityError> {
    IdempotencyKey::generate()
        .map(|k| k.as_str().to_owned())
        .map_err(|e| AuthorityError::InvalidRequest {
            reason: e.to_string(),
        })
}

/// Builds the core's request from the record, enforcing its rule: a
/// state-changing request carries a well-formed `Idempotency-Key`.
fn core_request(
    request: AuthorityRequest,
) -> Result<mynakit_core::AuthorityRequest, AuthorityError> {
    let method = Method::from(request.method);
    let key_header = |h: &&HttpHeader| {
        h.name
            .eq_ignore_ascii_case(mynakit_core::IDEMPOTENCY_KEY_HEADER)
    };
    let mut core = if method.changes_state() {
        let text = request
            .headers
            .iter()
            .find(key_header)
            .map(|h| h.value.as_str())
            .ok_or_else(|| AuthorityError::InvalidRequest {
                reason: format!("{method} without an Idempotency-Key"),
            })?;
        let key = IdempotencyKey::parse(text).map_err(|e| AuthorityError::InvalidRequest {
            reason: e.to_string(),
        })?;
        mynakit_core::AuthorityRequest::changing(method, request.path, request.body, &key)
    } else {
        mynakit_core::AuthorityRequest::get(request.path)
    };
    for header in request.headers.iter().filter(|h| !key_header(h)) {
        core = core.header(header.name.clone(), header.value.clone());
    }
    Ok(core)
}

/// Sends one request the app built through `link` and the core's sorting
/// of answers (2xx, or a typed [`AuthorityError`]: 429 and 503 with their
/// `Retry-After`, any other refusal with the answer). For an app's own
/// calls to an authority, and to test a link.
#[uniffi::export]
pub async fn send_to_authority(
    link: Arc<dyn AuthorityLink>,
    request: AuthorityRequest,
) -> Result<AuthorityResponse, AuthorityError> {
    let request = core_request(request)?;
    let link = ForeignAuthorityLink(link);
    mynakit_core::authority::send(&link, request, &SystemClock)
        .await
        .map(Into::into)
        .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &str) -> HttpHeader {
        HttpHeader {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn a_changing_request_needs_a_well_formed_key_and_keeps_it() {
        let post = |headers| AuthorityRequest {
            method: HttpMethod::Post,
            path: "/v1/challenges".into(),
            headers,
            body: b"{}".to_vec(),
        };
        assert!(matches!(
            core_request(post(vec![])),
            Err(AuthorityError::InvalidRequest { .. })
        ));
        assert!(matches!(
            core_request(post(vec![header("Idempotency-Key", "nope")])),
            Err(AuthorityError::InvalidRequest { .. })
        ));
        let key = new_idempotency_key().unwrap();
        let core = core_request(post(vec![
            header("content-type", "application/json"),
            header("idempotency-key", &key),
        ]))
        .unwrap();
        assert_eq!(core.idempotency_key(), Some(key.as_str()));
        assert_eq!(core.method(), Method::Post);
        let back = AuthorityRequest::from(&core);
        assert_eq!(back.body, b"{}");
        assert_eq!(back.headers.len(), 2);
        let get = core_request(AuthorityRequest {
            method: HttpMethod::Get,
            path: "/v1/reservations/x".into(),
            headers: vec![],
            body: vec![],
        })
        .unwrap();
        assert_eq!(get.idempotency_key(), None);
    }

    #[test]
    fn debug_shows_no_header_values_and_no_bodies() {
        let request = AuthorityRequest {
            method: HttpMethod::Post,
            path: "/x".into(),
            headers: vec![header("Authorization", "Bearer SECRET-TOKEN")],
            body: b"NAME-HANAKO".to_vec(),
        };
        let text = format!("{request:?}");
        assert!(
            !text.contains("SECRET") && !text.contains("HANAKO"),
            "{text}"
        );
        assert!(
            text.contains("Authorization") && text.contains("11 bytes"),
            "{text}"
        );
        let response = AuthorityResponse {
            status: 200,
            headers: vec![],
            body: b"ADDRESS-KASUMIGASEKI".to_vec(),
        };
        assert!(!format!("{response:?}").contains("KASUMIGASEKI"));
    }

    #[test]
    fn link_errors_round_trip_through_the_core() {
        for e in [
            LinkError::Unavailable { reason: "a".into() },
            LinkError::Timeout,
            LinkError::AnswerLost { reason: "b".into() },
            LinkError::Cancelled,
        ] {
            assert_eq!(LinkError::from(mynakit_core::LinkError::from(e.clone())), e);
        }
    }
}
