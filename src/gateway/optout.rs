//! Opt-out: recognising the keywords of `[optout]` in a received text, the
//! numbers' normal form under `[optout] country`, and the suppression list
//! calls every face makes (`optout list|add|remove`). The list itself, and
//! the skipping of queued marketing messages, live in the store
//! (`store::optout`), which applies an opt-out in the same transaction as
//! the received message that asked for it (see `receive`).

use chrono::Utc;
use tracing::{info, warn};

use super::{Gateway, GatewayError, SendRequest};
use crate::codec::e164;
use crate::config::OptoutConfig;
use crate::store::{OptoutAction, OptoutChange, OptoutEntry};

/// Which list a keyword belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// An opt-out keyword (`STOP`).
    Out,
    /// A re-subscribe keyword (`START`).
    In,
}

/// The keyword `text` is, if it is one: the whole text, trimmed, in any
/// case (a sentence that merely contains "stop" is not an opt-out).
/// Returns the keyword as configured (upper case).
pub fn keyword(text: &str, cfg: &OptoutConfig) -> Option<(Keyword, String)> {
    let t = text.trim().to_uppercase();
    if t.is_empty() {
        return None;
    }
    if let Some(k) = cfg.keywords.iter().find(|k| **k == t) {
        return Some((Keyword::Out, k.clone()));
    }
    cfg.resubscribe
        .iter()
        .find(|k| **k == t)
        .map(|k| (Keyword::In, k.clone()))
}

/// The store action for a received message from `from` with `text`, when
/// the text is a keyword and the sender a phone number.
pub fn action(from: &str, text: &str, cfg: &OptoutConfig) -> Option<OptoutAction> {
    let (kind, keyword) = keyword(text, cfg)?;
    let number = match e164::normal_form(from, cfg.country) {
        Ok(n) => n,
        Err(e) => {
            warn!(%from, "opt-out keyword from a sender that is not a number ({e}); ignored");
            return None;
        }
    };
    Some(match kind {
        Keyword::Out => OptoutAction::Out { number, keyword },
        Keyword::In => OptoutAction::In { number, keyword },
    })
}

impl Gateway {
    /// `number` in the suppression list's normal form, or a clear error.
    pub fn optout_number(&self, number: &str) -> Result<String, GatewayError> {
        let cfg = self.config();
        e164::normal_form(number, cfg.optout.country)
            .map_err(|e| GatewayError::Invalid(format!("bad number {number:?}: {e}")))
    }

    /// Puts a number on the suppression list; its queued marketing messages
    /// end `skipped` in the same transaction.
    pub async fn optout_add(
        &self,
        number: &str,
        source: &str,
    ) -> Result<OptoutChange, GatewayError> {
        let n = self.optout_number(number)?;
        let change = self.store.optout_add(&n, source, None, Utc::now()).await?;
        info!(number = %n, %source, skipped = change.skipped.len(), "opted out");
        Ok(change)
    }

    /// Takes a number off the suppression list.
    pub async fn optout_remove(
        &self,
        number: &str,
        source: &str,
    ) -> Result<OptoutChange, GatewayError> {
        let n = self.optout_number(number)?;
        let change = self
            .store
            .optout_remove(&n, source, None, Utc::now())
            .await?;
        info!(number = %n, %source, "opted in");
        Ok(change)
    }

    /// The suppression list in number order, after `after` (a number).
    pub async fn optout_list(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<OptoutEntry>, GatewayError> {
        Ok(self
            .store
            .optout_list(after, limit.clamp(1, 10_000))
            .await?)
    }

    /// Whether a number is on the suppression list.
    pub async fn optout_contains(&self, number: &str) -> Result<bool, GatewayError> {
        let n = self.optout_number(number)?;
        Ok(self.store.optout_contains(&n).await?)
    }

    /// Sends `[optout] reply` / `resubscribe_reply` after a keyword, when
    /// set: a transactional message (it reaches a number that just opted
    /// out). Best effort: a failure is logged.
    pub(crate) async fn optout_reply(&self, to: &str, action: &OptoutAction) {
        let cfg = self.config();
        let text = match action {
            OptoutAction::Out { .. } => &cfg.optout.reply,
            OptoutAction::In { .. } => &cfg.optout.resubscribe_reply,
        };
        if text.is_empty() {
            return;
        }
        let req = SendRequest {
            to: to.to_string(),
            text: text.clone(),
            source: "optout:reply".into(),
            ..Default::default()
        };
        if let Err(e) = self.send(req).await {
            warn!(%to, "opt-out reply not queued: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn keywords_match_whole_trimmed_text_in_any_case() {
        let cfg = Config::default().optout;
        let table: &[(&str, Option<(Keyword, &str)>)] = &[
            ("STOP", Some((Keyword::Out, "STOP"))),
            ("stop", Some((Keyword::Out, "STOP"))),
            ("  Stop \n", Some((Keyword::Out, "STOP"))),
            ("unsubscribe", Some((Keyword::Out, "UNSUBSCRIBE"))),
            ("StopAll", Some((Keyword::Out, "STOPALL"))),
            ("quit", Some((Keyword::Out, "QUIT"))),
            ("end", Some((Keyword::Out, "END"))),
            ("cancel", Some((Keyword::Out, "CANCEL"))),
            ("start", Some((Keyword::In, "START"))),
            ("UNSTOP", Some((Keyword::In, "UNSTOP"))),
            ("please stop", None),
            ("STOP IT", None),
            ("stopp", None),
            ("", None),
            ("   ", None),
            ("Don't stop me now", None),
        ];
        assert!(!table.is_empty());
        for (text, want) in table {
            let got = keyword(text, &cfg);
            let got = got.as_ref().map(|(k, w)| (*k, w.as_str()));
            assert_eq!(got, *want, "{text:?}");
        }
    }

    #[test]
    fn configured_keywords_replace_the_defaults() {
        let cfg = Config::from_str(
            "[optout]\nkeywords = [\"halt\", \"Abmelden\"]\nresubscribe = [\"anmelden\"]\ncountry = \"DE\"\n",
            std::path::Path::new("t.toml"),
        )
        .expect("config")
        .optout;
        assert_eq!(keyword("ABMELDEN", &cfg).map(|k| k.0), Some(Keyword::Out));
        assert_eq!(keyword("stop", &cfg), None);
        assert_eq!(keyword("Anmelden", &cfg).map(|k| k.0), Some(Keyword::In));
        assert_eq!(
            action("015112345678", "halt", &cfg),
            Some(OptoutAction::Out {
                number: "+4915112345678".into(),
                keyword: "HALT".into()
            })
        );
        assert_eq!(action("Info", "halt", &cfg), None, "alphanumeric sender");
    }

    #[test]
    fn a_keyword_on_both_lists_is_refused() {
        let err = Config::from_str(
            "[optout]\nresubscribe = [\"stop\"]\n",
            std::path::Path::new("t.toml"),
        )
        .expect_err("refused");
        assert!(err.to_string().contains("optout.resubscribe"), "{err}");
    }
}
