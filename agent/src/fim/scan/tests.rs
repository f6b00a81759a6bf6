use std::os::unix::ffi::OsStrExt as _;

use super::*;
use crate::fim::config::RawFimConfig;

fn cfg_for(paths: &[&str]) -> FimConfig {
    RawFimConfig {
        paths: Some(
            paths
                .iter()
                .map(|p| crate::fim::config::RawPathSpec::Plain(p.to_string()))
                .collect(),
        ),
        ..Default::default()
    }
    .validate()
    .expect("valid")
}

fn req<'a>(root: &'a Path, cfg: &'a FimConfig) -> ScanRequest<'a> {
    ScanRequest {
        root,
        cfg,
        targets: bytes_of(&top_level_targets(cfg)),
        algo: HashAlgo::Blake3,
        reuse: None,
        threads: 3,
        max_read_rate: None,
        priority: None,
        stop: None,
        progress: None,
    }
}

fn get(e: &Entries, path: &[u8]) -> Entry {
    e.get(path).expect("entry present")
}

#[test]
fn scans_tree_with_types_hashes_and_exclusions() {
    let t = tempfile::tempdir().expect("tmp");
    let r = t.path();
    fs::create_dir_all(r.join("etc/sub/deep")).expect("mkdir");
    fs::write(r.join("etc/passwd"), b"root:x:0:0").expect("w");
    fs::write(r.join("etc/sub/deep/f"), b"deep").expect("w");
    fs::write(r.join("etc/.x.swp"), b"swap").expect("w");
    std::os::unix::fs::symlink("../passwd", r.join("etc/sub/link")).expect("ln");
    let odd = std::ffi::OsStr::from_bytes(b"\xff-binary-name");
    fs::write(r.join("etc/sub").join(odd), b"hidden?").expect("w");
    for i in 0..100 {
        fs::write(r.join(format!("etc/sub/many{i}")), format!("{i}")).expect("w");
    }
    let cfg = cfg_for(&["/etc", "/missing"]);
    let out = scan(&req(r, &cfg));
    assert!(out.stats.complete);
    let e = &out.entries;
    assert_eq!(get(e, b"/etc").file_type, FileType::Dir);
    assert_eq!(
        get(e, b"/etc/passwd").hash,
        Some(hash_bytes(HashAlgo::Blake3, b"root:x:0:0"))
    );
    assert_eq!(
        get(e, b"/etc/sub/link").link_target.as_deref(),
        Some(b"../passwd".as_slice())
    );
    assert_eq!(get(e, b"/etc/sub/link").hash, None);
    assert!(e.contains(b"/etc/sub/\xff-binary-name"));
    assert!(!e.contains(b"/etc/.x.swp"));
    assert!(e.contains(b"/etc/sub/deep/f"));
    assert_eq!(e.len(), 1 + 1 + 1 + 1 + 1 + 1 + 1 + 100);
    assert_eq!(out.stats.entries, e.len() as u64);
}

#[test]
fn follow_symlinks_hashes_target_inside_root() {
    let t = tempfile::tempdir().expect("tmp");
    let r = t.path();
    fs::create_dir_all(r.join("etc")).expect("mkdir");
    fs::write(r.join("etc/real"), b"content").expect("w");
    std::os::unix::fs::symlink("/etc/real", r.join("etc/abs")).expect("ln");
    let cfg = RawFimConfig {
        paths: Some(vec![crate::fim::config::RawPathSpec::Table(
            crate::fim::config::RawPathTable {
                path: "/etc".into(),
                hash: None,
                follow_symlinks: Some(true),
                max_hash_size: None,
                exclude: None,
            },
        )]),
        ..Default::default()
    }
    .validate()
    .expect("valid");
    let out = scan(&req(r, &cfg));
    assert_eq!(
        get(&out.entries, b"/etc/abs").hash,
        Some(hash_bytes(HashAlgo::Blake3, b"content"))
    );
    assert_eq!(join_clamped(b"/a/b", b"../../../c"), b"/c".to_vec());
}

