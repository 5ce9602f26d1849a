//! The fuzz harnesses: one function per target, each feeding arbitrary bytes
//! to the code that parses what a card (or a reader) sends us, and checking
//! properties that must hold for every input.
//!
//! The cargo-fuzz targets in `fuzz/` call these functions, and
//! `tests/fuzz_regressions.rs` replays the committed regression corpus
//! (`fuzz/regressions/<target>/`) through the very same functions, so a
//! finding stays fixed without cargo-fuzz or a nightly toolchain.
//!
//! A harness never returns an error: "no panic, no hang, properties hold" is
//! the whole oracle. Properties are checked with `assert!`, which the fuzzer
//! reports as a crash.

use std::sync::{Mutex, OnceLock, PoisonError};

use chrono::{DateTime, Utc};
use mynakit_core::CardFace;
use mynakit_core::CheckCodeB;
use mynakit_core::CvCertificate;
use mynakit_core::JapaneseDate;
use mynakit_core::Record;
use mynakit_core::StatusWord;
use mynakit_core::layout::{Application, jpki, kenhojo, kenmen};
use mynakit_core::{AuthPin, KenhojoPin, LastTry, SigningPassword};
use mynakit_core::{BasicInfo, parse_my_number};
use mynakit_core::{CardCertificate, CertificateRole, TrustAnchors};
use mynakit_core::{CardChannel, CardTransport, LinkCapabilities, TransportError};
use mynakit_core::{CertificatePresence, FreeCertificate, JpkiKey, TokenKind};
use mynakit_core::{CommandApdu, ResponseApdu};
use mynakit_core::{MAX_PIXELS, Picture, PictureError};
use mynakit_sandbox::vpcd::{QuickAck, VpcdCard};
use mynakit_sandbox::{LinkSwitches, SandboxCa, VirtualCard};

use crate::{FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE, PIN, SIGNING_PASSWORD};

/// A fuzz target: its name (the directory under `fuzz/regressions/`) and harness.
pub type Target = (&'static str, fn(&[u8]));

/// Every harness, by target name.
pub const TARGETS: [Target; 9] = [
    ("apdu", apdu),
    ("channel", channel),
    ("records", records),
    ("certificate", certificate),
    ("card_front", card_front),
    ("card_front_text", card_front_text),
    ("virtual_card", virtual_card),
    ("vpcd", vpcd),
    ("picture", picture),
];

/// Splits `data` into pieces, each prefixed by a big-endian `u16` length;
/// a last piece shorter than its prefix says is cut off where the data ends.
pub fn split_u16_prefixed(mut data: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    while let [hi, lo, rest @ ..] = data {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        let (piece, tail) = rest.split_at(len);
        pieces.push(piece);
        data = tail;
    }
    pieces
}

/// Joins pieces in the format [`split_u16_prefixed`] reads (for seeds).
pub fn join_u16_prefixed<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces {
        let len = u16::try_from(piece.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&piece[..usize::from(len)]);
    }
    out
}

/// Command and response APDUs and status words.
///
/// Properties: a parsed command re-encodes to bytes that parse to the same
/// command; a parsed response re-encodes to exactly its input.
pub fn apdu(data: &[u8]) {
    if let Ok(command) = CommandApdu::parse(data) {
        let encoded = command.to_bytes().expect("a parsed command can be encoded");
        assert_eq!(
            CommandApdu::parse(&encoded).as_ref(),
            Ok(&command),
            "re-encoding changed the command"
        );
        // Extended encodings are exactly those with a zero byte after the
        // header and at least two more bytes (ISO 7816-4 §5.1).
        assert_eq!(
            command.needs_extended(),
            encoded.len() >= 7 && encoded[4] == 0,
            "short/extended form disagrees with the command"
        );
        let _ = format!("{command:?}");
    }
    match ResponseApdu::parse(data) {
        Ok(response) => {
            assert_eq!(response.to_bytes(), data, "a response re-encodes exactly");
            let _ = (response.sw.meaning(), response.sw.to_string());
        }
        Err(_) => assert!(
            data.len() < 2,
            "only fewer than two bytes lack a status word"
        ),
    }
    if let [sw1, sw2, ..] = *data {
        let sw = StatusWord::from_bytes(sw1, sw2);
        assert_eq!(sw.to_bytes(), [sw1, sw2]);
        let _ = format!("{:?} {}", sw.meaning(), sw);
    }
}

