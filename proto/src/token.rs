//! Enrollment tokens: `base64url(JSON {v, addrs, ca, secret})`, prefixed `vigil1.`.
//!
//! A token carries everything a fresh host needs to join safely: where the collector is, the
//! SHA-256 fingerprint of the collector CA (so the agent trusts nothing else — no TOFU), and a
//! random 256-bit secret whose hash is all the collector stores. Decoding is strict: tokens are
//! typed or pasted by people and may arrive mangled.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "vigil1.";
/// Longest token accepted (a token is about 200 characters; anything much longer is not one).
const MAX_TOKEN_LEN: usize = 4096;

/// A decoded enrollment token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollToken {
    /// Collector QUIC addresses, `host:port`.
    pub addrs: Vec<String>,
    /// SHA-256 of the collector CA certificate (DER).
    pub ca_sha256: [u8; 32],
    /// The secret.
    pub secret: [u8; 32],
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    v: u32,
    addrs: Vec<String>,
    ca: String,
    secret: String,
}

/// Why a token could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a Vigil token at all.
    #[error("not a Vigil enrollment token (expected text starting with {PREFIX:?})")]
    NotAToken,
    /// Damaged token.
    #[error("enrollment token is damaged: {0}")]
    Damaged(String),
    /// A token of a newer format.
    #[error("enrollment token format v{0} is not supported by this agent (supports v1)")]
    UnsupportedVersion(u32),
}

impl EnrollToken {
    /// Encodes the token as text.
    pub fn encode(&self) -> String {
        let wire = Wire {
            v: 1,
            addrs: self.addrs.clone(),
            ca: hex::encode(self.ca_sha256),
            secret: URL_SAFE_NO_PAD.encode(self.secret),
        };
        // Serialising a struct of strings cannot fail.
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// Decodes a token, tolerating surrounding whitespace.
    ///
    /// # Errors
    /// [`TokenError`] when the text is not a well-formed v1 token.
    pub fn decode(text: &str) -> Result<Self, TokenError> {
        let text = text.trim();
        if text.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Damaged("too long".into()));
        }
        let body = text.strip_prefix(PREFIX).ok_or(TokenError::NotAToken)?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|e| TokenError::Damaged(format!("bad base64url: {e}")))?;
        let probe: serde_json::Value = serde_json::from_slice(&json)
            .map_err(|e| TokenError::Damaged(format!("bad JSON: {e}")))?;
        match probe.get("v").and_then(serde_json::Value::as_u64) {
            Some(1) => {}
            Some(v) => {
                return Err(TokenError::UnsupportedVersion(
                    u32::try_from(v).unwrap_or(u32::MAX),
                ));
            }
            None => return Err(TokenError::Damaged("missing version".into())),
        }
        let wire: Wire = serde_json::from_value(probe)
            .map_err(|e| TokenError::Damaged(format!("bad fields: {e}")))?;
        if wire.addrs.is_empty() || wire.addrs.len() > 16 {
            return Err(TokenError::Damaged(
                "expected 1 to 16 collector addresses".into(),
            ));
        }
        if wire
            .addrs
            .iter()
            .any(|a| a.is_empty() || a.len() > 255 || !a.contains(':'))
        {
            return Err(TokenError::Damaged(
                "collector address must be host:port".into(),
            ));
        }
        let ca_vec = hex::decode(&wire.ca).map_err(|_| TokenError::Damaged("bad CA pin".into()))?;
        let ca_sha256: [u8; 32] = ca_vec
            .try_into()
            .map_err(|_| TokenError::Damaged("CA pin is not SHA-256".into()))?;
        let secret_vec = URL_SAFE_NO_PAD
            .decode(&wire.secret)
            .map_err(|_| TokenError::Damaged("bad secret".into()))?;
        let secret: [u8; 32] = secret_vec
            .try_into()
            .map_err(|_| TokenError::Damaged("secret is not 256 bits".into()))?;
        Ok(Self {
            addrs: wire.addrs,
            ca_sha256,
            secret,
        })
    }

    /// The secret in the form sent in [`crate::msg::EnrollRequest::secret`].
    pub fn secret_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> EnrollToken {
        EnrollToken {
            addrs: vec!["127.0.0.1:4433".into()],
            ca_sha256: [7; 32],
            secret: [9; 32],
        }
    }

    #[test]
    fn roundtrip() {
        let t = sample();
        let s = t.encode();
        assert!(s.starts_with("vigil1."));
        assert_eq!(EnrollToken::decode(&format!("  {s}\n")), Ok(t));
    }

    #[test]
    fn rejects_damage() {
        let s = sample().encode();
        assert_eq!(EnrollToken::decode("hello"), Err(TokenError::NotAToken));
        assert!(matches!(
            EnrollToken::decode(&s[..s.len() - 5]),
            Err(TokenError::Damaged(_))
        ));
        let v2 = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(br#"{"v":2}"#));
        assert_eq!(
            EnrollToken::decode(&v2),
            Err(TokenError::UnsupportedVersion(2))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in ".{0,300}") {
            let _ = EnrollToken::decode(&s);
            let _ = EnrollToken::decode(&format!("{PREFIX}{s}"));
        }
    }
}
