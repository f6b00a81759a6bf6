//! Sans-IO session state machines for both ends of a `vigil/1` stream.
//!
//! The shells feed received bytes with [`AgentSession::handle`] / [`CollectorSession::handle`],
//! write out whatever [`poll_transmit`](AgentSession::poll_transmit) yields, react to
//! [`poll_event`](AgentSession::poll_event), and call `handle_timeout(now)` when the instant from
//! `poll_timeout()` passes. No I/O and no clock here: `now` is always an argument, so tests run
//! whole sessions on virtual time.
//!
//! Order of a session: agent `Hello` → collector `Welcome` (or `Error`) → agent `Batch`es and
//! `Heartbeat`s, collector `Ack`s and pushes. Every violation closes the session with a code from
//! [`crate::msg::code`]; the peer's bytes are never trusted to be well-formed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::finding::Envelope;
use crate::frame::{self, DEFAULT_MAX_FRAME, FrameDecoder, FrameError};
use crate::msg::{AgentMsg, AgentStats, CollectorMsg, Indicator, code};
use crate::policy::{Assembled, PolicyAssembler, PolicyError, SignedBundle};
use crate::{MIN_PROTO_VERSION, PROTO_VERSION};

/// Tunables shared by both ends.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Maximum frame body in bytes.
    pub max_frame: usize,
    /// How often the agent sends a heartbeat.
    pub heartbeat_interval: Duration,
    /// Silence after which a peer is considered gone.
    pub idle_timeout: Duration,
    /// Batches the agent may have unacknowledged at once.
    pub max_inflight: usize,
    /// Most findings the collector accepts in one batch.
    pub max_batch: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            heartbeat_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_inflight: 8,
            max_batch: 5_000,
        }
    }
}

/// Misuse of the session API by the local shell (not a peer error).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// The session is not established (or already closed).
    #[error("session is not established")]
    NotEstablished,
    /// Findings must have strictly increasing seqs across batches.
    #[error("seq {seq} does not follow {last}")]
    SeqOrder {
        /// Offending seq.
        seq: u64,
        /// Last seq sent.
        last: u64,
    },
    /// An empty batch.
    #[error("empty batch")]
    EmptyBatch,
    /// The encoded message exceeds the frame limit; send fewer findings.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A policy bundle cannot be chunked for this session's frame limit.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// One of [`crate::msg::code`].
    pub code: u32,
    /// Human-readable reason.
    pub message: String,
    /// True when the peer closed (sent an `Error`), false when this end did.
    pub by_peer: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitWelcome,
    AwaitHello,
    AwaitAccept,
    Established,
    Closed,
}

/// Common plumbing of both ends: decoder, outgoing frames, liveness.
#[derive(Debug)]
struct Core {
    cfg: SessionConfig,
    state: State,
    decoder: FrameDecoder,
    out: VecDeque<Vec<u8>>,
    last_rx: Instant,
    close: Option<CloseReason>,
}

impl Core {
    fn new(now: Instant, cfg: SessionConfig, state: State) -> Self {
        let decoder = FrameDecoder::new(cfg.max_frame);
        Self {
            cfg,
            state,
            decoder,
            out: VecDeque::new(),
            last_rx: now,
            close: None,
        }
    }

    fn queue<T: serde::Serialize>(&mut self, msg: &T) -> Result<(), FrameError> {
        let bytes = frame::encode(msg, self.cfg.max_frame)?;
        self.out.push_back(bytes);
        Ok(())
    }

    fn closed(&mut self, code: u32, message: String, by_peer: bool) -> CloseReason {
        self.state = State::Closed;
        let reason = CloseReason {
            code,
            message,
            by_peer,
        };
        self.close = Some(reason.clone());
        reason
    }

    fn frame_error_code(e: &FrameError) -> u32 {
        match e {
            FrameError::TooLarge { .. } => code::TOO_LARGE,
            _ => code::MALFORMED,
        }
    }

    fn idle_deadline(&self) -> Instant {
        self.last_rx + self.cfg.idle_timeout
    }
}

/// What the two ends have in common for [`feed`]: a [`Core`], the message type they receive,
/// and how they react to a message or to broken input.
trait End {
    type Incoming: serde::de::DeserializeOwned;
    fn core(&mut self) -> &mut Core;
    fn on_message(&mut self, msg: Self::Incoming);
    fn fail(&mut self, code: u32, message: String);
}

