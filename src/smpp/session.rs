//! One SMPP session: framing (length checks, `generic_nack` for garbage),
//! bind and its timeout, `enquire_link` both ways, `unbind`, `submit_sm`
//! (coding, concatenation in its three forms, times, priority, throttle)
//! turned into one `Gateway::send`, and the window of `deliver_sm` this
//! session has out. It owns no state beyond the session's own.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use rusmpp::decode::DecodeWithLength;
use rusmpp::pdus::{
    BindReceiverResp, BindTransceiverResp, BindTransmitterResp, DeliverSm, SubmitSm, SubmitSmResp,
};
use rusmpp::tlvs::{MessageDeliveryRequestTlvValue, TlvValue};
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, MessagePayload, MessageState, Npi, RegisteredDelivery, Ton,
};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{Decoder, FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::text::{self, PartsKey, Reassembly};
use super::{source_of, Outbound, Smpp};
use crate::gateway::{GatewayError, SendRequest};
use crate::store::{OutgoingView, Priority};

/// The largest PDU taken (a submit_sm with a message_payload of a long
/// message fits with room to spare).
pub const MAX_PDU: usize = 64 * 1024;

/// How long an `unbind` we sent waits for its answer before we close.
const UNBIND_WAIT: Duration = Duration::from_secs(2);

/// A frame as read off the wire.
#[derive(Debug)]
pub enum Frame {
    /// A whole PDU (length included).
    Pdu(BytesMut),
    /// A command_length under 16 or over [`MAX_PDU`]: the stream cannot be
    /// framed any more.
    BadLength(u32),
}

/// Splits the stream into PDUs by their command_length.
#[derive(Debug, Default)]
pub struct Framer;

impl Decoder for Framer {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        let Some(len) = be32(src, 0) else {
            return Ok(None);
        };
        let n = usize::try_from(len).unwrap_or(usize::MAX);
        if !(16..=MAX_PDU).contains(&n) {
            src.clear();
            return Ok(Some(Frame::BadLength(len)));
        }
        if src.len() < n {
            src.reserve(n - src.len());
            return Ok(None);
        }
        Ok(Some(Frame::Pdu(src.split_to(n))))
    }
}

/// The big-endian u32 at `at`, if the bytes are there.
fn be32(b: &[u8], at: usize) -> Option<u32> {
    let w: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(w))
}

/// The header of a PDU: command_id, command_status, sequence_number.
pub fn header(pdu: &[u8]) -> (u32, u32, u32) {
    let w = |i: usize| be32(pdu, i).unwrap_or(0);
    (w(4), w(8), w(12))
}

/// Decodes one framed PDU with rusmpp. `Err` carries the status of the
/// `generic_nack` to answer with.
pub fn decode(mut pdu: BytesMut) -> Result<Command, CommandStatus> {
    let len = pdu.len();
    let (id, _, _) = header(&pdu);
    if matches!(CommandId::from(id), CommandId::Other(_)) {
        return Err(CommandStatus::EsmeRinvcmdid);
    }
    pdu.advance(4);
    match Command::decode(&mut pdu, len - 4) {
        Ok((c, _)) => match c.pdu() {
            Some(Pdu::Other { .. }) => Err(CommandStatus::EsmeRinvcmdid),
            _ => Ok(c),
        },
        Err(e) => {
            debug!("SMPP: undecodable PDU: {e}");
            Err(CommandStatus::EsmeRinvcmdlen)
        }
    }
}

/// What a bind was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BindKind {
    Transmitter,
    Receiver,
    Transceiver,
}

impl BindKind {
    fn name(self) -> &'static str {
        match self {
            BindKind::Transmitter => "transmitter",
            BindKind::Receiver => "receiver",
            BindKind::Transceiver => "transceiver",
        }
    }
    fn receives(self) -> bool {
        self != BindKind::Transmitter
    }
    fn transmits(self) -> bool {
        self != BindKind::Receiver
    }
}

