//! [`PolicyStore`] on SQLite (schema: `../migrations/V13__policy.sql`, statements: `sql.rs`).

use rusqlite::{OptionalExtension as _, params};

use super::super::policy::{
    AppliedPolicy, NewPolicyVersion, PolicyAssignment, PolicyStore, PolicyVersion, check_scope,
};
use super::super::{Result, StoreError, sql};
use super::SqliteStore;

fn version_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PolicyVersion> {
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

impl PolicyStore for SqliteStore {
    fn policy_add(&self, p: &NewPolicyVersion<'_>, actor: &str, now: i64) -> Result<PolicyVersion> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let head: Option<(i64, String)> = tx
            .query_row(sql::POLICY_HEAD, [p.name], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        check_scope(p.name, head.as_ref().map(|h| h.1.as_str()), p.scope)?;
        let rev: i64 = tx.query_row(sql::POLICY_REV, [], |r| r.get(0))?;
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
                v.name, v.version, v.rev, v.scope, v.body, now, actor, v.note
            ],
        )?;
        let detail = serde_json::json!({"policy": v.name, "version": v.version, "note": v.note});
        tx.execute(
            sql::AUDIT_INSERT,
            params![now, actor, p.action, detail.to_string()],
        )?;
        tx.commit()?;
        Ok(v)
    }

    fn policy_history(&self, name: &str) -> Result<Vec<PolicyVersion>> {
        let conn = self.read();
        let mut st = conn.prepare_cached(sql::POLICY_HISTORY)?;
        let rows = st.query_map([name], version_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn policies_latest(&self) -> Result<Vec<PolicyVersion>> {
        let conn = self.read();
        let mut st = conn.prepare_cached(sql::POLICIES_LATEST)?;
        let rows = st.query_map([], version_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn policy_assign(
        &self,
        agency: &str,
        policy: Option<&str>,
        actor: &str,
        now: i64,
    ) -> Result<i64> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        if tx
            .query_row(sql::AGENCY_EXISTS, [agency], |_| Ok(()))
            .optional()?
            .is_none()
        {
            return Err(StoreError::NotFound(format!("agency {agency:?}")));
        }
        if let Some(name) = policy
            && tx
                .query_row(sql::POLICY_HEAD, [name], |_| Ok(()))
                .optional()?
                .is_none()
        {
            return Err(StoreError::NotFound(format!("policy {name:?}")));
        }
        let rev = tx.query_row(sql::POLICY_REV, [], |r| r.get::<_, i64>(0))? + 1;
        tx.execute(sql::POLICY_ASSIGN, params![agency, policy, rev, now, actor])?;
        let (action, detail) = match policy {
            Some(p) => (
                "policy.assign",
                serde_json::json!({"agency": agency, "policy": p}),
            ),
            None => ("policy.unassign", serde_json::json!({"agency": agency})),
        };
        tx.execute(
            sql::AUDIT_INSERT,
            params![now, actor, action, detail.to_string()],
        )?;
        tx.commit()?;
        Ok(rev)
    }

    fn policy_assignments(&self) -> Result<Vec<PolicyAssignment>> {
        let conn = self.read();
        let mut st = conn.prepare_cached(sql::POLICY_ASSIGNMENTS)?;
        let rows = st.query_map([], |r| {
            Ok(PolicyAssignment {
                agency: r.get(0)?,
                policy: r.get(1)?,
                rev: r.get(2)?,
                assigned_at: r.get(3)?,
                actor: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn policy_rev(&self) -> Result<i64> {
        let conn = self.read();
        Ok(conn.query_row(sql::POLICY_REV, [], |r| r.get(0))?)
    }

    fn policy_applied_set(&self, agent_id: &str, version: i64, now: i64) -> Result<()> {
        let conn = self.lock();
        conn.execute(sql::POLICY_APPLIED_SET, params![agent_id, version, now])?;
        Ok(())
    }

    fn policy_applied(&self) -> Result<Vec<AppliedPolicy>> {
        let conn = self.read();
        let mut st = conn.prepare_cached(sql::POLICY_APPLIED)?;
        let rows = st.query_map([], |r| {
            Ok(AppliedPolicy {
                agent_id: r.get(0)?,
                version: r.get(1)?,
                reported_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
