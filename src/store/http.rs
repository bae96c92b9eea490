//! The HTTP face's tables: API tokens (only a hash of each is kept),
//! idempotency keys (the first answer to a request, committed in the same
//! transaction as the messages it queued), the batch enqueue behind
//! multi-recipient sends, and the outbox page with a `before` cursor. Plain
//! functions over a `&dyn Db` (SQLite or PostgreSQL), run by the store
//! thread inside its batch transaction; no HTTP types and no policy (scopes are opaque strings here).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::sync::LazyLock;

use super::outgoing::{self, rows, view_from_row, VIEW_COLUMNS};
use super::sql::{args, Db, Row};
use super::{ms, rfc3339_ms, MessageId, MessageState, NewMessage, OutgoingView, StoreError};

/// One message of a batch as it was queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub id: MessageId,
    pub to: String,
    pub parts: u32,
}

/// An idempotency key with what it guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The namespaced key (`api:<token>:<key>`, `compat:<id>`).
    pub key: String,
    /// A digest of the request: the same key with another request is refused.
    pub fingerprint: String,
    /// A stored key older than this is forgotten (`None`: never).
    pub fresh_after: Option<DateTime<Utc>>,
}

/// The answer to `enqueue_batch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Queued now.
    Queued(Vec<Accepted>),
    /// The key was used before for the same request: its first answer;
    /// nothing was queued.
    Replayed(Vec<Accepted>),
    /// The key was used before for a different request; nothing was queued.
    KeyReused,
}

/// A token as `token list` shows it (never the secret or its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
}

/// A token as authentication needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub hash: String,
    pub scopes: Vec<String>,
}

fn lookup_key(
    c: &dyn Db,
    key: &str,
    fresh_after: Option<DateTime<Utc>>,
) -> Result<Option<(String, Vec<Accepted>)>, StoreError> {
    let row: Option<(String, String, i64)> = c
        .query_opt(
            "SELECT fingerprint, messages, created_at FROM idempotency WHERE key = ?1",
            args![key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(StoreError::sql("look up idempotency key"))?;
    let Some((fingerprint, messages, created)) = row else {
        return Ok(None);
    };
    if fresh_after.is_some_and(|t| created < ms(t)) {
        c.execute("DELETE FROM idempotency WHERE key = ?1", args![key])
            .map_err(StoreError::sql("forget idempotency key"))?;
        return Ok(None);
    }
    let messages: Vec<Accepted> =
        serde_json::from_str(&messages).map_err(|_| StoreError::Corrupt {
            field: "idempotency.messages",
            value: messages.clone(),
        })?;
    Ok(Some((fingerprint, messages)))
}

/// Queues every message of `msgs` in the caller's transaction (one durable
/// commit for the batch). With a key: a fresh stored key answers its first
/// result (or [`BatchOutcome::KeyReused`]) and queues nothing; otherwise the
/// key is stored with the result, in the same transaction.
pub(crate) fn enqueue_batch(
    c: &dyn Db,
    msgs: &[NewMessage],
    key: Option<&IdempotencyKey>,
    now: DateTime<Utc>,
) -> Result<BatchOutcome, StoreError> {
    if let Some(k) = key {
        if let Some((fingerprint, first)) = lookup_key(c, &k.key, k.fresh_after)? {
            return Ok(if fingerprint == k.fingerprint {
                BatchOutcome::Replayed(first)
            } else {
                BatchOutcome::KeyReused
            });
        }
    }
    let out: Vec<Accepted> = outgoing::enqueue_many(c, msgs, now)?
        .into_iter()
        .zip(msgs)
        .map(|(enq, m)| Accepted {
            id: enq.id,
            to: m.to.clone(),
            parts: enq.parts,
        })
        .collect();
    if let Some(k) = key {
        let messages = serde_json::to_string(&out).map_err(|e| StoreError::Invalid {
            field: "idempotency.messages",
            reason: e.to_string(),
        })?;
        c.execute(
            "INSERT INTO idempotency (key, fingerprint, messages, created_at) VALUES (?1, ?2, ?3, ?4)",
            args![&k.key, &k.fingerprint, &messages, ms(now)],
        )
        .map_err(StoreError::sql("store idempotency key"))?;
    }
    Ok(BatchOutcome::Queued(out))
}

/// The messages a key queued, if it is stored (and fresh).
pub(crate) fn key_messages(
    c: &dyn Db,
    key: &str,
    fresh_after: Option<DateTime<Utc>>,
) -> Result<Option<Vec<Accepted>>, StoreError> {
    Ok(lookup_key(c, key, fresh_after)?.map(|(_, m)| m))
}

/// Forgets keys with `prefix` stored before `cutoff`; returns how many.
pub(crate) fn prune_keys(
    c: &dyn Db,
    prefix: &str,
    cutoff: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let n = c
        .execute(
            "DELETE FROM idempotency
             WHERE substr(key, 1, length(CAST(?1 AS TEXT))) = CAST(?1 AS TEXT)
               AND created_at < ?2",
            args![prefix, ms(cutoff)],
        )
        .map_err(StoreError::sql("prune idempotency keys"))?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Outgoing messages older than `before` (all when `None`), newest first.
pub(crate) fn outbox_page(
    c: &dyn Db,
    state: Option<MessageState>,
    before: Option<MessageId>,
    limit: usize,
) -> Result<Vec<OutgoingView>, StoreError> {
    // Two statements so each walks an index: by id, or by (state, id);
    // made once.
    static ALL: LazyLock<String> = LazyLock::new(|| {
        format!("SELECT {VIEW_COLUMNS} FROM outgoing WHERE id < ?1 ORDER BY id DESC LIMIT ?2")
    });
    static IN_STATE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {VIEW_COLUMNS} FROM outgoing WHERE state = ?1 AND id < ?2
             ORDER BY id DESC LIMIT ?3"
        )
    });
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let before = before.unwrap_or(i64::MAX);
    let view = |r: &dyn Row| view_from_row(c, r);
    match state {
        None => rows(c, "outbox page", &ALL, args![before, limit], view),
        Some(s) => rows(
            c,
            "outbox page",
            &IN_STATE,
            args![s.as_str(), before, limit],
            view,
        ),
    }
}

