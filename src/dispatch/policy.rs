//! Which SIM sends a message: the pure choice between modems.
//!
//! Owns the strategies (least-loaded, round-robin, weighted), prefix routes,
//! explicit modem / queue, pinning, sticky sender, caps, "tried" avoidance,
//! and the text-mode rule: a message that needs a user data header goes only
//! to a modem in PDU mode (and [`why_waiting`] says so when none is ready).
//! Takes explicit state and `now`; no I/O, no tokio. Does not count sends
//! (see [`super::rate`]) nor judge modem health (see [`super::health`]).

use std::collections::HashMap;
use std::time::Instant;

use super::health::Health;
use super::types::Usage;
use crate::modem::{ModemState, ModemStatus};

/// Hard per-SIM send caps; `None` = unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    pub per_minute: Option<u32>,
    pub per_hour: Option<u32>,
    pub per_day: Option<u32>,
}

impl Caps {
    /// Caps from configuration counts, where 0 means "no cap".
    pub fn from_counts(per_minute: u32, per_hour: u32, per_day: u32) -> Self {
        let cap = |n: u32| (n > 0).then_some(n);
        Self {
            per_minute: cap(per_minute),
            per_hour: cap(per_hour),
            per_day: cap(per_day),
        }
    }

    /// Does `usage` leave room for one more send?
    pub fn allows(&self, usage: &Usage) -> bool {
        let under = |cap: Option<u32>, used: u32| cap.is_none_or(|c| used < c);
        under(self.per_minute, usage.last_minute)
            && under(self.per_hour, usage.last_hour)
            && under(self.per_day, usage.last_day)
    }
}

/// One modem as the choice sees it at `now`.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub name: &'a str,
    /// The modem is up and registered.
    pub ready: bool,
    /// The modem works in text mode: no user data header possible.
    pub text_mode: bool,
    /// A send is in flight on it (one at a time per modem).
    pub busy: bool,
    pub weight: u32,
    pub queues: &'a [String],
    pub caps: Caps,
    pub usage: Usage,
    /// When the caps allow the next send, if they do not now
    /// (from [`super::rate::RateWindows::next_free`]).
    pub cap_free_at: Option<Instant>,
    /// Parts in flight or sent recently: what least-loaded compares.
    pub load: u32,
    pub health: &'a Health,
}

/// What a message asks of the choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    pub explicit_modem: Option<String>,
    pub queue: Option<String>,
    pub destination: String,
    /// Parts already went out through this modem: only it may continue.
    pub pinned: Option<String>,
    /// Modems that already failed this message.
    pub tried: Vec<String>,
    /// The modem that last sent to this recipient.
    pub sticky: Option<String>,
    /// The message needs a user data header (several parts, a national
    /// table): text-mode modems cannot send it.
    pub needs_udh: bool,
}

/// How to spread messages over eligible modems.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strategy {
    /// The modem with the least load; ties go to the first configured.
    #[default]
    LeastLoaded,
    /// Each eligible modem in turn.
    RoundRobin,
    /// Smooth weighted round-robin: shares proportional to `weight`;
    /// weight 0 takes only messages that name the modem.
    Weighted,
}

/// The dispatch policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub strategy: Strategy,
    /// Prefer the modem that last sent to the same recipient.
    pub sticky: bool,
}

/// Destination prefix routes: a prefix names the group of modems that may
/// send to it. The longest matching prefix wins; no match = every modem.
/// A leading `+` is ignored on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    routes: Vec<(String, Vec<String>)>,
}

impl Routes {
    pub fn new<P: Into<String>>(routes: impl IntoIterator<Item = (P, Vec<String>)>) -> Self {
        let routes = routes
            .into_iter()
            .map(|(p, g)| (p.into().trim_start_matches('+').to_string(), g))
            .collect();
        Self { routes }
    }

