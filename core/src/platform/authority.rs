//! The link to the authorities (the reset authority, the wallet's issuer, the
//! portal), implemented by the platform: Android with its HTTP stack, iOS
//! with URLSession, the desktop with `mynakit-http`. HTTP semantics and
//! nothing more: the core builds requests and reads answers; the platform
//! moves bytes.
//!
//! Rules: W12 (the service may stop without notice: "unavailable" must not
//! lose the phone's state) and P6 (use may be limited when traffic is
//! concentrated: 429/503 with `Retry-After`) make those outcomes typed
//! errors the apps can wait out. Every state-changing request carries an
//! [`IdempotencyKey`], so that a retry after a lost answer never creates a
//! second session, token or reservation.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::clock::Clock;
use super::http_date::parse_http_date;

/// The header that carries the idempotency key (the IETF HTTPAPI draft
/// "The Idempotency-Key HTTP Header Field").
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// The longest wait a `Retry-After` is taken to ask for: 24 hours, a policy
/// value of ours (RFC 9110 sets no limit). Longer values are read as this,
/// so a wait always fits the platforms' duration types.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
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

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    /// Whether the request changes something at the authority, and so must
    /// carry an idempotency key.
    pub fn changes_state(self) -> bool {
        !matches!(self, Self::Get)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A random 128-bit key naming one state-changing operation, sent as the
/// `Idempotency-Key` header. Generate it once per operation, keep it (the
/// store keeps it across restarts: `StoreTx::idempotency_key`), and send
/// every retry of that operation with it: the authority then answers a
/// repeat with the first answer instead of acting twice.
///
/// Not a secret (it names an operation, it authorises nothing), so `Debug`
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// The platform's random source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the system random source failed: {0}")]
pub struct RandomUnavailable(pub String);

/// Text that is not an idempotency key (32 lowercase hexadecimal digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an idempotency key")]
pub struct BadIdempotencyKey;

impl IdempotencyKey {
    /// A fresh key from the system's random source.
    pub fn generate() -> Result<Self, RandomUnavailable> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| RandomUnavailable(e.to_string()))?;
        Ok(Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// A key kept earlier (from the store).
    pub fn parse(text: &str) -> Result<Self, BadIdempotencyKey> {
        if text.len() == 32
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(text.to_owned()))
        } else {
            Err(BadIdempotencyKey)
        }
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One request to an authority. A state-changing request cannot be built
/// without an idempotency key; retry by sending the same value again (it is
/// `Clone`), which keeps the key.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorityRequest {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl AuthorityRequest {
    /// A `GET` of `path` (relative to the authority's base address, starting
    /// with `/`).
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::Get,
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A state-changing request (`method` other than `GET`) with `body`,
    /// named by `key`. A `GET` given here is still sent as a `GET`, with the
    /// key (harmless).
    pub fn changing(
        method: Method,
        path: impl Into<String>,
        body: Vec<u8>,
        key: &IdempotencyKey,
    ) -> Self {
        Self {
            method,
            path: path.into(),
            headers: vec![(IDEMPOTENCY_KEY_HEADER.to_owned(), key.as_str().to_owned())],
            body,
        }
    }

    /// A `POST` of `body` to `path`, named by `key`.
    pub fn post(path: impl Into<String>, body: Vec<u8>, key: &IdempotencyKey) -> Self {
        Self::changing(Method::Post, path, body, key)
    }

    /// Adds a header (`Content-Type`, `Authorization`, …). The idempotency
    /// key's header cannot be replaced this way: a second one is ignored.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        if !name.eq_ignore_ascii_case(IDEMPOTENCY_KEY_HEADER) {
            self.headers.push((name, value.into()));
        }
        self
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The path, relative to the authority's base address.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Every header to send, the idempotency key's included.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The idempotency key, on a state-changing request.
    pub fn idempotency_key(&self) -> Option<&str> {
        header_value(&self.headers, IDEMPOTENCY_KEY_HEADER)
    }
}

/// Header values may hold tokens and bodies personal data: `Debug` shows
/// header names, the idempotency key and the body's length only.
impl fmt::Debug for AuthorityRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("idempotency_key", &self.idempotency_key())
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

/// An authority's answer, whatever its status.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorityResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The headers, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl AuthorityResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    /// The authority's time when it answered (its `Date` header), if it
    /// sent a valid one.
    pub fn date(&self) -> Option<DateTime<Utc>> {
        self.header("Date").and_then(parse_http_date)
    }

    /// How long the authority asks the phone to wait (`Retry-After`, RFC
    /// 9110 §10.2.3): delay-seconds, or an HTTP date. A date is measured
    /// from the answer's own `Date` (the authority's clock on both sides,
    /// so the phone's clock error cancels out), or, without one, from
    /// `now`. A date in the past is no wait; an unreadable value is `None`.
    pub fn retry_after(&self, now: DateTime<Utc>) -> Option<Duration> {
        let value = self.header("Retry-After")?.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            // Digits only, so parsing fails only on overflow: the longest wait.
            let seconds = value.parse().unwrap_or(u64::MAX);
            return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
        }
        let at = parse_http_date(value)?;
        let from = self.date().unwrap_or(now);
        Some(
            (at - from)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(MAX_RETRY_AFTER),
        )
    }
}

