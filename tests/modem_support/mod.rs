//! Test support for the modem driver: a scripted peer on a real pseudo-
//! terminal. The driver opens the slave path through the real tokio-serial
//! open path; the peer plays an expect/respond script on the master, each
//! step with a timeout (no sleeps). The harness keeps its own slave fd open so
//! the master never sees EIO between reopens.
#![allow(dead_code)]

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::pty::openpty;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use smsgate::modem::{self, DriverOptions, ModemEvent, ModemHandle, ModemState, ModemStatus};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// How long one script step may wait.
pub const STEP: Duration = Duration::from_secs(5);

pub struct Peer {
    master: AsyncFd<OwnedFd>,
    _slave: OwnedFd,
    pub path: PathBuf,
    buf: Vec<u8>,
    /// Everything seen and said, for failure messages.
    pub transcript: Vec<String>,
    /// Echo every command back (a modem that ignores `ATE0`).
    pub echo: bool,
}

impl Peer {
    /// A fresh pty with a raw slave.
    pub fn new() -> Self {
        let pty = openpty(None, None).expect("openpty");
        let mut t = tcgetattr(&pty.slave).expect("tcgetattr");
        cfmakeraw(&mut t);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &t).expect("tcsetattr");
        let path = nix::unistd::ttyname(&pty.slave).expect("ttyname");
        let flags = fcntl(&pty.master, FcntlArg::F_GETFL).expect("getfl");
        fcntl(
            &pty.master,
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
        )
        .expect("setfl");
        // SAFETY: the OwnedFd stays open and owned by the AsyncFd for its life.
        let master = unsafe { AsyncFd::register(pty.master) }
            .map_err(std::io::Error::from)
            .expect("register");
        Self {
            master,
            _slave: pty.slave,
            path,
            buf: Vec::new(),
            transcript: Vec::new(),
            echo: false,
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n--- transcript ---\n{}\n--- pending: {:?}",
            self.transcript.join("\n"),
            String::from_utf8_lossy(&self.buf)
        );
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        loop {
            let mut guard = self.master.readable().await?;
            let mut tmp = [0u8; 1024];
            match guard.try_io(|fd| {
                nix::unistd::read(fd.get_ref(), &mut tmp).map_err(std::io::Error::from)
            }) {
                Ok(Ok(n)) => {
                    self.buf.extend_from_slice(tmp.get(..n).unwrap_or_default());
                    return Ok(n);
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => continue,
            }
        }
    }

    /// The next item the driver wrote: a command line (up to CR) or a payload
    /// (up to Ctrl-Z). Leading ESC/CR/LF bytes are dropped.
    pub async fn next_cmd(&mut self) -> Option<String> {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let skip = self
                .buf
                .iter()
                .take_while(|b| matches!(b, 0x1b | b'\r' | b'\n'))
                .count();
            self.buf.drain(..skip);
            if let Some(end) = self.buf.iter().position(|b| *b == b'\r' || *b == 0x1a) {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                let s = String::from_utf8_lossy(line.get(..end).unwrap_or_default()).to_string();
                self.transcript.push(format!(">> {s}"));
                if std::env::var_os("PEER_DEBUG").is_some() {
                    eprintln!("{:?} >> {s}", std::time::SystemTime::now());
                }
                return Some(s);
            }
            match tokio::time::timeout_at(deadline, self.fill()).await {
                Ok(Ok(_)) => {}
                _ => return None,
            }
        }
    }

    /// Expect exactly `cmd` next.
    pub async fn expect(&mut self, cmd: &str) {
        match self.next_cmd().await {
            Some(got) if got == cmd => {}
            Some(got) => self.fail(&format!("expected {cmd:?}, got {got:?}")),
            None => self.fail(&format!("expected {cmd:?}, got nothing within {STEP:?}")),
        }
    }

    /// Write raw bytes to the driver.
    pub async fn say(&mut self, text: &str) {
        self.transcript.push(format!("<< {}", text.escape_debug()));
        let mut rest = text.as_bytes();
        while !rest.is_empty() {
            let mut guard = self.master.writable().await.expect("writable");
            match guard
                .try_io(|fd| nix::unistd::write(fd.get_ref(), rest).map_err(std::io::Error::from))
            {
                Ok(Ok(n)) => rest = rest.get(n..).unwrap_or_default(),
                Ok(Err(e)) => self.fail(&format!("write: {e}")),
                Err(_) => continue,
            }
        }
    }

    /// Expect `cmd`, answer `lines` (each framed by CRLF) and `OK`.
    pub async fn ok(&mut self, cmd: &str, lines: &[&str]) {
        self.expect(cmd).await;
        let mut out = if self.echo {
            format!("{cmd}\r")
        } else {
            String::new()
        };
        for l in lines {
            out.push_str(&format!("\r\n{l}\r\n"));
        }
        out.push_str("\r\nOK\r\n");
        self.say(&out).await;
    }

    /// Expect `cmd` and answer with the final `result` (e.g. `ERROR`).
    pub async fn fail_with(&mut self, cmd: &str, result: &str) {
        self.expect(cmd).await;
        let echo = if self.echo {
            format!("{cmd}\r")
        } else {
            String::new()
        };
        self.say(&format!("{echo}\r\n{result}\r\n")).await;
    }

    /// Nothing written by the driver within `d`.
    pub async fn quiet_for(&mut self, d: Duration) {
        let r = tokio::time::timeout(d, self.fill()).await;
        if let Ok(Ok(_)) = r {
            self.fail("expected silence");
        }
    }

    pub fn raw_fd(&self) -> i32 {
        self.master.get_ref().as_raw_fd()
    }
}

