//! Consents for the self-information API (S1, issue 10) end to end: the
//! phone's `PortalClient` logged in with the sample card, the reference
//! portal in process (`PortalLink`), its sample third-party service
//! (`sample-health-app`) asking through the portal's service routes, and
//! one manual clock for all of them (the retention purge is proven by it).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use mynakit_core::portal::policy::{CONSENT_REQUEST_LIFETIME, MAX_RETENTION_DAYS};
use mynakit_core::portal::wire::{ConsentRequest, ConsentRequestState, ConsentState, DataItem};
use mynakit_core::portal::{PortalClient, PortalError, PortalRefusal};
use mynakit_core::{
    AuthPin, AuthorityResponse, CardChannel, Clock, IdempotencyKey, LastTry, ManualClock,
    SoftwareSecureArea, Store,
};
use mynakit_core::{AuthorityLink, AuthorityRequest, LinkError};
use mynakit_sandbox::portal::consents::{
    AskConsent, Purge, PurgeReason, SAMPLE_SERVICE_ID, ServiceCopy,
};
use mynakit_sandbox::portal::{
    DEFAULT_BASE_URL, PortalAuthority, PortalLink, handle, handle_sandbox,
};
use mynakit_sandbox::{LinkSwitches, Sandbox};
use mynakit_tests::{LosingLink, PIN, block_on};

const ALL: [DataItem; 3] = [
    DataItem::InsuredCard,
    DataItem::InsuranceRegistration,
    DataItem::CertificateValidity,
];

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

struct World {
    lose: Arc<Mutex<Option<String>>>,
    clock: Arc<ManualClock>,
    portal: Arc<PortalAuthority>,
    card: Sandbox,
}

impl World {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(at("2026-07-01T01:00:00Z")));
        let portal = Arc::new(PortalAuthority::in_memory(clock.clone(), DEFAULT_BASE_URL).unwrap());
        Self {
            lose: Arc::new(Mutex::new(None)),
            clock,
            portal,
            card: Sandbox::new(),
        }
    }

    /// The holder's phone, logged in with the sample card.
    fn phone(&self) -> PortalClient {
        self.phone_on(self.clock.clone())
    }

    /// The holder's phone with its own clock (corrected by the portal's
    /// `Date` at each answer), logged in with the sample card.
    fn phone_on(&self, clock: Arc<ManualClock>) -> PortalClient {
        let phone = PortalClient::new(
            Arc::new(LosingLink::new(
                PortalLink::new(self.portal.clone()),
                self.lose.clone(),
            )),
            Arc::new(Store::open_in_memory().unwrap()),
            Arc::new(SoftwareSecureArea::in_memory()),
            clock,
            DEFAULT_BASE_URL,
        )
        .unwrap();
        self.login(&phone);
        phone
    }

    /// The next answer to a request whose path ends in `suffix` is lost.
    fn lose_next(&self, suffix: &str) {
        *self.lose.lock().unwrap() = Some(suffix.to_owned());
    }

    fn login(&self, phone: &PortalClient) {
        let mut flow = block_on(phone.begin_login()).unwrap();
        let mut channel = CardChannel::new(self.card.transport(LinkSwitches::default()));
        block_on(phone.tap(
            &mut flow,
            &mut channel,
            &AuthPin::new(PIN).unwrap(),
            LastTry::Refuse,
        ))
        .unwrap();
        block_on(phone.finish_login(&mut flow)).unwrap();
    }

    /// P7: agrees to the version in force.
    fn agree(&self, phone: &PortalClient) {
        let terms = block_on(phone.terms()).unwrap();
        block_on(phone.accept_terms(&terms.current.version)).unwrap();
    }

    fn send(&self, method: &str, path: &str, body: &[u8]) -> AuthorityResponse {
        let key = IdempotencyKey::generate().unwrap();
        let headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Idempotency-Key".to_owned(), key.as_str().to_owned()),
        ];
        handle_sandbox(&self.portal, method, path, &headers, body)
    }

    /// The sample service asks for `items`.
    fn service_asks(&self, items: &[DataItem], retention_days: u32) -> AuthorityResponse {
        let body = serde_json::to_vec(&AskConsent {
            items: items.to_vec(),
            purpose: "check-up reminders".to_owned(),
            retention_days,
        })
        .unwrap();
        self.send(
            "POST",
            &format!("/v1/services/{SAMPLE_SERVICE_ID}/consent-requests"),
            &body,
        )
    }

    fn request(&self, items: &[DataItem], retention_days: u32) -> ConsentRequest {
        let answer = self.service_asks(items, retention_days);
        assert_eq!(
            answer.status,
            201,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        serde_json::from_slice(&answer.body).unwrap()
    }

    /// What the service keeps under `consent`: the copy, or the refusal's
    /// status and kind.
    fn kept(&self, consent: &str) -> Result<ServiceCopy, (u16, String)> {
        let answer = self.send(
            "GET",
            &format!("/v1/sandbox/services/{SAMPLE_SERVICE_ID}/data/{consent}"),
            b"",
        );
        if answer.status == 200 {
            Ok(serde_json::from_slice(&answer.body).unwrap())
        } else {
            let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
            Err((answer.status, body["error"].as_str().unwrap().to_owned()))
        }
    }

    fn purges(&self) -> Vec<Purge> {
        let answer = self.send(
            "GET",
            &format!("/v1/sandbox/services/{SAMPLE_SERVICE_ID}/purges"),
            b"",
        );
        assert_eq!(answer.status, 200);
        serde_json::from_slice(&answer.body).unwrap()
    }
}