/// A card that answers with the fuzz input: each answer is one
/// [`split_u16_prefixed`] piece; once they run out, the card is gone.
struct FuzzedCard {
    capabilities: LinkCapabilities,
    answers: Mutex<std::vec::IntoIter<Vec<u8>>>,
    sent: Mutex<Vec<Vec<u8>>>,
}

#[async_trait::async_trait]
impl CardTransport for FuzzedCard {
    fn capabilities(&self) -> LinkCapabilities {
        self.capabilities
    }

    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(command.to_vec());
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next()
            .ok_or(TransportError::CardRemoved)
    }
}

/// The card operations the channel harness runs, chosen by the input's first byte.
pub const CHANNEL_FLOWS: u8 = 10;

/// The channel and every application flow against a card that answers
/// arbitrary bytes (the read loop, `61xx`/`6Cxx` handling, TLV lengths,
/// the parsers behind each flow).
///
/// Properties: every flow ends (with a result or a typed error); no VERIFY
/// with data and no signature is ever sent twice; a PIN is only sent right
/// after the card reported tries left (at least two where the last try
/// must be confirmed); no command exceeds what the link said it carries.
pub fn channel(data: &[u8]) {
    let [flow, link, rest @ ..] = data else {
        return;
    };
    let capabilities = match link % 3 {
        0 => LinkCapabilities::EXTENDED,
        1 => LinkCapabilities::SHORT_ONLY,
        // A phone with a small transceive limit (Android's default IsoDep is 261).
        _ => LinkCapabilities {
            extended_length: true,
            max_transceive_length: 1 + u32::from(*link),
        },
    };
    let card = FuzzedCard {
        capabilities,
        answers: Mutex::new(
            split_u16_prefixed(rest)
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
                .into_iter(),
        ),
        sent: Mutex::new(Vec::new()),
    };
    let mut channel = CardChannel::new(&card);
    pollster::block_on(run_channel_flow(flow % CHANNEL_FLOWS, &mut channel));
    let sent = card
        .sent
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    // The answers the card gave, in order (the input's pieces, as consumed).
    let answers = split_u16_prefixed(rest);
    // Flows that refuse an unconfirmed last try (4, 9) send a PIN only right
    // after a counter answer with at least two tries left. Flows whose user
    // allowed the last try skip the counter read (it would protect nothing).
    let refuses_last_try = matches!(flow % CHANNEL_FLOWS, 4 | 9);
    for (i, command) in sent.iter().enumerate() {
        if !refuses_last_try || !crate::is_verify_with_data(command) {
            continue;
        }
        let counter = i
            .checked_sub(1)
            .and_then(|j| answers.get(j))
            .and_then(|a| match a[..] {
                [.., 0x63, sw2] if sw2 & 0xF0 == 0xC0 => Some(sw2 & 0x0F),
                _ => None,
            });
        assert!(
            counter.is_some_and(|tries| tries >= 2),
            "a PIN was sent after the counter answer {:02X?}",
            i.checked_sub(1).and_then(|j| answers.get(j))
        );
    }
    let verifies = sent
        .iter()
        .filter(|c| crate::is_verify_with_data(c))
        .count();
    let signs = sent.iter().filter(|c| crate::is_sign(c)).count();
    assert!(
        verifies <= 1,
        "a VERIFY with data was sent {verifies} times"
    );
    assert!(signs <= 1, "a signature was asked for {signs} times");
    let limit = capabilities.max_transceive_length as usize;
    assert!(
        sent.iter().all(|c| c.len() <= limit),
        "a command exceeded the link's {limit} bytes"
    );
}

