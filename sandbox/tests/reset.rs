//! The reference reset authority and kiosk (issue 8), in process: each rule
//! (R1–R7, R10, R11) and each authority-side fault of the issue's "Bad input
//! and faults" list.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use mynakit_core::layout::{jpki, kenmen};
use mynakit_core::{
    Application, AuthorityError, AuthorityRequest, IdempotencyKey, ManualClock, Picture,
};
use mynakit_sandbox::fixtures::FixtureKey;
use mynakit_sandbox::reset::token::{es256_sign, generate_p256, sec1};
use mynakit_sandbox::reset::{
    CameraSubject, CaptureOutcome, CaptureRequest, InProcessLink, Kiosk, KioskError,
    OpenSessionRequest, Reservation, ReservationState, ReserveRequest, ResetAuthority, ResetError,
    ResetKind, SandboxCamera, SessionOpened, StoreChain, cancel_message, capture_message,
    reservation_card_message, reservation_message,
};
use mynakit_sandbox::{CardConfig, KioskResetError, VirtualCard};
use p256::ecdsa::SigningKey;
use rsa::Pkcs1v15Sign;
use sha2::{Digest, Sha256};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn key() -> IdempotencyKey {
    IdempotencyKey::generate().unwrap()
}

/// One phone (installation key) with one card, and the authority it talks to.
struct World {
    clock: Arc<ManualClock>,
    authority: Arc<ResetAuthority>,
    card: VirtualCard,
    device: SigningKey,
}

impl World {
    fn new() -> Self {
        Self::with_card(VirtualCard::sample())
    }

    fn with_card(card: VirtualCard) -> Self {
        let clock = Arc::new(ManualClock::new(start()));
        let authority = Arc::new(ResetAuthority::in_memory(clock.clone()).unwrap());
        Self {
            clock,
            authority,
            card,
            device: generate_p256().unwrap(),
        }
    }

    fn advance(&self, seconds: i64) {
        self.clock.advance(TimeDelta::seconds(seconds));
    }

    fn now(&self) -> DateTime<Utc> {
        use mynakit_core::Clock;
        self.clock.now()
    }

    fn device_key(&self) -> Vec<u8> {
        sec1(self.device.verifying_key())
    }

    fn kenmen(&self, file: mynakit_core::FileId) -> Vec<u8> {
        self.card
            .ef_content(Application::Kenmen, file)
            .unwrap()
            .to_vec()
    }

    fn photo(&self) -> Picture {
        let face = mynakit_core::CardFace::parse(&self.kenmen(kenmen::FACE)).unwrap();
        Picture::from_jpeg2000(&face.photo_jp2).unwrap()
    }

    fn token_label(&self) -> String {
        let label = self
            .card
            .ef_content(Application::Jpki, jpki::TOKEN_INFO)
            .unwrap();
        String::from_utf8_lossy(label)
            .trim_end_matches([' ', '\0'])
            .to_owned()
    }

    fn open(&self) -> SessionOpened {
        self.authority
            .open_session(
                &key(),
                &OpenSessionRequest {
                    auth_certificate: self.card.auth_certificate().der().to_vec(),
                    device_key: self.device_key(),
                },
            )
            .unwrap()
    }

    fn capture_request(
        &self,
        session: &SessionOpened,
        subject: CameraSubject,
        seed: u64,
    ) -> CaptureRequest {
        let frames = SandboxCamera::new(subject, seed).capture(
            &self.photo(),
            &session.actions,
            2,
            self.now(),
        );
        let face_record = self.kenmen(kenmen::FACE);
        let message = capture_message(&session.session_id, &session.nonce, &face_record, &frames);
        CaptureRequest {
            session_id: session.session_id.clone(),
            face_record,
            cv_certificate: self.kenmen(kenmen::CV_CERTIFICATE),
            frames,
            device_signature: es256_sign(&self.device, &message),
        }
    }

