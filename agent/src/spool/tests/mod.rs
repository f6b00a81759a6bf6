//! Unit tests of the spool on real files in temporary directories.

mod bench;
mod model;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use vigil_proto::{CheckResult, Finding, Severity, Status};

use super::dir::parse_segment_name;
use super::*;

/// A finding whose JSON body is exactly `body_len` bytes (when `body_len` is large enough).
pub(super) fn finding_sized(sev: Severity, tag: u64, body_len: usize) -> Finding {
    let make = |pad: usize| {
        Finding::CheckResult(CheckResult {
            rule_id: format!("r-{tag}"),
            pack: "test@1".into(),
            status: Status::Fail,
            severity: sev,
            group: "g".into(),
            controls: Vec::new(),
            evidence: "x".repeat(pad),
        })
    };
    let base = serde_json::to_vec(&make(0)).expect("encode").len();
    make(body_len.saturating_sub(base))
}

/// Body size used where sizes matter; every such record is `R` bytes on disk.
const B: u64 = 200;
const R: u64 = REC_HDR as u64 + B;

fn finding(sev: Severity, tag: u64) -> Finding {
    finding_sized(sev, tag, 0)
}

fn cfg(max_bytes: u64, segment_bytes: u64) -> SpoolConfig {
    SpoolConfig {
        max_bytes,
        segment_bytes,
    }
}

fn seqs(envs: &[Envelope]) -> Vec<u64> {
    envs.iter().map(|e| e.seq).collect()
}

fn read_all(sp: &mut Spool) -> Vec<Envelope> {
    sp.read(0, usize::MAX, usize::MAX).expect("read")
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| parse_segment_name(n).is_some())
        })
        .collect();
    v.sort();
    v
}

fn flip_byte(path: &Path, at: u64) {
    let mut bytes = fs::read(path).expect("read segment");
    bytes[at as usize] ^= 0x5A;
    fs::write(path, bytes).expect("write segment");
}

fn truncate(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open")
        .set_len(len)
        .expect("truncate");
}

#[test]
fn appends_get_increasing_seqs_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
    assert_eq!(sp.next_seq(), 1);
    assert_eq!(sp.acked_seq(), 0);
    for i in 1..=10 {
        assert_eq!(
            sp.append(1_000 + i as i64, &finding(Severity::Medium, i))
                .expect("append"),
            i
        );
    }
    assert_eq!(sp.depth(), 10);
    let all = read_all(&mut sp);
    assert_eq!(seqs(&all), (1..=10).collect::<Vec<_>>());
    assert_eq!(all[3].observed_at, 1_004);
    assert_eq!(all[3].finding, finding(Severity::Medium, 4));
    assert_eq!(
        seqs(&sp.read(4, 3, usize::MAX).expect("read")),
        vec![4, 5, 6]
    );
    assert!(sp.read(11, 10, usize::MAX).expect("read").is_empty());
    assert!(sp.read(1, 0, usize::MAX).expect("read").is_empty());
}

#[test]
fn read_respects_the_byte_budget_but_returns_at_least_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
    for i in 1..=10 {
        sp.append(0, &finding_sized(Severity::Low, i, B as usize))
            .expect("append");
    }
    assert_eq!(seqs(&sp.read(1, 100, 700).expect("read")), vec![1, 2, 3]);
    assert_eq!(seqs(&sp.read(1, 100, 600).expect("read")), vec![1, 2, 3]);
    assert_eq!(seqs(&sp.read(1, 100, 599).expect("read")), vec![1, 2]);
    assert_eq!(seqs(&sp.read(5, 100, 1).expect("read")), vec![5]);
}

#[test]
fn reads_span_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sp = Spool::open(dir.path(), cfg(1 << 20, SEG_HDR + 4 * R)).expect("open");
    for i in 1..=100 {
        sp.append(0, &finding_sized(Severity::Low, i, B as usize))
            .expect("append");
    }
    assert_eq!(segment_files(dir.path()).len(), 25);
    assert_eq!(seqs(&read_all(&mut sp)), (1..=100).collect::<Vec<_>>());
    assert_eq!(
        seqs(&sp.read(37, 20, usize::MAX).expect("read")),
        (37..57).collect::<Vec<_>>()
    );
    let on_disk: u64 = segment_files(dir.path())
        .iter()
        .map(|p| p.metadata().expect("stat").len())
        .sum();
    assert_eq!(sp.bytes(), on_disk);
}

