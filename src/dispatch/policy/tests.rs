//! Tables and properties for [`super::choose`].

use std::time::{Duration, Instant};

use proptest::prelude::{any, prop_assert, prop_assert_eq, prop_oneof, proptest, Just};
use proptest::strategy::Strategy as Gen;

use super::*;
use crate::dispatch::health::HealthConfig;

/// A candidate described for a table row.
#[derive(Clone, Debug)]
struct C {
    name: &'static str,
    ready: bool,
    text_mode: bool,
    busy: bool,
    weight: u32,
    queues: Vec<String>,
    per_minute: Option<u32>,
    used: u32,
    free_in: Option<u64>,
    load: u32,
    out_for: Option<u64>,
}

fn c(name: &'static str) -> C {
    C {
        name,
        ready: true,
        text_mode: false,
        busy: false,
        weight: 1,
        queues: Vec::new(),
        per_minute: None,
        used: 0,
        free_in: None,
        load: 0,
        out_for: None,
    }
}

impl C {
    fn down(mut self) -> Self {
        self.ready = false;
        self
    }
    fn text(mut self) -> Self {
        self.text_mode = true;
        self
    }
    fn busy(mut self) -> Self {
        self.busy = true;
        self
    }
    fn load(mut self, l: u32) -> Self {
        self.load = l;
        self
    }
    fn weight(mut self, w: u32) -> Self {
        self.weight = w;
        self
    }
    fn queue(mut self, q: &str) -> Self {
        self.queues.push(q.to_string());
        self
    }
    /// Capped: `cap` per minute all used, frees in `secs`.
    fn capped(mut self, cap: u32, secs: u64) -> Self {
        self.per_minute = Some(cap);
        self.used = cap;
        self.free_in = Some(secs);
        self
    }
    /// Out of rotation for `secs`.
    fn out(mut self, secs: u64) -> Self {
        self.out_for = Some(secs);
        self
    }
}

fn msg() -> Routing {
    Routing {
        destination: "+33612345678".into(),
        ..Routing::default()
    }
}