    fn capture(
        &self,
        session: &SessionOpened,
        subject: CameraSubject,
        seed: u64,
    ) -> Result<CaptureOutcome, ResetError> {
        self.authority
            .submit_capture(&key(), &self.capture_request(session, subject, seed))
    }

    /// A passed face check's token.
    fn token(&self) -> Vec<u8> {
        let session = self.open();
        let outcome = self.capture(&session, CameraSubject::Holder, 1).unwrap();
        assert!(outcome.passed);
        outcome.token.unwrap()
    }

    /// A reservation request signed by the card's other key (R4) and the
    /// installation key.
    fn reserve_request(&self, kind: ResetKind, token: Option<Vec<u8>>) -> ReserveRequest {
        let challenge = self.authority.challenge(&key()).unwrap();
        let (certificate, card_key) = match kind {
            ResetKind::SigningPassword => (self.card.auth_certificate(), FixtureKey::CardAuth),
            ResetKind::AuthPin => (
                self.card.signing_certificate().unwrap(),
                FixtureKey::CardSigning,
            ),
        };
        let message = reservation_message(
            &challenge.challenge,
            kind,
            token.as_deref(),
            &self.device_key(),
        );
        let card_message = reservation_card_message(&challenge.challenge, kind, &self.device_key());
        let jpki_signature = card_key
            .private_key()
            .sign(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(&card_message),
            )
            .unwrap();
        ReserveRequest {
            kind,
            challenge_id: challenge.challenge_id,
            face_check_token: token,
            certificate: certificate.der().to_vec(),
            jpki_signature,
            token_label: self.token_label(),
            face_record: self.kenmen(kenmen::FACE),
            cv_certificate: self.kenmen(kenmen::CV_CERTIFICATE),
            device_key: self.device_key(),
            device_signature: es256_sign(&self.device, &message),
        }
    }

    fn reserve(&self, kind: ResetKind, token: Option<Vec<u8>>) -> Result<Reservation, ResetError> {
        self.authority
            .reserve(&key(), &self.reserve_request(kind, token))
    }

    fn reserve_signing_password(&self) -> Reservation {
        let token = self.token();
        self.reserve(ResetKind::SigningPassword, Some(token))
            .unwrap()
    }
}

/// The kiosk over the in-process link (the routes a served sandbox
/// answers), driven to completion on this thread.
struct BlockingKiosk(Kiosk);

impl BlockingKiosk {
    fn redeem(
        &self,
        card: &mut VirtualCard,
        kind: ResetKind,
        other: &str,
        new: &str,
        key: &IdempotencyKey,
    ) -> Result<Reservation, KioskError> {
        pollster::block_on(self.0.redeem(card, kind, other, new, key))
    }
}

fn kiosk(world: &World, chain: StoreChain) -> BlockingKiosk {
    BlockingKiosk(Kiosk::in_process(world.authority.clone(), chain))
}

#[test]
fn a_session_asks_at_least_three_actions_with_the_documented_deadlines() {
    let world = World::new();
    let session = world.open();
    assert_eq!(session.session_id.len(), 32, "128-bit id in hex");
    assert_eq!(session.nonce.len(), 32);
    assert!(session.actions.len() >= 3);
    assert!(session.actions.windows(2).all(|w| w[0] != w[1]));
    assert_eq!(session.start_by, start() + TimeDelta::seconds(180));
    assert_eq!(session.ends_by, start() + TimeDelta::seconds(300));
    assert_eq!(session.max_attempts, 3);
    assert_ne!(world.open().session_id, session.session_id);
}

