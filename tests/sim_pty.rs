//! End-to-end tests of the simulated modems through their pty paths, opened with a
//! plain `tokio_serial` port exactly as the daemon opens a device. Every step waits
//! on bytes or events with a timeout; nothing sleeps.

use std::path::Path;
use std::time::Duration;

use smsgate::codec::{self, Address, Pdu, SubmitOptions, Validity};
use smsgate::sim::{
    Faults, NetMessage, Network, NetworkOptions, Personality, SimModem, SimSpec, ALL_PERSONALITIES,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::{SerialPortBuilderExt, SerialStream};

const T: Duration = Duration::from_secs(5);

/// A terminal on a simulated modem: writes commands, collects answers.
struct Term {
    port: SerialStream,
    buf: Vec<u8>,
}

impl Term {
    fn open(path: &Path) -> Term {
        let port = tokio_serial::new(path.to_string_lossy(), 115_200)
            .open_native_async()
            .expect("open the simulated modem's pty");
        Term {
            port,
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.port.write_all(bytes).await.expect("write");
    }

    /// Reads until `pred` holds for the buffer; returns and consumes everything
    /// up to the end of what matched.
    async fn until(&mut self, what: &str, pred: impl Fn(&str) -> Option<usize>) -> String {
        let fut = async {
            loop {
                let text = String::from_utf8_lossy(&self.buf).into_owned();
                if let Some(end) = pred(&text) {
                    let end = end.min(self.buf.len());
                    let taken: Vec<u8> = self.buf.drain(..end).collect();
                    return String::from_utf8_lossy(&taken).into_owned();
                }
                let mut chunk = [0u8; 512];
                let n = self.port.read(&mut chunk).await.expect("read");
                assert!(n > 0, "modem went away while waiting for {what}");
                self.buf.extend_from_slice(&chunk[..n]);
            }
        };
        match tokio::time::timeout(T, fut).await {
            Ok(s) => s,
            Err(_) => panic!(
                "timed out waiting for {what}; have {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    async fn expect(&mut self, needle: &str) -> String {
        let n = needle.to_string();
        self.until(needle, move |t| t.find(&n).map(|i| i + n.len()))
            .await
    }

    /// Sends a command and returns everything up to and including its final result.
    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r").as_bytes()).await;
        self.until(line, final_end).await
    }
}

/// Where the first final result code ends, if there is one.
fn final_end(t: &str) -> Option<usize> {
    let mut best: Option<usize> = None;
    for fin in ["\r\nOK\r\n", "\r\nERROR\r\n", "\r\nCOMMAND NOT SUPPORT\r\n"] {
        if let Some(i) = t.find(fin) {
            best = Some(best.map_or(i + fin.len(), |b: usize| b.min(i + fin.len())));
        }
    }
    for pre in ["\r\n+CME ERROR:", "\r\n+CMS ERROR:"] {
        if let Some(i) = t.find(pre) {
            if let Some(j) = t[i + 2..].find("\r\n") {
                let end = i + 2 + j + 2;
                best = Some(best.map_or(end, |b: usize| b.min(end)));
            }
        }
    }
    if let Some(i) = t.find("\r\n> ") {
        best = Some(best.map_or(i + 4, |b: usize| b.min(i + 4)));
    }
    best
}

async fn modem(net: &Network, p: Personality, msisdn: &str) -> SimModem {
    SimModem::start(net, SimSpec::new("m", p, msisdn), None)
        .await
        .expect("start a simulated modem")
}

/// The usual driver start-up; returns the port after boot noise and ATE0.
async fn init(m: &SimModem) -> Term {
    let mut t = Term::open(&m.path());
    let echoed = t.cmd("ATE0").await;
    assert!(echoed.ends_with("\r\nOK\r\n"), "{echoed:?}");
    assert_eq!(t.cmd("AT+CMEE=1").await, "\r\nOK\r\n");
    assert_eq!(t.cmd("AT+CMGF=0").await, "\r\nOK\r\n");
    t
}

/// The SUBMIT parts for `text` to `to` (relative VP 0xA7, concatenation
/// reference `reference`), each as the hex a PDU-mode `AT+CMGS` carries and
/// its length.
fn submit_parts(to: &str, text: &str, srr: bool, reference: u16) -> Vec<(String, usize)> {
    let to = Address::parse(to).expect("number");
    let opts = SubmitOptions {
        status_report: srr,
        validity: Validity::Relative(0xA7),
        concat_ref: reference,
        ..SubmitOptions::default()
    };
    codec::encode_submit(&to, text, &opts)
        .expect("encodes")
        .iter()
        .map(|p| (p.hex(), p.tpdu_len))
        .collect()
}

/// The one-part SUBMIT for `text` to `to`, as [`submit_parts`] gives it.
fn submit_pdu(to: &str, text: &str, srr: bool) -> (String, usize) {
    submit_parts(to, text, srr, 0).remove(0)
}

/// The DELIVER in a listed or read PDU line (SMSC prefix present).
fn deliver_in(hex: &str) -> codec::Deliver {
    match codec::decode_hex(hex, None).expect("decodes").pdu {
        Pdu::Deliver(d) => d,
        other => panic!("not a DELIVER: {other:?}"),
    }
}

async fn send_sms(t: &mut Term, to: &str, text: &str, srr: bool) -> String {
    let (hex, len) = submit_pdu(to, text, srr);
    let prompt = t.cmd(&format!("AT+CMGS={len}")).await;
    assert!(prompt.ends_with("\r\n> "), "{prompt:?}");
    t.send(format!("{hex}\x1a").as_bytes()).await;
    t.until("+CMGS result", final_end).await
}

/// The number in a `+CMTI: "SM",<n>`-style line.
fn index_in(urc: &str, prefix: &str) -> u32 {
    let i = urc.find(prefix).expect("URC present") + prefix.len();
    let rest = &urc[i..];
    let rest = rest.split(',').nth(1).expect("index");
    rest.trim()
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|s| s.parse().ok())
        .expect("index number")
}

#[tokio::test]
async fn every_personality_answers_the_driver_start_up() {
    let net = Network::new(NetworkOptions::default());
    let table: &[(Personality, &str, &str, &str)] = &[
        (Personality::Generic, "", "SIMULATED", "AT+CCID"),
        (Personality::Huawei, "^SYSSTART", "huawei", "AT^ICCID?"),
        (Personality::Simcom, "SMS Ready", "SIMCOM_Ltd", "AT+CCID"),
        (
            Personality::Quectel,
            "+QIND: PB DONE",
            "Quectel",
            "AT+QCCID",
        ),
        (
            Personality::Zte,
            "+ZPASR:",
            "ZTE CORPORATION",
            "AT+ZGETICCID",
        ),
        (Personality::Telit, "", "Telit", "AT#CCID"),
        (Personality::Sierra, "+WIND: 4", "WAVECOM MODEM", "AT+CCID"),
    ];
    assert_eq!(table.len(), ALL_PERSONALITIES.len());
    for (i, (p, boot, maker, iccid)) in table.iter().enumerate() {
        let m = modem(&net, *p, &format!("+4917000000{i}")).await;
        let mut t = Term::open(&m.path());
        if !boot.is_empty() {
            t.expect(boot).await;
        }
        // Echo is on after boot: the command comes back before the answer.
        let first = t.cmd("AT").await;
        assert!(first.contains("AT\r"), "{p}: {first:?}");
        t.cmd("ATE0").await;
        assert_eq!(t.cmd("AT").await, "\r\nOK\r\n", "{p}");
        assert_eq!(t.cmd("AT+CMEE=1").await, "\r\nOK\r\n", "{p}");
        assert_eq!(
            t.cmd("AT+CPIN?").await,
            "\r\n+CPIN: READY\r\n\r\nOK\r\n",
            "{p}"
        );
        assert_eq!(
            t.cmd("AT+CGMI").await,
            format!("\r\n{maker}\r\n\r\nOK\r\n"),
            "{p}"
        );
        let imei = t.cmd("AT+CGSN").await;
        assert!(imei.starts_with("\r\n35"), "{p}: {imei:?}");
        let imsi = t.cmd("AT+CIMI").await;
        assert!(imsi.starts_with("\r\n00101"), "{p}: {imsi:?}");
        let icc = t.cmd(iccid).await;
        assert!(
            icc.contains("8901001") && icc.ends_with("OK\r\n"),
            "{p}: {icc:?}"
        );
        assert_eq!(t.cmd("AT+CMGF=0").await, "\r\nOK\r\n", "{p}");
        let csca = t.cmd("AT+CSCA?").await;
        assert!(csca.starts_with("\r\n+CSCA: \"+"), "{p}: {csca:?}");
        assert_eq!(
            t.cmd("AT+CSMS=0").await,
            "\r\n+CSMS: 1,1,1\r\n\r\nOK\r\n",
            "{p}"
        );
        assert_eq!(
            t.cmd("AT+CPMS=\"SM\",\"SM\",\"SM\"").await,
            "\r\n+CPMS: 0,30,0,30,0,30\r\n\r\nOK\r\n",
            "{p}"
        );
        assert_eq!(t.cmd("AT+CNMI=2,1,0,2,0").await, "\r\nOK\r\n", "{p}");
        assert_eq!(t.cmd("AT+CREG=2").await, "\r\nOK\r\n", "{p}");
        let creg = t.cmd("AT+CREG?").await;
        assert!(creg.starts_with("\r\n+CREG: 2,1,"), "{p}: {creg:?}");
        assert_eq!(
            t.cmd("AT+CSQ").await,
            "\r\n+CSQ: 20,99\r\n\r\nOK\r\n",
            "{p}"
        );
        let unknown = if *p == Personality::Huawei {
            "\r\nCOMMAND NOT SUPPORT\r\n"
        } else {
            "\r\n+CME ERROR: 4\r\n"
        };
        assert_eq!(t.cmd("AT+BOGUS").await, unknown, "{p}");
        let transcript = m.commands();
        assert!(transcript.contains(&"AT+CSQ".to_string()), "{p}");
        m.shutdown().await;
    }
}

#[tokio::test]
async fn sim_to_sim_delivery_with_cmti_cmgr_cmgd_and_a_status_report() {
    let net = Network::new(NetworkOptions {
        report_status: 0x00,
        ..NetworkOptions::default()
    });
    let a = modem(&net, Personality::Simcom, "+15550000001").await;
    let b = modem(&net, Personality::Huawei, "+15550000002").await;
    let mut ta = init(&a).await;
    let mut tb = init(&b).await;
    ta.cmd("AT+CNMI=2,1,0,2,0").await;
    tb.cmd("AT+CNMI=2,1,0,2,0").await;

    let res = send_sms(&mut ta, "+15550000002", "Hello B", true).await;
    assert_eq!(res, "\r\n+CMGS: 0\r\n\r\nOK\r\n");
    let sent = a.wait_submitted(1, T).await.expect("submitted");
    assert_eq!(sent[0].to, "+15550000002");
    assert_eq!(sent[0].text, "Hello B");

    // B: Huawei stores from index 0.
    let urc = tb.expect("\r\n+CMTI: \"SM\",0\r\n").await;
    let idx = index_in(&urc, "+CMTI:");
    assert_eq!(idx, 0);
    let read = tb.cmd(&format!("AT+CMGR={idx}")).await;
    let mut lines = read.split("\r\n").filter(|l| !l.is_empty());
    let head = lines.next().expect("+CMGR line");
    assert!(head.starts_with("+CMGR: 0,,"), "{read:?}");
    let hexpdu = lines.next().expect("pdu line");
    let bytes = codec::from_hex(hexpdu).expect("hex");
    let tpdu_len: usize = head
        .rsplit(',')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("len");
    let tpdu = &bytes[bytes.len() - tpdu_len..];
    assert_eq!(tpdu[0] & 0x03, 0x00, "a DELIVER");
    let mut oa = Vec::new();
    Address::parse("+15550000001")
        .expect("number")
        .encode_tp(&mut oa);
    assert_eq!(&tpdu[1..9], &oa[..]);
    assert_eq!(b.stored(), 1);
    assert_eq!(tb.cmd(&format!("AT+CMGD={idx}")).await, "\r\nOK\r\n");
    b.wait_stored(0, T).await.expect("deleted");

    // A: the report is stored (ds=2) and announced with +CDSI.
    let urc = ta.expect("\r\n+CDSI: \"SM\",1\r\n").await;
    assert!(urc.contains("+CDSI"));
    let rep = ta.cmd("AT+CMGR=1").await;
    let hexpdu = rep
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .nth(1)
        .expect("pdu");
    let bytes = codec::from_hex(hexpdu).expect("hex");
    let sca = usize::from(bytes[0]) + 1;
    assert_eq!(bytes[sca], 0x06, "STATUS-REPORT first octet");
    assert_eq!(bytes[sca + 1], 0, "MR of the submit");
    assert_eq!(*bytes.last().expect("ST"), 0x00, "TP-ST");
    // The MR counts per SIM.
    let res = send_sms(&mut ta, "+4915112345678", "out", false).await;
    assert_eq!(res, "\r\n+CMGS: 1\r\n\r\nOK\r\n");
    let ext = net.wait_external(1, T).await.expect("external");
    assert_eq!(ext[0].to, "+4915112345678");
    assert_eq!(ext[0].from_msisdn, "+15550000001");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn routed_cmt_and_cds_need_cnma() {
    let net = Network::new(NetworkOptions {
        report_status: 0x46,
        ..NetworkOptions::default()
    });
    let a = modem(&net, Personality::Quectel, "+15550000011").await;
    let b = modem(&net, Personality::Generic, "+15550000012").await;
    let mut ta = init(&a).await;
    let mut tb = init(&b).await;
    ta.cmd("AT+CSMS=1").await;
    ta.cmd("AT+CNMI=2,2,0,1,0").await;
    tb.cmd("AT+CNMI=2,2,0,1,0").await;
    send_sms(&mut ta, "+15550000012", "routed", true).await;
    let cmt = tb.expect("\r\n+CMT: ,").await;
    assert!(cmt.ends_with("+CMT: ,"));
    let rest = tb
        .until("CMT pdu", |t| {
            let first = t.find("\r\n")?;
            t[first + 2..].find("\r\n").map(|j| first + 2 + j + 2)
        })
        .await;
    let mut parts = rest.split("\r\n");
    let len: usize = parts.next().and_then(|s| s.parse().ok()).expect("len");
    let bytes = codec::from_hex(parts.next().expect("pdu")).expect("hex");
    assert!(bytes.len() > len);
    assert_eq!(b.stored(), 0, "routed, not stored");
    // A gets +CDS with TP-ST 0x46 and must acknowledge it.
    let cds = ta.expect("\r\n+CDS: ").await;
    assert!(cds.contains("+CDS"));
    let rest = ta
        .until("CDS pdu", |t| {
            let first = t.find("\r\n")?;
            t[first + 2..].find("\r\n").map(|j| first + 2 + j + 2)
        })
        .await;
    let hexpdu = rest.split("\r\n").nth(1).expect("pdu");
    assert!(hexpdu.ends_with("46"), "{hexpdu}");
    assert_eq!(ta.cmd("AT+CNMA").await, "\r\nOK\r\n");
    assert_eq!(ta.cmd("AT+CNMA").await, "\r\n+CMS ERROR: 340\r\n");
}

#[tokio::test]
async fn unplug_removes_the_pts_and_replug_boots_a_new_one_behind_the_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("modem0");
    let net = Network::new(NetworkOptions::default());
    let m = SimModem::start(
        &net,
        SimSpec::new("modem0", Personality::Simcom, "+15550000021"),
        Some(link.clone()),
    )
    .await
    .expect("start");
    assert_eq!(m.path(), link);
    let first_pts = std::fs::read_link(&link).expect("link");
    assert_eq!(first_pts, m.pts());
    let mut t = Term::open(&link);
    t.expect("SMS Ready").await;
    assert!(t.cmd("AT").await.ends_with("OK\r\n"));

    m.unplug().await;
    assert!(!first_pts.exists(), "the pts disappears");
    assert!(!link.exists(), "the link goes with it");
    let mut chunk = [0u8; 64];
    let r = tokio::time::timeout(T, t.port.read(&mut chunk))
        .await
        .expect("read returns");
    match r {
        Ok(0) => {}
        Err(e) => assert_eq!(e.raw_os_error(), Some(nix::libc::EIO), "{e}"),
        Ok(n) => panic!("read {n} bytes from an unplugged modem"),
    }
    drop(t);

    m.replug().await.expect("replug");
    let target = std::fs::read_link(&link).expect("link again");
    assert_eq!(target, m.pts());
    let mut t = Term::open(&link);
    t.expect("SMS Ready").await;
    assert!(t.cmd("AT").await.ends_with("OK\r\n"));
    m.shutdown().await;
}

#[tokio::test]
async fn storage_full_holds_messages_in_the_network_until_a_slot_frees() {
    let net = Network::new(NetworkOptions::default());
    let mut spec = SimSpec::new("full", Personality::Generic, "+15550000031");
    spec.storage_slots = 2;
    let m = SimModem::start(&net, spec, None).await.expect("start");
    let mut t = init(&m).await;
    t.cmd("AT+CNMI=2,1,0,0,0").await;
    for i in 0..3 {
        net.inject("+4930123456", "+15550000031", &format!("msg {i}"))
            .expect("inject");
    }
    t.expect("+CMTI: \"SM\",2\r\n").await;
    assert_eq!(m.stored(), 2);
    assert_eq!(m.waiting(), 1);
    assert_eq!(
        t.cmd("AT+CPMS?").await,
        "\r\n+CPMS: \"SM\",2,2,\"SM\",2,2,\"SM\",2,2\r\n\r\nOK\r\n"
    );
    // Writing to a full store is refused like a real modem does.
    let (hex, len) = submit_pdu("+4930123456", "draft", false);
    t.cmd(&format!("AT+CMGW={len}")).await;
    t.send(format!("{hex}\x1a").as_bytes()).await;
    assert_eq!(t.until("CMGW", final_end).await, "\r\n+CMS ERROR: 322\r\n");
    // Deleting one lets the waiting message in.
    assert_eq!(t.cmd("AT+CMGD=1").await, "\r\nOK\r\n");
    t.expect("\r\n+CMTI: \"SM\",1\r\n").await;
    assert_eq!(m.waiting(), 0);
    assert_eq!(m.stored(), 2);
    // The storage_full fault behaves the same with free slots.
    t.cmd("AT+CMGD=1,4").await;
    m.set_faults(Faults {
        storage_full: true,
        ..Faults::default()
    });
    net.inject("+4930123456", "+15550000031", "held")
        .expect("inject");
    assert_eq!(m.waiting(), 1);
    m.set_faults(Faults::default());
    t.expect("+CMTI: \"SM\",1\r\n").await;
    let list = t.cmd("AT+CMGL=4").await;
    assert_eq!(list.matches("+CMGL: ").count(), 1, "{list:?}");
}

#[tokio::test]
async fn long_injected_text_arrives_in_parts() {
    let net = Network::new(NetworkOptions::default());
    let m = modem(&net, Personality::Telit, "+15550000041").await;
    let mut t = init(&m).await;
    t.cmd("AT+CNMI=2,1,0,0,0").await;
    let text = "x".repeat(200);
    net.inject("+4930123456", "+15550000041", &text)
        .expect("inject");
    t.expect("+CMTI: \"SM\",2\r\n").await;
    let list = t.cmd("AT+CMGL=4").await;
    let mut joined = String::new();
    for l in list
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with('+') && *l != "OK")
    {
        let d = deliver_in(l);
        assert!(d.concat().is_some(), "{l}");
        joined.push_str(d.data.text().expect("text"));
    }
    assert_eq!(joined, text);
}

#[tokio::test]
async fn text_mode_send_and_read() {
    let net = Network::new(NetworkOptions::default());
    let a = modem(&net, Personality::Sierra, "+15550000051").await;
    let b = modem(&net, Personality::Zte, "+15550000052").await;
    let mut ta = init(&a).await;
    let mut tb = init(&b).await;
    ta.cmd("AT+CMGF=1").await;
    tb.cmd("AT+CMGF=1").await;
    tb.cmd("AT+CNMI=2,1,0,0,0").await;
    let p = ta.cmd("AT+CMGS=\"+15550000052\"").await;
    assert!(p.ends_with("> "));
    ta.send(b"text mode hi\x1a").await;
    assert_eq!(
        ta.until("CMGS", final_end).await,
        "\r\n+CMGS: 0\r\n\r\nOK\r\n"
    );
    tb.expect("+CMTI: \"SM\",1\r\n").await;
    let r = tb.cmd("AT+CMGR=1").await;
    assert!(
        r.starts_with("\r\n+CMGR: \"REC UNREAD\",\"+15550000051\",,\""),
        "{r:?}"
    );
    assert!(r.contains("\r\ntext mode hi\r\n"), "{r:?}");
    let l = tb.cmd("AT+CMGL=\"ALL\"").await;
    assert!(l.contains("+CMGL: 1,\"REC READ\""), "{l:?}");
}

#[tokio::test]
async fn pin_lock_counts_tries_and_falls_to_puk() {
    let net = Network::new(NetworkOptions::default());
    let mut spec = SimSpec::new("pin", Personality::Generic, "+15550000061");
    spec.pin = Some("1234".into());
    let m = SimModem::start(&net, spec, None).await.expect("start");
    let mut t = init(&m).await;
    assert_eq!(t.cmd("AT+CPIN?").await, "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n");
    assert_eq!(t.cmd("AT+CIMI").await, "\r\n+CME ERROR: 11\r\n");
    assert_eq!(t.cmd("AT+CMGL=4").await, "\r\n+CMS ERROR: 311\r\n");
    for _ in 0..3 {
        assert_eq!(t.cmd("AT+CPIN=\"0000\"").await, "\r\n+CME ERROR: 16\r\n");
    }
    assert_eq!(t.cmd("AT+CPIN?").await, "\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n");
    assert_eq!(t.cmd("AT+CPIN=\"12345678\",\"4321\"").await, "\r\nOK\r\n");
    assert_eq!(t.cmd("AT+CPIN?").await, "\r\n+CPIN: READY\r\n\r\nOK\r\n");
    // After a reset the SIM asks for the new PIN.
    let reset = t.cmd("AT+CFUN=1,1").await;
    assert_eq!(reset, "\r\nOK\r\n");
    t.cmd("ATE0").await;
    assert_eq!(t.cmd("AT+CPIN?").await, "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n");
    assert_eq!(t.cmd("AT+CPIN=\"4321\"").await, "\r\nOK\r\n");
}

#[tokio::test]
async fn cms_error_fault_latency_and_escape() {
    let net = Network::new(NetworkOptions::default());
    let m = modem(&net, Personality::Simcom, "+15550000071").await;
    let mut t = init(&m).await;
    m.set_faults(Faults {
        cms_error_rate: 1.0,
        cms_error_code: 500,
        cmgs_latency: Duration::from_millis(50),
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    assert_eq!(
        send_sms(&mut t, "+4930123456", "x", false).await,
        "\r\n+CMS ERROR: 500\r\n"
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(m.submitted().is_empty());
    m.set_faults(Faults::default());
    let p = t.cmd("AT+CMGS=20").await;
    assert!(p.ends_with("> "));
    t.send(b"0011\x1b").await;
    assert_eq!(t.until("ESC", final_end).await, "\r\nOK\r\n");
    assert!(m.submitted().is_empty());
    assert_eq!(
        send_sms(&mut t, "+4930123456", "y", false).await,
        "\r\n+CMGS: 0\r\n\r\nOK\r\n"
    );
}

#[tokio::test]
async fn no_answer_garbage_echo_and_noise_faults() {
    let net = Network::new(NetworkOptions {
        seed: 7,
        ..NetworkOptions::default()
    });
    let m = modem(&net, Personality::Huawei, "+15550000081").await;
    let mut t = init(&m).await;
    m.set_faults(Faults {
        no_answer_rate: 1.0,
        ..Faults::default()
    });
    t.send(b"AT\r").await;
    m.wait_commands(4, T).await.expect("the AT arrived");
    m.set_faults(Faults {
        echo: true,
        ..Faults::default()
    });
    // The dropped AT got nothing; the next command is echoed despite ATE0.
    let r = t.cmd("AT+CSQ").await;
    assert_eq!(r, "AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
    assert_eq!(
        m.commands().iter().filter(|c| c.as_str() == "AT").count(),
        1
    );
    m.set_faults(Faults {
        garbage_rate: 1.0,
        ..Faults::default()
    });
    let r = t.cmd("AT").await;
    assert!(
        r.len() > "\r\nOK\r\n".len(),
        "garbage before the answer: {r:?}"
    );
    m.set_faults(Faults {
        urc_noise_interval: Some(Duration::from_millis(20)),
        ..Faults::default()
    });
    // Background noise arrives on its own.
    t.until("noise URC", |s| {
        [
            "^RSSI", "+CREG: 1", "RING", "+QIND", "^MODE", "^SRVST", "^BOOT",
        ]
        .iter()
        .filter_map(|n| s.find(n).map(|i| i + n.len()))
        .min()
    })
    .await;
    m.set_faults(Faults::default());
}

#[tokio::test]
async fn ussd_answer_is_packed_on_huawei_and_plain_elsewhere() {
    let net = Network::new(NetworkOptions::default());
    let table: &[(Personality, &str)] = &[
        (Personality::Huawei, "+CUSD: 0,\"C2303BEC1E97"),
        (Personality::Quectel, "+CUSD: 0,\"Balance: 12.34 EUR\",15"),
    ];
    assert!(!table.is_empty());
    for (i, (p, want)) in table.iter().enumerate() {
        let m = modem(&net, *p, &format!("+1555000009{i}")).await;
        let mut t = init(&m).await;
        assert_eq!(t.cmd("AT+CUSD=1,\"*100#\",15").await, "\r\nOK\r\n");
        t.expect(want).await;
    }
}

fn _assert_types(_: NetMessage) {}

#[tokio::test]
async fn delayed_report_and_reset_noise() {
    let net = Network::new(NetworkOptions {
        report_delay: Duration::from_millis(100),
        report_status: 0x00,
        seed: 3,
    });
    let m = modem(&net, Personality::Simcom, "+15550000101").await;
    let mut t = init(&m).await;
    t.cmd("AT+CNMI=2,1,0,2,0").await;
    let started = std::time::Instant::now();
    let res = send_sms(&mut t, "+4930123456", "with report", true).await;
    assert_eq!(
        res, "\r\n+CMGS: 0\r\n\r\nOK\r\n",
        "the answer comes before the report"
    );
    t.expect("\r\n+CDSI: \"SM\",1\r\n").await;
    assert!(started.elapsed() >= Duration::from_millis(100));
    // Nobody else sent anything: waiting for a second external message times out.
    let err = net
        .wait_external(2, Duration::from_millis(50))
        .await
        .expect_err("only one message went out");
    assert!(err.to_string().contains("have 1"), "{err}");
    // A reset boots again: OK, then the boot noise, and echo is back on.
    assert_eq!(t.cmd("AT+CFUN=1,1").await, "\r\nOK\r\n");
    t.expect("\r\nSMS Ready\r\n").await;
    let echoed = t.cmd("AT").await;
    assert_eq!(echoed, "AT\r\r\nOK\r\n");
}

#[tokio::test]
async fn the_port_can_be_closed_and_opened_again() {
    let net = Network::new(NetworkOptions::default());
    let m = modem(&net, Personality::Telit, "+15550000111").await;
    let mut t = init(&m).await;
    assert_eq!(t.cmd("AT+CSQ").await, "\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
    // A second opener is refused while the first holds the port (flock).
    assert!(tokio_serial::new(m.path().to_string_lossy(), 115_200)
        .open_native_async()
        .is_err());
    drop(t);
    // The harness still holds the slave, so the modem survives the close.
    let mut t = Term::open(&m.path());
    assert_eq!(
        t.cmd("AT").await,
        "\r\nOK\r\n",
        "settings kept: echo still off"
    );
    m.shutdown().await;
}

#[tokio::test]
async fn concatenated_parts_travel_sim_to_sim_untouched() {
    let net = Network::new(NetworkOptions::default());
    let a = modem(&net, Personality::Quectel, "+15550000121").await;
    let b = modem(&net, Personality::Sierra, "+15550000122").await;
    let mut ta = init(&a).await;
    let mut tb = init(&b).await;
    tb.cmd("AT+CNMI=2,1,0,0,0").await;
    let text = "0123456789".repeat(20);
    let parts = submit_parts("+15550000122", &text, false, 0x5A);
    assert_eq!(parts.len(), 2);
    for (hex, len) in &parts {
        let prompt = ta.cmd(&format!("AT+CMGS={len}")).await;
        assert!(prompt.ends_with("> "));
        ta.send(format!("{hex}\x1a").as_bytes()).await;
        assert!(ta.until("CMGS", final_end).await.contains("+CMGS: "));
    }
    let sent = a.wait_submitted(2, T).await.expect("two parts");
    let concat: Vec<_> = sent.iter().map(|m| m.concat).collect();
    assert_eq!(concat, vec![Some((0x5A, 2, 1)), Some((0x5A, 2, 2))]);
    tb.expect("+CMTI: \"SM\",2\r\n").await;
    let list = tb.cmd("AT+CMGL=4").await;
    let mut joined = String::new();
    for l in list
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with('+') && *l != "OK")
    {
        let d = deliver_in(l);
        assert!(d.udh.is_some(), "UDHI kept");
        joined.push_str(d.data.text().expect("text"));
    }
    assert_eq!(joined, text);
}

#[tokio::test]
async fn wavecom_keeps_status_reports_in_sr_memory() {
    let net = Network::new(NetworkOptions::default());
    let m = modem(&net, Personality::Sierra, "+15550000131").await;
    let mut t = init(&m).await;
    t.cmd("AT+CNMI=2,1,0,2,0").await;
    send_sms(&mut t, "+4930123456", "report me", true).await;
    t.expect("\r\n+CDSI: \"SR\",1\r\n").await;
    // Not in SM...
    assert_eq!(t.cmd("AT+CMGR=1").await, "\r\nOK\r\n");
    assert_eq!(
        t.cmd("AT+CPMS=\"SR\",\"SM\",\"SM\"").await,
        "\r\n+CPMS: 1,30,0,30,0,30\r\n\r\nOK\r\n"
    );
    // ...but in SR.
    let r = t.cmd("AT+CMGR=1").await;
    let hexpdu = r
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .nth(1)
        .expect("pdu");
    let b = codec::from_hex(hexpdu).expect("hex");
    assert_eq!(b[usize::from(b[0]) + 1] & 0x03, 0x02, "a STATUS-REPORT");
    assert_eq!(t.cmd("AT+CMGD=1").await, "\r\nOK\r\n");
    assert_eq!(m.stored(), 0);
}
