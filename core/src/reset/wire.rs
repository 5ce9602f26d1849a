//! The reset authority's wire format (`docs/reset-protocol.md`): the bodies
//! the phone sends and the answers it reads, and the byte strings the card and
//! the installation key sign. One definition, used by the phone's flow here
//! and by the reference authority in `mynakit-sandbox`, so the two cannot
//! drift apart.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Which secret the reservation resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetKind {
    /// The signing password (署名用パスワード, 6–16 characters): needs the
    /// card, a face check (R2) and the user-authentication PIN (R4).
    SigningPassword,
    /// The user-authentication PIN (利用者証明用パスワード, 4 digits): needs
    /// the card (R3) and the signing password (R4).
    AuthPin,
}

impl ResetKind {
    /// The name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SigningPassword => "signing_password",
            Self::AuthPin => "auth_pin",
        }
    }

    /// The inverse of [`ResetKind::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "signing_password" => Some(Self::SigningPassword),
            "auth_pin" => Some(Self::AuthPin),
            _ => None,
        }
    }

    /// True when the reservation needs a face-check token (R2, R3).
    pub fn needs_face_check(self) -> bool {
        matches!(self, Self::SigningPassword)
    }
}

/// A store chain with reset kiosks (R6, the reset service's store list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreChain {
    /// Seven-Eleven: both kinds.
    SevenEleven,
    /// AEON Retail (Honshu/Shikoku): both kinds.
    AeonRetail,
    /// AEON Hokkaido (some stores): both kinds.
    AeonHokkaido,
    /// AEON Tohoku (some stores): both kinds.
    AeonTohoku,
    /// Fuji (some stores, Chugoku/Shikoku): both kinds.
    Fuji,
    /// Lawson: the signing password only.
    Lawson,
    /// FamilyMart: the signing password only.
    FamilyMart,
    /// Ministop: the signing password only.
    Ministop,
    /// Daiei (some stores): the signing password only.
    Daiei,
}

impl StoreChain {
    /// Every chain of the store list, in its order.
    pub const ALL: [StoreChain; 9] = [
        Self::SevenEleven,
        Self::AeonRetail,
        Self::AeonHokkaido,
        Self::AeonTohoku,
        Self::Fuji,
        Self::Lawson,
        Self::FamilyMart,
        Self::Ministop,
        Self::Daiei,
    ];

    /// True when this chain's kiosks finish a reset of `kind` (R6).
    pub fn resets(self, kind: ResetKind) -> bool {
        match kind {
            ResetKind::SigningPassword => true,
            ResetKind::AuthPin => matches!(
                self,
                Self::SevenEleven
                    | Self::AeonRetail
                    | Self::AeonHokkaido
                    | Self::AeonTohoku
                    | Self::Fuji
            ),
        }
    }

    /// The chains that finish `kind` (R6).
    pub fn for_kind(kind: ResetKind) -> Vec<StoreChain> {
        Self::ALL.into_iter().filter(|c| c.resets(kind)).collect()
    }

    /// True for the chains where only some stores have a kiosk (R6 says
    /// "some stores"): apps should say so.
    pub fn partial(self) -> bool {
        matches!(
            self,
            Self::AeonHokkaido | Self::AeonTohoku | Self::Fuji | Self::Daiei
        )
    }
}

impl fmt::Display for ResetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SigningPassword => "signing password",
            Self::AuthPin => "4-digit user-authentication PIN",
        })
    }
}

impl fmt::Display for StoreChain {
    /// The chain's name as the store list writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SevenEleven => "Seven-Eleven",
            Self::AeonRetail => "AEON Retail",
            Self::AeonHokkaido => "AEON Hokkaido",
            Self::AeonTohoku => "AEON Tohoku",
            Self::Fuji => "Fuji",
            Self::Lawson => "Lawson",
            Self::FamilyMart => "FamilyMart",
            Self::Ministop => "Ministop",
            Self::Daiei => "Daiei",
        })
    }
}

