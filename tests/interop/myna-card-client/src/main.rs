//! `myna-card-client READER COMMAND …`: what the `myna-card` crate reads
//! from, and signs with, the card in one PC/SC reader. Each command prints
//! one line per finding and writes files for openssl to check; the suite
//! (scripts/suites/pcsc.sh) decides what is right. Nothing here is ours but
//! the argument handling: the APDUs are myna-card's.

use std::process::ExitCode;

use myna_card::Pin;
use myna_card::ap::jpki::{JpkiAp, SignatureScheme};
use myna_card::ap::surface::SurfaceAp;
use myna_card::ap::text::TextAp;
use myna_card::data::{Date, verification_code_b};
use myna_card::transport::pcsc::{self, Sharing};

type Failure = Box<dyn std::error::Error>;

fn scheme(p1: &str) -> Result<SignatureScheme, Failure> {
    Ok(match p1 {
        "00" => SignatureScheme::Verbatim,
        "01" => SignatureScheme::Sha256Bare,
        "02" => SignatureScheme::PreHashedDigestInfo,
        "03" => SignatureScheme::Sha256DigestInfo,
        "04" => SignatureScheme::PreHashedPss,
        "05" => SignatureScheme::Sha256Pss,
        other => return Err(format!("unknown scheme {other}").into()),
    })
}

fn run(args: &[String]) -> Result<(), Failure> {
    let [reader, command, rest @ ..] = args else {
        return Err("usage: myna-card-client READER COMMAND ARGS…".into());
    };
    let mut card = pcsc::connect(reader, Sharing::Exclusive)?;
    match (command.as_str(), rest) {
        ("auth-cert", [out]) => {
            let mut jpki = JpkiAp::select(&mut card)?;
            std::fs::write(out, jpki.read_auth_certificate_der()?)?;
            println!("auth certificate: {out}");
        }
        // sign KEY(auth|sign) PIN P1 IN OUT: data as given to the card.
        ("sign", [key, pin, p1, input, out]) => {
            let scheme = scheme(p1)?;
            let data = std::fs::read(input)?;
            let mut jpki = JpkiAp::select(&mut card)?;
            let signature = if key == "auth" {
                jpki.verify_auth_pin(&Pin::numeric(pin)?)?;
                jpki.sign_with_auth_key(scheme, &data)?
            } else {
                jpki.verify_sign_pin(&Pin::new(pin)?)?;
                jpki.sign_with_sign_key(scheme, &data)?
            };
            std::fs::write(out, &signature)?;
            // myna-card's own check against the certificate, besides openssl's.
            let cert = if key == "auth" {
                jpki.read_auth_certificate()?
            } else {
                jpki.read_sign_certificate()?
            };
            scheme.verify(&cert.public_key()?, &data, &signature)?;
            println!(
                "signature {p1}: {} bytes, verified by myna-card",
                signature.len()
            );
        }
        // face YYYYMMDD EXPIRY_YEAR SECURITY_CODE PHOTO_OUT
        ("face", [birth, expiry, code, photo_out]) => {
            let birth = Date::parse(birth.as_bytes())?;
            let code_b = verification_code_b(birth, expiry.parse()?, code.as_bytes())?;
            let mut surface = SurfaceAp::select(&mut card)?;
            let cert = surface.read_certificate()?;
            println!(
                "cv certificate: {} -> {}",
                cert.issuer_key_id, cert.subject_key_id
            );
            let basic = surface.read_ap_basic_data()?;
            println!("municipality: {}", basic.municipality_code);
            surface.verify_code_b(&code_b)?;
            let face = surface.read_card_face()?;
            println!("birth date: {}", face.birth_date);
            println!("expiry: {}", face.expiry);
            println!("sex: {:?}", face.sex);
            println!(
                "photo: {:?} {} bytes",
                face.photo.format,
                face.photo.data.len()
            );
            face.verify(&cert.public_key)?;
            println!("face signature: verified against the EF 0004 key");
            std::fs::write(photo_out, &face.photo.data)?;
        }
        ("kenhojo", [pin]) => {
            let mut text = TextAp::select(&mut card)?;
            let cert = text.read_certificate()?;
            println!(
                "cv certificate: {} -> {}",
                cert.issuer_key_id, cert.subject_key_id
            );
            text.verify_pin(&Pin::numeric(pin)?)?;
            let attributes = text.read_attributes()?;
            println!("name: {}", attributes.name);
            println!("address: {}", attributes.address);
            println!("birth date: {}", attributes.birth_date);
            println!("sex: {:?}", attributes.sex);
            let integrity = text.read_integrity_record()?;
            integrity.verify(&cert.public_key)?;
            let attributes_file = text.read_ef(myna_card::ap::text::ef::ATTRIBUTES)?;
            let my_number_file = text.read_my_number_file()?;
            if integrity.matches_attributes_file(&attributes_file)?
                && integrity.matches_my_number_file(&my_number_file)
            {
                println!("integrity record: verified, digests match");
            } else {
                return Err("integrity digests do not match".into());
            }
        }
        _ => return Err(format!("unknown command {command} or wrong arguments").into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("myna-card-client: {e}");
            ExitCode::FAILURE
        }
    }
}
