//! The card front as the camera's OCR reads it (rules.md R7, R8): the birth
//! date, the card's expiry year and the 4-digit security code, from which
//! 照合番号B is formed (`card-protocol.md`, Kenmen AP), together with every
//! character this reader corrected, so the app can show them and the user
//! fixes the rest by hand (R8).
//!
//! - Digit fields get the usual OCR confusions undone — `O o 〇 → 0`,
//!   `I l | → 1`, `S → 5`, `B → 8`, `Z → 2` — and full-width digits become
//!   ASCII; each change is a [`Correction`] (field, position, from, to).
//!   Letters outside digit fields are left alone: `S55.2.17` is Showa 55.
//! - A blank or unknown birth date (`生年月日 不詳`, `昭和  年  月  日`), or
//!   none at all, stops the flow (R7): [`FrontError::BirthDateUnknown`],
//!   [`FrontError::BirthDateNotFound`].
//! - The My Number is never read (R8): any run of 12 or more digits (spaces
//!   and hyphens between them allowed, confusable letters counted as digits)
//!   is blanked out before anything else is looked at, and nothing from it
//!   is ever returned. A security code printed right next to such a run is
//!   lost with it; the user then types it by hand.
//! - Total: any text gives a [`FrontReading`], never a panic (fuzzed by the
//!   `card_front_text` target). Texts over [`MAX_FRONT_TEXT_CHARS`] are
//!   refused whole, so the work per text stays bounded.
//!
//! A birth date printed in the Western calendar (`1985年3月1日生`, as on
//! some foreign residents' cards) is accepted and converted to its era date
//! (昭和60年3月1日), because 照合番号B is defined with the era `YYMMDD`.
//! `card-protocol.md` documents only cards printing the era; this
//! conversion is our assumption, flagged by [`CardFront::birth_date_western`].
//! A card that refuses the code answers "wrong check code", which the app
//! never retries by itself (its retry count is not public).

use std::fmt;
use std::ops::Range;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::card::check_code::{CheckCodeB, CheckCodeError, SecurityCode};
use crate::jp::era::{Era, EraError, JapaneseDate};

/// The longest card-front text read, in characters. A policy bound, not an
/// official number: the printed front is a few hundred characters, so a
/// longer text is not an OCR of it.
pub const MAX_FRONT_TEXT_CHARS: usize = 4096;

/// Which field of the card front.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrontField {
    /// 生年月日: the birth date.
    BirthDate,
    /// The card's expiry (`2035年3月1日まで有効`): only its year is used.
    ExpiryYear,
    /// セキュリティコード: the 4-digit security code.
    SecurityCode,
}

impl FrontField {
    /// The name used in JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BirthDate => "birth_date",
            Self::ExpiryYear => "expiry_year",
            Self::SecurityCode => "security_code",
        }
    }
}

/// One character this reader changed in a digit field.
///
/// `position` counts characters (0-based) in the field's text as read
/// ([`FrontReading::birth_date_text`], [`FrontReading::expiry_text`]); for
/// the security code, among its four digits. Its `Debug` hides `from` and
/// `to` of the security code (they are its digits).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Correction {
    /// The field.
    pub field: FrontField,
    /// Where in the field.
    pub position: usize,
    /// What the OCR gave.
    pub from: char,
    /// The digit it was read as.
    pub to: char,
}

impl fmt::Debug for Correction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Correction");
        s.field("field", &self.field)
            .field("position", &self.position);
        if self.field == FrontField::SecurityCode {
            s.field("from", &"<redacted>").field("to", &"<redacted>");
        } else {
            s.field("from", &self.from).field("to", &self.to);
        }
        s.finish()
    }
}

/// Why a field of the card front could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontError {
    /// The birth date is printed blank or unknown (`不詳`): 照合番号B cannot
    /// be formed, and the reset app cannot be used with this card; the
    /// municipal office resets the secret instead (rules.md R7). Stops the
    /// flow.
    #[error(
        "the birth date on the card front is blank or unknown: this card cannot be used with the reset app; the municipal office resets it instead (rules.md R7)"
    )]
    BirthDateUnknown,
    /// No birth date in the text. Stops the flow: the user types it by hand
    /// (R8), and a card that prints none cannot be used (R7).
    #[error(
        "no birth date found on the card front: enter it by hand; a card without one cannot be used with the reset app (rules.md R7)"
    )]
    BirthDateNotFound,
    /// The birth date was found but does not read as a date; the user
    /// corrects it (R8).
    #[error("birth date: {0}")]
    BirthDate(EraError),
    /// No expiry (`…まで有効`, `有効期限 …`) in the text.
    #[error("no card expiry (…まで有効) found on the card front: enter its year by hand")]
    ExpiryNotFound,
    /// The expiry was found but its year does not read; the reason.
    #[error("expiry year: {0}")]
    ExpiryYear(String),
    /// No security code in the text.
    #[error("no 4-digit security code found on the card front: enter it by hand")]
    SecurityCodeNotFound,
    /// Several unlabelled 4-digit groups could be the security code.
    #[error("{candidates} groups of 4 digits could be the security code: enter it by hand")]
    SecurityCodeAmbiguous {
        /// How many.
        candidates: usize,
    },
    /// The security code found is not exactly 4 digits after corrections.
    #[error("the security code must be exactly 4 digits")]
    SecurityCode,
    /// The fields read, but do not form 照合番号B (an expiry year out of
    /// range or not after the birth year).
    #[error("{0}")]
    CheckCode(CheckCodeError),
    /// The text is longer than [`MAX_FRONT_TEXT_CHARS`].
    #[error("the card-front text is too long (at most {MAX_FRONT_TEXT_CHARS} characters)")]
    TooLong,
}

