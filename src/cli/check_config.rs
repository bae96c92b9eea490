//! `smsgate check-config`: loads and validates the configuration, prints a
//! summary (exit 0) or the one-line `PATH:LINE: KEY: message` error (exit 2).
//! Owns only argument parsing and printing; validation lives in `config`.
use std::path::PathBuf;

use super::CliError;
use crate::config::{Config, DEFAULT_PATH};

#[derive(clap::Args, Debug)]
pub struct CheckConfigArgs {
    /// The configuration file to check.
    #[arg(short = 'c', long = "config", value_name = "PATH", default_value = DEFAULT_PATH)]
    pub config: PathBuf,
}

pub fn run(args: CheckConfigArgs) -> Result<(), CliError> {
    let config = Config::load(&args.config).map_err(|e| CliError::usage(e.to_string()))?;
    print!("{}", config.summary());
    println!("configuration OK");
    Ok(())
}
