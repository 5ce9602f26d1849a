//! Every card operation on the virtual card, checked against what the card holds.

use chrono::NaiveDate;
use mynakit_core::EraError;
use mynakit_core::PinStatus;
use mynakit_core::layout::Application;
use mynakit_core::{AuthPin, KenhojoPin, LastTry, SigningPassword};
use mynakit_core::{CardChannel, CardError};
use mynakit_core::{CertificatePresence, FreeCertificate, JpkiKey, TokenKind};
use mynakit_core::{CertificateRole, ChainError, ExpiryState, TrustAnchors};
use mynakit_core::{CheckCodeB, CheckCodeError};
use mynakit_sandbox::{CardConfig, LinkSwitches, Sandbox, VirtualTransport};
use mynakit_tests::{
    FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE, PIN, SIGNING_PASSWORD, block_on,
};

fn session(sandbox: &Sandbox) -> CardChannel<VirtualTransport> {
    CardChannel::new(sandbox.transport(LinkSwitches::default()))
}

#[test]
fn token_kind_and_certificate_presence() {
    let sandbox = Sandbox::new();
    let mut channel = session(&sandbox);
    assert_eq!(
        block_on(channel.jpki().token_kind()).unwrap(),
        TokenKind::PhysicalCard
    );
    assert_eq!(
        block_on(channel.jpki().certificate_presence()).unwrap(),
        CertificatePresence {
            signing: true,
            authentication: true
        }
    );

    let child = Sandbox::with_config(CardConfig {
        with_signing_certificate: false,
        ..CardConfig::sample()
    })
    .unwrap();
    let mut channel = session(&child);
    assert_eq!(
        block_on(channel.jpki().certificate_presence()).unwrap(),
        CertificatePresence {
            signing: false,
            authentication: true
        }
    );
    let android = Sandbox::with_config(CardConfig {
        token_label: "JPKIAPGPSETOKEN".into(),
        ..CardConfig::sample()
    })
    .unwrap();
    assert_eq!(
        block_on(session(&android).jpki().token_kind()).unwrap(),
        TokenKind::AndroidToken
    );
}

#[test]
fn certificates_chain_to_the_configured_anchor_only() {
    let sandbox = Sandbox::new();
    let mut channel = session(&sandbox);
    let auth = block_on(
        channel
            .jpki()
            .read_certificate(FreeCertificate::Authentication),
    )
    .unwrap();
    let auth_ca = block_on(
        channel
            .jpki()
            .read_certificate(FreeCertificate::AuthenticationCa),
    )
    .unwrap();
    let signing_ca = block_on(channel.jpki().read_certificate(FreeCertificate::SigningCa)).unwrap();
    assert!(
        auth.policies()
            .contains(&"1.2.392.200149.8.5.1.3.30".to_owned())
    );
    assert!(
        auth.personal_attributes().unwrap().is_none(),
        "the auth certificate carries no personal data"
    );
    assert!(auth_ca.is_ca() && signing_ca.is_ca());

    let anchor = sandbox
        .trust_anchors()
        .verify(&auth, CertificateRole::Authentication, &[])
        .unwrap();
    assert_eq!(anchor.subject, auth_ca.subject());
    // The CA certificate from the card itself proves nothing unless pinned.
    assert!(matches!(
        TrustAnchors::production().verify(&auth, CertificateRole::Authentication, &[&auth_ca]),
        Err(ChainError::UntrustedIssuer { .. })
    ));
    assert!(
        TrustAnchors::none()
            .with_fingerprint(auth_ca.sha256_fingerprint())
            .verify(&auth, CertificateRole::Authentication, &[&auth_ca])
            .is_ok()
    );
    // A CA is no holder's certificate, and an authentication certificate is not a signing one.
    assert_eq!(
        sandbox
            .trust_anchors()
            .verify(&auth_ca, CertificateRole::Authentication, &[]),
        Err(ChainError::NotALeaf)
    );
    assert_eq!(
        sandbox
            .trust_anchors()
            .verify(&auth, CertificateRole::Signing, &[]),
        Err(ChainError::WrongRole {
            expected: CertificateRole::Signing,
            found: CertificateRole::Authentication
        })
    );
    assert_eq!(anchor.role, CertificateRole::Authentication);
    // The signing CA has the same shape but another key: it did not sign the auth certificate.
    let wrong = TrustAnchors::none().with_certificate(signing_ca.clone());
    assert!(matches!(
        wrong.verify(&auth, CertificateRole::Authentication, &[]),
        Err(ChainError::UntrustedIssuer { .. })
    ));
}

