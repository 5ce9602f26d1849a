//! Japan: era dates, civil-law periods in Japan time, and the person
//! (sex codes, the My Number).

pub(crate) mod era;
pub(crate) mod period;
pub(crate) mod person;

pub use era::{Era, EraError, GREGORIAN_START, JapaneseDate};
pub use period::{japan_date, jst, last_day_of_months, next_day};
pub use person::{MyNumber, MyNumberError, Sex, check_digit};
