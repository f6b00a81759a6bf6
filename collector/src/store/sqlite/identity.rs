//! Agent identities on SQLite: enrollment decisions, moves, certificate promotion, revocation
//! (DESIGN §2). Each function runs inside the caller's transaction.

use rusqlite::{OptionalExtension as _, Transaction, params};

use super::super::{
    EnrollOutcome, LiveMachine, NewAgent, Result, SessionCert, StoreError, enroll_audit,
    enroll_decision,
};
use super::{audit_row, sql};

/// Records `a` or refuses it (see [`crate::store::Store::agent_enroll`]).
pub(super) fn enroll(tx: &Transaction<'_>, a: &NewAgent, now: i64) -> Result<EnrollOutcome> {
    let live: Vec<LiveMachine> = {
        let mut st = tx.prepare(
            "SELECT id, agency, hostname, cert_serial, cert_pending FROM agents
             WHERE machine_id = ?1 AND revoked = 0 ORDER BY id",
        )?;
        st.query_map([&a.machine_id], |r| {
            Ok(LiveMachine {
                id: r.get(0)?,
                agency: r.get(1)?,
                hostname: r.get(2)?,
                serial: r.get(3)?,
                pending: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    let decision = enroll_decision(a, live);
    for (action, detail) in enroll_audit(a, &decision) {
        audit_row(tx, now, "enrollment", action, &detail)?;
    }
    let replaced = match decision {
        Err(m) => return Ok(EnrollOutcome::Refused(m)),
        Ok(r) => r,
    };
    for old in &replaced {
        tx.execute(
            "UPDATE agents SET revoked = 1, replaced_by = ?2 WHERE id = ?1",
            params![old.id, a.id],
        )?;
    }
    tx.execute(
        sql::AGENT_INSERT,
        params![
            a.id,
            a.agency,
            a.machine_id,
            a.hostname,
            a.os,
            now,
            a.agent_version,
            a.cert_serial,
            a.cert_not_after,
            a.token_id,
            a.simulated
        ],
    )?;
    Ok(EnrollOutcome::Enrolled { replaced })
}

/// Moves a live agent to `agency`, audited with both agencies.
pub(super) fn move_agent(
    tx: &Transaction<'_>,
    id: &str,
    agency: &str,
    actor: &str,
    now: i64,
) -> Result<bool> {
    if tx
        .query_row(sql::AGENCY_EXISTS, [agency], |_| Ok(()))
        .optional()?
        .is_none()
    {
        return Err(StoreError::NotFound(format!("agency {agency:?}")));
    }
    let from: Option<(String, String)> = tx
        .query_row(
            "SELECT agency, hostname FROM agents WHERE id = ?1 AND revoked = 0",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((from, hostname)) = from else {
        return Ok(false);
    };
    tx.execute(sql::AGENT_MOVE, params![id, agency])?;
    let d = serde_json::json!({"agent": id, "hostname": hostname, "from": from, "to": agency});
    audit_row(tx, now, actor, "agent.move", &d)?;
    Ok(true)
}

/// Checks (and on first use promotes) the serial an agent opens a session with.
pub(super) fn session_cert(
    tx: &Transaction<'_>,
    id: &str,
    serial: &str,
    now: i64,
) -> Result<SessionCert> {
    let row: Option<(bool, String, Option<String>, Option<i64>)> = tx
        .query_row(
            "SELECT revoked, cert_serial, cert_pending, cert_pending_not_after
             FROM agents WHERE id = ?1",
            [id],
            |r| Ok((r.get::<_, i64>(0)? != 0, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((revoked, current, pending, pending_not_after)) = row else {
        return Ok(SessionCert::Unknown);
    };
    if revoked {
        return Ok(SessionCert::Revoked);
    }
    if serial == current {
        return Ok(SessionCert::Current);
    }
    if pending.as_deref() != Some(serial) {
        return Ok(SessionCert::Superseded);
    }
    tx.execute(sql::AGENT_CERT_PROMOTE, [id])?;
    supersede(tx, &current, id, now)?;
    let d = serde_json::json!({"agent": id, "serial": serial, "previous": current,
                               "not_after": pending_not_after});
    audit_row(tx, now, "agent", "agent.cert_in_use", &d)?;
    Ok(SessionCert::Promoted)
}

/// Records a renewed certificate as pending; one pending before it (never used) is refused.
pub(super) fn set_pending(
    tx: &Transaction<'_>,
    id: &str,
    serial: &str,
    not_after: i64,
    now: i64,
) -> Result<bool> {
    let before: Option<Option<String>> = tx
        .query_row(
            "SELECT cert_pending FROM agents WHERE id = ?1 AND revoked = 0",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(before) = before else {
        return Ok(false);
    };
    if let Some(old) = before {
        supersede(tx, &old, id, now)?;
    }
    tx.execute(sql::AGENT_CERT_PENDING, params![id, serial, not_after])?;
    let d = serde_json::json!({"agent": id, "serial": serial, "not_after": not_after});
    audit_row(tx, now, "agent", "agent.cert_renewed", &d)?;
    Ok(true)
}

fn supersede(tx: &Transaction<'_>, serial: &str, id: &str, now: i64) -> Result<()> {
    tx.execute(sql::REVOKED_CERT_INSERT, params![serial, id, now])?;
    Ok(())
}

/// Every refused serial: superseded ones, and those of revoked or replaced agents.
pub(super) const REVOKED_SERIALS: &str = "SELECT serial FROM revoked_certs
     UNION SELECT cert_serial FROM agents WHERE revoked = 1
     UNION SELECT cert_pending FROM agents WHERE revoked = 1 AND cert_pending IS NOT NULL";
