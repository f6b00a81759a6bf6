//! The agent's QUIC shell around [`AgentSession`]: connects, streams the spool, applies acks.
//!
//! Engines never talk to the network: they push into [`SpoolSink`], which appends to the spool
//! and wakes the uplink. The uplink reads unacknowledged records in order, sends them in batches
//! within the session's in-flight window, and deletes from the spool only what the collector
//! acknowledged. Reconnects use exponential backoff with full jitter so a thousand agents do not
//! return in lockstep after a collector restart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};
use vigil_proto::msg::{AgentStats, code};
use vigil_proto::session::{AgentEvent, AgentSession, Hello, SessionConfig};
use vigil_proto::{Finding, FindingSink};

mod liveness;

use crate::config::AgentConfig;
use crate::spool::Spool;
use crate::state::{Identity, StatePaths, write_private};

/// Milliseconds since the epoch (the shell's clock).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The spool shared between the engines (appending) and the uplink (reading, acking).
pub type SharedSpool = Arc<Mutex<Spool>>;

/// Locks the spool; a panic in another holder cannot corrupt the on-disk log, so poisoning is
/// ignored.
pub fn lock(spool: &SharedSpool) -> std::sync::MutexGuard<'_, Spool> {
    spool
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Counters shared by the agent's parts, since the process started (shown by `status`).
#[derive(Debug, Default)]
pub struct Counters {
    /// Findings accepted by the sink.
    pub findings: AtomicU64,
    /// Findings the spool could not take.
    pub spool_errors: AtomicU64,
    /// File event queue overflows (each one followed by a rescan).
    pub fim_overflows: AtomicU64,
    /// Rule-pack evaluations completed.
    pub checks_run: AtomicU64,
    /// Connection attempts after the first (after a session ended or an attempt failed).
    pub reconnects: AtomicU64,
    /// Rule packs of the last check run, `id@version` with their source (for `status`).
    pub packs: Mutex<Vec<crate::policy::PackStatus>>,
}

impl Counters {
    /// Adds one to `c`.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The values now, with the spool's drop count.
    pub fn snapshot(&self, spool_dropped: u64) -> StatusCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatusCounters {
            findings: get(&self.findings),
            spool_dropped,
            spool_errors: get(&self.spool_errors),
            fim_overflows: get(&self.fim_overflows),
            checks_run: get(&self.checks_run),
            reconnects: get(&self.reconnects),
        }
    }
}

/// The counters in `status`, since the agent process started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StatusCounters {
    /// Findings the engines produced and the spool took.
    pub findings: u64,
    /// Findings dropped because the spool was full (refused, or evicted for a more severe one).
    pub spool_dropped: u64,
    /// Findings the spool failed to write (I/O or encoding errors).
    pub spool_errors: u64,
    /// File event queue overflows of FIM (each one followed by a rescan).
    pub fim_overflows: u64,
    /// Rule-pack evaluations completed.
    pub checks_run: u64,
    /// Connection attempts after the first.
    pub reconnects: u64,
}

/// A [`FindingSink`] that appends to the spool and wakes the uplink.
#[derive(Debug, Clone)]
pub struct SpoolSink {
    spool: SharedSpool,
    wake: Arc<Notify>,
    counters: Arc<Counters>,
}

impl SpoolSink {
    /// A sink over a shared spool.
    pub fn new(spool: SharedSpool, wake: Arc<Notify>, counters: Arc<Counters>) -> Self {
        Self {
            spool,
            wake,
            counters,
        }
    }

