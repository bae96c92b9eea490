//! The simulated mobile network shared by simulated modems: routes a SUBMIT to the
//! SIM that owns the number (as a DELIVER), sends status reports back, and keeps
//! what went to the outside world. The PDUs are read and built with the product
//! codec (`crate::codec`): a DELIVER carries the SUBMIT's PID, DCS, UDH and user
//! data as the codec decoded them. It does not speak AT (`engine.rs`) or touch
//! ptys (`modem.rs`).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::engine::{Incoming, IncomingKind};
use super::modem::Shared;
use super::{same_number, NetMessage, SimError};
use crate::codec::address::{NPI_ISDN, TON_INTERNATIONAL, TON_UNKNOWN};
use crate::codec::{
    self, Address, Decoded, Deliver, Pdu, Scts, Status, StatusReport, Submit, SubmitOptions, Udh,
    UserData,
};

/// How the network behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkOptions {
    /// How long after a SUBMIT its status report arrives.
    pub report_delay: Duration,
    /// The TP-ST every status report carries (0x00: delivered).
    pub report_status: u8,
    /// Seeds every modem's fault randomness.
    pub seed: u64,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            report_delay: Duration::ZERO,
            report_status: 0x00,
            seed: 0,
        }
    }
}

/// The SMSC every simulated SIM is configured with.
pub const SMSC: &str = "+15559990000";

#[derive(Default)]
struct State {
    sims: Vec<Arc<Shared>>,
    external: Vec<NetMessage>,
    next_ref: u8,
}

struct Inner {
    opts: NetworkOptions,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

/// One simulated network; clones share it.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

type Time = chrono::DateTime<chrono::FixedOffset>;

fn now() -> Time {
    chrono::Local::now().fixed_offset()
}

/// The SMSC prefix octets (length octet first) of every PDU the network sends.
pub(crate) fn smsc_prefix() -> Vec<u8> {
    #[allow(
        clippy::expect_used,
        reason = "a constant, checked by the simulator's tests"
    )]
    let smsc = Address::parse(SMSC).expect("SMSC is a valid number");
    let mut out = Vec::new();
    Address::encode_smsc(Some(&smsc), &mut out);
    out
}

/// The TPDU of a PDU the codec encoded with an empty (`00`) SMSC prefix.
pub(crate) fn tpdu_of(pdu: &[u8]) -> Vec<u8> {
    pdu.get(1..).unwrap_or_default().to_vec()
}

/// A number as a modem's text mode or a sender writes it: digits (`+` first
/// when international, TOA 145, else 129) or an alphanumeric sender name.
pub(crate) fn address_of(s: &str) -> Address {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
    {
        let ton = if s.starts_with('+') {
            TON_INTERNATIONAL
        } else {
            TON_UNKNOWN
        };
        Address {
            ton,
            npi: NPI_ISDN,
            value: digits.to_string(),
        }
    } else {
        Address::alphanumeric(s)
    }
}

