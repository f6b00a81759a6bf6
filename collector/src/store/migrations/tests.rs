//! One schema on both backends, refinery's history, and the upgrade from the old version markers.
//! PostgreSQL cases use `postgres::tests::TestDb` (skipped outside CI when no server answers).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Barrier;

use rusqlite::Connection;

use super::*;
use crate::store::postgres::tests::TestDb;
use crate::store::{Agency, PostgresStore, SqliteStore, Store};

/// Tables (their columns with a type class), explicit indexes and triggers: what must be alike on
/// both backends.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    tables: BTreeMap<String, BTreeMap<String, String>>,
    indexes: BTreeSet<String>,
    triggers: BTreeSet<String>,
}

/// SQLite's affinity rules (its documentation, "Determination Of Column Affinity"), plus `bool`
/// for a declared BOOLEAN (numeric affinity; PostgreSQL's boolean).
fn sqlite_class(decl: &str) -> String {
    let d = decl.to_uppercase();
    let class = if d.contains("INT") {
        "integer"
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|t| d.contains(t)) {
        "text"
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|t| d.contains(t)) {
        "real"
    } else if d.contains("BOOL") {
        "bool"
    } else {
        return format!("other: {decl}");
    };
    class.into()
}

fn pg_class(data_type: &str) -> String {
    match data_type {
        "smallint" | "integer" | "bigint" => "integer",
        "real" | "double precision" => "real",
        "text" | "character varying" => "text",
        "boolean" => "bool",
        other => return format!("other: {other}"),
    }
    .into()
}

fn sqlite_names(c: &Connection, sql: &str) -> BTreeSet<String> {
    let mut st = c.prepare(sql).expect("prepare");
    st.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("names")
}

fn sqlite_shape(c: &Connection) -> Shape {
    let mut tables = BTreeMap::new();
    for t in sqlite_names(
        c,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    ) {
        let mut st = c
            .prepare("SELECT name, type FROM pragma_table_info(?1)")
            .expect("prepare");
        let cols = st
            .query_map([&t], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    sqlite_class(&r.get::<_, String>(1)?),
                ))
            })
            .expect("columns")
            .collect::<rusqlite::Result<_>>()
            .expect("columns");
        tables.insert(t, cols);
    }
    Shape {
        tables,
        // `sql IS NULL`: the indexes SQLite makes for PRIMARY KEY and UNIQUE (PostgreSQL's
        // constraint indexes, left out there too).
        indexes: sqlite_names(
            c,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
        ),
        triggers: sqlite_names(c, "SELECT name FROM sqlite_master WHERE type = 'trigger'"),
    }
}

fn pg_shape(c: &mut ::postgres::Client) -> Shape {
    let mut tables: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for r in c
        .query(
            "SELECT c.table_name::text, c.column_name::text, c.data_type::text \
             FROM information_schema.columns c JOIN information_schema.tables t \
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'",
            &[],
        )
        .expect("columns")
    {
        tables
            .entry(r.get(0))
            .or_default()
            .insert(r.get(1), pg_class(r.get(2)));
    }
    let names = |c: &mut ::postgres::Client, sql: &str| -> BTreeSet<String> {
        c.query(sql, &[])
            .expect("names")
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    Shape {
        tables,
        indexes: names(
            c,
            "SELECT i.relname::text FROM pg_index x \
             JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
             WHERE t.relnamespace = current_schema()::regnamespace \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)",
        ),
        triggers: names(
            c,
            "SELECT DISTINCT trigger_name::text FROM information_schema.triggers \
             WHERE trigger_schema = current_schema()",
        ),
    }
}

fn fresh_sqlite() -> Connection {
    let mut c = Connection::open_in_memory().expect("open");
    sqlite::migrate(&mut c).expect("migrate");
    c
}

fn history(c: &Connection) -> Vec<(i32, String, String)> {
    let mut st = c
        .prepare(&format!(
            "SELECT version, name, checksum FROM {HISTORY} ORDER BY version"
        ))
        .expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("history")
        .collect::<rusqlite::Result<_>>()
        .expect("history")
}

