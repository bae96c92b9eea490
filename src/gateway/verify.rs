//! Verification codes (2FA): `verify_send` makes a code from the OS random
//! source, queues its message at the highest priority and stores only an
//! HMAC-SHA256 of it; `verify_check` compares a candidate's HMAC with the
//! stored one in constant time (in the store, in the same transaction that
//! counts the try, so a code is good once even under concurrent checks).
//!
//! The HMAC key is per install: on SQLite, 32 random bytes in `verify.key`
//! next to the database (mode 0600, created on first use), so a copy of the
//! database alone does not let anyone test codes offline. On PostgreSQL
//! (several hosts) every host must use one key, so it is kept in the
//! database (`secret`, the first host's key; `smsgate migrate` carries a
//! SQLite host's `verify.key` into it): a code sent through one host checks
//! on any other. The message text is stored with the code masked
//! (`******`); the real text lives in memory until the dispatcher sends it
//! (on PostgreSQL also in the database until the code expires; see
//! `store::verify`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tracing::info;

use super::{intake, Gateway, GatewayError, SendRequest};
use crate::codec::{e164, MessageOptions};
use crate::store::{Category, CheckResult, NewCode, Priority};

/// The placeholder a template carries for the code.
pub const CODE_PLACEHOLDER: &str = "{{code}}";
/// The longest template taken (characters).
pub const MAX_TEMPLATE_CHARS: usize = 1000;

/// `verify send` / `POST /api/v1/verify`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The number to send the code to.
    pub to: String,
    /// Digits in the code (4 to 10; default `[verify] length`, 6).
    #[serde(default)]
    pub length: Option<u32>,
    /// How long the code is good, e.g. `"10m"` (default `[verify] ttl`).
    #[serde(default)]
    pub ttl: Option<String>,
    /// The text, with `{{code}}` where the code goes (default `[verify] text`).
    #[serde(default)]
    pub text: Option<String>,
}

/// The answer to `verify_send` (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerifySent {
    /// The code's id.
    pub id: i64,
    /// The number, in normal form.
    pub to: String,
    /// RFC 3339.
    pub expires_at: String,
    /// The id of the message that carries the code.
    pub message: i64,
}

/// `verify check` / `POST /api/v1/verify/check`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub to: String,
    pub code: String,
}

/// Lazily loaded per-install HMAC key.
#[derive(Debug)]
pub struct VerifyKey {
    source: KeySource,
    key: tokio::sync::OnceCell<Arc<[u8; 32]>>,
}

/// Where the key lives.
#[derive(Debug)]
enum KeySource {
    /// `verify.key` beside the SQLite file.
    File(PathBuf),
    /// The `secret` table of the shared database (PostgreSQL).
    Store(crate::store::Store),
}

impl VerifyKey {
    /// The key in `verify.key` next to the database at `store_path`.
    pub fn beside(store_path: &Path) -> VerifyKey {
        let dir = store_path.parent().unwrap_or(Path::new("."));
        VerifyKey {
            source: KeySource::File(dir.join("verify.key")),
            key: tokio::sync::OnceCell::new(),
        }
    }

    /// The key kept in `store`'s database, shared by every host using it
    /// (created by the first host that needs one).
    pub fn in_store(store: crate::store::Store) -> VerifyKey {
        VerifyKey {
            source: KeySource::Store(store),
            key: tokio::sync::OnceCell::new(),
        }
    }

    /// The key (read once; a failure is tried again at the next use).
    pub async fn get(&self) -> Result<Arc<[u8; 32]>, GatewayError> {
        self.key
            .get_or_try_init(|| async {
                match &self.source {
                    KeySource::File(path) => {
                        let path = path.clone();
                        tokio::task::spawn_blocking(move || load_or_create(&path))
                            .await
                            .map_err(|e| GatewayError::Internal(e.to_string()))?
                            .map(Arc::new)
                    }
                    KeySource::Store(store) => {
                        let candidate = random_key()?;
                        Ok(Arc::new(store.verify_key(candidate).await?))
                    }
                }
            })
            .await
            .cloned()
    }
}

