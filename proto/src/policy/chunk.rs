//! Chunking of a [`SignedBundle`] into `PolicyUpdate` messages, and bounded reassembly.
//!
//! A transfer is the chunks `0..count` of one signed blob, in order on the session's stream.
//! Each chunk repeats the transfer's header (claimed version, SHA-256 digest of the whole blob,
//! total length, chunk count) so that the receiver can tell a new transfer from a broken one.
//! Reassembly treats every field as hostile: the total length and chunk count are capped
//! ([`crate::limits::POLICY_BUNDLE`], [`crate::limits::POLICY_CHUNKS`]) before anything is
//! kept, chunks must come in order with the same header, the bytes must add up to the total,
//! and the digest must match. Chunk 0 always starts a new transfer (the collector restarts a
//! push when the policy changes mid-way); any error drops the partial transfer.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::sign::{SIGNATURE_LEN, digest_text, max_signed_len};
use super::{PolicyError, SignedBundle};
use crate::limits;

/// Bytes of a frame a chunk's JSON needs besides its data (message tag, header fields); the
/// real overhead is about 250 bytes, so this leaves room.
const CHUNK_OVERHEAD: usize = 512;
/// Smallest chunk payload [`split`] produces; a frame limit that leaves less is refused.
const MIN_CHUNK: usize = 1024;

/// One piece of a signed bundle, the body of `CollectorMsg::PolicyUpdate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyChunk {
    /// Version of the bundle as the collector claims it; the agent checks it against the
    /// verified bundle.
    pub version: u64,
    /// `sha256:<hex>` of the whole signed blob.
    pub digest: String,
    /// Length of the whole signed blob in bytes.
    pub total_len: u64,
    /// Position of this chunk, from 0.
    pub index: u32,
    /// Number of chunks of the transfer.
    pub count: u32,
    /// This chunk's bytes, base64 (standard alphabet, padded).
    pub data: String,
}

/// Cuts `signed` into chunks whose `PolicyUpdate` frames each fit in `max_frame` bytes.
///
/// # Errors
/// [`PolicyError::TooLarge`] when `max_frame` is too small for a useful chunk or the blob
/// would need more than [`crate::limits::POLICY_CHUNKS`] chunks.
pub fn split(
    signed: &SignedBundle,
    version: u64,
    max_frame: usize,
) -> Result<Vec<PolicyChunk>, PolicyError> {
    // Base64 turns 3 bytes into 4 characters; JSON does not escape its alphabet.
    let per_chunk = max_frame.saturating_sub(CHUNK_OVERHEAD) / 4 * 3;
    if per_chunk < MIN_CHUNK {
        return Err(PolicyError::TooLarge(format!(
            "a frame limit of {max_frame} bytes leaves no room for policy chunks"
        )));
    }
    let bytes = signed.as_bytes();
    let count = bytes.len().div_ceil(per_chunk);
    if count > limits::POLICY_CHUNKS {
        return Err(PolicyError::TooLarge(format!(
            "{} bytes need {count} chunks of {per_chunk}, at most {} allowed",
            bytes.len(),
            limits::POLICY_CHUNKS
        )));
    }
    let digest = signed.digest();
    // Both fit: count <= POLICY_CHUNKS and the blob length is capped by SignedBundle.
    let count32 = u32::try_from(count).unwrap_or(u32::MAX);
    let total_len = bytes.len() as u64;
    Ok(bytes
        .chunks(per_chunk)
        .zip(0u32..)
        .map(|(data, index)| PolicyChunk {
            version,
            digest: digest.clone(),
            total_len,
            index,
            count: count32,
            data: STANDARD.encode(data),
        })
        .collect())
}

/// A complete transfer: the signed blob (not yet verified) and the version it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    /// Version the chunks claimed; compare with the verified bundle's.
    pub version: u64,
    /// The blob; call [`SignedBundle::verify`] next.
    pub signed: SignedBundle,
}

/// Reassembles chunks of one transfer at a time.
#[derive(Debug, Default)]
pub struct PolicyAssembler {
    cur: Option<Transfer>,
}