fn pg_history(c: &mut ::postgres::Client) -> Vec<(i32, String, String)> {
    c.query(
        &format!("SELECT version, name, checksum FROM {HISTORY} ORDER BY version"),
        &[],
    )
    .expect("history")
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// What refinery records for `dialect`: version, name and checksum of every migration.
fn expected_history(dialect: Dialect) -> Vec<(i32, String, String)> {
    migrations(dialect)
        .expect("list")
        .iter()
        .map(|m| (m.version(), m.name().to_owned(), m.checksum().to_string()))
        .collect()
}

fn agency(s: &dyn Store) {
    s.agency_add(&Agency {
        id: "p".into(),
        name: "P".into(),
        level: 1,
    })
    .expect("agency");
}

#[test]
fn every_migration_is_named_in_order_and_renders() {
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let list = migrations(d).expect("names parse");
        let versions: Vec<i32> = list.iter().map(Migration::version).collect();
        assert_eq!(versions, (1..=LATEST).collect::<Vec<_>>(), "{d:?}");
    }
    for m in migrations(Dialect::Sqlite).expect("list") {
        let sql = m.sql().expect("sql");
        assert!(!sql.contains("COLLATE"), "{m}");
        assert!(
            !sql.contains("BIGSERIAL") && !sql.contains("IDENTITY"),
            "{m}"
        );
    }
    for m in migrations(Dialect::Postgres).expect("list") {
        assert!(!m.sql().expect("sql").contains("WITHOUT ROWID"), "{m}");
    }
}

/// The drift issue 20 is about (an index, a column or a table on one backend only) fails here.
#[test]
fn fresh_sqlite_and_postgres_have_the_same_schema() {
    let Some(db) = TestDb::new() else { return };
    drop(db.open());
    let sqlite = sqlite_shape(&fresh_sqlite());
    let pg = pg_shape(&mut db.client());
    assert!(sqlite.tables.contains_key("findings") && sqlite.indexes.contains("gaps_agent"));
    assert_eq!(sqlite.indexes, pg.indexes);
    assert_eq!(sqlite.triggers, pg.triggers);
    assert_eq!(sqlite.tables, pg.tables);
}

/// Every applied migration's checksum as refinery recorded it: editing an applied migration (or
/// what [`render`] makes of it) would lock every existing database out. Add a migration instead;
/// a new one is appended here.
#[test]
fn checksums_of_applied_migrations_never_change() {
    let sums = |d| -> Vec<String> {
        migrations(d)
            .expect("list")
            .iter()
            .map(|m| format!("{m}:{}", m.checksum()))
            .collect()
    };
    assert_eq!(sums(Dialect::Sqlite), SQLITE_SUMS);
    assert_eq!(sums(Dialect::Postgres), POSTGRES_SUMS);
}

const SQLITE_SUMS: &[&str] = &[
    "V1__base:6583903815670614011",
    "V2__iocs:8684713118671724455",
    "V3__alerts:9545661560705837502",
    "V4__scores:9628170373509776605",
    "V5__users:15035444472337785420",
    "V6__findings_agent_kind:15864249571875936360",
    "V7__cert_renewal:8033244062541891940",
    "V8__simulated:2600169474754356460",
    "V9__gaps_agent:15245308663051911562",
    "V10__vuln:8973483254431470809",
    "V11__export:14178150296218727833",
    "V12__fed:3567899518140665742",
    "V13__policy:8679109380920160710",
    "V14__export_status:14552059897676315305",
    "V15__notify_claims:3797015226375209742",
];
const POSTGRES_SUMS: &[&str] = &[
    "V1__base:15571635721524168324",
    "V2__iocs:17081450628471953230",
    "V3__alerts:2817610688339892151",
    "V4__scores:1843422550248402258",
    "V5__users:11347959677701566229",
    "V6__findings_agent_kind:15864249571875936360",
    "V7__cert_renewal:13985503613419440091",
    "V8__simulated:2600169474754356460",
    "V9__gaps_agent:15245308663051911562",
    "V10__vuln:779086014279356544",
    "V11__export:1188837790495551124",
    "V12__fed:3567899518140665742",
    "V13__policy:14798829850179830720",
    "V14__export_status:14552059897676315305",
    "V15__notify_claims:3797015226375209742",
];

