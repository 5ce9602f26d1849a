//! Round trips of the reset app's one tap (issue 8, step 3:
//! `ResetClient::tap`), pinned from the transcript so that a change adding
//! an APDU fails here (and one removing an APDU updates BENCHMARKS.md, "Card
//! round trips of the reset tap"). Not timed: counts only.
//!
//! The tap reads the Kenmen face record and CV certificate after 照合番号B,
//! the JPKI token label (R10), the other key's certificate, verifies the
//! other secret and has the card sign with the other key (R4).

use std::sync::Arc;

use mynakit_core::layout::{Application, ins, jpki, kenmen};
use mynakit_core::reset::{OtherSecret, ResetClient, ResetKind};
use mynakit_core::{
    AuthPin, CardChannel, CheckCodeB, Exchange, LastTry, ManualClock, SigningPassword,
    SoftwareSecureArea, Store,
};
use mynakit_sandbox::reset::{InProcessLink, ResetAuthority};
use mynakit_sandbox::{LinkSwitches, Sandbox};
use mynakit_tests::{
    FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE, PIN, SIGNING_PASSWORD, block_on,
};

/// A short-only link as many Android phones have (no extended length,
/// 261-byte transceive limit): every read is chunked by 256 bytes.
fn short_link() -> LinkSwitches {
    LinkSwitches::short_only()
}

/// One tap of `kind` on a fresh card session over `switches`; the exchanges.
fn tap(
    sandbox: &Sandbox,
    kind: ResetKind,
    switches: LinkSwitches,
    last_try: LastTry,
) -> Vec<Exchange> {
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-06-01T09:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
    ));
    let authority = Arc::new(ResetAuthority::in_memory(clock.clone()).unwrap());
    let client = ResetClient::new(
        Arc::new(InProcessLink::new(authority)),
        Arc::new(Store::open_in_memory().unwrap()),
        Arc::new(SoftwareSecureArea::in_memory()),
        clock,
        "https://reset.sandbox.mynakit.invalid",
    )
    .unwrap();
    let other = match kind {
        ResetKind::SigningPassword => OtherSecret::AuthPin(AuthPin::new(PIN).unwrap()),
        ResetKind::AuthPin => {
            OtherSecret::SigningPassword(SigningPassword::new(SIGNING_PASSWORD).unwrap())
        }
    };
    let code =
        CheckCodeB::from_card_front(FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE).unwrap();
    let mut flow = block_on(client.begin(kind)).unwrap();
    if last_try == LastTry::Allow {
        // Both consents: the other secret's and 照合番号B's own.
        flow.allow_check_code_last_try();
    }
    let mut channel = CardChannel::new(sandbox.transport(switches));
    block_on(client.tap(&mut flow, &mut channel, &code, &other, last_try)).unwrap();
    assert!(flow.tapped(), "the tap kept its evidence");
    channel.transcript().exchanges().to_vec()
}

/// INS and P2 of each APDU (P2 names the PIN or key of a VERIFY or
/// signature), and for READ BINARY by SFI the file (P1).
fn headers(exchanges: &[Exchange]) -> Vec<(u8, u8, u8)> {
    exchanges
        .iter()
        .map(|e| (e.command[1], e.command[2], e.command[3]))
        .collect()
}

/// `READ BINARY` of `file` by short EF identifier (P1 = 0x80 | SFI).
fn read(file: mynakit_core::FileId) -> (u8, u8, u8) {
    (ins::READ_BINARY, file.read_p1(), 0x00)
}

/// `VERIFY` of `file` (P2 = 0x80 | SFI): once bare (the counter, no try
/// spent) when the last try is not confirmed, then with the secret.
fn verify(file: mynakit_core::FileId) -> (u8, u8, u8) {
    (ins::VERIFY, 0x00, file.reference_p2())
}

const SELECT_AP: (u8, u8, u8) = (ins::SELECT, 0x04, 0x0C);

