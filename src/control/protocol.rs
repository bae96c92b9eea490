//! The control protocol: JSON Lines over a Unix stream socket, version
//! [`PROTOCOL_VERSION`]. Pure types and parsing; no I/O. `docs/PROTOCOL.md`
//! documents every request with an example.
//!
//! A request is one JSON object on one line, `{"cmd": "...", ...}`, with an
//! optional `"id"` that is echoed in the reply. A reply is one line:
//! `{"id": ..., "ok": true, "result": ...}` or
//! `{"id": ..., "ok": false, "error": {"code": "...", "message": "..."}}`.
//! `watch` answers once and then streams `{"event": {...}}` lines.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol version, reported by `version` and `status`.
pub const PROTOCOL_VERSION: u32 = 2;

/// A request after parsing: the echoed id and the command.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub id: Option<Value>,
    pub request: Request,
}

/// Every command the daemon understands.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The protocol and daemon version.
    Version {},
    /// Queue a message; answered only after it is durable.
    Send(SendArgs),
    /// The daemon, its modems and the queue.
    Status {},
    /// One outgoing message with its parts.
    Show {
        message: i64,
    },
    /// Outgoing messages, newest first.
    Outbox {
        #[serde(default)]
        state: Option<String>,
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Received messages, oldest first after `since`.
    Inbox {
        #[serde(default)]
        since: Option<i64>,
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Cancel a queued message.
    Cancel {
        message: i64,
    },
    /// Requeue a failed, expired or cancelled message.
    Retry {
        message: i64,
    },
    /// Run a USSD code on one modem.
    Ussd {
        modem: String,
        code: String,
    },
    /// Re-read the configuration.
    Reload {},
    /// Delete what `[store] keep` says is old enough, now.
    Prune {},
    /// The delivery report: `since` is a duration back from now (`7d`) or an
    /// RFC 3339 time (default 7 days), `by` is `modem`, `day` or `campaign`.
    Report {
        #[serde(default)]
        since: Option<String>,
        #[serde(default)]
        by: Option<String>,
    },
    /// Create an HTTP API token; the answer carries the secret, once.
    TokenCreate {
        name: String,
        /// `send`, `read`, `admin`; empty: `send` and `read`.
        #[serde(default)]
        scopes: Vec<String>,
    },
    /// Every HTTP API token: names, scopes, creation times (no secrets).
    TokenList {},
    /// Remove an HTTP API token.
    TokenRevoke {
        name: String,
    },
    /// Webhook endpoints with their backlog.
    WebhookList {},
    /// Register a webhook endpoint; answers its id and secret.
    WebhookAdd {
        /// The endpoint's id (generated when absent; an existing one is
        /// replaced). Not `id`: that is the request's.
        #[serde(default)]
        webhook: Option<String>,
        url: String,
        /// Event types (every type when empty or absent).
        #[serde(default)]
        events: Vec<String>,
        /// `whsec_…`; generated when absent.
        #[serde(default)]
        secret: Option<String>,
        /// `native` (default) or `android`.
        #[serde(default)]
        flavour: Option<String>,
    },
    /// Remove a webhook endpoint registered through the socket or the API.
    WebhookRemove {
        webhook: String,
    },
    /// An endpoint's latest delivery attempts, newest first.
    WebhookDeliveries {
        webhook: String,
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Deliver again every event after `since` to one endpoint (and enable it).
    WebhookReplay {
        webhook: String,
        since: i64,
    },
    /// Queue one message for each of several numbers in one durable commit
    /// (an alert broadcast); answers `{"messages": [{id, to, parts}]}`.
    SendBatch(SendBatchArgs),
    /// Create a campaign from `csv` or `recipients`; answers the campaign.
    CampaignCreate(CampaignArgs),
    /// Campaigns with their counters, newest first.
    CampaignList {},
    /// One campaign with its counters.
    CampaignShow {
        campaign: i64,
    },
    /// No new part of the campaign starts.
    CampaignPause {
        campaign: i64,
    },
    CampaignResume {
        campaign: i64,
    },
    /// What is still queued ends `cancelled`.
    CampaignCancel {
        campaign: i64,
    },
    /// The suppression list (opt-out), in number order after `after`.
    OptoutList {
        #[serde(default)]
        after: Option<String>,
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Put a number on the suppression list (its queued marketing messages
    /// end `skipped`).
    OptoutAdd {
        number: String,
    },
    /// Take a number off the suppression list.
    OptoutRemove {
        number: String,
    },
    /// Send a verification code.
    VerifySend {
        to: String,
        #[serde(default)]
        length: Option<u32>,
        #[serde(default)]
        ttl: Option<String>,
        #[serde(default)]
        text: Option<String>,
    },
    /// Check a verification code.
    VerifyCheck {
        to: String,
        code: String,
    },
    /// Stream events until the client leaves: replays the events after `since` (none when absent), then follows.
    Watch {
        #[serde(default)]
        since: Option<i64>,
    },
}

/// Arguments of `send`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendArgs {
    pub to: String,
    pub text: String,
    #[serde(default)]
    pub report: bool,
    #[serde(default)]
    pub flash: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// `urgent`, `high`, `normal` or `low`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// A duration such as `12h` or `2d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<String>,
    /// RFC 3339: do not send before this moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_after: Option<String>,
    /// `transactional` (default) or `marketing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// Arguments of `send_batch`: `send`'s, with `to` a list.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendBatchArgs {
    pub to: Vec<String>,
    pub text: String,
    /// `transactional` (default) or `marketing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default)]
    pub report: bool,
    #[serde(default)]
    pub flash: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<String>,
}

/// One recipient of `campaign_create`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignRecipient {
    pub to: String,
    #[serde(default)]
    pub vars: std::collections::BTreeMap<String, String>,
}

/// A campaign's send window.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignWindowArgs {
    pub start: String,
    pub end: String,
    pub tz: String,
}

/// Arguments of `campaign_create` (the HTTP body's fields).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignArgs {
    pub name: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<CampaignRecipient>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<CampaignWindowArgs>,
    /// Default `low`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_min: Option<u32>,
    #[serde(default)]
    pub flash: bool,
}

