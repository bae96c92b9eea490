//! The store's schema and its migrations: an ordered list of SQL scripts,
//! `PRAGMA user_version` = how many have been applied. Owns nothing else (no
//! queries on the data; those live in `outgoing.rs` and `incoming.rs`).
//!
//! To change the schema, append one entry to [`MIGRATIONS`]; never edit an
//! entry that has shipped. The test below opens a database built at every
//! older version and checks it ends up identical to a fresh one.

use rusqlite::Connection;

use super::StoreError;

/// Every migration, oldest first. Entry `i` moves a database from version `i`
/// to version `i + 1`; version 0 is an empty file.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V7, V8, V9, V10, V12, V13, V14, V15];

/// Version 1: outgoing messages and parts, received PDUs and inbox, status
/// reports, SIMs and modems, per-SIM send log and concatenation counters.
/// Times are integer milliseconds since the Unix epoch (UTC) unless the column
/// name ends in `_text` (RFC 3339 with the original offset, for SMSC stamps).
const V1: &str = r#"
CREATE TABLE outgoing (
    id              INTEGER PRIMARY KEY,
    recipient       TEXT NOT NULL,
    to_digits       TEXT NOT NULL,
    text            TEXT NOT NULL,
    report          INTEGER NOT NULL,
    flash           INTEGER NOT NULL,
    priority        INTEGER NOT NULL,
    validity_s      INTEGER,
    expires_at      INTEGER,
    not_before      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    modem           TEXT,
    queue           TEXT,
    assigned_modem  TEXT,
    sim             TEXT,
    options         TEXT NOT NULL,
    source          TEXT NOT NULL,
    spool_key       TEXT UNIQUE,
    state           TEXT NOT NULL,
    error           TEXT,
    tried_modems    TEXT NOT NULL DEFAULT '[]',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX outgoing_active ON outgoing(priority DESC, id)
    WHERE state IN ('queued', 'sending');
CREATE INDEX outgoing_by_state ON outgoing(state, id);
CREATE INDEX outgoing_by_recipient ON outgoing(to_digits, id);

CREATE TABLE outgoing_part (
    message_id   INTEGER NOT NULL REFERENCES outgoing(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    pdu_hex      TEXT,
    tpdu_len     INTEGER,
    mr           INTEGER,
    status       INTEGER,
    modem        TEXT,
    sim          TEXT,
    error        TEXT,
    sending_at   INTEGER,
    sent_at      INTEGER,
    delivered_at INTEGER,
    PRIMARY KEY (message_id, seq)
) WITHOUT ROWID;
CREATE INDEX part_by_mr ON outgoing_part(sim, mr, sent_at) WHERE mr IS NOT NULL;
CREATE INDEX part_by_state ON outgoing_part(state);

CREATE TABLE send_log (
    sim TEXT NOT NULL,
    at  INTEGER NOT NULL
);
CREATE INDEX send_log_by_sim ON send_log(sim, at);

CREATE TABLE concat_ref (
    sim         TEXT NOT NULL,
    destination TEXT NOT NULL,
    next        INTEGER NOT NULL,
    PRIMARY KEY (sim, destination)
) WITHOUT ROWID;

CREATE TABLE inbox (
    id           INTEGER PRIMARY KEY,
    modem        TEXT NOT NULL,
    sim          TEXT NOT NULL,
    sender       TEXT NOT NULL,
    text         TEXT NOT NULL,
    sent_at_text TEXT,
    received_at  INTEGER NOT NULL,
    parts        INTEGER NOT NULL,
    missing      TEXT NOT NULL DEFAULT '[]',
    complete     INTEGER NOT NULL,
    class0       INTEGER NOT NULL,
    binary       INTEGER NOT NULL,
    pid          INTEGER NOT NULL,
    replace_type INTEGER,
    replaces     INTEGER,
    replaced_by  INTEGER
);
CREATE INDEX inbox_replace ON inbox(sim, sender, replace_type) WHERE replace_type IS NOT NULL;

CREATE TABLE received_pdu (
    id           INTEGER PRIMARY KEY,
    modem        TEXT NOT NULL,
    sim          TEXT NOT NULL,
    pdu_hex      TEXT NOT NULL,
    sender       TEXT NOT NULL,
    text         TEXT NOT NULL,
    binary       INTEGER NOT NULL,
    sent_at_text TEXT,
    concat_ref   INTEGER,
    concat_total INTEGER,
    concat_seq   INTEGER,
    ref16        INTEGER,
    class0       INTEGER NOT NULL,
    replace_type INTEGER,
    pid          INTEGER NOT NULL,
    dcs          INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    inbox_id     INTEGER REFERENCES inbox(id),
    UNIQUE (sim, pdu_hex)
);
CREATE INDEX received_open_sets ON received_pdu(sim, sender, concat_ref, concat_total, ref16)
    WHERE inbox_id IS NULL;

CREATE TABLE status_report (
    id            INTEGER PRIMARY KEY,
    modem         TEXT NOT NULL,
    sim           TEXT NOT NULL,
    mr            INTEGER NOT NULL,
    recipient     TEXT NOT NULL,
    sc_time_text  TEXT,
    discharge_text TEXT,
    status        INTEGER NOT NULL,
    is_final      INTEGER NOT NULL,
    success       INTEGER NOT NULL,
    pdu_hex       TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    message_id    INTEGER,
    seq           INTEGER,
    UNIQUE (sim, pdu_hex)
);
CREATE INDEX report_unmatched ON status_report(sim, mr, received_at) WHERE message_id IS NULL;

CREATE TABLE sim (
    sim          TEXT PRIMARY KEY,
    iccid        TEXT,
    last_modem   TEXT,
    parts_sent   INTEGER NOT NULL DEFAULT 0,
    parts_failed INTEGER NOT NULL DEFAULT 0,
    received     INTEGER NOT NULL DEFAULT 0,
    reports      INTEGER NOT NULL DEFAULT 0,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE modem_seen (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    imei         TEXT NOT NULL,
    imsi         TEXT NOT NULL,
    iccid        TEXT NOT NULL,
    manufacturer TEXT,
    model        TEXT,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    UNIQUE (name, imei, imsi, iccid)
);
"#;

/// Version 2: the dispatcher's next wake-up time (the earliest future
/// `not_before`, `next_attempt_at` or `expires_at` of an active message) is an
/// index seek instead of a scan of the whole queue.
const V2: &str = r#"
CREATE INDEX outgoing_wake_not_before ON outgoing(not_before)
    WHERE state IN ('queued', 'sending');
CREATE INDEX outgoing_wake_next_attempt ON outgoing(next_attempt_at)
    WHERE state IN ('queued', 'sending');
CREATE INDEX outgoing_wake_expires ON outgoing(expires_at)
    WHERE state IN ('queued', 'sending');
"#;

/// Version 3: the event log (`event`, ids never reused, so a consumer that
/// resumes after `N` misses nothing), consumers' durable cursors, and the
/// indexes retention prunes by.
const V3: &str = r#"
CREATE TABLE event (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    at   INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE consumer (
    name       TEXT PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX outgoing_finished ON outgoing(finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX inbox_received ON inbox(received_at);
CREATE INDEX received_pdu_received ON received_pdu(received_at);
CREATE INDEX status_report_received ON status_report(received_at);
"#;

/// Version 4: the HTTP API's tokens (a SHA-256 hash of each secret, never
/// the secret) and idempotency keys (the first answer to a request, kept
/// with the messages it queued).
const V4: &str = r#"
CREATE TABLE api_token (
    name       TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    scopes     TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE idempotency (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    messages    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX idempotency_created ON idempotency(created_at);
"#;

/// Version 5: webhook endpoints (from `[[webhook]]` or the API) and the
/// record of every delivery attempt (pruned by `[store] keep`), and
/// settings made through the API (the compatible face's signing key). Each
/// endpoint's position in the log is its `consumer` row `webhook:<id>`.
const V5: &str = r#"
CREATE TABLE webhook (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    secret          TEXT NOT NULL,
    flavour         TEXT NOT NULL,
    source          TEXT NOT NULL,
    disabled_at     INTEGER,
    disabled_reason TEXT,
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE webhook_delivery (
    id          INTEGER PRIMARY KEY,
    webhook_id  TEXT NOT NULL,
    event_id    INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    result      TEXT NOT NULL,
    status      INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    next_at     INTEGER
);
CREATE INDEX webhook_delivery_by_endpoint ON webhook_delivery(webhook_id, event_id);
CREATE INDEX webhook_delivery_at ON webhook_delivery(at);
CREATE TABLE webhook_setting (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Reports select messages by the time they were queued. Version 6 for
/// now, named V7 for its place after version 6, which other work adds
/// (insert that one before this one; this one stays last).
const V7: &str = r#"
CREATE INDEX outgoing_created ON outgoing(created_at);
"#;

/// Version 8: opt-out and verification codes. Every message has a
/// `category` (`transactional` or `marketing`) and its recipient in the
/// suppression list's normal form (`optout_key`, E.164 where it can be
/// known), so an opt-out finds the recipient's queued marketing messages by
/// an index seek. `optout` is the suppression list. `verify_code` keeps a
/// verification code only as an HMAC-SHA256 under a per-install key that
/// lives outside the database (`verify.key` next to it), never the code.
const V8: &str = r#"
ALTER TABLE outgoing ADD COLUMN category TEXT NOT NULL DEFAULT 'transactional';
ALTER TABLE outgoing ADD COLUMN optout_key TEXT;
CREATE INDEX outgoing_marketing_active ON outgoing(optout_key)
    WHERE category = 'marketing' AND state IN ('queued', 'sending');
CREATE TABLE optout (
    number     TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    keyword    TEXT,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE verify_code (
    id          INTEGER PRIMARY KEY,
    number      TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    hash        BLOB NOT NULL,
    message_id  INTEGER,
    tries       INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX verify_code_by_number ON verify_code(number, created_at);
"#;

/// Version 9 (named for its number in the plan; versions 6 and 8 come from
/// other work): campaigns, and the campaign of each message. A campaign's
/// counters (`queued` … `cancelled`) count its messages by their current
/// state and are kept by the store in the transaction that changes a
/// message's state, so reading them is one row, never a scan.
const V9: &str = r#"
CREATE TABLE campaign (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    text         TEXT NOT NULL,
    state        TEXT NOT NULL,
    priority     INTEGER NOT NULL,
    report       INTEGER NOT NULL,
    window_start TEXT,
    window_end   TEXT,
    window_tz    TEXT,
    rate_per_min INTEGER,
    total        INTEGER NOT NULL DEFAULT 0,
    queued       INTEGER NOT NULL DEFAULT 0,
    sent         INTEGER NOT NULL DEFAULT 0,
    delivered    INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    skipped      INTEGER NOT NULL DEFAULT 0,
    expired      INTEGER NOT NULL DEFAULT 0,
    cancelled    INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    finished_at  INTEGER
);
CREATE INDEX campaign_live ON campaign(state) WHERE state IN ('scheduled', 'running', 'paused');
ALTER TABLE outgoing ADD COLUMN campaign INTEGER REFERENCES campaign(id);
CREATE INDEX outgoing_by_campaign ON outgoing(campaign, state) WHERE campaign IS NOT NULL;
"#;

/// Version 10 (numbered for its place after the versions other work adds):
/// narrow copies of the columns a report reads, in the order it walks
/// them, so a report over a million messages reads these indexes instead
/// of the rows with their texts and PDUs (the planner takes them as
/// covering indexes).
const V10: &str = r#"
CREATE INDEX outgoing_report ON outgoing(id, created_at, state, report, assigned_modem, modem, campaign);
CREATE INDEX part_report ON outgoing_part(message_id, seq, state, modem, sent_at, delivered_at);
"#;

/// The end of version 12: the summary from the rows already stored (also
/// the recomputation the report's tests compare the summary with).
macro_rules! v12_backfill {
    () => {
        r#"
INSERT INTO report_day (day, modem, campaign, messages, delivered, failed, expired, cancelled,
    skipped, pending, sent, sent_with_report, parts, parts_sent, parts_delivered, parts_failed)
SELECT day, modem, campaign, COUNT(*), SUM(delivered), SUM(failed), SUM(expired),
    SUM(cancelled), SUM(skipped), SUM(pending), SUM(sent), SUM(sent_with_report), SUM(parts),
    SUM(parts_sent), SUM(parts_delivered), SUM(parts_failed)
FROM report_message GROUP BY day, modem, campaign;
INSERT INTO report_time (day, modem, campaign, kind, ms, n)
SELECT day, modem, campaign, 0, to_sent, COUNT(*) FROM report_message
 WHERE to_sent IS NOT NULL GROUP BY day, modem, campaign, to_sent;
INSERT INTO report_time (day, modem, campaign, kind, ms, n)
SELECT day, modem, campaign, 1, to_delivered, COUNT(*) FROM report_message
 WHERE to_delivered IS NOT NULL GROUP BY day, modem, campaign, to_delivered;
INSERT INTO report_received (day, modem, n)
SELECT received_at / 86400000, modem, COUNT(*) FROM inbox GROUP BY 1, 2;
"#
    };
}

/// Version 12 (numbered for its place after version 11, which other work
/// adds; insert that one before this one): the report's summary. Per UTC
/// day of queueing (`created_at / 86400000`), modem (the first part's, else
/// the one assigned or asked for, else `''`) and campaign (`0` for none):
/// `report_day` counts messages by state and what their parts add up to,
/// `report_time` counts the queued-to-sent (`kind` 0) and sent-to-delivered
/// (`kind` 1) times of its messages, each time taken to two significant
/// digits, rounded down, and in steps of 100 ms under 10 s (`ms`); and
/// `report_received` counts received messages per day and modem.
///
/// Triggers keep them in the transaction that changes a message, a part or
/// the inbox, so they always agree with those tables. `report_message` is
/// the one definition of what a message adds to its group: a change takes
/// the message's contribution away before it (a BEFORE trigger) and adds
/// the new one after (an AFTER trigger; SQLite runs row triggers row by
/// row), both through the INSTEAD OF trigger of `report_apply`. Triggers
/// fire only when a column the report reads changes (a part's state
/// between pending and sending does not). The two inserts of every message
/// (the message, without parts; then each part, pending) take a shorter
/// way that adds what they add directly (`report_outgoing_insert_alone`,
/// `report_part_insert_pending`): a campaign queues 100,000 messages in
/// one go; so does a change of a message's state alone, neither from nor to
/// `delivered` (`report_outgoing_state`: cancelling or expiring many). A
/// part that takes the modem its message already counts under (the other
/// parts' first, else the one assigned or asked for: a send starting)
/// changes nothing and fires nothing. Rows
/// whose counts went back to
/// zero stay (readers skip them). The migration fills the tables from the
/// rows already stored.
const V12: &str = concat!(
    r#"
CREATE TABLE report_day (
    day              INTEGER NOT NULL,
    modem            TEXT NOT NULL,
    campaign         INTEGER NOT NULL,
    messages         INTEGER NOT NULL,
    delivered        INTEGER NOT NULL,
    failed           INTEGER NOT NULL,
    expired          INTEGER NOT NULL,
    cancelled        INTEGER NOT NULL,
    skipped          INTEGER NOT NULL,
    pending          INTEGER NOT NULL,
    sent             INTEGER NOT NULL,
    sent_with_report INTEGER NOT NULL,
    parts            INTEGER NOT NULL,
    parts_sent       INTEGER NOT NULL,
    parts_delivered  INTEGER NOT NULL,
    parts_failed     INTEGER NOT NULL,
    PRIMARY KEY (day, modem, campaign)
) WITHOUT ROWID;
CREATE TABLE report_time (
    day      INTEGER NOT NULL,
    modem    TEXT NOT NULL,
    campaign INTEGER NOT NULL,
    kind     INTEGER NOT NULL,
    ms       INTEGER NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (day, modem, campaign, kind, ms)
) WITHOUT ROWID;
CREATE TABLE report_received (
    day   INTEGER NOT NULL,
    modem TEXT NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (day, modem)
) WITHOUT ROWID;

CREATE VIEW report_fold AS
SELECT o.id AS id, o.created_at / 86400000 AS day,
    COALESCE((SELECT f.modem FROM outgoing_part f
               WHERE f.message_id = o.id AND f.modem IS NOT NULL ORDER BY f.seq LIMIT 1),
             o.assigned_modem, o.modem, '') AS modem,
    COALESCE(o.campaign, 0) AS campaign,
    o.state = 'delivered' AS delivered, o.state = 'failed' AS failed,
    o.state = 'expired' AS expired, o.state = 'cancelled' AS cancelled,
    o.state = 'skipped' AS skipped, o.state IN ('queued', 'sending') AS pending,
    COUNT(p.seq) > 0 AND COUNT(p.sent_at) = COUNT(p.seq) AS sent,
    COUNT(p.seq) > 0 AND COUNT(p.sent_at) = COUNT(p.seq) AND o.report AS sent_with_report,
    COUNT(p.seq) AS parts, COUNT(p.sent_at) AS parts_sent,
    COUNT(CASE p.state WHEN 'delivered' THEN 1 END) AS parts_delivered,
    COUNT(CASE p.state WHEN 'failed' THEN 1 END) AS parts_failed,
    CASE WHEN COUNT(p.seq) > 0 AND COUNT(p.sent_at) = COUNT(p.seq)
         THEN MAX(MAX(p.sent_at) - o.created_at, 0) END AS to_sent,
    CASE WHEN COUNT(p.seq) > 0 AND COUNT(p.sent_at) = COUNT(p.seq) AND o.state = 'delivered'
         THEN MAX(MAX(p.delivered_at) - MAX(p.sent_at), 0) END AS to_delivered
FROM outgoing o LEFT JOIN outgoing_part p ON p.message_id = o.id
GROUP BY o.id;
CREATE VIEW report_message AS
SELECT id, day, modem, campaign, delivered, failed, expired, cancelled, skipped, pending,
    sent, sent_with_report, parts, parts_sent, parts_delivered, parts_failed,
    CASE WHEN to_sent < 10000 THEN to_sent / 100 * 100
         ELSE CAST(substr(to_sent, 1, 2) || substr('0000000000000000000', 1, length(to_sent) - 2)
                   AS INTEGER) END AS to_sent,
    CASE WHEN to_delivered < 10000 THEN to_delivered / 100 * 100
         ELSE CAST(substr(to_delivered, 1, 2)
                   || substr('0000000000000000000', 1, length(to_delivered) - 2) AS INTEGER)
         END AS to_delivered
FROM report_fold;
CREATE VIEW report_apply (id, sign) AS SELECT 0, 0 WHERE 0;
CREATE TRIGGER report_apply INSTEAD OF INSERT ON report_apply BEGIN
    INSERT INTO report_day (day, modem, campaign, messages, delivered, failed, expired,
        cancelled, skipped, pending, sent, sent_with_report, parts, parts_sent,
        parts_delivered, parts_failed)
    SELECT day, modem, campaign, NEW.sign, delivered * NEW.sign, failed * NEW.sign,
        expired * NEW.sign, cancelled * NEW.sign, skipped * NEW.sign, pending * NEW.sign,
        sent * NEW.sign, sent_with_report * NEW.sign, parts * NEW.sign,
        parts_sent * NEW.sign, parts_delivered * NEW.sign, parts_failed * NEW.sign
    FROM report_message WHERE id = NEW.id
    ON CONFLICT (day, modem, campaign) DO UPDATE SET
        messages = messages + excluded.messages, delivered = delivered + excluded.delivered,
        failed = failed + excluded.failed, expired = expired + excluded.expired,
        cancelled = cancelled + excluded.cancelled, skipped = skipped + excluded.skipped,
        pending = pending + excluded.pending, sent = sent + excluded.sent,
        sent_with_report = sent_with_report + excluded.sent_with_report,
        parts = parts + excluded.parts, parts_sent = parts_sent + excluded.parts_sent,
        parts_delivered = parts_delivered + excluded.parts_delivered,
        parts_failed = parts_failed + excluded.parts_failed;
    INSERT INTO report_time (day, modem, campaign, kind, ms, n)
    SELECT day, modem, campaign, 0, to_sent, NEW.sign FROM report_message
     WHERE id = NEW.id AND to_sent IS NOT NULL
    ON CONFLICT (day, modem, campaign, kind, ms) DO UPDATE SET n = n + excluded.n;
    INSERT INTO report_time (day, modem, campaign, kind, ms, n)
    SELECT day, modem, campaign, 1, to_delivered, NEW.sign FROM report_message
     WHERE id = NEW.id AND to_delivered IS NOT NULL
    ON CONFLICT (day, modem, campaign, kind, ms) DO UPDATE SET n = n + excluded.n;
END;
CREATE TRIGGER report_outgoing_insert AFTER INSERT ON outgoing
WHEN EXISTS (SELECT 1 FROM outgoing_part p WHERE p.message_id = NEW.id) BEGIN
    INSERT INTO report_apply VALUES (NEW.id, 1);
END;
CREATE TRIGGER report_outgoing_insert_alone AFTER INSERT ON outgoing
WHEN NOT EXISTS (SELECT 1 FROM outgoing_part p WHERE p.message_id = NEW.id) BEGIN
    INSERT INTO report_day (day, modem, campaign, messages, delivered, failed, expired,
        cancelled, skipped, pending, sent, sent_with_report, parts, parts_sent,
        parts_delivered, parts_failed)
    VALUES (NEW.created_at / 86400000, COALESCE(NEW.assigned_modem, NEW.modem, ''),
        COALESCE(NEW.campaign, 0), 1, NEW.state = 'delivered', NEW.state = 'failed',
        NEW.state = 'expired', NEW.state = 'cancelled', NEW.state = 'skipped',
        NEW.state IN ('queued', 'sending'), 0, 0, 0, 0, 0, 0)
    ON CONFLICT (day, modem, campaign) DO UPDATE SET
        messages = messages + 1, delivered = delivered + excluded.delivered,
        failed = failed + excluded.failed, expired = expired + excluded.expired,
        cancelled = cancelled + excluded.cancelled, skipped = skipped + excluded.skipped,
        pending = pending + excluded.pending;
END;
CREATE TRIGGER report_outgoing_delete BEFORE DELETE ON outgoing BEGIN
    INSERT INTO report_apply VALUES (OLD.id, -1);
END;
CREATE TRIGGER report_outgoing_before
BEFORE UPDATE OF state, report, assigned_modem, modem, campaign, created_at ON outgoing
WHEN (OLD.state IS NOT NEW.state
      AND NOT (OLD.state IN ('queued', 'sending') AND NEW.state IN ('queued', 'sending'))
  OR OLD.report IS NOT NEW.report OR OLD.assigned_modem IS NOT NEW.assigned_modem
  OR OLD.modem IS NOT NEW.modem OR OLD.campaign IS NOT NEW.campaign
  OR OLD.created_at IS NOT NEW.created_at) AND NOT (OLD.state IS NOT NEW.state
  AND NOT (OLD.state IN ('queued', 'sending') AND NEW.state IN ('queued', 'sending'))
  AND OLD.state <> 'delivered' AND NEW.state <> 'delivered'
  AND OLD.report IS NEW.report AND OLD.assigned_modem IS NEW.assigned_modem
  AND OLD.modem IS NEW.modem AND OLD.campaign IS NEW.campaign
  AND OLD.created_at IS NEW.created_at)
BEGIN
    INSERT INTO report_apply VALUES (OLD.id, -1);
END;
CREATE TRIGGER report_outgoing_after
AFTER UPDATE OF state, report, assigned_modem, modem, campaign, created_at ON outgoing
WHEN (OLD.state IS NOT NEW.state
      AND NOT (OLD.state IN ('queued', 'sending') AND NEW.state IN ('queued', 'sending'))
  OR OLD.report IS NOT NEW.report OR OLD.assigned_modem IS NOT NEW.assigned_modem
  OR OLD.modem IS NOT NEW.modem OR OLD.campaign IS NOT NEW.campaign
  OR OLD.created_at IS NOT NEW.created_at) AND NOT (OLD.state IS NOT NEW.state
  AND NOT (OLD.state IN ('queued', 'sending') AND NEW.state IN ('queued', 'sending'))
  AND OLD.state <> 'delivered' AND NEW.state <> 'delivered'
  AND OLD.report IS NEW.report AND OLD.assigned_modem IS NEW.assigned_modem
  AND OLD.modem IS NEW.modem AND OLD.campaign IS NEW.campaign
  AND OLD.created_at IS NEW.created_at)
BEGIN
    INSERT INTO report_apply VALUES (NEW.id, 1);
END;
CREATE TRIGGER report_outgoing_state AFTER UPDATE OF state ON outgoing
WHEN OLD.state IS NOT NEW.state
  AND NOT (OLD.state IN ('queued', 'sending') AND NEW.state IN ('queued', 'sending'))
  AND OLD.state <> 'delivered' AND NEW.state <> 'delivered'
  AND OLD.report IS NEW.report AND OLD.assigned_modem IS NEW.assigned_modem
  AND OLD.modem IS NEW.modem AND OLD.campaign IS NEW.campaign
  AND OLD.created_at IS NEW.created_at
BEGIN
    UPDATE report_day SET
        failed = failed + (NEW.state = 'failed') - (OLD.state = 'failed'),
        expired = expired + (NEW.state = 'expired') - (OLD.state = 'expired'),
        cancelled = cancelled + (NEW.state = 'cancelled') - (OLD.state = 'cancelled'),
        skipped = skipped + (NEW.state = 'skipped') - (OLD.state = 'skipped'),
        pending = pending + (NEW.state IN ('queued', 'sending'))
            - (OLD.state IN ('queued', 'sending'))
     WHERE (day, modem, campaign) = (
        SELECT o.created_at / 86400000,
            COALESCE((SELECT f.modem FROM outgoing_part f
                       WHERE f.message_id = o.id AND f.modem IS NOT NULL ORDER BY f.seq LIMIT 1),
                     o.assigned_modem, o.modem, ''),
            COALESCE(o.campaign, 0)
        FROM outgoing o WHERE o.id = NEW.id);
END;
CREATE TRIGGER report_part_insert_before BEFORE INSERT ON outgoing_part
WHEN NOT (NEW.state = 'pending' AND NEW.modem IS NULL AND NEW.sent_at IS NULL
    AND NEW.delivered_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM outgoing_part p
                     WHERE p.message_id = NEW.message_id AND p.sent_at IS NOT NULL)) BEGIN
    INSERT INTO report_apply VALUES (NEW.message_id, -1);
END;
CREATE TRIGGER report_part_insert_after AFTER INSERT ON outgoing_part
WHEN NOT (NEW.state = 'pending' AND NEW.modem IS NULL AND NEW.sent_at IS NULL
    AND NEW.delivered_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM outgoing_part p
                     WHERE p.message_id = NEW.message_id AND p.sent_at IS NOT NULL)) BEGIN
    INSERT INTO report_apply VALUES (NEW.message_id, 1);
END;
CREATE TRIGGER report_part_insert_pending AFTER INSERT ON outgoing_part
WHEN NEW.state = 'pending' AND NEW.modem IS NULL AND NEW.sent_at IS NULL
    AND NEW.delivered_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM outgoing_part p
                     WHERE p.message_id = NEW.message_id AND p.sent_at IS NOT NULL) BEGIN
    UPDATE report_day SET parts = parts + 1
     WHERE (day, modem, campaign) = (
        SELECT o.created_at / 86400000,
            COALESCE((SELECT f.modem FROM outgoing_part f
                       WHERE f.message_id = o.id AND f.modem IS NOT NULL ORDER BY f.seq LIMIT 1),
                     o.assigned_modem, o.modem, ''),
            COALESCE(o.campaign, 0)
        FROM outgoing o WHERE o.id = NEW.message_id);
END;
CREATE TRIGGER report_part_delete_before BEFORE DELETE ON outgoing_part BEGIN
    INSERT INTO report_apply VALUES (OLD.message_id, -1);
END;
CREATE TRIGGER report_part_delete_after AFTER DELETE ON outgoing_part BEGIN
    INSERT INTO report_apply VALUES (OLD.message_id, 1);
END;
CREATE TRIGGER report_part_before
BEFORE UPDATE OF state, modem, sent_at, delivered_at ON outgoing_part
WHEN (OLD.state = 'delivered') IS NOT (NEW.state = 'delivered')
  OR (OLD.state = 'failed') IS NOT (NEW.state = 'failed')
  OR OLD.sent_at IS NOT NEW.sent_at OR OLD.delivered_at IS NOT NEW.delivered_at
  OR OLD.modem IS NOT NEW.modem AND NOT (OLD.modem IS NULL AND NEW.modem IS (
      SELECT COALESCE((SELECT f.modem FROM outgoing_part f
                        WHERE f.message_id = o.id AND f.seq <> NEW.seq AND f.modem IS NOT NULL
                        ORDER BY f.seq LIMIT 1), o.assigned_modem, o.modem)
        FROM outgoing o WHERE o.id = NEW.message_id))
BEGIN
    INSERT INTO report_apply VALUES (OLD.message_id, -1);
END;
CREATE TRIGGER report_part_after
AFTER UPDATE OF state, modem, sent_at, delivered_at ON outgoing_part
WHEN (OLD.state = 'delivered') IS NOT (NEW.state = 'delivered')
  OR (OLD.state = 'failed') IS NOT (NEW.state = 'failed')
  OR OLD.sent_at IS NOT NEW.sent_at OR OLD.delivered_at IS NOT NEW.delivered_at
  OR OLD.modem IS NOT NEW.modem AND NOT (OLD.modem IS NULL AND NEW.modem IS (
      SELECT COALESCE((SELECT f.modem FROM outgoing_part f
                        WHERE f.message_id = o.id AND f.seq <> NEW.seq AND f.modem IS NOT NULL
                        ORDER BY f.seq LIMIT 1), o.assigned_modem, o.modem)
        FROM outgoing o WHERE o.id = NEW.message_id))
BEGIN
    INSERT INTO report_apply VALUES (NEW.message_id, 1);
END;
CREATE TRIGGER report_inbox_insert AFTER INSERT ON inbox BEGIN
    INSERT INTO report_received (day, modem, n) VALUES (NEW.received_at / 86400000, NEW.modem, 1)
    ON CONFLICT (day, modem) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER report_inbox_delete AFTER DELETE ON inbox BEGIN
    UPDATE report_received SET n = n - 1
     WHERE day = OLD.received_at / 86400000 AND modem = OLD.modem;
END;
CREATE TRIGGER report_inbox_update AFTER UPDATE OF received_at, modem ON inbox
WHEN OLD.received_at IS NOT NEW.received_at OR OLD.modem IS NOT NEW.modem BEGIN
    UPDATE report_received SET n = n - 1
     WHERE day = OLD.received_at / 86400000 AND modem = OLD.modem;
    INSERT INTO report_received (day, modem, n) VALUES (NEW.received_at / 86400000, NEW.modem, 1)
    ON CONFLICT (day, modem) DO UPDATE SET n = n + 1;
END;
"#,
    v12_backfill!()
);

/// Version 13: the hosts of a cluster on PostgreSQL (`cluster.rs`). `node`:
/// one row per host (its heartbeat; `stopped_at` when it stopped cleanly).
/// `node_modem`: the modems a host drives, keyed by host plus SIM (the
/// IMSI, else `iccid:` and the ICCID, else `modem:` and the modem's name;
/// never the IMEI alone). `outgoing.claimed_by` / `lease_until`: the host
/// that claimed a message to send it, until when (renewed by its
/// heartbeat); a claim past its lease is free for another host. The same
/// tables on SQLite, where one host never writes them.
const V13: &str = r#"
CREATE TABLE node (
    name         TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    pid          INTEGER,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    stopped_at   INTEGER
);
CREATE TABLE node_modem (
    node    TEXT NOT NULL REFERENCES node(name) ON DELETE CASCADE,
    sim     TEXT NOT NULL,
    modem   TEXT NOT NULL,
    imsi    TEXT,
    iccid   TEXT,
    imei    TEXT,
    state   TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (node, sim)
);
CREATE UNIQUE INDEX node_modem_by_name ON node_modem(node, modem);
CREATE INDEX node_modem_by_sim ON node_modem(sim);
ALTER TABLE outgoing ADD COLUMN claimed_by TEXT;
ALTER TABLE outgoing ADD COLUMN lease_until INTEGER;
CREATE INDEX outgoing_claimed ON outgoing(claimed_by, lease_until)
    WHERE claimed_by IS NOT NULL;
"#;

/// Version 14 (numbered for its place after version 13, the cluster's
/// nodes and claims; insert that one before this one): the lease of each
/// event consumer (hook or webhook) on PostgreSQL, where several hosts
/// could serve it: one host at a time holds `name` until `expires_at`
/// (milliseconds, by the database's clock) and renews it while it serves
/// the consumer. The table exists on SQLite too, empty: one host serves
/// everything there.
const V14: &str = r#"
CREATE TABLE consumer_lease (
    name       TEXT PRIMARY KEY,
    node       TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    taken_at   INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Version 15: two things a cluster on PostgreSQL shares. `secret`: keys
/// every host must agree on, by name; `verify_key` is the HMAC key of the
/// verification codes (on SQLite the key stays in `verify.key` beside the
/// database and this table stays empty; `smsgate migrate` carries the file
/// into it). `event.node`: the host that appended the event (its `[cluster]
/// node`; NULL on one host), so each host's metrics count its own events.
/// `verify_text`: on PostgreSQL, the real text of a verification-code
/// message until its code expires, so whichever host claims the message
/// can send it (on SQLite it stays in memory only and this table stays
/// empty).
const V15: &str = r#"
CREATE TABLE secret (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE verify_text (
    message_id INTEGER PRIMARY KEY,
    text       TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX verify_text_expires ON verify_text(expires_at);
ALTER TABLE event ADD COLUMN node TEXT;
"#;

/// [`V12`]'s backfill alone.
#[cfg(test)]
pub(crate) const V12_BACKFILL: &str = v12_backfill!();

/// Brings `conn` up to `target` (at most `MIGRATIONS.len()`), one transaction
/// per migration. Refuses a database newer than this binary knows.
pub(crate) fn migrate_to(conn: &mut Connection, target: usize) -> Result<usize, StoreError> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(StoreError::sql("read user_version"))?;
    let known = MIGRATIONS.len();
    let current = usize::try_from(found).map_err(|_| StoreError::TooNew { found, known })?;
    if current > known {
        return Err(StoreError::TooNew { found, known });
    }
    for (index, script) in MIGRATIONS.iter().enumerate().take(target).skip(current) {
        let version = index + 1;
        let fail = |e: rusqlite::Error| StoreError::Migration {
            version,
            message: e.to_string(),
        };
        let tx = conn.transaction().map_err(fail)?;
        tx.execute_batch(script).map_err(fail)?;
        tx.pragma_update(None, "user_version", version as i64)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
    }
    Ok(target.max(current))
}

/// Brings `conn` to the newest version.
pub(crate) fn migrate(conn: &mut Connection) -> Result<usize, StoreError> {
    migrate_to(conn, MIGRATIONS.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn schema_of(path: &std::path::Path) -> Vec<(String, String, String)> {
        let conn = Connection::open(path).expect("open for inspection");
        let mut stmt = conn
            .prepare("SELECT type, name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name")
            .expect("prepare");
        let rows = stmt.query_map([], |r| r.try_into()).expect("query");
        rows.collect::<Result<Vec<_>, _>>().expect("rows")
    }

    fn user_version(path: &std::path::Path) -> i64 {
        let conn = Connection::open(path).expect("open for inspection");
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("user_version")
    }

    #[tokio::test]
    async fn every_older_version_migrates_to_the_fresh_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fresh = dir.path().join("fresh.db");
        Store::open(&fresh)
            .expect("fresh")
            .close()
            .await
            .expect("close");
        let want = schema_of(&fresh);
        assert!(!want.is_empty());
        let versions: Vec<usize> = (0..=MIGRATIONS.len()).collect();
        assert!(!versions.is_empty());
        for v in versions {
            let path = dir.path().join(format!("v{v}.db"));
            {
                let mut conn = Connection::open(&path).expect("open old");
                assert_eq!(migrate_to(&mut conn, v).expect("build old"), v);
            }
            assert_eq!(user_version(&path), v as i64);
            let store = Store::open(&path).expect("upgrade");
            store.close().await.expect("close");
            assert_eq!(schema_of(&path), want, "from v{v}");
            assert_eq!(user_version(&path), MIGRATIONS.len() as i64);
        }
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new.db");
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "user_version", 99i64)
            .expect("set version");
        drop(conn);
        match Store::open(&path) {
            Err(StoreError::TooNew { found: 99, .. }) => {}
            other => panic!("expected TooNew, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().expect("memory");
        assert_eq!(migrate(&mut conn).expect("first"), MIGRATIONS.len());
        assert_eq!(migrate(&mut conn).expect("second"), MIGRATIONS.len());
    }
}
