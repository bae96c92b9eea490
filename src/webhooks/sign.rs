//! Webhook signatures, pure: Standard Webhooks (`webhook-signature:
//! v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, the key being the
//! decoded bytes of the endpoint's `whsec_…` secret) and SMS Gateway for
//! Android's (`X-Signature`: hex HMAC-SHA256 of the raw body followed by
//! `X-Timestamp`, keyed with the signing key's UTF-8 bytes), and new
//! secrets. No I/O beyond the system's random source for secrets.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length; the error arm cannot happen.
    let Ok(mut m) = HmacSha256::new_from_slice(key) else {
        return Vec::new();
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// `webhook-signature`'s value for one attempt: `v1,<base64>`.
pub fn standard(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let sig = mac(key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(sig)
    )
}

/// `X-Signature` of the android flavour: hex HMAC-SHA256(key, body +
/// timestamp).
pub fn android(key: &str, body: &[u8], timestamp: i64) -> String {
    let ts = timestamp.to_string();
    hex::encode(mac(key.as_bytes(), &[body, ts.as_bytes()]))
}

/// A new endpoint secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> Result<String, String> {
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).map_err(|e| format!("no random bytes: {e}"))?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

/// A new API endpoint id: `wh_` and 16 random hex digits.
pub fn new_id() -> Result<String, String> {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).map_err(|e| format!("no random bytes: {e}"))?;
    Ok(format!("wh_{}", hex::encode(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::webhook_secret_key;

    /// (secret, msg id, timestamp, body, signature). The first row is the
    /// example of the Standard Webhooks specification; the others were
    /// computed with Python's `hmac` module.
    const VECTORS: &[(&str, &str, i64, &str, &str)] = &[
        (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
        (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "evt_42",
            1700000000,
            r#"{"event_id":42,"type":"sent","at":"2023-11-14T22:13:20Z","data":{}}"#,
            "v1,plF+sbbeumlCI2Y/Fs9T1pv60xc9HUvJ+QwUvICVT1U=",
        ),
    ];

    #[test]
    fn standard_signatures_match_known_vectors() {
        for (secret, id, ts, body, want) in VECTORS {
            let key = webhook_secret_key(secret).expect("valid secret");
            assert_eq!(standard(&key, id, *ts, body.as_bytes()), *want, "{id}");
            // One changed byte of the body, id or time changes it.
            assert_ne!(standard(&key, id, *ts, b"{}"), *want);
            assert_ne!(standard(&key, id, ts + 1, body.as_bytes()), *want);
            assert_ne!(standard(&key, "evt_0", *ts, body.as_bytes()), *want);
        }
    }

    #[test]
    fn android_signature_is_hex_hmac_of_body_then_timestamp() {
        // Python: hmac.new(b"key", b'{"a":1}1700000000', sha256).hexdigest()
        let sig = android("key", br#"{"a":1}"#, 1700000000);
        assert_eq!(
            sig,
            "5cff791334e7fd8344cc05c2398964f60329f4edd6ab1087ed1ba6c34eefeeca"
        );
        assert_ne!(android("key", br#"{"a":2}"#, 1700000000), sig);
        assert_ne!(android("key", br#"{"a":1}"#, 1700000001), sig);
    }

    #[test]
    fn new_secrets_are_valid_and_different() {
        let a = new_secret().expect("secret");
        let b = new_secret().expect("secret");
        assert_ne!(a, b);
        assert_eq!(webhook_secret_key(&a).expect("valid").len(), 32);
        let id = new_id().expect("id");
        assert!(id.starts_with("wh_") && id.len() == 19, "{id}");
    }
}
