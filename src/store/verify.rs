//! Verification codes: the `verify_code` rows (a keyed hash of each code,
//! never the code), the per-number hourly limit, single use, the try limit
//! and expiry, and the code message queued in the same transaction. The
//! caller computes the hashes (the key lives outside the database); this
//! module compares them in constant time (`subtle`).
//!
//! The code message's text is stored with the code masked; its real text
//! is kept in memory only ([`Sealed`]) and handed to the dispatcher by
//! `ready`. After a restart the real text is gone: such a message fails
//! ("code lost at restart") instead of going out masked. On PostgreSQL
//! (several hosts) whichever host claims the message sends it, so the real
//! text is also in `verify_text` until the code expires (see
//! docs/cluster.md, "Verification codes across hosts").
//!
//! Also the cluster's shared secrets ([`secret`]): on PostgreSQL the HMAC
//! key is kept in the database, the first host's key for every host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::outgoing::{enqueue, fail_unsendable};
use super::sql::{args, Db, Dialect};
use super::{from_ms, ms, rfc3339_ms, Enqueued, MessageId, NewMessage, ReadyBatch, StoreError};

/// Wrong tries after which a code is dead.
pub const MAX_TRIES: i64 = 5;

/// The real texts of code messages not yet out, by message id, with the
/// moment after which they are useless (the code's expiry).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sealed(Arc<Mutex<SealedMap>>);

/// Message id → (real text, useless after).
type SealedMap = HashMap<MessageId, (String, DateTime<Utc>)>;

impl Sealed {
    fn lock(&self) -> std::sync::MutexGuard<'_, SealedMap> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, id: MessageId, text: String, until: DateTime<Utc>, now: DateTime<Utc>) {
        let mut m = self.lock();
        m.retain(|_, (_, u)| *u > now);
        m.insert(id, (text, until));
    }

    /// On PostgreSQL, the real text for another host too, until `until`
    /// (and the texts of codes that expired go).
    fn share(
        c: &dyn Db,
        id: MessageId,
        text: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if c.dialect() != Dialect::Postgres {
            return Ok(());
        }
        c.execute(
            "DELETE FROM verify_text WHERE expires_at <= ?1",
            args![ms(now)],
        )
        .map_err(StoreError::sql("forget expired code texts"))?;
        c.execute(
            "INSERT INTO verify_text (message_id, text, expires_at) VALUES (?1, ?2, ?3)",
            args![id, text, ms(until)],
        )
        .map_err(StoreError::sql("share a code text"))?;
        Ok(())
    }

    /// The real text of sealed message `id` entered through another host
    /// (PostgreSQL), while its code lives.
    fn shared(c: &dyn Db, id: MessageId, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
        if c.dialect() != Dialect::Postgres {
            return Ok(None);
        }
        c.query_opt(
            "SELECT text FROM verify_text WHERE message_id = ?1 AND expires_at > ?2",
            args![id, ms(now)],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("read a code text"))
    }

    /// Puts the real text into every sealed message of `batch`; a sealed
    /// message whose text is gone is failed and left out.
    pub(crate) fn unseal(
        &self,
        c: &dyn Db,
        batch: &mut ReadyBatch,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut lost = Vec::new();
        let mut elsewhere = Vec::new();
        {
            let m = self.lock();
            for msg in batch.messages.iter_mut().filter(|m| m.options.sealed) {
                match m.get(&msg.id) {
                    Some((text, _)) => msg.text = text.clone(),
                    None => elsewhere.push(msg.id),
                }
            }
        }
        for id in elsewhere {
            match Self::shared(c, id, now)? {
                Some(text) => {
                    if let Some(msg) = batch.messages.iter_mut().find(|m| m.id == id) {
                        msg.text = text;
                    }
                }
                None => lost.push(id),
            }
        }
        for id in &lost {
            fail_unsendable(
                c,
                *id,
                "the verification code was lost at a restart (kept in memory only); ask for a new one",
                now,
            )?;
        }
        batch.messages.retain(|m| !lost.contains(&m.id));
        Ok(())
    }
}

