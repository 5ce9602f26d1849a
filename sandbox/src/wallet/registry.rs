//! The card registry's checks: the card's signing certificate (W2, W4),
//! the application data against it, the person a record belongs to, and
//! when the holder's birthday arrives (W6(2), W8(1)(3)).
//!
//! Which certificates are revoked is kept in the issuer's store (the admin
//! edits it); the chain, role and validity are judged here.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use mynakit_core::wallet::wire::ApplicationData;
use mynakit_core::{
    CardCertificate, CertificateRole, ExpiryState, MyNumber, Sex, TrustAnchors, jst,
};
use sha2::Sha256;

use super::error::WalletError;
use crate::fixtures;

/// The anchors of the registry: the sandbox JPKI **signing** root only (an
/// authentication certificate never chains here, W2).
pub fn signing_anchors() -> TrustAnchors {
    TrustAnchors::none().with_certificate(fixtures::signing_root_certificate().clone())
}

/// A certificate serial as the registry keys it: lowercase hex.
pub fn serial_key(serial_hex: &str) -> String {
    serial_hex.trim().to_ascii_lowercase()
}

/// W4 without the revocation list: parses `der`, checks that it is a
/// JPKI signing certificate chaining to `anchors` and valid at `now`.
pub fn check_signing_certificate(
    anchors: &TrustAnchors,
    der: &[u8],
    now: DateTime<Utc>,
) -> Result<CardCertificate, WalletError> {
    let refused = |reason: String| WalletError::CertificateRefused { reason };
    let certificate =
        CardCertificate::from_der(der.to_vec()).map_err(|e| refused(e.to_string()))?;
    anchors
        .verify(&certificate, CertificateRole::Signing, &[])
        .map_err(|e| refused(e.to_string()))?;
    match certificate.expiry_state(now) {
        ExpiryState::Valid => Ok(certificate),
        ExpiryState::NotYetValid => Err(refused("not yet valid at the issuer's time".into())),
        ExpiryState::ExpiredUnderThreeMonths | ExpiryState::ExpiredThreeMonthsOrMore => {
            Err(WalletError::CertificateExpired)
        }
    }
}

/// The application data must say what the signing certificate says (the
/// JPKI signing certificate carries the basic four: name, birth date, sex,
/// address). The My Number and the photo are not in the certificate: the
/// card's signature over the data's digest vouches for them (W2, W11).
pub fn check_data_matches(
    data: &ApplicationData,
    certificate: &CardCertificate,
) -> Result<(), WalletError> {
    let mismatch = |field: &str| WalletError::DataMismatch {
        field: field.to_owned(),
    };
    let attributes = certificate
        .personal_attributes()
        .map_err(|e| WalletError::CertificateRefused {
            reason: e.to_string(),
        })?
        .ok_or_else(|| WalletError::CertificateRefused {
            reason: "no personal attributes".into(),
        })?;
    if data.name != attributes.name {
        return Err(mismatch("name"));
    }
    if data.address != attributes.address {
        return Err(mismatch("address"));
    }
    if data.birth_date != attributes.birth_date() {
        return Err(mismatch("birth_date"));
    }
    // ISO/IEC 5218 in the data; the certificate writes 3 for "unknown".
    let sex = match data.sex {
        1 => Some(Sex::Male),
        2 => Some(Sex::Female),
        9 => Some(Sex::NotApplicable),
        _ => None,
    };
    if sex.is_none() || sex != attributes.sex() {
        return Err(mismatch("sex"));
    }
    Ok(())
}

/// Checks the shape of what the certificate cannot vouch for: a My Number
/// with its check digit, a photo.
pub fn check_data_shape(data: &ApplicationData) -> Result<(), WalletError> {
    MyNumber::new(&data.my_number).map_err(|e| WalletError::bad(format!("data.my_number: {e}")))?;
    if data.photo_jp2.is_empty() {
        return Err(WalletError::bad("data.photo_jp2 is empty"));
    }
    Ok(())
}

/// The person a My Number belongs to, as the issuer's store keys it:
/// HMAC-SHA-256 under the issuer's own secret, hex. A plain hash would
/// not do: 10^11 possible numbers are quickly tried.
pub fn person_key(secret: &[u8], my_number: &str) -> Result<String, WalletError> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .map_err(|_| WalletError::internal("person secret"))?;
    mac.update(b"mynakit wallet person v1\0");
    mac.update(my_number.as_bytes());
    Ok(mynakit_core::reset::wire::to_hex(
        &mac.finalize().into_bytes(),
    ))
}

/// The holder's age on `on`: whole years, one more from the birthday on
/// (for someone born on 29 February, from 1 March in a common year: the
/// age changes at the end of 28 February, Civil Code Art. 143(2) and the
/// Act on Age Calculation).
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let before_birthday = (on.month(), on.day()) < (birth.month(), birth.day());
    on.year() - birth.year() - i32::from(before_birthday)
}

/// The first day after `issued_on` on which the holder's age changes (the
/// birthday of W6(2), W8(1)(3)), Japan dates.
pub fn next_birthday(birth: NaiveDate, issued_on: NaiveDate) -> Option<NaiveDate> {
    let age = age_on(birth, issued_on);
    [issued_on.year(), issued_on.year().checked_add(1)?]
        .into_iter()
        .filter_map(|year| {
            NaiveDate::from_ymd_opt(year, birth.month(), birth.day())
                // 29 February in a common year: 1 March.
                .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))
        })
        .find(|day| *day > issued_on && age_on(birth, *day) > age)
}

/// The instant a Japan date begins (00:00 JST).
pub fn start_of_japan_day(day: NaiveDate) -> Option<DateTime<Utc>> {
    jst()
        .from_local_datetime(&day.and_time(NaiveTime::MIN))
        .single()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn birthdays_arrive_the_day_the_age_changes() {
        let birth = d(1985, 6, 15);
        assert_eq!(next_birthday(birth, d(2026, 6, 1)), Some(d(2026, 6, 15)));
        // Issued on the birthday itself: the next one is a year later.
        assert_eq!(next_birthday(birth, d(2026, 6, 15)), Some(d(2027, 6, 15)));
        assert_eq!(next_birthday(birth, d(2026, 12, 31)), Some(d(2027, 6, 15)));
        let leap = d(2000, 2, 29);
        assert_eq!(next_birthday(leap, d(2027, 2, 1)), Some(d(2027, 3, 1)));
        assert_eq!(next_birthday(leap, d(2028, 2, 1)), Some(d(2028, 2, 29)));
        assert_eq!(age_on(leap, d(2027, 2, 28)), 26);
        assert_eq!(age_on(leap, d(2027, 3, 1)), 27);
    }

    #[test]
    fn a_japan_day_starts_at_15_utc_the_day_before() {
        assert_eq!(
            start_of_japan_day(d(2026, 6, 15)).unwrap(),
            DateTime::parse_from_rfc3339("2026-06-14T15:00:00Z").unwrap()
        );
    }

    #[test]
    fn the_person_key_is_keyed_and_hides_the_number() {
        let a = person_key(&[1; 32], "123456789018").unwrap();
        let b = person_key(&[2; 32], "123456789018").unwrap();
        assert_ne!(a, b);
        assert!(!a.contains("123456789018"));
        assert_eq!(a.len(), 64);
    }
}
