//! Pure comparison of a baseline with a fresh scan, and conversion of changes into findings.
//!
//! Nothing here touches the file system or the clock. Attributes compared per type: regular files
//! `hash`, `size`, `mode`, `uid`, `gid`, `mtime`, `inode`; symlinks `link_target`, `hash` (when
//! links are followed), `uid`, `gid`, `inode`; directories and others `mode`, `uid`, `gid`,
//! `inode` (a directory's size and mtime change with every entry added, which its children
//! already report). `ctime` is never reported: it moves on every change, including harmless ones.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use vigil_proto::{FileEvent, FileEventKind, FileMeta, FileType, Severity};

use super::baseline::Entry;
use super::config::{FimConfig, HashAlgo, is_under};
use super::entries::Entries;
use super::entries::EntrySink;

/// One difference between a baseline and a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Host path.
    pub path: Vec<u8>,
    /// What happened.
    pub kind: FileEventKind,
    /// Baseline entry.
    pub old: Option<Entry>,
    /// Current entry.
    pub new: Option<Entry>,
    /// Attributes that differ.
    pub changed: Vec<&'static str>,
}

/// Compares one path's baseline and current entries; `None` when nothing reportable differs.
pub fn compare(
    old: Option<&Entry>,
    new: Option<&Entry>,
) -> Option<(FileEventKind, Vec<&'static str>)> {
    match (old, new) {
        (None, None) => None,
        (None, Some(_)) => Some((FileEventKind::Created, Vec::new())),
        (Some(_), None) => Some((FileEventKind::Deleted, Vec::new())),
        (Some(o), Some(n)) if o.file_type != n.file_type => {
            Some((FileEventKind::TypeChanged, vec!["type"]))
        }
        (Some(o), Some(n)) => {
            let mut c = Vec::new();
            let hash_differs = matches!((o.hash, n.hash), (Some(a), Some(b)) if a != b);
            match o.file_type {
                FileType::File => {
                    if hash_differs {
                        c.push("hash");
                    }
                    if o.size != n.size {
                        c.push("size");
                    }
                }
                FileType::Symlink => {
                    if o.link_target != n.link_target {
                        c.push("link_target");
                    }
                    if hash_differs {
                        c.push("hash");
                    }
                }
                FileType::Dir | FileType::Other => {}
            }
            if o.file_type != FileType::Symlink && o.mode != n.mode {
                c.push("mode");
            }
            if o.uid != n.uid {
                c.push("uid");
            }
            if o.gid != n.gid {
                c.push("gid");
            }
            if o.file_type == FileType::File && o.mtime != n.mtime {
                c.push("mtime");
            }
            if o.ino != n.ino {
                c.push("inode");
            }
            if c.is_empty() {
                return None;
            }
            let content = c
                .iter()
                .any(|a| matches!(*a, "hash" | "size" | "link_target"));
            let kind = if content {
                FileEventKind::Modified
            } else {
                FileEventKind::Attrs
            };
            Some((kind, c))
        }
    }
}

/// All differences between `old` and `new` restricted to paths under one of `scope`
/// (host paths). Entries outside `scope` in either store are ignored.
pub fn diff<S: AsRef<[u8]>>(old: &Entries, new: &Entries, scope: &[S]) -> Vec<Change> {
    let d = Differ::new(old, scope);
    for root in &d.scope {
        new.for_each_under(root, |_, path, e| d.visit(path, e.clone()));
    }
    d.finish()
}

/// Streaming comparison with a baseline: feed it every current entry (from any thread, in any
/// order), then [`Differ::finish`] adds the deletions. It keeps one bit per baseline entry and
/// the changes, never a second copy of the tree.
pub struct Differ<'a> {
    old: &'a Entries,
    /// Roots, without duplicates or roots nested in another.
    scope: Vec<Vec<u8>>,
    /// Baseline entries seen in the current state, by ordinal.
    seen: Vec<AtomicU64>,
    changes: Mutex<Vec<Change>>,
}

