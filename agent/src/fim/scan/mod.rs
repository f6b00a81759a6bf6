//! Parallel scanner: walks the monitored trees under a root and records an [`Entry`] per path.
//!
//! Worker threads share a LIFO job queue (depth-first, so memory stays bounded): a directory job
//! lists and `lstat`s its children, pushes subdirectories as jobs and regular files in batches, so
//! one huge directory is still hashed by every thread. Files are opened with `O_NOFOLLOW |
//! O_NONBLOCK | O_NOATIME` (a swapped-in symlink or FIFO can neither redirect nor hang the
//! scan, and atimes are left alone) and hashed with large buffered reads. In fast mode a file whose
//! size, mtime, ctime and inode match the previous baseline keeps its old hash, unless it changed
//! within a second of that baseline's start (timestamps are coarse, so it might have changed
//! again unseen, as git's "racy" entries). An optional byte-rate cap sleeps the workers, and
//! scheduled scans lower the workers' CPU and I/O priority. Entries go to an [`EntrySink`]:
//! collected into a compact store for a baseline, or compared with the baseline on the fly
//! ([`scan_diff`]) so a check never holds a second copy of the tree.

use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::Digest as _;
use vigil_proto::FileType;

use super::baseline::{Baseline, Entry, Timestamp};
use super::config::{FimConfig, HashAlgo, PathSpec, ScanPriority, is_under};
use super::diff::{Change, Differ};
pub use super::entries::EntrySink;
use super::entries::{Entries, EntriesCollector};
use crate::platform::{self, hostpath};

/// What to scan and how.
pub struct ScanRequest<'a> {
    /// Directory standing for `/` (`/` on a live host, a mount point for an offline image).
    pub root: &'a Path,
    /// Trees, options and exclusions.
    pub cfg: &'a FimConfig,
    /// Host paths to walk; each must lie in one of `cfg.paths`. Nested trees are entered with
    /// their own options.
    pub targets: Vec<Vec<u8>>,
    /// Hash algorithm (a check must use the baseline's).
    pub algo: HashAlgo,
    /// Fast mode: reuse hashes from this baseline for files whose metadata did not change.
    pub reuse: Option<&'a Baseline>,
    /// Worker threads (0: one per CPU).
    pub threads: usize,
    /// Cap on bytes read per second, across workers.
    pub max_read_rate: Option<u64>,
    /// Lower the CPU and I/O priority of the worker threads (scheduled scans).
    pub priority: Option<ScanPriority>,
    /// Set to abandon the scan (the result is then incomplete).
    pub stop: Option<&'a AtomicBool>,
    /// Called about five times a second with progress, from the calling thread.
    pub progress: Option<&'a (dyn Fn(&ScanStats) + Sync)>,
}

/// Counters of a scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Paths recorded.
    pub entries: u64,
    /// Files whose content was read.
    pub hashed_files: u64,
    /// Bytes read for hashing.
    pub hashed_bytes: u64,
    /// Files whose hash was reused (fast mode).
    pub reused: u64,
    /// Problems that left a path unverified (unreadable directory or file), first 100.
    pub errors: Vec<String>,
    /// Total number of problems.
    pub error_count: u64,
    /// False when the scan was stopped early.
    pub complete: bool,
}

/// Result of a scan.
#[derive(Debug, Default)]
pub struct ScanOutput {
    /// Entries by host path.
    pub entries: Entries,
    /// Counters.
    pub stats: ScanStats,
}

/// Name of scanner worker threads (also how tests find them in `/proc`).
pub const WORKER_NAME: &str = "vigil-fim-work";

/// The top-level trees of `cfg` (those not nested in another), as scan targets.
pub fn top_level_targets(cfg: &FimConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in &cfg.paths {
        if !cfg
            .paths
            .iter()
            .any(|o| o.path != s.path && is_under(s.path.as_bytes(), o.path.as_bytes()))
        {
            out.push(s.path.clone());
        }
    }
    out
}

/// Converts textual targets for [`ScanRequest::targets`].
pub fn bytes_of(targets: &[String]) -> Vec<Vec<u8>> {
    targets.iter().map(|t| t.as_bytes().to_vec()).collect()
}

/// Scans the targets in parallel and collects the entries.
pub fn scan(req: &ScanRequest<'_>) -> ScanOutput {
    let collector = EntriesCollector::new(thread_count(req) + 1);
    let stats = scan_into(req, &collector);
    ScanOutput {
        entries: collector.finish(),
        stats,
    }
}

