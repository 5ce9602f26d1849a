//! The card's part of a portal login (P2) for the OIDC interop suite
//! (`scripts/suites/oidc.sh`), where an OAuth client library we did not
//! write drives the portal's authorization endpoint and this program only
//! plays the phone's card tap.
//!
//! `portal_card_proof REQUEST_ID CHALLENGE_HEX` prints the `CardProof`
//! JSON: the sandbox card's authentication certificate and its signature
//! over `card_login_message`, made through the core's JPKI commands
//! (SELECT, READ BINARY, VERIFY with the sample PIN, COMPUTE DIGITAL
//! SIGNATURE) against the virtual card — the same APDUs a phone sends.

use mynakit_core::portal::wire::{CardProof, card_login_message};
use mynakit_core::{AuthPin, CardChannel, DigestInfo, FreeCertificate, Jpki, JpkiKey, LastTry};
use mynakit_sandbox::{LinkSwitches, Sandbox, VirtualCard};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(request_id), Some(challenge)) = (args.next(), args.next()) else {
        eprintln!("usage: portal_card_proof REQUEST_ID CHALLENGE_HEX");
        std::process::exit(2);
    };
    let Some(challenge) = from_hex(&challenge) else {
        eprintln!("the challenge is not hex");
        std::process::exit(2);
    };
    let sandbox = Sandbox::from_card(VirtualCard::sample());
    let mut channel = CardChannel::new(sandbox.transport(LinkSwitches::default()));
    let message = card_login_message(&request_id, &challenge);
    let proof = pollster::block_on(async {
        let mut jpki = Jpki::new(&mut channel);
        let certificate = jpki
            .read_certificate(FreeCertificate::Authentication)
            .await?;
        let pin = AuthPin::new("1234").expect("the sample PIN is four digits");
        jpki.verify_auth_pin(&pin, LastTry::Refuse).await?;
        let signature = jpki
            .sign(JpkiKey::Authentication, &DigestInfo::sha256(&message))
            .await?;
        Ok::<_, mynakit_core::CardError>(CardProof {
            request_id: request_id.clone(),
            certificate: certificate.der().to_vec(),
            signature,
        })
    });
    match proof {
        Ok(proof) => println!(
            "{}",
            serde_json::to_string(&proof).expect("a proof serialises")
        ),
        Err(e) => {
            eprintln!("the card refused: {e}");
            std::process::exit(1);
        }
    }
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
