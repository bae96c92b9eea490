//! The modem actor: start-up, send, receive (URCs, sweeps, routed acks),
//! USSD, health, the recovery ladder, unplug and replug. One per device.
//!
//! PDU or text mode (`AT+CMGF`) is chosen at start-up. In text mode the actor
//! still takes SUBMIT PDUs and still emits PDUs: `at::text` turns a SUBMIT
//! into `AT+CSMP`/`AT+CSCS`/`AT+CMGS="<da>"` and text listings and URCs into
//! DELIVER and STATUS-REPORT PDUs, so nothing above the actor knows the mode.

use super::conn::{Conn, ExecError};
use super::port::{self, PathWatch};
use super::quirks::{self, Quirk};
use super::{DriverOptions, ErrorClass};
use super::{
    ModemError, ModemEvent, ModemState, ModemStatus, Request, SendError, SendRequest,
    StorageLocation,
};
use crate::at::command::{
    parse_cmgs, parse_cops, parse_cpin, parse_cpms, parse_creg, parse_csca, parse_csms_needs_ack,
    parse_csq, parse_stored,
};
use crate::at::text::{self as text_sms, TextEntry, TextSubmit};
use crate::at::{self, classify_cme, classify_cms, ussd, Command, CpinState, Final, Response, Urc};
use crate::codec::charset::Cscs;
use crate::config::ModemMode;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, info_span, warn, Instrument};

/// A sweep does not emit again what it emitted this recently.
const REEMIT_AFTER: Duration = Duration::from_secs(300);
/// A routed message not confirmed within this time is not acknowledged.
const ACK_WINDOW: Duration = Duration::from_secs(30);
/// Tries of `AT` when waking a modem.
const WAKE_TRIES: u32 = 3;
/// How long one wake-up `AT` may take.
const WAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// How a session on an open port ended.
enum End {
    Cancelled,
    Failed(String),
    Gone(String),
    /// The modem stopped answering: reopen (the ladder's next step).
    Hung,
    /// The modem rebooted on its own: initialise again at once.
    Reinit,
}

fn end_of(e: ExecError) -> End {
    match e {
        ExecError::Timeout { .. } => End::Hung,
        ExecError::Gone { reason, .. } => End::Gone(reason),
        ExecError::Io(m) => End::Gone(m),
    }
}

struct Actor {
    opts: DriverOptions,
    events: mpsc::Sender<ModemEvent>,
    status_tx: watch::Sender<ModemStatus>,
    status: ModemStatus,
    quirk: &'static Quirk,
    needs_ack: bool,
    /// (mem, index) → when it was emitted.
    emitted: HashMap<(String, u32), Instant>,
    /// Confirmations that came while the modem was away.
    pending_deletes: Vec<StorageLocation>,
    /// Routed messages waiting for `+CNMA`: (sequence, deadline).
    pending_acks: VecDeque<(u32, Instant)>,
    routed_seq: u32,
    /// The `<mem1>` currently selected.
    mem1: String,
    /// Consecutive hangs, for backoff and the radio-reset step.
    hangs: u32,
    /// A sweep is owed (storage was full).
    sweep_due: bool,
    /// Every handle was dropped: stop.
    closed: bool,
    /// Text mode: the `AT+CSCS` character set listings are read in (UCS2
    /// where the modem has it: every text then comes as UTF-16 hex).
    read_cscs: Cscs,
    /// The character set last selected (`None`: not known).
    cscs: Option<Cscs>,
}

pub(crate) async fn run(
    opts: DriverOptions,
    events: mpsc::Sender<ModemEvent>,
    cancel: CancellationToken,
    mut rx: mpsc::UnboundedReceiver<Request>,
    status_tx: watch::Sender<ModemStatus>,
) {
    let span = info_span!("modem", name = %opts.name);
    let status = status_tx.borrow().clone();
    let quirk = opts.quirks.unwrap_or_default().quirk();
    let mem1 = opts.storage.clone();
    let mut actor = Actor {
        opts,
        events,
        status_tx,
        status,
        quirk,
        needs_ack: false,
        emitted: HashMap::new(),
        pending_deletes: Vec::new(),
        pending_acks: VecDeque::new(),
        routed_seq: 0,
        mem1,
        hangs: 0,
        sweep_due: false,
        closed: false,
        read_cscs: Cscs::Gsm,
        cscs: None,
    };
    actor.main(&cancel, &mut rx).instrument(span).await;
}

impl Actor {
    async fn set_state(&mut self, s: ModemState) {
        if self.status.state != s {
            info!(state = ?s, "state");
            if self.status.state == ModemState::Ready {
                self.status.last_ready_at = Some(now_rfc3339());
            }
            self.status.state = s;
            self.publish().await;
        }
    }

    async fn publish(&mut self) {
        if self.status.state == ModemState::Ready {
            self.status.last_ready_at = Some(now_rfc3339());
        }
        self.status_tx.send_replace(self.status.clone());
        // Status is also in the watch channel: never block on it.
        if self
            .events
            .try_send(ModemEvent::Status(self.status.clone()))
            .is_err()
        {
            debug!("status event dropped (channel full or closed)");
        }
    }

    fn note_error(&mut self, msg: String) {
        self.status.errors += 1;
        self.status.last_error = Some(msg);
    }

