//! Tests against a real server: `VIGIL_TEST_PG` (default `postgres://postgres@127.0.0.1/test`).
//! With `CI=true` an unreachable server fails the test; otherwise it is skipped with a message.
//! Each test works in its own fresh schema, dropped at the end.

use std::sync::Barrier;
use std::time::Instant;

use vigil_proto::{CheckResult, Severity, Status};

use super::*;
use crate::store::migrations::{HISTORY, LATEST};
use crate::store::{Agency, Store, TokenRecord, TokenRefusal};
use ::postgres::NoTls;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1/test";

fn url() -> String {
    std::env::var("VIGIL_TEST_PG").unwrap_or_else(|_| DEFAULT_URL.into())
}

/// A fresh schema, dropped (with everything in it) when this goes away.
pub(crate) struct TestDb {
    pub(crate) url: String,
    pub(crate) schema: String,
}

impl TestDb {
    /// `None` (after saying so on stderr) when the server is unreachable outside CI.
    pub(crate) fn new() -> Option<Self> {
        let url = url();
        if let Err(e) = ::postgres::Client::connect(&url, NoTls).map_err(StoreError::from) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL not reachable at {url} (CI=true): {e}"
            );
            eprintln!("SKIPPED: PostgreSQL not reachable at {url}: {e}");
            return None;
        }
        let schema = format!("vigil_t_{:016x}", rand::random::<u64>());
        Some(Self { url, schema })
    }

    pub(crate) fn open(&self) -> PostgresStore {
        PostgresStore::open_with_schema(&self.url, &self.schema).expect("open")
    }

    pub(crate) fn client(&self) -> Client {
        let mut c = Client::connect(&self.url, NoTls).expect("connect");
        c.batch_execute(&format!("SET search_path TO \"{}\"", self.schema))
            .expect("search_path");
        c
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&self.url, NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.schema
            ));
        }
    }
}

fn seed(s: &dyn Store) {
    for (id, level) in [("p", 2), ("p/a", 3)] {
        s.agency_add(&Agency {
            id: id.into(),
            name: id.to_uppercase(),
            level,
        })
        .expect("agency");
    }
}

use crate::store::suite::agent as new_agent;

/// A realistic check result, about 300 bytes of JSON.
fn check(seq: u64, evidence: &str) -> Envelope {
    Envelope {
        seq,
        observed_at: 1_700_000_000_000 + seq as i64,
        finding: Finding::CheckResult(CheckResult {
            rule_id: format!("lnx-rule-{}", seq % 200),
            pack: "linux-baseline@1.0.0".into(),
            status: if seq.is_multiple_of(3) {
                Status::Fail
            } else {
                Status::Pass
            },
            severity: Severity::Medium,
            group: "hardening".into(),
            controls: vec!["tcvn-14423:x.5.2.2".into(), "cis-debian12:5.2.4".into()],
            evidence: evidence.into(),
        }),
    }
}

/// Every store-suite case in its own fresh schema, so the cases run in parallel.
mod suite {
    use super::*;

    fn with(case: fn(&dyn Store)) {
        let Some(db) = TestDb::new() else { return };
        case(&db.open());
        // The store is gone; the schema goes with `db`.
    }

    crate::store::suite::store_cases!(with);
}

#[test]
fn reopen_runs_no_migration_twice_and_keeps_data() {
    let Some(db) = TestDb::new() else { return };
    {
        let s = db.open();
        seed(&s);
    }
    let s = db.open();
    assert_eq!(s.agencies().expect("list").len(), 2);
    let versions: Vec<i32> = db
        .client()
        .query(
            &format!("SELECT version FROM {HISTORY} ORDER BY version"),
            &[],
        )
        .expect("versions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<i32> = (1..=LATEST).collect();
    assert_eq!(versions, expected);
}

/// One schema: the same indexes as SQLite.
#[test]
fn schema_has_the_shared_indexes() {
    let Some(db) = TestDb::new() else { return };
    drop(db.open());
    let names: Vec<String> = db
        .client()
        .query(
            "SELECT indexname FROM pg_indexes i WHERE schemaname = $1 AND NOT EXISTS ( \
                 SELECT 1 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
                 WHERE n.nspname = $1 AND c.conname = i.indexname) \
             ORDER BY indexname COLLATE \"C\"",
            &[&db.schema],
        )
        .expect("indexes")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, crate::store::suite::INDEXES);
}

