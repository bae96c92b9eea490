//! Placeholder for this subcommand; filled in by its owner.
use super::CliError;

#[derive(clap::Args, Debug)]
pub struct CheckConfigArgs {}

pub fn run(args: CheckConfigArgs) -> Result<(), CliError> {
    let _ = args;
    Err(CliError::runtime("not built yet"))
}