    /// The counters this sink adds to, shared with the uplink.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

impl FindingSink for SpoolSink {
    fn emit(&mut self, mut finding: Finding) {
        if let Finding::AgentHealth(h) = &finding
            && h.kind == vigil_proto::HealthKind::QueueOverflow
        {
            Counters::bump(&self.counters.fim_overflows);
        }
        // The collector cuts anything longer anyway; cutting here keeps the spool small and the
        // cut visible in the agent's own log.
        if finding.clamp() {
            tracing::debug!(
                kind = finding.kind_name(),
                "Finding text cut to the protocol's length caps."
            );
        }
        let r = lock(&self.spool).append(now_ms(), &finding);
        match r {
            Ok(_) => {
                self.counters.findings.fetch_add(1, Ordering::Relaxed);
                self.wake.notify_one();
            }
            // Refused for lack of space: already counted by the spool and reported as a
            // SpoolDropped finding once the link is back; not an error of the agent.
            Err(
                crate::spool::SpoolError::Full { .. } | crate::spool::SpoolError::TooLarge { .. },
            ) => {
                tracing::debug!(
                    kind = finding.kind_name(),
                    "Spool full; finding dropped and counted."
                );
            }
            Err(e) => {
                self.counters.spool_errors.fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, kind = finding.kind_name(), "Spool refused a finding.");
            }
        }
    }
}

/// What `vigil-agent status` shows, written by the running agent.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Status {
    /// Agent id.
    pub agent_id: String,
    /// Connected now.
    pub connected: bool,
    /// Collector address in use or last tried.
    pub collector: String,
    /// Last successful session start, ms.
    pub last_connected_at: i64,
    /// Last ack, ms.
    pub last_ack_at: i64,
    /// Last error.
    pub last_error: Option<String>,
    /// Unacked records.
    pub spool_depth: u64,
    /// Highest acked seq.
    pub acked_seq: u64,
    /// Next seq to assign.
    pub next_seq: u64,
    /// When this was written, ms.
    pub updated_at: i64,
    /// Process id of the running agent.
    pub pid: u32,
    /// Counters since the agent process started (absent in files of older agents).
    #[serde(default)]
    pub counters: StatusCounters,
    /// Central policy in force and the packs evaluated (absent in files of older agents).
    #[serde(default)]
    pub policy: crate::policy::PolicyStatus,
}

/// Exponential backoff with full jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `base`, caps at `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempt: 0,
        }
    }

    /// The next delay: uniform in [cap/2, cap] where cap = min(max, base·2^attempt).
    pub fn next(&mut self, rng: &mut impl rand::RngExt) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(16));
        let cap = exp.min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let lo = cap / 2;
        lo + Duration::from_secs_f64(rng.random::<f64>() * (cap - lo).as_secs_f64())
    }

    /// After a healthy session.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// The uplink task.
#[derive(Debug)]
pub struct Uplink {
    identity: Identity,
    state: StatePaths,
    cfg: AgentConfig,
    spool: SharedSpool,
    wake: Arc<Notify>,
    counters: Arc<Counters>,
    started: Instant,
    status: Mutex<Status>,
    ioc: crate::ioc::SharedIoc,
    /// A client endpoint shared with other uplinks of this process; `None`: one per session.
    endpoint: Option<quinn::Endpoint>,
    /// Central policy; `None`: bundles are refused (simulated agents without a state dir).
    policy: Option<Mutex<crate::central::PolicyAgent>>,
}

enum SessionEnd {
    Shutdown,
    Closed(String),
}

impl Uplink {
    /// Builds the uplink.
    pub fn new(
        identity: Identity,
        state: StatePaths,
        cfg: AgentConfig,
        spool: SharedSpool,
        wake: Arc<Notify>,
        counters: Arc<Counters>,
    ) -> Self {
        let status = Status {
            agent_id: identity.agent_id.clone(),
            pid: std::process::id(),
            ..Status::default()
        };
        Self {
            identity,
            state,
            cfg,
            spool,
            wake,
            counters,
            started: Instant::now(),
            status: Mutex::new(status),
            ioc: Arc::new(std::sync::RwLock::new(crate::ioc::IocSet::new())),
            endpoint: None,
            policy: None,
        }
    }

    /// Hands central policy bundles to `policy`, which verifies and applies them.
    pub fn with_policy(mut self, policy: crate::central::PolicyAgent) -> Self {
        self.update_status(|s| {
            s.policy = crate::policy::PolicyStatus::of(policy.current().as_deref())
        });
        self.policy = Some(Mutex::new(policy));
        self
    }

