//! The face-check token: a CWT (RFC 8392) in a COSE_Sign1 (RFC 9052),
//! ES256 (P-256, SHA-256), minted on a passed face check and redeemed once
//! at the reservation endpoint.
//!
//! Claims: `iss` (1), `aud` (3, the reservation endpoint), `exp` (4),
//! `iat` (6), `cti` (7, 16 random bytes; the authority records it when it
//! is redeemed), `cnf` (8, RFC 8747: `{1: COSE_Key}`, the phone's
//! installation key, EC2 P-256) and `mynakit_card` (a text-named private
//! claim: SHA-256 of the card's authentication certificate DER). The
//! protected header carries `alg` ES256 (-7) and `kid`. The COSE_Sign1 is
//! tagged (18); the CWT tag (61) is not added, as RFC 8392 makes it
//! optional where the context says it is a CWT.

use ciborium::value::Value;
use coset::cwt::{ClaimsSet, ClaimsSetBuilder, Timestamp};
use coset::{
    CborSerializable, CoseKey, CoseKeyBuilder, CoseSign1, CoseSign1Builder, HeaderBuilder, Label,
    TaggedCborSerializable, iana,
};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The card-binding claim's name.
pub const CARD_CLAIM: &str = "mynakit_card";

/// What a face-check token says.
#[derive(Clone, PartialEq, Eq)]
pub struct FaceCheckClaims {
    /// `iss`: the authority.
    pub issuer: String,
    /// `aud`: the reservation endpoint.
    pub audience: String,
    /// `iat`, seconds since the epoch (the authority's clock).
    pub issued_at: i64,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
    /// `cti`: 16 random bytes, redeemable once.
    pub cti: Vec<u8>,
    /// `cnf`: the phone's installation key, SEC1 uncompressed (65 bytes).
    pub device_key: Vec<u8>,
    /// SHA-256 of the card's authentication certificate.
    pub card: Vec<u8>,
}

impl std::fmt::Debug for FaceCheckClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceCheckClaims")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused before its claims were judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a COSE_Sign1 CWT with the claims above.
    #[error("the token is malformed: {0}")]
    Malformed(String),
    /// The signature does not verify with the authority's key.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// The random source failed.
    #[error("no randomness for a key")]
    NoRandomness,
}

/// The authority's token key (P-256). In the sandbox it lives in the
/// authority's own store; a real authority keeps it in an HSM (coset signs
/// through a closure, so that fits).
pub struct TokenIssuer {
    key: SigningKey,
    issuer: String,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("key", &"<secret>")
            .finish()
    }
}

/// A fresh P-256 signing key from the OS's random source.
pub fn generate_p256() -> Result<SigningKey, TokenError> {
    // Almost every 32-byte string is a valid scalar; retry the rare one
    // that is not (zero or ≥ the group order).
    for _ in 0..16 {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| TokenError::NoRandomness)?;
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return Ok(key);
        }
    }
    Err(TokenError::NoRandomness)
}

/// SEC1 uncompressed encoding of a public key (65 bytes).
pub fn sec1(key: &VerifyingKey) -> Vec<u8> {
    key.to_sec1_point(false).as_bytes().to_vec()
}

/// ES256: the raw 64-byte r‖s signature COSE uses.
pub fn es256_sign(key: &SigningKey, message: &[u8]) -> Vec<u8> {
    let signature: Signature = key.sign(message);
    signature.to_bytes().to_vec()
}

/// Checks an ES256 raw signature by a SEC1-encoded key.
pub fn es256_verify(sec1_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = VerifyingKey::from_sec1_bytes(sec1_key) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    key.verify(message, &signature).is_ok()
}

impl TokenIssuer {
    /// An issuer named `issuer` signing with `key`.
    pub fn new(issuer: impl Into<String>, key: SigningKey) -> Self {
        Self {
            key,
            issuer: issuer.into(),
        }
    }

