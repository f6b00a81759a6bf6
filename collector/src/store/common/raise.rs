//! Raising alerts ([`crate::store::Store::alert_raise`]) for both backends. Raisers of one key
//! serialise on a lock per key ([`Lock::Key`]), so collectors sharing a PostgreSQL database never
//! give a key two rows.

use super::super::db::{Db, Lock, Tx, params};
use super::super::{
    AlertState, MAX_OPEN_ALERTS_PER_AGENT, NewAlert, Result, alert_is_periodic, alert_quota_alert,
    params_json, sql,
};
use super::audit;

/// Lock class of alert keys (first key of the two-key advisory lock).
const LOCK_ALERT_KEY: i32 = 0x5647_A1E7;

const ALERT_INSERT: &str = "INSERT INTO alerts (key, kind, severity, agent_id, title, state, \
     count, opened_at, last_seen, other_agency, params) \
     VALUES (?1, ?2, ?3, ?4, ?5, 'open', 1, ?6, ?6, ?7, ?8) RETURNING id";

/// Raises `a` or counts it on the open alert of its key (reopening a resolved one); returns the
/// alert id and whether it is new.
///
/// # Errors
/// [`super::super::StoreError`] when a statement fails.
pub(crate) fn alert_raise(db: &impl Db, a: &NewAlert, now: i64) -> Result<(i64, bool)> {
    db.write(|tx| raise(tx, a, now))
}

/// Raises or counts `a` inside `tx`; a new agent-triggered alert past
/// [`MAX_OPEN_ALERTS_PER_AGENT`] counts on the agent's quota alert instead.
fn raise(tx: &mut dyn Tx, a: &NewAlert, now: i64) -> Result<(i64, bool)> {
    tx.lock(Lock::Key(LOCK_ALERT_KEY, &a.key))?;
    if let Some(r) = tx.query_opt(sql::ALERT_LAST_OF_KEY, params![&a.key])? {
        let id: i64 = r.get(0)?;
        let reopen = r.get::<String>(1)? == AlertState::Resolved.as_str();
        tx.execute(sql::ALERT_REPEAT, params![id, now, reopen])?;
        if reopen {
            let d = serde_json::json!({"id": id, "key": a.key});
            audit(tx, now, "collector", "alert.reopened", &d)?;
        }
        return Ok((id, false));
    }
    if !alert_is_periodic(&a.kind) {
        let open: i64 = tx
            .query_one(sql::ALERTS_OPEN_OF_AGENT, params![&a.agent_id])?
            .get(0)?;
        if usize::try_from(open).unwrap_or(usize::MAX) >= MAX_OPEN_ALERTS_PER_AGENT {
            return raise(tx, &alert_quota_alert(&a.agent_id), now);
        }
    }
    let id: i64 = tx
        .query_one(
            ALERT_INSERT,
            params![
                &a.key,
                &a.kind,
                a.severity.as_str(),
                &a.agent_id,
                &a.title,
                now,
                &a.other_agency,
                params_json(&a.params)
            ],
        )?
        .get(0)?;
    let d = serde_json::json!({"id": id, "key": a.key, "kind": a.kind});
    audit(tx, now, "collector", "alert.raised", &d)?;
    Ok((id, true))
}