    async fn main(
        &mut self,
        cancel: &CancellationToken,
        rx: &mut mpsc::UnboundedReceiver<Request>,
    ) {
        loop {
            if cancel.is_cancelled() || self.closed {
                break;
            }
            let opened = port::open(&self.opts.device, self.opts.baud);
            let end = match opened {
                Ok(p) => {
                    let mut conn = Conn::new(p, quirks::all_noise());
                    self.session(&mut conn, cancel, rx).await
                }
                Err(e) => End::Gone(format!("open {}: {e}", self.opts.device.display())),
            };
            match end {
                End::Cancelled => break,
                End::Failed(msg) => {
                    warn!(reason = %msg, "modem failed; not retried");
                    self.note_error(msg.clone());
                    self.set_state(ModemState::Failed(msg)).await;
                    self.idle_until(cancel, rx, None).await;
                    break;
                }
                End::Gone(why) => {
                    warn!(reason = %why, "device gone");
                    self.set_state(ModemState::Gone).await;
                    let mut watch = PathWatch::new(&self.opts.device);
                    loop {
                        if port::present(&self.opts.device) && !self.just_vanished(&why) {
                            break;
                        }
                        let retry = Instant::now() + self.opts.reopen_backoff_max;
                        tokio::select! {
                            _ = watch.changed() => {}
                            _ = self.idle_until(cancel, rx, Some(retry)) => {}
                        }
                        if cancel.is_cancelled() || self.closed {
                            break;
                        }
                        if port::present(&self.opts.device) {
                            break;
                        }
                    }
                }
                End::Hung => {
                    self.hangs += 1;
                    self.set_state(ModemState::Recovering).await;
                    let backoff = Duration::from_millis(250u64 << self.hangs.min(8))
                        .min(self.opts.reopen_backoff_max);
                    info!(?backoff, hangs = self.hangs, "reopening the port");
                    self.idle_until(cancel, rx, Some(Instant::now() + backoff))
                        .await;
                }
                End::Reinit => {
                    info!("modem rebooted; initialising again");
                }
            }
        }
        self.set_state(ModemState::Stopped).await;
    }

    /// A path that still exists right after an open failure is retried only
    /// after the slow timer (avoids spinning on a device that will not open).
    fn just_vanished(&self, why: &str) -> bool {
        why.starts_with("open ")
    }

