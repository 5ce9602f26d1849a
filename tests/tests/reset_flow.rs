//! The PIN-reset app's flow on the phone (`mynakit_core::reset`, issue 8)
//! against the reference authority in process: both kinds end to end, the
//! rules the phone itself enforces (R2–R7, R10), and what the phone keeps.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use mynakit_core::layout::{Application, jpki, kenmen};
use mynakit_core::reset::{
    OtherSecret, Refusal, ReservationState, ResetClient, ResetError, ResetFlow, ResetKind,
    StoreChain,
};
use mynakit_core::{
    AuthPin, CardChannel, CheckCodeB, Clock, LastTry, ManualClock, SigningPassword,
    SoftwareSecureArea, Store,
};
use mynakit_sandbox::reset::{CameraSubject, InProcessLink, ResetAuthority, SandboxCamera};
use mynakit_sandbox::{CardConfig, LinkSwitches, Sandbox, VirtualTransport};
use mynakit_tests::{
    FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE, PIN, SIGNING_PASSWORD, block_on,
};

const AUTHORITY: &str = "https://reset.sandbox.mynakit.invalid";

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// One phone and one card talking to one authority; the phone's clock and
/// the authority's are the same manual clock unless a test says otherwise.
struct Phone {
    clock: Arc<ManualClock>,
    authority: Arc<ResetAuthority>,
    store: Arc<Store>,
    secure_area: Arc<SoftwareSecureArea>,
    client: ResetClient,
    sandbox: Sandbox,
}

impl Phone {
    fn new() -> Self {
        Self::with_sandbox(Sandbox::new())
    }

    fn with_sandbox(sandbox: Sandbox) -> Self {
        let clock = Arc::new(ManualClock::new(start()));
        let authority = Arc::new(ResetAuthority::in_memory(clock.clone()).unwrap());
        let store = Arc::new(Store::open_in_memory().unwrap());
        let secure_area = Arc::new(SoftwareSecureArea::in_memory());
        let client = ResetClient::new(
            Arc::new(InProcessLink::new(authority.clone())),
            store.clone(),
            secure_area.clone(),
            clock.clone(),
            AUTHORITY,
        )
        .unwrap();
        Self {
            clock,
            authority,
            store,
            secure_area,
            client,
            sandbox,
        }
    }

    fn channel(&self) -> CardChannel<VirtualTransport> {
        CardChannel::new(self.sandbox.transport(LinkSwitches::default()))
    }

    fn tries(&self, app: Application, file: mynakit_core::FileId) -> Option<u8> {
        self.sandbox.card().tries_left(app, file)
    }

    fn tap(&self, flow: &mut ResetFlow, other: &OtherSecret) -> Result<(), ResetError> {
        block_on(
            self.client
                .tap(flow, &mut self.channel(), &front(), other, LastTry::Refuse),
        )
    }

    /// The face check with the sandbox camera filming `subject`.
    fn face_check(&self, flow: &mut ResetFlow, subject: CameraSubject) -> bool {
        let prompt = block_on(self.client.open_face_check(flow)).unwrap();
        assert!(prompt.actions.len() >= 3, "R2: at least three actions");
        let photo = flow.chip_photo().unwrap().unwrap();
        let frames =
            SandboxCamera::new(subject, 7).capture(&photo, &prompt.actions, 2, self.client.now());
        block_on(self.client.submit_capture(flow, frames))
            .unwrap()
            .passed
    }

    fn reserve_signing_password(&self) -> mynakit_core::reset::KeptReservation {
        let mut flow = block_on(self.client.begin(ResetKind::SigningPassword)).unwrap();
        self.tap(&mut flow, &auth_pin()).unwrap();
        assert!(self.face_check(&mut flow, CameraSubject::Holder));
        block_on(self.client.reserve(&mut flow)).unwrap()
    }
}

fn front() -> CheckCodeB {
    CheckCodeB::from_card_front(FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE).unwrap()
}

fn auth_pin() -> OtherSecret {
    OtherSecret::AuthPin(AuthPin::new(PIN).unwrap())
}

fn signing_password() -> OtherSecret {
    OtherSecret::SigningPassword(SigningPassword::new(SIGNING_PASSWORD).unwrap())
}