/// The message a submit (or a finished set of parts) turns into.
struct Submit {
    req: SendRequest,
    /// The sequence numbers to answer with the message id.
    seqs: Vec<u32>,
}

/// Runs one session until the ESME unbinds or closes, the server stops, or
/// its account is removed.
pub async fn run(
    smpp: Arc<Smpp>,
    id: u64,
    stream: TcpStream,
    peer: SocketAddr,
    cancel: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut reader = FramedRead::new(r, Framer);
    let mut writer = FramedWrite::new(w, CommandCodec::new().with_max_length(MAX_PDU));
    let cfg = smpp.gw.config().smpp.clone();
    let mut bound: Option<(String, BindKind)> = None;
    let (deliver_tx, mut deliver_rx) = mpsc::channel::<Outbound>(cfg.window);
    let mut inflight: HashMap<u32, oneshot::Sender<()>> = HashMap::new();
    let mut next_seq: u32 = 1;
    let mut seq = || {
        let s = next_seq;
        next_seq = if next_seq >= 0x7fff_ffff {
            1
        } else {
            next_seq + 1
        };
        s
    };
    let mut parts = Reassembly::default();
    let mut held: HashMap<PartsKey, Vec<u32>> = HashMap::new();
    // Submits being committed: their answers come back here, in any order.
    let (done_tx, mut done_rx) = mpsc::channel::<Command>(64);
    let bind_deadline = tokio::time::Instant::now() + cfg.bind_timeout;
    let mut last_rx = tokio::time::Instant::now();
    let mut link_probe: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut unbinding = false;
    let mut unbind_deadline = tokio::time::Instant::now();
    loop {
        let can_deliver = bound.as_ref().is_some_and(|(_, k)| k.receives())
            && inflight.len() < cfg.window
            && !unbinding;
        let out: Option<Command> = tokio::select! {
            _ = cancel.cancelled(), if !unbinding => {
                unbinding = true;
                unbind_deadline = tokio::time::Instant::now() + UNBIND_WAIT;
                Some(Command::new(CommandStatus::EsmeRok, seq(), Pdu::Unbind))
            }
            _ = tick.tick() => {
                let now = tokio::time::Instant::now();
                if unbinding && now >= unbind_deadline {
                    break;
                }
                if bound.is_none() && now >= bind_deadline {
                    info!(%peer, "SMPP: no bind in time; closing");
                    break;
                }
                for key in parts.expire(Instant::now(), cfg.reassembly_timeout) {
                    for s in held.remove(&key).unwrap_or_default() {
                        let resp = SubmitSmResp::new(COctetString::empty(), vec![]);
                        let _ = writer.send(Command::new(CommandStatus::EsmeRsubmitfail, s, resp)).await;
                    }
                }
                if let Some(sent) = link_probe {
                    if now.duration_since(sent) >= cfg.enquire_link {
                        info!(%peer, "SMPP: enquire_link unanswered; closing");
                        break;
                    }
                    None
                } else if now.duration_since(last_rx) >= cfg.enquire_link {
                    link_probe = Some(now);
                    Some(Command::new(CommandStatus::EsmeRok, seq(), Pdu::EnquireLink))
                } else {
                    None
                }
            }
            Some(resp) = done_rx.recv() => Some(resp),
            Some(o) = deliver_rx.recv(), if can_deliver => {
                let s = seq();
                inflight.insert(s, o.acked);
                Some(Command::new(CommandStatus::EsmeRok, s, o.pdu))
            }
            frame = reader.next() => {
                last_rx = tokio::time::Instant::now();
                link_probe = None;
                let pdu = match frame {
                    None => break,
                    Some(Err(e)) => {
                        debug!(%peer, "SMPP read: {e}");
                        break;
                    }
                    Some(Ok(Frame::BadLength(len))) => {
                        warn!(%peer, len, "SMPP: bad command_length; closing");
                        let _ = writer.send(Command::new(CommandStatus::EsmeRinvcmdlen, 0, Pdu::GenericNack)).await;
                        break;
                    }
                    Some(Ok(Frame::Pdu(p))) => p,
                };
                let (_, _, hseq) = header(&pdu);
                match decode(pdu) {
                    Err(status) => Some(Command::new(status, hseq, Pdu::GenericNack)),
                    Ok(cmd) => {
                        let sq = cmd.sequence_number();
                        match cmd.pdu() {
                            Some(Pdu::BindTransmitter(b)) => Some(bind(&smpp, id, &mut bound, BindKind::Transmitter, b.system_id.as_str(), b.password.as_str(), sq, &deliver_tx)),
                            Some(Pdu::BindReceiver(b)) => Some(bind(&smpp, id, &mut bound, BindKind::Receiver, b.system_id.as_str(), b.password.as_str(), sq, &deliver_tx)),
                            Some(Pdu::BindTransceiver(b)) => Some(bind(&smpp, id, &mut bound, BindKind::Transceiver, b.system_id.as_str(), b.password.as_str(), sq, &deliver_tx)),
                            Some(Pdu::EnquireLink) => Some(Command::new(CommandStatus::EsmeRok, sq, Pdu::EnquireLinkResp)),
                            Some(Pdu::EnquireLinkResp) => None,
                            Some(Pdu::Unbind) => {
                                let _ = writer.send(Command::new(CommandStatus::EsmeRok, sq, Pdu::UnbindResp)).await;
                                break;
                            }
                            Some(Pdu::UnbindResp) => break,
                            Some(Pdu::GenericNack) => None,
                            Some(Pdu::DeliverSmResp(_)) => {
                                // Any answer settles it: a refusal is the ESME's word.
                                if let Some(a) = inflight.remove(&sq) {
                                    let _ = a.send(());
                                }
                                None
                            }
                            Some(Pdu::SubmitSm(sm)) => match &bound {
                                Some((sid, kind)) if kind.transmits() => {
                                    match submit(&smpp, sid, sm, sq, &mut parts, &mut held) {
                                        Err(status) => {
                                            smpp.counters(sid).refused.fetch_add(1, Ordering::Relaxed);
                                            Some(Command::new(status, sq, SubmitSmResp::new(COctetString::empty(), vec![])))
                                        }
                                        Ok(None) => None,
                                        Ok(Some(s)) => {
                                            let (gw, tx, sid) = (smpp.gw.clone(), done_tx.clone(), sid.clone());
                                            let counters = smpp.counters(&sid);
                                            tokio::spawn(async move {
                                                let (status, mid) = match gw.send(s.req).await {
                                                    Ok(enq) => {
                                                        counters.submitted.fetch_add(1, Ordering::Relaxed);
                                                        (CommandStatus::EsmeRok, enq.id.to_string())
                                                    }
                                                    Err(e) => {
                                                        counters.refused.fetch_add(1, Ordering::Relaxed);
                                                        debug!(system_id = %sid, "SMPP submit refused: {e}");
                                                        (status_of(&e), String::new())
                                                    }
                                                };
                                                let mid = cstr(mid);
                                                for q in s.seqs {
                                                    let r = SubmitSmResp::new(mid.clone(), vec![]);
                                                    let _ = tx.send(Command::new(status, q, r)).await;
                                                }
                                            });
                                            None
                                        }
                                    }
                                }
                                Some(_) => Some(Command::new(CommandStatus::EsmeRinvbndsts, sq, SubmitSmResp::new(COctetString::empty(), vec![]))),
                                None => Some(Command::new(CommandStatus::EsmeRinvbndsts, sq, Pdu::GenericNack)),
                            },
                            Some(other) => {
                                // Requests we do not serve; answers we did not ask for.
                                let id = u32::from(other.command_id());
                                if id & 0x8000_0000 != 0 {
                                    None
                                } else {
                                    Some(Command::new(CommandStatus::EsmeRinvcmdid, sq, Pdu::GenericNack))
                                }
                            }
                            None => Some(Command::new(CommandStatus::EsmeRinvcmdlen, sq, Pdu::GenericNack)),
                        }
                    }
                }
            }
        };
        if let Some(c) = out {
            // The answers of one commit go out in one write: the client
            // sends its next submits together, and they reach the store
            // while it gathers the next transaction.
            let mut sent = writer.feed(c).await;
            while sent.is_ok() {
                match done_rx.try_recv() {
                    Ok(resp) => sent = writer.feed(resp).await,
                    Err(_) => break,
                }
            }
            if sent.is_ok() {
                sent = SinkExt::<Command>::flush(&mut writer).await;
            }
            if let Err(e) = sent {
                debug!(%peer, "SMPP write: {e}");
                break;
            }
        }
    }
    // Unanswered deliver_sm go back to their consumers (the senders drop).
    drop(inflight);
    if let Some((sid, kind)) = bound {
        info!(%peer, system_id = %sid, bind = kind.name(), "SMPP session closed");
    }
}

