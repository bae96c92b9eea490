#![no_main]
//! Fuzz target for the AT stream parser: arbitrary bytes, pushed in chunks
//! whose sizes come from the input, with and without a command in flight.
//! The parser must never panic and must always make progress.
use libfuzzer_sys::fuzz_target;
use smsgate::at::{InFlight, Parser};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let mut p = Parser::new(vec!["+ZUSIMR:".into()]);
    if ctl & 1 == 1 {
        p.set_in_flight(Some(InFlight {
            echo: "AT+CMGL=4".into(),
            prefixes: vec!["+CMGL:".into(), "+CMGS:".into()],
            data_after: vec!["+CMGL:".into()],
            payload: (ctl & 2 == 2).then(|| "0011".into()),
        }));
    }
    let chunk = usize::from(ctl >> 2).max(1);
    for part in rest.chunks(chunk) {
        p.push(part);
        let mut n = 0usize;
        while p.next_event().is_some() {
            n += 1;
            assert!(n <= part.len() + 2, "more events than bytes");
        }
        assert!(p.buffered() <= smsgate::at::parser::MAX_LINE);
    }
});
