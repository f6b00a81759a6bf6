//! One agent session: a loop around the sans-IO [`CollectorSession`].
//!
//! Before the first byte is read the agent must present its newest certificate, be live in
//! the store, and have no other live session ([`super::live`]). Each batch then waits for the
//! agent's share of the batch rate, has its rule claims corrected from the catalogue, and is
//! acknowledged only after the store committed it; the task does not read more bytes until
//! then, so a slow store (or a greedy agent) is pushed back through QUIC flow control instead
//! of anything being dropped. A store answer that the agent is revoked ends the session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tracing::{Instrument as _, debug, info, info_span, warn};
use vigil_proto::Envelope;
use vigil_proto::msg::{CollectorMsg, code};
use vigil_proto::session::{CollectorEvent, CollectorSession};

use super::live::{Refusal, Registration};
use super::{Ctx, TokenBucket, blocking, peer_identity, policy, push_iocs};
use crate::clock::now_ms;
use crate::ingest::{BatchResult, Ingest};
use crate::metrics::{self, Event, Refusal as Refused, StoreOp};
use crate::pki;
use crate::store::{SessionCert, StoreError};

/// Time a peer gets to open its stream and send its first frame.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the session of an agent connection until it ends.
pub(super) async fn session_conn(
    ctx: &Arc<Ctx>,
    conn: quinn::Connection,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let identity = match peer_identity(&conn) {
        Ok(id) => id,
        Err(e) => {
            warn!(error = %e, "Refused a session without a valid agent identity.");
            metrics::record(Event::HandshakeRefused(Refused::Identity));
            conn.close(code::UNAUTHORIZED.into(), e.as_bytes());
            return;
        }
    };
    let span = info_span!("session", agent = %identity.agent_id);
    let run = async {
        let Some(reg) = admit(ctx, &conn, &identity).await? else {
            return Ok(());
        };
        run_session(ctx, &conn, &identity.agent_id, reg, shutdown).await
    };
    if let Err(e) = run.instrument(span.clone()).await {
        span.in_scope(|| debug!(error = %e, "Session ended."));
    }
}

/// Checks the certificate against the store and registers the session; `None` (after closing
/// the connection with the reason) when the agent may not open one now.
async fn admit(
    ctx: &Arc<Ctx>,
    conn: &quinn::Connection,
    id: &pki::CertIdentity,
) -> anyhow::Result<Option<Registration>> {
    let (agent, serial, now) = (id.agent_id.clone(), id.serial.clone(), now_ms() / 1000);
    let cert = blocking(&ctx.store, move |s| {
        s.agent_session_cert(&agent, &serial, now)
    })
    .await?;
    let refusal: Option<&[u8]> = match cert {
        SessionCert::Current => None,
        SessionCert::Promoted => {
            info!(serial = %id.serial, "Agent now uses its renewed certificate; the previous one is refused.");
            None
        }
        SessionCert::Superseded => Some(
            b"this certificate was superseded by a renewed one; the agent must use its newest \
              certificate, or re-enroll",
        ),
        SessionCert::Revoked => Some(b"agent identity revoked or replaced; re-enroll"),
        SessionCert::Unknown => Some(b"unknown agent; enroll first"),
    };
    if let Some(why) = refusal {
        warn!(serial = %id.serial, state = ?cert, "Refused a session.");
        metrics::record(Event::HandshakeRefused(Refused::Identity));
        conn.close(code::UNAUTHORIZED.into(), why);
        return Ok(None);
    }
    match ctx.live.register(&id.agent_id, &id.serial, conn).await {
        Ok(reg) => Ok(Some(reg)),
        Err(Refusal::InUse(live)) => {
            let here = conn.remote_address();
            warn!(%live, refused = %here, "Agent identity in use by another live session; refused (a cloned machine?).");
            metrics::record(Event::HandshakeRefused(Refused::InUse));
            let a = id.agent_id.clone();
            let settings = ctx.alerts.clone();
            blocking(&ctx.store, move |s| {
                if let Some(rec) = s.agent(&a)?
                    && settings
                        .for_agency(&rec.agency)
                        .enabled("duplicate_machine")
                {
                    let alert = crate::alerting::identity_in_use_twice(
                        &rec,
                        &live.to_string(),
                        &here.to_string(),
                    );
                    crate::alerting::raise(s, &alert, now_ms() / 1000)?;
                }
                Ok(())
            })
            .await?;
            conn.close(
                code::UNAUTHORIZED.into(),
                b"this agent identity is already connected from another machine; a cloned \
                  machine must be enrolled with its own machine id",
            );
            Ok(None)
        }
    }
}

/// What a session keeps between events.
struct State<'a> {
    ctx: &'a Arc<Ctx>,
    agent_id: String,
    max_seq: u64,
    /// IOC version the agent holds; `None` until its Hello.
    agent_ioc: Option<u64>,
    /// The agent's agency (known from its Hello on).
    agency: String,
    /// Policy version the agent holds or was last sent; `None` until its Hello.
    agent_policy: Option<u64>,
    /// Applied policy version last recorded for the agent.
    recorded_policy: Option<u64>,
    /// Held while a policy bundle waits in this session's transmit queue.
    push_slot: Option<tokio::sync::OwnedSemaphorePermit>,
    batches: TokenBucket,
}

