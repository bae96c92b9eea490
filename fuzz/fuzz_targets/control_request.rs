#![no_main]
//! Fuzz target (filled in with its parser).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
