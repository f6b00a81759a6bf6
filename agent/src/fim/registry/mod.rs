//! Registry watch (Windows): the autostart and security-relevant keys, snapshotted on an
//! interval and compared with the previous snapshot; changes are FIM findings of kind
//! `registry` ([`vigil_proto::RegistryEvent`]).
//!
//! Why snapshots rather than `RegNotifyChangeKeyValue`: a notification says only that
//! something under a key changed, so a diff is needed anyway, and one thread polling every
//! minute covers every key (the services tree has hundreds of subkeys) without a handle per key.
//! The price is latency (the interval) and a value changed and changed back within one
//! interval being missed; the defaults favour coverage.
//!
//! Pure parts here: the watched keys ([`default_keys`]), the snapshot, the diff ([`diff`]) with
//! severities and a cap per poll. The snapshot is saved in the state directory after each
//! poll, so what changed while the agent was stopped is reported at start, as FIM does for
//! files. Reading the live registry is the seam [`read_snapshot`] (Windows only; elsewhere the
//! watch does not start).

#[cfg(windows)]
mod windows;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vigil_proto::{FileEventKind, Finding, FindingSink, RegistryData, RegistryEvent, Severity};

/// Which part of the registry a watched key covers, and how deep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedKey {
    /// `HKLM\...` or `HKU\*\...` (`*` is every loaded user profile).
    pub path: String,
    /// 0: the key's values; 1: also every direct subkey's values (services, IFEO); 2: one more.
    pub depth: u8,
    /// Also read the 32-bit (`WOW6432Node`) view of an `HKLM\SOFTWARE` key.
    pub wow32: bool,
    /// `autostart`, `services`, `winlogon`, `ifeo`, `lsa`.
    pub group: &'static str,
}

const fn key(path: &'static str, depth: u8, wow32: bool, group: &'static str) -> KeySpec {
    KeySpec {
        path,
        depth,
        wow32,
        group,
    }
}

/// A [`WatchedKey`] as a constant.
struct KeySpec {
    path: &'static str,
    depth: u8,
    wow32: bool,
    group: &'static str,
}

const DEFAULT_KEYS: &[KeySpec] = &[
    key(
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run",
        0,
        true,
        "autostart",
    ),
    key(
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\RunOnce",
        0,
        true,
        "autostart",
    ),
    key(
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\RunOnceEx",
        1,
        true,
        "autostart",
    ),
    key(
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\Explorer\Run",
        0,
        false,
        "autostart",
    ),
    key(
        r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Windows",
        0,
        true,
        "autostart",
    ),
    key(
        r"HKLM\SOFTWARE\Microsoft\Active Setup\Installed Components",
        1,
        true,
        "autostart",
    ),
    key(
        r"HKU\*\Software\Microsoft\Windows\CurrentVersion\Run",
        0,
        false,
        "autostart",
    ),
    key(
        r"HKU\*\Software\Microsoft\Windows\CurrentVersion\RunOnce",
        0,
        false,
        "autostart",
    ),
    key(
        r"HKLM\SYSTEM\CurrentControlSet\Services",
        1,
        false,
        "services",
    ),
    key(
        r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon",
        0,
        false,
        "winlogon",
    ),
    key(
        r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Image File Execution Options",
        1,
        true,
        "ifeo",
    ),
    key(
        r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\SilentProcessExit",
        1,
        true,
        "ifeo",
    ),
    key(
        r"HKLM\SYSTEM\CurrentControlSet\Control\Lsa",
        0,
        false,
        "lsa",
    ),
    key(
        r"HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders",
        0,
        false,
        "lsa",
    ),
    key(
        r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager",
        0,
        false,
        "lsa",
    ),
];

/// The keys watched by default: Run and RunOnce (machine, both views, and every loaded user),
/// AppInit_DLLs and Active Setup, services, Winlogon (Shell, Userinit), Image File Execution
/// Options and SilentProcessExit (debugger hijacks), LSA and security providers (credential
/// theft), Session Manager (BootExecute, known DLLs).
pub fn default_keys() -> Vec<WatchedKey> {
    DEFAULT_KEYS
        .iter()
        .map(|k| WatchedKey {
            path: k.path.to_string(),
            depth: k.depth,
            wow32: k.wow32,
            group: k.group,
        })
        .collect()
}

/// One value as recorded: type, text (capped) and hash of the raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueRecord {
    /// `REG_SZ`, …
    pub reg_type: String,
    /// Text form, at most [`RegistryData::MAX_TEXT`] characters.
    pub text: String,
    /// Whether `text` was cut.
    pub truncated: bool,
    /// `sha256:<hex>` of the raw bytes.
    pub hash: String,
}