/// Pushes received bytes into an end's decoder and handles every complete message, stopping at
/// the first broken frame (which closes the session) or when a message closed it.
fn feed<E: End>(end: &mut E, now: Instant, bytes: &[u8]) {
    let core = end.core();
    if core.state == State::Closed {
        return;
    }
    core.last_rx = now;
    core.decoder.push(bytes);
    while end.core().state != State::Closed {
        match end.core().decoder.decode::<E::Incoming>() {
            Ok(Some(msg)) => end.on_message(msg),
            Ok(None) => break,
            Err(e) => end.fail(Core::frame_error_code(&e), e.to_string()),
        }
    }
}

impl End for AgentSession {
    type Incoming = CollectorMsg;
    fn core(&mut self) -> &mut Core {
        &mut self.core
    }
    fn on_message(&mut self, msg: CollectorMsg) {
        AgentSession::on_message(self, msg);
    }
    fn fail(&mut self, code: u32, message: String) {
        AgentSession::fail(self, code, message);
    }
}

impl End for CollectorSession {
    type Incoming = AgentMsg;
    fn core(&mut self) -> &mut Core {
        &mut self.core
    }
    fn on_message(&mut self, msg: AgentMsg) {
        CollectorSession::on_message(self, msg);
    }
    fn fail(&mut self, code: u32, message: String) {
        CollectorSession::fail(self, code, message);
    }
}

/// Events surfaced to the agent shell.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// The collector accepted the session.
    Welcomed {
        /// Negotiated version.
        proto_version: u32,
        /// Central policy version the collector holds for this agent (0 = none).
        policy_version: u64,
        /// Collector's IOC version.
        ioc_version: u64,
        /// Highest seq stored by the collector for this agent.
        acked_seq: u64,
    },
    /// Findings up to this seq are durable at the collector.
    Acked {
        /// Highest stored seq.
        up_to_seq: u64,
    },
    /// A complete policy transfer, not yet verified: check it with the pinned key
    /// ([`SignedBundle::verify`]), then [`crate::policy::check_applicable`].
    PolicyBundle(Assembled),
    /// A policy transfer broke (bad chunk order, size, digest); the session goes on and the
    /// agent keeps the policy it has.
    PolicyRefused(PolicyError),
    /// IOC delta.
    IocUpdate {
        /// Version after applying.
        version: u64,
        /// Version the delta applies to (0 = replace).
        from_version: u64,
        /// Added.
        add: Vec<Indicator>,
        /// Removed (`kind:value`).
        remove: Vec<String>,
    },
    /// Rotate the certificate now.
    RotateCert,
    /// A renewed certificate.
    CertIssued(String),
    /// Time to call [`AgentSession::send_heartbeat`].
    HeartbeatDue,
    /// The session ended; the shell should close the connection with `code`.
    Closed(CloseReason),
}

/// Fields of the agent's `Hello`.
#[derive(Debug, Clone)]
pub struct Hello {
    /// Agent UUID.
    pub agent_id: String,
    /// Agent version.
    pub agent_version: String,
    /// Digest of the signed policy bundle applied (`sha256:<hex>`).
    pub policy_hash: Option<String>,
    /// Version of the central policy applied (0 = none).
    pub policy_version: u64,
    /// IOC version held.
    pub ioc_version: u64,
}

/// The agent end of a session.
#[derive(Debug)]
pub struct AgentSession {
    core: Core,
    events: VecDeque<AgentEvent>,
    next_heartbeat: Instant,
    last_sent_seq: u64,
    acked: u64,
    /// Last seq of each unacknowledged batch, oldest first.
    inflight: VecDeque<u64>,
    policy: PolicyAssembler,
}

