//! Agents (P5, issue 10) end to end: the holder (the sample card) and the
//! sample agent (`jlis::agent_card_config`, another person with their own
//! card) each on their own phone's `PortalClient`, the reference portal in
//! process (`PortalLink`). P5: "an agent acts only within the scope the
//! holder delegated; the holder changes or ends it promptly".

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use mynakit_core::portal::wire::{
    AgentGrantState, AgentScope, ConsentRequest, ConsentState, DataItem,
};
use mynakit_core::portal::{PortalClient, PortalError, PortalRefusal};
use mynakit_core::{
    AuthPin, CardChannel, Clock, IdempotencyKey, LastTry, ManualClock, SoftwareSecureArea, Store,
};
use mynakit_sandbox::portal::consents::{AskConsent, SAMPLE_SERVICE_ID};
use mynakit_sandbox::portal::jlis::agent_card_config;
use mynakit_sandbox::portal::{DEFAULT_BASE_URL, PortalAuthority, PortalLink, handle_sandbox};
use mynakit_sandbox::{LinkSwitches, Sandbox};
use mynakit_tests::{LosingLink, PIN, block_on};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

struct World {
    lose: Arc<Mutex<Option<String>>>,
    clock: Arc<ManualClock>,
    portal: Arc<PortalAuthority>,
    holder_card: Sandbox,
    agent_card: Sandbox,
}

impl World {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(at("2026-07-01T01:00:00Z")));
        let portal = Arc::new(PortalAuthority::in_memory(clock.clone(), DEFAULT_BASE_URL).unwrap());
        Self {
            lose: Arc::new(Mutex::new(None)),
            clock,
            portal,
            holder_card: Sandbox::new(),
            agent_card: Sandbox::with_config(agent_card_config()).unwrap(),
        }
    }

    /// The next answer to a request whose path ends in `suffix` is lost.
    fn lose_next(&self, suffix: &str) {
        *self.lose.lock().unwrap() = Some(suffix.to_owned());
    }

    /// A phone logged in with `card`, agreed to the terms in force (P7).
    fn phone(&self, card: &Sandbox) -> PortalClient {
        self.phone_on(card, self.clock.clone())
    }

    /// The same with the phone's own clock (corrected by the portal's
    /// `Date` at each answer).
    fn phone_on(&self, card: &Sandbox, clock: Arc<ManualClock>) -> PortalClient {
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
        phone
    }

    /// The holder and the agent, the agent holding an accepted grant of
    /// `scopes`; the agent's phone acts on its behalf.
    fn delegated(&self, scopes: &[AgentScope]) -> (PortalClient, PortalClient, String) {
        let holder = self.phone(&self.holder_card);
        let agent = self.phone(&self.agent_card);
        let grant = block_on(holder.add_agent("my son", scopes)).unwrap();
        let code = grant.invitation_code.clone().expect("the code, once");
        let agency = block_on(agent.accept_agency(&code)).unwrap();
        assert_eq!(agency.grant_id, grant.grant_id);
        assert_eq!(agency.state, AgentGrantState::Active);
        agent.act_on_behalf_of(Some(grant.grant_id.clone()));
        (holder, agent, grant.grant_id)
    }

    /// The sample service asks for the certificate's validity.
    fn request(&self) -> ConsentRequest {
        let body = serde_json::to_vec(&AskConsent {
            items: vec![DataItem::CertificateValidity],
            purpose: "renewal reminders".to_owned(),
            retention_days: 30,
        })
        .unwrap();
        let key = IdempotencyKey::generate().unwrap();
        let answer = handle_sandbox(
            &self.portal,
            "POST",
            &format!("/v1/services/{SAMPLE_SERVICE_ID}/consent-requests"),
            &[("Idempotency-Key".to_owned(), key.as_str().to_owned())],
            &body,
        );
        assert_eq!(answer.status, 201);
        serde_json::from_slice(&answer.body).unwrap()
    }
}

