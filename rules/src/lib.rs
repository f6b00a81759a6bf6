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
pub mod hive;
pub mod pack;
pub mod query;
pub mod rpm;
pub mod sca;
pub mod score;
mod systemd;
mod trust;
pub mod windows;

pub use command::DEFAULT_ALLOWED_COMMANDS;
pub use compare::{compare_debian_versions, compare_rpm_versions};
pub use eval::{evaluate, pack_applies, query_text};
pub use facts::{CommandOutput, FileStat, HostFacts, RootFacts};
/// The Linux baseline pack (Debian, Ubuntu), built into every binary so a bare agent can always
/// check its host.
pub const LINUX_BASELINE_YAML: &str = include_str!("../packs/linux-baseline.yaml");
/// The RHEL-family baseline pack (RHEL, Rocky, AlmaLinux 8–10), built in likewise.
pub const RHEL_BASELINE_YAML: &str = include_str!("../packs/rhel-baseline.yaml");
/// The Windows baseline pack (Windows 10/11, Server 2016–2025), built in likewise.
pub const WINDOWS_BASELINE_YAML: &str = include_str!("../packs/windows-baseline.yaml");

/// Parses the built-in packs (each applies only to its platform; see [`pack_applies`]).
///
/// # Errors
/// Only if an embedded pack is invalid, which the test suite rules out.
pub fn builtin_packs() -> Result<Vec<Pack>, LoadError> {
    BUILTIN
        .iter()
        .map(|(text, origin, _)| parse_pack(text, std::path::Path::new(origin)))
        .collect()
}

/// The built-in packs: text, origin, and whether the pack is for Windows.
const BUILTIN: [(&str, &str, bool); 3] = [
    (LINUX_BASELINE_YAML, "builtin:linux-baseline.yaml", false),
    (RHEL_BASELINE_YAML, "builtin:rhel-baseline.yaml", false),
    (WINDOWS_BASELINE_YAML, "builtin:windows-baseline.yaml", true),
];

/// As [`builtin_packs_for`], among the packs of one platform only (`windows`, or every other
/// system): the agent evaluates its own platform's packs, and the others are not even parsed
/// (time and peak heap of every check run).
///
/// # Errors
/// As [`builtin_packs`].
pub fn builtin_packs_for_platform(
    host: &dyn HostFacts,
    windows: bool,
) -> Result<Vec<Pack>, LoadError> {
    let all = BUILTIN
        .iter()
        .filter(|(_, _, w)| *w == windows)
        .map(|(text, origin, _)| parse_pack(text, std::path::Path::new(origin)))
        .collect::<Result<Vec<Pack>, LoadError>>()?;
    Ok(fitting_or_all(all, host))
}

/// The built-in packs for `host`: those whose `applies_to` matches its OS. When none does (an
/// unsupported distribution, or no readable os-release), every built-in pack is returned, so the
/// report says why each rule does not apply instead of saying nothing.
///
/// # Errors
/// As [`builtin_packs`].
pub fn builtin_packs_for(host: &dyn HostFacts) -> Result<Vec<Pack>, LoadError> {
    Ok(fitting_or_all(builtin_packs()?, host))
}

/// The packs of `all` that apply to `host`, or all of them when none does.
fn fitting_or_all(all: Vec<Pack>, host: &dyn HostFacts) -> Vec<Pack> {
    if all
        .iter()
        .any(|p| eval::pack_applies(p, host) == Some(true))
    {
        all.into_iter()
            .filter(|p| eval::pack_applies(p, host) == Some(true))
            .collect()
    } else {
        all
    }
}

pub use pack::{Group, Level, LoadError, Pack, Rule, Text, load_pack, load_packs, parse_pack};
