//! Japanese eras (元号) and dates as printed on the front of the card.
//!
//! The card front prints the birth date with the Japanese era year
//! (`昭和55年 3月 1日生`), and the codes that open the Kenmen application use
//! it as `YYMMDD` with the era year (照合番号B, the birth-date key): see
//! `card-protocol.md`, Kenmen AP.
//!
//! Only Gregorian dates are handled. Japan adopted the Gregorian calendar on
//! 1873-01-01 (Meiji 6); dates before it were lunisolar and are refused with
//! [`EraError::BeforeGregorianCalendar`].

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

// Only ever evaluated on constants, at compile time: an invalid date fails the build.
#[allow(clippy::panic)]
const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => panic!("invalid constant date"),
    }
}

/// The first day of the Gregorian calendar in Japan: 明治6年1月1日.
pub const GREGORIAN_START: NaiveDate = ymd(1873, 1, 1);

/// A Japanese era (元号), from Meiji on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Era {
    /// 明治 (M).
    Meiji,
    /// 大正 (T).
    Taisho,
    /// 昭和 (S).
    Showa,
    /// 平成 (H).
    Heisei,
    /// 令和 (R).
    Reiwa,
}

impl Era {
    /// Every era, oldest first.
    pub const ALL: [Era; 5] = [Era::Meiji, Era::Taisho, Era::Showa, Era::Heisei, Era::Reiwa];

    /// The first day of the era (Gregorian).
    ///
    /// Meiji is given as 1868-01-25 (明治元年1月1日 of the old calendar, the
    /// choice soltia48/myna-card makes); Meiji dates before
    /// [`GREGORIAN_START`] are refused anyway.
    pub const fn first_day(self) -> NaiveDate {
        match self {
            Era::Meiji => ymd(1868, 1, 25),
            Era::Taisho => ymd(1912, 7, 30),
            Era::Showa => ymd(1926, 12, 25),
            Era::Heisei => ymd(1989, 1, 8),
            Era::Reiwa => ymd(2019, 5, 1),
        }
    }

    /// The last day of the era, or `None` for the current era.
    pub fn last_day(self) -> Option<NaiveDate> {
        self.next().and_then(|next| next.first_day().pred_opt())
    }

    /// The era that followed this one, or `None` for the current era.
    pub const fn next(self) -> Option<Era> {
        match self {
            Era::Meiji => Some(Era::Taisho),
            Era::Taisho => Some(Era::Showa),
            Era::Showa => Some(Era::Heisei),
            Era::Heisei => Some(Era::Reiwa),
            Era::Reiwa => None,
        }
    }

