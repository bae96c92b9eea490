//! A small HTTP/1.1 client over `std::net::TcpStream` for the HTTP tests:
//! one request per connection (`Connection: close`), raw access for the
//! bad-input tests (slow headers, huge bodies), and a line reader for
//! Server-Sent Events. Written for tests: it unwraps.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// A free local port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `[http]` section for a test daemon.
pub fn section(port: u16, extra: &str) -> String {
    format!("[http]\nlisten = \"127.0.0.1:{port}\"\nheader_timeout = \"2s\"\n{extra}\n")
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts a problem+json refusal with `status` and `code`.
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        let p = self.json();
        assert_eq!(p["status"], status);
        assert_eq!(p["code"], code, "{p}");
        for k in ["type", "title", "detail"] {
            assert!(p[k].is_string(), "{k} in {p}");
        }
        p
    }
}

/// A client for one daemon.
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub auth: Option<String>,
}

impl Client {
    pub fn new(port: u16, token: Option<&str>) -> Client {
        Client {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            auth: token.map(|t| format!("Bearer {t}")),
        }
    }

    pub fn with_auth(&self, auth: Option<String>) -> Client {
        Client {
            addr: self.addr,
            auth,
        }
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// One request; `headers` are extra lines.
    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut s = self.connect();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(a) = &self.auth {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        // A server may refuse before reading the whole body.
        let _ = s.write_all(body);
        read_response(&mut s)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.req("GET", path, &[], b"")
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.req(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.req("DELETE", path, &[], b"")
    }

    /// Opens an event stream; returns a reader past the response head.
    pub fn events(&self, path: &str, last_event_id: Option<i64>) -> Sse {
        let mut s = self.connect();
        let mut head =
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n");
        if let Some(a) = &self.auth {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        if let Some(id) = last_event_id {
            head.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        let mut status = String::new();
        r.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{status}");
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            if l == "\r\n" {
                break;
            }
        }
        Sse { r }
    }
}

pub fn read_response(s: &mut TcpStream) -> Resp {
    let mut raw = Vec::new();
    // A reset after the answer (the server refused the rest of a body)
    // still leaves the answer readable.
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) if !raw.is_empty() => break,
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < nl + 2 + size {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[(nl + 4 + size).min(b.len())..];
    }
}

/// An event stream being read.
pub struct Sse {
    r: BufReader<TcpStream>,
}

/// One Server-Sent Event.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub id: Option<i64>,
    pub event: Option<String>,
    pub data: String,
}

impl Sse {
    /// The next event (comments and keep-alives skipped). Chunked framing
    /// lines (sizes) are skipped as lines that are not fields.
    pub fn next(&mut self) -> SseEvent {
        let mut ev = SseEvent::default();
        let mut any = false;
        loop {
            let mut l = String::new();
            let n = self.r.read_line(&mut l).unwrap();
            assert!(n > 0, "the event stream ended");
            let l = l.trim_end_matches(['\r', '\n']);
            if l.is_empty() {
                if any {
                    return ev;
                }
                continue;
            }
            if let Some(v) = l.strip_prefix("id:") {
                ev.id = v.trim().parse().ok();
                any = true;
            } else if let Some(v) = l.strip_prefix("event:") {
                ev.event = Some(v.trim().to_string());
                any = true;
            } else if let Some(v) = l.strip_prefix("data:") {
                ev.data.push_str(v.trim_start());
                any = true;
            }
        }
    }
}
