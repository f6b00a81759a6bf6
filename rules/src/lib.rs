//! Rule packs of Vigil: schema, loader and a pure evaluator over a `HostFacts` seam.
//!
//! A pack is a YAML file of rules ([`pack`]); [`evaluate`] runs it against a [`HostFacts`], which
//! is a directory tree for real hosts ([`RootFacts`], `/` or an offline image) and a fixture tree in
//! tests. Evaluation reads the host only through that seam and takes the time from it, so the same
//! pack gives the same results on the same tree. The format is documented in
//! `docs/rules-format.md`.

mod cache;
pub mod compare;
mod eval;
pub mod facts;
pub mod pack;
pub mod score;
mod systemd;

pub use compare::compare_debian_versions;
pub use eval::evaluate;
pub use facts::{CommandOutput, DEFAULT_ALLOWED_COMMANDS, FileStat, HostFacts, RootFacts};
pub use pack::{Group, Level, LoadError, Pack, Rule, Text, load_pack, load_packs, parse_pack};
