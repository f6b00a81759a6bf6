//! FIM on Windows paths (run under Wine in CI): baseline and check of a tree on drive C: through
//! the live root, attribute changes, the realtime engine over `ReadDirectoryChangesW`, and the
//! Windows defaults.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigil_proto::{FileEventKind, Finding, FindingSink};

use super::*;
use crate::fim::config::RawPathSpec;

/// A fresh directory under `%TEMP%` (on drive C: in a Wine prefix), removed on drop.
struct WinTree {
    dir: tempfile::TempDir,
}

impl WinTree {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("vigil-fim-")
            .tempdir()
            .expect("temp dir");
        assert!(
            dir.path().to_string_lossy().as_bytes().get(1) == Some(&b':'),
            "temp dir on a drive: {}",
            dir.path().display()
        );
        Self { dir }
    }
    fn path(&self) -> PathBuf {
        // Without the \\?\ prefix a canonicalised temp path may carry.
        PathBuf::from(
            self.dir
                .path()
                .to_string_lossy()
                .trim_start_matches(r"\\?\"),
        )
    }
    fn display(&self, rel: &str) -> String {
        let p = self.path();
        if rel.is_empty() {
            p.to_string_lossy().into_owned()
        } else {
            format!("{}\\{}", p.to_string_lossy(), rel.replace('/', "\\"))
        }
    }
}

fn cfg_for(tree: &Path) -> FimConfig {
    RawFimConfig {
        paths: Some(vec![RawPathSpec::Plain(
            tree.to_string_lossy().into_owned(),
        )]),
        critical: Some(vec![format!("{}\\hosts", tree.to_string_lossy())]),
        debounce: Some("50ms".into()),
        ..Default::default()
    }
    .validate()
    .expect("valid config")
}

fn opts(full: bool) -> FimCliOptions {
    FimCliOptions {
        root: PathBuf::from("/"),
        paths: Vec::new(),
        format: OutputFormat::Json,
        full,
        progress: Some(false),
    }
}

fn changes(cfg: &FimConfig, state: &Path, full: bool) -> (u8, Vec<(String, String, Vec<String>)>) {
    let mut out = Vec::new();
    let code = run_check(cfg, &opts(full), state, &mut out).expect("check runs");
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
    let mut got: Vec<(String, String, Vec<String>)> = v["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap_or_default().to_string(),
                c["kind"].as_str().unwrap_or_default().to_string(),
                c["changed"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect();
    got.sort();
    (code, got)
}

#[test]
fn baseline_and_check_report_windows_paths() {
    let t = WinTree::new();
    let state = tempfile::tempdir().expect("state");
    fs::create_dir_all(t.path().join("sub")).expect("mkdir");
    fs::write(t.path().join("hosts"), b"127.0.0.1 localhost\r\n").expect("w");
    fs::write(t.path().join("sub").join("keep.txt"), b"same").expect("w");
    fs::write(t.path().join("sub").join("gone.txt"), b"bye").expect("w");
    let c = cfg_for(&t.path());
    run_baseline(&c, &opts(false), state.path(), &mut Vec::new()).expect("baseline");
    assert_eq!(changes(&c, state.path(), true), (0, vec![]));

    fs::write(
        t.path().join("hosts"),
        b"203.0.113.9 update.microsoft.com\r\n",
    )
    .expect("w");
    fs::write(t.path().join("sub").join("new.exe"), b"MZ").expect("w");
    fs::remove_file(t.path().join("sub").join("gone.txt")).expect("rm");
    let (code, got) = changes(&c, state.path(), true);
    assert_eq!(code, 1);
    let summary: Vec<(String, String)> =
        got.iter().map(|(p, k, _)| (p.clone(), k.clone())).collect();
    assert!(
        summary.contains(&(t.display("hosts"), "modified".into())),
        "{got:?}"
    );
    assert!(
        summary.contains(&(t.display("sub/new.exe"), "created".into())),
        "{got:?}"
    );
    assert!(
        summary.contains(&(t.display("sub/gone.txt"), "deleted".into())),
        "{got:?}"
    );
    assert!(
        !summary.iter().any(|(p, _)| p.ends_with("keep.txt")),
        "unchanged files are not reported: {got:?}"
    );
}

#[test]
fn read_only_attribute_is_an_attribute_change() {
    let t = WinTree::new();
    let state = tempfile::tempdir().expect("state");
    let f = t.path().join("policy.ini");
    fs::write(&f, b"[x]\r\n").expect("w");
    let c = cfg_for(&t.path());
    run_baseline(&c, &opts(false), state.path(), &mut Vec::new()).expect("baseline");
    let mut p = fs::metadata(&f).expect("meta").permissions();
    p.set_readonly(true);
    fs::set_permissions(&f, p).expect("set read-only");
    let (code, got) = changes(&c, state.path(), false);
    assert_eq!(code, 1, "{got:?}");
    let (path, kind, changed) = got
        .iter()
        .find(|(p, _, _)| p.ends_with("policy.ini"))
        .expect("reported");
    assert_eq!(
        (path.as_str(), kind.as_str()),
        (t.display("policy.ini").as_str(), "attrs")
    );
    assert!(changed.contains(&"mode".to_string()), "{changed:?}");
    let mut p = fs::metadata(&f).expect("meta").permissions();
    #[allow(
        clippy::permissions_set_readonly_false,
        reason = "let the temp dir be removed"
    )]
    p.set_readonly(false);
    fs::set_permissions(&f, p).expect("clear read-only");
}

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

