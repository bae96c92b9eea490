//! What the network faces (HTTP, the compatible API) need beyond the
//! socket's calls: multi-recipient sends committed as one batch, guarded by
//! an idempotency key; API tokens (created, listed, revoked, and checked on
//! every request against an in-memory copy of the store's hashes); paged
//! listings; readiness. Faces call these; they hold no wire formats.
//!
//! Tokens are 32 random bytes from the kernel, shown once as `sgt_` +
//! base64url; the store keeps the hex SHA-256 only. `admin` implies every
//! scope.

use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::{intake, lock, Gateway, GatewayError, SendRequest};
use crate::modem::ModemState;
use crate::store::{
    Accepted, BatchOutcome, IdempotencyKey, MessageId, MessageState, OutgoingView, TokenInfo,
    TokenRecord,
};

/// How long an `Idempotency-Key` of the HTTP API is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// The key namespace of the native API (keys are per token).
pub const API_KEYS: &str = "api:";
/// The key namespace of the compatible API's client-given message ids
/// (kept as long as `[store] keep`).
pub const COMPAT_KEYS: &str = "compat:";

/// The most recipients one request may name.
pub const MAX_RECIPIENTS: usize = 10_000;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Send,
    Read,
    Admin,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "send" => Some(Scope::Send),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Send => "send",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl Caller {
    /// `admin` implies every scope.
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes
            .iter()
            .any(|s| *s == scope || *s == Scope::Admin)
    }
}

/// The in-memory copy of the token table, by hash.
#[derive(Default)]
pub struct TokenCache(std::sync::Mutex<Option<HashMap<String, TokenRecord>>>);

/// A request's idempotency key and a digest of what it asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// Already namespaced: see [`api_key`] and [`compat_key`].
    pub key: String,
    pub fingerprint: String,
    /// Forget after [`IDEMPOTENCY_TTL`] (the native API); the compatible
    /// API's ids last as long as their messages.
    pub expires: bool,
}

/// The native API's key: per token.
pub fn api_key(token: &str, key: &str) -> String {
    format!("{API_KEYS}{token}:{key}")
}

/// The compatible API's key for a message id.
pub fn compat_key(id: &str) -> String {
    format!("{COMPAT_KEYS}{id}")
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A batch send's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAccepted {
    pub messages: Vec<Accepted>,
    /// The idempotency key was seen before: this is the first answer and
    /// nothing new was queued.
    pub replayed: bool,
}

fn valid_token_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