/// A code to store with its message.
#[derive(Debug, Clone)]
pub struct NewCode {
    /// Normal form (the limit and the check go by it).
    pub number: String,
    /// HMAC-SHA256 of the code (see `gateway::verify`).
    pub hash: [u8; 32],
    pub expires_at: DateTime<Utc>,
    pub max_per_hour: u32,
    /// The code message, its `text` masked.
    pub message: NewMessage,
    /// The real text, kept in memory only.
    pub sealed_text: String,
}

/// The answer to `verify_create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeSent {
    pub id: i64,
    pub message: Enqueued,
    pub expires_at: String,
}

/// The answer to `verify_check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CheckResult {
    pub valid: bool,
    /// Why not: `no_code`, `expired`, `used`, `too_many_tries`,
    /// `wrong_code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Tries left after a wrong code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tries_left: Option<u32>,
}

impl CheckResult {
    fn no(reason: &str, tries_left: Option<u32>) -> CheckResult {
        CheckResult {
            valid: false,
            reason: Some(reason.to_string()),
            tries_left,
        }
    }
}

pub(crate) fn create(
    c: &dyn Db,
    sealed: &Sealed,
    code: NewCode,
    now: DateTime<Utc>,
) -> Result<CodeSent, StoreError> {
    let hour_ago = ms(now - ChronoDuration::hours(1));
    let sent: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM verify_code WHERE number = ?1 AND created_at > ?2",
            args![&code.number, hour_ago],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("count codes"))?;
    if sent >= i64::from(code.max_per_hour) {
        return Err(StoreError::RateLimited(format!(
            "{} already got {sent} codes in the last hour ([verify] max_per_hour = {})",
            code.number, code.max_per_hour
        )));
    }
    // A new code replaces the number's earlier ones.
    c.execute(
        "UPDATE verify_code SET state = 'superseded', finished_at = ?2
         WHERE number = ?1 AND state = 'pending'",
        args![&code.number, ms(now)],
    )
    .map_err(StoreError::sql("supersede codes"))?;
    let enq = enqueue(c, &code.message, now)?;
    let id: i64 = c
        .query_one(
            "INSERT INTO verify_code (number, recipient, hash, message_id, state, created_at,
                 expires_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6)
             RETURNING id",
            args![
                &code.number,
                &code.message.to,
                &code.hash[..],
                enq.id,
                ms(now),
                ms(code.expires_at)
            ],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("insert code"))?;
    Sealed::share(c, enq.id, &code.sealed_text, code.expires_at, now)?;
    sealed.insert(enq.id, code.sealed_text, code.expires_at, now);
    Ok(CodeSent {
        id,
        message: enq,
        expires_at: rfc3339_ms("expires_at", ms(code.expires_at))?,
    })
}

