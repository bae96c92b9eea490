//! Campaigns: the `campaign` rows, their creation with every message in one
//! transaction, their counters and their state changes. Plain functions
//! over a `&dyn Db` (SQLite or PostgreSQL), run inside the store thread's
//! transaction.
//!
//! Creation streams: the gateway validates the recipients chunk by chunk
//! and hands each chunk down a [`CampaignFeed`] (a one-slot channel); the
//! store thread runs [`create_streamed`] as a request of its own, alone in
//! its own transaction (`Store::campaign_create_streamed`), inserting each
//! chunk as it arrives. So memory stays at a few chunks whatever the
//! campaign's size, and the campaign is still atomic: nothing of it is
//! committed, nor seen by any other request (the store thread runs nothing
//! else meanwhile), before its last row; a bad row, a dropped feed or one
//! silent for [`FEED_TIMEOUT`] rolls it all back. We chose this over a
//! staging table swapped in at the end because the swap would write every
//! row twice and need its own clean-up after a crash; the cost is that the
//! store thread serves nobody else while a campaign streams in (reads on
//! the second connection, the reports, go on).
//!
//! The counters (`queued` … `cancelled`) count a campaign's messages by
//! their current state. [`count_change`] moves one message from one counter
//! to another and is called by `outgoing::set_message_state` (and `retry`)
//! in the transaction that changes the message, so the counters always add
//! up to `total` and reading them is one row, never a scan of the messages.
//! Does not decide when a campaign may send (the dispatcher does, with
//! `crate::campaign::Window`).

use std::sync::mpsc::{RecvTimeoutError, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Notify;

use super::outgoing;
use super::sql::{args, Db, DbError, Row};
use super::{ms, rfc3339_ms, CampaignState, MessageState, NewMessage, Priority, StoreError};

/// A send window as the user gave it: local `HH:MM` times in a time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CampaignWindow {
    /// Opening, `HH:MM` local time.
    pub start: String,
    /// Closing, `HH:MM` local time (before `start`: the window spans midnight).
    pub end: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub tz: String,
}

/// A campaign to create (its messages come separately).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCampaign {
    pub name: String,
    pub text: String,
    pub priority: Priority,
    pub report: bool,
    pub window: Option<CampaignWindow>,
    pub rate_per_min: Option<u32>,
}

/// A campaign as every face shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CampaignView {
    pub id: i64,
    pub name: String,
    pub text: String,
    pub state: CampaignState,
    pub priority: Priority,
    pub report: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<CampaignWindow>,
    /// Messages per minute at most (absent: as fast as the modems go).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_min: Option<u32>,
    pub total: u64,
    /// Queued or sending.
    pub queued: u64,
    /// Sent and not (yet) delivered.
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
    pub skipped: u64,
    pub expired: u64,
    pub cancelled: u64,
    /// delivered / (sent + delivered + failed + expired); 0 before any.
    pub delivery_rate: f64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// What the dispatcher needs of a campaign that may send.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCampaign {
    pub id: i64,
    pub state: CampaignState,
    pub window: Option<CampaignWindow>,
    pub rate_per_min: Option<u32>,
}

/// A user's action on a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignAction {
    Pause,
    Resume,
    Cancel,
}

impl CampaignAction {
    fn as_str(self) -> &'static str {
        match self {
            CampaignAction::Pause => "pause",
            CampaignAction::Resume => "resume",
            CampaignAction::Cancel => "cancel",
        }
    }
}

/// The counter column that counts messages in `state`.
fn column(state: MessageState) -> &'static str {
    match state {
        MessageState::Queued | MessageState::Sending => "queued",
        MessageState::Sent => "sent",
        MessageState::Delivered => "delivered",
        MessageState::Failed => "failed",
        MessageState::Cancelled => "cancelled",
        MessageState::Expired => "expired",
        MessageState::Skipped => "skipped",
    }
}

/// The state a campaign starts (or resumes) in: `running` without a window;
/// with one, `scheduled` until the dispatcher sees it open.
fn start_state(window: Option<&CampaignWindow>) -> CampaignState {
    if window.is_some() {
        CampaignState::Scheduled
    } else {
        CampaignState::Running
    }
}