impl<'a> Differ<'a> {
    /// Compares with `old`, restricted to paths under one of `scope`.
    pub fn new<S: AsRef<[u8]>>(old: &'a Entries, scope: &[S]) -> Self {
        let mut roots: Vec<Vec<u8>> = Vec::new();
        for r in scope {
            let r = r.as_ref();
            let nested = scope.iter().any(|o| {
                let o = o.as_ref();
                o != r && is_under(r, o)
            });
            if !nested && !roots.iter().any(|x| x == r) {
                roots.push(r.to_vec());
            }
        }
        Self {
            old,
            scope: roots,
            seen: (0..old.len().div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            changes: Mutex::new(Vec::new()),
        }
    }

    /// One entry of the current state.
    pub fn visit(&self, path: &[u8], new: Entry) {
        if !self.scope.iter().any(|r| is_under(path, r)) {
            return;
        }
        let old = match self.old.find(path) {
            Some((i, old)) => {
                let bit = 1u64 << (i % 64);
                let Some(word) = self.seen.get(i / 64) else {
                    return;
                };
                if word.fetch_or(bit, Ordering::Relaxed) & bit != 0 {
                    return; // already compared
                }
                Some(old)
            }
            None => None,
        };
        if let Some((kind, changed)) = compare(old.as_ref(), Some(&new)) {
            self.push(Change {
                path: path.to_vec(),
                kind,
                old,
                new: Some(new),
                changed,
            });
        }
    }

    /// The changes, with the baseline entries never visited reported as deleted, sorted by path.
    pub fn finish(self) -> Vec<Change> {
        let mut out = self.changes.into_inner().unwrap_or_else(|e| e.into_inner());
        for root in &self.scope {
            self.old.for_each_under(root, |i, path, e| {
                let seen = self
                    .seen
                    .get(i / 64)
                    .is_some_and(|w| w.load(Ordering::Relaxed) & (1u64 << (i % 64)) != 0);
                if !seen {
                    out.push(Change {
                        path: path.to_vec(),
                        kind: FileEventKind::Deleted,
                        old: Some(e.clone()),
                        new: None,
                        changed: Vec::new(),
                    });
                }
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    fn push(&self, c: Change) {
        self.changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(c);
    }
}

impl EntrySink for Differ<'_> {
    fn entry(&self, _worker: usize, path: &[u8], entry: Entry) {
        self.visit(path, entry);
    }
}

/// Severity of a change: critical paths are critical (attribute-only changes high), system
/// binaries and libraries medium, `/etc` medium, the rest low; package-manager activity lowers
/// non-critical changes to low.
pub fn severity(cfg: &FimConfig, change: &Change, package_manager: bool) -> Severity {
    if cfg.critical.is_match(&change.path) {
        return if change.kind == FileEventKind::Attrs {
            Severity::High
        } else {
            Severity::Critical
        };
    }
    if package_manager {
        return Severity::Low;
    }
    const SYSTEM: &[&str] = &[
        "/etc",
        "/boot",
        "/usr/bin",
        "/usr/sbin",
        "/usr/lib",
        "/usr/local",
        "/bin",
        "/sbin",
        "/lib",
        "/lib64",
    ];
    if SYSTEM.iter().any(|s| is_under(&change.path, s.as_bytes())) {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// The reported form of an entry.
pub fn file_meta(algo: HashAlgo, e: &Entry) -> FileMeta {
    FileMeta {
        file_type: e.file_type,
        size: e.size,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: e.mtime.secs,
        hash: e
            .hash
            .map(|h| format!("{}:{}", algo.as_str(), hex::encode(h))),
        link_target: e
            .link_target
            .as_ref()
            .map(|t| crate::platform::hostpath::display(t)),
    }
}

/// Converts a change into a finding.
pub fn to_event(cfg: &FimConfig, algo: HashAlgo, change: &Change, tag: Option<&str>) -> FileEvent {
    FileEvent {
        path: crate::platform::hostpath::display(&change.path),
        kind: change.kind,
        old: change.old.as_ref().map(|e| file_meta(algo, e)),
        new: change.new.as_ref().map(|e| file_meta(algo, e)),
        changed: change.changed.iter().map(|s| s.to_string()).collect(),
        process: None,
        tag: tag.map(str::to_string),
        summary: None,
        count: None,
        severity: severity(cfg, change, tag.is_some()),
    }
}

/// Storm control for one batch of realtime changes: per tree (scope root), when more than
/// `threshold_per_s × window_s` changes arrived, non-critical ones are replaced by one `summary`
/// event ("1,532 changes under /usr/lib"); critical paths are always reported one by one.
pub fn storm_control(
    cfg: &FimConfig,
    algo: HashAlgo,
    changes: &[Change],
    window_s: f64,
    tag: Option<&str>,
) -> Vec<FileEvent> {
    let limit = (cfg.storm_threshold as f64 * window_s.max(1.0)).ceil() as usize;
    let mut per_tree: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for c in changes {
        let tree = cfg.spec_for(&c.path).map_or("/", |s| s.path.as_str());
        per_tree.entry(tree).or_default().push(c);
    }
    let mut out = Vec::new();
    for (tree_host, cs) in per_tree {
        let tree = crate::platform::hostpath::display(tree_host.as_bytes());
        if cs.len() <= limit {
            out.extend(cs.iter().map(|c| to_event(cfg, algo, c, tag)));
            continue;
        }
        let (crit, rest): (Vec<&Change>, Vec<&Change>) =
            cs.into_iter().partition(|c| cfg.critical.is_match(&c.path));
        out.extend(crit.iter().map(|c| to_event(cfg, algo, c, tag)));
        let n = rest.len() as u64;
        let max_sev = rest
            .iter()
            .map(|c| severity(cfg, c, tag.is_some()))
            .max()
            .unwrap_or(Severity::Low);
        let count_of = |k: FileEventKind| rest.iter().filter(|c| c.kind == k).count();
        out.push(FileEvent {
            path: tree.clone(),
            kind: FileEventKind::Summary,
            old: None,
            new: None,
            changed: Vec::new(),
            process: None,
            tag: tag.map(str::to_string),
            summary: Some(format!(
                "{} changes under {tree} ({} created, {} modified, {} deleted, {} other)",
                thousands(n),
                count_of(FileEventKind::Created),
                count_of(FileEventKind::Modified),
                count_of(FileEventKind::Deleted),
                rest.len()
                    - count_of(FileEventKind::Created)
                    - count_of(FileEventKind::Modified)
                    - count_of(FileEventKind::Deleted),
            )),
            count: Some(n),
            severity: max_sev,
        });
    }
    out
}

/// `1532` → `1,532`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fim::baseline::Timestamp;

    fn file(hash: u8, mode: u32, ino: u64) -> Entry {
        Entry {
            file_type: FileType::File,
            size: 10,
            mode,
            uid: 0,
            gid: 0,
            mtime: Timestamp { secs: 1, nanos: 0 },
            ctime: Timestamp { secs: 1, nanos: 0 },
            ino,
            link_target: None,
            hash: Some([hash; 32]),
        }
    }

    fn map(items: &[(&str, Entry)]) -> Entries {
        items
            .iter()
            .map(|(p, e)| (p.as_bytes().to_vec(), e.clone()))
            .collect()
    }

    #[test]
    fn classifies_changes() {
        let old = map(&[
            ("/etc/a", file(1, 0o644, 1)),
            ("/etc/b", file(1, 0o644, 2)),
            ("/etc/c", file(1, 0o644, 3)),
            ("/etc/d", file(1, 0o644, 4)),
            ("/etc-other/x", file(1, 0o644, 5)),
        ]);
        let mut link = file(1, 0o777, 4);
        link.file_type = FileType::Symlink;
        let new = map(&[
            ("/etc/a", file(2, 0o644, 1)),
            ("/etc/b", file(1, 0o600, 2)),
            ("/etc/d", link),
            ("/etc/e", file(1, 0o644, 6)),
        ]);
        let ch = diff(&old, &new, &["/etc".to_string()]);
        let got: Vec<(String, FileEventKind, Vec<&str>)> = ch
            .iter()
            .map(|c| {
                (
                    String::from_utf8_lossy(&c.path).into_owned(),
                    c.kind,
                    c.changed.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("/etc/a".into(), FileEventKind::Modified, vec!["hash"]),
                ("/etc/b".into(), FileEventKind::Attrs, vec!["mode"]),
                ("/etc/c".into(), FileEventKind::Deleted, vec![]),
                ("/etc/d".into(), FileEventKind::TypeChanged, vec!["type"]),
                ("/etc/e".into(), FileEventKind::Created, vec![]),
            ]
        );
    }

    // Uses the Linux critical-path defaults (/etc/shadow, …).
    #[cfg(unix)]
    #[test]
    fn severity_and_storm_control() {
        let cfg = FimConfig {
            storm_threshold: 10,
            ..FimConfig::default()
        };
        let mk = |p: &str, kind| Change {
            path: p.as_bytes().to_vec(),
            kind,
            old: None,
            new: Some(file(1, 0o644, 1)),
            changed: vec![],
        };
        assert_eq!(
            severity(&cfg, &mk("/etc/shadow", FileEventKind::Modified), false),
            Severity::Critical
        );
        assert_eq!(
            severity(&cfg, &mk("/etc/shadow", FileEventKind::Attrs), true),
            Severity::High
        );
        assert_eq!(
            severity(&cfg, &mk("/usr/bin/ls", FileEventKind::Modified), false),
            Severity::Medium
        );
        assert_eq!(
            severity(&cfg, &mk("/usr/bin/ls", FileEventKind::Modified), true),
            Severity::Low
        );
        let mut changes: Vec<Change> = (0..1532)
            .map(|i| mk(&format!("/usr/lib/f{i}"), FileEventKind::Created))
            .collect();
        changes.push(mk("/etc/passwd", FileEventKind::Modified));
        changes.push(mk("/etc/hostname", FileEventKind::Modified));
        let ev = storm_control(&cfg, HashAlgo::Blake3, &changes, 1.0, None);
        assert_eq!(ev.len(), 3, "{ev:#?}");
        let summary = ev
            .iter()
            .find(|e| e.kind == FileEventKind::Summary)
            .expect("summary");
        assert_eq!(summary.count, Some(1532));
        assert!(
            summary
                .summary
                .as_deref()
                .is_some_and(|s| s.starts_with("1,532 changes under /usr/lib")),
            "{summary:?}"
        );
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
