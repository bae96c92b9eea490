//! Campaigns in the core: [`Gateway::campaign_create`] validates the whole
//! campaign (template, every recipient's number and values, the window)
//! and commits it with all its messages in one transaction, or refuses it
//! with an error that names the row or field and creates nothing; list,
//! show, pause, resume and cancel. Every face (HTTP, socket, CLI) calls
//! these. No SQL (the store's), no wire format (the faces').

use chrono::Utc;
use tracing::info;

use super::intake::{self, IntakeError, Request};
use super::{Gateway, GatewayError};
use crate::campaign::{self, Recipient, Template, Window};
use crate::store::{CampaignAction, CampaignView, CampaignWindow, Category, NewCampaign, Priority};

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
    /// "http:<token>", "socket:uid=…".
    pub source: String,
}

fn invalid(m: impl Into<String>) -> GatewayError {
    GatewayError::Invalid(m.into())
}

impl Gateway {
    /// Validates and creates a campaign with every message; answers once it
    /// is durable. Returns the campaign.
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
        let recipients = match req.recipients {
            CampaignRecipients::List(list) => list
                .into_iter()
                .enumerate()
                .map(|(i, mut r)| {
                    r.row = format!("recipient {}", i + 1);
                    r
                })
                .collect(),
            CampaignRecipients::Csv(text) => {
                campaign::parse_csv(&text).map_err(|e| invalid(e.to_string()))?
            }
        };
        if recipients.is_empty() {
            return Err(invalid("recipients: none"));
        }
        if recipients.len() > MAX_CAMPAIGN_RECIPIENTS {
            return Err(invalid(format!(
                "recipients: {} is more than {MAX_CAMPAIGN_RECIPIENTS}",
                recipients.len()
            )));
        }
        let priority = req.priority.unwrap_or(Priority::Low);
        let report = req.report.unwrap_or(true);
        let now = Utc::now();
        let mut rows = Vec::with_capacity(recipients.len());
        for r in recipients {
            let text = template.fill(&r.vars).map_err(|var| {
                invalid(format!(
                    "{}: no value for {{{{{var}}}}} (the text uses it)",
                    r.row
                ))
            })?;
            let mut row = intake::prepare(
                self,
                Request {
                    to: r.to.clone(),
                    text,
                    report,
                    flash: req.flash,
                    priority: Some(priority),
                    // Campaigns are marketing: a number on the suppression
                    // list gets nothing (its message ends `skipped`).
                    category: Category::Marketing,
                    source: req.source.clone(),
                    ..Request::default()
                },
                now,
            )
            .map_err(|e| match e {
                IntakeError::Invalid(m) => invalid(format!("{}: {m}", r.row)),
                other => other.into(),
            })?;
            // A campaign waits for its window and its rate, not for a
            // deadline: its messages do not expire while queued.
            row.expires_at = None;
            rows.push(row);
        }
        let total = rows.len();
        let campaign = NewCampaign {
            name,
            text: req.text,
            priority,
            report,
            window: req.window,
            rate_per_min: req.rate_per_min,
        };
        let id = self.store.campaign_create(campaign, rows, now).await?;
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
