//! Indicators of compromise (schema: `migrations/V2__iocs.sql`): an import takes the next
//! version for every indicator it adds or changes, and agents fetch what changed after the
//! version they hold. Imports serialise on one lock ([`Lock::Id`]) so collectors sharing a
//! PostgreSQL database assign versions in order.

use vigil_proto::msg::Indicator;

use super::super::db::{Db, Lock, Tx, collect, params};
use super::super::{Result, StoreError, sql};

/// Serialises IOC imports across collectors sharing the database.
const LOCK_IOC_IMPORT: i64 = 72_610_001;

/// The newest IOC version (0 when there are none).
const IOC_VERSION: &str = "SELECT CAST(coalesce(max(version), 0) AS BIGINT) FROM iocs";

/// Adds or changes indicator `(?1, ?2)` at version `?5`; an unchanged one keeps its version
/// (and counts as no row).
const IOC_UPSERT: &str = "INSERT INTO iocs (kind, value, source, expires_at, version) \
     VALUES (?1, ?2, ?3, ?4, ?5) \
     ON CONFLICT (kind, value) DO UPDATE SET source = excluded.source, \
     expires_at = excluded.expires_at, version = excluded.version \
     WHERE iocs.source <> excluded.source OR iocs.expires_at <> excluded.expires_at";

fn version(tx: &mut dyn Tx) -> Result<u64> {
    tx.query_one(IOC_VERSION, &[])?.get(0)
}

/// Stores `indicators` under the next version; returns the version now current (unchanged when
/// nothing changed).
pub(crate) fn ioc_import(db: &impl Db, indicators: &[Indicator]) -> Result<u64> {
    db.write(|tx| {
        tx.lock(Lock::Id(LOCK_IOC_IMPORT))?;
        let current = version(tx)?;
        let next = current.checked_add(1).ok_or_else(|| {
            StoreError::Corrupt(format!("ioc version {current} cannot be incremented"))
        })?;
        let stored = i64::try_from(next)
            .map_err(|_| StoreError::Corrupt(format!("ioc version {next} out of range")))?;
        let mut changed = 0u64;
        for i in indicators {
            changed += tx.execute(
                IOC_UPSERT,
                params![&i.kind, &i.value, &i.source, i.expires_at, stored],
            )?;
        }
        Ok(if changed == 0 { current } else { next })
    })
}

/// The newest IOC version.
pub(crate) fn ioc_version(db: &impl Db) -> Result<u64> {
    db.read(version)
}

/// The current version and every indicator added or changed after `from_version`.
pub(crate) fn ioc_since(db: &impl Db, from_version: u64) -> Result<(u64, Vec<Indicator>)> {
    let from = i64::try_from(from_version).unwrap_or(i64::MAX);
    db.read(|tx| {
        let v = version(tx)?;
        let list = collect(tx, sql::IOCS_SINCE, params![from], |r| {
            Ok(Indicator {
                kind: r.get(0)?,
                value: r.get(1)?,
                source: r.get(2)?,
                expires_at: r.get(3)?,
            })
        })?;
        Ok((v, list))
    })
}