/// 32 bytes from the OS random source.
fn random_key() -> Result<[u8; 32], GatewayError> {
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key)
        .map_err(|e| GatewayError::Internal(format!("the OS random source failed: {e}")))?;
    Ok(key)
}

/// Reads the key, or creates it (0600, written then renamed into place so
/// a crash never leaves half a key).
pub fn load_or_create(path: &Path) -> Result<[u8; 32], GatewayError> {
    let unavailable = |what: &str, e: std::io::Error| {
        GatewayError::Unavailable(format!("{what} {}: {e}", path.display()))
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            return <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                GatewayError::Internal(format!(
                    "{} is not a verification key (32 bytes); move it away to make a new one",
                    path.display()
                ))
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(unavailable("reading", e)),
    }
    let key = random_key()?;
    let tmp = path.with_extension("key.tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| unavailable("creating", e))?;
        f.write_all(&key).map_err(|e| unavailable("writing", e))?;
        f.sync_all().map_err(|e| unavailable("syncing", e))?;
    }
    // Another process (or task) may have won the race: keep its key.
    if let Ok(bytes) = std::fs::read(path) {
        let _ = std::fs::remove_file(&tmp);
        return <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| GatewayError::Internal(format!("{} is not 32 bytes", path.display())));
    }
    std::fs::rename(&tmp, path).map_err(|e| unavailable("installing", e))?;
    Ok(key)
}

/// `length` random decimal digits from the OS random source (rejection
/// sampling: every digit equally likely).
pub fn random_code(length: u32) -> Result<String, GatewayError> {
    let mut out = String::with_capacity(length as usize);
    let mut buf = [0u8; 16];
    while out.len() < length as usize {
        getrandom::getrandom(&mut buf)
            .map_err(|e| GatewayError::Internal(format!("the OS random source failed: {e}")))?;
        for b in buf {
            if b < 250 && out.len() < length as usize {
                out.push(char::from(b'0' + b % 10));
            }
        }
    }
    Ok(out)
}

/// The keyed hash stored for `code` sent to `number` (normal form).
pub fn code_hash(key: &[u8; 32], number: &str, code: &str) -> [u8; 32] {
    #[allow(clippy::expect_used, reason = "HMAC takes a key of any length")]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(number.as_bytes());
    mac.update(&[0]);
    mac.update(code.as_bytes());
    mac.finalize().into_bytes().into()
}

impl Gateway {
    /// Sends a verification code; answers once the code and its message are
    /// durable. [`GatewayError::RateLimited`] past `[verify] max_per_hour`.
    pub async fn verify_send(
        &self,
        req: VerifyRequest,
        source: &str,
    ) -> Result<VerifySent, GatewayError> {
        let cfg = self.config();
        let number = e164::normal_form(&req.to, cfg.optout.country)
            .map_err(|e| GatewayError::Invalid(format!("bad number {:?}: {e}", req.to)))?;
        if !number.starts_with('+') && number.len() < 7 {
            return Err(GatewayError::Invalid(format!(
                "bad number {:?}: a short code cannot receive a verification code",
                req.to
            )));
        }
        let length = req.length.unwrap_or(cfg.verify.length);
        if !(4..=10).contains(&length) {
            return Err(GatewayError::Invalid(format!(
                "length must be 4 to 10 digits, not {length}"
            )));
        }
        let ttl = match req.ttl.as_deref() {
            None => cfg.verify.ttl,
            Some(t) => crate::config::parse_duration(t)
                .map_err(|e| GatewayError::Invalid(format!("ttl: {e}")))?,
        };
        if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(86_400) {
            return Err(GatewayError::Invalid("ttl must be 1s to 24h".into()));
        }
        let template = req.text.unwrap_or_else(|| cfg.verify.text.clone());
        if !template.contains(CODE_PLACEHOLDER) {
            return Err(GatewayError::Invalid("text must contain {{code}}".into()));
        }
        if template.chars().count() > MAX_TEMPLATE_CHARS {
            return Err(GatewayError::Invalid(format!(
                "text is longer than {MAX_TEMPLATE_CHARS} characters"
            )));
        }
        let key = self.verify_key.get().await?;
        let code = random_code(length)?;
        let now = Utc::now();
        let real = template.replace(CODE_PLACEHOLDER, &code);
        let masked = template.replace(CODE_PLACEHOLDER, &"*".repeat(length as usize));
        let send = SendRequest {
            to: req.to.clone(),
            text: real.clone(),
            // CONTRACT: a code goes out at `urgent`, before everything queued.
            priority: Some(Priority::Urgent),
            options: MessageOptions {
                sealed: true,
                ..Default::default()
            },
            source: source.to_string(),
            category: Category::Transactional,
            ..Default::default()
        };
        // Validated and counted on the real text; stored masked (the same
        // length in every alphabet, so the part count holds).
        let mut message = intake::prepare(self, send, now)?;
        message.text = masked;
        let expires_at = now
            + chrono::TimeDelta::from_std(ttl)
                .map_err(|e| GatewayError::Invalid(format!("ttl: {e}")))?;
        // The code goes out at `urgent`: lower jobs stop before their next part.
        let announced = self.dispatch.announce(crate::store::Priority::Urgent);
        let sent = self
            .store
            .verify_create(
                NewCode {
                    number: number.clone(),
                    hash: code_hash(&key, &number, &code),
                    expires_at,
                    max_per_hour: cfg.verify.max_per_hour,
                    message,
                    sealed_text: real,
                },
                now,
            )
            .await?;
        announced.committed();
        info!(id = sent.id, message = sent.message.id, to = %number, "verification code queued");
        Ok(VerifySent {
            id: sent.id,
            to: number,
            expires_at: sent.expires_at,
            message: sent.message.id,
        })
    }

