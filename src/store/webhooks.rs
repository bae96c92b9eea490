//! Webhook endpoints and their delivery records: the SQL behind
//! `crate::webhooks`. An endpoint is a row of `webhook` (from `[[webhook]]`,
//! synced at start and reload, or from the API) plus its durable cursor in
//! `consumer` (`webhook:<id>`), created with it at the end of the log so
//! nothing that commits after the endpoint exists slips past it. Every
//! attempt is a row of `webhook_delivery`; the last row of an event that is
//! `failed` is where its retry schedule stands, so a restart resumes the
//! schedule instead of starting it over. Owns no HTTP and no policy (when to
//! retry is `crate::webhooks::schedule`'s).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::sql::{args, Db, Row, Value};
use super::{events, from_ms, ms, StoreError};

/// The consumer (cursor) name of an endpoint.
pub fn consumer_name(id: &str) -> String {
    format!("webhook:{id}")
}

/// One endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    /// Event types it gets (every type when empty).
    pub events: Vec<String>,
    /// `whsec_…` (native) or unused (android: `[compat] signing_key` signs).
    pub secret: String,
    /// `native` or `android`.
    pub flavour: String,
    /// `config` or `api`.
    pub source: String,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An endpoint to create or to sync from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    /// The secret to keep; `None` keeps the stored one (sync) or takes
    /// `fallback_secret` for a new endpoint.
    pub secret: Option<String>,
    pub fallback_secret: String,
    pub flavour: String,
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryResult {
    /// A 2xx answer.
    Ok,
    /// Anything else; tried again at `next_at`.
    Failed,
    /// Failed after the last retry of the schedule: not tried again.
    GaveUp,
    /// 410 Gone: the endpoint was disabled.
    Disabled,
}

impl DeliveryResult {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryResult::Ok => "ok",
            DeliveryResult::Failed => "failed",
            DeliveryResult::GaveUp => "gave_up",
            DeliveryResult::Disabled => "disabled",
        }
    }

    fn parse(s: &str) -> Result<DeliveryResult, StoreError> {
        Ok(match s {
            "ok" => DeliveryResult::Ok,
            "failed" => DeliveryResult::Failed,
            "gave_up" => DeliveryResult::GaveUp,
            "disabled" => DeliveryResult::Disabled,
            _ => {
                return Err(StoreError::Corrupt {
                    field: "webhook_delivery.result",
                    value: s.to_string(),
                })
            }
        })
    }
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookDelivery {
    pub webhook: String,
    pub event_id: i64,
    /// 1 for the first attempt of this event.
    pub attempt: u32,
    pub result: DeliveryResult,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// What went wrong (timeout, refused, the status line), if anything.
    pub error: Option<String>,
    pub duration_ms: u64,
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<Utc>,
    /// `failed`: when the next attempt is due.
    #[serde(serialize_with = "rfc3339_opt")]
    pub next_at: Option<DateTime<Utc>>,
}

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

fn rfc3339_opt<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// Where an event's retries stand after a restart: its last attempt
/// failed, `attempts` so far, the next due at `next_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryState {
    pub event_id: i64,
    pub attempts: u32,
    pub next_at: Option<DateTime<Utc>>,
}

fn endpoint(r: &dyn Row) -> Result<WebhookEndpoint, StoreError> {
    let e = StoreError::sql("read webhook");
    let events: String = r.get(2).map_err(&e)?;
    let disabled_at: Option<i64> = r.get(6).map_err(&e)?;
    let created_at: i64 = r.get(8).map_err(&e)?;
    Ok(WebhookEndpoint {
        id: r.get(0).map_err(&e)?,
        url: r.get(1).map_err(&e)?,
        events: serde_json::from_str(&events).map_err(|_| StoreError::Corrupt {
            field: "webhook.events",
            value: events.clone(),
        })?,
        secret: r.get(3).map_err(&e)?,
        flavour: r.get(4).map_err(&e)?,
        source: r.get(5).map_err(&e)?,
        disabled_at: disabled_at
            .map(|t| from_ms("webhook.disabled_at", t))
            .transpose()?,
        disabled_reason: r.get(7).map_err(&e)?,
        created_at: from_ms("webhook.created_at", created_at)?,
    })
}

