//! [`VulnStore`] on PostgreSQL (schema: `../migrations/V10__vuln.sql`).

use postgres::Row;

use super::super::vuln::{
    AdvisoryRow, MatchKey, MatchRow, StoredMatch, VulnFilter, VulnImport, VulnStore, diff,
};
use super::super::{Result, StoreError};
use super::PostgresStore;

const MATCH_COLUMNS: &str = "m.agent_id, a.hostname, a.agency, a.role, m.advisory,
    coalesce(v.cves, '[]'), coalesce(v.summary, ''), m.package, m.installed, m.fixed,
    m.severity, m.cvss, m.since
    FROM vuln_matches m JOIN agents a ON a.id = m.agent_id
    LEFT JOIN vuln_advisories v ON v.id = m.advisory";

/// Serialises advisory imports across collectors sharing the database.
const LOCK_VULN_IMPORT: i64 = 72_610_023;

impl VulnStore for PostgresStore {
    fn vuln_import(&self, source: &str, advisories: &[AdvisoryRow], now: i64) -> Result<i64> {
        let source = source.to_owned();
        let advisories = advisories.to_vec();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_VULN_IMPORT])?;
            let version: i64 = tx
                .query_one(
                    "SELECT coalesce(max(version), 0)::BIGINT + 1 FROM vuln_imports",
                    &[],
                )?
                .try_get(0)?;
            let up = tx.prepare(
                "INSERT INTO vuln_advisories (id, version, cves, summary, severity, cvss, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, cves = EXCLUDED.cves,
                     summary = EXCLUDED.summary, severity = EXCLUDED.severity,
                     cvss = EXCLUDED.cvss, body = EXCLUDED.body",
            )?;
            let del = tx.prepare("DELETE FROM vuln_aliases WHERE advisory = $1")?;
            let alias = tx.prepare(
                "INSERT INTO vuln_aliases (alias, advisory) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )?;
            for a in &advisories {
                let cves = serde_json::to_string(&a.cves).unwrap_or_else(|_| "[]".into());
                tx.execute(
                    &up,
                    &[
                        &a.id,
                        &version,
                        &cves,
                        &a.summary,
                        &a.severity,
                        &a.cvss,
                        &a.body,
                    ],
                )?;
                tx.execute(&del, &[&a.id])?;
                for cve in &a.cves {
                    tx.execute(&alias, &[cve, &a.id])?;
                }
            }
            let n = i64::try_from(advisories.len()).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO vuln_imports (version, source, imported_at, advisories)
                 VALUES ($1, $2, $3, $4)",
                &[&version, &source, &now, &n],
            )?;
            tx.commit()?;
            Ok(version)
        })
    }

    fn vuln_imports(&self) -> Result<Vec<VulnImport>> {
        self.call(|c| {
            c.query(
                "SELECT version, source, imported_at, advisories FROM vuln_imports ORDER BY version",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(VulnImport {
                    version: r.try_get(0)?,
                    source: r.try_get(1)?,
                    imported_at: r.try_get(2)?,
                    advisories: r.try_get(3)?,
                })
            })
            .collect()
        })
    }

    fn vuln_critical_fixable_since(&self) -> Result<Vec<(String, i64)>> {
        self.call(|c| {
            c.query(crate::store::vuln::CRITICAL_FIXABLE_SINCE, &[])?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })
    }

    fn vuln_advisory_bodies(&self) -> Result<Vec<String>> {
        self.call(|c| {
            c.query("SELECT body FROM vuln_advisories ORDER BY id", &[])?
                .iter()
                .map(|r| Ok(r.try_get(0)?))
                .collect()
        })
    }

    fn vuln_set_matches(
        &self,
        hosts: &[(String, Vec<MatchRow>)],
        now: i64,
    ) -> Result<Vec<MatchKey>> {
        let mut added = Vec::new();
        let hosts = hosts.to_vec();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let old_st =
                tx.prepare("SELECT advisory, package FROM vuln_matches WHERE agent_id = $1")?;
            let del = tx.prepare(
                "DELETE FROM vuln_matches WHERE agent_id = $1 AND advisory = $2 AND package = $3",
            )?;
            let up = tx.prepare(
                "INSERT INTO vuln_matches
                     (agent_id, advisory, package, installed, fixed, severity, cvss, since)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (agent_id, advisory, package) DO UPDATE SET
                     installed = EXCLUDED.installed, fixed = EXCLUDED.fixed,
                     severity = EXCLUDED.severity, cvss = EXCLUDED.cvss",
            )?;
            for (host, rows) in &hosts {
                let old: Vec<(String, String)> = tx
                    .query(&old_st, &[host])?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<Result<_>>()?;
                for (a, p) in diff(host, &old, rows, &mut added) {
                    tx.execute(&del, &[host, a, p])?;
                }
                for m in rows {
                    tx.execute(
                        &up,
                        &[
                            host,
                            &m.advisory,
                            &m.package,
                            &m.installed,
                            &m.fixed,
                            &m.severity,
                            &m.cvss,
                            &now,
                        ],
                    )?;
                }
            }
            tx.commit()?;
            Ok(added)
        })
    }

    fn vuln_matches(&self, filter: &VulnFilter) -> Result<Vec<StoredMatch>> {
        let filter = filter.clone();
        self.call(move |c| {
            let order = "ORDER BY m.agent_id, m.advisory, m.package";
            let rows = match &filter {
                VulnFilter::All => c.query(
                    &format!("SELECT {MATCH_COLUMNS} WHERE NOT a.revoked {order}"),
                    &[],
                )?,
                VulnFilter::Host(h) => c.query(
                    &format!("SELECT {MATCH_COLUMNS} WHERE NOT a.revoked AND m.agent_id = $1 {order}"),
                    &[h],
                )?,
                VulnFilter::Advisory(id) => c.query(
                    &format!(
                        "SELECT {MATCH_COLUMNS} WHERE NOT a.revoked AND (m.advisory = $1 OR
                         m.advisory IN (SELECT advisory FROM vuln_aliases WHERE alias = $1)) {order}"
                    ),
                    &[id],
                )?,
            };
            rows.iter().map(stored_match).collect()
        })
    }
}

fn stored_match(r: &Row) -> Result<StoredMatch> {
    let cves: String = r.try_get(5)?;
    Ok(StoredMatch {
        host: r.try_get(0)?,
        hostname: r.try_get(1)?,
        agency: r.try_get(2)?,
        role: r.try_get(3)?,
        advisory: r.try_get(4)?,
        cves: serde_json::from_str(&cves)
            .map_err(|e| StoreError::Corrupt(format!("vuln_advisories.cves: {e}")))?,
        summary: r.try_get(6)?,
        package: r.try_get(7)?,
        installed: r.try_get(8)?,
        fixed: r.try_get(9)?,
        severity: r.try_get(10)?,
        cvss: r.try_get(11)?,
        since: r.try_get(12)?,
    })
}