#[test]
fn ack_state_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
        for i in 1..=10 {
            sp.append(0, &finding(Severity::High, i)).expect("append");
        }
        sp.ack(4).expect("ack");
        assert_eq!(sp.depth(), 6);
        // Not synced: the appends survive the process (write(2)), the ack is durable.
    }
    let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("reopen");
    assert_eq!(sp.acked_seq(), 4);
    assert_eq!(sp.depth(), 6);
    assert_eq!(sp.next_seq(), 11);
    assert_eq!(seqs(&read_all(&mut sp)), (5..=10).collect::<Vec<_>>());
    sp.ack(2).expect("an old ack is a no-op");
    assert_eq!(sp.acked_seq(), 4);
}

#[test]
fn acked_segments_are_deleted_and_next_seq_survives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = cfg(1 << 20, SEG_HDR + 7 * R);
    {
        let mut sp = Spool::open(dir.path(), config).expect("open");
        for i in 1..=50 {
            sp.append(0, &finding_sized(Severity::Low, i, B as usize))
                .expect("append");
        }
        let before = segment_files(dir.path());
        assert_eq!(before.len(), 8, "{before:?}");
        sp.ack(25).expect("ack");
        let after = segment_files(dir.path());
        // Segments hold 7 records: seqs 1..=21 are in the first three.
        assert_eq!(after, before[3..].to_vec());
        assert_eq!(sp.depth(), 25);
        sp.ack(50).expect("ack all");
        assert!(segment_files(dir.path()).is_empty());
        assert_eq!(sp.bytes(), 0);
        assert_eq!(sp.depth(), 0);
    }
    let mut sp = Spool::open(dir.path(), config).expect("reopen");
    assert_eq!(
        sp.next_seq(),
        51,
        "seq must not go backwards when no segment is left"
    );
    assert!(read_all(&mut sp).is_empty());
    assert_eq!(
        sp.append(0, &finding(Severity::Low, 51)).expect("append"),
        51
    );
}

#[test]
fn ack_of_an_unassigned_seq_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
    assert!(matches!(
        sp.ack(1),
        Err(SpoolError::InvalidAck {
            up_to_seq: 1,
            last_seq: 0
        })
    ));
    sp.append(0, &finding(Severity::Low, 1)).expect("append");
    assert!(matches!(sp.ack(2), Err(SpoolError::InvalidAck { .. })));
    assert_eq!(sp.acked_seq(), 0);
    assert_eq!(sp.depth(), 1);
}

#[test]
fn fast_forward_continues_after_the_collectors_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
        for i in 1..=3 {
            sp.append(0, &finding(Severity::Low, i)).expect("append");
        }
        sp.fast_forward(2)
            .expect("behaves as ack for assigned seqs");
        assert_eq!((sp.acked_seq(), sp.next_seq(), sp.depth()), (2, 4, 1));
        sp.fast_forward(500).expect("fast forward");
        assert_eq!((sp.acked_seq(), sp.next_seq(), sp.depth()), (500, 501, 0));
        assert!(segment_files(dir.path()).is_empty());
        assert!(matches!(
            sp.fast_forward(u64::MAX),
            Err(SpoolError::InvalidAck { .. })
        ));
    }
    let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("reopen");
    assert_eq!((sp.acked_seq(), sp.next_seq()), (500, 501));
    assert_eq!(
        sp.append(0, &finding(Severity::Low, 9)).expect("append"),
        501
    );
    assert_eq!(seqs(&read_all(&mut sp)), vec![501]);
}

