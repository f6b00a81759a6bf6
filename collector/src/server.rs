//! The collector's QUIC shell: accepts connections, runs enrollment or a session per agent.
//!
//! Each connection gets one task. A session task is a loop around the sans-IO
//! [`CollectorSession`]: read bytes → `handle`, write `poll_transmit`, act on events. A batch is
//! acknowledged only after the store committed it, and the task does not read the next bytes
//! until then, so a slow store pushes back on agents through QUIC flow control instead of
//! dropping anything.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustls::pki_types::CertificateDer;
use tokio::sync::watch;
use tracing::{Instrument as _, debug, info, info_span, warn};
use vigil_proto::frame::{self, FrameDecoder};
use vigil_proto::msg::{CollectorMsg, EnrollRequest, EnrollResponse, code};
use vigil_proto::session::{CollectorEvent, CollectorSession, SessionConfig};

use crate::config::Config;
use crate::pki::{self, Ca, PkiPaths};
use crate::store::{Heartbeat, Store};
use crate::tls::{self, RevokedSerials};

/// Largest enrollment request accepted.
const MAX_ENROLL_FRAME: usize = 64 * 1024;
/// How often the revocation set is re-read from the store.
const REVOCATION_REFRESH: Duration = Duration::from_secs(2);
/// Time a peer gets to open its stream and send its first frame.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Shared state of a running collector.
pub struct Ctx {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// CA.
    pub ca: Arc<Ca>,
    /// Revoked certificate serials, shared with the TLS verifier.
    pub revoked: RevokedSerials,
    /// Session tunables.
    pub session: SessionConfig,
    /// Current IOC version in the store, refreshed by the accept loop; sessions push deltas when
    /// it moves (imports run in another process).
    pub ioc_version: watch::Sender<u64>,
    /// Alert thresholds and disabled kinds, per agency subtree.
    pub alerts: Arc<crate::alerting::AlertSettings>,
    /// The console's cached scores, told when stored findings change them.
    pub scores: Arc<crate::scoring::ScoreCache>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").finish_non_exhaustive()
    }
}

/// Milliseconds since the epoch (the shell's clock).
pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc()
        .unix_timestamp_nanos()
        .div_euclid(1_000_000) as i64
}

/// Runs a blocking store call off the async threads.
async fn blocking<T: Send + 'static>(
    store: &Arc<dyn Store>,
    f: impl FnOnce(&dyn Store) -> crate::store::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let s = store.clone();
    Ok(tokio::task::spawn_blocking(move || f(&*s))
        .await
        .context("store task panicked")??)
}

/// A bound QUIC endpoint with its context.
#[derive(Debug)]
pub struct QuicServer {
    endpoint: quinn::Endpoint,
    ctx: Arc<Ctx>,
    rate: u32,
}

impl QuicServer {
    /// Loads PKI, builds TLS and binds the endpoint.
    ///
    /// # Errors
    /// When the PKI files are missing/invalid or the address cannot be bound.
    pub fn bind(
        cfg: &Config,
        store: Arc<dyn Store>,
        scores: Arc<crate::scoring::ScoreCache>,
    ) -> anyhow::Result<Self> {
        let paths = PkiPaths::new(&cfg.data_dir);
        let ca = Arc::new(
            Ca::load(&paths)
                .context("loading the collector CA (did you run `vigil-collector init`?)")?,
        );
        let chain_pem = std::fs::read_to_string(&paths.server_cert)
            .with_context(|| format!("reading {}", paths.server_cert.display()))?;
        let chain = pki::pem_certs(&chain_pem)?;
        let key = {
            use rustls::pki_types::PrivateKeyDer;
            use rustls::pki_types::pem::PemObject;
            PrivateKeyDer::from_pem_file(&paths.server_key)
                .with_context(|| format!("reading {}", paths.server_key.display()))?
        };
        let revoked: RevokedSerials = Arc::new(std::sync::RwLock::new(
            store.revoked_serials()?.into_iter().collect(),
        ));
        let server_cfg = tls::server_config(
            ca.cert_der().clone(),
            chain,
            key,
            revoked.clone(),
            cfg.idle_timeout,
        )
        .map_err(anyhow::Error::msg)?;
        let endpoint = quinn::Endpoint::server(server_cfg, cfg.quic_listen)
            .with_context(|| format!("binding QUIC on {}", cfg.quic_listen))?;
        let session = SessionConfig {
            max_frame: cfg.max_frame,
            heartbeat_interval: cfg.heartbeat_interval,
            idle_timeout: cfg.idle_timeout,
            ..SessionConfig::default()
        };
        let (ioc_version, _) = watch::channel(store.ioc_version()?);
        Ok(Self {
            endpoint,
            ctx: Arc::new(Ctx {
                store,
                ca,
                revoked,
                session,
                ioc_version,
                alerts: Arc::new(cfg.alerts.clone()),
                scores,
            }),
            rate: cfg.max_new_connections_per_sec,
        })
    }