/// Bodies may hold personal data: `Debug` shows their length only (and the
/// headers, which an authority sends to anyone).
impl fmt::Debug for AuthorityResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Why the platform got no answer at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The authority could not be reached: no network, connection refused,
    /// name not found, TLS failure. Nothing reached the authority.
    #[error("the authority cannot be reached: {reason}")]
    Unavailable {
        /// What the platform reported.
        reason: String,
    },
    /// No answer in time. The request may have reached the authority and
    /// acted: retry with the same idempotency key.
    #[error("the authority did not answer in time")]
    Timeout,
    /// The connection broke after the request may have been sent (reset,
    /// closed early, an answer that is no HTTP): it may have acted, as with
    /// a timeout.
    #[error("the authority's answer was lost: {reason}")]
    AnswerLost {
        /// What the platform reported.
        reason: String,
    },
    /// The caller cancelled the request while it was in flight (a Kotlin
    /// coroutine or Swift task). It may have acted, as with a timeout.
    #[error("the request was cancelled")]
    Cancelled,
}

/// Sends requests to one authority. Object-safe: a front end holds
/// `Arc<dyn AuthorityLink>`. An implementation returns every answer the
/// authority gave, whatever its status (a 429 or 503 is an answer, not a
/// [`LinkError`]); [`send`] sorts them. Dropping the future cancels the
/// request.
#[async_trait::async_trait]
pub trait AuthorityLink: Send + Sync {
    /// Sends `request` (its path relative to the authority's base address)
    /// and returns the answer.
    async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError>;
}

#[async_trait::async_trait]
impl<T: AuthorityLink + ?Sized> AuthorityLink for std::sync::Arc<T> {
    async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError> {
        (**self).send(request).await
    }
}

/// Why a request to an authority did not succeed. In every case the phone's
/// state is as it was before the request (W12): nothing is half-done on the
/// phone's side, and the cases that may have acted at the authority say so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityError {
    /// Nothing reached the authority (W12). Try again later.
    #[error("the authority cannot be reached: {reason}")]
    Unavailable {
        /// What the platform reported.
        reason: String,
    },
    /// No answer in time; the request may have acted. Retry with the same
    /// idempotency key.
    #[error("the authority did not answer in time")]
    Timeout,
    /// The answer was lost on the way; the request may have acted. Retry
    /// with the same idempotency key.
    #[error("the authority's answer was lost: {reason}")]
    AnswerLost {
        /// What the platform reported.
        reason: String,
    },
    /// Cancelled in flight; the request may have acted.
    #[error("the request was cancelled")]
    Cancelled,
    /// 429 Too Many Requests: the authority limits use (P6). Wait
    /// `retry_after` if it said how long.
    #[error("the authority limits requests now{}", wait_text(*.retry_after))]
    RateLimited {
        /// The authority's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// 503 Service Unavailable: maintenance or overload (W12, P6). Wait
    /// `retry_after` if it said how long.
    #[error("the authority is temporarily out of service{}", wait_text(*.retry_after))]
    OutOfService {
        /// The authority's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Any other status outside 2xx: the authority refused or failed this
    /// request. The answer is kept for the app to read its reason.
    #[error("the authority answered with status {}", .0.status)]
    Refused(AuthorityResponse),
}

fn wait_text(retry_after: Option<Duration>) -> String {
    retry_after.map_or_else(String::new, |d| format!("; retry after {} s", d.as_secs()))
}

impl AuthorityError {
    /// Whether sending the same request again later may succeed: unavailable,
    /// timeout, lost answer, cancelled, 429 and 503 (W12, P6). A refusal is final for
    /// this request.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Refused(_))
    }

    /// The wait the authority asked for (429, 503), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::OutOfService { retry_after } => *retry_after,
            Self::Unavailable { .. }
            | Self::Timeout
            | Self::AnswerLost { .. }
            | Self::Cancelled
            | Self::Refused(_) => None,
        }
    }
}

impl From<LinkError> for AuthorityError {
    fn from(error: LinkError) -> Self {
        match error {
            LinkError::Unavailable { reason } => Self::Unavailable { reason },
            LinkError::Timeout => Self::Timeout,
            LinkError::AnswerLost { reason } => Self::AnswerLost { reason },
            LinkError::Cancelled => Self::Cancelled,
        }
    }
}

