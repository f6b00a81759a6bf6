//! Many simulated agents in one process, each running the real agent uplink shell (real QUIC +
//! mTLS, real on-disk spool) against a real collector. Used by the reconnect-storm test and by
//! `vigil-loadgen`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};
use vigil_agent::spool::Spool;
use vigil_agent::state::StatePaths;
use vigil_agent::uplink::{Counters, SharedSpool, Uplink};
use vigil_proto::msg::HostIdentity;
use vigil_proto::token::EnrollToken;

/// One simulated agent.
#[derive(Debug)]
pub struct SimAgent {
    /// Agent id.
    pub id: String,
    /// Its spool (append to make it send).
    pub spool: SharedSpool,
    /// Wakes its uplink after appends.
    pub wake: Arc<Notify>,
}

/// Enrolls `n` agents with `token` (which must allow `n` uses) under `base`, through the real
/// enrollment exchange.
///
/// # Errors
/// Any enrollment or spool error.
pub async fn enroll_fleet(
    base: &Path,
    token: &str,
    n: usize,
    config: &vigil_agent::config::AgentConfig,
) -> anyhow::Result<Vec<(SimAgent, Uplink)>> {
    let tok = EnrollToken::decode(token)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let state = StatePaths::new(base.join(format!("sim{i}")));
        let host = HostIdentity {
            machine_id: format!("sim-machine-{i}"),
            hostname: format!("sim-{i}"),
            os: "Simulated".into(),
        };
        let done = vigil_agent::enroll::enroll(&tok, &tok.addrs, host, &state).await?;
        let spool: SharedSpool = Arc::new(Mutex::new(Spool::open(&state.spool(), config.spool)?));
        let wake = Arc::new(Notify::new());
        let up = Uplink::new(
            done.identity.clone(),
            state,
            config.clone(),
            spool.clone(),
            wake.clone(),
            Arc::new(Counters::default()),
        );
        out.push((
            SimAgent {
                id: done.identity.agent_id,
                spool,
                wake,
            },
            up,
        ));
    }
    Ok(out)
}

/// Appends `k` numbered findings to every agent's spool and wakes it.
///
/// # Errors
/// A spool error.
pub fn feed(agents: &[SimAgent], k: u64, offset: u64) -> anyhow::Result<()> {
    for a in agents {
        {
            let mut sp = vigil_agent::uplink::lock(&a.spool);
            for i in 0..k {
                sp.append(0, &synthetic(offset + i))?;
            }
            sp.sync()?;
        }
        a.wake.notify_one();
    }
    Ok(())
}

fn synthetic(i: u64) -> vigil_proto::Finding {
    vigil_proto::Finding::AgentHealth(vigil_proto::AgentHealth {
        kind: vigil_proto::HealthKind::Other,
        message: "simulated".into(),
        counts: std::collections::BTreeMap::from([("synthetic".to_string(), i)]),
        severity: vigil_proto::Severity::Low,
    })
}

/// Runs every uplink until `shutdown` flips.
pub fn run_fleet(
    rt: &tokio::runtime::Runtime,
    uplinks: Vec<Uplink>,
    shutdown: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    uplinks
        .into_iter()
        .map(|u| rt.spawn(u.run(shutdown.clone())))
        .collect()
}
