//! [`VulnStore`] on SQLite (schema: `../migrations/V10__vuln.sql`).

use rusqlite::params;

use super::super::Result;
use super::super::vuln::{
    AdvisoryRow, MatchKey, MatchRow, StoredMatch, VulnFilter, VulnImport, VulnStore, diff,
};
use super::SqliteStore;

const MATCH_COLUMNS: &str = "m.agent_id, a.hostname, a.agency, a.role, m.advisory,
    coalesce(v.cves, '[]'), coalesce(v.summary, ''), m.package, m.installed, m.fixed,
    m.severity, m.cvss, m.since
    FROM vuln_matches m JOIN agents a ON a.id = m.agent_id
    LEFT JOIN vuln_advisories v ON v.id = m.advisory";

impl VulnStore for SqliteStore {
    fn vuln_import(&self, source: &str, advisories: &[AdvisoryRow], now: i64) -> Result<i64> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let version: i64 = tx.query_row(
            "SELECT coalesce(max(version), 0) + 1 FROM vuln_imports",
            [],
            |r| r.get(0),
        )?;
        {
            let mut up = tx.prepare_cached(
                "INSERT INTO vuln_advisories (id, version, cves, summary, severity, cvss, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version, cves = excluded.cves,
                     summary = excluded.summary, severity = excluded.severity,
                     cvss = excluded.cvss, body = excluded.body",
            )?;
            let mut del = tx.prepare_cached("DELETE FROM vuln_aliases WHERE advisory = ?1")?;
            let mut alias = tx.prepare_cached(
                "INSERT OR IGNORE INTO vuln_aliases (alias, advisory) VALUES (?1, ?2)",
            )?;
            for a in advisories {
                let cves = serde_json::to_string(&a.cves).unwrap_or_else(|_| "[]".into());
                up.execute(params![
                    a.id, version, cves, a.summary, a.severity, a.cvss, a.body
                ])?;
                del.execute([&a.id])?;
                for c in &a.cves {
                    alias.execute(params![c, a.id])?;
                }
            }
        }
        tx.execute(
            "INSERT INTO vuln_imports (version, source, imported_at, advisories)
             VALUES (?1, ?2, ?3, ?4)",
            params![version, source, now, advisories.len() as i64],
        )?;
        tx.commit()?;
        Ok(version)
    }

    fn vuln_imports(&self) -> Result<Vec<VulnImport>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT version, source, imported_at, advisories FROM vuln_imports ORDER BY version",
        )?;
        let rows = st.query_map([], |r| {
            Ok(VulnImport {
                version: r.get(0)?,
                source: r.get(1)?,
                imported_at: r.get(2)?,
                advisories: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn vuln_critical_fixable_since(&self) -> Result<Vec<(String, i64)>> {
        let conn = self.lock();
        let mut st = conn.prepare(crate::store::vuln::CRITICAL_FIXABLE_SINCE)?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn vuln_advisory_bodies(&self) -> Result<Vec<String>> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT body FROM vuln_advisories ORDER BY id")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn vuln_set_matches(
        &self,
        hosts: &[(String, Vec<MatchRow>)],
        now: i64,
    ) -> Result<Vec<MatchKey>> {
        let mut added = Vec::new();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut old_st = tx
                .prepare_cached("SELECT advisory, package FROM vuln_matches WHERE agent_id = ?1")?;
            let mut del = tx.prepare_cached(
                "DELETE FROM vuln_matches WHERE agent_id = ?1 AND advisory = ?2 AND package = ?3",
            )?;
            let mut up = tx.prepare_cached(
                "INSERT INTO vuln_matches
                     (agent_id, advisory, package, installed, fixed, severity, cvss, since)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (agent_id, advisory, package) DO UPDATE SET
                     installed = excluded.installed, fixed = excluded.fixed,
                     severity = excluded.severity, cvss = excluded.cvss",
            )?;
            for (host, rows) in hosts {
                let old: Vec<(String, String)> = old_st
                    .query_map([host], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                for (a, p) in diff(host, &old, rows, &mut added) {
                    del.execute(params![host, a, p])?;
                }
                for m in rows {
                    up.execute(params![
                        host,
                        m.advisory,
                        m.package,
                        m.installed,
                        m.fixed,
                        m.severity,
                        m.cvss,
                        now
                    ])?;
                }
            }
        }
        tx.commit()?;
        Ok(added)
    }

    fn vuln_matches(&self, filter: &VulnFilter) -> Result<Vec<StoredMatch>> {
        let conn = self.lock();
        let order = "ORDER BY m.agent_id, m.advisory, m.package";
        let (sql, arg) = match filter {
            VulnFilter::All => (format!("SELECT {MATCH_COLUMNS} WHERE a.revoked = 0 {order}"), None),
            VulnFilter::Host(h) => (
                format!("SELECT {MATCH_COLUMNS} WHERE a.revoked = 0 AND m.agent_id = ?1 {order}"),
                Some(h),
            ),
            VulnFilter::Advisory(id) => (
                format!(
                    "SELECT {MATCH_COLUMNS} WHERE a.revoked = 0 AND (m.advisory = ?1 OR m.advisory IN
                     (SELECT advisory FROM vuln_aliases WHERE alias = ?1)) {order}"
                ),
                Some(id),
            ),
        };
        let mut st = conn.prepare(&sql)?;
        let map = |r: &rusqlite::Row<'_>| {
            let cves: String = r.get(5)?;
            Ok(StoredMatch {
                host: r.get(0)?,
                hostname: r.get(1)?,
                agency: r.get(2)?,
                role: r.get(3)?,
                advisory: r.get(4)?,
                cves: serde_json::from_str(&cves).unwrap_or_default(),
                summary: r.get(6)?,
                package: r.get(7)?,
                installed: r.get(8)?,
                fixed: r.get(9)?,
                severity: r.get(10)?,
                cvss: r.get(11)?,
                since: r.get(12)?,
            })
        };
        let rows = match arg {
            Some(a) => st.query_map([a], map)?.collect::<rusqlite::Result<_>>()?,
            None => st.query_map([], map)?.collect::<rusqlite::Result<_>>()?,
        };
        Ok(rows)
    }
}