/// Runs channel flow number `flow` (`0..CHANNEL_FLOWS`) with the sandbox
/// secrets; the result is dropped (any typed error is an acceptable end).
pub async fn run_channel_flow<T: CardTransport>(flow: u8, channel: &mut CardChannel<T>) {
    let auth_pin = || AuthPin::new(PIN).expect("the sandbox PIN is well-formed");
    let password =
        || SigningPassword::new(SIGNING_PASSWORD).expect("the sandbox password is well-formed");
    match flow {
        0 => drop(channel.jpki().token_kind().await),
        1 => drop(channel.jpki().certificate_presence().await),
        2 => drop(
            channel
                .jpki()
                .read_certificate(FreeCertificate::Authentication)
                .await,
        ),
        3 => drop(
            channel
                .jpki()
                .read_signing_certificate(&password(), LastTry::Allow)
                .await,
        ),
        4 => drop(
            channel
                .jpki()
                .sign_with_auth_key(&auth_pin(), b"fuzz", LastTry::Refuse)
                .await,
        ),
        5 => drop(
            channel
                .jpki()
                .sign_with_signing_key(&password(), b"fuzz", LastTry::Allow)
                .await,
        ),
        6 => drop(channel.jpki().pin_status(JpkiKey::Signing).await),
        7 => {
            let pin = KenhojoPin::new(PIN).expect("the sandbox PIN is well-formed");
            drop(
                channel
                    .kenhojo()
                    .read_basic_info(&pin, LastTry::Allow)
                    .await,
            );
        }
        8 => {
            let pin = KenhojoPin::new(PIN).expect("the sandbox PIN is well-formed");
            drop(channel.kenhojo().read_my_number(&pin, LastTry::Allow).await);
        }
        _ => {
            let code =
                CheckCodeB::from_card_front(FRONT_BIRTH_DATE, FRONT_EXPIRY, FRONT_SECURITY_CODE)
                    .expect("the sample card front parses");
            drop(channel.kenmen().read_face(&code, LastTry::Refuse).await);
        }
    }
}

/// The Kenhojo and Kenmen records, the My Number record, the token label and
/// the certificate-presence EF, as the card could send them.
///
/// Properties: a record that parses yields each field exactly as
/// `Record::get` finds it (typed accessors agree with the raw bytes); and the
/// same fields written with the other length forms — shortest, and the real
/// card's `82 hh ll` for everything — parse to the same fields, so both forms
/// are exercised from every input.
pub fn records(data: &[u8]) {
    let _ = BasicInfo::parse(data);
    let issuers = mynakit_sandbox::fixtures::cv_issuer_keys();
    if let Ok(face) = CardFace::parse(data) {
        // The face record's issuer signature, against the sandbox's own
        // certificate: no panic whatever the record holds.
        let sandbox_cert = CvCertificate::parse(&sandbox_kenmen_certificate())
            .expect("the sandbox's Kenmen EF 0004 parses");
        let _ = face.verify_issuer_signature(&sandbox_cert, &issuers);
    }
    if let Ok(cert) = CvCertificate::parse(data) {
        // Property: the key ids are the body's first 32 bytes, as printed digits.
        assert_eq!(cert.issuer_key_id().number().len(), 7);
        let _ = cert.verify(&issuers);
    }
    let _ = parse_my_number(data);
    let _ = CertificatePresence::from_bytes(data);
    let _ = TokenKind::from_label(data);
    for container in [0xFF20, 0xFF10, 0x30] {
        if let Ok(record) = Record::parse(data, container) {
            for form in [LengthForm::Shortest, LengthForm::Card, LengthForm::Four] {
                let again = Record::parse(&reencode(&record, container, form), container)
                    .expect("a record re-encoded with other lengths parses");
                assert!(record.tags().eq(again.tags()));
                for tag in record.tags() {
                    assert_eq!(record.get(tag), again.get(tag));
                }
            }
            for tag in 0xDF21..=0xDF2A {
                match record.get(tag) {
                    Some(raw) => {
                        if let Ok(text) = record.text(tag) {
                            assert_eq!(text.as_bytes(), raw);
                        }
                        let _ = (record.date(tag), record.sex(tag));
                    }
                    None => assert!(record.require(tag).is_err()),
                }
            }
        }
    }
}

/// The sandbox card's Kenmen EF 0004, built once.
fn sandbox_kenmen_certificate() -> Vec<u8> {
    static CERT: OnceLock<Vec<u8>> = OnceLock::new();
    CERT.get_or_init(|| {
        VirtualCard::sample()
            .ef_content(Application::Kenmen, kenmen::CV_CERTIFICATE)
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    })
    .clone()
}