#[test]
fn collectors_starting_together_migrate_once() {
    let Some(db) = TestDb::new() else { return };
    let barrier = Barrier::new(4);
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                barrier.wait();
                drop(db.open());
            });
        }
    });
    let n: i64 = db
        .client()
        .query_one(&format!("SELECT count(*) FROM {HISTORY}"), &[])
        .expect("count")
        .get(0);
    assert_eq!(n, i64::from(LATEST));
}

#[test]
fn newer_schema_is_refused() {
    let Some(db) = TestDb::new() else { return };
    drop(db.open());
    db.client()
        .execute(
            &format!(
                "INSERT INTO {HISTORY} (version, name, applied_on, checksum) \
                 VALUES (99, 'future', '2030-01-01T00:00:00Z', '0')"
            ),
            &[],
        )
        .expect("future version");
    let err = PostgresStore::open_with_schema(&db.url, &db.schema).expect_err("must refuse");
    assert!(
        err.to_string().contains(&format!(
            "database schema version 99 is newer than this collector ({}); upgrade the collector",
            LATEST
        )),
        "{err}"
    );
}

#[test]
fn token_uses_are_exact_across_two_collectors() {
    let Some(db) = TestDb::new() else { return };
    let (a, b) = (db.open(), db.open());
    seed(&a);
    let max_uses = 7;
    a.token_add(&TokenRecord {
        id: "t1".into(),
        secret_hash: "h1".into(),
        agency: "p/a".into(),
        created_at: 0,
        expires_at: 100,
        max_uses,
        uses: 0,
        revoked: false,
        simulated: false,
    })
    .expect("token");
    let threads = 24;
    let barrier = Barrier::new(threads);
    let results: Vec<_> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (s, barrier) = (if i % 2 == 0 { &a } else { &b }, &barrier);
                sc.spawn(move || {
                    barrier.wait();
                    s.token_consume("h1", 1).expect("db")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let ok: Vec<u32> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|t| t.uses))
        .collect();
    assert_eq!(ok.len(), max_uses as usize, "{results:?}");
    let mut uses = ok.clone();
    uses.sort_unstable();
    assert_eq!(
        uses,
        (1..=max_uses).collect::<Vec<_>>(),
        "each use seen once"
    );
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| *r == Err(TokenRefusal::UsedUp))
    );
    assert_eq!(b.tokens().expect("tokens")[0].uses, max_uses);
}

#[test]
fn overlapping_batches_from_two_collectors_store_each_seq_once() {
    let Some(db) = TestDb::new() else { return };
    let (a, b) = (db.open(), db.open());
    seed(&a);
    // Several agents: a lost max_seq update (no row lock) only shows up in some interleavings.
    for round in 0..5 {
        let agent = format!("a{round}");
        a.agent_enroll(&new_agent(&agent, &agent), 0)
            .expect("enroll");
        // Four senders, each replaying seqs start..start+150 in batches of 30, starts 50 apart:
        // every seq in 1..=300 is sent by two or three of them.
        let senders = 4u64;
        let barrier = Barrier::new(senders as usize);
        let outcomes: Vec<IngestOutcome> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..senders)
                .map(|i| {
                    let (s, barrier, agent) = (if i % 2 == 0 { &a } else { &b }, &barrier, &agent);
                    sc.spawn(move || {
                        barrier.wait();
                        let start = i * 50 + 1;
                        let seqs: Vec<u64> = (start..start + 150).collect();
                        seqs.chunks(30)
                            .map(|c| {
                                let batch: Vec<_> = c.iter().map(|&q| check(q, "e")).collect();
                                s.ingest(agent, &batch, 1000).expect("ingest")
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("thread"))
                .collect()
        });
        let sent = senders as usize * 150;
        let distinct = 300;
        let stored: usize = outcomes.iter().map(|o| o.stored).sum();
        let dups: usize = outcomes.iter().map(|o| o.duplicates).sum();
        assert_eq!(stored, distinct, "each seq stored by exactly one batch");
        assert_eq!(dups, sent - distinct);
        assert_eq!(a.finding_count(&agent).expect("count"), distinct as u64);
        assert_eq!(b.max_seq(&agent).expect("max"), 300);
        let mut seqs: Vec<u64> = a
            .findings(&FindingFilter {
                agent_id: Some(agent.clone()),
                ..Default::default()
            })
            .expect("findings")
            .into_iter()
            .map(|f| f.seq)
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=300).collect::<Vec<_>>());
    }
}