#[test]
fn r2_r4_r5_r6_a_signing_password_reservation_end_to_end() {
    let phone = Phone::new();
    let kept = phone.reserve_signing_password();
    let r = &kept.reservation;
    assert_eq!(r.kind, ResetKind::SigningPassword);
    assert_eq!(r.state, ReservationState::Reserved);
    assert_eq!(r.created_at, start());
    assert_eq!(r.expires_at - r.created_at, TimeDelta::hours(24), "R5");
    assert_eq!(r.stores, StoreChain::ALL.to_vec(), "R6: every chain");
    assert_eq!(
        kept.time_left,
        Some(std::time::Duration::from_secs(24 * 3600))
    );
    assert_eq!(
        kept.partial_chains,
        vec![
            StoreChain::AeonHokkaido,
            StoreChain::AeonTohoku,
            StoreChain::Fuji,
            StoreChain::Daiei
        ]
    );
    // R4: the 4-digit PIN verified (tries back to full), the signing
    // password untouched.
    assert_eq!(phone.tries(Application::Jpki, jpki::AUTH_PIN), Some(3));
    assert_eq!(phone.tries(Application::Jpki, jpki::SIGNING_PIN), Some(5));
    // Offline: the store answers, and time runs by the corrected clock.
    phone.clock.advance(TimeDelta::hours(23));
    let offline = phone.client.reservations().unwrap();
    assert_eq!(offline.len(), 1);
    assert_eq!(offline[0].reservation.id, r.id);
    assert_eq!(
        offline[0].time_left,
        Some(std::time::Duration::from_secs(3600))
    );
    phone
        .clock
        .advance(TimeDelta::hours(1) + TimeDelta::seconds(1));
    let offline = phone.client.reservations().unwrap();
    assert_eq!(offline[0].state_now, ReservationState::Expired, "R5");
    assert_eq!(offline[0].time_left, None);
}

#[test]
fn r3_r4_r6_a_pin_reservation_needs_no_face_check_and_the_signing_password() {
    let phone = Phone::new();
    let mut flow = block_on(phone.client.begin(ResetKind::AuthPin)).unwrap();
    phone.tap(&mut flow, &signing_password()).unwrap();
    assert!(matches!(
        block_on(phone.client.open_face_check(&mut flow)),
        Err(ResetError::OutOfOrder { .. })
    ));
    let kept = block_on(phone.client.reserve(&mut flow)).unwrap();
    assert_eq!(kept.reservation.kind, ResetKind::AuthPin);
    assert_eq!(
        kept.reservation.stores,
        vec![
            StoreChain::SevenEleven,
            StoreChain::AeonRetail,
            StoreChain::AeonHokkaido,
            StoreChain::AeonTohoku,
            StoreChain::Fuji
        ],
        "R6: the 4-digit PIN only at these chains"
    );
    assert_eq!(phone.tries(Application::Jpki, jpki::SIGNING_PIN), Some(5));
}

#[test]
fn r4_the_secret_being_reset_is_refused_before_the_card_is_touched() {
    let phone = Phone::new();
    let mut flow = block_on(phone.client.begin(ResetKind::SigningPassword)).unwrap();
    let mut channel = phone.channel();
    let result = block_on(phone.client.tap(
        &mut flow,
        &mut channel,
        &front(),
        &signing_password(),
        LastTry::Refuse,
    ));
    assert!(matches!(result, Err(ResetError::WrongSecretForKind)));
    assert_eq!(channel.transport().exchanges(), 0);
}

#[test]
fn r2_no_signing_password_reservation_without_a_passed_face_check() {
    let phone = Phone::new();
    let mut flow = block_on(phone.client.begin(ResetKind::SigningPassword)).unwrap();
    phone.tap(&mut flow, &auth_pin()).unwrap();
    assert!(!phone.face_check(&mut flow, CameraSubject::AnotherHolder));
    assert!(!flow.face_check_passed());
    assert!(matches!(
        block_on(phone.client.reserve(&mut flow)),
        Err(ResetError::OutOfOrder { .. })
    ));
    assert!(phone.client.reservations().unwrap().is_empty());
}