/// How [`reencode`] writes lengths.
#[derive(Clone, Copy)]
enum LengthForm {
    /// Shortest (DER-like): `ll`, `81 ll`, `82 hh ll`.
    Shortest,
    /// The real card's: short below 128, else `82 hh ll`.
    Card,
    /// Always the longest form the core accepts: `84` and four bytes.
    Four,
}

fn length(len: usize, form: LengthForm) -> Vec<u8> {
    let bytes = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    match (form, len) {
        (LengthForm::Four, _) => [&[0x84][..], &bytes].concat(),
        (_, 0..=0x7F) => vec![bytes[3]],
        (LengthForm::Shortest, 0x80..=0xFF) => vec![0x81, bytes[3]],
        (_, 0x80..=0xFFFF) => vec![0x82, bytes[2], bytes[3]],
        _ => [&[0x83][..], &bytes[1..]].concat(),
    }
}

/// A record's fields written again as a container, with `form` lengths.
fn reencode(record: &Record, container: u16, form: LengthForm) -> Vec<u8> {
    let mut body = Vec::new();
    for tag in record.tags() {
        let value = record.get(tag).unwrap_or_default();
        body.extend_from_slice(&tag.to_be_bytes());
        body.extend(length(value.len(), form));
        body.extend_from_slice(value);
    }
    let [high, low] = container.to_be_bytes();
    let mut out = if high == 0 {
        vec![low]
    } else {
        vec![high, low]
    };
    out.extend(length(body.len(), form));
    out.extend(body);
    out
}

/// The moment every certificate harness evaluates expiry at (fixed, so a
/// run is reproducible).
fn fuzz_now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap_or_default()
}

/// Certificates and what the core reads from them: summary, personal
/// attributes, expiry, signature checks, chain verification against the
/// sandbox anchors and against itself as a pinned anchor.
///
/// Property: parsing keeps the exact DER; a certificate that verifies
/// against the sandbox anchors is issued by one of the sandbox roots.
pub fn certificate(data: &[u8]) {
    let Ok(cert) = CardCertificate::from_der(data.to_vec()) else {
        return;
    };
    assert_eq!(cert.der(), data);
    let _ = (
        cert.info(),
        cert.policies(),
        cert.is_ca(),
        cert.public_key(),
    );
    if let Ok(Some(attributes)) = cert.personal_attributes() {
        let _ = (
            attributes.birth_date(),
            attributes.sex(),
            format!("{attributes:?}"),
        );
    }
    let _ = (
        cert.key_usage(),
        cert.has_client_auth_eku(),
        cert.subject(),
        cert.issuer(),
    );
    let _ = cert.expiry_state(fuzz_now());
    let _ = cert.verifies_sha256_signature(b"fuzz", &[0x55; 256]);
    let _ = cert.verifies_pss_sha256_signature(b"fuzz", &[0x55; 256]);
    let role = CertificateRole::of(&cert);
    let ca = SandboxCa::fixture();
    let anchors = ca.trust_anchors();
    for expected in [CertificateRole::Authentication, CertificateRole::Signing] {
        if let Ok(anchor) = anchors.verify(&cert, expected, &[]) {
            assert!(
                [
                    ca.root(mynakit_sandbox::Hierarchy::Authentication),
                    ca.root(mynakit_sandbox::Hierarchy::Signing)
                ]
                .iter()
                .any(|root| root.subject() == anchor.subject),
                "verified against an anchor that is not a sandbox root"
            );
            assert_eq!(
                anchor.role, expected,
                "verified for a role it does not have"
            );
            assert_eq!(role.map(|r| r.role), Ok(expected));
        }
        // As a card CA certificate: it only counts when pinned.
        let _ = TrustAnchors::none()
            .with_fingerprint(cert.sha256_fingerprint())
            .verify(&cert, expected, &[&cert]);
        let _ = TrustAnchors::production().verify(&cert, expected, &[&cert]);
    }
}

