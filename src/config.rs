//! Configuration: TOML text → raw serde structs (`deny_unknown_fields`) →
//! validated [`Config`] (durations parsed with `humantime`, defaults filled,
//! cross-references checked). Every error names the file, the line and the
//! key: `PATH:LINE: KEY: message`. The key of a serde error comes from
//! `serde_path_to_error`, its line from toml's span; a validation error looks
//! its key path up in the parsed document for the line. Owns nothing else: it reads one file and does no
//! other I/O; it neither opens devices nor creates directories.
//!
//! Key paths use TOML names with 0-based indexes for arrays of tables:
//! `modem[1].pin` is the `pin` of the second `[[modem]]`.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The default location of the configuration file.
pub const DEFAULT_PATH: &str = "/etc/smsgate/smsgate.toml";

/// A configuration that could not be read or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A syntax error, an unknown key, a wrong type or a bad value.
    #[error("{}:{line}: {key}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
}

impl ConfigError {
    /// The key path the error is about (`modem[0].pin`), if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Read { .. } => None,
        }
    }
    /// The 1-based line the error is about, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } => Some(*line),
            ConfigError::Read { .. } => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Validated configuration
// ---------------------------------------------------------------------------

/// The validated configuration the daemon runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this came from (used in messages; `<defaults>` for defaults).
    pub source: PathBuf,
    pub store: StoreConfig,
    pub control: ControlConfig,
    pub spool: SpoolConfig,
    pub dispatch: DispatchConfig,
    /// `[[route]]` entries, in file order (the longest matching prefix wins).
    pub routes: Vec<Route>,
    pub receive: ReceiveConfig,
    pub hooks: HooksConfig,
    /// `[webhooks]`: delivery settings shared by every endpoint.
    pub webhooks: WebhooksConfig,
    /// `[[webhook]]` endpoints, in file order.
    pub webhook: Vec<WebhookConfig>,
    /// `[compat]`: the SMS Gateway for Android compatible face.
    pub compat: CompatConfig,
    pub log: LogConfig,
    /// `[http]`: the HTTP API (off while `listen` is `None`).
    pub http: HttpConfig,
    /// `[smpp]`: the SMPP server face (off while `listen` is empty).
    pub smpp: SmppConfig,
    /// `[[modem]]` entries, in file order. May be empty.
    pub modems: Vec<ModemConfig>,
    /// `[optout]`: keywords, the reply, the country for national numbers.
    pub optout: OptoutConfig,
    /// `[verify]`: verification codes.
    pub verify: VerifyConfig,
    /// `[cluster]`: this host's name and its leases (PostgreSQL only).
    pub cluster: ClusterConfig,
}

/// `[cluster]`: how this host takes part in a cluster on PostgreSQL
/// (`[store] url`). On SQLite the values are kept and unused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This host's name in the `node` table (default: the host name).
    pub node: String,
    /// How long a claim on a message lasts without being renewed: the
    /// unsent work of a host that died goes to the others after about this.
    pub lease: Duration,
    /// A message partly sent through a SIM of a host that has been away
    /// this long starts again, whole, through another SIM.
    pub orphan_after: Duration,
}

/// This machine's host name (`node` when `[cluster] node` is not set);
/// `smsgate` when the system has none.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "smsgate".to_string())
}

/// `[optout]`. Keywords are kept upper case; a received text matches when,
/// trimmed, it equals one in any case.
#[derive(Debug, Clone, PartialEq)]
pub struct OptoutConfig {
    pub keywords: Vec<String>,
    pub resubscribe: Vec<String>,
    /// Sent back to whoever opted out (empty: no reply).
    pub reply: String,
    /// Sent back to whoever re-subscribed (empty: no reply).
    pub resubscribe_reply: String,
    /// ISO 3166-1 alpha-2 code used to read national numbers (`0151…`).
    pub country: Option<&'static crate::codec::e164::Country>,
}

/// The keywords `[optout] keywords` has by default.
pub const DEFAULT_OPTOUT_KEYWORDS: &[&str] =
    &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
/// The keywords `[optout] resubscribe` has by default.
pub const DEFAULT_RESUBSCRIBE_KEYWORDS: &[&str] = &["START", "UNSTOP"];

/// `[verify]`.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyConfig {
    /// The text of a code message; `{{code}}` is replaced by the code.
    pub text: String,
    /// How long a code is good by default.
    pub ttl: Duration,
    /// Codes one number may be sent in an hour.
    pub max_per_hour: u32,
    /// Digits in a code by default.
    pub length: u32,
}

/// The default `[verify] text`.
pub const DEFAULT_VERIFY_TEXT: &str = "Your verification code is {{code}}";

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// The SQLite file (`[store] path`); unused when `url` is set.
    pub path: PathBuf,
    /// `[store] url`: a PostgreSQL database (`postgresql://…`) instead of
    /// the SQLite file, shared by every host of a cluster.
    pub url: Option<String>,
    /// A part whose `AT+CMGS` was in flight at a crash: resend it (may
    /// duplicate) when true, fail it when false.
    pub resend_uncertain: bool,
    /// Finished messages, received messages, reports and events older than
    /// this are pruned (`[store] keep`, default 90 days).
    pub keep: Duration,
}

/// `[smpp]`: the SMPP 3.4 server (the gateway as an SMSC).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmppConfig {
    /// `host:port` to listen on; empty (the default) means off.
    pub listen: String,
    /// At most this many sessions at once (more are closed at once).
    pub max_sessions: usize,
    /// A connection that has not bound after this long is closed.
    #[serde(with = "humantime_serde_secs")]
    pub bind_timeout: Duration,
    /// Idle this long, the server sends `enquire_link`; no answer within
    /// the same time closes the session.
    #[serde(with = "humantime_serde_secs")]
    pub enquire_link: Duration,
    /// Outstanding `deliver_sm` per session.
    pub window: usize,
    /// Parts of a long message wait this long for the rest.
    #[serde(with = "humantime_serde_secs")]
    pub reassembly_timeout: Duration,
    #[serde(rename = "account")]
    pub accounts: Vec<SmppAccount>,
}

impl Default for SmppConfig {
    fn default() -> Self {
        SmppConfig {
            listen: String::new(),
            max_sessions: 64,
            bind_timeout: Duration::from_secs(10),
            enquire_link: Duration::from_secs(30),
            window: 10,
            reassembly_timeout: Duration::from_secs(60),
            accounts: Vec::new(),
        }
    }
}

/// One `[[smpp.account]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppAccount {
    pub system_id: String,
    pub password: String,
    /// `submit_sm` per second; 0 (the default) is no limit.
    #[serde(default)]
    pub max_tps: u32,
    /// Received SMS go to this account's receiver/transceiver binds.
    #[serde(default)]
    pub receive_mo: bool,
    /// When not empty, `source_addr` must be one of these.
    #[serde(default)]
    pub allowed_sources: Vec<String>,
}

impl SmppConfig {
    pub fn account(&self, system_id: &str) -> Option<&SmppAccount> {
        self.accounts.iter().find(|a| a.system_id == system_id)
    }
}

/// Durations in `[smpp]` as humantime strings (`"10s"`).
mod humantime_serde_secs {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ControlConfig {
    pub socket: PathBuf,
    /// File mode of the socket (parsed from an octal string such as `"0660"`).
    pub mode: u32,
    /// Group owning the socket; `None` keeps the daemon's group.
    pub group: Option<String>,
    pub max_request_bytes: usize,
    pub max_clients: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub enabled: bool,
    pub scan_interval: Duration,
    pub max_file_bytes: u64,
    /// smstools3-format copies of sent messages; `None` when off.
    pub sent_dir: Option<PathBuf>,
    /// smstools3-format copies of failed messages; `None` when off.
    pub failed_copy_dir: Option<PathBuf>,
    /// smstools3-format files for received messages; `None` when off.
    pub incoming_dir: Option<PathBuf>,
    /// smstools3-format files for status reports; `None` when off.
    pub report_dir: Option<PathBuf>,
}

/// How the dispatcher picks a SIM among the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    LeastLoaded,
    RoundRobin,
    Weighted,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::LeastLoaded => "least-loaded",
            Policy::RoundRobin => "round-robin",
            Policy::Weighted => "weighted",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DispatchConfig {
    pub policy: Policy,
    /// Keep sending to one destination through the SIM that last served it.
    pub sticky: bool,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Consecutive failures after which a modem cools down.
    pub failure_threshold: u32,
    pub cooldown: Duration,
    /// TP-VP asked for by default.
    pub validity: Duration,
    /// A queued message not sent within this is expired (default: `validity`).
    pub expire_after: Duration,
    /// National language identifiers (1 Turkish … 13 Urdu) enabled for encoding.
    pub languages: Vec<u8>,
    /// Use 16-bit concatenation references.
    pub concat_ref16: bool,
    /// Default `AT+CMGS` answer timeout for every modem.
    pub send_timeout: Duration,
}

/// A `[[route]]`: destinations starting with `prefix` go through `modems`.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub prefix: String,
    pub modems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReceiveConfig {
    pub incomplete_timeout: Duration,
    pub sweep_interval: Duration,
    pub store_class0: bool,
}

/// Hook programs, each an argv (program with an absolute path, then arguments);
/// run without a shell.
#[derive(Debug, Clone, PartialEq)]
pub struct HooksConfig {
    pub received: Option<Vec<String>>,
    pub sent: Option<Vec<String>>,
    pub delivered: Option<Vec<String>>,
    pub failed: Option<Vec<String>>,
    pub report: Option<Vec<String>>,
    pub modem_up: Option<Vec<String>>,
    pub modem_down: Option<Vec<String>>,
    pub timeout: Duration,
    pub max_concurrent: usize,
}

impl HooksConfig {
    /// The configured hooks as `(event name, argv)`, in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Vec<String>)> {
        [
            ("received", &self.received),
            ("sent", &self.sent),
            ("delivered", &self.delivered),
            ("failed", &self.failed),
            ("report", &self.report),
            ("modem_up", &self.modem_up),
            ("modem_down", &self.modem_down),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.as_ref().map(|v| (n, v)))
    }
}

/// `[webhooks]`: how deliveries are made and retried.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhooksConfig {
    /// One attempt's deadline (connect, send, answer).
    pub timeout: Duration,
    /// The waits between attempts: attempt `n + 1` comes `retry[n - 1]`
    /// (with jitter) after attempt `n` failed; after the last one the
    /// event is given up.
    pub retry: Vec<Duration>,
}

/// The body shape and signing of a webhook endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// The event object, Standard Webhooks signatures.
    Native,
    /// SMS Gateway for Android's envelope and `X-Signature`.
    Android,
}

impl Flavour {
    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Native => "native",
            Flavour::Android => "android",
        }
    }

    pub fn from_name(s: &str) -> Option<Flavour> {
        match s {
            "native" => Some(Flavour::Native),
            "android" => Some(Flavour::Android),
            _ => None,
        }
    }
}

/// The event names an `android` endpoint can have (one each).
pub const ANDROID_EVENTS: &[&str] = &["sms:received", "sms:sent", "sms:delivered", "sms:failed"];