    fn policy_agent(&self) -> Option<std::sync::MutexGuard<'_, crate::central::PolicyAgent>> {
        self.policy
            .as_ref()
            .map(|p| p.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Version and digest of the policy in force, for `Hello` and heartbeats.
    fn policy_in_force(&self) -> (u64, Option<String>) {
        self.policy_agent()
            .map_or((0, None), |p| (p.version(), p.digest()))
    }

    /// Offers a complete transfer (or reports a broken one), queues the health finding that
    /// says what happened, and returns whether a new policy is in force.
    fn on_policy(
        &self,
        transfer: Result<vigil_proto::policy::Assembled, vigil_proto::policy::PolicyError>,
    ) -> Result<bool, crate::spool::SpoolError> {
        let (outcome, kept) = match self.policy_agent() {
            Some(mut p) => {
                let kept = p.version();
                let outcome = match transfer {
                    Ok(a) => p.offer(a),
                    Err(e) => Err(crate::policy::Refusal {
                        version: None,
                        reason: e.to_string(),
                    }),
                };
                (outcome, kept)
            }
            None => (
                Err(crate::policy::Refusal {
                    version: None,
                    reason: "this agent runs without a policy store".into(),
                }),
                0,
            ),
        };
        let finding = match &outcome {
            Ok(a) => {
                info!(version = a.bundle.version, agency = %a.bundle.agency, packs = a.packs.len(), "Central policy applied.");
                crate::policy::applied_finding(a)
            }
            Err(r) => {
                warn!(reason = %r.reason, version = ?r.version, kept, "Central policy refused; keeping the one in force.");
                r.finding(kept)
            }
        };
        lock(&self.spool).append(now_ms(), &finding)?;
        self.wake.notify_one();
        self.update_status(|s| match &outcome {
            Ok(a) => s.policy = crate::policy::PolicyStatus::of(Some(a.as_ref())),
            Err(r) => s.policy.last_refusal = Some(r.reason.clone()),
        });
        Ok(outcome.is_ok())
    }

    /// Connects from `endpoint`, shared with other uplinks of this process (simulated agents),
    /// instead of a new endpoint per session.
    pub fn with_endpoint(mut self, endpoint: quinn::Endpoint) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// Connects to `addr`; returns the endpoint when it is this session's own.
    async fn connect(
        &self,
        addr: &str,
        cfg: quinn::ClientConfig,
    ) -> anyhow::Result<(Option<quinn::Endpoint>, quinn::Connection)> {
        match &self.endpoint {
            Some(ep) => Ok((None, crate::tls::connect_on(ep, addr, cfg).await?)),
            None => {
                let (ep, conn) = crate::tls::connect(addr, cfg).await?;
                Ok((Some(ep), conn))
            }
        }
    }

    /// Shares the IOC set that `IocUpdate`s from the collector are applied to.
    pub fn with_ioc(mut self, ioc: crate::ioc::SharedIoc) -> Self {
        self.ioc = ioc;
        self
    }

    fn collectors(&self) -> Vec<String> {
        match &self.cfg.collector {
            Some(c) => vec![c.clone()],
            None => self.identity.collectors.clone(),
        }
    }

    fn update_status(&self, f: impl FnOnce(&mut Status)) {
        let snapshot = {
            let mut st = self
                .status
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut st);
            let sp = lock(&self.spool);
            st.spool_depth = sp.depth();
            st.acked_seq = sp.acked_seq();
            st.next_seq = sp.next_seq();
            st.counters = self.counters.snapshot(sp.dropped_total());
            st.policy.packs = self
                .counters
                .packs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            st.updated_at = now_ms();
            st.clone()
        };
        if let Ok(json) = serde_json::to_vec_pretty(&snapshot) {
            let _ = write_private(&self.state.status(), &json);
        }
    }

