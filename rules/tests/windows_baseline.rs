//! Runs `packs/windows-baseline.yaml` over offline Windows volumes built from text.
//!
//! `testdata/windows-baseline/base.reg` plus the `accounts` records of `cases.yaml` are written as
//! hive files (SOFTWARE, SYSTEM, SAM, SECURITY) under `Windows/System32/config` of a temporary
//! root: a hardened Windows 11 Enterprise workstation on which every rule passes. Every rule has a
//! case whose mutation must make exactly it fail (plus the listed `also_fails`/`also_errors`), and
//! optional variants with their expected status. A rule without a case fails the suite.
//!
//! Facts only a running system has (BitLocker, Security Center) come from the manifest's `live`
//! section through a stand-in at the seam: the offline reader answers "unknown" for them, which
//! the variants with `null` check.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_norway::Value;
use vigil_proto::{CheckResult, Status};
use vigil_rules::windows::fixture::{self, Accounts, merge};
use vigil_rules::windows::offline::HiveFacts;
use vigil_rules::windows::{
    AccountPolicy, AuditPolicy, AvProduct, LocalUser, RegPath, RegValue, RegView, UserRights,
    WindowsFacts,
};
use vigil_rules::{CommandOutput, FileStat, HostFacts, Level, RootFacts, evaluate, load_pack};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    level: u8,
    accounts: Value,
    live: Value,
    cases: BTreeMap<String, Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
    #[serde(default)]
    base: Option<String>,
    fail: Mutation,
    #[serde(default)]
    also_fails: Vec<String>,
    #[serde(default)]
    also_errors: Vec<String>,
    #[serde(default)]
    pass: Vec<Mutation>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Mutation {
    #[serde(default)]
    reg: Option<String>,
    #[serde(default)]
    accounts: Option<Value>,
    #[serde(default)]
    live: Option<Value>,
    #[serde(default)]
    level: Option<u8>,
    #[serde(default)]
    expect: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct Live {
    #[serde(default)]
    bitlocker: Option<bool>,
    #[serde(default)]
    antivirus: Option<Vec<Av>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Av {
    name: String,
    enabled: bool,
    up_to_date: bool,
}

/// The offline hives plus canned answers for live-only facts.
#[derive(Debug)]
struct Overlay {
    hives: HiveFacts,
    bitlocker: Option<bool>,
    antivirus: Option<Vec<AvProduct>>,
}

impl WindowsFacts for Overlay {
    fn reg_values(&self, key: &RegPath, view: RegView) -> Result<Option<Vec<RegValue>>, String> {
        self.hives.reg_values(key, view)
    }
    fn reg_subkeys(&self, key: &RegPath, view: RegView) -> Result<Option<Vec<String>>, String> {
        self.hives.reg_subkeys(key, view)
    }
    fn account_policy(&self) -> Result<AccountPolicy, String> {
        self.hives.account_policy()
    }
    fn local_users(&self) -> Result<Vec<LocalUser>, String> {
        self.hives.local_users()
    }
    fn audit_policy(&self) -> Result<AuditPolicy, String> {
        self.hives.audit_policy()
    }
    fn user_rights(&self) -> Result<UserRights, String> {
        self.hives.user_rights()
    }
    fn domain_member(&self) -> Result<bool, String> {
        self.hives.domain_member()
    }
    fn antivirus_products(&self) -> Result<Vec<AvProduct>, String> {
        self.antivirus
            .clone()
            .ok_or_else(|| "Security Center products unknown (fixture)".into())
    }
    fn bitlocker_system_volume(&self) -> Result<bool, String> {
        self.bitlocker
            .ok_or_else(|| "BitLocker state unknown (fixture)".into())
    }
}

struct Host {
    root: RootFacts,
    win: Overlay,
}

impl HostFacts for Host {
    fn now(&self) -> SystemTime {
        self.root.now()
    }
    fn is_live(&self) -> bool {
        false
    }
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.root.read(path)
    }
    fn stat(&self, path: &str) -> io::Result<FileStat> {
        self.root.stat(path)
    }
    fn lstat(&self, path: &str) -> io::Result<FileStat> {
        self.root.lstat(path)
    }
    fn read_link(&self, path: &str) -> io::Result<String> {
        self.root.read_link(path)
    }
    fn list_dir(&self, path: &str) -> io::Result<Vec<String>> {
        self.root.list_dir(path)
    }
    fn run(&self, argv: &[String], t: Duration, max: usize) -> Result<CommandOutput, String> {
        self.root.run(argv, t, max)
    }
    fn windows(&self) -> Option<&dyn WindowsFacts> {
        Some(&self.win)
    }
}

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/windows-baseline")
}

