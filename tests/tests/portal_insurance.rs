//! Health-insurance registration (P1 method 2, P3), the terms (P7) and the
//! insurer's view (rules §6) end to end: the phone's `PortalClient` logged
//! in with the sample card, the reference portal in process
//! (`PortalLink`), the sandbox's insurer routes, and one manual clock
//! moved across the certificate's renewal window, its expiry and the three
//! months after it.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use mynakit_core::portal::policy::expired_release_on;
use mynakit_core::portal::wire::{AgentScope, CertificateState, ReleaseReason};
use mynakit_core::portal::{PortalClient, PortalError, PortalRefusal};
use mynakit_core::{
    AuthPin, AuthorityError, AuthorityLink, AuthorityRequest, AuthorityResponse, CardChannel,
    IdempotencyKey, LastTry, ManualClock, SoftwareSecureArea, Store, jst,
};
use mynakit_sandbox::portal::insurance::{
    CardReturned, EmployerView, FIRST_TERMS_VERSION, InsurerRow, InsurerView, SAMPLE_EMPLOYERS,
};
use mynakit_sandbox::portal::{DEFAULT_BASE_URL, PortalAuthority, PortalLink, jlis};
use mynakit_sandbox::{LinkSwitches, Sandbox};
use mynakit_tests::{LosingLink, PIN, block_on};

/// The sample holder's insured number in the sandbox insurer's registry.
const SAMPLE_NUMBER: &str = "5678";
/// The sample agent's.
const AGENT_NUMBER: &str = "9012";

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-01T01:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Noon (Japan) of `day`.
fn japan_noon(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap())
        .and_local_timezone(jst())
        .unwrap()
        .with_timezone(&Utc)
}

struct World {
    clock: Arc<ManualClock>,
    portal: Arc<PortalAuthority>,
    sandbox: Sandbox,
}

impl World {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(start()));
        let portal = Arc::new(PortalAuthority::in_memory(clock.clone(), DEFAULT_BASE_URL).unwrap());
        Self {
            clock,
            portal,
            sandbox: Sandbox::new(),
        }
    }

    fn phone(&self) -> PortalClient {
        PortalClient::new(
            Arc::new(PortalLink::new(self.portal.clone())),
            Arc::new(Store::open_in_memory().unwrap()),
            Arc::new(SoftwareSecureArea::in_memory()),
            self.clock.clone(),
            DEFAULT_BASE_URL,
        )
        .unwrap()
    }

    fn login(&self, phone: &PortalClient) -> Result<(), PortalError> {
        self.login_with(phone, &self.sandbox)
    }

    fn login_with(&self, phone: &PortalClient, card: &Sandbox) -> Result<(), PortalError> {
        let mut flow = block_on(phone.begin_login())?;
        let mut channel = CardChannel::new(card.transport(LinkSwitches::default()));
        block_on(phone.tap(
            &mut flow,
            &mut channel,
            &AuthPin::new(PIN).unwrap(),
            LastTry::Refuse,
        ))?;
        block_on(phone.finish_login(&mut flow)).map(|_| ())
    }

    fn send(&self, request: AuthorityRequest) -> AuthorityResponse {
        block_on(PortalLink::new(self.portal.clone()).send(request)).unwrap()
    }

    fn post(&self, path: &str, body: serde_json::Value) -> AuthorityResponse {
        self.send(
            AuthorityRequest::post(
                path,
                serde_json::to_vec(&body).unwrap(),
                &IdempotencyKey::generate().unwrap(),
            )
            .header("Content-Type", "application/json"),
        )
    }

    fn get_body(&self, path: &str) -> Vec<u8> {
        let answer = self.send(AuthorityRequest::get(path));
        assert_eq!(
            answer.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        answer.body
    }

    fn view(&self) -> InsurerView {
        serde_json::from_slice(&self.get_body("/v1/sandbox/insurer/view")).unwrap()
    }

    fn row(&self, number: &str) -> InsurerRow {
        self.view()
            .rows
            .into_iter()
            .find(|r| r.card.number == number)
            .unwrap()
    }

    fn publish(&self, version: &str) -> u16 {
        self.post(
            "/v1/sandbox/portal/terms",
            serde_json::json!({ "version": version }),
        )
        .status
    }
}