/// The card-front text the camera reads: the birth date with its era, the
/// expiry and the security code, separated by `|` in the input.
///
/// Properties: a parsed date prints as text that parses back to the same
/// date, and converts to a Gregorian date and back unchanged.
pub fn card_front(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.splitn(3, '|');
    let birth = fields.next().unwrap_or_default();
    let expiry = fields.next().unwrap_or_default();
    let code = fields.next().unwrap_or_default();
    if let Ok(date) = JapaneseDate::parse_printed(birth) {
        let printed = date.to_string();
        assert_eq!(
            JapaneseDate::parse_printed(&printed),
            Ok(date),
            "{printed} does not parse back"
        );
        assert_eq!(JapaneseDate::from_gregorian(date.to_gregorian()), Ok(date));
        assert!(date.yymmdd().iter().all(u8::is_ascii_digit));
    }
    let _ = CheckCodeB::from_card_front(birth, expiry, code);
}

/// The whole card front as the camera's OCR gives it (issue 8, R7, R8):
/// `FrontReading::read` on any text.
///
/// Properties: every correction turns a character into an ASCII digit, and
/// names the character at its position in the field's text; a full reading
/// has a 4-digit security code and the 照合番号B the core forms from the
/// same fields; and a My Number on a line of its own changes nothing but
/// the count of ignored numbers (R8: it is never read).
pub fn card_front_text(data: &[u8]) {
    use mynakit_core::reset::{FrontField, FrontReading, MAX_FRONT_TEXT_CHARS};
    use mynakit_core::{CardSecret, SecurityCode};

    let text = String::from_utf8_lossy(data);
    let reading = FrontReading::read(&text);
    for correction in reading.corrections() {
        assert!(correction.to.is_ascii_digit(), "{correction:?}");
        assert_ne!(correction.from, correction.to);
        let field_text = match correction.field {
            FrontField::BirthDate => reading.birth_date_text(),
            FrontField::ExpiryYear => reading.expiry_text(),
            FrontField::SecurityCode => None,
        };
        match field_text {
            Some(field) => assert_eq!(
                field.chars().nth(correction.position),
                Some(correction.from),
                "{correction:?}"
            ),
            None => assert!(
                correction.field == FrontField::SecurityCode && correction.position < 4,
                "{correction:?}"
            ),
        }
    }
    let summary = |reading: &FrontReading| {
        (
            reading.birth_date(),
            reading.birth_date_text().map(str::to_owned),
            reading.expiry_year(),
            reading.expiry_text().map(str::to_owned),
            reading.security_code(),
            reading.corrections().to_vec(),
            reading.card_front().map(|front| {
                (
                    front.security_code_digits().to_owned(),
                    front.check_code().verify_data().to_vec(),
                )
            }),
        )
    };
    if let Ok(front) = reading.card_front() {
        let digits = front.security_code_digits();
        assert!(digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()));
        let code = SecurityCode::new(digits).expect("four digits make a security code");
        let again = CheckCodeB::new(&front.birth_date(), front.expiry_year(), &code)
            .expect("the fields formed a code once");
        assert_eq!(again.verify_data(), front.check_code().verify_data());
        assert!(
            front
                .check_code()
                .verify_data()
                .iter()
                .all(u8::is_ascii_digit)
        );
    }
    if text.chars().count() + 16 <= MAX_FRONT_TEXT_CHARS {
        let with_number = FrontReading::read(&format!("{text}\n1234 5678 9012"));
        assert_eq!(summary(&with_number), summary(&reading));
        assert_eq!(
            with_number.ignored_long_numbers(),
            reading.ignored_long_numbers() + 1
        );
    }
}

/// The sample card, built once: building issues certificates (RSA), too
/// slow to repeat for every input.
fn sample_card() -> VirtualCard {
    static CARD: OnceLock<VirtualCard> = OnceLock::new();
    CARD.get_or_init(VirtualCard::sample).clone()
}

