//! The hosts of a cluster on PostgreSQL (migration V13): each host's row in
//! `node` (started, heartbeat, version), the modems it drives in
//! `node_modem` (keyed by node plus SIM: the IMSI, else the ICCID, never the
//! IMEI alone), and the claims of outgoing messages (`outgoing.claimed_by`,
//! `outgoing.lease_until`). Plain functions over `&dyn Db`, for both engines
//! (the tables exist on SQLite too, where one host never writes them). It
//! decides no policy: the daemon says when to beat and what its lease is.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::sql::{args, Db, Dialect};
use super::{ms, rfc3339_ms, StoreError};

/// A modem as one host sees it, for `node_modem`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeModem {
    /// The modem's name in that host's configuration.
    pub modem: String,
    pub imsi: Option<String>,
    pub iccid: Option<String>,
    pub imei: Option<String>,
    /// `ready`, `starting`, `failed`... as `status` shows it.
    pub state: String,
}

impl NodeModem {
    /// The SIM's key in `node_modem`: the IMSI, else `iccid:` and the
    /// ICCID, else `modem:` and the modem's name (a SIM not read yet). Never
    /// the IMEI: a SIM moves between modems, a modem between hosts.
    pub fn sim_key(&self) -> String {
        match (&self.imsi, &self.iccid) {
            (Some(imsi), _) if !imsi.is_empty() => imsi.clone(),
            (_, Some(iccid)) if !iccid.is_empty() => format!("iccid:{iccid}"),
            _ => format!("modem:{}", self.modem),
        }
    }
}

/// One host, as `status` and `smsgate cluster` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeView {
    pub name: String,
    pub version: String,
    pub pid: Option<i64>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub heartbeat_at: String,
    /// Milliseconds since its last heartbeat (at the time of the query).
    pub heartbeat_age_ms: i64,
    /// `up` (beat within a lease), `late` (no beat for a lease: its claims
    /// lapse), `stopped` (it said so when it stopped).
    pub state: &'static str,
    /// Messages it holds a live claim on.
    pub claimed: i64,
    pub modems: Vec<NodeModemView>,
}

/// One modem of a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeModemView {
    pub modem: String,
    pub sim: String,
    pub imsi: Option<String>,
    pub iccid: Option<String>,
    pub imei: Option<String>,
    pub state: String,
    pub seen_at: String,
}

/// This host starts: its row, fresh (started and beating now).
pub(crate) fn register(
    c: &dyn Db,
    node: &str,
    version: &str,
    pid: u32,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO node (name, version, pid, started_at, heartbeat_at, stopped_at)
         VALUES (?1, ?2, ?3, ?4, ?4, NULL)
         ON CONFLICT (name) DO UPDATE SET version = ?2, pid = ?3, started_at = ?4,
             heartbeat_at = ?4, stopped_at = NULL",
        args![node, version, pid, ms(now)],
    )
    .map_err(StoreError::sql("register node"))?;
    Ok(())
}

/// This host is alive: its heartbeat, and its claims renewed until
/// `lease_until`. Returns how many claims it renewed; a row that vanished
/// (deleted by hand) is made again.
pub(crate) fn heartbeat(
    c: &dyn Db,
    node: &str,
    version: &str,
    pid: u32,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let beat = c
        .execute(
            "UPDATE node SET heartbeat_at = ?2, stopped_at = NULL WHERE name = ?1",
            args![node, ms(now)],
        )
        .map_err(StoreError::sql("heartbeat"))?;
    if beat == 0 {
        register(c, node, version, pid, now)?;
    }
    c.execute(
        "UPDATE outgoing SET lease_until = ?2
          WHERE claimed_by = ?1 AND state IN ('queued', 'sending')",
        args![node, ms(lease_until)],
    )
    .map_err(StoreError::sql("renew claims"))
}

/// This host stops cleanly: said in its row, its claims given back at once
/// (its unsent messages go to the other hosts without waiting a lease).
pub(crate) fn stopped(c: &dyn Db, node: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    c.execute(
        "UPDATE node SET stopped_at = ?2 WHERE name = ?1",
        args![node, ms(now)],
    )
    .map_err(StoreError::sql("node stopped"))?;
    c.execute(
        "UPDATE outgoing SET claimed_by = NULL, lease_until = NULL
          WHERE claimed_by = ?1 AND NOT EXISTS (
              SELECT 1 FROM outgoing_part p
               WHERE p.message_id = outgoing.id AND p.state = 'sending')",
        args![node],
    )
    .map_err(StoreError::sql("release claims"))?;
    Ok(())
}

