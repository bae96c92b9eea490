//! When a failed delivery is tried again, pure: the `[webhooks] retry`
//! list with jitter, an answer's `Retry-After` (429 and 503) as a floor,
//! and giving up after the last entry. Times come in as arguments (the
//! caller's clock), so tables test it without a runtime.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The most a `Retry-After` can push the next attempt out.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// How far jitter moves a wait: ±10 %.
pub const JITTER: f64 = 0.1;

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// That was the last attempt the schedule allows.
    GiveUp,
}

/// After the `attempts`-th attempt (1 = the first) failed at `now`: the
/// wait is `retry[attempts - 1]` moved by jitter (`unit` in `[0, 1)`
/// picks where in ±10 %), and never shorter than `retry_after`.
pub fn after_failure(
    retry: &[Duration],
    attempts: u32,
    now: DateTime<Utc>,
    retry_after: Option<Duration>,
    unit: f64,
) -> Next {
    let index = usize::try_from(attempts.saturating_sub(1)).unwrap_or(usize::MAX);
    let Some(base) = retry.get(index) else {
        return Next::GiveUp;
    };
    let mut wait = jittered(*base, unit);
    if let Some(floor) = retry_after {
        wait = wait.max(floor.min(MAX_RETRY_AFTER));
    }
    let wait = chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX);
    Next::RetryAt(
        now.checked_add_signed(wait)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    )
}

/// `base` scaled by a factor in `[1 - JITTER, 1 + JITTER)`.
pub fn jittered(base: Duration, unit: f64) -> Duration {
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.5
    };
    base.mul_f64(1.0 - JITTER + 2.0 * JITTER * unit)
}

/// A `Retry-After` value: delay seconds or an HTTP date (RFC 9110), as a
/// wait from `now`. `None` when it is neither.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// How long to sleep until `at` from `now` (zero when it is past).
pub fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_schedule_with_an_injected_clock() {
        let default: Vec<Duration> = crate::config::DEFAULT_WEBHOOK_RETRY
            .iter()
            .map(|s| crate::config::parse_duration(s).expect("duration"))
            .collect();
        let now = t("2026-01-01T00:00:00Z");
        // (schedule, attempts so far, Retry-After, jitter unit, expected)
        type Case<'a> = (&'a [Duration], u32, Option<Duration>, f64, Next);
        let cases: Vec<Case> = vec![
            // Middle of the jitter range: exactly the schedule.
            (
                &default,
                1,
                None,
                0.5,
                Next::RetryAt(t("2026-01-01T00:00:05Z")),
            ),
            (
                &default,
                2,
                None,
                0.5,
                Next::RetryAt(t("2026-01-01T00:05:00Z")),
            ),
            (
                &default,
                4,
                None,
                0.5,
                Next::RetryAt(t("2026-01-01T02:00:00Z")),
            ),
            (
                &default,
                9,
                None,
                0.5,
                Next::RetryAt(t("2026-01-02T00:00:00Z")),
            ),
            // After the ninth retry (ten attempts) the event is given up.
            (&default, 10, None, 0.5, Next::GiveUp),
            (&default, 11, None, 0.5, Next::GiveUp),
            // The jitter's ends: -10 % and (almost) +10 %.
            (
                &default,
                2,
                None,
                0.0,
                Next::RetryAt(t("2026-01-01T00:04:30Z")),
            ),
            (
                &default,
                3,
                None,
                1.0,
                Next::RetryAt(t("2026-01-01T00:33:00Z")),
            ),
            // Retry-After is a floor, capped at a day.
            (
                &default,
                1,
                Some(secs(120)),
                0.5,
                Next::RetryAt(t("2026-01-01T00:02:00Z")),
            ),
            (
                &default,
                2,
                Some(secs(1)),
                0.5,
                Next::RetryAt(t("2026-01-01T00:05:00Z")),
            ),
            (
                &default,
                1,
                Some(secs(90 * 86_400)),
                0.5,
                Next::RetryAt(t("2026-01-02T00:00:00Z")),
            ),
            // An empty schedule: one attempt only.
            (&[], 1, None, 0.5, Next::GiveUp),
        ];
        for (i, (retry, attempts, ra, unit, want)) in cases.into_iter().enumerate() {
            let got = after_failure(retry, attempts, now, ra, unit);
            assert_eq!(
                got, want,
                "case {i}: attempts {attempts}, retry-after {ra:?}"
            );
        }
    }

    #[test]
    fn retry_after_as_seconds_or_http_date() {
        let now = t("2015-10-21T07:28:00Z");
        let cases = [
            ("120", Some(secs(120))),
            (" 0 ", Some(secs(0))),
            ("Wed, 21 Oct 2015 07:30:00 GMT", Some(secs(120))),
            ("Wed, 21 Oct 2015 07:00:00 GMT", Some(secs(0))),
            ("soon", None),
            ("-5", None),
            ("", None),
        ];
        for (v, want) in cases {
            assert_eq!(parse_retry_after(v, now), want, "{v:?}");
        }
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for i in 0..=100 {
            let d = jittered(secs(100), f64::from(i) / 100.0);
            assert!(d >= secs(90) && d <= secs(110), "{d:?}");
        }
        assert_eq!(jittered(secs(100), f64::NAN), secs(100));
    }
}