impl AgentSession {
    /// Starts a session: the `Hello` is queued at once.
    pub fn new(now: Instant, cfg: SessionConfig, hello: Hello) -> Self {
        let next_heartbeat = now + cfg.heartbeat_interval;
        let mut s = Self {
            core: Core::new(now, cfg, State::AwaitWelcome),
            events: VecDeque::new(),
            next_heartbeat,
            last_sent_seq: 0,
            acked: 0,
            inflight: VecDeque::new(),
            policy: PolicyAssembler::new(),
        };
        let msg = AgentMsg::Hello {
            proto_version: PROTO_VERSION,
            agent_id: hello.agent_id,
            agent_version: hello.agent_version,
            policy_hash: hello.policy_hash,
            policy_version: hello.policy_version,
            ioc_version: hello.ioc_version,
        };
        if let Err(e) = s.core.queue(&msg) {
            // Only possible with an absurdly small max_frame.
            let r = s
                .core
                .closed(code::INTERNAL, format!("cannot encode hello: {e}"), false);
            s.events.push_back(AgentEvent::Closed(r));
        }
        s
    }

    /// True once `Welcome` was received and until the session closes.
    pub fn is_established(&self) -> bool {
        self.core.state == State::Established
    }

    /// True when the session ended.
    pub fn is_closed(&self) -> bool {
        self.core.state == State::Closed
    }

    /// Highest seq acknowledged in this session (or announced in `Welcome`).
    pub fn acked_seq(&self) -> u64 {
        self.acked
    }

    /// Highest seq sent in this session.
    pub fn last_sent_seq(&self) -> u64 {
        self.last_sent_seq
    }

    /// True when another batch may be sent (established and the in-flight window has room).
    pub fn can_send(&self) -> bool {
        self.is_established() && self.inflight.len() < self.core.cfg.max_inflight
    }

    /// Feeds bytes received from the collector.
    pub fn handle(&mut self, now: Instant, bytes: &[u8]) {
        feed(self, now, bytes);
    }

    fn on_message(&mut self, msg: CollectorMsg) {
        match (self.core.state, msg) {
            (_, CollectorMsg::Error { code, message }) => {
                let r = self.core.closed(code, message, true);
                self.events.push_back(AgentEvent::Closed(r));
            }
            (
                State::AwaitWelcome,
                CollectorMsg::Welcome {
                    proto_version,
                    policy_version,
                    ioc_version,
                    acked_seq,
                },
            ) => {
                if !(MIN_PROTO_VERSION..=PROTO_VERSION).contains(&proto_version) {
                    self.fail(
                        code::UNSUPPORTED_VERSION,
                        format!(
                            "collector chose protocol {proto_version}, agent speaks \
                             {MIN_PROTO_VERSION}..={PROTO_VERSION}"
                        ),
                    );
                    return;
                }
                self.core.state = State::Established;
                self.acked = acked_seq;
                self.last_sent_seq = self.last_sent_seq.max(acked_seq);
                self.events.push_back(AgentEvent::Welcomed {
                    proto_version,
                    policy_version,
                    ioc_version,
                    acked_seq,
                });
            }
            (State::Established, CollectorMsg::Ack { up_to_seq }) => {
                if up_to_seq > self.acked {
                    self.acked = up_to_seq;
                    while self.inflight.front().is_some_and(|&last| last <= up_to_seq) {
                        self.inflight.pop_front();
                    }
                    self.events.push_back(AgentEvent::Acked { up_to_seq });
                }
            }
            (State::Established, CollectorMsg::PolicyUpdate { chunk }) => {
                match self.policy.push(chunk) {
                    Ok(None) => {}
                    Ok(Some(done)) => self.events.push_back(AgentEvent::PolicyBundle(done)),
                    Err(e) => self.events.push_back(AgentEvent::PolicyRefused(e)),
                }
            }
            (
                State::Established,
                CollectorMsg::IocUpdate {
                    version,
                    from_version,
                    add,
                    remove,
                },
            ) => {
                self.events.push_back(AgentEvent::IocUpdate {
                    version,
                    from_version,
                    add,
                    remove,
                });
            }
            (State::Established, CollectorMsg::RotateCert) => {
                self.events.push_back(AgentEvent::RotateCert)
            }
            (State::Established, CollectorMsg::CertIssued { cert_pem }) => {
                self.events.push_back(AgentEvent::CertIssued(cert_pem));
            }
            (state, msg) => {
                self.fail(
                    code::PROTOCOL,
                    format!("unexpected {} in state {state:?}", msg_name(&msg)),
                );
            }
        }
    }

