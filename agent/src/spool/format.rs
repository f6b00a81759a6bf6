//! On-disk format of spool segments: record encoding, verification and crash-tolerant scanning.
//!
//! A segment file is an 8-byte magic followed by records. Each record is a fixed 27-byte binary
//! header and a JSON body (the [`vigil_proto::Finding`]); the CRC32 covers everything after the CRC
//! field, so a torn or bit-flipped record is never mistaken for a good one. The scanner resyncs
//! after damage by looking for the next record whose magic, length, CRC and sequence all check out.

use std::fs::File;
use std::io;

use vigil_proto::Severity;

/// Magic and format version at the start of every segment file.
pub(super) const SEG_MAGIC: &[u8; 8] = b"VGSPOOL1";
/// Length of the segment header.
pub(super) const SEG_HDR: u64 = 8;
/// Marks the start of a record. Neither byte can occur in UTF-8, so never inside a JSON body.
const REC_MAGIC: [u8; 2] = [0xF9, 0xC1];
/// Record header: magic (2), crc32 (4), body length (4), seq (8), observed_at (8), severity (1).
pub(super) const REC_HDR: usize = 27;
/// Largest body accepted. Far above the 1 MiB wire frame; it bounds what a damaged length field
/// can make the scanner read.
pub(super) const MAX_BODY: usize = 16 << 20;
/// Bytes read at once while scanning a segment.
const SCAN_CHUNK: usize = 1 << 20;

/// The decoded, verified header of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RecordHeader {
    pub(super) seq: u64,
    pub(super) observed_at: i64,
    pub(super) severity: Severity,
    pub(super) body_len: u32,
}

impl RecordHeader {
    /// Size of the whole record on disk.
    pub(super) fn size(&self) -> u64 {
        REC_HDR as u64 + u64::from(self.body_len)
    }
}

/// Result of looking at the bytes where a record should start.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Parsed {
    /// A complete record with a good CRC.
    Good(RecordHeader),
    /// The bytes end before the record does (a torn write, or a damaged length field).
    Incomplete,
    /// Not a record: bad magic, impossible length or severity, or a CRC mismatch.
    Invalid,
}

/// Appends the encoding of one record to `out`.
pub(super) fn encode(out: &mut Vec<u8>, seq: u64, observed_at: i64, sev: Severity, body: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&REC_MAGIC);
    out.extend_from_slice(&[0; 4]);
    // Callers refuse bodies above MAX_BODY, which fits in a u32.
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&observed_at.to_le_bytes());
    out.push(severity_code(sev));
    out.extend_from_slice(body);
    let crc = crc32fast::hash(&out[start + 6..]);
    out[start + 2..start + 6].copy_from_slice(&crc.to_le_bytes());
}

/// Parses and verifies the record at the start of `bytes`.
pub(super) fn parse(bytes: &[u8]) -> Parsed {
    if bytes.len() < 2 {
        return Parsed::Incomplete;
    }
    if bytes[..2] != REC_MAGIC {
        return Parsed::Invalid;
    }
    let Some(hdr) = bytes.get(..REC_HDR) else {
        return Parsed::Incomplete;
    };
    let body_len = le_u32(&hdr[6..10]);
    if body_len as usize > MAX_BODY {
        return Parsed::Invalid;
    }
    let Some(severity) = severity_from_code(hdr[26]) else {
        return Parsed::Invalid;
    };
    let Some(whole) = bytes.get(..REC_HDR + body_len as usize) else {
        return Parsed::Incomplete;
    };
    if crc32fast::hash(&whole[6..]) != le_u32(&hdr[2..6]) {
        return Parsed::Invalid;
    }
    Parsed::Good(RecordHeader {
        seq: le_u64(&hdr[10..18]),
        observed_at: le_u64(&hdr[18..26]) as i64,
        severity,
        body_len,
    })
}

/// The JSON body of a record already verified by [`parse`].
pub(super) fn body(record: &[u8]) -> &[u8] {
    record.get(REC_HDR..).unwrap_or_default()
}

/// Compact code of a severity (also used in the in-memory index).
pub(super) fn severity_code(sev: Severity) -> u8 {
    match sev {
        Severity::Low => 0,
        Severity::Medium => 1,
        Severity::High => 2,
        Severity::Critical => 3,
    }
}

/// Inverse of [`severity_code`].
pub(super) fn severity_from_code(code: u8) -> Option<Severity> {
    Severity::ALL.get(usize::from(code)).copied()
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Reads at an absolute offset without moving any cursor (appends use O_APPEND anyway).
pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }
}