    /// Answer requests while there is no usable port, until `until` or cancel.
    async fn idle_until(
        &mut self,
        cancel: &CancellationToken,
        rx: &mut mpsc::UnboundedReceiver<Request>,
        until: Option<Instant>,
    ) {
        loop {
            let wait = async {
                match until {
                    Some(t) => sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = wait => return,
                req = rx.recv() => match req {
                    None => {
                        // Every handle is gone: nobody can use this modem.
                        self.closed = true;
                        return;
                    }
                    Some(r) => self.refuse(r),
                },
            }
        }
    }

    fn refuse(&mut self, r: Request) {
        let state = self.status.state.clone();
        match r {
            Request::Send { reply, .. } => {
                let _ = reply.send(Err(SendError {
                    class: ErrorClass::NotReady,
                    code: None,
                    message: format!("modem not ready ({state:?})"),
                }));
            }
            Request::Ussd { reply, .. } => {
                let _ = reply.send(Err(ModemError::NotReady(state)));
            }
            Request::Confirm { loc } => {
                if !loc.routed {
                    self.pending_deletes.push(loc);
                }
            }
        }
    }

    fn cmd(&self, name: &'static str, line: impl Into<String>) -> Command {
        Command::new(name, line, self.opts.command_timeout)
    }

    /// Run a command whose failure is only logged; a missing answer ends the session.
    async fn soft(&mut self, conn: &mut Conn, c: Command) -> Result<Option<Response>, End> {
        match conn.exec(&c).await {
            Ok(r) if r.result.is_ok() => Ok(Some(r)),
            Ok(r) => {
                warn!(command = %c.line, result = %r.result, "command refused");
                Ok(None)
            }
            Err(e) => Err(end_of(e)),
        }
    }

    async fn session(
        &mut self,
        conn: &mut Conn,
        cancel: &CancellationToken,
        rx: &mut mpsc::UnboundedReceiver<Request>,
    ) -> End {
        self.set_state(if self.hangs > 0 {
            ModemState::Recovering
        } else {
            ModemState::Starting
        })
        .await;
        if self.hangs >= 2 && self.opts.radio_reset {
            warn!("recovery: radio reset (AT+CFUN=1,1)");
            let c = self.cmd("+CFUN", "AT+CFUN=1,1");
            if let Err(e) = conn.exec(&c).await {
                return end_of(e);
            }
        }
        if let Err(end) = self.startup(conn).await {
            return end;
        }
        self.hangs = 0;
        self.set_state(ModemState::Ready).await;
        if let Err(end) = self.after_ready(conn).await {
            return end;
        }
        let mut health = Instant::now() + self.opts.health_interval;
        let mut sweep = Instant::now() + self.opts.sweep_interval;
        loop {
            let ack_deadline = self.pending_acks.front().map(|(_, d)| *d);
            let r = tokio::select! {
                _ = cancel.cancelled() => return End::Cancelled,
                req = rx.recv() => match req {
                    None => return End::Cancelled,
                    Some(req) => self.handle(conn, req).await,
                },
                r = conn.read_some() => match r {
                    Ok(()) => { conn.drain_idle(); Ok(()) }
                    Err(e) => Err(e),
                },
                _ = sleep_until(health) => {
                    health = Instant::now() + self.opts.health_interval;
                    self.health(conn).await
                }
                _ = sleep_until(sweep) => {
                    sweep = Instant::now() + self.opts.sweep_interval;
                    self.sweep(conn).await
                }
                _ = async { match ack_deadline { Some(d) => sleep_until(d).await, None => std::future::pending().await } } => {
                    let now = Instant::now();
                    while self.pending_acks.front().is_some_and(|(_, d)| *d <= now) {
                        if let Some((seq, _)) = self.pending_acks.pop_front() {
                            warn!(seq, "routed message not confirmed in time; no +CNMA sent");
                        }
                    }
                    Ok(())
                }
            };
            let r = match r {
                Ok(()) => self.process_urcs(conn).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => {}
                Err(e @ ExecError::Timeout { .. }) => {
                    debug!(error = ?e, "no answer; recovery step 1: escape + AT");
                    self.set_state(ModemState::Recovering).await;
                    match self.wake(conn).await {
                        Ok(()) => {
                            info!("modem answers again");
                            self.set_state(ModemState::Ready).await;
                            if let Err(e) = self.flush_deletes(conn).await {
                                return end_of(e);
                            }
                        }
                        Err(end) => return end,
                    }
                }
                Err(e) => return end_of(e),
            }
            if let Some(end) = self.reboot_seen(conn) {
                return end;
            }
        }
    }

    /// A reboot marker among the queued URCs: our settings are gone.
    fn reboot_seen(&mut self, conn: &mut Conn) -> Option<End> {
        let markers = self.quirk.reboot_markers;
        let hit = conn
            .urcs
            .iter()
            .any(|u| matches!(u, Urc::Noise(n) if markers.iter().any(|m| n.starts_with(m))));
        hit.then(|| {
            conn.urcs.clear();
            End::Reinit
        })
    }

    /// ESC (abandons a pending prompt) then `AT`, a few times. A plain `AT`
    /// answers at once on any modem, so each try waits at most
    /// [`WAKE_TIMEOUT`]; a path that meanwhile names another device means the
    /// modem was replaced under us: gone, reopen it.
    async fn wake(&mut self, conn: &mut Conn) -> Result<(), End> {
        for attempt in 1..=WAKE_TRIES {
            conn.write(&[0x1b]).await.map_err(end_of)?;
            let c = Command::new("AT", "AT", self.opts.command_timeout.min(WAKE_TIMEOUT));
            match conn.exec(&c).await {
                Ok(r) if r.result.is_ok() => return Ok(()),
                Ok(r) => debug!(attempt, result = %r.result, "wake answered"),
                Err(ExecError::Timeout { .. }) => {
                    debug!(attempt, "wake: no answer");
                    if !conn.same_device(&self.opts.device) {
                        return Err(End::Gone("the device path now names another device".into()));
                    }
                }
                Err(e) => return Err(end_of(e)),
            }
        }
        Err(End::Hung)
    }

    async fn startup(&mut self, conn: &mut Conn) -> Result<(), End> {
        self.wake(conn).await?;
        self.soft(conn, self.cmd("E0", "ATE0")).await?;
        self.soft(conn, self.cmd("+CMEE", "AT+CMEE=1")).await?;
        self.pin(conn).await?;
        self.identity(conn).await?;
        for line in self.quirk.init {
            self.soft(conn, self.cmd("init", *line)).await?;
        }
        self.message_mode(conn).await?;
        if let Some(r) = self
            .soft(conn, Command::csms_query(self.opts.command_timeout))
            .await?
        {
            self.needs_ack = parse_csms_needs_ack(&r);
        }
        let s = self.opts.storage.clone();
        if let Some(r) = self
            .soft(
                conn,
                Command::cpms_set(&[&s, &s, &s], self.opts.command_timeout),
            )
            .await?
        {
            self.status.storage_used = parse_cpms(&r).ok();
        }
        self.mem1 = s;
        let cnmi = format!("AT+CNMI={}", self.opts.cnmi);
        self.soft(conn, self.cmd("+CNMI", cnmi)).await?;
        self.soft(conn, self.cmd("+CREG", "AT+CREG=2")).await?;
        for line in self.opts.init.clone() {
            self.soft(conn, self.cmd("init", line)).await?;
        }
        self.health_queries(conn).await.map_err(end_of)?;
        Ok(())
    }

    /// `AT+CMGF`: PDU mode, or text mode when configured or when the modem
    /// refuses PDU mode under `auto`; in text mode, full headers
    /// (`AT+CSDH=1`) and the character set listings are read in.
    async fn message_mode(&mut self, conn: &mut Conn) -> Result<(), End> {
        let pdu = match self.opts.mode {
            ModemMode::Text => false,
            ModemMode::Pdu => {
                self.soft(conn, self.cmd("+CMGF", "AT+CMGF=0")).await?;
                true
            }
            ModemMode::Auto => self
                .soft(conn, self.cmd("+CMGF", "AT+CMGF=0"))
                .await?
                .is_some(),
        };
        let text = !pdu
            && self
                .soft(conn, self.cmd("+CMGF", "AT+CMGF=1"))
                .await?
                .is_some();
        if !pdu && !text {
            warn!("the modem refuses both PDU and text mode; trying PDU mode");
        }
        if text {
            info!("text mode: single-part messages without a user data header only");
            self.soft(conn, self.cmd("+CSDH", "AT+CSDH=1")).await?;
            self.cscs = None;
            self.read_cscs = Cscs::Ucs2;
            if !self.select_cscs(conn, Cscs::Ucs2).await.map_err(end_of)? {
                self.read_cscs = Cscs::Gsm;
                self.select_cscs(conn, Cscs::Gsm).await.map_err(end_of)?;
            }
        }
        if self.status.text_mode != text {
            self.status.text_mode = text;
            self.publish().await;
        }
        Ok(())
    }

    /// `AT+CSCS`, unless already selected. `false`: refused.
    async fn select_cscs(&mut self, conn: &mut Conn, cs: Cscs) -> Result<bool, ExecError> {
        if self.cscs == Some(cs) {
            return Ok(true);
        }
        let r = conn
            .exec(&self.cmd("+CSCS", text_sms::cscs_line(cs)))
            .await?;
        if r.result.is_ok() {
            self.cscs = Some(cs);
            Ok(true)
        } else {
            warn!(charset = %cs, result = %r.result, "character set refused");
            self.cscs = None;
            Ok(false)
        }
    }

    /// The character set the modem prints in now (text mode).
    fn current_cscs(&self) -> Cscs {
        self.cscs.unwrap_or(Cscs::Gsm)
    }

    async fn pin(&mut self, conn: &mut Conn) -> Result<(), End> {
        let t = self.opts.command_timeout;
        let r = conn.exec(&Command::cpin_query(t)).await.map_err(end_of)?;
        // Only a definite SIM state ends the modem for good (PUK, a wrong or
        // missing PIN, a SIM error the modem names); a garbled or plain ERROR
        // answer (line noise, a modem still booting) goes through the
        // recovery ladder and is asked again.
        let state = match &r.result {
            Final::Ok => match parse_cpin(&r) {
                Ok(state) => state,
                Err(e) => {
                    warn!("AT+CPIN? answer not understood ({e}); asking again");
                    return Err(End::Hung);
                }
            },
            // SIM busy right after boot passes: try again after the backoff.
            Final::Cme(e) if e.code == Some(14) => return Err(End::Hung),
            Final::Cme(e) => return Err(End::Failed(format!("SIM: {}", e.meaning()))),
            other => {
                warn!("AT+CPIN?: {other}; asking again");
                return Err(End::Hung);
            }
        };
        match state {
            CpinState::Ready => Ok(()),
            CpinState::SimPuk => Err(End::Failed(
                "SIM PUK required: unlock the SIM in a phone".into(),
            )),
            CpinState::Other(s) if s.contains("NOT READY") => Err(End::Hung),
            CpinState::Other(s) => Err(End::Failed(format!("SIM needs {s}"))),
            CpinState::SimPin => {
                let Some(pin) = self.opts.pin.clone() else {
                    return Err(End::Failed("SIM PIN required and no pin configured".into()));
                };
                // Tried exactly once: a SIM locks after three wrong PINs.
                let c = Command::new("+CPIN", format!("AT+CPIN=\"{pin}\""), t);
                let r = conn.exec(&c).await.map_err(end_of)?;
                if !r.result.is_ok() {
                    return Err(End::Failed(format!(
                        "wrong PIN ({}); not retried",
                        r.result
                    )));
                }
                info!("PIN accepted");
                Ok(())
            }
        }
    }

    async fn identity(&mut self, conn: &mut Conn) -> Result<(), End> {
        let plain = |r: Option<Response>| r.and_then(|r| r.plain()).filter(|s| !s.is_empty());
        self.status.manufacturer = plain(self.soft(conn, self.cmd("+CGMI", "AT+CGMI")).await?);
        self.quirk = match self.opts.quirks {
            Some(family) => family.quirk(),
            None => quirks::detect(self.status.manufacturer.as_deref().unwrap_or_default()),
        };
        debug!(family = %self.quirk.family, "quirks");
        self.status.model = plain(self.soft(conn, self.cmd("+CGMM", "AT+CGMM")).await?);
        self.status.revision = plain(self.soft(conn, self.cmd("+CGMR", "AT+CGMR")).await?);
        self.status.imei = plain(self.soft(conn, self.cmd("+CGSN", "AT+CGSN")).await?);
        self.status.imsi = plain(self.soft(conn, self.cmd("+CIMI", "AT+CIMI")).await?);
        let iccid_cmd = self.quirk.iccid;
        let prefix = answer_prefix(iccid_cmd);
        let c = self.cmd("ICCID", iccid_cmd).expect(&prefix);
        self.status.iccid =
            plain(self.soft(conn, c).await?).map(|s| s.trim_end_matches(['F', 'f']).to_string());
        if let Some(smsc) = self.opts.smsc.clone() {
            self.soft(conn, self.cmd("+CSCA", format!("AT+CSCA=\"{smsc}\"")))
                .await?;
        }
        let r = self
            .soft(conn, Command::csca_query(self.opts.command_timeout))
            .await?;
        self.status.smsc = r.as_ref().and_then(parse_csca);
        info!(
            manufacturer = ?self.status.manufacturer, model = ?self.status.model, imei = ?self.status.imei,
            imsi = ?self.status.imsi, iccid = ?self.status.iccid, "identified"
        );
        Ok(())
    }

    async fn after_ready(&mut self, conn: &mut Conn) -> Result<(), End> {
        // Boot chatter seen during start-up belongs to the boot we handled.
        let markers = self.quirk.reboot_markers;
        conn.urcs
            .retain(|u| !matches!(u, Urc::Noise(n) if markers.iter().any(|m| n.starts_with(m))));
        self.flush_deletes(conn).await.map_err(end_of)?;
        let r = match self.sweep(conn).await {
            Ok(()) => self.process_urcs(conn).await,
            Err(e) => Err(e),
        };
        r.map_err(end_of)
    }

    /// Deletions confirmed while the modem was away or hung.
    async fn flush_deletes(&mut self, conn: &mut Conn) -> Result<(), ExecError> {
        for loc in std::mem::take(&mut self.pending_deletes) {
            self.delete(conn, &loc).await?;
        }
        Ok(())
    }

    async fn health_queries(&mut self, conn: &mut Conn) -> Result<(), ExecError> {
        let t = self.opts.command_timeout;
        let r = conn.exec(&Command::csq(t)).await?;
        if let Ok(v) = parse_csq(&r) {
            self.status.signal = Some(v);
        }
        let r = conn.exec(&Command::creg_query(t)).await?;
        if let Ok(reg) = parse_creg(&r) {
            self.status.registration = Some(reg);
        }
        let r = conn.exec(&Command::cops_query(t)).await?;
        if let Some(op) = parse_cops(&r) {
            self.status.operator = Some(op);
        }
        Ok(())
    }

    async fn health(&mut self, conn: &mut Conn) -> Result<(), ExecError> {
        self.health_queries(conn).await?;
        let r = conn
            .exec(&Command::cpms_query(self.opts.command_timeout))
            .await?;
        if let Ok(used) = parse_cpms(&r) {
            self.status.storage_used = Some(used);
        }
        self.publish().await;
        if self
            .status
            .storage_used
            .is_some_and(|(u, t)| t > 0 && u >= t)
        {
            warn!(storage = ?self.status.storage_used, "SMS storage full; sweeping");
            self.sweep(conn).await?;
        }
        Ok(())
    }

    async fn select_mem(&mut self, conn: &mut Conn, mem: &str) -> Result<bool, ExecError> {
        if self.mem1 == mem {
            return Ok(true);
        }
        let r = conn
            .exec(&Command::cpms_set(&[mem], self.opts.command_timeout))
            .await?;
        if r.result.is_ok() {
            self.mem1 = mem.to_string();
            Ok(true)
        } else {
            warn!(mem, result = %r.result, "cannot select storage");
            Ok(false)
        }
    }

    /// Read everything stored (SMS storage, then report storage) and emit
    /// what was not emitted recently.
    async fn sweep(&mut self, conn: &mut Conn) -> Result<(), ExecError> {
        let mut mems = vec![self.opts.storage.clone()];
        mems.extend(self.opts.report_storage.clone());
        for mem in mems {
            if !self.select_mem(conn, &mem).await? {
                continue;
            }
            let report = Some(&mem) == self.opts.report_storage.as_ref();
            if self.quirk.cmgl_hangs {
                self.sweep_by_index(conn, &mem, report).await?;
                continue;
            }
            let t = self.opts.command_timeout * 3;
            if self.status.text_mode {
                self.select_cscs(conn, self.read_cscs).await?;
                let mut r = conn.exec(&Command::cmgl_all_text(t)).await?;
                if !r.result.is_ok() && self.read_cscs == Cscs::Ucs2 {
                    // Some firmware wants `"ALL"` itself in UCS2 hex then:
                    // list in GSM from now on (UCS-2 texts still come as hex).
                    warn!(mem, result = %r.result, "listing refused in UCS2; reading in GSM");
                    self.read_cscs = Cscs::Gsm;
                    self.select_cscs(conn, Cscs::Gsm).await?;
                    r = conn.exec(&Command::cmgl_all_text(t)).await?;
                }
                if !r.result.is_ok() {
                    warn!(mem, result = %r.result, "listing refused");
                    continue;
                }
                self.text_sweep(conn, &mem, &r, report).await?;
                continue;
            }
            let c = Command::new("+CMGL", "AT+CMGL=4", t).with_data("+CMGL:");
            let r = conn.exec(&c).await?;
            if !r.result.is_ok() {
                warn!(mem, result = %r.result, "listing refused");
                continue;
            }
            let (found, bad) = parse_stored(&r, "+CMGL:");
            for e in bad {
                warn!(error = %e, "listing entry skipped");
            }
            for p in found {
                if let Some(index) = p.index {
                    self.emit_stored(&mem, index, &p.hex, p.tpdu_len, report, false)
                        .await;
                }
            }
        }
        Ok(())
    }

    /// `AT+CMGR` over every index (for modems whose `+CMGL` hangs).
    async fn sweep_by_index(
        &mut self,
        conn: &mut Conn,
        mem: &str,
        report: bool,
    ) -> Result<(), ExecError> {
        let r = conn
            .exec(&Command::cpms_query(self.opts.command_timeout))
            .await?;
        let Ok((used, total)) = parse_cpms(&r) else {
            return Ok(());
        };
        let first = u32::from(!self.quirk.index_from_zero);
        let mut seen = 0;
        let mut index = first;
        if self.status.text_mode {
            self.select_cscs(conn, self.read_cscs).await?;
        }
        while seen < used && index < first + total {
            let r = conn
                .exec(&Command::cmgr(index, self.opts.command_timeout))
                .await?;
            if r.result.is_ok() && self.status.text_mode {
                if r.lines.iter().any(|l| l.starts_with("+CMGR:")) {
                    seen += 1;
                    self.emit_text_listing(mem, Some(index), &r, "+CMGR:", report, false)
                        .await;
                }
            } else if r.result.is_ok() {
                let (found, _) = parse_stored(&r, "+CMGR:");
                if let Some(p) = found.into_iter().next() {
                    seen += 1;
                    self.emit_stored(mem, index, &p.hex, p.tpdu_len, report, false)
                        .await;
                }
            }
            index += 1;
        }
        Ok(())
    }

    async fn read_one(
        &mut self,
        conn: &mut Conn,
        mem: &str,
        index: u32,
        report: bool,
    ) -> Result<(), ExecError> {
        if !self.select_mem(conn, mem).await? {
            return Ok(());
        }
        if self.status.text_mode {
            self.select_cscs(conn, self.read_cscs).await?;
        }
        let r = conn
            .exec(&Command::cmgr(index, self.opts.command_timeout))
            .await?;
        if !r.result.is_ok() {
            warn!(mem, index, result = %r.result, "cannot read stored message");
            return Ok(());
        }
        if self.status.text_mode {
            self.emit_text_listing(mem, Some(index), &r, "+CMGR:", report, true)
                .await;
            return Ok(());
        }
        let (found, bad) = parse_stored(&r, "+CMGR:");
        for e in bad {
            warn!(error = %e, "stored message skipped");
        }
        if let Some(p) = found.into_iter().next() {
            self.emit_stored(mem, index, &p.hex, p.tpdu_len, report, true)
                .await;
        }
        Ok(())
    }

    async fn emit_stored(
        &mut self,
        mem: &str,
        index: u32,
        hex: &str,
        tpdu_len: Option<usize>,
        report: bool,
        fresh: bool,
    ) {
        match at::decode_hex(hex) {
            Ok(pdu) => {
                self.emit_stored_pdu(mem, index, pdu, tpdu_len, report, fresh)
                    .await
            }
            Err(e) => {
                warn!(mem, index, error = %e, pdu = %at::truncate_for_log(hex), "stored PDU is not hex; left on the modem");
            }
        }
    }

    /// Text mode: a `+CMGL` listing lacks a message's `<fo>` and `<dcs>`
    /// (27.005 gives them only in `+CMGR`), so each message not emitted
    /// recently is read again with `AT+CMGR`; status reports are complete
    /// in the listing.
    async fn text_sweep(
        &mut self,
        conn: &mut Conn,
        mem: &str,
        r: &Response,
        report: bool,
    ) -> Result<(), ExecError> {
        let (found, bad) = text_sms::parse_text_listing(r, "+CMGL:");
        for e in bad {
            warn!(error = %e, "text-mode entry skipped; left on the modem");
        }
        let now = Instant::now();
        for entry in found {
            let Some(index) = entry.index else {
                continue;
            };
            match entry.entry {
                TextEntry::Outgoing => {}
                TextEntry::Report(_) => {
                    self.emit_text_entry(mem, index, &entry.entry, report, false)
                        .await
                }
                TextEntry::Deliver(_) => {
                    let recent = self
                        .emitted
                        .get(&(mem.to_string(), index))
                        .is_some_and(|t| now.duration_since(*t) < REEMIT_AFTER);
                    if recent {
                        continue;
                    }
                    let r = conn
                        .exec(&Command::cmgr(index, self.opts.command_timeout))
                        .await?;
                    if r.result.is_ok() {
                        self.emit_text_listing(mem, Some(index), &r, "+CMGR:", report, false)
                            .await;
                    } else {
                        warn!(mem, index, result = %r.result, "cannot read stored message");
                    }
                }
            }
        }
        Ok(())
    }

    /// Text mode: each entry of a `+CMGL`/`+CMGR` answer becomes the PDU it
    /// shows (`index` for `+CMGR`, whose lines carry none).
    async fn emit_text_listing(
        &mut self,
        mem: &str,
        index: Option<u32>,
        r: &Response,
        prefix: &str,
        report: bool,
        fresh: bool,
    ) {
        let (found, bad) = text_sms::parse_text_listing(r, prefix);
        for e in bad {
            warn!(error = %e, "text-mode entry skipped; left on the modem");
        }
        for entry in found {
            let Some(i) = entry.index.or(index) else {
                continue;
            };
            self.emit_text_entry(mem, i, &entry.entry, report, fresh)
                .await;
        }
    }

    async fn emit_text_entry(
        &mut self,
        mem: &str,
        index: u32,
        entry: &TextEntry,
        report: bool,
        fresh: bool,
    ) {
        let cs = self.current_cscs();
        let (built, is_report) = match entry {
            TextEntry::Deliver(d) => (d.to_pdu(cs), false),
            TextEntry::Report(rep) => (rep.to_pdu(cs), true),
            TextEntry::Outgoing => return,
        };
        match built {
            Ok(p) => {
                self.emit_stored_pdu(
                    mem,
                    index,
                    p.bytes,
                    Some(p.tpdu_len),
                    report || is_report,
                    fresh,
                )
                .await
            }
            Err(e) => {
                warn!(mem, index, error = %e, "text-mode entry not understood; left on the modem")
            }
        }
    }

    async fn emit_stored_pdu(
        &mut self,
        mem: &str,
        index: u32,
        pdu: Vec<u8>,
        tpdu_len: Option<usize>,
        report: bool,
        fresh: bool,
    ) {
        let key = (mem.to_string(), index);
        let now = Instant::now();
        if !fresh
            && self
                .emitted
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < REEMIT_AFTER)
        {
            return;
        }
        self.emitted.insert(key, now);
        let report = report || is_status_report(&pdu, tpdu_len);
        let loc = StorageLocation {
            mem: mem.to_string(),
            index,
            routed: false,
        };
        self.emit_pdu(Some(loc), pdu, tpdu_len, report).await;
    }

