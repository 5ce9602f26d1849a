//! PIN guard rails on the virtual card: wrong PIN, the last try, blocked PINs.

use mynakit_core::JpkiKey;
use mynakit_core::PinStatus;
use mynakit_core::layout::{Application, jpki};
use mynakit_core::{AuthPin, LastTry, SigningPassword};
use mynakit_core::{CardChannel, CardError};
use mynakit_sandbox::{LinkSwitches, Sandbox, VirtualTransport};
use mynakit_tests::{PIN, SIGNING_PASSWORD, block_on, is_verify_with_data};

fn session(sandbox: &Sandbox) -> CardChannel<VirtualTransport> {
    CardChannel::new(sandbox.transport(LinkSwitches::default()))
}

fn verify(
    channel: &mut CardChannel<VirtualTransport>,
    pin: &str,
    last_try: LastTry,
) -> Result<(), CardError> {
    block_on(
        channel
            .jpki()
            .verify_auth_pin(&AuthPin::new(pin).unwrap(), last_try),
    )
}

fn verifies_sent(sandbox: &Sandbox) -> usize {
    sandbox
        .card()
        .commands_received()
        .iter()
        .filter(|c| is_verify_with_data(c))
        .count()
}

#[test]
fn a_wrong_pin_reports_tries_left_and_the_right_one_restores_them() {
    let sandbox = Sandbox::new();
    let mut channel = session(&sandbox);
    assert_eq!(
        verify(&mut channel, "0000", LastTry::Refuse),
        Err(CardError::WrongPin { tries_left: 2 })
    );
    assert_eq!(
        sandbox.card().tries_left(Application::Jpki, jpki::AUTH_PIN),
        Some(2)
    );
    assert_eq!(verify(&mut channel, PIN, LastTry::Refuse), Ok(()));
    assert_eq!(
        sandbox.card().tries_left(Application::Jpki, jpki::AUTH_PIN),
        Some(3)
    );
}

#[test]
fn the_last_try_is_refused_without_touching_the_card_unless_allowed() {
    let sandbox = Sandbox::new();
    let mut channel = session(&sandbox);
    verify(&mut channel, "0000", LastTry::Refuse).unwrap_err();
    assert_eq!(
        verify(&mut channel, "1111", LastTry::Refuse),
        Err(CardError::WrongPin { tries_left: 1 })
    );
    let before = verifies_sent(&sandbox);
    assert_eq!(
        verify(&mut channel, PIN, LastTry::Refuse),
        Err(CardError::LastTryNeedsConfirmation)
    );
    assert_eq!(
        verifies_sent(&sandbox),
        before,
        "no VERIFY with data was sent"
    );
    assert_eq!(
        sandbox.card().tries_left(Application::Jpki, jpki::AUTH_PIN),
        Some(1)
    );
    assert_eq!(verify(&mut channel, PIN, LastTry::Allow), Ok(()));
    assert_eq!(
        sandbox.card().tries_left(Application::Jpki, jpki::AUTH_PIN),
        Some(3)
    );
}

#[test]
fn the_exhausting_try_and_every_later_one_report_a_blocked_pin() {
    let sandbox = Sandbox::new();
    let mut channel = session(&sandbox);
    verify(&mut channel, "0000", LastTry::Refuse).unwrap_err();
    verify(&mut channel, "0001", LastTry::Refuse).unwrap_err();
    // The card answers 63C0 to the exhausting try.
    assert_eq!(
        verify(&mut channel, "0002", LastTry::Allow),
        Err(CardError::PinBlocked)
    );
    assert_eq!(
        block_on(channel.jpki().pin_status(JpkiKey::Authentication)),
        Ok(PinStatus::Blocked)
    );
    let before = verifies_sent(&sandbox);
    // With the counter read, even the right PIN is not sent to a blocked card.
    assert_eq!(
        verify(&mut channel, PIN, LastTry::Refuse),
        Err(CardError::PinBlocked)
    );
    assert_eq!(verifies_sent(&sandbox), before);
    // Without it (last try allowed), the card itself refuses: 6984, nothing counted.
    assert_eq!(
        verify(&mut channel, PIN, LastTry::Allow),
        Err(CardError::PinBlocked)
    );
    assert_eq!(
        sandbox.card().tries_left(Application::Jpki, jpki::AUTH_PIN),
        Some(0)
    );
    let mut fresh = session(&sandbox);
    assert_eq!(
        block_on(fresh.jpki().pin_status(JpkiKey::Authentication)),
        Ok(PinStatus::Blocked)
    );
}