impl FrontError {
    /// True when the reset flow cannot go on with this card front at all
    /// (R7), as opposed to a field the user can correct.
    pub fn stops_the_flow(&self) -> bool {
        matches!(self, Self::BirthDateUnknown | Self::BirthDateNotFound)
    }

    /// The field concerned, if one.
    pub fn field(&self) -> Option<FrontField> {
        match self {
            Self::BirthDateUnknown | Self::BirthDateNotFound | Self::BirthDate(_) => {
                Some(FrontField::BirthDate)
            }
            Self::ExpiryNotFound | Self::ExpiryYear(_) => Some(FrontField::ExpiryYear),
            Self::SecurityCodeNotFound
            | Self::SecurityCodeAmbiguous { .. }
            | Self::SecurityCode => Some(FrontField::SecurityCode),
            Self::CheckCode(CheckCodeError::BirthDate(_)) => Some(FrontField::BirthDate),
            Self::CheckCode(CheckCodeError::ExpiryYear(_)) => Some(FrontField::ExpiryYear),
            Self::CheckCode(CheckCodeError::SecurityCode) => Some(FrontField::SecurityCode),
            Self::TooLong => None,
        }
    }
}

/// The birth date as read.
#[derive(Clone, Copy, PartialEq, Eq)]
struct BirthRead {
    date: JapaneseDate,
    western: bool,
}

/// What the OCR text of a card front yields, field by field: each field
/// read or why not, and every correction made. Never fails as a whole, so
/// the app can show what it read and let the user fix the rest (R8).
///
/// `Debug` shows which fields were read, not their values.
#[derive(Clone)]
pub struct FrontReading {
    birth_date: Result<BirthRead, FrontError>,
    birth_date_text: Option<String>,
    expiry_year: Result<u16, FrontError>,
    expiry_text: Option<String>,
    security_code: Result<Zeroizing<String>, FrontError>,
    corrections: Vec<Correction>,
    ignored_long_numbers: usize,
}

impl fmt::Debug for FrontReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = |ok: bool| if ok { "read" } else { "not read" };
        f.debug_struct("FrontReading")
            .field("birth_date", &state(self.birth_date.is_ok()))
            .field("expiry_year", &state(self.expiry_year.is_ok()))
            .field("security_code", &state(self.security_code.is_ok()))
            .field("corrections", &self.corrections.len())
            .field("ignored_long_numbers", &self.ignored_long_numbers)
            .finish()
    }
}

impl FrontReading {
    /// Reads the OCR text of a card front. See the module docs for what is
    /// accepted.
    pub fn read(text: &str) -> Self {
        if text.chars().count() > MAX_FRONT_TEXT_CHARS {
            return Self {
                birth_date: Err(FrontError::TooLong),
                birth_date_text: None,
                expiry_year: Err(FrontError::TooLong),
                expiry_text: None,
                security_code: Err(FrontError::TooLong),
                corrections: Vec::new(),
                ignored_long_numbers: 0,
            };
        }
        let text = Text::new(text);
        let mut corrections = Vec::new();

        let expiry_span = text.expiry_span();
        let (expiry_year, expiry_text) = match &expiry_span {
            None => (Err(FrontError::ExpiryNotFound), None),
            Some(span) => {
                let field = text.corrected(span.clone(), FrontField::ExpiryYear, &mut corrections);
                (expiry_year_of(&field), Some(text.original(span.clone())))
            }
        };

        let birth_span = text.birth_span(expiry_span.as_ref());
        let (birth_date, birth_date_text) = match &birth_span {
            Err(e) => (Err(e.clone()), None),
            Ok(span) => {
                let field = text.corrected(span.clone(), FrontField::BirthDate, &mut corrections);
                (birth_date_of(&field), Some(text.original(span.clone())))
            }
        };

        let taken: Vec<Range<usize>> = expiry_span.into_iter().chain(birth_span.ok()).collect();
        let security_code = text
            .security_code(&taken)
            .map(|positions| text.code_digits(&positions, &mut corrections));
        let security_code = match security_code {
            Ok(digits) if digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(digits)
            }
            Ok(_) => Err(FrontError::SecurityCode),
            Err(e) => Err(e),
        };
        Self {
            birth_date,
            birth_date_text,
            expiry_year,
            expiry_text,
            security_code,
            corrections,
            ignored_long_numbers: text.long_numbers,
        }
    }

    /// The birth date, or why it was not read.
    pub fn birth_date(&self) -> Result<JapaneseDate, FrontError> {
        self.birth_date.clone().map(|b| b.date)
    }

    /// The birth date's text as found (before corrections), if found.
    pub fn birth_date_text(&self) -> Option<&str> {
        self.birth_date_text.as_deref()
    }

    /// The card's expiry year (Western), or why it was not read.
    pub fn expiry_year(&self) -> Result<u16, FrontError> {
        self.expiry_year.clone()
    }

    /// The expiry's text as found (before corrections), if found.
    pub fn expiry_text(&self) -> Option<&str> {
        self.expiry_text.as_deref()
    }

    /// Whether the security code was read (its digits are in
    /// [`CardFront::security_code_digits`]).
    pub fn security_code(&self) -> Result<(), FrontError> {
        self.security_code
            .as_ref()
            .map(|_| ())
            .map_err(Clone::clone)
    }

    /// Every character changed, in the order found.
    pub fn corrections(&self) -> &[Correction] {
        &self.corrections
    }

    /// How many runs of 12 or more digits were blanked out unread (R8: the
    /// My Number is never read).
    pub fn ignored_long_numbers(&self) -> usize {
        self.ignored_long_numbers
    }

    /// The first error in the order the flow needs them: R7 first (it ends
    /// the flow), then each field.
    pub fn first_error(&self) -> Option<FrontError> {
        let errors = [
            self.birth_date.as_ref().err(),
            self.expiry_year.as_ref().err(),
            self.security_code.as_ref().err(),
        ];
        errors
            .iter()
            .flatten()
            .find(|e| e.stops_the_flow())
            .or_else(|| errors.iter().flatten().next())
            .map(|e| (*e).clone())
    }

    /// The three fields and 照合番号B, or the first error
    /// ([`FrontReading::first_error`]); then the check that the fields form
    /// the code (expiry year in range and after the birth year).
    pub fn card_front(&self) -> Result<CardFront, FrontError> {
        if let Some(error) = self.first_error() {
            return Err(error);
        }
        let (Ok(birth), Ok(expiry_year), Ok(digits)) =
            (&self.birth_date, &self.expiry_year, &self.security_code)
        else {
            // first_error() saw every field read; kept total anyway.
            return Err(FrontError::SecurityCodeNotFound);
        };
        let security_code = SecurityCode::new(digits).map_err(FrontError::CheckCode)?;
        let check_code = CheckCodeB::new(&birth.date, *expiry_year, &security_code)
            .map_err(FrontError::CheckCode)?;
        Ok(CardFront {
            birth_date: birth.date,
            birth_date_western: birth.western,
            expiry_year: *expiry_year,
            security_code,
            security_code_digits: digits.clone(),
            check_code,
            corrections: self.corrections.clone(),
        })
    }
}