    async fn emit_pdu(
        &mut self,
        location: Option<StorageLocation>,
        pdu: Vec<u8>,
        tpdu_len: Option<usize>,
        report: bool,
    ) {
        self.status.received += 1;
        let ev = ModemEvent::Pdu {
            modem: self.opts.name.clone(),
            location,
            pdu,
            tpdu_len,
            report,
        };
        if self.events.send(ev).await.is_err() {
            debug!("event receiver gone");
        }
    }

    async fn routed(&mut self, data: &str, length: Option<usize>, report: bool) {
        match at::decode_hex(data) {
            Ok(pdu) => self.routed_pdu(pdu, length, report).await,
            Err(e) => {
                warn!(error = %e, "routed PDU is not hex; dropped (the network resends unacknowledged ones)");
            }
        }
    }

    /// A text-mode `+CMT` or `+CDS`, as the PDU it shows.
    async fn routed_text(&mut self, built: Result<text_sms::BuiltPdu, at::AtError>, report: bool) {
        match built {
            Ok(p) => self.routed_pdu(p.bytes, Some(p.tpdu_len), report).await,
            Err(e) => {
                warn!(error = %e, "routed text-mode message not understood; dropped (the network resends unacknowledged ones)");
            }
        }
    }

    async fn routed_pdu(&mut self, pdu: Vec<u8>, length: Option<usize>, report: bool) {
        self.routed_seq = self.routed_seq.wrapping_add(1);
        let seq = self.routed_seq;
        if self.needs_ack {
            self.pending_acks
                .push_back((seq, Instant::now() + ACK_WINDOW));
        }
        let loc = StorageLocation {
            mem: "routed".into(),
            index: seq,
            routed: true,
        };
        let report = report || is_status_report(&pdu, length);
        self.emit_pdu(Some(loc), pdu, length, report).await;
    }

