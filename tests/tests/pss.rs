//! RSASSA-PSS signatures through the core (COMPUTE DIGITAL SIGNATURE P1 04):
//! they verify with the certificate, need the PIN, and are never resent.

use mynakit_core::{AuthPin, CardChannel, CardError, JpkiKey, LastTry, SigningPassword};
use mynakit_core::{FreeCertificate, TransportError};
use mynakit_sandbox::{LinkSwitches, RemovalPoint, Sandbox};
use mynakit_tests::{PIN, SIGNING_PASSWORD, block_on, is_sign};
use sha2::{Digest, Sha256};

#[test]
fn a_pss_signature_verifies_with_each_certificate() {
    let sandbox = Sandbox::new();
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    let message = b"PSS through the core";
    let hash: [u8; 32] = Sha256::digest(message).into();
    let mut jpki = channel.jpki();
    let cert = block_on(jpki.read_certificate(FreeCertificate::Authentication)).unwrap();
    // Without the PIN the card refuses, and nothing is retried.
    assert_eq!(
        block_on(jpki.sign_pss_sha256(JpkiKey::Authentication, &hash)),
        Err(CardError::PinRequired)
    );
    let pin = AuthPin::new(PIN).unwrap();
    block_on(jpki.verify_auth_pin(&pin, LastTry::Refuse)).unwrap();
    let first = block_on(jpki.sign_pss_sha256(JpkiKey::Authentication, &hash)).unwrap();
    let second = block_on(jpki.sign_pss_sha256(JpkiKey::Authentication, &hash)).unwrap();
    assert!(cert.verifies_pss_sha256_signature(message, &first));
    assert!(cert.verifies_pss_sha256_signature(message, &second));
    assert_ne!(first, second, "the card salts each signature");
    assert!(!cert.verifies_sha256_signature(message, &first));
    assert!(!cert.verifies_pss_sha256_signature(b"another message", &first));

    let password = SigningPassword::new(SIGNING_PASSWORD).unwrap();
    let signing = block_on(jpki.read_signing_certificate(&password, LastTry::Refuse)).unwrap();
    let s = block_on(jpki.sign_pss_sha256(JpkiKey::Signing, &hash)).unwrap();
    assert!(signing.verifies_pss_sha256_signature(message, &s));
    assert!(!cert.verifies_pss_sha256_signature(message, &s));
}

#[test]
fn a_lost_pss_answer_is_an_error_and_never_resent() {
    for point in [RemovalPoint::BeforeCard, RemovalPoint::AfterCard] {
        let sandbox = Sandbox::new();
        let hash: [u8; 32] = Sha256::digest(b"lost").into();
        let pin = AuthPin::new(PIN).unwrap();
        // SELECT, bare VERIFY, VERIFY, then the signature (exchange 4).
        let mut channel =
            CardChannel::new(sandbox.transport(LinkSwitches::default().removing_at(4, point)));
        let mut jpki = channel.jpki();
        block_on(jpki.verify_auth_pin(&pin, LastTry::Refuse)).unwrap();
        assert_eq!(
            block_on(jpki.sign_pss_sha256(JpkiKey::Authentication, &hash)),
            Err(CardError::Transport(TransportError::CardRemoved)),
            "{point:?}"
        );
        let signatures = sandbox
            .card()
            .commands_received()
            .iter()
            .filter(|c| is_sign(c))
            .count();
        let expected = usize::from(point == RemovalPoint::AfterCard);
        assert_eq!(signatures, expected, "{point:?}: sent once at most");
        let sent: Vec<_> = channel.transcript().exchanges().iter().collect();
        assert_eq!(sent.iter().filter(|e| is_sign(&e.command)).count(), 1);
    }
}
