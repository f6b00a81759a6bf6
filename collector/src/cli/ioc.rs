//! `ioc import`: indicators of compromise pushed to agents.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use super::term::outln;
use super::{DirArgs, Failure, load, now_s, open_store};

/// `ioc` subcommands.
#[derive(Debug, Subcommand)]
pub enum IocCmd {
    /// Import a plain list (one IP, CIDR, domain, SHA-256 or MD5 per line) or a CSV with a header
    /// (type,value,source,expires). All or nothing: any bad line rejects the whole file.
    Import {
        /// Data directory or config file.
        #[command(flatten)]
        dir: DirArgs,
        /// The file.
        file: PathBuf,
        /// Source for lines without one (default: the file name).
        #[arg(long)]
        source: Option<String>,
        /// Expiry for lines without one: RFC 3339 date/time or Unix seconds.
        #[arg(long)]
        expires: Option<String>,
    },
}

/// Runs an `ioc` subcommand.
pub(super) fn run(cmd: IocCmd) -> Result<(), Failure> {
    match cmd {
        IocCmd::Import {
            dir,
            file,
            source,
            expires,
        } => import(&dir, &file, source, expires.as_deref()),
    }
}

fn import(
    dir: &DirArgs,
    file: &std::path::Path,
    source: Option<String>,
    expires: Option<&str>,
) -> Result<(), Failure> {
    let cfg = load(dir)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let expires_at = match expires.map(crate::ioc::parse_expiry) {
        None => 0,
        Some(Ok(t)) => t,
        Some(Err(e)) => return Err(Failure::usage(anyhow::anyhow!("--expires: {e}"))),
    };
    let source = source.unwrap_or_else(|| {
        file.file_name()
            .map_or_else(|| "import".into(), |n| n.to_string_lossy().into_owned())
    });
    let defaults = crate::ioc::ImportDefaults { source, expires_at };
    let list = crate::ioc::parse_import(&text, &defaults).map_err(|e| {
        Failure::usage(anyhow::anyhow!(
            "{}: nothing imported:\n{}",
            file.display(),
            e.0.join("\n")
        ))
    })?;
    let store = open_store(&cfg)?;
    let before = store.ioc_version()?;
    let version = store.ioc_import(&list)?;
    store.audit("cli", "ioc.import", &serde_json::json!({"file": file.display().to_string(), "indicators": list.len(), "version": version}), now_s())?;
    outln!(
        "imported {} indicators from {} (IOC version {before} -> {version}); running collectors push them to agents within seconds",
        list.len(),
        file.display()
    );
    Ok(())
}
