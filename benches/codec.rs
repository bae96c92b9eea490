//! Codec throughput: decoding single-part and multipart DELIVERs, and
//! `encode_submit` for a 1-part GSM-7 text, a 3-part text with extension
//! characters and a UCS-2 emoji text. Figures go to BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smsgate::codec::{self, Address, SubmitOptions};
use std::hint::black_box;

const SINGLE: &str =
    "0791447758100650040B915155214365F700004210133295854011D9775D0E1ABFC965507A0E8AC96634";

fn multipart() -> Vec<Vec<u8>> {
    // A 3-part message as a network would deliver it: our SUBMIT parts turned
    // into DELIVERs with the same header and text.
    let to = Address::parse("+15551234567").expect("valid number");
    let text = "Meeting moved to room [B] {3rd floor}; bring the €20 ticket. ".repeat(6);
    let opts = SubmitOptions {
        concat_ref: 0x42,
        ..SubmitOptions::default()
    };
    codec::encode_submit(&to, &text, &opts)
        .expect("encodes")
        .into_iter()
        .map(|p| {
            let d = codec::decode(&p.bytes, None).expect("decodes");
            let codec::Pdu::Submit(s) = d.pdu else {
                unreachable!("encode_submit builds SUBMITs")
            };
            codec::Deliver {
                more_messages: false,
                loop_prevention: false,
                status_report_indication: false,
                reply_path: false,
                originator: to.clone(),
                pid: 0,
                dcs: s.dcs,
                scts: codec::Scts::new(24, 1, 31, 23, 59, 58, 4),
                udh: s.udh,
                data: s.data,
            }
            .encode(Some(
                &Address::parse("+447785016005").expect("valid number"),
            ))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let single = codec::from_hex(SINGLE).expect("hex");
    let parts = multipart();
    assert_eq!(parts.len(), 3);
    let to = Address::parse("+15551234567").expect("valid number");
    let opts = SubmitOptions::default();
    let short = "Your code is 1234. It expires in 10 minutes.";
    let three = "Price: 5€ [ok] {x} ~ | ^ \\ ".repeat(12);
    let emoji = "Hi 😀 see you at 8 🎉👍";
    assert_eq!(codec::count_parts(&three, &opts).expect("splits"), 3);

    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode single-part", |b| {
        b.iter(|| codec::decode(black_box(&single), None))
    });
    g.bench_function("decode 3-part message", |b| {
        b.iter(|| {
            for p in &parts {
                let _ = black_box(codec::decode(black_box(p), None));
            }
        })
    });
    g.bench_function("encode 1-part GSM-7", |b| {
        b.iter(|| codec::encode_submit(&to, black_box(short), &opts))
    });
    g.bench_function("encode 3-part GSM-7 with escapes", |b| {
        b.iter(|| codec::encode_submit(&to, black_box(&three), &opts))
    });
    g.bench_function("encode UCS-2 emoji", |b| {
        b.iter(|| codec::encode_submit(&to, black_box(emoji), &opts))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
