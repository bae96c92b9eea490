//! Bad spool files through the real daemon: a thousand generated files
//! (binary, huge, empty, no `To:`, bad numbers, invalid UTF-8, NUL bytes,
//! broken headers, mutated good files), symbolic links, and a file still being
//! written in place. Every file ends up either stored or in `failed/` with a
//! `Fail_reason:` line, none twice, none lost, except empty files: those are
//! placeholders (CONTRACT "Spool directory") and stay in `outgoing/`
//! untouched. The daemon keeps working.
//! The parser's own tables and property tests live in `src/spool/`.
mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// What a generated file must come to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Accept,
    Refuse,
    Either,
    /// An empty file: a placeholder, neither stored nor failed.
    LeftAlone,
}

/// A deterministic set of hostile files: (name, bytes, verdict).
fn cases(n: usize, seed: u64) -> Vec<(String, Vec<u8>, Verdict)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let good = |i: usize| format!("To: +1999{i:07}\n\nspool case {i}\n").into_bytes();
    let mut out = Vec::new();
    for i in 0..n {
        let (bytes, verdict) = match i % 12 {
            0 => {
                let len = rng.usize(1..600);
                (
                    std::iter::repeat_with(|| rng.u8(..)).take(len).collect(),
                    Verdict::Either,
                )
            }
            1 => (Vec::new(), Verdict::LeftAlone),
            2 => (
                format!("From: 123\nAlphabet: UTF-8\n\nno destination {i}\n").into_bytes(),
                Verdict::Refuse,
            ),
            3 => {
                let bad = [
                    "abc",
                    "+",
                    "",
                    "123456789012345678901234",
                    "+49 17x 1234",
                    "٣٣٣٣٣",
                    "12\u{7}34",
                    "++49123",
                    "49;rm -rf /",
                ];
                let to = bad[rng.usize(..bad.len())];
                (
                    format!("To: {to}\n\nbad number {i}\n").into_bytes(),
                    Verdict::Refuse,
                )
            }
            4 => {
                // Not UTF-8: read as ISO-8859-15, accepted.
                let mut b = format!("To: +1999{i:07}\n\n").into_bytes();
                b.extend([0xA4, 0xE9, 0xFF, 0xC3, 0x28, b' ']);
                b.extend(i.to_string().bytes());
                (b, Verdict::Accept)
            }
            5 => (
                format!("To: +1999{i:07}\nno blank line follows").into_bytes(),
                Verdict::Refuse,
            ),
            6 => {
                let mut b = format!("To: +1999{i:07}\n\nnul").into_bytes();
                b.push(0);
                b.extend(b"byte");
                (b, Verdict::Refuse)
            }
            7 if i % 48 == 7 => {
                // Larger than max_file_bytes (64 KiB).
                let mut b = good(i);
                b.resize(200 * 1024, b'x');
                (b, Verdict::Refuse)
            }
            7 => {
                // A broken header line.
                (
                    format!("To: +1999{i:07}\nthis is not a header\n\nx {i}\n").into_bytes(),
                    Verdict::Refuse,
                )
            }
            8 => (
                // Odd but valid: CRLF, case, repeated header, long body.
                format!(
                    "to: 1\r\nTO: +1999{i:07}\r\nflash: YES\r\n\r\n{} {i}\r\n",
                    "long body ".repeat(100)
                )
                .into_bytes(),
                Verdict::Accept,
            ),
            9 => {
                // Bad header values.
                let bad = [
                    "Priority: urgent",
                    "Validity: forever",
                    "Alphabet: EBCDIC",
                    "Class: 9",
                    "Language: klingon",
                ];
                let h = bad[rng.usize(..bad.len())];
                (
                    format!("To: +1999{i:07}\n{h}\n\nx {i}\n").into_bytes(),
                    Verdict::Either,
                )
            }
            10 => {
                // A good file with a few bytes flipped.
                let mut b = good(i);
                for _ in 0..rng.usize(1..4) {
                    let at = rng.usize(..b.len());
                    if let Some(x) = b.get_mut(at) {
                        *x = rng.u8(..);
                    }
                }
                (b, Verdict::Either)
            }
            _ => (good(i), Verdict::Accept),
        };
        out.push((format!("case-{i:04}"), bytes, verdict));
    }
    out
}

