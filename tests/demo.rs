//! `smsgate demo` runs to its first delivered message and stops cleanly on
//! SIGINT, as a newcomer would see it: with the binary of this build, and
//! (ignored unless asked for) with a static release binary, checked static
//! by `file` first. `.ci/run` builds the x86_64 musl binary with
//! `tools/release.sh x86_64` and runs the second test against it:
//! `SMSGATE_STATIC_BIN=dist/smsgate-x86_64 cargo test --test demo -- --ignored`.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs `BIN demo` until it has delivered a message, received the reply and
/// printed the hint, then stops it with SIGINT and checks a clean exit.
fn demo_runs_to_delivery(bin: &Path) {
    let mut child = Command::new(bin)
        .args(["demo", "--latency", "50ms"])
        .env_remove("SMSGATE_SOCKET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} demo starts: {e}", bin.display()));
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

#[test]
fn demo_runs_to_delivery_and_stops_on_ctrl_c() {
    demo_runs_to_delivery(Path::new(env!("CARGO_BIN_EXE_smsgate")));
}

/// What `file` says of a binary, or a failure naming the missing tool.
fn file_says(bin: &Path) -> String {
    let out = Command::new("file")
        .arg("-b")
        .arg(bin)
        .output()
        .unwrap_or_else(|e| panic!("`file` is needed (apt-get install file): {e}"));
    assert!(out.status.success(), "file {} failed", bin.display());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether `file`'s description is of a static executable: "statically
/// linked", or "static-pie linked" from newer `file` for a static PIE.
fn is_static(description: &str) -> bool {
    description.contains("statically linked") || description.contains("static-pie linked")
}

#[test]
fn static_test_reads_file_output() {
    // Real lines `file` (Debian 12) printed: the x86_64 musl release and
    // dev binaries (BENCHMARKS.md) and Debian's own /usr/bin/file (dynamic).
    // Older `file` says "statically linked" for a static PIE too.
    assert!(is_static(
        "ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), static-pie linked, BuildID[sha1]=90ab88dfebdfac9c7051d42003e507869ce6742f, stripped"
    ));
    assert!(is_static(
        "ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), static-pie linked, BuildID[sha1]=b67250f1eb3da35a92e289f1f62ff5eeb0711c8d, stripped"
    ));
    assert!(!is_static(
        "ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), dynamically linked, interpreter /lib64/ld-linux-x86-64.so.2, BuildID[sha1]=966425c361b63d074fc66bf6e1c2bb9abe6f3bd5, for GNU/Linux 3.2.0, stripped"
    ));
}

#[test]
#[ignore = "needs a static binary: SMSGATE_STATIC_BIN=dist/smsgate-x86_64 after tools/release.sh x86_64"]
fn static_musl_binary_is_static_and_runs_demo() {
    let bin = PathBuf::from(
        std::env::var_os("SMSGATE_STATIC_BIN")
            .expect("SMSGATE_STATIC_BIN names the static binary (tools/release.sh x86_64 writes dist/smsgate-x86_64)"),
    );
    assert!(bin.is_file(), "{} is missing", bin.display());
    let description = file_says(&bin);
    eprintln!("file {}: {description}", bin.display());
    assert!(
        is_static(&description),
        "{} is not static: {description}",
        bin.display()
    );
    demo_runs_to_delivery(&bin);
}