fn random_secret() -> Result<String, GatewayError> {
    let mut buf = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| GatewayError::Internal(format!("reading /dev/urandom: {e}")))?;
    Ok(format!(
        "sgt_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    ))
}

impl Gateway {
    /// Queues one message per request in one durable commit. With a key, a
    /// repeat of the same request answers the first result and queues
    /// nothing; the same key with another request is a conflict.
    pub async fn send_batch(
        &self,
        reqs: Vec<SendRequest>,
        key: Option<Idempotency>,
    ) -> Result<BatchAccepted, GatewayError> {
        if reqs.is_empty() {
            return Err(GatewayError::Invalid("no recipient".into()));
        }
        if reqs.len() > MAX_RECIPIENTS {
            return Err(GatewayError::Invalid(format!(
                "at most {MAX_RECIPIENTS} recipients per request"
            )));
        }
        let now = Utc::now();
        let many = reqs.len() > 1;
        let mut rows = Vec::with_capacity(reqs.len());
        for r in reqs {
            let to = r.to.clone();
            let row = intake::prepare(self, r, now).map_err(|e| match e {
                intake::IntakeError::Invalid(m) if many => {
                    GatewayError::Invalid(format!("recipient {to:?}: {m}"))
                }
                other => other.into(),
            })?;
            rows.push(row);
        }
        let key = key.map(|k| IdempotencyKey {
            key: k.key,
            fingerprint: k.fingerprint,
            fresh_after: k.expires.then(|| {
                now.checked_sub_signed(
                    chrono::TimeDelta::from_std(IDEMPOTENCY_TTL).unwrap_or(chrono::TimeDelta::MAX),
                )
                .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC)
            }),
        });
        let top = rows
            .iter()
            .map(|r| r.priority)
            .max()
            .unwrap_or(crate::store::Priority::Normal);
        // Said before the commit: a lower-priority job between two parts
        // stops now rather than after the commit.
        let announced = self.dispatch.announce(top);
        match self.store.enqueue_batch(rows, key, now).await? {
            BatchOutcome::Queued(messages) => {
                announced.committed();
                Ok(BatchAccepted {
                    messages,
                    replayed: false,
                })
            }
            BatchOutcome::Replayed(messages) => Ok(BatchAccepted {
                messages,
                replayed: true,
            }),
            BatchOutcome::KeyReused => Err(GatewayError::Conflict(
                "this idempotency key was used for a different request".into(),
            )),
        }
    }

    /// The messages a stored idempotency key queued.
    pub async fn key_messages(&self, key: String) -> Result<Option<Vec<Accepted>>, GatewayError> {
        Ok(self.store.key_messages(key, None).await?)
    }

    /// Forgets native keys older than [`IDEMPOTENCY_TTL`] and compatible
    /// ids older than `cutoff`.
    pub(crate) async fn prune_keys(
        &self,
        cutoff: chrono::DateTime<Utc>,
    ) -> Result<(), GatewayError> {
        let ttl = chrono::TimeDelta::from_std(IDEMPOTENCY_TTL).unwrap_or(chrono::TimeDelta::MAX);
        let day = Utc::now()
            .checked_sub_signed(ttl)
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        self.store.prune_keys(API_KEYS, day).await?;
        self.store.prune_keys(COMPAT_KEYS, cutoff).await?;
        Ok(())
    }

    /// Outgoing messages with ids below `before`, newest first.
    pub async fn outbox_page(
        &self,
        state: Option<MessageState>,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<OutgoingView>, GatewayError> {
        Ok(self
            .store
            .outbox_page(state, before, limit.clamp(1, 10_000))
            .await?)
    }

    /// Ready to take work: the store answers and at least one modem is
    /// ready (or none is configured). The reasons when not.
    pub async fn readiness(&self) -> Result<(), Vec<String>> {
        let mut why = Vec::new();
        if let Err(e) = self.store.counts().await {
            why.push(format!("store: {e}"));
        }
        let modems = self.modem_statuses();
        if !modems.is_empty() && !modems.iter().any(|m| m.state == ModemState::Ready) {
            why.push("no modem is ready".into());
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why)
        }
    }

    // --- tokens -------------------------------------------------------------

    /// Creates a token; answers the secret (shown once) and what was stored.
    pub async fn token_create(
        &self,
        name: String,
        scopes: Vec<String>,
    ) -> Result<(String, TokenInfo), GatewayError> {
        if !valid_token_name(&name) {
            return Err(GatewayError::Invalid(
                "a token name is 1 to 64 letters, digits, '-', '_', '.' or '@'".into(),
            ));
        }
        let mut clean: Vec<String> = Vec::new();
        for s in &scopes {
            let scope = Scope::parse(s).ok_or_else(|| {
                GatewayError::Invalid(format!("unknown scope {s:?} (send, read, admin)"))
            })?;
            if !clean.iter().any(|c| c == scope.as_str()) {
                clean.push(scope.as_str().to_string());
            }
        }
        if clean.is_empty() {
            clean = vec!["send".into(), "read".into()];
        }
        let secret = random_secret()?;
        let hash = sha256_hex(secret.as_bytes());
        let now = Utc::now();
        if !self
            .store
            .token_insert(name.clone(), hash, clean.clone(), now)
            .await?
        {
            return Err(GatewayError::Conflict(format!(
                "a token named {name:?} exists"
            )));
        }
        *lock(&self.tokens.0) = None;
        Ok((
            secret,
            TokenInfo {
                name,
                scopes: clean,
                created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            },
        ))
    }

    /// Every token (names and scopes, never secrets).
    pub async fn token_list(&self) -> Result<Vec<TokenInfo>, GatewayError> {
        Ok(self
            .store
            .tokens()
            .await?
            .into_iter()
            .map(|(info, _)| info)
            .collect())
    }

    /// Removes a token; it stops working at once.
    pub async fn token_revoke(&self, name: String) -> Result<(), GatewayError> {
        let found = self.store.token_delete(name.clone()).await?;
        *lock(&self.tokens.0) = None;
        if found {
            Ok(())
        } else {
            Err(GatewayError::NotFound(format!("no token named {name:?}")))
        }
    }

    /// The caller a secret belongs to; with `name` (HTTP Basic), only when
    /// the token has that name.
    pub async fn authenticate(
        &self,
        secret: &str,
        name: Option<&str>,
    ) -> Result<Option<Caller>, GatewayError> {
        let hash = sha256_hex(secret.as_bytes());
        let cached = lock(&self.tokens.0).as_ref().map(|m| m.get(&hash).cloned());
        let record = match cached {
            Some(r) => r,
            None => {
                let all: HashMap<String, TokenRecord> = self
                    .store
                    .tokens()
                    .await?
                    .into_iter()
                    .map(|(_, r)| (r.hash.clone(), r))
                    .collect();
                let r = all.get(&hash).cloned();
                *lock(&self.tokens.0) = Some(all);
                r
            }
        };
        Ok(record
            .filter(|r| name.is_none_or(|n| n == r.name))
            .map(|r| Caller {
                name: r.name,
                scopes: r.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_implies_every_scope_and_others_only_themselves() {
        let table: &[(&[Scope], Scope, bool)] = &[
            (&[Scope::Admin], Scope::Send, true),
            (&[Scope::Admin], Scope::Read, true),
            (&[Scope::Send], Scope::Send, true),
            (&[Scope::Send], Scope::Read, false),
            (&[Scope::Read], Scope::Admin, false),
            (&[], Scope::Read, false),
        ];
        for (have, want, ok) in table {
            let c = Caller {
                name: "t".into(),
                scopes: have.to_vec(),
            };
            assert_eq!(c.may(*want), *ok, "{have:?} → {want:?}");
        }
    }

    #[test]
    fn token_names_and_secrets() {
        for (name, ok) in [
            ("app", true),
            ("a.b-c_d@x", true),
            ("", false),
            ("a:b", false),
            ("a b", false),
        ] {
            assert_eq!(valid_token_name(name), ok, "{name:?}");
        }
        let a = random_secret().unwrap();
        let b = random_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("sgt_") && a.len() == 4 + 43, "{a}");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
