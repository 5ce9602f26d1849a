//! The simulated NFC link: removal before/after the card, link limits,
//! exchange counting, delay, and the core driving the card through it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mynakit_core::layout::{Application, jpki};
use mynakit_core::{AuthPin, LastTry};
use mynakit_core::{CardChannel, CardTransport, TransportError};
use mynakit_core::{FreeCertificate, Jpki, TokenKind};
use mynakit_sandbox::{LinkSwitches, RemovalPoint, Sandbox};

#[test]
fn capabilities_follow_the_switches() {
    let sandbox = Sandbox::new();
    let full = sandbox.transport(LinkSwitches::default()).capabilities();
    assert!(full.extended_length);
    assert_eq!(full.max_transceive_length, 65_538);
    let short = sandbox.transport(LinkSwitches::short_only()).capabilities();
    assert!(!short.extended_length);
    assert_eq!(short.max_transceive_length, 261);
}

#[test]
fn removal_before_the_card_keeps_the_command_from_it() {
    let sandbox = Sandbox::new();
    let t = sandbox.transport(LinkSwitches::default().removing_at(2, RemovalPoint::BeforeCard));
    assert_eq!(
        sw(&t.exchange(&select_app(Application::Jpki)).unwrap()),
        0x9000
    );
    assert_eq!(
        t.exchange(&verify(jpki::AUTH_PIN, b"0000")),
        Err(TransportError::CardRemoved)
    );
    assert_eq!(
        sandbox.card().tries_left(Application::Jpki, jpki::AUTH_PIN),
        Some(3),
        "the try was not spent"
    );
    assert_eq!(sandbox.card().commands_received().len(), 1);
    // Every exchange fails until the card comes back.
    assert_eq!(
        t.exchange(&select_app(Application::Jpki)),
        Err(TransportError::CardRemoved)
    );
    assert!(t.is_removed());
    assert_eq!(t.exchanges(), 3);
    t.reinsert();
    assert_eq!(
        sw(&t.exchange(&select_app(Application::Jpki)).unwrap()),
        0x9000
    );
    assert_eq!(t.exchanges(), 4);
}

#[test]
fn removal_after_the_card_spends_the_try_silently() {
    let sandbox = Sandbox::new();
    let t = sandbox.transport(LinkSwitches::default().removing_at(3, RemovalPoint::AfterCard));
    t.exchange(&select_app(Application::Jpki)).unwrap();
    t.exchange(&verify(jpki::AUTH_PIN, b"1234")).unwrap();
    assert_eq!(
        t.exchange(&verify(jpki::AUTH_PIN, b"0000")),
        Err(TransportError::CardRemoved)
    );
    // The card saw it and counted it; the app never heard.
    assert_eq!(
        sandbox.card().tries_left(Application::Jpki, jpki::AUTH_PIN),
        Some(2)
    );
    assert_eq!(sandbox.card().commands_received().len(), 3);
    assert_eq!(
        t.exchange(&hex("0020 0098")),
        Err(TransportError::CardRemoved)
    );
    // Back in the field: powered up afresh, so the earlier VERIFY no longer counts.
    t.reinsert();
    assert_eq!(
        sw(&t.exchange(&select_app(Application::Jpki)).unwrap()),
        0x9000
    );
    assert_eq!(sw(&t.exchange(&hex("0020 0098")).unwrap()), 0x63C2);
    let di = mynakit_core::DigestInfo::sha256(b"m");
    let mut sign = vec![0x80, 0x2A, 0x00, 0x97, di.as_bytes().len() as u8];
    sign.extend_from_slice(di.as_bytes());
    sign.push(0);
    assert_eq!(sw(&t.exchange(&sign).unwrap()), 0x6982);
}

#[test]
fn manual_removal_power_cycles_the_card() {
    let sandbox = Sandbox::new();
    let t = sandbox.transport(LinkSwitches::default());
    t.exchange(&select_app(Application::Jpki)).unwrap();
    t.remove();
    assert_eq!(sandbox.card().selected_application(), None);
    assert_eq!(
        t.exchange(&hex("00B0 8A00 00")),
        Err(TransportError::CardRemoved)
    );
    t.reinsert();
    assert_eq!(
        sw(&t.exchange(&hex("00B0 8A00 00")).unwrap()),
        0x6A82,
        "nothing selected after power-up"
    );
}

