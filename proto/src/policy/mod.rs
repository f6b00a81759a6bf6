//! Central policy bundles: what the collector pushes, how it is signed, chunked and reassembled.
//!
//! A [`PolicyBundle`] holds rule packs (their source text) and the agent settings that may be set
//! centrally, for one agency subtree, under a version that only grows. The collector encodes it
//! in the canonical byte form of [`canon`], signs those bytes with its Ed25519 policy key
//! ([`PolicySigner`]) and sends the [`SignedBundle`] in [`PolicyChunk`]s small enough for a frame.
//! The agent reassembles them ([`PolicyAssembler`], bounded against a hostile peer), verifies the
//! signature with the key it pinned at enrollment ([`PolicyPublicKey`]) and only then decodes.
//!
//! Why a hand-written byte form instead of signing the JSON: a signature must cover exactly one
//! byte string per bundle. JSON has many spellings of one value (key order, escapes, number
//! forms), so the agent would have to trust a re-serialisation to match. The canonical form has
//! one spelling per bundle, the decoder refuses every other one, and `encode(decode(b)) == b`.
//!
//! This module never reads the clock or the disk: the agent decides what "newer" and "ours"
//! mean against its own state ([`check_applicable`]).

mod canon;
mod chunk;
mod sign;

pub use canon::{decode_bundle, encode_bundle};
pub use chunk::{Assembled, PolicyAssembler, PolicyChunk, split};
pub use sign::{PUBLIC_KEY_LEN, PolicyPublicKey, PolicySigner, SIGNATURE_LEN, SignedBundle};

/// One rule pack carried by a bundle, as its YAML source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSource {
    /// Pack name (unique within a bundle; bundles keep packs sorted by name).
    pub name: String,
    /// Pack version as the pack declares it.
    pub version: String,
    /// The pack file's text (`vigil-rules` format).
    pub source: String,
}

/// Agent settings that may be set centrally. `None` leaves the agent's own value in force.
///
/// Every value is still checked by the agent against the ranges its local configuration
/// allows: the collector can tighten or move a setting inside those ranges, never widen them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicySettings {
    /// Interval between check runs, seconds.
    pub check_interval_s: Option<u64>,
    /// FIM trees to monitor (absolute paths), replacing the local list.
    pub fim_paths: Option<Vec<String>>,
    /// FIM exclusion globs, replacing the local list.
    pub fim_exclude: Option<Vec<String>>,
    /// Netwatch sampling interval, seconds.
    pub netwatch_interval_s: Option<u64>,
    /// Inventory interval, seconds.
    pub inventory_interval_s: Option<u64>,
    /// FIM realtime storm threshold, changes per second per tree.
    pub storm_threshold: Option<u64>,
    /// Spool size budget, bytes.
    pub spool_budget_bytes: Option<u64>,
    /// The agency's security level (1–5) for rule thresholds.
    pub agency_level: Option<u8>,
}

/// What the collector pushes to the agents of one agency subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyBundle {
    /// Version; every bundle the collector issues has a higher one than all before it (a
    /// rollback is a new version with older content).
    pub version: u64,
    /// Agency path the bundle is for (`tinh/so-a`): it applies to that agency and below.
    pub agency: String,
    /// Unix seconds at which the collector issued it.
    pub issued_at: i64,
    /// Rule packs, sorted by name, names unique.
    pub packs: Vec<PackSource>,
    /// Central settings.
    pub settings: PolicySettings,
}

/// Why a bundle, a chunk or a key was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// The bytes are not a canonical bundle.
    #[error("policy bundle is malformed: {0}")]
    Malformed(String),
    /// The bundle breaks a cap of [`crate::limits`].
    #[error("policy bundle is too large: {0}")]
    TooLarge(String),
    /// The signature does not verify with the pinned key.
    #[error("policy bundle signature does not verify with the pinned policy key")]
    BadSignature,
    /// A chunk does not fit the transfer in progress, or the transfer does not add up.
    #[error("policy transfer broken: {0}")]
    Transfer(String),
    /// Not newer than what the agent applies.
    #[error("policy version {got} is not newer than the applied version {applied}")]
    NotNewer {
        /// Version of the refused bundle.
        got: u64,
        /// Version in force.
        applied: u64,
    },
    /// For an agency that is neither the agent's nor one above it.
    #[error("policy is for agency {bundle:?}, this agent belongs to {agent:?}")]
    OtherSubtree {
        /// Agency of the bundle.
        bundle: String,
        /// Agency of the agent.
        agent: String,
    },
    /// A policy key that cannot be parsed or used.
    #[error("policy key: {0}")]
    Key(String),
}

/// True when an agent of `agent_agency` is in the subtree rooted at `bundle_agency`: the same
/// agency or one below it, compared segment by segment (`tinh/so` does not cover `tinh/so-a`).
pub fn covers(bundle_agency: &str, agent_agency: &str) -> bool {
    !bundle_agency.is_empty()
        && (agent_agency == bundle_agency
            || agent_agency
                .strip_prefix(bundle_agency)
                .is_some_and(|rest| rest.starts_with('/')))
}

/// Checks that a verified bundle may replace what an agent of `agent_agency` applies now
/// (`applied` = 0 when nothing central is in force): strictly newer, and for its subtree.
///
/// # Errors
/// [`PolicyError::NotNewer`] or [`PolicyError::OtherSubtree`].
pub fn check_applicable(
    bundle: &PolicyBundle,
    applied: u64,
    agent_agency: &str,
) -> Result<(), PolicyError> {
    if bundle.version <= applied {
        return Err(PolicyError::NotNewer {
            got: bundle.version,
            applied,
        });
    }
    if !covers(&bundle.agency, agent_agency) {
        return Err(PolicyError::OtherSubtree {
            bundle: bundle.agency.clone(),
            agent: agent_agency.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