fn refusal<T: std::fmt::Debug>(outcome: Result<T, PortalError>) -> (PortalRefusal, u16) {
    match outcome {
        Err(PortalError::Refused { error, status }) => (error, status),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn not_in_force() -> Result<ServiceCopy, (u16, String)> {
    Err((410, "consent_not_in_force".to_owned()))
}

#[test]
fn s1_the_service_keeps_only_what_was_granted_and_lets_go_when_the_retention_ends() {
    let world = World::new();
    let phone = world.phone();
    world.agree(&phone);
    let asked = world.request(&ALL, 30);
    // The holder is shown what, why and how long.
    let shown = block_on(phone.consent_request(&asked.request_id)).unwrap();
    assert_eq!(shown.items, ALL.to_vec());
    assert_eq!(shown.purpose, "check-up reminders");
    assert_eq!(shown.retention_days, 30);
    assert_eq!(shown.state, ConsentRequestState::Pending);

    let granted = [
        DataItem::InsuranceRegistration,
        DataItem::CertificateValidity,
    ];
    let consent = block_on(phone.grant_consent(&asked.request_id, &granted)).unwrap();
    assert_eq!(consent.items, granted.to_vec());
    assert_eq!(consent.state, ConsentState::Active);
    assert_eq!(
        consent.retain_until,
        consent.granted_at + TimeDelta::days(30)
    );

    // S1: only the granted items reached the service, with the purpose.
    let kept = world.kept(&consent.consent_id).unwrap();
    assert_eq!(kept.purpose, "check-up reminders");
    assert_eq!(kept.retain_until, consent.retain_until);
    assert!(!kept.data.contains_key(&DataItem::InsuredCard));
    assert!(!kept.unavailable.contains(&DataItem::InsuredCard));
    // Both have values for the sample holder: they arrived, and nothing else.
    assert_eq!(
        kept.data.keys().copied().collect::<Vec<_>>(),
        granted.to_vec()
    );
    assert!(kept.unavailable.is_empty());
    assert_eq!(
        kept.data[&DataItem::InsuranceRegistration]["registered"],
        false
    );

    // The last second of the retention: still kept; then purged.
    world
        .clock
        .advance(consent.retain_until - world.clock.now() - TimeDelta::seconds(1));
    assert!(world.kept(&consent.consent_id).is_ok());
    assert!(world.purges().is_empty());
    world.clock.advance(TimeDelta::seconds(1));
    assert_eq!(world.kept(&consent.consent_id), not_in_force());
    assert_eq!(
        world.purges(),
        vec![Purge {
            service_id: SAMPLE_SERVICE_ID.to_owned(),
            consent_id: consent.consent_id.clone(),
            // What it kept, by name.
            items: kept.data.keys().copied().collect(),
            reason: PurgeReason::RetentionEnded,
            purged_at: consent.retain_until,
        }]
    );
    // The holder's list says so (a new login: the session is long gone).
    world.login(&phone);
    let listed = block_on(phone.consents()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, ConsentState::Expired);
    assert_eq!(
        refusal(block_on(phone.withdraw_consent(&consent.consent_id))),
        (PortalRefusal::ConsentNotInForce, 410)
    );
}

#[test]
fn s1_the_service_s_copy_is_not_served_by_the_public_portal() {
    let world = World::new();
    let phone = world.phone();
    world.agree(&phone);
    let asked = world.request(&ALL, 30);
    let consent = block_on(phone.grant_consent(&asked.request_id, &ALL)).unwrap();
    assert!(
        world.kept(&consent.consent_id).is_ok(),
        "the admin reads it"
    );
    // The public portal (`handle`, no admin) answers neither the old path
    // nor the admin one: a consent id (which an agent with consents_read
    // lists, P5) opens no one's copy of the insured card.
    let key = IdempotencyKey::generate().unwrap();
    let headers = vec![("Idempotency-Key".to_owned(), key.as_str().to_owned())];
    for path in [
        format!(
            "/v1/services/{SAMPLE_SERVICE_ID}/data/{}",
            consent.consent_id
        ),
        format!(
            "/v1/sandbox/services/{SAMPLE_SERVICE_ID}/data/{}",
            consent.consent_id
        ),
    ] {
        let answer = handle(&world.portal, "GET", &path, &headers, b"");
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(
            (answer.status, body["error"].as_str()),
            (404, Some("no_such_route")),
            "{path}"
        );
    }
}

#[test]
fn s1_a_refusal_gives_the_service_nothing() {
    let world = World::new();
    let phone = world.phone();
    world.agree(&phone);
    let asked = world.request(&ALL, 30);
    let refused = block_on(phone.refuse_consent(&asked.request_id)).unwrap();
    assert_eq!(refused.state, ConsentRequestState::Refused);
    assert!(block_on(phone.consents()).unwrap().is_empty());
    // Answered: a grant afterwards is refused.
    assert_eq!(
        refusal(block_on(phone.grant_consent(&asked.request_id, &ALL))),
        (PortalRefusal::ConsentNotInForce, 410)
    );
    assert!(block_on(phone.consents()).unwrap().is_empty());
    assert!(world.purges().is_empty());
}

#[test]
fn s1_withdrawal_purges_the_service_s_copy_at_once() {
    let world = World::new();
    let phone = world.phone();
    world.agree(&phone);
    let first = world.request(&[DataItem::CertificateValidity], 90);
    let kept_on =
        block_on(phone.grant_consent(&first.request_id, &[DataItem::CertificateValidity])).unwrap();
    world.clock.advance(TimeDelta::seconds(2));
    let second = world.request(&[DataItem::CertificateValidity], 90);
    let withdrawn =
        block_on(phone.grant_consent(&second.request_id, &[DataItem::CertificateValidity]))
            .unwrap();
    // Newest first.
    let listed = block_on(phone.consents()).unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|c| c.consent_id.clone())
            .collect::<Vec<_>>(),
        vec![withdrawn.consent_id.clone(), kept_on.consent_id.clone()]
    );
    assert!(world.kept(&withdrawn.consent_id).is_ok());

    let answer = block_on(phone.withdraw_consent(&withdrawn.consent_id)).unwrap();
    assert_eq!(answer.state, ConsentState::Withdrawn);
    assert!(answer.withdrawn_at.is_some());
    // At once, without the clock moving.
    assert_eq!(world.kept(&withdrawn.consent_id), not_in_force());
    let purges = world.purges();
    assert_eq!(purges.len(), 1);
    assert_eq!(purges[0].consent_id, withdrawn.consent_id);
    assert_eq!(purges[0].reason, PurgeReason::Withdrawn);
    // The other consent is untouched.
    assert!(world.kept(&kept_on.consent_id).is_ok());
    assert_eq!(
        refusal(block_on(phone.withdraw_consent(&withdrawn.consent_id))),
        (PortalRefusal::ConsentNotInForce, 410)
    );
}

