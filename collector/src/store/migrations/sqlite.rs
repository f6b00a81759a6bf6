//! Migrations on SQLite: refinery's traits implemented for rusqlite (refinery's own `rusqlite`
//! feature accepts rusqlite up to 0.41, and two `libsqlite3-sys` cannot be linked together), and
//! the run at open.

use refinery_core::traits::sync::{Migrate, Query, Transaction};
use refinery_core::{Migration, Target};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension as _};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Dialect, HISTORY, baseline, check_not_newer, migration_error, migrations};
use crate::store::Result;

/// A rusqlite connection as refinery drives it: each `execute` is one transaction.
pub(crate) struct Sqlite<'a>(pub(crate) &'a mut Connection);

impl Transaction for Sqlite<'_> {
    type Error = rusqlite::Error;

    fn execute<'a, T: Iterator<Item = &'a str>>(&mut self, queries: T) -> rusqlite::Result<usize> {
        let tx = self.0.transaction()?;
        let mut n = 0;
        for q in queries {
            tx.execute_batch(q)?;
            n += 1;
        }
        tx.commit()?;
        Ok(n)
    }
}

impl Query<Vec<Migration>> for Sqlite<'_> {
    /// Reads applied migrations: `version, name, applied_on (RFC 3339), checksum (decimal)`.
    fn query(&mut self, query: &str) -> rusqlite::Result<Vec<Migration>> {
        let mut st = self.0.prepare(query)?;
        let mut rows = st.query([])?;
        let mut applied = Vec::new();
        while let Some(r) = rows.next()? {
            let applied_on: String = r.get(2)?;
            let applied_on = OffsetDateTime::parse(&applied_on, &Rfc3339)
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, Type::Text, e.into()))?;
            let checksum: String = r.get(3)?;
            let checksum = checksum
                .parse::<u64>()
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(3, Type::Text, e.into()))?;
            applied.push(Migration::applied(
                r.get(0)?,
                r.get(1)?,
                applied_on,
                checksum,
            ));
        }
        Ok(applied)
    }
}

impl Migrate for Sqlite<'_> {}

/// The highest version in refinery's history, `None` when it has none (absent or empty).
fn applied_version(conn: &Connection) -> Result<Option<i64>> {
    let exists = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [HISTORY],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !exists {
        return Ok(None);
    }
    Ok(
        conn.query_row(&format!("SELECT max(version) FROM {HISTORY}"), [], |r| {
            r.get(0)
        })?,
    )
}

/// Brings `conn` to [`LATEST`](super::LATEST): a database from before refinery has its
/// `user_version` recorded first; then each pending migration runs in its own transaction, with
/// its history row, and `user_version` is set to the version reached. A database from a newer
/// Vigil is refused.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let list = migrations(Dialect::Sqlite)?;
    let applied = match applied_version(conn)? {
        Some(v) => v,
        None => {
            // Absent or empty (a crash between refinery creating it and recording: both are
            // separate transactions), so the old marker still rules.
            let old: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            baseline(&mut Sqlite(conn), &list, old)?;
            old.max(0)
        }
    };
    check_not_newer(applied)?;
    // Checks the applied migrations against the list (changed or missing ones are refused) on
    // every open, and gives the pending ones.
    let pending = Sqlite(conn)
        .get_unapplied_migrations(&list, true, true, HISTORY)
        .map_err(migration_error)?;
    // refinery's ungrouped run commits a migration and its history row separately; one grouped
    // run per version keeps each migration and its row in one transaction.
    for m in pending {
        super::runner(&list, Target::Version(m.version()))
            .set_grouped(true)
            .run(&mut Sqlite(conn))
            .map_err(migration_error)?;
    }
    // The old marker follows, so a collector from before refinery refuses a newer file with its
    // own message instead of using it.
    let marker: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if marker != i64::from(super::LATEST) {
        conn.pragma_update(None, "user_version", super::LATEST)?;
    }
    Ok(())
}
