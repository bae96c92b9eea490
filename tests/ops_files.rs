//! Checks the files an operator installs, not the daemon: the systemd unit
//! (`systemd-analyze verify` and `security`, and that its sandbox grants what
//! the daemon needs and nothing more), the sysusers.d and tmpfiles.d entries,
//! the udev rules (a strict syntax check, `udevadm verify` where systemd ≥ 253
//! has it, and a small evaluator that runs the rules against modelled modems),
//! and the `.deb` metadata in Cargo.toml. Tools that are missing make a test
//! print why it skipped that part; `.ci/run` installs them so CI never skips.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use proptest::prelude::*;

/// What the strict parsers in this file reject, with the line it happened on.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum LintError {
    #[error("line {line}: {what}")]
    Syntax { line: usize, what: String },
    #[error("line {line}: unknown key {key:?}")]
    UnknownKey { line: usize, key: String },
    #[error("line {line}: key {key} cannot take operator {op:?}")]
    BadOperator {
        line: usize,
        key: String,
        op: String,
    },
    #[error("line {line}: GOTO {label:?} has no LABEL after it")]
    MissingLabel { line: usize, label: String },
    #[error("line {line}: LABEL {label:?} defined twice")]
    DuplicateLabel { line: usize, label: String },
    #[error("line {line}: field {field} is {value:?}: {why}")]
    BadField {
        line: usize,
        field: &'static str,
        value: String,
        why: &'static str,
    },
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// Says why part of a test did not run. `.ci/run` sets
/// SMSGATE_OPS_REQUIRE_TOOLS=1, which makes any such skip a failure.
fn skip(why: &str) {
    assert!(
        std::env::var_os("SMSGATE_OPS_REQUIRE_TOOLS").is_none(),
        "SMSGATE_OPS_REQUIRE_TOOLS is set but: {why}"
    );
    eprintln!("SKIPPED: {why}");
}

/// Runs a tool; `None` (and a skip message) when it is not installed.
fn run_tool(program: &str, args: &[&str]) -> Option<Output> {
    match Command::new(program).args(args).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            skip(&format!(
                "{program} is not installed (apt-get install systemd); .ci/run installs it"
            ));
            None
        }
        Err(e) => panic!("running {program}: {e}"),
    }
}

fn show(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

// ---------------------------------------------------------------------------
// systemd unit

/// The unit as `section -> key -> values` (repeated keys keep every value,
/// in order; an empty assignment resets the list, as systemd does).
fn parse_unit(text: &str) -> Result<BTreeMap<String, BTreeMap<String, Vec<String>>>, LintError> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut section: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some(name) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = Some(name.to_string());
            out.entry(name.to_string()).or_default();
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            return Err(LintError::Syntax {
                line,
                what: format!("not KEY=value: {l:?}"),
            });
        };
        let Some(sec) = &section else {
            return Err(LintError::Syntax {
                line,
                what: "assignment before any [section]".into(),
            });
        };
        let values = out
            .entry(sec.clone())
            .or_default()
            .entry(k.trim().to_string())
            .or_default();
        if v.trim().is_empty() {
            values.clear();
        }
        values.push(v.trim().to_string());
    }
    Ok(out)
}

/// A temp copy of the unit whose Exec lines run the binary cargo just built,
/// since `systemd-analyze verify` checks that the executable exists.
fn unit_copy(dir: &Path) -> PathBuf {
    let bin = env!("CARGO_BIN_EXE_smsgate");
    let text = read("systemd/smsgate.service").replace("/usr/bin/smsgate", bin);
    let path = dir.join("smsgate.service");
    fs::write(&path, text).expect("temp dir is writable");
    path
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().expect("temp dir");
    let unit = unit_copy(dir.path());
    let Some(out) = run_tool("systemd-analyze", &["verify", &unit.to_string_lossy()]) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    // verify prints warnings on stderr and may still exit 0: both must be clean.
    // Lines about the host (no systemd as PID 1 in a container) are not ours.
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("smsgate")).collect();
    assert!(out.status.success() && ours.is_empty(), "{}", show(&out));
}

/// systemd's bands: exposure 0.0 PERFECT, < 1.0 SAFE, < 5.0 OK, then MEDIUM,
/// EXPOSED, UNSAFE, DANGEROUS. `--threshold` takes the exposure times ten.
const SECURITY_THRESHOLD: &str = "49";

#[test]
fn unit_is_rated_ok_or_better_by_systemd_analyze_security() {
    let dir = tempfile::tempdir().expect("temp dir");
    let unit = unit_copy(dir.path());
    let threshold = format!("--threshold={SECURITY_THRESHOLD}");
    let Some(out) = run_tool(
        "systemd-analyze",
        &[
            "security",
            "--offline=true",
            &threshold,
            "--no-pager",
            &unit.to_string_lossy(),
        ],
    ) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let verdict = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no verdict line\n{}", show(&out)));
    println!("{verdict}");
    let good = ["PERFECT", "SAFE", "OK"]
        .iter()
        .any(|r| verdict.split_whitespace().any(|w| w == *r));
    assert!(out.status.success() && good, "{}", show(&out));
}

/// One expectation on the unit: the key, and a predicate over its values.
struct UnitCheck {
    section: &'static str,
    key: &'static str,
    why: &'static str,
    ok: fn(&[String]) -> bool,
}

fn last(v: &[String]) -> &str {
    v.last().map(String::as_str).unwrap_or("")
}

fn words(v: &[String]) -> Vec<String> {
    v.iter()
        .flat_map(|s| s.split_whitespace().map(str::to_string))
        .collect()
}

fn yes(v: &[String]) -> bool {
    matches!(last(v), "yes" | "true" | "1" | "on")
}

