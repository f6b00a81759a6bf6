//! Storage of federation (issue 19), behind [`FedStore`], implemented once for both backends over
//! the dialect seam (`common/fed.rs`) with the statements below.
//!
//! Upstream side: federation tokens (a mark on an ordinary enrollment token, so expiry, use
//! count and revocation are the tokens' own), enrolled downstream collectors, and the summaries
//! they pushed, stored idempotently on `(downstream, seq)` with the missing ranges recorded as
//! gaps. Downstream side: a spool of signed summaries, deleted once acknowledged, bounded so a
//! long outage drops the oldest (counted, and seen upstream as a gap).

use serde::Serialize;

use super::Result;

/// Summaries kept per downstream (the newest is the one shown; the rest is recent history).
pub const KEEP_RECEIVED: i64 = 50;
/// Unacknowledged summaries a downstream keeps before dropping the oldest.
pub const MAX_SPOOL: i64 = 5_000;

/// An enrolled downstream collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Downstream {
    /// UUID (SAN URI `vigil://collector/<uuid>` of its certificate).
    pub id: String,
    /// Agency of this collector its subtree is grafted under.
    pub agency: String,
    /// Name it gave when enrolling.
    pub name: String,
    /// Certificate serial, lowercase hex.
    pub cert_serial: String,
    /// Unix seconds.
    pub enrolled_at: i64,
    /// Unix seconds, 0 = live.
    pub revoked_at: i64,
    /// Highest summary seq stored.
    pub acked_seq: u64,
    /// Unix seconds of the last stored summary, 0 = none yet.
    pub last_received: i64,
}

/// What storing a summary did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored; `gap` is the seq range that was skipped, if any.
    Stored {
        /// Missing `(from, to)`, inclusive.
        gap: Option<(u64, u64)>,
    },
    /// Already stored (a resend after a lost ack); nothing changed.
    Duplicate,
}

/// The newest summary of a live downstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestSummary {
    /// The downstream.
    pub downstream: Downstream,
    /// Its seq.
    pub seq: u64,
    /// Unix seconds.
    pub received_at: i64,
    /// The signed body.
    pub body: String,
}

/// A seq range a downstream never delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FedGap {
    /// Downstream id.
    pub downstream: String,
    /// First missing seq.
    pub from_seq: u64,
    /// Last missing seq.
    pub to_seq: u64,
    /// Unix seconds.
    pub detected_at: i64,
}

/// A summary in the downstream's spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    /// Seq.
    pub seq: u64,
    /// Unix seconds.
    pub created_at: i64,
    /// Signed body.
    pub body: String,
    /// Signature, hex.
    pub sig: String,
}

/// Counters of the downstream's spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SpoolState {
    /// Highest seq spooled.
    pub last_seq: u64,
    /// Highest seq the upstream acknowledged.
    pub acked_seq: u64,
    /// Summaries dropped unacknowledged because the spool was full.
    pub dropped: u64,
}

/// Federation storage.
pub trait FedStore: Send + Sync {
    /// Marks a token (by secret hash) as admitting downstream collectors only.
    fn fed_token_mark(&self, secret_hash: &str) -> Result<()>;
    /// Whether a token is a federation token.
    fn fed_token_is(&self, secret_hash: &str) -> Result<bool>;
    /// Records a downstream.
    fn fed_downstream_add(&self, d: &Downstream) -> Result<()>;
    /// One downstream.
    fn fed_downstream(&self, id: &str) -> Result<Option<Downstream>>;
    /// Every downstream, by agency then id.
    fn fed_downstreams(&self) -> Result<Vec<Downstream>>;
    /// Revokes a downstream; its summaries stop counting. False when unknown or revoked.
    fn fed_downstream_revoke(&self, id: &str, now: i64) -> Result<bool>;
    /// Stores a summary in one transaction, idempotent on `(id, seq)`; records a skipped range.
    ///
    /// # Errors
    /// [`super::StoreError::NotFound`] / [`super::StoreError::Revoked`] for an unknown or
    /// revoked downstream.
    fn fed_receive(&self, id: &str, seq: u64, body: &str, sig: &str, now: i64) -> Result<Received>;
    /// The newest summary of every live downstream.
    fn fed_latest(&self) -> Result<Vec<LatestSummary>>;
    /// Recorded gaps, oldest first.
    fn fed_gaps(&self) -> Result<Vec<FedGap>>;
    /// Spools a summary (downstream side), dropping the oldest unacknowledged ones past
    /// [`MAX_SPOOL`]; returns its seq.
    fn fed_spool_push(&self, body: &str, sig: &str, now: i64) -> Result<u64>;
    /// Spooled summaries with seq above `after`, oldest first, at most `limit`.
    fn fed_spool_pending(&self, after: u64, limit: usize) -> Result<Vec<Spooled>>;
    /// The newest spooled summary (acknowledged or not), to tell whether anything changed.
    fn fed_spool_last(&self) -> Result<Option<Spooled>>;
    /// Records the upstream's ack and deletes what it covers (but the newest row).
    fn fed_spool_ack(&self, up_to: u64) -> Result<()>;
    /// The spool's counters.
    fn fed_spool_state(&self) -> Result<SpoolState>;
}

/// Shared statement (see `sql.rs`).
pub(crate) const TOKEN_MARK: &str =
    "INSERT INTO fed_tokens (secret_hash) VALUES (?1) ON CONFLICT DO NOTHING";
/// Shared statement.
pub(crate) const TOKEN_IS: &str = "SELECT 1 FROM fed_tokens WHERE secret_hash = ?1";
/// Shared statement.
pub(crate) const DOWNSTREAM_ADD: &str = "INSERT INTO fed_downstreams (id, agency, name, \
     cert_serial, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5)";