    /// The bound address.
    ///
    /// # Errors
    /// When the socket has no local address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Accepts connections until `shutdown` flips, then closes every session politely.
    pub async fn serve(self, mut shutdown: watch::Receiver<bool>) {
        let mut bucket = TokenBucket::new(self.rate, Instant::now());
        let mut tasks = tokio::task::JoinSet::new();
        // Revocations made with the CLI (another process) reach the handshake within seconds.
        let mut refresh = tokio::time::interval(REVOCATION_REFRESH);
        loop {
            tokio::select! {
                inc = self.endpoint.accept() => {
                    let Some(incoming) = inc else { break };
                    if !bucket.take(Instant::now()) {
                        debug!(remote = %incoming.remote_address(), "Connection rate limit reached; refusing.");
                        incoming.refuse();
                        continue;
                    }
                    let ctx = self.ctx.clone();
                    let sd = shutdown.clone();
                    let remote = incoming.remote_address();
                    tasks.spawn(handle_incoming(ctx, incoming, sd).instrument(info_span!("conn", %remote)));
                }
                _ = shutdown.changed() => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = refresh.tick() => {
                    if let Ok(serials) = blocking(&self.ctx.store, |s| s.revoked_serials()).await
                        && let Ok(mut set) = self.ctx.revoked.write()
                    {
                        set.extend(serials);
                    }
                    if let Ok(v) = blocking(&self.ctx.store, |s| s.ioc_version()).await {
                        self.ctx.ioc_version.send_if_modified(|cur| std::mem::replace(cur, v) != v);
                    }
                }
            }
        }
        info!("Shutting down: closing agent sessions.");
        let drain = async { while tasks.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
        self.endpoint
            .close(code::UNAVAILABLE.into(), b"collector shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

/// Smooths reconnect storms: at most `rate` new connections per second, bursting to `rate`.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: u32, now: Instant) -> Self {
        Self {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            last: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn handle_incoming(
    ctx: Arc<Ctx>,
    incoming: quinn::Incoming,
    shutdown: watch::Receiver<bool>,
) {
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            debug!(error = %e, "Handshake failed.");
            return;
        }
    };
    let alpn = conn
        .handshake_data()
        .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|h| h.protocol);
    match alpn.as_deref() {
        Some(p) if p == vigil_proto::ALPN_ENROLL => {
            if let Err(e) = enroll_conn(&ctx, &conn).await {
                debug!(error = %e, "Enrollment connection ended with an error.");
            }
        }
        Some(p) if p == vigil_proto::ALPN => session_conn(&ctx, conn, shutdown).await,
        _ => conn.close(code::PROTOCOL.into(), b"unsupported ALPN"),
    }
}

/// Reads one frame from a stream.
async fn read_frame<T: serde::de::DeserializeOwned>(
    recv: &mut quinn::RecvStream,
    max: usize,
) -> anyhow::Result<T> {
    let mut dec = FrameDecoder::new(max);
    let mut buf = [0u8; 8192];
    loop {
        if let Some(v) = dec.decode::<T>()? {
            return Ok(v);
        }
        match recv.read(&mut buf).await? {
            Some(n) => dec.push(&buf[..n]),
            None => anyhow::bail!("stream ended before a complete frame"),
        }
    }
}

async fn enroll_conn(ctx: &Arc<Ctx>, conn: &quinn::Connection) -> anyhow::Result<()> {
    let (mut send, mut recv) = tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.accept_bi())
        .await
        .context("no stream")??;
    let resp = match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        read_frame::<EnrollRequest>(&mut recv, MAX_ENROLL_FRAME),
    )
    .await
    {
        Ok(Ok(req)) => {
            let (store, ca) = (ctx.store.clone(), ctx.ca.clone());
            let (resp, effects) = tokio::task::spawn_blocking(move || {
                crate::enroll::handle(&*store, &ca, req, time::OffsetDateTime::now_utc())
            })
            .await
            .context("enrollment task panicked")?;
            if let Ok(mut set) = ctx.revoked.write() {
                set.extend(effects.revoked_serials);
            }
            resp
        }
        Ok(Err(e)) => EnrollResponse::Error {
            code: code::MALFORMED,
            message: format!("bad enrollment request: {e}"),
        },
        Err(_) => EnrollResponse::Error {
            code: code::TIMED_OUT,
            message: "no enrollment request received".into(),
        },
    };
    let bytes = frame::encode(&resp, MAX_ENROLL_FRAME)?;
    send.write_all(&bytes).await?;
    send.finish()?;
    // Let the agent read the answer and close; do not hold the connection forever.
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
    Ok(())
}