    async fn process_urcs(&mut self, conn: &mut Conn) -> Result<(), ExecError> {
        // Complete lines left in the parser after the last answer.
        conn.drain_idle();
        let markers = self.quirk.reboot_markers;
        loop {
            // A reboot marker stays queued: the session re-initialises.
            if let Some(Urc::Noise(n)) = conn.urcs.front() {
                if markers.iter().any(|m| n.starts_with(m)) {
                    return Ok(());
                }
            }
            let Some(u) = conn.urcs.pop_front() else {
                return Ok(());
            };
            match u {
                Urc::Cmti { mem, index } => self.read_one(conn, &mem, index, false).await?,
                Urc::Cdsi { mem, index } => self.read_one(conn, &mem, index, true).await?,
                Urc::Cmt { length, data } => self.routed(&data, length, false).await,
                Urc::Cds { length, data } => self.routed(&data, length, true).await,
                Urc::CmtText { head, data } => {
                    let cs = self.current_cscs();
                    let built = text_sms::parse_cmt_text(&head, &data).and_then(|d| d.to_pdu(cs));
                    self.routed_text(built, false).await
                }
                Urc::CdsText(rest) => {
                    let cs = self.current_cscs();
                    let built = text_sms::parse_cds_text(&rest).and_then(|r| r.to_pdu(cs));
                    self.routed_text(built, true).await
                }
                Urc::Reg { reg, .. } => {
                    self.status.registration = Some(reg);
                    self.publish().await;
                }
                Urc::Rssi(v) => {
                    self.status.signal = Some(v);
                    self.publish().await;
                }
                Urc::Cusd { m, text, .. } => debug!(m, ?text, "USSD answer with no request"),
                Urc::Ring(l) => info!(line = %l, "incoming call ignored"),
                Urc::Noise(l) => debug!(line = %l, "noise"),
                Urc::Unknown(l) => debug!(line = %l, "unexpected line"),
            }
        }
    }

