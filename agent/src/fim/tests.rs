//! Cross-module FIM tests on real temp trees: a model-based property test of baseline + check,
//! CLI exit codes and JSON, crash safety of the baseline under `kill -9`, and the realtime engine
//! with real inotify (changes, queue overflow, watch limit).
//!
//! The model test *accumulates*: the baseline is taken once and every check must report exactly
//! the difference between the model's state at baseline time and its current state; a
//! `Rebaseline` operation moves that reference point. `mtime` and `inode` are left out of the
//! comparison because the model cannot predict them (coarse timestamps, inode reuse); both are
//! covered by dedicated tests.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use vigil_proto::{FileEventKind, Finding, FindingSink, HealthKind};

use super::*;
use crate::fim::config::RawPathSpec;
use crate::fim::scan::hash_bytes;

fn cfg(paths: &[&str]) -> FimConfig {
    RawFimConfig {
        paths: Some(
            paths
                .iter()
                .map(|p| RawPathSpec::Plain(p.to_string()))
                .collect(),
        ),
        debounce: Some("50ms".into()),
        ..Default::default()
    }
    .validate()
    .expect("valid config")
}

fn opts(root: &Path, full: bool) -> FimCliOptions {
    FimCliOptions {
        root: root.to_path_buf(),
        paths: Vec::new(),
        format: OutputFormat::Json,
        full,
        progress: Some(false),
    }
}

/// Reported changes as (path, kind, changed attributes).
type Reported = Vec<(String, String, Vec<String>)>;

