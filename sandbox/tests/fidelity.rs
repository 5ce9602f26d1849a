//! What the virtual card gained to equal the real card (issue 7, item 9):
//! PSS signatures, the remaining EFs of JPKI, Kenhojo and Kenmen, the
//! card-verifiable certificates, the common card application, GET
//! CHALLENGE, GET DATA and INTERNAL AUTHENTICATE. Facts: myna-card 3.3.4
//! (measured on real and J-LIS test cards), see sandbox/fixtures/README.md.

mod common;

use common::*;
use mynakit_core::Record;
use mynakit_core::layout::{Application, FileId, common as common_ap, jpki, kenhojo, kenmen};
use mynakit_sandbox::fixtures::FixtureKey;
use mynakit_sandbox::{ATR, VirtualCard};
use rsa::{BoxedUint, Pkcs1v15Sign, PublicKey};
use sha2::{Digest, Sha256};

fn sign_command(p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let mut c = vec![0x80, 0x2A, p1, p2, data.len() as u8];
    c.extend_from_slice(data);
    c.push(0x00);
    c
}

/// `90 03 01 00 01 91 82 01 00 <256>` to a key.
fn card_key(field: &[u8]) -> PublicKey {
    assert_eq!(
        &field[..9],
        &[0x90, 0x03, 0x01, 0x00, 0x01, 0x91, 0x82, 0x01, 0x00]
    );
    assert_eq!(field.len(), 265);
    PublicKey::new(
        BoxedUint::from_be_slice_vartime(&field[9..]),
        BoxedUint::from(65_537u32),
    )
    .unwrap()
}

/// A CV certificate's (issuer id, subject id, subject key, body, signature).
fn cv_parts(cert: &[u8]) -> ([u8; 16], [u8; 16], PublicKey, Vec<u8>, Vec<u8>) {
    // 7F21 82 02 33 { 5F4E 82 01 29 <297>, 5F37 82 01 00 <256> }, as a real card.
    assert_eq!(&cert[..5], &[0x7F, 0x21, 0x82, 0x02, 0x33]);
    assert_eq!(&cert[5..10], &[0x5F, 0x4E, 0x82, 0x01, 0x29]);
    let record = Record::parse(cert, 0x7F21).unwrap();
    let body = record.require(0x5F4E).unwrap().to_vec();
    let signature = record.require(0x5F37).unwrap().to_vec();
    assert_eq!((body.len(), signature.len()), (297, 256));
    (
        body[..16].try_into().unwrap(),
        body[16..32].try_into().unwrap(),
        card_key(&body[32..]),
        body,
        signature,
    )
}

fn verifies_sha256(key: &PublicKey, data: &[u8], signature: &[u8]) -> bool {
    key.verify(
        Pkcs1v15Sign::new::<Sha256>(),
        &Sha256::digest(data),
        signature,
    )
    .is_ok()
}

#[test]
fn pss_signatures_with_the_callers_hash_or_the_cards() {
    let mut card = VirtualCard::sample();
    let cert = card.auth_certificate().clone();
    ok(&mut card, &select_app(Application::Jpki));
    let message = b"sign me with PSS";
    let hash = Sha256::digest(message);
    // Without the PIN: 6982, as for PKCS#1 v1.5.
    assert_eq!(status(&mut card, &sign_command(0x04, 0x97, &hash)), 0x6982);
    ok(&mut card, &verify(jpki::AUTH_PIN, b"1234"));
    let first = ok(&mut card, &sign_command(0x04, 0x97, &hash));
    let second = ok(&mut card, &sign_command(0x04, 0x97, &hash));
    assert_eq!(first.len(), 256);
    assert!(cert.verifies_pss_sha256_signature(message, &first));
    assert!(cert.verifies_pss_sha256_signature(message, &second));
    assert_ne!(first, second, "a fresh random salt each time");
    assert!(!cert.verifies_sha256_signature(message, &first));
    // P1 05: the card hashes.
    let hashed_by_card = ok(&mut card, &sign_command(0x05, 0x97, message));
    assert!(cert.verifies_pss_sha256_signature(message, &hashed_by_card));
    // P1 04 wants exactly one SHA-256 hash.
    assert_eq!(
        status(&mut card, &sign_command(0x04, 0x97, &[1; 33])),
        0x6700
    );
    // The signing key, after the signing password.
    let signing = card.signing_certificate().unwrap().clone();
    ok(&mut card, &verify(jpki::SIGNING_PIN, b"SANDBOX1"));
    let s = ok(&mut card, &sign_command(0x04, 0x9A, &hash));
    assert!(signing.verifies_pss_sha256_signature(message, &s));
}