#[test]
fn r2_r4_r5_r6_signing_password_reserved_then_reset_at_a_kiosk() {
    let mut world = World::new();
    let reservation = world.reserve_signing_password();
    assert_eq!(reservation.kind, ResetKind::SigningPassword);
    assert_eq!(reservation.state, ReservationState::Reserved);
    assert_eq!(reservation.created_at, start());
    assert_eq!(reservation.expires_at, start() + TimeDelta::hours(24));
    assert_eq!(reservation.stores, StoreChain::ALL);
    assert_eq!(
        world.authority.reservation(&reservation.id).unwrap(),
        reservation
    );
    assert_eq!(
        world
            .authority
            .reservations_of(&world.device_key())
            .unwrap(),
        std::slice::from_ref(&reservation)
    );

    world.advance(3600);
    let kiosk = kiosk(&world, StoreChain::Lawson);
    let redeemed = kiosk
        .redeem(
            &mut world.card,
            ResetKind::SigningPassword,
            "1234",
            "NEWPASS9",
            &key(),
        )
        .unwrap();
    assert_eq!(redeemed.state, ReservationState::Redeemed);
    assert_eq!(redeemed.redeemed_at_chain, Some(StoreChain::Lawson));
    assert_eq!(
        world.card.tries_left(Application::Jpki, jpki::SIGNING_PIN),
        Some(5)
    );
}

#[test]
fn r3_r4_the_pin_reset_needs_no_face_check_and_signs_with_the_signing_key() {
    let mut world = World::new();
    let reservation = world.reserve(ResetKind::AuthPin, None).unwrap();
    assert_eq!(
        reservation.stores,
        [
            StoreChain::SevenEleven,
            StoreChain::AeonRetail,
            StoreChain::AeonHokkaido,
            StoreChain::AeonTohoku,
            StoreChain::Fuji
        ]
    );
    // A PIN blocked by three wrong tries is unblocked by the kiosk.
    for _ in 0..3 {
        world.card.process(&[
            0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00,
            0x01,
        ]);
        world
            .card
            .process(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]);
        world
            .card
            .process(&[0x00, 0x20, 0x00, 0x80, 0x04, b'9', b'9', b'9', b'9']);
    }
    assert_eq!(
        world.card.tries_left(Application::Jpki, jpki::AUTH_PIN),
        Some(0)
    );
    let kiosk = kiosk(&world, StoreChain::SevenEleven);
    kiosk
        .redeem(
            &mut world.card,
            ResetKind::AuthPin,
            "SANDBOX1",
            "5678",
            &key(),
        )
        .unwrap();
    assert_eq!(
        world.card.tries_left(Application::Jpki, jpki::AUTH_PIN),
        Some(3)
    );
}

#[test]
fn r4_the_same_key_as_the_secret_being_reset_is_refused() {
    let world = World::new();
    // A PIN reset "signed" with the authentication key (the PIN's own key).
    let mut request = world.reserve_request(ResetKind::AuthPin, None);
    request.certificate = world.card.auth_certificate().der().to_vec();
    assert_eq!(
        world.authority.reserve(&key(), &request),
        Err(ResetError::WrongKeyForKind {
            kind: ResetKind::AuthPin
        })
    );
}

#[test]
fn face_mismatch_and_occlusions_fail_with_pass_fail_only() {
    let world = World::new();
    for subject in [
        CameraSubject::AnotherHolder,
        CameraSubject::Masked,
        CameraSubject::Sunglasses,
    ] {
        let session = world.open();
        let outcome = world.capture(&session, subject, 3).unwrap();
        assert!(!outcome.passed, "{subject:?}");
        assert_eq!(outcome.token, None);
        assert_eq!(outcome.attempts_left, 2);
    }
}

#[test]
fn actions_out_of_order_fail() {
    let world = World::new();
    let session = world.open();
    let mut reordered = session.clone();
    // Rotated: a different order (no action is asked twice in a row).
    reordered.actions.rotate_left(1);
    assert_ne!(reordered.actions, session.actions);
    let request = world.capture_request(&reordered, CameraSubject::Holder, 4);
    // Signed for the real session (same id and nonce), frames in the wrong order.
    let outcome = world.authority.submit_capture(&key(), &request).unwrap();
    assert!(!outcome.passed);
}