    /// The prefix and group of the longest route matching `destination`.
    pub fn group_for(&self, destination: &str) -> Option<(&str, &[String])> {
        let dest = destination.trim_start_matches('+');
        self.routes
            .iter()
            .filter(|(p, _)| dest.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(p, g)| (p.as_str(), g.as_slice()))
    }
}

/// State the rotating strategies carry from one choice to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundRobin {
    last: Option<String>,
    current: HashMap<String, i64>,
}

impl RoundRobin {
    pub fn new() -> Self {
        Self::default()
    }

    /// The first eligible modem after the last one chosen, in configured order.
    fn next_in_turn(&mut self, cands: &[Candidate], eligible: &[usize]) -> Option<usize> {
        let after = self
            .last
            .as_deref()
            .and_then(|l| cands.iter().position(|c| c.name == l));
        let pick = match after {
            Some(a) => eligible
                .iter()
                .copied()
                .find(|&i| i > a)
                .or_else(|| eligible.first().copied()),
            None => eligible.first().copied(),
        }?;
        self.last = cands.get(pick).map(|c| c.name.to_string());
        Some(pick)
    }

    /// Smooth weighted round-robin (as nginx does it) over the eligible set.
    fn next_weighted(&mut self, cands: &[Candidate], eligible: &[usize]) -> Option<usize> {
        let total: i64 = eligible
            .iter()
            .filter_map(|&i| cands.get(i))
            .map(|c| i64::from(c.weight))
            .sum();
        let mut best: Option<(usize, i64)> = None;
        for &i in eligible {
            let Some(c) = cands.get(i) else { continue };
            let cur = self.current.entry(c.name.to_string()).or_insert(0);
            *cur += i64::from(c.weight);
            if best.is_none_or(|(_, b)| *cur > b) {
                best = Some((i, *cur));
            }
        }
        let (pick, _) = best?;
        if let Some(c) = cands.get(pick) {
            if let Some(cur) = self.current.get_mut(c.name) {
                *cur -= total;
            }
        }
        Some(pick)
    }
}

/// The outcome of a choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Send through `cands[index]` now.
    Use(usize),
    /// Nothing can take it now. `until`: the earliest moment a cap window
    /// frees or a cooldown ends; `None`: only an event (a modem goes idle or
    /// ready) can change that.
    Wait { until: Option<Instant> },
    /// Nothing could ever send this message; the reason says why.
    NoRoute(String),
}

/// Ready, and able to send this message at all (a text-mode modem cannot
/// send one that needs a UDH: such a message waits for a PDU-mode modem).
fn usable(c: &Candidate, msg: &Routing) -> bool {
    c.ready && !(msg.needs_udh && c.text_mode)
}

fn eligible(c: &Candidate, msg: &Routing, now: Instant) -> bool {
    usable(c, msg) && !c.busy && c.health.available(now) && c.caps.allows(&c.usage)
}

/// When a usable, idle candidate that is blocked only by time is free again.
fn free_at(c: &Candidate, msg: &Routing, now: Instant) -> Option<Instant> {
    if !usable(c, msg) || c.busy {
        return None;
    }
    let out = c.health.out_until(now);
    let capped = if c.caps.allows(&c.usage) {
        None
    } else {
        // A capped modem without a known free time: look again in a minute.
        Some(
            c.cap_free_at
                .filter(|&t| t > now)
                .unwrap_or(now + super::rate::MINUTE),
        )
    };
    out.max(capped)
}

