//! Modem health: a circuit breaker that takes a modem that keeps failing
//! sends out of rotation for a cooldown, and lets it back by itself.
//!
//! Pure: the caller passes `now`. Which failures count is decided by the
//! caller (see [`counts_against_modem`]); per-message errors never do.

use std::time::{Duration, Instant};

use super::types::ErrorClass;

/// Circuit breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// Consecutive failed sends that take the modem out of rotation.
    pub failure_threshold: u32,
    /// How long the first trip lasts; each further trip doubles it.
    pub cooldown: Duration,
    /// The longest a trip lasts.
    pub max_cooldown: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            cooldown: Duration::from_secs(60),
            max_cooldown: Duration::from_secs(3600),
        }
    }
}

/// True for failures that say something about the modem or its SIM rather
/// than about the message. `NotReady` counts too: a modem whose status says
/// ready but refuses sends must leave the rotation, or messages would bounce
/// off it without end (a `NotReady` does not count as a message attempt).
pub fn counts_against_modem(class: ErrorClass) -> bool {
    !matches!(class, ErrorClass::Permanent)
}

/// The breaker state of one modem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    consecutive: u32,
    trips: u32,
    /// Set while tripped, kept after the cooldown ends until a success, so a
    /// failure of the first trial send trips again at once.
    out_until: Option<Instant>,
}

impl Health {
    pub fn new() -> Self {
        Self::default()
    }

    /// May the modem be given work at `now`?
    pub fn available(&self, now: Instant) -> bool {
        self.out_until.is_none_or(|u| now >= u)
    }

    /// The end of the current cooldown, if the modem is out at `now`.
    pub fn out_until(&self, now: Instant) -> Option<Instant> {
        self.out_until.filter(|&u| u > now)
    }

    /// How many times the breaker tripped since the last success.
    pub fn trips(&self) -> u32 {
        self.trips
    }

    /// A send went through: everything is forgiven.
    pub fn on_success(&mut self) {
        *self = Self::default();
    }

    /// A send failed in a way that counts against the modem. Returns the end
    /// of the cooldown when this failure takes the modem out.
    pub fn on_failure(&mut self, now: Instant, cfg: &HealthConfig) -> Option<Instant> {
        match self.out_until {
            // A send that started before the trip: already out, nothing new.
            Some(u) if now < u => None,
            // The first send after a cooldown failed: out again, for longer.
            Some(_) => Some(self.trip(now, cfg)),
            None => {
                self.consecutive = self.consecutive.saturating_add(1);
                (self.consecutive >= cfg.failure_threshold.max(1)).then(|| self.trip(now, cfg))
            }
        }
    }

    fn trip(&mut self, now: Instant, cfg: &HealthConfig) -> Instant {
        let factor = 1u32.checked_shl(self.trips).unwrap_or(u32::MAX);
        let cooldown = cfg
            .cooldown
            .checked_mul(factor)
            .unwrap_or(cfg.max_cooldown)
            .min(cfg.max_cooldown);
        self.trips = self.trips.saturating_add(1);
        self.consecutive = 0;
        let until = now + cooldown;
        self.out_until = Some(until);
        until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug)]
    enum Ev {
        Fail(u64),
        Ok,
        /// Expect available at this second.
        Up(u64),
        /// Expect out at this second, until the given second.
        Down(u64, u64),
    }

    fn check(name: &str, events: &[Ev]) {
        let cfg = HealthConfig {
            failure_threshold: 2,
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(35),
        };
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut h = Health::new();
        for (i, ev) in events.iter().enumerate() {
            match *ev {
                Ev::Fail(s) => {
                    h.on_failure(at(s), &cfg);
                }
                Ev::Ok => h.on_success(),
                Ev::Up(s) => assert!(h.available(at(s)), "{name}: step {i}: up at {s}"),
                Ev::Down(s, until) => {
                    assert!(!h.available(at(s)), "{name}: step {i}: down at {s}");
                    assert_eq!(h.out_until(at(s)), Some(at(until)), "{name}: step {i}");
                }
            }
        }
    }

    #[test]
    fn breaker_table() {
        use Ev::*;
        let table: &[(&str, &[Ev])] = &[
            ("one failure is tolerated", &[Fail(0), Up(0)]),
            ("threshold trips", &[Fail(0), Fail(1), Down(1, 11), Up(11)]),
            (
                "a success in between resets",
                &[Fail(0), Ok, Fail(1), Up(1)],
            ),
            (
                "back by itself, then a failed trial doubles",
                &[Fail(0), Fail(0), Up(10), Fail(12), Down(12, 32), Up(32)],
            ),
            (
                "doubling is capped",
                &[
                    Fail(0),
                    Fail(0),
                    Fail(10),
                    Fail(30),
                    Down(30, 65),
                    Fail(65),
                    Down(65, 100),
                ],
            ),
            (
                "failures while out do not extend",
                &[Fail(0), Fail(0), Fail(5), Down(5, 10)],
            ),
            (
                "success after a trip forgets the trips",
                &[
                    Fail(0),
                    Fail(0),
                    Ok,
                    Fail(20),
                    Up(20),
                    Fail(21),
                    Down(21, 31),
                ],
            ),
        ];
        assert!(!table.is_empty());
        for (name, events) in table {
            check(name, events);
        }
    }

    #[test]
    fn which_failures_count() {
        let table = [
            (ErrorClass::RetryHere, true),
            (ErrorClass::TryAnotherSim, true),
            (ErrorClass::Uncertain, true),
            (ErrorClass::Permanent, false),
            (ErrorClass::NotReady, true),
        ];
        assert!(!table.is_empty());
        for (class, counts) in table {
            assert_eq!(counts_against_modem(class), counts, "{class:?}");
        }
    }
}
