//! The face-check token (a CWT in COSE_Sign1, ES256) for the COSE interop
//! suite (`scripts/suites/cose.sh`), which checks it with pycose, a COSE
//! implementation we did not write, and has pycose mint tokens for ours to
//! verify.
//!
//! - `face_check_token mint`: prints, as JSON, a token minted by
//!   [`TokenIssuer`] with a fixed **test** key, that key (public and private
//!   halves: a test fixture, never a real key) and the claims it carries.
//! - `face_check_token verify HEX`: verifies a token with the same key and
//!   prints its claims as JSON, or exits 1 with the reason.

use mynakit_core::reset::wire::{from_hex, to_hex};
use mynakit_sandbox::reset::token::{FaceCheckClaims, TokenIssuer, sec1};
use p256::ecdsa::SigningKey;

const ISSUER: &str = "https://reset.sandbox.mynakit.invalid";
const AUDIENCE: &str = "https://reset.sandbox.mynakit.invalid/v1/reservations";

/// A fixed test scalar: the interop suite needs the same key on both sides.
const TEST_SCALAR: [u8; 32] = [
    0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x79, 0x88, 0x97, 0xa6, 0xb5, 0xc4, 0xd3, 0xe2, 0xf1, 0x00,
    0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
];
/// The installation key the token is bound to (`cnf`): another test scalar.
const DEVICE_SCALAR: [u8; 32] = [0x42; 32];

fn claims_json(claims: &FaceCheckClaims) -> serde_json::Value {
    serde_json::json!({
        "iss": claims.issuer,
        "aud": claims.audience,
        "iat": claims.issued_at,
        "exp": claims.expires_at,
        "cti": to_hex(&claims.cti),
        "device_key": to_hex(&claims.device_key),
        "card": to_hex(&claims.card),
    })
}

fn main() -> Result<(), String> {
    let key = SigningKey::from_slice(&TEST_SCALAR).map_err(|e| e.to_string())?;
    let issuer = TokenIssuer::new(ISSUER, key);
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["mint"] => {
            let device = SigningKey::from_slice(&DEVICE_SCALAR).map_err(|e| e.to_string())?;
            let claims = FaceCheckClaims {
                issuer: ISSUER.to_owned(),
                audience: AUDIENCE.to_owned(),
                issued_at: 1_780_304_400,
                expires_at: 1_780_304_700,
                cti: (0u8..16).collect(),
                device_key: sec1(device.verifying_key()),
                card: vec![0xCA; 32],
            };
            let token = issuer.mint(&claims).map_err(|e| e.to_string())?;
            let out = serde_json::json!({
                "token": to_hex(&token),
                "key_id": to_hex(&issuer.key_id()),
                "public_key": to_hex(&issuer.public_key()),
                "private_key": to_hex(&TEST_SCALAR),
                "claims": claims_json(&claims),
            });
            println!("{out}");
            Ok(())
        }
        ["verify", hex] => {
            let token = from_hex(hex).ok_or("not hex")?;
            match issuer.verify(&token) {
                Ok(claims) => {
                    println!("{}", claims_json(&claims));
                    Ok(())
                }
                Err(e) => {
                    eprintln!("refused: {e}");
                    std::process::exit(1);
                }
            }
        }
        _ => Err("usage: face_check_token mint | verify HEX".to_owned()),
    }
}