/// Waits until `outgoing/` holds only empty placeholders and `processing/`
/// is empty.
fn wait_spool_empty(g: &Gateway, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut w = g.watch();
    loop {
        let left: usize = ["outgoing", "processing"]
            .iter()
            .map(|d| {
                std::fs::read_dir(g.spool.join(d))
                    .map(|r| {
                        r.filter_map(Result::ok)
                            .filter(|e| {
                                *d == "processing"
                                    || e.path().symlink_metadata().map_or(true, |m| m.len() > 0)
                            })
                            .count()
                    })
                    .unwrap_or(0)
            })
            .sum();
        if left == 0 {
            return;
        }
        let t = deadline.saturating_duration_since(Instant::now());
        assert!(!t.is_zero(), "{left} spool files not taken");
        w.next(t.min(Duration::from_millis(200)));
    }
}

/// Message count by `source`-less text: every stored message's text.
fn stored_texts(g: &Gateway) -> Vec<String> {
    g.ok(json!({"cmd": "outbox", "limit": 100000}))
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect()
}

fn failed_files(g: &Gateway) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(g.spool.join("failed"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().to_string(),
                        std::fs::read(e.path()).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// No modem: stored messages stay queued, so the outbox shows them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_bad_spool_files_each_stored_or_failed_once() {
    let g = Gateway::start(vec![], "").await;
    let table = cases(1200, 42);
    assert!(!table.is_empty());
    for (name, bytes, _) in &table {
        g.spool_file(name, bytes);
    }
    // Symbolic links are never followed: removed, and recorded in failed/.
    let target = g.dir.path().join("secret");
    std::fs::write(&target, b"To: +19990000001\n\nnever sent through a link\n").expect("target");
    let outgoing = g.spool.join("outgoing");
    for k in 0..20 {
        let to = if k % 2 == 0 {
            target.clone()
        } else {
            std::path::PathBuf::from("/etc/passwd")
        };
        // Made beside outgoing/ and renamed in, as a writer would.
        let tmp = g.spool.join(format!(".link-{k:02}"));
        std::os::unix::fs::symlink(&to, &tmp).expect("symlink");
        std::fs::rename(&tmp, outgoing.join(format!("link-{k:02}"))).expect("rename");
    }
    tokio::task::block_in_place(|| wait_spool_empty(&g, Duration::from_secs(50)));

    let failed = failed_files(&g);
    let texts = stored_texts(&g);
    for (name, body) in &failed {
        assert!(
            body.starts_with(b"Fail_reason: "),
            "{name} has no Fail_reason first line"
        );
    }
    let mut wrong = Vec::new();
    for (name, _, verdict) in &table {
        let refused = failed.contains_key(name);
        match verdict {
            Verdict::Accept if refused => wrong.push(format!(
                "{name} refused: {:?}",
                failed.get(name).map(|b| String::from_utf8_lossy(
                    b.split(|c| *c == b'\n').next().unwrap_or(b"")
                )
                .to_string())
            )),
            Verdict::Refuse if !refused => wrong.push(format!("{name} accepted")),
            Verdict::LeftAlone if refused => wrong.push(format!("{name} (empty) failed")),
            Verdict::LeftAlone if !g.spool.join("outgoing").join(name).exists() => {
                wrong.push(format!("{name} (empty) taken from outgoing/"))
            }
            _ => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong verdicts: {wrong:#?}",
        wrong.len()
    );
    for k in 0..20 {
        assert!(failed.contains_key(&format!("link-{k:02}")), "link-{k:02}");
    }
    assert!(!texts.iter().any(|t| t.contains("through a link")));
    assert_eq!(
        std::fs::read(&target).expect("target"),
        b"To: +19990000001\n\nnever sent through a link\n",
        "a link's target is not touched"
    );
    // Every file is accounted for exactly once.
    let failed_names = failed.keys().filter(|n| n.starts_with("case-")).count();
    let left_alone = table
        .iter()
        .filter(|(_, _, v)| *v == Verdict::LeftAlone)
        .count();
    assert!(left_alone > 0);
    assert_eq!(
        failed_names + texts.len() + left_alone,
        table.len(),
        "{failed_names} failed + {} stored + {left_alone} empty left alone",
        texts.len()
    );
    let mut uniq = texts.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), texts.len(), "a file stored twice");
    eprintln!(
        "{} spool files: {} stored, {failed_names} refused, {left_alone} empty left alone; 20 symlinks refused",
        table.len(),
        texts.len()
    );

    // The daemon keeps working.
    let id = g.send("+19990000002", "still here");
    assert!(id > 0);
    g.spool_file("good", b"To: +19990000003\n\nstill spooling\n");
    tokio::task::block_in_place(|| wait_spool_empty(&g, T));
    assert!(stored_texts(&g).iter().any(|t| t == "still spooling"));
}

/// A file written in place is not read before its writer closes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_still_being_written_is_read_once_complete() {
    let g = Gateway::start(vec![], "").await;
    let outgoing = g.spool.join("outgoing");
    std::fs::create_dir_all(&outgoing).expect("outgoing");
    let path = outgoing.join("in-place");
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(b"To: +19990000010\n\nfirst half, ")
        .expect("write");
    f.flush().expect("flush");
    // Another file goes through meanwhile; the half-written one waits.
    g.spool_file("other", b"To: +19990000011\n\nanother file\n");
    tokio::task::block_in_place(|| {
        let mut w = g.watch();
        let deadline = Instant::now() + T;
        while !stored_texts(&g).iter().any(|t| t == "another file") {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the other file was not stored:\n{}",
                g.log()
            );
            w.next(left.min(Duration::from_millis(200)));
        }
    });
    assert!(path.exists(), "a file still open for writing was taken");
    f.write_all(b"second half").expect("write");
    drop(f);
    tokio::task::block_in_place(|| wait_spool_empty(&g, T));
    let texts = stored_texts(&g);
    assert!(
        texts.iter().any(|t| t == "first half, second half"),
        "{texts:?}\n{}",
        g.log()
    );
    assert!(failed_files(&g).is_empty());
}

