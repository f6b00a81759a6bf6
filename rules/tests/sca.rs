//! Wazuh SCA import, both ways: `testdata/sca/constructs-*.yml` are our own policies in 5.x and
//! 4.x syntax covering every rule form. Each is imported; the pack must load with the normal
//! loader; every translated rule must pass on `testdata/sca/tree/` and fail (or err, where stated)
//! after the mutation `cases.yaml` gives for it; the untranslatable checks must be listed with
//! their reason. With `VIGIL_SCA_POLICIES` pointing at a directory of real policies, each of them is
//! imported too and must give a loadable pack.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use vigil_proto::Status;
use vigil_rules::sca::{ImportOptions, import_sca};
use vigil_rules::{CommandOutput, FileStat, HostFacts, Level, RootFacts, evaluate, load_pack};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    policies: Vec<String>,
    commands: BTreeMap<String, Option<String>>,
    errors: Vec<String>,
    untranslated: BTreeMap<String, String>,
    cases: BTreeMap<String, Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default)]
    write: BTreeMap<String, String>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    commands: BTreeMap<String, Option<String>>,
    #[serde(default)]
    expect: Option<String>,
}

/// A fixture tree plus canned command outputs (`None`: the command cannot run).
struct Fixture {
    inner: RootFacts,
    commands: BTreeMap<String, Option<String>>,
}

impl HostFacts for Fixture {
    fn now(&self) -> SystemTime {
        self.inner.now()
    }
    fn is_live(&self) -> bool {
        false
    }
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn stat(&self, path: &str) -> io::Result<FileStat> {
        self.inner.stat(path)
    }
    fn lstat(&self, path: &str) -> io::Result<FileStat> {
        self.inner.lstat(path)
    }
    fn read_link(&self, path: &str) -> io::Result<String> {
        self.inner.read_link(path)
    }
    fn list_dir(&self, path: &str) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn run(&self, argv: &[String], _: Duration, _: usize) -> Result<CommandOutput, String> {
        match self.commands.get(&argv.join(" ")) {
            Some(Some(out)) => Ok(CommandOutput {
                status: Some(0),
                stdout: out.clone(),
                truncated: false,
            }),
            Some(None) => Err(format!("{}: cannot run", argv.join(" "))),
            None => Err(format!(
                "{}: no canned output in cases.yaml",
                argv.join(" ")
            )),
        }
    }
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/sca")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        let kind = e.file_type().expect("type");
        if kind.is_symlink() {
            let target = std::fs::read_link(e.path()).expect("read_link");
            std::os::unix::fs::symlink(target, &dst).expect("symlink");
        } else if kind.is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
        }
    }
}

fn host(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(dir().join("cases.yaml")).expect("cases.yaml");
    serde_norway::from_str(&text).expect("cases.yaml is valid")
}

/// Imports a fixture policy and loads the written pack back with the normal loader.
fn import(name: &str) -> (vigil_rules::Pack, vigil_rules::sca::Import) {
    let text = std::fs::read_to_string(dir().join(name)).expect("policy");
    let imp = import_sca(&text, name, &ImportOptions::default()).expect("imports");
    let out = tempfile::tempdir().expect("tempdir");
    let f = out.path().join("pack.yaml");
    std::fs::write(&f, &imp.yaml).expect("write");
    let pack = load_pack(&f).unwrap_or_else(|e| panic!("{name}: {e}\n{}", imp.yaml));
    (pack, imp)
}

fn statuses(
    pack: &vigil_rules::Pack,
    root: &Path,
    commands: &BTreeMap<String, Option<String>>,
) -> BTreeMap<String, (Status, String)> {
    let facts = Fixture {
        inner: RootFacts::new(root, SystemTime::now()),
        commands: commands.clone(),
    };
    evaluate(pack, &facts, Level::MIN)
        .into_iter()
        .map(|r| (r.rule_id, (r.status, r.evidence)))
        .collect()
}