#[test]
fn a_session_is_single_use_and_allows_three_attempts() {
    let world = World::new();
    let session = world.open();
    let passed = world.capture(&session, CameraSubject::Holder, 5).unwrap();
    assert!(passed.passed);
    assert_eq!(
        world.capture(&session, CameraSubject::Holder, 6),
        Err(ResetError::SessionClosed)
    );

    let session = world.open();
    for left in [2, 1, 0] {
        assert_eq!(
            world
                .capture(&session, CameraSubject::AnotherHolder, 7)
                .unwrap()
                .attempts_left,
            left
        );
    }
    assert_eq!(
        world.capture(&session, CameraSubject::Holder, 8),
        Err(ResetError::SessionClosed)
    );
}

#[test]
fn a_session_past_its_start_deadline_or_hard_cap_is_refused() {
    let world = World::new();
    let session = world.open();
    world.advance(181);
    assert_eq!(
        world.capture(&session, CameraSubject::Holder, 9),
        Err(ResetError::SessionExpired)
    );

    let session = world.open();
    world.advance(170);
    assert!(
        !world
            .capture(&session, CameraSubject::AnotherHolder, 10)
            .unwrap()
            .passed
    );
    world.advance(131);
    assert_eq!(
        world.capture(&session, CameraSubject::Holder, 11),
        Err(ResetError::SessionExpired)
    );
}

#[test]
fn frames_from_before_the_session_fail() {
    let world = World::new();
    let session = world.open();
    let mut request = world.capture_request(&session, CameraSubject::Holder, 12);
    for frame in &mut request.frames {
        frame.captured_at -= TimeDelta::seconds(600);
    }
    let message = capture_message(
        &session.session_id,
        &session.nonce,
        &request.face_record,
        &request.frames,
    );
    request.device_signature = es256_sign(&world.device, &message);
    assert!(
        !world
            .authority
            .submit_capture(&key(), &request)
            .unwrap()
            .passed
    );
}

#[test]
fn a_face_record_not_signed_by_the_issuer_is_refused() {
    let world = World::new();
    let session = world.open();
    let mut request = world.capture_request(&session, CameraSubject::Holder, 13);
    // Flip a byte inside the photo (DF27 is signed).
    let at = request.face_record.len() / 2;
    request.face_record[at] ^= 0x01;
    let message = capture_message(
        &session.session_id,
        &session.nonce,
        &request.face_record,
        &request.frames,
    );
    request.device_signature = es256_sign(&world.device, &message);
    assert!(matches!(
        world.authority.submit_capture(&key(), &request),
        Err(ResetError::FaceRecordRefused { .. })
    ));
}

#[test]
fn r7_a_card_without_a_birth_date_is_refused() {
    let mut config = CardConfig::sample();
    config.holder.birth_date = None;
    let world = World::with_card(VirtualCard::new(config).unwrap());
    assert_eq!(
        world.reserve(ResetKind::AuthPin, None),
        Err(ResetError::BirthDateUnknown)
    );
    let session = world.open();
    let request = world.capture_request(&session, CameraSubject::Holder, 14);
    assert_eq!(
        world.authority.submit_capture(&key(), &request),
        Err(ResetError::BirthDateUnknown)
    );
}

#[test]
fn r10_a_phone_held_jpki_token_is_refused() {
    let world = World::new();
    let mut request = world.reserve_request(ResetKind::AuthPin, None);
    request.token_label = "JPKIAPGPSETOKEN".to_owned();
    assert_eq!(
        world.authority.reserve(&key(), &request),
        Err(ResetError::NotAPhysicalCard)
    );
    request.token_label = "JPKIAPIOSTOKEN".to_owned();
    assert_eq!(
        world.authority.reserve(&key(), &request),
        Err(ResetError::NotAPhysicalCard)
    );
}

#[test]
fn r2_a_signing_password_reservation_needs_a_token() {
    let world = World::new();
    assert_eq!(
        world.reserve(ResetKind::SigningPassword, None),
        Err(ResetError::TokenRequired)
    );
}

