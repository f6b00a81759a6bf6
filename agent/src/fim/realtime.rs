//! Realtime FIM engine of `vigil-agent run`: inotify (via `notify`) plus scheduled scans.
//!
//! The watcher thread only classifies events and pushes them into a bounded queue; one engine
//! thread owns the in-memory baseline. Paths are debounced, then re-read and compared with the
//! baseline (old and new hash and attributes), findings are emitted through storm control, and
//! the baseline is updated and saved. The engine never goes blind: a kernel queue overflow
//! (`need_rescan`) or a full internal queue triggers an immediate rescan of every tree, reported
//! as a `QueueOverflow` health finding followed by the differences found; trees that cannot be
//! watched (inotify watch limit, missing roots) are reported once and covered by scheduled scans.
//! Scheduled full scans run throttled (byte-rate cap, lower CPU and I/O priority) on their own
//! thread against a snapshot of the baseline (the store is shared, not copied); paths the
//! realtime side touched while such a scan ran keep the realtime result, which is newer, and
//! every other difference is checked again against the current baseline before it is reported.
//! Only this shell reads the clock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::platform::notify::event::{AccessKind, AccessMode, ModifyKind};
use crate::platform::notify::{self, Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tracing::{info, warn};
use vigil_proto::{
    AgentHealth, FileEvent, FileEventKind, Finding, FindingSink, HealthKind, Severity,
};

use super::FimError;
use super::baseline::baseline_path;
use super::baseline::{self, Baseline, Entry};
use super::config::{FimConfig, is_under};
use super::diff::{Change, compare, storm_control};
use super::entries::Entries;
use super::entry::now;
use super::queue::{self, QueueReceiver, QueueSender, SendError};
use super::scan::{
    ScanRequest, ScanStats, bytes_of, fs_path, scan, scan_diff, scan_one, top_level_targets,
};

/// The longest the idle engine sleeps without checking its clock (deadlines are recomputed then).
const MAX_IDLE_WAIT: Duration = Duration::from_secs(60);

/// Tuning of the realtime engine (defaults suit production).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Capacity of the queue between the watcher thread and the engine; when it is full, events
    /// are dropped and an overflow rescan follows.
    pub queue_capacity: usize,
    /// Interval of scans of trees that are not (fully) watched.
    pub fallback_interval: Duration,
    /// Changes within this long after package-manager log activity are tagged `package-manager`.
    pub package_window: Duration,
    /// Minimum interval between baseline saves while changes keep coming.
    pub save_interval: Duration,
    /// Test hook: while set, the engine does not drain its queue (a stalled reader).
    #[cfg(test)]
    pub(crate) pause: Option<Arc<AtomicBool>>,
    /// Test hook: every tree but the first fails as if the inotify watch limit were reached.
    #[cfg(test)]
    pub(crate) simulate_watch_limit: bool,
    /// Test hook: a shutdown arrives as the first baseline scan starts.
    #[cfg(test)]
    pub(crate) stop_during_baseline: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            fallback_interval: Duration::from_secs(3600),
            package_window: Duration::from_secs(120),
            save_interval: Duration::from_secs(10),
            #[cfg(test)]
            pause: None,
            #[cfg(test)]
            simulate_watch_limit: false,
            #[cfg(test)]
            stop_during_baseline: false,
        }
    }
}

/// A running engine; dropping it shuts it down.
#[derive(Debug)]
pub struct FimHandle {
    stop: Arc<AtomicBool>,
    /// Wakes the engine, which sleeps until its next deadline when nothing happens.
    wake: QueueSender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl FimHandle {
    /// Stops the engine, saves the baseline and waits for the thread to end.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.wake();
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            warn!("FIM engine thread panicked.");
        }
    }
}

impl Drop for FimHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Starts the engine with default options. See [`spawn_with`].
///
/// # Errors
/// See [`spawn_with`].
pub fn spawn(
    cfg: FimConfig,
    root: PathBuf,
    state_dir: PathBuf,
    sink: Box<dyn FindingSink + Send>,
) -> Result<FimHandle, FimError> {
    spawn_with(cfg, root, state_dir, sink, EngineOptions::default())
}

