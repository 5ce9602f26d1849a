//! The virtual card's behaviour, command by command, against the facts in
//! card-protocol.md.

mod common;

use chrono::NaiveDate;
use common::*;
use mynakit_core::DigestInfo;
use mynakit_core::Record;
use mynakit_core::Sex;
use mynakit_core::layout::{Application, FileId, jpki, kenhojo, kenmen};
use mynakit_core::{CardCertificate, CertificateRole, SIGNING_POLICY};
use mynakit_sandbox::{ATR, CardConfig, Sandbox, VirtualCard};
use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, Pkcs1v15Sign, PublicKey};
use sha2::{Digest, Sha256};

fn jpki_card() -> VirtualCard {
    let mut card = VirtualCard::sample();
    ok(&mut card, &select_app(Application::Jpki));
    card
}

fn sign_command(p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let mut c = vec![0x80, 0x2A, p1, p2, data.len() as u8];
    c.extend_from_slice(data);
    c.push(0x00);
    c
}

#[test]
fn atr_and_select() {
    let mut card = VirtualCard::sample();
    assert_eq!(card.atr(), ATR);
    assert_eq!(ATR, [0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14]);
    // SELECT EF before any application: nothing to select in.
    assert_eq!(status(&mut card, &select_ef(jpki::AUTH_CERT)), 0x6A82);
    assert_eq!(status(&mut card, &hex("00A4 0000")), 0x6A86, "SELECT MF");
    assert_eq!(status(&mut card, &hex("00A4 0000 02 3F00")), 0x6A86);
    for app in [Application::Jpki, Application::Kenhojo, Application::Kenmen] {
        assert_eq!(card.process(&select_app(app)), [0x90, 0x00], "no FCI");
        // P2 = 00 gives the same answer.
        let mut p2_00 = select_app(app);
        p2_00[3] = 0x00;
        assert_eq!(card.process(&p2_00), [0x90, 0x00]);
    }
    assert_eq!(
        status(&mut card, &hex("00A4 040C 0A D392100031000101040A")),
        0x6A82,
        "unknown AID"
    );
    assert_eq!(
        status(&mut card, &hex("00A4 020C 02 3F00")),
        0x6A82,
        "MF by FID"
    );
    assert_eq!(status(&mut card, &hex("00A4 020C 02 0009")), 0x6A82);
    assert_eq!(status(&mut card, &hex("00A4 020C 01 00")), 0x6700);
    assert_eq!(status(&mut card, &hex("00A4 080C 02 0001")), 0x6A86);
}

#[test]
fn class_instruction_and_length_errors() {
    let mut card = jpki_card();
    assert_eq!(
        status(&mut card, &hex("10A4 040C 0A D392F000260100000001")),
        0x6E00
    );
    assert_eq!(status(&mut card, &hex("A0B0 0000 00")), 0x6E00);
    // Secure-messaging class bytes: 6882 to SELECT, 69FC to READ BINARY and
    // VERIFY, as a real card answers (not 6E00).
    assert_eq!(
        status(&mut card, &hex("0CA4 040C 0A D392F000260100000001")),
        0x6882
    );
    assert_eq!(
        status(&mut card, &hex("08A4 040C 0A D392F000260100000001")),
        0x6882
    );
    assert_eq!(status(&mut card, &hex("0CB0 8A00 00")), 0x69FC);
    assert_eq!(status(&mut card, &hex("08B0 8A00 00")), 0x69FC);
    assert_eq!(status(&mut card, &hex("0C20 0098")), 0x69FC);
    assert_eq!(status(&mut card, &hex("0820 0098 04 31323334")), 0x69FC);
    assert_eq!(card.tries_left(Application::Jpki, jpki::AUTH_PIN), Some(3));
    // GET DATA of an unknown object with an application selected.
    assert_eq!(status(&mut card, &hex("00CA 0101 00")), 0x6A88, "GET DATA");
    assert_eq!(
        status(&mut card, &hex("00CB 3FFF 00")),
        0x6D00,
        "GET DATA odd"
    );
    assert_eq!(
        status(&mut card, &hex("00C0 0000 00")),
        0x6D00,
        "GET RESPONSE"
    );
    assert_eq!(status(&mut card, &hex("802A 0097 03 010203")[..6]), 0x6700);
    assert_eq!(
        ok(&mut card, &hex("0084 0000 08")).len(),
        8,
        "GET CHALLENGE"
    );
    assert_eq!(status(&mut card, &hex("00A4")), 0x6700);
    assert_eq!(status(&mut card, &[]), 0x6700);
    assert_eq!(
        status(&mut card, &hex("00A4 040C 0B D392F000260100000001")),
        0x6700,
        "Lc disagrees"
    );
}

