//! Fuzz target for the PDU decoder (`smsgate::codec::decode`): any octets,
//! with the first octet choosing the `<length>` a modem would have given
//! (0xFF: none, SMSC prefix assumed). Decoding must never panic, and a decoded
//! PDU must print.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let tpdu_len = if first == 0xFF {
        None
    } else {
        Some(usize::from(first))
    };
    if let Ok(d) = smsgate::codec::decode(rest, tpdu_len) {
        let _ = d.to_string();
    }
});