/// Sends `request` over `link` and sorts the outcome: a 2xx answer, or an
/// [`AuthorityError`]. `clock` (the corrected clock) measures a
/// `Retry-After` date when the answer has no `Date` of its own. To retry,
/// call again with the same request: its idempotency key stays the same.
pub async fn send(
    link: &dyn AuthorityLink,
    request: AuthorityRequest,
    clock: &dyn Clock,
) -> Result<AuthorityResponse, AuthorityError> {
    let response = link.send(request).await?;
    match response.status {
        200..=299 => Ok(response),
        429 => Err(AuthorityError::RateLimited {
            retry_after: response.retry_after(clock.now()),
        }),
        503 => Err(AuthorityError::OutOfService {
            retry_after: response.retry_after(clock.now()),
        }),
        _ => Err(AuthorityError::Refused(response)),
    }
}

/// Why an answer gave no `T` ([`read_json_answer`]).
#[derive(Debug)]
pub enum JsonAnswerError<R> {
    /// 429, 503, or a status after which the request may have acted (408,
    /// 500, 502, 504: retry under the same idempotency key); also a refusal
    /// whose body is not the authority's error body.
    Authority(AuthorityError),
    /// A 2xx whose body does not parse: damaged on the way; the request
    /// acted, so a retry under the same key gets the first answer.
    Garbled {
        /// The status.
        status: u16,
        /// What did not parse.
        what: String,
    },
    /// A refusal, with the authority's error body.
    Refused {
        /// The status.
        status: u16,
        /// The error body.
        body: R,
    },
}

