//! [`VulnStore`] for both backends (schema: `migrations/V10__vuln.sql`). Imports serialise on
//! one lock ([`Lock::Id`]) so collectors sharing a PostgreSQL database never create one
//! advisory-set version twice.

use super::super::db::{Db, Lock, Row, Tx, collect, params};
use super::super::vuln::{
    AdvisoryRow, CRITICAL_FIXABLE_SINCE, MatchKey, MatchRow, StoredMatch, VulnFilter, VulnImport,
    VulnStore, diff,
};
use super::super::{Result, StoreError};

/// Serialises advisory imports across collectors sharing the database.
const LOCK_VULN_IMPORT: i64 = 72_610_023;

const NEXT_VERSION: &str = "SELECT coalesce(max(version), 0) + 1 FROM vuln_imports";
const ADVISORY_UPSERT: &str = "INSERT INTO vuln_advisories
         (id, version, cves, summary, severity, cvss, body)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
     ON CONFLICT (id) DO UPDATE SET version = excluded.version, cves = excluded.cves,
         summary = excluded.summary, severity = excluded.severity,
         cvss = excluded.cvss, body = excluded.body";
const ALIASES_DELETE: &str = "DELETE FROM vuln_aliases WHERE advisory = ?1";
const ALIAS_INSERT: &str =
    "INSERT INTO vuln_aliases (alias, advisory) VALUES (?1, ?2) ON CONFLICT DO NOTHING";
const IMPORT_INSERT: &str = "INSERT INTO vuln_imports (version, source, imported_at, advisories)
     VALUES (?1, ?2, ?3, ?4)";
const IMPORTS: &str =
    "SELECT version, source, imported_at, advisories FROM vuln_imports ORDER BY version";
const BODIES: &str = "SELECT body FROM vuln_advisories ORDER BY id";
const HOST_KEYS: &str = "SELECT advisory, package FROM vuln_matches WHERE agent_id = ?1";
const MATCH_DELETE: &str =
    "DELETE FROM vuln_matches WHERE agent_id = ?1 AND advisory = ?2 AND package = ?3";
const MATCH_UPSERT: &str = "INSERT INTO vuln_matches
         (agent_id, advisory, package, installed, fixed, severity, cvss, since)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
     ON CONFLICT (agent_id, advisory, package) DO UPDATE SET
         installed = excluded.installed, fixed = excluded.fixed,
         severity = excluded.severity, cvss = excluded.cvss";

/// A listing of live hosts' matches: `SELECT`, the columns [`stored_match`] reads, `$cond`.
macro_rules! matches {
    ($cond:literal) => {
        concat!(
            "SELECT m.agent_id, a.hostname, a.agency, a.role, m.advisory,
                 coalesce(v.cves, '[]'), coalesce(v.summary, ''), m.package, m.installed,
                 m.fixed, m.severity, m.cvss, m.since
             FROM vuln_matches m JOIN agents a ON a.id = m.agent_id
             LEFT JOIN vuln_advisories v ON v.id = m.advisory
             WHERE NOT a.revoked",
            $cond,
            " ORDER BY m.agent_id, m.advisory, m.package"
        )
    };
}
const MATCHES_ALL: &str = matches!("");
const MATCHES_HOST: &str = matches!(" AND m.agent_id = ?1");
const MATCHES_ADVISORY: &str = matches!(
    " AND (m.advisory = ?1
         OR m.advisory IN (SELECT advisory FROM vuln_aliases WHERE alias = ?1))"
);

