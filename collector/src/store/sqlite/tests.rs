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
