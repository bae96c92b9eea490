//! `smsgate sim` as a user runs it: N modems linked in a directory, one line per
//! modem on stdout, a working modem behind each link, and the links gone after
//! SIGTERM. Waits on output lines and process exit with timeouts, never sleeps.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::SerialPortBuilderExt;

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn sim_command_links_modems_and_cleans_up_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_smsgate"))
        .args([
            "sim",
            "--count",
            "2",
            "--personality",
            "simcom",
            "--latency",
            "5ms",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run smsgate sim");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let lines: Vec<String> = (0..2)
        .map(|_| rx.recv_timeout(T).expect("one line per modem"))
        .collect();
    let table: &[(usize, &str, &str)] =
        &[(0, "modem0", "+15550000000"), (1, "modem1", "+15550000001")];
    assert!(!table.is_empty());
    for (i, link, msisdn) in table {
        let cols: Vec<&str> = lines[*i].split('\t').collect();
        assert_eq!(cols.len(), 4, "{:?}", lines[*i]);
        assert_eq!(cols[0], dir.path().join(link).display().to_string());
        assert!(cols[1].starts_with("/dev/pts/"), "{:?}", cols[1]);
        assert_eq!(cols[2], *msisdn);
        assert_eq!(cols[3], "simcom");
    }

    // A real port on the link answers like a SIM800.
    let mut port = tokio_serial::new(dir.path().join("modem0").to_string_lossy(), 115_200)
        .open_native_async()
        .expect("open modem0");
    port.write_all(b"ATE0\rAT+CGMI\r").await.expect("write");
    let mut got = Vec::new();
    let read = async {
        while !String::from_utf8_lossy(&got).contains("SIMCOM_Ltd\r\n\r\nOK\r\n") {
            let mut chunk = [0u8; 256];
            let n = port.read(&mut chunk).await.expect("read");
            assert!(n > 0);
            got.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(T, read).await.expect("CGMI answered");
    drop(port);

    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let status = done_rx.recv_timeout(T).expect("exits").expect("wait");
    assert!(status.success(), "{status}");
    assert!(!dir.path().join("modem0").exists());
    assert!(!dir.path().join("modem1").exists());
}

#[test]
fn sim_command_rejects_zero_modems() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_smsgate"))
        .args(["sim", "--count", "0", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}
