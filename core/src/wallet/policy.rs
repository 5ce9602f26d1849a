//! The wallet's numbers. Those from the rules cite them; the others are
//! **policy values of ours** (the terms do not publish them) with the
//! reason for each default.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};

use crate::jp::{japan_date, jst, last_day_of_months, next_day};

/// W6(3): a record used more than this many times is re-issued. The terms
/// say "a set number" and do not publish it: **policy value**, 50 (fresh
/// MSOs limit how far a verifier can link uses; multipaz's
/// `managedCredentialHelper` takes the same kind of count as a parameter).
pub const MAX_USES_BEFORE_REISSUE: u64 = 50;

/// How long a status list token may be cached (`ttl`): **policy value**,
/// 20 minutes, multipaz's default status-list lifetime
/// (`CompressedStatusList.kt`).
pub const STATUS_LIST_TTL: Duration = Duration::minutes(20);

/// How long a status list token is valid (`exp` − `iat`): **policy value**,
/// 24 hours — long enough for an offline verifier, short enough that a
/// revocation cannot be hidden for days.
pub const STATUS_LIST_LIFETIME: Duration = Duration::hours(24);

/// How long an issuer nonce lives: **policy value**, 5 minutes (one tap and
/// one prompt fit well within it).
pub const NONCE_LIFETIME: Duration = Duration::minutes(5);

/// The validity of a record issued at `issued_at` (W5): from that moment
/// to the end of the one-month period counted from and including the day
/// of issue in Japan time (Civil Code Art. 143: the end of the day before
/// the corresponding day of the next month, or of that month's last day).
/// `None` only past the calendar's end.
pub fn validity_of_record_issued_at(
    issued_at: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let last_day = last_day_of_months(japan_date(issued_at), 1)?;
    // The period ends when the last day does: at the next day's midnight
    // in Japan (an instant; verifiers compare validUntil with `<`).
    let end = jst()
        .from_local_datetime(&next_day(last_day)?.and_time(NaiveTime::MIN))
        .single()?
        .with_timezone(&Utc);
    Some((issued_at, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_record_issued_in_the_day_runs_to_the_end_of_the_day_before_next_month_s_day() {
        // W5: issued 2026-03-15 10:00 JST → valid through 2026-04-14 JST.
        let (from, until) = validity_of_record_issued_at(at("2026-03-15T10:00:00+09:00")).unwrap();
        assert_eq!(from, at("2026-03-15T10:00:00+09:00"));
        assert_eq!(until, at("2026-04-15T00:00:00+09:00"));
    }

    #[test]
    fn the_day_of_issue_is_japan_s_not_utc_s() {
        // 2026-01-31 20:00 UTC is already 2026-02-01 05:00 in Japan: the
        // period counts from 1 February, ending with the last of February.
        let (_, until) = validity_of_record_issued_at(at("2026-01-31T20:00:00Z")).unwrap();
        assert_eq!(until, at("2026-03-01T00:00:00+09:00"));
        // One hour earlier in Japan it is still 31 January: February has
        // no 31st, so the period ends with February too (Art. 143(2))...
        let (_, until) = validity_of_record_issued_at(at("2026-01-31T10:00:00Z")).unwrap();
        assert_eq!(until, at("2026-03-01T00:00:00+09:00"));
        // 23:59:59 on 15 January in Japan counts from the 15th; a second
        // later it is the 16th in Japan though still the 15th in UTC.
        let (_, until) = validity_of_record_issued_at(at("2026-01-15T14:59:59Z")).unwrap();
        assert_eq!(until, at("2026-02-15T00:00:00+09:00"));
        let (_, until) = validity_of_record_issued_at(at("2026-01-15T15:00:00Z")).unwrap();
        assert_eq!(until, at("2026-02-16T00:00:00+09:00"));
    }
}