/// What a vendor prints during start-up.
pub struct Vendor {
    pub cgmi: &'static str,
    pub cgmm: &'static str,
    pub cgmr: &'static str,
    pub iccid_cmd: &'static str,
    pub iccid_answer: &'static str,
    pub init: &'static [&'static str],
    /// Lines injected before the answer to `AT+CPIN?` (boot chatter).
    pub chatter: &'static [&'static str],
    pub cmgl_hangs: bool,
}

pub const GENERIC: Vendor = Vendor {
    cgmi: "Generic",
    cgmm: "M1",
    cgmr: "1.0",
    iccid_cmd: "AT+CCID",
    iccid_answer: "+CCID: 8944110068253422817F",
    init: &[],
    chatter: &[],
    cmgl_hangs: false,
};

pub fn opts(name: &str, path: impl Into<PathBuf>) -> DriverOptions {
    let mut o = DriverOptions::new(name, path);
    o.command_timeout = Duration::from_secs(3);
    o.send_timeout = Duration::from_secs(3);
    o.health_interval = Duration::from_secs(3600);
    o.sweep_interval = Duration::from_secs(3600);
    o.reopen_backoff_max = Duration::from_secs(2);
    o
}

/// Play the whole start-up transcript of a vendor, up to and including the
/// first sweep. `used` messages are listed by the sweep as `(index, pdu)`.
pub async fn startup(peer: &mut Peer, v: &Vendor, sweep: &[(u32, &str)]) {
    startup_to_ready(peer, v).await;
    do_sweep(peer, v, sweep).await;
}

/// Start-up up to the state `Ready` (before the first sweep).
pub async fn startup_to_ready(peer: &mut Peer, v: &Vendor) {
    peer.ok("AT", &[]).await;
    peer.ok("ATE0", &[]).await;
    peer.ok("AT+CMEE=1", &[]).await;
    peer.expect("AT+CPIN?").await;
    let mut s = if peer.echo {
        "AT+CPIN?\r".to_string()
    } else {
        String::new()
    };
    for c in v.chatter {
        s.push_str(&format!("\r\n{c}\r\n"));
    }
    s.push_str("\r\n+CPIN: READY\r\n\r\nOK\r\n");
    peer.say(&s).await;
    identity(peer, v).await;
    settings(peer, v).await;
}

pub async fn identity(peer: &mut Peer, v: &Vendor) {
    peer.ok("AT+CGMI", &[v.cgmi]).await;
    peer.ok("AT+CGMM", &[v.cgmm]).await;
    peer.ok("AT+CGMR", &[v.cgmr]).await;
    peer.ok("AT+CGSN", &["356938035643809"]).await;
    peer.ok("AT+CIMI", &["234150123456789"]).await;
    peer.ok(v.iccid_cmd, &[v.iccid_answer]).await;
    peer.ok("AT+CSCA?", &["+CSCA: \"+447785016005\",145"]).await;
}

pub async fn after_identity(peer: &mut Peer, v: &Vendor, sweep: &[(u32, &str)]) {
    settings(peer, v).await;
    do_sweep(peer, v, sweep).await;
}

/// Storage, notification and registration settings, then the health queries.
pub async fn settings(peer: &mut Peer, v: &Vendor) {
    for i in v.init {
        peer.ok(i, &[]).await;
    }
    peer.ok("AT+CMGF=0", &[]).await;
    peer.ok("AT+CSMS?", &["+CSMS: 0,1,1,1"]).await;
    peer.ok("AT+CPMS=\"SM\",\"SM\",\"SM\"", &["+CPMS: 0,30,0,30,0,30"])
        .await;
    peer.ok("AT+CNMI=2,1,0,2,0", &[]).await;
    peer.ok("AT+CREG=2", &[]).await;
    health(peer).await;
}

