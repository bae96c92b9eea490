//! The `smsgate` binary: parses the command line and maps the outcome to an
//! exit code (0 success, 1 runtime failure, 2 usage or configuration error).
fn main() {
    std::process::exit(smsgate::cli::main())
}
