//! The simulated modem's brain: bytes from the serial line in, bytes (and network
//! submissions) out. A pure state machine: no I/O, no clock reads except through
//! the `now` it is given, randomness from its own seeded `fastrand::Rng`. It owns
//! the command parser, the 27.005/27.007 answers, SIM storage, PIN state and fault
//! rolls; it does not own the pty (`modem.rs`) or routing (`network.rs`).

use std::collections::VecDeque;
use std::time::Duration;

use super::network::{address_of, tpdu_of};
use super::personality::Quirks;
use super::{Faults, NetMessage, SimSpec};
use crate::at::errors::{ErrorClass, CME_TABLE, CMS_TABLE};
use crate::at::urc::fields;
use crate::codec::{self, gsm7, ucs2, Dcs, Decoded, Pdu, Scts, Submit, UserData, Validity};

/// What the engine asks its driver task to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// Write these bytes to the line.
    Bytes(Vec<u8>),
    /// Hold the line this long (the network taking its time).
    Delay(Duration),
    /// Hand a SUBMIT to the network with this message reference.
    Transmit {
        submit: Box<Submit>,
        tpdu: Vec<u8>,
        mr: u8,
    },
}

/// A message arriving from the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// SMSC prefix octets (length octet first).
    pub smsc: Vec<u8>,
    pub tpdu: Vec<u8>,
    pub kind: IncomingKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncomingKind {
    Deliver {
        from: String,
        text: String,
        scts: String,
    },
    Report {
        mr: u8,
        ra: String,
        scts: String,
        dt: String,
        st: u8,
    },
}