    fn fail(&mut self, code: u32, message: String) {
        let _ = self.core.queue(&AgentMsg::Error {
            code,
            message: message.clone(),
        });
        let r = self.core.closed(code, message, false);
        self.events.push_back(AgentEvent::Closed(r));
    }

    /// Queues a batch of findings (seqs strictly increasing, above everything sent so far).
    ///
    /// # Errors
    /// [`SessionError`] when not established, on seq misuse, or when the batch does not fit in a
    /// frame (send fewer findings).
    pub fn send_batch(&mut self, findings: Vec<Envelope>) -> Result<(), SessionError> {
        if !self.is_established() {
            return Err(SessionError::NotEstablished);
        }
        let (Some(first), Some(last)) = (findings.first(), findings.last()) else {
            return Err(SessionError::EmptyBatch);
        };
        let (first_seq, last_seq) = (first.seq, last.seq);
        let mut prev = self.last_sent_seq;
        for f in &findings {
            if f.seq <= prev {
                return Err(SessionError::SeqOrder {
                    seq: f.seq,
                    last: prev,
                });
            }
            prev = f.seq;
        }
        self.core.queue(&AgentMsg::Batch {
            first_seq,
            findings,
        })?;
        self.last_sent_seq = last_seq;
        self.inflight.push_back(last_seq);
        Ok(())
    }

    /// Queues a heartbeat.
    pub fn send_heartbeat(&mut self, now_ms: i64, spool_depth: u64, stats: AgentStats) {
        if self.is_established() {
            // A heartbeat of a few counters always fits in a frame.
            let _ = self.core.queue(&AgentMsg::Heartbeat {
                now: now_ms,
                spool_depth,
                stats,
            });
        }
    }

    /// Queues a certificate renewal request.
    ///
    /// # Errors
    /// [`SessionError::NotEstablished`] or a frame error.
    pub fn send_renew(&mut self, csr_pem: String) -> Result<(), SessionError> {
        if !self.is_established() {
            return Err(SessionError::NotEstablished);
        }
        self.core.queue(&AgentMsg::RenewCert { csr_pem })?;
        Ok(())
    }

    /// Next frame to write to the stream.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.core.out.pop_front()
    }

    /// Next event for the shell.
    pub fn poll_event(&mut self) -> Option<AgentEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.core.state {
            State::Closed => None,
            State::Established => Some(self.next_heartbeat.min(self.core.idle_deadline())),
            _ => Some(self.core.idle_deadline()),
        }
    }

    /// Advances timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        if now >= self.core.idle_deadline() {
            let secs = self.core.cfg.idle_timeout.as_secs();
            let r = self.core.closed(
                code::TIMED_OUT,
                format!("collector silent for {secs} s"),
                false,
            );
            self.events.push_back(AgentEvent::Closed(r));
            return;
        }
        if self.is_established() && now >= self.next_heartbeat {
            self.next_heartbeat = now + self.core.cfg.heartbeat_interval;
            self.events.push_back(AgentEvent::HeartbeatDue);
        }
    }

    /// Why the session ended, once it has.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.core.close.as_ref()
    }
}

/// Events surfaced to the collector shell.
#[derive(Debug, Clone, PartialEq)]
pub enum CollectorEvent {
    /// The agent introduced itself; call [`CollectorSession::accept`] or
    /// [`CollectorSession::reject`].
    Hello {
        /// Claimed agent id (check it against the certificate).
        agent_id: String,
        /// Agent version.
        agent_version: String,
        /// Negotiated protocol version.
        proto_version: u32,
        /// Digest of the signed policy bundle the agent applies.
        policy_hash: Option<String>,
        /// Central policy version the agent applies (0 = none).
        policy_version: u64,
        /// Agent's IOC version.
        ioc_version: u64,
    },
    /// Findings to store; ack them once durable.
    Batch {
        /// First seq.
        first_seq: u64,
        /// The findings (seqs validated strictly increasing, strings within
        /// [`crate::limits`]).
        findings: Vec<Envelope>,
        /// How many findings had text cut to the caps of [`crate::limits`].
        clamped: usize,
    },
    /// Liveness; answer with an `Ack` of the stored position.
    Heartbeat {
        /// Agent clock, ms.
        now: i64,
        /// Spool depth.
        spool_depth: u64,
        /// Counters.
        stats: AgentStats,
    },
    /// Certificate renewal request.
    RenewCert {
        /// CSR PEM.
        csr_pem: String,
    },
    /// The session ended.
    Closed(CloseReason),
}