#[allow(clippy::too_many_arguments)]
fn bind(
    smpp: &Smpp,
    id: u64,
    bound: &mut Option<(String, BindKind)>,
    kind: BindKind,
    system_id: &str,
    password: &str,
    sq: u32,
    deliver_tx: &mpsc::Sender<Outbound>,
) -> Command {
    let ours = cstr(b"smsgate");
    let resp = |status: CommandStatus| -> Command {
        let v = Some(rusmpp::values::InterfaceVersion::Smpp3_4);
        match kind {
            BindKind::Transmitter => {
                Command::new(status, sq, BindTransmitterResp::new(ours.clone(), v))
            }
            BindKind::Receiver => Command::new(status, sq, BindReceiverResp::new(ours.clone(), v)),
            BindKind::Transceiver => {
                Command::new(status, sq, BindTransceiverResp::new(ours.clone(), v))
            }
        }
    };
    if bound.is_some() {
        return resp(CommandStatus::EsmeRalybnd);
    }
    let cfg = smpp.gw.config();
    let Some(acct) = cfg.smpp.account(system_id) else {
        info!(system_id, "SMPP bind refused: no such system_id");
        return resp(CommandStatus::EsmeRinvsysid);
    };
    if acct.password != password {
        info!(system_id, "SMPP bind refused: wrong password");
        return resp(CommandStatus::EsmeRinvpaswd);
    }
    let tx = kind.receives().then(|| deliver_tx.clone());
    smpp.bound(id, system_id, kind.name(), tx);
    *bound = Some((system_id.to_string(), kind));
    info!(system_id, bind = kind.name(), "SMPP bound");
    resp(CommandStatus::EsmeRok)
}

