//! Pure writers of smstools3-format files, so scripts written for smstools3's
//! `sent/`, `failed/`, `incoming/` and `report/` directories (and its
//! eventhandler samples) keep working: header lines `Name: value`, one blank
//! line, the body. Owns only the bytes; the daemon decides file names and
//! directories (`spool.sent_dir`, …) and writes them.
//!
//! Differences from smstools3, on purpose: bodies are always UTF-8 and say so
//! with `Alphabet: UTF-8` (smstools3 defaults to ISO-8859-15); header values
//! never contain control characters (a sender name cannot inject headers).
//! Time stamps use smstools3's default `yy-mm-dd hh:mm:ss` in the offset given.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};

/// The smstools3 default `datetime_format`.
const TIME_FORMAT: &str = "%y-%m-%d %H:%M:%S";

/// The message as it was queued.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// `+<digits>` or plain digits; written the smstools3 way (no `+`).
    pub to: &'a str,
    pub text: &'a str,
    pub flash: bool,
    pub report: bool,
    pub queue: Option<&'a str>,
}

/// What happened when it was sent.
#[derive(Debug, Clone)]
pub struct SentInfo<'a> {
    pub modem: &'a str,
    pub sent_at: DateTime<FixedOffset>,
    /// Time from the first `AT+CMGS` to the last answer.
    pub sending_time: Duration,
    /// TP-MR of the last part (smstools3's default `messageids = 2`).
    pub message_id: Option<u16>,
    pub imsi: Option<&'a str>,
    pub imei: Option<&'a str>,
}

/// Why it failed.
#[derive(Debug, Clone)]
pub struct FailedInfo<'a> {
    pub modem: Option<&'a str>,
    pub failed_at: DateTime<FixedOffset>,
    pub reason: &'a str,
    pub imsi: Option<&'a str>,
    pub imei: Option<&'a str>,
}

/// A received message.
#[derive(Debug, Clone)]
pub struct Received<'a> {
    pub from: &'a str,
    pub from_smsc: Option<&'a str>,
    /// The SMSC time stamp (TP-SCTS).
    pub sent_at: DateTime<FixedOffset>,
    pub received_at: DateTime<FixedOffset>,
    pub modem: &'a str,
    pub imsi: Option<&'a str>,
    pub imei: Option<&'a str>,
    /// The sender asked for a status report.
    pub report: bool,
    pub flash: bool,
    /// Some parts never arrived.
    pub incomplete: bool,
    pub text: &'a str,
}

/// A status report.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    /// The recipient of the original message (TP-RA).
    pub recipient: &'a str,
    pub from_smsc: Option<&'a str>,
    /// When the SC received the original message (TP-SCTS).
    pub sent_at: DateTime<FixedOffset>,
    pub received_at: DateTime<FixedOffset>,
    pub modem: &'a str,
    pub imsi: Option<&'a str>,
    pub imei: Option<&'a str>,
    /// TP-MR of the part the report is about.
    pub message_id: u16,
    /// TP-DT.
    pub discharge_at: DateTime<FixedOffset>,
    /// TP-ST.
    pub status: u8,
}

fn clean(v: &str) -> String {
    v.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// smstools3 writes numbers without `+`.
fn number(n: &str) -> String {
    clean(n.strip_prefix('+').unwrap_or(n))
}

fn header(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(out, "{name}: {}", clean(value));
}

fn opt(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        header(out, name, v);
    }
}

fn time(t: &DateTime<FixedOffset>) -> String {
    t.format(TIME_FORMAT).to_string()
}

fn outgoing_headers(out: &mut String, m: &Outgoing) {
    header(out, "To", &number(m.to));
    if m.flash {
        header(out, "Flash", "yes");
    }
    if m.report {
        header(out, "Report", "yes");
    }
    opt(out, "Queue", m.queue);
    header(out, "Alphabet", "UTF-8");
}

fn finish(mut out: String, body: &str) -> Vec<u8> {
    out.push('\n');
    out.push_str(body);
    out.into_bytes()
}

/// A `sent/` copy: `Modem`, `Sent`, `Sending_time`, `Message_id`, `IMSI`,
/// `IMEI` above the message's own headers, then the text.
pub fn format_sent(m: &Outgoing, s: &SentInfo) -> Vec<u8> {
    let mut out = String::new();
    header(&mut out, "Modem", s.modem);
    header(&mut out, "Sent", &time(&s.sent_at));
    header(
        &mut out,
        "Sending_time",
        &s.sending_time.as_secs().to_string(),
    );
    if let Some(id) = s.message_id {
        header(&mut out, "Message_id", &id.to_string());
    }
    opt(&mut out, "IMSI", s.imsi);
    opt(&mut out, "IMEI", s.imei);
    outgoing_headers(&mut out, m);
    finish(out, m.text)
}