    /// Runs until `shutdown` flips: connect, stream, reconnect with backoff.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(Duration::from_millis(500), self.cfg.max_backoff);
        // StdRng (not thread_rng) keeps this future Send, so it can run on any runtime worker.
        let mut rng: rand::rngs::StdRng = rand::make_rng();
        let mut idx = 0usize;
        let mut first = true;
        loop {
            if !std::mem::take(&mut first) {
                Counters::bump(&self.counters.reconnects);
            }
            let addrs = self.collectors();
            let addr = addrs[idx % addrs.len().max(1)].clone();
            let began = Instant::now();
            let end = self.session(&addr, &mut shutdown).await;
            match end {
                Ok(SessionEnd::Shutdown) => {
                    self.update_status(|s| s.connected = false);
                    return;
                }
                Ok(SessionEnd::Closed(why)) => {
                    info!(collector = %addr, reason = %why, "Session ended.");
                    self.update_status(|s| {
                        s.connected = false;
                        s.last_error = Some(why);
                    });
                }
                Err(e) => {
                    warn!(collector = %addr, error = %format!("{e:#}"), "Cannot reach the collector.");
                    self.update_status(|s| {
                        s.connected = false;
                        s.collector = addr.clone();
                        s.last_error = Some(format!("{e:#}"));
                    });
                    idx = idx.wrapping_add(1);
                }
            }
            if began.elapsed() > Duration::from_secs(30) {
                backoff.reset();
            }
            let delay = backoff.next(&mut rng);
            debug!(?delay, "Reconnecting after backoff.");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    fn client_config(&self) -> anyhow::Result<quinn::ClientConfig> {
        let ca = CertificateDer::from_pem_file(self.state.ca())
            .with_context(|| format!("reading {}", self.state.ca().display()))?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(self.state.cert())
            .with_context(|| format!("reading {}", self.state.cert().display()))?
            .collect::<Result<_, _>>()
            .context("agent certificate")?;
        let key = PrivateKeyDer::from_pem_file(self.state.key())
            .with_context(|| format!("reading {}", self.state.key().display()))?;
        crate::tls::session_config(ca, chain, key, self.cfg.idle_timeout)
            .map_err(anyhow::Error::msg)
    }

    async fn session(
        &self,
        addr: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<SessionEnd> {
        let cfg = self.client_config()?;
        let (endpoint, conn) = tokio::select! {
            r = self.connect(addr, cfg) => r?,
            _ = shutdown.changed() => return Ok(SessionEnd::Shutdown),
        };
        let (mut send, mut recv) = conn.open_bi().await.context("opening the session stream")?;
        let scfg = SessionConfig {
            heartbeat_interval: self.cfg.heartbeat_interval,
            idle_timeout: (self.cfg.heartbeat_interval * 3).max(self.cfg.idle_timeout),
            ..SessionConfig::default()
        };
        let max_frame = scfg.max_frame;
        let policy_in_force = self.policy_in_force();
        let mut sess = AgentSession::new(
            Instant::now(),
            scfg,
            Hello {
                agent_id: self.identity.agent_id.clone(),
                agent_version: env!("CARGO_PKG_VERSION").into(),
                policy_hash: policy_in_force.1,
                policy_version: policy_in_force.0,
                ioc_version: self.ioc.read().map_or(0, |s| s.version()),
            },
        );
        let mut cursor = 0u64; // next seq to send; set at Welcome
        let mut acked = 0u64; // highest seq the collector acknowledged
        let mut alive = liveness::Liveness::new(Instant::now(), conn.stats().udp_rx.datagrams);
        let mut pending_key: Option<rcgen::KeyPair> = None;
        let mut buf = vec![0u8; 64 * 1024];
        debug!("Session stream open; hello queued.");
        let end = 'session: loop {
            // Act on events first: they may free window space or end the session.
            while let Some(ev) = sess.poll_event() {
                match ev {
                    AgentEvent::Welcomed { acked_seq, .. } => {
                        {
                            let mut sp = lock(&self.spool);
                            // fast_forward, not ack: after a wiped spool the collector may be
                            // ahead, and numbering must continue after its position.
                            sp.fast_forward(acked_seq)?;
                            cursor = acked_seq.max(sp.acked_seq()) + 1;
                            acked = cursor - 1;
                            report_drops(&mut sp)?;
                        }
                        info!(collector = %addr, acked = acked_seq, "Connected to the collector.");
                        if pending_key.is_none()
                            && rotation_due(&self.state, self.cfg.rotate_fraction, now_ms() / 1000)
                        {
                            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
                            let csr = rcgen::CertificateParams::default()
                                .serialize_request(&key)?
                                .pem()?;
                            sess.send_renew(csr)?;
                            info!("Certificate past its renewal point; requesting a new one.");
                            pending_key = Some(key);
                        }
                        self.update_status(|s| {
                            s.connected = true;
                            s.collector = addr.to_string();
                            s.last_connected_at = now_ms();
                            s.last_error = None;
                        });
                    }
                    AgentEvent::Acked { up_to_seq } => {
                        lock(&self.spool).ack(up_to_seq)?;
                        acked = acked.max(up_to_seq);
                        self.update_status(|s| s.last_ack_at = now_ms());
                    }
                    AgentEvent::HeartbeatDue => {
                        let depth = lock(&self.spool).depth();
                        sess.send_heartbeat(now_ms(), depth, self.stats());
                        self.update_status(|_| {});
                    }
                    AgentEvent::Closed(r) => {
                        flush(&mut sess, &mut send).await;
                        let _ = send.finish();
                        conn.close(r.code.into(), r.message.as_bytes());
                        wait_idle(endpoint.as_ref()).await;
                        let who = if r.by_peer { "collector" } else { "agent" };
                        if r.code == code::UNAUTHORIZED {
                            warn!(reason = %r.message, "The collector refuses this agent; re-enroll it.");
                        }
                        break 'session SessionEnd::Closed(format!(
                            "{who} closed the session: {} (code {})",
                            r.message, r.code
                        ));
                    }
                    AgentEvent::IocUpdate {
                        version,
                        from_version,
                        add,
                        remove,
                    } => {
                        let applied = {
                            let mut set = self
                                .ioc
                                .write()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            let r = set.apply(version, from_version, &add, &remove);
                            if r.is_err() {
                                // Start over: the next Hello reports version 0 and the collector
                                // answers with the full set.
                                *set = crate::ioc::IocSet::new();
                            }
                            r
                        };
                        match applied {
                            Ok(report) => info!(
                                version,
                                added = add.len(),
                                removed = remove.len(),
                                rejected = report.rejected.len(),
                                "IOC set updated."
                            ),
                            Err(e) => {
                                warn!(error = %e, "IOC delta does not apply; reconnecting for a full set.");
                                conn.close(code::OK.into(), b"IOC set out of step");
                                wait_idle(endpoint.as_ref()).await;
                                break 'session SessionEnd::Closed(
                                    "IOC set out of step; reconnecting for a full set".into(),
                                );
                            }
                        }
                    }
                    AgentEvent::CertIssued(pem) => match pending_key.take() {
                        Some(key) => match install_cert(&self.state, &key, &pem) {
                            Ok(not_after) => info!(
                                not_after,
                                "Certificate renewed; it is used from the next connection."
                            ),
                            Err(e) => {
                                warn!(error = %format!("{e:#}"), "Renewed certificate rejected; keeping the current one.")
                            }
                        },
                        None => warn!("Unrequested certificate from the collector ignored."),
                    },
                    AgentEvent::PolicyBundle(a) => {
                        if self.on_policy(Ok(a))? {
                            // Tell the collector at once rather than at the next heartbeat.
                            let depth = lock(&self.spool).depth();
                            sess.send_heartbeat(now_ms(), depth, self.stats());
                        }
                    }
                    AgentEvent::PolicyRefused(e) => {
                        self.on_policy(Err(e))?;
                    }
                    AgentEvent::RotateCert => {
                        debug!("Collector push not handled by this agent version yet.");
                    }
                }
            }
            // Fill the in-flight window from the spool.
            while sess.can_send() {
                let batch = {
                    let mut sp = lock(&self.spool);
                    let b = sp.read(cursor, self.cfg.batch_size, max_frame / 2)?;
                    if !b.is_empty() {
                        // Group commit: records leave the host only once they are on disk.
                        sp.sync()?;
                    }
                    b
                };
                let Some(last) = batch.last().map(|e| e.seq) else {
                    break;
                };
                sess.send_batch(batch)?;
                cursor = last + 1;
            }
            // Findings sent and not acknowledged yet.
            let awaiting = cursor > acked + 1;
            let rx = conn.stats().udp_rx.datagrams;
            match alive.check(Instant::now(), rx, awaiting) {
                liveness::Verdict::Fine => {}
                liveness::Verdict::Probe => {
                    debug!("Collector silent with findings unacknowledged; probing.");
                    let depth = lock(&self.spool).depth();
                    sess.send_heartbeat(now_ms(), depth, self.stats());
                }
                liveness::Verdict::Dead => {
                    conn.close(code::OK.into(), b"collector not answering");
                    break SessionEnd::Closed(format!(
                        "the collector did not answer for {:?}; dialling again",
                        liveness::DEAD_AFTER
                    ));
                }
            }
            flush(&mut sess, &mut send).await;
            let mut deadline = sess
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            if awaiting {
                // Findings await acknowledgement: wake every half second to watch the
                // collector's silence. An idle agent keeps sleeping until its next heartbeat.
                deadline = deadline.min(Instant::now() + Duration::from_millis(500));
            }
            tokio::select! {
                r = recv.read(&mut buf) => match r {
                    Ok(Some(n)) => { tracing::trace!(n, "Received bytes."); sess.handle(Instant::now(), &buf[..n]) }
                    Ok(None) => break SessionEnd::Closed("collector ended the stream".into()),
                    Err(e) => break SessionEnd::Closed(format!("connection lost: {e}")),
                },
                _ = self.wake.notified(), if sess.can_send() => {}
                _ = tokio::time::sleep_until(deadline.into()) => sess.handle_timeout(Instant::now()),
                _ = shutdown.changed() => {
                    lock(&self.spool).sync()?;
                    conn.close(code::OK.into(), b"agent shutting down");
                    wait_idle(endpoint.as_ref()).await;
                    break SessionEnd::Shutdown;
                }
            }
        };
        Ok(end)
    }

    fn stats(&self) -> AgentStats {
        AgentStats {
            findings_total: self.counters.findings.load(Ordering::Relaxed),
            dropped_total: self.counters.spool_errors.load(Ordering::Relaxed),
            rss_bytes: rss_bytes(),
            uptime_s: self.started.elapsed().as_secs(),
            cert_not_after: self.identity.cert_not_after,
            policy_version: self.policy_in_force().0,
        }
    }
}