#[test]
fn sqlite_reopen_records_each_version_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("s.db");
    agency(&SqliteStore::open(&path).expect("open"));
    drop(SqliteStore::open(&path).expect("reopen"));
    let c = Connection::open(&path).expect("inspect");
    assert_eq!(history(&c), expected_history(Dialect::Sqlite));
}

/// A file made before refinery: the first `n` migrations and `user_version = n`, as the old code
/// left it. Opening records 1..n, runs the rest, keeps the data and ends with a fresh schema.
#[test]
fn sqlite_database_versioned_by_user_version_is_upgraded() {
    let list = migrations(Dialect::Sqlite).expect("list");
    for n in [1, 8, 10, LATEST] {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("old.db");
        {
            let c = Connection::open(&path).expect("open");
            for m in &list[..usize::try_from(n).expect("n")] {
                c.execute_batch(m.sql().expect("sql"))
                    .expect("old migration");
            }
            c.execute_batch("INSERT INTO agencies (id, name, level) VALUES ('old', 'Old', 1)")
                .expect("row");
            c.pragma_update(None, "user_version", n).expect("marker");
        }
        let s = SqliteStore::open(&path).expect("upgrade");
        assert_eq!(s.agencies().expect("agencies").len(), 1, "n = {n}");
        agency(&s);
        drop(s);
        let c = Connection::open(&path).expect("inspect");
        assert_eq!(history(&c), expected_history(Dialect::Sqlite), "n = {n}");
        let marker: i32 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("marker");
        assert_eq!(marker, LATEST, "n = {n}");
        assert_eq!(sqlite_shape(&c), sqlite_shape(&fresh_sqlite()), "n = {n}");
    }
}

#[test]
fn sqlite_newer_history_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("future.db");
    drop(SqliteStore::open(&path).expect("open"));
    Connection::open(&path)
        .expect("open")
        .execute_batch(&format!(
            "INSERT INTO {HISTORY} (version, name, applied_on, checksum) \
             VALUES (99, 'future', '2030-01-01T00:00:00Z', '0')"
        ))
        .expect("future");
    let err = SqliteStore::open(&path).expect_err("must refuse");
    assert!(
        err.to_string().contains(&format!(
            "database schema version 99 is newer than this collector ({LATEST}); upgrade the \
             collector"
        )),
        "{err}"
    );
}

/// refinery's check through our rusqlite driver: an applied migration whose text changed is
/// refused rather than silently skipped.
#[test]
fn sqlite_changed_applied_migration_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("changed.db");
    drop(SqliteStore::open(&path).expect("open"));
    Connection::open(&path)
        .expect("open")
        .execute_batch(&format!(
            "UPDATE {HISTORY} SET checksum = '1' WHERE version = 3"
        ))
        .expect("tamper");
    let err = SqliteStore::open(&path).expect_err("must refuse");
    assert!(err.to_string().contains("different"), "{err}");
}

/// Each SQLite migration commits with its history row: one that fails part-way leaves nothing of
/// itself, and the ones before it stay applied and recorded.
#[test]
fn sqlite_failed_migration_rolls_back_alone() {
    let list = migrations(Dialect::Sqlite).expect("list");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("half.db");
    {
        let c = Connection::open(&path).expect("open");
        for m in &list[..8] {
            c.execute_batch(m.sql().expect("sql"))
                .expect("old migration");
        }
        // V10 creates vuln_matches last: this makes it fail after its first tables.
        c.execute_batch("CREATE TABLE vuln_matches (x INTEGER)")
            .expect("obstacle");
        c.pragma_update(None, "user_version", 8).expect("marker");
    }
    let err = SqliteStore::open(&path).expect_err("V10 cannot run");
    assert!(err.to_string().contains("vuln_matches"), "{err}");
    let c = Connection::open(&path).expect("inspect");
    let recorded: Vec<i32> = history(&c).iter().map(|h| h.0).collect();
    assert_eq!(recorded, (1..=9).collect::<Vec<_>>());
    let tables = sqlite_names(&c, "SELECT name FROM sqlite_master WHERE type = 'table'");
    assert!(!tables.contains("vuln_imports"), "{tables:?}");
    assert!(
        sqlite_names(&c, "SELECT name FROM sqlite_master WHERE type = 'index'")
            .contains("gaps_agent")
    );
}

