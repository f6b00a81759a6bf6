//! Runs `packs/rhel-baseline.yaml` over its fixture roots (`testdata/rhel-baseline/`, harness in
//! `support/fixture.rs`): a RHEL 9 root with an rpm database in SQLite and a Rocky Linux 8 root
//! with a Berkeley DB one, both built in the test from stand-in packages with Debian's rpm tools.
//! Every rule passes on both roots and fails on its own mutation there.

mod support;

use std::time::{Instant, SystemTime};

use support::fixture::{Mutation, Suite, rules_are_complete};
use vigil_proto::Status;
use vigil_rules::{Level, RootFacts, evaluate};

#[test]
fn every_rule_passes_on_both_roots_and_fails_on_its_fixture() {
    let Some(suite) = Suite::load("rhel-baseline") else {
        return;
    };
    assert_eq!(suite.roots(), ["rhel9", "rocky8"]);
    let problems = suite.check_all();
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        suite.pack.rules.len() >= 80,
        "the RHEL baseline must have at least 80 rules, has {}",
        suite.pack.rules.len()
    );
}

#[test]
fn rhel_rules_are_complete() {
    let pack = vigil_rules::load_pack(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("packs/rhel-baseline.yaml"),
    )
    .expect("pack loads");
    rules_are_complete(&pack);
    for r in &pack.rules {
        assert!(
            r.id.starts_with("rhel-"),
            "{}: rule ids start with rhel-",
            r.id
        );
    }
}

/// The two built-in packs split the Linux hosts between them: the RHEL pack is not applicable on
/// Debian or Fedora, and the Debian pack not on the RHEL roots.
#[test]
fn each_pack_applies_to_its_family_only() {
    let Some(suite) = Suite::load("rhel-baseline") else {
        return;
    };
    let linux = vigil_rules::builtin_packs()
        .expect("built-in packs")
        .into_iter()
        .find(|p| p.id == "linux-baseline")
        .expect("linux-baseline is built in");
    for root in suite.roots() {
        let (dir, _) = suite.run(&root, &Mutation::default());
        let res = evaluate(
            &linux,
            &RootFacts::new(dir.path(), SystemTime::now()),
            Level::MAX,
        );
        assert!(
            res.iter().all(|r| r.status == Status::NotApplicable),
            "{root}: linux-baseline applies"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("etc")).expect("mkdir");
    for os in [
        "ID=debian\nVERSION_ID=\"12\"\n",
        "ID=fedora\nVERSION_ID=40\n",
        "ID=centos\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n",
    ] {
        std::fs::write(dir.path().join("etc/os-release"), os).expect("write");
        let res = evaluate(
            &suite.pack,
            &RootFacts::new(dir.path(), SystemTime::now()),
            Level::MAX,
        );
        assert!(
            res.iter().all(|r| r.status == Status::NotApplicable),
            "{os}: rhel-baseline applies"
        );
    }
}

/// Wall time of the whole pack over the RHEL 9 root (printed; asserted loosely).
#[test]
fn whole_pack_over_a_root_is_fast() {
    let Some(suite) = Suite::load("rhel-baseline") else {
        return;
    };
    let (dir, _) = suite.run("rhel9", &Mutation::default());
    let facts = RootFacts::new(dir.path(), SystemTime::now());
    let t = Instant::now();
    let res = evaluate(&suite.pack, &facts, Level::new(3).expect("level"));
    let took = t.elapsed();
    println!(
        "rhel-baseline over the RHEL 9 root: {} rules in {took:?}",
        res.len()
    );
    assert_eq!(res.len(), suite.pack.rules.len());
    assert!(took.as_secs() < 5, "took {took:?}");
}

/// The agent runs the built-in packs chosen by the checked tree's OS.
#[test]
fn builtin_packs_follow_the_os() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("etc")).expect("mkdir");
    let ids = |os: &str| {
        std::fs::write(dir.path().join("etc/os-release"), os).expect("write");
        let facts = RootFacts::new(dir.path(), SystemTime::now());
        vigil_rules::builtin_packs_for(&facts)
            .expect("built-in packs")
            .into_iter()
            .map(|p| p.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids("ID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n"),
        ["rhel-baseline"]
    );
    assert_eq!(
        ids("ID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.10\"\n"),
        ["rhel-baseline"]
    );
    assert_eq!(ids("ID=debian\nVERSION_ID=\"12\"\n"), ["linux-baseline"]);
    assert_eq!(
        ids("ID=arch\n"),
        ["linux-baseline", "rhel-baseline"],
        "unknown OS: all, each says why"
    );
}
