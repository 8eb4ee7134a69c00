//! Pauses between attempts at something that is down: each twice the last,
//! up to a ceiling, so a short blip is retried at once and a long outage
//! is not hammered. The worker waits this way for the coordinator, for a
//! data file path, and for the services a partition reads from.

use std::time::Duration;

#[derive(Debug)]
pub struct Backoff {
    first: Duration,
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Self { first, next: first, max }
    }

    /// The pause before the next attempt.
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(self.max);
        pause
    }

    /// Starts again from the first pause: the last attempt got through.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_ceiling_and_start_over_after_a_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let pauses: Vec<_> = (0..5).map(|_| backoff.next_pause().as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 500, 500]);
        backoff.reset();
        assert_eq!(backoff.next_pause(), Duration::from_millis(100));
        assert_eq!(backoff.next_pause(), Duration::from_millis(200));
    }
}
