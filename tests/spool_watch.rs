//! The spool watcher against a real directory: files renamed in, written in
//! place, present before start, left in processing/ by a crash, rejected to
//! failed/, symlinks, the rescan timer, and a burst of 1,000 files. Every wait
//! is on the claim channel with a timeout.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use smsgate::spool::{Claimed, Spool};
use tokio::sync::mpsc::Receiver;

const WAIT: Duration = Duration::from_secs(10);

async fn next(rx: &mut Receiver<Claimed>) -> Claimed {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a claim within the timeout")
        .expect("the watcher is running")
}

/// Writes `name` in a staging directory with an old mtime, then renames it
/// into `outgoing/` (the way writers are told to deliver files).
fn drop_in(root: &Path, name: &str, content: &[u8]) {
    let staging = root.join("staging");
    fs::create_dir_all(&staging).expect("staging");
    let tmp = staging.join(name);
    fs::write(&tmp, content).expect("write");
    fs::rename(&tmp, root.join("spool/outgoing").join(name)).expect("rename in");
}

fn age(path: &Path) {
    let f = fs::File::options().write(true).open(path).expect("open");
    f.set_modified(SystemTime::now() - Duration::from_secs(60))
        .expect("set mtime");
}

fn start(root: &Path, scan: Duration) -> (Spool, Receiver<Claimed>) {
    Spool::start(&root.join("spool"), scan, 65_536).expect("spool starts")
}

const MSG: &[u8] = b"To: 491701234567\n\nHello\n";

#[tokio::test]
async fn renamed_in_file_is_claimed_and_done_removes_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let (spool, mut rx) = start(root.path(), Duration::from_secs(3600));
    for d in ["outgoing", "processing", "failed"] {
        assert!(root.path().join("spool").join(d).is_dir(), "{d} created");
    }
    drop_in(root.path(), "m1", MSG);
    let c = next(&mut rx).await;
    assert_eq!(c.name, "m1");
    assert_eq!(c.path, root.path().join("spool/processing/m1"));
    assert!(c.key.starts_with("m1:"), "key {}", c.key);
    let m = c.read().await.expect("parses");
    assert_eq!(m.to, "+491701234567");
    assert_eq!(m.text, "Hello");
    let path = c.path.clone();
    c.done().await.expect("done");
    assert!(!path.exists());
    assert!(!root.path().join("spool/outgoing/m1").exists());
    spool.stop().await;
}

#[tokio::test]
async fn file_written_in_place_is_claimed_on_close() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_spool, mut rx) = start(root.path(), Duration::from_secs(3600));
    fs::write(root.path().join("spool/outgoing/inplace"), MSG).expect("write in place");
    let c = next(&mut rx).await;
    assert_eq!(c.name, "inplace");
    assert_eq!(c.read().await.expect("complete file").text, "Hello");
    c.done().await.expect("done");
}

#[tokio::test]
async fn file_present_before_start_is_claimed() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("spool/outgoing");
    fs::create_dir_all(&out).expect("mkdir");
    fs::write(out.join("early"), MSG).expect("write");
    age(&out.join("early"));
    fs::write(out.join(".hidden"), MSG).expect("write");
    fs::write(out.join("stale.LOCK"), MSG).expect("write");
    fs::write(out.join("LOCKED-x"), MSG).expect("write");
    fs::create_dir(out.join("subdir")).expect("mkdir");
    let (_spool, mut rx) = start(root.path(), Duration::from_secs(3600));
    let c = next(&mut rx).await;
    assert_eq!(c.name, "early");
    c.done().await.expect("done");
    // Dot-files, lock files and directories are left alone.
    let extra = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
    assert!(extra.is_err(), "only `early` is claimed: {extra:?}");
    assert!(
        out.join(".hidden").exists()
            && out.join("stale.LOCK").exists()
            && out.join("subdir").is_dir()
    );
}

