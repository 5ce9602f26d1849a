//! Where a certificate stands in time, in the insurers' terms (rules.md §6).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::jp::period::{japan_date, last_day_of_months, next_day};

/// Where a certificate stands in time, in the insurers' terms (rules.md §6:
/// the expiry-state flag is 0 once a certificate has been expired for three
/// months or more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryState {
    /// Before its start of validity.
    NotYetValid,
    /// Within validity.
    Valid,
    /// Expired less than three months ago.
    ExpiredUnderThreeMonths,
    /// Expired three months ago or more.
    ExpiredThreeMonthsOrMore,
}

impl ExpiryState {
    /// The state at `at` of a validity period. The three months are counted
    /// in Japan from the day after the last valid day (civil-law counting).
    pub fn at(not_before: DateTime<Utc>, not_after: DateTime<Utc>, at: DateTime<Utc>) -> Self {
        if at < not_before {
            return Self::NotYetValid;
        }
        if at <= not_after {
            return Self::Valid;
        }
        let grace_end =
            next_day(japan_date(not_after)).and_then(|first| last_day_of_months(first, 3));
        match grace_end {
            Some(end) if japan_date(at) <= end => Self::ExpiredUnderThreeMonths,
            _ => Self::ExpiredThreeMonthsOrMore,
        }
    }

    /// The insurers' certificate expiry-state flag: `1` valid or expired under
    /// three months, `0` expired three months or more.
    pub fn insurer_flag(self) -> u8 {
        match self {
            Self::ExpiredThreeMonthsOrMore => 0,
            Self::NotYetValid | Self::Valid | Self::ExpiredUnderThreeMonths => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn expiry_states_follow_the_insurers_table() {
        let nb = utc("2021-01-10T00:00:00Z");
        // Last valid moment: 2026-01-15 23:59:59 JST.
        let na = utc("2026-01-15T14:59:59Z");
        assert_eq!(
            ExpiryState::at(nb, na, utc("2020-01-01T00:00:00Z")),
            ExpiryState::NotYetValid
        );
        assert_eq!(
            ExpiryState::at(nb, na, utc("2026-01-15T14:59:59Z")),
            ExpiryState::Valid
        );
        assert_eq!(
            ExpiryState::at(nb, na, utc("2026-01-15T15:00:00Z")),
            ExpiryState::ExpiredUnderThreeMonths
        );
        // Three months counted from 2026-01-16 end with 2026-04-15 (JST).
        assert_eq!(
            ExpiryState::at(nb, na, utc("2026-04-15T14:59:59Z")),
            ExpiryState::ExpiredUnderThreeMonths
        );
        assert_eq!(
            ExpiryState::at(nb, na, utc("2026-04-15T15:00:00Z")),
            ExpiryState::ExpiredThreeMonthsOrMore
        );
        assert_eq!(ExpiryState::ExpiredThreeMonthsOrMore.insurer_flag(), 0);
        assert_eq!(ExpiryState::ExpiredUnderThreeMonths.insurer_flag(), 1);
    }
}
