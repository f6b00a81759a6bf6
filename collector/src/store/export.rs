//! The export log that SIEM outputs read (issue 19), behind [`ExportStore`], implemented once for
//! both backends over the dialect seam (`common/export.rs`, statements `EXPORT_*` of
//! [`super::sql`]).
//!
//! Triggers append a row to `export_log` in the transaction that stores a finding or changes an
//! alert's state (schema v11), while at least one output is registered. Each output keeps a
//! cursor, a position `(tx, id)` in the log, moved only after its receiver took the events, and a
//! lease, so two collectors sharing a PostgreSQL database never send the same output twice. A
//! position is final once every transaction that could still write before it has ended: on
//! SQLite (one writer) at once; on PostgreSQL for rows of transactions older than the oldest
//! running one (`settled` below).

use serde::{Deserialize, Serialize};

use super::{Alert, AlertParams, AlertState, Result, StoreError, StoredFinding};

/// A position in the export log; the cursor of an output is the last position it delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub struct LogPos {
    /// Writing transaction (PostgreSQL), 0 on SQLite.
    pub tx: i64,
    /// Row id.
    pub id: i64,
}

/// What a log row is about.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportSource {
    /// A stored finding.
    Finding(StoredFinding),
    /// An alert as it was when it was raised or changed state.
    Alert(Alert),
    /// A row whose finding is gone (deleted since) or whose text cannot be decoded: skipped.
    Unreadable(String),
}

/// One row of the export log with what it refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportEvent {
    /// Its position.
    pub pos: LogPos,
    /// When it was logged, ms since the epoch (a finding's receipt, an alert's change).
    pub at: i64,
    /// Host concerned.
    pub agent_id: String,
    /// The host's agency (`None` when the agent row is gone).
    pub agency: Option<String>,
    /// The host's name.
    pub hostname: Option<String>,
    /// The finding or alert.
    pub source: ExportSource,
}

/// An output's durable state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportOutputState {
    /// Output name (from collector.toml).
    pub name: String,
    /// Last delivered position.
    pub cursor: LogPos,
    /// Collector process holding the lease.
    pub owner: String,
    /// Lease end, Unix seconds.
    pub lease_until: i64,
    /// Events delivered so far.
    pub sent: u64,
    /// Events dropped by the backlog bound so far.
    pub dropped: u64,
    /// Events logged after the cursor, not yet delivered (on PostgreSQL, rows of transactions
    /// still running included).
    pub backlog: u64,
    /// The last failed send's error (empty when none failed since the output was registered).
    pub last_error: String,
    /// When it failed, Unix seconds (0: never).
    pub last_error_at: i64,
}

/// The export log and the outputs' cursors.
pub trait ExportStore: Send + Sync {
    /// Registers an output with its cursor at the end of the log (a new output starts with
    /// what happens next); nothing if it exists.
    fn export_register(&self, name: &str, now: i64) -> Result<()>;
    /// Takes or renews an output's lease for `owner` until `until` (Unix seconds); false when
    /// another owner holds a lease that has not ended at `now`, or the output is unknown.
    fn export_claim(&self, name: &str, owner: &str, now: i64, until: i64) -> Result<bool>;
    /// Up to `limit` events after the output's cursor whose position is final, oldest first.
    fn export_next(&self, name: &str, limit: usize) -> Result<Vec<ExportEvent>>;
    /// Moves the output's cursor forward to `to` and counts `sent` and `dropped` events; false
    /// (nothing changed) unless `owner` holds the lease and `to` is not behind the cursor.
    fn export_commit(
        &self,
        name: &str,
        owner: &str,
        to: LogPos,
        sent: u64,
        dropped: u64,
    ) -> Result<bool>;
    /// Applies the backlog bound: moves the cursor past every final event logged before
    /// `older_than_ms` and past all but the newest `keep`; returns how many it skipped (counted
    /// as dropped). Only for the lease owner.
    fn export_trim(&self, name: &str, owner: &str, older_than_ms: i64, keep: u64) -> Result<u64>;
    /// Forgets outputs whose lease ended before `stale_before` (removed from every config), then
    /// deletes the log rows every remaining output has passed; returns the rows deleted.
    fn export_prune(&self, stale_before: i64) -> Result<u64>;
    /// Every registered output, by name.
    fn export_outputs(&self) -> Result<Vec<ExportOutputState>>;
    /// Records a failed send of output `name` at `now` (Unix seconds), for `export status`;
    /// only for the lease owner.
    fn export_note_error(&self, name: &str, owner: &str, error: &str, now: i64) -> Result<()>;
}

