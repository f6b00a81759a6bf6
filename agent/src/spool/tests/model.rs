//! Model-based property test: random appends, acks, reads, syncs, clean restarts, crashes with
//! torn final records and bit flips, checked after every step against a plain in-memory model.
//!
//! Invariants: no acknowledged or damaged record is ever returned; no unacknowledged record is
//! lost except a torn final record (never "delivered", as in a real crash) or one dropped by a
//! full spool, and drops follow the documented order and are counted exactly; reads return
//! exactly the model's records within their limits; seqs strictly increase and never reuse a
//! delivered one across restarts; the spool stays within `max_bytes`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

use super::{finding_sized, segment_files, truncate};
use crate::spool::format::REC_HDR;
use crate::spool::{Spool, SpoolConfig, SpoolError, from_map};
use vigil_proto::{Envelope, Finding, Severity};

#[derive(Debug, Clone)]
enum Op {
    Append {
        sev: usize,
        body: usize,
    },
    Ack {
        pick: u64,
    },
    Read {
        from: u64,
        max_records: usize,
        max_bytes: usize,
    },
    Sync,
    Take,
    /// Sync, drop, reopen.
    Restart,
    /// Drop without sync, maybe tear the newest record at a fraction of its length, reopen.
    Crash {
        tear: Option<u64>,
    },
    /// Flip a byte in the body of a record that is not the last one of its segment.
    Corrupt {
        pick: usize,
        at: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..4usize, 100..420usize).prop_map(|(sev, body)| Op::Append { sev, body }),
        3 => any::<u64>().prop_map(|pick| Op::Ack { pick }),
        3 => (any::<u64>(), 1..12usize, 1..1500usize)
            .prop_map(|(from, max_records, max_bytes)| Op::Read { from, max_records, max_bytes }),
        2 => Just(Op::Sync),
        1 => Just(Op::Take),
        1 => Just(Op::Restart),
        2 => proptest::option::weighted(0.8, any::<u64>()).prop_map(|tear| Op::Crash { tear }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(pick, at)| Op::Corrupt { pick, at }),
    ]
}

struct Model {
    /// Unacknowledged records the spool must hold.
    live: BTreeMap<u64, (i64, Finding)>,
    acked: u64,
    /// Lowest acceptable next seq in this session.
    floor: u64,
    /// Lower bound of the next seq written to the state file.
    persisted_next: u64,
    max_assigned: u64,
    delivered_max: u64,
    corrupted: BTreeSet<u64>,
    /// Drop counts held by the spool, and the part of them that is on disk.
    mem: [u64; 4],
    disk: [u64; 4],
}

struct Harness {
    dir: tempfile::TempDir,
    cfg: SpoolConfig,
    drops_possible: bool,
    spool: Option<Spool>,
    m: Model,
    tag: u64,
    /// `next_seq` before the current append (what an eviction persists).
    next_before: u64,
}