/// One `[[webhook]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Given, or `cfg-` and a hash of the URL and events.
    pub id: String,
    pub url: String,
    /// Event types (native: the log's types; android: one `sms:*`); empty:
    /// every type.
    pub events: Vec<String>,
    /// `whsec_…`; `None`: generated once and kept in the store.
    pub secret: Option<String>,
    pub flavour: Flavour,
}

/// `[compat]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatConfig {
    /// Signs `android` webhooks (`X-Signature`) when set.
    pub signing_key: Option<String>,
    /// The `deviceId` of `android` webhook envelopes.
    pub device_id: String,
}

/// Checks a Standard Webhooks secret: `whsec_` and the base64 of 24 to 64
/// bytes. Answers the decoded key.
pub fn webhook_secret_key(secret: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let b64 = secret
        .strip_prefix("whsec_")
        .ok_or("must start with \"whsec_\" (then the base64 of 24 to 64 random bytes)")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("the part after \"whsec_\" is not base64: {e}"))?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!(
            "the key is {} bytes; it must be 24 to 64 bytes",
            key.len()
        ));
    }
    Ok(key)
}

/// Checks a webhook URL: absolute `http` or `https` with a host. Private
/// and loopback addresses are allowed.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    let u = reqwest::Url::parse(url.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("scheme {:?}: only http and https", u.scheme()));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(())
}

/// Checks an endpoint's event list for its flavour.
pub fn check_webhook_events(flavour: Flavour, events: &[String]) -> Result<(), String> {
    match flavour {
        Flavour::Native => {
            for e in events {
                if !crate::store::EventData::KINDS.contains(&e.as_str()) {
                    return Err(format!(
                        "unknown event type {e:?}; known: {}",
                        crate::store::EventData::KINDS.join(", ")
                    ));
                }
            }
        }
        Flavour::Android => {
            let one = matches!(events, [e] if ANDROID_EVENTS.contains(&e.as_str()));
            if !one {
                return Err(format!(
                    "an android endpoint has exactly one event, one of {}",
                    ANDROID_EVENTS.join(", ")
                ));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// Where the HTTP API listens; `None` (the default, an empty string) is off.
    pub listen: Option<std::net::SocketAddr>,
    /// Requests per second per token; 0 = no limit.
    pub rate: u32,
    /// The largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Open connections at most; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// A client must send its request headers within this time.
    pub header_timeout: Duration,
    /// A request (body included) must be answered within this time; event
    /// streams are exempt.
    pub request_timeout: Duration,
    /// `GET /metrics` asks for a token with the `read` scope (default: no
    /// token, as Prometheus scrapes by default).
    pub metrics_token: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: None,
            rate: 0,
            max_body_bytes: 1 << 20,
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            metrics_token: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// A level (`info`) or a tracing `EnvFilter` string.
    pub level: String,
}

/// PDU or text mode on the modem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModemMode {
    /// PDU mode where the modem accepts `AT+CMGF=0`, text mode otherwise.
    Auto,
    Pdu,
    Text,
}

/// The vendor family forced with `quirks = "..."`; `None` (`""` or
/// `"auto"`) detects it from `AT+CGMI`.
pub use crate::modem::quirks::Family;

/// The value of a `quirks = "…"` key (case-insensitive): `Some(None)` for
/// `""` or `"auto"`, `None` for an unknown family.
fn quirks_from_name(s: &str) -> Option<Option<Family>> {
    let t = s.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("auto") {
        return Some(None);
    }
    t.parse::<Family>().ok().map(Some)
}

const QUIRKS_EXPECTED: &str = "\"\" (auto), \"huawei\", \"simcom\", \"quectel\", \"zte\", \"telit\", \"sierra\" or \"generic\"";

#[derive(Debug, Clone, PartialEq)]
pub struct ModemConfig {
    pub name: String,
    pub device: PathBuf,
    pub enabled: bool,
    pub baud: u32,
    pub pin: Option<String>,
    pub mode: ModemMode,
    pub cnmi: String,
    pub storage: String,
    pub report_storage: Option<String>,
    pub smsc: Option<String>,
    pub init: Vec<String>,
    pub quirks: Option<Family>,
    pub weight: u32,
    pub queues: Vec<String>,
    /// Send caps; 0 = no cap.
    pub per_minute: u32,
    pub per_hour: u32,
    pub per_day: u32,
    /// Effective `AT+CMGS` timeout (the modem's own or `dispatch.send_timeout`).
    pub send_timeout: Duration,
    pub health_interval: Duration,
    pub radio_reset: bool,
}

impl ModemConfig {
    /// A modem with every optional key at its default.
    pub fn with_defaults(name: &str, device: &Path, send_timeout: Duration) -> ModemConfig {
        ModemConfig {
            name: name.to_string(),
            device: device.to_path_buf(),
            enabled: true,
            baud: 115_200,
            pin: None,
            mode: ModemMode::Auto,
            cnmi: "2,1,0,2,0".to_string(),
            storage: "SM".to_string(),
            report_storage: None,
            smsc: None,
            init: Vec::new(),
            quirks: None,
            weight: 1,
            queues: Vec::new(),
            per_minute: 0,
            per_hour: 0,
            per_day: 0,
            send_timeout,
            health_interval: Duration::from_secs(60),
            radio_reset: false,
        }
    }
}

/// Which modems a reload adds, removes or changes (by name, sorted).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModemDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl ModemDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl Default for Config {
    fn default() -> Self {
        #[allow(
            clippy::expect_used,
            reason = "a true invariant: the empty file is valid (a unit test checks it)"
        )]
        Config::from_str("", Path::new("<defaults>"))
            .expect("the empty configuration is valid: every key has a default")
    }
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_str(&text, path)
    }

    /// Validates `text`; `path_for_messages` only appears in errors.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, path_for_messages: &Path) -> Result<Config, ConfigError> {
        let syntax = |e: toml::de::Error| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            // What parsed before the error names the key being written.
            let (partial, _) = toml::de::DeTable::parse_recoverable(text);
            invalid(
                path_for_messages,
                line_of(text, offset),
                key_before(partial.get_ref(), offset),
                one_line(e.message()),
            )
        };
        let doc = toml::de::DeTable::parse(text).map_err(syntax)?;
        let ctx = Ctx {
            text,
            path: path_for_messages,
            doc: doc.get_ref(),
        };
        let raw: RawFile = serde_path_to_error::deserialize(toml::de::Deserializer::from(
            toml::de::DeTable::parse(text).map_err(syntax)?,
        ))
        .map_err(|e| ctx.serde_error(e))?;
        ctx.validate(raw)
    }

    /// The modem called `name`.
    pub fn modem(&self, name: &str) -> Option<&ModemConfig> {
        self.modems.iter().find(|m| m.name == name)
    }

    /// What changes for the modems when `new` replaces `self`.
    pub fn diff(&self, new: &Config) -> ModemDiff {
        let mut d = ModemDiff::default();
        for m in &new.modems {
            match self.modem(&m.name) {
                None => d.added.push(m.name.clone()),
                Some(old) if old != m => d.changed.push(m.name.clone()),
                Some(_) => {}
            }
        }
        for m in &self.modems {
            if new.modem(&m.name).is_none() {
                d.removed.push(m.name.clone());
            }
        }
        d.added.sort();
        d.removed.sort();
        d.changed.sort();
        d
    }

    /// A readable multi-line summary (what `smsgate check-config` prints).
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "config:   {}", self.source.display());
        match &self.store.url {
            Some(url) => {
                let _ = writeln!(
                    s,
                    "store:    {} (resend uncertain parts: {})",
                    crate::store::redact_url(url),
                    yes_no(self.store.resend_uncertain)
                );
                let _ = writeln!(
                    s,
                    "cluster:  node {} (lease {}, orphaned after {})",
                    self.cluster.node,
                    format_duration(self.cluster.lease),
                    format_duration(self.cluster.orphan_after)
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "store:    {} (resend uncertain parts: {})",
                    self.store.path.display(),
                    yes_no(self.store.resend_uncertain)
                );
            }
        }
        let _ = writeln!(
            s,
            "control:  {} (mode {:04o}{}, max {} clients)",
            self.control.socket.display(),
            self.control.mode,
            self.control
                .group
                .as_deref()
                .map(|g| format!(", group {g}"))
                .unwrap_or_default(),
            self.control.max_clients
        );
        match self.http.listen {
            Some(addr) => {
                let _ = writeln!(
                    s,
                    "http:     {addr} (rate {}, max {} connections, body {} bytes)",
                    if self.http.rate == 0 {
                        "unlimited".to_string()
                    } else {
                        format!("{}/s per token", self.http.rate)
                    },
                    self.http.max_connections,
                    self.http.max_body_bytes
                );
            }
            None => {
                let _ = writeln!(s, "http:     off");
            }
        }
        if self.spool.enabled {
            let _ = writeln!(
                s,
                "spool:    {} (rescan every {}, max {} bytes per file)",
                self.spool.dir.display(),
                format_duration(self.spool.scan_interval),
                self.spool.max_file_bytes
            );
        } else {
            let _ = writeln!(s, "spool:    {} (disabled)", self.spool.dir.display());
        }
        for (label, dir) in [
            ("sent copies", &self.spool.sent_dir),
            ("failed copies", &self.spool.failed_copy_dir),
            ("incoming files", &self.spool.incoming_dir),
            ("report files", &self.spool.report_dir),
        ] {
            if let Some(d) = dir {
                let _ = writeln!(s, "          {label}: {}", d.display());
            }
        }
        let d = &self.dispatch;
        let _ = writeln!(
            s,
            "dispatch: {}{}, {} attempts (retry {}..{}), validity {}, expire after {}",
            d.policy.as_str(),
            if d.sticky { ", sticky" } else { "" },
            d.max_attempts,
            format_duration(d.retry_base),
            format_duration(d.retry_max),
            format_duration(d.validity),
            format_duration(d.expire_after),
        );
        let _ = writeln!(s, "modems:   {}", self.modems.len());
        for m in &self.modems {
            let _ = writeln!(
                s,
                "  {} {} ({} baud, {}, quirks {}, weight {}{}{})",
                m.name,
                m.device.display(),
                m.baud,
                match m.mode {
                    ModemMode::Auto => "auto",
                    ModemMode::Pdu => "pdu",
                    ModemMode::Text => "text",
                },
                m.quirks.map_or("auto", Family::as_str),
                m.weight,
                if m.pin.is_some() { ", pin set" } else { "" },
                if m.enabled { "" } else { ", disabled" },
            );
        }
        let _ = writeln!(s, "routes:   {}", self.routes.len());
        for r in &self.routes {
            let prefix = if r.prefix.is_empty() { "*" } else { &r.prefix };
            let _ = writeln!(s, "  {} -> {}", prefix, r.modems.join(", "));
        }
        let hooks: Vec<_> = self.hooks.iter().collect();
        let _ = writeln!(s, "hooks:    {}", hooks.len());
        for (event, argv) in hooks {
            let _ = writeln!(s, "  {event}: {}", argv.join(" "));
        }
        let _ = writeln!(
            s,
            "webhooks: {} (timeout {}, retry {})",
            self.webhook.len(),
            format_duration(self.webhooks.timeout),
            self.webhooks
                .retry
                .iter()
                .map(|d| format_duration(*d))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for w in &self.webhook {
            let events = if w.events.is_empty() {
                "every event".to_string()
            } else {
                w.events.join(", ")
            };
            let _ = writeln!(s, "  {} {} ({}, {events})", w.id, w.url, w.flavour.as_str());
        }
        let _ = writeln!(s, "log:      {}", self.log.level);
        s
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

// ---------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------

/// `[webhooks] retry` when the file says nothing (Standard Webhooks' own
/// schedule, less its immediate first retry).
pub const DEFAULT_WEBHOOK_RETRY: &[&str] =
    &["5s", "5m", "30m", "2h", "5h", "10h", "14h", "20h", "24h"];

const DURATION_UNITS: &str =
    "ms, s, m, h, d, w (e.g. \"250ms\", \"90s\", \"5m\", \"1h30m\", \"2d\")";

/// Parses `"250ms"`, `"90s"`, `"5m"`, `"12h"`, `"90d"`, `"1w"` and
/// combinations such as `"1h30m"` or `"1h 30m"` with `humantime`. A bare
/// number is refused with a message listing the units. The one duration
/// parser: config keys, the control protocol, spool headers and the command
/// line all read durations through it.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!(
            "empty duration; use a number with a unit: {DURATION_UNITS}"
        ));
    }
    humantime::parse_duration(t).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => format!("duration {s:?} is too large"),
        e => format!("bad duration {s:?}: {e}"),
    })
}

