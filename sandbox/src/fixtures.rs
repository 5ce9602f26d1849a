//! Committed test material (see `fixtures/README.md`): RSA keys, the two
//! sandbox root certificates and the card-face images. Compiled in with
//! `include_bytes!` so nothing is generated while tests run; each key is
//! parsed once per process because RSA key parsing is not free.
//!
//! These are **test keys**: their private halves are public. Never trust
//! anything they sign outside a sandbox.

use std::sync::OnceLock;

use mynakit_core::CardCertificate;
use rsa::PrivateKey;
use rsa::pkcs8::DecodePrivateKey;

/// The sandbox's RSA-2048 private keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FixtureKey {
    /// Self-signed root of the authentication hierarchy.
    AuthRoot,
    /// Self-signed root of the signing hierarchy.
    SigningRoot,
    /// The card's JPKI user-authentication key (EF 0017).
    CardAuth,
    /// The card's JPKI signing key (EF 001A).
    CardSigning,
    /// The key the Kenhojo and Kenmen applications sign challenges with
    /// (its public half is Kenmen DF24).
    CardApplication,
    /// The issuer key that signs the Kenmen records (age, face, My Number
    /// image): the key Kenmen EF 0004's card-verifiable certificate certifies.
    FaceIssuer,
    /// The sandbox's stand-in for the J-LIS CA key that certifies Kenmen EF
    /// 0004 (production key id `5000023`, test cards `6000023`; the sandbox's
    /// id is `9000023`). Apps pin its public half; it is not on the card.
    KenmenCvCa,
    /// The same for Kenhojo EF 0004 (production `5000033`; sandbox `9000033`).
    KenhojoCvCa,
    /// The issuer key that signs Kenhojo EF 0003 and EF 0007: the key Kenhojo
    /// EF 0004 certifies (a real card certifies different keys in the two
    /// applications' EF 0004).
    KenhojoIssuer,
    /// The key whose public half is Kenhojo EF 0006 (secure-messaging session
    /// key delivery, which the sandbox does not implement).
    KenhojoSession,
    /// The common card AP's INTERNAL AUTHENTICATE key (EF 0019).
    CommonAuth,
}

impl FixtureKey {
    /// Every key, in the order the generator writes them.
    pub const ALL: [Self; 11] = [
        Self::AuthRoot,
        Self::SigningRoot,
        Self::CardAuth,
        Self::CardSigning,
        Self::CardApplication,
        Self::FaceIssuer,
        Self::KenmenCvCa,
        Self::KenhojoCvCa,
        Self::KenhojoIssuer,
        Self::KenhojoSession,
        Self::CommonAuth,
    ];

    /// File name under `sandbox/fixtures/`.
    pub const fn file_name(self) -> &'static str {
        match self {
            Self::AuthRoot => "auth-root.pk8",
            Self::SigningRoot => "signing-root.pk8",
            Self::CardAuth => "card-auth.pk8",
            Self::CardSigning => "card-signing.pk8",
            Self::CardApplication => "card-ap.pk8",
            Self::FaceIssuer => "face-issuer.pk8",
            Self::KenmenCvCa => "kenmen-cv-ca.pk8",
            Self::KenhojoCvCa => "kenhojo-cv-ca.pk8",
            Self::KenhojoIssuer => "kenhojo-issuer.pk8",
            Self::KenhojoSession => "kenhojo-session.pk8",
            Self::CommonAuth => "common-auth.pk8",
        }
    }

    /// The PKCS#8 DER as committed.
    pub const fn pkcs8_der(self) -> &'static [u8] {
        match self {
            Self::AuthRoot => include_bytes!("../fixtures/auth-root.pk8"),
            Self::SigningRoot => include_bytes!("../fixtures/signing-root.pk8"),
            Self::CardAuth => include_bytes!("../fixtures/card-auth.pk8"),
            Self::CardSigning => include_bytes!("../fixtures/card-signing.pk8"),
            Self::CardApplication => include_bytes!("../fixtures/card-ap.pk8"),
            Self::FaceIssuer => include_bytes!("../fixtures/face-issuer.pk8"),
            Self::KenmenCvCa => include_bytes!("../fixtures/kenmen-cv-ca.pk8"),
            Self::KenhojoCvCa => include_bytes!("../fixtures/kenhojo-cv-ca.pk8"),
            Self::KenhojoIssuer => include_bytes!("../fixtures/kenhojo-issuer.pk8"),
            Self::KenhojoSession => include_bytes!("../fixtures/kenhojo-session.pk8"),
            Self::CommonAuth => include_bytes!("../fixtures/common-auth.pk8"),
        }
    }

    /// The parsed key, loaded on first use and shared afterwards.
    pub fn private_key(self) -> &'static PrivateKey {
        static KEYS: [OnceLock<PrivateKey>; FixtureKey::ALL.len()] =
            [const { OnceLock::new() }; FixtureKey::ALL.len()];
        KEYS[self as usize].get_or_init(|| {
            // A committed fixture that does not parse is a broken build, not
            // a runtime condition any caller could handle.
            PrivateKey::from_pkcs8_der(self.pkcs8_der()).unwrap_or_else(|e| {
                panic!("fixture {} is not a PKCS#8 RSA key: {e}", self.file_name())
            })
        })
    }
}

