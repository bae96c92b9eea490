//! The fuzz corpora (`fuzz/corpus/TARGET/`) replayed in the ordinary test
//! suite, through the same checks as the fuzz targets: every input libFuzzer
//! found interesting, and any crash input kept there as a regression, runs on
//! every `cargo test` without a nightly toolchain. The targets themselves are
//! in `fuzz/fuzz_targets/`; how to run them is in `fuzz/README.md`.

use std::path::PathBuf;

use smsgate::at::{InFlight, Parser};
use smsgate::control::protocol::{parse_request, request_line};

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let bytes = std::fs::read(e.path()).expect("read a corpus file");
            (name, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "empty corpus for {target}");
    out
}

#[test]
fn pdu_decode_corpus() {
    for (name, data) in corpus("pdu_decode") {
        let Some((&first, rest)) = data.split_first() else {
            continue;
        };
        let tpdu_len = (first != 0xFF).then_some(usize::from(first));
        if let Ok(d) = smsgate::codec::decode(rest, tpdu_len) {
            assert!(!d.to_string().is_empty(), "{name}");
        }
    }
}

#[test]
fn at_stream_corpus() {
    for (name, data) in corpus("at_stream") {
        let Some((&ctl, rest)) = data.split_first() else {
            continue;
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
                assert!(n <= part.len() + 2, "{name}: more events than bytes");
            }
            assert!(p.buffered() <= smsgate::at::parser::MAX_LINE, "{name}");
        }
    }
}

#[test]
fn spool_file_corpus() {
    let mut accepted = 0usize;
    for (name, data) in corpus("spool_file") {
        if let Ok(m) = smsgate::spool::parse(&data) {
            let digits = m.to.trim_start_matches('+');
            assert!(!digits.is_empty(), "{name}");
            assert!(
                digits.chars().all(|c| c.is_ascii_digit()),
                "{name}: {}",
                m.to
            );
            accepted += 1;
        }
    }
    assert!(
        accepted > 0,
        "no corpus file parses: the corpus lost its seeds"
    );
}

#[test]
fn control_request_corpus() {
    let mut parsed = 0usize;
    for (name, data) in corpus("control_request") {
        match parse_request(&data) {
            Ok(env) => {
                let line = request_line(env.id.clone(), &env.request);
                let again = parse_request(line.trim_end().as_bytes())
                    .unwrap_or_else(|e| panic!("{name}: {line:?} does not parse again: {e:?}"));
                assert_eq!(again.request, env.request, "{name}");
                parsed += 1;
            }
            Err(e) => {
                assert!(!e.reply().to_line().is_empty(), "{name}");
            }
        }
    }
    assert!(
        parsed > 0,
        "no corpus request parses: the corpus lost its seeds"
    );
}

#[test]
fn smpp_session_corpus() {
    for (_name, data) in corpus("smpp_session") {
        smsgate::smpp::session::fuzz_one(&data);
    }
}
