//! Round trips of the wallet's one application tap (issue 9,
//! `WalletClient::tap`), pinned from the transcript so that a change adding
//! an APDU fails here (BENCHMARKS.md, "Card round trips of the apply
//! tap"). Not timed: counts only.
//!
//! The tap reads Kenhojo's basic four and My Number after the card-info PIN
//! (one VERIFY for both), Kenmen's face record after 照合番号A (the number
//! just read), then verifies the signing password, reads the signing
//! certificate and has the card sign (W2).

use std::sync::Arc;

use mynakit_core::layout::{Application, ins, jpki, kenhojo, kenmen};
use mynakit_core::wallet::WalletClient;
use mynakit_core::{
    CardChannel, Exchange, KenhojoPin, ManualClock, SecureAreaError, SigningPassword,
    SoftwareSecureArea, Store, UserAuthenticator,
};
use mynakit_sandbox::wallet::{WalletIssuer, WalletLink};
use mynakit_sandbox::{LinkSwitches, Sandbox};
use mynakit_tests::{PIN, SIGNING_PASSWORD, block_on};

struct Approve;

impl UserAuthenticator for Approve {
    fn authenticate(&self, _alias: &str) -> Result<(), SecureAreaError> {
        Ok(())
    }
}

fn tap(sandbox: &Sandbox, switches: LinkSwitches) -> Vec<Exchange> {
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-07-01T01:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
    ));
    let issuer = Arc::new(WalletIssuer::in_memory(clock.clone(), "http://issuer.invalid").unwrap());
    let client = WalletClient::new(
        Arc::new(WalletLink::new(issuer)),
        Arc::new(Store::open_in_memory().unwrap()),
        Arc::new(SoftwareSecureArea::in_memory().with_authenticator(Arc::new(Approve))),
        clock,
        "http://issuer.invalid",
    )
    .unwrap();
    let mut application = block_on(client.begin_application()).unwrap();
    let mut channel = CardChannel::new(sandbox.transport(switches));
    block_on(client.tap(
        &mut application,
        &mut channel,
        &KenhojoPin::new(PIN).unwrap(),
        &SigningPassword::new(SIGNING_PASSWORD).unwrap(),
    ))
    .unwrap();
    channel.transcript().exchanges().to_vec()
}

fn headers(exchanges: &[Exchange]) -> Vec<(u8, u8, u8)> {
    exchanges
        .iter()
        .map(|e| (e.command[1], e.command[2], e.command[3]))
        .collect()
}

fn read(file: mynakit_core::FileId) -> (u8, u8, u8) {
    (ins::READ_BINARY, file.read_p1(), 0x00)
}

fn verify(file: mynakit_core::FileId) -> (u8, u8, u8) {
    (ins::VERIFY, 0x00, file.reference_p2())
}

const SELECT_AP: (u8, u8, u8) = (ins::SELECT, 0x04, 0x0C);

#[test]
fn the_apply_tap_takes_fourteen_round_trips_with_extended_length() {
    let sandbox = Sandbox::new();
    let exchanges = tap(&sandbox, LinkSwitches::default());
    assert_eq!(
        headers(&exchanges),
        [
            SELECT_AP,            // Kenhojo
            verify(kenhojo::PIN), // counter, no try spent
            verify(kenhojo::PIN),
            read(kenhojo::BASIC_FOUR),
            read(kenhojo::MY_NUMBER),     // the same VERIFY opens it
            SELECT_AP,                    // Kenmen
            verify(kenmen::CHECK_CODE_A), // counter
            verify(kenmen::CHECK_CODE_A),
            read(kenmen::FACE),
            SELECT_AP,                 // JPKI
            verify(jpki::SIGNING_PIN), // counter
            verify(jpki::SIGNING_PIN),
            read(jpki::SIGNING_CERT),
            (
                ins::COMPUTE_DIGITAL_SIGNATURE,
                0x00,
                jpki::SIGNING_KEY.reference_p2()
            ),
        ]
    );
    assert_eq!(
        exchanges[0].command.get(5..),
        Some(Application::Kenhojo.aid())
    );
    // Three secrets sent, each once; the bare counter reads carry none.
    assert_eq!(exchanges.iter().filter(|e| e.redacted).count(), 3);
}

#[test]
fn a_short_only_link_reads_each_file_in_256_byte_chunks() {
    let sandbox = Sandbox::new();
    let size = |app, file| sandbox.card().ef_content(app, file).unwrap().len();
    let chunks = |bytes: usize| bytes.div_ceil(256);
    let basic = chunks(size(Application::Kenhojo, kenhojo::BASIC_FOUR));
    let face = chunks(size(Application::Kenmen, kenmen::FACE));
    let signing = chunks(sandbox.card().signing_certificate().unwrap().der().len());
    let exchanges = tap(&sandbox, LinkSwitches::short_only());
    // 14 with extended length: 10 that are not reads, and the four reads
    // in chunks (the My Number fits in one).
    assert_eq!(exchanges.len(), 10 + basic + 1 + face + signing);
    assert!(exchanges.iter().all(|e| e.command.len() <= 261));
}
