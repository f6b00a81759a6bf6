//! `ca export`: the collector CA certificate, for browsers and agents' operators.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;

use super::term::errln;
use super::{DirArgs, Failure, load};
use crate::pki::{Ca, PkiPaths};

/// `ca` subcommands.
#[derive(Debug, Subcommand)]
pub enum CaCmd {
    /// Print the CA certificate (PEM) on stdout, or write it to --out: install it in browsers
    /// to trust the console's HTTPS certificate. Its SHA-256 goes to stderr for checking.
    Export {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// Write the certificate to this file (0644) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Runs a `ca` subcommand.
pub(super) fn run(cmd: CaCmd) -> Result<(), Failure> {
    match cmd {
        CaCmd::Export { dir, out } => export(&dir, out.as_deref()),
    }
}
/// `ca export [--out FILE]`.
fn export(dir: &DirArgs, out: Option<&Path>) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let ca = Ca::load(&PkiPaths::new(&cfg.data_dir))?;
    match out {
        Some(p) => {
            // A certificate is public; 0644 lets whoever installs it read it.
            std::fs::write(p, ca.cert_pem()).with_context(|| format!("writing {}", p.display()))?;
            errln!("wrote {}", p.display());
        }
        None => print!("{}", ca.cert_pem()),
    }
    errln!("CA certificate SHA-256: {}", hex::encode(ca.fingerprint()));
    Ok(())
}