/// Width of a camera frame the authority accepts, in pixels.
pub const FRAME_WIDTH: usize = 64;
/// Height of a camera frame the authority accepts, in pixels.
pub const FRAME_HEIGHT: usize = 80;

/// A liveness action the authority asks the user to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LivenessAction {
    /// Turn the head to the camera's left.
    TurnLeft,
    /// Turn the head to the camera's right.
    TurnRight,
    /// Nod (the face moves down).
    Nod,
    /// Look up (the face moves up).
    LookUp,
}

impl LivenessAction {
    /// Every action, in a fixed order (index = the byte the session draws).
    pub const ALL: [LivenessAction; 4] = [Self::TurnLeft, Self::TurnRight, Self::Nod, Self::LookUp];

    /// Where the face moves in the frame, in pixels (x right, y down), when
    /// the action is performed: what the reference verifier looks for and
    /// the sandbox camera draws.
    pub fn displacement(self) -> (i32, i32) {
        match self {
            Self::TurnLeft => (-4, 0),
            Self::TurnRight => (4, 0),
            Self::Nod => (0, 4),
            Self::LookUp => (0, -4),
        }
    }
}

/// One greyscale camera frame with the time it was taken and the action the
/// app was asking for when it took it (`None`: "look at the camera").
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Width in pixels (must be [`FRAME_WIDTH`]).
    pub width: u32,
    /// Height in pixels (must be [`FRAME_HEIGHT`]).
    pub height: u32,
    /// 8-bit grey levels, row by row.
    #[serde(with = "hex_bytes")]
    pub grey: Vec<u8>,
    /// When the phone took it.
    pub captured_at: DateTime<Utc>,
    /// The action prompted at that moment.
    pub action: Option<LivenessAction>,
}

impl fmt::Debug for Frame {
    // A frame is a picture of a person: personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("size", &format_args!("{}x{}", self.width, self.height))
            .field("grey", &"<redacted>")
            .field("captured_at", &self.captured_at)
            .field("action", &self.action)
            .finish()
    }
}

/// `POST /v1/face-check/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSessionRequest {
    /// The card's authentication certificate (DER), read without a PIN.
    #[serde(with = "hex_bytes")]
    pub auth_certificate: Vec<u8>,
    /// The phone's installation key, SEC1 uncompressed P-256.
    #[serde(with = "hex_bytes")]
    pub device_key: Vec<u8>,
}

/// The answer to [`OpenSessionRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOpened {
    /// 128-bit session id, hex.
    pub session_id: String,
    /// 32 random bytes the device signs with each capture.
    #[serde(with = "hex_bytes")]
    pub nonce: Vec<u8>,
    /// The liveness actions to perform, in order (at least 3).
    pub actions: Vec<LivenessAction>,
    /// The first capture must arrive by then (start deadline).
    pub start_by: DateTime<Utc>,
    /// Nothing is accepted after then (hard cap).
    pub ends_by: DateTime<Utc>,
    /// Capture attempts allowed.
    pub max_attempts: u32,
}

/// `POST /v1/face-check/sessions/{id}/captures`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureRequest {
    /// The session.
    pub session_id: String,
    /// Kenmen EF 0002 as read from the chip.
    #[serde(with = "hex_bytes")]
    pub face_record: Vec<u8>,
    /// Kenmen EF 0004 (the card-verifiable certificate).
    #[serde(with = "hex_bytes")]
    pub cv_certificate: Vec<u8>,
    /// The frames, in the order taken.
    pub frames: Vec<Frame>,
    /// ES256 by the installation key over [`capture_message`].
    #[serde(with = "hex_bytes")]
    pub device_signature: Vec<u8>,
}

impl fmt::Debug for CaptureRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureRequest")
            .field("session_id", &self.session_id)
            .field("face_record", &"<redacted>")
            .field("frames", &self.frames.len())
            .finish_non_exhaustive()
    }
}