fn refusal(error: PortalError) -> (PortalRefusal, u16) {
    match error {
        PortalError::Refused { error, status } => (error, status),
        other => panic!("not a refusal: {other:?}"),
    }
}

#[test]
fn p1_p7_registration_needs_the_login_and_the_terms_in_force() {
    let world = World::new();
    let phone = world.phone();
    // No login, no registration (P1: after the card login).
    assert!(matches!(
        block_on(phone.register_insurance(FIRST_TERMS_VERSION)),
        Err(PortalError::LoginRequired)
    ));
    let bare = world.post(
        "/v1/portal/insurance/registration",
        serde_json::json!({ "terms_version": FIRST_TERMS_VERSION }),
    );
    assert_eq!(bare.status, 401);

    world.login(&phone).unwrap();
    // P7: not agreed yet.
    match block_on(phone.register_insurance(FIRST_TERMS_VERSION)) {
        Err(PortalError::TermsNotAgreed { current }) => assert_eq!(current, FIRST_TERMS_VERSION),
        other => panic!("registered without the terms: {other:?}"),
    }
    assert_eq!(
        refusal(block_on(phone.accept_terms("2025-01")).unwrap_err()),
        (PortalRefusal::TermsOutdated, 409)
    );
    let terms = block_on(phone.terms()).unwrap();
    assert!(!terms.agreed_to_current());
    let agreed = block_on(phone.accept_terms(&terms.current.version)).unwrap();
    assert_eq!(agreed.version, FIRST_TERMS_VERSION);
    assert_eq!(agreed.agreed_at, start());

    let status = block_on(phone.register_insurance(FIRST_TERMS_VERSION)).unwrap();
    assert!(status.registered);
    assert_eq!(
        status.registered_on,
        Some(NaiveDate::from_ymd_opt(2026, 4, 1).unwrap())
    );
    let card = status.insured_card.clone().unwrap();
    assert_eq!(card.number, SAMPLE_NUMBER);
    assert_eq!(
        refusal(block_on(phone.register_insurance(FIRST_TERMS_VERSION)).unwrap_err()),
        (PortalRefusal::AlreadyRegistered, 409)
    );
    // The insurer sees what the phone sees (§6).
    let row = world.row(SAMPLE_NUMBER);
    assert_eq!(row.first_registration_state, 1);
    assert_eq!(row.registered_on, status.registered_on);
    assert_eq!(
        row.certificate_expiry_flag,
        Some(status.certificate.expiry_flag)
    );

    // A new version: the next state change asks again (P7); an older or
    // repeated name is not published.
    world.clock.advance(TimeDelta::days(30));
    // A month on: the session lapsed, tap again.
    world.login(&phone).unwrap();
    assert_eq!(world.publish("2026-10"), 201);
    assert_eq!(world.publish("2026-10"), 400);
    assert_eq!(world.publish("2026-05"), 400);
    // Releasing protects the holder: it does not wait for the new
    // version's agreement (docs/portal-protocol.md).
    let released = block_on(phone.release_insurance()).unwrap();
    assert!(!released.registered);
    assert_eq!(released.release_reason, Some(ReleaseReason::MemberRequest));
    assert_eq!(
        released.released_on,
        Some(NaiveDate::from_ymd_opt(2026, 5, 1).unwrap())
    );
    assert_eq!(world.row(SAMPLE_NUMBER).release_reason, Some(1));
    assert_eq!(
        refusal(block_on(phone.release_insurance()).unwrap_err()),
        (PortalRefusal::NotRegistered, 409)
    );
    // Registering again asks for the new version (P7); an old version is
    // refused; the first registration's date is kept.
    match block_on(phone.register_insurance("2026-10")) {
        Err(PortalError::TermsNotAgreed { current }) => assert_eq!(current, "2026-10"),
        other => panic!("registered under old terms: {other:?}"),
    }
    assert_eq!(
        refusal(block_on(phone.accept_terms(FIRST_TERMS_VERSION)).unwrap_err()),
        (PortalRefusal::TermsOutdated, 409)
    );
    block_on(phone.accept_terms("2026-10")).unwrap();
    assert_eq!(
        refusal(block_on(phone.register_insurance(FIRST_TERMS_VERSION)).unwrap_err()),
        (PortalRefusal::TermsOutdated, 409)
    );
    let again = block_on(phone.register_insurance("2026-10")).unwrap();
    assert!(again.registered);
    assert_eq!(again.registered_on, status.registered_on);
    assert_eq!(again.release_reason, None);
}