/// Reads every row with `f`, which may fail with a store error of its own.
fn rows<T>(
    c: &dyn Db,
    op: &'static str,
    sql: &str,
    args: &[Value<'_>],
    f: impl Fn(&dyn Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    let mut failed = None;
    c.query_each(sql, args, &mut |r| {
        match f(r) {
            Ok(v) => out.push(v),
            Err(e) => failed = failed.take().or(Some(e)),
        }
        Ok(())
    })
    .map_err(StoreError::sql(op))?;
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn events_json(events: &[String]) -> String {
    serde_json::to_string(events).unwrap_or_else(|_| "[]".into())
}

/// Every endpoint, by id.
pub(crate) fn list(c: &dyn Db) -> Result<Vec<WebhookEndpoint>, StoreError> {
    rows(
        c,
        "list webhooks",
        "SELECT id, url, events, secret, flavour, source, disabled_at, disabled_reason,
                created_at
         FROM webhook ORDER BY id",
        args![],
        endpoint,
    )
}

/// One endpoint.
pub(crate) fn get(c: &dyn Db, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
    Ok(rows(
        c,
        "read webhook",
        "SELECT id, url, events, secret, flavour, source, disabled_at, disabled_reason,
                created_at
         FROM webhook WHERE id = ?1",
        args![id],
        endpoint,
    )?
    .into_iter()
    .next())
}

fn insert(c: &dyn Db, w: &NewWebhook, source: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let secret = w
        .secret
        .clone()
        .unwrap_or_else(|| w.fallback_secret.clone());
    c.execute(
        "INSERT INTO webhook (id, url, events, secret, flavour, source, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![
            &w.id,
            &w.url,
            &events_json(&w.events),
            &secret,
            &w.flavour,
            source,
            ms(now)
        ],
    )
    .map_err(StoreError::sql("insert webhook"))?;
    // A stale cursor of an earlier endpoint with this id must not replay
    // its history; the new endpoint starts at the end of the log.
    drop_cursor(c, &w.id)?;
    events::cursor(c, &consumer_name(&w.id), now)?;
    Ok(())
}

fn drop_cursor(c: &dyn Db, id: &str) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM consumer WHERE name = ?1",
        args![&consumer_name(id)],
    )
    .map_err(StoreError::sql("delete webhook cursor"))?;
    Ok(())
}

/// Creates an API endpoint (and its cursor, at the end of the log).
pub(crate) fn create(
    c: &dyn Db,
    w: &NewWebhook,
    now: DateTime<Utc>,
) -> Result<WebhookEndpoint, StoreError> {
    if get(c, &w.id)?.is_some() {
        return Err(StoreError::Invalid {
            field: "webhook",
            reason: format!("an endpoint {:?} exists already", w.id),
        });
    }
    insert(c, w, "api", now)?;
    get(c, &w.id)?.ok_or(StoreError::Closed)
}

/// Deletes an endpoint with its cursor and delivery records; false when
/// there was none.
pub(crate) fn delete(c: &dyn Db, id: &str) -> Result<bool, StoreError> {
    let n = c
        .execute("DELETE FROM webhook WHERE id = ?1", args![id])
        .map_err(StoreError::sql("delete webhook"))?;
    c.execute(
        "DELETE FROM webhook_delivery WHERE webhook_id = ?1",
        args![id],
    )
    .map_err(StoreError::sql("delete webhook deliveries"))?;
    drop_cursor(c, id)?;
    Ok(n > 0)
}

/// Makes the `config` endpoints exactly `wanted`: new ones are created,
/// existing ones take the configured URL, events, flavour and secret (a
/// changed URL re-enables a disabled endpoint), and config endpoints no
/// longer configured are deleted. API endpoints are not touched.
pub(crate) fn sync_config(
    c: &dyn Db,
    wanted: &[NewWebhook],
    now: DateTime<Utc>,
) -> Result<Vec<WebhookEndpoint>, StoreError> {
    for w in wanted {
        match get(c, &w.id)? {
            None => insert(c, w, "config", now)?,
            Some(old) => {
                let secret = w.secret.clone().unwrap_or(old.secret.clone());
                let enable = old.url != w.url;
                c.execute(
                    "UPDATE webhook SET url = ?2, events = ?3, secret = ?4, flavour = ?5,
                         source = 'config',
                         disabled_at = CASE WHEN ?6 = 1 THEN NULL ELSE disabled_at END,
                         disabled_reason = CASE WHEN ?6 = 1 THEN NULL ELSE disabled_reason END
                     WHERE id = ?1",
                    args![
                        &w.id,
                        &w.url,
                        &events_json(&w.events),
                        &secret,
                        &w.flavour,
                        enable
                    ],
                )
                .map_err(StoreError::sql("update webhook"))?;
            }
        }
    }
    for old in list(c)? {
        if old.source == "config" && !wanted.iter().any(|w| w.id == old.id) {
            delete(c, &old.id)?;
        }
    }
    list(c)
}