/// Pass or fail only: the phone never sees a score or a reason.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureOutcome {
    /// True when the face check passed.
    pub passed: bool,
    /// Attempts left in this session.
    pub attempts_left: u32,
    /// On a pass, the face-check token (tagged COSE_Sign1 bytes).
    #[serde(with = "opt_hex_bytes", default)]
    pub token: Option<Vec<u8>>,
}

impl fmt::Debug for CaptureOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureOutcome")
            .field("passed", &self.passed)
            .field("attempts_left", &self.attempts_left)
            .field("token", &self.token.as_ref().map(|_| "<token>"))
            .finish()
    }
}

/// `POST /v1/challenges`: what the card signs for a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Its id.
    pub challenge_id: String,
    /// 32 random bytes.
    #[serde(with = "hex_bytes")]
    pub challenge: Vec<u8>,
    /// Single use, until then.
    pub expires_at: DateTime<Utc>,
}

/// `POST /v1/reservations`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveRequest {
    /// What to reset.
    pub kind: ResetKind,
    /// The challenge signed.
    pub challenge_id: String,
    /// The face-check token (signing-password reset only, R2).
    #[serde(with = "opt_hex_bytes", default)]
    pub face_check_token: Option<Vec<u8>>,
    /// The certificate of the key that signed: the authentication one for a
    /// signing-password reset, the signing one for a PIN reset (R4).
    #[serde(with = "hex_bytes")]
    pub certificate: Vec<u8>,
    /// PKCS#1 v1.5 SHA-256 by that key over [`reservation_card_message`].
    #[serde(with = "hex_bytes")]
    pub jpki_signature: Vec<u8>,
    /// The JPKI token label (EF 0006) as read (R10).
    pub token_label: String,
    /// Kenmen EF 0002 as read (R7 and the issuer signature).
    #[serde(with = "hex_bytes")]
    pub face_record: Vec<u8>,
    /// Kenmen EF 0004.
    #[serde(with = "hex_bytes")]
    pub cv_certificate: Vec<u8>,
    /// The installation key, SEC1 uncompressed P-256.
    #[serde(with = "hex_bytes")]
    pub device_key: Vec<u8>,
    /// ES256 by the installation key over [`reservation_message`].
    #[serde(with = "hex_bytes")]
    pub device_signature: Vec<u8>,
}

impl fmt::Debug for ReserveRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReserveRequest")
            .field("kind", &self.kind)
            .field("challenge_id", &self.challenge_id)
            .field("token_label", &self.token_label)
            .field("face_record", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Where a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    /// Live: a kiosk can redeem it until `expires_at`.
    Reserved,
    /// Redeemed at a kiosk.
    Redeemed,
    /// Past its 24 hours (R5).
    Expired,
    /// Cancelled by the user.
    Cancelled,
}