impl ValueRecord {
    /// Records a value from its type name, full text and raw bytes.
    pub fn new(reg_type: String, full_text: &str, raw: &[u8]) -> Self {
        use sha2::{Digest as _, Sha256};
        let truncated = full_text.chars().count() > RegistryData::MAX_TEXT;
        Self {
            reg_type,
            text: full_text.chars().take(RegistryData::MAX_TEXT).collect(),
            truncated,
            hash: format!("sha256:{}", hex::encode(Sha256::digest(raw))),
        }
    }

    fn data(&self) -> RegistryData {
        RegistryData {
            reg_type: self.reg_type.clone(),
            data: self.text.clone(),
            hash: self.hash.clone(),
            truncated: self.truncated,
        }
    }
}

/// What one look at the watched keys found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Key path → group, for every key read (subkeys included).
    pub keys: BTreeMap<String, String>,
    /// (key path, value name) → value.
    pub values: BTreeMap<(String, String), ValueRecord>,
}

/// Itemised events per poll before the rest is summarised.
pub const MAX_EVENTS: usize = 200;

/// The changes from `old` to `new`, created keys and values first by path. Beyond `max`
/// events, one `summary` event per group says how many more there were.
pub fn diff(old: &Snapshot, new: &Snapshot, max: usize) -> Vec<RegistryEvent> {
    let mut out = Vec::new();
    for (k, g) in &new.keys {
        if !old.keys.contains_key(k) {
            out.push(event(k, None, g, FileEventKind::Created, None, None));
        }
    }
    for (k, g) in &old.keys {
        if !new.keys.contains_key(k) {
            out.push(event(k, None, g, FileEventKind::Deleted, None, None));
        }
    }
    let group_of = |s: &Snapshot, k: &str| s.keys.get(k).cloned().unwrap_or_default();
    for ((k, v), rec) in &new.values {
        match old.values.get(&(k.clone(), v.clone())) {
            None => out.push(event(
                k,
                Some(v),
                &group_of(new, k),
                FileEventKind::Created,
                None,
                Some(rec),
            )),
            Some(o) if o.hash != rec.hash || o.reg_type != rec.reg_type => out.push(event(
                k,
                Some(v),
                &group_of(new, k),
                FileEventKind::Modified,
                Some(o),
                Some(rec),
            )),
            Some(_) => {}
        }
    }
    for ((k, v), rec) in &old.values {
        // Values of a deleted key are covered by the key's event.
        if !new.values.contains_key(&(k.clone(), v.clone())) && new.keys.contains_key(k) {
            out.push(event(
                k,
                Some(v),
                &group_of(old, k),
                FileEventKind::Deleted,
                Some(rec),
                None,
            ));
        }
    }
    cap(out, max)
}

fn event(
    key: &str,
    value: Option<&String>,
    group: &str,
    kind: FileEventKind,
    old: Option<&ValueRecord>,
    new: Option<&ValueRecord>,
) -> RegistryEvent {
    RegistryEvent {
        key: key.to_string(),
        value: value.cloned(),
        kind,
        old: old.map(ValueRecord::data),
        new: new.map(ValueRecord::data),
        group: group.to_string(),
        summary: None,
        severity: severity(group, value.map(String::as_str), kind),
    }
}

/// High for anything that starts code or touches credentials; services: high for a new
/// service or a changed image path or DLL, medium for other service settings; deletions medium.
pub fn severity(group: &str, value: Option<&str>, kind: FileEventKind) -> Severity {
    if kind == FileEventKind::Deleted {
        return Severity::Medium;
    }
    match group {
        "services" => {
            let code = value.is_some_and(|v| {
                v.eq_ignore_ascii_case("ImagePath") || v.eq_ignore_ascii_case("ServiceDll")
            });
            if code || (value.is_none() && kind == FileEventKind::Created) {
                Severity::High
            } else {
                Severity::Medium
            }
        }
        _ => Severity::High,
    }
}

/// Keeps the first `max - 1` events (highest severity first) and summarises the rest per group.
fn cap(mut events: Vec<RegistryEvent>, max: usize) -> Vec<RegistryEvent> {
    if events.len() <= max {
        return events;
    }
    events.sort_by_key(|e| std::cmp::Reverse(e.severity));
    let rest = events.split_off(max.saturating_sub(1));
    let mut per_group: BTreeMap<String, (usize, Severity)> = BTreeMap::new();
    for e in &rest {
        let g = per_group
            .entry(e.group.clone())
            .or_insert((0, Severity::Low));
        g.0 += 1;
        g.1 = g.1.max(e.severity);
    }
    let total = rest.len();
    let groups: Vec<String> = per_group
        .iter()
        .map(|(g, (n, _))| format!("{n} {g}"))
        .collect();
    let severity = per_group
        .values()
        .map(|v| v.1)
        .max()
        .unwrap_or(Severity::Low);
    events.push(RegistryEvent {
        key: "registry".into(),
        value: None,
        kind: FileEventKind::Summary,
        old: None,
        new: None,
        group: "summary".into(),
        summary: Some(format!(
            "{total} more registry changes not itemised ({})",
            groups.join(", ")
        )),
        severity,
    });
    events
}

