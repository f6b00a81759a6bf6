//! Agent identities on PostgreSQL: enrollment decisions, moves, certificate promotion,
//! revocation (DESIGN §2). Each function runs inside the caller's transaction; rows of one agent
//! are locked (`FOR UPDATE`) so collectors sharing the database decide one at a time.

use ::postgres::Transaction;

use super::super::{
    EnrollOutcome, LiveMachine, NewAgent, Result, SessionCert, StoreError, enroll_audit,
    enroll_decision,
};
use super::{LOCK_ENROLL, insert_audit, pg, sql};

/// Records `a` or refuses it (see [`crate::store::Store::agent_enroll`]).
pub(super) fn enroll(tx: &mut Transaction<'_>, a: &NewAgent, now: i64) -> Result<EnrollOutcome> {
    // Two collectors enrolling the same machine at once would each see no live agent and both
    // insert one; the advisory lock makes the second wait for the first.
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&LOCK_ENROLL, &a.machine_id],
    )?;
    let live = tx
        .query(
            "SELECT id, agency, hostname, cert_serial, cert_pending FROM agents
             WHERE machine_id = $1 AND NOT revoked ORDER BY id FOR UPDATE",
            &[&a.machine_id],
        )?
        .iter()
        .map(|r| {
            Ok(LiveMachine {
                id: r.try_get(0)?,
                agency: r.try_get(1)?,
                hostname: r.try_get(2)?,
                serial: r.try_get(3)?,
                pending: r.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let decision = enroll_decision(a, live);
    for (action, detail) in enroll_audit(a, &decision) {
        insert_audit(tx, now, "enrollment", action, &detail)?;
    }
    let replaced = match decision {
        Err(m) => return Ok(EnrollOutcome::Refused(m)),
        Ok(r) => r,
    };
    for old in &replaced {
        tx.execute(
            "UPDATE agents SET revoked = TRUE, replaced_by = $2 WHERE id = $1",
            &[&old.id, &a.id],
        )?;
    }
    tx.execute(
        pg(sql::AGENT_INSERT),
        &[
            &a.id,
            &a.agency,
            &a.machine_id,
            &a.hostname,
            &a.os,
            &now,
            &a.agent_version,
            &a.cert_serial,
            &a.cert_not_after,
            &a.token_id,
            &a.simulated,
        ],
    )?;
    Ok(EnrollOutcome::Enrolled { replaced })
}

/// Moves a live agent to `agency`, audited with both agencies.
pub(super) fn move_agent(
    tx: &mut Transaction<'_>,
    id: &str,
    agency: &str,
    actor: &str,
    now: i64,
) -> Result<bool> {
    if tx.query_opt(pg(sql::AGENCY_EXISTS), &[&agency])?.is_none() {
        return Err(StoreError::NotFound(format!("agency {agency:?}")));
    }
    let Some(row) = tx.query_opt(
        "SELECT agency, hostname FROM agents WHERE id = $1 AND NOT revoked FOR UPDATE",
        &[&id],
    )?
    else {
        return Ok(false);
    };
    let (from, hostname): (String, String) = (row.try_get(0)?, row.try_get(1)?);
    tx.execute(pg(sql::AGENT_MOVE), &[&id, &agency])?;
    let d = serde_json::json!({"agent": id, "hostname": hostname, "from": from, "to": agency});
    insert_audit(tx, now, actor, "agent.move", &d)?;
    Ok(true)
}

/// Checks (and on first use promotes) the serial an agent opens a session with.
pub(super) fn session_cert(
    tx: &mut Transaction<'_>,
    id: &str,
    serial: &str,
    now: i64,
) -> Result<SessionCert> {
    let Some(row) = tx.query_opt(
        "SELECT revoked, cert_serial, cert_pending, cert_pending_not_after
         FROM agents WHERE id = $1 FOR UPDATE",
        &[&id],
    )?
    else {
        return Ok(SessionCert::Unknown);
    };
    let revoked: bool = row.try_get(0)?;
    let current: String = row.try_get(1)?;
    let pending: Option<String> = row.try_get(2)?;
    let pending_not_after: Option<i64> = row.try_get(3)?;
    if revoked {
        return Ok(SessionCert::Revoked);
    }
    if serial == current {
        return Ok(SessionCert::Current);
    }
    if pending.as_deref() != Some(serial) {
        return Ok(SessionCert::Superseded);
    }
    tx.execute(pg(sql::AGENT_CERT_PROMOTE), &[&id])?;
    supersede(tx, &current, id, now)?;
    let d = serde_json::json!({"agent": id, "serial": serial, "previous": current,
                               "not_after": pending_not_after});
    insert_audit(tx, now, "agent", "agent.cert_in_use", &d)?;
    Ok(SessionCert::Promoted)
}

/// Records a renewed certificate as pending; one pending before it (never used) is refused.
pub(super) fn set_pending(
    tx: &mut Transaction<'_>,
    id: &str,
    serial: &str,
    not_after: i64,
    now: i64,
) -> Result<bool> {
    let Some(row) = tx.query_opt(
        "SELECT cert_pending FROM agents WHERE id = $1 AND NOT revoked FOR UPDATE",
        &[&id],
    )?
    else {
        return Ok(false);
    };
    let before: Option<String> = row.try_get(0)?;
    if let Some(old) = before {
        supersede(tx, &old, id, now)?;
    }
    tx.execute(pg(sql::AGENT_CERT_PENDING), &[&id, &serial, &not_after])?;
    let d = serde_json::json!({"agent": id, "serial": serial, "not_after": not_after});
    insert_audit(tx, now, "agent", "agent.cert_renewed", &d)?;
    Ok(true)
}

fn supersede(tx: &mut Transaction<'_>, serial: &str, id: &str, now: i64) -> Result<()> {
    tx.execute(pg(sql::REVOKED_CERT_INSERT), &[&serial, &id, &now])?;
    Ok(())
}

/// Every refused serial: superseded ones, and those of revoked or replaced agents.
pub(super) const REVOKED_SERIALS: &str = "SELECT serial FROM revoked_certs
     UNION SELECT cert_serial FROM agents WHERE revoked
     UNION SELECT cert_pending FROM agents WHERE revoked AND cert_pending IS NOT NULL";