/// Runs `fim check` and returns (exit code, [(path, kind, changed)]).
fn check(cfg: &FimConfig, o: &FimCliOptions, state: &Path) -> (u8, Reported, serde_json::Value) {
    let mut out = Vec::new();
    let code = run_check(cfg, o, state, &mut out).expect("check runs");
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json output");
    let changes = v["changes"]
        .as_array()
        .expect("changes array")
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap_or_default().to_string(),
                c["kind"].as_str().unwrap_or_default().to_string(),
                c["changed"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| x.as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect();
    (code, changes, v)
}

// ---------------------------------------------------------------------------------------------
// Model-based property test.

#[derive(Debug, Clone, PartialEq)]
enum Node {
    File {
        content: Vec<u8>,
        mode: u32,
        uid: u32,
    },
    Link {
        target: String,
    },
    Dir {
        mode: u32,
    },
}

#[derive(Debug, Clone)]
enum Op {
    Write(usize, Vec<u8>),
    Truncate(usize, usize),
    Delete(usize),
    Rename(usize, usize),
    Chmod(usize, u32),
    Chown(usize, u32),
    SymlinkSwap(usize, usize),
    MkDir,
    Check { full: bool },
    Rebaseline,
}

const NAMES: &[&str] = &["/t/a", "/t/b", "/t/c", "/t/d/x", "/t/d/y"];
const TARGETS: &[&str] = &["a", "/etc/passwd", "../nowhere", "d/x"];

fn op() -> impl Strategy<Value = Op> {
    let name = 0..NAMES.len();
    prop_oneof![
        4 => (name.clone(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(n, c)| Op::Write(n, c)),
        1 => (name.clone(), 0usize..8).prop_map(|(n, l)| Op::Truncate(n, l)),
        2 => name.clone().prop_map(Op::Delete),
        2 => (name.clone(), name.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => (name.clone(), prop::sample::select(vec![0o600u32, 0o644, 0o755, 0o4755])).prop_map(|(n, m)| Op::Chmod(n, m)),
        1 => (name.clone(), 1000u32..1003).prop_map(|(n, u)| Op::Chown(n, u)),
        1 => (name.clone(), 0..TARGETS.len()).prop_map(|(n, t)| Op::SymlinkSwap(n, t)),
        1 => Just(Op::MkDir),
        2 => any::<bool>().prop_map(|full| Op::Check { full }),
        2 => Just(Op::Rebaseline),
    ]
}

fn fsp(root: &Path, host: &str) -> std::path::PathBuf {
    root.join(host.trim_start_matches('/'))
}

fn parent_exists(model: &BTreeMap<String, Node>, host: &str) -> bool {
    let parent = &host[..host.rfind('/').unwrap_or(0)];
    matches!(model.get(parent), Some(Node::Dir { .. }))
}

/// Applies `op` to the real tree and the model (only when it is valid for both).
fn apply(root: &Path, model: &mut BTreeMap<String, Node>, op: &Op, is_root: bool) {
    match op {
        Op::Write(n, content) => {
            let h = NAMES[*n];
            if !parent_exists(model, h) {
                return;
            }
            match model.get_mut(h) {
                Some(Node::File { content: c, .. }) => {
                    fs::write(fsp(root, h), content).expect("write");
                    *c = content.clone();
                }
                None => {
                    fs::write(fsp(root, h), content).expect("create");
                    let mode =
                        fs::metadata(fsp(root, h)).expect("md").permissions().mode() & 0o7777;
                    model.insert(
                        h.into(),
                        Node::File {
                            content: content.clone(),
                            mode,
                            uid: 0,
                        },
                    );
                }
                _ => {}
            }
        }
        Op::Truncate(n, len) => {
            if let Some(Node::File { content, .. }) = model.get_mut(NAMES[*n]) {
                let l = (*len).min(content.len());
                let f = fs::OpenOptions::new()
                    .write(true)
                    .open(fsp(root, NAMES[*n]))
                    .expect("open");
                f.set_len(l as u64).expect("truncate");
                content.truncate(l);
            }
        }
        Op::Delete(n) => {
            let h = NAMES[*n];
            if model.remove(h).is_some() {
                fs::remove_file(fsp(root, h)).expect("rm");
            }
        }
        Op::Rename(a, b) => {
            let (ha, hb) = (NAMES[*a], NAMES[*b]);
            if ha == hb || !parent_exists(model, hb) {
                return;
            }
            if let Some(node) = model.get(ha).cloned() {
                fs::rename(fsp(root, ha), fsp(root, hb)).expect("rename");
                model.remove(ha);
                model.insert(hb.into(), node);
            }
        }
        Op::Chmod(n, m) => {
            if let Some(Node::File { mode, .. }) = model.get_mut(NAMES[*n]) {
                fs::set_permissions(fsp(root, NAMES[*n]), fs::Permissions::from_mode(*m))
                    .expect("chmod");
                *mode = *m;
            }
        }
        Op::Chown(n, u) => {
            if !is_root {
                return;
            }
            if let Some(Node::File { uid, mode, .. }) = model.get_mut(NAMES[*n]) {
                std::os::unix::fs::chown(fsp(root, NAMES[*n]), Some(*u), None).expect("chown");
                *uid = *u;
                // chown clears set-uid bits on regular files.
                *mode &= !0o6000;
            }
        }
        Op::SymlinkSwap(n, t) => {
            let h = NAMES[*n];
            if !parent_exists(model, h) || matches!(model.get(h), Some(Node::Dir { .. })) {
                return;
            }
            let tmp = fsp(root, "/t/.swap-tmp");
            std::os::unix::fs::symlink(TARGETS[*t], &tmp).expect("symlink");
            fs::rename(&tmp, fsp(root, h)).expect("swap");
            model.insert(
                h.into(),
                Node::Link {
                    target: TARGETS[*t].into(),
                },
            );
        }
        Op::MkDir => {
            if !model.contains_key("/t/d") {
                fs::create_dir(fsp(root, "/t/d")).expect("mkdir");
                let mode = fs::metadata(fsp(root, "/t/d"))
                    .expect("md")
                    .permissions()
                    .mode()
                    & 0o7777;
                model.insert("/t/d".into(), Node::Dir { mode });
            } else if !model.keys().any(|k| k.starts_with("/t/d/")) {
                fs::remove_dir(fsp(root, "/t/d")).expect("rmdir");
                model.remove("/t/d");
            }
        }
        Op::Check { .. } | Op::Rebaseline => {}
    }
}

/// What a check must report between two model states (without mtime and inode).
fn expected(
    base: &BTreeMap<String, Node>,
    now: &BTreeMap<String, Node>,
) -> Vec<(String, String, Vec<String>)> {
    let mut keys: Vec<&String> = base.keys().chain(now.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for k in keys {
        let e = match (base.get(k), now.get(k)) {
            (None, Some(_)) => Some(("created", vec![])),
            (Some(_), None) => Some(("deleted", vec![])),
            (
                Some(Node::File {
                    content: c1,
                    mode: m1,
                    uid: u1,
                }),
                Some(Node::File {
                    content: c2,
                    mode: m2,
                    uid: u2,
                }),
            ) => {
                let mut ch = vec![];
                if c1 != c2 {
                    ch.push("hash");
                }
                if c1.len() != c2.len() {
                    ch.push("size");
                }
                if m1 != m2 {
                    ch.push("mode");
                }
                if u1 != u2 {
                    ch.push("uid");
                }
                let kind = if c1 != c2 { "modified" } else { "attrs" };
                (!ch.is_empty()).then_some((kind, ch))
            }
            (Some(Node::Link { target: a }), Some(Node::Link { target: b })) => {
                (a != b).then(|| ("modified", vec!["link_target"]))
            }
            (Some(Node::Dir { mode: a }), Some(Node::Dir { mode: b })) => {
                (a != b).then(|| ("attrs", vec!["mode"]))
            }
            (Some(_), Some(_)) => Some(("type_changed", vec!["type"])),
            (None, None) => None,
        };
        if let Some((kind, ch)) = e {
            out.push((
                k.clone(),
                kind.to_string(),
                ch.into_iter().map(String::from).collect(),
            ));
        }
    }
    out
}

fn strip_unpredictable(
    actual: Vec<(String, String, Vec<String>)>,
) -> Vec<(String, String, Vec<String>)> {
    actual
        .into_iter()
        .filter_map(|(p, k, mut ch)| {
            ch.retain(|a| a != "mtime" && a != "inode");
            (k != "attrs" || !ch.is_empty()).then_some((p, k, ch))
        })
        .collect()
}

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn check_reports_exactly_the_models_differences(
        init in prop::collection::vec(op(), 0..16),
        ops in prop::collection::vec(op(), 1..30),
    ) {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("root");
        let state = tmp.path().join("state");
        fs::create_dir_all(root.join("t")).expect("mkdir");
        let c = cfg(&["/t"]);
        let root_mode = fs::metadata(root.join("t")).expect("md").permissions().mode() & 0o7777;
        let mut model: BTreeMap<String, Node> = BTreeMap::new();
        model.insert("/t".into(), Node::Dir { mode: root_mode });
        let root_user = is_root();
        // A populated tree at baseline time, so later steps modify and delete, not only create.
        for op in &init {
            apply(&root, &mut model, op, root_user);
        }
        let mut out = Vec::new();
        run_baseline(&c, &opts(&root, false), &state, &mut out).expect("baseline");
        let mut base_model = model.clone();
        for op in &ops {
            apply(&root, &mut model, op, root_user);
            match op {
                Op::Rebaseline => {
                    run_baseline(&c, &opts(&root, false), &state, &mut Vec::new()).expect("baseline");
                    base_model = model.clone();
                }
                Op::Check { full } => {
                    let (code, actual, _) = check(&c, &opts(&root, *full), &state);
                    let actual = strip_unpredictable(actual);
                    let want = expected(&base_model, &model);
                    prop_assert_eq!(&actual, &want, "after {:?}", op);
                    // Exit code 1 iff anything (even only mtime/inode) changed.
                    if !want.is_empty() {
                        prop_assert_eq!(code, 1);
                    }
                }
                _ => {}
            }
        }
        let (_, actual, _) = check(&c, &opts(&root, false), &state);
        prop_assert_eq!(strip_unpredictable(actual), expected(&base_model, &model));
    }
}

// ---------------------------------------------------------------------------------------------
// CLI behaviour.

#[test]
fn check_exit_codes_json_and_path_scoping() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let state = tmp.path().join("state");
    fs::create_dir_all(root.join("etc/ssh")).expect("mkdir");
    fs::write(root.join("etc/passwd"), b"root:x:0:0\n").expect("w");
    fs::write(root.join("etc/ssh/sshd_config"), b"PermitRootLogin no\n").expect("w");
    let c = cfg(&["/etc", "/usr/bin"]);
    let o = opts(&root, false);
    let e = run_check(&c, &o, &state, &mut Vec::new()).expect_err("no baseline");
    assert_eq!(e.exit_code(), 2);
    assert_eq!(
        run_baseline(&c, &o, &state, &mut Vec::new()).expect("baseline"),
        0
    );
    let (code, changes, _) = check(&c, &o, &state);
    assert_eq!((code, changes.len()), (0, 0));

    fs::write(root.join("etc/passwd"), b"root:x:0:0\nevil:x:0:0\n").expect("w");
    fs::create_dir_all(root.join("usr/bin")).expect("mkdir");
    fs::write(root.join("usr/bin/nc"), b"\x7fELF").expect("w");
    let (code, changes, v) = check(&c, &o, &state);
    assert_eq!(code, 1);
    assert_eq!(v["summary"]["modified"], 1);
    assert_eq!(v["summary"]["created"], 2, "{v}");
    let passwd = v["changes"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["path"] == "/etc/passwd"))
        .expect("passwd change");
    assert_eq!(passwd["severity"], "critical");
    assert_eq!(
        passwd["old"]["hash"],
        format!(
            "blake3:{}",
            hex::encode(hash_bytes(HashAlgo::Blake3, b"root:x:0:0\n"))
        )
    );
    assert!(
        changes
            .iter()
            .any(|(p, k, _)| p == "/usr/bin/nc" && k == "created")
    );

    // --path narrows the check; a path outside the baseline is a usage error.
    let mut narrow = o.clone();
    narrow.paths = vec!["/etc/ssh".into()];
    let (code, changes, _) = check(&c, &narrow, &state);
    assert_eq!((code, changes.len()), (0, 0));
    narrow.paths = vec!["/opt".into()];
    let e = run_check(&c, &narrow, &state, &mut Vec::new()).expect_err("outside");
    assert_eq!(e.exit_code(), 2);

    // Table output names the change.
    let mut out = Vec::new();
    let mut table = o.clone();
    table.format = OutputFormat::Table;
    assert_eq!(run_check(&c, &table, &state, &mut out).expect("check"), 1);
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("modified     critical /etc/passwd hash,size,mtime"),
        "{text}"
    );
}