async fn run_session(
    ctx: &Arc<Ctx>,
    conn: &quinn::Connection,
    agent_id: &str,
    reg: Registration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (mut send, mut recv) = tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.accept_bi())
        .await
        .context("no stream")??;
    let mut sess = CollectorSession::new(Instant::now(), ctx.session.clone());
    let mut buf = vec![0u8; 64 * 1024];
    let mut ioc_rx = ctx.ioc_version.subscribe();
    let mut policy_rx = ctx.policy.rev.subscribe();
    let mut st = State {
        ctx,
        agent_id: agent_id.to_owned(),
        max_seq: 0,
        agent_ioc: None,
        agency: String::new(),
        agent_policy: None,
        recorded_policy: None,
        push_slot: None,
        batches: TokenBucket::new(ctx.batches_per_sec, Instant::now()),
    };
    loop {
        while let Some(ev) = sess.poll_event() {
            if let CollectorEvent::Closed(r) = ev {
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
            st.on_event(&mut sess, ev, &mut ioc_rx).await?;
        }
        // Everything the events produced (welcome, acks) leaves before we wait again.
        while let Some(b) = sess.poll_transmit() {
            send.write_all(&b).await?;
        }
        // A policy bundle handed to QUIC frees its push slot for another session.
        st.push_slot = None;
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
            // Another connection of this agent asks whether this one is alive: answer.
            () = reg.probe.notified() => sess.ack(st.max_seq),
            Ok(()) = ioc_rx.changed(), if st.agent_ioc.is_some() => {
                if let Some(have) = st.agent_ioc {
                    st.agent_ioc = Some(push_iocs(ctx, &mut sess, have).await?);
                }
            }
            Ok(()) = policy_rx.changed(), if st.agent_policy.is_some() => st.push_policy(&mut sess).await?,
        }
    }
}

