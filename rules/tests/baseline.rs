//! Runs `packs/linux-baseline.yaml` over its fixture trees (`testdata/linux-baseline/`, harness in
//! `support/fixture.rs`): every rule passes on the hardened base tree and fails on its own
//! mutation.

mod support;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use support::fixture::{Suite, rules_are_complete};
use vigil_proto::Status;
use vigil_rules::{Level, RootFacts, evaluate, load_pack};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_rule_passes_on_base_and_fails_on_its_fixture() {
    let suite = Suite::load("linux-baseline").expect("no rpm packages needed");
    let problems = suite.check_all();
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        suite.pack.rules.len() >= 80,
        "the baseline must have at least 80 rules, has {}",
        suite.pack.rules.len()
    );
}

#[test]
fn baseline_rules_are_complete() {
    let pack = load_pack(&crate_dir().join("packs/linux-baseline.yaml")).expect("pack loads");
    rules_are_complete(&pack);
}

#[test]
fn other_platforms_are_not_applicable() {
    let pack = load_pack(&crate_dir().join("packs/linux-baseline.yaml")).expect("pack loads");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("etc")).expect("mkdir");
    std::fs::write(
        dir.path().join("etc/os-release"),
        "ID=fedora\nVERSION_ID=40\n",
    )
    .expect("write");
    let res = evaluate(
        &pack,
        &RootFacts::new(dir.path(), SystemTime::now()),
        Level::MAX,
    );
    assert!(res.iter().all(|r| r.status == Status::NotApplicable));
    std::fs::write(
        dir.path().join("etc/os-release"),
        "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n",
    )
    .expect("write");
    let res = evaluate(
        &pack,
        &RootFacts::new(dir.path(), SystemTime::now()),
        Level::MAX,
    );
    assert!(
        res.iter()
            .all(|r| r.status != Status::NotApplicable || r.evidence.contains("level"))
    );
}

/// Wall time of the whole pack over this machine's `/` (printed; asserted loosely).
#[test]
fn whole_pack_over_this_host_is_fast() {
    let pack = load_pack(&crate_dir().join("packs/linux-baseline.yaml")).expect("pack loads");
    let facts = RootFacts::new("/", SystemTime::now());
    let t = std::time::Instant::now();
    let res = evaluate(&pack, &facts, Level::new(3).expect("level"));
    let took = t.elapsed();
    let count = |s: Status| res.iter().filter(|r| r.status == s).count();
    println!(
        "linux-baseline over /: {} rules in {:?} (pass {}, fail {}, error {}, n/a {})",
        res.len(),
        took,
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Error),
        count(Status::NotApplicable)
    );
    for r in res.iter().filter(|r| r.status == Status::Error) {
        println!("  error {}: {}", r.rule_id, r.evidence);
    }
    assert_eq!(res.len(), pack.rules.len());
    assert!(took < Duration::from_secs(5), "took {took:?}");
}