/// The collector end of a session.
#[derive(Debug)]
pub struct CollectorSession {
    core: Core,
    events: VecDeque<CollectorEvent>,
    last_seq: u64,
}

impl CollectorSession {
    /// Starts a session that waits for `Hello`.
    pub fn new(now: Instant, cfg: SessionConfig) -> Self {
        Self {
            core: Core::new(now, cfg, State::AwaitHello),
            events: VecDeque::new(),
            last_seq: 0,
        }
    }

    /// True once accepted and until closed.
    pub fn is_established(&self) -> bool {
        self.core.state == State::Established
    }

    /// True when the session ended.
    pub fn is_closed(&self) -> bool {
        self.core.state == State::Closed
    }

    /// Feeds bytes received from the agent.
    pub fn handle(&mut self, now: Instant, bytes: &[u8]) {
        feed(self, now, bytes);
    }

    fn on_message(&mut self, msg: AgentMsg) {
        match (self.core.state, msg) {
            (_, AgentMsg::Error { code, message }) => {
                let r = self.core.closed(code, message, true);
                self.events.push_back(CollectorEvent::Closed(r));
            }
            (
                State::AwaitHello,
                AgentMsg::Hello {
                    proto_version,
                    agent_id,
                    agent_version,
                    policy_hash,
                    policy_version,
                    ioc_version,
                },
            ) => {
                if proto_version < MIN_PROTO_VERSION {
                    self.fail(
                        code::UNSUPPORTED_VERSION,
                        format!(
                            "agent speaks protocol {proto_version}, collector supports \
                             {MIN_PROTO_VERSION}..={PROTO_VERSION}; upgrade the agent"
                        ),
                    );
                    return;
                }
                if let Err(m) =
                    crate::limits::check_hello(&agent_id, &agent_version, policy_hash.as_deref())
                {
                    self.fail(code::PROTOCOL, m);
                    return;
                }
                self.core.state = State::AwaitAccept;
                let proto_version = proto_version.min(PROTO_VERSION);
                self.events.push_back(CollectorEvent::Hello {
                    agent_id,
                    agent_version,
                    proto_version,
                    policy_hash,
                    policy_version,
                    ioc_version,
                });
            }
            (
                State::Established,
                AgentMsg::Batch {
                    first_seq,
                    mut findings,
                },
            ) => {
                if let Err(m) = self.validate_batch(first_seq, &findings) {
                    self.fail(code::PROTOCOL, m);
                    return;
                }
                if let Some(last) = findings.last() {
                    self.last_seq = last.seq;
                }
                // Agent text is cut to the protocol's caps before the shell sees it.
                let clamped = findings
                    .iter_mut()
                    .filter_map(|e| e.finding.clamp().then_some(()))
                    .count();
                self.events.push_back(CollectorEvent::Batch {
                    first_seq,
                    findings,
                    clamped,
                });
            }
            (
                State::Established,
                AgentMsg::Heartbeat {
                    now,
                    spool_depth,
                    stats,
                },
            ) => {
                self.events.push_back(CollectorEvent::Heartbeat {
                    now,
                    spool_depth,
                    stats,
                });
            }
            (State::Established, AgentMsg::RenewCert { csr_pem }) => {
                if csr_pem.len() > crate::limits::CSR_PEM {
                    self.fail(code::PROTOCOL, "certificate request too long".into());
                    return;
                }
                self.events.push_back(CollectorEvent::RenewCert { csr_pem });
            }
            (state, msg) => {
                let name = match msg {
                    AgentMsg::Hello { .. } => "hello",
                    AgentMsg::Batch { .. } => "batch",
                    AgentMsg::Heartbeat { .. } => "heartbeat",
                    AgentMsg::RenewCert { .. } => "renew_cert",
                    AgentMsg::Error { .. } => "error",
                };
                self.fail(
                    code::PROTOCOL,
                    format!("unexpected {name} in state {state:?}"),
                );
            }
        }
    }