#[derive(Debug, Clone)]
struct Stored {
    /// 0 REC UNREAD, 1 REC READ, 2 STO UNSENT, 3 STO SENT.
    stat: u8,
    msg: Incoming,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PinState {
    Ready,
    Pin { tries: u8 },
    Puk { tries: u8 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PromptKind {
    Send,
    Write,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Input {
    Command(Vec<u8>),
    Pdu {
        len: usize,
        hex: Vec<u8>,
        kind: PromptKind,
    },
    Text {
        da: String,
        text: Vec<u8>,
    },
}

/// A final result other than OK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    Error,
    /// The personality's own word for an unknown command.
    Unsupported,
    Cme(u16),
    Cms(u16),
}

#[derive(Debug, Default)]
struct Step {
    lines: Vec<String>,
    after: Vec<String>,
    prompt: Option<Input>,
    reboot: bool,
}

impl Step {
    fn line(s: impl Into<String>) -> Result<Step, Fail> {
        Ok(Step {
            lines: vec![s.into()],
            ..Step::default()
        })
    }
    fn ok() -> Result<Step, Fail> {
        Ok(Step::default())
    }
}

const MAX_LINE: usize = 1024;
const MAX_PDU_HEX: usize = 2 * 200;
const MAX_COMMANDS: usize = 100_000;
const PUK: &str = "12345678";
const STAT_TEXT: [&str; 4] = ["REC UNREAD", "REC READ", "STO UNSENT", "STO SENT"];
const MEMS: [&str; 4] = ["SM", "ME", "MT", "SR"];
const USSD_ANSWER: &str = "Balance: 12.34 EUR";

/// One simulated modem's state: session settings (lost on reset) and SIM state
/// (storage, message references: kept across resets and unplugs).
#[derive(Debug)]
pub struct Engine {
    spec: SimSpec,
    quirks: Quirks,
    faults: Faults,
    rng: fastrand::Rng,
    // session
    echo: bool,
    cmee: u8,
    cmgf: u8,
    /// `AT+CSDH=1`: text-mode headers carry every field.
    csdh: bool,
    cscs: String,
    csmp: [u8; 4],
    cnmi: [u8; 5],
    creg_n: u8,
    csms: u8,
    cmms: u8,
    /// Huawei `AT^CURC=0`: vendor noise off.
    curc_off: bool,
    cpms: [String; 3],
    pin: PinState,
    input: Input,
    awaiting_ack: u32,
    // SIM and line history
    current_pin: Option<String>,
    csca: String,
    /// SIM storage: `[SM (also ME/MT), SR]`.
    stores: [Vec<Option<Stored>>; 2],
    waiting: VecDeque<Incoming>,
    next_mr: u8,
    commands: VecDeque<String>,
    /// Command lines received since power-up, including those `commands` dropped.
    commands_total: u64,
    submitted: Vec<NetMessage>,
    /// `AT+CMGS` payloads received complete (Ctrl-Z seen), whatever came of them.
    payloads: usize,
}

impl Engine {
    pub fn new(spec: SimSpec, seed: u64) -> Engine {
        let quirks = super::personality::quirks(spec.personality);
        let n = spec.storage_slots.max(1);
        let stores = [
            (0..n).map(|_| None).collect(),
            (0..n).map(|_| None).collect(),
        ];
        let faults = spec.faults.clone();
        let mut e = Engine {
            current_pin: spec.pin.clone(),
            spec,
            quirks,
            faults,
            rng: fastrand::Rng::with_seed(seed),
            echo: true,
            cmee: 0,
            cmgf: 0,
            csdh: false,
            cscs: "GSM".into(),
            csmp: [17, 167, 0, 0],
            cnmi: [2, 1, 0, 0, 0],
            creg_n: 0,
            csms: 0,
            cmms: 0,
            curc_off: false,
            cpms: ["SM".into(), "SM".into(), "SM".into()],
            pin: PinState::Ready,
            input: Input::Command(Vec::new()),
            awaiting_ack: 0,
            csca: super::network::SMSC.into(),
            stores,
            waiting: VecDeque::new(),
            next_mr: 0,
            commands: VecDeque::new(),
            commands_total: 0,
            submitted: Vec::new(),
            payloads: 0,
        };
        e.reset_session();
        e
    }

    fn reset_session(&mut self) {
        self.echo = true;
        self.cmee = 0;
        self.cmgf = u8::from(self.faults.text_only);
        self.csdh = false;
        self.cscs = "GSM".into();
        self.csmp = [17, 167, 0, 0];
        self.cnmi = [2, 1, 0, 0, 0];
        self.creg_n = 0;
        self.csms = 0;
        self.cmms = 0;
        self.curc_off = false;
        self.cpms = ["SM".into(), "SM".into(), "SM".into()];
        self.pin = match self.current_pin {
            Some(_) => PinState::Pin { tries: 3 },
            None => PinState::Ready,
        };
        self.input = Input::Command(Vec::new());
        self.awaiting_ack = 0;
    }

    /// Power-up or reset: session settings back to defaults, then the boot noise.
    pub fn boot(&mut self) -> Vec<Out> {
        self.reset_session();
        let locked = self.pin != PinState::Ready;
        let mut text = String::new();
        for l in self.quirks.boot {
            let l = if locked && *l == "+CPIN: READY" {
                "+CPIN: SIM PIN"
            } else {
                l
            };
            if locked && l == "SMS Ready" {
                continue;
            }
            text.push_str("\r\n");
            text.push_str(l);
            text.push_str("\r\n");
        }
        if text.is_empty() {
            Vec::new()
        } else {
            vec![Out::Bytes(text.into_bytes())]
        }
    }

    pub fn set_faults(&mut self, f: Faults) -> Vec<Out> {
        self.faults = f;
        self.flush_waiting()
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn commands(&self) -> Vec<String> {
        self.commands.iter().cloned().collect()
    }

    pub fn submitted(&self) -> Vec<NetMessage> {
        self.submitted.clone()
    }

    /// How many command lines have arrived so far (never decreases).
    pub fn commands_total(&self) -> u64 {
        self.commands_total
    }

    /// The command lines that arrived after the first `since` of them
    /// (as many as are still kept).
    pub fn commands_since(&self, since: u64) -> Vec<String> {
        let new = usize::try_from(self.commands_total.saturating_sub(since)).unwrap_or(usize::MAX);
        let skip = self.commands.len().saturating_sub(new);
        self.commands.iter().skip(skip).cloned().collect()
    }

    /// How many `AT+CMGS` payloads (PDU or text) arrived complete: from then
    /// on the send is in the modem's hands, answered after `cmgs_latency`.
    pub fn payloads(&self) -> usize {
        self.payloads
    }

    pub fn record_submitted(&mut self, m: NetMessage) {
        self.submitted.push(m);
    }

    pub fn stored(&self) -> usize {
        self.stores.iter().flatten().filter(|s| s.is_some()).count()
    }

    fn store(&self, ix: usize) -> &[Option<Stored>] {
        self.stores.get(ix).map_or(&[], Vec::as_slice)
    }

    fn store_mut(&mut self, ix: usize) -> &mut [Option<Stored>] {
        self.stores.get_mut(ix).map_or(&mut [], Vec::as_mut_slice)
    }

    /// The memory `AT+CMGR`/`+CMGL`/`+CMGD` work on (CPMS `<mem1>`).
    fn read_ix(&self) -> usize {
        mem_ix(&self.cpms[0])
    }

    /// Messages the network holds for this SIM because its storage is full.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    fn full(&self, ix: usize) -> bool {
        self.faults.storage_full || self.store(ix).iter().all(Option::is_some)
    }

    fn used(&self, ix: usize) -> usize {
        let store = self.store(ix);
        if self.faults.storage_full {
            store.len()
        } else {
            store.iter().filter(|s| s.is_some()).count()
        }
    }

    fn index(&self, slot: usize) -> u32 {
        u32::try_from(slot)
            .unwrap_or(u32::MAX)
            .saturating_add(self.quirks.index_base)
    }

    fn slot(&self, index: u32) -> Option<usize> {
        let s = usize::try_from(index.checked_sub(self.quirks.index_base)?).ok()?;
        (s < self.store(self.read_ix()).len()).then_some(s)
    }

    fn roll(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.f64() < p
    }

    fn noise_line(&mut self) -> String {
        let common = ["+CREG: 1", "RING"];
        let vendor = if self.curc_off {
            &[][..]
        } else {
            self.quirks.noise
        };
        let n = self.rng.usize(..common.len() + vendor.len());
        vendor
            .get(n.wrapping_sub(common.len()))
            .or_else(|| common.get(n))
            .copied()
            .unwrap_or("RING")
            .to_string()
    }

    /// One URC of background noise (the driver calls this on its timer).
    pub fn noise(&mut self) -> Vec<Out> {
        let l = self.noise_line();
        vec![Out::Bytes(format!("\r\n{l}\r\n").into_bytes())]
    }

    /// Noise inside an answer, when URC noise is switched on.
    fn maybe_noise(&mut self, out: &mut Vec<u8>) {
        if self.faults.urc_noise_interval.is_some() && self.rng.u8(..4) == 0 {
            let l = self.noise_line();
            out.extend(format!("\r\n{l}\r\n").as_bytes());
        }
    }

    fn maybe_garbage(&mut self, out: &mut Vec<u8>) {
        let rate = self.faults.garbage_rate;
        if !self.roll(rate) {
            return;
        }
        if self.rng.bool() {
            let n = self.rng.usize(1..16);
            out.extend((0..n).map(|_| self.rng.u8(..)));
            out.extend(b"\r\n");
        } else {
            let l = self.noise_line();
            let cut = self.rng.usize(1..=l.len().max(1));
            out.extend(b"\r\n");
            out.extend(l.as_bytes().get(..cut).unwrap_or(b""));
        }
    }

    fn fail_text(&self, f: Fail) -> String {
        match f {
            Fail::Error => "ERROR".into(),
            Fail::Unsupported => self.quirks.unsupported.unwrap_or("ERROR").into(),
            Fail::Cme(c) => match self.cmee {
                0 => "ERROR".into(),
                1 => format!("+CME ERROR: {c}"),
                _ => format!("+CME ERROR: {}", cme_text(c)),
            },
            Fail::Cms(c) => match self.cmee {
                2 => format!("+CMS ERROR: {}", cms_text(c)),
                _ => format!("+CMS ERROR: {c}"),
            },
        }
    }

    /// Feeds bytes from the line; returns what the modem does in answer.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Out> {
        let mut outs = Vec::new();
        let mut echo = Vec::new();
        for &b in bytes {
            let echoing = self.echo || self.faults.echo;
            match &mut self.input {
                Input::Command(buf) => {
                    if echoing {
                        echo.push(b);
                    }
                    match b {
                        b'\r' => {
                            let line = std::mem::take(buf);
                            push_bytes(&mut outs, std::mem::take(&mut echo));
                            outs.extend(self.command_line(&line));
                        }
                        b'\n' if buf.is_empty() => {}
                        0x1A | 0x1B => buf.clear(),
                        0x08 => {
                            buf.pop();
                        }
                        _ if buf.len() >= MAX_LINE => buf.clear(),
                        _ => buf.push(b),
                    }
                }
                Input::Pdu { len, hex, kind } => {
                    if echoing {
                        echo.push(b);
                    }
                    match b {
                        0x1A => {
                            let (len, hex, kind) = (*len, std::mem::take(hex), *kind);
                            self.input = Input::Command(Vec::new());
                            push_bytes(&mut outs, std::mem::take(&mut echo));
                            outs.extend(self.pdu_done(len, &hex, kind));
                        }
                        0x1B => {
                            self.input = Input::Command(Vec::new());
                            push_bytes(&mut outs, std::mem::take(&mut echo));
                            outs.push(Out::Bytes(b"\r\nOK\r\n".to_vec()));
                        }
                        b if b.is_ascii_hexdigit() && hex.len() < MAX_PDU_HEX + 2 => hex.push(b),
                        _ => {}
                    }
                }
                Input::Text { da, text } => {
                    if echoing {
                        echo.push(b);
                    }
                    match b {
                        0x1A => {
                            let (da, text) = (std::mem::take(da), std::mem::take(text));
                            self.input = Input::Command(Vec::new());
                            push_bytes(&mut outs, std::mem::take(&mut echo));
                            outs.extend(self.text_done(&da, &text));
                        }
                        0x1B => {
                            self.input = Input::Command(Vec::new());
                            push_bytes(&mut outs, std::mem::take(&mut echo));
                            outs.push(Out::Bytes(b"\r\nOK\r\n".to_vec()));
                        }
                        _ if text.len() < MAX_LINE => text.push(b),
                        _ => {}
                    }
                }
            }
        }
        push_bytes(&mut outs, echo);
        merge(outs)
    }

    fn command_line(&mut self, raw: &[u8]) -> Vec<Out> {
        let line = String::from_utf8_lossy(raw).trim().to_string();
        let upper = line.to_ascii_uppercase();
        let Some(at) = upper.find("AT") else {
            return Vec::new();
        };
        let line = line.get(at..).unwrap_or("").to_string();
        if self.commands.len() >= MAX_COMMANDS {
            self.commands.pop_front();
        }
        self.commands.push_back(line.clone());
        self.commands_total += 1;
        let mut out = Vec::new();
        self.maybe_noise(&mut out);
        self.maybe_garbage(&mut out);
        if self.roll(self.faults.no_answer_rate) {
            return if out.is_empty() {
                Vec::new()
            } else {
                vec![Out::Bytes(out)]
            };
        }
        let body = line.get(2..).unwrap_or("");
        let mut lines: Vec<String> = Vec::new();
        let mut after: Vec<String> = Vec::new();
        let mut reboot = false;
        let mut result: Result<(), Fail> = Ok(());
        for cmd in split_commands(body) {
            match self.exec(&cmd) {
                Ok(step) => {
                    lines.extend(step.lines);
                    after.extend(step.after);
                    reboot |= step.reboot;
                    if let Some(p) = step.prompt {
                        if !lines.is_empty() {
                            out.extend(block(&lines));
                        }
                        self.input = p;
                        out.extend(b"\r\n> ");
                        self.maybe_noise(&mut out);
                        return vec![Out::Bytes(out)];
                    }
                }
                Err(f) => {
                    result = Err(f);
                    break;
                }
            }
        }
        if !lines.is_empty() {
            out.extend(block(&lines));
        }
        let fin = match result {
            Ok(()) => "OK".to_string(),
            Err(f) => self.fail_text(f),
        };
        out.extend(format!("\r\n{fin}\r\n").as_bytes());
        for a in after {
            out.extend(format!("\r\n{a}\r\n").as_bytes());
        }
        let mut outs = vec![Out::Bytes(out)];
        if reboot {
            outs.extend(self.boot());
        }
        outs
    }

    fn require_pin(&self) -> Result<(), Fail> {
        match self.pin {
            PinState::Ready => Ok(()),
            PinState::Pin { .. } => Err(Fail::Cme(11)),
            PinState::Puk { .. } => Err(Fail::Cme(12)),
        }
    }

    fn require_pin_sms(&self) -> Result<(), Fail> {
        match self.pin {
            PinState::Ready => Ok(()),
            PinState::Pin { .. } => Err(Fail::Cms(311)),
            PinState::Puk { .. } => Err(Fail::Cms(316)),
        }
    }

    fn exec(&mut self, cmd: &str) -> Result<Step, Fail> {
        let up = cmd.to_ascii_uppercase();
        // Basic V.250 commands (E0, V1, Z, &F ...).
        if !up.starts_with(['+', '^', '#', '!', '$']) {
            return self.basic(&up);
        }
        let (name, rest) = split_name(&up);
        let args_raw = cmd.get(name.len()..).unwrap_or("");
        for ic in self.quirks.iccid {
            let (iname, irest) = split_name(ic.command);
            if iname == name && (irest == rest || (irest.is_empty() && rest == "?")) {
                let v = if ic.quoted {
                    format!("\"{}\"", self.spec.iccid)
                } else {
                    self.spec.iccid.clone()
                };
                return Step::line(format!("{}{}", ic.prefix, v));
            }
        }
        let q = rest == "?";
        let test = rest == "=?";
        let args = rest.strip_prefix('=').map(fields).unwrap_or_default();
        let arg = |i: usize| args.get(i).and_then(|a| a.parse::<u32>().ok());
        let text_args = args_raw.strip_prefix('=').map(fields).unwrap_or_default();
        match name {
            "+CMEE" if q => Step::line(format!("+CMEE: {}", self.cmee)),
            "+CMEE" if test => Step::line("+CMEE: (0-2)"),
            "+CMEE" => match arg(0).unwrap_or(0) {
                v @ 0..=2 => {
                    self.cmee = u8::try_from(v).unwrap_or(0);
                    Step::ok()
                }
                _ => Err(Fail::Cme(3)),
            },
            "+CPIN" if q => Step::line(match self.pin {
                PinState::Ready => "+CPIN: READY",
                PinState::Pin { .. } => "+CPIN: SIM PIN",
                PinState::Puk { .. } => "+CPIN: SIM PUK",
            }),
            "+CPIN" if test => Step::ok(),
            "+CPIN" => self.cpin(&text_args),
            "+CGMI" | "+GMI" => Step::line(self.quirks.manufacturer),
            "+CGMM" | "+GMM" => Step::line(self.quirks.model),
            "+CGMR" | "+GMR" => Step::line(self.quirks.revision),
            "+CGSN" | "+GSN" => Step::line(self.spec.imei.clone()),
            "+CIMI" => {
                self.require_pin()?;
                Step::line(self.spec.imsi.clone())
            }
            "+CFUN" if q => Step::line("+CFUN: 1"),
            "+CFUN" if test => Step::line("+CFUN: (0,1,4),(0,1)"),
            "+CFUN" => match (arg(0), arg(1)) {
                (Some(0 | 1 | 4), Some(1)) => Ok(Step {
                    reboot: true,
                    ..Step::default()
                }),
                (Some(0 | 1 | 4), None | Some(0)) => Step::ok(),
                _ => Err(Fail::Cme(3)),
            },
            "+CREG" | "+CGREG" | "+CEREG" if q => {
                let n = self.creg_n;
                let short = name.trim_start_matches('+');
                if n == 2 {
                    Step::line(format!("+{short}: 2,1,\"00C3\",\"1A2B\""))
                } else {
                    Step::line(format!("+{short}: {n},1"))
                }
            }
            "+CREG" | "+CGREG" | "+CEREG" if test => Step::line(format!("{name}: (0-2)")),
            "+CREG" | "+CGREG" | "+CEREG" => match arg(0) {
                Some(v @ 0..=2) => {
                    self.creg_n = u8::try_from(v).unwrap_or(0);
                    Step::ok()
                }
                _ => Err(Fail::Cme(3)),
            },
            "+CSQ" => Step::line("+CSQ: 20,99"),
            "+COPS" if q => {
                self.require_pin()?;
                Step::line("+COPS: 0,0,\"SimNet\",2")
            }
            "+COPS" if test => {
                Step::line("+COPS: (2,\"SimNet\",\"SimNet\",\"00101\",2),,(0-4),(0-2)")
            }
            "+COPS" => Step::ok(),
            "+CSCA" if q => {
                self.require_pin_sms()?;
                Step::line(format!("+CSCA: \"{}\",145", self.csca))
            }
            "+CSCA" => {
                self.require_pin_sms()?;
                match text_args.first() {
                    Some(a) if !a.is_empty() => {
                        self.csca = a.clone();
                        Step::ok()
                    }
                    _ => Err(Fail::Cms(304)),
                }
            }
            "+CMGF" if q => Step::line(format!("+CMGF: {}", self.cmgf)),
            "+CMGF" if test => Step::line(if self.faults.text_only {
                "+CMGF: (1)"
            } else {
                "+CMGF: (0,1)"
            }),
            "+CMGF" => match arg(0).unwrap_or(0) {
                0 if self.faults.text_only => Err(Fail::Cms(303)),
                v @ 0..=1 => {
                    self.cmgf = u8::try_from(v).unwrap_or(0);
                    Step::ok()
                }
                _ => Err(Fail::Cms(302)),
            },
            "+CSCS" if q => Step::line(format!("+CSCS: \"{}\"", self.cscs)),
            "+CSCS" if test => Step::line("+CSCS: (\"GSM\",\"IRA\",\"UCS2\",\"HEX\",\"8859-1\")"),
            "+CSCS" => match args.first().map(String::as_str) {
                Some(c @ ("GSM" | "IRA" | "UCS2" | "HEX" | "8859-1" | "PCCP437")) => {
                    self.cscs = c.to_string();
                    Step::ok()
                }
                _ => Err(Fail::Cme(4)),
            },
            "+CSMP" if q => Step::line(format!(
                "+CSMP: {},{},{},{}",
                self.csmp[0], self.csmp[1], self.csmp[2], self.csmp[3]
            )),
            "+CSMP" => {
                for (i, slot) in self.csmp.iter_mut().enumerate() {
                    if let Some(v) = args.get(i).and_then(|a| a.parse::<u8>().ok()) {
                        *slot = v;
                    }
                }
                Step::ok()
            }
            "+CNMI" if q => {
                let c = self.cnmi;
                Step::line(format!(
                    "+CNMI: {},{},{},{},{}",
                    c[0], c[1], c[2], c[3], c[4]
                ))
            }
            "+CNMI" if test => Step::line("+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)"),
            "+CNMI" => {
                let mut c = self.cnmi;
                for (i, slot) in c.iter_mut().enumerate() {
                    if let Some(a) = args.get(i).filter(|a| !a.is_empty()) {
                        *slot = a.parse::<u8>().map_err(|_| Fail::Cms(303))?;
                    }
                }
                if c[0] > 3 || c[1] > 3 || c[3] > 2 || c[4] > 1 {
                    return Err(Fail::Cms(303));
                }
                self.cnmi = c;
                Step::ok()
            }
            "+CSMS" if q => Step::line(format!("+CSMS: {},1,1,1", self.csms)),
            "+CSMS" if test => Step::line("+CSMS: (0,1)"),
            "+CSMS" => match arg(0) {
                Some(v @ 0..=1) => {
                    self.csms = u8::try_from(v).unwrap_or(0);
                    Step::line("+CSMS: 1,1,1")
                }
                _ => Err(Fail::Cms(303)),
            },
            "+CNMA" => {
                if self.awaiting_ack > 0 {
                    self.awaiting_ack -= 1;
                    Step::ok()
                } else {
                    Err(Fail::Cms(340))
                }
            }
            "+CPMS" => self.cpms(q, test, &args),
            "+CMGS" if test => Step::ok(),
            "+CMGS" | "+CMGW" => {
                self.require_pin_sms()?;
                let kind = if name == "+CMGS" {
                    PromptKind::Send
                } else {
                    PromptKind::Write
                };
                if self.cmgf == 1 {
                    if kind == PromptKind::Write {
                        return Err(Fail::Cms(303));
                    }
                    let da = text_args.first().cloned().unwrap_or_default();
                    let da = if self.cscs == "UCS2" {
                        ucs2_hex_to_string(&da).unwrap_or(da)
                    } else {
                        da
                    };
                    if da.is_empty() {
                        return Err(Fail::Cms(305));
                    }
                    return Ok(Step {
                        prompt: Some(Input::Text {
                            da,
                            text: Vec::new(),
                        }),
                        ..Step::default()
                    });
                }
                match arg(0) {
                    Some(n @ 7..=164) => Ok(Step {
                        prompt: Some(Input::Pdu {
                            len: usize::try_from(n).unwrap_or(0),
                            hex: Vec::new(),
                            kind,
                        }),
                        ..Step::default()
                    }),
                    _ => Err(Fail::Cms(304)),
                }
            }
            "+CMGR" => {
                self.require_pin_sms()?;
                let i = arg(0).ok_or(Fail::Cms(321))?;
                self.cmgr(i)
            }
            "+CMGL" if test => Step::line(if self.cmgf == 1 {
                "+CMGL: (\"REC UNREAD\",\"REC READ\",\"STO UNSENT\",\"STO SENT\",\"ALL\")"
            } else {
                "+CMGL: (0-4)"
            }),
            "+CMGL" => {
                self.require_pin_sms()?;
                self.cmgl(args.first().map(String::as_str).unwrap_or(""))
            }
            "+CMGD" if test => {
                let b = self.quirks.index_base;
                let last = self.index(self.store(0).len().saturating_sub(1));
                Step::line(format!("+CMGD: ({b}-{last}),(0-4)"))
            }
            "+CMGD" => {
                self.require_pin_sms()?;
                let i = arg(0).ok_or(Fail::Cms(321))?;
                let flag = arg(1).unwrap_or(0);
                self.cmgd(i, flag)
            }
            "+CUSD" if q => Step::line("+CUSD: 1"),
            "+CUSD" if test => Step::line("+CUSD: (0-2)"),
            "+CUSD" => {
                self.require_pin()?;
                if text_args.get(1).is_none() {
                    return Step::ok();
                }
                let answer = if self.quirks.ussd_packed {
                    let septets = gsm7::encode(USSD_ANSWER, gsm7::Tables::DEFAULT);
                    codec::to_hex(&gsm7::pack(&septets.unwrap_or_default(), 0))
                } else {
                    USSD_ANSWER.to_string()
                };
                Ok(Step {
                    after: vec![format!("+CUSD: 0,\"{answer}\",15")],
                    ..Step::default()
                })
            }
            "^CURC" if self.quirks.curc => {
                if q {
                    Step::line(format!("^CURC: {}", u8::from(!self.curc_off)))
                } else {
                    self.curc_off = arg(0) == Some(0);
                    Step::ok()
                }
            }
            n if self.quirks.accepts.contains(&n) => Step::ok(),
            "+CNUM" => {
                self.require_pin()?;
                Step::line(format!("+CNUM: ,\"{}\",145", self.spec.msisdn))
            }
            "+CPAS" => Step::line("+CPAS: 0"),
            "+GCAP" => Step::line("+GCAP: +CGSM"),
            "+CMMS" if q => Step::line(format!("+CMMS: {}", self.cmms)),
            "+CMMS" => match arg(0) {
                Some(v @ 0..=2) => {
                    self.cmms = u8::try_from(v).unwrap_or(0);
                    Step::ok()
                }
                _ => Err(Fail::Cms(302)),
            },
            "+CSDH" if q => Step::line(format!("+CSDH: {}", u8::from(self.csdh))),
            "+CSDH" if test => Step::line("+CSDH: (0,1)"),
            "+CSDH" => match arg(0).unwrap_or(0) {
                v @ 0..=1 => {
                    self.csdh = v == 1;
                    Step::ok()
                }
                _ => Err(Fail::Cme(3)),
            },
            "+CLIP" | "+CHUP" | "+CRC" | "+CLIR" | "+CLCC" => Step::ok(),
            _ => Err(match self.quirks.unsupported {
                Some(_) => Fail::Unsupported,
                None if self.cmee == 0 => Fail::Error,
                None => Fail::Cme(4),
            }),
        }
    }

    fn basic(&mut self, up: &str) -> Result<Step, Fail> {
        let b = up.as_bytes();
        let mut i = 0;
        let mut step = Step::default();
        while let Some(&c) = b.get(i) {
            i += 1;
            let amp = c == b'&';
            let c = if amp {
                let n = b.get(i).copied().ok_or(Fail::Error)?;
                i += 1;
                n
            } else {
                c
            };
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            let n: u32 = up.get(start..i).and_then(|s| s.parse().ok()).unwrap_or(0);
            match (amp, c) {
                (false, b'E') => self.echo = n == 1,
                (false, b'Z') | (true, b'F') => {
                    let keep_pin = self.pin;
                    self.reset_session();
                    self.pin = keep_pin;
                }
                (false, b'I') => step.lines.extend([
                    self.quirks.manufacturer.to_string(),
                    self.quirks.model.to_string(),
                    format!("Revision: {}", self.quirks.revision),
                ]),
                (false, b'V' | b'Q' | b'H' | b'X' | b'L' | b'M') => {}
                // S registers: `S0=0` sets, `S3?` reads.
                (false, b'S') => match b.get(i) {
                    Some(b'=') => {
                        i += 1;
                        while b.get(i).is_some_and(u8::is_ascii_digit) {
                            i += 1;
                        }
                    }
                    Some(b'?') => {
                        i += 1;
                        let v = match n {
                            3 => 13,
                            4 => 10,
                            5 => 8,
                            _ => 0,
                        };
                        step.lines.push(format!("{v:03}"));
                    }
                    _ => return Err(Fail::Error),
                },
                (true, b'W' | b'D' | b'C' | b'K') => {}
                _ => return Err(Fail::Error),
            }
        }
        Ok(step)
    }

    fn cpin(&mut self, args: &[String]) -> Result<Step, Fail> {
        match self.pin {
            PinState::Ready => Err(Fail::Cme(3)),
            PinState::Pin { tries } => {
                let given = args.first().ok_or(Fail::Cme(3))?;
                if Some(given) == self.current_pin.as_ref() {
                    self.pin = PinState::Ready;
                    Step::ok()
                } else {
                    self.pin = if tries <= 1 {
                        PinState::Puk { tries: 10 }
                    } else {
                        PinState::Pin { tries: tries - 1 }
                    };
                    Err(Fail::Cme(16))
                }
            }
            PinState::Puk { tries } => {
                let (Some(puk), Some(new)) = (args.first(), args.get(1)) else {
                    return Err(Fail::Cme(12));
                };
                if puk == PUK {
                    self.current_pin = Some(new.clone());
                    self.pin = PinState::Ready;
                    Step::ok()
                } else {
                    self.pin = PinState::Puk {
                        tries: tries.saturating_sub(1),
                    };
                    Err(Fail::Cme(16))
                }
            }
        }
    }

    fn cpms(&mut self, q: bool, test: bool, args: &[String]) -> Result<Step, Fail> {
        if test {
            return Step::line("+CPMS: (\"SM\",\"ME\",\"MT\",\"SR\"),(\"SM\",\"ME\",\"MT\"),(\"SM\",\"ME\",\"MT\")");
        }
        self.require_pin_sms()?;
        if q {
            let parts: Vec<String> = self
                .cpms
                .iter()
                .map(|m| {
                    let ix = mem_ix(m);
                    format!("\"{m}\",{},{}", self.used(ix), self.store(ix).len())
                })
                .collect();
            return Step::line(format!("+CPMS: {}", parts.join(",")));
        }
        if args.is_empty() || args.len() > 3 {
            return Err(Fail::Cms(302));
        }
        for (i, a) in args.iter().enumerate() {
            if !MEMS.contains(&a.as_str()) {
                return Err(Fail::Cms(302));
            }
            if let Some(m) = self.cpms.get_mut(i) {
                *m = a.clone();
            }
        }
        let parts: Vec<String> = self
            .cpms
            .iter()
            .map(|m| {
                let ix = mem_ix(m);
                format!("{},{}", self.used(ix), self.store(ix).len())
            })
            .collect();
        Step::line(format!("+CPMS: {}", parts.join(",")))
    }

    fn entry_pdu(m: &Incoming) -> (usize, String) {
        let mut all = m.smsc.clone();
        all.extend(&m.tpdu);
        (m.tpdu.len(), codec::to_hex(&all))
    }

    /// A number or text as the modem prints it in the current `AT+CSCS`:
    /// UTF-16 hex in `"UCS2"`, as is otherwise.
    fn in_cscs(&self, s: &str) -> String {
        if self.cscs == "UCS2" {
            codec::to_hex(&ucs2::encode(s))
        } else {
            s.to_string()
        }
    }

    /// A delivered message's text-mode header fields after `<oa>` and its
    /// text, as 27.005 §3.1 shows them: the text in the character set, or
    /// hex octets when its `<dcs>` is UCS-2 or 8-bit, or the whole user data
    /// (header included) in hex when `<fo>` has TP-UDHI. `listing`: `+CMGL`'s
    /// short tail (`<tooa>,<length>`) instead of `+CMGR`/`+CMT`'s full one.
    fn deliver_text(&self, m: &Incoming, text: &str, listing: bool) -> (String, String) {
        let d = match codec::decode(&m.tpdu, Some(m.tpdu.len())) {
            Ok(Decoded {
                pdu: Pdu::Deliver(d),
                ..
            }) => Some(d),
            _ => None,
        };
        let dcs = d.as_ref().map_or(Dcs::GSM7, |d| d.dcs);
        let fo = m.tpdu.first().copied().unwrap_or(4);
        // After TP-MTI, the address (length in digits, TOA, BCD), TP-PID,
        // TP-DCS, TP-SCTS and TP-UDL.
        let ud_at = m
            .tpdu
            .get(1)
            .map_or(0, |n| 1 + 2 + usize::from(*n).div_ceil(2) + 1 + 1 + 7 + 1);
        let (shown, length) = match (dcs.effective_alphabet(), d.as_ref().map(|d| &d.data)) {
            // A user data header: the whole user data as hex octets.
            _ if fo & 0x40 != 0 => {
                let ud = m.tpdu.get(ud_at..).unwrap_or_default();
                (codec::to_hex(ud), ud.len())
            }
            (codec::dcs::Alphabet::Eight, Some(UserData::Binary(b))) => (codec::to_hex(b), b.len()),
            (codec::dcs::Alphabet::Ucs2, _) => {
                let o = ucs2::encode(text);
                (codec::to_hex(&o), o.len())
            }
            _ => (self.in_cscs(text), text.chars().count()),
        };
        if !self.csdh {
            return (String::new(), shown);
        }
        let tooa = d.as_ref().map_or(145, |d| d.originator.toa());
        if listing {
            return (format!(",{tooa},{length}"), shown);
        }
        let pid = d.as_ref().map_or(0, |d| d.pid);
        let sca = self.in_cscs(super::network::SMSC);
        (
            format!(",{tooa},{fo},{pid},{},\"{sca}\",145,{length}", dcs.0),
            shown,
        )
    }

    fn entry_text(&self, header: &str, s: &Stored, listing: bool) -> String {
        let st = STAT_TEXT
            .get(usize::from(s.stat))
            .copied()
            .unwrap_or("REC READ");
        match &s.msg.kind {
            IncomingKind::Deliver { from, text, scts } => {
                let (tail, shown) = self.deliver_text(&s.msg, text, listing);
                let from = self.in_cscs(from);
                format!("{header}\"{st}\",\"{from}\",,\"{scts}\"{tail}\r\n{shown}")
            }
            IncomingKind::Report {
                mr,
                ra,
                scts,
                dt,
                st: tst,
            } => {
                let ra = self.in_cscs(ra);
                format!("{header}\"{st}\",6,{mr},\"{ra}\",145,\"{scts}\",\"{dt}\",{tst}")
            }
        }
    }

    fn cmgr(&mut self, index: u32) -> Result<Step, Fail> {
        let slot = self.slot(index).ok_or(Fail::Cms(321))?;
        let text_mode = self.cmgf == 1;
        let ix = self.read_ix();
        let Some(s) = self.store_mut(ix).get_mut(slot).and_then(Option::as_mut) else {
            return Step::ok();
        };
        let stat = s.stat;
        if s.stat == 0 {
            s.stat = 1;
        }
        let s = s.clone();
        if text_mode {
            let shown = Stored { stat, msg: s.msg };
            return Step::line(self.entry_text("+CMGR: ", &shown, false));
        }
        let (len, hex) = Self::entry_pdu(&s.msg);
        Step::line(format!("+CMGR: {stat},,{len}\r\n{hex}"))
    }

    fn cmgl(&mut self, which: &str) -> Result<Step, Fail> {
        let want: Option<u8> = match which {
            "0" | "REC UNREAD" => Some(0),
            "1" | "REC READ" => Some(1),
            "2" | "STO UNSENT" => Some(2),
            "3" | "STO SENT" => Some(3),
            "4" | "ALL" => None,
            "" if self.cmgf == 1 => Some(0),
            _ => return Err(Fail::Cms(302)),
        };
        if (self.cmgf == 1) != which.starts_with(|c: char| c.is_ascii_alphabetic())
            && !which.is_empty()
        {
            return Err(Fail::Cms(302));
        }
        let mut lines = Vec::new();
        let ix = self.read_ix();
        for slot in 0..self.store(ix).len() {
            let idx = self.index(slot);
            let Some(s) = self.store(ix).get(slot).and_then(Option::as_ref) else {
                continue;
            };
            if want.is_some_and(|w| w != s.stat) {
                continue;
            }
            let s = s.clone();
            if self.cmgf == 1 {
                lines.push(self.entry_text(&format!("+CMGL: {idx},"), &s, true));
            } else {
                let (len, hex) = Self::entry_pdu(&s.msg);
                lines.push(format!("+CMGL: {idx},{},,{len}\r\n{hex}", s.stat));
            }
            if self.faults.urc_noise_interval.is_some() && self.rng.u8(..3) == 0 {
                lines.push(self.noise_line());
            }
            if let Some(Some(st)) = self.store_mut(ix).get_mut(slot) {
                if st.stat == 0 {
                    st.stat = 1;
                }
            }
        }
        Ok(Step {
            lines,
            ..Step::default()
        })
    }

    fn cmgd(&mut self, index: u32, flag: u32) -> Result<Step, Fail> {
        let keep = |stat: u8| -> bool {
            match flag {
                1 => stat != 1,
                2 => stat != 1 && stat != 3,
                3 => stat == 0,
                4 => false,
                _ => true,
            }
        };
        let ix = self.read_ix();
        if flag == 0 {
            let slot = self.slot(index).ok_or(Fail::Cms(321))?;
            if let Some(s) = self.store_mut(ix).get_mut(slot) {
                *s = None;
            }
        } else if flag <= 4 {
            for s in self.store_mut(ix) {
                if s.as_ref().is_some_and(|m| !keep(m.stat)) {
                    *s = None;
                }
            }
        } else {
            return Err(Fail::Cms(302));
        }
        let urcs = self.flush_waiting_lines();
        Ok(Step {
            after: urcs,
            ..Step::default()
        })
    }

    fn pdu_done(&mut self, len: usize, hex: &[u8], kind: PromptKind) -> Vec<Out> {
        if kind == PromptKind::Send {
            self.payloads += 1;
        }
        let mut out = Vec::new();
        self.maybe_noise(&mut out);
        let result = self.pdu_submit(len, hex, kind);
        let latency = self.faults.cmgs_latency;
        let mut outs = Vec::new();
        match result {
            Ok((lines, transmit)) => {
                if kind == PromptKind::Send && !latency.is_zero() {
                    outs.push(Out::Delay(latency));
                }
                if let Some(t) = transmit {
                    outs.push(t);
                }
                out.extend(block(&lines));
                out.extend(b"\r\nOK\r\n");
            }
            Err(f) => {
                if kind == PromptKind::Send && !latency.is_zero() {
                    outs.push(Out::Delay(latency));
                }
                out.extend(format!("\r\n{}\r\n", self.fail_text(f)).as_bytes());
            }
        }
        outs.push(Out::Bytes(out));
        outs
    }

    fn pdu_submit(
        &mut self,
        len: usize,
        hex: &[u8],
        kind: PromptKind,
    ) -> Result<(Vec<String>, Option<Out>), Fail> {
        let text = std::str::from_utf8(hex).map_err(|_| Fail::Cms(304))?;
        let bytes = codec::from_hex(text).map_err(|_| Fail::Cms(304))?;
        // The codec checks the SMSC prefix against `len`.
        let Ok(Decoded {
            pdu: Pdu::Submit(submit),
            ..
        }) = codec::decode(&bytes, Some(len))
        else {
            return Err(Fail::Cms(304));
        };
        let sca_len = bytes.len().checked_sub(len).ok_or(Fail::Cms(304))?;
        let tpdu = bytes.get(sca_len..).ok_or(Fail::Cms(304))?.to_vec();
        let text = super::network::text_of(&submit);
        match kind {
            PromptKind::Write => {
                let wix = mem_ix(&self.cpms[1]);
                let slot = if self.full(wix) {
                    None
                } else {
                    self.store(wix).iter().position(Option::is_none)
                };
                let slot = slot.ok_or(Fail::Cms(322))?;
                let idx = self.index(slot);
                if let Some(s) = self.store_mut(wix).get_mut(slot) {
                    *s = Some(Stored {
                        stat: 2,
                        msg: Incoming {
                            smsc: vec![0],
                            tpdu,
                            kind: IncomingKind::Deliver {
                                from: submit.destination.to_string(),
                                text,
                                scts: String::new(),
                            },
                        },
                    });
                }
                Ok((vec![format!("+CMGW: {idx}")], None))
            }
            PromptKind::Send => self.transmit(submit, tpdu),
        }
    }

    fn transmit(
        &mut self,
        submit: Submit,
        mut tpdu: Vec<u8>,
    ) -> Result<(Vec<String>, Option<Out>), Fail> {
        if self.roll(self.faults.cms_error_rate) {
            // An unset code reads as 500, "unknown error".
            let code = match self.faults.cms_error_code {
                0 => 500,
                c => c,
            };
            return Err(Fail::Cms(code));
        }
        let mr = self.next_mr;
        self.next_mr = self.next_mr.wrapping_add(1);
        if let Some(m) = tpdu.get_mut(1) {
            *m = mr;
        }
        Ok((
            vec![format!("+CMGS: {mr}")],
            Some(Out::Transmit {
                submit: Box::new(submit),
                tpdu,
                mr,
            }),
        ))
    }

    fn text_done(&mut self, da: &str, raw: &[u8]) -> Vec<Out> {
        self.payloads += 1;
        let text = match self.cscs.as_str() {
            "UCS2" => ucs2_hex_to_string(&String::from_utf8_lossy(raw)),
            "HEX" => codec::from_hex(&String::from_utf8_lossy(raw))
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
            // One GSM 03.38 code per byte (`ä` is 0x7B).
            "GSM" => codec::charset::decode(raw, codec::charset::Cscs::Gsm).ok(),
            _ => Some(String::from_utf8_lossy(raw).into_owned()),
        };
        let [fo, vp, pid, dcs] = self.csmp;
        let result = match text {
            None => Err(Fail::Cms(305)),
            Some(_) if fo & 0x03 != 0x01 => Err(Fail::Cms(305)),
            Some(text) => {
                // UCS-2 (at most 70 units) or GSM-7 (at most 160 septets, `?`
                // for what it cannot carry), as `AT+CSMP` says.
                let (dcs, ud) = if dcs & 0x0C == 0x08 {
                    let mut ud = ucs2::encode(&text);
                    ud.truncate(140);
                    (dcs, ud)
                } else {
                    let mut buf = [0u8; 4];
                    let septets = text
                        .chars()
                        .flat_map(|c| {
                            gsm7::encode(c.encode_utf8(&mut buf), gsm7::Tables::DEFAULT)
                                .unwrap_or(vec![0x3F])
                        })
                        .take(160)
                        .collect();
                    (dcs & !0x0C, septets)
                };
                let validity = match (fo >> 3) & 0x03 {
                    0b10 => Validity::Relative(vp),
                    0b01 => Validity::Enhanced([0; 7]),
                    0b11 => Validity::Absolute(Scts::from_raw([0; 7])),
                    _ => Validity::None,
                };
                let submit = Submit {
                    reject_duplicates: fo & 0x04 != 0,
                    validity,
                    status_report_request: fo & 0x20 != 0,
                    reply_path: fo & 0x80 != 0,
                    mr: 0,
                    destination: address_of(da),
                    pid,
                    dcs: Dcs(dcs),
                    udh: None,
                    data: UserData::Binary(ud),
                };
                let tpdu = tpdu_of(&submit.encode(None));
                match codec::decode(&tpdu, Some(tpdu.len())) {
                    Ok(Decoded {
                        pdu: Pdu::Submit(s),
                        ..
                    }) => self.transmit(s, tpdu),
                    _ => Err(Fail::Cms(305)),
                }
            }
        };
        let latency = self.faults.cmgs_latency;
        let mut outs = Vec::new();
        if !latency.is_zero() {
            outs.push(Out::Delay(latency));
        }
        let mut out = Vec::new();
        self.maybe_noise(&mut out);
        match result {
            Ok((lines, t)) => {
                outs.extend(t);
                out.extend(block(&lines));
                out.extend(b"\r\nOK\r\n");
            }
            Err(f) => out.extend(format!("\r\n{}\r\n", self.fail_text(f)).as_bytes()),
        }
        outs.push(Out::Bytes(out));
        outs
    }

    /// A message from the network: stored (+CMTI/+CDSI) or routed (+CMT/+CDS)
    /// per `AT+CNMI`, or held in the network while storage is full.
    pub fn incoming(&mut self, m: Incoming) -> Vec<Out> {
        let (route, ds0) = match m.kind {
            IncomingKind::Deliver { .. } => (self.cnmi[1] == 2, false),
            IncomingKind::Report { .. } => (self.cnmi[3] == 1, self.cnmi[3] == 0),
        };
        if ds0 {
            return Vec::new();
        }
        if route {
            let line = self.routed(&m);
            if self.csms == 1 {
                self.awaiting_ack += 1;
            }
            return vec![Out::Bytes(format!("\r\n{line}\r\n").into_bytes())];
        }
        self.waiting.push_back(m);
        let lines = self.flush_waiting_lines();
        if lines.is_empty() {
            Vec::new()
        } else {
            vec![Out::Bytes(block(&lines))]
        }
    }

    fn routed(&self, m: &Incoming) -> String {
        let (len, hex) = Self::entry_pdu(m);
        match (&m.kind, self.cmgf) {
            (IncomingKind::Deliver { from, text, scts }, 1) => {
                let (tail, shown) = self.deliver_text(m, text, false);
                let from = self.in_cscs(from);
                format!("+CMT: \"{from}\",,\"{scts}\"{tail}\r\n{shown}")
            }
            (IncomingKind::Deliver { .. }, _) => format!("+CMT: ,{len}\r\n{hex}"),
            (
                IncomingKind::Report {
                    mr,
                    ra,
                    scts,
                    dt,
                    st,
                },
                1,
            ) => {
                let ra = self.in_cscs(ra);
                format!("+CDS: 6,{mr},\"{ra}\",145,\"{scts}\",\"{dt}\",{st}")
            }
            (IncomingKind::Report { .. }, _) => format!("+CDS: {len}\r\n{hex}"),
        }
    }

    fn flush_waiting(&mut self) -> Vec<Out> {
        let lines = self.flush_waiting_lines();
        if lines.is_empty() {
            Vec::new()
        } else {
            vec![Out::Bytes(block(&lines))]
        }
    }

    fn flush_waiting_lines(&mut self) -> Vec<String> {
        let mut urcs = Vec::new();
        while let Some(m) = self.waiting.front() {
            let (ix, urc) = match m.kind {
                IncomingKind::Deliver { .. } => (0, "+CMTI"),
                IncomingKind::Report { .. } if self.quirks.reports_in_sr => (1, "+CDSI"),
                IncomingKind::Report { .. } => (0, "+CDSI"),
            };
            if self.full(ix) {
                break;
            }
            let Some(slot) = self.store(ix).iter().position(Option::is_none) else {
                break;
            };
            let Some(m) = self.waiting.pop_front() else {
                break;
            };
            let idx = self.index(slot);
            let mem = if ix == 1 {
                "SR".to_string()
            } else if self.cpms[2] == "SR" {
                "SM".to_string()
            } else {
                self.cpms[2].clone()
            };
            let notify = match m.kind {
                IncomingKind::Deliver { .. } => self.cnmi[1] != 0,
                IncomingKind::Report { .. } => self.cnmi[3] == 2,
            };
            if notify {
                urcs.push(format!("{urc}: \"{mem}\",{idx}"));
            }
            if let Some(s) = self.store_mut(ix).get_mut(slot) {
                *s = Some(Stored { stat: 0, msg: m });
            }
        }
        urcs
    }
}

/// Which store a memory name means: `SR` is its own, the rest share the SIM's.
fn mem_ix(mem: &str) -> usize {
    usize::from(mem == "SR")
}

fn push_bytes(outs: &mut Vec<Out>, b: Vec<u8>) {
    if !b.is_empty() {
        outs.push(Out::Bytes(b));
    }
}

/// Joins adjacent byte writes so each answer leaves in one write.
fn merge(outs: Vec<Out>) -> Vec<Out> {
    let mut merged: Vec<Out> = Vec::with_capacity(outs.len());
    for o in outs {
        match (merged.last_mut(), o) {
            (Some(Out::Bytes(a)), Out::Bytes(b)) => a.extend(b),
            (_, o) => merged.push(o),
        }
    }
    merged
}

/// Information lines as one response block: `\r\n<l1>\r\n<l2>…\r\n`.
fn block(lines: &[String]) -> Vec<u8> {
    if lines.is_empty() {
        return Vec::new();
    }
    format!("\r\n{}\r\n", lines.join("\r\n")).into_bytes()
}

/// Splits `+CMEE=1;+CREG=2` at semicolons outside quotes.
fn split_commands(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in body.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() || out.is_empty() {
        out.push(cur);
    }
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() || body.trim().is_empty())
        .collect()
}

/// `+CMGS=23` → (`+CMGS`, `=23`).
fn split_name(up: &str) -> (&str, &str) {
    let end = up
        .char_indices()
        .skip(1)
        .find(|(_, c)| matches!(c, '=' | '?'))
        .map_or(up.len(), |(i, _)| i);
    (up.get(..end).unwrap_or(up), up.get(end..).unwrap_or(""))
}

fn ucs2_hex_to_string(s: &str) -> Option<String> {
    codec::from_hex(s).ok().map(|b| ucs2::decode_lossy(&b))
}

/// The verbose (`AT+CMEE=2`) text of an error code, from the tables the
/// daemon reads them with (`at::errors`).
fn error_text(
    table: &[(u16, &'static str, ErrorClass)],
    code: u16,
    unknown: &'static str,
) -> &'static str {
    table
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or(unknown, |(_, text, _)| text)
}

fn cme_text(c: u16) -> &'static str {
    error_text(CME_TABLE, c, "unknown")
}

fn cms_text(c: u16) -> &'static str {
    error_text(CMS_TABLE, c, "unknown error")
}