    /// The issuer name (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key id: the first 8 bytes of SHA-256 of the public key.
    pub fn key_id(&self) -> Vec<u8> {
        let digest = Sha256::digest(sec1(self.key.verifying_key()));
        digest.get(..8).map(<[u8]>::to_vec).unwrap_or_default()
    }

    /// The public key, SEC1 uncompressed: what a verifier pins.
    pub fn public_key(&self) -> Vec<u8> {
        sec1(self.key.verifying_key())
    }

    /// Mints a token.
    pub fn mint(&self, claims: &FaceCheckClaims) -> Result<Vec<u8>, TokenError> {
        let malformed = |e: coset::CoseError| TokenError::Malformed(e.to_string());
        let (x, y) = split_sec1(&claims.device_key)
            .ok_or_else(|| TokenError::Malformed("the device key is not SEC1 P-256".into()))?;
        let cose_key = CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_256, x, y).build();
        let cnf = Value::Map(vec![(
            Value::Integer(1.into()),
            coset::AsCborValue::to_cbor_value(cose_key).map_err(malformed)?,
        )]);
        let set = ClaimsSetBuilder::new()
            .issuer(claims.issuer.clone())
            .audience(claims.audience.clone())
            .issued_at(Timestamp::WholeSeconds(claims.issued_at))
            .expiration_time(Timestamp::WholeSeconds(claims.expires_at))
            .cwt_id(claims.cti.clone())
            .claim(iana::CwtClaimName::Cnf, cnf)
            .text_claim(CARD_CLAIM.to_owned(), Value::Bytes(claims.card.clone()))
            .build();
        let payload = set.to_vec().map_err(malformed)?;
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES256)
            .key_id(self.key_id())
            .build();
        let sign1 = CoseSign1Builder::new()
            .protected(protected)
            .payload(payload)
            .create_signature(b"", |data| es256_sign(&self.key, data))
            .build();
        sign1.to_tagged_vec().map_err(malformed)
    }

    /// Checks the token's structure and signature and returns its claims.
    /// Expiry, audience, single use and binding are the authority's to judge.
    pub fn verify(&self, token: &[u8]) -> Result<FaceCheckClaims, TokenError> {
        let malformed = |what: &str| TokenError::Malformed(what.to_owned());
        let sign1 = CoseSign1::from_tagged_slice(token)
            .map_err(|e| TokenError::Malformed(e.to_string()))?;
        if sign1.protected.header.alg
            != Some(coset::RegisteredLabelWithPrivate::Assigned(
                iana::Algorithm::ES256,
            ))
        {
            return Err(malformed("alg is not ES256"));
        }
        let public = self.public_key();
        sign1.verify_signature(b"", |signature, data| {
            if es256_verify(&public, data, signature) {
                Ok(())
            } else {
                Err(TokenError::BadSignature)
            }
        })?;
        let payload = sign1.payload.ok_or_else(|| malformed("no payload"))?;
        let set =
            ClaimsSet::from_slice(&payload).map_err(|e| TokenError::Malformed(e.to_string()))?;
        claims_of(set)
    }
}

/// Splits a SEC1 uncompressed P-256 point into x and y.
fn split_sec1(key: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    match key.split_first() {
        Some((0x04, rest)) if rest.len() == 64 => {
            let (x, y) = rest.split_at(32);
            Some((x.to_vec(), y.to_vec()))
        }
        _ => None,
    }
}

fn seconds(t: Option<Timestamp>, what: &str) -> Result<i64, TokenError> {
    match t {
        Some(Timestamp::WholeSeconds(s)) => Ok(s),
        _ => Err(TokenError::Malformed(format!(
            "{what} is missing or not whole seconds"
        ))),
    }
}