fn has(f: &[Finding], path: &str, kind: FileEventKind) -> bool {
    f.iter()
        .any(|x| matches!(x, Finding::FileEvent(e) if e.path == path && e.kind == kind))
}

#[test]
fn realtime_follows_changes_through_read_directory_changes() {
    let t = WinTree::new();
    let state = tempfile::tempdir().expect("state");
    fs::write(t.path().join("hosts"), b"127.0.0.1 localhost\r\n").expect("w");
    let c = cfg_for(&t.path());
    run_baseline(&c, &opts(false), state.path(), &mut Vec::new()).expect("baseline");
    let sink = SharedSink::default();
    let h = spawn(
        c.clone(),
        PathBuf::from("/"),
        state.path().to_path_buf(),
        Box::new(sink.clone()),
    )
    .expect("spawn");
    // Generous deadlines: Wine on a loaded CI machine.
    sink.wait_for("startup scan", Duration::from_secs(60), |f| {
        f.iter()
            .any(|x| matches!(x, Finding::FileEvent(e) if e.kind == FileEventKind::Rescan))
    });
    fs::write(t.path().join("dropped.bat"), b"@echo off\r\n").expect("w");
    fs::write(t.path().join("hosts"), b"198.51.100.7 login.example\r\n").expect("w");
    sink.wait_for("created and modified", Duration::from_secs(60), |f| {
        has(f, &t.display("dropped.bat"), FileEventKind::Created)
            && has(f, &t.display("hosts"), FileEventKind::Modified)
    });
    {
        let f = sink.0.lock().expect("lock");
        let e = f
            .iter()
            .find_map(|x| match x {
                Finding::FileEvent(e) if e.path == t.display("hosts") => Some(e),
                _ => None,
            })
            .expect("hosts event");
        assert!(
            e.severity >= vigil_proto::Severity::High,
            "critical path: {e:?}"
        );
    }
    fs::remove_file(t.path().join("dropped.bat")).expect("rm");
    sink.wait_for("deleted", Duration::from_secs(60), |f| {
        has(f, &t.display("dropped.bat"), FileEventKind::Deleted)
    });
    h.shutdown();
    // What the engine saw was saved: a check agrees with the disk.
    assert_eq!(changes(&c, state.path(), true), (0, vec![]));
}

#[test]
fn windows_defaults_cover_the_hosts_file_tasks_and_startup() {
    let c = FimConfig::default();
    let sys = std::env::var("SystemRoot").expect("SystemRoot");
    let host = config::normalize(&format!(r"{sys}\System32\drivers\etc")).expect("norm");
    assert!(c.paths.iter().any(|p| p.path == host), "{:?}", c.paths);
    let tasks = config::normalize(&format!(r"{sys}\System32\Tasks")).expect("norm");
    assert!(c.paths.iter().any(|p| p.path == tasks));
    let hosts_file = format!("{host}/hosts");
    assert!(c.critical.is_match(hosts_file.as_bytes()));
    // Matching ignores case, as NTFS does.
    assert!(
        c.critical
            .is_match(hosts_file.to_ascii_uppercase().as_bytes())
    );
    assert!(c.exclude.is_match(b"/C:/Users/a/x.TMP"));
}