impl<D: Db + Send + Sync> VulnStore for D {
    fn vuln_import(&self, source: &str, advisories: &[AdvisoryRow], now: i64) -> Result<i64> {
        self.write(|tx| {
            tx.lock(Lock::Id(LOCK_VULN_IMPORT))?;
            let version: i64 = tx.query_one(NEXT_VERSION, &[])?.get(0)?;
            for a in advisories {
                let cves = serde_json::to_string(&a.cves).unwrap_or_else(|_| "[]".into());
                tx.execute(
                    ADVISORY_UPSERT,
                    params![
                        &a.id,
                        version,
                        cves,
                        &a.summary,
                        &a.severity,
                        a.cvss,
                        &a.body
                    ],
                )?;
                tx.execute(ALIASES_DELETE, params![&a.id])?;
                for cve in &a.cves {
                    tx.execute(ALIAS_INSERT, params![cve, &a.id])?;
                }
            }
            let n = i64::try_from(advisories.len()).unwrap_or(i64::MAX);
            tx.execute(IMPORT_INSERT, params![version, source, now, n])?;
            Ok(version)
        })
    }

    fn vuln_imports(&self) -> Result<Vec<VulnImport>> {
        self.read(|tx| {
            collect(tx, IMPORTS, &[], |r| {
                Ok(VulnImport {
                    version: r.get(0)?,
                    source: r.get(1)?,
                    imported_at: r.get(2)?,
                    advisories: r.get(3)?,
                })
            })
        })
    }

    fn vuln_advisory_bodies(&self) -> Result<Vec<String>> {
        self.read(|tx| collect(tx, BODIES, &[], |r| r.get(0)))
    }

    fn vuln_set_matches(
        &self,
        hosts: &[(String, Vec<MatchRow>)],
        now: i64,
    ) -> Result<Vec<MatchKey>> {
        self.write(|tx| {
            let mut added = Vec::new();
            for (host, rows) in hosts {
                set_host(tx, host, rows, now, &mut added)?;
            }
            Ok(added)
        })
    }

    fn vuln_matches(&self, filter: &VulnFilter) -> Result<Vec<StoredMatch>> {
        self.read(|tx| match filter {
            VulnFilter::All => collect(tx, MATCHES_ALL, &[], stored_match),
            VulnFilter::Host(h) => collect(tx, MATCHES_HOST, params![h], stored_match),
            VulnFilter::Advisory(id) => collect(tx, MATCHES_ADVISORY, params![id], stored_match),
        })
    }

    fn vuln_critical_fixable_since(&self) -> Result<Vec<(String, i64)>> {
        self.read(|tx| {
            collect(tx, CRITICAL_FIXABLE_SINCE, &[], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
    }
}

/// Replaces `host`'s matches by `rows`, keeping `since` of those that stay; appends the new
/// keys to `added`.
fn set_host(
    tx: &mut dyn Tx,
    host: &str,
    rows: &[MatchRow],
    now: i64,
    added: &mut Vec<MatchKey>,
) -> Result<()> {
    let old: Vec<(String, String)> =
        collect(tx, HOST_KEYS, params![host], |r| Ok((r.get(0)?, r.get(1)?)))?;
    for (a, p) in diff(host, &old, rows, added) {
        tx.execute(MATCH_DELETE, params![host, a, p])?;
    }
    for m in rows {
        tx.execute(
            MATCH_UPSERT,
            params![
                host,
                &m.advisory,
                &m.package,
                &m.installed,
                &m.fixed,
                &m.severity,
                m.cvss,
                now
            ],
        )?;
    }
    Ok(())
}

fn stored_match(r: &Row) -> Result<StoredMatch> {
    let cves: String = r.get(5)?;
    Ok(StoredMatch {
        host: r.get(0)?,
        hostname: r.get(1)?,
        agency: r.get(2)?,
        role: r.get(3)?,
        advisory: r.get(4)?,
        cves: serde_json::from_str(&cves)
            .map_err(|e| StoreError::Corrupt(format!("vuln_advisories.cves: {e}")))?,
        summary: r.get(6)?,
        package: r.get(7)?,
        installed: r.get(8)?,
        fixed: r.get(9)?,
        severity: r.get(10)?,
        cvss: r.get(11)?,
        since: r.get(12)?,
    })
}