#[test]
fn s1_items_not_asked_for_or_none_are_refused_and_a_request_lapses() {
    let world = World::new();
    let phone = world.phone();
    world.agree(&phone);
    let asked = world.request(&[DataItem::CertificateValidity], 30);
    assert_eq!(
        refusal(block_on(phone.grant_consent(&asked.request_id, &[]))),
        (PortalRefusal::ItemsNotRequested, 400)
    );
    assert_eq!(
        refusal(block_on(
            phone.grant_consent(&asked.request_id, &[DataItem::InsuredCard])
        )),
        (PortalRefusal::ItemsNotRequested, 400)
    );
    assert!(world.purges().is_empty());
    // Unanswered for the request's lifetime: lapsed.
    world
        .clock
        .advance(TimeDelta::from_std(CONSENT_REQUEST_LIFETIME).unwrap());
    assert_eq!(
        refusal(block_on(phone.grant_consent(
            &asked.request_id,
            &[DataItem::CertificateValidity]
        ))),
        (PortalRefusal::ConsentNotInForce, 410)
    );
    assert_eq!(
        block_on(phone.consent_request(&asked.request_id))
            .unwrap()
            .state,
        ConsentRequestState::Expired
    );
    assert_eq!(
        refusal(block_on(phone.consent_request("no-such-request"))),
        (PortalRefusal::NotFound, 404)
    );
}