/// The sandbox's card-verifiable-certificate CA keys (Kenmen `9000023/001`,
/// Kenhojo `9000033/001`) as an app would pin them: what
/// [`mynakit_core::CardFace::verify_issuer_signature`] checks EF 0004 with.
pub fn cv_issuer_keys() -> Vec<mynakit_core::CvIssuerKey> {
    use rsa::traits::PublicKeyParts;
    let ids = crate::records::KeyIds::for_card();
    [
        (ids.kenmen_ca, FixtureKey::KenmenCvCa),
        (ids.kenhojo_ca, FixtureKey::KenhojoCvCa),
    ]
    .into_iter()
    .map(|(id, key)| {
        let public = key.private_key().as_public_key();
        let key_id = mynakit_core::KeyId::from_bytes(&id)
            .unwrap_or_else(|e| panic!("sandbox key id {id:02X?}: {e}"));
        mynakit_core::CvIssuerKey::new(key_id, &public.n_bytes(), &public.e_bytes())
            .unwrap_or_else(|e| panic!("fixture {}: {e}", key.file_name()))
    })
    .collect()
}

/// DER of the self-signed authentication root.
pub const AUTH_ROOT_CERT_DER: &[u8] = include_bytes!("../fixtures/auth-root.der");
/// DER of the self-signed signing root.
pub const SIGNING_ROOT_CERT_DER: &[u8] = include_bytes!("../fixtures/signing-root.der");
/// Synthetic face photo: greyscale JPEG 2000 in a JP2 container.
pub const FACE_PHOTO_JP2: &[u8] = include_bytes!("../fixtures/face.jp2");
/// Name image of the sample holder (1-bit PNG).
pub const NAME_IMAGE_PNG: &[u8] = include_bytes!("../fixtures/name.png");
/// Address image of the sample holder (1-bit PNG).
pub const ADDRESS_IMAGE_PNG: &[u8] = include_bytes!("../fixtures/address.png");
/// Security-code image of the sample holder (1-bit PNG, 24×12).
pub const SECURITY_CODE_IMAGE_PNG: &[u8] = include_bytes!("../fixtures/security-code.png");
/// My Number image of the sample holder (1-bit PNG, 72×12).
pub const MY_NUMBER_IMAGE_PNG: &[u8] = include_bytes!("../fixtures/my-number.png");

/// The authentication root, parsed once.
pub fn auth_root_certificate() -> &'static CardCertificate {
    static CERT: OnceLock<CardCertificate> = OnceLock::new();
    CERT.get_or_init(|| parse_fixture_certificate(AUTH_ROOT_CERT_DER, "auth-root.der"))
}

/// The signing root, parsed once.
pub fn signing_root_certificate() -> &'static CardCertificate {
    static CERT: OnceLock<CardCertificate> = OnceLock::new();
    CERT.get_or_init(|| parse_fixture_certificate(SIGNING_ROOT_CERT_DER, "signing-root.der"))
}

fn parse_fixture_certificate(der: &[u8], name: &str) -> CardCertificate {
    CardCertificate::from_der(der.to_vec())
        .unwrap_or_else(|e| panic!("fixture {name} is not a certificate: {e}"))
}

#[cfg(test)]
mod tests {
    use rsa::traits::PublicKeyParts;

    use super::*;

    #[test]
    fn keys_are_distinct_rsa_2048_with_e_65537() {
        let mut moduli = Vec::new();
        for key in FixtureKey::ALL {
            let k = key.private_key();
            assert_eq!(k.size(), 256, "{key:?}");
            assert_eq!(&*k.e_bytes(), &[1, 0, 1], "{key:?}");
            moduli.push(k.n_bytes());
        }
        moduli.sort();
        moduli.dedup();
        assert_eq!(moduli.len(), FixtureKey::ALL.len());
    }

    #[test]
    fn images_have_the_expected_formats() {
        assert!(FACE_PHOTO_JP2.starts_with(&[
            0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A
        ]));
        for png in [
            NAME_IMAGE_PNG,
            ADDRESS_IMAGE_PNG,
            SECURITY_CODE_IMAGE_PNG,
            MY_NUMBER_IMAGE_PNG,
        ] {
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
            // IHDR: bit depth 1, colour type 0 (greyscale) = a 1-bit image.
            assert_eq!(&png[24..26], &[1, 0]);
        }
        let size = |png: &[u8]| {
            (
                u32::from_be_bytes(png[16..20].try_into().unwrap()),
                u32::from_be_bytes(png[20..24].try_into().unwrap()),
            )
        };
        assert_eq!(size(SECURITY_CODE_IMAGE_PNG), (24, 12));
        assert_eq!(size(MY_NUMBER_IMAGE_PNG), (72, 12));
    }
}