impl State<'_> {
    async fn on_event(
        &mut self,
        sess: &mut CollectorSession,
        ev: CollectorEvent,
        ioc_rx: &mut tokio::sync::watch::Receiver<u64>,
    ) -> anyhow::Result<()> {
        match ev {
            CollectorEvent::Hello {
                agent_id: claimed,
                agent_version,
                proto_version,
                ioc_version,
                policy_version,
                ..
            } => {
                if claimed != self.agent_id {
                    sess.reject(
                        code::UNAUTHORIZED,
                        "hello agent_id does not match the certificate",
                    );
                    return Ok(());
                }
                let (a, now) = (self.agent_id.clone(), now_ms() / 1000);
                self.max_seq = off_thread(&self.ctx.ingest, StoreOp::Session, move |i| {
                    i.hello(&a, now, &agent_version)
                })
                .await??;
                info!(proto_version, acked = self.max_seq, "Agent connected.");
                let a = self.agent_id.clone();
                let rec = blocking(&self.ctx.store, move |s| s.agent(&a)).await?;
                self.agency = rec.map(|r| r.agency).unwrap_or_default();
                let policy = self.ctx.policy.delivery(&self.agency, now);
                let current = *ioc_rx.borrow_and_update();
                sess.accept(
                    policy.as_ref().map_or(0, |d| d.version),
                    current,
                    self.max_seq,
                )?;
                self.agent_ioc = Some(push_iocs(self.ctx, sess, ioc_version).await?);
                self.agent_policy = Some(self.push(sess, policy.as_deref(), policy_version).await?);
                self.record_policy(policy_version).await?;
            }
            CollectorEvent::Batch {
                findings, clamped, ..
            } => {
                if clamped > 0 {
                    warn!(clamped, "Agent text cut to the protocol's length caps.");
                }
                self.on_batch(sess, findings).await?;
            }
            CollectorEvent::Heartbeat {
                now,
                spool_depth,
                stats,
            } => {
                self.record_policy(stats.policy_version).await?;
                self.on_heartbeat(sess, now, spool_depth).await?;
            }
            CollectorEvent::RenewCert { csr_pem } => self.on_renew(sess, &csr_pem).await?,
            CollectorEvent::Closed(_) => {}
        }
        Ok(())
    }

    async fn on_batch(
        &mut self,
        sess: &mut CollectorSession,
        findings: Vec<Envelope>,
    ) -> anyhow::Result<()> {
        // The agent's share of the batch rate: wait (and read nothing meanwhile) when spent.
        while let Err(wait) = self.batches.take_or_wait(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let (a, received, n) = (self.agent_id.clone(), now_ms(), findings.len());
        let stored = off_thread(&self.ctx.ingest, StoreOp::Ingest, move |i| {
            i.batch(&a, findings, received)
        })
        .await?;
        match stored {
            Ok(BatchResult {
                stored: out,
                corrected,
            }) => {
                metrics::record(Event::BatchStored {
                    findings: n as u64,
                    duplicates: out.duplicates as u64,
                    gaps: out.gaps.len() as u64,
                });
                if corrected > 0 {
                    warn!(
                        corrected,
                        "Rule severities or groups claimed by the agent corrected from the catalogue."
                    );
                }
                if !out.gaps.is_empty() {
                    warn!(gaps = ?out.gaps, "Sequence gap: findings missing from this agent.");
                }
                debug!(
                    n,
                    stored = out.stored,
                    dup = out.duplicates,
                    "Batch stored."
                );
                self.max_seq = out.max_seq;
                sess.ack(self.max_seq);
            }
            Err(StoreError::Revoked(_)) => {
                warn!("Batch from a revoked agent refused; closing its session.");
                sess.reject(
                    code::UNAUTHORIZED,
                    "agent identity revoked or replaced; re-enroll",
                );
            }
            Err(e) => {
                warn!(error = %e, "Storing a batch failed; asking the agent to retry.");
                sess.reject(code::INTERNAL, "collector storage error; retry later");
            }
        }
        Ok(())
    }

    async fn on_heartbeat(
        &mut self,
        sess: &mut CollectorSession,
        agent_now: i64,
        spool_depth: u64,
    ) -> anyhow::Result<()> {
        let (a, here) = (self.agent_id.clone(), now_ms());
        off_thread(&self.ctx.ingest, StoreOp::Session, move |i| {
            i.heartbeat(&a, agent_now, here, spool_depth)
        })
        .await??;
        sess.ack(self.max_seq);
        Ok(())
    }

    /// Pushes the agency's bundle when the policies changed and it is newer than the agent's.
    async fn push_policy(&mut self, sess: &mut CollectorSession) -> anyhow::Result<()> {
        let have = self.agent_policy.unwrap_or(0);
        let d = self.ctx.policy.delivery(&self.agency, now_ms() / 1000);
        self.agent_policy = Some(self.push(sess, d.as_deref(), have).await?);
        Ok(())
    }

    /// [`policy::push`] under one of the collector's push slots, held until the frames are
    /// handed to QUIC: a change reaching thousands of sessions at once queues a bounded number
    /// of bundle copies, not one per agent.
    async fn push(
        &mut self,
        sess: &mut CollectorSession,
        d: Option<&crate::policy::book::Delivery>,
        have: u64,
    ) -> anyhow::Result<u64> {
        if policy::needs_push(d, have) && self.push_slot.is_none() {
            self.push_slot = Some(self.ctx.policy.push_slot().await?);
        }
        policy::push(sess, d, have)
    }

    /// Records the policy version the agent reports as applied, when it changed.
    async fn record_policy(&mut self, applied: u64) -> anyhow::Result<()> {
        if self.recorded_policy == Some(applied) {
            return Ok(());
        }
        let (a, now) = (self.agent_id.clone(), now_ms() / 1000);
        let v = i64::try_from(applied).unwrap_or(i64::MAX);
        blocking(&self.ctx.store, move |s| {
            s.policies().policy_applied_set(&a, v, now)
        })
        .await?;
        self.recorded_policy = Some(applied);
        Ok(())
    }

    async fn on_renew(&mut self, sess: &mut CollectorSession, csr_pem: &str) -> anyhow::Result<()> {
        let a = self.agent_id.clone();
        let rec = blocking(&self.ctx.store, move |s| s.agent(&a)).await?;
        let Some(rec) = rec.filter(|r| !r.revoked) else {
            sess.reject(code::UNAUTHORIZED, "agent revoked; renewal refused");
            return Ok(());
        };
        let req = pki::AgentCertRequest {
            agent_id: &self.agent_id,
            agency: &rec.agency,
        };
        let c = match self
            .ctx
            .ca
            .issue_agent(csr_pem, &req, time::OffsetDateTime::now_utc())
        {
            Ok(c) => c,
            Err(e) => {
                sess.reject(code::PROTOCOL, format!("bad renewal request: {e}"));
                return Ok(());
            }
        };
        // Record the new serial before handing the certificate out; it becomes the only one
        // accepted once the agent opens a session with it.
        let (a, serial, not_after, now) = (
            self.agent_id.clone(),
            c.serial.clone(),
            c.not_after,
            now_ms() / 1000,
        );
        if blocking(&self.ctx.store, move |s| {
            s.agent_set_cert(&a, &serial, not_after, now)
        })
        .await?
        {
            info!(serial = %c.serial, "Agent certificate renewed.");
            sess.push(&CollectorMsg::CertIssued { cert_pem: c.pem })?;
        } else {
            sess.reject(code::UNAUTHORIZED, "agent revoked; renewal refused");
        }
        Ok(())
    }
}

/// Runs ingest work off the async threads; the outer error is only a panicked task.
async fn off_thread<T: Send + 'static>(
    ingest: &Arc<Ingest>,
    op: StoreOp,
    f: impl FnOnce(&Ingest) -> crate::store::Result<T> + Send + 'static,
) -> anyhow::Result<crate::store::Result<T>> {
    let i = ingest.clone();
    tokio::task::spawn_blocking(move || metrics::time_store(op, || f(&i)))
        .await
        .context("ingest task panicked")
}