/// A card front read in full: what opens the Kenmen face record.
///
/// The security code and 照合番号B are wiped when dropped and never shown by
/// `Debug`; the birth date is personal data and is not shown either.
#[derive(Clone)]
pub struct CardFront {
    birth_date: JapaneseDate,
    birth_date_western: bool,
    expiry_year: u16,
    security_code: SecurityCode,
    security_code_digits: Zeroizing<String>,
    check_code: CheckCodeB,
    corrections: Vec<Correction>,
}

impl fmt::Debug for CardFront {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardFront")
            .field("birth_date", &"<redacted>")
            .field("expiry_year", &self.expiry_year)
            .field("security_code", &self.security_code)
            .field("check_code", &self.check_code)
            .field("corrections", &self.corrections)
            .finish()
    }
}

impl CardFront {
    /// Reads the text and requires every field: [`FrontReading::read`] then
    /// [`FrontReading::card_front`].
    pub fn parse(text: &str) -> Result<Self, FrontError> {
        FrontReading::read(text).card_front()
    }

    /// The birth date (era form, as 照合番号B uses it).
    pub fn birth_date(&self) -> JapaneseDate {
        self.birth_date
    }

    /// True when the front printed it in the Western calendar and it was
    /// converted to the era (see the module docs: our assumption).
    pub fn birth_date_western(&self) -> bool {
        self.birth_date_western
    }

    /// The card's expiry year (Western).
    pub fn expiry_year(&self) -> u16 {
        self.expiry_year
    }

    /// The security code.
    pub fn security_code(&self) -> &SecurityCode {
        &self.security_code
    }

    /// The security code's four ASCII digits, for a screen (or a script)
    /// that asked to show them. Never log them.
    pub fn security_code_digits(&self) -> &str {
        &self.security_code_digits
    }

    /// 照合番号B.
    pub fn check_code(&self) -> &CheckCodeB {
        &self.check_code
    }

    /// Every character corrected.
    pub fn corrections(&self) -> &[Correction] {
        &self.corrections
    }
}

// ---------------------------------------------------------------------------
// Reading the text.

/// Full-width ASCII → ASCII; the ideographic space → a space.
fn fold(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        '\r' => '\n',
        _ => c,
    }
}

/// The digit an OCR confusion stands for, in a digit field.
fn confusable(c: char) -> Option<char> {
    match c {
        'O' | 'o' | '〇' => Some('0'),
        'I' | 'l' | '|' => Some('1'),
        'S' => Some('5'),
        'B' => Some('8'),
        'Z' => Some('2'),
        _ => None,
    }
}

/// An ASCII digit or a confusion for one (after [`fold`]).
fn digit_like(c: char) -> bool {
    c.is_ascii_digit() || confusable(c).is_some()
}

fn is_space(c: char) -> bool {
    c != '\n' && c.is_whitespace()
}

/// The first character of an era name, or its square form.
fn era_mark(c: char) -> bool {
    matches!(
        c,
        '明' | '大' | '昭' | '平' | '令' | '㍾' | '㍽' | '㍼' | '㍻' | '㋿'
    )
}

/// Characters a printed date may contain (after [`fold`]).
fn date_char(c: char) -> bool {
    digit_like(c)
        || is_space(c)
        || "年月日元明治大正昭和平成令不詳㍾㍽㍼㍻㋿MTSHRmtshr.,/-*?ー―‐−×".contains(c)
}

/// The OCR text, character by character: as given, and folded to ASCII
/// with the long numbers blanked out.
struct Text {
    original: Vec<char>,
    folded: Vec<char>,
    long_numbers: usize,
}

impl Text {
    fn new(text: &str) -> Self {
        let original: Vec<char> = text.chars().collect();
        let mut folded: Vec<char> = original.iter().copied().map(fold).collect();
        // R8: blank out every run of 12+ digits (the My Number) before
        // anything looks at the text. A run: digit-likes, spaces, hyphens.
        let mut long_numbers = 0;
        let mut start = 0;
        while start < folded.len() {
            let run_end = (start..folded.len())
                .find(|&i| {
                    folded
                        .get(i)
                        .is_none_or(|&c| !(digit_like(c) || is_space(c) || c == '-'))
                })
                .unwrap_or(folded.len());
            let digits = folded
                .get(start..run_end)
                .unwrap_or_default()
                .iter()
                .filter(|c| digit_like(**c))
                .count();
            if digits >= 12 {
                long_numbers += 1;
                for c in folded.get_mut(start..run_end).unwrap_or_default() {
                    *c = '\n';
                }
            }
            start = run_end + 1;
        }
        Self {
            original,
            folded,
            long_numbers,
        }
    }

