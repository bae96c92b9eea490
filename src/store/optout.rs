//! The suppression list (opt-out): numbers in their normal form (computed by
//! the caller with `codec::e164`), added by a keyword SMS or by hand, and the
//! skipping of queued marketing messages to a number when it opts out.
//! Plain functions over a `&dyn Db` (SQLite or PostgreSQL), run inside the
//! store thread's batch transaction, so an opt-out, its event and the messages it skips
//! commit together. Decides nothing about keywords or numbers.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::events::{self, EventData, OptoutEvent};
use super::outgoing::skip;
use super::sql::{args, Db};
use super::{ms, rfc3339_ms, MessageId, StoreError};

/// One number on the suppression list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OptoutEntry {
    /// Normal form (E.164 where it can be known).
    pub number: String,
    /// `sms` or the face that added it.
    pub source: String,
    /// The keyword received, when it came by SMS.
    pub keyword: Option<String>,
    pub created_at: String,
}

/// What a received keyword asks for, as the caller recognised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptoutAction {
    /// Put `number` (normal form) on the list.
    Out { number: String, keyword: String },
    /// Take it off.
    In { number: String, keyword: String },
}

/// What `add` / `remove` changed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OptoutChange {
    pub number: String,
    /// False when the list already was as asked (no event then).
    pub changed: bool,
    /// Queued marketing messages that ended `skipped` (add only).
    pub skipped: Vec<MessageId>,
}

pub(crate) fn is_suppressed(c: &dyn Db, number: &str) -> Result<bool, StoreError> {
    c.query_opt(
        "SELECT 1 FROM optout WHERE number = ?1",
        args![number],
        |_| Ok(()),
    )
    .map(|r| r.is_some())
    .map_err(StoreError::sql("look up opt-out"))
}

fn check_number(number: &str) -> Result<(), StoreError> {
    if number.is_empty() {
        return Err(StoreError::Invalid {
            field: "number",
            reason: "empty".into(),
        });
    }
    Ok(())
}

/// Puts `number` on the list (an `opted_out` event when it was not there)
/// and skips every queued or sending marketing message to it, in the same
/// transaction: no marketing part starts after this commits.
pub(crate) fn add(
    c: &dyn Db,
    number: &str,
    source: &str,
    keyword: Option<&str>,
    now: DateTime<Utc>,
) -> Result<OptoutChange, StoreError> {
    check_number(number)?;
    let changed = c
        .execute(
            "INSERT INTO optout (number, source, keyword, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (number) DO NOTHING",
            args![number, source, keyword, ms(now)],
        )
        .map_err(StoreError::sql("add opt-out"))?
        > 0;
    let ids: Vec<MessageId> = c
        .query(
            c.pick(
                "SELECT id FROM outgoing INDEXED BY outgoing_marketing_active
                 WHERE optout_key = ?1 AND category = 'marketing'
                   AND state IN ('queued', 'sending')
                 ORDER BY id",
                "SELECT id FROM outgoing
                 WHERE optout_key = ?1 AND category = 'marketing'
                   AND state IN ('queued', 'sending')
                 ORDER BY id",
            ),
            args![number],
            |r| r.get(0),
        )
        .map_err(StoreError::sql("find marketing to skip"))?;
    if changed {
        events::append(
            c,
            now,
            &EventData::OptedOut(OptoutEvent {
                number: number.to_string(),
                source: source.to_string(),
                keyword: keyword.map(str::to_string),
                skipped: ids.clone(),
            }),
        )?;
    }
    for &id in &ids {
        skip(c, id, now)?;
    }
    Ok(OptoutChange {
        number: number.to_string(),
        changed,
        skipped: ids,
    })
}