/// Records one modem of `node` as it is now. A SIM seen under another modem
/// name of the same host (moved between slots), or another SIM in the same
/// modem, replaces the older row.
pub(crate) fn set_modem(
    c: &dyn Db,
    node: &str,
    m: &NodeModem,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let sim = m.sim_key();
    c.execute(
        "DELETE FROM node_modem WHERE node = ?1 AND (modem = ?2 OR sim = ?3)
            AND NOT (modem = ?2 AND sim = ?3)",
        args![node, &m.modem, &sim],
    )
    .map_err(StoreError::sql("replace node modem"))?;
    c.execute(
        "INSERT INTO node_modem (node, sim, modem, imsi, iccid, imei, state, seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (node, sim) DO UPDATE SET imsi = ?4, iccid = ?5, imei = ?6,
             state = ?7, seen_at = ?8",
        args![
            node,
            &sim,
            &m.modem,
            m.imsi.as_deref(),
            m.iccid.as_deref(),
            m.imei.as_deref(),
            &m.state,
            ms(now)
        ],
    )
    .map_err(StoreError::sql("record node modem"))?;
    Ok(())
}

/// Forgets the modems of `node` not named in `keep` (removed by a reload).
pub(crate) fn keep_modems(c: &dyn Db, node: &str, keep: &[String]) -> Result<(), StoreError> {
    let listed: Vec<String> = c
        .query(
            "SELECT modem FROM node_modem WHERE node = ?1",
            args![node],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("node modems"))?;
    for m in listed.iter().filter(|m| !keep.contains(m)) {
        c.execute(
            "DELETE FROM node_modem WHERE node = ?1 AND modem = ?2",
            args![node, m],
        )
        .map_err(StoreError::sql("forget node modem"))?;
    }
    Ok(())
}

/// What one host can send: the work it may claim.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimScope {
    /// This host (`[cluster] node`).
    pub node: String,
    /// The SIM keys of its modems (as `outgoing.sim` pins them).
    pub sims: Vec<String>,
    /// Its modems' names (a message may ask for one by name).
    pub modems: Vec<String>,
    /// The queues its modems serve.
    pub queues: Vec<String>,
    /// Messages not to claim: those it has in flight (it holds them
    /// already) or holds back after a store error.
    pub skip: Vec<i64>,
}

/// Claims up to `limit` messages ready now that this host can send
/// (nothing sent yet, or pinned to one of its SIMs by IMSI, or to one of
/// its modems by name when the SIM had no IMSI; asking for none of its modems
/// by name or one of them; of no queue or one it serves), unclaimed or
/// claimed by a host whose lease lapsed, until `lease_until`. PostgreSQL
/// only (`FOR UPDATE SKIP LOCKED`: hosts claiming at once take different
/// rows and never wait for each other); nothing on SQLite, where one host
/// sends everything. Returns how many it claimed.
///
/// It looks first at the head of the queue only ([`CLAIM_POOL`] times
/// `limit` messages, at least 64, in the order of `outgoing_active`), and
/// at the whole queue only when the head had too few for it: a pass then
/// tests a few dozen rows, not every queued message (measured: the whole
/// queue of 1,200 took 10–30 ms per claim, under the event lock, while the
/// planner's statistics still counted an empty table).
pub(crate) fn claim(
    c: &dyn Db,
    scope: &ClaimScope,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: usize,
) -> Result<u64, StoreError> {
    if c.dialect() != Dialect::Postgres || limit == 0 {
        return Ok(0);
    }
    let pool = limit.saturating_mul(CLAIM_POOL).max(64);
    let head = claim_in(c, scope, now, lease_until, limit, Some(pool))?;
    let want = u64::try_from(limit).unwrap_or(u64::MAX);
    if head >= want {
        return Ok(head);
    }
    let rest = usize::try_from(want - head).unwrap_or(usize::MAX);
    Ok(head + claim_in(c, scope, now, lease_until, rest, None)?)
}

/// How many queued messages per wanted claim [`claim`] looks at first.
const CLAIM_POOL: usize = 8;

