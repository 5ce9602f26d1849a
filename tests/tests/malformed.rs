//! Malformed answers (truncated data, broken TLV and DER, odd status words)
//! end in typed errors: never a panic, never a resent VERIFY or signature.

use mynakit_core::FreeCertificate;
use mynakit_core::{CardChannel, CardError, Malformation, TransportError};
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

/// What one exchange of a clean run was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// SELECT of an application (answer: `9000`, no data).
    Select,
    /// The bare VERIFY that reads a counter (answer: `63Cx`).
    CounterRead,
    /// VERIFY with the secret (answer: `9000`).
    Verify,
    /// READ BINARY of the named file (answer: data and `9000`).
    Read(&'static str),
    /// COMPUTE DIGITAL SIGNATURE (answer: 256 bytes and `9000`).
    Sign,
}

/// The exchanges of `flow` on a clean run, classified.
fn clean_exchanges(flow: Flow) -> Vec<Kind> {
    let sandbox = Sandbox::new();
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    block_on(flow.run(&mut channel)).unwrap();
    let mut reads = match flow {
        Flow::Status => vec!["token information", "certificate presence"],
        Flow::ReadAuthCertificate => vec!["authentication certificate"],
        Flow::AuthSign | Flow::SigningSign => vec![],
        Flow::ReadSigningCertificate => vec!["signing certificate"],
        Flow::KenhojoBasicInfo => vec!["basic information record"],
        Flow::KenhojoMyNumber => vec!["My Number record"],
        Flow::KenmenFace => vec!["card face record"],
    }
    .into_iter();
    channel
        .transcript()
        .exchanges()
        .iter()
        .map(|e| match e.command.as_slice() {
            [0x00, 0xA4, 0x04, ..] => Kind::Select,
            [0x00, 0x20, _, _] if e.redacted => Kind::Verify,
            [0x00, 0x20, _, _] => Kind::CounterRead,
            [0x00, 0xB0, ..] => Kind::Read(reads.next().expect("one read per file on this link")),
            [0x80, 0x2A, ..] => Kind::Sign,
            other => panic!("{flow:?}: unexpected command {other:02X?}"),
        })
        .collect()
}

/// An outcome, with the error's typed fields and without free-text detail.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Done,
    /// Which object, and which kind of damage (`Malformation`'s case).
    Malformed(&'static str, &'static str),
    Unexpected(&'static str, u16),
    PinRequired,
    WrongPin(u8),
    WrongCheckCode(u8),
    TriesUnknown,
    VerifyUnknown(Option<u8>, TransportError),
    Other(String),
}

fn outcome(result: &Result<(), CardError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(CardError::Malformed { what, reason }) => Outcome::Malformed(
            what,
            match reason {
                Malformation::Answer(_) => "no status word",
                Malformation::Header(_) => "header",
                Malformation::Record(_) => "record",
                Malformation::Certificate(_) => "certificate",
                Malformation::EndedAfter { .. } => "ended early",
                Malformation::NoData { .. } => "no data",
                Malformation::Size { .. } => "size",
                Malformation::Prefix { .. } => "prefix",
                other => panic!("a damage no spoil makes: {other:?}"),
            },
        ),
        Err(CardError::UnexpectedStatus { command, sw }) => Outcome::Unexpected(command, sw.0),
        Err(CardError::PinRequired) => Outcome::PinRequired,
        Err(CardError::WrongPin { tries_left }) => Outcome::WrongPin(*tries_left),
        Err(CardError::WrongCheckCode { tries_left }) => Outcome::WrongCheckCode(*tries_left),
        Err(CardError::TriesUnknownNeedsConfirmation) => Outcome::TriesUnknown,
        Err(CardError::VerifyOutcomeUnknown { tries_left, cause }) => {
            Outcome::VerifyUnknown(*tries_left, cause.clone())
        }
        Err(other) => Outcome::Other(format!("{other:?}")),
    }
}