#[test]
fn kenmen_cv_certificate_vouches_for_the_face_record() {
    let mut card = VirtualCard::sample();
    let code_b = card.holder().check_code_b().unwrap().into_bytes();
    ok(&mut card, &select_app(Application::Kenmen));
    // EF 0003 and 0004 are free to read.
    let cert = ok(&mut card, &hex("00B0 8400 00 0000"));
    let basic = ok(&mut card, &hex("00B0 8300 00 0000"));
    let (issuer_id, subject_id, subject_key, body, signature) = cv_parts(&cert);
    assert_eq!(&issuer_id, b"9000023\x08\x05001\0\0\0\0");
    assert_eq!(&subject_id, b"1310121\x08\x05000\0\0\0\0");
    let ca = FixtureKey::KenmenCvCa.private_key().as_public_key();
    assert!(verifies_sha256(ca, &body, &signature));
    let other_ca = FixtureKey::KenhojoCvCa.private_key().as_public_key();
    assert!(!verifies_sha256(other_ca, &body, &signature));
    // EF 0003: FF30 { DF31 06 03 0E 01, DF32 id, DF33 00, DF34 13101, DF35 16+256 }.
    let basic = Record::parse(&basic, 0xFF30).unwrap();
    assert_eq!(basic.require(0xDF31).unwrap(), [0x06, 0x03, 0x0E, 0x01]);
    assert_eq!(basic.require(0xDF32).unwrap().len(), 16);
    assert_eq!(basic.require(0xDF33).unwrap(), [0x00]);
    assert_eq!(basic.text(0xDF34).unwrap(), "13101");
    assert_eq!(basic.require(0xDF35).unwrap().len(), 272);
    // EF 0006 (unknown, sixteen FF) needs a check code, like the face record.
    assert_eq!(status(&mut card, &hex("00B0 8600 00")), 0x6982);
    ok(&mut card, &verify(kenmen::CHECK_CODE_B, &code_b));
    assert_eq!(ok(&mut card, &hex("00B0 8600 00")), [0xFF; 16]);
    // DF28 verifies with the key EF 0004 certifies: three SHA-256 over the
    // fields as written, in one DigestInfo (myna-card surface.rs).
    let face = ok(&mut card, &hex("00B0 8200 00 0000"));
    let record = Record::parse(&face, 0xFF20).unwrap();
    let raw = |tags: &[u16]| -> Vec<u8> {
        tags.iter()
            .flat_map(|t| record.raw(*t).unwrap().to_vec())
            .collect()
    };
    let mut digests = Vec::new();
    digests.extend(Sha256::digest(raw(&[0xDF22, 0xDF23, 0xDF24])));
    digests.extend(Sha256::digest(raw(&[0xDF25, 0xDF26])));
    digests.extend(Sha256::digest(raw(&[0xDF27])));
    let mut digest_info = hex("3071300D06096086480165030402010500 0460");
    digest_info.extend_from_slice(&digests);
    subject_key
        .verify(
            Pkcs1v15Sign::new_unprefixed(),
            &digest_info,
            record.require(0xDF28).unwrap(),
        )
        .unwrap();
}

