//! `smsgate pdu decode|encode`: offline PDU tools over `codec`. Parses the
//! arguments, calls the codec and prints; no codec logic lives here.

use super::CliError;
use crate::codec::dcs::{Alphabet, MwiKind};
use crate::codec::{
    self, Address, Dcs, Decoded, Pdu, Scts, StatusClass, SubmitOptions, Udh, UserData, Validity,
};
use serde::Serialize;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct PduArgs {
    #[command(subcommand)]
    pub command: PduCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum PduCommand {
    /// Decode an SMS PDU (SMSC prefix present or not) and print its fields.
    Decode(DecodeArgs),
    /// Encode a text as SMS-SUBMIT PDUs, one per part, with their AT+CMGS length.
    Encode(EncodeArgs),
}

#[derive(clap::Args, Debug)]
pub struct DecodeArgs {
    /// The PDU in hex, as +CMGR/+CMGL/+CMT/+CDS print it.
    pub hex: String,
    /// The `<length>` the modem gave (TPDU octets); decides whether the hex
    /// starts with an SMSC prefix. Without it the prefix is assumed present.
    #[arg(long, value_name = "N")]
    pub length: Option<String>,
    /// Print one JSON object instead of the readable dump.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct EncodeArgs {
    /// Destination number: +4915…, plain digits (international from 7 digits), or a short code.
    #[arg(long, value_name = "NUMBER")]
    pub to: String,
    /// The message text.
    #[arg(long)]
    pub text: String,
    /// Request a status report.
    #[arg(long)]
    pub report: bool,
    /// Send as class 0 (flash) message.
    #[arg(long)]
    pub flash: bool,
    /// Validity period: 30m, 12h, 2d, 1w, 1d12h…
    #[arg(long, value_name = "DURATION")]
    pub validity: Option<String>,
    /// SMSC number for the PDU prefix (default: 00, the modem's AT+CSCA).
    #[arg(long, value_name = "NUMBER")]
    pub smsc: Option<String>,
    /// Force UCS-2 even when the text fits the GSM alphabet.
    #[arg(long)]
    pub ucs2: bool,
    /// Concatenation reference for multipart messages.
    #[arg(long, value_name = "N", default_value = "0")]
    pub reference: String,
    /// Print one JSON object per part (seq, total, pdu, length).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: PduArgs) -> Result<(), CliError> {
    let out = std::io::stdout();
    let mut out = out.lock();
    match args.command {
        PduCommand::Decode(a) => decode(a, &mut out),
        PduCommand::Encode(a) => encode(a, &mut out),
    }
}

fn io_err(e: std::io::Error) -> CliError {
    CliError::runtime(format!("cannot write output: {e}"))
}

fn decode(args: DecodeArgs, out: &mut impl Write) -> Result<(), CliError> {
    let length = match &args.length {
        None => None,
        Some(s) => Some(
            s.trim()
                .parse::<usize>()
                .map_err(|_| CliError::usage(format!("--length: {s:?} is not a number")))?,
        ),
    };
    let bytes = codec::from_hex(&args.hex).map_err(|e| CliError::usage(format!("HEX: {e}")))?;
    let decoded = codec::decode(&bytes, length)
        .map_err(|e| CliError::runtime(format!("cannot decode PDU: {e}")))?;
    if args.json {
        let json = serde_json::to_string(&DecodedJson::from(&decoded))
            .map_err(|e| CliError::runtime(format!("cannot serialise: {e}")))?;
        writeln!(out, "{json}").map_err(io_err)
    } else {
        write!(out, "{decoded}").map_err(io_err)
    }
}

/// `pdu decode --json`: one flat object in the JSON conventions of
/// CONTRACT.md (snake_case fields, lower-case enum values, RFC 3339 times).
/// Fields that a PDU type does not have are left out.
#[derive(Debug, Serialize)]
struct DecodedJson {
    #[serde(rename = "type")]
    kind: &'static str,
    /// The SMSC of the prefix; absent for `00` or no prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    smsc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient: Option<String>,
    /// TON and NPI of that address, raw.
    #[serde(skip_serializing_if = "Option::is_none")]
    ton: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    npi: Option<u8>,
    /// TP-MR (SUBMIT, STATUS-REPORT).
    #[serde(skip_serializing_if = "Option::is_none")]
    mr: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u8>,
    /// TP-DCS, raw, with its alphabet, class and indications.
    #[serde(skip_serializing_if = "Option::is_none")]
    dcs: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alphabet: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compressed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mwi: Option<MwiJson>,
    /// SC time stamp (RFC 3339; null when the octets are not a date); for a
    /// report, when the SC received the message. `scts_raw`: the octets.
    #[serde(skip_serializing_if = "Option::is_none")]
    scts: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scts_raw: Option<String>,
    /// TP-DT of a report: delivery or final attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    discharge: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    discharge_raw: Option<String>,
    /// TP-ST of a report: its class (`delivered`, `pending`, `failed`,
    /// `failed_temporary`, `unknown`), raw value and meaning.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_text: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    validity: Option<ValidityJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_report_request: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_report_indication: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reject_duplicates: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    more_messages: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_path: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    udh: Option<UdhJson>,
    /// The decoded text of this part, when the user data is text.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// The user data in hex, when it is binary (8-bit or compressed).
    #[serde(skip_serializing_if = "Option::is_none")]
    binary: Option<String>,
    /// When `text` cannot be encoded back to the same septets (GSM-7) or
    /// octets (UCS-2): those units in hex, as they came.
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_units: Option<String>,
}

#[derive(Debug, Serialize)]
struct MwiJson {
    kind: &'static str,
    active: bool,
    store: bool,
}

#[derive(Debug, Serialize)]
struct ValidityJson {
    format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<u8>,
    /// The period of a relative TP-VP.
    #[serde(skip_serializing_if = "Option::is_none")]
    seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<String>,
}

#[derive(Debug, Serialize)]
struct UdhJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    concat: Option<ConcatJson>,
    elements: Vec<ElementJson>,
}

