//! The store: every line of SQL in smsgate, on one thread that owns the
//! SQLite connection. Owns the public types callers exchange with the store,
//! the [`Store`] handle and its group-commit loop. It decides no policy (which
//! SIM, when to retry) and decodes nothing: callers hand it decoded fields.
//!
//! Layout: `schema.rs` (migrations), `outgoing.rs` (the send lifecycle and
//! its queries), `incoming.rs` (received PDUs, reassembly, status reports,
//! modems and SIMs), `events.rs` (the event log, cursors, retention),
//! `webhooks.rs` (webhook endpoints and delivery records), `report.rs`
//! (delivery reports, read-only), `series.rs` (the dashboard's time series,
//! read-only). Each of those is plain functions over a
//! `&Connection`, run by the thread here inside the batch transaction.
//!
//! Group commit: the thread blocks for one request, drains whatever else is
//! waiting (up to [`MAX_BATCH`]), runs each inside its own SAVEPOINT in one
//! transaction, commits once, then answers every caller. A request that fails
//! is rolled back to its savepoint alone; a failed commit fails the batch.
//! A request sent to run alone (a streamed campaign, see `campaign.rs`) ends
//! the batch being gathered and runs in a transaction of its own, so a long
//! request neither delays the answers of a batch nor commits with one.
//! New messages from clients wait a little for the clients the previous
//! commit answered (see `GATHER_GAP`), so a pipelining client's window
//! shares one commit.
//!
//! Semantics the callers rely on:
//! - A message's state is rolled up from its parts: `failed` as soon as one
//!   part failed for good (the pending rest is cancelled), `delivered` when
//!   every part is, `sent` when every part is out, `queued` while none is,
//!   `sending` in between. `delivered`, `failed`, `cancelled` and `expired`
//!   are final: late events update the part, never the message.
//! - One SIM per message: the first part out pins the message; `assign` and
//!   `part_sending` refuse another modem/SIM once a part has gone out.
//!   `Failover` unpins only while nothing went out.
//! - `ready` lists messages with a pending part, none in flight, schedule and
//!   retry time passed and not past `expires_at` (which defaults to creation
//!   plus `validity`); the dispatcher calls `expire` for the rest.
//! - `retry` resends a message as a whole (every part reset, unpinned), so a
//!   multipart message is reassembled by the phone.
//! - Status reports match a part sent through the same SIM with the same MR
//!   and the same recipient, the most recent sent before the report arrived;
//!   unmatched ones are kept and claimed by a `part_sent` within
//!   [`EARLY_REPORT_WINDOW`]. The same PDU twice (received or report) is
//!   stored once, keyed by (SIM, PDU hex).
//! - Concatenated sets are keyed by (SIM, sender, reference, total, 8/16-bit
//!   reference) and live in the database, so restarts lose nothing;
//!   `flush_incomplete` turns idle sets into messages marked incomplete,
//!   listing the missing parts.

mod campaign;
#[cfg(test)]
mod claim_tests;
mod cluster;
mod events;
mod http;
mod incoming;
mod listen;
pub mod migrate;
mod optout;
mod outgoing;
#[cfg(test)]
mod pgserver;
#[cfg(test)]
pub(crate) mod pgtest;
#[cfg(test)]
mod reconnect_tests;
mod report;
mod schema;
mod schema_pg;
mod series;
#[cfg(test)]
mod shared_tests;
pub(crate) mod sql;
mod verify;
mod webhooks;

pub use cluster::{ClaimScope, NodeModem, NodeModemView, NodeView};
pub use events::{
    Event, EventData, LeaseView, ModemEvent, MwiEvent, OptoutEvent, PartEvent, Pruned, ReportEvent,
    PRUNE_STEP,
};
pub use http::{Accepted, BatchOutcome, IdempotencyKey, TokenInfo, TokenRecord};
pub use optout::{OptoutAction, OptoutChange, OptoutEntry};
pub use report::{Percentiles, Report, ReportBy, ReportRow, CSV_HEADER, NO_GROUP};
pub use series::{Series, SimSeries, MAX_BUCKETS};
pub use verify::{CheckResult, CodeSent, NewCode, MAX_TRIES as VERIFY_MAX_TRIES};
pub use webhooks::{
    consumer_name as webhook_consumer, DeliveryResult, NewWebhook, RetryState, WebhookDelivery,
    WebhookEndpoint,
};

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use rusqlite::{Connection, ErrorCode};
use serde::Serialize;
use sql::{Db, Dialect};
use tokio::sync::oneshot;

pub use crate::codec::MessageOptions;

/// Row id of an outgoing message.
pub type MessageId = i64;

/// The most requests one transaction carries.
pub const MAX_BATCH: usize = 256;

/// How many prepared statements the store thread keeps.
const STATEMENT_CACHE: usize = 128;

/// How long a report that arrived before its `part_sent` waits to be claimed.
pub const EARLY_REPORT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// What can go wrong in the store. Cloneable: a failed commit answers every
/// caller of the batch with the same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The disk is full, the file system or database is read-only, or I/O
    /// failed. New work must be refused; the handle recovers when the cause
    /// goes away.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Any other SQLite error, with the operation that hit it.
    #[error("store error during {op}: {message} (sqlite code {code:?})")]
    Sql {
        op: &'static str,
        code: Option<i32>,
        message: String,
    },
    #[error("no outgoing message {id}")]
    NoSuchMessage { id: MessageId },
    #[error("no campaign {id}")]
    NoSuchCampaign { id: i64 },
    #[error("cannot {action} campaign {id}: it is {state}")]
    CampaignInState {
        id: i64,
        state: String,
        action: &'static str,
    },
    #[error("message {id} has no part {seq}")]
    NoSuchPart { id: MessageId, seq: u32 },
    /// The operation does not apply to what the row is now.
    #[error("cannot {action} message {id}: it is {state}")]
    InvalidState {
        id: MessageId,
        state: String,
        action: &'static str,
    },
    /// A caller-supplied field the store cannot keep.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// A stored value this binary does not understand.
    #[error("corrupt {field} in the store: {value:?}")]
    Corrupt { field: &'static str, value: String },
    #[error("schema migration to version {version} failed: {message}")]
    Migration { version: usize, message: String },
    #[error("database schema version {found} is newer than this smsgate knows ({known})")]
    TooNew { found: i64, known: usize },
    #[error("cannot open store {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("the store is closed")]
    Closed,
    /// A limit the caller set was reached (verification codes an hour).
    #[error("{0}")]
    RateLimited(String),
    /// The operation is not available on this store's engine.
    #[error("{0}")]
    Unsupported(&'static str),
}

impl StoreError {
    /// Maps a SQLite error: full disk, read-only and I/O become
    /// [`StoreError::Unavailable`] with a reason a person can act on.
    pub(crate) fn from_sqlite(op: &'static str, e: rusqlite::Error) -> StoreError {
        if let rusqlite::Error::SqliteFailure(f, msg) = &e {
            let detail = msg.clone().unwrap_or_else(|| f.to_string());
            let reason = match f.code {
                ErrorCode::DiskFull => Some("disk or database full"),
                ErrorCode::ReadOnly => Some("database or file system is read-only"),
                ErrorCode::SystemIoFailure if read_only_fs() => Some(
                    "the file system is read-only (the kernel remounts it so after disk errors)",
                ),
                ErrorCode::SystemIoFailure => Some("I/O error"),
                ErrorCode::CannotOpen => Some("cannot open the database file"),
                ErrorCode::PermissionDenied => Some("permission denied"),
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    Some("database locked by another process")
                }
                _ => None,
            };
            if let Some(reason) = reason {
                return StoreError::Unavailable(format!("{reason} ({op}: {detail})"));
            }
            return StoreError::Sql {
                op,
                code: Some(f.extended_code),
                message: detail,
            };
        }
        StoreError::Sql {
            op,
            code: None,
            message: e.to_string(),
        }
    }

    /// `map_err` helper: `.map_err(StoreError::sql("insert part"))`, for
    /// SQLite's errors and the portable layer's alike.
    pub(crate) fn sql<E: Into<sql::DbError>>(op: &'static str) -> impl Fn(E) -> StoreError {
        move |e| StoreError::from_db(op, e.into())
    }

    /// Maps an error of the portable layer: SQLite's as [`Self::from_sqlite`];
    /// a lost PostgreSQL connection is [`StoreError::Unavailable`].
    pub(crate) fn from_db(op: &'static str, e: sql::DbError) -> StoreError {
        match e {
            sql::DbError::Sqlite(e) => StoreError::from_sqlite(op, e),
            sql::DbError::NoRow => {
                StoreError::from_sqlite(op, rusqlite::Error::QueryReturnedNoRows)
            }
            sql::DbError::Pg(e) if sql::connection_lost(&e) => {
                StoreError::Unavailable(format!("PostgreSQL connection lost ({op}: {e})"))
            }
            e => StoreError::Sql {
                op,
                code: None,
                message: e.to_string(),
            },
        }
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The lowercase name used in JSON and in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(StoreError::Corrupt { field: stringify!($name), value: s.to_string() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Where an outgoing message is in its life.
    MessageState {
        Queued => "queued",
        Sending => "sending",
        Sent => "sent",
        Delivered => "delivered",
        Failed => "failed",
        Cancelled => "cancelled",
        Expired => "expired",
        Skipped => "skipped",
    }
);

text_enum!(
    /// Where one part of an outgoing message is.
    PartState {
        Pending => "pending",
        Sending => "sending",
        Uncertain => "uncertain",
        Sent => "sent",
        Delivered => "delivered",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

text_enum!(
    /// What a message is for. A `marketing` message (campaigns, or any
    /// message sent so) is never sent to a number on the suppression list:
    /// it ends `skipped` with error "opted out". `transactional` (the
    /// default) goes to everyone.
    Category {
        Transactional => "transactional",
        Marketing => "marketing",
    }
);

// The enum comes from `text_enum!`, which has no place for `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for Category {
    fn default() -> Self {
        Category::Transactional
    }
}

/// The `error` of a message skipped because its recipient opted out.
pub const OPTED_OUT: &str = "opted out";

text_enum!(
    /// Dispatch order: urgent before high before normal before low.
    Priority {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
);

text_enum!(
    /// Where a campaign is: `scheduled` (outside its window, or not started),
    /// `running`, `paused` (by a user), `done` (no message left queued),
    /// `cancelled`.
    CampaignState {
        Scheduled => "scheduled",
        Running => "running",
        Paused => "paused",
        Done => "done",
        Cancelled => "cancelled",
    }
);

pub use campaign::{
    campaign_feed, CampaignAction, CampaignFeed, CampaignRows, CampaignView, CampaignWindow,
    FeedClosed, LiveCampaign, NewCampaign, FEED_TIMEOUT,
};

impl PartState {
    /// True when something of this part may already have reached the
    /// network, which pins its message to the SIM it was assigned to.
    pub fn progressed(self) -> bool {
        matches!(
            self,
            PartState::Sending | PartState::Uncertain | PartState::Sent | PartState::Delivered
        )
    }
}

impl MessageState {
    /// States that `rollup` never leaves on its own.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            MessageState::Delivered
                | MessageState::Failed
                | MessageState::Cancelled
                | MessageState::Expired
                | MessageState::Skipped
        )
    }
}

impl Priority {
    pub(crate) fn rank(self) -> i64 {
        match self {
            Priority::Low => 0,
            Priority::Normal => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }

    /// 1 (low) to 4 (urgent); 0 is "none" for those who keep a maximum.
    pub fn rank_u8(self) -> u8 {
        match self {
            Priority::Low => 1,
            Priority::Normal => 2,
            Priority::High => 3,
            Priority::Urgent => 4,
        }
    }

    pub(crate) fn from_rank(rank: i64) -> Result<Priority, StoreError> {
        match rank {
            0 => Ok(Priority::Low),
            1 => Ok(Priority::Normal),
            2 => Ok(Priority::High),
            3 => Ok(Priority::Urgent),
            _ => Err(StoreError::Corrupt {
                field: "priority",
                value: rank.to_string(),
            }),
        }
    }
}

/// A message to queue, as the spool or the control socket hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub to: String,
    pub text: String,
    pub report: bool,
    pub flash: bool,
    pub priority: Priority,
    /// TP-VP asked for.
    pub validity: Option<Duration>,
    /// Expire if not sent by then.
    pub expires_at: Option<DateTime<Utc>>,
    /// Scheduled: not before then.
    pub not_before: Option<DateTime<Utc>>,
    /// Explicit modem asked for by the user.
    pub modem: Option<String>,
    pub queue: Option<String>,
    /// Number of parts (from `codec::count_parts`); at least 1.
    pub parts: u32,
    /// Encoding options recorded at intake (kept as JSON in one column).
    pub options: MessageOptions,
    /// `"spool:<name>"`, `"socket:uid=1000"`, ...
    pub source: String,
    /// Same key twice = same message.
    pub spool_key: Option<String>,
    /// The campaign it belongs to (set by `campaign_create` only).
    pub campaign: Option<i64>,
    /// Marketing or transactional (the opt-out applies to marketing only).
    pub category: Category,
    /// The recipient in the suppression list's normal form
    /// (`codec::e164::optout_key`); `None` for a number that has none.
    pub optout_key: Option<String>,
}

/// The answer to `enqueue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Enqueued {
    pub id: MessageId,
    pub parts: u32,
    /// The spool key was already stored; `id` is the existing message.
    pub duplicate: bool,
}

/// One part as the dispatcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRow {
    pub seq: u32,
    pub state: PartState,
    pub attempts: u32,
    /// The SUBMIT PDU (SMSC prefix included) recorded by `assign`.
    pub pdu: Option<Vec<u8>>,
    pub tpdu_len: Option<u32>,
    pub mr: Option<u8>,
}

/// One encoded part, as `assign` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartPdu {
    pub seq: u32,
    /// The whole PDU, SMSC prefix included.
    pub pdu: Vec<u8>,
    /// The `AT+CMGS=` length (SMSC prefix excluded).
    pub tpdu_len: u32,
}