#[test]
fn same_machine_enrolling_at_two_collectors_leaves_one_live_agent() {
    let Some(db) = TestDb::new() else { return };
    let (a, b) = (db.open(), db.open());
    seed(&a);
    let barrier = Barrier::new(8);
    std::thread::scope(|sc| {
        for i in 0..8 {
            let (s, barrier) = (if i % 2 == 0 { &a } else { &b }, &barrier);
            sc.spawn(move || {
                barrier.wait();
                s.agent_enroll(&new_agent(&format!("a{i}"), "m1"), i)
                    .expect("enroll");
            });
        }
    });
    let agents = a.agents().expect("agents");
    assert_eq!(agents.len(), 8);
    assert_eq!(agents.iter().filter(|x| !x.revoked).count(), 1);
    let replaced = b
        .audit_log()
        .expect("audit")
        .iter()
        .filter(|(_, _, action, _)| action == "agent.replaced")
        .count();
    assert_eq!(replaced, 7);
}

#[test]
fn regression_nul_in_a_finding_does_not_poison_the_batch() {
    let Some(db) = TestDb::new() else { return };
    let s = db.open();
    seed(&s);
    s.agent_enroll(&new_agent("a1", "m1"), 0).expect("enroll");
    let out = s
        .ingest("a1", &[check(1, "bad\0byte"), check(2, "ok")], 1000)
        .expect("ingest");
    assert_eq!(out.stored, 2);
    let f = s.findings(&FindingFilter::default()).expect("findings");
    assert!(f.iter().any(|f| f.finding["evidence"] == "bad\0byte"));
}

#[test]
fn repeated_seq_within_one_batch_counts_as_a_duplicate() {
    let Some(db) = TestDb::new() else { return };
    let s = db.open();
    seed(&s);
    s.agent_enroll(&new_agent("a1", "m1"), 0).expect("enroll");
    let out = s
        .ingest(
            "a1",
            &[check(1, "first"), check(1, "second"), check(2, "x")],
            1000,
        )
        .expect("ingest");
    assert_eq!((out.stored, out.duplicates, out.max_seq), (2, 1, 2));
    let f = s.findings(&FindingFilter::default()).expect("findings");
    assert!(f.iter().any(|f| f.finding["evidence"] == "first"));
}

#[test]
fn text_order_is_bytewise_like_sqlite() {
    let Some(db) = TestDb::new() else { return };
    let s = db.open();
    for id in ["p", "p-b", "p/a", "P", "p/a/x"] {
        let _ = s.agency_add(&Agency {
            id: id.into(),
            name: id.into(),
            level: 1,
        });
    }
    let ids: Vec<_> = s
        .agencies()
        .expect("list")
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, vec!["P", "p", "p-b", "p/a", "p/a/x"]);
}

#[test]
fn bad_urls_and_schema_names_are_errors_not_panics() {
    let err = PostgresStore::open("postgres://u:secret@127.0.0.1:1/x?connect_timeout=2")
        .expect_err("nothing listens on port 1");
    assert!(!err.to_string().contains("secret"), "{err}");
    assert!(PostgresStore::open("not a url").is_err());
    for bad in ["", "Upper", "1abc", "a;drop", "a\"b"] {
        let err = PostgresStore::open_with_schema(DEFAULT_URL, bad).expect_err(bad);
        assert!(err.to_string().contains("invalid schema name"), "{err}");
    }
}

#[test]
fn reconnects_after_the_server_drops_the_connection() {
    let Some(db) = TestDb::new() else { return };
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}application_name={}", db.url, db.schema);
    let s = PostgresStore::open_with(&url, Some(&db.schema), 1).expect("open");
    seed(&s);
    s.agent_enroll(&new_agent("a1", "m1"), 0).expect("enroll");
    s.ingest("a1", &[check(1, "x")], 1000)
        .expect("caches statements");
    let killed: i64 = db
        .client()
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = $1",
            &[&db.schema],
        )
        .expect("terminate")
        .get(0);
    assert_eq!(killed, 1);
    // Termination is a signal: wait until the backend has really gone.
    let mut admin = db.client();
    for _ in 0..100 {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&db.schema],
            )
            .expect("count")
            .get(0);
        if left == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The call that finds the connection dead may fail; the next one reconnects.
    let _ = s.agencies();
    assert_eq!(s.agencies().expect("reconnected").len(), 2);
    // Statements prepared on the dead connection are forgotten, not reused.
    let out = s.ingest("a1", &[check(2, "y")], 2000).expect("ingest");
    assert_eq!(out.stored, 1);
}