#[test]
fn free_files_read_the_same_by_sfi_select_short_and_extended() {
    let mut card = jpki_card();
    let expected = card.auth_certificate().der().to_vec();
    assert!(expected.len() > 256);
    // SELECT EF then offset reads with Le = 00.
    ok(&mut card, &select_ef(jpki::AUTH_CERT));
    let mut by_select = Vec::new();
    while by_select.len() < expected.len() {
        let o = by_select.len() as u16;
        by_select.extend(ok(&mut card, &[0x00, 0xB0, (o >> 8) as u8, o as u8, 0x00]));
    }
    assert_eq!(by_select, expected);
    // SFI first read, then offsets on the EF it made current.
    let fresh = &mut jpki_card();
    assert_eq!(read_all_short(fresh, jpki::AUTH_CERT), expected);
    // One extended READ BINARY: the whole certificate, 9000.
    let whole = ok(
        &mut card,
        &[
            0x00,
            0xB0,
            jpki::AUTH_CERT.read_p1(),
            0x00,
            0x00,
            0x00,
            0x00,
        ],
    );
    assert_eq!(whole, expected);
    // Extended Le smaller than the file gives exactly that many bytes.
    assert_eq!(ok(&mut card, &hex("00B0 8A00 00 0300")), expected[..0x300]);
    // Short Le 04 gives the DER header.
    assert_eq!(ok(&mut card, &hex("00B0 8A00 04")), expected[..4]);
    // Both CA certificates and the free files.
    assert_eq!(
        read_all_short(&mut card, jpki::AUTH_CA_CERT),
        card.auth_root_certificate().der()
    );
    assert_eq!(
        read_all_short(&mut card, jpki::SIGNING_CA_CERT),
        card.signing_root_certificate().der()
    );
    let token = ok(&mut card, &hex("00B0 8600 00"));
    assert_eq!(token.len(), 160);
    assert!(token.starts_with(b"JPKIAPICCTOKEN2 "));
    assert_eq!(ok(&mut card, &hex("00B0 8800 00")), [0x8F, 0x8F, 0x00]);
}

#[test]
fn end_of_file_and_offsets() {
    let mut card = jpki_card();
    let len = card.auth_certificate().der().len();
    ok(&mut card, &select_ef(jpki::AUTH_CERT));
    let last = (len - 10) as u16;
    let r = card.process(&[0x00, 0xB0, (last >> 8) as u8, last as u8, 0x00]);
    assert_eq!(
        (data(&r).len(), sw(&r)),
        (10, 0x9000),
        "short read at the end, still 9000"
    );
    let past = len as u16;
    assert_eq!(
        status(
            &mut card,
            &[0x00, 0xB0, (past >> 8) as u8, past as u8, 0x00]
        ),
        0x6B00
    );
    assert_eq!(status(&mut card, &hex("00B0 7FFF 01")), 0x6B00);
    // SFI form: 8-bit offset past a 3-byte file.
    assert_eq!(status(&mut card, &hex("00B0 8803 01")), 0x6B00);
    assert_eq!(ok(&mut card, &hex("00B0 8802 05")), [0x00]);
}

#[test]
fn read_binary_errors() {
    let mut card = VirtualCard::sample();
    assert_eq!(
        status(&mut card, &hex("00B0 0000 00")),
        0x6986,
        "no current EF"
    );
    ok(&mut card, &select_app(Application::Jpki));
    assert_eq!(
        status(&mut card, &hex("00B0 0000 00")),
        0x6986,
        "application selected, no EF"
    );
    assert_eq!(status(&mut card, &hex("00B0 8A00")), 0x6700, "no Le");
    assert_eq!(
        status(&mut card, &hex("00B0 8A00 01 00 00")),
        0x6700,
        "data"
    );
    assert_eq!(
        status(&mut card, &hex("00B0 8C00 00")),
        0x6A82,
        "no such SFI"
    );
    // EF 0009 exists and is never readable (myna-card, a real card).
    assert_eq!(status(&mut card, &hex("00B0 8900 00")), 0x6982, "EF 0009");
    ok(&mut card, &verify(jpki::AUTH_PIN, b"1234"));
    assert_eq!(status(&mut card, &hex("00B0 8900 00")), 0x6982, "EF 0009");
    assert_eq!(
        status(&mut card, &hex("00B0 A000 00")),
        0x6A86,
        "P1 bits 7-6 set"
    );
    assert_eq!(status(&mut card, &hex("00B0 9800 00")), 0x6981, "PIN EF");
    assert_eq!(status(&mut card, &hex("00B0 9700 00")), 0x6981, "key EF");
    ok(&mut card, &select_ef(jpki::AUTH_PIN));
    assert_eq!(status(&mut card, &hex("00B0 0000 00")), 0x6981);
}