#[test]
fn unit_grants_what_the_daemon_needs_and_nothing_more() {
    let unit = parse_unit(&read("systemd/smsgate.service")).expect("unit parses");
    let table: &[UnitCheck] = &[
        UnitCheck {
            section: "Service",
            key: "Type",
            why: "READY comes through sd_notify",
            ok: |v| last(v) == "notify",
        },
        UnitCheck {
            section: "Service",
            key: "NotifyAccess",
            why: "only the daemon, not hooks, may notify",
            ok: |v| last(v) == "main",
        },
        UnitCheck {
            section: "Service",
            key: "WatchdogSec",
            why: "a wedged daemon is restarted",
            ok: |v| !last(v).is_empty() && last(v) != "0",
        },
        UnitCheck {
            section: "Service",
            key: "Restart",
            why: "restart policy",
            ok: |v| last(v) == "on-failure" || last(v) == "always",
        },
        UnitCheck {
            section: "Service",
            key: "ExecStart",
            why: "runs the daemon with the packaged config",
            ok: |v| last(v) == "/usr/bin/smsgate run -c /etc/smsgate/smsgate.toml",
        },
        UnitCheck {
            section: "Service",
            key: "User",
            why: "dedicated user (sysusers.d)",
            ok: |v| last(v) == "smsgate",
        },
        UnitCheck {
            section: "Service",
            key: "SupplementaryGroups",
            why: "serial devices belong to dialout",
            ok: |v| words(v).iter().any(|w| w == "dialout"),
        },
        UnitCheck {
            section: "Service",
            key: "UMask",
            why: "socket and spool files stay usable by the smsgate group",
            ok: |v| last(v) == "0007",
        },
        UnitCheck {
            section: "Service",
            key: "RuntimeDirectory",
            why: "/run/smsgate holds the control socket",
            ok: |v| words(v) == ["smsgate"],
        },
        UnitCheck {
            section: "Service",
            key: "StateDirectory",
            why: "/var/lib/smsgate holds the store",
            ok: |v| words(v) == ["smsgate"],
        },
        UnitCheck {
            section: "Service",
            key: "ConfigurationDirectory",
            why: "/etc/smsgate",
            ok: |v| words(v) == ["smsgate"],
        },
        UnitCheck {
            section: "Service",
            key: "ConfigurationDirectoryMode",
            why: "systemd leaves it root-owned, so others need x to reach the config",
            ok: |v| u32::from_str_radix(last(v), 8).is_ok_and(|m| m & 0o001 != 0),
        },
        UnitCheck {
            section: "Service",
            key: "ReadWritePaths",
            why: "the spool is writable under ProtectSystem=strict",
            ok: |v| {
                words(v)
                    .iter()
                    .any(|w| w.trim_start_matches('-') == "/var/spool/smsgate")
            },
        },
        UnitCheck {
            section: "Service",
            key: "ProtectSystem",
            why: "read-only /usr, /etc, /var outside the granted paths",
            ok: |v| last(v) == "strict",
        },
        UnitCheck {
            section: "Service",
            key: "ProtectHome",
            why: "no home directories",
            ok: yes,
        },
        UnitCheck {
            section: "Service",
            key: "PrivateTmp",
            why: "own /tmp",
            ok: yes,
        },
        UnitCheck {
            section: "Service",
            key: "NoNewPrivileges",
            why: "no setuid escalation, hooks included",
            ok: yes,
        },
        UnitCheck {
            section: "Service",
            key: "DevicePolicy",
            why: "only listed devices (plus /dev/null & co)",
            ok: |v| last(v) == "closed" || last(v) == "strict",
        },
        UnitCheck {
            section: "Service",
            key: "DeviceAllow",
            why: "USB serial and CDC-ACM ports, read-write, nothing else",
            ok: |v| {
                let allowed: BTreeSet<&str> = [
                    "char-ttyUSB rw",
                    "char-ttyACM rw",
                    "char-ttyS rw",
                    "char-ttyAMA rw",
                ]
                .into();
                v.iter().any(|d| d == "char-ttyUSB rw")
                    && v.iter().any(|d| d == "char-ttyACM rw")
                    && v.iter().all(|d| allowed.contains(d.as_str()))
            },
        },
        UnitCheck {
            section: "Service",
            key: "RestrictAddressFamilies",
            why: "a Unix socket and sd_notify; no network",
            ok: |v| words(v) == ["AF_UNIX"],
        },
        UnitCheck {
            section: "Service",
            key: "PrivateNetwork",
            why: "the daemon never uses the network",
            ok: yes,
        },
        UnitCheck {
            section: "Service",
            key: "SystemCallFilter",
            why: "allow-list with @system-service, which keeps fork/exec (@process) for hooks",
            ok: |v| {
                let allow = v.iter().any(|s| {
                    !s.starts_with('~') && s.split_whitespace().any(|w| w == "@system-service")
                });
                let denied: Vec<&str> = v
                    .iter()
                    .filter_map(|s| s.strip_prefix('~'))
                    .flat_map(str::split_whitespace)
                    .collect();
                let keeps = [
                    "@process",
                    "@basic-io",
                    "@file-system",
                    "@io-event",
                    "@network-io",
                    "@signal",
                    "execve",
                    "fork",
                    "clone",
                    "clone3",
                    "inotify_init1",
                ];
                allow && denied.iter().all(|d| !keeps.contains(d))
            },
        },
        UnitCheck {
            section: "Service",
            key: "CapabilityBoundingSet",
            why: "no capabilities at all",
            ok: |v| last(v).is_empty(),
        },
    ];
    assert!(!table.is_empty());
    for c in table {
        let values = unit
            .get(c.section)
            .and_then(|s| s.get(c.key))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        assert!(
            (c.ok)(values),
            "[{}] {} = {:?}: expected {}",
            c.section,
            c.key,
            values,
            c.why
        );
    }
    // Things that would take away what the daemon needs.
    let service = unit.get("Service").expect("a [Service] section");
    let forbidden: &[(&str, &str)] = &[
        ("PrivateDevices", "hides /dev/ttyUSB*"),
        ("DynamicUser", "the spool group needs a fixed user"),
        ("PrivateUsers", "dialout would map to nobody"),
    ];
    assert!(!forbidden.is_empty());
    for (key, why) in forbidden {
        let v = service.get(*key).map(Vec::as_slice).unwrap_or(&[]);
        assert!(!yes(v), "{key} is on: {why}");
    }
}

#[test]
fn unit_parser_rejects_what_systemd_would() {
    let table: &[(&str, bool)] = &[
        ("[Service]\nType=notify\n", true),
        (
            "# c\n[Unit]\nDescription=x y\n[Service]\nExecStart=/bin/true\n",
            true,
        ),
        ("Type=notify\n", false),
        ("[Service]\nnot an assignment\n", false),
    ];
    assert!(!table.is_empty());
    for (text, ok) in table {
        assert_eq!(parse_unit(text).is_ok(), *ok, "{text:?}");
    }
}

// ---------------------------------------------------------------------------
// sysusers.d and tmpfiles.d

#[derive(Debug, PartialEq, Eq)]
struct SysusersLine {
    kind: char,
    name: String,
    id: String,
}

/// sysusers.d(5): `u|g|m|r name id [gecos] [home] [shell]`, gecos quoted.
fn parse_sysusers(text: &str) -> Result<Vec<SysusersLine>, LintError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let fields = split_quoted(l).map_err(|what| LintError::Syntax { line, what })?;
        let kind = match fields.first().map(String::as_str) {
            Some("u") => 'u',
            Some("g") => 'g',
            Some("m") => 'm',
            Some("r") => 'r',
            other => {
                return Err(LintError::BadField {
                    line,
                    field: "type",
                    value: other.unwrap_or("").to_string(),
                    why: "must be u, g, m or r",
                });
            }
        };
        let name = fields.get(1).cloned().unwrap_or_default();
        let valid_name = !name.is_empty()
            && name.len() <= 31
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            && !name.starts_with('-');
        if !valid_name && kind != 'r' {
            return Err(LintError::BadField {
                line,
                field: "name",
                value: name,
                why: "not a portable user or group name",
            });
        }
        let id = fields.get(2).cloned().unwrap_or_else(|| "-".into());
        let max = match kind {
            'u' => 6,
            'g' => 3,
            'm' => 3,
            _ => 3,
        };
        if fields.len() > max {
            return Err(LintError::Syntax {
                line,
                what: format!("{} fields, at most {max} for {kind}", fields.len()),
            });
        }
        out.push(SysusersLine { kind, name, id });
    }
    Ok(out)
}

/// Splits on whitespace, keeping "double quoted" fields whole.
fn split_quoted(l: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut had = false;
    for c in l.chars() {
        match c {
            '"' => {
                in_quote = !in_quote;
                had = true;
            }
            c if c.is_whitespace() && !in_quote => {
                if had {
                    out.push(std::mem::take(&mut cur));
                    had = false;
                }
            }
            c => {
                cur.push(c);
                had = true;
            }
        }
    }
    if in_quote {
        return Err("unterminated quote".into());
    }
    if had {
        out.push(cur);
    }
    Ok(out)
}

