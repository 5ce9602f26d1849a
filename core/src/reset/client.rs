//! The phone's side of a PIN reset (issue 8): the steps of the official
//! app's flow, each one call, each leaving the phone's store whole.
//!
//! 1. [`ResetClient::begin`]: what to reset; the authority's challenge.
//! 2. The card front (`front.rs`) gives 照合番号B.
//! 3. [`ResetClient::tap`]: the one tap (Kenmen face record with 照合番号B,
//!    the JPKI token label (R10), the other key's certificate, VERIFY of
//!    the other secret and its signature over the challenge: R4).
//! 4. Signing password only (R2): [`ResetClient::open_face_check`] and
//!    [`ResetClient::submit_capture`] until it passes.
//! 5. [`ResetClient::reserve`]: the reservation, kept in the store (R5, R6).
//!
//! Every state-changing request carries an idempotency key committed to the
//! store before it is sent. After a retryable failure (no answer, 429, 503)
//! call the same step again: the same request goes with the same key, so
//! the authority creates nothing twice. A flow lives in memory: after the
//! app is killed, [`ResetClient::refresh`] finds any reservation the
//! authority made, and a new flow starts from `begin`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::error::{Refusal, ResetError};
use super::wire::{
    CancelRequest, CaptureOutcome, CaptureRequest, Challenge, ErrorBody, Frame, OpenSessionRequest,
    Reservation, ReservationState, ReserveRequest, ResetKind, SessionOpened, StoreChain,
    cancel_message, capture_message, reservation_card_message, reservation_message, to_hex,
};
use crate::card::channel::CardChannel;
use crate::card::check_code::CheckCodeB;
use crate::card::error::CardError;
use crate::card::jpki::{DigestInfo, FreeCertificate, Jpki, JpkiKey, TokenKind};
use crate::card::kenmen::Kenmen;
use crate::card::pin::{AuthPin, LastTry, SigningPassword};
use crate::image::{Picture, PictureError};
use crate::platform::{
    AuthorityError, AuthorityLink, AuthorityRequest, AuthorityResponse, CardTransport, Clock,
    CorrectedClock, KeySpec, SecureArea,
};
use crate::store::{Store, StoreError, StoreTx};

/// The secure-area alias of the reset app's installation key.
pub const INSTALLATION_KEY_ALIAS: &str = "mynakit.reset.installation";

/// The secret the user still knows (R4): the 4-digit PIN to reset the
/// signing password, the signing password to reset the PIN.
#[derive(Clone)]
pub enum OtherSecret {
    /// For a signing-password reset.
    AuthPin(AuthPin),
    /// For a user-authentication PIN reset.
    SigningPassword(SigningPassword),
}

impl fmt::Debug for OtherSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AuthPin(_) => "AuthPin(<secret>)",
            Self::SigningPassword(_) => "SigningPassword(<secret>)",
        })
    }
}

/// What the tap read and signed. Personal data: wiped on drop, hidden from
/// `Debug`.
struct TapEvidence {
    face_record: Zeroizing<Vec<u8>>,
    photo_jp2: Zeroizing<Vec<u8>>,
    cv_certificate: Vec<u8>,
    /// The other key's certificate (R4): authentication for a
    /// signing-password reset, signing for a PIN reset.
    certificate: Vec<u8>,
    token_label: String,
    jpki_signature: Vec<u8>,
}

/// A request sent without a final answer yet: sent again, byte for byte,
/// when the same step is retried.
struct Pending {
    operation: String,
    /// Carries the face record and frames for a capture or reservation:
    /// this copy is wiped when dropped (the copies the link and the
    /// platform's HTTP stack make while sending are theirs).
    body: Zeroizing<Vec<u8>>,
}