/// Scans the targets and compares them with `old` as they are read, without keeping the new
/// entries: returns the changes under `scope` (see [`super::diff::diff`]) sorted by path.
pub fn scan_diff<S: AsRef<[u8]>>(
    req: &ScanRequest<'_>,
    old: &Entries,
    scope: &[S],
) -> (Vec<Change>, ScanStats) {
    let differ = Differ::new(old, scope);
    let stats = scan_into(req, &differ);
    (differ.finish(), stats)
}

fn thread_count(req: &ScanRequest<'_>) -> usize {
    match req.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    }
}

/// Scans the targets in parallel, handing every entry to `sink`.
pub fn scan_into(req: &ScanRequest<'_>, sink: &dyn EntrySink) -> ScanStats {
    let threads = thread_count(req);
    let mut shared = Shared::new(req);
    shared.limiter = req.max_read_rate.map(|rate| Limiter {
        rate,
        start: Instant::now(),
        bytes: AtomicU64::new(0),
    });

    // Targets themselves are recorded by the calling thread (sink slot `threads`).
    let mut first: u64 = 0;
    let mut seen_targets: Vec<&[u8]> = Vec::new();
    let mut files: Vec<FileJob> = Vec::new();
    for t in &req.targets {
        // A target inside another one would be recorded twice.
        if req.targets.iter().any(|o| o != t && is_under(t, o)) || seen_targets.contains(&&t[..]) {
            continue;
        }
        seen_targets.push(t);
        let Some(spec_idx) = spec_index(req.cfg, t) else {
            continue;
        };
        let spec = &req.cfg.paths[spec_idx];
        let host = t.clone();
        if req.cfg.is_excluded(spec, &host) {
            continue;
        }
        match fs::symlink_metadata(fs_path(req.root, &host)) {
            Ok(md) if md.is_file() => files.push(FileJob {
                path: host,
                spec: spec_idx,
                md,
            }),
            Ok(md) => {
                let is_dir = md.is_dir();
                let e = shared.entry_for(&host, spec, &md);
                sink.entry(threads, &host, e);
                first += 1;
                if is_dir {
                    shared.lock_queue().jobs.push(Job::Dir(host, spec_idx));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => shared.error(&host, &e),
        }
    }
    if !files.is_empty() {
        shared.lock_queue().jobs.push(Job::Files(files));
    }
    shared.entries.fetch_add(first, Ordering::Relaxed);

    std::thread::scope(|s| {
        let shared = &shared;
        let mut handles = Vec::new();
        for worker in 0..threads {
            let spawned = std::thread::Builder::new()
                .name(WORKER_NAME.into())
                .spawn_scoped(s, move || {
                    if let Some(p) = &req.priority
                        && let Err(e) = platform::lower_current_thread(p)
                    {
                        shared.priority_error(&e);
                    }
                    shared.work(worker, sink)
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => shared.error(b"(scanner)", &e),
            }
        }
        if handles.is_empty() {
            shared.stopped.store(true, Ordering::Relaxed);
        }
        if let Some(progress) = req.progress {
            while !handles.iter().all(|h| h.is_finished()) {
                progress(&shared.stats());
                std::thread::sleep(Duration::from_millis(200));
            }
            progress(&shared.stats());
        }
        for h in handles {
            if h.join().is_err() {
                shared.stopped.store(true, Ordering::Relaxed);
                shared.error(b"(scanner)", &io::Error::other("scanner thread panicked"));
            }
        }
    });

    let mut stats = shared.stats();
    stats.complete = !shared.stopped.load(Ordering::Relaxed);
    stats
}

/// Records one path (no descent), as the realtime engine does for a single changed file.
/// Returns `None` when it does not exist or is excluded.
///
/// # Errors
/// I/O errors other than absence.
pub fn scan_one(
    root: &Path,
    cfg: &FimConfig,
    algo: HashAlgo,
    host: &[u8],
) -> io::Result<Option<Entry>> {
    let Some(spec_idx) = spec_index(cfg, host) else {
        return Ok(None);
    };
    let spec = &cfg.paths[spec_idx];
    if cfg.is_excluded(spec, host) {
        return Ok(None);
    }
    let md = match fs::symlink_metadata(fs_path(root, host)) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let req = ScanRequest {
        root,
        cfg,
        targets: Vec::new(),
        algo,
        reuse: None,
        threads: 1,
        max_read_rate: None,
        priority: None,
        stop: None,
        progress: None,
    };
    let shared = Shared::new(&req);
    if md.is_file() {
        let mut buf = Vec::new();
        Ok(shared.hash_file(host, spec, md, &mut buf))
    } else {
        Ok(Some(shared.entry_for(host, spec, &md)))
    }
}

/// The file-system path of host path `host` under `root` (see `platform::hostpath`).
pub fn fs_path(root: &Path, host: &[u8]) -> PathBuf {
    hostpath::fs_path(root, host)
}

fn spec_index(cfg: &FimConfig, host: &[u8]) -> Option<usize> {
    cfg.paths
        .iter()
        .enumerate()
        .filter(|(_, s)| is_under(host, s.path.as_bytes()))
        .max_by_key(|(_, s)| s.path.len())
        .map(|(i, _)| i)
}

const FILE_BATCH: usize = 32;
const BUF_SIZE: usize = 256 * 1024;
const MAX_ERRORS_KEPT: usize = 100;

enum Job {
    Dir(Vec<u8>, usize),
    Files(Vec<FileJob>),
}

struct FileJob {
    path: Vec<u8>,
    spec: usize,
    md: Metadata,
}

struct QueueState {
    jobs: Vec<Job>,
    active: usize,
}

struct Limiter {
    rate: u64,
    start: Instant,
    bytes: AtomicU64,
}

impl Limiter {
    fn account(&self, n: u64) {
        let total = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        let due = Duration::from_secs_f64(total as f64 / self.rate as f64);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}

struct Shared<'a> {
    req: &'a ScanRequest<'a>,
    queue: Mutex<QueueState>,
    cv: Condvar,
    stopped: AtomicBool,
    entries: AtomicU64,
    hashed_files: AtomicU64,
    hashed_bytes: AtomicU64,
    reused: AtomicU64,
    errors: Mutex<(Vec<String>, u64)>,
    limiter: Option<Limiter>,
    priority_warned: AtomicBool,
}

impl<'a> Shared<'a> {
    fn new(req: &'a ScanRequest<'a>) -> Self {
        Self {
            req,
            queue: Mutex::new(QueueState {
                jobs: Vec::new(),
                active: 0,
            }),
            cv: Condvar::new(),
            stopped: AtomicBool::new(false),
            entries: AtomicU64::new(0),
            hashed_files: AtomicU64::new(0),
            hashed_bytes: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            errors: Mutex::new((Vec::new(), 0)),
            limiter: None,
            priority_warned: AtomicBool::new(false),
        }
    }

    /// Not being able to lower the priority is worth one warning per scan, not a failure.
    fn priority_error(&self, e: &io::Error) {
        if !self.priority_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %e, "Cannot lower the priority of FIM scan threads.");
        }
    }

    fn lock_queue(&self) -> MutexGuard<'_, QueueState> {
        // A panicking worker cannot leave the queue inconsistent: every update is one statement.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stats(&self) -> ScanStats {
        let errs = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        ScanStats {
            entries: self.entries.load(Ordering::Relaxed),
            hashed_files: self.hashed_files.load(Ordering::Relaxed),
            hashed_bytes: self.hashed_bytes.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
            errors: errs.0.clone(),
            error_count: errs.1,
            complete: false,
        }
    }

    fn error(&self, host: &[u8], e: &io::Error) {
        let mut errs = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        errs.1 += 1;
        if errs.0.len() < MAX_ERRORS_KEPT {
            errs.0
                .push(format!("{}: {e}", String::from_utf8_lossy(host)));
        }
    }

    fn stop_requested(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
            || self.req.stop.is_some_and(|s| s.load(Ordering::Relaxed))
    }

    fn pop(&self) -> Option<Job> {
        let mut q = self.lock_queue();
        loop {
            if self.stop_requested() {
                self.stopped.store(true, Ordering::Relaxed);
                self.cv.notify_all();
                return None;
            }
            if let Some(j) = q.jobs.pop() {
                q.active += 1;
                return Some(j);
            }
            if q.active == 0 {
                self.cv.notify_all();
                return None;
            }
            q = self.cv.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn finish(&self, new_jobs: Vec<Job>) {
        let mut q = self.lock_queue();
        let wake = !new_jobs.is_empty();
        q.jobs.extend(new_jobs);
        q.active -= 1;
        if wake || q.active == 0 {
            self.cv.notify_all();
        }
    }

    fn work(&self, worker: usize, sink: &dyn EntrySink) {
        let mut buf = Vec::new();
        while let Some(job) = self.pop() {
            let new_jobs = match job {
                Job::Dir(path, spec) => self.list_dir(&path, spec, worker, sink),
                Job::Files(files) => {
                    for f in files {
                        let spec = &self.req.cfg.paths[f.spec];
                        if let Some(e) = self.hash_file(&f.path, spec, f.md, &mut buf) {
                            self.entries.fetch_add(1, Ordering::Relaxed);
                            sink.entry(worker, &f.path, e);
                        }
                    }
                    Vec::new()
                }
            };
            self.finish(new_jobs);
        }
    }

    fn list_dir(
        &self,
        dir: &[u8],
        spec_idx: usize,
        worker: usize,
        sink: &dyn EntrySink,
    ) -> Vec<Job> {
        let cfg = self.req.cfg;
        let mut jobs = Vec::new();
        let rd = match fs::read_dir(fs_path(self.req.root, dir)) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return jobs,
            Err(e) => {
                self.error(dir, &e);
                return jobs;
            }
        };
        let mut files = Vec::new();
        for de in rd {
            let de = match de {
                Ok(de) => de,
                Err(e) => {
                    self.error(dir, &e);
                    continue;
                }
            };
            let mut child = Vec::with_capacity(dir.len() + 1 + de.file_name().len());
            child.extend_from_slice(dir);
            if dir != b"/" {
                child.push(b'/');
            }
            child.extend_from_slice(de.file_name().as_encoded_bytes());
            // A nested tree is entered with its own options.
            let spec_idx = cfg
                .paths
                .iter()
                .position(|s| s.path.as_bytes() == child.as_slice())
                .unwrap_or(spec_idx);
            let spec = &cfg.paths[spec_idx];
            if cfg.is_excluded(spec, &child) {
                continue;
            }
            if let Some(l) = &self.limiter {
                l.account(512);
            }
            let md = match fs::symlink_metadata(de.path()) {
                Ok(md) => md,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    self.error(&child, &e);
                    continue;
                }
            };
            if md.is_file() {
                files.push(FileJob {
                    path: child,
                    spec: spec_idx,
                    md,
                });
                if files.len() == FILE_BATCH {
                    jobs.push(Job::Files(std::mem::take(&mut files)));
                }
                continue;
            }
            let e = self.entry_for(&child, spec, &md);
            self.entries.fetch_add(1, Ordering::Relaxed);
            sink.entry(worker, &child, e);
            if md.is_dir() {
                jobs.push(Job::Dir(child, spec_idx));
            }
        }
        if !files.is_empty() {
            jobs.push(Job::Files(files));
        }
        jobs
    }

    /// Entry for a non-regular object (directory, symlink, other).
    fn entry_for(&self, host: &[u8], spec: &PathSpec, md: &Metadata) -> Entry {
        let mut e = entry_from_meta(md);
        if e.file_type == FileType::Symlink {
            match fs::read_link(fs_path(self.req.root, host)) {
                Ok(t) => e.link_target = Some(hostpath::link_bytes(&t)),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => self.error(host, &err),
            }
            if spec.follow_symlinks
                && let Some(target) = resolve_in_root(self.req.root, host)
                && let Ok(md) = fs::symlink_metadata(&target)
                && md.len() <= spec.max_hash_size
            {
                let mut buf = Vec::new();
                e.hash = self.hash_path(&target, host, &mut buf).map(|(h, _)| h);
            }
        }
        e
    }

    /// Entry for a regular file, hashed or with a reused hash. `None` when it vanished.
    fn hash_file(
        &self,
        host: &[u8],
        spec: &PathSpec,
        md: Metadata,
        buf: &mut Vec<u8>,
    ) -> Option<Entry> {
        let mut e = entry_from_meta(&md);
        if !spec.hash || md.len() > spec.max_hash_size {
            return Some(e);
        }
        if let Some(old) = self.req.reuse.and_then(|b| {
            let old = b.entries.get(host)?;
            let racy = b.started_at.secs - 1;
            (old.file_type == FileType::File
                && old.hash.is_some()
                && old.size == e.size
                && old.mtime == e.mtime
                && old.ctime == e.ctime
                && old.ino == e.ino
                && old.mtime.secs < racy
                && old.ctime.secs < racy)
                .then_some(old)
        }) {
            e.hash = old.hash;
            self.reused.fetch_add(1, Ordering::Relaxed);
            return Some(e);
        }
        let path = fs_path(self.req.root, host);
        match self.hash_path(&path, host, buf) {
            Some((h, fresh)) => {
                // Record what was actually read (the file may have been replaced meanwhile).
                if let Some(md) = fresh {
                    e = entry_from_meta(&md);
                }
                if e.file_type == FileType::File {
                    e.hash = Some(h);
                }
                Some(e)
            }
            None if !path.exists() && fs::symlink_metadata(&path).is_err() => None,
            None => Some(e),
        }
    }

    /// Hashes the regular file at `path`; returns the digest and the metadata of what was read.
    fn hash_path(
        &self,
        path: &Path,
        host: &[u8],
        buf: &mut Vec<u8>,
    ) -> Option<([u8; 32], Option<Metadata>)> {
        let mut f = match platform::open_nofollow(path) {
            Ok(Some(f)) => f,
            // A symlink swapped in since the listing: never follow it.
            Ok(None) => return None,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                self.error(host, &e);
                return None;
            }
        };
        let md = f.metadata().ok();
        if md.as_ref().is_some_and(|m| !m.is_file()) {
            return None;
        }
        if buf.len() < BUF_SIZE {
            buf.resize(BUF_SIZE, 0);
        }
        let mut hasher = Hasher::new(self.req.algo);
        loop {
            match f.read(buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    self.hashed_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    if let Some(l) = &self.limiter {
                        l.account(n as u64);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error(host, &e);
                    return None;
                }
            }
        }
        self.hashed_files.fetch_add(1, Ordering::Relaxed);
        Some((hasher.finish(), md))
    }
}