/// Checks one `submit_sm` and turns it into a request, or keeps it as a part
/// (`Ok(None)`: its answer waits for the whole message).
fn submit(
    smpp: &Smpp,
    system_id: &str,
    sm: &SubmitSm,
    sq: u32,
    parts: &mut Reassembly,
    held: &mut HashMap<PartsKey, Vec<u32>>,
) -> Result<Option<Submit>, CommandStatus> {
    let cfg = smpp.gw.config();
    let acct = cfg
        .smpp
        .account(system_id)
        .ok_or(CommandStatus::EsmeRbindfail)?;
    if !smpp.take_tps(system_id, acct.max_tps, Instant::now()) {
        smpp.counters(system_id)
            .throttled
            .fetch_add(1, Ordering::Relaxed);
        return Err(CommandStatus::EsmeRthrottled);
    }
    let source = sm.source_addr.as_str().to_string();
    if !acct.allowed_sources.is_empty() && !acct.allowed_sources.contains(&source) {
        return Err(CommandStatus::EsmeRinvsrcadr);
    }
    let coding = text::coding(u8::from(sm.data_coding)).map_err(|_| CommandStatus::EsmeRinvdcs)?;
    let ton = u8::from(sm.dest_addr_ton);
    let dest = sm.destination_addr.as_str();
    let to = match ton {
        1 if !dest.starts_with('+') => format!("+{dest}"),
        0..=4 => dest.to_string(),
        _ => return Err(CommandStatus::EsmeRinvdstton),
    };
    let now = Utc::now();
    let not_before = text::parse_time(sm.schedule_delivery_time.as_str(), now)
        .map_err(|_| CommandStatus::EsmeRinvsched)?;
    let validity = text::parse_time(sm.validity_period.as_str(), now)
        .map_err(|_| CommandStatus::EsmeRinvexpiry)?
        .map(|t| {
            (t - not_before.unwrap_or(now))
                .to_std()
                .unwrap_or(Duration::ZERO)
        });
    // priority_flag 0 is every ESME's default, so it stays `normal` (a
    // campaign's `low` is the gateway's own); 1 and 2 (GSM: "priority") are
    // `high`, 3 (the highest level) is `urgent`.
    let priority = match u8::from(sm.priority_flag) {
        0 => Priority::Normal,
        1 | 2 => Priority::High,
        _ => Priority::Urgent,
    };
    let report = u8::from(sm.registered_delivery) & 0x03 != 0;
    let mut payload: Option<Vec<u8>> = None;
    let mut sar = (None, None, None);
    for t in sm.tlvs() {
        match t.value() {
            Some(TlvValue::MessagePayload(p)) => payload = Some(p.value.clone().into_vec()),
            Some(TlvValue::SarMsgRefNum(r)) => sar.0 = Some(*r),
            Some(TlvValue::SarTotalSegments(n)) => sar.1 = Some(*n),
            Some(TlvValue::SarSegmentSeqnum(n)) => sar.2 = Some(*n),
            _ => {}
        }
    }
    let sm_bytes = sm.short_message().as_ref().to_vec();
    let esm = u8::from(sm.esm_class);
    let (segment, body) = match (payload, sar) {
        (Some(p), _) if sm_bytes.is_empty() => (None, p),
        (Some(_), _) => return Err(CommandStatus::EsmeRinvtlvval),
        (None, (Some(reference), Some(total), Some(seq))) => {
            if total == 0 || seq == 0 || seq > total {
                return Err(CommandStatus::EsmeRinvtlvval);
            }
            (
                Some(text::Segment {
                    reference,
                    total,
                    seq,
                }),
                sm_bytes,
            )
        }
        (None, _) if esm & 0x40 != 0 => {
            let (seg, rest) =
                text::split_udh(&sm_bytes).map_err(|_| CommandStatus::EsmeRinvesmclass)?;
            (seg, rest.to_vec())
        }
        (None, _) => (None, sm_bytes),
    };
    let whole = match segment {
        Some(s) if s.total > 1 => {
            let key = PartsKey {
                source: source.clone(),
                dest: to.clone(),
                reference: s.reference,
                total: s.total,
            };
            let got = parts
                .add(key.clone(), s.seq, body, Instant::now())
                .map_err(|_| CommandStatus::EsmeRmsgqful)?;
            held.entry(key.clone()).or_default().push(sq);
            match got {
                None => return Ok(None),
                Some(all) => {
                    let seqs = held.remove(&key).unwrap_or_default();
                    return Ok(Some(request(
                        system_id, to, coding, &all, report, priority, validity, not_before, seqs,
                    )));
                }
            }
        }
        _ => body,
    };
    Ok(Some(request(
        system_id,
        to,
        coding,
        &whole,
        report,
        priority,
        validity,
        not_before,
        vec![sq],
    )))
}