/// Starts the engine on its own thread: loads (or creates) the baseline of `root` in
/// `state_dir`, watches the trees, reports what changed while the agent was not running, then
/// follows changes until [`FimHandle::shutdown`].
///
/// # Errors
/// The root does not exist, or the inotify instance cannot be created.
pub fn spawn_with(
    cfg: FimConfig,
    root: PathBuf,
    state_dir: PathBuf,
    sink: Box<dyn FindingSink + Send>,
    opts: EngineOptions,
) -> Result<FimHandle, FimError> {
    let root =
        crate::platform::hostpath::canonical_root(&root).map_err(|e| FimError::io(&root, e))?;
    let (tx, rx) = queue::bounded::<Msg>(opts.queue_capacity);
    let wake = tx.clone();
    let overflow = Arc::new(AtomicBool::new(false));
    let watcher = if cfg.realtime {
        let of = overflow.clone();
        let handler = move |res: notify::Result<Event>| forward(&tx, &of, res);
        Some(
            RecommendedWatcher::new(
                handler,
                notify::Config::default().with_follow_symlinks(false),
            )
            .map_err(|e| FimError::Watch(e.to_string()))?,
        )
    } else {
        None
    };
    let stop = Arc::new(AtomicBool::new(false));
    let path = baseline_path(&state_dir, &root);
    let mut engine = Engine {
        targets: top_level_targets(&cfg),
        cfg,
        root,
        path,
        sink,
        base: Baseline::default(),
        opts,
        rx,
        overflow,
        stop: stop.clone(),
        watcher,
        unwatched: BTreeSet::new(),
        watch_limit_reported: false,
        pending: BTreeMap::new(),
        first_pending: None,
        last_event: Instant::now(),
        dirty: false,
        last_save: Instant::now(),
        bg: None,
        touched: Vec::new(),
    };
    let thread = std::thread::Builder::new()
        .name("vigil-fim".into())
        .spawn(move || engine.run())
        .map_err(|e| FimError::Watch(e.to_string()))?;
    Ok(FimHandle {
        stop,
        wake,
        thread: Some(thread),
    })
}

enum Msg {
    Event(Event),
    Error(notify::Error),
}

/// Watcher-thread side: drop what cannot change content or attributes, never block.
fn forward(tx: &QueueSender<Msg>, overflow: &AtomicBool, res: notify::Result<Event>) {
    let msg = match res {
        Ok(ev) => {
            if ev.need_rescan() {
                overflow.store(true, Ordering::Relaxed);
                tx.wake();
                return;
            }
            if !is_relevant(&ev.kind) {
                return;
            }
            Msg::Event(ev)
        }
        Err(e) => Msg::Error(e),
    };
    match tx.try_send(msg) {
        Ok(()) | Err(SendError::Disconnected) => {}
        // A full queue holds messages, so the engine is awake and sees the flag.
        Err(SendError::Full) => overflow.store(true, Ordering::Relaxed),
    }
}

/// Opens and read-only closes cannot change a file; everything else may.
fn is_relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Whether an event may concern a whole subtree (creation, removal, rename) rather than the path
/// alone.
fn is_structural(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Modify(ModifyKind::Data(_))
            | EventKind::Modify(ModifyKind::Metadata(_))
            | EventKind::Access(_)
    )
}

/// Whether package-manager logs were written within `window` before `now` (pure).
pub fn package_manager_active(
    log_mtimes: &[SystemTime],
    now: SystemTime,
    window: Duration,
) -> bool {
    log_mtimes.iter().any(|m| match now.duration_since(*m) {
        Ok(age) => age <= window,
        Err(_) => true, // written "in the future": clock skew, still recent
    })
}

const PACKAGE_LOGS: &[&str] = &[
    "/var/log/dpkg.log",
    "/var/log/apt/history.log",
    "/var/log/dnf.rpm.log",
    "/var/lib/dpkg/lock-frontend",
];

const PACKAGE_TREES: &[&str] = &[
    "/usr", "/etc", "/boot", "/bin", "/sbin", "/lib", "/lib64", "/opt", "/var/lib",
];

struct BgScan {
    targets: Vec<String>,
    why: &'static str,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(Vec<Change>, ScanStats)>,
}

struct Engine {
    cfg: FimConfig,
    root: PathBuf,
    path: PathBuf,
    sink: Box<dyn FindingSink + Send>,
    base: Baseline,
    opts: EngineOptions,
    rx: QueueReceiver<Msg>,
    overflow: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    watcher: Option<RecommendedWatcher>,
    targets: Vec<String>,
    unwatched: BTreeSet<String>,
    watch_limit_reported: bool,
    pending: BTreeMap<Vec<u8>, bool>,
    first_pending: Option<Instant>,
    last_event: Instant,
    dirty: bool,
    last_save: Instant,
    bg: Option<BgScan>,
    touched: Vec<Vec<u8>>,
}