/// Machine-readable error codes in error replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not an object, unknown command or field, wrong type.
    BadRequest,
    /// The line exceeded the size limit.
    TooLarge,
    /// The arguments were understood but refused (bad number, unknown modem...).
    Invalid,
    /// No such message.
    NotFound,
    /// The request cannot be done in the object's current state.
    Conflict,
    /// The daemon cannot take work now (store unavailable, shutting down).
    Unavailable,
    /// Anything else that went wrong inside the daemon.
    Internal,
    /// A limit was reached (verification codes an hour for one number).
    RateLimited,
}

/// An error reply's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// One reply line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Reply {
    pub fn ok(id: Option<Value>, result: Value) -> Reply {
        Reply {
            id,
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    pub fn err(id: Option<Value>, code: ErrorCode, message: impl Into<String>) -> Reply {
        Reply {
            id,
            ok: false,
            result: None,
            error: Some(ErrorBody {
                code,
                message: message.into(),
            }),
        }
    }

    /// The reply as one line of JSON, newline included.
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"ok":false,"error":{"code":"internal","message":"reply not serialisable"}}"#
                .to_string()
        });
        s.push('\n');
        s
    }
}

/// A request line that could not be turned into an [`Envelope`]: the error
/// reply to send, with the id echoed when it could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestError {
    pub id: Option<Value>,
    pub code: ErrorCode,
    pub message: String,
}

impl RequestError {
    pub fn reply(&self) -> Reply {
        Reply::err(self.id.clone(), self.code, self.message.clone())
    }
}

/// Parses one request line (without its newline). Never panics; every
/// failure names what was wrong.
pub fn parse_request(line: &[u8]) -> Result<Envelope, RequestError> {
    let bad = |id: Option<Value>, message: String| RequestError {
        id,
        code: ErrorCode::BadRequest,
        message,
    };
    let text =
        std::str::from_utf8(line).map_err(|e| bad(None, format!("request is not UTF-8: {e}")))?;
    let value = serde_json::from_str::<Unique>(text)
        .map_err(|e| match e.classify() {
            serde_json::error::Category::Data => bad(None, format!("bad request: {e}")),
            _ => bad(None, format!("malformed JSON: {e}")),
        })?
        .0;
    let Value::Object(mut map) = value else {
        return Err(bad(None, "a request must be a JSON object".into()));
    };
    let id = map.remove("id");
    match map.get("cmd") {
        None => return Err(bad(id, "missing \"cmd\"".into())),
        Some(Value::String(_)) => {}
        Some(_) => return Err(bad(id, "\"cmd\" must be a string".into())),
    }
    let request: Request = serde_json::from_value(Value::Object(map))
        .map_err(|e| bad(id.clone(), format!("bad request: {e}")))?;
    Ok(Envelope { id, request })
}

