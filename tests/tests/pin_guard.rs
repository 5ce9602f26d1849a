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
