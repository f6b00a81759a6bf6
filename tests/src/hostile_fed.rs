//! A hostile downstream collector for federation attack tests: it holds a real downstream
//! identity (enrolled with `vigil-collector upstream enroll`) and speaks `vigil-fed/1` itself,
//! sending whatever summaries it likes as fast as it likes.

use std::path::Path;
use std::time::{Duration, Instant};

use vigil_collector::federation::downstream::{Credentials, LinkPaths};
use vigil_collector::federation::sign::Signer;
use vigil_collector::federation::summary::{PostureSummary, SUMMARY_VERSION};
use vigil_proto::fed::{DownMsg, UpMsg};
use vigil_proto::frame::{FrameDecoder, encode};

/// Largest frame either side writes here (over the upstream's own limit on purpose).
const MAX: usize = 4 * 1024 * 1024;

/// An open federation session with a downstream identity read from `<data dir>/upstream/`.
pub struct FedSession {
    _endpoint: quinn::Endpoint,
    /// The connection (to watch it being closed).
    pub conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    dec: FrameDecoder,
    signer: Signer,
    /// The downstream id.
    pub id: String,
    /// The upstream's acked seq at the welcome.
    pub acked: u64,
}

impl FedSession {
    /// Connects to `addr` as the downstream enrolled in `data_dir` and waits for the welcome.
    ///
    /// # Errors
    /// Connection errors and refusals.
    pub async fn open(data_dir: &Path, addr: &str) -> anyhow::Result<Self> {
        let Credentials { link, signer, quic } = LinkPaths::new(data_dir).credentials()?;
        let id = link.downstream_id;
        let (endpoint, conn) = vigil_agent::tls::connect(addr, quic).await?;
        let (send, recv) = conn.open_bi().await?;
        let mut s = Self {
            _endpoint: endpoint,
            conn,
            send,
            recv,
            dec: FrameDecoder::new(MAX),
            signer,
            id,
            acked: 0,
        };
        let hello = DownMsg::Hello {
            proto_version: vigil_proto::PROTO_VERSION,
            downstream_id: s.id.clone(),
        };
        s.write(&hello).await?;
        match tokio::time::timeout(Duration::from_secs(15), s.next()).await?? {
            UpMsg::Welcome { acked_seq, .. } => s.acked = acked_seq,
            other => anyhow::bail!("no welcome: {other:?}"),
        }
        Ok(s)
    }

    async fn write(&mut self, m: &DownMsg) -> anyhow::Result<()> {
        self.send.write_all(&encode(m, MAX)?).await?;
        Ok(())
    }

    /// The next message from the upstream.
    ///
    /// # Errors
    /// Stream errors, or the stream's end.
    pub async fn next(&mut self) -> anyhow::Result<UpMsg> {
        let mut buf = [0u8; 8192];
        loop {
            if let Some(m) = self.dec.decode::<UpMsg>()? {
                return Ok(m);
            }
            match self.recv.read(&mut buf).await? {
                Some(n) => self.dec.push(&buf[..n]),
                None => anyhow::bail!("the upstream ended the stream"),
            }
        }
    }

    /// A valid, signed summary with no agencies, numbered `seq`, padded with `pad` bytes of
    /// version text (which the upstream bounds).
    pub fn summary(&self, seq: u64, pad: usize) -> DownMsg {
        summary(&self.signer, &self.id, seq, pad)
    }

    /// Writes summaries `from..` back to back for `during` while reading acks; returns the
    /// highest acked seq at the end and how many summaries were written.
    ///
    /// # Errors
    /// Stream errors.
    pub async fn flood(&mut self, from: u64, during: Duration) -> anyhow::Result<(u64, u64)> {
        let end = Instant::now() + during;
        let Self {
            send,
            recv,
            dec,
            signer,
            id,
            acked,
            ..
        } = self;
        let writer = async {
            let mut seq = from;
            while Instant::now() < end {
                let frame = encode(&summary(signer, id, seq, 1), MAX)?;
                // A write held back by flow control ends with the flood.
                match tokio::time::timeout_at(end.into(), send.write_all(&frame)).await {
                    Ok(w) => w?,
                    Err(_) => break,
                }
                seq += 1;
            }
            anyhow::Ok(seq - from)
        };
        let reader = async {
            let mut top = *acked;
            let mut buf = [0u8; 8192];
            loop {
                while let Some(m) = dec.decode::<UpMsg>()? {
                    match m {
                        UpMsg::Ack { up_to_seq } => top = top.max(up_to_seq),
                        other => anyhow::bail!("unexpected answer: {other:?}"),
                    }
                }
                match tokio::time::timeout_at(end.into(), recv.read(&mut buf)).await {
                    Ok(r) => match r? {
                        Some(n) => dec.push(&buf[..n]),
                        None => anyhow::bail!("the upstream ended the stream"),
                    },
                    Err(_) => return anyhow::Ok(top),
                }
            }
        };
        let (written, top) = tokio::join!(writer, reader);
        Ok((top?, written?))
    }

    /// Writes one raw message.
    ///
    /// # Errors
    /// Stream errors.
    pub async fn send_msg(&mut self, m: &DownMsg) -> anyhow::Result<()> {
        self.write(m).await
    }
}

fn summary(signer: &Signer, id: &str, seq: u64, pad: usize) -> DownMsg {
    let s = PostureSummary {
        v: SUMMARY_VERSION,
        downstream_id: id.to_owned(),
        computed_at: i64::try_from(seq).unwrap_or(0),
        rule_pack_version: "x".repeat(pad.max(1)),
        scoring_version: "1".into(),
        agencies: Vec::new(),
    };
    let body = serde_json::to_string(&s).expect("summary json");
    let sig = signer.sign(body.as_bytes()).expect("sign");
    DownMsg::Summary { seq, body, sig }
}