#[allow(clippy::too_many_arguments)]
fn request(
    system_id: &str,
    to: String,
    coding: text::Coding,
    octets: &[u8],
    report: bool,
    priority: Priority,
    validity: Option<Duration>,
    not_before: Option<DateTime<Utc>>,
    seqs: Vec<u32>,
) -> Submit {
    Submit {
        req: SendRequest {
            to,
            text: text::decode(coding, octets),
            report,
            priority: Some(priority),
            validity,
            not_before,
            source: source_of(system_id),
            ..SendRequest::default()
        },
        seqs,
    }
}

/// The command status a refused submit gets.
fn status_of(e: &GatewayError) -> CommandStatus {
    match e {
        GatewayError::Invalid(m) if m.starts_with("bad number") => CommandStatus::EsmeRinvdstadr,
        GatewayError::Invalid(m) if m.starts_with("validity") => CommandStatus::EsmeRinvexpiry,
        GatewayError::Invalid(_) => CommandStatus::EsmeRinvmsglen,
        GatewayError::Unavailable(_) => CommandStatus::EsmeRmsgqful,
        _ => CommandStatus::EsmeRsyserr,
    }
}

/// A C-octet string of `s` (NUL added); empty when it does not fit or is
/// not ASCII.
fn cstr<const A: usize, const B: usize>(s: impl AsRef<[u8]>) -> COctetString<A, B> {
    let mut v = s.as_ref().to_vec();
    v.push(0);
    COctetString::from_vec(v).unwrap_or_else(|_| COctetString::empty())
}

