//! The SMPP session's handling of bytes from a client: framing by
//! command_length, header, rusmpp decoding, and what a submit_sm's fields go
//! through before the gateway (times, UDH, data_coding). Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smsgate::smpp::session::fuzz_one(data);
});
