//! The gateway's webhook calls: create, list, delete, deliveries and
//! replay of webhook endpoints, for every face (the control socket today,
//! the HTTP API and its compatible flavour next). Validation lives here
//! (URL, event types, secret); the endpoints, cursors and records are the
//! store's and the consumers the webhook engine's (`crate::webhooks`).

use chrono::Utc;
use serde::Serialize;

use super::{Gateway, GatewayError};
use crate::config::{check_webhook_events, check_webhook_url, webhook_secret_key, Flavour};
use crate::store::{webhook_consumer, NewWebhook, WebhookDelivery, WebhookEndpoint};
use crate::webhooks::sign;

/// What `webhook_create` takes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookRequest {
    /// The client's id for it (the compatible API lets clients name their
    /// webhooks); `wh_` and random hex when absent. Registering an id
    /// again replaces that endpoint.
    pub id: Option<String>,
    pub url: String,
    /// Event types (every type when empty); one `sms:*` for `android`.
    pub events: Vec<String>,
    /// `whsec_…`; generated when absent.
    pub secret: Option<String>,
    /// `native` (default) or `android`.
    pub flavour: Option<String>,
}

/// An endpoint as the faces show it (the secret only at creation); the
/// HTTP API's schema too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub flavour: String,
    /// `config` or `api`.
    pub source: String,
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: String,
    /// Events in the log after the endpoint's cursor (of any type: an
    /// upper bound of its backlog).
    pub pending: i64,
    /// The cursor: the last event it is done with.
    pub position: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

impl Gateway {
    fn webhook_view(&self, w: WebhookEndpoint, position: i64) -> WebhookView {
        let last = self.store.last_event_id();
        WebhookView {
            id: w.id,
            url: w.url,
            events: w.events,
            flavour: w.flavour,
            source: w.source,
            disabled: w.disabled_at.is_some(),
            disabled_at: w.disabled_at.map(rfc3339),
            disabled_reason: w.disabled_reason,
            created_at: rfc3339(w.created_at),
            pending: (last - position).max(0),
            position,
            secret: None,
        }
    }

    async fn webhook_found(&self, id: &str) -> Result<WebhookEndpoint, GatewayError> {
        self.store
            .webhook(id)
            .await?
            .ok_or_else(|| GatewayError::NotFound(format!("no webhook endpoint {id:?}")))
    }

    /// Registers an endpoint; it gets the events committed from now on.
    /// Answers it with its secret (shown this once).
    pub async fn webhook_create(&self, req: WebhookRequest) -> Result<WebhookView, GatewayError> {
        let url = req.url.trim().to_string();
        check_webhook_url(&url).map_err(|e| GatewayError::Invalid(format!("url: {e}")))?;
        let flavour = match req.flavour.as_deref() {
            None | Some("") => Flavour::Native,
            Some(f) => Flavour::from_name(f).ok_or_else(|| {
                GatewayError::Invalid(format!("flavour must be native or android, not {f:?}"))
            })?,
        };
        check_webhook_events(flavour, &req.events)
            .map_err(|e| GatewayError::Invalid(format!("events: {e}")))?;
        if let Some(s) = &req.secret {
            webhook_secret_key(s).map_err(|e| GatewayError::Invalid(format!("secret: {e}")))?;
        }
        let secret = match req.secret {
            Some(s) => s,
            None => sign::new_secret().map_err(GatewayError::Internal)?,
        };
        let id = match req.id.filter(|i| !i.is_empty()) {
            None => sign::new_id().map_err(GatewayError::Internal)?,
            Some(id) => {
                let ok = id.len() <= 64
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
                if !ok {
                    return Err(GatewayError::Invalid(
                        "id: letters, digits, '_', '-', '.' and ':', at most 64".into(),
                    ));
                }
                if let Some(old) = self.store.webhook(&id).await? {
                    if old.source == "config" {
                        return Err(GatewayError::Conflict(format!(
                            "webhook {id:?} comes from [[webhook]] in the configuration"
                        )));
                    }
                    self.webhooks.delete_endpoint(&id).await?;
                }
                id
            }
        };
        let created = self
            .store
            .webhook_create(
                NewWebhook {
                    id: id.clone(),
                    url,
                    events: req.events,
                    secret: Some(secret.clone()),
                    fallback_secret: secret.clone(),
                    flavour: flavour.as_str().to_string(),
                },
                Utc::now(),
            )
            .await?;
        let position = self
            .store
            .cursor(&webhook_consumer(&id), Utc::now())
            .await?;
        self.webhooks.refresh().await?;
        let mut view = self.webhook_view(created, position);
        view.secret = Some(secret);
        Ok(view)
    }

    /// Every endpoint with its backlog.
    pub async fn webhook_list(&self) -> Result<Vec<WebhookView>, GatewayError> {
        let endpoints = self.store.webhooks().await?;
        let cursors: std::collections::HashMap<String, i64> =
            self.store.cursors().await?.into_iter().collect();
        Ok(endpoints
            .into_iter()
            .map(|w| {
                let position = cursors
                    .get(&webhook_consumer(&w.id))
                    .copied()
                    .unwrap_or_default();
                self.webhook_view(w, position)
            })
            .collect())
    }

    /// Removes an API endpoint with its records. One from `[[webhook]]` is
    /// a conflict: it is removed from the configuration.
    pub async fn webhook_delete(&self, id: &str) -> Result<(), GatewayError> {
        let w = self.webhook_found(id).await?;
        if w.source == "config" {
            return Err(GatewayError::Conflict(format!(
                "webhook {id:?} comes from [[webhook]] in the configuration: remove it there and reload"
            )));
        }
        if !self.webhooks.delete_endpoint(id).await? {
            return Err(GatewayError::NotFound(format!(
                "no webhook endpoint {id:?}"
            )));
        }
        Ok(())
    }

    /// The endpoint's latest delivery attempts, newest first.
    pub async fn webhook_deliveries(
        &self,
        id: &str,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, GatewayError> {
        self.webhook_found(id).await?;
        Ok(self
            .store
            .webhook_deliveries(id, limit.clamp(1, 10_000))
            .await?)
    }

    /// The key that signs android-flavour deliveries (`X-Signature`): the
    /// one set with `set_compat_signing_key`, else `[compat] signing_key`.
    pub fn compat_signing_key(&self) -> Option<String> {
        self.webhooks.signing_key()
    }

    /// Sets the android-flavour signing key (`PATCH /3rdparty/v1/settings`
    /// with `{"webhooks": {"signing_key": …}}`); kept across restarts and
    /// winning over the configuration. `None` or empty clears it.
    pub async fn set_compat_signing_key(&self, key: Option<String>) -> Result<(), GatewayError> {
        let key = key.filter(|k| !k.is_empty());
        if key.as_ref().is_some_and(|k| k.len() > 256) {
            return Err(GatewayError::Invalid(
                "signing_key: at most 256 bytes".into(),
            ));
        }
        Ok(self.webhooks.set_signing_key(key).await?)
    }

    /// Delivers again every event after `since` (of the endpoint's types)
    /// and enables the endpoint if a 410 had disabled it.
    pub async fn webhook_replay(&self, id: &str, since: i64) -> Result<WebhookView, GatewayError> {
        self.webhook_found(id).await?;
        let last = self.store.last_event_id();
        if since < 0 || since > last {
            return Err(GatewayError::Invalid(format!(
                "since must be an event id from 0 to {last}, not {since}"
            )));
        }
        self.webhooks.replay(id, since).await?;
        let w = self.webhook_found(id).await?;
        Ok(self.webhook_view(w, since))
    }
}
