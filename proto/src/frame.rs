//! Length-prefixed JSON frames: a 4-byte big-endian length, then a serde_json body.
//!
//! The decoder is incremental (bytes arrive in arbitrary pieces from a QUIC stream) and treats its
//! input as hostile: a length above the configured maximum is rejected as soon as the 4-byte
//! header is seen, before anything is buffered, and a body that is not the expected JSON is an
//! error, never a panic.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Default maximum body size of one frame: 1 MiB.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The announced or encoded body is larger than the maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// A zero-length frame (never valid: every message is a JSON object).
    #[error("empty frame")]
    Empty,
    /// The body is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Encodes `msg` as one frame.
///
/// # Errors
/// [`FrameError::TooLarge`] when the JSON body exceeds `max`; [`FrameError::Malformed`] if the
/// value cannot be serialised (not possible for the protocol's own types).
pub fn encode<T: Serialize>(msg: &T, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; 4];
    serde_json::to_writer(&mut out, msg).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = out.len() - 4;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    // `len <= max`, and `max` is bounded by u32 in `FrameDecoder::new`; guard anyway.
    let len32 = u32::try_from(len).map_err(|_| FrameError::TooLarge { len, max })?;
    out[..4].copy_from_slice(&len32.to_be_bytes());
    Ok(out)
}

/// Incremental frame decoder.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max: usize,
    poisoned: bool,
}

impl FrameDecoder {
    /// A decoder accepting bodies up to `max` bytes (clamped to `u32::MAX`).
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max: max.min(u32::MAX as usize),
            poisoned: false,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.poisoned {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes buffered but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Decodes the next complete frame, if any.
    ///
    /// After an error the decoder stays failed: the stream must be closed, because frame
    /// boundaries can no longer be trusted.
    ///
    /// # Errors
    /// [`FrameError`] for an oversized, empty or malformed frame.
    pub fn decode<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        if self.poisoned {
            return Err(FrameError::Malformed("stream already failed".into()));
        }
        let Some(header) = self.buf.get(..4) else {
            return Ok(None);
        };
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(header);
        let len = u32::from_be_bytes(len_bytes) as usize;
        if len > self.max {
            return Err(self.fail(FrameError::TooLarge { len, max: self.max }));
        }
        if len == 0 {
            return Err(self.fail(FrameError::Empty));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let parsed = serde_json::from_slice::<T>(&self.buf[4..4 + len]);
        self.buf.drain(..4 + len);
        match parsed {
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(self.fail(FrameError::Malformed(e.to_string()))),
        }
    }

    fn fail(&mut self, e: FrameError) -> FrameError {
        self.poisoned = true;
        self.buf = Vec::new();
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{AgentMsg, CollectorMsg};
    use proptest::prelude::*;

    #[test]
    fn roundtrip_split_anywhere() {
        let msg = CollectorMsg::Ack { up_to_seq: 42 };
        let bytes = encode(&msg, DEFAULT_MAX_FRAME).expect("encode");
        for split in 0..bytes.len() {
            let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
            d.push(&bytes[..split]);
            assert_eq!(d.decode::<CollectorMsg>(), Ok(None));
            d.push(&bytes[split..]);
            assert_eq!(d.decode::<CollectorMsg>(), Ok(Some(msg.clone())));
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn oversized_header_rejected_before_buffering() {
        let mut d = FrameDecoder::new(16);
        d.push(&1000u32.to_be_bytes());
        assert_eq!(
            d.decode::<AgentMsg>(),
            Err(FrameError::TooLarge { len: 1000, max: 16 })
        );
        // Poisoned afterwards.
        d.push(b"{}");
        assert!(d.decode::<AgentMsg>().is_err());
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn encode_refuses_oversized() {
        let msg = CollectorMsg::Error {
            code: 1,
            message: "x".repeat(100),
        };
        assert!(matches!(encode(&msg, 50), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn garbage_and_empty_are_errors() {
        let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
        d.push(&[0, 0, 0, 0]);
        assert_eq!(d.decode::<AgentMsg>(), Err(FrameError::Empty));
        let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
        d.push(&[0, 0, 0, 3, b'a', b'b', b'c']);
        assert!(matches!(
            d.decode::<AgentMsg>(),
            Err(FrameError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
            let mut d = FrameDecoder::new(256);
            for c in &chunks {
                d.push(c);
                while let Ok(Some(_)) = d.decode::<AgentMsg>() {}
            }
        }
    }
}
