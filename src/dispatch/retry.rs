//! Retry schedule and failure classification: exponential backoff with a
//! deterministic jitter, and what to do with a part whose send failed.
//!
//! Pure: explicit `now`, no clock reads, no I/O. Does not decide which SIM
//! is tried next (that is [`super::policy::choose`]).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::types::{Disposition, ErrorClass};

/// Retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub base: Duration,
    /// Longest delay between retries.
    pub max: Duration,
    /// Attempts of one part before it fails for good.
    pub max_attempts: u32,
    /// Attempts on the same SIM after `RetryHere` before failing over.
    pub retry_here: u32,
    /// Whether a part that may have left (`Uncertain`) is sent again.
    /// Default `true`: a duplicate beats a lost message.
    pub resend_uncertain: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(10),
            max: Duration::from_secs(600),
            max_attempts: 5,
            retry_here: 2,
            resend_uncertain: true,
        }
    }
}

/// SplitMix64: a small, well-mixed deterministic hash for the jitter.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Delay before retry number `attempt` (1 = first retry): `base * 2^(attempt-1)`
/// capped at `max`, then jittered into `[d/2, d]` by a hash of `seed` and
/// `attempt`, so many messages failing together do not retry together, yet
/// the same message always gets the same schedule.
pub fn backoff(attempt: u32, base: Duration, max: Duration, seed: u64) -> Duration {
    let shift = attempt.saturating_sub(1).min(63);
    let d = base
        .checked_mul(1u32.checked_shl(shift).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    let half = d / 2;
    let span = u64::try_from((d - half).as_millis()).unwrap_or(u64::MAX);
    let jitter = mix(seed ^ u64::from(attempt).rotate_left(32)) % span.saturating_add(1);
    (half + Duration::from_millis(jitter)).min(d)
}

/// `now + d`, saturating at the end of time.
pub fn later(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// What to do with a part whose send failed with `class`, `attempts` being
/// the attempts made so far including this one.
///
/// - `RetryHere`: same SIM after a backoff while `attempts < retry_here`, then
///   fail over; `Permanent` once `max_attempts` are spent.
/// - `TryAnotherSim`: fail over at once; `Permanent` once attempts are spent.
/// - `Permanent`: `Permanent`.
/// - `Uncertain`: resent on the same SIM (it may have gone out there) when
///   `resend_uncertain`, otherwise `Permanent`.
/// - `NotReady`: the modem never took it; fail over at once, whatever the
///   attempt count (the attempt does not count).
pub fn classify(
    class: ErrorClass,
    attempts: u32,
    policy: &RetryPolicy,
    seed: u64,
    now: DateTime<Utc>,
) -> Disposition {
    let wait = || later(now, backoff(attempts, policy.base, policy.max, seed));
    let spent = attempts >= policy.max_attempts;
    match class {
        ErrorClass::NotReady => Disposition::Failover(now),
        ErrorClass::Permanent => Disposition::Permanent,
        _ if spent => Disposition::Permanent,
        ErrorClass::RetryHere if attempts < policy.retry_here => Disposition::RetryAt(wait()),
        ErrorClass::RetryHere => Disposition::Failover(wait()),
        ErrorClass::TryAnotherSim => Disposition::Failover(now),
        ErrorClass::Uncertain if policy.resend_uncertain => Disposition::RetryAt(wait()),
        ErrorClass::Uncertain => Disposition::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq)]
    enum Want {
        Here,
        Over,
        OverNow,
        Perm,
    }

    fn check(name: &str, class: ErrorClass, attempts: u32, resend: bool, want: Want) {
        let policy = RetryPolicy {
            base: Duration::from_secs(10),
            max: Duration::from_secs(600),
            max_attempts: 4,
            retry_here: 2,
            resend_uncertain: resend,
        };
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("valid timestamp");
        let got = classify(class, attempts, &policy, 7, now);
        let ok = match (&want, got) {
            (Want::Here, Disposition::RetryAt(t)) => t > now,
            (Want::Over, Disposition::Failover(t)) => t > now,
            (Want::OverNow, Disposition::Failover(t)) => t == now,
            (Want::Perm, Disposition::Permanent) => true,
            _ => false,
        };
        assert!(ok, "{name}: wanted {want:?}, got {got:?}");
    }

    #[test]
    fn classify_table() {
        use ErrorClass::*;
        let table = [
            ("retry here, first attempt", RetryHere, 1, true, Want::Here),
            (
                "retry here budget spent: fail over",
                RetryHere,
                2,
                true,
                Want::Over,
            ),
            (
                "retry here, all attempts spent",
                RetryHere,
                4,
                true,
                Want::Perm,
            ),
            ("another SIM at once", TryAnotherSim, 1, true, Want::OverNow),
            (
                "another SIM, attempts spent",
                TryAnotherSim,
                4,
                true,
                Want::Perm,
            ),
            ("permanent stays permanent", Permanent, 1, true, Want::Perm),
            (
                "uncertain resent on the same SIM",
                Uncertain,
                1,
                true,
                Want::Here,
            ),
            ("uncertain not resent", Uncertain, 1, false, Want::Perm),
            ("uncertain, attempts spent", Uncertain, 4, true, Want::Perm),
            ("not ready does not count", NotReady, 9, true, Want::OverNow),
        ];
        assert!(!table.is_empty());
        for (name, class, attempts, resend, want) in table {
            check(name, class, attempts, resend, want);
        }
    }

    #[test]
    fn backoff_table() {
        let s = Duration::from_secs;
        // (attempt, base, max, lower bound, upper bound)
        let table = [
            (1, s(10), s(600), s(5), s(10)),
            (2, s(10), s(600), s(10), s(20)),
            (4, s(10), s(600), s(40), s(80)),
            (10, s(10), s(600), s(300), s(600)),
            (200, s(10), s(600), s(300), s(600)),
            (0, s(10), s(600), s(5), s(10)),
            (3, Duration::ZERO, s(600), Duration::ZERO, Duration::ZERO),
        ];
        assert!(!table.is_empty());
        for (attempt, base, max, lo, hi) in table {
            for seed in [0, 1, 42, u64::MAX] {
                let d = backoff(attempt, base, max, seed);
                assert!(lo <= d && d <= hi, "attempt {attempt} seed {seed}: {d:?}");
                assert_eq!(d, backoff(attempt, base, max, seed), "deterministic");
            }
        }
    }

    proptest! {
        #[test]
        fn backoff_bounded_and_monotone_ceiling(
            attempt in 0u32..1000, base_ms in 0u64..100_000, max_ms in 0u64..10_000_000, seed: u64,
        ) {
            let base = Duration::from_millis(base_ms);
            let max = Duration::from_millis(max_ms);
            let d = backoff(attempt, base, max, seed);
            prop_assert!(d <= max);
            prop_assert!(d >= base.min(max) / 2);
        }

    }
}