fn refusal<T: std::fmt::Debug>(outcome: Result<T, PortalError>) -> PortalRefusal {
    match outcome {
        Err(PortalError::Refused { error, status }) => {
            if error == PortalRefusal::OutsideAgentScope {
                assert_eq!(status, 403);
            }
            error
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn p5_an_agent_acts_for_the_holder_within_the_delegated_scope_only() {
    let world = World::new();
    let (holder, agent, _) = world.delegated(&[AgentScope::ConsentsRead]);
    let asked = world.request();
    let consent =
        block_on(holder.grant_consent(&asked.request_id, &[DataItem::CertificateValidity]))
            .unwrap();
    // Within the scope: the holder's consents, not the agent's own.
    let seen = block_on(agent.consents()).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].consent_id, consent.consent_id);
    // Outside it: typed, and nothing changes.
    assert_eq!(
        refusal(block_on(agent.withdraw_consent(&consent.consent_id))),
        PortalRefusal::OutsideAgentScope
    );
    let another = world.request();
    assert_eq!(
        refusal(block_on(agent.refuse_consent(&another.request_id))),
        PortalRefusal::OutsideAgentScope
    );
    assert_eq!(
        refusal(block_on(agent.insurance_status())),
        PortalRefusal::OutsideAgentScope
    );
    assert_eq!(
        block_on(holder.consents()).unwrap()[0].state,
        ConsentState::Active
    );
    // For themselves (no On-Behalf-Of) the agent sees their own, empty, list.
    agent.act_on_behalf_of(None);
    assert!(block_on(agent.consents()).unwrap().is_empty());
}

#[test]
fn p5_a_change_or_an_end_of_the_grant_applies_to_the_next_request() {
    let world = World::new();
    let (holder, agent, grant) = world.delegated(&[AgentScope::ConsentsRead]);
    let asked = world.request();
    assert_eq!(
        refusal(block_on(agent.grant_consent(
            &asked.request_id,
            &[DataItem::CertificateValidity]
        ))),
        PortalRefusal::OutsideAgentScope
    );
    let changed = block_on(holder.change_agent(
        &grant,
        &[AgentScope::ConsentsRead, AgentScope::ConsentsManage],
    ))
    .unwrap();
    assert_eq!(
        changed.scopes,
        vec![AgentScope::ConsentsRead, AgentScope::ConsentsManage]
    );
    // At once: the agent grants for the holder; the consent is the holder's.
    let consent =
        block_on(agent.grant_consent(&asked.request_id, &[DataItem::CertificateValidity])).unwrap();
    assert_eq!(
        block_on(holder.consents()).unwrap()[0].consent_id,
        consent.consent_id
    );
    // Narrowed again: reading only.
    block_on(holder.change_agent(&grant, &[AgentScope::ConsentsRead])).unwrap();
    assert_eq!(
        refusal(block_on(agent.withdraw_consent(&consent.consent_id))),
        PortalRefusal::OutsideAgentScope
    );
    assert!(block_on(agent.consents()).is_ok());

    let ended = block_on(holder.remove_agent(&grant)).unwrap();
    assert_eq!(ended.state, AgentGrantState::Ended);
    assert_eq!(
        refusal(block_on(agent.consents())),
        PortalRefusal::OutsideAgentScope
    );
    agent.act_on_behalf_of(None);
    let agencies = block_on(agent.agencies()).unwrap();
    assert_eq!(agencies.len(), 1);
    assert_eq!(agencies[0].state, AgentGrantState::Ended);
    assert_eq!(
        block_on(holder.agents()).unwrap()[0].state,
        AgentGrantState::Ended
    );
}

#[test]
fn p5_an_agent_cannot_manage_the_holder_s_agents_or_terms() {
    let world = World::new();
    let (holder, agent, grant) = world.delegated(&[
        AgentScope::ConsentsRead,
        AgentScope::ConsentsManage,
        AgentScope::InsuranceRead,
        AgentScope::InsuranceManage,
    ]);
    // Even with every scope: agents, agencies and terms are the holder's own.
    assert_eq!(
        refusal(block_on(agent.agents())),
        PortalRefusal::OutsideAgentScope
    );
    assert_eq!(
        refusal(block_on(
            agent.add_agent("a third", &[AgentScope::ConsentsRead])
        )),
        PortalRefusal::OutsideAgentScope
    );
    assert_eq!(
        refusal(block_on(
            agent.change_agent(&grant, &[AgentScope::InsuranceManage])
        )),
        PortalRefusal::OutsideAgentScope
    );
    assert_eq!(
        refusal(block_on(agent.remove_agent(&grant))),
        PortalRefusal::OutsideAgentScope
    );
    let version = block_on(holder.terms()).unwrap().current.version;
    assert_eq!(
        refusal(block_on(agent.accept_terms(&version))),
        PortalRefusal::OutsideAgentScope
    );
    // The grant is as the holder left it.
    let grants = block_on(holder.agents()).unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].state, AgentGrantState::Active);
    assert_eq!(grants[0].scopes.len(), 4);
    // Without On-Behalf-Of the agent manages only their own (none).
    agent.act_on_behalf_of(None);
    assert!(block_on(agent.agents()).unwrap().is_empty());
    // Nor can the agent change the holder's grant as itself.
    assert_eq!(
        refusal(block_on(agent.remove_agent(&grant))),
        PortalRefusal::NotFound
    );
}