#[test]
fn kenhojo_files_0004_to_0008() {
    let mut card = VirtualCard::sample();
    ok(&mut card, &select_app(Application::Kenhojo));
    let cert = ok(&mut card, &hex("00B0 8400 00 0000"));
    let basic = ok(&mut card, &hex("00B0 8500 00 0000"));
    for file in [0x86, 0x87, 0x88] {
        assert_eq!(status(&mut card, &[0x00, 0xB0, file, 0x00, 0x00]), 0x6982);
    }
    let (issuer_id, subject_id, subject_key, body, signature) = cv_parts(&cert);
    assert_eq!(&issuer_id[..7], b"9000033");
    assert_eq!(&subject_id[..7], b"1310131");
    let ca = FixtureKey::KenhojoCvCa.private_key().as_public_key();
    assert!(verifies_sha256(ca, &body, &signature));
    // EF 0005: FF40 { DF41 01 03 0E 01, DF42 id, DF43 32 bytes + 96 FF }.
    let basic = Record::parse(&basic, 0xFF40).unwrap();
    assert_eq!(basic.require(0xDF41).unwrap(), [0x01, 0x03, 0x0E, 0x01]);
    assert_eq!(basic.require(0xDF42).unwrap().len(), 16);
    let df43 = basic.require(0xDF43).unwrap();
    assert_eq!(df43.len(), 128);
    assert!(df43[32..].iter().all(|b| *b == 0xFF));
    // Either check code opens 0006–0008 (the PIN too).
    let my_number = card.holder().my_number.expose().as_bytes().to_vec();
    ok(&mut card, &verify(kenhojo::CHECK_CODE_A, &my_number));
    let session = ok(&mut card, &hex("00B0 8600 00 0000"));
    // A1 82 01 09 { 90 03 010001, 91 82 0100 <256> }, as text-0006 of a real card.
    assert_eq!(&session[..4], &[0xA1, 0x82, 0x01, 0x09]);
    assert_eq!(
        card_key(&session[4..]),
        *FixtureKey::KenhojoSession.private_key().as_public_key()
    );
    let signed = ok(&mut card, &hex("00B0 8700 00 0000"));
    assert_eq!(ok(&mut card, &hex("00B0 8800 00")), [0xFF; 16]);
    // EF 0007: FF50 { DF51 key, DF52 signature over the DF51 TLV } by the
    // key EF 0004 certifies; so is the integrity record EF 0003.
    let signed = Record::parse(&signed, 0xFF50).unwrap();
    let df51 = signed.raw(0xDF51).unwrap();
    assert!(verifies_sha256(
        &subject_key,
        df51,
        signed.require(0xDF52).unwrap()
    ));
    assert_eq!(
        card_key(signed.require(0xDF51).unwrap()),
        *FixtureKey::CardApplication.private_key().as_public_key()
    );
    ok(&mut card, &verify(kenhojo::PIN, b"1234"));
    let integrity = ok(&mut card, &hex("00B0 8300 00 0000"));
    let integrity = Record::parse(&integrity, 0xFF30).unwrap();
    let before_signature = [
        integrity.raw(0xDF31).unwrap(),
        integrity.raw(0xDF32).unwrap(),
    ]
    .concat();
    assert!(verifies_sha256(
        &subject_key,
        &before_signature,
        integrity.require(0xDF33).unwrap()
    ));
    // Kenhojo's EF 0012 is named in the layout now, blocked from issue.
    assert_eq!(
        card.tries_left(Application::Kenhojo, kenhojo::BLOCKED_0012),
        Some(0)
    );
}