#[test]
fn signing_certificate_needs_the_password() {
    let mut card = jpki_card();
    assert_eq!(status(&mut card, &hex("00B0 8100 00")), 0x6982);
    ok(&mut card, &select_ef(jpki::SIGNING_CERT));
    assert_eq!(status(&mut card, &hex("00B0 0000 00")), 0x6982);
    // Lower case is a different password: the card compares bytes.
    assert_eq!(
        status(&mut card, &verify(jpki::SIGNING_PIN, b"sandbox1")),
        0x63C4
    );
    ok(&mut card, &verify(jpki::SIGNING_PIN, b"SANDBOX1"));
    assert_eq!(
        card.tries_left(Application::Jpki, jpki::SIGNING_PIN),
        Some(5)
    );
    let expected = card.signing_certificate().unwrap().der().to_vec();
    assert_eq!(ok(&mut card, &hex("00B0 8100 00 0000")), expected);
    // The auth PIN does not open it.
    let mut other = jpki_card();
    ok(&mut other, &verify(jpki::AUTH_PIN, b"1234"));
    assert_eq!(status(&mut other, &hex("00B0 8100 00")), 0x6982);
}

#[test]
fn bare_verify_reports_without_spending() {
    let mut card = jpki_card();
    let bare = hex("0020 0098");
    assert_eq!(status(&mut card, &bare), 0x63C3);
    assert_eq!(status(&mut card, &bare), 0x63C3);
    ok(&mut card, &verify(jpki::AUTH_PIN, b"1234"));
    // Still 63C3 right after a success: "logged in" cannot be read.
    assert_eq!(status(&mut card, &bare), 0x63C3);
    assert!(card.is_verified(jpki::AUTH_PIN));
    // Bare VERIFY on the current EF (P2 = 80) after SELECT EF.
    ok(&mut card, &select_ef(jpki::SIGNING_PIN));
    assert_eq!(status(&mut card, &hex("0020 0080")), 0x63C5);
    // With Le: 6700, as on a real card.
    assert_eq!(status(&mut card, &hex("0020 0080 00")), 0x6700);
    assert_eq!(status(&mut card, &hex("0020 0080 04 31323334 00")), 0x6700);
    assert_eq!(
        card.tries_left(Application::Jpki, jpki::SIGNING_PIN),
        Some(5)
    );
    // VERIFY on a data EF or an unknown reference.
    ok(&mut card, &select_ef(jpki::AUTH_CERT));
    assert_eq!(status(&mut card, &hex("0020 0080")), 0x6981);
    assert_eq!(status(&mut card, &hex("0020 0099")), 0x6A88);
    assert_eq!(status(&mut card, &hex("0020 0018")), 0x6A86);
    assert_eq!(status(&mut card, &hex("0020 0198")), 0x6A86);
}

#[test]
fn wrong_pins_count_down_to_63c0_then_6984() {
    let mut card = jpki_card();
    assert_eq!(status(&mut card, &verify(jpki::AUTH_PIN, b"0000")), 0x63C2);
    assert_eq!(status(&mut card, &hex("0020 0098")), 0x63C2);
    // A success resets the counter.
    ok(&mut card, &verify(jpki::AUTH_PIN, b"1234"));
    assert_eq!(card.tries_left(Application::Jpki, jpki::AUTH_PIN), Some(3));
    assert_eq!(status(&mut card, &verify(jpki::AUTH_PIN, b"0000")), 0x63C2);
    assert!(
        !card.is_verified(jpki::AUTH_PIN),
        "a wrong PIN drops the verified state"
    );
    assert_eq!(status(&mut card, &verify(jpki::AUTH_PIN, b"0001")), 0x63C1);
    assert_eq!(
        status(&mut card, &verify(jpki::AUTH_PIN, b"0002")),
        0x63C0,
        "the exhausting try"
    );
    assert_eq!(
        status(&mut card, &verify(jpki::AUTH_PIN, b"1234")),
        0x6984,
        "blocked, even with the right PIN"
    );
    // The bare VERIFY of a blocked PIN reports no try left: 63C0, not 6984.
    assert_eq!(status(&mut card, &hex("0020 0098")), 0x63C0);
    assert_eq!(card.tries_left(Application::Jpki, jpki::AUTH_PIN), Some(0));
    // The counter is in the chip: a power cycle does not restore it.
    card.power_cycle();
    ok(&mut card, &select_app(Application::Jpki));
    assert_eq!(status(&mut card, &hex("0020 0098")), 0x63C0);
    assert_eq!(status(&mut card, &verify(jpki::AUTH_PIN, b"1234")), 0x6984);
    // Signing password: 5 tries.
    for left in (0..5).rev() {
        assert_eq!(
            status(&mut card, &verify(jpki::SIGNING_PIN, b"WRONG1")),
            0x63C0 | left
        );
    }
    assert_eq!(
        status(&mut card, &verify(jpki::SIGNING_PIN, b"SANDBOX1")),
        0x6984
    );
}

