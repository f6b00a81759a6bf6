//! Messages of federation: a downstream collector pushing signed posture summaries to the
//! collector above it (`vigil-fed/1`), and enrolling there first (`vigil-fed-enroll/1`, the
//! [`crate::msg::EnrollRequest`] / [`crate::msg::EnrollResponse`] pair of agents, with a
//! federation token).
//!
//! The session is deliberately one-way: the downstream sends [`DownMsg`], the upstream answers
//! only with [`UpMsg`], which carries acknowledgements and errors and nothing a downstream could
//! act on. An upstream therefore never gains any way to change a downstream.
//!
//! A summary travels as the exact bytes the downstream signed (`body`, JSON text) with the
//! signature beside them, so the upstream verifies what it stores and can show the proof later.
//! Its schema belongs to the collector; this crate only bounds its size.

use serde::{Deserialize, Serialize};

/// ALPN of a federation session (client certificate of a downstream collector required).
pub const ALPN_FED: &[u8] = b"vigil-fed/1";
/// ALPN of a downstream collector's enrollment (a federation token instead of a certificate).
pub const ALPN_FED_ENROLL: &[u8] = b"vigil-fed-enroll/1";
/// Longest summary body accepted (a province of a few hundred agencies is well below it).
pub const MAX_SUMMARY_BODY: usize = 768 * 1024;
/// Longest signature text (hex of an ASN.1 ECDSA P-256 signature is at most 144 characters).
pub const MAX_SIGNATURE: usize = 256;
/// Longest downstream id (a UUID).
pub const MAX_DOWNSTREAM_ID: usize = 64;

/// A message from the downstream collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DownMsg {
    /// First message of a session.
    Hello {
        /// Highest protocol version the downstream speaks.
        proto_version: u32,
        /// Downstream id (must match the client certificate).
        downstream_id: String,
    },
    /// One posture summary, numbered like findings: `seq` grows by one per summary spooled.
    Summary {
        /// Per-downstream sequence number, from 1.
        seq: u64,
        /// The signed bytes: the summary as JSON text.
        body: String,
        /// Hex ECDSA P-256 SHA-256 (ASN.1) signature of `body` by the downstream's key.
        sig: String,
    },
}

/// A message from the upstream collector: acknowledgements and errors only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum UpMsg {
    /// Accepts the session.
    Welcome {
        /// Protocol version chosen.
        proto_version: u32,
        /// Highest summary seq the upstream has stored for this downstream.
        acked_seq: u64,
    },
    /// Everything up to and including `up_to_seq` is durably stored.
    Ack {
        /// Highest stored seq.
        up_to_seq: u64,
    },
    /// The upstream refuses a summary or ends the session.
    Error {
        /// One of [`crate::msg::code`].
        code: u32,
        /// Human-readable reason.
        message: String,
    },
}

impl DownMsg {
    /// Checks the size caps of a decoded message (the frame cap bounds it as a whole).
    ///
    /// # Errors
    /// A message naming the field over its cap.
    pub fn check_limits(&self) -> Result<(), String> {
        match self {
            Self::Hello { downstream_id, .. } if downstream_id.len() > MAX_DOWNSTREAM_ID => {
                Err(format!("downstream_id over {MAX_DOWNSTREAM_ID} bytes"))
            }
            Self::Summary { body, .. } if body.len() > MAX_SUMMARY_BODY => {
                Err(format!("summary body over {MAX_SUMMARY_BODY} bytes"))
            }
            Self::Summary { sig, .. } if sig.len() > MAX_SIGNATURE => {
                Err(format!("signature over {MAX_SIGNATURE} bytes"))
            }
            Self::Summary { seq: 0, .. } => Err("summary seq starts at 1".into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FrameDecoder, encode};

    #[test]
    fn messages_roundtrip_through_frames() {
        let m = DownMsg::Summary {
            seq: 3,
            body: "{\"a\":1}".into(),
            sig: "00ff".into(),
        };
        let bytes = encode(&m, 1 << 20).expect("encode");
        let mut d = FrameDecoder::new(1 << 20);
        d.push(&bytes);
        assert_eq!(d.decode::<DownMsg>().expect("decode"), Some(m));
        let up = UpMsg::Ack { up_to_seq: 3 };
        let bytes = encode(&up, 1 << 20).expect("encode");
        let mut d = FrameDecoder::new(1 << 20);
        d.push(&bytes);
        assert_eq!(d.decode::<UpMsg>().expect("decode"), Some(up));
    }

    #[test]
    fn an_upstream_can_send_nothing_but_acks_and_errors() {
        // A collector→agent command is not an upstream message: the downstream's decoder
        // refuses it, so no policy, IOC or certificate push can travel down a federation link.
        for cmd in [
            r#"{"type":"policy_update","policy":{}}"#,
            r#"{"type":"rotate_cert"}"#,
            r#"{"type":"ack","up_to_seq":1,"policy":{}}"#,
        ] {
            assert!(serde_json::from_str::<UpMsg>(cmd).is_err(), "{cmd}");
        }
    }

    #[test]
    fn limits_are_checked() {
        let long = DownMsg::Summary {
            seq: 1,
            body: "x".repeat(MAX_SUMMARY_BODY + 1),
            sig: String::new(),
        };
        assert!(long.check_limits().is_err());
        let zero = DownMsg::Summary {
            seq: 0,
            body: String::new(),
            sig: String::new(),
        };
        assert!(zero.check_limits().is_err());
        let hello = DownMsg::Hello {
            proto_version: 1,
            downstream_id: "d".repeat(65),
        };
        assert!(hello.check_limits().is_err());
    }
}
