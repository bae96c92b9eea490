//! Per-SIM send counters over the trailing minute, hour and day, and the
//! moment a capped SIM may send again. Pure: the caller passes `now`.
//!
//! Does not persist anything: at start the dispatcher seeds the windows from
//! the store's `usage`, which counts what was sent before a restart.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::policy::Caps;
use super::types::Usage;

pub const MINUTE: Duration = Duration::from_secs(60);
pub const HOUR: Duration = Duration::from_secs(3600);
pub const DAY: Duration = Duration::from_secs(86_400);

/// Timestamps of the sends of one SIM within the last day, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateWindows {
    sends: VecDeque<Instant>,
}

impl RateWindows {
    pub fn new() -> Self {
        Self::default()
    }

    /// Windows holding sends known only as counts (from the store after a
    /// restart). Each send is placed at the latest moment it can have
    /// happened, so a seeded window frees no earlier than the real one would:
    /// caps stay hard across restarts.
    pub fn seeded(usage: Usage, now: Instant) -> Self {
        let minute = usage.last_minute;
        let hour = usage.last_hour.saturating_sub(minute);
        let day = usage.last_day.saturating_sub(usage.last_hour.max(minute));
        let at = |ago: Duration| now.checked_sub(ago).unwrap_or(now);
        let mut w = Self::new();
        for (count, t) in [(day, at(HOUR)), (hour, at(MINUTE)), (minute, now)] {
            for _ in 0..count {
                w.record(t);
            }
        }
        w
    }

    /// Counts one send at `at`.
    pub fn record(&mut self, at: Instant) {
        let pos = self.sends.partition_point(|&t| t <= at);
        self.sends.insert(pos, at);
    }

    /// Sends in the trailing windows ending at `now`.
    pub fn usage(&mut self, now: Instant) -> Usage {
        self.prune(now);
        Usage {
            last_minute: self.count(MINUTE, now),
            last_hour: self.count(HOUR, now),
            last_day: self.count(DAY, now),
        }
    }

    /// `None` when `caps` allow a send at `now`; otherwise the earliest moment
    /// every capped window has room for one more send.
    pub fn next_free(&mut self, caps: &Caps, now: Instant) -> Option<Instant> {
        self.prune(now);
        [
            (caps.per_minute, MINUTE),
            (caps.per_hour, HOUR),
            (caps.per_day, DAY),
        ]
        .into_iter()
        .filter_map(|(cap, window)| self.free_at(cap?, window, now))
        .max()
    }

    fn in_window(&self, window: Duration, now: Instant) -> impl Iterator<Item = &Instant> {
        self.sends
            .iter()
            .filter(move |&&t| now.saturating_duration_since(t) < window)
    }

    fn count(&self, window: Duration, now: Instant) -> u32 {
        u32::try_from(self.in_window(window, now).count()).unwrap_or(u32::MAX)
    }

    /// When the window holds at most `cap - 1` sends again, if it is full now.
    fn free_at(&self, cap: u32, window: Duration, now: Instant) -> Option<Instant> {
        let inside: Vec<Instant> = self.in_window(window, now).copied().collect();
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        if inside.len() < cap {
            return None;
        }
        if cap == 0 {
            // A zero cap never frees; look again one window later.
            return Some(now + window);
        }
        // The send at index len - cap must age out for the count to drop below cap.
        inside.get(inside.len() - cap).map(|&t| t + window)
    }

