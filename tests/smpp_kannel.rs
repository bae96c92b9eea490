//! Kannel's bearerbox and smsbox (Debian `kannel`) with `smsc = smpp` pointed
//! at the gateway: a message posted to Kannel's sendsms goes out through a
//! simulated modem, and its delivery report reaches Kannel (which calls the
//! DLR URL). Skipped where bearerbox is not installed, outside CI.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn kannel_sends_through_the_pool_and_gets_the_dlr() {
    let bearerbox = Path::new("/usr/sbin/bearerbox");
    if !bearerbox.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: kannel is not installed (.ci/run installs it)"
        );
        eprintln!("SKIPPED: no bearerbox");
        return;
    }
    let smpp = free_port();
    let extra = format!(
        "[smpp]\nlisten = \"127.0.0.1:{smpp}\"\n\
         [[smpp.account]]\nsystem_id = \"kannel\"\npassword = \"secret\"\n"
    );
    let g = Gateway::start(vec![ModemPlan::default(), ModemPlan::default()], &extra).await;
    let (admin, boxp, sendsms) = (free_port(), free_port(), free_port());
    let dlr = TcpListener::bind("127.0.0.1:0").unwrap();
    let dlr_port = dlr.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let conf = format!(
        "group = core\nadmin-port = {admin}\nadmin-password = x\nsmsbox-port = {boxp}\n\
         box-allow-ip = \"127.0.0.1\"\nlog-file = \"{d}/bearerbox.log\"\nlog-level = 0\n\
         dlr-storage = internal\n\n\
         group = smsc\nsmsc = smpp\nsmsc-id = simpool\nhost = 127.0.0.1\nport = {smpp}\n\
         transceiver-mode = true\nsmsc-username = \"kannel\"\nsmsc-password = \"secret\"\n\
         system-type = \"\"\nmsg-id-type = 0x00\nenquire-link-interval = 30\n\n\
         group = smsbox\nbearerbox-host = 127.0.0.1\nbearerbox-port = {boxp}\nsendsms-port = {sendsms}\n\
         log-file = \"{d}/smsbox.log\"\nlog-level = 0\n\n\
         group = sendsms-user\nusername = u\npassword = p\n\n\
         group = sms-service\nkeyword = default\ntext = \"\"\nmax-messages = 0\n"
    );
    let conf_path = dir.path().join("kannel.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let spawn = |bin: &str| {
        Killed(
            Command::new(bin)
                .arg(&conf_path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let _bb = spawn("/usr/sbin/bearerbox");
    std::thread::sleep(Duration::from_millis(300));
    let _sb = spawn("/usr/sbin/smsbox");

    let to = msisdn(1);
    let path = format!(
        "/cgi-bin/sendsms?username=u&password=p&from=shop&to={}&text=Hello+from+Kannel&dlr-mask=3&\
         dlr-url=http%3A%2F%2F127.0.0.1%3A{dlr_port}%2Fdlr%3Ftype%3D%25d",
        to.replace('+', "%2B")
    );
    // Kannel takes the message once smsbox is up and the SMSC bound.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = http_get(sendsms, &path).unwrap_or_default();
        if answer.contains("Accepted") || answer.contains("Sent") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Kannel never took the message: {answer}\n{}",
            std::fs::read_to_string(dir.path().join("smsbox.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Our side: one message from the kannel account, delivered.
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = loop {
        let found = g
            .outbox()
            .into_iter()
            .find(|m| m["source"] == "smpp:kannel" && m["text"] == "Hello from Kannel");
        if let Some(m) = found {
            break m["id"].as_i64().unwrap();
        }
        assert!(Instant::now() < deadline, "no message from Kannel");
        std::thread::sleep(Duration::from_millis(100));
    };
    g.wait_state(id, "delivered", T);
    // Kannel's side: the DLR (type 1: delivered) calls the DLR URL.
    dlr.set_nonblocking(false).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in dlr.incoming() {
            let Ok(mut c) = conn else { break };
            let mut buf = [0u8; 2048];
            let n = c.read(&mut buf).unwrap_or(0);
            let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).to_string());
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let req = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "no DLR reached Kannel: {}",
                std::fs::read_to_string(dir.path().join("bearerbox.log")).unwrap_or_default()
            )
        });
        if req.contains("type=1") {
            break;
        }
    }
}