/// Fills `buf` from `offset`, stopping early only at end of file; returns the bytes read.
pub(super) fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match read_at(file, &mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// What a scan of one segment found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ScanOutcome {
    /// The segment header is not ours (the records after it are still recovered).
    pub(super) bad_header: bool,
    /// Damaged regions followed by a good record (each counted once, skipped).
    pub(super) corrupt_regions: u64,
    /// Offset where unusable trailing bytes start (a torn write), or the file length.
    pub(super) valid_end: u64,
    /// The trailing bytes look like a complete but damaged record rather than a torn write.
    pub(super) damaged_tail: bool,
}

/// Scans a segment, calling `on_record(offset, header)` for each good record in file order.
///
/// A record is accepted only if its CRC matches and its seq is greater than `after_seq` and than
/// every record accepted before it. A damaged region is skipped by looking for the next acceptable
/// record; damage with no good record after it is a torn tail, reported through `valid_end`.
///
/// # Errors
/// Only I/O errors reading the file.
pub(super) fn scan(
    file: &File,
    file_len: u64,
    after_seq: u64,
    mut on_record: impl FnMut(u64, RecordHeader),
) -> io::Result<ScanOutcome> {
    let mut out = ScanOutcome::default();
    let mut win = Window::new(file, file_len);
    let head = win.get(0, SEG_HDR as usize)?;
    if head.len() < SEG_HDR as usize {
        // Torn while the segment was being created: nothing in it.
        out.valid_end = 0;
        return Ok(out);
    }
    out.bad_header = head != SEG_MAGIC;
    let mut last_seq = after_seq;
    let mut pos = SEG_HDR;
    while pos < file_len {
        if let Some(h) = win.accept(pos, last_seq)? {
            on_record(pos, h);
            last_seq = h.seq;
            pos += h.size();
            continue;
        }
        // Damaged or torn at `pos`: find the next acceptable record, if any.
        let complete =
            matches!(win.parse(pos)?, Parsed::Invalid) && win.get(pos, 2)?.starts_with(&REC_MAGIC);
        let mut next = pos + 1;
        let mut found = false;
        while next + REC_HDR as u64 <= file_len {
            if win.get(next, 2)?.starts_with(&REC_MAGIC) && win.accept(next, last_seq)?.is_some() {
                found = true;
                break;
            }
            next += 1;
        }
        if !found {
            out.valid_end = pos;
            out.damaged_tail = complete;
            return Ok(out);
        }
        out.corrupt_regions += 1;
        pos = next;
    }
    out.valid_end = pos.min(file_len);
    Ok(out)
}

/// A sliding read buffer over a file, so scanning costs one read per chunk, not per record.
struct Window<'a> {
    file: &'a File,
    file_len: u64,
    start: u64,
    buf: Vec<u8>,
}

impl<'a> Window<'a> {
    fn new(file: &'a File, file_len: u64) -> Self {
        Window {
            file,
            file_len,
            start: 0,
            buf: Vec::new(),
        }
    }

    /// Up to `len` bytes from `pos` (fewer only at end of file).
    fn get(&mut self, pos: u64, len: usize) -> io::Result<&[u8]> {
        let avail = self.file_len.saturating_sub(pos).min(len as u64) as usize;
        let end = self.start + self.buf.len() as u64;
        if pos < self.start || pos + avail as u64 > end {
            let want = self
                .file_len
                .saturating_sub(pos)
                .min(avail.max(SCAN_CHUNK) as u64);
            self.buf.resize(want as usize, 0);
            let n = read_full_at(self.file, &mut self.buf, pos)?;
            self.buf.truncate(n);
            self.start = pos;
        }
        let from = (pos - self.start) as usize;
        let to = (from + avail).min(self.buf.len());
        Ok(&self.buf[from..to])
    }

    fn parse(&mut self, pos: u64) -> io::Result<Parsed> {
        let hdr = self.get(pos, REC_HDR)?;
        if hdr.len() < REC_HDR {
            return Ok(parse(hdr));
        }
        let body_len = le_u32(&hdr[6..10]) as usize;
        let total = REC_HDR + body_len.min(MAX_BODY + 1);
        let rec = self.get(pos, total)?;
        Ok(parse(rec))
    }

    /// A good record at `pos` whose seq follows `last_seq`.
    fn accept(&mut self, pos: u64, last_seq: u64) -> io::Result<Option<RecordHeader>> {
        Ok(match self.parse(pos)? {
            Parsed::Good(h) if h.seq > last_seq => Some(h),
            _ => None,
        })
    }
}
