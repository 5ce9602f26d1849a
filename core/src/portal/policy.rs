//! The portal's numbers. Two come from the documents (app-protocols §7:
//! renewal opens three months before expiry; rules §6: release reason 2
//! and the expiry flag at three months after expiry); every other one is a
//! policy value of ours, documented here and in `docs/portal-protocol.md`,
//! never presented as official.

use std::time::Duration;

use chrono::{DateTime, Months, NaiveDate, Utc};

use super::wire::{CertificateStanding, CertificateState};
use crate::jp::period::{japan_date, last_day_of_months, next_day};
use crate::pki::ExpiryState;

/// Renewal opens this many months before expiry (app-protocols §7,
/// jpki.go.jp FAQ). Official.
pub const RENEWAL_WINDOW_MONTHS: u32 = 3;

/// A registration is released with reason 2 this many months after the
/// certificate expired, unless renewed (rules §6). Official.
pub const EXPIRED_RELEASE_MONTHS: u32 = 3;

/// How long an authorization request's challenge lives. Policy: 5 minutes,
/// time for a PIN entry and a tap.
pub const CHALLENGE_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// How long an authorization code lives. Policy: 60 s (RFC 6749 §4.1.2
/// recommends at most 10 minutes).
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);

/// How long an access token lives. Policy: 10 minutes.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// How long an ID token lives. Policy: 10 minutes.
pub const ID_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// How long a session lives from its card tap: each refresh spends the
/// refresh token and gives a new one, never past the tap plus this (a
/// spent one used again ends the session: replay). Policy: 24 hours, so a
/// card tap is needed at least daily.
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Clock skew tolerated when the phone checks an ID token's `iat` and
/// `exp`. Policy: 60 s (the corrected clock is already near the portal's).
pub const ID_TOKEN_LEEWAY: Duration = Duration::from_secs(60);

/// How long a consent request waits for the holder. Policy: 1 hour.
pub const CONSENT_REQUEST_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The longest retention a service may ask for. Policy: 365 days.
pub const MAX_RETENTION_DAYS: u32 = 365;

/// The first day renewal is open for a certificate whose last valid day
/// (Japan time) is `valid_until`.
pub fn renewal_opens_on(valid_until: NaiveDate) -> NaiveDate {
    valid_until
        .checked_sub_months(Months::new(RENEWAL_WINDOW_MONTHS))
        .unwrap_or(valid_until)
}

/// The day a registration is released with reason 2 if the certificate
/// whose last valid day is `valid_until` is not renewed: the first day
/// after the three months counted from the day after expiry (civil-law
/// counting, as `ExpiryState` counts them).
pub fn expired_release_on(valid_until: NaiveDate) -> Option<NaiveDate> {
    next_day(valid_until)
        .and_then(|first| last_day_of_months(first, EXPIRED_RELEASE_MONTHS))
        .and_then(next_day)
}

/// The standing of a certificate valid from `not_before` to `not_after`,
/// at `now`.
pub fn certificate_standing(
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> CertificateStanding {
    let valid_until = japan_date(not_after);
    let renewal_opens_on = renewal_opens_on(valid_until);
    let expiry = ExpiryState::at(not_before, not_after, now);
    let state = match expiry {
        ExpiryState::NotYetValid | ExpiryState::Valid => {
            if japan_date(now) >= renewal_opens_on {
                CertificateState::RenewalOpen
            } else {
                CertificateState::Valid
            }
        }
        ExpiryState::ExpiredUnderThreeMonths => CertificateState::ExpiredUnderThreeMonths,
        ExpiryState::ExpiredThreeMonthsOrMore => CertificateState::ExpiredThreeMonthsOrMore,
    };
    CertificateStanding {
        valid_until,
        renewal_opens_on,
        state,
        expiry_flag: expiry.insurer_flag(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jp::period::jst;
    use chrono::TimeZone;

    fn japan(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        jst()
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn renewal_opens_three_months_before_the_last_day() {
        assert_eq!(renewal_opens_on(day(2030, 5, 10)), day(2030, 2, 10));
        // The month has no 31st: its last day.
        assert_eq!(renewal_opens_on(day(2030, 5, 31)), day(2030, 2, 28));
    }

    #[test]
    fn standing_moves_from_valid_to_renewal_to_the_two_expired_states() {
        let not_before = japan(2025, 4, 1, 0);
        // Valid through 2030-05-10 in Japan (23:59:59 JST).
        let not_after = jst()
            .with_ymd_and_hms(2030, 5, 10, 23, 59, 59)
            .unwrap()
            .with_timezone(&Utc);
        let at = |t| certificate_standing(not_before, not_after, t);
        assert_eq!(at(japan(2030, 2, 9, 12)).state, CertificateState::Valid);
        assert_eq!(
            at(japan(2030, 2, 10, 0)).state,
            CertificateState::RenewalOpen
        );
        assert_eq!(
            at(japan(2030, 5, 10, 23)).state,
            CertificateState::RenewalOpen
        );
        let expired = at(japan(2030, 5, 11, 0));
        assert_eq!(expired.state, CertificateState::ExpiredUnderThreeMonths);
        assert_eq!(expired.expiry_flag, 1);
        // R2/§6: three months from 05-11 end on 08-10; from 08-11 the flag is 0.
        assert_eq!(
            at(japan(2030, 8, 10, 23)).state,
            CertificateState::ExpiredUnderThreeMonths
        );
        let gone = at(japan(2030, 8, 11, 0));
        assert_eq!(gone.state, CertificateState::ExpiredThreeMonthsOrMore);
        assert_eq!(gone.expiry_flag, 0);
        assert_eq!(expired_release_on(day(2030, 5, 10)), Some(day(2030, 8, 11)));
    }
}