/// Disables an endpoint (410 Gone): its consumer stops until a replay or a
/// new URL enables it again.
pub(crate) fn disable(
    c: &dyn Db,
    id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE webhook SET disabled_at = ?2, disabled_reason = ?3
         WHERE id = ?1 AND disabled_at IS NULL",
        args![id, ms(now), reason],
    )
    .map_err(StoreError::sql("disable webhook"))?;
    Ok(())
}

/// Moves an endpoint's cursor to `position` (back or forward) and enables
/// it: the events after `position` are delivered again.
pub(crate) fn rewind(
    c: &dyn Db,
    id: &str,
    position: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if get(c, id)?.is_none() {
        return Err(StoreError::Invalid {
            field: "webhook",
            reason: format!("no webhook endpoint {id:?}"),
        });
    }
    c.execute(
        "INSERT INTO consumer (name, position, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET position = excluded.position,
             updated_at = excluded.updated_at",
        args![&consumer_name(id), position, ms(now)],
    )
    .map_err(StoreError::sql("rewind webhook cursor"))?;
    c.execute(
        "UPDATE webhook SET disabled_at = NULL, disabled_reason = NULL WHERE id = ?1",
        args![id],
    )
    .map_err(StoreError::sql("enable webhook"))?;
    Ok(())
}

/// Records one attempt.
pub(crate) fn record(c: &dyn Db, d: &WebhookDelivery) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO webhook_delivery
           (webhook_id, event_id, attempt, result, status, error, duration_ms, at, next_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        args![
            &d.webhook,
            d.event_id,
            d.attempt,
            d.result.as_str(),
            d.status.map(u32::from),
            d.error.as_deref(),
            i64::try_from(d.duration_ms).unwrap_or(i64::MAX),
            ms(d.at),
            d.next_at.map(ms),
        ],
    )
    .map_err(StoreError::sql("record webhook delivery"))?;
    Ok(())
}

fn delivery(r: &dyn Row) -> Result<WebhookDelivery, StoreError> {
    let e = StoreError::sql("read webhook deliveries");
    let result: String = r.get(3).map_err(&e)?;
    let duration_ms: i64 = r.get(6).map_err(&e)?;
    let at: i64 = r.get(7).map_err(&e)?;
    let next_at: Option<i64> = r.get(8).map_err(&e)?;
    Ok(WebhookDelivery {
        webhook: r.get(0).map_err(&e)?,
        event_id: r.get(1).map_err(&e)?,
        attempt: r.get(2).map_err(&e)?,
        result: DeliveryResult::parse(&result)?,
        status: r.get(4).map_err(&e)?,
        error: r.get(5).map_err(&e)?,
        duration_ms: u64::try_from(duration_ms).unwrap_or(0),
        at: from_ms("webhook_delivery.at", at)?,
        next_at: next_at
            .map(|t| from_ms("webhook_delivery.next_at", t))
            .transpose()?,
    })
}

/// The endpoint's most recent attempts, newest first.
pub(crate) fn deliveries(
    c: &dyn Db,
    id: &str,
    limit: usize,
) -> Result<Vec<WebhookDelivery>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    rows(
        c,
        "read webhook deliveries",
        "SELECT webhook_id, event_id, attempt, result, status, error, duration_ms, at, next_at
         FROM webhook_delivery WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2",
        args![id, limit],
        delivery,
    )
}

