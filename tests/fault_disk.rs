//! Fault tests for the store's disk, through the real binary: the file system
//! under the database fills up, or turns read-only under the running daemon.
//! Intake (`send` and spool files) is refused with a clear `unavailable`
//! error, nothing accepted is lost, and work resumes when the disk is back.
//!
//! The faults are real, which needs root: a 2 MiB tmpfs filled to the last
//! byte, and a loop-mounted ext4 image (`errors=remount-ro`) whose kernel
//! error trigger makes the kernel force it read-only with the database open,
//! as after a failing disk. Without root (or without loop devices) each test
//! says why and returns. Not here: modem faults (`fault_modems.rs`).
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use smsgate::sim::NetworkOptions;

/// A file system mounted for one test; unmounted (lazily) on drop.
struct Mount {
    dir: tempfile::TempDir,
    image: Option<PathBuf>,
}

impl Mount {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn tmpfs(size: &str) -> Result<Mount, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path()))?;
        Ok(Mount { dir, image: None })
    }

    /// An ext4 image on a loop device that the kernel remounts read-only on
    /// the first error.
    fn ext4_loop(size_mib: u64) -> Result<Mount, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let image = dir.path().with_extension("img");
        let f = std::fs::File::create(&image).map_err(|e| e.to_string())?;
        f.set_len(size_mib << 20).map_err(|e| e.to_string())?;
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image))?;
        run(Command::new("mount")
            .args(["-o", "loop,errors=remount-ro"])
            .arg(&image)
            .arg(dir.path()))?;
        Ok(Mount {
            dir,
            image: Some(image),
        })
    }

    /// ext4 only: what a failing disk does, the kernel forcing the file
    /// system read-only even with files open for writing.
    fn force_read_only(&self) -> Result<(), String> {
        let dev = loop_device(self.path())?;
        let name = dev.trim_start_matches("/dev/");
        std::fs::write(format!("/sys/fs/ext4/{name}/trigger_fs_error"), "1")
            .map_err(|e| format!("trigger_fs_error on {name}: {e}"))
    }

    /// ext4 only: the operator's repair, unmount and mount again.
    fn remount_fresh(&self) -> Result<(), String> {
        let image = self.image.as_ref().ok_or("not an image")?;
        run(Command::new("umount").arg(self.path()))?;
        run(Command::new("mount")
            .args(["-o", "loop,errors=remount-ro"])
            .arg(image)
            .arg(self.path()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
    }
}

fn run(c: &mut Command) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{c:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn loop_device(mountpoint: &Path) -> Result<String, String> {
    let out = Command::new("findmnt")
        .args(["-n", "-o", "SOURCE"])
        .arg(mountpoint)
        .output()
        .map_err(|e| e.to_string())?;
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if dev.starts_with("/dev/loop") {
        Ok(dev)
    } else {
        Err(format!(
            "{} is on {dev:?}, not a loop device",
            mountpoint.display()
        ))
    }
}

/// Outside CI a machine without root or mounts skips these tests with a
/// reason; under CI (`.ci/run` runs as root and installs e2fsprogs) a skip
/// would prove nothing, so it fails.
fn skip(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI: this disk-fault test could not run: {why}"
    );
    eprintln!("SKIPPED: {why}");
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Fills the file system holding `dir` to the last byte; returns the filler.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).expect("filler");
    let chunk = vec![0xA5u8; 4096];
    loop {
        if f.write_all(&chunk).is_err() {
            break;
        }
    }
    // Small writes for the last partial block.
    while f.write_all(&[0u8]).is_ok() {}
    let _ = f.sync_all();
    filler
}

/// Sends until the daemon refuses; returns the ids it accepted and the refusal.
fn send_until_refused(g: &Gateway, tag: &str, max: usize) -> (Vec<i64>, Value) {
    let mut ids = Vec::new();
    for i in 0..max {
        let r = g.call(json!({"cmd": "send", "to": "+19990004444", "text": format!("{tag} {i}")}));
        if r["ok"] == json!(true) {
            ids.push(r["result"]["id"].as_i64().expect("id"));
        } else {
            return (ids, r);
        }
    }
    panic!(
        "{max} sends after the disk filled up and none refused; log:\n{}",
        g.log()
    );
}

/// Polls the daemon's log for `needle`, re-checking after every event.
fn wait_log(g: &Gateway, needle: &str, timeout: Duration) {
    let mut w = g.watch();
    let deadline = Instant::now() + timeout;
    while !g.log().contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {needle:?} in the log:\n{}", g.log());
        w.next(left.min(Duration::from_millis(200)));
    }
}

/// Waits until `outgoing/` and `processing/` are empty.
fn wait_spool_empty(g: &Gateway, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut w = g.watch();
    loop {
        let left = ["outgoing", "processing"]
            .iter()
            .map(|d| {
                std::fs::read_dir(g.spool.join(d))
                    .map(|r| r.count())
                    .unwrap_or(0)
            })
            .sum::<usize>();
        if left == 0 {
            return;
        }
        let t = deadline.saturating_duration_since(Instant::now());
        assert!(!t.is_zero(), "{left} spool files not taken:\n{}", g.log());
        w.next(t.min(Duration::from_millis(200)));
    }
}