/// How long the store thread waits for the next chunk of a streamed
/// campaign before it gives the campaign up (rolls it back): a producer
/// that neither sends nor goes away is a bug, and must not stall the
/// store for good.
pub const FEED_TIMEOUT: Duration = Duration::from_secs(30);

/// What goes down a campaign feed.
enum FeedItem {
    Rows(Vec<NewMessage>),
    /// Every row was sent: the campaign may commit.
    End,
}

/// The producer's end of a streamed campaign: chunks of messages, then
/// [`CampaignFeed::finish`]. Dropping it without `finish` (a bad row, a
/// cancelled request) makes the store roll the whole campaign back.
#[derive(Debug)]
pub struct CampaignFeed {
    tx: std::sync::mpsc::SyncSender<FeedItem>,
    space: Arc<Notify>,
}

/// The store's end of a feed (see [`campaign_feed`]).
pub struct CampaignRows {
    rx: std::sync::mpsc::Receiver<FeedItem>,
    space: Arc<Notify>,
    timeout: Duration,
}

/// The store thread went away or gave the campaign up: stop producing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedClosed;

/// A feed that holds one chunk in flight: the producer fills the next
/// chunk while the store inserts the current one, so at most three chunks
/// (producing, queued, inserting) exist at once, whatever the campaign's
/// size.
pub fn campaign_feed() -> (CampaignFeed, CampaignRows) {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let space = Arc::new(Notify::new());
    (
        CampaignFeed {
            tx,
            space: Arc::clone(&space),
        },
        CampaignRows {
            rx,
            space,
            timeout: FEED_TIMEOUT,
        },
    )
}

impl CampaignFeed {
    async fn put(&self, mut item: FeedItem) -> Result<(), FeedClosed> {
        loop {
            match self.tx.try_send(item) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(_)) => return Err(FeedClosed),
                Err(TrySendError::Full(back)) => {
                    item = back;
                    // The store takes a chunk (or drops its end), then
                    // notifies; a notification that came first is kept.
                    self.space.notified().await;
                }
            }
        }
    }

    /// Hands one chunk to the store; waits while the previous one is still
    /// queued.
    pub async fn send(&self, rows: Vec<NewMessage>) -> Result<(), FeedClosed> {
        self.put(FeedItem::Rows(rows)).await
    }

    /// Every row was sent: the store may commit the campaign.
    pub async fn finish(self) -> Result<(), FeedClosed> {
        self.put(FeedItem::End).await
    }
}

impl CampaignRows {
    #[cfg(test)]
    pub(crate) fn with_timeout(mut self, timeout: Duration) -> CampaignRows {
        self.timeout = timeout;
        self
    }

    /// The next chunk; `Ok(None)` after `finish`. A feed dropped without
    /// `finish`, or silent for [`FEED_TIMEOUT`], is an error: the caller
    /// rolls back.
    fn next_chunk(&mut self) -> Result<Option<Vec<NewMessage>>, StoreError> {
        let item = self.rx.recv_timeout(self.timeout);
        self.space.notify_one();
        match item {
            Ok(FeedItem::Rows(rows)) => Ok(Some(rows)),
            Ok(FeedItem::End) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(StoreError::Invalid {
                field: "recipients",
                reason: "the campaign was abandoned before its last row; nothing was created"
                    .into(),
            }),
            Err(RecvTimeoutError::Timeout) => Err(StoreError::Invalid {
                field: "recipients",
                reason: format!(
                    "no recipients came for {} s; the campaign was given up, nothing was created",
                    self.timeout.as_secs()
                ),
            }),
        }
    }
}

impl Drop for CampaignRows {
    fn drop(&mut self) {
        // A producer waiting for room learns that the store is gone.
        self.space.notify_one();
    }
}

/// Inserts the campaign row, empty: `total` 0 and `queued` 1. The extra
/// queued message is a sentinel that [`finish`] takes away: until then no
/// message that ends `skipped` at insertion (a suppressed number) can bring
/// `queued` to 0 and mark the campaign `done` halfway through its rows.
fn insert_row(c: &dyn Db, campaign: &NewCampaign, now: DateTime<Utc>) -> Result<i64, StoreError> {
    let w = campaign.window.as_ref();
    c.query_one(
        "INSERT INTO campaign (name, text, state, priority, report, window_start, window_end,
             window_tz, rate_per_min, total, queued, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, 1, ?10, ?10)
         RETURNING id",
        args![
            &campaign.name,
            &campaign.text,
            start_state(w).as_str(),
            campaign.priority.rank(),
            campaign.report,
            w.map(|w| w.start.as_str()),
            w.map(|w| w.end.as_str()),
            w.map(|w| w.tz.as_str()),
            campaign.rate_per_min,
            ms(now),
        ],
        |r| r.get(0),
    )
    .map_err(StoreError::sql("insert campaign"))
}