#[derive(Debug)]
struct Transfer {
    version: u64,
    digest: String,
    total_len: usize,
    count: u32,
    next: u32,
    buf: Vec<u8>,
}

impl PolicyAssembler {
    /// A fresh assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// True while a transfer is partly received.
    pub fn in_progress(&self) -> bool {
        self.cur.is_some()
    }

    /// Takes one chunk. Returns the blob once its last chunk arrived and everything adds up.
    ///
    /// # Errors
    /// [`PolicyError::Transfer`] or [`PolicyError::TooLarge`]; the partial transfer is dropped.
    pub fn push(&mut self, chunk: PolicyChunk) -> Result<Option<Assembled>, PolicyError> {
        let res = self.push_inner(chunk);
        if !matches!(res, Ok(None)) {
            self.cur = None;
        }
        res
    }

    fn push_inner(&mut self, c: PolicyChunk) -> Result<Option<Assembled>, PolicyError> {
        let total_len = check_header(&c)?;
        if c.index == 0 {
            self.cur = Some(Transfer {
                version: c.version,
                digest: c.digest.clone(),
                total_len,
                count: c.count,
                next: 0,
                buf: Vec::new(),
            });
        }
        let t = self.cur.as_mut().ok_or_else(|| {
            transfer(format!(
                "chunk {} of {} arrived without chunk 0",
                c.index, c.count
            ))
        })?;
        if (t.version, t.digest.as_str(), t.total_len, t.count)
            != (c.version, c.digest.as_str(), total_len, c.count)
        {
            return Err(transfer(format!(
                "chunk {} does not belong to the transfer of version {} ({})",
                c.index, t.version, t.digest
            )));
        }
        if c.index != t.next {
            return Err(transfer(format!(
                "chunk {} arrived, chunk {} was expected",
                c.index, t.next
            )));
        }
        let data = STANDARD
            .decode(c.data.as_bytes())
            .map_err(|e| transfer(format!("chunk {}: bad base64: {e}", c.index)))?;
        if data.is_empty() || t.buf.len() + data.len() > t.total_len {
            return Err(transfer(format!(
                "chunk {} brings {} bytes to {} received, beyond the announced {}",
                c.index,
                data.len(),
                t.buf.len(),
                t.total_len
            )));
        }
        t.buf.extend_from_slice(&data);
        t.next += 1;
        if t.next < t.count {
            return Ok(None);
        }
        if t.buf.len() != t.total_len {
            return Err(transfer(format!(
                "{} bytes received, {} announced",
                t.buf.len(),
                t.total_len
            )));
        }
        if digest_text(&t.buf) != t.digest {
            return Err(transfer(
                "the received bytes do not match the announced digest".into(),
            ));
        }
        let version = t.version;
        let buf = std::mem::take(&mut t.buf);
        Ok(Some(Assembled {
            version,
            signed: SignedBundle::from_bytes(buf)?,
        }))
    }
}

/// Checks a chunk's header on its own; returns the total length as `usize`.
fn check_header(c: &PolicyChunk) -> Result<usize, PolicyError> {
    if c.count == 0 || c.count as usize > limits::POLICY_CHUNKS {
        return Err(PolicyError::TooLarge(format!(
            "a transfer of {} chunks (1 to {} allowed)",
            c.count,
            limits::POLICY_CHUNKS
        )));
    }
    if c.index >= c.count {
        return Err(transfer(format!("chunk {} of {}", c.index, c.count)));
    }
    let total_len = usize::try_from(c.total_len)
        .ok()
        .filter(|&n| n <= max_signed_len())
        .ok_or_else(|| {
            PolicyError::TooLarge(format!(
                "a transfer of {} bytes, at most {} allowed",
                c.total_len,
                max_signed_len()
            ))
        })?;
    if total_len <= SIGNATURE_LEN {
        return Err(transfer(format!("a transfer of {total_len} bytes")));
    }
    let hex_ok = c.digest.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if !hex_ok {
        return Err(transfer("digest is not sha256:<64 lowercase hex>".into()));
    }
    Ok(total_len)
}

fn transfer(m: String) -> PolicyError {
    PolicyError::Transfer(m)
}
