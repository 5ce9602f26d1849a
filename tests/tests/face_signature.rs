//! The card face record's issuer signature, checked in the core: Kenmen EF
//! 0004 (card-verifiable certificate) against the issuer key the app pins,
//! then DF28 against the key that certificate certifies.

use mynakit_core::layout::{Application, kenmen};
use mynakit_core::{CardChannel, CardFace, CheckCodeB, LastTry};
use mynakit_core::{CvCertificate, CvCertificateError, CvIssuerKey, IssuerSignatureError, KeyId};
use mynakit_sandbox::{LinkSwitches, Sandbox};
use mynakit_tests::{FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE, block_on};

fn read(sandbox: &Sandbox) -> (CvCertificate, CardFace) {
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    let code =
        CheckCodeB::from_card_front(FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE).unwrap();
    let mut kenmen = channel.kenmen();
    let cert = block_on(kenmen.read_cv_certificate()).unwrap();
    let face = block_on(kenmen.read_face(&code, LastTry::Refuse)).unwrap();
    (cert, face)
}

/// The sandbox face record with one byte changed at `at` (from the end when negative).
fn tampered_face(sandbox: &Sandbox, tag: [u8; 2], offset_in_value: usize) -> CardFace {
    let mut bytes = sandbox
        .card()
        .ef_content(Application::Kenmen, kenmen::FACE)
        .unwrap()
        .to_vec();
    let at = bytes.windows(2).position(|w| w == tag).unwrap();
    // Two-byte tag, then `82 hh ll` or a short length.
    let header = if bytes[at + 2] == 0x82 { 5 } else { 3 };
    bytes[at + header + offset_in_value] ^= 0x01;
    CardFace::parse(&bytes).unwrap()
}

#[test]
fn the_face_record_verifies_against_the_pinned_issuer_key() {
    let sandbox = Sandbox::new();
    let (cert, face) = read(&sandbox);
    assert_eq!(cert.issuer_key_id().to_string(), "9000023/001");
    assert_eq!(cert.subject_key_id().to_string(), "1310121/000");
    let issuers = sandbox.cv_issuer_keys();
    assert_eq!(face.verify_issuer_signature(&cert, &issuers), Ok(()));
    // Only the Kenmen CA key matters here.
    let kenmen_only: Vec<CvIssuerKey> = issuers
        .iter()
        .filter(|k| k.key_id() == cert.issuer_key_id())
        .cloned()
        .collect();
    assert_eq!(face.verify_issuer_signature(&cert, &kenmen_only), Ok(()));
}

#[test]
fn unknown_issuer_bad_certificate_and_bad_record_are_told_apart() {
    let sandbox = Sandbox::new();
    let (cert, face) = read(&sandbox);
    let issuers = sandbox.cv_issuer_keys();
    // Nothing pinned under that id: nothing was checked.
    assert_eq!(
        face.verify_issuer_signature(&cert, &[]),
        Err(IssuerSignatureError::UnknownIssuer(cert.issuer_key_id()))
    );
    // The Kenhojo CA's key offered under the Kenmen CA's id: a forgery.
    let kenhojo = issuers
        .iter()
        .find(|k| k.key_id() != cert.issuer_key_id())
        .unwrap();
    let wrong = kenhojo_key_as(cert.issuer_key_id());
    assert_ne!(kenhojo.key_id(), cert.issuer_key_id());
    assert_eq!(
        face.verify_issuer_signature(&cert, &[wrong]),
        Err(IssuerSignatureError::BadCertificateSignature(
            cert.issuer_key_id()
        ))
    );
    // A changed photo byte or birth date: DF28 no longer verifies.
    for (tag, at) in [([0xDF, 0x27], 200), ([0xDF, 0x22], 3), ([0xDF, 0x25], 9)] {
        let changed = tampered_face(&sandbox, tag, at);
        assert_eq!(
            changed.verify_issuer_signature(&cert, &issuers),
            Err(IssuerSignatureError::BadRecordSignature),
            "{tag:02X?}"
        );
    }
    // The expiry (DF29) is after DF28 and not signed, on the real card too.
    let expiry_changed = tampered_face(&sandbox, [0xDF, 0x29], 7);
    assert_ne!(expiry_changed.card_expiry, face.card_expiry);
    assert_eq!(
        expiry_changed.verify_issuer_signature(&cert, &issuers),
        Ok(())
    );
}

fn kenhojo_key_as(id: KeyId) -> CvIssuerKey {
    use rsa::traits::PublicKeyParts;
    let key = mynakit_sandbox::fixtures::FixtureKey::KenhojoCvCa
        .private_key()
        .as_public_key();
    CvIssuerKey::new(id, &key.n_bytes(), &key.e_bytes()).unwrap()
}

#[test]
fn a_malformed_certificate_is_a_typed_error() {
    let sandbox = Sandbox::new();
    let bytes = sandbox
        .card()
        .ef_content(Application::Kenmen, kenmen::CV_CERTIFICATE)
        .unwrap()
        .to_vec();
    assert!(CvCertificate::parse(&bytes).is_ok());
    // Without its 7F21 template (as GET DATA gives one) it parses the same.
    assert_eq!(
        CvCertificate::parse(&bytes[5..]).unwrap(),
        CvCertificate::parse(&bytes).unwrap()
    );
    let mut bad_id = bytes.clone();
    bad_id[10] = b'X';
    assert_eq!(
        CvCertificate::parse(&bad_id),
        Err(CvCertificateError::KeyId)
    );
    assert!(matches!(
        CvCertificate::parse(&bytes[..100]),
        Err(CvCertificateError::Tlv(_))
    ));
}
