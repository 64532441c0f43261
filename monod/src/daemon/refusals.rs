//! Refused connections (another user's), logged without flooding
//! `monod.log`: the first is logged, those that follow within a minute are
//! only counted, and the count goes with the next line logged. A thousand
//! refusals in a burst cost one line, not a thousand.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one line per this long.
const EVERY: Duration = Duration::from_secs(60);

/// The refusals logged and held back.
#[derive(Debug)]
pub struct Refusals {
    every: Duration,
    last_line: Option<Instant>,
    held: u64,
}

impl Refusals {
    /// Logs at most one line per `every`.
    pub const fn new(every: Duration) -> Refusals {
        Refusals { every, last_line: None, held: 0 }
    }

    /// Records a refusal at `now`. `Some(n)`: log a line for it, saying that
    /// `n` more were held back since the last line; `None`: only counted.
    pub fn refused(&mut self, now: Instant) -> Option<u64> {
        if self.last_line.is_some_and(|t| now.duration_since(t) < self.every) {
            self.held += 1;
            return None;
        }
        self.last_line = Some(now);
        Some(std::mem::take(&mut self.held))
    }
}

static REFUSALS: Mutex<Refusals> = Mutex::new(Refusals::new(EVERY));

/// Logs a connection refused from `who` (`uid 1001`), within the limit.
pub fn log_refused(who: &str) {
    let held = REFUSALS.lock().unwrap_or_else(|p| p.into_inner()).refused(Instant::now());
    match held {
        Some(0) => tracing::warn!(peer = %who, "refused a connection from another user"),
        Some(held) => tracing::warn!(
            peer = %who,
            "refused a connection from another user, and {held} more since the last such line"
        ),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_one_line_and_the_next_line_counts_it() {
        let mut r = Refusals::new(Duration::from_secs(60));
        let t = Instant::now();
        assert_eq!(r.refused(t), Some(0));
        let logged = (1..1000u64).filter(|i| r.refused(t + Duration::from_millis(*i)).is_some()).count();
        assert_eq!(logged, 0, "a burst within the minute is only counted");
        assert_eq!(r.refused(t + Duration::from_secs(61)), Some(999));
        assert_eq!(r.refused(t + Duration::from_secs(62)), None);
        assert_eq!(r.refused(t + Duration::from_secs(200)), Some(1));
    }
}