#[derive(Debug, Serialize)]
struct ConcatJson {
    #[serde(rename = "ref")]
    reference: u16,
    total: u8,
    seq: u8,
    ref16: bool,
}

#[derive(Debug, Serialize)]
struct ElementJson {
    iei: u8,
    data: String,
}

impl DecodedJson {
    fn empty(kind: &'static str, smsc: Option<&Address>) -> DecodedJson {
        DecodedJson {
            kind,
            smsc: smsc.map(ToString::to_string),
            from: None,
            to: None,
            recipient: None,
            ton: None,
            npi: None,
            mr: None,
            pid: None,
            dcs: None,
            alphabet: None,
            class: None,
            compressed: None,
            mwi: None,
            scts: None,
            scts_raw: None,
            discharge: None,
            discharge_raw: None,
            status: None,
            status_code: None,
            status_text: None,
            validity: None,
            status_report_request: None,
            status_report_indication: None,
            reject_duplicates: None,
            more_messages: None,
            reply_path: None,
            udh: None,
            text: None,
            binary: None,
            raw_units: None,
        }
    }

    fn address(&mut self, a: &Address) {
        self.ton = Some(a.ton);
        self.npi = Some(a.npi);
    }

    fn dcs(&mut self, d: Dcs) {
        self.dcs = Some(d.0);
        self.alphabet = Some(match d.alphabet() {
            Alphabet::Gsm7 => "gsm7",
            Alphabet::Eight => "8bit",
            Alphabet::Ucs2 => "ucs2",
            Alphabet::Reserved => "reserved",
        });
        self.class = d.class();
        self.compressed = Some(d.compressed());
        self.mwi = d.mwi().map(|m| MwiJson {
            kind: match m.kind {
                MwiKind::Voicemail => "voicemail",
                MwiKind::Fax => "fax",
                MwiKind::Email => "email",
                MwiKind::Other => "other",
            },
            active: m.active,
            store: m.store,
        });
    }

    fn user_data(&mut self, udh: Option<&Udh>, data: Option<&UserData>) {
        self.udh = udh.map(UdhJson::from);
        match data {
            Some(UserData::Text(t)) => self.text = Some(t.clone()),
            Some(UserData::Binary(b)) => self.binary = Some(codec::to_hex(b)),
            Some(UserData::Lossy { text, raw }) => {
                self.text = Some(text.clone());
                self.raw_units = Some(codec::to_hex(raw));
            }
            None => {}
        }
    }
}

