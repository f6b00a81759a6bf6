//! Agent identities and enrollment tokens, for both backends: enrollment decisions, moves,
//! certificate promotion, revocation (DESIGN §2), and the agent and token listings.
//!
//! With several collectors on one PostgreSQL database, the rows an enrollment, a move or a
//! certificate change decides on are locked ([`Dialect::for_update`]) and enrollments of one
//! machine id are serialised ([`Tx::lock`]), so collectors decide one at a time. SQLite has
//! one writer, so the same transactions need neither.

use super::super::db::{Db, Dialect, Lock, Row, Tx, collect, params};
use super::super::{
    AgentRecord, EnrollOutcome, LiveMachine, NewAgent, Result, SessionCert, StoreError,
    TokenRecord, TokenRefusal, enroll_audit, enroll_decision, sql,
};
use super::{audit, level};

/// Advisory-lock class of enrollments (the key is the machine id).
const LOCK_ENROLL: i32 = 0x5647_0002;

const LIVE_OF_MACHINE: &str = "SELECT id, agency, hostname, cert_serial, cert_pending FROM agents \
     WHERE machine_id = ?1 AND NOT revoked ORDER BY id";
const AGENT_REPLACE: &str = "UPDATE agents SET revoked = TRUE, replaced_by = ?2 WHERE id = ?1";
const AGENT_PLACE: &str = "SELECT agency, hostname FROM agents WHERE id = ?1 AND NOT revoked";
const AGENT_CERTS: &str = "SELECT revoked, cert_serial, cert_pending, cert_pending_not_after \
     FROM agents WHERE id = ?1";
const AGENT_PENDING: &str = "SELECT cert_pending FROM agents WHERE id = ?1 AND NOT revoked";
const AGENT_REVOKE: &str = "UPDATE agents SET revoked = TRUE WHERE id = ?1 AND NOT revoked";
const AGENTS_BRIEF: &str = "SELECT id, agency, machine_id, hostname, os, role, level, enrolled_at, \
     last_seen, agent_version, cert_serial, cert_not_after, revoked, max_seq, spool_depth, \
     clock_skew_ms, CAST(NULL AS TEXT) AS inventory, simulated \
     FROM agents ORDER BY revoked, agency, hostname, id";
/// Every refused serial: superseded ones, and those of revoked or replaced agents.
const REVOKED_SERIALS: &str = "SELECT serial FROM revoked_certs \
     UNION SELECT cert_serial FROM agents WHERE revoked \
     UNION SELECT cert_pending FROM agents WHERE revoked AND cert_pending IS NOT NULL";
const TOKEN_BY_SECRET: &str = "SELECT * FROM tokens WHERE secret_hash = ?1";
const TOKEN_REVOKE: &str = "UPDATE tokens SET revoked = TRUE WHERE id = ?1";

/// Every statement of this module, for the dialect test.
#[cfg(test)]
pub(crate) const ALL: &[&str] = &[
    LIVE_OF_MACHINE,
    AGENT_REPLACE,
    AGENT_PLACE,
    AGENT_CERTS,
    AGENT_PENDING,
    AGENT_REVOKE,
    AGENTS_BRIEF,
    REVOKED_SERIALS,
    TOKEN_BY_SECRET,
    TOKEN_REVOKE,
];

/// Records `a` or refuses it (see [`crate::store::Store::agent_enroll`]).
pub(crate) fn agent_enroll(db: &impl Db, a: &NewAgent, now: i64) -> Result<EnrollOutcome> {
    db.write(|tx| {
        // Two collectors enrolling the same machine at once would each see no live agent and
        // both insert one; the lock makes the second wait for the first.
        tx.lock(Lock::Key(LOCK_ENROLL, &a.machine_id))?;
        let live = for_update(tx, LIVE_OF_MACHINE);
        let live = collect(tx, live, params![&a.machine_id], |r| {
            Ok(LiveMachine {
                id: r.get(0)?,
                agency: r.get(1)?,
                hostname: r.get(2)?,
                serial: r.get(3)?,
                pending: r.get(4)?,
            })
        })?;
        let decision = enroll_decision(a, live);
        for (action, detail) in enroll_audit(a, &decision) {
            audit(tx, now, "enrollment", action, &detail)?;
        }
        let replaced = match decision {
            Err(m) => return Ok(EnrollOutcome::Refused(m)),
            Ok(r) => r,
        };
        for old in &replaced {
            tx.execute(AGENT_REPLACE, params![&old.id, &a.id])?;
        }
        tx.execute(
            sql::AGENT_INSERT,
            params![
                &a.id,
                &a.agency,
                &a.machine_id,
                &a.hostname,
                &a.os,
                now,
                &a.agent_version,
                &a.cert_serial,
                a.cert_not_after,
                &a.token_id,
                a.simulated
            ],
        )?;
        Ok(EnrollOutcome::Enrolled { replaced })
    })
}