#[test]
fn crc_corruption_in_the_middle_is_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, off) = {
        let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
        for i in 1..=5 {
            sp.append(0, &finding(Severity::Low, i)).expect("append");
        }
        let (path, off, _) = sp.locate(3).expect("record 3");
        (path, off)
    };
    flip_byte(&path, off + REC_HDR as u64 + 5);
    let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("reopen");
    assert_eq!(sp.corrupt_skipped(), 1);
    assert_eq!(sp.depth(), 4);
    assert_eq!(seqs(&read_all(&mut sp)), vec![1, 2, 4, 5]);
    assert_eq!(sp.next_seq(), 6);
}

#[test]
fn corruption_found_while_open_is_skipped_at_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
    for i in 1..=5 {
        sp.append(0, &finding(Severity::Low, i)).expect("append");
    }
    let (path, off, _) = sp.locate(2).expect("record 2");
    flip_byte(&path, off + REC_HDR as u64 + 1);
    assert_eq!(seqs(&read_all(&mut sp)), vec![1, 3, 4, 5]);
    assert_eq!(sp.corrupt_skipped(), 1);
    assert_eq!(sp.depth(), 4);
    assert_eq!(seqs(&read_all(&mut sp)), vec![1, 3, 4, 5]);
    assert_eq!(sp.corrupt_skipped(), 1, "a damaged record is counted once");
}

#[test]
fn damaged_length_field_resyncs_on_the_next_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, off) = {
        let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
        for i in 1..=5 {
            sp.append(0, &finding(Severity::Low, i)).expect("append");
        }
        let (path, off, _) = sp.locate(2).expect("record 2");
        (path, off)
    };
    // The length field is bytes 6..10 of the header; make it claim a much larger body.
    flip_byte(&path, off + 8);
    let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("reopen");
    assert_eq!(sp.corrupt_skipped(), 1);
    assert_eq!(seqs(&read_all(&mut sp)), vec![1, 3, 4, 5]);
}

#[test]
fn torn_final_record_is_truncated_and_never_surfaces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, off) = {
        let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
        for i in 1..=3 {
            sp.append(0, &finding(Severity::Low, i)).expect("append");
        }
        let (path, off, _) = sp.locate(3).expect("record 3");
        (path, off)
    };
    truncate(&path, off + 10);
    {
        let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("reopen");
        assert_eq!(sp.corrupt_skipped(), 0, "a torn write is not corruption");
        assert_eq!(
            fs::metadata(&path).expect("stat").len(),
            off,
            "torn tail truncated"
        );
        assert_eq!(seqs(&read_all(&mut sp)), vec![1, 2]);
        // Seq 3 was never returned by `append`, so it may be assigned again.
        assert_eq!(
            sp.append(0, &finding(Severity::High, 30)).expect("append"),
            3
        );
    }
    let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("reopen again");
    let all = read_all(&mut sp);
    assert_eq!(seqs(&all), vec![1, 2, 3]);
    assert_eq!(all[2].finding, finding(Severity::High, 30));
}

#[test]
fn torn_segment_header_is_discarded() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut sp = Spool::open(dir.path(), cfg(1 << 20, SEG_HDR + 7 * R)).expect("open");
        for i in 1..=7 {
            sp.append(0, &finding_sized(Severity::Low, i, B as usize))
                .expect("append");
        }
        sp.append(0, &finding_sized(Severity::Low, 8, B as usize))
            .expect("append");
    }
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 2);
    truncate(&files[1], 5);
    let mut sp = Spool::open(dir.path(), cfg(1 << 20, SEG_HDR + 7 * R)).expect("reopen");
    assert_eq!(seqs(&read_all(&mut sp)), (1..=7).collect::<Vec<_>>());
    assert_eq!(segment_files(dir.path()), files[..1].to_vec());
    assert_eq!(sp.append(0, &finding(Severity::Low, 8)).expect("append"), 8);
}

fn full_spool_config() -> SpoolConfig {
    // One segment of exactly 40 records; eviction headroom is 9088 / 64 = 142 bytes.
    cfg(SEG_HDR + 40 * R, SEG_HDR + 40 * R)
}

