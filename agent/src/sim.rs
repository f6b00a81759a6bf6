//! Simulated agents in one process, each one the real agent's shell: enrolled through the real
//! exchange with a real token, streaming a real on-disk [`Spool`] over its own QUIC + mTLS
//! [`Uplink`]. Only the engines are replaced: the caller appends the findings a host would have
//! observed, with the observation time it chooses.
//!
//! Used by `vigil-collector demo --province` (a province of simulated hosts), the reconnect-storm
//! test and `vigil-loadgen`. The collector cannot tell a simulated agent from a real one on the
//! wire; it marks them from the token they enrolled with.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::sync::{Notify, watch};
use vigil_proto::msg::HostIdentity;
use vigil_proto::token::EnrollToken;
use vigil_proto::{AgentHealth, Finding, HealthKind, Severity};

use crate::config::AgentConfig;
use crate::spool::Spool;
use crate::state::StatePaths;
use crate::uplink::{Counters, SharedSpool, Uplink, lock};

/// One simulated agent: its id and the spool its uplink streams.
#[derive(Debug)]
pub struct SimAgent {
    /// Agent id from enrollment.
    pub id: String,
    /// Its spool (append to make it send).
    pub spool: SharedSpool,
    /// Wakes its uplink after appends.
    pub wake: Arc<Notify>,
}

impl SimAgent {
    /// Enrolls one host with `token` through the real exchange, keeping its identity, keys and
    /// spool in `state`, and builds its uplink (not started).
    ///
    /// # Errors
    /// Enrollment (refused token, unreachable collector) or spool errors.
    pub async fn enroll(
        state: StatePaths,
        token: &EnrollToken,
        host: HostIdentity,
        config: &AgentConfig,
    ) -> anyhow::Result<(Self, Uplink)> {
        crate::enroll::enroll(token, &token.addrs, host, &state)
            .await
            .with_context(|| format!("enrolling into {}", state.dir.display()))?;
        Self::open(state, config)
    }

    /// Reopens a host enrolled earlier from its state directory and builds its uplink.
    ///
    /// # Errors
    /// A missing or unreadable identity, or a spool error.
    pub fn open(state: StatePaths, config: &AgentConfig) -> anyhow::Result<(Self, Uplink)> {
        let identity = state.load_identity()?;
        let spool = Spool::open(&state.spool(), config.spool)
            .with_context(|| format!("opening the spool in {}", state.spool().display()))?;
        let spool: SharedSpool = Arc::new(Mutex::new(spool));
        let wake = Arc::new(Notify::new());
        // The real policy path: bundles are verified with the key pinned at enrollment and
        // applied in this host's state directory, so a push is measured end to end.
        let (policy, _) =
            crate::central::PolicyAgent::open(&state, &identity.agency, config.clone());
        let up = Uplink::new(
            identity.clone(),
            state,
            config.clone(),
            spool.clone(),
            wake.clone(),
            Arc::new(Counters::default()),
        )
        .with_policy(policy);
        Ok((
            Self {
                id: identity.agent_id,
                spool,
                wake,
            },
            up,
        ))
    }

    /// Appends `findings` as observed at `observed_at` (ms since the epoch), makes them durable
    /// and wakes the uplink. Returns how many were appended.
    ///
    /// # Errors
    /// A spool error (full, or the disk failed).
    pub fn send(
        &self,
        observed_at: i64,
        findings: impl IntoIterator<Item = Finding>,
    ) -> anyhow::Result<usize> {
        let n = {
            let mut sp = lock(&self.spool);
            let mut n = 0;
            for f in findings {
                sp.append(observed_at, &f)?;
                n += 1;
            }
            sp.sync()?;
            n
        };
        self.wake.notify_one();
        Ok(n)
    }

    /// True once the collector has acknowledged everything appended so far.
    pub fn delivered(&self) -> bool {
        lock(&self.spool).depth() == 0
    }
}

/// Enrolls `n` agents with `token` (which must allow `n` uses) under `base`, named `sim-<i>`
/// with machine ids `sim-machine-<i>`.
///
/// # Errors
/// Any enrollment or spool error.
pub async fn enroll_fleet(
    base: &Path,
    token: &str,
    n: usize,
    config: &AgentConfig,
) -> anyhow::Result<Vec<(SimAgent, Uplink)>> {
    let tok = EnrollToken::decode(token)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let host = HostIdentity {
            machine_id: format!("sim-machine-{i}"),
            hostname: format!("sim-{i}"),
            os: "Simulated".into(),
        };
        let state = StatePaths::new(base.join(format!("sim{i}")));
        out.push(SimAgent::enroll(state, &tok, host, config).await?);
    }
    Ok(out)
}

/// Appends `k` numbered findings (agent-health records counting from `offset`) to every agent
/// and wakes it.
///
/// # Errors
/// A spool error.
pub fn feed(agents: &[SimAgent], k: u64, offset: u64) -> anyhow::Result<()> {
    for a in agents {
        a.send(0, (offset..offset + k).map(numbered))?;
    }
    Ok(())
}

fn numbered(i: u64) -> Finding {
    Finding::AgentHealth(AgentHealth {
        kind: HealthKind::Other,
        message: "simulated".into(),
        counts: std::collections::BTreeMap::from([("synthetic".to_string(), i)]),
        severity: Severity::Low,
    })
}

/// A client endpoint for the uplinks of a fleet: one UDP socket, and one set of receive buffers
/// (about 3 MB on Linux) instead of one per agent. Call it inside the runtime.
///
/// # Errors
/// When no UDP socket can be bound.
pub fn client_endpoint() -> std::io::Result<quinn::Endpoint> {
    quinn::Endpoint::client(([0, 0, 0, 0], 0).into())
}

/// Runs every uplink on `rt`, all from one shared client endpoint, until `shutdown` flips.
///
/// # Errors
/// When no UDP socket can be bound.
pub fn run_fleet(
    rt: &tokio::runtime::Handle,
    uplinks: Vec<Uplink>,
    shutdown: &watch::Receiver<bool>,
) -> std::io::Result<Vec<tokio::task::JoinHandle<()>>> {
    let endpoint = {
        let _in = rt.enter();
        client_endpoint()?
    };
    Ok(uplinks
        .into_iter()
        .map(|u| rt.spawn(u.with_endpoint(endpoint.clone()).run(shutdown.clone())))
        .collect())
}
