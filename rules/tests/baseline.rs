//! Runs `packs/linux-baseline.yaml` over its fixture trees.
//!
//! `testdata/linux-baseline/base/` is a hardened tree on which every rule must pass;
//! `testdata/linux-baseline/cases.yaml` holds, for every rule, a mutation of that tree that must
//! make exactly this rule (plus any listed `also_fails`) fail, and optional variants that must
//! keep it passing. A rule without a case fails the suite. Ownership is virtual (git cannot store
//! it): every path reads as root:root unless the manifest says otherwise, so the suite runs the
//! same as root or not.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use vigil_proto::{CheckResult, Status};
use vigil_rules::{CommandOutput, FileStat, HostFacts, Level, RootFacts, evaluate, load_pack};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    level: u8,
    attrs: BTreeMap<String, Attr>,
    cases: BTreeMap<String, Case>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct Attr {
    mode: Option<String>,
    uid: Option<u32>,
    gid: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    fail: Mutation,
    #[serde(default)]
    also_fails: Vec<String>,
    #[serde(default)]
    pass: Vec<Mutation>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Mutation {
    level: Option<u8>,
    expect: Option<String>,
    #[serde(default)]
    write: BTreeMap<String, String>,
    #[serde(default)]
    append: BTreeMap<String, String>,
    #[serde(default)]
    replace: BTreeMap<String, Vec<[String; 2]>>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    symlink: BTreeMap<String, String>,
    #[serde(default)]
    mode: BTreeMap<String, String>,
    #[serde(default)]
    uid: BTreeMap<String, u32>,
    #[serde(default)]
    gid: BTreeMap<String, u32>,
    #[serde(default)]
    age: BTreeMap<String, String>,
}

/// [`RootFacts`] with virtual ownership.
struct FixtureFacts {
    inner: RootFacts,
    owners: HashMap<String, (Option<u32>, Option<u32>)>,
}

impl FixtureFacts {
    fn fix(&self, path: &str, mut st: FileStat) -> FileStat {
        let (u, g) = self.owners.get(path).copied().unwrap_or((None, None));
        st.uid = u.unwrap_or(0);
        st.gid = g.unwrap_or(0);
        st
    }
}

impl HostFacts for FixtureFacts {
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
        self.inner.stat(path).map(|s| self.fix(path, s))
    }
    fn lstat(&self, path: &str) -> io::Result<FileStat> {
        self.inner.lstat(path).map(|s| self.fix(path, s))
    }
    fn read_link(&self, path: &str) -> io::Result<String> {
        self.inner.read_link(path)
    }
    fn list_dir(&self, path: &str) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn run(&self, argv: &[String], t: Duration, max: usize) -> Result<CommandOutput, String> {
        self.inner.run(argv, t, max)
    }
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let ft = e.file_type().expect("file type");
        let dst = to.join(e.file_name());
        if ft.is_symlink() {
            let target = std::fs::read_link(e.path()).expect("read_link");
            std::os::unix::fs::symlink(target, &dst).expect("symlink");
        } else if ft.is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
        }
    }
}