#[test]
fn signatures_need_the_pin_and_verify_with_the_certificate() {
    let mut card = jpki_card();
    let message = b"MynaKit sandbox challenge";
    let digest_info = DigestInfo::sha256(message);
    assert_eq!(
        status(&mut card, &sign_command(0x00, 0x97, digest_info.as_bytes())),
        0x6982
    );
    // The signing password does not unlock the auth key.
    ok(&mut card, &verify(jpki::SIGNING_PIN, b"SANDBOX1"));
    assert_eq!(
        status(&mut card, &sign_command(0x00, 0x97, digest_info.as_bytes())),
        0x6982
    );
    ok(&mut card, &verify(jpki::AUTH_PIN, b"1234"));
    let r = card.process(&sign_command(0x00, 0x97, digest_info.as_bytes()));
    assert_eq!(sw(&r), 0x9000, "the signature comes with 9000, never 61xx");
    let signature = data(&r).to_vec();
    assert_eq!(signature.len(), 256);
    assert!(
        card.auth_certificate()
            .verifies_sha256_signature(message, &signature)
    );
    // P2 = 80 after SELECT EF 0017: the same (deterministic) signature.
    ok(&mut card, &select_ef(jpki::AUTH_KEY));
    assert_eq!(
        ok(&mut card, &sign_command(0x00, 0x80, digest_info.as_bytes())),
        signature
    );
    // P1 = 02: the card wraps the 32-byte hash; P1 = 03: the card hashes and wraps.
    let hash = Sha256::digest(message);
    assert_eq!(ok(&mut card, &sign_command(0x02, 0x97, &hash)), signature);
    assert_eq!(ok(&mut card, &sign_command(0x03, 0x97, message)), signature);
    // P1 = 01: the bare SHA-256 hash, PKCS#1 v1.5 without DigestInfo.
    let bare = ok(&mut card, &sign_command(0x01, 0x97, message));
    let key = card.auth_certificate().public_key().unwrap();
    key.verify(Pkcs1v15Sign::new_unprefixed(), &hash, &bare)
        .unwrap();
    // SHA-384 DigestInfo is accepted as given.
    let mut sha384 = hex("3041300D060960864801650304020205000430");
    sha384.extend_from_slice(&sha2::Sha384::digest(message));
    let s384 = ok(&mut card, &sign_command(0x00, 0x97, &sha384));
    key.verify(Pkcs1v15Sign::new_unprefixed(), &sha384, &s384)
        .unwrap();
    // P1 00 pads anything up to 245 bytes, even a bare hash (as the real card
    // does); 246 bytes do not fit. P1 06 → 6A86; wrong hash length → 6700.
    let raw = ok(&mut card, &sign_command(0x00, 0x97, &hash));
    key.verify(Pkcs1v15Sign::new_unprefixed(), &hash, &raw)
        .unwrap();
    assert_eq!(
        status(&mut card, &sign_command(0x00, 0x97, &[7; 246])),
        0x6700
    );
    ok(&mut card, &sign_command(0x00, 0x97, &[7; 245]));
    assert_eq!(
        status(&mut card, &sign_command(0x04, 0x97, &hash[..31])),
        0x6700
    );
    assert_eq!(status(&mut card, &sign_command(0x06, 0x97, &hash)), 0x6A86);
    assert_eq!(
        status(&mut card, &sign_command(0x02, 0x97, &hash[..31])),
        0x6700
    );
    // No Le, or a short one, cannot carry the 256-byte answer.
    let mut no_le = sign_command(0x00, 0x97, digest_info.as_bytes());
    no_le.pop();
    assert_eq!(status(&mut card, &no_le), 0x6700);
    // Key references that are not keys.
    assert_eq!(
        status(&mut card, &sign_command(0x00, 0x98, digest_info.as_bytes())),
        0x6981
    );
    assert_eq!(
        status(&mut card, &sign_command(0x00, 0x99, digest_info.as_bytes())),
        0x6A88
    );
    assert_eq!(
        status(&mut card, &sign_command(0x00, 0x00, digest_info.as_bytes())),
        0x6A86,
        "JPKI has no PIN-less key"
    );
    // CLA 00 is not COMPUTE DIGITAL SIGNATURE.
    let mut cla00 = sign_command(0x00, 0x97, digest_info.as_bytes());
    cla00[0] = 0x00;
    assert_eq!(status(&mut card, &cla00), 0x6D00);
    // The signing key with the signing password (verified above).
    let s = ok(&mut card, &sign_command(0x00, 0x9A, digest_info.as_bytes()));
    assert!(
        card.signing_certificate()
            .unwrap()
            .verifies_sha256_signature(message, &s)
    );
    assert!(
        !card
            .auth_certificate()
            .verifies_sha256_signature(message, &s)
    );
}