#[tokio::test]
async fn locked_file_waits_for_its_lock() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("spool/outgoing");
    let (_spool, mut rx) = start(root.path(), Duration::from_secs(3600));
    fs::write(out.join("job.LOCK"), b"").expect("lock");
    drop_in(root.path(), "job", MSG);
    drop_in(root.path(), "other", MSG);
    let c = next(&mut rx).await;
    assert_eq!(c.name, "other", "the locked file is not taken");
    c.done().await.expect("done");
    fs::remove_file(out.join("job.LOCK")).expect("unlock");
    let c = next(&mut rx).await;
    assert_eq!(c.name, "job");
    c.done().await.expect("done");
}

#[tokio::test]
async fn leftover_in_processing_comes_back_with_the_same_key() {
    let root = tempfile::tempdir().expect("tempdir");
    let (spool, mut rx) = start(root.path(), Duration::from_secs(3600));
    drop_in(root.path(), "crash", MSG);
    let first = next(&mut rx).await;
    let key = first.key.clone();
    // The daemon "crashes" after its store commit, before `done`.
    drop(first);
    spool.stop().await;
    drop(rx);
    let (_spool, mut rx) = start(root.path(), Duration::from_secs(3600));
    let again = next(&mut rx).await;
    assert_eq!(again.name, "crash");
    assert_eq!(again.key, key);
    again.done().await.expect("done");
}

#[tokio::test]
async fn bad_file_moves_to_failed_with_reason_and_original_content() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_spool, mut rx) = start(root.path(), Duration::from_secs(3600));
    let bad = b"Flash: yes\n\nno recipient\n";
    drop_in(root.path(), "bad", bad);
    let c = next(&mut rx).await;
    let err = c.read().await.expect_err("no To:");
    let dst = c.fail(&err.to_string()).await.expect("fail");
    assert_eq!(dst, root.path().join("spool/failed/bad"));
    let got = fs::read(&dst).expect("failed file");
    let mut want = b"Fail_reason: no To: header\n".to_vec();
    want.extend_from_slice(bad);
    assert_eq!(got, want);
    assert!(!root.path().join("spool/processing/bad").exists());

    // The same name failing again gets a suffix.
    drop_in(root.path(), "bad", bad);
    let c = next(&mut rx).await;
    let dst = c.fail("again").await.expect("fail");
    assert_eq!(dst, root.path().join("spool/failed/bad.1"));
}

#[tokio::test]
async fn too_large_file_is_refused_by_read() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_spool, mut rx) =
        Spool::start(&root.path().join("spool"), Duration::from_secs(3600), 64).expect("start");
    let mut big = b"To: 123\n\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 100));
    drop_in(root.path(), "big", &big);
    let c = next(&mut rx).await;
    let e = c.read().await.expect_err("too large");
    assert!(
        e.to_string().starts_with("file too large: 109 bytes"),
        "{e}"
    );
    c.fail(&e.to_string()).await.expect("fail");
}

#[tokio::test]
async fn symlink_goes_to_failed() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_spool, mut rx) = start(root.path(), Duration::from_secs(3600));
    let staging = root.path().join("staging");
    fs::create_dir_all(&staging).expect("staging");
    fs::write(staging.join("target"), MSG).expect("target");
    std::os::unix::fs::symlink(staging.join("target"), staging.join("link")).expect("symlink");
    fs::rename(
        staging.join("link"),
        root.path().join("spool/outgoing/link"),
    )
    .expect("rename link in");
    // Events are handled in order: once this sentinel is claimed, the link
    // has been dealt with.
    drop_in(root.path(), "sentinel", MSG);
    let c = next(&mut rx).await;
    assert_eq!(c.name, "sentinel", "the symlink is never claimed");
    c.done().await.expect("done");
    let failed = fs::read_to_string(root.path().join("spool/failed/link")).expect("failed/link");
    assert!(
        failed.starts_with("Fail_reason: a symbolic link is not accepted"),
        "{failed}"
    );
    assert!(!root.path().join("spool/outgoing/link").exists());
    assert!(
        staging.join("target").exists(),
        "the link target is untouched"
    );
}