/// Inserts one chunk of campaign `id`'s messages: counts them first (so a
/// message skipped at insertion moves from `queued` to `skipped`).
fn insert_chunk(
    c: &dyn Db,
    id: i64,
    messages: impl ExactSizeIterator<Item = NewMessage>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let n = messages.len();
    let k = i64::try_from(n).unwrap_or(i64::MAX);
    c.execute(
        "UPDATE campaign SET total = total + ?2, queued = queued + ?2 WHERE id = ?1",
        args![id, k],
    )
    .map_err(StoreError::sql("count campaign messages"))?;
    let messages: Vec<NewMessage> = messages
        .map(|mut m| {
            m.campaign = Some(id);
            m
        })
        .collect();
    outgoing::enqueue_many(c, &messages, now)?;
    Ok(u64::try_from(n).unwrap_or(u64::MAX))
}

/// Takes the sentinel away (see [`insert_row`]); a campaign whose every
/// message was skipped is `done` at once.
fn finish(c: &dyn Db, id: i64, total: u64, now: DateTime<Utc>) -> Result<(), StoreError> {
    if total == 0 {
        return Err(StoreError::Invalid {
            field: "recipients",
            reason: "a campaign has at least one recipient".into(),
        });
    }
    c.execute(
        "UPDATE campaign SET queued = queued - 1, updated_at = ?2,
             state = CASE WHEN queued = 1 THEN 'done' ELSE state END,
             finished_at = CASE WHEN queued = 1 THEN ?2 ELSE finished_at END
         WHERE id = ?1",
        args![id, ms(now)],
    )
    .map_err(StoreError::sql("finish campaign"))?;
    Ok(())
}

/// Inserts the campaign and every message, all in the caller's transaction.
/// Returns the campaign's id.
pub(crate) fn create(
    c: &dyn Db,
    campaign: &NewCampaign,
    messages: Vec<NewMessage>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    if messages.is_empty() {
        return Err(StoreError::Invalid {
            field: "recipients",
            reason: "a campaign has at least one recipient".into(),
        });
    }
    let id = insert_row(c, campaign, now)?;
    let total = insert_chunk(c, id, messages.into_iter(), now)?;
    finish(c, id, total, now)?;
    Ok(id)
}

/// Inserts the campaign, then each chunk from `rows` as it comes, all in
/// the caller's transaction (the store runs it alone in one, see
/// `Store::campaign_create_streamed`): any error, a dropped feed or a
/// silent one returns `Err` and the caller rolls everything back. Returns
/// the campaign's id and its number of messages.
pub(crate) fn create_streamed(
    c: &dyn Db,
    campaign: &NewCampaign,
    mut rows: CampaignRows,
    now: DateTime<Utc>,
) -> Result<(i64, u64), StoreError> {
    let id = insert_row(c, campaign, now)?;
    let mut total = 0u64;
    while let Some(chunk) = rows.next_chunk()? {
        total += insert_chunk(c, id, chunk.into_iter(), now)?;
    }
    finish(c, id, total, now)?;
    Ok((id, total))
}

/// One message of `campaign` moved from `from` to `to`: moves it between
/// the counters; the campaign is `done` when none is left queued.
pub(crate) fn count_change(
    c: &dyn Db,
    campaign: i64,
    from: MessageState,
    to: MessageState,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (a, b) = (column(from), column(to));
    if a == b {
        return Ok(());
    }
    // Column names come from `column`, never from outside.
    let sql = format!(
        "UPDATE campaign SET {a} = {a} - 1, {b} = {b} + 1, updated_at = ?2,
             state = CASE WHEN queued {q} = 0 AND state IN ('scheduled', 'running', 'paused')
                          THEN 'done' ELSE state END,
             finished_at = CASE WHEN queued {q} = 0 AND state IN ('scheduled', 'running', 'paused')
                          THEN ?2 ELSE finished_at END
         WHERE id = ?1",
        q = match (a, b) {
            ("queued", _) => "- 1",
            (_, "queued") => "+ 1",
            _ => "+ 0",
        }
    );
    c.execute(&sql, args![campaign, ms(now)])
        .map_err(StoreError::sql("count campaign message"))?;
    // A requeued message (retry) brings a finished campaign back to life.
    if b == "queued" {
        c.execute(
            "UPDATE campaign SET state = 'running', finished_at = NULL
             WHERE id = ?1 AND state = 'done'",
            args![campaign],
        )
        .map_err(StoreError::sql("reopen campaign"))?;
    }
    Ok(())
}

