//! Periods counted the way Japanese civil law counts them (民法 Art. 140–143),
//! in Japan time (UTC+9, no daylight saving).

use chrono::{DateTime, Datelike, Duration, FixedOffset, Months, NaiveDate, Utc};

/// Japan Standard Time.
pub fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| unreachable!("+09:00 is a valid offset"))
}

/// The calendar date in Japan at `instant`.
pub fn japan_date(instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&jst()).date_naive()
}

/// The last day of a period of `months` months that starts on `first_day`
/// (the first day counted): the day before the corresponding day of the
/// final month, or that month's last day when it has no corresponding day
/// (Art. 143(2)).
pub fn last_day_of_months(first_day: NaiveDate, months: u32) -> Option<NaiveDate> {
    let month_start = first_day
        .with_day(1)?
        .checked_add_months(Months::new(months))?;
    match month_start.with_day(first_day.day()) {
        Some(corresponding) => corresponding.pred_opt(),
        // No corresponding day (e.g. the 31st): the period ends with that month.
        None => month_start.checked_add_months(Months::new(1))?.pred_opt(),
    }
}

/// The day after `date`.
pub fn next_day(date: NaiveDate) -> Option<NaiveDate> {
    date.checked_add_signed(Duration::days(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn month_periods_end_the_day_before_the_corresponding_day() {
        assert_eq!(last_day_of_months(d(2026, 1, 15), 1), Some(d(2026, 2, 14)));
        assert_eq!(last_day_of_months(d(2026, 1, 1), 1), Some(d(2026, 1, 31)));
        assert_eq!(last_day_of_months(d(2026, 1, 16), 3), Some(d(2026, 4, 15)));
        assert_eq!(last_day_of_months(d(2026, 12, 10), 1), Some(d(2027, 1, 9)));
    }

    #[test]
    fn missing_corresponding_day_ends_with_the_month() {
        assert_eq!(last_day_of_months(d(2026, 1, 31), 1), Some(d(2026, 2, 28)));
        assert_eq!(last_day_of_months(d(2028, 1, 30), 1), Some(d(2028, 2, 29)));
        assert_eq!(last_day_of_months(d(2026, 3, 31), 1), Some(d(2026, 4, 30)));
        assert_eq!(last_day_of_months(d(2026, 11, 30), 3), Some(d(2027, 2, 28)));
    }

    #[test]
    fn japan_date_is_utc_plus_nine() {
        let instant = DateTime::parse_from_rfc3339("2026-03-31T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(japan_date(instant), d(2026, 4, 1));
        let instant = DateTime::parse_from_rfc3339("2026-03-31T14:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(japan_date(instant), d(2026, 3, 31));
    }
}