#[test]
fn common_card_application_records_and_internal_authenticate() {
    let mut card = VirtualCard::sample();
    ok(&mut card, &select_app(Application::Common));
    ok(&mut card, &select_ef(common_ap::CARD_INFO));
    let record = ok(&mut card, &hex("00B2 0104 00"));
    assert_eq!(&record[..2], &[0x01, 0x1C]);
    let text = std::str::from_utf8(&record[2..]).unwrap();
    assert_eq!(text.len(), 28);
    assert!(text.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(&text[15..20], "13101");
    assert_eq!(&text[20..], "20350615");
    // By SFI in P2 (SFI << 3 | 04), without SELECT EF; exact Le.
    ok(&mut card, &select_app(Application::Common));
    assert_eq!(ok(&mut card, &hex("00B2 010C 1E")), record);
    assert_eq!(status(&mut card, &hex("00B2 010C 10")), 0x6C1E);
    assert_eq!(status(&mut card, &hex("00B2 020C 00")), 0x6A83);
    assert_eq!(status(&mut card, &hex("00B2 000C 00")), 0x6A86);
    assert_eq!(status(&mut card, &hex("00B0 8100 00")), 0x6981);
    // INTERNAL AUTHENTICATE with EF 0019, no PIN: sha256WithRSAEncryption.
    let challenge = [0x42; 16];
    let mut ia = hex("0088 0099 10");
    ia.extend_from_slice(&challenge);
    ia.push(0x00);
    let signature = ok(&mut card, &ia);
    let key = FixtureKey::CommonAuth.private_key().as_public_key();
    assert!(verifies_sha256(key, &challenge, &signature));
    let mut no_challenge = hex("0088 0099");
    no_challenge.push(0x00);
    assert_eq!(status(&mut card, &no_challenge), 0x6700);
    // Other keys refuse: the JPKI auth key (behind a PIN) 6982, the Kenmen
    // application key 6985.
    ok(&mut card, &select_app(Application::Jpki));
    ia[3] = jpki::AUTH_KEY.reference_p2();
    assert_eq!(status(&mut card, &ia), 0x6982);
    ok(&mut card, &select_app(Application::Kenmen));
    ia[3] = 0x00;
    assert_eq!(status(&mut card, &ia), 0x6985);
    // Its PIN (EF 001C) answers a bare VERIFY like the others.
    ok(&mut card, &select_app(Application::Common));
    assert_eq!(
        status(
            &mut card,
            &[0x00, 0x20, 0x00, common_ap::PIN.reference_p2()]
        ),
        0x63C3
    );
}

#[test]
fn get_challenge_gives_le_random_bytes() {
    let mut card = VirtualCard::sample();
    // Before any application (MF level) and inside one.
    assert_eq!(ok(&mut card, &hex("0084 0000 01")).len(), 1);
    let a = ok(&mut card, &hex("0084 0000 10"));
    let b = ok(&mut card, &hex("0084 0000 10"));
    assert_eq!(a.len(), 16);
    assert_ne!(a, b);
    ok(&mut card, &select_app(Application::Kenmen));
    assert_eq!(ok(&mut card, &hex("0084 0000 00")).len(), 256);
    assert_eq!(
        status(&mut card, &hex("0084 0000 000100")),
        0x6985,
        "extended"
    );
    assert_eq!(status(&mut card, &hex("0084 0100 08")), 0x6A86);
    assert_eq!(status(&mut card, &hex("0084 0000")), 0x6700);
}

#[test]
fn get_data_answers_at_the_mf_level() {
    let mut card = VirtualCard::sample();
    assert_eq!(ok(&mut card, &hex("00CA 00F0 00")), b"13101");
    assert_eq!(ok(&mut card, &hex("00CA 00F2 00")), b"20350615");
    let serial = ok(&mut card, &hex("00CA 0045 00"));
    assert_eq!(serial.len(), 15);
    assert_eq!(ok(&mut card, &hex("00CA 0042 00")).len(), 16);
    assert_eq!(ok(&mut card, &hex("00CA 5F51 00")), &ATR[1..]);
    assert_eq!(status(&mut card, &hex("00CA 0001 00")), 0x6A88);
    assert_eq!(status(&mut card, &hex("00CA 00F0")), 0x6700, "no Le");
    // The common AP's record repeats the serial.
    ok(&mut card, &select_app(Application::Common));
    let record = ok(&mut card, &hex("00B2 010C 00"));
    assert_eq!(&record[2..17], serial.as_slice());
    // With an application selected only the contact ATR answers.
    assert_eq!(status(&mut card, &hex("00CA 00F0 00")), 0x6A88);
    assert_eq!(ok(&mut card, &hex("00CA 5F51 00")), &ATR[1..]);
    // A power cycle returns to the MF level.
    card.power_cycle();
    assert_eq!(ok(&mut card, &hex("00CA 00F0 00")), b"13101");
}

#[test]
fn jpki_ef_0009_is_selectable_but_never_readable() {
    let mut card = VirtualCard::sample();
    ok(&mut card, &select_app(Application::Jpki));
    ok(&mut card, &select_ef(jpki::PROTECTED_0009));
    ok(&mut card, &verify(jpki::AUTH_PIN, b"1234"));
    ok(&mut card, &verify(jpki::SIGNING_PIN, b"SANDBOX1"));
    assert_eq!(status(&mut card, &hex("00B0 0000 00")), 0x6982);
    assert_eq!(
        status(&mut card, &[0x00, 0xB0, FileId(0x09).read_p1(), 0x00, 0x00]),
        0x6982
    );
}
