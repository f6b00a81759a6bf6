//! Heartbeats ([`crate::store::Store::agent_seen`]) for both backends: one statement that moves
//! `last_seen` forward only and keeps each reported field that this call does not give.

use super::super::db::{Db, params};
use super::super::{Heartbeat, Result};

/// `?2` the time seen, `?3` the agent version, `?4` the spool depth, `?5` the clock skew: a
/// `NULL` keeps the stored value. Revoked agents are left as they are.
const AGENT_SEEN: &str = "UPDATE agents SET
         last_seen = CASE WHEN last_seen > ?2 THEN last_seen ELSE ?2 END,
         agent_version = coalesce(?3, agent_version),
         spool_depth = coalesce(?4, spool_depth),
         clock_skew_ms = coalesce(?5, clock_skew_ms)
     WHERE id = ?1 AND NOT revoked";

/// Records that agent `id` was seen at `now`, with its version and heartbeat when given.
///
/// # Errors
/// [`super::super::StoreError`] when the update fails.
pub(crate) fn agent_seen(
    db: &impl Db,
    id: &str,
    now: i64,
    agent_version: Option<&str>,
    hb: Option<Heartbeat>,
) -> Result<()> {
    let spool = hb.map(|h| i64::try_from(h.spool_depth).unwrap_or(i64::MAX));
    let skew = hb.map(|h| h.clock_skew_ms);
    db.write(|tx| {
        tx.execute(AGENT_SEEN, params![id, now, agent_version, spool, skew])?;
        Ok(())
    })
}
