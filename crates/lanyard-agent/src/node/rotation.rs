//! When to renew an SVID and how long to wait before retrying: pure arithmetic, so the
//! schedule is tested without clocks.
//!
//! An SVID is renewed at half its lifetime, moved by up to ±10% of that half so that
//! nodes started together do not renew together. Retries back off exponentially with
//! ±20% jitter up to a cap.

use std::time::{Duration, SystemTime};

/// Largest shift of the renewal point, as a fraction of half the lifetime.
pub const RENEWAL_JITTER: f64 = 0.10;

/// Largest shift of a retry delay, as a fraction of the delay.
pub const BACKOFF_JITTER: f64 = 0.20;

/// When to renew a certificate valid from `not_before` to `not_after`.
///
/// `jitter` is drawn uniformly from `[-1, 1]` (see [`random_jitter`]); values outside
/// are clamped. The result lies within `not_before + half * (1 ± 0.1)`, where `half`
/// is half the lifetime. A certificate whose `not_after` is not after its
/// `not_before` is due at once (`not_before`).
pub fn renewal_time(not_before: SystemTime, not_after: SystemTime, jitter: f64) -> SystemTime {
    let Ok(lifetime) = not_after.duration_since(not_before) else {
        return not_before;
    };
    let factor = 1.0 + RENEWAL_JITTER * jitter.clamp(-1.0, 1.0);
    not_before + (lifetime / 2).mul_f64(factor)
}

/// Whether a certificate valid from `not_before` to `not_after` is due for renewal at
/// `now` with the given `jitter`.
pub fn should_renew(
    now: SystemTime,
    not_before: SystemTime,
    not_after: SystemTime,
    jitter: f64,
) -> bool {
    now >= renewal_time(not_before, not_after, jitter)
}

/// A uniformly random jitter in `[-1, 1]`.
pub fn random_jitter() -> f64 {
    rand::random_range(-1.0..=1.0)
}

/// Exponential backoff: `base`, `2 * base`, `4 * base`, ... capped at `max`, each delay
/// moved by up to ±20%. [`reset`](Self::reset) after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `base` and never above `max` (before jitter).
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The agent's default for talking to the server: 1 s doubling up to 2 min.
    pub fn for_server() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(120))
    }

    /// The next delay with `jitter` in `[-1, 1]`; advances the attempt count.
    pub fn next_delay_with(&mut self, jitter: f64) -> Duration {
        let exponent = self.attempt.min(31);
        self.attempt = self.attempt.saturating_add(1);
        let raw = self
            .base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.max)
            .min(self.max);
        raw.mul_f64(1.0 + BACKOFF_JITTER * jitter.clamp(-1.0, 1.0))
    }

    /// The next delay with random jitter.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(random_jitter())
    }

    /// Starts again from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn renewal_is_at_half_life_without_jitter() {
        assert_eq!(renewal_time(at(1000), at(4600), 0.0), at(2800));
    }

    #[test]
    fn jitter_moves_renewal_by_ten_percent_of_half_life_at_most() {
        let (nb, na) = (at(0), at(3600));
        assert_eq!(renewal_time(nb, na, 1.0), at(1980));
        assert_eq!(renewal_time(nb, na, -1.0), at(1620));
        assert_eq!(renewal_time(nb, na, 5.0), at(1980), "clamped");
        assert_eq!(renewal_time(nb, na, -5.0), at(1620), "clamped");

        for _ in 0..1000 {
            let t = renewal_time(nb, na, random_jitter());
            assert!(t >= at(1620) && t <= at(1980), "{t:?}");
        }
    }

    #[test]
    fn inverted_validity_is_due_at_once() {
        assert_eq!(renewal_time(at(100), at(50), 0.0), at(100));
        assert!(should_renew(at(100), at(100), at(50), 1.0));
    }

    #[test]
    fn should_renew_compares_with_the_renewal_point() {
        let (nb, na) = (at(0), at(100));
        assert!(!should_renew(at(49), nb, na, 0.0));
        assert!(should_renew(at(50), nb, na, 0.0));
        assert!(!should_renew(at(54), nb, na, 1.0));
        assert!(should_renew(at(55), nb, na, 1.0));
        assert!(should_renew(at(45), nb, na, -1.0));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        let delays: Vec<u64> = (0..6)
            .map(|_| backoff.next_delay_with(0.0).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(backoff.attempts(), 6);

        backoff.reset();
        assert_eq!(backoff.next_delay_with(0.0), Duration::from_secs(1));
    }

    #[test]
    fn backoff_jitter_is_bounded() {
        let mut backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        assert_eq!(backoff.next_delay_with(1.0), Duration::from_secs(12));
        assert_eq!(backoff.next_delay_with(-1.0), Duration::from_secs(8));
        for _ in 0..100 {
            let d = backoff.next_delay();
            assert!(d >= Duration::from_secs(8) && d <= Duration::from_secs(12));
        }
    }

    #[test]
    fn backoff_survives_many_attempts() {
        let mut backoff = Backoff::for_server();
        for _ in 0..200 {
            assert!(backoff.next_delay_with(0.0) <= Duration::from_secs(120));
        }
    }
}