#[test]
fn fixture_policies_translate_both_ways() {
    let m = manifest();
    let mut covered = 0;
    for name in &m.policies {
        let (pack, imp) = import(name);
        // Untranslated checks are listed with their reason, never dropped.
        let listed: BTreeMap<&str, &str> = imp
            .untranslated
            .iter()
            .map(|u| (u.id.as_str(), u.reason.as_str()))
            .collect();
        for (id, reason) in &listed {
            let want = m
                .untranslated
                .get(*id)
                .unwrap_or_else(|| panic!("{name}: {id} unexpectedly untranslated: {reason}"));
            assert!(
                reason.contains(want.as_str()),
                "{id}: {reason:?} lacks {want:?}"
            );
            assert!(
                imp.yaml.contains(&format!("#   {id}: ")),
                "{id} not in the header"
            );
        }
        for id in m
            .untranslated
            .keys()
            .filter(|id| id.starts_with(&pack.id[4..]))
        {
            assert!(
                listed.contains_key(id.as_str()),
                "{id} should be untranslated"
            );
        }
        assert_eq!(
            imp.translated + listed.len(),
            imp.checks,
            "{name}: every check is counted"
        );
        assert_eq!(pack.rules.len(), imp.translated);
        assert!(
            !pack.applies_to.is_empty(),
            "{name}: requirements give a platform"
        );

        let tree = tempfile::tempdir().expect("tempdir");
        copy_tree(&dir().join("tree"), tree.path());
        for (id, (status, evidence)) in statuses(&pack, tree.path(), &m.commands) {
            let want = if m.errors.contains(&id) {
                Status::Error
            } else {
                Status::Pass
            };
            assert_eq!(status, want, "{id} on the passing tree: {evidence}");
        }
        for rule in &pack.rules {
            if m.errors.contains(&rule.id) {
                continue;
            }
            let case = m
                .cases
                .get(&rule.id)
                .unwrap_or_else(|| panic!("{} has no failing case in cases.yaml", rule.id));
            let t = tempfile::tempdir().expect("tempdir");
            copy_tree(&dir().join("tree"), t.path());
            for p in &case.remove {
                std::fs::remove_file(host(t.path(), p)).expect("remove");
            }
            for (p, text) in &case.write {
                let f = host(t.path(), p);
                std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
                std::fs::write(f, text).expect("write");
            }
            let mut commands = m.commands.clone();
            commands.extend(case.commands.clone());
            let got = statuses(&pack, t.path(), &commands);
            let want = match case.expect.as_deref() {
                None | Some("fail") => Status::Fail,
                Some("error") => Status::Error,
                Some(other) => panic!("{}: unknown expect {other}", rule.id),
            };
            let (status, evidence) = &got[&rule.id];
            assert_eq!(*status, want, "{} after its mutation: {evidence}", rule.id);
            covered += 1;
        }
    }
    assert_eq!(
        covered,
        m.cases.len(),
        "every case belongs to a translated rule"
    );
}

#[test]
fn metadata_is_carried_over() {
    let (pack, imp) = import("constructs-5x.yml");
    let r = pack
        .rules
        .iter()
        .find(|r| r.id == "vigil_fixture_5x-1003")
        .expect("rule");
    for c in ["pci_dss:2.2.4", "mitre:TA0008", "mitre:T1021"] {
        assert!(r.controls.iter().any(|x| x == c), "{c} in {:?}", r.controls);
    }
    assert!(r.rationale.en.contains("https://example.invalid/ssh-root"));
    assert_eq!(r.title.en, "SSH refuses root logins");
    assert_eq!(pack.id, "sca-vigil_fixture_5x");
    assert_eq!(imp.dialect, vigil_rules::sca::Dialect::Pcre2);
    let (pack4, imp4) = import("constructs-4x.yml");
    assert_eq!(imp4.dialect, vigil_rules::sca::Dialect::OsRegex);
    let r = &pack4.rules[0];
    assert_eq!(r.controls, ["cis:5.2.1", "pci_dss:2.2"]);
    assert_eq!(pack4.applies_to[0].os, "debian");
    assert_eq!(pack4.applies_to[0].versions, ["12"]);
}