#[test]
fn p5_the_invitation_code_is_shown_once_and_used_once_by_another_person() {
    let world = World::new();
    let holder = world.phone(&world.holder_card);
    let agent = world.phone(&world.agent_card);
    let grant = block_on(holder.add_agent("my daughter", &[AgentScope::InsuranceRead])).unwrap();
    assert_eq!(grant.state, AgentGrantState::Invited);
    let code = grant.invitation_code.clone().unwrap();
    // Not in any later answer.
    let listed = block_on(holder.agents()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].invitation_code, None);
    // Invited, not accepted: the agent cannot act yet.
    agent.act_on_behalf_of(Some(grant.grant_id.clone()));
    assert_eq!(
        refusal(block_on(agent.insurance_status())),
        PortalRefusal::OutsideAgentScope
    );
    agent.act_on_behalf_of(None);
    // The holder cannot be their own agent.
    assert_eq!(
        refusal(block_on(holder.accept_agency(&code))),
        PortalRefusal::InvalidRequest
    );
    assert_eq!(
        refusal(block_on(
            agent.accept_agency("0123456789abcdef0123456789abcdef")
        )),
        PortalRefusal::NotFound
    );
    block_on(agent.accept_agency(&code)).unwrap();
    // One use: a second acceptance (another phone of the agent) fails.
    let again = world.phone(&world.agent_card);
    assert_eq!(
        refusal(block_on(again.accept_agency(&code))),
        PortalRefusal::NotFound
    );
    assert_eq!(
        block_on(holder.agents()).unwrap()[0].state,
        AgentGrantState::Active
    );
    // A grant named by someone it was not given to: outside the scope.
    holder.act_on_behalf_of(Some(grant.grant_id.clone()));
    assert_eq!(
        refusal(block_on(holder.insurance_status())),
        PortalRefusal::OutsideAgentScope
    );
}