/// A `failed/` copy: `Modem` (when one tried), `Failed`, `Fail_reason`,
/// `IMSI`, `IMEI` above the message's own headers, then the text.
pub fn format_failed(m: &Outgoing, f: &FailedInfo) -> Vec<u8> {
    let mut out = String::new();
    opt(&mut out, "Modem", f.modem);
    header(&mut out, "Failed", &time(&f.failed_at));
    header(&mut out, "Fail_reason", f.reason);
    opt(&mut out, "IMSI", f.imsi);
    opt(&mut out, "IMEI", f.imei);
    outgoing_headers(&mut out, m);
    finish(out, m.text)
}

/// The headers smstools3 writes on every received file.
struct Common<'a> {
    from: &'a str,
    from_smsc: Option<&'a str>,
    sent: &'a DateTime<FixedOffset>,
    received: &'a DateTime<FixedOffset>,
    modem: &'a str,
    imsi: Option<&'a str>,
    imei: Option<&'a str>,
}

fn received_headers(out: &mut String, c: &Common) {
    header(out, "From", &number(c.from));
    if let Some(s) = c.from_smsc {
        header(out, "From_SMSC", &number(s));
    }
    header(out, "Sent", &time(c.sent));
    header(out, "Received", &time(c.received));
    header(out, "Subject", c.modem);
    header(out, "Modem", c.modem);
    opt(out, "IMSI", c.imsi);
    opt(out, "IMEI", c.imei);
}

/// An `incoming/` file for a received message.
pub fn format_received(r: &Received) -> Vec<u8> {
    let mut out = String::new();
    received_headers(
        &mut out,
        &Common {
            from: r.from,
            from_smsc: r.from_smsc,
            sent: &r.sent_at,
            received: &r.received_at,
            modem: r.modem,
            imsi: r.imsi,
            imei: r.imei,
        },
    );
    header(&mut out, "Report", if r.report { "yes" } else { "no" });
    if r.flash {
        header(&mut out, "Flash", "yes");
    }
    if r.incomplete {
        header(&mut out, "Incomplete", "yes");
    }
    header(&mut out, "Alphabet", "UTF-8");
    header(&mut out, "Length", &r.text.chars().count().to_string());
    finish(out, r.text)
}

/// A `report/` file: the received-file headers, then a body of
/// `SMS STATUS REPORT`, `Message_id`, `Discharge_timestamp` and
/// `Status: <code>,<category>,<text>`.
pub fn format_report(r: &Report) -> Vec<u8> {
    let mut out = String::new();
    received_headers(
        &mut out,
        &Common {
            from: r.recipient,
            from_smsc: r.from_smsc,
            sent: &r.sent_at,
            received: &r.received_at,
            modem: r.modem,
            imsi: r.imsi,
            imei: r.imei,
        },
    );
    header(&mut out, "Alphabet", "ISO");
    let (category, text) = status_text(r.status);
    let body = format!(
        "SMS STATUS REPORT\nMessage_id: {}\nDischarge_timestamp: {}\nStatus: {},{},{}\n",
        r.message_id,
        time(&r.discharge_at),
        r.status,
        category,
        text
    );
    header(&mut out, "Length", &body.chars().count().to_string());
    finish(out, &body)
}

/// TP-ST (3GPP TS 23.040 §9.2.3.15) as `(category, text)`.
pub fn status_text(st: u8) -> (&'static str, &'static str) {
    let category = match st {
        0x00..=0x1F => "Ok",
        0x20..=0x3F => "Temporary error, still trying",
        0x40..=0x5F => "Permanent error, gave up",
        _ => "Temporary error, gave up",
    };
    let text = match st {
        0x00 => "Short message received by the SME",
        0x01 => "Forwarded, delivery not confirmed",
        0x02 => "Replaced by the SC",
        0x20 | 0x60 => "Congestion",
        0x21 | 0x61 => "SME busy",
        0x22 | 0x62 => "No response from SME",
        0x23 | 0x63 => "Service rejected",
        0x24 | 0x44 | 0x64 => "Quality of service not available",
        0x25 | 0x65 => "Error in SME",
        0x40 => "Remote procedure error",
        0x41 => "Incompatible destination",
        0x42 => "Connection rejected by SME",
        0x43 => "Not obtainable",
        0x45 => "No interworking available",
        0x46 => "SM validity period expired",
        0x47 => "SM deleted by originating SME",
        0x48 => "SM deleted by SC administration",
        0x49 => "SM does not exist",
        _ => "Reserved or SC-specific",
    };
    (category, text)
}

