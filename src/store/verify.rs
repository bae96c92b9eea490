//! Verification codes: the `verify_code` rows (a keyed hash of each code,
//! never the code), the per-number hourly limit, single use, the try limit
//! and expiry, and the code message queued in the same transaction. The
//! caller computes the hashes (the key lives outside the database); this
//! module compares them in constant time (`subtle`).
//!
//! The code message's text is stored with the code masked; its real text
//! is kept in memory only ([`Sealed`]) and handed to the dispatcher by
//! `ready`. After a restart the real text is gone: such a message fails
//! ("code lost at restart") instead of going out masked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::outgoing::{enqueue, fail_unsendable};
use super::sql::{args, Db};
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

    /// Puts the real text into every sealed message of `batch`; a sealed
    /// message whose text is gone is failed and left out.
    pub(crate) fn unseal(
        &self,
        c: &dyn Db,
        batch: &mut ReadyBatch,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut lost = Vec::new();
        {
            let m = self.lock();
            for msg in batch.messages.iter_mut().filter(|m| m.options.sealed) {
                match m.get(&msg.id) {
                    Some((text, _)) => msg.text = text.clone(),
                    None => lost.push(msg.id),
                }
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