/// The phone's `InsuranceStatus`, its offline `certificate_standing` and
/// the insurer's row and reminder lists say the same.
fn assert_agree(world: &World, phone: &PortalClient, online: bool) -> InsurerRow {
    let view = world.view();
    let row = view
        .rows
        .iter()
        .find(|r| r.card.number == SAMPLE_NUMBER)
        .unwrap()
        .clone();
    let standing = block_on(phone.certificate_standing()).unwrap();
    assert_eq!(row.certificate_expiry_flag, Some(standing.expiry_flag));
    let renewal = view
        .renewal_reminders
        .iter()
        .find(|r| r.card.number == SAMPLE_NUMBER);
    assert_eq!(
        renewal.is_some(),
        standing.state != CertificateState::Valid,
        "再交付勧奨 at {:?}",
        standing.state
    );
    if let Some(renewal) = renewal {
        assert_eq!(renewal.certificate_expiry_flag, standing.expiry_flag);
    }
    let linked = view
        .link_reminders
        .iter()
        .any(|k| k.number == SAMPLE_NUMBER);
    assert_eq!(linked, row.first_registration_state == 0);
    if online {
        let status = block_on(phone.insurance_status()).unwrap();
        assert_eq!(status.certificate, standing);
        assert_eq!(u8::from(status.registered), row.first_registration_state);
        assert_eq!(status.registered_on, row.registered_on);
        assert_eq!(status.released_on, row.released_on);
        assert_eq!(
            status.release_reason.map(ReleaseReason::code),
            row.release_reason
        );
    }
    row
}

#[test]
fn s6_the_clock_moves_the_flag_and_the_sweep_releases_on_the_due_day() {
    let world = World::new();
    let phone = world.phone();
    world.login(&phone).unwrap();
    block_on(phone.accept_terms(FIRST_TERMS_VERSION)).unwrap();
    let status = block_on(phone.register_insurance(FIRST_TERMS_VERSION)).unwrap();
    let valid_until = status.certificate.valid_until;
    assert_eq!(status.certificate.state, CertificateState::Valid);
    assert_eq!(
        assert_agree(&world, &phone, true).first_registration_state,
        1
    );

    // Renewal opens three months before the last day: 再交付勧奨, flag 1.
    world
        .clock
        .set(japan_noon(status.certificate.renewal_opens_on));
    world.login(&phone).unwrap();
    assert_eq!(
        block_on(phone.certificate_standing()).unwrap().state,
        CertificateState::RenewalOpen
    );
    assert_agree(&world, &phone, true);

    // Expired: the card cannot log in, the registration stands, flag 1.
    world
        .clock
        .set(japan_noon(valid_until + TimeDelta::days(1)));
    assert!(world.login(&phone).is_err());
    let expired = assert_agree(&world, &phone, false);
    assert_eq!(expired.first_registration_state, 1);
    assert_eq!(expired.certificate_expiry_flag, Some(1));

    // The last day under three months.
    let due = expired_release_on(valid_until).unwrap();
    world
        .clock
        .set(japan_noon(due - TimeDelta::days(1)) + TimeDelta::hours(11));
    let last = assert_agree(&world, &phone, false);
    assert_eq!(
        (last.first_registration_state, last.certificate_expiry_flag),
        (1, Some(1))
    );

    // Three weeks past due, the sweep runs: reason 2, dated the due day.
    world.clock.set(japan_noon(due + TimeDelta::days(21)));
    let gone = assert_agree(&world, &phone, false);
    assert_eq!(gone.first_registration_state, 0);
    assert_eq!(gone.certificate_expiry_flag, Some(0));
    assert_eq!(gone.release_reason, Some(2));
    assert_eq!(gone.released_on, Some(due));
    assert_eq!(gone.registered_on, status.registered_on);
}

