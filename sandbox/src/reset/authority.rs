//! The reference reset authority (issue 8): face-check sessions and tokens,
//! server challenges and reservations, over its own SQLite store and a
//! clock that tests and demos move. The HTTP form of these operations is in
//! `docs/reset-protocol.md`.
//!
//! Every state-changing operation takes the request's idempotency key: a
//! retry with the same key and the same request gets the first answer back
//! (errors included) and changes nothing; the same key with another request
//! is refused. Only internal failures (the store) are not remembered, so a
//! retry runs again.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use mynakit_core::{
    CardCertificate, CardFace, CertificateRole, ChainError, Clock, CvCertificate, CvIssuerKey,
    ExpiryState, IdempotencyKey, Picture, TokenKind, TrustAnchors,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use mynakit_core::reset::wire::{
    CaptureOutcome, CaptureRequest, Challenge, LivenessAction, OpenSessionRequest, Reservation,
    ReservationState, ReserveRequest, ResetKind, SessionOpened, StoreChain, cancel_message,
    capture_message, reservation_card_message, reservation_message, to_hex,
};

use super::face::{FaceVerdict, FaceVerifier, LivenessChallenge, ReferenceFaceVerifier};
use super::policy::Policy;
use super::token::{FaceCheckClaims, TokenIssuer, es256_verify, generate_p256};

/// The sandbox authority's name (`iss` of its tokens).
pub const ISSUER: &str = "https://reset.sandbox.mynakit.invalid";
/// The reservation endpoint (`aud` of face-check tokens).
pub const RESERVATION_AUDIENCE: &str = "https://reset.sandbox.mynakit.invalid/v1/reservations";

/// A refusal, as the phone (or kiosk) sees it: typed, with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ResetError {
    /// The request is not well formed.
    #[error("bad request: {reason}")]
    BadRequest {
        /// What is wrong.
        reason: String,
    },
    /// The idempotency key was used before for another request.
    #[error("the idempotency key was used for another request")]
    IdempotencyKeyReused,
    /// Too many failures: the device or the card is locked out (R11).
    #[error("locked out until {until}")]
    LockedOut {
        /// When the lock-out ends (the `Retry-After`).
        until: DateTime<Utc>,
    },
    /// The certificate does not chain to the anchors, has the wrong role,
    /// or is not valid now.
    #[error("certificate refused: {reason}")]
    CertificateRefused {
        /// Which check refused it.
        reason: String,
    },
    /// The certificate is on the issuer's revocation list.
    #[error("the certificate is revoked")]
    CertificateRevoked,
    /// The certificate is of the key the kind does not use (R4: the signing
    /// password is reset with the authentication key and PIN, the PIN with
    /// the signing key and password).
    #[error("the {kind:?} reset needs the other key's signature (R4)")]
    WrongKeyForKind {
        /// The kind asked.
        kind: ResetKind,
    },
    /// The face record is malformed or its issuer signature does not verify.
    #[error("face record refused: {reason}")]
    FaceRecordRefused {
        /// Which check refused it.
        reason: String,
    },
    /// The card face's birth date is blank or unknown (R7).
    #[error("the card's birth date is unknown (R7)")]
    BirthDateUnknown,
    /// Not a physical card: a phone-held JPKI token (R10).
    #[error("only a physical card can be used (R10)")]
    NotAPhysicalCard,
    /// No such route in the API.
    #[error("no such route")]
    NoSuchRoute,
    /// No such session.
    #[error("no such face-check session")]
    SessionNotFound,
    /// The session already passed or used up its attempts (single use).
    #[error("the face-check session is closed")]
    SessionClosed,
    /// The session's start deadline or hard cap has passed.
    #[error("the face-check session has expired")]
    SessionExpired,
    /// No such challenge.
    #[error("no such challenge")]
    ChallengeNotFound,
    /// The challenge was used already.
    #[error("the challenge was used already")]
    ChallengeUsed,
    /// The challenge has expired.
    #[error("the challenge has expired")]
    ChallengeExpired,
    /// The JPKI signature does not verify with the certificate.
    #[error("the card's signature does not verify")]
    BadSignature,
    /// The installation key's signature does not verify.
    #[error("the device signature does not verify")]
    BadDeviceSignature,
    /// A signing-password reset needs a face-check token (R2).
    #[error("a face-check token is required (R2)")]
    TokenRequired,
    /// A token where none belongs (a PIN reset has no face check, R3).
    #[error("this kind takes no face-check token (R3)")]
    TokenNotExpected,
    /// The token is malformed, forged, or not ours.
    #[error("the face-check token is invalid")]
    TokenInvalid,
    /// The token's `exp` has passed.
    #[error("the face-check token has expired")]
    TokenExpired,
    /// The token was redeemed already.
    #[error("the face-check token was used already")]
    TokenReplayed,
    /// The token binds another card.
    #[error("the face-check token is for another card")]
    TokenForAnotherCard,
    /// The token binds another installation key.
    #[error("the face-check token is for another device")]
    TokenForAnotherDevice,
    /// The card already has a live reservation of this kind.
    #[error("a reservation of this kind is already live")]
    AlreadyReserved {
        /// The live reservation.
        id: String,
    },
    /// No such reservation (or not this device's).
    #[error("no such reservation")]
    ReservationNotFound,
    /// The reservation is past its 24 hours (R5).
    #[error("the reservation has expired (R5)")]
    ReservationExpired,
    /// The reservation was redeemed already.
    #[error("the reservation was redeemed already")]
    AlreadyRedeemed,
    /// The reservation was cancelled.
    #[error("the reservation was cancelled")]
    ReservationCancelled,
    /// This chain's kiosks do not reset this kind (R6).
    #[error("{chain:?} kiosks do not reset the {kind:?} (R6)")]
    ChainRefused {
        /// The kiosk's chain.
        chain: StoreChain,
        /// The reservation's kind.
        kind: ResetKind,
    },
    /// A maintenance window is in force (W12): every API route answers
    /// 503 with `Retry-After` until it ends. Only a sandbox opens one on
    /// request ([`ResetAuthority::begin_maintenance`]).
    #[error("out of service for maintenance until {until}")]
    OutOfService {
        /// When the window ends, by the authority's clock.
        until: DateTime<Utc>,
    },
    /// The authority failed (its store); retrying may help.
    #[error("internal error: {reason}")]
    Internal {
        /// What failed (no personal data).
        reason: String,
    },
}