#[test]
fn security_state_follows_the_selected_application() {
    let mut card = jpki_card();
    let di = DigestInfo::sha256(b"x");
    ok(&mut card, &verify(jpki::AUTH_PIN, b"1234"));
    // Re-selecting the same application keeps the state.
    ok(&mut card, &select_app(Application::Jpki));
    ok(&mut card, &sign_command(0x00, 0x97, di.as_bytes()));
    // Selecting another application drops it, and the current EF.
    ok(&mut card, &select_ef(jpki::AUTH_CERT));
    ok(&mut card, &select_app(Application::Kenhojo));
    assert_eq!(status(&mut card, &hex("00B0 0000 01")), 0x6986);
    ok(&mut card, &select_app(Application::Jpki));
    assert_eq!(
        status(&mut card, &sign_command(0x00, 0x97, di.as_bytes())),
        0x6982
    );
    // A failed SELECT keeps what was selected.
    ok(&mut card, &verify(jpki::AUTH_PIN, b"1234"));
    assert_eq!(status(&mut card, &hex("00A4 040C 05 D392F00026")), 0x6A82);
    ok(&mut card, &sign_command(0x00, 0x97, di.as_bytes()));
    // Power cycle: everything but the counters is gone.
    card.power_cycle();
    assert_eq!(card.selected_application(), None);
    ok(&mut card, &select_app(Application::Jpki));
    assert_eq!(
        status(&mut card, &sign_command(0x00, 0x97, di.as_bytes())),
        0x6982
    );
}

#[test]
fn kenhojo_keys_open_their_files_only() {
    let sandbox = Sandbox::new();
    let mut card = sandbox.card();
    let my_number = card.holder().my_number.expose().as_bytes().to_vec();
    let code_b = card.holder().check_code_b().unwrap().into_bytes();
    ok(&mut card, &select_app(Application::Kenhojo));
    for file in [kenhojo::MY_NUMBER, kenhojo::BASIC_FOUR, kenhojo::SIGNATURE] {
        assert_eq!(
            status(&mut card, &[0x00, 0xB0, file.read_p1(), 0x00, 0x00]),
            0x6982
        );
    }
    // 照合番号A opens EF 0001 only.
    ok(&mut card, &verify(kenhojo::CHECK_CODE_A, &my_number));
    let ef1 = ok(&mut card, &hex("00B0 8100 00"));
    assert_eq!(ef1.len(), 17);
    assert_eq!(&ef1[..3], &[0xFF, 0x10, 0x0C]);
    assert_eq!(&ef1[3..15], &my_number[..]);
    assert_eq!(&ef1[15..], &[0xFF, 0xFF]);
    assert_eq!(status(&mut card, &hex("00B0 8200 00")), 0x6982);
    assert_eq!(status(&mut card, &hex("00B0 8300 00")), 0x6982);
    // 照合番号B opens EF 0002 only.
    ok(&mut card, &select_app(Application::Kenmen));
    ok(&mut card, &select_app(Application::Kenhojo));
    ok(&mut card, &verify(kenhojo::CHECK_CODE_B, &code_b));
    assert_eq!(status(&mut card, &hex("00B0 8100 00")), 0x6982);
    let ef2 = ok(&mut card, &hex("00B0 8200 00"));
    let record = Record::parse(&ef2, 0xFF20).unwrap();
    assert_eq!(record.text(0xDF22).unwrap(), "番号\u{3000}花子");
    assert_eq!(
        record.text(0xDF23).unwrap(),
        "東京都千代田区霞が関二丁目１番２号"
    );
    assert_eq!(
        record.date(0xDF24).unwrap(),
        NaiveDate::from_ymd_opt(1985, 6, 15).unwrap()
    );
    assert_eq!(record.sex(0xDF25).unwrap(), Sex::Female);
    assert_eq!(status(&mut card, &hex("00B0 8300 00")), 0x6982);
    // The PIN opens all three; EF 0003 vouches for the other two.
    ok(&mut card, &verify(kenhojo::PIN, b"1234"));
    let ef3 = ok(&mut card, &hex("00B0 8300 00 0000"));
    let integrity = Record::parse(&ef3, 0xFF30).unwrap();
    assert_eq!(
        integrity.require(0xDF31).unwrap(),
        Sha256::digest(&ef1).as_slice()
    );
    let df22_on = &ef2[ef2.windows(2).position(|w| w == [0xDF, 0x22]).unwrap()..];
    assert_eq!(
        integrity.require(0xDF32).unwrap(),
        Sha256::digest(df22_on).as_slice()
    );
    // EF 0012 was blocked at issue: bare VERIFY 63C0, VERIFY 6984.
    assert_eq!(status(&mut card, &hex("0020 0092")), 0x63C0);
    assert_eq!(status(&mut card, &verify(FileId(0x12), b"1234")), 0x6984);
    // Unpublished retry limit: a config value, 10 by default.
    assert_eq!(status(&mut card, &hex("0020 0094")), 0x63CA);
    assert_eq!(
        status(&mut card, &verify(kenhojo::CHECK_CODE_A, b"000000000000")),
        0x63C9
    );
}

