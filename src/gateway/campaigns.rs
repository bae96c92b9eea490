//! Campaigns in the core: [`Gateway::campaign_create`] validates the whole
//! campaign (template, every recipient's number and values, the window)
//! and commits it with all its messages in one transaction, or refuses it
//! with an error that names the row or field and creates nothing. The
//! recipients stream: a CSV is read row by row from the request's text and
//! handed to the store in chunks inside that one transaction, so memory
//! does not grow with the campaign (see `store::campaign`); list,
//! show, pause, resume and cancel. Every face (HTTP, socket, CLI) calls
//! these. No SQL (the store's), no wire format (the faces').

use chrono::Utc;
use tracing::info;

use super::intake::{self, IntakeError, Request};
use super::{Gateway, GatewayError};
use crate::campaign::{self, Recipient, Template, Window};
use crate::store::{
    self, CampaignAction, CampaignView, CampaignWindow, Category, NewCampaign, Priority,
};

/// The most recipients one campaign takes.
pub const MAX_CAMPAIGN_RECIPIENTS: usize = 200_000;

/// Where a campaign's recipients come from.
#[derive(Debug, Clone, PartialEq)]
pub enum CampaignRecipients {
    /// A list (each with its values).
    List(Vec<Recipient>),
    /// A CSV text: a header row, a `to` column, one column per variable.
    Csv(String),
}

impl CampaignRecipients {
    /// From a face's two optional fields, `recipients` (number and values)
    /// or `csv`: exactly one must be given.
    pub fn from_fields(
        list: Option<Vec<(String, std::collections::BTreeMap<String, String>)>>,
        csv: Option<String>,
    ) -> Result<Self, GatewayError> {
        match (list, csv) {
            (Some(list), None) => Ok(CampaignRecipients::List(
                list.into_iter()
                    .map(|(to, vars)| Recipient {
                        to,
                        vars,
                        row: String::new(),
                    })
                    .collect(),
            )),
            (None, Some(csv)) => Ok(CampaignRecipients::Csv(csv)),
            _ => Err(GatewayError::Invalid(
                "give either recipients or csv".into(),
            )),
        }
    }
}

/// A campaign as a user asked for it, before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRequest {
    pub name: String,
    pub text: String,
    pub recipients: CampaignRecipients,
    pub window: Option<CampaignWindow>,
    /// Default `low`.
    pub priority: Option<Priority>,
    /// Ask for status reports; default true.
    pub report: Option<bool>,
    /// Messages per minute at most.
    pub rate_per_min: Option<u32>,
    /// Class 0.
    pub flash: bool,
    /// `"http:<token>"`, `"socket:uid=…"`.
    pub source: String,
}

fn invalid(m: impl Into<String>) -> GatewayError {
    GatewayError::Invalid(m.into())
}

/// How many recipients are validated and handed to the store at a time.
pub const CAMPAIGN_CHUNK: usize = 1000;

/// Where a recipient is in the request, for errors: `row 3` (CSV: the
/// line) or `recipient 3` (a list; 1-based).
#[derive(Debug, Clone, Copy)]
enum At {
    Row(u64),
    Recipient(usize),
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Row(line) => write!(f, "row {line}"),
            At::Recipient(i) => write!(f, "recipient {i}"),
        }
    }
}

/// The recipients, read one at a time: a CSV is parsed row by row from the
/// request's own text, never into a list.
enum Rows {
    List(std::iter::Enumerate<std::vec::IntoIter<Recipient>>),
    Csv(campaign::CsvRows<std::io::Cursor<Vec<u8>>>),
}

impl Rows {
    /// Checks the CSV's header row.
    fn new(recipients: CampaignRecipients) -> Result<Rows, GatewayError> {
        Ok(match recipients {
            CampaignRecipients::List(list) if list.is_empty() => {
                return Err(invalid("recipients: none"))
            }
            CampaignRecipients::List(list) => Rows::List(list.into_iter().enumerate()),
            CampaignRecipients::Csv(text) => Rows::Csv(
                campaign::CsvRows::new(std::io::Cursor::new(text.into_bytes()))
                    .map_err(|e| invalid(e.to_string()))?,
            ),
        })
    }

    /// The next recipient's place, number and filled-in text.
    fn next(&mut self, template: &Template) -> Option<Result<(At, String, String), GatewayError>> {
        let missing = |at: At, var: String| {
            invalid(format!(
                "{at}: no value for {{{{{var}}}}} (the text uses it)"
            ))
        };
        match self {
            Rows::List(list) => {
                let (i, r) = list.next()?;
                let at = At::Recipient(i + 1);
                Some(
                    template
                        .fill(&r.vars)
                        .map(|text| (at, r.to, text))
                        .map_err(|var| missing(at, var)),
                )
            }
            Rows::Csv(csv) => Some(match csv.next_row()? {
                Err(e) => Err(invalid(e.to_string())),
                Ok(row) => {
                    let at = At::Row(row.line);
                    template
                        .fill_with(|name| row.var(name))
                        .map(|text| (at, row.to().to_string(), text))
                        .map_err(|var| missing(at, var))
                }
            }),
        }
    }
}

