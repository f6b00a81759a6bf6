use super::*;
use crate::store::{Agency, Store};

/// Every store-suite case on a fresh in-memory database.
mod in_memory {
    use super::*;

    fn with(case: fn(&dyn Store)) {
        case(&SqliteStore::open_in_memory().expect("open"));
    }

    crate::store::suite::store_cases!(with);
}

/// Every store-suite case on a fresh database file (WAL, reader connections).
mod file_backed {
    use super::*;

    fn with(case: fn(&dyn Store)) {
        let dir = tempfile::tempdir().expect("tmp");
        case(&SqliteStore::open(&dir.path().join("s.db")).expect("open"));
    }

    crate::store::suite::store_cases!(with);
}

#[test]
fn file_backed_survives_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("reopen.db");
    {
        let s = SqliteStore::open(&path).expect("open");
        s.agency_add(&Agency {
            id: "p".into(),
            name: "P".into(),
            level: 1,
        })
        .expect("add");
    }
    let s = SqliteStore::open(&path).expect("reopen runs no migration twice");
    assert_eq!(s.agencies().expect("list").len(), 1);
}

/// One schema: the same indexes as PostgreSQL (`gaps_agent` was missing until v9).
#[test]
fn schema_has_the_shared_indexes() {
    let s = SqliteStore::open_in_memory().expect("open");
    let conn = s.lock();
    let mut st = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' \
             AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
        )
        .expect("prepare");
    let names: Vec<String> = st
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("names");
    assert_eq!(names, crate::store::suite::INDEXES);
}

/// Reads of a file-backed store do not queue behind its writer: scoring's loads and the
/// console run while a batch is written. Before reader connections this read waited.
#[test]
fn reads_run_while_the_writer_is_busy() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = SqliteStore::open(&dir.path().join("busy.db")).expect("open");
    crate::store::suite::seed(&s);
    let writer = s.lock();
    // An uncommitted write in progress: readers see the last committed state.
    writer
        .execute_batch("BEGIN IMMEDIATE; DELETE FROM agencies WHERE id = 'p/a';")
        .expect("write");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|sc| {
        sc.spawn(|| tx.send(s.agencies().map(|a| a.len())));
        let got = rx.recv_timeout(std::time::Duration::from_secs(5));
        writer.execute_batch("ROLLBACK").expect("rollback");
        drop(writer);
        let n = got.expect("the read waited for the writer").expect("read");
        assert_eq!(n, 2);
    });
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("future.db");
    {
        let c = Connection::open(&path).expect("open");
        c.pragma_update(None, "user_version", 99).expect("set");
    }
    let err = SqliteStore::open(&path).expect_err("must refuse");
    assert!(
        err.to_string().contains("newer than this collector"),
        "{err}"
    );
}

/// Regression: a batch stored by the collector while another process (the CLI, the demo's
/// province) wrote the same file failed at once with "database is locked": a deferred
/// transaction that reads before it writes cannot wait for the other writer.
#[test]
fn regression_two_connections_writing_one_file_wait_for_each_other() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("shared.db");
    let a = SqliteStore::open(&path).expect("open");
    let b = SqliteStore::open(&path).expect("open again");
    crate::store::suite::seed(&a);
    for id in ["x", "y"] {
        a.agent_enroll(&crate::store::suite::agent(id, id), 1)
            .expect("enroll");
    }
    let writer = |s: &SqliteStore, id: &str| {
        for seq in 1..=150u64 {
            let batch = [Envelope {
                seq,
                observed_at: 1,
                finding: Finding::AgentHealth(vigil_proto::AgentHealth {
                    kind: vigil_proto::HealthKind::Other,
                    message: "m".into(),
                    counts: Default::default(),
                    severity: vigil_proto::Severity::Low,
                }),
            }];
            s.ingest(id, &batch, 1)
                .expect("ingest while the other writes");
        }
    };
    std::thread::scope(|sc| {
        sc.spawn(|| writer(&a, "x"));
        sc.spawn(|| writer(&b, "y"));
    });
    assert_eq!(a.max_seq("x").expect("x"), 150);
    assert_eq!(a.max_seq("y").expect("y"), 150);
}
