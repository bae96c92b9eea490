//! `smsgate probe DEVICE` / `smsgate probe --all`: runs the modem module's
//! diagnosis ([`crate::modem::probe`]) on one port or on every port the
//! udev rules name, without a daemon, and prints what it found with advice.
//! Exit status: 0 when the probed modem (with `--all`: at least one) has no
//! problem, 1 otherwise.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::CliError;
use crate::modem::probe::{self, Probe, ProbeOptions};

#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// The serial device, e.g. /dev/ttyUSB2 or /dev/smsgate/quectel-1234.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub device: Option<PathBuf>,
    /// Every port in /dev/smsgate, /dev/serial/by-id, ttyUSB* and ttyACM*.
    #[arg(long)]
    pub all: bool,
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// How long each AT command may take.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    #[arg(long)]
    pub json: bool,
    /// A process known to hold the port harmlessly (a serial multiplexer,
    /// a simulator): not reported. Repeatable.
    #[arg(long = "ignore-holder", value_name = "PID")]
    pub ignore: Vec<u32>,
}

pub fn run(args: ProbeArgs) -> Result<(), CliError> {
    let devices = match (&args.device, args.all) {
        (Some(d), _) => vec![d.clone()],
        (None, _) => probe::candidates(Path::new("/dev")),
    };
    if devices.is_empty() {
        return Err(CliError::runtime(
            "no serial ports found (/dev/smsgate, /dev/serial/by-id, ttyUSB*, ttyACM*): \
             is the modem plugged in? `dmesg` shows whether the kernel saw it; a modem \
             in USB storage mode needs usb_modeswitch",
        ));
    }
    let opts = ProbeOptions {
        baud: args.baud,
        timeout: args.timeout,
        ignore: args.ignore,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("tokio runtime: {e}")))?;
    let results: Vec<Probe> = rt.block_on(async {
        let mut v = Vec::new();
        for d in &devices {
            v.push(probe::probe(d, &opts).await);
        }
        v
    });
    if args.json {
        let out = if args.all {
            serde_json::to_string(&results)
        } else {
            serde_json::to_string(&results.first())
        };
        println!("{}", out.map_err(|e| CliError::runtime(e.to_string()))?);
    } else {
        for p in &results {
            println!("{}", render(p));
        }
    }
    let good = results.iter().filter(|p| p.ok).count();
    let fine = if args.all {
        good > 0
    } else {
        good == results.len()
    };
    if fine {
        Ok(())
    } else {
        Err(CliError {
            code: 1,
            message: if args.all {
                "no port has a working modem".into()
            } else {
                "problems found (see above)".into()
            },
        })
    }
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("?")
}

fn yes(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

/// One probe as text: the facts, then each problem with its advice.
pub fn render(p: &Probe) -> String {
    let mut out = format!("{}", p.device.display());
    if let Some(r) = p.resolved.as_ref().filter(|r| **r != p.device) {
        out.push_str(&format!(" (→ {})", r.display()));
    }
    out.push_str(if p.ok { ": OK\n" } else { ": PROBLEMS\n" });
    if p.answers {
        out.push_str(&format!(
            "  modem     {} {} (firmware {}), IMEI {}\n",
            opt(&p.manufacturer),
            opt(&p.model),
            opt(&p.firmware),
            opt(&p.imei)
        ));
        out.push_str(&format!(
            "  SIM       {}, IMSI {}, ICCID {}\n",
            opt(&p.sim),
            opt(&p.imsi),
            opt(&p.iccid)
        ));
        let reg = match p.registration {
            Some(1) => "registered (home)".to_string(),
            Some(5) => "registered (roaming)".to_string(),
            Some(s) if p.registered => format!("registered ({s})"),
            Some(s) => format!("not registered ({s})"),
            None => "registration ?".to_string(),
        };
        out.push_str(&format!(
            "  network   {reg}, operator {}, signal {}/31, SMSC {}\n",
            opt(&p.operator),
            p.signal.map(|s| s.to_string()).unwrap_or("?".into()),
            opt(&p.smsc)
        ));
        out.push_str(&format!(
            "  modes     PDU {}, text {}\n  storage   {}\n",
            yes(p.pdu_mode),
            yes(p.text_mode),
            opt(&p.storage)
        ));
    }
    for f in &p.problems {
        out.push_str(&format!(
            "  problem   {}: {}\n            → {}\n",
            f.problem, f.detail, f.advice
        ));
    }
    out
}