enum Hasher {
    Blake3(Box<blake3::Hasher>),
    Sha256(sha2::Sha256),
}

impl Hasher {
    fn new(algo: HashAlgo) -> Self {
        match algo {
            HashAlgo::Blake3 => Self::Blake3(Box::new(blake3::Hasher::new())),
            HashAlgo::Sha256 => Self::Sha256(sha2::Sha256::new()),
        }
    }
    fn update(&mut self, b: &[u8]) {
        match self {
            Self::Blake3(h) => {
                h.update(b);
            }
            Self::Sha256(h) => h.update(b),
        }
    }
    fn finish(self) -> [u8; 32] {
        match self {
            Self::Blake3(h) => *h.finalize().as_bytes(),
            Self::Sha256(h) => h.finalize().into(),
        }
    }
}

/// Digest of `data` with `algo` (for tests and small in-memory content).
pub fn hash_bytes(algo: HashAlgo, data: &[u8]) -> [u8; 32] {
    let mut h = Hasher::new(algo);
    h.update(data);
    h.finish()
}

/// Builds an entry (without hash or link target) from `lstat` metadata.
pub fn entry_from_meta(md: &Metadata) -> Entry {
    let ft = md.file_type();
    let file_type = if ft.is_file() {
        FileType::File
    } else if ft.is_dir() {
        FileType::Dir
    } else if ft.is_symlink() {
        FileType::Symlink
    } else {
        FileType::Other
    };
    let a = platform::file_attrs(md);
    let mtime =
        md.modified()
            .ok()
            .map_or((0, 0), |t| match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => (
                    i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                    d.subsec_nanos(),
                ),
                // Before 1970: floor to whole seconds, as `st_mtime`/`st_mtime_nsec` do.
                Err(e) => {
                    let d = e.duration();
                    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                    match d.subsec_nanos() {
                        0 => (-secs, 0),
                        n => (-secs - 1, 1_000_000_000 - n),
                    }
                }
            });
    Entry {
        file_type,
        size: md.len(),
        mode: a.mode,
        uid: a.uid,
        gid: a.gid,
        mtime: Timestamp {
            secs: mtime.0,
            nanos: mtime.1,
        },
        ctime: Timestamp {
            secs: a.ctime.0,
            nanos: a.ctime.1,
        },
        ino: a.ino,
        link_target: None,
        hash: None,
    }
}

