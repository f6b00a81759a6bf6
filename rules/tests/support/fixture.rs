//! Pass-and-fail fixtures of a built-in pack.
//!
//! `testdata/<pack>/base/` is a hardened tree on which every rule must pass; `cases.yaml` holds,
//! for every rule, a mutation of that tree that must make exactly this rule (plus any listed
//! `also_fails`) fail, and optional variants that must keep it passing. A rule without a case
//! fails the suite. Ownership is virtual (git cannot store it): every path reads as root:root
//! unless the manifest says otherwise, so the suite runs the same as root or not.
//!
//! A manifest may name `roots`: overlays of the base tree (another OS release) that every case
//! runs on. A root may carry an rpm database built from the manifest's `packages` with Debian's
//! rpm tools ([`super::rpmdb`]); cases then add or remove packages by name.

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use vigil_proto::{CheckResult, Status};
use vigil_rules::{CommandOutput, FileStat, HostFacts, Level, Pack, RootFacts, evaluate};

use super::rpmdb::{self, BdbLayout, StandIn};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub level: u8,
    pub attrs: BTreeMap<String, Attr>,
    /// Stand-in packages: `installed` are in every root's database, `extra` only where a case
    /// adds them. Each is `name [epoch:]version-release [arch]`.
    #[serde(default)]
    pub packages: Option<Packages>,
    /// Roots every case runs on; none means the base tree alone.
    #[serde(default)]
    pub roots: BTreeMap<String, Root>,
    pub cases: BTreeMap<String, Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packages {
    pub installed: Vec<String>,
    #[serde(default)]
    pub extra: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    /// `sqlite` (rpm 4.16+, RHEL 9) or `bdb` (Berkeley DB, RHEL 8).
    pub rpmdb: Option<String>,
    /// Changes to the base tree that make this root.
    #[serde(default)]
    pub overlay: Mutation,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Attr {
    pub mode: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub fail: Mutation,
    #[serde(default)]
    pub also_fails: Vec<String>,
    #[serde(default)]
    pub pass: Vec<Mutation>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Mutation {
    pub level: Option<u8>,
    pub expect: Option<String>,
    /// Only on these roots (default: every root).
    #[serde(default)]
    pub roots: Vec<String>,
    #[serde(default)]
    pub write: BTreeMap<String, String>,
    #[serde(default)]
    pub append: BTreeMap<String, String>,
    #[serde(default)]
    pub replace: BTreeMap<String, Vec<[String; 2]>>,
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub symlink: BTreeMap<String, String>,
    #[serde(default)]
    pub mode: BTreeMap<String, String>,
    #[serde(default)]
    pub uid: BTreeMap<String, u32>,
    #[serde(default)]
    pub gid: BTreeMap<String, u32>,
    #[serde(default)]
    pub age: BTreeMap<String, String>,
    /// Package names taken out of the root's rpm database.
    #[serde(default)]
    pub remove_packages: Vec<String>,
    /// `extra` packages put into the root's rpm database.
    #[serde(default)]
    pub add_packages: Vec<String>,
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
    fn read_capped(&self, path: &str, max: u64) -> io::Result<Vec<u8>> {
        self.inner.read_capped(path, max)
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

fn parse_stand_in(s: &str) -> StandIn {
    let f: Vec<&str> = s.split_whitespace().collect();
    let leak = |x: &str| -> &'static str { Box::leak(x.to_string().into_boxed_str()) };
    let (name, evr) = match f.as_slice() {
        [n, evr] | [n, evr, _] => (*n, *evr),
        _ => panic!("package {s:?}: expected `name [epoch:]version-release [arch]`"),
    };
    let (epoch, vr) = match evr.split_once(':') {
        Some((e, vr)) => (Some(e.parse().expect("epoch")), vr),
        None => (None, evr),
    };
    let (version, release) = vr.rsplit_once('-').expect("version-release");
    StandIn {
        name: leak(name),
        epoch,
        version: leak(version),
        release: leak(release),
        arch: leak(f.get(2).copied().unwrap_or("x86_64")),
    }
}

/// A database file: its name under `/var/lib/rpm` and its bytes.
type DbFile = (&'static str, Vec<u8>);

/// Header blobs of every stand-in package, by name, built once per suite.
pub struct PackageSet {
    installed: Vec<String>,
    blobs: BTreeMap<String, Vec<Vec<u8>>>,
    /// A database rpm wrote with every package, to trim per tree.
    template: PathBuf,
    /// Databases already built, by kind and package set.
    built: Mutex<HashMap<(String, Vec<String>), DbFile>>,
    _work: tempfile::TempDir,
}

impl PackageSet {
    fn build(p: &Packages) -> PackageSet {
        let work = tempfile::tempdir().expect("tempdir");
        let all: Vec<StandIn> = p
            .installed
            .iter()
            .chain(&p.extra)
            .map(|s| parse_stand_in(s))
            .collect();
        let rpms = rpmdb::build(work.path(), &all);
        let root = work.path().join("template");
        rpmdb::install(&root, &rpms);
        let db = root.join("var/lib/rpm/rpmdb.sqlite");
        let c = rusqlite::Connection::open(&db).expect("open template");
        let mut blobs: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        let names: Vec<(String, u32)> = c
            .prepare("SELECT key, hnum FROM Name")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let by_hnum: BTreeMap<u32, Vec<u8>> = rpmdb::blobs(&db).into_iter().collect();
        for (name, h) in names {
            blobs.entry(name).or_default().push(by_hnum[&h].clone());
        }
        PackageSet {
            installed: p
                .installed
                .iter()
                .map(|s| parse_stand_in(s).name.to_string())
                .collect(),
            blobs,
            template: db,
            built: Mutex::default(),
            _work: work,
        }
    }

    /// Writes the database of `root` holding the installed packages, less `remove`, plus `add`.
    /// Databases are built once per distinct package set and copied into each tree.
    fn write(&self, root: &Path, kind: &str, remove: &[String], add: &[String]) {
        for n in remove.iter().chain(add) {
            assert!(
                self.blobs.contains_key(n),
                "package {n} is not in the manifest"
            );
        }
        let mut keep: Vec<String> = self
            .installed
            .iter()
            .filter(|n| !remove.contains(n))
            .chain(add)
            .cloned()
            .collect();
        keep.sort();
        keep.dedup();
        let key = (kind.to_string(), keep.clone());
        let built = {
            let mut cache = self.built.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .entry(key)
                .or_insert_with(|| self.build_db(kind, &keep))
                .clone()
        };
        let dir = root.join("var/lib/rpm");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(built.0), built.1).expect("write the rpm database");
    }

    /// The file name and bytes of a database holding exactly `keep`.
    fn build_db(&self, kind: &str, keep: &[String]) -> DbFile {
        match kind {
            "sqlite" => {
                let work = tempfile::tempdir().expect("tempdir");
                let db = work.path().join("rpmdb.sqlite");
                std::fs::copy(&self.template, &db).expect("copy rpmdb.sqlite");
                {
                    let c = rusqlite::Connection::open(&db).expect("open");
                    // Erase as rpm does: the index rows first (foreign keys), then the header.
                    let tables: Vec<String> = c
                        .prepare(
                            "SELECT name FROM sqlite_master WHERE type = 'table' \
                             AND sql LIKE '%hnum INTEGER NOT NULL%'",
                        )
                        .expect("prepare")
                        .query_map([], |r| r.get(0))
                        .expect("query")
                        .collect::<Result<_, _>>()
                        .expect("tables");
                    for n in self.blobs.keys().filter(|n| !keep.contains(n)) {
                        let hnums: Vec<i64> = c
                            .prepare("SELECT hnum FROM Name WHERE key = ?1")
                            .expect("prepare")
                            .query_map([n], |r| r.get(0))
                            .expect("query")
                            .collect::<Result<_, _>>()
                            .expect("hnums");
                        for h in hnums {
                            for t in &tables {
                                c.execute(&format!("DELETE FROM \"{t}\" WHERE hnum = ?1"), [h])
                                    .expect("delete index rows");
                            }
                            c.execute("DELETE FROM Packages WHERE hnum = ?1", [h])
                                .expect("delete header");
                        }
                    }
                    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
                        .expect("checkpoint");
                }
                (
                    "rpmdb.sqlite",
                    std::fs::read(&db).expect("read rpmdb.sqlite"),
                )
            }
            "bdb" => {
                let records: Vec<(u32, Vec<u8>)> = keep
                    .iter()
                    .flat_map(|n| self.blobs[n].iter().cloned())
                    .enumerate()
                    .map(|(i, b)| (i as u32 + 1, b))
                    .collect();
                ("Packages", rpmdb::write_bdb(&records, BdbLayout::default()))
            }
            other => panic!("unknown rpmdb kind {other:?}"),
        }
    }
}

/// A pack with its fixture manifest.
pub struct Suite {
    pub pack: Pack,
    pub manifest: Manifest,
    pub data: PathBuf,
    pub packages: Option<PackageSet>,
}

impl Suite {
    /// Loads `packs/<name>.yaml` and `testdata/<name>/cases.yaml`; builds the rpm packages when the
    /// manifest has some (`None` when the rpm tools are missing outside CI).
    pub fn load(name: &str) -> Option<Suite> {
        let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let pack = vigil_rules::load_pack(&crate_dir.join(format!("packs/{name}.yaml")))
            .expect("pack loads");
        let data = crate_dir.join("testdata").join(name);
        let text = std::fs::read_to_string(data.join("cases.yaml")).expect("manifest");
        let manifest: Manifest = serde_norway::from_str(&text).expect("manifest parses");
        let packages = match &manifest.packages {
            None => None,
            Some(p) => {
                if !rpmdb::rpm_tools(&format!("{name} fixtures")) {
                    return None;
                }
                Some(PackageSet::build(p))
            }
        };
        Some(Suite {
            pack,
            manifest,
            data,
            packages,
        })
    }

    /// Root names every case runs on (`""`: the base tree alone).
    pub fn roots(&self) -> Vec<String> {
        if self.manifest.roots.is_empty() {
            vec![String::new()]
        } else {
            self.manifest.roots.keys().cloned().collect()
        }
    }

    /// Builds the base tree, the root's overlay and `m` in a temp dir and evaluates the pack.
    pub fn run(&self, root_name: &str, m: &Mutation) -> (tempfile::TempDir, Vec<CheckResult>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        copy_tree(&self.data.join("base"), root);
        let mut owners: HashMap<String, (Option<u32>, Option<u32>)> = HashMap::new();
        for (p, a) in &self.manifest.attrs {
            if let Some(mode) = &a.mode {
                set_mode(root, p, mode);
            }
            owners.insert(p.clone(), (a.uid, a.gid));
        }
        let r = self.manifest.roots.get(root_name);
        if let Some(r) = r {
            apply(root, &r.overlay, &mut owners);
        }
        apply(root, m, &mut owners);
        if let (Some(set), Some(kind)) = (&self.packages, r.and_then(|r| r.rpmdb.as_deref())) {
            let mut remove = r
                .map(|r| r.overlay.remove_packages.clone())
                .unwrap_or_default();
            remove.extend(m.remove_packages.iter().cloned());
            let mut add = r
                .map(|r| r.overlay.add_packages.clone())
                .unwrap_or_default();
            add.extend(m.add_packages.iter().cloned());
            set.write(root, kind, &remove, &add);
        }
        let facts = FixtureFacts {
            inner: RootFacts::new(root, SystemTime::now()),
            owners,
        };
        let level = Level::new(m.level.unwrap_or(self.manifest.level)).expect("level 1-5");
        let results = evaluate(&self.pack, &facts, level);
        (dir, results)
    }

    /// Every rule passes on each root and fails on its case; returns the problems found.
    pub fn check_all(&self) -> Vec<String> {
        let ids: BTreeSet<String> = self.pack.rules.iter().map(|r| r.id.clone()).collect();
        let mut problems = Vec::new();
        for id in &ids {
            if !self.manifest.cases.contains_key(id) {
                problems.push(format!("{id}: no fixture case"));
            }
        }
        for id in self.manifest.cases.keys() {
            if !ids.contains(id) {
                problems.push(format!("{id}: case for an unknown rule"));
            }
        }
        let mut jobs: Vec<(String, &String, &Case)> = Vec::new();
        for root in self.roots() {
            let (_d, base) = self.run(&root, &Mutation::default());
            assert_eq!(base.len(), ids.len());
            for (id, (st, ev)) in not_passing(&base) {
                problems.push(format!("{root}: {id}: {st} on the base tree: {ev}"));
            }
            for (id, c) in &self.manifest.cases {
                if c.fail.roots.is_empty() || c.fail.roots.contains(&root) {
                    jobs.push((root.clone(), id, c));
                }
            }
        }
        // Cases are independent trees; check them on a few threads.
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4);
        let chunk = jobs.len().div_ceil(workers).max(1);
        let found: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = jobs
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .flat_map(|(root, id, c)| self.check_case(root, id, c))
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
        problems
    }

    fn check_case(&self, root: &str, id: &str, case: &Case) -> Vec<String> {
        let mut problems = Vec::new();
        let (_d, res) = self.run(root, &case.fail);
        let bad = not_passing(&res);
        let mut expected: BTreeSet<String> = case.also_fails.iter().cloned().collect();
        expected.insert(id.to_string());
        match bad.get(id) {
            Some((Status::Fail, _)) => {}
            other => problems.push(format!("{root}: {id}: fail fixture gave {other:?}")),
        }
        for (other, (st, ev)) in &bad {
            if !expected.contains(other) {
                problems.push(format!(
                    "{root}: {id}: fail fixture also broke {other} ({st}: {ev})"
                ));
            } else if *st != Status::Fail {
                problems.push(format!(
                    "{root}: {id}: {other} is {st}, expected fail: {ev}"
                ));
            }
        }
        for want in &expected {
            if !bad.contains_key(want) {
                problems.push(format!(
                    "{root}: {id}: expected {want} to fail too, it passed"
                ));
            }
        }
        for (k, variant) in case.pass.iter().enumerate() {
            if !variant.roots.is_empty() && !variant.roots.iter().any(|r| r == root) {
                continue;
            }
            let (_d, res) = self.run(root, variant);
            let want = variant.expect.as_deref().unwrap_or("pass");
            let got = res
                .iter()
                .find(|r| r.rule_id == id)
                .expect("result for rule");
            if got.status.as_str() != want {
                problems.push(format!(
                    "{root}: {id}: pass variant {k} gave {} (want {want}): {}",
                    got.status, got.evidence
                ));
            }
        }
        problems
    }
}

fn apply(root: &Path, m: &Mutation, owners: &mut HashMap<String, (Option<u32>, Option<u32>)>) {
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
        let _ = std::fs::remove_file(&h);
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
}

pub fn not_passing(results: &[CheckResult]) -> BTreeMap<String, (Status, String)> {
    results
        .iter()
        .filter(|r| r.status != Status::Pass)
        .map(|r| (r.rule_id.clone(), (r.status, r.evidence.clone())))
        .collect()
}

/// Every rule cites a TCVN control and has translated texts.
pub fn rules_are_complete(pack: &Pack) {
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