    async fn delete(&mut self, conn: &mut Conn, loc: &StorageLocation) -> Result<(), ExecError> {
        if loc.routed {
            let pos = self.pending_acks.iter().position(|(s, _)| *s == loc.index);
            if let Some(pos) = pos {
                self.pending_acks.remove(pos);
                let r = conn.exec(&self.cmd("+CNMA", "AT+CNMA")).await?;
                if !r.result.is_ok() {
                    warn!(result = %r.result, "+CNMA refused");
                }
            }
            return Ok(());
        }
        if !self.select_mem(conn, &loc.mem).await? {
            return Ok(());
        }
        let r = match conn
            .exec(&Command::cmgd(loc.index, self.opts.command_timeout))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                // Not lost: retried once the modem answers again.
                self.pending_deletes.push(loc.clone());
                return Err(e);
            }
        };
        if r.result.is_ok() {
            self.emitted.remove(&(loc.mem.clone(), loc.index));
            if let Some((u, t)) = self.status.storage_used {
                self.status.storage_used = Some((u.saturating_sub(1), t));
            }
        } else {
            warn!(mem = %loc.mem, index = loc.index, result = %r.result, "delete refused");
        }
        Ok(())
    }

    async fn handle(&mut self, conn: &mut Conn, req: Request) -> Result<(), ExecError> {
        match req {
            Request::Confirm { loc } => self.delete(conn, &loc).await,
            Request::Send { req, reply } => {
                let (res, err) = self.send(conn, req).await;
                let _ = reply.send(res);
                self.publish().await;
                if let Some(e) = err {
                    return Err(e);
                }
                if std::mem::take(&mut self.sweep_due) {
                    self.sweep(conn).await?;
                }
                Ok(())
            }
            Request::Ussd { code, reply } => {
                let (res, err) = self.ussd(conn, &code).await;
                let _ = reply.send(res);
                err.map_or(Ok(()), Err)
            }
        }
    }

    /// One send. Returns the answer for the caller and, separately, an
    /// exec error the session must act on (timeout → recovery).
    async fn send(
        &mut self,
        conn: &mut Conn,
        req: SendRequest,
    ) -> (Result<u8, SendError>, Option<ExecError>) {
        let t = self.opts.send_timeout;
        let SendRequest::Pdu { pdu, tpdu_len } = req;
        let cmd = if self.status.text_mode {
            match self.text_prepare(conn, &pdu, tpdu_len).await {
                Ok(cmd) => cmd,
                Err(r) => return r,
            }
        } else {
            // The AT boundary: the only place a sent PDU becomes hex.
            Command::cmgs_pdu(tpdu_len, &crate::codec::hex::encode(&pdu), t)
        };
        let out = conn.exec(&cmd).await;
        let (class, code, message) = match out {
            Ok(r) => match &r.result {
                Final::Ok => match parse_cmgs(&r) {
                    Ok(mr) => {
                        self.status.sent += 1;
                        info!(mr, "sent");
                        return (Ok(mr), None);
                    }
                    Err(e) => (
                        ErrorClass::Uncertain,
                        None,
                        format!("OK without a message reference: {e}"),
                    ),
                },
                Final::Cms(e) => {
                    if e.code == Some(322) {
                        warn!("memory full while sending; sweep follows");
                    }
                    (
                        e.code.map_or(ErrorClass::RetryHere, classify_cms),
                        e.code,
                        r.result.to_string(),
                    )
                }
                Final::Cme(e) => (
                    e.code.map_or(ErrorClass::RetryHere, classify_cme),
                    e.code,
                    r.result.to_string(),
                ),
                other => (ErrorClass::RetryHere, None, other.to_string()),
            },
            Err(ExecError::Timeout { payload_written }) => {
                let e = ExecError::Timeout { payload_written };
                let class = if payload_written {
                    ErrorClass::Uncertain
                } else {
                    ErrorClass::RetryHere
                };
                let msg = if payload_written {
                    format!("no +CMGS answer within {t:?} (PDU written: true)")
                } else {
                    "no prompt after AT+CMGS (PDU not written)".to_string()
                };
                return (Err(self.send_failed(class, None, msg)), Some(e));
            }
            Err(ExecError::Gone {
                reason,
                payload_written,
            }) => {
                let class = if payload_written {
                    ErrorClass::Uncertain
                } else {
                    ErrorClass::RetryHere
                };
                let msg = format!("device gone during send: {reason}");
                return (
                    Err(self.send_failed(class, None, msg)),
                    Some(ExecError::Gone {
                        reason,
                        payload_written,
                    }),
                );
            }
            Err(e) => {
                return (
                    Err(self.send_failed(ErrorClass::RetryHere, None, format!("{e:?}"))),
                    Some(e),
                )
            }
        };
        // Memory full: sweep once the caller has its answer.
        self.sweep_due |= code == Some(322);
        (Err(self.send_failed(class, code, message)), None)
    }

    /// Text mode: `AT+CSMP` and `AT+CSCS` for this SUBMIT, and the
    /// `AT+CMGS="<da>",<toda>` that sends it. A SUBMIT text mode cannot carry
    /// (a user data header, 8-bit data) is refused as try-another-SIM: a
    /// modem in PDU mode can send it.
    async fn text_prepare(
        &mut self,
        conn: &mut Conn,
        pdu: &[u8],
        tpdu_len: usize,
    ) -> Result<Command, (Result<u8, SendError>, Option<ExecError>)> {
        let plan = match TextSubmit::from_pdu(pdu, Some(tpdu_len)) {
            Ok(p) => p,
            Err(e) => {
                let msg = format!("modem in text mode: {e}");
                return Err((
                    Err(self.send_failed(ErrorClass::TryAnotherSim, None, msg)),
                    None,
                ));
            }
        };
        let lost = |s: &mut Self, e: ExecError| {
            let err = s.send_failed(ErrorClass::RetryHere, None, "no answer before send".into());
            (Err(err), Some(e))
        };
        let r = match conn.exec(&self.cmd("+CSMP", plan.csmp_line())).await {
            Ok(r) => r,
            Err(e) => return Err(lost(self, e)),
        };
        if !r.result.is_ok() {
            let msg = format!("{} refused: {}", plan.csmp_line(), r.result);
            return Err((
                Err(self.send_failed(ErrorClass::TryAnotherSim, None, msg)),
                None,
            ));
        }
        match self.select_cscs(conn, plan.cscs).await {
            Ok(true) => {}
            Ok(false) => {
                let msg = format!("character set {} refused", plan.cscs);
                return Err((
                    Err(self.send_failed(ErrorClass::TryAnotherSim, None, msg)),
                    None,
                ));
            }
            Err(e) => return Err(lost(self, e)),
        }
        Ok(Command::cmgs_text(
            &plan.da,
            plan.toda,
            &plan.text,
            self.opts.send_timeout,
        ))
    }

    fn send_failed(&mut self, class: ErrorClass, code: Option<u16>, message: String) -> SendError {
        warn!(?class, ?code, %message, "send failed");
        self.note_error(message.clone());
        SendError {
            class,
            code,
            message,
        }
    }

    async fn ussd(
        &mut self,
        conn: &mut Conn,
        code: &str,
    ) -> (Result<String, ModemError>, Option<ExecError>) {
        let t = self.opts.send_timeout;
        let wire = if self.quirk.ussd_packed {
            match ussd::to_gsm7(code) {
                Some(s) => at::encode_hex(&ussd::pack_septets(&s)),
                None => code.to_string(),
            }
        } else {
            code.to_string()
        };
        let c = Command::cusd(&wire, self.opts.command_timeout);
        match conn.exec(&c).await {
            Ok(r) if r.result.is_ok() => {}
            Ok(r) => {
                return (
                    Err(ModemError::Command {
                        command: c.line.clone(),
                        result: r.result.to_string(),
                    }),
                    None,
                );
            }
            Err(e) => {
                let err = ModemError::Timeout {
                    command: c.line.clone(),
                    timeout: c.timeout,
                };
                return (Err(err), Some(e));
            }
        }
        let deadline = Instant::now() + t;
        loop {
            conn.drain_idle();
            if let Some(pos) = conn.urcs.iter().position(|u| matches!(u, Urc::Cusd { .. })) {
                if let Some(Urc::Cusd { m, text, dcs }) = conn.urcs.remove(pos) {
                    return match (m, text) {
                        (0 | 1, Some(text)) => (
                            Ok(ussd::decode_cusd(&text, dcs, self.quirk.ussd_packed)),
                            None,
                        ),
                        (m, _) => (
                            Err(ModemError::Command {
                                command: c.line.clone(),
                                result: format!("+CUSD: {m} (no answer text)"),
                            }),
                            None,
                        ),
                    };
                }
            }
            match tokio::time::timeout_at(deadline, conn.read_some()).await {
                Ok(Ok(())) => conn.drain_idle(),
                Ok(Err(e)) => {
                    return (
                        Err(ModemError::Gone {
                            path: self.opts.device.display().to_string(),
                            reason: format!("{e:?}"),
                        }),
                        Some(e),
                    )
                }
                Err(_) => {
                    return (
                        Err(ModemError::Timeout {
                            command: "+CUSD answer".into(),
                            timeout: t,
                        }),
                        None,
                    )
                }
            }
        }
    }
}

