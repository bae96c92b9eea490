//! Several hosts on one PostgreSQL (CONTRACT.md "Several hosts on
//! PostgreSQL"), through the real binary: one PostgreSQL server
//! (`common::pgserver`), three daemons each with simulated modems of its
//! own on one simulated network. Messages entered through all three hosts
//! go out once each, every part of a message through one SIM, and received
//! messages are stored once and listed by every host; status reports reach
//! their messages through whichever host's SIM sent them (the same MR and
//! recipient on several SIMs); a host killed with `kill -9` and started
//! again with the same config rejoins (fresh heartbeat, its new pid) and
//! sends; `kill -9` of a host during a burst: its unsent messages leave
//! through the others within about a lease, and only the part that was in
//! flight goes out twice (its message restarted whole after
//! `orphan_after`); PostgreSQL restarted
//! under running hosts: they refuse new work, say so, and carry on. Two
//! hosts share verification codes (sent through one, checked on the
//! other), each counts its own events in `/metrics`, and `status` shows
//! which host serves a hook.
//! Synchronised on the network's SUBMITs, the daemons' READY and STATUS
//! lines and their event streams, with timeouts.
//!
//! Skips (with a line on stderr) when no PostgreSQL server can be started,
//! unless `CI` is set: then it fails.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::pgserver::{private_server, Server};
use common::*;
use serde_json::json;
use smsgate::sim::{Faults, Network, NetworkOptions};

/// Short leases, so a dead host's work moves within seconds.
const CLUSTER: &str = "lease = \"2s\"\norphan_after = \"4s\"\n";

fn latency(ms: u64) -> ModemPlan {
    ModemPlan {
        faults: Faults {
            cmgs_latency: Duration::from_millis(ms),
            ..Faults::default()
        },
        ..ModemPlan::default()
    }
}

/// Host `node` with `modems` simulated modems numbered from `base`.
async fn host(
    net: &Network,
    url: &str,
    node: &str,
    base: usize,
    modems: Vec<ModemPlan>,
) -> Gateway {
    host_with(net, url, node, base, modems, "").await
}

/// [`host`] with `extra` sections (`[http]`, `[hooks]`) in its config.
async fn host_with(
    net: &Network,
    url: &str,
    node: &str,
    base: usize,
    modems: Vec<ModemPlan>,
    extra: &str,
) -> Gateway {
    let sections = Sections {
        url: Some(url.to_string()),
        modem_base: base,
        ..Sections::default()
    };
    let extra = format!("{extra}[cluster]\nnode = \"{node}\"\n{CLUSTER}");
    Gateway::start_on(net.clone(), modems, sections, &extra, None).await
}

fn server() -> Option<(Server, String)> {
    let s = private_server()?;
    let url = s.fresh_url();
    Some((s, url))
}

/// The recipient of message `i` of a test: a number no simulated SIM owns.
fn recipient(i: usize) -> String {
    format!("+4917{:08}", 10_000 + i)
}

/// Every 10th message is long (400 GSM characters: three parts), the
/// others one part.
fn text(i: usize) -> String {
    if i.is_multiple_of(10) {
        format!("{i:03} ").repeat(100)
    } else {
        format!("message {i}")
    }
}