fn host(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

fn set_mode(root: &Path, p: &str, mode: &str) {
    use std::os::unix::fs::PermissionsExt;
    let m = u32::from_str_radix(mode, 8).expect("octal mode");
    std::fs::set_permissions(host(root, p), std::fs::Permissions::from_mode(m)).expect("chmod");
}

/// Builds the base tree plus `m` in a temp dir and evaluates the pack on it.
fn run_case(
    pack: &vigil_rules::Pack,
    manifest: &Manifest,
    m: &Mutation,
) -> (tempfile::TempDir, Vec<CheckResult>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    copy_tree(&crate_dir().join("testdata/linux-baseline/base"), root);
    let mut owners: HashMap<String, (Option<u32>, Option<u32>)> = HashMap::new();
    for (p, a) in &manifest.attrs {
        if let Some(mode) = &a.mode {
            set_mode(root, p, mode);
        }
        owners.insert(p.clone(), (a.uid, a.gid));
    }
    for p in &m.remove {
        let h = host(root, p);
        let meta = std::fs::symlink_metadata(&h).unwrap_or_else(|e| panic!("remove {p}: {e}"));
        if meta.is_dir() {
            std::fs::remove_dir_all(h).expect("rm -r");
        } else {
            std::fs::remove_file(h).expect("rm");
        }
    }
    for (p, text) in &m.write {
        let h = host(root, p);
        std::fs::create_dir_all(h.parent().expect("parent")).expect("mkdir");
        std::fs::write(h, text).expect("write");
    }
    for (p, text) in &m.append {
        let h = host(root, p);
        let mut old = std::fs::read_to_string(&h).unwrap_or_else(|e| panic!("append {p}: {e}"));
        old.push_str(text);
        std::fs::write(h, old).expect("write");
    }
    for (p, pairs) in &m.replace {
        let h = host(root, p);
        let mut text = std::fs::read_to_string(&h).unwrap_or_else(|e| panic!("replace {p}: {e}"));
        for [from, to] in pairs {
            assert!(
                text.contains(from.as_str()),
                "replace in {p}: {from:?} not found"
            );
            text = text.replace(from.as_str(), to);
        }
        std::fs::write(h, text).expect("write");
    }
    for (p, target) in &m.symlink {
        let h = host(root, p);
        std::fs::create_dir_all(h.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, h).expect("symlink");
    }
    for (p, mode) in &m.mode {
        set_mode(root, p, mode);
    }
    for (p, u) in &m.uid {
        owners.entry(p.clone()).or_default().0 = Some(*u);
    }
    for (p, g) in &m.gid {
        owners.entry(p.clone()).or_default().1 = Some(*g);
    }
    let now = SystemTime::now();
    for (p, age) in &m.age {
        let secs = vigil_rules::compare::parse_timespan(age).expect("age is a duration");
        let f = std::fs::File::options()
            .write(true)
            .open(host(root, p))
            .expect("open");
        f.set_modified(now - Duration::from_secs_f64(secs))
            .expect("set mtime");
    }
    let facts = FixtureFacts {
        inner: RootFacts::new(root, now),
        owners,
    };
    let level = Level::new(m.level.unwrap_or(manifest.level)).expect("level 1-5");
    let results = evaluate(pack, &facts, level);
    (dir, results)
}

fn not_passing(results: &[CheckResult]) -> BTreeMap<String, (Status, String)> {
    results
        .iter()
        .filter(|r| r.status != Status::Pass)
        .map(|r| (r.rule_id.clone(), (r.status, r.evidence.clone())))
        .collect()
}

#[test]
fn every_rule_passes_on_base_and_fails_on_its_fixture() {
    let pack = load_pack(&crate_dir().join("packs/linux-baseline.yaml")).expect("pack loads");
    let text = std::fs::read_to_string(crate_dir().join("testdata/linux-baseline/cases.yaml"))
        .expect("manifest");
    let manifest: Manifest = serde_yaml::from_str(&text).expect("manifest parses");
    let ids: BTreeSet<String> = pack.rules.iter().map(|r| r.id.clone()).collect();
    let mut problems = Vec::new();

    for id in &ids {
        if !manifest.cases.contains_key(id) {
            problems.push(format!("{id}: no fixture case"));
        }
    }
    for id in manifest.cases.keys() {
        if !ids.contains(id) {
            problems.push(format!("{id}: case for an unknown rule"));
        }
    }

    let (_d, base) = run_case(&pack, &manifest, &Mutation::default());
    assert_eq!(base.len(), ids.len());
    for (id, (st, ev)) in not_passing(&base) {
        problems.push(format!("{id}: {st} on the base tree: {ev}"));
    }

    // Cases are independent trees; check them on a few threads (the suite builds ~180 trees).
    let cases: Vec<(&String, &Case)> = manifest.cases.iter().collect();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4);
    let chunk = cases.len().div_ceil(workers).max(1);
    let found: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(chunk)
            .map(|part| {
                s.spawn(|| {
                    part.iter()
                        .flat_map(|(id, c)| check_case(&pack, &manifest, id, c))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("case worker"))
            .collect()
    });
    problems.extend(found);
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        ids.len() >= 80,
        "the baseline must have at least 80 rules, has {}",
        ids.len()
    );
}

fn check_case(pack: &vigil_rules::Pack, manifest: &Manifest, id: &str, case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let (_d, res) = run_case(pack, manifest, &case.fail);
    let bad = not_passing(&res);
    let mut expected: BTreeSet<String> = case.also_fails.iter().cloned().collect();
    expected.insert(id.to_string());
    match bad.get(id) {
        Some((Status::Fail, _)) => {}
        other => problems.push(format!("{id}: fail fixture gave {other:?}")),
    }
    for (other, (st, ev)) in &bad {
        if !expected.contains(other) {
            problems.push(format!(
                "{id}: fail fixture also broke {other} ({st}: {ev})"
            ));
        } else if *st != Status::Fail {
            problems.push(format!("{id}: {other} is {st}, expected fail: {ev}"));
        }
    }
    for want in &expected {
        if !bad.contains_key(want) {
            problems.push(format!("{id}: expected {want} to fail too, it passed"));
        }
    }
    for (k, variant) in case.pass.iter().enumerate() {
        let (_d, res) = run_case(pack, manifest, variant);
        let want = variant.expect.as_deref().unwrap_or("pass");
        let got = res
            .iter()
            .find(|r| r.rule_id == id)
            .expect("result for rule");
        if got.status.as_str() != want {
            problems.push(format!(
                "{id}: pass variant {k} gave {} (want {want}): {}",
                got.status, got.evidence
            ));
        }
    }
    problems
}

#[test]
fn baseline_rules_are_complete() {
    let pack = load_pack(&crate_dir().join("packs/linux-baseline.yaml")).expect("pack loads");
    for r in &pack.rules {
        assert!(
            r.controls.iter().any(|c| c.starts_with("tcvn-14423:")),
            "{}: no TCVN control",
            r.id
        );
        for t in [&r.title, &r.rationale, &r.remediation] {
            assert!(
                !t.vi.trim().is_empty() && !t.en.trim().is_empty(),
                "{}: empty text",
                r.id
            );
            assert_ne!(
                t.vi, t.en,
                "{}: Vietnamese text is a copy of the English",
                r.id
            );
        }
    }
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