/// A JSON value in which no object repeats a key: `serde_json::Value`
/// would keep the last of `{"cmd":"status","cmd":"version"}` silently.
struct Unique(Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Unique::deserialize(d).map(|u| u.0)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Unique(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
            }
            let Unique(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Serialises a request as one line (newline included), for clients.
pub fn request_line(id: Option<Value>, request: &Request) -> String {
    let mut value = serde_json::to_value(request).unwrap_or(Value::Null);
    if let (Some(id), Value::Object(map)) = (id, &mut value) {
        map.insert("id".into(), id);
    }
    let mut s = value.to_string();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(line: &str, expected: Result<Request, ErrorCode>) {
        match (parse_request(line.as_bytes()), expected) {
            (Ok(env), Ok(req)) => assert_eq!(env.request, req, "{line}"),
            (Err(e), Err(code)) => assert_eq!(e.code, code, "{line}: {}", e.message),
            (got, want) => panic!("{line}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn request_table() {
        let cases: Vec<(&str, Result<Request, ErrorCode>)> = vec![
            (r#"{"cmd":"status"}"#, Ok(Request::Status {})),
            (r#"{"cmd":"version"}"#, Ok(Request::Version {})),
            (
                r#"{"cmd":"send","to":"+4915112345678","text":"hi"}"#,
                Ok(Request::Send(SendArgs {
                    to: "+4915112345678".into(),
                    text: "hi".into(),
                    ..SendArgs::default()
                })),
            ),
            (
                r#"{"cmd":"send","to":"1","text":"x","report":true,"flash":true,"priority":"high","validity":"2d"}"#,
                Ok(Request::Send(SendArgs {
                    to: "1".into(),
                    text: "x".into(),
                    report: true,
                    flash: true,
                    priority: Some("high".into()),
                    validity: Some("2d".into()),
                    ..SendArgs::default()
                })),
            ),
            (
                r#"{"cmd":"show","message":7}"#,
                Ok(Request::Show { message: 7 }),
            ),
            (
                r#"{"cmd":"outbox","state":"queued","limit":5}"#,
                Ok(Request::Outbox {
                    state: Some("queued".into()),
                    limit: Some(5),
                }),
            ),
            (
                r#"{"cmd":"inbox"}"#,
                Ok(Request::Inbox {
                    since: None,
                    limit: None,
                }),
            ),
            (
                r#"{"cmd":"cancel","message":1}"#,
                Ok(Request::Cancel { message: 1 }),
            ),
            (
                r#"{"cmd":"retry","message":1}"#,
                Ok(Request::Retry { message: 1 }),
            ),
            (
                r#"{"cmd":"ussd","modem":"sim1","code":"*100#"}"#,
                Ok(Request::Ussd {
                    modem: "sim1".into(),
                    code: "*100#".into(),
                }),
            ),
            (r#"{"cmd":"reload"}"#, Ok(Request::Reload {})),
            (
                r#"{"cmd":"watch","id":3}"#,
                Ok(Request::Watch { since: None }),
            ),
            (
                r#"{"cmd":"watch","since":17}"#,
                Ok(Request::Watch { since: Some(17) }),
            ),
            (r#"{"cmd":"webhook_list"}"#, Ok(Request::WebhookList {})),
            (
                r#"{"cmd":"webhook_add","url":"http://127.0.0.1:9000/hook","events":["sent"]}"#,
                Ok(Request::WebhookAdd {
                    webhook: None,
                    url: "http://127.0.0.1:9000/hook".into(),
                    events: vec!["sent".into()],
                    secret: None,
                    flavour: None,
                }),
            ),
            (
                r#"{"cmd":"webhook_remove","webhook":"wh_1"}"#,
                Ok(Request::WebhookRemove {
                    webhook: "wh_1".into(),
                }),
            ),
            (
                r#"{"cmd":"webhook_deliveries","webhook":"wh_1","limit":5}"#,
                Ok(Request::WebhookDeliveries {
                    webhook: "wh_1".into(),
                    limit: Some(5),
                }),
            ),
            (
                r#"{"cmd":"webhook_replay","webhook":"wh_1","since":40}"#,
                Ok(Request::WebhookReplay {
                    webhook: "wh_1".into(),
                    since: 40,
                }),
            ),
            // Errors.
            (
                r#"{"cmd":"webhook_replay","webhook":"wh_1"}"#,
                Err(ErrorCode::BadRequest),
            ),
            (
                r#"{"cmd":"webhook_add","events":[]}"#,
                Err(ErrorCode::BadRequest),
            ),
            (r#"{"cmd":"status","extra":1}"#, Err(ErrorCode::BadRequest)),
            (r#"{"cmd":"launch"}"#, Err(ErrorCode::BadRequest)),
            (r#"{"cmd":"send","to":"1"}"#, Err(ErrorCode::BadRequest)),
            (
                r#"{"cmd":"show","message":"x"}"#,
                Err(ErrorCode::BadRequest),
            ),
            (r#"{"cmd":5}"#, Err(ErrorCode::BadRequest)),
            (r#"{"to":"1"}"#, Err(ErrorCode::BadRequest)),
            (r#"[1,2]"#, Err(ErrorCode::BadRequest)),
            (r#"{"cmd":"status""#, Err(ErrorCode::BadRequest)),
            ("", Err(ErrorCode::BadRequest)),
        ];
        assert!(!cases.is_empty());
        for (line, expected) in cases {
            check(line, expected);
        }
    }

    #[test]
    fn duplicate_keys_are_bad_requests() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"{"cmd":"status","cmd":"version"}"#,
                Some("duplicate key \"cmd\""),
            ),
            (
                r#"{"cmd":"status","cmd":"status"}"#,
                Some("duplicate key \"cmd\""),
            ),
            (
                r#"{"id":1,"cmd":"status","id":2}"#,
                Some("duplicate key \"id\""),
            ),
            (
                r#"{"cmd":"send","to":"1","text":"a","to":"2"}"#,
                Some("duplicate key \"to\""),
            ),
            (
                r#"{"cmd":"status","id":{"a":1,"a":2}}"#,
                Some("duplicate key \"a\""),
            ),
            (r#"{"cmd":"status","id":[{"a":1},{"a":2}]}"#, None),
            (r#"{"cmd":"status","id":{"a":{"a":1}}}"#, None),
            (r#"{"cmd":"status","id":null}"#, None),
        ];
        for (line, want) in cases {
            match (parse_request(line.as_bytes()), want) {
                (Ok(_), None) => {}
                (Err(e), Some(w)) => {
                    assert_eq!(e.code, ErrorCode::BadRequest, "{line}");
                    assert!(e.message.contains(w), "{line}: {}", e.message);
                    assert!(
                        e.message.starts_with("bad request:"),
                        "{line}: {}",
                        e.message
                    );
                }
                (got, want) => panic!("{line}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn id_is_echoed_even_on_errors() {
        let e = parse_request(br#"{"id":"abc","cmd":"nope"}"#).unwrap_err();
        assert_eq!(e.id, Some(json!("abc")));
        let env = parse_request(br#"{"id":9,"cmd":"status"}"#).unwrap();
        assert_eq!(env.id, Some(json!(9)));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let e = parse_request(&[b'{', 0xff, b'}']).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }

    #[test]
    fn request_line_round_trips() {
        let req = Request::Send(SendArgs {
            to: "+1555".into(),
            text: "a\nb \"q\"".into(),
            report: true,
            ..SendArgs::default()
        });
        let line = request_line(Some(json!(4)), &req);
        assert!(line.ends_with('\n'));
        let env = parse_request(line.trim_end().as_bytes()).unwrap();
        assert_eq!(env.request, req);
        assert_eq!(env.id, Some(json!(4)));
    }

    #[test]
    fn reply_lines() {
        let ok = Reply::ok(Some(json!(1)), json!({"id": 5, "parts": 1}));
        assert_eq!(
            ok.to_line(),
            "{\"id\":1,\"ok\":true,\"result\":{\"id\":5,\"parts\":1}}\n"
        );
        let err = Reply::err(None, ErrorCode::NotFound, "no message 5");
        let back: Reply = serde_json::from_str(err.to_line().trim_end()).unwrap();
        assert_eq!(back, err);
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = parse_request(&bytes);
        }
    }
}
