//! `smsgate pdu decode|encode`: offline PDU tools over `codec`. Parses the
//! arguments, calls the codec and prints; no codec logic lives here.

use super::CliError;
use crate::codec::{self, Address, SubmitOptions, Validity};
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
    /// The <length> the modem gave (TPDU octets); decides whether the hex
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
        let json = serde_json::to_string(&decoded)
            .map_err(|e| CliError::runtime(format!("cannot serialise: {e}")))?;
        writeln!(out, "{json}").map_err(io_err)
    } else {
        write!(out, "{decoded}").map_err(io_err)
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