#[test]
fn the_signing_certificate_needs_the_password_and_carries_the_holder() {
    let sandbox = Sandbox::new();
    let holder = sandbox.card().holder().clone();
    let mut channel = session(&sandbox);
    let password = SigningPassword::new(SIGNING_PASSWORD).unwrap();
    let cert = block_on(
        channel
            .jpki()
            .read_signing_certificate(&password, LastTry::Refuse),
    )
    .unwrap();
    let attrs = cert
        .personal_attributes()
        .unwrap()
        .expect("signing certificate has personal attributes");
    assert_eq!(attrs.name, holder.name);
    assert_eq!(attrs.address, holder.address);
    assert_eq!(attrs.birth_date(), holder.birth_date);
    assert_eq!(attrs.birth_date_code, "319850615", "Showa (3) 1985-06-15");
    assert_eq!(attrs.sex(), Some(holder.sex));
    assert_eq!(
        attrs.name_substitute_flags,
        "0".repeat(holder.name.chars().count())
    );
    assert!(
        cert.policies()
            .contains(&"1.2.392.200149.8.5.1.1.20".to_owned())
    );
    sandbox
        .trust_anchors()
        .verify(&cert, CertificateRole::Signing, &[])
        .unwrap();
    // Issued 2025-04-01: the fifth birthday after issue is 2029-06-15 (the first is 2025-06-15).
    let last = cert.not_after();
    assert_eq!(
        mynakit_core::japan_date(last),
        NaiveDate::from_ymd_opt(2029, 6, 15).unwrap()
    );
    assert_eq!(cert.expiry_state(last), ExpiryState::Valid);
    assert_eq!(
        cert.expiry_state(last + chrono::Duration::seconds(1)),
        ExpiryState::ExpiredUnderThreeMonths
    );
}

#[test]
fn both_keys_sign_what_their_certificates_verify() {
    let sandbox = Sandbox::new();
    let mut channel = session(&sandbox);
    let auth_sig = block_on(channel.jpki().sign_with_auth_key(
        &AuthPin::new(PIN).unwrap(),
        b"login",
        LastTry::Refuse,
    ))
    .unwrap();
    let password = SigningPassword::new(SIGNING_PASSWORD).unwrap();
    let doc_sig = block_on(channel.jpki().sign_with_signing_key(
        &password,
        b"document",
        LastTry::Refuse,
    ))
    .unwrap();
    let card = sandbox.card();
    assert!(
        card.auth_certificate()
            .verifies_sha256_signature(b"login", &auth_sig)
    );
    assert!(
        !card
            .auth_certificate()
            .verifies_sha256_signature(b"document", &doc_sig),
        "each key is its own"
    );
    assert!(
        card.signing_certificate()
            .expect("sample card has one")
            .verifies_sha256_signature(b"document", &doc_sig)
    );
}

#[test]
fn kenhojo_reads_the_basic_four_and_the_my_number_only_on_request() {
    let sandbox = Sandbox::new();
    let holder = sandbox.card().holder().clone();
    let mut channel = session(&sandbox);
    let pin = KenhojoPin::new(PIN).unwrap();
    let info = block_on(channel.kenhojo().read_basic_info(&pin, LastTry::Refuse)).unwrap();
    assert_eq!(
        (info.name.as_str(), info.address.as_str()),
        (holder.name.as_str(), holder.address.as_str())
    );
    assert_eq!(info.birth_date, holder.birth_date);
    assert_eq!(info.sex, holder.sex);
    assert_eq!(info.name_parts(), ("番号", Some("花子")));
    let my_number_reads = |sandbox: &Sandbox| {
        sandbox
            .card()
            .commands_received()
            .iter()
            .filter(|c| c.len() >= 3 && c[1] == 0xB0 && c[2] == 0x81)
            .count()
    };
    assert_eq!(
        my_number_reads(&sandbox),
        0,
        "the basic four never touch EF 0001"
    );
    let number = block_on(channel.kenhojo().read_my_number(&pin, LastTry::Refuse)).unwrap();
    assert_eq!(number, holder.my_number);
    assert_eq!(my_number_reads(&sandbox), 1);
}