#[test]
fn a_token_past_its_300_seconds_is_refused() {
    let world = World::new();
    let token = world.token();
    world.advance(301);
    assert_eq!(
        world.reserve(ResetKind::SigningPassword, Some(token)),
        Err(ResetError::TokenExpired)
    );
}

#[test]
fn a_token_is_redeemed_once() {
    let world = World::new();
    let token = world.token();
    let first = world
        .reserve(ResetKind::SigningPassword, Some(token.clone()))
        .unwrap();
    world
        .authority
        .cancel(
            &key(),
            &first.id,
            &es256_sign(&world.device, &cancel_message(&first.id)),
        )
        .unwrap();
    assert_eq!(
        world.reserve(ResetKind::SigningPassword, Some(token)),
        Err(ResetError::TokenReplayed)
    );
}

#[test]
fn a_token_for_another_device_is_refused() {
    let world = World::new();
    let token = world.token();
    let thief = World {
        device: generate_p256().unwrap(),
        ..world
    };
    assert_eq!(
        thief.reserve(ResetKind::SigningPassword, Some(token)),
        Err(ResetError::TokenForAnotherDevice)
    );
}

#[test]
fn a_token_for_another_card_is_refused() {
    let world = World::new();
    let token = world.token();
    let mut config = CardConfig::sample();
    config.issued_on = NaiveDate::from_ymd_opt(2025, 5, 1).unwrap();
    let other = World {
        card: VirtualCard::new(config).unwrap(),
        ..world
    };
    assert_ne!(
        other.card.auth_certificate().der(),
        VirtualCard::sample().auth_certificate().der()
    );
    assert_eq!(
        other.reserve(ResetKind::SigningPassword, Some(token)),
        Err(ResetError::TokenForAnotherCard)
    );
}

#[test]
fn a_forged_token_is_refused() {
    let world = World::new();
    let mut token = world.token();
    let last = token.len() - 1;
    token[last] ^= 0x01;
    assert_eq!(
        world.reserve(ResetKind::SigningPassword, Some(token)),
        Err(ResetError::TokenInvalid)
    );
}

#[test]
fn r5_a_kiosk_refuses_at_24_hours_and_one_second() {
    let mut world = World::new();
    world.reserve_signing_password();
    world.advance(24 * 3600 + 1);
    let kiosk = kiosk(&world, StoreChain::SevenEleven);
    assert_eq!(
        kiosk.redeem(
            &mut world.card,
            ResetKind::SigningPassword,
            "1234",
            "NEWPASS9",
            &key()
        ),
        Err(KioskError::Authority(ResetError::ReservationExpired))
    );
    // Nothing changed on the card.
    assert_eq!(
        world.card.tries_left(Application::Jpki, jpki::AUTH_PIN),
        Some(3)
    );
    let listed = world
        .authority
        .reservations_of(&world.device_key())
        .unwrap();
    assert_eq!(listed[0].state, ReservationState::Expired);
}

#[test]
fn r5_a_kiosk_still_accepts_at_exactly_24_hours() {
    let mut world = World::new();
    world.reserve_signing_password();
    world.advance(24 * 3600);
    let kiosk = kiosk(&world, StoreChain::FamilyMart);
    assert!(
        kiosk
            .redeem(
                &mut world.card,
                ResetKind::SigningPassword,
                "1234",
                "NEWPASS9",
                &key()
            )
            .is_ok()
    );
}

#[test]
fn r6_a_pin_reset_at_lawson_is_refused() {
    let mut world = World::new();
    world.reserve(ResetKind::AuthPin, None).unwrap();
    let kiosk = kiosk(&world, StoreChain::Lawson);
    assert_eq!(
        kiosk.redeem(
            &mut world.card,
            ResetKind::AuthPin,
            "SANDBOX1",
            "5678",
            &key()
        ),
        Err(KioskError::Authority(ResetError::ChainRefused {
            chain: StoreChain::Lawson,
            kind: ResetKind::AuthPin
        }))
    );
    // The signing password was not even tried.
    assert_eq!(
        world.card.tries_left(Application::Jpki, jpki::SIGNING_PIN),
        Some(5)
    );
}