/// A SUBMIT's text: binary data is read as UTF-8, lossily.
pub(crate) fn text_of(s: &Submit) -> String {
    match &s.data {
        UserData::Text(t) | UserData::Lossy { text: t, .. } => t.clone(),
        UserData::Binary(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// The SMS-DELIVER TPDU (no SMSC prefix) that carries `submit` from `from`.
pub(crate) fn deliver_tpdu(submit: &Submit, from: &str, at: Time) -> Vec<u8> {
    let deliver = Deliver {
        more_messages: false,
        loop_prevention: false,
        status_report_indication: false,
        reply_path: false,
        originator: address_of(from),
        pid: submit.pid,
        dcs: submit.dcs,
        scts: Scts::from_datetime(&at),
        udh: submit.udh.clone(),
        data: submit.data.clone(),
    };
    tpdu_of(&deliver.encode(None))
}

/// `text` from `from` as the DELIVER TPDUs of its parts, each with its text:
/// split as the codec splits a SUBMIT, with 8-bit concatenation `reference`.
pub(crate) fn deliver_parts(
    from: &str,
    text: &str,
    reference: u8,
    at: Time,
) -> Result<Vec<(Vec<u8>, String)>, codec::CodecError> {
    let opts = SubmitOptions {
        concat_ref: u16::from(reference),
        ..SubmitOptions::default()
    };
    // The SUBMITs' destination is not carried over; any number does.
    let to = address_of(SMSC);
    let mut out = Vec::new();
    for part in codec::encode_submit(&to, text, &opts)? {
        if let Decoded {
            pdu: Pdu::Submit(s),
            ..
        } = codec::decode(&part.bytes, Some(part.tpdu_len))?
        {
            out.push((deliver_tpdu(&s, from, at), text_of(&s)));
        }
    }
    Ok(out)
}

/// The text-mode form of a time stamp: `yy/MM/dd,hh:mm:ss±zz`.
pub(crate) fn scts_text(t: Time) -> String {
    let q = t.offset().local_minus_utc() / 900;
    format!(
        "{}{}{:02}",
        t.format("%y/%m/%d,%H:%M:%S"),
        if q < 0 { '-' } else { '+' },
        q.unsigned_abs()
    )
}

impl Network {
    pub fn new(opts: NetworkOptions) -> Network {
        Network {
            inner: Arc::new(Inner {
                opts,
                state: Mutex::new(State::default()),
                changed: watch::Sender::new(0),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a test thread panicked; the data is still usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn seed(&self) -> u64 {
        self.inner.opts.seed
    }

    pub(crate) fn register(&self, sim: Arc<Shared>) {
        self.state().sims.push(sim);
    }

    fn find(&self, msisdn: &str) -> Option<Arc<Shared>> {
        self.state()
            .sims
            .iter()
            .find(|s| same_number(&s.msisdn, msisdn))
            .cloned()
    }

    /// SUBMITs addressed to numbers no simulated SIM owns, in order.
    pub fn external_messages(&self) -> Vec<NetMessage> {
        self.state().external.clone()
    }

    /// Waits until at least `n` external messages exist; returns all of them.
    pub async fn wait_external(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<NetMessage>, SimError> {
        let mut rx = self.inner.changed.subscribe();
        let wait = async {
            loop {
                let got = self.external_messages();
                if got.len() >= n {
                    return got;
                }
                if rx.changed().await.is_err() {
                    return got;
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(got) if got.len() >= n => Ok(got),
            _ => Err(SimError::Timeout {
                what: "external messages",
                want: n,
                got: self.external_messages().len(),
                timeout,
            }),
        }
    }

    /// An SMS from the outside world to a simulated SIM (several parts when long).
    pub fn inject(&self, from: &str, to_msisdn: &str, text: &str) -> Result<(), SimError> {
        self.inject_parts(from, to_msisdn, text, None).map(|_| ())
    }

    /// Like [`Network::inject`], but delivers only the parts at the 0-based
    /// indices in `order`, in that order (all parts in order when `None`), so
    /// tests can send parts out of order or hold some back. Indices past the
    /// last part are skipped. Returns the concatenation reference and how many
    /// parts the text has; later calls for the same text go through
    /// [`Network::inject_with_ref`] with that reference.
    pub fn inject_parts(
        &self,
        from: &str,
        to_msisdn: &str,
        text: &str,
        order: Option<&[usize]>,
    ) -> Result<(u8, usize), SimError> {
        let reference = {
            let mut st = self.state();
            st.next_ref = st.next_ref.wrapping_add(1);
            st.next_ref
        };
        self.inject_with_ref(from, to_msisdn, text, reference, order)
    }

    /// [`Network::inject_parts`] with a given concatenation reference.
    pub fn inject_with_ref(
        &self,
        from: &str,
        to_msisdn: &str,
        text: &str,
        reference: u8,
        order: Option<&[usize]>,
    ) -> Result<(u8, usize), SimError> {
        let sim = self
            .find(to_msisdn)
            .ok_or_else(|| SimError::UnknownMsisdn(to_msisdn.to_string()))?;
        let at = now();
        let parts = deliver_parts(from, text, reference, at)?;
        let total = parts.len();
        let all: Vec<usize> = (0..total).collect();
        for (tpdu, text) in order
            .unwrap_or(&all)
            .iter()
            .filter_map(|&i| parts.get(i))
            .cloned()
        {
            sim.deliver(Incoming {
                smsc: smsc_prefix(),
                tpdu,
                kind: IncomingKind::Deliver {
                    from: from.to_string(),
                    text,
                    scts: scts_text(at),
                },
            });
        }
        Ok((reference, total))
    }

    /// Hostile input for tests: hands `to_msisdn`'s modem an SMS whose stored
    /// PDU is exactly `smsc` followed by `tpdu`, with no checking at all. The
    /// `<length>` the modem reports is `tpdu.len()`, so a wrong SMSC prefix, a
    /// truncated TPDU or a lying UDL/UDH reaches the daemon as given. In text
    /// mode the entry shows as an empty message from an empty sender.
    pub fn inject_raw(&self, to_msisdn: &str, smsc: &[u8], tpdu: &[u8]) -> Result<(), SimError> {
        let sim = self
            .find(to_msisdn)
            .ok_or_else(|| SimError::UnknownMsisdn(to_msisdn.to_string()))?;
        sim.deliver(Incoming {
            smsc: smsc.to_vec(),
            tpdu: tpdu.to_vec(),
            kind: IncomingKind::Deliver {
                from: String::new(),
                text: String::new(),
                scts: scts_text(now()),
            },
        });
        Ok(())
    }

    /// A modem transmitted `submit` (TPDU bytes `tpdu`, reference `mr`).
    pub(crate) fn submit(
        &self,
        from: &Arc<Shared>,
        submit: &Submit,
        tpdu: &[u8],
        mr: u8,
    ) -> NetMessage {
        let to_number = submit.destination.to_string();
        let msg = NetMessage {
            from_msisdn: from.msisdn.clone(),
            to: to_number.clone(),
            text: text_of(submit),
            pdu_hex: codec::to_hex(tpdu),
            concat: submit
                .udh
                .as_ref()
                .and_then(Udh::concat)
                .map(|c| (c.reference, c.total, c.seq)),
            at: Instant::now(),
        };
        let sent = now();
        match self.find(&to_number) {
            Some(to) => {
                to.deliver(Incoming {
                    smsc: smsc_prefix(),
                    tpdu: deliver_tpdu(submit, &from.msisdn, sent),
                    kind: IncomingKind::Deliver {
                        from: from.msisdn.clone(),
                        text: msg.text.clone(),
                        scts: scts_text(sent),
                    },
                });
            }
            None => {
                self.state().external.push(msg.clone());
                self.inner.changed.send_modify(|v| *v = v.wrapping_add(1));
            }
        }
        if submit.status_report_request {
            let st = self.inner.opts.report_status;
            let delay = self.inner.opts.report_delay;
            let recipient = submit.destination.clone();
            let ra = to_number;
            let sender = from.clone();
            let report = move || {
                let done = now();
                let report = StatusReport {
                    more_messages: false,
                    loop_prevention: false,
                    qualifier: false,
                    mr,
                    recipient,
                    scts: Scts::from_datetime(&sent),
                    discharge: Scts::from_datetime(&done),
                    status: Status(st),
                    pi: None,
                    pid: None,
                    dcs: None,
                    udh: None,
                    data: None,
                };
                sender.deliver(Incoming {
                    smsc: smsc_prefix(),
                    tpdu: tpdu_of(&report.encode(None)),
                    kind: IncomingKind::Report {
                        mr,
                        ra,
                        scts: scts_text(sent),
                        dt: scts_text(done),
                        st,
                    },
                });
            };
            if delay.is_zero() {
                report();
            } else {
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    report();
                });
            }
        }
        msg
    }
}