#[test]
fn fast_check_catches_content_change_with_forged_mtime() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let state = tmp.path().join("state");
    fs::create_dir_all(root.join("etc")).expect("mkdir");
    let f = root.join("etc/hosts");
    fs::write(&f, b"127.0.0.1 localhost\n").expect("w");
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    fs::File::options()
        .write(true)
        .open(&f)
        .expect("o")
        .set_modified(old)
        .expect("mtime");
    let c = cfg(&["/etc"]);
    // Wait past the racy window so the fast check may reuse hashes.
    std::thread::sleep(Duration::from_millis(2100));
    run_baseline(&c, &opts(&root, false), &state, &mut Vec::new()).expect("baseline");
    let (_, _, v) = check(&c, &opts(&root, false), &state);
    assert!(v["summary"]["reused_hashes"].as_u64() >= Some(1), "{v}");
    // Same size, mtime restored: only ctime and the content betray it.
    fs::write(&f, b"10.6.6.6  localhost\n").expect("w");
    fs::File::options()
        .write(true)
        .open(&f)
        .expect("o")
        .set_modified(old)
        .expect("mtime");
    let (code, changes, _) = check(&c, &opts(&root, false), &state);
    assert_eq!(code, 1);
    assert_eq!(
        changes,
        vec![(
            "/etc/hosts".to_string(),
            "modified".to_string(),
            vec!["hash".to_string()]
        )]
    );
}