pub async fn health(peer: &mut Peer) {
    peer.ok("AT+CSQ", &["+CSQ: 21,99"]).await;
    peer.ok("AT+CREG?", &["+CREG: 2,1,\"00C3\",\"0000A1B2\",7"])
        .await;
    peer.ok("AT+COPS?", &["+COPS: 0,0,\"Vodafone UK\",7"]).await;
}

pub async fn do_sweep(peer: &mut Peer, v: &Vendor, sweep: &[(u32, &str)]) {
    if v.cmgl_hangs {
        let used = sweep.len();
        peer.ok(
            "AT+CPMS?",
            &[&format!(
                "+CPMS: \"SM\",{used},30,\"SM\",{used},30,\"SM\",{used},30"
            )],
        )
        .await;
        let mut left = sweep.len();
        let mut i = 0;
        while left > 0 {
            peer.expect(&format!("AT+CMGR={i}")).await;
            match sweep.iter().find(|(idx, _)| *idx == i) {
                Some((_, pdu)) => {
                    left -= 1;
                    peer.say(&format!(
                        "\r\n+CMGR: 0,,{}\r\n{pdu}\r\n\r\nOK\r\n",
                        tpdu_len(pdu)
                    ))
                    .await;
                }
                None => peer.say("\r\n+CMS ERROR: 321\r\n").await,
            }
            i += 1;
        }
        return;
    }
    let lines: Vec<String> = sweep
        .iter()
        .flat_map(|(i, pdu)| [format!("+CMGL: {i},1,,{}", tpdu_len(pdu)), pdu.to_string()])
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    peer.ok("AT+CMGL=4", &refs).await;
}

/// TPDU length of a PDU with an SMSC prefix.
pub fn tpdu_len(hex: &str) -> usize {
    let sca = usize::from_str_radix(hex.get(..2).unwrap_or("00"), 16).unwrap_or(0);
    hex.len() / 2 - sca - 1
}

pub struct Driver {
    pub handle: ModemHandle,
    pub events: mpsc::Receiver<ModemEvent>,
    pub status: watch::Receiver<ModemStatus>,
    pub cancel: CancellationToken,
}

pub fn start(o: DriverOptions) -> Driver {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let (tx, events) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let handle = modem::spawn(o, tx, cancel.clone());
    let status = handle.status();
    Driver {
        handle,
        events,
        status,
        cancel,
    }
}

impl Driver {
    /// Wait until the state satisfies `pred`.
    pub async fn wait_state(&mut self, pred: impl Fn(&ModemState) -> bool) -> ModemStatus {
        let r = tokio::time::timeout(STEP * 3, self.status.wait_for(|s| pred(&s.state)))
            .await
            .map(|r| r.map(|s| s.clone()));
        match r {
            Ok(Ok(s)) => s,
            _ => panic!("state not reached; last: {:?}", self.status.borrow().state),
        }
    }

    /// The next PDU event (status events are skipped).
    pub async fn next_pdu(&mut self) -> ModemEvent {
        loop {
            match tokio::time::timeout(STEP, self.events.recv()).await {
                Ok(Some(ev @ ModemEvent::Pdu { .. })) => return ev,
                Ok(Some(ModemEvent::Status(_))) => continue,
                other => panic!("no PDU event: {other:?}"),
            }
        }
    }

    /// No PDU event is queued right now (status events are skipped).
    /// States announced by status events so far (drains the queue; PDU
    /// events are dropped).
    pub fn states_seen(&mut self) -> Vec<ModemState> {
        let mut v = Vec::new();
        while let Ok(ev) = self.events.try_recv() {
            if let ModemEvent::Status(s) = ev {
                if v.last() != Some(&s.state) {
                    v.push(s.state);
                }
            }
        }
        v
    }

    pub fn no_pdu_queued(&mut self) -> bool {
        while let Ok(ev) = self.events.try_recv() {
            if matches!(ev, ModemEvent::Pdu { .. }) {
                return false;
            }
        }
        true
    }
}

/// Real PDUs used by the tests (sms-spec.md §12).
pub const P2_DELIVER: &str =
    "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37";
pub const P3_DELIVER: &str =
    "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07";
/// P4 status report without SCA, as `+CDS: 25` carries it.
pub const P4_REPORT: &str = "06000B910221815716F2709021510121807090215101718000";
/// P1 SUBMIT: `AT+CMGS=23`.
pub const P1_SUBMIT: &str = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37";