/// Shared statement: every downstream, by agency then id (columns in [`Downstream`] order).
pub(crate) const DOWNSTREAMS: &str = "SELECT id, agency, name, cert_serial, enrolled_at, \
     revoked_at, acked_seq, last_received FROM fed_downstreams ORDER BY agency, id";
/// Shared statement.
pub(crate) const DOWNSTREAM_GET: &str = "SELECT id, agency, name, cert_serial, enrolled_at, \
     revoked_at, acked_seq, last_received FROM fed_downstreams WHERE id = ?1";
/// Shared statement.
pub(crate) const DOWNSTREAM_REVOKE: &str =
    "UPDATE fed_downstreams SET revoked_at = ?2 WHERE id = ?1 AND revoked_at = 0";
/// Shared statement.
pub(crate) const GAP_ADD: &str = "INSERT INTO fed_gaps (downstream_id, from_seq, to_seq, \
     detected_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING";
/// Shared statement.
pub(crate) const SUMMARY_ADD: &str = "INSERT INTO fed_summaries (downstream_id, seq, \
     received_at, body, sig) VALUES (?1, ?2, ?3, ?4, ?5)";
/// Shared statement.
pub(crate) const DOWNSTREAM_ACKED: &str =
    "UPDATE fed_downstreams SET acked_seq = ?2, last_received = ?3 WHERE id = ?1";
/// Shared statement: `?2` is the oldest seq kept.
pub(crate) const SUMMARY_PRUNE: &str =
    "DELETE FROM fed_summaries WHERE downstream_id = ?1 AND seq < ?2";
/// Shared statement.
pub(crate) const LATEST: &str = "SELECT d.id, d.agency, d.name, d.cert_serial, d.enrolled_at, \
     d.revoked_at, d.acked_seq, d.last_received, s.seq, s.received_at, s.body \
     FROM fed_downstreams d JOIN fed_summaries s ON s.downstream_id = d.id AND s.seq = d.acked_seq \
     WHERE d.revoked_at = 0 ORDER BY d.agency, d.id";
/// Shared statement.
pub(crate) const GAPS: &str = "SELECT downstream_id, from_seq, to_seq, detected_at FROM fed_gaps \
     ORDER BY detected_at, downstream_id, from_seq";
/// Shared statement.
pub(crate) const SPOOL_NEXT: &str =
    "UPDATE fed_spool_state SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq";
/// Shared statement.
pub(crate) const SPOOL_ADD: &str =
    "INSERT INTO fed_spool (seq, created_at, body, sig) VALUES (?1, ?2, ?3, ?4)";
/// Shared statement: drops unacknowledged rows with seq `<= ?1` (spool full).
pub(crate) const SPOOL_DROP: &str =
    "DELETE FROM fed_spool WHERE seq <= ?1 AND seq > (SELECT acked_seq FROM fed_spool_state)";
/// Shared statement.
pub(crate) const SPOOL_DROPPED: &str =
    "UPDATE fed_spool_state SET dropped = dropped + ?1 WHERE id = 1";
/// Shared statement.
pub(crate) const SPOOL_PENDING: &str =
    "SELECT seq, created_at, body, sig FROM fed_spool WHERE seq > ?1 ORDER BY seq LIMIT ?2";
/// Shared statement.
pub(crate) const SPOOL_LAST: &str =
    "SELECT seq, created_at, body, sig FROM fed_spool ORDER BY seq DESC LIMIT 1";
/// Shared statement: an ack only moves forward, and never past what was spooled.
pub(crate) const SPOOL_ACK: &str = "UPDATE fed_spool_state SET acked_seq = CASE \
     WHEN ?1 > acked_seq AND ?1 <= last_seq THEN ?1 ELSE acked_seq END WHERE id = 1";
/// Shared statement.
pub(crate) const SPOOL_PRUNE: &str = "DELETE FROM fed_spool WHERE seq <= \
     (SELECT acked_seq FROM fed_spool_state) AND seq < (SELECT max(seq) FROM fed_spool)";
/// Shared statement.
pub(crate) const SPOOL_STATE: &str =
    "SELECT last_seq, acked_seq, dropped FROM fed_spool_state WHERE id = 1";

/// Every statement, for the dialect test.
#[cfg(test)]
pub(crate) const ALL: &[&str] = &[
    TOKEN_MARK,
    TOKEN_IS,
    DOWNSTREAM_ADD,
    DOWNSTREAMS,
    DOWNSTREAM_GET,
    DOWNSTREAM_REVOKE,
    GAP_ADD,
    SUMMARY_ADD,
    DOWNSTREAM_ACKED,
    SUMMARY_PRUNE,
    LATEST,
    GAPS,
    SPOOL_NEXT,
    SPOOL_ADD,
    SPOOL_DROP,
    SPOOL_DROPPED,
    SPOOL_PENDING,
    SPOOL_LAST,
    SPOOL_ACK,
    SPOOL_PRUNE,
    SPOOL_STATE,
];

/// What storing summary `seq` does given the downstream's `acked` seq ([`FedStore::fed_receive`]).
pub(crate) fn receive_decision(acked: u64, seq: u64) -> Received {
    if seq <= acked {
        Received::Duplicate
    } else if seq > acked + 1 {
        Received::Stored {
            gap: Some((acked + 1, seq - 1)),
        }
    } else {
        Received::Stored { gap: None }
    }
}

/// Converts a stored (non-negative) counter.
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Converts a seq for storage.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
