//! Rule packs of Vigil: schema, loader and a pure evaluator over a `HostFacts` seam.
//!
//! A pack is a YAML file of rules ([`pack`]); [`evaluate`] runs it against a [`HostFacts`], which
//! is a directory tree for real hosts ([`RootFacts`], `/` or an offline image) and a fixture tree in
//! tests. Evaluation reads the host only through that seam and takes the time from it, so the same
//! pack gives the same results on the same tree. The format is documented in
//! `docs/rules-format.md`. [`sca`] translates Wazuh SCA policies into packs.

mod cache;
pub mod command;
pub mod compare;
mod eval;
pub mod facts;
pub mod pack;
pub mod sca;
pub mod score;
mod systemd;
mod trust;

pub use command::DEFAULT_ALLOWED_COMMANDS;
pub use compare::compare_debian_versions;
pub use eval::evaluate;
pub use facts::{CommandOutput, FileStat, HostFacts, RootFacts};
/// The Linux baseline pack, built into every binary so a bare agent can always check its host.
pub const LINUX_BASELINE_YAML: &str = include_str!("../packs/linux-baseline.yaml");

/// Parses the built-in packs.
///
/// # Errors
/// Only if the embedded pack is invalid, which the test suite rules out.
pub fn builtin_packs() -> Result<Vec<Pack>, LoadError> {
    Ok(vec![parse_pack(
        LINUX_BASELINE_YAML,
        std::path::Path::new("builtin:linux-baseline.yaml"),
    )?])
}

pub use pack::{Group, Level, LoadError, Pack, Rule, Text, load_pack, load_packs, parse_pack};