/// The answer prefix of a query command: `AT^ICCID?` → `^ICCID:`.
fn answer_prefix(cmd: &str) -> String {
    let body = cmd.get(2..).unwrap_or_default();
    let name: String = body
        .chars()
        .take_while(|c| *c != '?' && *c != '=')
        .collect();
    format!("{name}:")
}

/// TP-MTI of the TPDU says SMS-STATUS-REPORT (0b10).
fn is_status_report(pdu: &[u8], tpdu_len: Option<usize>) -> bool {
    let sca = match tpdu_len {
        Some(n) if n <= pdu.len() => pdu.len() - n,
        _ => pdu.first().map_or(0, |l| usize::from(*l) + 1),
    };
    pdu.get(sca).is_some_and(|fo| fo & 0x03 == 0x02)
}

/// Now, as `last_ready_at` shows it.
fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_mti() {
        assert_eq!(answer_prefix("AT^ICCID?"), "^ICCID:");
        assert_eq!(answer_prefix("AT+CCID"), "+CCID:");
        assert_eq!(answer_prefix("AT+QCCID"), "+QCCID:");
        let p4 = at::decode_hex("06000B910221815716F2709021510121807090215101718000")
            .unwrap_or_default();
        let table: &[(&[u8], Option<usize>, bool)] = &[
            (&p4, Some(25), true),
            (&[0x00, 0x06, 0x00], None, true),
            (&[0x00, 0x04, 0x00], None, false),
            (&[], None, false),
            (&[0x09], None, false),
        ];
        assert!(!table.is_empty());
        fn check(pdu: &[u8], len: Option<usize>, want: bool) {
            assert_eq!(is_status_report(pdu, len), want, "{pdu:02X?}");
        }
        for (p, l, w) in table {
            check(p, *l, *w);
        }
    }
}