fn addr(s: &str) -> (Ton, COctetString<1, 21>) {
    let (ton, digits) = match s.strip_prefix('+') {
        Some(d) => (Ton::International, d),
        None if s.chars().all(|c| c.is_ascii_digit()) => (Ton::Unknown, s),
        None => (Ton::Alphanumeric, s),
    };
    let short: String = digits.chars().take(20).collect();
    (ton, cstr(short))
}

/// A `deliver_sm` of `text` (GSM-7 when it fits, else UCS-2; a
/// `message_payload` when over 254 octets).
fn text_pdu(from: &str, to: &str, esm: u8, text: &str) -> rusmpp::pdus::builders::DeliverSmBuilder {
    let (dc, octets) = text::encode(text);
    let (sto, src) = addr(from);
    let (dto, dst) = addr(to);
    let b = DeliverSm::builder()
        .source_addr_ton(sto)
        .source_addr_npi(Npi::Isdn)
        .source_addr(src)
        .dest_addr_ton(dto)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(dst)
        .esm_class(EsmClass::from(esm))
        .data_coding(DataCoding::from(dc))
        .registered_delivery(RegisteredDelivery::from(0));
    if octets.len() <= 254 {
        b.short_message(OctetString::from_vec(octets).unwrap_or_else(|_| OctetString::empty()))
    } else {
        b.push_tlv(MessageDeliveryRequestTlvValue::MessagePayload(
            MessagePayload::new(rusmpp::types::AnyOctetString::from_vec(octets)),
        ))
    }
}

/// A received SMS as `deliver_sm` (esm_class 0).
pub fn mo_pdu(from: &str, body: &str) -> DeliverSm {
    text_pdu(from, "", 0, body).build()
}

/// A delivery receipt as `deliver_sm` (esm_class 0x04, with
/// `receipted_message_id` and `message_state`).
pub fn receipt_pdu(
    m: &OutgoingView,
    state: text::ReceiptState,
    submitted: DateTime<Utc>,
    done: DateTime<Utc>,
) -> DeliverSm {
    let id = m.id.to_string();
    let body = text::receipt_text(&id, state, submitted, done, &m.text);
    let rid = cstr(id);
    text_pdu(&m.to, "", 0x04, &body)
        .push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(rid))
        .push_tlv(MessageDeliveryRequestTlvValue::MessageState(
            MessageState::from(state.message_state()),
        ))
        .build()
}