#[test]
fn s6_a_returned_card_ends_the_registration_with_reason_3_and_its_certificates() {
    let world = World::new();
    let phone = world.phone();
    world.login(&phone).unwrap();
    block_on(phone.accept_terms(FIRST_TERMS_VERSION)).unwrap();
    block_on(phone.register_insurance(FIRST_TERMS_VERSION)).unwrap();
    world.clock.advance(TimeDelta::minutes(5));
    let answer = world.post(
        "/v1/sandbox/insurer/card-returned",
        serde_json::json!({ "person": jlis::SAMPLE_PERSON }),
    );
    assert_eq!(answer.status, 200);
    let returned: CardReturned = serde_json::from_slice(&answer.body).unwrap();
    assert!(returned.released);
    assert!(returned.revoked_certificates >= 1);
    let row = world.row(SAMPLE_NUMBER);
    assert_eq!(row.first_registration_state, 0);
    assert_eq!(row.release_reason, Some(3));
    assert_eq!(
        row.released_on,
        Some(NaiveDate::from_ymd_opt(2026, 4, 1).unwrap())
    );
    // The session still alive ends with its revoked certificate (P2; the
    // portal refuses its token and its refresh): it cannot link the
    // returned card again, reason 3 stays.
    match block_on(phone.register_insurance(FIRST_TERMS_VERSION)) {
        Err(PortalError::LoginRequired) => {}
        other => panic!("a returned card's session registered: {other:?}"),
    }
    assert_eq!(world.row(SAMPLE_NUMBER).release_reason, Some(3));
    // J-LIS revoked the certificate: no login with this card any more.
    match world.login(&phone) {
        Err(PortalError::Refused { error, .. }) => {
            assert_eq!(error, PortalRefusal::CertificateRevoked)
        }
        other => panic!("a returned card logged in: {other:?}"),
    }
    // Unknown persons are not found.
    let unknown = world.post(
        "/v1/sandbox/insurer/card-returned",
        serde_json::json!({ "person": "person-nobody" }),
    );
    assert_eq!(unknown.status, 404);
}

