//! `fim baseline|check`: file integrity from the command line.

use super::{Failure, FimCmd, Format};
use crate::config::AgentConfig as Config;
use crate::state::StatePaths;

/// Records a baseline or compares against it.
pub(super) fn fim(cfg: &Config, state: &StatePaths, cmd: FimCmd) -> Result<u8, Failure> {
    let (args, full, baseline) = match cmd {
        FimCmd::Baseline(a) => (a, false, true),
        FimCmd::Check { args, full } => (args, full, false),
    };
    let opts = crate::fim::FimCliOptions {
        root: args.root,
        paths: args.paths,
        format: match args.format {
            Format::Table => crate::fim::OutputFormat::Table,
            Format::Json => crate::fim::OutputFormat::Json,
        },
        full,
        progress: None,
    };
    let mut out = std::io::stdout().lock();
    let r = if baseline {
        crate::fim::run_baseline(&cfg.fim, &opts, &state.dir, &mut out)
    } else {
        crate::fim::run_check(&cfg.fim, &opts, &state.dir, &mut out)
    };
    r.map_err(|e| Failure {
        code: e.exit_code(),
        err: e.into(),
    })
}