/// A row of `sql::EXPORT_NEXT` as read by a backend, before decoding.
#[derive(Debug)]
pub(crate) struct RawExportRow {
    pub(crate) tx: i64,
    pub(crate) id: i64,
    pub(crate) at: i64,
    pub(crate) agent_id: String,
    pub(crate) seq: Option<i64>,
    pub(crate) alert: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) observed_at: Option<i64>,
    pub(crate) received_at: Option<i64>,
    pub(crate) body: Option<String>,
    pub(crate) agency: Option<String>,
    pub(crate) hostname: Option<String>,
}

impl RawExportRow {
    /// The event; a row that cannot be decoded becomes [`ExportSource::Unreadable`] rather than
    /// an error, so one bad row never stops an output.
    pub(crate) fn decode(self) -> ExportEvent {
        let source = match (self.seq, self.alert) {
            (_, Some(text)) => decode_alert(&text).map_or_else(
                |e| ExportSource::Unreadable(e.to_string()),
                ExportSource::Alert,
            ),
            (Some(seq), None) => match (self.kind, self.body) {
                (Some(kind), Some(body)) => match serde_json::from_str(&body) {
                    Ok(finding) => ExportSource::Finding(StoredFinding {
                        agent_id: self.agent_id.clone(),
                        seq: u64::try_from(seq).unwrap_or(0),
                        kind,
                        observed_at: self.observed_at.unwrap_or(0),
                        received_at: self.received_at.unwrap_or(0),
                        finding,
                    }),
                    Err(e) => ExportSource::Unreadable(format!("finding {seq}: {e}")),
                },
                _ => ExportSource::Unreadable(format!("finding {seq} is no longer stored")),
            },
            (None, None) => ExportSource::Unreadable("empty export row".into()),
        };
        ExportEvent {
            pos: LogPos {
                tx: self.tx,
                id: self.id,
            },
            at: self.at,
            agent_id: self.agent_id,
            agency: self.agency,
            hostname: self.hostname,
            source,
        }
    }
}

/// The alert snapshot the triggers write (`json_object` / `json_build_object`).
#[derive(Deserialize)]
struct AlertSnapshot {
    id: i64,
    key: String,
    kind: String,
    severity: String,
    agent_id: String,
    title: String,
    state: String,
    count: i64,
    opened_at: i64,
    last_seen: i64,
    reason: Option<String>,
    assignee: Option<String>,
    other_agency: Option<String>,
    params: Option<String>,
}

fn decode_alert(text: &str) -> Result<Alert> {
    let s: AlertSnapshot =
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("alert row: {e}")))?;
    let severity = s
        .severity
        .parse()
        .map_err(|e: String| StoreError::Corrupt(e))?;
    let state = AlertState::parse(&s.state)
        .ok_or_else(|| StoreError::Corrupt(format!("alert state {:?}", s.state)))?;
    let params: AlertParams = s
        .params
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    Ok(Alert {
        id: s.id,
        key: s.key,
        kind: s.kind,
        severity,
        agent_id: s.agent_id,
        title: s.title,
        params,
        state,
        count: u64::try_from(s.count).unwrap_or(0),
        opened_at: s.opened_at,
        last_seen: s.last_seen,
        reason: s.reason,
        assignee: s.assignee,
        other_agency: s.other_agency,
    })
}