/// Indicators per `IocUpdate` frame (about 100 bytes each, well under the frame limit).
const IOC_CHUNK: usize = 2000;

/// Brings an agent holding IOC version `have` up to the store's version: a delta when it is
/// behind, the full set when it holds nothing or a version this store never had. Large sets go
/// in several frames; every frame after the first applies to the version the first one set.
/// Returns the version the agent holds afterwards.
async fn push_iocs(ctx: &Arc<Ctx>, sess: &mut CollectorSession, have: u64) -> anyhow::Result<u64> {
    let current = blocking(&ctx.store, |s| s.ioc_version()).await?;
    if current == have {
        return Ok(have);
    }
    let from = if have == 0 || have > current { 0 } else { have };
    let (version, list) = blocking(&ctx.store, move |s| s.ioc_since(from)).await?;
    let mut chunks = list.chunks(IOC_CHUNK);
    let first = chunks.next().unwrap_or(&[]);
    sess.push(&CollectorMsg::IocUpdate {
        version,
        from_version: from,
        add: first.to_vec(),
        remove: vec![],
    })?;
    for c in chunks {
        sess.push(&CollectorMsg::IocUpdate {
            version,
            from_version: version,
            add: c.to_vec(),
            remove: vec![],
        })?;
    }
    debug!(from, version, indicators = list.len(), "IOC update pushed.");
    Ok(version)
}

fn peer_identity(conn: &quinn::Connection) -> Result<pki::CertIdentity, String> {
    let certs = conn
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or("a client certificate is required; enroll first")?;
    let leaf = certs.first().ok_or("empty certificate chain")?;
    pki::cert_identity(leaf)
}

async fn session_conn(ctx: &Arc<Ctx>, conn: quinn::Connection, shutdown: watch::Receiver<bool>) {
    let identity = match peer_identity(&conn) {
        Ok(id) => id,
        Err(e) => {
            warn!(error = %e, "Refused a session without a valid agent identity.");
            conn.close(code::UNAUTHORIZED.into(), e.as_bytes());
            return;
        }
    };
    let span = info_span!("session", agent = %identity.agent_id);
    if let Err(e) = run_session(ctx, &conn, &identity, shutdown)
        .instrument(span.clone())
        .await
    {
        span.in_scope(|| debug!(error = %e, "Session ended."));
    }
}