#[test]
fn kenmen_opens_with_the_printed_card_front() {
    let sandbox = Sandbox::new();
    let holder = sandbox.card().holder().clone();
    let mut channel = session(&sandbox);
    let code =
        CheckCodeB::from_card_front(FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE).unwrap();
    let face = block_on(channel.kenmen().read_face(&code, LastTry::Refuse)).unwrap();
    assert_eq!(face.birth_date, holder.birth_date);
    assert_eq!(face.card_expiry, holder.card_expiry);
    assert_eq!(face.sex, holder.sex);
    assert_eq!(face.photo_jp2, holder.photo);
    assert_eq!(face.signature.len(), 256);

    // A misread security code is a wrong card-front code, not a wrong PIN
    // (issue 7, item 10): the card counts it.
    let mut channel = session(&sandbox);
    let misread = CheckCodeB::from_card_front(FRONT_BIRTH_DATE, FRONT_EXPIRY, "4822").unwrap();
    let before = sandbox
        .card()
        .tries_left(
            Application::Kenmen,
            mynakit_core::layout::kenmen::CHECK_CODE_B,
        )
        .unwrap();
    assert_eq!(
        block_on(channel.kenmen().read_face(&misread, LastTry::Refuse)),
        Err(CardError::WrongCheckCode {
            tries_left: before - 1
        })
    );
}

#[test]
fn kenmen_era_edges_open_the_card_of_a_holder_born_that_day() {
    let cases = [
        ((1989, 1, 7), "昭和64年1月7日"),
        ((1989, 1, 8), "平成元年1月8日"),
        ((2019, 4, 30), "平成31年4月30日"),
        ((2019, 5, 1), "令和元年5月1日"),
    ];
    for ((y, m, d), printed) in cases {
        let mut config = CardConfig::sample();
        config.holder.birth_date = NaiveDate::from_ymd_opt(y, m, d);
        let sandbox = Sandbox::with_config(config).unwrap();
        let mut channel = session(&sandbox);
        let code = CheckCodeB::from_card_front(printed, FRONT_EXPIRY, FRONT_SECURITY_CODE).unwrap();
        let face = block_on(channel.kenmen().read_face(&code, LastTry::Refuse))
            .unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(face.birth_date, NaiveDate::from_ymd_opt(y, m, d));
    }
    // The impossible printed dates never reach a card.
    for impossible in ["昭和64年1月8日", "平成31年5月1日"] {
        assert!(matches!(
            CheckCodeB::from_card_front(impossible, FRONT_EXPIRY, FRONT_SECURITY_CODE),
            Err(CheckCodeError::BirthDate(EraError::OutsideEra { .. }))
        ));
    }
}

#[test]
fn a_blank_birth_date_on_the_front_is_a_clear_error() {
    // rules.md R7: such a card cannot be used with the PIN-reset app.
    for blank in ["昭和  年  月  日", "不詳", ""] {
        assert_eq!(
            CheckCodeB::from_card_front(blank, FRONT_EXPIRY, FRONT_SECURITY_CODE).err(),
            Some(CheckCodeError::BirthDate(EraError::BirthDateUnknown))
        );
    }
}

#[test]
fn status_reads_spend_no_try() {
    let sandbox = Sandbox::new();
    let mut channel = session(&sandbox);
    assert_eq!(
        block_on(channel.kenhojo().pin_status()).unwrap(),
        PinStatus::TriesLeft { tries: 3 }
    );
    assert!(matches!(
        block_on(channel.kenmen().check_code_status()).unwrap(),
        PinStatus::TriesLeft { .. }
    ));
    assert_eq!(
        block_on(channel.jpki().pin_status(JpkiKey::Signing)).unwrap(),
        PinStatus::TriesLeft { tries: 5 }
    );
}