#[test]
fn s1_a_service_cannot_ask_to_keep_data_longer_than_the_policy_or_for_nothing() {
    let world = World::new();
    for (items, days) in [
        (ALL.to_vec(), MAX_RETENTION_DAYS + 1),
        (ALL.to_vec(), 0),
        (vec![], 30),
    ] {
        let answer = world.service_asks(&items, days);
        assert_eq!(answer.status, 400, "{items:?} {days}");
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
    assert_eq!(world.service_asks(&ALL, MAX_RETENTION_DAYS).status, 201);
    let unknown = world.send(
        "GET",
        &format!("/v1/sandbox/services/{SAMPLE_SERVICE_ID}/data/no-such-consent"),
        b"",
    );
    assert_eq!(unknown.status, 404);
}

#[test]
fn p7_terms_not_agreed_block_a_grant_and_a_new_version_asks_again() {
    let world = World::new();
    let phone = world.phone();
    let asked = world.request(&ALL, 30);
    // Reading is allowed; answering is not.
    assert!(block_on(phone.consent_request(&asked.request_id)).is_ok());
    let current = block_on(phone.terms()).unwrap().current.version;
    match block_on(phone.grant_consent(&asked.request_id, &ALL)) {
        Err(PortalError::TermsNotAgreed { current: asked_for }) => assert_eq!(asked_for, current),
        other => panic!("expected terms_not_agreed, got {other:?}"),
    }
    assert!(world.purges().is_empty());
    world.agree(&phone);
    let consent =
        block_on(phone.grant_consent(&asked.request_id, &[DataItem::CertificateValidity])).unwrap();

    // A new version is published: the next state change asks again.
    let published = world.send(
        "POST",
        "/v1/sandbox/portal/terms",
        br#"{"version":"2099-01"}"#,
    );
    assert!(
        published.status < 300,
        "{}",
        String::from_utf8_lossy(&published.body)
    );
    let next = world.request(&ALL, 30);
    match block_on(phone.grant_consent(&next.request_id, &ALL)) {
        Err(PortalError::TermsNotAgreed { current }) => assert_eq!(current, "2099-01"),
        other => panic!("expected terms_not_agreed, got {other:?}"),
    }
    // S1/P7 exemption: a withdrawal never waits for the new version; the
    // service's copy goes at once.
    let withdrawn = block_on(phone.withdraw_consent(&consent.consent_id)).unwrap();
    assert_eq!(withdrawn.state, ConsentState::Withdrawn);
    assert_eq!(world.kept(&consent.consent_id), not_in_force());
    assert_eq!(world.purges().len(), 1);
    assert!(!block_on(phone.terms()).unwrap().agreed_to_current());
    world.agree(&phone);
    block_on(phone.grant_consent(&next.request_id, &ALL)).unwrap();
}

#[test]
fn s1_a_grant_sent_with_a_token_the_portal_expired_succeeds_after_the_refresh() {
    let world = World::new();
    // The phone's clock is its own: the portal moves on without it.
    let phone_clock = Arc::new(ManualClock::new(world.clock.now()));
    let phone = world.phone_on(phone_clock.clone());
    world.agree(&phone);
    let asked = world.request(&ALL, 30);
    // Past the access token's lifetime at the portal, within the refresh
    // token's; the phone, behind, sends its old access token first.
    world.clock.advance(TimeDelta::minutes(11));
    let consent = block_on(phone.grant_consent(&asked.request_id, &ALL)).unwrap();
    assert_eq!(consent.state, ConsentState::Active);
    assert!(world.kept(&consent.consent_id).is_ok());
    // A withdrawal the same way (the phone is corrected now; move again).
    world.clock.advance(TimeDelta::minutes(11));
    let withdrawn = block_on(phone.withdraw_consent(&consent.consent_id)).unwrap();
    assert_eq!(withdrawn.state, ConsentState::Withdrawn);
}

#[test]
fn s1_a_grant_whose_answer_was_lost_is_answered_again_and_made_once() {
    let world = World::new();
    let phone = world.phone();
    world.agree(&phone);
    let asked = world.request(&ALL, 30);
    world.lose_next("/grant");
    let lost = block_on(phone.grant_consent(&asked.request_id, &[DataItem::CertificateValidity]));
    assert!(matches!(lost, Err(PortalError::Authority(_))), "{lost:?}");
    // It acted: the service already keeps the item.
    let again =
        block_on(phone.grant_consent(&asked.request_id, &[DataItem::CertificateValidity])).unwrap();
    let listed = block_on(phone.consents()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].consent_id, again.consent_id);
    assert!(world.kept(&again.consent_id).is_ok());
    // A withdrawal whose answer is lost: purged once, answered again.
    world.lose_next(&again.consent_id);
    assert!(block_on(phone.withdraw_consent(&again.consent_id)).is_err());
    assert_eq!(world.kept(&again.consent_id), not_in_force());
    let withdrawn = block_on(phone.withdraw_consent(&again.consent_id)).unwrap();
    assert_eq!(withdrawn.state, ConsentState::Withdrawn);
    assert_eq!(world.purges().len(), 1);
}

