//! `smsgate demo` runs to its first delivered message and stops cleanly on
//! SIGINT, as a newcomer would see it.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn demo_runs_to_delivery_and_stops_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smsgate"))
        .args(["demo", "--latency", "50ms"])
        .env_remove("SMSGATE_SOCKET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // Read lines on a thread so a hung demo fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut delivered = false;
    let mut received = false;
    let mut hint = false;
    while !(delivered && received && hint) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!("demo output stopped; saw:\n{}", seen.join("\n"));
        };
        delivered |= line.contains("delivered");
        received |= line.contains("received on") && line.contains("+4917099999999");
        hint |= line.contains("smsgate status --socket");
        seen.push(line);
    }
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let (etx, erx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = etx.send(child.wait());
    });
    let status = erx
        .recv_timeout(Duration::from_secs(30))
        .expect("demo exits after Ctrl-C")
        .expect("wait");
    assert!(
        status.success(),
        "exit status {status}; output:\n{}",
        seen.join("\n")
    );
    for line in rx.try_iter() {
        seen.push(line);
    }
    assert!(
        seen.iter().any(|l| l.contains("stopped")),
        "{}",
        seen.join("\n")
    );
}