/// True once `fraction` of the current certificate's lifetime has passed at `now` (Unix seconds).
/// An unreadable certificate is not rotated here: the handshake will say what is wrong.
pub fn rotation_due(state: &StatePaths, fraction: f64, now: i64) -> bool {
    let Ok(pem) = std::fs::read(state.cert()) else {
        return false;
    };
    let Ok(der) = CertificateDer::from_pem_slice(&pem) else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        return false;
    };
    let (nb, na) = (
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    );
    rotation_point(nb, na, fraction) <= now
}

/// The instant (Unix seconds) at which a certificate valid from `not_before` to `not_after` is
/// renewed.
pub fn rotation_point(not_before: i64, not_after: i64, fraction: f64) -> i64 {
    not_before + ((not_after - not_before) as f64 * fraction) as i64
}

/// Checks that a renewed certificate carries `key`, then replaces key and certificate (key
/// first, each atomically) and the identity's expiry. Returns the new expiry.
fn install_cert(state: &StatePaths, key: &rcgen::KeyPair, pem: &str) -> anyhow::Result<i64> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).context("unreadable certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| anyhow::anyhow!("bad certificate: {e}"))?;
    anyhow::ensure!(
        cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw(),
        "certificate is for another key"
    );
    let not_after = cert.validity().not_after.timestamp();
    write_private(&state.key(), key.serialize_pem().as_bytes())?;
    write_private(&state.cert(), pem.as_bytes())?;
    let mut id = state.load_identity()?;
    id.cert_not_after = not_after;
    write_private(
        &state.identity(),
        serde_json::to_string_pretty(&id)?.as_bytes(),
    )?;
    Ok(not_after)
}