#[test]
fn sysusers_entry_makes_the_user_in_dialout() {
    let lines = parse_sysusers(&read("systemd/smsgate.sysusers")).expect("sysusers parses");
    let want: &[(char, &str, Option<&str>)] =
        &[('u', "smsgate", None), ('m', "smsgate", Some("dialout"))];
    assert!(!want.is_empty());
    for (kind, name, id) in want {
        assert!(
            lines
                .iter()
                .any(|l| l.kind == *kind && l.name == *name && id.is_none_or(|id| l.id == id)),
            "no {kind} {name} {id:?} line in {lines:?}"
        );
    }
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir_all(dir.path().join("etc")).expect("temp etc");
    for f in ["passwd", "group"] {
        let _ = fs::copy(Path::new("/etc").join(f), dir.path().join("etc").join(f));
    }
    let file = repo().join("systemd/smsgate.sysusers");
    let root = format!("--root={}", dir.path().display());
    let Some(out) = run_tool(
        "systemd-sysusers",
        &[&root, "--dry-run", &file.to_string_lossy()],
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", show(&out));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !all.contains("Failed") && !all.contains("nvalid"),
        "{}",
        show(&out)
    );
}

#[test]
fn sysusers_parser_table() {
    let table: &[(&str, bool)] = &[
        (
            "u smsgate - \"smsgate SMS gateway\" /var/lib/smsgate /usr/sbin/nologin",
            true,
        ),
        ("g smsgate -", true),
        ("m smsgate dialout", true),
        ("x smsgate -", false),
        ("u Smsgate -", false),
        ("u smsgate - \"unterminated", false),
        ("m smsgate dialout extra", false),
    ];
    assert!(!table.is_empty());
    for (text, ok) in table {
        assert_eq!(parse_sysusers(text).is_ok(), *ok, "{text:?}");
    }
}

#[derive(Debug, PartialEq, Eq)]
struct TmpfilesLine {
    kind: String,
    path: String,
    mode: Option<u32>,
    user: String,
    group: String,
}

/// tmpfiles.d(5): `Type Path Mode User Group Age Argument`, "-" for defaults.
fn parse_tmpfiles(text: &str) -> Result<Vec<TmpfilesLine>, LintError> {
    const TYPES: &str = "fFwdDevqQpLcbCxXrRzZtThHaA";
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 2 {
            return Err(LintError::Syntax {
                line,
                what: "needs at least a type and a path".into(),
            });
        }
        let kind = f[0];
        let mut chars = kind.chars();
        let valid_type =
            chars.next().is_some_and(|c| TYPES.contains(c)) && chars.all(|c| "+!-=~^".contains(c));
        if !valid_type {
            return Err(LintError::BadField {
                line,
                field: "type",
                value: kind.into(),
                why: "unknown type or modifier",
            });
        }
        if !f[1].starts_with('/') || f[1].contains("//") {
            return Err(LintError::BadField {
                line,
                field: "path",
                value: f[1].into(),
                why: "must be absolute and normalised",
            });
        }
        let mode = match f.get(2).copied() {
            None | Some("-") => None,
            Some(m) => {
                let digits = m.trim_start_matches(['~', ':']);
                if digits.len() > 4 || digits.is_empty() {
                    return Err(LintError::BadField {
                        line,
                        field: "mode",
                        value: m.into(),
                        why: "one to four octal digits",
                    });
                }
                Some(
                    u32::from_str_radix(digits, 8).map_err(|_| LintError::BadField {
                        line,
                        field: "mode",
                        value: m.into(),
                        why: "not octal",
                    })?,
                )
            }
        };
        let user = f.get(3).copied().unwrap_or("-").to_string();
        let group = f.get(4).copied().unwrap_or("-").to_string();
        if kind.starts_with(['a', 'A']) && f.len() < 7 {
            return Err(LintError::Syntax {
                line,
                what: "an ACL line needs its argument".into(),
            });
        }
        out.push(TmpfilesLine {
            kind: kind.into(),
            path: f[1].into(),
            mode,
            user,
            group,
        });
    }
    Ok(out)
}