#[test]
fn a_reservation_is_redeemed_once() {
    let mut world = World::new();
    world.reserve(ResetKind::AuthPin, None).unwrap();
    let kiosk = kiosk(&world, StoreChain::AeonRetail);
    kiosk
        .redeem(
            &mut world.card,
            ResetKind::AuthPin,
            "SANDBOX1",
            "5678",
            &key(),
        )
        .unwrap();
    assert_eq!(
        kiosk.redeem(
            &mut world.card,
            ResetKind::AuthPin,
            "SANDBOX1",
            "4321",
            &key()
        ),
        Err(KioskError::Authority(ResetError::AlreadyRedeemed))
    );
}

#[test]
fn a_wrong_other_secret_at_the_kiosk_spends_a_try_and_keeps_the_reservation() {
    let mut world = World::new();
    let reservation = world.reserve(ResetKind::AuthPin, None).unwrap();
    let kiosk = kiosk(&world, StoreChain::Fuji);
    assert_eq!(
        kiosk.redeem(
            &mut world.card,
            ResetKind::AuthPin,
            "WRONG123",
            "5678",
            &key()
        ),
        Err(KioskError::Card(KioskResetError::WrongOtherSecret {
            tries_left: 4
        }))
    );
    assert_eq!(
        world.authority.reservation(&reservation.id).unwrap().state,
        ReservationState::Reserved
    );
}

#[test]
fn one_live_reservation_per_card_and_kind_and_cancel_frees_it() {
    let world = World::new();
    let first = world.reserve(ResetKind::AuthPin, None).unwrap();
    assert_eq!(
        world.reserve(ResetKind::AuthPin, None),
        Err(ResetError::AlreadyReserved {
            id: first.id.clone()
        })
    );
    // The other kind is separate.
    world.reserve_signing_password();
    // Cancelling needs the installation key's signature.
    let forged = es256_sign(&generate_p256().unwrap(), &cancel_message(&first.id));
    assert_eq!(
        world.authority.cancel(&key(), &first.id, &forged),
        Err(ResetError::BadDeviceSignature)
    );
    let cancelled = world
        .authority
        .cancel(
            &key(),
            &first.id,
            &es256_sign(&world.device, &cancel_message(&first.id)),
        )
        .unwrap();
    assert_eq!(cancelled.state, ReservationState::Cancelled);
    assert!(world.reserve(ResetKind::AuthPin, None).is_ok());
}

#[test]
fn an_expired_reservation_frees_its_card_and_kind() {
    let world = World::new();
    world.reserve(ResetKind::AuthPin, None).unwrap();
    world.advance(24 * 3600 + 1);
    assert!(world.reserve(ResetKind::AuthPin, None).is_ok());
}

#[test]
fn a_revoked_certificate_is_refused() {
    let world = World::new();
    world
        .authority
        .revoke(&world.card.signing_certificate().unwrap().serial_hex());
    assert_eq!(
        world.reserve(ResetKind::AuthPin, None),
        Err(ResetError::CertificateRevoked)
    );
}

#[test]
fn a_bad_jpki_signature_or_a_reused_challenge_is_refused() {
    let world = World::new();
    let mut request = world.reserve_request(ResetKind::AuthPin, None);
    request.jpki_signature[10] ^= 0x01;
    assert_eq!(
        world.authority.reserve(&key(), &request),
        Err(ResetError::BadSignature)
    );
    // The challenge was spent by that attempt.
    let retry = ReserveRequest {
        jpki_signature: world
            .reserve_request(ResetKind::AuthPin, None)
            .jpki_signature,
        ..request
    };
    assert_eq!(
        world.authority.reserve(&key(), &retry),
        Err(ResetError::ChallengeUsed)
    );
}

