//! What a failed attempt leads to: another attempt later (exponential backoff, full jitter) or
//! the end (`dead`).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;

use crate::config::RetryConfig;

/// Why one delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt: connection errors, timeouts, 408, 429, 5xx, broker errors.
    Retryable(String),
    /// Another attempt would fail the same way: other 4xx, 3xx, refused destinations, bad jobs.
    Permanent(String),
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Failure::Retryable(m) | Failure::Permanent(m) => m,
        }
    }
}

/// The limits that apply to one fire: the runner's defaults, overridden by `job.retry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_attempts: u32,
    pub max_age: Duration,
}

/// What to record after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    RetryAt(DateTime<Utc>, String),
    Dead(String),
}

/// The ceiling of the delay after failed attempt `attempt` (1-based): `base * 2^(attempt-1)`,
/// at most `cap`.
pub fn backoff_ceiling(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).min(32);
    base.checked_mul(1u32 << doublings.min(31))
        .map_or(cap, |d| d.min(cap))
}

/// Full jitter: uniform in `0..=ceiling`, so runners that failed together do not retry together.
pub fn backoff(attempt: u32, cfg: &RetryConfig, rng: &mut impl Rng) -> Duration {
    let ceiling = backoff_ceiling(attempt, cfg.base, cfg.cap);
    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rng.gen_range(0..=ms))
}

/// Decides the fate of a fire whose attempt `attempt` failed at `now`. The age limit counts
/// from the fire's creation (not its slot), so a late or replayed fire gets its full retry
/// window too.
pub fn verdict(
    failure: &Failure,
    attempt: u32,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
    limits: Limits,
    cfg: &RetryConfig,
    rng: &mut impl Rng,
) -> Verdict {
    let msg = failure.message();
    match failure {
        Failure::Permanent(_) => Verdict::Dead(msg.to_owned()),
        Failure::Retryable(_) if attempt >= limits.max_attempts => {
            Verdict::Dead(format!("{msg} (gave up after {attempt} attempts)"))
        }
        Failure::Retryable(_) => {
            let delay = TimeDelta::from_std(backoff(attempt, cfg, rng)).unwrap_or(TimeDelta::MAX);
            let retry_at = now + delay;
            let max_age = TimeDelta::from_std(limits.max_age).unwrap_or(TimeDelta::MAX);
            if retry_at > created_at + max_age {
                Verdict::Dead(format!(
                    "{msg} (gave up: older than the retry max age of {} s after {attempt} attempts)",
                    limits.max_age.as_secs()
                ))
            } else {
                Verdict::RetryAt(retry_at, msg.to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn ceiling_doubles_to_the_cap() {
        let (b, c) = (Duration::from_secs(1), Duration::from_secs(600));
        let got: Vec<u64> = (1..=12)
            .map(|a| backoff_ceiling(a, b, c).as_secs())
            .collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(backoff_ceiling(u32::MAX, b, c), c);
    }

    #[test]
    fn full_jitter_stays_under_the_ceiling_and_spreads() {
        let cfg = RetryConfig::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for attempt in 1..=12 {
            let ceiling = backoff_ceiling(attempt, cfg.base, cfg.cap);
            let samples: Vec<Duration> =
                (0..500).map(|_| backoff(attempt, &cfg, &mut rng)).collect();
            assert!(samples.iter().all(|d| *d <= ceiling));
            let mean = samples.iter().sum::<Duration>() / 500;
            // Uniform in 0..=ceiling: the mean sits near half the ceiling.
            assert!(
                mean > ceiling * 4 / 10 && mean < ceiling * 6 / 10,
                "{attempt}: {mean:?}"
            );
        }
    }

    #[test]
    fn verdicts() {
        let cfg = RetryConfig::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let limits = Limits {
            max_attempts: 3,
            max_age: Duration::from_secs(3600),
        };
        let retry = Failure::Retryable("HTTP 503".into());
        let Verdict::RetryAt(at, msg) = verdict(&retry, 1, t0, t0, limits, &cfg, &mut rng) else {
            panic!()
        };
        assert!(at >= t0 && at <= t0 + TimeDelta::seconds(1));
        assert_eq!(msg, "HTTP 503");
        assert!(
            matches!(verdict(&retry, 3, t0, t0, limits, &cfg, &mut rng), Verdict::Dead(m) if m.contains("3 attempts"))
        );
        let late = t0 + TimeDelta::seconds(3599);
        let many = Limits {
            max_attempts: 100,
            ..limits
        };
        // Attempt 12's ceiling is 600 s: almost surely past the hour.
        let dead = (0..20).any(|_| matches!(verdict(&retry, 12, t0, late, many, &cfg, &mut rng), Verdict::Dead(m) if m.contains("max age")));
        assert!(dead);
        let perm = Failure::Permanent("HTTP 400".into());
        assert_eq!(
            verdict(&perm, 1, t0, t0, limits, &cfg, &mut rng),
            Verdict::Dead("HTTP 400".into())
        );
    }
}