/// Moves a live agent to `agency`, audited with both agencies.
pub(crate) fn agent_move(
    db: &impl Db,
    id: &str,
    agency: &str,
    actor: &str,
    now: i64,
) -> Result<bool> {
    db.write(|tx| {
        if tx.query_opt(sql::AGENCY_EXISTS, params![agency])?.is_none() {
            return Err(StoreError::NotFound(format!("agency {agency:?}")));
        }
        let place = for_update(tx, AGENT_PLACE);
        let Some(r) = tx.query_opt(place, params![id])? else {
            return Ok(false);
        };
        let (from, hostname): (String, String) = (r.get(0)?, r.get(1)?);
        tx.execute(sql::AGENT_MOVE, params![id, agency])?;
        let d = serde_json::json!({"agent": id, "hostname": hostname, "from": from, "to": agency});
        audit(tx, now, actor, "agent.move", &d)?;
        Ok(true)
    })
}

/// Checks (and on first use promotes) the serial an agent opens a session with.
pub(crate) fn agent_session_cert(
    db: &impl Db,
    id: &str,
    serial: &str,
    now: i64,
) -> Result<SessionCert> {
    db.write(|tx| {
        let certs = for_update(tx, AGENT_CERTS);
        let Some(r) = tx.query_opt(certs, params![id])? else {
            return Ok(SessionCert::Unknown);
        };
        let revoked: bool = r.get(0)?;
        let current: String = r.get(1)?;
        let pending: Option<String> = r.get(2)?;
        let pending_not_after: Option<i64> = r.get(3)?;
        if revoked {
            return Ok(SessionCert::Revoked);
        }
        if serial == current {
            return Ok(SessionCert::Current);
        }
        if pending.as_deref() != Some(serial) {
            return Ok(SessionCert::Superseded);
        }
        tx.execute(sql::AGENT_CERT_PROMOTE, params![id])?;
        supersede(tx, &current, id, now)?;
        let d = serde_json::json!({"agent": id, "serial": serial, "previous": current,
                                   "not_after": pending_not_after});
        audit(tx, now, "agent", "agent.cert_in_use", &d)?;
        Ok(SessionCert::Promoted)
    })
}

/// Records a renewed certificate as pending; one pending before it (never used) is refused.
pub(crate) fn agent_set_cert(
    db: &impl Db,
    id: &str,
    serial: &str,
    not_after: i64,
    now: i64,
) -> Result<bool> {
    db.write(|tx| {
        let pending = for_update(tx, AGENT_PENDING);
        let Some(r) = tx.query_opt(pending, params![id])? else {
            return Ok(false);
        };
        if let Some(old) = r.get::<Option<String>>(0)? {
            supersede(tx, &old, id, now)?;
        }
        tx.execute(sql::AGENT_CERT_PENDING, params![id, serial, not_after])?;
        let d = serde_json::json!({"agent": id, "serial": serial, "not_after": not_after});
        audit(tx, now, "agent", "agent.cert_renewed", &d)?;
        Ok(true)
    })
}

pub(crate) fn agent_revoke(db: &impl Db, id: &str, actor: &str, now: i64) -> Result<bool> {
    db.write(|tx| {
        let n = tx.execute(AGENT_REVOKE, params![id])?;
        if n > 0 {
            audit(
                tx,
                now,
                actor,
                "agent.revoked",
                &serde_json::json!({"agent": id}),
            )?;
        }
        Ok(n > 0)
    })
}

pub(crate) fn revoked_serials(db: &impl Db) -> Result<Vec<String>> {
    db.read(|tx| collect(tx, REVOKED_SERIALS, &[], |r| r.get(0)))
}