fn parts_of(i: usize) -> usize {
    if i.is_multiple_of(10) {
        3
    } else {
        1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_entered_through_three_hosts_go_out_once_each() {
    let Some((_server, url)) = tokio::task::spawn_blocking(server).await.expect("server") else {
        return;
    };
    let net = Network::new(NetworkOptions::default());
    let hosts = [
        host(&net, &url, "a", 0, vec![ModemPlan::default(); 2]).await,
        host(&net, &url, "b", 10, vec![ModemPlan::default(); 2]).await,
        host(&net, &url, "c", 20, vec![ModemPlan::default(); 2]).await,
    ];
    // Every host sees the cluster: three nodes, two modems each.
    let status = hosts[0].ok(json!({"cmd": "status"}));
    assert_eq!(status["store"]["engine"], json!("postgresql"), "{status}");
    let nodes = status["cluster"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    let names: Vec<&str> = nodes.iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(names, ["a", "b", "c"], "{status}");

    // `smsgate status` and `smsgate cluster` show every host and its modems.
    let cli = |args: &[&str]| -> String {
        let out = std::process::Command::new(bin())
            .args(args)
            .arg("--socket")
            .arg(&hosts[1].socket)
            .output()
            .expect("run smsgate");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = cli(&["status"]);
    assert!(shown.contains("store: postgresql up"), "{shown}");
    assert!(shown.contains("cluster: 3 hosts"), "{shown}");
    assert!(shown.contains("b *"), "{shown}");

    const N: usize = 600;
    let started = std::time::Instant::now();
    let mut total_parts = 0;
    for i in 0..N {
        hosts[i % 3].send(&recipient(i), &text(i));
        total_parts += parts_of(i);
    }
    let sent = net
        .wait_external(total_parts, Duration::from_secs(240))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}\nlog a:\n{}\nlog b:\n{}",
                hosts[0].log(),
                hosts[1].log()
            )
        });
    eprintln!(
        "{N} messages ({total_parts} parts) entered and out through 3 hosts × 2 modems in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if sent.len() != total_parts {
        let mut dups = Vec::new();
        for i in 0..N {
            let to = recipient(i);
            let parts = parts_to(&sent, &to);
            if parts.len() != parts_of(i) {
                dups.push((i, parts.len(), senders_to(&sent, &to)));
            }
        }
        let fenced: usize = hosts
            .iter()
            .map(|h| h.log().matches("cannot mark part sending").count())
            .sum();
        let a_log = hosts[0].log();
        let interesting: Vec<&str> = a_log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .take(20)
            .collect();
        panic!(
            "{} parts for {total_parts}; {} messages off: {:?}\nfenced: {fenced}\n{}",
            sent.len(),
            dups.len(),
            &dups[..dups.len().min(10)],
            interesting.join("\n")
        );
    }
    let mut senders_seen = BTreeSet::new();
    for i in 0..N {
        let to = recipient(i);
        let parts = parts_to(&sent, &to);
        assert_eq!(parts.len(), parts_of(i), "message {i}: {parts:?}");
        let senders: BTreeSet<String> = senders_to(&sent, &to).into_iter().collect();
        assert_eq!(senders.len(), 1, "message {i} through one SIM: {senders:?}");
        senders_seen.extend(senders);
    }
    // The work spread over the hosts' SIMs.
    assert!(senders_seen.len() >= 3, "{senders_seen:?}");
    // Received messages: each host stores what its own modems read, once,
    // and every host lists all of them.
    for (h, g) in hosts.iter().enumerate() {
        let mut w = g.watch();
        for m in 0..2 {
            let to = msisdn(h * 10 + m);
            net.inject("+4930123456", &to, &format!("inbound to {to}"))
                .expect("inject");
        }
        for _ in 0..2 {
            w.until(T, |e| e["type"] == json!("received"));
        }
    }
    let inbox = hosts[2].ok(json!({"cmd": "inbox", "limit": 100}));
    let texts: BTreeSet<String> = inbox
        .as_array()
        .expect("inbox")
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(texts.len(), 6, "{inbox}");
    assert_eq!(
        inbox.as_array().map(Vec::len),
        Some(6),
        "stored once: {inbox}"
    );
    // Every modem has sent, so each host has recorded its SIMs.
    let shown = cli(&["cluster"]);
    for modem in ["m0", "m1", "m10", "m11", "m20", "m21"] {
        assert!(shown.contains(modem), "{modem} in:\n{shown}");
    }
    assert!(shown.contains("00101000000"), "IMSIs:\n{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_hosts_unsent_messages_leave_through_the_others() {
    let Some((_server, url)) = tokio::task::spawn_blocking(server).await.expect("server") else {
        return;
    };
    let net = Network::new(NetworkOptions::default());
    // a's modem is slow: it holds claims when it dies.
    let mut a = host(&net, &url, "a", 0, vec![latency(400)]).await;
    let b = host(&net, &url, "b", 10, vec![ModemPlan::default()]).await;
    let c = host(&net, &url, "c", 20, vec![ModemPlan::default()]).await;
    const N: usize = 60;
    let mut ids = BTreeMap::new();
    for i in 0..N {
        let id = a.send(&recipient(i), &format!("burst {i}"));
        ids.insert(id, i);
    }
    // a has a part in flight (its modem has the whole PDU), then dies.
    // A fresh payload: the modem answers it 400 ms later, so it is in
    // flight at the kill (one that arrived earlier may be answered already).
    let seen = a.sims[0].payloads();
    a.sims[0]
        .wait_payloads(seen + 1, T)
        .await
        .expect("a sends before it dies");
    a.kill9();
    let killed = std::time::Instant::now();
    // a's modem finishes that send on its own. The part stays uncertain on
    // a's SIM until a has been away for orphan_after; then its message
    // starts again, whole, through b or c: N + 1 SUBMITs in all.
    let sent = match net.wait_external(N + 1, Duration::from_secs(60)).await {
        Ok(sent) => sent,
        Err(e) => {
            let got = net.external_messages();
            let odd: Vec<String> = ids
                .iter()
                .filter(|(_, i)| parts_to(&got, &recipient(**i)).len() != 1)
                .map(|(id, i)| {
                    format!(
                        "{i}: {} sent by {:?}; {}",
                        parts_to(&got, &recipient(*i)).len(),
                        senders_to(&got, &recipient(*i)),
                        b.ok(json!({"cmd": "show", "message": id}))
                    )
                })
                .collect();
            let status = b.ok(json!({"cmd": "status"}));
            panic!("{e}\n{odd:#?}\n{}", status["cluster"]);
        }
    };
    eprintln!(
        "every message out {:.1} s after kill -9 of a (lease 2 s, orphan_after 4 s)",
        killed.elapsed().as_secs_f64()
    );
    let mut twice = Vec::new();
    for i in 0..N {
        let n = parts_to(&sent, &recipient(i)).len();
        assert!(n >= 1, "message {i} not sent");
        if n > 1 {
            twice.push(i);
        }
    }
    assert_eq!(
        twice.len(),
        1,
        "only the part in flight goes out twice: {twice:?}"
    );
    let again = twice[0];
    let senders = senders_to(&sent, &recipient(again));
    assert_eq!(senders.len(), 2, "a's SIM, then another: {senders:?}");
    let id = ids
        .iter()
        .find(|(_, i)| **i == again)
        .map(|(id, _)| *id)
        .expect("its id");
    let m = b.ok(json!({"cmd": "show", "message": id}));
    assert!(
        m["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("restarted whole through another SIM"),
        "show says so: {m}"
    );
    // Every other message went out once, through b or c after the kill.
    let status = b.ok(json!({"cmd": "status"}));
    let a_node = status["cluster"]["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == json!("a")).cloned())
        .expect("a is listed");
    assert_eq!(a_node["state"], json!("late"), "{status}");
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_under_running_hosts_they_wait_and_carry_on() {
    let Some((server, url)) = tokio::task::spawn_blocking(server).await.expect("server") else {
        return;
    };
    let server = std::sync::Arc::new(server);
    let net = Network::new(NetworkOptions::default());
    let a = host(&net, &url, "a", 0, vec![ModemPlan::default()]).await;
    let b = host(&net, &url, "b", 10, vec![ModemPlan::default()]).await;
    for i in 0..10 {
        [&a, &b][i % 2].send(&recipient(i), &format!("before {i}"));
    }
    net.wait_external(10, T)
        .await
        .expect("sent before the restart");

    let s = server.clone();
    tokio::task::spawn_blocking(move || s.stop())
        .await
        .expect("stop");
    // New work is refused ("store unavailable") while the hosts wait; status
    // still answers and says so.
    let refused = a.call(json!({"cmd": "send", "to": recipient(99), "text": "refused"}));
    assert_eq!(refused["ok"], json!(false), "{refused}");
    let waiting = |g: &Gateway| {
        let s = g.ok(json!({"cmd": "status"}));
        s["store"]["state"] == json!("waiting")
    };
    // a learns it from that refusal, b at its next heartbeat (a third of
    // the 2 s lease); each tells systemd, and status says so.
    for g in [&a, &b] {
        g.wait_notify(
            "STATUS=store unavailable: waiting for the PostgreSQL server",
            T,
        );
        assert!(waiting(g), "{}", g.log());
    }

    let s = server.clone();
    tokio::task::spawn_blocking(move || s.start())
        .await
        .expect("start");
    // Both reconnect (back-off up to 5 s) and say so, then carry on: what
    // comes now is accepted and goes out.
    for g in [&a, &b] {
        g.wait_notify("STATUS=store available again", T);
        assert!(!waiting(g), "{}", g.log());
    }
    for i in 0..10 {
        [&a, &b][i % 2].send(&recipient(100 + i), "after");
    }
    net.wait_external(20, T)
        .await
        .expect("sent after the restart");
    for g in [&a, &b] {
        let log = g.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("store unavailable: waiting for the PostgreSQL server; new work")
                    || l.contains("store available again")
            })
            .collect();
        assert_eq!(lines.len(), 2, "logged once each way: {lines:#?}");
        assert!(
            lines[0].contains("store unavailable: waiting for the PostgreSQL server"),
            "{lines:#?}"
        );
        assert!(lines[1].contains("store available again"), "{lines:#?}");
    }
}

/// The MR of a SUBMIT TPDU (its second octet).
fn mr_of(pdu_hex: &str) -> u64 {
    u64::from_str_radix(&pdu_hex[2..4], 16).expect("MR")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_through_three_hosts_reach_the_right_messages() {
    let Some((_server, url)) = tokio::task::spawn_blocking(server).await.expect("server") else {
        return;
    };
    let net = Network::new(NetworkOptions {
        report_delay: Duration::from_millis(200),
        ..NetworkOptions::default()
    });
    let hosts = [
        host(&net, &url, "a", 0, vec![ModemPlan::default(); 2]).await,
        host(&net, &url, "b", 10, vec![ModemPlan::default(); 2]).await,
        host(&net, &url, "c", 20, vec![ModemPlan::default(); 2]).await,
    ];
    // Every SIM starts its references at the same number, and six
    // recipients share 36 messages: the same (MR, recipient) comes back on
    // several SIMs, so only (SIM, MR, recipient) finds the message.
    const N: usize = 36;
    let mut ids = Vec::new();
    let mut total_parts = 0;
    for i in 0..N {
        let id = hosts[i % 3].ok(
            json!({"cmd": "send", "to": recipient(i % 6), "text": text(i),
            "report": true}),
        )["id"]
            .as_i64()
            .expect("id");
        ids.push(id);
        total_parts += parts_of(i);
    }
    let sent = net
        .wait_external(total_parts, Duration::from_secs(120))
        .await
        .expect("every part out");
    for (i, id) in ids.iter().enumerate() {
        // The host whose SIM sent the message has its report: wait there.
        let m = hosts[0].ok(json!({"cmd": "show", "message": id}));
        let modem = m["modem"]
            .as_str()
            .expect("sent through a modem")
            .to_string();
        let k: usize = modem[1..].parse().expect("modem number");
        let m = hosts[k / 10].wait_state(*id, "delivered", T);
        let parts = m["parts"].as_array().expect("parts");
        assert_eq!(parts.len(), parts_of(i), "message {i}: {m}");
        for p in parts {
            assert_eq!(p["state"], json!("delivered"), "message {i}: {m}");
            assert_eq!(p["status"], json!(0), "message {i}: {m}");
            // Its MR is that of a SUBMIT from the message's SIM to its
            // recipient.
            let mr = p["mr"].as_u64().expect("mr");
            assert!(
                sent.iter().any(|n| n.from_msisdn == msisdn(k)
                    && n.to == recipient(i % 6)
                    && mr_of(&n.pdu_hex) == mr),
                "message {i} part {p} from {modem}"
            );
        }
        // Every host shows it delivered.
        for g in &hosts {
            let m = g.ok(json!({"cmd": "show", "message": id}));
            assert_eq!(m["state"], json!("delivered"), "message {i}: {m}");
        }
    }
    for g in &hosts {
        let counts = g.ok(json!({"cmd": "status"}))["queue"].clone();
        assert_eq!(counts["unmatched_reports"], json!(0), "{counts}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_and_started_again_rejoins_and_sends() {
    let Some((_server, url)) = tokio::task::spawn_blocking(server).await.expect("server") else {
        return;
    };
    let net = Network::new(NetworkOptions::default());
    let mut a = host(&net, &url, "a", 0, vec![ModemPlan::default()]).await;
    let b = host(&net, &url, "b", 10, vec![ModemPlan::default()]).await;
    let node_a = |g: &Gateway| {
        let status = g.ok(json!({"cmd": "status"}));
        status["cluster"]["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["name"] == json!("a")).cloned())
            .unwrap_or_else(|| panic!("a is listed: {status}"))
    };
    // a sends what is pinned to its modem (only a host with that modem
    // takes such a message).
    a.ok(json!({"cmd": "send", "to": recipient(0), "text": "before", "modem": "m0"}));
    let sent = net.wait_external(1, T).await.expect("a sends");
    assert_eq!(sent[0].from_msisdn, msisdn(0));
    let before = node_a(&b);

    a.kill9();
    // The same config, started again: a's row is its own again, with a
    // fresh heartbeat, the new process and its modem.
    a.spawn();
    a.wait_notify("READY=1", T);
    let pid = a.child.as_ref().map(|c| i64::from(c.id())).expect("pid");
    let after = node_a(&b);
    assert_eq!(after["pid"], json!(pid), "{after}");
    assert_ne!(after["started_at"], before["started_at"], "{after}");
    assert_eq!(after["state"], json!("up"), "{after}");
    assert!(
        after["heartbeat_age_ms"].as_i64().expect("age") < 2_000,
        "fresh heartbeat: {after}"
    );
    let status = b.ok(json!({"cmd": "status"}));
    let names: Vec<&str> = status["cluster"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(names, ["a", "b"], "one row per host: {status}");
    // And it sends again: work pinned to its modem.
    for i in 1..=3 {
        a.ok(json!({"cmd": "send", "to": recipient(i), "text": "after", "modem": "m0"}));
    }
    let sent = net.wait_external(4, T).await.expect("a sends again");
    for m in &sent[1..] {
        assert_eq!(m.from_msisdn, msisdn(0), "through a's SIM: {m:?}");
    }
}

/// The value of the sample `series` (name and labels as exposed) in a
/// Prometheus text exposition; 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

/// Two hosts, one without modems: a verification code entered through the
/// one goes out through the other's modem and checks through either; each
/// host's `/metrics` counts what it did itself (the messages entered
/// through it, the parts its modem sent), so the sums are the totals; a
/// hook runs on one host, and `status`/`cluster` say which and until when.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_share_codes_count_their_own_and_show_consumer_leases() {
    let Some((_server, url)) = tokio::task::spawn_blocking(server).await.expect("server") else {
        return;
    };
    let net = Network::new(NetworkOptions::default());
    let hook = "[hooks]\nsent = [\"/bin/true\"]\n";
    let (pa, pb) = (common::http::free_port(), common::http::free_port());
    let a = host_with(
        &net,
        &url,
        "a",
        0,
        vec![],
        &format!("{}{hook}", common::http::section(pa, "")),
    )
    .await;
    let b = host_with(
        &net,
        &url,
        "b",
        10,
        vec![ModemPlan::default()],
        &format!("{}{hook}", common::http::section(pb, "")),
    )
    .await;
    let mut sent_events = b.watch();

    // A code sent through a (which has no modem) leaves through b's SIM
    // with its real text, and checks through b.
    let alice = recipient(900);
    let code_sent = a.ok(json!({"cmd": "verify_send", "to": alice}));
    let out = net.wait_external(1, T).await.expect("the code goes out");
    let text = text_to(&out, &alice);
    assert!(text.starts_with("Your verification code is "), "{text}");
    let code: String = text.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "{text}");
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let r = b.ok(json!({"cmd": "verify_check", "to": alice, "code": wrong}));
    assert_eq!(r["reason"], json!("wrong_code"), "{r}");
    let r = b.ok(json!({"cmd": "verify_check", "to": alice, "code": code}));
    assert_eq!(r["valid"], json!(true), "{r}\nsent: {code_sent}");
    let r = a.ok(json!({"cmd": "verify_check", "to": alice, "code": code}));
    assert_eq!(r["reason"], json!("used"), "{r}");

    // Messages through both hosts; only b's modem sends.
    const N: usize = 10;
    for i in 0..N {
        a.send(&recipient(i), &format!("via a {i}"));
        b.send(&recipient(100 + i), &format!("via b {i}"));
    }
    net.wait_external(1 + 2 * N, T).await.expect("all out");
    for _ in 0..=2 * N {
        sent_events.until(T, |e| e["type"] == json!("sent"));
    }
    let scrape = |port: u16| {
        let r = common::http::Client::new(port, None).get("/metrics");
        assert_eq!(r.status, 200);
        String::from_utf8(r.body).expect("utf-8")
    };
    let (ma, mb) = (scrape(pa), scrape(pb));
    let queued = "smsgate_messages_total{state=\"queued\"}";
    let sent = "smsgate_messages_total{state=\"sent\"}";
    let parts = "smsgate_parts_sent_total{modem=\"m10\"}";
    // a entered the code and N messages, sent nothing.
    assert_eq!(sample(&ma, queued), (N + 1) as f64, "a:\n{ma}");
    assert_eq!(sample(&ma, sent), 0.0, "a:\n{ma}");
    assert_eq!(sample(&ma, parts), 0.0, "a:\n{ma}");
    // b entered N and sent all of them.
    assert_eq!(sample(&mb, queued), N as f64, "b:\n{mb}");
    assert_eq!(sample(&mb, sent), (2 * N + 1) as f64, "b:\n{mb}");
    assert_eq!(sample(&mb, parts), (2 * N + 1) as f64, "b:\n{mb}");

    // The hook consumer ran (for the sent events) on one host, under its
    // lease: both hosts show which.
    for g in [&a, &b] {
        let status = g.ok(json!({"cmd": "status"}));
        let leases = status["cluster"]["leases"]
            .as_array()
            .expect("leases")
            .clone();
        assert_eq!(leases.len(), 1, "{status}");
        assert_eq!(leases[0]["consumer"], json!("hook:sent"), "{status}");
        assert!(
            ["a", "b"].contains(&leases[0]["node"].as_str().unwrap_or("")),
            "{status}"
        );
        assert!(
            leases[0]["expires_in_ms"].as_i64().unwrap_or(0) > 0,
            "{status}"
        );
    }
    let cli = |args: &[&str]| -> String {
        let out = std::process::Command::new(bin())
            .args(args)
            .arg("--socket")
            .arg(&a.socket)
            .output()
            .expect("run smsgate");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for args in [&["status"][..], &["cluster"][..]] {
        let shown = cli(args);
        assert!(shown.contains("consumer leases"), "{shown}");
        assert!(shown.contains("hook:sent"), "{shown}");
        assert!(shown.contains("s left"), "{shown}");
    }
    let json: serde_json::Value = serde_json::from_str(&cli(&["cluster", "--json"])).expect("json");
    assert_eq!(json["leases"][0]["consumer"], json!("hook:sent"), "{json}");
}