impl ResetError {
    /// The HTTP status this error travels with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::IdempotencyKeyReused | Self::BirthDateUnknown => 422,
            Self::LockedOut { .. } => 429,
            Self::NoSuchRoute
            | Self::SessionNotFound
            | Self::ChallengeNotFound
            | Self::ReservationNotFound => 404,
            Self::SessionExpired
            | Self::ChallengeExpired
            | Self::ReservationExpired
            | Self::TokenExpired => 410,
            Self::SessionClosed
            | Self::ChallengeUsed
            | Self::AlreadyReserved { .. }
            | Self::AlreadyRedeemed
            | Self::ReservationCancelled
            | Self::TokenReplayed => 409,
            Self::Internal { .. } => 500,
            Self::OutOfService { .. } => 503,
            _ => 403,
        }
    }

    /// Seconds for `Retry-After` (W12, P6): a lock-out and a maintenance
    /// window say when to come back (rounded up, at least 1).
    pub fn retry_after(&self, now: DateTime<Utc>) -> Option<i64> {
        match self {
            Self::LockedOut { until } | Self::OutOfService { until } => {
                let left = *until - now;
                let rounded_up = left.num_seconds() + i64::from(left.subsec_nanos() > 0);
                Some(rounded_up.max(1))
            }
            _ => None,
        }
    }

    fn internal(e: impl fmt::Display) -> Self {
        Self::Internal {
            reason: e.to_string(),
        }
    }

    fn bad(reason: impl Into<String>) -> Self {
        Self::BadRequest {
            reason: reason.into(),
        }
    }
}