#[test]
fn fast_mode_reuses_only_unchanged_old_hashes() {
    let t = tempfile::tempdir().expect("tmp");
    let r = t.path();
    fs::create_dir_all(r.join("etc")).expect("mkdir");
    fs::write(r.join("etc/a"), b"aaaa").expect("w");
    let cfg = cfg_for(&["/etc"]);
    let first = scan(&req(r, &cfg));
    // A baseline that claims an older start: entries are not racy, so hashes are reused.
    let mut base = Baseline {
        algo: HashAlgo::Blake3,
        started_at: Timestamp {
            secs: i64::MAX / 2,
            nanos: 0,
        },
        scope: vec!["/etc".into()],
        entries: first.entries.clone(),
    };
    // Poison the stored hash: reuse must carry it over unchanged.
    let mut poisoned = get(&base.entries, b"/etc/a");
    poisoned.hash = Some([9; 32]);
    base.entries.apply([(b"/etc/a".to_vec(), Some(poisoned))]);
    let mut rq = req(r, &cfg);
    rq.reuse = Some(&base);
    let out = scan(&rq);
    assert_eq!(out.stats.reused, 1);
    assert_eq!(get(&out.entries, b"/etc/a").hash, Some([9; 32]));
    // A racy baseline (started now) forces a re-hash.
    base.started_at.secs = 0;
    let mut rq = req(r, &cfg);
    rq.reuse = Some(&base);
    let out = scan(&rq);
    assert_eq!(out.stats.reused, 0);
    assert_eq!(
        get(&out.entries, b"/etc/a").hash,
        Some(hash_bytes(HashAlgo::Blake3, b"aaaa"))
    );
}

/// Scheduled scans: every worker thread runs at the configured nice value and I/O class
/// (read back from the running threads), the calling thread is untouched, and the byte-rate
/// cap bounds the throughput.
#[test]
fn throttled_scan_lowers_worker_priority_and_caps_the_rate() {
    use crate::fim::config::IoClass;
    let t = tempfile::tempdir().expect("tmp");
    let r = t.path();
    fs::create_dir_all(r.join("etc")).expect("mkdir");
    for i in 0..3 {
        fs::write(r.join(format!("etc/f{i}")), vec![i as u8; 200 * 1024]).expect("w");
    }
    let cfg = cfg_for(&["/etc"]);
    let mut rq = req(r, &cfg);
    rq.threads = 2;
    rq.max_read_rate = Some(1 << 20);
    // Unusual values, so threads of tests running concurrently cannot be mistaken for ours.
    rq.priority = Some(ScanPriority {
        nice: 13,
        io: IoClass::Idle,
    });
    let seen = Mutex::new(std::collections::BTreeSet::new());
    let watch = |_: &ScanStats| {
        for (tid, nice, io) in worker_priorities() {
            if nice == 13 && io.0 == 3 {
                seen.lock().expect("lock").insert(tid);
            }
        }
    };
    rq.progress = Some(&watch);
    let caller_nice = platform::nice_of(0).expect("nice");
    let start = Instant::now();
    let out = scan(&rq);
    let elapsed = start.elapsed();
    assert!(out.stats.complete);
    assert_eq!(out.stats.hashed_bytes, 3 * 200 * 1024);
    // 600 KiB at 1 MiB/s: at least ~0.59 s (the first read is not delayed before it).
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    assert_eq!(seen.lock().expect("lock").len(), 2, "both workers lowered");
    assert_eq!(platform::nice_of(0).expect("nice"), caller_nice);
}

/// (tid, nice, (io class, level)) of the scanner workers alive in this process.
fn worker_priorities() -> Vec<(i32, i32, (u32, u32))> {
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in dir.flatten() {
        let Some(tid) = d.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let comm = fs::read_to_string(d.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != WORKER_NAME {
            continue;
        }
        if let (Ok(n), Ok(io)) = (platform::nice_of(tid), platform::io_priority_of(tid)) {
            out.push((tid, n, io));
        }
    }
    out
}

#[test]
fn rate_cap_slows_the_scan() {
    let t = tempfile::tempdir().expect("tmp");
    let r = t.path();
    fs::create_dir_all(r.join("etc")).expect("mkdir");
    fs::write(r.join("etc/big"), vec![7u8; 400 * 1024]).expect("w");
    let cfg = cfg_for(&["/etc"]);
    let mut rq = req(r, &cfg);
    rq.max_read_rate = Some(1024 * 1024);
    let start = Instant::now();
    let out = scan(&rq);
    assert!(out.stats.complete);
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}