#[test]
fn unparsable_input_is_an_error_with_a_line() {
    for (text, want) in [
        ("policy:\n  id: x\nchecks: [\n", "bad.yml:4:"),
        ("checks: []\n", "policy"),
        ("policy: {id: x}\n", "checks"),
        ("policy: {id: ''}\nchecks: []\n", "policy.id"),
    ] {
        let e = import_sca(text, "bad.yml", &ImportOptions::default())
            .expect_err("unparsable")
            .to_string();
        assert!(e.starts_with("bad.yml:"), "{e}");
        assert!(e.contains(want), "{e}");
    }
    // Hostile rule strings never panic: each is translated or listed.
    let text = "policy: {id: h}\nchecks:\n  - {id: 1, name: x, condition: all, rules: ['f:', 'c:\"', 'd:/x -> ', 'n:', 'f:/a -> n:(\\d+) compare', 7]}\n  - {id: 2, condition: all}\n  - [1, 2]\n";
    let imp = import_sca(text, "h.yml", &ImportOptions::default()).expect("parses");
    assert_eq!(imp.translated, 0);
    assert_eq!(imp.untranslated.len(), 3, "{:?}", imp.untranslated);
}

/// Directories of `ruleset/sca` holding Linux distribution policies: each of these must be
/// answered natively for at least [`LINUX_NATIVE_PERCENT`] of its checks.
const LINUX_DIRS: [&str; 10] = [
    "almalinux",
    "amazon",
    "centos",
    "debian",
    "generic",
    "ol",
    "rhel",
    "rocky",
    "sles",
    "ubuntu",
];
const LINUX_NATIVE_PERCENT: usize = 95;

/// Runs the importer over every `*.yml` below `$VIGIL_SCA_POLICIES` (for example a checkout of
/// `ruleset/sca` from wazuh/wazuh), prints per-policy counts, and fails when a Linux distribution
/// policy (a file below one of [`LINUX_DIRS`]) has fewer than 95% of its checks answered natively.
#[test]
fn real_policies_import_when_given() {
    let Some(root) = std::env::var_os("VIGIL_SCA_POLICIES") else {
        // The harness captures `println!`/`eprintln!` of passing tests; a skip must be visible in
        // a plain `cargo test`, so it goes to the process's stderr file.
        let msg = "real_policies_import_when_given: skipped (set VIGIL_SCA_POLICIES to a directory \
                   of Wazuh SCA policies to run it)\n";
        let shown = std::fs::OpenOptions::new()
            .append(true)
            .open("/dev/stderr")
            .and_then(|mut f| io::Write::write_all(&mut f, msg.as_bytes()));
        if shown.is_err() {
            eprint!("{msg}");
        }
        return;
    };
    let mut files = Vec::new();
    let mut stack = vec![PathBuf::from(root)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read policy dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no *.yml policies found");
    let (mut checks, mut translated, mut native) = (0, 0, 0);
    let mut below = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read policy");
        let name = f.display().to_string();
        let imp =
            import_sca(&text, &name, &ImportOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let out = tempfile::tempdir().expect("tempdir");
        let p = out.path().join("pack.yaml");
        std::fs::write(&p, &imp.yaml).expect("write");
        let pack = load_pack(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(pack.rules.len(), imp.translated);
        println!(
            "{name}: {} of {} checks translated ({} natively, {:.1}%), {} untranslated ({})",
            imp.translated,
            imp.checks,
            imp.native,
            100.0 * imp.native as f64 / imp.checks.max(1) as f64,
            imp.untranslated.len(),
            imp.dialect
        );
        let linux = f.components().any(|c| {
            c.as_os_str()
                .to_str()
                .is_some_and(|c| LINUX_DIRS.contains(&c))
        });
        if linux && imp.native * 100 < LINUX_NATIVE_PERCENT * imp.checks {
            below.push(format!(
                "{name}: {:.1}% natively ({} of {})",
                100.0 * imp.native as f64 / imp.checks.max(1) as f64,
                imp.native,
                imp.checks
            ));
        }
        checks += imp.checks;
        translated += imp.translated;
        native += imp.native;
        for u in &imp.untranslated {
            // Group reasons by their wording before any quoted detail.
            let key = u
                .reason
                .split(['"', ':'])
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            *reasons.entry(key).or_default() += 1;
        }
    }
    println!("total: {translated} of {checks} checks translated, {native} natively");
    for (r, n) in &reasons {
        println!("  {n:5}  {r}");
    }
    assert!(
        below.is_empty(),
        "Linux policies below {LINUX_NATIVE_PERCENT}% native:\n{}",
        below.join("\n")
    );
}