#[test]
fn the_signing_password_has_five_tries_and_its_own_counter() {
    let sandbox = Sandbox::new();
    let mut channel = session(&sandbox);
    let wrong = SigningPassword::new("WRONG1").unwrap();
    let err = block_on(
        channel
            .jpki()
            .verify_signing_password(&wrong, LastTry::Refuse),
    )
    .unwrap_err();
    assert_eq!(err, CardError::WrongPin { tries_left: 4 });
    assert_eq!(
        block_on(channel.jpki().pin_status(JpkiKey::Authentication)),
        Ok(PinStatus::TriesLeft { tries: 3 })
    );
    let right = SigningPassword::new(&SIGNING_PASSWORD.to_lowercase()).unwrap();
    block_on(
        channel
            .jpki()
            .verify_signing_password(&right, LastTry::Refuse),
    )
    .expect("lower case is upper-cased like the card expects");
}

#[test]
fn signing_without_verify_is_refused_by_the_card() {
    let sandbox = Sandbox::new();
    let mut channel = session(&sandbox);
    let err = block_on(channel.jpki().sign(
        JpkiKey::Authentication,
        &mynakit_core::DigestInfo::sha256(b"x"),
    ))
    .unwrap_err();
    assert_eq!(err, CardError::PinRequired);
}

#[test]
fn selecting_another_application_drops_the_verified_state() {
    let sandbox = Sandbox::new();
    let mut channel = session(&sandbox);
    let pin = AuthPin::new(PIN).unwrap();
    block_on(channel.jpki().verify_auth_pin(&pin, LastTry::Refuse)).unwrap();
    block_on(channel.kenhojo().pin_status()).unwrap();
    // Back in JPKI the PIN must be verified again: the card forgot it.
    let before = verifies_sent(&sandbox);
    block_on(
        channel
            .jpki()
            .sign_with_auth_key(&pin, b"x", LastTry::Refuse),
    )
    .unwrap();
    assert_eq!(verifies_sent(&sandbox), before + 1);
}

/// Issue 7, defect 3: once a PIN was verified in a session, a different PIN
/// must not be answered "verified": the card decides (and counts the try).
#[test]
fn a_verified_session_does_not_vouch_for_another_pin() {
    let sandbox = Sandbox::new();
    let mut channel = session(&sandbox);
    assert_eq!(verify(&mut channel, PIN, LastTry::Refuse), Ok(()));
    assert_eq!(verifies_sent(&sandbox), 1);
    // The same PIN again: nothing is sent.
    assert_eq!(verify(&mut channel, PIN, LastTry::Refuse), Ok(()));
    assert_eq!(verifies_sent(&sandbox), 1);
    // Another PIN goes to the card, which refuses it and counts the try.
    assert_eq!(
        verify(&mut channel, "9999", LastTry::Refuse),
        Err(CardError::WrongPin { tries_left: 2 })
    );
    assert_eq!(verifies_sent(&sandbox), 2);
    // The session no longer counts the PIN as verified: the right one is sent again.
    assert_eq!(verify(&mut channel, PIN, LastTry::Refuse), Ok(()));
    assert_eq!(verifies_sent(&sandbox), 3);
    assert_eq!(
        block_on(channel.jpki().pin_status(JpkiKey::Authentication)),
        Ok(PinStatus::TriesLeft { tries: 3 })
    );
}

