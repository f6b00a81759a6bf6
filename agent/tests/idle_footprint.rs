//! The idle agent's footprint, pinned by behaviour rather than wall-clock figures: the heap bytes
//! a part keeps (counted by this test binary's global allocator) and the wake-ups of an idle
//! engine thread (counted by the kernel). `bench/idle.sh` measures the whole process; these tests
//! say which part regressed.

#![allow(
    unsafe_code,
    reason = "a counting global allocator wraps the system one"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use vigil_agent::fim::{FimCliOptions, FimConfig, OutputFormat, RawFimConfig};
use vigil_proto::{FileEventKind, Finding, FindingSink};

/// Counts the bytes currently allocated through it, and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` with the caller's arguments unchanged; the counter
// is only arithmetic on the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller's contract for `GlobalAlloc::alloc`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller's contract for `GlobalAlloc::alloc_zeroed`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller's contract for `GlobalAlloc::realloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            grew(new_size);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Heap figures are process-wide: the tests of this binary run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

const MIB: usize = 1 << 20;

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

/// A tree of 40 directories of 25 files under `/etc` of `root`, with its baseline in `state`.
fn fim_fixture(root: &Path, state: &Path) -> FimConfig {
    for d in 0..40 {
        let dir = root.join(format!("etc/d{d}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for f in 0..25 {
            std::fs::write(dir.join(format!("f{f}.conf")), format!("{d}/{f}\n")).expect("write");
        }
    }
    let cfg = RawFimConfig {
        paths: Some(vec![vigil_agent::fim::config::RawPathSpec::Plain(
            "/etc".into(),
        )]),
        ..Default::default()
    }
    .validate()
    .expect("valid config");
    let opts = FimCliOptions {
        root: root.to_path_buf(),
        paths: Vec::new(),
        format: OutputFormat::Json,
        full: false,
        progress: Some(false),
    };
    vigil_agent::fim::run_baseline(&cfg, &opts, state, &mut Vec::new()).expect("baseline");
    cfg
}

/// Waits (at most 10 s) for the engine's start-up scan to be reported.
fn wait_for_startup(sink: &SharedSink) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let done = sink
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|f| matches!(f, Finding::FileEvent(e) if e.kind == FileEventKind::Rescan));
        if done {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the FIM engine did not report its start-up scan within 10 s");
}

/// A running realtime FIM engine with its default options (a queue of 65,536 events) over
/// 1,000 files keeps well under 1 MiB of heap. Its event queue used to allocate and fill every
/// slot up front (`sync_channel`): ~4.5 MiB held for the agent's life while it is empty.
#[test]
fn an_idle_fim_engine_holds_little_heap() {
    let _g = serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let (root, state) = (tmp.path().join("root"), tmp.path().join("state"));
    let cfg = fim_fixture(&root, &state);
    let sink = SharedSink::default();
    let before = live();
    let h = vigil_agent::fim::spawn(cfg, root, state, Box::new(sink.clone())).expect("spawn");
    wait_for_startup(&sink);
    let held = live().saturating_sub(before);
    h.shutdown();
    eprintln!("idle FIM engine over 1,000 files: {held} bytes of heap");
    assert!(
        held < MIB,
        "an idle FIM engine over 1,000 files holds {held} bytes of heap"
    );
}

/// The voluntary context switches of this process's thread named `name` (Linux).
#[cfg(target_os = "linux")]
fn wakeups_of(name: &str) -> Option<u64> {
    for t in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let status = std::fs::read_to_string(t.path().join("status")).ok()?;
        return status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok());
    }
    None
}

/// An idle FIM engine sleeps until its next deadline: over 2 s with no file changes its thread
/// wakes at most a few times. It used to poll its queue every 100 ms (20 wake-ups in 2 s).
#[cfg(target_os = "linux")]
#[test]
fn an_idle_fim_engine_does_not_poll() {
    let _g = serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let (root, state) = (tmp.path().join("root"), tmp.path().join("state"));
    let cfg = fim_fixture(&root, &state);
    let sink = SharedSink::default();
    let h = vigil_agent::fim::spawn(cfg, root, state, Box::new(sink.clone())).expect("spawn");
    wait_for_startup(&sink);
    // Let the start-up settle (the engine goes idle once the start-up batch is handled).
    std::thread::sleep(Duration::from_millis(500));
    let w0 = wakeups_of("vigil-fim").expect("the engine thread");
    std::thread::sleep(Duration::from_secs(2));
    let w1 = wakeups_of("vigil-fim").expect("the engine thread");
    eprintln!("idle FIM engine: {} wake-ups in 2 s", w1 - w0);
    let stopping = Instant::now();
    h.shutdown();
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "a sleeping engine stops at once"
    );
    assert!(
        w1 - w0 <= 4,
        "the idle engine woke {} times in 2 s",
        w1 - w0
    );
}

/// A check run with the built-in packs parses only this platform's packs (Linux hosts used to
/// parse the Windows pack too at every run, then drop it: a peak above that of parsing every
/// built-in pack) and keeps nothing once its results are returned: the agent holds no pack
/// between runs (~4.9 MB for the three packs parsed, their regexes compiled).
#[test]
fn a_check_run_parses_only_this_platforms_packs_and_keeps_none() {
    let _g = serial();
    let before = live();
    PEAK.store(before, Ordering::Relaxed);
    let all = vigil_rules::builtin_packs().expect("built-in packs parse");
    let all_held = live().saturating_sub(before);
    let all_peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    drop(all);
    let cfg = vigil_agent::check::ChecksConfig {
        packs: vec![vigil_agent::check::default_pack_dir()],
        ..Default::default()
    };
    let facts = vigil_rules::RootFacts::new("/", std::time::SystemTime::now());
    let base = live();
    PEAK.store(base, Ordering::Relaxed);
    let packs = vigil_agent::check::packs_for_this_host(&cfg, &facts).expect("packs");
    let parse_peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let results: usize = packs
        .iter()
        .map(|p| vigil_rules::evaluate(p, &facts, cfg.level).len())
        .sum();
    drop(packs);
    let after = live().saturating_sub(base);
    eprintln!(
        "all built-in packs parsed: {all_held} bytes (peak {all_peak}); this host's: peak \
         {parse_peak} bytes; \
         after a run of {results} results: {after} bytes held"
    );
    assert!(results > 0);
    assert!(
        parse_peak < all_peak,
        "loading this host's packs peaked at {parse_peak} bytes, all built-in packs at {all_peak}"
    );
    assert!(
        after < 64 * 1024,
        "a finished check run still holds {after} bytes of heap"
    );
}
