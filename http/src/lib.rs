//! The desktop's link to the authorities: `mynakit-core`'s [`AuthorityLink`]
//! over HTTP(S) with `ureq` (blocking, rustls with the webpki roots: no
//! system OpenSSL). Android (its HTTP stack) and iOS (URLSession) implement
//! the same trait in their own language; this crate is what the CLI, the
//! sandbox's tests and the desktop use.
//!
//! What it guarantees to the core: every answer the authority gave comes
//! back as an [`AuthorityResponse`], whatever its status (429 and 503
//! included: the core sorts them); no redirect is followed (an authority
//! that redirects a `POST` is misconfigured or impersonated, and the answer
//! is refused by the core as a 3xx); failures are [`LinkError`]s that say
//! whether the request may have acted.
//!
//! `send` blocks the calling thread for the request's duration (at most the
//! timeout). That suits the desktop's executor (`pollster`, one task per
//! thread); an app on a multi-task runtime would run it on a blocking pool.

use std::io::ErrorKind;
use std::time::Duration;

use mynakit_core::{AuthorityLink, AuthorityRequest, AuthorityResponse, LinkError};
use ureq::http;

/// The default time a request may take, from connecting to the last byte of
/// the answer. A policy value of ours: long enough for a face-check upload
/// on a slow line, short enough that a user waiting on a dead link is told.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer read. A policy value: authorities answer with small
/// JSON or CBOR documents; anything larger is not an answer we expect.
pub const MAX_ANSWER_BYTES: u64 = 8 * 1024 * 1024;

/// An authority reached over HTTP(S) at a base address.
#[derive(Debug, Clone)]
pub struct HttpAuthorityLink {
    agent: ureq::Agent,
    base: String,
}

/// A base address that is not `http://` or `https://` followed by a host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an authority base address (http:// or https:// and a host): {0}")]
pub struct BadBaseAddress(pub String);

impl HttpAuthorityLink {
    /// A link to the authority at `base` (e.g. `https://reset.example/api`
    /// or `http://127.0.0.1:8080`), each request given at most `timeout`.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, BadBaseAddress> {
        let base = base.trim_end_matches('/');
        let host = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"));
        if host.is_none_or(str::is_empty) || base.parse::<http::Uri>().is_err() {
            return Err(BadBaseAddress(base.to_owned()));
        }
        let config = ureq::Agent::config_builder()
            // 4xx and 5xx are answers the core reads (429, 503, refusals).
            .http_status_as_error(false)
            // Never follow a redirect; hand the 3xx to the core.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("mynakit/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            agent: config.into(),
            base: base.to_owned(),
        })
    }

    /// The base address requests' paths are appended to.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn send_blocking(&self, request: &AuthorityRequest) -> Result<AuthorityResponse, LinkError> {
        let mut builder = http::Request::builder()
            .method(request.method().as_str())
            .uri(format!("{}{}", self.base, request.path()));
        for (name, value) in request.headers() {
            builder = builder.header(name, value);
        }
        let http_request =
            builder
                .body(request.body().to_vec())
                .map_err(|e| LinkError::Unavailable {
                    reason: format!("the request cannot be sent: {e}"),
                })?;
        let mut response = self.agent.run(http_request).map_err(link_error)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(link_error)?;
        Ok(AuthorityResponse {
            status,
            headers,
            body,
        })
    }
}

#[async_trait::async_trait]
impl AuthorityLink for HttpAuthorityLink {
    async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError> {
        self.send_blocking(&request)
    }
}

/// Sorts ureq's errors by what they mean for the request: never sent
/// (unavailable), out of time, or sent and its answer lost.
fn link_error(error: ureq::Error) -> LinkError {
    let reason = error.to_string();
    match error {
        ureq::Error::Timeout(_) => LinkError::Timeout,
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => LinkError::Timeout,
            ErrorKind::ConnectionRefused
            | ErrorKind::NotFound
            | ErrorKind::AddrNotAvailable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkDown => LinkError::Unavailable { reason },
            // Reset, broken pipe, early end: the request may have gone out.
            _ => LinkError::AnswerLost { reason },
        },
        // Before anything was sent: no connection, no name, no TLS session,
        // or a request we could not even build.
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::Tls(_)
        | ureq::Error::Rustls(_) => LinkError::Unavailable { reason },
        // Anything else happened once the request may have been sent (a
        // garbled answer, an answer over the size limit): it may have acted.
        _ => LinkError::AnswerLost { reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_address_needs_a_scheme_and_a_host() {
        for good in ["http://127.0.0.1:8080", "https://reset.example/api/"] {
            assert!(
                HttpAuthorityLink::new(good, DEFAULT_TIMEOUT).is_ok(),
                "{good}"
            );
        }
        assert_eq!(
            HttpAuthorityLink::new("https://reset.example/api/", DEFAULT_TIMEOUT)
                .unwrap()
                .base(),
            "https://reset.example/api"
        );
        for bad in ["", "reset.example", "ftp://x", "http://", "https:// spaces"] {
            assert!(
                HttpAuthorityLink::new(bad, DEFAULT_TIMEOUT).is_err(),
                "{bad}"
            );
        }
    }
}