#[test]
fn full_spool_drops_low_then_medium_then_high_and_never_critical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sp = Spool::open(dir.path(), full_spool_config()).expect("open");
    let mut tag = 0;
    let mut add = |sp: &mut Spool, sev| {
        tag += 1;
        sp.append(0, &finding_sized(sev, tag, B as usize))
    };
    for sev in [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ] {
        for _ in 0..10 {
            add(&mut sp, sev).expect("fits");
        }
    }
    assert_eq!(sp.bytes(), full_spool_config().max_bytes);
    // Each eviction needs 227 + 8 (a new segment) + 142 of headroom: two records go each time,
    // so 25 new critical records evict 26 records: all lows, all mediums, then 6 highs.
    for i in 0..25 {
        assert_eq!(
            add(&mut sp, Severity::Critical).expect("critical fits"),
            41 + i
        );
    }
    assert_eq!(sp.bytes(), SEG_HDR + 39 * R);
    let kept = seqs(&read_all(&mut sp));
    assert_eq!(kept, (27..=65).collect::<Vec<_>>());
    add(&mut sp, Severity::Critical).expect("fills the last slot"); // seq 66
    // Nothing of their severity or lower is left: new low and medium records are refused.
    assert!(matches!(
        add(&mut sp, Severity::Low),
        Err(SpoolError::Full {
            severity: Severity::Low
        })
    ));
    assert!(matches!(
        add(&mut sp, Severity::Medium),
        Err(SpoolError::Full { .. })
    ));
    // A high record evicts the two oldest highs (27, 28).
    assert_eq!(add(&mut sp, Severity::High).expect("high evicts highs"), 67);
    for seq in 68..=71 {
        // 69 evicts 29 and 30; 71 evicts the last high (67) although it alone is not a full
        // eviction target.
        assert_eq!(add(&mut sp, Severity::Critical).expect("critical"), seq);
    }
    let kept = seqs(&read_all(&mut sp));
    let expected: Vec<u64> = (31..=66).chain(68..=71).collect();
    assert_eq!(kept, expected);
    assert_eq!(sp.bytes(), full_spool_config().max_bytes);
    // Only critical records remain: they are never evicted, a new one is refused.
    assert!(matches!(
        add(&mut sp, Severity::Critical),
        Err(SpoolError::Full {
            severity: Severity::Critical
        })
    ));
    assert!(matches!(
        add(&mut sp, Severity::Low),
        Err(SpoolError::Full { .. })
    ));
    assert_eq!(seqs(&read_all(&mut sp)), expected);
    assert_eq!(sp.depth(), 40);
    assert_eq!(sp.next_seq(), 72);

    // Evictions are persisted when they happen (the last at seq 71); refusals since then only
    // at the next sync, which this "crash" skips.
    drop(sp);
    let mut sp = Spool::open(dir.path(), full_spool_config()).expect("reopen");
    let durable = BTreeMap::from([
        (Severity::Low, 11),
        (Severity::Medium, 11),
        (Severity::High, 11),
    ]);
    assert_eq!(sp.take_dropped(), durable);
    assert!(sp.take_dropped().is_empty(), "taking resets");
    assert_eq!(seqs(&read_all(&mut sp)), expected);
    assert_eq!(sp.next_seq(), 72);
}

#[test]
fn refused_counts_survive_reopen_after_sync_and_taking_is_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = full_spool_config();
    {
        let mut sp = Spool::open(dir.path(), config).expect("open");
        for i in 0..40 {
            sp.append(0, &finding_sized(Severity::Critical, i, B as usize))
                .expect("fits");
        }
        for i in 0..3 {
            assert!(
                sp.append(0, &finding_sized(Severity::Medium, i, B as usize))
                    .is_err()
            );
        }
        assert!(
            sp.append(0, &finding_sized(Severity::Critical, 9, B as usize))
                .is_err()
        );
        sp.sync().expect("sync");
    }
    let expected = BTreeMap::from([(Severity::Medium, 3), (Severity::Critical, 1)]);
    {
        let mut sp = Spool::open(dir.path(), config).expect("reopen");
        assert_eq!(sp.depth(), 40);
        assert_eq!(sp.take_dropped(), expected);
    }
    let mut sp = Spool::open(dir.path(), config).expect("reopen again");
    assert!(
        sp.take_dropped().is_empty(),
        "taken counts must not be reported twice"
    );
}