pub(crate) fn check(
    c: &dyn Db,
    number: &str,
    candidate: &[u8; 32],
    now: DateTime<Utc>,
) -> Result<CheckResult, StoreError> {
    let row: Option<(i64, Vec<u8>, i64, String, i64)> = c
        .query_opt(
            "SELECT id, hash, tries, state, expires_at FROM verify_code
             WHERE number = ?1 ORDER BY id DESC LIMIT 1",
            args![number],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .map_err(StoreError::sql("read code"))?;
    let Some((id, hash, tries, state, expires)) = row else {
        return Ok(CheckResult::no("no_code", None));
    };
    match state.as_str() {
        "pending" => {}
        "verified" => return Ok(CheckResult::no("used", None)),
        "failed" => return Ok(CheckResult::no("too_many_tries", None)),
        "expired" => return Ok(CheckResult::no("expired", None)),
        _ => return Ok(CheckResult::no("no_code", None)),
    }
    let finish = |state: &str| {
        c.execute(
            "UPDATE verify_code SET state = ?2, tries = ?3, finished_at = ?4 WHERE id = ?1",
            args![id, state, tries, ms(now)],
        )
        .map_err(StoreError::sql("finish code"))
    };
    if from_ms("expires_at", expires)? <= now {
        finish("expired")?;
        return Ok(CheckResult::no("expired", None));
    }
    if bool::from(hash.as_slice().ct_eq(&candidate[..])) {
        finish("verified")?;
        return Ok(CheckResult {
            valid: true,
            reason: None,
            tries_left: None,
        });
    }
    let tries = tries + 1;
    let dead = tries >= MAX_TRIES;
    c.execute(
        "UPDATE verify_code SET tries = ?2, state = ?3, finished_at = ?4 WHERE id = ?1",
        args![
            id,
            tries,
            if dead { "failed" } else { "pending" },
            dead.then_some(ms(now))
        ],
    )
    .map_err(StoreError::sql("count a wrong try"))?;
    if dead {
        return Ok(CheckResult::no("too_many_tries", Some(0)));
    }
    Ok(CheckResult::no(
        "wrong_code",
        Some(u32::try_from(MAX_TRIES - tries).unwrap_or(0)),
    ))
}

/// The name of the verification codes' HMAC key in `secret`.
pub(crate) const VERIFY_KEY: &str = "verify_key";

/// The shared secret `name`: the one stored, or `candidate` when there was
/// none (stored now). Two hosts asking at once get the same one: the
/// second insert waits for the first and does nothing, then both read the
/// row that committed.
pub(crate) fn secret(
    c: &dyn Db,
    name: &str,
    candidate: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<u8>, StoreError> {
    c.execute(
        "INSERT INTO secret (name, value, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
        args![name, candidate, ms(now)],
    )
    .map_err(StoreError::sql("store a secret"))?;
    c.query_one(
        "SELECT value FROM secret WHERE name = ?1",
        args![name],
        |r| r.get(0),
    )
    .map_err(StoreError::sql("read a secret"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::store::tests::fixture::{msg, t};
    use crate::store::{pgtest, NewCode};

    const WAIT: Duration = Duration::from_secs(30);

    use crate::store::pgtest::open;

    /// Two hosts on one database: they agree on one key however they
    /// start; a code entered through A goes out through B with its real
    /// text, and checks through B.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_code_sent_through_one_host_checks_on_another() {
        let Some(url) = tokio::task::spawn_blocking(pgtest::url).await.expect("url") else {
            return;
        };
        let a = open(&url).await;
        let b = open(&url).await;
        let (ka, kb) = tokio::time::timeout(WAIT, async {
            tokio::join!(a.verify_key([1; 32]), b.verify_key([2; 32]))
        })
        .await
        .expect("in time");
        let (ka, kb) = (ka.expect("a's key"), kb.expect("b's key"));
        assert_eq!(ka, kb, "one key for both hosts");
        assert!(ka == [1; 32] || ka == [2; 32]);
        // Later candidates change nothing.
        assert_eq!(a.verify_key([3; 32]).await.expect("again"), ka);

        let mut message = msg("+4917011", 1);
        message.text = "Your code is ******".into();
        message.options.sealed = true;
        let hash = crate::gateway::verify::code_hash(&ka, "+4917011", "123456");
        let sent = a
            .verify_create(
                NewCode {
                    number: "+4917011".into(),
                    hash,
                    expires_at: t(300),
                    max_per_hour: 5,
                    message,
                    sealed_text: "Your code is 123456".into(),
                },
                t(0),
            )
            .await
            .expect("create through a");
        // B takes the message (A's memory is not B's) and has its real text.
        let ready = b.ready(t(1), 10).await.expect("ready on b");
        let texts: Vec<(i64, &str)> = ready
            .messages
            .iter()
            .map(|m| (m.id, m.text.as_str()))
            .collect();
        assert_eq!(texts, [(sent.message.id, "Your code is 123456")]);
        // Past the code's expiry the text is gone from the database.
        let late = b.ready(t(300), 10).await.expect("ready late");
        assert!(late.messages.is_empty(), "{late:?}");

        // A second code, checked through B with B's key.
        let mut message = msg("+4917022", 1);
        message.options.sealed = true;
        let hash = crate::gateway::verify::code_hash(&kb, "+4917022", "654321");
        a.verify_create(
            NewCode {
                number: "+4917022".into(),
                hash,
                expires_at: t(300),
                max_per_hour: 5,
                message,
                sealed_text: "654321".into(),
            },
            t(2),
        )
        .await
        .expect("create");
        let candidate = crate::gateway::verify::code_hash(&kb, "+4917022", "654321");
        let r = b
            .verify_check("+4917022", candidate, t(3))
            .await
            .expect("check on b");
        assert!(r.valid, "{r:?}");
        a.close().await.expect("close a");
        b.close().await.expect("close b");
    }
}