#[cfg(test)]
impl PartPdu {
    /// A part from hex, for the store's tests.
    pub(crate) fn hex(seq: u32, hex: &str, tpdu_len: u32) -> Self {
        PartPdu {
            seq,
            pdu: crate::codec::hex::decode(hex).unwrap_or_default(),
            tpdu_len,
        }
    }
}

/// A message with at least one part ready to go.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadyMessage {
    pub id: MessageId,
    pub to: String,
    pub text: String,
    pub report: bool,
    pub flash: bool,
    pub priority: Priority,
    pub validity: Option<Duration>,
    /// Explicit modem asked for by the user.
    pub modem: Option<String>,
    pub queue: Option<String>,
    /// The modem the message is pinned to, once assigned.
    pub assigned_modem: Option<String>,
    pub sim: Option<String>,
    pub options: MessageOptions,
    pub parts: Vec<PartRow>,
    pub tried_modems: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// When the message expires if it has not gone out by then.
    pub expires_at: Option<DateTime<Utc>>,
    /// The campaign it belongs to.
    pub campaign: Option<i64>,
}

/// The answer to `ready`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadyBatch {
    pub messages: Vec<ReadyMessage>,
    /// The earliest future `not_before`, `next_attempt_at` or `expires_at`.
    pub next_wake: Option<DateTime<Utc>>,
    /// [`Store::claim_ready`] on PostgreSQL: how many messages the request
    /// claimed (new claims and renewed ones); 0 otherwise.
    pub claimed: u64,
}

/// What to do after a part failed to go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Same SIM, later.
    RetryAt(DateTime<Utc>),
    /// Another SIM, later: unpins the message while no part has gone out
    /// (else the same as `RetryAt`) and remembers the modem as tried.
    Failover(DateTime<Utc>),
    /// The message failed; its remaining parts are cancelled.
    Permanent,
}

/// The answer to `recover_on_start`, counted in parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Recovered {
    /// Parts found `sending`, now `uncertain`.
    pub uncertain: u32,
    /// Uncertain parts queued again (policy: resend).
    pub requeued: u32,
    /// Messages failed because a part stayed uncertain (policy: no resend).
    pub failed: u32,
}

/// Parts sent through one SIM in the trailing windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Usage {
    pub last_minute: u32,
    pub last_hour: u32,
    pub last_day: u32,
}

/// The concatenation header of a received part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcatKey {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
    pub ref16: bool,
}

/// One received SMS-DELIVER, decoded by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedPdu {
    pub modem: String,
    /// IMSI, or the modem name when unknown.
    pub sim: String,
    /// The PDU as the modem gave it (the store keys duplicates on it).
    pub pdu: Vec<u8>,
    pub from: String,
    /// The text, or hex for binary data.
    pub text: String,
    pub binary: bool,
    /// The SMSC time stamp.
    pub sent_at: Option<DateTime<FixedOffset>>,
    pub concat: Option<ConcatKey>,
    pub class0: bool,
    /// `Some(pid)` for PID 0x41..=0x47.
    pub replace_type: Option<u8>,
    pub pid: u8,
    pub dcs: u8,
}

/// The answer to `record_received`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedOutcome {
    /// The same PDU was already stored; nothing changed.
    pub duplicate: bool,
    /// The message this PDU completed (a single-part one, or the last part of
    /// a set).
    pub complete: Option<InboxMessage>,
}

/// A received message, as `inbox` lists it. Field names are the contract's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct InboxMessage {
    pub id: i64,
    pub modem: String,
    pub from: String,
    pub text: String,
    /// SMSC time stamp, RFC 3339 with its offset.
    pub sent_at: Option<String>,
    /// RFC 3339, UTC.
    pub received_at: String,
    pub parts: u32,
    pub complete: bool,
    pub class0: bool,
    pub binary: bool,
    pub sim: String,
    /// Sequence numbers of parts that never came (incomplete messages).
    pub missing_parts: Vec<u32>,
    /// The earlier message this one replaced (replace-type PID).
    pub replaces: Option<i64>,
}

/// One status report, decoded by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportIn {
    pub modem: String,
    pub sim: String,
    pub mr: u8,
    pub recipient: String,
    pub sc_time: Option<DateTime<FixedOffset>>,
    pub discharge: Option<DateTime<FixedOffset>>,
    /// TP-ST.
    pub status: u8,
    pub is_final: bool,
    pub success: bool,
    /// The PDU as the modem gave it (the store keys duplicates on it).
    pub pdu: Vec<u8>,
}

/// The answer to `record_report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportOutcome {
    pub duplicate: bool,
    /// (message, part seq) the report applies to.
    pub matched: Option<(MessageId, u32)>,
    pub message_state: Option<MessageState>,
}

/// One part, as `show` and `outbox` list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PartView {
    pub seq: u32,
    pub state: PartState,
    pub mr: Option<u8>,
    /// TP-ST of the last status report.
    pub status: Option<u8>,
    pub modem: Option<String>,
    pub error: Option<String>,
    pub attempts: u32,
    pub sent_at: Option<String>,
    pub delivered_at: Option<String>,
}

/// One outgoing message, as `show` and `outbox` list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OutgoingView {
    pub id: MessageId,
    pub to: String,
    pub text: String,
    pub state: MessageState,
    /// The modem it went (or goes) through; the one asked for otherwise.
    pub modem: Option<String>,
    pub created_at: String,
    pub error: Option<String>,
    pub parts: Vec<PartView>,
    pub priority: Priority,
    pub report: bool,
    pub flash: bool,
    pub sim: Option<String>,
    pub queue: Option<String>,
    pub source: String,
    pub updated_at: String,
    pub not_before: String,
    pub expires_at: Option<String>,
    pub tried_modems: Vec<String>,
    /// The campaign it belongs to (absent for single messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<i64>,
    /// `transactional` or `marketing` (events logged before it existed
    /// read as `transactional`).
    #[serde(default)]
    pub category: Category,
}

/// How many messages are in each state, and what is waiting elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct QueueCounts {
    pub queued: u64,
    pub sending: u64,
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub expired: u64,
    pub skipped: u64,
    pub inbox: u64,
    pub unmatched_reports: u64,
}

/// A modem and SIM identity as the modem actor read it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModemSeen {
    pub name: String,
    pub imei: Option<String>,
    pub imsi: Option<String>,
    pub iccid: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
}

/// What the store counted for one SIM (keyed by IMSI, or modem name when the
/// IMSI is unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimCounters {
    pub sim: String,
    pub iccid: Option<String>,
    pub last_modem: Option<String>,
    pub parts_sent: u64,
    pub parts_failed: u64,
    pub received: u64,
    pub reports: u64,
    pub first_seen: String,
    pub last_seen: String,
}

// ---------------------------------------------------------------------------
// The thread and the handle.