    fn validate_batch(&self, first_seq: u64, findings: &[Envelope]) -> Result<(), String> {
        let first = findings.first().ok_or("empty batch")?;
        if findings.len() > self.core.cfg.max_batch {
            return Err(format!(
                "batch of {} findings exceeds {}",
                findings.len(),
                self.core.cfg.max_batch
            ));
        }
        if first.seq != first_seq {
            return Err(format!(
                "first_seq {first_seq} does not match first finding seq {}",
                first.seq
            ));
        }
        let mut prev = self.last_seq;
        for f in findings {
            if f.seq <= prev || f.seq == 0 {
                return Err(format!("seq {} does not follow {prev}", f.seq));
            }
            prev = f.seq;
        }
        Ok(())
    }

    fn fail(&mut self, code: u32, message: String) {
        let _ = self.core.queue(&CollectorMsg::Error {
            code,
            message: message.clone(),
        });
        let r = self.core.closed(code, message, false);
        self.events.push_back(CollectorEvent::Closed(r));
    }

    /// Accepts the session after `Hello` (the shell checked identity and revocation).
    ///
    /// # Errors
    /// [`SessionError::NotEstablished`] if no `Hello` is pending.
    pub fn accept(
        &mut self,
        policy_version: u64,
        ioc_version: u64,
        acked_seq: u64,
    ) -> Result<(), SessionError> {
        if self.core.state != State::AwaitAccept {
            return Err(SessionError::NotEstablished);
        }
        self.core.queue(&CollectorMsg::Welcome {
            proto_version: PROTO_VERSION,
            policy_version,
            ioc_version,
            acked_seq,
        })?;
        self.core.state = State::Established;
        self.last_seq = acked_seq;
        Ok(())
    }

    /// Refuses or ends the session with a reason the agent will show.
    pub fn reject(&mut self, code: u32, message: impl Into<String>) {
        if !self.is_closed() {
            self.fail(code, message.into());
        }
    }

    /// Queues an `Ack`.
    pub fn ack(&mut self, up_to_seq: u64) {
        if self.is_established() {
            let _ = self.core.queue(&CollectorMsg::Ack { up_to_seq });
        }
    }

    /// Queues a push message (`PolicyUpdate`, `IocUpdate`, `RotateCert`, `CertIssued`).
    ///
    /// # Errors
    /// [`SessionError::NotEstablished`] or a frame error (split large IOC deltas).
    pub fn push(&mut self, msg: &CollectorMsg) -> Result<(), SessionError> {
        if !self.is_established() {
            return Err(SessionError::NotEstablished);
        }
        self.core.queue(msg)?;
        Ok(())
    }

    /// Queues a signed policy bundle as `PolicyUpdate` chunks that fit this session's frames.
    ///
    /// # Errors
    /// [`SessionError::NotEstablished`], or [`SessionError::Policy`] when the bundle needs more
    /// chunks than [`crate::limits::POLICY_CHUNKS`] at this frame limit.
    pub fn push_policy(&mut self, signed: &SignedBundle, version: u64) -> Result<(), SessionError> {
        if !self.is_established() {
            return Err(SessionError::NotEstablished);
        }
        let chunks = crate::policy::split(signed, version, self.core.cfg.max_frame)?;
        for chunk in chunks {
            self.core.queue(&CollectorMsg::PolicyUpdate { chunk })?;
        }
        Ok(())
    }

    /// Next frame to write.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.core.out.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<CollectorEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.is_closed()).then(|| self.core.idle_deadline())
    }

    /// Advances timers: a silent agent is timed out.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.is_closed() && now >= self.core.idle_deadline() {
            let secs = self.core.cfg.idle_timeout.as_secs();
            self.fail(code::TIMED_OUT, format!("agent silent for {secs} s"));
        }
    }
}

fn msg_name(m: &CollectorMsg) -> &'static str {
    match m {
        CollectorMsg::Welcome { .. } => "welcome",
        CollectorMsg::Ack { .. } => "ack",
        CollectorMsg::PolicyUpdate { .. } => "policy_update",
        CollectorMsg::IocUpdate { .. } => "ioc_update",
        CollectorMsg::RotateCert => "rotate_cert",
        CollectorMsg::CertIssued { .. } => "cert_issued",
        CollectorMsg::Error { .. } => "error",
    }
}

#[cfg(test)]
mod tests;