fn count(field: &'static str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt {
        field,
        value: v.to_string(),
    })
}

fn window_of(
    start: Option<String>,
    end: Option<String>,
    tz: Option<String>,
) -> Option<CampaignWindow> {
    match (start, end, tz) {
        (Some(start), Some(end), Some(tz)) => Some(CampaignWindow { start, end, tz }),
        _ => None,
    }
}

fn view_from_row(r: &dyn Row) -> Result<CampaignView, StoreError> {
    let e = StoreError::sql::<DbError>("read campaign");
    let state: String = r.get(3).map_err(&e)?;
    let rate: Option<i64> = r.get(9).map_err(&e)?;
    let n = |i: usize, f: &'static str| -> Result<u64, StoreError> {
        count(
            f,
            r.get::<i64>(i).map_err(StoreError::sql("read campaign"))?,
        )
    };
    let (sent, delivered, failed, expired) = (
        n(12, "sent")?,
        n(13, "delivered")?,
        n(14, "failed")?,
        n(16, "expired")?,
    );
    let out = sent + delivered + failed + expired;
    let finished: Option<i64> = r.get(20).map_err(&e)?;
    Ok(CampaignView {
        id: r.get(0).map_err(&e)?,
        name: r.get(1).map_err(&e)?,
        text: r.get(2).map_err(&e)?,
        state: state.parse()?,
        priority: Priority::from_rank(r.get(4).map_err(&e)?)?,
        report: r.get(5).map_err(&e)?,
        window: window_of(
            r.get(6).map_err(&e)?,
            r.get(7).map_err(&e)?,
            r.get(8).map_err(&e)?,
        ),
        rate_per_min: rate.and_then(|v| u32::try_from(v).ok()),
        total: n(10, "total")?,
        queued: n(11, "queued")?,
        sent,
        delivered,
        failed,
        skipped: n(15, "skipped")?,
        expired,
        cancelled: n(17, "cancelled")?,
        delivery_rate: if out == 0 {
            0.0
        } else {
            delivered as f64 / out as f64
        },
        created_at: rfc3339_ms("created_at", r.get(18).map_err(&e)?)?,
        updated_at: rfc3339_ms("updated_at", r.get(19).map_err(&e)?)?,
        finished_at: finished.map(|v| rfc3339_ms("finished_at", v)).transpose()?,
    })
}

/// Campaign rows read into views (a view's own errors kept apart from the
/// engine's).
fn views(
    c: &dyn Db,
    sql: &str,
    args: &[super::sql::Value<'_>],
) -> Result<Vec<CampaignView>, StoreError> {
    let mut out = Vec::new();
    c.query_each(sql, args, &mut |r| {
        out.push(view_from_row(r));
        Ok(())
    })
    .map_err(StoreError::sql("campaigns"))?;
    out.into_iter().collect()
}

/// One campaign.
pub(crate) fn get(c: &dyn Db, id: i64) -> Result<Option<CampaignView>, StoreError> {
    Ok(views(c, CAMPAIGN_BY_ID, args![id])?.pop())
}

const CAMPAIGN_BY_ID: &str = "SELECT id, name, text, state, priority, report, window_start,
    window_end, window_tz, rate_per_min, total, queued, sent, delivered, failed, skipped,
    expired, cancelled, created_at, updated_at, finished_at FROM campaign WHERE id = ?1";

const CAMPAIGNS_NEWEST: &str = "SELECT id, name, text, state, priority, report, window_start,
    window_end, window_tz, rate_per_min, total, queued, sent, delivered, failed, skipped,
    expired, cancelled, created_at, updated_at, finished_at FROM campaign
    ORDER BY id DESC LIMIT ?1";

/// Campaigns, newest first.
pub(crate) fn list(c: &dyn Db, limit: usize) -> Result<Vec<CampaignView>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    views(c, CAMPAIGNS_NEWEST, args![limit])
}

