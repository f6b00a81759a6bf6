//! Writes shared by several store methods: raising alerts and audit rows.

use super::*;

/// Records an audit row inside `tx` (the shared statement, through the seam).
pub(super) fn audit_row(
    tx: &rusqlite::Transaction<'_>,
    now: i64,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    let mut tx = crate::store::db::sqlite::SqliteTx(tx);
    crate::store::common::audit(&mut tx, now, actor, action, detail)
}

/// Raises or counts an alert inside `tx` (see [`Store::alert_raise`]); a new agent-triggered
/// alert past [`crate::store::MAX_OPEN_ALERTS_PER_AGENT`] counts on the agent's quota alert instead.
pub(super) fn raise_alert(
    tx: &rusqlite::Transaction<'_>,
    a: &crate::store::NewAlert,
    now: i64,
) -> Result<(i64, bool)> {
    let last: Option<(i64, String)> = tx
        .query_row(sql::ALERT_LAST_OF_KEY, [&a.key], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((id, state)) = last {
        let reopen = state == crate::store::AlertState::Resolved.as_str();
        tx.execute(sql::ALERT_REPEAT, params![id, now, reopen])?;
        if reopen {
            let d = serde_json::json!({"id": id, "key": a.key});
            audit_row(tx, now, "collector", "alert.reopened", &d)?;
        }
        return Ok((id, false));
    }
    if !crate::store::alert_is_periodic(&a.kind) {
        let open: i64 = tx.query_row(sql::ALERTS_OPEN_OF_AGENT, [&a.agent_id], |r| r.get(0))?;
        if usize::try_from(open).unwrap_or(usize::MAX) >= crate::store::MAX_OPEN_ALERTS_PER_AGENT {
            return raise_alert(tx, &crate::store::alert_quota_alert(&a.agent_id), now);
        }
    }
    tx.execute(
        "INSERT INTO alerts (key, kind, severity, agent_id, title, state, count, opened_at,
                             last_seen, other_agency, params)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', 1, ?6, ?6, ?7, ?8)",
        params![
            a.key,
            a.kind,
            a.severity.as_str(),
            a.agent_id,
            a.title,
            now,
            a.other_agency,
            crate::store::params_json(&a.params)
        ],
    )?;
    let id = tx.last_insert_rowid();
    let d = serde_json::json!({"id": id, "key": a.key, "kind": a.kind});
    audit_row(tx, now, "collector", "alert.raised", &d)?;
    Ok((id, true))
}