    /// The era name in kanji, as printed on the card: `"明治"` … `"令和"`.
    pub const fn kanji(self) -> &'static str {
        match self {
            Era::Meiji => "明治",
            Era::Taisho => "大正",
            Era::Showa => "昭和",
            Era::Heisei => "平成",
            Era::Reiwa => "令和",
        }
    }

    /// The romanised name: `"Meiji"` … `"Reiwa"`.
    pub const fn name(self) -> &'static str {
        match self {
            Era::Meiji => "Meiji",
            Era::Taisho => "Taisho",
            Era::Showa => "Showa",
            Era::Heisei => "Heisei",
            Era::Reiwa => "Reiwa",
        }
    }

    /// The one-letter abbreviation: `'M'`, `'T'`, `'S'`, `'H'`, `'R'`.
    pub const fn initial(self) -> char {
        match self {
            Era::Meiji => 'M',
            Era::Taisho => 'T',
            Era::Showa => 'S',
            Era::Heisei => 'H',
            Era::Reiwa => 'R',
        }
    }

    /// The era digit of the JPKI signing certificate's birth date
    /// (`EYYYYMMDD`): 1 Meiji … 5 Reiwa (0 there means unknown).
    pub const fn certificate_code(self) -> u8 {
        match self {
            Era::Meiji => 1,
            Era::Taisho => 2,
            Era::Showa => 3,
            Era::Heisei => 4,
            Era::Reiwa => 5,
        }
    }

    /// The era for a certificate era digit (1..=5); `None` otherwise,
    /// including 0 (unknown).
    pub const fn from_certificate_code(code: u8) -> Option<Era> {
        match code {
            1 => Some(Era::Meiji),
            2 => Some(Era::Taisho),
            3 => Some(Era::Showa),
            4 => Some(Era::Heisei),
            5 => Some(Era::Reiwa),
            _ => None,
        }
    }

    /// The era for its full kanji name (`"昭和"`), its one-kanji abbreviation
    /// (`"昭"`) or its single-character square form (`"㍼"`).
    pub fn from_kanji(text: &str) -> Option<Era> {
        Era::ALL.into_iter().find(|era| {
            let kanji = era.kanji();
            text == kanji
                || kanji.chars().next().is_some_and(|c| text.chars().eq([c]))
                || text.chars().eq([era.square()])
        })
    }

    /// The era for its initial letter, upper or lower case, ASCII or full width.
    pub fn from_initial(initial: char) -> Option<Era> {
        let ascii = fold_char(initial).to_ascii_uppercase();
        Era::ALL.into_iter().find(|era| era.initial() == ascii)
    }

    /// The single-character square form (Unicode compatibility ideograph).
    const fn square(self) -> char {
        match self {
            Era::Meiji => '㍾',
            Era::Taisho => '㍽',
            Era::Showa => '㍼',
            Era::Heisei => '㍻',
            Era::Reiwa => '㋿',
        }
    }

    /// The first day of this era that a [`JapaneseDate`] can hold.
    fn first_valid(self) -> NaiveDate {
        self.first_day().max(GREGORIAN_START)
    }

    fn outside(self) -> EraError {
        EraError::OutsideEra {
            era: self,
            first_valid: self.first_valid(),
            last_valid: self.last_day(),
        }
    }
}

impl fmt::Display for Era {
    /// Writes the kanji name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kanji())
    }
}

impl FromStr for Era {
    type Err = EraError;

    /// Parses the kanji name (full, one-kanji or square form) or the initial
    /// letter; surrounding white space is ignored.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let mut chars = text.chars();
        if let (Some(c), None) = (chars.next(), chars.next())
            && let Some(era) = Era::from_initial(c)
        {
            return Ok(era);
        }
        Era::from_kanji(text).ok_or(EraError::UnknownEra)
    }
}

/// Why a Japanese date was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EraError {
    /// No known era name or initial.
    #[error(
        "unknown or missing era name (expected 明治, 大正, 昭和, 平成 or 令和, or M, T, S, H, R)"
    )]
    UnknownEra,
    /// The numbers do not form a calendar date (such as 2月30日), or the date
    /// is too far in the future to be written with a `u16` era year.
    #[error("not a calendar date")]
    NotADate,
    /// The date exists but not within the era (昭和64年1月8日, 平成31年5月1日,
    /// year 0).
    #[error(
        "the date is outside the {} era, which runs from {first_valid} {}",
        era.name(),
        match last_valid { Some(last) => format!("to {last}"), None => "on".to_owned() }
    )]
    OutsideEra {
        /// The era named.
        era: Era,
        /// The first date the era can hold.
        first_valid: NaiveDate,
        /// The last date of the era; `None` for the current era.
        last_valid: Option<NaiveDate>,
    },
    /// Before 1873-01-01 (明治6年1月1日), when Japan used the lunisolar calendar.
    #[error(
        "dates before 1873-01-01 (明治6年1月1日) use the old lunisolar calendar and are not supported"
    )]
    BeforeGregorianCalendar,
    /// The birth date is blank or recorded as unknown on the card (`不詳`,
    /// `昭和  年  月  日`): the codes that contain it cannot be formed, so the
    /// PIN-reset app cannot be used with this card (rules.md R7).
    #[error("the birth date is blank or unknown on the card")]
    BirthDateUnknown,
    /// The text does not have the shape of a date; the reason, without the
    /// input.
    #[error("cannot read the date: {0}")]
    Unparseable(String),
}