#[test]
fn s6_an_employer_sees_only_the_reminders_of_members_who_did_not_object() {
    let world = World::new();
    let employer = SAMPLE_EMPLOYERS[0];
    let path = format!("/v1/sandbox/insurer/view?employer={employer}");
    let before: EmployerView = serde_json::from_slice(&world.get_body(&path)).unwrap();
    let numbers = |v: &EmployerView| {
        v.link_reminders
            .iter()
            .map(|k| k.number.clone())
            .collect::<Vec<_>>()
    };
    assert!(numbers(&before).contains(&AGENT_NUMBER.to_owned()));
    assert!(numbers(&before).contains(&SAMPLE_NUMBER.to_owned()));

    let agent = world.row(AGENT_NUMBER).member;
    let objected = world.post(
        "/v1/sandbox/insurer/objections",
        serde_json::json!({ "member": agent }),
    );
    assert_eq!(objected.status, 200);
    let answer = world.send(AuthorityRequest::get(&path));
    let text = String::from_utf8(answer.body.clone()).unwrap();
    let after: EmployerView = serde_json::from_slice(&answer.body).unwrap();
    assert!(!numbers(&after).contains(&AGENT_NUMBER.to_owned()));
    assert!(numbers(&after).contains(&SAMPLE_NUMBER.to_owned()));
    assert!(!text.contains(AGENT_NUMBER));
    // Only what the two reminders need: no dates, reasons or member ids.
    for never in [
        "registered_on",
        "released_on",
        "release_reason",
        "\"member\"",
        "rows",
    ] {
        assert!(!text.contains(never), "{never} in {text}");
    }
    // The insurer still sees the objector.
    assert!(world.view().rows.iter().any(|r| r.member == agent));
    // An employer outside the group, an unknown member: not found.
    assert_eq!(
        world
            .send(AuthorityRequest::get(
                "/v1/sandbox/insurer/view?employer=E999"
            ))
            .status,
        404
    );
    assert_eq!(
        world
            .post(
                "/v1/sandbox/insurer/objections",
                serde_json::json!({ "member": 987_654 })
            )
            .status,
        404
    );
    // The admin routes are the sandbox's only: not on the portal's API.
    let api =
        mynakit_sandbox::portal::handle(&world.portal, "GET", "/v1/portal/insurer/view", &[], &[]);
    assert_eq!(api.status, 404);
}

#[test]
fn p5_an_agent_reads_and_registers_for_the_holder_within_the_grant() {
    let world = World::new();
    let holder = world.phone();
    world.login(&holder).unwrap();
    block_on(holder.accept_terms(FIRST_TERMS_VERSION)).unwrap();
    let grant = block_on(holder.add_agent("family", &[AgentScope::InsuranceRead])).unwrap();

    let agent_card = Sandbox::with_config(jlis::agent_card_config()).unwrap();
    let agent = world.phone();
    world.login_with(&agent, &agent_card).unwrap();
    block_on(agent.accept_terms(FIRST_TERMS_VERSION)).unwrap();
    block_on(agent.accept_agency(grant.invitation_code.as_deref().unwrap())).unwrap();
    agent.act_on_behalf_of(Some(grant.grant_id.clone()));

    // Reading is in scope: the holder's registration, not the agent's.
    let read = block_on(agent.insurance_status()).unwrap();
    assert_eq!(read.insured_card.unwrap().number, SAMPLE_NUMBER);
    // Registering is not (P5).
    assert_eq!(
        refusal(block_on(agent.register_insurance(FIRST_TERMS_VERSION)).unwrap_err()),
        (PortalRefusal::OutsideAgentScope, 403)
    );
    block_on(holder.change_agent(
        &grant.grant_id,
        &[AgentScope::InsuranceRead, AgentScope::InsuranceManage],
    ))
    .unwrap();
    let registered = block_on(agent.register_insurance(FIRST_TERMS_VERSION)).unwrap();
    assert!(registered.registered);
    assert_eq!(world.row(SAMPLE_NUMBER).first_registration_state, 1);
    // The agent's own member record is untouched.
    assert_eq!(world.row(AGENT_NUMBER).first_registration_state, 0);
    // P7 is the holder's: under a new version the agent may still release
    // (protective), but registers again only once the holder agreed.
    assert_eq!(world.publish("2026-10"), 201);
    // (Terms are never agreed on behalf: the agent cannot do it for the holder.)
    assert_eq!(
        refusal(block_on(agent.accept_terms("2026-10")).unwrap_err()),
        (PortalRefusal::OutsideAgentScope, 403)
    );
    let released = block_on(agent.release_insurance()).unwrap();
    assert_eq!(released.release_reason, Some(ReleaseReason::MemberRequest));
    match block_on(agent.register_insurance("2026-10")) {
        Err(PortalError::TermsNotAgreed { current }) => assert_eq!(current, "2026-10"),
        other => panic!("registered without the holder's agreement: {other:?}"),
    }
    block_on(holder.accept_terms("2026-10")).unwrap();
    assert!(
        block_on(agent.register_insurance("2026-10"))
            .unwrap()
            .registered
    );
}