fn fields_by_offset(record: &[u8], count: usize) -> Vec<(u16, usize)> {
    // FF 20 82 xx xx | DF 21 12 <9 offsets>
    assert_eq!(&record[..3], &[0xFF, 0x20, 0x82]);
    assert_eq!(&record[5..8], &[0xDF, 0x21, (count * 2) as u8]);
    record[8..8 + count * 2]
        .chunks(2)
        .map(|c| {
            let at = usize::from(u16::from_be_bytes([c[0], c[1]]));
            (u16::from_be_bytes([record[at], record[at + 1]]), at)
        })
        .collect()
}

/// Splits a TLV at `at` into (whole TLV, value).
fn tlv_at(bytes: &[u8], at: usize) -> (&[u8], &[u8]) {
    let (header, len) = match bytes[at + 2] {
        n @ 0..=0x7F => (3, usize::from(n)),
        0x81 => (4, usize::from(bytes[at + 3])),
        0x82 => (
            5,
            usize::from(u16::from_be_bytes([bytes[at + 3], bytes[at + 4]])),
        ),
        other => panic!("length byte {other:02X}"),
    };
    (
        &bytes[at..at + header + len],
        &bytes[at + header..at + header + len],
    )
}

fn kenmen_key(field: &[u8]) -> PublicKey {
    assert_eq!(
        &field[..9],
        &[0x90, 0x03, 0x01, 0x00, 0x01, 0x91, 0x82, 0x01, 0x00]
    );
    let n = BoxedUint::from_be_slice_vartime(&field[9..]);
    PublicKey::new(n, BoxedUint::from(65_537u32)).unwrap()
}

#[test]
fn kenmen_face_record_offsets_and_signature() {
    let mut card = VirtualCard::sample();
    let code_b = card.holder().check_code_b().unwrap().into_bytes();
    ok(&mut card, &select_app(Application::Kenmen));
    assert_eq!(status(&mut card, &hex("00B0 8200 00")), 0x6982);
    ok(&mut card, &verify(kenmen::CHECK_CODE_B, &code_b));
    let face = ok(&mut card, &hex("00B0 8200 00 0000"));
    assert_eq!(
        usize::from(u16::from_be_bytes([face[3], face[4]])) + 5,
        face.len()
    );
    let fields = fields_by_offset(&face, 9);
    let tags: Vec<u16> = fields.iter().map(|f| f.0).collect();
    assert_eq!(
        tags,
        (0xDF22..=0xDF2A).collect::<Vec<u16>>(),
        "DF21 points at DF22..DF2A in order"
    );
    let tlv = |i: usize| tlv_at(&face, fields[i].1);
    assert_eq!(tlv(0).1, b"19850615");
    assert_eq!(tlv(1).1, b"2");
    assert_eq!(tlv(5).1, card.holder().photo.as_slice());
    assert!(tlv(5).1.starts_with(&hex("0000000C6A5020200D0A870A")));
    assert_eq!(tlv(7).1, b"20350615");
    assert_eq!(tlv(8).1, card.holder().images.security_code.as_slice());
    // DF28: issuer signature over DigestInfo(SHA-256, 96 bytes of three hashes).
    let mut digests = Vec::new();
    digests.extend(Sha256::digest([tlv(0).0, tlv(1).0, tlv(2).0].concat()));
    digests.extend(Sha256::digest([tlv(3).0, tlv(4).0].concat()));
    digests.extend(Sha256::digest(tlv(5).0));
    let mut digest_info = hex("3071300D06096086480165030402010500 0460");
    digest_info.extend_from_slice(&digests);
    let issuer = mynakit_sandbox::fixtures::FixtureKey::FaceIssuer
        .private_key()
        .as_public_key();
    issuer
        .verify(Pkcs1v15Sign::new_unprefixed(), &digest_info, tlv(6).1)
        .unwrap();
    // The card's own key (DF24) signs a challenge without any PIN.
    let card_key = kenmen_key(tlv(2).1);
    assert_eq!(card_key.size(), 256);
    let challenge = DigestInfo::sha256(b"is the chip here?");
    let mut fresh = VirtualCard::sample();
    ok(&mut fresh, &select_app(Application::Kenmen));
    let s = ok(&mut fresh, &sign_command(0x00, 0x00, challenge.as_bytes()));
    card_key
        .verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(b"is the chip here?"),
            &s,
        )
        .unwrap();
    // 照合番号B does not open the My Number image.
    assert_eq!(status(&mut card, &hex("00B0 8500 00")), 0x6982);
    assert_eq!(status(&mut card, &hex("00B0 8100 00")), 0x6982);
}