#[tokio::test]
async fn timer_rescan_finds_files_that_raised_no_event() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_spool, mut rx) = start(root.path(), Duration::from_millis(100));
    let staging = root.path().join("staging");
    fs::create_dir_all(&staging).expect("staging");
    fs::write(staging.join("linked"), MSG).expect("write");
    age(&staging.join("linked"));
    // A hard link raises only IN_CREATE, which the watcher does not follow.
    fs::hard_link(
        staging.join("linked"),
        root.path().join("spool/outgoing/linked"),
    )
    .expect("link");
    let c = next(&mut rx).await;
    assert_eq!(c.name, "linked");
    c.done().await.expect("done");
}

#[tokio::test]
async fn a_thousand_files_are_each_claimed_exactly_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let (spool, mut rx) = start(root.path(), Duration::from_millis(200));
    let n = 1000;
    let staging = root.path().join("staging");
    fs::create_dir_all(&staging).expect("staging");
    for i in 0..n {
        fs::write(staging.join(format!("f{i:04}")), MSG).expect("write");
    }
    for i in 0..n {
        let name = format!("f{i:04}");
        fs::rename(
            staging.join(&name),
            root.path().join("spool/outgoing").join(&name),
        )
        .expect("rename");
    }
    let mut seen = HashSet::new();
    let mut keys = HashSet::new();
    while seen.len() < n {
        let c = next(&mut rx).await;
        assert!(seen.insert(c.name.clone()), "{} claimed twice", c.name);
        assert!(keys.insert(c.key.clone()), "key {} repeated", c.key);
        c.done().await.expect("done");
    }
    // A forced rescan finds nothing more.
    spool.rescan();
    let extra = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
    assert!(extra.is_err(), "nothing is claimed twice: {extra:?}");
    assert_eq!(
        fs::read_dir(root.path().join("spool/outgoing"))
            .expect("ls")
            .count(),
        0
    );
    assert_eq!(
        fs::read_dir(root.path().join("spool/processing"))
            .expect("ls")
            .count(),
        0
    );
}

#[tokio::test]
async fn start_reports_a_spool_dir_it_cannot_create() {
    let root = tempfile::tempdir().expect("tempdir");
    let not_a_dir = root.path().join("file");
    fs::write(&not_a_dir, b"x").expect("write");
    let err = Spool::start(&not_a_dir, Duration::from_secs(60), 65_536)
        .err()
        .expect("a file is not a spool directory");
    assert!(
        err.to_string()
            .starts_with(&format!("{}/outgoing:", not_a_dir.display())),
        "{err}"
    );
}

#[tokio::test]
async fn crlf_and_iso_files_read_back_as_text() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_spool, mut rx) = start(root.path(), Duration::from_secs(3600));
    drop_in(
        root.path(),
        "win",
        b"To: +49 170 1234567\r\nAlphabet: ISO\r\n\r\nPreis 5 \xA4\r\n",
    );
    let c = next(&mut rx).await;
    let m = c.read().await.expect("parses");
    assert_eq!(m.to, "+491701234567");
    assert_eq!(m.text, "Preis 5 €");
    c.done().await.expect("done");
}

/// Sets `path`'s mtime to `secs_ago` seconds before now.
fn age_by(path: &Path, secs_ago: u64) {
    let f = fs::File::options().write(true).open(path).expect("open");
    f.set_modified(SystemTime::now() - Duration::from_secs(secs_ago))
        .expect("set mtime");
}

fn failed_entries(root: &Path) -> Vec<String> {
    fs::read_dir(root.join("spool/failed"))
        .expect("ls failed")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect()
}