fn assert_lost<T: std::fmt::Debug>(outcome: Result<T, PortalError>) {
    match outcome {
        Err(error @ PortalError::Authority(AuthorityError::AnswerLost { .. })) => {
            assert!(error.is_retryable());
        }
        other => panic!("not a lost answer: {other:?}"),
    }
}

#[test]
fn a_registration_and_a_release_whose_answers_were_lost_are_answered_again_and_made_once() {
    let world = World::new();
    let link = Arc::new(LosingLink::new(
        PortalLink::new(world.portal.clone()),
        Arc::new(Mutex::new(None)),
    ));
    let phone = PortalClient::new(
        link.clone(),
        Arc::new(Store::open_in_memory().unwrap()),
        Arc::new(SoftwareSecureArea::in_memory()),
        world.clock.clone(),
        DEFAULT_BASE_URL,
    )
    .unwrap();
    world.login(&phone).unwrap();
    block_on(phone.accept_terms(FIRST_TERMS_VERSION)).unwrap();

    link.lose_next("/insurance/registration");
    assert_lost(block_on(phone.register_insurance(FIRST_TERMS_VERSION)));
    // The portal registered; the retry (same key) hears that, not
    // already_registered.
    assert_eq!(world.row(SAMPLE_NUMBER).first_registration_state, 1);
    world.clock.advance(TimeDelta::minutes(1));
    let status = block_on(phone.register_insurance(FIRST_TERMS_VERSION)).unwrap();
    assert!(status.registered);

    link.lose_next("/insurance/release");
    assert_lost(block_on(phone.release_insurance()));
    let released = block_on(phone.release_insurance()).unwrap();
    assert_eq!(released.release_reason, Some(ReleaseReason::MemberRequest));
    // A new release is a new request: not registered.
    assert_eq!(
        refusal(block_on(phone.release_insurance()).unwrap_err()),
        (PortalRefusal::NotRegistered, 409)
    );
}

#[test]
fn p3_a_renewed_certificate_keeps_the_registration_past_the_old_ones_three_months() {
    let world = World::new();
    let phone = world.phone();
    world.login(&phone).unwrap();
    block_on(phone.accept_terms(FIRST_TERMS_VERSION)).unwrap();
    let status = block_on(phone.register_insurance(FIRST_TERMS_VERSION)).unwrap();
    let old_until = status.certificate.valid_until;
    let renewal_day = status.certificate.renewal_opens_on;

    // In the renewal window the municipal window renews; J-LIS links the serials.
    world.clock.set(japan_noon(renewal_day));
    let old_serial = jlis::serial_key(world.sandbox.card().auth_certificate());
    world
        .sandbox
        .card()
        .renew_certificates(renewal_day)
        .unwrap();
    let renewed = world.sandbox.card().auth_certificate().clone();
    let answer = world.post(
        "/v1/sandbox/jlis/renewals",
        serde_json::json!({
            "certificate": mynakit_core::reset::wire::to_hex(renewed.der()),
            "previous_serial": old_serial,
        }),
    );
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );

    // Past the old certificate's three months: still registered (P3), flag 1.
    let past = expired_release_on(old_until).unwrap() + TimeDelta::days(10);
    world.clock.set(japan_noon(past));
    world.login(&phone).unwrap();
    let now = block_on(phone.insurance_status()).unwrap();
    assert!(now.registered);
    assert!(now.certificate.valid_until > old_until);
    assert_eq!(now.certificate.state, CertificateState::Valid);
    let row = assert_agree(&world, &phone, true);
    assert_eq!(
        (
            row.first_registration_state,
            row.certificate_expiry_flag,
            row.release_reason
        ),
        (1, Some(1), None)
    );
}