/// Campaigns that may send (`scheduled` or `running`), for the dispatcher.
pub(crate) fn live(c: &dyn Db) -> Result<Vec<LiveCampaign>, StoreError> {
    type Raw = (
        i64,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let raw: Vec<Raw> = c
        .query(
            "SELECT id, state, window_start, window_end, window_tz, rate_per_min
             FROM campaign WHERE state IN ('scheduled', 'running')",
            args![],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .map_err(StoreError::sql("live campaigns"))?;
    raw.into_iter()
        .map(|(id, state, start, end, tz, rate)| {
            Ok(LiveCampaign {
                id,
                state: state.parse()?,
                window: window_of(start, end, tz),
                rate_per_min: rate.and_then(|v| u32::try_from(v).ok()),
            })
        })
        .collect()
}

/// The dispatcher saw the campaign's window open (`running`) or closed
/// (`scheduled`). A paused, done or cancelled campaign is not touched.
pub(crate) fn set_open(
    c: &dyn Db,
    id: i64,
    open: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let state = if open {
        CampaignState::Running
    } else {
        CampaignState::Scheduled
    };
    c.execute(
        "UPDATE campaign SET state = ?2, updated_at = ?3
         WHERE id = ?1 AND state IN ('scheduled', 'running') AND state <> ?2",
        args![id, state.as_str(), ms(now)],
    )
    .map_err(StoreError::sql("open campaign"))?;
    Ok(())
}

/// Pause, resume or cancel. Cancel ends every message still `queued` as
/// `cancelled` (a message with a part already out finishes).
pub(crate) fn act(
    c: &dyn Db,
    id: i64,
    action: CampaignAction,
    now: DateTime<Utc>,
) -> Result<CampaignView, StoreError> {
    let row: Option<(String, Option<String>)> = c
        .query_opt(
            "SELECT state, window_tz FROM campaign WHERE id = ?1",
            args![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StoreError::sql("read campaign state"))?;
    let Some((state, tz)) = row else {
        return Err(StoreError::NoSuchCampaign { id });
    };
    let state: CampaignState = state.parse()?;
    let refuse = || StoreError::CampaignInState {
        id,
        state: state.to_string(),
        action: action.as_str(),
    };
    let next = match (action, state) {
        (CampaignAction::Pause, CampaignState::Scheduled | CampaignState::Running) => {
            CampaignState::Paused
        }
        (CampaignAction::Pause, CampaignState::Paused) => CampaignState::Paused,
        (CampaignAction::Resume, CampaignState::Paused) => {
            if tz.is_some() {
                CampaignState::Scheduled
            } else {
                CampaignState::Running
            }
        }
        (CampaignAction::Resume, CampaignState::Scheduled | CampaignState::Running) => state,
        (
            CampaignAction::Cancel,
            CampaignState::Scheduled | CampaignState::Running | CampaignState::Paused,
        ) => CampaignState::Cancelled,
        _ => return Err(refuse()),
    };
    c.execute(
        "UPDATE campaign SET state = ?2, updated_at = ?3,
             finished_at = CASE WHEN ?2 = 'cancelled' THEN ?3 ELSE finished_at END
         WHERE id = ?1",
        args![id, next.as_str(), ms(now)],
    )
    .map_err(StoreError::sql("campaign state"))?;
    if next == CampaignState::Cancelled {
        let ids: Vec<i64> = c
            .query(
                c.pick(
                    "SELECT id FROM outgoing INDEXED BY outgoing_by_campaign
                     WHERE campaign = ?1 AND state = 'queued'",
                    "SELECT id FROM outgoing WHERE campaign = ?1 AND state = 'queued'",
                ),
                args![id],
                |r| r.get(0),
            )
            .map_err(StoreError::sql("queued campaign messages"))?;
        for m in ids {
            outgoing::cancel(c, m, now)?;
        }
    }
    get(c, id)?.ok_or(StoreError::NoSuchCampaign { id })
}

#[cfg(test)]
#[path = "campaign_tests.rs"]
mod tests;