/// Sorts an authority's JSON answer: the value of a 2xx, or why not. One
/// rule for every app's client (reset, wallet, portal): 429 and 503 are
/// waits (W12, P6), 408/500/502/504 may have acted, other statuses are
/// refusals read as `R`. `now` (the corrected clock, after the answer's
/// `Date` was observed) measures a `Retry-After` date.
pub fn read_json_answer<T: serde::de::DeserializeOwned, R: serde::de::DeserializeOwned>(
    response: AuthorityResponse,
    now: DateTime<Utc>,
) -> Result<T, JsonAnswerError<R>> {
    let retry_after = response.retry_after(now);
    match response.status {
        200..=299 => serde_json::from_slice(&response.body).map_err(|e| JsonAnswerError::Garbled {
            status: response.status,
            what: e.to_string(),
        }),
        429 => Err(JsonAnswerError::Authority(AuthorityError::RateLimited {
            retry_after,
        })),
        503 => Err(JsonAnswerError::Authority(AuthorityError::OutOfService {
            retry_after,
        })),
        408 | 500 | 502 | 504 => Err(JsonAnswerError::Authority(AuthorityError::AnswerLost {
            reason: format!(
                "the authority or a proxy answered status {}",
                response.status
            ),
        })),
        status => match serde_json::from_slice::<R>(&response.body) {
            Ok(body) => Err(JsonAnswerError::Refused { status, body }),
            Err(_) => Err(JsonAnswerError::Authority(AuthorityError::Refused(
                response,
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::ManualClock;
    use chrono::TimeZone;
    use std::sync::Mutex;

    /// Answers from a script and records what was sent.
    struct Scripted {
        answers: Mutex<Vec<Result<AuthorityResponse, LinkError>>>,
        sent: Mutex<Vec<AuthorityRequest>>,
    }

    impl Scripted {
        fn new(mut answers: Vec<Result<AuthorityResponse, LinkError>>) -> Self {
            answers.reverse();
            Self {
                answers: Mutex::new(answers),
                sent: Mutex::new(Vec::new()),
            }
        }
    }

    #[async_trait::async_trait]
    impl AuthorityLink for Scripted {
        async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError> {
            self.sent.lock().unwrap().push(request);
            self.answers.lock().unwrap().pop().unwrap()
        }
    }

    fn answer(status: u16, headers: &[(&str, &str)]) -> Result<AuthorityResponse, LinkError> {
        Ok(AuthorityResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: b"{}".to_vec(),
        })
    }

    fn noon() -> ManualClock {
        ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap())
    }

    #[test]
    fn keys_are_128_random_bits_in_hex_and_parse_back() {
        let a = IdempotencyKey::generate().unwrap();
        let b = IdempotencyKey::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(IdempotencyKey::parse(a.as_str()), Ok(a.clone()));
        for bad in [
            "",
            "ABCDEF00112233445566778899aabbcc",
            "0123",
            &format!("{a}0"),
        ] {
            assert_eq!(IdempotencyKey::parse(bad), Err(BadIdempotencyKey), "{bad}");
        }
    }

    #[test]
    fn a_state_changing_request_carries_its_key_and_keeps_it_when_cloned() {
        let key = IdempotencyKey::generate().unwrap();
        let request = AuthorityRequest::post("/reservations", b"{}".to_vec(), &key)
            .header("Content-Type", "application/json")
            .header("idempotency-key", "not-this-one");
        assert_eq!(request.method(), Method::Post);
        assert_eq!(request.idempotency_key(), Some(key.as_str()));
        let retry = request.clone();
        assert_eq!(retry.idempotency_key(), Some(key.as_str()));
        assert_eq!(
            request
                .headers()
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(IDEMPOTENCY_KEY_HEADER))
                .count(),
            1
        );
        assert_eq!(AuthorityRequest::get("/stores").idempotency_key(), None);
    }

    #[test]
    fn debug_shows_no_header_values_and_no_bodies() {
        let key = IdempotencyKey::generate().unwrap();
        let request = AuthorityRequest::post("/x", b"NAME-HANAKO".to_vec(), &key)
            .header("Authorization", "Bearer SECRET-TOKEN");
        let text = format!("{request:?}");
        assert!(
            !text.contains("SECRET-TOKEN") && !text.contains("HANAKO"),
            "{text}"
        );
        assert!(
            text.contains(key.as_str()) && text.contains("11 bytes"),
            "{text}"
        );
        let response = AuthorityResponse {
            status: 200,
            headers: Vec::new(),
            body: b"ADDRESS-KASUMIGASEKI".to_vec(),
        };
        assert!(!format!("{response:?}").contains("KASUMIGASEKI"));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date_measured_on_the_authority_clock() {
        let now = noon().now();
        let with = |headers: &[(&str, &str)]| AuthorityResponse {
            status: 503,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
        };
        assert_eq!(
            with(&[("retry-after", "120")]).retry_after(now),
            Some(Duration::from_secs(120))
        );
        // Measured from the answer's Date, not from the phone's (wrong) clock.
        assert_eq!(
            with(&[
                ("Date", "Sun, 01 Mar 2026 09:00:00 GMT"),
                ("Retry-After", "Sun, 01 Mar 2026 09:00:30 GMT"),
            ])
            .retry_after(now),
            Some(Duration::from_secs(30))
        );
        // Without a Date: from `now`.
        assert_eq!(
            with(&[("Retry-After", "Sun, 01 Mar 2026 12:01:00 GMT")]).retry_after(now),
            Some(Duration::from_secs(60))
        );
        // In the past: no wait.
        assert_eq!(
            with(&[("Retry-After", "Sun, 01 Mar 2026 11:00:00 GMT")]).retry_after(now),
            Some(Duration::ZERO)
        );
        assert_eq!(with(&[("Retry-After", "-5")]).retry_after(now), None);
        assert_eq!(with(&[("Retry-After", "soon")]).retry_after(now), None);
        assert_eq!(with(&[]).retry_after(now), None);
        assert_eq!(
            with(&[("Retry-After", "99999999999999999999999")]).retry_after(now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            with(&[("Retry-After", "86401")]).retry_after(now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            with(&[("Retry-After", "Fri, 01 Mar 2030 12:00:00 GMT")]).retry_after(now),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn send_sorts_answers_into_typed_outcomes() {
        let clock = noon();
        let link = Scripted::new(vec![
            answer(201, &[]),
            answer(429, &[("Retry-After", "7")]),
            answer(503, &[]),
            answer(409, &[]),
            Err(LinkError::Unavailable {
                reason: "connection refused".into(),
            }),
            Err(LinkError::Timeout),
            Err(LinkError::AnswerLost {
                reason: "connection reset".into(),
            }),
        ]);
        let request = AuthorityRequest::get("/status");
        let mut outcomes = Vec::new();
        for _ in 0..7 {
            outcomes.push(pollster::block_on(send(&link, request.clone(), &clock)));
        }
        assert_eq!(outcomes[0].as_ref().map(|r| r.status), Ok(201));
        assert_eq!(
            outcomes[1],
            Err(AuthorityError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            })
        );
        assert_eq!(
            outcomes[2],
            Err(AuthorityError::OutOfService { retry_after: None })
        );
        assert!(matches!(&outcomes[3], Err(AuthorityError::Refused(r)) if r.status == 409));
        assert_eq!(
            outcomes[4],
            Err(AuthorityError::Unavailable {
                reason: "connection refused".into()
            })
        );
        assert_eq!(outcomes[5], Err(AuthorityError::Timeout));
        assert_eq!(
            outcomes[6],
            Err(AuthorityError::AnswerLost {
                reason: "connection reset".into()
            })
        );
        let retryable: Vec<bool> = outcomes
            .iter()
            .skip(1)
            .map(|o| o.as_ref().unwrap_err().is_retryable())
            .collect();
        assert_eq!(retryable, [true, true, false, true, true, true]);
    }
}
