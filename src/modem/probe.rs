//! Diagnosis of one serial port without the daemon (`smsgate probe`): who
//! else holds the device (a scan of `/proc/*/fd`; ModemManager is the usual
//! one), whether it opens, whether anything answers `AT`, and then what the
//! modem is (maker, model, firmware, IMEI), its SIM (state, PIN, IMSI,
//! ICCID), the network (registration, operator, signal, SMSC), which message
//! modes it has (`AT+CMGF=?`) and its storage (`AT+CPMS?`). Every problem
//! found comes with plain advice. Owns the probe's order and its findings;
//! it changes nothing on the modem (no PIN is entered, no mode is set) and
//! prints nothing (the CLI does).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::conn::{Conn, ExecError};
use super::{port, quirks};
use crate::at::command::{parse_cops, parse_cpin, parse_creg, parse_csca, parse_csq, CpinState};
use crate::at::{Command, Final, Registration, Response};

/// How a probe talks to the port.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub baud: u32,
    /// Each command's own time limit.
    pub timeout: Duration,
    /// Processes known to hold the port harmlessly (e.g. a serial
    /// multiplexer, or the simulator a test runs the probe against).
    pub ignore: Vec<u32>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            baud: 115_200,
            timeout: Duration::from_secs(2),
            ignore: Vec::new(),
        }
    }
}

/// Another process that has the device open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub pid: u32,
    /// Its `/proc/PID/comm`.
    pub name: String,
}

/// Something wrong, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable key: `held`, `open_failed`, `no_answer`, `sim_pin`,
    /// `sim_puk`, `no_sim`, `not_registered`, `weak_signal`, `text_only`,
    /// `no_smsc`.
    pub problem: &'static str,
    pub detail: String,
    pub advice: String,
}

/// What one probe found. Fields stay `None` when the modem could not be
/// asked (or would not say).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Probe {
    pub device: PathBuf,
    /// The device node the path leads to.
    pub resolved: Option<PathBuf>,
    pub holders: Vec<Holder>,
    pub opened: bool,
    /// Something answered `AT` with `OK`.
    pub answers: bool,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub imei: Option<String>,
    /// `+CPIN:` as the modem says it (`READY`, `SIM PIN`, ...) or the error.
    pub sim: Option<String>,
    pub pin_needed: bool,
    pub imsi: Option<String>,
    pub iccid: Option<String>,
    /// `+CREG` stat: 0 not registered, 1 home, 2 searching, 3 denied, 5 roaming.
    pub registration: Option<u8>,
    pub registered: bool,
    pub operator: Option<String>,
    /// CSQ rssi 0–31, 99 unknown.
    pub signal: Option<u8>,
    pub smsc: Option<String>,
    pub pdu_mode: Option<bool>,
    pub text_mode: Option<bool>,
    /// The `+CPMS?` answer: memories with used and total.
    pub storage: Option<String>,
    pub problems: Vec<Finding>,
    /// No problem found: the modem should work with smsgate as it is.
    pub ok: bool,
}

/// The serial ports `smsgate probe --all` looks at: what the udev rules
/// name (`/dev/smsgate/*`, `/dev/serial/by-id/*`) and every `ttyUSB*` and
/// `ttyACM*`, each device node once (the first name found wins).
pub fn candidates(dev: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut take = |p: PathBuf| {
        let real = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if !seen.contains(&real) {
            seen.push(real);
            out.push(p);
        }
    };
    for dir in [dev.join("smsgate"), dev.join("serial/by-id")] {
        for p in sorted_entries(&dir, |_| true) {
            take(p);
        }
    }
    for p in sorted_entries(dev, |n| n.starts_with("ttyUSB") || n.starts_with("ttyACM")) {
        take(p);
    }
    out
}