#[test]
fn r10_a_phone_held_jpki_token_is_refused_before_any_pin_is_sent() {
    let phone = Phone::with_sandbox(
        Sandbox::with_config(CardConfig {
            token_label: "JPKIAPGPSETOKEN".into(),
            ..CardConfig::sample()
        })
        .unwrap(),
    );
    let mut flow = block_on(phone.client.begin(ResetKind::SigningPassword)).unwrap();
    match phone.tap(&mut flow, &auth_pin()) {
        Err(ResetError::NotPhysicalCard { label }) => assert_eq!(label, "JPKIAPGPSETOKEN"),
        other => panic!("expected NotPhysicalCard, got {other:?}"),
    }
    assert_eq!(phone.tries(Application::Jpki, jpki::AUTH_PIN), Some(3));
    assert!(!phone.sandbox.card().is_verified(jpki::AUTH_PIN));
}

#[test]
fn a_wrong_check_code_is_typed_and_never_retried_nor_followed_by_a_pin() {
    let phone = Phone::new();
    let before = phone
        .tries(Application::Kenmen, kenmen::CHECK_CODE_B)
        .unwrap();
    let misread = CheckCodeB::from_card_front(FRONT_BIRTH_DATE, FRONT_EXPIRY, "4822").unwrap();
    let mut flow = block_on(phone.client.begin(ResetKind::SigningPassword)).unwrap();
    let result = block_on(phone.client.tap(
        &mut flow,
        &mut phone.channel(),
        &misread,
        &auth_pin(),
        LastTry::Refuse,
    ));
    assert!(
        matches!(result, Err(ResetError::Card(mynakit_core::CardError::WrongCheckCode { tries_left })) if tries_left == before - 1),
        "{result:?}"
    );
    // Spent exactly one try of 照合番号B, none of the PIN.
    assert_eq!(
        phone.tries(Application::Kenmen, kenmen::CHECK_CODE_B),
        Some(before - 1)
    );
    assert_eq!(phone.tries(Application::Jpki, jpki::AUTH_PIN), Some(3));
    // Corrected by hand (R8), the next tap goes through.
    phone.tap(&mut flow, &auth_pin()).unwrap();
}

#[test]
fn one_live_reservation_per_card_and_kind_and_the_refusal_names_it() {
    let phone = Phone::new();
    let first = phone.reserve_signing_password();
    let mut flow = block_on(phone.client.begin(ResetKind::SigningPassword)).unwrap();
    phone.tap(&mut flow, &auth_pin()).unwrap();
    assert!(phone.face_check(&mut flow, CameraSubject::Holder));
    match block_on(phone.client.reserve(&mut flow)) {
        Err(ResetError::Refused {
            error: Refusal::AlreadyReserved,
            status: 409,
            id: Some(id),
        }) => assert_eq!(id, first.reservation.id),
        other => panic!("expected AlreadyReserved, got {other:?}"),
    }
    assert_eq!(phone.client.reservations().unwrap().len(), 1);
}

#[test]
fn cancel_is_kept_and_frees_the_card_and_kind() {
    let phone = Phone::new();
    let kept = phone.reserve_signing_password();
    let cancelled = block_on(phone.client.cancel(&kept.reservation.id)).unwrap();
    assert_eq!(cancelled.reservation.state, ReservationState::Cancelled);
    assert_eq!(cancelled.time_left, None);
    let offline = phone.client.reservations().unwrap();
    assert_eq!(offline[0].state_now, ReservationState::Cancelled);
    // Cancelling again: the authority's answer, typed.
    assert!(matches!(
        block_on(phone.client.cancel(&kept.reservation.id)),
        Err(ResetError::Refused {
            error: Refusal::ReservationCancelled,
            ..
        })
    ));
    phone.reserve_signing_password();
}

#[test]
fn refresh_finds_what_the_authority_holds_for_this_installation() {
    let phone = Phone::new();
    let kept = phone.reserve_signing_password();
    // The same installation with a store that never saw the answer (the
    // app was killed as it arrived): refresh asks the authority.
    let fresh = ResetClient::new(
        Arc::new(InProcessLink::new(phone.authority.clone())),
        Arc::new(Store::open_in_memory().unwrap()),
        phone.secure_area.clone(),
        phone.clock.clone(),
        AUTHORITY,
    )
    .unwrap();
    assert!(fresh.reservations().unwrap().is_empty());
    let listed = block_on(fresh.refresh()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reservation, kept.reservation);
    assert_eq!(fresh.reservations().unwrap().len(), 1, "kept offline");
    // Another installation sees none of it.
    let other = ResetClient::new(
        Arc::new(InProcessLink::new(phone.authority.clone())),
        Arc::new(Store::open_in_memory().unwrap()),
        Arc::new(SoftwareSecureArea::in_memory()),
        phone.clock.clone(),
        AUTHORITY,
    )
    .unwrap();
    assert!(block_on(other.refresh()).unwrap().is_empty());
}