fn run_case(
    pack: &vigil_rules::Pack,
    manifest: &Manifest,
    m: &Mutation,
) -> (tempfile::TempDir, Vec<CheckResult>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = SystemTime::now();
    let base = std::fs::read_to_string(testdata().join("base.reg")).expect("base.reg");
    let text = format!("{base}\n{}", m.reg.as_deref().unwrap_or(""));
    let text = fixture::expand(&text, now).expect("placeholders");
    let mut accounts = manifest.accounts.clone();
    if let Some(a) = &m.accounts {
        merge(&mut accounts, a);
    }
    let accounts: Accounts = serde_norway::from_value(accounts).expect("accounts");
    let mut live = manifest.live.clone();
    if let Some(l) = &m.live {
        merge(&mut live, l);
    }
    let live: Live = serde_norway::from_value(live).expect("live");
    fixture::build(dir.path(), &text, &accounts, now).expect("hives");
    let host = Host {
        root: RootFacts::new(dir.path(), now),
        win: Overlay {
            hives: HiveFacts::detect(dir.path()).expect("hive layout"),
            bitlocker: live.bitlocker,
            antivirus: live.antivirus.map(|v| {
                v.into_iter()
                    .map(|a| AvProduct {
                        name: a.name,
                        enabled: a.enabled,
                        up_to_date: a.up_to_date,
                    })
                    .collect()
            }),
        },
    };
    let level = Level::new(m.level.unwrap_or(manifest.level)).expect("level 1-5");
    let results = evaluate(pack, &host, level);
    (dir, results)
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(testdata().join("cases.yaml")).expect("cases.yaml");
    serde_norway::from_str(&text).expect("cases.yaml parses")
}

fn pack() -> vigil_rules::Pack {
    load_pack(&Path::new(env!("CARGO_MANIFEST_DIR")).join("packs/windows-baseline.yaml"))
        .expect("pack loads")
}

#[test]
fn every_rule_passes_on_base_and_fails_on_its_fixture() {
    let pack = pack();
    let manifest = manifest();
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
    for r in &base {
        let want = manifest
            .cases
            .get(&r.rule_id)
            .and_then(|c| c.base.as_deref())
            .unwrap_or("pass");
        if r.status.as_str() != want {
            problems.push(format!(
                "{}: {} on the base (want {want}): {}",
                r.rule_id, r.status, r.evidence
            ));
        }
    }
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
}

fn check_case(pack: &vigil_rules::Pack, manifest: &Manifest, id: &str, case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let (_d, res) = run_case(pack, manifest, &case.fail);
    let mut expected: BTreeMap<&str, Status> = BTreeMap::new();
    expected.insert(id, Status::Fail);
    for f in &case.also_fails {
        expected.insert(f, Status::Fail);
    }
    for e in &case.also_errors {
        expected.insert(e, Status::Error);
    }
    for r in &res {
        let want = expected.get(r.rule_id.as_str()).copied();
        match (r.status, want) {
            // Another role or edition makes rules not applicable; that is not a break.
            (Status::Pass | Status::NotApplicable, None) => {}
            (got, Some(w)) if got == w => {}
            (got, Some(w)) => problems.push(format!(
                "{id}: fixture gave {} {got} (want {w}): {}",
                r.rule_id, r.evidence
            )),
            (got, None) => problems.push(format!(
                "{id}: fixture also broke {} ({got}: {})",
                r.rule_id, r.evidence
            )),
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
                "{id}: variant {k} gave {} (want {want}): {}",
                got.status, got.evidence
            ));
        }
    }
    problems
}

#[test]
fn windows_rules_are_complete() {
    let pack = pack();
    assert!(
        pack.rules.len() >= 100,
        "the Windows baseline must have at least 100 rules, has {}",
        pack.rules.len()
    );
    for r in &pack.rules {
        assert!(r.id.starts_with("win-"), "{}: ids start with win-", r.id);
        assert!(
            r.controls.iter().any(|c| c.starts_with("tcvn-14423:x.")),
            "{}: no TCVN per-level control",
            r.id
        );
        assert!(
            r.controls
                .iter()
                .all(|c| c.starts_with("tcvn-14423:") || c.starts_with("cis-win11:")),
            "{}: unexpected control scheme in {:?}",
            r.id,
            r.controls
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
        // Vietnamese text is written with its diacritics.
        assert!(
            !r.title.vi.is_ascii(),
            "{}: Vietnamese title without diacritics: {}",
            r.id,
            r.title.vi
        );
        let rem = &r.remediation.en;
        assert!(
            rem.contains("PowerShell") || rem.contains("Windows Security"),
            "{}: remediation names no PowerShell command",
            r.id
        );
    }
}