fn claims_of(set: ClaimsSet) -> Result<FaceCheckClaims, TokenError> {
    let malformed = |what: &str| TokenError::Malformed(what.to_owned());
    let mut device_key = None;
    let mut card = None;
    for (name, value) in set.rest {
        match name {
            coset::RegisteredLabelWithPrivate::Assigned(iana::CwtClaimName::Cnf) => {
                device_key = Some(device_key_of(value).ok_or_else(|| malformed("cnf"))?);
            }
            coset::RegisteredLabelWithPrivate::Text(t) if t == CARD_CLAIM => match value {
                Value::Bytes(b) => card = Some(b),
                _ => return Err(malformed("card claim is not bytes")),
            },
            // Claims this authority does not define are ignored (RFC 8392 §4);
            // the ones it needs are checked for presence below.
            _ => {}
        }
    }
    Ok(FaceCheckClaims {
        issuer: set.issuer.ok_or_else(|| malformed("iss"))?,
        audience: set.audience.ok_or_else(|| malformed("aud"))?,
        issued_at: seconds(set.issued_at, "iat")?,
        expires_at: seconds(set.expiration_time, "exp")?,
        cti: set.cwt_id.ok_or_else(|| malformed("cti"))?,
        device_key: device_key.ok_or_else(|| malformed("cnf"))?,
        card: card.ok_or_else(|| malformed("card claim"))?,
    })
}

/// The SEC1 key inside `cnf` = {1: COSE_Key(EC2, P-256, x, y)}.
fn device_key_of(cnf: Value) -> Option<Vec<u8>> {
    let Value::Map(entries) = cnf else {
        return None;
    };
    let (_, key) = entries
        .into_iter()
        .find(|(k, _)| *k == Value::Integer(1.into()))?;
    let key = <CoseKey as coset::AsCborValue>::from_cbor_value(key).ok()?;
    let param = |label: iana::Ec2KeyParameter| {
        key.params
            .iter()
            .find(|(l, _)| *l == Label::Int(label as i64))
            .and_then(|(_, v)| v.as_bytes().cloned())
    };
    let (x, y) = (
        param(iana::Ec2KeyParameter::X)?,
        param(iana::Ec2KeyParameter::Y)?,
    );
    if x.len() != 32 || y.len() != 32 {
        return None;
    }
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    Some(sec1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(device: &SigningKey) -> FaceCheckClaims {
        FaceCheckClaims {
            issuer: "https://reset.sandbox".into(),
            audience: "https://reset.sandbox/v1/reservations".into(),
            issued_at: 1_800_000_000,
            expires_at: 1_800_000_300,
            cti: vec![7; 16],
            device_key: sec1(device.verifying_key()),
            card: vec![9; 32],
        }
    }

    #[test]
    fn a_minted_token_verifies_and_round_trips_its_claims() {
        let issuer = TokenIssuer::new("https://reset.sandbox", generate_p256().unwrap());
        let device = generate_p256().unwrap();
        let token = issuer.mint(&claims(&device)).unwrap();
        // A tagged COSE_Sign1 (tag 18 = 0xD2).
        assert_eq!(token.first(), Some(&0xD2));
        assert_eq!(issuer.verify(&token).unwrap(), claims(&device));
    }

    #[test]
    fn a_token_from_another_key_or_tampered_is_refused() {
        let issuer = TokenIssuer::new("https://reset.sandbox", generate_p256().unwrap());
        let forger = TokenIssuer::new("https://reset.sandbox", generate_p256().unwrap());
        let device = generate_p256().unwrap();
        let forged = forger.mint(&claims(&device)).unwrap();
        assert_eq!(issuer.verify(&forged), Err(TokenError::BadSignature));
        let mut tampered = issuer.mint(&claims(&device)).unwrap();
        let last = tampered.len() - 70;
        tampered[last] ^= 1;
        assert!(issuer.verify(&tampered).is_err());
        assert!(matches!(
            issuer.verify(b"\xd2garbage"),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(issuer.verify(&[]), Err(TokenError::Malformed(_))));
    }
}
