#![no_main]
//! Fuzz target for the smstools3 spool file parser: any bytes give a message
//! or an error, never a panic; an accepted message always has a destination.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = smsgate::spool::parse(data) {
        assert!(m.to.trim_start_matches('+').chars().all(|c| c.is_ascii_digit()));
        assert!(!m.to.trim_start_matches('+').is_empty());
    }
});
