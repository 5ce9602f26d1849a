//! Round trips of the portal login's one tap (issue 10,
//! `PortalClient::tap`), pinned from the transcript so that a change adding
//! an APDU fails here. Not timed: counts only.
//!
//! The tap selects JPKI, reads the user-authentication certificate, reads
//! the authentication PIN's counter, verifies the PIN and has the card sign
//! the portal's challenge with the authentication key (P2).

use std::sync::Arc;

use mynakit_core::layout::{Application, ins, jpki};
use mynakit_core::portal::PortalClient;
use mynakit_core::{
    AuthPin, CardChannel, Exchange, LastTry, ManualClock, SoftwareSecureArea, Store,
};
use mynakit_sandbox::portal::{PortalAuthority, PortalLink};
use mynakit_sandbox::{LinkSwitches, Sandbox};
use mynakit_tests::{PIN, block_on};

const PORTAL: &str = "https://portal.sandbox.mynakit.invalid";

fn tap(sandbox: &Sandbox, switches: LinkSwitches) -> Vec<Exchange> {
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-04-01T01:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
    ));
    let portal = Arc::new(PortalAuthority::in_memory(clock.clone(), PORTAL).unwrap());
    let client = PortalClient::new(
        Arc::new(PortalLink::new(portal)),
        Arc::new(Store::open_in_memory().unwrap()),
        Arc::new(SoftwareSecureArea::in_memory()),
        clock,
        PORTAL,
    )
    .unwrap();
    let mut flow = block_on(client.begin_login()).unwrap();
    let mut channel = CardChannel::new(sandbox.transport(switches));
    block_on(client.tap(
        &mut flow,
        &mut channel,
        &AuthPin::new(PIN).unwrap(),
        LastTry::Refuse,
    ))
    .unwrap();
    // The proof the tap made is the portal's to accept.
    block_on(client.finish_login(&mut flow)).unwrap();
    channel.transcript().exchanges().to_vec()
}

fn headers(exchanges: &[Exchange]) -> Vec<(u8, u8, u8)> {
    exchanges
        .iter()
        .map(|e| (e.command[1], e.command[2], e.command[3]))
        .collect()
}

const SELECT_AP: (u8, u8, u8) = (ins::SELECT, 0x04, 0x0C);

#[test]
fn the_login_tap_takes_five_round_trips_with_extended_length() {
    let sandbox = Sandbox::new();
    let exchanges = tap(&sandbox, LinkSwitches::default());
    assert_eq!(
        headers(&exchanges),
        [
            SELECT_AP, // JPKI
            // The authentication certificate, whole, by short EF id.
            (ins::READ_BINARY, jpki::AUTH_CERT.read_p1(), 0x00),
            (ins::VERIFY, 0x00, jpki::AUTH_PIN.reference_p2()), // counter
            (ins::VERIFY, 0x00, jpki::AUTH_PIN.reference_p2()),
            (
                ins::COMPUTE_DIGITAL_SIGNATURE,
                0x00,
                jpki::AUTH_KEY.reference_p2()
            ),
        ]
    );
    assert_eq!(exchanges[0].command.get(5..), Some(Application::Jpki.aid()));
    // One secret sent, once; the counter read carries none.
    assert_eq!(exchanges.iter().filter(|e| e.redacted).count(), 1);
}

#[test]
fn a_short_only_link_reads_the_certificate_in_256_byte_chunks() {
    let sandbox = Sandbox::new();
    let certificate = sandbox.card().auth_certificate().der().len();
    let exchanges = tap(&sandbox, LinkSwitches::short_only());
    // 5 with extended length: 4 that are not reads, and the certificate
    // (1233 bytes for the sample card) in chunks.
    assert_eq!(exchanges.len(), 4 + certificate.div_ceil(256));
    assert_eq!(exchanges.len(), 9);
    assert!(exchanges.iter().all(|e| e.command.len() <= 261));
}