#[test]
fn signing_password_reset_takes_eleven_round_trips_with_extended_length() {
    let sandbox = Sandbox::new();
    let exchanges = tap(
        &sandbox,
        ResetKind::SigningPassword,
        LinkSwitches::default(),
        LastTry::Refuse,
    );
    assert_eq!(
        headers(&exchanges),
        [
            SELECT_AP,                    // Kenmen
            verify(kenmen::CHECK_CODE_B), // counter
            verify(kenmen::CHECK_CODE_B),
            read(kenmen::FACE),
            read(kenmen::CV_CERTIFICATE),
            SELECT_AP, // JPKI
            read(jpki::TOKEN_INFO),
            read(jpki::AUTH_CERT),
            verify(jpki::AUTH_PIN), // counter
            verify(jpki::AUTH_PIN),
            (
                ins::COMPUTE_DIGITAL_SIGNATURE,
                0x00,
                jpki::AUTH_KEY.reference_p2()
            ),
        ]
    );
    // Bare VERIFYs carry no data; the others carry the secret (redacted).
    assert!(!exchanges[1].redacted && exchanges[2].redacted);
    assert!(!exchanges[8].redacted && exchanges[9].redacted);
    assert_eq!(
        exchanges[0].command.get(5..),
        Some(Application::Kenmen.aid())
    );
    assert_eq!(exchanges[5].command.get(5..), Some(Application::Jpki.aid()));
}

#[test]
fn pin_reset_takes_eleven_round_trips_with_extended_length() {
    let sandbox = Sandbox::new();
    let exchanges = tap(
        &sandbox,
        ResetKind::AuthPin,
        LinkSwitches::default(),
        LastTry::Refuse,
    );
    assert_eq!(
        headers(&exchanges),
        [
            SELECT_AP, // Kenmen
            verify(kenmen::CHECK_CODE_B),
            verify(kenmen::CHECK_CODE_B),
            read(kenmen::FACE),
            read(kenmen::CV_CERTIFICATE),
            SELECT_AP, // JPKI
            read(jpki::TOKEN_INFO),
            verify(jpki::SIGNING_PIN), // counter
            verify(jpki::SIGNING_PIN),
            read(jpki::SIGNING_CERT), // only after the password (6982 before)
            (
                ins::COMPUTE_DIGITAL_SIGNATURE,
                0x00,
                jpki::SIGNING_KEY.reference_p2()
            ),
        ]
    );
}

#[test]
fn a_confirmed_last_try_saves_the_two_counter_reads() {
    for kind in [ResetKind::SigningPassword, ResetKind::AuthPin] {
        let sandbox = Sandbox::new();
        let exchanges = tap(&sandbox, kind, LinkSwitches::default(), LastTry::Allow);
        assert_eq!(exchanges.len(), 9, "{kind:?}");
        assert!(
            exchanges
                .iter()
                .filter(|e| e.command[1] == ins::VERIFY)
                .all(|e| e.redacted),
            "{kind:?}: no bare VERIFY"
        );
    }
}

#[test]
fn short_only_links_read_each_file_in_256_byte_chunks() {
    let sandbox = Sandbox::new();
    let size = |app, file| sandbox.card().ef_content(app, file).unwrap().len();
    let chunks = |bytes: usize| bytes.div_ceil(256);
    let face = chunks(size(Application::Kenmen, kenmen::FACE));
    let cv = chunks(size(Application::Kenmen, kenmen::CV_CERTIFICATE));
    let auth = chunks(sandbox.card().auth_certificate().der().len());
    let signing = chunks(sandbox.card().signing_certificate().unwrap().der().len());
    // Kenmen: SELECT, counter, VERIFY, the two files; JPKI: SELECT, the
    // token label (32 bytes), the certificate, counter, VERIFY, signature.
    let kenmen_part = 3 + face + cv;
    assert_eq!(
        (face, cv, auth, signing),
        (11, 3, 5, 6),
        "the sample card's files (BENCHMARKS.md's table)"
    );
    for (kind, certificate) in [
        (ResetKind::SigningPassword, auth),
        (ResetKind::AuthPin, signing),
    ] {
        let exchanges = tap(&sandbox, kind, short_link(), LastTry::Refuse);
        assert_eq!(
            exchanges.len(),
            kenmen_part + 2 + certificate + 3,
            "{kind:?}"
        );
        assert!(
            exchanges.iter().all(|e| e.command.len() <= 261),
            "{kind:?}: no extended APDU on a short link"
        );
    }
    // 27 and 28 with the sample card.
    assert_eq!(kenmen_part + 2 + auth + 3, 27);
    assert_eq!(kenmen_part + 2 + signing + 3, 28);
}