#[derive(Debug, PartialEq)]
enum Want {
    Use(&'static str),
    Wait(Option<u64>),
    NoRoute,
}

struct Row {
    name: &'static str,
    cands: Vec<C>,
    msg: Routing,
    policy: Policy,
    want: Want,
}

fn row(name: &'static str, cands: Vec<C>, msg: Routing, want: Want) -> Row {
    Row {
        name,
        cands,
        msg,
        policy: Policy::default(),
        want,
    }
}

fn routes() -> Routes {
    Routes::new([
        ("+49", vec!["de1".to_string(), "de2".to_string()]),
        ("49151", vec!["de2".to_string()]),
        ("+44", vec!["gone".to_string()]),
    ])
}

fn check(r: &Row) {
    let now = Instant::now();
    let trip = HealthConfig {
        failure_threshold: 1,
        cooldown: Duration::from_secs(1),
        max_cooldown: Duration::from_secs(1),
    };
    let healths: Vec<Health> = r
        .cands
        .iter()
        .map(|d| {
            let mut h = Health::new();
            if let Some(s) = d.out_for {
                let cfg = HealthConfig {
                    cooldown: Duration::from_secs(s),
                    max_cooldown: Duration::from_secs(s),
                    ..trip
                };
                h.on_failure(now, &cfg);
            }
            h
        })
        .collect();
    let cands: Vec<Candidate> = r
        .cands
        .iter()
        .zip(&healths)
        .map(|(d, h)| Candidate {
            name: d.name,
            ready: d.ready,
            text_mode: d.text_mode,
            busy: d.busy,
            weight: d.weight,
            queues: &d.queues,
            caps: Caps {
                per_minute: d.per_minute,
                ..Caps::default()
            },
            usage: Usage {
                last_minute: d.used,
                last_hour: d.used,
                last_day: d.used,
            },
            cap_free_at: d.free_in.map(|s| now + Duration::from_secs(s)),
            load: d.load,
            health: h,
        })
        .collect();
    let got = choose(
        &cands,
        &r.msg,
        &r.policy,
        &routes(),
        &mut RoundRobin::new(),
        now,
    );
    let got = match got {
        Choice::Use(i) => Want::Use(r.cands.get(i).map_or("?", |d| d.name)),
        Choice::Wait { until } => Want::Wait(until.map(|t| t.duration_since(now).as_secs())),
        Choice::NoRoute(_) => Want::NoRoute,
    };
    assert_eq!(got, r.want, "{}", r.name);
}

#[test]
fn text_mode_table() {
    let udh = || Routing {
        needs_udh: true,
        ..msg()
    };
    let table = vec![
        row(
            "plain text may use a text-mode modem",
            vec![c("t").text(), c("p").load(5)],
            msg(),
            Want::Use("t"),
        ),
        row(
            "a UDH skips the text-mode modem",
            vec![c("t").text(), c("p").load(5)],
            udh(),
            Want::Use("p"),
        ),
        row(
            "a UDH with only text-mode modems waits, never fails",
            vec![c("t").text(), c("u").text()],
            udh(),
            Want::Wait(None),
        ),
        row(
            "a UDH waits for the busy PDU modem",
            vec![c("t").text(), c("p").busy()],
            udh(),
            Want::Wait(None),
        ),
        row(
            "a UDH waits for the capped PDU modem's window",
            vec![c("t").text(), c("p").capped(1, 30)],
            udh(),
            Want::Wait(Some(30)),
        ),
        row(
            "pinned to a text-mode modem, a UDH waits",
            vec![c("t").text(), c("p")],
            Routing {
                pinned: Some("t".into()),
                ..udh()
            },
            Want::Wait(None),
        ),
        row(
            "explicit text-mode modem, a UDH waits",
            vec![c("t").text(), c("p")],
            Routing {
                explicit_modem: Some("t".into()),
                ..udh()
            },
            Want::Wait(None),
        ),
        row(
            "the tried PDU modem is used when the untried ones are text-mode",
            vec![c("t").text(), c("p")],
            Routing {
                tried: vec!["p".into()],
                ..udh()
            },
            Want::Use("p"),
        ),
    ];
    assert!(!table.is_empty());
    for r in &table {
        check(r);
    }
}

#[test]
fn why_waiting_table() {
    use crate::modem::{ModemState, ModemStatus};
    let modem = |ready: bool, text_mode: bool| {
        let mut s = ModemStatus::new("m");
        if ready {
            s.state = ModemState::Ready;
        }
        s.text_mode = text_mode;
        s
    };
    // (needs a UDH, modems as (ready, text mode), a reason given)
    type Row = (bool, &'static [(bool, bool)], bool);
    let table: &[Row] = &[
        (true, &[(true, true)], true),
        (true, &[(true, true), (false, false)], true),
        (true, &[(true, true), (true, false)], false),
        (true, &[(false, false)], false),
        (true, &[], false),
        (false, &[(true, true)], false),
    ];
    assert!(!table.is_empty());
    for (udh, modems, want) in table {
        let statuses: Vec<ModemStatus> = modems.iter().map(|&(r, t)| modem(r, t)).collect();
        let got = why_waiting(*udh, &statuses);
        assert_eq!(got.is_some(), *want, "{udh} {modems:?}");
        if let Some(reason) = got {
            assert!(reason.contains("PDU mode"), "{reason}");
        }
    }
}

#[test]
fn choose_table() {
    let pin = |m: &str| Routing {
        pinned: Some(m.into()),
        ..msg()
    };
    let explicit = |m: &str| Routing {
        explicit_modem: Some(m.into()),
        ..msg()
    };
    let to = |d: &str| Routing {
        destination: d.into(),
        ..msg()
    };
    let tried = |t: &[&str]| Routing {
        tried: t.iter().map(|s| s.to_string()).collect(),
        ..msg()
    };
    let sticky = |s: &str, t: &[&str]| Routing {
        sticky: Some(s.into()),
        tried: t.iter().map(|s| s.to_string()).collect(),
        ..msg()
    };
    let sticky_on = Policy {
        sticky: true,
        ..Policy::default()
    };
    let table = vec![
        // least-loaded
        row(
            "least loaded",
            vec![c("a").load(3), c("b").load(1), c("c").load(2)],
            msg(),
            Want::Use("b"),
        ),
        row(
            "tie goes to the first",
            vec![c("a").load(1), c("b").load(1)],
            msg(),
            Want::Use("a"),
        ),
        row(
            "busy is skipped",
            vec![c("a").busy(), c("b").load(9)],
            msg(),
            Want::Use("b"),
        ),
        row(
            "down is skipped",
            vec![c("a").down(), c("b")],
            msg(),
            Want::Use("b"),
        ),
        row(
            "capped is skipped",
            vec![c("a").capped(3, 20), c("b").load(5)],
            msg(),
            Want::Use("b"),
        ),
        row(
            "cooling down is skipped",
            vec![c("a").out(30), c("b").load(5)],
            msg(),
            Want::Use("b"),
        ),
        row(
            "all busy: wait for an event",
            vec![c("a").busy(), c("b").busy()],
            msg(),
            Want::Wait(None),
        ),
        row("nothing configured: wait", vec![], msg(), Want::Wait(None)),
        row(
            "capped and cooling: earliest free wins",
            vec![c("a").capped(1, 40), c("b").out(25), c("c").busy()],
            msg(),
            Want::Wait(Some(25)),
        ),
        row(
            "capped while cooling: the later of both",
            vec![c("a").capped(1, 40).out(60), c("b").capped(1, 50)],
            msg(),
            Want::Wait(Some(50)),
        ),
        // pinned
        row(
            "pinned goes to its pin",
            vec![c("a"), c("b").load(9)],
            pin("b"),
            Want::Use("b"),
        ),
        row(
            "pinned + capped waits for the window",
            vec![c("a"), c("b").capped(2, 15)],
            pin("b"),
            Want::Wait(Some(15)),
        ),
        row(
            "pinned + busy waits for an event",
            vec![c("a"), c("b").busy()],
            pin("b"),
            Want::Wait(None),
        ),
        row(
            "pinned + down waits",
            vec![c("a"), c("b").down()],
            pin("b"),
            Want::Wait(None),
        ),
        row(
            "pinned + tried still goes to the pin",
            vec![c("a"), c("b")],
            Routing {
                tried: vec!["b".into()],
                ..pin("b")
            },
            Want::Use("b"),
        ),
        row(
            "pinned to an unknown modem",
            vec![c("a")],
            pin("zz"),
            Want::NoRoute,
        ),
        // explicit and queues
        row(
            "explicit modem",
            vec![c("a"), c("b").load(9)],
            explicit("b"),
            Want::Use("b"),
        ),
        row(
            "explicit modem busy: wait",
            vec![c("a"), c("b").busy()],
            explicit("b"),
            Want::Wait(None),
        ),
        row(
            "explicit unknown modem",
            vec![c("a")],
            explicit("zz"),
            Want::NoRoute,
        ),
        row(
            "explicit weight 0 still sends",
            vec![c("a"), c("b").weight(0)],
            explicit("b"),
            Want::Use("b"),
        ),
        row(
            "queue restricts",
            vec![
                c("a"),
                c("b").queue("otp").load(5),
                c("c").queue("otp").load(2),
            ],
            Routing {
                queue: Some("otp".into()),
                ..msg()
            },
            Want::Use("c"),
        ),
        row(
            "unknown queue",
            vec![c("a")],
            Routing {
                queue: Some("otp".into()),
                ..msg()
            },
            Want::NoRoute,
        ),
        // routes
        row(
            "route restricts",
            vec![c("a"), c("de1").load(4), c("de2").load(5)],
            to("+4930123"),
            Want::Use("de1"),
        ),
        row(
            "longest prefix wins",
            vec![c("a"), c("de1"), c("de2").load(5)],
            to("+4915199"),
            Want::Use("de2"),
        ),
        row(
            "no route: every modem",
            vec![c("a").load(2), c("de1").load(1)],
            to("+3312345"),
            Want::Use("de1"),
        ),
        row(
            "route to an unknown group",
            vec![c("a")],
            to("+447700900"),
            Want::NoRoute,
        ),
        row(
            "route group busy: wait, others not used",
            vec![c("a"), c("de2").busy()],
            to("+4915100"),
            Want::Wait(None),
        ),
        row(
            "route + explicit: explicit wins",
            vec![c("a"), c("de1"), c("de2")],
            Routing {
                destination: "+4915100".into(),
                ..explicit("a")
            },
            Want::Use("a"),
        ),
        // tried
        row(
            "tried is avoided",
            vec![c("a"), c("b").load(9)],
            tried(&["a"]),
            Want::Use("b"),
        ),
        row(
            "tried avoided: wait for untried busy one",
            vec![c("a"), c("b").busy()],
            tried(&["a"]),
            Want::Wait(None),
        ),
        row(
            "all tried: use a tried one",
            vec![c("a").load(2), c("b").load(1)],
            tried(&["a", "b"]),
            Want::Use("b"),
        ),
        row(
            "untried are down: fall back to tried",
            vec![c("a"), c("b").down()],
            tried(&["a"]),
            Want::Use("a"),
        ),
        // sticky
        row(
            "sticky off ignores sticky",
            vec![c("a"), c("b").load(3)],
            sticky("b", &[]),
            Want::Use("a"),
        ),
        row(
            "sticky + tried: tried loses",
            vec![c("a").load(5), c("b"), c("c")],
            sticky("b", &["b"]),
            Want::Use("c"),
        ),
    ];
    let with_policy = |mut r: Row, p: Policy| {
        r.policy = p;
        r
    };
    let table: Vec<Row> = table
        .into_iter()
        .chain([
            with_policy(
                row(
                    "sticky prefers last modem",
                    vec![c("a"), c("b").load(3)],
                    sticky("b", &[]),
                    Want::Use("b"),
                ),
                sticky_on,
            ),
            with_policy(
                row(
                    "sticky busy: another one",
                    vec![c("a").load(3), c("b").busy()],
                    sticky("b", &[]),
                    Want::Use("a"),
                ),
                sticky_on,
            ),
            with_policy(
                row(
                    "sticky + tried: tried avoided",
                    vec![c("a").load(3), c("b")],
                    sticky("b", &["b"]),
                    Want::Use("a"),
                ),
                sticky_on,
            ),
            with_policy(
                row(
                    "sticky outside the route",
                    vec![c("a"), c("de1").load(2)],
                    Routing {
                        destination: "+4930".into(),
                        ..sticky("a", &[])
                    },
                    Want::Use("de1"),
                ),
                sticky_on,
            ),
            with_policy(
                row(
                    "weighted skips weight 0",
                    vec![c("a").weight(0), c("b").weight(1)],
                    msg(),
                    Want::Use("b"),
                ),
                Policy {
                    strategy: Strategy::Weighted,
                    sticky: false,
                },
            ),
            with_policy(
                row(
                    "weighted all 0",
                    vec![c("a").weight(0)],
                    msg(),
                    Want::NoRoute,
                ),
                Policy {
                    strategy: Strategy::Weighted,
                    sticky: false,
                },
            ),
            with_policy(
                row(
                    "round-robin starts at the first eligible",
                    vec![c("a").busy(), c("b"), c("c")],
                    msg(),
                    Want::Use("b"),
                ),
                Policy {
                    strategy: Strategy::RoundRobin,
                    sticky: false,
                },
            ),
        ])
        .collect();
    assert!(!table.is_empty());
    for r in &table {
        check(r);
    }
}

/// Picks `n` times among always-eligible modems and counts the picks.
fn spread(strategy: Strategy, weights: &[u32], n: usize) -> (Vec<usize>, Vec<usize>) {
    let names: Vec<String> = (0..weights.len()).map(|i| format!("m{i}")).collect();
    let health = Health::new();
    let mut counts = vec![0; weights.len()];
    let mut order = Vec::new();
    let mut rr = RoundRobin::new();
    let now = Instant::now();
    for _ in 0..n {
        let cands: Vec<Candidate> = names
            .iter()
            .zip(weights)
            .enumerate()
            .map(|(i, (name, &weight))| Candidate {
                name,
                ready: true,
                text_mode: false,
                busy: false,
                weight,
                queues: &[],
                caps: Caps::default(),
                usage: Usage::default(),
                cap_free_at: None,
                load: u32::try_from(counts.get(i).copied().unwrap_or(0)).unwrap_or(u32::MAX),
                health: &health,
            })
            .collect();
        let policy = Policy {
            strategy,
            sticky: false,
        };
        match choose(&cands, &msg(), &policy, &Routes::default(), &mut rr, now) {
            Choice::Use(i) => {
                counts[i] += 1;
                order.push(i);
            }
            other => panic!("{strategy:?}: {other:?}"),
        }
    }
    (counts, order)
}

#[test]
fn strategies_spread() {
    // (strategy, weights, picks, expected counts, expected first picks)
    type Spread = (
        Strategy,
        &'static [u32],
        usize,
        &'static [usize],
        &'static [usize],
    );
    let table: &[Spread] = &[
        (
            Strategy::LeastLoaded,
            &[1, 1, 1, 1],
            40,
            &[10, 10, 10, 10],
            &[0, 1, 2, 3, 0],
        ),
        (
            Strategy::RoundRobin,
            &[1, 1, 1, 1],
            10,
            &[3, 3, 2, 2],
            &[0, 1, 2, 3, 0, 1],
        ),
        (
            Strategy::Weighted,
            &[1, 2, 3, 4],
            100,
            &[10, 20, 30, 40],
            &[3, 2, 1, 3],
        ),
        (
            Strategy::Weighted,
            &[5, 1, 1],
            7,
            &[5, 1, 1],
            &[0, 0, 1, 0, 2, 0, 0],
        ),
    ];
    assert!(!table.is_empty());
    for (strategy, weights, n, want, first) in table {
        let (counts, order) = spread(*strategy, weights, *n);
        assert_eq!(&counts[..], *want, "{strategy:?} {weights:?}");
        assert_eq!(
            &order[..first.len()],
            *first,
            "{strategy:?} {weights:?} order"
        );
    }
}

#[test]
fn routes_longest_prefix() {
    let r = routes();
    let table = [
        ("+4915112", Some("49151")),
        ("4915112", Some("49151")),
        ("+4930", Some("49")),
        ("+33", None),
        ("", None),
    ];
    assert!(!table.is_empty());
    for (dest, want) in table {
        assert_eq!(r.group_for(dest).map(|(p, _)| p), want, "{dest}");
    }
}

fn arb_cand() -> impl Gen<Value = C> {
    (
        any::<bool>(),
        any::<bool>(),
        0u32..4,
        proptest::option::of(0u32..3),
        0u32..4,
        0u32..10,
        proptest::option::of(1u64..100),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(ready, busy, weight, per_minute, used, load, out_for, otp, text_mode)| C {
                name: "",
                ready,
                text_mode,
                busy,
                weight,
                queues: if otp { vec!["otp".into()] } else { Vec::new() },
                per_minute,
                used,
                free_in: Some(30),
                load,
                out_for,
            },
        )
}

proptest! {
    /// Whatever the input, a `Use` names an eligible candidate that matches
    /// the message's restrictions.
    #[test]
    fn choice_is_always_eligible(
        mut ds in proptest::collection::vec(arb_cand(), 0..6),
        strategy in prop_oneof![Just(Strategy::LeastLoaded), Just(Strategy::RoundRobin), Just(Strategy::Weighted)],
        sticky in any::<bool>(),
        pin in proptest::option::of(0usize..7),
        explicit in proptest::option::of(0usize..7),
        queue in any::<bool>(),
        tried in proptest::collection::vec(0usize..7, 0..3),
        dest in prop_oneof![Just("+4915100"), Just("+4930"), Just("+3312")],
        rounds in 1usize..4,
        needs_udh in any::<bool>(),
    ) {
        const NAMES: [&str; 7] = ["de1", "de2", "a", "b", "c", "d", "gone"];
        for (d, n) in ds.iter_mut().zip(NAMES) {
            d.name = n;
        }
        let now = Instant::now();
        let healths: Vec<Health> = ds.iter().map(|d| {
            let mut h = Health::new();
            if let Some(s) = d.out_for {
                let cfg = HealthConfig { failure_threshold: 1, cooldown: Duration::from_secs(s), max_cooldown: Duration::from_secs(s) };
                h.on_failure(now, &cfg);
            }
            h
        }).collect();
        let cands: Vec<Candidate> = ds.iter().zip(&healths).map(|(d, h)| Candidate {
            name: d.name, ready: d.ready, text_mode: d.text_mode, busy: d.busy, weight: d.weight, queues: &d.queues,
            caps: Caps { per_minute: d.per_minute, ..Caps::default() },
            usage: Usage { last_minute: d.used, last_hour: d.used, last_day: d.used },
            cap_free_at: d.free_in.map(|s| now + Duration::from_secs(s)),
            load: d.load, health: h,
        }).collect();
        let name = |i: usize| NAMES.get(i).map(|s| s.to_string());
        let m = Routing {
            explicit_modem: explicit.and_then(name),
            queue: queue.then(|| "otp".to_string()),
            destination: dest.to_string(),
            pinned: pin.and_then(name),
            tried: tried.into_iter().filter_map(name).collect(),
            sticky: Some("a".into()),
            needs_udh,
        };
        let policy = Policy { strategy, sticky };
        let mut rr = RoundRobin::new();
        for _ in 0..rounds {
            match choose(&cands, &m, &policy, &routes(), &mut rr, now) {
                Choice::Use(i) => {
                    let c = &cands[i];
                    prop_assert!(eligible(c, &m, now), "ineligible {:?}", c.name);
                    prop_assert!(!(needs_udh && c.text_mode), "a UDH to text-mode {:?}", c.name);
                    if let Some(p) = &m.pinned { prop_assert_eq!(c.name, p.as_str()); }
                    if m.pinned.is_none() {
                        if let Some(e) = &m.explicit_modem { prop_assert_eq!(c.name, e.as_str()); }
                        if m.queue.is_some() { prop_assert!(c.queues.iter().any(|q| q == "otp")); }
                    }
                    if strategy == Strategy::Weighted && m.explicit_modem.is_none() && m.pinned.is_none() {
                        prop_assert!(c.weight > 0);
                    }
                }
                Choice::Wait { until } => {
                    if let Some(t) = until { prop_assert!(t > now); }
                }
                Choice::NoRoute(reason) => prop_assert!(!reason.is_empty()),
            }
        }
    }
}

proptest! {
    /// A day of traffic on a fake clock through `choose` and per-SIM
    /// `RateWindows`: no SIM ever exceeds a cap, and a message that waits is
    /// told a time in the future (or to wait for an event).
    #[test]
    fn caps_hold_over_a_simulated_day(
        caps in proptest::collection::vec((1u32..5, 3u32..30, 10u32..120), 1..4),
        gaps in proptest::collection::vec(0u64..600, 50..400),
        strategy in prop_oneof![Just(Strategy::LeastLoaded), Just(Strategy::RoundRobin), Just(Strategy::Weighted)],
    ) {
        use crate::dispatch::rate::{RateWindows, DAY, HOUR, MINUTE};
        let names: Vec<String> = (0..caps.len()).map(|i| format!("m{i}")).collect();
        let caps: Vec<Caps> = caps.iter().map(|&(m, h, d)| Caps {
            per_minute: Some(m), per_hour: Some(h.max(m)), per_day: Some(d.max(h)),
        }).collect();
        let health = Health::new();
        let t0 = Instant::now();
        let mut now = t0;
        let mut windows: Vec<RateWindows> = vec![RateWindows::new(); caps.len()];
        let mut sent: Vec<Vec<Instant>> = vec![Vec::new(); caps.len()];
        let mut rr = RoundRobin::new();
        let policy = Policy { strategy, sticky: false };
        for gap in gaps {
            now += Duration::from_secs(gap);
            if now.duration_since(t0) > DAY { break; }
            let views: Vec<(Usage, Option<Instant>)> = windows.iter_mut().zip(&caps)
                .map(|(w, c)| (w.usage(now), w.next_free(c, now))).collect();
            let cands: Vec<Candidate> = names.iter().zip(&caps).zip(&views).map(|((n, c), (u, f))| Candidate {
                name: n, ready: true, text_mode: false, busy: false, weight: 1, queues: &[], caps: *c,
                usage: *u, cap_free_at: *f, load: u.last_hour, health: &health,
            }).collect();
            match choose(&cands, &msg(), &policy, &Routes::default(), &mut rr, now) {
                Choice::Use(i) => {
                    windows[i].record(now);
                    sent[i].push(now);
                    for (cap, win) in [(caps[i].per_minute, MINUTE), (caps[i].per_hour, HOUR), (caps[i].per_day, DAY)] {
                        let n = sent[i].iter().filter(|&&t| now.duration_since(t) < win).count();
                        prop_assert!(n as u32 <= cap.unwrap_or(u32::MAX), "{} over {:?}", n, win);
                    }
                }
                Choice::Wait { until } => {
                    let t = until.expect("a capped pool names the moment it frees");
                    prop_assert!(t > now);
                }
                Choice::NoRoute(r) => prop_assert!(false, "no route: {}", r),
            }
        }
    }
}

#[test]
fn caps_from_config_counts() {
    let u = |m, h, d| Usage {
        last_minute: m,
        last_hour: h,
        last_day: d,
    };
    // (config counts, usage, allowed)
    let table = [
        ((0, 0, 0), u(1000, 1000, 1000), true),
        ((3, 0, 0), u(2, 50, 50), true),
        ((3, 0, 0), u(3, 3, 3), false),
        ((0, 10, 0), u(0, 10, 10), false),
        ((0, 0, 100), u(0, 0, 99), true),
        ((0, 0, 100), u(0, 0, 100), false),
    ];
    assert!(!table.is_empty());
    for ((m, h, d), usage, allowed) in table {
        assert_eq!(
            Caps::from_counts(m, h, d).allows(&usage),
            allowed,
            "{m}/{h}/{d} {usage:?}"
        );
    }
}