/// [`claim`] among the first `pool` messages of the queue (`None`: all of
/// it), leaving out what this call claimed already (its `lease_until`).
fn claim_in(
    c: &dyn Db,
    scope: &ClaimScope,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: usize,
    pool: Option<usize>,
) -> Result<u64, StoreError> {
    let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let (sims, modems, queues) = (json(&scope.sims), json(&scope.modems), json(&scope.queues));
    let skip = serde_json::to_string(&scope.skip).unwrap_or_else(|_| "[]".into());
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // NULL: no pool, the whole queue.
    let pool = pool.map(|p| i64::try_from(p).unwrap_or(i64::MAX));
    c.execute(
        "UPDATE outgoing SET claimed_by = ?1, lease_until = ?2
          WHERE id IN (
            SELECT o.id
              FROM (SELECT id FROM outgoing
                     WHERE state IN ('queued', 'sending')
                     ORDER BY priority DESC, id LIMIT ?9) head
              JOIN outgoing o ON o.id = head.id
             WHERE o.state IN ('queued', 'sending') AND o.not_before <= ?3
               AND o.next_attempt_at <= ?3 AND (o.expires_at IS NULL OR o.expires_at > ?3)
               AND (o.claimed_by IS NULL OR o.claimed_by = ?1 OR o.lease_until < ?3)
               AND (o.claimed_by IS DISTINCT FROM ?1 OR o.lease_until IS DISTINCT FROM ?2)
               AND (NOT EXISTS (SELECT 1 FROM outgoing_part p
                                 WHERE p.message_id = o.id
                                   AND p.state IN ('uncertain', 'sent', 'delivered'))
                    OR o.sim IN (SELECT json_array_elements_text(CAST(?4 AS json)))
                    OR (o.sim IS NULL AND o.assigned_modem IN
                        (SELECT json_array_elements_text(CAST(?5 AS json)))))
               AND (o.modem IS NULL
                    OR o.modem IN (SELECT json_array_elements_text(CAST(?5 AS json))))
               AND (o.queue IS NULL
                    OR o.queue IN (SELECT json_array_elements_text(CAST(?6 AS json))))
               AND o.id NOT IN (SELECT CAST(value AS BIGINT)
                                  FROM json_array_elements_text(CAST(?7 AS json)))
               AND EXISTS (SELECT 1 FROM outgoing_part p
                            WHERE p.message_id = o.id AND p.state IN ('pending', 'uncertain'))
               AND NOT EXISTS (SELECT 1 FROM outgoing_part p
                                WHERE p.message_id = o.id AND p.state = 'sending')
               AND (o.campaign IS NULL OR EXISTS (SELECT 1 FROM campaign k
                     WHERE k.id = o.campaign AND k.state = 'running'))
             ORDER BY o.priority DESC, o.id
             LIMIT ?8
             FOR UPDATE OF o SKIP LOCKED)",
        args![
            &scope.node,
            ms(lease_until),
            ms(now),
            &sims,
            &modems,
            &queues,
            &skip,
            limit,
            pool
        ],
    )
    .map_err(StoreError::sql("claim messages"))
}

/// Checks (and renews until `lease_until`) `node`'s claim on message `id`
/// before a part goes out: the fence against a host that lost its claim
/// while it worked. Nothing to check on SQLite.
pub(crate) fn hold_claim(
    c: &dyn Db,
    id: i64,
    node: &str,
    lease_until: DateTime<Utc>,
) -> Result<(), StoreError> {
    if c.dialect() != Dialect::Postgres {
        return Ok(());
    }
    let held = c
        .execute(
            "UPDATE outgoing SET lease_until = ?3 WHERE id = ?1 AND claimed_by = ?2",
            args![id, node, ms(lease_until)],
        )
        .map_err(StoreError::sql("hold claim"))?;
    if held == 0 {
        return Err(StoreError::InvalidState {
            id,
            state: "claimed by another host (this host's claim lapsed)".into(),
            action: "send",
        });
    }
    Ok(())
}

/// Gives back this host's claims on messages it is not sending (`keep`:
/// the ones in flight), at the end of a dispatcher pass: what it claimed
/// and could not start now (caps, a busy modem) is free for the others at
/// once, not after a lease.
pub(crate) fn release(c: &dyn Db, node: &str, keep: &[i64]) -> Result<u64, StoreError> {
    if c.dialect() != Dialect::Postgres {
        return Ok(0);
    }
    let keep = serde_json::to_string(keep).unwrap_or_else(|_| "[]".into());
    c.execute(
        "UPDATE outgoing SET claimed_by = NULL, lease_until = NULL
          WHERE claimed_by = ?1
            AND id NOT IN (SELECT CAST(value AS BIGINT)
                             FROM json_array_elements_text(CAST(?2 AS json)))
            AND NOT EXISTS (SELECT 1 FROM outgoing_part p
                             WHERE p.message_id = outgoing.id AND p.state = 'sending')",
        args![node, &keep],
    )
    .map_err(StoreError::sql("release claims"))
}