/// Runs on the store thread (or, given an error, does not run at all);
/// returns whether it succeeded (to release or roll back its savepoint) and a
/// closure that answers the caller once the fate of the batch is known.
type Job = Box<dyn FnOnce(Result<&dyn Db, StoreError>) -> (bool, Reply) + Send>;
type Reply = Box<dyn FnOnce(Option<&StoreError>) + Send>;

enum Request {
    Job(Job),
    /// A new message from a client (see [`Lane::Intake`]).
    Intake(Job),
    /// A job that runs in a transaction of its own (a streamed campaign).
    Alone(Job),
    Close(oneshot::Sender<()>),
}

/// How a request joins the group commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// With whatever else is waiting.
    Batch,
    /// With whatever else is waiting; and it counts towards the intake the
    /// next transaction waits for (see [`GATHER_GAP`]).
    Intake,
    /// In a transaction of its own.
    Alone,
}

/// Group commit of pipelined clients. A client with a window (an SMPP
/// session with 10 `submit_sm` unanswered, an HTTP client with several
/// requests open) sends its next messages as the answers of the last commit
/// reach it; a transaction started at once would carry only the few that
/// came during the last `fsync`, and the rest would wait for the one after
/// (two half-full commits per round trip). So, while a transaction holds
/// fewer new messages than there are clients likely to send one (see
/// [`Gather`]), the store thread waits up to this long for the next request
/// before it commits...
const GATHER_GAP: Duration = Duration::from_micros(500);

/// ...and never more than this after the transaction began: the most a
/// commit is held back. A single client (one message per commit) never
/// waits.
const GATHER_MAX: Duration = Duration::from_millis(2);

/// A cheap, cloneable handle to the store thread.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Request>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
    commits: Arc<AtomicU64>,
    /// The id of the newest committed event: followers of the log wait on it.
    last_event: Arc<tokio::sync::watch::Sender<i64>>,
    /// Bumped when another host (or this one) notified a commit with new
    /// events or work (PostgreSQL; see `listen.rs`).
    wake: Arc<tokio::sync::watch::Sender<u64>>,
    /// PostgreSQL: stops the listening thread at `close`.
    listener: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// A second, read-only connection (file databases only) for long reads
    /// (reports): WAL lets it read while the store thread writes, so a
    /// report does not hold up sends. One long read at a time.
    reader: Option<Arc<Mutex<Connection>>>,
    /// Real texts of verification-code messages (memory only).
    sealed: verify::Sealed,
    /// Whether the database answers (PostgreSQL may be away for a while).
    health: Arc<tokio::sync::watch::Sender<StoreHealth>>,
}

/// Whether the store answers: `up`, or `waiting` for its PostgreSQL server
/// (the store thread reconnects with back-off; meanwhile new work is refused
/// with [`StoreError::Unavailable`] and nothing already answered is lost).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreHealth {
    /// `sqlite` or `postgresql`.
    pub engine: &'static str,
    /// `up` or `waiting`.
    pub state: &'static str,
    /// Since when it has been waiting (RFC 3339), while it waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Why it waits: the last error of the connection or of a reconnect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Connections made again since the store opened.
    pub reconnects: u64,
}

impl StoreHealth {
    fn up(engine: &'static str) -> StoreHealth {
        StoreHealth {
            engine,
            state: "up",
            since: None,
            error: None,
            reconnects: 0,
        }
    }

    /// True while the store waits for its server.
    pub fn waiting(&self) -> bool {
        self.state == "waiting"
    }
}