#[test]
fn postgres_changed_applied_migration_is_refused() {
    let Some(db) = TestDb::new() else { return };
    drop(db.open());
    db.client()
        .execute(
            &format!("UPDATE {HISTORY} SET checksum = '1' WHERE version = 3"),
            &[],
        )
        .expect("tamper");
    let err = PostgresStore::open_with_schema(&db.url, &db.schema).expect_err("must refuse");
    assert!(err.to_string().contains("different"), "{err}");
}

/// A schema made before refinery on PostgreSQL: the first `n` migrations and rows 1..n of
/// `vigil_schema`. Collectors opening it together record 1..n once and run the rest once.
#[test]
fn postgres_database_versioned_by_vigil_schema_is_upgraded_by_collectors_together() {
    let list = migrations(Dialect::Postgres).expect("list");
    for n in [1, 8, LATEST] {
        let Some(db) = TestDb::new() else { return };
        {
            let mut c = db.client();
            c.batch_execute(&format!("CREATE SCHEMA \"{}\"", db.schema))
                .expect("schema");
            c.batch_execute(
                "CREATE TABLE vigil_schema (version INTEGER PRIMARY KEY, \
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )
            .expect("old table");
            for (v, m) in (1..).zip(&list[..usize::try_from(n).expect("n")]) {
                c.batch_execute(m.sql().expect("sql"))
                    .expect("old migration");
                c.execute("INSERT INTO vigil_schema (version) VALUES ($1)", &[&v])
                    .expect("marker");
            }
            c.batch_execute("INSERT INTO agencies (id, name, level) VALUES ('old', 'Old', 1)")
                .expect("row");
        }
        let barrier = Barrier::new(4);
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    barrier.wait();
                    drop(db.open());
                });
            }
        });
        let s = db.open();
        assert_eq!(s.agencies().expect("agencies").len(), 1, "n = {n}");
        agency(&s);
        drop(s);
        let mut c = db.client();
        assert_eq!(
            pg_history(&mut c),
            expected_history(Dialect::Postgres),
            "n = {n}"
        );
        let marker: i32 = c
            .query_one("SELECT max(version) FROM vigil_schema", &[])
            .expect("marker")
            .get(0);
        assert_eq!(marker, LATEST, "n = {n}");
        let fresh = TestDb::new().expect("server answered");
        drop(fresh.open());
        assert_eq!(pg_shape(&mut c).tables, {
            let mut t = pg_shape(&mut fresh.client()).tables;
            // The old marker stays, in step (older collectors read it).
            t.insert(
                "vigil_schema".into(),
                [
                    ("version", "integer"),
                    ("applied_at", "other: timestamp with time zone"),
                ]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect(),
            );
            t
        });
        assert_eq!(
            pg_shape(&mut c).indexes,
            pg_shape(&mut fresh.client()).indexes
        );
    }
}

#[test]
fn postgres_newer_vigil_schema_is_refused() {
    let Some(db) = TestDb::new() else { return };
    {
        let mut c = db.client();
        c.batch_execute(&format!(
            "CREATE SCHEMA \"{}\"; CREATE TABLE vigil_schema (version INTEGER PRIMARY KEY); \
             INSERT INTO vigil_schema VALUES (99)",
            db.schema
        ))
        .expect("old marker");
    }
    let err = PostgresStore::open_with_schema(&db.url, &db.schema).expect_err("must refuse");
    assert!(
        err.to_string().contains(&format!(
            "database schema version 99 is newer than this collector ({LATEST})"
        )),
        "{err}"
    );
}