#[test]
fn tmpfiles_entry_creates_the_spool_for_the_group() {
    let lines = parse_tmpfiles(&read("systemd/smsgate.tmpfiles")).expect("tmpfiles parses");
    // path, mode: outgoing is group-writable, setgid and sticky; the others
    // only the daemon writes.
    let want: &[(&str, u32)] = &[
        ("/var/spool/smsgate", 0o2770),
        ("/var/spool/smsgate/outgoing", 0o3770),
        ("/var/spool/smsgate/processing", 0o2750),
        ("/var/spool/smsgate/failed", 0o2750),
    ];
    assert!(!want.is_empty());
    for (path, mode) in want {
        let l = lines
            .iter()
            .find(|l| l.kind == "d" && l.path == *path)
            .unwrap_or_else(|| panic!("no d line for {path}"));
        assert_eq!(l.mode, Some(*mode), "{path}");
        assert_eq!(
            (l.user.as_str(), l.group.as_str()),
            ("smsgate", "smsgate"),
            "{path}"
        );
    }
    if !is_root() {
        skip("systemd-tmpfiles --create in a temp root needs root (chown)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let etc = dir.path().join("etc");
    fs::create_dir_all(&etc).expect("temp etc");
    let root = format!("--root={}", dir.path().display());
    // The user first, as the package does, so tmpfiles can resolve it.
    for f in ["passwd", "group", "shadow", "gshadow"] {
        let _ = fs::copy(Path::new("/etc").join(f), etc.join(f));
    }
    let sysusers = repo().join("systemd/smsgate.sysusers");
    let Some(out) = run_tool("systemd-sysusers", &[&root, &sysusers.to_string_lossy()]) else {
        return;
    };
    assert!(out.status.success(), "{}", show(&out));
    let tmpfiles = repo().join("systemd/smsgate.tmpfiles");
    let Some(out) = run_tool(
        "systemd-tmpfiles",
        &[&root, "--create", &tmpfiles.to_string_lossy()],
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", show(&out));
    assert!(out.stderr.is_empty(), "{}", show(&out));
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in want {
        let p = dir.path().join(path.trim_start_matches('/'));
        let meta = fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(meta.is_dir(), "{}", p.display());
        assert_eq!(meta.permissions().mode() & 0o7777, *mode, "{}", p.display());
    }
    // A file written with a strict umask is still readable by the group.
    let outgoing = dir.path().join("var/spool/smsgate/outgoing");
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let file = outgoing.join("probe");
    let written = fs::write(&file, "To: 123\n\nhi\n");
    nix::sys::stat::umask(old);
    written.expect("spool is writable by root");
    let mode = fs::metadata(&file)
        .expect("probe exists")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        mode & 0o060,
        0o060,
        "default ACL keeps the file group rw, got {mode:o}"
    );
}

#[test]
fn tmpfiles_parser_table() {
    let table: &[(&str, bool)] = &[
        ("d /var/spool/smsgate 2770 smsgate smsgate -", true),
        ("a+ /var/spool/smsgate/outgoing - - - - d:group::rw-", true),
        ("d /var/spool/smsgate", true),
        ("d var/spool 0755 root root -", false),
        ("y /x 0755 root root -", false),
        ("d /x 27z0 root root -", false),
        ("d /x 077777 root root -", false),
        ("a+ /x - - -", false),
        ("d", false),
    ];
    assert!(!table.is_empty());
    for (text, ok) in table {
        assert_eq!(parse_tmpfiles(text).is_ok(), *ok, "{text:?}");
    }
}

// ---------------------------------------------------------------------------
// udev rules

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Match,
    NoMatch,
    Assign,
    Add,
    Remove,
    Final,
}

impl Op {
    fn is_match(self) -> bool {
        matches!(self, Op::Match | Op::NoMatch)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Match => "==",
            Op::NoMatch => "!=",
            Op::Assign => "=",
            Op::Add => "+=",
            Op::Remove => "-=",
            Op::Final => ":=",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pair {
    key: String,
    attr: Option<String>,
    op: Op,
    value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    line: usize,
    pairs: Vec<Pair>,
}

/// How a key may be used: match only, assign only, or both.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    Match,
    Assign,
    Both,
}

/// udev keys (udev(7)), whether they take `{attr}`, and how they may be used.
fn key_kind(key: &str) -> Option<(bool, Use)> {
    Some(match key {
        "ACTION" | "DEVPATH" | "KERNEL" | "KERNELS" | "SUBSYSTEM" | "SUBSYSTEMS" | "DRIVER"
        | "DRIVERS" | "TAGS" | "RESULT" => (false, Use::Match),
        "ATTRS" | "CONST" | "PROGRAM" => (key != "PROGRAM", Use::Match),
        "ENV" | "ATTR" | "SYSCTL" => (true, Use::Both),
        "TEST" => (true, Use::Match),
        "TAG" | "NAME" | "SYMLINK" | "OWNER" | "GROUP" | "MODE" => (false, Use::Both),
        "IMPORT" | "RUN" => (true, Use::Assign),
        "OPTIONS" | "LABEL" | "GOTO" | "SECLABEL" => (key == "SECLABEL", Use::Assign),
        _ => return None,
    })
}

/// Parses a rules file strictly: every line a comment, blank, or
/// comma-separated `KEY[{attr}]OP"value"` pairs; every GOTO has a LABEL after it.
fn parse_udev(text: &str) -> Result<Vec<Rule>, LintError> {
    let mut rules = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if pending.is_empty() {
            start = line;
            let t = raw.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
        }
        if let Some(cont) = raw.strip_suffix('\\') {
            pending.push_str(cont);
            continue;
        }
        pending.push_str(raw);
        let rule_text = std::mem::take(&mut pending);
        rules.push(Rule {
            line: start,
            pairs: parse_udev_line(&rule_text, start)?,
        });
    }
    if !pending.is_empty() {
        return Err(LintError::Syntax {
            line: start,
            what: "file ends inside a continued line".into(),
        });
    }
    let mut labels: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rules {
        for p in r.pairs.iter().filter(|p| p.key == "LABEL") {
            if labels.insert(p.value.clone(), r.line).is_some() {
                return Err(LintError::DuplicateLabel {
                    line: r.line,
                    label: p.value.clone(),
                });
            }
        }
    }
    for r in &rules {
        for p in r.pairs.iter().filter(|p| p.key == "GOTO") {
            // udev only jumps forward.
            if labels.get(&p.value).is_none_or(|&at| at <= r.line) {
                return Err(LintError::MissingLabel {
                    line: r.line,
                    label: p.value.clone(),
                });
            }
        }
    }
    Ok(rules)
}

fn parse_udev_line(text: &str, line: usize) -> Result<Vec<Pair>, LintError> {
    let syntax = |what: String| LintError::Syntax { line, what };
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .unwrap_or(rest.len());
        let (key, after) = rest.split_at(key_end);
        if key.is_empty() {
            return Err(syntax(format!("expected a key at {rest:?}")));
        }
        let Some((takes_attr, usage)) = key_kind(key) else {
            return Err(LintError::UnknownKey {
                line,
                key: key.into(),
            });
        };
        let (attr, after) = match after.strip_prefix('{') {
            Some(a) => {
                let Some(close) = a.find('}') else {
                    return Err(syntax(format!("unclosed {{ after {key}")));
                };
                let (name, tail) = a.split_at(close);
                if name.is_empty() {
                    return Err(syntax(format!("empty {{}} after {key}")));
                }
                (Some(name.to_string()), &tail[1..])
            }
            None => (None, after),
        };
        if attr.is_some() != takes_attr {
            return Err(syntax(format!(
                "{key} {} an {{attribute}}",
                if takes_attr { "needs" } else { "takes no" }
            )));
        }
        let after = after.trim_start();
        let (op, after) = [
            ("==", Op::Match),
            ("!=", Op::NoMatch),
            ("+=", Op::Add),
            ("-=", Op::Remove),
            (":=", Op::Final),
            ("=", Op::Assign),
        ]
        .iter()
        .find_map(|(s, op)| after.strip_prefix(s).map(|a| (*op, a)))
        .ok_or_else(|| syntax(format!("expected an operator after {key}")))?;
        let allowed = match usage {
            Use::Match => op.is_match(),
            Use::Assign => !op.is_match() && (op == Op::Assign || !matches!(key, "LABEL" | "GOTO")),
            Use::Both => true,
        };
        if !allowed {
            return Err(LintError::BadOperator {
                line,
                key: key.into(),
                op: op.to_string(),
            });
        }
        let after = after.trim_start();
        let Some(body) = after.strip_prefix('"') else {
            return Err(syntax(format!("value of {key} must be double-quoted")));
        };
        let mut end = None;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else {
            return Err(syntax(format!("unterminated value of {key}")));
        };
        let value = body[..end].to_string();
        pairs.push(Pair {
            key: key.into(),
            attr,
            op,
            value,
        });
        rest = body[end + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return Err(syntax("trailing comma".into()));
            }
        } else if !rest.is_empty() {
            return Err(syntax(format!("expected ',' before {rest:?}")));
        }
    }
    Ok(pairs)
}

/// A modelled device for the evaluator: the tty, its USB interface and its
/// USB device, and what the `usb_id` and `path_id` builtins would import.
struct Device {
    interface: BTreeMap<&'static str, String>,
    usb: BTreeMap<&'static str, String>,
    usb_id: BTreeMap<&'static str, String>,
    path_id: BTreeMap<&'static str, String>,
}

fn modem(vid: &str, pid: &str, serial: &str, ifnum: &str, class: [&str; 3]) -> Device {
    let interface = BTreeMap::from([
        ("bInterfaceNumber", ifnum.to_string()),
        ("bInterfaceClass", class[0].to_string()),
        ("bInterfaceSubClass", class[1].to_string()),
        ("bInterfaceProtocol", class[2].to_string()),
    ]);
    let usb = BTreeMap::from([
        ("idVendor", vid.to_string()),
        ("idProduct", pid.to_string()),
    ]);
    let mut usb_id = BTreeMap::from([
        ("ID_VENDOR_ID", vid.to_string()),
        ("ID_MODEL_ID", pid.to_string()),
        ("ID_USB_INTERFACE_NUM", ifnum.to_string()),
    ]);
    if !serial.is_empty() {
        usb_id.insert("ID_SERIAL_SHORT", serial.to_string());
    }
    let path_id = BTreeMap::from([(
        "ID_PATH_TAG",
        "platform-3f980000_usb-usb-0_1_2_1_0".to_string(),
    )]);
    Device {
        interface,
        usb,
        usb_id,
        path_id,
    }
}