impl From<rusqlite::Error> for ResetError {
    fn from(e: rusqlite::Error) -> Self {
        Self::internal(e)
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A session as stored: card, device key, nonce, actions (JSON), opened at,
/// attempts, state.
type SessionRow = (String, Vec<u8>, Vec<u8>, String, i64, u32, String);

/// A reservation as stored: card, device key, kind, created at, expires at,
/// state, finished at, chain.
type ReservationRow = (
    String,
    Vec<u8>,
    String,
    i64,
    i64,
    String,
    Option<i64>,
    Option<String>,
);

/// An answer as remembered under an idempotency key.
#[derive(Serialize, Deserialize)]
enum Remembered<T> {
    Ok(T),
    Err(ResetError),
}

const SCHEMA: &str = "
CREATE TABLE settings(name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
CREATE TABLE sessions(
  id TEXT PRIMARY KEY, card TEXT NOT NULL, device BLOB NOT NULL, nonce BLOB NOT NULL,
  actions TEXT NOT NULL, opened_at INTEGER NOT NULL, attempts INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('open', 'passed', 'failed'))) STRICT;
CREATE TABLE face_checks(session TEXT NOT NULL REFERENCES sessions(id), at INTEGER NOT NULL,
  verdict TEXT NOT NULL) STRICT;
CREATE TABLE tokens(cti TEXT PRIMARY KEY, session TEXT NOT NULL REFERENCES sessions(id),
  redeemed_at INTEGER) STRICT;
CREATE TABLE challenges(id TEXT PRIMARY KEY, challenge BLOB NOT NULL,
  expires_at INTEGER NOT NULL, used INTEGER NOT NULL) STRICT;
CREATE TABLE reservations(
  id TEXT PRIMARY KEY, card TEXT NOT NULL, device BLOB NOT NULL, kind TEXT NOT NULL,
  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, state TEXT NOT NULL,
  finished_at INTEGER, chain TEXT) STRICT;
CREATE INDEX reservations_by_card ON reservations(card, kind, state);
CREATE TABLE failures(subject TEXT NOT NULL, at INTEGER NOT NULL) STRICT;
CREATE TABLE locks(subject TEXT PRIMARY KEY, until INTEGER NOT NULL) STRICT;
CREATE TABLE idempotency(key TEXT PRIMARY KEY, operation TEXT NOT NULL,
  request BLOB NOT NULL, answer TEXT NOT NULL) STRICT;
";

fn time(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn random_hex(bytes: usize) -> Result<String, ResetError> {
    Ok(to_hex(&random_bytes(bytes)?))
}

fn random_bytes(len: usize) -> Result<Vec<u8>, ResetError> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(ResetError::internal)?;
    Ok(bytes)
}

/// The reference reset authority.
pub struct ResetAuthority {
    db: Mutex<Connection>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    anchors: TrustAnchors,
    cv_issuers: Vec<CvIssuerKey>,
    revoked_serials: Mutex<BTreeSet<String>>,
    tokens: TokenIssuer,
    verifier: Box<dyn FaceVerifier>,
    /// The end of the maintenance window a sandbox control opened, if any
    /// (in memory: forgotten when the authority stops).
    maintenance_until: Mutex<Option<DateTime<Utc>>>,
}

impl fmt::Debug for ResetAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetAuthority")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl ResetAuthority {
    /// An authority with its store in memory: the sandbox's anchors and
    /// card-verifiable issuer keys, the reference face verifier, the default
    /// policy.
    pub fn in_memory(clock: Arc<dyn Clock>) -> Result<Self, ResetError> {
        Self::with_connection(Connection::open_in_memory()?, clock)
    }

    /// The same with its store in the file at `path` (created if need be);
    /// its token key is kept there, so tokens survive a restart.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, ResetError> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        Self::with_connection(connection, clock)
    }