pub(crate) fn agent(db: &impl Db, id: &str) -> Result<Option<AgentRecord>> {
    db.read(|tx| {
        tx.query_opt(sql::AGENT_GET, params![id])?
            .as_ref()
            .map(agent_from_row)
            .transpose()
    })
}

pub(crate) fn agents(db: &impl Db) -> Result<Vec<AgentRecord>> {
    db.read(|tx| collect(tx, sql::AGENTS, &[], agent_from_row))
}

pub(crate) fn agents_brief(db: &impl Db) -> Result<Vec<AgentRecord>> {
    db.read(|tx| collect(tx, AGENTS_BRIEF, &[], agent_from_row))
}

pub(crate) fn token_add(db: &impl Db, t: &TokenRecord) -> Result<()> {
    db.write(|tx| {
        tx.execute(
            sql::TOKEN_INSERT,
            params![
                &t.id,
                &t.secret_hash,
                &t.agency,
                t.created_at,
                t.expires_at,
                t.max_uses,
                t.uses,
                t.revoked,
                t.simulated
            ],
        )?;
        Ok(())
    })
}

/// Uses one enrollment of the token with `secret_hash`, or says why it cannot.
pub(crate) fn token_consume(
    db: &impl Db,
    secret_hash: &str,
    now: i64,
) -> Result<std::result::Result<TokenRecord, TokenRefusal>> {
    db.write(|tx| {
        // Locked on PostgreSQL: a concurrent consumer (in any collector) waits and then sees
        // our increment, so the use count is never exceeded.
        let by_secret = for_update(tx, TOKEN_BY_SECRET);
        let Some(r) = tx.query_opt(by_secret, params![secret_hash])? else {
            return Ok(Err(TokenRefusal::Unknown));
        };
        let mut tok = token_from_row(&r)?;
        if let Some(refusal) = tok.refusal(now) {
            return Ok(Err(refusal));
        }
        tx.execute(sql::TOKEN_USE, params![&tok.id])?;
        tok.uses += 1;
        Ok(Ok(tok))
    })
}

pub(crate) fn token_revoke(db: &impl Db, id: &str) -> Result<bool> {
    db.write(|tx| Ok(tx.execute(TOKEN_REVOKE, params![id])? > 0))
}

pub(crate) fn tokens(db: &impl Db) -> Result<Vec<TokenRecord>> {
    db.read(|tx| collect(tx, sql::TOKENS, &[], token_from_row))
}

fn for_update(tx: &dyn Tx, sql: &'static str) -> &'static str {
    Dialect::for_update(tx.dialect(), sql)
}

fn supersede(tx: &mut dyn Tx, serial: &str, id: &str, now: i64) -> Result<()> {
    tx.execute(sql::REVOKED_CERT_INSERT, params![serial, id, now])?;
    Ok(())
}

/// An `agents` row (by column name: `SELECT *` and the brief listing).
pub(crate) fn agent_from_row(r: &Row) -> Result<AgentRecord> {
    let inv: Option<String> = r.get("inventory")?;
    let level = level(r, "level")?;
    Ok(AgentRecord {
        id: r.get("id")?,
        agency: r.get("agency")?,
        machine_id: r.get("machine_id")?,
        hostname: r.get("hostname")?,
        os: r.get("os")?,
        role: r.get("role")?,
        level,
        enrolled_at: r.get("enrolled_at")?,
        last_seen: r.get("last_seen")?,
        agent_version: r.get("agent_version")?,
        cert_serial: r.get("cert_serial")?,
        cert_not_after: r.get("cert_not_after")?,
        revoked: r.get("revoked")?,
        max_seq: r.get("max_seq")?,
        spool_depth: r.get("spool_depth")?,
        clock_skew_ms: r.get("clock_skew_ms")?,
        inventory: inv.and_then(|s| serde_json::from_str(&s).ok()),
        simulated: r.get("simulated")?,
    })
}

/// A `tokens` row (by column name).
pub(crate) fn token_from_row(r: &Row) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get("id")?,
        secret_hash: r.get("secret_hash")?,
        agency: r.get("agency")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        max_uses: r.get("max_uses")?,
        uses: r.get("uses")?,
        revoked: r.get("revoked")?,
        simulated: r.get("simulated")?,
    })
}