fn sorted_entries(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_str().is_some_and(&keep))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Processes other than this one with `device` open, from `proc` (normally
/// `/proc`). Processes we may not look into are skipped.
pub fn holders(proc: &Path, device: &Path) -> Vec<Holder> {
    let Ok(target) = std::fs::canonicalize(device) else {
        return Vec::new();
    };
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(proc) else {
        return out;
    };
    for entry in rd.filter_map(Result::ok) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds
            .filter_map(Result::ok)
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == target));
        if holds {
            let name = std::fs::read_to_string(entry.path().join("comm"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            out.push(Holder { pid, name });
        }
    }
    out.sort_by_key(|h| h.pid);
    out
}

/// Advice for a port held by `h`.
fn held_advice(h: &Holder) -> String {
    if h.name.to_ascii_lowercase().contains("modemmanager") {
        "ModemManager has the port and sends its own AT commands: stop it \
         (`systemctl disable --now ModemManager`), or keep it and let it ignore \
         this modem with smsgate's udev rule (/lib/udev/rules.d/90-smsgate.rules \
         sets ID_MM_DEVICE_IGNORE=1; `udevadm trigger`, then restart ModemManager)"
            .into()
    } else if h.name.starts_with("smsgate") {
        "a running smsgate already uses this port: ask it (`smsgate status`) \
         or stop it before probing"
            .into()
    } else {
        format!(
            "stop {} (pid {}) or point it elsewhere: two programs on one AT port \
             steal each other's answers",
            h.name, h.pid
        )
    }
}

/// Probes `device`: never fails, every trouble is a finding.
pub async fn probe(device: &Path, opts: &ProbeOptions) -> Probe {
    let mut found = holders(Path::new("/proc"), device);
    found.retain(|h| !opts.ignore.contains(&h.pid));
    let mut p = Probe {
        device: device.to_path_buf(),
        resolved: std::fs::canonicalize(device).ok(),
        holders: found,
        ..Probe::default()
    };
    for h in p.holders.clone() {
        p.problems.push(Finding {
            problem: "held",
            detail: format!("{} (pid {}) has the port open", h.name, h.pid),
            advice: held_advice(&h),
        });
    }
    let stream = match port::open(device, opts.baud) {
        Ok(s) => s,
        Err(e) => {
            let advice = if e.contains("ermission") {
                "add the user to the group that owns the device (`dialout` on \
                 Debian; the smsgate package's user is in it) or run as root"
            } else if !device.exists() {
                "no such device: is the modem plugged in? `smsgate probe --all` lists \
                 the ports there are"
            } else {
                "the device exists but does not open as a serial port"
            };
            p.problems.push(Finding {
                problem: "open_failed",
                detail: e,
                advice: advice.into(),
            });
            return p;
        }
    };
    p.opened = true;
    let mut conn = Conn::new(stream, quirks::all_noise());
    ask(&mut conn, &mut p, opts.timeout).await;
    p.ok = p.problems.is_empty();
    p
}

/// One command; `None` when it got no final `OK`.
async fn run(conn: &mut Conn, cmd: Command) -> Option<Response> {
    match conn.exec(&cmd).await {
        Ok(r) if r.result == Final::Ok => Some(r),
        Ok(_) | Err(ExecError::Timeout { .. }) | Err(ExecError::Io(_)) => None,
        Err(ExecError::Gone { .. }) => None,
    }
}

fn plain(r: Option<Response>) -> Option<String> {
    r.and_then(|r| r.plain()).filter(|s| !s.is_empty())
}

/// `+QCCID: 8901...` style answers: the part after the command's name.
fn answer_prefix(line: &str) -> String {
    let body = line.trim_start_matches("AT").trim_end_matches('?');
    format!("{body}:")
}