/// One reservation attempt, from [`ResetClient::begin`] to
/// [`ResetClient::reserve`]. Held in memory by the app.
pub struct ResetFlow {
    kind: ResetKind,
    challenge: Challenge,
    device_key: Vec<u8>,
    evidence: Option<TapEvidence>,
    session: Option<SessionOpened>,
    sessions_opened: u32,
    captures_sent: u32,
    token: Option<Vec<u8>>,
    /// Requests sent (or being sent) without a final answer, by operation.
    pending: Vec<Pending>,
    /// Whether the user agreed to spend 照合番号B's last try (its own
    /// consent: agreeing for the PIN does not agree for this code).
    check_code_last_try: LastTry,
}

impl fmt::Debug for ResetFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetFlow")
            .field("kind", &self.kind)
            .field("challenge_id", &self.challenge.challenge_id)
            .field("tapped", &self.evidence.is_some())
            .field(
                "session",
                &self.session.as_ref().map(|s| s.session_id.as_str()),
            )
            .field("face_check_passed", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

impl ResetFlow {
    /// What this flow resets.
    pub fn kind(&self) -> ResetKind {
        self.kind
    }

    /// Records that the user agreed to spend the last try of 照合番号B,
    /// after a tap answered [`ResetError::CheckCodeLastTry`] (its limit is
    /// not published; the card says when one try is left).
    pub fn allow_check_code_last_try(&mut self) {
        self.check_code_last_try = LastTry::Allow;
    }

    /// Whether the tap is done.
    pub fn tapped(&self) -> bool {
        self.evidence.is_some()
    }

    /// Whether the face check passed (a signing-password reset needs it: R2).
    pub fn face_check_passed(&self) -> bool {
        self.token.is_some()
    }

    /// The chip photo, decoded, for the app's "is this you?" screen (after
    /// the tap).
    pub fn chip_photo(&self) -> Option<Result<Picture, PictureError>> {
        self.evidence
            .as_ref()
            .map(|e| Picture::from_jpeg2000(&e.photo_jp2))
    }

    /// The body kept for `operation` from an attempt without a final
    /// answer, if any (other operations' bodies stay kept).
    fn pending_body(&self, operation: &str) -> Option<Vec<u8>> {
        self.pending
            .iter()
            .find(|p| p.operation == operation)
            .map(|p| p.body.to_vec())
    }

    /// Takes the request to send for `operation`: the one kept from an
    /// unanswered attempt of the same operation, or `build`'s.
    fn request_body(
        &mut self,
        operation: &str,
        build: impl FnOnce() -> Result<Vec<u8>, ResetError>,
    ) -> Result<Vec<u8>, ResetError> {
        match self.pending_body(operation) {
            Some(body) => Ok(body),
            None => build(),
        }
    }
}

/// The face-check session the authority opened: what to ask the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceCheckPrompt {
    /// The session's id.
    pub session_id: String,
    /// The liveness actions, in order.
    pub actions: Vec<super::wire::LivenessAction>,
    /// The first capture must reach the authority by then (its clock).
    pub start_by: DateTime<Utc>,
    /// Nothing is accepted after then (its clock).
    pub ends_by: DateTime<Utc>,
    /// Captures allowed.
    pub max_attempts: u32,
}

/// The authority's verdict on a capture: pass or fail, nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureResult {
    /// True when the face check passed; the flow can now reserve.
    pub passed: bool,
    /// Captures left in this session (0 after a failure: open a new one).
    pub attempts_left: u32,
}

/// A reservation as the phone keeps it, read offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptReservation {
    /// As the authority last described it.
    pub reservation: Reservation,
    /// Its state now by the corrected clock: a `reserved` one past
    /// `expires_at` reads as `expired` (R5).
    pub state_now: ReservationState,
    /// Time left to finish at a kiosk, while it is reserved.
    pub time_left: Option<Duration>,
    /// The chains of `stores` where only some stores have a kiosk (R6).
    pub partial_chains: Vec<StoreChain>,
}

