//! The live agent sessions of this collector: at most one per agent identity, closed at once
//! when the agent is revoked or replaced (DESIGN §2, §10).
//!
//! A second session of an identity that already has one is either a reconnect (the first
//! connection died without a close: a crash, a network change) or a second machine holding the
//! same key (a cloned disk). The collector tells them apart by asking: it sends the old session
//! a message and watches for the packets a live QUIC peer answers with. A silent old session is
//! closed and replaced; a live one keeps the identity and the newcomer is refused, with a
//! `duplicate_machine` alert, so two machines' findings are never merged under one seq space.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use vigil_proto::msg::code;

/// One live session.
#[derive(Debug, Clone)]
struct Entry {
    id: u64,
    serial: String,
    remote: SocketAddr,
    conn: quinn::Connection,
    probe: Arc<Notify>,
}

/// Live sessions by agent id.
#[derive(Debug, Default)]
pub(crate) struct LiveSessions {
    next: AtomicU64,
    map: Mutex<HashMap<String, Entry>>,
}

/// A registered session; unregisters itself when dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    live: Arc<LiveSessions>,
    agent: String,
    id: u64,
    /// Notified when another connection of the agent asks whether this one is alive: the
    /// session answers by sending something (an `Ack`).
    pub(crate) probe: Arc<Notify>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        crate::metrics::record(crate::metrics::Event::SessionClosed);
        let mut map = self.live.lock();
        if map.get(&self.agent).is_some_and(|e| e.id == self.id) {
            map.remove(&self.agent);
        }
    }
}

/// Why a new session was not registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The identity is in use by a live session from this address.
    InUse(SocketAddr),
}

impl LiveSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers the session `conn` of `agent` (certificate `serial`). When the agent already
    /// has a live session, probes it: a silent one is closed and replaced, a live one refuses
    /// this one.
    pub(crate) async fn register(
        self: &Arc<Self>,
        agent: &str,
        serial: &str,
        conn: &quinn::Connection,
    ) -> Result<Registration, Refusal> {
        let old = self.lock().get(agent).cloned();
        if let Some(old) = old
            && old.conn.close_reason().is_none()
        {
            if answers(&old).await {
                return Err(Refusal::InUse(old.remote));
            }
            old.conn.close(
                code::UNAVAILABLE.into(),
                b"superseded by a new session of this agent",
            );
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let probe = Arc::new(Notify::new());
        let entry = Entry {
            id,
            serial: serial.to_owned(),
            remote: conn.remote_address(),
            conn: conn.clone(),
            probe: probe.clone(),
        };
        let mut map = self.lock();
        // Another connection of the agent registered while we probed: the agent is already
        // served, so this one waits for the next attempt.
        if let Some(e) = map.get(agent)
            && e.conn.close_reason().is_none()
        {
            return Err(Refusal::InUse(e.remote));
        }
        map.insert(agent.to_owned(), entry);
        crate::metrics::record(crate::metrics::Event::SessionOpened);
        Ok(Registration {
            live: self.clone(),
            agent: agent.to_owned(),
            id,
            probe,
        })
    }

    /// Closes the sessions whose certificate serial is in `serials` or whose agent is in
    /// `agents`; returns how many.
    pub(crate) fn close_revoked(&self, serials: &HashSet<String>, agents: &[String]) -> usize {
        let mut map = self.lock();
        let gone: Vec<String> = map
            .iter()
            .filter(|(a, e)| serials.contains(&e.serial) || agents.contains(a))
            .map(|(a, _)| a.clone())
            .collect();
        for a in &gone {
            if let Some(e) = map.remove(a) {
                tracing::info!(agent = %a, remote = %e.remote, "Closing the session of a revoked agent.");
                e.conn.close(
                    code::UNAUTHORIZED.into(),
                    b"agent identity revoked or replaced; re-enroll",
                );
            }
        }
        gone.len()
    }
}

/// True when the peer of `e` answers a message within a few round trips.
async fn answers(e: &Entry) -> bool {
    let before = e.conn.stats().udp_rx.datagrams;
    // A QUIC datagram is acknowledged by a live peer's stack whatever its application does;
    // the session's own answer (an `Ack`) covers a peer without datagram support.
    let _ = e.conn.send_datagram((&b"?"[..]).into());
    e.probe.notify_one();
    let wait = (e.conn.rtt() * 4).clamp(Duration::from_millis(200), Duration::from_secs(2));
    let end = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if e.conn.close_reason().is_some() {
            return false;
        }
        if e.conn.stats().udp_rx.datagrams > before {
            return true;
        }
    }
    false
}
