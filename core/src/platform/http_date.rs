//! HTTP dates (RFC 9110 §5.6.7), as an authority sends them in `Date` and
//! `Retry-After`.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Parses an HTTP date. RFC 9110 §5.6.7 asks recipients to accept all three
/// forms: the preferred IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the
/// obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`) and C's
/// `asctime()` form (`Sun Nov  6 08:49:37 1994`). `None` for anything else.
pub fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    // IMF-fixdate is a subset of RFC 2822's date-time.
    if let Ok(date) = DateTime::parse_from_rfc2822(value) {
        return Some(date.with_timezone(&Utc));
    }
    for format in ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(value, format) {
            return Some(naive.and_utc());
        }
    }
    None
}

/// Formats `time` as an IMF-fixdate, the form RFC 9110 says senders use.
pub fn format_http_date(time: DateTime<Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn all_three_forms_of_rfc_9110_parse_to_the_same_instant() {
        let expected = Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 37).unwrap();
        for value in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "  Sun, 06 Nov 1994 08:49:37 GMT ",
        ] {
            assert_eq!(parse_http_date(value), Some(expected), "{value}");
        }
    }

    #[test]
    fn garbage_is_not_a_date() {
        for value in [
            "",
            "120",
            "yesterday",
            "Sun, 06 Nov 1994",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(value), None, "{value}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        let time = Utc.with_ymd_and_hms(2026, 1, 5, 23, 0, 9).unwrap();
        let text = format_http_date(time);
        assert_eq!(text, "Mon, 05 Jan 2026 23:00:09 GMT");
        assert_eq!(parse_http_date(&text), Some(time));
    }
}
