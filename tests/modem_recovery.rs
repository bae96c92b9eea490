//! Recovery over real ptys: a hung modem goes through the ladder (escape +
//! AT, reopen, optional radio reset); an unplugged device goes `Gone` and
//! comes back when its path is re-linked, with no restart; a modem that
//! reboots on its own is initialised again.

mod modem_support;

use modem_support::*;
use smsgate::modem::{ModemState, StorageLocation};
use std::time::Duration;

fn loc(index: u32) -> StorageLocation {
    StorageLocation {
        mem: "SM".into(),
        index,
        routed: false,
    }
}

fn fast(path: &std::path::Path) -> smsgate::modem::DriverOptions {
    let mut o = opts("m", path);
    o.command_timeout = Duration::from_millis(600);
    o.reopen_backoff_max = Duration::from_millis(200);
    o
}

/// The driver asks something and the modem says nothing.
async fn hang_on(peer: &mut Peer, cmd: &str) {
    peer.expect(cmd).await;
}

#[tokio::test]
async fn escape_and_at_revive_a_silent_modem() {
    let mut peer = Peer::new();
    let mut d = start(fast(&peer.path));
    startup(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    d.states_seen();
    d.handle.confirm_stored(loc(1)).await;
    hang_on(&mut peer, "AT+CMGD=1").await;
    // Step 1: ESC + AT; the unanswered delete is tried again.
    peer.ok("AT", &[]).await;
    peer.ok("AT+CMGD=1", &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    let seen = d.states_seen();
    assert!(seen.contains(&ModemState::Recovering), "{seen:?}");
    assert_eq!(seen.last(), Some(&ModemState::Ready));
}

#[tokio::test]
async fn ladder_reopens_the_port_then_resets_the_radio() {
    let mut peer = Peer::new();
    let mut o = fast(&peer.path);
    o.radio_reset = true;
    let mut d = start(o);
    startup(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    d.handle.confirm_stored(loc(2)).await;
    hang_on(&mut peer, "AT+CMGD=2").await;
    // Step 1 fails: three wakes unanswered.
    for _ in 0..3 {
        hang_on(&mut peer, "AT").await;
    }
    // Step 2: the port is closed and reopened; the wakes fail again.
    for _ in 0..3 {
        hang_on(&mut peer, "AT").await;
    }
    // Step 3 (allowed by the config): radio reset, then a full start-up.
    peer.ok("AT+CFUN=1,1", &[]).await;
    startup_to_ready(&mut peer, &GENERIC).await;
    // The confirmation that hung is not lost.
    peer.ok("AT+CMGD=2", &[]).await;
    do_sweep(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    let seen = d.states_seen();
    assert!(seen.contains(&ModemState::Recovering), "{seen:?}");
}

#[tokio::test]
async fn reopen_without_radio_reset_by_default() {
    let mut peer = Peer::new();
    let mut d = start(fast(&peer.path));
    startup(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    d.handle.confirm_stored(loc(2)).await;
    hang_on(&mut peer, "AT+CMGD=2").await;
    for _ in 0..6 {
        hang_on(&mut peer, "AT").await;
    }
    // No AT+CFUN=1,1: just another wake after the next reopen.
    startup_to_ready(&mut peer, &GENERIC).await;
    peer.ok("AT+CMGD=2", &[]).await;
    do_sweep(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
}

#[tokio::test]
async fn unplug_goes_gone_and_replug_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("modem0");
    let mut peer = Peer::new();
    std::os::unix::fs::symlink(&peer.path, &link).expect("symlink");
    let mut o = fast(&link);
    // The slow timer is long: the replug must be noticed through inotify.
    o.reopen_backoff_max = Duration::from_secs(30);
    let mut d = start(o);
    startup(&mut peer, &GENERIC, &[(1, P2_DELIVER)]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    let _ = d.next_pdu().await;

    // Unplug: the master closes, the driver reads Ok(0)/EIO.
    drop(peer);
    d.wait_state(|s| *s == ModemState::Gone).await;
    // The daemon confirms while the modem is away: deleted on return.
    d.handle.confirm_stored(loc(1)).await;
    let r = d.handle.ussd("*100#".into()).await;
    assert!(r.is_err());

    // Replug: a new pty appears at the same configured path.
    let mut peer = Peer::new();
    std::fs::remove_file(&link).expect("unlink");
    std::os::unix::fs::symlink(&peer.path, &link).expect("relink");
    startup_to_ready(&mut peer, &GENERIC).await;
    peer.ok("AT+CMGD=1", &[]).await;
    do_sweep(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
}

#[tokio::test]
async fn missing_device_at_start_is_gone_until_it_appears() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("ttyUSB9");
    let mut o = fast(&link);
    o.reopen_backoff_max = Duration::from_secs(30);
    let mut d = start(o);
    d.wait_state(|s| *s == ModemState::Gone).await;
    let mut peer = Peer::new();
    std::os::unix::fs::symlink(&peer.path, &link).expect("symlink");
    startup(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
}

#[tokio::test]
async fn a_modem_that_reboots_is_initialised_again() {
    let simcom = Vendor {
        cgmi: "SIMCOM_Ltd",
        cgmm: "SIMCOM_SIM800L",
        cgmr: "Revision:1418B05SIM800L24",
        iccid_cmd: "AT+CCID",
        iccid_answer: "89441000301641313004",
        init: &[],
        chatter: &["RDY"],
        cmgl_hangs: false,
    };
    let mut peer = Peer::new();
    let mut d = start(fast(&peer.path));
    startup(&mut peer, &simcom, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
    // Boot chatter during start-up did not trigger a re-init.
    peer.quiet_for(Duration::from_millis(100)).await;
    // A brown-out reboot: settings (ATE0, CNMI...) are lost.
    peer.say("\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nSMS Ready\r\n")
        .await;
    startup(&mut peer, &simcom, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
}

#[tokio::test]
async fn sim_busy_at_boot_is_retried_not_failed() {
    let mut peer = Peer::new();
    let mut d = start(fast(&peer.path));
    peer.ok("AT", &[]).await;
    peer.ok("ATE0", &[]).await;
    peer.ok("AT+CMEE=1", &[]).await;
    peer.fail_with("AT+CPIN?", "+CME ERROR: 14").await;
    // After the backoff the port is reopened and start-up runs again.
    startup(&mut peer, &GENERIC, &[]).await;
    d.wait_state(|s| *s == ModemState::Ready).await;
}

#[tokio::test]
async fn cancel_while_gone_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut o = fast(&dir.path().join("absent"));
    o.reopen_backoff_max = Duration::from_secs(30);
    let mut d = start(o);
    d.wait_state(|s| *s == ModemState::Gone).await;
    d.cancel.cancel();
    d.wait_state(|s| *s == ModemState::Stopped).await;
}