fn outbox_texts(g: &Gateway) -> Vec<String> {
    g.ok(json!({"cmd": "outbox", "limit": 10000}))
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect()
}

/// A refusal with code `unavailable` whose message names one of `words`.
fn assert_unavailable(r: &Value, words: &[&str]) {
    assert_eq!(r["ok"], json!(false), "{r}");
    assert_eq!(r["error"]["code"], json!("unavailable"), "{r}");
    let msg = r["error"]["message"].as_str().unwrap_or("");
    assert!(
        words.iter().any(|w| msg.contains(w)),
        "the error should say one of {words:?}: {msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_refuses_intake_loses_nothing_and_recovers() {
    if !is_root() {
        return skip("needs root to mount a small tmpfs for the store");
    }
    let mnt = match Mount::tmpfs("2m") {
        Ok(m) => m,
        Err(e) => return skip(&format!("cannot mount a tmpfs: {e}")),
    };
    let db = mnt.path().join("smsgate.db");
    let g = Gateway::start_with_db(
        NetworkOptions::default(),
        vec![ModemPlan::default()],
        "",
        Some(db),
    )
    .await;
    tokio::task::block_in_place(|| {
        let mut accepted: Vec<i64> = (0..5)
            .map(|i| g.send("+19990003333", &format!("before {i}")))
            .collect();
        for id in &accepted {
            g.wait_state(*id, "sent", T);
        }

        let filler = fill(mnt.path());
        let (more, refusal) = send_until_refused(&g, "while full", 2000);
        assert_unavailable(&refusal, &["full"]);
        eprintln!(
            "{} sends accepted after the disk filled (the WAL's free space); then: {}",
            more.len(),
            refusal["error"]["message"]
        );
        accepted.extend(&more);
        // The CLI says so in one line and exits 1 (a runtime failure).
        let out = Command::new(bin())
            .args(["send", "--to", "+19990004444", "--text", "from the CLI"])
            .arg("--socket")
            .arg(&g.socket)
            .output()
            .expect("smsgate send");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("full"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");

        // A spool file is refused for now, and kept: not failed, not lost.
        g.spool_file("while-full", b"To: 19990005555\n\nspooled while full\n");
        wait_log(&g, "retrying in", T);
        assert_eq!(
            std::fs::read_dir(g.spool.join("failed"))
                .map(|d| d.count())
                .unwrap_or(0),
            0,
            "a refused file is not a failed file"
        );

        // The disk is back: the spool file goes in, sends work, and
        // everything accepted goes out.
        std::fs::remove_file(&filler).expect("free the disk");
        wait_spool_empty(&g, Duration::from_secs(45));
        accepted.push(g.send("+19990003333", "after"));
        for id in &accepted {
            g.wait_state(*id, "sent", T);
        }
        let texts = outbox_texts(&g);
        assert!(texts.iter().any(|t| t == "spooled while full"), "{texts:?}");
        assert_eq!(texts.len(), accepted.len() + 1, "{texts:?}");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_only_disk_refuses_intake_loses_nothing_and_recovers() {
    if !is_root() {
        return skip("needs root to loop-mount an ext4 image for the store");
    }
    let mnt = match Mount::ext4_loop(16) {
        Ok(m) => m,
        Err(e) => return skip(&format!("cannot loop-mount an ext4 image: {e}")),
    };
    let db = mnt.path().join("smsgate.db");
    let mut g = Gateway::start_with_db(
        NetworkOptions::default(),
        vec![ModemPlan::default()],
        "",
        Some(db),
    )
    .await;
    let mut accepted: Vec<i64> = tokio::task::block_in_place(|| {
        let ids: Vec<i64> = (0..5)
            .map(|i| g.send("+19990003333", &format!("before {i}")))
            .collect();
        for id in &ids {
            g.wait_state(*id, "sent", T);
        }
        ids
    });
    mnt.force_read_only().expect("force read-only");
    tokio::task::block_in_place(|| {
        let r = g.call(json!({"cmd": "send", "to": "+19990004444", "text": "while read-only"}));
        // SQLite sees the kernel's EROFS as a failed write ("I/O error");
        // the store looks at the mount and says what it is.
        assert_unavailable(&r, &["read-only"]);
        eprintln!("refused while read-only: {}", r["error"]["message"]);
        // Reads still work.
        let m = g.ok(json!({"cmd": "show", "message": accepted[0]}));
        assert_eq!(m["state"], json!("sent"));
        g.spool_file("while-ro", b"To: 19990005555\n\nspooled while read-only\n");
        wait_log(&g, "retrying in", T);
    });
    // The operator stops the daemon, repairs and remounts, starts it again.
    g.kill9();
    mnt.remount_fresh().expect("remount");
    g.spawn();
    g.wait_notify("READY=1", T);
    tokio::task::block_in_place(|| {
        wait_spool_empty(&g, T);
        accepted.push(g.send("+19990003333", "after"));
        for id in &accepted {
            g.wait_state(*id, "sent", T);
        }
        let texts = outbox_texts(&g);
        assert!(
            texts.iter().any(|t| t == "spooled while read-only"),
            "{texts:?}"
        );
        assert!(!texts.iter().any(|t| t == "while read-only"), "{texts:?}");
        assert_eq!(texts.len(), accepted.len() + 1, "{texts:?}");
    });
}