    fn len(&self) -> usize {
        self.folded.len()
    }

    /// The folded character at `i`; a line break past the end.
    fn at(&self, i: usize) -> char {
        self.folded.get(i).copied().unwrap_or('\n')
    }

    fn starts_with(&self, i: usize, pattern: &str) -> bool {
        pattern
            .chars()
            .enumerate()
            .all(|(k, p)| self.folded.get(i + k) == Some(&p))
    }

    fn starts_with_ascii_ci(&self, i: usize, pattern: &str) -> bool {
        pattern.chars().enumerate().all(|(k, p)| {
            self.folded
                .get(i + k)
                .is_some_and(|c| c.eq_ignore_ascii_case(&p))
        })
    }

    /// Every position where `pattern` starts.
    fn find_all<'a>(&'a self, pattern: &'a str) -> impl Iterator<Item = usize> + 'a {
        (0..self.len()).filter(move |&i| self.starts_with(i, pattern))
    }

    /// The original text of `span`.
    fn original(&self, span: Range<usize>) -> String {
        self.original.get(span).unwrap_or_default().iter().collect()
    }

    fn skip_spaces(&self, mut i: usize) -> usize {
        while is_space(self.at(i)) || self.at(i) == ':' {
            i += 1;
        }
        i
    }

    /// Trims spaces off both ends of `span`.
    fn trim(&self, span: Range<usize>) -> Range<usize> {
        let mut start = span.start;
        let mut end = span.end;
        while start < end && is_space(self.at(start)) {
            start += 1;
        }
        while end > start && is_space(self.at(end - 1)) {
            end -= 1;
        }
        start..end
    }

    /// The date written from `start` on: up to its `日` when it has a `年`,
    /// else up to the first space after it began.
    fn date_after(&self, start: usize) -> Range<usize> {
        let begin = self.skip_spaces(start);
        let mut i = begin;
        let mut saw_year = false;
        while i < self.len() && date_char(self.at(i)) {
            let c = self.at(i);
            i += 1;
            saw_year |= c == '年';
            // `日` ends a date; `不詳` (unknown) is a whole date.
            if c == '日' || (c == '詳' && i >= 2 && self.at(i - 2) == '不') {
                break;
            }
        }
        let mut end = i;
        if !saw_year {
            end = (begin..i).find(|&k| is_space(self.at(k))).unwrap_or(i);
        }
        self.trim(begin..end)
    }

    /// Where the date whose `年` is at `year` begins: its digits (or `元`),
    /// and the era name before them, if any.
    fn date_start_before(&self, year: usize, lower: usize) -> usize {
        let mut j = year;
        while j > lower && is_space(self.at(j - 1)) {
            j -= 1;
        }
        while j > lower && (digit_like(self.at(j - 1)) || self.at(j - 1) == '元') {
            j -= 1;
        }
        let mut k = j;
        while k > lower && is_space(self.at(k - 1)) {
            k -= 1;
        }
        if k >= lower + 2 && Era::from_kanji(&self.folded_string(k - 2..k)).is_some() {
            return k - 2;
        }
        if k > lower && (era_mark(self.at(k - 1)) || "MTHR".contains(self.at(k - 1))) {
            return k - 1;
        }
        j
    }

    fn folded_string(&self, span: Range<usize>) -> String {
        self.folded.get(span).unwrap_or_default().iter().collect()
    }

    /// The date written just before `stop` (a `生`, `まで`, `有効`).
    fn date_before(&self, stop: usize) -> Option<Range<usize>> {
        let mut lower = stop;
        while lower > 0 && date_char(self.at(lower - 1)) {
            lower -= 1;
        }
        let span = self.trim(lower..stop);
        if span.is_empty() {
            return None;
        }
        if let Some(year) = span.clone().rev().find(|&i| self.at(i) == '年') {
            return Some(self.date_start_before(year, span.start)..span.end);
        }
        // No 年 (`S60.6.15生`): the last group before `stop`.
        let start = span
            .clone()
            .rev()
            .find(|&i| is_space(self.at(i)))
            .map_or(span.start, |i| i + 1);
        Some(start..span.end)
    }

    /// The expiry: the date before `まで`/`迄`/`有効`, or after `有効期限`.
    fn expiry_span(&self) -> Option<Range<usize>> {
        for label in ["有効期限", "有効期間"] {
            if let Some(i) = self.find_all(label).next() {
                let span = self.date_after(i + label.chars().count());
                if !span.is_empty() {
                    return Some(span);
                }
            }
        }
        ["まで", "迄", "有効"]
            .iter()
            .flat_map(|marker| self.find_all(marker))
            .filter_map(|i| self.date_before(i))
            .next()
    }