#[test]
fn replaced_file_with_same_content_reports_inode() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let state = tmp.path().join("state");
    fs::create_dir_all(root.join("etc")).expect("mkdir");
    fs::write(root.join("etc/x"), b"same").expect("w");
    let c = cfg(&["/etc"]);
    run_baseline(&c, &opts(&root, true), &state, &mut Vec::new()).expect("baseline");
    fs::write(root.join("etc/x.new"), b"same").expect("w");
    fs::rename(root.join("etc/x.new"), root.join("etc/x")).expect("mv");
    let (code, changes, _) = check(&c, &opts(&root, true), &state);
    assert_eq!(code, 1);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].1, "attrs");
    assert!(changes[0].2.contains(&"inode".to_string()), "{changes:?}");
}

#[test]
fn sha256_baseline_is_checked_with_sha256() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let state = tmp.path().join("state");
    fs::create_dir_all(root.join("etc")).expect("mkdir");
    fs::write(root.join("etc/a"), b"abc").expect("w");
    let mut c = cfg(&["/etc"]);
    c.hash = HashAlgo::Sha256;
    run_baseline(&c, &opts(&root, false), &state, &mut Vec::new()).expect("baseline");
    fs::write(root.join("etc/a"), b"abd").expect("w");
    // Checking with a blake3 config still uses the baseline's algorithm.
    let (_, _, v) = check(&cfg(&["/etc"]), &opts(&root, false), &state);
    assert_eq!(
        v["changes"][0]["old"]["hash"],
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

// ---------------------------------------------------------------------------------------------
// Crash safety: a writer killed with SIGKILL at random points never leaves an unusable baseline.

const CRASH_ENV: &str = "VIGIL_FIM_CRASH_TEST_FILE";

fn big_baseline(n: usize, tag: u8) -> baseline::Baseline {
    let entries = (0..n).map(|i| {
        (
            format!("/usr/lib/pkg{}/file{i}.so", i % 97).into_bytes(),
            baseline::Entry {
                file_type: vigil_proto::FileType::File,
                size: i as u64,
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: Default::default(),
                ctime: Default::default(),
                ino: i as u64,
                link_target: None,
                hash: Some([tag; 32]),
            },
        )
    });
    baseline::Baseline {
        algo: HashAlgo::Blake3,
        scope: vec!["/usr".into()],
        entries: entries.collect(),
        ..Default::default()
    }
}

/// Child half of `killed_writer_never_corrupts_the_baseline`: rewrites the baseline forever.
#[test]
#[ignore = "spawned by killed_writer_never_corrupts_the_baseline"]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CRASH_ENV) else {
        return;
    };
    let path = std::path::PathBuf::from(path);
    let a = big_baseline(150_000, 1).encode();
    let b = big_baseline(120_000, 2).encode();
    let marker = baseline::prev_path(&path).with_extension("started");
    loop {
        baseline::write_atomic(&path, &a).expect("write a");
        baseline::write_atomic(&path, &b).expect("write b");
        let _ = fs::write(&marker, b"");
    }
}