/// The virtual card's APDU processing, for command sequences (each a
/// [`split_u16_prefixed`] piece; an empty piece is a power cycle).
///
/// Properties: every answer ends in a status word and is at most 65538
/// bytes; data comes only with `9000`; retry counters never exceed their
/// start and never rise without a `9000` to a VERIFY; a READ BINARY never
/// returns more than `Ne`.
pub fn virtual_card(data: &[u8]) {
    let mut card = sample_card();
    let counters = |card: &VirtualCard| {
        [
            (Application::Jpki, jpki::AUTH_PIN),
            (Application::Jpki, jpki::SIGNING_PIN),
            (Application::Kenhojo, kenhojo::PIN),
            (Application::Kenmen, kenmen::CHECK_CODE_B),
        ]
        .map(|(app, file)| card.tries_left(app, file).unwrap_or(0))
    };
    let start = counters(&card);
    for command in split_u16_prefixed(data) {
        if command.is_empty() {
            card.power_cycle();
            continue;
        }
        let before = counters(&card);
        let answer = card.process(command);
        assert!(answer.len() >= 2 && answer.len() <= 65_538, "{answer:?}");
        let (body, sw) = answer.split_at(answer.len() - 2);
        let ok = sw == [0x90, 0x00];
        assert!(ok || body.is_empty(), "data with status {sw:02X?}");
        let after = counters(&card);
        for i in 0..after.len() {
            assert!(after[i] <= start[i], "a counter rose above its start");
            assert!(
                after[i] <= before[i] || (ok && command.get(1) == Some(&0x20)),
                "a counter rose without a successful VERIFY"
            );
        }
        if ok
            && command.get(1) == Some(&0xB0)
            && let Ok(parsed) = CommandApdu::parse(command)
            && let Some(ne) = parsed.ne
        {
            assert!(
                body.len() <= ne as usize,
                "READ BINARY returned more than Ne"
            );
        }
    }
}

/// vpcd's side of the connection: the fuzz input as what vpcd sends, and
/// what the card answers.
struct VpcdStream {
    input: std::io::Cursor<Vec<u8>>,
    output: Vec<u8>,
}

impl std::io::Read for VpcdStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf)
    }
}

impl std::io::Write for VpcdStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl QuickAck for VpcdStream {}

/// Frames of the vpcd protocol (`u16` length + payload) in `bytes`; an
/// incomplete last frame is left out.
fn vpcd_frames(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    while let [hi, lo, rest @ ..] = bytes {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let Some((frame, tail)) = (rest.len() >= len).then(|| rest.split_at(len)) else {
            break;
        };
        frames.push(frame);
        bytes = tail;
    }
    frames
}

/// The virtual card in a vpcd reader, fed an arbitrary byte stream as if
/// from vpcd (control codes, APDUs, broken frames).
///
/// Properties: serving ends when the stream does, and fails only at an
/// empty frame (a protocol error); every ATR request and every APDU gets exactly
/// one well-formed answer frame, in order.
pub fn vpcd(data: &[u8]) {
    let mut stream = VpcdStream {
        input: std::io::Cursor::new(data.to_vec()),
        output: Vec::new(),
    };
    let mut card = VpcdCard::new(sample_card(), LinkSwitches::default());
    let ending = card.serve(&mut stream, &std::sync::atomic::AtomicBool::new(false));
    let mut expected = Vec::new();
    for frame in vpcd_frames(data) {
        match frame {
            [] => break,
            [4] => expected.push(true),
            [_] => {}
            _ => expected.push(false),
        }
    }
    let answers = vpcd_frames(&stream.output);
    assert_eq!(
        answers.len(),
        expected.len(),
        "one answer per ATR request and APDU"
    );
    for (answer, is_atr) in answers.iter().zip(expected) {
        if is_atr {
            assert_eq!(*answer, &mynakit_sandbox::ATR[..]);
        } else {
            assert!(answer.len() >= 2, "an APDU answer without a status word");
        }
    }
    // The only error a byte stream can cause is an empty frame.
    let empty_frame = vpcd_frames(data).iter().any(|f| f.is_empty());
    assert_eq!(ending.is_err(), empty_frame, "{ending:?}");
}

