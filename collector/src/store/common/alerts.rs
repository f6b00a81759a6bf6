//! Alert listings, assignment and state changes, notification claims, and score reads, for both
//! backends. Raising alerts stays per backend (`write.rs`): PostgreSQL serialises raisers of one
//! key with an advisory lock and takes the new id from `RETURNING`.

use super::super::db::{Db, Row, collect, params};
use super::super::{Alert, AlertState, RawAlert, Result, ScorePoint, require_reason, sql};
use super::audit;

const ALERTS: &str = "SELECT id, key, kind, severity, agent_id, title, state, count, opened_at, \
     last_seen, reason, assignee, other_agency, params \
     FROM alerts WHERE (CAST(?1 AS TEXT) IS NULL OR state = ?1) ORDER BY id DESC";
const SCORES_LATEST: &str = "SELECT scope, id, view, score, coverage, rule_pack_version, \
     scoring_version, computed_at FROM score_latest";
const SCORE_HISTORY: &str = "SELECT scope, id, view, score, coverage, rule_pack_version, \
     scoring_version, computed_at FROM score_history \
     WHERE scope = ?1 AND id = ?2 AND computed_at >= ?3 ORDER BY computed_at, view";

/// Every statement of this module, for the dialect test.
#[cfg(test)]
pub(crate) const ALL: &[&str] = &[ALERTS, SCORES_LATEST, SCORE_HISTORY];

pub(crate) fn alerts(db: &impl Db, state: Option<AlertState>) -> Result<Vec<Alert>> {
    let state = state.map(AlertState::as_str);
    db.read(|tx| collect(tx, ALERTS, params![state], |r| raw_alert(r)?.decode()))
}

pub(crate) fn alerts_after(db: &impl Db, after: i64, limit: u32) -> Result<Vec<Alert>> {
    db.read(|tx| {
        collect(tx, sql::ALERTS_AFTER, params![after, limit], |r| {
            raw_alert(r)?.decode()
        })
    })
}

pub(crate) fn notify_claim(
    db: &impl Db,
    alert_id: i64,
    recipient: &str,
    owner: &str,
    now: i64,
) -> Result<bool> {
    db.write(|tx| {
        tx.execute(sql::NOTIFY_CLAIM, params![alert_id, recipient, owner, now])?;
        let holder: String = tx
            .query_one(sql::NOTIFY_CLAIM_OWNER, params![alert_id, recipient])?
            .get(0)?;
        Ok(holder == owner)
    })
}

pub(crate) fn alert_assign(
    db: &impl Db,
    id: i64,
    assignee: Option<&str>,
    actor: &str,
    now: i64,
) -> Result<bool> {
    db.write(|tx| {
        let n = tx.execute(sql::ALERT_ASSIGN, params![id, assignee])?;
        if n > 0 {
            let d = serde_json::json!({"id": id, "assignee": assignee});
            audit(tx, now, actor, "alert.assign", &d)?;
        }
        Ok(n > 0)
    })
}

pub(crate) fn alert_set_state(
    db: &impl Db,
    id: i64,
    state: AlertState,
    actor: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<bool> {
    require_reason(state, reason)?;
    db.write(|tx| {
        let st = state.as_str();
        let n = tx.execute(sql::ALERT_SET_STATE, params![id, st, reason])?;
        if n > 0 {
            let d = serde_json::json!({"id": id, "state": st, "reason": reason});
            audit(tx, now, actor, "alert.state", &d)?;
        }
        Ok(n > 0)
    })
}

pub(crate) fn scores_latest(db: &impl Db) -> Result<Vec<ScorePoint>> {
    db.read(|tx| collect(tx, SCORES_LATEST, &[], score_from_row))
}

pub(crate) fn score_history(
    db: &impl Db,
    scope: &str,
    id: &str,
    since_ms: i64,
) -> Result<Vec<ScorePoint>> {
    db.read(|tx| {
        collect(
            tx,
            SCORE_HISTORY,
            params![scope, id, since_ms],
            score_from_row,
        )
    })
}

/// An `alerts` row in the column order of [`sql::ALERTS_AFTER`].
fn raw_alert(r: &Row) -> Result<RawAlert> {
    Ok(RawAlert {
        id: r.get(0)?,
        key: r.get(1)?,
        kind: r.get(2)?,
        severity: r.get(3)?,
        agent_id: r.get(4)?,
        title: r.get(5)?,
        state: r.get(6)?,
        count: r.get(7)?,
        opened_at: r.get(8)?,
        last_seen: r.get(9)?,
        reason: r.get(10)?,
        assignee: r.get(11)?,
        other_agency: r.get(12)?,
        params: r.get(13)?,
    })
}

fn score_from_row(r: &Row) -> Result<ScorePoint> {
    Ok(ScorePoint {
        scope: r.get(0)?,
        id: r.get(1)?,
        view: r.get(2)?,
        score: r.get(3)?,
        coverage: r.get(4)?,
        rule_pack_version: r.get(5)?,
        scoring_version: r.get(6)?,
        computed_at: r.get(7)?,
    })
}