impl Engine {
    fn run(&mut self) {
        self.start();
        let mut next_full = Instant::now() + self.cfg.scan_interval;
        let mut next_fallback = Instant::now() + self.opts.fallback_interval;
        let tick = self
            .cfg
            .debounce
            .clamp(Duration::from_millis(10), Duration::from_millis(100));
        while !self.stop.load(Ordering::Relaxed) {
            #[cfg(test)]
            if self
                .opts
                .pause
                .as_ref()
                .is_some_and(|p| p.load(Ordering::Relaxed))
            {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            match self
                .rx
                .recv_timeout(self.wait(tick, next_full.min(next_fallback)))
            {
                Ok(m) => {
                    if let Some(m) = m {
                        self.handle(m);
                    }
                    // Drain what is queued before deciding anything.
                    for _ in 0..4096 {
                        match self.rx.try_recv() {
                            Ok(Some(m)) => self.handle(m),
                            Ok(None) => {}
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if self.watcher.is_some() {
                        warn!("FIM watcher stopped; relying on scheduled scans.");
                        self.watcher = None;
                    }
                    std::thread::sleep(tick);
                }
            }
            if self.overflow.swap(false, Ordering::Relaxed) {
                self.on_overflow();
            }
            if let Some(first) = self.first_pending {
                let quiet = self.last_event.elapsed() >= self.cfg.debounce;
                let too_long =
                    first.elapsed() >= (self.cfg.debounce * 5).max(Duration::from_secs(1));
                if quiet || too_long {
                    self.flush(first.elapsed());
                }
            }
            self.poll_bg();
            let now = Instant::now();
            if self.bg.is_none() && now >= next_full {
                next_full = now + self.cfg.scan_interval;
                self.start_bg(self.targets.clone(), "scheduled");
            } else if self.bg.is_none() && now >= next_fallback {
                next_fallback = now + self.opts.fallback_interval;
                self.retry_watches();
                let t: Vec<String> = self.unwatched.iter().cloned().collect();
                if !t.is_empty() {
                    self.start_bg(t, "unwatched trees");
                }
            }
            if self.dirty && self.last_save.elapsed() >= self.opts.save_interval {
                self.save();
            }
        }
        if let Some(bg) = self.bg.take() {
            bg.stop.store(true, Ordering::Relaxed);
            let _ = bg.thread.join();
        }
        if self.dirty {
            self.save();
        }
    }

    /// How long to wait for the watcher: a tick while changes are pending or a background scan
    /// runs (both are polled), else until the next deadline (a scan, a baseline save), at most
    /// [`MAX_IDLE_WAIT`]. Events, an overflow and shutdown wake the engine earlier, so an idle
    /// agent does not wake ten times a second for nothing.
    fn wait(&self, tick: Duration, next_scan: Instant) -> Duration {
        if self.first_pending.is_some() || self.bg.is_some() {
            return tick;
        }
        let mut until = next_scan;
        if self.dirty {
            until = until.min(self.last_save + self.opts.save_interval);
        }
        until
            .saturating_duration_since(Instant::now())
            .clamp(tick, MAX_IDLE_WAIT)
    }

    /// Loads the baseline, sets the watches, then reports what changed while we were away.
    fn start(&mut self) {
        let loaded = match baseline::load(&self.path) {
            Ok(b) => b,
            Err(e) => {
                self.health(
                    HealthKind::Other,
                    Severity::High,
                    format!("{e}; starting a new FIM baseline"),
                );
                None
            }
        };
        let targets = self.targets.clone();
        for t in &targets {
            self.add_watch(t);
        }
        match loaded {
            Some((base, _)) if base.algo == self.cfg.hash => {
                self.base = base;
                let (changes, stats) = self.scan_now(&targets, true);
                self.apply_scan(changes, &stats, &targets, "startup");
            }
            _ => {
                let started_at = now();
                #[cfg(test)]
                if self.opts.stop_during_baseline {
                    self.stop.store(true, Ordering::Relaxed);
                }
                let out = scan(&self.request(bytes_of(&targets), false));
                if !out.stats.complete {
                    // Stopped mid-scan (the agent is shutting down): saving this part would make
                    // the next start report everything not yet scanned as created.
                    info!("FIM baseline not completed; it is created again at the next start.");
                    return;
                }
                self.base = Baseline {
                    algo: self.cfg.hash,
                    started_at,
                    scope: targets.clone(),
                    entries: out.entries,
                };
                self.dirty = true;
                self.save();
                info!(entries = self.base.entries.len(), "FIM baseline created.");
            }
        }
        // Trees added to the configuration since the baseline was taken are now covered.
        self.base.scope = targets;
        crate::mem::trim();
    }

    fn handle(&mut self, m: Msg) {
        match m {
            Msg::Event(ev) => {
                let structural = is_structural(&ev.kind);
                for p in ev.paths {
                    let Some(host) = self.host_path(&p) else {
                        continue;
                    };
                    if self.cfg.spec_for(&host).is_none() || self.excluded(&host) {
                        continue;
                    }
                    let e = self.pending.entry(host).or_insert(false);
                    *e |= structural;
                    self.first_pending.get_or_insert_with(Instant::now);
                    self.last_event = Instant::now();
                }
            }
            Msg::Error(e) => self.on_watch_error(&e),
        }
    }

    fn host_path(&self, p: &Path) -> Option<Vec<u8>> {
        crate::platform::hostpath::host_of(&self.root, p)
    }

    /// Excluded itself, or below an excluded directory of its tree.
    fn excluded(&self, host: &[u8]) -> bool {
        let Some(spec) = self.cfg.spec_for(host) else {
            return true;
        };
        let mut end = host.len();
        loop {
            let prefix = &host[..end];
            if self.cfg.is_excluded(spec, prefix) {
                return true;
            }
            if prefix.len() <= spec.path.len() {
                return false;
            }
            match prefix.iter().rposition(|&b| b == b'/') {
                Some(i) if i > 0 => end = i,
                _ => return false,
            }
        }
    }

    fn add_watch(&mut self, t: &str) {
        let Some(w) = self.watcher.as_mut() else {
            self.unwatched.insert(t.to_string());
            return;
        };
        let p = fs_path(&self.root, t.as_bytes());
        #[cfg(test)]
        if self.opts.simulate_watch_limit && self.targets.first().is_some_and(|f| f != t) {
            self.unwatched.insert(t.to_string());
            self.report_watch_limit(t);
            return;
        }
        match w.watch(&p, RecursiveMode::Recursive) {
            Ok(()) => {
                self.unwatched.remove(t);
            }
            Err(e) => {
                self.unwatched.insert(t.to_string());
                if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
                    self.report_watch_limit(t);
                } else if !matches!(e.kind, notify::ErrorKind::PathNotFound) {
                    warn!(tree = t, error = %e, "Cannot watch FIM tree; covered by scans.");
                }
            }
        }
    }

    fn retry_watches(&mut self) {
        let trees: Vec<String> = self.unwatched.iter().cloned().collect();
        for t in trees {
            if let Some(w) = self.watcher.as_mut() {
                let _ = w.unwatch(&fs_path(&self.root, t.as_bytes()));
            }
            self.add_watch(&t);
        }
    }

    fn on_watch_error(&mut self, e: &notify::Error) {
        if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
            let tree = e
                .paths
                .first()
                .and_then(|p| self.host_path(p))
                .and_then(|h| {
                    self.targets
                        .iter()
                        .find(|t| is_under(&h, t.as_bytes()))
                        .cloned()
                })
                .or_else(|| self.targets.first().cloned());
            if let Some(t) = tree {
                self.unwatched.insert(t.clone());
                self.report_watch_limit(&t);
            }
        } else {
            warn!(error = %e, "FIM watcher error.");
        }
    }

    fn report_watch_limit(&mut self, tree: &str) {
        if self.watch_limit_reported {
            return;
        }
        self.watch_limit_reported = true;
        let msg = watch_limit_message(tree, self.opts.fallback_interval);
        warn!(tree, "Inotify watch limit reached.");
        self.health(HealthKind::WatchLimit, Severity::Medium, msg);
    }

    fn on_overflow(&mut self) {
        let dropped = self.pending.len();
        self.pending.clear();
        self.first_pending = None;
        // Empty what is still queued: the rescan covers it.
        for _ in 0..self.opts.queue_capacity.saturating_add(4096) {
            if self.rx.try_recv().is_err() {
                break;
            }
        }
        self.overflow.store(false, Ordering::Relaxed);
        let mut counts = BTreeMap::new();
        counts.insert("pending_dropped".to_string(), dropped as u64);
        self.sink.emit(Finding::AgentHealth(AgentHealth {
            kind: HealthKind::QueueOverflow,
            message: "file event queue overflowed; rescanning every monitored tree now".into(),
            counts,
            severity: Severity::Medium,
        }));
        let targets = self.targets.clone();
        let (changes, stats) = self.scan_now(&targets, true);
        if self.bg.is_some() {
            // A running scheduled scan compares with an older snapshot: these are handled.
            self.touched.extend(changes.iter().map(|c| c.path.clone()));
        }
        self.apply_scan(changes, &stats, &targets, "queue overflow");
    }

    /// Processes debounced paths: re-read, compare, emit, update the baseline.
    fn flush(&mut self, window: Duration) {
        let pending = std::mem::take(&mut self.pending);
        self.first_pending = None;
        let mut changes: Vec<Change> = Vec::new();
        // A structural event on a directory covers everything below it.
        let mut covered: Vec<Vec<u8>> = Vec::new();
        for (host, structural) in pending {
            if covered.iter().any(|c| is_under(&host, c)) {
                continue;
            }
            self.touched.push(host.clone());
            let new = match scan_one(&self.root, &self.cfg, self.base.algo, &host) {
                Ok(e) => e,
                Err(e) => {
                    warn!(path = %String::from_utf8_lossy(&host), error = %e, "Cannot read.");
                    continue;
                }
            };
            let old = self.base.entries.get(&host);
            let is_dir = |e: &Option<Entry>| {
                e.as_ref()
                    .is_some_and(|e| e.file_type == vigil_proto::FileType::Dir)
            };
            let recursive =
                (structural || is_dir(&old) != is_dir(&new)) && (is_dir(&old) || is_dir(&new));
            if recursive {
                covered.push(host.clone());
                let (sub, _) = self.scan_now(std::slice::from_ref(&host), false);
                changes.extend(sub);
            } else if let Some((kind, changed)) = compare(old.as_ref(), new.as_ref()) {
                changes.push(Change {
                    path: host,
                    kind,
                    old,
                    new,
                    changed,
                });
            }
        }
        if changes.is_empty() {
            return;
        }
        if self
            .targets
            .iter()
            .any(|t| changes.iter().any(|c| c.path == t.as_bytes()))
        {
            self.retry_watches();
        }
        let tag = self.package_tag();
        self.emit_changes(&changes, window.as_secs_f64(), tag);
    }

    fn emit_changes(&mut self, changes: &[Change], window_s: f64, pkg: bool) {
        let algo = self.base.algo;
        let (tagged, plain): (Vec<Change>, Vec<Change>) = changes.iter().cloned().partition(|c| {
            pkg && PACKAGE_TREES
                .iter()
                .any(|t| is_under(&c.path, t.as_bytes()))
        });
        let mut events = storm_control(&self.cfg, algo, &plain, window_s, None);
        events.extend(storm_control(
            &self.cfg,
            algo,
            &tagged,
            window_s,
            Some("package-manager"),
        ));
        for ev in events {
            self.sink.emit(Finding::FileEvent(ev));
        }
        // One rebuild of the compact store per batch.
        self.base
            .entries
            .apply(changes.iter().map(|c| (c.path.clone(), c.new.clone())));
        self.dirty = true;
    }

    fn package_tag(&self) -> bool {
        let mtimes: Vec<SystemTime> = PACKAGE_LOGS
            .iter()
            .filter_map(|l| std::fs::metadata(fs_path(&self.root, l.as_bytes())).ok())
            .filter_map(|m| m.modified().ok())
            .collect();
        package_manager_active(&mtimes, SystemTime::now(), self.opts.package_window)
    }

    /// Synchronous, unthrottled scan (startup, overflow, realtime subtrees) compared with the
    /// baseline as it goes.
    fn scan_now<S: AsRef<[u8]>>(&self, targets: &[S], reuse: bool) -> (Vec<Change>, ScanStats) {
        let t: Vec<Vec<u8>> = targets.iter().map(|t| t.as_ref().to_vec()).collect();
        scan_diff(&self.request(t, reuse), &self.base.entries, targets)
    }

    fn request(&self, targets: Vec<Vec<u8>>, reuse: bool) -> ScanRequest<'_> {
        ScanRequest {
            root: &self.root,
            cfg: &self.cfg,
            threads: if targets.len() == 1 {
                1
            } else {
                self.cfg.threads
            },
            targets,
            algo: self.base.algo,
            reuse: reuse.then_some(&self.base),
            max_read_rate: None,
            priority: None,
            stop: Some(&self.stop),
            progress: None,
        }
    }