#[test]
fn the_phone_shows_times_by_the_authoritys_clock() {
    // The phone's own clock is an hour fast; the authority's Date header
    // corrects it, and the store keeps the offset for the next start.
    let phone = Phone::new();
    let fast = Arc::new(ManualClock::new(start() + TimeDelta::hours(1)));
    let client = ResetClient::new(
        Arc::new(InProcessLink::new(phone.authority.clone())),
        phone.store.clone(),
        Arc::new(SoftwareSecureArea::in_memory()),
        fast.clone(),
        AUTHORITY,
    )
    .unwrap();
    assert_eq!(client.now(), start() + TimeDelta::hours(1));
    block_on(client.begin(ResetKind::AuthPin)).unwrap();
    assert_eq!(client.now(), start());
    let restarted = ResetClient::new(
        Arc::new(InProcessLink::new(phone.authority.clone())),
        phone.store.clone(),
        Arc::new(SoftwareSecureArea::in_memory()),
        fast,
        AUTHORITY,
    )
    .unwrap();
    assert_eq!(restarted.now(), start());
    assert_eq!(phone.clock.now(), start());
}

#[test]
fn the_last_try_of_the_check_code_needs_its_own_consent() {
    let phone = Phone::new();
    let misread = CheckCodeB::from_card_front(FRONT_BIRTH_DATE, FRONT_EXPIRY, "4822").unwrap();
    let mut flow = block_on(phone.client.begin(ResetKind::SigningPassword)).unwrap();
    while phone.tries(Application::Kenmen, kenmen::CHECK_CODE_B) > Some(1) {
        let wrong = block_on(phone.client.tap(
            &mut flow,
            &mut phone.channel(),
            &misread,
            &auth_pin(),
            LastTry::Allow,
        ));
        assert!(
            matches!(
                wrong,
                Err(ResetError::Card(
                    mynakit_core::CardError::WrongCheckCode { .. }
                ))
            ),
            "{wrong:?}"
        );
    }
    // Consent for the PIN's last try is not consent for 照合番号B's.
    let mut channel = phone.channel();
    let refused = block_on(phone.client.tap(
        &mut flow,
        &mut channel,
        &front(),
        &auth_pin(),
        LastTry::Allow,
    ));
    assert!(
        matches!(refused, Err(ResetError::CheckCodeLastTry)),
        "{refused:?}"
    );
    assert_eq!(
        phone.tries(Application::Kenmen, kenmen::CHECK_CODE_B),
        Some(1)
    );
    assert!(
        !channel
            .transcript()
            .exchanges()
            .iter()
            .any(|e| e.trace_line().contains("<PIN redacted>")),
        "no code was sent"
    );
    flow.allow_check_code_last_try();
    phone.tap(&mut flow, &auth_pin()).unwrap();
    assert_eq!(
        phone.tries(Application::Kenmen, kenmen::CHECK_CODE_B),
        Some(10),
        "the right code resets the counter"
    );
}

#[test]
fn a_cancel_of_something_that_is_not_a_reservation_id_sends_nothing() {
    let phone = Phone::new();
    for id in ["", "../challenges", "abc?device_key=00", "ab cd"] {
        assert!(
            matches!(
                block_on(phone.client.cancel(id)),
                Err(ResetError::NotAReservationId { .. })
            ),
            "{id:?}"
        );
    }
    assert!(
        phone
            .store
            .transaction(|tx| tx.pending_operations())
            .unwrap()
            .is_empty()
    );
}