/// A date in the Japanese era calendar, for example 昭和55年3月1日.
///
/// Always a valid Gregorian date, on or after 1873-01-01, inside its era.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct JapaneseDate {
    era: Era,
    year: u16,
    month: u8,
    day: u8,
    #[serde(skip)]
    gregorian: NaiveDate,
}

impl JapaneseDate {
    /// Checks that the date exists and lies inside the era (on or after its
    /// first day, before the next era's first day). Year 1 is 元年.
    ///
    /// Meiji 1–5 are refused as [`EraError::BeforeGregorianCalendar`], year 0
    /// and years past the era's end as [`EraError::OutsideEra`].
    pub fn new(era: Era, year: u16, month: u8, day: u8) -> Result<Self, EraError> {
        if year == 0 {
            return Err(era.outside());
        }
        let gregorian_year = era.first_day().year() + i32::from(year) - 1;
        if gregorian_year < GREGORIAN_START.year() {
            return Err(EraError::BeforeGregorianCalendar);
        }
        let gregorian = NaiveDate::from_ymd_opt(gregorian_year, u32::from(month), u32::from(day))
            .ok_or(EraError::NotADate)?;
        if gregorian < GREGORIAN_START {
            return Err(EraError::BeforeGregorianCalendar);
        }
        if gregorian < era.first_day() || era.last_day().is_some_and(|last| gregorian > last) {
            return Err(era.outside());
        }
        Ok(Self {
            era,
            year,
            month,
            day,
            gregorian,
        })
    }

    /// The era date of a Gregorian date.
    pub fn from_gregorian(date: NaiveDate) -> Result<Self, EraError> {
        if date < GREGORIAN_START {
            return Err(EraError::BeforeGregorianCalendar);
        }
        let era = Era::ALL
            .into_iter()
            .rev()
            .find(|era| era.first_day() <= date)
            .unwrap_or(Era::Meiji);
        let year = u16::try_from(date.year() - era.first_day().year() + 1)
            .map_err(|_| EraError::NotADate)?;
        let month = u8::try_from(date.month()).map_err(|_| EraError::NotADate)?;
        let day = u8::try_from(date.day()).map_err(|_| EraError::NotADate)?;
        Ok(Self {
            era,
            year,
            month,
            day,
            gregorian: date,
        })
    }

    /// The Gregorian date.
    pub fn to_gregorian(&self) -> NaiveDate {
        self.gregorian
    }

    /// The era.
    pub fn era(&self) -> Era {
        self.era
    }

    /// The era year (1 is 元年).
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The month, 1..=12.
    pub fn month(&self) -> u8 {
        self.month
    }

    /// The day of the month, 1..=31.
    pub fn day(&self) -> u8 {
        self.day
    }

    /// `YYMMDD` in ASCII with the era year (昭和55年2月17日 → `b"550217"`): the
    /// birth-date part of 照合番号B and the Kenmen birth-date key.
    ///
    /// `YY` is the era year modulo 100; every era so far ended before year
    /// 100, and Reiwa reaches 100 only in 2118.
    pub fn yymmdd(&self) -> [u8; 6] {
        let two = |n: u16| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
        let [y1, y2] = two(self.year % 100);
        let [m1, m2] = two(u16::from(self.month));
        let [d1, d2] = two(u16::from(self.day));
        [y1, y2, m1, m2, d1, d2]
    }

