//! Channel behaviour a real card or reader may provoke: `61xx` remainders,
//! `6Cxx` length corrections, redacted transcripts, no redundant SELECT.

use mynakit_core::{AuthPin, LastTry};
use mynakit_core::{CardChannel, CardError};
use mynakit_core::{DigestInfo, FreeCertificate, JpkiKey};
use mynakit_sandbox::{LinkSwitches, Sandbox};
use mynakit_tests::{MangledTransport, PIN, block_on, is_sign};

#[test]
fn the_transcript_never_holds_the_pin_but_counts_its_bytes() {
    let sandbox = Sandbox::new();
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    block_on(
        channel
            .jpki()
            .sign_with_auth_key(&AuthPin::new(PIN).unwrap(), b"x", LastTry::Refuse),
    )
    .unwrap();
    let verify = channel
        .transcript()
        .exchanges()
        .iter()
        .find(|e| e.redacted)
        .expect("one VERIFY with data");
    assert_eq!(verify.command, [0x00, 0x20, 0x00, 0x98], "header only");
    // The secret counts as the longest one: totals do not tell its length.
    assert_eq!(verify.bytes_sent, 4 + 1 + mynakit_core::SECRET_SLOT);
    let dump = format!("{:?}", channel.transcript());
    assert!(
        !dump.contains("49, 50, 51, 52") && !dump.contains("31323334"),
        "PIN bytes leaked: {dump}"
    );
    assert!(
        channel
            .transcript()
            .exchanges()
            .iter()
            .all(|e| !e.trace_line().contains("31323334"))
    );
}

#[test]
fn a_61xx_answer_is_collected_with_get_response() {
    let sandbox = Sandbox::new();
    // A reader/card that splits the certificate: the first 100 bytes, then 61xx for the rest.
    let splitting = MangledTransport::new(
        sandbox.transport(LinkSwitches::default()),
        Box::new({
            let rest = std::sync::Mutex::new(Vec::<u8>::new());
            move |_, command: &[u8], answer| {
                let mut rest = rest.lock().unwrap();
                if command[1] == 0xC0 {
                    let mut out = std::mem::take(&mut *rest);
                    out.extend_from_slice(&[0x90, 0x00]);
                    return Ok(out);
                }
                if command[1] == 0xB0 && answer.len() > 102 {
                    let (data, _) = answer.split_at(answer.len() - 2);
                    *rest = data[100..].to_vec();
                    let sw2 = u8::try_from(rest.len().min(256) % 256).unwrap();
                    return Ok([&data[..100], &[0x61, sw2][..]].concat());
                }
                Ok(answer)
            }
        }),
    );
    let mut channel = CardChannel::new(splitting);
    let cert = block_on(
        channel
            .jpki()
            .read_certificate(FreeCertificate::Authentication),
    )
    .unwrap();
    assert_eq!(cert.der(), sandbox.card().auth_certificate().der());
    assert_eq!(
        channel.transcript().stats().round_trips,
        3,
        "SELECT, READ BINARY, GET RESPONSE"
    );
}

#[test]
fn a_6cxx_read_is_repeated_with_the_right_le_but_a_signature_never_is() {
    let sandbox = Sandbox::new();
    // A card that insists on the exact length (ISO 7816-4: 6Cxx = exactly xx
    // bytes available) for the Kenhojo record, and answers 6C00 to signing.
    let exact = MangledTransport::new(
        sandbox.transport(LinkSwitches::default()),
        Box::new(move |_, command: &[u8], answer| {
            let available = answer.len() - 2;
            let asked = match command.len() {
                5 => usize::from(command[4]),
                7 => usize::from(u16::from_be_bytes([command[5], command[6]])),
                _ => 0,
            };
            Ok(
                if command[1] == 0xB0 && command[2] == 0x82 && asked != available {
                    vec![
                        0x6C,
                        u8::try_from(available).expect("the basic four fit one short answer"),
                    ]
                } else if is_sign(command) {
                    vec![0x6C, 0x00]
                } else {
                    answer
                },
            )
        }),
    );
    let mut channel = CardChannel::new(exact);
    let pin = mynakit_core::KenhojoPin::new(PIN).unwrap();
    let info = block_on(channel.kenhojo().read_basic_info(&pin, LastTry::Refuse)).unwrap();
    assert_eq!(info.name, sandbox.card().holder().name);
    let reads: Vec<_> = channel
        .transcript()
        .exchanges()
        .iter()
        .filter(|e| e.command[1] == 0xB0)
        .collect();
    assert_eq!(reads.len(), 2, "asked, corrected, asked again");

    block_on(
        channel
            .jpki()
            .verify_auth_pin(&AuthPin::new(PIN).unwrap(), LastTry::Refuse),
    )
    .unwrap();
    let err = block_on(
        channel
            .jpki()
            .sign(JpkiKey::Authentication, &DigestInfo::sha256(b"x")),
    )
    .unwrap_err();
    assert!(matches!(err, CardError::UnexpectedStatus { .. }), "{err:?}");
    let sent = channel.transport().sent.lock().unwrap().clone();
    assert_eq!(
        sent.iter().filter(|c| is_sign(c)).count(),
        1,
        "a signature is never sent twice"
    );
}

#[test]
fn one_select_per_application_switch() {
    let sandbox = Sandbox::new();
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    block_on(
        channel
            .jpki()
            .read_certificate(FreeCertificate::Authentication),
    )
    .unwrap();
    block_on(
        channel
            .jpki()
            .read_certificate(FreeCertificate::AuthenticationCa),
    )
    .unwrap();
    block_on(channel.jpki().pin_status(JpkiKey::Authentication)).unwrap();
    block_on(channel.kenhojo().pin_status()).unwrap();
    block_on(channel.jpki().pin_status(JpkiKey::Signing)).unwrap();
    let selects = channel
        .transcript()
        .exchanges()
        .iter()
        .filter(|e| e.command[1] == 0xA4)
        .count();
    assert_eq!(selects, 3, "JPKI, Kenhojo, JPKI again");
}
