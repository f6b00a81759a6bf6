//! Runs `packs/rhel-baseline.yaml` over its fixture roots (`testdata/rhel-baseline/`, harness in
//! `support/fixture.rs`): a RHEL 9 root with an rpm database in SQLite and a Rocky Linux 8 root
//! with a Berkeley DB one, both built in the test from stand-in packages with Debian's rpm tools.
//! Every rule passes on both roots and fails on its own mutation there.

mod support;

use std::time::{Instant, SystemTime};

use support::fixture::{Mutation, Suite, rules_are_complete};
use vigil_proto::Status;
use vigil_rules::pack::{Check, Rule};
use vigil_rules::sca::{ImportOptions, import_sca};
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
        ["linux-baseline", "rhel-baseline", "windows-baseline"],
        "unknown OS: all, each says why"
    );
}

/// Whether a check, or one nested in it, runs a program.
fn runs_a_program(c: &Check) -> bool {
    match c {
        Check::Command(_) => true,
        Check::All(n) | Check::Any(n) | Check::None(n) => n.checks.iter().any(runs_a_program),
        _ => false,
    }
}

/// `testdata/sca/constructs-rhel.yml` is a Wazuh policy written the way RHEL policies are (`rpm
/// -q`, SELinux and boot tools, `sh -c` lists and pipelines): at least 95% of its checks must be
/// answered natively (no program run), and each native check must give the verdict SCA's semantics
/// give, on both roots and after its mutation (`testdata/sca/rhel-cases.yaml`).
#[test]
fn rhel_style_sca_policy_is_answered_natively_and_agrees() {
    let Some(mut suite) = Suite::load("rhel-baseline") else {
        return;
    };
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/sca");
    let text = std::fs::read_to_string(dir.join("constructs-rhel.yml")).expect("policy");
    let imp = import_sca(&text, "constructs-rhel.yml", &ImportOptions::default()).expect("imports");
    assert!(imp.untranslated.is_empty(), "{:?}", imp.untranslated);
    assert_eq!(imp.translated, imp.checks);
    let ratio = imp.native as f64 / imp.checks as f64;
    println!(
        "constructs-rhel.yml: {} of {} checks answered natively ({:.1}%)",
        imp.native,
        imp.checks,
        ratio * 100.0
    );
    assert!(
        ratio >= 0.95,
        "only {:.1}% answered natively",
        ratio * 100.0
    );

    // The importer's count agrees with the pack: exactly the 39xx checks run a program.
    let (run, native): (Vec<Rule>, Vec<Rule>) = imp
        .pack
        .rules
        .into_iter()
        .partition(|r| r.checks.iter().any(runs_a_program));
    let run: Vec<&str> = run.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(run, ["vigil_fixture_rhel-3901"]);
    assert_eq!(native.len(), imp.native);

    // `rpm -q` whose verdict depends only on what is installed becomes a package condition.
    for id in ["3001", "3002", "3004"] {
        let r = native
            .iter()
            .find(|r| r.id == format!("vigil_fixture_rhel-{id}"))
            .expect("rule");
        assert!(
            matches!(
                &r.checks[..],
                [Check::Package(_)] | [Check::Package(_), Check::Package(_)]
            ),
            "{id}: {:?}",
            r.checks
        );
    }
    let cases = std::fs::read_to_string(dir.join("rhel-cases.yaml")).expect("cases");
    suite.manifest.cases = serde_norway::from_str(&cases).expect("cases parse");
    suite.pack.rules = native;
    let problems = suite.check_all();
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