/// Formats a duration in the form [`parse_duration`] reads (`"1h30m"`,
/// `"250ms"`, `"0s"`); what is below a millisecond is dropped.
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= size {
            let _ = write!(out, "{}{}", ms / size, unit);
            ms %= size;
        }
    }
    out
}

/// National language identifiers of 3GPP TS 23.038 by name
/// (`turkish` → 1 … `urdu` → 13); also accepts the number itself.
pub fn language_id(s: &str) -> Option<u8> {
    const NAMES: [&str; 13] = [
        "turkish",
        "spanish",
        "portuguese",
        "bengali",
        "gujarati",
        "hindi",
        "kannada",
        "malayalam",
        "oriya",
        "punjabi",
        "tamil",
        "telugu",
        "urdu",
    ];
    let t = s.trim().to_ascii_lowercase();
    if let Ok(n) = t.parse::<u8>() {
        return (1..=13).contains(&n).then_some(n);
    }
    let t = if t == "assamese" { "bengali".into() } else { t };
    NAMES
        .iter()
        .position(|n| *n == t)
        .and_then(|i| u8::try_from(i + 1).ok())
}

/// A duration in the raw layer: the TOML string, refusing bare integers with
/// a message that lists the units.
#[derive(Debug, Clone)]
struct RawDuration(String);

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a duration string with a unit: {DURATION_UNITS}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawDuration, E> {
                Err(E::custom(format!(
                    "bare number {v} is not a duration; write it as a string with a unit: {DURATION_UNITS}"
                )))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawDuration, E> {
                Err(E::custom(format!(
                    "bare number {v} is not a duration; write it as a string with a unit: {DURATION_UNITS}"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<RawDuration, E> {
                Err(E::custom(format!(
                    "bare number {v} is not a duration; write it as a string with a unit: {DURATION_UNITS}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A language in `dispatch.languages`: a name or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawLanguage {
    Id(i64),
    Name(String),
}

// ---------------------------------------------------------------------------
// Raw layer
// ---------------------------------------------------------------------------

type S<T> = Option<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    store: Option<RawStore>,
    #[serde(default)]
    control: Option<RawControl>,
    #[serde(default)]
    spool: Option<RawSpool>,
    #[serde(default)]
    dispatch: Option<RawDispatch>,
    #[serde(default)]
    route: Vec<RawRoute>,
    #[serde(default)]
    receive: Option<RawReceive>,
    #[serde(default)]
    hooks: Option<RawHooks>,
    #[serde(default)]
    webhooks: Option<RawWebhooks>,
    #[serde(default)]
    webhook: Vec<RawWebhook>,
    #[serde(default)]
    compat: Option<RawCompat>,
    #[serde(default)]
    log: Option<RawLog>,
    #[serde(default)]
    http: Option<RawHttp>,
    smpp: Option<SmppConfig>,
    #[serde(default)]
    modem: Vec<RawModem>,
    #[serde(default)]
    optout: Option<RawOptout>,
    #[serde(default)]
    verify: Option<RawVerify>,
    #[serde(default)]
    cluster: Option<RawCluster>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    #[serde(default)]
    node: S<String>,
    #[serde(default)]
    lease: S<RawDuration>,
    #[serde(default)]
    orphan_after: S<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOptout {
    #[serde(default)]
    keywords: S<Vec<String>>,
    #[serde(default)]
    resubscribe: S<Vec<String>>,
    #[serde(default)]
    reply: S<String>,
    #[serde(default)]
    resubscribe_reply: S<String>,
    #[serde(default)]
    country: S<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVerify {
    #[serde(default)]
    text: S<String>,
    #[serde(default)]
    ttl: S<RawDuration>,
    #[serde(default)]
    max_per_hour: S<u32>,
    #[serde(default)]
    length: S<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default)]
    listen: S<String>,
    #[serde(default)]
    rate: S<u64>,
    #[serde(default)]
    max_body_bytes: S<u64>,
    #[serde(default)]
    max_connections: S<u64>,
    #[serde(default)]
    header_timeout: S<RawDuration>,
    #[serde(default)]
    request_timeout: S<RawDuration>,
    #[serde(default)]
    metrics_token: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    #[serde(default)]
    path: S<String>,
    #[serde(default)]
    url: S<String>,
    #[serde(default)]
    resend_uncertain: Option<bool>,
    #[serde(default)]
    keep: S<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    #[serde(default)]
    socket: S<String>,
    #[serde(default)]
    mode: S<String>,
    #[serde(default)]
    group: S<String>,
    #[serde(default)]
    max_request_bytes: S<u64>,
    #[serde(default)]
    max_clients: S<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpool {
    #[serde(default)]
    dir: S<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    scan_interval: S<RawDuration>,
    #[serde(default)]
    max_file_bytes: S<u64>,
    #[serde(default)]
    sent_dir: Option<String>,
    #[serde(default)]
    failed_copy_dir: Option<String>,
    #[serde(default)]
    incoming_dir: Option<String>,
    #[serde(default)]
    report_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDispatch {
    #[serde(default)]
    policy: S<String>,
    #[serde(default)]
    sticky: Option<bool>,
    #[serde(default)]
    max_attempts: S<u32>,
    #[serde(default)]
    retry_base: S<RawDuration>,
    #[serde(default)]
    retry_max: S<RawDuration>,
    #[serde(default)]
    failure_threshold: S<u32>,
    #[serde(default)]
    cooldown: S<RawDuration>,
    #[serde(default)]
    validity: S<RawDuration>,
    #[serde(default)]
    expire_after: S<RawDuration>,
    #[serde(default)]
    languages: Vec<RawLanguage>,
    #[serde(default)]
    concat_ref16: Option<bool>,
    #[serde(default)]
    send_timeout: S<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: String,
    modems: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceive {
    #[serde(default)]
    incomplete_timeout: S<RawDuration>,
    #[serde(default)]
    sweep_interval: S<RawDuration>,
    #[serde(default)]
    store_class0: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHooks {
    #[serde(default)]
    received: S<Vec<String>>,
    #[serde(default)]
    sent: S<Vec<String>>,
    #[serde(default)]
    delivered: S<Vec<String>>,
    #[serde(default)]
    failed: S<Vec<String>>,
    #[serde(default)]
    report: S<Vec<String>>,
    #[serde(default)]
    modem_up: S<Vec<String>>,
    #[serde(default)]
    modem_down: S<Vec<String>>,
    #[serde(default)]
    timeout: S<RawDuration>,
    #[serde(default)]
    max_concurrent: S<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhooks {
    #[serde(default)]
    timeout: S<RawDuration>,
    #[serde(default)]
    retry: S<Vec<RawDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    #[serde(default)]
    id: S<String>,
    url: String,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    secret: S<String>,
    #[serde(default)]
    flavour: S<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompat {
    #[serde(default)]
    signing_key: S<String>,
    #[serde(default)]
    device_id: S<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    #[serde(default)]
    level: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModem {
    name: String,
    device: String,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    baud: S<u32>,
    #[serde(default)]
    pin: S<String>,
    #[serde(default)]
    mode: S<String>,
    #[serde(default)]
    cnmi: S<String>,
    #[serde(default)]
    storage: S<String>,
    #[serde(default)]
    report_storage: S<String>,
    #[serde(default)]
    smsc: S<String>,
    #[serde(default)]
    init: Vec<String>,
    #[serde(default)]
    quirks: S<String>,
    #[serde(default)]
    weight: S<u32>,
    #[serde(default)]
    queues: Vec<String>,
    #[serde(default)]
    per_minute: Option<u32>,
    #[serde(default)]
    per_hour: Option<u32>,
    #[serde(default)]
    per_day: Option<u32>,
    #[serde(default)]
    send_timeout: S<RawDuration>,
    #[serde(default)]
    health_interval: S<RawDuration>,
    #[serde(default)]
    radio_reset: Option<bool>,
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

const BAUD_RATES: [u32; 14] = [
    1200, 2400, 4800, 9600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 500_000, 921_600,
    1_000_000, 4_000_000,
];

const SEND_TIMEOUT_MIN: Duration = Duration::from_secs(60);
const SEND_TIMEOUT_MAX: Duration = Duration::from_secs(180);
/// The largest relative TP-VP (63 weeks).
const VALIDITY_MAX: Duration = Duration::from_secs(63 * 604_800);

struct Ctx<'a> {
    text: &'a str,
    path: &'a Path,
    /// The parsed document with the span of every key and value: the line
    /// of a validation error is looked up here by its key path.
    doc: &'a toml::de::DeTable<'a>,
}

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq)]
enum Step<'k> {
    Key(&'k str),
    Index(usize),
}

/// Splits `modem[1].init[0]` into `modem`, `1`, `init`, `0`.
fn steps(key: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let mut rest = part;
        if let Some((name, _)) = rest.split_once('[') {
            out.push(Step::Key(name));
            rest = rest.get(name.len()..).unwrap_or_default();
            while let Some(inner) = rest.strip_prefix('[') {
                let Some((n, tail)) = inner.split_once(']') else {
                    break;
                };
                if let Ok(i) = n.parse() {
                    out.push(Step::Index(i));
                }
                rest = tail;
            }
        } else {
            out.push(Step::Key(rest));
        }
    }
    out
}

/// The span of the value at `key` in `doc`, or of the deepest part of the
/// path that exists (a missing key is reported at its table).
fn span_of(doc: &toml::de::DeTable<'_>, key: &str) -> Range<usize> {
    use toml::de::DeValue;
    let mut span = 0..0;
    let mut here: Option<&DeValue<'_>> = None;
    for step in steps(key) {
        let found = match (step, here) {
            (Step::Key(k), None) => doc.iter().find(|(n, _)| n.get_ref() == k).map(|(_, v)| v),
            (Step::Key(k), Some(DeValue::Table(t))) => {
                t.iter().find(|(n, _)| n.get_ref() == k).map(|(_, v)| v)
            }
            (Step::Index(i), Some(DeValue::Array(a))) => a.get(i),
            _ => None,
        };
        let Some(v) = found else { break };
        span = v.span();
        here = Some(v.get_ref());
    }
    span
}

/// The key path of the last key written at or before `offset` (a syntax
/// error has no serde path: this names what was being written there).
fn key_before(doc: &toml::de::DeTable<'_>, offset: usize) -> String {
    use toml::de::DeValue;
    fn walk(
        table: &toml::de::DeTable<'_>,
        prefix: &str,
        offset: usize,
        best: &mut (usize, String),
    ) {
        for (k, v) in table.iter() {
            let start = k.span().start;
            if start > offset {
                continue;
            }
            let path = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            if start >= best.0 {
                *best = (start, path.clone());
            }
            match v.get_ref() {
                DeValue::Table(t) => walk(t, &path, offset, best),
                DeValue::Array(a) => {
                    for (i, e) in a.iter().enumerate() {
                        if let DeValue::Table(t) = e.get_ref() {
                            walk(t, &format!("{path}[{i}]"), offset, best);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mut best = (0, String::new());
    walk(doc, "", offset, &mut best);
    if best.1.is_empty() {
        "(top level)".to_string()
    } else {
        best.1
    }
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        line_of(self.text, offset)
    }

    /// An error about the value at `key` (a path such as `modem[1].pin`).
    fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        let key = key.into();
        let line = self.line_of(span_of(self.doc, &key).start);
        invalid(self.path, line, key, message)
    }

    /// An error about element `index` of the array at `key`: the line is the
    /// element's, the key named is the array's.
    fn err_at(&self, key: &str, index: usize, message: impl Into<String>) -> ConfigError {
        let line = self.line_of(span_of(self.doc, &format!("{key}[{index}]")).start);
        invalid(self.path, line, key, message)
    }

    /// A type error, unknown key or missing key from serde: the key path
    /// comes from `serde_path_to_error`, the line from toml's span.
    fn serde_error(&self, e: serde_path_to_error::Error<toml::de::Error>) -> ConfigError {
        let key = match e.path().to_string() {
            p if p == "." => "(top level)".to_string(),
            p => p,
        };
        let inner = e.into_inner();
        let offset = inner
            .span()
            .map(|s| s.start)
            .unwrap_or_else(|| span_of(self.doc, &key).start);
        invalid(
            self.path,
            self.line_of(offset),
            key,
            one_line(inner.message()),
        )
    }
}

/// An error about `key` of the configuration `text` read from `path`, at the
/// line of that key: for checks made outside this module (`check-config`
/// looks up `[control] group` in the system's group database).
pub fn error_at(text: &str, path: &Path, key: &str, message: impl Into<String>) -> ConfigError {
    let line = toml::de::DeTable::parse(text)
        .map(|doc| line_of(text, span_of(doc.get_ref(), key).start))
        .unwrap_or(1);
    invalid(path, line, key, message)
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()
        .get(..end)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
        + 1
}

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn invalid(
    path: &Path,
    line: usize,
    key: impl Into<String>,
    message: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        key: key.into(),
        message: message.into(),
    }
}

impl Ctx<'_> {
    fn validate(&self, raw: RawFile) -> Result<Config, ConfigError> {
        let store = self.store(raw.store.unwrap_or_default())?;
        let control = self.control(raw.control.unwrap_or_default())?;
        let spool = self.spool(raw.spool.unwrap_or_default())?;
        let dispatch = self.dispatch(raw.dispatch.unwrap_or_default())?;
        let receive = self.receive(raw.receive.unwrap_or_default())?;
        let hooks = self.hooks(raw.hooks.unwrap_or_default())?;
        let webhooks = self.webhooks(raw.webhooks.unwrap_or_default())?;
        let webhook = self.webhook_endpoints(raw.webhook)?;
        let compat = self.compat(raw.compat.unwrap_or_default())?;
        let log = self.log(raw.log.unwrap_or_default())?;
        let http = self.http(raw.http.unwrap_or_default())?;
        let smpp = self.smpp(raw.smpp.unwrap_or_default())?;
        let optout = self.optout(raw.optout.unwrap_or_default())?;
        let verify = self.verify(raw.verify.unwrap_or_default())?;
        let cluster = self.cluster(raw.cluster.unwrap_or_default())?;
        let mut modems: Vec<ModemConfig> = Vec::with_capacity(raw.modem.len());
        for (i, m) in raw.modem.into_iter().enumerate() {
            let mc = self.modem(i, m, &dispatch)?;
            if modems.iter().any(|o| o.name == mc.name) {
                return Err(self.err(
                    format!("modem[{i}].name"),
                    format!("duplicate modem name {:?}", mc.name),
                ));
            }
            modems.push(mc);
        }
        let mut routes: Vec<Route> = Vec::with_capacity(raw.route.len());
        for (i, r) in raw.route.into_iter().enumerate() {
            let prefix = r.prefix.trim().to_string();
            let valid = match prefix.strip_prefix('+') {
                Some(rest) => rest.chars().all(|c| c.is_ascii_digit()),
                None => prefix.chars().all(|c| c.is_ascii_digit()),
            };
            if !valid {
                return Err(self.err(
                    format!("route[{i}].prefix"),
                    "must be digits with an optional leading '+' (empty matches every number)",
                ));
            }
            if routes.iter().any(|o| o.prefix == prefix) {
                return Err(self.err(
                    format!("route[{i}].prefix"),
                    format!("duplicate route prefix {prefix:?}"),
                ));
            }
            if r.modems.is_empty() {
                return Err(self.err(format!("route[{i}].modems"), "must name at least one modem"));
            }
            let mut names = Vec::new();
            for (j, n) in r.modems.into_iter().enumerate() {
                if !modems.iter().any(|m| m.name == n) {
                    return Err(self.err_at(
                        &format!("route[{i}].modems"),
                        j,
                        format!("no [[modem]] is named {n:?}"),
                    ));
                }
                names.push(n);
            }
            routes.push(Route {
                prefix,
                modems: names,
            });
        }
        Ok(Config {
            source: self.path.to_path_buf(),
            store,
            control,
            spool,
            dispatch,
            routes,
            receive,
            hooks,
            webhooks,
            webhook,
            compat,
            log,
            http,
            smpp,
            modems,
            optout,
            verify,
            cluster,
        })
    }

    fn keywords(
        &self,
        v: S<Vec<String>>,
        key: &str,
        default: &[&str],
    ) -> Result<Vec<String>, ConfigError> {
        let list = match v {
            None => return Ok(default.iter().map(|k| k.to_string()).collect()),
            Some(l) => l,
        };
        let mut out: Vec<String> = Vec::with_capacity(list.len());
        for (i, k) in list.iter().enumerate() {
            let k = k.trim().to_uppercase();
            if k.is_empty() {
                return Err(self.err_at(key, i, "a keyword cannot be empty"));
            }
            if !out.contains(&k) {
                out.push(k);
            }
        }
        Ok(out)
    }

    fn optout(&self, r: RawOptout) -> Result<OptoutConfig, ConfigError> {
        let keywords = self.keywords(r.keywords, "optout.keywords", DEFAULT_OPTOUT_KEYWORDS)?;
        let resubscribe = self.keywords(
            r.resubscribe,
            "optout.resubscribe",
            DEFAULT_RESUBSCRIBE_KEYWORDS,
        )?;
        if let Some(k) = resubscribe.iter().find(|k| keywords.contains(k)) {
            return Err(self.err(
                "optout.resubscribe",
                format!("{k:?} is also an opt-out keyword"),
            ));
        }
        let country = match r.country.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(crate::codec::e164::country(c).ok_or_else(|| {
                self.err(
                    "optout.country",
                    format!("unknown country {c:?} (an ISO 3166-1 alpha-2 code such as \"DE\")"),
                )
            })?),
        };
        Ok(OptoutConfig {
            keywords,
            resubscribe,
            reply: r.reply.unwrap_or_default(),
            resubscribe_reply: r.resubscribe_reply.unwrap_or_default(),
            country,
        })
    }

    fn verify(&self, r: RawVerify) -> Result<VerifyConfig, ConfigError> {
        let text = r.text.unwrap_or_else(|| DEFAULT_VERIFY_TEXT.to_string());
        if !text.contains("{{code}}") {
            return Err(self.err("verify.text", "must contain {{code}}"));
        }
        let length = r.length.unwrap_or(6);
        if !(4..=10).contains(&length) {
            return Err(self.err("verify.length", "must be 4 to 10 digits"));
        }
        Ok(VerifyConfig {
            text,
            ttl: self.duration(
                r.ttl,
                "verify.ttl",
                Duration::from_secs(600),
                Duration::from_secs(1),
                Some(Duration::from_secs(86_400)),
            )?,
            max_per_hour: r.max_per_hour.unwrap_or(5),
            length,
        })
    }

    fn cluster(&self, r: RawCluster) -> Result<ClusterConfig, ConfigError> {
        let node = match r.node {
            None => host_name(),
            Some(n) => {
                let n = n.trim().to_string();
                let ok = !n.is_empty()
                    && n.len() <= 64
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
                if !ok {
                    return Err(self.err(
                        "cluster.node",
                        "must be 1 to 64 letters, digits, '.', '-' or '_'",
                    ));
                }
                n
            }
        };
        let lease = self.duration(
            r.lease,
            "cluster.lease",
            Duration::from_secs(30),
            Duration::from_secs(2),
            Some(Duration::from_secs(3600)),
        )?;
        let orphan_after = self.duration(
            r.orphan_after,
            "cluster.orphan_after",
            Duration::from_secs(600),
            Duration::from_secs(1),
            None,
        )?;
        if orphan_after < lease {
            return Err(self.err(
                "cluster.orphan_after",
                format!(
                    "must be at least [cluster] lease ({})",
                    format_duration(lease)
                ),
            ));
        }
        Ok(ClusterConfig {
            node,
            lease,
            orphan_after,
        })
    }

    fn non_empty_path(
        &self,
        v: S<String>,
        key: &str,
        default: &str,
    ) -> Result<PathBuf, ConfigError> {
        match v {
            None => Ok(PathBuf::from(default)),
            Some(s) if s.trim().is_empty() => Err(self.err(key, "must not be empty")),
            Some(s) => Ok(PathBuf::from(s)),
        }
    }

    fn duration(
        &self,
        v: S<RawDuration>,
        key: &str,
        default: Duration,
        min: Duration,
        max: Option<Duration>,
    ) -> Result<Duration, ConfigError> {
        let Some(v) = v else {
            return Ok(default);
        };
        let d = parse_duration(&v.0).map_err(|m| self.err(key, m))?;
        if d < min {
            return Err(self.err(key, format!("must be at least {}", format_duration(min))));
        }
        if let Some(max) = max {
            if d > max {
                return Err(self.err(key, format!("must be at most {}", format_duration(max))));
            }
        }
        Ok(d)
    }

    fn int_range<T: Copy + PartialOrd + std::fmt::Display>(
        &self,
        v: S<T>,
        key: &str,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError> {
        let Some(v) = v else {
            return Ok(default);
        };
        let n = v;
        if n < min || n > max {
            return Err(self.err(key, format!("must be between {min} and {max}")));
        }
        Ok(n)
    }

    /// `[store] url` parsed as the PostgreSQL client will parse it when the
    /// daemon connects, so a malformed one is a config error here (with
    /// the parser's reason, never the password), not a failure at start.
    fn check_postgres_url(&self, url: &str) -> Result<(), ConfigError> {
        const FORM: &str = "postgresql://user:password@host:port/database";
        let bad = |why: String| self.err("store.url", format!("{why} (the form is {FORM})"));
        let parsed = url.parse::<postgres::Config>().map_err(|e| {
            // The client's error says "invalid connection string"; its
            // source says what (never the password).
            let why = std::error::Error::source(&e)
                .map(|s| format!("{e}: {s}"))
                .unwrap_or_else(|| e.to_string());
            bad(format!("not a valid PostgreSQL URL: {why}"))
        })?;
        if parsed.get_hosts().is_empty() {
            return Err(bad("names no host".into()));
        }
        if parsed.get_ports().contains(&0) {
            return Err(bad("port 0: the port must be 1 to 65535".into()));
        }
        Ok(())
    }

    fn store(&self, r: RawStore) -> Result<StoreConfig, ConfigError> {
        let url = match r.url {
            None => None,
            Some(_) if r.path.is_some() => {
                return Err(self.err(
                    "store.url",
                    "set either path (SQLite) or url (PostgreSQL), not both",
                ))
            }
            Some(u) => {
                let u = u.trim().to_string();
                let scheme_ok = ["postgresql://", "postgres://"]
                    .iter()
                    .any(|s| u.len() > s.len() && u.starts_with(s));
                if !scheme_ok {
                    return Err(self.err(
                        "store.url",
                        "must be a PostgreSQL URL: postgresql://user:password@host:port/database",
                    ));
                }
                self.check_postgres_url(&u)?;
                Some(u)
            }
        };
        Ok(StoreConfig {
            path: self.non_empty_path(r.path, "store.path", "/var/lib/smsgate/smsgate.db")?,
            url,
            resend_uncertain: r.resend_uncertain.unwrap_or(true),
            keep: self.duration(
                r.keep,
                "store.keep",
                Duration::from_secs(90 * 86_400),
                Duration::from_secs(3600),
                None,
            )?,
        })
    }

    fn control(&self, r: RawControl) -> Result<ControlConfig, ConfigError> {
        let mode = match r.mode {
            None => 0o660,
            Some(m) => {
                let t = m.trim();
                let ok =
                    !t.is_empty() && t.len() <= 4 && t.chars().all(|c| ('0'..='7').contains(&c));
                match u32::from_str_radix(t, 8) {
                    Ok(v) if ok => v,
                    _ => {
                        return Err(self.err(
                            "control.mode",
                            "must be an octal file mode such as \"0660\"",
                        ))
                    }
                }
            }
        };
        let group = match r.group {
            None => None,
            Some(g) if g.trim().is_empty() => None,
            Some(g) => {
                let t = g.trim();
                if !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
                {
                    return Err(self.err("control.group", "must be a group name"));
                }
                Some(t.to_string())
            }
        };
        Ok(ControlConfig {
            socket: self.non_empty_path(r.socket, "control.socket", "/run/smsgate/smsgate.sock")?,
            mode,
            group,
            max_request_bytes: usize::try_from(self.int_range(
                r.max_request_bytes,
                "control.max_request_bytes",
                65_536,
                1024,
                16 << 20,
            )?)
            .unwrap_or(usize::MAX),
            max_clients: usize::try_from(self.int_range(
                r.max_clients,
                "control.max_clients",
                256,
                1,
                65_536,
            )?)
            .unwrap_or(usize::MAX),
        })
    }

    fn spool(&self, r: RawSpool) -> Result<SpoolConfig, ConfigError> {
        let opt = |s: Option<String>| s.filter(|s| !s.trim().is_empty()).map(PathBuf::from);
        Ok(SpoolConfig {
            dir: self.non_empty_path(r.dir, "spool.dir", "/var/spool/smsgate")?,
            enabled: r.enabled.unwrap_or(true),
            scan_interval: self.duration(
                r.scan_interval,
                "spool.scan_interval",
                Duration::from_secs(60),
                Duration::from_secs(1),
                None,
            )?,
            max_file_bytes: self.int_range(
                r.max_file_bytes,
                "spool.max_file_bytes",
                65_536,
                64,
                crate::spool::format::MAX_PARSE_BYTES as u64,
            )?,
            sent_dir: opt(r.sent_dir),
            failed_copy_dir: opt(r.failed_copy_dir),
            incoming_dir: opt(r.incoming_dir),
            report_dir: opt(r.report_dir),
        })
    }

    fn dispatch(&self, r: RawDispatch) -> Result<DispatchConfig, ConfigError> {
        let policy = match r.policy {
            None => Policy::LeastLoaded,
            Some(p) => match p.trim() {
                "least-loaded" => Policy::LeastLoaded,
                "round-robin" => Policy::RoundRobin,
                "weighted" => Policy::Weighted,
                other => {
                    return Err(self.err("dispatch.policy",
                        format!("unknown policy {other:?}; expected \"least-loaded\", \"round-robin\" or \"weighted\""),
                    ))
                }
            },
        };
        let zero = Duration::ZERO;
        let one = Duration::from_secs(1);
        let retry_base = self.duration(
            r.retry_base,
            "dispatch.retry_base",
            Duration::from_secs(10),
            one,
            None,
        )?;
        let retry_max = self.duration(
            r.retry_max,
            "dispatch.retry_max",
            Duration::from_secs(600),
            one,
            None,
        )?;
        if retry_max < retry_base {
            return Err(self.err(
                "dispatch.retry_max",
                "must not be shorter than dispatch.retry_base",
            ));
        }
        let validity = self.duration(
            r.validity,
            "dispatch.validity",
            Duration::from_secs(2 * 86_400),
            Duration::from_secs(300),
            Some(VALIDITY_MAX),
        )?;
        let expire_after = match r.expire_after {
            Some(s) if s.0.trim().is_empty() => validity,
            other => self.duration(
                other,
                "dispatch.expire_after",
                validity,
                Duration::from_secs(60),
                None,
            )?,
        };
        let mut languages = Vec::new();
        for (j, l) in r.languages.into_iter().enumerate() {
            let id = match l {
                RawLanguage::Id(n) => u8::try_from(n).ok().filter(|n| (1..=13).contains(n)),
                RawLanguage::Name(s) => language_id(&s),
            };
            match id {
                Some(id) if !languages.contains(&id) => languages.push(id),
                Some(_) => {}
                None => {
                    return Err(self.err_at("dispatch.languages", j,
                        "unknown national language; use 1..13 or a name (turkish, spanish, portuguese, bengali, gujarati, hindi, kannada, malayalam, oriya, punjabi, tamil, telugu, urdu)",
                    ))
                }
            }
        }
        Ok(DispatchConfig {
            policy,
            sticky: r.sticky.unwrap_or(false),
            max_attempts: self.int_range(r.max_attempts, "dispatch.max_attempts", 5, 1, 100)?,
            retry_base,
            retry_max,
            failure_threshold: self.int_range(
                r.failure_threshold,
                "dispatch.failure_threshold",
                3,
                1,
                1000,
            )?,
            cooldown: self.duration(
                r.cooldown,
                "dispatch.cooldown",
                Duration::from_secs(300),
                zero,
                None,
            )?,
            validity,
            expire_after,
            languages,
            concat_ref16: r.concat_ref16.unwrap_or(false),
            send_timeout: self.duration(
                r.send_timeout,
                "dispatch.send_timeout",
                Duration::from_secs(120),
                SEND_TIMEOUT_MIN,
                Some(SEND_TIMEOUT_MAX),
            )?,
        })
    }

    fn receive(&self, r: RawReceive) -> Result<ReceiveConfig, ConfigError> {
        let one = Duration::from_secs(1);
        Ok(ReceiveConfig {
            incomplete_timeout: self.duration(
                r.incomplete_timeout,
                "receive.incomplete_timeout",
                Duration::from_secs(86_400),
                Duration::from_secs(60),
                None,
            )?,
            sweep_interval: self.duration(
                r.sweep_interval,
                "receive.sweep_interval",
                Duration::from_secs(300),
                one,
                None,
            )?,
            store_class0: r.store_class0.unwrap_or(true),
        })
    }

    fn webhooks(&self, r: RawWebhooks) -> Result<WebhooksConfig, ConfigError> {
        let retry = match r.retry {
            None => DEFAULT_WEBHOOK_RETRY
                .iter()
                .map(|s| parse_duration(s).unwrap_or(Duration::from_secs(60)))
                .collect(),
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for (i, d) in list.into_iter().enumerate() {
                    let d =
                        parse_duration(&d.0).map_err(|m| self.err_at("webhooks.retry", i, m))?;
                    if d > Duration::from_secs(7 * 86_400) {
                        return Err(self.err_at("webhooks.retry", i, "must be at most 7d"));
                    }
                    out.push(d);
                }
                out
            }
        };
        Ok(WebhooksConfig {
            timeout: self.duration(
                r.timeout,
                "webhooks.timeout",
                Duration::from_secs(15),
                Duration::from_millis(100),
                Some(Duration::from_secs(600)),
            )?,
            retry,
        })
    }

    fn webhook_endpoints(&self, raw: Vec<RawWebhook>) -> Result<Vec<WebhookConfig>, ConfigError> {
        use sha2::Digest as _;
        let mut out: Vec<WebhookConfig> = Vec::with_capacity(raw.len());
        for (i, w) in raw.into_iter().enumerate() {
            let key = |k: &str| format!("webhook[{i}].{k}");
            let url = w.url.trim().to_string();
            check_webhook_url(&url).map_err(|m| self.err(key("url"), m))?;
            let flavour = match w.flavour.as_deref() {
                None => Flavour::Native,
                Some(f) => Flavour::from_name(f)
                    .ok_or_else(|| self.err(key("flavour"), "must be \"native\" or \"android\""))?,
            };
            check_webhook_events(flavour, &w.events).map_err(|m| self.err(key("events"), m))?;
            if let Some(secret) = &w.secret {
                webhook_secret_key(secret).map_err(|m| self.err(key("secret"), m))?;
            }
            let id = match w.id {
                Some(id) => {
                    let ok = !id.is_empty()
                        && id.len() <= 64
                        && id
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
                        && !id.starts_with("wh_");
                    if !ok {
                        return Err(self.err(
                            key("id"),
                            "letters, digits, '_', '-' and '.', at most 64, not starting with \"wh_\" (API endpoints' ids)",
                        ));
                    }
                    id
                }
                None => {
                    let mut h = sha2::Sha256::new();
                    h.update(url.as_bytes());
                    for e in &w.events {
                        h.update(b"\n");
                        h.update(e.as_bytes());
                    }
                    let digest = hex::encode(h.finalize());
                    format!("cfg-{}", digest.get(..12).unwrap_or(&digest))
                }
            };
            if out.iter().any(|o| o.id == id) {
                return Err(self.err(
                    key("url"),
                    format!(
                        "a second endpoint with id {id:?} (same URL and events: give each an `id`)"
                    ),
                ));
            }
            out.push(WebhookConfig {
                id,
                url,
                events: w.events,
                secret: w.secret,
                flavour,
            });
        }
        Ok(out)
    }

    fn compat(&self, r: RawCompat) -> Result<CompatConfig, ConfigError> {
        let device_id = r.device_id.unwrap_or_else(|| "smsgate".into());
        if device_id.trim().is_empty() {
            return Err(self.err("compat.device_id", "must not be empty"));
        }
        Ok(CompatConfig {
            signing_key: r.signing_key.filter(|k| !k.is_empty()),
            device_id,
        })
    }

    fn smpp(&self, s: SmppConfig) -> Result<SmppConfig, ConfigError> {
        if !s.listen.is_empty() && s.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(self.err("smpp.listen", "must be ip:port, e.g. \"0.0.0.0:2775\""));
        }
        if s.max_sessions == 0 || s.window == 0 {
            return Err(self.err("smpp", "max_sessions and window must be at least 1"));
        }
        for (i, a) in s.accounts.iter().enumerate() {
            if a.system_id.is_empty() || a.system_id.len() > 15 {
                return Err(self.err(format!("smpp.account[{i}].system_id"), "1 to 15 characters"));
            }
            if a.password.len() > 8 {
                return Err(self.err(
                    format!("smpp.account[{i}].password"),
                    "at most 8 characters (SMPP 3.4)",
                ));
            }
            if s.accounts
                .iter()
                .take(i)
                .any(|o| o.system_id == a.system_id)
            {
                return Err(self.err(
                    format!("smpp.account[{i}].system_id"),
                    format!("duplicate system_id {:?}", a.system_id),
                ));
            }
        }
        Ok(s)
    }

    fn hooks(&self, r: RawHooks) -> Result<HooksConfig, ConfigError> {
        let argv = |v: S<Vec<String>>, key: &str| -> Result<Option<Vec<String>>, ConfigError> {
            let Some(v) = v else {
                return Ok(None);
            };
            let Some(prog) = v.first() else {
                return Err(self.err(
                    key,
                    "argv must not be empty: [\"/path/to/program\", \"arg\", ...]",
                ));
            };
            if !Path::new(prog).is_absolute() {
                return Err(self.err(key, format!("program {prog:?} must be an absolute path (hooks run without a shell or $PATH)")));
            }
            Ok(Some(v))
        };
        Ok(HooksConfig {
            received: argv(r.received, "hooks.received")?,
            sent: argv(r.sent, "hooks.sent")?,
            delivered: argv(r.delivered, "hooks.delivered")?,
            failed: argv(r.failed, "hooks.failed")?,
            report: argv(r.report, "hooks.report")?,
            modem_up: argv(r.modem_up, "hooks.modem_up")?,
            modem_down: argv(r.modem_down, "hooks.modem_down")?,
            timeout: self.duration(
                r.timeout,
                "hooks.timeout",
                Duration::from_secs(30),
                Duration::from_secs(1),
                None,
            )?,
            max_concurrent: usize::try_from(self.int_range(
                r.max_concurrent,
                "hooks.max_concurrent",
                4,
                1,
                1024,
            )?)
            .unwrap_or(usize::MAX),
        })
    }

    fn http(&self, r: RawHttp) -> Result<HttpConfig, ConfigError> {
        let d = HttpConfig::default();
        let listen = match r.listen.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => Some(t.parse::<std::net::SocketAddr>().map_err(|_| {
                self.err(
                    "http.listen",
                    "must be an address and port such as \"127.0.0.1:8080\" or \"[::]:8080\"",
                )
            })?),
        };
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Ok(HttpConfig {
            listen,
            rate: u32::try_from(self.int_range(r.rate, "http.rate", 0, 0, 1_000_000)?)
                .unwrap_or(u32::MAX),
            max_body_bytes: size(self.int_range(
                r.max_body_bytes,
                "http.max_body_bytes",
                d.max_body_bytes as u64,
                1024,
                64 << 20,
            )?),
            max_connections: size(self.int_range(
                r.max_connections,
                "http.max_connections",
                d.max_connections as u64,
                1,
                65_536,
            )?),
            header_timeout: self.duration(
                r.header_timeout,
                "http.header_timeout",
                d.header_timeout,
                Duration::from_secs(1),
                Some(Duration::from_secs(300)),
            )?,
            request_timeout: self.duration(
                r.request_timeout,
                "http.request_timeout",
                d.request_timeout,
                Duration::from_secs(1),
                Some(Duration::from_secs(3600)),
            )?,
            metrics_token: r.metrics_token.unwrap_or(d.metrics_token),
        })
    }

    fn log(&self, r: RawLog) -> Result<LogConfig, ConfigError> {
        let Some(l) = r.level else {
            return Ok(LogConfig {
                level: "info".to_string(),
            });
        };
        let t = l.trim();
        if t.is_empty() {
            return Err(self.err("log.level", "must not be empty (e.g. \"info\")"));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(t) {
            return Err(self.err("log.level", format!("not a level or filter: {e}")));
        }
        Ok(LogConfig {
            level: t.to_string(),
        })
    }

    fn modem(
        &self,
        i: usize,
        r: RawModem,
        dispatch: &DispatchConfig,
    ) -> Result<ModemConfig, ConfigError> {
        let k = |f: &str| format!("modem[{i}].{f}");
        let name = r.name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(self.err(
                k("name"),
                "must be letters, digits, '_' or '-' (and not empty)",
            ));
        }
        if r.device.trim().is_empty() {
            return Err(self.err(k("device"), "must not be empty"));
        }
        let mut m = ModemConfig::with_defaults(name, Path::new(&r.device), dispatch.send_timeout);
        m.enabled = r.enabled.unwrap_or(true);
        if let Some(b) = r.baud {
            if !BAUD_RATES.contains(&b) {
                return Err(self.err(
                    k("baud"),
                    format!("unsupported baud rate {}; use one of {BAUD_RATES:?}", b),
                ));
            }
            m.baud = b;
        }
        if let Some(p) = r.pin {
            let t = p.trim();
            if !t.is_empty() {
                if !(4..=8).contains(&t.len()) || !t.chars().all(|c| c.is_ascii_digit()) {
                    return Err(self.err(k("pin"), "must be 4 to 8 digits"));
                }
                m.pin = Some(t.to_string());
            }
        }
        if let Some(v) = r.mode {
            m.mode = match v.trim().to_ascii_lowercase().as_str() {
                "auto" => ModemMode::Auto,
                "pdu" => ModemMode::Pdu,
                "text" => ModemMode::Text,
                _ => return Err(self.err(k("mode"), "must be \"auto\", \"pdu\" or \"text\"")),
            };
        }
        if let Some(v) = r.cnmi {
            let t = v.trim();
            let parts: Vec<&str> = t.split(',').map(str::trim).collect();
            if parts.is_empty()
                || parts.len() > 5
                || !parts
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 1 && p.chars().all(|c| c.is_ascii_digit()))
            {
                return Err(self.err(
                    k("cnmi"),
                    "must be up to 5 comma-separated digits, e.g. \"2,1,0,2,0\"",
                ));
            }
            m.cnmi = parts.join(",");
        }
        let storage_ok = |s: &str| s.len() == 2 && s.chars().all(|c| c.is_ascii_uppercase());
        if let Some(v) = r.storage {
            let t = v.trim().to_ascii_uppercase();
            if !storage_ok(&t) {
                return Err(self.err(
                    k("storage"),
                    "must be a two-letter memory name such as \"SM\", \"ME\" or \"MT\"",
                ));
            }
            m.storage = t;
        }
        if let Some(v) = r.report_storage {
            let t = v.trim().to_ascii_uppercase();
            if !t.is_empty() {
                if !storage_ok(&t) {
                    return Err(self.err(
                        k("report_storage"),
                        "must be empty or a two-letter memory name such as \"SR\"",
                    ));
                }
                m.report_storage = Some(t);
            }
        }
        if let Some(v) = r.smsc {
            let t: String = v.chars().filter(|c| !c.is_whitespace()).collect();
            if !t.is_empty() {
                let digits = t.strip_prefix('+').unwrap_or(&t);
                if digits.is_empty()
                    || digits.len() > 20
                    || !digits.chars().all(|c| c.is_ascii_digit())
                {
                    return Err(self.err(
                        k("smsc"),
                        "must be a number: digits with an optional leading '+'",
                    ));
                }
                m.smsc = Some(t);
            }
        }
        for (j, c) in r.init.iter().enumerate() {
            let t = c.trim();
            if !t.to_ascii_uppercase().starts_with("AT") || t.contains(['\r', '\n']) {
                return Err(self.err_at(
                    &k("init"),
                    j,
                    format!("command {t:?} must start with AT and be one line"),
                ));
            }
            m.init.push(t.to_string());
        }
        if let Some(v) = r.quirks {
            m.quirks = quirks_from_name(&v).ok_or_else(|| {
                self.err(
                    k("quirks"),
                    format!("unknown quirks {:?}; expected {QUIRKS_EXPECTED}", v.trim()),
                )
            })?;
        }
        m.weight = self.int_range(r.weight, &k("weight"), 1, 1, 1000)?;
        for (j, q) in r.queues.iter().enumerate() {
            let t = q.trim();
            if t.is_empty()
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(self.err_at(
                    &k("queues"),
                    j,
                    format!("queue name {t:?} must be letters, digits, '_' or '-'"),
                ));
            }
            m.queues.push(t.to_string());
        }
        m.per_minute = r.per_minute.unwrap_or(0);
        m.per_hour = r.per_hour.unwrap_or(0);
        m.per_day = r.per_day.unwrap_or(0);
        m.send_timeout = match r.send_timeout {
            Some(s) if s.0.trim().is_empty() => dispatch.send_timeout,
            other => self.duration(
                other,
                &k("send_timeout"),
                dispatch.send_timeout,
                SEND_TIMEOUT_MIN,
                Some(SEND_TIMEOUT_MAX),
            )?,
        };
        m.health_interval = self.duration(
            r.health_interval,
            &k("health_interval"),
            Duration::from_secs(60),
            Duration::from_secs(5),
            None,
        )?;
        m.radio_reset = r.radio_reset.unwrap_or(false);
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_str(text, Path::new("/etc/smsgate/smsgate.toml"))
    }

    #[test]
    fn smpp_section() {
        let acct = |id: &str, pw: &str| {
            format!("[[smpp.account]]\nsystem_id = \"{id}\"\npassword = \"{pw}\"\n")
        };
        let cases: Vec<(String, bool)> = vec![
            (String::new(), true),
            ("[smpp]\nlisten = \"127.0.0.1:2775\"\n".into(), true),
            (
                format!(
                    "[smpp]\nlisten = \"0.0.0.0:2775\"\nbind_timeout = \"5s\"\n{}",
                    acct("a", "12345678")
                ),
                true,
            ),
            ("[smpp]\nlisten = \"nowhere\"\n".into(), false),
            ("[smpp]\nwindow = 0\n".into(), false),
            ("[smpp]\nbind_timeout = \"soon\"\n".into(), false),
            ("[smpp]\nlisen = \"x\"\n".into(), false),
            (acct("a", "123456789"), false),
            (acct("", "x"), false),
            (acct("sixteen-chars-id", "x"), false),
            (format!("{}{}", acct("a", "x"), acct("a", "y")), false),
        ];
        for (text, ok) in cases {
            assert_eq!(load(&text).is_ok(), ok, "{text}");
        }
        let c = load(&format!(
            "{}max_tps = 5\nreceive_mo = true\n",
            acct("k", "pw")
        ))
        .unwrap();
        assert_eq!(c.smpp.listen, "");
        let a = c.smpp.account("k").unwrap();
        assert_eq!((a.max_tps, a.receive_mo), (5, true));
        assert_eq!(c.smpp.bind_timeout, Duration::from_secs(10));
    }

    const MODEMS: &str = "[[modem]]\nname = \"sim1\"\ndevice = \"/dev/ttyUSB0\"\n\n[[modem]]\nname = \"sim2\"\ndevice = \"/dev/ttyUSB1\"\n";

    /// Each case: the text and the exact `path:line: key:` prefix expected.
    fn check(text: &str, prefix: &str) {
        match load(text) {
            Ok(_) => panic!("accepted a bad config, expected {prefix:?}:\n{text}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.starts_with(prefix),
                    "for config:\n{text}\nexpected prefix {prefix:?}, got {msg:?}"
                );
                assert!(!msg.contains('\n'), "message spans lines: {msg:?}");
            }
        }
    }

    #[test]
    fn a_malformed_store_url_is_refused_without_its_password() {
        for url in [
            "postgresql://gw:hunter2@db:port/smsgate",
            "postgresql://gw:hunter2@db:5432/smsgate?sslmode=maybe",
            "postgresql://gw:hunter2@[::1/smsgate",
        ] {
            let text = format!("[store]\nurl = \"{url}\"\n");
            let msg = load(&text).expect_err(url).to_string();
            assert!(msg.contains(":2: store.url: "), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }

    #[test]
    fn bad_configs_name_file_line_and_key() {
        let p = "/etc/smsgate/smsgate.toml";
        let cases: Vec<(String, String)> = vec![
            // syntax error
            ("[store]\npath = \n".into(), format!("{p}:2: store.path:")),
            // unknown key in a table
            ("[store]\npath = \"/x\"\nbogus = 1\n".into(), format!("{p}:3: store.bogus: unknown field")),
            // both engines at once
            ("[store]\npath = \"/x\"\nurl = \"postgresql://h/db\"\n".into(), format!("{p}:3: store.url: set either path")),
            ("[store]\nurl = \"mysql://h/db\"\n".into(), format!("{p}:2: store.url: must be a PostgreSQL URL")),
            // malformed PostgreSQL URLs: the parser's reason, never a panic
            ("[store]\nkeep = \"30d\"\nurl = \"postgresql://u:pw@h:port/db\"\n".into(), format!("{p}:3: store.url: not a valid PostgreSQL URL: ")),
            ("[store]\nurl = \"postgresql://u@h:99999/db\"\n".into(), format!("{p}:2: store.url: not a valid PostgreSQL URL: ")),
            ("[store]\nurl = \"postgresql://u@h:0/db\"\n".into(), format!("{p}:2: store.url: port 0")),
            ("[store]\nurl = \"postgresql://u@h:-1/db\"\n".into(), format!("{p}:2: store.url: not a valid PostgreSQL URL: ")),
            ("[store]\nurl = \"postgresql:///db\"\n".into(), format!("{p}:2: store.url: names no host")),
            ("[store]\nurl = \"postgresql://h/db?sslmode=sometimes\"\n".into(), format!("{p}:2: store.url: not a valid PostgreSQL URL: ")),
            ("[store]\nurl = \"postgresql://h/db?connect_timeout=soon\"\n".into(), format!("{p}:2: store.url: not a valid PostgreSQL URL: ")),
            ("[store]\nurl = \"postgresql://[::1/db\"\n".into(), format!("{p}:2: store.url: not a valid PostgreSQL URL: ")),
            ("[store]\nurl = \"postgresql://h/db?bogus=1\"\n".into(), format!("{p}:2: store.url: not a valid PostgreSQL URL: ")),
            ("[cluster]\nnode = \"a b\"\n".into(), format!("{p}:2: cluster.node: must be")),
            ("[cluster]\nlease = \"1s\"\n".into(), format!("{p}:2: cluster.lease: must be at least 2s")),
            ("[cluster]\nlease = \"1m\"\norphan_after = \"30s\"\n".into(), format!("{p}:3: cluster.orphan_after: must be at least [cluster] lease")),
            ("[cluster]\nnodes = \"x\"\n".into(), format!("{p}:2: cluster.nodes: unknown field")),
            // unknown top-level table
            ("[stor]\npath = \"/x\"\n".into(), format!("{p}:1: stor: unknown field")),
            // unknown key in a modem
            (format!("{MODEMS}pinn = \"1234\"\n"), format!("{p}:8: modem[1].pinn: unknown field")),
            // wrong type
            ("[spool]\nenabled = \"yes\"\n".into(), format!("{p}:2: spool.enabled:")),
            ("[http]\nlisten = \"8080\"\n".into(), format!("{p}:2: http.listen: must be an address")),
            ("[http]\nrate = -1\n".into(), format!("{p}:2: http.rate:")),
            ("[http]\nmax_connections = 0\n".into(), format!("{p}:2: http.max_connections:")),
            ("[http]\nheader_timeout = \"0s\"\n".into(), format!("{p}:2: http.header_timeout:")),
            ("[http]\nlisten = \"127.0.0.1:8080\"\ntoken = \"x\"\n".into(), format!("{p}:3: http.token: unknown field")),
            // bare integer duration
            ("[spool]\nscan_interval = 60\n".into(), format!("{p}:2: spool.scan_interval: bare number 60")),
            // bad duration unit
            ("[dispatch]\nretry_base = \"10x\"\n".into(), format!("{p}:2: dispatch.retry_base: bad duration \"10x\": unknown time unit \"x\"")),
            ("[dispatch]\nretry_base = \"10\"\n".into(), format!("{p}:2: dispatch.retry_base: bad duration \"10\": time unit needed")),
            ("[dispatch]\nretry_base = \"1m\"\nretry_max = \"30s\"\n".into(), format!("{p}:3: dispatch.retry_max: must not be shorter")),
            ("[dispatch]\npolicy = \"random\"\n".into(), format!("{p}:2: dispatch.policy: unknown policy")),
            ("[dispatch]\nsend_timeout = \"10s\"\n".into(), format!("{p}:2: dispatch.send_timeout: must be at least 1m")),
            ("[dispatch]\nlanguages = [\"klingon\"]\n".into(), format!("{p}:2: dispatch.languages: unknown national language")),
            ("[dispatch]\nlanguages = [14]\n".into(), format!("{p}:2: dispatch.languages: unknown national language")),
            ("[dispatch]\nvalidity = \"70w\"\n".into(), format!("{p}:2: dispatch.validity: must be at most 63w")),
            ("[dispatch]\nmax_attempts = 0\n".into(), format!("{p}:2: dispatch.max_attempts: must be between 1 and 100")),
            ("[dispatch]\nmax_attempts = -1\n".into(), format!("{p}:2: dispatch.max_attempts:")),
            ("[control]\nmode = \"0689\"\n".into(), format!("{p}:2: control.mode: must be an octal")),
            ("[control]\nmax_clients = 0\n".into(), format!("{p}:2: control.max_clients:")),
            ("[spool]\nmax_file_bytes = 2000000\n".into(), format!("{p}:2: spool.max_file_bytes: must be between 64 and 1048576")),
            ("[store]\npath = \"\"\n".into(), format!("{p}:2: store.path: must not be empty")),
            ("[log]\nlevel = \"info,[\"\n".into(), format!("{p}:2: log.level: not a level")),
            ("[hooks]\nreceived = []\n".into(), format!("{p}:2: hooks.received: argv must not be empty")),
            ("[hooks]\nsent = [\"notify.sh\"]\n".into(), format!("{p}:2: hooks.sent: program \"notify.sh\" must be an absolute path")),
            // modem errors: the line of the offending key
            (format!("{MODEMS}pin = \"12\"\n"), format!("{p}:8: modem[1].pin: must be 4 to 8 digits")),
            (format!("{MODEMS}pin = \"12a4\"\n"), format!("{p}:8: modem[1].pin: must be 4 to 8 digits")),
            (format!("{MODEMS}mode = \"binary\"\n"), format!("{p}:8: modem[1].mode: must be \"auto\", \"pdu\" or \"text\"")),
            (format!("{MODEMS}baud = 12345\n"), format!("{p}:8: modem[1].baud: unsupported baud rate")),
            (format!("{MODEMS}init = [\"ATE0\", \"CMEE=2\"]\n"), format!("{p}:8: modem[1].init: command \"CMEE=2\" must start with AT")),
            (format!("{MODEMS}quirks = \"nokia\"\n"), format!("{p}:8: modem[1].quirks: unknown quirks")),
            (format!("{MODEMS}weight = 0\n"), format!("{p}:8: modem[1].weight: must be between 1 and 1000")),
            (format!("{MODEMS}send_timeout = \"200s\"\n"), format!("{p}:8: modem[1].send_timeout: must be at most 3m")),
            (format!("{MODEMS}smsc = \"+49x\"\n"), format!("{p}:8: modem[1].smsc: must be a number")),
            (format!("{MODEMS}cnmi = \"2,1,0,2,0,1\"\n"), format!("{p}:8: modem[1].cnmi:")),
            (format!("{MODEMS}storage = \"S\"\n"), format!("{p}:8: modem[1].storage:")),
            (format!("{MODEMS}queues = [\"a b\"]\n"), format!("{p}:8: modem[1].queues:")),
            ("[[modem]]\nname = \"sim 1\"\ndevice = \"/dev/x\"\n".into(), format!("{p}:2: modem[0].name: must be letters")),
            ("[[modem]]\nname = \"sim1\"\ndevice = \"\"\n".into(), format!("{p}:3: modem[0].device: must not be empty")),
            ("[[modem]]\nname = \"a\"\ndevice = \"/d\"\n[[modem]]\nname = \"a\"\ndevice = \"/e\"\n".into(), format!("{p}:5: modem[1].name: duplicate modem name \"a\"")),
            ("[[modem]]\nname = \"a\"\n".into(), format!("{p}:1: modem[0]: missing field `device`")),
            // routes
            (format!("{MODEMS}[[route]]\nprefix = \"+49\"\nmodems = [\"sim1\", \"sim9\"]\n"), format!("{p}:10: route[0].modems: no [[modem]] is named \"sim9\"")),
            (format!("{MODEMS}[[route]]\nprefix = \"+4x\"\nmodems = [\"sim1\"]\n"), format!("{p}:9: route[0].prefix: must be digits")),
            (format!("{MODEMS}[[route]]\nprefix = \"+49\"\nmodems = []\n"), format!("{p}:10: route[0].modems: must name at least one modem")),
            (format!("{MODEMS}[[route]]\nprefix = \"+49\"\nmodems = [\"sim1\"]\n[[route]]\nprefix = \"+49\"\nmodems = [\"sim2\"]\n"), format!("{p}:12: route[1].prefix: duplicate")),
            // inline tables and sub-tables of an array element
            ("store = { path = 5 }\n".into(), format!("{p}:1: store.path: invalid type")),
            ("[[modem]]\nname = \"a\"\ndevice = \"/d\"\n[modem.x]\n".into(), format!("{p}:4: modem[0].x: unknown field")),
            ("store.path = 5\n".into(), format!("{p}:1: store.path: invalid type")),
            ("[store]\npath = \"/x\"\n[store]\n".into(), format!("{p}:3: store: duplicate key")),
            // multi-line array: the key's value continues on the next lines
            ("[hooks]\nreceived = [\n  \"/bin/true\",\n  3,\n]\n".into(), format!("{p}:4: hooks.received[1]: invalid type")),
        ];
        assert!(!cases.is_empty());
        for (text, prefix) in &cases {
            check(text, prefix);
        }
    }

    #[test]
    fn webhook_tables_are_checked() {
        let p = "/etc/smsgate/smsgate.toml";
        let w = "[[webhook]]\nurl = \"http://127.0.0.1:9000/in\"\n";
        let cases: Vec<(String, String)> = vec![
            (
                "[[webhook]]\nurl = \"ftp://x/\"\n".into(),
                format!("{p}:2: webhook[0].url: scheme \"ftp\""),
            ),
            (
                "[[webhook]]\nurl = \"not a url\"\n".into(),
                format!("{p}:2: webhook[0].url: not a URL"),
            ),
            (
                "[[webhook]]\nevents = []\n".into(),
                format!("{p}:1: webhook[0]: missing field `url`"),
            ),
            (
                format!("{w}events = [\"sent\", \"launched\"]\n"),
                format!("{p}:3: webhook[0].events: unknown event type \"launched\""),
            ),
            (
                format!("{w}secret = \"hunter2\"\n"),
                format!("{p}:3: webhook[0].secret: must start with \"whsec_\""),
            ),
            (
                format!("{w}secret = \"whsec_c2hvcnQ=\"\n"),
                format!("{p}:3: webhook[0].secret: the key is 5 bytes"),
            ),
            (
                format!("{w}secret = \"whsec_!!\"\n"),
                format!("{p}:3: webhook[0].secret: the part after"),
            ),
            (
                format!("{w}flavour = \"ios\"\n"),
                format!("{p}:3: webhook[0].flavour: must be"),
            ),
            (
                format!("{w}flavour = \"android\"\nevents = [\"sent\"]\n"),
                format!("{p}:4: webhook[0].events: an android endpoint has exactly one event"),
            ),
            (
                format!("{w}id = \"wh_1\"\n"),
                format!("{p}:3: webhook[0].id: letters"),
            ),
            (
                format!("{w}{w}"),
                format!("{p}:4: webhook[1].url: a second endpoint with id"),
            ),
            (
                format!("{w}colour = 1\n"),
                format!("{p}:3: webhook[0].colour: unknown field"),
            ),
            (
                "[webhooks]\ntimeout = \"10ms\"\n".into(),
                format!("{p}:2: webhooks.timeout: must be at least 100ms"),
            ),
            (
                "[webhooks]\nretry = [\"5s\", \"soon\"]\n".into(),
                format!("{p}:2: webhooks.retry: bad duration \"soon\""),
            ),
            (
                "[webhooks]\nretry = [\"8d\"]\n".into(),
                format!("{p}:2: webhooks.retry: must be at most 7d"),
            ),
            (
                "[compat]\ndevice_id = \" \"\n".into(),
                format!("{p}:2: compat.device_id: must not be empty"),
            ),
        ];
        for (text, prefix) in &cases {
            check(text, prefix);
        }
        // Good ones: defaults, ids derived from URL and events, flavours.
        let c = load("").expect("empty");
        assert_eq!(c.webhooks.timeout, Duration::from_secs(15));
        assert_eq!(c.webhooks.retry.len(), 9);
        assert_eq!(c.webhooks.retry[0], Duration::from_secs(5));
        assert_eq!(c.webhooks.retry[8], Duration::from_secs(86_400));
        assert!(c.webhook.is_empty());
        assert_eq!(
            c.compat,
            CompatConfig {
                signing_key: None,
                device_id: "smsgate".into()
            }
        );
        let c = load(&format!(
            "{w}{w}events = [\"sent\"]\n[[webhook]]\nid = \"phone\"\nurl = \"https://app.lan/sms\"\nflavour = \"android\"\nevents = [\"sms:received\"]\n[webhooks]\nretry = []\n"
        ))
        .expect("valid");
        assert_eq!(c.webhook.len(), 3);
        assert!(c.webhook[0].id.starts_with("cfg-") && c.webhook[0].id.len() == 16);
        assert_ne!(c.webhook[0].id, c.webhook[1].id, "other events, other id");
        assert_eq!(c.webhook[2].id, "phone");
        assert_eq!(c.webhook[2].flavour, Flavour::Android);
        assert!(c.webhooks.retry.is_empty());
        assert_eq!(
            load(w).expect("valid").webhook[0].id,
            c.webhook[0].id,
            "stable ids"
        );
    }

    #[test]
    fn postgresql_store_and_cluster() {
        let c = load(
            "[store]\nurl = \"postgresql://gw:secret@db.example:5432/smsgate\"\n\
             [cluster]\nnode = \"gw-2\"\nlease = \"20s\"\norphan_after = \"5m\"\n",
        )
        .expect("valid");
        assert_eq!(
            c.store.url.as_deref(),
            Some("postgresql://gw:secret@db.example:5432/smsgate")
        );
        assert_eq!(c.cluster.node, "gw-2");
        assert_eq!(c.cluster.lease, Duration::from_secs(20));
        assert_eq!(c.cluster.orphan_after, Duration::from_secs(300));
        let summary = c.summary();
        assert!(
            summary.contains("postgresql://gw@db.example:5432/smsgate"),
            "{summary}"
        );
        assert!(!summary.contains("secret"), "{summary}");
        assert!(summary.contains("cluster:  node gw-2"), "{summary}");
        let d = load("").expect("valid");
        assert_eq!(d.store.url, None);
        assert_eq!(d.cluster.node, host_name());
        assert_eq!(d.cluster.lease, Duration::from_secs(30));
        assert_eq!(d.cluster.orphan_after, Duration::from_secs(600));
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = load("").expect("empty is valid");
        assert_eq!(c.store.path, PathBuf::from("/var/lib/smsgate/smsgate.db"));
        assert!(c.store.resend_uncertain);
        assert_eq!(c.control.mode, 0o660);
        assert_eq!(c.control.group, None);
        assert_eq!(c.spool.scan_interval, Duration::from_secs(60));
        assert_eq!(c.dispatch.validity, Duration::from_secs(172_800));
        assert_eq!(c.dispatch.expire_after, c.dispatch.validity);
        assert_eq!(c.dispatch.send_timeout, Duration::from_secs(120));
        assert_eq!(c.log.level, "info");
        assert!(c.modems.is_empty());
        assert_eq!(c.http, HttpConfig::default());
        assert_eq!(c.http.listen, None);
        let c = load("[http]\nlisten = \"[::]:8080\"\nrate = 50\n").expect("valid");
        assert_eq!(c.http.listen, Some("[::]:8080".parse().unwrap()));
        assert_eq!(c.http.rate, 50);
        assert_eq!(Config::default().store, c.store);
    }

    #[test]
    fn full_modem_and_routes() {
        let text = format!(
            "{MODEMS}pin = \"1234\"\nsend_timeout = \"90s\"\ninit = [\"AT+CMEE=2\"]\nqueues = [\"bulk\"]\n\
             [[route]]\nprefix = \"+49\"\nmodems = [\"sim1\", \"sim2\"]\n\
             [dispatch]\nlanguages = [\"turkish\", 2, \"Turkish\"]\nexpire_after = \"\"\n"
        );
        let c = load(&text).expect("valid");
        let s2 = c.modem("sim2").expect("sim2");
        assert_eq!(s2.pin.as_deref(), Some("1234"));
        assert_eq!(s2.send_timeout, Duration::from_secs(90));
        assert_eq!(s2.init, vec!["AT+CMEE=2".to_string()]);
        assert_eq!(
            c.modem("sim1").expect("sim1").send_timeout,
            Duration::from_secs(120)
        );
        assert_eq!(
            c.routes,
            vec![Route {
                prefix: "+49".into(),
                modems: vec!["sim1".into(), "sim2".into()]
            }]
        );
        assert_eq!(c.dispatch.languages, vec![1, 2]);
        assert!(c.modem("sim3").is_none());
        assert!(c.summary().contains("sim2 /dev/ttyUSB1"));
    }

    #[test]
    fn diff_reports_added_removed_changed() {
        let a = load("[[modem]]\nname = \"a\"\ndevice = \"/d/a\"\n[[modem]]\nname = \"b\"\ndevice = \"/d/b\"\n[[modem]]\nname = \"c\"\ndevice = \"/d/c\"\n").expect("a");
        let b = load("[[modem]]\nname = \"a\"\ndevice = \"/d/a\"\n[[modem]]\nname = \"c\"\ndevice = \"/d/c2\"\n[[modem]]\nname = \"d\"\ndevice = \"/d/d\"\n").expect("b");
        let d = a.diff(&b);
        assert_eq!(
            d,
            ModemDiff {
                added: vec!["d".into()],
                removed: vec!["b".into()],
                changed: vec!["c".into()]
            }
        );
        assert!(a.diff(&a).is_empty());
    }

    fn check_duration(s: &str, want: Option<u64>) {
        assert_eq!(
            parse_duration(s).ok().map(|d| d.as_secs()),
            want,
            "for {s:?}"
        );
    }

    #[test]
    fn durations() {
        let cases: &[(&str, Option<u64>)] = &[
            ("90s", Some(90)),
            ("5m", Some(300)),
            ("12h", Some(43_200)),
            ("2d", Some(172_800)),
            ("1w", Some(604_800)),
            ("1h30m", Some(5400)),
            (" 0s ", Some(0)),
            ("1500ms", Some(1)),
            ("1m30s250ms", Some(90)),
            ("", None),
            ("10", None),
            ("m", None),
            ("1.5h", Some(5400)),
            ("90d", Some(7_776_000)),
            ("1h 30m", Some(5400)),
            ("-1s", None),
            ("99999999999999999999s", None),
            ("9999999999999999w", None),
            ("5ms5", None),
            ("ms", None),
            ("1sm", None),
            ("2S", None),
        ];
        assert!(!cases.is_empty());
        for (s, want) in cases {
            check_duration(s, *want);
        }
    }

    #[test]
    fn language_ids() {
        assert_eq!(language_id("Turkish"), Some(1));
        assert_eq!(language_id("urdu"), Some(13));
        assert_eq!(language_id("13"), Some(13));
        assert_eq!(language_id("0"), None);
        assert_eq!(language_id("assamese"), Some(4));
    }

    proptest::proptest! {
        #[test]
        fn duration_format_round_trips(ms in 0u64..100_000_000_000) {
            let d = Duration::from_millis(ms);
            proptest::prop_assert_eq!(parse_duration(&format_duration(d)).ok(), Some(d));
        }

        #[test]
        fn never_panics_and_errors_are_one_line(text in "\\PC{0,200}") {
            if let Err(e) = load(&text) {
                let msg = e.to_string();
                proptest::prop_assert!(!msg.contains('\n'));
            }
        }
    }
}
