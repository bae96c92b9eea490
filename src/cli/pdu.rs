//! Placeholder for this subcommand; filled in by its owner.
use super::CliError;

#[derive(clap::Args, Debug)]
pub struct PduArgs {}

pub fn run(args: PduArgs) -> Result<(), CliError> {
    let _ = args;
    Err(CliError::runtime("not built yet"))
}
