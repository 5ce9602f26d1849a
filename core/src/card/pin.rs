//! PIN types: their format is checked before anything is sent, and their bytes
//! are wiped when dropped and never shown by `Debug`.

use std::fmt;

use zeroize::Zeroizing;

/// Why a PIN was refused before it reached the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinFormatError {
    /// A 4-digit PIN of another length.
    #[error("the PIN must be exactly 4 digits")]
    NotFourDigits,
    /// A signing password shorter than 6 or longer than 16 characters.
    #[error("the signing password must be 6 to 16 characters")]
    SigningPasswordLength,
    /// A character outside A–Z and 0–9.
    #[error("the signing password may only use the letters A–Z and the digits 0–9")]
    SigningPasswordCharacter,
    /// Only letters or only digits.
    #[error("the signing password needs at least one letter and one digit")]
    SigningPasswordNeedsLetterAndDigit,
}

/// A secret the card checks with VERIFY.
pub trait CardSecret {
    /// The bytes VERIFY sends.
    fn verify_data(&self) -> &[u8];
}

fn four_digits(pin: &str) -> Result<Zeroizing<Vec<u8>>, PinFormatError> {
    if pin.len() == 4 && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Zeroizing::new(pin.as_bytes().to_vec()))
    } else {
        Err(PinFormatError::NotFourDigits)
    }
}

/// The user-authentication PIN (利用者証明用パスワード): 4 digits, 3 tries.
#[derive(Clone)]
pub struct AuthPin(Zeroizing<Vec<u8>>);

impl AuthPin {
    /// Checks the format (exactly 4 ASCII digits).
    pub fn new(pin: &str) -> Result<Self, PinFormatError> {
        four_digits(pin).map(Self)
    }
}

/// The Kenhojo PIN (券面事項入力補助用暗証番号): 4 digits, usually the same as the auth PIN.
#[derive(Clone)]
pub struct KenhojoPin(Zeroizing<Vec<u8>>);

impl KenhojoPin {
    /// Checks the format (exactly 4 ASCII digits).
    pub fn new(pin: &str) -> Result<Self, PinFormatError> {
        four_digits(pin).map(Self)
    }
}

/// The signing password (署名用パスワード): 6–16 of A–Z and 0–9 with at least
/// one letter and one digit, 5 tries. Lower-case letters are upper-cased, as
/// the card expects.
#[derive(Clone)]
pub struct SigningPassword(Zeroizing<Vec<u8>>);

impl SigningPassword {
    /// Checks the format and upper-cases letters.
    pub fn new(password: &str) -> Result<Self, PinFormatError> {
        let bytes = Zeroizing::new(password.to_ascii_uppercase().into_bytes());
        if !(6..=16).contains(&password.chars().count()) {
            return Err(PinFormatError::SigningPasswordLength);
        }
        if !bytes
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(PinFormatError::SigningPasswordCharacter);
        }
        if !bytes.iter().any(u8::is_ascii_uppercase) || !bytes.iter().any(u8::is_ascii_digit) {
            return Err(PinFormatError::SigningPasswordNeedsLetterAndDigit);
        }
        Ok(Self(bytes))
    }
}

macro_rules! secret_impls {
    ($($ty:ident),*) => {$(
        impl CardSecret for $ty {
            fn verify_data(&self) -> &[u8] {
                &self.0
            }
        }
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($ty), "(<redacted>)"))
            }
        }
    )*};
}
secret_impls!(AuthPin, KenhojoPin, SigningPassword);

/// What to do when the PIN has exactly one try left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LastTry {
    /// Refuse with [`crate::CardError::LastTryNeedsConfirmation`] (the default).
    #[default]
    Refuse,
    /// The user confirmed: spend the last try.
    Allow,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_digit_pins() {
        assert!(AuthPin::new("0000").is_ok());
        for bad in ["123", "12345", "12a4", "１２３４", "", " 123"] {
            assert_eq!(
                AuthPin::new(bad).err(),
                Some(PinFormatError::NotFourDigits),
                "{bad:?}"
            );
        }
        assert_eq!(KenhojoPin::new("9876").unwrap().verify_data(), b"9876");
    }

    #[test]
    fn signing_passwords() {
        assert_eq!(
            SigningPassword::new("abc123").unwrap().verify_data(),
            b"ABC123"
        );
        assert!(SigningPassword::new("A1B2C3D4E5F6G7H8").is_ok());
        assert_eq!(
            SigningPassword::new("AB123").err(),
            Some(PinFormatError::SigningPasswordLength)
        );
        assert_eq!(
            SigningPassword::new("A1B2C3D4E5F6G7H8I").err(),
            Some(PinFormatError::SigningPasswordLength)
        );
        assert_eq!(
            SigningPassword::new("ABC-123").err(),
            Some(PinFormatError::SigningPasswordCharacter)
        );
        assert_eq!(
            SigningPassword::new("ÄBC123").err(),
            Some(PinFormatError::SigningPasswordCharacter)
        );
        assert_eq!(
            SigningPassword::new("ABCDEF").err(),
            Some(PinFormatError::SigningPasswordNeedsLetterAndDigit)
        );
        assert_eq!(
            SigningPassword::new("123456").err(),
            Some(PinFormatError::SigningPasswordNeedsLetterAndDigit)
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!(
            "{:?} {:?}",
            AuthPin::new("4321").unwrap(),
            SigningPassword::new("SECRET99").unwrap()
        );
        assert!(
            !shown.contains("4321") && !shown.contains("SECRET99"),
            "{shown}"
        );
    }
}