async fn ask(conn: &mut Conn, p: &mut Probe, t: Duration) {
    // A modem that has just woken may miss the first line or two.
    let mut answers = false;
    for _ in 0..3 {
        if run(conn, Command::new("AT", "AT", t)).await.is_some() {
            answers = true;
            break;
        }
    }
    p.answers = answers;
    if !answers {
        p.problems.push(Finding {
            problem: "no_answer",
            detail: "nothing answered AT with OK".into(),
            advice: "wrong port or wrong speed: a USB modem has several interfaces \
                     (ttyUSB0..3) and only one or two speak AT; try the others \
                     (`smsgate probe --all`) and other speeds (--baud 9600, 115200). \
                     A modem that just booted may need half a minute."
                .into(),
        });
        return;
    }
    let _ = run(conn, Command::new("E0", "ATE0", t)).await;
    let _ = run(conn, Command::new("+CMEE", "AT+CMEE=1", t)).await;
    p.manufacturer = plain(run(conn, Command::new("+CGMI", "AT+CGMI", t)).await);
    let quirk = quirks::detect(p.manufacturer.as_deref().unwrap_or_default());
    p.model = plain(run(conn, Command::new("+CGMM", "AT+CGMM", t)).await);
    p.firmware = plain(run(conn, Command::new("+CGMR", "AT+CGMR", t)).await);
    p.imei = plain(run(conn, Command::new("+CGSN", "AT+CGSN", t)).await);

    let cpin = conn.exec(&Command::cpin_query(t)).await;
    let state = match &cpin {
        Ok(r) if r.result == Final::Ok => parse_cpin(r).ok(),
        _ => None,
    };
    p.sim = match (&state, &cpin) {
        (Some(CpinState::Ready), _) => Some("READY".into()),
        (Some(CpinState::SimPin), _) => Some("SIM PIN".into()),
        (Some(CpinState::SimPuk), _) => Some("SIM PUK".into()),
        (Some(CpinState::Other(s)), _) => Some(s.clone()),
        (None, Ok(r)) => Some(format!("{:?}", r.result)),
        (None, Err(e)) => Some(format!("{e:?}")),
    };
    match &state {
        Some(CpinState::Ready) => {}
        Some(CpinState::SimPin) => {
            p.pin_needed = true;
            p.problems.push(Finding {
                problem: "sim_pin",
                detail: "the SIM asks for its PIN".into(),
                advice: "put `pin = \"1234\"` (the SIM's PIN) in this modem's [[modem]] \
                         section, or remove the PIN lock in a phone; smsgate enters it \
                         once and never guesses"
                    .into(),
            });
        }
        Some(CpinState::SimPuk) => {
            p.pin_needed = true;
            p.problems.push(Finding {
                problem: "sim_puk",
                detail: "the SIM is blocked (PUK needed): the PIN was wrong three times".into(),
                advice: "unblock it with its PUK in a phone, then set the right `pin`".into(),
            });
        }
        _ => p.problems.push(Finding {
            problem: "no_sim",
            detail: format!("no usable SIM ({})", p.sim.clone().unwrap_or_default()),
            advice: "insert a SIM (contacts down, the right size, fully in) and \
                     power-cycle the modem; a CME ERROR 10 means no SIM is seen"
                .into(),
        }),
    }
    if matches!(state, Some(CpinState::Ready)) {
        p.imsi = plain(run(conn, Command::new("+CIMI", "AT+CIMI", t)).await);
        let c = Command::new("ICCID", quirk.iccid, t).expect(&answer_prefix(quirk.iccid));
        p.iccid = plain(run(conn, c).await).map(|s| s.trim_end_matches(['F', 'f']).to_string());
        let reg: Option<Registration> = run(conn, Command::creg_query(t))
            .await
            .and_then(|r| parse_creg(&r).ok());
        p.registration = reg.as_ref().map(|r| r.stat);
        p.registered = reg.as_ref().is_some_and(Registration::registered);
        if !p.registered {
            let why = match p.registration {
                Some(2) => "searching for a network",
                Some(3) => "registration denied by the network",
                Some(0) => "not registered and not searching",
                _ => "registration unknown",
            };
            p.problems.push(Finding {
                problem: "not_registered",
                detail: why.into(),
                advice: "check the antenna and coverage, that the SIM is active and \
                         allowed on this network (a denied SIM needs its operator), \
                         and that the modem supports the network's bands"
                    .into(),
            });
        }
        p.operator = run(conn, Command::cops_query(t))
            .await
            .as_ref()
            .and_then(parse_cops);
        p.smsc = run(conn, Command::csca_query(t))
            .await
            .as_ref()
            .and_then(parse_csca);
        if p.smsc.is_none() {
            p.problems.push(Finding {
                problem: "no_smsc",
                detail: "the SIM has no SMS centre number".into(),
                advice: "set `smsc = \"+...\"` (your operator's SMSC) in the [[modem]] section"
                    .into(),
            });
        }
    }
    p.signal = run(conn, Command::csq(t))
        .await
        .and_then(|r| parse_csq(&r).ok());
    if p.registered && matches!(p.signal, Some(s) if s < 5 || s == 99) {
        p.problems.push(Finding {
            problem: "weak_signal",
            detail: format!("signal {} of 31", p.signal.unwrap_or(99)),
            advice: "move the modem or its antenna (a USB extension cable helps), \
                     or attach an external antenna"
                .into(),
        });
    }
    if let Some(r) = run(conn, Command::new("+CMGF", "AT+CMGF=?", t).expect("+CMGF:")).await {
        let modes = r.value("+CMGF:").unwrap_or_default().to_string();
        p.pdu_mode = Some(modes.contains('0'));
        p.text_mode = Some(modes.contains('1'));
        if p.pdu_mode == Some(false) && p.text_mode == Some(true) {
            p.problems.push(Finding {
                problem: "text_only",
                detail: format!("AT+CMGF=? lists {modes}: text mode only"),
                advice: "smsgate works with it (`mode = \"auto\"` or `\"text\"`), but \
                         sends single-part messages only and no Unicode beyond what \
                         its character set has"
                    .into(),
            });
        }
    }
    p.storage = run(conn, Command::cpms_query(t))
        .await
        .and_then(|r| r.value("+CPMS:").map(str::to_string));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_finds_the_process_with_the_file_open() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tty");
        std::fs::write(&file, b"").unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdin(std::fs::File::open(&file).unwrap())
            .spawn()
            .unwrap();
        let found = holders(Path::new("/proc"), &file);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(
            found,
            vec![Holder {
                pid: child.id(),
                name: "sleep".into()
            }]
        );
        // This process holding it does not count.
        let _mine = std::fs::File::open(&file).unwrap();
        assert!(holders(Path::new("/proc"), &file).is_empty());
    }

    #[test]
    fn advice_names_modemmanager() {
        let table = [
            ("ModemManager", "ID_MM_DEVICE_IGNORE"),
            ("smsgate", "smsgate status"),
            ("minicom", "stop minicom"),
        ];
        for (name, needle) in table {
            let a = held_advice(&Holder {
                pid: 7,
                name: name.into(),
            });
            assert!(a.contains(needle), "{name}: {a}");
        }
    }

    #[test]
    fn candidates_take_each_device_once() {
        let dev = tempfile::tempdir().unwrap();
        let d = dev.path();
        std::fs::create_dir_all(d.join("smsgate")).unwrap();
        std::fs::create_dir_all(d.join("serial/by-id")).unwrap();
        for n in ["ttyUSB0", "ttyUSB1", "ttyACM0", "ttyS0"] {
            std::fs::write(d.join(n), b"").unwrap();
        }
        std::os::unix::fs::symlink(d.join("ttyUSB1"), d.join("smsgate/quectel-1")).unwrap();
        std::os::unix::fs::symlink(d.join("ttyUSB1"), d.join("serial/by-id/usb-Q-if02")).unwrap();
        let got: Vec<String> = candidates(d)
            .iter()
            .map(|p| p.strip_prefix(d).unwrap().display().to_string())
            .collect();
        assert_eq!(got, ["smsgate/quectel-1", "ttyACM0", "ttyUSB0"]);
    }
}
