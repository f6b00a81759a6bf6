//! A hostile agent for attack tests: enrolls with whatever host facts it likes through the real
//! enrollment exchange, then speaks the real session protocol (the sans-IO [`AgentSession`]
//! over QUIC + mTLS) with whatever findings it likes, without the agent's own clamps or spool.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use vigil_agent::state::StatePaths;
use vigil_proto::msg::HostIdentity;
use vigil_proto::session::{AgentEvent, AgentSession, CloseReason, Hello, SessionConfig};
use vigil_proto::token::EnrollToken;
use vigil_proto::{Envelope, Finding};

/// An enrolled identity under a state dir.
#[derive(Debug, Clone)]
pub struct Identity {
    /// State dir with key, certificate and CA.
    pub state: StatePaths,
    /// Agent id given by the collector.
    pub agent_id: String,
}

/// Enrolls `host` with `token` into `base/name` through the real exchange.
///
/// # Errors
/// A refusal or connection error from the collector.
pub async fn enroll(
    base: &Path,
    name: &str,
    token: &str,
    host: HostIdentity,
) -> anyhow::Result<Identity> {
    let tok = EnrollToken::decode(token)?;
    let state = StatePaths::new(base.join(name));
    let done = vigil_agent::enroll::enroll(&tok, &tok.addrs, host, &state).await?;
    Ok(Identity {
        state,
        agent_id: done.identity.agent_id,
    })
}

/// Host facts with these fields.
pub fn host(machine_id: &str, hostname: &str) -> HostIdentity {
    HostIdentity {
        machine_id: machine_id.into(),
        hostname: hostname.into(),
        os: "Debian GNU/Linux 12".into(),
    }
}

/// A live session speaking as `id`.
#[derive(Debug)]
pub struct RawSession {
    /// Kept so the endpoint lives as long as the connection.
    pub endpoint: quinn::Endpoint,
    /// The QUIC connection.
    pub conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    sess: AgentSession,
    next_seq: u64,
}

/// How long a raw session waits for any one answer.
const ANSWER: Duration = Duration::from_secs(30);

impl RawSession {
    /// Connects to `addr` with `id`'s certificate, says hello and waits for the welcome.
    ///
    /// # Errors
    /// When the collector refuses the connection or the session (the error says why).
    pub async fn open(id: &Identity, addr: &str) -> anyhow::Result<Self> {
        let ca = CertificateDer::from_pem_file(id.state.ca()).context("ca")?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(id.state.cert())
            .context("cert")?
            .collect::<Result<_, _>>()
            .context("cert")?;
        let key = PrivateKeyDer::from_pem_file(id.state.key()).context("key")?;
        let cfg = vigil_agent::tls::session_config(ca, chain, key, Duration::from_secs(30))
            .map_err(anyhow::Error::msg)?;
        let (endpoint, conn) = vigil_agent::tls::connect(addr, cfg).await?;
        let (send, recv) = conn.open_bi().await.context("stream")?;
        let sess = AgentSession::new(
            Instant::now(),
            SessionConfig::default(),
            Hello {
                agent_id: id.agent_id.clone(),
                agent_version: "hostile".into(),
                policy_hash: None,
                policy_version: 0,
                ioc_version: 0,
            },
        );
        let mut s = Self {
            endpoint,
            conn,
            send,
            recv,
            sess,
            next_seq: 1,
        };
        let acked = s
            .until(|ev| match ev {
                AgentEvent::Welcomed { acked_seq, .. } => Some(*acked_seq),
                _ => None,
            })
            .await?;
        s.next_seq = acked + 1;
        Ok(s)
    }

