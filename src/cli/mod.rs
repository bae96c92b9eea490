//! Command-line interface: clap definitions and dispatch to each command.
//! Business logic lives in the library modules; each subcommand file here only
//! parses its arguments, calls the library and prints.

pub mod check_config;
pub mod pdu;
pub mod sim;

use clap::{Parser, Subcommand};

/// A failure that ends the command: the message is printed as one line on
/// stderr and the process exits with `code` (1 runtime, 2 usage/config).
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
    /// A runtime failure (exit 1).
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "smsgate",
    version,
    about = "SMS gateway for pools of GSM modems"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate the configuration and print a summary.
    CheckConfig(check_config::CheckConfigArgs),
    /// Offline PDU tools: decode or encode SMS PDUs.
    Pdu(pdu::PduArgs),
    /// Run simulated modems on pseudo-terminals.
    Sim(sim::SimArgs),
}

/// Parses the command line, runs the command and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::CheckConfig(args) => check_config::run(args),
        Command::Pdu(args) => pdu::run(args),
        Command::Sim(args) => sim::run(args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("smsgate: {}", e.message);
            e.code
        }
    }
}