    fn prune(&mut self, now: Instant) {
        while self
            .sends
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= DAY)
        {
            self.sends.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn caps(m: Option<u32>, h: Option<u32>, d: Option<u32>) -> Caps {
        Caps {
            per_minute: m,
            per_hour: h,
            per_day: d,
        }
    }

    /// (sends at these offsets in seconds, caps, query time, expected usage, expected next_free offset)
    type Case = (
        &'static str,
        &'static [u64],
        Caps,
        u64,
        (u32, u32, u32),
        Option<u64>,
    );

    fn check(case: &Case) {
        let (name, sends, caps, at, usage, free) = case;
        let t0 = Instant::now();
        let mut w = RateWindows::new();
        for &s in *sends {
            w.record(t0 + Duration::from_secs(s));
        }
        let now = t0 + Duration::from_secs(*at);
        let u = w.usage(now);
        assert_eq!(
            (u.last_minute, u.last_hour, u.last_day),
            *usage,
            "{name}: usage"
        );
        assert_eq!(
            w.next_free(caps, now),
            free.map(|s| t0 + Duration::from_secs(s)),
            "{name}: next_free"
        );
    }

    #[test]
    fn windows_table() {
        let table: &[Case] = &[
            ("empty", &[], caps(Some(1), None, None), 0, (0, 0, 0), None),
            (
                "under cap",
                &[0, 1],
                caps(Some(3), None, None),
                2,
                (2, 2, 2),
                None,
            ),
            (
                "minute full frees when oldest ages out",
                &[0, 10, 20],
                caps(Some(3), None, None),
                30,
                (3, 3, 3),
                Some(60),
            ),
            (
                "minute edge: a send exactly 60 s old is out",
                &[0, 10, 20],
                caps(Some(3), None, None),
                60,
                (2, 3, 3),
                None,
            ),
            (
                "cap 2 of 3 sends: second oldest must leave",
                &[0, 10, 20],
                caps(Some(2), None, None),
                30,
                (3, 3, 3),
                Some(70),
            ),
            (
                "hour cap dominates minute cap",
                &[0, 100, 200],
                caps(Some(10), Some(3), None),
                300,
                (0, 3, 3),
                Some(3600),
            ),
            (
                "both capped: the later window wins",
                &[3000, 3590],
                caps(Some(1), Some(2), None),
                3595,
                (1, 2, 2),
                Some(6600),
            ),
            (
                "day cap",
                &[0, 50_000],
                caps(None, None, Some(2)),
                60_000,
                (0, 0, 2),
                Some(86_400),
            ),
            (
                "older than a day is forgotten",
                &[0],
                caps(None, None, Some(1)),
                86_400,
                (0, 0, 0),
                None,
            ),
            (
                "no caps never wait",
                &[0, 0, 0, 0],
                Caps::default(),
                0,
                (4, 4, 4),
                None,
            ),
        ];
        assert!(!table.is_empty());
        for case in table {
            check(case);
        }
    }

    #[test]
    fn seeded_windows_free_no_earlier_than_real_ones() {
        let t0 = Instant::now() + DAY; // leave room to look back
        let usage = Usage {
            last_minute: 2,
            last_hour: 5,
            last_day: 9,
        };
        let mut w = RateWindows::seeded(usage, t0);
        assert_eq!(w.usage(t0), usage);
        let c = caps(Some(2), Some(5), Some(9));
        // Minute sends are placed at t0: the minute window frees a minute later,
        // the hour window (5 sends, 3 placed a minute back) frees at t0 + 59 min.
        assert_eq!(w.next_free(&c, t0), Some(t0 + DAY - HOUR));
        let only_minute = caps(Some(2), None, None);
        assert_eq!(w.next_free(&only_minute, t0), Some(t0 + MINUTE));
        let only_hour = caps(None, Some(5), None);
        assert_eq!(w.next_free(&only_hour, t0), Some(t0 + HOUR - MINUTE));
    }

    proptest! {
        /// Sending whenever `next_free` says so never exceeds any cap over a
        /// simulated day with a fake clock.
        #[test]
        fn caps_never_exceeded(
            m in 1u32..6, h in 1u32..40, d in 1u32..200,
            gaps in proptest::collection::vec(0u64..900, 1..400),
        ) {
            let c = caps(Some(m), Some(h), Some(d));
            let t0 = Instant::now();
            let mut now = t0;
            let mut w = RateWindows::new();
            let mut sent: Vec<Instant> = Vec::new();
            for gap in gaps {
                now += Duration::from_secs(gap);
                if let Some(t) = w.next_free(&c, now) {
                    prop_assert!(t > now, "next_free is in the future");
                    now = t;
                    prop_assert_eq!(w.next_free(&c, now), None, "free at next_free");
                }
                w.record(now);
                sent.push(now);
                for (cap, win) in [(m, MINUTE), (h, HOUR), (d, DAY)] {
                    let n = sent.iter().filter(|&&t| now.duration_since(t) < win).count();
                    prop_assert!(n <= cap as usize, "cap {} over {:?} exceeded: {}", cap, win, n);
                }
                if now.duration_since(t0) > DAY { break; }
            }
        }
    }
}