/// The served sandbox (`mynakit sandbox serve`'s routes) in process.
struct Served {
    reset: mynakit_sandbox::reset::ResetAuthority,
    wallet: mynakit_sandbox::wallet::WalletIssuer,
    portal: PortalAuthority,
    clock: Arc<mynakit_sandbox::reset::SandboxClock>,
}

#[derive(Clone)]
struct ServedLink(Arc<Served>);

impl std::fmt::Debug for ServedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServedLink")
    }
}

impl ServedLink {
    fn send_now(&self, method: &str, path: &str, body: &[u8]) -> AuthorityResponse {
        let key = IdempotencyKey::generate().unwrap();
        let headers = vec![("Idempotency-Key".to_owned(), key.as_str().to_owned())];
        self.answer(method, path, &headers, body)
    }

    fn answer(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> AuthorityResponse {
        let served = &self.0;
        mynakit_sandbox::served::handle_served(
            &served.reset,
            &served.wallet,
            &served.portal,
            &served.clock,
            method,
            path,
            headers,
            body,
        )
    }
}

#[async_trait::async_trait]
impl AuthorityLink for ServedLink {
    async fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, LinkError> {
        Ok(self.answer(
            request.method().as_str(),
            request.path(),
            request.headers(),
            request.body(),
        ))
    }
}

#[test]
fn s1_the_served_sandbox_s_clock_ends_the_retention_and_the_service_s_copy() {
    let clock = Arc::new(mynakit_sandbox::reset::SandboxClock::new());
    let shared: Arc<dyn Clock> = clock.clone();
    let link = ServedLink(Arc::new(Served {
        reset: mynakit_sandbox::reset::ResetAuthority::in_memory(shared.clone()).unwrap(),
        wallet: mynakit_sandbox::wallet::WalletIssuer::in_memory(shared.clone(), DEFAULT_BASE_URL)
            .unwrap(),
        portal: PortalAuthority::in_memory(shared.clone(), DEFAULT_BASE_URL).unwrap(),
        clock,
    }));
    let phone = PortalClient::new(
        Arc::new(link.clone()),
        Arc::new(Store::open_in_memory().unwrap()),
        Arc::new(SoftwareSecureArea::in_memory()),
        shared,
        DEFAULT_BASE_URL,
    )
    .unwrap();
    let card = Sandbox::new();
    let mut flow = block_on(phone.begin_login()).unwrap();
    let mut channel = CardChannel::new(card.transport(LinkSwitches::default()));
    block_on(phone.tap(
        &mut flow,
        &mut channel,
        &AuthPin::new(PIN).unwrap(),
        LastTry::Refuse,
    ))
    .unwrap();
    block_on(phone.finish_login(&mut flow)).unwrap();
    let terms = block_on(phone.terms()).unwrap();
    block_on(phone.accept_terms(&terms.current.version)).unwrap();

    let body = serde_json::to_vec(&AskConsent {
        items: vec![DataItem::CertificateValidity],
        purpose: "renewal reminders".to_owned(),
        retention_days: 7,
    })
    .unwrap();
    let asked = link.send_now(
        "POST",
        &format!("/v1/services/{SAMPLE_SERVICE_ID}/consent-requests"),
        &body,
    );
    assert_eq!(asked.status, 201);
    let asked: ConsentRequest = serde_json::from_slice(&asked.body).unwrap();
    let consent =
        block_on(phone.grant_consent(&asked.request_id, &[DataItem::CertificateValidity])).unwrap();
    let data = format!(
        "/v1/sandbox/services/{SAMPLE_SERVICE_ID}/data/{}",
        consent.consent_id
    );
    assert_eq!(link.send_now("GET", &data, b"").status, 200);
    // Six days later: still kept.
    let moved = link.send_now("POST", "/v1/sandbox/clock/advance", br#"{"by": "6d"}"#);
    assert_eq!(moved.status, 200);
    assert_eq!(link.send_now("GET", &data, b"").status, 200);
    // A seventh: the retention ended; the copy is gone and the purge logged.
    link.send_now("POST", "/v1/sandbox/clock/advance", br#"{"by": "1d"}"#);
    let gone = link.send_now("GET", &data, b"");
    assert_eq!(gone.status, 410);
    let body: serde_json::Value = serde_json::from_slice(&gone.body).unwrap();
    assert_eq!(body["error"], "consent_not_in_force");
    let purges = link.send_now(
        "GET",
        &format!("/v1/sandbox/services/{SAMPLE_SERVICE_ID}/purges"),
        b"",
    );
    let purges: Vec<Purge> = serde_json::from_slice(&purges.body).unwrap();
    assert_eq!(purges.len(), 1);
    assert_eq!(purges[0].consent_id, consent.consent_id);
    assert_eq!(purges[0].reason, PurgeReason::RetentionEnded);
}
