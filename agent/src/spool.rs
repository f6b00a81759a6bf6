//! TEMPORARY in-memory stand-in for the durable spool (same API), replaced by the on-disk
//! segmented log when it lands. It keeps sequence numbers and acks but is NOT durable.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use vigil_proto::{Envelope, Finding, Severity};

/// Spool sizing.
#[derive(Debug, Clone, Copy)]
pub struct SpoolConfig {
    /// Total bytes.
    pub max_bytes: u64,
    /// Segment bytes.
    pub segment_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            max_bytes: 256 << 20,
            segment_bytes: 8 << 20,
        }
    }
}

/// Spool errors.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// I/O.
    #[error("spool I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The spool.
#[derive(Debug)]
pub struct Spool {
    records: VecDeque<Envelope>,
    next: u64,
    acked: u64,
}

impl Spool {
    /// Opens.
    ///
    /// # Errors
    /// Never in this stand-in.
    pub fn open(_dir: &Path, _cfg: SpoolConfig) -> Result<Self, SpoolError> {
        Ok(Self {
            records: VecDeque::new(),
            next: 1,
            acked: 0,
        })
    }
    /// Appends.
    ///
    /// # Errors
    /// Never in this stand-in.
    pub fn append(&mut self, observed_at: i64, finding: &Finding) -> Result<u64, SpoolError> {
        let seq = self.next;
        self.next += 1;
        self.records.push_back(Envelope {
            seq,
            observed_at,
            finding: finding.clone(),
        });
        Ok(seq)
    }
    /// Reads unacked records from `from_seq`.
    ///
    /// # Errors
    /// Never in this stand-in.
    pub fn read(
        &mut self,
        from_seq: u64,
        max_records: usize,
        _max_bytes: usize,
    ) -> Result<Vec<Envelope>, SpoolError> {
        Ok(self
            .records
            .iter()
            .filter(|e| e.seq >= from_seq)
            .take(max_records)
            .cloned()
            .collect())
    }
    /// Acks.
    ///
    /// # Errors
    /// Never in this stand-in.
    pub fn ack(&mut self, up_to_seq: u64) -> Result<(), SpoolError> {
        self.acked = self.acked.max(up_to_seq);
        while self.records.front().is_some_and(|e| e.seq <= up_to_seq) {
            self.records.pop_front();
        }
        Ok(())
    }
    /// Syncs.
    ///
    /// # Errors
    /// Never in this stand-in.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        Ok(())
    }
    /// Unacked records.
    pub fn depth(&self) -> u64 {
        self.records.len() as u64
    }
    /// Next seq.
    pub fn next_seq(&self) -> u64 {
        self.next
    }
    /// Highest acked.
    pub fn acked_seq(&self) -> u64 {
        self.acked
    }
    /// Drop counters.
    pub fn take_dropped(&mut self) -> BTreeMap<Severity, u64> {
        BTreeMap::new()
    }
}
