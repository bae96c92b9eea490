//! The invariants of ARCHITECTURE.md, checked by reading the source tree:
//! no `rusqlite` outside `src/store/`; no `tokio`, `std::fs` or `std::net` in
//! `src/codec/`, `src/at/` and the pure dispatch policy (`policy`, `rate`,
//! `retry`, `health`, `encode`); no `tokio_serial` outside `src/modem/` and `src/sim/`;
//! every `.rs` file under `src/` opens with a `//!` line. Comments and string
//! literals are ignored, so a module may say "no tokio" in its doc. The
//! checker is itself tested on synthetic violations.

use std::path::{Path, PathBuf};

/// Source files where I/O and the runtime are not allowed.
const PURE: &[&str] = &[
    "src/codec/",
    "src/at/",
    "src/dispatch/policy.rs",
    "src/dispatch/policy/",
    "src/dispatch/rate.rs",
    "src/dispatch/retry.rs",
    "src/dispatch/health.rs",
    "src/dispatch/encode.rs",
];

/// Source files allowed to name `rusqlite`.
const SQL: &[&str] = &["src/store/"];

/// Source files allowed to name `tokio_serial`.
const SERIAL: &[&str] = &["src/modem/", "src/sim/"];

fn under(path: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| {
        if p.ends_with('/') {
            path.starts_with(p)
        } else {
            path == *p
        }
    })
}

/// The code of a Rust file with comments removed and the contents of string
/// and character literals blanked, so only real paths remain.
fn code_only(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = at(i);
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && at(i) != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && (at(i + 1) == '"' || (at(i + 1) == '#' && !is_ident(at(i.wrapping_sub(1)))))
            && !is_ident(at(i.wrapping_sub(1)))
        {
            // Raw string r"…" / r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let close: Vec<char> = close.chars().collect();
            while j < chars.len() && chars.get(j..j + close.len()) != Some(&close[..]) {
                j += 1;
            }
            out.push_str("\"\"");
            i = j + close.len();
        } else if c == '"' {
            i += 1;
            while i < chars.len() && at(i) != '"' {
                if at(i) == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                let mut j = i + 2;
                while j < chars.len() && at(j) != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if at(i + 2) == '\'' {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The identifiers of `code`, in order.
fn idents(code: &str) -> Vec<&str> {
    code.split(|c: char| !is_ident(c))
        .filter(|w| !w.is_empty() && !w.starts_with(|c: char| c.is_ascii_digit()))
        .collect()
}

/// `code` with the whitespace around `::` removed (`std :: fs` → `std::fs`).
fn tight_paths(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut pending = String::new();
    let mut rest = code;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            pending.push(c);
        } else {
            let joins = rest.starts_with("::") || out.ends_with("::");
            if !joins {
                out.push_str(&pending);
            }
            pending.clear();
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Whether `code` names `std::<module>`, directly or in a `use std::{…}` group.
fn uses_std(code: &str, module: &str) -> bool {
    let flat = tight_paths(code);
    let direct = format!("std::{module}");
    let mut rest = flat.as_str();
    while let Some(p) = rest.find(&direct) {
        let after = rest[p + direct.len()..].chars().next().unwrap_or(' ');
        let before = rest[..p].chars().last().unwrap_or(' ');
        if !is_ident(after) && !is_ident(before) {
            return true;
        }
        rest = &rest[p + direct.len()..];
    }
    // `std::{fs, io}` and nested `std::{io::Read, fs::File}`.
    let mut rest = flat.as_str();
    while let Some(p) = rest.find("std::{") {
        let group = &rest[p + 6..];
        let mut depth = 1;
        let mut end = group.len();
        for (k, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let inner: String = group[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let inner = inner.as_str();
        // Top-level items of the group: split on commas at depth 0.
        let mut d = 0;
        let mut start = 0;
        for (k, c) in inner
            .char_indices()
            .chain(std::iter::once((inner.len(), ',')))
        {
            match c {
                '{' => d += 1,
                '}' => d -= 1,
                ',' if d == 0 => {
                    let item = &inner[start..k];
                    let head = item.split("::").next().unwrap_or("");
                    if head == module {
                        return true;
                    }
                    start = k + 1;
                }
                _ => {}
            }
        }
        rest = group;
    }
    false
}

/// Every broken invariant in `files` (path relative to the crate, text).
fn violations(files: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, src) in files {
        if !src.lines().next().is_some_and(|l| l.starts_with("//!")) {
            out.push(format!("{path}: does not open with a //! line"));
        }
        let code = code_only(src);
        let words = idents(&code);
        if !under(path, SQL) && words.contains(&"rusqlite") {
            out.push(format!("{path}: rusqlite outside src/store/"));
        }
        if !under(path, SERIAL) && words.contains(&"tokio_serial") {
            out.push(format!(
                "{path}: tokio_serial outside src/modem/ and src/sim/"
            ));
        }
        if under(path, PURE) {
            if let Some(w) = words.iter().find(|w| w.starts_with("tokio")) {
                out.push(format!("{path}: {w} in pure code"));
            }
            for m in ["fs", "net"] {
                if uses_std(&code, m) {
                    out.push(format!("{path}: std::{m} in pure code"));
                }
            }
        }
    }
    out
}

fn rust_files(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, root, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, std::fs::read_to_string(&p).unwrap()));
        }
    }
}

#[test]
fn the_source_tree_keeps_the_invariants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), root, &mut files);
    assert!(files.len() > 50, "found only {} files", files.len());
    // The rules name real places: a rename must update them.
    for p in PURE.iter().chain(SQL).chain(SERIAL) {
        assert!(
            files.iter().any(|(f, _)| under(f, &[p])),
            "{p} matches no file under src/"
        );
    }
    // The rules see what they look for.
    let store = files.iter().filter(|(f, _)| f.starts_with("src/store/"));
    assert!(store
        .clone()
        .any(|(_, s)| idents(&code_only(s)).contains(&"rusqlite")));
    let v = violations(&files);
    assert!(
        v.is_empty(),
        "ARCHITECTURE.md invariants broken:\n{}",
        v.join("\n")
    );
}