impl ReservationState {
    /// The name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Redeemed => "redeemed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// The inverse of [`ReservationState::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Reserved,
            Self::Redeemed,
            Self::Expired,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A reservation (R1: the app reserves; the kiosk resets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// 128-bit id, hex.
    pub id: String,
    /// What it resets.
    pub kind: ResetKind,
    /// When the authority created it (its clock).
    pub created_at: DateTime<Utc>,
    /// `created_at` + 24 h (R5), by the authority's clock.
    pub expires_at: DateTime<Utc>,
    /// The chains whose kiosks finish it (R6).
    pub stores: Vec<StoreChain>,
    /// Its state now.
    pub state: ReservationState,
    /// When it was redeemed or cancelled.
    pub finished_at: Option<DateTime<Utc>>,
    /// Where it was redeemed.
    pub redeemed_at_chain: Option<StoreChain>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// What the installation key signs with a capture: a domain label, the
/// session id, the nonce, SHA-256 of the face record and SHA-256 over every
/// frame (its size, capture time, prompted action and pixels, each field of
/// fixed width or length-prefixed), so neither a frame nor its liveness
/// evidence can be changed, and a capture cannot be moved to another
/// session or card.
pub fn capture_message(
    session_id: &str,
    nonce: &[u8],
    face_record: &[u8],
    frames: &[Frame],
) -> Vec<u8> {
    let mut m = b"mynakit-reset/capture/v2\0".to_vec();
    m.extend_from_slice(session_id.as_bytes());
    m.push(0);
    m.extend_from_slice(nonce);
    m.extend_from_slice(&digest(face_record));
    let mut evidence = Sha256::new();
    evidence.update((frames.len() as u64).to_be_bytes());
    for frame in frames {
        evidence.update(frame.width.to_be_bytes());
        evidence.update(frame.height.to_be_bytes());
        evidence.update(frame.captured_at.timestamp_millis().to_be_bytes());
        let action: &[u8] = match frame.action {
            None => b"",
            Some(LivenessAction::TurnLeft) => b"turn_left",
            Some(LivenessAction::TurnRight) => b"turn_right",
            Some(LivenessAction::Nod) => b"nod",
            Some(LivenessAction::LookUp) => b"look_up",
        };
        evidence.update((action.len() as u64).to_be_bytes());
        evidence.update(action);
        evidence.update((frame.grey.len() as u64).to_be_bytes());
        evidence.update(&frame.grey);
    }
    m.extend_from_slice(&evidence.finalize());
    m
}

/// What the card's other key signs for a reservation (R4), in the one tap:
/// a domain label, the challenge, the kind and the installation key. It
/// cannot cover the face-check token, which exists only after the tap (the
/// face check needs the chip photo the tap reads); the installation key's
/// signature ([`reservation_message`]) covers the token instead, and the
/// token itself names the card and the installation key.
pub fn reservation_card_message(challenge: &[u8], kind: ResetKind, device_key: &[u8]) -> Vec<u8> {
    let mut m = b"mynakit-reset/reserve-card/v1\0".to_vec();
    m.extend_from_slice(challenge);
    m.extend_from_slice(kind.as_str().as_bytes());
    m.push(0);
    m.extend_from_slice(device_key);
    m
}

/// What the installation key signs for a reservation: a domain label, the
/// challenge, the kind, SHA-256 of the face-check token (or of nothing) and
/// the installation key.
pub fn reservation_message(
    challenge: &[u8],
    kind: ResetKind,
    token: Option<&[u8]>,
    device_key: &[u8],
) -> Vec<u8> {
    let mut m = b"mynakit-reset/reserve/v1\0".to_vec();
    m.extend_from_slice(challenge);
    m.extend_from_slice(kind.as_str().as_bytes());
    m.push(0);
    m.extend_from_slice(&digest(token.unwrap_or_default()));
    m.extend_from_slice(device_key);
    m
}

/// What the installation key signs to cancel a reservation.
pub fn cancel_message(reservation_id: &str) -> Vec<u8> {
    let mut m = b"mynakit-reset/cancel/v1\0".to_vec();
    m.extend_from_slice(reservation_id.as_bytes());
    m
}

/// `POST /v1/reservations/{id}/cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    /// ES256 by the installation key over [`cancel_message`].
    #[serde(with = "hex_bytes")]
    pub device_signature: Vec<u8>,
}

/// The body of every refusal: `{"error": "<kind>", …}` (see the protocol's
/// table of statuses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The snake_case kind, e.g. `token_expired`.
    pub error: String,
    /// `already_reserved`: the live reservation's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `locked_out`: when the lock-out ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

pub use crate::hex::{hex_bytes, opt_hex_bytes};

pub use crate::hex::{from_hex, to_hex};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_garbage() {
        assert_eq!(to_hex(&[0x00, 0xab, 0x7f]), "00ab7f");
        assert_eq!(from_hex("00AB7f"), Some(vec![0x00, 0xab, 0x7f]));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("é1"), None);
    }
}