    /// Sends `findings` as one batch with the next seqs and waits for their ack.
    ///
    /// # Errors
    /// When the collector closes the session instead (the error carries its reason).
    pub async fn send(&mut self, findings: Vec<Finding>) -> anyhow::Result<u64> {
        let batch: Vec<Envelope> = findings
            .into_iter()
            .map(|finding| {
                let seq = self.next_seq;
                self.next_seq += 1;
                Envelope {
                    seq,
                    observed_at: crate::now_s() * 1000,
                    finding,
                }
            })
            .collect();
        let last = batch.last().map_or(0, |e| e.seq);
        self.sess.send_batch(batch)?;
        self.until(|ev| match ev {
            AgentEvent::Acked { up_to_seq } if *up_to_seq >= last => Some(*up_to_seq),
            _ => None,
        })
        .await
    }

    /// Drives the session until `pick` accepts an event.
    async fn until<T>(
        &mut self,
        mut pick: impl FnMut(&AgentEvent) -> Option<T>,
    ) -> anyhow::Result<T> {
        let end = Instant::now() + ANSWER;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some(ev) = self.sess.poll_event() {
                if let AgentEvent::Closed(r) = &ev {
                    anyhow::bail!(closed(r));
                }
                if let Some(v) = pick(&ev) {
                    return Ok(v);
                }
            }
            while let Some(b) = self.sess.poll_transmit() {
                self.send.write_all(&b).await?;
            }
            let left = end.saturating_duration_since(Instant::now());
            anyhow::ensure!(
                !left.is_zero(),
                "no answer from the collector in {ANSWER:?}"
            );
            match tokio::time::timeout(left, self.recv.read(&mut buf)).await {
                Ok(Ok(Some(n))) => self.sess.handle(Instant::now(), &buf[..n]),
                Ok(Ok(None)) => anyhow::bail!("the collector ended the stream"),
                Ok(Err(e)) => anyhow::bail!("connection closed: {e}"),
                Err(_) => {}
            }
        }
    }

    /// Waits until the collector closes the connection (at most `within`); returns its reason.
    pub async fn closed_within(&self, within: Duration) -> Option<quinn::ConnectionError> {
        tokio::time::timeout(within, self.conn.closed()).await.ok()
    }
}

fn closed(r: &CloseReason) -> String {
    format!("session closed (code {}): {}", r.code, r.message)
}

/// A handshake flood from one source address: QUIC connection attempts (enrollment handshakes
/// with no client certificate, a pin matching nothing) at a steady rate, each given up after
/// two seconds, until dropped or stopped.
#[derive(Debug)]
pub struct Flood {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<u64>,
    made: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Attempts in flight at once at most; past it a tick is skipped.
const FLOOD_IN_FLIGHT: usize = 512;
/// Longest a flood runs, whatever the caller does.
const FLOOD_MAX: Duration = Duration::from_secs(60);

impl Flood {
    /// Starts `per_sec` attempts per second from `from` (a loopback address such as 127.0.0.2)
    /// to `to`, on the current runtime.
    ///
    /// # Errors
    /// When the source address cannot be bound.
    pub fn start(
        from: std::net::IpAddr,
        to: std::net::SocketAddr,
        per_sec: u32,
    ) -> anyhow::Result<Self> {
        let cfg = vigil_agent::tls::enroll_config([0; 32]).map_err(anyhow::Error::msg)?;
        let mut ep = quinn::Endpoint::client((from, 0).into()).context("binding the flood")?;
        ep.set_default_client_config(cfg);
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let made = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = made.clone();
        let task = tokio::spawn(async move {
            let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(FLOOD_IN_FLIGHT));
            let mut tick = tokio::time::interval(Duration::from_secs(1) / per_sec.max(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let end = Instant::now() + FLOOD_MAX;
            let mut attempts = 0u64;
            while Instant::now() < end && !*stopped.borrow_and_update() {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    continue;
                };
                let Ok(connecting) = ep.connect(to, "vigil-collector") else {
                    continue;
                };
                attempts += 1;
                counter.store(attempts, std::sync::atomic::Ordering::Relaxed);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(2), connecting).await;
                    drop(slot);
                });
            }
            ep.close(0u32.into(), b"");
            attempts
        });
        Ok(Self { stop, task, made })
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u64 {
        self.made.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops the flood; returns how many attempts it made.
    pub async fn stop(self) -> u64 {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or(0)
    }
}
