//! Japanese era (和暦) dates. The card uses them in two places: the Kenmen
//! keys start with the birth date as era `YYMMDD`, and the signing
//! certificate's birth-date attribute starts with an era digit.

use chrono::{Datelike, NaiveDate};

/// A Japanese era since the Meiji calendar reform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Era {
    /// 明治, from 1868-01-25 (the start of the era as the card counts it).
    Meiji,
    /// 大正, from 1912-07-30.
    Taisho,
    /// 昭和, from 1926-12-25.
    Showa,
    /// 平成, from 1989-01-08.
    Heisei,
    /// 令和, from 2019-05-01.
    Reiwa,
}

/// First day of each era, newest first so the lookup can stop at the first match.
const ERA_STARTS: [(Era, i32, u32, u32); 5] = [
    (Era::Reiwa, 2019, 5, 1),
    (Era::Heisei, 1989, 1, 8),
    (Era::Showa, 1926, 12, 25),
    (Era::Taisho, 1912, 7, 30),
    (Era::Meiji, 1868, 1, 25),
];

impl Era {
    /// The digit the signing certificate's birth-date attribute uses
    /// (`1` Meiji … `5` Reiwa; `0` is reserved for an unknown date).
    pub const fn digit(self) -> char {
        match self {
            Self::Meiji => '1',
            Self::Taisho => '2',
            Self::Showa => '3',
            Self::Heisei => '4',
            Self::Reiwa => '5',
        }
    }
}

/// A date expressed in its era: the era and the year within it (元年 = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EraDate {
    /// The era.
    pub era: Era,
    /// Year within the era, starting at 1.
    pub year: u32,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month.
    pub day: u32,
}

impl EraDate {
    /// The era date of `date`; `None` before the Meiji era began.
    pub fn from_date(date: NaiveDate) -> Option<Self> {
        let (era, start_year) = ERA_STARTS.iter().find_map(|&(era, y, m, d)| {
            let start = NaiveDate::from_ymd_opt(y, m, d)?;
            (date >= start).then_some((era, y))
        })?;
        // The first (partial) year of an era is year 1, so the era year
        // changes on 1 January, not on the era's anniversary.
        let year = u32::try_from(date.year() - start_year + 1).ok()?;
        Some(Self {
            era,
            year,
            month: date.month(),
            day: date.day(),
        })
    }

    /// `YYMMDD` with the era year, as the Kenmen birth-date key and the first
    /// six digits of 照合番号B use it (e.g. Showa 55-02-17 → `550217`).
    pub fn yymmdd(&self) -> String {
        format!("{:02}{:02}{:02}", self.year % 100, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn boundaries_switch_on_the_first_day_of_the_new_era() {
        let era = |date| EraDate::from_date(date).map(|e| (e.era, e.year));
        assert_eq!(era(d(1912, 7, 29)), Some((Era::Meiji, 45)));
        assert_eq!(era(d(1912, 7, 30)), Some((Era::Taisho, 1)));
        assert_eq!(era(d(1926, 12, 24)), Some((Era::Taisho, 15)));
        assert_eq!(era(d(1926, 12, 25)), Some((Era::Showa, 1)));
        assert_eq!(era(d(1927, 1, 1)), Some((Era::Showa, 2)));
        assert_eq!(era(d(1989, 1, 7)), Some((Era::Showa, 64)));
        assert_eq!(era(d(1989, 1, 8)), Some((Era::Heisei, 1)));
        assert_eq!(era(d(2019, 4, 30)), Some((Era::Heisei, 31)));
        assert_eq!(era(d(2019, 5, 1)), Some((Era::Reiwa, 1)));
        assert_eq!(era(d(1868, 1, 24)), None);
    }

    #[test]
    fn yymmdd_matches_the_published_example() {
        // card-protocol.md: Showa 55 → "55"; born 1980-02-17.
        let e = EraDate::from_date(d(1980, 2, 17)).unwrap();
        assert_eq!((e.era.digit(), e.yymmdd()), ('3', "550217".to_owned()));
        assert_eq!(
            EraDate::from_date(d(2020, 1, 5)).unwrap().yymmdd(),
            "020105"
        );
    }

    #[test]
    fn agrees_with_the_core_on_every_day_since_1873() {
        // Two independent implementations: the card's and the client's.
        let mut date = d(1873, 1, 1);
        while date < d(2040, 1, 1) {
            let ours = EraDate::from_date(date).unwrap();
            let core = mynakit_core::JapaneseDate::from_gregorian(date).unwrap();
            assert_eq!(ours.yymmdd().as_bytes(), core.yymmdd(), "{date}");
            assert_eq!(u32::from(core.year()), ours.year, "{date}");
            date = date.succ_opt().unwrap();
        }
    }
}
