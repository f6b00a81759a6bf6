//! Wazuh SCA import of Windows policies, both ways: `testdata/sca-windows/windows-*.yml` are our
//! own policies in Wazuh's Windows format (registry rules and the common commands). Each is
//! imported; every translated rule must pass on the hardened offline volume of the
//! windows-baseline fixtures and fail after the mutation `cases.yaml` gives for it; the refused
//! forms must be listed with their reason. Facts only a running system has must report an error,
//! never a pass. With `VIGIL_SCA_POLICIES` pointing at a directory of real policies, the Windows
//! ones are imported, must load, and the share translated natively is printed.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;
use serde_norway::Value;
use vigil_proto::{CheckResult, Status};
use vigil_rules::sca::{Import, ImportOptions, import_sca};
use vigil_rules::windows::fixture::{self, Accounts, merge};
use vigil_rules::{Level, RootFacts, evaluate};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    policies: Vec<String>,
    errors: Vec<String>,
    untranslated: BTreeMap<String, String>,
    cases: BTreeMap<String, Case>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default)]
    reg: Option<String>,
    #[serde(default)]
    accounts: Option<Value>,
    /// Other rules reading the same fact, which fail too.
    #[serde(default)]
    also_fails: Vec<String>,
}

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifest() -> Manifest {
    let p = rules_dir().join("testdata/sca-windows/cases.yaml");
    serde_norway::from_str(&std::fs::read_to_string(p).expect("cases.yaml")).expect("cases.yaml")
}

fn import(name: &str) -> Import {
    let p = rules_dir().join("testdata/sca-windows").join(name);
    let text = std::fs::read_to_string(&p).expect("policy");
    import_sca(&text, name, &ImportOptions::default()).expect("policy imports")
}

/// Evaluates `packs` on the hardened fixture volume with `case` applied.
fn run(packs: &[&vigil_rules::Pack], case: &Case) -> BTreeMap<String, CheckResult> {
    let base_dir = rules_dir().join("testdata/windows-baseline");
    let dir = tempfile::tempdir().expect("tempdir");
    let now = SystemTime::now();
    let base = std::fs::read_to_string(base_dir.join("base.reg")).expect("base.reg");
    let text = format!("{base}\n{}", case.reg.as_deref().unwrap_or(""));
    let text = fixture::expand(&text, now).expect("placeholders");
    let cases: Value = serde_norway::from_str(
        &std::fs::read_to_string(base_dir.join("cases.yaml")).expect("baseline cases.yaml"),
    )
    .expect("baseline cases.yaml");
    let mut accounts = cases["accounts"].clone();
    if let Some(a) = &case.accounts {
        merge(&mut accounts, a);
    }
    let accounts: Accounts = serde_norway::from_value(accounts).expect("accounts");
    fixture::build(dir.path(), &text, &accounts, now).expect("hives");
    let host = RootFacts::new(dir.path(), now);
    let level = Level::new(3).expect("level");
    packs
        .iter()
        .flat_map(|p| evaluate(p, &host, level))
        .map(|r| (r.rule_id.clone(), r))
        .collect()
}