#[test]
fn record_lengths_are_written_like_the_real_card() {
    // The real card writes every length of 128 or more as `82 hh ll`
    // (Kenmen EF 0002 `DF25 82 00 A9`), never `81 ll`; shorter ones short.
    let card = VirtualCard::sample();
    let face = card.ef_content(Application::Kenmen, kenmen::FACE).unwrap();
    let fields = fields_by_offset(face, 9);
    for (tag, at) in fields {
        let (whole, value) = tlv_at(face, at);
        let expected_header = if value.len() < 0x80 {
            vec![face[at], face[at + 1], value.len() as u8]
        } else {
            let len = u16::try_from(value.len()).unwrap().to_be_bytes();
            vec![face[at], face[at + 1], 0x82, len[0], len[1]]
        };
        assert_eq!(
            &whole[..expected_header.len()],
            expected_header,
            "{tag:04X}"
        );
    }
    // The name image is 173 bytes: `DF25 82 00 AD`, as on the real card.
    let name = card.holder().images.name.len();
    assert!((0x80..0x100).contains(&name));
    let at = face.windows(2).position(|w| w == [0xDF, 0x25]).unwrap();
    assert_eq!(&face[at..at + 5], &[0xDF, 0x25, 0x82, 0x00, name as u8]);
    // And the core reads it.
    let record = Record::parse(face, 0xFF20).unwrap();
    assert_eq!(
        record.get(0xDF25).unwrap(),
        card.holder().images.name.as_slice()
    );
    for (app, file) in [
        (Application::Kenmen, kenmen::AGE),
        (Application::Kenmen, kenmen::MY_NUMBER_IMAGE),
        (Application::Kenhojo, kenhojo::SIGNATURE),
    ] {
        let bytes = card.ef_content(app, file).unwrap();
        // FF 10 82 02 1E, FF 40 82 02 xx, FF 30 82 01 4B on the real card.
        assert_eq!(bytes[2], 0x82, "{app:?} {file:?} container");
    }
}

#[test]
fn kenmen_birth_date_key_and_check_code_a() {
    let mut card = VirtualCard::sample();
    let my_number = card.holder().my_number.expose().as_bytes().to_vec();
    ok(&mut card, &select_app(Application::Kenmen));
    // Birth-date key (era YYMMDD, Showa 60) opens only the age record.
    ok(&mut card, &verify(kenmen::BIRTH_DATE_KEY, b"600615"));
    let age = ok(&mut card, &hex("00B0 8100 00 0000"));
    let record = Record::parse(&age, 0xFF10).unwrap();
    assert_eq!(record.text(0xDF11).unwrap(), "19850615");
    let issuer = mynakit_sandbox::fixtures::FixtureKey::FaceIssuer
        .private_key()
        .as_public_key();
    // Same size as a real card's age record (FF 10 82 02 1E, per myna-card).
    assert_eq!(&age[..5], &[0xFF, 0x10, 0x82, 0x02, 0x1E]);
    let signed = &age[5..age.len() - (5 + 256)];
    assert_eq!(&signed[..2], &[0xDF, 0x11]);
    issuer
        .verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(signed),
            record.require(0xDF13).unwrap(),
        )
        .unwrap();
    assert_eq!(status(&mut card, &hex("00B0 8200 00")), 0x6982);
    // 照合番号A opens the face record and the My Number image.
    ok(&mut card, &verify(kenmen::CHECK_CODE_A, &my_number));
    ok(&mut card, &hex("00B0 8200 00"));
    let image = ok(&mut card, &hex("00B0 8500 00 0000"));
    let rec = Record::parse(&image, 0xFF40).unwrap();
    assert_eq!(
        rec.require(0xDF41).unwrap(),
        card.holder().images.my_number.as_slice()
    );
    // Retry limits are configurable (unpublished on the real card).
    let mut config = CardConfig::sample();
    config.tries.kenmen_keys = 4;
    let mut small = VirtualCard::new(config).unwrap();
    ok(&mut small, &select_app(Application::Kenmen));
    assert_eq!(status(&mut small, &hex("0020 0091")), 0x63C4);
    assert_eq!(
        status(&mut small, &verify(kenmen::BIRTH_DATE_KEY, b"010101")),
        0x63C3
    );
}

#[test]
fn unknown_birth_date_makes_the_birth_date_keys_unusable() {
    let mut config = CardConfig::sample();
    config.holder.birth_date = None;
    let mut card = VirtualCard::new(config).unwrap();
    ok(&mut card, &select_app(Application::Kenmen));
    assert_eq!(status(&mut card, &hex("0020 0091")), 0x63C0);
    assert_eq!(
        status(&mut card, &verify(kenmen::CHECK_CODE_B, b"00000020354821")),
        0x6984
    );
    let attrs = card
        .signing_certificate()
        .unwrap()
        .personal_attributes()
        .unwrap()
        .unwrap();
    assert_eq!(attrs.birth_date_code, "000000000");
}