#[test]
fn acknowledged_space_is_reclaimed_before_anything_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sp = Spool::open(dir.path(), full_spool_config()).expect("open");
    for i in 0..40 {
        sp.append(0, &finding_sized(Severity::Low, i, B as usize))
            .expect("fits");
    }
    sp.ack(10).expect("ack");
    // One segment, partly acknowledged: its file still holds the acked records.
    assert_eq!(sp.bytes(), full_spool_config().max_bytes);
    for i in 0..10 {
        sp.append(0, &finding_sized(Severity::Low, 100 + i, B as usize))
            .expect("fits after compaction");
    }
    assert!(sp.take_dropped().is_empty());
    assert_eq!(seqs(&read_all(&mut sp)), (11..=50).collect::<Vec<_>>());
    assert_eq!(sp.bytes(), full_spool_config().max_bytes);
}

#[test]
fn a_record_that_can_never_fit_is_refused_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sp = Spool::open(dir.path(), cfg(4096, 4096)).expect("open");
    let big = finding_sized(Severity::High, 1, 5000);
    assert!(matches!(
        sp.append(0, &big),
        Err(SpoolError::TooLarge { .. })
    ));
    assert_eq!(sp.take_dropped(), BTreeMap::from([(Severity::High, 1)]));
    assert_eq!(sp.next_seq(), 1);
    assert_eq!(
        sp.append(0, &finding(Severity::High, 2))
            .expect("small fits"),
        1
    );
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _sp = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
    assert!(matches!(
        Spool::open(dir.path(), SpoolConfig::default()),
        Err(SpoolError::Locked { .. })
    ));
}

#[test]
fn damaged_state_file_is_reported_not_guessed() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Spool::open(dir.path(), SpoolConfig::default()).expect("open"));
    fs::write(dir.path().join(state::STATE_FILE), b"{\"version\":1,").expect("write");
    assert!(matches!(
        Spool::open(dir.path(), SpoolConfig::default()),
        Err(SpoolError::State { .. })
    ));
}

#[test]
fn stray_temporary_files_are_removed_and_strangers_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
        sp.append(0, &finding(Severity::Low, 1)).expect("append");
    }
    fs::write(dir.path().join("seg-00000000000000000001.log.tmp"), b"half").expect("write");
    fs::write(dir.path().join("state.json.tmp"), b"half").expect("write");
    fs::write(dir.path().join("README"), b"not ours").expect("write");
    let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("reopen");
    assert_eq!(seqs(&read_all(&mut sp)), vec![1]);
    assert!(!dir.path().join("seg-00000000000000000001.log.tmp").exists());
    assert!(!dir.path().join("state.json.tmp").exists());
    assert!(dir.path().join("README").exists());
}

#[test]
fn unusable_limits_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        Spool::open(dir.path(), cfg(100, 1000)),
        Err(SpoolError::Config(_))
    ));
    assert!(matches!(
        Spool::open(dir.path(), cfg(1 << 40, 4 << 30)),
        Err(SpoolError::Config(_))
    ));
}

#[test]
fn format_rejects_every_truncation_and_bit_flip() {
    let mut rec = Vec::new();
    format::encode(&mut rec, 7, -3, Severity::High, br#"{"kind":"x"}"#);
    let h = match format::parse(&rec) {
        Parsed::Good(h) => h,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (h.seq, h.observed_at, h.severity, h.size()),
        (7, -3, Severity::High, rec.len() as u64)
    );
    for cut in 0..rec.len() {
        assert_eq!(
            format::parse(&rec[..cut]),
            Parsed::Incomplete,
            "cut at {cut}"
        );
    }
    for i in 0..rec.len() {
        for bit in 0..8 {
            let mut bad = rec.clone();
            bad[i] ^= 1 << bit;
            assert!(
                !matches!(format::parse(&bad), Parsed::Good(_)),
                "flip {i}/{bit}"
            );
        }
    }
}