#[test]
fn killed_writer_never_corrupts_the_baseline() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("fim/baseline.bin");
    let initial = big_baseline(1000, 9);
    baseline::write_atomic(&path, &initial.encode()).expect("initial");
    let exe = std::env::current_exe().expect("test binary");
    let mut seen = std::collections::BTreeSet::new();
    let marker = baseline::prev_path(&path).with_extension("started");
    for round in 0..6u64 {
        let _ = fs::remove_file(&marker);
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "fim::tests::crash_child_writer",
                "--ignored",
                "--test-threads=1",
            ])
            .env(CRASH_ENV, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn child");
        // Kill at a varying point once the child is in its write loop.
        let start = Instant::now();
        while !marker.exists() && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(round * 37));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let (b, fell_back) = baseline::load(&path).expect("loadable").expect("present");
        assert!(!fell_back, "the current file must never be partial");
        let tag = b
            .entries
            .iter()
            .next()
            .and_then(|(_, e)| e.hash)
            .map(|h| h[0]);
        assert!(matches!(tag, Some(1 | 2 | 9)), "unexpected content");
        seen.insert(tag);
    }
    // A partial temporary file left by the last kill is ignored, and the next write succeeds.
    baseline::write_atomic(&path, &initial.encode()).expect("rewrite");
    assert_eq!(
        baseline::load(&path).expect("load").map(|x| x.0),
        Some(initial)
    );
    // The child really wrote before it was killed.
    assert!(seen.iter().all(|t| matches!(t, Some(1 | 2))), "{seen:?}");
}

// ---------------------------------------------------------------------------------------------
// Realtime engine with real inotify.

#[derive(Clone, Default)]
struct SharedSink(Arc<Mutex<Vec<Finding>>>);

impl FindingSink for SharedSink {
    fn emit(&mut self, finding: Finding) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(finding);
    }
}

impl SharedSink {
    fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&[Finding]) -> bool) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if pred(&self.0.lock().unwrap_or_else(|e| e.into_inner())) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        panic!("timed out waiting for {what}; findings: {all:#?}");
    }
}

fn file_event<'a>(
    f: &'a [Finding],
    path: &str,
    kind: FileEventKind,
) -> Option<&'a vigil_proto::FileEvent> {
    f.iter().find_map(|x| match x {
        Finding::FileEvent(e) if e.path == path && e.kind == kind => Some(e),
        _ => None,
    })
}

fn startup(sink: &SharedSink) {
    sink.wait_for("startup scan", Duration::from_secs(10), |f| {
        f.iter()
            .any(|x| matches!(x, Finding::FileEvent(e) if e.kind == FileEventKind::Rescan))
    });
}