    /// The birth date: after `生年月日`, before a `生`, else the first date
    /// with a `年` that is not the expiry.
    fn birth_span(&self, expiry: Option<&Range<usize>>) -> Result<Range<usize>, FrontError> {
        let overlaps =
            |span: &Range<usize>| expiry.is_some_and(|e| span.start < e.end && e.start < span.end);
        // A date never runs into the expiry (one-line texts).
        let before_expiry = |span: Range<usize>| match expiry {
            Some(e) if span.start < e.start && e.start < span.end => self.trim(span.start..e.start),
            _ => span,
        };
        if let Some(i) = self.find_all("生年月日").next() {
            // The date may be on the label's line or the next (OCR line
            // breaks); the expiry is never it. An empty span is a blank
            // date (R7), read as such.
            let mut start = self.skip_spaces(i + 4);
            if self.at(start) == '\n' {
                start = self.skip_spaces(start + 1);
            }
            let span = before_expiry(self.date_after(start));
            if overlaps(&span) {
                return Ok(span.start..span.start);
            }
            return Ok(span);
        }
        for i in self.find_all("生") {
            if let Some(span) = self.date_before(i)
                && !overlaps(&span)
            {
                return Ok(span);
            }
        }
        for i in self.find_all("年") {
            let start = self.date_start_before(i, 0);
            let span = before_expiry(self.date_after(start));
            if !span.is_empty() && !overlaps(&span) && span.contains(&i) {
                return Ok(span);
            }
        }
        if self.find_all("不詳").next().is_some() || self.find_all("不明").next().is_some() {
            return Err(FrontError::BirthDateUnknown);
        }
        Err(FrontError::BirthDateNotFound)
    }

    /// The positions of the security code's characters: after its label,
    /// else the one group of four digits standing alone.
    fn security_code(&self, taken: &[Range<usize>]) -> Result<Vec<usize>, FrontError> {
        const LABELS: [&str; 4] = [
            "セキュリティコード",
            "ｾｷｭﾘﾃｨｺｰﾄﾞ",
            "セキュリティーコード",
            "security code",
        ];
        let labelled = (0..self.len()).find_map(|i| {
            LABELS
                .iter()
                .find(|label| self.starts_with_ascii_ci(i, label))
                .map(|label| i + label.chars().count())
        });
        if let Some(after) = labelled {
            let mut i = self.skip_spaces(after);
            let mut positions = Vec::new();
            while positions.len() < 4 && i < self.len() {
                let c = self.at(i);
                if digit_like(c) {
                    positions.push(i);
                } else if !is_space(c) {
                    break;
                }
                i += 1;
            }
            // A fifth digit right after means this is not a 4-digit code.
            if positions.len() < 4 || digit_like(self.at(i)) {
                return Err(FrontError::SecurityCode);
            }
            return Ok(positions);
        }
        let mut candidates = Vec::new();
        let mut start = 0;
        while start < self.len() {
            let end = (start..self.len())
                .find(|&i| self.at(i).is_whitespace())
                .unwrap_or(self.len());
            let group = start..end;
            let real_digits = group
                .clone()
                .filter(|&i| self.at(i).is_ascii_digit())
                .count();
            if group.len() == 4
                && group.clone().all(|i| digit_like(self.at(i)))
                && real_digits >= 2
                && !taken
                    .iter()
                    .any(|t| t.start < group.end && group.start < t.end)
            {
                candidates.push(group.collect::<Vec<_>>());
            }
            start = end + 1;
        }
        match candidates.len() {
            0 => Err(FrontError::SecurityCodeNotFound),
            1 => Ok(candidates.pop().unwrap_or_default()),
            n => Err(FrontError::SecurityCodeAmbiguous { candidates: n }),
        }
    }

    /// The security code's digits, confusions undone.
    fn code_digits(
        &self,
        positions: &[usize],
        corrections: &mut Vec<Correction>,
    ) -> Zeroizing<String> {
        let mut digits = Zeroizing::new(String::with_capacity(4));
        for (position, &i) in positions.iter().enumerate() {
            let from = self.original.get(i).copied().unwrap_or('\n');
            let folded = self.at(i);
            let to = confusable(folded).unwrap_or(folded);
            if to != from {
                corrections.push(Correction {
                    field: FrontField::SecurityCode,
                    position,
                    from,
                    to,
                });
            }
            digits.push(to);
        }
        digits
    }

    /// The text of a date field with confusions undone after its era name.
    fn corrected(
        &self,
        span: Range<usize>,
        field: FrontField,
        corrections: &mut Vec<Correction>,
    ) -> String {
        let prefix = self.era_prefix(span.clone());
        let mut out = String::new();
        for (position, i) in span.clone().enumerate() {
            let from = self.original.get(i).copied().unwrap_or('\n');
            let folded = self.at(i);
            if position < prefix {
                out.push(folded);
                continue;
            }
            let to = confusable(folded).unwrap_or(folded);
            if to.is_ascii_digit() && to != from {
                corrections.push(Correction {
                    field,
                    position,
                    from,
                    to,
                });
            }
            out.push(to);
        }
        out
    }

    /// How many characters of `span` name the era (`昭和`, `昭`, `㍼`, `S`).
    fn era_prefix(&self, span: Range<usize>) -> usize {
        let first = self.at(span.start);
        if span.len() >= 2
            && Era::from_kanji(&self.folded_string(span.start..span.start + 2)).is_some()
        {
            return 2;
        }
        if era_mark(first) {
            return 1;
        }
        // An era initial followed by a digit, a dot or a space (`S55.2.17`).
        let next = self.at(span.start + 1);
        if span.len() >= 2
            && first.is_ascii_alphabetic()
            && Era::from_initial(first).is_some()
            && (digit_like(next) || next == '.' || is_space(next))
        {
            return 1;
        }
        0
    }
}

/// The birth date of a corrected field: a Western date when it starts with
/// a 4-digit year, else an era date ([`JapaneseDate::parse_printed`]).
fn birth_date_of(field: &str) -> Result<BirthRead, FrontError> {
    let western = match western_date(field) {
        Some(Ok(date)) => JapaneseDate::from_gregorian(date).map(|date| BirthRead {
            date,
            western: true,
        }),
        Some(Err(e)) => Err(e),
        None => JapaneseDate::parse_printed(field).map(|date| BirthRead {
            date,
            western: false,
        }),
    };
    western.map_err(|e| match e {
        EraError::BirthDateUnknown => FrontError::BirthDateUnknown,
        other => FrontError::BirthDate(other),
    })
}

