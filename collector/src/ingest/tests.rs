//! Batches driven through [`Ingest`] on a real SQLite file, no QUIC.

use std::sync::Arc;

use vigil_proto::{CheckResult, Envelope, Finding, Severity, Status};

use super::*;
use crate::store::{Agency, NewAgent, SqliteStore, StoreError};

struct Fixture {
    ingest: Ingest,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tmp");
    let store = SqliteStore::open(&dir.path().join("vigil.db")).expect("store");
    store
        .agency_add(&Agency {
            id: "p".into(),
            name: "Province".into(),
            level: 2,
        })
        .expect("agency");
    store
        .agent_enroll(
            &NewAgent {
                id: "a1".into(),
                agency: "p".into(),
                machine_id: "m-a1".into(),
                hostname: "pc-1".into(),
                os: "Debian".into(),
                cert_serial: "s-a1".into(),
                cert_not_after: 0,
                agent_version: "0.1.0".into(),
                token_id: "t".into(),
                simulated: false,
            },
            0,
        )
        .expect("enroll");
    Fixture {
        ingest: Ingest {
            store: Arc::new(store),
            catalog: crate::catalog::SharedCatalog::new(crate::catalog::RuleCatalog::builtin()),
            alerts: Arc::new(AlertSettings::default()),
            scores: Arc::new(ScoreCache::new(std::time::Duration::from_secs(15))),
            vulns: Arc::default(),
        },
        _dir: dir,
    }
}

/// A failed check of `rule` that the agent claims is of `severity`.
fn failed(seq: u64, rule: &str, severity: Severity) -> Envelope {
    Envelope {
        seq,
        observed_at: 1_700_000_000_000,
        finding: Finding::CheckResult(CheckResult {
            rule_id: rule.into(),
            pack: "linux-baseline@1.0.0".into(),
            status: Status::Fail,
            severity,
            group: "whatever".into(),
            controls: vec![],
            evidence: "no anti-malware".into(),
        }),
    }
}

#[test]
fn a_batch_is_corrected_stored_alerted_and_marks_scores_changed() {
    let f = fixture();
    assert_eq!(
        f.ingest.hello("a1", 1_700_000_000, "0.2.0").expect("hello"),
        0
    );
    // The agent understates a critical rule of the built-in pack and skips seq 2..=3.
    let batch = vec![
        failed(1, "lnx-av-installed", Severity::Low),
        failed(4, "lnx-av-installed", Severity::Low),
    ];
    let r = f
        .ingest
        .batch("a1", batch, 1_700_000_000_000)
        .expect("batch");
    assert_eq!(r.corrected, 2, "{r:?}");
    assert_eq!(
        (r.stored.stored, r.stored.duplicates, r.stored.max_seq),
        (2, 0, 4)
    );
    assert_eq!(r.stored.gaps, vec![(2, 3)]);
    assert!(
        f.ingest.scores.take_changed(),
        "stored findings mark the scores stale"
    );

    let store = &f.ingest.store;
    let kinds: Vec<String> = store
        .alerts(None)
        .expect("alerts")
        .into_iter()
        .map(|a| a.kind)
        .collect();
    assert!(
        kinds.iter().any(|k| k == "critical_rule_failed"),
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "seq_gap"), "{kinds:?}");
    assert_eq!(store.gaps(Some("a1")).expect("gaps").len(), 1);
    assert_eq!(
        f.ingest.hello("a1", 1_700_000_001, "0.2.0").expect("hello"),
        4
    );
}

#[test]
fn a_replayed_batch_is_acknowledged_without_storing_or_changing_scores() {
    let f = fixture();
    let batch = vec![failed(1, "lnx-av-installed", Severity::Critical)];
    f.ingest
        .batch("a1", batch.clone(), 1_700_000_000_000)
        .expect("first");
    assert!(f.ingest.scores.take_changed());
    let alerts_before = f.ingest.store.alerts(None).expect("alerts");
    let r = f
        .ingest
        .batch("a1", batch, 1_700_000_005_000)
        .expect("replay");
    assert_eq!(
        (r.stored.stored, r.stored.duplicates, r.stored.max_seq),
        (0, 1, 1)
    );
    assert!(!f.ingest.scores.take_changed(), "a replay changes no score");
    let alerts_after = f.ingest.store.alerts(None).expect("alerts");
    assert_eq!(
        alerts_before.len(),
        alerts_after.len(),
        "no new alert on a replay"
    );
}

#[test]
fn a_revoked_agent_is_refused_and_nothing_is_stored() {
    let f = fixture();
    assert!(
        f.ingest
            .store
            .agent_revoke("a1", "test", 1)
            .expect("revoke")
    );
    let err = f
        .ingest
        .batch(
            "a1",
            vec![failed(1, "lnx-av-installed", Severity::Critical)],
            2_000,
        )
        .expect_err("revoked");
    assert!(matches!(err, StoreError::Revoked(_)), "{err:?}");
    assert_eq!(f.ingest.store.max_seq("a1").expect("max_seq"), 0);
}

#[test]
fn a_heartbeat_records_spool_depth_and_clock_skew() {
    let f = fixture();
    f.ingest
        .heartbeat("a1", 1_700_000_003_000, 1_700_000_000_000, 42)
        .expect("heartbeat");
    let a = f.ingest.store.agent("a1").expect("agent").expect("a1");
    assert_eq!((a.spool_depth, a.clock_skew_ms), (42, 3_000));
    assert_eq!(a.last_seen, 1_700_000_000);
}
