//! Time, as the platform reports it. Behind a trait so tests and the sandbox
//! can move it, and so the apps can correct the phone's time by the offset
//! they last saw from an authority.

use std::sync::{Mutex, PoisonError, RwLock};

use chrono::{DateTime, TimeDelta, Utc};

use super::http_date::parse_http_date;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from(std::time::SystemTime::now())
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// How far the authority's clock is ahead of the phone's (negative: behind),
/// as last seen in an authority's answer. The authority's time decides
/// expiries (a reservation's 24 hours, R5; a token's `exp`); the phone shows
/// its own times corrected by this offset.
///
/// Seen from an HTTP `Date` header, the offset is good to about a second plus
/// the answer's time in flight: `Date` has one-second resolution and is set
/// when the authority answered, a little before the phone read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffset {
    authority_time: DateTime<Utc>,
    local_time: DateTime<Utc>,
}

impl ClockOffset {
    /// The authority said it was `authority_time` when the phone's clock read
    /// `local_time`.
    pub fn observed(authority_time: DateTime<Utc>, local_time: DateTime<Utc>) -> Self {
        Self {
            authority_time,
            local_time,
        }
    }

    /// From an HTTP `Date` header value (RFC 9110 §6.6.1) read when the
    /// phone's clock said `local_time`.
    pub fn from_date_header(value: &str, local_time: DateTime<Utc>) -> Result<Self, BadHttpDate> {
        let authority_time = parse_http_date(value).ok_or(BadHttpDate)?;
        Ok(Self::observed(authority_time, local_time))
    }

    /// The authority's time minus the phone's.
    pub fn offset(&self) -> TimeDelta {
        self.authority_time - self.local_time
    }

    /// What the authority said the time was.
    pub fn authority_time(&self) -> DateTime<Utc> {
        self.authority_time
    }

    /// What the phone's clock said at that moment.
    pub fn local_time(&self) -> DateTime<Utc> {
        self.local_time
    }

    /// A phone time, corrected to the authority's clock. Saturates at
    /// chrono's range instead of overflowing (an absurd offset from a broken
    /// header must not panic).
    pub fn correct(&self, local: DateTime<Utc>) -> DateTime<Utc> {
        local
            .checked_add_signed(self.offset())
            .unwrap_or(if self.offset() < TimeDelta::zero() {
                DateTime::<Utc>::MIN_UTC
            } else {
                DateTime::<Utc>::MAX_UTC
            })
    }
}

/// A `Date` header that is none of RFC 9110's three date forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the authority's Date header is not an HTTP date")]
pub struct BadHttpDate;

/// The phone's clock corrected by the offset last seen from an authority:
/// what the apps show times and count down expiries with. Until an offset is
/// recorded it is the phone's clock unchanged. The offset is kept in memory;
/// the store keeps it across restarts (`Store::record_clock_offset`).
#[derive(Debug)]
pub struct CorrectedClock<C> {
    local: C,
    offset: RwLock<Option<ClockOffset>>,
}

impl<C: Clock> CorrectedClock<C> {
    /// The phone's clock `local`, corrected by `offset` (the one the store
    /// kept, if any).
    pub fn new(local: C, offset: Option<ClockOffset>) -> Self {
        Self {
            local,
            offset: RwLock::new(offset),
        }
    }

    /// The phone's own, uncorrected time.
    pub fn local_now(&self) -> DateTime<Utc> {
        self.local.now()
    }

    /// Replaces the offset with one seen later.
    pub fn record(&self, offset: ClockOffset) {
        *self.offset.write().unwrap_or_else(PoisonError::into_inner) = Some(offset);
    }

    /// Records the offset an authority's `Date` header shows, read now, and
    /// returns it (for the store to keep).
    pub fn observe_date_header(&self, value: &str) -> Result<ClockOffset, BadHttpDate> {
        let offset = ClockOffset::from_date_header(value, self.local.now())?;
        self.record(offset);
        Ok(offset)
    }

    /// The offset in use, if one was seen.
    pub fn offset(&self) -> Option<ClockOffset> {
        *self.offset.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<C: Clock> Clock for CorrectedClock<C> {
    fn now(&self) -> DateTime<Utc> {
        let local = self.local.now();
        match self.offset() {
            Some(offset) => offset.correct(local),
            None => local,
        }
    }
}

/// A clock that moves only when told: for tests, the sandbox and demos.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock standing at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(now))
    }

    /// Sets the time.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }

    /// Moves the time on (or back, with a negative `by`); saturates at
    /// chrono's range.
    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now = now.checked_add_signed(by).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, m, s).unwrap()
    }

    #[test]
    fn an_offset_from_a_date_header_is_authority_minus_phone() {
        // The phone is 90 s slow: it reads 12:00:00 when the authority says 12:01:30.
        let offset =
            ClockOffset::from_date_header("Sun, 01 Mar 2026 12:01:30 GMT", at(12, 0, 0)).unwrap();
        assert_eq!(offset.offset(), TimeDelta::seconds(90));
        assert_eq!(offset.correct(at(13, 0, 0)), at(13, 1, 30));
        assert_eq!(
            ClockOffset::from_date_header("soon", at(12, 0, 0)),
            Err(BadHttpDate)
        );
    }

    #[test]
    fn the_corrected_clock_follows_the_phone_clock_plus_the_last_offset() {
        let phone = std::sync::Arc::new(ManualClock::new(at(12, 0, 0)));
        let clock = CorrectedClock::new(phone.clone(), None);
        // No offset seen yet: the phone's time.
        assert_eq!(clock.now(), at(12, 0, 0));
        // The authority is 5 minutes behind the phone.
        let seen = clock
            .observe_date_header("Sun, 01 Mar 2026 11:55:00 GMT")
            .unwrap();
        assert_eq!(seen.offset(), TimeDelta::minutes(-5));
        assert_eq!(clock.now(), at(11, 55, 0));
        phone.advance(TimeDelta::hours(24));
        assert_eq!(clock.now(), at(11, 55, 0) + TimeDelta::hours(24));
        assert_eq!(clock.local_now(), at(12, 0, 0) + TimeDelta::hours(24));
        // A later observation replaces the earlier one.
        clock.record(ClockOffset::observed(at(12, 0, 10), at(12, 0, 0)));
        assert_eq!(clock.offset().unwrap().offset(), TimeDelta::seconds(10));
    }

    #[test]
    fn an_absurd_offset_saturates_instead_of_overflowing() {
        let offset = ClockOffset::observed(DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC);
        assert_eq!(offset.correct(at(0, 0, 0)), DateTime::<Utc>::MAX_UTC);
        let offset = ClockOffset::observed(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        assert_eq!(offset.correct(at(0, 0, 0)), DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn the_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(at(8, 0, 0));
        assert_eq!(clock.now(), at(8, 0, 0));
        clock.advance(TimeDelta::seconds(61));
        assert_eq!(clock.now(), at(8, 1, 1));
        clock.set(at(1, 0, 0));
        assert_eq!(clock.now(), at(1, 0, 0));
    }

    #[test]
    fn a_clock_can_be_held_as_a_trait_object() {
        let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(SystemClock);
        let before = SystemClock.now();
        assert!(clock.now() >= before);
    }
}