/// udev's fnmatch subset used in our rules: `*`, `?`, and `|` alternatives.
fn glob(pattern: &str, s: &str) -> bool {
    fn one(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => one(&p[1..], s) || (!s.is_empty() && one(p, &s[1..])),
            (Some(b'?'), Some(_)) => one(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => one(&p[1..], &s[1..]),
            _ => false,
        }
    }
    pattern
        .split('|')
        .any(|alt| one(alt.as_bytes(), s.as_bytes()))
}

/// What the evaluator could not model.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum EvalError {
    #[error("line {line}: the evaluator does not model {what}")]
    Unsupported { line: usize, what: String },
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Outcome {
    env: BTreeMap<String, String>,
    symlinks: Vec<String>,
    group: Option<String>,
    mode: Option<String>,
}

fn substitute(
    value: &str,
    env: &BTreeMap<String, String>,
    line: usize,
) -> Result<String, EvalError> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find(['$', '%']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(name) = tail.strip_prefix("$env{").and_then(|t| t.split_once('}')) else {
            return Err(EvalError::Unsupported {
                line,
                what: format!("substitution {tail:?}"),
            });
        };
        out.push_str(env.get(name.0).map(String::as_str).unwrap_or(""));
        rest = name.1;
    }
    out.push_str(rest);
    Ok(out)
}

/// Runs parsed rules against a device for an "add" event, the way udev does
/// for the keys our rules use. Parent keys (SUBSYSTEMS, ATTRS) must all match
/// on one device of the chain tty → interface → usb device, starting with the
/// tty itself, as udev does.
fn evaluate(rules: &[Rule], dev: &Device) -> Result<Outcome, EvalError> {
    let mut o = Outcome::default();
    let chain: [(&str, &BTreeMap<&str, String>); 3] = [
        ("tty", &BTreeMap::new()),
        ("usb", &dev.interface),
        ("usb", &dev.usb),
    ];
    let mut skip_to: Option<&str> = None;
    for r in rules {
        if let Some(label) = skip_to {
            if r.pairs.iter().any(|p| p.key == "LABEL" && p.value == label) {
                skip_to = None;
            }
            continue;
        }
        let mut matched = true;
        let mut parent_keys = Vec::new();
        for p in r.pairs.iter().filter(|p| p.op.is_match()) {
            let hit = match p.key.as_str() {
                "ACTION" => glob(&p.value, "add"),
                "SUBSYSTEM" => glob(&p.value, "tty"),
                "ENV" => {
                    let attr = p.attr.as_deref().unwrap_or("");
                    glob(&p.value, o.env.get(attr).map(String::as_str).unwrap_or(""))
                }
                "SUBSYSTEMS" | "ATTRS" => {
                    parent_keys.push(p);
                    continue;
                }
                other => {
                    return Err(EvalError::Unsupported {
                        line: r.line,
                        what: format!("match key {other}"),
                    });
                }
            };
            if hit != (p.op == Op::Match) {
                matched = false;
                break;
            }
        }
        if matched && !parent_keys.is_empty() {
            matched = chain.iter().any(|(subsystem, attrs)| {
                parent_keys.iter().all(|p| {
                    let actual = if p.key == "SUBSYSTEMS" {
                        Some(*subsystem)
                    } else {
                        attrs
                            .get(p.attr.as_deref().unwrap_or(""))
                            .map(String::as_str)
                    };
                    match (actual, p.op) {
                        (Some(v), Op::Match) => glob(&p.value, v),
                        (Some(v), Op::NoMatch) => !glob(&p.value, v),
                        _ => false,
                    }
                })
            });
        }
        if !matched {
            continue;
        }
        for p in r.pairs.iter().filter(|p| !p.op.is_match()) {
            let v = substitute(&p.value, &o.env, r.line)?;
            match (p.key.as_str(), p.attr.as_deref()) {
                ("ENV", Some(name)) => {
                    o.env.insert(name.to_string(), v);
                }
                ("IMPORT", Some("builtin")) => {
                    let imported = match v.as_str() {
                        "usb_id" => &dev.usb_id,
                        "path_id" => &dev.path_id,
                        other => {
                            return Err(EvalError::Unsupported {
                                line: r.line,
                                what: format!("builtin {other}"),
                            });
                        }
                    };
                    for (k, val) in imported {
                        o.env.insert((*k).to_string(), val.clone());
                    }
                }
                ("SYMLINK", None) => o.symlinks.extend(v.split_whitespace().map(str::to_string)),
                ("GROUP", None) => o.group = Some(v),
                ("MODE", None) => o.mode = Some(v),
                ("GOTO", None) => skip_to = Some(p.value.as_str()),
                ("LABEL", None) => {}
                (k, a) => {
                    return Err(EvalError::Unsupported {
                        line: r.line,
                        what: format!("assignment {k}{a:?}"),
                    });
                }
            }
        }
    }
    Ok(o)
}

fn udev_rules() -> Vec<Rule> {
    parse_udev(&read("udev/90-smsgate.rules"))
        .unwrap_or_else(|e| panic!("udev/90-smsgate.rules: {e}"))
}

#[test]
fn udev_rules_parse_strictly() {
    let rules = udev_rules();
    assert!(rules.len() > 20, "{} rules", rules.len());
    // Every symlink stays under /dev/smsgate/.
    for r in &rules {
        for p in r.pairs.iter().filter(|p| p.key == "SYMLINK") {
            assert!(
                p.value.starts_with("smsgate/"),
                "line {}: {}",
                r.line,
                p.value
            );
        }
    }
    // systemd ≥ 253 can check the file itself.
    let file = repo().join("udev/90-smsgate.rules");
    match Command::new("udevadm").args(["verify", "--help"]).output() {
        Ok(help) if help.status.success() => {
            let out = Command::new("udevadm")
                .args(["verify", &file.to_string_lossy()])
                .output()
                .expect("udevadm runs");
            assert!(out.status.success(), "{}", show(&out));
        }
        _ => eprintln!("SKIPPED: udevadm verify needs systemd >= 253; the strict parser above ran"),
    }
}

#[test]
fn udev_parser_table() {
    // (rules text, ok)
    let table: &[(&str, bool)] = &[
        ("# only a comment\n\n", true),
        ("SUBSYSTEM==\"tty\", GOTO=\"x\"\nLABEL=\"x\"\n", true),
        (
            "ATTRS{idVendor}==\"12d1\", ENV{A}=\"1\", SYMLINK+=\"smsgate/a\"\n",
            true,
        ),
        ("ENV{A}==\"1\", \\\n  MODE=\"0660\"\n", true),
        ("FOO==\"x\"\n", false),
        ("SUBSYSTEM=\"tty\"\n", false),
        ("ATTRS{idVendor}=\"12d1\"\n", false),
        ("ENV{A}==\"1\" GOTO=\"x\"\nLABEL=\"x\"\n", false),
        ("ENV{A}==\"1\", \n", false),
        ("ENV{A}==1\n", false),
        ("ENV{A}==\"1\n", false),
        ("ENV==\"1\"\n", false),
        ("GOTO=\"nowhere\"\n", false),
        ("LABEL=\"x\"\nGOTO=\"x\"\n", false),
        ("LABEL=\"x\"\nLABEL=\"x\"\n", false),
        ("GOTO+=\"x\"\nLABEL=\"x\"\n", false),
        ("ENV{A}==\"1\", \\\n", false),
    ];
    assert!(!table.is_empty());
    for (text, ok) in table {
        let got = parse_udev(text);
        assert_eq!(got.is_ok(), *ok, "{text:?} -> {got:?}");
    }
}

