//! [`PolicyStore`] for both backends (schema: `migrations/V13__policy.sql`, statements:
//! `sql.rs`). Changes that take a revision serialise on one lock ([`Lock::Id`]) so collectors
//! sharing a PostgreSQL database never hand out one revision twice.

use super::super::db::{Db, Lock, Row, collect, params};
use super::super::policy::{
    AppliedPolicy, NewPolicyVersion, PolicyAssignment, PolicyStore, PolicyVersion, check_scope,
};
use super::super::{Result, StoreError, sql};
use super::audit;

/// Serialises revision-taking changes across collectors sharing the database.
const LOCK_POLICY: i64 = 72_610_018;

impl<D: Db + Send + Sync> PolicyStore for D {
    fn policy_add(&self, p: &NewPolicyVersion<'_>, actor: &str, now: i64) -> Result<PolicyVersion> {
        self.write(|tx| {
            tx.lock(Lock::Id(LOCK_POLICY))?;
            let head: Option<(i64, String)> =
                match tx.query_opt(sql::POLICY_HEAD, params![p.name])? {
                    Some(r) => Some((r.get(0)?, r.get(1)?)),
                    None => None,
                };
            check_scope(p.name, head.as_ref().map(|h| h.1.as_str()), p.scope)?;
            let rev: i64 = tx.query_one(sql::POLICY_REV, &[])?.get(0)?;
            let v = PolicyVersion {
                name: p.name.to_owned(),
                version: head.map_or(1, |h| h.0 + 1),
                rev: rev + 1,
                scope: p.scope.to_owned(),
                body: p.body.to_owned(),
                created_at: now,
                actor: actor.to_owned(),
                note: p.note.to_owned(),
            };
            tx.execute(
                sql::POLICY_INSERT,
                params![
                    &v.name, v.version, v.rev, &v.scope, &v.body, now, actor, &v.note
                ],
            )?;
            let detail =
                serde_json::json!({"policy": v.name, "version": v.version, "note": v.note});
            audit(tx, now, actor, p.action, &detail)?;
            Ok(v)
        })
    }

    fn policy_history(&self, name: &str) -> Result<Vec<PolicyVersion>> {
        self.read(|tx| collect(tx, sql::POLICY_HISTORY, params![name], version_from_row))
    }

    fn policies_latest(&self) -> Result<Vec<PolicyVersion>> {
        self.read(|tx| collect(tx, sql::POLICIES_LATEST, &[], version_from_row))
    }

    fn policy_assign(
        &self,
        agency: &str,
        policy: Option<&str>,
        actor: &str,
        now: i64,
    ) -> Result<i64> {
        self.write(|tx| {
            tx.lock(Lock::Id(LOCK_POLICY))?;
            if tx.query_opt(sql::AGENCY_EXISTS, params![agency])?.is_none() {
                return Err(StoreError::NotFound(format!("agency {agency:?}")));
            }
            if let Some(name) = policy
                && tx.query_opt(sql::POLICY_HEAD, params![name])?.is_none()
            {
                return Err(StoreError::NotFound(format!("policy {name:?}")));
            }
            let rev = tx.query_one(sql::POLICY_REV, &[])?.get::<i64>(0)? + 1;
            tx.execute(sql::POLICY_ASSIGN, params![agency, policy, rev, now, actor])?;
            let (action, detail) = match policy {
                Some(p) => (
                    "policy.assign",
                    serde_json::json!({"agency": agency, "policy": p}),
                ),
                None => ("policy.unassign", serde_json::json!({"agency": agency})),
            };
            audit(tx, now, actor, action, &detail)?;
            Ok(rev)
        })
    }

    fn policy_assignments(&self) -> Result<Vec<PolicyAssignment>> {
        self.read(|tx| {
            collect(tx, sql::POLICY_ASSIGNMENTS, &[], |r| {
                Ok(PolicyAssignment {
                    agency: r.get(0)?,
                    policy: r.get(1)?,
                    rev: r.get(2)?,
                    assigned_at: r.get(3)?,
                    actor: r.get(4)?,
                })
            })
        })
    }

    fn policy_rev(&self) -> Result<i64> {
        self.read(|tx| tx.query_one(sql::POLICY_REV, &[])?.get(0))
    }

    fn policy_applied_set(&self, agent_id: &str, version: i64, now: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(sql::POLICY_APPLIED_SET, params![agent_id, version, now])?;
            Ok(())
        })
    }

    fn policy_applied(&self) -> Result<Vec<AppliedPolicy>> {
        self.read(|tx| {
            collect(tx, sql::POLICY_APPLIED, &[], |r| {
                Ok(AppliedPolicy {
                    agent_id: r.get(0)?,
                    version: r.get(1)?,
                    reported_at: r.get(2)?,
                })
            })
        })
    }
}

fn version_from_row(r: &Row) -> Result<PolicyVersion> {
    Ok(PolicyVersion {
        name: r.get(0)?,
        version: r.get(1)?,
        rev: r.get(2)?,
        scope: r.get(3)?,
        body: r.get(4)?,
        created_at: r.get(5)?,
        actor: r.get(6)?,
        note: r.get(7)?,
    })
}