#[test]
fn realtime_reports_changes_with_old_and_new_hash() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let state = tmp.path().join("state");
    fs::create_dir_all(root.join("etc")).expect("mkdir");
    fs::write(root.join("etc/shadow"), b"root:!:1::::::\n").expect("w");
    let c = cfg(&["/etc"]);
    run_baseline(&c, &opts(&root, false), &state, &mut Vec::new()).expect("baseline");
    let sink = SharedSink::default();
    let h = spawn(
        c.clone(),
        root.clone(),
        state.clone(),
        Box::new(sink.clone()),
    )
    .expect("spawn");
    startup(&sink);

    let t0 = Instant::now();
    fs::write(root.join("etc/shadow"), b"root:$6$evil:1::::::\n").expect("w");
    sink.wait_for("modified shadow", Duration::from_secs(3), |f| {
        file_event(f, "/etc/shadow", FileEventKind::Modified).is_some()
    });
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t0.elapsed()
    );
    {
        let f = sink.0.lock().expect("lock");
        let e = file_event(&f, "/etc/shadow", FileEventKind::Modified).expect("event");
        assert_eq!(e.severity, vigil_proto::Severity::Critical);
        let hx = |b: &[u8]| {
            Some(format!(
                "blake3:{}",
                hex::encode(hash_bytes(HashAlgo::Blake3, b))
            ))
        };
        assert_eq!(
            e.old.as_ref().and_then(|m| m.hash.clone()),
            hx(b"root:!:1::::::\n")
        );
        assert_eq!(
            e.new.as_ref().and_then(|m| m.hash.clone()),
            hx(b"root:$6$evil:1::::::\n")
        );
    }
    // A directory moved in with content, then a deletion.
    let outside = tmp.path().join("staging");
    fs::create_dir_all(outside.join("inner")).expect("mkdir");
    fs::write(outside.join("inner/payload"), b"x").expect("w");
    fs::rename(&outside, root.join("etc/cron.d")).expect("mv in");
    fs::remove_file(root.join("etc/shadow")).expect("rm");
    sink.wait_for("moved-in tree and deletion", Duration::from_secs(3), |f| {
        file_event(f, "/etc/cron.d/inner/payload", FileEventKind::Created).is_some()
            && file_event(f, "/etc/cron.d", FileEventKind::Created).is_some()
            && file_event(f, "/etc/shadow", FileEventKind::Deleted).is_some()
    });
    h.shutdown();
    // The engine saved what it saw: a CLI check now agrees with the disk.
    let (code, changes, _) = check(&c, &opts(&root, true), &state);
    assert_eq!((code, changes), (0, vec![]));
}

#[test]
fn queue_overflow_triggers_rescan_that_reports_the_lost_changes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let state = tmp.path().join("state");
    fs::create_dir_all(root.join("srv")).expect("mkdir");
    fs::write(root.join("srv/keep"), b"v1").expect("w");
    let mut c = cfg(&["/srv"]);
    c.storm_threshold = 1_000_000;
    run_baseline(&c, &opts(&root, false), &state, &mut Vec::new()).expect("baseline");
    let pause = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let eo = EngineOptions {
        queue_capacity: 4,
        pause: Some(pause.clone()),
        ..Default::default()
    };
    let sink = SharedSink::default();
    let h = spawn_with(c, root.clone(), state, Box::new(sink.clone()), eo).expect("spawn");
    startup(&sink);
    pause.store(true, std::sync::atomic::Ordering::Relaxed);
    for i in 0..300 {
        fs::write(root.join(format!("srv/f{i}")), format!("{i}")).expect("w");
    }
    fs::write(root.join("srv/keep"), b"v2").expect("w");
    std::thread::sleep(Duration::from_millis(200));
    pause.store(false, std::sync::atomic::Ordering::Relaxed);
    sink.wait_for("overflow and full report", Duration::from_secs(5), |f| {
        f.iter()
            .any(|x| matches!(x, Finding::AgentHealth(a) if a.kind == HealthKind::QueueOverflow))
            && (0..300)
                .all(|i| file_event(f, &format!("/srv/f{i}"), FileEventKind::Created).is_some())
            && file_event(f, "/srv/keep", FileEventKind::Modified).is_some()
    });
    h.shutdown();
}