/// (description, device, the symlinks it must get, and must not)
struct NameCase {
    what: &'static str,
    dev: Device,
    want: &'static [&'static str],
    not: &'static [&'static str],
}

const FF: [&str; 3] = ["ff", "ff", "ff"];

#[test]
fn udev_rules_name_the_at_port_of_each_family() {
    let rules = udev_rules();
    let table = vec![
        NameCase {
            what: "Quectel EC25 AT port",
            dev: modem("2c7c", "0125", "EC25SN", "02", FF),
            want: &["smsgate/quectel-EC25SN", "smsgate/2c7c-EC25SN-if02"],
            not: &[],
        },
        NameCase {
            what: "Quectel EC25 NMEA port",
            dev: modem("2c7c", "0125", "EC25SN", "01", FF),
            want: &["smsgate/2c7c-EC25SN-if01"],
            not: &["smsgate/quectel-EC25SN"],
        },
        NameCase {
            what: "Quectel EC20 on the Qualcomm id",
            dev: modem("05c6", "9215", "Q1", "02", FF),
            want: &["smsgate/quectel-Q1"],
            not: &[],
        },
        NameCase {
            what: "SIMCom SIM7600 AT port",
            dev: modem("1e0e", "9001", "S76", "02", FF),
            want: &["smsgate/simcom-S76"],
            not: &[],
        },
        NameCase {
            what: "SIMCom SIM7600 diag port",
            dev: modem("1e0e", "9001", "S76", "00", FF),
            want: &["smsgate/1e0e-S76-if00"],
            not: &["smsgate/simcom-S76"],
        },
        NameCase {
            what: "Sierra MC7455 AT port",
            dev: modem("1199", "9071", "MC74", "03", FF),
            want: &["smsgate/sierra-MC74"],
            not: &[],
        },
        NameCase {
            what: "Sierra MC7455 NMEA port",
            dev: modem("1199", "9071", "MC74", "02", FF),
            want: &[],
            not: &["smsgate/sierra-MC74"],
        },
        NameCase {
            what: "Huawei E3372 PC UI by class triple",
            dev: modem("12d1", "1506", "H1", "02", ["ff", "02", "02"]),
            want: &["smsgate/huawei-H1"],
            not: &[],
        },
        NameCase {
            what: "Huawei E3372 modem port",
            dev: modem("12d1", "1506", "H1", "00", ["ff", "02", "01"]),
            want: &[],
            not: &["smsgate/huawei-H1"],
        },
        NameCase {
            what: "Huawei E3131 PC UI on 03",
            dev: modem("12d1", "1506", "H2", "03", ["ff", "01", "02"]),
            want: &["smsgate/huawei-H2"],
            not: &[],
        },
        NameCase {
            what: "Huawei E1750 PC UI",
            dev: modem("12d1", "1001", "H3", "02", FF),
            want: &["smsgate/huawei-H3"],
            not: &[],
        },
        NameCase {
            what: "Huawei E173 without serial: named by USB path",
            dev: modem("12d1", "1436", "", "04", FF),
            want: &["smsgate/huawei-path-platform-3f980000_usb-usb-0_1_2_1_0"],
            not: &[],
        },
        NameCase {
            what: "Huawei E173 modem port",
            dev: modem("12d1", "1436", "", "00", FF),
            want: &[],
            not: &["smsgate/huawei-path-platform-3f980000_usb-usb-0_1_2_1_0"],
        },
        NameCase {
            what: "ZTE MF626 aux port",
            dev: modem("19d2", "0031", "Z1", "01", FF),
            want: &["smsgate/zte-Z1"],
            not: &[],
        },
        NameCase {
            what: "ZTE 0002 aux on 04, not 01",
            dev: modem("19d2", "0002", "Z2", "01", FF),
            want: &[],
            not: &["smsgate/zte-Z2"],
        },
        NameCase {
            what: "ZTE 0002 aux port",
            dev: modem("19d2", "0002", "Z2", "04", FF),
            want: &["smsgate/zte-Z2"],
            not: &[],
        },
        NameCase {
            what: "Telit HE910 modem port",
            dev: modem("1bc7", "0021", "T1", "00", ["02", "02", "01"]),
            want: &["smsgate/telit-T1"],
            not: &[],
        },
        NameCase {
            what: "Telit LE910Cx: per-interface names only",
            dev: modem("1bc7", "1201", "T2", "04", FF),
            want: &["smsgate/1bc7-T2-if04"],
            not: &["smsgate/telit-T2"],
        },
        NameCase {
            what: "u-blox LARA-R2 primary",
            dev: modem("1546", "110a", "U1", "00", ["02", "02", "01"]),
            want: &["smsgate/ublox-U1"],
            not: &[],
        },
        NameCase {
            what: "u-blox TOBY-L4 primary on 06",
            dev: modem("1546", "1010", "U2", "06", ["02", "02", "01"]),
            want: &["smsgate/ublox-U2"],
            not: &[],
        },
        NameCase {
            what: "u-blox TOBY-L4 00 is not primary",
            dev: modem("1546", "1010", "U2", "00", ["02", "02", "01"]),
            want: &[],
            not: &["smsgate/ublox-U2"],
        },
        NameCase {
            what: "an FTDI adapter is not ours",
            dev: modem("0403", "6001", "FT1", "00", FF),
            want: &[],
            not: &["smsgate/0403-FT1-if00"],
        },
    ];
    assert!(!table.is_empty());
    for c in &table {
        check_naming(&rules, c);
    }
}

fn check_naming(rules: &[Rule], c: &NameCase) {
    let o = evaluate(rules, &c.dev).unwrap_or_else(|e| panic!("{}: {e}", c.what));
    for w in c.want {
        assert!(
            o.symlinks.iter().any(|s| s == w),
            "{}: no {w} in {:?}",
            c.what,
            o.symlinks
        );
    }
    for n in c.not {
        assert!(
            !o.symlinks.iter().any(|s| s == n),
            "{}: unexpected {n} in {:?}",
            c.what,
            o.symlinks
        );
    }
    let ours = c.dev.usb.get("idVendor").is_some_and(|v| *v != "0403");
    if ours {
        assert_eq!(
            o.env.get("ID_MM_DEVICE_IGNORE").map(String::as_str),
            Some("1"),
            "{}",
            c.what
        );
        assert_eq!(o.group.as_deref(), Some("dialout"), "{}", c.what);
        assert_eq!(o.mode.as_deref(), Some("0660"), "{}", c.what);
        assert_eq!(
            o.symlinks
                .iter()
                .filter(|s| s.matches('-').count() >= 1)
                .count(),
            o.symlinks.len()
        );
    } else {
        assert!(
            o.symlinks.is_empty() && o.group.is_none(),
            "{}: {o:?}",
            c.what
        );
    }
}

#[test]
fn udev_evaluator_knows_parent_semantics() {
    // The trap the rules once fell into: SUBSYSTEMS!= is tried on the tty
    // itself first, so this jumps for every USB modem.
    let rules =
        parse_udev("SUBSYSTEMS!=\"usb\", GOTO=\"end\"\nSYMLINK+=\"smsgate/x\"\nLABEL=\"end\"\n")
            .expect("parses");
    let o = evaluate(&rules, &modem("2c7c", "0125", "S", "02", FF)).expect("evaluates");
    assert!(o.symlinks.is_empty());
    let table: &[(&str, &str, bool)] = &[
        ("ff", "ff", true),
        ("01|02", "02", true),
        ("01|02", "03", false),
        ("?*", "", false),
        ("?*", "x", true),
        ("", "", true),
        ("a*c", "abbc", true),
    ];
    assert!(!table.is_empty());
    for (pattern, s, want) in table {
        assert_eq!(glob(pattern, s), *want, "{pattern:?} vs {s:?}");
    }
}

