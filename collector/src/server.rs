//! The collector's QUIC shell: admits connections, runs enrollment or a session per agent.
//!
//! New connections pass [`admission`]: a handshake budget that answers unvalidated Initials
//! with a QUIC Retry under load and gives each source address a share, so spoofed Initials or
//! one busy address cannot starve other agents. Each admitted connection gets one task;
//! sessions are in [`session`], live ones are registered in [`live`] (one per agent, closed at
//! once when the agent is revoked on any collector sharing the store, which the accept loop
//! re-reads every two seconds).
//!
//! The endpoint's stateless-reset key is kept in the data dir (`quic-reset.key`, 0600), so a
//! collector restarted after a crash answers packets of its predecessor's connections with a
//! reset that agents act on at once, instead of waiting for their idle timeout.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustls::pki_types::CertificateDer;
use tokio::sync::watch;
use tracing::{Instrument as _, debug, info, info_span};
use vigil_proto::frame::{self, FrameDecoder};
use vigil_proto::msg::{CollectorMsg, EnrollRequest, EnrollResponse, code};
use vigil_proto::session::{CollectorSession, SessionConfig};

use crate::config::Config;
use crate::federation;
use crate::ingest::Ingest;
use crate::metrics::{self, Event, Refusal, StoreOp};
use crate::pki::{self, Ca, PkiPaths};
use crate::store::Store;
use crate::tls::{self, RevokedSerials};

mod admission;
pub mod config;
mod live;
mod policy;
mod session;

use admission::{Admission, Verdict};

/// Largest enrollment request accepted.
const MAX_ENROLL_FRAME: usize = 64 * 1024;
/// How often revocations, the IOC version and the policy revision are re-read from the store.
const REVOCATION_REFRESH: Duration = Duration::from_secs(2);
/// Time a peer gets to finish its handshake, open its stream and send its first frame.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// File of the stateless-reset key in the data dir.
pub const RESET_KEY_FILE: &str = "quic-reset.key";

/// Shared state of a running collector.
pub struct Ctx {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// CA.
    pub ca: Arc<Ca>,
    /// Refused certificate serials, shared with the TLS verifier.
    pub revoked: RevokedSerials,
    /// Session tunables.
    pub session: SessionConfig,
    /// Batches per second each agent may send (a token bucket; excess waits).
    pub batches_per_sec: u32,
    /// Current IOC version in the store, refreshed by the accept loop; sessions push deltas when
    /// it moves (imports run in another process).
    pub ioc_version: watch::Sender<u64>,
    /// Alert thresholds and disabled kinds, per agency subtree.
    pub alerts: Arc<crate::alerting::AlertSettings>,
    /// What is done with hellos, batches and heartbeats (store, catalogue, alerts, scores).
    pub ingest: Arc<Ingest>,
    /// Live sessions, one per agent.
    live: Arc<live::LiveSessions>,
    /// Woken when a downstream's summary is stored, so this collector's own upstream link
    /// pushes the change at once instead of at its next interval.
    fed_wake: Arc<tokio::sync::Notify>,
    /// Downstream collectors' summary budgets (all their sessions together).
    fed_budgets: Arc<federation::upstream::Budgets>,
    /// The policy key and the policies delivered to agents.
    policy: Arc<policy::PolicyHub>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").finish_non_exhaustive()
    }
}

/// Kept for callers above the transport; new code reads [`crate::clock::now_ms`].
pub use crate::clock::now_ms;

/// Runs a blocking store call of a session off the async threads.
async fn blocking<T: Send + 'static>(
    store: &Arc<dyn Store>,
    f: impl FnOnce(&dyn Store) -> crate::store::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    blocking_op(store, StoreOp::Session, f).await
}

/// Runs a blocking store call off the async threads, timed as `op` in the metrics.
async fn blocking_op<T: Send + 'static>(
    store: &Arc<dyn Store>,
    op: StoreOp,
    f: impl FnOnce(&dyn Store) -> crate::store::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let s = store.clone();
    Ok(
        tokio::task::spawn_blocking(move || metrics::time_store(op, || f(&*s)))
            .await
            .context("store task panicked")??,
    )
}