/// The chip photo's decoder: `Picture::from_jpeg2000` on arbitrary bytes
/// (issue 8: "malformed photos give a typed error, never a panic").
///
/// Properties: the decoder never panics (a caught panic, `DecoderFault`,
/// is a finding); a decoded picture is within the pixel limit, has exactly
/// `width × height × 4` bytes, and its PNG decodes back to the same pixels.
pub fn picture(data: &[u8]) {
    match Picture::from_jpeg2000(data) {
        Ok(picture) => {
            let pixels = u64::from(picture.width()) * u64::from(picture.height());
            assert!(pixels > 0 && pixels <= MAX_PIXELS, "{picture:?}");
            assert_eq!(picture.rgba().len() as u64, pixels * 4);
            let png = picture.to_png().expect("a decoded picture encodes as PNG");
            let ((width, height), rgba) = decode_png(&png);
            assert_eq!((width, height), (picture.width(), picture.height()));
            assert!(rgba == picture.rgba(), "the PNG changed the pixels");
        }
        Err(PictureError::DecoderFault) => panic!("the JPEG 2000 decoder panicked"),
        Err(_) => {}
    }
}

/// Decodes an 8-bit RGBA PNG: ((width, height), pixels).
pub fn decode_png(png: &[u8]) -> ((u32, u32), Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a PNG size")];
    let info = reader.next_frame(&mut pixels).expect("a PNG frame");
    assert_eq!(info.color_type, png::ColorType::Rgba);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    pixels.truncate(info.buffer_size());
    ((info.width, info.height), pixels)
}

/// Records what crosses a transport, to turn real sessions into seeds.
struct Recorder<T> {
    inner: T,
    log: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

#[async_trait::async_trait]
impl<T: CardTransport> CardTransport for Recorder<T> {
    fn capabilities(&self) -> LinkCapabilities {
        self.inner.capabilities()
    }