/// The vendor ids the rules know, with the family name they give.
const FAMILIES: &[(&str, &str)] = &[
    ("12d1", "huawei"),
    ("19d2", "zte"),
    ("1e0e", "simcom"),
    ("2c7c", "quectel"),
    ("1199", "sierra"),
    ("1bc7", "telit"),
    ("1546", "ublox"),
];

proptest! {
    /// Any port of a listed vendor gets exactly one per-interface name and at
    /// most one family name, no name has an empty part, and the evaluator
    /// supports every construct the rules use.
    #[test]
    fn udev_rules_name_every_port_of_a_listed_vendor_once(
        family in 0..FAMILIES.len(),
        pid in "[0-9a-f]{4}",
        serial in "[A-Za-z0-9]{0,12}",
        ifnum in 0u8..16,
        class in prop_oneof![Just(["ff", "ff", "ff"]), Just(["ff", "02", "02"]), Just(["ff", "01", "01"]), Just(["02", "02", "01"])],
    ) {
        let rules = udev_rules();
        let (vid, name) = FAMILIES[family];
        let ifnum = format!("{ifnum:02x}");
        let o = evaluate(&rules, &modem(vid, &pid, &serial, &ifnum, class)).expect("evaluates");
        let per_if: Vec<&String> = o.symlinks.iter().filter(|s| s.starts_with(&format!("smsgate/{vid}-"))).collect();
        let fam: Vec<&String> = o.symlinks.iter().filter(|s| s.starts_with(&format!("smsgate/{name}-"))).collect();
        prop_assert_eq!(per_if.len(), 1, "{:?}", o.symlinks);
        prop_assert!(per_if[0].ends_with(&format!("-if{ifnum}")), "{:?}", o.symlinks);
        prop_assert!(fam.len() <= 1, "{:?}", o.symlinks);
        prop_assert_eq!(per_if.len() + fam.len(), o.symlinks.len(), "{:?}", o.symlinks);
        for s in &o.symlinks {
            prop_assert!(!s.contains("--") && !s.ends_with('-') && !s.contains("-if-"), "{}", s);
        }
        prop_assert_eq!(o.env.get("ID_MM_DEVICE_IGNORE").map(String::as_str), Some("1"));
    }

    #[test]
    fn udev_parser_never_panics(text in "[ -~\\n\\\\\"{},=!+:#]{0,200}") {
        let _ = parse_udev(&text);
    }

    #[test]
    fn udev_parser_round_trips_generated_rules(
        pairs in proptest::collection::vec(
            (prop_oneof![Just("ENV{A}"), Just("ATTRS{idVendor}"), Just("SUBSYSTEM")], "[a-z0-9|*?]{0,8}"),
            1..6,
        )
    ) {
        let text = pairs
            .iter()
            .map(|(k, v)| format!("{k}==\"{v}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let rules = parse_udev(&text).expect("generated rule parses");
        prop_assert_eq!(rules.len(), 1);
        prop_assert_eq!(rules[0].pairs.len(), pairs.len());
        for (p, (_, v)) in rules[0].pairs.iter().zip(&pairs) {
            prop_assert_eq!(&p.value, v);
        }
    }

    #[test]
    fn tmpfiles_and_sysusers_parsers_never_panic(text in "[ -~\\n\"]{0,200}") {
        let _ = parse_tmpfiles(&text);
        let _ = parse_sysusers(&text);
        let _ = parse_unit(&text);
    }
}

// ---------------------------------------------------------------------------
// Debian package metadata

#[test]
fn deb_metadata_installs_every_ops_file_once() {
    let manifest: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml parses");
    let deb = manifest
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("deb"))
        .and_then(toml::Value::as_table)
        .expect("[package.metadata.deb]");
    let assets: Vec<(String, String)> = deb
        .get("assets")
        .and_then(toml::Value::as_array)
        .expect("assets")
        .iter()
        .filter_map(|a| {
            let a = a.as_array()?;
            Some((
                a.first()?.as_str()?.to_string(),
                a.get(1)?.as_str()?.to_string(),
            ))
        })
        .collect();
    // (source, destination) pairs the package must carry.
    let want: &[(&str, &str)] = &[
        ("target/release/smsgate", "usr/bin/"),
        ("config.example.toml", "etc/smsgate/smsgate.toml"),
        (
            "systemd/smsgate.tmpfiles",
            "usr/lib/tmpfiles.d/smsgate.conf",
        ),
        ("udev/90-smsgate.rules", "lib/udev/rules.d/"),
        ("target/assets/smsgate.1", "usr/share/man/man1/"),
        (
            "target/assets/smsgate.bash",
            "usr/share/bash-completion/completions/smsgate",
        ),
        (
            "target/assets/_smsgate",
            "usr/share/zsh/vendor-completions/",
        ),
    ];
    assert!(!want.is_empty());
    for (src, dst) in want {
        assert!(
            assets.iter().any(|(s, d)| s == src && d == dst),
            "no asset {src} -> {dst} in {assets:?}"
        );
    }
    let conf: Vec<&str> = deb
        .get("conf-files")
        .and_then(toml::Value::as_array)
        .map(|a| a.iter().filter_map(toml::Value::as_str).collect())
        .unwrap_or_default();
    assert!(conf.contains(&"/etc/smsgate/smsgate.toml"), "{conf:?}");
    // The unit and the sysusers.d entry have one source: systemd/, from which
    // cargo-deb installs smsgate.service and smsgate.sysusers by name; listing
    // the sysusers file as an asset too would install it twice.
    assert!(
        !assets.iter().any(|(s, _)| s == "systemd/smsgate.sysusers"),
        "cargo-deb already installs systemd/smsgate.sysusers"
    );
    assert!(repo().join("systemd/smsgate.sysusers").is_file());
    let units = deb.get("systemd-units").expect("systemd-units");
    assert_eq!(
        units.get("unit-scripts").and_then(toml::Value::as_str),
        Some("systemd/")
    );
    assert_eq!(
        units.get("unit-name").and_then(toml::Value::as_str),
        Some("smsgate")
    );
    assert!(repo().join("systemd/smsgate.service").is_file());
    assert!(
        !repo().join("debian/smsgate.service").exists(),
        "a second copy of the unit"
    );
    let postinst = read("debian/postinst");
    // cargo-deb replaces the first occurrence of the token, even in a comment:
    // exactly one, alone on its line, after the script's own work.
    let token_lines: Vec<&str> = postinst
        .lines()
        .filter(|l| l.contains("#DEBHELPER#"))
        .collect();
    assert_eq!(
        token_lines,
        ["#DEBHELPER#"],
        "cargo-deb needs the token once"
    );
    // (what postinst must run, in order, on lines that are not comments)
    let steps: &[&str] = &[
        "systemd-sysusers",
        "systemd-tmpfiles",
        "chgrp",
        "#DEBHELPER#",
    ];
    assert!(!steps.is_empty());
    let code: Vec<&str> = postinst
        .lines()
        .filter(|l| *l == "#DEBHELPER#" || !l.trim_start().starts_with('#'))
        .collect();
    let mut from = 0;
    for step in steps {
        let Some(i) = code[from..].iter().position(|l| l.contains(step)) else {
            panic!("postinst does not run {step} after the previous step");
        };
        from += i + 1;
    }
    for l in postinst
        .lines()
        .filter(|l| l.contains("systemd-sysusers ") || l.contains("systemd-tmpfiles "))
    {
        if !l.trim_start().starts_with('#') && !l.contains("command -v") {
            assert!(l.contains("smsgate.conf"), "only our own entries: {l}");
        }
    }
}

// ---------------------------------------------------------------------------
// The packaged configuration against the sandbox

#[test]
fn packaged_config_paths_are_the_ones_the_unit_makes_writable() {
    let path = repo().join("config.example.toml");
    let Ok(text) = fs::read_to_string(&path) else {
        // It comes from the config work; the .deb cannot be built without it.
        eprintln!("SKIPPED: {} not present yet", path.display());
        return;
    };
    let config: toml::Table = text.parse().expect("config.example.toml parses");
    let get = |section: &str, key: &str| -> String {
        config
            .get(section)
            .and_then(|s| s.get(key))
            .and_then(toml::Value::as_str)
            .unwrap_or_else(|| panic!("config.example.toml lacks [{section}] {key}"))
            .to_string()
    };
    let unit = parse_unit(&read("systemd/smsgate.service")).expect("unit parses");
    let service = unit.get("Service").expect("[Service]");
    let first = |key: &str| -> String {
        service
            .get(key)
            .and_then(|v| v.last())
            .cloned()
            .unwrap_or_default()
    };
    let tmpfiles = parse_tmpfiles(&read("systemd/smsgate.tmpfiles")).expect("tmpfiles parses");
    let spool = get("spool", "dir");
    // (what, the configured path, the directory the unit makes writable for it)
    let table: Vec<(&str, String, String)> = vec![
        (
            "[store] path",
            get("store", "path"),
            format!("/var/lib/{}", first("StateDirectory")),
        ),
        (
            "[control] socket",
            get("control", "socket"),
            format!("/run/{}", first("RuntimeDirectory")),
        ),
    ];
    assert!(!table.is_empty());
    for (what, configured, dir) in &table {
        assert_eq!(
            Path::new(configured).parent(),
            Some(Path::new(dir)),
            "{what} = {configured:?} is not directly in {dir}"
        );
    }
    let writable = words(
        service
            .get("ReadWritePaths")
            .map(Vec::as_slice)
            .unwrap_or(&[]),
    );
    assert!(
        writable.iter().any(|w| w.trim_start_matches('-') == spool),
        "[spool] dir = {spool:?} is not in ReadWritePaths {writable:?}"
    );
    for sub in ["", "/outgoing", "/failed"] {
        let want = format!("{spool}{sub}");
        assert!(
            tmpfiles.iter().any(|l| l.kind == "d" && l.path == want),
            "tmpfiles.d does not create {want}"
        );
    }
}

// --- socket activation ---------------------------------------------------------

#[test]
fn socket_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().expect("temp dir");
    unit_copy(dir.path());
    let socket = dir.path().join("smsgate.socket");
    fs::write(&socket, read("systemd/smsgate.socket")).expect("write");
    let Some(out) = run_tool("systemd-analyze", &["verify", &socket.to_string_lossy()]) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("smsgate")).collect();
    assert!(out.status.success() && ours.is_empty(), "{}", show(&out));
    // The socket is where the daemon's default socket is, and the service
    // keeps the directory it lives in across its own restarts.
    let unit = parse_unit(&read("systemd/smsgate.socket")).expect("parses");
    assert_eq!(
        unit["Socket"]["ListenStream"],
        vec!["/run/smsgate/smsgate.sock".to_string()]
    );
    let service = parse_unit(&read("systemd/smsgate.service")).expect("parses");
    assert_eq!(
        service["Service"]["RuntimeDirectory"],
        vec!["smsgate".to_string()]
    );
    assert_eq!(
        service["Service"]["RuntimeDirectoryPreserve"],
        vec!["yes".to_string()]
    );
}