impl KeptReservation {
    fn at(reservation: Reservation, now: DateTime<Utc>) -> Self {
        let live = reservation.state == ReservationState::Reserved;
        let left = (reservation.expires_at - now).to_std().ok();
        let state_now = match (live, left) {
            (true, None) => ReservationState::Expired,
            _ => reservation.state,
        };
        let time_left = if state_now == ReservationState::Reserved {
            left
        } else {
            None
        };
        let partial_chains = reservation
            .stores
            .iter()
            .copied()
            .filter(|c| c.partial())
            .collect();
        Self {
            reservation,
            state_now,
            time_left,
            partial_chains,
        }
    }
}

/// The PIN-reset app's client of one reset authority.
pub struct ResetClient {
    link: Arc<dyn AuthorityLink>,
    store: Arc<Store>,
    secure_area: Arc<dyn SecureArea>,
    clock: CorrectedClock<Arc<dyn Clock>>,
    authority: String,
}

impl fmt::Debug for ResetClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResetClient")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl ResetClient {
    /// A client of the authority named `authority` (its base address; the
    /// store keeps its clock offset and reservations under that name),
    /// reached through `link`.
    pub fn new(
        link: Arc<dyn AuthorityLink>,
        store: Arc<Store>,
        secure_area: Arc<dyn SecureArea>,
        clock: Arc<dyn Clock>,
        authority: &str,
    ) -> Result<Self, ResetError> {
        let offset = store.transaction(|tx| tx.clock_offset(authority))?;
        Ok(Self {
            link,
            store,
            secure_area,
            clock: CorrectedClock::new(clock, offset),
            authority: authority.to_owned(),
        })
    }

    /// The time by the authority's clock as last seen (the phone's clock
    /// corrected by the offset): stamp camera frames with it.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The installation key's public half, created on first use.
    pub async fn installation_key(&self) -> Result<Vec<u8>, ResetError> {
        let alias = INSTALLATION_KEY_ALIAS.to_owned();
        match self.secure_area.key_info(alias.clone()).await? {
            Some(info) => Ok(info.public_key),
            None => Ok(self
                .secure_area
                .create_key(alias, KeySpec::background_signing())
                .await?
                .public_key),
        }
    }

    async fn device_sign(&self, message: Vec<u8>) -> Result<Vec<u8>, ResetError> {
        Ok(self
            .secure_area
            .sign(INSTALLATION_KEY_ALIAS.to_owned(), message)
            .await?)
    }

    /// Step 1: starts a reset of `kind` and fetches the authority's
    /// challenge, which the card signs in the tap.
    pub async fn begin(&self, kind: ResetKind) -> Result<ResetFlow, ResetError> {
        let device_key = self.installation_key().await?;
        let operation = format!("reset/challenge/{}", kind.as_str());
        let mut challenge: Challenge = self
            .post(&operation, "/v1/challenges", b"{}".to_vec(), |_, _| Ok(()))
            .await?;
        if challenge.expires_at <= self.now() {
            // The key was kept from an attempt whose answer was lost, long
            // enough ago that the challenge it made has run out: a flow on
            // it would be refused only at the reservation, after the tap.
            // The key is spent now, so this asks for a new one.
            challenge = self
                .post(&operation, "/v1/challenges", b"{}".to_vec(), |_, _| Ok(()))
                .await?;
        }
        Ok(ResetFlow {
            kind,
            challenge,
            device_key,
            evidence: None,
            session: None,
            sessions_opened: 0,
            captures_sent: 0,
            token: None,
            pending: Vec::new(),
            check_code_last_try: LastTry::Refuse,
        })
    }

    /// Step 3, the one tap. Reads the card face record with 照合番号B
    /// (`check_code`, from the card front) and the card-verifiable
    /// certificate, checks the JPKI token is a physical card's (R10), reads
    /// the other key's certificate, verifies `other` and has the card sign
    /// the challenge with that key (R4). `last_try` is the consent to spend
    /// the other secret's last try; 照合番号B has its own
    /// ([`ResetFlow::allow_check_code_last_try`]).
    ///
    /// If the card is pulled away, nothing is kept: tap again (the card
    /// layer never resends a VERIFY and reports a try that may be spent).
    pub async fn tap<T: CardTransport>(
        &self,
        flow: &mut ResetFlow,
        channel: &mut CardChannel<T>,
        check_code: &CheckCodeB,
        other: &OtherSecret,
        last_try: LastTry,
    ) -> Result<(), ResetError> {
        let key = match (flow.kind, other) {
            (ResetKind::SigningPassword, OtherSecret::AuthPin(_)) => JpkiKey::Authentication,
            (ResetKind::AuthPin, OtherSecret::SigningPassword(_)) => JpkiKey::Signing,
            _ => return Err(ResetError::WrongSecretForKind),
        };
        let record = Kenmen::new(channel)
            .read_face_record(check_code, flow.check_code_last_try)
            .await
            .map_err(|e| match e {
                CardError::LastTryNeedsConfirmation => ResetError::CheckCodeLastTry,
                other => ResetError::Card(other),
            })?;
        if record.face().birth_date.is_none() {
            return Err(ResetError::BirthDateUnknown);
        }
        let cv_certificate = Kenmen::new(channel).read_cv_certificate_bytes().await?;
        let mut jpki = Jpki::new(channel);
        let token_label = match jpki.token_kind().await? {
            TokenKind::PhysicalCard => PHYSICAL_CARD_LABEL.to_owned(),
            other_kind => {
                return Err(ResetError::NotPhysicalCard {
                    label: token_label_text(&other_kind),
                });
            }
        };
        let card_message =
            reservation_card_message(&flow.challenge.challenge, flow.kind, &flow.device_key);
        let digest = DigestInfo::sha256(&card_message);
        let certificate = match other {
            OtherSecret::AuthPin(pin) => {
                let certificate = jpki
                    .read_certificate(FreeCertificate::Authentication)
                    .await?;
                jpki.verify_auth_pin(pin, last_try).await?;
                certificate
            }
            OtherSecret::SigningPassword(password) => {
                jpki.read_signing_certificate(password, last_try).await?
            }
        };
        let jpki_signature = jpki.sign(key, &digest).await?;
        flow.evidence = Some(TapEvidence {
            face_record: Zeroizing::new(record.bytes().to_vec()),
            photo_jp2: Zeroizing::new(record.face().photo_jp2.clone()),
            cv_certificate,
            certificate: certificate.der().to_vec(),
            token_label,
            jpki_signature,
        });
        Ok(())
    }

    /// Step 4 (signing password only, R2): opens a face-check session
    /// bound to the card's authentication certificate and the installation
    /// key. A new session after one ran out of attempts is allowed.
    pub async fn open_face_check(
        &self,
        flow: &mut ResetFlow,
    ) -> Result<FaceCheckPrompt, ResetError> {
        if !flow.kind.needs_face_check() {
            return Err(ResetError::OutOfOrder {
                step: "a face check",
                needs: "a signing-password reset (R3: a PIN reset has none)",
            });
        }
        let Some(evidence) = &flow.evidence else {
            return Err(ResetError::OutOfOrder {
                step: "a face check",
                needs: "the tap",
            });
        };
        let operation = format!(
            "reset/session/{}/{}",
            flow.challenge.challenge_id, flow.sessions_opened
        );
        let certificate = evidence.certificate.clone();
        let device_key = flow.device_key.clone();
        let body = flow.request_body(&operation, || {
            json(&OpenSessionRequest {
                auth_certificate: certificate,
                device_key,
            })
        })?;
        let opened: SessionOpened = self
            .post_in(flow, &operation, "/v1/face-check/sessions", body, |_, _| {
                Ok(())
            })
            .await?;
        flow.sessions_opened += 1;
        flow.captures_sent = 0;
        let prompt = FaceCheckPrompt {
            session_id: opened.session_id.clone(),
            actions: opened.actions.clone(),
            start_by: opened.start_by,
            ends_by: opened.ends_by,
            max_attempts: opened.max_attempts,
        };
        flow.session = Some(opened);
        Ok(prompt)
    }

    /// Sends one capture: the frames (the first neutral, then those taken
    /// while each action was asked, stamped with [`ResetClient::now`]),
    /// the face record as read and the installation key's signature. The
    /// authority answers pass or fail only. After a retryable failure, call
    /// again: the frames first sent go again under the same key.
    pub async fn submit_capture(
        &self,
        flow: &mut ResetFlow,
        frames: Vec<Frame>,
    ) -> Result<CaptureResult, ResetError> {
        let (Some(session), Some(evidence)) = (&flow.session, &flow.evidence) else {
            return Err(ResetError::OutOfOrder {
                step: "a capture",
                needs: "an open face-check session",
            });
        };
        let session_id = session.session_id.clone();
        let operation = format!("reset/capture/{session_id}/{}", flow.captures_sent);
        let body = match flow.pending_body(&operation) {
            Some(body) => body,
            None => {
                let message =
                    capture_message(&session_id, &session.nonce, &evidence.face_record, &frames);
                let device_signature = self.device_sign(message).await?;
                json(&CaptureRequest {
                    session_id: session_id.clone(),
                    face_record: evidence.face_record.to_vec(),
                    cv_certificate: evidence.cv_certificate.clone(),
                    frames,
                    device_signature,
                })?
            }
        };
        let path = format!("/v1/face-check/sessions/{session_id}/captures");
        let outcome: CaptureOutcome = self
            .post_in(flow, &operation, &path, body, |_, _| Ok(()))
            .await?;
        flow.captures_sent += 1;
        match (&outcome.token, outcome.passed) {
            (Some(token), true) => flow.token = Some(token.clone()),
            (None, true) => {
                return Err(ResetError::BadAnswer {
                    what: "a passed face check without a token".to_owned(),
                });
            }
            (_, false) => {}
        }
        Ok(CaptureResult {
            passed: outcome.passed,
            attempts_left: outcome.attempts_left,
        })
    }

    /// Step 5: the reservation (R1), kept in the store with the answer.
    /// If the card already has a live one of this kind, it is fetched and
    /// kept (when the authority can be reached), and the refusal
    /// ([`Refusal::AlreadyReserved`]) names it.
    pub async fn reserve(&self, flow: &mut ResetFlow) -> Result<KeptReservation, ResetError> {
        let Some(evidence) = &flow.evidence else {
            return Err(ResetError::OutOfOrder {
                step: "a reservation",
                needs: "the tap",
            });
        };
        if flow.kind.needs_face_check() && flow.token.is_none() {
            return Err(ResetError::OutOfOrder {
                step: "a signing-password reservation",
                needs: "a passed face check (R2)",
            });
        }
        let operation = format!("reset/reserve/{}", flow.challenge.challenge_id);
        let body = match flow.pending_body(&operation) {
            Some(body) => body,
            None => {
                let message = reservation_message(
                    &flow.challenge.challenge,
                    flow.kind,
                    flow.token.as_deref(),
                    &flow.device_key,
                );
                let device_signature = self.device_sign(message).await?;
                json(&ReserveRequest {
                    kind: flow.kind,
                    challenge_id: flow.challenge.challenge_id.clone(),
                    face_check_token: flow.token.clone(),
                    certificate: evidence.certificate.clone(),
                    jpki_signature: evidence.jpki_signature.clone(),
                    token_label: evidence.token_label.clone(),
                    face_record: evidence.face_record.to_vec(),
                    cv_certificate: evidence.cv_certificate.clone(),
                    device_key: flow.device_key.clone(),
                    device_signature,
                })?
            }
        };
        // Kept in the transaction that forgets the operation's key: a kill
        // between the two would leave the phone knowing neither the
        // reservation nor that a request may have made one.
        let result: Result<Reservation, ResetError> = self
            .post_in(flow, &operation, "/v1/reservations", body, |tx, r| {
                self.keep(tx, r)
            })
            .await;
        match result {
            Ok(reservation) => Ok(KeptReservation::at(reservation, self.now())),
            Err(ResetError::Refused {
                error: Refusal::AlreadyReserved,
                status,
                id: Some(id),
            }) => {
                // Keeping the live reservation is best effort when the
                // authority cannot be reached now: the refusal, final and
                // naming it, is still the answer (a retry would only be told
                // the challenge is spent).
                if let Err(e) = self.fetch(&id).await
                    && !unanswered(&e)
                {
                    return Err(e);
                }
                Err(ResetError::Refused {
                    error: Refusal::AlreadyReserved,
                    status,
                    id: Some(id),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The reservations kept, offline: state and time left by the corrected
    /// clock, eligible chains (R6). Newest first.
    pub fn reservations(&self) -> Result<Vec<KeptReservation>, ResetError> {
        let now = self.now();
        let bodies: Vec<String> = self.store.transaction(|tx| {
            let mut statement = tx.sql().prepare_cached(
                "SELECT body FROM reset_reservations WHERE authority = ?1
                 ORDER BY expires_at DESC, id",
            )?;
            let rows = statement
                .query_map([&self.authority], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok::<_, StoreError>(rows)
        })?;
        bodies
            .iter()
            .map(|body| {
                serde_json::from_str::<Reservation>(body)
                    .map(|r| KeptReservation::at(r, now))
                    .map_err(|_| {
                        ResetError::Store(StoreError::Malformed {
                            table: "reset_reservations",
                            key: self.authority.clone(),
                        })
                    })
            })
            .collect()
    }

    /// Asks the authority for every reservation made with this
    /// installation key and keeps them (this also recovers one made just
    /// before the app was killed).
    pub async fn refresh(&self) -> Result<Vec<KeptReservation>, ResetError> {
        let device_key = self.installation_key().await?;
        let path = format!("/v1/reservations?device_key={}", to_hex(&device_key));
        let list: Vec<Reservation> = self.get(&path).await?;
        self.store.transaction(|tx| {
            list.iter()
                .try_for_each(|reservation| self.keep(tx, reservation))
        })?;
        self.reservations()
    }

    /// Cancels reservation `id` (made with this installation key) and keeps
    /// the authority's answer.
    pub async fn cancel(&self, id: &str) -> Result<KeptReservation, ResetError> {
        let id = reservation_id(id)?;
        let operation = format!("reset/cancel/{id}");
        // The body is kept with the key, so a retry after a restart sends
        // the same signature (a new one would differ: ECDSA is randomized
        // in secure hardware) and the authority answers it as a repeat.
        let setting = format!("pending-body/{operation}");
        let kept = self.store.transaction(|tx| tx.setting(&setting))?;
        let body = match kept {
            Some(body) => body.into_bytes(),
            None => {
                let device_signature = self.device_sign(cancel_message(id)).await?;
                let body = json(&CancelRequest { device_signature })?;
                let text = String::from_utf8(body.clone()).map_err(|_| ResetError::BadAnswer {
                    what: "a request body that is not UTF-8".to_owned(),
                })?;
                self.store
                    .transaction(|tx| tx.set_setting(&setting, &text))?;
                body
            }
        };
        let path = format!("/v1/reservations/{id}/cancel");
        let reservation: Reservation = self
            .post(&operation, &path, body, |tx, reservation: &Reservation| {
                self.keep(tx, reservation)?;
                tx.remove_setting(&setting)?;
                Ok(())
            })
            .await
            .inspect_err(|e| {
                if !unanswered(e) {
                    // A final answer: the kept body is of no further use.
                    let _ = self.store.transaction(|tx| tx.remove_setting(&setting));
                }
            })?;
        Ok(KeptReservation::at(reservation, self.now()))
    }

    async fn fetch(&self, id: &str) -> Result<KeptReservation, ResetError> {
        let path = format!("/v1/reservations/{}", reservation_id(id)?);
        let reservation: Reservation = self.get(&path).await?;
        self.store.transaction(|tx| self.keep(tx, &reservation))?;
        Ok(KeptReservation::at(reservation, self.now()))
    }

    fn keep(&self, tx: &StoreTx<'_>, reservation: &Reservation) -> Result<(), StoreError> {
        let body = serde_json::to_string(reservation).map_err(|_| StoreError::Malformed {
            table: "reset_reservations",
            key: reservation.id.clone(),
        })?;
        tx.sql().execute(
            "INSERT INTO reset_reservations (authority, id, expires_at, body)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (authority, id) DO UPDATE SET
                 expires_at = excluded.expires_at, body = excluded.body",
            rusqlite::params![
                self.authority,
                reservation.id,
                reservation.expires_at.timestamp(),
                body
            ],
        )?;
        Ok(())
    }

    /// A `POST` inside a flow: on a retryable failure the body is kept in
    /// the flow, to go again with the same key. `keep` as for [`Self::post`].
    async fn post_in<T: DeserializeOwned>(
        &self,
        flow: &mut ResetFlow,
        operation: &str,
        path: &str,
        body: Vec<u8>,
        keep: impl FnOnce(&StoreTx<'_>, &T) -> Result<(), StoreError>,
    ) -> Result<T, ResetError> {
        // Kept before the send: if this future is dropped mid-request (the
        // app cancelled the step), the retry still sends these bytes under
        // the key the store already holds.
        if flow.pending_body(operation).is_none() {
            flow.pending.push(Pending {
                operation: operation.to_owned(),
                body: Zeroizing::new(body.clone()),
            });
        }
        let result = self.post(operation, path, body, keep).await;
        let settled = match &result {
            Ok(_) => true,
            // The answer arrived but could not be kept: the key is still
            // pending, so the same bytes must go again.
            Err(ResetError::Store(_)) => false,
            Err(e) => !unanswered(e),
        };
        if settled {
            flow.pending.retain(|p| p.operation != operation);
        }
        result
    }

    /// A state-changing request: its idempotency key is committed before
    /// it is sent and forgotten, with `keep`'s writes, once a final answer
    /// (an outcome, a refusal or a lock-out) arrives. A request left
    /// [`unanswered`] keeps the key.
    async fn post<T: DeserializeOwned>(
        &self,
        operation: &str,
        path: &str,
        body: Vec<u8>,
        keep: impl FnOnce(&StoreTx<'_>, &T) -> Result<(), StoreError>,
    ) -> Result<T, ResetError> {
        let key = self.store.transaction(|tx| tx.idempotency_key(operation))?;
        let request =
            AuthorityRequest::post(path, body, &key).header("Content-Type", "application/json");
        let result = self.exchange::<T>(request).await;
        match &result {
            Ok(value) => self.store.transaction(|tx| {
                keep(tx, value)?;
                tx.finish_operation(operation)?;
                Ok::<_, StoreError>(())
            })?,
            Err(e) if !unanswered(e) => {
                self.store
                    .transaction(|tx| tx.finish_operation(operation))?;
            }
            Err(_) => {}
        }
        result
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ResetError> {
        self.exchange(AuthorityRequest::get(path)).await
    }

    /// Sends `request` and sorts the answer: the body of a 2xx, or a typed
    /// error. Every answer's `Date` corrects the clock (kept in the store).
    async fn exchange<T: DeserializeOwned>(
        &self,
        request: AuthorityRequest,
    ) -> Result<T, ResetError> {
        let response = self
            .link
            .send(request)
            .await
            .map_err(|e| ResetError::Authority(e.into()))?;
        self.observe_date(&response)?;
        let retry_after = response.retry_after(self.now());
        match response.status {
            200..=299 => {
                serde_json::from_slice(&response.body).map_err(|e| ResetError::AnswerGarbled {
                    what: format!("status {}: {e}", response.status),
                })
            }
            503 => Err(ResetError::Authority(AuthorityError::OutOfService {
                retry_after,
            })),
            // The authority failed inside (it remembers nothing under the
            // key: `docs/reset-protocol.md`), or a proxy on the way timed
            // out or failed: the request may or may not have acted, so it
            // goes again under the same key.
            408 | 500 | 502 | 504 => Err(ResetError::Authority(AuthorityError::AnswerLost {
                reason: format!(
                    "the authority or a proxy answered status {}",
                    response.status
                ),
            })),
            status => {
                let body: Option<ErrorBody> = serde_json::from_slice(&response.body).ok();
                let error = body
                    .as_ref()
                    .and_then(|b| {
                        serde_json::from_value::<Refusal>(serde_json::Value::String(
                            b.error.clone(),
                        ))
                        .ok()
                    })
                    .unwrap_or(Refusal::Unknown);
                match (status, error) {
                    (429, Refusal::LockedOut) => Err(ResetError::LockedOut {
                        until: body.and_then(|b| b.until),
                        retry_after,
                    }),
                    (429, _) => Err(ResetError::Authority(AuthorityError::RateLimited {
                        retry_after,
                    })),
                    (_, error) if body.is_some() => Err(ResetError::Refused {
                        error,
                        status,
                        id: body.and_then(|b| b.id),
                    }),
                    _ => Err(ResetError::Authority(AuthorityError::Refused(response))),
                }
            }
        }
    }

    fn observe_date(&self, response: &AuthorityResponse) -> Result<(), ResetError> {
        let Some(date) = response.header("Date") else {
            return Ok(());
        };
        // A malformed Date is ignored: the clock keeps its last offset.
        if let Ok(offset) = self.clock.observe_date_header(date) {
            self.store
                .transaction(|tx| tx.record_clock_offset(&self.authority, &offset))?;
        }
        Ok(())
    }
}

/// Whether `error` left a request without the authority's final answer (not
/// reached, no answer, an answer damaged on the way, 429 or 503 from the way
/// there): the same request then
/// goes again under the same idempotency key. Anything else, a lock-out
/// included, is the answer the authority keeps under that key and would
/// give again (`docs/reset-protocol.md`, "Conventions"), so a later attempt
/// needs a new key: after an R11 lock-out lifts, a retry under the old key
/// would only be told "locked out" again.
fn unanswered(error: &ResetError) -> bool {
    match error {
        ResetError::Authority(e) => e.is_retryable(),
        ResetError::AnswerGarbled { .. } => true,
        _ => false,
    }
}

/// `id` if it has the form of a reservation id (hex digits, at most 64):
/// it goes into a request path, so nothing else may.
fn reservation_id(id: &str) -> Result<&str, ResetError> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(ResetError::NotAReservationId { id: id.to_owned() })
    }
}

/// The label a physical card's JPKI token reports (R10).
const PHYSICAL_CARD_LABEL: &str = "JPKIAPICCTOKEN2";

fn token_label_text(kind: &TokenKind) -> String {
    match kind {
        TokenKind::PhysicalCard => PHYSICAL_CARD_LABEL.to_owned(),
        TokenKind::AndroidToken => "JPKIAPGPSETOKEN".to_owned(),
        TokenKind::IphoneToken => "JPKIAPIOSTOKEN".to_owned(),
        TokenKind::JukiCard => "JPKIAPICCTOKEN".to_owned(),
        TokenKind::Unknown(label) => label.clone(),
    }
}

fn json(value: &impl Serialize) -> Result<Vec<u8>, ResetError> {
    serde_json::to_vec(value).map_err(|e| ResetError::BadAnswer {
        what: format!("a request that does not serialize: {e}"),
    })
}