    async fn transmit(&self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let answer = self.inner.transmit(command).await?;
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((command.to_vec(), answer.clone()));
        Ok(answer)
    }
}

/// A starting corpus from real sessions with the sandbox card: per target,
/// `(name, bytes)`. The fuzzers start from these, and the regression test
/// replays them, so every harness also runs on well-formed data.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use mynakit_sandbox::{LinkSwitches, Sandbox};
    let mut seeds = Vec::new();
    // (link byte, switches) pairs that give the harness the same capabilities.
    let links = [
        (0u8, LinkSwitches::default()),
        (1, LinkSwitches::short_only()),
        (
            254,
            LinkSwitches {
                max_transceive_length: 255,
                ..LinkSwitches::default()
            },
        ),
    ];
    for flow in 0..CHANNEL_FLOWS {
        let mut all_commands = Vec::new();
        for (link, switches) in links {
            let sandbox = Sandbox::new();
            let recorder = Recorder {
                inner: sandbox.transport(switches),
                log: Mutex::new(Vec::new()),
            };
            let mut channel = CardChannel::new(&recorder);
            pollster::block_on(run_channel_flow(flow, &mut channel));
            let log = recorder
                .log
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner);
            let mut input = vec![flow, link];
            input.extend(join_u16_prefixed(log.iter().map(|(_, a)| a.as_slice())));
            seeds.push(("channel", format!("flow{flow}-link{link}"), input));
            for (i, (command, answer)) in log.iter().enumerate() {
                if link == 0 {
                    seeds.push(("apdu", format!("flow{flow}-cmd{i}"), command.clone()));
                    seeds.push(("apdu", format!("flow{flow}-resp{i}"), answer.clone()));
                }
            }
            all_commands.extend(log.into_iter().map(|(c, _)| c));
        }
        seeds.push((
            "virtual_card",
            format!("flow{flow}"),
            join_u16_prefixed(all_commands.iter().map(Vec::as_slice)),
        ));
    }
    let card = VirtualCard::sample();
    for (app, file, name) in [
        (Application::Jpki, jpki::TOKEN_INFO, "token-info"),
        (Application::Jpki, jpki::CERT_PRESENCE, "cert-presence"),
        (
            Application::Kenhojo,
            kenhojo::MY_NUMBER,
            "kenhojo-my-number",
        ),
        (
            Application::Kenhojo,
            kenhojo::BASIC_FOUR,
            "kenhojo-basic-four",
        ),
        (Application::Kenmen, kenmen::FACE, "kenmen-face"),
        (
            Application::Kenmen,
            kenmen::CV_CERTIFICATE,
            "kenmen-cv-certificate",
        ),
        (
            Application::Kenmen,
            kenmen::AP_BASIC_DATA,
            "kenmen-ap-basic-data",
        ),
        (
            Application::Kenhojo,
            kenhojo::SIGNED_PUBLIC_KEY,
            "kenhojo-signed-key",
        ),
    ] {
        if let Some(content) = card.ef_content(app, file) {
            seeds.push(("records", name.to_owned(), content.to_vec()));
        }
    }
    let mut certificates = vec![
        ("auth", card.auth_certificate().der().to_vec()),
        ("auth-root", card.auth_root_certificate().der().to_vec()),
        (
            "signing-root",
            card.signing_root_certificate().der().to_vec(),
        ),
    ];
    if let Some(signing) = card.signing_certificate() {
        certificates.push(("signing", signing.der().to_vec()));
    }
    for (name, der) in certificates {
        seeds.push(("certificate", name.to_owned(), der));
    }
    // vpcd: power on, ATR request, then each flow's APDUs as vpcd frames.
    for (_, name, input) in seeds
        .iter()
        .filter(|(t, ..)| *t == "virtual_card")
        .cloned()
        .collect::<Vec<_>>()
    {
        let mut stream = vec![0, 1, 1, 0, 1, 4];
        for command in split_u16_prefixed(&input) {
            stream.extend(join_u16_prefixed([command]));
        }
        stream.extend([0, 1, 2, 0, 1, 0]);
        seeds.push(("vpcd", name, stream));
    }
    // picture: the chip photo as the card holds it, and cut short.
    if let Some(face) = card
        .ef_content(Application::Kenmen, kenmen::FACE)
        .and_then(|content| CardFace::parse(content).ok())
    {
        let photo = face.photo_jp2.clone();
        seeds.push(("picture", "chip-photo".to_owned(), photo.clone()));
        seeds.push((
            "picture",
            "chip-photo-half".to_owned(),
            photo[..photo.len() / 2].to_vec(),
        ));
        // The bare codestream (the JP2 `jp2c` box's content), for the
        // decoder's other entry.
        if let Some(at) = photo.windows(4).position(|w| w == b"jp2c") {
            seeds.push((
                "picture",
                "chip-codestream".to_owned(),
                photo[at + 4..].to_vec(),
            ));
        }
    }
    for (i, front) in [
        "昭和60年6月15日|2035年6月15日まで有効|4821",
        "平成元年1月8日生|2030.1.8|1234",
        "生年月日:Ｓ６０．６．１５|２０３５|４８２１",
        "令和5年5月1日|2034|00 00",
        "明治45年7月29日|2100|9999",
        "昭和  年  月  日|2035|4821",
    ]
    .into_iter()
    .enumerate()
    {
        seeds.push(("card_front", format!("front{i}"), front.as_bytes().to_vec()));
    }
    for (i, front) in [
        "氏名 番号 花子\n住所 東京都千代田区霞が関２－１－２\n昭和60年 6月15日生 性別 女\n2035年 6月15日まで有効\nセキュリティコード 4821",
        "昭和6O年 B月1S日生\n2O3S年6月15日まで有効\nセキュリティコード ４８Z|",
        "生年月日 不詳\n2035年3月1日まで有効\nセキュリティコード 1234",
        "1985年3月1日生 2035年3月1日まで有効 4821",
        "S60.6.15生 有効期限 令和17年6月15日 ｾｷｭﾘﾃｨｺｰﾄﾞ：48 21",
        "個人番号 1234 5678 9012\n大正15年12月24日生 2030年まで有効 0001",
    ]
    .into_iter()
    .enumerate()
    {
        seeds.push((
            "card_front_text",
            format!("front_text{i}"),
            front.as_bytes().to_vec(),
        ));
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_pieces_round_trip_and_truncate() {
        let joined = join_u16_prefixed([&b"ab"[..], b"", b"xyz"]);
        assert_eq!(split_u16_prefixed(&joined), [&b"ab"[..], b"", b"xyz"]);
        assert_eq!(split_u16_prefixed(&[0, 5, 1, 2]), [&[1u8, 2][..]]);
        assert!(split_u16_prefixed(&[7]).is_empty());
    }

    #[test]
    fn every_harness_survives_trivial_inputs() {
        for (_, harness) in TARGETS {
            harness(&[]);
            harness(&[0]);
            harness(&[0xFF; 64]);
        }
    }
}