/// Runs a byte string through the session's decoding as a fuzz target does:
/// frame, decode, never panic.
pub fn fuzz_one(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    let mut framer = Framer;
    while let Ok(Some(f)) = framer.decode(&mut buf) {
        match f {
            Frame::BadLength(_) => break,
            Frame::Pdu(p) => {
                let _ = header(&p);
                if let Ok(c) = decode(p) {
                    if let Some(Pdu::SubmitSm(sm)) = c.pdu() {
                        // What `submit` does with the fields before the gateway.
                        let now = Utc::now();
                        let _ = text::parse_time(sm.schedule_delivery_time.as_str(), now);
                        let _ = text::parse_time(sm.validity_period.as_str(), now);
                        let body = sm.short_message().as_ref();
                        let body = match text::split_udh(body) {
                            Ok((_, rest)) => rest,
                            Err(_) => body,
                        };
                        if let Ok(coding) = text::coding(u8::from(sm.data_coding)) {
                            let _ = text::decode(coding, body);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdu(id: u32, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut v = ((16 + body.len()) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(&id.to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn framing_and_decoding() {
        let mut bind = b"esme\0pw\0\0".to_vec();
        bind.extend_from_slice(&[0x34, 0, 0, 0]);
        let cases: Vec<(Vec<u8>, Result<CommandId, CommandStatus>)> = vec![
            (pdu(0x15, 1, b""), Ok(CommandId::EnquireLink)),
            (pdu(0x09, 2, &bind), Ok(CommandId::BindTransceiver)),
            (pdu(0x7777, 3, b""), Err(CommandStatus::EsmeRinvcmdid)),
            (pdu(0x09, 4, b"esme\0"), Err(CommandStatus::EsmeRinvcmdlen)),
        ];
        for (bytes, want) in cases {
            let mut buf = BytesMut::from(&bytes[..]);
            let Ok(Some(Frame::Pdu(p))) = Framer.decode(&mut buf) else {
                panic!("no frame for {bytes:?}");
            };
            assert_eq!(decode(p).map(|c| c.id()), want, "{bytes:?}");
        }
        for len in [0u32, 15, 1 << 30, u32::MAX] {
            let mut buf = BytesMut::from(&len.to_be_bytes()[..]);
            assert!(matches!(Framer.decode(&mut buf), Ok(Some(Frame::BadLength(l))) if l == len));
        }
        let whole = pdu(0x15, 1, b"");
        let mut buf = BytesMut::from(&whole[..10]);
        assert!(
            matches!(Framer.decode(&mut buf), Ok(None)),
            "truncated: wait for more"
        );
    }

    /// Mutated PDUs through the session's decoding: never a panic (the fuzz
    /// target's check, a few thousand times on every test run).
    #[test]
    fn mutated_pdus_never_panic() {
        let mut sub = b"\0\x05\0src\0\x01\x014915112345678\0\x40\0\x00261202120000000+\x00000001000000000R\0\x01\0\x08\0".to_vec();
        sub.extend_from_slice(&[8, 5, 0, 3, 7, 2, 1, 0, 0x48]);
        let seeds = [
            pdu(0x04, 1, &sub),
            pdu(0x09, 2, b"a\0b\0\0\x34\0\0\0"),
            pdu(0x15, 3, b""),
        ];
        let mut rng = fastrand::Rng::with_seed(14);
        for _ in 0..50_000 {
            let mut v = seeds[rng.usize(..seeds.len())].clone();
            for _ in 0..rng.usize(1..6) {
                match rng.u8(..3) {
                    0 if !v.is_empty() => {
                        let i = rng.usize(..v.len());
                        v[i] = rng.u8(..);
                    }
                    1 if !v.is_empty() => v.truncate(rng.usize(..v.len())),
                    _ => v.push(rng.u8(..)),
                }
            }
            fuzz_one(&v);
        }
    }
}