/// Issue 7, defect 3: a VERIFY answered with garbage (one byte, no status
/// word) may have been counted by the card: `VerifyOutcomeUnknown`, with the
/// counter read back, never `Malformed`.
#[test]
fn a_garbled_verify_answer_is_an_unknown_outcome() {
    use mynakit_core::TransportError;
    use mynakit_tests::MangledTransport;
    for garbage in [vec![], vec![0x63], vec![0x90]] {
        let sandbox = Sandbox::new();
        let g = garbage.clone();
        let transport = MangledTransport::new(
            sandbox.transport(LinkSwitches::default()),
            Box::new(move |_, command, answer| {
                Ok(if is_verify_with_data(command) {
                    g.clone()
                } else {
                    answer
                })
            }),
        );
        let mut channel = CardChannel::new(&transport);
        let result = block_on(
            channel
                .jpki()
                .verify_auth_pin(&AuthPin::new("9999").unwrap(), LastTry::Refuse),
        );
        assert_eq!(
            result,
            Err(CardError::VerifyOutcomeUnknown {
                // The wrong PIN reached the card, which counted it.
                tries_left: Some(2),
                cause: TransportError::Garbled {
                    length: garbage.len()
                },
            }),
            "garbage {garbage:02X?}"
        );
        assert_eq!(channel.interrupted_verify(), None);
    }
}

/// Issue 7, defect 3: a VERIFY whose caller is dropped while the card
/// answers (a cancelled coroutine or task) leaves a marker; resolving it
/// reads the counter back and reports `VerifyOutcomeUnknown` (cause
/// `Cancelled`), never a plain cancellation.
#[test]
fn a_dropped_verify_is_reported_as_an_unknown_outcome() {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Waker};

    use mynakit_core::{CardTransport, LinkCapabilities, TransportError};

    /// Passes commands to the card but never answers a VERIFY with data
    /// (after the card acted on it), as a link whose caller is cancelled.
    struct Hangs<'a> {
        card: VirtualTransport,
        hung: &'a AtomicBool,
    }
    #[async_trait::async_trait]
    impl CardTransport for Hangs<'_> {
        fn capabilities(&self) -> LinkCapabilities {
            self.card.capabilities()
        }
        async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
            let answer = self.card.transmit(command).await?;
            if is_verify_with_data(command) && !self.hung.swap(true, Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            Ok(answer)
        }
    }

    let sandbox = Sandbox::new();
    let hung = AtomicBool::new(false);
    let mut channel = CardChannel::new(Hangs {
        card: sandbox.transport(LinkSwitches::default()),
        hung: &hung,
    });
    {
        let wrong = AuthPin::new("9999").unwrap();
        let mut jpki = channel.jpki();
        let mut verify = pin!(jpki.verify_auth_pin(&wrong, LastTry::Refuse));
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..8 {
            assert!(verify.as_mut().poll(&mut cx).is_pending());
        }
        // Dropped here, as a cancelled coroutine drops it.
    }
    assert!(hung.load(Ordering::SeqCst), "the VERIFY reached the card");
    assert_eq!(
        channel.interrupted_verify().map(|v| (v.app, v.pin)),
        Some((Application::Jpki, jpki::AUTH_PIN))
    );
    assert_eq!(
        block_on(channel.resolve_interrupted_verify()),
        Some(CardError::VerifyOutcomeUnknown {
            tries_left: Some(2),
            cause: TransportError::Cancelled,
        })
    );
    assert_eq!(channel.interrupted_verify(), None);
    assert_eq!(block_on(channel.resolve_interrupted_verify()), None);
    // Nothing was verified: the next operation asks the card again.
    assert_eq!(
        block_on(
            channel
                .jpki()
                .verify_auth_pin(&AuthPin::new(PIN).unwrap(), LastTry::Refuse)
        ),
        Ok(())
    );
}