impl From<&Decoded> for DecodedJson {
    fn from(d: &Decoded) -> DecodedJson {
        let smsc = d.smsc.as_ref();
        match &d.pdu {
            Pdu::Deliver(p) => {
                let mut j = DecodedJson::empty("deliver", smsc);
                j.from = Some(p.originator.to_string());
                j.address(&p.originator);
                j.pid = Some(p.pid);
                j.dcs(p.dcs);
                j.scts = Some(rfc3339(&p.scts));
                j.scts_raw = Some(codec::to_hex(&p.scts.raw));
                j.more_messages = Some(p.more_messages);
                j.status_report_indication = Some(p.status_report_indication);
                j.reply_path = Some(p.reply_path);
                j.user_data(p.udh.as_ref(), Some(&p.data));
                j
            }
            Pdu::Submit(p) => {
                let mut j = DecodedJson::empty("submit", smsc);
                j.to = Some(p.destination.to_string());
                j.address(&p.destination);
                j.mr = Some(p.mr);
                j.pid = Some(p.pid);
                j.dcs(p.dcs);
                j.validity = ValidityJson::from(&p.validity);
                j.status_report_request = Some(p.status_report_request);
                j.reject_duplicates = Some(p.reject_duplicates);
                j.reply_path = Some(p.reply_path);
                j.user_data(p.udh.as_ref(), Some(&p.data));
                j
            }
            Pdu::StatusReport(p) => {
                let mut j = DecodedJson::empty("status_report", smsc);
                j.recipient = Some(p.recipient.to_string());
                j.address(&p.recipient);
                j.mr = Some(p.mr);
                j.pid = p.pid;
                if let Some(dcs) = p.dcs {
                    j.dcs(dcs);
                }
                j.scts = Some(rfc3339(&p.scts));
                j.scts_raw = Some(codec::to_hex(&p.scts.raw));
                j.discharge = Some(rfc3339(&p.discharge));
                j.discharge_raw = Some(codec::to_hex(&p.discharge.raw));
                j.status = Some(match p.status.class() {
                    StatusClass::Delivered => "delivered",
                    StatusClass::Pending => "pending",
                    StatusClass::Failed => "failed",
                    StatusClass::FailedTemporary => "failed_temporary",
                    StatusClass::Unknown => "unknown",
                });
                j.status_code = Some(p.status.0);
                j.status_text = Some(p.status.description());
                j.more_messages = Some(p.more_messages);
                j.user_data(p.udh.as_ref(), p.data.as_ref());
                j
            }
        }
    }
}

fn rfc3339(s: &Scts) -> Option<String> {
    s.to_datetime().map(|d| d.to_rfc3339())
}

impl ValidityJson {
    fn from(v: &Validity) -> Option<ValidityJson> {
        let none = ValidityJson {
            format: "relative",
            value: None,
            seconds: None,
            time: None,
            raw: None,
        };
        match v {
            Validity::None => None,
            Validity::Relative(r) => Some(ValidityJson {
                value: Some(*r),
                seconds: Some(Validity::relative_duration(*r).as_secs()),
                ..none
            }),
            Validity::Absolute(s) => Some(ValidityJson {
                format: "absolute",
                time: rfc3339(s),
                raw: Some(codec::to_hex(&s.raw)),
                ..none
            }),
            Validity::Enhanced(e) => Some(ValidityJson {
                format: "enhanced",
                raw: Some(codec::to_hex(e)),
                ..none
            }),
        }
    }
}

impl From<&Udh> for UdhJson {
    fn from(u: &Udh) -> UdhJson {
        UdhJson {
            concat: u.concat().map(|c| ConcatJson {
                reference: c.reference,
                total: c.total,
                seq: c.seq,
                ref16: c.ref16,
            }),
            elements: u
                .elements
                .iter()
                .map(|e| ElementJson {
                    iei: e.iei,
                    data: codec::to_hex(&e.data),
                })
                .collect(),
        }
    }
}

fn encode(args: EncodeArgs, out: &mut impl Write) -> Result<(), CliError> {
    let to = Address::parse(&args.to).map_err(|e| CliError::usage(format!("--to: {e}")))?;
    let smsc = match &args.smsc {
        None => None,
        Some(s) => Some(Address::parse(s).map_err(|e| CliError::usage(format!("--smsc: {e}")))?),
    };
    let validity = match &args.validity {
        None => Validity::None,
        Some(v) => Validity::relative_from(
            crate::config::parse_duration(v)
                .map_err(|e| CliError::usage(format!("--validity: {e}")))?,
        ),
    };
    let concat_ref = args.reference.trim().parse::<u16>().map_err(|_| {
        CliError::usage(format!(
            "--reference: {:?} is not a number 0-65535",
            args.reference
        ))
    })?;
    let opts = SubmitOptions {
        smsc,
        status_report: args.report,
        flash: args.flash,
        validity,
        concat_ref,
        ref16: concat_ref > 0xFF,
        force_ucs2: args.ucs2,
        ..SubmitOptions::default()
    };
    let parts = codec::encode_submit(&to, &args.text, &opts)
        .map_err(|e| CliError::usage(format!("--text: {e}")))?;
    for p in &parts {
        if args.json {
            let obj = serde_json::json!({
                "seq": p.seq,
                "total": p.total,
                "pdu": p.hex(),
                "length": p.tpdu_len,
            });
            writeln!(out, "{obj}").map_err(io_err)?;
        } else {
            writeln!(
                out,
                "part {}/{} AT+CMGS={} {}",
                p.seq,
                p.total,
                p.tpdu_len,
                p.hex()
            )
            .map_err(io_err)?;
        }
    }
    Ok(())
}