/// Takes `number` off the list (an `opted_in` event when it was there).
pub(crate) fn remove(
    c: &dyn Db,
    number: &str,
    source: &str,
    keyword: Option<&str>,
    now: DateTime<Utc>,
) -> Result<OptoutChange, StoreError> {
    check_number(number)?;
    let changed = c
        .execute("DELETE FROM optout WHERE number = ?1", args![number])
        .map_err(StoreError::sql("remove opt-out"))?
        > 0;
    if changed {
        events::append(
            c,
            now,
            &EventData::OptedIn(OptoutEvent {
                number: number.to_string(),
                source: source.to_string(),
                keyword: keyword.map(str::to_string),
                skipped: Vec::new(),
            }),
        )?;
    }
    Ok(OptoutChange {
        number: number.to_string(),
        changed,
        skipped: Vec::new(),
    })
}

/// The list, in number order, after `after` (paging), at most `limit`.
pub(crate) fn list(
    c: &dyn Db,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<OptoutEntry>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let raw: Vec<(String, String, Option<String>, i64)> = c
        .query(
            c.pick(
                "SELECT number, source, keyword, created_at FROM optout
                 WHERE number > COALESCE(?1, '') ORDER BY number LIMIT ?2",
                // Numbers compare byte by byte, as in SQLite.
                "SELECT number, source, keyword, created_at FROM optout
                 WHERE number > COALESCE(?1, '') COLLATE \"C\" ORDER BY number COLLATE \"C\"
                 LIMIT ?2",
            ),
            args![after, limit],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .map_err(StoreError::sql("list opt-outs"))?;
    raw.into_iter()
        .map(|(number, source, keyword, created)| {
            Ok(OptoutEntry {
                number,
                source,
                keyword,
                created_at: rfc3339_ms("created_at", created)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Category, MessageState, Store};

    #[tokio::test]
    async fn opt_out_skips_queued_marketing_and_later_intake() {
        let store = Store::open_in_memory().expect("store");
        let now = Utc::now();
        let mut m = crate::store::tests::msg("+4915112345678", 1);
        m.optout_key = Some("+4915112345678".into());
        m.category = Category::Marketing;
        let market = store.enqueue(m.clone(), now).await.expect("enqueue");
        let mut t = m.clone();
        t.category = Category::Transactional;
        let trans = store.enqueue(t.clone(), now).await.expect("enqueue");

        let change = store
            .optout_add("+4915112345678", "test", Some("STOP"), now)
            .await
            .expect("add");
        assert!(change.changed);
        assert_eq!(change.skipped, vec![market.id]);
        let v = store.show(market.id).await.expect("show").expect("there");
        assert_eq!(v.state, MessageState::Skipped);
        assert_eq!(v.error.as_deref(), Some("opted out"));
        let v = store.show(trans.id).await.expect("show").expect("there");
        assert_eq!(v.state, MessageState::Queued);

        // A second opt-out changes nothing and announces nothing.
        let again = store
            .optout_add("+4915112345678", "test", None, now)
            .await
            .expect("add");
        assert!(!again.changed);

        // New marketing intake is skipped at once; transactional is not.
        let later = store.enqueue(m.clone(), now).await.expect("enqueue");
        let v = store.show(later.id).await.expect("show").expect("there");
        assert_eq!(v.state, MessageState::Skipped);
        let ready = store.ready(now, 10).await.expect("ready");
        let ids: Vec<_> = ready.messages.iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![trans.id]);

        // Retry does not revive a skipped message.
        assert!(store.retry(later.id, now).await.is_err());

        let listed = store.optout_list(None, 10).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].keyword.as_deref(), Some("STOP"));

        let gone = store
            .optout_remove("+4915112345678", "test", Some("START"), now)
            .await
            .expect("remove");
        assert!(gone.changed);
        let after = store.enqueue(m, now).await.expect("enqueue");
        let v = store.show(after.id).await.expect("show").expect("there");
        assert_eq!(v.state, MessageState::Queued);

        let kinds: Vec<String> = store
            .events_after(0, 100, Vec::new())
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.data.kind().to_string())
            .collect();
        assert_eq!(kinds.iter().filter(|k| *k == "opted_out").count(), 1);
        assert_eq!(kinds.iter().filter(|k| *k == "opted_in").count(), 1);
        assert_eq!(kinds.iter().filter(|k| *k == "skipped").count(), 2);
    }
}