#[test]
fn p5_a_grant_whose_answer_was_lost_is_answered_again_with_its_code_and_made_once() {
    let world = World::new();
    let holder = world.phone(&world.holder_card);
    let agent = world.phone(&world.agent_card);
    world.lose_next("/v1/portal/agents");
    let lost = block_on(holder.add_agent("my son", &[AgentScope::ConsentsRead]));
    assert!(matches!(lost, Err(PortalError::Authority(_))), "{lost:?}");
    // The retry (same idempotency key) gets the first answer, code
    // included: the portal kept it sealed, not in clear, and made one grant.
    let grant = block_on(holder.add_agent("my son", &[AgentScope::ConsentsRead])).unwrap();
    assert_eq!(block_on(holder.agents()).unwrap().len(), 1);
    let code = grant.invitation_code.clone().unwrap();
    let agency = block_on(agent.accept_agency(&code)).unwrap();
    assert_eq!(agency.grant_id, grant.grant_id);
}

#[test]
fn p7_an_agent_s_change_needs_the_holder_s_agreement_to_the_version_in_force() {
    let world = World::new();
    let (holder, agent, _) =
        world.delegated(&[AgentScope::ConsentsRead, AgentScope::ConsentsManage]);
    let key = IdempotencyKey::generate().unwrap();
    let published = handle_sandbox(
        &world.portal,
        "POST",
        "/v1/sandbox/portal/terms",
        &[("Idempotency-Key".to_owned(), key.as_str().to_owned())],
        br#"{"version":"2099-01"}"#,
    );
    assert!(published.status < 300);
    // The agent agreed to nothing new either; what counts is the holder's.
    let asked = world.request();
    match block_on(agent.grant_consent(&asked.request_id, &[DataItem::CertificateValidity])) {
        Err(PortalError::TermsNotAgreed { current }) => assert_eq!(current, "2099-01"),
        other => panic!("expected terms_not_agreed, got {other:?}"),
    }
    block_on(holder.accept_terms("2099-01")).unwrap();
    let consent =
        block_on(agent.grant_consent(&asked.request_id, &[DataItem::CertificateValidity])).unwrap();
    assert_eq!(
        block_on(holder.consents()).unwrap()[0].consent_id,
        consent.consent_id
    );
}

#[test]
fn p5_the_holder_ends_a_grant_without_agreeing_to_a_new_terms_version_first() {
    let world = World::new();
    let (holder, agent, grant) =
        world.delegated(&[AgentScope::ConsentsRead, AgentScope::ConsentsManage]);
    let key = IdempotencyKey::generate().unwrap();
    let published = handle_sandbox(
        &world.portal,
        "POST",
        "/v1/sandbox/portal/terms",
        &[("Idempotency-Key".to_owned(), key.as_str().to_owned())],
        br#"{"version":"2099-01"}"#,
    );
    assert!(published.status < 300);
    // A change of scopes still needs the new version agreed (P7)…
    match block_on(holder.change_agent(&grant, &[AgentScope::ConsentsRead])) {
        Err(PortalError::TermsNotAgreed { current }) => assert_eq!(current, "2099-01"),
        other => panic!("expected terms_not_agreed, got {other:?}"),
    }
    // …ending it does not: the holder ends it promptly (P5).
    let ended = block_on(holder.remove_agent(&grant)).unwrap();
    assert_eq!(ended.state, AgentGrantState::Ended);
    assert_eq!(
        refusal(block_on(agent.consents())),
        PortalRefusal::OutsideAgentScope
    );
}

#[test]
fn p5_an_agent_added_with_a_token_the_portal_expired_is_added_after_the_refresh() {
    let world = World::new();
    // The phone's clock is its own: the portal moves on without it.
    let phone_clock = Arc::new(ManualClock::new(world.clock.now()));
    let holder = world.phone_on(&world.holder_card, phone_clock);
    // Past the access token's lifetime at the portal, within the refresh
    // token's; the phone, behind, sends its old access token first.
    world.clock.advance(chrono::TimeDelta::minutes(11));
    let grant = block_on(holder.add_agent("my son", &[AgentScope::ConsentsRead])).unwrap();
    assert_eq!(grant.state, AgentGrantState::Invited);
    assert!(grant.invitation_code.is_some());
    assert_eq!(block_on(holder.agents()).unwrap().len(), 1);
}
