use super::*;

#[test]
fn in_memory_passes_the_store_suite() {
    crate::store::suite::run_all(&|| Box::new(SqliteStore::open_in_memory().expect("open")));
}

#[test]
fn file_backed_passes_the_store_suite_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    let n = std::sync::atomic::AtomicUsize::new(0);
    crate::store::suite::run_all(&|| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::new(SqliteStore::open(&dir.path().join(format!("s{i}.db"))).expect("open"))
    });
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