/// The first pause between two attempts to reconnect to PostgreSQL; it
/// doubles up to [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("commits", &self.commits.load(Ordering::Relaxed))
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`, migrates it and
    /// starts the thread that owns it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |e: rusqlite::Error| StoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        // Free pages go back to the file system bit by bit after pruning
        // (incremental vacuum). A new file takes the setting at once; an
        // older one is rebuilt once to switch.
        let auto_vacuum: i64 = conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .map_err(open_err)?;
        if auto_vacuum != 2 {
            conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")
                .map_err(open_err)?;
            let tables: i64 = conn
                .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(open_err)?;
            if tables > 0 {
                conn.execute_batch("VACUUM").map_err(open_err)?;
            }
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                message: format!("journal_mode is {mode}, WAL refused"),
            });
        }
        Self::start(conn, path)
    }

    /// A fresh store in memory (same schema, same thread and group commit),
    /// for tests that exercise the real SQL without a file.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::start(conn, path)
    }

    /// Connects to the PostgreSQL database at `url`
    /// (`postgresql://user:password@host:port/database`), migrates it and
    /// starts the thread that owns the connection (the same group commit as
    /// SQLite's: one transaction per batch, a savepoint per request).
    ///
    /// Every store operation runs on it (see docs/cluster.md); only the
    /// SQLite-only test helpers answer [`StoreError::Unsupported`].
    pub fn open_postgres(url: &str) -> Result<Store, StoreError> {
        Self::open_postgres_as(url, None)
    }

    /// [`Store::open_postgres`] for the host `node` of a cluster (`[cluster]
    /// node`): every event this store appends records it (`event.node`), so
    /// each host's metrics count the events it made.
    pub fn open_postgres_as(url: &str, node: Option<&str>) -> Result<Store, StoreError> {
        let node = node.map(str::to_string);
        let shown = PathBuf::from(redact_url(url));
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<i64, StoreError>>(1);
        let (tx, rx) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&commits);
        let (last_event, _) = tokio::sync::watch::channel(0);
        let last_event = Arc::new(last_event);
        let notify = Arc::clone(&last_event);
        let url = url.to_string();
        let listen_url = url.clone();
        let open_err = {
            let shown = shown.clone();
            move |message: String| StoreError::Open {
                path: shown.clone(),
                message,
            }
        };
        let fail = open_err.clone();
        let (health, _) = tokio::sync::watch::channel(StoreHealth::up("postgresql"));
        let health = Arc::new(health);
        let shared_health = Arc::clone(&health);
        // The blocking client runs a runtime of its own: it lives on this
        // thread, never on the caller's (which may be an async one).
        let thread = std::thread::Builder::new()
            .name("smsgate-store".into())
            .spawn(move || {
                events::set_node(node);
                let setup = sql::PgConn::connect(&url)
                    .map_err(|e| fail(e.to_string()))
                    .and_then(|conn| {
                        schema_pg::migrate_pg(&conn)?;
                        let last = events::last_id(&conn)?;
                        Ok((conn, last))
                    });
                match setup {
                    Ok((conn, last)) => {
                        notify.send_replace(last);
                        let _ = ready_tx.send(Ok(last));
                        run_postgres(&url, conn, rx, counter, notify, shared_health)
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| open_err(format!("cannot start the store thread: {e}")))?;
        let started = ready_rx
            .recv()
            .map_err(|_| open_err("the store thread ended".into()))
            .and_then(|r| r);
        if let Err(e) = started {
            let _ = thread.join();
            return Err(e);
        }
        let (wake, _) = tokio::sync::watch::channel(0);
        let wake = Arc::new(wake);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let targets = listen::Targets {
            last_event: Arc::downgrade(&last_event),
            wake: Arc::downgrade(&wake),
            stop: Arc::clone(&stop),
        };
        listen::spawn(listen_url, targets)
            .map_err(|e| open_err(format!("cannot start the listening thread: {e}")))?;
        Ok(Store {
            tx,
            thread: Arc::new(Mutex::new(Some(thread))),
            commits,
            last_event,
            wake,
            listener: Some(stop),
            reader: None,
            sealed: verify::Sealed::default(),
            health,
        })
    }

    /// Migrates `conn` and starts the thread that owns it.
    fn start(mut conn: Connection, path: &Path) -> Result<Store, StoreError> {
        // synchronous=FULL: a commit is on disk (the WAL fsynced) before any
        // caller is answered. temp_store=MEMORY keeps the per-request
        // savepoint journals in memory (by default they spill to a temporary
        // file past 64 KiB: a write(2) per page on every request). 8 MiB of
        // page cache keeps the hot index pages of the queue in memory.
        conn.execute_batch(
            "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;
             PRAGMA cache_size=-8192;",
        )
        .map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        // Every hot statement stays prepared: more distinct statements than
        // rusqlite's default 16 would evict each other and be parsed again.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Plans never depend on bound values: without this, SQLite marks a
        // statement with `LIMIT ?` (and a few other shapes) to be prepared
        // again whenever a binding changes, and clearing the bindings when
        // a statement goes back to the cache counts as a change, so such a
        // statement was parsed and planned on every use.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        schema::migrate(&mut conn)?;
        let last = events::last_id(&conn)?;
        let (last_event, _) = tokio::sync::watch::channel(last);
        let last_event = Arc::new(last_event);
        let (tx, rx) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&commits);
        let notify = Arc::clone(&last_event);
        let db_path = path.to_path_buf();
        let reader = if path == Path::new(":memory:") {
            None
        } else {
            Some(Arc::new(Mutex::new(open_reader(path)?)))
        };
        let thread = std::thread::Builder::new()
            .name("smsgate-store".into())
            .spawn(move || {
                DB_PATH.with(|p| *p.borrow_mut() = Some(db_path));
                let _ = run(conn, &rx, counter, notify);
            })
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                message: format!("cannot start the store thread: {e}"),
            })?;
        Ok(Store {
            tx,
            thread: Arc::new(Mutex::new(Some(thread))),
            commits,
            last_event,
            wake: Arc::new(tokio::sync::watch::channel(0).0),
            listener: None,
            reader,
            sealed: verify::Sealed::default(),
            health: Arc::new(tokio::sync::watch::channel(StoreHealth::up("sqlite")).0),
        })
    }

    /// Whether the store answers now (see [`StoreHealth`]).
    pub fn health(&self) -> StoreHealth {
        self.health.borrow().clone()
    }

    /// Follows [`Store::health`]: the daemon logs each change once.
    pub fn health_watch(&self) -> tokio::sync::watch::Receiver<StoreHealth> {
        self.health.subscribe()
    }

    /// True when the store keeps its data in PostgreSQL (a cluster).
    pub fn is_postgres(&self) -> bool {
        self.health.borrow().engine == "postgresql"
    }

    /// Follows the id of the newest committed event.
    pub fn event_watch(&self) -> tokio::sync::watch::Receiver<i64> {
        self.last_event.subscribe()
    }

    /// Changes whenever a commit on the shared database (PostgreSQL) added
    /// events or outgoing work, on any host: the dispatcher follows it to
    /// look for new work at once instead of at its next timer. Never
    /// changes on SQLite, where the store's own callers wake the
    /// dispatcher. A hint: it carries no content, and wake-ups are
    /// coalesced.
    pub fn cluster_wake(&self) -> tokio::sync::watch::Receiver<u64> {
        self.wake.subscribe()
    }

    /// True on PostgreSQL, where several hosts share the store (consumer
    /// leases apply).
    pub fn is_shared(&self) -> bool {
        self.listener.is_some()
    }

    /// The id of the newest committed event (0 for an empty log).
    pub fn last_event_id(&self) -> i64 {
        *self.last_event.borrow()
    }

    /// How many transactions the thread has committed (group commit makes
    /// this smaller than the number of requests).
    pub fn transactions(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Finishes what is queued, closes the connection and joins the thread.
    /// Other handles get [`StoreError::Closed`] afterwards.
    pub async fn close(&self) -> Result<(), StoreError> {
        if let Some(stop) = &self.listener {
            stop.store(true, Ordering::Relaxed);
        }
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Request::Close(tx)).is_ok() {
            let _ = rx.await;
        }
        let handle = self.thread.lock().map_err(|_| StoreError::Closed)?.take();
        if let Some(handle) = handle {
            tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|_| StoreError::Closed)?
                .map_err(|_| StoreError::Closed)?;
        }
        Ok(())
    }

    /// Runs `f` on the store thread inside the current batch: SQLite only
    /// (the queries not yet written for both engines; on PostgreSQL they
    /// answer [`StoreError::Unsupported`]).
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.call_db(move |db| f(sqlite_only(db)?)).await
    }

    /// Runs `f` on the store thread inside the current batch, on either
    /// engine.
    async fn call_db<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let rx = self.submit_db_with(Lane::Batch, f)?;
        Self::answer(rx).await
    }

    /// As [`Self::call_db`], for a client's new messages: the group commit
    /// counts them to know how many to wait for (see [`GATHER_GAP`]).
    async fn call_intake<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let rx = self.submit_db_with(Lane::Intake, f)?;
        Self::answer(rx).await
    }

    /// Waits for the answer of a submitted request.
    async fn answer<T: Send + 'static>(
        rx: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        // Test builds wait on a blocking thread: tokio's paused clock then
        // knows work is under way and does not jump ahead while the store
        // thread answers (the dispatcher's tests run on a paused clock).
        #[cfg(test)]
        let answer = tokio::task::spawn_blocking(move || rx.blocking_recv())
            .await
            .map_err(|_| StoreError::Closed)?;
        #[cfg(not(test))]
        let answer = rx.await;
        answer.map_err(|_| StoreError::Closed)?
    }

    /// Queues `f` for the store thread (SQLite only, see [`Self::call`]).
    #[cfg(test)]
    fn submit<T, F>(&self, f: F) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit_with(false, f)
    }

    /// As `submit`; `alone` runs the request in a transaction of its own
    /// (the batch before it commits first, the requests after it wait), for
    /// a long request that must not hold up the answers of others. SQLite
    /// only, see [`Self::call`].
    #[cfg(test)]
    fn submit_with<T, F>(
        &self,
        alone: bool,
        f: F,
    ) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let lane = if alone { Lane::Alone } else { Lane::Batch };
        self.submit_db_with(lane, move |db| f(sqlite_only(db)?))
    }

    /// Queues `f` for the store thread; the receiver gets its answer after
    /// the batch commits (or fails). `lane`: see [`Lane`].
    fn submit_db_with<T, F>(
        &self,
        lane: Lane,
        f: F,
    ) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |conn| {
            let result = conn.and_then(f);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |batch_error| {
                let answer = match batch_error {
                    Some(e) if ok => Err(e.clone()),
                    _ => result,
                };
                let _ = tx.send(answer);
            });
            (ok, reply)
        });
        let req = match lane {
            Lane::Batch => Request::Job(job),
            Lane::Intake => Request::Intake(job),
            Lane::Alone => Request::Alone(job),
        };
        self.tx.send(req).map_err(|_| StoreError::Closed)?;
        Ok(rx)
    }

    #[cfg(test)]
    pub(crate) fn submit_for_test<T, F>(
        &self,
        f: F,
    ) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(f)
    }

    #[cfg(test)]
    pub(crate) fn submit_db_for_test<T, F>(
        &self,
        f: F,
    ) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit_db_with(Lane::Batch, f)
    }

    #[cfg(test)]
    pub(crate) async fn exec_for_test(&self, sql: String) -> Result<(), StoreError> {
        self.call(move |c| c.execute_batch(&sql).map_err(StoreError::sql("test")))
            .await
    }

    #[cfg(test)]
    pub(crate) async fn query_i64_for_test(&self, sql: &'static str) -> Result<i64, StoreError> {
        self.call(move |c| {
            c.query_row(sql, [], |r| r.get(0))
                .map_err(StoreError::sql("test"))
        })
        .await
    }

    // --- outgoing -----------------------------------------------------------

    /// Queues a message; answers after the commit.
    pub async fn enqueue(&self, m: NewMessage, now: DateTime<Utc>) -> Result<Enqueued, StoreError> {
        self.call_intake(move |c| outgoing::enqueue(c, &m, now))
            .await
    }

    /// Messages with a part ready to go, highest priority first, and when to
    /// look again.
    pub async fn ready(&self, now: DateTime<Utc>, limit: usize) -> Result<ReadyBatch, StoreError> {
        let sealed = self.sealed.clone();
        self.call_db(move |c| {
            let mut batch = outgoing::ready(c, now, limit, &[])?;
            sealed.unseal(c, &mut batch, now)?;
            Ok(batch)
        })
        .await
    }

    /// As [`Store::ready`], leaving out the messages of the campaigns in
    /// `held` (at their rate cap). Messages of a campaign that is not
    /// `running` are never ready.
    pub async fn ready_except(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        held: Vec<i64>,
    ) -> Result<ReadyBatch, StoreError> {
        let sealed = self.sealed.clone();
        self.call_db(move |c| {
            let mut batch = outgoing::ready(c, now, limit, &held)?;
            sealed.unseal(c, &mut batch, now)?;
            Ok(batch)
        })
        .await
    }

    // --- campaigns ----------------------------------------------------------

    /// Creates a campaign with all its messages in one durable commit.
    pub async fn campaign_create(
        &self,
        campaign: NewCampaign,
        messages: Vec<NewMessage>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.call_db(move |c| campaign::create(c, &campaign, messages, now))
            .await
    }

    /// Creates a campaign whose messages come down `rows` in chunks (see
    /// [`campaign_feed`]), in one durable commit: the request runs alone in
    /// its own transaction, so nothing of the campaign is visible or durable
    /// before the producer's `finish`, and a feed dropped before it rolls
    /// everything back. Returns the id and the number of messages.
    pub async fn campaign_create_streamed(
        &self,
        campaign: NewCampaign,
        rows: CampaignRows,
        now: DateTime<Utc>,
    ) -> Result<(i64, u64), StoreError> {
        let rx = self.submit_db_with(Lane::Alone, move |c| {
            campaign::create_streamed(c, &campaign, rows, now)
        })?;
        Self::answer(rx).await
    }

    pub async fn campaign(&self, id: i64) -> Result<Option<CampaignView>, StoreError> {
        self.call_db(move |c| campaign::get(c, id)).await
    }

    /// Campaigns, newest first.
    pub async fn campaigns(&self, limit: usize) -> Result<Vec<CampaignView>, StoreError> {
        self.call_db(move |c| campaign::list(c, limit)).await
    }

    /// Campaigns that may send (`scheduled`, `running`): the dispatcher's view.
    pub async fn campaigns_live(&self) -> Result<Vec<LiveCampaign>, StoreError> {
        self.call_db(campaign::live).await
    }

    /// The dispatcher saw a campaign's window open or close.
    pub async fn campaign_set_open(
        &self,
        id: i64,
        open: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.call_db(move |c| campaign::set_open(c, id, open, now))
            .await
    }

    /// Pause, resume or cancel a campaign.
    pub async fn campaign_act(
        &self,
        id: i64,
        action: CampaignAction,
        now: DateTime<Utc>,
    ) -> Result<CampaignView, StoreError> {
        self.call_db(move |c| campaign::act(c, id, action, now))
            .await
    }

    /// Stores a verification code (its hash) and queues its message, in one
    /// transaction; refuses past the number's hourly limit.
    pub async fn verify_create(
        &self,
        code: NewCode,
        now: DateTime<Utc>,
    ) -> Result<CodeSent, StoreError> {
        let sealed = self.sealed.clone();
        self.call_db(move |c| verify::create(c, &sealed, code, now))
            .await
    }

    /// Checks a code's hash against the number's latest code: good once,
    /// dead after [`VERIFY_MAX_TRIES`] wrong tries or past its expiry.
    pub async fn verify_check(
        &self,
        number: &str,
        candidate: [u8; 32],
        now: DateTime<Utc>,
    ) -> Result<CheckResult, StoreError> {
        let n = number.to_string();
        self.call_db(move |c| verify::check(c, &n, &candidate, now))
            .await
    }

    /// The verification codes' HMAC key kept in the database (PostgreSQL:
    /// every host of a cluster uses the same one): the stored key, or
    /// `candidate`, stored now, when there is none yet.
    pub async fn verify_key(&self, candidate: [u8; 32]) -> Result<[u8; 32], StoreError> {
        let key = self
            .call_db(move |c| verify::secret(c, verify::VERIFY_KEY, &candidate, Utc::now()))
            .await?;
        <[u8; 32]>::try_from(key.as_slice()).map_err(|_| StoreError::Corrupt {
            field: "secret.value",
            value: format!("the verification key is {} bytes, not 32", key.len()),
        })
    }

    /// The next concatenation reference for (sim, destination), 0..=255.
    pub async fn next_concat_ref(&self, sim: &str, destination: &str) -> Result<u16, StoreError> {
        let (sim, destination) = (sim.to_string(), destination.to_string());
        self.call_db(move |c| outgoing::next_concat_ref(c, &sim, &destination))
            .await
    }

    /// Pins the message to one modem/SIM and stores each part's PDU.
    pub async fn assign(
        &self,
        id: MessageId,
        modem: &str,
        sim: Option<&str>,
        parts: Vec<PartPdu>,
    ) -> Result<(), StoreError> {
        let (modem, sim) = (modem.to_string(), sim.map(str::to_string));
        self.call_db(move |c| outgoing::assign(c, id, &modem, sim.as_deref(), &parts))
            .await
    }

    /// Marks a part in flight; commit this before `AT+CMGS` goes out.
    pub async fn part_sending(
        &self,
        id: MessageId,
        seq: u32,
        modem: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let modem = modem.to_string();
        self.call_db(move |c| outgoing::part_sending(c, id, seq, &modem, now))
            .await
    }

    /// [`Store::part_sending`] for a host of a cluster: only while `node`
    /// still holds its claim on the message, which is renewed for `lease`
    /// in the same transaction. A claim that lapsed (this host was slow to
    /// beat, another took the message over) answers
    /// [`StoreError::InvalidState`] and nothing goes out.
    pub async fn part_sending_claimed(
        &self,
        id: MessageId,
        seq: u32,
        modem: &str,
        node: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (modem, node) = (modem.to_string(), node.to_string());
        let until = now + chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::MAX);
        self.call_db(move |c| {
            cluster::hold_claim(c, id, &node, until)?;
            outgoing::part_sending(c, id, seq, &modem, now)
        })
        .await
    }

    /// [`Store::assign`] and then [`Store::part_sending`] of part `seq`
    /// (with `claim`, `(node, lease)`: [`Store::part_sending_claimed`]), in
    /// one request: a message's first part goes out after one commit, not
    /// two. Either both are done or neither.
    #[allow(clippy::too_many_arguments)]
    pub async fn assign_sending(
        &self,
        id: MessageId,
        modem: &str,
        sim: Option<&str>,
        parts: Vec<PartPdu>,
        seq: u32,
        claim: Option<(&str, Duration)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (modem, sim) = (modem.to_string(), sim.map(str::to_string));
        let claim = claim.map(|(node, lease)| {
            let until = now + chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::MAX);
            (node.to_string(), until)
        });
        self.call_db(move |c| {
            outgoing::assign(c, id, &modem, sim.as_deref(), &parts)?;
            if let Some((node, until)) = &claim {
                cluster::hold_claim(c, id, node, *until)?;
            }
            outgoing::part_sending(c, id, seq, &modem, now)
        })
        .await
    }

    /// The modem accepted the part with message reference `mr`.
    pub async fn part_sent(
        &self,
        id: MessageId,
        seq: u32,
        mr: u8,
        now: DateTime<Utc>,
    ) -> Result<MessageState, StoreError> {
        self.call_db(move |c| outgoing::part_sent(c, id, seq, mr, now))
            .await
    }

    /// The part did not go out; `disposition` says what happens next.
    pub async fn part_failed(
        &self,
        id: MessageId,
        seq: u32,
        error: &str,
        disposition: Disposition,
        now: DateTime<Utc>,
    ) -> Result<MessageState, StoreError> {
        let error = error.to_string();
        self.call_db(move |c| outgoing::part_failed(c, id, seq, &error, disposition, now))
            .await
    }

    /// At start-up: parts left `sending` become `uncertain`, then are resent
    /// or their messages failed, by policy.
    pub async fn recover_on_start(
        &self,
        resend_uncertain: bool,
        now: DateTime<Utc>,
    ) -> Result<Recovered, StoreError> {
        self.call_db(move |c| outgoing::recover_on_start(c, resend_uncertain, now))
            .await
    }

    /// Expires messages past their `expires_at` with nothing in flight.
    pub async fn expire(&self, now: DateTime<Utc>) -> Result<Vec<MessageId>, StoreError> {
        self.call_db(move |c| outgoing::expire(c, now)).await
    }

    /// Cancels a queued message, or the unsent rest of a sending one.
    pub async fn cancel(
        &self,
        id: MessageId,
        now: DateTime<Utc>,
    ) -> Result<MessageState, StoreError> {
        self.call_db(move |c| outgoing::cancel(c, id, now)).await
    }

    /// Requeues a failed, expired or cancelled message.
    pub async fn retry(
        &self,
        id: MessageId,
        now: DateTime<Utc>,
    ) -> Result<MessageState, StoreError> {
        self.call_db(move |c| outgoing::retry(c, id, now)).await
    }

    /// Parts sent through `sim` in the last minute, hour and day.
    pub async fn usage(&self, sim: &str, now: DateTime<Utc>) -> Result<Usage, StoreError> {
        let sim = sim.to_string();
        self.call_db(move |c| outgoing::usage(c, &sim, now)).await
    }

    /// The modem that last sent to `to` (sticky sender).
    pub async fn last_modem_for(&self, to: &str) -> Result<Option<String>, StoreError> {
        let to = to.to_string();
        self.call_db(move |c| outgoing::last_modem_for(c, &to))
            .await
    }

    /// Outgoing messages, newest first.
    pub async fn outbox(
        &self,
        state: Option<MessageState>,
        limit: usize,
    ) -> Result<Vec<OutgoingView>, StoreError> {
        self.call_db(move |c| outgoing::outbox(c, state, limit))
            .await
    }

    /// Queues every message of `msgs` in one transaction, guarded by an
    /// idempotency key when one is given (see [`BatchOutcome`]). Returns
    /// only after the commit.
    pub async fn enqueue_batch(
        &self,
        msgs: Vec<NewMessage>,
        key: Option<IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<BatchOutcome, StoreError> {
        self.call_intake(move |c| http::enqueue_batch(c, &msgs, key.as_ref(), now))
            .await
    }

    /// The messages an idempotency key queued, when it is stored and fresh.
    pub async fn key_messages(
        &self,
        key: String,
        fresh_after: Option<DateTime<Utc>>,
    ) -> Result<Option<Vec<Accepted>>, StoreError> {
        self.call_db(move |c| http::key_messages(c, &key, fresh_after))
            .await
    }

    /// Forgets idempotency keys starting with `prefix` stored before `cutoff`.
    pub async fn prune_keys(
        &self,
        prefix: &'static str,
        cutoff: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.call_db(move |c| http::prune_keys(c, prefix, cutoff))
            .await
    }

    /// Outgoing messages with ids below `before`, newest first.
    pub async fn outbox_page(
        &self,
        state: Option<MessageState>,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<OutgoingView>, StoreError> {
        self.call_db(move |c| http::outbox_page(c, state, before, limit))
            .await
    }

    /// Stores a new API token (its hash); false when the name is taken.
    pub async fn token_insert(
        &self,
        name: String,
        hash: String,
        scopes: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.call_db(move |c| http::token_insert(c, &name, &hash, &scopes, now))
            .await
    }

    /// Removes an API token; false when there was none of that name.
    pub async fn token_delete(&self, name: String) -> Result<bool, StoreError> {
        self.call_db(move |c| http::token_delete(c, &name)).await
    }

    /// Every API token, by name.
    pub async fn tokens(&self) -> Result<Vec<(TokenInfo, TokenRecord)>, StoreError> {
        self.call_db(http::tokens).await
    }

    /// One outgoing message with its parts.
    /// Puts a number (in its normal form) on the suppression list and skips
    /// its queued marketing messages, in one transaction.
    pub async fn optout_add(
        &self,
        number: &str,
        source: &str,
        keyword: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<OptoutChange, StoreError> {
        let (n, s, k) = (
            number.to_string(),
            source.to_string(),
            keyword.map(str::to_string),
        );
        self.call_db(move |c| optout::add(c, &n, &s, k.as_deref(), now))
            .await
    }

    /// Takes a number off the suppression list.
    pub async fn optout_remove(
        &self,
        number: &str,
        source: &str,
        keyword: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<OptoutChange, StoreError> {
        let (n, s, k) = (
            number.to_string(),
            source.to_string(),
            keyword.map(str::to_string),
        );
        self.call_db(move |c| optout::remove(c, &n, &s, k.as_deref(), now))
            .await
    }

    /// Whether a number (normal form) is on the suppression list.
    pub async fn optout_contains(&self, number: &str) -> Result<bool, StoreError> {
        let n = number.to_string();
        self.call_db(move |c| optout::is_suppressed(c, &n)).await
    }

    /// The suppression list in number order, after `after`.
    pub async fn optout_list(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<OptoutEntry>, StoreError> {
        self.call_db(move |c| optout::list(c, after.as_deref(), limit))
            .await
    }

    pub async fn show(&self, id: MessageId) -> Result<Option<OutgoingView>, StoreError> {
        self.call_db(move |c| outgoing::show(c, id)).await
    }

    /// Hands SQLite's unused page-cache memory back to the allocator on
    /// both connections (`PRAGMA shrink_memory`): after start-up the caches
    /// hold the pages the migrations and the first queries read, which an
    /// idle daemon does not need (they come back from the OS page cache when
    /// used). The reader is skipped while a long read holds it. Errors are
    /// ignored: nothing depends on it. A no-op on PostgreSQL.
    pub async fn release_memory(&self) {
        let _ = self
            .call(|c| {
                c.execute_batch("PRAGMA shrink_memory")
                    .map_err(StoreError::sql("shrink memory"))
            })
            .await;
        if let Some(reader) = &self.reader {
            if let Ok(conn) = reader.try_lock() {
                let _ = conn.execute_batch("PRAGMA shrink_memory");
            }
        }
    }

    /// Messages per state, inbox size, unmatched reports.
    pub async fn counts(&self) -> Result<QueueCounts, StoreError> {
        self.call_db(incoming::counts).await
    }

    /// `[("queued", n), ("sending", n)]` (states with none are absent).
    pub async fn queue_depth(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.call_db(incoming::queue_depth).await
    }

    // --- reports ------------------------------------------------------------

    /// The delivery report of everything queued or received since `since`,
    /// grouped `by` modem, day or campaign.
    pub async fn report(
        &self,
        since: DateTime<Utc>,
        by: ReportBy,
        now: DateTime<Utc>,
    ) -> Result<Report, StoreError> {
        self.read(move |c| report::report(c, since, by, now)).await
    }

    /// The same report from the message rows alone, without the summary
    /// (migration 12): for tests and `benches/report.rs`, which compare
    /// the two.
    #[doc(hidden)]
    pub async fn report_from_rows(
        &self,
        since: DateTime<Utc>,
        by: ReportBy,
        now: DateTime<Utc>,
    ) -> Result<Report, StoreError> {
        self.read(move |c| report::report_from_rows(c, since, by, now))
            .await
    }

    /// Runs a long read-only `f` on the reader connection, in one read
    /// transaction (one snapshot), on tokio's blocking pool; on the store
    /// thread when there is no reader (an in-memory store, PostgreSQL until
    /// it has a reader pool: docs/cluster.md).
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Db) -> Result<T, StoreError> + Send + 'static,
    {
        let Some(reader) = self.reader.clone() else {
            return self.call_db(f).await;
        };
        tokio::task::spawn_blocking(move || {
            let mut conn = reader.lock().unwrap_or_else(|e| e.into_inner());
            let tx = conn
                .transaction()
                .map_err(StoreError::sql("begin a read"))?;
            let out = f(&*tx);
            // A read changes nothing: ending it either way is the same.
            let _ = tx.rollback();
            out
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    /// Counts per bucket of `step_ms` from `start` to `until`: parts sent
    /// per SIM, messages queued, sent with a report and delivered, messages
    /// received (index ranges only).
    pub async fn series(
        &self,
        start: DateTime<Utc>,
        until: DateTime<Utc>,
        step_ms: i64,
    ) -> Result<Series, StoreError> {
        self.call_db(move |c| series::series(c, start, until, step_ms))
            .await
    }

    /// Received messages with an id below `before` (all when `None`),
    /// newest first.
    pub async fn inbox_before(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, StoreError> {
        self.call_db(move |c| incoming::inbox_before(c, before, limit))
            .await
    }

    // --- the event log ------------------------------------------------------

    /// Events after `after`, oldest first, at most `limit`, of the `kinds`
    /// given (every kind when empty).
    pub async fn events_after(
        &self,
        after: i64,
        limit: usize,
        kinds: Vec<String>,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = self
            .call_db(move |c| events::after_raw(c, after, limit, &kinds, None))
            .await?;
        events::decode_all(rows)
    }

    /// [`Store::events_after`], only the events host `node` appended (see
    /// [`Store::open_postgres_as`]).
    pub async fn events_of(
        &self,
        node: &str,
        after: i64,
        limit: usize,
        kinds: Vec<String>,
    ) -> Result<Vec<Event>, StoreError> {
        let node = node.to_string();
        let rows = self
            .call_db(move |c| events::after_raw(c, after, limit, &kinds, Some(&node)))
            .await?;
        events::decode_all(rows)
    }

    /// Appends an event that no other store change carries (modem up/down).
    pub async fn append_event(
        &self,
        data: EventData,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.call_db(move |c| events::append(c, now, &data)).await
    }

    /// A consumer's durable position; a new consumer starts at the end.
    pub async fn cursor(&self, name: &str, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let name = name.to_string();
        self.call_db(move |c| events::cursor(c, &name, now)).await
    }

    /// Moves a consumer's position forward.
    pub async fn set_cursor(
        &self,
        name: &str,
        position: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let name = name.to_string();
        self.call_db(move |c| events::set_cursor(c, &name, position, now))
            .await
    }

    /// Takes or renews consumer `name`'s lease for `node` (`lease` from
    /// now by the database's clock); true when `node` holds it. PostgreSQL
    /// only: on SQLite one host serves every consumer, and this answers
    /// true without writing.
    pub async fn consumer_lease(
        &self,
        name: &str,
        node: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        if !self.is_shared() {
            return Ok(true);
        }
        let (name, node) = (name.to_string(), node.to_string());
        let ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        self.call_db(move |c| events::lease_take(c, &name, &node, ms))
            .await
    }

    /// Gives up `node`'s lease of consumer `name` (nothing on SQLite).
    pub async fn consumer_lease_release(&self, name: &str, node: &str) -> Result<(), StoreError> {
        if !self.is_shared() {
            return Ok(());
        }
        let (name, node) = (name.to_string(), node.to_string());
        self.call_db(move |c| events::lease_release(c, &name, &node))
            .await
    }

    /// Every consumer lease: which host serves each hook and webhook
    /// consumer, until when. Empty on SQLite.
    pub async fn consumer_leases(&self) -> Result<Vec<LeaseView>, StoreError> {
        self.call_db(events::leases).await
    }

    /// Every consumer and its position.
    pub async fn cursors(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.call_db(events::cursors).await
    }

    /// Deletes what is older than `cutoff` (finished messages, received
    /// messages, reports, events), in steps that each hold the store only
    /// briefly, then hands free pages back to the file system.
    pub async fn prune(&self, cutoff: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let mut total = Pruned::default();
        loop {
            let p = self.call_db(move |c| events::prune_step(c, cutoff)).await?;
            total.messages += p.messages;
            total.inbox += p.inbox;
            total.received_pdus += p.received_pdus;
            total.reports += p.reports;
            total.events += p.events;
            total.webhook_deliveries += p.webhook_deliveries;
            if !p.more {
                break;
            }
        }
        // Up to 4 MiB of free pages a step (4 KiB pages), until none is
        // left (or the file does not use incremental vacuum).
        let mut before = i64::MAX;
        loop {
            let free: i64 = self
                .call_db(|c| {
                    events::vacuum_step(c, 1024)?;
                    match c.dialect() {
                        // PostgreSQL's autovacuum returns the space.
                        Dialect::Postgres => Ok(0),
                        Dialect::Sqlite => c
                            .query_one("PRAGMA freelist_count", sql::args![], |r| r.get(0))
                            .map_err(StoreError::sql("freelist")),
                    }
                })
                .await?;
            if free == 0 || free >= before {
                break;
            }
            before = free;
        }
        Ok(total)
    }

    // --- webhooks -----------------------------------------------------------

    /// Every webhook endpoint.
    pub async fn webhooks(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.call_db(webhooks::list).await
    }

    /// One webhook endpoint.
    pub async fn webhook(&self, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        let id = id.to_string();
        self.call_db(move |c| webhooks::get(c, &id)).await
    }

    /// Creates an API endpoint with its cursor at the end of the log.
    pub async fn webhook_create(
        &self,
        w: NewWebhook,
        now: DateTime<Utc>,
    ) -> Result<WebhookEndpoint, StoreError> {
        self.call_db(move |c| webhooks::create(c, &w, now)).await
    }

    /// Deletes an endpoint, its cursor and its records; false when absent.
    pub async fn webhook_delete(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.call_db(move |c| webhooks::delete(c, &id)).await
    }

    /// Makes the configured endpoints exactly `wanted`; answers every
    /// endpoint after the change.
    pub async fn webhook_sync(
        &self,
        wanted: Vec<NewWebhook>,
        now: DateTime<Utc>,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.call_db(move |c| webhooks::sync_config(c, &wanted, now))
            .await
    }

    /// Disables an endpoint (it answered 410 Gone).
    pub async fn webhook_disable(
        &self,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (id, reason) = (id.to_string(), reason.to_string());
        self.call_db(move |c| webhooks::disable(c, &id, &reason, now))
            .await
    }

    /// Sets an endpoint's cursor to `position` (also backwards) and enables it.
    pub async fn webhook_rewind(
        &self,
        id: &str,
        position: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let id = id.to_string();
        self.call_db(move |c| webhooks::rewind(c, &id, position, now))
            .await
    }

    /// Records one delivery attempt.
    pub async fn webhook_record(&self, d: WebhookDelivery) -> Result<(), StoreError> {
        self.call_db(move |c| webhooks::record(c, &d)).await
    }

    /// An endpoint's latest attempts, newest first.
    pub async fn webhook_deliveries(
        &self,
        id: &str,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let id = id.to_string();
        self.call_db(move |c| webhooks::deliveries(c, &id, limit))
            .await
    }

    /// A webhook setting made through the API.
    pub async fn webhook_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let name = name.to_string();
        self.call_db(move |c| webhooks::setting(c, &name)).await
    }

    /// Sets (or clears) a webhook setting.
    pub async fn set_webhook_setting(
        &self,
        name: &str,
        value: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let name = name.to_string();
        self.call_db(move |c| webhooks::set_setting(c, &name, value.as_deref(), now))
            .await
    }

    /// Events after `after` whose last attempt to endpoint `id` failed.
    pub async fn webhook_retry_state(
        &self,
        id: &str,
        after: i64,
    ) -> Result<Vec<RetryState>, StoreError> {
        let id = id.to_string();
        self.call_db(move |c| webhooks::retry_state(c, &id, after))
            .await
    }

    // --- incoming -----------------------------------------------------------

    /// Stores a received PDU (once), reassembling concatenated messages.
    pub async fn record_received(
        &self,
        r: ReceivedPdu,
        now: DateTime<Utc>,
    ) -> Result<ReceivedOutcome, StoreError> {
        Ok(self.record_received_optout(r, None, now).await?.0)
    }

    /// [`Store::record_received`], and when the PDU is new and completes a
    /// message, `optout` (an opt-out or re-subscribe keyword the caller
    /// recognised in it) applied in the same transaction: the message and
    /// its opt-out are durable together, and a PDU offered again after a
    /// crash finds both done.
    pub async fn record_received_optout(
        &self,
        r: ReceivedPdu,
        optout: Option<OptoutAction>,
        now: DateTime<Utc>,
    ) -> Result<(ReceivedOutcome, Option<OptoutChange>), StoreError> {
        self.call_db(move |c| {
            let out = incoming::record_received(c, &r, now)?;
            let mut change = None;
            if let Some(m) = &out.complete {
                events::append(c, now, &EventData::Received(m.clone()))?;
                change = match &optout {
                    Some(OptoutAction::Out { number, keyword }) => {
                        Some(optout::add(c, number, "sms", Some(keyword), now)?)
                    }
                    Some(OptoutAction::In { number, keyword }) => {
                        Some(optout::remove(c, number, "sms", Some(keyword), now)?)
                    }
                    None => None,
                };
            }
            Ok((out, change))
        })
        .await
    }

    /// Turns sets with no new part since `older_than` into incomplete messages.
    pub async fn flush_incomplete(
        &self,
        older_than: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<InboxMessage>, StoreError> {
        self.call_db(move |c| {
            let out = incoming::flush_incomplete(c, older_than, now)?;
            for m in &out {
                events::append(c, now, &EventData::Received(m.clone()))?;
            }
            Ok(out)
        })
        .await
    }

    /// Stores a status report (once) and applies it to its part.
    pub async fn record_report(
        &self,
        r: ReportIn,
        now: DateTime<Utc>,
    ) -> Result<ReportOutcome, StoreError> {
        self.call_db(move |c| incoming::record_report(c, &r, now))
            .await
    }

    /// Received messages after `since`, oldest first.
    pub async fn inbox(
        &self,
        since: Option<i64>,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, StoreError> {
        self.call_db(move |c| incoming::inbox(c, since, limit))
            .await
    }

    /// Counters of every SIM seen, by SIM key.
    pub async fn sim_counters(&self) -> Result<Vec<SimCounters>, StoreError> {
        self.call_db(incoming::sim_counters).await
    }

    // --- the hosts of a cluster (cluster.rs) ---------------------------------

    /// This host starts (its `node` row, fresh).
    pub async fn node_register(&self, node: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let node = node.to_string();
        self.call_db(move |c| {
            cluster::register(c, &node, env!("CARGO_PKG_VERSION"), std::process::id(), now)
        })
        .await
    }

    /// This host is alive: its heartbeat, and its claims renewed for
    /// `lease`. Returns the claims renewed.
    pub async fn node_heartbeat(
        &self,
        node: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let node = node.to_string();
        let until = now + chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::MAX);
        self.call_db(move |c| {
            cluster::heartbeat(
                c,
                &node,
                env!("CARGO_PKG_VERSION"),
                std::process::id(),
                now,
                until,
            )
        })
        .await
    }

    /// This host stops cleanly: its unsent claims go back at once.
    pub async fn node_stopped(&self, node: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let node = node.to_string();
        self.call_db(move |c| cluster::stopped(c, &node, now)).await
    }

    /// Records one modem of this host as it is now.
    pub async fn node_modem(
        &self,
        node: &str,
        modem: NodeModem,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let node = node.to_string();
        self.call_db(move |c| cluster::set_modem(c, &node, &modem, now))
            .await
    }

    /// Forgets this host's modems not in `keep` (removed by a reload).
    pub async fn node_keep_modems(&self, node: &str, keep: Vec<String>) -> Result<(), StoreError> {
        let node = node.to_string();
        self.call_db(move |c| cluster::keep_modems(c, &node, &keep))
            .await
    }

    /// Every host of the cluster with its modems (none on SQLite). A host
    /// silent for `lease` is `late`.
    pub async fn nodes(
        &self,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<NodeView>, StoreError> {
        self.call_db(move |c| cluster::nodes(c, now, lease)).await
    }

    /// At the start of a host of a cluster: the parts it left `sending`
    /// become `uncertain` (the other hosts' are theirs), then are resent or
    /// their messages failed by policy, as [`Store::recover_on_start`] does
    /// on one host.
    pub async fn recover_node_on_start(
        &self,
        node: &str,
        resend_uncertain: bool,
        now: DateTime<Utc>,
    ) -> Result<Recovered, StoreError> {
        let node = node.to_string();
        self.call_db(move |c| {
            let parts = cluster::mark_uncertain(c, &node)?;
            cluster::settle_uncertain(c, &parts, resend_uncertain, now)
        })
        .await
    }

    /// A dispatcher pass of a host of a cluster on PostgreSQL, in one
    /// request: the parts in flight on hosts whose lease lapsed become
    /// uncertain (and are settled by `resend_uncertain`), messages orphaned
    /// on a SIM away for `orphan_after` start again whole, then this host
    /// claims up to `limit` messages it can send (`FOR UPDATE SKIP LOCKED`)
    /// for `lease`, and gets the ones it holds, as [`Store::ready_except`]
    /// does (up to `limit` plus those in `scope.skip`, which it holds
    /// already and does not claim again: its messages in flight). On
    /// SQLite, exactly [`Store::ready_except`].
    #[allow(clippy::too_many_arguments)]
    pub async fn claim_ready(
        &self,
        scope: ClaimScope,
        lease: Duration,
        orphan_after: Duration,
        resend_uncertain: bool,
        now: DateTime<Utc>,
        limit: usize,
        held: Vec<i64>,
    ) -> Result<ReadyBatch, StoreError> {
        let sealed = self.sealed.clone();
        let until = now + chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::MAX);
        self.call_db(move |c| {
            if c.dialect() == Dialect::Sqlite {
                let mut batch = outgoing::ready(c, now, limit, &held)?;
                sealed.unseal(c, &mut batch, now)?;
                return Ok(batch);
            }
            let lapsed = cluster::reap_lapsed(c, now)?;
            cluster::settle_uncertain(c, &lapsed, resend_uncertain, now)?;
            for (id, sim) in cluster::orphans(c, now, orphan_after)? {
                cluster::restart_whole(c, id, &sim, orphan_after, now)?;
            }
            let claimed = cluster::claim(c, &scope, now, until, limit)?;
            // The held messages in `scope.skip` (in flight) come back too.
            let read = limit.saturating_add(scope.skip.len());
            let mut batch = outgoing::ready_claimed(c, now, read, &held, Some(&scope.node))?;
            batch.claimed = claimed;
            sealed.unseal(c, &mut batch, now)?;
            Ok(batch)
        })
        .await
    }

    /// Gives back this host's claims on the messages it is not sending
    /// (`keep`: those in flight). Nothing on SQLite.
    pub async fn release_claims(&self, node: &str, keep: Vec<i64>) -> Result<u64, StoreError> {
        let node = node.to_string();
        self.call_db(move |c| cluster::release(c, &node, &keep))
            .await
    }

    /// Records a modem/SIM identity.
    pub async fn upsert_modem(
        &self,
        seen: ModemSeen,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.call_db(move |c| incoming::upsert_modem(c, &seen, now))
            .await
    }
}

thread_local! {
    /// The database file of the store thread (for telling a read-only file
    /// system from another I/O error).
    static DB_PATH: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
}

/// Whether the store thread's database lives on a file system that refuses
/// writes as read-only now. SQLite reports the kernel's EROFS on a write as a
/// plain I/O error, and a file system the kernel forced read-only after disk
/// errors may not even show as such in the mount flags, so this asks the
/// file system itself: it creates (and removes) a probe file next to the
/// database. Only called after an I/O error.
fn read_only_fs() -> bool {
    DB_PATH.with(|p| {
        let Some(dir) = p
            .borrow()
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
        else {
            return false;
        };
        let probe = dir.join(".smsgate-write-check");
        match std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&probe)
        {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
                false
            }
            Err(e) => e.raw_os_error() == Some(nix::errno::Errno::EROFS as i32),
        }
    })
}

/// The store thread: group commit until `Close` or until every handle is gone.
/// The read-only connection for long reads: the same file, WAL, a larger
/// page cache and (on 64-bit systems) memory-mapped reads.
fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    use rusqlite::OpenFlags;
    let open_err = |e: rusqlite::Error| StoreError::Open {
        path: path.to_path_buf(),
        message: format!("the read-only connection: {e}"),
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(open_err)?;
    // 32 MiB of page cache; 256 MiB mapped where address space is plenty.
    conn.execute_batch("PRAGMA cache_size = -32768")
        .map_err(open_err)?;
    #[cfg(target_pointer_width = "64")]
    conn.execute_batch("PRAGMA mmap_size = 268435456")
        .map_err(open_err)?;
    Ok(conn)
}

/// Why [`run`] returned.
enum Ended {
    /// Closed, or every handle is gone.
    Closed,
    /// The connection to the server is lost (PostgreSQL): reconnect. The
    /// text is the last error seen.
    Lost(String),
}

fn run<C: Db>(
    conn: C,
    rx: &mpsc::Receiver<Request>,
    commits: Arc<AtomicU64>,
    last_event: Arc<tokio::sync::watch::Sender<i64>>,
) -> Ended {
    let mut closing: Option<oneshot::Sender<()>> = None;
    // A job to run alone that ended the previous batch.
    let mut held: Option<Job> = None;
    // New messages the previous transaction carried.
    let mut expect = 0;
    while closing.is_none() {
        let mut gather = if let Some(job) = held.take() {
            Gather::alone(job)
        } else {
            // Requests already waiting came during the last commit: their
            // clients are not among those it answered.
            let (first, carried) = match rx.try_recv() {
                Ok(r) => (Some(r), true),
                Err(mpsc::TryRecvError::Empty) => (rx.recv().ok(), false),
                Err(mpsc::TryRecvError::Disconnected) => (None, false),
            };
            match first {
                Some(Request::Alone(job)) => Gather::alone(job),
                Some(Request::Close(ack)) => {
                    closing = Some(ack);
                    break;
                }
                Some(Request::Job(job)) => Gather::new(rx, job, 0, expect, carried),
                Some(Request::Intake(job)) => Gather::new(rx, job, 1, expect, carried),
                None => break,
            }
        };
        events::take_appended();
        let committed = run_batch(&conn, &mut gather, &commits);
        expect = gather.intake;
        held = gather.held.take();
        closing = gather.closing.take();
        if let Some(id) = committed.filter(|&id| id > 0) {
            // Tell followers only after the commit, so they never read an
            // event that could still roll back. The batch's largest id is
            // the newest committed one: on PostgreSQL no smaller id can
            // commit later (the event lock). Forward only: on PostgreSQL
            // the listener reports too.
            listen::forward(&last_event, id);
        }
        if let Some(reason) = conn.lost() {
            // The batch was answered (with the error, unless it committed);
            // a job held for after it is refused the same way.
            if let Some(job) = held.take() {
                refuse(job, &reason);
            }
            if let Some(ack) = closing {
                let _ = ack.send(());
                return Ended::Closed;
            }
            return Ended::Lost(reason);
        }
    }
    if conn.dialect() == Dialect::Sqlite {
        let _ = conn.batch("PRAGMA optimize");
    }
    drop(conn);
    if let Some(ack) = closing {
        let _ = ack.send(());
    }
    Ended::Closed
}

/// Answers a job with [`StoreError::Unavailable`] without running it.
fn refuse(job: Job, reason: &str) {
    let (_, reply) = job(Err(StoreError::Unavailable(format!(
        "waiting for the PostgreSQL server: {reason}"
    ))));
    reply(None);
}

/// The store thread on PostgreSQL: [`run`] until the connection is lost,
/// then reconnect with back-off (refusing every request meanwhile with
/// [`StoreError::Unavailable`], saying so in `health`), and carry on.
fn run_postgres(
    url: &str,
    mut conn: sql::PgConn,
    rx: mpsc::Receiver<Request>,
    commits: Arc<AtomicU64>,
    last_event: Arc<tokio::sync::watch::Sender<i64>>,
    health: Arc<tokio::sync::watch::Sender<StoreHealth>>,
) {
    loop {
        let reason = match run(conn, &rx, Arc::clone(&commits), Arc::clone(&last_event)) {
            Ended::Closed => return,
            Ended::Lost(reason) => reason,
        };
        health.send_modify(|h| {
            h.state = "waiting";
            h.since = Some(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            h.error = Some(reason.clone());
        });
        let mut pause = RECONNECT_FIRST;
        conn = loop {
            let attempt = sql::PgConn::connect(url)
                .map_err(|e| e.to_string())
                .and_then(|c| {
                    let last = events::last_id(&c).map_err(|e| e.to_string())?;
                    Ok((c, last))
                });
            let reason = match attempt {
                Ok((c, last)) => {
                    last_event.send_if_modified(|id| {
                        let newer = last > *id;
                        *id = (*id).max(last);
                        newer
                    });
                    break c;
                }
                Err(e) => {
                    health.send_modify(|h| h.error = Some(e.clone()));
                    e
                }
            };
            // Answer what comes while waiting; a close ends the thread.
            let until = Instant::now() + pause;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match rx.recv_timeout(left) {
                    Ok(Request::Job(job) | Request::Intake(job) | Request::Alone(job)) => {
                        refuse(job, &reason)
                    }
                    Ok(Request::Close(ack)) => {
                        let _ = ack.send(());
                        return;
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => break,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
            pause = (pause * 2).min(RECONNECT_MAX);
        };
        health.send_modify(|h| {
            h.state = "up";
            h.since = None;
            h.error = None;
            h.reconnects += 1;
        });
    }
}

/// The requests of one transaction: whatever is waiting when it begins (up
/// to [`MAX_BATCH`]); then, while it holds fewer new messages than there are
/// clients likely to send one (those the previous transaction answered,
/// plus those whose requests were already waiting), what comes within
/// [`GATHER_GAP`], up to [`GATHER_MAX`] after it began. A request to run
/// alone, or the close, ends it and is kept for after its commit.
struct Gather<'a> {
    rx: Option<&'a mpsc::Receiver<Request>>,
    /// Taken from the queue, not yet run.
    ready: std::collections::VecDeque<Job>,
    taken: usize,
    /// New messages taken ([`Request::Intake`]).
    intake: usize,
    /// How many new messages to wait for.
    target: usize,
    deadline: Instant,
    held: Option<Job>,
    closing: Option<oneshot::Sender<()>>,
}

impl<'a> Gather<'a> {
    /// A transaction that begins with `first` (`intake`: 1 if it is a new
    /// message). `expect`: the new messages the previous transaction
    /// carried; `carried`: whether requests were already waiting when it
    /// ended (they came during its commit, from clients it did not answer).
    fn new(
        rx: &'a mpsc::Receiver<Request>,
        first: Job,
        intake: usize,
        expect: usize,
        carried: bool,
    ) -> Gather<'a> {
        let mut g = Gather {
            rx: Some(rx),
            ready: std::collections::VecDeque::from([first]),
            taken: 1,
            intake,
            target: 0,
            deadline: Instant::now() + GATHER_MAX,
            held: None,
            closing: None,
        };
        while g.taken < MAX_BATCH {
            let Ok(req) = rx.try_recv() else { break };
            match g.admit(req) {
                Some(job) => g.ready.push_back(job),
                None => break,
            }
        }
        g.target = if carried { g.intake + expect } else { expect };
        g
    }

    fn alone(job: Job) -> Gather<'a> {
        Gather {
            rx: None,
            ready: std::collections::VecDeque::from([job]),
            taken: 1,
            intake: 0,
            target: 0,
            deadline: Instant::now(),
            held: None,
            closing: None,
        }
    }

    /// Counts a request in; `None` when it ends the transaction.
    fn admit(&mut self, req: Request) -> Option<Job> {
        let job = match req {
            Request::Job(job) => job,
            Request::Intake(job) => {
                self.intake += 1;
                job
            }
            Request::Alone(job) => {
                self.held = Some(job);
                self.rx = None;
                return None;
            }
            Request::Close(ack) => {
                self.closing = Some(ack);
                self.rx = None;
                return None;
            }
        };
        self.taken += 1;
        Some(job)
    }
}

impl Gather<'_> {
    /// Whether another request follows in this transaction: waits for it
    /// as [`Iterator::next`] would, and keeps it for `next`.
    fn more(&mut self) -> bool {
        if self.ready.is_empty() {
            match self.take() {
                Some(job) => self.ready.push_back(job),
                None => self.rx = None,
            }
        }
        !self.ready.is_empty()
    }

    /// The next request from the channel, within the gathering rules.
    fn take(&mut self) -> Option<Job> {
        let rx = self.rx?;
        let left = self.deadline.saturating_duration_since(Instant::now());
        if self.intake >= self.target || self.taken >= MAX_BATCH || left.is_zero() {
            return None;
        }
        match rx.recv_timeout(left.min(GATHER_GAP)) {
            Ok(req) => self.admit(req),
            Err(_) => {
                self.rx = None;
                None
            }
        }
    }
}

impl Iterator for Gather<'_> {
    type Item = Job;

    fn next(&mut self) -> Option<Job> {
        if let Some(job) = self.ready.pop_front() {
            return Some(job);
        }
        self.take()
    }
}

/// How a PostgreSQL batch begins, in one round trip: the transaction, the
/// event lock ([`events::EVENT_LOCK_SQL`]) and the first request's
/// savepoint.
static PG_BEGIN: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("BEGIN; {}; SAVEPOINT request", events::EVENT_LOCK_SQL));

/// Runs one transaction-control statement (`BEGIN`, `SAVEPOINT`, ...). On
/// SQLite it is prepared once and kept: these run several times per request.
fn control(conn: &dyn Db, sql: &str) -> Result<(), sql::DbError> {
    match conn.sqlite() {
        Some(c) => Ok(c.prepare_cached(sql)?.execute([]).map(|_| ())?),
        None => conn.batch(sql),
    }
}

/// One transaction for all `jobs`, each in its own savepoint. When it
/// committed: the largest event id its requests appended (0: none).
fn run_batch(conn: &dyn Db, jobs: &mut Gather<'_>, commits: &AtomicU64) -> Option<i64> {
    let mut done: Vec<Reply> = Vec::new();
    // The largest event id of the requests kept (not rolled back).
    let mut appended;
    // How the transaction ends: on PostgreSQL, with the last request's
    // savepoint, in one round trip (a release that fails, in a transaction
    // a statement aborted, fails the commit: nothing is answered as done).
    let mut tail: &str;
    'transaction: loop {
        tail = "COMMIT";
        appended = 0;
        // A read-only database refuses a write lock; a deferred transaction
        // still serves reads, and writes then fail one request at a time.
        // PostgreSQL: the event lock first, before any row lock (see
        // `events::EVENT_LOCK`), so waiting for it can never close a
        // deadlock with another host's transaction; with the first
        // request's savepoint, in one round trip.
        let begun = match conn.dialect() {
            Dialect::Postgres => conn.batch(&PG_BEGIN),
            Dialect::Sqlite => {
                control(conn, conn.dialect().begin()).or_else(|_| control(conn, "BEGIN"))
            }
        };
        // Whether the next request's savepoint is already open (PostgreSQL:
        // opened with `BEGIN`, or with the previous request's release).
        let mut opened = begun.is_ok() && conn.dialect() == Dialect::Postgres;
        if let Err(e) = begun {
            let err = StoreError::from_db("begin", e);
            for reply in done.drain(..) {
                reply(Some(&err));
            }
            for job in jobs.by_ref() {
                let (_, reply) = job(Err(err.clone()));
                reply(None);
            }
            return None;
        }
        while let Some(job) = jobs.next() {
            if !std::mem::take(&mut opened) {
                if let Err(e) = control(conn, "SAVEPOINT request") {
                    // Cannot isolate this request: answer it with the error.
                    let (_, reply) = job(Err(StoreError::from_db("savepoint", e)));
                    reply(None);
                    continue;
                }
            }
            events::take_appended();
            let (ok, reply) = job(Ok(conn));
            let theirs = events::take_appended();
            if ok {
                appended = appended.max(theirs);
            }
            if !conn.in_transaction() {
                // SQLite rolled the whole transaction back (full disk, I/O):
                // everything done so far in this batch is gone.
                let err = StoreError::Unavailable(
                    "the transaction was rolled back by SQLite (disk full or I/O error)".into(),
                );
                for r in done.drain(..) {
                    r(Some(&err));
                }
                reply(Some(&err));
                continue 'transaction;
            }
            // PostgreSQL: one round trip ends this request's savepoint and
            // opens the next one's; after the last request, `COMMIT` alone
            // (it releases the savepoint with the transaction).
            let pg = conn.dialect() == Dialect::Postgres;
            let more = pg && jobs.more();
            let ended = match (ok, pg, more) {
                (true, true, false) => {
                    tail = "RELEASE request; COMMIT";
                    Ok(())
                }
                (false, true, false) => {
                    tail = "ROLLBACK TO request; RELEASE request; COMMIT";
                    Ok(())
                }
                (true, true, true) => {
                    opened = true;
                    conn.batch("RELEASE request; SAVEPOINT request")
                }
                (false, true, true) => {
                    opened = true;
                    conn.batch("ROLLBACK TO request; RELEASE request; SAVEPOINT request")
                }
                (true, false, _) => control(conn, "RELEASE request"),
                (false, false, _) => control(conn, "ROLLBACK TO request")
                    .and_then(|()| control(conn, "RELEASE request")),
            };
            if let Err(e) = ended {
                let err = StoreError::from_db("savepoint end", e);
                for r in done.drain(..) {
                    r(Some(&err));
                }
                reply(Some(&err));
                let _ = control(conn, "ROLLBACK");
                continue 'transaction;
            }
            done.push(reply);
        }
        break;
    }
    let committed = match conn.dialect() {
        Dialect::Postgres => conn.batch(tail),
        Dialect::Sqlite => control(conn, "COMMIT"),
    };
    match committed {
        Ok(()) => {
            commits.fetch_add(1, Ordering::Relaxed);
            for reply in done {
                reply(None);
            }
            Some(appended)
        }
        Err(e) => {
            let err = StoreError::from_db("commit", e);
            if conn.in_transaction() {
                let _ = control(conn, "ROLLBACK");
            }
            for reply in done {
                reply(Some(&err));
            }
            None
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by the query files.

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

/// The SQLite connection under `db`, for the queries not yet written for
/// both engines.
fn sqlite_only(db: &dyn Db) -> Result<&Connection, StoreError> {
    db.sqlite().ok_or(StoreError::Unsupported(
        "this operation does not run on PostgreSQL yet (see docs/cluster.md)",
    ))
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(field: &'static str, v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(v).ok_or(StoreError::Corrupt {
        field,
        value: v.to_string(),
    })
}

pub(crate) fn rfc3339_ms(field: &'static str, v: i64) -> Result<String, StoreError> {
    Ok(from_ms(field, v)?.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

pub(crate) use crate::codec::address::{digits, same_number};

#[cfg(test)]
mod tests;