#[test]
fn the_link_enforces_extended_length_and_transceive_limits() {
    let sandbox = Sandbox::new();
    let short = sandbox.transport(LinkSwitches::short_only());
    short.exchange(&select_app(Application::Jpki)).unwrap();
    // Extended Le on a link without extended length never reaches the card.
    let before = sandbox.card().commands_received().len();
    assert!(matches!(
        short.exchange(&hex("00B0 8A00 00 0000")),
        Err(TransportError::Link { .. })
    ));
    assert_eq!(sandbox.card().commands_received().len(), before);
    // Short reads work: 256 bytes + SW = 258 ≤ 261.
    assert_eq!(short.exchange(&hex("00B0 8A00 00")).unwrap().len(), 258);

    // Extended link with a small transceive limit: the card answers, the link cannot carry it.
    let tight = sandbox.transport(LinkSwitches {
        max_transceive_length: 1000,
        ..LinkSwitches::default()
    });
    let err = tight.exchange(&hex("00B0 8A00 00 0000")).unwrap_err();
    assert!(
        matches!(&err, TransportError::Link { message } if message.contains("response")),
        "{err:?}"
    );
    assert_eq!(
        sandbox.card().commands_received().len(),
        before + 2,
        "the card did process it"
    );
    assert_eq!(
        tight.exchange(&hex("00B0 8A00 00 03E6")).unwrap().len(),
        1000
    );
    // A command longer than the limit.
    let tiny = sandbox.transport(LinkSwitches {
        max_transceive_length: 10,
        ..LinkSwitches::default()
    });
    assert!(matches!(
        tiny.exchange(&select_app(Application::Jpki)),
        Err(TransportError::Link { .. })
    ));
}

#[test]
fn answer_delay_sleeps_per_exchange() {
    let sandbox = Sandbox::new();
    let t = sandbox.transport(LinkSwitches {
        answer_delay: Duration::from_millis(30),
        ..LinkSwitches::default()
    });
    let start = Instant::now();
    t.exchange(&select_app(Application::Jpki)).unwrap();
    t.exchange(&hex("00B0 8800 00")).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(60));
}

#[test]
fn two_transports_share_one_card() {
    let sandbox = Sandbox::new();
    let a = sandbox.transport(LinkSwitches::default());
    let b = sandbox.transport(LinkSwitches::default());
    a.exchange(&select_app(Application::Jpki)).unwrap();
    a.exchange(&verify(jpki::AUTH_PIN, b"9999")).unwrap();
    assert_eq!(sw(&b.exchange(&hex("0020 0098")).unwrap()), 0x63C2);
    assert_eq!((a.exchanges(), b.exchanges()), (2, 1));
}

#[test]
fn the_core_reads_and_signs_through_the_transport() {
    let sandbox = Sandbox::new();
    let anchors = sandbox.trust_anchors();
    for switches in [LinkSwitches::default(), LinkSwitches::short_only()] {
        let transport = sandbox.transport(switches);
        let mut channel = CardChannel::new(&transport);
        let mut jpki = Jpki::new(&mut channel);
        assert_eq!(
            pollster::block_on(jpki.token_kind()).unwrap(),
            TokenKind::PhysicalCard
        );
        let cert =
            pollster::block_on(jpki.read_certificate(FreeCertificate::Authentication)).unwrap();
        assert_eq!(cert.der(), sandbox.card().auth_certificate().der());
        anchors
            .verify(&cert, mynakit_core::CertificateRole::Authentication, &[])
            .unwrap();
        let pin = AuthPin::new("1234").unwrap();
        let signature =
            pollster::block_on(jpki.sign_with_auth_key(&pin, b"login challenge", LastTry::Refuse))
                .unwrap();
        assert!(cert.verifies_sha256_signature(b"login challenge", &signature));
    }
}

#[test]
fn the_core_reads_kenhojo_and_kenmen_records() {
    use mynakit_core::JapaneseDate;
    use mynakit_core::{CardSecret, KenhojoPin};
    use mynakit_core::{CheckCodeB, SecurityCode};
    use mynakit_core::{Kenhojo, Kenmen};

    let sandbox = Sandbox::new();
    let holder = sandbox.card().holder().clone();
    for switches in [LinkSwitches::default(), LinkSwitches::short_only()] {
        let transport = sandbox.transport(switches);
        let mut channel = CardChannel::new(&transport);
        let pin = KenhojoPin::new("1234").unwrap();
        let info =
            pollster::block_on(Kenhojo::new(&mut channel).read_basic_info(&pin, LastTry::Refuse))
                .unwrap();
        assert_eq!(
            (info.name.as_str(), info.address.as_str()),
            (holder.name.as_str(), holder.address.as_str())
        );
        assert_eq!((info.birth_date, info.sex), (holder.birth_date, holder.sex));
        let number =
            pollster::block_on(Kenhojo::new(&mut channel).read_my_number(&pin, LastTry::Refuse))
                .unwrap();
        assert_eq!(number, holder.my_number);

        // The core derives 照合番号B on its own; the card must accept it.
        let birth = JapaneseDate::from_gregorian(holder.birth_date.unwrap()).unwrap();
        let code = CheckCodeB::new(&birth, 2035, &SecurityCode::new("4821").unwrap()).unwrap();
        assert_eq!(
            code.verify_data(),
            holder.check_code_b().unwrap().as_bytes()
        );
        let face = pollster::block_on(Kenmen::new(&mut channel).read_face(&code, LastTry::Refuse))
            .unwrap();
        assert_eq!(face.birth_date, holder.birth_date);
        assert_eq!(face.card_expiry, holder.card_expiry);
        assert_eq!(face.photo_jp2, holder.photo);
        assert_eq!(face.security_code_image, holder.images.security_code);
    }
}