#[tokio::test]
async fn empty_placeholder_is_left_alone_until_renamed_over() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("spool/outgoing");
    let (_spool, mut rx) = start(root.path(), Duration::from_secs(3600));
    // What `mktemp outgoing/send_XXXXXX` does: create, close, empty.
    fs::File::create(out.join("send_abc123")).expect("placeholder");
    // Events are handled in order: once this sentinel is claimed, the
    // placeholder's IN_CLOSE_WRITE has been dealt with.
    drop_in(root.path(), "sentinel", MSG);
    let c = next(&mut rx).await;
    assert_eq!(c.name, "sentinel", "the empty placeholder is not claimed");
    c.done().await.expect("done");
    assert!(
        out.join("send_abc123").exists(),
        "the placeholder is left alone"
    );
    // `mv $TMPFILE $FILE`: the real file replaces the placeholder.
    let staging = root.path().join("staging");
    fs::write(staging.join("real"), b"To: 491701234567\n\nreal text").expect("write");
    fs::rename(staging.join("real"), out.join("send_abc123")).expect("rename over");
    let c = next(&mut rx).await;
    assert_eq!(c.name, "send_abc123");
    assert_eq!(c.read().await.expect("parses").text, "real text");
    c.done().await.expect("done");
    assert_eq!(failed_entries(root.path()), Vec::<String>::new());
}

#[tokio::test]
async fn empty_placeholder_written_in_place_is_taken_once_it_has_content() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("spool/outgoing");
    let (_spool, mut rx) = start(root.path(), Duration::from_secs(3600));
    fs::File::create(out.join("inplace")).expect("placeholder");
    drop_in(root.path(), "sentinel", MSG);
    let c = next(&mut rx).await;
    assert_eq!(c.name, "sentinel", "the empty placeholder is not claimed");
    c.done().await.expect("done");
    fs::write(out.join("inplace"), MSG).expect("write in place");
    let c = next(&mut rx).await;
    assert_eq!(c.name, "inplace");
    assert_eq!(c.read().await.expect("parses").text, "Hello");
    c.done().await.expect("done");
    assert_eq!(failed_entries(root.path()), Vec::<String>::new());
}

#[tokio::test]
async fn rescans_leave_an_old_empty_file_alone() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("spool/outgoing");
    fs::create_dir_all(&out).expect("mkdir");
    fs::File::create(out.join("empty")).expect("empty");
    age(&out.join("empty"));
    fs::write(out.join("full"), MSG).expect("write");
    age_by(&out.join("full"), 120);
    let (_spool, mut rx) = start(root.path(), Duration::from_millis(50));
    let c = next(&mut rx).await;
    assert_eq!(c.name, "full");
    c.done().await.expect("done");
    // Several rescans run in this time; none takes or fails the empty file.
    let extra = tokio::time::timeout(Duration::from_millis(400), rx.recv()).await;
    assert!(extra.is_err(), "the empty file is not claimed: {extra:?}");
    assert!(out.join("empty").exists());
    assert_eq!(failed_entries(root.path()), Vec::<String>::new());
}

#[tokio::test]
async fn waiting_files_are_picked_up_by_priority_then_oldest_first() {
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("spool/outgoing");
    fs::create_dir_all(&out).expect("mkdir");
    // (name, priority header, seconds old)
    let files: &[(&str, Option<&str>, u64)] = &[
        ("low-oldest", Some("low"), 100),
        ("normal-a", None, 90),
        ("normal-b", Some("normal"), 80),
        ("high-old", Some("high"), 70),
        ("normal-c", None, 60),
        ("urgent", Some("urgent"), 50),
        ("high-yes", Some("yes"), 40),
        ("normal-d", None, 30),
    ];
    for (name, prio, secs) in files {
        let mut body = b"To: 491701234567\n".to_vec();
        if let Some(p) = prio {
            body.extend_from_slice(format!("Priority: {p}\n").as_bytes());
        }
        body.extend_from_slice(b"\nx");
        fs::write(out.join(name), body).expect("write");
        age_by(&out.join(name), *secs);
    }
    let (_spool, mut rx) = start(root.path(), Duration::from_secs(3600));
    let mut order = Vec::new();
    for _ in files {
        let c = next(&mut rx).await;
        order.push(c.name.clone());
        c.done().await.expect("done");
    }
    assert_eq!(
        order,
        [
            "urgent",
            "high-old",
            "high-yes",
            "normal-a",
            "normal-b",
            "normal-c",
            "normal-d",
            "low-oldest"
        ]
    );
}