/// Odd file names: each file is stored or failed, never lost or stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_file_names_are_taken_like_any_other() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let g = Gateway::start(vec![], "").await;
    let names: Vec<Vec<u8>> = vec![
        b"with space".to_vec(),
        b"-leading-dash".to_vec(),
        "ünïcödé-😀".as_bytes().to_vec(),
        vec![b'n', 0xFF, 0xFE, b'x'],
        b"new\nline".to_vec(),
        b"tab\there".to_vec(),
        vec![b'L'; 250],
        b"a.LOCKED.but.not.a.lock".to_vec(),
        b"..double-dot".to_vec(),
    ];
    assert!(!names.is_empty());
    let outgoing = g.spool.join("outgoing");
    std::fs::create_dir_all(&outgoing).expect("outgoing");
    let mut want = Vec::new();
    for (k, raw) in names.iter().enumerate() {
        let name = OsStr::from_bytes(raw);
        let text = format!("odd name {k}");
        let tmp = g.spool.join(format!(".odd-{k}"));
        std::fs::write(&tmp, format!("To: +1999200{k:04}\n\n{text}\n")).expect("write");
        std::fs::rename(&tmp, outgoing.join(name)).expect("rename in");
        // Names starting with '.' are skipped, as in smstools3.
        if !raw.starts_with(b".") {
            want.push(text);
        }
    }
    tokio::task::block_in_place(|| {
        let mut w = g.watch();
        let deadline = Instant::now() + T;
        loop {
            let texts = stored_texts(&g);
            let failed = failed_files(&g).len();
            // All stored but the one whose name is not UTF-8, which is
            // refused into failed/ (its name made valid).
            if texts.len() + failed >= want.len() {
                let missing: Vec<&String> = want.iter().filter(|t| !texts.contains(t)).collect();
                assert_eq!(missing, [&want[3]], "stored {texts:?}");
                let f = failed_files(&g);
                let body = f
                    .get("n\u{FFFD}\u{FFFD}x")
                    .expect("failed/ under the valid name");
                assert!(body.starts_with(b"Fail_reason: the file name is not UTF-8\n"));
                eprintln!(
                    "{} odd names: {} stored, {failed} failed",
                    want.len(),
                    texts.len()
                );
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "stored {texts:?}, failed {failed}\n{}",
                g.log()
            );
            w.next(left.min(Duration::from_millis(200)));
        }
    });
    assert!(g.send("+19990000002", "still here") > 0);
}