/// Where the snapshot is kept.
pub fn snapshot_path(state_dir: &Path) -> PathBuf {
    state_dir.join("fim").join("registry.json")
}

/// Loads the saved snapshot (`None` when absent or unreadable: then the next one is a baseline).
pub fn load(path: &Path) -> Option<Snapshot> {
    let bytes = std::fs::read(path).ok()?;
    #[derive(Deserialize)]
    struct Stored {
        keys: BTreeMap<String, String>,
        values: Vec<(String, String, ValueRecord)>,
    }
    let s: Stored = serde_json::from_slice(&bytes).ok()?;
    Some(Snapshot {
        keys: s.keys,
        values: s.values.into_iter().map(|(k, v, r)| ((k, v), r)).collect(),
    })
}

/// Saves the snapshot atomically.
///
/// # Errors
/// I/O errors.
pub fn save(path: &Path, snap: &Snapshot) -> Result<(), super::FimError> {
    #[derive(Serialize)]
    struct Stored<'a> {
        keys: &'a BTreeMap<String, String>,
        values: Vec<(&'a str, &'a str, &'a ValueRecord)>,
    }
    let stored = Stored {
        keys: &snap.keys,
        values: snap
            .values
            .iter()
            .map(|((k, v), r)| (k.as_str(), v.as_str(), r))
            .collect(),
    };
    let bytes = serde_json::to_vec(&stored).map_err(|e| super::FimError::Corrupt(e.to_string()))?;
    super::baseline::write_atomic(path, &bytes)
}

/// Reads the live registry under `keys` (Windows).
///
/// # Errors
/// A message when no key could be read (or on other platforms).
pub fn read_snapshot(keys: &[WatchedKey]) -> Result<Snapshot, String> {
    #[cfg(windows)]
    {
        windows::read(keys)
    }
    #[cfg(not(windows))]
    {
        let _ = keys;
        Err("the registry watch runs on Windows only".into())
    }
}

/// Whether this platform has a registry to watch.
pub const SUPPORTED: bool = cfg!(windows);

/// A running registry watch.
#[derive(Debug)]
pub struct RegistryWatch {
    /// Ends the wait between two snapshots at once (a message, or being dropped).
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl RegistryWatch {
    /// Stops the watch after the poll in progress and waits for it.
    pub fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("Registry watch thread panicked.");
        }
    }
}

/// Starts the watch on its own thread: a snapshot every `interval`, changes emitted, snapshot
/// saved. The first snapshot without a saved one is a baseline, reported as one `rescan` event.
///
/// # Errors
/// The thread cannot be created.
pub fn spawn(
    keys: Vec<WatchedKey>,
    interval: Duration,
    state_dir: PathBuf,
    mut sink: Box<dyn FindingSink + Send>,
) -> std::io::Result<RegistryWatch> {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("vigil-regwatch".into())
        .spawn(move || {
            let path = snapshot_path(&state_dir);
            let mut last = load(&path);
            let mut warned = false;
            loop {
                match read_snapshot(&keys) {
                    Ok(snap) => {
                        warned = false;
                        poll_once(&mut last, snap, &path, sink.as_mut());
                    }
                    Err(e) if !warned => {
                        warned = true;
                        tracing::warn!(error = %e, "Registry watch cannot read the registry.");
                    }
                    Err(_) => {}
                }
                // Asleep until the next snapshot or a stop, not woken in between.
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })?;
    Ok(RegistryWatch {
        stop,
        thread: Some(thread),
    })
}

/// Compares `snap` with the last one, emits, saves.
fn poll_once(last: &mut Option<Snapshot>, snap: Snapshot, path: &Path, sink: &mut dyn FindingSink) {
    let events = match last.as_ref() {
        Some(old) => diff(old, &snap, MAX_EVENTS),
        None => vec![RegistryEvent {
            key: "registry".into(),
            value: None,
            kind: FileEventKind::Rescan,
            old: None,
            new: None,
            group: "baseline".into(),
            summary: Some(format!(
                "registry baseline: {} values under {} keys",
                snap.values.len(),
                snap.keys.len()
            )),
            severity: Severity::Low,
        }],
    };
    let changed = last.as_ref() != Some(&snap);
    for e in events {
        sink.emit(Finding::Registry(e));
    }
    if changed {
        if let Err(e) = save(path, &snap) {
            tracing::warn!(error = %e, "Cannot save the registry snapshot.");
        }
        *last = Some(snap);
    }
}

#[cfg(test)]
mod tests;