#[test]
fn windows_policies_translate_natively_and_hold_both_ways() {
    let m = manifest();
    let imports: Vec<Import> = m.policies.iter().map(|p| import(p)).collect();
    let mut problems = Vec::new();

    // Refused forms are listed, with the reason.
    let listed: BTreeMap<&str, &str> = imports
        .iter()
        .flat_map(|i| &i.untranslated)
        .map(|u| (u.id.as_str(), u.reason.as_str()))
        .collect();
    for (id, why) in &m.untranslated {
        match listed.get(id.as_str()) {
            Some(reason) if reason.contains(why.as_str()) => {}
            Some(reason) => problems.push(format!("{id}: refused for {reason:?}, want {why:?}")),
            None => problems.push(format!("{id}: translated, want refused for {why:?}")),
        }
    }
    for (id, reason) in &listed {
        if !m.untranslated.contains_key(*id) {
            problems.push(format!("{id}: unexpectedly refused: {reason}"));
        }
    }
    // windows-5x.yml requires ProductName ^Windows 10: a Windows platform condition.
    assert!(
        imports[0].yaml.contains("os: windows"),
        "the requirement on ProductName becomes a Windows platform:\n{}",
        imports[0].yaml
    );
    for i in &imports {
        // No imported Windows rule runs a program.
        assert!(!i.yaml.contains("kind: command"), "{}", i.yaml);
    }

    let packs: Vec<&vigil_rules::Pack> = imports.iter().map(|i| &i.pack).collect();
    let ids: BTreeSet<String> = packs
        .iter()
        .flat_map(|p| p.rules.iter().map(|r| r.id.clone()))
        .collect();
    for id in &ids {
        if !m.cases.contains_key(id) && !m.errors.contains(id) {
            problems.push(format!("{id}: translated but has no failing case"));
        }
    }

    let base = run(&packs, &Case::default());
    assert_eq!(
        base.len(),
        ids.len(),
        "every rule applies to the fixture volume"
    );
    for (id, r) in &base {
        let want = if m.errors.contains(id) {
            Status::Error
        } else {
            Status::Pass
        };
        if r.status != want {
            problems.push(format!(
                "{id}: {:?} on the hardened volume, want {want:?}: {}",
                r.status, r.evidence
            ));
        }
    }
    for (id, case) in &m.cases {
        if !ids.contains(id) {
            problems.push(format!("{id}: case for a rule that was not translated"));
            continue;
        }
        let got = run(&packs, case);
        for (rid, r) in &got {
            let want = if rid == id || case.also_fails.contains(rid) {
                Status::Fail
            } else {
                base[rid].status
            };
            if r.status != want {
                problems.push(format!(
                    "case {id}: {rid} is {:?}, want {want:?}: {}",
                    r.status, r.evidence
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Imports the Windows policies below `$VIGIL_SCA_POLICIES` (for example `ruleset/sca/windows`
/// of wazuh/wazuh) and prints, per policy, the share of checks translated natively and the most
/// common reasons for the rest. Every import must give a pack that loads, with no command run.
#[test]
fn real_windows_policies_import_when_given() {
    let Some(root) = std::env::var_os("VIGIL_SCA_POLICIES") else {
        let msg = "real_windows_policies_import_when_given: skipped (set VIGIL_SCA_POLICIES to a \
                   directory of Wazuh SCA policies to run it)\n";
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
    collect(Path::new(&root), &mut files, 0);
    files.sort();
    let mut seen = 0;
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        if !text.contains("r:HKLM") && !text.contains("r:HKEY_LOCAL_MACHINE") {
            continue;
        }
        seen += 1;
        let name = f.display().to_string();
        let i = import_sca(&text, &name, &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!i.yaml.contains("kind: command"), "{name} runs a command");
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for u in &i.untranslated {
            *reasons.entry(reason_class(&u.reason)).or_default() += 1;
        }
        let mut top: Vec<(usize, String)> = reasons.into_iter().map(|(r, n)| (n, r)).collect();
        top.sort_by(|a, b| b.cmp(a));
        println!(
            "{}: {}/{} checks translated natively ({:.1}%)",
            f.file_name().unwrap_or_default().to_string_lossy(),
            i.translated,
            i.checks,
            100.0 * i.translated as f64 / i.checks.max(1) as f64
        );
        for (n, r) in top.iter().take(5) {
            println!("    {n:4}  {r}");
        }
    }
    assert!(
        seen > 0,
        "no Windows policy below {}",
        root.to_string_lossy()
    );
}

/// A reason without the quoted specifics, to group similar ones.
fn reason_class(reason: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in reason.chars() {
        if c == '"' {
            quoted = !quoted;
            if quoted {
                out.push('…');
            }
        } else if !quoted {
            out.push(c);
        }
    }
    out.chars().take(100).collect()
}

/// `*.yml` files below `dir`, at most 6 levels deep and 10,000 files.
fn collect(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if out.len() >= 10_000 {
            return;
        }
        let p = e.path();
        if p.is_dir() && depth < 6 {
            collect(&p, out, depth + 1);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}