/// Stores a new token; false when the name is taken.
pub(crate) fn token_insert(
    c: &dyn Db,
    name: &str,
    hash: &str,
    scopes: &[String],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let scopes = serde_json::to_string(scopes).map_err(|e| StoreError::Invalid {
        field: "scopes",
        reason: e.to_string(),
    })?;
    let n = c
        .execute(
            "INSERT INTO api_token (name, hash, scopes, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO NOTHING",
            args![name, hash, &scopes, ms(now)],
        )
        .map_err(StoreError::sql("insert token"))?;
    Ok(n == 1)
}

/// Removes a token; false when there was none of that name.
pub(crate) fn token_delete(c: &dyn Db, name: &str) -> Result<bool, StoreError> {
    let n = c
        .execute("DELETE FROM api_token WHERE name = ?1", args![name])
        .map_err(StoreError::sql("delete token"))?;
    Ok(n == 1)
}

fn scopes_of(text: String) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt {
        field: "api_token.scopes",
        value: text,
    })
}

/// Every token, by name.
pub(crate) fn tokens(c: &dyn Db) -> Result<Vec<(TokenInfo, TokenRecord)>, StoreError> {
    let rows: Vec<(String, String, String, i64)> = c
        .query(
            c.pick(
                "SELECT name, hash, scopes, created_at FROM api_token ORDER BY name",
                // Names compare byte by byte, as in SQLite.
                "SELECT name, hash, scopes, created_at FROM api_token ORDER BY name COLLATE \"C\"",
            ),
            args![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .map_err(StoreError::sql("tokens"))?;
    let mut out = Vec::new();
    for (name, hash, scopes, created) in rows {
        let scopes = scopes_of(scopes)?;
        out.push((
            TokenInfo {
                name: name.clone(),
                scopes: scopes.clone(),
                created_at: rfc3339_ms("created_at", created)?,
            },
            TokenRecord { name, hash, scopes },
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! Each case runs on a migrated SQLite database and on a fresh
    //! PostgreSQL one (`pgtest::on_both_engines`).

    use super::*;
    use crate::store::pgtest::on_both_engines;
    use crate::store::Priority;

    fn msg(to: &str) -> NewMessage {
        NewMessage {
            to: to.into(),
            text: "hi".into(),
            report: false,
            flash: false,
            priority: Priority::Normal,
            validity: None,
            expires_at: None,
            not_before: None,
            modem: None,
            queue: None,
            parts: 1,
            options: Default::default(),
            source: "test".into(),
            spool_key: None,
            campaign: None,
            category: Default::default(),
            optout_key: None,
        }
    }

    fn key(k: &str, fp: &str, fresh_after: Option<DateTime<Utc>>) -> IdempotencyKey {
        IdempotencyKey {
            key: k.into(),
            fingerprint: fp.into(),
            fresh_after,
        }
    }

    #[test]
    fn a_key_replays_its_first_answer_and_queues_nothing_more() {
        on_both_engines(replays);
    }

    fn replays(c: &dyn Db) {
        let now = Utc::now();
        let k = key("api:t:1", "fp", Some(now - chrono::TimeDelta::hours(24)));
        let batch = [msg("+15550001"), msg("+15550002")];
        let BatchOutcome::Queued(first) = enqueue_batch(c, &batch, Some(&k), now).unwrap() else {
            panic!("not queued")
        };
        assert_eq!(first.len(), 2);
        assert_eq!(
            enqueue_batch(c, &batch, Some(&k), now).unwrap(),
            BatchOutcome::Replayed(first.clone())
        );
        assert_eq!(
            enqueue_batch(c, &batch, Some(&key("api:t:1", "other", None)), now).unwrap(),
            BatchOutcome::KeyReused
        );
        let n: i64 = c
            .query_one("SELECT COUNT(*) FROM outgoing", args![], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(key_messages(c, "api:t:1", None).unwrap(), Some(first));
    }

    #[test]
    fn a_stale_key_is_forgotten_and_the_request_queued_again() {
        on_both_engines(stale);
    }

    fn stale(c: &dyn Db) {
        let then = Utc::now() - chrono::TimeDelta::hours(25);
        let now = Utc::now();
        let k = key("api:t:2", "fp", Some(now - chrono::TimeDelta::hours(24)));
        assert!(matches!(
            enqueue_batch(c, &[msg("+15550001")], Some(&k), then).unwrap(),
            BatchOutcome::Queued(_)
        ));
        assert!(matches!(
            enqueue_batch(c, &[msg("+15550001")], Some(&k), now).unwrap(),
            BatchOutcome::Queued(_)
        ));
        assert_eq!(prune_keys(c, "api:", now).unwrap(), 0);
        // Only keys with the prefix, as a plain prefix (no pattern).
        assert_eq!(
            prune_keys(c, "api_", now + chrono::TimeDelta::seconds(1)).unwrap(),
            0
        );
        assert_eq!(
            prune_keys(c, "api:", now + chrono::TimeDelta::seconds(1)).unwrap(),
            1
        );
    }

    #[test]
    fn tokens_are_unique_by_name_and_removable() {
        on_both_engines(tokens_by_name);
    }

    fn tokens_by_name(c: &dyn Db) {
        let now = Utc::now();
        let scopes = vec!["send".to_string()];
        assert!(token_insert(c, "a", "h1", &scopes, now).unwrap());
        assert!(!token_insert(c, "a", "h2", &scopes, now).unwrap());
        assert!(token_insert(c, "B", "h3", &[], now).unwrap());
        let all = tokens(c).unwrap();
        let names: Vec<&str> = all.iter().map(|t| t.0.name.as_str()).collect();
        assert_eq!(names, ["B", "a"]);
        assert_eq!(all[1].1.hash, "h1");
        assert_eq!(all[1].0.scopes, scopes);
        assert!(token_delete(c, "a").unwrap());
        assert!(!token_delete(c, "a").unwrap());
    }

    #[test]
    fn the_outbox_pages_backwards_from_a_cursor() {
        on_both_engines(outbox_backwards);
    }

    fn outbox_backwards(c: &dyn Db) {
        let now = Utc::now();
        let batch: Vec<NewMessage> = (0..5).map(|i| msg(&format!("+1555000{i}"))).collect();
        enqueue_batch(c, &batch, None, now).unwrap();
        let page = outbox_page(c, None, None, 2).unwrap();
        let ids: Vec<i64> = page.iter().map(|v| v.id).collect();
        assert_eq!(ids, vec![5, 4]);
        let page = outbox_page(c, Some(MessageState::Queued), Some(4), 10).unwrap();
        let ids: Vec<i64> = page.iter().map(|v| v.id).collect();
        assert_eq!(ids, vec![3, 2, 1]);
    }
}