/// A file name for `incoming/` the smstools3 way: `<modem>.<6 random chars>`.
pub fn incoming_name(modem: &str) -> String {
    let mut s = String::with_capacity(modem.len() + 7);
    s.push_str(modem);
    s.push('.');
    for _ in 0..6 {
        s.push(fastrand::alphanumeric());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::format::parse;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).expect("test time")
    }

    fn check(name: &str, got: Vec<u8>, want: &str) {
        assert_eq!(String::from_utf8(got).expect("utf-8"), want, "{name}");
    }

    #[test]
    fn writers_table() {
        let m = Outgoing {
            to: "+491701234567",
            text: "Grüße\nzwei",
            flash: true,
            report: true,
            queue: Some("bulk"),
        };
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "sent",
                format_sent(&m, &SentInfo { modem: "sim1", sent_at: t("2026-11-25T19:00:01+01:00"), sending_time: Duration::from_secs(4), message_id: Some(12), imsi: Some("262011234567890"), imei: Some("351234567890123") }),
                "Modem: sim1\nSent: 26-11-25 19:00:01\nSending_time: 4\nMessage_id: 12\nIMSI: 262011234567890\nIMEI: 351234567890123\nTo: 491701234567\nFlash: yes\nReport: yes\nQueue: bulk\nAlphabet: UTF-8\n\nGrüße\nzwei",
            ),
            (
                "failed",
                format_failed(&m, &FailedInfo { modem: None, failed_at: t("2026-11-25T19:00:01+00:00"), reason: "no modem\nfor +49", imsi: None, imei: None }),
                "Failed: 26-11-25 19:00:01\nFail_reason: no modem for +49\nTo: 491701234567\nFlash: yes\nReport: yes\nQueue: bulk\nAlphabet: UTF-8\n\nGrüße\nzwei",
            ),
            (
                "received",
                format_received(&Received { from: "+4917099", from_smsc: Some("+491710760000"), sent_at: t("2026-11-25T18:59:58+01:00"), received_at: t("2026-11-25T19:00:03+01:00"), modem: "sim2", imsi: None, imei: None, report: false, flash: false, incomplete: true, text: "€ ok" }),
                "From: 4917099\nFrom_SMSC: 491710760000\nSent: 26-11-25 18:59:58\nReceived: 26-11-25 19:00:03\nSubject: sim2\nModem: sim2\nReport: no\nIncomplete: yes\nAlphabet: UTF-8\nLength: 4\n\n€ ok",
            ),
            (
                "report",
                format_report(&Report { recipient: "+4917099", from_smsc: None, sent_at: t("2026-11-25T18:59:58+01:00"), received_at: t("2026-11-25T19:00:09+01:00"), modem: "sim1", imsi: None, imei: None, message_id: 12, discharge_at: t("2026-11-25T19:00:05+01:00"), status: 0 }),
                "From: 4917099\nSent: 26-11-25 18:59:58\nReceived: 26-11-25 19:00:09\nSubject: sim1\nModem: sim1\nAlphabet: ISO\nLength: 119\n\nSMS STATUS REPORT\nMessage_id: 12\nDischarge_timestamp: 26-11-25 19:00:05\nStatus: 0,Ok,Short message received by the SME\n",
            ),
        ];
        assert!(!cases.is_empty());
        for (name, got, want) in cases {
            check(name, got, want);
        }
    }

    #[test]
    fn sent_copy_reads_back_as_a_spool_file() {
        let m = Outgoing {
            to: "+491701234567",
            text: "hello",
            flash: false,
            report: false,
            queue: None,
        };
        let s = SentInfo {
            modem: "sim1",
            sent_at: t("2026-11-25T19:00:01+00:00"),
            sending_time: Duration::ZERO,
            message_id: None,
            imsi: None,
            imei: None,
        };
        let back = parse(&format_sent(&m, &s)).expect("parses");
        assert_eq!(back.to, "+491701234567");
        assert_eq!(back.text, "hello");
        assert_eq!(back.modem.as_deref(), Some("sim1"));
    }

    #[test]
    fn status_texts() {
        let cases: &[(u8, &str)] = &[
            (0x00, "Ok"),
            (0x21, "Temporary error, still trying"),
            (0x46, "Permanent error, gave up"),
            (0x62, "Temporary error, gave up"),
        ];
        assert!(!cases.is_empty());
        for (st, cat) in cases {
            assert_eq!(status_text(*st).0, *cat, "TP-ST {st:#04x}");
        }
        let n = incoming_name("sim1");
        assert!(n.starts_with("sim1.") && n.len() == 11, "{n}");
    }
}