/// The events after `after` whose last attempt failed: where each one's
/// schedule stands (read by a consumer when it starts).
pub(crate) fn retry_state(c: &dyn Db, id: &str, after: i64) -> Result<Vec<RetryState>, StoreError> {
    rows(
        c,
        "read webhook retries",
        "SELECT d.event_id, d.attempt, d.next_at FROM webhook_delivery d
         WHERE d.webhook_id = ?1 AND d.event_id > ?2 AND d.result = 'failed'
           AND d.id = (SELECT MAX(id) FROM webhook_delivery e
                       WHERE e.webhook_id = d.webhook_id AND e.event_id = d.event_id)
         ORDER BY d.event_id",
        args![id, after],
        |r| {
            let e = StoreError::sql("read webhook retries");
            let next_at: Option<i64> = r.get(2).map_err(&e)?;
            Ok(RetryState {
                event_id: r.get(0).map_err(&e)?,
                attempts: r.get(1).map_err(&e)?,
                next_at: next_at
                    .map(|t| from_ms("webhook_delivery.next_at", t))
                    .transpose()?,
            })
        },
    )
}

/// A webhook setting made through the API (`None` when never set).
pub(crate) fn setting(c: &dyn Db, name: &str) -> Result<Option<String>, StoreError> {
    c.query_opt(
        "SELECT value FROM webhook_setting WHERE name = ?1",
        args![name],
        |r| r.get(0),
    )
    .map_err(StoreError::sql("read webhook setting"))
}

/// Sets (or, with `None`, clears) a webhook setting.
pub(crate) fn set_setting(
    c: &dyn Db,
    name: &str,
    value: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    match value {
        Some(v) => c.execute(
            "INSERT INTO webhook_setting (name, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value,
                 updated_at = excluded.updated_at",
            args![name, v, ms(now)],
        ),
        None => c.execute("DELETE FROM webhook_setting WHERE name = ?1", args![name]),
    }
    .map_err(StoreError::sql("write webhook setting"))?;
    Ok(())
}