/// Turns the spool's drop counters into one `SpoolDropped` finding (sent once the link is back).
fn report_drops(sp: &mut Spool) -> Result<(), crate::spool::SpoolError> {
    let dropped = sp.take_dropped();
    let total: u64 = dropped.values().sum();
    if total == 0 {
        return Ok(());
    }
    let counts = dropped
        .iter()
        .map(|(s, n)| (s.as_str().to_string(), *n))
        .collect();
    warn!(
        total,
        "Findings were dropped while the spool was full; reporting the counts."
    );
    let f = Finding::AgentHealth(vigil_proto::AgentHealth {
        kind: vigil_proto::HealthKind::SpoolDropped,
        message: format!("{total} findings were dropped because the spool was full"),
        counts,
        severity: vigil_proto::Severity::High,
    });
    sp.append(now_ms(), &f).map(|_| ())
}

/// Lets a session's own endpoint send its close before it is dropped; a shared endpoint lives on
/// and sends it anyway.
async fn wait_idle(own: Option<&quinn::Endpoint>) {
    if let Some(ep) = own {
        ep.wait_idle().await;
    }
}

async fn flush(sess: &mut AgentSession, send: &mut quinn::SendStream) {
    while let Some(b) = sess.poll_transmit() {
        if send.write_all(&b).await.is_err() {
            return;
        }
    }
}