/// Why the producer of a campaign's rows stopped early.
enum Stop {
    /// A bad row (or none at all): the answer to the caller.
    Refused(GatewayError),
    /// The store gave the campaign up; its own error says why.
    StoreGone,
}

impl Gateway {
    /// Validates and creates a campaign with every message; answers once it
    /// is durable. Returns the campaign.
    ///
    /// The recipients are validated and stored in chunks of
    /// [`CAMPAIGN_CHUNK`] while the store holds the campaign's transaction
    /// open (`Store::campaign_create_streamed`): memory stays at a few
    /// chunks whatever the campaign's size, and a bad row anywhere rolls
    /// the whole campaign back and is named in the error. A caller that
    /// goes away before the answer (a client gone, `[http]
    /// request_timeout`) drops this future and with it the feed: nothing is
    /// created.
    pub async fn campaign_create(
        &self,
        req: CampaignRequest,
    ) -> Result<CampaignView, GatewayError> {
        let name = req.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(invalid("name: between 1 and 200 characters"));
        }
        let template = Template::parse(&req.text).map_err(|e| invalid(e.to_string()))?;
        if let Some(w) = &req.window {
            Window::parse(&w.start, &w.end, &w.tz).map_err(|e| invalid(e.to_string()))?;
        }
        if req.rate_per_min == Some(0) {
            return Err(invalid("rate: at least 1 message a minute"));
        }
        let mut rows = Rows::new(req.recipients)?;
        let priority = req.priority.unwrap_or(Priority::Low);
        let report = req.report.unwrap_or(true);
        let now = Utc::now();
        let campaign = NewCampaign {
            name,
            text: req.text,
            priority,
            report,
            window: req.window,
            rate_per_min: req.rate_per_min,
        };
        let (feed, fed) = store::campaign_feed();
        let stored = self.store.campaign_create_streamed(campaign, fed, now);
        let source = req.source;
        let flash = req.flash;
        let produced = async move {
            let mut chunk = Vec::with_capacity(CAMPAIGN_CHUNK);
            let mut count = 0usize;
            while let Some(next) = rows.next(&template) {
                let (at, to, text) = next.map_err(Stop::Refused)?;
                count += 1;
                if count > MAX_CAMPAIGN_RECIPIENTS {
                    return Err(Stop::Refused(invalid(format!(
                        "recipients: more than {MAX_CAMPAIGN_RECIPIENTS} ({at} is one too many)"
                    ))));
                }
                let mut row = intake::prepare(
                    self,
                    Request {
                        to,
                        text,
                        report,
                        flash,
                        priority: Some(priority),
                        // Campaigns are marketing: a number on the
                        // suppression list gets nothing (its message ends
                        // `skipped`).
                        category: Category::Marketing,
                        source: source.clone(),
                        ..Request::default()
                    },
                    now,
                )
                .map_err(|e| {
                    Stop::Refused(match e {
                        IntakeError::Invalid(m) => invalid(format!("{at}: {m}")),
                        other => other.into(),
                    })
                })?;
                // A campaign waits for its window and its rate, not for a
                // deadline: its messages do not expire while queued.
                row.expires_at = None;
                chunk.push(row);
                if chunk.len() == CAMPAIGN_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CAMPAIGN_CHUNK));
                    feed.send(full).await.map_err(|_| Stop::StoreGone)?;
                }
            }
            if count == 0 {
                return Err(Stop::Refused(invalid("recipients: none")));
            }
            if !chunk.is_empty() {
                feed.send(chunk).await.map_err(|_| Stop::StoreGone)?;
            }
            // Every early return above drops `feed`: the store rolls back.
            feed.finish().await.map_err(|_| Stop::StoreGone)
        };
        let (stored, produced) = tokio::join!(stored, produced);
        let (id, total) = match (produced, stored) {
            (Err(Stop::Refused(e)), _) => return Err(e),
            (_, Err(e)) => return Err(e.into()),
            (Err(Stop::StoreGone), Ok(_)) => {
                return Err(GatewayError::Internal(
                    "the store stopped taking the campaign's rows".into(),
                ))
            }
            (Ok(()), Ok(created)) => created,
        };
        info!(campaign = id, total, "campaign created");
        self.dispatch.work_added();
        self.campaign_show(id).await
    }

    /// One campaign with its counters.
    pub async fn campaign_show(&self, id: i64) -> Result<CampaignView, GatewayError> {
        self.store
            .campaign(id)
            .await?
            .ok_or_else(|| GatewayError::NotFound(format!("no campaign {id}")))
    }

    /// Campaigns, newest first.
    pub async fn campaign_list(&self, limit: usize) -> Result<Vec<CampaignView>, GatewayError> {
        Ok(self.store.campaigns(limit.clamp(1, 10_000)).await?)
    }

    /// Pause (no new part starts), resume, or cancel (what is still queued
    /// ends `cancelled`).
    pub async fn campaign_act(
        &self,
        id: i64,
        action: CampaignAction,
    ) -> Result<CampaignView, GatewayError> {
        let view = self.store.campaign_act(id, action, Utc::now()).await?;
        info!(campaign = id, ?action, state = %view.state, "campaign");
        self.dispatch.work_added();
        Ok(view)
    }
}
