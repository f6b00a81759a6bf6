//! Migrations on PostgreSQL: refinery's `postgres` driver, under a session advisory lock per
//! schema so collectors starting together do not race.

use ::postgres::Client;
use refinery_core::Target;
use tracing::info;

use super::{Dialect, LATEST, baseline, check_not_newer, migration_error, migrations};
use crate::store::Result;

/// The highest version in refinery's history, `None` when it has none (absent or empty).
fn applied_version(c: &mut Client) -> Result<Option<i64>> {
    let exists: bool = c
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&super::HISTORY])?
        .try_get(0)?;
    if !exists {
        return Ok(None);
    }
    let v: Option<i32> = c
        .query_one(&format!("SELECT max(version) FROM {}", super::HISTORY), &[])?
        .try_get(0)?;
    Ok(v.map(i64::from))
}

/// The version recorded by collectors before refinery (rows of `vigil_schema`), 0 if none.
fn old_version(c: &mut Client) -> Result<i64> {
    let exists: bool = c
        .query_one("SELECT to_regclass('vigil_schema') IS NOT NULL", &[])?
        .try_get(0)?;
    if !exists {
        return Ok(0);
    }
    let v: i32 = c
        .query_one("SELECT coalesce(max(version), 0) FROM vigil_schema", &[])?
        .try_get(0)?;
    Ok(i64::from(v))
}

/// Brings the schema (`schema`, else the connection's current one) to [`LATEST`] under the
/// advisory lock `(lock, hash of the schema)`: a database from before refinery has its
/// `vigil_schema` version recorded first (and kept in step after), then pending migrations run in
/// one transaction. A database from a newer Vigil is refused.
pub(crate) fn migrate(c: &mut Client, schema: Option<&str>, lock: i32) -> Result<()> {
    // Session-level: refinery runs several transactions (history table, reads, the migrations).
    c.execute(
        "SELECT pg_advisory_lock($1, hashtext(coalesce($2::text, current_schema()::text, '')))",
        &[&lock, &schema],
    )?;
    let run = locked(c, schema);
    let unlock = c.execute(
        "SELECT pg_advisory_unlock($1, hashtext(coalesce($2::text, current_schema()::text, '')))",
        &[&lock, &schema],
    );
    let from = run?;
    unlock?;
    if from < i64::from(LATEST) {
        info!(from, to = LATEST, "Migrated the PostgreSQL schema.");
    }
    Ok(())
}

/// The run under the lock; returns the version found.
fn locked(c: &mut Client, schema: Option<&str>) -> Result<i64> {
    if let Some(s) = schema {
        c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""))?;
    }
    let list = migrations(Dialect::Postgres)?;
    let applied = match applied_version(c)? {
        Some(v) => v,
        None => {
            let old = old_version(c)?;
            baseline(c, &list, old)?;
            old
        }
    };
    check_not_newer(applied)?;
    // Checks the applied migrations against the list (changed or missing ones are refused),
    // then runs every pending migration and its history row in one transaction, as before.
    super::runner(&list, Target::Latest)
        .set_grouped(true)
        .run(c)
        .map_err(migration_error)?;
    if old_version(c)? > 0 {
        // An upgraded database keeps its old marker in step, so a collector from before
        // refinery refuses it once it is newer instead of using it.
        c.execute(
            "INSERT INTO vigil_schema (version) SELECT v FROM generate_series( \
             (SELECT coalesce(max(version), 0) + 1 FROM vigil_schema), $1) AS v",
            &[&LATEST],
        )?;
    }
    Ok(applied)
}