    /// Reads the birth date as OCR gives it from the card front.
    ///
    /// Accepted shapes, after full-width digits, letters, punctuation and
    /// spaces are normalised and all white space is dropped:
    /// - `昭和55年3月1日生`, `昭和５５年　３月　１日`, `平成元年1月8日生`
    ///   (era in kanji, one-kanji `昭` or square `㍼`; an optional leading
    ///   `生年月日` label; an optional trailing `生`, `生まれ`, `生れ`);
    /// - `S55.3.1`, `S.55.3.1`, `H1/1/8`, `R2-2-24` (era initial, any of
    ///   `. / - ,` as separator);
    /// - `S550301` (era, then six digits).
    ///
    /// A blank or unknown date (empty, `不詳`, `不明`, `年月日不詳`,
    /// `昭和  年  月  日`, `昭和55年 月 日`, fields of `*` or `-`) gives
    /// [`EraError::BirthDateUnknown`]. A date without an era, such as a
    /// Western `1980年2月17日`, gives [`EraError::UnknownEra`]: it is not
    /// converted, because how 照合番号B is formed for cards printing a
    /// Western birth date is not publicly documented.
    pub fn parse_printed(text: &str) -> Result<Self, EraError> {
        let normalised = normalize_ocr(text);
        let mut s = normalised.as_str();
        if let Some(rest) = s.strip_prefix("生年月日") {
            s = rest.trim_start_matches(':');
        }
        for suffix in ["生まれ", "生れ", "生"] {
            if let Some(rest) = s.strip_suffix(suffix) {
                s = rest;
                break;
            }
        }
        if s.is_empty() || s.contains("不詳") || s.contains("不明") {
            return Err(EraError::BirthDateUnknown);
        }

        let (era, body) = match split_era(s) {
            Some((era, body)) => (Some(era), body),
            None => {
                let start = s
                    .find(|c: char| {
                        c.is_ascii_digit()
                            || "年月日元".contains(c)
                            || is_separator(c)
                            || is_placeholder(c)
                    })
                    .unwrap_or(s.len());
                (None, s.get(start..).unwrap_or_default())
            }
        };
        let [year, month, day] = split_fields(body)?;
        if [year, month, day]
            .iter()
            .any(|field| field.chars().all(is_placeholder))
        {
            return Err(EraError::BirthDateUnknown);
        }
        let era = era.ok_or(EraError::UnknownEra)?;
        let year = if year == "元" {
            1
        } else {
            number(year, 3, "year")?
        };
        let month = u8::try_from(number(month, 2, "month")?).map_err(|_| EraError::NotADate)?;
        let day = u8::try_from(number(day, 2, "day")?).map_err(|_| EraError::NotADate)?;
        JapaneseDate::new(era, year, month, day)
    }
}

impl fmt::Display for JapaneseDate {
    /// Writes `昭和55年3月1日`, with `元年` for year 1.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.era.kanji())?;
        if self.year == 1 {
            f.write_str("元")?;
        } else {
            write!(f, "{}", self.year)?;
        }
        write!(f, "年{}月{}日", self.month, self.day)
    }
}

/// Splits a leading era name or initial off `s`.
fn split_era(s: &str) -> Option<(Era, &str)> {
    for era in Era::ALL {
        if let Some(rest) = s.strip_prefix(era.kanji()) {
            return Some((era, rest));
        }
    }
    let mut chars = s.chars();
    let first = chars.next()?;
    let rest = chars.as_str();
    if let Some(era) = Era::from_kanji(s.get(..first.len_utf8()).unwrap_or_default()) {
        return Some((era, rest));
    }
    if first.is_ascii_alphabetic() {
        let era = Era::from_initial(first)?;
        return Some((era, rest.strip_prefix('.').unwrap_or(rest)));
    }
    None
}

/// Splits the part after the era into year, month and day (unchecked).
fn split_fields(body: &str) -> Result<[&str; 3], EraError> {
    if body.contains(['年', '月', '日']) {
        let unparseable =
            || EraError::Unparseable("expected 年, 月 and 日 in that order".to_owned());
        let (year, rest) = body.split_once('年').ok_or_else(unparseable)?;
        let (month, rest) = rest.split_once('月').ok_or_else(unparseable)?;
        let (day, rest) = rest.split_once('日').ok_or_else(unparseable)?;
        if !rest.is_empty() {
            return Err(EraError::Unparseable(
                "unexpected text after the date".to_owned(),
            ));
        }
        return Ok([year, month, day]);
    }
    if body.len() == 6
        && body.bytes().all(|b| b.is_ascii_digit())
        && let (Some(yy), Some(mm), Some(dd)) = (body.get(..2), body.get(2..4), body.get(4..))
    {
        return Ok([yy, mm, dd]);
    }
    let mut parts = body.split(is_separator);
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(year), Some(month), Some(day), None) => Ok([year, month, day]),
        _ => Err(EraError::Unparseable(
            "expected a year, a month and a day".to_owned(),
        )),
    }
}