/// Picks the modem for one message. See the module docs for the rules; in
/// order: a pin is absolute; an explicit modem or queue restricts the set
/// (and then prefix routes do not apply); otherwise the longest matching
/// route restricts it; modems already tried are avoided while an untried one
/// is ready; among the eligible (ready, idle, healthy, under its caps) the
/// sticky modem wins, else the strategy decides.
pub fn choose(
    cands: &[Candidate],
    msg: &Routing,
    policy: &Policy,
    routes: &Routes,
    rr: &mut RoundRobin,
    now: Instant,
) -> Choice {
    if let Some(pin) = &msg.pinned {
        return match cands.iter().position(|c| c.name == pin) {
            None => Choice::NoRoute(format!(
                "the message is pinned to modem {pin}, which is not configured"
            )),
            Some(i) if cands.get(i).is_some_and(|c| eligible(c, msg, now)) => Choice::Use(i),
            Some(i) => Choice::Wait {
                until: cands.get(i).and_then(|c| free_at(c, msg, now)),
            },
        };
    }

    let mut set: Vec<usize> = (0..cands.len()).collect();
    let keep = |set: &mut Vec<usize>, f: &dyn Fn(&Candidate) -> bool| {
        set.retain(|&i| cands.get(i).is_some_and(f));
    };
    if let Some(m) = &msg.explicit_modem {
        keep(&mut set, &|c| c.name == m);
        if set.is_empty() {
            return Choice::NoRoute(format!("unknown modem {m}"));
        }
    }
    if let Some(q) = &msg.queue {
        keep(&mut set, &|c| c.queues.iter().any(|x| x == q));
        if set.is_empty() {
            return Choice::NoRoute(format!("no modem serves queue {q}"));
        }
    }
    if msg.explicit_modem.is_none() && msg.queue.is_none() {
        if let Some((prefix, group)) = routes.group_for(&msg.destination) {
            keep(&mut set, &|c| group.iter().any(|g| g == c.name));
            if set.is_empty() {
                return Choice::NoRoute(format!("route {prefix} names no configured modem"));
            }
        }
    }
    if policy.strategy == Strategy::Weighted && msg.explicit_modem.is_none() {
        keep(&mut set, &|c| c.weight > 0);
        if set.is_empty() {
            return Choice::NoRoute("every modem that could send it has weight 0".into());
        }
    }

    let untried: Vec<usize> = set
        .iter()
        .copied()
        .filter(|&i| {
            cands
                .get(i)
                .is_some_and(|c| !msg.tried.iter().any(|t| t == c.name))
        })
        .collect();
    let pool = if untried
        .iter()
        .any(|&i| cands.get(i).is_some_and(|c| usable(c, msg)))
    {
        untried
    } else {
        set
    };

    let elig: Vec<usize> = pool
        .iter()
        .copied()
        .filter(|&i| cands.get(i).is_some_and(|c| eligible(c, msg, now)))
        .collect();
    if elig.is_empty() {
        let until = pool
            .iter()
            .filter_map(|&i| cands.get(i).and_then(|c| free_at(c, msg, now)))
            .min();
        return Choice::Wait { until };
    }

    if policy.sticky {
        if let Some(s) = &msg.sticky {
            if let Some(&i) = elig
                .iter()
                .find(|&&i| cands.get(i).is_some_and(|c| c.name == s))
            {
                return Choice::Use(i);
            }
        }
    }

    let pick = match policy.strategy {
        Strategy::LeastLoaded => elig
            .iter()
            .copied()
            .min_by_key(|&i| (cands.get(i).map_or(u32::MAX, |c| c.load), i)),
        Strategy::RoundRobin => rr.next_in_turn(cands, &elig),
        Strategy::Weighted => rr.next_weighted(cands, &elig),
    };
    match pick {
        Some(i) => Choice::Use(i),
        None => Choice::Wait { until: None },
    }
}

/// Why a queued message waits, when the reason is the text-mode rule: it
/// needs a user data header and the only ready modems are in text mode.
/// `modems` are the statuses of the configured modems; `None` when the rule
/// is not what holds the message.
pub fn why_waiting(needs_udh: bool, modems: &[ModemStatus]) -> Option<String> {
    let ready = || modems.iter().filter(|m| m.state == ModemState::Ready);
    let text_only = needs_udh && ready().next().is_some() && ready().all(|m| m.text_mode);
    text_only.then(|| {
        "needs a modem in PDU mode (long message / national table); only text-mode modems are ready"
            .to_string()
    })
}

#[cfg(test)]
mod tests;
