//! [`PolicyStore`] on PostgreSQL (schema: `../migrations/V13__policy.sql`, statements: `sql.rs`).

use postgres::Row;

use super::super::policy::{
    AppliedPolicy, NewPolicyVersion, PolicyAssignment, PolicyStore, PolicyVersion, check_scope,
};
use super::super::sql::{self, dialect::pg};
use super::super::{Result, StoreError};
use super::PostgresStore;

/// Serialises revision-taking changes across collectors sharing the database.
const LOCK_POLICY: i64 = 72_610_018;

fn version_from_row(r: &Row) -> Result<PolicyVersion> {
    Ok(PolicyVersion {
        name: r.try_get(0)?,
        version: r.try_get(1)?,
        rev: r.try_get(2)?,
        scope: r.try_get(3)?,
        body: r.try_get(4)?,
        created_at: r.try_get(5)?,
        actor: r.try_get(6)?,
        note: r.try_get(7)?,
    })
}

impl PolicyStore for PostgresStore {
    fn policy_add(&self, p: &NewPolicyVersion<'_>, actor: &str, now: i64) -> Result<PolicyVersion> {
        let (name, scope, body, note, action, actor) = (
            p.name.to_owned(),
            p.scope.to_owned(),
            p.body.to_owned(),
            p.note.to_owned(),
            p.action.to_owned(),
            actor.to_owned(),
        );
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_POLICY])?;
            let head = tx.query_opt(pg(sql::POLICY_HEAD), &[&name])?;
            let head: Option<(i64, String)> = match head {
                Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
                None => None,
            };
            check_scope(&name, head.as_ref().map(|h| h.1.as_str()), &scope)?;
            let rev: i64 = tx.query_one(pg(sql::POLICY_REV), &[])?.try_get(0)?;
            let v = PolicyVersion {
                name,
                version: head.map_or(1, |h| h.0 + 1),
                rev: rev + 1,
                scope,
                body,
                created_at: now,
                actor,
                note,
            };
            tx.execute(
                pg(sql::POLICY_INSERT),
                &[
                    &v.name, &v.version, &v.rev, &v.scope, &v.body, &now, &v.actor, &v.note,
                ],
            )?;
            let detail =
                serde_json::json!({"policy": v.name, "version": v.version, "note": v.note});
            tx.execute(
                pg(sql::AUDIT_INSERT),
                &[&now, &v.actor, &action, &detail.to_string()],
            )?;
            tx.commit()?;
            Ok(v)
        })
    }

    fn policy_history(&self, name: &str) -> Result<Vec<PolicyVersion>> {
        let name = name.to_owned();
        self.call(move |c| {
            c.query(pg(sql::POLICY_HISTORY), &[&name])?
                .iter()
                .map(version_from_row)
                .collect()
        })
    }

    fn policies_latest(&self) -> Result<Vec<PolicyVersion>> {
        self.call(|c| {
            c.query(pg(sql::POLICIES_LATEST), &[])?
                .iter()
                .map(version_from_row)
                .collect()
        })
    }

    fn policy_assign(
        &self,
        agency: &str,
        policy: Option<&str>,
        actor: &str,
        now: i64,
    ) -> Result<i64> {
        let (agency, policy, actor) = (
            agency.to_owned(),
            policy.map(str::to_owned),
            actor.to_owned(),
        );
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_POLICY])?;
            if tx.query_opt(pg(sql::AGENCY_EXISTS), &[&agency])?.is_none() {
                return Err(StoreError::NotFound(format!("agency {agency:?}")));
            }
            if let Some(name) = &policy
                && tx.query_opt(pg(sql::POLICY_HEAD), &[name])?.is_none()
            {
                return Err(StoreError::NotFound(format!("policy {name:?}")));
            }
            let rev: i64 = tx
                .query_one(pg(sql::POLICY_REV), &[])?
                .try_get::<_, i64>(0)?
                + 1;
            tx.execute(
                pg(sql::POLICY_ASSIGN),
                &[&agency, &policy, &rev, &now, &actor],
            )?;
            let (action, detail) = match &policy {
                Some(p) => (
                    "policy.assign",
                    serde_json::json!({"agency": agency, "policy": p}),
                ),
                None => ("policy.unassign", serde_json::json!({"agency": agency})),
            };
            tx.execute(
                pg(sql::AUDIT_INSERT),
                &[&now, &actor, &action, &detail.to_string()],
            )?;
            tx.commit()?;
            Ok(rev)
        })
    }

    fn policy_assignments(&self) -> Result<Vec<PolicyAssignment>> {
        self.call(|c| {
            c.query(pg(sql::POLICY_ASSIGNMENTS), &[])?
                .iter()
                .map(|r| {
                    Ok(PolicyAssignment {
                        agency: r.try_get(0)?,
                        policy: r.try_get(1)?,
                        rev: r.try_get(2)?,
                        assigned_at: r.try_get(3)?,
                        actor: r.try_get(4)?,
                    })
                })
                .collect()
        })
    }

    fn policy_rev(&self) -> Result<i64> {
        self.call(|c| Ok(c.query_one(pg(sql::POLICY_REV), &[])?.try_get(0)?))
    }

    fn policy_applied_set(&self, agent_id: &str, version: i64, now: i64) -> Result<()> {
        let agent_id = agent_id.to_owned();
        self.call(move |c| {
            c.execute(pg(sql::POLICY_APPLIED_SET), &[&agent_id, &version, &now])?;
            Ok(())
        })
    }

    fn policy_applied(&self) -> Result<Vec<AppliedPolicy>> {
        self.call(|c| {
            c.query(pg(sql::POLICY_APPLIED), &[])?
                .iter()
                .map(|r| {
                    Ok(AppliedPolicy {
                        agent_id: r.try_get(0)?,
                        version: r.try_get(1)?,
                        reported_at: r.try_get(2)?,
                    })
                })
                .collect()
        })
    }
}