#[test]
fn every_pooled_connection_is_replaced_after_the_server_drops_them() {
    // The pool checks a connection before handing it out, so no call fails for a connection
    // the server closed while it sat idle (a restart, a DBA's pg_terminate_backend).
    let Some(db) = TestDb::new() else { return };
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}application_name={}", db.url, db.schema);
    let s = PostgresStore::open_with(&url, Some(&db.schema), 3).expect("open");
    seed(&s);
    // Three calls at once hold three different connections.
    let together = Barrier::new(3);
    std::thread::scope(|sc| {
        for _ in 0..3 {
            sc.spawn(|| {
                s.call(|c| {
                    together.wait();
                    Ok(c.query_one("SELECT 1", &[])?.get::<_, i32>(0))
                })
                .expect("call")
            });
        }
    });
    let mut admin = db.client();
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = $1",
            &[&db.schema],
        )
        .expect("terminate")
        .get(0);
    assert_eq!(killed, 3);
    for _ in 0..100 {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&db.schema],
            )
            .expect("count")
            .get(0);
        if left == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for i in 0..6 {
        assert_eq!(
            s.agencies()
                .unwrap_or_else(|e| panic!("call {i}: {e}"))
                .len(),
            2
        );
    }
    s.agent_enroll(&new_agent("a1", "m1"), 0).expect("enroll");
    assert_eq!(
        s.ingest("a1", &[check(1, "x")], 1000)
            .expect("ingest")
            .stored,
        1
    );
}

#[test]
fn usable_and_droppable_on_a_multi_threaded_runtime_worker() {
    // `serve` opens and uses the store from async tasks of the collector's multi-threaded
    // runtime; the calls step out of the async context there (block_in_place).
    let Some(db) = TestDb::new() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let url = db.url.clone();
    let schema = db.schema.clone();
    let n = rt
        .block_on(rt.spawn(async move {
            let s = PostgresStore::open_with_schema(&url, &schema).expect("open");
            seed(&s);
            let n = s.agencies().expect("list").len();
            drop(s);
            n
        }))
        .expect("task");
    assert_eq!(n, 2);
}

#[test]
fn usable_and_droppable_on_an_async_thread() {
    // The `postgres` client panics when its runtime is driven or dropped on a thread that runs
    // async tasks (as `serve` does with `open_store`); the store runs such calls off that thread.
    let Some(db) = TestDb::new() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let s = db.open();
        seed(&s);
        assert_eq!(s.agencies().expect("list").len(), 2);
        drop(s);
    });
}