#[test]
fn r11_five_failures_in_three_minutes_lock_the_device_and_card_out_for_30_minutes() {
    let world = World::new();
    let mut failures = 0;
    while failures < 5 {
        let session = world.open();
        for _ in 0..3 {
            if failures == 5 {
                break;
            }
            assert!(
                !world
                    .capture(&session, CameraSubject::AnotherHolder, failures)
                    .unwrap()
                    .passed
            );
            failures += 1;
            world.advance(10);
        }
    }
    let until = world.now() - TimeDelta::seconds(10) + TimeDelta::minutes(30);
    let locked = ResetError::LockedOut { until };
    let refused = world.authority.open_session(
        &key(),
        &OpenSessionRequest {
            auth_certificate: world.card.auth_certificate().der().to_vec(),
            device_key: world.device_key(),
        },
    );
    assert_eq!(refused, Err(locked.clone()));
    assert_eq!(locked.http_status(), 429);
    assert_eq!(locked.retry_after(world.now()), Some(30 * 60 - 10));
    // Through the API, the phone's core sees a 429 with its Retry-After.
    let link = InProcessLink::new(world.authority.clone());
    let body = serde_json::to_vec(&OpenSessionRequest {
        auth_certificate: world.card.auth_certificate().der().to_vec(),
        device_key: world.device_key(),
    })
    .unwrap();
    let answer = pollster::block_on(mynakit_core::authority::send(
        &link,
        AuthorityRequest::post("/v1/face-check/sessions", body, &key()),
        world.clock.as_ref(),
    ));
    match answer {
        Err(AuthorityError::RateLimited { retry_after }) => {
            assert_eq!(
                retry_after,
                Some(std::time::Duration::from_secs(30 * 60 - 10))
            );
        }
        other => panic!("expected 429 with Retry-After, got {other:?}"),
    }
    // The card is locked out from another phone too.
    let other_phone = World {
        device: generate_p256().unwrap(),
        ..world
    };
    assert_eq!(
        other_phone.authority.open_session(
            &key(),
            &OpenSessionRequest {
                auth_certificate: other_phone.card.auth_certificate().der().to_vec(),
                device_key: other_phone.device_key(),
            },
        ),
        Err(locked)
    );
    other_phone.advance(30 * 60);
    other_phone.open();
}

#[test]
fn failures_spread_over_more_than_three_minutes_do_not_lock_out() {
    let world = World::new();
    for seed in 0..6 {
        let session = world.open();
        assert!(
            !world
                .capture(&session, CameraSubject::AnotherHolder, seed)
                .unwrap()
                .passed
        );
        world.advance(60);
    }
    world.open();
}

#[test]
fn a_retry_with_the_same_idempotency_key_creates_nothing_twice() {
    let world = World::new();
    let open = OpenSessionRequest {
        auth_certificate: world.card.auth_certificate().der().to_vec(),
        device_key: world.device_key(),
    };
    let k = key();
    let first = world.authority.open_session(&k, &open).unwrap();
    assert_eq!(world.authority.open_session(&k, &open).unwrap(), first);

    let capture = world.capture_request(&first, CameraSubject::Holder, 20);
    let k = key();
    let passed = world.authority.submit_capture(&k, &capture).unwrap();
    assert!(passed.passed);
    // The answer was lost; the same request again gets the same token back.
    assert_eq!(
        world.authority.submit_capture(&k, &capture).unwrap(),
        passed
    );

    let request = world.reserve_request(ResetKind::SigningPassword, passed.token);
    let k = key();
    let reservation = world.authority.reserve(&k, &request).unwrap();
    assert_eq!(world.authority.reserve(&k, &request).unwrap(), reservation);
    assert_eq!(
        world
            .authority
            .reservations_of(&world.device_key())
            .unwrap()
            .len(),
        1
    );

    // The same key with another request is refused.
    let other = world.reserve_request(ResetKind::AuthPin, None);
    assert_eq!(
        world.authority.reserve(&k, &other),
        Err(ResetError::IdempotencyKeyReused)
    );
}