/// Resident set size of this process (working set on Windows).
pub fn rss_bytes() -> u64 {
    crate::platform::rss_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    #[test]
    fn the_sink_counts_findings_fim_overflows_and_drops_for_status() {
        use std::collections::BTreeMap;
        use vigil_proto::{AgentHealth, HealthKind, Severity};
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = crate::spool::SpoolConfig {
            max_bytes: 64 * 1024,
            segment_bytes: 16 * 1024,
        };
        let spool = Arc::new(Mutex::new(Spool::open(dir.path(), cfg).expect("spool")));
        let counters = Arc::new(Counters::default());
        let mut sink = SpoolSink::new(spool.clone(), Arc::new(Notify::new()), counters.clone());
        let health = |kind, severity, message: String| {
            Finding::AgentHealth(AgentHealth {
                kind,
                message,
                counts: BTreeMap::new(),
                severity,
            })
        };
        sink.emit(health(
            HealthKind::QueueOverflow,
            Severity::Medium,
            "overflow".into(),
        ));
        sink.emit(health(HealthKind::Other, Severity::Low, "other".into()));
        let before = counters.snapshot(lock(&spool).dropped_total());
        assert_eq!(
            (before.findings, before.fim_overflows, before.spool_dropped),
            (2, 1, 0)
        );
        // Fill the spool with low findings until it drops some.
        for i in 0..200 {
            sink.emit(health(
                HealthKind::Other,
                Severity::Low,
                format!("{i}{}", "x".repeat(900)),
            ));
        }
        let after = counters.snapshot(lock(&spool).dropped_total());
        assert_eq!(after.fim_overflows, 1, "only queue overflows count as such");
        assert!(after.spool_dropped > 0, "{after:?}");
        assert_eq!(
            lock(&spool).depth() + after.spool_dropped,
            202,
            "every finding is in the spool or counted as dropped: {after:?}"
        );
    }

    /// A real signed bundle through the uplink's event path: applied, reported in a health finding,
    /// in the status file and in the heartbeat counters; a broken transfer is reported too.
    #[test]
    fn a_policy_transfer_is_applied_reported_and_counted() {
        use vigil_proto::policy::{Assembled, PolicyBundle, PolicyError, PolicySigner};
        let dir = tempfile::tempdir().expect("tmp");
        let state = StatePaths::new(dir.path().join("state"));
        state.create().expect("state");
        let der = PolicySigner::generate_pkcs8(&ring::rand::SystemRandom::new()).expect("key");
        let key = PolicySigner::from_pkcs8(&der).expect("key");
        crate::policy::PolicyStore::new(&state)
            .pin_key(&key.public_key())
            .expect("pin");
        let identity = Identity {
            agent_id: "00000000-0000-4000-8000-000000000001".into(),
            agency: "tinh/so-a".into(),
            collectors: vec!["127.0.0.1:1".into()],
            enrolled_at: 0,
            cert_not_after: 0,
        };
        let cfg = AgentConfig::default();
        let spool = Spool::open(&state.spool(), cfg.spool).expect("spool");
        let spool = Arc::new(Mutex::new(spool));
        let (policy, _) = crate::central::PolicyAgent::open(&state, "tinh/so-a", cfg.clone());
        let up = Uplink::new(
            identity,
            state.clone(),
            cfg,
            spool.clone(),
            Arc::new(Notify::new()),
            Arc::new(Counters::default()),
        )
        .with_policy(policy);
        let bundle = PolicyBundle {
            version: 4,
            agency: "tinh".into(),
            issued_at: 0,
            packs: Vec::new(),
            settings: Default::default(),
        };
        let signed = key.sign(&bundle).expect("sign");
        let digest = signed.digest();
        assert!(
            up.on_policy(Ok(Assembled {
                version: 4,
                signed: signed.clone()
            }))
            .expect("spool")
        );
        assert_eq!(up.stats().policy_version, 4);
        assert_eq!(up.policy_in_force(), (4, Some(digest.clone())));
        // The same bundle again is a replay.
        assert!(
            !up.on_policy(Ok(Assembled { version: 4, signed }))
                .expect("spool")
        );
        assert!(
            !up.on_policy(Err(PolicyError::Transfer("cut".into())))
                .expect("spool")
        );
        let messages: Vec<String> = lock(&spool)
            .read(1, 100, 1 << 20)
            .expect("read")
            .into_iter()
            .filter_map(|e| match e.finding {
                Finding::AgentHealth(h) => Some(h.message),
                _ => None,
            })
            .collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(
            messages[0].starts_with("policy applied: version 4"),
            "{messages:?}"
        );
        assert!(messages[1].contains("not newer"), "{messages:?}");
        assert!(
            messages[2].contains("policy transfer broken: cut"),
            "{messages:?}"
        );
        let status: Status =
            serde_json::from_slice(&std::fs::read(state.status()).expect("status")).expect("json");
        assert_eq!(status.policy.version, 4);
        assert_eq!(status.policy.source, "central");
        assert_eq!(status.policy.digest, Some(digest));
        assert!(status.policy.last_refusal.is_some());
    }

    #[test]
    fn rotation_happens_at_two_thirds_of_the_lifetime() {
        let year = 365 * 86_400;
        assert_eq!(rotation_point(0, year, 2.0 / 3.0), year * 2 / 3);
        assert_eq!(rotation_point(1000, 1000 + 300, 0.5), 1150);
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(8));
        let d: Vec<_> = (0..8).map(|_| b.next(&mut rng)).collect();
        assert!(d[0] >= Duration::from_millis(250) && d[0] <= Duration::from_millis(500));
        assert!(d[3] >= Duration::from_secs(2) && d[3] <= Duration::from_secs(4));
        assert!(
            d[7] >= Duration::from_secs(4) && d[7] <= Duration::from_secs(8),
            "capped: {:?}",
            d[7]
        );
        // Jitter: two agents with different seeds do not pick the same delays.
        let mut rng2 = rand::rngs::StdRng::seed_from_u64(8);
        let mut b2 = Backoff::new(Duration::from_millis(500), Duration::from_secs(8));
        let d2: Vec<_> = (0..8).map(|_| b2.next(&mut rng2)).collect();
        assert_ne!(d, d2);
        b.reset();
        assert!(b.next(&mut rng) <= Duration::from_millis(500));
    }
}