#[test]
fn ioc_imports_from_two_collectors_never_share_a_version() {
    let Some(db) = TestDb::new() else { return };
    let (a, b) = (db.open(), db.open());
    let threads = 16;
    let barrier = Barrier::new(threads);
    let mut versions: Vec<u64> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (s, barrier) = (if i % 2 == 0 { &a } else { &b }, &barrier);
                sc.spawn(move || {
                    let ind = vigil_proto::msg::Indicator {
                        kind: "ip".into(),
                        value: format!("192.0.2.{i}"),
                        source: "feed".into(),
                        expires_at: 0,
                    };
                    barrier.wait();
                    s.ioc_import(&[ind]).expect("import")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    versions.sort_unstable();
    // Each import changed one indicator, so each took a version of its own.
    assert_eq!(versions, (1..=threads as u64).collect::<Vec<_>>());
    assert_eq!(b.ioc_version().expect("version"), threads as u64);
    assert_eq!(a.ioc_since(threads as u64 - 1).expect("delta").1.len(), 1);
}

#[test]
fn one_summary_resent_by_racing_sessions_is_stored_once() {
    use crate::store::fed::{Downstream, Received};
    let Some(db) = TestDb::new() else { return };
    let (a, b) = (db.open(), db.open());
    seed(&a);
    a.federation()
        .fed_downstream_add(&Downstream {
            id: "d1".into(),
            agency: "p/a".into(),
            name: "collector d1".into(),
            cert_serial: "serial-d1".into(),
            enrolled_at: 10,
            revoked_at: 0,
            acked_seq: 0,
            last_received: 0,
        })
        .expect("add");
    let threads = 16;
    let barrier = Barrier::new(threads);
    let results: Vec<_> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (s, barrier) = (if i % 2 == 0 { &a } else { &b }, &barrier);
                sc.spawn(move || {
                    barrier.wait();
                    s.federation().fed_receive("d1", 1, "b1", "s1", 20)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    // The downstream's row lock makes every later session see the first one's summary.
    let stored = results
        .iter()
        .filter(|r| matches!(r, Ok(Received::Stored { gap: None })))
        .count();
    let duplicates = results
        .iter()
        .filter(|r| matches!(r, Ok(Received::Duplicate)))
        .count();
    assert_eq!((stored, duplicates), (1, threads - 1), "{results:?}");
    let d = b
        .federation()
        .fed_downstream("d1")
        .expect("get")
        .expect("d1");
    assert_eq!(d.acked_seq, 1);
}

/// Prints findings/s for 100 batches of 500 findings, PostgreSQL and file-backed SQLite.
/// `cargo test -p vigil-collector --lib store::postgres -- --ignored --nocapture`
#[test]
#[ignore = "measurement; run explicitly"]
fn ingest_throughput_postgres_vs_sqlite() {
    let batches: Vec<Vec<Envelope>> = (0..100u64)
        .map(|b| {
            (1..=500u64)
                .map(|i| {
                    check(
                        b * 500 + i,
                        "PermitRootLogin yes in /etc/ssh/sshd_config:32",
                    )
                })
                .collect()
        })
        .collect();
    let total = 100 * 500;
    // One writer: 100 batches in order. Two writers: two agents, 50 batches each, at once (two
    // collectors, or two connections of one).
    // With `export`, a SIEM output is registered: every stored finding is also logged for it.
    let run = |name: &str, s: &(dyn Store + Sync), export: bool| {
        seed(s);
        if export {
            s.exports().export_register("siem", 0).expect("register");
        }
        s.agent_enroll(&new_agent("a1", "m1"), 0).expect("enroll");
        s.agent_enroll(&new_agent("a2", "m2"), 0).expect("enroll");
        s.agent_enroll(&new_agent("a3", "m3"), 0).expect("enroll");
        let t = Instant::now();
        for (i, b) in batches.iter().enumerate() {
            let out = s.ingest("a1", b, i as i64).expect("ingest");
            assert_eq!(out.stored, 500);
        }
        let one = t.elapsed().as_secs_f64();
        let t = Instant::now();
        std::thread::scope(|sc| {
            for (agent, half) in ["a2", "a3"].iter().zip(batches.chunks(50)) {
                sc.spawn(move || {
                    for (i, b) in half.iter().enumerate() {
                        s.ingest(agent, b, i as i64).expect("ingest");
                    }
                });
            }
        });
        let two = t.elapsed().as_secs_f64();
        assert_eq!(s.finding_count("a1").expect("count"), total);
        assert_eq!(s.finding_count("a2").expect("count"), total / 2);
        assert_eq!(s.finding_count("a3").expect("count"), total / 2);
        let name = if export {
            format!("{name} + export log")
        } else {
            name.to_owned()
        };
        eprintln!(
            "{name}: {total} findings, 1 writer {one:.2}s = {:.0}/s; 2 writers {two:.2}s = {:.0}/s",
            total as f64 / one,
            total as f64 / two
        );
    };
    for export in [false, true] {
        let dir = tempfile::tempdir().expect("tmp");
        run(
            "sqlite (file, WAL, synchronous=FULL)",
            &crate::store::SqliteStore::open(&dir.path().join("bench.db")).expect("sqlite"),
            export,
        );
        if let Some(db) = TestDb::new() {
            run("postgres (loopback, pool 4)", &db.open(), export);
        }
    }
}

/// Collectors raising one key at once leave one alert counting every raise (the per-key lock).
#[test]
fn one_key_raised_at_two_collectors_at_once_is_one_alert() {
    let Some(db) = TestDb::new() else { return };
    let (a, b) = (db.open(), db.open());
    seed(&a);
    a.agent_enroll(&new_agent("a1", "m1"), 1).expect("enroll");
    let raise = crate::store::NewAlert {
        key: "ioc:a1:x".into(),
        kind: "ioc_hit".into(),
        severity: Severity::High,
        agent_id: "a1".into(),
        title: "hit".into(),
        params: Default::default(),
        other_agency: None,
    };
    let threads = 8;
    let barrier = Barrier::new(threads);
    let new: usize = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (s, barrier, raise) = (if i % 2 == 0 { &a } else { &b }, &barrier, &raise);
                sc.spawn(move || {
                    barrier.wait();
                    s.alert_raise(raise, 10).expect("raise").1
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().expect("raiser")))
            .sum()
    });
    assert_eq!(new, 1);
    let alerts = b.alerts(None).expect("alerts");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].count, 8);
}