#[test]
fn baseline_interrupted_by_shutdown_is_not_saved() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let state = tmp.path().join("state");
    for i in 0..20 {
        fs::create_dir_all(root.join(format!("srv/d{i}"))).expect("mkdir");
        fs::write(root.join(format!("srv/d{i}/f")), format!("{i}")).expect("w");
    }
    let c = cfg(&["/srv"]);
    let path = baseline_path(&state, &root);
    let eo = EngineOptions {
        stop_during_baseline: true,
        ..Default::default()
    };
    let sink = SharedSink::default();
    let h = spawn_with(
        c.clone(),
        root.clone(),
        state.clone(),
        Box::new(sink.clone()),
        eo,
    )
    .expect("spawn");
    h.shutdown();
    // A part of the tree saved as the baseline would make the next start report the rest as
    // created.
    assert!(!path.exists(), "an incomplete baseline was saved");
    assert!(!baseline::prev_path(&path).exists());
    // The next start creates the whole baseline.
    let sink = SharedSink::default();
    let h = spawn_with(
        c,
        root.clone(),
        state,
        Box::new(sink.clone()),
        EngineOptions::default(),
    )
    .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    h.shutdown();
    let (b, _) = baseline::load(&path).expect("load").expect("created");
    assert_eq!(b.entries.len(), 41, "the root, 20 directories and 20 files");
    let f = sink.0.lock().expect("lock").clone();
    assert!(
        !f.iter().any(|x| matches!(x, Finding::FileEvent(_))),
        "a new baseline reports nothing: {f:?}"
    );
}

#[test]
fn watch_limit_is_reported_once_and_unwatched_trees_are_scanned() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let state = tmp.path().join("state");
    for d in ["a", "b", "c"] {
        fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    let c = cfg(&["/a", "/b", "/c"]);
    run_baseline(&c, &opts(&root, false), &state, &mut Vec::new()).expect("baseline");
    let eo = EngineOptions {
        simulate_watch_limit: true,
        fallback_interval: Duration::from_millis(300),
        ..Default::default()
    };
    let sink = SharedSink::default();
    let h = spawn_with(c, root.clone(), state, Box::new(sink.clone()), eo).expect("spawn");
    startup(&sink);
    fs::write(root.join("a/watched"), b"1").expect("w");
    fs::write(root.join("c/unwatched"), b"1").expect("w");
    sink.wait_for("both changes", Duration::from_secs(5), |f| {
        file_event(f, "/a/watched", FileEventKind::Created).is_some()
            && file_event(f, "/c/unwatched", FileEventKind::Created).is_some()
    });
    let f = sink.0.lock().expect("lock").clone();
    let limits: Vec<_> = f
        .iter()
        .filter_map(|x| match x {
            Finding::AgentHealth(a) if a.kind == HealthKind::WatchLimit => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(limits.len(), 1, "{limits:?}");
    assert!(limits[0].message.contains("fs.inotify.max_user_watches"));
    drop(f);
    h.shutdown();
}

// ---------------------------------------------------------------------------------------------
// Benchmark (run by bench/fim.sh in release mode).

#[test]
#[ignore = "benchmark; run by bench/fim.sh"]
fn bench_baseline_and_check() {
    let Ok(tree) = std::env::var("VIGIL_FIM_BENCH_PATH") else {
        return;
    };
    let c = cfg(&[tree.as_str()]);
    let state = tempfile::tempdir().expect("tmp");
    let mut o = opts(Path::new("/"), false);
    o.format = OutputFormat::Table;
    let t = Instant::now();
    run_baseline(&c, &o, state.path(), &mut std::io::stdout()).expect("baseline");
    println!("BENCH baseline_s={:.3}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    run_check(&c, &o, state.path(), &mut std::io::sink()).expect("check");
    println!("BENCH fast_check_s={:.3}", t.elapsed().as_secs_f64());
    o.full = true;
    let t = Instant::now();
    run_check(&c, &o, state.path(), &mut std::io::sink()).expect("check");
    println!("BENCH full_check_s={:.3}", t.elapsed().as_secs_f64());
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?");
    let size = fs::metadata(baseline_path(state.path(), Path::new("/"))).map_or(0, |m| m.len());
    println!(
        "BENCH {} baseline_bytes={size}",
        hwm.split_whitespace().collect::<Vec<_>>().join(" ")
    );
}