/// The claims of hosts whose lease lapsed (they died or lost the
/// database): the parts they had in flight become `uncertain`, as after a
/// crash on one host, and the claims are cleared. Returns the (message,
/// part) pairs made uncertain, for the resend policy.
pub(crate) fn reap_lapsed(c: &dyn Db, now: DateTime<Utc>) -> Result<Vec<(i64, u32)>, StoreError> {
    if c.dialect() != Dialect::Postgres {
        return Ok(Vec::new());
    }
    let lapsed: Vec<(i64, String)> = c
        .query(
            "SELECT id, claimed_by FROM outgoing
              WHERE claimed_by IS NOT NULL AND lease_until < ?1
                AND state IN ('queued', 'sending')
              ORDER BY id
              FOR UPDATE SKIP LOCKED",
            args![ms(now)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StoreError::sql("find lapsed claims"))?;
    let mut parts = Vec::new();
    for (id, node) in lapsed {
        let error = format!(
            "in flight on host {node} when its lease lapsed (outcome of that attempt unknown)"
        );
        parts.extend(
            c.query(
                "UPDATE outgoing_part SET state = 'uncertain', error = ?2
                  WHERE message_id = ?1 AND state = 'sending'
                  RETURNING message_id, seq",
                args![id, &error],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(StoreError::sql("mark lapsed parts uncertain"))?,
        );
        c.execute(
            "UPDATE outgoing SET claimed_by = NULL, lease_until = NULL WHERE id = ?1",
            args![id],
        )
        .map_err(StoreError::sql("clear lapsed claim"))?;
    }
    Ok(parts)
}

/// Messages partly sent through a SIM no host has had for `orphan_after`
/// (its host stopped beating that long ago, or the SIM is in no host's
/// list), unchanged for as long, with parts left to send and no claim: they
/// start again, whole, through another SIM. Returns their ids and the SIM each was pinned to.
pub(crate) fn orphans(
    c: &dyn Db,
    now: DateTime<Utc>,
    orphan_after: std::time::Duration,
) -> Result<Vec<(i64, String)>, StoreError> {
    if c.dialect() != Dialect::Postgres {
        return Ok(Vec::new());
    }
    let since = ms(now) - i64::try_from(orphan_after.as_millis()).unwrap_or(i64::MAX / 2);
    c.query(
        "SELECT o.id, o.sim FROM outgoing o
          WHERE o.state IN ('queued', 'sending') AND o.sim IS NOT NULL
            AND (o.claimed_by IS NULL OR o.lease_until < ?1)
            AND EXISTS (SELECT 1 FROM outgoing_part p
                         WHERE p.message_id = o.id AND p.state IN ('pending', 'uncertain'))
            AND NOT EXISTS (SELECT 1 FROM outgoing_part p
                             WHERE p.message_id = o.id AND p.state = 'sending')
            AND o.updated_at < ?2
            AND NOT EXISTS (SELECT 1 FROM node_modem m JOIN node n ON n.name = m.node
                             WHERE m.sim = o.sim AND n.heartbeat_at >= ?2)
          ORDER BY o.id
          FOR UPDATE OF o SKIP LOCKED",
        args![ms(now), since],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .map_err(StoreError::sql("find orphans"))
}

/// Starts an orphan again, whole (see [`orphans`]): every part back to
/// `pending` without its PDU, the message unpinned, so the dispatcher
/// assigns it to another SIM, which encodes it with a concatenation
/// reference of its own. The message's `error` says why (what `show`
/// gives). Returns false when it was no longer pinned to `sim`.
pub(crate) fn restart_whole(
    c: &dyn Db,
    id: i64,
    sim: &str,
    orphan_after: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let note = format!(
        "restarted whole through another SIM: partly sent through SIM {sim}, whose host has been away for over {}",
        humantime::format_duration(orphan_after)
    );
    let before: Option<(String, Option<i64>)> = c
        .query_opt(
            "SELECT state, campaign FROM outgoing WHERE id = ?1",
            args![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StoreError::sql("read message"))?;
    let moved = c
        .execute(
            "UPDATE outgoing SET state = 'queued', assigned_modem = NULL, sim = NULL,
                 tried_modems = '[]', error = ?3, next_attempt_at = ?4, updated_at = ?4,
                 claimed_by = NULL, lease_until = NULL
              WHERE id = ?1 AND sim = ?2 AND state IN ('queued', 'sending')",
            args![id, sim, &note, ms(now)],
        )
        .map_err(StoreError::sql("restart message"))?;
    if moved == 0 {
        return Ok(false);
    }
    c.execute(
        "UPDATE outgoing_part SET state = 'pending', attempts = 0, pdu_hex = NULL, tpdu_len = NULL,
             mr = NULL, status = NULL, modem = NULL, sim = NULL, error = NULL, sending_at = NULL,
             sent_at = NULL, delivered_at = NULL
          WHERE message_id = ?1",
        args![id],
    )
    .map_err(StoreError::sql("restart parts"))?;
    if let Some((old, Some(campaign))) = before {
        let old: super::MessageState = old.parse()?;
        if old != super::MessageState::Queued {
            super::campaign::count_change(c, campaign, old, super::MessageState::Queued, now)?;
        }
    }
    super::outgoing::message_event(c, id, super::MessageState::Queued, now)?;
    Ok(true)
}

/// At this host's start on PostgreSQL: the parts it left `sending` (of the
/// messages it had claimed) become `uncertain`, as `recover_on_start` does
/// on one host; the other hosts' parts in flight are theirs. Returns the
/// (message, part) pairs, for the policy to resend or fail them.
pub(crate) fn mark_uncertain(c: &dyn Db, node: &str) -> Result<Vec<(i64, u32)>, StoreError> {
    c.query(
        "UPDATE outgoing_part SET state = 'uncertain',
                error = 'in flight at shutdown; resent (outcome of the earlier attempt unknown)'
          WHERE state = 'sending'
            AND message_id IN (SELECT id FROM outgoing WHERE claimed_by = ?1)
          RETURNING message_id, seq",
        args![node],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .map_err(StoreError::sql("mark uncertain"))
}

/// The resend policy for parts just made `uncertain` (at a host's start,
/// or reaped from a lapsed claim), as on one host: resent (the part stays
/// `uncertain`, ready to go through the same SIM), or, with
/// `resend_uncertain = false`, the part failed for good and the rest of
/// its message cancelled.
pub(crate) fn settle_uncertain(
    c: &dyn Db,
    parts: &[(i64, u32)],
    resend_uncertain: bool,
    now: DateTime<Utc>,
) -> Result<super::Recovered, StoreError> {
    let mut out = super::Recovered {
        uncertain: u32::try_from(parts.len()).unwrap_or(u32::MAX),
        ..super::Recovered::default()
    };
    let mut failed: Vec<i64> = Vec::new();
    for &(id, seq) in parts {
        if resend_uncertain {
            super::outgoing::rollup(c, id, now)?;
            out.requeued += 1;
        } else if !failed.contains(&id) {
            failed.push(id);
            let error = format!(
                "part {seq} was in flight when its host stopped and may have been sent; not resent (resend_uncertain = false)"
            );
            super::outgoing::part_failed(c, id, seq, &error, super::Disposition::Permanent, now)?;
            out.failed += 1;
        }
    }
    Ok(out)
}

/// Every host with its modems, by name. `lease`: a host that has not beaten
/// for this long is `late`.
pub(crate) fn nodes(
    c: &dyn Db,
    now: DateTime<Utc>,
    lease: std::time::Duration,
) -> Result<Vec<NodeView>, StoreError> {
    type Raw = (String, String, Option<i64>, i64, i64, Option<i64>, i64);
    let raw: Vec<Raw> = c
        .query(
            "SELECT n.name, n.version, n.pid, n.started_at, n.heartbeat_at, n.stopped_at,
                    (SELECT COUNT(*) FROM outgoing o
                      WHERE o.claimed_by = n.name AND o.lease_until >= ?1
                        AND o.state IN ('queued', 'sending'))
               FROM node n ORDER BY n.name",
            args![ms(now)],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .map_err(StoreError::sql("nodes"))?;
    type RawModem = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        i64,
    );
    let modems: Vec<RawModem> = c
        .query(
            "SELECT node, modem, sim, imsi, iccid, imei, state, seen_at
               FROM node_modem ORDER BY node, modem",
            args![],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .map_err(StoreError::sql("node modems"))?;
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let mut out = Vec::with_capacity(raw.len());
    for (name, version, pid, started, beat, stopped_at, claimed) in raw {
        let age = (ms(now) - beat).max(0);
        let state = match stopped_at {
            Some(_) => "stopped",
            None if age > lease_ms => "late",
            None => "up",
        };
        let mut list = Vec::new();
        for (node, modem, sim, imsi, iccid, imei, mstate, seen) in &modems {
            if *node == name {
                list.push(NodeModemView {
                    modem: modem.clone(),
                    sim: sim.clone(),
                    imsi: imsi.clone(),
                    iccid: iccid.clone(),
                    imei: imei.clone(),
                    state: mstate.clone(),
                    seen_at: rfc3339_ms("node_modem.seen_at", *seen)?,
                });
            }
        }
        out.push(NodeView {
            started_at: rfc3339_ms("node.started_at", started)?,
            heartbeat_at: rfc3339_ms("node.heartbeat_at", beat)?,
            heartbeat_age_ms: age,
            name,
            version,
            pid,
            state,
            claimed,
            modems: list,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pgtest::on_both_engines;
    use std::time::Duration;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).expect("time")
    }

    fn modem(name: &str, imsi: Option<&str>, iccid: Option<&str>) -> NodeModem {
        NodeModem {
            modem: name.into(),
            imsi: imsi.map(Into::into),
            iccid: iccid.map(Into::into),
            imei: Some("356938035643809".into()),
            state: "ready".into(),
        }
    }

    #[test]
    fn sim_keys_never_use_the_imei() {
        let cases = [
            (modem("m", Some("262011"), Some("8949")), "262011"),
            (modem("m", None, Some("8949")), "iccid:8949"),
            (modem("m", Some(""), None), "modem:m"),
            (modem("m", None, None), "modem:m"),
        ];
        assert!(!cases.is_empty());
        for (m, want) in cases {
            assert_eq!(m.sim_key(), want, "{m:?}");
        }
    }

    #[test]
    fn nodes_beat_age_and_keep_their_modems() {
        on_both_engines(|c| {
            register(c, "a", "1.0", 10, at(0)).expect("a");
            register(c, "b", "1.0", 11, at(0)).expect("b");
            set_modem(c, "a", &modem("sim1", Some("262011"), None), at(1)).expect("m1");
            set_modem(c, "a", &modem("sim2", None, None), at(1)).expect("m2");
            set_modem(c, "b", &modem("sim1", Some("262022"), None), at(1)).expect("b1");
            // The SIM is read later: the modem's row takes its IMSI.
            set_modem(c, "a", &modem("sim2", Some("262033"), None), at(2)).expect("m2 again");
            heartbeat(c, "a", "1.0", 10, at(40), at(70)).expect("beat");
            let lease = Duration::from_secs(30);
            let n = nodes(c, at(45), lease).expect("nodes");
            assert_eq!(n.len(), 2);
            assert_eq!((n[0].name.as_str(), n[0].state), ("a", "up"));
            assert_eq!(n[0].heartbeat_age_ms, 5_000);
            let sims: Vec<&str> = n[0].modems.iter().map(|m| m.sim.as_str()).collect();
            assert_eq!(sims, ["262011", "262033"]);
            assert_eq!((n[1].name.as_str(), n[1].state), ("b", "late"));
            assert_eq!(n[1].modems.len(), 1);
            keep_modems(c, "a", &["sim1".to_string()]).expect("keep");
            stopped(c, "b", at(50)).expect("stop");
            let n = nodes(c, at(50), lease).expect("nodes");
            assert_eq!(n[0].modems.len(), 1);
            assert_eq!(n[1].state, "stopped");
            // A beat after a stop (or after the row was deleted) revives it.
            c.execute("DELETE FROM node WHERE name = 'a'", args![])
                .expect("delete");
            heartbeat(c, "a", "1.1", 12, at(60), at(90)).expect("beat");
            let n = nodes(c, at(60), lease).expect("nodes");
            assert_eq!((n[0].name.as_str(), n[0].version.as_str()), ("a", "1.1"));
            assert!(n[0].modems.is_empty(), "cascade");
        });
    }
}
