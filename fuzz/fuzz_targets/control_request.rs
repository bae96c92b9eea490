#![no_main]
//! Fuzz target: the control socket's request parser. Any bytes must give an
//! envelope or an error reply, never a panic; a parsed request must survive a
//! serialise/parse round trip unchanged.
use libfuzzer_sys::fuzz_target;
use smsgate::control::protocol::{parse_request, request_line};

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(env) => {
            let line = request_line(env.id.clone(), &env.request);
            let again = parse_request(line.trim_end().as_bytes()).expect("round trip parses");
            assert_eq!(again.request, env.request);
        }
        Err(e) => {
            let _ = e.reply().to_line();
        }
    }
});