/// The stateless-reset key of `data_dir`, created (0600) on first use.
///
/// # Errors
/// When the key cannot be read or written, or is readable by others.
pub fn reset_key(data_dir: &Path) -> anyhow::Result<ring::hmac::Key> {
    let path = data_dir.join(RESET_KEY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 64];
            rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut key)
                .map_err(|e| anyhow::anyhow!("reading the system random source: {e}"))?;
            crate::fsutil::write_private(&path, &key)
                .with_context(|| format!("writing {}", path.display()))?;
            key.to_vec()
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path)?.permissions().mode();
        anyhow::ensure!(
            mode & 0o077 == 0,
            "{} is readable by others (mode {:o}); it lets anyone reset agents' connections: \
             chmod 600 it",
            path.display(),
            mode & 0o777
        );
    }
    anyhow::ensure!(
        bytes.len() >= 32,
        "{} is too short ({} bytes); delete it and a new key is made",
        path.display(),
        bytes.len()
    );
    Ok(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes))
}

/// The key of the connection-ID generator, derived from the reset key: the same for every
/// process of one data dir, unguessable without the key file.
fn cid_key(reset: &ring::hmac::Key) -> u64 {
    let tag = ring::hmac::sign(reset, b"vigil quic connection id generator");
    let mut b = [0u8; 8];
    b.copy_from_slice(&tag.as_ref()[..8]);
    u64::from_le_bytes(b)
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
        let endpoint = bind_endpoint(&cfg.data_dir, server_cfg, cfg.quic_listen)?;
        let session = SessionConfig {
            max_frame: cfg.max_frame,
            heartbeat_interval: cfg.heartbeat_interval,
            idle_timeout: cfg.idle_timeout,
            ..SessionConfig::default()
        };
        let (ioc_version, _) = watch::channel(store.ioc_version()?);
        let policy = Arc::new(policy::PolicyHub::open(
            &cfg.data_dir,
            &*store,
            cfg.max_frame,
            now_ms() / 1000,
        )?);
        let alerts = Arc::new(cfg.alerts.clone());
        let ingest = Arc::new(Ingest {
            store: store.clone(),
            catalog: crate::catalog::SharedCatalog::new(crate::policy::catalog(&*store)?),
            alerts: alerts.clone(),
            scores,
            vulns: Arc::default(),
        });
        Ok(Self {
            endpoint,
            ctx: Arc::new(Ctx {
                store,
                ca,
                revoked,
                session,
                batches_per_sec: cfg.max_batches_per_sec,
                ioc_version,
                alerts,
                ingest,
                live: Arc::default(),
                fed_wake: Arc::default(),
                fed_budgets: Arc::default(),
                policy,
            }),
            rate: cfg.max_new_connections_per_sec,
        })
    }

    /// What wakes this collector's upstream link when a downstream's summary is stored.
    pub fn federation_wake(&self) -> Arc<tokio::sync::Notify> {
        self.ctx.fed_wake.clone()
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
        let mut admission = Admission::new(self.rate, Instant::now());
        let handshaking = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        // Revocations made elsewhere (the CLI, another collector) reach the handshake and the
        // live sessions within seconds.
        let mut refresh = tokio::time::interval(REVOCATION_REFRESH);
        loop {
            tokio::select! {
                inc = self.endpoint.accept() => {
                    let Some(incoming) = inc else { break };
                    let remote = incoming.remote_address();
                    let busy = handshaking.load(Ordering::Relaxed);
                    match admission.decide(remote.ip(), incoming.remote_address_validated(), busy, Instant::now()) {
                        Verdict::Accept => {
                            let (ctx, sd, hs) = (self.ctx.clone(), shutdown.clone(), handshaking.clone());
                            tasks.spawn(handle_incoming(ctx, incoming, hs, sd).instrument(info_span!("conn", %remote)));
                        }
                        Verdict::Retry => {
                            if let Err(e) = incoming.retry() {
                                e.into_incoming().refuse();
                            }
                        }
                        Verdict::Refuse => {
                            debug!(%remote, "Handshake budget spent; refusing.");
                            metrics::record(Event::HandshakeRefused(Refusal::Budget));
                            incoming.refuse();
                        }
                    }
                }
                _ = shutdown.changed() => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = refresh.tick() => self.refresh().await,
            }
        }
        info!("Shutting down: closing agent sessions.");
        let drain = async { while tasks.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
        self.endpoint
            .close(code::UNAVAILABLE.into(), b"collector shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }

    /// Re-reads refused serials (closing the live sessions that use one), the policies (and
    /// with them the rule catalogue) and the IOC version.
    async fn refresh(&self) {
        if let Ok(serials) = blocking(&self.ctx.store, |s| s.revoked_serials()).await {
            let set: std::collections::HashSet<String> = serials.into_iter().collect();
            self.ctx.live.close_revoked(&set, &[]);
            if let Ok(mut tls_set) = self.ctx.revoked.write() {
                *tls_set = set;
            }
        }
        let (hub, ingest) = (self.ctx.policy.clone(), self.ctx.ingest.clone());
        if let Err(e) = blocking(&self.ctx.store, move |s| hub.refresh(s, &ingest.catalog)).await {
            debug!(error = %e, "Reading the policy revision failed; retrying.");
        }
        if let Ok(v) = blocking(&self.ctx.store, |s| s.ioc_version()).await {
            self.ctx
                .ioc_version
                .send_if_modified(|cur| std::mem::replace(cur, v) != v);
        }
    }
}

/// Binds the server endpoint with the data dir's stateless-reset key.
fn bind_endpoint(
    data_dir: &Path,
    server_cfg: quinn::ServerConfig,
    addr: SocketAddr,
) -> anyhow::Result<quinn::Endpoint> {
    let key = reset_key(data_dir)?;
    let cid_key = cid_key(&key);
    let mut ep_cfg = quinn::EndpointConfig::new(Arc::new(key));
    // quinn drops a packet whose connection ID its generator did not make, before any reset:
    // with a new random generator per process, the agents' packets after a restart were dropped
    // silently and each agent waited out its idle timeout. The generator's key comes from the
    // persisted reset key, so a restarted collector recognises its own CIDs and resets them.
    ep_cfg.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    // After a restart every agent's next packet asks for a reset; answer a burst of them.
    ep_cfg.min_reset_interval(Duration::from_millis(2));
    let socket =
        std::net::UdpSocket::bind(addr).with_context(|| format!("binding QUIC on {addr}"))?;
    let runtime = quinn::default_runtime().context("no async runtime for QUIC")?;
    quinn::Endpoint::new(ep_cfg, Some(server_cfg), socket, runtime)
        .with_context(|| format!("binding QUIC on {addr}"))
}

/// Smooths reconnect storms and bursts of batches: at most `rate` per second, bursting to
/// `rate`.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: u32, now: Instant) -> Self {
        Self {
            rate: f64::from(rate.max(1)),
            tokens: f64::from(rate.max(1)),
            last: now,
        }
    }

    /// Takes a token, or says how long until one is there.
    fn take_or_wait(&mut self, now: Instant) -> Result<(), Duration> {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// Counts a handshake in progress until dropped.
struct Handshaking(Arc<AtomicUsize>);

impl Drop for Handshaking {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn handle_incoming(
    ctx: Arc<Ctx>,
    incoming: quinn::Incoming,
    handshaking: Arc<AtomicUsize>,
    shutdown: watch::Receiver<bool>,
) {
    handshaking.fetch_add(1, Ordering::Relaxed);
    let slot = Handshaking(handshaking);
    let conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            debug!(error = %e, "Handshake failed.");
            metrics::record(Event::HandshakeRefused(Refusal::Tls));
            return;
        }
        Err(_) => {
            debug!("Handshake timed out.");
            metrics::record(Event::HandshakeRefused(Refusal::Timeout));
            return;
        }
    };
    drop(slot);
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
        Some(p) if p == vigil_proto::ALPN => session::session_conn(&ctx, conn, shutdown).await,
        Some(p) if p == vigil_proto::fed::ALPN_FED_ENROLL => {
            let r = federation::upstream::enroll_conn(ctx.store.clone(), ctx.ca.clone(), &conn);
            if let Err(e) = r.await {
                debug!(error = %e, "Downstream enrollment ended with an error.");
            }
        }
        Some(p) if p == vigil_proto::fed::ALPN_FED => {
            let told = federation::upstream::Told {
                scores: Some(ctx.ingest.scores.clone()),
                wake: Some(ctx.fed_wake.clone()),
                budgets: ctx.fed_budgets.clone(),
            };
            federation::upstream::session_conn(ctx.store.clone(), told, conn).await;
        }
        _ => {
            metrics::record(Event::HandshakeRefused(Refusal::Alpn));
            conn.close(code::PROTOCOL.into(), b"unsupported ALPN");
        }
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
            let (store, ca, alerts) = (ctx.store.clone(), ctx.ca.clone(), ctx.alerts.clone());
            let (resp, effects) = tokio::task::spawn_blocking(move || {
                metrics::time_store(StoreOp::Enroll, || {
                    let now = time::OffsetDateTime::now_utc();
                    crate::enroll::handle(&*store, &ca, &alerts, req, now)
                })
            })
            .await
            .context("enrollment task panicked")?;
            // A replaced identity loses its live session and its certificate at once.
            let serials: std::collections::HashSet<String> =
                effects.revoked_serials.into_iter().collect();
            ctx.live.close_revoked(&serials, &effects.replaced_agents);
            if let Ok(mut set) = ctx.revoked.write() {
                set.extend(serials);
            }
            let mut resp = resp;
            if let EnrollResponse::Ok { policy_key, .. } = &mut resp {
                *policy_key = Some(ctx.policy.public_key());
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
    metrics::record(Event::Enrollment(match resp {
        EnrollResponse::Ok { .. } => metrics::Outcome::Accepted,
        EnrollResponse::Error { .. } => metrics::Outcome::Refused,
    }));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_data_dir_gets_a_private_reset_key_that_survives_a_restart() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tmp");
        let a = reset_key(dir.path()).expect("new key");
        let path = dir.path().join(RESET_KEY_FILE);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = reset_key(dir.path()).expect("same key");
        assert_eq!(
            ring::hmac::sign(&a, b"cid").as_ref(),
            ring::hmac::sign(&b, b"cid").as_ref(),
            "a restarted collector computes the same reset tokens"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = reset_key(dir.path()).expect_err("readable by others");
        assert!(e.to_string().contains("chmod 600"), "{e}");
    }

    #[test]
    fn a_restarted_collector_recognises_the_connection_ids_it_issued() {
        use quinn::ConnectionIdGenerator as _;
        let dir = tempfile::tempdir().expect("tmp");
        let other = tempfile::tempdir().expect("tmp");
        let first = cid_key(&reset_key(dir.path()).expect("key"));
        let mut before = quinn_proto::HashedConnectionIdGenerator::from_key(first);
        let cid = before.generate_cid();
        // The process restarts: the key is read back from the data dir.
        let again = cid_key(&reset_key(dir.path()).expect("key"));
        let after = quinn_proto::HashedConnectionIdGenerator::from_key(again);
        assert!(
            after.validate(&cid).is_ok(),
            "a CID of the previous process must be recognised, or quinn drops the packet \
             instead of resetting the connection"
        );
        let stranger = cid_key(&reset_key(other.path()).expect("key"));
        assert_ne!(stranger, first, "each data dir has its own key");
    }

    #[test]
    fn token_bucket_limits_bursts_and_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, t0);
        assert!(
            b.take_or_wait(t0).is_ok() && b.take_or_wait(t0).is_ok() && b.take_or_wait(t0).is_ok()
        );
        assert!(b.take_or_wait(t0).is_err());
        assert!(b.take_or_wait(t0 + Duration::from_millis(400)).is_ok());
        assert!(b.take_or_wait(t0 + Duration::from_millis(400)).is_err());
        let wait = b
            .take_or_wait(t0 + Duration::from_millis(400))
            .expect_err("empty");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(334),
            "{wait:?}"
        );
    }
}
