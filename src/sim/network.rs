//! The simulated mobile network shared by simulated modems: routes a SUBMIT to the
//! SIM that owns the number (as a DELIVER), sends status reports back, and keeps
//! what went to the outside world. Routing is keyed on the bytes the modem sent:
//! the user data is copied into the DELIVER untouched. It does not speak AT
//! (`engine.rs`) or touch ptys (`modem.rs`).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::engine::{Incoming, IncomingKind};
use super::modem::Shared;
use super::pdu::{self, Submit};
use super::{same_number, NetMessage, SimError};

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

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Local::now().fixed_offset()
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
        let parts = pdu::split_text(text, reference);
        let total = parts.len();
        let all: Vec<usize> = (0..total).collect();
        for part in order
            .unwrap_or(&all)
            .iter()
            .filter_map(|&i| parts.get(i))
            .cloned()
        {
            let at = now();
            let tpdu = pdu::encode_deliver(from, 0, &part, at);
            let (text, _) = pdu::decode_ud(part.udhi, part.dcs, part.udl, &part.ud);
            sim.deliver(Incoming {
                smsc: pdu::encode_smsc(SMSC),
                tpdu,
                kind: IncomingKind::Deliver {
                    from: from.to_string(),
                    text,
                    scts: pdu::scts_text(at),
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
                scts: pdu::scts_text(now()),
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
        let msg = NetMessage {
            from_msisdn: from.msisdn.clone(),
            to: submit.to.clone(),
            text: submit.text.clone(),
            pdu_hex: pdu::hex(tpdu),
            concat: submit.concat,
            at: Instant::now(),
        };
        let sent = now();
        match self.find(&submit.to) {
            Some(to) => {
                let ud = pdu::UserData {
                    dcs: submit.dcs,
                    udl: submit.udl,
                    ud: submit.ud.clone(),
                    udhi: submit.first_octet & 0x40 != 0,
                };
                to.deliver(Incoming {
                    smsc: pdu::encode_smsc(SMSC),
                    tpdu: pdu::encode_deliver(&from.msisdn, submit.pid, &ud, sent),
                    kind: IncomingKind::Deliver {
                        from: from.msisdn.clone(),
                        text: submit.text.clone(),
                        scts: pdu::scts_text(sent),
                    },
                });
            }
            None => {
                self.state().external.push(msg.clone());
                self.inner.changed.send_modify(|v| *v = v.wrapping_add(1));
            }
        }
        if submit.wants_report() {
            let st = self.inner.opts.report_status;
            let delay = self.inner.opts.report_delay;
            let ra_raw = submit.da_raw.clone();
            let ra = submit.to.clone();
            let sender = from.clone();
            let report = move || {
                let done = now();
                sender.deliver(Incoming {
                    smsc: pdu::encode_smsc(SMSC),
                    tpdu: pdu::encode_status_report(mr, &ra_raw, sent, done, st),
                    kind: IncomingKind::Report {
                        mr,
                        ra,
                        scts: pdu::scts_text(sent),
                        dt: pdu::scts_text(done),
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