async fn run_session(
    ctx: &Arc<Ctx>,
    conn: &quinn::Connection,
    id: &pki::CertIdentity,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let agent_id = id.agent_id.clone();
    let rec = blocking(&ctx.store, {
        let a = agent_id.clone();
        move |s| s.agent(&a)
    })
    .await?;
    match rec {
        // Any certificate our CA issued for a live agent id is accepted, not only the latest
        // serial: a renewal whose answer was lost must not lock the agent out. Replaced
        // identities have their own (revoked) agent ids.
        Some(r) if !r.revoked => {}
        Some(_) => {
            conn.close(
                code::UNAUTHORIZED.into(),
                b"agent identity revoked or replaced; re-enroll",
            );
            return Ok(());
        }
        None => {
            conn.close(code::UNAUTHORIZED.into(), b"unknown agent; enroll first");
            return Ok(());
        }
    }
    let (mut send, mut recv) = tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.accept_bi())
        .await
        .context("no stream")??;
    let mut sess = CollectorSession::new(Instant::now(), ctx.session.clone());
    let mut buf = vec![0u8; 64 * 1024];
    let mut max_seq = 0u64;
    let mut ioc_rx = ctx.ioc_version.subscribe();
    // IOC version the agent holds; None until its Hello.
    let mut agent_ioc: Option<u64> = None;
    loop {
        while let Some(ev) = sess.poll_event() {
            match ev {
                CollectorEvent::Hello {
                    agent_id: claimed,
                    agent_version,
                    proto_version,
                    ioc_version,
                    ..
                } => {
                    if claimed != agent_id {
                        sess.reject(
                            code::UNAUTHORIZED,
                            "hello agent_id does not match the certificate",
                        );
                        continue;
                    }
                    let a = agent_id.clone();
                    let now = now_ms() / 1000;
                    max_seq = blocking(&ctx.store, move |s| {
                        s.agent_seen(&a, now, Some(&agent_version), None)?;
                        s.max_seq(&a)
                    })
                    .await?;
                    info!(proto_version, acked = max_seq, "Agent connected.");
                    let current = *ioc_rx.borrow_and_update();
                    sess.accept(serde_json::Value::Null, current, max_seq)?;
                    agent_ioc = Some(push_iocs(ctx, &mut sess, ioc_version).await?);
                }
                CollectorEvent::Batch {
                    findings, clamped, ..
                } => {
                    if clamped > 0 {
                        warn!(clamped, "Agent text cut to the protocol's length caps.");
                    }
                    let a = agent_id.clone();
                    let received = now_ms();
                    let n = findings.len();
                    let settings = ctx.alerts.clone();
                    let stored = blocking(&ctx.store, move |s| {
                        let out = s.ingest(&a, &findings, received)?;
                        // Alerts are raised after the batch is durable; a replay only counts them
                        // again on the same (deduplicated) alert.
                        crate::alerting::raise_for_batch(
                            s,
                            &settings,
                            &a,
                            &findings,
                            &out.gaps,
                            received / 1000,
                        )?;
                        Ok(out)
                    });
                    match stored.await {
                        Ok(out) => {
                            if !out.gaps.is_empty() {
                                warn!(gaps = ?out.gaps, "Sequence gap: findings missing from this agent.");
                            }
                            debug!(
                                n,
                                stored = out.stored,
                                dup = out.duplicates,
                                "Batch stored."
                            );
                            if out.stored > 0 {
                                ctx.scores.mark_changed();
                            }
                            max_seq = out.max_seq;
                            sess.ack(max_seq);
                        }
                        Err(e) => {
                            warn!(error = %e, "Storing a batch failed; asking the agent to retry.");
                            sess.reject(code::INTERNAL, "collector storage error; retry later");
                        }
                    }
                }
                CollectorEvent::Heartbeat {
                    now, spool_depth, ..
                } => {
                    let a = agent_id.clone();
                    let here = now_ms();
                    let hb = Heartbeat {
                        spool_depth,
                        clock_skew_ms: now.saturating_sub(here),
                    };
                    blocking(&ctx.store, move |s| {
                        s.agent_seen(&a, here / 1000, None, Some(hb))
                    })
                    .await?;
                    sess.ack(max_seq);
                }
                CollectorEvent::RenewCert { csr_pem } => {
                    let (ca, a) = (ctx.ca.clone(), agent_id.clone());
                    let rec = blocking(&ctx.store, move |s| s.agent(&a)).await?;
                    let agency = rec.map(|r| r.agency).unwrap_or_default();
                    let req = pki::AgentCertRequest {
                        agent_id: &agent_id,
                        agency: &agency,
                    };
                    match ca.issue_agent(&csr_pem, &req, time::OffsetDateTime::now_utc()) {
                        Ok(c) => {
                            // Record the new serial before handing the certificate out: from now
                            // on only the new certificate opens a session.
                            let (a, serial, not_after) =
                                (agent_id.clone(), c.serial.clone(), c.not_after);
                            let now = now_ms() / 1000;
                            if blocking(&ctx.store, move |s| {
                                s.agent_set_cert(&a, &serial, not_after, now)
                            })
                            .await?
                            {
                                info!(serial = %c.serial, "Agent certificate renewed.");
                                sess.push(&CollectorMsg::CertIssued { cert_pem: c.pem })?;
                            } else {
                                sess.reject(code::UNAUTHORIZED, "agent revoked; renewal refused");
                            }
                        }
                        Err(e) => sess.reject(code::PROTOCOL, format!("bad renewal request: {e}")),
                    }
                }
                CollectorEvent::Closed(r) => {
                    while let Some(b) = sess.poll_transmit() {
                        let _ = send.write_all(&b).await;
                    }
                    let _ = send.finish();
                    if r.by_peer {
                        debug!(code = r.code, reason = %r.message, "Agent closed the session.");
                    } else {
                        info!(code = r.code, reason = %r.message, "Closing session.");
                    }
                    // Give the final frame a moment to leave before the close frame.
                    let _ = tokio::time::timeout(Duration::from_millis(200), conn.closed()).await;
                    conn.close(r.code.into(), r.message.as_bytes());
                    return Ok(());
                }
            }
        }
        // Everything the events produced (welcome, acks) leaves before we wait again.
        while let Some(b) = sess.poll_transmit() {
            send.write_all(&b).await?;
        }
        let deadline = sess
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
        tokio::select! {
            r = recv.read(&mut buf) => match r {
                Ok(Some(n)) => sess.handle(Instant::now(), &buf[..n]),
                Ok(None) => { debug!("Agent finished its stream."); return Ok(()); }
                Err(e) => { debug!(error = %e, "Stream error."); return Ok(()); }
            },
            _ = tokio::time::sleep_until(deadline.into()) => sess.handle_timeout(Instant::now()),
            _ = shutdown.changed() => sess.reject(code::UNAVAILABLE, "collector shutting down; reconnect later"),
            Ok(()) = ioc_rx.changed(), if agent_ioc.is_some() => {
                if let Some(have) = agent_ioc {
                    agent_ioc = Some(push_iocs(ctx, &mut sess, have).await?);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_limits_bursts_and_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, t0);
        assert!(b.take(t0) && b.take(t0) && b.take(t0));
        assert!(!b.take(t0));
        assert!(b.take(t0 + Duration::from_millis(400)));
        assert!(!b.take(t0 + Duration::from_millis(400)));
    }
}
