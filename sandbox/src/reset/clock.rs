//! The served sandbox's clock: the system's time plus an offset that a
//! sandbox-only route moves forward (`mynakit sandbox clock advance 25h`), so
//! a demo can cross the 24 hours of R5 without waiting them.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use mynakit_core::Clock;

/// System time plus a movable offset.
#[derive(Debug, Default)]
pub struct SandboxClock {
    offset: Mutex<TimeDelta>,
}

impl SandboxClock {
    /// The system's time, not yet moved.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by` (never back: a sandbox clock that
    /// went back could make a redeemed reservation look live again).
    pub fn advance(&self, by: TimeDelta) {
        if by > TimeDelta::zero() {
            let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
            *offset = offset.checked_add(&by).unwrap_or(*offset);
        }
    }

    /// How far it has been moved.
    pub fn offset(&self) -> TimeDelta {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for SandboxClock {
    fn now(&self) -> DateTime<Utc> {
        let now = mynakit_core::SystemClock.now();
        now.checked_add_signed(self.offset()).unwrap_or(now)
    }
}

/// Reads `25h`, `90m`, `30s`, `2d` (a whole number and a unit).
pub fn parse_duration(text: &str) -> Option<TimeDelta> {
    let text = text.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    let n: i64 = number.parse().ok()?;
    match unit {
        "s" => TimeDelta::try_seconds(n),
        "m" => TimeDelta::try_minutes(n),
        "h" => TimeDelta::try_hours(n),
        "d" => TimeDelta::try_days(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_unit_and_nothing_else() {
        assert_eq!(parse_duration("25h"), Some(TimeDelta::hours(25)));
        assert_eq!(parse_duration("90m"), Some(TimeDelta::minutes(90)));
        assert_eq!(parse_duration("1s"), Some(TimeDelta::seconds(1)));
        assert_eq!(parse_duration("2d"), Some(TimeDelta::days(2)));
        for bad in ["", "h", "25", "25x", "-1h", "1.5h", "99999999999999999999h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_clock_only_moves_forward() {
        let clock = SandboxClock::new();
        clock.advance(TimeDelta::hours(25));
        clock.advance(TimeDelta::hours(-100));
        assert_eq!(clock.offset(), TimeDelta::hours(25));
        let drift = clock.now() - mynakit_core::SystemClock.now() - TimeDelta::hours(25);
        assert!(drift.abs() < TimeDelta::seconds(5));
    }
}