/// `1985年3月1日`, `1985.3.1`: `None` unless the field starts with 4 digits.
fn western_date(field: &str) -> Option<Result<NaiveDate, EraError>> {
    let compact: String = field.chars().filter(|c| !c.is_whitespace()).collect();
    let year_digits = compact.chars().take_while(char::is_ascii_digit).count();
    if year_digits != 4 {
        return None;
    }
    let body = compact.strip_suffix('生').unwrap_or(&compact);
    let parts: Vec<&str> = body
        .split(['年', '月', '日', '.', '/', '-', ','])
        .filter(|p| !p.is_empty())
        .collect();
    let unreadable = || EraError::Unparseable("expected a year, a month and a day".to_owned());
    let [year, month, day] = parts.as_slice() else {
        return Some(Err(unreadable()));
    };
    let number = |s: &str| -> Option<u32> {
        (s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day)) = (number(year), number(month), number(day)) else {
        return Some(Err(unreadable()));
    };
    let year = i32::try_from(year).unwrap_or(i32::MAX);
    Some(NaiveDate::from_ymd_opt(year, month, day).ok_or(EraError::NotADate))
}

/// The expiry year of a corrected field: the era date's Western year when
/// it names an era, else the first run of digits, which must be 4 long.
fn expiry_year_of(field: &str) -> Result<u16, FrontError> {
    let compact: String = field.chars().filter(|c| !c.is_whitespace()).collect();
    let starts_with_era = compact.chars().next().is_some_and(|c| {
        era_mark(c) || (c.is_ascii_alphabetic() && Era::from_initial(c).is_some())
    });
    if starts_with_era {
        let date = JapaneseDate::parse_printed(&compact)
            .map_err(|e| FrontError::ExpiryYear(e.to_string()))?;
        return u16::try_from(date.to_gregorian().year())
            .map_err(|_| FrontError::ExpiryYear("not a year".to_owned()));
    }
    let digits: String = compact
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    if digits.is_empty() {
        return Err(FrontError::ExpiryYear("no year found".to_owned()));
    }
    if digits.len() != 4 {
        return Err(FrontError::ExpiryYear(
            "expected the 4-digit Western year (such as 2035)".to_owned(),
        ));
    }
    digits
        .parse()
        .map_err(|_| FrontError::ExpiryYear("not a number".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::pin::CardSecret;

    /// The sample card's front, as an OCR of it might come out.
    const SAMPLE: &str = "氏名 番号 花子\n住所 東京都千代田区霞が関２－１－２\n昭和60年 6月15日生 性別 女\n2035年 6月15日まで有効\nセキュリティコード 4821";

    fn code_of(front: &CardFront) -> String {
        String::from_utf8(front.check_code().verify_data().to_vec()).unwrap()
    }

    fn fix(field: FrontField, position: usize, from: char, to: char) -> Correction {
        Correction {
            field,
            position,
            from,
            to,
        }
    }

    #[test]
    fn the_sample_front_reads_whole() {
        let front = CardFront::parse(SAMPLE).unwrap();
        assert_eq!(front.birth_date().to_string(), "昭和60年6月15日");
        assert!(!front.birth_date_western());
        assert_eq!(front.expiry_year(), 2035);
        assert_eq!(front.security_code_digits(), "4821");
        assert_eq!(code_of(&front), "60061520354821");
        assert!(front.corrections().is_empty(), "{:?}", front.corrections());
        // The same as the core's field-by-field constructor.
        let direct = CheckCodeB::from_card_front("昭和60年6月15日", "2035", "4821").unwrap();
        assert_eq!(front.check_code().verify_data(), direct.verify_data());
        let reading = FrontReading::read(SAMPLE);
        assert_eq!(reading.birth_date_text(), Some("昭和60年 6月15日"));
        assert_eq!(reading.expiry_text(), Some("2035年 6月15日"));
    }

    #[test]
    fn every_era_and_the_western_calendar() {
        for (text, shown, code, western) in [
            (
                "大正15年12月24日生 2030年12月24日まで有効 セキュリティコード 0001",
                "大正15年12月24日",
                "15122420300001",
                false,
            ),
            (
                "昭和元年12月25日生 2030年3月1日まで有効 セキュリティコード 1111",
                "昭和元年12月25日",
                "01122520301111",
                false,
            ),
            (
                "昭和64年1月7日生 2030年1月7日まで有効 セキュリティコード 2222",
                "昭和64年1月7日",
                "64010720302222",
                false,
            ),
            (
                "平成元年1月8日生 2029年1月8日まで有効 セキュリティコード 3333",
                "平成元年1月8日",
                "01010820293333",
                false,
            ),
            (
                "平成31年4月30日生 2029年4月30日まで有効 セキュリティコード 4444",
                "平成31年4月30日",
                "31043020294444",
                false,
            ),
            (
                "令和元年5月1日生 2029年5月1日まで有効 セキュリティコード 5555",
                "令和元年5月1日",
                "01050120295555",
                false,
            ),
            (
                "令和7年6月1日生 2030年6月1日まで有効 セキュリティコード 6666",
                "令和7年6月1日",
                "07060120306666",
                false,
            ),
            (
                "㍼60年6月15日生 2035年まで有効 セキュリティコード 4821",
                "昭和60年6月15日",
                "60061520354821",
                false,
            ),
            (
                "S60.6.15生 2035.6.15まで有効 セキュリティコード 4821",
                "昭和60年6月15日",
                "60061520354821",
                false,
            ),
            // A Western birth date becomes its era date (module docs).
            (
                "1985年3月1日生 2035年3月1日まで有効 セキュリティコード 1234",
                "昭和60年3月1日",
                "60030120351234",
                true,
            ),
            (
                "生年月日 1985年3月1日\n有効期限 2035年3月1日\nセキュリティコード 1234",
                "昭和60年3月1日",
                "60030120351234",
                true,
            ),
        ] {
            let front = CardFront::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(front.birth_date().to_string(), shown, "{text}");
            assert_eq!(code_of(&front), code, "{text}");
            assert_eq!(front.birth_date_western(), western, "{text}");
        }
        // The label on one line, the date on the next.
        let front =
            CardFront::parse("生年月日\n平成2年3月4日\n2035年まで有効\nセキュリティコード 1234")
                .unwrap();
        assert_eq!(code_of(&front), "02030420351234");
        // An expiry printed with an era gives its Western year.
        let front =
            CardFront::parse("平成2年3月4日生 令和17年3月4日まで有効 セキュリティコード 9876")
                .unwrap();
        assert_eq!(front.expiry_year(), 2035);
        // Dates outside their era are refused, as a birth-date field error.
        assert!(matches!(
            CardFront::parse("昭和65年1月1日生 2035年まで有効 セキュリティコード 1234"),
            Err(FrontError::BirthDate(EraError::OutsideEra { .. }))
        ));
    }

    #[test]
    fn digit_confusions_are_corrected_and_listed() {
        let text = "昭和6O年 B月1S日生\n2O3S年6月15日まで有効\nセキュリティコード ４８Z|";
        let reading = FrontReading::read(text);
        let front = reading.card_front().unwrap();
        assert_eq!(front.birth_date().to_string(), "昭和60年8月15日");
        assert_eq!(front.expiry_year(), 2035);
        assert_eq!(front.security_code_digits(), "4821");
        assert_eq!(
            reading.corrections(),
            [
                fix(FrontField::ExpiryYear, 1, 'O', '0'),
                fix(FrontField::ExpiryYear, 3, 'S', '5'),
                fix(FrontField::BirthDate, 3, 'O', '0'),
                fix(FrontField::BirthDate, 6, 'B', '8'),
                fix(FrontField::BirthDate, 9, 'S', '5'),
                fix(FrontField::SecurityCode, 0, '４', '4'),
                fix(FrontField::SecurityCode, 1, '８', '8'),
                fix(FrontField::SecurityCode, 2, 'Z', '2'),
                fix(FrontField::SecurityCode, 3, '|', '1'),
            ]
        );
        // Positions index the field's text as read.
        let birth: Vec<char> = reading.birth_date_text().unwrap().chars().collect();
        assert_eq!((birth[3], birth[6], birth[9]), ('O', 'B', 'S'));
        // o, I, l, 〇 and full-width letters too; the era initial S stays an era.
        let front =
            CardFront::parse("S6o.l.I5生 ２０３５年まで有効 セキュリティコード 〇Ｏ12").unwrap();
        assert_eq!(front.birth_date().to_string(), "昭和60年1月15日");
        assert_eq!(front.security_code_digits(), "0012");
        let fixed: Vec<(FrontField, char, char)> = front
            .corrections()
            .iter()
            .map(|c| (c.field, c.from, c.to))
            .collect();
        assert!(
            fixed.contains(&(FrontField::BirthDate, 'o', '0')),
            "{fixed:?}"
        );
        assert!(
            fixed.contains(&(FrontField::BirthDate, 'l', '1')),
            "{fixed:?}"
        );
        assert!(
            fixed.contains(&(FrontField::BirthDate, 'I', '1')),
            "{fixed:?}"
        );
        assert!(
            fixed.contains(&(FrontField::ExpiryYear, '２', '2')),
            "{fixed:?}"
        );
        assert!(
            fixed.contains(&(FrontField::SecurityCode, '〇', '0')),
            "{fixed:?}"
        );
        assert!(
            fixed.contains(&(FrontField::SecurityCode, 'Ｏ', '0')),
            "{fixed:?}"
        );
        assert!(
            !fixed.iter().any(|(_, from, _)| *from == 'S'),
            "the era initial is not a 5: {fixed:?}"
        );
    }

    #[test]
    fn a_blank_or_unknown_birth_date_stops_the_flow_r7() {
        for text in [
            "生年月日 不詳\n2035年3月1日まで有効\nセキュリティコード 1234",
            "生年月日 不詳 2035年3月1日まで有効 セキュリティコード 1234",
            "生年月日\n2035年3月1日まで有効\nセキュリティコード 1234",
            "昭和  年  月  日生 2035年3月1日まで有効 セキュリティコード 1234",
            "年月日不詳 2035年3月1日まで有効 セキュリティコード 1234",
            "生年月日：＊＊年＊＊月＊＊日 2035年3月1日まで有効 セキュリティコード 1234",
        ] {
            let reading = FrontReading::read(text);
            assert_eq!(
                reading.birth_date().err(),
                Some(FrontError::BirthDateUnknown),
                "{text}"
            );
            let error = reading.card_front().unwrap_err();
            assert_eq!(error, FrontError::BirthDateUnknown, "{text}");
            assert!(error.stops_the_flow());
            assert!(error.to_string().contains("R7"));
            // The other fields still read, for the screen.
            assert_eq!(reading.expiry_year(), Ok(2035), "{text}");
            assert_eq!(reading.security_code(), Ok(()), "{text}");
        }
        // The label on its own line, the expiry next: blank, not the expiry.
        let reading = FrontReading::read("生年月日\n2035年3月1日まで有効\nセキュリティコード 1234");
        assert_eq!(
            reading.birth_date().err(),
            Some(FrontError::BirthDateUnknown)
        );
        assert_eq!(reading.expiry_year(), Ok(2035));
        // Missing altogether: stops the flow too.
        let reading = FrontReading::read("2035年3月1日まで有効 セキュリティコード 1234");
        assert_eq!(
            reading.card_front().err(),
            Some(FrontError::BirthDateNotFound)
        );
        assert!(FrontError::BirthDateNotFound.stops_the_flow());
        assert_eq!(
            CardFront::parse("").err(),
            Some(FrontError::BirthDateNotFound)
        );
        // R7 comes before any other field's error.
        assert_eq!(
            CardFront::parse("生年月日 不詳").err(),
            Some(FrontError::BirthDateUnknown)
        );
        assert!(!FrontError::ExpiryNotFound.stops_the_flow());
    }

    #[test]
    fn the_my_number_is_never_read_r8() {
        for my_number in [
            "1234 5678 9012",
            "123456789012",
            "１２３４５６７８９０１２",
            "1234-5678-9O12",
        ] {
            let text = format!("個人番号 {my_number}\n{SAMPLE}");
            let reading = FrontReading::read(&text);
            assert_eq!(reading.ignored_long_numbers(), 1, "{text}");
            let front = reading.card_front().unwrap();
            assert_eq!(code_of(&front), "60061520354821");
            assert!(front.corrections().is_empty(), "{:?}", front.corrections());
        }
        // Only a My Number where the security code should be: nothing read from it.
        let reading = FrontReading::read("昭和60年6月15日生 2035年まで有効 123456789012");
        assert_eq!(
            reading.security_code(),
            Err(FrontError::SecurityCodeNotFound)
        );
        let reading =
            FrontReading::read("昭和60年6月15日生 2035年まで有効 セキュリティコード 123456789012");
        assert_eq!(reading.security_code(), Err(FrontError::SecurityCode));
        assert!(reading.corrections().is_empty());
    }

    #[test]
    fn the_security_code_with_and_without_its_label() {
        let unlabelled = "昭和60年6月15日生\n2035年6月15日まで有効\n4821";
        assert_eq!(
            CardFront::parse(unlabelled).unwrap().security_code_digits(),
            "4821"
        );
        let spaced = "昭和60年6月15日生 2035年まで有効 ｾｷｭﾘﾃｨｺｰﾄﾞ：48 21";
        assert_eq!(
            CardFront::parse(spaced).unwrap().security_code_digits(),
            "4821"
        );
        let english = "S60.6.15生 2035年まで有効 Security Code: 4821";
        assert_eq!(
            CardFront::parse(english).unwrap().security_code_digits(),
            "4821"
        );
        assert_eq!(
            CardFront::parse("昭和60年6月15日生 2035年まで有効 4821 1234").err(),
            Some(FrontError::SecurityCodeAmbiguous { candidates: 2 })
        );
        assert_eq!(
            CardFront::parse("昭和60年6月15日生 2035年まで有効").err(),
            Some(FrontError::SecurityCodeNotFound)
        );
        for bad in ["48211", "482", "48a1"] {
            let text = format!("昭和60年6月15日生 2035年まで有効 セキュリティコード {bad}");
            assert_eq!(
                CardFront::parse(&text).err(),
                Some(FrontError::SecurityCode),
                "{bad}"
            );
        }
    }

    #[test]
    fn expiry_errors_name_their_field() {
        assert_eq!(
            CardFront::parse("昭和60年6月15日生 セキュリティコード 4821").err(),
            Some(FrontError::ExpiryNotFound)
        );
        let short =
            CardFront::parse("昭和60年6月15日生 35年まで有効 セキュリティコード 4821").unwrap_err();
        assert!(matches!(short, FrontError::ExpiryYear(_)), "{short:?}");
        assert_eq!(short.field(), Some(FrontField::ExpiryYear));
        // The fields read, but do not form the code: expiry before the birth year.
        let early =
            CardFront::parse("平成元年1月8日生 2016年まで有効 セキュリティコード 4821").unwrap();
        assert_eq!(early.expiry_year(), 2016);
        let before =
            CardFront::parse("令和7年1月8日生 2020年まで有効 セキュリティコード 4821").unwrap_err();
        assert!(
            matches!(before, FrontError::CheckCode(CheckCodeError::ExpiryYear(_))),
            "{before:?}"
        );
        assert_eq!(before.field(), Some(FrontField::ExpiryYear));
    }

    #[test]
    fn any_text_gives_a_reading() {
        let long = "年".repeat(MAX_FRONT_TEXT_CHARS + 1);
        assert_eq!(CardFront::parse(&long).err(), Some(FrontError::TooLong));
        let edge = "年生まで有効".repeat(MAX_FRONT_TEXT_CHARS / 6);
        let _ = FrontReading::read(&edge);
        for text in [
            "生",
            "まで",
            "有効期限",
            "生年月日",
            "セキュリティコード",
            "年月日",
            "S",
            "昭和",
            "㍼",
            "\r\n\r\n",
            "生年月日生年月日",
            "9999年99月99日生まで有効",
            "昭和9999999999年1月1日生",
            "有効期限 有効期限",
            "セキュリティコード セキュリティコード 1",
            "S.",
            "元年",
            "－－－－ －－－－ －－－－",
        ] {
            let reading = FrontReading::read(text);
            let _ = reading.card_front();
            let _ = format!("{reading:?}");
        }
    }

    #[test]
    fn debug_shows_no_secret_and_no_birth_date() {
        let text = "昭和6O年6月15日生 2035年まで有効 セキュリティコード 48Z1";
        let reading = FrontReading::read(text);
        let front = reading.card_front().unwrap();
        let shown = format!("{reading:?} {front:?} {:?}", front.corrections());
        for secret in ["4821", "'Z'", "'2'", "60061520354821", "昭和", "6月"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("redacted"), "{shown}");
    }
}