    fn with_connection(
        mut connection: Connection,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ResetError> {
        connection.pragma_update(None, "foreign_keys", true)?;
        let tx = connection.transaction()?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version == 0 {
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", 1)?;
        }
        let stored: Option<Vec<u8>> = tx
            .query_row(
                "SELECT value FROM settings WHERE name = 'token_key'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let key = match stored.and_then(|b| p256::ecdsa::SigningKey::from_slice(&b).ok()) {
            Some(key) => key,
            None => {
                let key = generate_p256().map_err(ResetError::internal)?;
                tx.execute(
                    "INSERT OR REPLACE INTO settings(name, value) VALUES ('token_key', ?1)",
                    params![key.to_bytes().to_vec()],
                )?;
                key
            }
        };
        tx.commit()?;
        let sandbox = crate::Sandbox::new();
        Ok(Self {
            db: Mutex::new(connection),
            clock,
            policy: Policy::default(),
            anchors: sandbox.trust_anchors(),
            cv_issuers: sandbox.cv_issuer_keys(),
            revoked_serials: Mutex::new(BTreeSet::new()),
            tokens: TokenIssuer::new(ISSUER, key),
            verifier: Box::new(ReferenceFaceVerifier::default()),
            maintenance_until: Mutex::new(None),
        })
    }

    /// Replaces the policy values.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Replaces the face verifier (a certified engine).
    pub fn with_verifier(mut self, verifier: Box<dyn FaceVerifier>) -> Self {
        self.verifier = verifier;
        self
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The authority's clock (its time decides every expiry, R5).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The token key's public half, SEC1 uncompressed.
    pub fn token_public_key(&self) -> Vec<u8> {
        self.tokens.public_key()
    }

    /// Puts a certificate serial (hex, as [`CardCertificate::serial_hex`])
    /// on the sandbox issuer's revocation list.
    pub fn revoke(&self, serial_hex: &str) {
        self.revoked_serials
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(serial_hex.to_ascii_lowercase());
    }

    /// **Sandbox control** (W12): every API route answers `503` with
    /// `Retry-After` for `length` from now, by the authority's clock (so
    /// moving the clock past the end ends it too); a zero length ends a
    /// window. Served, only `POST /v1/sandbox/maintenance` calls it. Returns
    /// the window's end.
    pub fn begin_maintenance(&self, length: TimeDelta) -> DateTime<Utc> {
        let until = self
            .now()
            .checked_add_signed(length.max(TimeDelta::zero()))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        *self
            .maintenance_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(until);
        until
    }

    /// The end of the maintenance window in force now, if one is.
    pub fn maintenance_until(&self) -> Option<DateTime<Utc>> {
        let until = *self
            .maintenance_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.filter(|until| self.clock.now() < *until)
    }

    fn now(&self) -> DateTime<Utc> {
        // Whole seconds: the store and the tokens keep seconds.
        time(self.clock.now().timestamp())
    }

    /// Runs `run` in one transaction under the idempotency key.
    fn idempotent<Q: Serialize, A: Serialize + DeserializeOwned>(
        &self,
        key: &IdempotencyKey,
        operation: &str,
        request: &Q,
        run: impl FnOnce(&Transaction<'_>, DateTime<Utc>) -> Result<A, ResetError>,
    ) -> Result<A, ResetError> {
        let request_digest =
            digest(&serde_json::to_vec(request).map_err(ResetError::internal)?).to_vec();
        let mut db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let earlier: Option<(String, Vec<u8>, String)> = tx
            .query_row(
                "SELECT operation, request, answer FROM idempotency WHERE key = ?1",
                params![key.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((op, digest_then, answer)) = earlier {
            if op != operation || digest_then != request_digest {
                return Err(ResetError::IdempotencyKeyReused);
            }
            return match serde_json::from_str(&answer).map_err(ResetError::internal)? {
                Remembered::Ok(a) => Ok(a),
                Remembered::Err(e) => Err(e),
            };
        }
        let outcome = run(&tx, self.now());
        if let Err(ResetError::Internal { .. }) = outcome {
            // Not remembered: rolled back on drop, a retry runs again.
            return outcome;
        }
        let remembered = match &outcome {
            Ok(a) => serde_json::to_string(&Remembered::Ok(a)),
            Err(e) => serde_json::to_string(&Remembered::<A>::Err(e.clone())),
        }
        .map_err(ResetError::internal)?;
        tx.execute(
            "INSERT INTO idempotency(key, operation, request, answer) VALUES (?1, ?2, ?3, ?4)",
            params![key.as_str(), operation, request_digest, remembered],
        )?;
        tx.commit()?;
        outcome
    }

    /// Reads in one transaction (no idempotency: nothing changes).
    fn read<A>(
        &self,
        run: impl FnOnce(&Transaction<'_>, DateTime<Utc>) -> Result<A, ResetError>,
    ) -> Result<A, ResetError> {
        let mut db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = db.transaction()?;
        let a = run(&tx, self.now())?;
        tx.commit()?;
        Ok(a)
    }

    /// The chain, role, validity and revocation of a card certificate.
    fn check_certificate(
        &self,
        der: &[u8],
        role: CertificateRole,
        now: DateTime<Utc>,
    ) -> Result<CardCertificate, ResetError> {
        let refused = |reason: String| ResetError::CertificateRefused { reason };
        let certificate =
            CardCertificate::from_der(der.to_vec()).map_err(|e| refused(e.to_string()))?;
        self.anchors
            .verify(&certificate, role, &[])
            .map_err(|e| refused(e.to_string()))?;
        if certificate.expiry_state(now) != ExpiryState::Valid {
            return Err(refused("not valid at the authority's time".into()));
        }
        let revoked = self
            .revoked_serials
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if revoked.contains(&certificate.serial_hex().to_ascii_lowercase()) {
            return Err(ResetError::CertificateRevoked);
        }
        Ok(certificate)
    }

    /// The face record: parsed, its issuer signature checked against the
    /// card-verifiable certificate and the pinned issuer keys, R7.
    fn check_face_record(
        &self,
        record: &[u8],
        cv_certificate: &[u8],
    ) -> Result<CardFace, ResetError> {
        let refused = |reason: String| ResetError::FaceRecordRefused { reason };
        let face = CardFace::parse(record).map_err(|e| refused(e.to_string()))?;
        let cv = CvCertificate::parse(cv_certificate).map_err(|e| refused(e.to_string()))?;
        face.verify_issuer_signature(&cv, &self.cv_issuers)
            .map_err(|e| refused(e.to_string()))?;
        if face.birth_date.is_none() {
            return Err(ResetError::BirthDateUnknown);
        }
        Ok(face)
    }

    fn locked_until(
        &self,
        tx: &Transaction<'_>,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ResetError> {
        let until: Option<i64> = tx
            .query_row(
                "SELECT until FROM locks WHERE subject = ?1",
                params![subject],
                |r| r.get(0),
            )
            .optional()?;
        match until {
            Some(until) if until > now.timestamp() => {
                Err(ResetError::LockedOut { until: time(until) })
            }
            _ => Ok(()),
        }
    }

    /// Counts a failure against `subject`; at the policy's count within its
    /// window, locks it out for the policy's duration (R11).
    fn record_failure(
        &self,
        tx: &Transaction<'_>,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ResetError> {
        tx.execute(
            "INSERT INTO failures(subject, at) VALUES (?1, ?2)",
            params![subject, now.timestamp()],
        )?;
        let since = (now - self.policy.lockout_window).timestamp();
        let count: u32 = tx.query_row(
            "SELECT count(*) FROM failures WHERE subject = ?1 AND at > ?2",
            params![subject, since],
            |r| r.get(0),
        )?;
        if count >= self.policy.lockout_failures {
            let until = (now + self.policy.lockout_duration).timestamp();
            tx.execute(
                "INSERT INTO locks(subject, until) VALUES (?1, ?2)
                 ON CONFLICT(subject) DO UPDATE SET until = excluded.until",
                params![subject, until],
            )?;
            tx.execute("DELETE FROM failures WHERE subject = ?1", params![subject])?;
        }
        Ok(())
    }

    /// Opens a face-check session (R2) bound to the card's authentication
    /// certificate and the installation key.
    pub fn open_session(
        &self,
        key: &IdempotencyKey,
        request: &OpenSessionRequest,
    ) -> Result<SessionOpened, ResetError> {
        self.idempotent(key, "open_session", request, |tx, now| {
            let certificate = self.check_certificate(
                &request.auth_certificate,
                CertificateRole::Authentication,
                now,
            )?;
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&request.device_key)
                .map_err(|_| ResetError::bad("device_key is not a SEC1 P-256 key"))?;
            let card = card_subject(certificate.der());
            let device = device_subject(&request.device_key);
            self.locked_until(tx, &device, now)?;
            self.locked_until(tx, &card, now)?;
            let id = random_hex(16)?;
            let nonce = random_bytes(32)?;
            let actions = self.draw_actions()?;
            let names = serde_json::to_string(&actions).map_err(ResetError::internal)?;
            tx.execute(
                "INSERT INTO sessions(id, card, device, nonce, actions, opened_at, attempts, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 'open')",
                params![id, card, request.device_key, nonce, names, now.timestamp()],
            )?;
            Ok(SessionOpened {
                session_id: id,
                nonce,
                actions,
                start_by: now + self.policy.start_deadline,
                ends_by: now + self.policy.hard_cap,
                max_attempts: self.policy.max_attempts,
            })
        })
    }

    /// A random sequence of at least three actions, no action twice in a row.
    fn draw_actions(&self) -> Result<Vec<LivenessAction>, ResetError> {
        let count = self.policy.actions.max(3);
        let bytes = random_bytes(count)?;
        let mut actions: Vec<LivenessAction> = Vec::with_capacity(count);
        for b in bytes {
            let all = LivenessAction::ALL;
            let mut index = usize::from(b) % all.len();
            if actions.last() == all.get(index) {
                index = (index + 1) % all.len();
            }
            if let Some(a) = all.get(index) {
                actions.push(*a);
            }
        }
        Ok(actions)
    }

    /// Submits one capture attempt. Pass or fail only; on a pass, the
    /// face-check token.
    pub fn submit_capture(
        &self,
        key: &IdempotencyKey,
        request: &CaptureRequest,
    ) -> Result<CaptureOutcome, ResetError> {
        self.idempotent(key, "submit_capture", request, |tx, now| {
            let session: Option<SessionRow> = tx
                .query_row(
                    "SELECT card, device, nonce, actions, opened_at, attempts, state FROM sessions WHERE id = ?1",
                    params![request.session_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
                )
                .optional()?;
            let Some((card, device_key, nonce, actions, opened_at, attempts, state)) = session else {
                return Err(ResetError::SessionNotFound);
            };
            if state != "open" {
                return Err(ResetError::SessionClosed);
            }
            let opened_at = time(opened_at);
            let ends_by = opened_at + self.policy.hard_cap;
            if now > ends_by || (attempts == 0 && now > opened_at + self.policy.start_deadline) {
                return Err(ResetError::SessionExpired);
            }
            let device = device_subject(&device_key);
            self.locked_until(tx, &device, now)?;
            self.locked_until(tx, &card, now)?;
            let message = capture_message(&request.session_id, &nonce, &request.face_record, &request.frames);
            if !es256_verify(&device_key, &message, &request.device_signature) {
                self.record_failure(tx, &device, now)?;
                return Err(ResetError::BadDeviceSignature);
            }
            let face = self.check_face_record(&request.face_record, &request.cv_certificate)?;
            let photo = Picture::from_jpeg2000(&face.photo_jp2)
                .map_err(|e| ResetError::FaceRecordRefused { reason: e.to_string() })?;
            let actions: Vec<LivenessAction> = serde_json::from_str(&actions).map_err(ResetError::internal)?;
            let challenge = LivenessChallenge {
                actions,
                opened_at,
                ends_by,
                max_frames: self.policy.max_frames,
            };
            let verdict = self.verifier.verify(&photo, &challenge, &request.frames);
            let attempts = attempts + 1;
            let attempts_left = self.policy.max_attempts.saturating_sub(attempts);
            let recorded = match verdict {
                FaceVerdict::Pass => "pass".to_owned(),
                FaceVerdict::Fail(reason) => serde_json::to_string(&reason).map_err(ResetError::internal)?,
            };
            tx.execute(
                "INSERT INTO face_checks(session, at, verdict) VALUES (?1, ?2, ?3)",
                params![request.session_id, now.timestamp(), recorded],
            )?;
            match verdict {
                FaceVerdict::Pass => {
                    let cti = random_bytes(16)?;
                    let claims = FaceCheckClaims {
                        issuer: ISSUER.to_owned(),
                        audience: RESERVATION_AUDIENCE.to_owned(),
                        issued_at: now.timestamp(),
                        expires_at: (now + self.policy.token_lifetime).timestamp(),
                        cti: cti.clone(),
                        device_key: device_key.clone(),
                        card: digest_of_subject(&card)?,
                    };
                    let token = self.tokens.mint(&claims).map_err(ResetError::internal)?;
                    tx.execute(
                        "UPDATE sessions SET attempts = ?2, state = 'passed' WHERE id = ?1",
                        params![request.session_id, attempts],
                    )?;
                    tx.execute(
                        "INSERT INTO tokens(cti, session) VALUES (?1, ?2)",
                        params![to_hex(&cti), request.session_id],
                    )?;
                    Ok(CaptureOutcome {
                        passed: true,
                        attempts_left,
                        token: Some(token),
                    })
                }
                FaceVerdict::Fail(_) => {
                    let state = if attempts_left == 0 { "failed" } else { "open" };
                    tx.execute(
                        "UPDATE sessions SET attempts = ?2, state = ?3 WHERE id = ?1",
                        params![request.session_id, attempts, state],
                    )?;
                    self.record_failure(tx, &device, now)?;
                    self.record_failure(tx, &card, now)?;
                    Ok(CaptureOutcome {
                        passed: false,
                        attempts_left,
                        token: None,
                    })
                }
            }
        })
    }

    /// A fresh server challenge for the card to sign.
    pub fn challenge(&self, key: &IdempotencyKey) -> Result<Challenge, ResetError> {
        self.idempotent(key, "challenge", &(), |tx, now| {
            let id = random_hex(16)?;
            let challenge = random_bytes(32)?;
            let expires_at = now + self.policy.challenge_lifetime;
            tx.execute(
                "INSERT INTO challenges(id, challenge, expires_at, used) VALUES (?1, ?2, ?3, 0)",
                params![id, challenge, expires_at.timestamp()],
            )?;
            Ok(Challenge {
                challenge_id: id,
                challenge,
                expires_at,
            })
        })
    }

    /// Creates a reservation (R1–R7, R10, R11).
    pub fn reserve(
        &self,
        key: &IdempotencyKey,
        request: &ReserveRequest,
    ) -> Result<Reservation, ResetError> {
        self.idempotent(key, "reserve", request, |tx, now| {
            self.reserve_in(tx, now, request)
        })
    }

    fn reserve_in(
        &self,
        tx: &Transaction<'_>,
        now: DateTime<Utc>,
        request: &ReserveRequest,
    ) -> Result<Reservation, ResetError> {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&request.device_key)
            .map_err(|_| ResetError::bad("device_key is not a SEC1 P-256 key"))?;
        let device = device_subject(&request.device_key);
        self.locked_until(tx, &device, now)?;
        // R10: a phone-held JPKI token cannot be used.
        if TokenKind::from_label(request.token_label.as_bytes()) != TokenKind::PhysicalCard {
            return Err(ResetError::NotAPhysicalCard);
        }
        // The challenge is spent whatever happens next.
        let challenge: Option<(Vec<u8>, i64, bool)> = tx
            .query_row(
                "SELECT challenge, expires_at, used FROM challenges WHERE id = ?1",
                params![request.challenge_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((challenge, expires_at, used)) = challenge else {
            return Err(ResetError::ChallengeNotFound);
        };
        if used {
            return Err(ResetError::ChallengeUsed);
        }
        tx.execute(
            "UPDATE challenges SET used = 1 WHERE id = ?1",
            params![request.challenge_id],
        )?;
        if now > time(expires_at) {
            return Err(ResetError::ChallengeExpired);
        }
        // R4: the other key signs.
        let role = match request.kind {
            ResetKind::SigningPassword => CertificateRole::Authentication,
            ResetKind::AuthPin => CertificateRole::Signing,
        };
        let certificate = match self.check_certificate(&request.certificate, role, now) {
            Err(ResetError::CertificateRefused { .. })
                if CardCertificate::from_der(request.certificate.clone())
                    .ok()
                    .is_some_and(|c| {
                        matches!(
                            self.anchors.verify(&c, role, &[]),
                            Err(ChainError::WrongRole { .. })
                        )
                    }) =>
            {
                return Err(ResetError::WrongKeyForKind { kind: request.kind });
            }
            other => other?,
        };
        let card = card_subject(certificate.der());
        self.locked_until(tx, &card, now)?;
        let card_message = reservation_card_message(&challenge, request.kind, &request.device_key);
        let message = reservation_message(
            &challenge,
            request.kind,
            request.face_check_token.as_deref(),
            &request.device_key,
        );
        if !certificate.verifies_sha256_signature(&card_message, &request.jpki_signature) {
            self.record_failure(tx, &device, now)?;
            self.record_failure(tx, &card, now)?;
            return Err(ResetError::BadSignature);
        }
        if !es256_verify(&request.device_key, &message, &request.device_signature) {
            self.record_failure(tx, &device, now)?;
            return Err(ResetError::BadDeviceSignature);
        }
        self.check_face_record(&request.face_record, &request.cv_certificate)?;
        // One live reservation per card and kind.
        tx.execute(
            "UPDATE reservations SET state = 'expired' WHERE state = 'reserved' AND expires_at < ?1",
            params![now.timestamp()],
        )?;
        let live: Option<String> = tx
            .query_row(
                "SELECT id FROM reservations WHERE card = ?1 AND kind = ?2 AND state = 'reserved'",
                params![card, request.kind.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = live {
            return Err(ResetError::AlreadyReserved { id });
        }
        match (request.kind.needs_face_check(), &request.face_check_token) {
            (true, None) => return Err(ResetError::TokenRequired),
            (false, Some(_)) => return Err(ResetError::TokenNotExpected),
            (true, Some(token)) => {
                if let Err(e) = self.redeem_token(tx, now, token, &certificate, &request.device_key)
                {
                    self.record_failure(tx, &device, now)?;
                    self.record_failure(tx, &card, now)?;
                    return Err(e);
                }
            }
            (false, None) => {}
        }
        let id = random_hex(16)?;
        let expires_at = now + self.policy.reservation_lifetime;
        tx.execute(
            "INSERT INTO reservations(id, card, device, kind, created_at, expires_at, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'reserved')",
            params![
                id,
                card,
                request.device_key,
                request.kind.as_str(),
                now.timestamp(),
                expires_at.timestamp()
            ],
        )?;
        Ok(Reservation {
            id,
            kind: request.kind,
            created_at: now,
            expires_at,
            stores: StoreChain::for_kind(request.kind),
            state: ReservationState::Reserved,
            finished_at: None,
            redeemed_at_chain: None,
        })
    }

    /// Checks a face-check token (signature, issuer, audience, expiry,
    /// binding) and spends its `cti`.
    fn redeem_token(
        &self,
        tx: &Transaction<'_>,
        now: DateTime<Utc>,
        token: &[u8],
        auth_certificate: &CardCertificate,
        device_key: &[u8],
    ) -> Result<(), ResetError> {
        let claims = self
            .tokens
            .verify(token)
            .map_err(|_| ResetError::TokenInvalid)?;
        if claims.issuer != ISSUER || claims.audience != RESERVATION_AUDIENCE {
            return Err(ResetError::TokenInvalid);
        }
        if now.timestamp() > claims.expires_at {
            return Err(ResetError::TokenExpired);
        }
        if claims.device_key != device_key {
            return Err(ResetError::TokenForAnotherDevice);
        }
        if claims.card != digest(auth_certificate.der()) {
            return Err(ResetError::TokenForAnotherCard);
        }
        let redeemed: Option<Option<i64>> = tx
            .query_row(
                "SELECT redeemed_at FROM tokens WHERE cti = ?1",
                params![to_hex(&claims.cti)],
                |r| r.get(0),
            )
            .optional()?;
        match redeemed {
            None => Err(ResetError::TokenInvalid),
            Some(Some(_)) => Err(ResetError::TokenReplayed),
            Some(None) => {
                tx.execute(
                    "UPDATE tokens SET redeemed_at = ?2 WHERE cti = ?1",
                    params![to_hex(&claims.cti), now.timestamp()],
                )?;
                Ok(())
            }
        }
    }

    /// A reservation by id, with its state as of now.
    pub fn reservation(&self, id: &str) -> Result<Reservation, ResetError> {
        self.read(|tx, now| {
            load_reservation(tx, id, now)?
                .map(|(r, _, _)| r)
                .ok_or(ResetError::ReservationNotFound)
        })
    }

    /// The reservations made from the installation key `device_key`.
    pub fn reservations_of(&self, device_key: &[u8]) -> Result<Vec<Reservation>, ResetError> {
        self.read(|tx, now| {
            let mut statement = tx
                .prepare("SELECT id FROM reservations WHERE device = ?1 ORDER BY created_at, id")?;
            let ids = statement
                .query_map(params![device_key], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            ids.iter()
                .filter_map(|id| load_reservation(tx, id, now).transpose())
                .map(|r| r.map(|(r, _, _)| r))
                .collect()
        })
    }

    /// Cancels a live reservation; `signature` is ES256 by the installation
    /// key that made it over [`cancel_message`].
    pub fn cancel(
        &self,
        key: &IdempotencyKey,
        id: &str,
        signature: &[u8],
    ) -> Result<Reservation, ResetError> {
        let request = (id, to_hex(signature));
        self.idempotent(key, "cancel", &request, |tx, now| {
            let (reservation, _, device) =
                load_reservation(tx, id, now)?.ok_or(ResetError::ReservationNotFound)?;
            if !es256_verify(&device, &cancel_message(id), signature) {
                return Err(ResetError::BadDeviceSignature);
            }
            live(&reservation)?;
            tx.execute(
                "UPDATE reservations SET state = 'cancelled', finished_at = ?2 WHERE id = ?1",
                params![id, now.timestamp()],
            )?;
            load_reservation(tx, id, now)?
                .map(|(r, _, _)| r)
                .ok_or(ResetError::ReservationNotFound)
        })
    }

    /// The kiosk's first step: the live reservation of `kind` for the card
    /// whose certificate the kiosk read (the authentication certificate for
    /// a signing-password reset, the signing one for a PIN reset), if this
    /// chain may finish it (R5, R6). Changes nothing.
    pub fn redeemable(
        &self,
        card_certificate: &[u8],
        kind: ResetKind,
        chain: StoreChain,
    ) -> Result<Reservation, ResetError> {
        let card = card_subject(card_certificate);
        self.read(|tx, now| {
            let mut statement = tx.prepare(
                "SELECT id FROM reservations WHERE card = ?1 AND kind = ?2 ORDER BY created_at DESC, id LIMIT 1",
            )?;
            let id: Option<String> = statement
                .query_row(params![card, kind.as_str()], |r| r.get(0))
                .optional()?;
            let id = id.ok_or(ResetError::ReservationNotFound)?;
            let (reservation, _, _) = load_reservation(tx, &id, now)?.ok_or(ResetError::ReservationNotFound)?;
            live(&reservation)?;
            if !chain.resets(kind) {
                return Err(ResetError::ChainRefused { chain, kind });
            }
            Ok(reservation)
        })
    }

    /// The kiosk's last step, once the card took the new secret: marks the
    /// reservation redeemed (checking again that it is live).
    pub fn confirm_redeemed(
        &self,
        key: &IdempotencyKey,
        id: &str,
        chain: StoreChain,
    ) -> Result<Reservation, ResetError> {
        self.idempotent(key, "redeem", &(id, chain), |tx, now| {
            let (reservation, _, _) = load_reservation(tx, id, now)?.ok_or(ResetError::ReservationNotFound)?;
            live(&reservation)?;
            if !chain.resets(reservation.kind) {
                return Err(ResetError::ChainRefused { chain, kind: reservation.kind });
            }
            let chain_name = serde_json::to_value(chain)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            tx.execute(
                "UPDATE reservations SET state = 'redeemed', finished_at = ?2, chain = ?3 WHERE id = ?1",
                params![id, now.timestamp(), chain_name],
            )?;
            load_reservation(tx, id, now)?.map(|(r, _, _)| r).ok_or(ResetError::ReservationNotFound)
        })
    }
}

/// Refuses a reservation that is not live.
fn live(reservation: &Reservation) -> Result<(), ResetError> {
    match reservation.state {
        ReservationState::Reserved => Ok(()),
        ReservationState::Redeemed => Err(ResetError::AlreadyRedeemed),
        ReservationState::Expired => Err(ResetError::ReservationExpired),
        ReservationState::Cancelled => Err(ResetError::ReservationCancelled),
    }
}

/// A reservation with its state as of `now` (a live one past `expires_at`
/// is expired: R5), its card subject and its device key.
fn load_reservation(
    tx: &Transaction<'_>,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Reservation, String, Vec<u8>)>, ResetError> {
    let row: Option<ReservationRow> = tx
        .query_row(
            "SELECT card, device, kind, created_at, expires_at, state, finished_at, chain FROM reservations WHERE id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)),
        )
        .optional()?;
    let Some((card, device, kind, created_at, expires_at, state, finished_at, chain)) = row else {
        return Ok(None);
    };
    let kind = ResetKind::parse(&kind).ok_or_else(|| ResetError::internal("stored kind"))?;
    let mut state =
        ReservationState::parse(&state).ok_or_else(|| ResetError::internal("stored state"))?;
    // R5: redeemable up to and including created + 24 h; one second later, expired.
    if state == ReservationState::Reserved && now > time(expires_at) {
        state = ReservationState::Expired;
    }
    let chain = chain.and_then(|c| serde_json::from_value(serde_json::Value::String(c)).ok());
    Ok(Some((
        Reservation {
            id: id.to_owned(),
            kind,
            created_at: time(created_at),
            expires_at: time(expires_at),
            stores: StoreChain::for_kind(kind),
            state,
            finished_at: finished_at.map(time),
            redeemed_at_chain: chain,
        },
        card,
        device,
    )))
}

/// The lock-out subject of a card: its certificate's SHA-256.
fn card_subject(certificate_der: &[u8]) -> String {
    format!("card:{}", to_hex(&digest(certificate_der)))
}

/// The lock-out subject of a device: its key's SHA-256.
fn device_subject(device_key: &[u8]) -> String {
    format!("device:{}", to_hex(&digest(device_key)))
}

/// The certificate digest back from a card subject.
fn digest_of_subject(subject: &str) -> Result<Vec<u8>, ResetError> {
    subject
        .strip_prefix("card:")
        .and_then(super::wire::from_hex)
        .ok_or_else(|| ResetError::internal("stored card subject"))
}