#[test]
fn errors_travel_as_typed_json_with_a_status() {
    let error = ResetError::ChainRefused {
        chain: StoreChain::Lawson,
        kind: ResetKind::AuthPin,
    };
    let json = serde_json::to_value(&error).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"error": "chain_refused", "chain": "lawson", "kind": "auth_pin"})
    );
    assert_eq!(error.http_status(), 403);
    assert_eq!(ResetError::TokenReplayed.http_status(), 409);
    assert_eq!(ResetError::ReservationExpired.http_status(), 410);
}

#[test]
fn a_reservation_survives_a_restart_of_a_file_backed_authority() {
    let dir = std::env::temp_dir().join(format!("mynakit-reset-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("authority.db");
    let _ = std::fs::remove_file(&path);
    let clock = Arc::new(ManualClock::new(start()));
    let world = World {
        authority: Arc::new(ResetAuthority::open(&path, clock.clone()).unwrap()),
        clock: clock.clone(),
        ..World::new()
    };
    let token = world.token();
    let World { card, device, .. } = world;
    // A token minted before the restart still verifies after it.
    let world = World {
        authority: Arc::new(ResetAuthority::open(&path, clock.clone()).unwrap()),
        clock,
        card,
        device,
    };
    let reservation = world.reserve(ResetKind::SigningPassword, Some(token));
    assert!(reservation.is_ok(), "{reservation:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// VERIFY of the signing password through ordinary APDUs: the status word.
fn verify_signing_password(card: &mut VirtualCard, password: &str) -> [u8; 2] {
    let select_jpki = [
        0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01,
    ];
    assert_eq!(card.process(&select_jpki), [0x90, 0x00]);
    assert_eq!(
        card.process(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x1B]),
        [0x90, 0x00]
    );
    let mut verify = vec![
        0x00,
        0x20,
        0x00,
        0x80,
        u8::try_from(password.len()).unwrap(),
    ];
    verify.extend_from_slice(password.as_bytes());
    let answer = card.process(&verify);
    [answer[0], answer[1]]
}

#[test]
fn after_the_kiosk_the_new_signing_password_verifies_and_the_old_one_does_not() {
    let mut world = World::new();
    world.reserve_signing_password();
    kiosk(&world, StoreChain::Ministop)
        .redeem(
            &mut world.card,
            ResetKind::SigningPassword,
            "1234",
            "NEWPASS9",
            &key(),
        )
        .unwrap();
    assert_eq!(
        verify_signing_password(&mut world.card, "NEWPASS9"),
        [0x90, 0x00]
    );
    assert_eq!(
        verify_signing_password(&mut world.card, "SANDBOX1"),
        [0x63, 0xC4]
    );
}

#[test]
fn a_new_secret_of_the_wrong_format_is_refused_by_the_card_and_the_reservation_stays() {
    let mut world = World::new();
    let reservation = world.reserve_signing_password();
    let kiosk = kiosk(&world, StoreChain::SevenEleven);
    assert_eq!(
        kiosk.redeem(
            &mut world.card,
            ResetKind::SigningPassword,
            "1234",
            "short",
            &key()
        ),
        Err(KioskError::Card(KioskResetError::BadNewSecret))
    );
    assert_eq!(
        world.authority.reservation(&reservation.id).unwrap().state,
        ReservationState::Reserved
    );
    // Nothing was spent on the card either.
    assert_eq!(
        world.card.tries_left(Application::Jpki, jpki::AUTH_PIN),
        Some(3)
    );
    assert_eq!(
        verify_signing_password(&mut world.card, "SANDBOX1"),
        [0x90, 0x00]
    );
}
