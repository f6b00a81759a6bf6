//! What the collector does with what an agent sends, without the transport: a batch is
//! corrected against the rule catalogue, stored idempotently, turns into alerts once durable,
//! and marks the cached scores stale; hellos and heartbeats update the agent's record.
//!
//! Every call is blocking (store work): the QUIC session (`server/session.rs`) runs them off the
//! async threads and only turns their outcome into acks and rejections. Tests drive them
//! directly on a real store.

use std::sync::Arc;

use vigil_proto::Envelope;

use crate::alerting::{self, AlertSettings};
use crate::catalog::SharedCatalog;
use crate::scoring::ScoreCache;
use crate::store::{Heartbeat, IngestOutcome, Result, Store};

/// Batch handling shared by every session of a collector.
pub struct Ingest {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// The rules this collector knows (their severity and group win over agents' claims),
    /// replaced when policies change.
    pub catalog: SharedCatalog,
    /// Alert thresholds and disabled kinds, per agency subtree.
    pub alerts: Arc<AlertSettings>,
    /// The console's cached scores, told when stored findings change them.
    pub scores: Arc<ScoreCache>,
    /// The advisory index hosts are re-matched against when their inventory changes.
    pub vulns: Arc<crate::vuln::rematch::IndexCache>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").finish_non_exhaustive()
    }
}

/// What became of one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResult {
    /// What the store did with it.
    pub stored: IngestOutcome,
    /// Findings whose severity or group claimed by the agent the catalogue corrected.
    pub corrected: usize,
}

impl Ingest {
    /// A hello from `agent_id`: records it as seen now (with its version) and returns the highest
    /// seq stored for it, which the session acknowledges.
    ///
    /// # Errors
    /// Store errors.
    pub fn hello(&self, agent_id: &str, now_s: i64, agent_version: &str) -> Result<u64> {
        self.store
            .agent_seen(agent_id, now_s, Some(agent_version), None)?;
        self.store.max_seq(agent_id)
    }

    /// One batch, received at `received_ms`: corrected from the catalogue, stored (idempotent on
    /// each finding's seq), then its alerts raised. Alerts come after the batch is durable, so a
    /// replay only counts again on the same deduplicated alerts.
    ///
    /// # Errors
    /// Store errors; [`crate::store::StoreError::Revoked`] for an agent whose identity was
    /// revoked or replaced (the session then ends).
    pub fn batch(
        &self,
        agent_id: &str,
        mut findings: Vec<Envelope>,
        received_ms: i64,
    ) -> Result<BatchResult> {
        let corrected = self.catalog.current().normalize_batch(&mut findings);
        let s = &*self.store;
        let out = s.ingest(agent_id, &findings, received_ms)?;
        if out.stored > 0
            && findings
                .iter()
                .any(|e| matches!(e.finding, vigil_proto::Finding::Inventory(_)))
        {
            crate::vuln::rematch::on_inventory(s, &self.vulns, agent_id, received_ms / 1000);
        }
        alerting::raise_for_batch(
            s,
            &self.alerts,
            agent_id,
            &findings,
            &out.gaps,
            received_ms / 1000,
        )?;
        if out.rules_over_quota > 0 {
            alerting::raise(s, &alerting::rules_quota(agent_id), received_ms / 1000)?;
        }
        if out.stored > 0 {
            self.scores.mark_changed();
        }
        Ok(BatchResult {
            stored: out,
            corrected,
        })
    }

    /// A heartbeat: the agent's spool depth and its clock's offset from ours.
    ///
    /// # Errors
    /// Store errors.
    pub fn heartbeat(
        &self,
        agent_id: &str,
        agent_now_ms: i64,
        here_ms: i64,
        spool_depth: u64,
    ) -> Result<()> {
        let hb = Heartbeat {
            spool_depth,
            clock_skew_ms: agent_now_ms.saturating_sub(here_ms),
        };
        self.store
            .agent_seen(agent_id, here_ms / 1000, None, Some(hb))
    }
}

#[cfg(test)]
mod tests;
