//! Round-trip budgets (issue "Card core", done-when), asserted from the transcript.

use mynakit_core::CardChannel;
use mynakit_core::PinStatus;
use mynakit_core::{AuthPin, LastTry};
use mynakit_core::{FreeCertificate, JpkiKey};
use mynakit_sandbox::{LinkSwitches, Sandbox};
use mynakit_tests::{MangledTransport, PIN, block_on};

fn short_link() -> LinkSwitches {
    LinkSwitches {
        extended_length: false,
        max_transceive_length: 258,
        ..LinkSwitches::default()
    }
}

#[test]
fn auth_certificate_takes_two_round_trips_with_extended_length() {
    let sandbox = Sandbox::new();
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    let cert = block_on(
        channel
            .jpki()
            .read_certificate(FreeCertificate::Authentication),
    )
    .unwrap();
    assert_eq!(
        channel.transcript().stats().round_trips,
        2,
        "SELECT + one extended READ BINARY"
    );
    assert_eq!(cert.der(), sandbox.card().auth_certificate().der());
}

#[test]
fn tries_check_verify_and_sign_take_four_round_trips() {
    let sandbox = Sandbox::new();
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    let pin = AuthPin::new(PIN).unwrap();
    let signature = block_on(channel.jpki().sign_with_auth_key(
        &pin,
        b"login challenge",
        LastTry::Refuse,
    ))
    .unwrap();
    assert_eq!(
        channel.transcript().stats().round_trips,
        4,
        "SELECT, bare VERIFY, VERIFY, COMPUTE DIGITAL SIGNATURE"
    );
    assert!(
        sandbox
            .card()
            .auth_certificate()
            .verifies_sha256_signature(b"login challenge", &signature)
    );
}

#[test]
fn short_link_reads_the_certificate_in_one_plus_ceil_size_over_256() {
    let sandbox = Sandbox::new();
    let size = sandbox.card().auth_certificate().der().len();
    let mut channel = CardChannel::new(sandbox.transport(short_link()));
    let cert = block_on(
        channel
            .jpki()
            .read_certificate(FreeCertificate::Authentication),
    )
    .unwrap();
    assert_eq!(cert.der().len(), size);
    assert_eq!(
        channel.transcript().stats().round_trips,
        1 + size.div_ceil(256)
    );
    assert!(
        channel
            .transcript()
            .exchanges()
            .iter()
            .all(|e| e.command.len() <= 261),
        "no extended APDU on a short link"
    );
}

#[test]
fn a_small_transceive_limit_shrinks_reads_but_loses_nothing() {
    let sandbox = Sandbox::new();
    let size = sandbox.card().auth_certificate().der().len();
    let switches = LinkSwitches {
        extended_length: true,
        max_transceive_length: 1002,
        ..LinkSwitches::default()
    };
    let mut channel = CardChannel::new(sandbox.transport(switches));
    let cert = block_on(
        channel
            .jpki()
            .read_certificate(FreeCertificate::Authentication),
    )
    .unwrap();
    assert_eq!(cert.der(), sandbox.card().auth_certificate().der());
    assert_eq!(
        channel.transcript().stats().round_trips,
        1 + size.div_ceil(1000)
    );
    assert!(
        channel
            .transcript()
            .exchanges()
            .iter()
            .all(|e| e.bytes_received() <= 1002)
    );
}

#[test]
fn a_card_refusing_extended_length_is_read_short_and_remembered() {
    let sandbox = Sandbox::new();
    // The link claims extended length but the card answers 6700 to it.
    let refusing = MangledTransport::new(
        sandbox.transport(LinkSwitches::default()),
        Box::new(|_, command: &[u8], answer| {
            let extended = command.len() > 5 && command[4] == 0 && command[1] == 0xB0;
            Ok(if extended { vec![0x67, 0x00] } else { answer })
        }),
    );
    let size = sandbox.card().auth_certificate().der().len();
    let mut channel = CardChannel::new(refusing);
    block_on(
        channel
            .jpki()
            .read_certificate(FreeCertificate::Authentication),
    )
    .unwrap();
    assert_eq!(
        channel.transcript().stats().round_trips,
        2 + size.div_ceil(256),
        "one refused extended read, then short reads"
    );
    assert!(!channel.uses_extended_length());
    let mark = channel.transcript().mark();
    block_on(
        channel
            .jpki()
            .read_certificate(FreeCertificate::AuthenticationCa),
    )
    .unwrap();
    let ca_size = sandbox.card().auth_root_certificate().der().len();
    assert_eq!(
        channel.transcript().stats_since(mark).round_trips,
        ca_size.div_ceil(256),
        "no second extended attempt"
    );
}

#[test]
fn pin_tries_cost_one_round_trip_each_after_select_and_spend_nothing() {
    let sandbox = Sandbox::new();
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    for _ in 0..3 {
        assert_eq!(
            block_on(channel.jpki().pin_status(JpkiKey::Authentication)).unwrap(),
            PinStatus::TriesLeft { tries: 3 }
        );
        assert_eq!(
            block_on(channel.jpki().pin_status(JpkiKey::Signing)).unwrap(),
            PinStatus::TriesLeft { tries: 5 }
        );
    }
    assert_eq!(channel.transcript().stats().round_trips, 1 + 6);
}

#[test]
fn a_second_signature_in_the_session_needs_no_second_verify() {
    let sandbox = Sandbox::new();
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    let pin = AuthPin::new(PIN).unwrap();
    block_on(
        channel
            .jpki()
            .sign_with_auth_key(&pin, b"one", LastTry::Refuse),
    )
    .unwrap();
    let mark = channel.transcript().mark();
    block_on(
        channel
            .jpki()
            .sign_with_auth_key(&pin, b"two", LastTry::Refuse),
    )
    .unwrap();
    assert_eq!(channel.transcript().stats_since(mark).round_trips, 1);
}

#[test]
fn with_the_last_try_allowed_verify_and_sign_take_three_round_trips() {
    // The counter read only guards an unconfirmed last try: once the user
    // allowed it, SELECT, VERIFY and sign suffice.
    let sandbox = Sandbox::new();
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    let pin = AuthPin::new(PIN).unwrap();
    let signature = block_on(
        channel
            .jpki()
            .sign_with_auth_key(&pin, b"c", LastTry::Allow),
    )
    .unwrap();
    assert_eq!(channel.transcript().stats().round_trips, 3);
    assert!(
        sandbox
            .card()
            .auth_certificate()
            .verifies_sha256_signature(b"c", &signature)
    );
    // A wrong PIN still reports the tries left from the VERIFY itself.
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    let err = block_on(
        channel
            .jpki()
            .verify_auth_pin(&AuthPin::new("0000").unwrap(), LastTry::Allow),
    )
    .unwrap_err();
    assert_eq!(err, mynakit_core::CardError::WrongPin { tries_left: 2 });
}
