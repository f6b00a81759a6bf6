//! Frames over one QUIC stream of a federation link, for both ends.

use serde::Serialize;
use serde::de::DeserializeOwned;
use vigil_proto::frame::{FrameDecoder, encode};

/// Reads frames from a stream. [`Reader::next`] is cancel-safe: bytes read stay in the
/// decoder, so it can sit in a `select!` beside a timer.
#[derive(Debug)]
pub(super) struct Reader {
    recv: quinn::RecvStream,
    dec: FrameDecoder,
}

impl Reader {
    /// A reader of frames up to `max` bytes.
    pub(super) fn new(recv: quinn::RecvStream, max: usize) -> Self {
        Self {
            recv,
            dec: FrameDecoder::new(max),
        }
    }

    /// The next message, or `None` when the peer finished the stream.
    ///
    /// # Errors
    /// Stream errors and malformed or oversized frames.
    pub(super) async fn next<T: DeserializeOwned>(&mut self) -> anyhow::Result<Option<T>> {
        let mut buf = [0u8; 8192];
        loop {
            if let Some(v) = self.dec.decode::<T>()? {
                return Ok(Some(v));
            }
            match self.recv.read(&mut buf).await? {
                Some(n) => self.dec.push(&buf[..n]),
                None if self.dec.buffered() == 0 => return Ok(None),
                None => anyhow::bail!("stream ended inside a frame"),
            }
        }
    }
}

/// Writes one message as a frame.
///
/// # Errors
/// Encoding (over `max`) and stream errors.
pub(super) async fn send<T: Serialize>(
    tx: &mut quinn::SendStream,
    msg: &T,
    max: usize,
) -> anyhow::Result<()> {
    tx.write_all(&encode(msg, max)?).await?;
    Ok(())
}