    /// Checks a code: good once; dead after 5 wrong tries or its ttl.
    pub async fn verify_check(&self, req: CheckRequest) -> Result<CheckResult, GatewayError> {
        let cfg = self.config();
        let number = e164::normal_form(&req.to, cfg.optout.country)
            .map_err(|e| GatewayError::Invalid(format!("bad number {:?}: {e}", req.to)))?;
        let code = req.code.trim();
        if code.is_empty() {
            return Err(GatewayError::Invalid("code is empty".into()));
        }
        if code.len() > 10 || !code.chars().all(|c| c.is_ascii_digit()) {
            return Err(GatewayError::Invalid("code must be 4 to 10 digits".into()));
        }
        let key = self.verify_key.get().await?;
        let candidate = code_hash(&key, &number, code);
        let result = self
            .store
            .verify_check(&number, candidate, Utc::now())
            .await?;
        info!(to = %number, valid = result.valid, reason = ?result.reason, "verification code checked");
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_digits_of_the_asked_length_and_vary() {
        let codes: Vec<String> = (0..50).map(|_| random_code(6).expect("code")).collect();
        assert!(codes
            .iter()
            .all(|c| c.len() == 6 && c.chars().all(|d| d.is_ascii_digit())));
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert!(distinct.len() > 40, "{distinct:?}");
        assert_eq!(random_code(10).expect("code").len(), 10);
    }

    #[test]
    fn the_hash_is_keyed_bound_to_the_number_and_never_the_code() {
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        let h = code_hash(&k1, "+4915112345678", "123456");
        assert_ne!(h, code_hash(&k2, "+4915112345678", "123456"), "key");
        assert_ne!(h, code_hash(&k1, "+4915112345679", "123456"), "number");
        assert_ne!(h, code_hash(&k1, "+4915112345678", "123457"), "code");
        assert_eq!(h, code_hash(&k1, "+4915112345678", "123456"));
        let hex = crate::codec::hex::encode(&h);
        assert!(!hex.contains("123456"));
        assert!(!h.windows(6).any(|w| w == b"123456"));
    }

    #[test]
    fn the_key_file_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("verify.key");
        let a = load_or_create(&path).expect("create");
        let b = load_or_create(&path).expect("read");
        assert_eq!(a, b);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, b"short").expect("spoil");
        assert!(
            load_or_create(&path).is_err(),
            "a damaged key is an error, not replaced"
        );
    }
}