/// The daemon started as systemd starts it for `smsgate.socket`: the
/// listening socket already bound, as fd 3, with LISTEN_FDS=1 and
/// LISTEN_PID set to its own pid. It answers on that socket and creates
/// none of its own at the configured path.
#[test]
fn the_daemon_answers_on_a_socket_systemd_passes() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::os::unix::process::CommandExt;

    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let passed = d.join("activated.sock");
    let configured = d.join("configured.sock");
    let config = d.join("smsgate.toml");
    fs::write(
        &config,
        format!(
            "[store]\npath = \"{}\"\n\n[control]\nsocket = \"{}\"\n\n[spool]\ndir = \"{}\"\n\n\
             [[modem]]\nname = \"m0\"\ndevice = \"{}\"\n",
            d.join("smsgate.db").display(),
            configured.display(),
            d.join("spool").display(),
            d.join("no-modem").display()
        ),
    )
    .expect("config");
    let listener = UnixListener::bind(&passed).expect("bind");
    let fd = listener.as_raw_fd();
    let mut cmd = Command::new("/bin/sh");
    // `exec` keeps the shell's pid, so $$ is the daemon's pid.
    cmd.args(["-c", "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" run -c \"$1\""])
        .arg(env!("CARGO_BIN_EXE_smsgate"))
        .arg(&config)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_FDNAMES")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: only dup2 between fork and exec (async-signal-safe).
    unsafe {
        cmd.pre_exec(move || {
            if libc_dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("daemon starts");
    drop(listener);
    let mut stream = UnixStream::connect(&passed).expect("connect to the passed socket");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    stream
        .write_all(b"{\"cmd\": \"version\", \"id\": 7}\n")
        .expect("write");
    let mut line = String::new();
    let read = BufReader::new(&stream).read_line(&mut line);
    let configured_exists = configured.exists();
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let out = child.wait_with_output().expect("daemon exits");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        read.is_ok_and(|n| n > 0),
        "no answer on the passed socket\n{log}"
    );
    let reply: serde_json::Value = serde_json::from_str(&line).expect("json reply");
    assert_eq!(reply["ok"], serde_json::json!(true), "{reply}");
    assert_eq!(reply["id"], serde_json::json!(7));
    assert!(
        !configured_exists,
        "the daemon bound its own socket too\n{log}"
    );
    assert!(out.status.code() == Some(0), "exit {:?}\n{log}", out.status);
}

/// Makes `from` descriptor 3 of the process about to exec, open across the
/// exec (nix's dup2 and fcntl, which the package already uses). Returns 0 or -1.
fn libc_dup2(from: i32, to: i32) -> i32 {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
    // SAFETY: `from` is open (the test holds the listener until spawn
    // returns); `to` is only borrowed for the call and never closed here.
    let from_fd = unsafe { BorrowedFd::borrow_raw(from) };
    if from != to {
        let mut to_fd = unsafe { OwnedFd::from_raw_fd(to) };
        let r = nix::unistd::dup2(from_fd, &mut to_fd);
        std::mem::forget(to_fd);
        if r.is_err() {
            return -1;
        }
    }
    let to_fd = unsafe { BorrowedFd::borrow_raw(to) };
    match fcntl(to_fd, FcntlArg::F_SETFD(FdFlag::empty())) {
        Ok(_) => 0,
        Err(_) => -1,
    }
}