impl Harness {
    fn new(cfg: SpoolConfig, drops_possible: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), cfg).expect("open");
        Harness {
            dir,
            cfg,
            drops_possible,
            spool: Some(spool),
            m: Model {
                live: BTreeMap::new(),
                acked: 0,
                floor: 1,
                persisted_next: 1,
                max_assigned: 0,
                delivered_max: 0,
                corrupted: BTreeSet::new(),
                mem: [0; 4],
                disk: [0; 4],
            },
            tag: 0,
            next_before: 1,
        }
    }

    fn sp(&mut self) -> &mut Spool {
        self.spool.as_mut().expect("spool is open between steps")
    }

    fn step(&mut self, op: &Op) {
        let mut appended_sev = None;
        match *op {
            Op::Append { sev, body } => {
                let sev = Severity::ALL[sev];
                self.tag += 1;
                let f = finding_sized(sev, self.tag, body);
                let at = self.tag as i64 * 7;
                appended_sev = Some(sev);
                self.next_before = self.sp().next_seq();
                match self.sp().append(at, &f) {
                    Ok(seq) => {
                        let m = &mut self.m;
                        assert!(seq >= m.floor, "seq {seq} below floor {}", m.floor);
                        assert!(seq > m.delivered_max && seq > m.acked);
                        assert!(m.live.keys().all(|&s| s < seq));
                        // A damaged record that was never synced may see its seq reused.
                        m.corrupted.remove(&seq);
                        m.live.insert(seq, (at, f));
                        m.floor = seq + 1;
                        m.max_assigned = m.max_assigned.max(seq);
                    }
                    Err(SpoolError::Full { severity }) => {
                        assert!(self.drops_possible, "refused without pressure");
                        assert_eq!(severity, sev);
                        // Counted after any eviction this append made (checked below).
                        self.check(appended_sev);
                        self.m.mem[sev as usize] += 1;
                        return;
                    }
                    Err(e) => panic!("append failed: {e}"),
                }
            }
            Op::Ack { pick } => {
                let up_to = pick % (self.m.max_assigned + 2);
                let next = self.sp().next_seq();
                let r = self.sp().ack(up_to);
                if up_to >= next {
                    assert!(matches!(r, Err(SpoolError::InvalidAck { .. })), "{r:?}");
                } else {
                    r.expect("ack");
                    if up_to > self.m.acked {
                        self.m.acked = up_to;
                        self.m.live.retain(|&s, _| s > up_to);
                        self.m.disk = self.m.mem;
                        self.m.persisted_next = next;
                    }
                }
            }
            Op::Read {
                from,
                max_records,
                max_bytes,
            } => {
                let from = from % (self.m.max_assigned + 2);
                let got = self.sp().read(from, max_records, max_bytes).expect("read");
                let mut want = Vec::new();
                let mut bytes = 0;
                for (&seq, (at, f)) in self.m.live.range(from.max(self.m.acked + 1)..) {
                    let len = serde_json::to_vec(f).expect("encode").len();
                    if want.len() == max_records || (!want.is_empty() && bytes + len > max_bytes) {
                        break;
                    }
                    bytes += len;
                    want.push(Envelope {
                        seq,
                        observed_at: *at,
                        finding: f.clone(),
                    });
                }
                assert_eq!(got, want, "read({from}, {max_records}, {max_bytes})");
                // As the uplink does: sync, then send.
                self.sync();
                if let Some(last) = got.last() {
                    self.m.delivered_max = self.m.delivered_max.max(last.seq);
                }
            }
            Op::Sync => self.sync(),
            Op::Take => {
                let got = self.sp().take_dropped();
                let mem = self.m.mem;
                assert_eq!(from_map(&got), mem, "drop counts");
                if mem != [0; 4] {
                    self.m.persisted_next = self.sp().next_seq();
                }
                self.m.mem = [0; 4];
                self.m.disk = [0; 4];
            }
            Op::Restart => {
                self.sync();
                self.spool = None;
                self.reopen();
            }
            Op::Crash { tear } => {
                let sp = self.spool.take().expect("open");
                let newest = sp.newest();
                let located = newest.as_ref().and_then(|(_, _, last)| sp.locate((*last)?));
                drop(sp);
                if let (Some(tear), Some((_, _, Some(last))), Some((path, off, size))) =
                    (tear, newest, located)
                {
                    let m = &mut self.m;
                    // Only a record whose append had not "returned" can be torn by a crash:
                    // the newest one, never read or acknowledged.
                    if last == m.max_assigned
                        && last > m.delivered_max
                        && m.live.contains_key(&last)
                    {
                        truncate(&path, off + tear % size);
                        m.live.remove(&last);
                    }
                }
                self.reopen();
            }
            Op::Corrupt { pick, at } => {
                let candidates: Vec<(u64, std::path::PathBuf, u64, u64)> = self
                    .m
                    .live
                    .keys()
                    .filter_map(|&seq| {
                        let (path, off, size) = self.spool.as_ref()?.locate(seq)?;
                        let len = fs::metadata(&path).ok()?.len();
                        (off + size < len).then_some((seq, path, off, size))
                    })
                    .collect();
                if let Some((seq, path, off, size)) =
                    candidates.get(pick % candidates.len().max(1)).cloned()
                {
                    let body = size - REC_HDR as u64;
                    super::flip_byte(&path, off + REC_HDR as u64 + at as u64 % body);
                    self.m.live.remove(&seq);
                    self.m.corrupted.insert(seq);
                }
            }
        }
        self.check(appended_sev);
    }

    fn sync(&mut self) {
        self.sp().sync().expect("sync");
        self.m.disk = self.m.mem;
        self.m.persisted_next = self.sp().next_seq();
    }

    fn reopen(&mut self) {
        let sp = Spool::open(self.dir.path(), self.cfg).expect("reopen");
        let m = &mut self.m;
        assert_eq!(sp.acked_seq(), m.acked);
        // Seqs never go back below what was persisted, what is on disk, or what was sent.
        let last_live = m.live.keys().next_back().copied().unwrap_or(0);
        let floor = m
            .persisted_next
            .max(last_live + 1)
            .max(m.acked + 1)
            .max(m.delivered_max + 1);
        let next = sp.next_seq();
        assert!(next >= floor, "next_seq {next} below {floor}");
        assert!(
            next <= m.max_assigned.max(m.acked) + 1,
            "next_seq {next} too high"
        );
        m.floor = next;
        m.mem = m.disk;
        self.spool = Some(sp);
    }

    /// Compares the whole spool with the model; records that vanished during an append are
    /// evictions, which must follow the drop order and are added to the expected counts.
    fn check(&mut self, appended: Option<Severity>) {
        let all = self.sp().read(0, usize::MAX, usize::MAX).expect("read all");
        let m = &mut self.m;
        let present: BTreeSet<u64> = all.iter().map(|e| e.seq).collect();
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "seq order");
        for e in &all {
            assert!(e.seq > m.acked, "acknowledged record {} returned", e.seq);
            assert!(
                !m.corrupted.contains(&e.seq),
                "damaged record {} returned",
                e.seq
            );
            let (at, f) = m
                .live
                .get(&e.seq)
                .unwrap_or_else(|| panic!("unknown record {}", e.seq));
            assert_eq!((e.observed_at, &e.finding), (*at, f));
        }
        let missing: Vec<u64> = m
            .live
            .keys()
            .filter(|s| !present.contains(s))
            .copied()
            .collect();
        if !missing.is_empty() {
            let sev = appended.unwrap_or_else(|| panic!("records {missing:?} lost outside append"));
            assert!(
                self.drops_possible,
                "records {missing:?} dropped without pressure"
            );
            let cap = if sev == Severity::Critical {
                Severity::High
            } else {
                sev
            };
            let key = |s: u64, m: &Model| (m.live[&s].1.severity(), s);
            let mut counts = [0; 4];
            for &v in &missing {
                let (vs, _) = key(v, m);
                assert!(vs <= cap, "record {v} ({vs}) evicted for a {sev} record");
                counts[vs as usize] += 1;
                for &r in &present {
                    let (rs, _) = key(r, m);
                    if rs <= cap {
                        assert!(key(r, m) > key(v, m), "{v} evicted before {r}");
                    }
                }
            }
            for s in &missing {
                m.live.remove(s);
            }
            for (d, c) in m.mem.iter_mut().zip(counts) {
                *d += c;
            }
            m.disk = m.mem;
            m.persisted_next = m.persisted_next.max(self.next_before);
        }
        let sp = self.spool.as_ref().expect("open");
        assert_eq!(sp.depth(), m.live.len() as u64);
        assert_eq!(sp.acked_seq(), m.acked);
        assert!(sp.next_seq() >= m.floor);
        assert!(
            sp.bytes() <= self.cfg.max_bytes,
            "{} > {}",
            sp.bytes(),
            self.cfg.max_bytes
        );
        let on_disk: u64 = segment_files(self.dir.path())
            .iter()
            .map(|p| fs::metadata(p).expect("stat").len())
            .sum();
        assert_eq!(sp.bytes(), on_disk);
    }
}

fn cases() -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(48)
    }
}

proptest! {
    #![proptest_config(cases())]

    /// Roomy spool with small segments: nothing may ever be dropped.
    #[test]
    fn spool_matches_model_without_pressure(ops in proptest::collection::vec(op(), 1..80)) {
        let mut h = Harness::new(SpoolConfig { max_bytes: 1 << 20, segment_bytes: 1200 }, false);
        for op in &ops {
            h.step(op);
        }
    }

    /// A spool of a few kilobytes: evictions and refusals happen all the time.
    #[test]
    fn spool_matches_model_under_pressure(ops in proptest::collection::vec(op(), 1..80)) {
        let mut h = Harness::new(SpoolConfig { max_bytes: 4000, segment_bytes: 1200 }, true);
        for op in &ops {
            h.step(op);
        }
    }
}