#[test]
fn child_card_has_no_signing_certificate() {
    let mut config = CardConfig::sample();
    config.with_signing_certificate = false;
    let mut card = VirtualCard::new(config).unwrap();
    assert!(card.signing_certificate().is_none());
    ok(&mut card, &select_app(Application::Jpki));
    assert_eq!(ok(&mut card, &hex("00B0 8800 00")), [0x00, 0x8F, 0x00]);
    assert_eq!(status(&mut card, &hex("00B0 8100 00")), 0x6A82);
    assert_eq!(status(&mut card, &select_ef(jpki::SIGNING_PIN)), 0x6A82);
    ok(&mut card, &hex("00B0 8A00 00"));
}

#[test]
fn token_label_is_configurable() {
    let mut config = CardConfig::sample();
    config.token_label = "JPKIAPGPSETOKEN".into();
    let mut card = VirtualCard::new(config).unwrap();
    ok(&mut card, &select_app(Application::Jpki));
    let token = ok(&mut card, &hex("00B0 8600 20"));
    assert_eq!(&token[..], b"JPKIAPGPSETOKEN                 ");
}

#[test]
fn certificates_parse_and_verify_in_the_core() {
    let sandbox = Sandbox::new();
    let card = sandbox.card();
    let anchors = sandbox.trust_anchors();
    let auth = CardCertificate::from_der(card.auth_certificate().der().to_vec()).unwrap();
    assert!(
        anchors
            .verify(&auth, CertificateRole::Authentication, &[])
            .is_ok()
    );
    let signing = card.signing_certificate().unwrap();
    assert_eq!(signing.policies(), vec![SIGNING_POLICY.to_string()]);
    assert_eq!(
        anchors
            .verify(signing, CertificateRole::Signing, &[])
            .unwrap()
            .sha256,
        mynakit_core::Hex(&card.signing_root_certificate().sha256_fingerprint()).to_string()
    );
    // Production anchors do not accept sandbox certificates.
    assert!(
        mynakit_core::TrustAnchors::production()
            .verify(
                &auth,
                CertificateRole::Authentication,
                &[card.auth_root_certificate()]
            )
            .is_err()
    );
}

#[test]
fn commands_are_recorded_in_order() {
    let mut card = VirtualCard::sample();
    let commands = [
        select_app(Application::Jpki),
        verify(jpki::AUTH_PIN, b"1234"),
        hex("FF"),
    ];
    for c in &commands {
        card.process(c);
    }
    assert_eq!(card.commands_received(), &commands);
}

/// xorshift64*: enough randomness to shake the parser, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 32) as u8
    }
}

#[test]
fn random_commands_never_panic() {
    let mut card = VirtualCard::sample();
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let headers: [[u8; 2]; 5] = [
        [0x00, 0xA4],
        [0x00, 0xB0],
        [0x00, 0x20],
        [0x80, 0x2A],
        [0x00, 0xCA],
    ];
    for i in 0..20_000 {
        let len = match rng.next() % 4 {
            0 => (rng.next() % 8) as usize,
            1 => (rng.next() % 300) as usize,
            _ => (rng.next() % 24) as usize,
        };
        let mut command: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        if command.len() >= 2 && i % 2 == 0 {
            // Half the time a real header, so the commands get past CLA/INS.
            command[..2].copy_from_slice(&headers[(rng.next() % 5) as usize]);
        }
        if i % 7 == 0 {
            command = select_app(
                [Application::Jpki, Application::Kenhojo, Application::Kenmen]
                    [(rng.next() % 3) as usize],
            );
        }
        let response = card.process(&command);
        assert!(response.len() >= 2);
    }
    // Random signing inputs with the PIN verified (a fresh card: the loop
    // above may have blocked the PINs).
    let mut card = jpki_card();
    ok(&mut card, &verify(jpki::AUTH_PIN, b"1234"));
    for _ in 0..300 {
        let len = 1 + (rng.next() % 80) as usize;
        let mut command = vec![
            0x80,
            0x2A,
            (rng.next() % 7) as u8,
            [0x97, 0x80, 0x9A, 0x00][(rng.next() % 4) as usize],
            len as u8,
        ];
        command.extend((0..len).map(|_| rng.byte()));
        command.push(0x00);
        let response = card.process(&command);
        assert!(
            response.len() == 2 || response.len() == 258,
            "{response:02X?}"
        );
    }
    // Extended-length oddities.
    for command in [
        hex("00B0 0000 00"),
        hex("00B0 0000 00 00"),
        hex("00B0 0000 00 0000 00"),
        hex("0020 0080 00 0001 31"),
        hex("802A 0097 00 0000"),
    ] {
        assert!(card.process(&command).len() >= 2);
    }
}