/// Follows the symlink at host path `host` (up to 8 hops) without leaving `root`; returns the
/// file-system path of the regular file it ends at.
fn resolve_in_root(root: &Path, host: &[u8]) -> Option<PathBuf> {
    let mut cur = host.to_vec();
    for _ in 0..8 {
        let p = fs_path(root, &cur);
        let md = fs::symlink_metadata(&p).ok()?;
        if md.is_file() {
            return Some(p);
        }
        if !md.file_type().is_symlink() {
            return None;
        }
        let target = hostpath::link_bytes(&fs::read_link(&p).ok()?);
        let t = target.as_slice();
        let base: &[u8] = if t.starts_with(b"/") {
            b"/"
        } else {
            match cur.iter().rposition(|&b| b == b'/') {
                Some(0) | None => b"/",
                Some(i) => &cur[..i],
            }
        };
        cur = join_clamped(base, t);
    }
    None
}

/// Joins `rel` to absolute `base`, resolving `.` and `..` without going above `/`.
fn join_clamped(base: &[u8], rel: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in base.split(|&b| b == b'/').chain(rel.split(|&b| b == b'/')) {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = Vec::new();
    for p in parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

// Symlinks, non-UTF-8 names and per-thread nice values: Linux.
#[cfg(all(test, target_os = "linux"))]
mod tests;