/// Deletes up to `step` delivery records older than `cutoff`.
pub(crate) fn prune_step(c: &dyn Db, cutoff: DateTime<Utc>, step: i64) -> Result<u64, StoreError> {
    c.execute(
        "DELETE FROM webhook_delivery WHERE id IN (SELECT id FROM webhook_delivery
           WHERE at < ?1 LIMIT ?2)",
        args![ms(cutoff), step],
    )
    .map_err(StoreError::sql("prune webhook deliveries"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(id: &str, url: &str, secret: Option<&str>) -> NewWebhook {
        NewWebhook {
            id: id.into(),
            url: url.into(),
            events: vec!["sent".into()],
            secret: secret.map(str::to_string),
            fallback_secret: "whsec_fallback".into(),
            flavour: "native".into(),
        }
    }

    fn attempt(event_id: i64, n: u32, result: DeliveryResult) -> WebhookDelivery {
        WebhookDelivery {
            webhook: "a".into(),
            event_id,
            attempt: n,
            result,
            status: Some(500),
            error: None,
            duration_ms: 3,
            at: Utc::now(),
            next_at: (result == DeliveryResult::Failed).then(Utc::now),
        }
    }

    #[test]
    fn sync_creates_updates_and_removes_config_endpoints_only() {
        crate::store::pgtest::on_both_engines(
            sync_creates_updates_and_removes_config_endpoints_only_on,
        );
    }

    fn sync_creates_updates_and_removes_config_endpoints_only_on(c: &dyn Db) {
        let now = Utc::now();
        create(c, &new("wh_api", "http://x/api", None), now).expect("api");
        let got = sync_config(c, &[new("a", "http://x/1", None)], now).expect("sync");
        assert_eq!(got.len(), 2);
        let a = get(c, "a").expect("get").expect("a");
        assert_eq!(
            a.secret, "whsec_fallback",
            "a new endpoint takes the fallback"
        );
        assert_eq!(a.source, "config");
        // A second sync keeps the stored secret when none is configured,
        // and re-enables on a new URL.
        disable(c, "a", "410 Gone", now).expect("disable");
        let mut again = new("a", "http://x/1", None);
        again.fallback_secret = "whsec_other".into();
        sync_config(c, &[again.clone()], now).expect("sync");
        let a = get(c, "a").expect("get").expect("a");
        assert_eq!(a.secret, "whsec_fallback");
        assert!(a.disabled_at.is_some(), "same URL: stays disabled");
        again.url = "http://x/2".into();
        sync_config(c, &[again], now).expect("sync");
        assert!(get(c, "a").expect("get").expect("a").disabled_at.is_none());
        // Dropped from the config: gone, with its cursor; the API one stays.
        sync_config(c, &[], now).expect("sync");
        let ids: Vec<String> = list(c).expect("list").into_iter().map(|w| w.id).collect();
        assert_eq!(ids, vec!["wh_api".to_string()]);
        let cursors = events::cursors(c).expect("cursors");
        assert_eq!(cursors.len(), 1, "{cursors:?}");
    }

    #[test]
    fn retry_state_is_the_last_attempt_of_events_still_failing() {
        crate::store::pgtest::on_both_engines(
            retry_state_is_the_last_attempt_of_events_still_failing_on,
        );
    }

    fn retry_state_is_the_last_attempt_of_events_still_failing_on(c: &dyn Db) {
        create(c, &new("a", "http://x", None), Utc::now()).expect("create");
        for d in [
            attempt(5, 1, DeliveryResult::Failed),
            attempt(5, 2, DeliveryResult::Ok),
            attempt(6, 1, DeliveryResult::Failed),
            attempt(6, 2, DeliveryResult::Failed),
            attempt(7, 1, DeliveryResult::GaveUp),
            attempt(3, 1, DeliveryResult::Failed),
        ] {
            record(c, &d).expect("record");
        }
        let state = retry_state(c, "a", 4).expect("state");
        assert_eq!(state.len(), 1, "{state:?}");
        assert_eq!((state[0].event_id, state[0].attempts), (6, 2));
        let recent = deliveries(c, "a", 2).expect("deliveries");
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[0].event_id, 3, "newest first");
    }

    #[test]
    fn settings_are_set_replaced_and_cleared() {
        crate::store::pgtest::on_both_engines(settings_are_set_replaced_and_cleared_on);
    }

    fn settings_are_set_replaced_and_cleared_on(c: &dyn Db) {
        let now = Utc::now();
        assert_eq!(setting(c, "signing_key").expect("read"), None);
        set_setting(c, "signing_key", Some("a"), now).expect("set");
        set_setting(c, "signing_key", Some("b"), now).expect("replace");
        assert_eq!(
            setting(c, "signing_key").expect("read").as_deref(),
            Some("b")
        );
        set_setting(c, "signing_key", None, now).expect("clear");
        assert_eq!(setting(c, "signing_key").expect("read"), None);
    }

    #[test]
    fn pruning_takes_only_old_records() {
        crate::store::pgtest::on_both_engines(pruning_takes_only_old_records_on);
    }

    fn pruning_takes_only_old_records_on(c: &dyn Db) {
        let now = Utc::now();
        let mut old = attempt(1, 1, DeliveryResult::Ok);
        old.at = now - chrono::TimeDelta::days(100);
        record(c, &old).expect("old");
        record(c, &attempt(2, 1, DeliveryResult::Ok)).expect("new");
        let cutoff = now - chrono::TimeDelta::days(90);
        assert_eq!(prune_step(c, cutoff, 10).expect("prune"), 1);
        assert_eq!(prune_step(c, cutoff, 10).expect("again"), 0);
        let left = deliveries(c, "a", 10).expect("left");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].event_id, 2);
        // The store's pruning pass counts them.
        let p = events::prune_step(c, cutoff).expect("pass");
        assert_eq!(p.webhook_deliveries, 0);
    }

    #[test]
    fn rewind_moves_the_cursor_back_and_enables() {
        crate::store::pgtest::on_both_engines(rewind_moves_the_cursor_back_and_enables_on);
    }

    fn rewind_moves_the_cursor_back_and_enables_on(c: &dyn Db) {
        let now = Utc::now();
        create(c, &new("a", "http://x", None), now).expect("create");
        events::set_cursor(c, &consumer_name("a"), 40, now).expect("forward");
        disable(c, "a", "410", now).expect("disable");
        rewind(c, "a", 10, now).expect("rewind");
        assert_eq!(
            events::cursor(c, &consumer_name("a"), now).expect("cursor"),
            10
        );
        assert!(get(c, "a").expect("get").expect("a").disabled_at.is_none());
        assert!(rewind(c, "nope", 1, now).is_err());
        assert!(delete(c, "a").expect("delete"));
        assert!(!delete(c, "a").expect("delete again"));
    }
}
