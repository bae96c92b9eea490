//! `smsgate sim`: runs N simulated modems on pseudo-terminals, linked as
//! `DIR/modem0…`, until SIGINT/SIGTERM, then removes the links. Only argument
//! parsing and printing live here; the simulator itself is `crate::sim`.

use std::path::PathBuf;
use std::time::Duration;

use super::CliError;
use crate::sim::{Faults, Network, NetworkOptions, Personality, SimModem, SimSpec};

#[derive(clap::Args, Debug)]
pub struct SimArgs {
    /// How many modems to start.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Directory for the `modem0`, `modem1`… links (created if missing).
    #[arg(long)]
    pub dir: PathBuf,
    /// Modem family to imitate: generic, huawei, simcom, quectel, zte, telit, sierra.
    #[arg(long, default_value = "generic")]
    pub personality: Personality,
    /// Delay before each `+CMGS` answer, e.g. `250ms` or `1s`.
    #[arg(long, value_parser = crate::config::parse_duration, default_value = "0ms")]
    pub latency: Duration,
    /// Seed for the simulated faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Send a noise URC this often (e.g. `5s`), and sprinkle them inside answers.
    #[arg(long, value_parser = crate::config::parse_duration)]
    pub noise: Option<Duration>,
    /// Probability (0 to 1) that an `AT+CMGS` fails with `+CMS ERROR: 500`.
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    pub cms_error_rate: f64,
    /// Probability (0 to 1) that an answer is preceded by garbage.
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    pub garbage_rate: f64,
}

/// A probability between 0 and 1.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
}

/// The simulated number of modem `k`: `+1555000000k`.
pub fn msisdn_for(k: u32) -> String {
    format!("+1555{:07}", k)
}

pub fn run(args: SimArgs) -> Result<(), CliError> {
    if args.count == 0 {
        return Err(CliError::usage("--count must be at least 1"));
    }
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| CliError::runtime(format!("cannot create {}: {e}", args.dir.display())))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the runtime: {e}")))?;
    rt.block_on(serve(args))
}

async fn serve(args: SimArgs) -> Result<(), CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|e| CliError::runtime(format!("cannot watch SIGINT: {e}")))?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|e| CliError::runtime(format!("cannot watch SIGTERM: {e}")))?;
    let net = Network::new(NetworkOptions {
        seed: args.seed,
        ..NetworkOptions::default()
    });
    let mut modems = Vec::new();
    let mut failure = None;
    for k in 0..args.count {
        let mut spec = SimSpec::new(&format!("modem{k}"), args.personality, &msisdn_for(k));
        spec.faults = Faults {
            cmgs_latency: args.latency,
            urc_noise_interval: args.noise,
            cms_error_rate: args.cms_error_rate,
            cms_error_code: 500,
            garbage_rate: args.garbage_rate,
            ..Faults::default()
        };
        let link = args.dir.join(format!("modem{k}"));
        match SimModem::start(&net, spec, Some(link)).await {
            Ok(m) => {
                println!(
                    "{}\t{}\t{}\t{}",
                    m.path().display(),
                    m.pts().display(),
                    m.msisdn(),
                    args.personality
                );
                modems.push(m);
            }
            Err(e) => {
                failure = Some(CliError::runtime(format!("modem{k}: {e}")));
                break;
            }
        }
    }
    if failure.is_none() {
        eprintln!(
            "smsgate sim: {} modem(s) running; Ctrl-C to stop",
            modems.len()
        );
        tokio::select! {
            _ = sigint.recv() => {}
            _ = sigterm.recv() => {}
        }
    }
    for m in modems {
        m.shutdown().await;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cmd {
        #[command(flatten)]
        args: SimArgs,
    }

    #[test]
    fn duration_flags_use_the_config_parser() {
        let table: &[(&str, Option<Duration>)] = &[
            ("250ms", Some(Duration::from_millis(250))),
            ("2s", Some(Duration::from_secs(2))),
            ("1m", Some(Duration::from_secs(60))),
            ("40", None),
            ("x", None),
        ];
        assert!(!table.is_empty());
        for (input, want) in table {
            let got =
                <Cmd as clap::Parser>::try_parse_from(["sim", "--dir", "d", "--latency", input]);
            assert_eq!(got.ok().map(|c| c.args.latency), *want, "{input}");
        }
    }

    #[test]
    fn rates() {
        let table: &[(&str, Option<f64>)] = &[
            ("0", Some(0.0)),
            ("0.25", Some(0.25)),
            ("1", Some(1.0)),
            ("1.5", None),
            ("-0.1", None),
            ("x", None),
        ];
        assert!(!table.is_empty());
        for (input, want) in table {
            assert_eq!(parse_rate(input).ok(), *want, "{input}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(msisdn_for(0), "+15550000000");
        assert_eq!(msisdn_for(3), "+15550000003");
    }
}
