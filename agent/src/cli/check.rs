//! `check`: evaluates the rule packs on this host (or an offline tree) and prints the results.

use std::path::PathBuf;

use super::{Failure, Format, LangArg};
use crate::config::AgentConfig as Config;

/// The arguments of `check`.
pub(super) struct CheckArgs {
    pub(super) root: PathBuf,
    pub(super) packs: Vec<PathBuf>,
    pub(super) level: Option<u8>,
    pub(super) format: Format,
    pub(super) lang: LangArg,
}

/// Runs the checks once; the exit code says whether any failed.
pub(super) fn check(cfg: &Config, a: CheckArgs) -> Result<u8, Failure> {
    use std::io::IsTerminal as _;
    let CheckArgs {
        root,
        packs,
        level,
        format,
        lang,
    } = a;
    let mut opts = crate::check::CheckOptions::new(root);
    // Empty = the default pack dir if installed, else the pack built into the binary.
    opts.packs = if !packs.is_empty() {
        packs
    } else if cfg.checks.packs != crate::check::ChecksConfig::default().packs {
        cfg.checks.packs.clone()
    } else {
        Vec::new()
    };
    opts.level = level.unwrap_or(cfg.checks.level.get());
    opts.format = match format {
        Format::Table => crate::check::Format::Table,
        Format::Json => crate::check::Format::Json,
    };
    opts.lang = match lang {
        LangArg::Vi => crate::check::Lang::Vi,
        LangArg::En => crate::check::Lang::En,
    };
    let no_color = std::env::var("NO_COLOR").ok();
    opts.color =
        crate::check::ColorMode::Auto.enabled(std::io::stdout().is_terminal(), no_color.as_deref());
    let mut out = std::io::stdout().lock();
    crate::check::run_check(&opts, &mut out).map_err(|e| Failure {
        code: e.exit_code(),
        err: e.into(),
    })
}
