//! Time, as the platform reports it. Behind a trait so tests and the sandbox
//! can move it, and so the apps can correct the phone's time by the offset
//! they last saw from an authority.

use chrono::{DateTime, Utc};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_can_be_held_as_a_trait_object() {
        let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(SystemClock);
        let before = SystemClock.now();
        assert!(clock.now() >= before);
    }
}