    fn start_bg(&mut self, targets: Vec<String>, why: &'static str) {
        let stop = Arc::new(AtomicBool::new(false));
        // A snapshot: the realtime side rebuilds its own store meanwhile.
        let snapshot: Entries = self.base.entries.clone();
        let (cfg, root, algo, t2, s2) = (
            self.cfg.clone(),
            self.root.clone(),
            self.base.algo,
            targets.clone(),
            stop.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("vigil-fim-scan".into())
            .spawn(move || {
                let req = ScanRequest {
                    root: &root,
                    cfg: &cfg,
                    targets: bytes_of(&t2),
                    algo,
                    reuse: None,
                    threads: 1,
                    max_read_rate: cfg.max_read_rate,
                    priority: Some(cfg.scan_priority),
                    stop: Some(&s2),
                    progress: None,
                };
                scan_diff(&req, &snapshot, &t2)
            });
        match thread {
            Ok(thread) => {
                self.touched.clear();
                self.bg = Some(BgScan {
                    targets,
                    why,
                    stop,
                    thread,
                });
            }
            Err(e) => warn!(error = %e, "Cannot start FIM scan thread."),
        }
    }

    fn poll_bg(&mut self) {
        if !self.bg.as_ref().is_some_and(|b| b.thread.is_finished()) {
            return;
        }
        let Some(bg) = self.bg.take() else { return };
        match bg.thread.join() {
            Ok((changes, stats)) if stats.complete => {
                let touched = std::mem::take(&mut self.touched);
                // Paths handled by realtime processing after the scan started keep that newer
                // state; the rest is compared again with the current baseline, so nothing the
                // engine already recorded is reported twice.
                let changes: Vec<Change> = changes
                    .into_iter()
                    .filter(|c| !touched.iter().any(|s| is_under(&c.path, s)))
                    .filter_map(|c| {
                        let old = self.base.entries.get(&c.path);
                        let (kind, changed) = compare(old.as_ref(), c.new.as_ref())?;
                        Some(Change {
                            kind,
                            changed,
                            old,
                            ..c
                        })
                    })
                    .collect();
                self.apply_scan(changes, &stats, &bg.targets, bg.why);
                crate::mem::trim();
            }
            Ok(_) => {}
            Err(_) => warn!("FIM scan thread panicked."),
        }
    }

    /// Reports and applies a complete scan's differences.
    fn apply_scan(
        &mut self,
        changes: Vec<Change>,
        stats: &ScanStats,
        targets: &[String],
        why: &str,
    ) {
        if !stats.complete {
            return;
        }
        let n = changes.len() as u64;
        self.sink.emit(Finding::FileEvent(FileEvent {
            path: targets
                .iter()
                .map(|t| crate::platform::hostpath::display(t.as_bytes()))
                .collect::<Vec<_>>()
                .join(" "),
            kind: FileEventKind::Rescan,
            old: None,
            new: None,
            changed: Vec::new(),
            process: None,
            tag: None,
            summary: Some(format!(
                "{why} scan of {} paths found {n} changes ({} unverified)",
                stats.entries, stats.error_count
            )),
            count: Some(n),
            severity: Severity::Low,
        }));
        if !changes.is_empty() {
            let pkg = self.package_tag();
            self.emit_changes(&changes, 1.0, pkg);
        }
    }

    fn health(&mut self, kind: HealthKind, severity: Severity, message: String) {
        self.sink.emit(Finding::AgentHealth(AgentHealth {
            kind,
            message,
            counts: BTreeMap::new(),
            severity,
        }));
    }

    fn save(&mut self) {
        match baseline::write_atomic(&self.path, &self.base.encode()) {
            Ok(()) => self.dirty = false,
            Err(e) => warn!(error = %e, "Cannot save FIM baseline."),
        }
        self.last_save = Instant::now();
    }
}

/// The once-only message when the inotify watch limit is reached.
pub fn watch_limit_message(tree: &str, fallback: Duration) -> String {
    format!(
        "inotify watch limit reached while watching {tree}: raise the sysctl \
         fs.inotify.max_user_watches (e.g. `sysctl -w fs.inotify.max_user_watches=524288` and a \
         file in /etc/sysctl.d); until then unwatched trees are scanned every {} s",
        fallback.as_secs()
    )
}
