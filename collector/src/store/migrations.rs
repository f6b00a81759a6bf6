//! The schema, written once for both backends: an ordered list of migrations
//! (`migrations/V<n>__<name>.sql`), rendered per dialect by [`render`] and run by `refinery`'s
//! engine, which records each applied version with a checksum in `refinery_schema_history`.
//!
//! The texts use PostgreSQL's types; [`render`] is the one place where the dialects differ.
//! Procedural code that cannot be rendered (the export triggers: PL/pgSQL functions on one side,
//! trigger bodies on the other) is a per-dialect addition to its migration,
//! `V<n>__<name>.<dialect>.sql`, run after the shared text in the same transaction.
//!
//! An applied migration is frozen: refinery refuses to open a database whose recorded checksum
//! differs from the rendered text, so neither the files nor [`render`]'s output for them may
//! change (`checksums_of_applied_migrations_never_change` pins them). Change the schema by adding
//! a migration at the end of [`SCHEMA`].
//!
//! Databases made before refinery carry their version in `PRAGMA user_version` (SQLite) or the
//! rows of `vigil_schema` (PostgreSQL); the backends' `migrate` records those versions as applied
//! ([`baseline`]) before running what is pending.

use refinery_core::{Migration, Runner, Target};

use super::{Result, StoreError};

pub(crate) mod postgres;
pub(crate) mod sqlite;
#[cfg(test)]
mod tests;

/// The table where refinery records applied migrations (its default name).
pub(crate) const HISTORY: &str = "refinery_schema_history";

/// One migration: a text for both backends and what only one of them runs after it.
struct Step {
    /// refinery's `V<version>__<name>`; versions are 1, 2, … in order.
    name: &'static str,
    shared: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const fn step(name: &'static str, shared: &'static str) -> Step {
    Step {
        name,
        shared,
        sqlite: "",
        postgres: "",
    }
}

/// Every migration, in order; index + 1 is the version after applying it.
const SCHEMA: &[Step] = &[
    step("V1__base", include_str!("migrations/V1__base.sql")),
    step("V2__iocs", include_str!("migrations/V2__iocs.sql")),
    step("V3__alerts", include_str!("migrations/V3__alerts.sql")),
    step("V4__scores", include_str!("migrations/V4__scores.sql")),
    step("V5__users", include_str!("migrations/V5__users.sql")),
    step(
        "V6__findings_agent_kind",
        include_str!("migrations/V6__findings_agent_kind.sql"),
    ),
    step(
        "V7__cert_renewal",
        include_str!("migrations/V7__cert_renewal.sql"),
    ),
    step(
        "V8__simulated",
        include_str!("migrations/V8__simulated.sql"),
    ),
    step(
        "V9__gaps_agent",
        include_str!("migrations/V9__gaps_agent.sql"),
    ),
    step("V10__vuln", include_str!("migrations/V10__vuln.sql")),
    Step {
        name: "V11__export",
        shared: include_str!("migrations/V11__export.sql"),
        sqlite: include_str!("migrations/V11__export.sqlite.sql"),
        postgres: include_str!("migrations/V11__export.postgres.sql"),
    },
    step("V12__fed", include_str!("migrations/V12__fed.sql")),
    step("V13__policy", include_str!("migrations/V13__policy.sql")),
    step(
        "V14__export_status",
        include_str!("migrations/V14__export_status.sql"),
    ),
    step(
        "V15__notify_claims",
        include_str!("migrations/V15__notify_claims.sql"),
    ),
];

/// The schema version this collector brings (the last migration's).
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "a handful of migrations"
)]
pub(crate) const LATEST: i32 = SCHEMA.len() as i32;

/// The SQL dialect a migration is rendered for: the store's one [`Dialect`].
pub(crate) use super::db::Dialect;

/// Renders a shared migration text for `dialect`. The texts are PostgreSQL's, so PostgreSQL only
/// loses SQLite's storage clause; SQLite needs three rewrites:
/// - `COLLATE "C"` goes: SQLite's default collation, BINARY, is the same byte order (and a
///   collation SQLite does not know would make the file unreadable to other tools).
/// - Both identity forms become `INTEGER PRIMARY KEY AUTOINCREMENT`, SQLite's never-reused key.
///
/// What needs no rewrite: `BIGINT`/`SMALLINT` have SQLite's integer affinity and `DOUBLE
/// PRECISION` its real affinity; `BOOLEAN` has numeric affinity, which stores exactly what integer
/// affinity stores (the two differ only in `CAST`), and `FALSE` is SQLite's 0. A `BIGINT PRIMARY
/// KEY` is not a rowid alias, which changes nothing for keys the collector always supplies.
///
/// Frozen for applied migrations: a different output changes their checksums (module docs).
pub(crate) fn render(dialect: Dialect, sql: &str) -> String {
    match dialect {
        Dialect::Postgres => sql.replace(") WITHOUT ROWID;", ");"),
        Dialect::Sqlite => sql
            .replace(" COLLATE \"C\"", "")
            .replace(
                "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
                "INTEGER PRIMARY KEY AUTOINCREMENT",
            )
            .replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    }
}

/// The migration list for `dialect`, as refinery runs and checksums it.
///
/// # Errors
/// [`StoreError::Db`] if a name is not refinery's `V<n>__<name>` (a bug caught by the tests).
pub(crate) fn migrations(dialect: Dialect) -> Result<Vec<Migration>> {
    SCHEMA
        .iter()
        .map(|s| {
            let extra = match dialect {
                Dialect::Sqlite => s.sqlite,
                Dialect::Postgres => s.postgres,
            };
            let sql = render(dialect, &format!("{}{extra}", s.shared));
            Migration::unapplied(s.name, &sql).map_err(migration_error)
        })
        .collect()
}

/// The store's error for a failed migration run, with refinery's reason and the database's.
pub(crate) fn migration_error(e: refinery_core::Error) -> StoreError {
    let mut msg = format!("schema migration failed: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    StoreError::Db(msg)
}

/// Refuses a database whose schema `version` is newer than this collector's.
pub(crate) fn check_not_newer(version: i64) -> Result<()> {
    if version > i64::from(LATEST) {
        return Err(StoreError::Db(format!(
            "database schema version {version} is newer than this collector ({LATEST}); \
             upgrade the collector"
        )));
    }
    Ok(())
}

/// A runner over `list` that stops at `target`, with refinery's checks on (an applied migration
/// changed or missing is refused).
pub(crate) fn runner(list: &[Migration], target: Target) -> Runner {
    let mut r = Runner::new(list)
        .set_target(target)
        .set_abort_divergent(true)
        .set_abort_missing(true);
    r.set_migration_table_name(HISTORY);
    r
}

/// Records versions `1..=version` as applied without running them (a database made before
/// refinery, whose old marker says `version`), in one transaction of refinery's.
pub(crate) fn baseline<C: refinery_core::Migrate>(
    conn: &mut C,
    list: &[Migration],
    version: i64,
) -> Result<()> {
    check_not_newer(version)?;
    let Ok(v) = i32::try_from(version) else {
        return Ok(());
    };
    if v > 0 {
        runner(list, Target::FakeVersion(v))
            .run(conn)
            .map_err(migration_error)?;
    }
    Ok(())
}
