//! Vulnerable software (issue 23): advisories imported offline in the OSV schema, matched against
//! the package inventories hosts already report, with each distribution's version order.
//!
//! [`osv`] reads one document, [`load`] a file, a directory or an osv.dev zip, all or nothing;
//! [`ecosystem`] maps OSV ecosystems and hosts' OS facts to a release; [`matching`] is the pure
//! matcher over an [`matching::Index`]; [`rematch`] runs it over the store, for every host after
//! an import and for one host when its inventory changes. Details: docs/vulnerabilities.md.

pub mod cvss;
pub mod ecosystem;
pub mod load;
pub mod matching;
pub mod osv;
pub mod rematch;
pub mod summary;

#[cfg(test)]
mod tests;
