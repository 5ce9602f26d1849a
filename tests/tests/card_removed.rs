//! The card pulled away at every exchange of every flow: a typed error each
//! time, and never a VERIFY or a signature sent twice.

use mynakit_core::JpkiKey;
use mynakit_core::PinStatus;
use mynakit_core::layout::{Application, jpki};
use mynakit_core::{AuthPin, LastTry};
use mynakit_core::{CardChannel, CardError, TransportError};
use mynakit_sandbox::{LinkSwitches, Removal, RemovalPoint, Sandbox};
use mynakit_tests::{Flow, MangledTransport, block_on, is_sign, is_verify_with_data};

fn exchanges_of(flow: Flow) -> usize {
    let sandbox = Sandbox::new();
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    block_on(flow.run(&mut channel))
        .unwrap_or_else(|e| panic!("{flow:?} fails on a healthy card: {e}"));
    channel.transcript().stats().round_trips
}

#[test]
fn every_exchange_of_every_flow_fails_cleanly_when_the_card_leaves() {
    for flow in Flow::ALL {
        let total = exchanges_of(flow);
        for at in 1..=total {
            for point in [RemovalPoint::BeforeCard, RemovalPoint::AfterCard] {
                let sandbox = Sandbox::new();
                let switches = LinkSwitches {
                    remove_at: Some(Removal {
                        exchange: at,
                        point,
                    }),
                    ..LinkSwitches::default()
                };
                let mut channel = CardChannel::new(sandbox.transport(switches));
                let err = block_on(flow.run(&mut channel)).expect_err("the card left mid-flow");
                let context = format!("{flow:?}, removed at exchange {at}/{total} ({point:?})");

                let lost = &channel.transcript().exchanges()[at - 1];
                let lost_a_verify = lost.redacted;
                match &err {
                    CardError::VerifyOutcomeUnknown {
                        tries_left: None,
                        cause: TransportError::CardRemoved,
                    } => {
                        assert!(
                            lost_a_verify,
                            "{context}: only a lost VERIFY may be reported as such"
                        )
                    }
                    CardError::Transport(TransportError::CardRemoved) => {
                        assert!(
                            !lost_a_verify,
                            "{context}: a lost VERIFY must be reported as possibly spent"
                        )
                    }
                    other => panic!("{context}: unexpected error {other:?}"),
                }

                let card = sandbox.card();
                let received = card.commands_received();
                assert!(
                    received.iter().filter(|c| is_verify_with_data(c)).count() <= 1,
                    "{context}: VERIFY resent"
                );
                assert!(
                    received.iter().filter(|c| is_sign(c)).count() <= 1,
                    "{context}: signature resent"
                );
                // After the loss the core may only try to read the counter back.
                for later in &channel.transcript().exchanges()[at..] {
                    assert!(
                        !later.redacted && !is_sign(&later.command),
                        "{context}: {} sent after the loss",
                        later.trace_line()
                    );
                    assert!(later.outcome.is_err(), "{context}: the card is gone");
                }
                // The right PIN was used: whatever reached the card, no try is lost.
                assert_eq!(
                    card.tries_left(Application::Jpki, jpki::AUTH_PIN),
                    Some(3),
                    "{context}"
                );
                assert_eq!(
                    card.tries_left(Application::Jpki, jpki::SIGNING_PIN),
                    Some(5),
                    "{context}"
                );
            }
        }
    }
}

fn wrong_pin_verify_with_removal(point: RemovalPoint) -> (CardError, Sandbox) {
    let sandbox = Sandbox::new();
    // Exchange 3 is the VERIFY: SELECT, bare VERIFY, VERIFY.
    let switches = LinkSwitches {
        remove_at: Some(Removal { exchange: 3, point }),
        ..LinkSwitches::default()
    };
    let mut channel = CardChannel::new(sandbox.transport(switches));
    let pin = AuthPin::new("9999").unwrap();
    let err = block_on(channel.jpki().verify_auth_pin(&pin, LastTry::Refuse)).unwrap_err();
    (err, sandbox)
}

#[test]
fn a_lost_wrong_verify_is_reported_and_the_spent_try_shows_after_reinsertion() {
    let (err, sandbox) = wrong_pin_verify_with_removal(RemovalPoint::AfterCard);
    assert_eq!(
        err,
        CardError::VerifyOutcomeUnknown {
            tries_left: None,
            cause: TransportError::CardRemoved
        }
    );
    let transport = sandbox.transport(LinkSwitches::default());
    transport.reinsert();
    let mut channel = CardChannel::new(transport);
    assert_eq!(
        block_on(channel.jpki().pin_status(JpkiKey::Authentication)).unwrap(),
        PinStatus::TriesLeft { tries: 2 }
    );
}

#[test]
fn a_verify_that_never_reached_the_card_spends_nothing() {
    let (err, sandbox) = wrong_pin_verify_with_removal(RemovalPoint::BeforeCard);
    assert!(matches!(
        err,
        CardError::VerifyOutcomeUnknown {
            tries_left: None,
            ..
        }
    ));
    assert_eq!(
        sandbox.card().tries_left(Application::Jpki, jpki::AUTH_PIN),
        Some(3)
    );
}

#[test]
fn when_only_the_verify_answer_is_lost_the_counter_is_read_back() {
    let sandbox = Sandbox::new();
    // A link glitch that loses exactly the VERIFY's answer; the card stays in the field.
    let glitchy = MangledTransport::new(
        sandbox.transport(LinkSwitches::default()),
        Box::new(|_, command: &[u8], answer| {
            if is_verify_with_data(command) {
                Err(TransportError::Timeout)
            } else {
                Ok(answer)
            }
        }),
    );
    let mut channel = CardChannel::new(glitchy);
    let err = block_on(
        channel
            .jpki()
            .verify_auth_pin(&AuthPin::new("9999").unwrap(), LastTry::Refuse),
    )
    .unwrap_err();
    assert_eq!(
        err,
        CardError::VerifyOutcomeUnknown {
            tries_left: Some(2),
            cause: TransportError::Timeout
        }
    );
    let sent = channel.transport().sent.lock().unwrap().clone();
    assert_eq!(
        sent.iter().filter(|c| is_verify_with_data(c)).count(),
        1,
        "never resent"
    );
    // SELECT, bare VERIFY, VERIFY (lost), then SELECT again (state unknown) and the bare VERIFY re-read.
    assert_eq!(sent.len(), 5);
}