fn number(field: &str, max_digits: usize, what: &str) -> Result<u16, EraError> {
    if field.is_empty() || field.len() > max_digits || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EraError::Unparseable(format!(
            "the {what} is not a number of at most {max_digits} digits"
        )));
    }
    field
        .parse()
        .map_err(|_| EraError::Unparseable(format!("the {what} is not a number")))
}

fn is_separator(c: char) -> bool {
    matches!(c, '.' | '/' | '-' | ',')
}

/// Characters that stand for a blank field.
fn is_placeholder(c: char) -> bool {
    matches!(c, '*' | '?' | '-' | 'ー' | '―' | '‐' | '−' | '×')
}

/// Maps one full-width (or ideographic) character to its ASCII form.
fn fold_char(c: char) -> char {
    match c {
        // Full-width ASCII block: ！ (U+FF01) … ～ (U+FF5E).
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '・' | '･' | '。' | '｡' => '.',
        '、' | '､' => ',',
        _ => c,
    }
}

/// Normalises OCR text from the card front: full-width digits, letters and
/// punctuation become ASCII, square era names (`㍼`) become kanji, and all
/// white space (including the ideographic space) is dropped.
pub(crate) fn normalize_ocr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        match Era::ALL.into_iter().find(|era| era.square() == c) {
            Some(era) => out.push_str(era.kanji()),
            None => out.push(fold_char(c)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn jd(era: Era, y: u16, m: u8, day: u8) -> JapaneseDate {
        JapaneseDate::new(era, y, m, day).unwrap()
    }

    #[test]
    fn era_properties() {
        let kanji: Vec<_> = Era::ALL.iter().map(|e| e.kanji()).collect();
        assert_eq!(kanji, ["明治", "大正", "昭和", "平成", "令和"]);
        let initials: String = Era::ALL.iter().map(|e| e.initial()).collect();
        assert_eq!(initials, "MTSHR");
        let codes: Vec<_> = Era::ALL.iter().map(|e| e.certificate_code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5]);
        for era in Era::ALL {
            assert_eq!(
                Era::from_certificate_code(era.certificate_code()),
                Some(era)
            );
            assert_eq!(era.kanji().parse::<Era>(), Ok(era));
            assert_eq!(era.initial().to_string().parse::<Era>(), Ok(era));
            assert_eq!(
                era.initial()
                    .to_ascii_lowercase()
                    .to_string()
                    .parse::<Era>(),
                Ok(era)
            );
            assert_eq!(Era::from_kanji(&era.square().to_string()), Some(era));
        }
        assert_eq!(Era::from_certificate_code(0), None);
        assert_eq!(Era::from_certificate_code(6), None);
        assert_eq!("Ｓ".parse::<Era>(), Ok(Era::Showa));
        assert_eq!("昭".parse::<Era>(), Ok(Era::Showa));
        assert_eq!("天平".parse::<Era>(), Err(EraError::UnknownEra));
        assert_eq!("X".parse::<Era>(), Err(EraError::UnknownEra));
        assert_eq!("".parse::<Era>(), Err(EraError::UnknownEra));
        assert_eq!(Era::Meiji.first_day(), d(1868, 1, 25));
        assert_eq!(Era::Taisho.first_day(), d(1912, 7, 30));
        assert_eq!(Era::Showa.first_day(), d(1926, 12, 25));
        assert_eq!(Era::Heisei.first_day(), d(1989, 1, 8));
        assert_eq!(Era::Reiwa.first_day(), d(2019, 5, 1));
        assert_eq!(Era::Showa.last_day(), Some(d(1989, 1, 7)));
        assert_eq!(Era::Reiwa.last_day(), None);
    }

    #[test]
    fn era_boundaries() {
        let cases = [
            (d(1912, 7, 29), Era::Meiji, 45, 7, 29),
            (d(1912, 7, 30), Era::Taisho, 1, 7, 30),
            (d(1926, 12, 24), Era::Taisho, 15, 12, 24),
            (d(1926, 12, 25), Era::Showa, 1, 12, 25),
            (d(1989, 1, 7), Era::Showa, 64, 1, 7),
            (d(1989, 1, 8), Era::Heisei, 1, 1, 8),
            (d(2019, 4, 30), Era::Heisei, 31, 4, 30),
            (d(2019, 5, 1), Era::Reiwa, 1, 5, 1),
            (d(1873, 1, 1), Era::Meiji, 6, 1, 1),
        ];
        for (date, era, year, month, day) in cases {
            let japanese = JapaneseDate::from_gregorian(date).unwrap();
            assert_eq!(
                (
                    japanese.era(),
                    japanese.year(),
                    japanese.month(),
                    japanese.day()
                ),
                (era, year, month, day)
            );
            assert_eq!(
                JapaneseDate::new(era, year, month, day)
                    .unwrap()
                    .to_gregorian(),
                date
            );
        }
        assert_eq!(jd(Era::Heisei, 1, 1, 8).to_string(), "平成元年1月8日");
        assert_eq!(jd(Era::Showa, 64, 1, 7).to_string(), "昭和64年1月7日");
    }

    #[test]
    fn rejections() {
        assert_eq!(
            JapaneseDate::new(Era::Showa, 64, 1, 8),
            Err(EraError::OutsideEra {
                era: Era::Showa,
                first_valid: d(1926, 12, 25),
                last_valid: Some(d(1989, 1, 7))
            })
        );
        assert_eq!(
            JapaneseDate::new(Era::Heisei, 31, 5, 1),
            Err(EraError::OutsideEra {
                era: Era::Heisei,
                first_valid: d(1989, 1, 8),
                last_valid: Some(d(2019, 4, 30))
            })
        );
        assert!(matches!(
            JapaneseDate::new(Era::Heisei, 0, 1, 8),
            Err(EraError::OutsideEra {
                era: Era::Heisei,
                ..
            })
        ));
        assert!(matches!(
            JapaneseDate::new(Era::Heisei, 1, 1, 7),
            Err(EraError::OutsideEra { .. })
        ));
        assert!(matches!(
            JapaneseDate::new(Era::Showa, 1, 12, 24),
            Err(EraError::OutsideEra { .. })
        ));
        assert!(matches!(
            JapaneseDate::new(Era::Taisho, 16, 1, 1),
            Err(EraError::OutsideEra { .. })
        ));
        assert!(matches!(
            JapaneseDate::new(Era::Reiwa, 0, 5, 1),
            Err(EraError::OutsideEra {
                last_valid: None,
                ..
            })
        ));
        assert_eq!(
            JapaneseDate::new(Era::Showa, 55, 2, 30),
            Err(EraError::NotADate)
        );
        assert_eq!(
            JapaneseDate::new(Era::Showa, 55, 13, 1),
            Err(EraError::NotADate)
        );
        assert_eq!(
            JapaneseDate::new(Era::Showa, 55, 0, 1),
            Err(EraError::NotADate)
        );
        assert_eq!(
            JapaneseDate::new(Era::Showa, 55, 4, 31),
            Err(EraError::NotADate)
        );
        assert_eq!(
            JapaneseDate::new(Era::Heisei, 3, 2, 29),
            Err(EraError::NotADate)
        ); // 1991
        assert!(JapaneseDate::new(Era::Heisei, 4, 2, 29).is_ok()); // 1992
        assert!(JapaneseDate::new(Era::Reiwa, u16::MAX, 12, 31).is_ok());
        // Meiji 1–5 used the lunisolar calendar.
        assert_eq!(
            JapaneseDate::new(Era::Meiji, 5, 12, 2),
            Err(EraError::BeforeGregorianCalendar)
        );
        assert_eq!(
            JapaneseDate::new(Era::Meiji, 1, 1, 1),
            Err(EraError::BeforeGregorianCalendar)
        );
        assert_eq!(
            JapaneseDate::new(Era::Meiji, 5, 2, 30),
            Err(EraError::BeforeGregorianCalendar)
        );
        assert_eq!(
            JapaneseDate::from_gregorian(d(1872, 12, 31)),
            Err(EraError::BeforeGregorianCalendar)
        );
        assert_eq!(
            JapaneseDate::from_gregorian(d(1868, 1, 25)),
            Err(EraError::BeforeGregorianCalendar)
        );
        assert_eq!(
            JapaneseDate::from_gregorian(NaiveDate::MAX),
            Err(EraError::NotADate)
        );
        assert_eq!(
            JapaneseDate::from_gregorian(NaiveDate::MIN),
            Err(EraError::BeforeGregorianCalendar)
        );
        let message = JapaneseDate::new(Era::Showa, 64, 1, 8)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("Showa") && message.contains("1989-01-07"),
            "{message}"
        );
        let message = JapaneseDate::new(Era::Reiwa, 1, 4, 30)
            .unwrap_err()
            .to_string();
        assert!(message.contains("2019-05-01 on"), "{message}");
    }

    #[test]
    fn round_trip_every_day() {
        let mut date = GREGORIAN_START;
        let mut count = 0;
        let mut previous: Option<JapaneseDate> = None;
        while date <= d(2030, 12, 31) {
            let japanese = JapaneseDate::from_gregorian(date).unwrap();
            assert_eq!(japanese.to_gregorian(), date);
            let again = JapaneseDate::new(
                japanese.era(),
                japanese.year(),
                japanese.month(),
                japanese.day(),
            )
            .unwrap();
            assert_eq!(again, japanese);
            assert_eq!(
                JapaneseDate::parse_printed(&japanese.to_string()),
                Ok(japanese),
                "{date}"
            );
            if let Some(previous) = previous {
                assert!(previous < japanese);
            }
            previous = Some(japanese);
            date = date.succ_opt().unwrap();
            count += 1;
        }
        assert_eq!(count, (d(2030, 12, 31) - GREGORIAN_START).num_days() + 1);
    }

    #[test]
    fn yymmdd() {
        assert_eq!(&jd(Era::Showa, 55, 2, 17).yymmdd(), b"550217");
        assert_eq!(&jd(Era::Heisei, 1, 1, 8).yymmdd(), b"010108");
        assert_eq!(&jd(Era::Reiwa, 2, 12, 24).yymmdd(), b"021224");
        assert_eq!(
            &JapaneseDate::from_gregorian(d(1980, 2, 17))
                .unwrap()
                .yymmdd(),
            b"550217"
        );
        assert_eq!(&jd(Era::Reiwa, 123, 1, 1).yymmdd(), b"230101");
    }

    #[test]
    fn printed_dates() {
        let showa = jd(Era::Showa, 55, 3, 1);
        for text in [
            "昭和55年3月1日生",
            "昭和５５年　３月　１日",
            "昭和55年 3月 1日生",
            " 昭和 55 年 03 月 01 日 生まれ ",
            "生年月日 昭和55年3月1日生",
            "生年月日：昭和55年3月1日",
            "㍼55年3月1日生",
            "昭55年3月1日",
            "S55.3.1",
            "s55.03.01",
            "Ｓ５５．３．１",
            "S.55.3.1",
            "S55/3/1",
            "S55-3-1",
            "S550301",
            "昭和550301",
        ] {
            assert_eq!(JapaneseDate::parse_printed(text), Ok(showa), "{text:?}");
        }
        assert_eq!(
            JapaneseDate::parse_printed("平成元年1月8日生"),
            Ok(jd(Era::Heisei, 1, 1, 8))
        );
        assert_eq!(
            JapaneseDate::parse_printed("平成元年１月８日"),
            Ok(jd(Era::Heisei, 1, 1, 8))
        );
        assert_eq!(
            JapaneseDate::parse_printed("令和２年１２月２４日生"),
            Ok(jd(Era::Reiwa, 2, 12, 24))
        );
        assert_eq!(
            JapaneseDate::parse_printed("H1.1.8"),
            Ok(jd(Era::Heisei, 1, 1, 8))
        );
        assert_eq!(
            JapaneseDate::parse_printed("明治45年7月29日"),
            Ok(jd(Era::Meiji, 45, 7, 29))
        );
        assert_eq!(
            JapaneseDate::parse_printed("大正元年7月30日"),
            Ok(jd(Era::Taisho, 1, 7, 30))
        );
    }

    #[test]
    fn printed_dates_rejected() {
        assert_eq!(
            JapaneseDate::parse_printed("昭和55年2月30日生"),
            Err(EraError::NotADate)
        );
        assert!(matches!(
            JapaneseDate::parse_printed("昭和64年1月8日"),
            Err(EraError::OutsideEra { .. })
        ));
        assert!(matches!(
            JapaneseDate::parse_printed("平成31年5月1日"),
            Err(EraError::OutsideEra { .. })
        ));
        assert!(matches!(
            JapaneseDate::parse_printed("平成0年5月1日"),
            Err(EraError::OutsideEra { .. })
        ));
        assert_eq!(
            JapaneseDate::parse_printed("明治5年12月2日"),
            Err(EraError::BeforeGregorianCalendar)
        );
        assert_eq!(
            JapaneseDate::parse_printed("1980年2月17日"),
            Err(EraError::UnknownEra)
        );
        assert_eq!(
            JapaneseDate::parse_printed("天平55年3月1日"),
            Err(EraError::UnknownEra)
        );
        assert_eq!(
            JapaneseDate::parse_printed("X55.3.1"),
            Err(EraError::UnknownEra)
        );
        assert_eq!(
            JapaneseDate::parse_printed("55.3.1"),
            Err(EraError::UnknownEra)
        );
        for text in [
            "昭和",
            "昭和55年3月",
            "昭和55年3月1日男",
            "昭和55年3月1",
            "S55.3",
            "S55.3.1.2",
            "昭和5a年3月1日",
            "昭和5555年3月1日",
            "昭和55年123月1日",
            "S55.3.1日",
            "hello",
            "S５５．３．１\u{0}",
        ] {
            assert!(
                matches!(
                    JapaneseDate::parse_printed(text),
                    Err(EraError::Unparseable(_))
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn blank_or_unknown_birth_dates() {
        for text in [
            "",
            "   ",
            "　",
            "不詳",
            "年月日不詳",
            "生年月日不詳",
            "昭和  年  月  日",
            "昭和　　年　　月　　日生",
            "昭和55年 月 日",
            "昭和55年3月 日",
            "昭和 年3月1日",
            "  年  月  日",
            "年月日",
            "昭和55年不詳",
            "不明",
            "昭和**年**月**日",
            "昭和－－年－－月－－日",
            "S...",
            "生",
            "生年月日",
        ] {
            assert_eq!(
                JapaneseDate::parse_printed(text),
                Err(EraError::BirthDateUnknown),
                "{text:?}"
            );
        }
    }

    #[test]
    fn arbitrary_input_does_not_panic() {
        let pieces = [
            "昭和", "S", "元", "年", "月", "日", "5", "５", ".", "", "生", "不", "㍻", "é",
            "\u{FFFF}",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for e in pieces {
                        let _ = JapaneseDate::parse_printed(&format!("{a}{b}{c}{e}"));
                    }
                }
            }
        }
        let _ = JapaneseDate::parse_printed("R65535.12.31");
        assert_eq!(
            JapaneseDate::parse_printed("R999.12.31").map(|date| date.to_gregorian()),
            Ok(d(3017, 12, 31))
        );
    }

    #[test]
    fn serialisable() {
        // serde_json is not a dev-dependency of this crate; check the bound only.
        fn serialize<T: serde::Serialize>(_: &T) {}
        serialize(&jd(Era::Showa, 55, 3, 1));
        serialize(&Era::Reiwa);
    }
}