#[test]
fn the_checker_finds_synthetic_violations() {
    let f = |p: &str, s: &str| (p.to_string(), s.to_string());
    // (file, the violations expected: substrings, one per violation)
    let cases: Vec<((String, String), &[&str])> = vec![
        (f("src/codec/x.rs", "//! ok\nfn f() {}\n"), &[]),
        (f("src/codec/x.rs", "fn f() {}\n"), &["//! line"]),
        (f("src/codec/x.rs", "\n//! late\n"), &["//! line"]),
        (f("src/codec/x.rs", "//! x\nuse tokio::sync::mpsc;\n"), &["tokio in pure"]),
        (f("src/at/x.rs", "//! x\nasync fn f() { tokio::time::sleep(d).await }\n"), &["tokio in pure"]),
        (f("src/dispatch/rate.rs", "//! x\nuse tokio_util::codec;\n"), &["tokio_util in pure"]),
        (f("src/dispatch/policy/tests.rs", "//! x\nfn f() { std::fs::read(\"a\"); }\n"), &["std::fs"]),
        (f("src/dispatch/health.rs", "//! x\nuse std::{io, fs::File};\n"), &["std::fs"]),
        (f("src/dispatch/retry.rs", "//! x\nuse std::{\n    net::TcpStream,\n    io,\n};\n"), &["std::net"]),
        (f("src/codec/x.rs", "//! x\nuse std :: net;\n"), &["std::net"]),
        // Comments, strings and look-alike names are not code.
        (f("src/codec/x.rs", "//! no tokio, no std::fs\n// tokio::spawn\n/* std::net */\nconst S: &str = \"tokio std::fs\";\nconst R: &str = r#\"rusqlite \"x\" std::net\"#;\nfn f(mystd::fs: u8, fs: u8) {}\nlet c = '\"'; let t = \"tokio\";\n"), &[]),
        (f("src/codec/x.rs", "//! x\nuse std::{io::{Read, Write}, fmt};\n"), &[]),
        // tokio is fine outside the pure modules.
        (f("src/daemon/x.rs", "//! x\nuse tokio::fs;\nuse std::fs;\n"), &[]),
        // SQL only in the store.
        (f("src/store/x.rs", "//! x\nuse rusqlite::Connection;\n"), &[]),
        (f("src/daemon/x.rs", "//! x\nuse rusqlite::Connection;\n"), &["rusqlite outside"]),
        (f("src/codec/x.rs", "//! x\nfn f(c: &rusqlite::Connection) {}\n"), &["rusqlite outside"]),
        // Serial ports only in modem and sim.
        (f("src/modem/port.rs", "//! x\nuse tokio_serial::SerialStream;\n"), &[]),
        (f("src/sim/x.rs", "//! x\nuse tokio_serial::SerialStream;\n"), &[]),
        (f("src/daemon/x.rs", "//! x\nuse tokio_serial::SerialStream;\n"), &["tokio_serial outside"]),
        (f("src/at/x.rs", "fn f() { tokio_serial::new(p, 9600); }\n"), &["//! line", "tokio_serial outside", "tokio_serial in pure"]),
    ];
    for (file, want) in &cases {
        let got = violations(std::slice::from_ref(file));
        assert_eq!(got.len(), want.len(), "{}: {got:?}, want {want:?}", file.1);
        for w in *want {
            assert!(
                got.iter().any(|g| g.contains(w)),
                "{}: {w:?} not in {got:?}",
                file.1
            );
        }
    }
}
