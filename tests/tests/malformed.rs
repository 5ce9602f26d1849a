//! Malformed answers (truncated data, broken TLV and DER, odd status words)
//! end in typed errors: never a panic, never a resent VERIFY or signature.

use mynakit_core::FreeCertificate;
use mynakit_core::{CardChannel, CardError};
use mynakit_sandbox::{LinkSwitches, Sandbox};
use mynakit_tests::{Flow, Mangle, MangledTransport, block_on, is_sign, is_verify_with_data};

/// One way to spoil an answer.
#[derive(Debug, Clone, Copy)]
enum Spoil {
    /// Nothing at all.
    Empty,
    /// One byte: no status word.
    OneByte,
    /// Data cut in half, status word kept.
    HalfData,
    /// Data kept, this status word instead.
    Status(u16),
    /// The answer's data bytes inverted.
    FlipData,
    /// Only `9000`, no data.
    OkWithoutData,
}

const SPOILS: [Spoil; 12] = [
    Spoil::Empty,
    Spoil::OneByte,
    Spoil::HalfData,
    Spoil::FlipData,
    Spoil::OkWithoutData,
    Spoil::Status(0x6F00),
    Spoil::Status(0x6A86),
    Spoil::Status(0x6281),
    Spoil::Status(0x6110),
    Spoil::Status(0x6C05),
    Spoil::Status(0x63C9),
    Spoil::Status(0x6982),
];

fn spoil(how: Spoil, answer: Vec<u8>) -> Vec<u8> {
    let (data, sw) = answer.split_at(answer.len().saturating_sub(2));
    match how {
        Spoil::Empty => Vec::new(),
        Spoil::OneByte => answer[..1.min(answer.len())].to_vec(),
        Spoil::HalfData => [&data[..data.len() / 2], sw].concat(),
        Spoil::Status(new) => [data, &new.to_be_bytes()].concat(),
        Spoil::FlipData => [data.iter().map(|b| !b).collect::<Vec<_>>().as_slice(), sw].concat(),
        Spoil::OkWithoutData => vec![0x90, 0x00],
    }
}

fn spoiled_at(at: usize, how: Spoil) -> Mangle {
    Box::new(move |n, _, answer| Ok(if n == at { spoil(how, answer) } else { answer }))
}

fn clean_exchange_count(flow: Flow) -> usize {
    let sandbox = Sandbox::new();
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    block_on(flow.run(&mut channel)).unwrap();
    channel.transcript().stats().round_trips
}

#[test]
fn every_spoiled_answer_of_every_flow_gives_a_typed_result() {
    for flow in Flow::ALL {
        for at in 1..=clean_exchange_count(flow) {
            for how in SPOILS {
                let sandbox = Sandbox::new();
                let transport = MangledTransport::new(
                    sandbox.transport(LinkSwitches::default()),
                    spoiled_at(at, how),
                );
                let mut channel = CardChannel::new(transport);
                // A panic here fails the test.
                let result = block_on(flow.run(&mut channel));
                let sent = channel.transport().sent.lock().unwrap().clone();
                let context = format!("{flow:?}, exchange {at} spoiled as {how:?}");
                match (how, &result) {
                    // No status word: the answer itself is malformed, whatever the command.
                    (
                        Spoil::Empty | Spoil::OneByte,
                        Err(CardError::Malformed {
                            what: "response APDU",
                            ..
                        }),
                    ) => {}
                    (Spoil::Empty | Spoil::OneByte, other) => panic!("{context}: {other:?}"),
                    // The link worked: a transport error would be invented.
                    (_, Err(CardError::Transport(e))) => panic!("{context}: {e}"),
                    // A lost answer is the only way to an unknown VERIFY outcome.
                    (_, Err(CardError::VerifyOutcomeUnknown { .. })) => {
                        panic!("{context}: {result:?}")
                    }
                    _ => {}
                }
                assert!(
                    sent.iter().filter(|c| is_verify_with_data(c)).count() <= 1,
                    "{context}: VERIFY resent"
                );
                assert!(
                    sent.iter().filter(|c| is_sign(c)).count() <= 1,
                    "{context}: signature resent"
                );
            }
        }
    }
}

fn read_auth_cert_with(mangle: Mangle) -> Result<(), CardError> {
    let sandbox = Sandbox::new();
    let mut channel = CardChannel::new(MangledTransport::new(
        sandbox.transport(LinkSwitches::default()),
        mangle,
    ));
    block_on(
        channel
            .jpki()
            .read_certificate(FreeCertificate::Authentication),
    )
    .map(|_| ())
}

#[test]
fn truncated_certificate_der_is_malformed() {
    // The READ BINARY answer loses its last 100 bytes but claims success: it is
    // shorter than what was asked for, so the file ended before its DER length.
    let err = read_auth_cert_with(Box::new(|n, _, answer| {
        Ok(if n == 2 {
            [&answer[..answer.len() - 102], &[0x90, 0x00][..]].concat()
        } else {
            answer
        })
    }))
    .unwrap_err();
    assert!(
        matches!(
            err,
            CardError::Malformed {
                what: "authentication certificate",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_certificate_with_a_broken_inner_structure_is_malformed() {
    // Corrupt a byte inside the TBS certificate: the outer length stays right.
    let err = read_auth_cert_with(Box::new(|n, _, mut answer| {
        if n == 2 {
            answer[6] ^= 0xFF;
        }
        Ok(answer)
    }))
    .unwrap_err();
    assert!(
        matches!(
            err,
            CardError::Malformed {
                what: "authentication certificate",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn an_unwritten_file_is_malformed_not_a_loop() {
    let err = read_auth_cert_with(Box::new(|n, _, answer| {
        Ok(if n == 2 {
            [vec![0xFF; answer.len() - 2], vec![0x90, 0x00]].concat()
        } else {
            answer
        })
    }))
    .unwrap_err();
    assert!(matches!(err, CardError::Malformed { .. }), "{err:?}");
}

#[test]
fn endless_61xx_ends_in_an_error() {
    let err = read_auth_cert_with(Box::new(|n, _, answer| {
        Ok(if n >= 2 {
            [&answer[..answer.len() - 2], &[0x61, 0x10][..]].concat()
        } else {
            answer
        })
    }))
    .unwrap_err();
    assert!(
        matches!(
            err,
            CardError::UnexpectedStatus { .. } | CardError::Malformed { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn broken_kenhojo_tlv_is_malformed() {
    let sandbox = Sandbox::new();
    // Exchange 4 is the READ BINARY of the basic four (SELECT, bare VERIFY, VERIFY, READ).
    let transport = MangledTransport::new(
        sandbox.transport(LinkSwitches::default()),
        Box::new(|n, _, mut answer| {
            if n == 4 {
                // Make the first inner field claim more bytes than the container holds.
                let inner_len_at = if answer[2] & 0x80 != 0 {
                    3 + usize::from(answer[2] & 0x7F) + 2
                } else {
                    5
                };
                answer[inner_len_at] = 0x7F;
            }
            Ok(answer)
        }),
    );
    let mut channel = CardChannel::new(transport);
    let err = block_on(Flow::KenhojoBasicInfo.run(&mut channel)).unwrap_err();
    assert!(matches!(err, CardError::Malformed { .. }), "{err:?}");
}