/// Delivers every request to the authority; the chosen one's answer never
/// comes (the app will cancel the step while it waits).
struct StallingLink {
    inner: InProcessLink,
    stall_path_ending: &'static str,
    stalled: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl mynakit_core::AuthorityLink for StallingLink {
    async fn send(
        &self,
        request: mynakit_core::AuthorityRequest,
    ) -> Result<mynakit_core::AuthorityResponse, mynakit_core::LinkError> {
        let stall = request.path().ends_with(self.stall_path_ending)
            && !self.stalled.swap(true, std::sync::atomic::Ordering::SeqCst);
        let answer = self.inner.send(request).await;
        if stall {
            std::future::pending::<()>().await;
        }
        answer
    }
}

#[test]
fn a_step_cancelled_after_the_authority_acted_goes_again_byte_for_byte() {
    let phone = Phone::new();
    let client = ResetClient::new(
        Arc::new(StallingLink {
            inner: InProcessLink::new(phone.authority.clone()),
            stall_path_ending: "/captures",
            stalled: std::sync::atomic::AtomicBool::new(false),
        }),
        phone.store.clone(),
        phone.secure_area.clone(),
        phone.clock.clone(),
        AUTHORITY,
    )
    .unwrap();
    let mut flow = block_on(client.begin(ResetKind::SigningPassword)).unwrap();
    block_on(client.tap(
        &mut flow,
        &mut phone.channel(),
        &front(),
        &auth_pin(),
        LastTry::Refuse,
    ))
    .unwrap();
    let prompt = block_on(client.open_face_check(&mut flow)).unwrap();
    let photo = flow.chip_photo().unwrap().unwrap();
    let frames = |seed| {
        SandboxCamera::new(CameraSubject::Holder, seed).capture(
            &photo,
            &prompt.actions,
            2,
            client.now(),
        )
    };
    {
        // The app cancels the capture while it waits: the future is
        // dropped after the authority judged (and passed) it.
        let mut capture = Box::pin(client.submit_capture(&mut flow, frames(1)));
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(capture.as_mut().poll(&mut context).is_pending());
    }
    // The app captures again (other frames): the kept request goes instead,
    // under its key, and the authority repeats its pass with the token.
    let again = block_on(client.submit_capture(&mut flow, frames(2))).unwrap();
    assert!(again.passed, "{again:?}");
    assert!(flow.face_check_passed());
    let kept = block_on(client.reserve(&mut flow)).unwrap();
    assert_eq!(kept.reservation.state, ReservationState::Reserved);
}

/// Delivers every request; the first reservation's answer is replaced by a
/// proxy's 502 (the authority acted).
struct BadGatewayOnce {
    inner: InProcessLink,
    done: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl mynakit_core::AuthorityLink for BadGatewayOnce {
    async fn send(
        &self,
        request: mynakit_core::AuthorityRequest,
    ) -> Result<mynakit_core::AuthorityResponse, mynakit_core::LinkError> {
        let hit = request.path() == "/v1/reservations"
            && !self.done.swap(true, std::sync::atomic::Ordering::SeqCst);
        let answer = self.inner.send(request).await?;
        if hit {
            return Ok(mynakit_core::AuthorityResponse {
                status: 502,
                headers: vec![],
                body: b"<html>Bad Gateway</html>".to_vec(),
            });
        }
        Ok(answer)
    }
}

#[test]
fn a_proxys_502_after_the_authority_acted_is_retried_under_the_same_key() {
    let phone = Phone::new();
    let client = ResetClient::new(
        Arc::new(BadGatewayOnce {
            inner: InProcessLink::new(phone.authority.clone()),
            done: std::sync::atomic::AtomicBool::new(false),
        }),
        phone.store.clone(),
        phone.secure_area.clone(),
        phone.clock.clone(),
        AUTHORITY,
    )
    .unwrap();
    let mut flow = block_on(client.begin(ResetKind::AuthPin)).unwrap();
    block_on(client.tap(
        &mut flow,
        &mut phone.channel(),
        &front(),
        &signing_password(),
        LastTry::Refuse,
    ))
    .unwrap();
    let lost = block_on(client.reserve(&mut flow));
    match &lost {
        Err(e @ ResetError::Authority(mynakit_core::AuthorityError::AnswerLost { .. })) => {
            assert!(e.is_retryable())
        }
        other => panic!("expected AnswerLost, got {other:?}"),
    }
    let kept = block_on(client.reserve(&mut flow)).unwrap();
    let device_key = block_on(client.installation_key()).unwrap();
    let made = phone.authority.reservations_of(&device_key).unwrap();
    assert_eq!(made.len(), 1, "nothing made twice");
    assert_eq!(made[0].id, kept.reservation.id);
}