/// The one outcome each spoiled answer must give. `tries_after` is the
/// counter the card holds after the run (what a read-back finds).
fn expected(flow: Flow, kind: Kind, how: Spoil, tries_after: u8) -> Outcome {
    use Outcome::*;
    let command = match kind {
        Kind::Select => "SELECT",
        Kind::CounterRead => "VERIFY (counter)",
        Kind::Verify => "VERIFY",
        Kind::Read(_) => "READ BINARY",
        Kind::Sign => "COMPUTE DIGITAL SIGNATURE",
    };
    // Answers without data are unchanged by spoiling their data.
    let has_data = matches!(kind, Kind::Read(_) | Kind::Sign);
    match (how, kind) {
        // No status word. After a VERIFY the card may have counted the try:
        // the counter is read back. Anything else is a malformed answer.
        (Spoil::Empty, Kind::Verify) => {
            VerifyUnknown(Some(tries_after), TransportError::Garbled { length: 0 })
        }
        (Spoil::OneByte, Kind::Verify) => {
            VerifyUnknown(Some(tries_after), TransportError::Garbled { length: 1 })
        }
        (Spoil::Empty | Spoil::OneByte, _) => Malformed("response APDU", "no status word"),
        (Spoil::HalfData | Spoil::FlipData, _) if !has_data => Done,
        // Half the data with 9000: the file (or signature) is cut short.
        (Spoil::HalfData, Kind::Read(what)) => Malformed(what, "ended early"),
        (Spoil::HalfData, _) => Malformed("signature", "size"),
        // Inverted data: a label or flags still decode (an unknown token,
        // other flags) and a signature is not checked by the flow; a DER or
        // TLV object does not parse.
        (Spoil::FlipData, Kind::Read("token information" | "certificate presence")) => Done,
        // `30 82 …` becomes `CF 7D …`: a 127-byte object that is no certificate.
        (
            Spoil::FlipData,
            Kind::Read(what @ ("authentication certificate" | "signing certificate")),
        ) => Malformed(what, "certificate"),
        // The My Number record has a fixed prefix; `FF 20` becomes `00 DF`.
        (Spoil::FlipData, Kind::Read(what @ "My Number record")) => Malformed(what, "prefix"),
        (Spoil::FlipData, Kind::Read(what)) => Malformed(what, "header"),
        (Spoil::FlipData, _) => Done,
        // A bare 9000 to the counter read: the count is unknown, so the PIN
        // is not sent unconfirmed (the status flow only reads the state).
        (Spoil::OkWithoutData, Kind::CounterRead) if flow == Flow::Status => Done,
        (Spoil::OkWithoutData, Kind::CounterRead) => TriesUnknown,
        (Spoil::OkWithoutData, Kind::Read(what)) => Malformed(what, "no data"),
        (Spoil::OkWithoutData, Kind::Sign) => Malformed("signature", "size"),
        (Spoil::OkWithoutData, _) => Done,
        // 61xx: the GET RESPONSE is answered 6D00 by this card, which the
        // command then ends with.
        (Spoil::Status(0x6110), _) => Unexpected(command, 0x6D00),
        // 6Cxx: commands that may be repeated are, with Le = 5. A counter
        // read with an Le is refused (6700, as the real card does); 6C05 to
        // a read says 5 bytes are there, so a longer file ends early and the
        // 3-byte presence flags come whole. VERIFY and signatures are never
        // repeated.
        (Spoil::Status(0x6C05), Kind::Select | Kind::Read("certificate presence")) => Done,
        (Spoil::Status(0x6C05), Kind::CounterRead) => Unexpected(command, 0x6700),
        (Spoil::Status(0x6C05), Kind::Read(what)) => Malformed(what, "ended early"),
        // 63C9: a counter of 9 is believed; to a VERIFY it is a wrong secret.
        (Spoil::Status(0x63C9), Kind::CounterRead) => Done,
        (Spoil::Status(0x63C9), Kind::Verify) if flow == Flow::KenmenFace => WrongCheckCode(9),
        (Spoil::Status(0x63C9), Kind::Verify) => WrongPin(9),
        // 6982 to a read or a signature: the PIN is needed (again).
        (Spoil::Status(0x6982), Kind::Read(_) | Kind::Sign) => PinRequired,
        (Spoil::Status(sw), _) => Unexpected(command, sw),
    }
}

/// Tries the card holds for the flow's secret after a run.
fn tries_after(flow: Flow, sandbox: &Sandbox) -> u8 {
    use mynakit_core::layout::{Application, jpki, kenhojo, kenmen};
    let (app, pin) = match flow {
        Flow::Status | Flow::ReadAuthCertificate | Flow::AuthSign => {
            (Application::Jpki, jpki::AUTH_PIN)
        }
        Flow::ReadSigningCertificate | Flow::SigningSign => (Application::Jpki, jpki::SIGNING_PIN),
        Flow::KenhojoBasicInfo | Flow::KenhojoMyNumber => (Application::Kenhojo, kenhojo::PIN),
        Flow::KenmenFace => (Application::Kenmen, kenmen::CHECK_CODE_B),
    };
    sandbox
        .card()
        .tries_left(app, pin)
        .expect("the flow's secret exists")
}

#[test]
fn every_spoiled_answer_of_every_flow_gives_its_exact_typed_result() {
    let mut wrong = Vec::new();
    for flow in Flow::ALL {
        for (at, kind) in (1..).zip(clean_exchanges(flow)) {
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
                let context = format!("{flow:?}, exchange {at} ({kind:?}) spoiled as {how:?}");
                let want = expected(flow, kind, how, tries_after(flow, &sandbox));
                let got = outcome(&result);
                if got != want {
                    wrong.push(format!("{context}: got {got:?}, want {want:?}"));
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
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
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
    // 256 GET RESPONSEs are fetched, then the read gives up on the status.
    assert_eq!(
        err,
        CardError::UnexpectedStatus {
            command: "READ BINARY",
            sw: mynakit_core::StatusWord(0x6110)
        }
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
